"""GlSimpleCalculator: one GPU frame in, one rendered GPU frame out; the base class does the rest.

A subclass implements ``gl_setup(cc, gl)``, ``gl_render(cc, gl, src, dst)`` and
``gl_teardown(cc, gl)`` (and optionally ``output_size(width, height)`` and
``gl_prepare(cc, frame)``, which may send a frame on unchanged); the base class runs on
the node's GL context thread, takes an output texture from the pool, binds its framebuffer and
viewport, binds the input texture to unit 0, and sends the result at the input's timestamp.
Around ``gl_render`` it saves and restores the pipeline state (:mod:`graphflow.gpu.state`), so
the GL nodes sharing a context never see each other's blending, depth or culling settings.
The calculator context and the GL context are arguments of each hook, not attributes. Like
MediaPipe's GlSimpleCalculator, the stream is tagged ``VIDEO`` or untagged (index 0).

:class:`GlShaderCalculator` covers the common case of a single fragment shader whose uniforms
come from the node's options and input side packets.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import moderngl
import numpy as np

from graphflow.calculator import Calculator, CalculatorContext, ContractError, NodeContract, Port
from graphflow.gpu.buffer import GpuBuffer
from graphflow.gpu.context import GL_EXECUTOR, GlContext, require_current
from graphflow.gpu.shader import compile_program, load_shader
from graphflow.gpu.state import preserved_state

_VIDEO = "VIDEO"


def _check_one_stream(ports: Sequence[tuple[str, int]], kind: str) -> None:
    if ((_VIDEO, 0) in ports) == (("", 0) in ports):
        raise ContractError(f"connect exactly one {kind} stream, tagged VIDEO:name or untagged")


class GlSimpleCalculator(Calculator):
    """Base class of single-pass GL calculators (MediaPipe's ``GlSimpleCalculator``).

    Override ``gl_render`` (and usually ``gl_setup``/``gl_teardown``). Each hook receives the
    CalculatorContext of the call (options, side packets, the timestamp, other inputs) and the
    node's :class:`GlContext` (``gl.ctx`` is the moderngl context). GL objects made with
    :meth:`program` and :meth:`fullscreen` are released by the base class after
    ``gl_teardown``. State that ``gl_render`` changes (blending, depth test, culling, their
    functions, bindings, viewport, scissor, masks) is restored after it returns.

    Class attributes:
        shader_dirs: Directories searched for shader files before graphflow's ``glsl/``;
            the subclass's own module directory is always searched first.
    """

    inputs: ClassVar[Sequence[Port]] = (
        Port(_VIDEO, GpuBuffer, optional=True, doc="input frame (or untagged)"),
        Port("", GpuBuffer, optional=True, doc="input frame (or tagged VIDEO)"),
    )
    outputs: ClassVar[Sequence[Port]] = (
        Port(_VIDEO, GpuBuffer, optional=True, doc="rendered frame (or untagged)"),
        Port("", GpuBuffer, optional=True, doc="rendered frame (or tagged VIDEO)"),
    )
    timestamp_offset: ClassVar[int | None] = 0
    executor: ClassVar[str | None] = GL_EXECUTOR
    shader_dirs: ClassVar[Sequence[str | os.PathLike[str]]] = ()

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """Requires one input and one output stream, each ``VIDEO:`` or untagged."""
        _check_one_stream(node.inputs, "input")
        _check_one_stream(node.outputs, "output")

    # -- to override ----------------------------------------------------------------------

    def gl_setup(self, cc: CalculatorContext, gl: GlContext) -> None:
        """Creates programs and other GL objects (on the GL thread, in ``open``)."""

    def gl_prepare(self, cc: CalculatorContext, frame: GpuBuffer) -> bool:
        """Whether to render this frame; False sends the input frame on as it is.

        Called before each ``gl_render`` (on the GL thread). A calculator that sometimes
        has nothing to draw returns False then, which costs no texture, draw or copy (and a
        frame uploaded from an SRGBA ImageFrame then reads back as that ImageFrame). It may
        also compute here what ``gl_render`` of the same frame needs.
        """
        return True

    def gl_render(self, cc: CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        """Renders one frame from ``src`` (bound to unit 0) into ``dst`` (bound)."""
        raise NotImplementedError(f"{type(self).__name__} must implement gl_render")

    def gl_teardown(self, cc: CalculatorContext, gl: GlContext) -> None:
        """Releases what ``gl_setup`` made beyond :meth:`program`/:meth:`fullscreen` objects."""

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The output frame size for an input of ``width`` x ``height`` (default: the same)."""
        return width, height

    # -- helpers --------------------------------------------------------------------------

    def program(self, gl: GlContext, fragment: str,
                vertex: str = "fullscreen.vert") -> moderngl.Program:
        """Compiles a program in ``gl`` from shader files.

        The files are looked up in the calculator module's folder, ``shader_dirs``, then
        graphflow's ``glsl/``.

        Raises:
            ShaderError: Naming the shader file and line of each compile error.
        """
        module_file = getattr(sys.modules.get(type(self).__module__), "__file__", None)
        dirs = [pathlib.Path(module_file).parent] if module_file else []
        dirs += [pathlib.Path(d) for d in self.shader_dirs]
        program = compile_program(gl.ctx, load_shader(vertex, dirs),
                                  load_shader(fragment, dirs))
        self._owned.append(program)
        return program

    def fullscreen(self, program: moderngl.Program) -> moderngl.VertexArray:
        """A vertex array that covers the target with one triangle: ``render(vertices=3)``.

        Meant for ``fullscreen.vert``, which derives positions from ``gl_VertexID`` and
        passes ``uv`` (``v = 0`` at the image's top row).
        """
        vao = program.ctx.vertex_array(program, [])
        self._owned.append(vao)
        return vao

    # -- the calculator -------------------------------------------------------------------

    def open(self, cc: CalculatorContext) -> None:
        """Calls ``gl_setup`` on the node's GL context."""
        gl = require_current(f"node {cc.node_name!r} ({type(self).__name__})")
        self._owned: list[Any] = []
        self._in = _VIDEO if cc.inputs.connected(_VIDEO) else 0
        self._out = _VIDEO if cc.outputs.connected(_VIDEO) else 0
        self.gl_setup(cc, gl)

    def process(self, cc: CalculatorContext) -> None:
        """Renders the input frame into a pooled texture and sends it."""
        gl = require_current(f"node {cc.node_name!r} process")
        packet = cc.inputs[self._in]
        if packet.is_empty:
            return
        src: GpuBuffer = packet.payload
        if not self.gl_prepare(cc, src):
            cc.outputs[self._out].add_packet(packet)
            return
        ctx = gl.ctx
        width, height = self.output_size(src.width, src.height)
        surface = gl.pool.acquire(width, height)
        try:
            with preserved_state(ctx):
                framebuffer = surface.framebuffer(ctx)
                framebuffer.use()
                framebuffer.viewport = (0, 0, width, height)
                texture = src.texture_in(gl)
                texture.use(0)
                self.gl_render(cc, gl, texture, framebuffer)
            result = GpuBuffer(gl, surface)
        except BaseException:
            gl.pool.recycle(surface, None)
            raise
        cc.outputs[self._out].add(result)

    def close(self, cc: CalculatorContext) -> None:
        """Calls ``gl_teardown`` and releases the helper-made objects."""
        if not hasattr(self, "_owned"):
            return  # open failed before setup
        gl = require_current(f"node {cc.node_name!r} close")
        try:
            self.gl_teardown(cc, gl)
        finally:
            for obj in reversed(self._owned):
                obj.release()
            self._owned.clear()


class GlShaderCalculator(GlSimpleCalculator):
    """A GlSimpleCalculator that draws one fragment shader over the frame.

    Set ``fragment_shader`` (a file in the module's folder, ``shader_dirs`` or ``glsl/``);
    its uniforms are set, when the shader declares them, from:

    - ``u_texture``: the input frame (unit 0); ``u_size``: the output size in pixels
      (vec2); ``u_time``: the packet timestamp in seconds;
    - the node options (``options_type``): each field of that name;
    - input side packets: the side packet whose tag, lower-cased, is the uniform's name;
    - :meth:`uniforms`: per-frame values a subclass computes.

    Example:
        @gf.register_calculator
        class TintCalculator(gf.GlShaderCalculator):
            fragment_shader = "tint.frag"        # uniform vec3 tint;
            input_side_packets = (gf.Port("TINT", tuple),)
    """

    fragment_shader: ClassVar[str] = ""

    def uniforms(self, cc: CalculatorContext) -> Mapping[str, Any]:
        """Per-frame uniform values (override); called before each draw."""
        return {}

    def gl_setup(self, cc: CalculatorContext, gl: GlContext) -> None:
        """Compiles the shader and sets the uniforms from options and side packets."""
        if not self.fragment_shader:
            raise TypeError(f"{type(self).__name__} must set fragment_shader")
        self._program = self.program(gl, self.fragment_shader)
        self._vao = self.fullscreen(self._program)
        self._set_uniforms({"u_texture": 0})
        options = cc.options
        if options is not None:
            self._set_uniforms({f.name: getattr(options, f.name)
                                for f in options.DESCRIPTOR.fields})
        self._set_uniforms({port.tag.lower(): cc.side_inputs[port.tag]
                            for port in self.input_side_packets
                            if port.tag in cc.side_inputs})

    def gl_render(self, cc: CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        """Draws the shader over ``dst``."""
        self._set_uniforms({"u_size": tuple(float(v) for v in dst.size),
                            "u_time": cc.timestamp.seconds})
        self._set_uniforms(self.uniforms(cc))
        self._vao.render(moderngl.TRIANGLES, vertices=3)

    def _set_uniforms(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if name in self._program:
                scalar = isinstance(value, (bool, int, float))
                self._program[name].value = (  # type: ignore[union-attr]
                    value if scalar else tuple(np.asarray(value).ravel().tolist()))
