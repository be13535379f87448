"""Differential testing against MediaPipe 0.10.21: examples, both engines' runners, the generator.

An :class:`Example` is a graph (pbtxt), input side packets and a schedule of steps (add a packet
to a graph input stream, close one). Both engines run it the same way: start_run, wait until
idle, then each step followed by a wait until idle, then wait until done; every node output
stream is observed. :func:`run_graphflow` runs it in this process; :class:`MediaPipeRunner` runs
it in MediaPipe (tests/conformance/mp_runner.py in the reference venv, one process for a whole
batch). :func:`divergence` compares the two results: the outcome (ok, invalid config, failed
start, failed step) and the (timestamp, value) list of every observed stream.

The generator (:func:`examples`, a hypothesis strategy) builds random graphs from the calculators
both engines have (MediaPipe's Python wheel registers these): PassThrough, Gate, Merge,
PacketPresence, PreviousLoopback, FlowLimiter, SidePacketToStream, ConstantSidePacket and
BeginLoopFloat/EndLoopFloat, with random input stream handlers (Default, Immediate, FixedSize;
the wheel lacks SyncSetInputStreamHandler), back edges, several graph inputs, and schedules with
gaps, sparse streams and closes at random points.

Only deterministic outcomes are compared. MediaPipe runs nodes on a thread pool, so where a
node's result depends on the order in which updates reach it, or on how many bound updates it
sees before it runs, MediaPipe itself gives different answers from run to run. The rule that
excludes those graphs (:func:`timing_races`):

* Steps are sequential: each step is one call (one packet, or one close, on one graph input) and
  both engines wait until idle after it, so only the consequences of that one step race.
* For each step, the generator counts the updates (a batch of packets and/or a bound move, as
  one producer call delivers them) that each stream can receive: 0, 1 or many. A node called for
  several updates, or for an update that carries several packets, or with several inputs (one
  update can release what the others queued before), may emit several updates.
* A timing-sensitive node (one that processes timestamp bounds, or has an Immediate handler with
  several inputs, or a FixedSize handler) must receive, per
  step, at most one update, on at most one input. Inputs that a step reaches only through the
  node's own outputs (the FINISHED back edge of a FlowLimiter, the LOOP back edge of a
  PreviousLoopback) do not count: their updates follow the node's own call causally, and those
  two calculators are written to give the same result for any grouping of such updates.

Graphs breaking the rule are discarded. MediaPipe's Python API cannot move a graph input's
timestamp bound without a packet, so schedules only add packets and close streams.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis import strategies as st

import graphflow as gf

HERE = pathlib.Path(__file__).resolve().parent
RUNNER = HERE / "mp_runner.py"

# Value kinds of streams and side packets (mp_runner.py creates and reads each).
KINDS = ("int", "bool", "float", "floats", "timestamp")


@dataclasses.dataclass
class Example:
    """One differential example: graph, side packets, schedule and the streams to observe.

    Attributes:
        graph: The pbtxt config.
        side_packets: ``{name: (kind, value)}``.
        observe: ``{stream: kind}`` for every stream whose packets are compared.
        steps: ``["add", stream, timestamp, kind, value]`` or ``["close", stream]``.
        from_sources: Streams that source nodes reach. MediaPipe runs sources whenever its
            scheduler gets to them, so what they have sent by a failing step varies: after a
            failure these streams are not compared.
    """

    graph: str
    side_packets: dict[str, tuple[str, Any]]
    observe: dict[str, str]
    steps: list[list[Any]]
    from_sources: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON object mp_runner.py reads."""
        return {"graph": self.graph,
                "side_packets": {k: list(v) for k, v in self.side_packets.items()},
                "observe": self.observe, "steps": self.steps}

    def __repr__(self) -> str:
        # hypothesis prints the falsifying example with repr: make it paste-able into a test.
        return (f"Example(graph={self.graph!r},\n  side_packets={self.side_packets!r},\n"
                f"  observe={self.observe!r},\n  steps={self.steps!r},\n"
                f"  from_sources={self.from_sources!r})")


# --------------------------------------------------------------------------- graphflow side


def _read(kind: str, payload: Any) -> Any:
    """The JSON form of a graphflow payload of ``kind`` (as mp_runner.py reads MediaPipe's)."""
    if kind == "timestamp":
        return None
    expected = {"int": int, "bool": bool, "float": float}.get(kind)
    if kind == "floats" and isinstance(payload, (list, tuple)) and \
            all(isinstance(x, float) for x in payload):
        return [float(x) for x in payload]
    if expected is not None and type(payload) is expected:
        return payload
    return f"<unreadable as {kind}: {type(payload).__name__}>"


def _payload(kind: str, value: Any) -> Any:
    return [float(x) for x in value] if kind == "floats" else value


def run_graphflow(example: Example, timeout: float = 2.0) -> dict[str, Any]:
    """Runs ``example`` in graphflow; the result has mp_runner.py's form."""
    streams: dict[str, list[list[Any]]] = {name: [] for name in example.observe}
    result: dict[str, Any] = {"outcome": "ok", "error_step": None, "streams": streams,
                              "message": ""}
    try:
        graph = gf.CalculatorGraph(graph_config=example.graph)
    except Exception as exc:  # any failure to build is the outcome compared
        return {**result, "outcome": "invalid", "message": str(exc)}
    lock = threading.Lock()

    def observer(kind: str) -> Callable[[str, gf.Packet[Any]], None]:
        def on_packet(name: str, packet: gf.Packet[Any]) -> None:
            with lock:
                streams[name].append([int(packet.timestamp), _read(kind, packet.payload)])
        return on_packet

    for name, kind in example.observe.items():
        graph.observe_output_stream(name, observer(kind))
    snapshot = {name: 0 for name in streams}

    def fail(outcome: str, step: int | None, exc: BaseException) -> dict[str, Any]:
        with lock:
            for name, count in snapshot.items():
                del streams[name][count:]
        try:
            graph.cancel()
            graph.wait_until_done(timeout=timeout)
        except Exception:  # the run already failed; its error is reported
            pass
        return {**result, "outcome": outcome, "error_step": step, "message": str(exc)}

    side = {name: _payload(kind, value) for name, (kind, value) in
            example.side_packets.items()}
    try:
        graph.start_run(side)
    except Exception as exc:
        return {**result, "outcome": "start_error", "message": str(exc)}
    steps = example.steps
    for index in range(-1, len(steps)):
        try:
            if index >= 0:
                step = steps[index]
                if step[0] == "add":
                    _, stream, ts, kind, value = step
                    graph.add_packet_to_input_stream(stream,
                                                     gf.Packet(_payload(kind, value)).at(ts))
                else:
                    graph.close_input_stream(step[1])
            graph.wait_until_idle(timeout=timeout)
        except Exception as exc:
            return fail("hang" if isinstance(exc, TimeoutError) else "error", index, exc)
        with lock:
            snapshot = {name: len(packets) for name, packets in streams.items()}
    try:
        graph.close_all_input_streams()
        graph.wait_until_done(timeout=timeout)
    except Exception as exc:
        return fail("hang" if isinstance(exc, TimeoutError) else "error", len(steps), exc)
    return result


# --------------------------------------------------------------------------- MediaPipe side


class MediaPipeRunner:
    """mp_runner.py in the reference venv: one process answers a whole batch of examples.

    A process that dies (MediaPipe aborts on some internal checks) or hangs is restarted; that
    example's outcome is then ``crash`` or ``hang``.
    """

    def __init__(self, python: pathlib.Path, timeout: float = 30.0) -> None:
        self.python = python
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self._stderr = tempfile.TemporaryFile(mode="w+")  # closed in close()

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ, GLOG_minloglevel="2")
            self._stderr.seek(0)
            self._stderr.truncate()
            process = subprocess.Popen(
                [str(self.python), str(RUNNER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=self._stderr, text=True, env=env, bufsize=1)
            self._lines = queue.Queue()
            # Lines are read on a thread so that a hung MediaPipe can be timed out.
            threading.Thread(target=_read_lines, args=(process, self._lines),
                             daemon=True).start()
            self._process = process
        return self._process

    def run(self, example: Example) -> dict[str, Any]:
        """Runs one example (starting the process if needed)."""
        process = self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(example.to_json()) + "\n")
            process.stdin.flush()
            line = self._lines.get(timeout=self.timeout)
        except BrokenPipeError:
            line = ""
        except queue.Empty:
            process.kill()
            process.wait()
            return {"outcome": "hang", "message": "MediaPipe did not answer"}
        if not line:
            process.wait()
            self._stderr.seek(0)
            return {"outcome": "crash", "message": self._stderr.read()[-2000:]}
        result: dict[str, Any] = json.loads(line)
        return result

    def run_batch(self, examples: Iterable[Example]) -> list[dict[str, Any]]:
        """Runs examples in one process; results in order."""
        return [self.run(example) for example in examples]

    def close(self) -> None:
        """Ends the process."""
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            self._process.wait(timeout=30)
        self._stderr.close()


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    """Queues the process' output lines, then "" at its end."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put("")


def divergence(example: Example, ours: dict[str, Any], theirs: dict[str, Any]) -> str | None:
    """What differs between graphflow's result and MediaPipe's, or None.

    Where source nodes send packets and both runs fail, only the failure is compared:
    MediaPipe's wait_until_idle does not wait for sources, so a failure their packets cause
    comes at any step, after any part of the other streams' packets."""
    failed_by_sources = bool(example.from_sources) and \
        ours["outcome"] == theirs["outcome"] == "error"
    if ours["outcome"] != theirs["outcome"] or (
            ours.get("error_step") != theirs.get("error_step") and not failed_by_sources):
        return (f"outcome: graphflow {ours['outcome']} (step {ours.get('error_step')}: "
                f"{ours.get('message', '')[:300]}), MediaPipe {theirs['outcome']} (step "
                f"{theirs.get('error_step')}: {theirs.get('message', '')[:300]})")
    if ours["outcome"] in ("invalid", "start_error") or failed_by_sources:
        return None
    lines = []
    for name in example.observe:
        if ours["outcome"] == "error" and name in example.from_sources:
            continue
        a, b = ours["streams"].get(name, []), theirs["streams"].get(name, [])
        if a != b:
            lines.append(f"stream {name!r}: graphflow {a}, MediaPipe {b}")
    return "\n".join(lines) or None


# --------------------------------------------------------------------------- graph model


@dataclasses.dataclass
class Port:
    """One entry of a node's stream or side packet list."""

    tag: str
    index: int
    name: str

    def spec(self) -> str:
        """``TAG:index:name``, or ``name`` for an untagged stream."""
        return f"{self.tag}:{self.index}:{self.name}" if self.tag else self.name

    def tag_index(self) -> str:
        """The port as an ``input_stream_info`` / sync set ``tag_index``."""
        return f"{self.tag}:{self.index}" if self.tag else f":{self.index}"


@dataclasses.dataclass
class Node:
    """A node of a generated graph, with what the race analysis needs to know of it."""

    calculator: str
    inputs: list[Port]
    outputs: list[Port]
    side_inputs: list[Port] = dataclasses.field(default_factory=list)
    side_outputs: list[Port] = dataclasses.field(default_factory=list)
    options: str = ""
    handler: str = ""  # "" (the calculator's own), or a handler name
    handler_options: str = ""
    back_edges: list[int] = dataclasses.field(default_factory=list)  # input positions
    bounds: bool = False  # processes timestamp bounds
    own_handler: str = "DefaultInputStreamHandler"  # the calculator's default
    multi_packet: tuple[str, ...] = ()  # output tags one call may send several packets on
    batched: bool = False  # has a batch_size: one update may bring several calls

    def effective_handler(self) -> str:
        """The handler MediaPipe uses for this node."""
        return self.handler or self.own_handler

    def timing_sensitive(self) -> bool:
        """Whether the node's result can depend on how its input updates are grouped."""
        handler = self.effective_handler()
        return self.bounds or handler == "FixedSizeInputStreamHandler" or (
            handler == "ImmediateInputStreamHandler" and len(self.inputs) > 1)

    def render(self) -> str:
        """The node's pbtxt."""
        lines = [f'node {{\n  calculator: "{self.calculator}"']
        for field, ports in (("input_stream", self.inputs), ("output_stream", self.outputs),
                             ("input_side_packet", self.side_inputs),
                             ("output_side_packet", self.side_outputs)):
            lines += [f'  {field}: "{p.spec()}"' for p in ports]
        for i in self.back_edges:
            lines.append(f'  input_stream_info {{ tag_index: "{self.inputs[i].tag_index()}" '
                         "back_edge: true }")
        if self.handler:
            block = f'input_stream_handler: "{self.handler}"'
            if self.handler_options:
                block += f" options {{ {self.handler_options} }}"
            lines.append(f"  input_stream_handler {{ {block} }}")
        if self.options:
            lines.append(f"  options {{ {self.options} }}")
        lines.append("}")
        return "\n".join(lines)


@dataclasses.dataclass
class Graph:
    """A generated graph: inputs (name, kind), side packets, nodes, and every stream's kind."""

    inputs: list[tuple[str, str]]
    side_packets: dict[str, tuple[str, Any]]
    nodes: list[Node]
    kinds: dict[str, str]

    def render(self) -> str:
        """The graph's pbtxt."""
        head = [f'input_stream: "{name}"' for name, _ in self.inputs]
        head += [f'input_side_packet: "{name}"' for name in self.side_packets]
        return "\n".join(head + [n.render() for n in self.nodes]) + "\n"


_SOURCES = "<sources>"  # the "root" of what source nodes send


def _roots(graph: Graph) -> list[str]:
    return [name for name, _ in graph.inputs] + [_SOURCES]


def timing_races(graph: Graph) -> list[str]:
    """The timing-sensitive nodes some step reaches ambiguously (see the module docstring).

    Source nodes count as active in every step: MediaPipe's wait_until_idle does not wait for
    them (it warns that graphs with sources are "not fully supported"), so their packets may
    arrive during any step."""
    producers = {p.name: i for i, n in enumerate(graph.nodes) for p in n.outputs}
    races = []
    for root in _roots(graph):
        updates = _updates(graph, root, sources=True)
        for i, node in enumerate(graph.nodes):
            if not node.timing_sensitive():
                continue
            independent = []
            for j, port in enumerate(node.inputs):
                count, _ = updates.get(port.name, (0, False))
                if count == 0:
                    continue
                if j in node.back_edges or producers.get(port.name, -1) >= i:
                    # Reached only through this node's own outputs: causally after its call.
                    if _updates(graph, root, sources=True, cut=i).get(
                            port.name, (0, False))[0] == 0:
                        continue
                independent.append((port.name, count))
            if len(independent) > 1 or any(count > 1 for _, count in independent):
                races.append(f"step on {root}: node {i} ({node.calculator}) gets "
                             f"{independent}")
    return races


def _updates(graph: Graph, root: str, sources: bool, cut: int | None = None
             ) -> dict[str, tuple[int, bool]]:
    """Per stream, (how many updates one step on ``root`` can bring: 0, 1 or 2 for many,
    whether one of them may carry several packets), with source nodes active if ``sources``
    (or if ``root`` is _SOURCES) and node ``cut`` sending nothing."""
    updates: dict[str, tuple[int, bool]] = {}
    for name, _ in graph.inputs:
        updates[name] = (1, False) if name == root else (0, False)
    sources = sources or root == _SOURCES
    changed = True
    while changed:  # a fixpoint, since back edges feed nodes from later ones
        changed = False
        for i, node in enumerate(graph.nodes):
            touched = [updates.get(p.name, (0, False)) for p in node.inputs]
            touched = [t for t in touched if t[0]]
            if i == cut:
                calls = 0
            elif not node.inputs:
                calls = 1 if sources else 0
            elif not touched:
                calls = 0
            elif len(node.inputs) == 1 and touched[0] == (1, False):
                calls = 1
            else:
                # With several inputs, one update can release packets that other inputs
                # queued in earlier steps: several timestamps, several calls.
                calls = 2
            if node.batched and calls:
                calls = 2  # a batch's calls: MediaPipe sends on the outputs of each
            for port in node.outputs:
                value = (calls, calls > 0 and port.tag in node.multi_packet)
                old = updates.get(port.name, (0, False))
                new = (max(old[0], value[0]), old[1] or value[1])
                if new != old:
                    updates[port.name] = new
                    changed = True
    return updates


def reached_from_sources(graph: Graph) -> list[str]:
    """The streams that source nodes' packets reach."""
    return [name for name, (count, _) in _updates(graph, _SOURCES, sources=True).items()
            if count]


KNOWN_DIVERGENCES: dict[str, str] = {}
"""Divergences known and not yet fixed in graphflow/runtime/ (name: what differs), each with a
strict xfail case in tests/conformance/test_regressions.py. While one is listed, the generator
leaves out what triggers it, so that the suite keeps finding new ones; none is listed now."""


# --------------------------------------------------------------------------- generator

_STATES = ("UNSPECIFIED", "GATE_UNINITIALIZED", "GATE_ALLOW", "GATE_DISALLOW")
_SIDE_TAGS = ("AT_TICK", "AT_FIRST_TICK", "AT_PRESTREAM", "AT_POSTSTREAM", "AT_ZERO",
              "AT_TIMESTAMP")
# SyncSetInputStreamHandler is not in MediaPipe's Python wheel (nor its options extension):
# tests/conformance/test_handlers.py ports MediaPipe's own tests of it instead.
_HANDLERS = ("", "DefaultInputStreamHandler", "ImmediateInputStreamHandler",
             "FixedSizeInputStreamHandler")
_FOLLOWERS = ("PassThroughCalculator", "GateCalculator", "MergeCalculator",
              "PacketPresenceCalculator")
_NODE_KINDS = ("pass_through", "gate", "merge", "presence", "previous_loopback",
               "flow_limiter", "side_packet_to_stream", "loop")


@dataclasses.dataclass
class _Stream:
    """What the builder knows of a stream it can connect."""

    kind: str
    # May carry packets at PreStream, Max or PostStream: MediaPipe's PreviousLoopback and
    # BeginLoop abort the process on them (Timestamp arithmetic checks its range) and
    # FlowLimiter computes with their timestamps, so none of them gets them.
    special: bool = False
    # The streams this one follows one to one: it comes from them through nodes of a single
    # input that pass every packet and bound on (pass-through, gate, merge, presence).
    follows: frozenset[str] = frozenset()


class _Builder:
    """Builds one random graph from hypothesis draws."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self.draw = draw
        self.streams: dict[str, _Stream] = {}
        self.nodes: list[Node] = []
        self.side_kinds: dict[str, str] = {}  # side packets available: graph's and nodes'
        self.graph_side: dict[str, tuple[str, Any]] = {}
        self.pending_back_edges: list[tuple[int, int, str]] = []  # node, input, kind or "*"
        self.counter = 0

    def stream(self, kind: str) -> str:
        """A new stream name of ``kind`` (``add`` fills in the rest)."""
        name = f"s{self.counter}"
        self.counter += 1
        self.streams[name] = _Stream(kind)
        return name

    def kind(self, name: str) -> str:
        return self.streams[name].kind

    def pick(self, kinds: Iterable[str] | None = None, regular: bool = False) -> str | None:
        """An existing stream of one of ``kinds`` (any); with ``regular``, one that carries no
        packets at PreStream, Max or PostStream."""
        allowed = set(kinds) if kinds is not None else None
        names = [n for n, s in self.streams.items() if (allowed is None or s.kind in allowed)
                 and not (regular and s.special)]
        return self.draw(st.sampled_from(names)) if names else None

    def add(self, node: Node, special: Iterable[str] = (), closes_early: bool = False) -> None:
        """Appends ``node``; its outputs are ``special`` where named, and it may close them
        before its inputs end if it ``closes_early``."""
        self.nodes.append(node)
        follows: frozenset[str] = frozenset()
        if len(node.inputs) == 1 and not closes_early and node.calculator in _FOLLOWERS:
            follows = self.streams[node.inputs[0].name].follows | {node.inputs[0].name}
        for port in node.outputs:
            stream = self.streams[port.name]
            stream.follows = follows
            stream.special = port.name in special

    def side(self, kind: str) -> str:
        """A side packet of ``kind``: an existing one, a ConstantSidePacket's, or the graph's."""
        names = [n for n, k in self.side_kinds.items() if k == kind]
        choice = self.draw(st.integers(0, 2))
        if names and choice == 0:
            return str(self.draw(st.sampled_from(names)))
        if choice == 1 and kind in ("int", "bool"):
            name = f"c{len(self.side_kinds)}"
            value = self._value(kind)
            field = "int_value" if kind == "int" else "bool_value"
            text = "true" if value is True else "false" if value is False else str(value)
            self.add(Node("ConstantSidePacketCalculator", [], [], side_outputs=[
                Port("PACKET", 0, name)], options=(
                    "[mediapipe.ConstantSidePacketCalculatorOptions.ext] { packet { "
                    f"{field}: {text} }} }}")))
            self.side_kinds[name] = kind
            return name
        name = f"side{len(self.side_kinds)}"
        self.side_kinds[name] = kind
        self.graph_side[name] = (kind, self._value(kind))
        return name

    def _value(self, kind: str) -> Any:
        if kind == "bool":
            return self.draw(st.booleans())
        if kind == "floats":
            return [float(x) for x in self.draw(st.lists(st.integers(0, 9), max_size=3))]
        if kind == "float":
            return float(self.draw(st.integers(0, 9)))
        return self.draw(st.integers(0, 9))

    def handler(self, node: Node) -> None:
        """A random input stream handler for a node of generic calculators."""
        choice = self.draw(st.sampled_from(_HANDLERS))
        node.handler = choice
        if choice == "DefaultInputStreamHandler" and self.draw(st.integers(0, 3)) == 0:
            node.batched = True
            node.handler_options = ("[mediapipe.DefaultInputStreamHandlerOptions.ext] { "
                                    f"batch_size: {self.draw(st.integers(2, 3))} }}")
        if choice == "FixedSizeInputStreamHandler":
            trigger = self.draw(st.integers(1, 3))
            target = self.draw(st.integers(1, trigger))
            fixed = self.draw(st.booleans())
            node.handler_options = (
                "[mediapipe.FixedSizeInputStreamHandlerOptions.ext] { trigger_queue_size: "
                f"{trigger} target_queue_size: {target} fixed_min_size: "
                f"{'true' if fixed else 'false'} }}")

    def _like(self, pairs: Iterable[tuple[str, str]]) -> list[str]:
        """The outputs (of input, output pairs) whose input is special."""
        return [out for name, out in pairs if self.streams[name].special]

    # ---- node kinds

    def pass_through(self) -> None:
        names = [n for n in (self.pick() for _ in range(self.draw(st.integers(1, 3)))) if n]
        outs = [self.stream(self.kind(n)) for n in names]
        node = Node("PassThroughCalculator", [Port("", i, n) for i, n in enumerate(names)],
                    [Port("", i, n) for i, n in enumerate(outs)])
        self.handler(node)
        pairs = list(zip(names, outs, strict=True))
        self.add(node, self._like(pairs))

    def gate(self) -> None:
        names = [n for n in (self.pick() for _ in range(self.draw(st.integers(1, 2)))) if n]
        outs = [self.stream(self.kind(n)) for n in names]
        node = Node("GateCalculator", [Port("", i, n) for i, n in enumerate(names)],
                    [Port("", i, n) for i, n in enumerate(outs)])
        control = self.draw(st.sampled_from(("options", "stream", "side")))
        tag = self.draw(st.sampled_from(("ALLOW", "DISALLOW")))
        if control == "stream" and self.pick(["bool"]):
            node.inputs.append(Port(tag, 0, str(self.pick(["bool"]))))
        elif control == "side":
            node.side_inputs.append(Port(tag, 0, self.side("bool")))
        fields = []
        if self.draw(st.booleans()):
            fields.append(f"empty_packets_as_allow: {str(self.draw(st.booleans())).lower()}")
        if self.draw(st.booleans()):
            fields.append(f"allow: {str(self.draw(st.booleans())).lower()}")
        if self.draw(st.booleans()):
            fields.append(f"initial_gate_state: {self.draw(st.sampled_from(_STATES))}")
        if fields:
            node.options = f"[mediapipe.GateCalculatorOptions.ext] {{ {' '.join(fields)} }}"
        self.handler(node)
        special = self._like(zip(names, outs, strict=True))
        if self.draw(st.booleans()):
            node.outputs.append(Port("STATE_CHANGE", 0, self.stream("bool")))
            # It reports changes at the calls' timestamps: PreStream for the Immediate
            # handler's call for an input's end while another is unstarted.
            if special or any(self.streams[p.name].special for p in node.inputs) or (
                    node.effective_handler() == "ImmediateInputStreamHandler" and
                    len(node.inputs) > 1):
                special.append(node.outputs[-1].name)
        # Disallowed by a side packet, a gate closes its outputs.
        self.add(node, special, closes_early=control == "side")

    def merge(self) -> None:
        first = self.pick()
        if first is None:
            return
        kind = self.kind(first)
        names = [first] + [str(self.pick([kind]))
                           for _ in range(self.draw(st.integers(0, 2)))]
        node = Node("MergeCalculator", [Port("", i, n) for i, n in enumerate(names)],
                    [Port("", 0, self.stream(kind))])
        self.handler(node)
        self.add(node, [node.outputs[0].name] if any(self.streams[n].special for n in names)
                 else ())

    def presence(self) -> None:
        name = self.pick()
        if name is None:
            return
        node = Node("PacketPresenceCalculator", [Port("PACKET", 0, name)],
                    [Port("PRESENCE", 0, self.stream("bool"))], bounds=True)
        self.handler(node)
        # With the Immediate handler, its input's end brings a call at Max.
        immediate = node.effective_handler() == "ImmediateInputStreamHandler"
        self.add(node, [p.name for p in node.outputs] if immediate or self.streams[name].special
                 else ())

    def previous_loopback(self) -> None:
        main = self.pick(regular=True)
        if main is None:
            return
        kind = self.draw(st.sampled_from(("int", "bool")))
        node = Node("PreviousLoopbackCalculator", [Port("MAIN", 0, main), Port("LOOP", 0, "")],
                    [Port("PREV_LOOP", 0, self.stream(kind))], bounds=True,
                    own_handler="ImmediateInputStreamHandler", multi_packet=("PREV_LOOP",))
        loop = self.pick([kind], regular=True)
        if loop is not None and self.draw(st.booleans()):
            node.inputs[1].name = loop  # LOOP from an earlier stream
        else:
            node.back_edges.append(1)
            self.pending_back_edges.append((len(self.nodes), 1, kind))
        self.add(node)

    def flow_limiter(self) -> None:
        frames = self.pick(regular=True)
        if frames is None:
            return
        node = Node("FlowLimiterCalculator", [Port("", 0, frames)],
                    [Port("", 0, self.stream(self.kind(frames)))], bounds=True,
                    own_handler="ImmediateInputStreamHandler", multi_packet=("", "ALLOW"))
        aux = self.pick(regular=True)
        if aux is not None and self.draw(st.integers(0, 3)) == 0:
            node.inputs.append(Port("", 1, aux))
            node.outputs.append(Port("", 1, self.stream(self.kind(aux))))
        node.inputs.append(Port("FINISHED", 0, ""))
        node.back_edges.append(len(node.inputs) - 1)
        if self.draw(st.booleans()):
            node.outputs.append(Port("ALLOW", 0, self.stream("bool")))
        fields = []
        if self.draw(st.booleans()):
            fields.append(f"max_in_flight: {self.draw(st.integers(0, 3))}")
        if self.draw(st.booleans()):
            fields.append(f"max_in_queue: {self.draw(st.integers(0, 2))}")
        if self.draw(st.integers(0, 3)) == 0:
            fields.append(f"in_flight_timeout: {self.draw(st.integers(1, 6))}")
        if fields:
            node.options = ("[mediapipe.FlowLimiterCalculatorOptions.ext] { "
                            f"{' '.join(fields)} }}")
        if self.draw(st.integers(0, 4)) == 0:
            # (With 0, nothing is let through and nothing ever finishes: the cycle through
            # FINISHED never ends by itself, and the run ends once idle.)
            name = f"side{len(self.side_kinds)}"
            self.side_kinds[name] = "max_in_flight"
            self.graph_side[name] = ("int", self.draw(st.integers(0, 3)))
            node.side_inputs.append(Port("MAX_IN_FLIGHT", 0, name))
        self.pending_back_edges.append((len(self.nodes), len(node.inputs) - 1, "*"))
        self.add(node)

    def side_packet_to_stream(self) -> None:
        tag = self.draw(st.sampled_from(_SIDE_TAGS))
        ticks = tag in ("AT_TICK", "AT_FIRST_TICK")
        tick = self.pick() if ticks else None
        if ticks and tick is None:
            return
        kinds = [self.draw(st.sampled_from(("int", "bool")))
                 for _ in range(self.draw(st.integers(1, 2)))]
        node = Node("SidePacketToStreamCalculator", [],
                    [Port(tag, i, self.stream(k)) for i, k in enumerate(kinds)],
                    side_inputs=[Port("", i, self.side(k)) for i, k in enumerate(kinds)])
        outs = [p.name for p in node.outputs]
        special = tag in ("AT_PRESTREAM", "AT_POSTSTREAM")
        if tick is not None:
            node.inputs.append(Port("TICK", 0, tick))
            special = self.streams[tick].special
        if tag == "AT_TIMESTAMP":
            name = f"side{len(self.side_kinds)}"
            self.side_kinds[name] = "int64"
            self.graph_side[name] = ("int64", self.draw(st.integers(0, 30)))
            node.side_inputs.append(Port("TIMESTAMP", 0, name))
        self.add(node, outs if special else (), closes_early=tag == "AT_FIRST_TICK")

    def loop(self) -> None:
        iterable = self.pick(["floats"])
        if iterable is None:
            return
        begin = Node("BeginLoopFloatCalculator", [Port("ITERABLE", 0, iterable)],
                     [Port("ITEM", 0, self.stream("float")),
                      Port("BATCH_END", 0, self.stream("timestamp"))], bounds=True,
                     multi_packet=("ITEM", "CLONE"))
        clone = self.pick(["int", "bool"])
        if clone is not None and not self.streams[clone].special and self.draw(st.booleans()):
            begin.inputs.append(Port("CLONE", 0, clone))
            begin.outputs.append(Port("CLONE", 0, self.stream(self.kind(clone))))
        self.add(begin)
        item, batch_end = begin.outputs[0].name, begin.outputs[1].name
        if self.draw(st.booleans()):  # a loop body: one node over the items
            gate = len(begin.outputs) > 2 and self.kind(begin.outputs[2].name) == "bool"
            body = Node("GateCalculator" if gate else "PassThroughCalculator",
                        [Port("", 0, item)], [Port("", 0, self.stream("float"))])
            if gate:
                body.inputs.append(Port("ALLOW", 0, begin.outputs[2].name))
            self.add(body)
            item = body.outputs[0].name
        end = Node("EndLoopFloatCalculator",
                   [Port("ITEM", 0, item), Port("BATCH_END", 0, batch_end)],
                   [Port("ITERABLE", 0, self.stream("floats"))])
        self.add(end)

    def resolve_back_edges(self) -> None:
        """Connects each back edge to one of the node's outputs or a later stream: mostly one
        that follows the node's first output (what comes back follows the node's own calls
        causally), else any (timing_races discards those that race)."""
        for index, port, kind in self.pending_back_edges:
            node = self.nodes[index]
            main = node.outputs[0].name
            later = {p.name for n in self.nodes[index:] for p in n.outputs}
            fits = [n for n, s in self.streams.items() if n in later and not s.special and (
                kind == "*" or s.kind == kind)]
            follow = [n for n in fits if main in self.streams[n].follows]
            choices = follow if follow and self.draw(st.booleans()) else fits
            node.inputs[port].name = str(self.draw(st.sampled_from(choices)) if choices
                                         else main)


@st.composite
def graphs(draw: Callable[[Any], Any]) -> Graph:
    """A random graph (see the module docstring)."""
    builder = _Builder(draw)
    inputs = [(f"in{i}", draw(st.sampled_from(("int", "int", "bool", "floats"))))
              for i in range(draw(st.integers(1, 3)))]
    builder.streams.update((name, _Stream(kind)) for name, kind in inputs)
    for _ in range(draw(st.integers(1, 6))):
        getattr(builder, draw(st.sampled_from(_NODE_KINDS)))()
    builder.resolve_back_edges()
    return Graph(inputs, builder.graph_side, builder.nodes,
                 {name: s.kind for name, s in builder.streams.items()})


@st.composite
def schedules(draw: Callable[[Any], Any], inputs: list[tuple[str, str]]) -> list[list[Any]]:
    """Packets with increasing timestamps on each input, interleaved, each input closed at a
    random point after its last packet."""
    per_input: list[list[list[Any]]] = []
    for name, kind in inputs:
        ts = draw(st.integers(0, 3))
        events = []
        for _ in range(draw(st.integers(0, 6))):
            value = {"bool": st.booleans(), "floats": st.lists(
                st.integers(0, 9).map(float), max_size=3)}.get(kind, st.integers(0, 9))
            events.append(["add", name, ts, kind, draw(value)])
            ts += draw(st.integers(1, 4))
        events.append(["close", name])
        per_input.append(events)
    steps = []
    while any(per_input):
        pick = draw(st.sampled_from([i for i, events in enumerate(per_input) if events]))
        steps.append(per_input[pick].pop(0))
    return steps


@st.composite
def examples(draw: Callable[[Any], Any]) -> Example:
    """A random deterministic example (graphs with timing races are discarded)."""
    graph = draw(graphs().filter(lambda g: not timing_races(g)))
    steps = draw(schedules(graph.inputs))
    observe = {p.name: graph.kinds[p.name] for n in graph.nodes for p in n.outputs}
    return Example(graph.render(), graph.side_packets, observe, steps,
                   tuple(reached_from_sources(graph)))
