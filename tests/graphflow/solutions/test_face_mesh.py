"""graphflow.solutions.face_mesh against MediaPipe 0.10.21's FaceMesh (tests/fixtures/face/)."""

from __future__ import annotations

import numpy as np
import pytest
from face_reference import (
    FIXTURES,
    ROOT,
    SOLUTION_FIXTURES,
    landmarks_array,
    point_errors_iod,
    read_clip,
    read_rgb,
)

from graphflow.proto.mediapipe.framework.formats import landmark_pb2
from graphflow.solutions import face_mesh


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    frames = read_clip(ROOT / "media" / "demo.mp4")
    assert len(frames) == 120
    return frames


def test_tracking_468_points_match_mediapipe(clip: list[np.ndarray]) -> None:
    ref = np.load(FIXTURES / "clip_tracking.npz")
    errors = []
    with face_mesh.FaceMesh(max_num_faces=1) as mesh:
        for i, frame in enumerate(clip):
            faces = mesh.process(frame).multi_face_landmarks
            assert faces is not None and len(faces) == 1, i
            face = faces[0]
            assert isinstance(face, landmark_pb2.NormalizedLandmarkList)
            assert len(face.landmark) == face_mesh.FACEMESH_NUM_LANDMARKS
            assert not face.landmark[0].HasField("visibility")  # as MediaPipe's
            errors.append(np.median(point_errors_iod(landmarks_array(face),
                                                     ref["mesh_landmarks"][i, 0], (1280, 720))))
    assert max(errors) <= 0.01


def test_tracking_with_irises_matches_mediapipe(clip: list[np.ndarray]) -> None:
    """The moving, zooming, rolling clip: a face on every frame; on the kept frames the median
    error of all 478 points and of the 10 iris points alone within 1% of the inter-ocular
    distance."""
    ref = np.load(SOLUTION_FIXTURES / "mesh_iris.npz")
    kept = {int(f): k for k, f in enumerate(ref["clip_frame_index"])}
    assert ref["clip_count"].tolist() == [1] * 120
    all_points, iris = [], []
    with face_mesh.FaceMesh(max_num_faces=1, refine_landmarks=True) as mesh:
        for i, frame in enumerate(clip):
            faces = mesh.process(frame).multi_face_landmarks
            assert faces is not None and len(faces) == 1, i
            assert len(faces[0].landmark) == face_mesh.FACEMESH_NUM_LANDMARKS_WITH_IRISES
            if i in kept:
                errors = point_errors_iod(landmarks_array(faces[0]),
                                          ref["clip_landmarks"][kept[i], 0], (1280, 720))
                all_points.append(np.median(errors))
                iris.append(np.median(errors[468:]))
    assert len(all_points) == 30
    assert max(all_points) <= 0.01, max(all_points)
    assert max(iris) <= 0.01, max(iris)


def test_static_irises_on_tilted_photos_match_mediapipe() -> None:
    ref = np.load(SOLUTION_FIXTURES / "mesh_iris.npz")
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2,
                            refine_landmarks=True) as mesh:
        for k, name in enumerate(ref["still_names"]):
            found = mesh.process(read_rgb(ROOT / "media" / "tilted" / str(name)))
            faces = found.multi_face_landmarks or []
            assert len(faces) == ref["still_count"][k], name
            for j in range(ref["still_count"][k]):
                expected = ref["still_landmarks"][k, j]
                ours = min((landmarks_array(f) for f in faces),
                           key=lambda f: float(np.abs(f[:, :2] - expected[:, :2]).mean()))
                errors = point_errors_iod(ours, expected, (640, 480))
                assert np.median(errors) <= 0.01 and np.median(errors[468:]) <= 0.01, name


def test_static_mode_on_tilted_photos_matches_mediapipe() -> None:
    ref = np.load(FIXTURES / "tilted.npz")
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2) as mesh:
        for k, name in enumerate(ref["names"]):
            faces = mesh.process(read_rgb(ROOT / "media" / "tilted" / str(name)))
            found = faces.multi_face_landmarks or []
            assert len(found) == ref["mesh_count"][k], name
            for j in range(ref["mesh_count"][k]):
                expected = ref["mesh_landmarks"][k, j]
                ours = min((landmarks_array(f) for f in found),
                           key=lambda f: float(np.abs(f[:, :2] - expected[:, :2]).mean()))
                assert np.median(point_errors_iod(ours, expected, (640, 480))) <= 0.01, name


def test_no_face_gives_none_and_tracking_recovers() -> None:
    face = read_rgb(ROOT / "media" / "tilted" / "roll_p10.jpg")
    with face_mesh.FaceMesh() as mesh:
        assert mesh.process(np.zeros((480, 640, 3), np.uint8)).multi_face_landmarks is None
        assert len(mesh.process(face).multi_face_landmarks) == 1
        assert mesh.process(np.full((480, 640, 3), 255, np.uint8)).multi_face_landmarks is None
        assert len(mesh.process(face).multi_face_landmarks) == 1


def test_max_num_faces_and_thresholds_reach_the_graph() -> None:
    two = read_rgb(ROOT / "media" / "tilted" / "two_faces.jpg")
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        assert len(mesh.process(two).multi_face_landmarks) == 1
    # A presence threshold no face reaches: the landmark model rejects every face.
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2,
                            min_tracking_confidence=1.0) as mesh:
        assert mesh.process(two).multi_face_landmarks is None
    # A detection threshold no face reaches: nothing is detected.
    with face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2,
                            min_detection_confidence=1.0) as mesh:
        assert mesh.process(two).multi_face_landmarks is None


def test_connection_sets() -> None:
    assert len(face_mesh.FACEMESH_TESSELATION) == 2556  # MediaPipe's 0.10.21 counts
    assert len(face_mesh.FACEMESH_CONTOURS) == 124
    assert face_mesh.FACEMESH_IRISES == face_mesh.FACEMESH_LEFT_IRIS | \
        face_mesh.FACEMESH_RIGHT_IRIS
    assert (474, 475) in face_mesh.FACEMESH_LEFT_IRIS and (469, 470) in \
        face_mesh.FACEMESH_RIGHT_IRIS
    every = set().union(*(getattr(face_mesh, n) for n in dir(face_mesh)
                          if n.startswith("FACEMESH_") and not n.startswith("FACEMESH_NUM")))
    assert max(max(pair) for pair in every) == 477
    tess = {i for pair in face_mesh.FACEMESH_TESSELATION for i in pair}
    assert tess == set(range(468))
