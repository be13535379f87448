"""The ``graphflow send`` and ``graphflow serve`` subcommands.

``graphflow.app.cli`` registers them with :func:`add_send_parser` and :func:`add_serve_parser`; each
sets ``func`` on the parsed arguments to :func:`main_send` / :func:`main_serve`, called as
``func(args)``; they return the exit status and raise on errors, which ``graphflow.app.cli``
reports.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from graphflow.app.net.protocol import DEFAULT_MAX_FRAME_BYTES, TOKEN_ENV, validate_channel
from graphflow.app.net.sender import Sender, capture_frames
from graphflow.app.net.server import SENDER_TIMEOUT_S, StreamServer
from graphflow.app.net.streams_api import StreamManager
from graphflow.resources import find_graph


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (host 127.0.0.1) as ``(host, port)``.

    Raises:
        argparse.ArgumentTypeError: Saying what is wrong.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"expected HOST:PORT with a port in 0..65535, got {text!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def browse_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for an HTTP server bound to ``host``."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def _channel(text: str) -> str:
    try:
        return validate_channel(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _token_help(who: str) -> str:
    return (f"shared token {who} (default: ${TOKEN_ENV}; prefer the variable, command lines are "
            "visible to other users)")


def add_send_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``send`` to an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send", help="capture frames and push them to a graphflow server",
        description="Capture frames, encode them as JPEG and push them over TCP to "
                    "`graphflow serve` under a channel name; reconnects with backoff when the "
                    "server goes away. See docs/streams.md.")
    parser.add_argument("--to", required=True, type=parse_address, metavar="HOST:PORT",
                        help="the server's ingest address")
    parser.add_argument("--channel", required=True, type=_channel, metavar="NAME",
                        help="channel name (1-64 of A-Z a-z 0-9 _ . -)")
    parser.add_argument("--input", default="camera", metavar="SPEC",
                        help="what `graphflow run --input` accepts: camera (camera:N, N, "
                             "/dev/videoN), a video or image file, a folder, demo, or a stream "
                             "URL such as rtsp://... (default: camera)")
    parser.add_argument("--loop", action="store_true",
                        help="start a file, folder or the demo clip again when it ends")
    parser.add_argument("--quality", type=int, default=80, metavar="Q",
                        help="JPEG quality 1..100 (default 80)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (default: the file's own; a camera's own pace)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=_token_help("the server expects"))
    parser.set_defaults(func=main_send)
    return parser


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``serve`` to an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="receive streams from senders, run a graph on them, serve them over HTTP",
        description="Accept `graphflow send` streams, run GRAPH per watched channel and serve "
                    "raw and processed MJPEG, JSON results (server-sent events), /streams and "
                    "/healthz over HTTP. See docs/streams.md.")
    parser.add_argument("graph", metavar="GRAPH",
                        help="graph file, or the name of a bundled graph (e.g. face_detection)")
    parser.add_argument("--ingest", type=parse_address, default=("127.0.0.1", 7000),
                        metavar="HOST:PORT", help="sender address (default 127.0.0.1:7000)")
    parser.add_argument("--http", type=parse_address, default=("127.0.0.1", 8080),
                        metavar="HOST:PORT", help="viewer address (default 127.0.0.1:8080)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=_token_help("for senders and viewers"))
    parser.add_argument("--max-frame-bytes", type=int, default=DEFAULT_MAX_FRAME_BYTES,
                        metavar="N", help="largest JPEG accepted (default 8 MiB)")
    parser.add_argument("--input-stream", default="input_video",
                        help="graph input stream for the frames (default input_video)")
    parser.add_argument("--video-stream", default="output_video",
                        help="graph output stream served as /face_stream (default output_video)")
    parser.add_argument("--quality", type=int, default=80, metavar="Q",
                        help="JPEG quality of the processed video (default 80)")
    parser.add_argument("--sender-timeout", type=float, default=SENDER_TIMEOUT_S, metavar="S",
                        help="seconds a channel whose sender left waits for it to come back; "
                             f"then it is gone, its viewers too (default {SENDER_TIMEOUT_S:g})")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run each stream's graph (pushed or managed) in a Ray actor "
                             "(ADDRESS: host:port or auto; none: $RAY_ADDRESS or a new local "
                             "cluster)")
    parser.set_defaults(func=main_serve)
    return parser


def main_send(args: argparse.Namespace) -> int:
    """Runs ``graphflow send`` until its input ends or it is interrupted; returns 0.

    Raises:
        ValueError: If the input cannot be opened.
        SenderRejectedError: If the server refuses the sender (a wrong token).
    """
    host, port = args.to
    sender = Sender(host, port, args.channel, token=args.token, fps=args.fps or 0.0)
    frames = capture_frames(args.input, fps=args.fps, loop=args.loop, quality=args.quality)
    try:
        stats = asyncio.run(sender.run(frames))
    except KeyboardInterrupt:
        stats = sender.stats
    print(f"graphflow send: {stats.sent} frames sent, {stats.dropped} dropped, "
          f"{stats.connections} connection(s)")
    return 0


def main_serve(args: argparse.Namespace) -> int:
    """Runs ``graphflow serve`` until SIGINT or SIGTERM; returns 0.

    Prints ``graphflow serve: ingest HOST:PORT, http http://HOST:PORT/`` once both sockets
    listen (with the ports the OS picked for port 0), then the console's address to open.

    Raises:
        FileNotFoundError: If the graph is neither a file nor a bundled graph.
        ConfigError: If the graph does not load.
        ValueError: If the graph lacks the named streams.
        OSError: If an address cannot be bound.
    """
    server = StreamServer(
        find_graph(args.graph), ingest=args.ingest, http=args.http, token=args.token,
        max_frame_bytes=args.max_frame_bytes, input_stream=args.input_stream,
        video_stream=args.video_stream, quality=args.quality,
        sender_timeout=args.sender_timeout)
    StreamManager(server, ray_address=args.ray)

    async def serve() -> None:
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        async with server:
            print(f"graphflow serve: ingest {args.ingest[0]}:{server.ingest_port}, "
                  f"http http://{args.http[0]}:{server.http_port}/")
            console = f"graphflow serve: open {browse_url(args.http[0], server.http_port)} " \
                "in a browser for the console"
            if args.token:
                console += "; it asks for the token (the one given to --token or in " \
                    f"${TOKEN_ENV}) and keeps it in that browser tab only"
            print(console, flush=True)
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0
