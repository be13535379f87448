"""MediaPipe Face Mesh's landmark connection sets (``FACEMESH_TESSELATION``, ...).

The base sets are MediaPipe 0.10.21's, kept as data in ``face_mesh_connections.json`` (written
by ``scripts/extract_mp_connections.py`` from the wheel); the unions are built as MediaPipe
builds them. Each set is a frozenset of ``(start, end)`` landmark index pairs.
"""

from __future__ import annotations

import json
import pathlib

_DATA = json.loads((pathlib.Path(__file__).with_name("face_mesh_connections.json"))
                   .read_text(encoding="utf-8"))["sets"]


def _pairs(name: str) -> frozenset[tuple[int, int]]:
    return frozenset((int(a), int(b)) for a, b in _DATA[name])


FACEMESH_LIPS = _pairs("FACEMESH_LIPS")
FACEMESH_LEFT_EYE = _pairs("FACEMESH_LEFT_EYE")
FACEMESH_LEFT_IRIS = _pairs("FACEMESH_LEFT_IRIS")
FACEMESH_LEFT_EYEBROW = _pairs("FACEMESH_LEFT_EYEBROW")
FACEMESH_RIGHT_EYE = _pairs("FACEMESH_RIGHT_EYE")
FACEMESH_RIGHT_EYEBROW = _pairs("FACEMESH_RIGHT_EYEBROW")
FACEMESH_RIGHT_IRIS = _pairs("FACEMESH_RIGHT_IRIS")
FACEMESH_FACE_OVAL = _pairs("FACEMESH_FACE_OVAL")
FACEMESH_NOSE = _pairs("FACEMESH_NOSE")
FACEMESH_TESSELATION = _pairs("FACEMESH_TESSELATION")

FACEMESH_CONTOURS = frozenset().union(
    FACEMESH_LIPS, FACEMESH_LEFT_EYE, FACEMESH_LEFT_EYEBROW, FACEMESH_RIGHT_EYE,
    FACEMESH_RIGHT_EYEBROW, FACEMESH_FACE_OVAL)
FACEMESH_IRISES = frozenset().union(FACEMESH_LEFT_IRIS, FACEMESH_RIGHT_IRIS)
