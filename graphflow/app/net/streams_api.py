"""Managed streams on ``graphflow serve``: a REST API, restart policies, events, Ray actors.

A managed stream has its own graph, side packets and frame source, and runs its graph on every
frame whether or not anybody watches (the raw, processed and results endpoints of
:class:`~graphflow.app.net.server.StreamServer` serve it as any channel). Its source is ``"push"``
(``graphflow send`` pushes frames under the stream's name) or something the server pulls, any
``graphflow run --input`` spec: a ``rtsp://`` / ``http://`` URL, a video file, ``camera[:N]``...
A pulled source that cannot be opened is retried with exponential backoff. Restart policies say
what happens when the graph fails (``on_error``), when a pulled source ends (``on_eos``, a file
played to its end), both (``always``) or neither (``never``).

With a Ray address, each stream's graph runs in a Ray actor (a :class:`FrameProcessor`) that
Ray restarts, on another node if its own is gone, up to ``max_restarts`` times; frames in
flight while it restarts are lost, then the stream carries on. So do the graphs of channels
that ``graphflow send`` pushes without a managed stream (an :class:`ActorRun` each): the server
starts such an actor when the first viewer of the processed video or results arrives, sends it
each newest frame once however many watch, and kills it when the last of them leaves.

HTTP (added to the server's application):

- ``POST /streams``: create a stream from ``{name, graph, source, side_packets, restart}``.
- ``GET /streams``: the server's channel list; managed ones carry a ``managed`` object.
- ``GET /streams/{name}``, ``DELETE /streams/{name}``: one managed stream.
- ``GET /events``: server-sent events (``added``, ``started``, ``failed``, ``finished``,
  ``restarting``, ``source_retry``, ``actor_lost``, ``actor_restarted``, ``viewer_joined``,
  ``viewer_left``, ``removed``), one JSON object each.
- ``GET /openapi.json``: the OpenAPI 3 description of these endpoints.

Example:
    server = StreamServer("graphs/face_detection.pbtxt")
    manager = StreamManager(server)          # before server.start()
    async with server:
        await manager.add(StreamSpec("cam1", "face_detection", "rtsp://cam1/live",
                                     restart="always"))
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web

from graphflow.app.batch import SIDE_PACKET_HELP, parse_side_packets
from graphflow.app.net import console, jpeg
from graphflow.app.net.broadcast import Broadcaster, Subscription
from graphflow.app.net.jsonable import to_jsonable
from graphflow.app.net.protocol import CHANNEL_PATTERN, TOKEN_ENV, Frame, validate_channel
from graphflow.app.net.sender import capture_frames
from graphflow.app.net.server import StreamServer, result_event, serve_events, video_graph_streams
from graphflow.config import ConfigError, load_config
from graphflow.graph import CalculatorGraph
from graphflow.image_frame import ImageFrame
from graphflow.packet import Packet

logger = logging.getLogger(__name__)

RESTART_POLICIES = ("never", "always", "on_error", "on_eos")
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
EVENTS_DEPTH = 256
"""Events a slow ``/events`` viewer may have pending before the oldest are dropped."""
HISTORY = 50
"""Recent events kept per stream for ``GET /streams/{name}``."""
ACTOR_WAIT_S = 60.0
"""How long a stream waits for Ray to restart its actor before it counts as failed."""
ACTOR_POLL_S = 0.2
"""How often a restarting actor is asked whether it is back."""
MAX_RESTARTS = 5
"""Restarts Ray grants a stream's actor (``max_restarts``)."""


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """What ``POST /streams`` creates.

    Attributes:
        name: The channel name (1-64 of ``A-Z a-z 0-9 _ . -``).
        graph: A graph file or the name of a bundled graph.
        source: ``"push"`` or a ``graphflow run --input`` spec (a URL, a video file,
            ``camera[:N]``...).
        side_packets: Input side packets of the graph.
        restart: ``never``, ``always``, ``on_error`` or ``on_eos``.
        input_stream: The graph input that receives RGB ``ImageFrame`` packets.
        video_stream: The graph output served as processed video.
    """

    name: str
    graph: str
    source: str = "push"
    side_packets: dict[str, Any] = dataclasses.field(default_factory=dict)
    restart: str = "never"
    input_stream: str = "input_video"
    video_stream: str = "output_video"

    @classmethod
    def from_json(cls, body: Any) -> StreamSpec:
        """Validates a request body.

        Raises:
            ValueError: Naming the field that is wrong and why.
        """
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(body) - set(fields))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; known: {sorted(fields)}")
        for required in ("name", "graph"):
            if required not in body:
                raise ValueError(f"missing field {required!r}")
        for key, value in body.items():
            want = dict if key == "side_packets" else str
            if not isinstance(value, want):
                raise ValueError(f"field {key!r} must be a {'object' if want is dict else 'string'}"
                                 f", got {type(value).__name__}")
        validate_channel(body["name"])
        if body.get("restart", "never") not in RESTART_POLICIES:
            raise ValueError(f"field 'restart' must be one of {list(RESTART_POLICIES)}, got "
                             f"{body['restart']!r}")
        return cls(**body)


class FrameProcessor:
    """A graph run fed one frame at a time: runs in-process or as a Ray actor.

    ``process`` adds the frame, waits until the graph is idle and returns what came out: the
    video output as JPEG and the result streams as JSON-ready values (each if asked for).

    Args:
        graph: A graph file, pbtxt text or a binary ``CalculatorGraphConfig``.
        side_packets: Input side packets of the run.
        input_stream: The graph input that receives RGB ``ImageFrame`` packets.
        video_stream: The graph output returned as JPEG.
        quality: JPEG quality of the video output.
        result_streams: Streams returned as values (default: every graph output stream but
            ``video_stream``).

    Raises:
        ConfigError: If the graph does not load.
        ValueError: If it lacks the streams.
    """

    def __init__(self, graph: str | bytes, side_packets: dict[str, Any], input_stream: str,
                 video_stream: str, quality: int = 80,
                 result_streams: Sequence[str] | None = None) -> None:
        self.graph = CalculatorGraph(load_config(graph))
        results = video_graph_streams(self.graph, input_stream, video_stream, result_streams)
        self.input_stream = input_stream
        self.video_stream = video_stream
        self.quality = quality
        self._outputs: list[tuple[str, Packet[Any]]] = []
        for name in [video_stream, *results]:
            self.graph.observe_output_stream(name, self._collect)
        self.graph.start_run(side_packets)

    def _collect(self, stream: str, packet: Packet[Any]) -> None:
        self._outputs.append((stream, packet))

    def process(self, timestamp: int, data: bytes, encode: bool = True, results: bool = True
                ) -> tuple[bytes | None, list[tuple[str, int, Any]], int]:
        """Runs one JPEG frame through the graph.

        Returns:
            The video output of this frame as JPEG (None if ``encode`` is false or the graph
            dropped the frame), ``(stream, timestamp, value)`` for every result packet (none if
            ``results`` is false), and the process it ran in (a Ray actor restarted while idle
            answers from a new one).

        Raises:
            GraphError: If the graph failed.
        """
        self.graph.add_packet_to_input_stream(
            self.input_stream, Packet(ImageFrame(jpeg.decode(data))).at(timestamp))
        self.graph.wait_until_idle()
        outputs, self._outputs = self._outputs, []
        video = None
        values = []
        for stream, packet in outputs:
            if stream == self.video_stream:
                if encode:
                    video = jpeg.encode_rgb(packet.payload, self.quality)
            elif results:
                values.append((stream, int(packet.timestamp), to_jsonable(packet.payload)))
        return video, values, os.getpid()

    def pid(self) -> int:
        """The process this runs in (to tell a restarted actor from the first)."""
        return os.getpid()

    def close(self) -> None:
        """Ends the graph run (raises its error, if any)."""
        self.graph.close()

    def cancel(self) -> None:
        """Abandons the graph run and releases its threads (a GL context's too)."""
        self.graph.cancel()
        self.graph.wait_until_done()


class _StreamFailedError(Exception):
    """The stream's graph failed (wraps the error for the restart policy)."""


class _GraphLink:
    """A channel's frames through a :class:`FrameProcessor` (a thread or a Ray actor) and its
    outputs onto the channel's processed video and results.

    If the Ray actor dies, the frame in flight is lost and the link waits for Ray to restart
    the actor (events ``actor_lost`` and ``actor_restarted``).

    Args:
        manager: Where processors come from.
        channel: The server channel whose outputs this feeds.
        args: :class:`FrameProcessor` arguments but ``quality``.
        emit: Reports an event: ``emit(kind, **fields)``.
    """

    def __init__(self, manager: StreamManager, channel: Any, args: dict[str, Any],
                 emit: Callable[..., None]) -> None:
        self.manager = manager
        self.channel = channel
        self.args = args
        self.emit = emit
        self.processor: Any = None
        self.worker_pid: int | None = None
        self.frames = 0
        self.frames_lost = 0

    async def open(self) -> None:
        """Starts a processor (raises what its graph raised on loading or starting)."""
        self.processor = await self.manager.new_processor(**self.args)
        try:
            self.worker_pid = await self.call("pid")
        except Exception:
            await self.close(quiet=True)
            raise

    async def call(self, method: str, *args: Any) -> Any:
        """Calls a method of the processor."""
        return await self.manager.call(self.processor, method, *args)

    async def process(self, frame: Frame) -> None:
        """Runs one frame and publishes its outputs.

        Raises:
            _StreamFailedError: If the graph failed, or a lost actor did not come back.
        """
        channel = self.channel
        try:
            video, results, pid = await self.call("process", frame.timestamp, frame.jpeg,
                                                  len(channel.processed) > 0,
                                                  len(channel.results) > 0)
        except Exception as exc:
            if not self.manager.actor_lost(exc):
                raise _StreamFailedError from exc
            self.frames_lost += 1
            self.emit("actor_lost", error=f"{type(exc).__name__}: {exc}")
            await self._actor_back()
            return
        self.frames += 1
        if pid != self.worker_pid:  # Ray restarted the actor between two frames
            self.worker_pid = pid
            self.emit("actor_restarted", worker_pid=pid)
        if video is not None:
            channel.processed_rate.tick()
            channel.processed.publish(Frame(frame.timestamp, video))
        for stream, timestamp, value in results:
            channel.results.publish(result_event(channel.name, stream, timestamp, value))

    async def _actor_back(self) -> None:
        """Waits until Ray has restarted the actor (frames meanwhile are dropped).

        Raises:
            _StreamFailedError: If it does not answer within ``ACTOR_WAIT_S``.
        """
        deadline = time.monotonic() + ACTOR_WAIT_S
        while True:
            try:
                self.worker_pid = await self.call("pid")
            except Exception as exc:
                if not self.manager.actor_lost(exc) or time.monotonic() > deadline:
                    raise _StreamFailedError from exc
                await asyncio.sleep(ACTOR_POLL_S)
            else:
                self.emit("actor_restarted", worker_pid=self.worker_pid)
                return

    async def close(self, quiet: bool = False) -> None:
        """Ends the graph run and releases the processor.

        Raises:
            _StreamFailedError: If the run ended with an error (unless ``quiet``).
        """
        processor, self.processor = self.processor, None
        if processor is None:
            return
        try:
            await self.manager.call(processor, "close")
        except Exception as exc:
            if not quiet:
                raise _StreamFailedError from exc
        finally:
            self.manager.release(processor)


class ActorRun:
    """A pushed channel's graph run in a Ray actor: what ``graphflow serve --ray`` starts for a
    channel that somebody watches (see :class:`~graphflow.app.net.server.ChannelRun`).

    Frames go in through ``inbox`` (one waits; a newer frame replaces it) and through the actor
    one at a time. The actor runs the server's graph with its input, video and result streams.
    """

    def __init__(self, manager: StreamManager, channel: Any) -> None:
        server = manager.server
        self.inbox: Subscription[Frame] = Subscription(1)
        self.failed = False
        self._name = channel.name
        self._link = _GraphLink(manager, channel, {
            "graph": server.config.proto.SerializeToString(), "side_packets": {},
            "input_stream": server.input_stream, "video_stream": server.video_stream,
            "result_streams": server.result_streams}, self._emit)
        self._feeder: asyncio.Task[None] | None = None

    @property
    def worker_pid(self) -> int | None:
        """The actor's process (a new one after Ray restarted it)."""
        return self._link.worker_pid

    def _emit(self, kind: str, **fields: Any) -> None:
        self._link.manager.emit(self._name, kind, **fields)

    async def start(self) -> None:
        """Starts the actor and feeds it.

        Raises:
            Exception: What the graph raised on loading or starting, or Ray's error.
        """
        await self._link.open()
        self._emit("started", worker_pid=self.worker_pid)
        self._feeder = asyncio.create_task(self._feed(), name=f"feed {self._name} (Ray)")

    async def stop(self) -> None:
        """Stops feeding (a frame in flight, or a wait for a restarting actor, is abandoned),
        ends the graph run and kills the actor."""
        self.inbox.close()
        if self._feeder is not None:
            self._feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feeder
        await self._link.close(quiet=True)

    async def _feed(self) -> None:
        while (frame := await self.inbox.get()) is not None:
            try:
                await self._link.process(frame)
            except _StreamFailedError as exc:
                error = exc.__cause__ or exc
                logger.error("channel %r: the graph failed in its actor: %s: %s", self._name,
                             type(error).__name__, error)
                self._emit("failed", error=f"{type(error).__name__}: {error}")
                self.failed = True
                self._link.channel.end_processing()
                return


class ManagedStream:
    """One managed stream: its source, its graph (local or a Ray actor) and its restarts."""

    def __init__(self, manager: StreamManager, spec: StreamSpec) -> None:
        self.manager = manager
        self.spec = spec
        self.state = "starting"
        self.restarts = 0
        self.last_error = ""
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.viewer_count = 0
        self.channel = manager.server._channel(spec.name)
        self.channel.owner = self
        self._task: asyncio.Task[None] | None = None
        self._link = _GraphLink(manager, self.channel, {
            "graph": spec.graph, "side_packets": spec.side_packets,
            "input_stream": spec.input_stream, "video_stream": spec.video_stream}, self.emit)
        self._subscribed = False

    @property
    def frames(self) -> int:
        """Frames through the graph so far (over every run)."""
        return self._link.frames

    @property
    def frames_lost(self) -> int:
        """Frames lost with a Ray actor that died."""
        return self._link.frames_lost

    @property
    def worker_pid(self) -> int | None:
        """The process the graph runs in (a Ray worker with ``--ray``)."""
        return self._link.worker_pid

    def start(self) -> None:
        """Starts the stream's task."""
        self._task = asyncio.create_task(self._run(), name=f"stream {self.spec.name}")

    async def stop(self) -> None:
        """Stops the stream and releases its channel."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.state = "stopped"
        self.channel.owner = None
        self.channel.end_processing()

    async def restart(self, side_packets: dict[str, Any] | None = None) -> None:
        """Ends the graph run now and starts a new one (with these side packets, if given); counts
        as a restart (event ``restarting`` with ``requested: true``)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if side_packets is not None:
            self.spec = dataclasses.replace(self.spec, side_packets=side_packets)
            self._link.args["side_packets"] = side_packets
        self.restarts += 1
        self.state = "restarting"
        self.emit("restarting", restarts=self.restarts, delay_s=0.0, requested=True)
        self.start()

    def describe(self) -> dict[str, Any]:
        """The stream's state for ``GET /streams/{name}``."""
        return {**dataclasses.asdict(self.spec), "state": self.state, "restarts": self.restarts,
                "frames": self.frames, "frames_lost": self.frames_lost,
                "last_error": self.last_error, "worker_pid": self.worker_pid,
                "ray": self.manager.ray_address is not None}

    def emit(self, kind: str, **fields: Any) -> None:
        """Records and broadcasts an event about this stream."""
        self.history.append(self.manager.emit(self.spec.name, kind, **fields))

    def viewers_changed(self, channel: Any) -> None:
        """Called by the server when a viewer joins or leaves the channel."""
        count = channel.viewers() - self._subscribed  # not this stream's own subscription
        if count != self.viewer_count:
            kind = "viewer_joined" if count > self.viewer_count else "viewer_left"
            self.viewer_count = count
            self.emit(kind, viewers=count)

    # ------------------------------------------------------------------ running

    async def _run(self) -> None:
        backoff = BACKOFF_START_S
        while True:
            outcome = await self._one_run()
            policy = self.spec.restart
            if outcome == "eos":
                self.emit("finished", frames=self.frames)
                again = policy in ("always", "on_eos")
            else:
                again = policy in ("always", "on_error")
            if not again:
                self.state = "finished" if outcome == "eos" else "failed"
                self.channel.end_processing()
                return
            self.restarts += 1
            self.state = "restarting"
            self.emit("restarting", restarts=self.restarts, delay_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S) if outcome == "error" else BACKOFF_START_S

    async def _one_run(self) -> str:
        """Runs the graph until the source ends (``"eos"``) or the graph fails (``"error"``)."""
        try:
            await self._link.open()
        except Exception as exc:
            return self._failed(exc)
        self.state = "running"
        self.emit("started", worker_pid=self.worker_pid)
        try:
            self._subscribed = True
            with self.channel.raw.subscribe() as inbox:
                puller = None if self.spec.source == "push" else \
                    asyncio.create_task(self._pull(inbox.close))
                try:
                    while (frame := await inbox.get()) is not None:
                        await self._link.process(frame)
                finally:
                    self._subscribed = False
                    if puller is not None:
                        puller.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await puller
            await self._link.close()
            return "eos"
        except _StreamFailedError as exc:
            await self._link.close(quiet=True)
            return self._failed(exc.__cause__ or exc)
        except asyncio.CancelledError:
            await self._link.close(quiet=True)
            raise

    def _failed(self, exc: BaseException) -> str:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.state = "failed"
        logger.error("stream %r: %s", self.spec.name, self.last_error)
        self.emit("failed", error=self.last_error)
        return "error"

    async def _pull(self, ended: Callable[[], None]) -> None:
        """Feeds the pulled source into the channel; retries with backoff until it opens."""
        backoff = BACKOFF_START_S
        while True:
            try:
                async for timestamp, data in self._frames():
                    self.channel.ingest(Frame(timestamp, data))
                    backoff = BACKOFF_START_S
                break
            except ValueError as exc:
                self.emit("source_retry", error=str(exc), delay_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        ended()

    def _frames(self) -> AsyncIterator[tuple[int, bytes]]:
        return capture_frames(self.spec.source, quality=self.manager.server.quality)


class StreamManager:
    """Managed streams of one :class:`StreamServer`; create it before the server starts.

    Args:
        server: The server whose HTTP application gets the streams API.
        ray_address: None runs graphs in this process; otherwise each stream's graph, managed
            or pushed (an :class:`ActorRun` while watched), runs in a Ray actor on that cluster
            (``""``: ``RAY_ADDRESS`` or a new local one), connected to here and now.
        max_restarts: Restarts Ray grants each actor.
    """

    def __init__(self, server: StreamServer, *, ray_address: str | None = None,
                 max_restarts: int = MAX_RESTARTS) -> None:
        self.server = server
        self.ray_address = ray_address
        self.streams: dict[str, ManagedStream] = {}
        self.events: Broadcaster[bytes] = Broadcaster(EVENTS_DEPTH)
        self._actor_class: Any = None
        if ray_address is not None:  # connect now, on the caller's thread
            from graphflow.app import ray_backend

            ray_backend.connect(ray_address)
            self._actor_class = ray_backend.actor_class(FrameProcessor, max_restarts)
            server.new_run = lambda channel: ActorRun(self, channel)
        server.app_setup.append(self.setup)

    # ------------------------------------------------------------------ API

    async def add(self, spec: StreamSpec) -> ManagedStream:
        """Creates and starts a stream.

        Raises:
            KeyError: If a stream of that name exists.
            ConfigError, ValueError, FileNotFoundError: If the graph does not load or lacks
                the streams.
        """
        if spec.name in self.streams:
            raise KeyError(f"a stream named {spec.name!r} exists; DELETE it first")
        from graphflow.resources import find_graph

        spec = dataclasses.replace(spec, graph=str(find_graph(spec.graph)))
        probe = await asyncio.to_thread(
            FrameProcessor, spec.graph, spec.side_packets, spec.input_stream,
            spec.video_stream)
        await asyncio.to_thread(probe.cancel)
        stream = ManagedStream(self, spec)
        self.streams[spec.name] = stream
        stream.emit("added", source=spec.source, graph=spec.graph, restart=spec.restart)
        stream.start()
        return stream

    async def remove(self, name: str) -> None:
        """Stops and forgets a stream.

        Raises:
            KeyError: If there is none of that name.
        """
        stream = self.streams.pop(name)
        await stream.stop()
        stream.emit("removed")
        self.server._reconcile_soon(stream.channel)

    async def close(self, app: web.Application | None = None) -> None:
        """Stops every stream (the server calls it on shutdown)."""
        for name in list(self.streams):
            await self.remove(name)
        self.events.close_all()

    def emit(self, stream: str, kind: str, **fields: Any) -> dict[str, Any]:
        """Broadcasts an event about a stream (managed or pushed) on ``/events``; returns it."""
        event = {"type": kind, "stream": stream, "time": time.time(), **fields}
        logger.info("stream event %s", event)
        self.events.publish(json.dumps(event, separators=(",", ":")).encode())
        return event

    # ------------------------------------------------------------------ graph runners

    async def new_processor(self, **args: Any) -> Any:
        """A :class:`FrameProcessor` of ``args`` (and the server's quality): local, or a Ray
        actor handle."""
        args["quality"] = self.server.quality
        if self._actor_class is None:
            return await asyncio.to_thread(lambda: FrameProcessor(**args))
        return self._actor_class.remote(**args)

    async def call(self, processor: Any, method: str, *args: Any) -> Any:
        """Calls a processor method off the event loop (a thread, or the Ray actor)."""
        if self.ray_address is None:
            return await asyncio.to_thread(getattr(processor, method), *args)
        return await getattr(processor, method).remote(*args)

    def actor_lost(self, exc: BaseException) -> bool:
        """True if ``exc`` says the Ray actor died or is restarting (not a graph failure)."""
        if self.ray_address is None:
            return False
        from graphflow.app import ray_backend

        return ray_backend.is_actor_lost(exc)

    def release(self, processor: Any) -> None:
        """Lets a processor go (kills a Ray actor for good)."""
        if self.ray_address is not None:
            from graphflow.app import ray_backend

            ray_backend.kill_actor(processor)

    # ------------------------------------------------------------------ HTTP

    def setup(self, app: web.Application) -> None:
        """Adds the streams API to the server's application."""
        app.router.add_post("/streams", self._post)
        app.router.add_get("/streams/{name}", self._get)
        app.router.add_delete("/streams/{name}", self._delete)
        app.router.add_get("/events", self._events)
        app.router.add_get("/openapi.json", self._openapi)
        app.on_shutdown.append(self.close)
        console.setup_managed(app, self)

    async def _post(self, request: web.Request) -> web.Response:
        self.server._check_viewer(request)
        try:
            spec = StreamSpec.from_json(await request.json())
        except json.JSONDecodeError as exc:
            return _error(400, f"the body is not JSON: {exc}")
        except ValueError as exc:
            return _error(400, str(exc))
        try:
            stream = await self.add(spec)
        except KeyError as exc:
            return _error(409, str(exc.args[0]))
        except (ConfigError, ValueError, FileNotFoundError) as exc:
            return _error(400, f"graph {spec.graph!r}: {exc}")
        return web.json_response(stream.describe(), status=201)

    def _stream(self, request: web.Request) -> ManagedStream:
        self.server._check_viewer(request)
        name = request.match_info["name"]
        stream = self.streams.get(name)
        if stream is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no managed stream {name!r}"}),
                                   content_type="application/json")
        return stream

    async def _get(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        return web.json_response({**stream.describe(), "events": list(stream.history)})

    async def _delete(self, request: web.Request) -> web.Response:
        stream = self._stream(request)
        await self.remove(stream.spec.name)
        return web.json_response({"removed": stream.spec.name})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.server._check_viewer(request)
        return await serve_events(request, self.events)

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(OPENAPI)


def _error(status: int, text: str) -> web.Response:
    return web.json_response({"error": text}, status=status)


_SPEC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "graph"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": f"^{CHANNEL_PATTERN}$"},
        "graph": {"type": "string", "description": "graph file or bundled graph name"},
        "source": {"type": "string", "default": "push",
                   "description": "push, rtsp:// or http:// URL, video file, camera[:N]"},
        "side_packets": {"type": "object", "default": {}},
        "restart": {"type": "string", "enum": list(RESTART_POLICIES), "default": "never"},
        "input_stream": {"type": "string", "default": "input_video"},
        "video_stream": {"type": "string", "default": "output_video"},
    },
}
_ERROR = {"description": "what was wrong",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_STATE = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Stream"}}}}

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "graphflow serve: managed streams", "version": "1"},
    "components": {
        "schemas": {
            "StreamSpec": _SPEC_SCHEMA,
            "Stream": {"allOf": [{"$ref": "#/components/schemas/StreamSpec"}, {
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": ["starting", "running", "restarting",
                                                         "failed", "finished", "stopped"]},
                    "restarts": {"type": "integer"}, "frames": {"type": "integer"},
                    "frames_lost": {"type": "integer"}, "last_error": {"type": "string"},
                    "worker_pid": {"type": "integer", "nullable": True},
                    "ray": {"type": "boolean"}}}]},
            "Error": {"type": "object", "properties": {"error": {"type": "string"}}},
            "Script": {"type": "object", "properties": {
                "text": {"type": "string"}, "side_packet": {"type": "string"},
                "path": {"type": "string"},
                "live": {"type": "boolean", "description": "edits apply without a restart"}}},
            "ScriptError": {"type": "object", "properties": {
                "error": {"type": "string"}, "line": {"type": "integer"},
                "column": {"type": "integer"}, "message": {"type": "string"}}},
        },
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    },
    "paths": {
        "/streams": {
            "get": {"summary": "every channel; managed ones carry 'managed'",
                    "responses": {"200": {"description": "channels"}}},
            "post": {"summary": "create a managed stream",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/StreamSpec"}}}},
                     "responses": {"201": {"description": "created", **_STATE},
                                   "400": _ERROR, "409": _ERROR}},
        },
        "/streams/{name}": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": {"summary": "a managed stream with its recent events",
                    "responses": {"200": {"description": "the stream", **_STATE},
                                  "404": _ERROR}},
            "delete": {"summary": "stop and remove a managed stream",
                       "responses": {"200": {"description": "removed"}, "404": _ERROR}},
        },
        # Served by graphflow.app.net.console (the web console uses them).
        "/streams/{name}/restart": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "post": {"summary": "end the stream's graph run now and start a new one",
                     "responses": {"200": {"description": "restarting", **_STATE},
                                   "404": _ERROR}},
        },
        "/streams/{name}/script": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": {"summary": "the eymo script of a stream whose graph draws one",
                    "responses": {"200": {"description": "the script", "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Script"}}}},
                        "404": _ERROR, "409": _ERROR}},
            "put": {"summary": "apply a new eymo script (a copy the server owns: the first edit "
                               "restarts the graph, later ones apply live)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["text"],
                        "properties": {"text": {"type": "string"}}}}}},
                    "responses": {
                        "200": {"description": "applied", "content": {"application/json": {
                            "schema": {"type": "object", "properties": {
                                "applied": {"type": "string", "enum": ["live", "restarted"]},
                                "path": {"type": "string"}}}}}},
                        "400": _ERROR, "404": _ERROR, "409": _ERROR,
                        "422": {"description": "the script has a mistake", "content": {
                            "application/json": {"schema": {
                                "$ref": "#/components/schemas/ScriptError"}}}}}},
        },
        "/events": {
            "get": {"summary": "stream events as server-sent events (one JSON object each)",
                    "responses": {"200": {"description": "text/event-stream",
                                          "content": {"text/event-stream": {}}}}},
        },
    },
}


# ---------------------------------------------------------------------- command line

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
