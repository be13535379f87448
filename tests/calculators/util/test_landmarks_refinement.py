"""LandmarksRefinementCalculator, after MediaPipe's landmarks_refinement_calculator_test.cc."""

from __future__ import annotations

import numpy as np
import pytest

from graphflow.config import ConfigError
from graphflow.formats import NormalizedLandmarkList
from graphflow.runtime import GraphError
from graphflow.testing import run_graph

GRAPH = """
input_stream: "a"
input_stream: "b"
input_stream: "c"
output_stream: "refined"
node {
  calculator: "LandmarksRefinementCalculator"
  input_stream: "LANDMARKS:0:a"
  input_stream: "LANDMARKS:1:b"
  input_stream: "LANDMARKS:2:c"
  output_stream: "REFINED_LANDMARKS:refined"
  options {
    [mediapipe.LandmarksRefinementCalculatorOptions.ext] {
      refinement { indexes_mapping: [0, 1, 2, 3] z_refinement { copy {} } }
      refinement { indexes_mapping: [2, 0] z_refinement { none {} } }
      refinement { indexes_mapping: [4, 5] z_refinement { assign_average {
        indexes_for_average: [1, 3] } } }
    }
  }
}
"""


def _lm(rows: list[list[float]]) -> NormalizedLandmarkList:
    return NormalizedLandmarkList(np.array(rows, dtype=np.float32))


def test_refinements_apply_in_order() -> None:
    a = _lm([[0.1, 0.1, 1.0], [0.2, 0.2, 2.0], [0.3, 0.3, 3.0], [0.4, 0.4, 4.0]])
    b = _lm([[0.9, 0.8, 7.0], [0.7, 0.6, 9.0]])  # x, y onto 2 and 0; z kept from a
    c = _lm([[0.5, 0.5, 0.0], [0.6, 0.6, 0.0]])  # new points 4, 5; z = mean(z[1], z[3]) = 3
    out = run_graph(GRAPH, inputs={"a": [(5, a)], "b": [(5, b)], "c": [(5, c)]})
    [packet] = out["refined"]
    assert int(packet.timestamp) == 5
    refined = np.asarray(packet.payload)
    expected = np.array([[0.7, 0.6, 1.0], [0.2, 0.2, 2.0], [0.9, 0.8, 3.0], [0.4, 0.4, 4.0],
                         [0.5, 0.5, 3.0], [0.6, 0.6, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(refined, expected, rtol=0, atol=1e-7)
    assert packet.payload.visibility is None and packet.payload.presence is None


def test_no_output_without_every_input() -> None:
    a = _lm([[0.1, 0.1, 1.0]] * 4)
    out = run_graph(GRAPH, inputs={"a": [(1, a)], "b": [], "c": []})
    assert out["refined"] == []


def test_a_list_of_the_wrong_length_is_an_error() -> None:
    a, b, c = _lm([[0.1, 0.1, 1.0]] * 3), _lm([[0.1, 0.1, 1.0]] * 2), _lm([[0.1, 0.1, 1.0]] * 2)
    with pytest.raises(GraphError, match="LANDMARKS:0 has 3 landmarks, its mapping 4"):
        run_graph(GRAPH, inputs={"a": [(1, a)], "b": [(1, b)], "c": [(1, c)]})


@pytest.mark.parametrize(("options", "message"), [
    ("refinement { indexes_mapping: [0, 2] z_refinement { copy {} } }", "without gaps"),
    ("refinement { indexes_mapping: [0] }", "refinement 0 has no z_refinement"),
])
def test_bad_options_are_reported(options: str, message: str) -> None:
    graph = f"""
input_stream: "a"
node {{ calculator: "LandmarksRefinementCalculator" input_stream: "LANDMARKS:0:a"
  output_stream: "REFINED_LANDMARKS:refined"
  options {{ [mediapipe.LandmarksRefinementCalculatorOptions.ext] {{ {options} }} }} }}
"""
    with pytest.raises((GraphError, ConfigError), match=message):
        run_graph(graph, inputs={"a": [(1, _lm([[0.1, 0.1, 0.0]] * 2))]}, outputs=["refined"])


def _refine_in_order(steps: list[tuple[list[int], str, list[int]]],
                     inputs: list[np.ndarray], size: int) -> np.ndarray:
    """MediaPipe's loop: each refinement scatters x, y (and z as its kind says) in turn."""
    refined = np.zeros((size, 3), dtype=np.float32)
    for (mapping, kind, average), xyz in zip(steps, inputs, strict=True):
        for row, index in enumerate(mapping):
            refined[index, :2] = xyz[row, :2]
            if kind == "copy":
                refined[index, 2] = xyz[row, 2]
            elif kind == "assign_average":
                refined[index, 2] = np.mean(refined[average, 2], dtype=np.float64)
    return refined


def test_overlapping_refinements_match_the_loop_in_order() -> None:
    # Refinements that overwrite each other's x, y and z, repeat an index within one mapping,
    # and average z over indexes written before (by copy and by another average) and never.
    rng = np.random.default_rng(7)
    size = 12
    steps: list[tuple[list[int], str, list[int]]] = [
        (list(range(10)), "copy", []),
        ([3, 10, 3, 5], "none", []),
        ([11, 0], "assign_average", [1, 2, 10]),
        ([4, 2, 4, 9], "copy", []),
        ([7, 11], "assign_average", [11, 4, 0]),
    ]
    z_options = {"copy": "copy {}", "none": "none {}"}
    refinements = "\n".join(
        f"refinement {{ indexes_mapping: {mapping} z_refinement {{ "
        + (z_options[kind] if kind in z_options else
           f"assign_average {{ indexes_for_average: {average} }}") + " } }"
        for mapping, kind, average in steps)
    graph = "\n".join(f'input_stream: "in{i}"' for i in range(len(steps))) + """
node { calculator: "LandmarksRefinementCalculator" output_stream: "REFINED_LANDMARKS:refined"
""" + "\n".join(f'  input_stream: "LANDMARKS:{i}:in{i}"' for i in range(len(steps))) + f"""
  options {{ [mediapipe.LandmarksRefinementCalculatorOptions.ext] {{ {refinements} }} }} }}
"""
    frames = [[rng.random((len(mapping), 3), dtype=np.float32) for mapping, _, _ in steps]
              for _ in range(3)]
    out = run_graph(graph, inputs={f"in{i}": [(t, NormalizedLandmarkList(frame[i]))
                                              for t, frame in enumerate(frames)]
                                   for i in range(len(steps))}, outputs=["refined"])
    assert len(out["refined"]) == len(frames)
    for packet, frame in zip(out["refined"], frames, strict=True):
        np.testing.assert_array_equal(np.asarray(packet.payload),
                                      _refine_in_order(steps, frame, size))
