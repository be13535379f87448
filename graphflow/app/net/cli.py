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
import dataclasses
import ipaddress
import json
import logging
import os
import pathlib
import resource
import signal
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, NoReturn

from graphflow.app.batch import SIDE_PACKET_HELP, parse_side_packets
from graphflow.app.net.limits import Limits
from graphflow.app.net.policy import Access
from graphflow.app.net.protocol import ADMIN_TOKEN_ENV, TOKEN_ENV, validate_channel
from graphflow.app.net.sender import Sender, capture_frames
from graphflow.app.net.server import StreamServer
from graphflow.app.net.streams_api import StreamManager
from graphflow.app.net.supervisor import RESTART_POLICIES
from graphflow.resources import find_graph

logger = logging.getLogger(__name__)


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


LIMIT_FLAGS = {
    "max_frame_bytes": "largest JPEG a sender may send, in bytes",
    "max_pixels": "largest frame, width x height, checked before decoding (pushed, pulled)",
    "max_buffered_bytes": "frame bytes held from senders at once (being received, and each "
                          "channel's latest)",
    "max_connections": "ingest connections at once",
    "max_connections_per_address": "ingest connections at once from one IP address",
    "max_http_connections": "HTTP connections at once",
    "max_channels": "channels at once (pushed and managed)",
    "max_streams": "managed streams at once",
    "max_viewers": "viewers at once (MJPEG and event streams)",
    "max_viewers_per_stream": "viewers of one channel at once",
    "header_timeout": "seconds an HTTP client has to send its request headers",
    "hello_timeout": "seconds a new sender has to send its HELLO",
    "frame_timeout": "seconds a sender may stay silent after HELLO, or take to send a frame",
    "max_clock_skew": "frames stamped further than this from the server's clock are refused "
                      "(seconds; 0: no check)",
    "source_threads": "threads that open and read pulled sources",
    "source_timeout": "seconds a pulled source may take to open, and then to give a frame",
}
"""The ``graphflow serve`` flags of :class:`~graphflow.app.net.limits.Limits` fields."""
EXIT_ABANDONED = 3
"""``graphflow serve``'s exit status when a graph run hung at shutdown and was abandoned."""
SHUTDOWN_S = 4.0
"""How long ``graphflow serve`` gives itself to stop after SIGINT or SIGTERM."""


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``serve`` to an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="receive streams from senders, run a graph on them, serve them over HTTP",
        description="Accept `graphflow send` streams, run GRAPH per watched channel and serve "
                    "raw and processed MJPEG, JSON results (server-sent events), /streams and "
                    "/healthz over HTTP. See docs/streams.md and, before exposing it beyond "
                    "this machine, docs/security.md.")
    parser.add_argument("graph", metavar="GRAPH",
                        help="graph file, or the name of a bundled graph (e.g. face_detection)")
    parser.add_argument("--ingest", type=parse_address, default=("127.0.0.1", 7000),
                        metavar="HOST:PORT", help="sender address (default 127.0.0.1:7000)")
    parser.add_argument("--http", type=parse_address, default=("127.0.0.1", 8080),
                        metavar="HOST:PORT", help="viewer address (default 127.0.0.1:8080)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=_token_help("for senders and viewers"))
    parser.add_argument("--admin-token", default=os.environ.get(ADMIN_TOKEN_ENV),
                        help=f"token for creating and deleting managed streams (default: "
                             f"${ADMIN_TOKEN_ENV}; none: --token)")
    parser.add_argument("--allowed-hosts", type=lambda text: [h for h in text.split(",") if h],
                        default=[], metavar="NAME,...",
                        help="host names the HTTP server answers to besides IP addresses and "
                             "localhost (the names a reverse proxy forwards; * for any)")
    parser.add_argument("--graphs-dir", type=pathlib.Path, default=None, metavar="DIR",
                        help="managed streams may run graph files under DIR (default: only "
                             "bundled graphs)")
    parser.add_argument("--allow-local-sources", action="store_true",
                        help="managed streams may read files, folders, cameras and raw tcp/udp "
                             "sockets (default: network streams, push and demo only)")
    parser.add_argument("--allow-private-hosts", action="store_true",
                        help="managed streams may pull from loopback, private and link-local "
                             "hosts (default: public hosts only)")
    defaults = {f.name: f.default for f in dataclasses.fields(Limits)}
    for name, text in LIMIT_FLAGS.items():
        default = defaults[name]
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default,
                            metavar="S" if isinstance(default, float) else "N",
                            help=f"{text} (default {default:g})")
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
    """Runs ``graphflow serve`` until SIGINT or SIGTERM.

    Prints ``graphflow serve: ingest HOST:PORT, http http://HOST:PORT/`` once both sockets
    listen (with the ports the OS picked for port 0). A signal stops it within
    ``SHUTDOWN_S``; graph runs that hang then are abandoned, the process exits at once with
    status ``EXIT_ABANDONED`` and says which.

    Returns:
        0 after a clean stop.

    Raises:
        FileNotFoundError: If the graph is neither a file nor a bundled graph.
        ConfigError: If the graph does not load.
        ValueError: If the graph lacks the named streams, or a limit is not positive.
        OSError: If an address cannot be bound.
    """
    access, limits = serve_settings(args)
    for what, (host, _) in (("--ingest", args.ingest), ("--http", args.http)):
        if access.token is None and not _loopback(host):
            logger.warning("%s %s is reachable from other machines and there is no --token: "
                           "anyone who reaches it can push and watch streams (see "
                           "docs/security.md)", what, host)
    server = StreamServer(
        find_graph(args.graph), ingest=args.ingest, http=args.http, access=access, limits=limits,
        input_stream=args.input_stream, video_stream=args.video_stream, quality=args.quality)
    StreamManager(server, ray_address=args.ray)
    _raise_open_files_limit()
    finished = asyncio.run(_serve(server, args.ingest[0], args.http[0]))
    if finished and not server.abandoned:
        stuck = [t.name for t in threading.enumerate() if t.daemon and t.is_alive()]
        if not stuck:
            return 0
        # Threads still inside a native call (a source's open in OpenCV/FFmpeg) can abort the
        # interpreter's finalization (SIGABRT, seen under load): leave without it.
        logger.info("leaving %d threads in blocking calls behind: %s", len(stuck),
                    ", ".join(stuck))
        _leave(0)
    what = f"the graph runs of {', '.join(server.abandoned)} hung and were abandoned" \
        if server.abandoned else f"it did not finish stopping within {SHUTDOWN_S:g} s"
    print(f"graphflow serve: stopped; {what} (exit status {EXIT_ABANDONED})", file=sys.stderr,
          flush=True)
    _leave(EXIT_ABANDONED)  # threads stuck in a calculator cannot be joined: do not try


def _leave(status: int) -> NoReturn:
    """Exits at once with ``status`` after flushing the output, without joining threads."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def serve_settings(args: argparse.Namespace) -> tuple[Access, Limits]:
    """The access settings and limits of parsed ``graphflow serve`` arguments.

    Raises:
        ValueError: If a limit is not positive.
    """
    access = Access(token=args.token, admin_token=args.admin_token,
                    allowed_hosts=tuple(args.allowed_hosts), graphs_dir=args.graphs_dir,
                    allow_local_sources=args.allow_local_sources,
                    allow_private_hosts=args.allow_private_hosts)
    return access, Limits(**{name: getattr(args, name) for name in LIMIT_FLAGS})


async def _serve(server: StreamServer, ingest_host: str, http_host: str) -> bool:
    """Serves until SIGINT or SIGTERM; False if closing did not finish within SHUTDOWN_S."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        print(f"graphflow serve: ingest {ingest_host}:{server.ingest_port}, "
              f"http http://{http_host}:{server.http_port}/", flush=True)
        await stop.wait()
        logger.info("stopping")
    finally:
        try:
            await asyncio.wait_for(server.close(), SHUTDOWN_S)
        except TimeoutError:
            return False
    return True


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _raise_open_files_limit() -> None:
    """Raises the soft limit of open files to the hard one: the connection limits, not the
    operating system's default of 1024, should be what bounds clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (hard if hard != resource.RLIM_INFINITY else 65536, hard))


DEFAULT_SERVER = "http://127.0.0.1:8080"


def add_streams_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``streams add|list|rm`` to an ``argparse`` subparsers object."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "streams", help="add, list and remove managed streams on a running graphflow serve",
        description="Talk to the streams API of `graphflow serve` (see docs/operating.md).")
    parser.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                        help=f"the server's HTTP address (default {DEFAULT_SERVER})")
    parser.add_argument("--token", default=os.environ.get(ADMIN_TOKEN_ENV,
                                                          os.environ.get(TOKEN_ENV)),
                        help=f"the server's admin token, or its token if it has none (default: "
                             f"${ADMIN_TOKEN_ENV}, else ${TOKEN_ENV})")
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
