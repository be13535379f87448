"""eymo's calculators: the GL transform, landmarks every Nth frame, and the landmarks between.

- `EymoTransformCalculator` (GPU): draws an eymo script's items on each frame, from the
  frame's face landmarks and its timestamp, with `GlItemRenderer`, or with the CPU renderer
  (`calculators.eymo.cpu_renderer`) where the GL renderer is a software one; reloads the
  script when its file changes.
- `EymoEveryNthCalculator` (CPU): lets every Nth frame through to the face mesh and advances
  the bound past the others, so the graph never waits for them.
- `EymoLandmarkFillCalculator` (CPU): landmarks for every frame: the face mesh's where it ran,
  predicted from the last two measurements (constant velocity) in between.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Sequence
from typing import Any, ClassVar

import moderngl
import numpy as np
import numpy.typing as npt

from calculators.eymo.cpu_renderer import render_into
from calculators.eymo.geometry import draw_items
from calculators.eymo.renderer import GlItemRenderer
from calculators.eymo.tracking import FaceNumbering
from calculators.eymo.watcher import ScriptWatcher
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.gpu import GlContext, GlSimpleCalculator, GpuBuffer
from graphflow.gpu.transfer import rgba_copy
from graphflow.image_frame import ImageFrame
from graphflow.resources import resource_dir

logger = logging.getLogger(__name__)

#: The script used when a graph gives none (in graphflow's examples folder): DESIGN.md's example.
DEFAULT_SCRIPT_NAME = "default.eymo"
#: Values of the RENDERER side packet: `auto` draws on the CPU where the GL renderer is a
#: software one (measured faster there: bench/README.md), with GL elsewhere.
RENDERERS = ("auto", "gl", "cpu")

FaceArray = npt.NDArray[np.float32]


def face_arrays(landmarks: Any) -> list[FaceArray]:
    """The faces of a LANDMARKS payload as (N, 3) float32 arrays of normalized x, y, z.

    Args:
        landmarks: A list of landmark lists (MediaPipe's multi-face output), one landmark
            list, or None (no face).

    Raises:
        ValueError: A face is not an (N, 3) array-like.
    """
    if landmarks is None:
        return []
    faces = [landmarks] if _is_one_face(landmarks) else list(landmarks)
    out = []
    for i, face in enumerate(faces):
        array = np.asarray(face, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] < 2:
            raise ValueError(
                f"LANDMARKS face {i}: expected (N, 3) normalized landmarks, got shape {array.shape}"
            )
        out.append(array)
    return out


def _is_one_face(landmarks: Any) -> bool:
    if isinstance(landmarks, np.ndarray):
        return landmarks.ndim == 2
    return hasattr(landmarks, "__array__") and not isinstance(landmarks, (list, tuple))


def script_path(value: str | os.PathLike[str] | None) -> pathlib.Path:
    """The script file of a SCRIPT side packet: the path given, or examples/default.eymo."""
    if value is None or not os.fspath(value):
        return resource_dir("examples") / DEFAULT_SCRIPT_NAME
    return pathlib.Path(value)


def script_status(watcher: ScriptWatcher) -> str:
    """What runs, in a line: the script's name, its reloads, an error that keeps the file on
    disk from running."""
    name = os.path.basename(watcher.path)
    if watcher.error is not None:
        return f"{name}: {watcher.error} (running the last good version)"
    return name if watcher.version == 0 else f"{name} (reload {watcher.version})"


@register_calculator
class EymoTransformCalculator(GlSimpleCalculator):
    """Draws an eymo script on each GPU frame (`GlSimpleCalculator`; runs on a GL context).

    Inputs: `VIDEO` (or untagged) GpuBuffer frames; `LANDMARKS` (optional) the faces at the
    same timestamp, a list of landmark lists in number order (face 0 first; no packet: no
    face). Outputs: `VIDEO` (or untagged) GpuBuffer; `STATUS` (optional) a line of text at
    the first frame and whenever it changes: the script's file name, then `NAME (reload N)`
    after the Nth reload, or `NAME: <error> (running the last good version)`. Side packet
    `SCRIPT` (optional): the .eymo file, default `examples/default.eymo`; it is watched and a
    changed file takes effect at the next frame (a script with a mistake keeps the last good
    one and logs the error). Side packet `RENDERER` (optional): `auto` (the default), `gl` or
    `cpu`. The CPU renderer (`calculators.eymo.cpu_renderer`) draws on the frame a GpuBuffer
    holds as an ImageFrame (a deferred one, SRGB or SRGBA, as `ImageFrameToGpuBufferCalculator`
    makes on a software GL renderer, or one uploaded from an SRGBA frame) and sends a deferred
    GpuBuffer on, so that no pixel goes through the driver; `auto` chooses it on software GL
    renderers (llvmpipe), where the GL renderer's passes cost several times more. Frames
    without an ImageFrame are drawn with GL.

    Animations (spin, drift) are functions of the packet timestamp, so a frame gives the same
    output however and whenever it is processed. A frame with nothing to draw (no face for
    a script of parts) is sent on as it is, without a copy.
    """

    inputs: ClassVar[Sequence[Port]] = (
        *GlSimpleCalculator.inputs,
        Port("LANDMARKS", object, optional=True, doc="faces: list of (468, 3) landmark lists"),
    )
    outputs: ClassVar[Sequence[Port]] = (
        *GlSimpleCalculator.outputs,
        Port("STATUS", str, optional=True, doc="which script runs, when that changes"),
    )
    input_side_packets: ClassVar[Sequence[Port]] = (
        Port("SCRIPT", (str, os.PathLike), optional=True, missing_ok=True,
             doc="path of the .eymo script"),
        Port("RENDERER", str, optional=True, missing_ok=True, doc="auto (default), gl or cpu"),
    )

    def gl_setup(self, cc: CalculatorContext, gl: GlContext) -> None:
        """Loads the script (raising ParseError/OSError); the shaders compile at the first
        frame drawn with GL.

        Raises:
            ValueError: The RENDERER side packet is not one of `RENDERERS`.
        """
        choice = cc.side_inputs.get("RENDERER", "auto")
        if choice not in RENDERERS:
            raise ValueError(f"node {cc.node_name!r}: side packet RENDERER must be one of "
                             f"{', '.join(RENDERERS)}, got {choice!r}")
        self._on_cpu = choice == "cpu" or (choice == "auto" and gl.software)
        path = script_path(cc.side_inputs.get("SCRIPT"))
        self._watcher = ScriptWatcher(path, check_interval_ms=0.0)
        self._gl = gl
        self._renderer: GlItemRenderer | None = None  # compiled on the first GL drawing
        self._status = ""
        logger.info("eymo: node %r runs script %s, drawn on the %s (GL renderer %s)",
                    cc.node_name, path, "CPU" if self._on_cpu else "GPU", gl.renderer)

    def process(self, cc: CalculatorContext) -> None:
        """Draws on the frame's ImageFrame with the CPU renderer, or on the GPU."""
        packet = cc.inputs[self._in]
        frame = None if packet.is_empty else packet.payload.frame
        if not self._on_cpu or frame is None:
            super().process(cc)
            return
        if not self.gl_prepare(cc, packet.payload):
            cc.outputs[self._out].add_packet(packet)
            return
        source = frame.array  # SRGBA, or SRGB in a deferred buffer
        # An SRGB frame's widening is the copy drawn on (one pass over the frame), opaque.
        out = rgba_copy(source)
        render_into(out, self._items, keep_alpha=source.shape[2] == 4)
        cc.outputs[self._out].add(GpuBuffer.deferred(self._gl, ImageFrame(out)))

    def gl_prepare(self, cc: CalculatorContext, frame: GpuBuffer) -> bool:
        """Computes this frame's items; a frame with none is sent on as it is."""
        landmarks = cc.inputs["LANDMARKS"] if cc.inputs.connected("LANDMARKS") else None
        faces = face_arrays(None if landmarks is None else landmarks.get(None))
        self._items = draw_items(self._watcher.current(), faces, frame.size, int(cc.timestamp))
        if cc.outputs.connected("STATUS"):
            status = script_status(self._watcher)
            if status != self._status:
                self._status = status
                cc.outputs["STATUS"].add(status)
        return bool(self._items)

    def gl_render(self, cc: CalculatorContext, gl: GlContext, src: moderngl.Texture,
                  dst: moderngl.Framebuffer) -> None:
        """Draws the items ``gl_prepare`` computed for this frame."""
        if self._renderer is None:
            self._renderer = GlItemRenderer(gl.ctx)
        self._renderer.render(src, dst, self._items)

    def gl_teardown(self, cc: CalculatorContext, gl: GlContext) -> None:
        """Releases the renderer's GL objects."""
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:
            renderer.release()


@register_calculator
class EymoEveryNthCalculator(Calculator):
    """Passes the 1st, (N+1)th, (2N+1)th... input packet; advances the bound past the others.

    Side packet `EVERY` (optional, default 1: every packet): N >= 1.
    """

    inputs = (Port("", doc="frames"),)
    outputs = (Port("", doc="every Nth frame"),)
    input_side_packets = (Port("EVERY", int, optional=True, missing_ok=True, doc="N, at least 1"),)
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: CalculatorContext) -> None:
        """Reads N."""
        every = cc.side_inputs.get("EVERY", 1)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"side packet EVERY must be an integer >= 1, got {every!r}")
        self._every = every
        self._count = 0

    def process(self, cc: CalculatorContext) -> None:
        """Forwards the packet or skips it."""
        packet = cc.inputs[0]
        if self._count % self._every == 0:
            cc.outputs[0].add_packet(packet)
        else:
            cc.outputs[0].set_next_timestamp_bound(int(packet.timestamp) + 1)
        self._count += 1


@register_calculator
class EymoLandmarkFillCalculator(Calculator):
    """Numbered landmarks for every frame when the face mesh only ran on some of them.

    Inputs: `FRAME`, every frame (only its timestamp is used); `MEASURED`, the frames the face
    mesh ran on; `LANDMARKS`, its output (no packet at a measured frame: no face). Output
    `LANDMARKS` at every frame, the faces in number order (`FaceNumbering`: a face keeps its
    number while it moves): the measurement where there is one; in between, each face moved
    on at its velocity between the last two measurements (a face new in the last one is
    held), for at most one measurement interval.
    """

    inputs = (
        Port("FRAME", doc="every frame"),
        Port("MEASURED", doc="the frames the face mesh ran on"),
        Port("LANDMARKS", object, optional=True, doc="the face mesh's landmarks"),
    )
    outputs = (Port("LANDMARKS", list, doc="faces: list of (N, 3) float32 arrays"),)
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: CalculatorContext) -> None:
        """Starts without measurements."""
        self._numbering = FaceNumbering()
        self._last: _Measurement | None = None
        self._previous: _Measurement | None = None

    def process(self, cc: CalculatorContext) -> None:
        """Sends the measured or predicted faces."""
        if cc.inputs["FRAME"].is_empty:
            return
        now = int(cc.timestamp)
        if not cc.inputs["MEASURED"].is_empty:
            faces, ids = self._numbering.number(face_arrays(cc.inputs["LANDMARKS"].get(None)))
            self._previous, self._last = self._last, _Measurement(now, faces, ids)
            cc.outputs["LANDMARKS"].add(faces)
            return
        cc.outputs["LANDMARKS"].add(self._predict(now))

    def _predict(self, now: int) -> list[FaceArray]:
        last, previous = self._last, self._previous
        if last is None:
            return []
        if previous is None:
            return last.faces
        step = min(now - last.time, last.time - previous.time) / (last.time - previous.time)
        before = dict(zip(previous.ids, previous.faces, strict=True))
        return [face if (old := before.get(face_id)) is None
                else (face + (face - old) * step).astype(np.float32)
                for face, face_id in zip(last.faces, last.ids, strict=True)]


@dataclasses.dataclass(frozen=True)
class _Measurement:
    """The numbered faces the face mesh found at one timestamp."""

    time: int
    faces: list[FaceArray]
    ids: list[int]


__all__ = [
    "DEFAULT_SCRIPT_NAME",
    "EymoEveryNthCalculator",
    "EymoLandmarkFillCalculator",
    "EymoTransformCalculator",
    "face_arrays",
    "script_path",
]
