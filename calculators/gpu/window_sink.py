"""A glfw window that shows a stream of GpuBuffers or ImageFrames.

The window's GL context (GLX/WGL/CGL, from glfw) cannot share textures with graphflow's
headless EGL contexts, so each frame is read back (GpuBuffer) and uploaded into the window's
context: the documented copy. All glfw calls run on one dedicated thread. The image keeps its
aspect ratio (black bars), and Esc, q or closing the window stops the graph cleanly
(``Stop``, MediaPipe's ``tool::StatusStop()`` from a sink). The title shows the frame rate
and the latest line of an optional ``STATUS`` stream (eymo: which script runs, its reloads).
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import os
import time
from typing import Any, ClassVar

import moderngl
import numpy as np
import numpy.typing as npt

from graphflow.calculator import Calculator, CalculatorContext, Port, Stop, register_calculator
from graphflow.gpu import GpuBuffer
from graphflow.gpu.shader import compile_program, load_shader, shader_from_string
from graphflow.image_frame import ImageFrame

logger = logging.getLogger(__name__)

# The window's framebuffer has its row 0 at the bottom, a texture's row 0 is the image's top
# row (graphflow's convention, which glsl/fullscreen.vert follows): flip v here.
_FRAGMENT = shader_from_string("""
#version 330 core
uniform sampler2D u_texture;
in vec2 uv;
out vec4 color;
void main() { color = vec4(texture(u_texture, vec2(uv.x, 1.0 - uv.y)).rgb, 1.0); }
""", "window sink fragment")


def letterbox(frame_w: int, frame_h: int, window_w: int,
              window_h: int) -> tuple[int, int, int, int]:
    """The viewport ``(x, y, w, h)`` that fits the frame in the window keeping its aspect."""
    scale = min(window_w / frame_w, window_h / frame_h)
    w, h = max(1, round(frame_w * scale)), max(1, round(frame_h * scale))
    return (window_w - w) // 2, (window_h - h) // 2, w, h


class _Window:
    """The glfw window and its moderngl context; every method runs on the window thread."""

    def __init__(self, title: str, width: int, height: int) -> None:
        import glfw

        self.glfw = glfw
        if not glfw.init():
            display = os.environ.get("DISPLAY", "")
            raise RuntimeError(
                f"glfw cannot open a display (DISPLAY={display!r}): the window sink needs a "
                "desktop session or a virtual one (`xvfb-run graphflow run ...`)"
            )
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
        self.window = glfw.create_window(width, height, title, None, None)
        if not self.window:
            glfw.terminate()
            raise RuntimeError("glfw could not create an OpenGL 3.3 window")
        glfw.set_window_pos(self.window, 0, 0)
        glfw.make_context_current(self.window)
        glfw.swap_interval(0)
        self.quit = False
        glfw.set_key_callback(self.window, self._on_key)
        self.ctx = moderngl.create_context(require=330)
        self.program = compile_program(self.ctx, load_shader("fullscreen.vert"), _FRAGMENT)
        self.vao = self.ctx.vertex_array(self.program, [])
        self.texture: moderngl.Texture | None = None

    def _on_key(self, window: Any, key: int, scancode: int, action: int, mods: int) -> None:
        if action == self.glfw.PRESS and key in (self.glfw.KEY_ESCAPE, self.glfw.KEY_Q):
            self.quit = True

    def show(self, pixels: npt.NDArray[np.uint8]) -> bool:
        """Draws one frame; returns False once the user asked to close."""
        glfw = self.glfw
        height, width, channels = pixels.shape
        if self.texture is None or self.texture.size != (width, height) or \
                self.texture.components != channels:
            if self.texture is not None:
                self.texture.release()
            self.texture = self.ctx.texture((width, height), channels)
            self.texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.write(np.ascontiguousarray(pixels), alignment=1)
        fb_w, fb_h = glfw.get_framebuffer_size(self.window)
        self.ctx.screen.use()
        self.ctx.viewport = (0, 0, fb_w, fb_h)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        self.ctx.viewport = letterbox(width, height, fb_w, fb_h)
        self.texture.use(0)
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        glfw.swap_buffers(self.window)
        glfw.poll_events()
        return not (self.quit or glfw.window_should_close(self.window))

    def set_title(self, title: str) -> None:
        self.glfw.set_window_title(self.window, title)

    def close(self) -> None:
        if self.texture is not None:
            self.texture.release()
        self.vao.release()
        self.program.release()
        self.ctx.release()
        self.glfw.destroy_window(self.window)
        self.glfw.terminate()


#: Seconds between two updates of the frame rate in the title.
TITLE_INTERVAL_S = 0.5


@register_calculator
class WindowSinkCalculator(Calculator):
    """Shows frames in a desktop window sized like the first frame (resizable).

    Input side packet ``TITLE`` (optional) names the window; the title also shows the latest
    ``STATUS`` text (optional input stream, e.g. ``EymoTransformCalculator``'s) and the frames
    shown per second over the last second: ``TITLE - STATUS - 29.9 fps``. Stops the graph on
    Esc, q or window close.
    """

    inputs = (Port("", (GpuBuffer, ImageFrame), doc="frames to show"),
              Port("STATUS", str, optional=True, doc="a line of text for the title"))
    input_side_packets = (Port("TITLE", str, optional=True, missing_ok=True, doc="window title"),)
    # Status lines come now and then: each packet is handled as it arrives.
    input_stream_handler: ClassVar[str | None] = "ImmediateInputStreamHandler"
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: CalculatorContext) -> None:
        """Starts the window thread (the window opens with the first frame)."""
        self._name = cc.side_inputs.get("TITLE", f"graphflow: {cc.node_name}")
        self._status = ""
        self._shown: collections.deque[float] = collections.deque()
        self._titled = 0.0
        self._thread = concurrent.futures.ThreadPoolExecutor(1, f"window:{cc.node_name}")
        self._window: _Window | None = None

    def title(self, now: float) -> str:
        """``TITLE - STATUS - N fps`` (the parts there are), frames per second over the last
        second before ``now``."""
        while self._shown and now - self._shown[0] > 1.0:
            self._shown.popleft()
        parts = [self._name, self._status]
        if len(self._shown) >= 2 and self._shown[-1] > self._shown[0]:
            fps = (len(self._shown) - 1) / (self._shown[-1] - self._shown[0])
            parts.append(f"{fps:.1f} fps")
        return " - ".join(p for p in parts if p)

    def _show(self, pixels: npt.NDArray[np.uint8], title: str | None) -> bool:
        if self._window is None:
            self._window = _Window(title or self._name, pixels.shape[1], pixels.shape[0])
        elif title is not None:
            self._window.set_title(title)
        return self._window.show(pixels)

    def process(self, cc: CalculatorContext) -> None:
        """Shows the frame (or takes the status line); raises Stop once the user closed the
        window."""
        retitle = False
        if cc.inputs.has("STATUS"):
            self._status = cc.inputs["STATUS"].payload
            retitle = True
        packet = cc.inputs[0]
        if packet.is_empty:
            if retitle and self._window is not None:
                window = self._window
                self._thread.submit(window.set_title, self.title(time.monotonic())).result()
            return
        payload = packet.payload
        pixels = payload.read() if isinstance(payload, GpuBuffer) else payload.array
        now = time.monotonic()
        self._shown.append(now)
        title = None
        if retitle or now - self._titled >= TITLE_INTERVAL_S:
            title, self._titled = self.title(now), now
        if not self._thread.submit(self._show, pixels, title).result():
            logger.info("window of node %r closed: stopping the graph", cc.node_name)
            raise Stop()

    def close(self, cc: CalculatorContext) -> None:
        """Closes the window and joins its thread."""
        if self._window is not None:
            self._thread.submit(self._window.close).result()
        self._thread.shutdown()
