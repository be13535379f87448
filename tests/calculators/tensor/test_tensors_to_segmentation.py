"""TensorsToSegmentationCalculator against MediaPipe's OpenCV converter, pixel by pixel."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from graphflow.runtime import GraphError
from graphflow.testing import run_graph

RNG = np.random.default_rng(4)


def _graph(activation: str, layer: int = 1, sized: bool = True) -> str:
    size = 'input_stream: "OUTPUT_SIZE:size"' if sized else ""
    return f"""
input_stream: "tensors"
input_stream: "size"
output_stream: "mask"
node {{ calculator: "TensorsToSegmentationCalculator" input_stream: "TENSORS:tensors" {size}
  output_stream: "MASK:mask"
  options {{ [mediapipe.TensorsToSegmentationCalculatorOptions.ext] {{
    activation: {activation} output_layer_index: {layer} }} }} }}
"""


def _reference(tensor: np.ndarray, activation: str, layer: int) -> np.ndarray:
    """MediaPipe's per-pixel activation loop (float math), before the resize."""
    _, height, width, _ = tensor.shape
    out = np.zeros((height, width), np.float32)
    for i in range(height):
        for j in range(width):
            v = tensor[0, i, j]
            if activation == "NONE":
                out[i, j] = v[0]
            elif activation == "SIGMOID":
                out[i, j] = 1.0 / (math.exp(-v[0]) + 1.0)
            else:
                high, low = max(v[0], v[1]), min(v[0], v[1])
                out[i, j] = math.exp(v[layer] - high) / (1.0 + math.exp(low - high))
    return out


@pytest.mark.parametrize(("activation", "channels", "layer"), [
    ("NONE", 1, 1), ("SIGMOID", 1, 1), ("SOFTMAX", 2, 1), ("SOFTMAX", 2, 0)])
def test_activation_then_bilinear_resize(activation: str, channels: int, layer: int) -> None:
    tensor = RNG.normal(0, 3, (1, 12, 16, channels)).astype(np.float32)
    out = run_graph(_graph(activation, layer), inputs={
        "tensors": [(7, [tensor])], "size": [(7, (40, 30))]})
    [packet] = out["mask"]
    mask = packet.payload
    assert mask.dtype == np.float32 and mask.shape == (30, 40) and not mask.flags.writeable
    small = _reference(tensor, activation, layer)
    np.testing.assert_allclose(mask, cv2.resize(small, (40, 30)), rtol=0, atol=1e-6)
    unsized = run_graph(_graph(activation, layer, sized=False),
                        inputs={"tensors": [(7, [tensor])], "size": []})["mask"][0].payload
    np.testing.assert_allclose(unsized, small, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("activation", "channels"), [("SOFTMAX", 1), ("SIGMOID", 2)])
def test_channel_count_must_fit_the_activation(activation: str, channels: int) -> None:
    tensor = np.zeros((1, 4, 4, channels), np.float32)
    with pytest.raises(GraphError, match=f"activation {activation} needs"):
        run_graph(_graph(activation), inputs={"tensors": [(0, [tensor])], "size": [(0, (4, 4))]})
