"""MediaPipe's DefaultInputStreamHandler: timestamp-aligned input sets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mypy_extensions import mypyc_attr

from graphflow.calculator import PortId
from graphflow.packet import Packet
from graphflow.proto.mediapipe.framework.stream_handler import (
    default_input_stream_handler_pb2 as default_pb2,
)
from graphflow.runtime.handlers.base import InputStreamHandler, register_input_stream_handler
from graphflow.runtime.node import DONE, ONE_OVER_POSTSTREAM, InputQueue, Node, Task, TaskKind
from graphflow.timestamp import Timestamp


@mypyc_attr(allow_interpreted_subclasses=True)  # (users' handlers may derive)
class DefaultInputStreamHandler(InputStreamHandler):
    """The packets at the smallest timestamp T, once every other stream either has a packet
    at T or is known to have none (its bound is above T).

    With ``batch_size`` N (DefaultInputStreamHandlerOptions), input sets are held until N are
    ready, then processed in one task, one call each; the sets held when the inputs end are
    processed before the node closes.
    """

    name = "DefaultInputStreamHandler"
    sets_batchable = True

    def __init__(self, node: Node, options: Any,
                 release: Callable[[InputQueue], None]) -> None:
        super().__init__(node, options, release)
        self.batch_size = options or 1
        self.held: list[tuple[Timestamp, list[Packet[Any]]]] = []
        if self.batch_size > 1:  # the scheduler must not take or batch sets itself
            self.batchable = False
            self.sets_batchable = False
        elif type(self).held_timestamp is DefaultInputStreamHandler.held_timestamp:
            self.holds_sets = False  # (this class holds sets only to fill a batch)

    @classmethod
    def parse_options(cls, options: Any, inputs: Sequence[PortId],
                      parse_port: Callable[[str], PortId]) -> Any:
        """The batch_size (MediaPipe's default 1); subclasses parse options of their own."""
        batch_size: int = options.Extensions[default_pb2.DefaultInputStreamHandlerOptions.ext] \
            .batch_size
        if batch_size < 1:
            raise ValueError(f"DefaultInputStreamHandler needs a batch_size of at least 1, got "
                             f"{batch_size}")
        return batch_size

    def select(self) -> Task | None:
        if self.batch_size == 1:
            return self.select_from(self.queues)
        held = self.held
        while len(held) < self.batch_size:
            task = self.select_from(self.queues)
            if task is None:
                break
            assert task.packets is not None
            held.append((task.ts, task.packets))
        if not held or (len(held) < self.batch_size and any(
                q.packets or q.bound < ONE_OVER_POSTSTREAM for q in self.queues)):
            return None
        ts, packets = held[0]
        task = Task(self.node, TaskKind.PROCESS, ts, packets)
        task.sets = held
        self.held = []
        return task

    def held_timestamp(self) -> int:
        return int(self.held[0][0]) if self.held else DONE

    def select_from(self, queues: Sequence[InputQueue]) -> Task | None:
        """The default rule over ``queues`` (all of the node's, or one sync set)."""
        ts: int = DONE  # the smallest queued timestamp
        empty_bound = DONE  # the lowest bound of the streams with nothing queued
        for q in queues:
            if q.packets:
                head = q.packets[0]._timestamp
                if head < ts:
                    ts = head
            elif q.bound < empty_bound:
                empty_bound = q.bound
        if ts == DONE or empty_bound <= ts:
            # Every timestamp below the smaller of the two is decided on all streams.
            return self.bounds_task(min(ts, empty_bound)) if self.node.bounds_mode else None
        self.last_settled = int(ts)
        return self.take(queues, ts)


register_input_stream_handler(DefaultInputStreamHandler)
