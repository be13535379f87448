"""One named stream on ``graphflow serve``: its sender, latest frame, viewers and graph runner.

A channel lives on the server's event loop. Frames come in from a sender (``graphflow send``) or
from a managed stream's pulled source through :meth:`Channel.ingest`; viewers subscribe to its
broadcasters (raw frames, processed frames, result events). While a
:class:`~graphflow.app.net.runner.ChannelRunner` is attached, every ingested frame is offered to
it as well.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from graphflow.app.net.broadcast import Broadcaster, RateMeter
from graphflow.app.net.limits import ByteBudget
from graphflow.app.net.protocol import Frame, Hello

if TYPE_CHECKING:
    from graphflow.app.net.runner import ChannelRunner

logger = logging.getLogger(__name__)

RESULTS_DEPTH = 64
"""Result events a slow ``/results`` viewer may have pending before the oldest are dropped."""


class ChannelOwner(Protocol):
    """What runs a managed channel's graph instead of the server (a managed stream)."""

    @property
    def pulled(self) -> bool:
        """True if the stream reads its own source (then senders may not push to it)."""

    def viewers_changed(self) -> None:
        """Called when a viewer joins or leaves the channel."""

    def describe(self) -> dict[str, Any]:
        """The ``managed`` entry of the channel's ``/streams`` object."""


class Channel:
    """One named stream: its sender, latest frame, viewers and graph runner (loop thread only).

    Args:
        name: The channel name.
        on_viewers: Called with the channel after a viewer joins or leaves.
        budget: Accounts for the bytes of the latest frame, which the channel holds.
    """

    def __init__(self, name: str, on_viewers: Callable[[Channel], None],
                 budget: ByteBudget) -> None:
        def changed() -> None:
            on_viewers(self)

        self.name = name
        self.hello: Hello | None = None
        self.sender: asyncio.StreamWriter | None = None
        self.latest: Frame | None = None
        self.frames = 0
        self._budget = budget
        self._held = 0  # bytes of ``latest`` counted in the budget
        self.raw: Broadcaster[Frame] = Broadcaster(1, changed)
        self.processed: Broadcaster[Frame] = Broadcaster(1, changed)
        self.results: Broadcaster[bytes] = Broadcaster(RESULTS_DEPTH, changed)
        self.ingest_rate = RateMeter()
        self.processed_rate = RateMeter()
        self.runner: ChannelRunner | None = None
        """The graph runner fed with this channel's frames, while one runs."""
        self.owner: ChannelOwner | None = None
        """The managed stream running this channel's graph, if any (else the server does)."""
        self.lock = asyncio.Lock()
        """Held while the server starts or stops the channel's runner."""

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

    def ingest(self, frame: Frame, reserved: int | None = None) -> None:
        """Takes a frame: keeps it as the latest, shows it raw, and offers it to the runner.

        Timestamps are checked where frames come from (each sender connection, each pulled
        source), not here: a new sender that takes the channel over starts its own timeline.

        Args:
            frame: The frame.
            reserved: Bytes already reserved in the budget for it (None: counted now).
        """
        if reserved is None:
            reserved = len(frame.jpeg)
            self._budget.add(reserved)
        self._budget.release(self._held)
        self._held = reserved
        self.latest = frame
        self.frames += 1
        self.ingest_rate.tick()
        self.raw.publish(frame)
        if self.runner is not None:
            self.runner.inbox.put(frame)

    def publish_processed(self, frame: Frame) -> None:
        """Shows a frame of the graph's video output."""
        self.processed_rate.tick()
        self.processed.publish(frame)

    def publish_result(self, event: bytes) -> None:
        """Sends a result event (JSON) to the ``/results`` viewers."""
        self.results.publish(event)

    def end_processing(self) -> None:
        """Ends the processed and results viewers (after a graph failure)."""
        self.processed.close_all()
        self.results.close_all()

    def end_viewers(self) -> None:
        """Ends every viewer (server shutdown)."""
        self.raw.close_all()
        self.end_processing()

    def forget(self) -> None:
        """Lets go of the latest frame (the server forgets the channel)."""
        self._budget.release(self._held)
        self._held = 0
        self.latest = None

    def idle(self) -> bool:
        """True when nothing needs the channel: no sender, viewer, runner or owner."""
        return self.sender is None and self.viewers() == 0 and self.runner is None \
            and self.owner is None

    def describe(self) -> dict[str, Any]:
        """The channel's ``/streams`` entry."""
        hello = self.hello
        runner = self.runner
        return {
            "name": self.name,
            "connected": self.sender is not None,
            "width": hello.width if hello else None,
            "height": hello.height if hello else None,
            "sender_fps": hello.fps if hello else None,
            "fps": round(self.ingest_rate.rate(), 2),
            "processed_fps": round(self.processed_rate.rate(), 2),
            "processing": runner is not None,
            "worker_pid": runner.worker_pid if runner is not None else None,
            "managed": self.owner.describe() if self.owner is not None else None,
            "frames": self.frames,
            "viewers": {"raw": len(self.raw), "processed": len(self.processed),
                        "results": len(self.results)},
        }
