"""Projection calculators: map detections and landmarks from a crop back to the image."""

from __future__ import annotations

import math

import numpy as np

from calculators.tensor.image_to_tensor import rect_to_image_matrix, roi_from_rect
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import Detection, FloatArray, NormalizedLandmarkList, NormalizedRect
from graphflow.proto.mediapipe.calculators.util import landmark_projection_calculator_pb2


def project_points(points: FloatArray, matrix: FloatArray) -> FloatArray:
    """Applies the x, y part of a row-major 4x4 ``matrix`` to ``(N, 2)`` points."""
    m = np.asarray(matrix, dtype=np.float32).reshape(4, 4)
    return (points @ m[:2, :2].T + m[:2, 3]).astype(np.float32, copy=False)


def project_detection(detection: Detection, matrix: FloatArray) -> Detection:
    """The detection with keypoints projected and its box the bounds of the projected corners."""
    x0, y0, w, h = detection.box
    # The box's corners and the keypoints go through one projection.
    points = np.concatenate((np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]],
                                      dtype=np.float32), detection.keypoints))
    projected = project_points(points, matrix)
    corners, keypoints = projected[:4], projected[4:]
    keypoints.flags.writeable = False  # kept as it is by the detection
    lo = corners.min(axis=0)
    (xmin, ymin), (width, height) = lo.tolist(), (corners.max(axis=0) - lo).tolist()
    return Detection.from_decoded(xmin, ymin, width, height, keypoints, detection.score,
                                  detection.label_id)


def z_scale(matrix: FloatArray) -> float:
    """How much the matrix stretches a unit x vector (the scale applied to landmark z)."""
    a, b = project_points(np.array([[0.0, 0.0], [1.0, 0.0]], dtype=np.float32), matrix)
    return float(math.hypot(*(b - a)))


def project_landmarks_in_rect(xyz: FloatArray, rect: NormalizedRect,
                              ignore_rotation: bool = False) -> FloatArray:
    """Maps ROI-normalized landmarks into the image (MediaPipe's NORM_RECT projection).

    x and y are rotated about the ROI center by the ROI rotation, scaled by its size and moved
    to its center; z is scaled like x (by the ROI width).
    """
    angle = 0.0 if ignore_rotation else rect.rotation
    c, s = math.cos(angle), math.sin(angle)
    x, y = xyz[:, 0] - 0.5, xyz[:, 1] - 0.5
    out = np.empty_like(xyz)
    # (c x - s y) w + x_center and (s x + c y) h + y_center, each step in place in one of the
    # temporaries (the same float32 operations in the same order, fewer arrays made): column
    # by column, as numpy runs a column in one loop but a pair of columns point by point.
    new_x = c * x
    sy = s * y
    new_x -= sy
    new_x *= rect.width
    new_x += rect.x_center
    out[:, 0] = new_x
    x *= s
    y *= c
    x += y
    x *= rect.height
    x += rect.y_center
    out[:, 1] = x
    np.multiply(xyz[:, 2], rect.width, out=out[:, 2])
    return out


@register_calculator
class DetectionProjectionCalculator(Calculator):
    """Projects ``DETECTIONS`` through ``PROJECTION_MATRIX`` (e.g. ImageToTensor's MATRIX)."""

    inputs = (Port("DETECTIONS", list), Port("PROJECTION_MATRIX", np.ndarray))
    outputs = (Port("DETECTIONS", list),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        detections = cc.inputs["DETECTIONS"].get()
        matrix = cc.inputs["PROJECTION_MATRIX"].get()
        if detections is None or matrix is None:
            return
        if np.size(matrix) != 16:
            raise ValueError(f"PROJECTION_MATRIX must hold 16 values, got {np.size(matrix)}")
        cc.outputs["DETECTIONS"].add([project_detection(d, matrix) for d in detections])


@register_calculator
class LandmarkProjectionCalculator(Calculator):
    """Projects ``NORM_LANDMARKS`` (repeated) from a ROI into the image.

    With ``NORM_RECT`` (the ROI) alone, or with ``IMAGE_DIMENSIONS`` for non-square ROIs, or
    through ``PROJECTION_MATRIX``.
    """

    inputs = (
        Port("NORM_LANDMARKS", NormalizedLandmarkList, repeated=True),
        Port("NORM_RECT", NormalizedRect, optional=True),
        Port("IMAGE_DIMENSIONS", tuple, optional=True, doc="(width, height)"),
        Port("PROJECTION_MATRIX", np.ndarray, optional=True),
    )
    outputs = (Port("NORM_LANDMARKS", NormalizedLandmarkList, repeated=True),)
    options_type = landmark_projection_calculator_pb2.LandmarkProjectionCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        node.require_paired("NORM_LANDMARKS", "NORM_LANDMARKS")
        if (("NORM_RECT", 0) in node.inputs) == (("PROJECTION_MATRIX", 0) in node.inputs):
            raise ContractError("connect exactly one of NORM_RECT and PROJECTION_MATRIX")

    def open(self, cc: CalculatorContext) -> None:
        # Read once: each options field read or port lookup costs a microsecond a frame.
        self.ignore_rotation = cc.options.ignore_rotation
        self.by_rect = cc.inputs.connected("NORM_RECT")
        self.by_dimensions = cc.inputs.connected("IMAGE_DIMENSIONS")
        self.count = cc.inputs.count("NORM_LANDMARKS")

    def process(self, cc: CalculatorContext) -> None:
        ignore_rotation = self.ignore_rotation
        matrix = None
        rect = None
        if self.by_rect:
            rect = cc.inputs["NORM_RECT"].get()
            if rect is None:
                return
            if self.by_dimensions:
                dims = cc.inputs["IMAGE_DIMENSIONS"].get()
                if dims is None:
                    return
                w, h = dims
                roi = roi_from_rect(w, h, rect)
                if ignore_rotation:
                    roi.rotation = 0.0
                matrix = rect_to_image_matrix(roi, w, h)
        else:
            matrix = cc.inputs["PROJECTION_MATRIX"].get()
            if matrix is None:
                return
        for i in range(self.count):
            landmarks = cc.inputs["NORM_LANDMARKS", i].get()
            if landmarks is None:
                continue
            xyz = landmarks.xyz
            if matrix is None:
                assert rect is not None  # no matrix: NORM_RECT without IMAGE_DIMENSIONS
                out = project_landmarks_in_rect(xyz, rect, ignore_rotation)
            else:
                out = np.empty_like(xyz)
                out[:, :2] = project_points(xyz[:, :2], matrix)
                out[:, 2] = xyz[:, 2] * z_scale(matrix)
            out.flags.writeable = False  # into the list without a copy
            cc.outputs["NORM_LANDMARKS", i].add(
                NormalizedLandmarkList(out, landmarks.visibility, landmarks.presence))
