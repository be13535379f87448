"""Where a graph's frames come from and go to: sources and sinks named by a short spec.

``graphflow run GRAPH --input SPEC --output SPEC`` opens them with :func:`open_source` and
:func:`open_sink`. A spec is ``scheme`` or ``scheme:argument`` for a registered scheme
(``null``; camera, window, virtual camera and demo sources and sinks register themselves the
same way), a number ``N`` (short for ``camera:N``), or a file path:

- sources: a video file (OpenCV), an image-sequence pattern such as ``frames/%04d.png``, or
  one image file (a single frame at timestamp 0);
- sinks: a video file (``.mp4`` in H.264 through PyAV, ``.avi``/``.mkv`` with MJPG), an image file
  (each frame overwrites it; the last one stays), or an image pattern such as
  ``out/%04d.png`` (one file per frame, numbered from 0).

Add a scheme with::

    register_source("camera", lambda arg: CameraSource(int(arg or 0)), "a webcam")

A source yields ``(timestamp in microseconds, payload)``; a *live* one (a camera) produces
frames in real time, so the runner drops frames the graph is too busy for instead of waiting.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol

from calculators.io.video import (
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    VideoReader,
    VideoWriter,
    check_folder,
    read_image,
    write_image,
)
from graphflow.calculator import did_you_mean
from graphflow.image_frame import ImageFrame

logger = logging.getLogger(__name__)


class FrameSource(Protocol):
    """Packets for a graph input stream."""

    @property
    def live(self) -> bool:
        """True if frames arrive in real time (drop what the graph cannot take); False if
        every frame must go in (the runner waits while the graph is busy)."""
        ...

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        """Yields ``(timestamp in microseconds, payload)`` with increasing timestamps."""
        ...

    def close(self) -> None:
        """Releases the device or file."""
        ...


class FrameSink(Protocol):
    """Takes the packets of a graph output stream."""

    def write(self, timestamp: int, payload: Any) -> None:
        """Consumes one packet's payload (called in timestamp order, one call at a time)."""
        ...

    def close(self) -> None:
        """Finishes the file or device; called once after the last packet (or a failure)."""
        ...


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A registered scheme: its factory (called with the text after ``scheme:``) and help."""

    scheme: str
    factory: Callable[[str], Any]
    help: str


_SOURCES: dict[str, Endpoint] = {}
_SINKS: dict[str, Endpoint] = {}
# (--input or None, --output or None) -> the specs to use; see set_default_endpoints.
DefaultEndpoints = Callable[[str | None, str | None], tuple[str, str]]
_DEFAULTS: list[DefaultEndpoints] = []


def register_source(scheme: str, factory: Callable[[str], FrameSource], help: str) -> None:
    """Makes ``--input scheme[:argument]`` open ``factory(argument)``."""
    _SOURCES[scheme] = Endpoint(scheme, factory, help)


def register_sink(scheme: str, factory: Callable[[str], FrameSink], help: str) -> None:
    """Makes ``--output scheme[:argument]`` open ``factory(argument)``."""
    _SINKS[scheme] = Endpoint(scheme, factory, help)


def set_default_endpoints(choose: DefaultEndpoints) -> None:
    """Sets how ``graphflow run`` fills in a missing ``--input`` / ``--output``.

    ``choose(input_spec, output_spec)`` gets the given specs (None where missing) and returns
    the two specs to use (e.g. a camera, else the demo clip; a virtual camera, a window, else a
    file). The runner asks only for graphs of video frames (an input stream and an
    ``output_video`` stream). Without it, a missing ``--input`` is an error.
    """
    _DEFAULTS[:] = [choose]


def default_endpoints(input_spec: str | None, output_spec: str | None
                      ) -> tuple[str | None, str | None]:
    """The specs to use for a video graph run with these ``--input`` / ``--output``."""
    if not _DEFAULTS or (input_spec is not None and output_spec is not None):
        return input_spec, output_spec
    return _DEFAULTS[0](input_spec, output_spec)


def source_schemes() -> list[Endpoint]:
    """The registered source schemes, by name."""
    return [_SOURCES[k] for k in sorted(_SOURCES)]


def sink_schemes() -> list[Endpoint]:
    """The registered sink schemes, by name."""
    return [_SINKS[k] for k in sorted(_SINKS)]


def camera_spec(spec: str) -> str:
    """``spec`` with its camera shorthand spelt out: ``N`` and ``/dev/videoN`` are
    ``camera:N`` and ``camera:/dev/videoN``; any other spec is returned as it is."""
    return f"camera:{spec}" if spec.isdigit() or spec.startswith("/dev/video") else spec


def _registered(spec: str, registry: dict[str, Endpoint]) -> tuple[Endpoint, str] | None:
    camera = camera_spec(spec)
    if camera != spec:
        spec = camera
    elif pathlib.Path(spec).is_dir():
        spec = f"folder:{spec}"
    scheme, _, argument = spec.partition(":")
    endpoint = registry.get(scheme)
    return (endpoint, argument) if endpoint is not None else None


def _no_such_file(spec: str, registry: dict[str, Endpoint], kind: str) -> str:
    return (f"{kind} {spec!r} is neither an existing file nor a registered scheme "
            f"({', '.join(sorted(registry)) or 'none'})" + did_you_mean(spec, list(registry)))


class ImageFileSource:
    """One image file as a single frame at timestamp 0."""

    live: ClassVar[bool] = False

    def __init__(self, path: str) -> None:
        self.frame = read_image(path)

    def __iter__(self) -> Iterator[tuple[int, ImageFrame]]:
        yield 0, self.frame

    def close(self) -> None:
        """Nothing to release."""


def open_source(spec: str) -> FrameSource:
    """Opens the source a ``--input`` spec names (see the module docstring).

    Raises:
        FileNotFoundError: For a path that does not exist and is no registered scheme.
        ValueError: If the file cannot be decoded.
    """
    registered = _registered(spec, _SOURCES)
    if registered is not None:
        endpoint, argument = registered
        source: FrameSource = endpoint.factory(argument)
        return source
    if "%" in spec:
        return VideoReader(spec)
    if not pathlib.Path(spec).is_file():
        raise FileNotFoundError(_no_such_file(spec, _SOURCES, "input"))
    if pathlib.Path(spec).suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFileSource(spec)
    return VideoReader(spec)


class NullSink:
    """Discards every packet (to measure a graph without encoding costs)."""

    def write(self, timestamp: int, payload: Any) -> None:
        """Drops the payload."""

    def close(self) -> None:
        """Nothing to finish."""


class ImageFileSink:
    """Writes frames as image files: numbered by a ``%d`` pattern, or one file, overwritten."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pattern = "%" in path
        check_folder(path)
        if self.pattern:
            try:
                path % 0
            except (TypeError, ValueError):
                raise ValueError(f"image pattern {path!r} needs exactly one integer field "
                                 "such as %04d") from None
        self.count = 0

    def write(self, timestamp: int, payload: Any) -> None:
        """Writes the frame (to the next numbered file for a pattern)."""
        if self.pattern:
            target = self.path % self.count
        else:
            target = self.path
            if self.count == 1:
                logger.warning("%s: several frames arrive; each overwrites the last (write "
                               "one file per frame with a pattern such as out_%%04d.png)",
                               self.path)
        write_image(target, payload)
        self.count += 1

    def close(self) -> None:
        """Nothing to finish: every frame is already on disk."""


def open_sink(spec: str) -> FrameSink:
    """Opens the sink an ``--output`` spec names (see the module docstring).

    Raises:
        ValueError: For an unknown scheme or extension, or a folder that does not exist.
    """
    registered = _registered(spec, _SINKS)
    if registered is not None:
        endpoint, argument = registered
        sink: FrameSink = endpoint.factory(argument)
        return sink
    suffix = pathlib.Path(spec).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return ImageFileSink(spec)
    if suffix in VIDEO_EXTENSIONS:
        return VideoWriter(spec)
    raise ValueError(f"output {spec!r}: not a registered sink ({', '.join(sorted(_SINKS))}) "
                     f"and not a file name with a video ({', '.join(VIDEO_EXTENSIONS)}) or image "
                     f"({', '.join(IMAGE_EXTENSIONS)}) extension"
                     + did_you_mean(spec, list(_SINKS)))


register_sink("null", lambda _: NullSink(), "discard the frames")
