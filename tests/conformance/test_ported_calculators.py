"""MediaPipe's C++ tests of the core calculators, ported (their expectations, not their code).

From mediapipe/calculators/core/ at v0.10.21, test cases ported of those in the file (every one
passes): previous_loopback_calculator_test.cc 12/12, gate_calculator_test.cc 17/17,
merge_calculator_test.cc 4/4, packet_presence_calculator_test.cc 1/1,
begin_end_loop_calculator_graph_test.cc 13/13 (tensors are numpy arrays),
side_packet_to_stream_calculator_test.cc 14/14 and flow_limiter_calculator_test.cc 7/7. Each
test names the cases it ports; MediaPipe's helper calculators are the Test* ones of ported.py.

FlowLimiterCalculatorTest runs on MediaPipe's simulation clock: here a SimulatedTime (a
graphflow SimulationClock that the test moves) stands in for it, and a TestSleepCalculator
serves frames in simulated time, so the runs are deterministic. What MediaPipe checks of
AuxiliaryInputs' bound-only outputs (empty packets its observers see) is left out: graphflow's
observers see packets only."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from google.protobuf import text_format
from ported import Runs, SimulatedTime, StepRun

import graphflow as gf
from graphflow.proto.mediapipe.calculators.core import flow_limiter_calculator_pb2
from graphflow.testing import run_calculator, run_graph
from graphflow.timestamp import Timestamp

MAX = int(Timestamp.MAX)

# --------------------------------------------------------------------------- PreviousLoopback

LOOP_AND_PAIR = """
input_stream: "in"
node {
  calculator: "PreviousLoopbackCalculator"
  input_stream: "MAIN:in"
  input_stream: "LOOP:out"
  input_stream_info: { tag_index: "LOOP" back_edge: true }
  output_stream: "PREV_LOOP:previous"
}
node {
  calculator: "PassThroughCalculator"
  input_stream: "in"
  input_stream: "previous"
  output_stream: "out"
  output_stream: "previous2"
}
node {
  calculator: "TestMakePairCalculator"
  input_stream: "out"
  input_stream: "previous2"
  output_stream: "pair"
}
"""


def test_previous_loopback_correct_timestamps(step_run: Runs) -> None:
    """PreviousLoopbackCalculator.CorrectTimestamps."""
    run = step_run(LOOP_AND_PAIR, ["pair"])
    expected: list[tuple[int, tuple[int, int | None]]] = []
    previous = None
    for n in (1, 2, 5, 15):
        run.add("in", n, n)
        run.idle()
        expected.append((n, (n, previous)))
        assert run.out["pair"] == expected
        previous = n
    run.finish()


def test_previous_loopback_closes_correctly(step_run: Runs) -> None:
    """PreviousLoopbackCalculator.ClosesCorrectly: every stream of the loop closes once the
    graph's input does, so a summary sent in Close gets out."""
    run = step_run(LOOP_AND_PAIR.replace(
        'calculator: "TestMakePairCalculator"\n  input_stream: "out"\n'
        '  input_stream: "previous2"\n  output_stream: "pair"',
        'calculator: "TestPacketOnCloseCalculator"\n  input_stream: "out"\n'
        '  output_stream: "close_out"'), ["close_out"])
    for n in (1, 2, 5, 15):
        run.add("in", n, n)
        run.idle()
    assert run.timestamps("close_out") == [1, 2, 5, 15]
    run.graph.close_all_input_streams()
    run.idle()
    assert run.timestamps("close_out") == [1, 2, 5, 15, MAX]
    assert run.out["close_out"][-1] == (MAX, 23)
    run.finish()


@pytest.mark.parametrize(("packets", "expected"), [
    ([(MAX, 1)], [(MAX, (1, None))]),  # ProcessesMaxTimestamp
    ([(int(Timestamp.MIN), 1), (MAX, 2)],  # ProcessesMaxTimestampNonEmptyPrevious
     [(int(Timestamp.MIN), (1, None)), (MAX, (2, 1))]),
])
def test_previous_loopback_processes_max_timestamp(step_run: Runs, packets: list[tuple[int, int]],
                                                   expected: list[Any]) -> None:
    """PreviousLoopbackCalculator.ProcessesMaxTimestamp(NonEmptyPrevious): MAIN at MAX."""
    run = step_run(LOOP_AND_PAIR.replace('input_stream: "previous2"\n  output_stream: "pair"',
                                        'input_stream: "previous"\n  output_stream: "pair"'),
                  ["pair"])
    for ts, value in packets:
        run.add("in", ts, value)
    run.idle()
    assert run.out["pair"] == expected
    run.finish()


def test_previous_loopback_empty_loop_forever(step_run: Runs) -> None:
    """PreviousLoopbackCalculator.EmptyLoopForever: a LOOP that is its own PREV_LOOP never
    blocks the nodes downstream."""
    run = step_run("""
    input_stream: "in"
    node {
      calculator: "PreviousLoopbackCalculator"
      input_stream: "MAIN:in"
      input_stream: "LOOP:previous"
      input_stream_info: { tag_index: "LOOP" back_edge: true }
      output_stream: "PREV_LOOP:previous"
    }
    node {
      calculator: "PassThroughCalculator"
      input_stream: "in"
      input_stream: "previous"
      output_stream: "out"
      output_stream: "previous2"
    }
    node { calculator: "TestPacketOnCloseCalculator" input_stream: "out"
           output_stream: "close_out" }
    """, ["close_out"])
    for main_ts in range(50):
        run.add("in", main_ts, main_ts)
        run.idle()
        assert run.timestamps("close_out") == list(range(main_ts + 1))
    run.finish()


PROCESSING_TIMESTAMPS = """
input_stream: "input"
input_stream: "force_main_empty"
input_stream: "force_loop_empty"
node {
  calculator: "GateCalculator"
  input_stream: "input"
  input_stream: "DISALLOW:force_main_empty"
  output_stream: "main"
}
node {
  calculator: "PreviousLoopbackCalculator"
  input_stream: "MAIN:main"
  input_stream: "LOOP:loop"
  input_stream_info: { tag_index: "LOOP" back_edge: true }
  output_stream: "PREV_LOOP:prev_loop"
}
node {
  calculator: "PassThroughCalculator"
  input_stream: "input"
  input_stream: "prev_loop"
  output_stream: "passed_through_input"
  output_stream: "passed_through_prev_loop"
}
node {
  calculator: "GateCalculator"
  input_stream: "input"
  input_stream: "DISALLOW:force_loop_empty"
  output_stream: "loop"
}
node {
  calculator: "TestMakePairCalculator"
  input_stream: "passed_through_input"
  input_stream: "passed_through_prev_loop"
  output_stream: "pairs"
}
"""


@pytest.mark.parametrize(("steps", "previous"), [
    # MultiplePacketsEmptyMainNonEmptyLoop
    ([(1, True, False), (2, True, False), (3, True, False), (5, True, False),
      (15, True, False)], [None, None, None, None, None]),
    # MultiplePacketsNonEmptyMainEmptyLoop
    ([(1, False, True), (2, False, True), (3, False, True), (5, False, True),
      (15, False, True)], [None, None, None, None, None]),
    # MultiplePacketsAlteringMainNonEmptyLoop
    ([(1, False, False), (2, True, False), (3, False, False), (5, False, False),
      (15, True, False)], [None, None, 1, 3, None]),
    # MultiplePacketsNonEmptyMainAlteringLoop
    ([(1, False, False), (2, False, True), (3, False, False), (5, False, True),
      (15, False, False)], [None, 1, None, 3, None]),
])
def test_previous_loopback_processing_timestamps(step_run: Runs,
                                                 steps: list[tuple[int, bool, bool]],
                                                 previous: list[int | None]) -> None:
    """PreviousLoopbackCalculatorProcessingTimestampsTest: MAIN and LOOP that only move their
    bounds at some timestamps (a gate in front) give empty PREV_LOOPs, never stale ones."""
    run = step_run(PROCESSING_TIMESTAMPS, ["pairs"])
    expected = []
    for (ts, main_empty, loop_empty), prev in zip(steps, previous, strict=True):
        run.add("input", ts, ts)
        run.add("force_main_empty", ts, main_empty)
        run.add("force_loop_empty", ts, loop_empty)
        run.idle()
        expected.append((ts, (ts, prev)))
        assert run.out["pairs"] == expected
    run.finish()


def test_previous_loopback_last_of_many_altering_main_and_loop(step_run: Runs) -> None:
    """PreviousLoopbackCalculatorProcessingTimestampsTest.
    MultiplePacketsCheckIfLastCorrectAlteringMainAlteringLoop (1000 packets)."""
    run = step_run(PROCESSING_TIMESTAMPS, ["pairs"])
    count = 1000
    for i in range(count + 2):
        ts = i + 1
        run.add("input", ts, ts)
        run.add("force_main_empty", ts, i < count and i % 3 == 0)
        run.add("force_loop_empty", ts, i < count and i % 2 == 0)
    run.idle()
    assert run.out["pairs"][-1] == (count + 2, (count + 2, count + 1))
    run.finish()


DELAY = """
input_stream: "input"
input_stream: "delay_next_output"
node {
  calculator: "PreviousLoopbackCalculator"
  input_stream: "MAIN:input"
  input_stream: "LOOP:loop"
  input_stream_info: { tag_index: "LOOP" back_edge: true }
  output_stream: "PREV_LOOP:prev_loop"
}
node {
  calculator: "PassThroughCalculator"
  input_stream: "input"
  input_stream: "prev_loop"
  output_stream: "passed_through_input"
  output_stream: "passed_through_prev_loop"
}
node {
  calculator: "TestDroppingGateCalculator"
  input_stream: "input"
  input_stream: "DISALLOW:delay_next_output"
  output_stream: "loop"
}
node {
  calculator: "TestMakePairCalculator"
  input_stream: "passed_through_input"
  input_stream: "passed_through_prev_loop"
  output_stream: "pairs"
}
"""


@pytest.mark.parametrize(("delays", "seen"), [
    # MultipleDelayedOutputs
    ([True, True, True, False, False],
     [[(1, None)], [(1, None)], [(1, None)],
      [(1, None), (2, None), (3, None), (5, None)],
      [(1, None), (2, None), (3, None), (5, None), (15, 5)]]),
    # NonDelayedOutputFollowedByMultipleDelayedOutputs
    ([False, True, True, False, False],
     [[(1, None)], [(1, None), (2, 1)], [(1, None), (2, 1)],
      [(1, None), (2, 1), (3, None), (5, None)],
      [(1, None), (2, 1), (3, None), (5, None), (15, 5)]]),
])
def test_previous_loopback_delayed_loop(step_run: Runs, delays: list[bool],
                                        seen: list[list[tuple[int, int | None]]]) -> None:
    """PreviousLoopbackCalculatorDelayBehaviorTest: while LOOP neither sends nor moves its
    bound, PREV_LOOP waits; once it moves, the waiting outputs come out together."""
    run = step_run(DELAY, ["pairs"])
    for ts, delay, expected in zip((1, 2, 3, 5, 15), delays, seen, strict=True):
        run.add("input", ts, ts)
        run.add("delay_next_output", ts, delay)
        run.idle()
        assert run.out["pairs"] == [(t, (t, prev)) for t, prev in expected]
    run.finish()


# --------------------------------------------------------------------------- Gate


def _gate(node_extra: str, data: list[tuple[int, bool]], control: list[tuple[int, bool]] | None,
          control_tag: str = "", side: dict[str, bool] | None = None,
          outputs: tuple[str, ...] = ("",)) -> dict[str, list[tuple[int, bool]]]:
    inputs: dict[str, Any] = {"": data} if data else {}
    if control is not None:
        inputs[control_tag] = control
    result = run_calculator("GateCalculator", inputs, outputs=list(outputs),
                            side_packets=side, options=node_extra)
    return {port: [(int(p.timestamp), p.payload) for p in packets]
            for port, packets in result.items()}


DATA = [(42, True), (43, False)]


@pytest.mark.parametrize(("options", "side", "passed"), [
    ("[mediapipe.GateCalculatorOptions.ext] { allow: true }", None, True),  # ...ToTrue
    ("[mediapipe.GateCalculatorOptions.ext] { allow: false }", None, False),  # ...SetToFalse
    ("", None, False),  # DisallowByALLOWOptionNotSet
    ("", {"ALLOW": True}, True),  # AllowByALLOWSidePacketSetToTrue
    ("", {"DISALLOW": False}, True),  # AllowByDisallowSidePacketSetToFalse
    ("", {"ALLOW": False}, False),  # DisallowByALLOWSidePacketSetToFalse
    ("", {"DISALLOW": True}, False),  # DisallowByDISALLOWSidePacketSetToTrue
])
def test_gate_options_and_side_packets(options: str, side: dict[str, bool] | None,
                                       passed: bool) -> None:
    """GateCalculatorTest: the options' allow, or an ALLOW / DISALLOW side packet."""
    assert _gate(options, DATA, None, side=side)[""] == (DATA if passed else [])


CONTROL = [(42, True), (43, False), (44, True), (45, False)]


@pytest.mark.parametrize(("tag", "passed"), [("ALLOW", [42, 44]), ("DISALLOW", [43, 45])])
def test_gate_control_stream(tag: str, passed: list[int]) -> None:
    """GateCalculatorTest.Allow / Disallow."""
    out = _gate("", [(t, True) for t, _ in CONTROL], CONTROL, tag)[""]
    assert out == [(t, True) for t in passed]


@pytest.mark.parametrize(("tag", "control", "with_data"), [
    ("ALLOW", [False, True, True, False], True),  # AllowWithStateChange
    ("ALLOW", [False, True, True, False], False),  # AllowWithStateChangeNoDataStreams
    ("DISALLOW", [True, False, False, True], True),  # DisallowWithStateChange
    ("DISALLOW", [True, False, False, True], False),  # DisallowWithStateChangeNoDataStreams
])
def test_gate_state_change(tag: str, control: list[bool], with_data: bool) -> None:
    """GateCalculatorTest.*WithStateChange*: STATE_CHANGE at 43 (allow) and 45 (disallow)."""
    stamps = [(42 + i, c) for i, c in enumerate(control)]
    data = [(t, True) for t, _ in stamps] if with_data else []
    outputs = ("", "STATE_CHANGE") if with_data else ("STATE_CHANGE",)
    assert _gate("", data, stamps, tag, outputs=outputs)["STATE_CHANGE"] == \
        [(43, True), (45, False)]


@pytest.mark.parametrize(("tag", "value", "options", "changes"), [
    ("DISALLOW", False, "", []),  # DisallowInitialNoStateTransition
    ("ALLOW", True, "", []),  # AllowInitialNoStateTransition
    ("ALLOW", True,  # StateChangeTriggeredWithInitialGateStateOption
     "[mediapipe.GateCalculatorOptions.ext] { initial_gate_state: GATE_DISALLOW }",
     [(42, True)]),
])
def test_gate_initial_state(tag: str, value: bool, options: str,
                            changes: list[tuple[int, bool]]) -> None:
    """GateCalculatorTest: the first call is a state change only from a set initial state."""
    out = _gate(options, [(42, True)], [(42, value)], tag, outputs=("", "STATE_CHANGE"))
    assert out["STATE_CHANGE"] == changes


@pytest.mark.parametrize("controls", [
    ('input_stream: "ALLOW:g"', 'input_stream: "DISALLOW:g"'),
    ('input_side_packet: "ALLOW:g"', 'input_side_packet: "DISALLOW:g"'),
    ('input_stream: "ALLOW:g"', 'input_side_packet: "ALLOW:g"'),
    ('input_stream: "DISALLOW:g"', 'input_side_packet: "DISALLOW:g"'),
    ('input_stream: "ALLOW:g"', 'input_side_packet: "DISALLOW:g"'),
    ('input_stream: "DISALLOW:g"', 'input_side_packet: "ALLOW:g"'),
])
def test_gate_invalid_inputs(controls: tuple[str, str]) -> None:
    """GateCalculatorTest.InvalidInputs: one ALLOW or DISALLOW, stream or side packet."""
    with pytest.raises(gf.ConfigError, match="only one of ALLOW and DISALLOW"):
        gf.CalculatorGraph(graph_config=f"""
        input_stream: "in"
        input_stream: "g"
        input_side_packet: "g"
        node {{ calculator: "GateCalculator" input_stream: "in" output_stream: "out"
                {controls[0]} {controls[1]} }}""")


# --------------------------------------------------------------------------- Merge


@pytest.mark.parametrize("node", [
    'calculator: "MergeCalculator" output_stream: "merged_output"',  # NoInputStreamsMustFail
    # ExpectExactlyOneOutputStream
    'calculator: "MergeCalculator" input_stream: "input1" input_stream: "input2"',
    'calculator: "MergeCalculator" input_stream: "input1" input_stream: "input2" '
    'output_stream: "output1" output_stream: "output2"',
])
def test_merge_needs_inputs_and_one_output(node: str) -> None:
    """InvariantMergeInputStreamsCalculator.NoInputStreamsMustFail /
    ExpectExactlyOneOutputStream."""
    with pytest.raises(gf.ConfigError, match="MergeCalculator"):
        gf.CalculatorGraph(graph_config=f'input_stream: "input1"\ninput_stream: "input2"\n'
                                        f"node {{ {node} }}")


@pytest.mark.parametrize(("inputs", "expected"), [
    # TestMergingTwoStreams: ints and floats
    ({"0": [(10, 10), (20, 20), (30, 30)], "1": [(5, 5.5), (35, 35.5)]},
     [(5, 5.5), (10, 10), (20, 20), (30, 30), (35, 35.5)]),
    # TestMergingThreeStreams: int, float, str
    ({"0": [(30, 30)], "1": [(20, 20.5)], "2": [(10, "c")]},
     [(10, "c"), (20, 20.5), (30, 30)]),
])
def test_merge_streams_of_different_types(inputs: dict[str, list[tuple[int, Any]]],
                                          expected: list[tuple[int, Any]]) -> None:
    """MergeCalculator: TestMergingTwoStreams / TestMergingThreeStreams."""
    names = [f"in{k}" for k in inputs]
    config = "\n".join(f'input_stream: "{n}"' for n in names) + \
        '\nnode { calculator: "MergeCalculator" ' + \
        " ".join(f'input_stream: "{n}"' for n in names) + ' output_stream: "out" }'
    out = run_graph(config, inputs={f"in{k}": v for k, v in inputs.items()}, outputs=["out"])
    assert [(int(p.timestamp), p.payload) for p in out["out"]] == expected


# --------------------------------------------------------------------------- PacketPresence


def test_packet_presence_after_a_gate(step_run: Runs) -> None:
    """PacketPresenceCalculator test: false where the gate let only the bound through."""
    run = step_run("""
    input_stream: "allow"
    input_stream: "value"
    node { calculator: "GateCalculator" input_stream: "value" input_stream: "ALLOW:allow"
           output_stream: "gated_value" }
    node { calculator: "PacketPresenceCalculator" input_stream: "PACKET:gated_value"
           output_stream: "PRESENCE:presence" }
    """, ["presence"])
    run.add("value", 10, 10)
    run.add("allow", 10, False)
    run.idle()
    assert run.out["presence"] == [(10, False)]
    run.add("value", 11, 20)
    run.add("allow", 11, True)
    run.idle()
    assert run.out["presence"] == [(10, False), (11, True)]
    run.finish()


# --------------------------------------------------------------------------- BeginLoop/EndLoop

LOOP = """
input_stream: "ints"
node { calculator: "BeginLoopIntCalculator" input_stream: "ITERABLE:ints"
       output_stream: "ITEM:int" output_stream: "BATCH_END:timestamp" }
node { calculator: "TestIncrementCalculator" input_stream: "int"
       output_stream: "int_plus_one" }
node { calculator: "EndLoopCalculator" input_stream: "ITEM:int_plus_one"
       input_stream: "BATCH_END:timestamp" output_stream: "ITERABLE:ints_plus_one" }
"""


@pytest.mark.parametrize(("batches", "expected"), [
    ([], []),  # InputStreamForIterableIsEmpty
    ([(0, [])], []),  # SingleEmptyVector
    ([(0, [0, 1, 2])], [(0, [1, 2, 3])]),  # SingleNonEmptyVector
    ([(0, [0, 1]), (1, []), (2, [2, 3])], [(0, [1, 2]), (2, [3, 4])]),  # MultipleVectors
])
def test_begin_end_loop(step_run: Runs, batches: list[tuple[int, list[int]]],
                        expected: list[tuple[int, list[int]]]) -> None:
    """BeginEndLoopCalculatorGraphTest: an empty batch sends nothing (only the bound)."""
    run = step_run(LOOP, ["ints_plus_one"])
    for ts, ints in batches:
        run.add("ints", ts, ints)
    run.idle()
    run.finish()
    assert run.out["ints_plus_one"] == expected


def test_end_loop_next_to_another_consumer_of_its_items(step_run: Runs) -> None:
    """BeginEndLoopCalculatorPossibleDataRaceTest.EndLoopForIntegersDoesNotRace."""
    run = step_run(LOOP + """
    node { calculator: "TestIncrementCalculator" input_stream: "int_plus_one"
           output_stream: "int_plus_two" }
    node { calculator: "EndLoopCalculator" input_stream: "ITEM:int_plus_two"
           input_stream: "BATCH_END:timestamp" output_stream: "ITERABLE:ints_plus_two" }
    """, ["ints_plus_one", "ints_plus_two"])
    for i in range(100):
        run.add("ints", i, [i, i + 1, i + 2])
        run.idle()
        assert run.out["ints_plus_one"][-1] == (i, [i + 1, i + 2, i + 3])
        assert run.out["ints_plus_two"][-1] == (i, [i + 2, i + 3, i + 4])
    run.finish()


def test_begin_end_loop_over_bound_updates(step_run: Runs) -> None:
    """BeginEndLoopCalculatorGraphProcessingEmptyPacketsTest: where ITERABLE only moves its
    bound, the loop still ends a (empty) batch, which a bounds-processing node downstream sees
    as an empty list."""
    run = step_run("""
    input_stream: "ints"
    input_stream: "force_bound"
    node { calculator: "GateCalculator" input_stream: "ints"
           input_stream: "DISALLOW:force_bound" output_stream: "ints_passed_through" }
    node { calculator: "BeginLoopIntCalculator" input_stream: "ITERABLE:ints_passed_through"
           output_stream: "ITEM:int" output_stream: "BATCH_END:timestamp" }
    node { calculator: "TestIncrementCalculator" input_stream: "int"
           output_stream: "int_plus_one" }
    node { calculator: "EndLoopCalculator" input_stream: "ITEM:int_plus_one"
           input_stream: "BATCH_END:timestamp" output_stream: "ITERABLE:ints_plus_one" }
    node { calculator: "TestPassThroughOrEmptyCalculator" input_stream: "ints_plus_one"
           output_stream: "out" }
    """, ["out"])

    def send(ts: int, ints: list[int]) -> None:
        run.add("force_bound", ts, not ints)
        run.add("ints", ts, ints)

    send(0, [])
    run.idle()
    assert run.out["out"] == [(0, [])]  # SingleEmptyVector
    send(1, [0, 1])
    send(2, [])
    run.idle()
    send(3, [2, 3])
    send(4, [])
    run.idle()
    run.finish()
    # SingleNonEmptyVector / MultipleVectors
    assert run.out["out"] == [(0, []), (1, [1, 2]), (2, []), (3, [3, 4]), (4, [])]


@pytest.mark.parametrize(("sends", "expected"), [
    ([(42, 2, None)], []),  # InputStreamForIterableIsEmpty
    ([(0, 2, [])], []),  # SingleEmptyVector
    ([(42, 2, [0, 1, 2])], [(42, [0, 2, 4])]),  # SingleNonEmptyVector
    ([(42, 2, [0, 1]), (43, 2, []), (44, 3, [2, 3])],  # MultipleVectors
     [(42, [0, 2]), (44, [6, 9])]),
])
def test_begin_end_loop_with_cloned_inputs(step_run: Runs,
                                           sends: list[tuple[int, int, list[int] | None]],
                                           expected: list[tuple[int, list[int]]]) -> None:
    """BeginEndLoopCalculatorGraphWithClonedInputsTest: CLONE repeats a packet at every item."""
    run = step_run("""
    input_stream: "ints"
    input_stream: "multiplier"
    node { calculator: "BeginLoopIntCalculator" input_stream: "ITERABLE:ints"
           input_stream: "CLONE:multiplier" output_stream: "ITEM:int_at_loop"
           output_stream: "CLONE:multiplier_cloned_at_loop"
           output_stream: "BATCH_END:timestamp" }
    node { calculator: "TestMultiplierCalculator" input_stream: "int_at_loop"
           input_stream: "multiplier_cloned_at_loop" output_stream: "multiplied" }
    node { calculator: "EndLoopCalculator" input_stream: "ITEM:multiplied"
           input_stream: "BATCH_END:timestamp" output_stream: "ITERABLE:multiplied_ints" }
    """, ["multiplied_ints"])
    for ts, multiplier, ints in sends:
        if ints is not None:
            run.add("ints", ts, ints)
        run.add("multiplier", ts, multiplier)
    run.idle()
    run.finish()
    assert run.out["multiplied_ints"] == expected


def test_begin_end_tensor_loop(step_run: Runs) -> None:
    """BeginEndTensorLoopCalculatorGraphTest.SingleNonEmptyVector: a list of tensors (arrays)
    goes through the loop item by item and comes back whole, in order."""
    run = step_run("""
    input_stream: "tensors"
    node { calculator: "BeginLoopTensorCalculator" input_stream: "ITERABLE:tensors"
           output_stream: "ITEM:tensor" output_stream: "BATCH_END:timestamp" }
    node { calculator: "TestArrayCopyCalculator" input_stream: "tensor"
           output_stream: "copied_tensor" }
    node { calculator: "EndLoopTensorCalculator" input_stream: "ITEM:copied_tensor"
           input_stream: "BATCH_END:timestamp" output_stream: "ITERABLE:output_tensors" }
    """, ["output_tensors"])
    tensors = [np.full((4, 3, 2, 1), i, np.float32) for i in range(4)]
    run.add("tensors", 0, tensors)
    run.idle()
    [(ts, copies)] = run.out["output_tensors"]
    assert ts == 0
    assert len(copies) == 4
    for i, (copy, tensor) in enumerate(zip(copies, tensors, strict=True)):
        assert copy is not tensor
        assert copy.shape == (4, 3, 2, 1)
        assert (copy == i).all()
    run.finish()


# --------------------------------------------------------------------------- SidePacketToStream


@pytest.mark.parametrize(("node", "complaint"), [
    # WrongConfigWithMissingTick / ...ForFirstTickProcessing
    ('input_side_packet: "side_packet" output_stream: "AT_TICK:packet"', "TICK input"),
    ('input_side_packet: "side_packet" output_stream: "AT_FIRST_TICK:packet"', "TICK input"),
    # WrongConfigWithMissingTimestampSideInput
    ('input_side_packet: "side_packet" output_stream: "AT_TIMESTAMP:packet"', "TIMESTAMP"),
    # WrongConfigWithNonExistentTag
    ('input_side_packet: "side_packet" output_stream: "DOES_NOT_EXIST:packet"',
     "DOES_NOT_EXIST"),
    # WrongConfigWithMixedTags
    ('input_side_packet: "side_packet" input_side_packet: "side_packet1" '
     'output_stream: "AT_TICK:packet" output_stream: "AT_PRESTREAM:packet1" '
     'input_stream: "TICK:tick"', "exactly one of"),
    # WrongConfigWithNotEnoughSidePackets
    ('input_side_packet: "side_packet" output_stream: "AT_PRESTREAM:0:packet" '
     'output_stream: "AT_PRESTREAM:1:packet1"', "2 outputs but 1 untagged side packets"),
    # WrongConfigWithNotEnoughOutputStreams
    ('input_side_packet: "side_packet" input_side_packet: "side_packet1" '
     'output_stream: "AT_PRESTREAM:packet"', "1 outputs but 2 untagged side packets"),
])
def test_side_packet_to_stream_invalid_configs(node: str, complaint: str) -> None:
    """SidePacketToStreamCalculator.WrongConfig*."""
    with pytest.raises(gf.ConfigError, match=complaint):
        gf.CalculatorGraph(graph_config='input_stream: "tick"\n'
                                        'input_side_packet: "side_packet"\n'
                                        'input_side_packet: "side_packet1"\n'
                                        f'node {{ calculator: "SidePacketToStreamCalculator" '
                                        f"{node} }}")


@pytest.mark.parametrize(("tag", "timestamp"), [
    ("AT_PRESTREAM", int(Timestamp.PRESTREAM)), ("AT_POSTSTREAM", int(Timestamp.POSTSTREAM)),
    ("AT_ZERO", 0)])
def test_side_packet_to_stream_once(step_run: Runs, tag: str, timestamp: int) -> None:
    """SidePacketToStreamCalculator.NoAtTickOutputTags."""
    run = step_run(f"""
    input_side_packet: "side_packet"
    node {{ calculator: "SidePacketToStreamCalculator" input_side_packet: "side_packet"
            output_stream: "{tag}:packet" }}
    """, ["packet"], {"side_packet": 10})
    run.finish()
    assert run.out["packet"] == [(timestamp, 10)]


TICKS = """
input_stream: "tick"
input_side_packet: "side_packet"
input_side_packet: "side_packet1"
node {
  calculator: "SidePacketToStreamCalculator"
  input_stream: "TICK:tick"
  input_side_packet: "side_packet"
  input_side_packet: "side_packet1"
  output_stream: "%s:0:packet"
  output_stream: "%s:1:packet1"
}
"""


@pytest.mark.parametrize(("tag", "sent"), [
    ("AT_TICK", [0, 1, 128, 1024, 1025]),  # AtTick, AtTick_MultipleSidePackets
    ("AT_FIRST_TICK", [0]),  # AtFirstTick, AtFirstTick_MultipleSidePackets
])
def test_side_packet_to_stream_at_ticks(step_run: Runs, tag: str, sent: list[int]) -> None:
    """SidePacketToStreamCalculator.AtTick / AtFirstTick (and their _MultipleSidePackets)."""
    run = step_run(TICKS % (tag, tag), ["packet", "packet1"],
                  {"side_packet": 20, "side_packet1": 15})
    for ts in (0, 1, 128, 1024, 1025):
        run.add("tick", ts, 1)
        run.idle()
    run.finish()
    assert run.out["packet"] == [(ts, 20) for ts in sent]
    assert run.out["packet1"] == [(ts, 15) for ts in sent]


def test_side_packet_to_stream_at_timestamp(step_run: Runs) -> None:
    """SidePacketToStreamCalculator.AtTimestamp (and _MultipleOutputs)."""
    run = step_run("""
    input_side_packet: "side_packet"
    input_side_packet: "side_packet1"
    input_side_packet: "timestamp"
    node { calculator: "SidePacketToStreamCalculator" input_side_packet: "side_packet"
           input_side_packet: "side_packet1" input_side_packet: "TIMESTAMP:timestamp"
           output_stream: "AT_TIMESTAMP:0:packet" output_stream: "AT_TIMESTAMP:1:packet1" }
    """, ["packet", "packet1"], {"side_packet": 20, "side_packet1": 15, "timestamp": 1234})
    run.finish()
    assert run.out == {"packet": [(1234, 20)], "packet1": [(1234, 15)]}


# --------------------------------------------------------------------------- FlowLimiter


def _limiter_options(text: str) -> flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions:
    options = flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions()
    text_format.Parse(text, options)
    return options


def test_flow_limiter_drops_frames_while_one_is_in_flight(step_run: Runs) -> None:
    """FlowLimiterCalculatorSemaphoreTest.FramesDropped (max_in_flight 1, max_in_queue 1):
    the frame that waits is replaced by a newer one, whose ALLOW false marks the drop."""
    release = threading.Semaphore(0)
    limiter_options = _limiter_options("max_in_flight: 1 max_in_queue: 1")
    run = step_run("""
    input_stream: "in_1"
    input_side_packet: "limiter_options"
    input_side_packet: "release"
    node {
      calculator: "FlowLimiterCalculator"
      input_side_packet: "OPTIONS:limiter_options"
      input_stream: "in_1"
      input_stream: "FINISHED:out_1"
      input_stream_info: { tag_index: "FINISHED" back_edge: true }
      output_stream: "in_1_sampled"
      output_stream: "ALLOW:allow"
    }
    node { calculator: "TestHoldCalculator" input_side_packet: "RELEASE:release"
           input_stream: "in_1_sampled" output_stream: "out_1" }
    """, ["out_1", "allow"], {"limiter_options": limiter_options, "release": release})
    run.add("in_1", 0, 0)
    for i in range(9):
        run.wait_for("allow", 2 * i + 1)
        assert run.out["allow"][-1] == (i * 10, True)
        run.add("in_1", i * 10 + 5, i * 10 + 5)  # waits in the queue
        run.add("in_1", i * 10 + 10, i * 10 + 10)  # replaces it
        run.wait_for("allow", 2 * i + 2)
        assert run.out["allow"][-1] == (i * 10 + 5, False)
        release.release()
    release.release()
    run.close("in_1")
    run.idle()
    assert run.out["out_1"] == [(t, t) for t in range(0, 100, 10)]
    run.finish()


def _timed_limiter(step_run: Runs, time: SimulatedTime, options: str, warmup: int, sleep: int,
                   drop_timestamps: bool, auxiliary: bool = False) -> StepRun:
    """FlowLimiterCalculatorTest's graph: the limiter, a SleepCalculator taking ``sleep``
    simulated microseconds a frame (``warmup`` the first) and a DropCalculator that loses the
    third frame (and its bound, with ``drop_timestamps``), whose output is FINISHED."""
    second = ('input_stream: "in_2"', 'input_stream: "in_2"',
              'output_stream: "in_2_sampled"') if auxiliary else ("", "", "")
    return step_run(f"""
    input_stream: "in_1"
    {second[0]}
    input_stream: "tick"
    node {{
      calculator: "FlowLimiterCalculator"
      input_side_packet: "OPTIONS:limiter_options"
      input_stream: "in_1"
      {second[1]}
      input_stream: "FINISHED:out_1"
      input_stream_info: {{ tag_index: "FINISHED" back_edge: true }}
      output_stream: "in_1_sampled"
      {second[2]}
      output_stream: "ALLOW:allow"
    }}
    node {{
      calculator: "TestSleepCalculator"
      input_side_packet: "WARMUP_TIME:warmup_time"
      input_side_packet: "SLEEP_TIME:sleep_time"
      input_side_packet: "TIME:time"
      input_stream: "PACKET:in_1_sampled"
      input_stream: "TICK:tick"
      output_stream: "PACKET:out_1_sampled"
    }}
    node {{
      calculator: "TestDropCalculator"
      input_side_packet: "DROP_TIMESTAMPS:drop_timestamps"
      input_stream: "PACKET:out_1_sampled"
      output_stream: "PACKET:out_1"
    }}
    """, ["out_1", "allow"] + (["in_2_sampled"] if auxiliary else []), {
        "limiter_options": _limiter_options(options), "warmup_time": warmup,
        "sleep_time": sleep, "drop_timestamps": drop_timestamps, "time": time})


def _frames(indices: list[int]) -> list[tuple[int, int]]:
    """MediaPipe's input_packets_[i] for each index: i at i * 10000."""
    return [(i * 10000, i) for i in indices]


def test_flow_limiter_finished_timestamps(step_run: Runs) -> None:
    """FlowLimiterCalculatorTest.FinishedTimestamps: FINISHED counts with a packet or only a
    bound (the DropCalculator keeps the third frame's bound); a frame waits in the queue until
    the one in flight is done, and a newer one replaces it."""
    time = SimulatedTime()
    run = _timed_limiter(step_run, time, "max_in_flight: 1 max_in_queue: 1", 22000, 22000,
                         drop_timestamps=False)
    run.add("in_1", 0, 0)
    time.sleep(run, 1)
    assert run.out["allow"] == [(0, True)]
    time.sleep(run, 10000)
    for i in range(1, 8, 2):
        run.add("in_1", i * 10000, i)
        time.sleep(run, 10000)
        assert len(run.out["allow"]) == i
        run.add("in_1", (i + 1) * 10000, i + 1)
        time.sleep(run, 1)
        assert len(run.out["allow"]) == i + 1
        assert run.out["allow"][-1][1] is False
        time.sleep(run, 10000)
        assert len(run.out["allow"]) == i + 2
        assert run.out["allow"][-1][1] is True
    run.close("in_1")
    time.sleep(run, 40000)
    time.finish(run)
    assert run.out["out_1"] == _frames([0, 2, 6, 8])  # 4 is lost by the DropCalculator


@pytest.mark.parametrize(("warmup", "frames", "expected"), [
    # FinishedLost: frame 4 is lost with its bound; the limiter waits 100 ms for it, dropping
    # 5 to 13, then lets 14 through
    (22000, 21, [0, 2, 14, 17, 19, 20]),
    # FinishedDelayed: during a 500 ms warm-up the timeout lets frames 10 to 50 through, which
    # queue at the SleepCalculator; once they are done, frames flow on time again
    (500000, 71, [0, 10, 30, 40, 50, 60, 63, 65, 67, 69, 70]),
])
def test_flow_limiter_in_flight_timeout(step_run: Runs, warmup: int, frames: int,
                                        expected: list[int]) -> None:
    """FlowLimiterCalculatorTest.FinishedLost / FinishedDelayed (in_flight_timeout 100 ms)."""
    time = SimulatedTime()
    run = _timed_limiter(step_run, time,
                         "max_in_flight: 1 max_in_queue: 1 in_flight_timeout: 100000",
                         warmup, 22000, drop_timestamps=warmup == 22000)
    for i in range(frames):
        run.add("in_1", i * 10000, i)
        time.sleep(run, 10000)
    run.close("in_1")
    time.sleep(run, 40000)
    time.finish(run)
    assert run.out["out_1"] == _frames(expected)


@pytest.mark.parametrize(("options", "sleep", "expected", "expected_2", "allowed"), [
    # TwoInputStreams: max_in_queue 1
    ("max_in_queue: 1", 22000, [0, 2, 14, 17, 19, 20], [0, 2, 4, 14, 17, 19, 20, 21], None),
    # ZeroQueue: max_in_queue 0, with 12 ms frames to keep the same rate
    ("max_in_queue: 0", 12000, [0, 2, 15, 17, 19], [0, 2, 4, 15, 17, 19],
     [0, 2, 4, 15, 17, 19]),
])
def test_flow_limiter_auxiliary_stream(step_run: Runs, options: str, sleep: int,
                                       expected: list[int], expected_2: list[int],
                                       allowed: list[int] | None) -> None:
    """FlowLimiterCalculatorTest.TwoInputStreams / ZeroQueue: the auxiliary stream's packets,
    early or late, pass at the timestamps the frames were let through (frame 4 is lost with its
    bound by the DropCalculator, but was let through)."""
    time = SimulatedTime()
    run = _timed_limiter(step_run, time,
                         f"max_in_flight: 1 {options} in_flight_timeout: 100000",
                         sleep, sleep, drop_timestamps=True, auxiliary=True)
    run.add("in_1", 0, 0)
    time.sleep(run, 10000)
    for i in range(1, 10):
        run.add("in_1", i * 10000, i)
        run.add("in_2", (i - 1) * 10000, i - 1)
        time.sleep(run, 10000)
    for i in range(10, 21):
        run.add("in_2", (i + 1) * 10000, i + 1)
        run.add("in_1", i * 10000, i)
        time.sleep(run, 10000)
    run.close("in_1")
    run.close("in_2")
    time.sleep(run, 40000)
    time.finish(run)
    assert run.out["out_1"] == _frames(expected)
    assert run.out["in_2_sampled"] == _frames(expected_2)
    if allowed is not None:
        assert run.out["allow"] == [(i * 10000, i in allowed) for i in range(21)]


def test_flow_limiter_auxiliary_inputs(step_run: Runs) -> None:
    """FlowLimiterCalculatorTest.AuxiliaryInputs: frames 2, 4, 6, 8 take 22 ms each (max 1 in
    flight, none queued), so 4 and 8 are dropped; auxiliary packets, early (stream 3) or in time
    (stream 2), pass where the frames went through: those at or after a frame let through and
    before a dropped one. (MediaPipe also checks the bound moves, which graphflow's observers do
    not see.)"""
    time = SimulatedTime()
    run = step_run("""
    input_stream: "input_1"
    input_stream: "auxiliary_input_2"
    input_stream: "auxiliary_input_3"
    input_stream: "tick"
    input_side_packet: "time"
    node {
      calculator: "FlowLimiterCalculator"
      options { [mediapipe.FlowLimiterCalculatorOptions.ext] {
        max_in_flight: 1 max_in_queue: 0 in_flight_timeout: 1000000 } }
      input_stream: "input_1"
      input_stream: "auxiliary_input_2"
      input_stream: "auxiliary_input_3"
      input_stream: "FINISHED:out_1"
      input_stream_info: { tag_index: "FINISHED" back_edge: true }
      output_stream: "input_1_sampled"
      output_stream: "auxiliary_input_2_sampled"
      output_stream: "auxiliary_input_3_sampled"
      output_stream: "ALLOW:allow"
    }
    node {
      calculator: "TestSleepCalculator"
      input_side_packet: "WARMUP_TIME:warmup_time"
      input_side_packet: "SLEEP_TIME:sleep_time"
      input_side_packet: "TIME:time"
      input_stream: "PACKET:input_1_sampled"
      input_stream: "TICK:tick"
      output_stream: "PACKET:out_1"
    }
    """, ["out_1", "auxiliary_input_2_sampled", "auxiliary_input_3_sampled", "allow"],
        {"warmup_time": 22000, "sleep_time": 22000, "time": time})
    for i in range(1, 10):
        run.add("auxiliary_input_3", i * 10000, i)
    for i in range(1, 10):
        if i % 2 == 0:
            run.add("input_1", i * 10000, i)
        run.add("auxiliary_input_2", i * 10000, i)
        time.sleep(run, 10000)
    for stream in ("input_1", "auxiliary_input_2", "auxiliary_input_3"):
        run.close(stream)
    time.sleep(run, 40000)
    time.finish(run)
    assert run.out["out_1"] == _frames([2, 6])
    assert run.out["allow"] == [(20000, True), (40000, False), (60000, True), (80000, False)]
    assert run.out["auxiliary_input_2_sampled"] == _frames([1, 2, 3, 6, 7])
    assert run.out["auxiliary_input_3_sampled"] == _frames([1, 2, 3, 6, 7])
