"""Operator chaining: short nodes fused into the task of the node before them behave exactly as
separate tasks do (errors, timestamps, bounds, traces).

The graphs run on a simulation clock that never moves, so every call measures as short and the
chain is fused from the second timestamp on (the first measures each node's cost); packets are
added one at a time with the graph idle in between, so each timestamp is one task.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import graphflow as gf
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.config import expand_and_validate, load_config
from graphflow.runtime import Scheduler
from graphflow.testing import SimulationClock

pytestmark = pytest.mark.usefixtures("no_thread_leak")

WAIT = 30.0  # seconds: a guard against hangs, never a timing assertion


@register_calculator
class GfTFailAtThreeCalculator(Calculator):
    """Passes packets through; at timestamp 3, raises after sending (a failed call's packets
    go nowhere)."""

    inputs = (Port(""),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload)
        if cc.timestamp == 3:
            raise ValueError("three")


@register_calculator
class GfTMirrorCalculator(Calculator):
    """Outputs each packet at timestamp 100 - t: the second one goes backwards."""

    inputs = (Port(""),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload, 100 - cc.timestamp)


def _chain(*nodes: tuple[str, str]) -> str:
    """in -> each (name, calculator) in turn -> out."""
    streams = ["in", *[f"s{i}" for i in range(len(nodes) - 1)], "out"]
    text = 'input_stream: "in"\noutput_stream: "out"\n'
    for (name, calc), src, dst in zip(nodes, streams, streams[1:], strict=False):
        text += (f'node {{ name: "{name}" calculator: "{calc}" input_stream: "{src}" '
                 f'output_stream: "{dst}" }}\n')
    return text


def _run_one_at_a_time(config: str, count: int, seen: list[tuple[int, Any]],
                       trace: pathlib.Path | None = None) -> None:
    graph = gf.CalculatorGraph(config, clock=SimulationClock())
    if trace is not None:
        graph.set_trace_path(trace)
    graph.observe_output_stream("out", lambda _, p: seen.append((int(p.timestamp), p.payload)))
    graph.start_run()
    try:
        for t in range(count):
            graph.add_packet_to_input_stream("in", gf.Packet(t).at(t))
            graph.wait_until_idle(WAIT)
        graph.close_all_input_streams()
    finally:
        graph.wait_until_done(WAIT)


def test_a_failure_in_a_fused_chain_names_its_node_and_timestamp() -> None:
    seen: list[tuple[int, Any]] = []
    with pytest.raises(gf.GraphError) as info:
        _run_one_at_a_time(_chain(("first", "PassThroughCalculator"),
                                  ("failer", "GfTFailAtThreeCalculator"),
                                  ("last", "PassThroughCalculator")), 6, seen)
    assert str(info.value) == ("node 'failer' (GfTFailAtThreeCalculator) at <string>:4:1: "
                               "failed in process at timestamp 3: ValueError: three")
    assert (info.value.node, info.value.method) == ("failer", "process")
    assert seen == [(0, 0), (1, 1), (2, 2)]


def test_backwards_timestamps_in_a_fused_chain_reach_no_consumer() -> None:
    """The second packet (at 100 - 1 = 99, after 100) fails the graph at the node that sent it;
    the node after it, fused into the same task, never gets it."""
    seen: list[tuple[int, Any]] = []
    with pytest.raises(gf.GraphError, match=r"node 'mirror' .* output stream 's1' got a packet at "
                       r"99, but the stream is already at 101"):
        _run_one_at_a_time(_chain(("first", "PassThroughCalculator"),
                                  ("mirror", "GfTMirrorCalculator"),
                                  ("last", "PassThroughCalculator")), 3, seen)
    assert seen == [(100, 0)]


def test_fused_nodes_are_traced_one_event_per_call(tmp_path: pathlib.Path) -> None:
    seen: list[tuple[int, Any]] = []
    trace = tmp_path / "trace.json"
    _run_one_at_a_time(_chain(("a", "PassThroughCalculator"), ("b", "PassThroughCalculator"),
                              ("c", "PassThroughCalculator")), 4, seen, trace)
    assert seen == [(t, t) for t in range(4)]
    calls = [(e["name"], e["args"]["timestamp"]) for e in json.loads(trace.read_text())
             ["traceEvents"] if e["ph"] == "X" and e["cat"] == "process"]
    for name in "abc":
        assert [ts for n, ts in calls if n == name] == ["0", "1", "2", "3"]
    sink = [n for n, _ in calls if n.startswith("__sink")]
    assert len(sink) == 4  # the observer too, once a packet


def _fuse_next(config: str) -> dict[str, str | None]:
    scheduler = Scheduler(expand_and_validate(load_config(config)), {}, synchronous=True,
                          max_queue_size=100, num_threads=1, executor_threads={"other": 1})
    return {n.name: n.fuse_next.name if n.fuse_next else None for n in scheduler.nodes}


def test_which_nodes_can_run_in_the_task_before_them() -> None:
    config = """
      input_stream: "in"
      executor { name: "other" type: "ThreadPoolExecutor" }
      node { name: "a" calculator: "PassThroughCalculator" input_stream: "in" output_stream: "x" }
      node { name: "b" calculator: "PassThroughCalculator" input_stream: "x" output_stream: "y" }
      node { name: "c" calculator: "PassThroughCalculator" input_stream: "y" output_stream: "z" }
      node { name: "d" calculator: "PassThroughCalculator" input_stream: "y" output_stream: "w" }
      node { name: "e" calculator: "PassThroughCalculator" input_stream: "z" input_stream: "w"
             output_stream: "v" output_stream: "u" }
      node { name: "f" calculator: "PassThroughCalculator" input_stream: "v" output_stream: "t"
             executor: "other" }
      node { name: "g" calculator: "PassThroughCalculator" input_stream: "u" output_stream: "s"
             max_in_flight: 2 }
      node { name: "h" calculator: "PassThroughCalculator" input_stream: "s" output_stream: "r" }
      node { name: "i" calculator: "PassThroughCalculator" input_stream: "r" output_stream: "q"
             input_stream_handler { input_stream_handler: "FixedSizeInputStreamHandler" } }
    """
    assert _fuse_next(config) == {
        "a": "b",  # one output, one consumer with one input
        "b": None,  # two consumers (c, d)
        "c": None,  # its consumer e has two inputs
        "d": None,
        "e": None,  # two output streams
        "f": None,  # no consumer
        "g": None,  # g calls several timestamps at once
        "h": None,  # i drops packets: it must see its queue
        "i": None,
    }
    # A consumer on another executor, or one that takes several timestamps at once, stays apart.
    assert _fuse_next(config.replace('output_stream: "t"\n             executor: "other"',
                                     'output_stream: "t"'))["f"] is None
    assert _fuse_next("""
      input_stream: "in"
      executor { name: "other" type: "ThreadPoolExecutor" }
      node { name: "a" calculator: "PassThroughCalculator" input_stream: "in" output_stream: "x" }
      node { name: "b" calculator: "PassThroughCalculator" input_stream: "x" output_stream: "y"
             executor: "other" }
      node { name: "c" calculator: "PassThroughCalculator" input_stream: "y" output_stream: "z"
             executor: "other" }
      node { name: "d" calculator: "PassThroughCalculator" input_stream: "z" output_stream: "o"
             max_in_flight: 3 }
    """) == {"a": None, "b": "c", "c": None, "d": None}


@register_calculator
class GfTEvenOnlyCalculator(Calculator):
    """Passes packets at even timestamps; its offset tells that odd ones have none."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        if cc.timestamp % 2 == 0:
            cc.outputs[0].add(cc.inputs[0].payload)


@register_calculator
class GfTJoinCalculator(Calculator):
    """Outputs (A payload or None, B payload or None) for every input set."""

    inputs = (Port("A"), Port("B"))
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add((cc.inputs["A"].get(), cc.inputs["B"].get()))


def test_a_fused_node_that_gets_no_packet_still_moves_its_bound() -> None:
    """At odd timestamps the filter sends nothing, so the node fused after it is not called;
    its offset must still tell the join that it has nothing there, at once."""
    config = """
      input_stream: "in"
      output_stream: "out"
      node { name: "even" calculator: "GfTEvenOnlyCalculator" input_stream: "in"
             output_stream: "evens" }
      node { name: "pass" calculator: "PassThroughCalculator" input_stream: "evens"
             output_stream: "passed" }
      node { name: "join" calculator: "GfTJoinCalculator" input_stream: "A:passed"
             input_stream: "B:in" output_stream: "out" }
    """
    graph = gf.CalculatorGraph(config, clock=SimulationClock())
    seen: list[tuple[int, Any]] = []
    graph.observe_output_stream("out", lambda _, p: seen.append((int(p.timestamp), p.payload)))
    graph.start_run()
    for t in range(6):
        graph.add_packet_to_input_stream("in", gf.Packet(t).at(t))
        graph.wait_until_idle(WAIT)
        assert [ts for ts, _ in seen] == list(range(t + 1))  # joined now, not at the next one
    graph.close()
    assert [payload for _, payload in seen] == [(t if t % 2 == 0 else None, t) for t in range(6)]
