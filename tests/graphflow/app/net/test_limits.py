"""The caps of graphflow serve: defaults, the frame-byte budget, the daemon thread pool."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from graphflow.app.net.limits import ByteBudget, DaemonPool, Limits


def test_defaults_are_those_of_the_issue() -> None:
    limits = Limits()
    assert limits.max_pixels == 4096 * 4096
    assert limits.header_timeout <= 15 and limits.hello_timeout == 10
    assert limits.stop_timeout + 0.5 < 5  # a hung graph is abandoned within the 5 s of a stop
    assert limits.source_threads >= limits.max_streams  # one blocking call per pulled stream
    with pytest.raises(ValueError, match="max_channels must be positive"):
        Limits(max_channels=0)
    assert Limits(max_clock_skew=0).max_clock_skew == 0  # 0 turns the check off


def test_budget_refuses_what_does_not_fit() -> None:
    budget = ByteBudget(100)
    assert budget.reserve(60) and not budget.reserve(41) and budget.reserve(40)
    budget.release(50)
    budget.add(70)  # bytes already held count even over the cap
    assert budget.used == 120 and not budget.reserve(1)
    budget.release(500)
    assert budget.used == 0


def test_pool_bounds_its_threads_and_abandons_stuck_calls() -> None:
    async def main() -> None:
        pool = DaemonPool(2, "test-pool")
        gate = threading.Event()
        stuck = [asyncio.ensure_future(pool.run(gate.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert pool.busy == 2
        with pytest.raises(TimeoutError):  # queued behind the stuck calls, not run
            await pool.run(time.sleep, 0, timeout=0.2)
        names = [t.name for t in threading.enumerate() if t.name.startswith("test-pool")]
        assert len(names) == 2 and all(t.daemon for t in threading.enumerate()
                                       if t.name.startswith("test-pool"))
        pool.shutdown()  # does not wait for the stuck ones
        with pytest.raises(RuntimeError, match="shut down"):
            pool.submit(time.sleep, 0)
        gate.set()
        assert await asyncio.gather(*stuck) == [True, True]

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while any(t.name.startswith("test-pool") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "pool threads did not end"
        time.sleep(0.01)


def test_pool_runs_calls_and_raises_their_errors() -> None:
    async def main() -> list[int]:
        pool = DaemonPool(3, "test-pool2")
        try:
            with pytest.raises(ZeroDivisionError):
                await pool.run(lambda: 1 // 0)
            return list(await asyncio.gather(*(pool.run(pow, i, 2) for i in range(10))))
        finally:
            pool.shutdown()

    assert asyncio.run(main()) == [i * i for i in range(10)]
