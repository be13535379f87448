"""The ``graphflow send``, ``graphflow serve`` and ``graphflow streams`` subcommands.

``graphflow.app.cli`` registers them with :func:`add_send_parser`, :func:`add_serve_parser` and
:func:`add_streams_parser`; each sets ``func`` on the parsed arguments to :func:`main_send` /
:func:`main_serve` / :func:`main_streams`, called as ``func(args)``; they return the exit status
and raise on errors, which ``graphflow.app.cli`` reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from graphflow.app.batch import SIDE_PACKET_HELP, parse_side_packets
from graphflow.app.net.protocol import DEFAULT_MAX_FRAME_BYTES, TOKEN_ENV, validate_channel
from graphflow.app.net.sender import Sender, capture_frames
from graphflow.app.net.server import StreamServer
from graphflow.app.net.streams_api import StreamManager
from graphflow.app.net.supervisor import RESTART_POLICIES
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
    listen (with the ports the OS picked for port 0).

    Raises:
        FileNotFoundError: If the graph is neither a file nor a bundled graph.
        ConfigError: If the graph does not load.
        ValueError: If the graph lacks the named streams.
        OSError: If an address cannot be bound.
    """
    server = StreamServer(
        find_graph(args.graph), ingest=args.ingest, http=args.http, token=args.token,
        max_frame_bytes=args.max_frame_bytes, input_stream=args.input_stream,
        video_stream=args.video_stream, quality=args.quality)
    StreamManager(server, ray_address=args.ray)

    async def serve() -> None:
        task = asyncio.current_task()
        if task is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        async with server:
            print(f"graphflow serve: ingest {args.ingest[0]}:{server.ingest_port}, "
                  f"http http://{args.http[0]}:{server.http_port}/", flush=True)
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass
    return 0


DEFAULT_SERVER = "http://127.0.0.1:8080"


def add_streams_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``streams add|list|rm`` to an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "streams", help="add, list and remove managed streams on a running graphflow serve",
        description="Talk to the streams API of `graphflow serve` (see docs/operating.md).")
    parser.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                        help=f"the server's HTTP address (default {DEFAULT_SERVER})")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"the server's token (default: ${TOKEN_ENV})")
    commands = parser.add_subparsers(dest="streams_command", required=True)
    add = commands.add_parser("add", help="create a managed stream")
    add.add_argument("name", help="stream (channel) name")
    add.add_argument("--graph", required=True, help="graph file or bundled graph name")
    add.add_argument("--source", default="push",
                     help="push (default), or what `graphflow run --input` accepts: a URL, a "
                          "video file, camera[:N]...")
    add.add_argument("--restart", choices=RESTART_POLICIES, default="never",
                     help="what to do when the graph fails or the source ends")
    add.add_argument("--side-packet", action="append", default=[], metavar="NAME=VALUE",
                     help=SIDE_PACKET_HELP)
    commands.add_parser("list", help="list the streams")
    remove = commands.add_parser("rm", help="stop and remove a managed stream")
    remove.add_argument("name")
    parser.set_defaults(func=main_streams)
    return parser


def _request(args: argparse.Namespace, method: str, path: str,
             body: dict[str, Any] | None = None) -> Any:
    """One JSON request to the server.

    Raises:
        RuntimeError: With the server's error message, or why it could not be reached.
    """
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(args.server.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    if args.token:
        request.add_header("Authorization", f"Bearer {args.token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            text = json.loads(text)["error"]
        raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {text.strip()}") from None
    except urllib.error.URLError as exc:
        raise RuntimeError(f"cannot reach {args.server}: {exc.reason}") from None


def main_streams(args: argparse.Namespace) -> int:
    """Runs ``graphflow streams``; returns the exit status.

    Output goes to stdout (listings) and stderr (errors), so that it pipes.

    Args:
        args: The parsed command line.
    """
    side_packets: dict[str, Any] = {}
    if args.streams_command == "add":
        try:
            side_packets = parse_side_packets(args.side_packet)
        except ValueError as exc:
            print(f"graphflow streams: {exc}", file=sys.stderr)
            return 2  # a usage error, as in `graphflow run` and `graphflow batch`
    try:
        if args.streams_command == "add":
            stream = _request(args, "POST", "/streams", {
                "name": args.name, "graph": args.graph, "source": args.source,
                "restart": args.restart, "side_packets": side_packets})
            print(f"added {stream['name']}: {stream['graph']} on {stream['source']} "
                  f"(restart {stream['restart']})")
        elif args.streams_command == "rm":
            _request(args, "DELETE", f"/streams/{urllib.parse.quote(args.name)}")
            print(f"removed {args.name}")
        else:
            for entry in _request(args, "GET", "/streams"):
                managed = entry.get("managed")
                what = (f"{managed['state']}, {managed['frames']} frames, restarts "
                        f"{managed['restarts']}, {managed['source']}") if managed else \
                    f"pushed, {'connected' if entry.get('connected') else 'sender away'}"
                print(f"{entry['name']}\t{entry.get('fps', 0)} fps\t{what}")
    except (RuntimeError, ValueError) as exc:
        print(f"graphflow streams: {exc}", file=sys.stderr)
        return 1
    return 0
