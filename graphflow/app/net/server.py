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
:meth:`~StreamServer.check_viewer`, :meth:`~StreamServer.check_admin`,
:meth:`~StreamServer.admit_viewer`, :meth:`~StreamServer.emit`,
:meth:`~StreamServer.run_blocking` and :attr:`~StreamServer.sources`.

Every resource a client can make the server spend is capped (:class:`~graphflow.app.net.limits.
Limits`), and what clients may ask for is decided by :class:`~graphflow.app.net.policy.Access`
(tokens, Host and Origin, graphs, sources); docs/security.md describes both.

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
import collections
import contextlib
import dataclasses
import functools
import json
import logging
import pathlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from aiohttp import web

from graphflow.app.io.urls import redact_urls
from graphflow.app.net import jpeg
from graphflow.app.net.broadcast import Broadcaster, Subscription
from graphflow.app.net.channel import Channel
from graphflow.app.net.limits import ByteBudget, DaemonPool, Limits, LogThrottle
from graphflow.app.net.policy import Access
from graphflow.app.net.protocol import (
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
GRAPH_THREADS = 4
"""Threads for the graphs' blocking calls (starting runs, decoding and adding frames)."""
HTTP_SHUTDOWN_S = 1.0
"""How long closing waits for HTTP handlers to finish before cancelling them."""


class LimitError(Exception):
    """A cap of :class:`~graphflow.app.net.limits.Limits` was reached (the message names it)."""


class StreamServer:
    """Ingests channels from ``graphflow send`` and serves them raw and processed over HTTP.

    Args:
        graph: The graph to run per watched channel: a file path, pbtxt text or a loaded config.
        ingest: TCP address for senders (port 0 picks a free one).
        http: HTTP address for viewers (port 0 picks a free one).
        access: Tokens, allowed hosts, graphs and sources (default: no token, loopback use).
        limits: Caps and timeouts.
        input_stream: The graph input stream that receives RGB ``ImageFrame`` packets.
        video_stream: The graph output stream served as ``/face_stream``.
        result_streams: Output streams served on ``/results`` (default: every graph output
            stream but ``video_stream``).
        quality: JPEG quality of the processed video.
        max_in_flight: Frames inside one graph run at once; newer frames replace waiting ones.

    Attributes:
        backend: Where channel graphs run (in this process by default).
        app_setup: Called with the HTTP application before it starts (more routes).
        events: Stream events (``started``, ``failed``...), as JSON, for ``/events``.
        sources: The threads that open and read the pulled sources of managed streams.
        budget: The frame bytes held from senders (``limits.max_buffered_bytes``).

    Raises:
        ConfigError: If the graph does not load.
        ValueError: If the graph lacks the named streams.
    """

    def __init__(self, graph: str | pathlib.Path | GraphConfig, *,
                 ingest: Address = ("127.0.0.1", 0), http: Address = ("127.0.0.1", 0),
                 access: Access | None = None, limits: Limits | None = None,
                 input_stream: str = "input_video", video_stream: str = "output_video",
                 result_streams: Sequence[str] | None = None, quality: int = 80,
                 max_in_flight: int = 2) -> None:
        self.config = graph if isinstance(graph, GraphConfig) else load_config(graph)
        self.access = access or Access()
        self.limits = limits or Limits()
        spec = GraphSpec(self.config, {}, input_stream, video_stream,
                         tuple(result_streams) if result_streams is not None else None, quality,
                         self.limits.max_pixels)
        _, results = spec.load()
        self.graph_spec = dataclasses.replace(spec, result_streams=tuple(results))
        """What a pushed channel's runner runs."""
        self.quality = quality
        self.budget = ByteBudget(self.limits.max_buffered_bytes)
        self._ingest_address = ingest
        self._http_address = http
        self._channels: dict[str, Channel] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._senders: set[asyncio.StreamWriter] = set()
        self._peers: collections.Counter[str] = collections.Counter()
        self._warnings = LogThrottle(logger)  # what senders do wrong: they must not flood it
        self._graph_pool = DaemonPool(GRAPH_THREADS, "graphflow-serve")
        self.sources = DaemonPool(self.limits.source_threads, "graphflow-source")
        self._ingest: asyncio.Server | None = None
        self._http: asyncio.Server | None = None
        self._runner: web.AppRunner | None = None
        self._awaiting_headers: set[Any] = set()
        self._closing = False
        self.backend: Backend = LocalBackend(self.run_blocking, max_in_flight,
                                             self.limits.stop_timeout)
        self.app_setup: list[Callable[[web.Application], None]] = []
        self.events: Broadcaster[bytes] = Broadcaster(EVENTS_DEPTH)
        self.ingest_port = 0
        self.http_port = 0

    @property
    def result_streams(self) -> list[str]:
        """The graph outputs served on ``/results``."""
        return list(self.graph_spec.result_streams or ())

    @property
    def closing(self) -> bool:
        """True once :meth:`close` has begun (nothing is started or restarted any more)."""
        return self._closing

    @property
    def abandoned(self) -> list[str]:
        """Channels whose graph run hung when stopped and was abandoned (with its threads)."""
        return list(self.backend.abandoned)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Binds both sockets and starts serving."""
        self._ingest = await asyncio.start_server(self._on_sender, *self._ingest_address)
        self.ingest_port = self._ingest.sockets[0].getsockname()[1]
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self._index)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/streams", self._streams)
        app.router.add_get("/stream", self._raw_stream)
        app.router.add_get("/face_stream", self._face_stream)
        app.router.add_get("/results", self._results)
        for setup in self.app_setup:
            setup(app)
        # keepalive_timeout: an idle connection between requests gets as long as one that
        # has not sent its first request's headers (_http_connection) has.
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                     shutdown_timeout=HTTP_SHUTDOWN_S,
                                     keepalive_timeout=self.limits.header_timeout)
        await self._runner.setup()
        self._http = await asyncio.get_running_loop().create_server(
            self._http_connection, *self._http_address)
        self.http_port = self._http.sockets[0].getsockname()[1]
        logger.info("serving: ingest on %s:%d, http on http://%s:%d/", self._ingest_address[0],
                    self.ingest_port, self._http_address[0], self.http_port)

    async def close(self) -> None:
        """Disconnects senders and viewers, stops every graph run and releases all threads.

        Graph runs that hang are abandoned after ``limits.stop_timeout`` (see
        :attr:`abandoned`); nothing waits for a thread stuck in a pulled source.
        """
        self._closing = True
        for server in (self._ingest, self._http):
            if server is not None:
                server.close()
        for writer in list(self._senders):
            writer.close()
        for channel in self._channels.values():
            channel.end_viewers()
        self.events.close_all()
        for channel in list(self._channels.values()):
            self.release(channel)
        if self._runner is not None:  # its on_shutdown stops the managed streams
            await self._runner.cleanup()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._graph_pool.shutdown()
        self.sources.shutdown()

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
        """Runs ``fn(*args)`` on the server's graph threads (graph calls, frame decoding)."""
        return await self._graph_pool.run(fn, *args)

    def emit(self, stream: str, kind: str, **fields: Any) -> dict[str, Any]:
        """Broadcasts an event about a stream (managed or pushed) on ``/events``; returns it.

        Text fields are redacted (:func:`~graphflow.app.io.urls.redact_urls`): an event may
        name a source URL or quote an error about one.
        """
        event = {"type": kind, "stream": stream, "time": time.time(),
                 **{k: redact_urls(v) if isinstance(v, str) else v for k, v in fields.items()}}
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
        """The channel of that name, created if needed (forgotten again once idle).

        Raises:
            LimitError: If it would be one channel more than ``limits.max_channels``.
        """
        channel = self._channels.get(name)
        if channel is None:
            if len(self._channels) >= self.limits.max_channels:
                raise LimitError(f"the server has {len(self._channels)} channels, its limit "
                                 "(--max-channels)")
            channel = Channel(name, self.release, self.budget)
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
                    runner = ChannelRunner(
                        channel, functools.partial(self.backend.worker, self.graph_spec, channel,
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
                channel.forget()

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
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else "?"
        where = f"sender {address}:{peer[1]}" if isinstance(peer, tuple) else "sender"
        if len(self._senders) >= self.limits.max_connections or \
                self._peers[address] >= self.limits.max_connections_per_address:
            self._warnings.warning("%s: refused, too many connections (%d, %d from its "
                                   "address)", where, len(self._senders), self._peers[address])
            writer.write(encode_json(MSG_ERROR, {
                "error": "too many connections (--max-connections, "
                         "--max-connections-per-address); try again later", "retry": True}))
            writer.close()
            return
        self._senders.add(writer)
        self._peers[address] += 1
        channel: Channel | None = None
        try:
            message = await asyncio.wait_for(read_message(reader, MAX_CONTROL_BYTES),
                                             self.limits.hello_timeout)
            if message is None:
                return
            kind, payload = message
            if kind != MSG_HELLO:
                raise ProtocolError(f"the first message must be HELLO, got {message_name(kind)}")
            hello = Hello.decode(payload)
            where = f"{where} (channel {hello.channel!r})"
            refusal = self._refuse_sender(hello)
            if refusal is not None:
                text, retry = refusal
                self._warnings.warning("%s: refused, %s", where, text)
                await _send_error(writer, text, retry=retry)
                return
            channel = self.channel(hello.channel)
            channel.attach(hello, writer)
            writer.write(encode_json(MSG_WELCOME, {"ok": True}))
            logger.info("%s: connected, %dx%d at %g fps", where, hello.width, hello.height,
                        hello.fps)
            await self._receive_frames(reader, channel, hello)
            logger.info("%s: disconnected", where)
        except ProtocolError as exc:
            self._warnings.warning("%s: %s; closing the connection", where, exc)
            await _send_error(writer, str(exc), retry=True)
        except LimitError as exc:
            self._warnings.warning("%s: refused, %s", where, exc)
            await _send_error(writer, str(exc), retry=True)
        except TimeoutError:
            if channel is None:
                what = f"no HELLO within {self.limits.hello_timeout:g} s"
            else:
                what = f"no frame within {self.limits.frame_timeout:g} s"
            self._warnings.warning("%s: %s; closing the connection", where, what)
            await _send_error(writer, what, retry=True)
        except ConnectionError as exc:
            logger.info("%s: connection lost (%s)", where, exc)
        except Exception as exc:  # a bug: it must not outlive this connection or go unseen
            logger.exception("%s: internal error; closing the connection", where)
            await _send_error(writer, f"internal error ({type(exc).__name__})", retry=True)
        finally:
            self._senders.discard(writer)
            self._peers[address] -= 1
            if self._peers[address] <= 0:
                del self._peers[address]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if channel is not None and channel.detach(writer):
                self.release(channel)

    def _refuse_sender(self, hello: Hello) -> tuple[str, bool] | None:
        """Why a sender with this HELLO may not connect, and whether it may retry; or None."""
        if not self.access.viewer_ok(hello.token):
            return "wrong or missing token", False
        try:
            jpeg.check_pixels(hello.width, hello.height, self.limits.max_pixels, "HELLO's size")
        except ValueError as exc:
            return str(exc), False
        channel = self._channels.get(hello.channel)
        if channel is not None and channel.owner is not None and channel.owner.pulled:
            return (f"channel {hello.channel!r} is a managed stream that pulls its own source; "
                    "it takes no pushes"), False
        return None

    async def _receive_frames(self, reader: asyncio.StreamReader, channel: Channel,
                              hello: Hello) -> None:
        """Takes the sender's frames until it disconnects.

        Each message must arrive within ``limits.frame_timeout``, and its bytes must fit in
        the server's frame budget before they are read. Timestamps are judged per connection
        (strictly increasing, near the server's clock); the JPEG header's size against the
        pixel cap and the HELLO's size.
        """
        limits = self.limits
        reserved = 0

        def reserve(count: int) -> None:
            nonlocal reserved
            if not self.budget.reserve(count):
                raise ProtocolError(f"server busy: it holds {self.budget.used} of "
                                    f"{self.budget.limit} frame bytes (--max-buffered-bytes); "
                                    "try again later")
            reserved = count

        previous: int | None = None
        try:
            while (message := await asyncio.wait_for(
                    read_message(reader, limits.max_frame_bytes + 8, reserve),
                    limits.frame_timeout)) is not None:
                kind, payload = message
                if kind != MSG_FRAME:
                    raise ProtocolError(f"expected FRAME, got {message_name(kind)}")
                timestamp, data = decode_frame(payload)
                if previous is not None and timestamp <= previous:
                    raise ProtocolError(f"frame timestamp {timestamp} does not increase "
                                        f"(previous {previous})")
                skew = abs(timestamp - time.time_ns() // 1000) / 1e6
                if limits.max_clock_skew and skew > limits.max_clock_skew:
                    raise ProtocolError(f"FRAME at {timestamp}: {skew:.0f} s away from the "
                                        f"server's clock (at most {limits.max_clock_skew:g} s, "
                                        "--max-clock-skew)")
                try:
                    width, height = jpeg.size(data)
                    jpeg.check_pixels(width, height, limits.max_pixels, "the JPEG")
                except ValueError as exc:
                    raise ProtocolError(f"FRAME at {timestamp}: {exc}") from None
                if width > hello.width or height > hello.height:
                    raise ProtocolError(f"FRAME at {timestamp}: the JPEG is {width}x{height}, "
                                        f"larger than the HELLO's {hello.width}x{hello.height}")
                previous = timestamp
                channel.ingest(Frame(timestamp, data), reserved)
                reserved = 0
        finally:
            self.budget.release(reserved)

    # ------------------------------------------------------------------ HTTP

    def _http_connection(self) -> asyncio.BaseProtocol:
        """The protocol of a new HTTP connection: aiohttp's, unless there are too many.

        A connection that has not sent its first request's headers within
        ``limits.header_timeout`` is closed (later requests on it get the same time through
        aiohttp's keep-alive timeout).
        """
        assert self._runner is not None and self._runner.server is not None
        server = self._runner.server
        if len(server.connections) >= self.limits.max_http_connections:
            return _Refused(b"too many connections (--max-http-connections)\n")
        handler = server()
        self._awaiting_headers.add(handler)
        asyncio.get_running_loop().call_later(self.limits.header_timeout,
                                              self._headers_due, handler)
        return handler

    def _headers_due(self, handler: Any) -> None:
        if handler in self._awaiting_headers:
            self._awaiting_headers.discard(handler)
            handler.force_close()

    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        """Every request: headers arrived in time; ``Host`` and ``Origin`` are ones served."""
        self._awaiting_headers.discard(request.protocol)
        host = request.headers.get("Host")
        if not self.access.host_ok(host):
            raise web.HTTPForbidden(text=f"Host {host!r} is not served here (an IP address, "
                                    "localhost or a name given with --allowed-hosts)\n")
        origin = request.headers.get("Origin")
        if not self.access.origin_ok(origin, host):
            raise web.HTTPForbidden(text=f"cross-site request from Origin {origin!r} refused "
                                    "(allow a site's host with --allowed-hosts)\n")
        return await handler(request)

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
        if not self.access.viewer_ok(_offered_token(request)):
            raise _unauthorized()

    def check_admin(self, request: web.Request) -> None:
        """Raises 401 unless the request may administer streams (the admin token, or the
        token when there is no admin token)."""
        if not self.access.admin_ok(_offered_token(request)):
            raise _unauthorized()

    def admit_viewer(self, channel: Channel | None) -> None:
        """Raises 429 if one more viewer (of ``channel``, or of ``/events``) would go over the
        viewer limits."""
        total = sum(c.viewers() for c in self._channels.values()) + len(self.events)
        if total >= self.limits.max_viewers:
            raise web.HTTPTooManyRequests(text=f"the server has {total} viewers, its limit "
                                          "(--max-viewers)\n")
        if channel is not None and channel.viewers() >= self.limits.max_viewers_per_stream:
            raise web.HTTPTooManyRequests(
                text=f"stream {channel.name!r} has {channel.viewers()} viewers, the limit "
                     "(--max-viewers-per-stream)\n")

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
        return await self._mjpeg(request, channel, channel.raw, channel.latest)

    async def _face_stream(self, request: web.Request) -> web.StreamResponse:
        channel = self._viewer_channel(request)
        return await self._mjpeg(request, channel, channel.processed, None)

    async def _mjpeg(self, request: web.Request, channel: Channel, source: Broadcaster[Frame],
                     first: Frame | None) -> web.StreamResponse:
        self.admit_viewer(channel)
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
        channel = self._viewer_channel(request)
        self.admit_viewer(channel)
        return await serve_events(request, channel.results)


def _offered_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:] if header.startswith("Bearer ") else request.query.get("token")


def _unauthorized() -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(text="wrong or missing token (Authorization: Bearer T, or "
                                "?token=T)\n", headers={"WWW-Authenticate": "Bearer"})


class _Refused(asyncio.Protocol):
    """An HTTP connection over the limit: answered 503 and closed at once."""

    def __init__(self, text: bytes) -> None:
        self._response = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                          b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(text)) + text

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self._response)
        transport.close()


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
