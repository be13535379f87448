"""The module ``__getattr__`` of the drawing-only solution modules (`hands`, `pose`).

MediaPipe's ``solutions.hands`` and ``solutions.pose`` also hold the ``Hands`` and ``Pose``
solutions; graphflow's keep only the names that drawing code uses, so a name they lack gets an
error that says so, rather than a bare ``AttributeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn


def missing_solution(module: str, solution: str, names: str) -> Callable[[str], NoReturn]:
    """A module ``__getattr__`` (PEP 562) whose error says the module is for drawing only.

    Args:
        module: The module's ``__name__``.
        solution: What graphflow lacks, e.g. ``"pose solution"``.
        names: What the module has instead, e.g. ``"PoseLandmark and POSE_CONNECTIONS"``.

    Returns:
        The function to bind to the module's ``__getattr__``.
    """

    def getattr_(name: str) -> NoReturn:
        raise AttributeError(f"module {module!r} has no attribute {name!r}: graphflow.solutions "
                             f"has no {solution}, only {names} for drawing (see "
                             f"docs/solutions.md)")

    return getattr_
