"""Packet timestamps: int64 microseconds with MediaPipe's special values."""

from __future__ import annotations

from typing import Final

_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


class Timestamp(int):
    """A packet timestamp in microseconds.

    A ``Timestamp`` is an ``int`` (so it compares and hashes like one, and ``int(ts)`` gives the
    microseconds) with MediaPipe's special values as class attributes: ``UNSET``, ``UNSTARTED``,
    ``PRESTREAM``, ``MIN``, ``MAX``, ``POSTSTREAM``, ``ONE_OVER_POSTSTREAM`` and ``DONE``.

    Example:
        >>> Timestamp(33_333) + 1
        Timestamp(33334)
        >>> Timestamp.DONE > Timestamp.MAX
        True
    """

    __slots__ = ()

    UNSET: Timestamp
    UNSTARTED: Timestamp
    PRESTREAM: Timestamp
    MIN: Timestamp
    MAX: Timestamp
    POSTSTREAM: Timestamp
    ONE_OVER_POSTSTREAM: Timestamp
    DONE: Timestamp

    @property
    def value(self) -> int:
        """The timestamp in microseconds."""
        return int(self)

    @property
    def seconds(self) -> float:
        """The timestamp in seconds."""
        return int(self) / 1e6

    def is_special(self) -> bool:
        """True for UNSET, UNSTARTED, PRESTREAM, POSTSTREAM, ONE_OVER_POSTSTREAM and DONE."""
        return not (_MIN_VALUE <= self <= _MAX_VALUE)

    def is_range_value(self) -> bool:
        """True for a timestamp in [MIN, MAX], the values a regular packet can carry."""
        return _MIN_VALUE <= self <= _MAX_VALUE

    def next_allowed_in_stream(self) -> Timestamp:
        """The smallest timestamp a stream may carry after a packet at this one."""
        if self >= _MAX_VALUE or self == _PRESTREAM_VALUE:
            return Timestamp.ONE_OVER_POSTSTREAM
        if self < _MIN_VALUE:
            return Timestamp.MIN
        return Timestamp(int(self) + 1)

    def previous_allowed_in_stream(self) -> Timestamp:
        """The settled timestamp of a stream whose bound is this one (MediaPipe's
        ``PreviousAllowedInStream``): UNSTARTED at or below MIN and at POSTSTREAM, MAX above
        MAX (a finished stream), else one less."""
        if self <= _MIN_VALUE or self == _POSTSTREAM_VALUE:
            return Timestamp.UNSTARTED
        if self > _MAX_VALUE:
            return Timestamp.MAX
        return Timestamp(int(self) - 1)

    def __add__(self, other: int) -> Timestamp:  # type: ignore[override]
        """Adds microseconds, clamped to [MIN, MAX] as MediaPipe does."""
        return Timestamp(min(max(int(self) + int(other), _MIN_VALUE), _MAX_VALUE))

    def __sub__(self, other: int) -> Timestamp:  # type: ignore[override]
        """Subtracts microseconds, clamped to [MIN, MAX] as MediaPipe does."""
        return Timestamp(min(max(int(self) - int(other), _MIN_VALUE), _MAX_VALUE))

    def __repr__(self) -> str:
        return _SPECIAL_NAMES.get(int(self)) or f"Timestamp({int(self)})"

    def __str__(self) -> str:
        return _SPECIAL_NAMES.get(int(self), str(int(self)))


_SPECIAL = {
    "UNSET": _INT64_MIN,
    "UNSTARTED": _INT64_MIN + 1,
    "PRESTREAM": _INT64_MIN + 2,
    "MIN": _INT64_MIN + 3,
    "MAX": _INT64_MAX - 3,
    "POSTSTREAM": _INT64_MAX - 2,
    "ONE_OVER_POSTSTREAM": _INT64_MAX - 1,
    "DONE": _INT64_MAX,
}
# MediaPipe's DebugString names MIN and MAX too (the last calls of a stream happen at MAX).
_SPECIAL_NAMES = {v: f"Timestamp.{k}" for k, v in _SPECIAL.items()}
for _name, _value in _SPECIAL.items():
    setattr(Timestamp, _name, Timestamp(_value))
_MIN_VALUE: Final = _SPECIAL["MIN"]
_MAX_VALUE: Final = _SPECIAL["MAX"]
_PRESTREAM_VALUE: Final = _SPECIAL["PRESTREAM"]
_POSTSTREAM_VALUE: Final = _SPECIAL["POSTSTREAM"]
