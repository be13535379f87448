"""MediaPipe's protobuf results from graphflow's packet payloads.

``mp.solutions`` returns protobuf messages (``NormalizedLandmarkList``, ``Detection``); the
solutions here return the same messages, from graphflow's copies of MediaPipe's ``.proto`` files
(same package, names and field numbers, so ``SerializeToString()`` gives MediaPipe's bytes):
``from graphflow.proto.mediapipe.framework.formats import landmark_pb2`` stands in for
``from mediapipe.framework.formats import landmark_pb2``.

A face mesh has 468 or 478 landmarks; building their messages one field at a time costs about
half a millisecond in Python, so landmark lists are built as protobuf wire bytes with numpy and
parsed in one call (about 20 us).
"""

from __future__ import annotations

import numpy as np

from graphflow.formats import Detection, NormalizedLandmarkList
from graphflow.proto.mediapipe.framework.formats import (
    detection_pb2,
    landmark_pb2,
    location_data_pb2,
)

# Protobuf wire-format keys: (field number << 3) | wire type; 5 is a 32-bit float, 2 a
# length-delimited submessage.
_FLOAT_KEYS = {"x": 0x0D, "y": 0x15, "z": 0x1D, "visibility": 0x25, "presence": 0x2D}
_LANDMARK_KEY = 0x0A  # NormalizedLandmarkList.landmark (field 1), each a submessage


def _record_dtype(fields: tuple[str, ...]) -> np.dtype:
    """One packed record: list key, submessage length, then key + float per field."""
    parts: list[tuple[str, str]] = [("key", "u1"), ("length", "u1")]
    for name in fields:
        parts += [(f"{name}_key", "u1"), (name, "<f4")]
    return np.dtype(parts)


def landmark_list_proto(landmarks: NormalizedLandmarkList) -> landmark_pb2.NormalizedLandmarkList:
    """MediaPipe's ``NormalizedLandmarkList`` message with x, y, z (and visibility, presence
    where the list has them) of every landmark."""
    xyz = np.asarray(landmarks)
    fields = ["x", "y", "z"]
    extra = {}
    if landmarks.visibility is not None:
        fields.append("visibility")
        extra["visibility"] = landmarks.visibility
    if landmarks.presence is not None:
        fields.append("presence")
        extra["presence"] = landmarks.presence
    records = np.empty(len(xyz), dtype=_record_dtype(tuple(fields)))
    records["key"] = _LANDMARK_KEY
    records["length"] = 5 * len(fields)
    for i, name in enumerate(fields):
        records[f"{name}_key"] = _FLOAT_KEYS[name]
        records[name] = xyz[:, i] if i < 3 else extra[name]
    message = landmark_pb2.NormalizedLandmarkList()
    message.ParseFromString(records.tobytes())
    return message


def landmark_list_protos(
        faces: list[NormalizedLandmarkList]) -> list[landmark_pb2.NormalizedLandmarkList]:
    """`landmark_list_proto` of each list."""
    return [landmark_list_proto(face) for face in faces]


def detection_proto(detection: Detection) -> detection_pb2.Detection:
    """MediaPipe's ``Detection`` message: label id, score and a relative bounding box with
    relative keypoints, as MediaPipe's face detection gives them."""
    message = detection_pb2.Detection(label_id=[detection.label_id], score=[detection.score])
    location = message.location_data
    location.format = location_data_pb2.LocationData.RELATIVE_BOUNDING_BOX
    box = location.relative_bounding_box
    box.xmin, box.ymin, box.width, box.height = detection.box
    for x, y in detection.keypoints.tolist():
        location.relative_keypoints.add(x=x, y=y)
    return message


def detection_protos(detections: list[Detection]) -> list[detection_pb2.Detection]:
    """`detection_proto` of each detection."""
    return [detection_proto(d) for d in detections]
