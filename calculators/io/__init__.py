"""Frames in and out of graphs: OpenCV video and image files, and the source/sink registry.

``OpenCvVideoDecoderCalculator`` and ``OpenCvVideoEncoderCalculator`` are MediaPipe's file
calculators; :func:`open_source` / :func:`open_sink` turn ``--input`` / ``--output`` specs of
``graphflow run`` into frame sources and sinks, and :func:`register_source` /
:func:`register_sink` add schemes (camera, window, virtual camera, ...).
"""

from calculators.io.endpoints import (
    FrameSink,
    FrameSource,
    camera_spec,
    default_endpoints,
    open_sink,
    open_source,
    register_sink,
    register_source,
    set_default_endpoints,
    sink_schemes,
    source_schemes,
)
from calculators.io.video import VideoHeader, VideoReader, VideoWriter, read_image, write_image

__all__ = [
    "FrameSink",
    "FrameSource",
    "VideoHeader",
    "VideoReader",
    "VideoWriter",
    "camera_spec",
    "default_endpoints",
    "open_sink",
    "open_source",
    "read_image",
    "register_sink",
    "register_source",
    "set_default_endpoints",
    "sink_schemes",
    "source_schemes",
    "write_image",
]
