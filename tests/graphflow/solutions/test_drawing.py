"""graphflow.solutions.drawing_utils and drawing_styles give MediaPipe's pixels and plots
(tests/fixtures/solutions, made by MediaPipe 0.10.21)."""

from __future__ import annotations

import json
import sys
import types

import cv2
import numpy as np
import pytest
from drawing_scenes import draw_scenes, plot_scenes
from face_reference import ROOT
from plot_recorder import PyplotRecorder

import graphflow.solutions as mp
from graphflow.proto.mediapipe.framework.formats import detection_pb2, landmark_pb2
from graphflow.solutions import drawing_styles, drawing_utils, face_detection, face_mesh

FIXTURES = ROOT / "tests" / "fixtures" / "solutions"


def _face(points: np.ndarray) -> landmark_pb2.NormalizedLandmarkList:
    """x, y, z and, for 4 columns, visibility (as scripts/make_drawing_fixtures.py)."""
    face = landmark_pb2.NormalizedLandmarkList()
    for row in points.tolist():
        landmark = face.landmark.add(x=row[0], y=row[1], z=row[2])
        if len(row) > 3:
            landmark.visibility = row[3]
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


def test_hand_pose_axis_and_detection_drawings_match_mediapipe_pixel_for_pixel() -> None:
    """The scenes of scripts/make_drawing_fixtures.py, drawn by graphflow from the same values:
    the hand and pose styles, default specs, connections only, axes, a detection."""
    ref = np.load(FIXTURES / "drawing_extra.npz")
    canvases = np.zeros_like(ref["scenes"])
    draw_scenes(mp, canvases, _face(ref["hand"]), _face(ref["pose"]),
                _detection(ref["detection"]), ref["rotations"], ref["translations"])
    for scene, (ours, theirs) in enumerate(zip(canvases, ref["scenes"], strict=True)):
        assert theirs.any(), scene
        np.testing.assert_array_equal(ours, theirs, err_msg=f"scene {scene}")


def test_plot_landmarks_makes_mediapipes_matplotlib_calls(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Call for call what MediaPipe's plot_landmarks asks of pyplot (recorded in .venv-mp)."""
    ref = np.load(FIXTURES / "drawing_extra.npz")
    recorder = PyplotRecorder()
    monkeypatch.setitem(sys.modules, "matplotlib", types.ModuleType("matplotlib"))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", recorder)
    plot_scenes(mp, _face(ref["hand"]), _face(ref["pose"]))
    expected = json.loads((FIXTURES / "plot_landmarks.json").read_text())["calls"]
    assert len(expected) > 40  # scatters and lines, not just the figure
    assert json.loads(json.dumps(recorder.calls)) == expected
    with pytest.raises(ValueError, match="Invalid connection from landmark #0 to landmark #40"):
        drawing_utils.plot_landmarks(_face(ref["hand"]), [(0, 40)])


def test_plot_landmarks_without_matplotlib_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    face = _face(np.full((2, 3), 0.5, np.float32))
    with pytest.raises(ImportError, match=r"plot_landmarks needs matplotlib.*pip install"):
        drawing_utils.plot_landmarks(face)
    drawing_utils.plot_landmarks(None)  # nothing to plot: matplotlib is not needed


def test_hand_and_pose_names_are_mediapipes() -> None:
    """The enums and connection sets against the data extracted from MediaPipe's wheel."""
    data = json.loads((ROOT / "graphflow" / "solutions" / "hand_pose_connections.json")
                      .read_text())["sets"]
    assert [[m.name, int(m)] for m in mp.hands.HandLandmark] == data["HandLandmark"]
    assert [[m.name, int(m)] for m in mp.pose.PoseLandmark] == data["PoseLandmark"]
    assert mp.hands_connections.HAND_THUMB_CONNECTIONS == ((1, 2), (2, 3), (3, 4))
    assert len(mp.hands.HAND_CONNECTIONS) == 21 and len(mp.pose.POSE_CONNECTIONS) == 35
    with pytest.raises(AttributeError, match=r"^module 'graphflow\.solutions\.hands' has no "
                                             r"attribute 'Hands': graphflow\.solutions has no "
                                             r"hand tracking solution, only HandLandmark and "
                                             r"HAND_CONNECTIONS for drawing"):
        mp.hands.Hands  # noqa: B018
    with pytest.raises(AttributeError, match=r"^module 'graphflow\.solutions\.pose' has no "
                                             r"attribute 'Pose': graphflow\.solutions has no pose "
                                             r"solution, only PoseLandmark and POSE_CONNECTIONS"):
        mp.pose.Pose  # noqa: B018
    # hasattr and getattr's default still work: the error is an AttributeError.
    assert not hasattr(mp.pose, "Pose") and getattr(mp.hands, "Hands", None) is None


def test_error_messages_are_mediapipes() -> None:
    detection = _detection(np.array([0.1, 0.1, 0.2, 0.2], np.float32))
    detection.location_data.format = detection.location_data.BOUNDING_BOX
    canvas = np.zeros((40, 40, 3), np.uint8)
    with pytest.raises(ValueError, match=r"^LocationData must be relative for this drawing "
                                         r"funtion to work\.$"):
        drawing_utils.draw_detection(canvas, detection)
    with pytest.raises(ValueError, match=r"^Input image must contain three channel bgr data\."):
        drawing_utils.draw_axis(np.zeros((4, 4, 4), np.uint8), np.eye(3), np.zeros(3))
