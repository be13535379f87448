"""``graphflow send``: capture frames, encode them as JPEG and push them to a stream server.

:func:`capture_frames` reads a camera, a video or image file, or a stream URL (any source
``graphflow run --input`` takes, opened by :func:`graphflow.app.io.open_source`) and yields
``(timestamp_us, jpeg)`` pairs stamped with their capture time. :class:`Sender` pushes
such pairs over TCP (see :mod:`graphflow.app.net.protocol`) and reconnects with exponential backoff
when the server goes away; frames that arrive while it is disconnected, or while the socket is
backed up, are dropped rather than queued.

Example:
    frames = capture_frames("media/demo.mp4", loop=True)
    stats = asyncio.run(Sender("127.0.0.1", 7000, "cam1").run(frames))
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from graphflow.app.io.urls import redact_urls
from graphflow.app.net import jpeg
from graphflow.app.net.protocol import (
    MAX_CONTROL_BYTES,
    MSG_ERROR,
    MSG_WELCOME,
    Hello,
    ProtocolError,
    decode_json,
    encode_frame,
    message_name,
    read_message,
    validate_channel,
)

if TYPE_CHECKING:
    from graphflow.app.io import FrameSource

logger = logging.getLogger(__name__)


class SenderRejectedError(Exception):
    """The server refused the sender for good (for example a wrong token)."""


@dataclasses.dataclass
class SenderStats:
    """Counters of one :meth:`Sender.run`.

    Attributes:
        frames: Frames offered by the source.
        sent: Frames written to the server.
        dropped: Frames dropped while disconnected or backed up.
        connections: Successful connections (1 + reconnections).
    """

    frames: int = 0
    sent: int = 0
    dropped: int = 0
    connections: int = 0


class Sender:
    """Pushes JPEG frames to a stream server under a channel name, reconnecting as needed.

    Args:
        host: Server host.
        port: Server ingest port.
        channel: Channel name.
        token: Shared token, if the server requires one.
        fps: Nominal frame rate announced in the HELLO (0: unknown).
        min_backoff: First reconnection delay in seconds.
        max_backoff: Largest reconnection delay; the delay doubles up to it (with +-20% jitter).
        connect_timeout: Seconds allowed for connecting and the server's answer to HELLO.
        max_buffered_bytes: Frames are dropped while more than this is waiting in the socket.

    Raises:
        ValueError: If the channel name is invalid.
    """

    def __init__(self, host: str, port: int, channel: str, *, token: str | None = None,
                 fps: float = 0.0, min_backoff: float = 0.25, max_backoff: float = 8.0,
                 connect_timeout: float = 5.0, max_buffered_bytes: int = 512 * 1024) -> None:
        self.host = host
        self.port = port
        self.channel = validate_channel(channel)
        self.token = token
        self.fps = fps
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connect_timeout = connect_timeout
        self.max_buffered_bytes = max_buffered_bytes
        self.stats = SenderStats()
        self._writer: asyncio.StreamWriter | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._backoff = min_backoff
        self._next_attempt = 0.0

    @property
    def connected(self) -> bool:
        """True while a connection is up and welcomed."""
        return self._writer is not None and not self._writer.is_closing() and \
            self._watcher is not None and not self._watcher.done()

    async def run(self, frames: AsyncIterable[tuple[int, bytes]]) -> SenderStats:
        """Sends every frame of ``frames`` (``(timestamp_us, jpeg)``, increasing timestamps).

        Returns:
            The run's counters, when ``frames`` ends.

        Raises:
            SenderRejectedError: If the server refuses the sender and says not to retry.
        """
        try:
            async for timestamp, data in frames:
                self.stats.frames += 1
                writer = await self._connection(data)
                if writer is None or \
                        writer.transport.get_write_buffer_size() > self.max_buffered_bytes:
                    self.stats.dropped += 1
                    continue
                writer.write(encode_frame(timestamp, data))
                self.stats.sent += 1
                await asyncio.sleep(0)
        finally:
            await self._disconnect()
        return self.stats

    async def _connection(self, data: bytes) -> asyncio.StreamWriter | None:
        """The live connection, or a new one when the backoff allows; None while down."""
        if self.connected:
            return self._writer
        loop = asyncio.get_running_loop()
        if self._writer is not None:
            await self._disconnect()
            self._next_attempt = loop.time() + self._backoff
            logger.warning("%s:%d: the server closed the connection; reconnecting in %.2f s",
                           self.host, self.port, self._backoff)
        if loop.time() < self._next_attempt:
            return None
        try:
            writer = await self._connect(data)
        except (OSError, TimeoutError, ProtocolError) as exc:
            delay = self._backoff * random.uniform(0.8, 1.2)
            self._next_attempt = loop.time() + delay
            self._backoff = min(self._backoff * 2, self.max_backoff)
            logger.warning("%s:%d: cannot send channel %r (%s); retrying in %.1f s", self.host,
                           self.port, self.channel, str(exc) or type(exc).__name__, delay)
            return None
        self._backoff = self.min_backoff
        self.stats.connections += 1
        logger.info("%s:%d: sending channel %r", self.host, self.port, self.channel)
        return writer

    async def _connect(self, data: bytes) -> asyncio.StreamWriter:
        width, height = jpeg.size(data)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                self.connect_timeout)
        try:
            writer.write(Hello(self.channel, width, height, self.fps, self.token).encode())
            reply = await asyncio.wait_for(read_message(reader, MAX_CONTROL_BYTES),
                                           self.connect_timeout)
            if reply is None:
                raise ConnectionError("the server closed the connection after HELLO")
            kind, payload = reply
            body = decode_json(payload, message_name(kind))
            if kind == MSG_ERROR:
                if body.get("retry") is False:
                    raise SenderRejectedError(f"{self.host}:{self.port} refused channel "
                                         f"{self.channel!r}: {body.get('error')}")
                raise ConnectionError(f"refused: {body.get('error')}")
            if kind != MSG_WELCOME:
                raise ProtocolError(f"expected WELCOME, got {message_name(kind)}")
        except BaseException:
            writer.close()
            raise
        self._writer = writer
        self._watcher = asyncio.create_task(self._watch(reader), name=f"send {self.channel}")
        return writer

    async def _watch(self, reader: asyncio.StreamReader) -> None:
        """Reads what the server says until it closes the connection (which ends the task)."""
        try:
            while (message := await read_message(reader, MAX_CONTROL_BYTES)) is not None:
                kind, payload = message
                if kind == MSG_ERROR:
                    logger.warning("%s:%d: server error: %s", self.host, self.port,
                                   decode_json(payload, "ERROR").get("error"))
        except (OSError, ProtocolError) as exc:
            logger.debug("%s:%d: connection ended: %s", self.host, self.port, exc)

    async def _disconnect(self) -> None:
        writer, watcher = self._writer, self._watcher
        self._writer = self._watcher = None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError as exc:
                logger.debug("%s:%d: close: %s", self.host, self.port, exc)
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


@dataclasses.dataclass(frozen=True)
class SourceReading:
    """How :func:`capture_frames` opens and reads its source.

    ``graphflow send`` uses the defaults; ``graphflow serve`` reads the sources of managed
    streams on its own bounded thread pool, with timeouts and a pixel cap.

    Attributes:
        open: Opens a source spec (blocking; runs through ``run``).
        run: Runs a blocking call off the event loop: ``await run(fn, *args)``.
        timeout: Seconds that opening, and then each frame, may take (None: no limit). A read
            that takes longer is abandoned in its thread, with the source left unclosed.
        max_pixels: Frames over this many pixels end the capture (None: no cap).
    """

    open: Callable[[str], FrameSource] = dataclasses.field(
        default_factory=lambda: open_source_spec)
    run: Callable[..., Awaitable[Any]] = asyncio.to_thread
    timeout: float | None = None
    max_pixels: int | None = None

    async def call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """``run(fn, *args)`` within ``timeout``.

        Raises:
            SourceStuckError: If it takes longer, naming ``what``.
        """
        try:
            return await asyncio.wait_for(self.run(fn, *args), self.timeout)
        except TimeoutError:
            raise SourceStuckError(f"{what} took longer than {self.timeout} s") from None


class SourceStuckError(ValueError):
    """Opening or reading a source took longer than its timeout (the call was abandoned)."""


async def capture_frames(source: str, *, fps: float | None = None, loop: bool = False,
                         quality: int = 80, reading: SourceReading | None = None
                         ) -> AsyncIterator[tuple[int, bytes]]:
    """Captures frames and yields them as ``(capture_time_us, jpeg)``.

    The source is opened and read by :func:`graphflow.app.io.open_source`, as ``graphflow run
    --input`` opens it, so the two commands take the same spellings. Opening, reading and
    encoding run in worker threads, off the event loop.

    Args:
        source: ``camera`` or ``camera:N`` (device N; ``graphflow run``'s bare ``N``,
            ``/dev/videoN`` and ``camera:/dev/videoN``, optionally with
            ``?width=W&height=H&fps=F``, work too), a video file, an image file (sent
            repeatedly), an image pattern such as ``frames/%04d.png``, a folder of images,
            ``demo``, or a ``rtsp://``, ``http://`` or ``https://`` URL (any scheme
            registered with :func:`graphflow.app.io.register_source`).
        fps: Frame rate to pace a file at (default: the file's own, else 30); a camera or URL
            sets its own pace unless ``fps`` is given.
        loop: Start a file source (video, pattern, folder) again each time it ends.
        quality: JPEG quality, 1..100.
        reading: How the source is opened and read (default: in ``asyncio`` worker threads,
            without limits).

    Raises:
        ValueError: If the source cannot be opened (a missing file included), gives no frame,
            gives one over the pixel cap, or takes longer than the timeout
            (:class:`SourceStuckError`).
    """
    jpeg.check_quality(quality)
    how = reading or SourceReading()
    frames = await how.call(f"opening {redact_urls(source)!r}", how.open, source)
    # Already imported by the opener, in its thread: these do not block the event loop.
    from calculators.io.video import DEFAULT_FPS
    from graphflow.app.io.registry import ImageFileSource

    still = isinstance(frames, ImageFileSource)  # one frame, encoded once and sent repeatedly
    # File and folder sources carry their frame rate as ``fps``.
    pacer = _Pacer(fps if fps or frames.live else getattr(frames, "fps", DEFAULT_FPS))
    last = 0
    data = b""
    stuck = False
    try:
        items = iter(frames)
        while True:
            await pacer.wait()
            if not (still and data):
                what = f"reading a frame of {redact_urls(source)!r}"
                try:
                    item = await how.call(what, next, items, None)
                    if item is None and loop and not frames.live:
                        frames.close()
                        frames = await how.call(what, how.open, source)
                        items = iter(frames)
                        item = await how.call(what, next, items, None)
                except SourceStuckError:
                    stuck = True  # its thread may still be inside a read: not closed under it
                    raise
                if item is None:
                    return
                image = item[1].array
                if how.max_pixels is not None:
                    jpeg.check_pixels(image.shape[1], image.shape[0], how.max_pixels,
                                      f"a frame of {redact_urls(source)!r}")
                data = await how.run(jpeg.encode_rgb, image, quality)
            last = max(time.time_ns() // 1000, last + 1)
            yield last, data
    finally:
        if not stuck:
            frames.close()


class _Pacer:
    """Waits out a frame period (no pacing for ``fps`` None); a late caller is not made up for."""

    def __init__(self, fps: float | None) -> None:
        self._period = 1.0 / fps if fps else None
        self._due: float | None = None

    async def wait(self) -> None:
        if self._period is None:
            return
        now = asyncio.get_running_loop().time()
        self._due = now if self._due is None else max(self._due + self._period, now - self._period)
        await asyncio.sleep(max(0.0, self._due - now))


def open_source_spec(spec: str) -> FrameSource:
    """``graphflow.app.io.open_source(spec)``, a missing file reported as ValueError too.

    Imports calculators (which registers the camera, stream, folder and demo sources) here, in
    the worker thread, rather than when graphflow is imported.

    Raises:
        ValueError: If the source does not open.
    """
    from graphflow.app.io import open_source

    try:
        return open_source(spec)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
