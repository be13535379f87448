"""MediaPipe's default drawing styles (``drawing_styles``).

All of ``mediapipe.python.solutions.drawing_styles`` (0.10.21), same colors, thicknesses and
radii: the face mesh, hand and pose styles. Pass them to `drawing_utils.draw_landmarks` as
``landmark_drawing_spec`` or ``connection_drawing_spec``.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphflow.solutions import face_mesh_connections as fmc
from graphflow.solutions import hands_connections
from graphflow.solutions.drawing_utils import DrawingSpec
from graphflow.solutions.hands import HandLandmark
from graphflow.solutions.pose import PoseLandmark

_RADIUS = 5
_RED = (48, 48, 255)
_GREEN = (48, 255, 48)
_BLUE = (192, 101, 21)
_YELLOW = (0, 204, 255)
_GRAY = (128, 128, 128)
_PURPLE = (128, 64, 128)
_PEACH = (180, 229, 255)
_WHITE = (224, 224, 224)
_CYAN = (192, 255, 48)
_MAGENTA = (192, 48, 255)

# Hands
_THICKNESS_WRIST_MCP = 3
_THICKNESS_FINGER = 2
_THICKNESS_DOT = -1

_PALM_LANDMARKS = (HandLandmark.WRIST, HandLandmark.THUMB_CMC, HandLandmark.INDEX_FINGER_MCP,
                   HandLandmark.MIDDLE_FINGER_MCP, HandLandmark.RING_FINGER_MCP,
                   HandLandmark.PINKY_MCP)
_THUMB_LANDMARKS = (HandLandmark.THUMB_MCP, HandLandmark.THUMB_IP, HandLandmark.THUMB_TIP)
_INDEX_FINGER_LANDMARKS = (HandLandmark.INDEX_FINGER_PIP, HandLandmark.INDEX_FINGER_DIP,
                           HandLandmark.INDEX_FINGER_TIP)
_MIDDLE_FINGER_LANDMARKS = (HandLandmark.MIDDLE_FINGER_PIP, HandLandmark.MIDDLE_FINGER_DIP,
                            HandLandmark.MIDDLE_FINGER_TIP)
_RING_FINGER_LANDMARKS = (HandLandmark.RING_FINGER_PIP, HandLandmark.RING_FINGER_DIP,
                          HandLandmark.RING_FINGER_TIP)
_PINKY_FINGER_LANDMARKS = (HandLandmark.PINKY_PIP, HandLandmark.PINKY_DIP,
                           HandLandmark.PINKY_TIP)
_HAND_LANDMARK_STYLE = {
    _PALM_LANDMARKS: DrawingSpec(color=_RED, thickness=_THICKNESS_DOT, circle_radius=_RADIUS),
    _THUMB_LANDMARKS: DrawingSpec(color=_PEACH, thickness=_THICKNESS_DOT,
                                  circle_radius=_RADIUS),
    _INDEX_FINGER_LANDMARKS: DrawingSpec(color=_PURPLE, thickness=_THICKNESS_DOT,
                                         circle_radius=_RADIUS),
    _MIDDLE_FINGER_LANDMARKS: DrawingSpec(color=_YELLOW, thickness=_THICKNESS_DOT,
                                          circle_radius=_RADIUS),
    _RING_FINGER_LANDMARKS: DrawingSpec(color=_GREEN, thickness=_THICKNESS_DOT,
                                        circle_radius=_RADIUS),
    _PINKY_FINGER_LANDMARKS: DrawingSpec(color=_BLUE, thickness=_THICKNESS_DOT,
                                         circle_radius=_RADIUS),
}

_HAND_CONNECTION_STYLE = {
    hands_connections.HAND_PALM_CONNECTIONS: DrawingSpec(color=_GRAY,
                                                         thickness=_THICKNESS_WRIST_MCP),
    hands_connections.HAND_THUMB_CONNECTIONS: DrawingSpec(color=_PEACH,
                                                          thickness=_THICKNESS_FINGER),
    hands_connections.HAND_INDEX_FINGER_CONNECTIONS: DrawingSpec(color=_PURPLE,
                                                                 thickness=_THICKNESS_FINGER),
    hands_connections.HAND_MIDDLE_FINGER_CONNECTIONS: DrawingSpec(color=_YELLOW,
                                                                  thickness=_THICKNESS_FINGER),
    hands_connections.HAND_RING_FINGER_CONNECTIONS: DrawingSpec(color=_GREEN,
                                                                thickness=_THICKNESS_FINGER),
    hands_connections.HAND_PINKY_FINGER_CONNECTIONS: DrawingSpec(color=_BLUE,
                                                                 thickness=_THICKNESS_FINGER),
}

# Face mesh
_THICKNESS_TESSELATION = 1
_THICKNESS_CONTOURS = 2

_FACEMESH_CONTOURS_CONNECTION_STYLE = {
    fmc.FACEMESH_LIPS: DrawingSpec(color=_WHITE, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_LEFT_EYE: DrawingSpec(color=_GREEN, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_LEFT_EYEBROW: DrawingSpec(color=_GREEN, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_RIGHT_EYE: DrawingSpec(color=_RED, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_RIGHT_EYEBROW: DrawingSpec(color=_RED, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_FACE_OVAL: DrawingSpec(color=_WHITE, thickness=_THICKNESS_CONTOURS),
}

_FACEMESH_CONTOURS_CONNECTION_STYLE_1 = {
    fmc.FACEMESH_LIPS: DrawingSpec(color=_BLUE, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_LEFT_EYE: DrawingSpec(color=_CYAN, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_LEFT_EYEBROW: DrawingSpec(color=_GREEN, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_RIGHT_EYE: DrawingSpec(color=_MAGENTA, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_RIGHT_EYEBROW: DrawingSpec(color=_RED, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_FACE_OVAL: DrawingSpec(color=_WHITE, thickness=_THICKNESS_CONTOURS),
    fmc.FACEMESH_NOSE: DrawingSpec(color=_YELLOW, thickness=_THICKNESS_CONTOURS),
}


# Pose
_THICKNESS_POSE_LANDMARKS = 2
# MediaPipe lists them by hand: every landmark with LEFT (RIGHT) in its name.
_POSE_LANDMARKS_LEFT = frozenset(p for p in PoseLandmark if "LEFT" in p.name)
_POSE_LANDMARKS_RIGHT = frozenset(p for p in PoseLandmark if "RIGHT" in p.name)


def get_default_hand_landmarks_style() -> Mapping[int, DrawingSpec]:
    """A spec per hand landmark: filled dots colored by finger, the palm red."""
    style: dict[int, DrawingSpec] = {}
    for landmarks, spec in _HAND_LANDMARK_STYLE.items():
        style.update(dict.fromkeys(landmarks, spec))
    return style


def get_default_hand_connections_style() -> Mapping[tuple[int, int], DrawingSpec]:
    """A spec per hand connection: the palm gray and thicker, each finger its color."""
    return {connection: spec for connections, spec in _HAND_CONNECTION_STYLE.items()
            for connection in connections}


def get_default_pose_landmarks_style() -> Mapping[int, DrawingSpec]:
    """A spec per pose landmark: left side orange, right side cyan, the nose white."""
    left = DrawingSpec(color=(0, 138, 255), thickness=_THICKNESS_POSE_LANDMARKS)
    right = DrawingSpec(color=(231, 217, 0), thickness=_THICKNESS_POSE_LANDMARKS)
    style: dict[int, DrawingSpec] = dict.fromkeys(_POSE_LANDMARKS_LEFT, left)
    style.update(dict.fromkeys(_POSE_LANDMARKS_RIGHT, right))
    style[PoseLandmark.NOSE] = DrawingSpec(color=_WHITE, thickness=_THICKNESS_POSE_LANDMARKS)
    return style


def get_default_face_mesh_contours_style(i: int = 0) -> Mapping[tuple[int, int], DrawingSpec]:
    """A spec per contour connection (lips, eyes, eyebrows, face oval; style 1 adds the nose).

    Args:
        i: 0 or 1, MediaPipe's two default contour styles.
    """
    style = _FACEMESH_CONTOURS_CONNECTION_STYLE_1 if i == 1 \
        else _FACEMESH_CONTOURS_CONNECTION_STYLE
    return {connection: spec for connections, spec in style.items()
            for connection in connections}


def get_default_face_mesh_tesselation_style() -> DrawingSpec:
    """The tesselation's spec: thin gray lines."""
    return DrawingSpec(color=_GRAY, thickness=_THICKNESS_TESSELATION)


def get_default_face_mesh_iris_connections_style() -> Mapping[tuple[int, int], DrawingSpec]:
    """A spec per iris connection: left iris green, right iris red."""
    left = DrawingSpec(color=_GREEN, thickness=_THICKNESS_CONTOURS)
    right = DrawingSpec(color=_RED, thickness=_THICKNESS_CONTOURS)
    style = {connection: left for connection in fmc.FACEMESH_LEFT_IRIS}
    style.update({connection: right for connection in fmc.FACEMESH_RIGHT_IRIS})
    return style
