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
