"""TensorsToLandmarksCalculator: decodes a landmark tensor into a landmark list."""

from __future__ import annotations

import numpy as np

from calculators.tensor.activation import sigmoid
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import LandmarkList, NormalizedLandmarkList
from graphflow.proto.mediapipe.calculators.tensor import tensors_to_landmarks_calculator_pb2

_Options = tensors_to_landmarks_calculator_pb2.TensorsToLandmarksCalculatorOptions


def _activate(values: np.ndarray, activation: int) -> np.ndarray:
    return sigmoid(values) if activation == _Options.SIGMOID else values


@register_calculator
class TensorsToLandmarksCalculator(Calculator):
    """Splits the first tensor into ``num_landmarks`` rows of x, y[, z[, visibility[, presence]]].

    ``LANDMARKS`` gives them in tensor pixels; ``NORM_LANDMARKS`` divides x and z by
    ``input_image_width`` (z also by ``normalize_z``) and y by ``input_image_height``.
    """

    inputs = (Port("TENSORS", list),)
    outputs = (
        Port("LANDMARKS", LandmarkList, optional=True),
        Port("NORM_LANDMARKS", NormalizedLandmarkList, optional=True),
    )
    options_type = _Options
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if node.options.num_landmarks <= 0:
            raise ContractError("TensorsToLandmarksCalculatorOptions need num_landmarks > 0")
        if ("NORM_LANDMARKS", 0) in node.outputs and (
                node.options.input_image_width <= 0 or node.options.input_image_height <= 0):
            raise ContractError("NORM_LANDMARKS needs input_image_width and input_image_height")

    def process(self, cc: CalculatorContext) -> None:
        o = cc.options
        tensors = cc.inputs["TENSORS"].payload
        if not tensors:
            raise ValueError("TENSORS is an empty list")
        raw = np.asarray(tensors[0], dtype=np.float32).reshape(-1)
        n = o.num_landmarks
        if raw.size % n or raw.size < 2 * n:
            raise ValueError(f"a tensor of {raw.size} values does not hold {n} landmarks")
        rows = raw.reshape(n, raw.size // n)
        xyz = np.zeros((n, 3), dtype=np.float32)
        xyz[:, :min(3, rows.shape[1])] = rows[:, :3]
        if o.flip_horizontally:
            xyz[:, 0] = o.input_image_width - xyz[:, 0]
        if o.flip_vertically:
            xyz[:, 1] = o.input_image_height - xyz[:, 1]
        visibility = _activate(rows[:, 3], o.visibility_activation) if rows.shape[1] > 3 else None
        presence = _activate(rows[:, 4], o.presence_activation) if rows.shape[1] > 4 else None
        # Arrays made read-only here go into the landmark lists without a copy.
        xyz.flags.writeable = False
        if cc.outputs.connected("LANDMARKS"):
            cc.outputs["LANDMARKS"].add(LandmarkList(xyz, visibility, presence))
        if cc.outputs.connected("NORM_LANDMARKS"):
            norm = xyz / np.array([o.input_image_width, o.input_image_height,
                                   o.input_image_width * o.normalize_z], dtype=np.float32)
            norm.flags.writeable = False
            cc.outputs["NORM_LANDMARKS"].add(NormalizedLandmarkList(norm, visibility, presence))
