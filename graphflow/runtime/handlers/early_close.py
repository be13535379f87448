"""MediaPipe's EarlyCloseInputStreamHandler: the default rule, but the node closes as soon as any
input stream is done."""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from graphflow.runtime.handlers.base import register_input_stream_handler
from graphflow.runtime.handlers.default import DefaultInputStreamHandler
from graphflow.runtime.node import DONE, Task


@mypyc_attr(allow_interpreted_subclasses=True)  # (users' handlers may derive)
class EarlyCloseInputStreamHandler(DefaultInputStreamHandler):
    """Timestamp-aligned sets, as the default handler makes them, until one input stream has
    ended with nothing queued: then the node closes (whatever the others still hold), so that a
    node fed back through a loop does not wait for its own output to end. Calls are made for
    packets only, never for bounds alone."""

    name = "EarlyCloseInputStreamHandler"
    closes_early = True

    def ready_for_close(self) -> bool:
        if not any(q.bound == DONE and not q.packets for q in self.queues):
            return False
        # What the other inputs still hold is never processed: drop it, so that it does not
        # keep throttling their producers.
        for q in self.queues:
            q.packets.clear()
            if q.full:
                self.release(q)
        return True

    def select(self) -> Task | None:
        # (While every input is open, none has ended: no need to look.)
        if self.node.open_inputs < len(self.queues) and self.ready_for_close():
            return None
        return super().select()

    def bounds_task(self, settled: int) -> Task | None:
        return None


register_input_stream_handler(EarlyCloseInputStreamHandler)
