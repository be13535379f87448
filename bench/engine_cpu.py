"""CPU time per face mesh frame, for comparing runtimes run side by side (compiled or Python).

The graph and frames are ``bench/face_mesh.py``'s (tracking, one face, 640x480), one frame in
and its landmarks out at a time: synchronous (everything on this thread) and with the default
pool (latency mode). Per round it prints the process's CPU time per frame (all threads) and the
median wall time; the calculators do the same work either way, so between two runtimes the
difference is the engine's. The machine's load moves these figures by 2x: run the two variants
at once, pinned to one core, e.g.
``taskset -c 0 python bench/engine_cpu.py & GRAPHFLOW_NATIVE=0 taskset -c 0 python
bench/engine_cpu.py & wait``, and compare within each pair.

Usage:
    python bench/engine_cpu.py [--frames 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from face_mesh import GRAPH, SIDE_PACKETS, read_frames  # noqa: E402 - the same graph and frames

import graphflow.runtime.scheduler  # noqa: E402
from graphflow.graph import CalculatorGraph  # noqa: E402
from graphflow.image_frame import ImageFrame  # noqa: E402
from graphflow.packet import Packet  # noqa: E402

WARMUP = 20


def measure(frames: list[ImageFrame], synchronous: bool, count: int) -> tuple[float, float]:
    """CPU time per frame and median wall time per frame, in microseconds."""
    graph = CalculatorGraph(GRAPH.read_bytes(), synchronous=synchronous)
    poller = graph.add_output_stream_poller("multi_face_landmarks")
    graph.start_run(SIDE_PACKETS)
    walls: list[float] = []
    try:
        for i in range(WARMUP + count):
            if i == WARMUP:
                cpu_start = time.process_time_ns()
            started = time.perf_counter_ns()
            graph.add_packet_to_input_stream("image", Packet(frames[i % len(frames)]).at(i))
            if synchronous:
                graph.wait_until_idle()
            packet = poller.next(timeout=10)
            if packet is None or int(packet.timestamp) != i:
                raise SystemExit(f"frame {i}: no face found (tracking lost)")
            if i >= WARMUP:
                walls.append(time.perf_counter_ns() - started)
        cpu = time.process_time_ns() - cpu_start
    finally:
        graph.close_all_input_streams()
        graph.wait_until_done()
    return cpu / count / 1000, statistics.median(walls) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    args = parser.parse_args()
    frames = read_frames()
    compiled = not graphflow.runtime.scheduler.__file__.endswith(".py")
    print(f"runtime: {'compiled' if compiled else 'Python'}; us per frame, CPU (wall median)")
    for round_ in range(args.rounds):
        sync_cpu, sync_wall = measure(frames, True, args.frames)
        pool_cpu, pool_wall = measure(frames, False, args.frames)
        print(f"round {round_ + 1}: synchronous {sync_cpu:.0f} ({sync_wall:.0f}), "
              f"pooled latency {pool_cpu:.0f} ({pool_wall:.0f})", flush=True)


if __name__ == "__main__":
    main()
