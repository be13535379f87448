"""MediaPipe's FixedSizeInputStreamHandler: drops the oldest queued packets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mypy_extensions import mypyc_attr

from graphflow.calculator import PortId
from graphflow.proto.mediapipe.framework.stream_handler import (
    fixed_size_input_stream_handler_pb2 as fixed_size_pb2,
)
from graphflow.runtime.handlers.base import register_input_stream_handler
from graphflow.runtime.handlers.default import DefaultInputStreamHandler
from graphflow.runtime.node import DONE, MAX, MIN, InputQueue, Task
from graphflow.timestamp import Timestamp


@mypyc_attr(allow_interpreted_subclasses=True)  # (users' handlers may derive)
class FixedSizeInputStreamHandler(DefaultInputStreamHandler):
    """Keeps each queue short by dropping its oldest packets; input sets as the default handler.

    Without ``fixed_min_size``, a queue of ``trigger`` or more packets is cut to its ``target``
    newest, a shorter one to ``trigger - 1``; the cut timestamp only moves forward and applies to
    every input stream (late packets below it are dropped too). With ``fixed_min_size``, queues
    are cut, each to its ``target`` newest, only once all of them hold ``trigger`` packets.
    """

    name = "FixedSizeInputStreamHandler"
    sets_batchable = False
    drops_packets = True
    batchable = False

    def __init__(self, node: Any, options: tuple[int, int, bool],
                 release: Callable[[InputQueue], None]) -> None:
        super().__init__(node, None, release)
        self.trigger, self.target, self.fixed_min = options
        self.kept = int(Timestamp.UNSET)  # packets below it are dropped

    @classmethod
    def parse_options(cls, options: Any, inputs: Sequence[PortId],
                      parse_port: Callable[[str], PortId]) -> tuple[int, int, bool]:
        """(trigger_queue_size, target_queue_size, fixed_min_size); MediaPipe's defaults are
        2, 1 and false."""
        opts = options.Extensions[fixed_size_pb2.FixedSizeInputStreamHandlerOptions.ext]
        if opts.trigger_queue_size < 1 or opts.target_queue_size < 1:
            raise ValueError(f"FixedSizeInputStreamHandler needs trigger_queue_size and "
                             f"target_queue_size of at least 1, got {opts.trigger_queue_size} "
                             f"and {opts.target_queue_size}")
        return opts.trigger_queue_size, opts.target_queue_size, opts.fixed_min_size

    def select(self) -> Task | None:
        # MediaPipe recomputes the cut, keeping one processable timestamp, when it fills an
        # input set: the bound of the least advanced stream, taken before the packets go.
        least = DONE
        for q in self.queues:
            least = min(least, int(q.packets[-1]._timestamp.next_allowed_in_stream())
                        if q.packets else q.bound)
        task = self.select_from(self.queues)
        if task is not None and task.packets and any(not p.is_empty for p in task.packets):
            self.kept = min(self.kept, least - 1 if MIN <= least <= MAX else least)
        return task

    def erase_surplus(self) -> None:
        trigger, target = self.trigger, self.target
        queues = self.queues
        if self.fixed_min:
            cut = MAX
            for q in queues:
                if len(q.packets) < trigger:
                    return
                cut = min(cut, int(q.packets[max(0, len(q.packets) - target)]._timestamp))
        else:
            for q in queues:
                size = len(q.packets)
                limit = target if size >= trigger else trigger - 1
                if size > limit:
                    newest_dropped = q.packets[size - limit - 1]._timestamp
                    self.kept = max(self.kept, int(newest_dropped.next_allowed_in_stream()))
            cut = self.kept
        for q in queues:
            packets = q.packets
            if packets and packets[0]._timestamp < cut:
                while packets and packets[0]._timestamp < cut:
                    packets.popleft()
                if q.full:
                    self.release(q)


register_input_stream_handler(FixedSizeInputStreamHandler)
