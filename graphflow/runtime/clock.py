"""The scheduler's clock: real time, or simulated time for deterministic tests.

The scheduler's thread placement rules read the time through a clock: how long calls take, and
the timed waits of idle pool threads that look for stuck work. (The graph API's timeouts are
always in real seconds.) :class:`RealClock` is the wall clock.
:class:`SimulationClock` is MediaPipe's simulation clock for tests: time stands still until the
test (or a test calculator) moves it, so the timing rules that decide where tasks run can be
tested without sleeping and without depending on the machine's load.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the scheduler needs of a clock."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def wait(self, cond: threading.Condition, timeout: float | None) -> bool:
        """``cond.wait(timeout)`` with the timeout on this clock (``cond``'s lock held).

        Returns:
            False if the timeout passed first, else True.
        """


class RealClock:
    """The wall clock (``time.perf_counter``)."""

    now = staticmethod(time.perf_counter)

    @staticmethod
    def wait(cond: threading.Condition, timeout: float | None) -> bool:
        """Waits on ``cond`` for at most ``timeout`` real seconds."""
        return cond.wait(timeout)


REAL_CLOCK = RealClock()


class _Waiter:
    __slots__ = ("cond", "deadline", "expired")

    def __init__(self, cond: threading.Condition, deadline: float) -> None:
        self.cond = cond
        self.deadline = deadline
        self.expired = False


class SimulationClock:
    """Simulated time that moves only when :meth:`advance` moves it.

    A timed wait ends when its condition is notified, or when :meth:`advance` takes the time
    past its deadline; ``advance`` returns only after every wait it ended has resumed (its
    thread holds the condition's lock again), so what those threads do next under the
    scheduler lock happens before whatever the advancing thread does next with the graph.
    Never call ``advance`` with the scheduler lock held (calculators and tests do not hold it).

    Example (a test calculator that takes 50 simulated microseconds a call)::

        clock = SimulationClock()
        graph = CalculatorGraph(config, clock=clock)
        ...
        def process(self, cc):
            cc.side_inputs["CLOCK"].advance(50e-6)
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._mutex = threading.Condition(threading.Lock())
        self._waiters: list[_Waiter] = []
        self._unresumed = 0  # waits that advance() ended and that have not resumed yet

    def now(self) -> float:
        """The simulated time, in seconds."""
        return self._now

    def wait(self, cond: threading.Condition, timeout: float | None) -> bool:
        """Waits on ``cond`` until notified or until the simulated time passes ``timeout``.

        A wait that both was notified and timed out reports the timeout.
        """
        if timeout is None:
            return cond.wait()
        waiter = _Waiter(cond, self._now + timeout)
        with self._mutex:
            self._waiters.append(waiter)
        # No real timeout: Condition.wait(timeout) can lose a notify that races the timeout.
        cond.wait()
        with self._mutex:
            if waiter.expired:
                self._unresumed -= 1
                self._mutex.notify_all()
                return False
            self._waiters.remove(waiter)
        return True

    def advance(self, seconds: float) -> None:
        """Moves the time forward; returns once the timed waits that ended have resumed."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._mutex:
            self._now += seconds
            ended = [w for w in self._waiters if w.deadline <= self._now]
            for waiter in ended:
                waiter.expired = True
                self._waiters.remove(waiter)
            self._unresumed += len(ended)
        # Other waits on the same conditions wake too and see a notify: the scheduler's idle
        # threads then simply wait again.
        for cond in {id(w.cond): w.cond for w in ended}.values():
            with cond:
                cond.notify_all()
        with self._mutex:
            self._mutex.wait_for(lambda: self._unresumed == 0)
