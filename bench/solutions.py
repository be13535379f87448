"""graphflow.solutions against MediaPipe 0.10.21's ``mp.solutions``: per-frame latency.

Both sides run the same six solutions on the same frames (media/demo.mp4 at 640x480, RGB,
looped): FaceMesh in tracking mode without and with ``refine_landmarks``, FaceDetection short and
full range, SelfieSegmentation general and landscape, timing ``process(rgb)`` alone, results
converted to what each API returns (protobuf messages, a float mask). MediaPipe's side is
``bench/mediapipe/solutions.py``, run with ``.venv-mp/bin/python`` in alternating rounds with
graphflow's; each solution's figure is the median over rounds of its median latency.

Usage:
    .venv/bin/python bench/solutions.py [--frames 300] [--warmup 10] [--rounds 3]
        [--only face_mesh_iris]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "mediapipe"))

from _common import CLIP, read_frames, time_solution  # noqa: E402 - same decode and timing

from graphflow.solutions import (  # noqa: E402
    face_detection,
    face_mesh,
    selfie_segmentation,
)

MP_PYTHON = ROOT / ".venv-mp" / "bin" / "python"
MP_BENCH = ROOT / "bench" / "mediapipe" / "solutions.py"
SIZE = (640, 480)

#: name -> (factory, result field), the same solutions as bench/mediapipe/solutions.py.
SOLUTIONS: dict[str, tuple[Callable[[], Any], str]] = {
    "face_mesh": (lambda: face_mesh.FaceMesh(), "multi_face_landmarks"),
    "face_mesh_iris": (lambda: face_mesh.FaceMesh(refine_landmarks=True),
                       "multi_face_landmarks"),
    "face_detection_short": (lambda: face_detection.FaceDetection(model_selection=0),
                             "detections"),
    "face_detection_full": (lambda: face_detection.FaceDetection(model_selection=1),
                            "detections"),
    "selfie_segmentation": (lambda: selfie_segmentation.SelfieSegmentation(model_selection=0),
                            "segmentation_mask"),
    "selfie_segmentation_landscape": (
        lambda: selfie_segmentation.SelfieSegmentation(model_selection=1), "segmentation_mask"),
}


def mediapipe_side(count: int, warmup: int, only: str | None) -> dict[str, Any] | None:
    """MediaPipe's per-solution figures (of ``only``, or of all), or None without .venv-mp."""
    if not MP_PYTHON.exists():
        return None
    out = subprocess.run([str(MP_PYTHON), str(MP_BENCH), "--frames", str(count), "--warmup",
                          str(warmup), *(["--only", only] if only else [])],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])["solutions"]
    return result


def main() -> None:
    """Runs both sides in alternating rounds, prints a table, then the one-line figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames (default 10)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating MediaPipe/graphflow rounds (default 3)")
    parser.add_argument("--only", choices=sorted(SOLUTIONS), help="time one solution only")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--frames and --rounds must be positive, --warmup not negative")
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, SIZE)]
    names = [args.only] if args.only else list(SOLUTIONS)
    ours: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    theirs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(args.rounds):
        mp = mediapipe_side(args.frames, args.warmup, args.only)
        for name in names:
            make, field = SOLUTIONS[name]
            if mp is not None:
                theirs[name].append(mp[name])
            ours[name].append(time_solution(make, field, frames, args.frames, args.warmup))

    def med(runs: list[dict[str, Any]], key: str) -> float:
        return float(np.median([run[key] for run in runs]))

    print(f"solutions, 640x480, {args.frames} frames (+{args.warmup} warm-up), {args.rounds} "
          f"round(s); median of the rounds' median / p95 / CPU ms per process() call (CPU: "
          f"the process's, all threads); load average {os.getloadavg()[0]:.2f}")
    print(f"{'':31} {'graphflow':>22} {'MediaPipe':>22} {'ratio':>6} {'CPU':>5} {'results':>9}")
    ratios, cpu_ratios = {}, {}
    for name in names:
        g = (f"{med(ours[name], 'median_ms'):.2f} / {med(ours[name], 'p95_ms'):.2f} / "
             f"{med(ours[name], 'cpu_ms'):.2f}")
        found = f"{ours[name][-1]['frames_with_result']}/{args.frames}"
        if theirs[name]:
            m = (f"{med(theirs[name], 'median_ms'):.2f} / {med(theirs[name], 'p95_ms'):.2f} / "
                 f"{med(theirs[name], 'cpu_ms'):.2f}")
            ratios[name] = med(ours[name], "median_ms") / med(theirs[name], "median_ms")
            cpu_ratios[name] = med(ours[name], "cpu_ms") / med(theirs[name], "cpu_ms")
            found += f" ({theirs[name][-1]['frames_with_result']})"
            print(f"{name:31} {g:>22} {m:>22} {ratios[name]:6.2f} {cpu_ratios[name]:5.2f} "
                  f"{found:>9}")
        else:
            print(f"{name:31} {g:>22} {'-':>22} {'-':>6} {'-':>5} {found:>9}")
    if not ratios:
        print("solutions graphflow: no .venv-mp, MediaPipe not measured, no ratio")
        return
    worst = max(ratios, key=lambda name: ratios[name])
    print("solutions latency ratio graphflow/MediaPipe: "
          + ", ".join(f"{name} {ratio:.2f}" for name, ratio in ratios.items())
          + f"; worst {worst} {ratios[worst]:.2f} (goal <= 1.0); CPU time ratio: "
          + ", ".join(f"{name} {ratio:.2f}" for name, ratio in cpu_ratios.items()))


if __name__ == "__main__":
    main()
