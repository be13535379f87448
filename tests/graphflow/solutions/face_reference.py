"""Shared pieces of the solutions tests: MediaPipe 0.10.21 reference media and metrics.

The references are tests/fixtures/face/ and tests/fixtures/solutions/ (scripts/make_face_fixtures.py
and scripts/make_solution_fixtures.py, run in .venv-mp); their READMEs say how each array was made.
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "face"
SOLUTION_FIXTURES = ROOT / "tests" / "fixtures" / "solutions"


def read_rgb(path: pathlib.Path) -> np.ndarray:
    """An image file as RGB uint8, read as the fixtures script reads it."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_clip(path: pathlib.Path) -> list[np.ndarray]:
    """Every frame of a video as RGB uint8, decoded as the fixtures script decodes it."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def inter_ocular(ref: np.ndarray, size: tuple[int, int]) -> float:
    """Pixel distance between landmarks 33 and 263 (the outer eye corners) of a reference."""
    return float(np.linalg.norm((ref[33, :2] - ref[263, :2]) * np.asarray(size, np.float64)))


def point_errors_iod(ours: np.ndarray, ref: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Per-landmark x, y distance in pixels over the reference's inter-ocular distance."""
    scale = np.asarray(size, dtype=np.float64)
    return np.linalg.norm((ours[:, :2] - ref[:, :2]) * scale, axis=1) / inter_ocular(ref, size)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (xmin, ymin, width, height) boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))


def landmarks_array(face: object) -> np.ndarray:
    """(N, 3) float32 x, y, z of a NormalizedLandmarkList message."""
    return np.array([(p.x, p.y, p.z) for p in face.landmark],  # type: ignore[attr-defined]
                    dtype=np.float32)


def detection_box(detection: object) -> np.ndarray:
    """(xmin, ymin, width, height) of a Detection message."""
    box = detection.location_data.relative_bounding_box  # type: ignore[attr-defined]
    return np.array([box.xmin, box.ymin, box.width, box.height])
