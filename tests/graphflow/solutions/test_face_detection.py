"""graphflow.solutions.face_detection against MediaPipe 0.10.21's FaceDetection."""

from __future__ import annotations

import numpy as np
import pytest
from face_reference import (
    FIXTURES,
    ROOT,
    SOLUTION_FIXTURES,
    box_iou,
    detection_box,
    read_clip,
    read_rgb,
)

from graphflow.proto.mediapipe.framework.formats import detection_pb2, location_data_pb2
from graphflow.solutions import face_detection


def _match(found: list[detection_pb2.Detection], boxes: np.ndarray, scores: np.ndarray,
           keypoints: np.ndarray) -> None:
    assert len(found) == len(boxes)
    for box, score, points in zip(boxes, scores, keypoints, strict=True):
        best = max(found, key=lambda d: box_iou(detection_box(d), box))
        assert box_iou(detection_box(best), box) >= 0.9
        assert abs(best.score[0] - score) <= 0.02
        ours = [(p.x, p.y) for p in best.location_data.relative_keypoints]
        assert np.abs(np.array(ours) - points).max() < 0.01


def test_short_range_matches_mediapipe_on_photos_and_clip() -> None:
    ref = np.load(FIXTURES / "tilted.npz")
    with face_detection.FaceDetection(model_selection=0) as detector:
        for k, name in enumerate(ref["names"]):
            found = detector.process(read_rgb(ROOT / "media" / "tilted" / str(name))).detections
            n = ref["det_count"][k]
            _match(found, ref["det_bbox"][k, :n], ref["det_score"][k, :n],
                   ref["det_keypoints"][k, :n])
        static = np.load(FIXTURES / "clip_static.npz")
        clip = read_clip(ROOT / "media" / "demo.mp4")
        for k, i in enumerate(static["frame_index"]):
            n = static["det_count"][k]
            _match(detector.process(clip[i]).detections, static["det_bbox"][k, :n],
                   static["det_score"][k, :n], static["det_keypoints"][k, :n])


def test_full_range_matches_mediapipe_on_the_group_photo_stills_and_clip() -> None:
    ref = np.load(SOLUTION_FIXTURES / "face_detection_full_range.npz")
    clip = read_clip(ROOT / "media" / "demo.mp4")
    assert ref["names"][0] == "group.jpg" and ref["det_count"][0] == 6
    with face_detection.FaceDetection(model_selection=1) as detector:
        for k, name in enumerate(ref["names"].tolist()):
            if name.startswith("clip:"):
                image = clip[int(name.removeprefix("clip:"))]
            elif name == "group.jpg":
                image = read_rgb(ROOT / "media" / "group.jpg")
            else:
                image = read_rgb(ROOT / "media" / "tilted" / name)
            n = ref["det_count"][k]
            _match(detector.process(image).detections or [], ref["det_bbox"][k, :n],
                   ref["det_score"][k, :n], ref["det_keypoints"][k, :n])


def test_detection_messages_are_mediapipes() -> None:
    with face_detection.FaceDetection() as detector:
        detection = detector.process(read_rgb(ROOT / "media" / "tilted" / "roll_p10.jpg")) \
            .detections[0]
    assert isinstance(detection, detection_pb2.Detection)
    assert list(detection.label_id) == [0] and len(detection.score) == 1
    location = detection.location_data
    assert location.format == location_data_pb2.LocationData.RELATIVE_BOUNDING_BOX
    assert len(location.relative_keypoints) == 6
    nose = face_detection.get_key_point(detection, face_detection.FaceKeyPoint.NOSE_TIP)
    assert nose == location.relative_keypoints[2]
    # MediaPipe's wire format: a parse of the bytes gives the same message back.
    assert detection_pb2.Detection.FromString(detection.SerializeToString()) == detection


def test_threshold_never_drops_below_the_graphs_own() -> None:
    two = read_rgb(ROOT / "media" / "tilted" / "two_faces.jpg")  # scores 0.867 and 0.82
    with face_detection.FaceDetection(min_detection_confidence=0.05) as detector:
        assert len(detector.process(two).detections) == 2
    with face_detection.FaceDetection(min_detection_confidence=0.85) as detector:
        assert [round(d.score[0], 2) for d in detector.process(two).detections] == [0.87]


def test_model_selection_is_checked() -> None:
    with pytest.raises(ValueError, match=r"model_selection must be 0 .* or 1 .*, got 2"):
        face_detection.FaceDetection(model_selection=2)
