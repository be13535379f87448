"""``graphflow serve``: ingest JPEG streams over TCP, run a graph per watched channel, serve HTTP.

Senders push frames under a channel name (see :mod:`graphflow.app.net.protocol`). For each channel
(:class:`~graphflow.app.net.channel.Channel`) the server keeps the latest frame and serves it raw;
the channel's graph runs only while somebody watches its processed video or its results, once per
frame however many watch, and stops when the last of them leaves
(a :class:`~graphflow.app.net.runner.ChannelRunner`). HTTP endpoints (aiohttp):

- ``/``: an index page of the streams.
- ``/streams``: JSON list of channels with their frame rates and viewers.
- ``/stream?name=C``: the raw frames as MJPEG (``multipart/x-mixed-replace``).
- ``/face_stream?name=C``: the graph's video output as MJPEG.
- ``/results?name=C``: the graph's other outputs as JSON server-sent events.
- ``/healthz``: liveness.

Graphs run in this process unless :attr:`StreamServer.backend` is replaced (``graphflow serve
--ray``: Ray actors, :class:`graphflow.app.net.runner.RayBackend`). More routes come through
:attr:`StreamServer.app_setup` (the streams API, :mod:`graphflow.app.net.streams_api`), which
uses the server's public hooks: :meth:`~StreamServer.channel`, :meth:`~StreamServer.release`,
:meth:`~StreamServer.check_viewer`, :meth:`~StreamServer.emit` and
:meth:`~StreamServer.run_blocking`.

Every MJPEG part carries ``X-Timestamp`` (the frame's capture time, microseconds since the Unix
epoch). With a token, senders put it in their HELLO and viewers send ``Authorization: Bearer T``
or ``?token=T``.

Example:
    async with StreamServer("graphs/face_detection.pbtxt", ingest=("127.0.0.1", 7000),
                            http=("127.0.0.1", 8080)) as server:
        await server.serve_forever()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hmac
import json
import logging
import pathlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from graphflow.app.net import jpeg
from graphflow.app.net.broadcast import Broadcaster, Subscription
from graphflow.app.net.channel import Channel
from graphflow.app.net.protocol import (
    DEFAULT_MAX_FRAME_BYTES,
    MAX_CONTROL_BYTES,
    MSG_ERROR,
    MSG_FRAME,
    MSG_HELLO,
    MSG_WELCOME,
    Frame,
    Hello,
    ProtocolError,
    decode_frame,
    encode_json,
    message_name,
    read_message,
    validate_channel,
)
from graphflow.app.net.runner import Backend, ChannelRunner, GraphSpec, LocalBackend
from graphflow.config import GraphConfig, load_config

logger = logging.getLogger(__name__)

T = TypeVar("T")
Address = tuple[str, int]

IDLE_CHECK_S = 1.0
"""How often an idle viewer connection is checked for a client that went away."""
EVENTS_DEPTH = 256
"""Events a slow ``/events`` viewer may have pending before the oldest are dropped."""


class StreamServer:
    """Ingests channels from ``graphflow send`` and serves them raw and processed over HTTP.

    Args:
        graph: The graph to run per watched channel: a file path, pbtxt text or a loaded config.
        ingest: TCP address for senders (port 0 picks a free one).
        http: HTTP address for viewers (port 0 picks a free one).
        token: Shared secret that senders and viewers must present (None: no authentication).
        max_frame_bytes: Largest JPEG a sender may send; a bigger one closes its connection.
        input_stream: The graph input stream that receives RGB ``ImageFrame`` packets.
        video_stream: The graph output stream served as ``/face_stream``.
        result_streams: Output streams served on ``/results`` (default: every graph output
            stream but ``video_stream``).
        quality: JPEG quality of the processed video.
        max_in_flight: Frames inside one graph run at once; newer frames replace waiting ones.
        hello_timeout: Seconds a new sender has to send its HELLO.

    Attributes:
        backend: Where channel graphs run (in this process by default).
        app_setup: Called with the HTTP application before it starts (more routes).
        events: Stream events (``started``, ``failed``...), as JSON, for ``/events``.

    Raises:
        ConfigError: If the graph does not load.
        ValueError: If the graph lacks the named streams.
    """

    def __init__(self, graph: str | pathlib.Path | GraphConfig, *,
                 ingest: Address = ("127.0.0.1", 0), http: Address = ("127.0.0.1", 0),
                 token: str | None = None, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 input_stream: str = "input_video", video_stream: str = "output_video",
                 result_streams: Sequence[str] | None = None, quality: int = 80,
                 max_in_flight: int = 2, hello_timeout: float = 10.0) -> None:
        self.config = graph if isinstance(graph, GraphConfig) else load_config(graph)
        spec = GraphSpec(self.config, {}, input_stream, video_stream,
                         tuple(result_streams) if result_streams is not None else None, quality)
        _, results = spec.load()
        self.graph_spec = dataclasses.replace(spec, result_streams=tuple(results))
        """What a pushed channel's runner runs."""
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        self.token = token
        self.max_frame_bytes = max_frame_bytes
        self.quality = quality
        self.hello_timeout = hello_timeout
        self._ingest_address = ingest
        self._http_address = http
        self._channels: dict[str, Channel] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._senders: set[asyncio.StreamWriter] = set()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._ingest: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.backend: Backend = LocalBackend(self.run_blocking, max_in_flight)
        self.app_setup: list[Callable[[web.Application], None]] = []
        self.events: Broadcaster[bytes] = Broadcaster(EVENTS_DEPTH)
        self.ingest_port = 0
        self.http_port = 0

    @property
    def result_streams(self) -> list[str]:
        """The graph outputs served on ``/results``."""
        return list(self.graph_spec.result_streams or ())

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Binds both sockets and starts serving."""
        self._pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="graphflow-serve")
        self._ingest = await asyncio.start_server(self._on_sender, *self._ingest_address)
        self.ingest_port = self._ingest.sockets[0].getsockname()[1]
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/streams", self._streams)
        app.router.add_get("/stream", self._raw_stream)
        app.router.add_get("/face_stream", self._face_stream)
        app.router.add_get("/results", self._results)
        for setup in self.app_setup:
            setup(app)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, *self._http_address)
        await site.start()
        self.http_port = self._runner.addresses[0][1]
        logger.info("serving: ingest on %s:%d, http on http://%s:%d/", self._ingest_address[0],
                    self.ingest_port, self._http_address[0], self.http_port)

    async def close(self) -> None:
        """Disconnects senders and viewers, stops every graph run and releases all threads."""
        self._closing = True
        if self._ingest is not None:
            self._ingest.close()
            for writer in list(self._senders):
                writer.close()
            await self._ingest.wait_closed()
        for channel in self._channels.values():
            channel.end_viewers()
        self.events.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
        for channel in list(self._channels.values()):
            self.release(channel)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def serve_forever(self) -> None:
        """Serves until cancelled."""
        await asyncio.Event().wait()

    async def __aenter__(self) -> StreamServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _track(self, awaitable: Awaitable[T]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(*args)`` on the server's worker threads (graph calls)."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def emit(self, stream: str, kind: str, **fields: Any) -> dict[str, Any]:
        """Broadcasts an event about a stream (managed or pushed) on ``/events``; returns it."""
        event = {"type": kind, "stream": stream, "time": time.time(), **fields}
        logger.info("stream event %s", event)
        self.events.publish(json.dumps(event, separators=(",", ":")).encode())
        return event

    # ------------------------------------------------------------------ channels

    def channel_names(self) -> list[str]:
        """The channels known now (with a sender, viewers or a managed stream)."""
        return sorted(self._channels)

    def get_channel(self, name: str) -> Channel | None:
        """The channel of that name, if there is one."""
        return self._channels.get(name)

    def channel(self, name: str) -> Channel:
        """The channel of that name, created if needed (forgotten again once idle)."""
        channel = self._channels.get(name)
        if channel is None:
            channel = Channel(name, self.release)
            self._channels[name] = channel
        return channel

    def release(self, channel: Channel) -> None:
        """Brings the channel's graph run in line with its watchers soon (a managed stream's
        owner hears of the change instead), and forgets the channel once idle."""
        self._track(self._reconcile(channel))

    async def _reconcile(self, channel: Channel) -> None:
        if channel.owner is not None:  # a managed stream runs its graph itself
            channel.owner.viewers_changed()
            return
        async with channel.lock:
            while True:
                want = channel.watchers() > 0 and not self._closing
                runner = channel.runner
                if want and runner is None:
                    emit = self._emitter(channel)
                    runner = ChannelRunner(channel, self.backend.worker(self.graph_spec, channel,
                                                                        emit),
                                           emit, on_failed=lambda _: channel.end_processing())
                    if not await runner.start():
                        channel.end_processing()
                        break
                    channel.runner = runner
                    logger.info("channel %r: graph started in process %d (%d watching)",
                                channel.name, runner.worker_pid, channel.watchers())
                elif runner is not None and (not want or runner.error is not None):
                    channel.runner = None
                    await runner.stop()
                    logger.info("channel %r: graph stopped", channel.name)
                else:
                    break
            if channel.idle() and self._channels.get(channel.name) is channel:
                del self._channels[channel.name]

    def _emitter(self, channel: Channel) -> Callable[..., None]:
        def emit(kind: str, **fields: Any) -> None:
            self.emit(channel.name, kind, **fields)
        return emit

    # ------------------------------------------------------------------ ingest

    async def _on_sender(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._track(task)
        self._senders.add(writer)
        peer = writer.get_extra_info("peername")
        where = f"sender {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "sender"
        channel: Channel | None = None
        try:
            message = await asyncio.wait_for(read_message(reader, MAX_CONTROL_BYTES),
                                             self.hello_timeout)
            if message is None:
                return
            kind, payload = message
            if kind != MSG_HELLO:
                raise ProtocolError(f"the first message must be HELLO, got {message_name(kind)}")
            hello = Hello.decode(payload)
            where = f"{where} (channel {hello.channel!r})"
            if not self._token_ok(hello.token):
                logger.warning("%s: rejected, wrong or missing token", where)
                await _send_error(writer, "wrong or missing token", retry=False)
                return
            channel = self.channel(hello.channel)
            channel.attach(hello, writer)
            writer.write(encode_json(MSG_WELCOME, {"ok": True}))
            logger.info("%s: connected, %dx%d at %g fps", where, hello.width, hello.height,
                        hello.fps)
            await self._receive_frames(reader, channel)
            logger.info("%s: disconnected", where)
        except ProtocolError as exc:
            logger.warning("%s: %s; closing the connection", where, exc)
            await _send_error(writer, str(exc), retry=True)
        except TimeoutError:
            logger.warning("%s: no HELLO within %g s; closing the connection", where,
                           self.hello_timeout)
        except ConnectionError as exc:
            logger.info("%s: connection lost (%s)", where, exc)
        finally:
            self._senders.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if channel is not None and channel.detach(writer):
                self.release(channel)

    async def _receive_frames(self, reader: asyncio.StreamReader, channel: Channel) -> None:
        previous: int | None = None
        while (message := await read_message(reader, self.max_frame_bytes + 8)) is not None:
            kind, payload = message
            if kind != MSG_FRAME:
                raise ProtocolError(f"expected FRAME, got {message_name(kind)}")
            timestamp, data = decode_frame(payload)
            if previous is not None and timestamp <= previous:
                raise ProtocolError(f"frame timestamp {timestamp} does not increase "
                                    f"(previous {previous})")
            try:
                jpeg.size(data)
            except ValueError as exc:
                raise ProtocolError(f"FRAME at {timestamp}: {exc}") from None
            previous = timestamp
            channel.ingest(Frame(timestamp, data))

    def _token_ok(self, offered: str | None) -> bool:
        return self.token is None or (
            offered is not None and hmac.compare_digest(offered.encode(), self.token.encode()))

    # ------------------------------------------------------------------ HTTP

    def _viewer_channel(self, request: web.Request) -> Channel:
        """The channel a viewer asks for, after authentication and name checks."""
        self.check_viewer(request)
        name = request.query.get("name")
        if name is None:
            raise web.HTTPBadRequest(text="missing ?name=CHANNEL\n")
        try:
            validate_channel(name)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        channel = self._channels.get(name)
        if channel is None:
            raise web.HTTPNotFound(text=f"no stream named {name!r}; see /streams\n")
        return channel

    def check_viewer(self, request: web.Request) -> None:
        """Raises 401 unless the request carries the token (or none is needed)."""
        header = request.headers.get("Authorization", "")
        offered = header[7:] if header.startswith("Bearer ") else request.query.get("token")
        if not self._token_ok(offered):
            raise web.HTTPUnauthorized(text="wrong or missing token (Authorization: Bearer T, "
                                       "or ?token=T)\n", headers={"WWW-Authenticate": "Bearer"})

    async def _index(self, request: web.Request) -> web.Response:
        self.check_viewer(request)
        return web.Response(text=_INDEX_HTML, content_type="text/html")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "streams": len(self._channels)})

    async def _streams(self, request: web.Request) -> web.Response:
        self.check_viewer(request)
        return web.json_response([self._channels[n].describe() for n in self.channel_names()])

    async def _raw_stream(self, request: web.Request) -> web.StreamResponse:
        channel = self._viewer_channel(request)
        return await self._mjpeg(request, channel.raw, channel.latest)

    async def _face_stream(self, request: web.Request) -> web.StreamResponse:
        channel = self._viewer_channel(request)
        return await self._mjpeg(request, channel.processed, None)

    async def _mjpeg(self, request: web.Request, source: Broadcaster[Frame],
                     first: Frame | None) -> web.StreamResponse:
        response = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={_BOUNDARY}",
            "Cache-Control": "no-cache, no-store", "Pragma": "no-cache"})
        with source.subscribe() as subscription:  # before any await: the channel is live
            if first is not None:
                subscription.put(first)
            await response.prepare(request)
            await _pump(request, response, subscription, _mjpeg_part, b"")
        return response

    async def _results(self, request: web.Request) -> web.StreamResponse:
        return await serve_events(request, self._viewer_channel(request).results)


async def serve_events(request: web.Request, source: Broadcaster[bytes]) -> web.StreamResponse:
    """Serves a broadcaster's JSON items to one viewer as server-sent events until either ends."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    with source.subscribe() as subscription:
        await response.prepare(request)
        await _pump(request, response, subscription, lambda e: b"data: " + e + b"\n\n",
                    b": keepalive\n\n")
    return response


_BOUNDARY = "graphflowframe"


def _mjpeg_part(frame: Frame) -> bytes:
    return (f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
            f"X-Timestamp: {frame.timestamp}\r\n\r\n").encode() + frame.jpeg + b"\r\n"


async def _pump(request: web.Request, response: web.StreamResponse,
                subscription: Subscription[T], encode: Callable[[T], bytes],
                keepalive: bytes) -> None:
    """Writes a subscription's items to a viewer until either side ends.

    While idle it checks every ``IDLE_CHECK_S`` whether the client is gone (and writes
    ``keepalive``, if any), so that a departed viewer is noticed without traffic.
    """
    while True:
        try:
            item = await subscription.get(IDLE_CHECK_S)
        except TimeoutError:
            if request.transport is None or request.transport.is_closing():
                return
            data = keepalive
        else:
            if item is None:
                return
            data = encode(item)
        if data:
            try:
                await response.write(data)
            except ConnectionError:
                return


async def _send_error(writer: asyncio.StreamWriter, text: str, retry: bool) -> None:
    """Tells a sender why it is being disconnected (best effort)."""
    if writer.is_closing():
        return
    writer.write(encode_json(MSG_ERROR, {"error": text, "retry": retry}))
    with contextlib.suppress(ConnectionError, TimeoutError):
        await asyncio.wait_for(writer.drain(), 1.0)


_INDEX_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>graphflow streams</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1em; background: #fafafa; }
.stream { display: inline-block; vertical-align: top; margin: 0 1em 1em 0; padding: .5em;
          background: #fff; border: 1px solid #ddd; border-radius: 4px; }
.stream img { display: block; width: 480px; background: #222; }
.stream pre { width: 480px; height: 8em; overflow: auto; font-size: 11px; }
</style></head>
<body><h1>graphflow streams</h1><p id="empty">No streams yet.</p><div id="streams"></div>
<script>
const token = new URLSearchParams(location.search).get("token");
const auth = (sep) => token ? sep + "token=" + encodeURIComponent(token) : "";
const url = (path, name) => path + "?name=" + encodeURIComponent(name) + auth("&");
const shown = new Map();
function add(s) {
  const box = document.createElement("div"); box.className = "stream";
  const title = document.createElement("h3"); title.textContent = s.name;
  const info = document.createElement("div");
  const img = document.createElement("img"); img.src = url("stream", s.name);
  const toggle = document.createElement("button"); toggle.textContent = "processed";
  const results = document.createElement("pre");
  let source = null;
  toggle.onclick = () => {
    const processed = toggle.textContent === "processed";
    img.src = url(processed ? "face_stream" : "stream", s.name);
    toggle.textContent = processed ? "raw" : "processed";
    if (processed) {
      source = new EventSource(url("results", s.name));
      source.onmessage = (e) => { results.textContent = e.data; };
    } else if (source) { source.close(); source = null; results.textContent = ""; }
  };
  box.append(title, img, toggle, info, results);
  document.getElementById("streams").append(box);
  shown.set(s.name, {box, info});
}
async function refresh() {
  const streams = await (await fetch("streams" + auth("?"))).json();
  document.getElementById("empty").hidden = streams.length > 0;
  const names = new Set(streams.map((s) => s.name));
  for (const [name, entry] of shown) {
    if (!names.has(name)) { entry.box.remove(); shown.delete(name); }
  }
  for (const s of streams) {
    if (!shown.has(s.name)) add(s);
    const v = s.viewers;
    shown.get(s.name).info.textContent = `${s.width}x${s.height}, ${s.fps} fps in, ` +
      `${s.processed_fps} fps processed, viewers ${v.raw} raw / ${v.processed} processed / ` +
      `${v.results} results${s.connected ? "" : " (sender away)"}`;
  }
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
"""
