"""Bounded viewer mailboxes and the rate meter."""

from __future__ import annotations

import asyncio

import pytest

from graphflow.app.net.broadcast import Broadcaster, RateMeter, Subscription

pytestmark = pytest.mark.timeout(10)


def test_full_mailbox_drops_the_oldest() -> None:
    async def main() -> tuple[list[int | None], int]:
        sub: Subscription[int] = Subscription(2)
        for i in range(5):
            sub.put(i)
        sub.close()
        return [await sub.get(), await sub.get(), await sub.get()], sub.dropped

    assert asyncio.run(main()) == ([3, 4, None], 3)


def test_get_waits_and_times_out() -> None:
    async def main() -> int | None:
        sub: Subscription[int] = Subscription()
        with pytest.raises(TimeoutError):
            await sub.get(0.01)
        asyncio.get_running_loop().call_soon(sub.put, 7)
        return await sub.get()

    assert asyncio.run(main()) == 7


def test_broadcast_reaches_current_subscribers_and_reports_changes() -> None:
    changes: list[int] = []

    async def main() -> list[list[int | None]]:
        hub: Broadcaster[int] = Broadcaster(4, lambda: changes.append(len(hub)))
        hub.publish(0)  # nobody listens: lost
        with hub.subscribe() as first, hub.subscribe() as second:
            hub.publish(1)
            hub.publish(2)
            hub.close_all()
            got = [[await s.get() for _ in range(3)] for s in (first, second)]
        hub.publish(3)
        return got

    assert asyncio.run(main()) == [[1, 2, None], [1, 2, None]]
    assert changes == [1, 2, 1, 0]


def test_rate_meter_counts_over_its_window() -> None:
    now = [0.0]
    meter = RateMeter(window=2.0, clock=lambda: now[0])
    assert meter.rate() == 0.0
    for _ in range(11):
        meter.tick()
        now[0] += 0.1
    assert meter.rate() == pytest.approx(10.0)
    now[0] = 10.0
    assert meter.rate() == 0.0


def test_rate_meter_measures_stamped_events_on_their_stamps() -> None:
    now = [0.0]
    meter = RateMeter(window=2.0, clock=lambda: now[0])
    # frames captured every 40 ms (25 fps) arrive in bursts of five every 200 ms
    for burst in range(5):
        for i in range(5):
            meter.tick(stamp=100.0 + (burst * 5 + i) * 0.04)
        now[0] += 0.2
    assert meter.rate() == pytest.approx(25.0)
    now[0] = 10.0
    assert meter.rate() == 0.0
