"""The --input / --output spec registry: file sources and sinks, schemes, errors."""

import pathlib
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from calculators.io.video import VideoReader, VideoWriter
from graphflow import ImageFrame
from graphflow.app.io import registry as endpoints
from graphflow.app.io.registry import (
    ImageFileSink,
    ImageFileSource,
    NullSink,
    open_sink,
    open_source,
    register_sink,
    register_source,
)

RNG = np.random.default_rng(7)


def random_bgr() -> np.ndarray:
    return RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_an_image_file_is_one_exact_frame_at_zero(tmp_path: pathlib.Path) -> None:
    bgr = random_bgr()
    cv2.imwrite(str(tmp_path / "a.png"), bgr)
    source = open_source(str(tmp_path / "a.png"))
    assert isinstance(source, ImageFileSource)
    assert not source.live
    [(ts, frame)] = list(source)
    assert ts == 0
    np.testing.assert_array_equal(np.asarray(frame), bgr[:, :, ::-1])


def test_a_video_file_and_a_pattern_open_as_readers(tmp_path: pathlib.Path) -> None:
    frames = [random_bgr() for _ in range(3)]
    for i, bgr in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"s{i}.png"), bgr)
    source = open_source(str(tmp_path / "s%d.png"))
    assert isinstance(source, VideoReader)
    got = [np.asarray(f) for _, f in source]
    source.close()
    assert len(got) == 3
    for a, b in zip(got, frames, strict=True):
        np.testing.assert_array_equal(a, b[:, :, ::-1])
    writer = cv2.VideoWriter(str(tmp_path / "v.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 10,
                             (30, 20))
    writer.write(frames[0])
    writer.release()
    video = open_source(str(tmp_path / "v.avi"))
    assert isinstance(video, VideoReader) and not video.live
    video.close()


def test_sinks_by_extension_and_scheme(tmp_path: pathlib.Path) -> None:
    assert isinstance(open_sink("null"), NullSink)
    assert isinstance(open_sink(str(tmp_path / "a.mp4")), VideoWriter)
    assert isinstance(open_sink(str(tmp_path / "a.avi")), VideoWriter)
    assert isinstance(open_sink(str(tmp_path / "a.jpg")), ImageFileSink)


def test_a_pattern_sink_writes_one_exact_file_per_frame(tmp_path: pathlib.Path) -> None:
    sink = open_sink(str(tmp_path / "out_%03d.png"))
    frames = [random_bgr()[:, :, ::-1].copy() for _ in range(3)]
    for i, rgb in enumerate(frames):
        sink.write(i * 10, ImageFrame(rgb))
    sink.close()
    for i, rgb in enumerate(frames):
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / f"out_{i:03d}.png")),
                                      rgb[:, :, ::-1])


def test_a_single_image_sink_keeps_the_last_frame(tmp_path: pathlib.Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    sink = open_sink(str(tmp_path / "last.png"))
    first, last = random_bgr(), random_bgr()
    sink.write(0, ImageFrame(first))
    sink.write(1, ImageFrame(last))
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "last.png")), last[:, :, ::-1])
    assert "overwrites" in caplog.text


def test_errors_say_what_was_expected(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"input 'nofile\.mp4' is neither an existing "
                       r"file nor a registered scheme"):
        open_source("nofile.mp4")
    with pytest.raises(ValueError, match=r"output 'x\.txt': not a registered sink "
                       r"\(.*null.*\) and not a file name"):
        open_sink("x.txt")
    with pytest.raises(ValueError, match="folder"):
        open_sink(str(tmp_path / "no" / "such" / "dir.mp4"))
    with pytest.raises(ValueError, match=r"did you mean 'null'"):
        open_sink("nul")
    for pattern in ("f_%d_%d.png", "f_%(n)d.png", "f_%q.png"):  # checked before any frame
        with pytest.raises(ValueError, match=r"image pattern .* needs exactly one integer "
                           r"field such as %04d"):
            open_sink(str(tmp_path / pattern))


class _CountingSource:
    """A live source of three frames."""

    live = True

    def __init__(self, argument: str) -> None:
        self.argument = argument

    def __iter__(self) -> Iterator[tuple[int, ImageFrame]]:
        for i in range(3):
            yield i, ImageFrame(np.zeros((2, 2, 3), np.uint8))

    def close(self) -> None:
        pass


def test_registered_schemes_and_camera_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(endpoints, "_SOURCES", {})
    monkeypatch.setattr(endpoints, "_SINKS", dict(endpoints._SINKS))
    register_source("camera", _CountingSource, "a test camera")
    source = open_source("2")  # a number means camera:N
    assert isinstance(source, _CountingSource) and source.argument == "2"
    source = open_source("camera")
    assert isinstance(source, _CountingSource) and source.argument == ""
    assert [e.scheme for e in endpoints.source_schemes()] == ["camera"]
    register_sink("collect", lambda argument: NullSink(), "collects")
    assert isinstance(open_sink("collect:x"), NullSink)
    assert {"collect", "null"} <= {e.scheme for e in endpoints.sink_schemes()}
