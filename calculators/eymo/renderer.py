"""The GL renderer of eymo draw items: one copy of the frame, then each item's own triangles.

`GlItemRenderer.render` copies the input texture into the target framebuffer once (a
framebuffer blit, no shader pass), then draws each `DrawItem`'s triangles (every tiled copy
in the same draw call) with `glsl/eymo/transform.frag`, scissored to the item's box: a
statement costs about the area it touches. Every item samples the unmodified input texture,
the shader applies `DrawItem.shade` and outputs `DrawItem.coverage` as alpha, and blending
(`SRC_ALPHA, ONE_MINUS_SRC_ALPHA` for colour, the target's alpha kept) lays the items over the
frame in list order, as `calculators.eymo.reference.render` does on the CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from calculators.eymo.geometry import DrawItem
from graphflow.gpu import compile_program, load_shader

#: Most outline vertices an item may have (`MAX_RING` in transform.frag); parts have at most 37.
MAX_RING = 64
VERTEX_SHADER = "eymo/transform.vert"
FRAGMENT_SHADER = "eymo/transform.frag"
_FLOATS_PER_VERTEX = 6  # in_dst.xy, in_src.xy, in_offset.xy
_MIN_CAPACITY = 4096  # bytes of the first vertex buffer


def item_vertices(item: DrawItem) -> npt.NDArray[np.float32]:
    """The item's triangle corners, once per offset: rows of dst x, y, src x, y, offset x, y.

    Args:
        item: The draw item.

    Returns:
        (3 * T * K, 6) float32 for T triangles and K offsets, copy by copy.
    """
    corners = item.triangles.ravel()
    mesh = np.concatenate((item.dst[corners], item.src[corners]), axis=1)
    count = len(item.offsets)
    out = np.empty((count, len(corners), _FLOATS_PER_VERTEX), np.float32)
    out[:, :, :4] = mesh
    out[:, :, 4:] = item.offsets[:, None, :]
    return out.reshape(-1, _FLOATS_PER_VERTEX)


def _uniform(program: moderngl.Program, name: str) -> Any:
    return program[name]


def _set(program: moderngl.Program, name: str, value: Any) -> None:
    _uniform(program, name).value = value


class GlItemRenderer:
    """Draws `DrawItem`s over a copy of a frame, on one GL context (its thread only).

    Args:
        ctx: The moderngl context, current on the calling thread.

    Raises:
        ShaderError: The eymo shaders do not compile (naming file and line).
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        self._ctx = ctx
        self._program = compile_program(
            ctx, load_shader(VERTEX_SHADER, ()), load_shader(FRAGMENT_SHADER, ())
        )
        _set(self._program, "u_texture", 0)
        self._buffer = ctx.buffer(reserve=_MIN_CAPACITY, dynamic=True)
        self._vao = self._vertex_array()

    def _vertex_array(self) -> moderngl.VertexArray:
        return self._ctx.vertex_array(
            self._program, [(self._buffer, "2f 2f 2f", "in_dst", "in_src", "in_offset")]
        )

    def _upload(self, vertices: npt.NDArray[np.float32]) -> None:
        """Puts this frame's vertices in the buffer (a fresh store: no wait on the last frame)."""
        size = max(vertices.nbytes, 1)
        capacity = self._buffer.size
        if size > capacity:
            self._vao.release()
            self._buffer.release()
            self._buffer = self._ctx.buffer(reserve=max(size, 2 * capacity), dynamic=True)
            self._vao = self._vertex_array()
        else:
            self._buffer.orphan()
        self._buffer.write(vertices)

    def render(
        self,
        src: moderngl.Texture,
        dst: moderngl.Framebuffer,
        items: Sequence[DrawItem],
    ) -> None:
        """Copies `src` into `dst`, then draws the items over it.

        Args:
            src: The input frame (RGBA, linear filtering, clamped to its edges); it is only read.
            dst: A framebuffer of the same size; it is left bound, its scissor the whole frame.
            items: What to draw, from `calculators.eymo.geometry.draw_items` for this size.

        Raises:
            ValueError: The sizes differ, or an item's outline has more than `MAX_RING`
                vertices.
        """
        width, height = src.size
        if tuple(dst.size) != (width, height):
            raise ValueError(
                f"eymo renderer: input {width}x{height} and target "
                f"{dst.size[0]}x{dst.size[1]} differ in size"
            )
        ctx = self._ctx
        full = (0, 0, width, height)
        dst.scissor = full
        dst.use()
        source = ctx.framebuffer(color_attachments=[src])
        try:
            ctx.copy_framebuffer(dst, source)
        finally:
            source.release()
        dst.use()
        if not items:
            return
        for item in items:
            if len(item.dst) > MAX_RING:
                raise ValueError(
                    f"eymo renderer: an outline of statement {item.statement + 1} has "
                    f"{len(item.dst)} vertices, more than {MAX_RING}"
                )
        meshes = [item_vertices(item) for item in items]
        self._upload(np.concatenate(meshes))
        program = self._program
        _set(program, "u_size", (float(width), float(height)))
        _set(program, "u_src_size", (float(width), float(height)))
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND)
        # Colour over the frame by alpha; the frame's own alpha is kept (moderngl's stubs only
        # know the two-value forms).
        ctx.blend_func = (  # type: ignore[assignment]
            moderngl.SRC_ALPHA,
            moderngl.ONE_MINUS_SRC_ALPHA,
            moderngl.ZERO,
            moderngl.ONE,
        )
        ctx.blend_equation = moderngl.FUNC_ADD  # type: ignore[assignment]
        src.use(0)
        first = 0
        try:
            for item, mesh in zip(items, meshes, strict=True):
                x0, y0, x1, y1 = item.bbox
                dst.scissor = (x0, y0, x1 - x0, y1 - y0)
                ring = np.zeros((MAX_RING, 2), np.float32)
                ring[: len(item.dst)] = item.dst
                _uniform(program, "u_ring").write(ring.tobytes())
                _set(program, "u_ring_size", len(item.dst))
                _set(program, "u_feather", float(item.feather))
                _set(program, "u_brightness", float(item.brightness))
                _set(program, "u_saturation", float(item.saturation))
                _set(program, "u_channels", item.channels)
                self._vao.render(moderngl.TRIANGLES, vertices=len(mesh), first=first)
                first += len(mesh)
        finally:
            dst.scissor = full
            ctx.disable(moderngl.BLEND)

    def release(self) -> None:
        """Frees the GL objects."""
        self._vao.release()
        self._buffer.release()
        self._program.release()
