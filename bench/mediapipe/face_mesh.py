"""MediaPipe 0.10.21 FaceMesh per-frame latency (legacy solutions API, tracking mode, one face).

Decodes media/demo.mp4 once, resizes every frame to 640x480 (cv2.INTER_AREA) and converts it to
RGB, then times ``FaceMesh.process`` alone on ``--frames`` frames, looping the clip (its camera
path is periodic, so tracking carries across the seam). ``--detection`` times the short-range
FaceDetection solution instead. Prints one JSON line: median, p95 and mean milliseconds per frame
and how many frames had a face.

Usage:
    .venv-mp/bin/python bench/mediapipe/face_mesh.py [--frames 300] [--warmup 10] [--detection]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import cv2
import mediapipe as mp
from _common import CLIP, emit, read_frames, summary_ms

SIZE = (640, 480)


def make_solution(detection: bool) -> tuple[Any, str]:
    """Returns the solution object to time and the name of its result field."""
    if detection:
        solution = mp.solutions.face_detection.FaceDetection(
            model_selection=0, min_detection_confidence=0.5
        )
        return solution, "detections"
    solution = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=False,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    )
    return solution, "multi_face_landmarks"


def main() -> None:
    """Parses arguments, runs the benchmark and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first (default 10)")
    parser.add_argument("--detection", action="store_true", help="time FaceDetection instead")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be positive and --warmup not negative")
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, SIZE)]
    solution, field = make_solution(args.detection)
    samples, found = [], 0
    with solution:
        for i in range(args.warmup + args.frames):
            rgb = frames[i % len(frames)]
            start = time.perf_counter_ns()
            result = solution.process(rgb)
            elapsed = time.perf_counter_ns() - start
            if i >= args.warmup:
                samples.append(elapsed)
                found += bool(getattr(result, field))
    emit(
        "mediapipe.face_detection" if args.detection else "mediapipe.face_mesh",
        {
            "size": list(SIZE),
            "frames": args.frames,
            "frames_with_face": found,
            **summary_ms(samples),
        },
    )


if __name__ == "__main__":
    main()
