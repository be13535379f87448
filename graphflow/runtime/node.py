"""The run-time state of a graph's nodes: their input queues, output streams and tasks.

Everything here is guarded by the scheduler lock (see :class:`~graphflow.runtime.scheduler.
Scheduler`); the objects hold state and know nothing of threads.
"""

from __future__ import annotations

import collections
import enum
from typing import TYPE_CHECKING, Any

from graphflow.calculator import Calculator
from graphflow.context import CalculatorContext, PortId, _SideOutputs, port_lookup
from graphflow.packet import Packet
from graphflow.timestamp import Timestamp

if TYPE_CHECKING:
    from graphflow.config import NodeSpec
    from graphflow.runtime.executors import Executor
    from graphflow.runtime.handlers import InputStreamHandler

DONE = int(Timestamp.DONE)
UNSTARTED = int(Timestamp.UNSTARTED)
MIN = int(Timestamp.MIN)
MAX = int(Timestamp.MAX)
ONE_OVER_POSTSTREAM = int(Timestamp.ONE_OVER_POSTSTREAM)

# Until a node's calls have been timed, assume this long (seconds) a call: the pool's wake rule
# (executors.worth_waking) treats it as long.
INITIAL_COST = 150e-6


class NodeState(enum.Enum):
    """Where a node is in its lifecycle: NEW -> OPENING -> OPEN -> (CLOSING_PENDING) ->
    CLOSING -> CLOSED. CLOSING_PENDING: it must close once its running calls return."""

    NEW = "new"
    OPENING = "opening"
    OPEN = "open"
    CLOSING_PENDING = "closing_pending"
    CLOSING = "closing"
    CLOSED = "closed"


class TaskKind(enum.Enum):
    """Which calculator method a task calls (the value is the method's name)."""

    OPEN = "open"
    PROCESS = "process"
    CLOSE = "close"


class InputQueue:
    """One input stream of one node: its pending packets and its timestamp bound."""

    __slots__ = ("bound", "full", "limit", "node", "own_limit", "packets", "slot")

    def __init__(self, node: Node, slot: int) -> None:
        self.packets: collections.deque[Packet[Any]] = collections.deque()
        self.bound = UNSTARTED
        self.node = node
        self.slot = slot
        self.limit = 0  # its max_queue_size (set by the scheduler)
        # The limit is its own (set for its graph input, or raised to resolve a deadlock), not
        # the graph's max_queue_size, even where the two are equal.
        self.own_limit = False
        self.full = False  # holds `limit` packets: its upstream sources are throttled


class Stream:
    """An output stream (or a graph input stream): where its packets go, how far it has come."""

    __slots__ = ("bound", "carried", "consumers", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.consumers: list[InputQueue] = []
        self.bound = UNSTARTED
        self.carried = False  # a packet went out on it


class Node:
    """The run-time state of one calculator node."""

    def __init__(self, spec: NodeSpec, executor: Executor) -> None:
        calculator = spec.calculator
        self.spec = spec
        self.name = spec.name
        self.executor = executor
        self.calc: Calculator | None = None
        self.context: CalculatorContext | None = None
        self.queues = [InputQueue(self, i) for i in range(len(spec.inputs))]
        self.input_ids = {s.port: i for i, s in enumerate(spec.inputs)}
        self.input_lookup = port_lookup(self.input_ids)
        self.output_ids = {s.port: i for i, s in enumerate(spec.outputs)}
        self.output_specs = [(s.name, _port_type(calculator.outputs, s.tag))
                             for s in spec.outputs]
        self.streams: list[Stream] = []
        self.is_source = not spec.inputs and bool(spec.outputs)
        self.state = NodeState.NEW
        self.in_flight = 0
        self.max_in_flight = spec.max_in_flight
        # max_in_flight > 1: results are applied in the order the calls were handed out.
        self.next_seq = 0
        self.apply_seq = 0
        self.finished: dict[int, Task] = {}
        self.offset = calculator.timestamp_offset
        self.bounds_mode = calculator.process_timestamp_bounds
        self.handler: InputStreamHandler  # set by the scheduler once the node exists
        self.side_values: dict[PortId, Any] = {}
        self.side_outputs = _SideOutputs({s.port: s.name for s in spec.side_outputs})
        self.side_published = 0  # how many of side_outputs' values the scheduler published
        self.upstream: frozenset[str] = frozenset()  # throttle keys of its sources and inputs
        self.throttle_key = f"node:{spec.index}"  # a source's key in Scheduler.throttle
        self.throttled = False
        self.cost = INITIAL_COST  # running mean of one call's time (seconds)
        self.open_inputs = len(self.queues)
        # One input and no bounds to report: the input set is simply the next packet, and a
        # run of queued packets is one task (unless the handler drops packets).
        self.single = False
        # The node that may run in this node's tasks, over the packets of its output stream
        # fuse_stream (Scheduler._fuse).
        self.fuse_next: Node | None = None
        self.fuse_stream = 0
        # Several ready input sets of a node with more inputs may run as one task.
        self.batch_sets = False
        # Its handler makes a call only for queued packets or a stream that ends (no bounds
        # to report, no packets to drop): see settled_after.
        self.packet_driven = False

    def settled_after(self, ts: int) -> bool:
        """True if a packet-driven node called at ``ts`` has nothing more to do: no packet is
        queued, no input is bounded past ``ts + 1`` and none has ended, so no call is ready
        and the offset bound is the one the call's outputs applied."""
        if not self.packet_driven or self.open_inputs != len(self.queues):
            return False
        for q in self.queues:
            if q.packets or q.bound - 1 > ts:
                return False
        return True

    def inputs_done(self) -> bool:
        """True once every input stream is done and drained."""
        return self.open_inputs == 0 and not any(q.packets for q in self.queues)


class Task:
    """One call (or, for a batch, a run of calls) of a node's calculator.

    A process task may carry a ``chain``: tasks of the nodes downstream that run, in the same
    task, over the packets each one before produced (see ``Scheduler._fuse``); ``ran`` counts
    those that did.
    """

    __slots__ = ("batch", "bounds", "cc", "chain", "error", "kind", "node", "packets", "ran",
                 "seq", "sets", "stopped", "ts")
    seq: int  # set only for nodes with max_in_flight > 1

    def __init__(self, node: Node, kind: TaskKind, ts: Timestamp,
                 packets: list[Packet[Any]] | None, bounds: list[int] | None = None,
                 batch: list[Packet[Any]] | None = None) -> None:
        self.node = node
        self.kind = kind
        self.ts = ts
        self.packets = packets
        self.bounds = bounds  # each input's bound, for process_timestamp_bounds
        self.batch = batch  # several packets of a one-input node, processed in order
        # Several input sets of a node with more inputs, (timestamp, packets) each, in order.
        self.sets: list[tuple[Timestamp, list[Packet[Any]]]] | None = None
        self.cc: CalculatorContext | None = None
        self.error: BaseException | None = None
        self.stopped = False  # the calculator raised Stop
        self.chain: list[Task] | None = None
        self.ran = 0


def _port_type(ports: Any, tag: str) -> Any:
    for p in ports:
        if p.tag == tag or p.tag == "*":
            return p.type
    return object
