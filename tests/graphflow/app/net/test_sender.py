"""capture_frames on real files (OpenCV-written), and Sender's behaviour without a server."""

from __future__ import annotations

import asyncio
import pathlib

import cv2
import numpy as np
import pytest
from streamkit import frame_source, make_image

from graphflow.app.net import Sender, capture_frames, jpeg

pytestmark = pytest.mark.timeout(30)


def write_video(path: pathlib.Path, frames: list[np.ndarray]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 25.0,
                             (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()


async def collect(source: str, count: int, **kwargs: object) -> list[tuple[int, bytes]]:
    out = []
    async for item in capture_frames(source, fps=1000.0, **kwargs):  # type: ignore[arg-type]
        out.append(item)
        if len(out) == count:
            break
    return out


def test_video_file_frames_in_order_then_loop(tmp_path: pathlib.Path) -> None:
    bgr = [make_image(i)[..., ::-1].copy() for i in range(4)]
    path = tmp_path / "clip.avi"
    write_video(path, bgr)
    once = asyncio.run(collect(str(path), 100))
    looped = asyncio.run(collect(str(path), 10, loop=True))
    assert len(once) == 4
    for (_, data), source in zip(once + looped[4:8], bgr + bgr, strict=True):
        rgb = jpeg.decode(data).astype(int)
        assert np.abs(rgb - source[..., ::-1]).mean() < 6  # two JPEG passes
    stamps = [t for t, _ in looped]
    assert stamps == sorted(set(stamps))


def test_image_file_repeats(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "still.png"
    cv2.imwrite(str(path), make_image(2)[..., ::-1])
    frames = asyncio.run(collect(str(path), 3))
    assert len({data for _, data in frames}) == 1
    assert np.abs(jpeg.decode(frames[0][1]).astype(int) - make_image(2)).mean() < 3


def test_image_with_alpha_is_sent_without_it(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "alpha.png"
    bgra = np.dstack([make_image(3)[..., ::-1], np.full((48, 64), 40, np.uint8)])
    cv2.imwrite(str(path), bgra)
    frames = asyncio.run(collect(str(path), 2))
    assert np.abs(jpeg.decode(frames[1][1]).astype(int) - make_image(3)).mean() < 3


def test_folder_loops_through_its_images_in_name_order(tmp_path: pathlib.Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), make_image(i)[..., ::-1])
    once = asyncio.run(collect(str(tmp_path), 100))
    looped = asyncio.run(collect(f"folder:{tmp_path}", 7, loop=True))
    assert len(once) == 3
    for (_, data), index in zip(looped, [0, 1, 2, 0, 1, 2, 0], strict=True):
        assert np.abs(jpeg.decode(data).astype(int) - make_image(index)).mean() < 3


@pytest.mark.parametrize(("source", "message"), [
    ("missing.mp4", "'missing.mp4' is neither an existing file nor a registered scheme"),
    ("camera:no-such-device", "OpenCV cannot open 'no-such-device'"),
    ("missing.png", "'missing.png' is neither an existing file"),
    ("camera:0?width=wide", "option width='wide' is not a number"),
])
def test_bad_sources(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        asyncio.run(collect(source, 1))


def test_quality_is_checked() -> None:
    with pytest.raises(ValueError, match=r"quality must be in 1\.\.100, got 0"):
        asyncio.run(collect("x.mp4", 1, quality=0))


def test_frames_are_dropped_while_no_server_listens() -> None:
    async def main() -> tuple[int, int, int]:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        stats = await Sender("127.0.0.1", port, "cam", min_backoff=0.01,
                             max_backoff=0.02).run(frame_source(6, fps=100.0))
        return stats.sent, stats.dropped, stats.connections

    assert asyncio.run(main()) == (0, 6, 0)


def test_invalid_channel_is_refused_before_connecting() -> None:
    with pytest.raises(ValueError, match="invalid channel name 'a/b'"):
        Sender("127.0.0.1", 1, "a/b")
