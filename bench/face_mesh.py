"""Face mesh per-frame latency and pipelined throughput: graphflow vs MediaPipe 0.10.21.

Both run MediaPipe's FaceLandmarkFrontCpu graph in tracking mode (one face) on the same frames:
media/demo.mp4 resized to 640x480 (cv2.INTER_AREA), RGB, looped. graphflow loads MediaPipe's own
``face_landmark_front_cpu.binarypb``; MediaPipe's side is ``bench/mediapipe/face_mesh.py``
(its FaceMesh solution, which wraps the same graph), run with ``.venv-mp/bin/python`` in the
same run.

- Latency: one frame in, wait for its landmarks, next frame (median over the timed frames), with
  the default thread pool and with the synchronous executor (calculators on the caller's thread).
- Pipelined: all frames pushed at once, frames per second over the whole run. In tracking mode
  each frame's ROI comes from the previous frame's landmarks, so only the work outside that
  loop (image properties, gating, tensor conversion of the next frame) can overlap.
- Crop + inference alone: the two native steps of that loop (ImageToTensor's crop and the
  landmark model in onnxruntime, one thread) called directly on each frame with the ROI the
  graph tracked, no graph and none of the other 19 calculators of the loop. No graph, however
  fast, can loop faster than this, so it bounds the pipelined figure.

Usage:
    .venv/bin/python bench/face_mesh.py [--frames 300] [--warmup 20] [--rounds 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time
from typing import Any

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "mediapipe"))

from _common import CLIP, run_reference, summary_ms  # noqa: E402 - decoded and summed as MediaPipe's side
from _common import read_frames as decode_frames  # noqa: E402

from calculators.tensor.image_to_tensor import crop_to_tensor, roi_from_rect  # noqa: E402
from calculators.tensor.model_loader import FACE_LANDMARK_MODEL  # noqa: E402
from graphflow import tflite_onnx  # noqa: E402
from graphflow.graph import CalculatorGraph  # noqa: E402
from graphflow.image_frame import ImageFrame  # noqa: E402
from graphflow.packet import Packet  # noqa: E402

GRAPH = ROOT / "graphs/mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb"
SIZE = (640, 480)
SIDE_PACKETS = {"num_faces": 1, "with_attention": False, "use_prev_landmarks": True}


def read_frames() -> list[ImageFrame]:
    """The clip's frames at 640x480, RGB: the very frames bench/mediapipe/face_mesh.py times."""
    return [ImageFrame(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in decode_frames(CLIP, SIZE)]


class OneFrameAtATime:
    """The graph in tracking mode, driven one frame at a time: :meth:`step` adds frame ``i`` and
    returns once its landmarks are out (bench/engine_cpu.py and engine_counts.py drive it too).

    ``synchronous`` runs every calculator on the calling thread (no thread hand-offs). Use it
    as a context manager: leaving it closes the graph's inputs and waits for the run's end.
    """

    def __init__(self, frames: list[ImageFrame], synchronous: bool) -> None:
        self.frames = frames
        self.synchronous = synchronous
        self.graph = CalculatorGraph(GRAPH.read_bytes(), synchronous=synchronous)
        self.poller = self.graph.add_output_stream_poller("multi_face_landmarks")
        self.graph.start_run(SIDE_PACKETS)

    def step(self, i: int) -> None:
        """Frame ``i`` (the clip looped) in at timestamp ``i``, its landmarks out."""
        self.graph.add_packet_to_input_stream(
            "image", Packet(self.frames[i % len(self.frames)]).at(i))
        if self.synchronous:
            self.graph.wait_until_idle()
        packet = self.poller.next(timeout=10)
        if packet is None or int(packet.timestamp) != i:
            raise SystemExit(f"frame {i}: no face found (tracking lost)")

    def __enter__(self) -> OneFrameAtATime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.graph.close_all_input_streams()
        self.graph.wait_until_done()


def latency(frames: list[ImageFrame], count: int, warmup: int,
            synchronous: bool = False) -> dict[str, float]:
    """Per-frame latency in ms: frame in, landmarks out, one frame at a time.

    ``synchronous`` runs every calculator on the calling thread (no thread hand-offs).
    """
    samples = []
    with OneFrameAtATime(frames, synchronous) as loop:
        for i in range(warmup + count):
            start = time.perf_counter_ns()
            loop.step(i)
            if i >= warmup:
                samples.append(time.perf_counter_ns() - start)
    return summary_ms(samples)


def pipelined(frames: list[ImageFrame], count: int, warmup: int) -> float:
    """Frames per second with every frame pushed at once (after ``warmup`` frames, untimed,
    which load the models and find the face, as MediaPipe's side leaves its warm-up out)."""
    graph = CalculatorGraph(GRAPH.read_bytes())
    results: list[Any] = []
    graph.observe_output_stream("multi_face_landmarks", lambda _, p: results.append(p))
    graph.start_run(SIDE_PACKETS)
    for i in range(warmup):
        graph.add_packet_to_input_stream("image", Packet(frames[i % len(frames)]).at(i))
    graph.wait_until_idle()
    start = time.perf_counter()
    for i in range(warmup, warmup + count):
        graph.add_packet_to_input_stream("image", Packet(frames[i % len(frames)]).at(i))
    graph.close_all_input_streams()
    graph.wait_until_done()
    elapsed = time.perf_counter() - start
    if len(results) != warmup + count:
        raise SystemExit(f"pipelined run: {len(results)} of {warmup + count} frames had "
                         "landmarks")
    return count / elapsed


def crop_and_inference(frames: list[ImageFrame], count: int) -> float:
    """Milliseconds per frame of the loop's crop and landmark inference alone (no graph).

    The ROI of frame i is the one the graph tracked from frame i - 1 (its
    ``face_rects_from_landmarks`` output), so the crops are those the graph makes.
    """
    graph = CalculatorGraph(GRAPH.read_bytes(), synchronous=True)
    rois: dict[int, Any] = {}
    graph.observe_output_stream("face_rects_from_landmarks",
                                lambda _, p: rois.__setitem__(int(p.timestamp), p.payload[0]))
    graph.start_run(SIDE_PACKETS)
    for i in range(count):
        graph.add_packet_to_input_stream("image", Packet(frames[i % len(frames)]).at(i))
    graph.close_all_input_streams()
    graph.wait_until_done()
    # As the graph's nodes do it: the crop as channel planes, fed to an NCHW-input conversion.
    session = tflite_onnx.create_session(FACE_LANDMARK_MODEL, num_threads=1, channels_first=True)
    names = [o.name for o in session.get_outputs()]
    input_name = session.get_inputs()[0].name
    start = time.perf_counter()
    for i in range(1, count):
        frame = frames[i % len(frames)]
        roi = roi_from_rect(frame.width, frame.height, rois[i - 1])
        tensor = crop_to_tensor(frame.array, roi, 192, 192, (0.0, 1.0), border_zero=False,
                                channels_first=True)
        session.run(names, {input_name: tensor.transpose(0, 3, 1, 2)})
    return (time.perf_counter() - start) / (count - 1) * 1e3


def _median(values: list[float]) -> float:
    return float(np.median(values))


def main() -> None:
    """Runs both sides in alternating rounds and prints a table, then the one-line figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames (default 20)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating MediaPipe/graphflow rounds; medians are reported "
                             "(default 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="onnxruntime intra-op threads per model (default: the graph's "
                             "InferenceCalculator setting, one thread)")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--frames and --rounds must be positive, --warmup not negative")
    if args.threads is not None:
        os.environ["GRAPHFLOW_INFERENCE_THREADS"] = str(args.threads)
    frames = read_frames()
    figures: dict[str, list[float]] = {}

    def note(key: str, value: float) -> None:
        figures.setdefault(key, []).append(value)

    for _ in range(args.rounds):
        mp = run_reference("face_mesh.py", ["--frames", str(args.frames),
                                            "--warmup", str(args.warmup)])
        if mp is not None:
            note("mp_median", mp["median_ms"])
            note("mp_p95", mp["p95_ms"])
            note("mp_fps", 1000.0 / mp["mean_ms"])
        ours = latency(frames, args.frames, args.warmup)
        note("median", ours["median_ms"])
        note("p95", ours["p95_ms"])
        note("sync", latency(frames, args.frames, args.warmup, synchronous=True)["median_ms"])
        note("fps", pipelined(frames, args.frames, args.warmup))
        note("ceiling", 1000.0 / crop_and_inference(frames, args.frames))
    has_mp = "mp_median" in figures
    # (label, graphflow key, MediaPipe key). MediaPipe's solution API is synchronous (process()
    # returns the frame's landmarks), so its throughput is 1000 / its mean latency: mp_fps.
    rows = [
        ("median latency (ms/frame)", "median", "mp_median"),
        ("p95 latency (ms/frame)", "p95", "mp_p95"),
        ("median latency, synchronous", "sync", "mp_median"),
        ("throughput, pipelined (fps)", "fps", "mp_fps"),
        ("ceiling: crop + inference alone", "ceiling", "mp_fps"),
    ]
    print(f"face mesh, tracking, 640x480, {args.frames} frames (+{args.warmup} warm-up), "
          f"{args.rounds} round(s), onnxruntime threads: {args.threads or 'graph default (1)'}")
    if not has_mp:
        for name, key, _ in rows:
            print(f"{name:32} {_median(figures[key]):10.2f}")
        print(f"face_mesh graphflow: median latency {_median(figures['median']):.2f} ms, "
              f"pipelined throughput {_median(figures['fps']):.0f} fps (no .venv-mp: MediaPipe "
              "not measured, no ratio)")
        return
    print("MediaPipe's fps = 1000 / its mean latency in the same round (its process() is "
          "synchronous: one frame at a time). Each ratio is graphflow / MediaPipe within a "
          "round; the table and the last line give the median of the rounds' ratios (range)")
    print(f"{'':32} {'graphflow':>10} {'MediaPipe':>10} {'ratio':>7}  range")
    ratios = {}
    for name, key, mp_key in rows:
        per_round = sorted(g / m for g, m in zip(figures[key], figures[mp_key], strict=True))
        ratios[key] = _median(per_round)
        print(f"{name:32} {_median(figures[key]):10.2f} {_median(figures[mp_key]):10.2f} "
              f"{ratios[key]:7.2f}  {per_round[0]:.2f}-{per_round[-1]:.2f}")
    print(f"face_mesh latency ratio graphflow/MediaPipe: {ratios['median']:.2f} (goal <= 0.75); "
          f"pipelined throughput {_median(figures['fps']):.0f} fps = {ratios['fps']:.2f}x "
          f"MediaPipe's 1000/mean-latency fps (crop + inference alone: {ratios['ceiling']:.2f}x) "
          "(goal >= 1.5)")


if __name__ == "__main__":
    main()
