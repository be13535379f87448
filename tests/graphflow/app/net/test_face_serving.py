"""The server running graphs/face_detection.pbtxt on real frames, against direct runs of it."""

from __future__ import annotations

import asyncio
import pathlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest
from streamkit import run_clean, until

from graphflow.app.net import Sender, StreamServer, jpeg
from graphflow.app.net.client import mjpeg_frames, sse_events
from graphflow.app.net.jsonable import to_jsonable
from graphflow.app.net.protocol import Frame
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

pytestmark = pytest.mark.timeout(120)

ROOT = pathlib.Path(__file__).resolve().parents[4]
FACE_GRAPH = ROOT / "graphs" / "face_detection.pbtxt"


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


def test_face_stream_and_results_equal_a_direct_run_of_the_graph() -> None:
    frames = demo_jpegs(4)
    sent: dict[int, bytes] = {}
    events: list[dict[str, Any]] = []
    videos: list[Frame] = []

    async def source() -> AsyncIterator[tuple[int, bytes]]:
        start = time.time_ns() // 1000  # near the server's clock
        for i in range(10_000):
            timestamp = start + i * 33_333
            sent[timestamp] = frames[i % len(frames)]
            yield timestamp, sent[timestamp]
            await asyncio.sleep(1 / 30)

    async def main() -> None:
        async with StreamServer(FACE_GRAPH) as server, aiohttp.ClientSession() as session:
            sender = asyncio.ensure_future(
                Sender("127.0.0.1", server.ingest_port, "face").run(source()))
            await until(lambda: "face" in server.channel_names())
            base = f"http://127.0.0.1:{server.http_port}"
            async with session.get(f"{base}/results?name=face") as results, \
                    session.get(f"{base}/face_stream?name=face") as video:
                async for event in sse_events(results):
                    events.append(event)
                    if len(events) == 3:
                        break
                async for frame in mjpeg_frames(video):
                    videos.append(frame)
                    if len(videos) == 3:
                        break
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    run_clean(main)
    config = FACE_GRAPH.read_text()
    for event in events:
        assert event["stream"] == "face_detections"
        image = ImageFrame(jpeg.decode(sent[event["timestamp"]]))
        direct = run_graph(config, inputs={"input_video": [(event["timestamp"], image)]},
                           outputs=["face_detections"])["face_detections"]
        expected = to_jsonable(direct[0].payload)
        served = event["value"]
        assert isinstance(served, list) and len(served) == len(expected) == 1
        for key in ("xmin", "ymin", "width", "height", "score"):
            assert served[0][key] == pytest.approx(expected[0][key], abs=1e-6)
        np.testing.assert_allclose(served[0]["keypoints"], expected[0]["keypoints"], atol=1e-6)
        assert served[0]["score"] > 0.8
    for frame in videos:
        image = ImageFrame(jpeg.decode(sent[frame.timestamp]))
        direct = run_graph(config, inputs={"input_video": [(frame.timestamp, image)]},
                           outputs=["output_video"])["output_video"]
        annotated = np.asarray(direct[0].payload).astype(int)
        served_image = jpeg.decode(frame.jpeg).astype(int)
        assert served_image.shape == annotated.shape == (480, 640, 3)
        assert np.abs(served_image - annotated).mean() < 3  # one JPEG pass at quality 80
        drawn = np.any(annotated != np.asarray(image), axis=2)
        assert drawn.sum() > 500  # the detection box is drawn on the served frames
