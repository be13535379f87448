"""MediaPipe's protobuf results from graphflow's packet payloads.

``mp.solutions`` returns protobuf messages (``NormalizedLandmarkList``, ``Detection``); the
solutions here return the same messages, from graphflow's copies of MediaPipe's ``.proto`` files
(same package, names and field numbers, so ``SerializeToString()`` gives MediaPipe's bytes):
``from graphflow.proto.mediapipe.framework.formats import landmark_pb2`` stands in for
``from mediapipe.framework.formats import landmark_pb2``.

A face mesh has 468 or 478 landmarks; building their messages one field at a time costs about
half a millisecond in Python, so landmark lists are built as protobuf wire bytes with numpy and
parsed in one call (about 20 us); detections likewise.
"""

from __future__ import annotations

import functools
import struct

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


# Detection: label_id (field 2, packed varints), score (3, one packed float), location_data
# (4); its format (1) RELATIVE_BOUNDING_BOX, relative_bounding_box (3: xmin, ymin, width,
# height, fields 1-4, the keys of x, y, z and visibility above) and relative_keypoints (5).
_LABEL_ID_KEY, _SCORE_KEY, _LOCATION_KEY = b"\x12", b"\x1a\x04", b"\x22"
_RELATIVE_BOX = bytes([0x08, location_data_pb2.LocationData.RELATIVE_BOUNDING_BOX, 0x1A, 20])
_LOCATION_HEAD = struct.Struct("<4sBfBfBfBf")
_FLOAT = struct.Struct("<f")
_KEYPOINT_RECORD = 12  # key, length, x key, x, y key, y


@functools.lru_cache(maxsize=16)
def _keypoint_records(count: int) -> bytes:
    """``count`` relative_keypoints submessages (field 5, 10 bytes each) with x and y zero."""
    return bytes([0x2A, 10, _FLOAT_KEYS["x"], 0, 0, 0, 0, _FLOAT_KEYS["y"], 0, 0, 0, 0]) * count


def _varint(value: int) -> bytes:
    """Protobuf's base-128 varint of an int32 (a negative one as its 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


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
    relative keypoints, as MediaPipe's face detection gives them.

    Built as wire bytes and parsed in one call, like the landmark lists: field by field it cost
    2-3x as much (a face detection's six keypoints are six submessages).
    """
    count = len(detection.keypoints)
    keypoints = bytearray(_keypoint_records(count))
    if count:
        # The records' x and y, 5 bytes apart (a key between them), 12 bytes a record.
        np.ndarray((count, 2), dtype="<f4", buffer=keypoints, offset=3,
                   strides=(_KEYPOINT_RECORD, 5))[...] = detection.keypoints
    location = _LOCATION_HEAD.pack(
        _RELATIVE_BOX, _FLOAT_KEYS["x"], detection.xmin, _FLOAT_KEYS["y"], detection.ymin,
        _FLOAT_KEYS["z"], detection.width, _FLOAT_KEYS["visibility"], detection.height)
    label = _varint(detection.label_id)
    return detection_pb2.Detection.FromString(b"".join((
        _LABEL_ID_KEY, _varint(len(label)), label, _SCORE_KEY, _FLOAT.pack(detection.score),
        _LOCATION_KEY, _varint(len(location) + len(keypoints)), location, keypoints)))


def detection_protos(detections: list[Detection]) -> list[detection_pb2.Detection]:
    """`detection_proto` of each detection."""
    return [detection_proto(d) for d in detections]
