"""Live sources and sinks for `graphflow run`: cameras, streams, folders, the demo clip,
window and virtual camera; and the defaults when `--input` / `--output` are not given.

Registered with `graphflow.app.io` (`--input SPEC`, `--output SPEC`):

- `camera:N` or `camera:/dev/videoN` (also plain `N` and `/dev/videoN`), with optional
  `?width=W&height=H&fps=F`: a webcam through OpenCV, live;
- `rtsp://...`, `http://...`, `https://...` (also `rtsps`, `rtmp`, `rtmps`, `srt`, `udp`,
  `tcp`): a network stream through OpenCV, live;
- `folder:PATH` (also a plain folder path): the folder's images in name order, at `?fps=F`
  (default 30), every one processed;
- `demo`: media/demo.mp4, a short clip of a real moving face, every frame processed;
- sinks `window[:TITLE]` (a glfw window titled with the frame rate and the latest line of the
  graph's `status` output stream, which `graphflow run` hands to a sink's `show_status`;
  closing it stops the run) and
  `virtualcam[:/dev/videoN]` (pyvirtualcam; v4l2loopback on Linux), which run graphflow's
  `WindowSinkCalculator` / `VirtualCameraSinkCalculator` in a one-node graph of their own;
- the defaults of `graphflow run` for video graphs (`defaults`): a camera if this machine has
  one, else the demo clip; a virtual camera if a v4l2loopback device exists, else a window if
  there is a display, else eymo-out.mp4; one log line says which and why.

Live sources stamp frames with the time they were read and keep only the newest frame (OpenCV's
buffer is one frame), so a busy graph gets fresh frames instead of a backlog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import cv2
import numpy as np

from calculators.io.video import DEFAULT_FPS, IMAGE_EXTENSIONS, VideoReader, from_bgr, read_image
from graphflow.app.io.registry import register_sink, register_source, set_default_endpoints
from graphflow.app.io.urls import NETWORK_SCHEMES, SOCKET_SCHEMES, redact_urls
from graphflow.calculator import Stop
from graphflow.graph import CalculatorGraph
from graphflow.image_frame import ImageFrame
from graphflow.packet import Packet
from graphflow.resources import resource_dir

logger = logging.getLogger(__name__)

#: The demo clip in graphflow's media folder (1280x720, 120 frames at 30 fps).
DEMO_CLIP_NAME = "demo.mp4"
DEFAULT_VIDEO_OUTPUT = "eymo-out.mp4"
_V4L_CLASS = pathlib.Path("/sys/class/video4linux")


def _options(query: str, names: tuple[str, ...], what: str) -> dict[str, float]:
    """`?width=1280&fps=30` -> {"width": 1280.0, "fps": 30.0}, only the names allowed."""
    out = {}
    for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
        if key not in names:
            raise ValueError(f"{what}: unknown option {key!r}; expected {', '.join(names)}")
        try:
            out[key] = float(values[-1])
        except ValueError:
            raise ValueError(f"{what}: option {key}={values[-1]!r} is not a number") from None
        if out[key] <= 0:
            raise ValueError(f"{what}: option {key} must be positive, got {values[-1]}")
    return out


class LiveCapture:
    """A camera or network stream through OpenCV: live, stamped with the reading time.

    Args:
        target: A camera index, a device path such as /dev/video0, or a URL.
        width: Frame width to ask the camera for (the camera may pick another).
        height: Frame height to ask for.
        fps: Frame rate to ask for.
        timeout: For a URL: seconds that opening it, and then each read, may take (FFmpeg's
            open and read timeouts); None leaves OpenCV's defaults.
        max_pixels: Refuse a stream whose frames would be larger (width x height), or whose
            frame size OpenCV cannot tell, before any frame is read.

    Raises:
        ValueError: If OpenCV cannot open it, or its frames are over ``max_pixels``.
    """

    live: ClassVar[bool] = True

    def __init__(self, target: int | str, width: float | None = None,
                 height: float | None = None, fps: float | None = None, *,
                 timeout: float | None = None, max_pixels: int | None = None) -> None:
        self.target = target
        shown = redact_urls(str(target))  # URLs may carry credentials: never logged
        if timeout is not None and isinstance(target, str):
            milliseconds = int(timeout * 1000)
            self._capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds])
        else:
            self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise ValueError(f"OpenCV cannot open {shown!r} (no such camera or stream?)")
        for prop, value in ((cv2.CAP_PROP_FRAME_WIDTH, width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, height), (cv2.CAP_PROP_FPS, fps)):
            if value is not None:
                self._capture.set(prop, value)
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        frame_width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        frame_height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if max_pixels is not None and not 0 < frame_width * frame_height <= max_pixels:
            self._capture.release()
            raise ValueError(f"input {shown}: frames of {frame_width}x{frame_height} (0: not "
                             f"known before decoding) are not within the cap of {max_pixels} "
                             "pixels")
        logger.info("input %s: %dx%d at %.1f fps", shown, frame_width, frame_height,
                    self._capture.get(cv2.CAP_PROP_FPS))
        self._shown = shown

    def __iter__(self) -> Iterator[tuple[int, ImageFrame]]:
        """Yields (microseconds since the first frame, RGB frame) until the stream ends."""
        start: int | None = None
        last = -1
        while True:
            ok, bgr = self._capture.read()
            now = time.monotonic_ns() // 1000
            if not ok or bgr is None:
                logger.info("input %s: no more frames", self._shown)
                return
            start = now if start is None else start
            last = max(now - start, last + 1)
            yield last, from_bgr(np.asarray(bgr, np.uint8))

    def close(self) -> None:
        """Releases the device or connection."""
        self._capture.release()


def open_camera_source(argument: str) -> LiveCapture:
    """`camera:N`, `camera:/dev/videoN`, optionally `?width=W&height=H&fps=F`."""
    device, _, query = argument.partition("?")
    options = _options(query, ("width", "height", "fps"), f"camera {device or 0}")
    target: int | str = int(device or 0) if device.isdigit() or not device else device
    return LiveCapture(target, options.get("width"), options.get("height"), options.get("fps"))


class ImageFolderSource:
    """The images of a folder in name order, one frame each at `index / fps`; not live.

    Raises:
        FileNotFoundError: If the folder does not exist.
        ValueError: If it holds no image.
    """

    live: ClassVar[bool] = False

    def __init__(self, folder: str | os.PathLike[str], fps: float = DEFAULT_FPS) -> None:
        path = pathlib.Path(folder)
        if not path.is_dir():
            raise FileNotFoundError(f"image folder {str(folder)!r} does not exist")
        self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise ValueError(f"folder {str(folder)!r} holds no image "
                             f"({', '.join(IMAGE_EXTENSIONS)})")
        self.fps = fps

    def __iter__(self) -> Iterator[tuple[int, ImageFrame]]:
        """Yields (timestamp, RGB frame) per image."""
        for index, file in enumerate(self.files):
            yield round(index * 1e6 / self.fps), read_image(file)

    def close(self) -> None:
        """Nothing to release."""


def open_folder_source(argument: str) -> ImageFolderSource:
    """`folder:PATH`, optionally `?fps=F`."""
    folder, _, query = argument.partition("?")
    return ImageFolderSource(folder, _options(query, ("fps",), f"folder {folder}").get(
        "fps", DEFAULT_FPS))


class CalculatorSink:
    """A sink calculator (one input stream) run as a `FrameSink` in a one-node graph.

    Args:
        calculator: The registered calculator name.
        side_packets: Its input side packets by tag.
        status_tag: The calculator's input port for status lines (`show_status`), if any.

    Raises:
        Stop: From `write`, once the calculator ended its run (e.g. its window was closed).
        GraphError: From `write` or `close`, if the calculator failed.
    """

    def __init__(self, calculator: str, side_packets: dict[str, Any],
                 status_tag: str | None = None) -> None:
        lines = [f'input_stream: "frames"\nnode {{ calculator: "{calculator}" '
                 'input_stream: "frames"']
        lines += [f' input_side_packet: "{tag}:{tag.lower()}"' for tag in side_packets]
        if status_tag is not None:
            lines.insert(0, 'input_stream: "status"\n')
            lines.append(f' input_stream: "{status_tag}:status"')
        self._has_status = status_tag is not None
        self._graph = CalculatorGraph("".join(lines) + " }")
        self._graph.start_run({tag.lower(): v for tag, v in side_packets.items()})
        self._calculator = calculator
        self._closed = threading.Event()

    def write(self, timestamp: int, payload: Any) -> None:
        """Hands the frame to the calculator (waiting while it is busy)."""
        if self._closed.is_set():
            raise Stop()
        try:
            self._graph.add_packet_to_input_stream("frames", Packet(payload).at(timestamp))
        except ValueError:  # the input was closed: the calculator stopped its run
            logger.info("%s ended: stopping", self._calculator)
            self._closed.set()
            raise Stop() from None

    def show_status(self, timestamp: int, text: str) -> None:
        """Hands a status line (e.g. which script runs) to the calculator, if it takes them."""
        if self._has_status and not self._closed.is_set():
            with contextlib.suppress(ValueError):  # the calculator already ended its run
                self._graph.add_packet_to_input_stream("status", Packet(text).at(timestamp))

    def close(self) -> None:
        """Ends the calculator's run (raises its error, if it failed)."""
        self._closed.set()
        self._graph.close()


def default_source_spec() -> str:
    """`camera:/dev/videoN` for the first camera of this machine, else `demo`."""
    cameras = [d for d in _v4l_devices() if not d[1]]
    return f"camera:{cameras[0][0]}" if cameras else "demo"


def default_sink_spec() -> str:
    """`virtualcam` if a v4l2loopback device exists, else `window` with a display, else a file."""
    if any(virtual for _, virtual in _v4l_devices()):
        return "virtualcam"
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return "window"
    return DEFAULT_VIDEO_OUTPUT


def defaults(input_spec: str | None, output_spec: str | None) -> tuple[str, str]:
    """The specs to use when `--input` / `--output` are missing; logs the choice in one line.

    Args:
        input_spec: `--input`, or None.
        output_spec: `--output`, or None.

    Returns:
        (input spec, output spec).
    """
    chosen_input = input_spec or default_source_spec()
    chosen_output = output_spec or default_sink_spec()
    if input_spec is None or output_spec is None:
        logger.warning(
            "input %s%s, output %s%s", chosen_input,
            "" if input_spec else (" (a camera)" if chosen_input != "demo" else
                                   " (no camera found: the demo clip)"),
            chosen_output,
            "" if output_spec else {"virtualcam": " (virtual camera found)",
                                    "window": " (no virtual camera; a display: a window)"}.get(
                chosen_output, " (no virtual camera, no display: a video file)"))
    return chosen_input, chosen_output


def _v4l_devices() -> list[tuple[str, bool]]:
    """(/dev/videoN, is a virtual device such as v4l2loopback) for each capture node."""
    out = []
    for node in sorted(_V4L_CLASS.glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        index = node / "index"
        if index.is_file() and index.read_text().strip() not in ("", "0"):
            continue  # a device's second node (metadata), not its picture
        out.append((f"/dev/{node.name}", "/virtual/" in str(node.resolve())))
    return out


register_source("camera", open_camera_source,
                "a webcam: camera:N or camera:/dev/videoN[?width=W&height=H&fps=F] (live)")
register_source("folder", open_folder_source,
                "the images of a folder in name order: folder:PATH[?fps=F]")


def _stream_source(scheme: str) -> Callable[[str], LiveCapture]:
    """The factory of a URL scheme: `rtsp://host/path` arrives as scheme `rtsp`, `//host/path`."""
    return lambda argument: LiveCapture(f"{scheme}:{argument}")


# The network protocols of OpenCV's FFmpeg backend that carry live video.
for _scheme in NETWORK_SCHEMES + SOCKET_SCHEMES:
    register_source(_scheme, _stream_source(_scheme),
                    f"a network stream through OpenCV: {_scheme}://... (live)")
register_source("demo", lambda _: VideoReader(resource_dir("media") / DEMO_CLIP_NAME),
                "media/demo.mp4, a short clip of a real moving face")
register_sink("window", lambda title: CalculatorSink(
    "WindowSinkCalculator", {"TITLE": title or "graphflow"}, status_tag="STATUS"),
    "a desktop window (glfw): window[:TITLE], titled with the frame rate and the graph's "
    "status (eymo: the script); Esc, q or closing it stops the run")
register_sink("virtualcam", lambda device: CalculatorSink(
    "VirtualCameraSinkCalculator", {"DEVICE": device} if device else {}),
    "a virtual webcam (pyvirtualcam, v4l2loopback): virtualcam[:/dev/videoN]")
set_default_endpoints(defaults)
