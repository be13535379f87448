"""The face mesh graph's engine work per frame, counted: Python calls and bytecodes by part.

Timings on the shared machine move by 2-3x with its load, and a 5% change in the engine does
not show in them. What the engine does per frame does not depend on the load: this counts it
(``sys.settrace`` with opcode events, so the run is slow and nothing here is timed). Run it
from two trees to compare them: ``PYTHONPATH=<tree> python <tree>/bench/engine_counts.py``.

The graph and frames are ``bench/face_mesh.py``'s (tracking, one face, 640x480), one frame in
and its landmarks out at a time, on the calling thread only: synchronous by default; with
``--pooled`` the default pool, where the caller runs most tasks while it waits (pool threads'
work is not counted there).

Parts: ``runtime`` (graphflow/runtime: scheduler, executors, handlers), ``calculator API``
(graphflow/calculator.py, context.py, packet.py, timestamp.py: what calculators call),
``calculators`` (their own Python code; ``sys.settrace`` does not see calls into C, so their
native numpy, OpenCV and onnxruntime calls count nothing), ``other`` (the standard library,
numpy's Python layer, graph.py).

Usage:
    python bench/engine_counts.py [--frames 50] [--pooled] [--functions 15]
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
from types import FrameType
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from face_mesh import OneFrameAtATime, read_frames  # noqa: E402 - the same graph and frames

WARMUP = 20


def part(filename: str) -> str:
    """Which part of the code a source file belongs to."""
    if "/graphflow/runtime/" in filename:
        return "runtime"
    if filename.endswith(("graphflow/calculator.py", "graphflow/context.py", "graphflow/packet.py",
                          "graphflow/timestamp.py")):
        return "calculator API"
    if "/calculators/" in filename:
        return "calculators"
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50, help="counted frames (default 50)")
    parser.add_argument("--pooled", action="store_true",
                        help="the default pool instead of the synchronous executor")
    parser.add_argument("--functions", type=int, default=15,
                        help="list the runtime functions with the most bytecodes (default 15)")
    args = parser.parse_args()
    frames = read_frames()
    loop = OneFrameAtATime(frames, synchronous=not args.pooled)

    def run(first: int, end: int) -> None:
        for i in range(first, end):
            loop.step(i)

    calls: collections.Counter[str] = collections.Counter()
    opcodes: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[tuple[str, str, int]] = collections.Counter()

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        if event != "call":
            return None
        calls[part(frame.f_code.co_filename)] += 1
        frame.f_trace_opcodes = True
        return on_opcode

    def on_opcode(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            code = frame.f_code
            name = part(code.co_filename)
            opcodes[name] += 1
            if name == "runtime":
                functions[(pathlib.Path(code.co_filename).name, code.co_name,
                           code.co_firstlineno)] += 1
        return on_opcode

    with loop:
        run(0, WARMUP)
        sys.settrace(on_call)
        try:
            run(WARMUP, WARMUP + args.frames)
        finally:
            sys.settrace(None)
    n = args.frames
    mode = "pooled (calling thread)" if args.pooled else "synchronous"
    print(f"face mesh, {mode}, per frame over {n} frames:")
    print(f"{'part':16s} {'calls':>8s} {'bytecodes':>10s}")
    for name in ("runtime", "calculator API", "calculators", "other"):
        print(f"{name:16s} {calls[name] / n:8.0f} {opcodes[name] / n:10.0f}")
    for (filename, function, line), count in functions.most_common(args.functions):
        print(f"  {count / n:8.0f}  {filename}:{line} {function}")


if __name__ == "__main__":
    main()
