"""The GL renderer of eymo draw items: one copy of the frame, then each item's own triangles.

`GlItemRenderer.render` copies the input texture into the target once (`glCopyImageSubData`,
no shader pass), then draws each `DrawItem` (every tiled copy in the same draw call), scissored
to the item's box, so a statement costs about the area it touches. Every item samples the
unmodified input texture and is recoloured as `DrawItem.shade` says; blending
(`SRC_ALPHA, ONE_MINUS_SRC_ALPHA`, alpha writes masked off) lays the items over the
frame in list order, as `calculators.eymo.reference.render` does on the CPU.

The feathered alpha (`DrawItem.coverage`) needs the distance to the outline, a loop over its
edges; only pixels closer to the outline than the feather width need it. So each item is drawn
in three passes over a depth buffer: (1) the band within the feather width of the outline
(a strip inside each edge and a square around each vertex) is marked at depth 0; (2) the
item's triangles, at depth 0.5, draw with `transform.frag` (the distance loop) where the
depth test finds the mark; (3) they draw with `solid.frag` (alpha 1) everywhere else. Every
pixel is drawn once, with the exact alpha.

The copy and a final `glFinish` are called through ctypes, which lets other Python threads run
meanwhile: on Mesa's llvmpipe that is where the pixels are copied and rasterized, so the face
mesh keeps running while a frame is drawn. (A moderngl call that makes the driver render, such
as a readback or binding another framebuffer while drawings are queued, would hold the GIL
while it waits.) On a GPU the finish costs the frame's few microseconds of GPU work.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from calculators.eymo.geometry import DrawItem
from graphflow.gpu import compile_program, load_shader
from graphflow.gpu._egl import gl_function  # GL entry points moderngl lacks, through EGL

#: Most outline vertices an item may have (`MAX_RING` in transform.frag); parts have at most 37.
MAX_RING = 64
_FLOATS_PER_VERTEX = 6  # in_dst.xy, in_src.xy, in_offset.xy
_BAND_MARGIN_PX = 0.5  # the band is drawn this much wider than the feather
_MIN_CAPACITY = 4096  # bytes of the first vertex buffer
_CORNERS = np.array([[0, 1, 2], [0, 2, 3]])  # two triangles of a quad a, b, c, d
_GL_TEXTURE_2D = 0x0DE1


def _copies(mesh: npt.NDArray[np.float32], src: npt.NDArray[np.float32] | None,
            offsets: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Vertex rows (dst, src, offset) of `mesh` once per offset, copy by copy."""
    out = np.zeros((len(offsets), len(mesh), _FLOATS_PER_VERTEX), np.float32)
    out[:, :, 0:2] = mesh
    if src is not None:
        out[:, :, 2:4] = src
    out[:, :, 4:6] = offsets[:, None, :]
    return out.reshape(-1, _FLOATS_PER_VERTEX)


def item_vertices(item: DrawItem) -> npt.NDArray[np.float32]:
    """The item's triangle corners, once per offset: rows of dst x, y, src x, y, offset x, y.

    Returns:
        (3 * T * K, 6) float32 for T triangles and K offsets.
    """
    corners = item.triangles.ravel()
    return _copies(item.dst[corners], item.src[corners], item.offsets)


def band_vertices(item: DrawItem) -> npt.NDArray[np.float32]:
    """Triangles that cover every point inside the outline closer to it than the feather.

    A point whose nearest outline point lies inside an edge is in that edge's inner strip
    (the edge pushed inwards by the feather width); one whose nearest point is a vertex is in
    the square of half-side the feather width around it. Rows as in `item_vertices`, src 0.
    """
    ring = item.dst.astype(np.float64)
    following = np.roll(ring, -1, axis=0)
    width = item.feather + _BAND_MARGIN_PX
    edge = following - ring
    length = np.hypot(edge[:, 0], edge[:, 1])
    keep = length > 0
    # Signed area > 0: the outline turns counterclockwise in (x, y) and the inside is on the
    # left of each edge, (-ey, ex).
    area = float(np.sum(ring[:, 0] * following[:, 1] - following[:, 0] * ring[:, 1]))
    inward = np.stack([-edge[keep, 1], edge[keep, 0]], axis=1) / length[keep, None]
    inward *= width if area > 0 else -width
    a, b = ring[keep], following[keep]
    strips = np.stack([a, b, b + inward, a + inward], axis=1)
    square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * width
    squares = ring[:, None, :] + square[None]
    quads = np.concatenate([strips, squares])
    return _copies(quads[:, _CORNERS].reshape(-1, 2).astype(np.float32), None, item.offsets)


def _uniform(program: moderngl.Program, name: str) -> Any:
    return program[name]


def _set(program: moderngl.Program, name: str, value: Any) -> None:
    if name in program:
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
        mesh_vertex = load_shader("eymo/transform.vert")
        self._feathered = compile_program(ctx, mesh_vertex, load_shader("eymo/transform.frag"))
        self._solid = compile_program(ctx, mesh_vertex, load_shader("eymo/solid.frag"))
        self._band = compile_program(ctx, load_shader("eymo/band.vert"),
                                     load_shader("eymo/band.frag"))
        for program in (self._feathered, self._solid):
            _set(program, "u_texture", 0)
        self._buffer = ctx.buffer(reserve=_MIN_CAPACITY, dynamic=True)
        self._vaos = self._vertex_arrays()
        self._depth: moderngl.Renderbuffer | None = None
        self._copy_image = gl_function(
            "glCopyImageSubData", None, *([ctypes.c_uint, ctypes.c_uint] + [ctypes.c_int] * 4) * 2,
            ctypes.c_int, ctypes.c_int, ctypes.c_int)
        self._finish = gl_function("glFinish", None)

    def _vertex_arrays(self) -> tuple[moderngl.VertexArray, ...]:
        mesh = [(self._buffer, "2f 2f 2f", "in_dst", "in_src", "in_offset")]
        return (
            self._ctx.vertex_array(self._feathered, mesh),
            self._ctx.vertex_array(self._solid, mesh),
            self._ctx.vertex_array(self._band, [(self._buffer, "2f 8x 2f", "in_dst",
                                                 "in_offset")]),
        )

    def _upload(self, vertices: npt.NDArray[np.float32]) -> None:
        """Puts this frame's vertices in the buffer (a fresh store: no wait on the last frame)."""
        size = max(vertices.nbytes, 1)
        capacity = self._buffer.size
        if size > capacity:
            for vao in self._vaos:
                vao.release()
            self._buffer.release()
            self._buffer = self._ctx.buffer(reserve=max(size, 2 * capacity), dynamic=True)
            self._vaos = self._vertex_arrays()
        else:
            self._buffer.orphan()
        self._buffer.write(vertices)

    def _target(self, dst: moderngl.Framebuffer) -> moderngl.Framebuffer:
        """A framebuffer of dst's colour texture with this renderer's depth buffer."""
        size = dst.size[0], dst.size[1]
        if self._depth is None or tuple(self._depth.size) != size:
            if self._depth is not None:
                self._depth.release()
            self._depth = self._ctx.depth_renderbuffer(size)
        return self._ctx.framebuffer(color_attachments=list(dst.color_attachments),
                                     depth_attachment=self._depth)

    def render(
        self,
        src: moderngl.Texture,
        dst: moderngl.Framebuffer,
        items: Sequence[DrawItem],
    ) -> None:
        """Copies `src` into `dst`, then draws the items over it.

        Args:
            src: The input frame (RGBA, linear filtering, clamped to its edges); it is only read.
            dst: A framebuffer of the same size with one colour texture; it is left bound.
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
        for item in items:
            if len(item.dst) > MAX_RING:
                raise ValueError(
                    f"eymo renderer: an outline of statement {item.statement + 1} has "
                    f"{len(item.dst)} vertices, more than {MAX_RING}"
                )
        (texture,) = dst.color_attachments
        self._copy_image(src.glo, _GL_TEXTURE_2D, 0, 0, 0, 0,
                         texture.glo, _GL_TEXTURE_2D, 0, 0, 0, 0, width, height, 1)
        if items:
            target = self._target(dst)
            try:
                self._draw(src, target, items)
                self._finish()  # the drawing happens here, without the GIL on llvmpipe
            finally:
                target.release()
                self._ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST)
        dst.scissor = (0, 0, width, height)
        dst.use()

    def _draw(self, src: moderngl.Texture, target: moderngl.Framebuffer,
              items: Sequence[DrawItem]) -> None:
        ctx = self._ctx
        meshes = [item_vertices(item) for item in items]
        bands = [band_vertices(item) for item in items]
        self._upload(np.concatenate(meshes + bands))
        size = tuple(float(v) for v in src.size)
        for program in (self._feathered, self._solid, self._band):
            _set(program, "u_size", size)
            _set(program, "u_src_size", size)
        feathered, solid, band = self._vaos
        ctx.disable(moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND | moderngl.DEPTH_TEST)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        ctx.blend_equation = moderngl.FUNC_ADD  # type: ignore[assignment]
        src.use(0)
        first_mesh, first_band = 0, sum(len(m) for m in meshes)
        for item, mesh, marks in zip(items, meshes, bands, strict=True):
            x0, y0, x1, y1 = item.bbox
            target.scissor = (x0, y0, x1 - x0, y1 - y0)
            # 1: clear the box's depth and mark the band at depth 0, colour untouched.
            target.color_mask = (False, False, False, False)
            target.depth_mask = True
            target.use()
            target.clear(depth=1.0)
            ctx.depth_func = "1"
            band.render(moderngl.TRIANGLES, vertices=len(marks), first=first_band)
            # 2 and 3: the triangles, feathered on the band (0.5 > 0), opaque inside (0.5 < 1).
            target.color_mask = (True, True, True, False)  # the frame's alpha is kept
            target.depth_mask = False
            target.use()
            ring = np.zeros((MAX_RING, 2), np.float32)
            ring[: len(item.dst)] = item.dst
            _uniform(self._feathered, "u_ring").write(ring.tobytes())
            _set(self._feathered, "u_ring_size", len(item.dst))
            _set(self._feathered, "u_feather", float(item.feather))
            for program in (self._feathered, self._solid):
                _set(program, "u_brightness", float(item.brightness))
                _set(program, "u_saturation", float(item.saturation))
                _set(program, "u_channels", item.channels)
            ctx.depth_func = ">"
            ctx.enable(moderngl.BLEND)
            feathered.render(moderngl.TRIANGLES, vertices=len(mesh), first=first_mesh)
            ctx.depth_func = "<"
            ctx.disable(moderngl.BLEND)  # alpha 1: the colour replaces the pixel
            solid.render(moderngl.TRIANGLES, vertices=len(mesh), first=first_mesh)
            first_mesh += len(mesh)
            first_band += len(marks)

    def release(self) -> None:
        """Frees the GL objects."""
        for vao in self._vaos:
            vao.release()
        self._buffer.release()
        for program in (self._feathered, self._solid, self._band):
            program.release()
        if self._depth is not None:
            self._depth.release()
