"""The graphflow command, as a subprocess and in-process (graphflow.app.cli.main)."""

import json
import pathlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from graphflow import Calculator, CalculatorContext, ImageFrame, Port, Stop, register_calculator
from graphflow.app.cli import main
from graphflow.app.io import registry as endpoints
from graphflow.app.segments import SegmentError, join_videos, segment_name
from graphflow.resources import find_graph, resource_dir

PASS_GRAPH = """# a pass-through graph
input_stream: "input_video"
output_stream: "output_video"
num_threads: 2
node { calculator: "PassThroughCalculator" input_stream: "input_video"
       output_stream: "output_video" }
"""
BAD_GRAPH = """input_stream: "in"
node {
  calculator: "PassThruCalculator"
  input_stream: "in"
  output_stream: "out"
}
"""
LOOP_GRAPH = """input_stream: "input_video"
output_stream: "output_video"
input_side_packet: "limit"
node {
  calculator: "FlowLimiterCalculator"
  input_stream: "input_video"
  input_stream: "FINISHED:output_video"
  input_stream_info { tag_index: "FINISHED" back_edge: true }
  input_side_packet: "MAX_IN_FLIGHT:limit"
  output_stream: "throttled"
}
node { calculator: "PassThroughCalculator" input_stream: "throttled"
       output_stream: "output_video" }
"""
FPS = 25
FRAMES = 8


def graphflow(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "graphflow.app.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_text(text)
    return path


@pytest.fixture
def clip(tmp_path: pathlib.Path) -> pathlib.Path:
    """An 8-frame 64x48 MJPEG clip at 25 fps, written by OpenCV."""
    path = tmp_path / "clip.avi"
    y, x = np.mgrid[0:48, 0:64]
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"),
                             FPS, (64, 48))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
    for i in range(FRAMES):
        writer.write(np.dstack([x * 2 + i * 8, y * 3, np.full_like(x, 30 * i)]).astype(np.uint8))
    writer.release()
    return path


def decode(path: pathlib.Path) -> tuple[list[int], list[npt.NDArray[np.uint8]]]:
    """(times in us, BGR frames) of a video, by OpenCV."""
    capture = cv2.VideoCapture(str(path))
    times, frames = [], []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        times.append(round(capture.get(cv2.CAP_PROP_POS_MSEC) * 1000))
        frames.append(np.asarray(frame, np.uint8))
    return times, frames


def test_validate_error_is_one_line_with_file_line_col(tmp_path: pathlib.Path) -> None:
    bad = write(tmp_path / "bad.pbtxt", BAD_GRAPH)
    result = graphflow("validate", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert f"{bad}:3:15: node PassThruCalculator: unknown calculator 'PassThruCalculator' " \
           "(did you mean 'PassThroughCalculator'?)" in line
    debug = graphflow("--debug", "validate", str(bad), cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "ConfigError" in debug.stderr


def test_validate_in_process(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.pbtxt", BAD_GRAPH)
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"{bad}:3:15:" in err
    good = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert f"{good}: OK, 1 nodes" in out
    assert "input streams: input_video" in out


def test_run_a_video_through_a_graph_keeps_frames_times_and_pixels(
    tmp_path: pathlib.Path, clip: pathlib.Path
) -> None:
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    out, trace = tmp_path / "out.avi", tmp_path / "trace.json"
    result = graphflow("run", str(graph), "--input", str(clip), "--output", str(out),
                       "--trace", str(trace), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"pass.pbtxt: {FRAMES} frames in, {FRAMES} out" in result.stderr
    times_in, frames_in = decode(clip)
    times_out, frames_out = decode(out)
    assert times_out == times_in == [i * 1_000_000 // FPS for i in range(FRAMES)]
    for a, b in zip(frames_in, frames_out, strict=True):
        assert np.abs(a.astype(np.int16) - b).mean() < 2.0  # MJPEG at quality 100, twice

    events = json.loads(trace.read_text())["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M"}
    work = [e for e in events if e["ph"] == "X"]
    assert {e["tid"] for e in work} == set(names)  # one named track per thread that ran
    assert all(isinstance(tid, int) for tid in names)  # the trace-event format's thread ids
    assert len(set(names.values())) == len(names)
    # The pool's two threads (num_threads: 2), and the command's own thread: waiting for the
    # run's end, it may run the ready tasks itself.
    pool = {name for name in names.values() if name.startswith("graphflow-default-")}
    assert len(pool) <= 2 and set(names.values()) - pool <= {"MainThread"}
    assert all(e["dur"] >= 0 and e["ts"] >= 0 and e["pid"] == 1 for e in work)
    calls = [e["cat"] for e in work if e["name"] == "PassThroughCalculator"]
    assert calls[0] == "open" and calls[-1] == "close"
    assert calls.count("process") >= 1


def test_segments_run_frame_ranges_in_processes_and_join_them_in_order(
    tmp_path: pathlib.Path, clip: pathlib.Path
) -> None:
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    whole, joined = tmp_path / "whole.avi", tmp_path / "joined.avi"
    assert graphflow("run", str(graph), "-i", str(clip), "-o", str(whole),
                     cwd=tmp_path).returncode == 0
    result = graphflow("run", str(graph), "-i", str(clip), "-o", str(joined), "--segments", "3",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"pass.pbtxt: {FRAMES} frames in 3 segments" in result.stderr
    # Three processes, one per range (3, 2 and 3 frames), each from its own first frame.
    assert sorted(line.split(": ")[1].split(" frames")[0] for line in result.stderr.splitlines()
                  if " out in " in line) == ["2", "3", "3"]
    times, frames = decode(joined)
    times_whole, frames_whole = decode(whole)
    assert times == times_whole == [i * 1_000_000 // FPS for i in range(FRAMES)]
    for a, b in zip(frames, frames_whole, strict=True):  # the same frames, in order
        np.testing.assert_array_equal(a, b)
    range_only = tmp_path / "range.avi"
    assert graphflow("run", str(graph), "-i", str(clip), "-o", str(range_only), "--start", "5",
                     "--frames", "2", cwd=tmp_path).returncode == 0
    _, frames_range = decode(range_only)
    assert len(frames_range) == 2
    for a, b in zip(frames_range, frames_whole[5:7], strict=True):
        np.testing.assert_array_equal(a, b)
    mistake = graphflow("run", str(graph), "-i", str(clip), "-o", str(tmp_path / "f_%02d.png"),
                        "--segments", "2", cwd=tmp_path)
    assert mistake.returncode == 2 and "must be null or a video file" in mistake.stderr


def test_run_to_png_frames_is_exact(tmp_path: pathlib.Path, clip: pathlib.Path,
                                    capsys: pytest.CaptureFixture[str],
                                    no_thread_leak: None) -> None:
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    pattern = tmp_path / "f_%02d.png"
    assert main(["run", str(graph), "-i", str(clip), "-o", str(pattern)]) == 0
    _, frames_in = decode(clip)
    for i, frame in enumerate(frames_in):
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / f"f_{i:02d}.png")), frame)
    assert not (tmp_path / f"f_{FRAMES:02d}.png").exists()


_DECIDED = threading.Event()  # the flow limiter let through or dropped every frame


@register_calculator
class _CountDecisionsCalculator(Calculator):
    """Sets _DECIDED once the flow limiter's ALLOW output has covered every frame."""

    inputs = (Port("ALLOW", bool),)

    def open(self, cc: CalculatorContext) -> None:
        self.decided = 0

    def process(self, cc: CalculatorContext) -> None:
        self.decided += 1
        if self.decided == FRAMES:
            _DECIDED.set()


@register_calculator
class _HoldFirstFrameCalculator(Calculator):
    """Passes frames on, holding the first until the flow limiter decided on every frame."""

    inputs = (Port(""),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        if cc.timestamp == 0:
            _DECIDED.wait(60)
        cc.outputs[0].add_packet(cc.inputs[0])


def test_file_inputs_get_max_in_flight_so_no_frame_is_dropped(
    tmp_path: pathlib.Path, clip: pathlib.Path
) -> None:
    # Frame 0 stays in flight until the limiter has seen every frame: with its default
    # max_in_flight of 1 it would drop the other 7, so all 8 arrive only through the CLI's value.
    _DECIDED.clear()
    graph = write(tmp_path / "loop.pbtxt", """input_stream: "input_video"
output_stream: "output_video"
input_side_packet: "max_in_flight"
num_threads: 2
node {
  calculator: "FlowLimiterCalculator"
  input_stream: "input_video"
  input_stream: "FINISHED:output_video"
  input_stream_info { tag_index: "FINISHED" back_edge: true }
  input_side_packet: "MAX_IN_FLIGHT:max_in_flight"
  output_stream: "throttled"
  output_stream: "ALLOW:allowed"
}
node { calculator: "_CountDecisionsCalculator" input_stream: "ALLOW:allowed" }
node { calculator: "_HoldFirstFrameCalculator" input_stream: "throttled"
       output_stream: "output_video" }
""")
    assert main(["run", str(graph), "-i", str(clip), "-o", str(tmp_path / "o_%d.png")]) == 0
    assert _DECIDED.is_set()
    assert len(list(tmp_path.glob("o_*.png"))) == FRAMES


class _LiveSource:
    live = True

    def __init__(self, argument: str) -> None:
        self.count = int(argument)

    def __iter__(self) -> Iterator[tuple[int, ImageFrame]]:
        for i in range(self.count):
            yield i * 1000, ImageFrame(np.full((4, 4, 3), i, np.uint8))

    def close(self) -> None:
        pass


def test_a_live_source_feeds_without_waiting(tmp_path: pathlib.Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(endpoints, "_SOURCES", dict(endpoints._SOURCES))
    endpoints.register_source("testlive", _LiveSource, "frames for a test")
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    assert main(["run", str(graph), "-i", "testlive:5", "-o", str(tmp_path / "l_%d.png")]) == 0
    # nothing throttles a pass-through graph with a queue of 100: every frame arrives
    for i in range(5):
        assert np.asarray(cv2.imread(str(tmp_path / f"l_{i}.png")))[0, 0, 0] == i
    assert "5 frames in, 5 out" in capsys.readouterr().err


def test_missing_input_and_output_come_from_the_registered_defaults(
    tmp_path: pathlib.Path, clip: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[tuple[str | None, str | None]] = []

    def choose(input_spec: str | None, output_spec: str | None) -> tuple[str, str]:
        asked.append((input_spec, output_spec))
        return input_spec or str(clip), output_spec or str(tmp_path / "d_%d.png")

    monkeypatch.setattr(endpoints, "_DEFAULTS", [])
    endpoints.set_default_endpoints(choose)
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    assert main(["run", str(graph)]) == 0
    assert main(["run", str(graph), "-o", str(tmp_path / "given.avi")]) == 0
    assert asked == [(None, None), (None, str(tmp_path / "given.avi"))]
    assert len(list(tmp_path.glob("d_*.png"))) == FRAMES
    assert len(decode(tmp_path / "given.avi")[1]) == FRAMES


class _StopAfterTwo:
    """A sink that ends the run after two frames, as a closed window does."""

    def __init__(self, argument: str) -> None:
        self.frames: list[int] = []

    def write(self, timestamp: int, payload: object) -> None:
        if len(self.frames) == 2:
            raise Stop()
        self.frames.append(timestamp)

    def close(self) -> None:
        pass


def test_a_sink_that_stops_ends_the_run_cleanly(
    tmp_path: pathlib.Path, clip: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], no_thread_leak: None
) -> None:
    monkeypatch.setattr(endpoints, "_SINKS", dict(endpoints._SINKS))
    endpoints.register_sink("stopper", _StopAfterTwo, "stops after two frames")
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH.replace("num_threads: 2",
                                                              "max_queue_size: 1"))
    assert main(["run", str(graph), "-i", str(clip), "-o", "stopper"]) == 0
    assert "error" not in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["-i", "missing.mp4"], "input 'missing.mp4' is neither an existing file"),
    ([], "the graph reads input stream(s) input_video: give --input"),
    (["-i", "CLIP", "-s", "limt=3"], "--side-packet limt: the graph uses no side packet of that "
                                     "name (did you mean 'limit'?)"),
    (["-i", "CLIP", "-s", "oops"], "--side-packet 'oops': expected NAME=VALUE (there is no '=')"),
    (["-i", "CLIP", "-s", "=3"], "--side-packet '=3': expected NAME=VALUE (the NAME is empty)"),
    (["-i", "CLIP", "-o", "out.txt"], "output 'out.txt': not a registered sink"),
])
def test_run_mistakes_are_one_line_with_status_2(
    tmp_path: pathlib.Path, clip: pathlib.Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.setattr(endpoints, "_DEFAULTS", [])  # no default input: --input is needed
    graph = write(tmp_path / "loop.pbtxt", LOOP_GRAPH)
    args = [str(clip) if a == "CLIP" else a for a in args]
    assert main(["run", str(graph), *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert message in err


def test_a_failing_node_is_one_line_with_status_1(tmp_path: pathlib.Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    graph = write(tmp_path / "decode.pbtxt", """
        input_side_packet: "path"
        node { calculator: "OpenCvVideoDecoderCalculator" input_side_packet: "INPUT_FILE_PATH:path"
               output_stream: "VIDEO:video" }
    """)
    assert main(["run", str(graph), "-s", f"path={tmp_path / 'gone.mp4'}"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "node 'OpenCvVideoDecoderCalculator' (OpenCvVideoDecoderCalculator) at " in line
    assert ": failed in open: " in line
    assert "gone.mp4' does not exist" in line


_SIDE_VALUES: list[object] = []


@register_calculator
class _RecordSidePacketsCalculator(Calculator):
    """A source that records its side packets' payloads (in port order) and sends nothing."""

    input_side_packets = (Port("", repeated=True),)

    def open(self, cc: CalculatorContext) -> None:
        _SIDE_VALUES[:] = [cc.side_inputs[port] for port in sorted(cc.side_inputs.ports())]

    def process(self, cc: CalculatorContext) -> None:
        raise Stop()


def test_run_side_packet_values_reach_the_graph(tmp_path: pathlib.Path) -> None:
    # (argument, the payload the graph must get): the rule of docs/cli.md, kind by kind
    cases: list[tuple[str, object]] = [
        ("n=2", 2), ("x=0.25", 0.25), ("half=.5", 0.5), ("on=true", True), ("off=False", False),
        ("name=alice", "alice"), ("xs=[1, 2.5, \"a\"]", [1, 2.5, "a"]), ('code="007"', "007"),
        ("none=null", None), ("path=a=b.mp4", "a=b.mp4"), ("empty=", "")]
    names = [argument.partition("=")[0] for argument, _ in cases]
    graph = write(tmp_path / "record.pbtxt", "".join(f'input_side_packet: "{n}"\n' for n in names)
                  + "node { calculator: \"_RecordSidePacketsCalculator\" "
                  + " ".join(f'input_side_packet: "{n}"' for n in names) + " }\n")
    _SIDE_VALUES.clear()
    argv = ["run", str(graph), "-q", "-s", "n=1"]  # a repeated name keeps its last value
    for argument, _ in cases:
        argv += ["-s", argument]
    assert main(argv) == 0
    # types too: 1 == True == 1.0 in Python, but the graph must get the kind the rule says
    assert [(type(v), v) for v in _SIDE_VALUES] == [(type(v), v) for _, v in cases]


def test_calculators_lists_registered_names(tmp_path: pathlib.Path) -> None:
    result = graphflow("calculators", cwd=tmp_path)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert "PassThroughCalculator" in names
    assert "OpenCvVideoDecoderCalculator" in names


def test_viz_dot_has_nodes_edges_back_edges_and_side_packets(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    graph = write(tmp_path / "loop.pbtxt", LOOP_GRAPH)
    assert main(["viz", str(graph), "-o", str(tmp_path / "g.dot")]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert 'n0 [label="FlowLimiterCalculator"' in dot or "n0 [label=FlowLimiterCalculator" in dot
    assert "in__input_video -> n0 [label=input_video]" in dot
    assert 'n1 -> n0 [label="FINISHED:output_video" constraint=false style=dashed]' in dot
    assert "n0 -> n1 [label=throttled]" in dot
    assert 'side__limit -> n0 [label="MAX_IN_FLIGHT:limit" style=dotted]' in dot
    assert "n1 -> out__output_video" in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot program is missing")
def test_viz_svg(tmp_path: pathlib.Path) -> None:
    graph = write(tmp_path / "loop.pbtxt", LOOP_GRAPH)
    assert main(["viz", str(graph), "-o", str(tmp_path / "g.svg")]) == 0
    svg = (tmp_path / "g.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "FlowLimiterCalculator" in svg


def test_viz_rejects_an_unknown_format(tmp_path: pathlib.Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    graph = write(tmp_path / "loop.pbtxt", LOOP_GRAPH)
    assert main(["viz", str(graph), "-o", str(tmp_path / "g.jpg")]) == 1
    assert "the diagram format comes from the extension" in capsys.readouterr().err


def test_bundled_graphs_by_name(tmp_path: pathlib.Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert find_graph("eymo") == resource_dir("graphs") / "eymo.pbtxt"
    assert main(["validate", "eymoo"]) == 2
    err = capsys.readouterr().err
    assert "no graph file 'eymoo' and no bundled graph of that name (did you mean 'eymo'?)" in err


def test_every_subcommand_is_wired(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "validate", "viz", "calculators", "send", "serve", "streams",
                    "batch"):
        assert f"    {command} " in out


def test_frames_below_one_is_a_usage_error_naming_the_count(
        tmp_path: pathlib.Path, clip: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    assert main(["run", str(graph), "-i", str(clip), "-o", "null", "--frames", "0"]) == 2
    assert "--frames needs a count of at least 1, got 0" in capsys.readouterr().err


def test_segments_without_an_input_is_a_usage_error(
        tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    graph = write(tmp_path / "source.pbtxt", """output_stream: "out"
node { calculator: "CountingSourceCalculator" output_stream: "out" }
""")
    assert main(["run", str(graph), "-o", "null", "--segments", "2"]) == 2
    assert "--segments needs a video file input" in capsys.readouterr().err


@pytest.mark.parametrize("segments", ["0", "-2", str(FRAMES + 1)])
def test_segments_outside_one_to_the_frame_count_is_a_usage_error_naming_the_range(
        tmp_path: pathlib.Path, clip: pathlib.Path, capsys: pytest.CaptureFixture[str],
        segments: str) -> None:
    """--segments 0 (or less) ran one process, quietly, before it was a usage error."""
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    assert main(["run", str(graph), "-i", str(clip), "-o", "null", "--segments", segments]) == 2
    err = capsys.readouterr().err
    assert f"--segments needs a count from 1 to the input's {FRAMES} frames, got {segments}" \
        in " ".join(err.split())
    assert "frames in" not in err  # nothing ran


def test_a_failing_segment_is_a_runtime_failure_naming_the_segment_and_its_cause(
        tmp_path: pathlib.Path, clip: pathlib.Path) -> None:
    """Each child fails in the FlowLimiterCalculator's open (a side packet that is no int):
    the run fails with status 1 (not 2: the command line was right), one line naming each
    segment, its frames, its exit status and the child's own error."""
    graph = write(tmp_path / "loop.pbtxt", LOOP_GRAPH)
    single = graphflow("run", str(graph), "-i", str(clip), "-o", "null", "-s", "limit=many",
                       cwd=tmp_path)
    assert single.returncode == 1
    [cause] = [line.removeprefix("error: ") for line in single.stderr.splitlines()
               if line.startswith("error: ")]
    assert "FlowLimiterCalculator" in cause and "failed in open" in cause
    result = graphflow("run", str(graph), "-i", str(clip), "-o", "null", "-s", "limit=many",
                       "--segments", "2", cwd=tmp_path)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if "error" in line]
    assert line == (f"error: --segments: segment 1 of 2 (frames 0-3) exited with status 1: "
                    f"{cause}; segment 2 of 2 (frames 4 to the end) exited with status 1: "
                    f"{cause}")


def test_segments_that_put_out_no_frame_join_nothing_as_a_single_run(
        tmp_path: pathlib.Path, clip: pathlib.Path) -> None:
    """A closed gate: no segment writes a part, so there is nothing to join and no output,
    as the single run writes none (this was a usage error: a part's file not found)."""
    graph = write(tmp_path / "gate.pbtxt", """input_stream: "input_video"
output_stream: "output_video"
input_side_packet: "allow"
node { calculator: "GateCalculator" input_stream: "input_video"
       input_side_packet: "ALLOW:allow" output_stream: "output_video" }
""")
    for name, more in (("single.avi", []), ("segmented.avi", ["--segments", "2"])):
        result = graphflow("run", str(graph), "-i", str(clip), "-o", str(tmp_path / name),
                           "-s", "allow=false", *more, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert not (tmp_path / name).exists()


def test_a_part_that_cannot_be_joined_names_its_segment(tmp_path: pathlib.Path,
                                                        clip: pathlib.Path) -> None:
    graph = write(tmp_path / "pass.pbtxt", PASS_GRAPH)
    good, bad = tmp_path / "part0.avi", write(tmp_path / "part1.avi", "not a video")
    assert graphflow("run", str(graph), "-i", str(clip), "-o", str(good), "--frames", "4",
                     cwd=tmp_path).returncode == 0
    ranges: list[tuple[int, int | None]] = [(0, 4), (4, None)]
    parts = [(segment_name(i, ranges), str(part)) for i, part in enumerate((good, bad))]
    with pytest.raises(SegmentError, match=rf"^--segments: segment 2 of 2 \(frames 4 to the "
                                           rf"end\): its output {bad} cannot be joined: "):
        join_videos(parts, str(tmp_path / "joined.avi"))
    assert not (tmp_path / "joined.avi").exists()  # the part written before the failure too
