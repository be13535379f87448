"""Live sources and sinks of `graphflow run` (cameras, streams, folders, demo, window, virtual
camera), and the defaults without --input/--output."""

import functools
import http.server
import itertools
import logging
import pathlib
import threading
from typing import Any, ClassVar

import cv2
import numpy as np
import pytest
import pyvirtualcam

import graphflow as gf
from graphflow.app.io import default_endpoints, open_sink, open_source, source_schemes
from graphflow.app.io import live as endpoints
from graphflow.calculator import Stop
from graphflow.image_frame import ImageFrame

ROOT = pathlib.Path(__file__).resolve().parents[4]


def test_demo_is_the_shipped_clip_with_every_frame() -> None:
    source = open_source("demo")
    try:
        frames = list(source)
    finally:
        source.close()
    assert not source.live
    assert len(frames) == 120
    assert frames[0][1].array.shape == (720, 1280, 3)
    assert [t for t, _ in frames[:3]] == [0, 33333, 66667]


def test_a_folder_gives_its_images_in_name_order(tmp_path: pathlib.Path) -> None:
    for name, value in (("b.png", 20), ("a.png", 10), ("c.jpg", 30)):
        cv2.imwrite(str(tmp_path / name), np.full((4, 6, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    for spec, fps in ((str(tmp_path), 30), (f"folder:{tmp_path}?fps=10", 10)):
        frames = list(open_source(spec))
        assert [t for t, _ in frames] == [round(i * 1e6 / fps) for i in range(3)]
        assert [int(f.array[0, 0, 0]) for _, f in frames] == [10, 20, 30]


def test_bad_folders_and_options_say_what_is_wrong(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="holds no image"):
        open_source(str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown option 'fsp'; expected fps"):
        open_source(f"folder:{tmp_path}?fsp=3")
    with pytest.raises(ValueError, match=r"option width='wide' is not a number"):
        open_source("camera:0?width=wide")
    with pytest.raises(ValueError, match="OpenCV cannot open '/dev/video99'"):
        open_source("/dev/video99")


def test_a_live_capture_stamps_frames_with_increasing_reading_times() -> None:
    capture = endpoints.LiveCapture(str(ROOT / "media/demo.mp4"))
    try:
        frames = [item for item, _ in zip(capture, range(5), strict=False)]
    finally:
        capture.close()
    assert capture.live
    stamps = [t for t, _ in frames]
    assert stamps[0] == 0 and all(b > a for a, b in itertools.pairwise(stamps))
    assert frames[0][1].array.shape == (720, 1280, 3)


def test_a_url_is_read_live_through_opencv(tmp_path: pathlib.Path) -> None:
    """An MJPEG stream (an IP camera's format) served over real HTTP on 127.0.0.1."""
    frames_in = [np.full((48, 64, 3), (40 * i, 100, 200 - 40 * i), np.uint8) for i in range(4)]
    (tmp_path / "cam.mjpeg").write_bytes(
        b"".join(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
                 for f in frames_in))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            source = open_source(f"http://127.0.0.1:{server.server_address[1]}/cam.mjpeg")
            try:
                frames = list(source)
            finally:
                source.close()
        finally:
            server.shutdown()
            thread.join()
    assert source.live and len(frames) == 4
    for (_, frame), expected in zip(frames, frames_in, strict=True):  # RGB out of BGR in
        assert np.abs(frame.array.astype(int) - expected[:, :, ::-1]).max() <= 8


def test_every_network_scheme_of_opencv_is_an_input() -> None:
    schemes = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "http", "https")
    assert set(schemes) <= {e.scheme for e in source_schemes()}
    for scheme in set(schemes) - {"udp"}:  # udp listens for packets (30 s) instead of failing
        with pytest.raises(ValueError, match=f"OpenCV cannot open '{scheme}://127.0.0.1:9/x'"):
            open_source(f"{scheme}://127.0.0.1:9/x")  # nothing listens on port 9


def fake_v4l(root: pathlib.Path, devices: dict[str, tuple[str, int]]) -> pathlib.Path:
    """A /sys/class/video4linux look-alike: name -> (device folder, node index)."""
    classes = root / "class"
    classes.mkdir()
    for name, (folder, index) in devices.items():
        node = root / folder / name
        node.mkdir(parents=True)
        (node / "index").write_text(f"{index}\n")
        (classes / name).symlink_to(node)
    return classes


@pytest.mark.parametrize(
    ("devices", "display", "expected"),
    [
        ({}, "", ("demo", "eymo-out.mp4")),
        ({}, ":0", ("demo", "window")),
        ({"video0": ("devices/pci0/usb1", 0), "video1": ("devices/pci0/usb1", 1)}, "",
         ("camera:/dev/video0", "eymo-out.mp4")),
        ({"video2": ("devices/pci0/usb1", 0), "video10": ("devices/virtual/video4linux", 0)},
         ":0", ("camera:/dev/video2", "virtualcam")),
    ],
)
def test_defaults_prefer_camera_then_demo_and_virtualcam_then_window_then_a_file(
    devices: dict[str, tuple[str, int]], display: str, expected: tuple[str, str],
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(endpoints, "_V4L_CLASS", fake_v4l(tmp_path, devices))
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with caplog.at_level(logging.INFO):
        assert endpoints.defaults(None, None) == expected
    (record,) = [r for r in caplog.records if r.name == endpoints.__name__]
    assert record.getMessage().startswith(f"input {expected[0]} (")
    assert endpoints.defaults("clip.mp4", "out.mp4") == ("clip.mp4", "out.mp4")
    # graphflow run asks these defaults for a missing --input / --output.
    assert default_endpoints(None, "out.mp4") == (expected[0], "out.mp4")


class RecordingCamera:
    """A pyvirtualcam backend that keeps what it is sent."""

    cameras: ClassVar[list["RecordingCamera"]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int,
                 device: str | None, **kw: Any) -> None:
        self.settings = (width, height, fps, device)
        self.frames: list[np.ndarray] = []
        self.closed = False
        RecordingCamera.cameras.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return self.settings[3] or "eymo-recording"

    def native_fourcc(self) -> int | None:
        return None


pyvirtualcam.register_backend("eymo-recording", RecordingCamera)


def test_the_virtualcam_sink_sends_every_frame_to_the_camera(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # pyvirtualcam tries its backends in registration order: keep other tests' recorders out.
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"eymo-recording": RecordingCamera})
    RecordingCamera.cameras.clear()
    frames = [np.full((6, 8, 4), i * 40, np.uint8) for i in range(3)]
    sink = open_sink("virtualcam:/dev/video42")
    for i, frame in enumerate(frames):
        sink.write(i * 50_000, ImageFrame(frame))
    sink.close()
    (camera,) = [c for c in RecordingCamera.cameras if c.settings[3] == "/dev/video42"]
    assert camera.settings == (8, 6, 20.0, "/dev/video42") and camera.closed
    for sent, frame in zip(camera.frames, frames, strict=True):
        np.testing.assert_array_equal(sent.reshape(6, 8, 4), frame)


@gf.register_calculator
class StopAfterTwoCalculator(gf.Calculator):
    """A sink that ends the run at its third frame (like a window being closed)."""

    inputs = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.seen = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        self.seen += 1
        if self.seen == 3:
            raise Stop()


def test_a_sink_calculator_that_stops_makes_write_raise_stop() -> None:
    sink = endpoints.CalculatorSink("StopAfterTwoCalculator", {})
    with pytest.raises(Stop):
        for i in range(100):
            sink.write(i, i)
            sink._graph.wait_until_idle()
    assert i >= 3
    sink.close()
