"""GpuBuffer: an immutable RGBA texture in a packet, recycled through its context's pool.

Frames stay RGBA8 on the GPU side (RGB uploads and readbacks are several times slower on
Mesa's llvmpipe). Row 0 of a texture is the image's top row, as in memory: the texture
coordinate ``v = 0`` is the top of the image and shaders need no flips.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any

import moderngl
import numpy as np
import numpy.typing as npt

from graphflow.gpu.errors import GlError
from graphflow.gpu.transfer import MappedTransfers, check_out, rgba_copy
from graphflow.image_frame import ImageFrame

if TYPE_CHECKING:
    from graphflow.gpu.context import GlContext

#: The GPU-side pixel format of every GpuBuffer.
RGBA8 = "RGBA8"


class Surface:
    """A pooled RGBA8 texture and its framebuffer (made on first use), of one context."""

    __slots__ = ("_framebuffer", "height", "texture", "width")

    def __init__(self, ctx: moderngl.Context, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.texture = ctx.texture((width, height), 4)
        self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.repeat_x = False
        self.texture.repeat_y = False
        self._framebuffer: moderngl.Framebuffer | None = None

    def framebuffer(self, ctx: moderngl.Context) -> moderngl.Framebuffer:
        """The framebuffer that renders into the texture."""
        if self._framebuffer is None:
            self._framebuffer = ctx.framebuffer(color_attachments=[self.texture])
        return self._framebuffer

    def release(self) -> None:
        """Frees the GL objects (owning thread only)."""
        if self._framebuffer is not None:
            self._framebuffer.release()
        self.texture.release()


class TexturePool:
    """Surfaces of one context, reused by size so that steady streams allocate nothing.

    Args:
        gl: The owning context.
        max_idle: Idle surfaces kept per size; more are released.
    """

    def __init__(self, gl: GlContext, max_idle: int = 4) -> None:
        self._gl = gl
        self._max_idle = max_idle
        self._idle: dict[tuple[int, int], list[Surface]] = {}
        self._live: set[Surface] = set()
        self._lock = threading.Lock()

    @property
    def texture_count(self) -> int:
        """Textures allocated and not yet released (in use or idle)."""
        with self._lock:
            return len(self._live)

    def acquire(self, width: int, height: int) -> Surface:
        """An idle surface of that size, or a new one (GL thread only)."""
        self._gl.assert_current("TexturePool.acquire")
        if width < 1 or height < 1:
            raise ValueError(f"texture size must be positive, got {width}x{height}")
        with self._lock:
            idle = self._idle.get((width, height))
            if idle:
                return idle.pop()
        surface = Surface(self._gl.ctx, width, height)
        with self._lock:
            self._live.add(surface)
        return surface

    def recycle(self, surface: Surface, fence: int | None) -> None:
        """Returns a surface (and deletes its fence) on the owning thread; any thread."""
        if self._gl.is_current():
            self._put(surface, fence)
        else:
            self._gl.post(lambda: self._put(surface, fence))

    def _put(self, surface: Surface, fence: int | None) -> None:
        if fence is not None:
            self._gl.fences.delete(fence)
        with self._lock:
            if surface not in self._live:
                return
            idle = self._idle.setdefault((surface.width, surface.height), [])
            if len(idle) < self._max_idle:
                idle.append(surface)
                return
            self._live.discard(surface)
        surface.release()

    def release_all(self) -> None:
        """Releases every surface, idle or in use (at context shutdown, GL thread)."""
        self._gl.assert_current("TexturePool.release_all")
        with self._lock:
            surfaces, self._live, self._idle = list(self._live), set(), {}
        for surface in surfaces:
            surface.release()

    def is_live(self, surface: Surface) -> bool:
        """False once the surface was released (its context shut down)."""
        with self._lock:
            return surface in self._live


class GpuBuffer:
    """An immutable RGBA8 image on the GPU: a texture, its size, and its owning context.

    Make one with :meth:`GlContext.pool` surfaces through :func:`upload` or a GL calculator;
    once in a packet nothing writes to it. When the last reference (the last packet) is gone,
    its texture returns to the owner's pool, on the owner's thread.

    A *deferred* buffer (:meth:`deferred`) holds an SRGBA or SRGB ImageFrame and no texture
    until one is asked for (:meth:`texture_in` uploads it then, on the owner's thread; an
    SRGB frame gets alpha 255 on the way): a graph that never draws on the GPU, such as eymo
    with its CPU renderer on a software GL renderer, moves no pixels, and an SRGB frame
    from a decoder is widened to RGBA only by whoever needs its pixels (eymo's CPU renderer
    widens it as the copy it draws on).

    Attributes:
        width: Width in pixels.
        height: Height in pixels.
        format: Always ``"RGBA8"``.
        context: The owning :class:`GlContext`.
        frame: An ImageFrame holding the same pixels, when the buffer was uploaded from an
            SRGBA one (a readback into an ImageFrame can give it instead of reading the
            texture) or is deferred (SRGBA, or SRGB: the pixels with alpha 255); else None.
    """

    __slots__ = ("__weakref__", "_fence", "_surface", "context", "frame")

    format = RGBA8

    def __init__(self, context: GlContext, surface: Surface | None,
                 frame: ImageFrame | None = None) -> None:
        self.context = context
        self.frame = frame
        self._surface: Surface | None = None
        self._fence: int | None = None
        if surface is not None:  # else deferred: any thread may make it
            context.assert_current("GpuBuffer()")
            self._hold(surface)

    @classmethod
    def deferred(cls, context: GlContext, frame: ImageFrame) -> GpuBuffer:
        """A buffer of an ImageFrame (SRGBA or SRGB), uploaded only when a texture is asked for."""
        return cls(context, None, frame)

    def _hold(self, surface: Surface) -> None:
        """Takes the surface (owner's thread): fenced, recycled when the buffer is gone."""
        self._surface = surface
        self._fence = self.context.fences.fence()
        weakref.finalize(self, self.context.pool.recycle, surface, self._fence).atexit = False

    def _upload_frame(self) -> None:
        """Uploads a deferred buffer's frame (owner's thread; a no-op once uploaded)."""
        if self._surface is not None or self.frame is None:
            return
        self._hold(_upload_surface(self.context, self.frame.array))

    @property
    def is_deferred(self) -> bool:
        """True while the buffer holds only its ImageFrame (no texture uploaded yet)."""
        return self._surface is None

    @property
    def width(self) -> int:
        """Width in pixels."""
        if self._surface is not None:
            return self._surface.width
        assert self.frame is not None  # a buffer has a surface or a frame
        return self.frame.width

    @property
    def height(self) -> int:
        """Height in pixels."""
        if self._surface is not None:
            return self._surface.height
        assert self.frame is not None
        return self.frame.height

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return self.width, self.height

    def texture_in(self, gl: GlContext) -> moderngl.Texture:
        """The texture as seen from context ``gl`` (call on ``gl``'s thread).

        The owner's texture as is; in another context of the same share group a wrapper of
        the same texture, after a GPU-side wait on the producer's fence; in a context of
        another group (no EGL sharing) a copy: readback on the owner, upload into ``gl``.

        Raises:
            GlThreadError: If not called on ``gl``'s thread.
            GlError: If the owning context was shut down.
        """
        gl.assert_current("GpuBuffer.texture_in")
        if self._surface is None:
            self.context.run(self._upload_frame)  # on the owner's thread (at once when gl is it)
        assert self._surface is not None
        if not self.context.pool.is_live(self._surface):
            raise GlError(
                f"{self!r} is gone: its GL context {self.context.name or 'default'!r} was "
                "shut down (GpuBuffers do not outlive their graph run)"
            )
        if gl is self.context:
            return self._surface.texture
        if gl.group is self.context.group:
            return _ForeignTextures.of(gl).shared(self)
        return _ForeignTextures.of(gl).copied(self)

    def read(self, out: npt.NDArray[np.uint8] | None = None) -> npt.NDArray[np.uint8]:
        """The pixels as an ``(height, width, 4)`` uint8 array, row 0 the top row.

        Runs on the calling thread's GL context if it can see the texture, else on the
        owner's thread (blocking), with that context's transfers (``GlContext.transfers``);
        a deferred buffer gives a copy of its frame (an SRGB one widened to RGBA).

        Args:
            out: A C-contiguous ``(height, width, 4)`` uint8 array to fill (no allocation).

        Raises:
            ValueError: If ``out`` has another shape or type, or is not C-contiguous.
        """
        if self._surface is None and self.frame is not None:
            if out is not None:
                check_out(out, self.width, self.height)
            return rgba_copy(self.frame.array, out)
        if out is None:
            out = np.empty((self.height, self.width, 4), np.uint8)
        gl = self._reader()
        filled = out
        gl.run(lambda: gl.transfers.read(self.texture_in(gl), filled))
        return out

    def read_frame(self) -> ImageFrame:
        """The pixels as an SRGBA ImageFrame, without a copy where the transfers allow.

        A buffer that holds an SRGBA frame (uploaded from one, or deferred) gives it; a
        deferred SRGB frame is widened to RGBA. With mapped transfers the readback's mapped
        buffer itself backs the frame (a :class:`MappedImageFrame`) while fewer than
        ``MappedTransfers.max_held`` are alive; otherwise, as on software renderers, the
        pixels are read into a new array. Runs where :meth:`read` does.
        """
        if self.frame is not None:
            return self.frame if self.frame.channels == 4 else ImageFrame(self.read())
        gl = self._reader()

        def read() -> ImageFrame:
            transfers = gl.transfers
            if isinstance(transfers, MappedTransfers):
                held = transfers.read_held(self.texture_in(gl))
                if held is not None:
                    frame = MappedImageFrame(held)
                    transfers.track(frame)
                    return frame
            return ImageFrame(self.read())

        return gl.run(read)

    def _reader(self) -> GlContext:
        """The context to read on: the caller's if it sees the texture, else the owner."""
        from graphflow.gpu.context import current_context

        gl = current_context()
        if gl is None or gl.group is not self.context.group:
            gl = self.context
        return gl

    def __repr__(self) -> str:
        return f"GpuBuffer({self.width}x{self.height} {self.format} on {self.context!r})"


class MappedImageFrame(ImageFrame):
    """An SRGBA ImageFrame whose pixels are a mapped readback buffer (no copy).

    From :meth:`GpuBuffer.read_frame` with mapped transfers. The buffer goes back to its
    ring when the frame and every view of its array are garbage-collected (any thread). When
    the GL context shuts down first, the frame copies its pixels out (:meth:`detach`), so
    that it reads right afterwards; a view of the array kept from before keeps the buffer,
    and its context, alive instead (see ``MappedTransfers.release``). Pickled, it is a plain
    ImageFrame.
    """

    __slots__ = ("__weakref__",)

    def detach(self) -> None:
        """Replaces the mapped pixels by a copy (at the context's shutdown, GL thread)."""
        copy = self._array.copy()
        copy.flags.writeable = False
        self._array = copy

    def __reduce__(self) -> tuple[type[ImageFrame], tuple[npt.NDArray[np.uint8]]]:
        return ImageFrame, (self._array,)


class _ForeignTextures:
    """Per reading context: wrappers of shared textures and copies of unshared ones."""

    def __init__(self, gl: GlContext) -> None:
        self._gl = gl
        self._wrappers: dict[tuple[int, int, int], moderngl.Texture] = {}
        self._copies: weakref.WeakKeyDictionary[GpuBuffer, GpuBuffer] = (
            weakref.WeakKeyDictionary()
        )

    _by_context: weakref.WeakKeyDictionary[Any, _ForeignTextures] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, gl: GlContext) -> _ForeignTextures:
        found = cls._by_context.get(gl)
        if found is None:
            found = cls._by_context[gl] = cls(gl)
        return found

    def shared(self, buffer: GpuBuffer) -> moderngl.Texture:
        assert buffer._surface is not None  # texture_in uploaded a deferred buffer
        texture = buffer._surface.texture
        key = (texture.glo, *texture.size)
        wrapper = self._wrappers.get(key)
        if wrapper is None:
            wrapper = self._gl.ctx.external_texture(texture.glo, texture.size, 4, 0, "f1")
            wrapper.filter = (moderngl.LINEAR, moderngl.LINEAR)
            self._wrappers[key] = wrapper
        if buffer._fence is not None:
            self._gl.fences.wait(buffer._fence)
        self._gl.note_foreign_read(buffer)
        return wrapper

    def copied(self, buffer: GpuBuffer) -> moderngl.Texture:
        copy = self._copies.get(buffer)
        if copy is None:
            pixels = buffer.read()
            copy = upload(self._gl, pixels)
            self._copies[buffer] = copy
        assert copy._surface is not None
        return copy._surface.texture


def upload(gl: GlContext, pixels: npt.NDArray[np.uint8] | ImageFrame) -> GpuBuffer:
    """Copies an ``(height, width, 4)`` (or ``3``: RGB) uint8 array into a pooled texture.

    Call on ``gl``'s thread. Row 0 of the array becomes row 0 (``v = 0``) of the texture; an
    RGB frame gets alpha 255. The copy goes through ``gl.transfers`` (see
    :mod:`graphflow.gpu.transfer`); the array may be reused as soon as this returns. An
    SRGBA ImageFrame (immutable) is kept as the buffer's ``frame``.

    Raises:
        ValueError: If ``pixels`` is not an HxWx3 or HxWx4 uint8 array.
    """
    gl.assert_current("upload")
    frame = pixels if isinstance(pixels, ImageFrame) and pixels.channels == 4 else None
    if isinstance(pixels, ImageFrame):
        pixels = pixels.array
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise ValueError(
            f"upload needs an HxWx4 or HxWx3 uint8 array, got {pixels.shape} {pixels.dtype}")
    return GpuBuffer(gl, _upload_surface(gl, pixels), frame)


def _upload_surface(gl: GlContext, pixels: npt.NDArray[np.uint8]) -> Surface:
    """A surface of ``gl``'s pool holding ``pixels`` (HxWx3 or HxWx4 uint8; GL thread)."""
    surface = gl.pool.acquire(pixels.shape[1], pixels.shape[0])
    try:
        gl.transfers.upload(surface.texture, pixels)
    except BaseException:
        gl.pool.recycle(surface, None)
        raise
    return surface
