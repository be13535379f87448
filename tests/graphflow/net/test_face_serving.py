"""The server running the face pipeline on real frames: its JSON results against a direct run."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator

import aiohttp
import cv2
import numpy as np
import pytest
from streamkit import run_clean, until

from graphflow.image_frame import ImageFrame
from graphflow.net import Sender, StreamServer, jpeg
from graphflow.net.client import sse_events
from graphflow.net.jsonable import to_jsonable
from graphflow.testing import run_graph

pytestmark = pytest.mark.timeout(120)

ROOT = pathlib.Path(__file__).resolve().parents[3]
FACE_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
output_stream: "face_detections"
node { calculator: "FaceDetectionShortRangeCpu" input_stream: "IMAGE:input_video"
       output_stream: "DETECTIONS:face_detections" }
node { calculator: "PassThroughCalculator" input_stream: "input_video"
       output_stream: "output_video" }
"""


def demo_jpegs(count: int) -> list[bytes]:
    """The first frames of media/demo.mp4 at 640x480, as JPEGs."""
    capture = cv2.VideoCapture(str(ROOT / "media" / "demo.mp4"))
    out = []
    for _ in range(count):
        ok, frame = capture.read()
        assert ok
        small = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_AREA)
        out.append(jpeg.encode(small, 90, "BGR"))
    capture.release()
    return out


def test_results_are_the_detections_of_the_graph_run_directly() -> None:
    frames = demo_jpegs(4)
    sent: dict[int, bytes] = {}
    events: list[dict[str, object]] = []

    async def source() -> AsyncIterator[tuple[int, bytes]]:
        for i in range(10_000):
            timestamp = 1_000_000 + i * 33_333
            sent[timestamp] = frames[i % len(frames)]
            yield timestamp, sent[timestamp]
            await asyncio.sleep(1 / 30)

    async def main() -> None:
        async with StreamServer(FACE_GRAPH) as server, aiohttp.ClientSession() as session:
            sender = asyncio.ensure_future(
                Sender("127.0.0.1", server.ingest_port, "face").run(source()))
            await until(lambda: "face" in server.channel_names())
            async with session.get(
                    f"http://127.0.0.1:{server.http_port}/results?name=face") as response:
                async for event in sse_events(response):
                    events.append(event)
                    if len(events) == 3:
                        break
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    run_clean(main)
    for event in events:
        timestamp = int(event["timestamp"])  # type: ignore[call-overload]
        image = ImageFrame(jpeg.decode(sent[timestamp]))
        direct = run_graph(FACE_GRAPH, inputs={"input_video": [(timestamp, image)]},
                           outputs=["face_detections"])["face_detections"]
        expected = to_jsonable(direct[0].payload)
        served = event["value"]
        assert isinstance(served, list) and len(served) == len(expected) == 1
        for key in ("xmin", "ymin", "width", "height", "score"):
            assert served[0][key] == pytest.approx(expected[0][key], abs=1e-6)
        np.testing.assert_allclose(served[0]["keypoints"], expected[0]["keypoints"], atol=1e-6)
        assert served[0]["score"] > 0.8
