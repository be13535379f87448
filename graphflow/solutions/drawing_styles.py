"""MediaPipe's default drawing styles for face meshes (``drawing_styles``).

The face mesh styles of ``mediapipe.python.solutions.drawing_styles`` (0.10.21), same colors and
thicknesses: pass them to `drawing_utils.draw_landmarks` as ``connection_drawing_spec``.
"""

from __future__ import annotations

from collections.abc import Mapping

from graphflow.solutions import face_mesh_connections as fmc
from graphflow.solutions.drawing_utils import DrawingSpec

_RED = (48, 48, 255)
_GREEN = (48, 255, 48)
_BLUE = (192, 101, 21)
_YELLOW = (0, 204, 255)
_GRAY = (128, 128, 128)
_WHITE = (224, 224, 224)
_CYAN = (192, 255, 48)
_MAGENTA = (192, 48, 255)

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
