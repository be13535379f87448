"""NMS, rectangle, projection and association calculators against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calculators.util.non_max_suppression import (
    non_max_suppression,
    overlap_similarity,
    weighted_non_max_suppression,
)
from calculators.util.projection import project_landmarks_in_rect
from calculators.util.rects import RectTransform, normalize_radians, transform_rect
from graphflow.formats import Detection, NormalizedLandmarkList, NormalizedRect, Rect
from graphflow.proto.mediapipe.calculators.util import (
    non_max_suppression_calculator_pb2,
    rect_transformation_calculator_pb2,
)
from graphflow.testing import run_calculator, run_graph

IOU = non_max_suppression_calculator_pb2.NonMaxSuppressionCalculatorOptions.INTERSECTION_OVER_UNION


def test_overlap_similarity() -> None:
    a = (0.0, 0.0, 2.0, 2.0)
    b = (1.0, 1.0, 2.0, 2.0)
    assert overlap_similarity(a, b) == pytest.approx(1 / 7)
    assert overlap_similarity(a, (2.0, 0.0, 1.0, 1.0)) == 0.0  # touching
    assert overlap_similarity(a, (3.0, 3.0, 1.0, 1.0)) == 0.0


def _det(x: float, y: float, w: float, h: float, score: float, kp: float) -> Detection:
    return Detection(x, y, w, h, np.array([[kp, kp]], np.float32), score)


def test_weighted_nms_averages_each_group() -> None:
    a = _det(0.0, 0.0, 1.0, 1.0, 0.6, 0.2)
    b = _det(0.1, 0.1, 1.0, 1.0, 0.9, 0.5)  # IoU with a: 0.81 / 1.19
    c = _det(5.0, 5.0, 1.0, 1.0, 0.7, 0.9)
    out = weighted_non_max_suppression([a, b, c], 0.3, IOU)
    assert len(out) == 2
    best, other = out
    assert best.score == 0.9 and other.score == 0.7
    assert other.box == pytest.approx(c.box)
    # Weighted corners: xmin = (0.1*0.9 + 0*0.6)/1.5 = 0.06; xmax = (1.1*0.9 + 1*0.6)/1.5 = 1.06.
    assert best.box == pytest.approx((0.06, 0.06, 1.0, 1.0), abs=1e-6)
    assert best.keypoints[0, 0] == pytest.approx((0.5 * 0.9 + 0.2 * 0.6) / 1.5)


def test_plain_nms_keeps_the_best() -> None:
    a = _det(0.0, 0.0, 1.0, 1.0, 0.6, 0.2)
    b = _det(0.1, 0.1, 1.0, 1.0, 0.9, 0.5)
    assert non_max_suppression([a, b], 0.3, IOU) == [b]
    assert non_max_suppression([a, b], 0.9, IOU) == [b, a]


def test_nms_calculator_without_detections_advances_only() -> None:
    out = run_calculator(
        "NonMaxSuppressionCalculator", {"": [(0, []), (1, [_det(0, 0, 1, 1, 0.5, 0.1)])]},
        outputs=[""], options="[mediapipe.NonMaxSuppressionCalculatorOptions.ext] { "
        "min_suppression_threshold: 0.3 overlap_type: INTERSECTION_OVER_UNION "
        "algorithm: WEIGHTED }")
    assert [int(p.timestamp) for p in out[""]] == [1]


def test_normalize_radians() -> None:
    assert normalize_radians(3 * math.pi / 2) == pytest.approx(-math.pi / 2)
    assert normalize_radians(-math.pi) == pytest.approx(-math.pi)
    assert normalize_radians(0.5) == pytest.approx(0.5)


def test_detection_to_rotated_roi() -> None:
    # Keypoint 1 up-right of keypoint 0 at 45 degrees (in pixels of a 200x100 image).
    det = Detection(0.4, 0.4, 0.2, 0.2, np.array([[0.4, 0.6], [0.5, 0.4]], np.float32), 0.9)
    out = run_graph("""
input_stream: "det"
input_stream: "size"
output_stream: "roi"
node { calculator: "FaceDetectionFrontDetectionToRoi" input_stream: "DETECTION:det"
  input_stream: "IMAGE_SIZE:size" output_stream: "ROI:roi" }
""", inputs={"det": [(0, det)], "size": [(0, (200, 100))]})
    roi = out["roi"][0].payload
    assert roi.rotation == pytest.approx(-math.pi / 4)
    assert (roi.x_center, roi.y_center) == pytest.approx((0.5, 0.5))
    # 40x20 pixels, squared on the long side (40x40 = 0.2 x 0.4) then scaled 1.5.
    assert (roi.width, roi.height) == pytest.approx((0.3, 0.6))


def test_rect_transformation_shift_with_rotation() -> None:
    opts = rect_transformation_calculator_pb2.RectTransformationCalculatorOptions(
        shift_x=0.5, rotation_degrees=90)
    rect = transform_rect(NormalizedRect(0.5, 0.5, 0.2, 0.1), (100, 200),
                          RectTransform.from_options(opts))
    assert rect.rotation == pytest.approx(math.pi / 2)
    # The x shift (half the width, 10 px) turns into +y: 10 px of 200.
    assert (rect.x_center, rect.y_center) == pytest.approx((0.5, 0.55))


def test_landmark_projection_paths_agree() -> None:
    rect = NormalizedRect(0.5, 0.5, 0.5, 0.5, math.pi / 2)
    lm = NormalizedLandmarkList([[1.0, 0.5, 0.1], [0.5, 0.5, 0.0]])
    assert project_landmarks_in_rect(lm.xyz, rect)[0] == pytest.approx([0.5, 0.75, 0.05])
    out = run_graph("""
input_stream: "lm"
input_stream: "rect"
input_stream: "size"
output_stream: "a"
output_stream: "b"
node { calculator: "LandmarkProjectionCalculator" input_stream: "NORM_LANDMARKS:lm"
  input_stream: "NORM_RECT:rect" output_stream: "NORM_LANDMARKS:a" }
node { calculator: "LandmarkProjectionCalculator" input_stream: "NORM_LANDMARKS:lm"
  input_stream: "NORM_RECT:rect" input_stream: "IMAGE_DIMENSIONS:size"
  output_stream: "NORM_LANDMARKS:b" }
""", inputs={"lm": [(0, lm)], "rect": [(0, rect)], "size": [(0, (300, 300))]})
    a, b = np.asarray(out["a"][0].payload), np.asarray(out["b"][0].payload)
    assert np.allclose(a, b, atol=1e-6)
    assert a[1] == pytest.approx([0.5, 0.5, 0.0])


def test_landmark_projection_is_mediapipes_float32_arithmetic() -> None:
    """Each landmark as MediaPipe's LandmarkProjectionCalculator computes it, in float32
    scalars, one at a time: the vectorized projection gives the same bits."""
    rng = np.random.default_rng(4)
    xyz = rng.normal(0.5, 0.3, (60, 3)).astype(np.float32)
    xyz[:3] = [[0.0, -0.0, -0.0], [0.5, 0.5, 0.0], [1.0, 0.0, np.inf]]
    f = np.float32
    for rotation in (0.0, 0.3, -2.9, math.pi / 2):
        x_center, y_center, width, height = rng.uniform(0.1, 0.9, 4).tolist()
        rect = NormalizedRect(x_center, y_center, width, height, rotation)
        c, s = f(math.cos(rotation)), f(math.sin(rotation))
        expected = np.empty_like(xyz)
        for i, (x, y, z) in enumerate(xyz):
            x, y = x - f(0.5), y - f(0.5)
            expected[i] = ((c * x - s * y) * f(rect.width) + f(rect.x_center),
                           (s * x + c * y) * f(rect.height) + f(rect.y_center),
                           z * f(rect.width))
        assert project_landmarks_in_rect(xyz, rect).tobytes() == expected.tobytes(), rotation


@pytest.mark.parametrize(("fields", "rotation"), [
    ("", 0.25), ("rotation: 1.5", 0.25 + 1.5), ("rotation_degrees: -90", 0.25 - math.pi / 2),
    ("rotation: 0", 0.25)])
def test_rect_transformation_rotation_from_either_field(fields: str, rotation: float) -> None:
    out = run_calculator(
        "RectTransformationCalculator",
        {"NORM_RECT": [(0, NormalizedRect(0.4, 0.6, 0.2, 0.1, 0.25, rect_id=3))],
         "IMAGE_SIZE": [(0, (100, 100))]},
        outputs=[""], options=f"[mediapipe.RectTransformationCalculatorOptions.ext] {{ {fields} "
                              "scale_x: 2 scale_y: 3 }")
    rect = out[""][0].payload
    assert rect.rotation == pytest.approx(rotation)
    assert (rect.x_center, rect.y_center, rect.width, rect.height, rect.rect_id) == \
        pytest.approx((0.4, 0.6, 0.4, 0.3, 3))


def test_thresholding_accept_reject_and_a_threshold_stream() -> None:
    out = run_calculator(
        "ThresholdingCalculator",
        {"FLOAT": [(0, 0.4), (1, 0.4), (2, 0.9)], "THRESHOLD": [(1, 0.3)]},
        outputs=["FLAG", "ACCEPT", "REJECT"],
        options="[mediapipe.ThresholdingCalculatorOptions.ext] { threshold: 0.5 }")
    assert [(int(p.timestamp), p.payload) for p in out["FLAG"]] == [
        (0, False), (1, True), (2, True)]  # the stream's 0.3 holds from timestamp 1 on
    assert [int(p.timestamp) for p in out["ACCEPT"]] == [1, 2]
    assert [(int(p.timestamp), p.payload) for p in out["REJECT"]] == [(0, False)]


def test_association_later_streams_win() -> None:
    r1 = NormalizedRect(0.3, 0.3, 0.2, 0.2)
    r2 = NormalizedRect(0.8, 0.8, 0.1, 0.1)
    r1b = NormalizedRect(0.31, 0.3, 0.2, 0.2)  # IoU with r1 ~0.9
    out = run_graph("""
input_stream: "a"
input_stream: "b"
output_stream: "merged"
node { calculator: "AssociationNormRectCalculator" input_stream: "a" input_stream: "b"
  output_stream: "merged"
  options { [mediapipe.AssociationCalculatorOptions.ext] { min_similarity_threshold: 0.5 } } }
""", inputs={"a": [(0, [r1, r2])], "b": [(0, [r1b])]})
    assert out["merged"][0].payload == [r2, r1b]


def test_min_size_and_thresholding() -> None:
    out = run_graph("""
input_stream: "rects"
input_stream: "score"
input_side_packet: "n"
output_stream: "enough"
output_stream: "flag"
node { calculator: "NormalizedRectVectorHasMinSizeCalculator" input_stream: "ITERABLE:rects"
  input_side_packet: "n" output_stream: "enough" }
node { calculator: "ThresholdingCalculator" input_stream: "FLOAT:score" output_stream: "FLAG:flag"
  options { [mediapipe.ThresholdingCalculatorOptions.ext] { threshold: 0.5 } } }
""", inputs={"rects": [(0, []), (1, [NormalizedRect(0, 0, 1, 1)])],
             "score": [(0, 0.5), (1, 0.51)]}, side_packets={"n": 1})
    assert [p.payload for p in out["enough"]] == [False, True]
    assert [p.payload for p in out["flag"]] == [False, True]


def test_landmarks_to_detection_bounds() -> None:
    lm = NormalizedLandmarkList([[0.2, 0.5, 0], [0.6, 0.1, 0], [0.4, 0.9, 0]])
    out = run_calculator("LandmarksToDetectionCalculator", {"NORM_LANDMARKS": [(0, lm)]},
                         outputs=["DETECTION"])
    det = out["DETECTION"][0].payload
    assert det.box == pytest.approx((0.2, 0.1, 0.4, 0.8))
    assert det.keypoints.shape == (3, 2)


def test_pixel_rects_need_the_image_size_at_config_time() -> None:
    graph = """
input_stream: "dets"
output_stream: "rect"
node { calculator: "DetectionsToRectsCalculator" input_stream: "DETECTIONS:dets"
  output_stream: "RECT:rect" }
"""
    # Refused before any packet: no detection needs to arrive to find the mistake.
    with pytest.raises(Exception, match=r"RECT and RECTS .* need the IMAGE_SIZE input"):
        run_graph(graph, inputs={"dets": []})


def test_pixel_rect_of_a_detection() -> None:
    det = Detection(0.25, 0.5, 0.5, 0.3)
    out = run_calculator("DetectionsToRectsCalculator",
                         {"DETECTION": [(0, det)], "IMAGE_SIZE": [(0, (200, 100))]},
                         outputs=["RECT"])
    assert out["RECT"][0].payload == Rect(100, 65, 100, 30)  # center (0.5, 0.65) of 200x100
