"""DetectionsToRectsCalculator and RectTransformationCalculator against MediaPipe's arithmetic
(detections_to_rects_calculator.cc, rect_transformation_calculator.cc) written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphflow.formats import Detection, NormalizedRect
from graphflow.testing import run_calculator

SIZE = (640, 480)


def test_detection_to_rect_rotated_by_two_keypoints() -> None:
    keypoints = np.array([[0.3, 0.4], [0.5, 0.45], [0.1, 0.1]], dtype=np.float32)
    detection = Detection(0.2, 0.3, 0.4, 0.2, keypoints, 0.9)
    out = run_calculator(
        "DetectionsToRectsCalculator",
        {"DETECTION": [(3, detection)], "IMAGE_SIZE": [(3, SIZE)]}, outputs=["NORM_RECT"],
        options="[mediapipe.DetectionsToRectsCalculatorOptions.ext] { "
                "rotation_vector_start_keypoint_index: 0 rotation_vector_end_keypoint_index: 1 "
                "rotation_vector_target_angle_degrees: 90 }")
    [packet] = out["NORM_RECT"]
    (x0, y0), (x1, y1) = keypoints[:2].astype(float) * SIZE
    angle = math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0)
    angle -= 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
    rect = packet.payload
    assert type(rect) is NormalizedRect and rect.rect_id == 0
    # The keypoints are float32, and so are their pixel differences (hence 1e-6).
    assert [rect.x_center, rect.y_center, rect.width, rect.height, rect.rotation] == \
        pytest.approx([0.2 + 0.4 / 2, 0.3 + 0.2 / 2, 0.4, 0.2, angle], abs=1e-6)


@pytest.mark.parametrize("rotation", [0.0, 0.3])
def test_rect_transformation_keeps_the_rect_id(rotation: float) -> None:
    rect = NormalizedRect(0.5, 0.4, 0.2, 0.3, rotation, rect_id=7)
    # Shifts and scales exact in float32, the options' type.
    out = run_calculator(
        "RectTransformationCalculator", {"NORM_RECT": [(1, rect)], "IMAGE_SIZE": [(1, SIZE)]},
        outputs=[""],
        options="[mediapipe.RectTransformationCalculatorOptions.ext] { scale_x: 1.5 "
                "scale_y: 1.25 shift_x: 0.125 shift_y: -0.25 square_long: true }")
    [packet] = out[""]
    w, h = 640, 480
    c, s = math.cos(rotation), math.sin(rotation)
    x = 0.5 + (w * 0.2 * 0.125 * c - h * 0.3 * -0.25 * s) / w
    y = 0.4 + (w * 0.2 * 0.125 * s + h * 0.3 * -0.25 * c) / h
    side = max(0.2 * w, 0.3 * h)
    expected = NormalizedRect(x, y, side / w * 1.5, side / h * 1.25, rotation, 7)
    got = packet.payload
    assert got.rect_id == 7 and got.rotation == rotation
    assert [got.x_center, got.y_center, got.width, got.height] == pytest.approx(
        [expected.x_center, expected.y_center, expected.width, expected.height], abs=1e-12)
