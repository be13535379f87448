"""The restart supervisor of managed streams: one graph run after another, by policy.

A managed stream has its own graph, side packets and frame source, and runs its graph on every
frame whether or not anybody watches. Its source is ``"push"`` (``graphflow send`` pushes frames
under the stream's name) or something the server pulls, any ``graphflow run --input`` spec that
the server's access settings allow (:class:`~graphflow.app.net.policy.Access`): a ``rtsp://`` /
``http://`` URL, ``demo``, or with ``--allow-local-sources`` a video file, ``camera[:N]``...
Pulled sources are opened and read on the server's source threads, with timeouts and the pixel
cap; one that cannot be opened is retried with exponential backoff. Restart policies say what
happens when the graph fails (``on_error``), when a pulled source ends (``on_eos``, a file played
to its end), both (``always``) or neither (``never``); a server that is shutting down restarts
nothing.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphflow.app.io.urls import NETWORK_SCHEMES, redact_urls
from graphflow.app.net.limits import Limits
from graphflow.app.net.policy import Access
from graphflow.app.net.protocol import Frame, validate_channel
from graphflow.app.net.runner import ChannelRunner, GraphSpec, cancel_and_wait, describe_error
from graphflow.app.net.sender import SourceReading, capture_frames, open_source_spec

if TYPE_CHECKING:
    from graphflow.app.io import FrameSource
    from graphflow.app.net.server import StreamServer

logger = logging.getLogger(__name__)

RESTART_POLICIES = ("never", "always", "on_error", "on_eos")
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 10.0
HISTORY = 50
"""Recent events kept per stream for ``GET /streams/{name}``."""


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

    @property
    def pulled(self) -> bool:
        """True if the server reads the source itself (anything but ``push``)."""
        return self.source != "push"

    def graph_spec(self, quality: int, max_pixels: int | None = None) -> GraphSpec:
        """What each run of the stream runs."""
        return GraphSpec(self.graph, self.side_packets, self.input_stream, self.video_stream,
                         quality=quality, max_pixels=max_pixels)


def open_pulled(source: str, access: Access, limits: Limits) -> FrameSource:
    """Opens a managed stream's source (blocking): its host's addresses are checked again
    (DNS may answer differently than when the stream was created), and a network stream is
    opened with the source timeout and refused if its frames are over the pixel cap.

    Raises:
        ValueError: If it is refused, does not resolve or does not open.
    """
    access.check_source(source)
    access.check_source_host(source)
    if source.partition("://")[0].lower() in NETWORK_SCHEMES:
        from graphflow.app.io.live import LiveCapture

        return LiveCapture(source, timeout=limits.source_timeout, max_pixels=limits.max_pixels)
    return open_source_spec(source)


class ManagedStream:
    """One managed stream: its source, its graph runs and their restarts.

    Args:
        server: The server whose channel of ``spec.name`` the stream owns.
        spec: The stream.
        emit: Broadcasts an event about the stream: ``emit(kind, **fields)``; returns the event.
    """

    def __init__(self, server: StreamServer, spec: StreamSpec,
                 emit: Callable[..., dict[str, Any]]) -> None:
        self.server = server
        self.spec = spec
        self.state = "starting"
        self.restarts = 0
        self.last_error = ""
        self.history: collections.deque[dict[str, Any]] = collections.deque(maxlen=HISTORY)
        self.viewer_count = 0
        self.channel = server.channel(spec.name)
        self.channel.owner = self
        if spec.pulled and self.channel.sender is not None:
            self.channel.sender.close()  # a pulled stream takes no pushes
        self.runner: ChannelRunner | None = None
        """The current run (the last one once the stream ended)."""
        self._emit = emit
        self._counted = (0, 0)  # frames and frames lost of the runs before the current one
        self._task: asyncio.Task[None] | None = None

    @property
    def frames(self) -> int:
        """Frames through the graph so far (over every run)."""
        return self._counted[0] + (self.runner.frames if self.runner else 0)

    @property
    def frames_lost(self) -> int:
        """Frames lost with a Ray actor that died."""
        return self._counted[1] + (self.runner.frames_lost if self.runner else 0)

    @property
    def worker_pid(self) -> int | None:
        """The process the graph runs in (a Ray worker with ``--ray``)."""
        return self.runner.worker_pid if self.runner else None

    @property
    def pulled(self) -> bool:
        """True if the server reads the stream's source (senders may not push to it)."""
        return self.spec.pulled

    def start(self) -> None:
        """Starts the stream's task."""
        self._task = asyncio.create_task(self._run(), name=f"stream {self.spec.name}")

    async def stop(self) -> None:
        """Stops the stream and releases its channel."""
        if self._task is not None:
            await cancel_and_wait(self._task)
        self.state = "stopped"
        self.channel.owner = None
        self.channel.end_processing()

    def describe(self) -> dict[str, Any]:
        """The stream's state for ``GET /streams/{name}``."""
        return {**dataclasses.asdict(self.spec), "source": redact_urls(self.spec.source),
                "state": self.state, "restarts": self.restarts,
                "frames": self.frames, "frames_lost": self.frames_lost,
                "last_error": self.last_error, "worker_pid": self.worker_pid,
                "ray": self.server.backend.remote}

    def emit(self, kind: str, **fields: Any) -> None:
        """Records and broadcasts an event about this stream."""
        self.history.append(self._emit(kind, **fields))

    def viewers_changed(self) -> None:
        """Called by the server when a viewer joins or leaves the channel."""
        count = self.channel.viewers()
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
            if not again or self.server.closing:
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
        if self.runner is not None:
            self._counted = (self.frames, self.frames_lost)
        spec = self.spec.graph_spec(self.server.quality, self.server.limits.max_pixels)
        runner = self.runner = ChannelRunner(
            self.channel, lambda: self.server.backend.worker(spec, self.channel, self.emit),
            self.emit)
        if not await runner.start():
            return self._failed(runner.error)
        self.state = "running"
        self.channel.runner = runner
        puller = asyncio.create_task(self._pull(runner.inbox.close)) if self.spec.pulled \
            else None
        try:
            await runner.wait()
        except asyncio.CancelledError:  # the stream is being stopped
            await self._end_run(runner, puller, report=False)
            raise
        error = await self._end_run(runner, puller, report=True)
        return "eos" if error is None else self._failed(error)

    async def _end_run(self, runner: ChannelRunner, puller: asyncio.Task[None] | None,
                       report: bool) -> BaseException | None:
        """Detaches the run from the channel, stops its source and ends it; its error."""
        self.channel.runner = None
        if puller is not None:
            await cancel_and_wait(puller)
        return await runner.stop(report=report)

    def _failed(self, error: BaseException | None) -> str:
        self.last_error = redact_urls(describe_error(error)) if error is not None else "failed"
        self.state = "failed"
        return "error"

    async def _pull(self, ended: Callable[[], None]) -> None:
        """Feeds the pulled source into the channel; retries with backoff until it opens."""
        server = self.server
        reading = SourceReading(
            open=functools.partial(open_pulled, access=server.access, limits=server.limits),
            run=server.sources.run, timeout=server.limits.source_timeout,
            max_pixels=server.limits.max_pixels)
        backoff = BACKOFF_START_S
        while True:
            try:
                async for timestamp, data in capture_frames(self.spec.source,
                                                            quality=server.quality,
                                                            reading=reading):
                    self.channel.ingest(Frame(timestamp, data))
                    backoff = BACKOFF_START_S
                break
            except ValueError as exc:
                self.emit("source_retry", error=redact_urls(str(exc)), delay_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        ended()
