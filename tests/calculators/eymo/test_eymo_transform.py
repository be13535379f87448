"""The GL transform against the numpy/OpenCV reference renderer, in graphs, and its companions."""

import dataclasses
import logging
import pathlib
import threading
from collections.abc import Callable, Iterator

import cv2
import moderngl
import numpy as np
import numpy.typing as npt
import pytest

import graphflow as gf
from calculators.eymo import DrawItem, draw_items, parse, parse_file
from calculators.eymo import renderer as renderer_module
from calculators.eymo.reference import render
from calculators.eymo.renderer import DEPTH_LAYERS, GlItemRenderer
from calculators.eymo.transform import face_arrays, script_path
from graphflow.formats import NormalizedLandmarkList
from graphflow.gpu import GlContext, GlState, upload
from graphflow.gpu.transfer import TRANSFER_ENV
from graphflow.image_frame import ImageFrame
from graphflow.packet import Packet
from graphflow.testing import run_graph

ROOT = pathlib.Path(__file__).resolve().parents[3]
W, H = 320, 200  # not square: rotations must keep their shape in pixels

GRAPH = """
input_stream: "in"
input_stream: "faces"
output_stream: "out"
input_side_packet: "script"
input_side_packet: "renderer"
node { calculator: "ImageFrameToGpuBufferCalculator" input_stream: "in" output_stream: "gpu" }
node { calculator: "EymoTransformCalculator" input_stream: "VIDEO:gpu"
       input_stream: "LANDMARKS:faces" input_side_packet: "SCRIPT:script"
       input_side_packet: "RENDERER:renderer" output_stream: "VIDEO:gpu_out" }
node { calculator: "GpuBufferToImageFrameCalculator" input_stream: "gpu_out"
       output_stream: "out" }
"""


@pytest.fixture(scope="module")
def real_face() -> np.ndarray:
    """MediaPipe's landmarks of the demo clip's first frame (1280x720), normalized."""
    return np.load(ROOT / "tests/fixtures/face/clip_tracking.npz")["mesh_landmarks"][0, 0]


def synthetic_face(real: np.ndarray, centre: tuple[float, float], height: float,
                   degrees: float) -> np.ndarray:
    """A real face's landmarks turned, scaled and moved in pixels, normalized for W x H."""
    px = real[:, :2] * (1280, 720)
    px = px - px.mean(axis=0)
    turn = np.radians(degrees)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    px = px @ rotation.T * (height / np.ptp(px[:, 1])) + np.multiply(centre, (W, H))
    return np.column_stack([px / (W, H), real[:, 2]]).astype(np.float32)


def synthetic_frame(seed: int, channels: int = 3) -> npt.NDArray[np.uint8]:
    """Smooth colour gradients plus noise: every region looks different from every other."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([x * 255 / W, y * 255 / H, (x + y) * 255 / (W + H)], axis=-1)
    image = np.clip(base + rng.normal(0, 25, (H, W, 3)), 0, 255).astype(np.uint8)
    if channels == 4:
        image = np.dstack([image, rng.integers(0, 256, (H, W), np.uint8)])
    return image


def write_script(tmp_path: pathlib.Path, text: str, name: str = "fx.eymo") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_transform(script: str, frames: list[np.ndarray], faces: list[list[np.ndarray]],
                  timestamps: list[int], renderer: str = "gl") -> list[np.ndarray]:
    out = run_graph(
        GRAPH,
        inputs={
            "in": [(t, ImageFrame(f)) for t, f in zip(timestamps, frames, strict=True)],
            "faces": [(t, fs) for t, fs in zip(timestamps, faces, strict=True) if fs],
        },
        side_packets={"script": script, "renderer": renderer},
    )
    assert [int(p.timestamp) for p in out["out"]] == timestamps
    return [np.asarray(p.payload) for p in out["out"]]


def assert_matches_reference(out: np.ndarray, expected: np.ndarray) -> None:
    """GL output vs the reference: equal up to rounding (8-bit blending, bilinear weights)."""
    assert out.shape[:2] == expected.shape[:2]
    diff = np.abs(out[..., :3].astype(int) - expected[..., :3].astype(int))
    assert diff.max() <= 3, np.argwhere(diff > 3)[:10]
    assert (diff > 1).mean() < 0.01


def assert_close_to_reference(out: np.ndarray, image: np.ndarray,
                              items: list[DrawItem]) -> None:
    """CPU renderer output vs the reference: equal up to rounding away from the outlines; on
    the feathered edge (its distance transform is within about half a pixel of the exact
    distance) much closer to the reference than the same items drawn with hard edges."""
    expected = render(image, items)
    edge = np.zeros(out.shape[:2], np.uint8)
    for item in items:
        for offset in item.offsets:
            ring = np.round((item.dst + offset - 0.5) * 16).astype(np.int32)
            width = int(np.ceil(2 * (item.feather + 2)))
            cv2.polylines(edge, [ring], True, 1, width, cv2.LINE_8, 4)
    diff = np.abs(out[..., :3].astype(int) - expected[..., :3].astype(int)).max(axis=2)
    away = edge == 0
    if away.any():
        assert diff[away].max() <= 3, np.argwhere((diff > 3) & away)[:10]
        assert (diff[away] > 1).mean() < 0.01
    # Hard edges are off by half the colour step on average along the band; the CPU
    # renderer's alpha (off by 0.1-0.2 on average where the feather is 1-3 pixels) by less.
    hard = render(image, [dataclasses.replace(item, feather=1e-3) for item in items])
    hard_diff = np.abs(hard[..., :3].astype(int) - expected[..., :3].astype(int)).max(axis=2)
    assert diff[~away].mean() < 0.8 * hard_diff[~away].mean(), (
        diff[~away].mean(), hard_diff[~away].mean())


OPERATIONS = [
    ("leye: scale(2.5)", 0),
    ("mouth: rotate(30)", 0),
    ("leye_region: spin(0.5)", 400_000),
    ("nose: drift(300, 30)", 1_300_000),
    ("mouth: translate(25, -15)", 0),
    ("leye_region: flip(horizontal)", 0),
    ("mouth: flip(vertical)", 0),
    ("reye_region: flip(both)", 0),
    ("mouth: reshape(1.4, 0.8, 1, 1.3)", 0),
    ("leye: scale(0.8), tile", 0),
    ("mouth: copy_to(leye_region, rect(0 0 0.2 0.2))", 0),
    ("leye_region: swap_with(mouth), scale(1.2)", 0),
    ("face: brighten(1.5)", 0),
    ("face: saturate(0.2)", 0),
    ("forehead: channels(1.3, 0.4, 0.9)", 0),
    ("rect(0.3 0.3 0.4 0.3): rotate(45), saturate(2)", 0),
    ("mouth: swap_with(mouth+1), scale(1.3)", 0),
    ("mouth#1: copy_to(reye#0)", 0),
]


@pytest.mark.parametrize("renderer", ["gl", "cpu"])
@pytest.mark.parametrize(("script", "t_us"), OPERATIONS)
def test_each_operation_matches_the_reference(
    script: str, t_us: int, renderer: str, real_face: np.ndarray, tmp_path: pathlib.Path
) -> None:
    faces = [synthetic_face(real_face, (0.3, 0.5), 150, 12),
             synthetic_face(real_face, (0.72, 0.45), 120, -20)]
    image = synthetic_frame(len(script), channels=4)
    (out,) = run_transform(write_script(tmp_path, script), [image], [faces], [t_us], renderer)
    items = draw_items(parse(script), faces, (W, H), t_us)
    expected = render(image, items)
    if renderer == "gl":
        assert_matches_reference(out, expected)
    else:
        assert_close_to_reference(out, image, items)
    np.testing.assert_array_equal(out[..., 3], image[..., 3])
    image = image[..., :3]
    changed = (out[..., :3] != image).any(axis=2)
    assert changed.sum() > 100  # the statement did something
    inside = np.zeros((H, W), bool)
    for item in items:
        x0, y0, x1, y1 = item.bbox
        inside[y0:y1, x0:x1] = True
    assert not changed[~inside].any()  # and nothing outside its boxes


def test_the_cpu_renderer_draws_an_srgb_frame_as_the_same_frame_widened(
        real_face: np.ndarray, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # On a software GL renderer with its own (direct) transfers an SRGB frame reaches the
    # renderer as it is (widened once, as the frame drawn on). With GRAPHFLOW_GL_TRANSFER=mapped
    # it would be uploaded as on a GPU and, holding no ImageFrame, drawn with GL: pinned here.
    monkeypatch.setenv(TRANSFER_ENV, "direct")
    faces = [synthetic_face(real_face, (0.3, 0.5), 150, 12),
             synthetic_face(real_face, (0.72, 0.45), 120, -20)]
    script = write_script(tmp_path, "leye: scale(2.5), saturate(1.3), brighten(1.2)\n"
                                    "mouth: swap_with(mouth+1), channels(1.3, 0.4, 0.9)\n"
                                    "nose: reshape(2, 1, 1.2, 0.8)\n")
    rgb = synthetic_frame(3)
    rgba = np.dstack([rgb, np.full((H, W), 255, np.uint8)])
    out_rgb, out_rgba = run_transform(script, [rgb, rgba], [faces, faces], [0, 1], "cpu")
    np.testing.assert_array_equal(out_rgb, run_transform(script, [rgba], [faces], [0], "cpu")[0])
    assert (out_rgb != rgba).any(axis=2).sum() > 500
    assert_close_to_reference(out_rgba, rgba, draw_items(parse_file(script), faces, (W, H), 1))


@pytest.mark.parametrize("renderer", ["gl", "cpu"])
def test_rgba_alpha_is_kept_and_no_face_draws_only_rects(
    renderer: str, real_face: np.ndarray, tmp_path: pathlib.Path
) -> None:
    image = synthetic_frame(7, channels=4)
    script = write_script(tmp_path, "leye: scale(3)\nrect(0.1 0.1 0.3 0.3): brighten(0.5)")
    (out,) = run_transform(script, [image], [[]], [0], renderer)
    np.testing.assert_array_equal(out[..., 3], image[..., 3])
    items = draw_items(parse_file(script), [], (W, H), 0)
    if renderer == "gl":
        assert_matches_reference(out, render(image, items))
    else:
        assert_close_to_reference(out, image, items)
    changed = (out != image).any(axis=2)
    # rect x 32..128, y 20..80; the feather (1.9 px) keeps the edge pixels close to the original.
    assert changed[22:78, 34:126].all() and changed.sum() == changed[20:80, 32:128].sum()


@pytest.mark.parametrize("renderer", ["gl", "cpu"])
def test_frames_with_nothing_to_draw_are_the_input_frames(
    renderer: str, real_face: np.ndarray, tmp_path: pathlib.Path
) -> None:
    """No face for a script of parts: the frame goes on untouched, without a copy."""
    images = [ImageFrame(synthetic_frame(s, channels=4)) for s in (3, 4)]
    faces = [[], [synthetic_face(real_face, (0.5, 0.5), 150, 0)]]
    out = run_graph(GRAPH, inputs={"in": [(t, image) for t, image in enumerate(images)],
                                   "faces": [(1, faces[1])]},
                    side_packets={"script": write_script(tmp_path, "leye: scale(3)"),
                                  "renderer": renderer})
    first, second = (p.payload for p in out["out"])
    assert first is images[0]
    assert second is not images[1]
    items = draw_items(parse("leye: scale(3)"), faces[1], (W, H), 1)
    if renderer == "gl":
        assert_matches_reference(np.asarray(second), render(np.asarray(images[1]), items))
    else:
        assert_close_to_reference(np.asarray(second), np.asarray(images[1]), items)


def test_auto_draws_on_the_cpu_where_the_gl_renderer_is_software_and_rejects_others(
    real_face: np.ndarray, tmp_path: pathlib.Path, gl_context: GlContext
) -> None:
    graph = GRAPH.replace('output_stream: "out"',
                          'output_stream: "out"\noutput_stream: "gpu_out"', 1)
    faces = [synthetic_face(real_face, (0.5, 0.5), 150, 0)]
    script = write_script(tmp_path, "leye: scale(3)")
    for renderer, on_cpu in (("auto", gl_context.software), ("gl", False), ("cpu", True)):
        out = run_graph(graph, inputs={"in": [(0, ImageFrame(synthetic_frame(1, 4)))],
                                       "faces": [(0, faces)]},
                        side_packets={"script": script, "renderer": renderer})
        (packet,) = out["gpu_out"]
        # The CPU renderer sends its drawing on as a deferred buffer; GL as a texture.
        assert packet.payload.is_deferred is on_cpu, renderer
        assert out["out"][0].payload is packet.payload.frame or not on_cpu
    with pytest.raises(Exception, match="RENDERER must be one of auto, gl, cpu, got 'vulkan'"):
        run_graph(graph, inputs={"in": [(0, ImageFrame(synthetic_frame(1, 4)))]},
                  side_packets={"script": script, "renderer": "vulkan"})


def test_drawing_stays_inside_the_item_box(gl_context: GlContext) -> None:
    """A mesh larger than its box (the scissor) changes only the box, as the reference does."""
    image = synthetic_frame(8, channels=4)
    square = np.array([[40, 20], [280, 20], [280, 180], [40, 180]], np.float32)
    item = DrawItem(src=square, dst=square[::-1].copy(), triangles=np.array([[0, 1, 2], [0, 2, 3]],
                    np.int32), offsets=np.zeros((1, 2), np.float32), bbox=(100, 50, 200, 120),
                    feather=4.0, brightness=0.5)
    out = gl_context.run(lambda: render_gl(gl_context, image, [item]))
    expected = render(image, [item])
    assert_matches_reference(out, expected)
    outside = np.ones((H, W), bool)
    outside[50:120, 100:200] = False
    np.testing.assert_array_equal(out[outside], image[outside])
    assert (out[60:110, 110:190] != image[60:110, 110:190]).any(axis=2).all()


def test_on_a_gpu_no_finish_is_needed_before_the_readback(
        monkeypatch: pytest.MonkeyPatch, real_face: np.ndarray, tmp_path: pathlib.Path) -> None:
    """With a GPU's renderer name the renderer calls no glFinish: the graph's readback still
    gets the drawing."""
    monkeypatch.setattr(renderer_module, "is_software_renderer", lambda name: False)
    faces = [synthetic_face(real_face, (0.5, 0.5), 150, 10)]
    image = synthetic_frame(5, channels=4)
    script = "leye: scale(3)\nmouth: brighten(1.5)"
    (out,) = run_transform(write_script(tmp_path, script), [image], [faces], [0], "gl")
    assert_matches_reference(out, render(image, draw_items(parse(script), faces, (W, H), 0)))


def test_the_renderer_leaves_culling_blending_and_depth_as_it_found_them(
    gl_context: GlContext, real_face: np.ndarray
) -> None:
    """State set before drawing neither changes the drawing nor is changed by it."""
    image = synthetic_frame(11, channels=4)
    faces = [synthetic_face(real_face, (0.5, 0.5), 150, 10)]
    items = draw_items(parse("leye: scale(2), rotate(20)\nmouth: brighten(1.5)"), faces,
                       (W, H), 0)

    states: list[GlState] = []

    def set_state(ctx: moderngl.Context) -> None:
        ctx.enable_only(moderngl.CULL_FACE | moderngl.BLEND | moderngl.DEPTH_TEST)
        ctx.cull_face = "front_and_back"
        ctx.blend_func = moderngl.ZERO, moderngl.ONE
        ctx.blend_equation = moderngl.MIN  # type: ignore[assignment]
        ctx.depth_func = "0"
        states.append(GlState.read())

    out = gl_context.run(lambda: render_gl(gl_context, image, items, set_state,
                                           lambda _: states.append(GlState.read())))
    assert_matches_reference(out, render(image, items))
    before, after = states
    assert after == before


def test_marks_of_earlier_items_and_frames_never_leak(gl_context: GlContext,
                                                      real_face: np.ndarray) -> None:
    """Each item marks its band with a depth of its own and the marks are never cleared
    between items: frames drawn past DEPTH_LAYERS items, alternating two scripts over the same
    place, still match the reference."""
    image = synthetic_frame(12, channels=4)
    faces = [synthetic_face(real_face, (0.5, 0.5), 150, 10)]
    scripts = [draw_items(parse("leye: scale(3)\nmouth: brighten(1.5)"), faces, (W, H), 0),
               draw_items(parse("leye: scale(2.5), rotate(30)"), faces, (W, H), 0)]

    def run() -> list[np.ndarray]:
        renderer = GlItemRenderer(gl_context.ctx)
        frame = upload(gl_context, image)
        target = gl_context.pool.acquire(W, H)
        out = []
        try:
            frames = DEPTH_LAYERS * 2 // 3 + 4  # 1.5 items a frame: past DEPTH_LAYERS items
            for i in range(frames):
                renderer.render(frame.texture_in(gl_context), target.framebuffer(gl_context.ctx),
                                scripts[i % 2])
                if i in (0, 1, frames - 2, frames - 1):
                    pixels = np.empty((H, W, 4), np.uint8)
                    target.texture.read_into(pixels, alignment=1)
                    out.append(pixels)
        finally:
            gl_context.pool.recycle(target, None)
            renderer.release()
        return out

    outs = gl_context.run(run)
    for i, out in enumerate(outs):
        assert_matches_reference(out, render(image, scripts[i % 2]))


def render_gl(gl: GlContext, image: np.ndarray, items: list[DrawItem],
              before: Callable[[moderngl.Context], None] = lambda ctx: None,
              after: Callable[[moderngl.Context], None] = lambda ctx: None) -> np.ndarray:
    """Renders with GlItemRenderer, calling before(ctx) and after(ctx) around the render."""
    renderer = GlItemRenderer(gl.ctx)
    try:
        frame = upload(gl, image)
        target = gl.pool.acquire(image.shape[1], image.shape[0])
        before(gl.ctx)
        renderer.render(frame.texture_in(gl), target.framebuffer(gl.ctx), items)
        after(gl.ctx)
        out = np.empty((image.shape[0], image.shape[1], 4), np.uint8)
        target.texture.read_into(out, alignment=1)
        gl.pool.recycle(target, None)
        return out
    finally:
        renderer.release()


@pytest.fixture
def gl_context() -> Iterator[GlContext]:
    context = GlContext("eymo-test")
    yield context
    context.shutdown()


@pytest.mark.parametrize("renderer", ["gl", "cpu"])
def test_real_frame_with_the_default_script_matches_the_reference(renderer: str) -> None:
    capture = cv2.VideoCapture(str(ROOT / "media/demo.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    image = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)
    faces = list(np.load(ROOT / "tests/fixtures/face/clip_tracking.npz")["mesh_landmarks"][0, :1])
    t_us = 2_500_000
    out = run_graph(
        GRAPH.replace('input_side_packet: "SCRIPT:script"', ""),  # the default script
        inputs={"in": [(t_us, ImageFrame(image))], "faces": [(t_us, faces)]},
        side_packets={"renderer": renderer},
    )["out"][0].payload
    items = draw_items(parse_file(ROOT / "examples/default.eymo"), faces, (1280, 720), t_us)
    if renderer == "gl":
        assert_matches_reference(np.asarray(out), render(image, items))
    else:
        assert_close_to_reference(np.asarray(out), image, items)


def test_the_script_reloads_in_a_running_graph(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    script = write_script(tmp_path, "rect(0.25 0.25 0.5 0.5): brighten(0.5)")
    image = synthetic_frame(9)
    results: list[np.ndarray] = []
    arrived = threading.Semaphore(0)

    def collect(_: str, packet: Packet) -> None:
        results.append(np.asarray(packet.payload))
        arrived.release()

    graph = gf.CalculatorGraph(GRAPH.replace('output_stream: "VIDEO:gpu_out"',
                                             'output_stream: "VIDEO:gpu_out" '
                                             'output_stream: "STATUS:status"')
                               + 'output_stream: "status"')
    statuses: list[tuple[int, str]] = []
    graph.observe_output_stream("out", collect)
    graph.observe_output_stream("status", lambda _, p: statuses.append((int(p.timestamp),
                                                                           p.payload)))
    graph.start_run({"script": script})

    def frame(t_us: int) -> np.ndarray:
        graph.add_packet_to_input_stream("in", Packet(ImageFrame(image)).at(t_us))
        graph.add_packet_to_input_stream("faces", Packet([]).at(t_us))
        assert arrived.acquire(timeout=30)
        return results[-1][..., :3]

    try:
        first = frame(0)
        pathlib.Path(script).write_text("rect(0.25 0.25 0.5 0.5): channels(0, 1, 1)  // new\n")
        second = frame(1000)
        with caplog.at_level(logging.ERROR):
            pathlib.Path(script).write_text("rect(0.25 0.25 0.5 0.5): chanels(1, 1, 0)\n")
            third = frame(2000)
        fourth = frame(3000)  # no change: no status
    finally:
        graph.close_all_input_streams()
        graph.wait_until_done()
    centre = (slice(60, 140), slice(100, 220))
    np.testing.assert_allclose(first[centre], np.round(image[centre] * 0.5), atol=1)
    assert (second[centre][..., 0] == 0).all()
    np.testing.assert_array_equal(second[centre][..., 1:], image[centre][..., 1:])
    np.testing.assert_array_equal(third, second)  # the broken script keeps the last good one
    np.testing.assert_array_equal(fourth, second)
    assert "Did you mean 'channels'?" in caplog.text
    name = pathlib.Path(script).name
    assert statuses[:2] == [(0, name), (1000, f"{name} (reload 1)")]
    ((when, text),) = statuses[2:]
    assert when == 2000 and text.startswith(f"{name}: ") and "unknown operation 'chanels'" in \
        text and text.endswith("(running the last good version)")


def test_a_broken_script_stops_the_graph_with_its_position(tmp_path: pathlib.Path) -> None:
    script = write_script(tmp_path, "leye: scale(2)\nmouht: brighten(2)\n", "broken.eymo")
    message = r"broken\.eymo:2:1: unknown part 'mouht'\. Did you mean 'mouth'\?"
    with pytest.raises(Exception, match=message):
        run_transform(script, [synthetic_frame(0)], [[]], [0])


FILL_GRAPH = """
        input_stream: "frames"
        input_stream: "mesh_landmarks"
        output_stream: "measured"
        output_stream: "landmarks"
        input_side_packet: "every"
        node { calculator: "EymoEveryNthCalculator" input_stream: "frames"
               input_side_packet: "EVERY:every" output_stream: "measured" }
        node { calculator: "EymoLandmarkFillCalculator" input_stream: "FRAME:frames"
               input_stream: "MEASURED:measured" input_stream: "LANDMARKS:mesh_landmarks"
               output_stream: "LANDMARKS:landmarks" }
    """


def mesh_face(left: float, top: float = 0.3) -> np.ndarray:
    """(468, 3) landmarks spread over a 0.1 x 0.1 box whose top left corner is (left, top)."""
    spread = np.linspace(0.0, 0.1, 468, dtype=np.float32)
    return np.column_stack([left + spread, top + spread[::-1], np.zeros(468, np.float32)])


def test_every_nth_frame_goes_to_the_face_mesh_and_landmarks_are_predicted_between() -> None:
    ts = [0, 10, 20, 30, 40, 50, 60, 70]
    base = mesh_face(0.0)
    # Measured at 0, 30, 60: one face moving right by 0.03 per measurement, none at 60.
    mesh = [(0, [base]), (30, [base + np.array([0.03, 0, 0], np.float32)])]
    out = run_graph(FILL_GRAPH, inputs={"frames": [(t, t) for t in ts], "mesh_landmarks": mesh},
                    side_packets={"every": 3})
    assert [int(p.timestamp) for p in out["measured"]] == [0, 30, 60]
    assert [int(p.timestamp) for p in out["landmarks"]] == ts
    counts = [len(p.payload) for p in out["landmarks"]]
    xs = [float(face[0, 0]) for p in out["landmarks"] for face in p.payload]
    # 10, 20: only one measurement, held; 40, 50: moving on at 0.001/us; 70: no face at 60.
    assert counts == [1, 1, 1, 1, 1, 1, 0, 0]
    assert xs == pytest.approx([0, 0, 0, 0.03, 0.04, 0.05])


def test_filled_faces_keep_their_numbers_and_move_on_at_their_own_speed() -> None:
    ts = [0, 10, 20, 30, 40, 50]
    left, right = mesh_face(0.2), mesh_face(0.6)
    step = np.array([0.03, 0, 0], np.float32)
    # The tracker lists the faces in another order at 30; the left one moves right, the
    # right one stays; at 30 a third face appears between them.
    mesh = [(0, [left, right]), (30, [right, mesh_face(0.45, 0.6), left + step])]
    out = run_graph(FILL_GRAPH, inputs={"frames": [(t, t) for t in ts], "mesh_landmarks": mesh},
                    side_packets={"every": 3})
    lefts = [[round(float(f[0, 0]), 4) for f in p.payload] for p in out["landmarks"]]
    # Numbered left to right; face 1 from 30 on is the new one (held: one measurement).
    assert lefts == [[0.2, 0.6]] * 3 + [[0.23, 0.45, 0.6], [0.24, 0.45, 0.6], [0.25, 0.45, 0.6]]


def test_every_nth_rejects_bad_values() -> None:
    with pytest.raises(Exception, match="EVERY must be an integer >= 1, got 0"):
        run_graph('input_stream: "a" node { calculator: "EymoEveryNthCalculator" '
                  'input_stream: "a" input_side_packet: "EVERY:n" output_stream: "b" }',
                  inputs={"a": [(0, 1)]}, side_packets={"n": 0})


def test_landmarks_payloads_in_every_form_become_face_arrays() -> None:
    first = np.random.default_rng(1).uniform(0, 1, (468, 3)).astype(np.float32)
    second = first + 0.5
    as_list = NormalizedLandmarkList(first)
    assert face_arrays(None) == []
    for payload, expected in (
        (as_list, [first]),
        ([as_list, NormalizedLandmarkList(second)], [first, second]),
        (first, [first]),
        (np.stack([first, second]), [first, second]),
        ([], []),
    ):
        got = face_arrays(payload)
        assert len(got) == len(expected)
        for face, want in zip(got, expected, strict=True):
            np.testing.assert_array_equal(face, want)
    with pytest.raises(ValueError, match=r"LANDMARKS face 1: expected \(N, 3\) normalized "
                       r"landmarks, got shape \(4,\)"):
        face_arrays([first, np.zeros(4)])


def test_the_default_script_is_the_design_example() -> None:
    assert script_path(None) == script_path("")
    assert script_path(None).read_text() == (ROOT / "examples/default.eymo").read_text()
    assert script_path("fx.eymo") == pathlib.Path("fx.eymo")
