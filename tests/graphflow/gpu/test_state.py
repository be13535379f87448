"""preserved_state: the pipeline state read from the driver and put back, on a real context."""

import moderngl
import numpy as np
import pytest

from graphflow.gpu import GlContext, GlState, preserved_state


def _square(ctx: moderngl.Context) -> moderngl.VertexArray:
    program = ctx.program(
        vertex_shader="#version 330 core\nin vec2 p;\n"
                      "void main() { gl_Position = vec4(p, 0.5, 1.0); }",
        fragment_shader="#version 330 core\nout vec4 c;\nvoid main() { c = vec4(1.0); }")
    # Clockwise as seen on screen: culled by the default front face (ccw) and cull mode (back).
    corners = np.array([-1, -1, -1, 1, 1, 1, -1, -1, 1, 1, 1, -1], np.float32)
    return ctx.vertex_array(program, [(ctx.buffer(corners), "2f", "p")])


def test_state_comes_back_after_an_exception_and_the_next_draw_is_unaffected(
        gl: GlContext) -> None:
    def run() -> tuple[GlState, GlState, bytes]:
        ctx = gl.ctx
        target = ctx.framebuffer([ctx.texture((4, 4), 4)])
        target.use()
        before = GlState.read()
        with pytest.raises(RuntimeError), preserved_state(ctx):
            ctx.enable(moderngl.CULL_FACE | moderngl.BLEND)
            ctx.front_face = "cw"
            ctx.blend_func = moderngl.ZERO, moderngl.ZERO
            scratch = ctx.framebuffer([ctx.texture((2, 2), 4)])
            scratch.use()
            scratch.release()  # bound when released: moderngl cannot bind it again
            raise RuntimeError("in the block")
        after = GlState.read()
        # moderngl binds its framebuffer again (as a read does) and draws: with culling or
        # the ZERO blend left behind, the square would not be white.
        target.clear(0.0, 0.0, 0.0, 0.0)
        _square(ctx).render(moderngl.TRIANGLES)
        pixels = target.read(components=4)
        assert ctx.error == "GL_NO_ERROR"
        return before, after, pixels

    before, after, pixels = gl.run(run)
    assert pixels == b"\xff" * 64
    assert after == before


def test_a_framebuffer_released_inside_the_block_is_not_bound_again(gl: GlContext) -> None:
    def run() -> tuple[int, str]:
        ctx = gl.ctx
        doomed = ctx.framebuffer([ctx.texture((3, 3), 4)])
        doomed.use()
        with preserved_state(ctx):
            doomed.release()
        return GlState.read().draw_framebuffer, ctx.error

    assert gl.run(run) == (0, "GL_NO_ERROR")
