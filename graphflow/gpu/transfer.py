"""Pixel transfers between numpy frames and RGBA8 textures, the fastest way per driver.

Two strategies, one per :class:`~graphflow.gpu.GlContext` (``GlContext.transfers``):

- :class:`DirectTransfers` hands numpy memory to ``glTextureSubImage2D``/``glGetTextureImage``
  (through ctypes where the context has direct state access, else moderngl's
  ``Texture.write``/``read_into``). Mesa's llvmpipe renders on the CPU, so this is its
  fastest path: a pixel buffer object would only add a copy. A ctypes call releases the GIL
  while the driver copies (moderngl's calls hold it), so on llvmpipe other Python threads,
  such as a face mesh, run meanwhile: measured at 720p, a spinning Python thread got 1.4-2x
  as much done during uploads and readbacks as with moderngl's calls.
- :class:`MappedTransfers` goes through persistently mapped pixel buffer objects
  (``glNamedBufferStorage`` + ``glMapNamedBufferRange``: pinned, DMA-able memory). An upload
  copies (or widens RGB to RGBA) the frame into a mapped buffer and starts the DMA from it; a
  readback starts the DMA into a mapped buffer, waits on its fence and copies out. On
  NVIDIA's driver this halves the readback time of the direct path. Buffers come from small
  rings per frame size, so a steady stream allocates nothing, and a caller can keep several
  readbacks in flight (:meth:`MappedTransfers.start_read` / :meth:`MappedTransfers.finish_read`)
  to overlap the transfers of one frame with the GPU work of the next. Two calls skip the
  copy between numpy and the mapped buffer (0.5-0.65 ms of a 1080p transfer on an H200):
  :meth:`MappedTransfers.upload_with` lets the producer write the frame into the buffer, and
  :meth:`MappedTransfers.read_mapped` hands the buffer itself to the consumer until it
  releases it (:class:`MappedFrame`). :meth:`MappedTransfers.read_held` does the same for
  consumers that cannot release (a graph's ImageFrames, see ``GpuBuffer.read_frame``): the
  buffer goes back when its array is garbage-collected, at most ``max_held`` are out at once,
  and :meth:`MappedTransfers.release` lets their holders copy the pixels out first.

:func:`choose_transfers` picks the strategy from the renderer when the context starts (see
:func:`strategy_for`): software renderers (llvmpipe, softpipe, SwiftShader) get direct
transfers; a GPU whose context has buffer storage and direct state access (OpenGL 4.5, or the
``GL_ARB_buffer_storage`` and ``GL_ARB_direct_state_access`` extensions: NVIDIA's driver gives
moderngl a 3.3 context with both) gets the mapped ones. The environment variable
``GRAPHFLOW_GL_TRANSFER`` (``direct`` or ``mapped``) overrides the choice.

Measured on an H100 (NVIDIA 580, EGL, 1080p RGBA, 4 passes, ``bench/gl_roundtrip.py``, medians
of 200): upload 0.86 ms direct, 0.85 ms mapped; readback 1.59 ms direct, 0.83-0.94 ms mapped;
one frame 4.6 ms direct, 2.0 ms mapped (2.3 ms copying on one thread); streamed with each
readback finished one frame later, 1.0 ms per frame at 2.0 ms latency. Copies of 4 MiB or
more are split over threads: at 1080p that was worth 0.2-0.4 ms per frame there, at 720p
(3.7 MB) it was within the noise.
"""

from __future__ import annotations

import collections
import concurrent.futures
import ctypes
import dataclasses
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Protocol

import moderngl
import numpy as np
import numpy.typing as npt

from graphflow.gpu import _egl
from graphflow.gpu.errors import GlError

logger = logging.getLogger(__name__)

#: Environment variable that forces a transfer strategy (``direct`` or ``mapped``).
TRANSFER_ENV = "GRAPHFLOW_GL_TRANSFER"
#: Environment variable that sets ``MappedTransfers.max_held`` of a context's transfers (``0``:
#: every readback into an ImageFrame copies, as before frames could hold mapped buffers).
MAX_HELD_ENV = "GRAPHFLOW_GL_MAX_HELD"
#: Readbacks that ImageFrames may hold in mapped buffers at once, per context: more than a
#: graph's queues keep in flight, few enough that a consumer keeping every frame pins little.
DEFAULT_MAX_HELD = 8

_SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swiftshader", "software rasterizer")
_MAPPED_EXTENSIONS = frozenset({"GL_ARB_buffer_storage", "GL_ARB_direct_state_access"})
# Copies smaller than this stay on one thread (handing rows to threads costs ~50 us).
_PARALLEL_COPY_BYTES = 1 << 22

_GL_PIXEL_PACK_BUFFER = 0x88EB
_GL_PIXEL_UNPACK_BUFFER = 0x88EC
_GL_PACK_ALIGNMENT = 0x0D05
_GL_UNPACK_ALIGNMENT = 0x0CF5
_GL_RGBA = 0x1908
_GL_UNSIGNED_BYTE = 0x1401
_GL_MAP_READ_BIT = 0x1
_GL_MAP_WRITE_BIT = 0x2
_GL_MAP_PERSISTENT_BIT = 0x40
_GL_MAP_COHERENT_BIT = 0x80
_GL_CLIENT_STORAGE_BIT = 0x200

_UPLOAD_FLAGS = _GL_MAP_WRITE_BIT | _GL_MAP_PERSISTENT_BIT | _GL_MAP_COHERENT_BIT
_READ_FLAGS = _GL_MAP_READ_BIT | _GL_MAP_PERSISTENT_BIT | _GL_MAP_COHERENT_BIT

Pixels = npt.NDArray[np.uint8]


def _check_frame(pixels: Pixels, width: int, height: int) -> None:
    if (pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] not in (3, 4)
            or pixels.shape[:2] != (height, width)):
        raise ValueError(
            f"upload into a {width}x{height} texture needs an ({height}, {width}, 3 or 4) "
            f"uint8 array, got {pixels.shape} {pixels.dtype}")


def check_out(out: Pixels, width: int, height: int) -> None:
    """Raises ValueError unless ``out`` can take the readback of a width x height texture."""
    shape = (height, width, 4)
    if out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(
            f"readback of a {width}x{height} texture needs a C-contiguous uint8 array of "
            f"shape {shape}, got {out.shape} {out.dtype}")


def widen(rgb: Pixels, out: Pixels) -> None:
    """Writes the ``(h, w, 3)`` RGB frame ``rgb`` into ``out`` as RGBA with alpha 255."""
    import cv2  # only RGB frames need OpenCV

    cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2RGBA, dst=out)


def rgba_copy(pixels: Pixels, out: Pixels | None = None) -> Pixels:
    """An RGBA copy of an RGB (alpha 255) or RGBA frame, into ``out`` if given."""
    if out is None:
        out = np.empty((*pixels.shape[:2], 4), np.uint8)
    if pixels.shape[2] == 3:
        widen(pixels, out)
    else:
        np.copyto(out, pixels)
    return out


class DirectTransfers:
    """Uploads from and reads into numpy memory directly (the fast path of llvmpipe).

    Args:
        ctx: The moderngl context (current on the calling thread).
    """

    name = "direct"

    def __init__(self, ctx: moderngl.Context) -> None:
        self._staging: Pixels | None = None
        self._finish = _egl.gl_function("glFinish", None)
        self._gl = _DirectGl() if has_direct_state_access(ctx) else None

    def upload(self, texture: moderngl.Texture, pixels: Pixels) -> None:
        """Writes an ``(h, w, 3|4)`` uint8 frame into ``texture`` (RGB gets alpha 255)."""
        width, height = texture.size
        _check_frame(pixels, width, height)
        if pixels.shape[2] == 3:
            if self._staging is None or self._staging.shape != (height, width, 4):
                self._staging = np.empty((height, width, 4), np.uint8)
            widen(pixels, self._staging)
            pixels = self._staging
        pixels = np.ascontiguousarray(pixels)
        if self._gl is None:
            texture.write(pixels, alignment=1)
            return
        self._gl.pixel_store(_GL_UNPACK_ALIGNMENT, 1)
        self._gl.sub_image(texture.glo, 0, 0, 0, width, height, _GL_RGBA, _GL_UNSIGNED_BYTE,
                           pixels.ctypes.data)

    def read(self, texture: moderngl.Texture, out: Pixels) -> None:
        """Reads ``texture`` into ``out``, a C-contiguous ``(h, w, 4)`` uint8 array."""
        check_out(out, *texture.size)
        # Queued drawing runs (on llvmpipe: is rasterized) in this ctypes call, which releases
        # the GIL; inside moderngl's read_into the wait would hold it and stall other threads.
        self._finish()
        if self._gl is None:
            texture.read_into(out, alignment=1)
            return
        self._gl.pixel_store(_GL_PACK_ALIGNMENT, 1)
        self._gl.get_image(texture.glo, 0, _GL_RGBA, _GL_UNSIGNED_BYTE, out.nbytes,
                           out.ctypes.data)

    def release(self) -> bool:
        """Frees the staging array; returns True (nothing outlives it)."""
        self._staging = None
        return True


def has_direct_state_access(ctx: moderngl.Context) -> bool:
    """True if ``ctx`` has OpenGL 4.5's direct state access (or its extension)."""
    return ctx.version_code >= 450 or "GL_ARB_direct_state_access" in ctx.extensions


class _DirectGl:
    """The GL 4.5 entry points of the direct transfers (through ``eglGetProcAddress``)."""

    def __init__(self) -> None:
        u, i, p = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p
        f = _egl.gl_function
        self.pixel_store = f("glPixelStorei", None, u, i, release_gil=False)
        self.sub_image = f("glTextureSubImage2D", None, u, i, i, i, i, i, u, u, p)
        self.get_image = f("glGetTextureImage", None, u, i, u, u, i, p)


class _Gl(_DirectGl):
    """The GL 4.5 entry points the mapped transfers use (through ``eglGetProcAddress``)."""

    def __init__(self) -> None:
        super().__init__()
        u, i, p, n = ctypes.c_uint, ctypes.c_int, ctypes.c_void_p, ctypes.c_ssize_t
        f = _egl.gl_function
        self.create_buffers = f("glCreateBuffers", None, i, ctypes.POINTER(u))
        self.delete_buffers = f("glDeleteBuffers", None, i, ctypes.POINTER(u))
        self.storage = f("glNamedBufferStorage", None, u, n, p, u)
        self.map = f("glMapNamedBufferRange", p, u, n, n, u)
        self.unmap = f("glUnmapNamedBuffer", u, u)
        self.bind_buffer = f("glBindBuffer", None, u, u)
        self.fences = _egl.Fences()


@dataclasses.dataclass(eq=False)
class _Slot:
    """One persistently mapped buffer of a ring, with the fence of its last transfer."""

    name: int
    view: Pixels
    fence: int | None = None


class _Ring:
    """Mapped buffers of one frame size and direction.

    :meth:`acquire` returns the least recently used idle buffer once the GPU is done with it;
    while that one is still in flight and fewer than ``depth`` buffers exist, a new one.
    """

    def __init__(self, gl: _Gl, width: int, height: int, flags: int, storage_flags: int,
                 depth: int) -> None:
        self._gl = gl
        self.width, self.height = width, height
        self._flags, self._storage_flags, self._depth = flags, storage_flags, depth
        self._idle: collections.deque[_Slot] = collections.deque()
        self._all: list[_Slot] = []
        # Buffers out of the ring (readbacks in flight, MappedFrames not released): a
        # MappedFrame may be released on any thread.
        self._out: set[_Slot] = set()
        self._lock = threading.Lock()

    def acquire(self) -> _Slot:
        if self._idle:
            slot = self._idle[0]
            fences = self._gl.fences
            if (slot.fence is None or len(self._all) >= self._depth
                    or fences.signalled(slot.fence)):
                self._idle.popleft()
                self._settle(slot)
                return slot
        return self._new_slot()

    @property
    def size(self) -> int:
        return len(self._all)

    def give_back(self, slot: _Slot) -> None:
        self._idle.append(slot)  # deque appends are atomic: any thread

    @property
    def outstanding(self) -> int:
        with self._lock:
            return len(self._out)

    def start_lease(self, slot: _Slot) -> None:
        with self._lock:
            self._out.add(slot)

    def end_lease(self, slot: _Slot) -> None:
        with self._lock:
            self._out.discard(slot)
        self.give_back(slot)

    def _settle(self, slot: _Slot) -> None:
        if slot.fence is not None:
            self._gl.fences.client_wait(slot.fence)
            self._gl.fences.delete(slot.fence)
            slot.fence = None

    def _new_slot(self) -> _Slot:
        size = self.width * self.height * 4
        name = ctypes.c_uint()
        self._gl.create_buffers(1, ctypes.byref(name))
        self._gl.storage(name.value, size, None, self._storage_flags)
        address = self._gl.map(name.value, 0, size, self._flags)
        if not address:
            self._gl.delete_buffers(1, ctypes.byref(name))
            raise GlError(f"glMapNamedBufferRange failed for a {size}-byte pixel buffer")
        view = np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(address))
        slot = _Slot(name.value, view.reshape(self.height, self.width, 4))
        self._all.append(slot)
        return slot

    def release(self) -> int:
        """Unmaps and deletes the buffers; returns how many it kept because they are out.

        A finished readback still out of the ring (an array of
        :meth:`MappedTransfers.read_held` still referenced, a MappedFrame not released) stays
        mapped: unmapping it would leave its reader on freed memory. One still in flight
        (fenced) has no reader yet and is freed.
        """
        with self._lock:
            kept = {slot for slot in self._out if slot.fence is None}
        for slot in self._all:
            if slot in kept:
                continue
            if slot.fence is not None:
                self._gl.fences.delete(slot.fence)
            self._gl.unmap(slot.name)
            self._gl.delete_buffers(1, ctypes.byref(ctypes.c_uint(slot.name)))
        self._all.clear()
        self._idle.clear()
        return len(kept)


class MappedFrame:
    """A finished readback in its mapped pixel buffer (:meth:`MappedTransfers.read_mapped`).

    ``array`` is a read-only ``(h, w, 4)`` uint8 view of the buffer: no copy between the
    DMA and the consumer. It is valid until :meth:`release` (any thread; also on leaving a
    ``with`` block), which gives the buffer back to its ring for a later readback, and until
    the transfers are released (their GL context shut down): a consumer that keeps the pixels
    longer copies them first.
    """

    def __init__(self, ring: _Ring, slot: _Slot) -> None:
        self._ring: _Ring | None = ring
        self._slot = slot
        self.array: Pixels = slot.view.view()
        self.array.flags.writeable = False

    def release(self) -> None:
        """Gives the buffer back to its ring (a second call does nothing)."""
        ring, self._ring = self._ring, None
        if ring is not None:
            ring.end_lease(self._slot)

    def __enter__(self) -> MappedFrame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Detachable(Protocol):
    """A holder of an array of :meth:`MappedTransfers.read_held` (see its ``track``)."""

    def detach(self) -> None:
        """Replaces the held array by a copy and drops the reference to it."""


class _HeldPixels:
    """The sole base of an array of :meth:`MappedTransfers.read_held`.

    numpy gives every view of that array the array as its base, and the array this object:
    this object lives exactly as long as some view of the mapped buffer does.
    """

    def __init__(self, frame: MappedFrame) -> None:
        self.__array_interface__ = frame.array.__array_interface__


@dataclasses.dataclass(eq=False)
class ReadTicket:
    """A readback in flight (from :meth:`MappedTransfers.start_read`)."""

    ring: _Ring
    slot: _Slot
    done: bool = False


class MappedTransfers:
    """Transfers through rings of persistently mapped pixel buffers (GL 4.5).

    Args:
        ctx: The moderngl context (current on the calling thread).
        depth: Buffers per ring (frame size and direction): how many uploads may be in
            flight before the next one waits, and how many readbacks a caller keeps in
            flight without growing the ring.
        copy_threads: Threads that split each copy of 4 MiB or more between numpy and
            mapped memory by rows (numpy releases the GIL while copying); 1 copies on the
            calling thread. By default a quarter of the CPUs, at most 4.
        max_sizes: Frame sizes kept per direction; the least recently used one is freed.
        max_held: Arrays of :meth:`read_held` alive at once (each holds a buffer out of its
            ring); past that, :meth:`read_held` returns None and the caller copies.
    """

    name = "mapped"

    def __init__(self, ctx: moderngl.Context, depth: int = 3, copy_threads: int | None = None,
                 max_sizes: int = 4, max_held: int = DEFAULT_MAX_HELD) -> None:
        del ctx  # the entry points act on the current context
        if copy_threads is None:
            copy_threads = max(1, min(4, (os.cpu_count() or 1) // 4))
        if depth < 1 or copy_threads < 1 or max_sizes < 1 or max_held < 0:
            raise ValueError(f"depth ({depth}), copy_threads ({copy_threads}) and max_sizes "
                             f"({max_sizes}) must be at least 1, max_held ({max_held}) at "
                             "least 0")
        self._gl = _Gl()
        self._depth = depth
        self._max_sizes = max_sizes
        self._max_held = max_held
        self._held = 0
        self._held_lock = threading.Lock()
        self._bound_logged = False
        self._holders: weakref.WeakSet[Detachable] = weakref.WeakSet()
        self._rings: dict[tuple[str, int, int], _Ring] = {}
        self._copy_threads = copy_threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def buffer_count(self) -> int:
        """Mapped pixel buffers held now, over all frame sizes and both directions."""
        return sum(ring.size for ring in self._rings.values())

    # -- upload ----------------------------------------------------------------------------

    def upload(self, texture: moderngl.Texture, pixels: Pixels) -> None:
        """Copies an ``(h, w, 3|4)`` uint8 frame into ``texture`` (RGB gets alpha 255).

        Returns once the frame is in a mapped buffer and the DMA is queued; GL commands
        issued afterwards see the new contents.
        """
        _check_frame(pixels, *texture.size)
        if pixels.shape[2] == 3:
            self.upload_with(texture, lambda view: widen(pixels, view))
        else:
            self.upload_with(texture, lambda view: self._copy(view, pixels))

    def upload_with(self, texture: moderngl.Texture, fill: Callable[[Pixels], object]) -> None:
        """Uploads the frame that ``fill`` writes straight into a mapped buffer (no copy).

        For a producer that makes the frame anyway (a decoder's colour conversion, say,
        ``cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA, dst=view)``): the frame is made where the DMA
        reads it, which saves the copy of :meth:`upload`: on an H200 at 1080p, 0.36 ms for
        the conversion into the buffer and the DMA, against 1.02-1.06 ms for the conversion
        into a numpy frame and :meth:`upload`.

        Args:
            texture: The RGBA texture to fill.
            fill: Called with the buffer as a C-contiguous ``(h, w, 4)`` uint8 array, which
                it must fill whole (it holds the last contents of the ring's buffer) and not
                keep.
        """
        width, height = texture.size
        ring = self._ring("upload", width, height)
        slot = ring.acquire()
        try:
            fill(slot.view)
        except BaseException:
            ring.give_back(slot)
            raise
        gl = self._gl
        gl.bind_buffer(_GL_PIXEL_UNPACK_BUFFER, slot.name)
        gl.pixel_store(_GL_UNPACK_ALIGNMENT, 1)
        gl.sub_image(texture.glo, 0, 0, 0, width, height, _GL_RGBA, _GL_UNSIGNED_BYTE, None)
        gl.bind_buffer(_GL_PIXEL_UNPACK_BUFFER, 0)
        slot.fence = gl.fences.fence()
        ring.give_back(slot)

    # -- readback --------------------------------------------------------------------------

    def start_read(self, texture: moderngl.Texture) -> ReadTicket:
        """Queues the DMA of ``texture`` into a mapped buffer; returns without waiting."""
        width, height = texture.size
        ring = self._ring("read", width, height)
        slot = ring.acquire()
        gl = self._gl
        gl.bind_buffer(_GL_PIXEL_PACK_BUFFER, slot.name)
        gl.pixel_store(_GL_PACK_ALIGNMENT, 1)
        gl.get_image(texture.glo, 0, _GL_RGBA, _GL_UNSIGNED_BYTE, width * height * 4, None)
        gl.bind_buffer(_GL_PIXEL_PACK_BUFFER, 0)
        slot.fence = gl.fences.fence()
        ring.start_lease(slot)
        return ReadTicket(ring, slot)

    def finish_read(self, ticket: ReadTicket, out: Pixels) -> None:
        """Waits for the readback of ``ticket`` and copies it into ``out``.

        Args:
            ticket: From :meth:`start_read` of this object, not finished yet.
            out: A C-contiguous ``(h, w, 4)`` uint8 array.
        """
        check_out(out, ticket.ring.width, ticket.ring.height)
        self._wait(ticket, "finish_read")
        self._copy(out, ticket.slot.view)
        ticket.ring.end_lease(ticket.slot)

    def finish_mapped(self, ticket: ReadTicket) -> MappedFrame:
        """Waits for the readback of ``ticket`` and hands out its mapped buffer (no copy).

        The buffer stays out of the ring until :meth:`MappedFrame.release`; a consumer that
        holds many frames makes the ring grow by one buffer each.
        """
        self._wait(ticket, "finish_mapped")
        return MappedFrame(ticket.ring, ticket.slot)

    def read_mapped(self, texture: moderngl.Texture) -> MappedFrame:
        """Reads ``texture`` into a mapped buffer and hands that out, without a copy."""
        return self.finish_mapped(self.start_read(texture))

    def read_held(self, texture: moderngl.Texture) -> Pixels | None:
        """Reads ``texture`` into a mapped buffer and returns the buffer as an array (no copy).

        The read-only ``(h, w, 4)`` array owns the buffer: it goes back to its ring when the
        array and every view of it are garbage-collected, on whatever thread drops the last
        one. A holder that may outlive these transfers registers with :meth:`track`, so that
        :meth:`release` lets it copy the pixels out first; an array still referenced then
        keeps its buffer mapped (see :meth:`release`).

        Returns:
            The array, or None while ``max_held`` such arrays are alive (the ring would grow
            by a buffer for each one): the caller then reads with a copy.
        """
        with self._held_lock:
            full = self._held >= self._max_held
            if not full:
                self._held += 1
        if full:
            if not self._bound_logged:
                self._bound_logged = True
                logger.debug("%d mapped readbacks are held: further readbacks are copied "
                             "until some are released", self._max_held)
            return None
        try:
            frame = self.read_mapped(texture)
        except BaseException:
            self._drop_held(None)
            raise
        owner = _HeldPixels(frame)
        weakref.finalize(owner, self._drop_held, frame).atexit = False
        return np.asarray(owner)

    def _drop_held(self, frame: MappedFrame | None) -> None:
        with self._held_lock:
            self._held -= 1
        if frame is not None:
            frame.release()

    @property
    def max_held(self) -> int:
        """Arrays of :meth:`read_held` that may be alive at once."""
        return self._max_held

    @property
    def held_count(self) -> int:
        """Arrays of :meth:`read_held` alive now."""
        with self._held_lock:
            return self._held

    def track(self, holder: Detachable) -> None:
        """Has :meth:`release` call ``holder.detach()`` first (weakly referenced; any thread)."""
        self._holders.add(holder)

    def _wait(self, ticket: ReadTicket, what: str) -> None:
        if ticket.done:
            raise GlError(f"{what}: this readback was already finished")
        slot = ticket.slot
        assert slot.fence is not None
        self._gl.fences.client_wait(slot.fence)
        self._gl.fences.delete(slot.fence)
        slot.fence = None
        ticket.done = True

    def read(self, texture: moderngl.Texture, out: Pixels) -> None:
        """Reads ``texture`` into ``out``, a C-contiguous ``(h, w, 4)`` uint8 array."""
        check_out(out, *texture.size)
        self.finish_read(self.start_read(texture), out)

    # -- shared ----------------------------------------------------------------------------

    def release(self) -> bool:
        """Unmaps and deletes the buffers (GL thread) and stops the copy threads.

        The holders registered with :meth:`track` detach first (copy their pixels out). A
        buffer whose array is still referenced after that (a view taken from a holder and
        kept) stays mapped, and then the GL context must not be destroyed either.

        Returns:
            True if every buffer was freed.
        """
        for holder in list(self._holders):
            holder.detach()
        self._holders.clear()
        kept = sum(ring.release() for ring in self._rings.values())
        self._rings.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        return kept == 0

    def _ring(self, direction: str, width: int, height: int) -> _Ring:
        key = (direction, width, height)
        ring = self._rings.pop(key, None)  # re-inserted last: dict order is recency
        if ring is None:
            same = [k for k in self._rings if k[0] == direction]
            if len(same) >= self._max_sizes:
                idle = [k for k in same if self._rings[k].outstanding == 0]
                if idle:
                    self._rings.pop(idle[0]).release()
            upload = direction == "upload"
            ring = _Ring(self._gl, width, height,
                         _UPLOAD_FLAGS if upload else _READ_FLAGS,
                         _UPLOAD_FLAGS if upload else _READ_FLAGS | _GL_CLIENT_STORAGE_BIT,
                         self._depth)
        self._rings[key] = ring
        return ring

    def _copy(self, dst: Pixels, src: Pixels) -> None:
        rows = dst.shape[0]
        if self._copy_threads == 1 or dst.nbytes < _PARALLEL_COPY_BYTES:
            np.copyto(dst, src)
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self._copy_threads, thread_name_prefix="gl-copy")
        step = -(-rows // self._copy_threads)
        jobs = [self._pool.submit(np.copyto, dst[r:r + step], src[r:r + step])
                for r in range(0, rows, step)]
        for job in jobs:
            job.result()


Transfers = DirectTransfers | MappedTransfers


def is_software_renderer(renderer: str) -> bool:
    """True if ``GL_RENDERER`` names a renderer that runs on the CPU (llvmpipe, SwiftShader)."""
    return any(name in renderer.lower() for name in _SOFTWARE_RENDERERS)


def strategy_for(renderer: str, version_code: int, extensions: set[str],
                 forced: str = "") -> str:
    """The transfer strategy, ``"direct"`` or ``"mapped"``, for a context.

    Args:
        renderer: ``GL_RENDERER``.
        version_code: The context's GL version as moderngl gives it (``450`` for 4.5).
        extensions: The context's extension names.
        forced: The value of ``GRAPHFLOW_GL_TRANSFER`` (empty: choose).

    Raises:
        ValueError: If ``forced`` names no strategy.
    """
    forced = forced.strip().lower()
    if forced in ("direct", "mapped"):
        return forced
    if forced:
        raise ValueError(f"{TRANSFER_ENV}={forced!r}: expected 'direct' or 'mapped'")
    if is_software_renderer(renderer):
        return "direct"
    capable = version_code >= 450 or _MAPPED_EXTENSIONS <= extensions
    return "mapped" if capable else "direct"


def choose_transfers(ctx: moderngl.Context) -> Transfers:
    """The transfers :func:`strategy_for` picks for ``ctx`` (current on the calling thread).

    Raises:
        ValueError: If ``GRAPHFLOW_GL_TRANSFER`` names no strategy, or
            ``GRAPHFLOW_GL_MAX_HELD`` is not a whole number of at least 0.
    """
    renderer = str(ctx.info["GL_RENDERER"])
    forced = os.environ.get(TRANSFER_ENV, "")
    strategy = strategy_for(renderer, ctx.version_code, set(ctx.extensions), forced)
    transfers: Transfers = (MappedTransfers(ctx, max_held=_max_held()) if strategy == "mapped"
                            else DirectTransfers(ctx))
    logger.info("GL transfers on %s: %s%s", renderer, strategy,
                f" ({TRANSFER_ENV}={forced})" if forced.strip() else "")
    return transfers


def _max_held() -> int:
    """``MappedTransfers.max_held`` from ``GRAPHFLOW_GL_MAX_HELD`` (or the default)."""
    value = os.environ.get(MAX_HELD_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_HELD
    if not value.isdigit():
        raise ValueError(f"{MAX_HELD_ENV}={value!r}: expected a whole number of at least 0")
    return int(value)
