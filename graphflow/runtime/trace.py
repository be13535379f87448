"""Tracing: calculator calls as Chrome trace events (Perfetto and chrome://tracing read them)."""

from __future__ import annotations

import threading
from typing import Any

from graphflow.timestamp import Timestamp


class Tracer:
    """Collects Chrome trace events (one track per executor thread) while a graph runs.

    Args:
        t0: The time (on the scheduler's clock) that the trace starts from.
    """

    def __init__(self, t0: float) -> None:
        self.events: list[dict[str, Any]] = []
        self._t0 = t0
        self._lock = threading.Lock()

    def record(self, node: str, calculator: str, method: str, ts: Timestamp, start: float,
               end: float) -> None:
        """Adds one complete event: ``node``'s ``method`` ran at ``ts`` from ``start`` to
        ``end`` on the calling thread."""
        event = {"name": node, "cat": method, "ph": "X", "pid": 1,
                 "tid": threading.current_thread().name, "ts": (start - self._t0) * 1e6,
                 "dur": (end - start) * 1e6,
                 "args": {"timestamp": str(ts), "calculator": calculator}}
        with self._lock:
            self.events.append(event)

    def chrome_trace(self) -> dict[str, Any]:
        """The trace as a Chrome/Perfetto ``traceEvents`` document.

        Thread ids are small integers, as the trace-event format wants, each named after its
        executor thread by a ``thread_name`` metadata event.
        """
        threads = sorted({e["tid"] for e in self.events})
        ids = {name: i + 1 for i, name in enumerate(threads)}
        meta = [{"name": "thread_name", "ph": "M", "pid": 1, "tid": ids[t], "args": {"name": t}}
                for t in threads]
        events = [{**e, "tid": ids[e["tid"]]} for e in self.events]
        return {"traceEvents": meta + events, "displayTimeUnit": "ms"}
