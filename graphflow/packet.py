"""Packets: an immutable payload with a timestamp."""

from __future__ import annotations

from typing import Any, Generic, SupportsInt, TypeVar

import numpy as np
from mypy_extensions import mypyc_attr

from graphflow.timestamp import Timestamp

T = TypeVar("T")

_EMPTY: Any = object()


def _frozen(payload: Any) -> Any:
    """Returns ``payload`` with numpy arrays made read-only (a view, never a copy)."""
    if isinstance(payload, np.ndarray) and payload.flags.writeable:
        payload = payload.view()
        payload.flags.writeable = False
    return payload


# Compiled with mypyc where built (graphflow.runtime.native.MODULES): an extension class whose
# slots compiled code reads directly; serializable keeps it picklable, and Python subclasses
# stay possible.
@mypyc_attr(allow_interpreted_subclasses=True, serializable=True)
class Packet(Generic[T]):
    """An immutable payload stamped with a :class:`Timestamp`.

    ``Packet(payload)`` has timestamp ``UNSET``; ``packet.at(ts)`` gives the same payload at
    another timestamp without copying. A numpy array payload is made read-only so that no
    consumer can change what another consumer sees. ``Packet()`` is the empty packet that a
    calculator sees on an input stream with nothing at the current timestamp.

    Example:
        >>> p = Packet(42).at(1000)
        >>> p.payload, p.timestamp
        (42, Timestamp(1000))
    """

    __slots__ = ("_payload", "_timestamp")

    # Timestamps are SupportsInt, not int: compiled, an int annotation is checked and would
    # refuse what Timestamp() takes (numpy integers).
    def __init__(self, payload: T = _EMPTY, timestamp: SupportsInt = Timestamp.UNSET) -> None:
        self._payload = _frozen(payload)
        self._timestamp = timestamp if type(timestamp) is Timestamp else Timestamp(timestamp)

    @classmethod
    def _stamped(cls, payload: Any, timestamp: Timestamp) -> Packet[Any]:
        """Builds a packet whose payload is already frozen (the engine's fast path)."""
        packet = cls.__new__(cls)
        packet._payload = payload
        packet._timestamp = timestamp
        return packet

    @property
    def payload(self) -> T:
        """The payload; raises ``ValueError`` on an empty packet."""
        if self._payload is _EMPTY:
            raise ValueError("the packet is empty (no payload at this timestamp)")
        return self._payload  # type: ignore[no-any-return]

    @property
    def timestamp(self) -> Timestamp:
        """The packet's timestamp."""
        return self._timestamp

    @property
    def is_empty(self) -> bool:
        """True for the empty packet."""
        return self._payload is _EMPTY

    def get(self, default: Any = None) -> Any:
        """The payload, or ``default`` for an empty packet."""
        return default if self._payload is _EMPTY else self._payload

    def at(self, timestamp: SupportsInt) -> Packet[T]:
        """The same payload at ``timestamp`` (no copy)."""
        ts = timestamp if type(timestamp) is Timestamp else Timestamp(timestamp)
        return Packet._stamped(self._payload, ts)

    def __repr__(self) -> str:
        if self._payload is _EMPTY:
            return f"Packet(<empty>, {self._timestamp!r})"
        return f"Packet({type(self._payload).__name__}, {self._timestamp!r})"


EMPTY_PACKET: Packet[Any] = Packet()
