"""The calculator's context: what ``open``, ``process`` and ``close`` see of their node.

The input set by port (``cc.inputs["IMAGE"]``), the output streams (``cc.outputs["OUT"].add``),
side packets, options and the current timestamp. These run for every packet a calculator reads
or sends, so they live apart from :mod:`graphflow.calculator` (the base class users subclass,
its ports and the registry): this module is compiled with mypyc where the runtime is built
(:data:`graphflow.runtime.native.MODULES`), as extension classes whose slots the compiled
runtime reads directly. :mod:`graphflow.calculator` re-exports its public names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar, SupportsInt

from mypy_extensions import mypyc_attr

from graphflow.packet import Packet, _frozen
from graphflow.timestamp import Timestamp

# (tag, index): how a calculator addresses one of its ports, e.g. ("IMAGE", 0) or ("", 2).
PortId = tuple[str, int]


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

    # SupportsInt, not int: compiled, an int annotation would refuse numpy integers (packet.py)
    def add(self, payload: Any, timestamp: SupportsInt | None = None) -> None:
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

    def set_next_timestamp_bound(self, timestamp: SupportsInt) -> None:
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


# A plain class, compiled or not: made once per node and run, it gains nothing as an extension
# class, and tests count its values' publication by wrapping its __init__.
@mypyc_attr(native_class=False)
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


def _unknown_port(kind: str, port: PortId, known: Mapping[PortId, Any]) -> str:
    label = ":".join(str(p) for p in port) if port[0] else f"index {port[1]}"
    names = [f"{t}:{i}" if t else f"index {i}" for t, i in known]
    return f"no {kind} {label} on this node; connected: {', '.join(names) or 'none'}"


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__
