"""Load on `graphflow serve` over loopback: N senders at 640x480 and 30 fps, some processed.

The server runs in its own process (`graphflow serve GRAPH`, ports picked by the OS) so that its
CPU time and peak RSS are its own. This process runs the N senders (`graphflow.app.net.Sender`
pushing 640x480 JPEGs of media/demo.mp4, encoded beforehand at quality 80, stamped with their
send time) and the viewers: one raw MJPEG viewer per stream and one processed viewer
(`/face_stream`) on the first P streams. For each N it reports, over the measured window, the
frame rate each viewer received, the capture-to-viewer latency (the MJPEG part's X-Timestamp
against the clock when the whole part has arrived), the server's CPU (percent of one core) and
its peak RSS.

Usage:
    .venv/bin/python bench/serve_load.py [--streams 1 4 8] [--processed 2] [--seconds 20]
        [--graph graphs/face_detection.pbtxt] [--soak SECONDS]

`--soak S` adds one run of the largest N for S seconds that samples the server's RSS every
10 s and reports its growth after the first minute.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import cv2

from graphflow.app.net import Sender, jpeg
from graphflow.app.net.client import mjpeg_frames

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def load_frames(count: int = 60, size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """``count`` frames of media/demo.mp4 resized to ``size``, as quality-80 JPEGs."""
    capture = cv2.VideoCapture(str(ROOT / "media" / "demo.mp4"))
    frames: list[bytes] = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        frames.append(jpeg.encode(small, 80, "BGR"))
    capture.release()
    if not frames:
        raise SystemExit("bench/serve_load.py: cannot read media/demo.mp4")
    return frames


async def paced(frames: list[bytes], fps: float) -> AsyncIterator[tuple[int, bytes]]:
    """The frames in a loop at ``fps``, stamped with the time they are handed to the sender."""
    clock = asyncio.get_running_loop().time
    due = clock()
    last = 0
    index = 0
    while True:
        last = max(time.time_ns() // 1000, last + 1)
        yield last, frames[index % len(frames)]
        index += 1
        due = max(due + 1.0 / fps, clock() - 1.0 / fps)
        await asyncio.sleep(max(0.0, due - clock()))


class ServerProcess:
    """`graphflow serve` in a child process, with its CPU time and memory from /proc."""

    def __init__(self, graph: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "graphflow.app.cli", "serve", graph, "--ingest", ":0",
             "--http", ":0"],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("graphflow serve: ingest "):
            self.process.kill()
            raise SystemExit(f"bench/serve_load.py: the server did not start: {line!r}")
        ingest, http = line.split("ingest ")[1].split(", http ")
        self.ingest_port = int(ingest.rsplit(":", 1)[1])
        self.http = http.strip().rstrip("/")

    def cpu_seconds(self) -> float:
        fields = pathlib.Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1]
        utime, stime = fields.split()[11:13]
        return (int(utime) + int(stime)) / CLOCK_TICKS

    def memory_mb(self) -> tuple[float, float]:
        """``(rss, peak rss)`` in MiB."""
        values = {}
        for line in pathlib.Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclasses.dataclass
class ViewerStats:
    """What one viewer received during the measured window."""

    kind: str
    frames: int = 0
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    measuring: bool = False


async def view(session: aiohttp.ClientSession, url: str, stats: ViewerStats) -> None:
    async with session.get(url) as response:
        async for frame in mjpeg_frames(response):
            if stats.measuring:
                stats.frames += 1
                stats.latencies_ms.append((time.time_ns() // 1000 - frame.timestamp) / 1000)


@dataclasses.dataclass
class CaseResult:
    streams: int
    processed: int
    sent_fps: float
    raw_fps: list[float]
    processed_fps: list[float]
    raw_latency_ms: list[float]
    processed_latency_ms: list[float]
    cpu_percent: float
    client_cpu_percent: float
    peak_rss_mb: float
    rss_samples: list[tuple[float, float]]


async def run_case(graph: str, frames: list[bytes], streams: int, processed: int,
                   seconds: float, warmup: float, fps: float) -> CaseResult:
    server = ServerProcess(graph)
    tasks: list[asyncio.Task[object]] = []
    senders = [Sender("127.0.0.1", server.ingest_port, f"cam{i}", fps=fps) for i in range(streams)]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
            for sender in senders:
                tasks.append(asyncio.create_task(sender.run(paced(frames, fps))))
            await asyncio.sleep(1.0)  # senders connected and known to the server
            viewers = [ViewerStats("raw") for _ in range(streams)] + \
                [ViewerStats("processed") for _ in range(processed)]
            for i, stats in enumerate(viewers):
                path = "stream" if stats.kind == "raw" else "face_stream"
                url = f"{server.http}/{path}?name=cam{i % streams}"
                tasks.append(asyncio.create_task(view(session, url, stats)))
            await asyncio.sleep(warmup)
            cpu0, client0, t0 = server.cpu_seconds(), time.process_time(), time.monotonic()
            sent0 = sum(s.stats.sent for s in senders)
            for stats in viewers:
                stats.measuring = True
            samples = []
            while (elapsed := time.monotonic() - t0) < seconds:
                await asyncio.sleep(min(10.0, seconds - elapsed))
                samples.append((time.monotonic() - t0, server.memory_mb()[0]))
            for stats in viewers:
                stats.measuring = False
            span = time.monotonic() - t0
            sent = (sum(s.stats.sent for s in senders) - sent0) / span / streams
            cpu = (server.cpu_seconds() - cpu0) / span * 100
            client_cpu = (time.process_time() - client0) / span * 100
            peak = server.memory_mb()[1]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
    raw = [v for v in viewers if v.kind == "raw"]
    done = [v for v in viewers if v.kind == "processed"]
    return CaseResult(streams, processed, sent, [v.frames / span for v in raw],
                      [v.frames / span for v in done],
                      [x for v in raw for x in v.latencies_ms],
                      [x for v in done for x in v.latencies_ms], cpu, client_cpu, peak, samples)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def fps_text(values: list[float]) -> str:
    return f"{statistics.mean(values):5.1f} ({min(values):4.1f})" if values else "    -"


def print_header() -> None:
    print(f"{'N':>3} {'P':>2} | {'sent fps':>8} | {'raw fps mean (min)':>18} "
          f"{'raw p50/p95 ms':>15} | {'proc fps mean (min)':>19} {'proc p50/p95 ms':>16} | "
          f"{'server CPU':>10} {'peak RSS':>9} | {'client CPU':>10}")


def print_row(r: CaseResult) -> None:
    raw, done = r.raw_latency_ms, r.processed_latency_ms
    print(f"{r.streams:>3} {r.processed:>2} | {r.sent_fps:8.1f} | {fps_text(r.raw_fps):>18} "
          f"{percentile(raw, 50):6.1f}/{percentile(raw, 95):6.1f}   | "
          f"{fps_text(r.processed_fps):>19} {percentile(done, 50):7.1f}/"
          f"{percentile(done, 95):6.1f}   | {r.cpu_percent:9.0f}% {r.peak_rss_mb:7.0f}MB | "
          f"{r.client_cpu_percent:9.0f}%", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", default=str(ROOT / "graphs" / "face_detection.pbtxt"))
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--processed", type=int, default=2,
                        help="streams with a processed viewer (at most N)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window per N")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--soak", type=float, default=0.0,
                        help="also run the largest N for this many seconds, sampling RSS")
    args = parser.parse_args()
    frames = load_frames()
    print(f"graph {args.graph}; {len(frames)} frames 640x480, mean JPEG "
          f"{statistics.mean(map(len, frames)) / 1024:.0f} KiB; {args.fps:g} fps per sender; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print_header()
    for n in args.streams:
        last = asyncio.run(run_case(args.graph, frames, n, min(args.processed, n),
                                    args.seconds, args.warmup, args.fps))
        print_row(last)
    if args.soak:
        soak = asyncio.run(run_case(args.graph, frames, last.streams, last.processed,
                                    args.soak, args.warmup, args.fps))
        print(f"\nsoak {args.soak:.0f} s, N={soak.streams}, P={soak.processed}: RSS (MiB) at "
              + ", ".join(f"{t:.0f}s {m:.0f}" for t, m in soak.rss_samples))
        after_minute = [m for t, m in soak.rss_samples if t >= 60]
        span = "after the first minute" if after_minute else "over the whole soak (under a minute)"
        rss = after_minute or [m for _, m in soak.rss_samples]
        print(f"soak: RSS {rss[0]:.0f} -> {rss[-1]:.0f} MiB {span} "
              f"(peak {soak.peak_rss_mb:.0f}); processed fps "
              f"{fps_text(soak.processed_fps)}, raw fps {fps_text(soak.raw_fps)}")
        print_header()
        print_row(soak)
    processed = (f"{statistics.mean(last.processed_fps):.1f} fps/stream" if last.processed_fps
                 else "not measured (no processed viewer)")
    print(f"\nserve_load: N={last.streams} streams ({last.processed} processed): raw "
          f"{statistics.mean(last.raw_fps):.1f} fps/stream, processed {processed}, "
          f"latency p50 raw {percentile(last.raw_latency_ms, 50):.1f} ms / processed "
          f"{percentile(last.processed_latency_ms, 50):.1f} ms, server CPU "
          f"{last.cpu_percent:.0f}% of a core, peak RSS {last.peak_rss_mb:.0f} MiB")


if __name__ == "__main__":
    main()
