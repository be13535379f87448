"""Write MediaPipe 0.10.21's landmark connection sets and landmark names as data (run in .venv-mp).

Writes two files under graphflow/solutions/:

- ``face_mesh_connections.json``: for each base set of
  ``mediapipe.python.solutions.face_mesh_connections`` (FACEMESH_LIPS, ..., FACEMESH_TESSELATION),
  its (start, end) landmark index pairs in the order MediaPipe's frozenset iterates them. The
  unions (FACEMESH_CONTOURS, FACEMESH_IRISES) are rebuilt from the base sets by graphflow, as
  MediaPipe builds them.
- ``hand_pose_connections.json``: the hand connection tuples of ``hands_connections`` (in their
  order), ``POSE_CONNECTIONS`` of ``pose_connections`` in the order its source lists them (the
  frozenset is rebuilt from that list, as MediaPipe builds it, so that it iterates in the same
  order), and the ``HandLandmark`` / ``PoseLandmark`` names and values of ``hands`` and ``pose``
  (graphflow's enums are checked against them).

Usage:
    .venv-mp/bin/python scripts/extract_mp_connections.py
"""

from __future__ import annotations

import ast
import inspect
import json
import pathlib

import mediapipe as mp
from mediapipe.python.solutions import (
    face_mesh_connections,
    hands,
    hands_connections,
    pose,
    pose_connections,
)

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "graphflow" / "solutions"
BASE_SETS = ("FACEMESH_LIPS", "FACEMESH_LEFT_EYE", "FACEMESH_LEFT_IRIS", "FACEMESH_LEFT_EYEBROW",
             "FACEMESH_RIGHT_EYE", "FACEMESH_RIGHT_EYEBROW", "FACEMESH_RIGHT_IRIS",
             "FACEMESH_FACE_OVAL", "FACEMESH_NOSE", "FACEMESH_TESSELATION")
HAND_SETS = ("HAND_PALM_CONNECTIONS", "HAND_THUMB_CONNECTIONS", "HAND_INDEX_FINGER_CONNECTIONS",
             "HAND_MIDDLE_FINGER_CONNECTIONS", "HAND_RING_FINGER_CONNECTIONS",
             "HAND_PINKY_FINGER_CONNECTIONS")


def _write(name: str, source: str, entries: dict[str, object]) -> None:
    """One entry per line: readable diffs, and json.loads reads it back."""
    lines = [f'  "source": {json.dumps(source)},', '  "sets": {']
    for i, (key, value) in enumerate(entries.items()):
        comma = "," if i < len(entries) - 1 else ""
        lines.append(f"    {json.dumps(key)}: {json.dumps(value)}{comma}")
    path = OUT / name
    path.write_text("{\n" + "\n".join(lines) + "\n  }\n}\n")
    print(f"wrote {path.relative_to(ROOT)}")


def _listed_pairs(module: object, name: str) -> list[list[int]]:
    """The pairs of ``name = frozenset([...])`` in the order the module's source lists them."""
    for node in ast.walk(ast.parse(inspect.getsource(module))):  # type: ignore[arg-type]
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            call = node.value
            assert isinstance(call, ast.Call)
            return [list(pair) for pair in ast.literal_eval(call.args[0])]
    raise LookupError(f"{name} is not assigned in {module}")


def main() -> None:
    """Writes the JSON files."""
    version = f"mediapipe {mp.__version__}"
    _write("face_mesh_connections.json",
           f"{version} mediapipe/python/solutions/face_mesh_connections.py",
           {name: [list(pair) for pair in getattr(face_mesh_connections, name)]
            for name in BASE_SETS})
    entries: dict[str, object] = {
        name: [list(pair) for pair in getattr(hands_connections, name)] for name in HAND_SETS}
    pose_pairs = _listed_pairs(pose_connections, "POSE_CONNECTIONS")
    assert {tuple(pair) for pair in pose_pairs} == pose_connections.POSE_CONNECTIONS
    entries["POSE_CONNECTIONS"] = pose_pairs
    entries["HandLandmark"] = [[m.name, int(m)] for m in hands.HandLandmark]
    entries["PoseLandmark"] = [[m.name, int(m)] for m in pose.PoseLandmark]
    _write("hand_pose_connections.json",
           f"{version} mediapipe/python/solutions/hands_connections.py, pose_connections.py, "
           "hands.py, pose.py", entries)


if __name__ == "__main__":
    main()
