"""Compute MediaPipe 0.10.21 reference outputs for the demo media (run in .venv-mp).

Writes tests/fixtures/face/{clip_static,clip_tracking,tilted}.npz and meta.json; the arrays are
described in tests/fixtures/face/README.md. Every frame of media/demo.mp4 must yield a face in
tracking mode, and every sampled frame in static mode; the script exits non-zero otherwise.

Usage:
    bash scripts/mp_venv.sh
    .venv-mp/bin/python scripts/make_face_fixtures.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import sys
from collections.abc import Iterable
from typing import Any

import cv2
import mediapipe as mp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLIP = ROOT / "media" / "demo.mp4"
TILTED = ROOT / "media" / "tilted"
OUT = ROOT / "tests" / "fixtures" / "face"
sys.path.insert(0, str(ROOT / "bench" / "mediapipe"))
from _common import read_frames  # noqa: E402 - the MediaPipe benches' decoder, same venv

STATIC_STRIDE = 4
NUM_KEYPOINTS = 6
NUM_LANDMARKS = 468
DETECTION_OPTIONS: dict[str, Any] = {"model_selection": 0, "min_detection_confidence": 0.5}
MESH_OPTIONS: dict[str, Any] = {
    "refine_landmarks": False,
    "min_detection_confidence": 0.5,
    "min_tracking_confidence": 0.5,
}
CLIP_MAX_FACES = 1
STILL_MAX_FACES = 2


def decode_clip(path: pathlib.Path) -> list[np.ndarray]:
    """Every frame of a video as RGB uint8 arrays (the benches' OpenCV decode, then BGR2RGB).

    Raises:
        RuntimeError: If the file cannot be opened or holds no frame.
    """
    return [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for bgr in read_frames(path)]


def read_rgb(path: pathlib.Path) -> np.ndarray:
    """Reads an image file as RGB uint8 (cv2.imread, then BGR2RGB).

    Raises:
        RuntimeError: If OpenCV cannot read the file.
    """
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise RuntimeError(f"OpenCV cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def detections_of(detector: Any, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs FaceDetection on one image.

    Returns:
        (bbox (n, 4) xmin ymin width height, score (n,), keypoints (n, 6, 2) x y), all relative
        to the image size, float32, in MediaPipe's output order.
    """
    found = detector.process(rgb).detections or []
    boxes, scores, keypoints = [], [], []
    for det in found:
        box = det.location_data.relative_bounding_box
        boxes.append([box.xmin, box.ymin, box.width, box.height])
        scores.append(det.score[0])
        keypoints.append([[kp.x, kp.y] for kp in det.location_data.relative_keypoints])
    return (
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(scores, np.float32).reshape(-1),
        np.asarray(keypoints, np.float32).reshape(-1, NUM_KEYPOINTS, 2),
    )


def landmarks_of(mesh: Any, rgb: np.ndarray) -> np.ndarray:
    """Runs FaceMesh on one image.

    Returns:
        (n, 468, 3) float32 normalized x, y, z per face, in MediaPipe's output order.
    """
    faces = mesh.process(rgb).multi_face_landmarks or []
    points = [[[p.x, p.y, p.z] for p in face.landmark] for face in faces]
    return np.asarray(points, np.float32).reshape(-1, NUM_LANDMARKS, 3)


def padded(arrays: list[np.ndarray], slots: int) -> np.ndarray:
    """Stacks per-image (n, ...) arrays into (images, slots, ...), padding with NaN."""
    tail = arrays[0].shape[1:]
    out = np.full((len(arrays), slots, *tail), np.nan, np.float32)
    for i, array in enumerate(arrays):
        out[i, : len(array)] = array
    return out


def static_references(images: Iterable[np.ndarray], max_faces: int) -> dict[str, np.ndarray]:
    """FaceDetection and static-mode FaceMesh on independent images.

    Args:
        images: RGB uint8 images.
        max_faces: FaceMesh max_num_faces.

    Returns:
        det_count, det_bbox, det_score, det_keypoints, mesh_count, mesh_landmarks arrays.
    """
    boxes, scores, keypoints, landmarks = [], [], [], []
    with (
        mp.solutions.face_detection.FaceDetection(**DETECTION_OPTIONS) as detector,
        mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=max_faces, **MESH_OPTIONS
        ) as mesh,
    ):
        for rgb in images:
            box, score, kps = detections_of(detector, rgb)
            boxes.append(box)
            scores.append(score)
            keypoints.append(kps)
            landmarks.append(landmarks_of(mesh, rgb))
    det_slots = max(1, max(len(b) for b in boxes))
    return {
        "det_count": np.asarray([len(b) for b in boxes], np.int32),
        "det_bbox": padded(boxes, det_slots),
        "det_score": padded(scores, det_slots),
        "det_keypoints": padded(keypoints, det_slots),
        "mesh_count": np.asarray([len(lm) for lm in landmarks], np.int32),
        "mesh_landmarks": padded(landmarks, max_faces),
    }


def tracking_references(frames: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Tracking-mode FaceMesh (static_image_mode=False, one face) over frames in order."""
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, max_num_faces=CLIP_MAX_FACES, **MESH_OPTIONS
    ) as mesh:
        landmarks = [landmarks_of(mesh, rgb) for rgb in frames]
    return {
        "frame_index": np.arange(len(frames), dtype=np.int32),
        "mesh_count": np.asarray([len(lm) for lm in landmarks], np.int32),
        "mesh_landmarks": padded(landmarks, CLIP_MAX_FACES),
    }


def save(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    """Writes named arrays to a compressed .npz file."""
    named: dict[str, Any] = dict(arrays)
    np.savez_compressed(path, **named)


def sha256(path: pathlib.Path) -> str:
    """Returns the hex SHA-256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def missing_faces(name: str, counts: np.ndarray, expected: np.ndarray) -> list[str]:
    """Returns one message per image whose face count differs from the expected one."""
    return [
        f"{name}[{i}]: {got} face(s), expected {want}"
        for i, (got, want) in enumerate(zip(counts.tolist(), expected.tolist(), strict=True))
        if got != want
    ]


def main() -> int:
    """Computes and writes the fixtures; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    frames = decode_clip(CLIP)
    sampled = np.arange(0, len(frames), STATIC_STRIDE, dtype=np.int32)
    clip_static = {
        "frame_index": sampled,
        **static_references((frames[i] for i in sampled), CLIP_MAX_FACES),
    }
    clip_tracking = tracking_references(frames)

    still_paths = sorted(TILTED.glob("*.jpg"))
    stills = [read_rgb(p) for p in still_paths]
    tilted = {
        "names": np.asarray([p.name for p in still_paths]),
        "image_size": np.asarray([[s.shape[1], s.shape[0]] for s in stills], np.int32),
        **static_references(stills, STILL_MAX_FACES),
    }

    save(args.out / "clip_static.npz", clip_static)
    save(args.out / "clip_tracking.npz", clip_tracking)
    save(args.out / "tilted.npz", tilted)
    meta = {
        "mediapipe": mp.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "clip": {
            "file": "media/demo.mp4",
            "sha256": sha256(CLIP),
            "frames": len(frames),
            "size": [frames[0].shape[1], frames[0].shape[0]],
        },
        "tilted": {p.name: sha256(p) for p in still_paths},
        "static_stride": STATIC_STRIDE,
        "face_detection": DETECTION_OPTIONS,
        "face_mesh": {
            **MESH_OPTIONS,
            "clip_max_num_faces": CLIP_MAX_FACES,
            "tilted_max_num_faces": STILL_MAX_FACES,
        },
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    expected_stills = np.asarray([2 if "two" in p.name else 1 for p in still_paths])
    problems = (
        missing_faces("clip_static.det", clip_static["det_count"], np.ones_like(sampled))
        + missing_faces("clip_static.mesh", clip_static["mesh_count"], np.ones_like(sampled))
        + missing_faces(
            "clip_tracking.mesh", clip_tracking["mesh_count"], np.ones(len(frames), np.int32)
        )
        + missing_faces("tilted.det", tilted["det_count"], expected_stills)
        + missing_faces("tilted.mesh", tilted["mesh_count"], expected_stills)
    )
    for name in ("clip_static.npz", "clip_tracking.npz", "tilted.npz", "meta.json"):
        print(f"wrote {args.out / name} ({(args.out / name).stat().st_size} bytes)")
    for problem in problems:
        print(f"MISSING FACE: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
