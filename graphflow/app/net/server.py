"""``graphflow serve``: ingest JPEG streams over TCP, run a graph per watched channel, serve HTTP.

Senders push frames under a channel name (see :mod:`graphflow.app.net.protocol`). For each channel
the server keeps the latest frame and serves it raw; the channel's graph (one run per channel)
runs only while somebody watches its processed video or its results, once per frame however many
watch, and stops when the last of them leaves. HTTP endpoints (aiohttp):

- ``/``: an index page of the streams.
- ``/streams``: JSON list of channels with their frame rates and viewers.
- ``/stream?name=C``: the raw frames as MJPEG (``multipart/x-mixed-replace``).
- ``/face_stream?name=C``: the graph's video output as MJPEG.
- ``/results?name=C``: the graph's other outputs as JSON server-sent events.
- ``/healthz``: liveness.

A channel's graph runs in this process unless :attr:`StreamServer.new_run` makes its runs
elsewhere (``graphflow serve --ray``: Ray actors, :class:`graphflow.app.net.streams_api.ActorRun`).

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
import concurrent.futures
import contextlib
import hmac
import json
import logging
import os
import pathlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from aiohttp import web

from graphflow.app.net import jpeg
from graphflow.app.net.broadcast import Broadcaster, RateMeter, Subscription
from graphflow.app.net.jsonable import to_jsonable
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
from graphflow.config import GraphConfig, load_config
from graphflow.graph import CalculatorGraph
from graphflow.image_frame import ImageFrame
from graphflow.packet import Packet
from graphflow.runtime import GraphError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Address = tuple[str, int]

RESULTS_DEPTH = 64
"""Result events a slow ``/results`` viewer may have pending before the oldest are dropped."""
IDLE_CHECK_S = 1.0
"""How often an idle viewer connection is checked for a client that went away."""
STALL_S = 1.0
"""How long the feeder waits for the graph to show progress before it feeds the next frame."""


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
        self.result_streams = video_graph_streams(CalculatorGraph(self.config), input_stream,
                                                  video_stream, result_streams)
        if max_frame_bytes < 1:
            raise ValueError(f"max_frame_bytes must be positive, got {max_frame_bytes}")
        self.input_stream = input_stream
        self.video_stream = video_stream
        self.token = token
        self.max_frame_bytes = max_frame_bytes
        self.quality = quality
        self.max_in_flight = max(1, max_in_flight)
        self.hello_timeout = hello_timeout
        self._ingest_address = ingest
        self._http_address = http
        self._channels: dict[str, _Channel] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._senders: set[asyncio.StreamWriter] = set()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._ingest: asyncio.AbstractServer | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.app_setup: list[Callable[[web.Application], None]] = []
        """Called with the HTTP application before it starts (more routes: streams_api)."""
        self.new_run: Callable[[_Channel], ChannelRun] = lambda channel: _GraphRun(self, channel)
        """Makes a pushed channel's graph run (streams_api puts Ray actors here for --ray)."""
        self.ingest_port = 0
        self.http_port = 0

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
        if self._runner is not None:
            await self._runner.cleanup()
        for channel in list(self._channels.values()):
            self._reconcile_soon(channel)
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

    async def run_in_pool(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(*args)`` on the server's worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # ------------------------------------------------------------------ channels

    def channel_names(self) -> list[str]:
        """The channels known now (with a sender or viewers)."""
        return sorted(self._channels)

    def _channel(self, name: str) -> _Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = _Channel(name, self._reconcile_soon)
            self._channels[name] = channel
        return channel

    def _reconcile_soon(self, channel: _Channel) -> None:
        self._track(self._reconcile(channel))

    async def _reconcile(self, channel: _Channel) -> None:
        """Starts or stops the channel's graph run to match its watchers; forgets idle channels."""
        if channel.owner is not None:  # a managed stream runs its graph itself
            channel.owner.viewers_changed(channel)
            return
        async with channel.lock:
            while True:
                want = channel.watchers() > 0 and not self._closing
                if want and channel.run is None:
                    run = self.new_run(channel)
                    try:
                        await run.start()
                    except Exception:
                        logger.exception("channel %r: the graph did not start", channel.name)
                        channel.end_processing()
                        break
                    channel.run = run
                    logger.info("channel %r: graph started in process %d (%d watching)",
                                channel.name, run.worker_pid, channel.watchers())
                elif channel.run is not None and (not want or channel.run.failed):
                    run, channel.run = channel.run, None
                    await run.stop()
                    logger.info("channel %r: graph stopped", channel.name)
                else:
                    break
            if channel.sender is None and channel.viewers() == 0 and channel.run is None \
                    and self._channels.get(channel.name) is channel:
                del self._channels[channel.name]

    # ------------------------------------------------------------------ ingest

    async def _on_sender(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._track(task)
        self._senders.add(writer)
        peer = writer.get_extra_info("peername")
        where = f"sender {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "sender"
        channel: _Channel | None = None
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
            channel = self._channel(hello.channel)
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
                self._reconcile_soon(channel)

    async def _receive_frames(self, reader: asyncio.StreamReader, channel: _Channel) -> None:
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

    def _viewer_channel(self, request: web.Request) -> _Channel:
        """The channel a viewer asks for, after authentication and name checks."""
        self._check_viewer(request)
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

    def _check_viewer(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        offered = header[7:] if header.startswith("Bearer ") else request.query.get("token")
        if not self._token_ok(offered):
            raise web.HTTPUnauthorized(text="wrong or missing token (Authorization: Bearer T, "
                                       "or ?token=T)\n", headers={"WWW-Authenticate": "Bearer"})

    async def _index(self, request: web.Request) -> web.Response:
        self._check_viewer(request)
        return web.Response(text=_INDEX_HTML, content_type="text/html")

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "streams": len(self._channels)})

    async def _streams(self, request: web.Request) -> web.Response:
        self._check_viewer(request)
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


class ChannelRun(Protocol):
    """A pushed channel's graph run, as the server starts, feeds and stops it.

    Attributes:
        inbox: Where the channel puts its newest frames (a newer one replaces a waiting one).
        failed: Set once the graph failed; the server then stops the run.
    """

    inbox: Subscription[Frame]
    failed: bool

    @property
    def worker_pid(self) -> int | None:
        """The process the graph runs in."""

    async def start(self) -> None:
        """Starts the graph and begins taking frames from ``inbox``."""

    async def stop(self) -> None:
        """Closes ``inbox``, finishes the graph run and releases what it held."""


class _Channel:
    """One named stream: its sender, latest frame, viewers and graph run (loop thread only)."""

    def __init__(self, name: str, on_viewers: Callable[[_Channel], None]) -> None:
        def changed() -> None:
            on_viewers(self)

        self.name = name
        self.hello: Hello | None = None
        self.sender: asyncio.StreamWriter | None = None
        self.latest: Frame | None = None
        self.last_timestamp = -1
        self.frames = 0
        self.stale = 0
        self.raw: Broadcaster[Frame] = Broadcaster(1, changed)
        self.processed: Broadcaster[Frame] = Broadcaster(1, changed)
        self.results: Broadcaster[bytes] = Broadcaster(RESULTS_DEPTH, changed)
        self.ingest_rate = RateMeter()
        self.processed_rate = RateMeter()
        self.run: ChannelRun | None = None
        self.owner: Any = None
        """The managed stream running this channel (graphflow.app.net.streams_api), if any."""
        self.lock = asyncio.Lock()

    def watchers(self) -> int:
        """Viewers of the processed video or the results: the graph runs while there are any."""
        return len(self.processed) + len(self.results)

    def viewers(self) -> int:
        """Every viewer, raw ones included."""
        return len(self.raw) + self.watchers()

    def attach(self, hello: Hello, writer: asyncio.StreamWriter) -> None:
        """Makes ``writer`` the channel's sender; an earlier sender is disconnected."""
        if self.sender is not None:
            logger.info("channel %r: a new sender replaces the connected one", self.name)
            self.sender.close()
        self.hello = hello
        self.sender = writer

    def detach(self, writer: asyncio.StreamWriter) -> bool:
        """Forgets ``writer`` if it is still the sender; True if it was."""
        if self.sender is not writer:
            return False
        self.sender = None
        return True

    def ingest(self, frame: Frame) -> None:
        """Takes a frame from the sender: keeps it, shows it raw, and feeds a running graph."""
        if frame.timestamp <= self.last_timestamp:
            self.stale += 1
            return
        self.last_timestamp = frame.timestamp
        self.latest = frame
        self.frames += 1
        self.ingest_rate.tick()
        self.raw.publish(frame)
        if self.run is not None:
            self.run.inbox.put(frame)

    def end_processing(self) -> None:
        """Ends the processed and results viewers (after a graph failure)."""
        self.processed.close_all()
        self.results.close_all()

    def end_viewers(self) -> None:
        """Ends every viewer (server shutdown)."""
        self.raw.close_all()
        self.end_processing()

    def describe(self) -> dict[str, Any]:
        """The channel's ``/streams`` entry."""
        hello = self.hello
        return {
            "name": self.name,
            "connected": self.sender is not None,
            "width": hello.width if hello else None,
            "height": hello.height if hello else None,
            "sender_fps": hello.fps if hello else None,
            "fps": round(self.ingest_rate.rate(), 2),
            "processed_fps": round(self.processed_rate.rate(), 2),
            "processing": self.run is not None,
            "worker_pid": self.run.worker_pid if self.run is not None else None,
            "managed": self.owner.describe() if self.owner is not None else None,
            "frames": self.frames,
            "stale_frames": self.stale,  # dropped: timestamp not after the previous frame's
            "viewers": {"raw": len(self.raw), "processed": len(self.processed),
                        "results": len(self.results)},
        }


class _GraphRun:
    """One run of the graph for one channel, fed with its newest frames.

    Frames go in through ``inbox`` (it holds one: a newer frame replaces a waiting one); at most
    ``max_in_flight`` frames are inside the graph at once, counted from the timestamps seen on
    its observed outputs. Observers run on graph threads: they encode the video output once per
    frame and hand results to the loop.
    """

    def __init__(self, server: StreamServer, channel: _Channel) -> None:
        self._server = server
        self._channel = channel
        self._loop = asyncio.get_running_loop()
        self.graph = CalculatorGraph(server.config)
        self.graph.observe_output_stream(server.video_stream, self._on_video)
        for name in server.result_streams:
            self.graph.observe_output_stream(name, self._on_result)
        self.inbox: Subscription[Frame] = Subscription(1)
        self._pending: collections.deque[int] = collections.deque()
        self._done = -1
        self._progress = asyncio.Event()
        self._feeder: asyncio.Task[None] | None = None
        self.failed = False
        self.worker_pid: int | None = os.getpid()

    async def start(self) -> None:
        """Starts the run and its feeder."""
        await self._server.run_in_pool(self.graph.start_run)
        self._feeder = asyncio.create_task(self._feed(), name=f"feed {self._channel.name}")

    async def stop(self) -> None:
        """Stops feeding, closes the graph's inputs and waits for the run to finish."""
        self.inbox.close()
        if self._feeder is not None:
            await self._feeder
        try:
            await self._server.run_in_pool(self.graph.close)
        except GraphError as exc:
            logger.debug("channel %r: run ended with %s", self._channel.name, exc)

    async def _feed(self) -> None:
        while (frame := await self.inbox.get()) is not None:
            while len(self._pending) >= self._server.max_in_flight:
                self._progress.clear()
                try:
                    await asyncio.wait_for(self._progress.wait(), STALL_S)
                except TimeoutError:
                    self._pending.clear()  # the graph produced nothing for them: dropped
            try:
                added = await self._server.run_in_pool(self._add, frame)
            except GraphError as exc:
                logger.error("channel %r: the graph failed: %s", self._channel.name, exc)
                self.failed = True
                self._channel.end_processing()
                return
            except ValueError as exc:
                logger.warning("channel %r: frame at %d skipped: %s", self._channel.name,
                               frame.timestamp, exc)
                continue
            if added and frame.timestamp > self._done:
                self._pending.append(frame.timestamp)

    def _add(self, frame: Frame) -> bool:
        image = ImageFrame(jpeg.decode(frame.jpeg))
        return self.graph.try_add_packet_to_input_stream(
            self._server.input_stream, Packet(image).at(frame.timestamp))

    def _on_video(self, stream: str, packet: Packet[Any]) -> None:
        timestamp = int(packet.timestamp)
        frame = None
        if len(self._channel.processed):
            frame = Frame(timestamp, jpeg.encode_rgb(packet.payload, self._server.quality))
        self._loop.call_soon_threadsafe(self._on_output, timestamp, frame)

    def _on_result(self, stream: str, packet: Packet[Any]) -> None:
        timestamp = int(packet.timestamp)
        event = None
        if len(self._channel.results):
            try:
                value = to_jsonable(packet.payload)
            except ValueError as exc:
                logger.warning("channel %r: %s at %d not sent: %s", self._channel.name, stream,
                               timestamp, exc)
                value = None
            event = result_event(self._channel.name, stream, timestamp, value)
        self._loop.call_soon_threadsafe(self._on_output, timestamp, None, event)

    def _on_output(self, timestamp: int, frame: Frame | None, event: bytes | None = None) -> None:
        """Loop side of the observers: publish, and count the graph's progress."""
        if frame is not None:
            self._channel.processed_rate.tick()
            self._channel.processed.publish(frame)
        if event is not None:
            self._channel.results.publish(event)
        if timestamp > self._done:
            self._done = timestamp
            while self._pending and self._pending[0] <= timestamp:
                self._pending.popleft()
            self._progress.set()


def video_graph_streams(graph: CalculatorGraph, input_stream: str, video_stream: str,
                        result_streams: Sequence[str] | None = None) -> list[str]:
    """Checks the streams a graph is served by: frames in, video and results out.

    Args:
        graph: The graph.
        input_stream: Must be one of the graph's input streams.
        video_stream: Must be one of the graph's output streams.
        result_streams: Must be streams of the graph (default: every graph output stream but
            ``video_stream``).

    Returns:
        The result streams.

    Raises:
        ValueError: Naming the graph and the stream it lacks.
    """
    source = graph.config.source
    inputs = [s.name for s in graph.validated.input_streams]
    outputs = [s.name for s in graph.validated.output_streams]
    if input_stream not in inputs:
        raise ValueError(f"graph {source}: {input_stream!r} is not one of its input streams "
                         f"{inputs}")
    if video_stream not in outputs:
        raise ValueError(f"graph {source}: {video_stream!r} is not one of its output streams "
                         f"{outputs}")
    if result_streams is None:
        return [s for s in outputs if s != video_stream]
    for name in result_streams:
        if name not in graph.stream_names:
            raise ValueError(f"graph {source}: no stream {name!r} for results")
    return list(result_streams)


def result_event(channel: str, stream: str, timestamp: int, value: Any) -> bytes:
    """The ``/results`` event of one result packet (its payload made JSON-ready)."""
    return json.dumps({"channel": channel, "stream": stream, "timestamp": timestamp,
                       "value": value}, separators=(",", ":")).encode()


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
