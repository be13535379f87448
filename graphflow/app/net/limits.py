"""What ``graphflow serve`` lets its clients make it spend: every cap and timeout in one place.

:class:`Limits` holds them (each is a ``graphflow serve`` flag, docs/security.md lists them);
:class:`ByteBudget` bounds the frame bytes the server holds from senders at once;
:class:`LogThrottle` bounds the warnings clients can make it write;
:class:`DaemonPool` runs blocking calls on a bounded set of daemon threads, so that a call stuck
in a library (a network source that never answers, a calculator that hangs) can neither take
every thread nor keep the process from exiting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from graphflow.app.net.jpeg import DEFAULT_MAX_PIXELS
from graphflow.app.net.protocol import DEFAULT_MAX_FRAME_BYTES

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Limits:
    """The server's caps and timeouts (counts, bytes, pixels and seconds).

    Attributes:
        max_frame_bytes: Largest JPEG a sender may send.
        max_pixels: Largest frame (width x height), checked on the JPEG header before decoding,
            on the HELLO, and on pulled sources before their first frame.
        max_buffered_bytes: Frame bytes held from senders at once (frames being received and
            each channel's latest); a frame that would go over is refused.
        max_connections: Ingest connections at once.
        max_connections_per_address: Ingest connections at once from one IP address.
        max_http_connections: HTTP connections at once.
        max_channels: Channels at once (pushed and managed).
        max_streams: Managed streams at once.
        max_viewers: Viewers (MJPEG and event streams) at once.
        max_viewers_per_stream: Viewers of one channel at once.
        header_timeout: Seconds an HTTP client has to send a request's headers.
        hello_timeout: Seconds a new sender has to send its HELLO.
        frame_timeout: Seconds a sender may stay silent after its HELLO, or take to send
            one frame.
        max_clock_skew: Frames stamped further than this from the server's clock (seconds)
            are refused; 0 turns the check off.
        source_threads: Threads that open and read pulled sources (more wait their turn); a
            pulled stream makes one blocking call at a time, so as many as ``max_streams``
            keep one stream from waiting for another's.
        source_timeout: Seconds a pulled source may take to open, and then to give a frame.
        stop_timeout: Seconds a graph run may take to finish once its inputs are closed; then
            it is cancelled, and abandoned if it still does not end (a hung calculator).
    """

    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_buffered_bytes: int = 64 * 1024 * 1024
    max_connections: int = 256
    max_connections_per_address: int = 32
    max_http_connections: int = 512
    max_channels: int = 64
    max_streams: int = 16
    max_viewers: int = 256
    max_viewers_per_stream: int = 64
    header_timeout: float = 10.0
    hello_timeout: float = 10.0
    frame_timeout: float = 20.0
    max_clock_skew: float = 300.0
    source_threads: int = 16
    source_timeout: float = 10.0
    stop_timeout: float = 1.5

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value < 0 or (value == 0 and field.name != "max_clock_skew"):
                raise ValueError(f"{field.name} must be positive, got {value}")


class ByteBudget:
    """A count of bytes held, with a cap that new reservations must fit under.

    Args:
        limit: The cap.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def reserve(self, count: int) -> bool:
        """Takes ``count`` bytes if they fit under the cap; False (nothing taken) otherwise."""
        if self.used + count > self.limit:
            return False
        self.used += count
        return True

    def add(self, count: int) -> None:
        """Takes ``count`` bytes whether they fit or not (bytes already in memory)."""
        self.used += count

    def release(self, count: int) -> None:
        """Gives ``count`` bytes back."""
        self.used = max(0, self.used - count)


class LogThrottle:
    """Warnings at most ``per_second`` a second; the rest are counted and reported as one line.

    A client that misbehaves on purpose, over many connections, would otherwise make the server
    spend its time (and disk) writing a line for each.

    Args:
        logger: Where the warnings go.
        per_second: Warnings written in any one second.
    """

    def __init__(self, logger: logging.Logger, per_second: int = 5) -> None:
        self._logger = logger
        self._per_second = per_second
        self._window = 0.0
        self._written = 0
        self._dropped = 0

    def warning(self, message: str, *args: object) -> None:
        """Logs ``message % args`` as a warning unless this second's share is used up."""
        now = time.monotonic()
        if now - self._window >= 1.0:
            if self._dropped:
                self._logger.warning("%d more warnings like the above in the last second(s)",
                                     self._dropped)
            self._window, self._written, self._dropped = now, 0, 0
        if self._written < self._per_second:
            self._written += 1
            self._logger.warning(message, *args)
        else:
            self._dropped += 1


class DaemonPool:
    """Runs blocking calls on at most ``threads`` daemon threads, started as needed.

    Unlike ``concurrent.futures.ThreadPoolExecutor``, whose threads the interpreter joins at
    exit, a thread stuck in a call here does not keep the process alive, and
    :meth:`shutdown` never waits for one.

    Args:
        threads: The most threads at once; further calls wait in a queue.
        name: Thread name prefix.
    """

    def __init__(self, threads: int, name: str) -> None:
        self._max = threads
        self._name = name
        self._queue: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any],
                                             tuple[Any, ...]] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle: set[threading.Thread] = set()  # threads waiting for a call
        self._pending = 0  # calls queued, not yet taken by a thread
        self._closed = False

    @property
    def busy(self) -> int:
        """Threads in a call now."""
        with self._lock:
            return self._threads - len(self._idle)

    def submit(self, fn: Callable[..., T], *args: Any) -> concurrent.futures.Future[T]:
        """Queues ``fn(*args)``.

        Raises:
            RuntimeError: After :meth:`shutdown`.
        """
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._name}: the pool is shut down")
            self._queue.put((future, fn, args))
            self._pending += 1
            if self._pending > len(self._idle) and self._threads < self._max:
                self._threads += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._threads}",
                                 daemon=True).start()
        return future

    async def run(self, fn: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """Runs ``fn(*args)`` on the pool and waits for it.

        Raises:
            TimeoutError: If it takes longer than ``timeout`` seconds (a call that has not
                started is dropped; one that has goes on in its thread, its result unused).
        """
        future = asyncio.wrap_future(self.submit(fn, *args))
        return await asyncio.wait_for(future, timeout)

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                if self._closed:
                    self._threads -= 1
                    return
                self._idle.add(me)
            item = self._queue.get()
            with self._lock:
                self._idle.discard(me)
                if item is not None:
                    self._pending -= 1
                if item is None or self._closed:
                    if item is not None:
                        item[0].cancel()
                    self._threads -= 1
                    return
            future, fn, args = item
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)

    def shutdown(self) -> None:
        """Refuses new calls, cancels queued ones and ends the idle threads; never waits for
        a busy one (it ends by itself once its call returns)."""
        with self._lock:
            self._closed = True
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    self._pending -= 1
                    item[0].cancel()
            idle = list(self._idle)
            for _ in idle:
                self._queue.put(None)
        for thread in idle:
            thread.join()  # it takes the None (or a call it cancels) and returns
