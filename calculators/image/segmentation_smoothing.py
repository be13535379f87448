"""SegmentationSmoothingCalculator: blends a mask with the previous one where it is unsure."""

from __future__ import annotations

import numpy as np

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.proto.mediapipe.calculators.image import segmentation_smoothing_calculator_pb2

_Options = segmentation_smoothing_calculator_pb2.SegmentationSmoothingCalculatorOptions

# MediaPipe's polynomial in t = (p - 0.5)^2 for the squared uncertainty of a probability p.
_UNCERTAINTY = (5.68842, -0.748699, -57.8051, 291.309, -624.717)


def smooth_mask(current: np.ndarray, previous: np.ndarray, ratio: float) -> np.ndarray:
    """``current + (previous - current) * uncertainty(current) * ratio`` per pixel.

    Uncertainty is 1 at p = 0.5 and falls to 0 towards 0 and 1, as MediaPipe approximates it.
    """
    if current.shape != previous.shape:
        raise ValueError(f"MASK is {current.shape}, MASK_PREVIOUS {previous.shape}")
    p = np.asarray(current, dtype=np.float32)
    x = (p - np.float32(0.5)) ** 2
    c1, c2, c3, c4, c5 = (np.float32(c) for c in _UNCERTAINTY)
    uncertainty = 1.0 - np.minimum(np.float32(1.0),
                                   x * (c1 + x * (c2 + x * (c3 + x * (c4 + x * c5)))))
    out = (p + (np.asarray(previous, dtype=np.float32) - p) *
           (uncertainty * np.float32(ratio))).astype(np.float32)
    out.flags.writeable = False
    return out


@register_calculator
class SegmentationSmoothingCalculator(Calculator):
    """``MASK_SMOOTHED``: ``MASK`` blended with ``MASK_PREVIOUS`` by
    ``combine_with_previous_ratio`` where ``MASK`` is uncertain (float32 masks); ``MASK``
    unchanged while there is no previous mask."""

    inputs = (Port("MASK", np.ndarray), Port("MASK_PREVIOUS", np.ndarray))
    outputs = (Port("MASK_SMOOTHED", np.ndarray),)
    options_type = _Options
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        current = cc.inputs["MASK"]
        if current.is_empty:
            return
        previous = cc.inputs["MASK_PREVIOUS"]
        if previous.is_empty:
            cc.outputs["MASK_SMOOTHED"].add_packet(current)
            return
        cc.outputs["MASK_SMOOTHED"].add(
            smooth_mask(current.payload, previous.payload, cc.options.combine_with_previous_ratio))
