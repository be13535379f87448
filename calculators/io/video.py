"""Video and image files through OpenCV and PyAV, and MediaPipe's OpenCV video decoder and encoder.

Frames in graphflow are RGB(A) :class:`~graphflow.image_frame.ImageFrame` s; the conversion
from and to OpenCV's BGR happens here, once, at the edge. ``.mp4`` (``.m4v``, ``.mov``) files
are written in H.264 through PyAV (FFmpeg's libx264, bundled in PyAV's wheels), which browsers
and chat apps play; OpenCV's ``mp4v`` (MPEG-4 part 2) is the fallback when PyAV or its H.264
encoder is missing or the frame size is odd, said in the log. :class:`VideoReader` and
:class:`VideoWriter` do the file work for both the calculators below and the command line's
file sources and sinks (:mod:`graphflow.app.io.registry`).
"""

from __future__ import annotations

import dataclasses
import fractions
import logging
import pathlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from calculators._opencv import cv2
from graphflow.calculator import Calculator, CalculatorContext, Port, Stop, register_calculator
from graphflow.image_frame import ImageFrame
from graphflow.proto.mediapipe.calculators.video import opencv_video_encoder_calculator_pb2
from graphflow.timestamp import Timestamp

logger = logging.getLogger(__name__)

DEFAULT_FPS = 30.0
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
# Codec by container: 'avc1' (H.264, through PyAV) plays in browsers; MJPG in AVI is intra-only
# and near-lossless at quality 100 (OpenCV's own MJPEG writer), the choice for exact checks.
_CODEC_BY_EXTENSION = {".avi": "MJPG", ".mkv": "MJPG", ".webm": "VP80"}
_DEFAULT_CODEC = "avc1"
_MJPEG_QUALITY = 100
#: Four-character codes written as H.264 through PyAV.
H264_CODECS = ("avc1", "h264", "H264", "X264")
_FALLBACK_CODEC = "mp4v"
# libx264: the fastest preset (measured here: 2-4x faster than 'superfast' and 'veryfast', about
# as fast as OpenCV's mp4v; its Constrained Baseline profile plays everywhere), so that writing a
# file does not slow the graph down, at x264's default quality (crf 23: about mp4v's file size
# on the demo clip); the moov atom first, so that browsers start playing before the end.
_X264_OPTIONS = {"crf": "23", "preset": "ultrafast"}
_MP4_OPTIONS = {"movflags": "+faststart"}

RgbArray = npt.NDArray[np.uint8]


@dataclasses.dataclass(frozen=True)
class VideoHeader:
    """MediaPipe's ``VideoHeader``: what a decoder knows about a video before its frames.

    Attributes:
        format: ``"SRGB"`` or ``"SRGBA"``.
        width: Frame width in pixels.
        height: Frame height in pixels.
        frame_rate: Frames per second as the file states it.
        duration: Seconds (frame count / frame rate).
    """

    format: str
    width: int
    height: int
    frame_rate: float
    duration: float


def to_bgr(payload: Any, what: str, keep_alpha: bool = True) -> npt.NDArray[np.uint8]:
    """OpenCV's BGR(A) array of an ImageFrame (or an HxWx3/4 uint8 RGB(A) array).

    Args:
        payload: The packet payload.
        what: Where the payload comes from, for the error message.
        keep_alpha: False drops an RGBA image's alpha in the same conversion (BGR out).

    Raises:
        TypeError: If the payload is not an RGB(A) image.
    """
    payload = as_image(payload, what)
    code = cv2.COLOR_RGB2BGR if payload.channels == 3 else \
        cv2.COLOR_RGBA2BGRA if keep_alpha else cv2.COLOR_RGBA2BGR
    return np.asarray(cv2.cvtColor(payload.array, code), np.uint8)


def as_image(payload: Any, what: str) -> ImageFrame:
    """The payload as an ImageFrame (an HxWx3/4 uint8 array is wrapped).

    Raises:
        TypeError: If the payload is not an RGB(A) image, naming ``what``.
    """
    if isinstance(payload, np.ndarray):
        payload = ImageFrame(payload)
    if not isinstance(payload, ImageFrame):
        hint = " (convert it with GpuBufferToImageFrameCalculator first)" if \
            type(payload).__name__ == "GpuBuffer" else ""
        raise TypeError(f"{what}: expected an ImageFrame, got {type(payload).__name__}{hint}")
    return payload


def from_bgr(array: npt.NDArray[np.uint8]) -> ImageFrame:
    """An RGB(A) ImageFrame of an OpenCV BGR(A) (or grayscale) array."""
    if array.ndim == 2:
        code = cv2.COLOR_GRAY2RGB
    elif array.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGBA
    else:
        code = cv2.COLOR_BGR2RGB
    return ImageFrame(cv2.cvtColor(array, code))


class VideoReader:
    """Decodes a video file (or an OpenCV image-sequence pattern such as ``img_%04d.png``).

    Timestamps are the frames' presentation times in microseconds as OpenCV reports them
    (``CAP_PROP_POS_MSEC``); a frame whose time does not increase is skipped, as MediaPipe's
    decoder does. Image sequences, which have no times, get ``index / fps``.

    A reader is a :class:`~graphflow.app.io.registry.FrameSource` (not live: every frame is
    read, as fast as the graph takes them).

    Args:
        path: The file or pattern.
        fps: Frame rate for image sequences (default: what OpenCV reports, else 30).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If OpenCV cannot open it or it has no frame.
    """

    live: ClassVar[bool] = False

    def __init__(self, path: str | pathlib.Path, fps: float | None = None) -> None:
        self.path = str(path)
        self.is_sequence = "%" in self.path
        if not self.is_sequence and not pathlib.Path(self.path).is_file():
            raise FileNotFoundError(f"video file {self.path!r} does not exist")
        self._capture = cv2.VideoCapture(self.path)
        if not self._capture.isOpened():
            raise ValueError(f"OpenCV cannot open {self.path!r} as a video")
        reported = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps or (reported if reported > 0 else DEFAULT_FPS)
        self.frame_count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self._first = self._read()
        if self._first is None:
            self._capture.release()
            raise ValueError(f"OpenCV cannot read any frame of {self.path!r}")
        height, width = self._first[1].shape[:2]
        channels = 1 if self._first[1].ndim == 2 else self._first[1].shape[2]
        self.header = VideoHeader("SRGBA" if channels == 4 else "SRGB", width, height,
                                  self.fps, max(self.frame_count, 0) / self.fps)
        self._index = 1
        self._last = int(Timestamp.UNSET)

    def _read(self, index: int = 0) -> tuple[int, npt.NDArray[np.uint8]] | None:
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            ok, bgr = self._capture.read()  # OpenCV sometimes returns one empty frame early
            if not ok or bgr is None:
                return None
        if self.is_sequence:
            ts = round(index * 1e6 / self.fps)
        else:
            ts = round(self._capture.get(cv2.CAP_PROP_POS_MSEC) * 1000)
        return ts, np.asarray(bgr, np.uint8)

    def seek(self, index: int) -> None:
        """Goes to frame ``index`` (0 is the first): iteration goes on from that frame, with
        its own timestamp.

        Raises:
            ValueError: If the file has no frame ``index``.
        """
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._first = self._read(index)
        if self._first is None:
            raise ValueError(f"{self.path!r} has no frame {index} ({self.frame_count} frames)")
        self._index = index + 1
        self._last = int(Timestamp.UNSET)

    def __iter__(self) -> Iterator[tuple[int, ImageFrame]]:
        """Yields ``(timestamp in microseconds, RGB ImageFrame)`` for each frame, once."""
        while True:
            item: tuple[int, RgbArray] | None
            if self._first is not None:
                item, self._first = self._first, None
            else:
                item = self._read(self._index)
                self._index += 1
            if item is None:
                return
            ts, bgr = item
            if ts <= self._last:
                logger.warning("%s: frame time %d us does not increase; frame skipped",
                               self.path, ts)
                continue
            self._last = ts
            yield ts, from_bgr(bgr)

    def close(self) -> None:
        """Releases the file."""
        self._capture.release()


def check_folder(path: str) -> None:
    """Checks that the folder a file is to be written in exists.

    Raises:
        ValueError: Naming the file and the missing folder.
    """
    folder = pathlib.Path(path).resolve().parent
    if not folder.is_dir():
        raise ValueError(f"cannot write {path!r}: folder {str(folder)!r} does not exist")


def codec_for(path: str) -> str:
    """The default four-character codec for a video file name."""
    return _CODEC_BY_EXTENSION.get(pathlib.Path(path).suffix.lower(), _DEFAULT_CODEC)


class _OpenCvEncoder:
    """A video file written by OpenCV's VideoWriter (BGR frames)."""

    def __init__(self, path: str, codec: str, fps: float, size: tuple[int, int]) -> None:
        fourcc = cv2.VideoWriter.fourcc(*codec)
        if codec == "MJPG" and path.lower().endswith(".avi"):
            # OpenCV's own MJPEG writer (AVI only) takes a quality setting.
            self._writer = cv2.VideoWriter(path, cv2.CAP_OPENCV_MJPEG, fourcc, fps, size)
            self._writer.set(cv2.VIDEOWRITER_PROP_QUALITY, _MJPEG_QUALITY)
        else:
            self._writer = cv2.VideoWriter(path, fourcc, fps, size)
        if not self._writer.isOpened():
            raise ValueError(f"OpenCV cannot write {path!r} with codec {codec!r} at {fps} fps, "
                             f"{size[0]}x{size[1]}")

    def write(self, frame: ImageFrame) -> None:
        self._writer.write(to_bgr(frame, "", keep_alpha=False))

    def close(self) -> None:
        self._writer.release()


class _H264Encoder:
    """An H.264 (yuv420p) video file written by PyAV's libx264.

    Frames go from RGB(A) to I420 in one OpenCV conversion (BT.601, limited range, as FFmpeg's
    own would do; about 5x faster than PyAV's reformat here).
    """

    def __init__(self, av: Any, path: str, fps: float, size: tuple[int, int],
                 options: Mapping[str, str]) -> None:
        self._container = av.open(path, "w", options=_MP4_OPTIONS)
        try:
            rate = fractions.Fraction(fps).limit_denominator(1001)
            self._stream = self._container.add_stream("libx264", rate=rate)
            self._stream.width, self._stream.height = size
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {**_X264_OPTIONS, **options}
        except Exception:
            self._container.close()
            raise
        self._frame_type = av.VideoFrame
        self._count = 0

    def write(self, frame: ImageFrame) -> None:
        code = cv2.COLOR_RGBA2YUV_I420 if frame.channels == 4 else cv2.COLOR_RGB2YUV_I420
        video_frame = self._frame_type.from_ndarray(cv2.cvtColor(frame.array, code),
                                                    format="yuv420p")
        video_frame.pts = self._count
        self._count += 1
        self._container.mux(self._stream.encode(video_frame))

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


def _pyav() -> Any:
    """PyAV's module if it can encode H.264 here, else None (the reason is logged)."""
    try:
        import av
    except ImportError as exc:
        logger.warning("PyAV is not installed (%s): writing MPEG-4 part 2 (mp4v), which "
                       "browsers do not play; `pip install av` for H.264", exc)
        return None
    if "libx264" not in av.codecs_available:
        logger.warning("this PyAV build has no libx264 encoder: writing MPEG-4 part 2 (mp4v), "
                       "which browsers do not play")
        return None
    return av


class VideoWriter:
    """Encodes RGB(A) frames into a video file: H.264 through PyAV, other codecs through OpenCV.

    A writer is a :class:`~graphflow.app.io.registry.FrameSink`. The file opens at the second
    frame (or at ``close`` for a one-frame video), so that the frame rate can come from the
    first two timestamps when ``fps`` is not given. ``codec`` says what was written once the
    file is open: an H.264 request that cannot be met (no PyAV, no libx264, an odd frame
    size) falls back to ``mp4v``, with a warning in the log.

    Args:
        path: The output file; its folder must exist.
        codec: Four-character codec code (default by extension: MJPG for .avi and .mkv, VP80
            for .webm, avc1 (H.264) otherwise); avc1, h264, H264 and X264 mean H.264.
        fps: Frames per second; 0: from the timestamps (30 for a single frame).
        size: ``(width, height)`` every frame must have; ``(0, 0)``: the first frame's.
        h264_options: libx264 options over the defaults (``crf`` 23, ``preset`` ultrafast),
            e.g. ``{"preset": "veryfast"}`` for a smaller file written more slowly.

    Raises:
        ValueError: For a codec that is not four characters or a missing folder.
    """

    def __init__(self, path: str | pathlib.Path, codec: str = "", fps: float = 0.0,
                 size: tuple[int, int] = (0, 0),
                 h264_options: Mapping[str, str] | None = None) -> None:
        self.path = str(path)
        self.codec = codec or codec_for(self.path)
        if len(self.codec) != 4:
            raise ValueError(f"codec {self.codec!r} must be a four-character code such as "
                             "'avc1', 'mp4v' or 'MJPG'")
        check_folder(self.path)
        self.fps = fps
        self.size = size
        self.frames_written = 0
        self._h264_options = dict(h264_options or {})
        self._encoder: _OpenCvEncoder | _H264Encoder | None = None
        self._pending: tuple[int, ImageFrame] | None = None

    def write(self, timestamp: int, payload: Any) -> None:
        """Adds one frame (ImageFrame or RGB(A) array) shown at ``timestamp`` microseconds.

        Raises:
            TypeError: If the payload is not an image.
            ValueError: If its size differs from the video's.
        """
        frame = as_image(payload, f"video {self.path!r}")
        if self.size == (0, 0):
            self.size = (frame.width, frame.height)
        if (frame.width, frame.height) != self.size:
            raise ValueError(f"video {self.path!r}: frame at {timestamp} us is {frame.width}x"
                             f"{frame.height}, but the video is {self.size[0]}x{self.size[1]}")
        if self._encoder is None:
            if self._pending is None:
                self._pending = (timestamp, frame)
                return
            first_ts, first = self._pending
            self._pending = None
            if not self.fps:
                self.fps = round(1e6 / max(1, timestamp - first_ts), 3)
            self._encoder = self._open()
            self._encoder.write(first)
            self.frames_written += 1
        self._encoder.write(frame)
        self.frames_written += 1

    def _open(self) -> _OpenCvEncoder | _H264Encoder:
        if self.codec in H264_CODECS:
            width, height = self.size
            av = _pyav()
            if av is not None and width % 2 == 0 and height % 2 == 0:
                logger.info("%s: H.264 (libx264 through PyAV), %dx%d at %s fps", self.path,
                            width, height, self.fps)
                return _H264Encoder(av, self.path, self.fps, self.size, self._h264_options)
            if av is not None:
                logger.warning("%s: H.264 needs an even width and height, the frames are "
                               "%dx%d: writing MPEG-4 part 2 (mp4v), which browsers do not "
                               "play", self.path, width, height)
            self.codec = _FALLBACK_CODEC
        return _OpenCvEncoder(self.path, self.codec, self.fps, self.size)

    def close(self) -> None:
        """Writes a pending single frame and finishes the file."""
        if self._pending is not None:
            self.fps = self.fps or DEFAULT_FPS
            self._encoder = self._open()
            self._encoder.write(self._pending[1])
            self.frames_written += 1
            self._pending = None
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None


def read_image(path: str | pathlib.Path) -> ImageFrame:
    """Reads an image file as an RGB (or RGBA, if it has alpha) ImageFrame.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If OpenCV cannot decode it.
    """
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"image file {str(path)!r} does not exist")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"OpenCV cannot decode {str(path)!r} as an image")
    if image.dtype == np.uint16:  # 16-bit PNG or TIFF
        return from_bgr(np.asarray(np.right_shift(image, 8), np.uint8))
    return from_bgr(np.asarray(image, np.uint8))


def write_image(path: str | pathlib.Path, payload: Any) -> None:
    """Writes an ImageFrame (or RGB(A) array) to an image file; the extension picks the format.

    Raises:
        TypeError: If the payload is not an image.
        ValueError: If OpenCV cannot write that file.
    """
    bgr = to_bgr(payload, f"image {str(path)!r}")
    try:
        ok = cv2.imwrite(str(path), bgr)
    except cv2.error as exc:
        raise ValueError(f"OpenCV cannot write image {str(path)!r}: {exc.msg}") from None
    if not ok:
        raise ValueError(f"OpenCV cannot write image {str(path)!r} (check the folder and the "
                         f"extension: {', '.join(IMAGE_EXTENSIONS)})")


@register_calculator
class OpenCvVideoDecoderCalculator(Calculator):
    """Decodes a video file into RGB ImageFrames at the file's frame times (MediaPipe's).

    Example:
        node {
          calculator: "OpenCvVideoDecoderCalculator"
          input_side_packet: "INPUT_FILE_PATH:input_file_path"
          output_stream: "VIDEO:video"
          output_stream: "VIDEO_PRESTREAM:video_header"
        }
    """

    input_side_packets = (Port("INPUT_FILE_PATH", str, doc="the video file"),)
    outputs = (
        Port("VIDEO", ImageFrame, doc="frames (SRGB), timestamps in microseconds"),
        Port("VIDEO_PRESTREAM", VideoHeader, optional=True,
             doc="a VideoHeader at Timestamp.PRESTREAM"),
    )

    def open(self, cc: CalculatorContext) -> None:
        self.reader = VideoReader(cc.side_inputs["INPUT_FILE_PATH"])
        self.frames = iter(self.reader)
        self.decoded = 0
        if cc.outputs.connected("VIDEO_PRESTREAM"):
            header = cc.outputs["VIDEO_PRESTREAM"]
            header.add(self.reader.header, Timestamp.PRESTREAM)
            header.close()

    def process(self, cc: CalculatorContext) -> None:
        item = next(self.frames, None)
        if item is None:
            raise Stop()
        ts, frame = item
        cc.outputs["VIDEO"].add(frame, ts)
        self.decoded += 1

    def close(self, cc: CalculatorContext) -> None:
        reader = getattr(self, "reader", None)
        if reader is None:
            return
        reader.close()
        if 0 < reader.frame_count != self.decoded:
            logger.warning("%s: decoded %d frames of the %d the file declares", reader.path,
                           self.decoded, reader.frame_count)


@register_calculator
class OpenCvVideoEncoderCalculator(Calculator):
    """Encodes RGB(A) ImageFrames into a video file (MediaPipe's, without audio).

    Options (``OpenCvVideoEncoderCalculatorOptions``): ``codec`` (four characters; default by
    extension: MJPG for .avi/.mkv, VP80 for .webm, H.264 through PyAV otherwise, see
    :class:`VideoWriter`), ``video_format`` (if set, the output
    path's extension must match it), ``fps`` (default: the VIDEO_PRESTREAM header's, else
    from the first two timestamps), ``width``/``height`` (frames must have that size).

    Example:
        node {
          calculator: "OpenCvVideoEncoderCalculator"
          input_stream: "VIDEO:output_video"
          input_side_packet: "OUTPUT_FILE_PATH:output_file_path"
          options { [mediapipe.OpenCvVideoEncoderCalculatorOptions.ext] { codec: "mp4v" } }
        }
    """

    inputs = (
        Port("VIDEO", ImageFrame, doc="frames to encode"),
        Port("VIDEO_PRESTREAM", VideoHeader, optional=True, doc="frame rate and size"),
    )
    input_side_packets = (Port("OUTPUT_FILE_PATH", str, doc="the video file to write"),)
    options_type = opencv_video_encoder_calculator_pb2.OpenCvVideoEncoderCalculatorOptions
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: CalculatorContext) -> None:
        options = cc.options
        path = str(cc.side_inputs["OUTPUT_FILE_PATH"])
        if options.video_format and not path.endswith("." + options.video_format):
            raise ValueError(f"OUTPUT_FILE_PATH {path!r} does not end in "
                             f"'.{options.video_format}' (the node's video_format)")
        self.writer = VideoWriter(path, options.codec, options.fps,
                                  (options.width, options.height))

    def process(self, cc: CalculatorContext) -> None:
        header = cc.inputs["VIDEO_PRESTREAM"] if cc.inputs.connected("VIDEO_PRESTREAM") else None
        if header is not None and not header.is_empty:
            self.writer.fps = self.writer.fps or header.payload.frame_rate
            return
        video = cc.inputs["VIDEO"]
        self.writer.write(int(video.timestamp), video.payload)

    def close(self, cc: CalculatorContext) -> None:
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()
