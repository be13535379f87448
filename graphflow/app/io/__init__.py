"""Frame sources and sinks of ``graphflow run``, ``send`` and ``batch``: one registry of schemes.

:func:`open_source` / :func:`open_sink` turn ``--input`` / ``--output`` specs into frame
sources and sinks; :func:`register_source` / :func:`register_sink` add schemes. The built-in
schemes are files, image patterns and ``null`` (:mod:`graphflow.app.io.registry`), and camera,
folder, network streams, ``demo``, ``window`` and ``virtualcam`` (:mod:`graphflow.app.io.live`),
all registered when this package is imported.
"""

from graphflow.app.io import live as _live  # noqa: F401 - registers the live schemes
from graphflow.app.io.registry import (
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

__all__ = [
    "FrameSink",
    "FrameSource",
    "camera_spec",
    "default_endpoints",
    "open_sink",
    "open_source",
    "register_sink",
    "register_source",
    "set_default_endpoints",
    "sink_schemes",
    "source_schemes",
]
