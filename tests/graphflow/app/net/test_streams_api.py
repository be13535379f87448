"""Managed streams on StreamServer: REST API, pulled sources, restart policies, events, OpenAPI."""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import aiohttp
import cv2
import numpy as np
import pytest
from streamkit import TEST_GRAPH, brightest_block, cancel_and_wait, make_image, run_clean, until

from graphflow.app.net import Sender, StreamServer, jpeg
from graphflow.app.net.cli import add_streams_parser
from graphflow.app.net.client import mjpeg_frames, sse_events
from graphflow.app.net.jsonable import to_jsonable
from graphflow.app.net.policy import Access
from graphflow.app.net.streams_api import OPENAPI, StreamManager
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.image_frame import ImageFrame

pytestmark = pytest.mark.timeout(60)


@register_calculator
class StreamsTestFailOnThirdCalculator(Calculator):
    """Passes images through; fails on the third frame of each run."""

    inputs = (Port("IMAGE", ImageFrame),)
    outputs = (Port("IMAGE", ImageFrame),)
    runs: ClassVar[int] = 0

    def open(self, cc: CalculatorContext) -> None:
        self.count = 0
        type(self).runs += 1

    def process(self, cc: CalculatorContext) -> None:
        self.count += 1
        if self.count == 3:
            raise RuntimeError("third frame refused")
        cc.outputs["IMAGE"].add(cc.inputs["IMAGE"].payload)


FAILING_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "StreamsTestFailOnThirdCalculator" input_stream: "IMAGE:input_video"
       output_stream: "IMAGE:output_video" }
"""


@pytest.fixture
def files(tmp_path: pathlib.Path) -> dict[str, str]:
    """The test graphs as files and a 4-frame clip of make_image(3)."""
    (tmp_path / "invert.pbtxt").write_text(TEST_GRAPH)
    (tmp_path / "failing.pbtxt").write_text(FAILING_GRAPH)
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter.fourcc(*"MJPG"), 50.0, (64, 48))
    for _ in range(4):
        writer.write(cv2.cvtColor(make_image(3), cv2.COLOR_RGB2BGR))
    writer.release()
    return {"invert": str(tmp_path / "invert.pbtxt"), "failing": str(tmp_path / "failing.pbtxt"),
            "clip": str(clip), "later": str(tmp_path / "later.avi"), "dir": str(tmp_path)}


def local(files: dict[str, str]) -> Access:
    """Access for the tests' graphs and clips: files under their folder."""
    return Access(graphs_dir=pathlib.Path(files["dir"]), allow_local_sources=True)


def url(server: StreamServer, path: str) -> str:
    return f"http://127.0.0.1:{server.http_port}{path}"


class Events:
    """Collects /events in the background."""

    def __init__(self, session: aiohttp.ClientSession, server: StreamServer) -> None:
        self.items: list[dict[str, Any]] = []
        self.task = asyncio.ensure_future(self._read(session, server))

    async def _read(self, session: aiohttp.ClientSession, server: StreamServer) -> None:
        async with session.get(url(server, "/events")) as response:
            async for event in sse_events(response):
                self.items.append(event)

    def kinds(self, stream: str) -> list[str]:
        return [e["type"] for e in self.items if e["stream"] == stream]


async def post(session: aiohttp.ClientSession, server: StreamServer,
               body: Any) -> tuple[int, dict[str, Any]]:
    async with session.post(url(server, "/streams"), json=body) as response:
        return response.status, await response.json()


def test_file_source_restarts_on_eos_and_serves_processed_frames(files: dict[str, str]) -> None:
    async def main() -> None:
        server = StreamServer(TEST_GRAPH, access=local(files))
        manager = StreamManager(server)
        async with server, aiohttp.ClientSession() as session:
            events = Events(session, server)
            await until(lambda: len(manager.events) == 1)
            status, body = await post(session, server, {
                "name": "clip", "graph": files["invert"], "source": files["clip"],
                "restart": "on_eos"})
            assert status == 201 and body["state"] == "starting"
            status, once = await post(session, server, {
                "name": "once", "graph": files["invert"], "source": files["clip"]})
            assert status == 201
            async with session.get(url(server, "/face_stream?name=clip")) as video, \
                    session.get(url(server, "/results?name=clip")) as results:
                frame = await anext(mjpeg_frames(video))
                event = await anext(sse_events(results))
            await until(lambda: events.kinds("clip").count("finished") >= 2, what="2 plays")
            await until(lambda: "finished" in events.kinds("once"))
            async with session.get(url(server, "/streams/once")) as response:
                once = await response.json()
            async with session.get(url(server, "/streams")) as response:
                listed = {s["name"]: s for s in await response.json()}
            await cancel_and_wait(events.task)
        expected = 255 - make_image(3).astype(int)  # the graph inverts every clip frame
        assert np.abs(jpeg.decode(frame.jpeg).astype(int) - expected).mean() < 6
        reference = to_jsonable([brightest_block(make_image(3))])[0]
        np.testing.assert_allclose(event["value"][0]["keypoints"], reference["keypoints"])
        kinds = events.kinds("clip")
        # A viewer may join before the first frame starts the graph: order only the lifecycle.
        lifecycle = [k for k in kinds if not k.startswith("viewer_")]
        assert lifecycle[:2] == ["added", "started"]
        assert lifecycle.index("finished") < lifecycle.index("restarting") \
            < lifecycle.index("started", 2)
        assert "viewer_joined" in kinds and "viewer_left" in kinds
        assert events.kinds("once")[:3] == ["added", "started", "finished"]
        assert "restarting" not in events.kinds("once")
        assert once["state"] == "finished" and once["frames"] >= 1 and once["restarts"] == 0
        assert listed["clip"]["managed"]["restart"] == "on_eos"
        assert listed["clip"]["managed"]["restarts"] >= 1

    run_clean(main)


def test_graph_failure_is_reported_and_restarted_on_error(files: dict[str, str]) -> None:
    async def main() -> None:
        server = StreamServer(TEST_GRAPH, access=local(files))
        manager = StreamManager(server)
        async with server, aiohttp.ClientSession() as session:
            events = Events(session, server)
            await until(lambda: len(manager.events) == 1)
            for name, restart in (("retry", "on_error"), ("give_up", "never")):
                status, _ = await post(session, server, {
                    "name": name, "graph": files["failing"], "source": files["clip"],
                    "restart": restart})
                assert status == 201
            await until(lambda: events.kinds("retry").count("failed") >= 2, what="2 failures")
            await until(lambda: manager.streams["give_up"].state == "failed")
            await cancel_and_wait(events.task)
        failed = [e for e in events.items if e["type"] == "failed" and e["stream"] == "retry"]
        assert "third frame refused" in failed[0]["error"]
        assert "StreamsTestFailOnThirdCalculator" in failed[0]["error"]
        kinds = events.kinds("retry")
        assert kinds.index("failed") < kinds.index("restarting") < kinds.index("started", 2)
        assert events.kinds("give_up") == ["added", "started", "failed"]

    run_clean(main)


def test_pulled_source_is_retried_with_backoff_until_it_opens(files: dict[str, str]) -> None:
    async def main() -> None:
        server = StreamServer(TEST_GRAPH, access=local(files))
        manager = StreamManager(server)
        async with server, aiohttp.ClientSession() as session:
            status, _ = await post(session, server, {
                "name": "late", "graph": files["invert"], "source": files["later"]})
            assert status == 201
            stream = manager.streams["late"]
            await until(lambda: [e["type"] for e in stream.history].count("source_retry") >= 2)
            pathlib.Path(files["clip"]).rename(files["later"])
            await until(lambda: stream.state == "finished", what="the late file played")
        retries = [e["delay_s"] for e in stream.history if e["type"] == "source_retry"]
        assert retries[:2] == [0.5, 1.0]
        assert stream.frames >= 1

    run_clean(main)


def test_push_stream_api_errors_and_delete(files: dict[str, str]) -> None:
    async def frames() -> AsyncIterator[tuple[int, bytes]]:
        data = jpeg.encode(make_image(5), 95)
        start = time.time_ns() // 1000  # near the server's clock
        for index in range(10_000):
            yield start + index, data
            await asyncio.sleep(0.02)

    async def main() -> None:
        server = StreamServer(TEST_GRAPH, access=local(files))
        manager = StreamManager(server)
        async with server, aiohttp.ClientSession() as session:
            body = {"name": "cam", "graph": files["invert"], "source": "push"}
            assert (await post(session, server, body))[0] == 201
            status, error = await post(session, server, body)
            assert status == 409 and "cam" in error["error"]
            status, error = await post(session, server, {**body, "name": "x", "restart": "soon"})
            assert status == 400 and "restart" in error["error"] and "on_eos" in error["error"]
            status, error = await post(session, server, {"name": "x", "graph": "no_such"})
            assert status == 400 and "no_such" in error["error"]
            status, error = await post(session, server, {"name": "x", "grahp": "y"})
            assert status == 400 and "grahp" in error["error"]
            sender = Sender("127.0.0.1", server.ingest_port, "cam")
            task = asyncio.ensure_future(sender.run(frames()))
            await until(lambda: manager.streams["cam"].frames >= 3, what="pushed frames")
            async with session.delete(url(server, "/streams/cam")) as response:
                assert response.status == 200
            async with session.get(url(server, "/streams/cam")) as response:
                assert response.status == 404
            async with session.delete(url(server, "/streams/cam")) as response:
                assert response.status == 404
            await cancel_and_wait(task)

    run_clean(main)


def test_openapi_description_matches_the_server() -> None:
    jsonschema = pytest.importorskip("jsonschema")

    async def main() -> None:
        server = StreamServer(TEST_GRAPH)
        StreamManager(server)
        async with server, aiohttp.ClientSession() as session:
            async with session.get(url(server, "/openapi.json")) as response:
                served = await response.json()
            assert server._runner is not None
            routes = {(r.method, r.resource.canonical) for r in server._runner.app.router.routes()
                      if r.resource is not None}
            rejected = []
            for body in ({"name": "a b", "graph": "g"}, {"graph": "g"},
                         {"name": "n", "graph": "g", "restart": "sometimes"},
                         {"name": "n", "graph": "g", "extra": 1},
                         {"name": "n", "graph": "g", "side_packets": []}):
                status, _ = await post(session, server, body)
                rejected.append((body, status))
        assert served == OPENAPI
        assert served["openapi"].startswith("3.")
        for path, methods in served["paths"].items():
            for method in methods.keys() - {"parameters"}:
                assert (method.upper(), path) in routes
        schema = served["components"]["schemas"]["StreamSpec"]
        jsonschema.validate({"name": "cam-1", "graph": "g", "restart": "on_eos",
                             "side_packets": {"k": 1}}, schema)
        for body, status in rejected:  # what the schema forbids, the server refuses
            assert status == 400
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(body, schema)

    run_clean(main)


def test_streams_command_line_adds_lists_and_removes(files: dict[str, str],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="graphflow")
    add_streams_parser(parser.add_subparsers())

    async def main() -> list[int]:
        server = StreamServer(TEST_GRAPH, access=local(files))
        manager = StreamManager(server)
        async with server:
            base = ["streams", "--server", url(server, "")]
            codes = []
            for argv in (["add", "cam", "--graph", files["invert"], "--restart", "on_error",
                          "--side-packet", "k=3"],
                         ["add", "cam", "--graph", files["invert"]],
                         ["add", "cam2", "--graph", files["invert"], "--side-packet", "k3"],
                         ["list"], ["rm", "cam"], ["rm", "cam"]):
                args = parser.parse_args(base + argv)
                codes.append(await asyncio.to_thread(args.func, args))
                if argv[0] == "add" and len(codes) == 1:
                    spec = manager.streams["cam"].spec
                    assert (spec.restart, spec.side_packets) == ("on_error", {"k": 3})
            assert "cam" not in manager.streams
        return codes

    codes = asyncio.run(main())
    out, err = capsys.readouterr()
    assert codes == [0, 1, 2, 0, 0, 1]
    assert "added cam" in out and "removed cam" in out and "cam2" not in out
    assert "--side-packet 'k3': expected NAME=VALUE" in err
    assert "cam\t" in out and "restarts 0, push" in out
    assert "HTTP 409" in err and "HTTP 404" in err
