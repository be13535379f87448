"""Streams and batch jobs through Ray versus in-process, on this machine.

Streams: N streams each push JPEG frames (640x480) through their own graph run as fast as it
takes them, in this process (a :class:`~graphflow.app.net.runner.FrameProcessor` per stream,
called from a thread per stream, as ``graphflow serve`` does) or in a Ray actor per stream (as
``graphflow serve --ray`` does). Per stream: frames per second, and the mean time from handing
a frame over to getting its outputs back; the difference between the two is what Ray adds.

Batch: the same 20 short clips through ``graphflow batch`` on local processes and as Ray tasks.

Usage:
    python bench/ray_scale.py [--seconds 3] [--streams 1 4 8] [--clips 20]
                              [--graph FILE] [--ray ADDRESS]

Without ``--ray`` a local Ray instance with this machine's CPUs is started. Prints a table and,
last, one line: ``ray_scale: ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from graphflow.app import ray_backend
from graphflow.app.batch import run_batch
from graphflow.app.net import jpeg
from graphflow.app.net.runner import FrameProcessor

PASS_THROUGH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "PassThroughCalculator" input_stream: "input_video"
       output_stream: "output_video" }
"""


@dataclasses.dataclass
class StreamRun:
    """One stream's frames, the seconds it ran them in, and per-frame latencies (seconds)."""

    frames: int = 0
    seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    driver_cpu: float = 0.0
    """CPU seconds this process spent per frame (all streams together)."""


def test_frame(width: int = 640, height: int = 480) -> bytes:
    """A JPEG of a gradient with noise (about what a camera sends)."""
    y, x = np.mgrid[0:height, 0:width]
    noise = np.random.default_rng(0).integers(0, 40, (height, width, 3))
    image = np.stack([x % 256, y % 256, (x + y) % 256], axis=2) + noise
    return jpeg.encode(np.clip(image, 0, 255).astype(np.uint8), 80)


def drive(calls: list[Callable[[int], Any]], seconds: float) -> list[StreamRun]:
    """Calls each stream's ``call(timestamp)`` in a loop on its own thread for ``seconds``."""
    runs = [StreamRun() for _ in calls]
    stop = time.perf_counter() + seconds
    cpu = time.process_time()

    def loop(call: Callable[[int], Any], run: StreamRun) -> None:
        timestamp = 1
        began = time.perf_counter()
        while time.perf_counter() < stop:
            start = time.perf_counter()
            call(timestamp)
            run.latencies.append(time.perf_counter() - start)
            run.frames += 1
            timestamp += 1
        run.seconds = time.perf_counter() - began  # the last call may end after `stop`

    threads = [threading.Thread(target=loop, args=(c, r)) for c, r in zip(calls, runs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = time.process_time() - cpu
    for run in runs:
        run.driver_cpu = cpu / max(1, sum(r.frames for r in runs))
    return runs


def in_process(graph: str, streams: int, data: bytes, seconds: float) -> list[StreamRun]:
    processors = [FrameProcessor(graph, {}, "input_video", "output_video")
                  for _ in range(streams)]
    calls: list[Callable[[int], Any]] = [
        functools.partial(lambda p, ts: p.process(ts, data), p) for p in processors]
    runs = drive(calls, seconds)
    for processor in processors:
        processor.close()
    return runs


def through_ray(graph: str, streams: int, data: bytes, seconds: float) -> list[StreamRun]:
    import ray

    actor = ray_backend.actor_class(FrameProcessor, 0)
    actors = [actor.remote(graph, {}, "input_video", "output_video") for _ in range(streams)]
    ray.get([a.pid.remote() for a in actors])  # started
    payload = ray.put(data)
    calls: list[Callable[[int], Any]] = [
        functools.partial(lambda a, ts: ray.get(a.process.remote(ts, payload)), a)
        for a in actors]
    runs = drive(calls, seconds)
    ray.get([a.close.remote() for a in actors])
    for a in actors:
        ray.kill(a)
    return runs


def make_clips(folder: pathlib.Path, count: int, frames: int = 30) -> None:
    """``count`` mp4 clips of ``frames`` 320x240 frames."""
    rng = np.random.default_rng(1)
    for index in range(count):
        writer = cv2.VideoWriter(str(folder / f"clip{index:02d}.mp4"),
                                 cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (320, 240))
        base = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        for shift in range(frames):
            writer.write(np.roll(base, shift * 4, axis=1))
        writer.release()


def batch(graph: str, clips: int, address: str) -> tuple[float, float, int]:
    """Seconds for the clips on local processes and as Ray tasks, and the frames per run."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        (folder / "in").mkdir()
        make_clips(folder / "in", clips)
        pattern = [str(folder / "in" / "*.mp4")]
        local = run_batch(graph, pattern, folder / "out_local", jobs=os.cpu_count())
        remote = run_batch(graph, pattern, folder / "out_ray", ray_address=address)
        for summary in (local, remote):
            if summary.counts()["done"] != clips:
                raise RuntimeError(f"batch failed: {summary.failed}")
        frames = sum(r.frames_in for r in local.results)
    return local.seconds, remote.seconds, frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per configuration")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--graph", default=None, help="graph file (default: pass-through)")
    parser.add_argument("--ray", default="", metavar="ADDRESS",
                        help="Ray cluster (default: a new local one)")
    args = parser.parse_args()
    graph_text = pathlib.Path(args.graph).read_text() if args.graph else PASS_THROUGH
    with tempfile.NamedTemporaryFile("w", suffix=".pbtxt", delete=False) as file:
        file.write(graph_text)
        graph = file.name
    ray = ray_backend.require_ray()
    if args.ray:
        ray_backend.connect(args.ray)
    else:
        ray.init(num_cpus=os.cpu_count(), object_store_memory=100 * 2**20,
                 include_dashboard=False, configure_logging=False, log_to_driver=False)
    data = test_frame()
    print(f"{os.cpu_count()} CPUs here; cluster CPUs {ray_backend.cluster_cpus()}; frame "
          f"640x480 JPEG {len(data)} bytes; {args.seconds:g} s per row", file=sys.stderr)
    rows = []
    for streams in args.streams:
        for where, run in (("in-process", in_process), ("ray", through_ray)):
            runs = run(graph, streams, data, args.seconds)
            per_stream = [r.frames / r.seconds for r in runs]
            latency = statistics.mean(x for r in runs for x in r.latencies) * 1e3
            rows.append((streams, where, statistics.mean(per_stream), sum(per_stream), latency,
                         runs[0].driver_cpu * 1e3))
    print(f"{'streams':>7} {'where':>10} {'fps/stream':>10} {'fps total':>9} "
          f"{'ms/frame':>8} {'added ms':>8} {'front-end CPU ms/frame':>22}")
    base: dict[int, float] = {}
    for streams, where, fps, total, latency, cpu in rows:
        if where == "in-process":
            base[streams] = latency
        added = latency - base[streams]
        print(f"{streams:>7} {where:>10} {fps:>10.1f} {total:>9.1f} {latency:>8.2f} "
              f"{added if where == 'ray' else 0.0:>8.2f} {cpu:>22.2f}")
    local_s, ray_s, frames = batch(graph, args.clips, args.ray)
    print(f"batch {args.clips} clips ({frames} frames): local processes {local_s:.2f} s "
          f"({frames / local_s:.0f} frames/s), Ray tasks {ray_s:.2f} s "
          f"({frames / ray_s:.0f} frames/s)")
    one = {w: (f, lat) for s, w, f, _, lat, _ in rows if s == args.streams[0]}
    print(f"ray_scale: {args.streams[0]} stream(s) {one['in-process'][0]:.0f} fps in-process vs "
          f"{one['ray'][0]:.0f} via Ray (+{one['ray'][1] - one['in-process'][1]:.2f} ms/frame); "
          f"batch {args.clips} clips {local_s:.1f} s local vs {ray_s:.1f} s Ray")
    ray.shutdown()
    os.unlink(graph)
    return 0


if __name__ == "__main__":
    sys.exit(main())
