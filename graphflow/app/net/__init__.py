"""Streams over the network: ``graphflow send`` pushes JPEG frames, ``graphflow serve`` runs graphs.

- :mod:`graphflow.app.net.protocol`: the TCP framing between sender and server.
- :mod:`graphflow.app.net.sender`: capture, encode and push frames; reconnect with backoff.
- :mod:`graphflow.app.net.server`: ingest many channels; MJPEG, server-sent events and JSON
  over HTTP.
- :mod:`graphflow.app.net.channel`: one channel's sender, latest frame, viewers and runner.
- :mod:`graphflow.app.net.runner`: a channel's frames through its graph (in this process or in
  a Ray actor), for pushed channels and managed streams alike.
- :mod:`graphflow.app.net.supervisor`: managed streams, their sources and restart policies.
- :mod:`graphflow.app.net.streams_api`: the managed streams' HTTP API, events and OpenAPI.
- :mod:`graphflow.app.net.client`: read the server's MJPEG and event streams from Python.

See ``docs/streams.md``.
"""

from graphflow.app.net.protocol import Frame, Hello, ProtocolError, validate_channel
from graphflow.app.net.sender import Sender, SenderRejectedError, SenderStats, capture_frames
from graphflow.app.net.server import StreamServer

__all__ = ["Frame", "Hello", "ProtocolError", "Sender", "SenderRejectedError", "SenderStats",
           "StreamServer", "capture_frames", "validate_channel"]
