"""MediaPipe 0.10.21 FaceMesh per-frame latency (legacy solutions API, tracking mode, one face).

Decodes media/demo.mp4 once, resizes every frame to 640x480 (cv2.INTER_AREA) and converts it to
RGB, then times ``FaceMesh.process`` alone on ``--frames`` frames, looping the clip (its camera
path is periodic, so tracking carries across the seam). Prints one JSON line: median, p95 and
mean milliseconds per frame and how many frames had a face. (Face detection: face_detection.py.)

Usage:
    .venv-mp/bin/python bench/mediapipe/face_mesh.py [--frames 300] [--warmup 10]
"""

from __future__ import annotations

import argparse

import cv2
import mediapipe as mp
from _common import CLIP, emit, read_frames, summary_ms, time_calls

SIZE = (640, 480)


def main() -> None:
    """Parses arguments, runs the benchmark and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first (default 10)")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be positive and --warmup not negative")
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, SIZE)]
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    ) as solution:
        samples, found, _ = time_calls(
            lambda rgb: solution.process(rgb).multi_face_landmarks, frames, args.frames,
            args.warmup)
    emit(
        "mediapipe.face_mesh",
        {"size": list(SIZE), "frames": args.frames, "frames_with_face": found,
         **summary_ms(samples)},
    )


if __name__ == "__main__":
    main()
