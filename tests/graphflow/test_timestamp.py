"""Timestamp: MediaPipe's special values (timestamp.h) and arithmetic (timestamp.cc)."""

import pytest

from graphflow.timestamp import Timestamp

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def test_special_values_are_mediapipes() -> None:
    # timestamp.h: Unset = min, Unstarted = min+1, PreStream = min+2, Min = min+3,
    # Max = max-3, PostStream = max-2, OneOverPostStream = max-1, Done = max.
    assert int(Timestamp.UNSET) == INT64_MIN
    assert int(Timestamp.UNSTARTED) == INT64_MIN + 1
    assert int(Timestamp.PRESTREAM) == INT64_MIN + 2
    assert int(Timestamp.MIN) == INT64_MIN + 3
    assert int(Timestamp.MAX) == INT64_MAX - 3
    assert int(Timestamp.POSTSTREAM) == INT64_MAX - 2
    assert int(Timestamp.ONE_OVER_POSTSTREAM) == INT64_MAX - 1
    assert int(Timestamp.DONE) == INT64_MAX


def test_order_and_classification() -> None:
    ordered = [Timestamp.UNSET, Timestamp.UNSTARTED, Timestamp.PRESTREAM, Timestamp.MIN,
               Timestamp(0), Timestamp.MAX, Timestamp.POSTSTREAM,
               Timestamp.ONE_OVER_POSTSTREAM, Timestamp.DONE]
    assert ordered == sorted(ordered)
    special = {Timestamp.UNSET, Timestamp.UNSTARTED, Timestamp.PRESTREAM, Timestamp.POSTSTREAM,
               Timestamp.ONE_OVER_POSTSTREAM, Timestamp.DONE}
    for ts in ordered:
        assert ts.is_special() == (ts in special), ts
        assert ts.is_range_value() == (ts not in special), ts


def test_int_behaviour_and_text() -> None:
    ts = Timestamp(33_333)
    assert ts == 33_333 and hash(ts) == hash(33_333)
    assert ts.value == 33_333
    assert ts.seconds == pytest.approx(0.033333)
    assert isinstance(ts + 1, Timestamp) and ts + 1 == 33_334
    assert isinstance(ts - 33_334, Timestamp) and ts - 33_334 == -1
    assert repr(ts) == "Timestamp(33333)" and str(ts) == "33333"
    assert str(Timestamp.PRESTREAM) == "Timestamp.PRESTREAM"
    assert repr(Timestamp.DONE) == "Timestamp.DONE"
    assert str(Timestamp.MAX) == "Timestamp.MAX" and repr(Timestamp.MIN) == "Timestamp.MIN"


def test_next_allowed_in_stream() -> None:
    assert Timestamp(7).next_allowed_in_stream() == 8
    assert Timestamp.MIN.next_allowed_in_stream() == Timestamp.MIN + 1
    # After Max or PreStream nothing may follow (timestamp.cc NextAllowedInStream).
    assert Timestamp.MAX.next_allowed_in_stream() == Timestamp.ONE_OVER_POSTSTREAM
    assert Timestamp.PRESTREAM.next_allowed_in_stream() == Timestamp.ONE_OVER_POSTSTREAM
    assert Timestamp.POSTSTREAM.next_allowed_in_stream() == Timestamp.ONE_OVER_POSTSTREAM


def test_next_allowed_below_min_is_min() -> None:
    assert Timestamp.UNSTARTED.next_allowed_in_stream() == Timestamp.MIN


def test_addition_clamps_to_range() -> None:
    assert Timestamp.MAX + 5 == Timestamp.MAX
    assert Timestamp.MIN - 5 == Timestamp.MIN
