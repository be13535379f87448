"""ImageFrame <-> GpuBuffer converters (MediaPipe's names and untagged ports).

Frames are RGBA on the GPU: an RGB ImageFrame is widened to RGBA on the CPU (OpenCV, about
0.2 ms at 1080p, where an RGB texture upload on llvmpipe takes 3.4 ms) and the readback gives
SRGBA ImageFrames, as MediaPipe's BGRA32 GpuBuffers do.
"""

from __future__ import annotations

from typing import ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.gpu import GL_EXECUTOR, GlContext, GpuBuffer, require_current, upload
from graphflow.image_frame import ImageFrame


@register_calculator
class ImageFrameToGpuBufferCalculator(Calculator):
    """Uploads each ImageFrame (SRGB or SRGBA) into an RGBA GpuBuffer on the node's context."""

    inputs = (Port("", ImageFrame, doc="CPU frame, SRGB or SRGBA"),)
    outputs = (Port("", GpuBuffer, doc="the same frame as an RGBA texture"),)
    timestamp_offset: ClassVar[int | None] = 0
    executor: ClassVar[str | None] = GL_EXECUTOR

    gl: GlContext

    def open(self, cc: CalculatorContext) -> None:
        """Binds to the node's GL context."""
        self.gl = require_current(f"node {cc.node_name!r} (ImageFrameToGpuBufferCalculator)")
        self._staging: npt.NDArray[np.uint8] | None = None

    def process(self, cc: CalculatorContext) -> None:
        """Uploads the frame."""
        frame: ImageFrame = cc.inputs[0].payload
        pixels = frame.array
        if frame.channels == 3:
            shape = (frame.height, frame.width, 4)
            if self._staging is None or self._staging.shape != shape:
                self._staging = np.empty(shape, np.uint8)
            cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2RGBA, dst=self._staging)
            pixels = self._staging
        cc.outputs[0].add(upload(self.gl, pixels))


@register_calculator
class GpuBufferToImageFrameCalculator(Calculator):
    """Reads each GpuBuffer back into an SRGBA ImageFrame; ImageFrames pass through."""

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
        cc.outputs[0].add(ImageFrame(payload.read()))
