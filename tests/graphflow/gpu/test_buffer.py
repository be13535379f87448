"""GpuBuffer: upload/readback, pooling, release on the owner thread, sharing across contexts."""

import functools
import gc
import threading

import numpy as np
import pytest

from graphflow.gpu import GlContext, GlError, GpuBuffer, upload
from graphflow.image_frame import ImageFrame


def _pixels(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), np.uint8)


@pytest.mark.parametrize(("h", "w"), [(1, 1), (7, 13), (33, 17)])
def test_upload_then_read_gives_the_same_pixels(gl: GlContext, h: int, w: int) -> None:
    pixels = _pixels(h, w)
    buffer = gl.run(lambda: upload(gl, pixels))
    assert (buffer.width, buffer.height, buffer.format) == (w, h, "RGBA8")
    np.testing.assert_array_equal(buffer.read(), pixels)  # from this (non-GL) thread
    np.testing.assert_array_equal(gl.run(buffer.read), pixels)  # on the GL thread
    out = np.zeros_like(pixels)
    assert buffer.read(out) is out
    np.testing.assert_array_equal(out, pixels)


def test_read_rejects_a_wrong_destination(gl: GlContext) -> None:
    buffer = gl.run(lambda: upload(gl, _pixels(3, 5)))
    with pytest.raises(ValueError, match=r"shape \(3, 5, 4\)"):
        buffer.read(np.zeros((5, 3, 4), np.uint8))


def test_dropped_buffers_return_to_the_pool_on_the_owner_thread(gl: GlContext) -> None:
    recycled_on: list[str] = []
    put = gl.pool._put

    def spy(surface: object, fence: object) -> None:
        recycled_on.append(threading.current_thread().name)
        put(surface, fence)  # type: ignore[arg-type]

    gl.pool._put = spy  # type: ignore[method-assign]
    buffer = gl.run(lambda: upload(gl, _pixels(4, 6)))
    texture = gl.run(functools.partial(buffer.texture_in, gl))
    del buffer  # the last reference goes on this (non-GL) thread
    gc.collect()
    again = gl.run(lambda: upload(gl, _pixels(4, 6, seed=1)))
    assert recycled_on == [gl.thread.name]
    assert gl.pool.texture_count == 1
    assert gl.run(lambda: again.texture_in(gl)) is texture  # the same texture, reused


def test_a_deferred_buffer_uploads_its_frame_only_when_a_texture_is_asked_for(
        gl: GlContext) -> None:
    pixels = _pixels(5, 7)
    frame = ImageFrame(pixels)
    buffer = gl.run(lambda: GpuBuffer.deferred(gl, frame))
    assert (buffer.size, buffer.frame, buffer.is_deferred) == ((7, 5), frame, True)
    np.testing.assert_array_equal(buffer.read(), pixels)  # the frame, no texture made
    assert gl.pool.texture_count == 0
    second = GlContext("second")
    try:
        # Another context of the group asks first: the owner uploads, the reader shares it.
        second.run(lambda: buffer.texture_in(second))
        assert not buffer.is_deferred and gl.pool.texture_count == 1
        glo = gl.run(lambda: buffer.texture_in(gl).glo)
        assert second.run(lambda: buffer.texture_in(second).glo) == glo
        texture = gl.run(lambda: buffer.texture_in(gl))
        read = np.zeros_like(pixels)
        gl.run(lambda: gl.transfers.read(texture, read))  # the texture's own pixels
        np.testing.assert_array_equal(read, pixels)
    finally:
        second.shutdown()
    deferred = gl.run(lambda: GpuBuffer.deferred(gl, frame))
    with pytest.raises(ValueError, match=r"\(5, 7, 4\)"):
        deferred.read(np.zeros((7, 5, 4), np.uint8))


def test_pool_keeps_a_bounded_number_of_idle_textures(gl: GlContext) -> None:
    buffers = gl.run(lambda: [upload(gl, _pixels(2, 2)) for _ in range(10)])
    assert gl.pool.texture_count == 10
    del buffers
    gc.collect()
    gl.run(lambda: None)  # let the recycling tasks run
    assert gl.pool.texture_count == 4


def test_a_buffer_does_not_outlive_its_context() -> None:
    gl = GlContext("brief")
    buffer = gl.run(lambda: upload(gl, _pixels(2, 2)))
    gl.shutdown()
    other = GlContext("other")
    try:
        with pytest.raises(GlError, match="was shut down"):
            other.run(lambda: buffer.texture_in(other))
    finally:
        other.shutdown()


def test_a_second_context_reads_the_shared_texture_without_a_copy(gl: GlContext) -> None:
    second = GlContext("second")
    try:
        assert second.group is gl.group
        pixels = _pixels(9, 11)
        buffer = gl.run(lambda: upload(gl, pixels))
        glo = gl.run(lambda: buffer.texture_in(gl).glo)
        assert second.run(lambda: buffer.texture_in(second).glo) == glo
        np.testing.assert_array_equal(second.run(buffer.read), pixels)
        assert second.pool.texture_count == 0
    finally:
        second.shutdown()


def test_a_texture_read_by_another_context_is_recycled_after_the_reads(gl: GlContext) -> None:
    """The reader keeps the buffer until its commands have finished, after the task: only then
    may the owner take the texture back and write into it."""
    second = GlContext("second")
    recycled: list[int] = []
    put = gl.pool._put

    def spy(surface: object, fence: object) -> None:
        recycled.append(len(events))
        put(surface, fence)  # type: ignore[arg-type]

    gl.pool._put = spy  # type: ignore[method-assign]
    events: list[str] = []
    try:
        box = [gl.run(lambda: upload(gl, _pixels(6, 4)))]

        def read_and_drop() -> None:
            texture = box.pop().texture_in(second)  # the task's only reference, dropped here
            out = np.empty((4, 6, 4), np.uint8)
            texture.read_into(out, alignment=1)
            gc.collect()
            gl.run(lambda: None)  # the owner is idle: it would recycle now if it could
            events.append("task over")

        second.run(read_and_drop)
        second.run(lambda: None)  # the task loop has finished the reads and let the buffer go
        gc.collect()
        gl.run(lambda: None)
        assert recycled == [1]  # after the task, not during it
    finally:
        second.shutdown()


def test_contexts_that_cannot_share_copy_the_pixels(gl: GlContext) -> None:
    alone = GlContext("alone", share=False)
    try:
        assert alone.group is not gl.group
        pixels = _pixels(5, 3)
        buffer = gl.run(lambda: upload(gl, pixels))

        def read_in_alone() -> np.ndarray:
            texture = buffer.texture_in(alone)
            out = np.empty_like(pixels)
            texture.read_into(out, alignment=1)
            return out

        np.testing.assert_array_equal(alone.run(read_in_alone), pixels)
        assert alone.pool.texture_count == 1  # the copy lives in the reader's pool
    finally:
        alone.shutdown()


def test_gpu_buffers_are_only_made_on_their_thread(gl: GlContext) -> None:
    surface = gl.run(lambda: gl.pool.acquire(2, 2))
    with pytest.raises(Exception, match="thread"):
        GpuBuffer(gl, surface)


def test_a_deferred_srgb_frame_reads_and_uploads_with_alpha_255(gl: GlContext) -> None:
    rgb = _pixels(5, 7)[..., :3].copy()
    frame = ImageFrame(rgb)
    rgba = np.dstack([rgb, np.full((5, 7), 255, np.uint8)])
    buffer = gl.run(lambda: GpuBuffer.deferred(gl, frame))
    assert (buffer.size, buffer.frame, buffer.is_deferred) == ((7, 5), frame, True)
    np.testing.assert_array_equal(buffer.read(), rgba)
    read_back = buffer.read_frame()
    assert read_back.format == "SRGBA"
    np.testing.assert_array_equal(np.asarray(read_back), rgba)
    assert gl.pool.texture_count == 0  # no texture for either
    texture = gl.run(lambda: buffer.texture_in(gl))
    uploaded = np.zeros_like(rgba)
    gl.run(lambda: gl.transfers.read(texture, uploaded))
    np.testing.assert_array_equal(uploaded, rgba)
