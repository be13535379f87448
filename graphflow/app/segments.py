"""``graphflow run --segments K``: a video file cut into K frame ranges, one process each.

A graph runs its calculators in Python threads under one interpreter lock: a graph such as
eymo, with about 45 calculator invocations a frame, stops near 200 frames per second however
many cores the machine has (bench/README.md: 184 fps at 720p on a 16-core machine with an
NVIDIA H200). A file input does not need its frames in one graph: `run_segments` cuts the
file into K consecutive frame ranges, runs ``graphflow run --start S --frames N`` on each in a
child process (its own interpreter, its own graph and its own GL context, all at once), and
joins the outputs in order: a video file output is the parts' packets remuxed one after the
other with PyAV (no re-encoding), a ``null`` output needs nothing.

What changes with the cut: each range starts its graph afresh, so state carried from frame to
frame starts again at each cut (eymo's face tracking looks for the faces again, as on the
first frame, and its numbering of faces starts over). The graphs' timestamps stay those of
the file, so animations are where a single run would put them; in the joined file each part
starts where the one before ended, so a segment that put out no frame leaves no gap there.

A child's standard error passes through to ours as it comes, but for its final ``error:``
line: a child that fails, or whose output cannot be joined, fails the run with a
`SegmentError` naming the segment (its number and frames) and that cause.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from fractions import Fraction

logger = logging.getLogger(__name__)

#: Output specs a segmented run can join: ``null`` and these video file extensions.
JOINABLE_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm")
# How a failing ``graphflow`` command's last line of standard error begins (cli.main).
_ERROR_PREFIX = "error: "


class SegmentError(RuntimeError):
    """A segment's process failed, or its output could not be joined (a failure while
    running: exit status 1)."""


def frame_ranges(frame_count: int, segments: int) -> list[tuple[int, int | None]]:
    """``(first frame, frame count)`` of each segment; the last one runs to the file's end
    (``None``), so that a frame count the container reports short loses no frame.

    Raises:
        ValueError: Unless 1 <= ``segments`` <= ``frame_count`` (naming --segments).
    """
    if not 1 <= segments <= frame_count:
        raise ValueError(f"--segments needs a count from 1 to the input's {frame_count} "
                         f"frames, got {segments}")
    bounds = [round(i * frame_count / segments) for i in range(segments + 1)]
    return [(start, end - start if i < segments - 1 else None)
            for i, (start, end) in enumerate(itertools.pairwise(bounds))]


def check_output(spec: str) -> None:
    """Raises ValueError unless a segmented run can join outputs of this spec."""
    if spec == "null" or pathlib.Path(spec).suffix.lower() in JOINABLE_EXTENSIONS:
        return
    raise ValueError(f"--segments: the output must be null or a video file "
                     f"({', '.join(JOINABLE_EXTENSIONS)}), not {spec!r}")


def segment_name(index: int, ranges: Sequence[tuple[int, int | None]]) -> str:
    """How errors name segment ``index`` of ``ranges``: its number and its frames."""
    first, count = ranges[index]
    frames = f"{first} to the end" if count is None else f"{first}-{first + count - 1}"
    return f"segment {index + 1} of {len(ranges)} (frames {frames})"


class _Child:
    """A segment's ``graphflow run`` process. Its standard error passes through to ours line
    by line as it comes (by a thread, so that every child's warnings and logs show while it
    runs), but for its ``error:`` line, kept with the last lines for the failure's cause."""

    def __init__(self, command: list[str]) -> None:
        # NO_COLOR: the child's error line is matched as text, without a terminal's escapes.
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                                        errors="replace", env={**os.environ, "NO_COLOR": "1"})
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.reader = threading.Thread(target=self._forward, name="graphflow-segment-stderr",
                                       daemon=True)
        self.reader.start()

    def _forward(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                if not line.startswith(_ERROR_PREFIX):
                    sys.stderr.write(line)
                    sys.stderr.flush()
                self.tail.append(line.rstrip("\n"))

    def wait(self) -> int:
        """Waits for the process and the end of its standard error; returns its exit status."""
        status = self.process.wait()
        self.reader.join()
        return status

    def failure(self, status: int) -> str:
        """What a nonzero exit ``status`` says, with the child's error line (or last line)."""
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        errors = [line for line in self.tail if line.startswith(_ERROR_PREFIX)]
        lines = [line for line in self.tail if line.strip()]
        cause = errors[-1][len(_ERROR_PREFIX):] if errors else lines[-1] if lines else ""
        return f"{how}: {cause}" if cause else f"{how} (no error message)"


def run_segments(graph: str, input_path: str, output: str,
                 ranges: Sequence[tuple[int, int | None]], options: Sequence[str] = ()) -> float:
    """Runs the segments in child processes at once and joins their outputs.

    Args:
        graph: The graph file.
        input_path: The video file.
        output: ``null`` or a video file path (one `check_output` takes).
        ranges: The segments' frames (`frame_ranges`).
        options: More ``graphflow run`` arguments for every child (side packets, -v).

    Returns:
        The wall time of the run, seconds (the processes' start included).

    Raises:
        SegmentError: If children fail (naming each failed segment, its exit status and its
            error line), or a part's output cannot be joined (naming its segment).
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="graphflow-segments-") as tmp:
        suffix = pathlib.Path(output).suffix
        parts = [output if output == "null" else os.path.join(tmp, f"part{i}{suffix}")
                 for i in range(len(ranges))]
        children = []
        for (first, count), part in zip(ranges, parts, strict=True):
            command = [sys.executable, "-m", "graphflow.app.cli", "run", graph, "-i",
                       input_path, "-o", part, "--start", str(first), "-q", *options]
            if count is not None:
                command += ["--frames", str(count)]
            logger.info("segment from frame %d: %s", first, " ".join(command))
            children.append(_Child(command))
        failed = [f"{segment_name(index, ranges)} {child.failure(status)}"
                  for index, child in enumerate(children) if (status := child.wait()) != 0]
        if failed:
            raise SegmentError("--segments: " + "; ".join(failed))
        if output != "null":
            join_videos([(segment_name(index, ranges), part) for index, part in enumerate(parts)],
                        output)
    return time.perf_counter() - start


def join_videos(parts: Sequence[tuple[str, str]], output: str) -> None:
    """Writes the parts' video packets one after the other into ``output`` (no re-encoding),
    each part's timestamps moved so that it starts where the previous part ended.

    A part whose file does not exist is left out: its segment's graph put out no frame (the
    video writer makes its file at the first frame), so a single run of the graph would have
    put out none there either. Without any part, ``output`` is not made (likewise).

    Args:
        parts: Each part's name (for errors) and file, in order.
        output: The joined video file.

    Raises:
        SegmentError: If a part cannot be read (naming it, its file and the cause); the
            partly written ``output`` is removed.
    """
    present = []
    for name, part in parts:
        if os.path.exists(part):
            present.append((name, part))
        else:
            logger.info("%s put out no frame: nothing of it to join", name)
    if not present:
        return
    try:
        _join_present(present, output)
    except SegmentError:
        pathlib.Path(output).unlink(missing_ok=True)
        raise


def _join_present(parts: Sequence[tuple[str, str]], output: str) -> None:
    """`join_videos` of parts that all exist."""
    import av  # PyAV: the video writer's own dependency

    with av.open(output, "w") as sink:
        stream = None
        base = Fraction(1)
        offset = 0  # where the next part starts, in the output's time base
        for name, part in parts:
            try:
                with av.open(part) as source:
                    if not source.streams.video:
                        raise ValueError("no video stream")
                    video = source.streams.video[0]
                    if video.time_base is None:
                        raise ValueError("a video stream without a time base")
                    if stream is None:
                        stream = sink.add_stream_from_template(video)
                        base = video.time_base
                        stream.time_base = base
                    # Each part's writer chose its own time base (from its first frames' times).
                    scale = video.time_base / base
                    end = offset
                    first: int | None = None
                    for packet in source.demux(video):
                        if packet.dts is None or packet.pts is None:  # the demuxer's flush packet
                            continue
                        if first is None:
                            first = packet.dts
                        pts = offset + round((packet.pts - first) * scale)
                        dts = offset + round((packet.dts - first) * scale)
                        end = max(end, pts + max(1, round((packet.duration or 0) * scale)))
                        packet.pts, packet.dts = pts, dts
                        packet.duration = round((packet.duration or 0) * scale)
                        packet.time_base = base
                        packet.stream = stream
                        sink.mux(packet)
                    offset = end
            except (av.FFmpegError, ValueError) as exc:
                raise SegmentError(f"--segments: {name}: its output {part} cannot be joined: "
                                   f"{exc}") from exc
