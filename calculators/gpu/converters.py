"""ImageFrame <-> GpuBuffer converters (MediaPipe's names and untagged ports).

Frames are RGBA on the GPU: an RGB ImageFrame is widened to RGBA on the CPU (OpenCV, about
0.2 ms at 1080p, where an RGB texture upload on llvmpipe takes 3.4 ms; on a GPU straight into
the mapped upload buffer) and the readback gives SRGBA ImageFrames, as MediaPipe's BGRA32
GpuBuffers do. A buffer uploaded from an SRGBA ImageFrame and sent on unchanged (a GL node
that had nothing to draw, see ``GlSimpleCalculator.gl_prepare``) reads back as that very
ImageFrame, with no transfer. Both go through the context's transfer strategy
(:mod:`graphflow.gpu.transfer`): direct on llvmpipe, persistently mapped pixel buffers on GPUs.
There neither copies between numpy and the mapped buffers: an upload writes the frame into
the buffer (the RGB widening's output, or the RGBA copy, goes there), and a readback hands
out an ImageFrame backed by its buffer (:meth:`graphflow.gpu.GpuBuffer.read_frame`), which
goes back to its ring when the frame is garbage-collected and is copied out if the GL
context shuts down first.

On a software GL renderer a frame is not uploaded at once: it goes on, as it is (SRGBA or
SRGB), in a deferred GpuBuffer (``GpuBuffer.deferred``), uploaded by the first node that asks
for its texture (with ``GRAPHFLOW_GL_TRANSFER=mapped`` a software renderer takes a GPU's path,
uploads included: that is how tests run the GPU's transfers on llvmpipe). A node that can
work on the frame itself (eymo's CPU renderer) then moves no pixels through the driver, and
an SRGB frame from a decoder is widened to RGBA only once, by whoever needs its pixels
(eymo's CPU renderer widens it into the frame it draws on, in place of a copy); an SRGBA
frame nobody draws on reads back as the same ImageFrame.
"""

from __future__ import annotations

from typing import ClassVar

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.gpu import GL_EXECUTOR, GlContext, GpuBuffer, require_current, upload
from graphflow.gpu.transfer import DirectTransfers
from graphflow.image_frame import ImageFrame


@register_calculator
class ImageFrameToGpuBufferCalculator(Calculator):
    """Uploads each ImageFrame (SRGB or SRGBA) into an RGBA GpuBuffer on the node's context.

    On a software renderer with direct transfers the frame goes on as it is in a deferred
    GpuBuffer, uploaded (an SRGB one widened to RGBA) on first use. Elsewhere an SRGB frame,
    as decoders give them, is widened straight into the upload's mapped buffer
    (``MappedTransfers.upload``): one pass, no RGBA copy in between.
    """

    inputs = (Port("", ImageFrame, doc="CPU frame, SRGB or SRGBA"),)
    outputs = (Port("", GpuBuffer, doc="the same frame as an RGBA texture"),)
    timestamp_offset: ClassVar[int | None] = 0
    executor: ClassVar[str | None] = GL_EXECUTOR

    gl: GlContext

    def open(self, cc: CalculatorContext) -> None:
        """Binds to the node's GL context."""
        self.gl = require_current(f"node {cc.node_name!r} (ImageFrameToGpuBufferCalculator)")
        # Direct transfers on a software renderer: a frame is uploaded only if a GL node
        # asks for its texture (GpuBuffer.deferred).
        self.defer = self.gl.software and isinstance(self.gl.transfers, DirectTransfers)

    def process(self, cc: CalculatorContext) -> None:
        """Uploads the frame (an RGB one widened to RGBA on the way), or defers it."""
        frame: ImageFrame = cc.inputs[0].payload
        if self.defer:
            cc.outputs[0].add(GpuBuffer.deferred(self.gl, frame))
            return
        cc.outputs[0].add(upload(self.gl, frame))


@register_calculator
class GpuBufferToImageFrameCalculator(Calculator):
    """Reads each GpuBuffer back into an SRGBA ImageFrame; ImageFrames pass through.

    A buffer uploaded from an SRGBA ImageFrame gives that ImageFrame without a readback; with
    mapped transfers the frame is the readback's mapped buffer (``GpuBuffer.read_frame``).
    """

    inputs = (Port("", (GpuBuffer, ImageFrame), doc="GPU frame (or a CPU frame to pass)"),)
    outputs = (Port("", ImageFrame, doc="SRGBA CPU frame"),)
    timestamp_offset: ClassVar[int | None] = 0
    executor: ClassVar[str | None] = GL_EXECUTOR

    def process(self, cc: CalculatorContext) -> None:
        """Reads the frame back (or passes an ImageFrame on)."""
        payload = cc.inputs[0].payload
        if isinstance(payload, ImageFrame):
            cc.outputs[0].add(payload)
            return
        if not isinstance(payload, GpuBuffer):
            raise TypeError(f"expected a GpuBuffer or an ImageFrame, got {type(payload).__name__}")
        cc.outputs[0].add(payload.read_frame())
