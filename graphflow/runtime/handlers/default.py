"""MediaPipe's DefaultInputStreamHandler: timestamp-aligned input sets."""

from __future__ import annotations

from collections.abc import Sequence

from graphflow.runtime.handlers.base import InputStreamHandler, register_input_stream_handler
from graphflow.runtime.node import DONE, InputQueue, Task


@register_input_stream_handler
class DefaultInputStreamHandler(InputStreamHandler):
    """The packets at the smallest timestamp T, once every other stream either has a packet
    at T or is known to have none (its bound is above T)."""

    name = "DefaultInputStreamHandler"
    sets_batchable = True

    def select(self) -> Task | None:
        return self.select_from(self.queues)

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
