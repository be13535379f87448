"""Helpers shared by the MediaPipe-side benchmarks (run with .venv-mp/bin/python)."""

from __future__ import annotations

import json
import pathlib
import platform
from typing import Any

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "media" / "demo.mp4"


def read_frames(path: pathlib.Path, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Decodes every frame of a video with OpenCV.

    Args:
        path: Video file.
        size: Optional (width, height) to resize each frame to (cv2.INTER_AREA).

    Returns:
        BGR uint8 frames.

    Raises:
        RuntimeError: If the file cannot be opened or holds no frame.
    """
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise RuntimeError(f"OpenCV cannot open {path}")
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(
                frame if size is None else cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            )
    finally:
        capture.release()
    if not frames:
        raise RuntimeError(f"{path} has no decodable frame")
    return frames


def summary_ms(samples_ns: list[int]) -> dict[str, float]:
    """Returns the median, 95th percentile and mean of durations in ns, in milliseconds."""
    ms = np.asarray(samples_ns, np.float64) / 1e6
    return {
        "median_ms": round(float(np.median(ms)), 4),
        "p95_ms": round(float(np.percentile(ms, 95)), 4),
        "mean_ms": round(float(ms.mean()), 4),
    }


def emit(bench: str, result: dict[str, Any]) -> None:
    """Prints one JSON line: the bench name, versions and the results."""
    import mediapipe as mp  # here, so that importing this module needs no mediapipe

    line = {
        "bench": bench,
        "mediapipe": mp.__version__,
        "opencv": cv2.__version__,
        "python": platform.python_version(),
        **result,
    }
    print(json.dumps(line), flush=True)
