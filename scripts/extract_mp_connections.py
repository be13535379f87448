"""Write MediaPipe 0.10.21's face mesh connection sets as data (run in .venv-mp).

Writes graphflow/solutions/face_mesh_connections.json: for each base set of
``mediapipe.python.solutions.face_mesh_connections`` (FACEMESH_LIPS, ..., FACEMESH_TESSELATION),
its (start, end) landmark index pairs in the order MediaPipe's frozenset iterates them. The unions
(FACEMESH_CONTOURS, FACEMESH_IRISES) are rebuilt from the base sets by graphflow, as MediaPipe
builds them.

Usage:
    .venv-mp/bin/python scripts/extract_mp_connections.py
"""

from __future__ import annotations

import json
import pathlib

import mediapipe as mp
from mediapipe.python.solutions import face_mesh_connections

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "graphflow" / "solutions" / "face_mesh_connections.json"
BASE_SETS = ("FACEMESH_LIPS", "FACEMESH_LEFT_EYE", "FACEMESH_LEFT_IRIS", "FACEMESH_LEFT_EYEBROW",
             "FACEMESH_RIGHT_EYE", "FACEMESH_RIGHT_EYEBROW", "FACEMESH_RIGHT_IRIS",
             "FACEMESH_FACE_OVAL", "FACEMESH_NOSE", "FACEMESH_TESSELATION")


def main() -> None:
    """Writes the JSON file."""
    source = f"mediapipe {mp.__version__} mediapipe/python/solutions/face_mesh_connections.py"
    sets = {name: [list(pair) for pair in getattr(face_mesh_connections, name)]
            for name in BASE_SETS}
    # One set per line: readable diffs, and json.loads reads it back.
    lines = [f'  "source": {json.dumps(source)},', '  "sets": {']
    for i, (name, pairs) in enumerate(sets.items()):
        comma = "," if i < len(BASE_SETS) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(pairs)}{comma}")
    OUT.write_text("{\n" + "\n".join(lines) + "\n  }\n}\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
