"""Every attack of issue 14 against a real ``graphflow serve``, and what each one cost it.

Runs ``graphflow serve`` as a child process on 127.0.0.1 (ephemeral ports, a pass-through graph,
a token and an admin token, short timeouts so that the run is quick) and, for each attack:
resets the child's peak RSS (``/proc/PID/clear_refs``), runs the attack while a thread asks
``/healthz`` every 50 ms, reads the peak RSS (``VmHWM``), and then checks that a legitimate sender
and viewer still work (frames pushed on a fresh channel come back processed). Attacks that end
with SIGTERM get a server of their own. Prints a table (attack, result, peak RSS, worst
``/healthz`` latency, legitimate use afterwards) and, last, one line:
``attack: N/N attacks held; peak RSS ... MiB (limit 300); /healthz worst ... ms (limit 100)``.

All traffic goes to 127.0.0.1; every loop is bounded in count and time. The attacks are
coroutines taking a :class:`Target`; ``tests/graphflow/app/net/test_attacks.py`` runs the same
ones against in-process servers. An attack raises AssertionError when the server does not hold.

Usage:
    python bench/attack.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import http.client
import json
import logging
import os
import pathlib
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any

import aiohttp
import numpy as np

from graphflow.app.net import Sender, jpeg
from graphflow.app.net.client import mjpeg_frames, sse_events
from graphflow.app.net.protocol import (
    MAX_CONTROL_BYTES,
    MSG_FRAME,
    MSG_HELLO,
    MSG_WELCOME,
    PROTOCOL,
    Hello,
    ProtocolError,
    decode_json,
    encode_frame,
    encode_message,
    read_message,
)
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.image_frame import ImageFrame

HOST = "127.0.0.1"
TOKEN = "viewer-token-0123"
ADMIN_TOKEN = "admin-token-4567"
RSS_LIMIT_MIB = 300
HEALTHZ_LIMIT_MS = 100
STOP_LIMIT_S = 5.0
SHORT_TIMEOUT_S = 2.0
"""The header, HELLO, sender and source timeouts of the attacked servers (defaults 10-20 s)."""

PASS_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "PassThroughCalculator" input_stream: "input_video"
       output_stream: "output_video" }
"""
HANG_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "AttackHangCalculator" input_stream: "IMAGE:input_video"
       output_stream: "IMAGE:output_video" }
"""

LOCKED = ["--token", TOKEN, "--admin-token", ADMIN_TOKEN, "--header-timeout",
          str(SHORT_TIMEOUT_S), "--hello-timeout", str(SHORT_TIMEOUT_S), "--frame-timeout",
          str(SHORT_TIMEOUT_S), "--source-timeout", str(SHORT_TIMEOUT_S)]
"""The default server: the defaults of ``graphflow serve`` but tokens and short timeouts."""
OPEN = [*LOCKED, "--allow-local-sources", "--allow-private-hosts"]
"""A server whose operator allowed local sources and private hosts (pulled sources on
127.0.0.1 need it)."""
CONFIGS = {"locked": LOCKED, "open": OPEN}


@register_calculator
class AttackHangCalculator(Calculator):
    """Never returns from its first process() call: a calculator that hangs."""

    inputs = (Port("IMAGE", ImageFrame),)
    outputs = (Port("IMAGE", ImageFrame),)

    def process(self, cc: CalculatorContext) -> None:
        threading.Event().wait()


def write_graphs(folder: pathlib.Path) -> None:
    """The graphs the attacked servers run and allow (``--graphs-dir``)."""
    (folder / "pass.pbtxt").write_text(PASS_GRAPH)
    (folder / "hang.pbtxt").write_text(HANG_GRAPH)


@dataclasses.dataclass
class Target:
    """A running server under attack.

    Attributes:
        ingest: Its ingest port.
        http: Its HTTP port.
        workdir: Its ``--graphs-dir`` (``pass.pbtxt``, ``hang.pbtxt``) and scratch space.
        log: Returns the server's log so far.
        process: The server's process, when it is a child process (attacks that signal it).
    """

    ingest: int
    http: int
    workdir: pathlib.Path
    log: Callable[[], str]
    process: subprocess.Popen[bytes] | None = None

    def url(self, path: str) -> str:
        return f"http://{HOST}:{self.http}{path}"


# ---------------------------------------------------------------------- client helpers


def frame_jpeg(index: int = 0, width: int = 64, height: int = 48) -> bytes:
    """A small JPEG whose content depends on ``index``."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 4 + index * 8) % 256, y * 5, (x + y) % 256], axis=2).astype(np.uint8)
    return jpeg.encode(image, 90)


def now_us() -> int:
    return time.time_ns() // 1000


def header_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A 16x16 JPEG whose frame header is rewritten to claim ``width`` x ``height``."""
    data = bytearray(jpeg.encode(np.zeros((16, 16, 3), np.uint8), 50))
    index = 2
    while index < len(data):
        marker, length = data[index + 1], struct.unpack(">H", data[index + 2:index + 4])[0]
        if marker in (0xC0, 0xC2):
            data[index + 5:index + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        index += 2 + length
    raise AssertionError("no frame header in the JPEG")


def gray_jpeg(width: int, height: int) -> bytes:
    """A valid baseline grayscale JPEG of every block the same gray, at 2 bits a block: a
    30000x30000 one is 3.5 MB (one Huffman code of length 1 for DC 0 and for end-of-block)."""
    def segment(marker: int, payload: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload

    one_code = bytes([1] + [0] * 15) + b"\x00"
    header = (b"\xff\xd8" + segment(0xDB, b"\x00" + bytes([1] * 64))
              + segment(0xC0, b"\x08" + struct.pack(">HH", height, width) + b"\x01\x01\x11\x00")
              + segment(0xC4, b"\x00" + one_code) + segment(0xC4, b"\x10" + one_code)
              + segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"))
    bits = 2 * ((width + 7) // 8) * ((height + 7) // 8)
    tail = bytes([(1 << (8 - bits % 8)) - 1]) if bits % 8 else b""
    return header + b"\x00" * (bits // 8) + tail + b"\xff\xd9"


async def ingest_replies(target: Target, data: bytes, wait: float = 5.0
                         ) -> list[tuple[int, dict[str, Any]]]:
    """Sends ``data`` on a new ingest connection; the server's messages until it closes (or
    ``wait`` seconds pass)."""
    reader, writer = await asyncio.open_connection(HOST, target.ingest)
    replies: list[tuple[int, dict[str, Any]]] = []
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                message = await asyncio.wait_for(read_message(reader, MAX_CONTROL_BYTES),
                                                 deadline - time.monotonic())
            except (TimeoutError, ConnectionError):
                break
            if message is None:
                break
            replies.append((message[0], decode_json(message[1], "reply")))
    finally:
        writer.close()
    return replies


def error_of(replies: list[tuple[int, dict[str, Any]]]) -> str:
    """The text of the last ERROR among replies (AssertionError if there is none)."""
    errors = [body["error"] for kind, body in replies if "error" in body]
    assert errors, f"expected an ERROR, got {replies}"
    return str(errors[-1])


async def request(target: Target, method: str, path: str, *, token: str | None = ADMIN_TOKEN,
                  headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, str]:
    """One HTTP request; its status and body."""
    sent = dict(headers or {})
    if token is not None:
        sent.setdefault("Authorization", f"Bearer {token}")
    async with aiohttp.ClientSession() as session, session.request(
            method, target.url(path), headers=sent,
            timeout=aiohttp.ClientTimeout(total=15), **kwargs) as response:
        return response.status, await response.text()


async def create(target: Target, name: str, source: str = "push", graph: str = "pass.pbtxt",
                 token: str | None = ADMIN_TOKEN, **fields: Any) -> tuple[int, str]:
    """``POST /streams``."""
    return await request(target, "POST", "/streams", token=token,
                         json={"name": name, "graph": graph, "source": source, **fields})


async def managed(target: Target, name: str) -> dict[str, Any]:
    status, text = await request(target, "GET", f"/streams/{name}", token=TOKEN)
    assert status == 200, (status, text)
    return dict(json.loads(text))


async def pushed_frames(channel: str, target: Target, count: int | None = None,
                        fps: float = 30.0) -> AsyncIterator[tuple[int, bytes]]:
    """Frames for a legitimate sender, stamped now."""
    frames = [frame_jpeg(i) for i in range(4)]
    index = 0
    while count is None or index < count:
        yield now_us(), frames[index % len(frames)]
        index += 1
        await asyncio.sleep(1 / fps)


@contextlib.asynccontextmanager
async def sending(target: Target, channel: str) -> AsyncIterator[Sender]:
    """A legitimate sender pushing to ``channel`` for the duration of the block."""
    sender = Sender(HOST, target.ingest, channel, token=TOKEN, min_backoff=0.05,
                    max_backoff=0.2)
    task = asyncio.ensure_future(sender.run(pushed_frames(channel, target)))
    try:
        yield sender
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def watch(target: Target, channel: str, count: int, path: str = "/face_stream",
                timeout: float = 10.0, into: list[Any] | None = None) -> list[Any]:
    """The first ``count`` frames a viewer of ``path`` gets (fewer if ``timeout`` passes),
    appended to ``into`` as they come if given."""
    got: list[Any] = into if into is not None else []

    async def read() -> None:
        async with aiohttp.ClientSession() as session, session.get(
                target.url(f"{path}?name={channel}"),
                headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            if response.status != 200:
                return
            async for frame in mjpeg_frames(response):
                got.append(frame)
                if len(got) == count:
                    return

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), timeout)
    return got


async def until(predicate: Callable[[], Awaitable[bool]], timeout: float) -> bool:
    """Polls ``predicate`` every 50 ms; False if it never held within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def channel_names(target: Target) -> list[str]:
    status, text = await request(target, "GET", "/streams", token=TOKEN)
    assert status == 200, (status, text)
    return [entry["name"] for entry in json.loads(text)]


LEGIT_CHANNELS = iter(range(1_000_000))


async def legit(target: Target) -> str:
    """A legitimate sender and viewer: frames pushed on a new channel come back processed."""
    channel = f"legit{next(LEGIT_CHANNELS)}"

    async def listed() -> bool:
        return channel in await channel_names(target)

    async with sending(target, channel):
        assert await until(listed, 10), f"the sender's channel {channel} never appeared"
        frames = await watch(target, channel, 3)
    assert len(frames) == 3, f"the viewer got {len(frames)} of 3 processed frames"
    for frame in frames:
        assert jpeg.decode(frame.jpeg).shape == (48, 64, 3)
    return "ok"


# ---------------------------------------------------------------------- the attacks


@dataclasses.dataclass(frozen=True)
class Attack:
    """One attack: ``run(target)`` returns what happened, or raises AssertionError.

    Attributes:
        name: Its row in the table.
        run: The attack.
        config: The server it needs (``locked`` or ``open``).
        fresh: It stops the server (SIGTERM): it gets one of its own, in a child process.
    """

    name: str
    run: Callable[[Target], Coroutine[Any, Any, str]]
    config: str = "locked"
    fresh: bool = False


ATTACKS: list[Attack] = []


AttackFn = Callable[[Target], Coroutine[Any, Any, str]]


def attack(name: str, config: str = "locked", fresh: bool = False
           ) -> Callable[[AttackFn], AttackFn]:
    """Registers an attack (in the order of issue 14)."""
    def register(fn: AttackFn) -> AttackFn:
        ATTACKS.append(Attack(name, fn, config, fresh))
        return fn
    return register


def hello(channel: str, width: int = 64, height: int = 48, token: str | None = TOKEN) -> bytes:
    return Hello(channel, width, height, 30.0, token).encode()


@attack("675-byte JPEG claiming 30000x30000")
async def header_claims_huge(target: Target) -> str:
    bomb = header_bomb()
    assert len(bomb) < 1000
    replies = await ingest_replies(target, hello("bomb") + encode_frame(now_us(), bomb))
    assert replies[0][0] == MSG_WELCOME, replies
    first = error_of(replies)
    assert "30000x30000" in first and "cap" in first, first
    second = error_of(await ingest_replies(target, hello("bomb", 30000, 30000)))
    assert "HELLO" in second and "cap" in second, second
    return f"refused undecoded: {first}"


@attack("valid 30000x30000 grayscale JPEG")
async def valid_huge(target: Target) -> str:
    data = gray_jpeg(30000, 30000)
    replies = await ingest_replies(target, hello("gray", 4096, 4096)
                                   + encode_frame(now_us(), data))
    text = error_of(replies)
    assert "30000x30000" in text, text
    return f"{len(data) / 1e6:.1f} MB JPEG refused undecoded"


@attack("local file, folder, camera, listening socket as source")
async def local_sources(target: Target) -> str:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    sources = ["/etc/hostname", "/etc", "file:///etc/hostname", "camera:0", "0",
               f"tcp://{HOST}:{port}?listen=1", f"srt://{HOST}:{port}?mode=listener",
               f"rtsp://{HOST}:{port}/x?listen=1"]
    for index, source in enumerate(sources):
        status, text = await create(target, f"local{index}", source)
        assert status == 400, (source, status, text)
    with socket.socket() as client:  # nothing listens where a listener was asked for
        assert client.connect_ex((HOST, port)) != 0
    return f"{len(sources)}/{len(sources)} refused (400), no listener opened"


@attack("SSRF: sources on loopback and link-local hosts")
async def ssrf(target: Target) -> str:
    canary = socket.socket()
    canary.bind((HOST, 0))
    canary.listen(8)
    canary.setblocking(False)
    port = canary.getsockname()[1]
    sources = [f"http://{HOST}:{port}/latest/meta-data/iam", f"http://localhost:{port}/x",
               f"rtsp://[::1]:{port}/x", "http://169.254.169.254/latest/meta-data/",
               "http://10.0.0.1/x", "https://192.168.1.1/x", f"http://0.0.0.0:{port}/",
               f"http://[::ffff:127.0.0.1]:{port}/", f"rtsp://user:pw@{HOST}:{port}/x"]
    try:
        for index, source in enumerate(sources):
            status, text = await create(target, f"ssrf{index}", source)
            assert status == 400, (source, status, text)
        await asyncio.sleep(0.5)
        with pytest_raises(BlockingIOError):
            canary.accept()
    finally:
        canary.close()
    return f"{len(sources)}/{len(sources)} refused (400), no connection made"


@contextlib.contextmanager
def pytest_raises(kind: type[BaseException]) -> Iterator[None]:
    """Asserts that the block raises ``kind`` (pytest.raises without pytest)."""
    try:
        yield
    except kind:
        return
    raise AssertionError(f"expected {kind.__name__}")


@attack("graph = any path (existence and content oracle)")
async def any_graph(target: Target) -> str:
    secret = target.workdir.parent / f"secret-{os.getpid()}.pbtxt"
    secret.write_text('db_password: "hunter2"\n')
    try:
        answers = {}
        for name in (str(secret), f"../{secret.name}", str(secret.with_name("missing.pbtxt")),
                     "/etc/passwd"):
            status, text = await create(target, "graph", graph=name)
            assert status == 400, (name, status, text)
            assert "hunter2" not in text and "db_password" not in text, text
            answers[name] = json.loads(text)["error"].replace(name, "NAME")
    finally:
        secret.unlink()
    assert len(set(answers.values())) == 1, f"answers differ: {answers}"
    return "4/4 refused alike, nothing of the file shown"


@attack("cross-site text/plain POST, foreign Host (CSRF, DNS rebinding)")
async def cross_site(target: Target) -> str:
    body = json.dumps({"name": "csrf", "graph": "pass.pbtxt", "source": "push"})
    foreign_host = await request(target, "POST", "/streams", data=body, headers={
        "Host": "attacker.example", "Content-Type": "text/plain"})
    foreign_origin = await request(target, "POST", "/streams", data=body, headers={
        "Origin": "http://attacker.example", "Content-Type": "text/plain"})
    text_plain = await request(target, "POST", "/streams", data=body,
                               headers={"Content-Type": "text/plain"})
    rebound = await request(target, "GET", "/streams", token=TOKEN,
                            headers={"Host": f"rebind.attacker.example:{target.http}"})
    assert foreign_host[0] == 403 and foreign_origin[0] == 403, (foreign_host, foreign_origin)
    assert text_plain[0] == 415 and rebound[0] == 403, (text_plain, rebound)
    assert "csrf" not in await channel_names(target)
    return "foreign Host 403, foreign Origin 403, text/plain 415 (even with the admin token)"


@attack("pulled sources that block on open", config="open")
async def blocking_sources(target: Target) -> str:
    with blackhole() as port, contextlib.ExitStack():
        async with sending(target, "keeper"):
            assert (await create(target, "keeper", "push"))[0] == 201
            before = (await managed(target, "keeper"))["frames"]
            slowest = 0.0
            for index in range(15):
                start = time.monotonic()
                status, text = await create(target, f"hole{index}",
                                            f"http://{HOST}:{port}/live{index}.mjpg")
                slowest = max(slowest, time.monotonic() - start)
                assert status == 201, (status, text)
            await asyncio.sleep(SHORT_TIMEOUT_S + 1)
            after = (await managed(target, "keeper"))["frames"]
            status, text = await create(target, "extra", "push")
            assert status == 429, (status, text)  # --max-streams 16
            worst_delete = 0.0
            for index in range(15):
                start = time.monotonic()
                status, text = await request(target, "DELETE", f"/streams/hole{index}")
                worst_delete = max(worst_delete, time.monotonic() - start)
                assert status == 200, (status, text)
            await request(target, "DELETE", "/streams/keeper")
    assert after > before + 10, f"the running stream froze ({before} -> {after} frames)"
    return (f"15 hung sources: POST <= {slowest * 1000:.0f} ms, a running stream went on "
            f"(+{after - before} frames), DELETE <= {worst_delete * 1000:.0f} ms")


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind((HOST, 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        server.close()


async def stop_within(target: Target, limit: float = STOP_LIMIT_S) -> tuple[float, int, str]:
    """SIGTERM to the server; how long it took to exit, its status and its log."""
    assert target.process is not None
    start = time.monotonic()
    target.process.send_signal(signal.SIGTERM)
    try:
        status = await asyncio.to_thread(target.process.wait, limit + 5)
    except subprocess.TimeoutExpired:
        target.process.kill()
        raise AssertionError(f"SIGTERM: still running after {limit + 5} s") from None
    took = time.monotonic() - start
    assert took < limit, f"SIGTERM: took {took:.1f} s"
    return took, status, target.log()


@attack("SIGTERM while pulled sources block", config="open", fresh=True)
async def stop_blocked(target: Target) -> str:
    with blackhole() as port:
        for index in range(6):
            assert (await create(target, f"hole{index}",
                                 f"http://{HOST}:{port}/x{index}.mjpg"))[0] == 201
        await asyncio.sleep(1.0)
        took, status, _ = await stop_within(target)
    assert status == 0, status
    return f"stopped in {took:.2f} s, exit 0"


@attack("SIGTERM with restart=always streams", config="open", fresh=True)
async def stop_restart_always(target: Target) -> str:
    assert (await create(target, "again", "demo", restart="always"))[0] == 201
    assert (await create(target, "again2", "push", restart="always"))[0] == 201
    async with sending(target, "again2"):
        assert await until(lambda: _frames_at_least(target, "again", 3), 15)
        took, status, log = await stop_within(target)
    assert status == 0, status
    after = log.split("stopping", 1)[-1]
    assert '"type": "restarting"' not in after and "'type': 'restarting'" not in after, after
    return f"stopped in {took:.2f} s, exit 0, nothing restarted"


async def _frames_at_least(target: Target, name: str, count: int) -> bool:
    return int((await managed(target, name))["frames"]) >= count


@attack("SIGTERM with a hung calculator", config="open", fresh=True)
async def stop_hung(target: Target) -> str:
    assert (await create(target, "hung", "push", graph="hang.pbtxt"))[0] == 201
    async with sending(target, "hung"):
        await asyncio.sleep(1.0)  # its first frame is stuck in the calculator
        took, status, log = await stop_within(target)
    assert status == 3, status
    assert "hung and were abandoned" in log, log[-2000:]
    return f"stopped in {took:.2f} s, exit status 3: graph abandoned"


@attack("five concurrent POSTs of one name")
async def same_name(target: Target) -> str:
    statuses = sorted(s for s, _ in await asyncio.gather(
        *(create(target, "twin", "push") for _ in range(5))))
    assert statuses == [201, 409, 409, 409, 409], statuses
    assert (await request(target, "DELETE", "/streams/twin"))[0] == 200

    async def gone() -> bool:
        return "twin" not in await channel_names(target)

    assert await until(gone, 5), "the stream's channel outlived its DELETE"
    return "one 201, four 409; nothing left after DELETE"


@attack("takeover with a frame at 2^62")
async def takeover(target: Target) -> str:
    async def listed() -> bool:
        return "cam" in await channel_names(target)

    async with sending(target, "cam"):
        assert await until(listed, 10), "the sender's channel never appeared"
        seen: list[Any] = []
        viewer = asyncio.ensure_future(watch(target, "cam", 1000, timeout=30, into=seen))
        try:
            assert await until(lambda: _frames_seen(seen, 2), 10), "no processed frame"
            far = error_of(await ingest_replies(
                target, hello("cam") + encode_frame(2 ** 62, frame_jpeg())))
            assert "server's clock" in far, far
            ahead = now_us() + 250_000_000  # within the allowed skew, far ahead of the sender
            replies = await ingest_replies(
                target, hello("cam") + encode_frame(ahead, frame_jpeg()), wait=0.5)
            assert replies and replies[0][0] == MSG_WELCOME, replies
            mark = now_us()
            resumed = await until(lambda: _frames_seen(seen, 5, after=mark), 10)
        finally:
            viewer.cancel()
            await asyncio.gather(viewer, return_exceptions=True)
    assert resumed, "after the takeover the sender's frames did not come back processed"
    return "2^62 refused (clock); after a takeover 250 s ahead, processed frames flow again"


async def _frames_seen(seen: list[Any], count: int, after: int = 0) -> bool:
    """True once ``seen`` holds ``count`` frames stamped after ``after`` and not ahead of now
    (a sender's, not the attacker's)."""
    return sum(1 for f in seen if after < f.timestamp < now_us() + 60_000_000) >= count


@attack("pushing into a pulled managed stream", config="open")
async def push_into_pulled(target: Target) -> str:
    assert (await create(target, "pulled", "demo", restart="on_eos"))[0] == 201
    assert await until(lambda: _frames_at_least(target, "pulled", 3), 15)
    text = error_of(await ingest_replies(target, hello("pulled")
                                         + encode_frame(now_us(), frame_jpeg())))
    before = (await managed(target, "pulled"))["frames"]
    assert await until(lambda: _frames_at_least(target, "pulled", before + 5), 10)
    assert (await request(target, "DELETE", "/streams/pulled"))[0] == 200
    assert "takes no pushes" in text, text
    return "refused (ERROR), the stream went on"


@attack("300 HTTP connections with unfinished headers")
async def slowloris(target: Target) -> str:
    connections = []
    for _ in range(300):
        reader, writer = await asyncio.open_connection(HOST, target.http)
        writer.write(b"GET /streams HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        connections.append((reader, writer))
    start = time.monotonic()

    async def closed(reader: asyncio.StreamReader) -> float:
        with contextlib.suppress(ConnectionError):
            await reader.read()
        return time.monotonic() - start

    try:
        times = await asyncio.wait_for(asyncio.gather(*(closed(r) for r, _ in connections)),
                                       SHORT_TIMEOUT_S + 5)
    finally:
        for _, writer in connections:
            writer.close()
    return f"all 300 closed by the server within {max(times):.1f} s (--header-timeout)"


@attack("30 senders holding 8 MiB unfinished frames")
async def unfinished_frames(target: Target) -> str:
    chunk = b"\x00" * (1 << 20)
    size = 8 * (1 << 20)

    async def hold(index: int) -> str:
        reader, writer = await asyncio.open_connection(HOST, target.ingest)
        texts: list[str] = []

        async def replies() -> None:
            with contextlib.suppress(ConnectionError, ProtocolError):
                while (message := await read_message(reader, MAX_CONTROL_BYTES)) is not None:
                    texts.append(decode_json(message[1], "reply").get("error", ""))

        reading = asyncio.ensure_future(replies())
        try:
            writer.write(hello(f"hold{index}"))
            writer.write(struct.pack("!IB", size + 9, MSG_FRAME) + struct.pack("!q", now_us()))
            with contextlib.suppress(ConnectionError):
                for part in range(8):  # one byte short: the frame never completes
                    if reading.done():
                        break
                    writer.write(chunk if part < 7 else chunk[:-1])
                    await writer.drain()
            await asyncio.wait_for(reading, SHORT_TIMEOUT_S + 5)
        finally:
            writer.close()
        return " ".join(texts)

    start = time.monotonic()
    outcomes = await asyncio.wait_for(asyncio.gather(*(hold(i) for i in range(30))),
                                      SHORT_TIMEOUT_S + 10)
    took = time.monotonic() - start
    busy = sum("server busy" in text for text in outcomes)
    timed_out = sum("no frame within" in text for text in outcomes)
    # A refused sender that is still sending may see its connection reset before the ERROR.
    reset = outcomes.count("")
    assert busy + timed_out + reset == 30, outcomes
    assert busy + reset > 0, outcomes  # the frame-byte budget refused some
    return (f"{busy + reset} refused at once (frame-byte budget; {reset} of them saw a reset), "
            f"{timed_out} closed after the sender timeout; all gone in {took:.1f} s")


@attack("1,100 idle ingest connections")
async def idle_ingest(target: Target) -> str:
    connections = []
    for _ in range(1100):
        connections.append(await asyncio.open_connection(HOST, target.ingest))
    start = time.monotonic()

    async def outcome(reader: asyncio.StreamReader) -> tuple[str, float]:
        try:
            message = await read_message(reader, MAX_CONTROL_BYTES)
        except (ConnectionError, ProtocolError):
            return "reset", time.monotonic() - start
        text = decode_json(message[1], "reply").get("error", "") if message else ""
        return text, time.monotonic() - start

    try:
        results = await asyncio.wait_for(asyncio.gather(*(outcome(r) for r, _ in connections)),
                                         SHORT_TIMEOUT_S + 10)
    finally:
        for _, writer in connections:
            writer.close()
    refused = sum("too many connections" in text for text, _ in results)
    timed_out = sum("no HELLO" in text for text, _ in results)
    assert refused + timed_out == 1100, [text for text, _ in results][:5]
    assert refused >= 1100 - 256, refused
    return (f"{refused} refused at once (connection limits), {timed_out} closed after the HELLO "
            f"timeout, last at {max(t for _, t in results):.1f} s")


@attack("150 managed streams")
async def many_streams(target: Target) -> str:
    statuses = [(await create(target, f"many{i}", "push"))[0] for i in range(150)]
    created = statuses.count(201)
    threads = process_threads(target)
    for index in range(150):
        if statuses[index] == 201:
            await request(target, "DELETE", f"/streams/many{index}")
    assert created == 16 and statuses.count(429) == 134, statuses
    return f"16 created, 134 refused (429, --max-streams){threads}"


def process_threads(target: Target) -> str:
    if target.process is None:
        return ""
    status = pathlib.Path(f"/proc/{target.process.pid}/status").read_text()
    threads = re.search(r"Threads:\s+(\d+)", status)
    return f"; server threads {threads.group(1) if threads else '?'}"


@attack("HELLO of 60,000 '['")
async def deep_hello(target: Target) -> str:
    text = error_of(await ingest_replies(target, encode_message(MSG_HELLO, b"[" * 60000)))
    assert "nests too deeply" in text, text
    return f"ERROR: {text}"


@attack("lone surrogate in the HELLO token")
async def surrogate_token(target: Target) -> str:
    body = json.dumps({"protocol": PROTOCOL, "channel": "s", "width": 64, "height": 48,
                       "fps": 30, "token": "\ud800"}).encode()  # ASCII JSON: "\\ud800"
    replies = await ingest_replies(target, encode_message(MSG_HELLO, body))
    text = error_of(replies)
    assert "wrong or missing token" in text and replies[-1][1]["retry"] is False, replies
    return f"ERROR: {text}"


@attack("Authorization: Bearer \\xff\\xfe")
async def bad_bearer(target: Target) -> str:
    reader, writer = await asyncio.open_connection(HOST, target.http)
    try:
        writer.write(b"GET /streams HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n")
        status_line = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert status_line.split()[1] == b"401", status_line
    return "401"


@attack("credentials in a source URL", config="open")
async def credentials(target: Target) -> str:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]  # closed: the stream keeps retrying it
    source = f"rtsp://admin:hunter2@{HOST}:{port}/live?token=s3cr3t&channel=1"
    async with aiohttp.ClientSession() as session, session.get(
            target.url("/events"), headers={"Authorization": f"Bearer {TOKEN}"}) as events:
        status, created = await create(target, "creds", source)
        assert status == 201, (status, created)
        seen = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHORT_TIMEOUT_S + 3):
                async for event in sse_events(events):
                    seen.append(json.dumps(event))
                    if event.get("type") == "source_retry" and event["stream"] == "creds":
                        break
    listed = (await request(target, "GET", "/streams", token=TOKEN))[1]
    one = (await request(target, "GET", "/streams/creds", token=TOKEN))[1]
    assert (await request(target, "DELETE", "/streams/creds"))[0] == 200
    places = {"POST": created, "GET /streams": listed, "GET /streams/creds": one,
              "/events": "\n".join(seen), "log": target.log()}
    leaks = [where for where, text in places.items() if "hunter2" in text or "s3cr3t" in text]
    assert not leaks, f"secrets shown in {leaks}"
    assert "source_retry" in places["/events"], seen
    assert "rtsp://***@" in one, one
    return "redacted in POST, GET, /events and the log"


@attack("one token for senders, viewers and administration")
async def one_token(target: Target) -> str:
    as_viewer = await create(target, "admin", "push", token=TOKEN)
    delete_as_viewer = await request(target, "DELETE", "/streams/admin", token=TOKEN)
    as_admin = await create(target, "admin", "push")
    assert (await request(target, "DELETE", "/streams/admin"))[0] == 200
    assert as_viewer[0] == 401 and delete_as_viewer[0] == 401, (as_viewer, delete_as_viewer)
    assert as_admin[0] == 201, as_admin
    return "viewer token: POST 401, DELETE 401; admin token: 201"


# ---------------------------------------------------------------------- the harness


class ServerProcess:
    """``graphflow -v serve`` of the pass-through graph in a child process.

    Args:
        workdir: Its ``--graphs-dir`` (written) and log folder.
        flags: Further ``graphflow serve`` flags.
    """

    def __init__(self, workdir: pathlib.Path, flags: list[str]) -> None:
        write_graphs(workdir)
        self.log_path = workdir / f"serve-{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get(
            "PYTHONPATH", ""), "COLUMNS": "400"}
        self.process = subprocess.Popen(
            [sys.executable, str(pathlib.Path(__file__).resolve()), "--serve", "-v", "serve",
             str(workdir / "pass.pbtxt"), "--ingest", f"{HOST}:0", "--http", f"{HOST}:0",
             "--graphs-dir", str(workdir), *flags],
            stdout=subprocess.PIPE, stderr=self._log, env=env)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        match = re.search(r"ingest [\d.]+:(\d+), http http://[\d.]+:(\d+)/", line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"graphflow serve did not start: {line!r}\n{self.log()}")
        self.target = Target(int(match.group(1)), int(match.group(2)), workdir, self.log,
                             self.process)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_LIMIT_S + 5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


ROOT = pathlib.Path(__file__).resolve().parents[1]


class Probe:
    """Every 50 ms on a thread of its own: asks ``/healthz`` (keeps the worst latency) and
    samples the server's RSS (for servers that exit before their peak can be read)."""

    def __init__(self, port: int, pid: int) -> None:
        self._port = port
        self._pid = pid
        self._stop = threading.Event()
        self.worst = 0.0
        self.failures = 0
        self.rss_mib = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with contextlib.suppress(OSError, AttributeError):
                status = pathlib.Path(f"/proc/{self._pid}/status").read_text()
                rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore
                self.rss_mib = max(self.rss_mib, rss / 1024)
            start = time.perf_counter()
            try:
                connection = http.client.HTTPConnection(HOST, self._port, timeout=5)
                connection.request("GET", "/healthz")
                ok = connection.getresponse().status == 200
                connection.close()
            except OSError:
                ok = False
            if ok or self._alive():
                self.worst = max(self.worst, time.perf_counter() - start)
                self.failures += not ok

    def _alive(self) -> bool:
        return pathlib.Path(f"/proc/{self._pid}").exists()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def reset_peak_rss(pid: int) -> None:
    """Resets the process's peak RSS (``VmHWM``) to its current RSS."""
    pathlib.Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mib(pid: int) -> float:
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore


@dataclasses.dataclass
class Row:
    name: str
    result: str
    held: bool
    rss_mib: float
    healthz_ms: float
    legit: str


def run_one(item: Attack, target: Target) -> Row:
    """Runs one attack against a running server and measures it."""
    assert target.process is not None
    pid = target.process.pid
    reset_peak_rss(pid)
    probe = Probe(target.http, pid)
    try:
        result = asyncio.run(item.run(target))
        held = True
    except Exception as exc:  # an attack that got through: its row says how
        result, held = f"FAILED: {type(exc).__name__}: {exc}"[:300], False
    finally:
        probe.stop()
    rss = max(probe.rss_mib, peak_rss_mib(pid) if target.process.poll() is None else 0.0)
    if target.process.poll() is None:
        try:
            after = asyncio.run(legit(target))
        except Exception as exc:
            after, held = f"FAILED: {exc}"[:120], False
    else:
        after = "n/a (stopped)"
    healthz = probe.worst * 1000
    if probe.failures and target.process.poll() is None:
        result += f" ({probe.failures} /healthz failures)"
        held = False
    return Row(item.name, result, held, rss, healthz, after)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":  # the child: graphflow plus the hang
        from graphflow.app.cli import main as graphflow_main

        return graphflow_main(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", default=None, metavar="NAME",
                        help="run the attacks whose names contain one of these words")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the attackers' own warnings are expected
    chosen = [a for a in ATTACKS if not args.only or any(w in a.name for w in args.only)]
    rows: list[Row] = []
    stop_times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="graphflow-attack-") as folder:
        work = pathlib.Path(folder) / "graphs"
        work.mkdir()
        servers: dict[str, ServerProcess] = {}
        try:
            for item in chosen:
                if item.fresh:
                    server = ServerProcess(work, CONFIGS[item.config])
                    try:
                        rows.append(run_one_fresh(item, server))
                    finally:
                        server.stop()
                    continue
                if item.config not in servers:
                    servers[item.config] = ServerProcess(work, CONFIGS[item.config])
                rows.append(run_one(item, servers[item.config].target))
                print(f"  {rows[-1].name}: {rows[-1].result}", file=sys.stderr, flush=True)
        finally:
            for server in servers.values():
                start = time.monotonic()
                server.stop()
                stop_times.append(time.monotonic() - start)
    print(f"{'attack':<58} {'held':<5} {'peak RSS':>9} {'healthz':>8}  {'legit after':<12} "
          "result")
    for row in rows:
        print(f"{row.name:<58} {'yes' if row.held else 'NO':<5} {row.rss_mib:>5.0f} MiB "
              f"{row.healthz_ms:>5.0f} ms  {row.legit:<12} {row.result}")
    peak = max((r.rss_mib for r in rows), default=0.0)
    worst = max((r.healthz_ms for r in rows), default=0.0)
    held = sum(r.held and r.rss_mib < RSS_LIMIT_MIB and r.healthz_ms < HEALTHZ_LIMIT_MS
               for r in rows)
    print(f"attack: {held}/{len(rows)} attacks held; peak RSS {peak:.0f} MiB (limit "
          f"{RSS_LIMIT_MIB}); /healthz worst {worst:.0f} ms (limit {HEALTHZ_LIMIT_MS}); "
          f"SIGTERM after the attacks stopped the servers in "
          f"{max(stop_times, default=0.0):.2f} s")
    return 0 if held == len(rows) else 1


def run_one_fresh(item: Attack, server: ServerProcess) -> Row:
    """An attack that stops its server: legitimate use is checked before the attack."""
    target = server.target
    try:
        asyncio.run(legit(target))
        before = "ok (before)"
    except Exception as exc:
        before = f"FAILED: {exc}"[:120]
    row = run_one(item, target)
    row.legit = before
    row.held = row.held and before.startswith("ok")
    print(f"  {row.name}: {row.result}", file=sys.stderr, flush=True)
    return row


if __name__ == "__main__":
    sys.exit(main())
