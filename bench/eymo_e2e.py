"""eymo end to end: graphs/eymo.pbtxt on 720p clips vs MediaPipe FaceMesh + OpenCV edits.

For each case (``--cases``, default all four): a clip, media/demo.mp4 (the face always found)
or media/lost.mp4 (a small rolling face that crosses the frame, found on about a fifth of the
frames, so the detector runs on most frames; made by scripts/make_demo_media.py --lost when
missing), and a script, examples/default.eymo (DESIGN.md's example) or
examples/bigfeatures.eymo (four statements, both eyes scaled 4x). Runs, in one process and one
session:

1. graphflow, file in -> null out, as ``graphflow run graphs/eymo.pbtxt -i CLIP -o null`` runs
   it: the clip (1280x720, looped to ``--frames``) decoded on the main thread by the reader
   that command uses (calculators.io.video.VideoReader: OpenCV, SRGB frames), each frame
   added to graphs/eymo.pbtxt with the command's ``max_in_flight`` for files (every frame is
   processed: back pressure paces the reader); frames per
   second over the whole run, frames with a face, frames the detector ran on, and the time per
   frame of each stage (from the graph's trace: face detection and face mesh nodes, upload,
   transform, readback).
2. The baseline, bench/mediapipe/eymo_baseline.py under .venv-mp (MediaPipe 0.10.21 FaceMesh +
   OpenCV crop/HSV/warp/paste of the same script), on the same clip and frame count. The two
   alternate for ``--rounds`` rounds (default 2); the table shows each side's best round, the
   final line the median and range of the rounds' ratios (each round's two runs follow each
   other, so their ratio moves least with the machine's load).
3. For the first case, graphflow with a live-paced source: frames added at the clip's 30 fps
   with ``max_in_flight`` 1 (stale frames dropped); latency from adding a frame to its output,
   median and p95.

Prints a table per case and, last, one line: ``eymo_e2e: demo/default R (LOW-HIGH), ...;
live p95 L ms``, R being the median over the rounds of graphflow's fps over the baseline's.

``--faces 2`` runs the baseline with FaceMesh's max_num_faces=2 (graphflow keeps the graph's
defaults, up to 4 faces) and, without ``--cases``, the case two_faces/default: media/two_faces.mp4
(two faces, 1280x720, made by scripts/make_demo_media.py).

``--gl-only`` times just the GL side instead: a 1080p frame (the clip's first frame, scaled)
with the same script on MediaPipe's landmarks of the clip (tests/fixtures/face), per frame:
draw_items (CPU geometry), the transform (one frame copy and the items), upload and readback
(graphflow.gpu's transfers; the upload also as ImageFrameToGpuBufferCalculator does it with
the frames the file reader gives, SRGB, widened straight into the mapped upload buffer on a
GPU; the readback also as GpuBufferToImageFrameCalculator does it, ``GpuBuffer.read_frame``,
which hands out the mapped buffer on a GPU), and a whole frame as the graph does it (the
converters' upload and readback around the transform), each over ``--frames`` frames with
moving timestamps; GL work is finished (glFinish) before each clock read. With
mapped transfers (a GPU), also a steady stream of whole frames whose readbacks finish one frame
later (the time per frame over the stream), and the same without copies between numpy and the
mapped buffers: the decoder's BGR -> RGBA conversion written into the upload buffer
(``upload_with``), the readback handed out in its buffer (``read_mapped``). The last lines
sum the GL side as the graph's converters do it (``graph converters:``) and, on a GPU, the
zero-copy one. Also: a finish alone, the frame copy alone, and the transform's CPU time.

Usage:
    .venv/bin/python bench/eymo_e2e.py [--frames 600] [--rounds 2] [--live-frames 150]
        [--cases demo/default,lost/bigfeatures] [--no-baseline] [--faces 2]
        [--live-fps 60 --live-size 1920x1080]
    .venv/bin/python bench/eymo_e2e.py --gl-only [--frames 300]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import moderngl
import numpy as np
import numpy.typing as npt

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "mediapipe"))
sys.path.insert(0, str(ROOT / "scripts"))

from _common import reference_python, run_reference  # noqa: E402
from make_demo_media import write_lost_video  # noqa: E402

import calculators  # noqa: E402,F401  (registers the calculators)
import graphflow as gf  # noqa: E402
from calculators.eymo import draw_items, parse_file  # noqa: E402
from calculators.eymo.renderer import GlItemRenderer  # noqa: E402
from calculators.io.video import VideoReader, from_bgr  # noqa: E402
from graphflow.app.cli import FILE_MAX_IN_FLIGHT  # noqa: E402
from graphflow.gpu import GlContext, GpuBuffer, upload  # noqa: E402
from graphflow.gpu.buffer import Surface  # noqa: E402
from graphflow.gpu.transfer import MappedTransfers, ReadTicket  # noqa: E402
from graphflow.image_frame import ImageFrame  # noqa: E402
from graphflow.packet import Packet  # noqa: E402

CLIP = ROOT / "media/demo.mp4"
TWO_FACES_CLIP = ROOT / "media/two_faces.mp4"
LOST_CLIP = ROOT / "media/lost.mp4"  # made on demand: about 4 MB, not committed
CLIPS = {"demo": CLIP, "lost": LOST_CLIP, "two_faces": TWO_FACES_CLIP}
GRAPH = ROOT / "graphs/eymo.pbtxt"
SCRIPT = ROOT / "examples/default.eymo"
SCRIPTS = ("default", "bigfeatures")  # examples/NAME.eymo, and eymo_baseline.py --script NAME
CASES = tuple(f"{clip}/{script}" for clip in ("demo", "lost") for script in SCRIPTS)
LANDMARKS = ROOT / "tests/fixtures/face/clip_tracking.npz"
FPS = 30.0
FRAME_US = round(1e6 / FPS)
# Trace calculator names -> stage; the rest is the face mesh, but for the face detector's nodes
# (its subgraph's node names contain DETECTOR, as MediaPipe's prefixing rules make them).
STAGES = (
    ("upload", ("ImageFrameToGpuBufferCalculator",)),
    ("transform", ("EymoTransformCalculator",)),
    ("readback", ("GpuBufferToImageFrameCalculator",)),
    ("flow, every-Nth, fill", ("FlowLimiterCalculator", "EymoEveryNthCalculator",
                               "EymoLandmarkFillCalculator")),
)
DETECTOR = "facedetection"
# --gl-only rows of the graph's converters (ImageFrameToGpuBufferCalculator with the frames
# VideoReader gives, GpuBufferToImageFrameCalculator) and of a whole frame through them.
GRAPH_UPLOAD = ("upload as the graph's converter does it: the file reader's SRGB frame, "
                "widened into the upload buffer")
GRAPH_READBACK = "readback as the graph's converter does it (GpuBuffer.read_frame)"
GRAPH_FRAME = ("whole frame as the graph does it: converter upload (SRGB), transform, "
               "converter readback")


def clip_path(name: str) -> pathlib.Path:
    """The clip of a case, made first if it is the lost-face clip and missing."""
    path = CLIPS[name]
    if path == LOST_CLIP and not path.exists():
        print(f"(making {path.relative_to(ROOT)} with scripts/make_demo_media.py --lost)")
        write_lost_video(path)
    return path


def clip_frames(clip: pathlib.Path, count: int) -> Iterator[tuple[float, ImageFrame]]:
    """(decode seconds, frame) for `count` frames of the clip, looping it, decoded as
    ``graphflow run`` decodes a file: `VideoReader`'s SRGB ImageFrames."""
    reader = VideoReader(clip)
    frames = iter(reader)
    try:
        for _ in range(count):
            start = time.perf_counter()
            item = next(frames, None)
            if item is None:
                reader.close()
                reader = VideoReader(clip)
                frames = iter(reader)
                item = next(frames)
            yield time.perf_counter() - start, item[1]
    finally:
        reader.close()


def graph_config(trace_path: str | None) -> str:
    text = GRAPH.read_text()
    if trace_path is not None:
        text += f'\nprofiler_config {{ trace_enabled: true trace_log_path: "{trace_path}" }}\n'
    return text


def stage_times(trace: dict[str, Any], frames: int) -> tuple[dict[str, float], int]:
    """Milliseconds per frame of each stage, from the graph's Chrome trace, and the number
    of frames the face detector ran on."""
    per_calculator: collections.Counter[str] = collections.Counter()
    detector_us = 0.0
    detector_frames: set[str] = set()
    for event in trace["traceEvents"]:
        if event.get("ph") == "X" and event.get("cat") == "process":
            if DETECTOR in event["name"]:
                detector_us += event["dur"]
                if event["name"].endswith("ImageToTensorCalculator"):
                    # The detector's first node runs on the frames it is given; others of its
                    # nodes also run on timestamp bounds alone.
                    detector_frames.add(event["args"]["timestamp"])
            else:
                per_calculator[event["args"]["calculator"]] += event["dur"]
    out = {}
    named: set[str] = set()
    for stage, names in STAGES:
        out[stage] = sum(per_calculator[n] for n in names) / 1e3 / frames
        named.update(names)
    out["face detection (CPU)"] = detector_us / 1e3 / frames
    out["face mesh (CPU)"] = sum(v for k, v in per_calculator.items()
                                 if k not in named) / 1e3 / frames
    return out, len(detector_frames)


def run_file(clip: pathlib.Path, script: str, frames: int, renderer: str = "auto",
             ) -> dict[str, Any]:
    """graphflow, file in -> null out: fps, stage times, frames with a face and detector runs."""
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = os.path.join(tmp, "trace.json")
        graph = gf.CalculatorGraph(graph_config(trace_path))
        done = [0]
        faces = [0]
        graph.observe_output_stream("output_video", lambda _, packet: done.__setitem__(
            0, done[0] + 1))
        graph.observe_output_stream("face_landmarks", lambda _, packet: faces.__setitem__(
            0, faces[0] + bool(packet.payload)))
        decode = 0.0
        cpu = _cpu_seconds(resource.RUSAGE_SELF)
        start = time.perf_counter()
        graph.start_run({"script": str(ROOT / "examples" / f"{script}.eymo"),
                         "max_in_flight": FILE_MAX_IN_FLIGHT, "renderer": renderer})
        for i, (seconds, frame) in enumerate(clip_frames(clip, frames)):
            decode += seconds
            graph.add_packet_to_input_stream("input_video", Packet(frame).at(i * FRAME_US))
        graph.close_all_input_streams()
        graph.wait_until_done()
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu
        trace = json.loads(pathlib.Path(trace_path).read_text())
    if done[0] != frames:
        raise RuntimeError(f"graphflow output {done[0]} frames for {frames} input frames")
    stages, detector_frames = stage_times(trace, frames)
    return {"fps": frames / elapsed, "stages": {"decode (OpenCV)": decode * 1e3 / frames,
                                                 **stages},
            "cpu_ms": cpu * 1e3 / frames, "frames_with_face": faces[0],
            "detector_frames": detector_frames}


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_live(clip: pathlib.Path, script: str, frames: int,
             size: tuple[int, int] | None = None, fps: float = FPS) -> dict[str, Any]:
    """graphflow with frames added at `fps` (the clip's frames resized to `size`, if given),
    max_in_flight 1: latency of each output frame and the frames dropped."""
    graph = gf.CalculatorGraph(graph_config(None))
    sent: dict[int, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()

    def arrived(_: str, packet: Packet[Any]) -> None:
        now = time.perf_counter()
        with lock:
            latencies.append(now - sent[int(packet.timestamp)])

    graph.observe_output_stream("output_video", arrived)
    decoded = [frame if size is None else ImageFrame(np.ascontiguousarray(
        cv2.resize(frame.array, size))) for _, frame in clip_frames(clip, min(frames, 120))]
    frame_us = round(1e6 / fps)
    graph.start_run({"script": str(ROOT / "examples" / f"{script}.eymo"), "max_in_flight": 1})
    start = time.perf_counter()
    for i in range(frames):
        due = start + i / fps
        time.sleep(max(0.0, due - time.perf_counter()))
        with lock:
            sent[i * frame_us] = time.perf_counter()
        graph.add_packet_to_input_stream("input_video", Packet(
            decoded[i % len(decoded)]).at(i * frame_us))
    graph.close_all_input_streams()
    graph.wait_until_done()
    ms = sorted(x * 1e3 for x in latencies)
    return {"frames_out": len(ms), "median_ms": statistics.median(ms),
            "p95_ms": ms[min(len(ms) - 1, int(0.95 * len(ms)))]}


def run_baseline(clip: pathlib.Path, script: str, frames: int,
                 faces: int) -> dict[str, Any] | None:
    """bench/mediapipe/eymo_baseline.py's figures (FaceMesh following `faces` faces) and CPU
    time, or None without .venv-mp."""
    cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
    result = run_reference("eymo_baseline.py", ["--frames", str(frames), "--clip", str(clip),
                                                "--script", script, "--faces", str(faces)])
    if result is not None:
        result["cpu_ms"] = (_cpu_seconds(resource.RUSAGE_CHILDREN) - cpu) * 1e3 / frames
    return result


def table(rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def e2e(args: argparse.Namespace) -> None:
    if not args.no_baseline and reference_python() is None:
        print("(no reference venv: make .venv-mp with `bash scripts/mp_venv.sh`; no baseline)")
        args.no_baseline = True
    load_before = os.getloadavg()
    summary = []
    live: dict[str, Any] | None = None
    for case in args.cases:
        clip_name, script = case.split("/")
        clip = clip_path(clip_name)
        # The machine is shared: alternate the two sides and keep each side's best round.
        rounds = [(run_file(clip, script, args.frames, args.renderer),
                   None if args.no_baseline
                   else run_baseline(clip, script, args.frames, args.faces))
                  for _ in range(args.rounds)]
        ours = max((r[0] for r in rounds), key=lambda r: float(r["fps"]))
        bases = [r[1] for r in rounds if r[1] is not None]
        base = max(bases, key=lambda r: float(r["fps"])) if bases else None
        if live is None:
            live = run_live(clip, script, args.live_frames, args.live_size, args.live_fps)
        print_case(case, args, rounds, ours, base, live if case == args.cases[0] else None)
        # Each round's graphflow and baseline runs follow each other: their ratio is the
        # figure least moved by the load of the moment.
        ratios = [o["fps"] / b["fps"] for o, b in rounds if b is not None]
        summary.append(f"{case} " + (
            f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})"
            if ratios else f"n/a ({ours['fps']:.1f} fps)"))
    load_after = os.getloadavg()
    assert live is not None
    print(f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print("eymo_e2e: " + ", ".join(summary) + f"; live p95 {live['p95_ms']:.1f} ms")


def print_case(case: str, args: argparse.Namespace, rounds: list[Any], ours: dict[str, Any],
               base: dict[str, Any] | None, live: dict[str, Any] | None) -> None:
    """One case's table: stages, CPU time, frames with a face, fps, live latency."""
    fmt = "{:.2f}".format
    live_size = "" if args.live_size is None else " {}x{}".format(*args.live_size)
    rows = [("per frame, ms", "graphflow eymo", "MediaPipe + OpenCV")]
    for stage, ms in ours["stages"].items():
        rows.append((stage, fmt(ms), ""))
    if base is not None:
        rows += [("baseline decode", "", fmt(base["decode_ms"])),
                 ("baseline face mesh", "", fmt(base["face_mesh_ms"])),
                 ("baseline edits", "", fmt(base["edit_ms"]))]
    rows.append(("CPU time per frame, all threads (with start-up)", fmt(ours["cpu_ms"]),
                 "" if base is None else fmt(base["cpu_ms"])))
    rows.append(("frames with a face (graphflow: detector ran on)",
                 f"{ours['frames_with_face']} ({ours['detector_frames']})",
                 "" if base is None else str(base["frames_with_face"])))
    rows.append(("frames per second", f"{ours['fps']:.1f}",
                 "" if base is None else f"{base['fps']:.1f}"))
    if live is not None:
        rows.append((f"live {args.live_fps:g} fps{live_size}, latency median / p95 "
                     f"({live['frames_out']}/{args.live_frames} frames out)",
                     f"{live['median_ms']:.1f} / {live['p95_ms']:.1f}", ""))
    print(f"\neymo {case}: 1280x720 looped to {args.frames} frames, file in -> null out; "
          f"best of {args.rounds} alternating rounds per side; stage times are summed node "
          "times (they overlap)")
    print("rounds, fps (graphflow / baseline = ratio): " + ", ".join(
        f"{o['fps']:.1f}" + ("" if b is None else f" / {b['fps']:.1f} = {o['fps'] / b['fps']:.2f}")
        for o, b in rounds))
    print(table(rows))


def timed(gl: GlContext, fn: Callable[[int], Any], frames: int,
          clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Milliseconds of each call fn(i), GL work finished before each clock read.

    ``clock`` ``time.thread_time`` gives the GL thread's CPU time instead of the wall time.
    """

    def loop() -> list[float]:
        fn(0)
        gl.ctx.finish()
        out = []
        for i in range(frames):
            start = clock()
            fn(i)
            gl.ctx.finish()
            out.append((clock() - start) * 1e3)
        return out

    return gl.run(loop)


def draw(gl: GlContext, renderer: GlItemRenderer, source: moderngl.Texture,
         items: list[Any]) -> Surface:
    """``items`` drawn over ``source`` into a pooled 1080p surface (on the GL thread): the
    transform step of every whole-frame row."""
    surface = gl.pool.acquire(1920, 1080)
    framebuffer = surface.framebuffer(gl.ctx)
    framebuffer.use()
    renderer.render(source, framebuffer, items)
    return surface


def zero_copy(gl: GlContext, bgr: npt.NDArray[np.uint8], renderer: GlItemRenderer,
              items: Callable[[int], list[Any]], frames: int) -> dict[str, list[float]]:
    """Mapped transfers without the copies: the decoder's BGR -> RGBA conversion written
    into the mapped upload buffer, the readback handed out in its mapped buffer."""
    transfers = gl.run(lambda: gl.transfers)
    assert isinstance(transfers, MappedTransfers)
    bgr = np.ascontiguousarray(cv2.resize(bgr, (1920, 1080)))
    surface = gl.run(lambda: gl.pool.acquire(1920, 1080))

    def convert(view: npt.NDArray[np.uint8]) -> None:
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA, dst=view)

    def drawn(i: int) -> tuple[Surface, Surface]:
        # The decoder's conversion into the mapped upload buffer, then frame i's items drawn.
        source = gl.pool.acquire(1920, 1080)
        transfers.upload_with(source.texture, convert)
        return source, draw(gl, renderer, source.texture, items(i))

    def whole_frame(i: int) -> None:
        source, output = drawn(i)
        transfers.read_mapped(output.texture).release()  # the consumer is done at once
        gl.pool.recycle(source, None)
        gl.pool.recycle(output, None)

    def streamed(frames: int) -> list[float]:
        # The same, each readback handed out one frame later (its DMA overlaps the next
        # frame's upload and drawing): milliseconds per frame over the whole stream.
        pending = None
        start = time.perf_counter()
        for i in range(frames + 1):
            source, output = drawn(i)
            ticket = transfers.start_read(output.texture)
            gl.pool.recycle(source, gl.fences.fence())
            if pending is not None:
                transfers.finish_mapped(pending[0]).release()
                gl.pool.recycle(pending[1], None)
            pending = (ticket, output)
            if i == 0:
                start = time.perf_counter()  # the first frame warms up
        assert pending is not None
        transfers.finish_mapped(pending[0]).release()
        gl.pool.recycle(pending[1], None)
        return [(time.perf_counter() - start) * 1e3 / frames]

    return {
        "upload, the decoder's BGR -> RGBA then graphflow.gpu.upload": timed(
            gl, lambda i: upload(gl, np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA), np.uint8)),
            frames),
        "upload, BGR -> RGBA into the mapped buffer (upload_with)": timed(
            gl, lambda i: transfers.upload_with(surface.texture, convert), frames),
        "readback, mapped buffer handed out (read_mapped)": timed(
            gl, lambda i: transfers.read_mapped(surface.texture).release(), frames),
        "whole frame, zero-copy (BGR in, mapped frame out)": timed(gl, whole_frame, frames),
        "whole frame, zero-copy, streamed, readback handed out a frame later": gl.run(
            lambda: streamed(frames)),
    }


def gl_only(args: argparse.Namespace) -> None:
    capture = cv2.VideoCapture(str(CLIP))
    ok, bgr = capture.read()
    capture.release()
    if not ok:
        raise RuntimeError(f"OpenCV cannot decode {CLIP}")
    rgba = np.ascontiguousarray(cv2.cvtColor(cv2.resize(bgr, (1920, 1080)), cv2.COLOR_BGR2RGBA),
                                np.uint8)
    decoded = from_bgr(np.ascontiguousarray(cv2.resize(bgr, (1920, 1080))))  # as VideoReader
    faces = np.load(LANDMARKS)["mesh_landmarks"][:, :1]
    program = parse_file(SCRIPT)
    gl = GlContext("bench")
    try:
        renderer = gl.run(lambda: GlItemRenderer(gl.ctx))
        frame = gl.run(lambda: upload(gl, rgba))
        target = gl.run(lambda: gl.pool.acquire(1920, 1080))
        framebuffer = gl.run(lambda: target.framebuffer(gl.ctx))
        result = gl.run(lambda: GpuBuffer(gl, target))
        pixels = np.empty((1080, 1920, 4), np.uint8)

        def items(i: int) -> list[Any]:
            return draw_items(program, list(faces[i % len(faces)]), (1920, 1080), i * FRAME_US)

        def transformed(i: int, source_frame: npt.NDArray[np.uint8] | ImageFrame) -> GpuBuffer:
            # Upload, geometry, transform into a pooled texture. The uploaded buffer stays
            # held until the draw is done: dropped earlier, its surface would go back to the
            # pool and come out again as the draw's target (a texture drawn into while read).
            source = upload(gl, source_frame)
            return GpuBuffer(gl, draw(gl, renderer, source.texture_in(gl), items(i)))

        def whole_frame(i: int) -> None:
            transformed(i, rgba).read(pixels)

        def whole_frame_graph(i: int) -> None:
            # As the graph's converters do it: ImageFrameToGpuBufferCalculator's upload of the
            # file reader's SRGB frame, and GpuBufferToImageFrameCalculator's readback (with
            # mapped transfers the frame is the mapped buffer, given back as this null
            # consumer drops it).
            transformed(i, decoded).read_frame()

        def streamed(frames: int) -> list[float]:
            # A steady stream as the graph runs it, but each readback finished one frame
            # later (mapped transfers only): milliseconds per frame over the whole stream.
            transfers = gl.transfers
            if not isinstance(transfers, MappedTransfers):
                return []
            pending: tuple[ReadTicket, GpuBuffer] | None = None
            start = time.perf_counter()
            for i in range(frames + 1):
                output = transformed(i, rgba)
                ticket = transfers.start_read(output.texture_in(gl))
                if pending is not None:
                    transfers.finish_read(pending[0], pixels)
                pending = (ticket, output)
                if i == 0:
                    start = time.perf_counter()  # the first frame warms up
            assert pending is not None
            transfers.finish_read(pending[0], pixels)
            return [(time.perf_counter() - start) * 1e3 / frames]

        precomputed = [items(i) for i in range(len(faces))]
        results = {
            "geometry, draw_items (CPU)": timed(gl, items, args.frames),
            "transform (GL)": timed(gl, lambda i: renderer.render(
                frame.texture_in(gl), framebuffer, precomputed[i % len(precomputed)]),
                args.frames),
            "upload (graphflow.gpu.upload, RGBA frame)": timed(
                gl, lambda i: upload(gl, rgba), args.frames),
            GRAPH_UPLOAD: timed(gl, lambda i: upload(gl, decoded), args.frames),
            "readback (GpuBuffer.read)": timed(gl, lambda i: result.read(pixels), args.frames),
            GRAPH_READBACK: timed(
                gl, lambda i: result.read_frame(), args.frames),
            "whole frame (RGBA upload, copying readback)": timed(gl, whole_frame, args.frames),
            GRAPH_FRAME: timed(gl, whole_frame_graph, args.frames),
        }
        stream = gl.run(lambda: streamed(args.frames))
        if stream:
            results["whole frame, streamed, readback finished a frame later"] = stream
        results["glFinish alone, nothing queued (each row's clock read has one)"] = timed(
            gl, lambda i: None, args.frames)
        results["transform, the frame copy alone (no items)"] = timed(
            gl, lambda i: renderer.render(frame.texture_in(gl), framebuffer, []), args.frames)
        results["transform (GL), CPU time of the GL thread"] = timed(
            gl, lambda i: renderer.render(frame.texture_in(gl), framebuffer,
                                          precomputed[i % len(precomputed)]),
            args.frames, time.thread_time)
        if gl.run(lambda: isinstance(gl.transfers, MappedTransfers)):
            results.update(zero_copy(gl, np.asarray(bgr, np.uint8), renderer, items,
                                     args.frames))
        renderer_name = gl.renderer
        transfers_name = gl.run(lambda: gl.transfers.name)
        gl.run(renderer.release)
    finally:
        gl.shutdown()
    rows = [("1920x1080, ms per frame", "median", "p95")]
    for name, ms in results.items():
        ms.sort()
        rows.append((name, f"{statistics.median(ms):.3f}", f"{ms[int(0.95 * len(ms))]:.3f}"))
    print(f"eymo GL side, {SCRIPT.name}, {args.frames} frames, {renderer_name}")
    print(table(rows))
    transform = statistics.median(results["transform (GL)"])
    geometry = statistics.median(results["geometry, draw_items (CPU)"])
    whole = statistics.median(results["whole frame (RGBA upload, copying readback)"])
    whole_graph = statistics.median(results[GRAPH_FRAME])
    stream_ms = results.get("whole frame, streamed, readback finished a frame later")
    print(f"eymo_e2e --gl-only: transform {transform:.3f} ms per 1080p frame, with the geometry "
          f"{transform + geometry:.3f} ms, with upload and readback {whole:.3f} ms"
          + (f" ({stream_ms[0]:.3f} streamed)" if stream_ms else "")
          + f", {whole_graph:.3f} as the graph does it, on {renderer_name}")
    up, down = (statistics.median(results[name]) for name in (GRAPH_UPLOAD, GRAPH_READBACK))
    print(f"graph converters (the file reader's SRGB frame): upload {up:.3f} + transform "
          f"{transform:.3f} + read_frame {down:.3f} = {up + transform + down:.3f} ms; a whole "
          f"frame as the graph does it {whole_graph:.3f} ms ({transfers_name} transfers)")
    if "readback, mapped buffer handed out (read_mapped)" in results:
        up, down = (statistics.median(results[name]) for name in (
            "upload, BGR -> RGBA into the mapped buffer (upload_with)",
            "readback, mapped buffer handed out (read_mapped)"))
        print(f"zero-copy GL side: upload_with {up:.3f} + transform {transform:.3f} + "
              f"read_mapped {down:.3f} = {up + transform + down:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=None,
                        help="frames to process (default 600; --gl-only: 300)")
    parser.add_argument("--live-frames", type=int, default=150,
                        help="frames of the live-paced run (default 150)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds of graphflow and the baseline (default 2)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the MediaPipe baseline")
    parser.add_argument("--cases", default=None,
                        help=f"comma-separated CLIP/SCRIPT cases (default: {','.join(CASES)}; "
                             "with --faces 2: two_faces/default)")
    parser.add_argument("--gl-only", action="store_true",
                        help="time the GL side of a 1080p frame only")
    parser.add_argument("--live-fps", type=float, default=FPS,
                        help="frame rate of the live-paced run (default 30)")
    parser.add_argument("--live-size", type=lambda text: tuple(map(int, text.split("x"))),
                        default=None, help="WxH: the live run's frames resized (e.g. 1920x1080)")
    parser.add_argument("--renderer", choices=("auto", "gl", "cpu"), default="auto",
                        help="eymo's renderer (the graph's `renderer` side packet)")
    parser.add_argument("--faces", type=int, choices=(1, 2), default=1,
                        help="2: the baseline with max_num_faces=2 and, without --cases, "
                             "two_faces/default")
    args = parser.parse_args()
    default_cases = ",".join(CASES) if args.faces == 1 else "two_faces/default"
    args.cases = (args.cases or default_cases).split(",")
    known = [f"{clip}/{script}" for clip in CLIPS for script in SCRIPTS]
    unknown = [case for case in args.cases if case not in known]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if args.gl_only:
        args.frames = args.frames or 300
        gl_only(args)
    else:
        args.frames = args.frames or 600
        e2e(args)


if __name__ == "__main__":
    main()
