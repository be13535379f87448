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
first frame, and its numbering of faces starts over). Timestamps stay those of the file, so
animations are where a single run would put them.
"""

from __future__ import annotations

import itertools
import logging
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from fractions import Fraction

logger = logging.getLogger(__name__)

#: Output specs a segmented run can join: ``null`` and these video file extensions.
JOINABLE_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm")


def frame_ranges(frame_count: int, segments: int) -> list[tuple[int, int | None]]:
    """``(first frame, frame count)`` of each segment; the last one runs to the file's end
    (``None``), so that a frame count the container reports short loses no frame.

    Raises:
        ValueError: If there are fewer frames than segments, or segments < 1.
    """
    if segments < 1:
        raise ValueError(f"--segments must be at least 1, got {segments}")
    if frame_count < segments:
        raise ValueError(f"--segments {segments}: the input has only {frame_count} frames")
    bounds = [round(i * frame_count / segments) for i in range(segments + 1)]
    return [(start, end - start if i < segments - 1 else None)
            for i, (start, end) in enumerate(itertools.pairwise(bounds))]


def check_output(spec: str) -> None:
    """Raises ValueError unless a segmented run can join outputs of this spec."""
    if spec == "null" or pathlib.Path(spec).suffix.lower() in JOINABLE_EXTENSIONS:
        return
    raise ValueError(f"--segments: the output must be null or a video file "
                     f"({', '.join(JOINABLE_EXTENSIONS)}), not {spec!r}")


def run_segments(graph: str, input_path: str, output: str, frame_count: int, segments: int,
                 options: Sequence[str] = ()) -> float:
    """Runs the segments in child processes at once and joins their outputs.

    Args:
        graph: The graph file.
        input_path: The video file.
        output: ``null`` or a video file path.
        frame_count: The file's frames.
        segments: How many ranges (and processes).
        options: More ``graphflow run`` arguments for every child (side packets, -v).

    Returns:
        The wall time of the run, seconds (the processes' start included).

    Raises:
        RuntimeError: If a child fails (naming its range and exit status).
    """
    check_output(output)
    ranges = frame_ranges(frame_count, segments)
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
            children.append(subprocess.Popen(command))
        failed = [(first, status) for (first, _), child in zip(ranges, children, strict=True)
                  if (status := child.wait()) != 0]
        if failed:
            raise RuntimeError("--segments: " + ", ".join(
                f"the segment from frame {first} exited with status {status}"
                for first, status in failed))
        if output != "null":
            join_videos(parts, output)
    return time.perf_counter() - start


def join_videos(parts: Sequence[str], output: str) -> None:
    """Writes the parts' video packets one after the other into ``output`` (no re-encoding),
    each part's timestamps moved so that it starts where the previous part ended."""
    import av  # PyAV: the video writer's own dependency

    with av.open(output, "w") as sink:
        stream = None
        base = Fraction(1)
        offset = 0  # where the next part starts, in the output's time base
        for part in parts:
            with av.open(part) as source:
                video = source.streams.video[0]
                if video.time_base is None:
                    raise ValueError(f"{part}: a video stream without a time base")
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
