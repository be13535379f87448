"""Protobuf messages from graphflow payloads, against messages built field by field."""

from __future__ import annotations

import numpy as np

from graphflow.formats import Detection, NormalizedLandmarkList
from graphflow.proto.mediapipe.framework.formats import detection_pb2, landmark_pb2
from graphflow.solutions.formats import detection_proto, landmark_list_proto


def _by_fields(xyz: np.ndarray, visibility: np.ndarray | None = None,
               presence: np.ndarray | None = None) -> landmark_pb2.NormalizedLandmarkList:
    message = landmark_pb2.NormalizedLandmarkList()
    for i, (x, y, z) in enumerate(xyz.tolist()):
        point = message.landmark.add(x=x, y=y, z=z)
        if visibility is not None:
            point.visibility = float(visibility[i])
        if presence is not None:
            point.presence = float(presence[i])
    return message


def test_landmark_list_bytes_equal_field_by_field_messages() -> None:
    rng = np.random.default_rng(5)
    xyz = rng.normal(0.5, 0.3, (478, 3)).astype(np.float32)
    xyz[0] = (0.0, -0.0, 1e-38)  # zeros and denormals survive as set fields
    message = landmark_list_proto(NormalizedLandmarkList(xyz))
    expected = _by_fields(xyz)
    assert message == expected
    assert message.SerializeToString() == expected.SerializeToString()
    assert message.landmark[0].HasField("z") and not message.landmark[0].HasField("visibility")
    vis, pres = rng.random(478).astype(np.float32), rng.random(478).astype(np.float32)
    full = landmark_list_proto(NormalizedLandmarkList(xyz, visibility=vis, presence=pres))
    assert full == _by_fields(xyz, vis, pres)
    only_presence = landmark_list_proto(NormalizedLandmarkList(xyz, presence=pres))
    assert only_presence == _by_fields(xyz, presence=pres)
    assert landmark_list_proto(NormalizedLandmarkList(np.zeros((0, 3)))) == \
        landmark_pb2.NormalizedLandmarkList()


def _detection_by_fields(detection: Detection) -> detection_pb2.Detection:
    expected = detection_pb2.Detection(label_id=[detection.label_id], score=[detection.score])
    expected.location_data.format = expected.location_data.RELATIVE_BOUNDING_BOX
    box = expected.location_data.relative_bounding_box
    box.xmin, box.ymin, box.width, box.height = detection.box
    for x, y in detection.keypoints.tolist():
        expected.location_data.relative_keypoints.add(x=x, y=y)
    return expected


def test_detection_message() -> None:
    keypoints = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    detection = Detection(0.25, 0.5, 0.125, 0.375, keypoints, score=0.75, label_id=3)
    message = detection_proto(detection)
    assert message == _detection_by_fields(detection)
    assert message.location_data.relative_keypoints[1].y == np.float32(0.4)


def test_detection_bytes_equal_field_by_field_messages() -> None:
    """Wire bytes as protobuf writes them: no keypoints, zeros and negative zero (present,
    not defaulted), negative and large labels, a location over 127 bytes (two-byte length)."""
    rng = np.random.default_rng(5)
    for count, label in ((0, 0), (1, -1), (6, 0), (7, 300), (12, -(2**31)), (40, 2**31 - 1)):
        _, ymin, _, height, score = rng.normal(0, 1, 5).astype(np.float32).tolist()
        detection = Detection(0.0, ymin, -0.0, height,
                              rng.normal(0, 1, (count, 2)).astype(np.float32), score=score,
                              label_id=label)
        message = detection_proto(detection)
        assert message.SerializeToString() == _detection_by_fields(detection).SerializeToString()
        assert len(message.location_data.relative_keypoints) == count
