"""graphflow.solutions.drawing_utils gives MediaPipe's pixels (tests/fixtures/solutions)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from face_reference import ROOT

from graphflow.proto.mediapipe.framework.formats import detection_pb2, landmark_pb2
from graphflow.solutions import drawing_styles, drawing_utils, face_detection, face_mesh

FIXTURES = ROOT / "tests" / "fixtures" / "solutions"


def _face(points: np.ndarray) -> landmark_pb2.NormalizedLandmarkList:
    face = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in points.tolist():
        face.landmark.add(x=x, y=y, z=z)
    return face


def _detection(values: np.ndarray) -> detection_pb2.Detection:
    detection = detection_pb2.Detection(label_id=[0], score=[0.9])
    location = detection.location_data
    location.format = location.RELATIVE_BOUNDING_BOX
    box = location.relative_bounding_box
    box.xmin, box.ymin, box.width, box.height = values[:4].tolist()
    for x, y in values[4:].reshape(-1, 2).tolist():
        location.relative_keypoints.add(x=x, y=y)
    return detection


def test_face_mesh_and_detection_drawings_match_mediapipe_pixel_for_pixel() -> None:
    ref = np.load(FIXTURES / "mesh_iris.npz")
    names = list(ref["still_names"])
    face = _face(ref["still_landmarks"][names.index("roll_p10.jpg"), 0])
    canvas = np.zeros((480, 640, 3), np.uint8)
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_TESSELATION, None,
                                 drawing_styles.get_default_face_mesh_tesselation_style())
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_CONTOURS, None,
                                 drawing_styles.get_default_face_mesh_contours_style())
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_IRISES, None,
                                 drawing_styles.get_default_face_mesh_iris_connections_style())
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_NOSE,
                                 drawing_utils.DrawingSpec(thickness=1, circle_radius=1),
                                 drawing_styles.get_default_face_mesh_contours_style(1))
    drawing_utils.draw_detection(canvas, _detection(ref["drawn_detection"]))
    expected = cv2.imread(str(FIXTURES / "drawing.png"))
    assert canvas.any()
    np.testing.assert_array_equal(canvas, expected)


def test_invisible_landmarks_and_bad_connections() -> None:
    face = landmark_pb2.NormalizedLandmarkList()
    face.landmark.add(x=0.25, y=0.25, visibility=0.9)
    face.landmark.add(x=0.75, y=0.75, presence=0.1)  # not present: its lines are skipped
    face.landmark.add(x=1.5, y=0.5)  # outside the image
    canvas = np.zeros((40, 40, 3), np.uint8)
    drawing_utils.draw_landmarks(canvas, face, [(0, 1), (0, 2)], None)
    assert not canvas.any()
    drawing_utils.draw_landmarks(canvas, face, [(0, 1)])
    assert canvas[10, 10].any() and not canvas[30, 30].any()
    with pytest.raises(ValueError, match="Invalid connection from landmark #0 to landmark #3"):
        drawing_utils.draw_landmarks(canvas, face, [(0, 3)])
    with pytest.raises(ValueError, match="three channel bgr"):
        drawing_utils.draw_landmarks(np.zeros((4, 4), np.uint8), face)


def test_detection_partly_outside_is_drawn_without_failing() -> None:
    detection = _detection(np.array([0.5, 0.5, 0.8, 0.8, 0.6, 0.6, 1.4, 0.6], np.float32))
    canvas = np.zeros((40, 40, 3), np.uint8)
    drawing_utils.draw_detection(canvas, detection)
    assert canvas[24, 24].any()  # the keypoint inside; the box and the outer keypoint skipped
    left_eye = face_detection.get_key_point(detection, face_detection.FaceKeyPoint.LEFT_EYE)
    assert left_eye is not None and left_eye.x == pytest.approx(1.4)
