"""SsdAnchorsCalculator: SSD anchor boxes for a detector, as MediaPipe generates them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from graphflow.calculator import Calculator, CalculatorContext, Port, Stop, register_calculator
from graphflow.proto.mediapipe.calculators.tensor import ssd_anchors_calculator_pb2


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def generate_anchors(options: Any) -> npt.NDArray[np.float32]:
    """Anchors for ``SsdAnchorsCalculatorOptions``, as an ``(N, 4)`` float32 array.

    Columns are ``x_center, y_center, w, h`` in normalized units (MediaPipe's
    ``SsdAnchorsCalculator::GenerateAnchors``; multiscale generation is not supported).

    Raises:
        ValueError: Neither feature map sizes nor strides are given, or counts disagree.
    """
    if options.multiscale_anchor_generation:
        raise ValueError("SsdAnchorsCalculator: multiscale_anchor_generation is not supported")
    strides = list(options.strides)
    map_h, map_w = list(options.feature_map_height), list(options.feature_map_width)
    layers = options.num_layers
    if not map_h and not strides:
        raise ValueError("SsdAnchorsCalculator needs feature_map_height/width or strides")
    if map_h and (len(map_h) != layers or len(map_w) != layers):
        raise ValueError(f"feature_map_height/width need {layers} values (num_layers)")
    if not map_h and len(strides) != layers:
        raise ValueError(f"strides has {len(strides)} values, num_layers is {layers}")
    anchors: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < layers:
        ratios: list[float] = []
        scales: list[float] = []
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            scale = _scale(options.min_scale, options.max_scale, last, len(strides))
            if last == 0 and options.reduce_boxes_in_lowest_layer:
                ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ratio in options.aspect_ratios:
                    ratios.append(ratio)
                    scales.append(scale)
                if options.interpolated_scale_aspect_ratio > 0.0:
                    nxt = (1.0 if last == len(strides) - 1 else
                           _scale(options.min_scale, options.max_scale, last + 1, len(strides)))
                    scales.append(math.sqrt(scale * nxt))
                    ratios.append(options.interpolated_scale_aspect_ratio)
            last += 1
        if map_h:
            height, width = map_h[layer], map_w[layer]
        else:
            height = math.ceil(options.input_size_height / strides[layer])
            width = math.ceil(options.input_size_width / strides[layer])
        sizes = [(s * math.sqrt(r), s / math.sqrt(r)) for s, r in zip(scales, ratios, strict=True)]
        for y in range(height):
            for x in range(width):
                cx = (x + options.anchor_offset_x) / width
                cy = (y + options.anchor_offset_y) / height
                for w, h in sizes:
                    anchors.append((cx, cy, 1.0, 1.0) if options.fixed_anchor_size
                                   else (cx, cy, w, h))
        layer = max(last, layer + 1)
    return np.array(anchors, dtype=np.float32).reshape(-1, 4)


@register_calculator
class SsdAnchorsCalculator(Calculator):
    """Outputs the anchors (an ``(N, 4)`` array: x_center, y_center, w, h) as a side packet."""

    output_side_packets = (Port("", np.ndarray, doc="(N, 4) anchors"),)
    options_type = ssd_anchors_calculator_pb2.SsdAnchorsCalculatorOptions

    def open(self, cc: CalculatorContext) -> None:
        cc.side_outputs[0].set(generate_anchors(cc.options))

    def process(self, cc: CalculatorContext) -> None:
        """Ends at once: the node has no streams, only its side packet."""
        raise Stop()
