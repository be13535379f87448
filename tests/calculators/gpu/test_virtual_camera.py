"""The virtual camera sink, through a pyvirtualcam backend that records what it is sent."""

import glob
from typing import Any, ClassVar

import numpy as np
import pytest
import pyvirtualcam

from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph


class RecordingBackend:
    """A pyvirtualcam backend that keeps the frames and the camera settings."""

    cameras: ClassVar[list["RecordingBackend"]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int,
                 device: str | None, **kw: Any) -> None:
        self.settings = (width, height, fps, pyvirtualcam.util.decode_fourcc(fourcc), device)
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingBackend.cameras.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self.settings[4] or "recording0"

    def native_fourcc(self) -> int | None:
        return None


pyvirtualcam.register_backend("recording", RecordingBackend)

GRAPH = """
input_stream: "in"
input_side_packet: "device"
input_side_packet: "backend"
node { calculator: "ImageFrameToGpuBufferCalculator" input_stream: "in" output_stream: "gpu" }
node { calculator: "VirtualCameraSinkCalculator" input_stream: "%s"
       input_side_packet: "DEVICE:device" input_side_packet: "BACKEND:backend" }
"""


@pytest.mark.parametrize(("stream", "channels"), [("gpu", 3), ("gpu", 4), ("in", 3), ("in", 4)])
def test_frames_reach_the_camera_with_size_fps_and_format_from_the_stream(
        stream: str, channels: int) -> None:
    RecordingBackend.cameras.clear()
    rng = np.random.default_rng(channels)
    frames = [rng.integers(0, 256, (9, 15, channels), np.uint8) for _ in range(3)]
    run_graph(GRAPH % stream, inputs={"in": [(i * 40_000, ImageFrame(f))
                                             for i, f in enumerate(frames)]},
              side_packets={"device": "/dev/video7", "backend": "recording"})
    (camera,) = RecordingBackend.cameras
    fourcc = "ABGR" if stream == "gpu" or channels == 4 else "raw "
    assert camera.settings == (15, 9, 25.0, fourcc, "/dev/video7")
    assert camera.closed
    sent = [f.reshape(9, 15, -1) for f in camera.frames]
    expected = [np.dstack([f, np.full((9, 15), 255, np.uint8)]) if stream == "gpu" and
                channels == 3 else f for f in frames]
    assert len(sent) == 3
    for got, want in zip(sent, expected, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("first", [3, 4])
def test_later_frames_take_the_format_of_the_first(first: int) -> None:
    RecordingBackend.cameras.clear()
    rng = np.random.default_rng(first)
    frames = [rng.integers(0, 256, (4, 6, c), np.uint8) for c in (first, 7 - first, first)]
    run_graph(GRAPH % "in", inputs={"in": [(i * 40_000, ImageFrame(f))
                                           for i, f in enumerate(frames)]},
              side_packets={"device": "/dev/video7", "backend": "recording"})
    (camera,) = RecordingBackend.cameras
    sent = [f.reshape(4, 6, first) for f in camera.frames]
    other = frames[1][..., :3] if first == 3 else np.dstack(
        [frames[1], np.full((4, 6), 255, np.uint8)])  # alpha dropped, or opaque alpha added
    for got, want in zip(sent, [frames[0], other, frames[2]], strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_one_frame_stream_opens_at_thirty_fps() -> None:
    RecordingBackend.cameras.clear()
    frame = np.zeros((4, 6, 3), np.uint8)
    run_graph(GRAPH % "in", inputs={"in": [(0, ImageFrame(frame))]},
              side_packets={"device": "/dev/video7", "backend": "recording"})
    (camera,) = RecordingBackend.cameras
    assert camera.settings[2] == 30.0 and len(camera.frames) == 1


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="this machine has video devices")
def test_without_v4l2loopback_the_error_says_modprobe() -> None:
    from calculators.gpu.virtual_camera import open_camera

    with pytest.raises(RuntimeError, match="modprobe v4l2loopback"):
        open_camera(64, 48, 30.0, 3, None, "v4l2loopback")
