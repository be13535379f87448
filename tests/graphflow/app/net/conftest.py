"""Fixtures of the stream-server tests."""

from __future__ import annotations

import pytest
from streamkit import NetTestInvertCalculator


@pytest.fixture
def counters() -> type[NetTestInvertCalculator]:
    """The invert calculator's counters, reset."""
    NetTestInvertCalculator.opened = NetTestInvertCalculator.closed = 0
    NetTestInvertCalculator.processed = []
    return NetTestInvertCalculator
