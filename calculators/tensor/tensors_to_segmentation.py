"""TensorsToSegmentationCalculator: a segmentation model's output as a float mask."""

from __future__ import annotations

import numpy as np

from calculators._opencv import cv2
from calculators.tensor.activation import sigmoid
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.proto.mediapipe.calculators.tensor import tensors_to_segmentation_calculator_pb2

_Options = tensors_to_segmentation_calculator_pb2.TensorsToSegmentationCalculatorOptions


def tensor_to_mask(tensor: np.ndarray, activation: int, layer: int,
                   size: tuple[int, int] | None) -> np.ndarray:
    """The mask of one ``(1, H, W, C)`` (or ``(H, W, C)``) tensor, as MediaPipe's CPU path.

    Args:
        tensor: The model output.
        activation: ``NONE`` or ``SIGMOID`` (one channel), ``SOFTMAX`` (two channels: the
            ``layer`` channel's softmax probability).
        layer: The SOFTMAX output channel.
        size: ``(width, height)`` to resize to with OpenCV's bilinear ``resize``; None keeps
            the tensor's size.

    Returns:
        A read-only ``(height, width)`` float32 array.

    Raises:
        ValueError: The tensor's shape or channel count does not fit the activation.
    """
    values = np.asarray(tensor, dtype=np.float32)
    if values.ndim == 4 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 3:
        raise ValueError(f"a segmentation tensor must be (1, H, W, C), got {tensor.shape}")
    channels = values.shape[2]
    needed = 2 if activation == _Options.SOFTMAX else 1
    if channels != needed:
        raise ValueError(f"activation {_Options.Activation.Name(activation)} needs {needed} "
                         f"tensor channel(s), got {channels}")
    if activation == _Options.SOFTMAX:
        if layer not in (0, 1):
            raise ValueError(f"output_layer_index must be 0 or 1, got {layer}")
        high = values.max(axis=2)
        # exp(chosen - max) / (1 + exp(min - max)), as MediaPipe writes the two-way softmax.
        small = np.exp(values[:, :, layer] - high) / (1.0 + np.exp(values.min(axis=2) - high))
    elif activation == _Options.SIGMOID:
        small = sigmoid(values[:, :, 0])
    else:
        small = values[:, :, 0]
    small = np.ascontiguousarray(small, dtype=np.float32)
    mask = small if size is None or size == (small.shape[1], small.shape[0]) else \
        cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    mask.flags.writeable = False
    return mask


@register_calculator
class TensorsToSegmentationCalculator(Calculator):
    """``MASK``: the first tensor's mask, resized to ``OUTPUT_SIZE`` (``(width, height)``).

    The mask is a read-only float32 ``(height, width)`` array (MediaPipe's VEC32F1 image).
    ``activation`` is NONE, SIGMOID or SOFTMAX (with ``output_layer_index``).
    """

    inputs = (Port("TENSORS", list), Port("OUTPUT_SIZE", tuple, optional=True))
    outputs = (Port("MASK", np.ndarray),)
    options_type = _Options
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        tensors = cc.inputs["TENSORS"].get()
        if tensors is None:
            return
        if not tensors:
            raise ValueError("TENSORS is an empty list")
        size = None
        if cc.inputs.connected("OUTPUT_SIZE"):
            size = cc.inputs["OUTPUT_SIZE"].get()
            if size is None:
                raise ValueError("OUTPUT_SIZE has no packet at this timestamp")
        options = cc.options
        cc.outputs["MASK"].add(tensor_to_mask(tensors[0], options.activation,
                                              options.output_layer_index,
                                              None if size is None else tuple(size)))
