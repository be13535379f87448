"""MediaPipe's C++ tests of CalculatorGraph about bounds, side packets, closing and errors,
ported (their expectations, not their code).

From mediapipe/framework/ at v0.10.21 (cases ported of those in the file; MediaPipe's helper
calculators are the Test* ones of ported.py). Tests marked xfail(strict) are divergences still to
fix: each reason says what graphflow does instead.

calculator_graph_bounds_test.cc: 23/24, passing. Skipped: FixedSizeHandlerBounds, whose
expectation holds at the moment that only MediaPipe's CountingExecutor (an executor counting its
running tasks) can find: every task but the one blocked has finished; graphflow has no executor
hook to find that moment, so the check could not be made deterministic.

calculator_graph_side_packet_test.cc: 12/13. 10 pass (OutputSidePacketAlreadySet,
OutputSidePacketWithTimestamp, PacketGeneratorLikeCalculators, OutputSidePacketInProcess,
OutputSummarySidePacketInClose, OutputSidePacketConsumedBySourceNode, OutputSidePacketCached,
GetOutputSidePacket, GetOutputSidePacketAfterCalculatorIsOpened, SourceLayerInversion);
GeneratorAfterCalculatorOpen and
GeneratorAfterCalculatorProcess check instead that graphflow refuses their packet_generator entry
(it runs no packet generators: no graph of MediaPipe's wheel has one). Skipped:
SharePacketGeneratorGraph, a test of MediaPipe's C++ PacketGeneratorGraph and
ValidatedGraphConfig classes.

calculator_graph_stopping_test.cc: 3/3, passing.

calculator_graph_test.cc: 31 of its 72 cases are about errors, closing or side packets; 31
ported, all passing; LayerOrdering (source layers) ported too, passing. Skipped, as they
cannot exist in graphflow: SetOffsetInProcess (graphflow's calculators declare their offset,
there is no run-time SetOffset to misuse); SimulateAssertFailure (a C++ destructor);
SetExecutorTwice, ReservedNameSetExecutor, TypedExecutorDeclaredAndSet (C++ executors handed
over with SetExecutor); GeneratePacket, GenerateInInitialize, ReuseValidatedGraphConfig (packet
generators, MediaPipe's deprecated predecessor of side-packet nodes);
StatusHandlerInputVerification, HandlersRun (status handlers, deprecated too). Not about
errors, closing or side packets, so not ported: AddPacketNoBusyLoop,
CalculatorGraphConfigCopyElision, CalculatorInNamepsace, ConstructAndDestruct, Cycle,
CycleUntimed, DirectFormI, DirectFormII, DotProduct, FastSourceSlowSink, IfThenElse,
IfThenElse2, InputPacketLifetime,
MultipleRunsWithDifferentInputStreamHandlers, ObserveOutputStream, ObserveOutputStreamSubgraph,
RunWithNumThreadsInExecutorConfig, RunsCorrectly and its six executor/subgraph forms,
SimpleMuxCalculatorWithCustomInputStreamHandler, TestOutputStreamPollerDesiredQueueSize,
TestPollPacket, TestPollPacketsFromMultipleStreams, TestPollPacketsWithTimestampNotification,
UnthrottleRespectsLayers."""

from __future__ import annotations

import collections
import itertools
import threading
from typing import Any

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


def test_propagate_bound_loop(step_run: Runs) -> None:
    """CalculatorGraph.PropagateBoundLoop: a running sum through a back edge delayed by 20,
    fed by a source that sends a packet every 20 and only a bound in between."""
    run = step_run("""
    node { calculator: "TestOutputAndBoundSourceCalculator" output_stream: "integers" }
    node { calculator: "TestIntAdderCalculator" input_stream: "integers"
           input_stream: "old_sum" input_stream_info: { tag_index: ":1" back_edge: true }
           output_stream: "sum"
           input_stream_handler { input_stream_handler: "EarlyCloseInputStreamHandler" } }
    node { calculator: "TestDelay20Calculator" input_stream: "sum" output_stream: "old_sum" }
    """, ["sum"])
    run.graph.wait_until_done(timeout=30)
    assert run.out["sum"] == [(i * 20, i * (i + 1) // 2) for i in range(101)]


def test_batch_processing_bound_propagation(step_run: Runs) -> None:
    """CalculatorGraph.CheckBatchProcessingBoundPropagation: a batching node does not pass a
    bound past the packets it still holds, so the sink never sees a timestamp go back."""
    run = step_run("""
    node { calculator: "TestOutputAndBoundSourceCalculator" output_stream: "integers" }
    node { calculator: "PassThroughCalculator" input_stream: "integers" output_stream: "output"
           input_stream_handler { input_stream_handler: "DefaultInputStreamHandler"
             options { [mediapipe.DefaultInputStreamHandlerOptions.ext] { batch_size: 10 } } } }
    node { calculator: "TestIntSinkCalculator" input_stream: "output" }
    """, ["output"])
    run.graph.wait_until_done(timeout=30)
    assert run.timestamps("output") == list(range(0, 2001, 20))


@pytest.mark.parametrize("handler", [
    'input_stream_handler: "ImmediateInputStreamHandler"',
    'input_stream_handler: "DefaultInputStreamHandler"',
    'input_stream_handler: "SyncSetInputStreamHandler"',
    'input_stream_handler: "SyncSetInputStreamHandler" options { '
    '[mediapipe.SyncSetInputStreamHandlerOptions.ext] { sync_set { tag_index: ":0" } } }',
])
def test_bounds_for_empty_inputs(step_run: Runs, handler: str) -> None:
    """CalculatorGraphBoundsTest.BoundsForEmptyInputs_Immediate / _Default / _SyncSet /
    _SyncSets: a call for a packet on one input tells the other, empty, input's settled
    timestamp: at or after the bound before the packet's (3 + 10 i, a bound from an offset),
    at most the one that follows. MediaPipe's BoundToPacketCalculator reads it without
    processing bounds, which graphflow allows only to bounds-processing calculators: here a
    bounds-processing recorder's calls with a packet are the ones MediaPipe's gets."""
    log: list[Any] = []
    run = step_run(f"""
    input_stream: "input"
    input_side_packet: "log"
    node {{ calculator: "TestFuturePacketCalculator" input_stream: "input"
            output_stream: "futures" }}
    node {{ calculator: "TestOffsetBoundCalculator" input_stream: "futures"
            output_stream: "bounds" }}
    node {{ calculator: "TestBoundsRecorderCalculator" input_side_packet: "LOG:log"
            input_stream: "input" input_stream: "bounds"
            input_stream_handler {{ {handler} }} }}
    """, [], {"log": log})
    for i in range(4):
        run.add("input", i * 10, 33)
        run.idle()
    calls = [(ts, settled) for ts, payloads, settled in log if payloads[0] is not None]
    assert [ts for ts, _ in calls] == [0, 10, 20, 30]
    window = [int(Timestamp.UNSTARTED), 3, 13, 23, 33]
    for i, (_, (_, bound)) in enumerate(calls):
        assert window[i] <= bound <= window[i + 1]
    run.finish()


def test_max_in_flight_with_occasional_bound(step_run: Runs) -> None:
    """CalculatorGraphBoundsTest.MaxInFlightWithOccasionalBound: calls run in parallel
    (max_in_flight 5), some moving the bound and some not; the bound never goes back, and no
    packet comes out."""
    run = step_run("""
    input_stream: "input_0"
    num_threads: 4
    node { calculator: "TestOccasionalBoundCalculator" input_stream: "input_0"
           output_stream: "output_0" max_in_flight: 5 }
    """, ["output_0"])
    for i in range(9):
        run.add("input_0", 10 + i * 10, i)
    run.idle()
    assert run.out["output_0"] == []
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


def test_output_side_packet_with_timestamp(step_run: Runs) -> None:
    """CalculatorGraph.OutputSidePacketWithTimestamp: a side packet set from a timestamped
    packet fails the run, naming the timestamp."""
    run = step_run("""
    input_stream: "offset"
    node { calculator: "TestSidePacketOfInputPacketCalculator" input_stream: "offset"
           output_side_packet: "offset" }
    """, [])
    run.add("offset", 237, 100)
    run.close("offset")
    with pytest.raises(gf.GraphError, match="packet with a timestamp 237"):
        run.graph.wait_until_done(timeout=30)


def test_output_side_packet_consumed_by_source_node(step_run: Runs) -> None:
    """CalculatorGraph.OutputSidePacketConsumedBySourceNode: a source opens once a node's
    Process sets its MAX_COUNT side packet."""
    run = step_run("""
    input_stream: "max_count"
    node { calculator: "TestSidePacketInProcessCalculator" input_stream: "max_count"
           output_side_packet: "max_count" }
    node { calculator: "CountingSourceCalculator" output_stream: "count"
           input_side_packet: "MAX_COUNT:max_count" }
    node { calculator: "PassThroughCalculator" input_stream: "count" output_stream: "output" }
    """, ["output"])
    run.add("max_count", 0, 10)
    run.close("max_count")
    run.graph.wait_until_done(timeout=30)
    assert run.out["output"] == [(i, i) for i in range(10)]


def test_source_layer_inversion() -> None:
    """CalculatorGraph.SourceLayerInversion: a source of layer 0 needs a side packet that only a
    node downstream of a layer-1 source sets, in Process: the run cannot finish and fails (a
    deadlock, in MediaPipe's words)."""
    graph = gf.CalculatorGraph(graph_config="""
    num_threads: 1
    node { calculator: "CountingSourceCalculator" output_stream: "count0"
           input_side_packet: "MAX_COUNT:max_count" source_layer: 0 }
    node { calculator: "CountingSourceCalculator" output_stream: "count1"
           input_side_packet: "MAX_COUNT:max_count"
           input_side_packet: "INITIAL_VALUE:initial_value1" source_layer: 1 }
    node { calculator: "TestFirstPacketCalculator" input_stream: "count1"
           output_stream: "first_count1" }
    node { calculator: "TestSidePacketInProcessCalculator" input_stream: "first_count1"
           output_side_packet: "increment2" }
    node { calculator: "CountingSourceCalculator" output_stream: "count2"
           input_side_packet: "MAX_COUNT:max_count"
           input_side_packet: "INCREMENT:increment2" source_layer: 0 }
    """)
    graph.start_run({"max_count": 10, "initial_value1": 100})
    with pytest.raises(gf.GraphError, match="deadlock"):
        graph.wait_until_done(timeout=30)


def test_source_layer_waits_for_a_lower_layer_while_inputs_are_open() -> None:
    """Not a ported case: SourceLayerInversion's rule with a graph input open
    (Scheduler::TryToScheduleNextSourceLayer). The layer-0 source waits for a side packet that
    a graph input's packet sets; until then layer 1 waits too and the graph is idle, with no
    deadlock reported. Once the layer-0 source opens, it runs first: a shared counter numbers
    its packets 0..4 and layer 1's 5..9."""
    counter = itertools.count()
    graph = gf.CalculatorGraph(graph_config="""
    input_stream: "in"
    input_side_packet: "counter"
    node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:counter"
           output_stream: "high" source_layer: 1 }
    node { calculator: "TestSidePacketInProcessCalculator" input_stream: "in"
           output_side_packet: "late_counter" }
    node { calculator: "TestGlobalCountSourceCalculator"
           input_side_packet: "COUNTER:late_counter" output_stream: "low" source_layer: 0 }
    """)
    out: dict[str, list[tuple[int, int]]] = {"low": [], "high": []}

    def observe(name: str, packet: gf.Packet[Any]) -> None:
        out[name].append((int(packet.timestamp), packet.payload))

    for name in out:
        graph.observe_output_stream(name, observe)
    graph.start_run({"counter": counter})
    graph.wait_until_idle(timeout=30)
    assert out == {"low": [], "high": []}
    graph.add_packet_to_input_stream("in", gf.Packet(counter).at(0))
    graph.close_all_input_streams()
    graph.wait_until_done(timeout=30)
    assert out == {"low": [(i, i) for i in range(5)], "high": [(i, 5 + i) for i in range(5)]}


def test_packet_generator_like_calculators(step_run: Runs) -> None:
    """CalculatorGraph.PacketGeneratorLikeCalculators: nodes with only side packets, each set in
    open from the others', feed a node that sends the result at PostStream."""
    run = step_run("""
    node { calculator: "TestIntegerSidePacketCalculator" output_side_packet: "one" }
    node { calculator: "TestIntegerSidePacketCalculator" output_side_packet: "another_one" }
    node { calculator: "TestSidePacketAdderCalculator" input_side_packet: "one"
           input_side_packet: "another_one" output_side_packet: "two" }
    node { calculator: "TestIntegerSidePacketCalculator" output_side_packet: "yet_another_one" }
    node { calculator: "TestSidePacketAdderCalculator" input_side_packet: "two"
           input_side_packet: "yet_another_one" output_side_packet: "three" }
    node { calculator: "TestSidePacketAtPostStreamCalculator" input_side_packet: "three"
           output_stream: "output" }
    """, ["output"])
    run.graph.wait_until_done(timeout=30)
    assert run.out["output"] == [(int(Timestamp.POSTSTREAM), 3)]


def test_output_side_packet_cached() -> None:
    """CalculatorGraph.OutputSidePacketCached: three runs of one graph see the same object."""
    graph = gf.CalculatorGraph(graph_config="""
    node { calculator: "TestCachedSidePacketCalculator" output_side_packet: "model" }
    node { calculator: "TestSidePacketAtPostStreamCalculator" input_side_packet: "model"
           output_stream: "output" }
    """)
    models: list[Any] = []
    graph.observe_output_stream("output", lambda name, packet: models.append(packet.payload))
    for _ in range(3):
        graph.start_run()
        graph.wait_until_done(timeout=30)
    assert len(models) == 3
    assert all(model is models[0] for model in models)


def test_get_output_side_packet(step_run: Runs) -> None:
    """CalculatorGraph.GetOutputSidePacket (its nodes; graphflow has no packet generators): a
    side packet set in Close can be read once the graph is idle and after the run; an unknown
    name is an error."""
    run = step_run("""
    input_stream: "input_packets"
    node { calculator: "TestCountToSidePacketInCloseCalculator" input_stream: "input_packets"
           output_side_packet: "num_of_packets" }
    """, [])
    graph: Any = run.graph
    for i in range(100):
        run.add("input_packets", i, i)
    run.close("input_packets")
    with pytest.raises(KeyError):
        graph.get_output_side_packet("unknown")
    run.idle()
    assert graph.get_output_side_packet("num_of_packets") == 100
    graph.wait_until_done(timeout=30)
    assert graph.get_output_side_packet("num_of_packets") == 100


def test_get_output_side_packet_after_calculator_is_opened(step_run: Runs) -> None:
    """CalculatorGraph.GetOutputSidePacketAfterCalculatorIsOpened: once the graph is idle, a
    side packet set in Open can be read."""
    run = step_run('node { calculator: "TestIntegerSidePacketCalculator" '
                   'output_side_packet: "offset" }', [])
    run.idle()
    graph: Any = run.graph
    assert graph.get_output_side_packet("offset") == 1


GENERATOR = """
node { calculator: "%s" %s output_side_packet: "offset%s" }
packet_generator { packet_generator: "PassThroughGenerator" input_side_packet: "offset%s"
                   output_side_packet: "offset_out" }
node { calculator: "TestSidePacketAtPostStreamCalculator" input_side_packet: "offset_out"
       output_stream: "output" }
"""


@pytest.mark.parametrize("in_process", [False, True])
def test_generator_after_calculator(in_process: bool) -> None:
    """CalculatorGraph.GeneratorAfterCalculatorOpen / GeneratorAfterCalculatorProcess, as far
    as graphflow goes: it runs no packet generators (no graph of MediaPipe's wheel has one), so
    a config with one is refused when the graph is built, naming the entry's line."""
    node = ("TestSidePacketInProcessCalculator", 'input_stream: "offset"', "", "") \
        if in_process else ("PassThroughCalculator", 'input_side_packet: "offset"', "1", "1")
    config = ('input_stream: "offset"' if in_process else 'input_side_packet: "offset"') + \
        GENERATOR % node
    with pytest.raises(gf.ConfigError, match=r"<string>:3:1: packet_generator "
                       "'PassThroughGenerator': graphflow runs no packet generators"):
        gf.CalculatorGraph(graph_config=config)


# --------------------------------------------------------------------------- closing and errors


def test_close_graph_inputs_ends_the_run(step_run: Runs) -> None:
    """Closing the graph inputs ends the run after the packets already added went through (a
    graphflow check, not one of MediaPipe's cases)."""
    run = step_run("""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """, ["out"])
    for i in range(10):
        run.add("in", i, i)
    run.finish()
    assert run.timestamps("out") == list(range(10))


def test_close_all_packet_sources(step_run: Runs) -> None:
    """CalculatorGraphStoppingTest.CloseAllPacketSources: closing every packet source, an
    endless source node included, ends the run without error; every node's Open and Close
    events come out."""
    run = step_run("""
    max_queue_size: 5
    input_stream: "input"
    node { calculator: "TestInfiniteSequenceCalculator" output_stream: "OUT:count"
           output_stream: "EVENT:event" }
    node { calculator: "TestStoppingPassThroughCalculator" input_stream: "count"
           input_stream: "input" output_stream: "count_out" output_stream: "input_out"
           output_stream: "EVENT:event_out" }
    """, ["input_out", "count_out", "event", "event_out"])
    for i in range(8):
        run.add("input", i, i)
    run.wait_for("input_out", 8)
    graph: Any = run.graph
    graph.close_all_packet_sources()
    graph.wait_until_done(timeout=30)
    assert run.timestamps("input_out") == list(range(8))
    assert len(run.out["count_out"]) >= 8
    assert run.out["event"] == [(1, 1), (2, 2)]
    assert run.out["event_out"] == [(1, 1), (2, 2)]


THROTTLED = """
input_stream: "in_1"
input_stream: "in_2"
input_side_packet: "release"
max_queue_size: 2
%s
node { calculator: "TestHoldCalculator" input_side_packet: "RELEASE:release"
       input_stream: "in_1" input_stream: "in_2" output_stream: "out_1" output_stream: "out_2" }
"""


def test_deadlock_reporting(step_run: Runs) -> None:
    """CalculatorGraphStoppingTest.DeadlockReporting: with report_deadlock, a third packet on
    in_1 (max_queue_size 2) while in_2 never settles anything is a deadlock, reported."""
    release = threading.Semaphore(3)
    run = step_run(THROTTLED % "report_deadlock: true", ["out_1"], {"release": release})
    run.add("in_1", 1, 1)
    run.add("in_1", 2, 2)
    with pytest.raises(gf.GraphError, match="deadlock"):
        run.add("in_1", 3, 3)
    with pytest.raises(gf.GraphError, match="deadlock"):
        run.idle()
    assert run.out["out_1"] == []


def test_deadlock_resolution(step_run: Runs) -> None:
    """CalculatorGraphStoppingTest.DeadlockResolution: packets on in_1 that cannot be processed
    (in_2 settles nothing) grow in_1's queue limit as far as needed, and no further."""
    release = threading.Semaphore(9)
    run = step_run(THROTTLED % "", ["out_1"], {"release": release})
    for i in range(1, 10):
        run.add("in_1", i, i)
        run.idle()
    release.release()
    run.add("in_2", 30, 30)
    run.idle()
    assert run.timestamps("out_1") == list(range(1, 10))
    for i in range(11, 23):  # the node takes 11, then waits in 12 with 13..22 queued
        run.add("in_1", i, i)
    refused = not run.graph.try_add_packet_to_input_stream("in_1", gf.Packet(23).at(23))
    release.release(12 if refused else 13)  # the 12 calls held (and the 23rd's, if it got in)
    run.idle()
    run.finish()
    assert refused
    assert len(run.out["out_1"]) == 21


@pytest.mark.parametrize(("timestamps", "complaint"), [
    ((5, 5), "not greater than the previous one"),  # the same timestamp again
    ((5, 4), "not greater than the previous one"),  # going back
])
def test_graph_input_timestamps_must_increase(step_run: Runs, timestamps: tuple[int, int],
                                              complaint: str) -> None:
    """A graph input's timestamps must increase (MediaPipe's AddPacketToInputStream; not a
    case of calculator_graph_test.cc, and not counted with them)."""
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


CHECK_INPUT_TIMESTAMP = """
input_side_packet: "source_log"
input_side_packet: "sink_log"
input_side_packet: "five"
node { calculator: "TestInputTimestampLogCalculator" output_stream: "integer"
       input_side_packet: "LOG:source_log" %s }
node { calculator: "TestInputTimestampLogCalculator" input_stream: "integer"
       input_side_packet: "LOG:sink_log" %s }
"""


def _input_timestamps(step_run: Runs, stop_in: str) -> tuple[list[Any], list[Any]]:
    """The (phase, input timestamp) logs of CheckInputTimestamp's source and sink."""
    source_log: list[Any] = []
    sink_log: list[Any] = []
    stop = 'input_side_packet: "STOP_AFTER:five"'
    run = step_run(CHECK_INPUT_TIMESTAMP % ((stop, "") if stop_in == "source" else ("", stop)),
                   [], {"source_log": source_log, "sink_log": sink_log, "five": 5})
    run.graph.wait_until_done(timeout=30)
    return source_log, sink_log


@pytest.mark.parametrize("stop_in", ["source", "sink"])
def test_check_input_timestamp(step_run: Runs, stop_in: str) -> None:
    """CalculatorGraph.CheckInputTimestamp (the source stops after five packets) and
    CheckInputTimestamp2 (the sink stops after five, which closes the source): the input
    timestamp is Unstarted in Open, the packets' in a sink's Process, and Done in Close.
    (A source's Process: see the next test.)"""
    source_log, sink_log = _input_timestamps(step_run, stop_in)
    unstarted, done = int(Timestamp.UNSTARTED), int(Timestamp.DONE)
    assert source_log[0] == ("open", unstarted)
    assert source_log[-1] == ("close", done)
    assert len(source_log) - 2 >= 5
    # The sink may take a few more packets after it stops the graph (MediaPipe's too).
    assert sink_log[0] == ("open", unstarted)
    assert sink_log[-1] == ("close", done)
    calls = sink_log[1:-1]
    assert calls == [("process", i, i) for i in range(len(calls))]
    assert len(calls) >= 5 if stop_in == "sink" else len(calls) == 5


@pytest.mark.parametrize("stop_in", ["source", "sink"])
def test_check_input_timestamp_of_a_source(step_run: Runs, stop_in: str) -> None:
    """CalculatorGraph.CheckInputTimestamp / CheckInputTimestamp2, their sources: the input
    timestamp is 0 in every Process call of a source."""
    source_log, _ = _input_timestamps(step_run, stop_in)
    assert {entry for entry in source_log if entry[0] == "process"} == {("process", 0)}


def test_bad_initialization() -> None:
    """CalculatorGraph.BadInitialization: a node without a calculator is refused."""
    with pytest.raises(gf.ConfigError):
        gf.CalculatorGraph(graph_config="""
        input_stream: "in"
        node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "mid" }
        node { input_stream: "mid" output_stream: "out" }
        """)


def test_bad_run() -> None:
    """CalculatorGraph.BadRun: a run without the side packets the graph needs fails."""
    graph = gf.CalculatorGraph(graph_config="""
    input_side_packet: "value"
    node { calculator: "TestSidePacketAtPostStreamCalculator" input_side_packet: "value"
           output_stream: "out" }
    """)
    with pytest.raises(ValueError, match="'value'"):
        graph.start_run()


def test_calculator_graph_not_initialized() -> None:
    """CalculatorGraph.CalculatorGraphNotInitialized: a graph needs a config."""
    with pytest.raises(ValueError, match="graph_config"):
        gf.CalculatorGraph()


@pytest.mark.parametrize(("source", "sink", "matches"), [
    ("TestStringEmptySourceCalculator", "TestStringSinkCalculator", True),
    ("TestEmptySourceCalculator", "TestIntSinkCalculator", True),
    ("TestStringEmptySourceCalculator", "TestIntSinkCalculator", False),
    ("TestEmptySourceCalculator", "TestStringSinkCalculator", False),
])
def test_type_mismatch(source: str, sink: str, matches: bool) -> None:
    """CalculatorGraph.TypeMismatch: a stream between ports of different types fails (when
    the graph is built, naming the stream, the types and the producer), without crashing."""
    config = f"""
    node {{ calculator: "{source}" output_stream: "stream_a" }}
    node {{ calculator: "{sink}" input_stream: "stream_a" }}
    """

    def run() -> None:
        graph = gf.CalculatorGraph(graph_config=config)
        graph.start_run()
        graph.wait_until_done(timeout=30)

    if matches:
        run()
    else:
        with pytest.raises(gf.ConfigError, match=r"input stream 'stream_a' takes (int|str), "
                           r"but node .* declares (str|int) for it"):
            run()


def test_closed_source_node_is_not_unthrottled(step_run: Runs) -> None:
    """CalculatorGraph.ClosedSourceNodeShouldNotBeUnthrottled: a source that sent everything
    and stopped while its consumer's queue was full is never run again when the queue drains;
    the run ends."""
    run = step_run("""
    num_threads: 1
    max_queue_size: 100
    node { calculator: "TestOutputAllSourceCalculator" output_stream: "first_stream" }
    node { calculator: "TestOutputOneAtATimeSourceCalculator" output_stream: "second_stream" }
    node { calculator: "TestDecimatorCalculator" input_stream: "second_stream"
           output_stream: "decimated_second_stream" }
    node { calculator: "TestMergeCalculator" input_stream: "first_stream"
           input_stream: "second_stream" input_stream: "decimated_second_stream"
           output_stream: "output" }
    """, ["output"])
    run.graph.wait_until_done(timeout=30)
    assert run.timestamps("output") == list(range(1000))
    assert run.out["output"][0] == (0, (0, 0, 0))
    assert run.out["output"][101] == (101, (None, 0, 0))


DELAY_IN_OPEN = """
max_queue_size: 1
input_side_packet: "global_counter"
node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:global_counter"
       output_stream: "integers" }
node { calculator: "TestUnitDelayCalculator" input_stream: "integers"
       output_stream: "delayed_integers" }
"""


def test_output_packet_in_open(step_run: Runs) -> None:
    """CalculatorGraph.OutputPacketInOpen: a packet sent in Open makes the next node ready
    while the throttled source has not run yet; the run goes on from there."""
    run = step_run(DELAY_IN_OPEN + """
    node { calculator: "PassThroughCalculator" input_stream: "delayed_integers"
           output_stream: "output" }
    """, ["output"], {"global_counter": itertools.count(1)})
    run.graph.wait_until_done(timeout=30)
    assert run.out["output"] == [(i, i) for i in range(6)]


def test_output_packet_in_open_with_a_waiting_merge(step_run: Runs) -> None:
    """CalculatorGraph.OutputPacketInOpen2: the packet sent in Open leaves the merge waiting
    for the source's stream, so the throttled source must be run from the start."""
    run = step_run(DELAY_IN_OPEN + """
    node { calculator: "TestMergeCalculator" input_stream: "delayed_integers"
           input_stream: "integers" output_stream: "output" }
    """, ["output"], {"global_counter": itertools.count(1)})
    run.graph.wait_until_done(timeout=30)
    assert run.out["output"] == [(i, (i, i + 1)) for i in range(5)] + [(5, (5, None))]


def test_empty_input_in_open(step_run: Runs) -> None:
    """CalculatorGraph.EmptyInputInOpen: Open sees no input packet, even one sent by the node
    upstream in its own Open."""
    run = step_run(DELAY_IN_OPEN + """
    node { calculator: "TestAssertEmptyInputInOpenCalculator" input_stream: "delayed_integers" }
    node { calculator: "TestAssertEmptyInputInOpenCalculator" input_stream: "integers" }
    """, [], {"global_counter": itertools.count(1)})
    run.graph.wait_until_done(timeout=30)


@pytest.mark.parametrize("nodes", [
    # DeadlockIsReportedAndSufficientInfoProvided
    "",
    # ...MultipleCalculators
    'node { calculator: "MergeCalculator" input_stream: "output1" input_stream: "output2" '
    'output_stream: "output3" }',
    # TwoDeadlocksAreReportedAndSufficientInfoProvided
    'node { calculator: "PassThroughCalculator" input_stream: "output1" '
    'input_stream: "output2" output_stream: "output3" output_stream: "output4" }\n'
    'node { calculator: "MergeCalculator" input_stream: "input1" input_stream: "output1" '
    'input_stream: "output2" input_stream: "output3" input_stream: "output4" '
    'output_stream: "output5" }',
])
def test_deadlock_is_reported_with_sufficient_info(step_run: Runs, nodes: str) -> None:
    """CalculatorGraph.DeadlockIsReportedAndSufficientInfoProvided (and its MultipleCalculators
    and TwoDeadlocks forms): with report_deadlock and max_queue_size 1, a second packet on
    input1 while input2 settles nothing fails, naming the stream and the node."""
    run = step_run(f"""
    report_deadlock: true
    max_queue_size: 1
    input_stream: "input1"
    input_stream: "input2"
    node {{ calculator: "PassThroughCalculator" input_stream: "input1" input_stream: "input2"
            output_stream: "output1" output_stream: "output2" }}
    {nodes}
    """, [])
    run.add("input1", 0, 1)
    with pytest.raises(gf.GraphError, match="deadlock") as error:
        run.add("input1", 1, 1)
    assert "input1" in str(error.value)
    assert "PassThroughCalculator" in str(error.value) or "MergeCalculator" in str(error.value)


def test_terminates_on_cancel_with_open_graph_input_streams(step_run: Runs) -> None:
    """CalculatorGraph.TerminatesOnCancelWithOpenGraphInputStreams: cancelling a run whose
    inputs are still open ends it, as cancelled."""
    run = step_run("""
    input_stream: "in_a"
    input_stream: "in_b"
    node { calculator: "PassThroughCalculator" input_stream: "in_a" input_stream: "in_b"
           output_stream: "out_a" output_stream: "out_b" }
    """, [])
    run.add("in_a", 1, 1)
    run.close("in_a")
    run.add("in_b", 2, 2)
    run.idle()
    run.graph.cancel()
    with pytest.raises(gf.GraphError, match="cancelled"):
        run.graph.wait_until_done(timeout=30)


def test_terminates_on_cancel_after_pause(step_run: Runs) -> None:
    """CalculatorGraph.TerminatesOnCancelAfterPause: a paused run with ready work ends when
    cancelled; pausing after that is ignored."""
    run = step_run("""
    input_stream: "in"
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """, [])
    graph: Any = run.graph
    graph.pause()
    run.add("in", 1, 1)
    graph.cancel()
    graph.pause()
    with pytest.raises(gf.GraphError, match="cancelled"):
        graph.wait_until_done(timeout=30)


def test_graph_finishes_while_paused(step_run: Runs) -> None:
    """CalculatorGraph.GraphFinishesWhilePaused: a run whose only call ends while the graph is
    paused still finishes once resumed (MediaPipe's 20 ms call is a held one here)."""
    release = threading.Semaphore(0)
    run = step_run("""
    input_side_packet: "release"
    node { calculator: "TestHoldCalculator" input_side_packet: "RELEASE:release"
           input_stream: "tick" output_stream: "out" }
    node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:counter"
           output_stream: "tick" }
    input_side_packet: "counter"
    """, [], {"release": release, "counter": itertools.count()})
    graph: Any = run.graph
    try:
        graph.pause()
    finally:
        release.release(5)  # the held call ends (while paused, if pause() worked)
    graph.resume()
    graph.wait_until_done(timeout=30)


def test_layer_ordering(step_run: Runs) -> None:
    """CalculatorGraph.LayerOrdering: sources run layer by layer, lowest first, the sources of
    one layer together: a shared counter numbers layer 0's five packets 0..4, layer 1's two
    sources share 5..14 (interleaved in any order), layer 2's gets 15..19."""
    counter = itertools.count()
    streams = ["count_0", "count_1a", "count_1b", "count_2"]
    run = step_run("""
    num_threads: 1
    input_side_packet: "counter"
    node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:counter"
           output_stream: "count_2" source_layer: 2 }
    node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:counter"
           output_stream: "count_1a" source_layer: 1 }
    node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:counter"
           output_stream: "count_0" source_layer: 0 }
    node { calculator: "TestGlobalCountSourceCalculator" input_side_packet: "COUNTER:counter"
           output_stream: "count_1b" source_layer: 1 }
    """, streams, {"counter": counter})
    run.graph.wait_until_done(timeout=30)
    assert run.out["count_0"] == [(i, i) for i in range(5)]
    for name in ("count_1a", "count_1b"):
        assert [ts for ts, _ in run.out[name]] == list(range(5))
        assert all(value in (5 + 2 * i, 6 + 2 * i) for i, (_, value) in enumerate(run.out[name]))
    assert run.out["count_2"] == [(i, 15 + i) for i in range(5)]
    assert next(counter) == 20


def test_set_input_stream_max_queue_size(step_run: Runs) -> None:
    """CalculatorGraph.SetInputStreamMaxQueueSizeWorksSlowCalculator: with one graph input's
    queue limited to 1 (the graph's is 100) and its node busy, one packet waits and the next is
    refused (a second busy node keeps the graph from resolving it as a deadlock)."""
    release, release_busy = threading.Semaphore(0), threading.Semaphore(0)
    graph: Any = gf.CalculatorGraph(graph_config="""
    input_stream: "in"
    input_stream: "in_2"
    input_side_packet: "release"
    input_side_packet: "release_busy"
    max_queue_size: 100
    node { calculator: "TestHoldCalculator" input_side_packet: "RELEASE:release"
           input_stream: "in" output_stream: "out" }
    node { calculator: "TestHoldCalculator" input_side_packet: "RELEASE:release_busy"
           input_stream: "in_2" output_stream: "out_2" }
    """)
    graph.set_input_stream_max_queue_size("in", 1)
    graph.start_run({"release": release, "release_busy": release_busy})
    try:
        graph.add_packet_to_input_stream("in_2", gf.Packet(0).at(0))
        graph.add_packet_to_input_stream("in", gf.Packet(0).at(0))
        for i in range(1, 20):
            graph.add_packet_to_input_stream("in", gf.Packet(i).at(2 * i))
            assert not graph.try_add_packet_to_input_stream("in", gf.Packet(i).at(2 * i + 1))
            release.release()
    finally:
        release.release(20)
        release_busy.release()
        graph.close()


def test_recover_after_previous_fail_in_open() -> None:
    """CalculatorGraph.RecoverAfterPreviousFailInOpen: runs of one graph alternate between a
    node failing in Open (after the node before it sent a packet in Open) and succeeding."""
    graph = gf.CalculatorGraph(graph_config="""
    input_side_packet: "max_count"
    input_side_packet: "fail"
    node { calculator: "CountingSourceCalculator" output_stream: "a"
           input_side_packet: "MAX_COUNT:max_count" }
    node { calculator: "TestUnitDelayCalculator" input_stream: "a" output_stream: "b" }
    node { calculator: "PassThroughCalculator" input_stream: "b" output_stream: "c" }
    node { calculator: "TestErrorOnOpenCalculator" input_stream: "c" output_stream: "d"
           input_side_packet: "ERROR_ON_OPEN:fail" }
    node { calculator: "TestIntSinkCalculator" input_stream: "d" }
    """)
    out: list[int] = []
    graph.observe_output_stream("d", lambda name, packet: out.append(packet.payload))
    for _ in range(2):
        out.clear()
        graph.start_run({"max_count": 10, "fail": False})
        graph.wait_until_done(timeout=30)
        assert out == [0, *range(10)]  # the delay's 0 from Open, then the source's
        graph.start_run({"max_count": 10, "fail": True})
        with pytest.raises(gf.GraphError, match="ERROR_ON_OPEN"):
            graph.wait_until_done(timeout=30)


def test_graph_input_stream_with_tag(step_run: Runs) -> None:
    """CalculatorGraph.GraphInputStreamWithTag: a tagged graph input is fed by its name."""
    run = step_run("""
    input_stream: "VIDEO_METADATA:video_metadata"
    input_stream: "max_count"
    node { calculator: "PassThroughCalculator" input_stream: "FIRST_INPUT:video_metadata"
           input_stream: "max_count" output_stream: "FIRST_INPUT:output_0"
           output_stream: "output_1" }
    """, ["output_0"])
    for i in range(5):
        run.add("video_metadata", i, i)
    run.finish()
    assert run.out["output_0"] == [(i, i) for i in range(5)]


EXECUTORS = """
input_stream: "in"
%s
node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "mid" }
node { calculator: "PassThroughCalculator" %s input_stream: "mid" output_stream: "out" }
"""
THREAD_POOL = ('type: "ThreadPoolExecutor" '
               "options { [mediapipe.ThreadPoolExecutorOptions.ext] { num_threads: 1 } }")


@pytest.mark.parametrize(("graph", "node", "complaint"), [
    # ReservedNameExecutorConfig
    (f'executor {{ name: "__gpu" {THREAD_POOL} }}', "", "'__gpu' is a reserved executor name"),
    # ReservedNameNodeExecutor
    ("", 'executor: "__gpu"', "'__gpu' is a reserved executor name"),
    # NonExistentExecutor (UndeclaredExecutor too: graphflow has no SetExecutor)
    ("", 'executor: "xyz"', "'xyz' is not declared"),
    # UntypedExecutorDeclaredButNotSet
    ('executor { name: "xyz" }', 'executor: "xyz"', "'xyz' has no type"),
    # DuplicateExecutorConfig
    (f'executor {{ name: "xyz" {THREAD_POOL} }} executor {{ name: "xyz" {THREAD_POOL} }}',
     'executor: "xyz"', "'xyz' is declared twice"),
    # NumThreadsAndDefaultExecutorConfig
    (f"num_threads: 1 executor {{ {THREAD_POOL} }}", "",
     "num_threads and an executor config for the default executor"),
])
def test_executor_config_errors(graph: str, node: str, complaint: str) -> None:
    """CalculatorGraph.ReservedNameExecutorConfig, ReservedNameNodeExecutor,
    NonExistentExecutor, UndeclaredExecutor, UntypedExecutorDeclaredButNotSet,
    DuplicateExecutorConfig and NumThreadsAndDefaultExecutorConfig: executor configs that the
    graph refuses, naming the executor."""
    with pytest.raises(gf.ConfigError, match=complaint):
        gf.CalculatorGraph(graph_config=EXECUTORS % (graph, node))


def test_num_threads_and_a_named_executor(step_run: Runs) -> None:
    """CalculatorGraph.NumThreadsAndNonDefaultExecutorConfig: num_threads (the default
    executor's) goes with a named executor's config."""
    run = step_run(EXECUTORS % (f'num_threads: 1 executor {{ name: "xyz" {THREAD_POOL} }}',
                                'executor: "xyz"'), ["out"])
    run.add("in", 0, 7)
    run.finish()
    assert run.out["out"] == [(0, 7)]
