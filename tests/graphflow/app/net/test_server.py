"""StreamServer and Sender end to end: real TCP and HTTP on 127.0.0.1, ephemeral ports."""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import numpy as np
import pytest
from streamkit import (
    FAILING_GRAPH,
    TEST_GRAPH,
    NetTestInvertCalculator,
    brightest_block,
    cancel_and_wait,
    frame_source,
    make_image,
    run_clean,
    until,
)

from graphflow.app.net import Sender, SenderRejectedError, StreamServer, jpeg
from graphflow.app.net.client import mjpeg_frames, sse_events
from graphflow.app.net.jsonable import to_jsonable
from graphflow.app.net.limits import Limits
from graphflow.app.net.policy import Access
from graphflow.app.net.protocol import (
    MAX_CONTROL_BYTES,
    MSG_ERROR,
    MSG_FRAME,
    MSG_WELCOME,
    Hello,
    decode_json,
    encode_frame,
    encode_message,
    read_message,
)

pytestmark = pytest.mark.timeout(60)


async def noisy_source() -> AsyncIterator[tuple[int, bytes]]:
    """Large (about 600 KB) frames of noise at 100 fps, which fill socket buffers quickly."""
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    data = jpeg.encode(noise, 100)
    async for timestamp, _ in frame_source(fps=100.0):
        yield timestamp, data


def http(server: StreamServer, path: str) -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


async def take(frames: AsyncIterator[Any], count: int) -> list[Any]:
    out = []
    async for item in frames:
        out.append(item)
        if len(out) == count:
            break
    return out


async def streams(session: aiohttp.ClientSession, server: StreamServer,
                  **kwargs: Any) -> dict[str, dict[str, Any]]:
    async with session.get(http(server, "/streams"), **kwargs) as response:
        assert response.status == 200
        return {s["name"]: s for s in await response.json()}


class Channel:
    """A sender task pushing ``frame_source`` frames, remembering what it sent."""

    def __init__(self, server: StreamServer, name: str, noisy: bool = False,
                 **kwargs: Any) -> None:
        self.sent: dict[int, bytes] = {}
        self.noisy = noisy
        self.sender = Sender("127.0.0.1", server.ingest_port, name, min_backoff=0.05,
                             max_backoff=0.2, **kwargs)
        self.task = asyncio.ensure_future(self.sender.run(self._frames()))

    async def _frames(self) -> AsyncIterator[tuple[int, bytes]]:
        source = noisy_source() if self.noisy else frame_source()
        async for timestamp, data in source:
            self.sent[timestamp] = data
            yield timestamp, data

    async def stop(self) -> None:
        await cancel_and_wait(self.task)


def test_raw_stream_delivers_the_sent_jpeg_bytes() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            channel = Channel(server, "cam1")
            await until(lambda: "cam1" in server.channel_names(), what="channel registered")
            async with session.get(http(server, "/stream?name=cam1")) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
                frames = await take(mjpeg_frames(response), 5)
            info = (await streams(session, server))["cam1"]
            await channel.stop()
        for frame in frames:
            assert channel.sent[frame.timestamp] == frame.jpeg
        assert [f.timestamp for f in frames] == sorted({f.timestamp for f in frames})
        assert info["connected"] and (info["width"], info["height"]) == (64, 48)
        assert info["processing"] is False  # raw viewers do not start the graph

    run_clean(main)


def test_processed_stream_and_results_come_from_the_graph(counters: type) -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            channel = Channel(server, "cam1")
            await until(lambda: "cam1" in server.channel_names())
            async with session.get(http(server, "/face_stream?name=cam1")) as video, \
                    session.get(http(server, "/results?name=cam1")) as results:
                frames = await take(mjpeg_frames(video), 4)
                events = await take(sse_events(results), 4)
            await channel.stop()
        for frame in frames:
            source = jpeg.decode(channel.sent[frame.timestamp]).astype(int)
            inverted = jpeg.decode(frame.jpeg).astype(int)
            # 255 - source, through one more JPEG round trip at quality 80
            assert np.abs((255 - source) - inverted).mean() < 4
        for event in events:
            assert event["channel"] == "cam1" and event["stream"] == "face_detections"
            source = jpeg.decode(channel.sent[event["timestamp"]])
            expected = to_jsonable([brightest_block(source)])
            assert event["value"][0].keys() == expected[0].keys()
            np.testing.assert_allclose(event["value"][0]["keypoints"], expected[0]["keypoints"])
            assert event["value"][0]["score"] == pytest.approx(expected[0]["score"])

    run_clean(main)


def test_graph_runs_only_while_watched_and_once_for_two_viewers(counters: type) -> None:
    calc = NetTestInvertCalculator

    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            channel = Channel(server, "cam1")
            await until(lambda: "cam1" in server.channel_names())
            async with session.get(http(server, "/stream?name=cam1")) as raw:
                await take(mjpeg_frames(raw), 3)
                assert calc.opened == 0
            async with session.get(http(server, "/face_stream?name=cam1")) as first, \
                    session.get(http(server, "/face_stream?name=cam1")) as second:
                seen = await asyncio.gather(take(mjpeg_frames(first), 10),
                                            take(mjpeg_frames(second), 10))
                info = (await streams(session, server))["cam1"]
                assert info["processing"] and info["viewers"]["processed"] == 2
                assert info["worker_pid"] == os.getpid()  # without --ray: in the server
                assert calc.opened == 1
            await until(lambda: calc.closed == 1, what="graph stopped after the last viewer")
            stopped = (await streams(session, server))["cam1"]
            assert not stopped["processing"] and stopped["worker_pid"] is None
            processed_while_stopped, sent = len(calc.processed), len(channel.sent)
            await until(lambda: len(channel.sent) > sent + 10)
            assert len(calc.processed) == processed_while_stopped
            async with session.get(http(server, "/results?name=cam1")) as results:
                await take(sse_events(results), 2)
                assert calc.opened == 2  # results alone start a new run
            await until(lambda: calc.closed == 2)
            await channel.stop()
        processed = calc.processed
        assert len(processed) == len(set(processed)), "a frame went through the graph twice"
        both = {f.timestamp for f in seen[0]} & {f.timestamp for f in seen[1]}
        assert both, "the two viewers never saw the same frame"
        assert {f.timestamp for f in seen[0] + seen[1]} <= set(processed)

    run_clean(main)


def test_sender_reconnects_when_the_server_comes_back() -> None:
    async def main() -> None:
        first = StreamServer(TEST_GRAPH)
        await first.start()
        port = first.ingest_port
        channel = Channel(first, "cam1")
        await until(lambda: channel.sender.stats.sent > 3, what="first connection")
        await first.close()
        await until(lambda: channel.sender.stats.dropped > 3, what="drops while down")
        async with StreamServer(TEST_GRAPH, ingest=("127.0.0.1", port)) as second, \
                aiohttp.ClientSession() as session:
            await until(lambda: channel.sender.stats.connections == 2, what="reconnection")
            async with session.get(http(second, "/stream?name=cam1")) as response:
                frames = await take(mjpeg_frames(response), 3)
            await channel.stop()
        assert all(channel.sent[f.timestamp] == f.jpeg for f in frames)

    run_clean(main)


def test_viewer_keeps_watching_across_a_sender_reconnection() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            channel = Channel(server, "cam1")
            await until(lambda: "cam1" in server.channel_names())
            async with session.get(http(server, "/stream?name=cam1")) as response:
                frames = mjpeg_frames(response)
                before = await take(frames, 3)
                await channel.stop()
                await until(lambda: not server._channels["cam1"].describe()["connected"])
                assert server.channel_names() == ["cam1"]  # kept for its viewer
                again = Channel(server, "cam1")
                after = await take(frames, 3)
                await again.stop()
            await until(lambda: server.channel_names() == [], what="idle channel forgotten")
        assert all(channel.sent[f.timestamp] == f.jpeg for f in before)
        assert all(again.sent[f.timestamp] == f.jpeg for f in after)

    run_clean(main)


async def raw_connection(server: StreamServer) -> tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.ingest_port)


async def server_reply(reader: asyncio.StreamReader) -> list[tuple[int, dict[str, Any]]]:
    """Every message the server sends until it closes the connection."""
    replies = []
    while (message := await read_message(reader, MAX_CONTROL_BYTES)) is not None:
        replies.append((message[0], decode_json(message[1], "reply")))
    return replies


GOOD_JPEG = jpeg.encode(make_image(0), 90)
HELLO = Hello("bad", 64, 48, 30.0).encode()
NOW = time.time_ns() // 1000  # frame timestamps must be near the server's clock
MALFORMED = {
    "frame before hello": encode_frame(NOW, GOOD_JPEG),
    "zero length": struct.pack("!IB", 0, 0x01),
    "hello is not json": encode_message(0x01, b"{not json"),
    "hello without protocol": encode_message(0x01, b'{"channel": "bad"}'),
    "invalid channel name": encode_message(0x01, b'{"protocol": "graphflow-stream/1", '
                                                  b'"channel": "../etc", "width": 4, "height": 4}'),
    "unknown kind": HELLO + encode_message(0x7F, b"x"),
    "not a jpeg": HELLO + encode_frame(NOW, b"\x00" * 100),
    "timestamps go back": HELLO + encode_frame(NOW + 5, GOOD_JPEG) + encode_frame(NOW + 4,
                                                                                  GOOD_JPEG),
    "cut inside a message": HELLO + encode_frame(NOW, GOOD_JPEG)[:-10],
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_closes_only_that_connection(case: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            good = Channel(server, "good")
            await until(lambda: "good" in server.channel_names())
            async with session.get(http(server, "/stream?name=good")) as response:
                frames = mjpeg_frames(response)
                await take(frames, 2)
                reader, writer = await raw_connection(server)
                writer.write(MALFORMED[case])
                if case == "cut inside a message":
                    writer.write_eof()
                replies = await server_reply(reader)
                writer.close()
                after = await take(frames, 3)  # the other stream goes on
            await good.stop()
        assert replies[-1][0] == MSG_ERROR, replies
        assert all(good.sent[f.timestamp] == f.jpeg for f in after)

    with caplog.at_level(logging.WARNING, logger="graphflow.app.net.server"):
        run_clean(main)
    assert any("closing the connection" in r.getMessage() for r in caplog.records)


def test_oversized_frame_is_refused_before_its_body_arrives(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server:
            reader, writer = await raw_connection(server)
            writer.write(HELLO)
            # announce a 9 MiB frame and send none of it: the server must not wait for it
            writer.write(struct.pack("!IB", 9 * 1024 * 1024 + 9, MSG_FRAME))
            replies = await server_reply(reader)
            writer.close()
        assert [kind for kind, _ in replies] == [MSG_WELCOME, MSG_ERROR]
        assert "exceeds the cap of 8388616 bytes" in replies[1][1]["error"]

    with caplog.at_level(logging.WARNING, logger="graphflow.app.net.server"):
        run_clean(main)
    assert any("exceeds the cap" in r.getMessage() for r in caplog.records)


def test_frame_size_cap_is_configurable() -> None:
    async def main() -> None:
        limits = Limits(max_frame_bytes=len(GOOD_JPEG) - 1)
        async with StreamServer(TEST_GRAPH, limits=limits) as server:
            reader, writer = await raw_connection(server)
            writer.write(HELLO + encode_frame(NOW, GOOD_JPEG))
            replies = await server_reply(reader)
            writer.close()
        assert replies[-1][0] == MSG_ERROR and "exceeds the cap" in replies[-1][1]["error"]

    run_clean(main)


def test_unknown_and_invalid_channels() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            statuses = {}
            for path in ("/stream?name=nobody", "/face_stream?name=nobody",
                         "/results?name=nobody", "/stream?name=../x", "/stream"):
                async with session.get(http(server, path)) as response:
                    statuses[path] = (response.status, await response.text())
            async with session.get(http(server, "/healthz")) as response:
                health = await response.json()
            async with session.get(http(server, "/")) as response:
                index = await response.text()
        assert statuses["/stream?name=nobody"][0] == 404
        assert "no stream named 'nobody'" in statuses["/stream?name=nobody"][1]
        assert statuses["/face_stream?name=nobody"][0] == 404
        assert statuses["/results?name=nobody"][0] == 404
        assert statuses["/stream?name=../x"][0] == 400
        assert "invalid channel name" in statuses["/stream?name=../x"][1]
        assert statuses["/stream"] == (400, "missing ?name=CHANNEL\n")
        assert health == {"status": "ok", "streams": 0}
        assert "<title>graphflow streams</title>" in index

    run_clean(main)


def test_token_authentication_for_senders_and_viewers() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH, access=Access(token="s3cret")) as server, \
                aiohttp.ClientSession() as session:
            intruder = Sender("127.0.0.1", server.ingest_port, "cam1", token="wrong")
            with pytest.raises(SenderRejectedError, match="wrong or missing token"):
                await intruder.run(frame_source(5))
            assert server.channel_names() == []
            channel = Channel(server, "cam1", token="s3cret")
            await until(lambda: "cam1" in server.channel_names())
            status = {}
            variants: dict[str, dict[str, Any]] = {
                "none": {}, "wrong": {"params": {"token": "nope"}},
                "query": {"params": {"token": "s3cret"}},
                "bearer": {"headers": {"Authorization": "Bearer s3cret"}}}
            for name, kwargs in variants.items():
                for path in ("/streams", "/", "/stream?name=cam1"):
                    async with session.get(http(server, path), **kwargs) as response:
                        status[name, path] = response.status
                        if response.status == 200 and path.startswith("/stream?"):
                            await take(mjpeg_frames(response), 1)
            async with session.get(http(server, "/healthz")) as response:
                status["none", "/healthz"] = response.status
            await channel.stop()
        for path in ("/streams", "/", "/stream?name=cam1"):
            assert status["none", path] == status["wrong", path] == 401
            assert status["query", path] == status["bearer", path] == 200
        assert status["none", "/healthz"] == 200

    run_clean(main)


def test_sender_without_token_is_accepted_when_auth_is_off() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server:
            sender = Sender("127.0.0.1", server.ingest_port, "cam1", token="ignored")
            stats = await sender.run(frame_source(5))
        assert (stats.connections, stats.sent, stats.dropped) == (1, 5, 0)

    run_clean(main)


def test_streams_lists_rates_and_viewers() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            channels = [Channel(server, name) for name in ("a", "b")]
            await until(lambda: server.channel_names() == ["a", "b"])
            async with session.get(http(server, "/stream?name=b")) as response:
                await take(mjpeg_frames(response), 5)
                listed = await streams(session, server)
            for channel in channels:
                await channel.stop()
        assert listed["a"]["viewers"] == {"raw": 0, "processed": 0, "results": 0}
        assert listed["b"]["viewers"] == {"raw": 1, "processed": 0, "results": 0}
        assert listed["a"]["fps"] > 0 and listed["a"]["frames"] >= 1

    run_clean(main)


def test_slow_raw_viewer_gets_the_latest_frame_not_a_backlog() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH) as server, aiohttp.ClientSession() as session:
            channel = Channel(server, "cam1", noisy=True)
            await until(lambda: "cam1" in server.channel_names())
            async with session.get(http(server, "/stream?name=cam1")) as response:
                frames = mjpeg_frames(response)
                await take(frames, 1)
                # stop reading while the sender goes on (60 MB: more than the socket buffers,
                # 32 MiB + 4 MiB at most here); the server must drop, not keep a backlog
                sent_before = len(channel.sent)
                await until(lambda: len(channel.sent) > sent_before + 100)
                subscription = next(iter(server._channels["cam1"].raw._subscriptions))
                assert subscription.dropped > 0
                assert len(subscription._items) == 1
            await channel.stop()

    run_clean(main)


def test_a_failing_graph_ends_its_viewers_and_restarts_for_the_next(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with StreamServer(FAILING_GRAPH) as server, aiohttp.ClientSession() as session:
            channel = Channel(server, "cam1")
            await until(lambda: "cam1" in server.channel_names())
            for _ in range(2):
                async with session.get(http(server, "/face_stream?name=cam1")) as response:
                    assert await take(mjpeg_frames(response), 1) == []  # ended, no frame
            async with session.get(http(server, "/stream?name=cam1")) as response:
                raw = await take(mjpeg_frames(response), 2)  # the raw stream is unaffected
            await channel.stop()
        assert all(channel.sent[f.timestamp] == f.jpeg for f in raw)

    with caplog.at_level(logging.ERROR, logger="graphflow.app.net.runner"):
        run_clean(main)
    failures = [r.getMessage() for r in caplog.records if "the graph failed" in r.getMessage()]
    assert len(failures) == 2, failures
    assert "this calculator always fails" in failures[0]
