"""Fixtures of the conformance tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from ported import Runs, StepRun


@pytest.fixture
def step_run(no_thread_leak: None) -> Iterator[Runs]:
    """Makes StepRuns (same arguments) that are stopped after the test, even a failed one."""
    runs: list[StepRun] = []

    def make(*args: Any, **kwargs: Any) -> StepRun:
        run = StepRun(*args, **kwargs)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.stop()
