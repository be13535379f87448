"""MediaPipe's ``solutions.hands`` names for drawing: `HandLandmark` and ``HAND_CONNECTIONS``.

graphflow has no hand tracking solution (``Hands``): only the landmark names and connections
that drawing code uses, e.g. ``mp.solutions.hands.HAND_CONNECTIONS`` with
`drawing_styles.get_default_hand_landmarks_style`. The names and values are MediaPipe
0.10.21's (checked against ``hand_pose_connections.json``, extracted from the wheel).
"""

from __future__ import annotations

import enum

from graphflow.solutions._drawing_only import missing_solution
from graphflow.solutions.hands_connections import HAND_CONNECTIONS


class HandLandmark(enum.IntEnum):
    """The 21 hand landmarks."""

    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_FINGER_MCP = 5
    INDEX_FINGER_PIP = 6
    INDEX_FINGER_DIP = 7
    INDEX_FINGER_TIP = 8
    MIDDLE_FINGER_MCP = 9
    MIDDLE_FINGER_PIP = 10
    MIDDLE_FINGER_DIP = 11
    MIDDLE_FINGER_TIP = 12
    RING_FINGER_MCP = 13
    RING_FINGER_PIP = 14
    RING_FINGER_DIP = 15
    RING_FINGER_TIP = 16
    PINKY_MCP = 17
    PINKY_PIP = 18
    PINKY_DIP = 19
    PINKY_TIP = 20


__getattr__ = missing_solution(__name__, "hand tracking solution",
                               "HandLandmark and HAND_CONNECTIONS")


__all__ = ["HAND_CONNECTIONS", "HandLandmark"]
