"""The ``graphflow`` command line: run, validate and draw graphs, list calculators.

::

    graphflow run GRAPH [--input SPEC] [--output SPEC] [-s name=value ...] [--trace FILE]
                  [--start N] [--frames N] [--segments K]
    graphflow validate GRAPH
    graphflow viz GRAPH -o graph.svg|.png|.dot [--expand]
    graphflow calculators
    graphflow send|serve|streams ...   (streams over the network, docs/streams.md)
    graphflow batch ...                  (one graph per video file, docs/operating.md)

GRAPH is a graph file or the name of a bundled graph (``eymo`` is ``graphs/eymo.pbtxt``).
``--segments K`` runs a video file input in K processes at once, one frame range each, and
joins their outputs in order (:mod:`graphflow.app.segments`): a graph stops near 200 frames
per second in one interpreter, K processes share the machine's cores.
Mistakes print as one line (``file:line:col: ...`` for config errors) and exit with status 2
(usage and config errors) or 1 (failures while running); ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import itertools
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from graphflow.app.batch import SIDE_PACKET_HELP, add_batch_parser, parse_side_packets
from graphflow.app.net.cli import add_send_parser, add_serve_parser, add_streams_parser
from graphflow.app.segments import SegmentError, check_output, frame_ranges, run_segments
from graphflow.calculator import did_you_mean, registered_calculators
from graphflow.config import (
    ConfigError,
    StreamSpec,
    expand_and_validate,
    load_config,
    subgraph_names,
)
from graphflow.graph import CalculatorGraph
from graphflow.packet import Packet
from graphflow.resources import find_graph
from graphflow.runtime import GraphError, native

logger = logging.getLogger(__name__)

# A graph's output stream of this name carries status lines (text; eymo: which script runs): the
# live view shows the latest, and a sink that has `show_status` (a window) gets them.
STATUS_STREAM = "status"
# File inputs must not lose frames: graphs that take a `max_in_flight` side packet (a
# FlowLimiterCalculator's MAX_IN_FLIGHT, as graphs/eymo.pbtxt has) get this for them, so that
# back pressure, not dropping, paces the reader.
FILE_MAX_IN_FLIGHT = 1 << 30
_REFRESH_PER_SECOND = 4
_QUEUE_ROWS = 12


class UsageError(Exception):
    """A mistake on the command line (exit status 2)."""


# ----------------------------------------------------------------------------- helpers


def _console(stderr: bool) -> Console:
    """A rich console that never wraps a message over several lines."""
    return Console(stderr=stderr, soft_wrap=True)


def pick_stream(streams: Sequence[StreamSpec], preferred: str, kind: str, option: str) -> str:
    """The graph's only input (output) stream, or the one named ``preferred``.

    Raises:
        UsageError: If the graph has none, or several and none is ``preferred``.
    """
    names = [s.name for s in streams]
    if len(names) == 1:
        return names[0]
    if preferred in names:
        return preferred
    if not names:
        raise UsageError(f"{option} given, but the graph has no {kind} stream")
    raise UsageError(f"{option}: the graph has {kind} streams {', '.join(names)}; "
                     f"{option} feeds the only one or the one named {preferred!r}")


def _side_packet_names(graph: CalculatorGraph) -> set[str]:
    names = {s.name for s in graph.validated.input_side_packets}
    for node in graph.validated.nodes:
        names.update(s.name for s in node.side_inputs)
    return names


@dataclasses.dataclass
class _Progress:
    """Counters the feeding loop and the output observer update while a graph runs."""

    graph: CalculatorGraph
    name: str
    start: float = dataclasses.field(default_factory=time.perf_counter)
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    status: str = ""
    arrivals: collections.deque[float] = dataclasses.field(
        default_factory=lambda: collections.deque(maxlen=256))

    def output(self) -> None:
        self.frames_out += 1
        self.arrivals.append(time.perf_counter())

    def fps(self) -> float:
        """Output frames per second over the last two seconds."""
        now = time.perf_counter()
        recent = [t for t in list(self.arrivals) if now - t <= 2.0]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(1e-9, recent[-1] - recent[0])

    def render(self) -> Group:
        """The live view: counters, then the nodes with the most queued packets."""
        elapsed = time.perf_counter() - self.start
        head = (f"[bold]{escape(self.name)}[/]  {elapsed:6.1f} s   in {self.frames_in}   "
                f"out {self.frames_out}   [bold]{self.fps():6.1f} fps[/]")
        if self.dropped:
            head += f"   dropped {self.dropped}"
        if self.status:
            head += f"   {escape(self.status)}"
        try:
            queues = self.graph.queue_sizes()
        except RuntimeError:  # not started yet
            queues = {}
        table = Table("node", "queued", box=None, padding=(0, 2))
        deepest = sorted(queues.items(), key=lambda item: -item[1])[:_QUEUE_ROWS]
        for node, depth in deepest:
            table.add_row(escape(node), str(depth))
        return Group(head, table)


# ----------------------------------------------------------------------------- commands


def _camera_options(args: argparse.Namespace) -> str | None:
    """--input with --width/--height/--fps added as the camera spec's ``?width=...`` query."""
    asked = [f"{name}={value}" for name in ("width", "height", "fps")
             if (value := getattr(args, name)) is not None]
    if not asked:
        return args.input
    from graphflow.app.io import camera_spec

    spec = camera_spec(args.input or "")
    if not spec.startswith("camera"):
        raise UsageError(f"--width/--height/--fps are for camera inputs, not {spec!r}")
    return spec + ("&" if "?" in spec else "?") + "&".join(asked)


def cmd_run(args: argparse.Namespace) -> int:
    """``graphflow run``: feeds --input into the graph and --output from it."""
    from graphflow.app.io import default_endpoints, open_sink, open_source

    console = _console(stderr=True)

    path = find_graph(args.graph)
    graph = CalculatorGraph.from_file(path)
    validated = graph.validated
    if validated.input_streams and any(s.name == "output_video"
                                       for s in validated.output_streams):
        args.input, args.output = default_endpoints(args.input, args.output)
    args.input = _camera_options(args)
    try:
        side_packets = parse_side_packets(args.side_packet)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    known = _side_packet_names(graph)
    for name in side_packets:
        if name not in known:
            raise UsageError(f"--side-packet {name}: the graph uses no side packet of that name"
                             + did_you_mean(name, sorted(known)))
    input_stream = pick_stream(validated.input_streams, "input_video", "input",
                               "--input") if args.input else None
    if input_stream is None and validated.input_streams:
        names = ", ".join(s.name for s in validated.input_streams)
        raise UsageError(f"the graph reads input stream(s) {names}: give --input")
    output_stream = pick_stream(validated.output_streams, "output_video", "output",
                                "--output") if args.output else None
    counted = output_stream
    if counted is None and validated.output_streams:
        outputs = validated.output_streams
        counted = outputs[0].name if len(outputs) == 1 else next(
            (s.name for s in outputs if s.name == "output_video"), None)
    if args.trace:
        graph.set_trace_path(args.trace)

    if args.segments != 1:
        return _run_segments(console, path, args, side_packets)
    source = _open_endpoint(open_source, args.input)
    if source is not None and (args.start or args.frames is not None):
        _select_frames(source, args)
    sink = None
    try:
        sink = _open_endpoint(open_sink, args.output)
        if source is not None and not source.live and "max_in_flight" in known \
                and "max_in_flight" not in side_packets:
            logger.info("file input: max_in_flight=%d, so that no frame is dropped",
                        FILE_MAX_IN_FLIGHT)
            side_packets["max_in_flight"] = FILE_MAX_IN_FLIGHT
        progress = _Progress(graph, path.name)
        if counted is not None:
            write = sink.write if sink is not None else None

            def observe(_: str, packet: Packet[Any]) -> None:
                if write is not None:
                    write(int(packet.timestamp), packet.payload)
                progress.output()

            graph.observe_output_stream(counted, observe)
        if counted != STATUS_STREAM and any(s.name == STATUS_STREAM
                                            for s in validated.output_streams):
            graph.observe_output_stream(STATUS_STREAM, _status_observer(progress, sink))
        live = Live(get_renderable=progress.render, console=console, transient=True,
                    refresh_per_second=_REFRESH_PER_SECOND) \
            if console.is_terminal and not args.quiet else None
        with graph:  # on an error or Ctrl-C: the run is cancelled and its threads joined
            graph.start_run(side_packets)
            progress.start = time.perf_counter()
            if live is not None:
                live.start()
            try:
                _feed(graph, source, input_stream, progress, args.frames)
                graph.wait_until_done()
            finally:
                if live is not None:
                    live.stop()
    finally:
        if source is not None:
            source.close()
        if sink is not None:
            sink.close()
    _summary(console, progress, args, graph)
    return 0


def _select_frames(source: Any, args: argparse.Namespace) -> None:
    """Checks --start and --frames against the source and seeks to --start (the feeding loop
    stops after --frames)."""
    if args.start:
        _require_video_file(source, "--start")
        try:
            source.seek(args.start)
        except ValueError as exc:
            source.close()
            raise UsageError(str(exc)) from None
    if args.frames is not None and (source.live or args.frames < 1):
        source.close()
        raise UsageError(f"--frames needs a count of at least 1, got {args.frames}"
                         if args.frames < 1 else
                         f"--frames needs a file input, {args.input!r} is a live source")


def _require_video_file(source: Any, option: str) -> None:
    """Raises a UsageError, closing ``source``, unless it is a video file (not a camera, a
    stream, an image sequence, or no input at all)."""
    from calculators.io.video import VideoReader

    if not isinstance(source, VideoReader) or source.is_sequence:
        if source is not None:
            source.close()
        raise UsageError(f"{option} needs a video file input")


def _run_segments(console: Console, path: Any, args: argparse.Namespace,
                  side_packets: dict[str, Any]) -> int:
    """--segments K: the file's frame ranges in K processes (graphflow.app.segments)."""
    if args.start or args.frames is not None or args.trace:
        raise UsageError("--segments does not take --start, --frames or --trace")
    try:
        check_output(args.output or "")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    from graphflow.app.io import open_source

    source = _open_endpoint(open_source, args.input)
    _require_video_file(source, "--segments")
    frame_count = source.frame_count
    source.close()
    try:
        ranges = frame_ranges(frame_count, args.segments)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    options = [f"-s{name}={value}" for name, value in side_packets.items()]
    options += ["-v"] * args.verbose
    # A segment that fails fails the run (SegmentError: exit status 1, as any run's failure).
    elapsed = run_segments(str(path), args.input, args.output, ranges, options)
    console.print(f"{escape(path.name)}: {frame_count} frames in {args.segments} segments in "
                  f"{elapsed:.2f} s ({frame_count / elapsed:.1f} fps, process starts included)",
                  soft_wrap=True)
    if args.output != "null" and os.path.exists(args.output):
        console.print(f"output: {escape(args.output)}", soft_wrap=True)
    return 0


def _status_observer(progress: _Progress, sink: Any) -> Callable[[str, Packet[Any]], None]:
    """Shows each status line in the live view and the log, and hands it to the sink."""
    show = getattr(sink, "show_status", None)

    def observe(_: str, packet: Packet[Any]) -> None:
        progress.status = str(packet.payload)
        logger.info("%s: %s", progress.name, progress.status)
        if show is not None:
            show(int(packet.timestamp), progress.status)

    return observe


def _open_endpoint(opener: Callable[[str], Any], spec: str | None) -> Any:
    """The source or sink of a --input / --output spec; a bad spec is a usage error."""
    if spec is None:
        return None
    try:
        return opener(spec)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


def _feed(graph: CalculatorGraph, source: Any, stream: str | None, progress: _Progress,
          limit: int | None = None) -> None:
    if source is None or stream is None:
        return
    for timestamp, payload in itertools.islice(source, limit):
        packet = Packet(payload).at(timestamp)
        try:
            if source.live:
                if not graph.try_add_packet_to_input_stream(stream, packet):
                    progress.dropped += 1
                    continue
            else:
                graph.add_packet_to_input_stream(stream, packet)
        except ValueError:
            # A node or the output raised Stop (a window was closed): the graph closed its
            # inputs and finishes what it has. Anything else is a real mistake.
            if not graph.input_stream_closed(stream):
                raise
            logger.info("the graph stopped taking input after %d frames", progress.frames_in)
            break
        progress.frames_in += 1
    graph.close_all_input_streams()


def _summary(console: Console, progress: _Progress, args: argparse.Namespace,
             graph: CalculatorGraph) -> None:
    elapsed = time.perf_counter() - progress.start
    rate = progress.frames_out / elapsed if elapsed > 0 else 0.0
    line = (f"{progress.name}: {progress.frames_in} frames in, {progress.frames_out} out in "
            f"{elapsed:.2f} s ({rate:.1f} fps)")
    if progress.dropped:
        line += f"; {progress.dropped} input frames dropped while the graph was busy"
    console.print(escape(line), soft_wrap=True)
    if args.output:
        console.print(f"output: {escape(args.output)}", soft_wrap=True)
    if args.trace:
        trace = graph.trace_file or args.trace
        console.print(f"trace: {escape(str(trace))} (open it in https://ui.perfetto.dev)",
                      soft_wrap=True)


def cmd_validate(args: argparse.Namespace) -> int:
    """``graphflow validate``: parses, expands and checks a graph without running it."""
    console = _console(stderr=False)
    path = find_graph(args.graph)
    config = load_config(path)
    validated = expand_and_validate(config)
    console.print(escape(
        f"{path}: OK, {len(config.proto.node)} nodes ({len(validated.nodes)} calculators after "
        "subgraph expansion)"), soft_wrap=True)
    for label, specs in (("input streams", validated.input_streams),
                         ("output streams", validated.output_streams)):
        if specs:
            console.print(f"  {label}: {', '.join(s.name for s in specs)}", soft_wrap=True)
    needed = validated.required_side_packets()
    if needed:
        console.print(f"  side packets needed: {', '.join(sorted(needed))}", soft_wrap=True)
    return 0


def cmd_viz(args: argparse.Namespace) -> int:
    """``graphflow viz``: writes a graphviz diagram of a graph."""
    console = _console(stderr=True)
    from graphflow.app.viz import write_diagram

    path = find_graph(args.graph)
    written = write_diagram(load_config(path), args.output, expand=args.expand)
    console.print(f"wrote {escape(str(written))}", soft_wrap=True)
    return 0


def cmd_calculators(args: argparse.Namespace) -> int:
    """``graphflow calculators``: every registered calculator and subgraph."""
    console = _console(stderr=False)
    calculators = registered_calculators()
    width = max(len(name) for name in calculators)
    for name in sorted(calculators):
        if name.startswith("_"):
            continue
        doc = (calculators[name].__doc__ or "").strip().splitlines()
        console.print(escape(f"{name:<{width}}  {doc[0] if doc else ''}".rstrip()),
                      soft_wrap=True, highlight=False)
    subgraphs = subgraph_names()
    if subgraphs:
        console.print("\nsubgraphs (graph files with a `type:`):", soft_wrap=True)
        for name in subgraphs:
            console.print(f"{escape(name)}", soft_wrap=True, highlight=False)
    return 0


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``graphflow`` command."""
    parser = argparse.ArgumentParser(
        prog="graphflow", description="Run, check and draw graphflow (MediaPipe-style) graphs.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-v: info, -vv: debug)")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of an error")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="run a graph on an input, writing its output",
        description="Run a graph. --input feeds its input stream (the only one, or "
                    "input_video) and --output takes its output stream (the only one, or "
                    "output_video).",
        epilog=_endpoint_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("graph", metavar="GRAPH", help="graph file or bundled graph name")
    run.add_argument("-i", "--input", metavar="SPEC", help="video/image file, pattern or scheme")
    run.add_argument("-o", "--output", metavar="SPEC", help="video/image file, pattern or scheme")
    run.add_argument("-s", "--side-packet", action="append", default=[], metavar="NAME=VALUE",
                     help=SIDE_PACKET_HELP)
    run.add_argument("--trace", metavar="FILE",
                     help="write a Chrome trace (Perfetto) of the run to FILE")
    for option, kind in (("--width", int), ("--height", int), ("--fps", float)):
        run.add_argument(option, type=kind, help=f"camera input: ask for this {option[2:]}")
    run.add_argument("-q", "--quiet", action="store_true", help="no live progress view")
    run.add_argument("--start", type=int, default=0, metavar="N",
                     help="video file input: begin at frame N (0 is the first)")
    run.add_argument("--frames", type=int, default=None, metavar="N",
                     help="file input: process N frames only")
    run.add_argument("--segments", type=int, default=1, metavar="K",
                     help="video file input to null or a video file: cut the file into K "
                          "frame ranges (K from 1 to the file's frame count) run by K "
                          "processes at once (each its own graph and GL context), outputs "
                          "joined in order; state such as face tracking starts again at each "
                          "cut")
    run.set_defaults(func=cmd_run)

    validate = commands.add_parser("validate", help="check a graph without running it")
    validate.add_argument("graph", metavar="GRAPH", help="graph file or bundled graph name")
    validate.set_defaults(func=cmd_validate)

    viz = commands.add_parser("viz", help="draw a graph with graphviz")
    viz.add_argument("graph", metavar="GRAPH", help="graph file or bundled graph name")
    viz.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="graph.svg, .png, .pdf (need graphviz's dot program) or .dot")
    viz.add_argument("--expand", action="store_true",
                     help="draw the calculators inside subgraph nodes")
    viz.set_defaults(func=cmd_viz)

    calculators = commands.add_parser("calculators", help="list the registered calculators")
    calculators.set_defaults(func=cmd_calculators)

    for add_parser in (add_send_parser, add_serve_parser, add_streams_parser, add_batch_parser):
        add_parser(commands)
    return parser


def _endpoint_help() -> str:
    from graphflow.app.io import sink_schemes, source_schemes

    lines = ["inputs: a video file, an image file, an image pattern (frames/%04d.png)"]
    lines += [f"  {e.scheme}: {e.help}" for e in source_schemes()]
    lines.append("outputs: a video file (.mp4: H.264, .avi: MJPG), an image file or pattern")
    lines += [f"  {e.scheme}: {e.help}" for e in sink_schemes()]
    return "\n".join(lines)


def _configure_logging(verbosity: int, console: Console) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 \
        else logging.DEBUG
    handler = RichHandler(console=console, show_path=False, show_time=verbosity > 1)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    native.log_choice()  # decided at import, before logging was set up


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the ``graphflow`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = _console(stderr=True)
    _configure_logging(args.verbose, console)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        status = 2 if isinstance(exc, (ConfigError, UsageError, FileNotFoundError)) else 1
        message = " ".join(str(exc).split("\n")) or type(exc).__name__
        if not isinstance(exc, (ConfigError, UsageError, GraphError, OSError, ValueError,
                                SegmentError)):
            message = f"{type(exc).__name__}: {message}"
        console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)
        return status


if __name__ == "__main__":
    sys.exit(main())
