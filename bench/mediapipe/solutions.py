"""MediaPipe 0.10.21 legacy solutions: per-frame ``process`` latency of each face solution.

Decodes media/demo.mp4 once, resizes every frame to 640x480 (cv2.INTER_AREA) and converts it to
RGB, then for each solution times ``process`` alone on ``--frames`` frames, looping the clip,
after ``--warmup`` untimed ones: FaceMesh (tracking, one face) without and with
``refine_landmarks``, FaceDetection short and full range, SelfieSegmentation general and
landscape. Prints one JSON line with, per solution, the median, p95 and mean milliseconds and
how many frames had a result.

Usage:
    .venv-mp/bin/python bench/mediapipe/solutions.py [--frames 300] [--warmup 10] [--only NAME]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import cv2
import mediapipe as mp
from _common import CLIP, emit, read_frames, time_solution

SIZE = (640, 480)

#: name -> (factory, result field); graphflow's bench/solutions.py makes the same ones.
SOLUTIONS: dict[str, tuple[Callable[[], Any], str]] = {
    "face_mesh": (lambda: mp.solutions.face_mesh.FaceMesh(), "multi_face_landmarks"),
    "face_mesh_iris": (lambda: mp.solutions.face_mesh.FaceMesh(refine_landmarks=True),
                       "multi_face_landmarks"),
    "face_detection_short": (lambda: mp.solutions.face_detection.FaceDetection(
        model_selection=0), "detections"),
    "face_detection_full": (lambda: mp.solutions.face_detection.FaceDetection(
        model_selection=1), "detections"),
    "selfie_segmentation": (lambda: mp.solutions.selfie_segmentation.SelfieSegmentation(
        model_selection=0), "segmentation_mask"),
    "selfie_segmentation_landscape": (
        lambda: mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1),
        "segmentation_mask"),
}


def main() -> None:
    """Parses arguments, times the solutions and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first (default 10)")
    parser.add_argument("--only", choices=sorted(SOLUTIONS), help="time one solution only")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be positive and --warmup not negative")
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, SIZE)]
    names = [args.only] if args.only else list(SOLUTIONS)
    results = {name: time_solution(*SOLUTIONS[name], frames, args.frames, args.warmup)
               for name in names}
    emit("mediapipe.solutions", {"size": list(SIZE), "frames": args.frames,
                                 "solutions": results})


if __name__ == "__main__":
    main()
