"""Shared pieces of the stream-server tests: a small graph, frame sources, loop helpers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, ClassVar

import numpy as np

from graphflow.app.net import jpeg
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.formats import Detection
from graphflow.image_frame import ImageFrame


@register_calculator
class NetTestInvertCalculator(Calculator):
    """255 - image; counts its runs and the timestamps it processes."""

    inputs = (Port("IMAGE", ImageFrame),)
    outputs = (Port("IMAGE", ImageFrame),)
    timestamp_offset = 0
    opened: ClassVar[int] = 0
    closed: ClassVar[int] = 0
    processed: ClassVar[list[int]] = []

    def open(self, cc: CalculatorContext) -> None:
        type(self).opened += 1

    def process(self, cc: CalculatorContext) -> None:
        type(self).processed.append(int(cc.timestamp))
        cc.outputs["IMAGE"].add(ImageFrame(255 - np.asarray(cc.inputs["IMAGE"].payload)))

    def close(self, cc: CalculatorContext) -> None:
        type(self).closed += 1


@register_calculator
class NetTestBrightestCalculator(Calculator):
    """One Detection: the brightest 8x8 block as a box, its center as keypoint, mean as score."""

    inputs = (Port("IMAGE", ImageFrame),)
    outputs = (Port("DETECTIONS", list),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs["DETECTIONS"].add([brightest_block(np.asarray(cc.inputs["IMAGE"].payload))])


def brightest_block(image: np.ndarray) -> Detection:
    """The reference computation of NetTestBrightestCalculator."""
    h, w = image.shape[:2]
    blocks = image[: h // 8 * 8, : w // 8 * 8].astype(np.float32).mean(axis=2)
    blocks = blocks.reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))
    by, bx = np.unravel_index(int(np.argmax(blocks)), blocks.shape)
    return Detection(bx * 8 / w, by * 8 / h, 8 / w, 8 / h,
                     keypoints=np.array([[(bx * 8 + 4) / w, (by * 8 + 4) / h]], np.float32),
                     score=float(image.mean() / 255))


TEST_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
output_stream: "face_detections"
node { calculator: "NetTestInvertCalculator" input_stream: "IMAGE:input_video"
       output_stream: "IMAGE:output_video" }
node { calculator: "NetTestBrightestCalculator" input_stream: "IMAGE:input_video"
       output_stream: "DETECTIONS:face_detections" }
"""


def make_image(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A frame with one bright 8x8 block whose place depends on ``index``, on a gradient."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 2, y * 3, (x + y) % 64], axis=2).astype(np.uint8)
    bx, by = (index * 8) % (width - 8) // 8 * 8, (index * 16) % (height - 8) // 8 * 8
    image[by:by + 8, bx:bx + 8] = 250
    return image


async def frame_source(count: int | None = None, fps: float = 50.0, width: int = 64,
                       height: int = 48) -> AsyncIterator[tuple[int, bytes]]:
    """``count`` JPEG frames (forever if None) of :func:`make_image` at ``fps``, stamped now."""
    frames = [jpeg.encode(make_image(i, width, height), 95) for i in range(8)]
    index = 0
    last = 0
    while count is None or index < count:
        last = max(time.time_ns() // 1000, last + 1)
        yield last, frames[index % len(frames)]
        index += 1
        await asyncio.sleep(1.0 / fps)


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Waits until ``predicate()`` holds (a bound against hangs, not a timed assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s: {what or predicate}")
        await asyncio.sleep(0.01)


def run_clean(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs ``main()`` on a fresh loop; fails if it leaves tasks or threads behind."""
    threads = set(threading.enumerate())

    async def checked() -> None:
        await main()
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftover, f"tasks left running: {leftover}"

    asyncio.run(checked())
    extra = [t for t in threading.enumerate() if t not in threads and t.is_alive()]
    assert not extra, f"threads left running: {extra}"


async def cancel_and_wait(task: Awaitable[Any]) -> None:
    """Cancels a task and waits for it to finish."""
    fut = asyncio.ensure_future(task)
    fut.cancel()
    await asyncio.gather(fut, return_exceptions=True)


@register_calculator
class NetTestFailingCalculator(Calculator):
    """Fails on its first frame."""

    inputs = (Port("IMAGE", ImageFrame),)
    outputs = (Port("IMAGE", ImageFrame),)

    def process(self, cc: CalculatorContext) -> None:
        raise RuntimeError("this calculator always fails")


FAILING_GRAPH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "NetTestFailingCalculator" input_stream: "IMAGE:input_video"
       output_stream: "IMAGE:output_video" }
"""
