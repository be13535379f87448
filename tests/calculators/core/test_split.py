"""Split*VectorCalculator and Split*ListCalculator, with the expectations of MediaPipe's
split_vector_calculator_test.cc and split_proto_list_calculator_test.cc (v0.10.21)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import graphflow as gf
from graphflow.testing import run_graph

OPTIONS = "[mediapipe.SplitVectorCalculatorOptions.ext] { %s }"
THREE = "ranges: { begin: 0 end: 1 } ranges: { begin: 1 end: 4 } ranges: { begin: 4 end: 5 }"
SPREAD = "ranges: { begin: 0 end: 1 } ranges: { begin: 2 end: 3 } ranges: { begin: 4 end: 5 }"


def _split(calculator: str, items: object, options: str, outputs: int) -> list[Any]:
    outs = [f"out{i}" for i in range(outputs)]
    result = run_graph(f"""
        input_stream: "in"
        node {{ calculator: "{calculator}" input_stream: "in"
                {" ".join(f'output_stream: "{o}"' for o in outs)}
                options {{ {OPTIONS % options} }} }}
        """, inputs={"in": [(0, items)]}, outputs=outs)
    return [result[o][0].payload for o in outs]


def test_split_vector_smoke() -> None:
    """SmokeTest: three ranges of five elements."""
    assert _split("SplitFloatVectorCalculator", [0.0, 1.0, 2.0, 3.0, 4.0], THREE, 3) == \
        [[0.0], [1.0, 2.0, 3.0], [4.0]]


def test_split_vector_element_only() -> None:
    """SmokeTestElementOnly: one-element ranges send the element."""
    assert _split("SplitDetectionVectorCalculator", ["a", "b", "c", "d", "e"],
                  SPREAD + " element_only: true", 3) == ["a", "c", "e"]


def test_split_vector_combining_outputs() -> None:
    """SmokeTestCombiningOutputs: all ranges on one output."""
    assert _split("SplitNormalizedRectVectorCalculator", ["a", "b", "c", "d", "e"],
                  SPREAD + " combine_outputs: true", 1) == [["a", "c", "e"]]


@pytest.mark.parametrize(("calculator", "options", "outputs", "complaint"), [
    # InvalidRangeTest
    ("SplitFloatVectorCalculator", "ranges: { begin: 0 end: 0 }", 1, "empty or negative"),
    # InvalidOutputStreamCountTest
    ("SplitFloatVectorCalculator", "ranges: { begin: 0 end: 1 }", 2, "1 range"),
    # InvalidCombiningOutputStreamCountTest
    ("SplitFloatVectorCalculator",
     "ranges: { begin: 0 end: 1 } ranges: { begin: 2 end: 3 } combine_outputs: true", 2,
     "exactly one output"),
    # InvalidOverlappingRangesTest
    ("SplitFloatVectorCalculator",
     "ranges: { begin: 0 end: 3 } ranges: { begin: 1 end: 4 } combine_outputs: true", 1,
     "overlap"),
    # ElementOnlyDisablesVectorOutputs
    ("SplitFloatVectorCalculator", THREE + " element_only: true", 3, "one element"),
    # Tensors are moved out of the input: their ranges may never overlap.
    ("SplitTensorVectorCalculator", "ranges: { begin: 0 end: 3 } ranges: { begin: 1 end: 4 }",
     2, "overlap"),
    # The same rules for the landmark lists (split_proto_list_calculator_test.cc).
    ("SplitNormalizedLandmarkListCalculator", "ranges: { begin: 0 end: 0 }", 1,
     "empty or negative"),
    ("SplitNormalizedLandmarkListCalculator",
     "ranges: { begin: 0 end: 3 } ranges: { begin: 1 end: 4 } combine_outputs: true", 1,
     "overlap"),
])
def test_split_invalid_options(calculator: str, options: str, outputs: int,
                               complaint: str) -> None:
    outs = " ".join(f'output_stream: "out{i}"' for i in range(outputs))
    with pytest.raises(gf.ConfigError, match=complaint):
        gf.CalculatorGraph(graph_config=f'input_stream: "in"\nnode {{ calculator: '
                                        f'"{calculator}" input_stream: "in" {outs} '
                                        f"options {{ {OPTIONS % options} }} }}")


def test_split_vector_too_short_an_input_fails() -> None:
    with pytest.raises(gf.GraphError, match="the ranges need 5 elements, the input has 2"):
        _split("SplitFloatVectorCalculator", [0.0, 1.0], THREE, 3)


LANDMARKS = gf.NormalizedLandmarkList(np.arange(15, dtype=np.float32).reshape(5, 3),
                                      visibility=np.arange(5) / 10)


def test_split_normalized_landmark_list() -> None:
    """SplitNormalizedLandmarkListCalculatorTest.SmokeTest: each range a list of its own, with
    its visibility."""
    parts = _split("SplitNormalizedLandmarkListCalculator", LANDMARKS, THREE, 3)
    assert [np.asarray(p).tolist() for p in parts] == [
        [[0, 1, 2]], [[3, 4, 5], [6, 7, 8], [9, 10, 11]], [[12, 13, 14]]]
    assert all(isinstance(p, gf.NormalizedLandmarkList) for p in parts)
    assert parts[1].visibility is not None
    np.testing.assert_allclose(parts[1].visibility, np.array([0.1, 0.2, 0.3]))


def test_split_normalized_landmark_list_element_only_and_combined() -> None:
    """SmokeTestElementOnly / SmokeTestCombiningOutputs of the landmark list splitter."""
    elements = _split("SplitNormalizedLandmarkListCalculator", LANDMARKS,
                      SPREAD + " element_only: true", 3)
    assert elements == [LANDMARKS[0], LANDMARKS[2], LANDMARKS[4]]
    (combined,) = _split("SplitNormalizedLandmarkListCalculator", LANDMARKS,
                         SPREAD + " combine_outputs: true", 1)
    assert np.asarray(combined).tolist() == [[0, 1, 2], [6, 7, 8], [12, 13, 14]]
    np.testing.assert_allclose(combined.visibility, np.array([0.0, 0.2, 0.4]))
