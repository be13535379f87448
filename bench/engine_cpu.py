"""CPU time per face mesh frame, for comparing runtimes run side by side (compiled or Python).

The graph and frames are ``bench/face_mesh.py``'s (tracking, one face, 640x480), one frame in
and its landmarks out at a time: synchronous (everything on this thread) and with the default
pool (latency mode). Per round it prints the process's CPU time per frame (all threads) and the
median wall time; the calculators do the same work either way, so between two runtimes the
difference is the engine's. The machine's load moves these figures by 2x: run the two variants
at once, pinned to one core, e.g.
``taskset -c 0 python bench/engine_cpu.py & GRAPHFLOW_NATIVE=0 taskset -c 0 python
bench/engine_cpu.py & wait``, and compare within each pair.

``--per-node`` adds, per round, each calculator's CPU time in ``process()`` per frame
(synchronous run, this thread's CPU clock around each call; the clock reads add about 1 us a
call), the calculators' total and the rest of the frame (the engine's hand-offs).

Usage:
    python bench/engine_cpu.py [--frames 300] [--rounds 3] [--per-node]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import pathlib
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from face_mesh import OneFrameAtATime, read_frames  # noqa: E402 - the same graph and frames

import graphflow.runtime.scheduler  # noqa: E402
from graphflow.calculator import Calculator  # noqa: E402
from graphflow.image_frame import ImageFrame  # noqa: E402

WARMUP = 20


@contextlib.contextmanager
def timed_process(totals: dict[str, int]) -> Iterator[None]:
    """While active, adds each calculator class's thread CPU time in ``process()`` (ns) into
    ``totals`` under the class name; the classes' own ``process`` come back afterwards."""
    def subclasses(cls: type[Calculator]) -> Iterator[type[Calculator]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    def timed(process: Any, name: str) -> Any:
        def wrapper(self: Calculator, cc: Any) -> None:
            start = time.thread_time_ns()
            try:
                process(self, cc)
            finally:
                totals[name] += time.thread_time_ns() - start
        return wrapper

    patched = {cls: cls.__dict__["process"] for cls in set(subclasses(Calculator))
               if "process" in cls.__dict__}
    try:
        for cls, process in patched.items():
            cls.process = timed(process, cls.__name__)  # type: ignore[method-assign]
        yield
    finally:
        for cls, process in patched.items():
            cls.process = process  # type: ignore[method-assign]


def measure(frames: list[ImageFrame], synchronous: bool, count: int,
            per_node: dict[str, int] | None = None) -> tuple[float, float]:
    """CPU time per frame and median wall time per frame, in microseconds; with ``per_node``,
    each calculator's CPU time in ``process()`` over the timed frames, in ns, added into it."""
    walls: list[float] = []
    with OneFrameAtATime(frames, synchronous) as loop, contextlib.ExitStack() as timing:
        for i in range(WARMUP + count):
            if i == WARMUP:
                if per_node is not None:
                    timing.enter_context(timed_process(per_node))
                cpu_start = time.process_time_ns()
            started = time.perf_counter_ns()
            loop.step(i)
            if i >= WARMUP:
                walls.append(time.perf_counter_ns() - started)
        cpu = time.process_time_ns() - cpu_start
    return cpu / count / 1000, statistics.median(walls) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--per-node", action="store_true",
                        help="also each calculator's CPU time per frame (synchronous run)")
    args = parser.parse_args()
    frames = read_frames()
    compiled = not graphflow.runtime.scheduler.__file__.endswith(".py")
    print(f"runtime: {'compiled' if compiled else 'Python'}; us per frame, CPU (wall median)")
    for round_ in range(args.rounds):
        per_node: collections.Counter[str] | None = (
            collections.Counter() if args.per_node else None)
        sync_cpu, sync_wall = measure(frames, True, args.frames, per_node)
        pool_cpu, pool_wall = measure(frames, False, args.frames)
        print(f"round {round_ + 1}: synchronous {sync_cpu:.0f} ({sync_wall:.0f}), "
              f"pooled latency {pool_cpu:.0f} ({pool_wall:.0f})", flush=True)
        if per_node is not None:
            nodes = sum(per_node.values()) / args.frames / 1000
            print(f"  in process() {nodes:.0f}, outside {sync_cpu - nodes:.0f} "
                  "(synchronous, CPU us per frame)")
            for name, ns in per_node.most_common():
                print(f"  {name:45} {ns / args.frames / 1000:7.1f}")


if __name__ == "__main__":
    main()
