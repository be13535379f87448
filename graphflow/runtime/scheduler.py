"""The coordinator of a graph run: one object owns all scheduling state behind one lock.

A task (open, process or close of one node) is handed to the node's executor; whoever runs it (a
pool thread, a GL context thread, or the caller in synchronous mode) calls :meth:`Scheduler.
execute` without the lock, then :meth:`Scheduler.complete` with it, which propagates packets and
bounds, updates throttling and hands out the tasks that became ready.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from graphflow.calculator import EMPTY_PACKET, Stop
from graphflow.context import CalculatorContext, _Inputs, _SideInputs
from graphflow.packet import Packet
from graphflow.runtime.clock import REAL_CLOCK, Clock
from graphflow.runtime.errors import GraphCancelledError, GraphError, node_error
from graphflow.runtime.executors import (
    WAKE_COST,
    CallerThread,
    Executor,
    External,
    ThreadPool,
    executor_kind,
    run_here,
)
from graphflow.runtime.handlers import InputStreamHandler, handler_class
from graphflow.runtime.node import (
    DONE,
    MAX,
    MIN,
    ONE_OVER_POSTSTREAM,
    UNSTARTED,
    InputQueue,
    Node,
    NodeState,
    Stream,
    Task,
    TaskKind,
)
from graphflow.runtime.trace import Tracer
from graphflow.timestamp import Timestamp

if TYPE_CHECKING:
    from graphflow.config import NodeSpec, ValidatedGraph

logger = logging.getLogger(__name__)

_OPEN, _PROCESS, _CLOSE = TaskKind.OPEN, TaskKind.PROCESS, TaskKind.CLOSE
_NEW, _OPENING, _OPEN_STATE = NodeState.NEW, NodeState.OPENING, NodeState.OPEN
_CLOSING_PENDING, _CLOSING, _CLOSED = (NodeState.CLOSING_PENDING, NodeState.CLOSING,
                                       NodeState.CLOSED)
# A source's Process sees this input timestamp, a dummy one, as in MediaPipe (CalculatorNode::
# OpenNode gives every source Timestamp(0) until Close).
_SOURCE_TS = Timestamp(0)
_PRESTREAM = int(Timestamp.PRESTREAM)
_POSTSTREAM = int(Timestamp.POSTSTREAM)
_MAX_BATCH = 32  # queued packets one task may process for a one-input node


def _input_key(name: str) -> str:
    """Graph input stream ``name``'s key in Scheduler.throttle (a source's: Node.throttle_key)."""
    return f"input:{name}"


class Scheduler:
    """Runs one graph run.

    The graph API (:class:`~graphflow.graph.CalculatorGraph`) uses only the public methods:
    :meth:`start`, :meth:`add_packet`, :meth:`set_input_bound`, :meth:`close_inputs`,
    :meth:`input_closed`, :meth:`wait_idle`, :meth:`wait_done`, :meth:`run_while_waiting`
    (a poller's wait), :meth:`cancel`, :meth:`pause`, :meth:`resume`,
    :meth:`close_sources`, :meth:`shutdown`,
    :meth:`queue_sizes`, :meth:`trace`, and the ``error``, ``done``, ``input_names`` and
    ``side_packets`` attributes. Each takes the lock itself.

    The scheduling state, all guarded by ``lock`` (methods marked with a ``# locked`` comment
    read and change it and are called with the lock held; a comment, not a decorator, so that
    the compiled module calls them directly rather than through a Python attribute lookup):

    - ``nodes``: each node's state (:class:`NodeState`), input queues and their bounds, calls
      in flight, and its input stream handler's own state.
    - ``streams``: each stream's bound and consumer queues; ``graph_inputs`` the graph's.
    - ``executors``: each executor's ready tasks; ``running`` counts tasks ready or running.
    - ``throttle``: per source node and graph input, how many of the queues downstream are
      full (each queue's ``limit``); ``closed_inputs``, ``added_bound`` and ``input_limits``
      (its consumers' smallest queue limit) per graph input; ``resolved_deadlock``.
    - ``side_packets``: the run's side packets, as nodes publish them.
    - ``inbox``: graph input packets not yet delivered (appended under ``input_lock`` alone).
    - ``waiting_sources`` (opened sources whose layer has not started) and
      ``active_sources`` (those of the layer that runs); ``constant_nodes``: the side packets
      of side-packet-only nodes, reused by the next run (kept across runs).
    - ``error``, ``done``, ``ended``, ``paused``, ``all_open``, ``idle_since``, ``kicked``.
    """

    def __init__(self, graph: ValidatedGraph, side_packets: dict[str, Any], *,
                 synchronous: bool, max_queue_size: int, num_threads: int,
                 executor_threads: dict[str, int], trace: bool = False,
                 clock: Clock = REAL_CLOCK,
                 constant_nodes: dict[int, tuple[dict[Any, Any], dict[str, Any]]] | None = None,
                 input_queue_sizes: dict[str, int] | None = None,
                 report_deadlock: bool = False, sinks: Collection[int] = ()) -> None:
        self.graph = graph
        # Per node with side packets only: the input side packets of the last run that opened
        # it and the side packets it made then (kept by the graph object across its runs).
        self.constant_nodes = constant_nodes if constant_nodes is not None else {}
        self.clock = clock
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.synchronous = synchronous
        self.max_queue = max_queue_size if max_queue_size > 0 else 1 << 62
        self.report_deadlock = report_deadlock
        self.resolved_deadlock = False  # unthrottle_if_stalled has raised a queue's limit
        # A batch never holds more than half a queue, so that batching keeps within the
        # memory that max_queue_size promises.
        self.max_batch = max(1, min(_MAX_BATCH, self.max_queue // 2))
        # A queue holding up to a quarter more than max_batch is taken whole: a pool thread
        # that drains a full queue (100 packets) then makes batches of 32, 32 and 36, not a
        # fourth task for the 4 left over.
        self.max_take = max(self.max_batch,
                            min(self.max_batch + self.max_batch // 4, self.max_queue // 2))
        self.tracer = Tracer(clock.now()) if trace else None
        self.error: GraphError | None = None
        self.running = 0
        self.idle_since = clock.now()  # when `running` last dropped to 0 (kept with pools:
        # only their idle threads read it)
        # add_packet handed work to an idle pool thread that has not started it yet: that
        # thread delivers the inbox after its task, so further inputs need not wake it again.
        self.kicked = False
        self.all_open = False
        # The run ended while idle (_end_when_idle): closing nodes drop their outputs.
        self.ended = False
        self.done = False
        self.paused = False  # pause(): pool threads and the caller start no task
        self._shut_down = False
        self.side_packets: dict[str, Any] = dict(side_packets)
        self.throttle: dict[str, int] = collections.defaultdict(int)
        self.executors: dict[str, Executor] = {}
        self.executors[""] = self._local_executor("default", num_threads)
        for name, threads in executor_threads.items():
            self.executors[name] = self._local_executor(name, threads)
        self.pools = [e for e in self.executors.values() if isinstance(e, ThreadPool)]
        self.nodes = [self._node(spec) for spec in graph.nodes]
        self.sources = [n for n in self.nodes if n.is_source]
        # With sources in several layers (source_layer), an opened source waits in
        # `waiting_sources` until _start_source_layer starts its layer (`active_sources`).
        self.layered = len({n.spec.source_layer for n in self.sources}) > 1
        self.waiting_sources: list[Node] = []
        self.active_sources: list[Node] = []
        self.streams: dict[str, Stream] = {}
        for node in self.nodes:
            for s in node.spec.outputs:
                stream = Stream(s.name)
                self.streams[s.name] = stream
                node.streams.append(stream)
        self.graph_inputs: dict[str, Stream] = {}
        self.inbox: collections.deque[tuple[str, Packet[Any]]] = collections.deque()
        self.input_lock = threading.Lock()
        self.closed_inputs: set[str] = set()
        self.added_bound: dict[str, int] = {}
        for s in graph.input_streams:
            stream = Stream(s.name)
            self.streams[s.name] = stream
            self.graph_inputs[s.name] = stream
            self.added_bound[s.name] = UNSTARTED
            self.throttle[_input_key(s.name)] = 0
        self.input_keys = {name: _input_key(name) for name in self.graph_inputs}
        self.input_names = tuple(self.graph_inputs)
        sizes = input_queue_sizes or {}
        for node in self.nodes:
            for queue, s in zip(node.queues, node.spec.inputs, strict=True):
                self.streams[s.name].consumers.append(queue)
                queue.limit = sizes[s.name] if s.name in sizes else self.max_queue
                queue.own_limit = s.name in sizes
        # Per graph input: its consumers' smallest queue limit (add_packet's fast path).
        self.input_limits: dict[str, int] = {}
        self._update_input_limits()
        # Per graph input: the pool that runs all its consumers, if one does (_kick).
        self.input_pools: dict[str, ThreadPool | None] = {}
        for name, stream in self.graph_inputs.items():
            executors = {q.node.executor for q in stream.consumers}
            pool = executors.pop() if len(executors) == 1 else None
            self.input_pools[name] = pool if isinstance(pool, ThreadPool) else None
        for node in self.nodes:
            node.fuse_next = self._fusable_next(node)
            node.batch_sets = node.max_in_flight == 1 and not node.bounds_mode and \
                not node.single and node.handler.sets_batchable
            node.packet_driven = not node.bounds_mode and not node.handler.drops_packets
        self._compute_upstream()
        # The nodes that hand packets to the application (observers' and pollers' sinks, by
        # index), which a waiting caller does not run (run_while_waiting), and, per node
        # that it may wait for, the nodes it may run meanwhile.
        self.sinks = frozenset(sinks)
        self._helpable: dict[int | None, frozenset[Node]] = {}

    # ---------------------------------------------------------------- setup

    def _local_executor(self, name: str, threads: int) -> Executor:
        if self.synchronous:
            return CallerThread(name, self)
        return ThreadPool(name, self, threads)

    def _node(self, spec: NodeSpec) -> Node:
        node = Node(spec, self._executor_for(spec))
        handler = handler_class(spec.handler)
        assert handler is not None, spec.handler  # the config was validated against them
        node.handler = handler(node, spec.handler_options, self._release_if_drained)
        node.single = len(node.queues) == 1 and not node.bounds_mode and node.handler.batchable
        return node

    def _executor_for(self, spec: NodeSpec) -> Executor:
        name = spec.executor
        if name in self.executors:
            return self.executors[name]
        kind = executor_kind(name)
        if kind is None:
            raise node_error(spec, f"unknown executor {name!r}")
        executor = External(name, self, kind.factory(name))
        self.executors[name] = executor
        return executor

    @staticmethod
    def _fusable_next(node: Node) -> Node | None:
        """The node that can run in ``node``'s tasks, right after it, over its packets.

        ``node`` calls one timestamp at a time and has one output stream with consumers (the
        others have none), whose only consumer is a node of the same executor that takes one
        packet at a time on that one input (no bounds, no drops, no back edge) and also calls
        one timestamp at a time. Nothing else can feed the consumer, so running it in the
        producer's task changes no order.
        """
        used = [i for i, stream in enumerate(node.streams) if stream.consumers]
        if node.max_in_flight != 1 or len(used) != 1:
            return None
        node.fuse_stream = used[0]
        consumers = node.streams[used[0]].consumers
        if len(consumers) != 1:
            return None
        consumer = consumers[0].node
        if consumer is node or not consumer.single or consumer.max_in_flight != 1 or \
                consumer.executor is not node.executor or \
                consumer.spec.inputs[0].port in consumer.spec.back_edges:
            return None
        return consumer

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

    # ---------------------------------------------------------------- the graph API's calls

    def start(self) -> None:
        """Starts executor threads and opens the nodes whose side packets are available."""
        for executor in self.executors.values():
            executor.start()
        with self.lock:
            self._open_ready_nodes()
        if self.synchronous:
            run_here(self, lambda: self.all_open or self.error is not None)

    def add_packet(self, name: str, packet: Packet[Any], block: bool) -> bool:
        """Adds a packet to a graph input stream (called without the lock).

        While the graph is not throttled, the packet goes into an inbox that whichever thread
        finishes the next task drains, so that the adding thread does not fight the workers for
        the scheduler lock on every packet.

        Returns:
            False if ``block`` is False and the stream's consumers are full.

        Raises:
            ValueError: For a closed stream or a timestamp that does not increase.
            GraphError: If the run has failed.
        """
        key = self.input_keys[name]
        with self.input_lock:
            if name in self.closed_inputs:
                raise ValueError(f"graph input stream {name!r} is closed")
            ts = self._validate_input(name, packet)
            # (As Timestamp.next_allowed_in_stream, without a Python call per packet: a
            # packet at PreStream, Max or PostStream leaves no timestamp.)
            value = int(ts)
            next_allowed = value + 1 if MIN <= value < MAX else ONE_OVER_POSTSTREAM
            if not self.synchronous and self.error is None and not self.throttle[key]:
                # The inbox counts against max_queue_size: it is read first, since a worker
                # may move its packets into the consumer queues meanwhile.
                queued = len(self.inbox)
                longest = 0
                for q in self.graph_inputs[name].consumers:
                    if len(q.packets) > longest:
                        longest = len(q.packets)
                if queued + longest < self.input_limits[name] - 1:
                    self.inbox.append((name, packet))
                    self.added_bound[name] = next_allowed
                    # With nothing running, an idle pool thread is woken to drain the inbox
                    # (once: it drains what came meanwhile too, so its first task takes a
                    # batch rather than this one packet), or the inbox is drained here. With a
                    # pool that has idle threads and none busy, it is drained here (unless a
                    # thread was just woken for work: it drains the inbox when done). A busy
                    # pool thread drains it when its call ends, without a thread hand-off; an
                    # idle one does if that call takes long (_idle_wait).
                    pool = self.input_pools[name]
                    if (pool is None or not pool.kicked) if self.running == 0 else (
                            not self.kicked and self._pool_idle()):
                        with self.lock:
                            if not self._kick(pool):
                                self.after_change()
                                self.kicked = any(p.ready for p in self.pools)
                    return True
            with self.lock:
                self._drain_inbox()
                added = self._add_throttled(name, packet, block)
            if added:
                self.added_bound[name] = next_allowed
            return added

    # locked
    def _kick(self, pool: ThreadPool | None) -> bool:
        """A graph input whose consumers run on ``pool`` got a packet while nothing runs:
        wakes an idle thread of the pool to deliver the inbox, rather than delivering it on
        the adding thread and making a task of this one packet; the thread delivers what
        came meanwhile too, so its first task takes a batch.

        Returns:
            Whether a pool thread is on its way to deliver the inbox (else the caller
            delivers the packet).
        """
        if self.running or pool is None:
            return False
        if not pool.kicked:
            if not pool.idle:
                return False
            pool.wake_one()
            pool.kicked = True
        return True

    def _pool_idle(self) -> bool:
        """Whether a pool has idle threads and none busy (read without the lock: add_packet's
        hint)."""
        for pool in self.pools:
            if pool.idle and not pool.started:
                return True
        return False

    def set_input_bound(self, name: str, bound: Timestamp) -> None:
        """Promises that no packet below ``bound`` will follow on a graph input stream
        (MediaPipe's SetInputStreamTimestampBound; a bound past MAX ends the stream for its
        consumers, as a close does).

        Raises:
            ValueError: For a closed stream, a bound that is not a stream timestamp or
                ONE_OVER_POSTSTREAM, or one below the stream's current bound.
            GraphError: If the run has failed.
        """
        value = int(bound)
        with self.input_lock:
            if name in self.closed_inputs:
                raise ValueError(f"graph input stream {name!r} is closed")
            if not (bound.is_range_value() or bound in (
                    Timestamp.PRESTREAM, Timestamp.POSTSTREAM, Timestamp.ONE_OVER_POSTSTREAM)):
                raise ValueError(f"graph input stream {name!r}: {bound} is not a valid "
                                 "timestamp bound")
            if value < self.added_bound[name]:
                raise ValueError(f"graph input stream {name!r}: the bound {bound} is below the "
                                 f"stream's bound {Timestamp(self.added_bound[name])}")
            if self.error is not None:
                raise self.error
            self.added_bound[name] = value
            with self.lock:
                self._drain_inbox()
                self._advance_stream(self.graph_inputs[name], value)
                self.after_change()

    def close_inputs(self, names: Sequence[str]) -> None:
        """Closes graph input streams, together (nothing for those closed already)."""
        with self.lock:
            self._close_graph_inputs([n for n in names if n not in self.closed_inputs])

    def input_closed(self, name: str) -> bool:
        """True once the graph input stream is closed (by the caller, or by a node's Stop)."""
        return name in self.closed_inputs

    def wait_idle(self, timeout: float | None) -> None:
        """Waits until nothing is ready or running and no source can run, or the run is done.

        Raises:
            TimeoutError: If ``timeout`` seconds pass first.
        """
        self._wait_for(self._idle, timeout)

    def wait_done(self, timeout: float | None) -> None:
        """Waits until every node has closed.

        Raises:
            TimeoutError: If ``timeout`` seconds pass first.
        """
        self._wait_for(lambda: self.done, timeout)

    def cancel(self) -> None:
        """Stops the run: pending work is dropped and open nodes are closed (a paused run
        resumes to close them)."""
        with self.lock:
            if not self.done:
                self._fail(GraphCancelledError())
                self._set_paused(False)
                self.after_change()

    def pause(self) -> None:
        """Runs no further task until :meth:`resume` (the calls running go on to their end);
        ignored once the run has failed, been cancelled or ended, as MediaPipe's Pause is."""
        with self.lock:
            if self.error is None and not self.done:
                self._set_paused(True)

    def resume(self) -> None:
        """Runs the tasks that became ready while paused, and those that follow."""
        with self.lock:
            self._set_paused(False)
            self.after_change()

    # locked
    def _set_paused(self, paused: bool) -> None:
        if self.paused and not paused:
            for executor in self.executors.values():
                executor.wake_all()
        self.paused = paused

    def close_sources(self) -> None:
        """Closes every graph input stream and ends every source node (MediaPipe's
        CloseAllPacketSources)."""
        with self.lock:
            self._stop_sources()

    def shutdown(self) -> None:
        """Joins pool threads and shuts external executors down (once done)."""
        with self.lock:
            self.done = True
            for executor in self.executors.values():
                executor.wake_all()
            if self._shut_down:
                return
            self._shut_down = True
        for executor in self.executors.values():
            executor.shutdown()

    def queue_sizes(self) -> dict[str, int]:
        """Packets waiting at each node's inputs, by node name."""
        with self.lock:
            return {n.name: sum(len(q.packets) for q in n.queues) for n in self.nodes}

    def trace(self) -> dict[str, Any] | None:
        """The run's Chrome trace document, if tracing was on."""
        return self.tracer.chrome_trace() if self.tracer is not None else None

    # ---------------------------------------------------------------- waiting

    # locked
    def _idle(self) -> bool:
        # (A source waiting for its layer starts only once the graph idles: it is idle.)
        return self.running == 0 and not self.inbox and not any(
            n.state is _OPEN_STATE and not n.throttled and n not in self.waiting_sources
            for n in self.sources)

    def _wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> None:
        """Waits for ``predicate()`` or the end of the run; ``timeout`` is in real seconds
        (whatever the scheduler's clock)."""
        wait = timeout
        if self.synchronous:
            # (Neither the graph idle nor done can hold while a task is ready or running.)
            run_here(self, lambda: predicate() or self.done, idle_only=True)
        else:
            wait = self.run_while_waiting(lambda: predicate() or self.done, timeout=timeout)
        with self.lock:
            if not self.changed.wait_for(lambda: predicate() or self.done, wait):
                raise TimeoutError(f"the graph did not get there within {timeout} s")

    def run_while_waiting(self, until: Callable[[], bool], sink: int | None = None,
                          timeout: float | None = None) -> float | None:
        """Lets the caller, about to block in one of the graph's waits until ``until()``, run
        ready tasks of the default pool meanwhile (no lock held; ``until`` is called with it),
        for at most ``timeout`` real seconds (checked between tasks); returns the seconds
        left of ``timeout`` for the caller's own wait (None: no timeout).

        ``sink``: the caller waits for that sink's packets (a poller's); else for the graph.
        The caller runs only tasks of nodes that it waits for: upstream of ``sink``, and never
        a sink other than ``sink`` (an observer's callback may take a lock that the caller
        holds; another poller's queue may be full, waiting for this very caller). A node that
        blocked on such a lock would keep what the caller waits for from coming on a pool
        thread too. Nodes of named executors, which may be there for a thread of their own,
        and of external executors are left to their threads.
        """
        pool = self.executors[""]
        if not isinstance(pool, ThreadPool):
            return timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        allowed = self._helpable.get(sink)
        if allowed is None:
            allowed = self._helpable[sink] = self._feeders(sink)

        def may_run(task: Task) -> bool:
            return task.node in allowed and (
                task.chain is None or all(t.node in allowed for t in task.chain))

        with self.lock:
            pool.run_while_waiting(until, may_run, deadline)
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _feeders(self, sink: int | None) -> frozenset[Node]:
        """The nodes whose calls a caller waiting for ``sink`` (None: for the whole graph)
        waits for: those upstream of it, back edges included, less the other sinks."""
        if sink is None:
            return frozenset(n for n in self.nodes if n.spec.index not in self.sinks)
        producers = self.graph.producers
        found = {sink}
        todo = [sink]
        while todo:
            for s in self.nodes[todo.pop()].spec.inputs:
                src = producers[s.name]
                if src >= 0 and src not in found:
                    found.add(src)
                    todo.append(src)
        return frozenset(self.nodes[i] for i in found
                         if i == sink or i not in self.sinks)

    # ---------------------------------------------------------------- opening

    # locked
    def _open_ready_nodes(self) -> None:
        """Opens the nodes whose input side packets have all been published.

        As in MediaPipe, a node waits to open until the nodes producing its side packets have
        set them (in open, process or close); the run starts once the nodes that could open
        at first have opened (``all_open``). A node whose side packets never come never opens:
        the run ends without it once idle (_end_when_idle).
        """
        if self.error is not None:
            return
        opening = reused = False
        for node in self.nodes:
            if node.state is not _NEW:
                if node.state is _OPENING:
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
                if self._reuse_side_outputs(node):
                    reused = True
                    continue
                node.state = _OPENING
                opening = True
                self._schedule(Task(node, _OPEN, Timestamp.UNSTARTED, None))
        if reused:
            self._open_ready_nodes()  # the side packets given may let more nodes open
            return
        if not opening and not self.all_open:
            self.all_open = True
            for node in self.nodes:
                if node.state is _OPEN_STATE:
                    self._start_node(node)
            self._check_done()

    # locked
    def _start_node(self, node: Node) -> None:
        """Lets an opened node run, once the run has started."""
        if node.is_source:
            if self.layered:
                self.waiting_sources.append(node)  # (its layer starts once the graph idles)
            else:
                self._schedule_source(node)
        elif not node.spec.inputs:
            self._begin_close(node)
        else:
            self._check_ready(node)

    # locked
    def _reuse_side_outputs(self, node: Node) -> bool:
        """MediaPipe's constant outputs (CalculatorNode::OutputsAreConstant): a node with side
        packets only, whose input side packets are the very ones of the last run that opened
        it, is neither opened nor closed again; it gives the side packets it made then."""
        cached = self.constant_nodes.get(node.spec.index)
        if cached is None:
            return False
        before, made = cached
        now = node.side_values
        if before.keys() != now.keys() or any(now[port] is not v for port, v in before.items()):
            return False
        node.state = _CLOSED
        self._publish_side_packets(made)
        return True

    # ---------------------------------------------------------------- running tasks

    # locked
    def _schedule(self, task: Task) -> None:
        executor = task.node.executor
        executor.ready.append(task)
        self.running += 1
        if executor.idle or executor.external is not None:
            executor.dispatch(task)

    def execute(self, task: Task) -> None:
        """Runs one task's calculator method (no lock held)."""
        node = task.node
        now = self.clock.now
        start = now()
        kind = task.kind
        try:
            if kind is _OPEN:
                node.calc = node.spec.calculator()
            packets = task.packets
            if packets is None:
                packets = [EMPTY_PACKET] * len(node.queues)
            cc = node.context
            # One call at a time (max_in_flight 1): the last call's context is reused, its
            # outputs having been taken by complete() before this task could start.
            if cc is None or node.max_in_flight > 1:
                cc = CalculatorContext(
                    node.name, _Inputs(node.input_ids, packets, node.input_lookup, task.bounds),
                    node.output_ids, node.output_specs, _SideInputs(node.side_values),
                    node.side_outputs, node.spec.options, task.ts)
                node.context = cc
            else:
                inputs = cc.inputs
                inputs._packets = packets
                inputs._bounds = task.bounds
                cc.timestamp = task.ts
                for out in cc.outputs.streams:
                    if out.packets:  # (a new list: a fused consumer may hold the old one)
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
            elif task.sets is not None:
                inputs = cc.inputs
                for ts, packets in task.sets:
                    inputs._packets = packets
                    cc.timestamp = task.ts = ts
                    calc.process(cc)
            elif kind is _PROCESS:
                calc.process(cc)
            elif kind is _OPEN:
                calc.open(cc)
            else:
                calc.close(cc)
        except Stop:
            task.stopped = True
        except Exception as exc:
            task.error = exc
        end = now()
        calls = len(task.batch) if task.batch else len(task.sets) if task.sets else 1
        node.cost += 0.25 * ((end - start) / calls - node.cost)
        if self.tracer is not None:
            self.tracer.record(node.name, node.spec.calculator.__name__, kind.value,
                               task.ts, start, end)
        if task.chain is not None:
            self._run_chain(task)

    def _run_chain(self, task: Task) -> None:
        """Runs the nodes fused to ``task``'s (no lock held), each over the packets the one
        before it sent, until one sends none, fails or stops.

        Only this task touches the streams between them, so their bounds can be read here.
        Packets whose timestamps do not increase stop the chain where they were sent: the
        producer's completion reports them, as without fusion, and no consumer sees them.
        """
        prev = task
        assert task.chain is not None
        for sub in task.chain:
            if prev.error is not None or prev.stopped:
                return
            cc = prev.cc
            assert cc is not None
            stream = prev.node.fuse_stream
            packets = cc.outputs.streams[stream].packets
            if not packets:
                return
            last = prev.node.streams[stream].bound - 1
            for packet in packets:
                # (Packets at PreStream, Max or PostStream end their stream: _apply_outputs
                # makes the checks they need.)
                if packet._timestamp <= last or not MIN <= packet._timestamp < MAX:
                    return
                last = packet._timestamp
            sub.packets = [packets[0]]
            sub.batch = packets
            self.execute(sub)
            task.ran += 1
            prev = sub

    # locked
    def complete(self, task: Task) -> None:
        """Takes a finished task's results (and those of the tasks fused to it)."""
        self.running -= 1
        if not self.running and self.pools:  # (only idle pool threads read it)
            self.idle_since = self.clock.now()
        chain = task.chain
        if chain is None:
            self._settle(task, False)
            self._follow_up(task)
        else:
            tasks = [task, *chain]
            for i, done in enumerate(tasks):
                self._settle(done, i < task.ran)  # the next ran: it consumed the packets
            for done in tasks:
                self._follow_up(done)
        if self.inbox or not self.running or self.changed._waiters:  # type: ignore[attr-defined]
            self.after_change()  # (else it has nothing to do: the common case, one call less)

    # locked
    def _settle(self, task: Task, consumed: bool) -> None:
        """Applies a finished task's outputs and state change (``consumed``: the packets of
        its one output stream were processed already, by the consumer fused to it)."""
        node = task.node
        if task.error is not None and not (task.kind is _CLOSE and self.ended):
            if task.kind is _PROCESS:
                node.in_flight -= 1
            else:  # a failed open or close: the node is finished (close is not called)
                node.state = _CLOSED
            self._fail(self._node_error(node, task))
            return
        if task.kind is _PROCESS:
            node.in_flight -= 1
            if self.error is not None:
                pass  # the run failed elsewhere: results are dropped, the node is closing
            elif node.max_in_flight > 1:
                node.finished[task.seq] = task
                while node.apply_seq in node.finished:
                    done = node.finished.pop(node.apply_seq)
                    node.apply_seq += 1
                    self._apply_outputs(node, done, False)
            else:
                self._apply_outputs(node, task, consumed)
            if node.side_outputs.values and self._publish_node_side_packets(node):
                self._open_ready_nodes()
        elif task.kind is _OPEN:
            node.state = _OPEN_STATE
            if self.error is not None:
                self._begin_close(node)
            else:
                self._apply_outputs(node, task, False)  # packets sent in open(), e.g. headers
                if self.all_open:  # opened late, once its side packets came
                    self._start_node(node)
                self._publish_node_side_packets(node)
                if not node.spec.inputs and not node.spec.outputs:
                    self.constant_nodes[node.spec.index] = (
                        node.side_values, dict(node.side_outputs.values))
                self._open_ready_nodes()  # (ends the opening phase after the last open)
        else:
            node.state = _CLOSED
            if not self.ended:
                self._apply_outputs(node, task, False)
                for stream in node.streams:
                    self._advance_stream(stream, DONE)
            if self._publish_node_side_packets(node):
                self._open_ready_nodes()

    # locked
    def _follow_up(self, task: Task) -> None:
        """After a process task settled: what the node does next (stop, run again, close)."""
        if task.kind is not _PROCESS or task.error is not None:
            return
        node = task.node
        if task.stopped and node.is_source:
            self._begin_close(node)
        elif task.stopped:
            self._stop_sources()
            self._check_ready(node)  # it goes on with the inputs it has, as in MediaPipe
        elif self.error is None:
            if node.is_source:
                self._schedule_source(node)
            elif task.cc is None or not node.settled_after(task.ts):
                # (A fused node that was not called has not settled.)
                self._check_ready(node)
        if node.state is _CLOSING_PENDING and node.in_flight == 0:
            if (node.bounds_mode or (node.handler.holds_sets and
                                     node.handler.held_timestamp() != DONE)) and \
                    not node.is_source and self.error is None:
                # Its inputs closed while it ran: it may still owe its handler's last
                # call (immediate handler) or held sets (batches), which _check_ready makes
                # before closing it.
                node.state = _OPEN_STATE
                self._check_ready(node)
            else:
                self._begin_close(node)

    # locked
    def after_change(self) -> None:
        """Delivers waiting graph inputs, resolves a throttling deadlock of sources, notices
        the end of the run, wakes waiters."""
        if self.inbox and self.error is None:
            self._drain_inbox()
        if not self.running:
            if self.error is None and any(n.throttled for n in self.sources):
                # Nothing runs, so nothing drains what throttles them (MediaPipe's
                # Scheduler::HandleIdle).
                self.unthrottle_if_stalled()
            self._check_done()
        # Waiters want the graph idle or done (wait_*), or a throttled input released
        # (_release_if_drained notifies them): waking them for every finished task would cost
        # a thread switch each time. The synchronous caller runs the tasks external executors
        # make ready, so it hears of every change.
        if self.changed._waiters and (  # type: ignore[attr-defined]
                self.running == 0 or self.done or self.error is not None or self.synchronous):
            self.changed.notify_all()

    # locked
    def _publish_side_packets(self, values: dict[str, Any]) -> bool:
        """Publishes the side packets of ``values`` not published yet; whether any was (the
        caller then opens the nodes waiting for them)."""
        new = False
        for name, value in values.items():
            if name not in self.side_packets:
                self.side_packets[name] = value
                new = True
        return new

    # locked
    def _publish_node_side_packets(self, node: Node) -> bool:
        """Publishes the side packets that ``node`` set since its last call was settled;
        whether any was new (each is set once: a node that set its side packets in open
        has nothing to publish after each later call)."""
        values = node.side_outputs.values
        if len(values) == node.side_published:
            return False
        node.side_published = len(values)
        return self._publish_side_packets(values)

    def _node_error(self, node: Node, task: Task) -> GraphError:
        exc = task.error
        assert exc is not None
        when = f" at timestamp {task.ts}" if task.kind is _PROCESS and \
            task.ts.is_range_value() and not node.is_source else ""
        error = node_error(node.spec, f"failed in {task.kind.value}{when}: "
                           f"{type(exc).__name__}: {exc}", task.kind.value, task.ts)
        error.__cause__ = exc
        return error

    # ---------------------------------------------------------------- packets and bounds

    # locked
    def _apply_outputs(self, node: Node, task: Task, consumed: bool) -> None:
        """Sends a task's packets on and advances its streams' bounds (``consumed``: the
        consumer fused to the node processed the packets already, see _run_chain, which
        checked their timestamps: only the bounds move)."""
        cc = task.cc
        if cc is None:
            return
        offset_bound = UNSTARTED  # below every packet timestamp: no bound to apply
        if node.offset is not None and task.kind is _PROCESS and MIN <= task.ts <= MAX and \
                not node.is_source:  # (a source's timestamp is a dummy: _SOURCE_TS)
            offset_bound = int(task.ts) + node.offset + 1
            if offset_bound > MAX:  # MediaPipe clamps T + offset to MAX: nothing follows
                offset_bound = ONE_OVER_POSTSTREAM
        fused = node.streams[node.fuse_stream] if consumed else None
        # Consumers are checked once every output stream is updated: a node fed by several
        # streams of this call sees all their changes at once, as in MediaPipe.
        touched: dict[Node, None] = {}
        for stream, out in zip(node.streams, cc.outputs.streams, strict=True):
            if stream is fused:
                bound = int(out.packets[-1]._timestamp) + 1
                stream.bound = stream.consumers[0].bound = bound
                stream.carried = True
            elif out.packets:
                consumers = stream.consumers
                for packet in out.packets:
                    ts = packet._timestamp
                    if ts < stream.bound:
                        self._fail(node_error(
                            node.spec, f"output stream {stream.name!r} got a packet at "
                            f"{packet.timestamp}, but the stream is already at "
                            f"{Timestamp(stream.bound)} (timestamps must increase)",
                            task.kind.value, task.ts))
                        return
                    bound = int(ts) + 1
                    if bound > MAX or bound == MIN:
                        ended = self._packet_ends(node, task, stream, out.packets, packet)
                        if ended is None:
                            return
                        bound = ended
                    stream.bound = bound
                    for queue in consumers:
                        queue.packets.append(packet)
                        queue.bound = bound
                        if len(queue.packets) >= queue.limit and not queue.full:
                            self._set_full(queue, True)
                stream.carried = True
                for queue in consumers:
                    touched[queue.node] = None
            bound = offset_bound
            if out.closed:
                bound = DONE
            elif out.bound is not None and out.bound > bound:
                bound = int(out.bound)
            if bound > stream.bound:
                self._advance_stream(stream, bound, touched)
        for consumer in touched:
            self._check_ready(consumer)

    # locked
    def _advance_stream(self, stream: Stream, bound: int,
                        touched: dict[Node, None] | None = None) -> None:
        """Moves a stream's bound; checks its consumers now, or adds them to ``touched``."""
        if bound <= stream.bound:
            return
        stream.bound = bound
        for queue in stream.consumers:
            if bound > queue.bound:
                if bound >= ONE_OVER_POSTSTREAM > queue.bound:
                    queue.node.open_inputs -= 1  # no timestamp is left: the input has ended
                queue.bound = bound
                if touched is None:
                    self._check_ready(queue.node)
                else:
                    touched[queue.node] = None

    # locked
    def _packet_ends(self, node: Node, task: Task, stream: Stream,
                     packets: list[Packet[Any]], packet: Packet[Any]) -> int | None:
        """A packet of ``node`` at PreStream, Max or PostStream on ``stream`` (one of
        ``packets``, the call's): returns the stream's new bound, or None if the run failed.

        A packet at PostStream must be its stream's only packet: MediaPipe checks it where
        the stream has consumers (InputStreamManager::AddPackets).
        """
        if packet._timestamp == Timestamp.POSTSTREAM and stream.consumers and (
                stream.carried or packet is not packets[0]):
            self._fail(node_error(
                node.spec, f"output stream {stream.name!r} got a packet at "
                f"{Timestamp.POSTSTREAM} after other packets (a packet at "
                f"{Timestamp.POSTSTREAM} must be the only one of its stream)",
                task.kind.value, task.ts))
            return None
        return self._end_consumers(stream)

    @staticmethod
    def _end_consumers(stream: Stream) -> int:
        """A packet at PreStream, Max or PostStream leaves its stream no timestamp
        (MediaPipe's NextAllowedInStream): its consumers' inputs have ended, though the packet
        is still to be processed. Returns the stream's new bound."""
        for queue in stream.consumers:
            queue.node.open_inputs -= 1
        return ONE_OVER_POSTSTREAM

    # locked
    def _set_full(self, queue: InputQueue, full: bool) -> None:
        queue.full = full
        step = 1 if full else -1
        for source in queue.node.upstream:
            self.throttle[source] += step

    # locked
    def _release_if_drained(self, queue: InputQueue) -> None:
        # Hysteresis: release throttled producers only once the queue has drained to half, so
        # that a full queue does not wake its producer for every single packet. A queue with
        # a limit of its own (set for its graph input, or raised to resolve a deadlock) is
        # released as soon as it is below it, as in MediaPipe: a raised limit is what the
        # stalled graph could hold, so waiting for half of it could stall it again.
        limit = queue.limit
        if len(queue.packets) <= (limit - 1 if queue.own_limit else limit >> 1):
            self._set_full(queue, False)
            self.changed.notify_all()
            for node in self.nodes:
                if node.is_source and node.throttled and not self.throttle[node.throttle_key]:
                    node.throttled = False
                    self._schedule_source(node)

    def _validate_input(self, name: str, packet: Packet[Any]) -> Timestamp:
        ts = packet._timestamp
        if not MIN <= ts <= MAX and ts != _PRESTREAM and ts != _POSTSTREAM:
            raise ValueError(f"graph input stream {name!r}: packet timestamp {ts} is not a valid "
                             "packet timestamp")
        if self.added_bound[name] == ONE_OVER_POSTSTREAM:
            raise ValueError(f"graph input stream {name!r}: no timestamp is left after a packet "
                             f"at {Timestamp.PRESTREAM}, {Timestamp.MAX} or "
                             f"{Timestamp.POSTSTREAM}, or a bound past {Timestamp.MAX} (got a "
                             f"packet at {ts})")
        if ts < self.added_bound[name]:
            raise ValueError(f"graph input stream {name!r}: timestamp {ts} is not greater than "
                             f"the previous one ({Timestamp(self.added_bound[name] - 1)})")
        if self.error is not None:
            raise self.error
        return ts

    # locked
    def _add_throttled(self, name: str, packet: Packet[Any], block: bool) -> bool:
        """Waits (or gives up) while the stream's consumers are full."""
        key = self.input_keys[name]
        while self.throttle[key] and self.error is None:
            if not block:
                return False
            if self.synchronous:
                self.lock.release()
                try:
                    run_here(self, lambda: not self.throttle[key] or self.error is not None)
                finally:
                    self.lock.acquire()
                if self.throttle[key] and not self.unthrottle_if_stalled():
                    break
                continue
            if self.unthrottle_if_stalled():
                break
            self.changed.wait(0.1)
        if self.error is not None:
            raise self.error
        if not self.synchronous and self._kick(self.input_pools[name]):
            self.inbox.append((name, packet))  # (input_lock is held)
        else:
            self._deliver_input(name, packet)
        return True

    # locked
    def _drain_inbox(self) -> None:
        # Deliver everything before checking readiness, so that packets added at one
        # timestamp on several streams reach a node together, as if added directly.
        inbox = self.inbox
        touched: dict[Node, None] = {}
        while inbox:
            name, packet = inbox.popleft()
            self._deliver_input(name, packet, touched)
        for node in touched:
            self._check_ready(node)

    # locked
    def _deliver_input(self, name: str, packet: Packet[Any],
                       touched: dict[Node, None] | None = None) -> None:
        """Queues a graph input packet; checks the consumers now, or adds them to ``touched``."""
        stream = self.graph_inputs[name]
        bound = int(packet._timestamp) + 1
        if bound > MAX or bound == MIN:
            bound = self._end_consumers(stream)
        stream.bound = bound
        for queue in stream.consumers:
            queue.packets.append(packet)
            queue.bound = bound
            if len(queue.packets) >= queue.limit and not queue.full:
                self._set_full(queue, True)
            if touched is None or queue.node.handler.drops_packets:
                # A handler that drops packets looks at every packet added, as MediaPipe's
                # FixedSizeInputStreamHandler::AddPackets does.
                self._check_ready(queue.node)
            else:
                touched[queue.node] = None

    # locked
    def unthrottle_if_stalled(self) -> bool:
        """If throttling blocks everything (nothing runs), resolves it as MediaPipe does
        (CalculatorGraph::UnthrottleSources): each full queue's limit grows to its size + 1;
        with ``report_deadlock``, the run fails instead, naming the queue's stream and node.

        Returns:
            Whether any queue was full.
        """
        if self.running or any(e.ready for e in self.executors.values()):
            return False
        full = [q for n in self.nodes for q in n.queues if q.full]
        if not full:
            return False
        if self.report_deadlock:
            queue = full[0]
            self._fail(node_error(
                queue.node.spec, "detected a deadlock due to input throttling for input stream "
                f"{queue.node.spec.inputs[queue.slot].name!r}: all calculators are idle while "
                "packet sources remain active and throttled (adjust max_queue_size or "
                "report_deadlock)"))
            self.after_change()
            return True
        for queue in full:
            queue.limit = len(queue.packets) + 1
            queue.own_limit = True
            self._set_full(queue, False)
            # Once a run (it may go on one packet at a time, as MediaPipe's does), then quieter.
            logger.log(logging.DEBUG if self.resolved_deadlock else logging.WARNING,
                       "resolved a deadlock by raising the max_queue_size of input stream %r of "
                       "node %r to %d (consider a larger max_queue_size)",
                       queue.node.spec.inputs[queue.slot].name, queue.node.name, queue.limit)
            self.resolved_deadlock = True
        self._update_input_limits()
        for node in self.nodes:
            if node.is_source and node.throttled:
                node.throttled = False
                self._schedule_source(node)
        return True

    # locked
    def _update_input_limits(self) -> None:
        for name, stream in self.graph_inputs.items():
            self.input_limits[name] = min((q.limit for q in stream.consumers),
                                          default=self.max_queue)

    # locked
    def _stop_sources(self) -> None:
        """A non-source raised Stop: end every source and graph input, as MediaPipe does."""
        for node in self.nodes:
            if node.is_source and node.state is _OPEN_STATE:
                if node.in_flight:
                    node.state = _CLOSING_PENDING
                else:
                    self._begin_close(node)
        self._close_graph_inputs([n for n in self.graph_inputs if n not in self.closed_inputs])

    # locked
    def _close_graph_inputs(self, names: list[str]) -> None:
        """Closes graph input streams; their consumers see all the closes at once, as in
        MediaPipe's CloseAllInputStreams (an Immediate-handler node makes no call for the
        first input to end when the others end with it)."""
        self._drain_inbox()
        touched: dict[Node, None] = {}
        for name in names:
            self.closed_inputs.add(name)
            self._advance_stream(self.graph_inputs[name], DONE, touched)
        for node in touched:
            self._check_ready(node)
        self.after_change()

    # ---------------------------------------------------------------- readiness

    # locked
    def _schedule_source(self, node: Node) -> None:
        if node.state is not _OPEN_STATE or node.in_flight or self.error is not None:
            return
        if self.throttle[node.throttle_key]:
            node.throttled = True
            return
        node.in_flight += 1
        task = Task(node, _PROCESS, _SOURCE_TS, None)
        if node.fuse_next is not None:
            self._fuse(task)
        self._schedule(task)

    # locked
    def _check_ready(self, node: Node) -> None:
        if node.state is not _OPEN_STATE or not self.all_open or self.error is not None:
            return
        handler = node.handler
        queues = node.queues
        if handler.drops_packets:
            handler.erase_surplus()
        while node.in_flight < node.max_in_flight:
            task: Task | None
            drained: InputQueue | None = None
            if node.single:
                queue = queues[0]
                packets = queue.packets
                if not packets:
                    break
                if node.max_in_flight == 1 and len(packets) > 1:
                    take = len(packets)
                    if take > self.max_take:
                        take = self.max_batch
                    batch = [packets.popleft() for _ in range(take)]
                    task = Task(node, _PROCESS, batch[0]._timestamp, [batch[0]], None, batch)
                else:
                    packet = packets.popleft()
                    task = Task(node, _PROCESS, packet._timestamp, [packet])
                if queue.full:
                    drained = queue  # released once the node counts as busy (below)
            else:
                if node.packet_driven and node.open_inputs == len(queues):
                    for q in queues:
                        if q.packets:
                            break
                    else:
                        # Only a bound moved: a packet-driven handler makes no input set
                        # without a packet or an ended input (see Node.settled_after).
                        break
                task = handler.select()
                if task is None:
                    break
                if node.batch_sets:
                    self._add_sets(task, handler)
            if node.max_in_flight > 1:
                task.seq = node.next_seq
                node.next_seq += 1
            elif node.fuse_next is not None:
                self._fuse(task)
            node.in_flight += 1
            self._schedule(task)
            if drained is not None:
                # Only now: a source released earlier would fuse this node, idle and with
                # nothing queued, into its own task, ahead of the packets just taken.
                self._release_if_drained(drained)
        if node.offset is not None and not node.in_flight and (
                not node.bounds_mode or (handler.holds_sets and handler.held_timestamp() != DONE)):
            # (A node processing bounds is called for them, unless its handler holds a batch.)
            self._propagate_offset_bound(node)
        open_inputs = node.open_inputs
        if (open_inputs == 0 or open_inputs < len(queues)) and node.state is _OPEN_STATE and (
                (open_inputs == 0 and node.inputs_done()) or (
                    handler.closes_early and open_inputs < len(queues) and
                    handler.ready_for_close())):
            if node.in_flight:
                node.state = _CLOSING_PENDING
            else:
                self._begin_close(node)

    # locked
    def _add_sets(self, task: Task, handler: InputStreamHandler) -> None:
        """Adds the input sets that are ready after ``task``'s to it (max_take in all: a node
        fed by batches of max_take packets takes each in one task)."""
        if self.max_batch < 2:
            return
        for q in handler.queues:
            if q.packets:
                break
        else:
            return  # (without bounds to report, a set needs a packet)
        more = handler.select()
        if more is None:
            return
        assert task.packets is not None and more.packets is not None
        sets = [(task.ts, task.packets), (more.ts, more.packets)]
        while len(sets) < self.max_take and (more := handler.select()) is not None:
            assert more.packets is not None
            sets.append((more.ts, more.packets))
        task.sets = sets

    # locked
    def _fuse(self, task: Task) -> None:
        """Operator chaining: lets the nodes after ``task``'s run in it, each right after the
        one before, over the packets it sent (_run_chain), with no queue, task or lock round
        trip between them.

        Only short nodes are fused (the same rule as the pool's wake rule: a short call is not
        worth a second thread), so long calls, which release the GIL, still overlap on two
        threads. A node joins only while it is idle with nothing queued; it is counted in
        flight until the task completes, so nothing else schedules it meanwhile.
        """
        node = task.node
        if node.cost >= WAKE_COST:
            return
        chain = []
        nxt = node.fuse_next
        while nxt is not None and nxt.in_flight == 0 and nxt.cost < WAKE_COST and \
                nxt.state is _OPEN_STATE and not nxt.queues[0].packets:
            nxt.in_flight = 1
            chain.append(Task(nxt, _PROCESS, task.ts, None))
            nxt = nxt.fuse_next
        if chain:
            task.chain = chain

    # locked
    def _propagate_offset_bound(self, node: Node) -> None:
        """MediaPipe's bound propagation for a node with a timestamp offset and nothing to run:
        its inputs are settled up to the first queued packet (or their bounds, or the first
        input set its handler holds back), so its outputs can have no packet below that plus
        the offset, and their bounds move there without a call to the calculator (a gate, say,
        whose input only advanced its bound)."""
        handler = node.handler
        settled = handler.held_timestamp() if handler.holds_sets else DONE
        for q in node.queues:
            packets = q.packets
            if packets:
                head = int(packets[0]._timestamp)
                if head < settled:
                    settled = head
            elif q.bound < settled:
                settled = q.bound
        if settled == DONE or not MIN <= settled - 1 <= MAX:
            return
        bound = settled + node.offset  # type: ignore[operator]  # (called only with one)
        if bound > MAX:  # as in _apply_outputs
            bound = ONE_OVER_POSTSTREAM
        for stream in node.streams:
            if bound > stream.bound:
                self._advance_stream(stream, bound)

    # locked
    def _begin_close(self, node: Node) -> None:
        node.state = _CLOSING
        self._schedule(Task(node, _CLOSE, Timestamp.DONE, None))

    # ---------------------------------------------------------------- ending

    # locked
    def _fail(self, error: GraphError) -> None:
        if self.error is None:
            self.error = error
            logger.debug("graph failed: %s", error)
        for executor in self.executors.values():
            ready = executor.ready
            kept = [t for t in ready if t.kind is _CLOSE]
            for task in ready:
                if task.kind is _PROCESS:
                    task.node.in_flight -= 1
                    for fused in task.chain or ():
                        fused.node.in_flight -= 1
                elif task.kind is _OPEN:
                    task.node.state = _CLOSED  # never opened: nothing to close
            self.running -= len(ready) - len(kept)
            ready.clear()
            ready.extend(kept)
        if not self.running and self.pools:
            self.idle_since = self.clock.now()
        for node in self.nodes:
            if node.state in (_OPEN_STATE, _CLOSING_PENDING) and node.in_flight == 0:
                self._begin_close(node)
            elif node.state is _OPEN_STATE:
                node.state = _CLOSING_PENDING
            elif node.state is _NEW:
                node.state = _CLOSED

    # locked
    def _start_source_layer(self) -> bool:
        """MediaPipe's source layers (Scheduler::TryToScheduleNextSourceLayer): once the graph
        idles with the sources started last all closed, the opened sources of the lowest
        waiting layer start together. A source of a lower layer that has not opened (its side
        packets have not come) holds the higher layers back; with every graph input closed
        nothing can open it, and the run fails with a deadlock. Called with nothing running.

        Returns:
            Whether a layer started.
        """
        if not self.waiting_sources or not self.all_open or self.error is not None or \
                self.inbox or any(n.state is not _CLOSED for n in self.active_sources):
            return False
        layer = min(n.spec.source_layer for n in self.waiting_sources)
        unopened = [n for n in self.sources if n.spec.source_layer < layer and
                    (n.state is _NEW or n.state is _OPENING)]
        if unopened:
            if len(self.closed_inputs) == len(self.graph_inputs):
                blocked = unopened[0].spec
                self._fail(node_error(blocked, f"detected a deadlock: the sources of layer "
                                      f"{layer} cannot start while this source of layer "
                                      f"{blocked.source_layer} has not opened (it waits for "
                                      "input side packets)"))
            return False
        self.active_sources = sorted((n for n in self.waiting_sources
                                      if n.spec.source_layer == layer),
                                     key=lambda n: n.spec.index)
        self.waiting_sources = [n for n in self.waiting_sources
                                if n.spec.source_layer != layer]
        for node in self.active_sources:
            self._schedule_source(node)
        return True

    # locked
    def _end_when_idle(self) -> None:
        """MediaPipe ends a run once it is idle with every graph input closed and no source
        left (Scheduler::HandleIdle): nothing can happen any more, so the nodes still open
        are closed, their outputs dropped (CalculatorNode::CleanupAfterRun: the run has
        ended), and those that never opened stay unopened. Called with nothing running."""
        if self.ended or not self.all_open or self.error is not None or self.inbox or \
                len(self.closed_inputs) < len(self.graph_inputs) or any(
                    n.state is not _CLOSED and n.state is not _NEW for n in self.sources):
            return
        if all(n.state is _CLOSED or n.state is _NEW for n in self.nodes):
            return  # (the run ends by itself)
        self.ended = True
        for node in self.nodes:
            if node.state is _OPEN_STATE:
                self._begin_close(node)

    # locked
    def _check_done(self) -> None:
        if self.done:
            return
        if self.running == 0 and not (self.layered and self._start_source_layer()):
            self._end_when_idle()
        if self.running == 0 and all(n.state in (_CLOSED, _NEW) for n in self.nodes) and (
                self.error is not None or self.all_open):
            self.done = True
            for executor in self.executors.values():
                executor.wake_all()


def default_num_threads() -> int:
    """MediaPipe's default pool size: the number of CPU cores."""
    return max(1, os.cpu_count() or 1)
