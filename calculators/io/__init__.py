"""Video and image files: MediaPipe's OpenCV file calculators and the readers/writers they use.

``OpenCvVideoDecoderCalculator`` and ``OpenCvVideoEncoderCalculator`` are MediaPipe's file
calculators; :class:`VideoReader`, :class:`VideoWriter`, :func:`read_image` and
:func:`write_image` are the file access the application's sources and sinks
(:mod:`graphflow.app.io`) build on.
"""

from calculators.io.video import VideoHeader, VideoReader, VideoWriter, read_image, write_image

__all__ = ["VideoHeader", "VideoReader", "VideoWriter", "read_image", "write_image"]
