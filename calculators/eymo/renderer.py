"""The GL renderer of eymo draw items: one copy of the frame, then each item's own triangles.

`GlItemRenderer.render` copies the input texture into the target once (`glCopyImageSubData`,
no shader pass), then draws each `DrawItem`'s triangles (every tiled copy in the same draw
call, instanced), scissored to the item's box, so a statement costs about the area it touches.
Every item samples the unmodified input texture and is recoloured as `DrawItem.shade` says;
blending (`SRC_ALPHA, ONE_MINUS_SRC_ALPHA`, alpha writes masked off) lays the items over the
frame in list order, as `calculators.eymo.reference.render` does on the CPU.

The feathered alpha (`DrawItem.coverage`) needs the distance to the outline, a loop over its
edges; only pixels closer to the outline than the feather width need it. So each item is drawn
in three passes over a depth buffer: (1) the band within the feather width of the outline
(`band.vert` makes a strip inside each edge and a square around each vertex from the outline
itself) is marked with the item's own depth value; (2) the item's triangles, at that depth,
draw with `transform.frag` (the distance loop) where the depth equals it; (3) they draw with
`solid.frag` (alpha 1) everywhere else. Every pixel is drawn once, with the exact alpha, and a
large region costs little more than a copy. Each item gets a depth value of its own, so the
depth buffer need not be cleared between items: on llvmpipe a clear of each item's box cost
about 0.1 ms, as much as drawing a small item. (A mark left by an earlier item with the same
value would only send a pixel through the distance loop, which gives it alpha 1 inside the
outline as the solid pass does; the values repeat after `DEPTH_LAYERS` items, and the buffer
is cleared then.)

The renderer leaves the GL state as it found it (`graphflow.gpu.preserved_state`): face
culling, blending, depth test and their functions, the bound framebuffer, scissor and masks.

The copy and, on a software renderer, a final `glFinish` are called through ctypes, which lets
other Python threads run meanwhile: on Mesa's llvmpipe that is where the pixels are copied and
rasterized, so the face mesh keeps running while a frame is drawn. (A moderngl call that makes
the driver render, such as a readback or binding another framebuffer while drawings are queued,
would hold the GIL while it waits.) On a GPU there is no finish: it would only wait for the GPU,
which the readback's fence does anyway.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import moderngl
import numpy as np
import numpy.typing as npt

from calculators.eymo.geometry import DrawItem
from graphflow.gpu import compile_program, load_shader, preserved_state
from graphflow.gpu._egl import gl_function  # GL entry points moderngl lacks, through EGL
from graphflow.gpu.transfer import is_software_renderer

#: Most outline vertices an item may have (`MAX_RING` in the shaders); parts have at most 37.
MAX_RING = 64
#: Items drawn between two clears of the depth buffer, each with its own depth value
#: (layer + 1) / 4096: exact in float32 and far from a rounding step of a 24-bit depth buffer
#: (below 1000 layers), so that a mark compares equal exactly where it was drawn.
DEPTH_LAYERS = 1000
_BAND_MARGIN_PX = 0.5  # the band is drawn this much wider than the feather
_MIN_CAPACITY = 4096  # bytes of the first vertex buffers
_GL_TEXTURE_2D = 0x0DE1


def item_vertices(item: DrawItem) -> npt.NDArray[np.float32]:
    """The item's triangle corners: rows of dst x, y, src x, y, (3 * T, 4) float32."""
    corners = item.triangles.ravel()
    return np.concatenate((item.dst[corners], item.src[corners]), axis=1)


def turns_left(ring: npt.NDArray[np.float32]) -> bool:
    """True if the outline's inside is on the left of its edges, in (x right, y down) terms.

    That is a positive shoelace area: the ring runs counterclockwise in (x, y) coordinates.
    """
    x, y = ring[:, 0].astype(np.float64), ring[:, 1].astype(np.float64)
    twice_area = np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]) + x[-1] * y[0] - x[0] * y[-1]
    return bool(twice_area > 0)


def _uniforms(program: moderngl.Program) -> dict[str, Any]:
    return {name: program[name] for name in program if isinstance(program[name],
                                                                  moderngl.Uniform)}


class _Buffer:
    """A dynamic vertex buffer that grows, and its vertex arrays (remade when it grows)."""

    def __init__(self, ctx: moderngl.Context,
                 layouts: Sequence[tuple[moderngl.Program, str, tuple[str, ...]]],
                 extra: Sequence[tuple[moderngl.Buffer, str, str]] = ()) -> None:
        self._ctx = ctx
        self._layouts = layouts
        self._extra = extra
        self.buffer = ctx.buffer(reserve=_MIN_CAPACITY, dynamic=True)
        self.vaos = self._vertex_arrays()

    def _vertex_arrays(self) -> list[moderngl.VertexArray]:
        return [self._ctx.vertex_array(program, [
            *([(self.buffer, layout, *names)] if names else []),
            *[(buffer, layout2, name) for buffer, layout2, name in self._extra]])
            for program, layout, names in self._layouts]

    def reserve(self, nbytes: int) -> bool:
        """Makes room for nbytes; True if that took a new buffer (and new vertex arrays)."""
        capacity = self.buffer.size
        if nbytes <= capacity:
            return False
        for vao in self.vaos:
            vao.release()
        self.buffer.release()
        self.buffer = self._ctx.buffer(reserve=max(nbytes, 2 * capacity), dynamic=True)
        self.vaos = self._vertex_arrays()
        return True

    def write(self, data: npt.NDArray[np.float32]) -> None:
        """Puts data in a fresh store (no wait on draws that read the last one)."""
        if not self.reserve(data.nbytes):
            self.buffer.orphan()
        self.buffer.write(data)

    def release(self) -> None:
        for vao in self.vaos:
            vao.release()
        self.buffer.release()


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
        self._programs = [_uniforms(p) for p in (self._feathered, self._solid, self._band)]
        for uniforms in self._programs[:2]:
            uniforms["u_texture"].value = 0
        # Per item: the offsets of its copies, one per instance.
        self._offsets = _Buffer(ctx, [])
        self._rebuild_meshes()
        self._ring = np.zeros((MAX_RING, 2), np.float32)
        self._depth: moderngl.Renderbuffer | None = None
        self._layer = 0  # the next item's depth layer; 0: the depth buffer needs a clear
        self._copy_image = gl_function(
            "glCopyImageSubData", None, *([ctypes.c_uint, ctypes.c_uint] + [ctypes.c_int] * 4) * 2,
            ctypes.c_int, ctypes.c_int, ctypes.c_int)
        # On llvmpipe the drawing happens in a glFinish called through ctypes, without the
        # GIL; on a GPU a finish only waits (0.1-0.2 ms at 1080p on an H200): the readback's
        # fence orders after the drawing anyway.
        self._finish = (gl_function("glFinish", None)
                        if is_software_renderer(str(ctx.info["GL_RENDERER"])) else None)

    def _rebuild_meshes(self) -> None:
        instance = [(self._offsets.buffer, "2f/i", "in_offset")]
        self._meshes = _Buffer(self._ctx, [
            (self._feathered, "2f 2f", ("in_dst", "in_src")),
            (self._solid, "2f 2f", ("in_dst", "in_src")),
            (self._band, "", ()),
        ], instance)

    def _target(self, dst: moderngl.Framebuffer) -> moderngl.Framebuffer:
        """A framebuffer of dst's colour texture with this renderer's depth buffer."""
        size = dst.size[0], dst.size[1]
        if self._depth is None or tuple(self._depth.size) != size:
            if self._depth is not None:
                self._depth.release()
            self._depth = self._ctx.depth_renderbuffer(size)
            self._layer = 0
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
            dst: A framebuffer of the same size with one colour texture.
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
        if not items:
            return
        with preserved_state(self._ctx):
            target = self._target(dst)
            try:
                self._draw(src, target, items)
                if self._finish is not None:
                    self._finish()  # the drawing happens here, without the GIL on llvmpipe
            finally:
                target.release()

    def _draw(self, src: moderngl.Texture, target: moderngl.Framebuffer,
              items: Sequence[DrawItem]) -> None:
        ctx = self._ctx
        if self._offsets.reserve(max(item.offsets.nbytes for item in items)):
            self._meshes.release()  # its vertex arrays name the old offsets buffer
            self._rebuild_meshes()
        meshes = [item_vertices(item) for item in items]
        self._meshes.write(np.concatenate(meshes))
        feathered, solid, band = self._programs
        size = (float(src.size[0]), float(src.size[1]))
        for uniforms in self._programs:
            uniforms["u_size"].value = size
        for uniforms in (feathered, solid):
            uniforms["u_src_size"].value = size
        depth_uniforms = [uniforms["u_depth"] for uniforms in self._programs]
        ctx.disable(moderngl.CULL_FACE)
        ctx.enable(moderngl.BLEND | moderngl.DEPTH_TEST)
        ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        ctx.blend_equation = moderngl.FUNC_ADD  # type: ignore[assignment]
        src.use(0)
        feathered_vao, solid_vao, band_vao = self._meshes.vaos
        ring = self._ring
        first = 0
        for item, mesh in zip(items, meshes, strict=True):
            x0, y0, x1, y1 = item.bbox
            target.scissor = (x0, y0, x1 - x0, y1 - y0)
            self._offsets.write(item.offsets)
            copies = len(item.offsets)
            ring[: len(item.dst)] = item.dst
            ring_bytes = ring.tobytes()
            # 1: mark the band with this item's depth, colour untouched.
            target.color_mask = (False, False, False, False)
            target.depth_mask = True
            if self._layer == 0:
                target.scissor = (0, 0, *target.size)
                target.use()
                target.clear(depth=1.0)
                target.scissor = (x0, y0, x1 - x0, y1 - y0)
            target.use()
            depth = 2.0 * (self._layer + 1) / 4096 - 1.0  # NDC z of window depth (layer+1)/4096
            self._layer = (self._layer + 1) % DEPTH_LAYERS
            for uniform in depth_uniforms:
                uniform.value = depth
            band["u_ring"].write(ring_bytes)
            band["u_ring_size"].value = len(item.dst)
            width = float(item.feather) + _BAND_MARGIN_PX
            band["u_width"].value = width if turns_left(item.dst) else -width
            ctx.depth_func = "1"
            band_vao.render(moderngl.TRIANGLES, vertices=12 * len(item.dst), instances=copies)
            # 2 and 3: the triangles, feathered on the band (equal depth), opaque elsewhere.
            target.color_mask = (True, True, True, False)  # the frame's alpha is kept
            target.depth_mask = False
            target.use()
            feathered["u_ring"].write(ring_bytes)
            feathered["u_ring_size"].value = len(item.dst)
            feathered["u_feather"].value = float(item.feather)
            red, green, blue = item.channels
            colour = (red * item.brightness, green * item.brightness, blue * item.brightness,
                      item.saturation)
            feathered["u_colour"].value = colour
            solid["u_colour"].value = colour
            ctx.depth_func = "=="
            feathered_vao.render(moderngl.TRIANGLES, vertices=len(mesh), first=first,
                                 instances=copies)
            ctx.depth_func = "!="
            solid_vao.render(moderngl.TRIANGLES, vertices=len(mesh), first=first,
                             instances=copies)
            first += len(mesh)

    def release(self) -> None:
        """Frees the GL objects."""
        self._meshes.release()
        self._offsets.release()
        for program in (self._feathered, self._solid, self._band):
            program.release()
        if self._depth is not None:
            self._depth.release()
