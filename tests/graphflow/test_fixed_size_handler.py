"""FixedSizeInputStreamHandler: MediaPipe's handler that drops the oldest queued packets.

The expected outputs are those of MediaPipe's own fixed_size_input_stream_handler_test.cc
(LateArrivalDrop, DropsPacketsInFullStream), run here through graphflow's scheduler.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest

import graphflow as gf
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.testing import timestamps

WAIT = 30.0  # seconds: a guard against hangs, never a timing assertion


def _handler(trigger: int, target: int, fixed_min_size: bool) -> str:
    return f"""input_stream_handler {{
        input_stream_handler: "FixedSizeInputStreamHandler"
        options {{ [mediapipe.FixedSizeInputStreamHandlerOptions.ext] {{
          trigger_queue_size: {trigger} target_queue_size: {target}
          fixed_min_size: {str(fixed_min_size).lower()} }} }}
      }}"""


def _collect(sink: list[gf.Packet[Any]], stream: str, packet: gf.Packet[Any]) -> None:
    sink.append(packet)


def _add(graph: gf.CalculatorGraph, stream: str, ts: int) -> None:
    graph.add_packet_to_input_stream(stream, gf.Packet(ts).at(ts))


@pytest.mark.parametrize(("fixed_min_size", "expected"), [
    (False, [[5, 6], [5, 6, 7], [5, 6, 7]]),
    (True, [[1, 2, 3, 4, 5, 6], [3, 4, 5, 6, 7], [4, 5, 6, 7]]),
])
def test_late_arrivals_below_the_cut_are_dropped(fixed_min_size: bool,
                                                 expected: list[list[int]]) -> None:
    """A: 1..6, B: 3..7 cut every stream at 5; C's 4 then arrives late and is dropped too."""
    config = f"""
      input_stream: "in_0"
      input_stream: "in_1"
      input_stream: "in_2"
      node {{
        calculator: "PassThroughCalculator"
        input_stream: "in_0" input_stream: "in_1" input_stream: "in_2"
        output_stream: "out_0" output_stream: "out_1" output_stream: "out_2"
        {_handler(4, 3, fixed_min_size)}
      }}"""
    graph = gf.CalculatorGraph(graph_config=config)
    out: list[list[gf.Packet[Any]]] = [[], [], []]
    for i in range(3):
        graph.observe_output_stream(f"out_{i}", functools.partial(_collect, out[i]))
    graph.start_run({})
    for ts in range(1, 7):
        _add(graph, "in_0", ts)
    for ts in range(3, 8):
        _add(graph, "in_1", ts)
        graph.wait_until_idle(WAIT)
    for ts in range(4, 8):
        _add(graph, "in_2", ts)
        graph.wait_until_idle(WAIT)
    graph.close_all_input_streams()
    graph.wait_until_done(WAIT)
    assert [timestamps(o) for o in out] == expected


@register_calculator
class GfTHeldCalculator(Calculator):
    """Passes packets through; the first call waits for the GO event (set by the test)."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("GO", threading.Event), Port("STARTED", threading.Event))

    def process(self, cc: CalculatorContext) -> None:
        cc.side_inputs["STARTED"].set()
        assert cc.side_inputs["GO"].wait(WAIT), "never released"
        cc.outputs[0].add(cc.inputs[0].payload)


@pytest.mark.parametrize(("trigger", "target", "expected"), [
    (2, 1, [0, 9]),  # MediaPipe's defaults: only the newest packet waits
    (3, 2, [0, 8, 9]),
    # A queue under the trigger keeps trigger - 1 packets: 1-3 stay, 4 cuts to 3-4, 5 stays,
    # 6 cuts to 5-6, 7 stays, 8 cuts to 7-8, 9 stays (cutting to the target every time would
    # leave 8-9).
    (4, 2, [0, 7, 8, 9]),
])
def test_a_busy_node_keeps_only_the_newest_packets(trigger: int, target: int,
                                                   expected: list[int]) -> None:
    config = f"""
      input_stream: "in"
      output_stream: "out"
      node {{
        calculator: "GfTHeldCalculator"
        input_stream: "in" output_stream: "out"
        input_side_packet: "GO:go" input_side_packet: "STARTED:started"
        {_handler(trigger, target, False)}
      }}"""
    graph = gf.CalculatorGraph(graph_config=config)
    out: list[gf.Packet[Any]] = []
    graph.observe_output_stream("out", lambda _, p: out.append(p))
    go, started = threading.Event(), threading.Event()
    graph.start_run({"go": go, "started": started})
    _add(graph, "in", 0)
    assert started.wait(WAIT)  # timestamp 0 is being processed ...
    for ts in range(1, 10):
        _add(graph, "in", ts)  # ... while these queue up and the oldest are dropped
    go.set()
    graph.close_all_input_streams()
    graph.wait_until_done(WAIT)
    assert timestamps(out) == expected


@pytest.mark.parametrize("fixed_min_size", [False, True])
def test_dropping_packets_of_a_full_queue_releases_its_throttled_source(
        fixed_min_size: bool) -> None:
    """A source fills the queue (max_queue_size 10) in one call and is throttled; the handler's
    drops must release it at once, not when the busy node next takes a packet."""
    config = f"""
      max_queue_size: 10
      node {{
        calculator: "GfTBurstSourceCalculator"
        output_stream: "in" input_side_packet: "DONE:done"
      }}
      node {{
        calculator: "GfTHeldCalculator"
        input_stream: "in" output_stream: "out"
        input_side_packet: "GO:go" input_side_packet: "STARTED:started"
        {_handler(2, 1, fixed_min_size)}
      }}"""
    graph = gf.CalculatorGraph(graph_config=config)
    out: list[gf.Packet[Any]] = []
    graph.observe_output_stream("out", lambda _, p: out.append(p))
    go, started, done = threading.Event(), threading.Event(), threading.Event()
    graph.start_run({"go": go, "started": started, "done": done})
    assert started.wait(WAIT)
    assert done.wait(WAIT), "the source stayed throttled"  # all 30 sent while 9 is held
    go.set()
    graph.wait_until_done(WAIT)
    assert timestamps(out) == [9, 29]  # of each burst of 10 only the newest is left


@register_calculator
class GfTBurstSourceCalculator(Calculator):
    """Sends 10 packets per call, three times (MediaPipe's CountingSourceCalculator with
    BATCH_SIZE 10), then sets DONE."""

    outputs = (Port("", int),)
    input_side_packets = (Port("DONE", threading.Event),)

    def open(self, cc: CalculatorContext) -> None:
        self.next = 0

    def process(self, cc: CalculatorContext) -> None:
        if self.next == 30:
            cc.side_inputs["DONE"].set()
            raise gf.Stop()
        for ts in range(self.next, self.next + 10):
            cc.outputs[0].add(ts, ts)
        self.next += 10
