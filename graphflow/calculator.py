"""The calculator API: the base class users subclass, its contract and its context.

A calculator declares its ports and options up front, as class attributes; the framework checks
every node of a graph against them before anything runs, then calls ``open`` once, ``process``
once per input timestamp (or repeatedly, for a source) and ``close`` once, never concurrently
for one instance. Example:

    import graphflow as gf

    @gf.register_calculator
    class ScaleCalculator(gf.Calculator):
        \"\"\"Multiplies each number by the FACTOR side packet.\"\"\"

        inputs = (gf.Port("IN", float),)
        outputs = (gf.Port("OUT", float),)
        input_side_packets = (gf.Port("FACTOR", float),)
        timestamp_offset = 0

        def open(self, cc: gf.CalculatorContext) -> None:
            self.factor = cc.side_inputs["FACTOR"]

        def process(self, cc: gf.CalculatorContext) -> None:
            cc.outputs["OUT"].add(cc.inputs["IN"].payload * self.factor)
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from google.protobuf.message import Message

from graphflow.packet import EMPTY_PACKET, Packet, _frozen
from graphflow.timestamp import Timestamp

C = TypeVar("C", bound=type["Calculator"])

# (tag, index): how a calculator addresses one of its ports, e.g. ("IMAGE", 0) or ("", 2).
PortId = tuple[str, int]


class Stop(Exception):  # noqa: N818 - a signal, not an error; reads as `raise Stop()`
    """Raised by a source calculator's ``process`` to end its output streams.

    Example:
        def process(self, cc):
            if self.count == 10:
                raise gf.Stop()
    """


class ContractError(ValueError):
    """A node's configuration does not satisfy its calculator's contract."""


@dataclasses.dataclass(frozen=True)
class Port:
    """A port a calculator declares: an input or output stream, or a side packet.

    Args:
        tag: The port's tag (``"IMAGE"``), ``""`` for untagged (indexed) ports, or ``"*"`` for
            any tags at all (pass-through style calculators).
        type: The payload type (or tuple of types) checked on packets the calculator outputs;
            ``object`` accepts anything.
        optional: True if a node may leave the port unconnected.
        missing_ok: Input side packets: a run may leave the side packet out although the node
            connects it (MediaPipe's ``Optional()`` packet type); otherwise a connected side
            packet that no node makes must be given to ``start_run``.
        repeated: True if the node may connect several streams, as ``TAG:0:a``, ``TAG:1:b``
            (or several untagged streams for ``tag=""``).
        doc: One line shown by ``graphflow calculators``.
    """

    tag: str
    type: type | tuple[type, ...] = object
    optional: bool = False
    missing_ok: bool = False
    repeated: bool = False
    doc: str = ""


def port_lookup(ids: Mapping[PortId, int]) -> dict[Any, int]:
    """Maps every way of naming a port (``"TAG"``, ``("TAG", i)``, index ``i``) to its slot."""
    lookup: dict[Any, int] = dict(ids)
    for (tag, index), slot in ids.items():
        if tag and index == 0:
            lookup[tag] = slot
        if not tag:
            lookup[index] = slot
    return lookup


def _as_port(key: str | int | PortId) -> PortId:
    return (key, 0) if isinstance(key, str) else ("", key) if isinstance(key, int) else key


class _Ports:
    """The ports a node connects, by ``"TAG"``, ``("TAG", i)`` or index ``i``."""

    __slots__ = ("_ids", "_lookup")
    _kind: ClassVar[str]

    def __init__(self, ids: Mapping[PortId, int], lookup: dict[Any, int]) -> None:
        self._ids = ids
        self._lookup = lookup

    def _unknown(self, key: str | int | PortId) -> KeyError:
        return KeyError(_unknown_port(self._kind, _as_port(key), self._ids))

    def connected(self, key: str | int | PortId) -> bool:
        """True if the node connects a stream to that port."""
        return key in self._lookup

    def count(self, tag: str) -> int:
        """The number of streams connected under ``tag``."""
        return sum(1 for t, _ in self._ids if t == tag)

    def ports(self) -> list[PortId]:
        """The connected ports, in config order."""
        return list(self._ids)


class _Inputs(_Ports):
    """The packets of the current input set, by ``"TAG"``, ``("TAG", i)`` or index ``i``."""

    __slots__ = ("_bounds", "_packets")
    _kind = "input stream"

    def __init__(self, ids: Mapping[PortId, int], packets: list[Packet[Any]],
                 lookup: dict[Any, int], bounds: list[int] | None = None) -> None:
        super().__init__(ids, lookup)
        self._packets = packets
        self._bounds = bounds

    def bound(self, key: str | int | PortId) -> Timestamp:
        """The stream's next possible timestamp as of this call (MediaPipe's
        ``Value().Timestamp().NextAllowedInStream()`` of an empty input).

        Raises:
            RuntimeError: Unless the calculator sets ``process_timestamp_bounds``.
        """
        if self._bounds is None:
            raise RuntimeError("cc.inputs.bound() needs process_timestamp_bounds = True on the "
                               "calculator")
        return Timestamp(self._bounds[self._index(key)])

    def _index(self, key: str | int | PortId) -> int:
        try:
            return self._lookup[key]
        except KeyError:
            raise self._unknown(key) from None

    def __getitem__(self, key: str | int | PortId) -> Packet[Any]:
        """The packet on that port at the current timestamp (empty if none)."""
        try:  # _index inlined: this runs for every packet
            return self._packets[self._lookup[key]]
        except KeyError:
            raise self._unknown(key) from None

    def has(self, key: str | int | PortId) -> bool:
        """True if the port is connected and carries a packet at the current timestamp."""
        i = self._lookup.get(key)
        return i is not None and not self._packets[i].is_empty

    def __len__(self) -> int:
        return len(self._packets)

    def __iter__(self) -> Iterator[Packet[Any]]:
        return iter(self._packets)


class OutputStream:
    """One output port of a running node, for the current invocation."""

    __slots__ = ("_cc", "_type", "bound", "closed", "name", "packets")

    def __init__(self, name: str, type_: type | tuple[type, ...], cc: CalculatorContext) -> None:
        self.name = name
        self._type = type_
        self._cc = cc
        self.packets: list[Packet[Any]] = []
        self.bound: Timestamp | None = None
        self.closed = False

    def add(self, payload: Any, timestamp: int | None = None) -> None:
        """Sends ``payload`` at ``timestamp`` (default: the current input timestamp)."""
        if self._type is not object and not isinstance(payload, self._type):
            raise self._type_error(payload)
        ts = self._cc.timestamp if timestamp is None else Timestamp(timestamp)
        self.packets.append(Packet._stamped(_frozen(payload), ts))

    def add_packet(self, packet: Packet[Any]) -> None:
        """Sends an existing packet, its payload and timestamp, as it is (no copy).

        An empty packet sends nothing but moves the bound past its timestamp, as in MediaPipe:
        ``add_packet(Packet().at(ts))`` says that no packet at ``ts`` will follow.
        """
        if packet.is_empty:
            self.set_next_timestamp_bound(packet.timestamp.next_allowed_in_stream())
            return
        if self._type is not object and not isinstance(packet._payload, self._type):
            raise self._type_error(packet._payload)
        self.packets.append(packet)

    def _type_error(self, payload: Any) -> TypeError:
        return TypeError(f"output stream {self.name!r} expects {_type_name(self._type)}, "
                         f"got {type(payload).__name__}")

    def set_next_timestamp_bound(self, timestamp: int) -> None:
        """Promises that no packet below ``timestamp`` will follow on this stream."""
        ts = Timestamp(timestamp)
        if self.bound is None or ts > self.bound:
            self.bound = ts

    def close(self) -> None:
        """Ends the stream: no packet will follow."""
        self.closed = True


class _Outputs(_Ports):
    """The output ports of the current invocation, by ``"TAG"``, ``("TAG", i)`` or index."""

    __slots__ = ("streams",)
    _kind = "output stream"

    def __init__(self, ids: Mapping[PortId, int], streams: list[OutputStream]) -> None:
        super().__init__(ids, port_lookup(ids))
        self.streams = streams

    def __getitem__(self, key: str | int | PortId) -> OutputStream:
        try:
            return self.streams[self._lookup[key]]
        except KeyError:
            raise self._unknown(key) from None

    def __len__(self) -> int:
        return len(self.streams)

    def __iter__(self) -> Iterator[OutputStream]:
        return iter(self.streams)


class _SideInputs:
    """Input side packets' payloads by ``"TAG"``, ``("TAG", i)`` or index."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[PortId, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str | int | PortId) -> Any:
        port = _as_port(key)
        try:
            return self._values[port]
        except KeyError:
            raise KeyError(_unknown_port("input side packet", port, self._values)) from None

    def get(self, key: str | int | PortId, default: Any = None) -> Any:
        """The side packet's payload, or ``default`` if the port is not connected."""
        port = _as_port(key)
        return self._values.get(port, default)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, int, tuple)):
            return False
        return _as_port(key) in self._values

    def ports(self) -> list[PortId]:
        """The ports whose side packets the node has."""
        return list(self._values)


class _SideOutputs:
    """Output side packets, set once (usually in ``open``)."""

    __slots__ = ("_names", "values")

    def __init__(self, names: Mapping[PortId, str]) -> None:
        self._names = names
        self.values: dict[str, Any] = {}

    def __getitem__(self, key: str | int | PortId) -> _SideOutput:
        port = _as_port(key)
        if port not in self._names:
            raise KeyError(_unknown_port("output side packet", port, self._names))
        return _SideOutput(self, self._names[port])

    def connected(self, key: str | int | PortId) -> bool:
        """True if the node connects that output side packet."""
        port = _as_port(key)
        return port in self._names

    def ports(self) -> list[PortId]:
        """The connected output side packet ports."""
        return list(self._names)


class _SideOutput:
    __slots__ = ("_name", "_owner")

    def __init__(self, owner: _SideOutputs, name: str) -> None:
        self._owner = owner
        self._name = name

    def set(self, payload: Any) -> None:
        """Sets the side packet's payload (once per run); a Packet gives its payload, and must
        have no timestamp, as side packets have none (MediaPipe refuses one that has)."""
        if self._name in self._owner.values:
            raise ValueError(f"output side packet {self._name!r} is already set")
        if isinstance(payload, Packet):
            if payload.timestamp != Timestamp.UNSET:
                raise ValueError(f"output side packet {self._name!r} was set to a packet with "
                                 f"a timestamp {payload.timestamp}; side packets have none")
            payload = payload.payload
        self._owner.values[self._name] = _frozen(payload)


class CalculatorContext:
    """What a calculator sees in ``open``, ``process`` and ``close``.

    Attributes:
        inputs: The current input set: ``cc.inputs["IMAGE"]`` is a :class:`Packet` (empty if the
            stream has nothing at this timestamp); ``cc.inputs[0]`` for untagged streams and
            ``cc.inputs["TAG", 1]`` for repeated ones.
        outputs: ``cc.outputs["TAG"].add(payload)`` sends at the current timestamp.
        side_inputs: Input side packets' payloads, ``cc.side_inputs["MODEL"]``.
        side_outputs: ``cc.side_outputs["ANCHORS"].set(value)``.
        options: The node's options message (``options_type`` with the config's values), or
            ``None`` for a calculator without options.
        timestamp: The current input timestamp (``UNSTARTED`` in ``open``, ``DONE`` in ``close``).
        node_name: The node's name in the graph.
    """

    __slots__ = (
        "inputs",
        "node_name",
        "options",
        "outputs",
        "side_inputs",
        "side_outputs",
        "timestamp",
    )

    def __init__(
        self,
        node_name: str,
        inputs: _Inputs,
        output_ids: Mapping[PortId, int],
        output_specs: Sequence[tuple[str, type | tuple[type, ...]]],
        side_inputs: _SideInputs,
        side_outputs: _SideOutputs,
        options: Any,
        timestamp: Timestamp,
    ) -> None:
        self.node_name = node_name
        self.inputs = inputs
        self.outputs = _Outputs(output_ids, [OutputStream(n, t, self) for n, t in output_specs])
        self.side_inputs = side_inputs
        self.side_outputs = side_outputs
        self.options = options
        self.timestamp = timestamp


class Calculator:
    """Base class of every calculator; subclass it and register it with ``register_calculator``.

    Class attributes (the contract, checked against each node before a run):
        inputs: Input stream ports (:class:`Port`); empty for a source.
        outputs: Output stream ports.
        input_side_packets: Input side packet ports.
        output_side_packets: Output side packet ports.
        options_type: The protobuf options message class (e.g. ``GateCalculatorOptions``), or
            ``None``. The node's ``options { [mediapipe.X.ext] {...} }`` or
            ``node_options { [type.googleapis.com/mediapipe.X] {...} }`` fill it.
        timestamp_offset: If set, after ``process`` at T every output stream's bound moves to
            ``T + offset + 1``, so that downstream nodes need not wait for packets that will
            never come. MediaPipe's ``SetOffset``.
        input_stream_handler: The default handler for this calculator's nodes, one of
            ``"DefaultInputStreamHandler"``, ``"ImmediateInputStreamHandler"``,
            ``"SyncSetInputStreamHandler"``; a node's config overrides it.
        process_timestamp_bounds: If True, ``process`` is also called when input bounds
            advance with no packets (every input empty, ``cc.timestamp`` the settled bound);
            with the immediate handler, once more at ``Timestamp.MAX`` when every input is done.
        executor: The default executor name for this calculator's nodes (GPU calculators use
            their GL context's executor).

    Methods to override: ``open``, ``process`` (required), ``close``; ``check_contract`` for
    rules that depend on the node's configuration (e.g. as many outputs as inputs).
    """

    inputs: ClassVar[Sequence[Port]] = ()
    outputs: ClassVar[Sequence[Port]] = ()
    input_side_packets: ClassVar[Sequence[Port]] = ()
    output_side_packets: ClassVar[Sequence[Port]] = ()
    options_type: ClassVar[type[Message] | None] = None
    timestamp_offset: ClassVar[int | None] = None
    input_stream_handler: ClassVar[str | None] = None
    process_timestamp_bounds: ClassVar[bool] = False
    executor: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr in ("inputs", "outputs", "input_side_packets", "output_side_packets"):
            ports = getattr(cls, attr)
            if isinstance(ports, Port):
                raise TypeError(f"{cls.__name__}.{attr} must be a tuple of Port, not one Port: "
                                f"write ({ports!r},)")
            for port in ports:
                if not isinstance(port, Port):
                    raise TypeError(f"{cls.__name__}.{attr} must hold Port objects, "
                                    f"found {port!r}")

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """Checks configuration-dependent rules; raise :class:`ContractError` to reject."""

    def open(self, cc: CalculatorContext) -> None:
        """Called once before the first ``process``."""

    def process(self, cc: CalculatorContext) -> None:
        """Called for each input set (or repeatedly for a source)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement process(self, cc): it is called for every "
            "input timestamp"
        )

    def close(self, cc: CalculatorContext) -> None:
        """Called once after the last ``process`` (also after a failure elsewhere)."""


@dataclasses.dataclass(frozen=True)
class NodeContract:
    """What ``Calculator.check_contract`` sees of a node: its connected ports and options."""

    name: str
    inputs: tuple[PortId, ...]
    outputs: tuple[PortId, ...]
    input_side_packets: tuple[PortId, ...]
    output_side_packets: tuple[PortId, ...]
    options: Any

    def require_paired(self, input_tag: str, output_tag: str) -> None:
        """Checks that as many ``output_tag`` output streams as ``input_tag`` inputs are connected.

        For calculators that map their i-th input of a tag to their i-th output (PassThrough-like
        nodes, loops, projections); ``""`` names the untagged streams.

        Raises:
            ContractError: The counts differ; the message gives both.
        """
        count_in = sum(1 for tag, _ in self.inputs if tag == input_tag)
        count_out = sum(1 for tag, _ in self.outputs if tag == output_tag)
        if count_in != count_out:
            raise ContractError(f"needs as many {output_tag or 'untagged'} outputs as "
                                f"{input_tag or 'untagged'} inputs, got {count_in} and "
                                f"{count_out}")


_REGISTRY: dict[str, type[Calculator]] = {}


def register_calculator(cls: C | None = None, *, name: str | None = None) -> Any:
    """Registers a calculator class under its class name (or ``name``) for use in graphs.

    Usable as ``@register_calculator`` or ``@register_calculator(name="OtherName")``.
    Registering a different class under a taken name replaces it with a warning-free override
    only if it comes from the same module (reloads); otherwise it is an error.
    """

    def register(klass: C) -> C:
        if not (isinstance(klass, type) and issubclass(klass, Calculator)):
            raise TypeError(f"register_calculator expects a Calculator subclass, got {klass!r}")
        if klass.process is Calculator.process:
            raise TypeError(f"{klass.__name__} must implement process(self, cc)")
        key = name or klass.__name__
        old = _REGISTRY.get(key)
        if old is not None and old is not klass and old.__module__ != klass.__module__:
            raise ValueError(
                f"a calculator named {key!r} is already registered by {old.__module__}"
            )
        _REGISTRY[key] = klass
        return klass

    return register(cls) if cls is not None else register


def registered_calculators() -> dict[str, type[Calculator]]:
    """All calculators by name: the registered ones and every one the indexes list.

    This imports every module an index names (``graphflow calculators`` uses it); a graph
    imports only the modules of the calculators it names (:func:`lookup_calculator`).
    """
    for module in sorted(set(calculator_index().values())):
        importlib.import_module(module)
    return dict(_REGISTRY)


def lookup_calculator(name: str) -> type[Calculator] | None:
    """The calculator registered under ``name``, importing the module an index lists for it.

    Returns None for a name that is neither registered nor listed.
    """
    klass = _REGISTRY.get(name)
    if klass is None and import_listed(name):
        klass = _REGISTRY.get(name)
    return klass


def import_listed(name: str) -> bool:
    """Imports the module an index lists for ``name`` (a calculator or a subgraph generator).

    Returns False when no index lists ``name``.
    """
    module = calculator_index().get(name)
    if module is None:
        return False
    importlib.import_module(module)
    return True


#: Entry-point group through which packages list their calculators without importing them.
INDEX_ENTRY_POINT_GROUP = "graphflow.calculators"
_INDEX: dict[str, str] | None = None


def calculator_index() -> dict[str, str]:
    """Node name -> module that registers it, from every installed package's index.

    A node name is a calculator's or a subgraph generator's (such as ``SwitchContainer``).

    A package lists its calculators with an entry point in the group ``graphflow.calculators``
    whose object is a ``{name: module}`` mapping (graphflow's own: ``calculators.index``), so
    that a graph imports only the modules it needs. The engine never imports those packages
    itself; calculators registered with :func:`register_calculator` need no index.
    """
    global _INDEX
    if _INDEX is None:
        index: dict[str, str] = {}
        for entry in importlib.metadata.entry_points(group=INDEX_ENTRY_POINT_GROUP):
            try:
                listed = entry.load()
            except (ImportError, AttributeError) as error:
                raise ImportError(
                    f"the calculator index {entry.value!r} (entry point {entry.name!r} of "
                    f"{entry.dist.name if entry.dist else 'an installed package'}) cannot be "
                    f"loaded: {error}. Another installed package named "
                    f"{entry.value.split('.', 1)[0]!r} may shadow it") from error
            index.update(listed)
        _INDEX = index
    return _INDEX


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown_port(kind: str, port: PortId, known: Mapping[PortId, Any]) -> str:
    label = ":".join(str(p) for p in port) if port[0] else f"index {port[1]}"
    names = [f"{t}:{i}" if t else f"index {i}" for t, i in known]
    return f"no {kind} {label} on this node; connected: {', '.join(names) or 'none'}"


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


__all__ = [
    "EMPTY_PACKET",
    "Calculator",
    "CalculatorContext",
    "ContractError",
    "NodeContract",
    "OutputStream",
    "Port",
    "PortId",
    "Stop",
    "calculator_index",
    "did_you_mean",
    "import_listed",
    "lookup_calculator",
    "register_calculator",
    "registered_calculators",
]
