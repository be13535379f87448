"""The run-time core: one coordinator owns all scheduling state; executors run the work.

The :class:`Scheduler` holds every queue, bound and node state behind one lock. A task (open,
process, close of one node) is handed to the node's executor; whoever runs it (a pool thread,
a GL context thread, or the caller in synchronous mode) calls :meth:`Scheduler._complete` with
the result, which propagates packets and bounds, updates throttling and hands out the tasks that
became ready. A pool thread keeps the lock between finishing one task and taking the next, so a
chain of cheap nodes costs one lock round trip per hop.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from graphflow.calculator import (
    EMPTY_PACKET,
    Calculator,
    CalculatorContext,
    PortId,
    Stop,
    _Inputs,
    _SideInputs,
    _SideOutputs,
    port_lookup,
)
from graphflow.config import NodeSpec, ValidatedGraph
from graphflow.packet import Packet
from graphflow.timestamp import Timestamp

logger = logging.getLogger(__name__)

DONE = int(Timestamp.DONE)
UNSTARTED_VALUE = int(Timestamp.UNSTARTED)
_MIN_VALUE = int(Timestamp.MIN)
_MAX_VALUE = int(Timestamp.MAX)
_ONE_OVER_POSTSTREAM_VALUE = int(Timestamp.ONE_OVER_POSTSTREAM)
UNSTARTED = Timestamp.UNSTARTED
_OPEN, _PROCESS, _CLOSE = "open", "process", "close"
_MAX_BATCH = 32  # queued packets one task may process for a one-input node
# A task expected to run at least this long (seconds) is worth a second pool thread: waking
# one and handing the GIL over costs tens of microseconds on the critical thread, more than a
# short task saves by running beside it.
_WAKE_COST = 150e-6
# A task left for a busy thread can still wait behind a call that blocks far longer than its
# node's history promised: idle threads look every _IDLE_CHECK seconds and take a ready task
# when every busy thread has been in its current call for _STALE seconds.
_IDLE_CHECK = 0.01
_STALE = 0.002
# After this many seconds with nothing running, idle threads stop looking and sleep until
# woken; a task then left for a busy thread wakes one of them first.
_QUIET = 1.0


class GraphError(RuntimeError):
    """A node failed; the message names the node, method, timestamp and config line."""

    def __init__(self, message: str, node: str | None = None, method: str | None = None,
                 timestamp: Timestamp | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.method = method
        self.timestamp = timestamp


class ExternalExecutor(Protocol):
    """An executor owned outside the pool, such as a GL context thread."""

    def submit(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the executor's thread, in submission order, without blocking."""

    def shutdown(self) -> None:
        """Finishes queued work, releases resources and joins the thread."""


ExecutorFactory = Callable[[str], ExternalExecutor]
_EXECUTOR_FACTORIES: dict[str, ExecutorFactory] = {}


def register_executor_factory(prefix: str, factory: ExecutorFactory) -> None:
    """Lets nodes name executors ``prefix`` or ``prefix:<name>`` (e.g. ``gl:render``)."""
    _EXECUTOR_FACTORIES[prefix] = factory


class _Queue:
    """One input stream of one node: its pending packets and its timestamp bound."""

    __slots__ = ("bound", "full", "node", "packets", "slot")

    def __init__(self, node: _Node, slot: int) -> None:
        self.packets: collections.deque[Packet[Any]] = collections.deque()
        self.bound = UNSTARTED_VALUE
        self.node = node
        self.slot = slot
        self.full = False


class _Stream:
    """An output stream: where its packets go and how far it has advanced."""

    __slots__ = ("bound", "consumers", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.consumers: list[_Queue] = []
        self.bound = UNSTARTED_VALUE


class _Executor:
    """Ready tasks for one executor, run by pool threads, an external thread, or the caller."""

    def __init__(self, name: str, lock: threading.Lock, threads: int,
                 external: ExternalExecutor | None = None) -> None:
        self.name = name
        self.ready: collections.deque[_Task] = collections.deque()
        self.cond = threading.Condition(lock)
        self.threads_wanted = threads
        self.threads: list[threading.Thread] = []
        self.idle = 0
        self.sleepers = 0  # idle threads that are not looking for stuck ones
        self.started: dict[int, float] = {}  # busy pool thread -> when its call began
        self.external = external


class _Node:
    """The run-time state of one calculator node (guarded by the scheduler lock)."""

    def __init__(self, spec: NodeSpec, executor: _Executor) -> None:
        self.spec = spec
        self.name = spec.name
        self.executor = executor
        self.calc: Calculator | None = None
        self.context: CalculatorContext | None = None
        self.queues = [_Queue(self, i) for i in range(len(spec.inputs))]
        self.input_ids = {s.port: i for i, s in enumerate(spec.inputs)}
        self.input_lookup = port_lookup(self.input_ids)
        self.output_ids = {s.port: i for i, s in enumerate(spec.outputs)}
        self.output_specs = [(s.name, _port_type(spec.calculator.outputs, s.tag))
                             for s in spec.outputs]
        self.streams: list[_Stream] = []
        self.is_source = not spec.inputs and bool(spec.outputs)
        self.state = "new"  # new -> opening -> open -> closing -> closed
        self.in_flight = 0
        self.max_in_flight = spec.max_in_flight
        self.next_seq = 0
        self.apply_seq = 0
        self.finished: dict[int, _Task] = {}
        self.offset = spec.calculator.timestamp_offset
        self.bounds_mode = spec.calculator.process_timestamp_bounds
        self.last_settled = UNSTARTED_VALUE
        self.seen_bounds: list[int] = []  # immediate handler: the bounds its last call saw
        self.handler = spec.handler
        self.sync_sets = [[self.input_ids[p] for p in group] for group in spec.sync_sets]
        self.fixed_size = spec.fixed_size
        self.kept = int(Timestamp.UNSET)  # FixedSizeInputStreamHandler: packets below are dropped
        self.side_values: dict[PortId, Any] = {}
        self.side_outputs = _SideOutputs({s.port: s.name for s in spec.side_outputs})
        self.upstream: frozenset[str] = frozenset()
        self.throttle_key = f"node:{spec.index}"  # a source's key in Scheduler.throttle
        self.throttled = False
        # Running mean of one task's time (seconds); until measured, assume a long one.
        self.cost = _WAKE_COST

        self.open_inputs = len(self.queues)
        # One input and nothing that needs bounds or drops: the input set is simply the next
        # packet (and a batch of them is one task).
        self.single = len(self.queues) == 1 and not self.bounds_mode and \
            spec.fixed_size is None

    def inputs_done(self) -> bool:
        return self.open_inputs == 0 and not any(q.packets for q in self.queues)


class _Task:
    __slots__ = ("batch", "bounds", "cc", "error", "kind", "node", "packets", "seq", "stopped",
                 "ts")
    seq: int  # set only for nodes with max_in_flight > 1
    stopped: bool

    def __init__(self, node: _Node, kind: str, ts: Timestamp, packets: list[Packet[Any]] | None,
                 bounds: list[int] | None = None, batch: list[Packet[Any]] | None = None) -> None:
        self.node = node
        self.kind = kind
        self.ts = ts
        self.packets = packets
        self.bounds = bounds
        self.batch = batch
        self.cc: CalculatorContext | None = None
        self.error: BaseException | None = None


def _worth_waking(executor: _Executor, task: _Task) -> bool:
    """Whether a pool thread that cannot run every ready task itself wakes an idle one.

    ``task`` is the one at issue: the one it starts (leaving the rest) or the one it just made
    ready. Only a long task is worth it (a short one is over before a woken thread would hold
    the GIL), unless every idle thread sleeps: otherwise one of them watches for stuck work
    (_idle_wait).
    """
    return task.node.cost >= _WAKE_COST or executor.sleepers == executor.idle


def _input_key(name: str) -> str:
    """Graph input stream ``name``'s key in Scheduler.throttle (a source's: throttle_key)."""
    return f"input:{name}"


def _port_type(ports: Any, tag: str) -> Any:
    for p in ports:
        if p.tag == tag or p.tag == "*":
            return p.type
    return object


class _BoundInputs(_Inputs):
    """Inputs that also tell each stream's timestamp bound (for process_timestamp_bounds)."""

    __slots__ = ("_bounds",)

    def __init__(self, ids: dict[PortId, int], packets: list[Packet[Any]], bounds: list[int],
                 lookup: dict[Any, int]) -> None:
        super().__init__(ids, packets, lookup)
        self._bounds = bounds

    def bound(self, key: str | int | PortId) -> Timestamp:
        """The stream's next possible timestamp as of this invocation."""
        return Timestamp(self._bounds[self._index(key)])


class Tracer:
    """Collects Chrome trace events (one track per executor thread) while a graph runs."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._t0 = time.perf_counter()
        self._lock = threading.Lock()

    def record(self, task: _Task, start: float, end: float) -> None:
        """Adds one complete event for a task that ran from ``start`` to ``end``."""
        event = {"name": task.node.name, "cat": task.kind, "ph": "X", "pid": 1,
                 "tid": threading.current_thread().name, "ts": (start - self._t0) * 1e6,
                 "dur": (end - start) * 1e6,
                 "args": {"timestamp": str(task.ts),
                          "calculator": task.node.spec.calculator.__name__}}
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


class Scheduler:
    """Runs one graph run: owns the queues, bounds, node states and executors."""

    def __init__(self, graph: ValidatedGraph, side_packets: dict[str, Any], *,
                 synchronous: bool, max_queue_size: int, num_threads: int,
                 executor_threads: dict[str, int], tracer: Tracer | None) -> None:
        self.graph = graph
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.synchronous = synchronous
        self.max_queue = max_queue_size if max_queue_size > 0 else 1 << 62
        # A batch never holds more than half a queue, so that batching keeps within the
        # memory that max_queue_size promises.
        self.max_batch = max(1, min(_MAX_BATCH, self.max_queue // 2))
        self.tracer = tracer
        self.error: GraphError | None = None
        self.running = 0
        self.all_open = False
        self.done = False
        self.side_packets: dict[str, Any] = dict(side_packets)
        self.throttle: dict[str, int] = collections.defaultdict(int)
        self.executors: dict[str, _Executor] = {}
        default_threads = 0 if synchronous else num_threads
        self.executors[""] = _Executor("default", self.lock, default_threads)
        for name, threads in executor_threads.items():
            self.executors[name] = _Executor(name, self.lock, 0 if synchronous else threads)
        self.nodes = [_Node(spec, self._executor_for(spec)) for spec in graph.nodes]
        self.streams: dict[str, _Stream] = {}
        for node in self.nodes:
            for s in node.spec.outputs:
                stream = _Stream(s.name)
                self.streams[s.name] = stream
                node.streams.append(stream)
        self.graph_inputs: dict[str, _Stream] = {}
        self.inbox: collections.deque[tuple[str, Packet[Any]]] = collections.deque()
        self.input_lock = threading.Lock()
        self.closed_inputs: set[str] = set()
        self.added_bound: dict[str, int] = {}
        for s in graph.input_streams:
            stream = _Stream(s.name)
            self.streams[s.name] = stream
            self.graph_inputs[s.name] = stream
            self.added_bound[s.name] = UNSTARTED_VALUE
            self.throttle[_input_key(s.name)] = 0
        for node in self.nodes:
            for queue, s in zip(node.queues, node.spec.inputs, strict=True):
                self.streams[s.name].consumers.append(queue)
        self._compute_upstream()

    # ---------------------------------------------------------------- setup

    def _executor_for(self, spec: NodeSpec) -> _Executor:
        name = spec.executor
        if name in self.executors:
            return self.executors[name]
        prefix = name.split(":", 1)[0]
        factory = _EXECUTOR_FACTORIES.get(prefix)
        if factory is None:
            if prefix == "gl":
                import graphflow.gpu  # noqa: F401 - registers the "gl" executor factory

                factory = _EXECUTOR_FACTORIES.get(prefix)
            if factory is None:
                raise GraphError(f"node {spec.describe()}: unknown executor {name!r}")
        executor = _Executor(name, self.lock, 0, external=factory(name))
        self.executors[name] = executor
        return executor

    def _compute_upstream(self) -> None:
        """For each node, the graph inputs and sources upstream of it (back edges excluded)."""
        producers = self.graph.producers
        memo: dict[int, frozenset[str]] = {}

        def upstream(index: int) -> frozenset[str]:
            if index in memo:
                return memo[index]
            memo[index] = frozenset()
            node = self.nodes[index]
            result: set[str] = set()
            if node.is_source:
                result.add(node.throttle_key)
            for s in node.spec.inputs:
                if s.port in node.spec.back_edges:
                    continue
                src = producers[s.name]
                result |= {_input_key(s.name)} if src < 0 else upstream(src)
            memo[index] = frozenset(result)
            return memo[index]

        for node in self.nodes:
            node.upstream = upstream(node.spec.index)

    def start(self) -> None:
        """Starts executor threads and opens the nodes whose side packets are available."""
        for executor in self.executors.values():
            for i in range(executor.threads_wanted):
                thread = threading.Thread(target=self._worker, args=(executor,),
                                          name=f"graphflow-{executor.name}-{i}", daemon=True)
                executor.threads.append(thread)
                thread.start()
        with self.lock:
            self._open_ready_nodes()
        if self.synchronous:
            self.run_sync(lambda: self.all_open or self.error is not None)

    def _open_ready_nodes(self) -> None:
        opening = False
        for node in self.nodes:
            if node.state != "new":
                if node.state == "opening":
                    opening = True
                continue
            values = {}
            for s in node.spec.side_inputs:
                if s.name in self.side_packets:
                    values[s.port] = self.side_packets[s.name]
                elif s.name in self.graph.side_producers and \
                        self.graph.side_producers[s.name] >= 0:
                    break
            else:
                node.side_values = values
                node.state = "opening"
                opening = True
                self._schedule(_Task(node, _OPEN, UNSTARTED, None))
        if not opening and not self.all_open:
            waiting = [n for n in self.nodes if n.state == "new"]
            if waiting:
                missing = [s.name for s in waiting[0].spec.side_inputs
                           if s.name not in self.side_packets]
                self._fail(GraphError(
                    f"node {waiting[0].spec.describe()}: input side packet(s) "
                    f"{', '.join(map(repr, missing))} were never produced"))
                return
            self.all_open = True
            for node in self.nodes:
                if node.is_source:
                    self._schedule_source(node)
                elif not node.spec.inputs:
                    self._begin_close(node)
                else:
                    self._check_ready(node)
            self._check_done()

    # ---------------------------------------------------------------- running tasks

    def _schedule(self, task: _Task) -> None:
        executor = task.node.executor
        ready = executor.ready
        ready.append(task)
        self.running += 1
        if executor.external is not None:
            executor.external.submit(lambda: self._run_external(executor))
        elif executor.idle:
            if threading.current_thread() not in executor.threads:
                executor.cond.notify()
            elif len(ready) > 1 and _worth_waking(executor, task):
                # A pool thread takes one ready task next itself: handing a chain's next hop
                # to another thread costs more than running it here.
                executor.cond.notify()

    def _run_external(self, executor: _Executor) -> None:
        with self.lock:
            if not executor.ready:
                return  # dropped when the run failed or was cancelled
            task = executor.ready.popleft()
        self._execute(task)
        with self.lock:
            self._complete(task)

    def _worker(self, executor: _Executor) -> None:
        lock = self.lock
        me = threading.get_ident()
        with lock:
            while True:
                if not executor.ready:
                    if self.done:
                        return
                    executor.idle += 1
                    if self.inbox and self.error is None:
                        # Graph inputs came in after the last drain: add_graph_input reads
                        # `idle` after appending, so either it drains or this thread does.
                        executor.idle -= 1
                        self._after_change()
                        continue
                    self._idle_wait(executor)
                    executor.idle -= 1
                    continue
                task = executor.ready.popleft()
                if executor.ready and executor.idle and _worth_waking(executor, task):
                    executor.cond.notify()  # for what is left while this thread is busy
                executor.started[me] = time.perf_counter()
                lock.release()
                try:
                    self._execute(task)
                finally:
                    lock.acquire()
                del executor.started[me]
                self._complete(task)

    def _idle_wait(self, executor: _Executor) -> None:
        """Waits (lock held) until woken, done, or a ready task was left waiting too long.

        While anything runs, an idle thread looks every _IDLE_CHECK seconds for a task (or graph
        inputs) left to a busy thread (see _schedule, add_graph_input) and takes it if every
        busy thread has been in its call for _STALE seconds; after _QUIET seconds with nothing
        running it sleeps until woken.
        """
        quiet_since: float | None = None
        while True:
            if quiet_since is not None and time.perf_counter() - quiet_since >= _QUIET:
                executor.sleepers += 1
                try:
                    executor.cond.wait()
                finally:
                    executor.sleepers -= 1
                return
            if executor.cond.wait(_IDLE_CHECK) or self.done:
                return
            if executor.ready or self.inbox:
                now = time.perf_counter()
                if all(now - began >= _STALE for began in executor.started.values()):
                    return
            if self.running:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.perf_counter()

    def run_sync(self, until: Callable[[], bool]) -> None:
        """Synchronous mode: runs ready tasks on the calling thread until ``until()``."""
        with self.lock:
            while not until():
                task = None
                for executor in self.executors.values():
                    if executor.external is None and executor.ready:
                        task = executor.ready.popleft()
                        break
                if task is None:
                    if self.running == 0 and not self._unthrottle_if_stalled():
                        return
                    self.changed.wait(0.05)
                    continue
                self.lock.release()
                try:
                    self._execute(task)
                finally:
                    self.lock.acquire()
                self._complete(task)

    def _execute(self, task: _Task) -> None:
        """Runs one task's calculator method (no lock held)."""
        node = task.node
        tracer = self.tracer
        start = time.perf_counter()
        task.stopped = False
        try:
            if task.kind == _OPEN:
                node.calc = node.spec.calculator()
            packets = task.packets
            if packets is None:
                packets = [EMPTY_PACKET] * len(node.queues)
            cc = node.context
            bounds = task.bounds
            # One call at a time (max_in_flight 1): the last call's context is reused, its
            # outputs having been taken by _complete before this task could start.
            if cc is None or node.max_in_flight > 1 or \
                    (bounds is None) != (type(cc.inputs) is _Inputs):
                inputs = _Inputs(node.input_ids, packets, node.input_lookup) \
                    if bounds is None else \
                    _BoundInputs(node.input_ids, packets, bounds, node.input_lookup)
                cc = CalculatorContext(node.name, inputs, node.output_ids, node.output_specs,
                                       _SideInputs(node.side_values), node.side_outputs,
                                       node.spec.options, task.ts)
                node.context = cc
            else:
                cc.inputs._packets = packets
                if bounds is not None:
                    cc.inputs._bounds = bounds  # type: ignore[attr-defined]
                cc.timestamp = task.ts
                for out in cc.outputs.streams:
                    out.packets = []
                    out.bound = None
            task.cc = cc
            calc = node.calc
            assert calc is not None
            if task.batch is not None:
                # Several queued packets of a one-input node in one task: outputs accumulate
                # in order; the task's timestamp follows the packet being processed.
                for packet in task.batch:
                    packets[0] = packet
                    cc.timestamp = task.ts = packet._timestamp
                    calc.process(cc)
            elif task.kind == _PROCESS:
                calc.process(cc)
            elif task.kind == _OPEN:
                calc.open(cc)
            else:
                calc.close(cc)
        except Stop:
            task.stopped = True
        except Exception as exc:
            task.error = exc
        end = time.perf_counter()
        node.cost += 0.25 * ((end - start) / (len(task.batch) if task.batch else 1) - node.cost)
        if tracer is not None:
            tracer.record(task, start, end)

    def _complete(self, task: _Task) -> None:
        """Takes a finished task's results (lock held)."""
        node = task.node
        self.running -= 1
        if task.error is not None:
            if task.kind == _PROCESS:
                node.in_flight -= 1
            else:  # a failed open or close: the node is finished (close is not called)
                node.state = "closed"
            self._fail(self._node_error(node, task))
            self._after_change()
            return
        if task.kind == _PROCESS:
            node.in_flight -= 1
            if self.error is not None:
                pass  # the run failed elsewhere: results are dropped, the node is closing
            elif node.max_in_flight > 1:
                node.finished[task.seq] = task
                while node.apply_seq in node.finished:
                    done = node.finished.pop(node.apply_seq)
                    node.apply_seq += 1
                    self._apply_outputs(node, done)
            else:
                self._apply_outputs(node, task)
            if task.stopped and node.is_source:
                self._begin_close(node)
            elif task.stopped:
                self._stop_sources()
            elif self.error is None:
                if node.is_source:
                    self._schedule_source(node)
                else:
                    self._check_ready(node)
            if node.state == "closing_pending" and node.in_flight == 0:
                if node.bounds_mode and not node.is_source and self.error is None:
                    # Its inputs closed while it ran: it may still owe its handler's last
                    # call (immediate handler), which _check_ready makes before closing it.
                    node.state = "open"
                    self._check_ready(node)
                else:
                    self._begin_close(node)
        elif task.kind == _OPEN:
            node.state = "open"
            if self.error is not None:
                self._begin_close(node)
            else:
                self._apply_outputs(node, task)  # packets sent in open(), e.g. headers
                self._publish_side_outputs(node)
                self._open_ready_nodes()
        else:
            self._apply_outputs(node, task)
            node.state = "closed"
            for stream in node.streams:
                self._advance_stream(stream, DONE)
            self._publish_side_outputs(node)
        self._after_change()

    def _after_change(self) -> None:
        if self.inbox and self.error is None:
            self._drain_inbox()
        self._check_done()
        # Waiters want the graph idle or done (wait_until_*), or a throttled input released
        # (_release_if_drained notifies them): waking them for every finished task would cost
        # a thread switch each time. The synchronous caller runs the tasks external executors
        # make ready, so it hears of every change.
        if self.changed._waiters and (  # type: ignore[attr-defined]
                self.running == 0 or self.done or self.error is not None or self.synchronous):
            self.changed.notify_all()

    def _publish_side_outputs(self, node: _Node) -> None:
        for name, value in node.side_outputs.values.items():
            self.side_packets.setdefault(name, value)

    def _node_error(self, node: _Node, task: _Task) -> GraphError:
        exc = task.error
        assert exc is not None
        where = node.spec.location
        when = f" at timestamp {task.ts}" if task.kind == _PROCESS and \
            task.ts.is_range_value() else ""
        error = GraphError(
            f"node {node.name!r} ({node.spec.calculator.__name__}) failed in {task.kind}{when} "
            f"({where}): {type(exc).__name__}: {exc}", node.name, task.kind, task.ts)
        error.__cause__ = exc
        return error

    # ---------------------------------------------------------------- packets and bounds

    def _apply_outputs(self, node: _Node, task: _Task) -> None:
        cc = task.cc
        if cc is None:
            return
        offset_bound = UNSTARTED_VALUE  # below every packet timestamp: no bound to apply
        if node.offset is not None and task.kind == _PROCESS and \
                _MIN_VALUE <= task.ts <= _MAX_VALUE:
            offset_bound = int(task.ts) + node.offset + 1
            if offset_bound > _MAX_VALUE:  # MediaPipe clamps T + offset to MAX: nothing follows
                offset_bound = _ONE_OVER_POSTSTREAM_VALUE
        max_queue = self.max_queue
        for stream, out in zip(node.streams, cc.outputs.streams, strict=True):
            if out.packets:
                consumers = stream.consumers
                for packet in out.packets:
                    ts = packet._timestamp
                    if ts < stream.bound:
                        self._fail(GraphError(
                            f"node {node.name!r} ({node.spec.calculator.__name__}) at "
                            f"{node.spec.location}: output stream {stream.name!r} got a packet "
                            f"at {packet.timestamp}, but the stream is already at "
                            f"{Timestamp(stream.bound)} (timestamps must increase)",
                            node.name, task.kind, task.ts))
                        return
                    bound = int(ts) + 1
                    stream.bound = bound
                    for queue in consumers:
                        queue.packets.append(packet)
                        queue.bound = bound
                        if len(queue.packets) >= max_queue and not queue.full:
                            self._set_full(queue, True)
                for queue in consumers:
                    self._check_ready(queue.node)
            bound = offset_bound
            if out.closed:
                bound = DONE
            elif out.bound is not None and out.bound > bound:
                bound = int(out.bound)
            if bound > stream.bound:
                self._advance_stream(stream, bound)

    def _advance_stream(self, stream: _Stream, bound: int) -> None:
        if bound <= stream.bound:
            return
        stream.bound = bound
        for queue in stream.consumers:
            if bound > queue.bound:
                queue.bound = bound
                if bound == DONE:
                    queue.node.open_inputs -= 1
                self._check_ready(queue.node)

    def _set_full(self, queue: _Queue, full: bool) -> None:
        queue.full = full
        step = 1 if full else -1
        for source in queue.node.upstream:
            self.throttle[source] += step

    def _pop(self, queue: _Queue) -> Packet[Any]:
        packet = queue.packets.popleft()
        if queue.full:
            self._release_if_drained(queue)
        return packet

    def _release_if_drained(self, queue: _Queue) -> None:
        # Hysteresis: release throttled producers only once the queue has drained to half, so
        # that a full queue does not wake its producer for every single packet.
        if len(queue.packets) <= self.max_queue >> 1:
            self._set_full(queue, False)
            self.changed.notify_all()
            for node in self.nodes:
                if node.is_source and node.throttled and not self.throttle[node.throttle_key]:
                    node.throttled = False
                    self._schedule_source(node)

    def add_graph_input(self, name: str, packet: Packet[Any], block: bool) -> bool:
        """Adds a packet to a graph input stream (called without the lock).

        While the graph is not throttled, the packet goes into an inbox that whichever thread
        finishes the next task drains, so that the adding thread does not fight the workers for
        the scheduler lock on every packet.
        """
        key = _input_key(name)
        with self.input_lock:
            if name in self.closed_inputs:
                raise ValueError(f"graph input stream {name!r} is closed")
            ts = self._validate_input(name, packet)
            # The inbox counts against max_queue_size: it is read first, since a worker may
            # move its packets into the consumer queues meanwhile.
            pending = len(self.inbox)
            if not self.synchronous and self.error is None and not self.throttle[key] and \
                    pending + max((len(q.packets) for q in self.graph_inputs[name].consumers),
                                  default=0) < self.max_queue - 1:
                self.inbox.append((name, packet))
                self.added_bound[name] = int(ts) + 1
                # Drain now if no task will finish to do it, or if a pool has idle threads
                # and none busy. A busy pool thread drains it when its call ends, without a
                # thread hand-off; an idle one does if that call takes long (_idle_wait).
                if self.running == 0 or any(e.idle and not e.started
                                            for e in self.executors.values()):
                    with self.lock:
                        self._after_change()
                return True
            with self.lock:
                self._drain_inbox()
                added = self._add_throttled(name, packet, block)
            if added:
                self.added_bound[name] = int(ts) + 1
            return added

    def _validate_input(self, name: str, packet: Packet[Any]) -> Timestamp:
        ts = packet._timestamp
        if not ts.is_range_value() and ts not in (Timestamp.PRESTREAM, Timestamp.POSTSTREAM):
            raise ValueError(f"graph input stream {name!r}: packet timestamp {ts} is not a valid "
                             "packet timestamp")
        if self.added_bound[name] == _MIN_VALUE:  # the previous packet was at PRESTREAM
            raise ValueError(f"graph input stream {name!r}: no packet may follow one at "
                             f"{Timestamp.PRESTREAM} (got one at {ts})")
        if ts < self.added_bound[name]:
            raise ValueError(f"graph input stream {name!r}: timestamp {ts} is not greater than "
                             f"the previous one ({Timestamp(self.added_bound[name] - 1)})")
        if self.error is not None:
            raise self.error
        return ts

    def _add_throttled(self, name: str, packet: Packet[Any], block: bool) -> bool:
        """Waits (or gives up) while the stream's consumers are full (lock held)."""
        key = _input_key(name)
        while self.throttle[key] and self.error is None:
            if not block:
                return False
            if self.synchronous:
                self.lock.release()
                try:
                    self.run_sync(lambda: not self.throttle[key] or self.error is not None)
                finally:
                    self.lock.acquire()
                if self.throttle[key] and not self._unthrottle_if_stalled():
                    break
                continue
            if self._unthrottle_if_stalled():
                break
            self.changed.wait(0.1)
        if self.error is not None:
            raise self.error
        self._deliver_input(name, packet)
        return True

    def _drain_inbox(self) -> None:
        # Deliver everything before checking readiness, so that packets added at one
        # timestamp on several streams reach a node together, as if added directly.
        inbox = self.inbox
        touched: dict[_Node, None] = {}
        while inbox:
            name, packet = inbox.popleft()
            self._deliver_input(name, packet, touched)
        for node in touched:
            self._check_ready(node)

    def _deliver_input(self, name: str, packet: Packet[Any],
                       touched: dict[_Node, None] | None = None) -> None:
        """Queues a graph input packet; checks the consumers now, or adds them to ``touched``."""
        stream = self.graph_inputs[name]
        bound = int(packet._timestamp) + 1
        stream.bound = bound
        for queue in stream.consumers:
            queue.packets.append(packet)
            queue.bound = bound
            if len(queue.packets) >= self.max_queue and not queue.full:
                self._set_full(queue, True)
            if touched is None:
                self._check_ready(queue.node)
            else:
                touched[queue.node] = None

    def _unthrottle_if_stalled(self) -> bool:
        """If throttling blocks everything (nothing runs), lift it, as MediaPipe does."""
        if self.running or any(e.ready for e in self.executors.values()):
            return False
        full = [q for n in self.nodes for q in n.queues if q.full]
        if not full:
            return False
        for queue in full:
            self._set_full(queue, False)
        logger.warning("graph throttled with nothing running; raising the queue limit from %d "
                       "to %d", self.max_queue, self.max_queue * 2)
        self.max_queue *= 2
        for node in self.nodes:
            if node.is_source and node.throttled:
                node.throttled = False
                self._schedule_source(node)
        return True

    def _stop_sources(self) -> None:
        """A non-source raised Stop: end every source and graph input, as MediaPipe does."""
        for node in self.nodes:
            if node.is_source and node.state == "open":
                if node.in_flight:
                    node.state = "closing_pending"
                else:
                    self._begin_close(node)
        for name in self.graph_inputs:
            if name not in self.closed_inputs:
                self.close_graph_input(name)

    def close_graph_input(self, name: str) -> None:
        """Closes one graph input stream (lock held)."""
        self.closed_inputs.add(name)
        self._drain_inbox()
        self._advance_stream(self.graph_inputs[name], DONE)
        self._after_change()

    # ---------------------------------------------------------------- readiness

    def _schedule_source(self, node: _Node) -> None:
        if node.state != "open" or node.in_flight or self.error is not None:
            return
        if self.throttle[node.throttle_key]:
            node.throttled = True
            return
        node.in_flight += 1
        self._schedule(_Task(node, _PROCESS, UNSTARTED, None))

    def _check_ready(self, node: _Node) -> None:
        if node.state != "open" or not self.all_open or self.error is not None:
            return
        if node.fixed_size is not None:
            self._erase_surplus(node)
        while node.in_flight < node.max_in_flight:
            task: _Task | None
            if node.single:
                queue = node.queues[0]
                if not queue.packets:
                    break
                if node.max_in_flight == 1 and len(queue.packets) > 1:
                    batch = [queue.packets.popleft()
                             for _ in range(min(len(queue.packets), self.max_batch))]
                    if queue.full:
                        self._release_if_drained(queue)
                    task = _Task(node, _PROCESS, batch[0]._timestamp, [batch[0]], None, batch)
                else:
                    packet = queue.packets.popleft() if not queue.full else self._pop(queue)
                    task = _Task(node, _PROCESS, packet._timestamp, [packet])
            else:
                task = self._select(node)
                if task is None:
                    break
            if node.max_in_flight > 1:
                task.seq = node.next_seq
                node.next_seq += 1
            node.in_flight += 1
            self._schedule(task)
        if node.offset is not None and not node.bounds_mode and not node.in_flight:
            self._propagate_offset_bound(node)
        if node.open_inputs == 0 and node.state == "open" and node.inputs_done():
            if node.in_flight:
                node.state = "closing_pending"
            else:
                self._begin_close(node)

    def _propagate_offset_bound(self, node: _Node) -> None:
        """MediaPipe's bound propagation for a node with a timestamp offset and nothing to run:
        its inputs are settled up to the first queued packet (or their bounds), so its outputs
        can have no packet below that plus the offset, and their bounds move there without a
        call to the calculator (a gate, say, whose input only advanced its bound)."""
        settled = DONE
        for q in node.queues:
            if q.packets:
                head = int(q.packets[0]._timestamp)
                if head < settled:
                    settled = head
            elif q.bound < settled:
                settled = q.bound
        if settled == DONE or not _MIN_VALUE <= settled - 1 <= _MAX_VALUE:
            return
        assert node.offset is not None
        bound = settled + node.offset
        if bound > _MAX_VALUE:  # as in _apply_outputs
            bound = _ONE_OVER_POSTSTREAM_VALUE
        for stream in node.streams:
            if bound > stream.bound:
                self._advance_stream(stream, bound)

    def _begin_close(self, node: _Node) -> None:
        node.state = "closing"
        self._schedule(_Task(node, _CLOSE, Timestamp.DONE, None))

    def _select(self, node: _Node) -> _Task | None:
        """Takes the next input set per the node's input stream handler, or None."""
        queues = node.queues
        handler = node.handler
        if handler == "ImmediateInputStreamHandler":
            return self._select_immediate(node)
        if handler == "FixedSizeInputStreamHandler":
            # MediaPipe recomputes the cut, keeping one processable timestamp, when it fills an
            # input set: the bound of the least advanced stream, taken before the packets go.
            least = DONE
            for q in queues:
                least = min(least, int(q.packets[-1]._timestamp.next_allowed_in_stream())
                            if q.packets else q.bound)
            task = self._select_default(node, queues)
            if task is not None and task.packets and \
                    any(not p.is_empty for p in task.packets):
                node.kept = min(node.kept,
                                least - 1 if _MIN_VALUE <= least <= _MAX_VALUE else least)
            return task
        if handler == "SyncSetInputStreamHandler":
            best: _Task | None = None
            for group in node.sync_sets:
                best = self._select_default(node, [queues[i] for i in group])
                if best is not None:
                    return best
            return None
        return self._select_default(node, queues)

    def _erase_surplus(self, node: _Node) -> None:
        """MediaPipe's FixedSizeInputStreamHandler: drops the oldest queued packets.

        Without ``fixed_min_size``, a queue of ``trigger`` or more packets is cut to its
        ``target`` newest, a shorter one to ``trigger - 1``; the cut timestamp only moves
        forward and applies to every input stream (late packets below it are dropped too).
        With ``fixed_min_size``, queues are cut, each to its ``target`` newest, only once all of
        them hold ``trigger`` packets.
        """
        assert node.fixed_size is not None
        trigger, target, fixed_min = node.fixed_size
        queues = node.queues
        if fixed_min:
            cut = _MAX_VALUE
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
                    node.kept = max(node.kept, int(newest_dropped.next_allowed_in_stream()))
            cut = node.kept
        for q in queues:
            packets = q.packets
            if packets and packets[0]._timestamp < cut:
                while packets and packets[0]._timestamp < cut:
                    packets.popleft()
                if q.full:
                    self._release_if_drained(q)

    def _select_default(self, node: _Node, queues: list[_Queue]) -> _Task | None:
        """MediaPipe's default handler: the packets at the smallest timestamp T once every
        other stream either has a packet at T or is known to have none (bound > T)."""
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
            return self._bounds_task(node, min(ts, empty_bound))
        node.last_settled = int(ts)
        return self._take(node, queues, ts)

    def _select_immediate(self, node: _Node) -> _Task | None:
        """MediaPipe's immediate handler: the packets at the smallest queued timestamp, from
        every stream that has one there, without waiting for the other streams."""
        ts = DONE
        for q in node.queues:
            if q.packets and q.packets[0]._timestamp < ts:
                ts = q.packets[0]._timestamp
        if ts == DONE:
            settled = min(q.bound for q in node.queues)
            if settled == DONE:
                # Every stream is done: MediaPipe's immediate handler makes one last call at
                # the timestamp before Done (Timestamp.MAX), where every bound reads Done.
                if not node.bounds_mode or node.last_settled >= _MAX_VALUE:
                    return None
                node.last_settled = _MAX_VALUE
                return self._task(node, Timestamp.MAX, [EMPTY_PACKET] * len(node.queues))
            task = self._bounds_task(node, settled)
            bounds = [q.bound for q in node.queues]
            if task is None and node.bounds_mode and bounds != node.seen_bounds and \
                    Timestamp(node.last_settled).is_range_value():
                # A stream's bound moved but not the slowest one (e.g. MAIN closed while a
                # back edge lags): the calculator sees the new bounds, as in MediaPipe.
                task = self._task(node, Timestamp(node.last_settled),
                                  [EMPTY_PACKET] * len(node.queues))
            if task is not None:
                node.seen_bounds = bounds
            return task
        return self._take(node, node.queues, ts)

    def _take(self, node: _Node, queues: list[_Queue], ts: int) -> _Task:
        """The task at ``ts`` with the packets that ``queues`` hold there (popped)."""
        packets = [EMPTY_PACKET] * len(node.queues)
        for q in queues:
            if q.packets and q.packets[0]._timestamp == ts:
                packets[q.slot] = self._pop(q)
        return self._task(node, Timestamp(ts), packets)

    def _bounds_task(self, node: _Node, settled: int) -> _Task | None:
        """For process_timestamp_bounds: an empty input set when the settled bound advanced."""
        if not node.bounds_mode or settled == DONE:
            return None
        ts = settled - 1
        if ts <= node.last_settled or not _MIN_VALUE <= ts <= _MAX_VALUE:
            return None
        node.last_settled = ts
        return self._task(node, Timestamp(ts), [EMPTY_PACKET] * len(node.queues))

    def _task(self, node: _Node, ts: Timestamp, packets: list[Packet[Any]]) -> _Task:
        # What this invocation may know of each stream: a packet still queued behind the
        # current set bounds it (MediaPipe's settled timestamp), not the stream's latest bound.
        bounds = [int(q.packets[0]._timestamp) if q.packets else q.bound
                  for q in node.queues] if node.bounds_mode else None
        return _Task(node, _PROCESS, ts, packets, bounds)

    # ---------------------------------------------------------------- ending

    def _fail(self, error: GraphError) -> None:
        if self.error is None:
            self.error = error
            logger.debug("graph failed: %s", error)
        for executor in self.executors.values():
            kept = collections.deque(t for t in executor.ready if t.kind == _CLOSE)
            dropped = len(executor.ready) - len(kept)
            for task in executor.ready:
                if task.kind == _PROCESS:
                    task.node.in_flight -= 1
                elif task.kind == _OPEN:
                    task.node.state = "closed"  # never opened: nothing to close
            executor.ready = kept
            self.running -= dropped
        for node in self.nodes:
            if node.state in ("open", "closing_pending") and node.in_flight == 0:
                self._begin_close(node)
            elif node.state == "open":
                node.state = "closing_pending"
            elif node.state == "new":
                node.state = "closed"

    def cancel(self) -> None:
        """Stops the run: pending work is dropped and open nodes are closed (lock held)."""
        self._fail(GraphError("the graph run was cancelled"))
        self._after_change()

    def _check_done(self) -> None:
        if self.done:
            return
        if self.running == 0 and all(n.state in ("closed", "new") for n in self.nodes) and (
                self.error is not None or self.all_open):
            self.done = True
            for executor in self.executors.values():
                executor.cond.notify_all()

    def is_idle(self) -> bool:
        """True when nothing is ready or running (lock held)."""
        return self.running == 0 and not self.inbox

    def shutdown(self) -> None:
        """Joins pool threads and shuts external executors down (after done)."""
        with self.lock:
            self.done = True
            for executor in self.executors.values():
                executor.cond.notify_all()
        for executor in self.executors.values():
            for thread in executor.threads:
                thread.join()
            if executor.external is not None:
                executor.external.shutdown()


def default_num_threads() -> int:
    """MediaPipe's default pool size: the number of CPU cores."""
    return max(1, os.cpu_count() or 1)
