"""GL calculators that several GL test modules run in their graphs (registered on import)."""

import threading
from typing import ClassVar

import moderngl

import graphflow as gf
from graphflow.gpu import GlContext, GlSimpleCalculator


@gf.register_calculator
class TestInvertCalculator(GlSimpleCalculator):
    """Inverts RGB (graphflow's glsl/invert.frag); records the threads it ran on."""

    threads: ClassVar[set[str]] = set()

    def gl_setup(self, cc: gf.CalculatorContext, gl: GlContext) -> None:
        self.prog = self.program(gl, "invert.frag")
        self.quad = self.fullscreen(self.prog)
        type(self).threads.add(threading.current_thread().name)

    def gl_render(self, cc: gf.CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        type(self).threads.add(threading.current_thread().name)
        self.quad.render(vertices=3)
