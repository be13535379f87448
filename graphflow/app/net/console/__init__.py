"""The web console of ``graphflow serve``: a single page served from the package, and the routes
it needs beyond the streams API.

The page (``index.html``, ``console.js``, ``console.css``, ``favicon.svg`` next to this module;
plain files, no build step) shows every channel of ``/streams`` as a card with its raw and
processed video side by side and its results, adds, restarts and removes managed streams, and
edits a managed stream's eymo script. Its requests carry the token in the ``Authorization``
header; the video and results of every card come over one websocket (a browser opens at most
six HTTP connections to a server, fewer than two cards' MJPEG and event streams) whose first
message carries the token: it is never in a URL. The page asks for the token on a 401 and keeps
it in the tab's session storage.

Routes:

- ``GET /``, ``GET /console/{file}``, ``GET /favicon.ico``: the page and its files (no token:
  they hold no data; the page asks for the token).
- ``GET /console/graphs``: the bundled graph names (for the page's "add stream" form).
- ``GET /console/feed``: the websocket (:class:`Feed`).
- ``POST /streams/{name}/restart``: ends a managed stream's graph run and starts a new one
  (the admin token).
- ``GET /streams/{name}/script``: the eymo script of a managed stream whose graph draws one:
  ``{"text", "side_packet", "path", "live"}``.
- ``PUT /streams/{name}/script``: ``{"text": ...}`` (the admin token; a JSON body); a script
  with a mistake answers 422 with the parser's ``line``, ``column`` and ``message``. A good one
  is written to a copy the server owns (the stream's own file is never written): the first
  time, the stream restarts with its script side packet naming that copy; after that the
  running graph picks up each edit at its next frame (``EymoTransformCalculator`` re-reads its
  script file), ``"applied": "live"``.

Access is the server's (:class:`~graphflow.app.net.policy.Access`): reading takes the token,
changing a stream the admin token (the token when there is none), as in the streams API; every
request passes the server's ``Host`` and ``Origin`` checks, websocket handshakes included; each
kind a feed client watches is a viewer under the server's viewer limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pathlib
import shutil
import struct
import tempfile
from typing import TYPE_CHECKING, Any

from aiohttp import WSCloseCode, WSMsgType, web

from graphflow.app.net.broadcast import Subscription
from graphflow.app.net.protocol import Frame, validate_channel

if TYPE_CHECKING:
    from graphflow.app.net.channel import Channel
    from graphflow.app.net.server import StreamServer
    from graphflow.app.net.streams_api import ManagedStream, StreamManager

logger = logging.getLogger(__name__)

HERE = pathlib.Path(__file__).resolve().parent
FILES = {"index.html": "text/html", "console.js": "text/javascript",
         "console.css": "text/css", "favicon.svg": "image/svg+xml"}
"""The page's files and their content types (nothing else in this folder is served)."""
EYMO_CALCULATOR = "EymoTransformCalculator"
"""The calculator whose ``SCRIPT`` side packet the console edits."""
KINDS = ("raw", "processed", "results")
"""What a feed client may watch of a channel."""
MAX_MESSAGE_BYTES = 64 * 1024
"""Largest message a feed client may send (its messages are small JSON objects)."""
HEARTBEAT_S = 30.0
"""Ping interval of feed connections (a client that stops answering is dropped)."""
REFUSED = 4401
"""The close code of a feed connection whose token was refused (an application code)."""
_FRAME_HEADER = struct.Struct("!BqB")  # kind (0 raw, 1 processed), capture time (us), name length


def setup(app: web.Application, server: StreamServer) -> None:
    """Adds the page, its files and its feed to a server's application."""
    app.router.add_get("/", _file("index.html"))
    app.router.add_get("/favicon.ico", _file("favicon.svg"))
    for name in FILES:
        app.router.add_get(f"/console/{name}", _file(name))

    async def graphs(request: web.Request) -> web.Response:
        from graphflow.resources import bundled_graphs

        server.check_viewer(request)
        return web.json_response(bundled_graphs())

    app.router.add_get("/console/graphs", graphs)
    feed = Feed(server)
    app.router.add_get("/console/feed", feed.handle)
    app.on_shutdown.append(feed.close_all)


def _file(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        # Read per request: a few KiB, and an edited page shows on reload.
        return web.Response(body=(HERE / name).read_bytes(), content_type=FILES[name],
                            headers={"Cache-Control": "no-cache"})

    return handler


class Feed:
    """The console's websocket: the streams a page watches, all over one connection.

    The client first sends ``{"token": T}`` (``null`` without one); a refused token closes the
    connection with code :data:`REFUSED`, else the server answers ``{"ok": true}``. Then each
    ``{"watch": NAME, "kinds": [...]}`` sets what the client watches of channel NAME (of
    :data:`KINDS`; an empty list stops). The server sends frames as binary messages (a
    ``!BqB`` header: kind 0 raw or 1 processed, the capture time in microseconds, the name's
    length; the name; the JPEG), result events as text (``/results`` events), and
    ``{"ended": NAME, "kind": K, "why": W}`` when the server ends what was watched (a failed
    graph, a channel gone) or ``{"error": E, "channel": NAME}`` (an unknown channel, one more
    viewer than the server's limits allow). Each watched kind is one viewer of the channel,
    with the mailbox of an HTTP viewer: a slow page gets fewer frames. The token message is due
    within the server's ``limits.header_timeout``.

    Args:
        server: The server whose channels are watched.
    """

    def __init__(self, server: StreamServer) -> None:
        self.server = server
        self.sockets: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serves one client until it leaves or the server shuts down."""
        # No permessage-deflate: JPEG does not compress, and deflating every frame costs CPU.
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT_S, compress=False,
                                       max_msg_size=MAX_MESSAGE_BYTES)
        await socket.prepare(request)
        self.sockets.add(socket)
        pumps: dict[tuple[str, str], asyncio.Task[None]] = {}
        try:
            if not await self._hello(socket):
                return socket
            await socket.send_json({"ok": True})
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    break
                try:
                    body = json.loads(message.data)
                    name, kinds = validate_channel(body["watch"]), set(body["kinds"])
                    if not kinds <= set(KINDS):
                        raise ValueError(f"kinds must be among {list(KINDS)}")
                except (ValueError, KeyError, TypeError, RecursionError) as exc:
                    await socket.send_json({"error": f"expected {{\"watch\": NAME, \"kinds\": "
                                                     f"[...]}}: {exc}", "channel": None})
                    continue
                await self._watch(socket, pumps, name, kinds)
        finally:
            self.sockets.discard(socket)
            for task in pumps.values():
                task.cancel()
            await asyncio.gather(*pumps.values(), return_exceptions=True)
        return socket

    async def _hello(self, socket: web.WebSocketResponse) -> bool:
        """Reads the token message; False (and the connection closed) if it is refused."""
        try:
            message = await socket.receive(self.server.limits.header_timeout)
            offered = json.loads(message.data)["token"] if message.type == WSMsgType.TEXT \
                else None
        except (TimeoutError, ValueError, KeyError, TypeError, RecursionError):
            offered = None
        if isinstance(offered, (str, type(None))) and self.server.access.viewer_ok(offered):
            return True
        await socket.close(code=REFUSED, message=b"wrong or missing token")
        return False

    async def _watch(self, socket: web.WebSocketResponse,
                     pumps: dict[tuple[str, str], asyncio.Task[None]], name: str,
                     kinds: set[str]) -> None:
        for kind in KINDS:
            pump = pumps.get((name, kind))
            running = pump is not None and not pump.done()
            if kind not in kinds and pump is not None:
                pump.cancel()
                del pumps[name, kind]
            elif kind in kinds and not running:
                channel = self.server.get_channel(name)
                if channel is None:
                    await socket.send_json({"error": f"no stream named {name!r}",
                                            "channel": name})
                    return
                try:
                    self.server.admit_viewer(channel)
                except web.HTTPTooManyRequests as exc:
                    await socket.send_json({"error": exc.text.strip() if exc.text else exc.reason,
                                            "channel": name})
                    return
                pumps[name, kind] = self._start_pump(socket, channel, kind)

    def _start_pump(self, socket: web.WebSocketResponse, channel: Channel,
                    kind: str) -> asyncio.Task[None]:
        """Subscribes to one kind of a channel and starts sending it.

        The subscription is made now, not when the pump first runs, so that the admission of
        the next viewer counts this one; it ends with the pump (even one cancelled before it
        ran).
        """
        source: Any = {"raw": channel.raw, "processed": channel.processed,
                       "results": channel.results}[kind]
        subscribed = contextlib.ExitStack()
        subscription = subscribed.enter_context(source.subscribe())
        if kind == "raw" and channel.latest is not None:
            subscription.put(channel.latest)
        pump = asyncio.create_task(self._pump(socket, channel, kind, subscription))
        pump.add_done_callback(lambda _: subscribed.close())
        return pump

    async def _pump(self, socket: web.WebSocketResponse, channel: Channel, kind: str,
                    subscription: Subscription[Any]) -> None:
        """Sends what one kind of a channel publishes until either side ends."""
        with contextlib.suppress(ConnectionError):
            while (item := await subscription.get()) is not None:
                if isinstance(item, Frame):
                    name = channel.name.encode()
                    await socket.send_bytes(_FRAME_HEADER.pack(
                        KINDS.index(kind), item.timestamp, len(name)) + name + item.jpeg)
                else:
                    await socket.send_str(item.decode())
            if not socket.closed:
                await socket.send_json({"ended": channel.name, "kind": kind,
                                        "why": "ended by the server"})

    async def close_all(self, app: web.Application) -> None:
        """Closes every connection (the server shuts down)."""
        for socket in list(self.sockets):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def setup_managed(app: web.Application, manager: StreamManager) -> None:
    """Adds the restart and script routes of managed streams (the streams API calls it)."""
    ScriptEditor(manager).add_routes(app)


class ScriptEditor:
    """Restarts managed streams and edits their eymo scripts (copies in a folder of its own).

    Args:
        manager: The server's managed streams.
    """

    def __init__(self, manager: StreamManager) -> None:
        self.manager = manager
        self._folder: pathlib.Path | None = None
        self._side_packets: dict[str, str | None] = {}  # graph file -> its script side packet

    def add_routes(self, app: web.Application) -> None:
        """Registers the routes, and the removal of the script copies at cleanup."""
        app.router.add_post("/streams/{name}/restart", self._restart)
        app.router.add_get("/streams/{name}/script", self._get_script)
        app.router.add_put("/streams/{name}/script", self._put_script)
        app.on_cleanup.append(self._cleanup)

    async def _cleanup(self, app: web.Application) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def _stream(self, request: web.Request, admin: bool = False) -> ManagedStream:
        if admin:
            self.manager.server.check_admin(request)
        else:
            self.manager.server.check_viewer(request)
        name = request.match_info["name"]
        stream = self.manager.streams.get(name)
        if stream is None:
            raise _error(web.HTTPNotFound, f"no managed stream {name!r}")
        return stream

    async def _restart(self, request: web.Request) -> web.Response:
        stream = self._stream(request, admin=True)
        self._check_running()
        await stream.restart()
        return web.json_response(stream.describe())

    def _check_running(self) -> None:
        """Raises 503 once the server is shutting down (nothing is restarted then)."""
        if self.manager.server.closing:
            raise _error(web.HTTPServiceUnavailable, "the server is shutting down")

    async def _script_side_packet(self, stream: ManagedStream) -> str:
        """The side packet naming the stream's eymo script.

        Raises:
            HTTPConflict: If its graph draws no eymo script from an input side packet.
        """
        graph = stream.spec.graph
        if graph not in self._side_packets:
            self._side_packets[graph] = await asyncio.to_thread(script_side_packet, graph)
        name = self._side_packets[graph]
        if name is None:
            raise _error(web.HTTPConflict, f"graph {graph} draws no eymo script (no "
                         f"{EYMO_CALCULATOR} with a SCRIPT input side packet)")
        return name

    async def _get_script(self, request: web.Request) -> web.Response:
        from calculators.eymo.transform import script_path

        stream = self._stream(request)
        side_packet = await self._script_side_packet(stream)
        path = script_path(stream.spec.side_packets.get(side_packet))
        try:
            text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _error(web.HTTPConflict, f"cannot read the script {path}: {exc}") from None
        return web.json_response({"text": text, "side_packet": side_packet, "path": str(path),
                                  "live": path == self._copy(stream)})

    async def _put_script(self, request: web.Request) -> web.Response:
        from calculators.eymo.parser import ParseError, parse

        stream = self._stream(request, admin=True)
        body = await self.manager.server.read_json(request)
        self._check_running()
        side_packet = await self._script_side_packet(stream)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise _error(web.HTTPBadRequest, 'the body must be {"text": "<the script>"}')
        name = stream.spec.name
        try:
            await asyncio.to_thread(parse, text, f"{name}.eymo")
        except ParseError as exc:
            return web.json_response({"error": str(exc), "line": exc.line, "column": exc.column,
                                      "message": exc.message}, status=422)
        copy = self._copy(stream)
        live = stream.spec.side_packets.get(side_packet) == str(copy)
        await asyncio.to_thread(_write_atomically, copy, text)
        if not live:
            await stream.restart({**stream.spec.side_packets, side_packet: str(copy)})
        logger.info("stream %r: eymo script %s (%s)", name, "updated" if live else "replaced",
                    copy)
        return web.json_response({"applied": "live" if live else "restarted",
                                  "path": str(copy)})

    def _copy(self, stream: ManagedStream) -> pathlib.Path:
        """The server's copy of a stream's script (its folder is made on first use)."""
        if self._folder is None:
            self._folder = pathlib.Path(tempfile.mkdtemp(prefix="graphflow-scripts-"))
        return self._folder / f"{stream.spec.name}.eymo"


def script_side_packet(graph: str) -> str | None:
    """The graph input side packet that names the script of the graph's eymo node, if any."""
    from graphflow.config import load_config
    from graphflow.graph import CalculatorGraph

    validated = CalculatorGraph(load_config(graph)).validated
    for node in validated.nodes:
        if node.calculator.__name__ == EYMO_CALCULATOR:
            for side in node.side_inputs:
                if side.tag == "SCRIPT" and validated.side_producers.get(side.name, -1) < 0:
                    return side.name
    return None


def _write_atomically(path: pathlib.Path, text: str) -> None:
    """Replaces ``path`` at once: a reader never sees half a script."""
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _error(kind: type[web.HTTPException], text: str) -> web.HTTPException:
    return kind(text=json.dumps({"error": text}), content_type="application/json")
