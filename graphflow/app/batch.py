"""``graphflow batch``: run a graph once per video file, on local processes or a Ray cluster.

Each input file gets its own graph run: its frames go into the graph's input stream (RGB
``ImageFrame`` packets stamped with the frame's presentation time in microseconds, decoded by
:class:`calculators.io.video.VideoReader`) and the packets of its output stream are written to
``OUTPUT_DIR/<input stem>.mp4`` by :class:`calculators.io.video.VideoWriter` at the input's
frame rate. An output is first
written under a hidden temporary name; when the run succeeds it is read back (it must open, hold
every frame written and decode its last one), flushed to disk and renamed, so an output that
exists is complete: a second batch over the same inputs skips it. A file that fails (it does not
decode, the graph fails on it, it produces no frames, its output does not read back, as after a
full disk) is reported in the summary and does not stop the others; the exit status says so.
An output folder that is, or lies inside, a folder of the inputs is refused.

Example:
    summary = run_batch("graphs/face_detection.pbtxt", ["videos/*.mp4"], "out/", jobs=2)
    print(summary.counts())   # {'done': 3, 'skipped': 0, 'failed': 1}
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import glob
import json
import logging
import multiprocessing
import os
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from graphflow.config import GraphConfig, load_config
from graphflow.graph import CalculatorGraph
from graphflow.packet import Packet

logger = logging.getLogger(__name__)

SIDE_PACKET_HELP = ("an input side packet; VALUE is JSON (2, 0.5, true, [1, 2], '\"text\"'), "
                    "else a number or true/false in any case, else text (docs/cli.md); "
                    "repeatable")

Status = Literal["done", "skipped", "failed"]
OUTPUT_SUFFIX = ".mp4"
PARTIAL_PREFIX = "."
PARTIAL_SUFFIX = ".partial.mp4"


@dataclasses.dataclass(frozen=True)
class BatchJob:
    """One graph run: ``source`` in, ``output`` out.

    Attributes:
        graph: The graph: a file path or pbtxt text (a string, so that it pickles to workers).
        source: The input video file.
        output: Where the output video goes once the run succeeds.
        input_stream: The graph input stream fed with the file's frames.
        output_stream: The graph output stream written to ``output``.
        side_packets: Input side packets of every run.
    """

    graph: str
    source: str
    output: str
    input_stream: str = "input_video"
    output_stream: str = "output_video"
    side_packets: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def partial(self) -> pathlib.Path:
        """The temporary name the output is written under until the run succeeds."""
        out = pathlib.Path(self.output)
        return out.with_name(PARTIAL_PREFIX + out.stem + PARTIAL_SUFFIX)


@dataclasses.dataclass(frozen=True)
class FileResult:
    """What became of one input file.

    Attributes:
        source: The input file.
        output: The output file (written only when ``status`` is ``"done"``).
        status: ``"done"``, ``"skipped"`` (the output existed) or ``"failed"``.
        frames_in: Frames read from the input.
        frames_out: Frames written to the output.
        seconds: Wall time of the run.
        error: Why it failed (empty otherwise).
        worker: Where it ran (host and process id).
    """

    source: str
    output: str
    status: Status
    frames_in: int = 0
    frames_out: int = 0
    seconds: float = 0.0
    error: str = ""
    worker: str = ""


@dataclasses.dataclass(frozen=True)
class BatchSummary:
    """The results of a batch, in input order, and its wall time."""

    results: list[FileResult]
    seconds: float

    def counts(self) -> dict[str, int]:
        """How many files were done, skipped and failed."""
        counts = {"done": 0, "skipped": 0, "failed": 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    @property
    def failed(self) -> list[FileResult]:
        """The files that failed."""
        return [r for r in self.results if r.status == "failed"]

    def frames_per_second(self) -> float:
        """Input frames processed per wall-clock second over the whole batch."""
        frames = sum(r.frames_in for r in self.results if r.status == "done")
        return frames / self.seconds if self.seconds > 0 else 0.0


def find_inputs(patterns: Sequence[str]) -> list[pathlib.Path]:
    """The files matching the glob patterns (``**`` recurses), sorted, without duplicates.

    Raises:
        FileNotFoundError: If a pattern matches no file.
    """
    found: dict[pathlib.Path, None] = {}
    for pattern in patterns:
        matches = sorted(pathlib.Path(p) for p in glob.glob(os.path.expanduser(pattern),
                                                             recursive=True))
        files = [p for p in matches if p.is_file()]
        if not files:
            raise FileNotFoundError(f"--inputs {pattern!r} matches no file")
        found.update(dict.fromkeys(files))
    return list(found)


def plan_jobs(graph: str, sources: Sequence[pathlib.Path], output_dir: str | pathlib.Path, *,
              input_stream: str = "input_video", output_stream: str = "output_video",
              side_packets: dict[str, Any] | None = None) -> list[BatchJob]:
    """One job per source, writing ``output_dir/<stem>.mp4``.

    Raises:
        ValueError: If two sources would write the same output file, or the output folder is
            (or lies inside) a folder of the sources.
    """
    out_dir = pathlib.Path(output_dir)
    resolved = out_dir.resolve()
    for folder in sorted({source.resolve().parent for source in sources}):
        if resolved.is_relative_to(folder):
            where = "is" if resolved == folder else "lies inside"
            raise ValueError(f"--output-dir {out_dir} {where} the input folder {folder}: its "
                             "outputs could be taken for inputs or overwrite them; choose a "
                             "folder outside the inputs")
    jobs: list[BatchJob] = []
    claimed: dict[pathlib.Path, pathlib.Path] = {}
    for source in sources:
        output = out_dir / (source.stem + OUTPUT_SUFFIX)
        if output in claimed:
            raise ValueError(f"{claimed[output]} and {source} would both write {output}; "
                             "rename one or run them in separate batches")
        claimed[output] = source
        jobs.append(BatchJob(graph, str(source), str(output), input_stream, output_stream,
                             dict(side_packets or {})))
    return jobs


def check_graph(graph: str, input_stream: str, output_stream: str) -> GraphConfig:
    """Loads the graph once in the driver so that a config mistake is reported once.

    Raises:
        ConfigError: If the graph does not load or validate.
        ValueError: If it lacks the named input or output stream.
    """
    config = load_config(graph)
    probe = CalculatorGraph(config)
    inputs = [s.name for s in probe.validated.input_streams]
    if input_stream not in inputs:
        raise ValueError(f"graph {config.source}: {input_stream!r} is not one of its input "
                         f"streams {inputs} (choose one with --input-stream)")
    if output_stream not in probe.stream_names:
        raise ValueError(f"graph {config.source}: it has no stream {output_stream!r} "
                         "(choose one with --output-stream)")
    return config


def run_job(job: BatchJob) -> FileResult:
    """Runs the graph over one file (in whatever process calls it); never raises for the file.

    Returns:
        The result: ``"skipped"`` if the output exists, ``"failed"`` with the error if the file
        did not decode, the graph failed or it produced no output frames, else ``"done"``.
    """
    worker = f"{os.uname().nodename}:{os.getpid()}"
    output = pathlib.Path(job.output)
    if output.exists():
        return FileResult(job.source, job.output, "skipped", worker=worker)
    from calculators.io.video import VideoReader, VideoWriter

    start = time.perf_counter()
    partial = job.partial
    frames_in = 0
    sink: VideoWriter | None = None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        reader = VideoReader(job.source)
        sink = VideoWriter(partial, fps=reader.fps)
        video = sink
        graph = CalculatorGraph(load_config(job.graph))
        graph.observe_output_stream(
            job.output_stream, lambda stream, packet: video.write(int(packet.timestamp),
                                                                  packet.payload))
        try:
            with graph:
                graph.start_run(job.side_packets)
                for timestamp, image in reader:
                    graph.add_packet_to_input_stream(job.input_stream,
                                                     Packet(image).at(timestamp))
                    frames_in += 1
        finally:
            reader.close()
        sink.close()
        if sink.frames_written == 0:
            raise ValueError(f"the graph wrote no frame to {job.output_stream!r} "
                             f"({frames_in} frames in)")
        verify_video(partial, sink.frames_written)
        _sync(partial)
        os.replace(partial, output)
        _sync(output.parent)  # the rename itself
    except Exception as exc:  # one file's failure is a result, not the batch's end
        written = sink.frames_written if sink is not None else 0
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.close()
        partial.unlink(missing_ok=True)
        logger.debug("%s failed", job.source, exc_info=True)
        return FileResult(job.source, job.output, "failed", frames_in, written,
                          time.perf_counter() - start, f"{type(exc).__name__}: {exc}", worker)
    return FileResult(job.source, job.output, "done", frames_in, sink.frames_written,
                      time.perf_counter() - start, worker=worker)


def verify_video(path: pathlib.Path, frames: int) -> None:
    """Reads a written video back: it must open, hold ``frames`` frames and decode its last.

    OpenCV's writer reports no failed write (a full disk, a file size limit): this is how one
    is found.

    Raises:
        ValueError: Saying what did not read back.
    """
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise ValueError(f"the output written to {path} does not open again (a failed "
                             "write: is the disk full?)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if count != frames:
            raise ValueError(f"the output written to {path} holds {count} frames, not the "
                             f"{frames} written (a failed write: is the disk full?)")
        capture.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
        if not capture.grab():
            raise ValueError(f"the last frame of the output written to {path} does not decode "
                             "(a failed write: is the disk full?)")
    finally:
        capture.release()


def _sync(path: pathlib.Path) -> None:
    """Flushes a file, or a folder's entries, to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


OnResult = Callable[[FileResult], None]


def run_local(jobs: Sequence[BatchJob], workers: int, on_result: OnResult,
              task: Callable[[BatchJob], FileResult] = run_job) -> list[FileResult]:
    """Runs ``task`` on each job on ``workers`` spawned processes; results in job order.

    A worker process that dies (a crash in native code) takes the pool with it. The jobs the
    pool lost then run again one at a time, so that the file that crashes its worker is known:
    it fails, and the others go on.

    Args:
        jobs: The jobs.
        workers: Processes at most.
        on_result: Called with each result as it arrives.
        task: What runs a job in a worker (a module-level function, so that it pickles).
    """
    results: dict[int, FileResult] = {}
    remaining = list(range(len(jobs)))
    context = multiprocessing.get_context("spawn")
    while remaining:
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=max(1, min(workers, len(remaining))), mp_context=context) as pool:
            futures = {pool.submit(task, jobs[i]): i for i in remaining}
            broken: list[int] = []
            for future in concurrent.futures.as_completed(futures):
                index = futures[future]
                try:
                    result = future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    broken.append(index)
                    continue
                results[index] = result
                on_result(result)
        broken.sort()
        if broken and workers == 1:  # one at a time: the first job lost is the one that ran
            job = jobs[broken[0]]
            results[broken[0]] = FileResult(
                job.source, job.output, "failed",
                error="the worker process died while running this file")
            on_result(results[broken[0]])
            broken = broken[1:]
        elif broken:
            logger.warning("a worker process died; running the %d files it took with it one "
                           "at a time", len(broken))
            workers = 1
        remaining = broken
    return [results[i] for i in range(len(jobs))]


def run_batch(graph: str | pathlib.Path, inputs: Sequence[str], output_dir: str | pathlib.Path,
              *, jobs: int | None = None, ray_address: str | None = None,
              input_stream: str = "input_video", output_stream: str = "output_video",
              side_packets: dict[str, Any] | None = None,
              on_result: OnResult | None = None) -> BatchSummary:
    """Runs the graph once per input file.

    Args:
        graph: The graph file (or pbtxt text).
        inputs: Glob patterns of input videos.
        output_dir: Where ``<stem>.mp4`` outputs go (created if needed).
        jobs: Local worker processes (default: the CPU count), or Ray tasks in flight at once
            (default: as many as the cluster has CPUs).
        ray_address: None runs on local processes; otherwise the Ray cluster to use (``""``:
            the one in ``RAY_ADDRESS`` or a new local one; see
            :func:`graphflow.app.ray_backend.connect`).
        input_stream: The graph input stream fed with the frames.
        output_stream: The graph stream written to the output files.
        side_packets: Input side packets of every run.
        on_result: Called in the driver with each file's result as it arrives.

    Raises:
        ConfigError: If the graph does not load.
        ValueError: If the graph lacks the streams, two inputs share an output name, or the
            output folder is (or lies inside) an input folder.
        FileNotFoundError: If a pattern matches no file.
    """
    source = str(graph)
    check_graph(source, input_stream, output_stream)
    planned = plan_jobs(source, find_inputs(inputs), output_dir, input_stream=input_stream,
                        output_stream=output_stream, side_packets=side_packets)
    return _run_planned(planned, output_dir, jobs, ray_address, on_result)


def _run_planned(planned: Sequence[BatchJob], output_dir: str | pathlib.Path, jobs: int | None,
                 ray_address: str | None, on_result: OnResult | None) -> BatchSummary:
    """The jobs of :func:`run_batch`, planned and checked: skips those done, runs the others."""
    pathlib.Path(output_dir).mkdir(parents=True, exist_ok=True)
    report = on_result or (lambda result: None)
    start = time.perf_counter()
    pending: list[BatchJob] = []
    skipped: dict[str, FileResult] = {}
    for job in planned:
        if pathlib.Path(job.output).exists():
            skipped[job.source] = FileResult(job.source, job.output, "skipped")
            report(skipped[job.source])
        else:
            pending.append(job)
    if ray_address is None:
        ran = run_local(pending, jobs or os.cpu_count() or 1, report) if pending else []
    else:
        from graphflow.app import ray_backend

        ran = ray_backend.run_jobs(pending, ray_address, jobs, report) if pending else []
    by_source = {r.source: r for r in ran} | skipped
    return BatchSummary([by_source[job.source] for job in planned], time.perf_counter() - start)


def add_batch_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``batch`` to an ``argparse`` subparsers object (its ``func`` is :func:`main`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "batch", help="run a graph once per video file, on local processes or a Ray cluster",
        description="Run GRAPH on each input video (its input_video fed from the file, its "
                    "output_video written to OUTPUT_DIR/<name>.mp4), spread over local "
                    "processes or a Ray cluster. Finished outputs are skipped on a re-run; a "
                    "failing file is reported and does not stop the others. See "
                    "docs/operating.md.")
    parser.add_argument("graph", help="graph file, or the name of a bundled graph")
    parser.add_argument("--inputs", action="append", required=True, metavar="GLOB",
                        help="input videos, e.g. 'videos/*.mp4' (quote it; repeatable)")
    parser.add_argument("--output-dir", required=True, type=pathlib.Path,
                        help="where <input name>.mp4 outputs go; existing ones are skipped")
    parser.add_argument("--jobs", type=int, default=None,
                        help="files processed at once (default: CPU count, or cluster CPUs)")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run on a Ray cluster (ADDRESS host:port or 'auto'; none: "
                             "RAY_ADDRESS or a new local one)")
    parser.add_argument("--input-stream", default="input_video",
                        help="graph input stream fed with the frames (default input_video)")
    parser.add_argument("--output-stream", default="output_video",
                        help="graph stream written to the outputs (default output_video)")
    parser.add_argument("--side-packet", action="append", default=[], metavar="NAME=VALUE",
                        help=SIDE_PACKET_HELP)
    parser.set_defaults(func=main)
    return parser


def parse_side_packets(items: Sequence[str]) -> dict[str, Any]:
    """``NAME=VALUE`` command-line items to input side packets: the one rule of every command.

    ``graphflow run -s``, ``graphflow batch --side-packet`` and ``graphflow streams add
    --side-packet`` all parse with this. VALUE is read as JSON where it is JSON (``2``,
    ``0.5``, ``true``, ``null``, ``[1, 2]``, ``{"k": 1}``, ``"quoted text"``); else as a number
    where Python's ``int`` or ``float`` reads it (``.5``, ``+3``, ``1_000``, ``inf``); else as a
    bool where it is ``true`` or ``false`` in any letter case (``True``); else it is the text
    itself (``alice``, ``a=b.mp4``, the empty string). A repeated NAME keeps its last value.

    Raises:
        ValueError: Naming the item, for one without ``=`` or with an empty NAME.
    """
    packets: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--side-packet {item!r}: expected NAME=VALUE (there is no '=')")
        if not name.strip():
            raise ValueError(f"--side-packet {item!r}: expected NAME=VALUE (the NAME is empty)")
        packets[name] = _side_packet_value(text)
    return packets


def _side_packet_value(text: str) -> Any:
    """VALUE of ``NAME=VALUE`` by the rule of :func:`parse_side_packets`."""
    with contextlib.suppress(json.JSONDecodeError):
        return json.loads(text)
    for number in (int, float):
        with contextlib.suppress(ValueError):
            return number(text)
    word = text.strip().lower()
    if word in ("true", "false"):
        return word == "true"
    return text


def main(args: argparse.Namespace, console: object = None) -> int:
    """Runs ``graphflow batch`` with a progress bar; prints a summary.

    Args:
        args: The parsed command line.
        console: A ``rich.console.Console`` for the progress and the summary (default: a new
            one on stderr).

    Returns:
        0 if every file was done or skipped, 1 if any failed, 2 for a usage error.
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
    from rich.table import Table

    from graphflow.config import ConfigError
    from graphflow.resources import find_graph

    out = console if isinstance(console, Console) else Console(stderr=True)
    patterns: list[str] = args.inputs
    try:
        graph = str(find_graph(args.graph))
        sources = find_inputs(patterns)
        side_packets = parse_side_packets(args.side_packet)
        check_graph(graph, args.input_stream, args.output_stream)
        planned = plan_jobs(graph, sources, args.output_dir, input_stream=args.input_stream,
                            output_stream=args.output_stream, side_packets=side_packets)
    except (ConfigError, FileNotFoundError, ValueError, ImportError) as exc:
        out.print(f"graphflow batch: {exc}", markup=False, soft_wrap=True)
        return 2
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=out) as progress:
        bar = progress.add_task("files", total=len(planned))

        def advance(result: FileResult) -> None:
            if result.status == "failed":
                progress.console.print(f"[red]failed[/red] {escape(result.source)}: "
                                       f"{escape(result.error)}")
            progress.advance(bar)

        summary = _run_planned(planned, args.output_dir, args.jobs, args.ray, advance)
    table = Table("file", "status", "frames", "seconds", "error", title="graphflow batch")
    for r in summary.results:
        colour = {"done": "green", "skipped": "dim", "failed": "red"}[r.status]
        table.add_row(escape(r.source), f"[{colour}]{r.status}[/{colour}]", str(r.frames_in),
                      f"{r.seconds:.2f}", escape(r.error))
    out.print(table)
    counts = summary.counts()
    out.print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} "
                  f"failed in {summary.seconds:.1f} s ({summary.frames_per_second():.1f} "
                  "frames/s)")
    return 1 if counts["failed"] else 0
