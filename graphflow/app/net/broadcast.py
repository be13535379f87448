"""Fan-out of frames and events to viewers that may be slow: every viewer has a bounded mailbox.

All of it runs on one asyncio event loop (publishers on other threads go through
``loop.call_soon_threadsafe``). A viewer whose mailbox is full loses its oldest item, so a slow
viewer gets dropped frames and never makes the server buffer without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Subscription(Generic[T]):
    """One viewer's mailbox of at most ``depth`` items (the oldest is dropped when full).

    Attributes:
        dropped: Items this viewer lost because it did not keep up.
    """

    def __init__(self, depth: int = 1) -> None:
        if depth < 1:
            raise ValueError(f"a subscription holds at least 1 item, got depth {depth}")
        self._items: collections.deque[T] = collections.deque(maxlen=depth)
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        """Queues an item, dropping the oldest one if the mailbox is full."""
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    def close(self) -> None:
        """Ends the subscription: :meth:`get` returns None once the mailbox is empty."""
        self._closed = True
        self._ready.set()

    async def get(self, timeout: float | None = None) -> T | None:
        """The next item, or None when the subscription has ended.

        Raises:
            TimeoutError: If nothing arrives within ``timeout`` seconds.
        """
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            await asyncio.wait_for(self._ready.wait(), timeout)
        return self._items.popleft()


class Broadcaster(Generic[T]):
    """Delivers each published item to every current subscription.

    Args:
        depth: Mailbox size of each subscription.
        on_change: Called (on the loop) after a subscription joins or leaves.
    """

    def __init__(self, depth: int = 1, on_change: Callable[[], None] | None = None) -> None:
        self._depth = depth
        self._subscriptions: set[Subscription[T]] = set()
        self._on_change = on_change

    def __len__(self) -> int:
        return len(self._subscriptions)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription[T]]:
        """A subscription for the duration of the ``with`` block."""
        sub: Subscription[T] = Subscription(self._depth)
        self._subscriptions.add(sub)
        self._changed()
        try:
            yield sub
        finally:
            self._subscriptions.discard(sub)
            self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def publish(self, item: T) -> None:
        """Puts ``item`` into every subscription's mailbox."""
        for sub in self._subscriptions:
            sub.put(item)

    def close_all(self) -> None:
        """Ends every current subscription (their viewers finish what they hold, then stop)."""
        for sub in self._subscriptions:
            sub.close()


class RateMeter:
    """Events per second over a sliding window.

    Each event may carry its own time stamp (a frame's capture time): the rate is then measured
    on those stamps, over the events counted within the window, so it is the source's own rate
    however the events arrive.

    Args:
        window: Window length in seconds.
        clock: Monotonic clock in seconds.
    """

    def __init__(self, window: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._times: collections.deque[tuple[float, float]] = collections.deque()

    def tick(self, stamp: float | None = None) -> None:
        """Counts one event now, stamped ``stamp`` seconds (default: now)."""
        now = self._clock()
        self._times.append((now, now if stamp is None else stamp))
        self._trim(now)

    def rate(self) -> float:
        """Events per second over the last window (0 before two events)."""
        self._trim(self._clock())
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1][1] - self._times[0][1]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and self._times[0][0] < now - self._window:
            self._times.popleft()
