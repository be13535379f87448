"""Divergences from MediaPipe that the differential suite found, as ordinary tests.

Each case is a minimal example (shrunk by hypothesis, then trimmed by hand) with the result
MediaPipe 0.10.21 gives, written out, so that graphflow is checked without the reference venv;
test_recorded_results_are_mediapipes checks the written results against MediaPipe itself.

FIXED were divergences of calculators, fixed: graphflow must give MediaPipe's result. KNOWN are
divergences of graphflow's runtime with MediaPipe's outcome: strict xfails while their name is in
differential.KNOWN_DIVERGENCES, ordinary tests once fixed (the Immediate handler's, issue 12).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from differential import KNOWN_DIVERGENCES, Example, MediaPipeRunner, run_graphflow

from graphflow.timestamp import Timestamp

PRE = int(Timestamp.PRESTREAM)
POST = int(Timestamp.POSTSTREAM)
MAX = int(Timestamp.MAX)

Streams = dict[str, list[tuple[int, Any]]]

FIXED: dict[str, tuple[Example, Streams]] = {
    # The bug: PreviousLoopback kept only the newest LOOP packet.
    "previous-loopback-with-loop-ahead-of-main": (Example("""
        input_stream: "main"
        input_stream: "loop"
        node { calculator: "PreviousLoopbackCalculator" input_stream: "MAIN:main"
               input_stream: "LOOP:loop" output_stream: "PREV_LOOP:prev" }
        """, {}, {"prev": "int"}, [
        ["add", "loop", 0, "int", 10], ["add", "loop", 1, "int", 11], ["close", "loop"],
        ["add", "main", 0, "bool", True], ["add", "main", 1, "bool", True],
        ["add", "main", 2, "bool", True], ["add", "main", 3, "bool", True],
        ["close", "main"]]),
        {"prev": [(1, 10), (2, 11)]}),
    # Hung in graphflow (issue 12): a back edge closed before its first packet; the
    # Immediate handler waited for every input to settle once before any bound-only call.
    "previous-loopback-closed-before-its-first-packet": (Example("""
        input_stream: "in"
        node { calculator: "PreviousLoopbackCalculator" input_stream: "MAIN:in"
               input_stream: "LOOP:out"
               input_stream_info { tag_index: "LOOP" back_edge: true }
               output_stream: "PREV_LOOP:prev" }
        node { calculator: "PassThroughCalculator" input_stream: "prev" output_stream: "out" }
        """, {}, {"out": "int"}, [["close", "in"]]),
        {"out": []}),
    # UNSPECIFIED is a state of its own: the first call is a change from it.
    "gate-unspecified-initial-state-reports-the-first-state": (Example("""
        input_stream: "in"
        node { calculator: "GateCalculator" input_stream: "in" output_stream: "out"
               output_stream: "STATE_CHANGE:change"
               options { [mediapipe.GateCalculatorOptions.ext] {
                 initial_gate_state: UNSPECIFIED } } }
        """, {}, {"out": "int", "change": "bool"},
        [["add", "in", 1, "int", 5], ["add", "in", 2, "int", 6], ["close", "in"]]),
        {"out": [], "change": [(1, False)]}),
    # MergeCalculator was missing.
    "merge-takes-the-first-input-with-a-packet": (Example("""
        input_stream: "a"
        input_stream: "b"
        node { calculator: "MergeCalculator" input_stream: "a" input_stream: "b"
               output_stream: "out" }
        """, {}, {"out": "int"}, [
        ["add", "a", 1, "int", 1], ["add", "b", 1, "int", 2], ["add", "b", 2, "int", 3],
        ["close", "a"], ["add", "b", 4, "int", 4], ["close", "b"]]),
        {"out": [(1, 1), (2, 3), (4, 4)]}),
    # PacketPresenceCalculator was missing.
    "packet-presence-of-gated-packets": (Example("""
        input_stream: "in"
        input_stream: "allow"
        node { calculator: "GateCalculator" input_stream: "in" input_stream: "ALLOW:allow"
               output_stream: "gated" }
        node { calculator: "PacketPresenceCalculator" input_stream: "PACKET:gated"
               output_stream: "PRESENCE:presence" }
        """, {}, {"gated": "int", "presence": "bool"}, [
        ["add", "in", 1, "int", 1], ["add", "allow", 1, "bool", False],
        ["add", "in", 2, "int", 2], ["add", "allow", 2, "bool", True],
        ["close", "in"], ["close", "allow"]]),
        {"gated": [(2, 2)], "presence": [(1, False), (2, True)]}),
    # SidePacketToStream knew only AT_TICK and AT_PRESTREAM, with one output.
    "side-packet-to-stream-at-zero-poststream-timestamp": (Example("""
        input_side_packet: "v"
        input_side_packet: "w"
        input_side_packet: "t"
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "v"
               output_stream: "AT_ZERO:zero" }
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "v"
               input_side_packet: "w" output_stream: "AT_POSTSTREAM:0:post0"
               output_stream: "AT_POSTSTREAM:1:post1" }
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "w"
               input_side_packet: "TIMESTAMP:t" output_stream: "AT_TIMESTAMP:at" }
        """, {"v": ("int", 7), "w": ("bool", True), "t": ("int64", 42)},
        {"zero": "int", "post0": "int", "post1": "bool", "at": "bool"}, []),
        {"zero": [(0, 7)], "post0": [(POST, 7)], "post1": [(POST, True)], "at": [(42, True)]}),
    "side-packet-to-stream-at-first-tick": (Example("""
        input_stream: "tick"
        input_side_packet: "v"
        node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:tick"
               input_side_packet: "v" output_stream: "AT_FIRST_TICK:out" }
        """, {"v": ("int", 7)}, {"out": "int"},
        [["add", "tick", 3, "int", 0], ["add", "tick", 4, "int", 0], ["close", "tick"]]),
        {"out": [(3, 7)]}),
    # FlowLimiter took one frame input only.
    "flow-limiter-auxiliary-input": (Example("""
        input_stream: "frames"
        input_stream: "aux"
        node { calculator: "FlowLimiterCalculator" input_stream: "frames" input_stream: "aux"
               input_stream: "FINISHED:done"
               input_stream_info { tag_index: "FINISHED" back_edge: true }
               output_stream: "out" output_stream: "aux_out" output_stream: "ALLOW:allow" }
        node { calculator: "GateCalculator" input_stream: "out" output_stream: "done" }
        """, {}, {"out": "int", "aux_out": "int", "allow": "bool", "done": "int"}, [
        ["add", "aux", 1, "int", 1], ["add", "frames", 2, "int", 2], ["add", "aux", 2, "int", 2],
        ["add", "aux", 3, "int", 3], ["add", "frames", 4, "int", 4], ["close", "frames"],
        ["add", "aux", 5, "int", 5], ["close", "aux"]]),
        {"out": [(2, 2), (4, 4)], "aux_out": [(1, 1), (2, 2), (3, 3), (5, 5)],
         "allow": [(2, True), (4, True)], "done": []}),
    # MergeCalculator had no timestamp offset (MediaPipe's api2 nodes have 0 by default): the
    # gate's bounds did not reach PacketPresence through it.
    "merge-passes-bounds-on": (Example("""
        input_stream: "in"
        node { calculator: "GateCalculator" input_stream: "in" output_stream: "gated"
               options { [mediapipe.GateCalculatorOptions.ext] { allow: false } } }
        node { calculator: "MergeCalculator" input_stream: "gated" output_stream: "merged" }
        node { calculator: "PacketPresenceCalculator" input_stream: "PACKET:merged"
               output_stream: "PRESENCE:presence" }
        """, {}, {"presence": "bool"},
        [["add", "in", 3, "int", 1], ["add", "in", 5, "int", 1], ["close", "in"]]),
        {"presence": [(3, False), (5, False)]}),
}

# MediaPipe's outcome, and its streams when it ran to the end; keyed by the divergence's name
# (with ":variant" where a divergence has several cases).
KNOWN: dict[str, tuple[Example, tuple[str, Streams | None]]] = {
    # Hung in graphflow: its input closes before anything reached the limiter.
    "immediate-last-call": (Example("""
        input_stream: "in"
        node { calculator: "FlowLimiterCalculator" input_stream: "in"
               input_stream: "FINISHED:out"
               input_stream_info { tag_index: "FINISHED" back_edge: true }
               output_stream: "out" }
        """, {}, {"out": "int"}, [["close", "in"]]),
        ("ok", {"out": []})),
    # Hung in graphflow: MAIN only moved its bound, PreviousLoopback was never called.
    "immediate-per-input-settled": (Example("""
        input_stream: "in"
        node { calculator: "GateCalculator" input_stream: "in" output_stream: "main" }
        node { calculator: "PreviousLoopbackCalculator" input_stream: "MAIN:main"
               input_stream: "LOOP:prev"
               input_stream_info { tag_index: "LOOP" back_edge: true }
               output_stream: "PREV_LOOP:prev" }
        """, {}, {"main": "int", "prev": "int"},
        [["add", "in", 0, "int", 1], ["add", "in", 1, "int", 2], ["close", "in"]]),
        ("ok", {"main": [], "prev": []})),
    # The auxiliary input that gets nothing holds graphflow's settled timestamp back, so the
    # gate's bound on FINISHED never finishes frame 0 and frame 1 is dropped.
    "immediate-per-input-settled:flow-limiter-auxiliary": (Example("""
        input_stream: "frames"
        input_stream: "aux"
        node { calculator: "FlowLimiterCalculator" input_stream: "frames" input_stream: "aux"
               input_stream: "FINISHED:finished"
               input_stream_info { tag_index: "FINISHED" back_edge: true }
               output_stream: "out" output_stream: "aux_out" }
        node { calculator: "GateCalculator" input_stream: "out" output_stream: "finished" }
        """, {}, {"out": "int"}, [
        ["add", "frames", 0, "int", 0], ["add", "frames", 1, "int", 0], ["close", "frames"],
        ["close", "aux"]]),
        ("ok", {"out": [(0, 0), (1, 0)]})),
    # MediaPipe's call for b's end moves a_out's bound to 4: the packet at 3 fails the run.
    "immediate-done-call": (Example("""
        input_stream: "a"
        input_stream: "b"
        node { calculator: "GateCalculator" input_stream: "a" input_stream: "b"
               output_stream: "a_out" output_stream: "b_out"
               input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" }
               options { [mediapipe.GateCalculatorOptions.ext] { allow: true } } }
        """, {}, {"a_out": "int", "b_out": "int"},
        [["add", "a", 2, "int", 1], ["close", "b"], ["add", "a", 3, "int", 2],
         ["close", "a"]]),
        ("error", None)),
    # graphflow called again at 3 and failed on a second packet at 3.
    "immediate-packet-settled": (Example("""
        input_stream: "in"
        node { calculator: "PacketPresenceCalculator" input_stream: "PACKET:in"
               output_stream: "PRESENCE:presence"
               input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" } }
        """, {}, {"presence": "bool"}, [["add", "in", 3, "int", 4], ["close", "in"]]),
        ("ok", {"presence": [(3, True), (MAX, False)]})),
    # Hung in graphflow: nothing ever finished, ALLOW never closed; MediaPipe ends when idle.
    "done-when-idle": (Example("""
        input_stream: "in"
        input_side_packet: "max_in_flight"
        node { calculator: "FlowLimiterCalculator" input_stream: "in"
               input_stream: "FINISHED:allow"
               input_stream_info { tag_index: "FINISHED" back_edge: true }
               input_side_packet: "MAX_IN_FLIGHT:max_in_flight"
               output_stream: "out" output_stream: "ALLOW:allow"
               options { [mediapipe.FlowLimiterCalculatorOptions.ext] { max_in_queue: 1 } } }
        """, {"max_in_flight": ("int", 0)}, {"out": "int", "allow": "bool"},
        [["add", "in", 0, "int", 0], ["close", "in"]]),
        ("ok", {"out": [], "allow": []})),
    # graphflow made no call for allow's end while "in" was unstarted; MediaPipe calls at
    # PreStream, where the gate, disallowed, reports its state change.
    "immediate-done-call:at-prestream": (Example("""
        input_stream: "in"
        input_stream: "allow"
        node { calculator: "GateCalculator" input_stream: "in" input_stream: "ALLOW:allow"
               output_stream: "out" output_stream: "STATE_CHANGE:change"
               input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" }
               options { [mediapipe.GateCalculatorOptions.ext] {
                 initial_gate_state: GATE_ALLOW } } }
        """, {}, {"out": "int", "change": "bool"}, [
        ["close", "allow"], ["add", "in", 5, "int", 1], ["add", "in", 6, "int", 2],
        ["close", "in"]]),
        ("ok", {"out": [], "change": [(PRE, False)]})),
    # MediaPipe fails: a packet at PostStream must be the only one of its stream.
    "poststream-only-packet": (Example("""
        input_stream: "in"
        input_side_packet: "v"
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "v"
               output_stream: "AT_POSTSTREAM:post" }
        node { calculator: "MergeCalculator" input_stream: "in" input_stream: "post"
               output_stream: "merged" }
        """, {"v": ("int", 7)}, {"merged": "int"},
        [["add", "in", 3, "int", 1], ["close", "in"]]),
        ("error", None)),
    # MediaPipe fails (a packet after PreStream on "merged"); graphflow sent both.
    "after-prestream": (Example("""
        input_stream: "in"
        input_side_packet: "v"
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "v"
               output_stream: "AT_PRESTREAM:pre" }
        node { calculator: "MergeCalculator" input_stream: "pre" input_stream: "in"
               output_stream: "merged" }
        """, {"v": ("int", 7)}, {"merged": "int"},
        [["add", "in", 3, "int", 1], ["close", "in"]]),
        ("error", None)),
    # Sources run layer by layer (source_layer), whatever their order in the graph: the
    # layer-1 source starts only once the layer-0 source has closed and the graph idles, so
    # the Immediate-handler merge sees 0 before 5. graphflow ran both at once, the first
    # listed first: the packet at 5 came first and the one at 0 then failed the run.
    "source-layers": (Example("""
        input_side_packet: "a"
        input_side_packet: "b"
        input_side_packet: "at"
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "b"
               input_side_packet: "TIMESTAMP:at" output_stream: "AT_TIMESTAMP:late"
               source_layer: 1 }
        node { calculator: "SidePacketToStreamCalculator" input_side_packet: "a"
               output_stream: "AT_ZERO:early" source_layer: 0 }
        node { calculator: "MergeCalculator" input_stream: "late" input_stream: "early"
               output_stream: "merged"
               input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" } }
        """, {"a": ("int", 1), "b": ("int", 2), "at": ("int64", 5)}, {"merged": "int"}, []),
        ("ok", {"merged": [(0, 1), (5, 2)]})),
}


def _streams(result: dict[str, Any]) -> Streams:
    return {name: [(ts, value) for ts, value in packets]
            for name, packets in result["streams"].items()}


@pytest.mark.parametrize("name", FIXED)
def test_graphflow_gives_mediapipes_result(name: str) -> None:
    example, expected = FIXED[name]
    ours = run_graphflow(example)
    assert ours["outcome"] == "ok", ours["message"]
    assert _streams(ours) == expected


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True,
                                               reason=KNOWN_DIVERGENCES[name.split(":")[0]]))
    if name.split(":")[0] in KNOWN_DIVERGENCES else name
    for name in KNOWN])
def test_known_divergence(name: str) -> None:
    example, (outcome, expected) = KNOWN[name]
    ours = run_graphflow(example)
    assert ours["outcome"] == outcome, ours["message"]
    if expected is not None:
        assert _streams(ours) == expected


def test_every_known_divergence_has_a_case() -> None:
    """Each entry of KNOWN_DIVERGENCES is shown by a case here."""
    assert set(KNOWN_DIVERGENCES) <= {name.split(":")[0] for name in KNOWN}


@pytest.fixture(scope="module")
def mediapipe(mediapipe_python: pathlib.Path) -> Iterator[MediaPipeRunner]:
    """One MediaPipe process for the module."""
    runner = MediaPipeRunner(mediapipe_python)
    yield runner
    runner.close()


@pytest.mark.parametrize("name", [*FIXED, *KNOWN])
def test_recorded_results_are_mediapipes(mediapipe: MediaPipeRunner, name: str) -> None:
    """The results written above are what MediaPipe gives (run in single-threaded and default
    executors, since some of them involve sources)."""
    example, recorded = FIXED[name] if name in FIXED else (KNOWN[name][0], KNOWN[name][1][1])
    outcome = "ok" if name in FIXED else KNOWN[name][1][0]
    for threads in ("", "num_threads: 1\n"):
        theirs = mediapipe.run(Example(threads + example.graph, example.side_packets,
                                       example.observe, example.steps))
        assert theirs["outcome"] == outcome, theirs.get("message")
        if recorded is not None:
            assert _streams(theirs) == recorded
