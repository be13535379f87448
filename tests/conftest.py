"""Shared pytest fixtures."""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    """Fails the test if it leaves a thread running that was not there before it."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not left, f"threads left behind: {left}"


REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mediapipe_python() -> pathlib.Path:
    """The interpreter of the MediaPipe 0.10.21 reference venv (.venv-mp).

    Tests that compare with MediaPipe skip without it, unless GRAPHFLOW_REQUIRE_MEDIAPIPE is set
    (``make test`` sets it after building the venv), where a missing venv is a failure.
    """
    python = REPO / ".venv-mp" / "bin" / "python"
    if not python.exists():
        message = f"{python} does not exist (create it with scripts/mp_venv.sh or make mpvenv)"
        if os.environ.get("GRAPHFLOW_REQUIRE_MEDIAPIPE"):
            pytest.fail(message)
        pytest.skip(message)
    return python
