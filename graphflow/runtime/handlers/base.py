"""The input stream handler interface and its registry.

An input stream handler decides, for one node, when an input set is ready and which packets
it holds (MediaPipe's ``InputStreamHandler``). Each handler is a small class in its own module of
this package, registered under MediaPipe's name with :func:`register_input_stream_handler`; a
node's handler object owns the state its rule needs. The scheduler calls it with its lock held.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from mypy_extensions import mypyc_attr

from graphflow.calculator import EMPTY_PACKET, PortId
from graphflow.packet import Packet
from graphflow.runtime.node import DONE, MAX, MIN, UNSTARTED, InputQueue, Node, Task, TaskKind
from graphflow.timestamp import Timestamp

H = TypeVar("H", bound=type["InputStreamHandler"])

_HANDLERS: dict[str, type[InputStreamHandler]] = {}


# Compiled with the runtime (native.py), it stays open to subclasses in Python: users' own
# handlers, registered with register_input_stream_handler.
@mypyc_attr(allow_interpreted_subclasses=True)
class InputStreamHandler:
    """Base class: picks a node's next input set from its queues.

    Args:
        node: The node whose queues it reads.
        options: What :meth:`parse_options` returned for the node's config.
        release: Called with a queue that was full (throttling its producers) after packets
            left it; the scheduler releases the producers once it has drained enough.

    Class attributes:
        name: MediaPipe's name of the handler, as written in graph configs.
        drops_packets: :meth:`erase_surplus` must run whenever the node's inputs change,
            even while the node is busy.
        closes_early: Once some input has ended, :meth:`ready_for_close` says whether the node
            closes before its inputs are all done.
        batchable: With one input stream and no bounds to report, the input set is simply the
            next packet: the scheduler takes packets itself (one task for a run of them)
            without calling :meth:`select`.
        sets_batchable: Without bounds to report, the input sets that successive
            :meth:`select` calls return may run in one task, in order.
        holds_sets: :meth:`held_timestamp` may return something other than DONE; set
            automatically on an instance of a class that overrides it (the instance may turn it
            off), so that the scheduler does not ask the other handlers.
    """

    name: ClassVar[str]
    drops_packets: ClassVar[bool] = False
    closes_early: ClassVar[bool] = False
    # (An instance may turn these two off: a DefaultInputStreamHandler with batches.)
    batchable: bool = True
    sets_batchable: bool = False
    holds_sets: bool = False  # (set in __init__)

    def __init__(self, node: Node, options: Any, release: Callable[[InputQueue], None]) -> None:
        cls = type(self)
        self.holds_sets = cls.held_timestamp is not InputStreamHandler.held_timestamp
        # Compiled, the flags are slots of the instance that compiled code (the scheduler)
        # reads directly, past a Python subclass's class attributes: copy those into them. (On
        # a compiled class, the class attribute is the slot's descriptor, not a bool; getattr
        # and object, as mypyc forbids reading an instance attribute through the class.)
        batchable: object = getattr(cls, "batchable")  # noqa: B009
        if isinstance(batchable, bool):
            self.batchable = batchable
        sets_batchable: object = getattr(cls, "sets_batchable")  # noqa: B009
        if isinstance(sets_batchable, bool):
            self.sets_batchable = sets_batchable
        self.node = node
        self.queues = node.queues
        self.release = release
        # The last timestamp the node was called at (packets or bounds): a bounds-only call
        # is made only for a later one.
        self.last_settled = UNSTARTED

    @classmethod
    def parse_options(cls, options: Any, inputs: Sequence[PortId],
                      parse_port: Callable[[str], PortId]) -> Any:
        """Checks the node's ``input_stream_handler { options { ... } }``; returns what the
        handler's constructor takes.

        Args:
            options: The handler config's ``MediaPipeOptions`` message.
            inputs: The node's input ports, in config order.
            parse_port: Parses a ``TAG:index`` string (raises ValueError).

        Raises:
            ValueError: With what is wrong; the config names the node and the line.
        """
        return None

    def select(self) -> Task | None:
        """Takes the next input set (its packets leave the queues), or returns None.

        Called when the node's inputs change (a packet queued, a bound moved, an input ended),
        but for one case: on a node that neither processes timestamp bounds nor has a handler
        with ``drops_packets``, while every input is open and no queue holds a packet, the
        scheduler does not ask: such a node gets no input set from bounds alone (in
        MediaPipe too, it is not called for an empty set).
        """
        raise NotImplementedError

    def erase_surplus(self) -> None:
        """Drops queued packets (handlers with ``drops_packets``)."""

    def held_timestamp(self) -> int:
        """The timestamp of the first input set taken from the queues and held back, not yet
        handed out (DefaultInputStreamHandler's batches), or DONE."""
        return DONE

    def ready_for_close(self) -> bool:
        """Whether the node closes although some input is still open or holds packets
        (handlers with ``closes_early``); if so, the handler drops what its queues hold."""
        return False

    # ----------------------------------------------------------------- helpers for handlers

    def take(self, queues: Sequence[InputQueue], ts: int) -> Task:
        """The task at ``ts`` with the packets that ``queues`` hold there (taken out)."""
        packets = [EMPTY_PACKET] * len(self.queues)
        for q in queues:
            packets_q = q.packets
            if packets_q and packets_q[0]._timestamp == ts:
                packets[q.slot] = packets_q.popleft()
                if q.full:
                    self.release(q)
        return self.task(Timestamp(ts), packets)

    def bounds_task(self, settled: int) -> Task | None:
        """For process_timestamp_bounds: an empty input set when the settled bound advanced."""
        if not self.node.bounds_mode or settled == DONE:
            return None
        ts = settled - 1
        if ts <= self.last_settled or not MIN <= ts <= MAX:
            return None
        self.last_settled = ts
        return self.task(Timestamp(ts), [EMPTY_PACKET] * len(self.queues))

    def task(self, ts: Timestamp, packets: list[Packet[Any]]) -> Task:
        """A process task at ``ts``; with the bounds each stream had for this call."""
        # What this invocation may know of each stream: a packet still queued behind the
        # current set bounds it (MediaPipe's settled timestamp), not the stream's latest bound.
        bounds = [int(q.packets[0]._timestamp) if q.packets else q.bound
                  for q in self.queues] if self.node.bounds_mode else None
        return Task(self.node, TaskKind.PROCESS, ts, packets, bounds)


def register_input_stream_handler(cls: H) -> H:
    """Registers a handler class under its ``name`` (a class decorator, or called after the
    class: the built-in handlers are called so that mypyc compiles them as extension classes)."""
    _HANDLERS[cls.name] = cls
    return cls


def handler_class(name: str) -> type[InputStreamHandler] | None:
    """The handler registered under ``name``, or None."""
    return _HANDLERS.get(name)


def handler_names() -> list[str]:
    """The registered handlers' names."""
    return sorted(_HANDLERS)
