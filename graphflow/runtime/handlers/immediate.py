"""MediaPipe's ImmediateInputStreamHandler: every packet as soon as it arrives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mypy_extensions import mypyc_attr

from graphflow.runtime.handlers.base import InputStreamHandler, register_input_stream_handler
from graphflow.runtime.node import (
    DONE,
    MAX,
    ONE_OVER_POSTSTREAM,
    UNSTARTED,
    InputQueue,
    Node,
    Task,
)
from graphflow.timestamp import Timestamp

UNSET = int(Timestamp.UNSET)
PRESTREAM = int(Timestamp.PRESTREAM)


@mypyc_attr(allow_interpreted_subclasses=True)  # (users' handlers may derive)
class ImmediateInputStreamHandler(InputStreamHandler):
    """Each input stream is settled on its own (a sync set of one stream, as in MediaPipe): the
    node is called at the smallest timestamp that any one stream is ready at, with the packets
    of the streams ready there, without waiting for the other streams.

    With ``process_timestamp_bounds``, a stream is also ready at a bound that moved past its
    last call, and a stream that ends gets a call of its own at Timestamp.MAX. Without it, a
    stream that ends brings one call without packets at the smallest bound of the others.
    """

    name = "ImmediateInputStreamHandler"

    def __init__(self, node: Node, options: Any, release: Callable[[InputQueue], None]) -> None:
        super().__init__(node, options, release)
        count = len(self.queues)
        # Per stream: the last timestamp it was ready at (MediaPipe's LastProcessed), and the
        # timestamp it is ready at and not yet called for (UNSET if none; DONE once ended).
        self.processed = [UNSET] * count
        self.ready = [UNSET] * count

    def select(self) -> Task | None:
        bounds_mode = self.node.bounds_mode
        ready = self.ready
        processed = self.processed
        input_ts = DONE
        min_bound = DONE
        became_done = False
        for i, q in enumerate(self.queues):
            ts = ready[i]
            if ts > UNSET:
                if ts < min_bound:
                    min_bound = ts
                if ts < input_ts:
                    input_ts = ts
                continue
            previous = processed[i]
            # Whether stream i is ready now (at ts), else its bound (DONE once it has ended).
            packets = q.packets
            ts = int(packets[0]._timestamp) if packets else q.bound
            if ts >= ONE_OVER_POSTSTREAM:
                # No timestamp is left for it: ended, whether closed or bounded past MAX.
                processed[i] = ts = DONE
                is_ready = False
            elif packets:
                is_ready = not bounds_mode or (ts > previous and ts > UNSTARTED)
            elif bounds_mode and ts - 1 > previous and ts - 1 > UNSTARTED:
                ts -= 1  # ready at the bound's timestamp
                is_ready = True
            else:
                is_ready = False
            if ts < min_bound:
                min_bound = ts
            if is_ready:
                processed[i] = ready[i] = ts
                if ts < input_ts:
                    input_ts = ts
            elif ts == DONE:
                if bounds_mode and previous < MAX:
                    # Its end is processed once, at the timestamp before Done.
                    min_bound = min(min_bound, MAX)
                    input_ts = min(input_ts, MAX)
                    ready[i] = MAX
                else:
                    became_done = became_done or (not bounds_mode and previous < DONE)
                    ready[i] = DONE
        if min_bound == DONE:
            return None  # every stream ended: the node closes
        if input_ts == DONE:
            # Without bounds processing, a stream that ended brings one call without packets
            # at the smallest bound of the others (MediaPipe keeps it for compatibility): at
            # PreStream while one is still unstarted (MediaPipe's initial bound).
            if not became_done:
                return None
            input_ts = max(min_bound, PRESTREAM)
        for i in range(len(ready)):
            if ready[i] == input_ts:
                ready[i] = UNSET
        return self.take(self.queues, input_ts)


register_input_stream_handler(ImmediateInputStreamHandler)
