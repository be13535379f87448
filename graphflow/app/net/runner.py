"""Channel runners: a channel's frames through its graph, the graph's outputs back onto it.

One :class:`ChannelRunner` serves every channel that has a graph running: pushed channels (the
server starts one while somebody watches the processed video or results) and managed streams
(their supervisor starts one per run). It takes the channel's newest frames from ``inbox`` (one
waits; a newer frame replaces it) and hands them to a worker, which publishes the video output
as JPEG and the other outputs as result events on the channel:

- :class:`LocalGraph` runs the graph in this process, pipelined: up to ``max_in_flight`` frames
  are inside the graph at once, counted from the timestamps seen on its observed outputs, and
  observers encode the video output on the graph's threads, once per frame. A run that does not
  finish within ``stop_timeout`` of being closed is cancelled, and abandoned if even that does
  not end it (a calculator that hangs): its threads are daemons and are left behind.
- :class:`ActorGraph` runs a :class:`FrameProcessor` in a Ray actor, one frame per call; when the
  actor dies, the frame in flight is lost and the worker waits for Ray to restart it (events
  ``actor_lost`` and ``actor_restarted``).

A backend (:class:`LocalBackend`, :class:`RayBackend`) makes the workers; the server holds one.

Graph timestamps must increase. A frame that is not after the previous one (a new sender took
the channel over with a clock behind the old one's) ends the run and starts a fresh one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from graphflow.app.net import jpeg
from graphflow.app.net.broadcast import Subscription
from graphflow.app.net.jsonable import to_jsonable
from graphflow.app.net.protocol import Frame
from graphflow.config import GraphConfig, load_config
from graphflow.graph import CalculatorGraph
from graphflow.image_frame import ImageFrame
from graphflow.packet import Packet
from graphflow.runtime import GraphCancelledError, GraphError

if TYPE_CHECKING:
    from graphflow.app.net.channel import Channel

logger = logging.getLogger(__name__)

STALL_S = 1.0
"""How long a local run waits for the graph to show progress before it feeds the next frame."""
ACTOR_WAIT_S = 60.0
"""How long a worker waits for Ray to restart its actor before the run counts as failed."""
ACTOR_POLL_S = 0.2
"""How often a restarting actor is asked whether it is back."""
MAX_RESTARTS = 5
"""Restarts Ray grants an actor (``max_restarts``)."""
CANCEL_WAIT_S = 0.5
"""How long a cancelled graph run may take to end before it is abandoned."""

Emit = Callable[..., None]
"""Reports an event about the channel: ``emit(kind, **fields)``."""
RunBlocking = Callable[..., Awaitable[Any]]
"""Runs ``fn(*args)`` off the event loop: ``await run_blocking(fn, *args)``."""
Outcome = Literal["processed", "skipped", "lost"]


class RunFailedError(Exception):
    """A channel's graph failed.

    Attributes:
        error: What the graph (or Ray) raised.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(describe_error(error))
        self.error = error


class GraphHungError(RunFailedError):
    """A graph run did not end when closed, nor when cancelled: it was abandoned."""


def describe_error(error: BaseException) -> str:
    """``Type: message``, as events and ``last_error`` show an error."""
    return f"{type(error).__name__}: {error}"


@dataclasses.dataclass(frozen=True)
class GraphSpec:
    """What a runner runs.

    Attributes:
        graph: A loaded config, a graph file path, pbtxt text or a binary
            ``CalculatorGraphConfig`` (the last three pickle to Ray actors).
        side_packets: Input side packets of each run.
        input_stream: The graph input that receives RGB ``ImageFrame`` packets.
        video_stream: The graph output served as processed video (JPEG).
        result_streams: Outputs served as result events (None: every graph output stream but
            ``video_stream``).
        quality: JPEG quality of the processed video.
        max_pixels: JPEGs over this many pixels are skipped undecoded (None: no cap).
    """

    graph: GraphConfig | str | bytes
    side_packets: dict[str, Any] = dataclasses.field(default_factory=dict)
    input_stream: str = "input_video"
    video_stream: str = "output_video"
    result_streams: tuple[str, ...] | None = None
    quality: int = 80
    max_pixels: int | None = None

    def load(self) -> tuple[CalculatorGraph, list[str]]:
        """The graph and its result streams, checked.

        Raises:
            ConfigError: If the graph does not load.
            ValueError: If it lacks the streams or the side packets it needs.
        """
        config = self.graph if isinstance(self.graph, GraphConfig) else load_config(self.graph)
        graph = CalculatorGraph(config)
        results = video_graph_streams(graph, self.input_stream, self.video_stream,
                                      self.result_streams)
        missing = sorted(set(graph.validated.required_side_packets()) - set(self.side_packets))
        if missing:
            raise ValueError(f"graph {config.source}: missing input side packet(s) {missing}")
        return graph, results

    def portable(self) -> GraphSpec:
        """This spec with the graph as something that pickles (a loaded config serialized)."""
        if isinstance(self.graph, GraphConfig):
            return dataclasses.replace(self, graph=self.graph.proto.SerializeToString())
        return self


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


class GraphWorker(Protocol):
    """Where a runner's graph runs (this process or a Ray actor)."""

    @property
    def worker_pid(self) -> int | None:
        """The process the graph runs in (None before it opened)."""

    async def open(self) -> None:
        """Starts the graph run (raises what the graph raised on loading or starting)."""

    async def process(self, frame: Frame) -> Outcome:
        """Runs one frame; its outputs go to the channel.

        Raises:
            RunFailedError: If the graph failed.
        """

    async def close(self) -> None:
        """Ends the graph run and releases what it held.

        Raises:
            RunFailedError: If the run ended with an error.
        """


class Backend(Protocol):
    """Makes the workers of a server's runners."""

    remote: bool
    """True if graphs run outside this process (Ray actors)."""
    abandoned: list[str]
    """Channels whose graph run had to be abandoned (it hung when stopped)."""

    def worker(self, spec: GraphSpec, channel: Channel, emit: Emit) -> GraphWorker:
        """A worker that runs ``spec`` for ``channel`` (not yet opened)."""


class ChannelRunner:
    """Feeds a channel's newest frames through a graph worker.

    Args:
        channel: The channel whose frames come in (through :attr:`inbox`) and whose processed
            video and results the worker publishes.
        make_worker: Makes a worker: where the graph runs (a new one for a new timeline).
        emit: Reports the run's events (``started``, ``failed``, and the worker's own).
        on_failed: Called with the error once the graph failed (after ``failed`` is emitted).

    Attributes:
        inbox: The channel puts its newest frames here (one waits; a newer one replaces it).
        frames: Frames that went through the graph.
        frames_lost: Frames lost with a Ray actor that died.
        error: The graph's error, once the run failed.
    """

    def __init__(self, channel: Channel, make_worker: Callable[[], GraphWorker], emit: Emit,
                 on_failed: Callable[[BaseException], None] | None = None) -> None:
        self.channel = channel
        self.worker = make_worker()
        self.inbox: Subscription[Frame] = Subscription(1)
        self._make_worker = make_worker
        self._last = -1  # the timestamp of the last frame fed
        self.frames = 0
        self.frames_lost = 0
        self.error: BaseException | None = None
        self._emit = emit
        self._on_failed = on_failed
        self._feeder: asyncio.Task[None] | None = None

    @property
    def worker_pid(self) -> int | None:
        """The process the graph runs in (a new one after Ray restarted the actor)."""
        return self.worker.worker_pid

    async def start(self) -> bool:
        """Starts the graph and begins feeding it.

        Returns:
            False if the graph did not start (the error is reported and kept in ``error``).
        """
        if not await self._open():
            return False
        self._feeder = asyncio.create_task(self._feed(), name=f"feed {self.channel.name}")
        return True

    async def _open(self) -> bool:
        try:
            await self.worker.open()
        except Exception as exc:
            self._failed(exc)
            return False
        self._emit("started", worker_pid=self.worker_pid)
        return True

    async def _feed(self) -> None:
        while (frame := await self.inbox.get()) is not None:
            if frame.timestamp <= self._last and not await self._new_timeline(frame):
                return
            self._last = frame.timestamp
            try:
                outcome = await self.worker.process(frame)
            except RunFailedError as exc:
                self._failed(exc.error)
                return
            if outcome == "processed":
                self.frames += 1
            elif outcome == "lost":
                self.frames_lost += 1

    async def _new_timeline(self, frame: Frame) -> bool:
        """Ends the run and starts a fresh one for frames that go back in time; False if that
        failed (reported)."""
        logger.info("channel %r: frame at %d is not after %d (a new sender's clock): the graph "
                    "starts a new run", self.channel.name, frame.timestamp, self._last)
        try:
            await self.worker.close()
        except RunFailedError as exc:
            self._failed(exc.error)
            return False
        self.worker = self._make_worker()
        return await self._open()

    def _failed(self, error: BaseException) -> None:
        if self.error is not None:
            return
        self.error = error
        logger.error("channel %r: the graph failed: %s", self.channel.name,
                     describe_error(error))
        self._emit("failed", error=describe_error(error))
        if self._on_failed is not None:
            self._on_failed(error)

    async def wait(self) -> BaseException | None:
        """Waits until feeding ends: the inbox closed and drained (None), or the graph failed
        (its error). Cancelling the wait leaves the runner going."""
        if self._feeder is not None:
            await asyncio.wait({self._feeder})
        return self.error

    async def stop(self, report: bool = False) -> BaseException | None:
        """Stops feeding (a frame in flight is abandoned) and ends the graph run.

        Args:
            report: Report an error that only ending the run revealed (``failed``).

        Returns:
            The run's error, if it failed.
        """
        self.inbox.close()
        if self._feeder is not None:
            await cancel_and_wait(self._feeder)
        try:
            await self.worker.close()
        except RunFailedError as exc:
            if report:
                self._failed(exc.error)
            else:
                logger.debug("channel %r: run ended with %s", self.channel.name, exc)
                return self.error or exc.error
        return self.error


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancels ``task`` and waits for it to end, without swallowing a cancellation of the
    caller (``suppress(CancelledError)`` around ``await task`` would)."""
    task.cancel()
    await asyncio.wait({task})


# ---------------------------------------------------------------------- in this process


class LocalBackend:
    """Runs graphs in this process (:class:`LocalGraph`).

    Args:
        run_blocking: Runs the graph's blocking calls off the event loop.
        max_in_flight: Frames inside one graph run at once.
        stop_timeout: Seconds a run may take to end once closed before it is cancelled.
    """

    remote = False

    def __init__(self, run_blocking: RunBlocking, max_in_flight: int = 2,
                 stop_timeout: float = 1.5) -> None:
        self.run_blocking = run_blocking
        self.max_in_flight = max(1, max_in_flight)
        self.stop_timeout = stop_timeout
        self.abandoned: list[str] = []

    def worker(self, spec: GraphSpec, channel: Channel, emit: Emit) -> LocalGraph:
        """A :class:`LocalGraph` of ``spec`` for ``channel``."""
        return LocalGraph(spec, channel, self)


class LocalGraph:
    """A graph run in this process, fed frames as fast as it takes them (see the module doc).

    Args:
        spec: The graph.
        channel: Where the outputs go.
        backend: Runs blocking graph calls off the event loop, and sets ``max_in_flight``
            (frames inside the graph at once; the next waits for progress, at most
            ``STALL_S``, after which the frames in flight count as dropped by the graph) and
            the stop timeout.
    """

    def __init__(self, spec: GraphSpec, channel: Channel, backend: LocalBackend) -> None:
        self._spec = spec
        self._channel = channel
        self._backend = backend
        self._run = backend.run_blocking
        self._max_in_flight = backend.max_in_flight
        self._loop = asyncio.get_running_loop()
        self._graph: CalculatorGraph | None = None
        self._pending: collections.deque[int] = collections.deque()
        self._done = -1
        self._progress = asyncio.Event()

    @property
    def worker_pid(self) -> int | None:
        """This process."""
        return os.getpid()

    async def open(self) -> None:
        """Loads the graph and starts its run (a run started while this was cancelled is
        closed again)."""
        starting = asyncio.ensure_future(self._run(self._start))
        try:
            self._graph = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self._graph = await starting  # it runs on a thread: let it end, then close
                await self.close()
            raise

    def _start(self) -> CalculatorGraph:
        graph, results = self._spec.load()
        graph.observe_output_stream(self._spec.video_stream, self._on_video)
        for name in results:
            graph.observe_output_stream(name, self._on_result)
        graph.start_run(self._spec.side_packets)
        return graph

    async def process(self, frame: Frame) -> Outcome:
        """Adds the frame to the graph once fewer than ``max_in_flight`` are inside it.

        Returns:
            ``"skipped"`` if the frame did not decode or the graph was too busy to take it.
        """
        while len(self._pending) >= self._max_in_flight:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), STALL_S)
            except TimeoutError:
                self._pending.clear()  # the graph produced nothing for them: dropped
        try:
            added = await self._run(self._add, frame)
        except GraphError as exc:
            raise RunFailedError(exc) from exc
        except ValueError as exc:
            logger.warning("channel %r: frame at %d skipped: %s", self._channel.name,
                           frame.timestamp, exc)
            return "skipped"
        if not added:
            return "skipped"
        if frame.timestamp > self._done:
            self._pending.append(frame.timestamp)
        return "processed"

    def _add(self, frame: Frame) -> bool:
        assert self._graph is not None
        image = ImageFrame(jpeg.decode(frame.jpeg, self._spec.max_pixels))
        return self._graph.try_add_packet_to_input_stream(
            self._spec.input_stream, Packet(image).at(frame.timestamp))

    async def close(self) -> None:
        """Closes the graph's inputs and waits for the run to finish, on a thread of its own
        (a hung run must not hold one of the server's); cancels the run after the backend's
        ``stop_timeout``.

        Raises:
            RunFailedError: With the run's error.
            GraphHungError: If even the cancelled run did not end (it is abandoned).
        """
        graph, self._graph = self._graph, None
        if graph is None:
            return
        closing, thread = in_daemon_thread(graph.close, f"graphflow-stop {self._channel.name}")
        try:
            await asyncio.wait_for(asyncio.shield(closing), self._backend.stop_timeout)
            thread.join()  # it has handed its outcome over: it is returning
        except TimeoutError:
            logger.warning("channel %r: the graph did not finish within %g s of closing its "
                           "inputs; cancelling it", self._channel.name,
                           self._backend.stop_timeout)
            graph.cancel()
            try:
                with contextlib.suppress(GraphCancelledError):  # the stop this warned of
                    await asyncio.wait_for(asyncio.shield(closing), CANCEL_WAIT_S)
                thread.join()
            except TimeoutError:
                self._backend.abandoned.append(self._channel.name)
                error = TimeoutError("the graph run did not end when cancelled (a calculator "
                                     "hangs); abandoned with its threads")
                logger.error("channel %r: %s", self._channel.name, error)
                raise GraphHungError(error) from None
        except GraphError as exc:
            raise RunFailedError(exc) from exc

    # Observers run on graph threads: they encode on that thread and hand over to the loop.

    def _on_video(self, stream: str, packet: Packet[Any]) -> None:
        timestamp = int(packet.timestamp)
        frame = None
        if len(self._channel.processed):
            frame = Frame(timestamp, jpeg.encode_rgb(packet.payload, self._spec.quality))
        self._loop.call_soon_threadsafe(self._on_output, timestamp, frame, None)

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

    def _on_output(self, timestamp: int, frame: Frame | None, event: bytes | None) -> None:
        """Loop side of the observers: publish, and count the graph's progress."""
        if frame is not None:
            self._channel.publish_processed(frame)
        if event is not None:
            self._channel.publish_result(event)
        if timestamp > self._done:
            self._done = timestamp
            while self._pending and self._pending[0] <= timestamp:
                self._pending.popleft()
            self._progress.set()


def in_daemon_thread(fn: Callable[[], Any], name: str
                     ) -> tuple[asyncio.Future[Any], threading.Thread]:
    """Runs ``fn()`` on a new daemon thread: its outcome as a future of the running loop, and
    the thread (which ends right after it settles the future).

    Nothing waits for the thread: if ``fn`` never returns, the thread is left behind and the
    future never completes.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def target() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return future, thread


# ---------------------------------------------------------------------- Ray actors


class FrameProcessor:
    """A graph run fed one frame at a time: what a Ray actor of :class:`ActorGraph` holds.

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
        max_pixels: JPEGs over this many pixels are refused undecoded (None: no cap).

    Raises:
        ConfigError: If the graph does not load.
        ValueError: If it lacks the streams.
    """

    def __init__(self, graph: str | bytes, side_packets: dict[str, Any], input_stream: str,
                 video_stream: str, quality: int = 80,
                 result_streams: Sequence[str] | None = None,
                 max_pixels: int | None = None) -> None:
        self.graph = CalculatorGraph(load_config(graph))
        results = video_graph_streams(self.graph, input_stream, video_stream, result_streams)
        self.input_stream = input_stream
        self.video_stream = video_stream
        self.quality = quality
        self.max_pixels = max_pixels
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
            ValueError: If the JPEG does not decode or is over ``max_pixels``.
        """
        self.graph.add_packet_to_input_stream(
            self.input_stream, Packet(ImageFrame(jpeg.decode(data, self.max_pixels))).at(timestamp))
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


class RayBackend:
    """Runs graphs in Ray actors (:class:`ActorGraph`), which Ray restarts when they die.

    Connects this process to the cluster on creation (on the caller's thread).

    Args:
        address: The cluster (see :func:`graphflow.app.ray_backend.connect`).
        max_restarts: Restarts Ray grants each actor.
        stop_timeout: Seconds an actor's run may take to end once closed; then the actor is
            killed all the same.
    """

    remote = True

    def __init__(self, address: str, max_restarts: int = MAX_RESTARTS,
                 stop_timeout: float = 1.5) -> None:
        from graphflow.app import ray_backend

        ray_backend.connect(address)
        self.actor_class = ray_backend.actor_class(FrameProcessor, max_restarts)
        self.stop_timeout = stop_timeout
        self.abandoned: list[str] = []  # an actor is killed, never abandoned

    def worker(self, spec: GraphSpec, channel: Channel, emit: Emit) -> ActorGraph:
        """An :class:`ActorGraph` of ``spec`` for ``channel``."""
        return ActorGraph(self, spec, channel, emit)


class ActorGraph:
    """A graph run in a Ray actor, one frame per call.

    Args:
        backend: Where the actor class comes from.
        spec: The graph.
        channel: Where the outputs go.
        emit: Reports ``actor_lost`` and ``actor_restarted``.

    Attributes:
        handle: The actor, while open.
    """

    def __init__(self, backend: RayBackend, spec: GraphSpec, channel: Channel,
                 emit: Emit) -> None:
        self._backend = backend
        self._spec = spec.portable()
        self._channel = channel
        self._emit = emit
        self.handle: Any = None
        self._pid: int | None = None

    @property
    def worker_pid(self) -> int | None:
        """The actor's process (a new one after Ray restarted it)."""
        return self._pid

    async def call(self, method: str, *args: Any) -> Any:
        """Calls a :class:`FrameProcessor` method in the actor."""
        return await getattr(self.handle, method).remote(*args)

    async def open(self) -> None:
        """Starts the actor (raises what its graph raised on loading or starting)."""
        spec = self._spec
        self.handle = self._backend.actor_class.remote(
            graph=spec.graph, side_packets=spec.side_packets, input_stream=spec.input_stream,
            video_stream=spec.video_stream, quality=spec.quality,
            result_streams=list(spec.result_streams) if spec.result_streams is not None
            else None, max_pixels=spec.max_pixels)
        try:
            self._pid = await self.call("pid")
        except BaseException:  # cancelled too: the actor must not outlive its worker
            self._release()
            raise

    async def process(self, frame: Frame) -> Outcome:
        """Runs the frame in the actor and publishes its outputs.

        Returns:
            ``"lost"`` if the actor died with the frame (the worker waited for it to come back).

        Raises:
            RunFailedError: If the graph failed, or a lost actor did not come back.
        """
        channel = self._channel
        try:
            video, results, pid = await self.call("process", frame.timestamp, frame.jpeg,
                                                  len(channel.processed) > 0,
                                                  len(channel.results) > 0)
        except ValueError as exc:  # the JPEG: the graph is fine
            logger.warning("channel %r: frame at %d skipped: %s", channel.name, frame.timestamp,
                           exc)
            return "skipped"
        except Exception as exc:
            if not _actor_lost(exc):
                raise RunFailedError(exc) from exc
            self._emit("actor_lost", error=describe_error(exc))
            await self._actor_back()
            return "lost"
        if pid != self._pid:  # Ray restarted the actor between two frames
            self._pid = pid
            self._emit("actor_restarted", worker_pid=pid)
        if video is not None:
            channel.publish_processed(Frame(frame.timestamp, video))
        for stream, timestamp, value in results:
            channel.publish_result(result_event(channel.name, stream, timestamp, value))
        return "processed"

    async def _actor_back(self) -> None:
        """Waits until Ray has restarted the actor (frames meanwhile are dropped).

        Raises:
            RunFailedError: If it does not answer within ``ACTOR_WAIT_S``.
        """
        deadline = time.monotonic() + ACTOR_WAIT_S
        while True:
            try:
                self._pid = await self.call("pid")
            except Exception as exc:
                if not _actor_lost(exc) or time.monotonic() > deadline:
                    raise RunFailedError(exc) from exc
                await asyncio.sleep(ACTOR_POLL_S)
            else:
                self._emit("actor_restarted", worker_pid=self._pid)
                return

    async def close(self) -> None:
        """Ends the graph run (waiting at most the backend's ``stop_timeout``) and kills the
        actor for good."""
        if self.handle is None:
            return
        try:
            await asyncio.wait_for(self.call("close"), self._backend.stop_timeout)
        except Exception as exc:
            raise RunFailedError(exc) from exc
        finally:
            self._release()

    def _release(self) -> None:
        from graphflow.app import ray_backend

        handle, self.handle = self.handle, None
        ray_backend.kill_actor(handle)


def _actor_lost(exc: BaseException) -> bool:
    from graphflow.app import ray_backend

    return ray_backend.is_actor_lost(exc)
