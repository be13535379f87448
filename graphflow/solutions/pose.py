"""MediaPipe's ``solutions.pose`` names for drawing: `PoseLandmark` and ``POSE_CONNECTIONS``.

graphflow has no pose solution (``Pose``): only the landmark names and connections that
drawing code uses, e.g. ``mp.solutions.pose.POSE_CONNECTIONS`` with
`drawing_styles.get_default_pose_landmarks_style`. The names and values are MediaPipe
0.10.21's (checked against ``hand_pose_connections.json``, extracted from the wheel).
"""

from __future__ import annotations

import enum

from graphflow.solutions._drawing_only import missing_solution
from graphflow.solutions.pose_connections import POSE_CONNECTIONS


class PoseLandmark(enum.IntEnum):
    """The 33 pose landmarks."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


__getattr__ = missing_solution(__name__, "pose solution", "PoseLandmark and POSE_CONNECTIONS")


__all__ = ["POSE_CONNECTIONS", "PoseLandmark"]
