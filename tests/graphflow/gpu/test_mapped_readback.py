"""ImageFrames backed by mapped readback buffers: pixels, lifetime, threads, the bound.

Mapped transfers are forced on whatever renderer runs the tests (llvmpipe here: it has the
GL 4.5 buffer storage they use).
"""

import logging
import pickle
import threading
from collections.abc import Iterator

import glkit  # noqa: F401 - registers TestInvertCalculator
import numpy as np
import pytest

import graphflow as gf
from graphflow.gpu import GlContext, GpuBuffer, upload
from graphflow.gpu.buffer import MappedImageFrame
from graphflow.gpu.transfer import MAX_HELD_ENV, TRANSFER_ENV, MappedTransfers
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph


@gf.register_calculator
class TestHeldKindCalculator(gf.Calculator):
    """Sends on, per frame, whether its pixels are a mapped buffer (the array's base)."""

    inputs = (gf.Port("", ImageFrame),)
    outputs = (gf.Port("", bool),)

    def process(self, cc: gf.CalculatorContext) -> None:
        frame = cc.inputs[0].payload
        cc.outputs[0].add(type(frame.array.base).__name__ == "_HeldPixels")


GRAPH = """
input_stream: "in"
output_stream: "out"
output_stream: "mapped"
node { calculator: "ImageFrameToGpuBufferCalculator" input_stream: "in" output_stream: "a" }
node { calculator: "TestInvertCalculator" input_stream: "a" output_stream: "b" }
node { calculator: "GpuBufferToImageFrameCalculator" input_stream: "b" output_stream: "out" }
node { calculator: "TestHeldKindCalculator" input_stream: "out" output_stream: "mapped" }
"""


def _frames(n: int, h: int = 9, w: int = 14, channels: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(n * 100 + channels)
    return [rng.integers(0, 256, (h, w, channels), np.uint8) for _ in range(n)]


@pytest.fixture
def mapped_gl(monkeypatch: pytest.MonkeyPatch) -> Iterator[GlContext]:
    monkeypatch.setenv(TRANSFER_ENV, "mapped")
    context = GlContext("mapped")
    yield context
    context.shutdown()


def _buffer(gl: GlContext, pixels: np.ndarray) -> GpuBuffer:
    """A GpuBuffer without a frame of its own: read_frame must read the texture back."""
    buffer = gl.run(lambda: upload(gl, pixels[..., :3]))
    assert buffer.frame is None
    return buffer


def _mapped(gl: GlContext) -> MappedTransfers:
    transfers = gl.run(lambda: gl.transfers)
    assert isinstance(transfers, MappedTransfers)
    return transfers


def _held(gl: GlContext) -> int:
    return _mapped(gl).held_count


@pytest.mark.parametrize("channels", [3, 4])
def test_a_graph_gives_the_pixels_of_the_copying_readback(
        monkeypatch: pytest.MonkeyPatch, channels: int) -> None:
    frames = _frames(4, channels=channels)
    inputs = {"in": [(i, ImageFrame(f)) for i, f in enumerate(frames)]}
    results = {}
    for strategy in ("direct", "mapped"):
        monkeypatch.setenv(TRANSFER_ENV, strategy)
        results[strategy] = run_graph(GRAPH, inputs=inputs)
    # Read after the run: the mapped frames outlived their context (copied out at shutdown).
    for direct, mapped, frame in zip(results["direct"]["out"], results["mapped"]["out"],
                                     frames, strict=True):
        assert type(direct.payload) is ImageFrame
        assert type(mapped.payload) is MappedImageFrame
        np.testing.assert_array_equal(mapped.payload.array, direct.payload.array)
        assert np.abs(mapped.payload.array[..., :3].astype(int)
                      - (255 - frame[..., :3])).max() <= 1
    assert [p.payload for p in results["direct"]["mapped"]] == [False] * 4
    assert [p.payload for p in results["mapped"]["mapped"]] == [True] * 4


def test_frames_held_past_shutdown_read_right(mapped_gl: GlContext,
                                              caplog: pytest.LogCaptureFixture) -> None:
    gl = mapped_gl
    frames = _frames(3)
    held = [_buffer(gl, f).read_frame() for f in frames]
    assert all(type(h) is MappedImageFrame for h in held)
    assert _held(gl) == 3
    view = held[2].array[1:, ::2]  # a view kept apart from its frame
    with caplog.at_level(logging.WARNING, "graphflow.gpu.context"):
        gl.shutdown()
    for frame, image in zip(frames, held, strict=True):
        np.testing.assert_array_equal(image.array[..., :3], frame[..., :3])
        assert (image.array[..., 3] == 255).all()
        assert not image.array.flags.writeable
    # The first two were copied out; the third's view still reads its mapped buffer, which
    # stays mapped (and its context alive) for it.
    assert [type(h.array.base).__name__ == "_HeldPixels" for h in held] == [False] * 3
    np.testing.assert_array_equal(view[..., :3], frames[2][1:, ::2, :3])
    assert "kept alive (not destroyed) after shutdown" in caplog.text


def test_a_context_without_held_views_is_destroyed_quietly(
        mapped_gl: GlContext, caplog: pytest.LogCaptureFixture) -> None:
    (frame,) = _frames(1)
    image = _buffer(mapped_gl, frame).read_frame()
    with caplog.at_level(logging.WARNING, "graphflow.gpu.context"):
        mapped_gl.shutdown()
    np.testing.assert_array_equal(image.array[..., :3], frame[..., :3])
    assert "kept alive" not in caplog.text


def test_frames_released_on_another_thread_give_their_buffers_back(mapped_gl: GlContext) -> None:
    gl = mapped_gl
    frames = _frames(3)
    buffers = [_buffer(gl, f) for f in frames]
    held = [b.read_frame() for b in buffers]
    count = _mapped(gl).buffer_count
    assert _held(gl) == 3

    releaser = threading.Thread(target=held.clear)
    releaser.start()
    releaser.join()
    assert _held(gl) == 0
    again = [b.read_frame() for b in buffers]  # the released buffers, not new ones
    assert _mapped(gl).buffer_count == count
    for frame, image in zip(frames, again, strict=True):
        np.testing.assert_array_equal(image.array[..., :3], frame[..., :3])


def test_past_the_bound_frames_are_copied(mapped_gl: GlContext,
                                          caplog: pytest.LogCaptureFixture) -> None:
    gl = mapped_gl
    bound = _mapped(gl).max_held
    frames = _frames(bound + 2)
    buffers = [_buffer(gl, f) for f in frames]
    with caplog.at_level(logging.DEBUG, "graphflow.gpu.transfer"):
        held = [b.read_frame() for b in buffers]
    assert [type(h) for h in held] == [MappedImageFrame] * bound + [ImageFrame] * 2
    assert caplog.text.count("further readbacks are copied") == 1
    for frame, image in zip(frames, held, strict=True):
        np.testing.assert_array_equal(image.array[..., :3], frame[..., :3])
    del held[0]
    assert type(buffers[0].read_frame()) is MappedImageFrame


def test_a_pickled_mapped_frame_is_a_plain_image_frame(mapped_gl: GlContext) -> None:
    (frame,) = _frames(1)
    image = _buffer(mapped_gl, frame).read_frame()
    copy = pickle.loads(pickle.dumps(image))
    assert type(copy) is ImageFrame
    np.testing.assert_array_equal(copy.array, image.array)


def test_the_bound_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRANSFER_ENV, "mapped")
    monkeypatch.setenv(MAX_HELD_ENV, "0")
    gl = GlContext("copying")
    try:
        (frame,) = _frames(1)
        image = _buffer(gl, frame).read_frame()
        assert type(image) is ImageFrame
        np.testing.assert_array_equal(image.array[..., :3], frame[..., :3])
    finally:
        gl.shutdown()
    monkeypatch.setenv(MAX_HELD_ENV, "-1")
    gl = GlContext("refused")
    try:
        with pytest.raises(ValueError, match=f"{MAX_HELD_ENV}='-1': expected a whole number"):
            gl.run(lambda: gl.transfers)
    finally:
        gl.shutdown()
