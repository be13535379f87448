"""The console's files and routes on a StreamServer: real HTTP on 127.0.0.1, the eymo graph."""

from __future__ import annotations

import asyncio
import json
import pathlib
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from streamkit import TEST_GRAPH, cancel_and_wait, frame_source, make_image, run_clean, until

from calculators.eymo.parser import ParseError, parse
from graphflow.app.net import Sender, StreamServer, jpeg
from graphflow.app.net.console import FILES, HERE, REFUSED
from graphflow.app.net.limits import Limits
from graphflow.app.net.policy import Access
from graphflow.app.net.streams_api import StreamManager, StreamSpec
from graphflow.resources import bundled_graphs, resource_dir

pytestmark = pytest.mark.timeout(120)

MISTAKE = "leye: scale(2)\nmouth: scael(1.5)\n"
GREY = "rect(0 0 1 1): saturate(0)\n"
DARK = "rect(0 0 1 1): brighten(0.2)\n"


def test_the_page_and_its_files_are_served() -> None:
    async def main() -> None:
        async with StreamServer(TEST_GRAPH, access=Access(token="s3cret")) as server, \
                aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{server.http_port}"
            got: dict[str, tuple[int, str, bytes]] = {}
            for path in ("/", "/favicon.ico", "/console/graphs", "/console/nothing.js",
                         *(f"/console/{name}" for name in FILES)):
                async with session.get(base + path) as response:
                    got[path] = (response.status, response.content_type, await response.read())
            async with session.get(base + "/console/graphs",
                                   headers={"Authorization": "Bearer s3cret"}) as response:
                got["graphs"] = (response.status, response.content_type, await response.read())
        assert got["/"][:2] == (200, "text/html")
        assert got["/"][2] == (HERE / "index.html").read_bytes()
        for name, kind in FILES.items():
            assert got[f"/console/{name}"] == (200, kind, (HERE / name).read_bytes())
        assert got["/favicon.ico"] == got["/console/favicon.svg"]
        assert got["/console/graphs"][0] == 401  # the server's configuration: the token
        assert got["graphs"][0] == 200
        assert json.loads(got["graphs"][2]) == bundled_graphs()
        assert got["/console/nothing.js"][0] == 404

    run_clean(main)


def test_the_feed_carries_frames_and_results_of_the_watched_channels() -> None:
    sent: dict[int, bytes] = {}

    async def remembered() -> AsyncIterator[tuple[int, bytes]]:
        async for timestamp, data in frame_source():
            sent[timestamp] = data
            yield timestamp, data

    got: dict[str, Any] = {"raw": [], "processed": [], "results": []}

    async def main() -> None:
        async with StreamServer(TEST_GRAPH, access=Access(token="s3cret")) as server, \
                aiohttp.ClientSession() as session:
            sender = Sender("127.0.0.1", server.ingest_port, "cam1", token="s3cret")
            sending = asyncio.ensure_future(sender.run(remembered()))
            await until(lambda: "cam1" in server.channel_names())
            url = f"http://127.0.0.1:{server.http_port}/console/feed"
            async with session.ws_connect(url) as refused:
                await refused.send_json({"token": "wrong"})
                closing = await refused.receive()
                got["refused"] = (closing.type, closing.data, closing.extra)
            async with session.ws_connect(url) as feed:
                await feed.send_json({"token": "s3cret"})
                got["hello"] = await feed.receive_json()
                await feed.send_json({"watch": "nobody", "kinds": ["raw"]})
                got["unknown"] = await feed.receive_json()
                await feed.send_json({"watch": "cam1", "kinds": ["audio"]})
                got["bad"] = await feed.receive_json()
                await feed.send_json({"watch": "cam1", "kinds": ["raw", "processed", "results"]})
                while min(len(got[kind]) for kind in ("raw", "processed", "results")) < 3:
                    message = await feed.receive()
                    if message.type == aiohttp.WSMsgType.BINARY:
                        kind, timestamp, length = struct.unpack_from("!BqB", message.data)
                        name = message.data[10:10 + length].decode()
                        got[("raw", "processed")[kind]].append(
                            (name, timestamp, message.data[10 + length:]))
                    else:
                        got["results"].append(json.loads(message.data))
                channel = server.get_channel("cam1")
                assert channel is not None
                got["viewers"] = channel.describe()["viewers"]
                await feed.send_json({"watch": "cam1", "kinds": ["raw"]})
                await until(lambda: channel.watchers() == 0 and channel.runner is None,
                            what="processed and results left: the graph stopped")
                got["raw viewers"] = channel.describe()["viewers"]["raw"]
            await until(lambda: channel.viewers() == 0, what="the feed's viewer left")
            await cancel_and_wait(sending)

    run_clean(main)
    assert got["refused"] == (aiohttp.WSMsgType.CLOSE, REFUSED, "wrong or missing token")
    assert got["hello"] == {"ok": True}
    assert got["unknown"] == {"error": "no stream named 'nobody'", "channel": "nobody"}
    assert "kinds must be among ['raw', 'processed', 'results']" in got["bad"]["error"]
    for name, timestamp, data in got["raw"]:
        assert name == "cam1" and sent[timestamp] == data
    for name, timestamp, data in got["processed"]:  # the graph inverts the image
        source = jpeg.decode(sent[timestamp]).astype(int)
        assert name == "cam1" and np.abs(255 - source - jpeg.decode(data)).mean() < 4
    for event in got["results"]:
        assert event["channel"] == "cam1" and event["timestamp"] in sent
        assert event["stream"] == "face_detections"
    assert got["viewers"] == {"raw": 1, "processed": 1, "results": 1}
    assert got["raw viewers"] == 1


def test_the_feed_keeps_to_the_servers_access_and_viewer_limits() -> None:
    got: dict[str, Any] = {}

    async def main() -> None:
        access = Access(token="s3cret", admin_token="admin")
        async with StreamServer(TEST_GRAPH, access=access,
                                limits=Limits(max_viewers_per_stream=2)) as server, \
                aiohttp.ClientSession() as session:
            sender = Sender("127.0.0.1", server.ingest_port, "cam1", token="s3cret")
            sending = asyncio.ensure_future(sender.run(frame_source()))
            await until(lambda: "cam1" in server.channel_names())
            url = f"http://127.0.0.1:{server.http_port}/console/feed"
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, origin="http://evil.example")
            got["cross-site"] = refused.value.status
            async with session.ws_connect(url, origin=f"http://127.0.0.1:{server.http_port}") \
                    as feed:
                await feed.send_json({"token": "admin"})  # the admin token may watch too
                got["hello"] = await feed.receive_json()
                await feed.send_json({"watch": "cam1", "kinds": ["raw", "processed", "results"]})
                while "third" not in got:  # frames of the two kinds admitted, then the refusal
                    message = await feed.receive()
                    if message.type == aiohttp.WSMsgType.TEXT and "error" in message.data:
                        got["third"] = json.loads(message.data)
                channel = server.get_channel("cam1")
                assert channel is not None
                got["viewers"] = channel.viewers()
            await until(lambda: channel.viewers() == 0, what="the feed's viewers left")
            await cancel_and_wait(sending)

    run_clean(main)
    assert got["cross-site"] == 403
    assert got["hello"] == {"ok": True}
    assert got["third"] == {"channel": "cam1", "error": "stream 'cam1' has 2 viewers, the limit "
                                                       "(--max-viewers-per-stream)"}
    assert got["viewers"] == 2


def test_restart_and_the_eymo_script_of_a_managed_stream(tmp_path: pathlib.Path) -> None:
    default = resource_dir("examples") / "default.eymo"
    default_text = default.read_text()
    graph = tmp_path / "invert.pbtxt"
    graph.write_text(TEST_GRAPH)
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 50.0, (64, 48))
    for index in range(3):
        writer.write(make_image(index)[..., ::-1])
    writer.release()
    replies: dict[str, tuple[int, Any]] = {}
    folders: list[pathlib.Path] = []

    async def main() -> None:
        server = StreamServer(TEST_GRAPH, access=Access(
            token="s3cret", admin_token="admin", graphs_dir=tmp_path, allow_local_sources=True))
        manager = StreamManager(server)
        auth = {"Authorization": "Bearer admin"}
        viewer = {"Authorization": "Bearer s3cret"}
        async with server, aiohttp.ClientSession(headers=auth) as session:
            base = f"http://127.0.0.1:{server.http_port}/streams"

            async def call(key: str, method: str, path: str, **kwargs: Any) -> None:
                async with session.request(method, base + path, **kwargs) as response:
                    text = await response.text()
                    replies[key] = (response.status, json.loads(text)
                                    if response.content_type == "application/json" else text)

            # Each run plays the clip to its end: the graph has taken frames when it restarts
            # (an eymo run that never had a frame does not finish when closed: see the report).
            stream = await manager.add(StreamSpec("fx", "eymo", source=str(clip)))
            await manager.add(StreamSpec("inv", str(graph)))

            async def played(runs: int) -> None:
                await until(lambda: stream.state == "finished"
                            and sum(e["type"] == "finished" for e in stream.history) == runs,
                            timeout=60, what=f"run {runs} of the clip")

            await played(1)
            await call("get", "GET", "/fx/script", headers=viewer)
            await call("not eymo", "GET", "/inv/script")
            await manager.remove("inv")
            await call("unknown", "GET", "/nobody/script")
            await call("no token", "PUT", "/fx/script", json={"text": GREY}, headers={
                "Authorization": "Bearer wrong"})
            await call("viewer put", "PUT", "/fx/script", json={"text": GREY}, headers=viewer)
            await call("viewer restart", "POST", "/fx/restart", headers=viewer)
            await call("form", "PUT", "/fx/script", data={"text": GREY})
            await call("not json", "PUT", "/fx/script", data=b"{",
                       headers={"Content-Type": "application/json"})
            await call("no text", "PUT", "/fx/script", json={"script": GREY})
            await call("mistake", "PUT", "/fx/script", json={"text": MISTAKE})
            await call("first", "PUT", "/fx/script", json={"text": GREY})
            await played(2)
            copy = pathlib.Path(stream.spec.side_packets["script"])
            folders.append(copy.parent)
            assert copy.read_text() == GREY
            await call("second", "PUT", "/fx/script", json={"text": DARK})
            assert copy.read_text() == DARK
            await call("get again", "GET", "/fx/script")
            await call("restart", "POST", "/fx/restart")
            await played(3)
            events = [e["type"] for e in stream.history]
            assert stream.spec.side_packets == {"script": str(copy)}
        assert events.count("restarting") == 2 and events.count("started") == 3
        assert not folders[0].exists()  # the copies go with the server

    run_clean(main)
    assert replies["get"] == (200, {"text": default_text, "side_packet": "script",
                                    "path": str(default), "live": False})
    assert replies["not eymo"][0] == 409
    assert "draws no eymo script" in replies["not eymo"][1]["error"]
    assert replies["unknown"] == (404, {"error": "no managed stream 'nobody'"})
    assert replies["no token"][0] == replies["viewer put"][0] == 401
    assert replies["viewer restart"][0] == 401
    assert replies["form"][0] == 415
    assert replies["not json"][0] == replies["no text"][0] == 400
    with pytest.raises(ParseError) as expected:
        parse(MISTAKE, "fx.eymo")
    assert replies["mistake"] == (422, {
        "error": str(expected.value), "line": 2, "column": expected.value.column,
        "message": expected.value.message})
    assert "Did you mean 'scale'" in expected.value.message
    copy = folders[0] / "fx.eymo"
    assert replies["first"] == (200, {"applied": "restarted", "path": str(copy)})
    assert replies["second"] == (200, {"applied": "live", "path": str(copy)})
    assert replies["get again"] == (200, {"text": DARK, "side_packet": "script",
                                          "path": str(copy), "live": True})
    status, described = replies["restart"]
    assert status == 200 and described["restarts"] == 2 and described["name"] == "fx"
    assert default.read_text() == default_text  # the stream's own file is never written
