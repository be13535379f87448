"""MediaPipe 0.10.21's drawing_utils and drawing_styles on synthetic landmarks (run in .venv-mp).

Writes tests/fixtures/solutions/drawing_extra.npz and plot_landmarks.json (described in
tests/fixtures/solutions/README.md): seeded random hand and pose landmarks (some outside the
image, some pose landmarks not visible), axes and a detection, the canvases MediaPipe draws
them on, and the matplotlib calls its plot_landmarks makes (recorded by
tests/graphflow/solutions/plot_recorder.py in place of pyplot).

Usage:
    .venv-mp/bin/python scripts/make_drawing_fixtures.py
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

import mediapipe as mp
import numpy as np
from mediapipe.framework.formats import detection_pb2, landmark_pb2
from mediapipe.python.solutions import drawing_utils

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "solutions"
sys.path.insert(0, str(ROOT / "tests" / "graphflow" / "solutions"))
from drawing_scenes import draw_scenes, plot_scenes  # noqa: E402
from plot_recorder import PyplotRecorder  # noqa: E402

SEED = 16
SIZE = (480, 640)


def inputs() -> dict[str, np.ndarray]:
    """The seeded landmarks, axes and detection that both drawing_utils draw."""
    rng = np.random.default_rng(SEED)
    hand = np.concatenate([rng.uniform(-0.05, 1.05, (21, 2)), rng.uniform(-0.1, 0.1, (21, 1))],
                          axis=1)
    pose = np.concatenate([rng.uniform(-0.05, 1.05, (33, 2)), rng.uniform(-0.5, 0.5, (33, 1)),
                           rng.uniform(0.0, 1.0, (33, 1))], axis=1)
    angles = rng.uniform(-np.pi, np.pi, (3, 3))
    rotations = np.stack([_rotation(a) for a in angles])
    translations = np.concatenate([rng.uniform(-0.2, 0.2, (3, 2)), rng.uniform(-2, -1, (3, 1))],
                                  axis=1)
    detection = np.concatenate([[0.3, 0.25, 0.35, 0.4], rng.uniform(0.3, 0.6, 12)])
    return {"hand": hand.astype(np.float32), "pose": pose.astype(np.float32),
            "rotations": rotations.astype(np.float32),
            "translations": translations.astype(np.float32),
            "detection": detection.astype(np.float32)}


def _rotation(angles: np.ndarray) -> np.ndarray:
    cx, cy, cz = np.cos(angles)
    sx, sy, sz = np.sin(angles)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def landmarks(points: np.ndarray) -> Any:
    """A NormalizedLandmarkList: x, y, z and, for 4 columns, visibility."""
    result = landmark_pb2.NormalizedLandmarkList()
    for row in points.tolist():
        landmark = result.landmark.add(x=row[0], y=row[1], z=row[2])
        if len(row) > 3:
            landmark.visibility = row[3]
    return result


def detection_of(values: np.ndarray) -> Any:
    """A relative Detection: box xmin, ymin, width, height, then keypoints x, y."""
    detection = detection_pb2.Detection(label_id=[0], score=[0.9])
    location = detection.location_data
    location.format = location.RELATIVE_BOUNDING_BOX
    box = location.relative_bounding_box
    box.xmin, box.ymin, box.width, box.height = values[:4].tolist()
    for x, y in values[4:].reshape(-1, 2).tolist():
        location.relative_keypoints.add(x=x, y=y)
    return detection


def scenes(data: dict[str, np.ndarray]) -> np.ndarray:
    """The canvases, one per scene, drawn by MediaPipe (tests/fixtures/solutions/README.md)."""
    canvases = np.zeros((5, *SIZE, 3), np.uint8)
    draw_scenes(mp.solutions, canvases, landmarks(data["hand"]), landmarks(data["pose"]),
                detection_of(data["detection"]), data["rotations"], data["translations"])
    return canvases


def plot_calls(data: dict[str, np.ndarray]) -> list[list[Any]]:
    """The pyplot calls of plot_landmarks on the pose (defaults) and the hand (own specs)."""
    recorder = PyplotRecorder()
    drawing_utils.plt = recorder  # type: ignore[attr-defined]
    plot_scenes(mp.solutions, landmarks(data["hand"]), landmarks(data["pose"]))
    return recorder.calls


def main() -> None:
    """Writes the fixtures."""
    data = inputs()
    arrays: dict[str, Any] = {"scenes": scenes(data), **data}
    np.savez_compressed(OUT / "drawing_extra.npz", **arrays)
    (OUT / "plot_landmarks.json").write_text(json.dumps(
        {"mediapipe": mp.__version__, "calls": plot_calls(data)}) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}/drawing_extra.npz, plot_landmarks.json")


if __name__ == "__main__":
    main()
