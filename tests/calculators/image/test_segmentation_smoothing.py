"""SegmentationSmoothingCalculator against MediaPipe's CPU blending loop."""

from __future__ import annotations

import numpy as np

from graphflow.testing import run_graph

GRAPH = """
input_stream: "mask"
input_stream: "previous"
output_stream: "smoothed"
node { calculator: "SegmentationSmoothingCalculator" input_stream: "MASK:mask"
  input_stream: "MASK_PREVIOUS:previous" output_stream: "MASK_SMOOTHED:smoothed"
  options { [mediapipe.SegmentationSmoothingCalculatorOptions.ext] {
    combine_with_previous_ratio: 0.9 } } }
"""


def _reference(current: np.ndarray, previous: np.ndarray, ratio: float) -> np.ndarray:
    out = np.zeros_like(current)
    c1, c2, c3, c4, c5 = 5.68842, -0.748699, -57.8051, 291.309, -624.717
    for index, p in np.ndenumerate(current):
        x = (float(p) - 0.5) ** 2
        uncertainty = 1.0 - min(1.0, x * (c1 + x * (c2 + x * (c3 + x * (c4 + x * c5)))))
        out[index] = p + (previous[index] - p) * (uncertainty * ratio)
    return out


def test_blends_where_the_mask_is_unsure() -> None:
    rng = np.random.default_rng(2)
    current = rng.random((9, 11)).astype(np.float32)
    current[0, :3] = [0.0, 0.5, 1.0]
    previous = rng.random((9, 11)).astype(np.float32)
    out = run_graph(GRAPH, inputs={"mask": [(1, current), (2, current)],
                                   "previous": [(2, previous)]})
    first, second = out["smoothed"]
    np.testing.assert_array_equal(first.payload, current)  # no previous mask: passed through
    smoothed = second.payload
    np.testing.assert_allclose(smoothed, _reference(current, previous, 0.9), rtol=0, atol=1e-5)
    # Certain pixels keep their value (to the polynomial's 1e-5); p = 0.5 moves 90% of the way
    # to the previous mask.
    assert abs(smoothed[0, 0]) < 1e-4 and abs(smoothed[0, 2] - 1.0) < 1e-4
    assert abs(smoothed[0, 1] - (0.5 + (previous[0, 1] - 0.5) * 0.9)) < 1e-6
