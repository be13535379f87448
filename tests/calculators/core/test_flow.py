"""Core calculators, mirroring MediaPipe's flow_limiter_calculator_test.cc,
previous_loopback_calculator_test.cc, gate_calculator_test.cc and friends."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import pytest

import graphflow as gf
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.proto.mediapipe.calculators.core import flow_limiter_calculator_pb2
from graphflow.testing import payloads, run_calculator, run_graph, timestamps

pytestmark = pytest.mark.usefixtures("no_thread_leak")

WAIT = 30.0  # seconds: a guard against hangs, never a timing assertion


@register_calculator
class GfTSemaphorePassCalculator(Calculator):
    """Passes packets through, each after taking the GO semaphore (MediaPipe's test lambda)."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("GO", threading.Semaphore),)

    def process(self, cc: CalculatorContext) -> None:
        assert cc.side_inputs["GO"].acquire(timeout=WAIT), "never released"
        cc.outputs[0].add_packet(cc.inputs[0])


@register_calculator
class GfTMakePairCalculator(Calculator):
    """MediaPipe's MakePairCalculator: (first, second) payloads, None for an empty input."""

    inputs = (Port("", repeated=True),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add((cc.inputs[0].get(), cc.inputs[1].get()))


@register_calculator
class GfTSumCalculator(Calculator):
    """The sum of the payloads present at each timestamp."""

    inputs = (Port("", repeated=True),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(sum(p.payload for p in cc.inputs if not p.is_empty))


def _add(graph: gf.CalculatorGraph, stream: str, ts: int, payload: Any = None) -> None:
    graph.add_packet_to_input_stream(stream, gf.Packet(ts if payload is None else payload).at(ts))


# --------------------------------------------------------------------------- FlowLimiter

LIMITER = """
input_stream: "in_1"
node {
  calculator: "FlowLimiterCalculator"
  input_side_packet: "OPTIONS:limiter_options"
  input_stream: "in_1"
  input_stream: "FINISHED:out_1"
  input_stream_info: { tag_index: "FINISHED" back_edge: true }
  output_stream: "in_1_sampled"
  output_stream: "ALLOW:allow"
}
node {
  calculator: "GfTSemaphorePassCalculator"
  input_side_packet: "GO:go"
  input_stream: "in_1_sampled"
  output_stream: "out_1"
}
"""


def test_flow_limiter_frames_dropped() -> None:
    """MediaPipe's FlowLimiterCalculatorSemaphoreTest.FramesDropped, step by step."""
    graph = gf.CalculatorGraph(graph_config=LIMITER)
    out: list[gf.Packet[Any]] = []
    graph.observe_output_stream("out_1", lambda name, packet: out.append(packet))
    allow = graph.add_output_stream_poller("allow")
    options = flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions(max_in_flight=1,
                                                                        max_in_queue=1)
    go = threading.Semaphore(0)
    graph.start_run({"limiter_options": options, "go": go})
    _add(graph, "in_1", 0)
    for i in range(9):
        packet = allow.next(WAIT)
        assert packet is not None and packet.payload is True
        _add(graph, "in_1", i * 10 + 5)  # waits in the limiter's queue ...
        _add(graph, "in_1", i * 10 + 10)  # ... and is dropped for this one
        packet = allow.next(WAIT)
        assert packet is not None and packet.payload is False
        assert packet.timestamp == i * 10 + 5
        go.release()
    go.release()
    graph.close_input_stream("in_1")
    graph.wait_until_done(WAIT)
    assert timestamps(out) == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    assert payloads(out) == timestamps(out)  # timestamps pass through unaltered


def test_flow_limiter_max_in_flight_and_queue_from_options() -> None:
    """Frames arriving while max_in_flight frames are in flight wait (max_in_queue) or drop."""
    config = LIMITER.replace('input_side_packet: "OPTIONS:limiter_options"\n', """
      options { [mediapipe.FlowLimiterCalculatorOptions.ext] { max_in_flight: 2 } }
    """)
    graph = gf.CalculatorGraph(graph_config=config)
    allow: list[tuple[int, bool]] = []
    six = threading.Event()

    def observe(name: str, packet: gf.Packet[Any]) -> None:
        allow.append((packet.timestamp, packet.payload))
        if len(allow) == 6:
            six.set()

    graph.observe_output_stream("allow", observe)
    out = graph.add_output_stream_poller("out_1")
    go = threading.Semaphore(0)
    graph.start_run({"go": go})
    for t in range(6):
        _add(graph, "in_1", t)
    assert six.wait(WAIT)  # every frame is decided while the consumer is still blocked
    go.release()  # frame 0 finishes; the limiter lets the next arrival through
    first = out.next(WAIT)
    assert first is not None and first.timestamp == 0
    _add(graph, "in_1", 6)
    for _ in range(2):
        go.release()
    got = [out.next(WAIT), out.next(WAIT)]
    assert [p.timestamp for p in got if p is not None] == [1, 6]
    graph.close_input_stream("in_1")
    graph.wait_until_done(WAIT)
    # Frames 0 and 1 fill the two slots; 2 to 5 arrive while both are in flight and, with no
    # queue (max_in_queue 0), are dropped; 6 arrives after 0 finished.
    assert allow == [(0, True), (1, True), (2, False), (3, False), (4, False), (5, False),
                     (6, True)]


def test_flow_limiter_max_in_flight_side_packet_and_timeout() -> None:
    config = """
    input_stream: "in"
    input_stream: "finished"
    input_side_packet: "max_in_flight"
    node {
      calculator: "FlowLimiterCalculator"
      input_stream: "in"
      input_stream: "FINISHED:finished"
      input_side_packet: "MAX_IN_FLIGHT:max_in_flight"
      output_stream: "out"
      output_stream: "ALLOW:allow"
      options { [mediapipe.FlowLimiterCalculatorOptions.ext] {
        max_in_flight: 1 in_flight_timeout: 100 } }
    }
    """
    graph = gf.CalculatorGraph(graph_config=config, synchronous=True)
    allow: list[tuple[int, bool]] = []
    graph.observe_output_stream("allow", lambda name, p: allow.append((p.timestamp, p.payload)))
    graph.start_run({"max_in_flight": 2})
    for t in (0, 10, 20):
        _add(graph, "in", t)
    graph.wait_until_idle(WAIT)
    assert allow == [(0, True), (10, True), (20, False)]  # two in flight (side packet)
    _add(graph, "finished", 0)  # FINISHED packet at 0: frame 0 is done
    _add(graph, "in", 30)
    graph.wait_until_idle(WAIT)
    assert allow[-1] == (30, True)
    # Frame 10 never finishes: after in_flight_timeout (100 us of timestamps) it is abandoned.
    _add(graph, "in", 50)
    _add(graph, "in", 200)
    graph.wait_until_idle(WAIT)
    assert allow[-2:] == [(50, False), (200, True)]
    graph.close()


# --------------------------------------------------------------------------- PreviousLoopback


def test_previous_loopback_running_sum_with_a_gap() -> None:
    """A real loop: total(T) = in(T) + previous total. A frame whose loop value is missing
    (the gate drops it; only the bound advances) gives an empty PREV_LOOP for the next frame,
    never an older value."""
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "in"
    input_stream: "allow"
    node {
      calculator: "PreviousLoopbackCalculator"
      input_stream: "MAIN:in"
      input_stream: "LOOP:kept"
      input_stream_info: { tag_index: "LOOP" back_edge: true }
      output_stream: "PREV_LOOP:previous"
    }
    node { calculator: "GfTSumCalculator" input_stream: "in" input_stream: "previous"
           output_stream: "total" }
    node { calculator: "GateCalculator" input_stream: "total" input_stream: "ALLOW:allow"
           output_stream: "kept" }
    """)
    totals: list[tuple[int, int]] = []
    graph.observe_output_stream("total", lambda name, p: totals.append((p.timestamp, p.payload)))
    graph.start_run()
    for t, allowed in ((1, True), (2, False), (3, True), (4, True), (5, True)):
        _add(graph, "allow", t, allowed)
        _add(graph, "in", t)
    graph.close()
    # 1; 2 + 1; 3 + nothing (2's total was dropped); 4 + 3; 5 + 7.
    assert totals == [(1, 1), (2, 3), (3, 3), (4, 7), (5, 12)]


# --------------------------------------------------------------------------- Gate

GATE = """
input_stream: "data"
input_stream: "control"
node {
  calculator: "GateCalculator"
  input_stream: "data"
  input_stream: "%s:control"
  output_stream: "out"
  output_stream: "STATE_CHANGE:change"
  %s
}
"""


def _gate(config: str, data: Iterable[int], control: Iterable[tuple[int, bool]],
          side_packets: dict[str, Any] | None = None) -> tuple[list[int], list[tuple[int, bool]]]:
    out = run_graph(config, inputs={"data": [(t, t) for t in data], "control": list(control)},
                    outputs=["out", "change"], side_packets=side_packets)
    return payloads(out["out"]), [(int(p.timestamp), p.payload) for p in out["change"]]


def test_gate_allow_and_disallow_streams() -> None:
    control = [(0, True), (1, False), (2, False), (3, True)]
    assert _gate(GATE % ("ALLOW", ""), range(4), control) == ([0, 3], [(1, False), (3, True)])
    inverted = [(t, not v) for t, v in control]
    assert _gate(GATE % ("DISALLOW", ""), range(4), inverted) == ([0, 3],
                                                                  [(1, False), (3, True)])


def test_gate_empty_control_packets() -> None:
    # Timestamps 1 and 2 have no control packet.
    control = [(0, True), (3, True)]
    assert _gate(GATE % ("ALLOW", ""), range(4), control)[0] == [0, 3]
    as_allow = GATE % ("ALLOW", "options { [mediapipe.GateCalculatorOptions.ext] "
                                "{ empty_packets_as_allow: true } }")
    assert _gate(as_allow, range(4), [(1, False)])[0] == [0, 2, 3]


def test_gate_initial_state() -> None:
    config = GATE % ("ALLOW", "options { [mediapipe.GateCalculatorOptions.ext] "
                              "{ initial_gate_state: GATE_ALLOW } }")
    assert _gate(config, range(3), [(0, False), (1, False), (2, True)]) == (
        [2], [(0, False), (2, True)])  # the first packet already changes the state


def test_gate_side_packets_and_options() -> None:
    side = """
    input_stream: "data"
    input_side_packet: "gate"
    node { calculator: "GateCalculator" input_stream: "data" input_side_packet: "%s:gate"
           output_stream: "out" }
    """
    inputs: dict[str, Iterable[tuple[int, Any]]] = {"data": [(t, t) for t in range(3)]}
    for tag, value, expected in (("ALLOW", True, [0, 1, 2]), ("ALLOW", False, []),
                                 ("DISALLOW", True, []), ("DISALLOW", False, [0, 1, 2])):
        out = run_graph(side % tag, inputs=inputs, side_packets={"gate": value},
                        outputs=["out"])["out"]
        assert payloads(out) == expected, (tag, value)
    by_options = run_calculator("GateCalculator", {"": [(0, "x"), (1, "y")]}, outputs=[""],
                                options="[mediapipe.GateCalculatorOptions.ext] { allow: true }")
    assert payloads(by_options[""]) == ["x", "y"]
    closed = run_calculator("GateCalculator", {"": [(0, "x")]}, outputs=[""])
    assert closed[""] == []  # allow defaults to false


def test_gate_disallowed_by_side_packet_closes_outputs() -> None:
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "data"
    input_stream: "other"
    node { calculator: "GateCalculator" input_stream: "data" input_side_packet: "ALLOW:gate"
           output_stream: "gated" }
    node { calculator: "GfTMakePairCalculator" input_stream: "other" input_stream: "gated"
           output_stream: "pair" }
    """)
    pairs: list[Any] = []
    graph.observe_output_stream("pair", lambda name, p: pairs.append(p.payload))
    graph.start_run({"gate": False})
    _add(graph, "data", 0)
    _add(graph, "other", 5)  # the gate's output is closed: nothing to wait for at 5
    graph.wait_until_idle(WAIT)
    assert pairs == [(5, None)]
    graph.close()


def test_gate_contract() -> None:
    with pytest.raises(gf.ConfigError, match="use only one of ALLOW and DISALLOW"):
        gf.CalculatorGraph(graph_config="""
        input_stream: "d"
        input_stream: "a"
        input_side_packet: "b"
        node { calculator: "GateCalculator" input_stream: "d" input_stream: "ALLOW:a"
               input_side_packet: "DISALLOW:b" output_stream: "o" }
        """)
    with pytest.raises(gf.ConfigError, match="untagged outputs as untagged inputs, got 2 and 1"):
        gf.CalculatorGraph(graph_config="""
        input_stream: "d"
        input_stream: "e"
        node { calculator: "GateCalculator" input_stream: "d" input_stream: "e"
               output_stream: "o" }
        """)


# --------------------------------------------------------------------------- vectors, constants


def test_clip_vector_size() -> None:
    vectors = [(0, [1, 2, 3]), (1, [4]), (2, [])]
    out = run_calculator("ClipVectorSizeCalculator", {"": vectors}, outputs=[""],
                         options="[mediapipe.ClipVectorSizeCalculatorOptions.ext] "
                                 "{ max_vec_size: 2 }")
    assert payloads(out[""]) == [[1, 2], [4], []]
    default = run_calculator("ClipDetectionVectorSizeCalculator", {"": vectors}, outputs=[""])
    assert payloads(default[""]) == [[1], [4], []]  # max_vec_size defaults to 1
    by_side = run_calculator("ClipVectorSizeCalculator", {"": vectors}, outputs=[""],
                             side_packets={"": 3})
    assert payloads(by_side[""]) == [[1, 2, 3], [4], []]
    with pytest.raises(gf.GraphError, match="max_vec_size must be at least 1, got 0"):
        run_calculator("ClipVectorSizeCalculator", {"": vectors}, outputs=[""],
                       options="[mediapipe.ClipVectorSizeCalculatorOptions.ext] "
                               "{ max_vec_size: 0 }")


def test_constant_side_packets() -> None:
    config = """
    input_stream: "tick"
    node {
      calculator: "ConstantSidePacketCalculator"
      output_side_packet: "PACKET:0:i"
      output_side_packet: "PACKET:1:f"
      output_side_packet: "PACKET:2:b"
      output_side_packet: "PACKET:3:s"
      output_side_packet: "PACKET:4:u"
      output_side_packet: "PACKET:5:v"
      options: {
        [mediapipe.ConstantSidePacketCalculatorOptions.ext]: {
          packet { int_value: -2 }
          packet { float_value: 0.5 }
          packet { bool_value: true }
          packet { string_value: "hi" }
          packet { uint64_value: 18446744073709551615 }
          packet { int_vector_value { int_value: 1 int_value: 2 } }
        }
      }
    }
    %s
    """
    nodes = "".join(
        f'node {{ calculator: "SidePacketToStreamCalculator" input_stream: "TICK:tick" '
        f'input_side_packet: "{name}" output_stream: "AT_TICK:out_{name}" }}\n'
        for name in "ifbsuv")
    out = run_graph(config % nodes, inputs={"tick": [(0, None)]},
                    outputs=[f"out_{n}" for n in "ifbsuv"])
    values = [out[f"out_{n}"][0].payload for n in "ifbsuv"]
    assert values == [-2, 0.5, True, "hi", 2**64 - 1, [1, 2]]
    with pytest.raises(gf.ConfigError, match="2 PACKET side outputs but 1 constants"):
        gf.CalculatorGraph(graph_config="""
        node { calculator: "ConstantSidePacketCalculator"
               output_side_packet: "PACKET:0:a" output_side_packet: "PACKET:1:b"
               options { [mediapipe.ConstantSidePacketCalculatorOptions.ext] {
                 packet { int_value: 1 } } } }
        """)


def test_side_packet_to_stream_at_prestream() -> None:
    out = run_graph("""
    input_side_packet: "value"
    output_stream: "out"
    node { calculator: "SidePacketToStreamCalculator" input_side_packet: "value"
           output_stream: "AT_PRESTREAM:out" }
    """, side_packets={"value": 42})["out"]
    assert payloads(out) == [42] and out[0].timestamp == gf.Timestamp.PRESTREAM


def test_pass_through_tags_indices_and_side_packets() -> None:
    out = run_graph("""
    input_stream: "a"
    input_stream: "b"
    input_side_packet: "s"
    node { calculator: "PassThroughCalculator" input_stream: "X:0:a" input_stream: "X:1:b"
           output_stream: "X:0:a_out" output_stream: "X:1:b_out"
           input_side_packet: "X:0:s" output_side_packet: "X:0:s_out" }
    node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:a_out"
           input_side_packet: "s_out" output_stream: "AT_TICK:s_stream" }
    """, inputs={"a": [(1, "a1"), (3, "a3")], "b": [(2, "b2")]}, side_packets={"s": "side"},
        outputs=["a_out", "b_out", "s_stream"])
    assert payloads(out["a_out"]) == ["a1", "a3"] and timestamps(out["a_out"]) == [1, 3]
    assert payloads(out["b_out"]) == ["b2"]
    assert payloads(out["s_stream"]) == ["side", "side"]
    packet = gf.Packet(object()).at(0)
    forwarded = run_graph("""
    input_stream: "a"
    output_stream: "out"
    node { calculator: "PassThroughCalculator" input_stream: "a" output_stream: "out" }
    """, inputs={"a": [(0, packet.payload)]})["out"]
    assert forwarded[0].payload is packet.payload  # no copy


def test_pass_through_side_packets_on_their_own_ports() -> None:
    # MediaPipe's PassThroughCalculator sets each output side packet from the input side
    # packet of the same tag and index, whatever streams the node has (none here on tag S).
    out = run_graph("""
    input_stream: "a"
    input_side_packet: "s"
    node { calculator: "PassThroughCalculator" input_stream: "a" output_stream: "a_out"
           input_side_packet: "S:s" output_side_packet: "S:s_out" }
    node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:a_out"
           input_side_packet: "s_out" output_stream: "AT_TICK:s_stream" }
    """, inputs={"a": [(4, "a4")]}, side_packets={"s": "side"}, outputs=["s_stream"])
    assert payloads(out["s_stream"]) == ["side"] and timestamps(out["s_stream"]) == [4]


def test_counting_source_batches_initial_value_and_increment() -> None:
    """MediaPipe's counting_source_calculator.cc: MAX_COUNT calls of BATCH_SIZE packets, values
    from INITIAL_VALUE up by INCREMENT, each at the timestamp of its value."""
    out = run_graph("""
    output_stream: "out"
    node { calculator: "CountingSourceCalculator" output_stream: "out"
           input_side_packet: "MAX_COUNT:m" input_side_packet: "BATCH_SIZE:b"
           input_side_packet: "INITIAL_VALUE:i" input_side_packet: "INCREMENT:inc" }
    """, side_packets={"m": 3, "b": 2, "i": 5, "inc": 3})["out"]
    assert payloads(out) == timestamps(out) == [5, 8, 11, 14, 17, 20]


@pytest.mark.parametrize(("side_packets", "complaint"), [
    ({"ERROR_ON_OPEN": True}, "error in open"),
    ({"ERROR_COUNT": 2, "BATCH_SIZE": 2}, "error after 4 packets"),
    ({"BATCH_SIZE": 0}, "side packet BATCH_SIZE is 0; it must be at least 1"),
])
def test_counting_source_errors(side_packets: dict[str, Any], complaint: str) -> None:
    """ERROR_ON_OPEN fails open; ERROR_COUNT fails the call after that many; bad sizes fail."""
    ports = " ".join(f'input_side_packet: "{tag}:{tag.lower()}"' for tag in side_packets)
    graph = gf.CalculatorGraph(graph_config=f"""
    node {{ calculator: "CountingSourceCalculator" output_stream: "out" {ports} }}""")
    graph.start_run({tag.lower(): value for tag, value in side_packets.items()})
    with pytest.raises(gf.GraphError, match=complaint):
        graph.wait_until_done(WAIT)
