"""Helpers shared by the MediaPipe-side benchmarks (run with .venv-mp/bin/python) and by the
graphflow-side benchmarks that start them (``run_reference``) or decode the same frames.

Importing this module needs OpenCV and numpy, never mediapipe.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIP = ROOT / "media" / "demo.mp4"
#: Environment variable naming the reference venv's interpreter, where it is not .venv-mp's.
MP_PYTHON_ENV = "GRAPHFLOW_MP_PYTHON"


def reference_python() -> pathlib.Path | None:
    """The MediaPipe 0.10.21 interpreter: ``$GRAPHFLOW_MP_PYTHON``, else .venv-mp/bin/python.

    Returns None when it does not exist (scripts/mp_venv.sh makes .venv-mp).
    """
    path = pathlib.Path(os.environ.get(MP_PYTHON_ENV) or ROOT / ".venv-mp" / "bin" / "python")
    return path if path.exists() else None


def run_reference(script: str, args: Sequence[str] = ()) -> dict[str, Any] | None:
    """Runs ``bench/mediapipe/<script>`` in the reference venv and returns its JSON line.

    Args:
        script: The file name in bench/mediapipe/ (e.g. ``"face_mesh.py"``).
        args: Its command-line arguments.

    Returns:
        The parsed JSON line the script printed last, or None without the reference venv.

    Raises:
        subprocess.CalledProcessError: The script failed (its stderr is in the exception).
    """
    python = reference_python()
    if python is None:
        return None
    out = subprocess.run([str(python), str(ROOT / "bench" / "mediapipe" / script), *args],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


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


def time_calls(call: Any, inputs: Sequence[Any], count: int, warmup: int
               ) -> tuple[list[int], int, float]:
    """Times ``call(x)`` on ``warmup + count`` inputs, looping over ``inputs``.

    Returns:
        The ``count`` durations after the warm-up, in ns; how many of those calls returned
        a truthy result; and the process's CPU time (all threads) per call after the warm-up,
        in ms: on a shared machine it moves less with the load than the durations do.
    """
    samples, truthy = [], 0
    cpu = 0.0
    for i in range(warmup + count):
        if i == warmup:
            cpu = time.process_time()
        x = inputs[i % len(inputs)]
        start = time.perf_counter_ns()
        result = call(x)
        elapsed = time.perf_counter_ns() - start
        if i >= warmup:
            samples.append(elapsed)
            truthy += bool(result)
    return samples, truthy, (time.process_time() - cpu) * 1e3 / count


def time_solution(make: Callable[[], Any], field: str, frames: Sequence[Any], count: int,
                  warmup: int) -> dict[str, Any]:
    """Times ``process`` of a solution (``make()``, a context manager) on RGB ``frames``: the
    latency summary, CPU ms a call, and how many calls gave a ``field`` that is not None.

    Either package's solutions (graphflow.solutions or mp.solutions), so that both sides are
    timed alike; the CPU time moves less with the load of a shared machine than the latency.
    """
    with make() as solution:
        samples, found, cpu_ms = time_calls(
            lambda rgb: getattr(solution.process(rgb), field) is not None, frames, count,
            warmup)
    return {"frames_with_result": found, "cpu_ms": round(cpu_ms, 4), **summary_ms(samples)}


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
