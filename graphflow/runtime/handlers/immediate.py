"""MediaPipe's ImmediateInputStreamHandler: every packet as soon as it arrives."""

from __future__ import annotations

from typing import Any

from graphflow.calculator import EMPTY_PACKET
from graphflow.runtime.handlers.base import InputStreamHandler, register_input_stream_handler
from graphflow.runtime.node import DONE, MAX, Task
from graphflow.timestamp import Timestamp


@register_input_stream_handler
class ImmediateInputStreamHandler(InputStreamHandler):
    """The packets at the smallest queued timestamp, from every stream that has one there,
    without waiting for the other streams."""

    name = "ImmediateInputStreamHandler"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen_bounds: list[int] = []  # the bounds the last bounds-only call saw

    def select(self) -> Task | None:
        queues = self.queues
        ts = DONE
        for q in queues:
            if q.packets and q.packets[0]._timestamp < ts:
                ts = q.packets[0]._timestamp
        if ts != DONE:
            return self.take(queues, ts)
        node = self.node
        settled = min(q.bound for q in queues)
        if settled == DONE:
            # Every stream is done: MediaPipe's immediate handler makes one last call at the
            # timestamp before Done (Timestamp.MAX), where every bound reads Done.
            if not node.bounds_mode or self.last_settled >= MAX:
                return None
            self.last_settled = MAX
            return self.task(Timestamp.MAX, [EMPTY_PACKET] * len(queues))
        task = self.bounds_task(settled)
        bounds = [q.bound for q in queues]
        if task is None and node.bounds_mode and bounds != self.seen_bounds and \
                Timestamp(self.last_settled).is_range_value():
            # A stream's bound moved but not the slowest one (e.g. MAIN closed while a back
            # edge lags): the calculator sees the new bounds, as in MediaPipe.
            task = self.task(Timestamp(self.last_settled), [EMPTY_PACKET] * len(queues))
        if task is not None:
            self.seen_bounds = bounds
        return task
