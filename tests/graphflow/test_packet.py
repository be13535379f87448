"""Packet: immutable payload + timestamp; at() re-stamps without copying."""

import dataclasses
import pickle

import numpy as np
import pytest

from graphflow.formats import Detection, NormalizedLandmarkList
from graphflow.packet import Packet
from graphflow.timestamp import Timestamp


def test_unset_timestamp_and_at() -> None:
    packet = Packet("x")
    assert packet.timestamp == Timestamp.UNSET
    stamped = packet.at(1000)
    assert type(stamped.timestamp) is Timestamp and stamped.timestamp == 1000
    assert packet.timestamp == Timestamp.UNSET  # the original is unchanged
    assert stamped.payload == "x"


def test_at_does_not_copy() -> None:
    payload = {"k": [1, 2]}
    packet = Packet(payload).at(5)
    again = packet.at(6)
    assert again.payload is payload and packet.payload is payload
    array = np.arange(6)
    first = Packet(array)
    assert first.at(1).payload is first.payload
    assert np.shares_memory(first.payload, array)  # a read-only view, not a copy


def test_arrays_are_read_only() -> None:
    array = np.zeros((2, 2), np.float32)
    packet = Packet(array).at(0)
    with pytest.raises(ValueError, match="read-only"):
        packet.payload[0, 0] = 1.0
    assert array.flags.writeable  # the caller's array itself is not frozen
    array[0, 0] = 2.0
    assert packet.payload[0, 0] == 2.0  # same memory


def test_empty_packet() -> None:
    empty: Packet[object] = Packet()
    assert empty.is_empty
    assert empty.get("default") == "default"
    with pytest.raises(ValueError, match="empty"):
        _ = empty.payload
    assert not Packet(None).is_empty  # None is a payload
    assert Packet(0).get("default") == 0


def test_packet_payload_and_timestamp_are_fixed() -> None:
    """Read-only properties. (Compiled, a Packet has a __dict__, as mypyc gives one to a
    Generic class, so a new attribute is not refused there: only these two are pinned.)"""
    packet = Packet(1).at(2)
    with pytest.raises(AttributeError):
        packet.payload = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        packet.timestamp = 3  # type: ignore[misc, assignment]
    assert packet.payload == 1 and packet.timestamp == 2


def test_landmark_lists_copy_writable_arrays_and_share_read_only_ones() -> None:
    xyz = np.zeros((3, 3), np.float32)
    copied = NormalizedLandmarkList(xyz)
    xyz[0, 0] = 5.0
    assert copied.xyz[0, 0] == 0.0 and not copied.xyz.flags.writeable
    frozen = np.ones((3, 3), np.float32)
    frozen.flags.writeable = False
    assert NormalizedLandmarkList(frozen).xyz is frozen  # no copy
    assert np.asarray(NormalizedLandmarkList(frozen), dtype=np.float32) is frozen  # nor here
    assert NormalizedLandmarkList(frozen.astype(np.float64)).xyz.dtype == np.float32
    detection = Detection(0.0, 0.0, 1.0, 1.0, frozen[:, :2])
    assert np.shares_memory(detection.keypoints, frozen)


def test_detection_from_decoded_equals_the_checked_constructor() -> None:
    keypoints = np.array([[0.5, 0.6], [0.7, 0.8]], np.float32)
    keypoints.flags.writeable = False
    fast = Detection.from_decoded(0.1, 0.2, 0.3, 0.4, keypoints, 0.9, 2)
    checked = Detection(0.1, 0.2, 0.3, 0.4, keypoints, score=0.9, label_id=2)
    assert fast.__dict__ == checked.__dict__ and list(fast.__dict__) == list(checked.__dict__)
    assert fast.keypoints is keypoints  # taken as it is
    assert fast.replace(score=0.5).box == checked.box
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.xmin = 0.0  # type: ignore[misc]


def test_detection_replace_changes_only_the_named_fields_and_checks_keypoints() -> None:
    detection = Detection(0.1, 0.2, 0.3, 0.4, np.array([[0.5, 0.6]], np.float32), score=0.9,
                          label_id=2)
    moved = detection.replace(xmin=0.25, keypoints=[[0.7, 0.8], [0.1, 0.2]])
    assert (moved.xmin, moved.ymin, moved.width, moved.height, moved.score, moved.label_id) == (
        0.25, 0.2, 0.3, 0.4, 0.9, 2)
    assert moved.keypoints.dtype == np.float32 and not moved.keypoints.flags.writeable
    np.testing.assert_array_equal(moved.keypoints,
                                  np.array([[0.7, 0.8], [0.1, 0.2]], np.float32))
    assert detection.xmin == 0.1 and detection.keypoints.shape == (1, 2)  # the original stays
    assert detection.replace(score=0.5).keypoints is detection.keypoints  # shared, not copied
    with pytest.raises(TypeError, match="no field"):
        detection.replace(x_min=0.0)
    with pytest.raises(ValueError, match="keypoints must have shape"):
        detection.replace(keypoints=[1.0, 2.0, 3.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        moved.xmin = 0.0  # type: ignore[misc]


def test_numpy_integers_are_timestamps() -> None:
    """What ``Timestamp()`` takes stamps a packet, compiled (graphflow/packet.py under mypyc
    checks its annotations) or not."""
    for stamped in (Packet("x", np.int64(5)), Packet("x").at(np.int32(5))):
        assert type(stamped.timestamp) is Timestamp and stamped.timestamp == 5


def test_packets_pickle() -> None:
    packet = Packet({"k": [1, 2]}).at(7)
    copy = pickle.loads(pickle.dumps(packet))
    assert type(copy) is Packet and copy.payload == {"k": [1, 2]}
    assert type(copy.timestamp) is Timestamp and copy.timestamp == 7
