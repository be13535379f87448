"""MediaPipe's C++ tests of CalculatorGraph about bounds, side packets, closing and errors,
ported (their expectations, not their code).

From mediapipe/framework/ at v0.10.21: calculator_graph_bounds_test.cc,
calculator_graph_side_packet_test.cc, calculator_graph_stopping_test.cc and
calculator_graph_test.cc. MediaPipe's helper calculators are the Test* ones of ported.py.
Tests marked xfail(strict) are divergences to fix (see their reasons).
"""

from __future__ import annotations

import collections

import pytest
from ported import Runs

import graphflow as gf
from graphflow.timestamp import Timestamp

# --------------------------------------------------------------------------- bounds

VALVE = """
input_stream: "in"
input_stream: "gate"
input_side_packet: "counts"
node { calculator: "TestValveCalculator" input_side_packet: "COUNTS:counts"
       input_stream: "in" input_stream: "gate" output_stream: "gated" }
node { calculator: "PassThroughCalculator" input_stream: "gated" output_stream: "passed" }
node { calculator: "%s" input_stream: "passed" output_stream: "shifted" }
node { calculator: "MergeCalculator" input_stream: "in" input_stream: "shifted"
       output_stream: "merged" }
node { calculator: "TestCountingPassThroughCalculator" input_side_packet: "COUNTS:counts"
       input_stream: "merged" output_stream: "out" }
"""


def test_set_next_timestamp_bound_propagation(step_run: Runs) -> None:
    """CalculatorGraph.SetNextTimestampBoundPropagation: a valve's bound lets the merge run
    although its branch is blocked."""
    counts: collections.Counter[str] = collections.Counter()
    run = step_run(VALVE % "PassThroughCalculator", [], {"counts": counts})
    for ts, (value, allowed) in enumerate([(1, True), (2, True), (3, False), (4, False)], 1):
        run.add("in", ts, value)
        run.add("gate", ts, allowed)
    run.idle()
    assert counts == {"pass": 2, "block": 2, "calls": 4}
    run.add("in", 5, 5)
    run.add("gate", 5, True)
    run.add("in", 6, 6)
    run.add("gate", 6, False)
    run.idle()
    assert counts == {"pass": 3, "block": 3, "calls": 6}
    run.finish()


def test_set_next_timestamp_bound_propagation_with_a_time_shift(step_run: Runs) -> None:
    """CalculatorGraph.SetNextTimestampBoundPropagation, its second run: with a shift of -1 the
    merge runs once at 6 (null, 7) and not yet at 7, for the offset bounds only 7."""
    counts: collections.Counter[str] = collections.Counter()
    run = step_run(VALVE % "TestTimeShiftMinusOneCalculator", ["merged"], {"counts": counts})
    run.add("in", 7, 7)
    run.add("gate", 7, True)
    run.idle()
    assert counts == {"pass": 1, "calls": 1}
    assert run.out["merged"] == [(6, 7)]
    run.finish()
    assert counts == {"pass": 1, "calls": 2}
    assert run.out["merged"] == [(6, 7), (7, 7)]


def test_not_all_input_packets_at_the_next_bound(step_run: Runs) -> None:
    """CalculatorGraph.NotAllInputPacketsAtNextTimestampBoundAvailable: with a packet on one
    input and only a bound past it on the other, the adder does not run at that timestamp."""
    run = step_run("""
    input_stream: "in0_unfiltered"
    input_stream: "in1_to_be_filtered"
    node { calculator: "TestEvenIntFilterCalculator" input_stream: "in1_to_be_filtered"
           output_stream: "in1_filtered" }
    node { calculator: "TestIntAdderCalculator" input_stream: "in0_unfiltered"
           input_stream: "in1_filtered" output_stream: "out" }
    """, ["out"])
    run.add("in0_unfiltered", 1, 1)
    run.add("in1_to_be_filtered", 1, 2)
    run.idle()
    assert run.out["out"] == [(1, 3)]
    run.add("in1_to_be_filtered", 2, 3)
    run.add("in0_unfiltered", 3, 3)
    run.idle()
    assert run.out["out"] == [(1, 3)]
    run.add("in1_to_be_filtered", 3, 4)
    run.idle()
    assert run.out["out"] == [(1, 3), (3, 7)]
    run.finish()
    assert run.out["out"] == [(1, 3), (3, 7)]


@pytest.mark.parametrize("first", [
    # ImmediateHandlerBounds: bounds only, relayed by an Immediate pass-through
    'node { calculator: "TestCustomBoundCalculator" input_stream: "input" '
    'output_stream: "bounds0" }\n'
    'node { calculator: "PassThroughCalculator" input_stream: "bounds0" '
    'output_stream: "bounds" '
    'input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" } }',
    # OffsetBoundPropagation: bounds from an offset alone
    'node { calculator: "TestOffsetBoundCalculator" input_stream: "input" '
    'output_stream: "bounds" }',
])
def test_bounds_alone_release_a_waiting_node(step_run: Runs, first: str) -> None:
    """CalculatorGraphBoundsTest.ImmediateHandlerBounds / OffsetBoundPropagation."""
    run = step_run(f"""
    input_stream: "input"
    {first}
    node {{ calculator: "PassThroughCalculator" input_stream: "bounds" input_stream: "input"
            output_stream: "bounds_output" output_stream: "output" }}
    """, ["output"])
    for i in range(4):
        run.add("input", i, 33)
    run.idle()
    assert run.timestamps("output") == [0, 1, 2, 3]
    run.finish()


def test_bounds_alone_do_not_call_process(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.BoundWithoutInputPackets: without process_timestamp_bounds,
    bound moves make no call."""
    run = step_run("""
    input_stream: "input"
    node { calculator: "TestFuturePacketCalculator" input_stream: "input"
           output_stream: "input_2" }
    node { calculator: "TestOffsetBoundCalculator" input_stream: "input_2"
           output_stream: "bounds" }
    node { calculator: "TestCallCounterCalculator" input_stream: "bounds"
           output_stream: "output" }
    """, ["output"])
    for i in range(4):
        run.add("input", i, 33)
        run.idle()
    assert run.out["output"] == []
    run.finish()


def test_last_packet_check(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.LastPacketCheck: a node that holds each packet back until the
    next one (bound at the input timestamp) and sends the last one in Close."""
    run = step_run("""
    input_stream: "input"
    node { calculator: "PassThroughCalculator" input_stream: "input" output_stream: "input_2" }
    node { calculator: "TestLastPacketCalculator" input_stream: "input_2"
           output_stream: "last_packet" }
    node { calculator: "PassThroughCalculator" input_stream: "input"
           input_stream: "last_packet" output_stream: "output" output_stream: "last_output" }
    """, ["output", "last_output"])
    for i in range(4):
        run.add("input", i, 33)
        run.idle()
        assert len(run.out["output"]) == i
        assert run.out["last_output"] == []
    run.graph.close_all_input_streams()
    run.idle()
    assert len(run.out["output"]) == 4
    assert run.out["last_output"] == [(3, 33)]
    run.finish()


@pytest.mark.parametrize("handler", [
    'input_stream_handler: "DefaultInputStreamHandler"',
    'input_stream_handler: "ImmediateInputStreamHandler"',
    'input_stream_handler: "SyncSetInputStreamHandler"',
    'input_stream_handler: "SyncSetInputStreamHandler" options { '
    '[mediapipe.SyncSetInputStreamHandlerOptions.ext] { sync_set { tag_index: ":0" } } }',
])
def test_process_timestamp_bounds(step_run: Runs, handler: str) -> None:
    """CalculatorGraphBoundsTest.ProcessTimestampBounds_Default / _Immediate / _SyncSet /
    _SyncSets: a bounds-processing node is called for every bound move."""
    run = step_run(f"""
    input_stream: "input"
    node {{ calculator: "TestFuturePacketCalculator" input_stream: "input"
            output_stream: "futures" }}
    node {{ calculator: "TestOffsetBoundCalculator" input_stream: "futures"
            output_stream: "bounds" }}
    node {{ calculator: "TestProcessBoundToPacketCalculator" input_stream: "bounds"
            output_stream: "bounds_ts" input_stream_handler {{ {handler} }} }}
    """, ["bounds_ts"])
    for i in range(4):
        run.add("input", i * 10, 33)
        run.idle()
    assert run.timestamps("bounds_ts") == [3, 13, 23, 33]
    run.finish()


def test_process_timestamp_bounds_pass_through(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.ProcessTimestampBounds_Passthrough: packets and bounds relayed
    separately for each stream by an Immediate bounds-processing node."""
    run = step_run("""
    input_stream: "input_0"
    input_stream: "input_1"
    node { calculator: "TestOffsetBoundCalculator" input_stream: "input_1"
           output_stream: "bound_1" }
    node { calculator: "TestImmediatePassThroughCalculator" input_stream: "input_0"
           input_stream: "bound_1" output_stream: "same_0" output_stream: "same_1" }
    node { calculator: "TestProcessBoundToPacketCalculator" input_stream: "same_0"
           input_stream: "same_1" output_stream: "output_0" output_stream: "output_1" }
    """, ["output_0", "output_1"])
    for i in range(4):
        run.add("input_0", i * 10, 33)
        run.idle()
    assert run.timestamps("output_0") == [0, 10, 20, 30]
    assert run.out["output_1"] == []
    for ts in (10, 20):
        run.add("input_1", ts, 33)
        run.idle()
    assert run.timestamps("output_0") == [0, 10, 20, 30]
    assert run.timestamps("output_1") == [10, 20]
    run.finish()


def test_post_stream_packet_sets_the_processed_bound(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.PostStreamPacketToSetProcessTimestampBound."""
    run = step_run("""
    input_stream: "input_0"
    node { calculator: "TestProcessBoundToPacketCalculator" input_stream: "input_0"
           output_stream: "output_0" }
    """, ["output_0"])
    run.add("input_0", int(Timestamp.POSTSTREAM), 0)
    run.idle()
    assert run.timestamps("output_0") == [int(Timestamp.POSTSTREAM)]
    run.finish()


def test_offset_and_a_larger_bound(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.OffsetAndBound: a set bound beyond the offset's wins, and
    only bounds come out."""
    run = step_run("""
    input_stream: "input_0"
    node { calculator: "TestOffsetAndBoundCalculator" input_stream: "input_0"
           output_stream: "output_0" }
    """, ["output_0"])
    for i in range(9):
        run.add("input_0", 10 + i * 10, i)
    run.idle()
    assert run.out["output_0"] == []
    run.finish()


def test_empty_packet_output_is_a_bound(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.EmptyPacketOutput: sending an empty packet at a timestamp
    moves the bound past it."""
    run = step_run("""
    input_stream: "input_0"
    node { calculator: "TestEmptyPacketCalculator" input_stream: "input_0"
           output_stream: "empty_0" }
    node { calculator: "TestProcessBoundToPacketCalculator" input_stream: "empty_0"
           output_stream: "output_0" }
    """, ["output_0"])
    for i in range(9):
        run.add("input_0", 10 + i * 10, i)
        run.idle()
    assert run.timestamps("output_0") == [10 + i * 10 for i in range(9)]
    run.finish()


def test_set_input_stream_timestamp_bound(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.SetInputStreamTimestampBound."""
    run = step_run("""
    input_stream: "input_0"
    node { calculator: "TestProcessBoundToPacketCalculator" input_stream: "input_0"
           output_stream: "output_0" }
    """, ["output_0"])
    for i in range(9):
        run.graph.set_input_stream_timestamp_bound("input_0", 10 + i * 10 + 1)
        run.idle()
    assert run.timestamps("output_0") == [10 + i * 10 for i in range(9)]
    run.finish()


def test_timestamp_bounds_for_infrequent_input(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.TimestampBoundsForInfrequentInput (the packets; graphflow
    observers see no bound moves): a frame waits until the config stream settles its timestamp,
    with a packet or a bound."""
    run = step_run("""
    input_stream: "config_cmd"
    input_stream: "frame"
    node { calculator: "TestCommandCalculator" input_stream: "CMD:config_cmd"
           output_stream: "config" }
    node { calculator: "PassThroughCalculator" input_stream: "CONFIG:config"
           input_stream: "VIDEO:frame" output_stream: "VIDEO:output_frame"
           output_stream: "CONFIG:output_config" }
    """, ["output_frame", "output_config"])
    commands = iter(range(100))

    def config(*command: object) -> None:
        run.add("config_cmd", next(commands), command)
        run.idle()

    def frame(name: str, ts: int) -> None:
        run.add("frame", ts, name)
        run.idle()

    frame("frame_0", 0)
    assert run.out["output_frame"] == []
    config("bound", 10000)
    assert run.out["output_frame"] == [(0, "frame_0")]
    frame("frame_1", 20000)
    config("bound", 30000)
    assert run.out["output_frame"] == [(0, "frame_0"), (20000, "frame_1")]
    frame("frame_2", 40000)
    assert len(run.out["output_frame"]) == 2
    config("packet", 50000, "config_1")
    assert run.out["output_frame"][-1] == (40000, "frame_2")
    frame("frame_3", 60000)
    assert len(run.out["output_frame"]) == 3
    config("bound", 70000)
    assert run.out["output_frame"][-1] == (60000, "frame_3")
    assert run.out["output_config"] == [(50000, "config_1")]
    run.finish()


# --------------------------------------------------------------------------- side packets

SIDE_IN_PROCESS = """
input_stream: "offset"
node { calculator: "TestSidePacketInProcessCalculator" input_stream: "offset"
       output_side_packet: "offset" }
node { calculator: "TestSidePacketAtPostStreamCalculator" input_side_packet: "offset"
       output_stream: "output" }
"""


def test_output_side_packet_in_process(step_run: Runs) -> None:
    """CalculatorGraph.OutputSidePacketInProcess: a side packet set in Process feeds a node that
    opens afterwards (twice, to check that runs start afresh)."""
    for _ in range(2):
        run = step_run(SIDE_IN_PROCESS, ["output"])
        run.add("offset", 0, 100)
        run.close("offset")
        run.finish()
        assert run.out["output"] == [(int(Timestamp.POSTSTREAM), 100)]


def test_output_side_packet_already_set(step_run: Runs) -> None:
    """CalculatorGraph.OutputSidePacketAlreadySet: setting a side packet twice fails the run."""
    run = step_run("""
    input_stream: "offset"
    node { calculator: "TestSidePacketInProcessCalculator" input_stream: "offset"
           output_side_packet: "offset" }
    """, [])
    run.add("offset", 0, 100)
    run.add("offset", 1, 100)
    run.close("offset")
    with pytest.raises(gf.GraphError, match="already set"):
        run.graph.wait_until_done(timeout=30)


def test_output_summary_side_packet_in_close(step_run: Runs) -> None:
    """CalculatorGraph.OutputSummarySidePacketInClose: a count set in Close feeds a node that
    sends it at PostStream."""
    run = step_run("""
    input_stream: "input_packets"
    node { calculator: "TestCountToSidePacketInCloseCalculator" input_stream: "input_packets"
           output_side_packet: "num_of_packets" }
    node { calculator: "TestSidePacketAtPostStreamCalculator"
           input_side_packet: "num_of_packets" output_stream: "output" }
    """, ["output"])
    for i in range(100):
        run.add("input_packets", i, i)
    run.close("input_packets")
    run.finish()
    assert run.out["output"] == [(int(Timestamp.POSTSTREAM), 100)]


# --------------------------------------------------------------------------- closing and errors


def test_close_all_packet_sources(step_run: Runs) -> None:
    """CalculatorGraphStoppingTest.CloseAllPacketSources: closing the inputs ends the run after
    the packets already added went through."""
    run = step_run("""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """, ["out"])
    for i in range(10):
        run.add("in", i, i)
    run.finish()
    assert run.timestamps("out") == list(range(10))


@pytest.mark.parametrize(("timestamps", "complaint"), [
    ((5, 5), "not greater than the previous one"),  # CheckInputTimestamp: same timestamp
    ((5, 4), "not greater than the previous one"),  # CheckInputTimestamp2: going back
])
def test_graph_input_timestamps_must_increase(step_run: Runs, timestamps: tuple[int, int],
                                              complaint: str) -> None:
    """CalculatorGraph.CheckInputTimestamp / CheckInputTimestamp2."""
    run = step_run("""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """, [])
    run.add("in", timestamps[0], 0)
    with pytest.raises(ValueError, match=complaint):
        run.add("in", timestamps[1], 0)
    run.finish()


def test_graph_input_stream_before_start_run() -> None:
    """CalculatorGraph.GraphInputStreamBeforeStartRun: adding before start_run fails."""
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """)
    with pytest.raises(RuntimeError, match="start_run"):
        graph.add_packet_to_input_stream("in", gf.Packet(1).at(0))


def test_observe_output_stream_nonexistent() -> None:
    """CalculatorGraph.ObserveOutputStreamNonexistent."""
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """)
    with pytest.raises(ValueError, match="no stream 'not_out'"):
        graph.observe_output_stream("not_out", lambda name, packet: None)


def test_observe_output_stream_error() -> None:
    """CalculatorGraph.ObserveOutputStreamError: an observer that fails fails the run."""
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """)
    seen: list[int] = []

    def observer(name: str, packet: gf.Packet[int]) -> None:
        seen.append(int(packet.timestamp))
        if len(seen) == 5:
            raise RuntimeError("Failed to process a packet")

    graph.observe_output_stream("out", observer)
    graph.start_run()
    try:
        for i in range(10):
            graph.add_packet_to_input_stream("in", gf.Packet(i).at(i))
    except gf.GraphError:
        pass  # the run may have failed already
    with pytest.raises(gf.GraphError, match="Failed to process a packet"):
        graph.close()
    assert seen == [0, 1, 2, 3, 4]


def test_recover_after_run_error() -> None:
    """CalculatorGraph.RecoverAfterRunError: a failed run does not spoil the next one."""
    graph = gf.CalculatorGraph(graph_config="""
    input_side_packet: "error_count"
    node { calculator: "CountingSourceCalculator" input_side_packet: "ERROR_COUNT:error_count"
           input_side_packet: "MAX_COUNT:max_count" output_stream: "count" }
    input_side_packet: "max_count"
    """)
    counts: list[int] = []
    graph.observe_output_stream("count", lambda name, packet: counts.append(packet.payload))
    for error_count, failed in ((3, True), (100, False), (2, True), (100, False)):
        counts.clear()
        graph.start_run({"error_count": error_count, "max_count": 5})
        if failed:
            with pytest.raises(gf.GraphError, match="ERROR_COUNT"):
                graph.wait_until_done(timeout=30)
            assert counts == list(range(error_count))
        else:
            graph.wait_until_done(timeout=30)
            assert counts == list(range(5))
