"""CalculatorGraph: MediaPipe's graph API in Python."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import queue
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from graphflow.calculator import Calculator, CalculatorContext, Port, did_you_mean
from graphflow.config import (
    ConfigError,
    GraphConfig,
    Location,
    NodeLocations,
    NodeSpec,
    StreamSpec,
    ValidatedGraph,
    expand_and_validate,
    load_config,
)
from graphflow.packet import Packet
from graphflow.proto.mediapipe.framework import thread_pool_executor_pb2
from graphflow.runtime import Clock, GraphCancelledError, GraphError, Scheduler, default_num_threads
from graphflow.timestamp import Timestamp

Observer = Callable[[str, Packet[Any]], None]
_END: Any = object()


class OutputStreamPoller:
    """Iterates over the packets of one output stream as they arrive.

    Example:
        poller = graph.add_output_stream_poller("out")
        graph.start_run()
        ...
        for packet in poller:   # ends when the stream closes
            print(packet.timestamp, packet.payload)
    """

    def __init__(self, stream: str, max_queue_size: int,
                 run_while_waiting: Callable[[Callable[[], bool], float | None], float | None],
                 ) -> None:
        self.stream = stream
        self._queue: queue.Queue[Any] = queue.Queue(max_queue_size)
        self._error: BaseException | None = None
        self._ended = False
        self._closing = False
        # Lets next() run the graph's tasks that lead to this stream while it waits
        # (Scheduler.run_while_waiting).
        self._run_while_waiting = run_while_waiting

    def _put(self, item: Any, cancelled: threading.Event) -> None:
        while not cancelled.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _finish(self, error: BaseException | None) -> None:
        """Ends the stream (never blocks: a full queue ends once it is drained)."""
        self._error = error
        self._closing = True
        try:
            self._queue.put_nowait(_END)
        except queue.Full:
            pass

    def next(self, timeout: float | None = None) -> Packet[Any] | None:
        """The next packet, or None once the stream has ended.

        While it waits, the calling thread runs the graph's ready tasks that lead to this
        stream (docs/calculators.md, Threads); ``timeout`` is checked between them.

        Raises:
            TimeoutError: If nothing arrives within ``timeout`` seconds.
            GraphError: If the graph failed.
        """
        if self._ended or (self._closing and self._queue.empty()):
            self._end()
            return None
        wait = timeout
        if self._queue.empty():
            wait = self._run_while_waiting(lambda: not self._queue.empty() or self._closing,
                                           timeout)
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            raise TimeoutError(f"no packet on {self.stream!r} within {timeout} s") from None
        if item is _END:
            self._end()
            return None
        return item  # type: ignore[no-any-return]

    def _end(self) -> None:
        """Marks the stream ended; the first time, raises the run's error if it failed."""
        first = not self._ended
        self._ended = True
        if first and self._error is not None:
            raise self._error

    def queue_size(self) -> int:
        """How many packets wait to be taken."""
        return self._queue.qsize()

    def __iter__(self) -> Iterator[Packet[Any]]:
        while (packet := self.next()) is not None:
            yield packet


def _sink_calculator(stream: str, deliver: Callable[[Packet[Any]], None],
                     finish: Callable[[], None]) -> type[Calculator]:
    """An internal node class that hands each packet of ``stream`` to ``deliver``."""

    class _OutputSink(Calculator):
        inputs = (Port(""),)

        def process(self, cc: CalculatorContext) -> None:
            deliver(cc.inputs[0])

        def close(self, cc: CalculatorContext) -> None:
            finish()

    _OutputSink.__name__ = f"OutputSink[{stream}]"
    return _OutputSink


class CalculatorGraph:
    """A graph of calculators, run from Python (MediaPipe's ``CalculatorGraph``).

    Args:
        graph_config: pbtxt text, a ``CalculatorGraphConfig`` message, or a loaded
            :class:`~graphflow.config.GraphConfig`.
        synchronous: Run every CPU calculator on the calling thread (inside
            ``add_packet_to_input_stream``, ``wait_until_idle`` and ``wait_until_done``), which
            makes stepping through calculators with pdb possible.
        clock: The scheduler's clock; tests pass a
            :class:`~graphflow.testing.SimulationClock` to control the time its thread
            placement rules see (default: the wall clock).

    Raises:
        ConfigError: If the config does not parse or validate (with file:line:col).

    Example:
        graph = CalculatorGraph(graph_config='''
            input_stream: "in"
            output_stream: "out"
            node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
        ''')
        out = []
        graph.observe_output_stream("out", lambda name, packet: out.append(packet.payload))
        graph.start_run()
        graph.add_packet_to_input_stream("in", Packet(1).at(0))
        graph.close()
    """

    def __init__(self, graph_config: str | GraphConfig | Any = None, *,
                 synchronous: bool = False, clock: Clock | None = None) -> None:
        if graph_config is None:
            raise ValueError("CalculatorGraph needs a graph_config (pbtxt text, a "
                             "CalculatorGraphConfig, or use CalculatorGraph.from_file(path))")
        config = graph_config if isinstance(graph_config, GraphConfig) else \
            load_config(graph_config)
        self.config = config
        self.validated: ValidatedGraph = expand_and_validate(config)
        self.synchronous = synchronous or any(
            e.type == "ApplicationThreadExecutor" for e in config.proto.executor if not e.name)
        self._sinks: list[tuple[str, Callable[[Packet[Any]], None], Callable[[], None]]] = []
        self._clock = clock
        self._scheduler: Scheduler | None = None
        # What nodes with side packets only made, for the next runs (Scheduler.constant_nodes).
        self._constant_nodes: dict[int, tuple[dict[Any, Any], dict[str, Any]]] = {}
        self._input_queue_sizes: dict[str, int] = {}
        self._cancelled = threading.Event()
        self._trace_path: str | None = None
        self.trace_file: pathlib.Path | None = None  # where the last run's trace was written
        profiler = config.proto.profiler_config
        if profiler.trace_enabled:
            self._trace_path = profiler.trace_log_path or "graphflow_trace.json"

    @classmethod
    def from_file(cls, path: str | pathlib.Path, **kwargs: Any) -> CalculatorGraph:
        """Loads a graph from a ``.pbtxt`` or ``.binarypb`` file."""
        return cls(load_config(pathlib.Path(path)), **kwargs)

    # ------------------------------------------------------------------ outputs

    @property
    def stream_names(self) -> list[str]:
        """Every stream of the expanded graph."""
        return sorted(self.validated.producers)

    def _check_stream(self, name: str) -> None:
        if name not in self.validated.producers:
            raise ValueError(f"the graph has no stream {name!r}"
                             + did_you_mean(name, self.stream_names))
        if self._scheduler is not None:
            raise RuntimeError("observe output streams before start_run()")

    def observe_output_stream(self, stream_name: str, callback: Observer) -> None:
        """Calls ``callback(stream_name, packet)`` for every packet of the stream, in order.

        Callbacks run on the graph's threads, one at a time per stream (never on the caller's
        thread outside synchronous mode, not even while it waits for the graph).
        """
        self._check_stream(stream_name)
        self._sinks.append((stream_name, lambda p: callback(stream_name, p), lambda: None))

    def add_output_stream_poller(self, stream_name: str, max_queue_size: int = 0
                                 ) -> OutputStreamPoller:
        """A poller that iterates over the stream's packets (``max_queue_size`` 0: unbounded)."""
        self._check_stream(stream_name)
        sink = len(self.validated.nodes) + len(self._sinks)  # its node's index (_with_sinks)

        def run_while_waiting(until: Callable[[], bool], timeout: float | None
                              ) -> float | None:
            scheduler = self._scheduler
            if scheduler is None or scheduler.done:
                return timeout
            return scheduler.run_while_waiting(until, sink, timeout)

        poller = OutputStreamPoller(stream_name, max_queue_size, run_while_waiting)
        cancelled = self._cancelled

        def finish() -> None:
            scheduler = self._scheduler
            poller._finish(None if scheduler is None or cancelled.is_set() else scheduler.error)

        self._sinks.append((stream_name, lambda p: poller._put(p, cancelled), finish))
        return poller

    def set_input_stream_max_queue_size(self, stream_name: str, max_queue_size: int) -> None:
        """Gives the queues that graph input ``stream_name`` feeds their own limit (the graph's
        ``max_queue_size`` for the others), from the next run on.

        Raises:
            ValueError: If ``stream_name`` is not a graph input stream, or the size is not
                positive.
        """
        names = [s.name for s in self.validated.input_streams]
        if stream_name not in names:
            raise ValueError(f"{stream_name!r} is not an input stream of the graph"
                             + did_you_mean(stream_name, names))
        if max_queue_size <= 0:
            raise ValueError(f"max_queue_size must be positive, not {max_queue_size}")
        self._input_queue_sizes[stream_name] = max_queue_size

    # ------------------------------------------------------------------ running

    def start_run(self, side_packets: Mapping[str, Any] | None = None) -> None:
        """Starts a run with the given input side packets (payloads or Packets).

        Raises:
            ValueError: If a side packet the graph needs is missing.
            RuntimeError: If a run is already going.
        """
        if self._scheduler is not None and not self._scheduler.done:
            raise RuntimeError("the graph is already running; wait_until_done() first")
        values = {k: (v.payload if isinstance(v, Packet) else v)
                  for k, v in (side_packets or {}).items()}
        missing = {k: v for k, v in self.validated.required_side_packets().items()
                   if k not in values}
        if missing:
            lines = [f"'{name}' (needed by node {nodes[0].name!r} at {nodes[0].location})"
                     for name, nodes in missing.items()]
            raise ValueError("missing input side packet(s): " + "; ".join(lines))
        self._cancelled.clear()
        graph = self._with_sinks()
        proto = self.config.proto
        executor_threads = {}
        num_threads = proto.num_threads or default_num_threads()
        ext = thread_pool_executor_pb2.ThreadPoolExecutorOptions.ext
        for e in proto.executor:
            threads = e.options.Extensions[ext].num_threads if e.options.HasExtension(ext) \
                else 0
            if e.name:
                executor_threads[e.name] = threads or default_num_threads()
            elif threads:
                num_threads = threads
        max_queue = proto.max_queue_size if proto.max_queue_size else 100
        scheduler = Scheduler(graph, values, synchronous=self.synchronous,
                              max_queue_size=max_queue, num_threads=num_threads,
                              executor_threads=executor_threads,
                              trace=self._trace_path is not None,
                              constant_nodes=self._constant_nodes,
                              input_queue_sizes=self._input_queue_sizes,
                              report_deadlock=proto.report_deadlock,
                              sinks=range(len(self.validated.nodes), len(graph.nodes)),
                              **({"clock": self._clock} if self._clock is not None else {}))
        self._scheduler = scheduler
        scheduler.start()

    def _with_sinks(self) -> ValidatedGraph:
        if not self._sinks:
            return self.validated
        nodes = list(self.validated.nodes)
        for stream, deliver, finish in self._sinks:
            calc = _sink_calculator(stream, deliver, finish)
            index = len(nodes)
            nodes.append(NodeSpec(
                index, f"__sink_{index}_{stream}", calc, inputs=[StreamSpec("", 0, stream)],
                outputs=[], side_inputs=[], side_outputs=[], back_edges=set(), options=None,
                handler="DefaultInputStreamHandler", executor="", max_in_flight=1,
                where=NodeLocations(Location("<observer>"))))
        return dataclasses.replace(self.validated, nodes=nodes)

    def _running(self) -> Scheduler:
        if self._scheduler is None:
            raise RuntimeError("the graph is not running: call start_run() first")
        return self._scheduler

    def add_packet_to_input_stream(self, stream_name: str, packet: Packet[Any]) -> None:
        """Adds a packet to a graph input stream; waits while the graph is throttled.

        Raises:
            GraphError: If the graph has failed.
            ValueError: For an unknown stream or a timestamp that does not increase.
        """
        scheduler = self._scheduler
        if scheduler is None or stream_name not in scheduler.input_keys:
            scheduler = self._input_stream(stream_name)  # (raises the error that applies)
        scheduler.add_packet(stream_name, packet, True)

    def try_add_packet_to_input_stream(self, stream_name: str, packet: Packet[Any]) -> bool:
        """Adds a packet unless the stream's consumers are full (MediaPipe's add-if-not-full).

        Returns:
            True if added, False if dropped because the graph is throttled.
        """
        return self._input_stream(stream_name).add_packet(stream_name, packet, block=False)

    def _input_stream(self, stream_name: str) -> Scheduler:
        """The running scheduler, once ``stream_name`` is known to be a graph input stream."""
        scheduler = self._running()
        if stream_name not in scheduler.input_names:
            raise ValueError(f"{stream_name!r} is not an input stream of the graph"
                             + did_you_mean(stream_name, scheduler.input_names))
        return scheduler

    def set_input_stream_timestamp_bound(self, stream_name: str, timestamp: int) -> None:
        """Promises that no packet below ``timestamp`` will follow on a graph input stream, so
        that the nodes waiting on it can go on (MediaPipe's SetInputStreamTimestampBound).

        Raises:
            ValueError: For an unknown or closed stream, or a bound below the stream's
                (its last packet's timestamp + 1, or the bound set before).
            GraphError: If the graph has failed.
        """
        self._input_stream(stream_name).set_input_bound(stream_name, Timestamp(timestamp))

    def close_input_stream(self, stream_name: str) -> None:
        """Closes one graph input stream: no packet will follow."""
        self._input_stream(stream_name).close_inputs([stream_name])

    def input_stream_closed(self, stream_name: str) -> bool:
        """True once the graph input stream is closed (by the caller, or by a node's Stop)."""
        return self._running().input_closed(stream_name)

    def close_all_input_streams(self) -> None:
        """Closes every graph input stream."""
        scheduler = self._running()
        scheduler.close_inputs(scheduler.input_names)

    def wait_until_idle(self, timeout: float | None = None) -> None:
        """Waits until no calculator is running or ready to run.

        While it waits, the calling thread runs ready tasks of the default pool, observers' and
        pollers' deliveries excepted (docs/calculators.md, Threads); ``timeout`` is checked
        between them.

        Raises:
            GraphError: If the graph failed.
            TimeoutError: If ``timeout`` seconds pass first.
        """
        scheduler = self._running()
        scheduler.wait_idle(timeout)
        if scheduler.error is not None:
            raise scheduler.error

    def wait_until_done(self, timeout: float | None = None) -> None:
        """Waits until every node has closed, then releases the run's threads.

        Call ``close_all_input_streams()`` first if the graph has input streams.

        Raises:
            GraphCancelledError: If the run was cancelled (and had not failed before).
            GraphError: The first node failure, naming node, method, timestamp and config line.
            TimeoutError: If ``timeout`` seconds pass first.
        """
        scheduler = self._running()
        scheduler.wait_done(timeout)
        self._finish(scheduler)
        if scheduler.error is not None:
            raise scheduler.error

    def _finish(self, scheduler: Scheduler) -> None:
        scheduler.shutdown()
        trace = scheduler.trace()
        if trace is not None and self._trace_path:
            path = pathlib.Path(self._trace_path)
            if path.suffix != ".json":
                path = path / "graphflow_trace.json" if path.is_dir() else \
                    path.with_name(path.name + "trace.json")
            path.write_text(json.dumps(trace))
            self.trace_file = path

    def close(self) -> None:
        """Closes all inputs and waits until done (raises the run's error, if any)."""
        if self._scheduler is None:
            return
        if not self._scheduler.done:
            self.close_all_input_streams()
        self.wait_until_done()

    def cancel(self) -> None:
        """Aborts the run: pending packets are dropped, nodes are closed, threads end.

        ``wait_until_done`` then raises :class:`GraphCancelledError` (or the error the run had
        failed with before), as MediaPipe's WaitUntilDone returns a Cancelled status. Nothing
        changes for a run that is over."""
        scheduler = self._running()
        if not scheduler.done:
            self._cancelled.set()
        scheduler.cancel()

    def pause(self) -> None:
        """Lets the calls running end but starts no other until :meth:`resume` (ignored once
        the run has failed, been cancelled or ended). Packets can still be added: they wait,
        throttled as usual. Tasks of external executors (GL contexts) already handed to them
        still run."""
        self._running().pause()

    def resume(self) -> None:
        """Runs what became ready while paused, and goes on."""
        self._running().resume()

    def close_all_packet_sources(self) -> None:
        """Closes every graph input stream and ends every source node, so that the run ends
        once the packets already sent are through (MediaPipe's CloseAllPacketSources)."""
        self._running().close_sources()

    def get_output_side_packet(self, name: str) -> Any:
        """The payload of side packet ``name`` in the current (or last) run: one a node has
        set, or an input side packet of the run.

        Raises:
            KeyError: If the graph has no such side packet, or it has not been set (yet).
        """
        if name not in self.validated.side_producers:
            raise KeyError(f"the graph has no side packet {name!r}"
                           + did_you_mean(name, sorted(self.validated.side_producers)))
        side_packets = self._running().side_packets
        if name not in side_packets:
            raise KeyError(f"side packet {name!r} is not available (yet) in this run")
        return side_packets[name]

    def has_error(self) -> bool:
        """True if a node has failed in this run."""
        return self._scheduler is not None and self._scheduler.error is not None

    def set_trace_path(self, path: str | pathlib.Path) -> None:
        """Writes a Chrome trace (Perfetto opens it) of the next run to ``path``."""
        self._trace_path = str(path)

    def queue_sizes(self) -> dict[str, int]:
        """Packets waiting at each node's inputs (for progress displays)."""
        return {name: size for name, size in self._running().queue_sizes().items()
                if not name.startswith("__sink_")}

    def __enter__(self) -> CalculatorGraph:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._scheduler is None:
            return
        if exc_type is not None and not self._scheduler.done:
            self.cancel()
        try:
            self.close()
        except GraphError:
            if exc_type is None:
                raise


__all__ = ["CalculatorGraph", "ConfigError", "GraphCancelledError", "GraphConfig", "GraphError",
           "OutputStreamPoller", "Timestamp"]
