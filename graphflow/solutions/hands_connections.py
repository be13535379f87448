"""MediaPipe Hands' landmark connections (``HAND_CONNECTIONS``, ...), for drawing hand landmarks.

MediaPipe 0.10.21's ``hands_connections`` constants, kept as data in
``hand_pose_connections.json`` (written by ``scripts/extract_mp_connections.py`` from the wheel):
each finger's ``(start, end)`` landmark index pairs as a tuple, and their union as MediaPipe
builds it. graphflow has no hand tracking solution; these serve landmarks from elsewhere (e.g.
MediaPipe Tasks' hand landmarker) drawn with `drawing_utils` and `drawing_styles`.
"""

from __future__ import annotations

import json
import pathlib

_DATA = json.loads((pathlib.Path(__file__).with_name("hand_pose_connections.json"))
                   .read_text(encoding="utf-8"))["sets"]


def _pairs(name: str) -> tuple[tuple[int, int], ...]:
    return tuple((int(a), int(b)) for a, b in _DATA[name])


HAND_PALM_CONNECTIONS = _pairs("HAND_PALM_CONNECTIONS")
HAND_THUMB_CONNECTIONS = _pairs("HAND_THUMB_CONNECTIONS")
HAND_INDEX_FINGER_CONNECTIONS = _pairs("HAND_INDEX_FINGER_CONNECTIONS")
HAND_MIDDLE_FINGER_CONNECTIONS = _pairs("HAND_MIDDLE_FINGER_CONNECTIONS")
HAND_RING_FINGER_CONNECTIONS = _pairs("HAND_RING_FINGER_CONNECTIONS")
HAND_PINKY_FINGER_CONNECTIONS = _pairs("HAND_PINKY_FINGER_CONNECTIONS")

HAND_CONNECTIONS = frozenset().union(
    HAND_PALM_CONNECTIONS, HAND_THUMB_CONNECTIONS, HAND_INDEX_FINGER_CONNECTIONS,
    HAND_MIDDLE_FINGER_CONNECTIONS, HAND_RING_FINGER_CONNECTIONS, HAND_PINKY_FINGER_CONNECTIONS)
