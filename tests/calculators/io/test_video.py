"""OpenCV video calculators and file readers/writers on small videos made here with OpenCV."""

import pathlib

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from calculators.io import VideoHeader, VideoReader, VideoWriter, read_image, write_image
from graphflow import GraphError, ImageFrame, Timestamp
from graphflow.testing import run_graph, timestamps

FPS = 25.0
FRAME_US = 40_000
W, H = 64, 48


def smooth_frames(count: int) -> list[npt.NDArray[np.uint8]]:
    """BGR frames with gradients and a moving square: easy on codecs, different per frame."""
    y, x = np.mgrid[0:H, 0:W]
    frames = []
    for i in range(count):
        frame = np.dstack([x * 3 + i * 4, y * 4, np.full_like(x, 40 + i * 9)]).astype(np.uint8)
        frame[10:22, 5 + 3 * i:17 + 3 * i] = (200, 60, 30)
        frames.append(frame)
    return frames


def write_reference_video(path: pathlib.Path, frames: list[npt.NDArray[np.uint8]]) -> None:
    """Writes BGR frames with OpenCV's own MJPEG writer at quality 100 (nearly lossless)."""
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"),
                             FPS, (W, H))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    for frame in frames:
        writer.write(frame)
    writer.release()


def opencv_decode(path: pathlib.Path) -> tuple[list[float], list[npt.NDArray[np.uint8]]]:
    """(times in ms, RGB frames) as plain OpenCV decodes the file: the reference."""
    capture = cv2.VideoCapture(str(path))
    times, frames = [], []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        times.append(capture.get(cv2.CAP_PROP_POS_MSEC))
        frames.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8))
    capture.release()
    return times, frames


@pytest.fixture
def clip(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "clip.avi"
    write_reference_video(path, smooth_frames(12))
    return path


DECODE = """
    input_side_packet: "path"
    output_stream: "video"
    output_stream: "header"
    node { calculator: "OpenCvVideoDecoderCalculator" input_side_packet: "INPUT_FILE_PATH:path"
           output_stream: "VIDEO:video" output_stream: "VIDEO_PRESTREAM:header" }
"""


def test_decoder_gives_every_frame_as_rgb_at_the_files_frame_times(clip: pathlib.Path) -> None:
    out = run_graph(DECODE, side_packets={"path": str(clip)})
    times, reference = opencv_decode(clip)
    assert len(reference) == 12
    assert timestamps(out["video"]) == [i * FRAME_US for i in range(12)]
    assert timestamps(out["video"]) == [round(t * 1000) for t in times]
    for packet, expected in zip(out["video"], reference, strict=True):
        assert isinstance(packet.payload, ImageFrame)
        np.testing.assert_array_equal(np.asarray(packet.payload), expected)
    # and the pixels are the ones written, within MJPEG's loss at quality 100
    originals = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in smooth_frames(12)]
    errors = [np.abs(np.asarray(p.payload, np.int16) - o).mean()
              for p, o in zip(out["video"], originals, strict=True)]
    assert max(errors) < 3.0


def test_decoder_header_at_prestream(clip: pathlib.Path) -> None:
    out = run_graph(DECODE, side_packets={"path": str(clip)})
    [header] = out["header"]
    assert header.timestamp == Timestamp.PRESTREAM
    assert header.payload == VideoHeader("SRGB", W, H, FPS, 12 / FPS)


def test_decoder_names_a_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(GraphError, match=r"OpenCvVideoDecoderCalculator.*open.*nope\.mp4"):
        run_graph(DECODE, side_packets={"path": str(tmp_path / "nope.mp4")})


ROUND_TRIP = """
    input_side_packet: "in_path"
    input_side_packet: "out_path"
    node { calculator: "OpenCvVideoDecoderCalculator" input_side_packet: "INPUT_FILE_PATH:in_path"
           output_stream: "VIDEO:video" %s }
    node { calculator: "OpenCvVideoEncoderCalculator" input_stream: "VIDEO:video" %s
           input_side_packet: "OUTPUT_FILE_PATH:out_path" %s }
"""


@pytest.mark.parametrize("with_header", [False, True])
def test_encoder_round_trip_keeps_count_times_and_pixels(
    clip: pathlib.Path, tmp_path: pathlib.Path, with_header: bool
) -> None:
    header_out = 'output_stream: "VIDEO_PRESTREAM:header"' if with_header else ""
    header_in = 'input_stream: "VIDEO_PRESTREAM:header"' if with_header else ""
    target = tmp_path / "copy.avi"
    run_graph(ROUND_TRIP % (header_out, header_in, ""),
              side_packets={"in_path": str(clip), "out_path": str(target)})
    times_in, frames_in = opencv_decode(clip)
    times_out, frames_out = opencv_decode(target)
    assert times_out == times_in
    assert cv2.VideoCapture(str(target)).get(cv2.CAP_PROP_FPS) == FPS
    for a, b in zip(frames_in, frames_out, strict=True):
        assert np.abs(a.astype(np.int16) - b).mean() < 2.0


def test_encoder_options_codec_and_fps(clip: pathlib.Path, tmp_path: pathlib.Path) -> None:
    target = tmp_path / "copy.mp4"
    options = ('options { [mediapipe.OpenCvVideoEncoderCalculatorOptions.ext] '
               '{ codec: "mp4v" video_format: "mp4" fps: 10 } }')
    run_graph(ROUND_TRIP % ("", "", options),
              side_packets={"in_path": str(clip), "out_path": str(target)})
    capture = cv2.VideoCapture(str(target))
    assert capture.get(cv2.CAP_PROP_FPS) == 10
    # MPEG-4 part 2, which FFmpeg reports as FMP4
    assert int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") in (b"mp4v", b"FMP4")
    times, frames = opencv_decode(target)
    assert [round(t * 1000) for t in times] == [i * 100_000 for i in range(12)]
    originals = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in smooth_frames(12)]
    for frame, original in zip(frames, originals, strict=True):
        assert np.abs(frame.astype(np.int16) - original).mean() < 6.0  # mp4v at 64x48


def test_encoder_rejects_a_path_that_does_not_match_video_format(
    clip: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    options = ('options { [mediapipe.OpenCvVideoEncoderCalculatorOptions.ext] '
               '{ video_format: "mp4" } }')
    with pytest.raises(GraphError, match=r"does not end in '\.mp4'"):
        run_graph(ROUND_TRIP % ("", "", options),
                  side_packets={"in_path": str(clip), "out_path": str(tmp_path / "x.avi")})


def stream_codec(path: pathlib.Path) -> str:
    """The codec of the file's video stream, as FFmpeg (PyAV) names it."""
    import av

    with av.open(str(path)) as container:
        return str(container.streams.video[0].codec_context.name)


def test_writer_fps_from_timestamps_and_rgba_frames_in_h264(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "rgba.mp4"
    rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in smooth_frames(4)]
    writer = VideoWriter(target)
    for i, frame in enumerate(rgb):
        rgba = np.dstack([frame, np.full((H, W), 255, np.uint8)])
        writer.write(i * 33_367, ImageFrame(rgba))  # NTSC 29.97 fps
    writer.close()
    assert writer.codec == "avc1"
    assert stream_codec(target) == "h264"
    assert cv2.VideoCapture(str(target)).get(cv2.CAP_PROP_FPS) == pytest.approx(29.97, abs=1e-3)
    times, frames = opencv_decode(target)
    assert [round(t * 1000) for t in times] == [round(i * 1e6 / 29.97) for i in range(4)]
    for a, b in zip(rgb, frames, strict=True):
        assert np.abs(a.astype(np.int16) - b).mean() < 6.0  # H.264 (yuv420p) at 64x48


@pytest.mark.parametrize("why", ["no PyAV", "odd size"])
def test_h264_falls_back_to_mp4v_and_says_so(tmp_path: pathlib.Path, why: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture) -> None:
    if why == "no PyAV":
        monkeypatch.setitem(__import__("sys").modules, "av", None)  # import av raises
    width = W - 1 if why == "odd size" else W
    target = tmp_path / "fallback.mp4"
    writer = VideoWriter(target)
    for i, frame in enumerate(smooth_frames(3)):
        writer.write(i * FRAME_US, np.ascontiguousarray(frame[:, :width]))
    writer.close()
    monkeypatch.undo()
    assert writer.codec == "mp4v"
    assert stream_codec(target) == "mpeg4"
    assert len(opencv_decode(target)[1]) == 3
    assert any("mp4v" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


def test_writer_rejects_a_frame_of_another_size(tmp_path: pathlib.Path) -> None:
    writer = VideoWriter(tmp_path / "x.avi")
    writer.write(0, np.zeros((H, W, 3), np.uint8))
    with pytest.raises(ValueError, match=r"frame at 40000 us is 32x48, but the video is 64x48"):
        writer.write(40_000, np.zeros((H, 32, 3), np.uint8))


def test_writer_rejects_what_is_not_an_image(tmp_path: pathlib.Path) -> None:
    with pytest.raises(TypeError, match="expected an ImageFrame, got str"):
        VideoWriter(tmp_path / "x.mp4").write(0, "frame")


def test_single_frame_video(tmp_path: pathlib.Path) -> None:
    writer = VideoWriter(tmp_path / "one.avi")
    writer.write(0, np.full((H, W, 3), 128, np.uint8))
    writer.close()
    _, frames = opencv_decode(tmp_path / "one.avi")
    assert len(frames) == 1


def test_image_sequence_reader_is_exact(tmp_path: pathlib.Path) -> None:
    frames = smooth_frames(5)
    for i, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f_{i:03d}.png"), frame)
    reader = VideoReader(tmp_path / "f_%03d.png", fps=20)
    items = list(reader)
    reader.close()
    assert [ts for ts, _ in items] == [i * 50_000 for i in range(5)]
    for (_, got), bgr in zip(items, frames, strict=True):
        np.testing.assert_array_equal(np.asarray(got), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_image_files_round_trip_exactly(tmp_path: pathlib.Path) -> None:
    rgba = np.dstack([cv2.cvtColor(smooth_frames(1)[0], cv2.COLOR_BGR2RGB),
                      np.arange(W * H, dtype=np.uint32).reshape(H, W).astype(np.uint8)])
    write_image(tmp_path / "a.png", ImageFrame(rgba))
    bgra = cv2.imread(str(tmp_path / "a.png"), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(bgra, cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    np.testing.assert_array_equal(np.asarray(read_image(tmp_path / "a.png")), rgba)


def test_image_errors_name_the_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "junk.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot decode .*junk\.png"):
        read_image(tmp_path / "junk.png")
    with pytest.raises(ValueError, match=r"cannot write image .*x\.nosuchformat"):
        write_image(tmp_path / "x.nosuchformat", np.zeros((2, 2, 3), np.uint8))
