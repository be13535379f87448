"""TensorsToLandmarksCalculator: decodes a landmark tensor into a landmark list."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from calculators.tensor.activation import sigmoid
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import FloatArray, LandmarkList, NormalizedLandmarkList
from graphflow.proto.mediapipe.calculators.tensor import tensors_to_landmarks_calculator_pb2

_Options = tensors_to_landmarks_calculator_pb2.TensorsToLandmarksCalculatorOptions


def _activate(values: np.ndarray, activation: int) -> np.ndarray:
    return sigmoid(values) if activation == _Options.SIGMOID else values


def decode_landmarks(tensor: npt.ArrayLike, num_landmarks: int, flip_x: float | None = None,
                     flip_y: float | None = None, visibility_activation: int = _Options.NONE,
                     presence_activation: int = _Options.NONE,
                     divisor: np.float32 | FloatArray | None = None
                     ) -> tuple[FloatArray, FloatArray | None, FloatArray | None]:
    """A landmark tensor's rows of x, y[, z[, visibility[, presence]]], in tensor pixels.

    Args:
        tensor: ``num_landmarks`` rows of 2 to 5 values, in any shape.
        num_landmarks: How many landmarks the tensor holds.
        flip_x: Mirror x as ``flip_x - x`` (the input image width), or None.
        flip_y: Mirror y as ``flip_y - y`` (the input image height), or None.
        visibility_activation: The options' activation of the fourth value.
        presence_activation: The options' activation of the fifth value.
        divisor: What x, y and z are divided by (normalized landmarks): three float32 values,
            one for all three, or None.

    Returns:
        ``xyz`` (a read-only ``(num_landmarks, 3)`` float32 array of its own, z 0 when the
        rows have two values), the visibility and the presence values (None when the rows lack
        them).

    Raises:
        ValueError: The tensor does not hold ``num_landmarks`` rows of at least two values.
    """
    raw = np.asarray(tensor, dtype=np.float32)
    n = num_landmarks
    if raw.size % n or raw.size < 2 * n:
        raise ValueError(f"a tensor of {raw.size} values does not hold {n} landmarks")
    rows = raw.reshape(n, raw.size // n)
    if rows.shape[1] >= 3 and flip_x is None and flip_y is None:
        # x, y, z as the tensor has them: one array operation makes the result (these small
        # arrays cost per numpy call, not per value).
        xyz = rows[:, :3] / divisor if divisor is not None else rows[:, :3].copy()
    else:
        xyz = np.zeros((n, 3), dtype=np.float32)
        xyz[:, :min(3, rows.shape[1])] = rows[:, :3]
        if flip_x is not None:
            xyz[:, 0] = flip_x - xyz[:, 0]
        if flip_y is not None:
            xyz[:, 1] = flip_y - xyz[:, 1]
        if divisor is not None:
            xyz /= divisor
    visibility = _activate(rows[:, 3], visibility_activation) if rows.shape[1] > 3 else None
    presence = _activate(rows[:, 4], presence_activation) if rows.shape[1] > 4 else None
    # Arrays made read-only here go into the landmark lists without a copy.
    xyz.flags.writeable = False
    return xyz, visibility, presence


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

    def open(self, cc: CalculatorContext) -> None:
        # Read once: MediaPipe's face mesh with attention runs this node six times a frame
        # (tensors_to_face_landmarks_with_attention.pbtxt), and each options field read
        # and the divisor array below cost as much as the decoding itself.
        o = cc.options
        self.num_landmarks = o.num_landmarks
        self.flip_x = o.input_image_width if o.flip_horizontally else None
        self.flip_y = o.input_image_height if o.flip_vertically else None
        self.visibility_activation = o.visibility_activation
        self.presence_activation = o.presence_activation
        self.wants_pixels = cc.outputs.connected("LANDMARKS")
        self.divisor: np.float32 | FloatArray | None = None
        if cc.outputs.connected("NORM_LANDMARKS"):
            divisor = np.array([o.input_image_width, o.input_image_height,
                                o.input_image_width * o.normalize_z], dtype=np.float32)
            # One divisor for all three (a square input, normalize_z 1): dividing by the
            # scalar gives the same floats in one pass over the array instead of three columns.
            self.divisor = divisor[0] if divisor[0] == divisor[1] == divisor[2] else divisor

    def process(self, cc: CalculatorContext) -> None:
        tensors = cc.inputs["TENSORS"].payload
        if not tensors:
            raise ValueError("TENSORS is an empty list")
        # NORM_LANDMARKS alone (face mesh) is decoded normalized, without the pixel array.
        xyz, visibility, presence = decode_landmarks(
            tensors[0], self.num_landmarks, self.flip_x, self.flip_y,
            self.visibility_activation, self.presence_activation,
            None if self.wants_pixels else self.divisor)
        if self.wants_pixels:
            cc.outputs["LANDMARKS"].add(LandmarkList(xyz, visibility, presence))
        if self.divisor is not None:
            norm = xyz / self.divisor if self.wants_pixels else xyz
            norm.flags.writeable = False
            cc.outputs["NORM_LANDMARKS"].add(NormalizedLandmarkList(norm, visibility, presence))
