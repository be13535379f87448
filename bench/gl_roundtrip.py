"""GL round trip: upload an RGBA frame, run N shader passes, read it back.

Needs numpy, moderngl (headless EGL) and graphflow's GPU layer. For each size and transfer
mode it prints the median time of each stage, each followed by glFinish (so the stages add up
to more than a round trip), the GPU time of the passes alone (``GL_TIME_ELAPSED`` query), the
median round trip of one frame with a single sync at the readback, and for the streaming
modes the time per frame of a steady stream and each frame's latency (upload start to pixels
in the destination array). The last line is the 1080p figure: the best time per frame.

Modes:
- ``direct``: ``graphflow.gpu.transfer.DirectTransfers`` (numpy memory straight to GL);
- ``pbo``: moderngl's pixel buffer objects (``Buffer.write`` then ``Texture.write(buffer)``);
- ``mapped``: ``MappedTransfers``, persistently mapped pixel buffers, one frame at a time;
- ``pipelined``: ``MappedTransfers`` streaming on one context: frame N+1 is uploaded and
  frame N shaded while frame N-``lag``'s readback DMA is in flight (``start_read`` now,
  ``finish_read`` ``lag`` frames later);
- ``threaded``: three shared contexts on their own threads (graphflow ``GlContext``s):
  uploads on one, passes on one, readbacks on one, ordered by GL fences, so that the
  drivers may overlap the transfers (copy engines) with the passes;
- ``graph``: a graphflow graph, ``ImageFrameToGpuBufferCalculator``, the passes as
  ``GlSimpleCalculator`` nodes, ``GpuBufferToImageFrameCalculator`` (the context's own
  transfer strategy, ``GRAPHFLOW_GL_TRANSFER`` to force one): latency of lone frames, time
  per frame of a stream (``max_queue_size: 3``).

``--copy-threads`` splits the copies between numpy and mapped memory over threads (``auto``:
the library's default, a quarter of the CPUs, at most 4). Nothing is
allocated per frame: textures, framebuffers, pixel buffers and destination arrays are made
once.

Usage:
    python bench/gl_roundtrip.py [--frames 60] [--passes 4] [--sizes 720p,1080p]
        [--modes direct,pbo,mapped,pipelined,threaded] [--lag 1] [--copy-threads auto,1,4]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import statistics
import time
from collections.abc import Callable

import moderngl
import numpy as np

import calculators.gpu.converters  # noqa: F401 (registers the converters)
import graphflow as gf
from graphflow.gpu import (
    GlContext,
    GlSimpleCalculator,
    compile_program,
    load_shader,
    shader_from_string,
)
from graphflow.gpu.transfer import DirectTransfers, MappedTransfers, ReadTicket

SIZES = {"480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
MODES = ("direct", "pbo", "mapped", "pipelined", "threaded", "graph")

# A typical colour pass: saturation (around Rec. 601 luma, glsl/lib/color.glsl) and brightness.
FRAGMENT = shader_from_string("""
#version 330 core
#include "lib/color.glsl"
uniform sampler2D u_texture;
uniform float saturation;
uniform float brightness;
in vec2 uv;
out vec4 color;
void main() {
    vec4 c = texture(u_texture, uv);
    color = vec4(adjust_saturation(c.rgb, saturation) * brightness, c.a);
}
""", "bench colour pass")

SATURATION, BRIGHTNESS = 1.1, 0.95
SLOTS = 3  # frames in flight in the streaming modes: sources and target pairs per frame


def colour_program(ctx: moderngl.Context) -> moderngl.Program:
    """The colour pass, with graphflow's ``fullscreen.vert``."""
    program = compile_program(ctx, load_shader("fullscreen.vert"), FRAGMENT)
    program["saturation"].value = SATURATION  # type: ignore[union-attr]
    program["brightness"].value = BRIGHTNESS  # type: ignore[union-attr]
    return program


@gf.register_calculator
class BenchColourCalculator(GlSimpleCalculator):
    """The colour pass as a graph node."""

    def gl_setup(self, cc: gf.CalculatorContext, gl: GlContext) -> None:
        self._program = colour_program(gl.ctx)
        self._vao = self.fullscreen(self._program)

    def gl_render(self, cc: gf.CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def gl_teardown(self, cc: gf.CalculatorContext, gl: GlContext) -> None:
        self._program.release()


def graph_config(passes: int) -> str:
    """ImageFrame -> GPU -> ``passes`` colour passes -> ImageFrame."""
    nodes = ['node { calculator: "ImageFrameToGpuBufferCalculator" '
             'input_stream: "in" output_stream: "gpu0" }']
    nodes += [f'node {{ calculator: "BenchColourCalculator" input_stream: "gpu{i}" '
              f'output_stream: "gpu{i + 1}" }}' for i in range(passes)]
    nodes.append(f'node {{ calculator: "GpuBufferToImageFrameCalculator" '
                 f'input_stream: "gpu{passes}" output_stream: "out" }}')
    return 'input_stream: "in"\noutput_stream: "out"\nmax_queue_size: 3\n' + "\n".join(nodes)


def stream_graph(frames: list[np.ndarray], outs: list[np.ndarray], count: int,
                 passes: int) -> tuple[float, float]:
    """Streams ``count`` frames through the graph; returns (ms per frame, median latency ms).

    The latency is that of single frames (each waited for before the next); the time per
    frame that of a stream of frames fed as fast as the graph takes them.
    """
    images = [gf.ImageFrame(f) for f in frames]
    arrived: list[float] = []
    results: list[np.ndarray] = []

    def observe(name: str, packet: gf.Packet[gf.ImageFrame]) -> None:
        arrived.append(time.perf_counter())
        results.append(np.asarray(packet.payload))

    graph = gf.CalculatorGraph(graph_config(passes))
    graph.observe_output_stream("out", observe)
    graph.start_run()
    latencies = []
    for i in range(count // 4 + 3):
        began = time.perf_counter()
        graph.add_packet_to_input_stream("in", gf.Packet(images[i % 2]).at(i))
        graph.wait_until_idle()
        latencies.append(arrived[-1] - began)
    start = time.perf_counter()
    first = len(arrived)
    for i in range(count // 4 + 3, count // 4 + 3 + count):
        graph.add_packet_to_input_stream("in", gf.Packet(images[i % 2]).at(i))
    graph.close_all_input_streams()
    graph.wait_until_done()
    per_frame = (arrived[-1] - start) / (len(arrived) - first) * 1e3
    for i, result in enumerate(results[-2:], len(results) - 2):
        outs[i % 2][...] = result
    return per_frame, statistics.median(latencies[3:]) * 1e3


class Shader:
    """The textures and program of one frame size: ``SLOTS`` sources and target pairs."""

    def __init__(self, ctx: moderngl.Context, width: int, height: int, passes: int) -> None:
        self.ctx = ctx
        self.passes = passes
        self.sources = [ctx.texture((width, height), 4) for _ in range(SLOTS)]
        self.targets = [[ctx.texture((width, height), 4) for _ in range(2)]
                        for _ in range(SLOTS)]
        self.framebuffers = [[ctx.framebuffer(color_attachments=[t]) for t in pair]
                             for pair in self.targets]
        self.program = colour_program(ctx)
        self.vao = ctx.vertex_array(self.program, [])

    def shade(self, slot: int = 0) -> moderngl.Texture:
        """Runs the passes from ``sources[slot]``; returns the texture with the result."""
        src = self.sources[slot]
        for i in range(self.passes):
            self.framebuffers[slot][i % 2].use()
            src.use(0)
            self.vao.render(moderngl.TRIANGLES, vertices=3)
            src = self.targets[slot][i % 2]
        return src

    def release(self) -> None:
        self.vao.release()
        self.program.release()
        for pair in self.framebuffers:
            for fbo in pair:
                fbo.release()
        for texture in (*self.sources, *(t for pair in self.targets for t in pair)):
            texture.release()


class Moves:
    """Uploads and readbacks of one mode on one context (all but ``threaded``)."""

    def __init__(self, ctx: moderngl.Context, mode: str, copy_threads: int | None,
                 frame_bytes: int) -> None:
        self.mode = mode
        self.direct = DirectTransfers(ctx)
        self.mapped = MappedTransfers(ctx, depth=SLOTS, copy_threads=copy_threads)
        self.upload_pbo = ctx.buffer(reserve=frame_bytes)
        self.read_pbo = ctx.buffer(reserve=frame_bytes)

    def upload(self, texture: moderngl.Texture, frame: np.ndarray) -> None:
        if self.mode == "direct":
            self.direct.upload(texture, frame)
        elif self.mode == "pbo":
            self.upload_pbo.write(frame)
            texture.write(self.upload_pbo)
        else:
            self.mapped.upload(texture, frame)

    def read(self, texture: moderngl.Texture, out: np.ndarray) -> None:
        if self.mode == "direct":
            self.direct.read(texture, out)
        elif self.mode == "pbo":
            texture.read_into(self.read_pbo)
            self.read_pbo.read_into(out)
        else:
            self.mapped.read(texture, out)

    def release(self) -> None:
        self.mapped.release()
        self.upload_pbo.release()
        self.read_pbo.release()


def median_ms(ctx: moderngl.Context, fn: Callable[[], object], frames: int) -> float:
    """Median wall time of ``fn`` + glFinish over ``frames`` runs (after 3 warm-up runs)."""
    for _ in range(3):
        fn()
        ctx.finish()
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        fn()
        ctx.finish()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def gpu_ms(ctx: moderngl.Context, fn: Callable[[], object], frames: int) -> float:
    """Median GPU time (``GL_TIME_ELAPSED``) of the commands ``fn`` issues."""
    query = ctx.query(time=True)
    times = []
    for _ in range(frames):
        with query:
            fn()
        times.append(query.elapsed / 1e6)
    return statistics.median(times)


def measure_stages(shader: Shader, moves: Moves, frames: list[np.ndarray],
                   outs: list[np.ndarray], count: int) -> tuple[float, float, float, float, float]:
    """Median ms of upload, passes, passes on the GPU, readback, one whole frame.

    Leaves frame i's result in ``outs[i]``.
    """
    ctx, source = shader.ctx, shader.sources[0]
    up = median_ms(ctx, lambda: moves.upload(source, frames[0]), count)
    shade = median_ms(ctx, shader.shade, count)
    gpu = gpu_ms(ctx, shader.shade, count)
    result = shader.shade()
    read = median_ms(ctx, lambda: moves.read(result, outs[0]), count)

    def one_frame() -> None:
        moves.upload(source, frames[0])
        moves.read(shader.shade(), outs[0])

    single = median_ms(ctx, one_frame, count)
    moves.upload(source, frames[1])
    moves.read(shader.shade(), outs[1])
    return up, shade, gpu, read, single


def stream_pipelined(shader: Shader, moves: Moves, frames: list[np.ndarray],
                     outs: list[np.ndarray], count: int, lag: int) -> tuple[float, float]:
    """Streams ``count`` frames on one context; returns (ms per frame, median latency ms).

    Frame i goes to ``outs[i % len(outs)]`` (the caller checks them afterwards).
    """
    pending: list[tuple[int, ReadTicket, float]] = []
    latencies = []
    start = time.perf_counter()
    for i in range(count + lag):
        if i < count:
            began = time.perf_counter()
            slot = i % SLOTS
            moves.mapped.upload(shader.sources[slot], frames[i % len(frames)])
            pending.append((i, moves.mapped.start_read(shader.shade(slot)), began))
        if i >= lag:
            j, ticket, began = pending.pop(0)
            moves.mapped.finish_read(ticket, outs[j % len(outs)])
            latencies.append(time.perf_counter() - began)
    return (time.perf_counter() - start) / count * 1e3, statistics.median(latencies) * 1e3


class Threaded:
    """Three contexts of one share group: uploads, passes and readbacks, each on its thread."""

    def __init__(self, width: int, height: int, passes: int, copy_threads: int | None) -> None:
        self.render = GlContext("bench-render")
        self.up = GlContext("bench-upload")
        self.rd = GlContext("bench-read")
        if not self.up.group is self.render.group is self.rd.group:
            raise RuntimeError("EGL refused to share objects between the contexts")
        self.shader = self.render.run(lambda: Shader(self.render.ctx, width, height, passes))
        self.up_moves = self.up.run(
            lambda: MappedTransfers(self.up.ctx, depth=SLOTS, copy_threads=copy_threads))
        self.rd_moves = self.rd.run(
            lambda: MappedTransfers(self.rd.ctx, depth=SLOTS, copy_threads=copy_threads))

    def stream(self, frames: list[np.ndarray], outs: list[np.ndarray], count: int,
               lag: int) -> tuple[float, float]:
        """Streams ``count`` frames; returns (ms per frame, median latency ms)."""
        up, render, rd = self.up, self.render, self.rd

        def upload(i: int) -> int:
            self.up_moves.upload(self.shader.sources[i % SLOTS], frames[i % len(frames)])
            return up.fences.fence()

        def shade(i: int, uploaded: concurrent.futures.Future[int]) -> tuple[moderngl.Texture, int]:
            render.fences.wait(uploaded.result())
            texture = self.shader.shade(i % SLOTS)
            return texture, render.fences.fence()

        def start_read(
                shaded: concurrent.futures.Future[tuple[moderngl.Texture, int]]) -> ReadTicket:
            texture, fence = shaded.result()
            rd.fences.wait(fence)
            return self.rd_moves.start_read(texture)

        def finish_read(i: int, ticket: concurrent.futures.Future[ReadTicket],
                        began: float) -> float:
            self.rd_moves.finish_read(ticket.result(), outs[i % len(outs)])
            return time.perf_counter() - began

        done: list[concurrent.futures.Future[float]] = []
        start = time.perf_counter()
        for i in range(count):
            if i >= lag + SLOTS - 1:
                done[i - lag - SLOTS + 1].result()  # keep at most SLOTS frames in flight
            began = time.perf_counter()
            uploaded = up.run_async(functools.partial(upload, i))
            shaded = render.run_async(functools.partial(shade, i, uploaded))
            ticket = rd.run_async(functools.partial(start_read, shaded))
            done.append(rd.run_async(functools.partial(finish_read, i, ticket, began)))
        latencies = [d.result() for d in done]
        return (time.perf_counter() - start) / count * 1e3, statistics.median(latencies) * 1e3

    def release(self) -> None:
        self.up.run(self.up_moves.release)
        self.rd.run(self.rd_moves.release)
        self.render.run(self.shader.release)
        for gl in (self.up, self.rd, self.render):
            gl.shutdown()


def expected_result(frame: np.ndarray, passes: int) -> np.ndarray:
    """The passes computed with numpy (float32), RGB only."""
    rgb = frame[..., :3].astype(np.float32)
    for _ in range(passes):
        y = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        rgb = np.clip((y[..., None] + (rgb - y[..., None]) * SATURATION) * BRIGHTNESS, 0, 255)
    return rgb


def main() -> None:
    """Runs the benchmark and prints the table and the final figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="timed frames per measurement")
    parser.add_argument("--passes", type=int, default=4, help="shader passes per frame")
    parser.add_argument("--sizes", default="720p,1080p", help=f"comma list of {list(SIZES)}")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma list of {MODES}")
    parser.add_argument("--lag", type=int, default=1,
                        help="streaming modes: frames between a readback's start and finish")
    parser.add_argument("--copy-threads", default="auto",
                        help="comma list: threads per copy to/from mapped memory, or 'auto' "
                             "for MappedTransfers' default")
    args = parser.parse_args()
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; expected some of {MODES}")
    thread_counts = [None if t == "auto" else int(t) for t in args.copy_threads.split(",")]

    ctx = moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
    renderer = f"{ctx.info['GL_RENDERER']}"
    print(f"GL renderer: {renderer} ({ctx.info['GL_VENDOR']}, {ctx.info['GL_VERSION']})")
    print(f"{'size':>6} {'mode':>12} {'upload':>7} {f'{args.passes} passes':>9} {'(GPU)':>6} "
          f"{'readback':>8} {'1 frame':>8} {'per frame':>9} {'latency':>8}"
          f"   (ms, medians of {args.frames})")
    best: dict[str, tuple[float, str, float]] = {}
    for size in args.sizes.split(","):
        width, height = SIZES[size]
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (height, width, 4), np.uint8) for _ in range(2)]
        outs = [np.empty_like(f) for f in frames]
        references: list[np.ndarray] | None = None
        shader = Shader(ctx, width, height, args.passes)
        for mode in modes:
            for threads in thread_counts if mode not in ("direct", "pbo", "graph") else [None]:
                label = mode if threads is None else f"{mode}/t{threads}"
                up = shade = gpu = read = single = float("nan")
                if mode == "graph":
                    per_frame, latency = stream_graph(frames, outs, args.frames, args.passes)
                elif mode == "threaded":
                    bench = Threaded(width, height, args.passes, threads)
                    bench.stream(frames, outs, 10, args.lag)
                    per_frame, latency = bench.stream(frames, outs, args.frames, args.lag)
                    bench.release()
                else:
                    moves = Moves(ctx, mode, threads, width * height * 4)
                    up, shade, gpu, read, single = measure_stages(
                        shader, moves, frames, outs, args.frames)
                    per_frame = latency = single
                    if mode == "pipelined":
                        stream_pipelined(shader, moves, frames, outs, 10, args.lag)
                        per_frame, latency = stream_pipelined(
                            shader, moves, frames, outs, args.frames, args.lag)
                    moves.release()
                print(f"{size:>6} {label:>12} {up:7.3f} {shade:9.3f} {gpu:6.3f} {read:8.3f} "
                      f"{single:8.3f} {per_frame:9.3f} {latency:8.3f}", flush=True)
                if size not in best or per_frame < best[size][0]:
                    best[size] = (per_frame, label, latency)
                # Every mode must give the very same bytes, and those the shaded frames.
                if references is None:
                    references = [o.copy() for o in outs]
                    for frame, out in zip(frames, outs, strict=True):
                        error = np.abs(out[..., :3] - expected_result(frame, args.passes)).max()
                        if error > args.passes * 1.5 or not (out[..., 3] == frame[..., 3]).all():
                            raise SystemExit(f"wrong result at {size}: max error {error:.1f}")
                elif not all(np.array_equal(o, r) for o, r in zip(outs, references, strict=True)):
                    raise SystemExit(f"{label} at {size} gave other pixels than {modes[0]}")
        shader.release()
    final = "1080p" if "1080p" in best else next(iter(best))
    per_frame, label, latency = best[final]
    print(f"{final} upload + {args.passes} passes + readback: {per_frame:.3f} ms per frame "
          f"({label}, latency {latency:.3f} ms; {renderer})")
    ctx.release()


if __name__ == "__main__":
    main()
