"""Face detection per-frame latency: graphflow vs MediaPipe 0.10.21, whole and stage by stage.

At each size (default 640x480, 1280x720 and 1920x1080: media/demo.mp4 resized with
cv2.INTER_AREA, RGB, looped), one frame at a time:

- the headline, solution API against solution API: ``graphflow.solutions.face_detection.
  FaceDetection`` against MediaPipe's ``mp.solutions.face_detection.FaceDetection``, short range
  (``model_selection=0``) and full range (``model_selection=1``), ``process(rgb)`` timed whole
  (each returns Detection protobuf messages; latency and CPU time);
- graphflow's detector graph alone, ``FaceDetectionShortRangeCpu`` (and
  ``FaceDetectionFullRangeCpu``) through an output stream poller, frame in, wait for its
  detections: with the graph's default thread pool and (short range) with the synchronous
  executor, against the same MediaPipe solution;
- the detector graph of ``bench/mediapipe/face_detection.py`` (the short-range detector's
  nodes, the same graph text in both engines), frame in and ``wait_until_idle``;
- stage by stage (letterbox, inference, decoding + NMS, projection): each stage's calculators'
  mean process() time per frame, from each engine's own profiler over a run of that graph
  (graphflow's Chrome trace, MediaPipe's GraphProfile);
- the CPU time of each engine's process (all threads) per detector frame: on a shared machine
  it moves less with the load than the latency does.

MediaPipe's side runs under .venv-mp (``GRAPHFLOW_MP_PYTHON`` names another interpreter). The two
sides alternate for ``--rounds`` rounds; the table gives medians over the rounds and the final
line each size's median ratio graphflow/MediaPipe (solution against solution: latency, then
CPU time) with its range over the rounds. The load average is printed: the machine is shared
and figures move with it.

Usage:
    .venv/bin/python bench/face_detection.py [--frames 300] [--warmup 20] [--rounds 3]
        [--sizes 640x480,1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "mediapipe"))

from _common import (  # noqa: E402
    CLIP,
    read_frames,
    run_reference,
    summary_ms,
    time_calls,
    time_solution,
)
from face_detection import (  # noqa: E402 - MediaPipe's graph and stages
    OUTPUT,
    SIZES,
    STAGES,
    detector_config,
    parse_sizes,
    stage_times,
)

from graphflow.graph import CalculatorGraph  # noqa: E402
from graphflow.image_frame import ImageFrame  # noqa: E402
from graphflow.packet import Packet  # noqa: E402
from graphflow.solutions.face_detection import FaceDetection  # noqa: E402

DETECTOR = """input_stream: "image"
output_stream: "detections"
node { calculator: "FaceDetection%sRangeCpu" input_stream: "IMAGE:image"
       output_stream: "DETECTIONS:detections" }
"""


def detector_latency(frames: list[npt.NDArray[np.uint8]], count: int, warmup: int,
                     synchronous: bool = False, full_range: bool = False) -> dict[str, Any]:
    """The detector graph's ms per RGB frame (frame in, detections out) and frames with a face.

    The ImageFrame (a read-only view, no copy) is made on the clock, as MediaPipe's solution
    makes its ImageFrame (a copy) in ``process``.
    """
    graph = CalculatorGraph(DETECTOR % ("Full" if full_range else "Short"),
                            synchronous=synchronous)
    poller = graph.add_output_stream_poller("detections")
    graph.start_run()
    timestamp = iter(range(1 << 62))

    def detect(rgb: npt.NDArray[np.uint8]) -> Any:
        ts = next(timestamp)
        graph.add_packet_to_input_stream("image", Packet(ImageFrame(rgb)).at(ts))
        if synchronous:
            graph.wait_until_idle()
        packet = poller.next(timeout=10)
        if packet is None or int(packet.timestamp) != ts:
            raise RuntimeError(f"frame {ts}: no detections packet")
        return packet.payload

    try:
        samples, found, cpu_ms = time_calls(detect, frames, count, warmup)
    finally:
        graph.close_all_input_streams()
        graph.wait_until_done()
    return {"frames_with_face": found, "cpu_ms": cpu_ms, **summary_ms(samples)}


def solution_latency(frames: list[npt.NDArray[np.uint8]], count: int, warmup: int,
                     full_range: bool = False) -> dict[str, Any]:
    """``FaceDetection.process``'s ms per RGB frame (its default executor) and frames with a
    face, as MediaPipe's side times its solution."""
    result = time_solution(lambda: FaceDetection(model_selection=int(full_range)),
                           "detections", frames, count, warmup)
    result["frames_with_face"] = result.pop("frames_with_result")
    return result


def graph_latency(frames: list[ImageFrame], count: int, warmup: int,
                  profile_path: str | None = None) -> float:
    """Median ms from adding a frame to the detector graph until the graph is idle again."""
    graph = CalculatorGraph(detector_config(profile_path))
    graph.observe_output_stream(OUTPUT, lambda _name, _packet: None)
    graph.start_run()
    timestamp = iter(range(1 << 62))

    def run(frame: ImageFrame) -> None:
        graph.add_packet_to_input_stream("image", Packet(frame).at(next(timestamp)))
        graph.wait_until_idle()

    try:
        samples, _, _ = time_calls(run, frames, count, warmup)
    finally:
        graph.close_all_input_streams()
        graph.wait_until_done()
    return summary_ms(samples)["median_ms"]


def profiled_stages(frames: list[ImageFrame], count: int) -> dict[str, float]:
    """Stage ms per frame from graphflow's trace over ``count`` frames of the graph."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "trace.json")
        graph_latency(frames, count, 0, path)
        trace = json.loads(pathlib.Path(path).read_text())
    total: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for event in trace["traceEvents"]:
        if event.get("ph") == "X" and event.get("cat") == "process":
            total[event["args"]["calculator"]] += event["dur"]
            calls[event["args"]["calculator"]] += 1
    return stage_times({name: total[name] / calls[name] for name in total})


def graphflow_side(size: tuple[int, int], count: int, warmup: int) -> dict[str, Any]:
    """graphflow's figures at one size, shaped like MediaPipe's side."""
    rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, size)]
    frames = [ImageFrame(f) for f in rgb]
    result = solution_latency(rgb, count, warmup)
    result["pooled_median_ms"] = detector_latency(rgb, count, warmup)["median_ms"]
    result["sync_median_ms"] = detector_latency(rgb, count, warmup, synchronous=True)[
        "median_ms"]
    result["graph_median_ms"] = graph_latency(frames, count, warmup)
    result["stages_ms"] = profiled_stages(frames, count)
    result["full"] = solution_latency(rgb, count, warmup, full_range=True)
    result["full"]["pooled_median_ms"] = detector_latency(rgb, count, warmup, full_range=True)[
        "median_ms"]
    return result


def _range(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main() -> None:
    """Runs both sides in alternating rounds and prints the table, then the one-line figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames (default 20)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating MediaPipe/graphflow rounds (default 3)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES),
                        help="frame sizes, comma-separated WIDTHxHEIGHT")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--frames and --rounds must be positive, --warmup not negative")
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as e:
        parser.error(str(e))
    load_before = os.getloadavg()
    start = time.perf_counter()
    ours: list[list[dict[str, Any]]] = [[] for _ in sizes]  # per size, one entry per round
    theirs: list[list[dict[str, Any]]] = [[] for _ in sizes]  # empty without the reference
    for _ in range(args.rounds):
        mp = run_reference("face_detection.py", ["--frames", str(args.frames), "--warmup",
                                                 str(args.warmup), "--sizes", args.sizes])
        for i, size in enumerate(sizes):
            ours[i].append(graphflow_side(size, args.frames, args.warmup))
            if mp is not None:
                theirs[i].append(mp["results"][i])
    load_after = os.getloadavg()
    print(f"face detection, {args.frames} frames (+{args.warmup} warm-up) per "
          f"size and figure, {args.rounds} alternating round(s), medians over the rounds; "
          f"load average {load_before[0]:.2f} -> {load_after[0]:.2f} "
          f"({time.perf_counter() - start:.0f} s)")
    print(f"{'ms per frame':34} {'graphflow':>10} {'MediaPipe':>10} {'ratio':>6}")
    for (width, height), g, m in zip(sizes, ours, theirs, strict=True):
        print(f"{width}x{height}, face found on {g[0]['frames_with_face']}/{args.frames} "
              f"frames (MediaPipe: {m[0]['frames_with_face'] if m else '-'}), full range on "
              f"{g[0]['full']['frames_with_face']} "
              f"({m[0]['full']['frames_with_face'] if m else '-'})")

        def row(name: str, ours_ms: list[float], theirs_ms: list[float]) -> None:
            g_med = statistics.median(ours_ms)
            if theirs_ms:
                m_med = statistics.median(theirs_ms)
                print(f"  {name:32} {g_med:10.2f} {m_med:10.2f} {g_med / m_med:6.2f}")
            else:
                print(f"  {name:32} {g_med:10.2f} {'-':>10} {'-':>6}")

        for stage, _ in STAGES:
            row(f"stage: {stage}", [r["stages_ms"][stage] for r in g],
                [r["stages_ms"][stage] for r in m])
        row("detector graph, same text", [r["graph_median_ms"] for r in g],
            [r["graph_median_ms"] for r in m])
        row("graph, thread pool (poller)", [r["pooled_median_ms"] for r in g],
            [r["median_ms"] for r in m])
        row("graph, synchronous executor", [r["sync_median_ms"] for r in g],
            [r["median_ms"] for r in m])
        row("solution (p95)", [r["p95_ms"] for r in g], [r["p95_ms"] for r in m])
        row("solution, CPU time (all threads)", [r["cpu_ms"] for r in g],
            [r["cpu_ms"] for r in m])
        row("solution", [r["median_ms"] for r in g], [r["median_ms"] for r in m])
        row("full range graph, thread pool", [r["full"]["pooled_median_ms"] for r in g],
            [r["full"]["median_ms"] for r in m])
        row("full range solution, CPU time", [r["full"]["cpu_ms"] for r in g],
            [r["full"]["cpu_ms"] for r in m])
        row("full range solution (p95)", [r["full"]["p95_ms"] for r in g],
            [r["full"]["p95_ms"] for r in m])
        row("full range solution", [r["full"]["median_ms"] for r in g],
            [r["full"]["median_ms"] for r in m])
    if not theirs[0]:
        print("face_detection graphflow: solution (short / full range) " + ", ".join(
            f"{w}x{h} {statistics.median(r['median_ms'] for r in g):.2f} / "
            f"{statistics.median(r['full']['median_ms'] for r in g):.2f} ms"
            for (w, h), g in zip(sizes, ours, strict=True))
            + " (no reference venv: MediaPipe not measured)")
        return
    def ratios(key: str, full_range: bool = False) -> list[list[float]]:
        def pick(r: dict[str, Any]) -> float:
            return float(r["full"][key] if full_range else r[key])

        return [[pick(a) / pick(b) for a, b in zip(g, m, strict=True)]
                for g, m in zip(ours, theirs, strict=True)]

    def figures(per_size: list[list[float]]) -> str:
        return ", ".join(f"{w}x{h} {statistics.median(r):.2f} ({_range(r)})"
                         for (w, h), r in zip(sizes, per_size, strict=True))

    print(f"face_detection solution latency ratio graphflow/MediaPipe, short range: "
          f"{figures(ratios('median_ms'))}; full range: "
          f"{figures(ratios('median_ms', full_range=True))} (goal <= 0.75); CPU time ratio, "
          f"short range: {figures(ratios('cpu_ms'))}; full range: "
          f"{figures(ratios('cpu_ms', full_range=True))}")


if __name__ == "__main__":
    main()
