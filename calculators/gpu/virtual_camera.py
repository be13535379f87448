"""A virtual webcam sink through pyvirtualcam (v4l2loopback on Linux, OBS elsewhere).

The camera opens with the size of the first frame and the frame rate of the stream (from the
first two timestamps; 30 fps for a one-frame stream) and takes RGB or RGBA frames as they
come. Input side packets: ``DEVICE`` (e.g. ``"/dev/video10"``) and ``BACKEND`` (a pyvirtualcam
backend name; default: the first that works).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from calculators.io.video import DEFAULT_FPS
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.gpu import GpuBuffer
from graphflow.image_frame import ImageFrame

logger = logging.getLogger(__name__)

_HINT = (
    "no virtual camera device: load the v4l2loopback kernel module, e.g. "
    "`sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=graphflow "
    "exclusive_caps=1` (Debian: apt-get install v4l2loopback-dkms), then pass "
    "DEVICE:/dev/video10 or leave DEVICE out"
)


def open_camera(width: int, height: int, fps: float, channels: int, device: str | None,
                backend: str | None) -> Any:
    """A ``pyvirtualcam.Camera`` for frames of that size and format.

    Raises:
        RuntimeError: With the ``modprobe v4l2loopback`` hint if no device is available.
    """
    import pyvirtualcam

    fmt = pyvirtualcam.PixelFormat.RGBA if channels == 4 else pyvirtualcam.PixelFormat.RGB
    try:
        return pyvirtualcam.Camera(width, height, fps, fmt=fmt, device=device, backend=backend)
    except RuntimeError as e:
        if "v4l2" in str(e) or "device" in str(e).lower():
            raise RuntimeError(f"{_HINT} ({e})") from e
        raise


@register_calculator
class VirtualCameraSinkCalculator(Calculator):
    """Sends each frame (GpuBuffer or ImageFrame) to a virtual webcam."""

    inputs = (Port("", (GpuBuffer, ImageFrame), doc="frames to send"),)
    input_side_packets = (
        Port("DEVICE", str, optional=True, missing_ok=True, doc="camera device, e.g. /dev/video10"),
        Port("BACKEND", str, optional=True, missing_ok=True, doc="pyvirtualcam backend name"),
    )
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: CalculatorContext) -> None:
        """Reads the side packets; the camera opens once the frame rate is known."""
        self._device: str | None = cc.side_inputs.get("DEVICE")
        self._backend: str | None = cc.side_inputs.get("BACKEND")
        self._camera: Any = None
        self._first: tuple[int, npt.NDArray[np.uint8]] | None = None

    def process(self, cc: CalculatorContext) -> None:
        """Sends the frame (the first one waits for the second, which gives the frame rate)."""
        payload = cc.inputs[0].payload
        pixels = payload.read() if isinstance(payload, GpuBuffer) else payload.array
        if self._camera is None:
            if self._first is None:
                self._first = (int(cc.timestamp), pixels)
                return
            (first_ts, first), self._first = self._first, None
            fps = 1e6 / (int(cc.timestamp) - first_ts)
            self._start(first, fps)
            self._send(first, cc.node_name)
        self._send(pixels, cc.node_name)

    def _start(self, pixels: npt.NDArray[np.uint8], fps: float) -> None:
        height, width, channels = pixels.shape
        self._camera = open_camera(width, height, fps, channels, self._device, self._backend)
        logger.info("virtual camera %s: %dx%d at %.2f fps", self._camera.device, width, height,
                    fps)

    def _send(self, pixels: npt.NDArray[np.uint8], node: str) -> None:
        expected = (self._camera.height, self._camera.width)
        if pixels.shape[:2] != expected:
            raise ValueError(
                f"node {node!r}: the virtual camera is {expected[1]}x{expected[0]}, got a "
                f"{pixels.shape[1]}x{pixels.shape[0]} frame (a camera cannot change size)"
            )
        channels = 4 if self._camera.fmt.name == "RGBA" else 3
        if pixels.shape[2] != channels:
            pixels = np.ascontiguousarray(pixels[..., :3]) if channels == 3 else np.dstack(
                [pixels, np.full(pixels.shape[:2], 255, np.uint8)])
        self._camera.send(np.ascontiguousarray(pixels))

    def close(self, cc: CalculatorContext) -> None:
        """Sends a pending single frame and closes the camera."""
        pending, self._first = self._first, None
        if pending is not None and self._camera is None:
            self._start(pending[1], DEFAULT_FPS)
            self._send(pending[1], cc.node_name)
        if self._camera is not None:
            self._camera.close()
