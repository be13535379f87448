"""MediaPipe's SyncSetInputStreamHandler: default alignment within each set of streams."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mypy_extensions import mypyc_attr

from graphflow.calculator import PortId
from graphflow.proto.mediapipe.framework.stream_handler import (
    sync_set_input_stream_handler_pb2 as sync_pb2,
)
from graphflow.runtime.handlers.base import register_input_stream_handler
from graphflow.runtime.handlers.default import DefaultInputStreamHandler
from graphflow.runtime.node import InputQueue, Task


@mypyc_attr(allow_interpreted_subclasses=True)  # (users' handlers may derive)
class SyncSetInputStreamHandler(DefaultInputStreamHandler):
    """The streams fall into sync sets (those the options list, then one of the rest); an input
    set is the default handler's over one sync set, the first set that has one."""

    name = "SyncSetInputStreamHandler"
    sets_batchable = False

    def __init__(self, node: Any, options: list[list[PortId]],
                 release: Callable[[InputQueue], None]) -> None:
        super().__init__(node, None, release)
        self.sync_sets = [[self.queues[node.input_ids[p]] for p in group] for group in options]

    @classmethod
    def parse_options(cls, options: Any, inputs: Sequence[PortId],
                      parse_port: Callable[[str], PortId]) -> list[list[PortId]]:
        ext = sync_pb2.SyncSetInputStreamHandlerOptions.ext
        sets: list[list[PortId]] = []
        used: set[PortId] = set()
        if options.HasExtension(ext):
            for sync_set in options.Extensions[ext].sync_set:
                group = []
                for tag_index in sync_set.tag_index:
                    port = parse_port(tag_index)
                    if port not in inputs or port in used:
                        raise ValueError(f"sync_set names {tag_index!r}, which is not an unused "
                                         "input stream of the node")
                    used.add(port)
                    group.append(port)
                sets.append(group)
        rest = [port for port in inputs if port not in used]
        if rest:
            sets.append(rest)
        return sets

    def select(self) -> Task | None:
        for group in self.sync_sets:
            task = self.select_from(group)
            if task is not None:
                return task
        return None


register_input_stream_handler(SyncSetInputStreamHandler)
