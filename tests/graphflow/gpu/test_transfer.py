"""Transfers between numpy and textures: both strategies exact, rings bounded, the choice."""

import concurrent.futures
import functools
from collections.abc import Callable

import numpy as np
import pytest

from graphflow.gpu import GlContext, GlError, transfer
from graphflow.gpu.transfer import (
    TRANSFER_ENV,
    DirectTransfers,
    MappedTransfers,
    Transfers,
    strategy_for,
)

STRATEGIES: dict[str, Callable[..., Transfers]] = {
    "direct": DirectTransfers,
    "mapped": lambda ctx: MappedTransfers(ctx, copy_threads=3),
}


def _pixels(h: int, w: int, channels: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, channels), np.uint8)


def _round_trip(gl: GlContext, make: Callable[..., Transfers], frames: list[np.ndarray]
                ) -> list[np.ndarray]:
    """Uploads each frame into one texture, reads it back, all with one Transfers."""

    def run() -> list[np.ndarray]:
        transfers = make(gl.ctx)
        h, w = frames[0].shape[:2]
        texture = gl.ctx.texture((w, h), 4)
        outs = []
        for frame in frames:
            transfers.upload(texture, frame)
            out = np.zeros((h, w, 4), np.uint8)
            transfers.read(texture, out)
            outs.append(out)
        texture.release()
        transfers.release()
        return outs

    return gl.run(run)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("h", "w"), [(1, 1), (7, 13), (1000, 1100)])  # 1000x1100: parallel copies
def test_rgba_frames_come_back_exactly(gl: GlContext, strategy: str, h: int, w: int) -> None:
    frames = [_pixels(h, w, seed=i) for i in range(3)]
    outs = _round_trip(gl, STRATEGIES[strategy], frames)
    for out, frame in zip(outs, frames, strict=True):
        np.testing.assert_array_equal(out, frame)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_rgb_frames_are_widened_with_opaque_alpha(gl: GlContext, strategy: str) -> None:
    rgb = _pixels(9, 22, channels=3)
    strided = _pixels(9, 44, channels=3, seed=1)[:, ::2]  # not contiguous
    outs = _round_trip(gl, STRATEGIES[strategy], [rgb, strided])
    for out, frame in zip(outs, [rgb, strided], strict=True):
        np.testing.assert_array_equal(out[..., :3], frame)
        assert (out[..., 3] == 255).all()


def test_without_direct_state_access_moderngl_moves_the_same_pixels(
        gl: GlContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "has_direct_state_access", lambda ctx: False)
    frames = [_pixels(7, 13), _pixels(7, 13, channels=3, seed=1)]
    rgba, rgb = _round_trip(gl, DirectTransfers, frames)
    np.testing.assert_array_equal(rgba, frames[0])
    np.testing.assert_array_equal(rgb[..., :3], frames[1])
    assert (rgb[..., 3] == 255).all()


def test_readbacks_in_flight_finish_in_any_order_with_their_own_pixels(gl: GlContext) -> None:
    frames = [_pixels(5, 6, seed=i) for i in range(4)]

    def run() -> tuple[list[np.ndarray], int]:
        transfers = MappedTransfers(gl.ctx, depth=2)
        textures = [gl.ctx.texture((6, 5), 4) for _ in frames]
        tickets = []
        for texture, frame in zip(textures, frames, strict=True):
            transfers.upload(texture, frame)
            tickets.append(transfers.start_read(texture))
        outs = [np.empty((5, 6, 4), np.uint8) for _ in frames]
        for i in (2, 0, 3, 1):
            transfers.finish_read(tickets[i], outs[i])
        with pytest.raises(GlError, match="already finished"):
            transfers.finish_read(tickets[0], outs[0])
        count = transfers.buffer_count
        for texture in textures:
            texture.release()
        transfers.release()
        return outs, count

    outs, count = gl.run(run)
    for out, frame in zip(outs, frames, strict=True):
        np.testing.assert_array_equal(out, frame)
    assert count <= 2 + 4  # uploads: at most depth; readbacks: one per ticket in flight


def test_a_steady_stream_reuses_its_buffers(gl: GlContext) -> None:
    def run() -> list[int]:
        transfers = MappedTransfers(gl.ctx, depth=3)
        texture = gl.ctx.texture((8, 4), 4)
        out = np.empty((4, 8, 4), np.uint8)
        counts = []
        for i in range(12):
            transfers.upload(texture, _pixels(4, 8, seed=i))
            transfers.read(texture, out)
            counts.append(transfers.buffer_count)
        texture.release()
        transfers.release()
        return counts

    counts = gl.run(run)
    assert counts[-1] <= 3 + 1
    assert counts[4:] == [counts[-1]] * 8  # nothing allocated once the rings are warm


def test_old_frame_sizes_are_freed(gl: GlContext) -> None:
    def run() -> int:
        transfers = MappedTransfers(gl.ctx, depth=1, max_sizes=2)
        for w in (3, 4, 5, 6):
            texture = gl.ctx.texture((w, 2), 4)
            transfers.upload(texture, _pixels(2, w))
            texture.release()
        count = transfers.buffer_count
        transfers.release()
        return count

    assert gl.run(run) == 2


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_wrong_arrays_are_refused_with_the_expected_shape(gl: GlContext, strategy: str) -> None:
    def run() -> None:
        transfers = STRATEGIES[strategy](gl.ctx)
        texture = gl.ctx.texture((4, 3), 4)
        try:
            with pytest.raises(ValueError, match=r"\(3, 4, 3 or 4\) uint8 array, got \(4, 3, 4\)"):
                transfers.upload(texture, _pixels(4, 3))
            with pytest.raises(ValueError, match=r"shape \(3, 4, 4\), got \(3, 4, 4\) float32"):
                transfers.read(texture, np.zeros((3, 4, 4), np.float32))
        finally:
            texture.release()
            transfers.release()

    gl.run(run)


@pytest.mark.parametrize(("renderer", "version", "extensions", "forced", "expected"), [
    ("llvmpipe (LLVM 15.0.6, 256 bits)", 450, {"GL_ARB_buffer_storage",
                                               "GL_ARB_direct_state_access"}, "", "direct"),
    ("NVIDIA H100 80GB HBM3/PCIe/SSE2", 330, {"GL_ARB_buffer_storage",
                                              "GL_ARB_direct_state_access"}, "", "mapped"),
    ("AMD Radeon RX 6800", 460, set(), "", "mapped"),
    ("Some GPU", 330, {"GL_ARB_buffer_storage"}, "", "direct"),
    ("llvmpipe (LLVM 15.0.6, 256 bits)", 450, set(), " Mapped", "mapped"),
    ("NVIDIA H100 80GB HBM3/PCIe/SSE2", 460, set(), "direct", "direct"),
])
def test_the_strategy_follows_the_renderer_unless_forced(
        renderer: str, version: int, extensions: set[str], forced: str, expected: str) -> None:
    assert strategy_for(renderer, version, extensions, forced) == expected


def test_an_unknown_forced_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match=f"{TRANSFER_ENV}='pbo': expected 'direct' or 'mapped'"):
        strategy_for("llvmpipe", 450, set(), "pbo")


@pytest.mark.parametrize("forced", ["direct", "mapped"])
def test_a_context_uses_the_forced_strategy(monkeypatch: pytest.MonkeyPatch, forced: str) -> None:
    monkeypatch.setenv(TRANSFER_ENV, forced)
    gl = GlContext("forced")
    try:
        assert gl.run(lambda: gl.transfers.name) == forced
    finally:
        gl.shutdown()


def test_a_context_picks_by_its_renderer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRANSFER_ENV, raising=False)
    gl = GlContext("auto")
    try:
        name, expected = gl.run(lambda: (gl.transfers.name, strategy_for(
            gl.renderer, gl.ctx.version_code, set(gl.ctx.extensions))))
        assert name == expected
    finally:
        gl.shutdown()


def test_frames_move_through_the_mapped_buffers_without_copies(gl: GlContext) -> None:
    """upload_with fills the mapped buffer itself; read_mapped hands out the buffer, which a
    later readback does not touch until it is released (from another thread here)."""
    frames = [_pixels(6, 5, seed=i) for i in range(3)]
    transfers: list[MappedTransfers] = []  # released after the checks below

    def run() -> tuple[list[transfer.MappedFrame], list[int]]:
        transfers.append(MappedTransfers(gl.ctx, depth=2))
        mapped = transfers[0]
        texture = gl.ctx.texture((5, 6), 4)
        held: list[transfer.MappedFrame] = []
        counts: list[int] = []
        for frame in frames:
            mapped.upload_with(texture, functools.partial(np.copyto, src=frame))
            held.append(mapped.read_mapped(texture))
            counts.append(mapped.buffer_count)
        held[0].release()
        held[0].release()  # a second release does nothing
        mapped.upload_with(texture, lambda view: np.copyto(view, frames[0]))
        with mapped.read_mapped(texture):
            counts.append(mapped.buffer_count)  # the released buffer was taken again
        texture.release()
        return held, counts

    held, counts = gl.run(run)
    try:
        for mapped, frame in zip(held[1:], frames[1:], strict=True):
            np.testing.assert_array_equal(mapped.array, frame)
            assert not mapped.array.flags.writeable
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(held[1].release).result()  # any thread may release
        assert counts[-1] == counts[-2]
        assert counts[:3] == [2, 3, 4]  # each held readback keeps its own buffer
    finally:
        gl.run(transfers[0].release)


def test_a_failing_fill_leaves_the_ring_whole(gl: GlContext) -> None:
    def fail(view: np.ndarray) -> None:
        raise RuntimeError("decoder failed")

    def run() -> tuple[int, np.ndarray]:
        transfers = MappedTransfers(gl.ctx, depth=1)
        texture = gl.ctx.texture((4, 3), 4)
        for _ in range(3):
            with pytest.raises(RuntimeError, match="decoder failed"):
                transfers.upload_with(texture, fail)
        transfers.upload(texture, _pixels(3, 4))
        out = np.empty((3, 4, 4), np.uint8)
        transfers.read(texture, out)
        count = transfers.buffer_count
        texture.release()
        transfers.release()
        return count, out

    count, out = gl.run(run)
    assert count == 2  # one upload buffer, one readback buffer
    np.testing.assert_array_equal(out, _pixels(3, 4))


def test_release_keeps_the_buffers_that_readers_still_hold(gl: GlContext) -> None:
    """A MappedFrame not released keeps its buffer mapped; a readback in flight does not."""
    frames = [_pixels(4, 5, seed=i) for i in range(2)]

    def run(hold: bool) -> tuple[bool, np.ndarray | None]:
        transfers = MappedTransfers(gl.ctx)
        texture = gl.ctx.texture((5, 4), 4)
        transfers.upload(texture, frames[0])
        held = transfers.read_mapped(texture) if hold else None
        transfers.upload(texture, frames[1])
        transfers.start_read(texture)  # never finished
        freed = transfers.release()
        texture.release()
        pixels = None if held is None else held.array.copy()  # still mapped: reads right
        return freed, pixels

    assert gl.run(lambda: run(hold=False)) == (True, None)
    freed, pixels = gl.run(lambda: run(hold=True))
    assert not freed
    np.testing.assert_array_equal(pixels, frames[0])
