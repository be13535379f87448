"""GlSimpleCalculator and GlShaderCalculator in graphs, against numpy references."""

import dataclasses
import os
import pathlib
import threading
from typing import Any, ClassVar

import moderngl
import numpy as np
import pytest
from glkit import TestInvertCalculator

import graphflow as gf
from graphflow.gpu import (
    GlContext,
    GlShaderCalculator,
    GlSimpleCalculator,
    GlState,
    require_current,
)
from graphflow.image_frame import ImageFrame
from graphflow.proto.mediapipe.calculators.util import rect_transformation_calculator_pb2
from graphflow.testing import run_graph

HERE = pathlib.Path(__file__).parent / "glsl"


def _graph(node: str, extra: str = "") -> str:
    return f"""
        input_stream: "in"
        output_stream: "out"
        {extra}
        node {{ calculator: "ImageFrameToGpuBufferCalculator" input_stream: "in"
               output_stream: "gpu_in" }}
        {node}
        node {{ calculator: "GpuBufferToImageFrameCalculator" input_stream: "gpu_out"
               output_stream: "out" }}
    """


def _frames(h: int, w: int, n: int = 2, channels: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(h * 1000 + w)
    return [rng.integers(0, 256, (h, w, channels), np.uint8) for _ in range(n)]


def _run(graph: str, frames: list[np.ndarray], **kwargs: Any) -> list[np.ndarray]:
    out = run_graph(graph, inputs={"in": [(i * 1000, ImageFrame(f)) for i, f in
                                          enumerate(frames)]}, **kwargs)
    assert [int(p.timestamp) for p in out["out"]] == [i * 1000 for i in range(len(frames))]
    return [np.asarray(p.payload) for p in out["out"]]


@gf.register_calculator
class TestRenderInvertCalculator(TestInvertCalculator):
    """The same on a second GL context, "render"."""

    executor = "gl:render"


@gf.register_calculator
class TestCropCalculator(GlSimpleCalculator):
    """Output (x, y) = input (x + 1, y + 2): one column and two rows smaller."""

    shader_dirs = (HERE,)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width - 1, height - 2

    def gl_setup(self, cc: gf.CalculatorContext, gl: GlContext) -> None:
        self.quad = self.fullscreen(self.program(gl, "crop.frag"))

    def gl_render(self, cc: gf.CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        self.quad.render(vertices=3)


@gf.register_calculator
class TestDownscaleCalculator(TestCropCalculator):
    """Half size, sampled with linear filtering at uv."""

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        return width // 2, height // 2

    def gl_setup(self, cc: gf.CalculatorContext, gl: GlContext) -> None:
        self.quad = self.fullscreen(self.program(gl, "downscale.frag"))


@gf.register_calculator
class TestEveryOtherInvertCalculator(TestInvertCalculator):
    """Inverts frames at even timestamps; sends the others on as they are."""

    def gl_prepare(self, cc: gf.CalculatorContext, frame: gf.GpuBuffer) -> bool:
        return int(cc.timestamp) % 2 == 0


@gf.register_calculator
class TestScaleShiftCalculator(GlShaderCalculator):
    """rgb * GAIN * scale_x + shift_x; luma in alpha."""

    fragment_shader = "scale_shift.frag"
    shader_dirs = (HERE,)
    options_type = rect_transformation_calculator_pb2.RectTransformationCalculatorOptions
    input_side_packets = (gf.Port("GAIN", tuple),)


@gf.register_calculator
class TestBrokenShaderCalculator(GlShaderCalculator):
    """Its shader includes a file with a compile error."""

    fragment_shader = "broken.frag"
    shader_dirs = (HERE,)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (7, 13), (37, 23)])
def test_invert_matches_numpy_on_odd_sizes_and_runs_on_the_gl_thread(h: int, w: int) -> None:
    TestInvertCalculator.threads.clear()
    frames = _frames(h, w)
    results = _run(_graph('node { calculator: "TestInvertCalculator" input_stream: "gpu_in" '
                          'output_stream: "gpu_out" }'), frames)
    for frame, result in zip(frames, results, strict=True):
        expected = frame.copy()
        expected[..., :3] = 255 - frame[..., :3]
        assert np.abs(result.astype(int) - expected).max() <= 1
    assert TestInvertCalculator.threads == {"gl:default"}


def test_rgb_frames_are_uploaded_as_opaque_rgba() -> None:
    (frame,) = _frames(5, 9, n=1, channels=3)
    (result,) = _run(_graph('node { calculator: "TestInvertCalculator" input_stream: "gpu_in" '
                            'output_stream: "VIDEO:gpu_out" }'), [frame])
    assert result.shape == (5, 9, 4)
    assert np.abs(result[..., :3].astype(int) - (255 - frame)).max() <= 1
    assert (result[..., 3] == 255).all()


def test_a_frame_not_prepared_for_rendering_is_sent_on_as_it_is() -> None:
    frames = _frames(5, 6, n=4)
    images = [ImageFrame(f) for f in frames]
    graph = _graph('node { calculator: "TestEveryOtherInvertCalculator" input_stream: "gpu_in" '
                   'output_stream: "gpu_out" }',
                   'output_stream: "gpu_in" output_stream: "gpu_out"')
    out = run_graph(graph, inputs={"in": [(i, image) for i, image in enumerate(images)]})
    for i, (frame, image) in enumerate(zip(frames, images, strict=True)):
        sent, result = out["gpu_out"][i].payload, out["out"][i].payload
        if i % 2:
            assert sent is out["gpu_in"][i].payload and result is image  # no draw, no readback
        else:
            assert sent is not out["gpu_in"][i].payload
            expected = frame.copy()
            expected[..., :3] = 255 - frame[..., :3]
            assert np.abs(np.asarray(result).astype(int) - expected).max() <= 1


def test_output_size_and_row_order_follow_the_image() -> None:
    (frame,) = _frames(11, 7, n=1)
    (result,) = _run(_graph('node { calculator: "TestCropCalculator" input_stream: "VIDEO:gpu_in" '
                            'output_stream: "gpu_out" }'), [frame])
    np.testing.assert_array_equal(result, frame[2:, 1:])


def test_uv_sampling_averages_two_by_two_blocks_within_one_lsb() -> None:
    (frame,) = _frames(18, 26, n=1)
    (result,) = _run(_graph('node { calculator: "TestDownscaleCalculator" '
                            'input_stream: "gpu_in" output_stream: "gpu_out" }'), [frame])
    blocks = frame.reshape(9, 2, 13, 2, 4).astype(float).mean(axis=(1, 3))
    assert result.shape == (9, 13, 4)
    assert np.abs(result - blocks).max() <= 1.0


def test_shader_uniforms_come_from_options_and_side_packets() -> None:
    (frame,) = _frames(9, 15, n=1)
    node = """node { calculator: "TestScaleShiftCalculator" input_stream: "gpu_in"
                     output_stream: "gpu_out" input_side_packet: "GAIN:gain"
                     options { [mediapipe.RectTransformationCalculatorOptions.ext] {
                       scale_x: 0.5 shift_x: 0.25 } } }"""
    (result,) = _run(_graph(node, 'input_side_packet: "gain"'), [frame],
                     side_packets={"gain": (1.0, 0.5, 2.0)})
    rgb = frame[..., :3].astype(float) / 255
    expected_rgb = np.clip(rgb * np.array([1.0, 0.5, 2.0]) * 0.5 + 0.25, 0, 1) * 255
    expected_alpha = rgb @ np.array([0.299, 0.587, 0.114]) * 255
    assert np.abs(result[..., :3] - expected_rgb).max() <= 1.0
    assert np.abs(result[..., 3] - expected_alpha).max() <= 1.0


def test_two_contexts_in_one_graph_share_textures() -> None:
    TestInvertCalculator.threads.clear()
    frames = _frames(6, 10, n=3)
    node = """node { calculator: "TestRenderInvertCalculator" input_stream: "gpu_in"
                     output_stream: "gpu_mid" }
              node { calculator: "TestInvertCalculator" input_stream: "gpu_mid"
                     output_stream: "gpu_out" }"""
    results = _run(_graph(node), frames)
    for frame, result in zip(frames, results, strict=True):
        assert np.abs(result.astype(int) - frame).max() <= 1  # inverted twice
    assert TestInvertCalculator.threads == {"gl:render", "gl:default"}


@pytest.mark.parametrize(("streams", "kind"), [
    ('input_stream: "VIDEO:a" input_stream: "b" output_stream: "c"', "input"),
    ('input_stream: "a" output_stream: "VIDEO:c" output_stream: "d"', "output"),
])
def test_a_node_must_connect_one_video_or_untagged_stream_each_way(streams: str,
                                                                   kind: str) -> None:
    message = rf"node TestInvertCalculator: .*connect exactly one {kind} stream, tagged VIDEO:"
    with pytest.raises(gf.ConfigError, match=message):
        gf.CalculatorGraph(graph_config='input_stream: "a" input_stream: "b" node { '
                                        f'calculator: "TestInvertCalculator" {streams} }}')


def _gl_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("gl:")}


def test_a_failing_shader_names_file_and_line_and_stops_the_graph() -> None:
    before = _gl_threads()
    with pytest.raises(Exception, match=r"broken_lib\.glsl:4:.*undeclared_factor") as info:
        _run(_graph('node { calculator: "TestBrokenShaderCalculator" input_stream: "gpu_in" '
                    'output_stream: "gpu_out" }'), _frames(4, 4), timeout=10)
    assert "TestBrokenShaderCalculator" in str(info.value)
    assert _gl_threads() <= before  # the run's GL context thread is gone


def test_a_gl_calculator_off_its_gl_thread_fails_clearly() -> None:
    class PoolThreadInvert(TestInvertCalculator):
        executor = None

    gf.register_calculator(PoolThreadInvert)
    with pytest.raises(Exception, match="must run on a GL context's thread"):
        _run(_graph('node { calculator: "PoolThreadInvert" input_stream: "gpu_in" '
                    'output_stream: "gpu_out" }'), _frames(2, 2), timeout=10)


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_thousand_frames_keep_texture_count_and_memory_stable() -> None:
    counts: list[int] = []

    @gf.register_calculator
    class TestCountTexturesCalculator(TestInvertCalculator):
        def gl_render(self, cc: gf.CalculatorContext, gl: GlContext, src: moderngl.Texture,
                      dst: moderngl.Framebuffer) -> None:
            super().gl_render(cc, gl, src, dst)
            counts.append(gl.pool.texture_count)

    frame = ImageFrame(_frames(48, 64, n=1)[0])
    graph = gf.CalculatorGraph(graph_config=_graph(
        'node { calculator: "TestCountTexturesCalculator" input_stream: "gpu_in" '
        'output_stream: "gpu_out" }', "max_queue_size: 4"))
    rss: list[int] = []
    seen: list[int] = []

    def observe(name: str, packet: gf.Packet[Any]) -> None:
        seen.append(int(packet.timestamp))
        if len(seen) in (200, 1000):
            rss.append(_rss_bytes())

    graph.observe_output_stream("out", observe)
    graph.start_run()
    for i in range(1000):
        graph.add_packet_to_input_stream("in", gf.Packet(frame).at(i))
    graph.close_all_input_streams()
    graph.wait_until_done()
    assert seen == list(range(1000))
    assert max(counts) <= 16  # bounded by the queues, not by the number of frames
    assert rss[1] - rss[0] < 8 * 2**20  # one leaked 48x64 frame per packet would be 9.8 MB


def test_gl_context_options_pick_the_context() -> None:
    TestInvertCalculator.threads.clear()
    node = """node { calculator: "TestInvertCalculator" input_stream: "gpu_in"
                     output_stream: "gpu_out"
                     options { [mediapipe.GlContextOptions.ext] { gl_context_name: "infer" } } }"""
    (frame,) = _frames(3, 5, n=1)
    (result,) = _run(_graph(node), [frame])
    assert np.abs(result[..., :3].astype(int) - (255 - frame[..., :3])).max() <= 1
    assert TestInvertCalculator.threads == {"gl:infer"}


# A state unlike moderngl's defaults, set before the node runs, and the node's own changes.
_FOUND = {"enable": moderngl.PROGRAM_POINT_SIZE, "blend_func": (moderngl.ONE, moderngl.ZERO),
          "blend_equation": moderngl.FUNC_SUBTRACT, "depth_func": "<=", "cull_face": "front",
          "front_face": "cw"}
_CHANGED = {"enable": moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE
            | moderngl.RASTERIZER_DISCARD,
            "blend_func": (moderngl.DST_COLOR, moderngl.ONE_MINUS_SRC_ALPHA),
            "blend_equation": moderngl.MAX, "depth_func": "0", "cull_face": "front_and_back",
            "front_face": "ccw"}


def _set_state(ctx: moderngl.Context, state: dict[str, Any]) -> None:
    ctx.enable_only(state["enable"])
    for name in ("blend_func", "blend_equation", "depth_func", "cull_face", "front_face"):
        setattr(ctx, name, state[name])


@gf.register_calculator
class TestStateProbeCalculator(gf.Calculator):
    """On the GL thread: sets _FOUND when told to, then records the state; passes frames on."""

    inputs = (gf.Port("", object),)
    outputs = (gf.Port("", object),)
    input_side_packets = (gf.Port("SET", bool, optional=True),)
    executor = "gl"
    timestamp_offset = 0
    seen: ClassVar[list[tuple[GlState, Any, tuple[int, ...], str, str]]] = []

    def process(self, cc: gf.CalculatorContext) -> None:
        ctx = require_current("probe").ctx
        if cc.side_inputs.get("SET", False):
            probe = ctx.framebuffer([ctx.texture((5, 3), 4)])  # a bound framebuffer of its own
            probe.use()
            _set_state(ctx, _FOUND)
            ctx.fbo_for_test = probe  # type: ignore[attr-defined]  # kept alive for the run
        # moderngl's own view of the state, next to what the driver reports.
        type(self).seen.append((GlState.read(), ctx.fbo, ctx.viewport, ctx.cull_face,
                                ctx.front_face))
        cc.outputs[0].add_packet(cc.inputs[0])


@gf.register_calculator
class TestStateChangingCalculator(TestInvertCalculator):
    """Inverts with every state it can change set otherwise (the draw comes first)."""

    during: ClassVar[list[GlState]] = []

    def gl_render(self, cc: gf.CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        super().gl_render(cc, gl, src, dst)
        ctx = gl.ctx
        _set_state(ctx, _CHANGED)
        dst.scissor = (0, 0, 1, 1)
        dst.color_mask = (False, True, False, True)
        dst.depth_mask = True
        dst.use()
        other = ctx.texture((2, 2), 4)
        other.use(3)
        other.use(0)
        type(self).during.append(GlState.read())
        other.release()


def test_a_gl_calculator_leaves_the_context_state_as_it_found_it() -> None:
    TestStateProbeCalculator.seen.clear()
    TestStateChangingCalculator.during.clear()
    frames = _frames(7, 9, n=1)  # one frame: the probes and the node run in graph order
    nodes = """node { calculator: "TestStateProbeCalculator" input_stream: "gpu_in"
                      output_stream: "gpu_a" input_side_packet: "SET:set" }
               node { calculator: "TestStateChangingCalculator" input_stream: "gpu_a"
                      output_stream: "gpu_b" }
               node { calculator: "TestStateProbeCalculator" input_stream: "gpu_b"
                      output_stream: "gpu_c" }
               node { calculator: "TestCropCalculator" input_stream: "gpu_c"
                      output_stream: "gpu_out" }"""
    (result,) = _run(_graph(nodes, 'input_side_packet: "set"'), frames,
                     side_packets={"set": True})
    # The last node drew normally into a new texture, unaffected by culling, discard, depth,
    # blending or masks.
    inverted = frames[0].copy()
    inverted[..., :3] = 255 - frames[0][..., :3]
    assert np.abs(result.astype(int) - inverted[2:, 1:]).max() <= 1
    seen = TestStateProbeCalculator.seen
    during = TestStateChangingCalculator.during
    assert len(seen) == 2 and len(during) == 1
    before, after = seen
    assert after == before
    state = before[0]
    assert state.viewport == (0, 0, 5, 3) and not state.scissor_test
    assert before[3:] == ("front", "cw")
    assert before[1].glo == state.draw_framebuffer  # moderngl and the driver agree
    # Every field the node changed reads differently inside (the reader sees the driver).
    differing = {f.name for f in dataclasses.fields(GlState)
                 if getattr(during[0], f.name) != getattr(state, f.name)}
    assert differing == {f.name for f in dataclasses.fields(GlState)}
