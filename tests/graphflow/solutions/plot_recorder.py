"""A stand-in for ``matplotlib.pyplot`` that records the calls made on it and on its axes.

``drawing_utils.plot_landmarks`` of graphflow and of MediaPipe are compared call for call
through it (scripts/make_drawing_fixtures.py records MediaPipe's in .venv-mp, where matplotlib
is installed; graphflow's venv has no matplotlib). Imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _plain(value: Any) -> Any:
    """Tuples as lists and numbers as floats, as JSON gives them back."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


class PyplotRecorder:
    """Every method call, on the module or on the axes it returns, is appended to ``calls`` as
    ``[name, args, kwargs]``; every call returns the recorder itself (the figure, the axes)."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def __getattr__(self, name: str) -> Callable[..., PyplotRecorder]:
        if name.startswith("__"):
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> PyplotRecorder:
            self.calls.append([name, _plain(args), {k: _plain(v) for k, v in kwargs.items()}])
            return self

        return call
