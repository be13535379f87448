"""The GL pipeline state a render pass changes, read from the driver and put back.

GL calculators of one graph share a context (and its thread), so a pass that leaves blending,
depth testing or face culling on changes what the next pass draws. :func:`preserved_state`
reads the state below with ``glGet*`` on entry and restores it on exit:

- the draw and read framebuffer bindings, the viewport, the scissor box and test;
- the capabilities blend, depth test, cull face, rasterizer discard, program point size;
- the blend function and equation (RGB and alpha separately), depth function, depth and
  colour write masks, cull face mode and front face;
- the active texture unit and the 2D texture bound to unit 0.

Capabilities and functions go back through moderngl's setters, so that what moderngl records
of them stays true (a ``moderngl.Scope`` restores that record). The framebuffer that was bound
goes back through moderngl too when moderngl bound it (``ctx.fbo``) and it still exists:
moderngl rebinds its record of the bound framebuffer after a read, and a record naming a
framebuffer released meanwhile (as the block's own temporary ones are) cannot be rebound.
Viewport, scissor, masks and the texture unit go back through GL itself.

Reading the state costs about 25 small driver calls (tens of microseconds); it never waits
for rendering, and the calls keep the GIL (handing it over 50 times a frame to threads that
want it would cost more than the calls).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
from collections.abc import Iterator
from typing import Any

import moderngl

from graphflow.gpu._egl import gl_function

_GL_DRAW_FRAMEBUFFER = 0x8CA9
_GL_READ_FRAMEBUFFER = 0x8CA8
_GL_DRAW_FRAMEBUFFER_BINDING = 0x8CA6
_GL_READ_FRAMEBUFFER_BINDING = 0x8CAA
_GL_VIEWPORT = 0x0BA2
_GL_SCISSOR_BOX = 0x0C10
_GL_SCISSOR_TEST = 0x0C11
_GL_BLEND_SRC_RGB = 0x80C9
_GL_BLEND_DST_RGB = 0x80C8
_GL_BLEND_SRC_ALPHA = 0x80CB
_GL_BLEND_DST_ALPHA = 0x80CA
_GL_BLEND_EQUATION_RGB = 0x8009
_GL_BLEND_EQUATION_ALPHA = 0x883D
_GL_DEPTH_FUNC = 0x0B74
_GL_DEPTH_WRITEMASK = 0x0B72
_GL_COLOR_WRITEMASK = 0x0C23
_GL_CULL_FACE_MODE = 0x0B45
_GL_FRONT_FACE = 0x0B46
_GL_ACTIVE_TEXTURE = 0x84E0
_GL_TEXTURE0 = 0x84C0
_GL_TEXTURE_2D = 0x0DE1
_GL_TEXTURE_BINDING_2D = 0x8069

#: moderngl's capability flags and their GL names.
_CAPABILITIES = {
    moderngl.BLEND: 0x0BE2,
    moderngl.DEPTH_TEST: 0x0B71,
    moderngl.CULL_FACE: 0x0B44,
    moderngl.RASTERIZER_DISCARD: 0x8C89,
    moderngl.PROGRAM_POINT_SIZE: 0x8642,
}
#: GL depth functions as moderngl's ``depth_func`` names them.
_DEPTH_FUNCS = {0x0200: "0", 0x0201: "<", 0x0202: "==", 0x0203: "<=", 0x0204: ">",
                0x0205: "!=", 0x0206: ">=", 0x0207: "1"}
_CULL_MODES = {0x0404: "front", 0x0405: "back", 0x0408: "front_and_back"}
_FRONT_FACES = {0x0900: "cw", 0x0901: "ccw"}

_uint, _int, _ubyte = ctypes.c_uint, ctypes.c_int, ctypes.c_ubyte


class _Gl:
    """The GL entry points used here (context independent: found once per process).

    They only read or set state, so they keep the GIL (see ``gl_function``).
    """

    def __init__(self) -> None:
        def f(name: str, restype: Any, *argtypes: Any) -> Any:
            return gl_function(name, restype, *argtypes, release_gil=False)

        self.get_integerv = f("glGetIntegerv", None, _uint, ctypes.POINTER(_int))
        self.get_booleanv = f("glGetBooleanv", None, _uint, ctypes.POINTER(_ubyte))
        self.is_enabled = f("glIsEnabled", _ubyte, _uint)
        self.enable = f("glEnable", None, _uint)
        self.disable = f("glDisable", None, _uint)
        self.bind_framebuffer = f("glBindFramebuffer", None, _uint, _uint)
        self.viewport = f("glViewport", None, _int, _int, _int, _int)
        self.scissor = f("glScissor", None, _int, _int, _int, _int)
        self.depth_mask = f("glDepthMask", None, _ubyte)
        self.color_mask = f("glColorMask", None, _ubyte, _ubyte, _ubyte, _ubyte)
        self.active_texture = f("glActiveTexture", None, _uint)
        self.bind_texture = f("glBindTexture", None, _uint, _uint)
        self.is_framebuffer = f("glIsFramebuffer", _ubyte, _uint)
        self.is_texture = f("glIsTexture", _ubyte, _uint)

    def integers(self, name: int, count: int = 1) -> tuple[int, ...]:
        values = (_int * count)()
        self.get_integerv(name, values)
        return tuple(values)

    def booleans(self, name: int, count: int = 1) -> tuple[bool, ...]:
        values = (_ubyte * count)()
        self.get_booleanv(name, values)
        return tuple(bool(v) for v in values)


@functools.cache
def _gl() -> _Gl:
    return _Gl()


@dataclasses.dataclass(frozen=True)
class GlState:
    """A snapshot of the pipeline state listed in this module's docstring (GL enum values)."""

    draw_framebuffer: int
    read_framebuffer: int
    viewport: tuple[int, ...]
    scissor_box: tuple[int, ...]
    scissor_test: bool
    capabilities: int  # moderngl flags: BLEND | DEPTH_TEST | ...
    blend_func: tuple[int, ...]  # src RGB, dst RGB, src alpha, dst alpha
    blend_equation: tuple[int, ...]  # RGB, alpha
    depth_func: int
    depth_mask: bool
    color_mask: tuple[bool, ...]
    cull_face: int
    front_face: int
    active_texture: int
    texture_unit0: int  # the 2D texture bound to unit 0

    @classmethod
    def read(cls) -> GlState:
        """Reads the state of the context current on the calling thread."""
        gl = _gl()
        active = gl.integers(_GL_ACTIVE_TEXTURE)[0]
        gl.active_texture(_GL_TEXTURE0)
        texture_unit0 = gl.integers(_GL_TEXTURE_BINDING_2D)[0]
        gl.active_texture(active)
        return cls(
            draw_framebuffer=gl.integers(_GL_DRAW_FRAMEBUFFER_BINDING)[0],
            read_framebuffer=gl.integers(_GL_READ_FRAMEBUFFER_BINDING)[0],
            viewport=gl.integers(_GL_VIEWPORT, 4),
            scissor_box=gl.integers(_GL_SCISSOR_BOX, 4),
            scissor_test=bool(gl.is_enabled(_GL_SCISSOR_TEST)),
            capabilities=sum(flag for flag, name in _CAPABILITIES.items() if gl.is_enabled(name)),
            blend_func=tuple(gl.integers(name)[0] for name in (
                _GL_BLEND_SRC_RGB, _GL_BLEND_DST_RGB, _GL_BLEND_SRC_ALPHA, _GL_BLEND_DST_ALPHA)),
            blend_equation=(gl.integers(_GL_BLEND_EQUATION_RGB)[0],
                            gl.integers(_GL_BLEND_EQUATION_ALPHA)[0]),
            depth_func=gl.integers(_GL_DEPTH_FUNC)[0],
            depth_mask=gl.booleans(_GL_DEPTH_WRITEMASK)[0],
            color_mask=gl.booleans(_GL_COLOR_WRITEMASK, 4),
            cull_face=gl.integers(_GL_CULL_FACE_MODE)[0],
            front_face=gl.integers(_GL_FRONT_FACE)[0],
            active_texture=active,
            texture_unit0=texture_unit0,
        )

    def restore(self, ctx: moderngl.Context,
                framebuffer: moderngl.Framebuffer | None = None) -> None:
        """Puts this state back into ``ctx`` (current on the calling thread).

        Args:
            ctx: The moderngl context of the state.
            framebuffer: The moderngl framebuffer that was bound (``ctx.fbo`` then), if any;
                bound again through moderngl when it is the one this state names and was
                not released.
        """
        gl = _gl()
        if (framebuffer is not None and not isinstance(framebuffer.mglo, moderngl.InvalidObject)
                and framebuffer.glo == self.draw_framebuffer):
            framebuffer.use()
        ctx.enable_only(self.capabilities)
        ctx.blend_func = self.blend_func  # type: ignore[assignment]
        ctx.blend_equation = self.blend_equation  # type: ignore[assignment]
        ctx.depth_func = _DEPTH_FUNCS[self.depth_func]
        ctx.cull_face = _CULL_MODES[self.cull_face]
        ctx.front_face = _FRONT_FACES[self.front_face]
        # A framebuffer or texture deleted meanwhile cannot be bound again: its binding
        # went back to 0 when it was deleted, and stays so.
        for target, name in ((_GL_DRAW_FRAMEBUFFER, self.draw_framebuffer),
                             (_GL_READ_FRAMEBUFFER, self.read_framebuffer)):
            gl.bind_framebuffer(target, name if gl.is_framebuffer(name) else 0)
        gl.viewport(*self.viewport)
        gl.scissor(*self.scissor_box)
        (gl.enable if self.scissor_test else gl.disable)(_GL_SCISSOR_TEST)
        gl.depth_mask(self.depth_mask)
        gl.color_mask(*self.color_mask)
        gl.active_texture(_GL_TEXTURE0)
        texture = self.texture_unit0
        gl.bind_texture(_GL_TEXTURE_2D, texture if gl.is_texture(texture) else 0)
        gl.active_texture(self.active_texture)


@contextlib.contextmanager
def preserved_state(ctx: moderngl.Context) -> Iterator[GlState]:
    """Restores the pipeline state of ``ctx`` (see :class:`GlState`) when the block ends.

    Call on the context's thread. The state is restored also when the block raises.

    Yields:
        The state as it was on entry.
    """
    saved = GlState.read()
    framebuffer = ctx.fbo
    try:
        yield saved
    finally:
        saved.restore(ctx, framebuffer)
