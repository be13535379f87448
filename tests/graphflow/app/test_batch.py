"""graphflow batch: one graph run per video file on local processes."""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import re
import resource
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
from rich.console import Console

from graphflow.app.batch import (
    BatchJob,
    FileResult,
    add_batch_parser,
    find_inputs,
    parse_side_packets,
    plan_jobs,
    run_batch,
    run_job,
    run_local,
    verify_video,
)

PASS_THROUGH = """
input_stream: "input_video"
output_stream: "output_video"
node { calculator: "PassThroughCalculator" input_stream: "input_video"
       output_stream: "output_video" }
"""

# The output stream carries the side packet "label" instead of images.
LABEL_OUT = """
input_stream: "input_video"  input_side_packet: "label"  output_stream: "output_video"
node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:input_video"
       input_side_packet: "label" output_stream: "AT_TICK:output_video" }
"""

# Solid colours (RGB) far apart, one per frame, so that the frame order survives mp4v compression.
COLOURS = [(250, 10, 10), (10, 250, 10), (10, 10, 250), (250, 250, 10), (10, 250, 250),
           (250, 10, 250)]


def write_video(path: pathlib.Path, colours: list[tuple[int, int, int]], fps: float = 10.0,
                size: tuple[int, int] = (64, 48)) -> None:
    """An mp4 with one solid-colour frame per entry."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for rgb in colours:
        writer.write(np.full((size[1], size[0], 3), rgb[::-1], np.uint8))
    writer.release()


def read_video(path: pathlib.Path) -> tuple[float, list[np.ndarray]]:
    """Frame rate and RGB frames of a video, decoded by OpenCV."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return fps, frames


def mean_colours(frames: list[np.ndarray]) -> np.ndarray:
    return np.array([f.reshape(-1, 3).mean(axis=0) for f in frames])


@pytest.fixture
def videos(tmp_path: pathlib.Path) -> pathlib.Path:
    """videos/a.mp4 (6 frames), b.mp4 (4 frames, reversed colours) and a corrupt c.mp4."""
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "a.mp4", COLOURS)
    write_video(folder / "b.mp4", COLOURS[:4][::-1], fps=25.0)
    (folder / "c.mp4").write_bytes(b"this is not a video" * 100)
    return folder


@pytest.fixture
def graph_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "pass.pbtxt"
    path.write_text(PASS_THROUGH)
    return path


def test_batch_runs_each_file_reports_the_corrupt_one_and_skips_on_rerun(
        videos: pathlib.Path, graph_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    seen: list[str] = []
    summary = run_batch(graph_file, [str(videos / "*.mp4")], out, jobs=2,
                        on_result=lambda r: seen.append(pathlib.Path(r.source).name))
    by_name = {pathlib.Path(r.source).name: r for r in summary.results}
    assert sorted(seen) == ["a.mp4", "b.mp4", "c.mp4"]
    assert summary.counts() == {"done": 2, "skipped": 0, "failed": 1}
    assert by_name["c.mp4"].status == "failed"
    assert "c.mp4" in by_name["c.mp4"].error and "cannot open" in by_name["c.mp4"].error
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.mp4"]  # no partial left
    for name, colours, fps in (("a.mp4", COLOURS, 10.0), ("b.mp4", COLOURS[:4][::-1], 25.0)):
        assert by_name[name].frames_in == by_name[name].frames_out == len(colours)
        in_fps, frames_in = read_video(videos / name)
        out_fps, frames_out = read_video(out / name)
        assert out_fps == pytest.approx(fps) and in_fps == pytest.approx(fps)
        assert len(frames_out) == len(colours)
        assert frames_out[0].shape == (48, 64, 3)
        # The pass-through graph keeps every frame in order: each output frame's mean colour
        # is the colour written there (within codec error), not any other frame's.
        np.testing.assert_allclose(mean_colours(frames_out), np.array(colours), atol=12)
        np.testing.assert_allclose(mean_colours(frames_out), mean_colours(frames_in), atol=6)

    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    again = run_batch(graph_file, [str(videos / "*.mp4")], out, jobs=2)
    assert again.counts() == {"done": 0, "skipped": 2, "failed": 1}
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_failing_runs_are_results_and_leave_no_output(videos: pathlib.Path,
                                                      tmp_path: pathlib.Path) -> None:
    graph = tmp_path / "not_images.pbtxt"
    graph.write_text(LABEL_OUT)
    job = BatchJob(str(graph), str(videos / "a.mp4"), str(tmp_path / "out" / "a.mp4"),
                   side_packets={"label": 5})
    wrong = run_job(job)
    assert wrong.status == "failed"
    assert "expected an ImageFrame, got int" in wrong.error
    assert not (tmp_path / "out" / "a.mp4").exists()
    assert not job.partial.exists()


def test_inputs_and_plans_are_checked(videos: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        find_inputs([str(tmp_path / "nothing-here" / "*.mp4")])
    other = tmp_path / "other"
    other.mkdir()
    write_video(other / "a.mp4", COLOURS[:2])
    sources = find_inputs([str(videos / "*.mp4"), str(other / "*.mp4"), str(videos / "a.mp4")])
    assert [p.name for p in sources] == ["a.mp4", "b.mp4", "c.mp4", "a.mp4"]
    with pytest.raises(ValueError, match="would both write"):
        plan_jobs("g.pbtxt", sources, tmp_path / "out")


def test_graph_without_the_streams_is_rejected_before_running(
        videos: pathlib.Path, graph_file: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="frames_in"):
        run_batch(graph_file, [str(videos / "a.mp4")], tmp_path / "out",
                  input_stream="frames_in")
    assert not (tmp_path / "out").exists()


def test_command_line_reports_failures_in_its_exit_status(
        videos: pathlib.Path, graph_file: pathlib.Path, tmp_path: pathlib.Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="graphflow")
    add_batch_parser(parser.add_subparsers())
    args = parser.parse_args(["batch", str(graph_file), "--inputs", str(videos / "*.mp4"),
                              "--output-dir", str(tmp_path / "out"), "--jobs", "1"])
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "2 done, 0 skipped, 1 failed" in err and "c.mp4" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "b.mp4"]
    args = parser.parse_args(["batch", str(graph_file), "--inputs", str(videos / "a.mp4"),
                              "--output-dir", str(tmp_path / "out")])
    assert args.func(args) == 0
    assert "0 done, 1 skipped, 0 failed" in capsys.readouterr().err
    args = parser.parse_args(["batch", str(graph_file), "--inputs", str(videos / "a.mp4"),
                              "--output-dir", str(tmp_path / "out"), "--side-packet", "oops"])
    assert args.func(args) == 2
    assert "--side-packet 'oops': expected NAME=VALUE" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    write_video(tmp_path / "other" / "a.mp4", COLOURS[:2])
    args = parser.parse_args(["batch", str(graph_file), "--inputs", str(videos / "a.mp4"),
                              "--inputs", str(tmp_path / "other" / "a.mp4"),
                              "--output-dir", str(tmp_path / "out2")])
    assert args.func(args) == 2  # a usage error, reported before anything runs
    [line] = capsys.readouterr().err.splitlines()  # one line, however long
    assert "would both write" in line
    assert not (tmp_path / "out2").exists()


def test_side_packet_values_follow_one_rule() -> None:
    # JSON first, then Python's numbers, then true/false in any case, else the text itself
    got = parse_side_packets([
        "n=2", "x=0.25", "big=1e3", "half=.5", "plus=+3", "digits=007", "on=true",
        "off=False", "name=alice", 'xs=[1, 2.5, "a"]', 'code="007"', "none=null",
        'obj={"k": [1]}', "path=a=b.mp4", "empty=", "n=3"])
    assert [(name, type(v), v) for name, v in got.items()] == [
        ("n", int, 3), ("x", float, 0.25), ("big", float, 1000.0), ("half", float, 0.5),
        ("plus", int, 3), ("digits", int, 7), ("on", bool, True), ("off", bool, False),
        ("name", str, "alice"), ("xs", list, [1, 2.5, "a"]), ("code", str, "007"),
        ("none", type(None), None), ("obj", dict, {"k": [1]}), ("path", str, "a=b.mp4"),
        ("empty", str, "")]


@pytest.mark.parametrize(("argument", "why"), [
    ("oops", "there is no '='"), ("=3", "the NAME is empty"), (" =3", "the NAME is empty")])
def test_a_malformed_side_packet_is_named(argument: str, why: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_side_packets(["ok=1", argument, "later=2"])
    assert str(raised.value) == f"--side-packet {argument!r}: expected NAME=VALUE ({why})"


@pytest.mark.parametrize(("argument", "kind"), [
    ("label=2", "int"), ("label=.5", "float"), ("label=True", "bool"), ("label=alice", "str"),
    ("label=[1, 2]", "list"), ('label="2"', "str")])
def test_command_line_side_packets_reach_the_worker_by_the_same_rule(
        videos: pathlib.Path, tmp_path: pathlib.Path, argument: str, kind: str) -> None:
    # The graph puts the side packet on output_video: the video writer, in the worker process,
    # fails the file naming the type of what the graph got.
    graph = tmp_path / "label_out.pbtxt"
    graph.write_text(LABEL_OUT)
    parser = argparse.ArgumentParser(prog="graphflow")
    add_batch_parser(parser.add_subparsers())
    args = parser.parse_args(["batch", str(graph), "--inputs", str(videos / "a.mp4"),
                              "--output-dir", str(tmp_path / "out"), "--jobs", "1",
                              "--side-packet", argument])
    text = io.StringIO()
    assert args.func(args, Console(file=text, width=500)) == 1
    assert f"expected an ImageFrame, got {kind}" in text.getvalue()


def crash_on_b(job: BatchJob) -> FileResult:
    """A batch task whose process dies on b.mp4 (as a crash in native code would)."""
    if job.source.endswith("b.mp4"):
        os._exit(3)
    return run_job(job)


def test_a_worker_that_dies_fails_only_its_file(videos: pathlib.Path, graph_file: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:
    (videos / "c.mp4").unlink()
    write_video(videos / "d.mp4", COLOURS[:3])
    sources = find_inputs([str(videos / "*.mp4")])
    jobs = plan_jobs(str(graph_file), sources, tmp_path / "out")
    seen: list[FileResult] = []
    results = run_local(jobs, 2, seen.append, task=crash_on_b)
    assert [pathlib.Path(r.source).name for r in results] == ["a.mp4", "b.mp4", "d.mp4"]
    assert [r.status for r in results] == ["done", "failed", "done"]
    assert "worker process died" in results[1].error
    assert sorted(pathlib.Path(r.source).name for r in seen) == ["a.mp4", "b.mp4", "d.mp4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "d.mp4"]


def test_an_output_folder_in_an_input_folder_is_refused(
        videos: pathlib.Path, graph_file: pathlib.Path, tmp_path: pathlib.Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(p.name for p in videos.iterdir())
    for out, why in ((videos, "is the input folder"), (videos / "out", "lies inside")):
        with pytest.raises(ValueError, match=why):
            run_batch(graph_file, [str(videos / "*.mp4")], out)
    parser = argparse.ArgumentParser(prog="graphflow")
    add_batch_parser(parser.add_subparsers())
    args = parser.parse_args(["batch", str(graph_file), "--inputs", str(videos / "a.mp4"),
                              "--output-dir", str(videos / "out")])
    assert args.func(args) == 2
    assert "lies inside the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in videos.iterdir()) == before  # nothing written, nothing moved


def test_an_output_that_does_not_read_back_is_refused(tmp_path: pathlib.Path) -> None:
    good = tmp_path / "good.avi"
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (64, 48))
    noise = np.random.default_rng(1).integers(0, 256, (6, 48, 64, 3), dtype=np.uint8)
    for frame in noise:
        writer.write(frame)
    writer.release()
    verify_video(good, 6)
    with pytest.raises(ValueError, match="holds 6 frames, not the 7 written"):
        verify_video(good, 7)
    cut = tmp_path / "cut.avi"  # the header says 6 frames; the data of the last is missing
    cut.write_bytes(good.read_bytes()[:good.stat().st_size * 2 // 3])
    with pytest.raises(ValueError, match=r"last frame .* does not decode"):
        verify_video(cut, 6)


def _limit_file_size() -> None:
    """In the child: files of at most 64 KiB, and EFBIG (not SIGXFSZ) beyond, as a full disk
    gives ENOSPC."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_failed_write_fails_the_job_and_its_exit_status(graph_file: pathlib.Path,
                                                          tmp_path: pathlib.Path) -> None:
    videos = tmp_path / "in"
    videos.mkdir()
    writer = cv2.VideoWriter(str(videos / "big.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 10.0,
                             (320, 240))
    noise = np.random.default_rng(2).integers(0, 256, (20, 240, 320, 3), dtype=np.uint8)
    for frame in noise:  # about 1.5 MB of output: over the child's file size limit
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    command = [sys.executable, "-m", "graphflow.app.cli", "batch", str(graph_file),
               "--inputs", str(videos / "*.avi"), "--output-dir", str(out), "--jobs", "1"]
    env = {**os.environ, "COLUMNS": "300"}
    limited = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env,
                             preexec_fn=_limit_file_size)
    assert limited.returncode == 1, limited.stderr
    assert "0 done, 0 skipped, 1 failed" in limited.stderr, limited.stderr
    # PyAV's H.264 writer reports the write's own error; OpenCV's writers fail silently and the
    # read-back check names the failed write.
    assert re.search(r"File too large|a failed write", limited.stderr), limited.stderr
    assert list(out.iterdir()) == []  # no output, no partial: the next run tries again
    again = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert again.returncode == 0, again.stderr
    assert "1 done, 0 skipped, 0 failed" in again.stderr
    assert len(read_video(out / "big.mp4")[1]) == 20
