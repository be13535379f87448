"""CalculatorGraph at run time, mirroring MediaPipe's calculator_graph_test.cc and the input
stream handler tests: timestamp alignment, bounds, throttling, concurrency, errors, modes."""

from __future__ import annotations

import json
import pathlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

import graphflow as gf
from graphflow.calculator import Calculator, CalculatorContext, Port, Stop, register_calculator
from graphflow.testing import SimulationClock, payloads, run_graph, timestamps

pytestmark = pytest.mark.usefixtures("no_thread_leak")

WAIT = 30.0  # seconds: a guard against hangs, never a timing assertion


# --------------------------------------------------------------------------- test calculators


@register_calculator
class GfTPairCalculator(Calculator):
    """Outputs (timestamp, A payload, B payload) for every input set (None when empty)."""

    inputs = (Port("A"), Port("B"))
    outputs = (Port("OUT"),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs["OUT"].add((int(cc.timestamp), cc.inputs["A"].get(), cc.inputs["B"].get()))


@register_calculator
class GfTLogCalculator(Calculator):
    """Appends (timestamp, A, B, C payloads) of every call to the LOG side packet (None when
    empty); with a GO semaphore, waits for it before each call."""

    inputs = (Port("A", optional=True), Port("B", optional=True), Port("C", optional=True))
    input_side_packets = (Port("LOG", list), Port("GO", threading.Semaphore, optional=True))

    def process(self, cc: CalculatorContext) -> None:
        go = cc.side_inputs.get("GO")
        if go is not None:
            assert go.acquire(timeout=WAIT), "never released"
        cc.side_inputs["LOG"].append((int(cc.timestamp), *(
            cc.inputs[t].get() if cc.inputs.connected(t) else None for t in "ABC")))


@register_calculator
class GfTBoundsLogCalculator(GfTLogCalculator):
    """GfTLogCalculator with process_timestamp_bounds."""

    process_timestamp_bounds = True


@register_calculator
class GfTLateBoundsCalculator(Calculator):
    """Immediate handler, process_timestamp_bounds, timestamp_offset 5: A's payloads at T+5."""

    inputs = (Port("A"), Port("B"))
    outputs = (Port("OUT"),)
    input_stream_handler: ClassVar[str | None] = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True
    timestamp_offset: ClassVar[int | None] = 5

    def process(self, cc: CalculatorContext) -> None:
        if cc.inputs.has("A"):
            cc.outputs["OUT"].add(cc.inputs["A"].payload, cc.timestamp + 5)


@register_calculator
class GfTEvenOffsetCalculator(Calculator):
    """Passes even numbers; declares timestamp_offset 0, so dropped ones advance the bound."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    timestamp_offset: ClassVar[int | None] = 0

    def process(self, cc: CalculatorContext) -> None:
        if cc.inputs[0].payload % 2 == 0:
            cc.outputs[0].add(cc.inputs[0].payload)


@register_calculator
class GfTEvenNoOffsetCalculator(GfTEvenOffsetCalculator):
    """The same without timestamp_offset: nothing tells downstream about dropped packets."""

    timestamp_offset = None


@register_calculator
class GfTEvenBoundCalculator(GfTEvenNoOffsetCalculator):
    """The same, announcing dropped timestamps with set_next_timestamp_bound."""

    def process(self, cc: CalculatorContext) -> None:
        super().process(cc)
        cc.outputs[0].set_next_timestamp_bound(cc.timestamp + 1)


@register_calculator
class GfTBoundsRecorderCalculator(Calculator):
    """Records (timestamp, A, B) of every call, bound-only calls included."""

    inputs = (Port("A"), Port("B"))
    outputs = (Port("OUT"),)
    process_timestamp_bounds = True

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs["OUT"].add((int(cc.timestamp), cc.inputs["A"].get(), cc.inputs["B"].get()),
                              cc.timestamp)


@register_calculator
class GfTSleepCalculator(Calculator):
    """Sleeps SLEEP_S seconds per packet, recording ("start"|"end", timestamp, thread) events
    in the EVENTS side packet; timestamp 0 also waits until timestamp 1 has finished."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("EVENTS", list), Port("SLEEP_S", float),
                          Port("ONE_DONE", threading.Event))

    def open(self, cc: CalculatorContext) -> None:
        self.events: list[tuple[str, int, int]] = cc.side_inputs["EVENTS"]
        self.lock = threading.Lock()

    def process(self, cc: CalculatorContext) -> None:
        ts = int(cc.timestamp)
        with self.lock:
            self.events.append(("start", ts, threading.get_ident()))
        time.sleep(cc.side_inputs["SLEEP_S"])
        if ts == 0:
            assert cc.side_inputs["ONE_DONE"].wait(WAIT), "timestamp 1 never finished"
        cc.outputs[0].add(cc.inputs[0].payload)
        with self.lock:
            self.events.append(("end", ts, threading.get_ident()))
        if ts == 1:
            cc.side_inputs["ONE_DONE"].set()


@register_calculator
class GfTTimedRecorderCalculator(Calculator):
    """Passes packets through after SLEEP_S seconds (default none), recording
    ``(node name, timestamp, start, end, thread)`` in the LOG side packet. With a CLOCK, each
    call also takes COST_S seconds of that simulated clock's time (which the scheduler's rules
    see), and start and end are read from it."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("LOG", list), Port("SLEEP_S", float, optional=True),
                          Port("CLOCK", SimulationClock, optional=True),
                          Port("COST_S", float, optional=True))

    def process(self, cc: CalculatorContext) -> None:
        clock = cc.side_inputs.get("CLOCK")
        now = time.perf_counter if clock is None else clock.now
        start = now()
        if "SLEEP_S" in cc.side_inputs:
            time.sleep(cc.side_inputs["SLEEP_S"])
        if clock is not None:
            clock.advance(cc.side_inputs["COST_S"])
        cc.outputs[0].add(cc.inputs[0].payload)
        cc.side_inputs["LOG"].append((cc.node_name, int(cc.timestamp), start, now(),
                                      threading.get_ident()))


@register_calculator
class GfTRendezvousCalculator(Calculator):
    """Passes packets through; at timestamp AT, the WAIT node blocks until the SET node (another
    node of the same graph) has run that timestamp, recording whether it did in SEEN. While it
    waits, the simulated CLOCK moves on a millisecond per real millisecond."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("EVENT", threading.Event), Port("AT", int), Port("SEEN", list),
                          Port("ROLE", str), Port("CLOCK", SimulationClock))

    def process(self, cc: CalculatorContext) -> None:
        if int(cc.timestamp) == cc.side_inputs["AT"]:
            event = cc.side_inputs["EVENT"]
            if cc.side_inputs["ROLE"] == "set":
                event.set()
            else:
                deadline = time.monotonic() + WAIT
                while not event.wait(0.001) and time.monotonic() < deadline:
                    cc.side_inputs["CLOCK"].advance(0.001)
                cc.side_inputs["SEEN"].append(event.is_set())
        cc.outputs[0].add(cc.inputs[0].payload)


@register_calculator
class GfTGatedConsumerCalculator(Calculator):
    """Waits for the GO event before each packet and samples graph.queue_sizes()."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("GO", threading.Semaphore), Port("SAMPLE", object))

    def process(self, cc: CalculatorContext) -> None:
        assert cc.side_inputs["GO"].acquire(timeout=WAIT), "never released"
        cc.side_inputs["SAMPLE"]()
        cc.outputs[0].add(cc.inputs[0].payload)


@register_calculator
class GfTFailingCalculator(Calculator):
    """Raises in the method named by the FAIL_IN side packet (at timestamp 2 in process)."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("FAIL_IN", str),)

    def open(self, cc: CalculatorContext) -> None:
        self.fail_in = cc.side_inputs["FAIL_IN"]
        if self.fail_in == "open":
            raise RuntimeError("cannot open")

    def process(self, cc: CalculatorContext) -> None:
        if self.fail_in == "process" and cc.timestamp == 2:
            raise ValueError("bad packet")
        cc.outputs[0].add(cc.inputs[0].payload)

    def close(self, cc: CalculatorContext) -> None:
        if self.fail_in == "close":
            raise OSError("cannot close")


@register_calculator
class GfTEndlessSourceCalculator(Calculator):
    """A source that never stops on its own."""

    outputs = (Port(""),)

    def open(self, cc: CalculatorContext) -> None:
        self.count = 0

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(self.count, self.count)
        self.count += 1


@register_calculator
class GfTThreadRecorderCalculator(Calculator):
    """Records the thread of open, process and close in the THREADS side packet."""

    inputs = (Port("", optional=True),)
    outputs = (Port(""),)
    input_side_packets = (Port("THREADS", list),)

    def open(self, cc: CalculatorContext) -> None:
        cc.side_inputs["THREADS"].append(("open", threading.get_ident()))

    def process(self, cc: CalculatorContext) -> None:
        cc.side_inputs["THREADS"].append(("process", threading.get_ident()))
        cc.outputs[0].add(cc.inputs[0].payload)

    def close(self, cc: CalculatorContext) -> None:
        cc.side_inputs["THREADS"].append(("close", threading.get_ident()))


@register_calculator
class GfTPeekingCalculator(Calculator):
    """Passes packets through after a look at its graph's POLLER (waiting up to a millisecond
    for a packet, which never comes in time), recording what it saw in SEEN."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("POLLER"), Port("SEEN", list))

    def process(self, cc: CalculatorContext) -> None:
        try:
            cc.side_inputs["SEEN"].append(cc.side_inputs["POLLER"].next(0.001))
        except TimeoutError:
            cc.side_inputs["SEEN"].append(None)
        cc.outputs[0].add(cc.inputs[0].payload)


@register_calculator
class GfTBackwardsCalculator(Calculator):
    """Outputs each packet at timestamp 100 - t: the second one goes backwards."""

    inputs = (Port(""),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload, 100 - cc.timestamp)


@register_calculator
class GfTSideInOpenCalculator(Calculator):
    """Sets its SIDE side packet in open, then passes its packets on."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    output_side_packets = (Port("SIDE"),)

    def open(self, cc: CalculatorContext) -> None:
        cc.side_outputs["SIDE"].set("made in open")

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add_packet(cc.inputs[0])


# --------------------------------------------------------------------------- helpers


THREAD_POOL = ('type: "ThreadPoolExecutor" '
               "options { [mediapipe.ThreadPoolExecutorOptions.ext] { num_threads: 1 } }")


def _graph(text: str, **kwargs: Any) -> gf.CalculatorGraph:
    return gf.CalculatorGraph(graph_config=text, **kwargs)


def _collect(graph: gf.CalculatorGraph, stream: str) -> list[Any]:
    out: list[Any] = []
    graph.observe_output_stream(stream, lambda name, packet: out.append(packet.payload))
    return out


def _add(graph: gf.CalculatorGraph, stream: str, ts: int, payload: Any) -> None:
    graph.add_packet_to_input_stream(stream, gf.Packet(payload).at(ts))


PAIR = """
input_stream: "a"
input_stream: "b"
node {
  calculator: "GfTPairCalculator"
  input_stream: "A:a"
  input_stream: "B:b"
  output_stream: "OUT:out"
  %s
}
"""


# --------------------------------------------------------------------------- input handlers


def test_default_handler_aligns_timestamps() -> None:
    out = run_graph(PAIR % "", inputs={"a": [(0, "a0"), (1, "a1"), (2, "a2"), (4, "a4")],
                                       "b": [(0, "b0"), (2, "b2"), (3, "b3")]},
                    outputs=["out"])["out"]
    assert payloads(out) == [(0, "a0", "b0"), (1, "a1", None), (2, "a2", "b2"),
                             (3, None, "b3"), (4, "a4", None)]
    assert timestamps(out) == [0, 1, 2, 3, 4]


def test_default_handler_releases_partial_sets_on_bounds() -> None:
    graph = _graph(PAIR % "")
    out = _collect(graph, "out")
    graph.start_run()
    _add(graph, "a", 1, "a1")
    graph.wait_until_idle(WAIT)
    assert out == []  # b might still send a packet at 1
    _add(graph, "b", 2, "b2")  # b's bound passes 1: the set at 1 is complete without b
    graph.wait_until_idle(WAIT)
    assert out == [(1, "a1", None)]
    _add(graph, "a", 2, "a2")
    graph.wait_until_idle(WAIT)
    assert out == [(1, "a1", None), (2, "a2", "b2")]
    _add(graph, "a", 5, "a5")
    graph.close_input_stream("b")  # closing b settles every timestamp on it
    graph.wait_until_idle(WAIT)
    assert out[-1] == (5, "a5", None)
    graph.close()


def test_immediate_handler() -> None:
    config = """
    input_stream: "a"
    input_stream: "b"
    node {
      calculator: "GfTLogCalculator"
      input_stream: "A:a"
      input_stream: "B:b"
      input_side_packet: "LOG:log"
      input_side_packet: "GO:go"
      input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" }
    }
    """
    graph = _graph(config)
    log: list[tuple[Any, ...]] = []
    go = threading.Semaphore(1)
    graph.start_run({"log": log, "go": go})
    _add(graph, "a", 5, "a5")
    graph.wait_until_idle(WAIT)
    assert log == [(5, "a5", None, None)]  # no waiting for b
    _add(graph, "b", 3, "b3")  # the call at 3 waits for GO while 7 arrives on both streams
    _add(graph, "a", 7, "a7")
    _add(graph, "b", 7, "b7")
    go.release()
    go.release()
    graph.wait_until_idle(WAIT)
    # Each stream on its own (3 after 5); packets waiting at the same timestamp come together
    # (MediaPipe's FillInputSet takes every stream ready at the input timestamp).
    assert log == [(5, "a5", None, None), (3, None, "b3", None), (7, "a7", "b7", None)]
    graph.close()


def test_sync_set_handler() -> None:
    config = """
    input_stream: "a"
    input_stream: "b"
    input_stream: "c"
    node {
      calculator: "GfTLogCalculator"
      input_stream: "A:a"
      input_stream: "B:b"
      input_stream: "C:c"
      input_side_packet: "LOG:log"
      input_stream_handler {
        input_stream_handler: "SyncSetInputStreamHandler"
        options {
          [mediapipe.SyncSetInputStreamHandlerOptions.ext] {
            sync_set { tag_index: "A" tag_index: "B" }
          }
        }
      }
    }
    """
    graph = _graph(config)
    log: list[tuple[Any, ...]] = []
    graph.start_run({"log": log})
    _add(graph, "c", 9, "c9")
    graph.wait_until_idle(WAIT)
    assert log == [(9, None, None, "c9")]  # C is its own set (the streams no set names)
    _add(graph, "a", 1, "a1")
    graph.wait_until_idle(WAIT)
    assert log == [(9, None, None, "c9")]  # A waits for B
    _add(graph, "b", 1, "b1")
    _add(graph, "b", 2, "b2")
    graph.wait_until_idle(WAIT)
    assert log == [(9, None, None, "c9"), (1, "a1", "b1", None)]  # 2 waits for A's bound
    graph.close_input_stream("a")
    graph.wait_until_idle(WAIT)
    assert log[-1] == (2, None, "b2", None)
    graph.close()


# --------------------------------------------------------------------------- bounds

OFFSET = """
input_stream: "in"
node { calculator: "%s" input_stream: "in" output_stream: "even" }
node {
  calculator: "GfTPairCalculator"
  input_stream: "A:in"
  input_stream: "B:even"
  output_stream: "OUT:out"
}
"""


@pytest.mark.parametrize(("calculator", "prompt"), [
    ("GfTEvenOffsetCalculator", True),
    ("GfTEvenBoundCalculator", True),
    ("GfTEvenNoOffsetCalculator", False),
])
def test_timestamp_offset_and_bounds_propagate(calculator: str, prompt: bool) -> None:
    graph = _graph(OFFSET % calculator)
    out = _collect(graph, "out")
    graph.start_run()
    _add(graph, "in", 0, 0)
    graph.wait_until_idle(WAIT)
    assert out == [(0, 0, 0)]
    _add(graph, "in", 1, 1)  # dropped by the filter
    graph.wait_until_idle(WAIT)
    # With an offset (or an explicit bound) the pair node learns at once that no packet at 1
    # comes from the filter; without, it waits for the filter's next packet.
    assert out == ([(0, 0, 0), (1, 1, None)] if prompt else [(0, 0, 0)])
    _add(graph, "in", 2, 2)
    graph.wait_until_idle(WAIT)
    assert out == [(0, 0, 0), (1, 1, None), (2, 2, 2)]
    graph.close()


def test_offset_propagates_bounds_without_packets() -> None:
    # PassThroughCalculator declares timestamp_offset 0: when only its input bound advances
    # (the filter dropped 1), its output bound follows without a call (MediaPipe's
    # bound propagation), so the pair node does not wait.
    config = OFFSET.replace('output_stream: "even" }', 'output_stream: "even0" }\n'
                            'node { calculator: "PassThroughCalculator" input_stream: "even0" '
                            'output_stream: "even" }')
    graph = _graph(config % "GfTEvenOffsetCalculator")
    out = _collect(graph, "out")
    graph.start_run()
    for t in range(2):
        _add(graph, "in", t, t)
    graph.wait_until_idle(WAIT)
    assert out == [(0, 0, 0), (1, 1, None)]
    graph.close()


def test_negative_timestamps_are_ordinary() -> None:
    # Opening a node must not move its output bounds: -10 is a timestamp like any other.
    out = run_graph(OFFSET % "GfTEvenOffsetCalculator",
                    inputs={"in": [(-10, -10), (-9, -9), (-8, -8)]}, outputs=["out"])["out"]
    assert payloads(out) == [(-10, -10, -10), (-9, -9, None), (-8, -8, -8)]


def test_process_timestamp_bounds_calls_on_bound_changes() -> None:
    config = OFFSET.replace("GfTPairCalculator", "GfTBoundsRecorderCalculator")
    out = run_graph(config % "GfTEvenOffsetCalculator", inputs={"in": [(0, 0), (1, 1), (2, 2)]},
                    outputs=["out"])["out"]
    # Every settled timestamp is seen once; at 1 only A has a packet.
    assert payloads(out) == [(0, 0, 0), (1, 1, None), (2, 2, 2)]


@pytest.mark.parametrize(("handler", "last_call"), [
    ("ImmediateInputStreamHandler", [(int(gf.Timestamp.MAX), None, None)]),
    ("DefaultInputStreamHandler", []),
])
def test_process_timestamp_bounds_last_call_when_inputs_close(
        handler: str, last_call: list[tuple[int, None, None]]) -> None:
    # MediaPipe's immediate handler calls once more at Done's previous timestamp (MAX) when
    # its streams are done (immediate_input_stream_handler.cc, kDonePrecedingTimestamp); the
    # default handler goes straight to close (SyncSet::GetReadiness, kReadyForClose).
    out = run_graph(f"""
        input_stream: "a"
        input_stream: "b"
        output_stream: "out"
        node {{ calculator: "GfTBoundsRecorderCalculator" input_stream: "A:a"
               input_stream: "B:b" output_stream: "OUT:out"
               input_stream_handler {{ input_stream_handler: "{handler}" }} }}
        """, inputs={"a": [(1, "a1")], "b": [(2, "b2")]}, outputs=["out"])["out"]
    calls = payloads(out)
    assert [c for c in calls if c[0] < 3] == [(1, "a1", None), (2, None, "b2")]
    assert [c for c in calls if c[0] >= 3] == last_call


def test_immediate_last_call_also_when_inputs_close_during_a_call() -> None:
    graph = _graph("""
    input_stream: "a"
    input_stream: "b"
    node { calculator: "GfTBoundsLogCalculator" input_stream: "A:a" input_stream: "B:b"
           input_side_packet: "LOG:log" input_side_packet: "GO:go"
           input_stream_handler { input_stream_handler: "ImmediateInputStreamHandler" } }
    """)
    log: list[tuple[Any, ...]] = []
    go = threading.Semaphore(0)
    graph.start_run({"log": log, "go": go})
    _add(graph, "a", 5, "a5")
    graph.close_all_input_streams()  # the call at 5 cannot have finished: it waits for GO
    go.release(2)
    graph.wait_until_done(WAIT)
    assert log == [(5, "a5", None, None), (int(gf.Timestamp.MAX), None, None, None)]


def test_an_offset_bound_past_max_ends_at_done() -> None:
    # The last call at MAX with offset 5 bounds the output at MAX + 5 + 1, past Done: MediaPipe
    # clamps T + offset to MAX, so the bound is OneOverPostStream and the stream still closes.
    out = run_graph("""
        input_stream: "a"
        input_stream: "b"
        output_stream: "out"
        node { calculator: "GfTLateBoundsCalculator" input_stream: "A:a" input_stream: "B:b"
               output_stream: "OUT:mid" }
        node { calculator: "PassThroughCalculator" input_stream: "mid" output_stream: "out" }
        """, inputs={"a": [(1, "a1"), (5, "a5")], "b": [(2, "b2")]}, timeout=WAIT)["out"]
    assert [(p.payload, int(p.timestamp)) for p in out] == [("a1", 6), ("a5", 10)]


def test_output_timestamps_must_increase() -> None:
    config = """
    input_stream: "in"
    node { name: "backwards" calculator: "GfTBackwardsCalculator"
           input_stream: "in" output_stream: "out" }
    """
    with pytest.raises(gf.GraphError) as info:
        run_graph(config, inputs={"in": [(0, "x"), (10, "y")]}, outputs=["out"])
    assert "node 'backwards' (GfTBackwardsCalculator) at <string>:3:5: output stream 'out' " \
        "got a packet at 90, but the stream is already at 101 (timestamps must increase)" \
        in str(info.value)


def test_graph_input_timestamps_must_increase() -> None:
    graph = _graph(PAIR % "")
    _collect(graph, "out")  # (MediaPipe checks the timestamps of streams with consumers)
    graph.start_run()
    _add(graph, "a", 5, "x")
    with pytest.raises(ValueError, match=r"graph input stream 'a': timestamp 5 is not greater "
                       r"than the previous one \(5\)"):
        _add(graph, "a", 5, "y")
    with pytest.raises(ValueError, match="not a valid packet timestamp"):
        graph.add_packet_to_input_stream("b", gf.Packet("z"))  # Unset
    with pytest.raises(ValueError, match=r"'c' is not an input stream of the graph"):
        _add(graph, "c", 6, "z")
    graph.add_packet_to_input_stream("b", gf.Packet("header").at(gf.Timestamp.PRESTREAM))
    with pytest.raises(ValueError, match=r"graph input stream 'b': no timestamp is left after a "
                       r"packet at Timestamp\.PRESTREAM, .* \(got a packet at 0\)"):
        _add(graph, "b", 0, "z")  # MediaPipe: NextAllowedInStream(PreStream) is past Max
    _add(graph, "a", 9, "y")
    graph.add_packet_to_input_stream("a", gf.Packet("end").at(gf.Timestamp.POSTSTREAM))
    with pytest.raises(ValueError, match="no timestamp is left"):
        _add(graph, "a", 10, "z")
    # As in MediaPipe, the set at PreStream leaves the node's output no timestamp after it.
    with pytest.raises(gf.GraphError, match=r"'out' got a packet at 5, but the stream is "
                       r"already at Timestamp\.ONE_OVER_POSTSTREAM"):
        graph.close()


# --------------------------------------------------------------------------- concurrency

SLEEPER = """
input_stream: "in"
output_stream: "out"
num_threads: 4
node {
  calculator: "GfTSleepCalculator"
  input_stream: "in"
  output_stream: "out"
  input_side_packet: "EVENTS:events"
  input_side_packet: "SLEEP_S:sleep"
  input_side_packet: "ONE_DONE:one_done"
  max_in_flight: 4
}
"""


def test_max_in_flight_runs_timestamps_concurrently_in_order() -> None:
    events: list[tuple[str, int, int]] = []
    out = run_graph(SLEEPER, inputs={"in": [(t, f"p{t}") for t in range(8)]},
                    side_packets={"events": events, "sleep": 0.02,
                                  "one_done": threading.Event()})["out"]
    running, most = set(), 0
    for kind, ts, _ in events:
        if kind == "start":
            running.add(ts)
            most = max(most, len(running))
        else:
            running.discard(ts)
    assert 2 <= most <= 4  # overlapping calls, never more than max_in_flight
    assert len({thread for _, _, thread in events}) >= 2
    ends = [ts for kind, ts, _ in events if kind == "end"]
    assert ends.index(1) < ends.index(0)  # timestamp 0 waited for 1 to finish ...
    assert timestamps(out) == list(range(8))  # ... yet outputs leave in timestamp order
    assert payloads(out) == [f"p{t}" for t in range(8)]


def test_without_max_in_flight_calls_never_overlap() -> None:
    events: list[tuple[str, int, int]] = []
    one_done = threading.Event()
    one_done.set()  # timestamp 0 need not wait: calls are sequential
    run_graph(SLEEPER.replace("max_in_flight: 4", ""),
              inputs={"in": [(t, t) for t in range(6)]},
              side_packets={"events": events, "sleep": 0.005, "one_done": one_done})
    kinds = [kind for kind, _, _ in events]
    assert kinds == ["start", "end"] * 6


# A pool of two threads of its own for the tests of the pool's rules: a caller waiting in
# wait_until_idle() runs ready tasks of the default pool itself (and so keeps a pool thread
# from being woken for them), never those of a named executor.
POOL_OF_TWO = 'executor { name: "pool" type: "ThreadPoolExecutor" ' \
              'options { [mediapipe.ThreadPoolExecutorOptions.ext] { num_threads: 2 } } }\n'


def _fan_out(sleep_side_packet: str) -> str:
    """in -> a -> (b, c): three recorder nodes on a pool of two threads."""
    nodes = "".join(
        f'node {{ name: "{name}" calculator: "GfTTimedRecorderCalculator" executor: "pool" '
        f'input_stream: "{src}" output_stream: "{name}_out" input_side_packet: "LOG:log" '
        f'{sleep_side_packet} }}\n'
        for name, src in [("a", "in"), ("b", "a_out"), ("c", "a_out")])
    return f'input_stream: "in"\noutput_stream: "b_out"\noutput_stream: "c_out"\n' \
           f'{POOL_OF_TWO}{nodes}'


def _record(config: str, side_packets: dict[str, Any], count: int,
            clock: SimulationClock | None = None) -> list[tuple[Any, ...]]:
    """Runs ``count`` timestamps one at a time (idle in between); returns the LOG."""
    log: list[tuple[Any, ...]] = []
    with gf.CalculatorGraph(config, clock=clock) as graph:
        graph.start_run({"log": log, **side_packets})
        for t in range(count):
            _add(graph, "in", t, t)
            graph.wait_until_idle()
        graph.close_all_input_streams()
        graph.wait_until_done()
    return log


def test_short_tasks_stay_on_the_thread_that_made_them_ready() -> None:
    """Waking a second thread for a short task costs more than it saves: b and c (50 us each
    on a simulated clock, under the 150 us rule) run one after the other on a's thread, where a
    thread woken for c would have had a whole (real) millisecond to take it. The idle thread
    sees no time pass, so it never takes over a task left to a busy one either."""
    clock = SimulationClock()
    log = _record(_fan_out('input_side_packet: "SLEEP_S:sleep" input_side_packet: "CLOCK:clock" '
                           'input_side_packet: "COST_S:cost"'),
                  {"sleep": 0.001, "clock": clock, "cost": 50e-6}, 8, clock)
    for t in range(1, 8):  # once each node's cost is measured
        threads = {thread for _, ts, _, _, thread in log if ts == t}
        assert len(threads) == 1, f"timestamp {t} ran on {len(threads)} threads"


def test_short_tasks_of_a_graph_input_run_on_the_one_thread_it_woke() -> None:
    """A graph input that makes two short tasks ready (b and c, 50 us each on a simulated
    clock) wakes one pool thread, which runs both, one after the other: a second woken thread
    would have had a whole (real) millisecond, b's sleep, to take c."""
    clock = SimulationClock()
    sides = 'input_side_packet: "SLEEP_S:sleep" input_side_packet: "CLOCK:clock" ' \
            'input_side_packet: "COST_S:cost"'
    nodes = "".join(
        f'node {{ name: "{name}" calculator: "GfTTimedRecorderCalculator" input_stream: "in" '
        f'executor: "pool" output_stream: "{name}_out" input_side_packet: "LOG:log" {sides} }}\n'
        for name in ("b", "c"))
    config = f'input_stream: "in"\noutput_stream: "b_out"\noutput_stream: "c_out"\n' \
             f'{POOL_OF_TWO}{nodes}'
    log = _record(config, {"sleep": 0.001, "clock": clock, "cost": 50e-6}, 8, clock)
    for t in range(1, 8):  # once each node's cost is measured
        threads = {thread for _, ts, _, _, thread in log if ts == t}
        assert len(threads) == 1, f"timestamp {t} ran on {len(threads)} threads"


def test_long_fan_out_tasks_run_on_two_threads_at_once() -> None:
    log = _record(_fan_out('input_side_packet: "SLEEP_S:sleep"'), {"sleep": 0.02}, 4)
    for t in range(1, 4):
        (b_start, b_end, b_thread), = [e[2:] for e in log if e[:2] == ("b", t)]
        (c_start, c_end, c_thread), = [e[2:] for e in log if e[:2] == ("c", t)]
        assert b_thread != c_thread
        assert b_start < c_end and c_start < b_end  # overlapping


@pytest.mark.parametrize("pause", [0.0, 2.0])
def test_a_short_node_that_blocks_does_not_hold_up_the_tasks_behind_it(pause: float) -> None:
    """After 20 quick calls a node counts as short, so the thread that made the next two tasks
    ready keeps both; when the first blocks (here until the second has run, while simulated
    time passes), an idle thread takes the second once it has waited a few milliseconds. After
    a quiet pause (2 simulated seconds: idle threads asleep) the busy thread wakes one first."""
    clock = SimulationClock()
    nodes = "".join(
        f'node {{ calculator: "GfTRendezvousCalculator" input_stream: "mid" '
        f'output_stream: "{role}_out" input_side_packet: "EVENT:event" input_side_packet: "AT:at" '
        f'input_side_packet: "SEEN:seen" input_side_packet: "ROLE:{role}" '
        f'input_side_packet: "CLOCK:clock" executor: "pool" }}\n'
        for role in ("wait", "set"))
    config = f'input_stream: "in"\n{POOL_OF_TWO}' \
             f'node {{ calculator: "PassThroughCalculator" input_stream: "in" ' \
             f'output_stream: "mid" executor: "pool" }}\n{nodes}'
    seen: list[bool] = []
    with gf.CalculatorGraph(config, clock=clock) as graph:
        graph.start_run({"event": threading.Event(), "at": 20, "seen": seen, "wait": "wait",
                         "set": "set", "clock": clock})
        for t in range(21):
            if t == 20:
                clock.advance(pause)
            _add(graph, "in", t, t)
            graph.wait_until_idle()
        graph.close_all_input_streams()
        graph.wait_until_done()
    assert seen == [True]


BACKPRESSURE = """
input_stream: "in"
output_stream: "out"
max_queue_size: 3
node {
  calculator: "GfTGatedConsumerCalculator"
  input_stream: "in"
  output_stream: "out"
  input_side_packet: "GO:go"
  input_side_packet: "SAMPLE:sample"
}
"""


def test_back_pressure_blocks_the_adder_and_bounds_queues() -> None:
    graph = _graph(BACKPRESSURE)
    out = _collect(graph, "out")
    go = threading.Semaphore(0)
    samples: list[int] = []
    graph.start_run({"go": go, "sample": lambda: samples.append(
        max(graph.queue_sizes().values()))})
    added: list[int] = []

    def adder() -> None:
        for t in range(20):
            _add(graph, "in", t, t)
            added.append(t)
            samples.append(max(graph.queue_sizes().values()))

    thread = threading.Thread(target=adder)
    thread.start()
    # The consumer holds packet 0; the queue fills to the limit and the adder blocks.
    deadline = time.monotonic() + WAIT
    while len(added) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.join(0.3)
    assert thread.is_alive()  # blocked, not finished ...
    assert 3 <= len(added) <= 4  # ... after the queue's 3 and the consumer's 1
    for _ in range(20):
        go.release()
    thread.join(WAIT)
    graph.close()
    assert out == list(range(20))
    assert max(samples) <= 3  # max_queue_size


def test_try_add_returns_false_when_full() -> None:
    graph = _graph(BACKPRESSURE)
    out = _collect(graph, "out")
    go = threading.Semaphore(0)
    graph.start_run({"go": go, "sample": lambda: None})
    accepted = []
    for t in range(10):
        if graph.try_add_packet_to_input_stream("in", gf.Packet(t).at(t)):
            accepted.append(t)
        else:
            break
    # One packet may be taken by the blocked consumer; then the queue holds max_queue_size.
    assert 3 <= len(accepted) <= 4
    assert not graph.try_add_packet_to_input_stream("in", gf.Packet(99).at(99))
    for _ in range(10):
        go.release()
    graph.close()
    assert out == accepted


def test_an_input_queue_limit_of_its_own_releases_below_it_even_at_max_queue_size() -> None:
    """A graph input's queue given a limit of its own is released as soon as it drops below
    it (the half-drain hysteresis is for the graph's max_queue_size alone), also where that
    limit equals max_queue_size. Synchronous, so that what ran before the blocked add returns
    is exact: the node takes one packet at a time (max_queue_size 3: batches of 1)."""
    config = """
    input_stream: "in"
    input_side_packet: "log"
    max_queue_size: 3
    node { calculator: "GfTLogCalculator" input_stream: "A:in" input_side_packet: "LOG:log" }
    """
    graph = _graph(config, synchronous=True)
    graph.set_input_stream_max_queue_size("in", 3)
    log: list[tuple[Any, ...]] = []
    graph.start_run({"log": log})
    for t in range(4):  # 0 becomes the node's task; 1-3 fill the queue
        _add(graph, "in", t, t)
    assert log == []
    _add(graph, "in", 4, 4)  # blocks, running tasks, until the queue is released
    # The call at 0 ran and the node took 1: two packets left, below the limit of 3.
    assert [entry[0] for entry in log] == [0]
    graph.close()
    assert [entry[0] for entry in log] == list(range(5))


def test_source_is_throttled_by_a_slow_consumer() -> None:
    config = """
    output_stream: "out"
    max_queue_size: 4
    node { calculator: "CountingSourceCalculator" output_stream: "count"
           input_side_packet: "MAX_COUNT:n" }
    node { calculator: "GfTGatedConsumerCalculator" input_stream: "count"
           output_stream: "out" input_side_packet: "GO:go" input_side_packet: "SAMPLE:sample" }
    """
    graph = _graph(config)
    out = _collect(graph, "out")
    go = threading.Semaphore(0)
    samples: list[int] = []
    graph.start_run({"n": 50, "go": go, "sample": lambda: samples.append(
        max(graph.queue_sizes().values()))})
    for _ in range(50):
        go.release()
    graph.wait_until_done(WAIT)
    assert out == list(range(50))
    assert max(samples) <= 4


# --------------------------------------------------------------------------- errors

FAILING = """
input_stream: "in"
output_stream: "out"
node {
  name: "passer"
  calculator: "PassThroughCalculator"
  input_stream: "in"
  output_stream: "mid"
}
node {
  name: "failer"
  calculator: "GfTFailingCalculator"
  input_stream: "mid"
  output_stream: "out"
  input_side_packet: "FAIL_IN:fail_in"
}
"""


@pytest.mark.parametrize(("method", "message"), [
    ("open", "node 'failer' (GfTFailingCalculator) at <string>:10:1: failed in open: "
             "RuntimeError: cannot open"),
    ("process", "node 'failer' (GfTFailingCalculator) at <string>:10:1: failed in process at "
                "timestamp 2: ValueError: bad packet"),
    ("close", "node 'failer' (GfTFailingCalculator) at <string>:10:1: failed in close: "
              "OSError: cannot close"),
])
def test_errors_name_node_method_timestamp_and_line(method: str, message: str) -> None:
    graph = _graph(FAILING)
    out = _collect(graph, "out")
    graph.start_run({"fail_in": method})
    with pytest.raises(gf.GraphError) as info:
        for t in range(5):
            _add(graph, "in", t, t)
        graph.close_all_input_streams()
        graph.wait_until_done(WAIT)
    error = info.value
    assert str(error) == message
    assert (error.node, error.method) == ("failer", method)
    # open runs at Unstarted and close at Done, as MediaPipe's do.
    assert error.timestamp == {"open": gf.Timestamp.UNSTARTED, "process": 2,
                               "close": gf.Timestamp.DONE}[method]
    if method == "process":
        assert out == [0, 1][: len(out)]  # pending packets may be dropped, never 2 or more
        assert isinstance(error.__cause__, ValueError)
    if method == "close":
        assert out == [0, 1, 2, 3, 4]
    assert graph.has_error()
    with pytest.raises(gf.GraphError):
        graph.wait_until_done(WAIT)  # asked again: the same error, no hang


def test_error_in_source_and_adding_after_failure() -> None:
    config = """
    input_stream: "in"
    node { calculator: "CountingSourceCalculator" output_stream: "count"
           input_side_packet: "ERROR_COUNT:errors" }
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    """
    graph = _graph(config)
    graph.start_run({"errors": 3})
    with pytest.raises(gf.GraphError, match="node 'CountingSourceCalculator' "
                       r"\(CountingSourceCalculator\) at <string>:3:5: failed in process: "
                       "RuntimeError: CountingSourceCalculator: error after 3 packets"):
        graph.wait_until_done(WAIT)
    with pytest.raises(RuntimeError):  # the run is over
        _add(graph, "in", 0, 0)


def test_cancel_stops_an_endless_source() -> None:
    graph = _graph("""
    node { calculator: "GfTEndlessSourceCalculator" output_stream: "count" }
    node { calculator: "PassThroughCalculator" input_stream: "count" output_stream: "out" }
    """)
    seen = threading.Event()

    def observe(name: str, packet: gf.Packet[Any]) -> None:
        if packet.payload > 10:
            seen.set()

    graph.observe_output_stream("out", observe)
    poller = graph.add_output_stream_poller("count")
    graph.start_run()
    assert seen.wait(WAIT)
    graph.cancel()
    with pytest.raises(gf.GraphCancelledError):  # a cancelled run ends as cancelled
        graph.wait_until_done(WAIT)
    assert graph.has_error()
    counts = [p.payload for p in poller]  # the poller ends too, without an error
    assert counts == list(range(len(counts))) and len(counts) > 10


def test_cancel_releases_a_blocked_adder() -> None:
    graph = _graph(BACKPRESSURE)
    go = threading.Semaphore(0)
    graph.start_run({"go": go, "sample": lambda: None})
    errors: list[BaseException] = []

    def adder() -> None:
        try:
            for t in range(20):
                _add(graph, "in", t, t)
        except gf.GraphError as exc:
            errors.append(exc)

    thread = threading.Thread(target=adder)
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # throttled behind the blocked consumer
    graph.cancel()
    thread.join(WAIT)
    assert not thread.is_alive()
    assert [str(e) for e in errors] == ["the graph run was cancelled"]
    go.release()  # the consumer's running call returns; nothing else runs
    with pytest.raises(gf.GraphCancelledError):
        graph.wait_until_done(WAIT)


def test_errors_in_synchronous_mode() -> None:
    graph = _graph(FAILING, synchronous=True)
    graph.start_run({"fail_in": "process"})
    with pytest.raises(gf.GraphError) as info:
        for t in range(5):
            _add(graph, "in", t, t)
        graph.close()
    assert str(info.value) == ("node 'failer' (GfTFailingCalculator) at <string>:10:1: failed "
                               "in process at timestamp 2: ValueError: bad packet")


@register_calculator
class GfTStopAtThreeCalculator(Calculator):
    """Passes packets until timestamp 3, where it raises Stop (not a source)."""

    inputs = (Port(""),)
    outputs = (Port(""),)

    def process(self, cc: CalculatorContext) -> None:
        if cc.timestamp == 3:
            raise Stop()
        cc.outputs[0].add(cc.inputs[0].payload)


def test_stop_from_a_non_source_ends_the_run() -> None:
    # MediaPipe: a non-source returning StatusStop() closes the graph's sources and inputs;
    # packets already queued are still processed (calculator_node.cc), so what the source
    # made before it was closed still flows, except the stopping call's own packet.
    graph = _graph("""
    input_stream: "in"
    output_stream: "out"
    node { calculator: "GfTEndlessSourceCalculator" output_stream: "count" }
    node { calculator: "GfTStopAtThreeCalculator" input_stream: "count" output_stream: "out" }
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "in_copy" }
    """)
    out = _collect(graph, "out")
    graph.start_run()
    graph.wait_until_done(WAIT)  # no close_all_input_streams: the Stop closed "in"
    assert out[:3] == [0, 1, 2] and 3 not in out
    assert out == sorted(set(out))
    assert not graph.has_error()


# --------------------------------------------------------------------------- outputs

TWO_STAGE = """
input_stream: "in"
output_stream: "out"
node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "mid" }
node { calculator: "PassThroughCalculator" input_stream: "mid" output_stream: "out" }
"""


def test_output_stream_poller() -> None:
    graph = _graph(TWO_STAGE)
    poller = graph.add_output_stream_poller("out")
    mid = graph.add_output_stream_poller("mid")
    graph.start_run()
    for t in range(5):
        _add(graph, "in", t * 10, f"x{t}")
    first = poller.next(WAIT)
    assert first is not None and (first.timestamp, first.payload) == (0, "x0")
    graph.close_all_input_streams()
    rest = list(poller)
    assert [(p.timestamp, p.payload) for p in rest] == [(t * 10, f"x{t}") for t in range(1, 5)]
    assert poller.next() is None  # ended
    assert [p.payload for p in mid] == [f"x{t}" for t in range(5)]
    graph.wait_until_done(WAIT)


def test_poller_times_out_and_reports_failure() -> None:
    graph = _graph(FAILING)
    poller = graph.add_output_stream_poller("out")
    graph.start_run({"fail_in": "process"})
    with pytest.raises(TimeoutError, match=r"no packet on 'out' within 0\.05 s"):
        poller.next(0.05)
    for t in range(4):
        _add(graph, "in", t, t)
    received = []
    with pytest.raises(gf.GraphError, match="failed in process at timestamp 2"):
        for packet in poller:
            received.append(packet.payload)
    assert received == [0, 1][: len(received)]  # pending packets may be dropped
    with pytest.raises(gf.GraphError):
        graph.wait_until_done(WAIT)


def test_observe_output_stream_order_and_errors() -> None:
    graph = _graph(TWO_STAGE)
    calls: list[tuple[str, int, Any]] = []
    graph.observe_output_stream("out", lambda name, p: calls.append((name, p.timestamp,
                                                                     p.payload)))
    with pytest.raises(ValueError, match=r"the graph has no stream 'ot' \(did you mean 'out'"):
        graph.observe_output_stream("ot", lambda name, p: None)
    graph.start_run()
    with pytest.raises(RuntimeError, match="before start_run"):
        graph.observe_output_stream("mid", lambda name, p: None)
    for t in range(50):
        _add(graph, "in", t, t)
    graph.close()
    assert calls == [("out", t, t) for t in range(50)]

    def broken(name: str, packet: gf.Packet[Any]) -> None:
        raise KeyError("observer broke")

    graph = _graph(TWO_STAGE)
    graph.observe_output_stream("out", broken)
    graph.start_run()
    _add(graph, "in", 0, 0)
    with pytest.raises(gf.GraphError, match="KeyError: 'observer broke'"):
        graph.close()


def test_context_manager() -> None:
    with _graph(TWO_STAGE) as graph:
        out = _collect(graph, "out")
        graph.start_run()
        _add(graph, "in", 1, "a")
    assert out == ["a"]  # leaving the block closed the inputs and waited
    with pytest.raises(ZeroDivisionError), _graph(TWO_STAGE) as graph:
        graph.start_run()
        _add(graph, "in", 1, "a")
        _ = 1 / 0  # the user's exception wins; the run is cancelled and its threads end


def test_side_packets_flow_between_nodes() -> None:
    config = """
    input_stream: "tick"
    output_stream: "out"
    node {
      calculator: "ConstantSidePacketCalculator"
      output_side_packet: "PACKET:0:greeting"
      output_side_packet: "PACKET:1:count"
      options { [mediapipe.ConstantSidePacketCalculatorOptions.ext] {
        packet { string_value: "hello" }
        packet { int_value: 3 }
      } }
    }
    node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:tick"
           input_side_packet: "greeting" output_stream: "AT_TICK:out" }
    """
    out = run_graph(config, inputs={"tick": [(5, None), (6, None)]})["out"]
    assert payloads(out) == ["hello", "hello"] and timestamps(out) == [5, 6]


def test_side_packets_set_in_open_are_published_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node's side packets are published when it sets them, not again after each of its
    later calls (they are set once: publishing them again found nothing new)."""
    from graphflow.context import _SideOutputs

    published: list[list[str]] = []

    class CountingValues(dict[str, Any]):
        """A node's side packet values, counting how often the scheduler goes through them to
        publish them (counted here, not by wrapping a scheduler method: compiled, the runtime
        calls its own methods directly)."""

        def items(self) -> Any:
            published.append(sorted(self))
            return super().items()

    init = _SideOutputs.__init__

    def counting_init(self: _SideOutputs, names: Any) -> None:
        init(self, names)
        self.values = CountingValues()

    monkeypatch.setattr(_SideOutputs, "__init__", counting_init)
    config = """
    input_stream: "in"
    output_stream: "out"
    node { calculator: "GfTSideInOpenCalculator" input_stream: "in" output_stream: "tick"
           output_side_packet: "SIDE:side" }
    node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:tick"
           input_side_packet: "side" output_stream: "AT_TICK:out" }
    """
    out = run_graph(config, inputs={"in": [(t, t) for t in range(5)]})["out"]
    assert payloads(out) == ["made in open"] * 5 and timestamps(out) == list(range(5))
    assert published.count(["side"]) == 1


def test_early_close_looks_for_an_ended_input_only_once_one_has_ended(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """EarlyCloseInputStreamHandler checks whether the node closes early only once an input
    has ended (before, nothing has: the check was made for every input set); it then closes
    the node as before. (Counted by a Python subclass: compiled, the runtime calls the compiled
    class's method, past a wrapper set on the class.)"""
    from graphflow.runtime.handlers import base
    from graphflow.runtime.handlers.early_close import EarlyCloseInputStreamHandler

    checks: list[bool] = []

    class Counting(EarlyCloseInputStreamHandler):
        name = "CountingEarlyCloseInputStreamHandler"

        def ready_for_close(self) -> bool:
            checks.append(super().ready_for_close())
            return checks[-1]

    monkeypatch.setitem(base._HANDLERS, Counting.name, Counting)
    graph = _graph(PAIR % 'input_stream_handler { input_stream_handler: '
                   '"CountingEarlyCloseInputStreamHandler" }', synchronous=True)
    out = _collect(graph, "out")
    graph.start_run()
    for t in range(4):
        _add(graph, "a", t, f"a{t}")
        _add(graph, "b", t, f"b{t}")
    graph.wait_until_idle()
    assert out == [(t, f"a{t}", f"b{t}") for t in range(4)]
    assert checks == []
    graph.close_input_stream("a")
    graph.wait_until_idle()
    assert checks and checks[-1]  # "a" ended with nothing queued: the node closes early
    graph.close()
    assert len(out) == 4


# --------------------------------------------------------------------------- modes


def test_synchronous_mode_runs_everything_on_the_calling_thread() -> None:
    config = """
    input_stream: "in"
    output_stream: "out"
    node { calculator: "GfTThreadRecorderCalculator" input_stream: "in" output_stream: "mid"
           input_side_packet: "THREADS:threads" }
    node { calculator: "GfTThreadRecorderCalculator" input_stream: "mid" output_stream: "out"
           input_side_packet: "THREADS:threads" }
    """
    threads: list[tuple[str, int]] = []
    before = threading.active_count()
    graph = _graph(config, synchronous=True)
    delivered: list[int] = []
    graph.observe_output_stream("out", lambda name, p: delivered.append(threading.get_ident()))
    graph.start_run({"threads": threads})
    counts = []
    for t in range(3):
        _add(graph, "in", t, t)
        counts.append(threading.active_count())
    graph.close()
    me = threading.get_ident()
    assert [kind for kind, _ in threads].count("process") == 6
    assert {kind for kind, _ in threads} == {"open", "process", "close"}
    assert {thread for _, thread in threads} == {me}
    assert delivered == [me] * 3
    assert counts == [before] * 3  # no thread was started


@pytest.fixture
def caller_keeps_the_gil() -> Iterator[None]:
    """No forced switch of the interpreter lock: a pool thread woken for a graph input cannot
    run before the adding thread blocks or comes to wait (on a loaded machine the OS may
    preempt it for longer than the default 5 ms switch interval)."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(60.0)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


CHAIN_OF_TWO = """
input_stream: "in"
output_stream: "out"
num_threads: 2
node { calculator: "GfTThreadRecorderCalculator" input_stream: "in" output_stream: "mid"
       input_side_packet: "THREADS:threads" }
node { calculator: "GfTThreadRecorderCalculator" input_stream: "mid" output_stream: "out"
       input_side_packet: "THREADS:threads" }
"""


@pytest.mark.usefixtures("caller_keeps_the_gil")
def test_a_caller_waiting_for_a_poller_runs_the_nodes_that_lead_to_it() -> None:
    """poller.next() runs the ready tasks upstream of its stream on the caller's thread while
    it waits: no hand-off to a pool thread for the frame and back for its result."""
    threads: list[tuple[str, int]] = []
    graph = _graph(CHAIN_OF_TWO)
    poller = graph.add_output_stream_poller("out")
    graph.start_run({"threads": threads})
    graph.wait_until_idle()  # (the nodes open on the pool's threads, which then go idle)
    got = []
    for t in range(6):
        _add(graph, "in", t, t)
        packet = poller.next(WAIT)
        assert packet is not None
        got.append(packet.payload)
    graph.close()
    assert got == list(range(6))
    calls = [thread for kind, thread in threads if kind == "process"]
    assert calls == [threading.get_ident()] * 12


@pytest.mark.usefixtures("caller_keeps_the_gil")
def test_packets_added_while_nothing_runs_go_through_in_one_task(tmp_path: pathlib.Path) -> None:
    """A graph input added while nothing runs wakes a pool thread to deliver it, rather than
    making a task of that one packet: the packets added before a thread takes it over go
    through in one task (one trace event per task and node), here run by the caller in
    wait_until_idle()."""
    threads: list[tuple[str, int]] = []
    graph = _graph(CHAIN_OF_TWO)
    graph.set_trace_path(tmp_path / "trace.json")
    graph.start_run({"threads": threads})
    graph.wait_until_idle()  # (the nodes open on the pool's threads, which then go idle)
    for t in range(5):
        _add(graph, "in", t, t)
    graph.wait_until_idle()
    graph.close()
    calls = [thread for kind, thread in threads if kind == "process"]
    assert calls == [threading.get_ident()] * 10
    trace = json.loads((tmp_path / "trace.json").read_text())
    tasks = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] == "process"]
    assert len(tasks) == 2 and len(set(tasks)) == 2  # one task per node for all five packets


def test_a_caller_waiting_for_a_poller_never_runs_an_observer() -> None:
    """An observer's callback may take a lock that the caller holds while it waits, as here:
    run on the caller's thread, it would deadlock; it stays on a pool thread (the pool's
    other thread, or the caller, runs the nodes meanwhile)."""
    held = threading.Lock()
    observed: list[tuple[int, bool]] = []

    def observe(_name: str, _packet: gf.Packet[Any]) -> None:
        got = held.acquire(timeout=WAIT)  # (on the caller's own thread it would time out)
        observed.append((threading.get_ident(), got))
        if got:
            held.release()

    graph = _graph(CHAIN_OF_TWO)
    graph.observe_output_stream("mid", observe)
    poller = graph.add_output_stream_poller("out")
    graph.start_run({"threads": []})
    for t in range(6):
        with held:
            _add(graph, "in", t, t)
            packet = poller.next(WAIT)
        assert packet is not None and packet.payload == t
    graph.close()
    assert len(observed) == 6
    assert all(got and thread != threading.get_ident() for thread, got in observed)


@pytest.mark.usefixtures("caller_keeps_the_gil")
def test_a_caller_waiting_until_idle_leaves_named_executors_and_observers_to_their_threads(
        ) -> None:
    """wait_until_idle() runs ready default-pool tasks on the caller's thread; a node on a
    named executor (which may be there for a thread of its own) and an observer stay on the
    graph's threads."""
    config = f"""
    input_stream: "in"
    output_stream: "out"
    num_threads: 2
    executor {{ name: "own" {THREAD_POOL} }}
    node {{ name: "first" calculator: "GfTTimedRecorderCalculator" input_stream: "in"
           output_stream: "mid" input_side_packet: "LOG:log" }}
    node {{ name: "own" calculator: "GfTTimedRecorderCalculator" input_stream: "mid"
           output_stream: "out" input_side_packet: "LOG:log" executor: "own" }}
    """
    log: list[tuple[Any, ...]] = []
    observed: list[int] = []
    graph = _graph(config)
    graph.observe_output_stream("out", lambda _n, _p: observed.append(threading.get_ident()))
    graph.start_run({"log": log})
    graph.wait_until_idle()  # (the nodes open on the pool's threads, which then go idle)
    for t in range(4):
        _add(graph, "in", t, t)
        graph.wait_until_idle()
    graph.close()
    me = threading.get_ident()
    assert [thread for name, *_, thread in log if name == "first"] == [me] * 4
    assert len([name for name, *_ in log if name == "own"]) == 4
    assert all(thread != me for name, *_, thread in log if name == "own")
    assert len(observed) == 4 and me not in observed


def test_wait_until_idle_times_out_while_the_caller_runs_an_endless_source() -> None:
    """The caller runs the source's tasks while it waits, and still gives up on time."""
    graph = _graph('output_stream: "out"\n'
                   'node { calculator: "GfTEndlessSourceCalculator" output_stream: "out" }')
    graph.start_run()
    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        graph.wait_until_idle(0.05)
    graph.cancel()
    with pytest.raises(gf.GraphCancelledError):
        graph.wait_until_done(WAIT)


def test_a_calculator_waiting_for_its_own_graph_runs_nothing_else_meanwhile() -> None:
    """A calculator that polls its own graph is in a call already: its wait runs no other
    task on its thread (which would end that call's bookkeeping under it)."""
    config = """
    input_stream: "in"
    node { calculator: "GfTPeekingCalculator" input_stream: "in" output_stream: "peeked"
           input_side_packet: "POLLER:poller" input_side_packet: "SEEN:seen" }
    node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "other" }
    node { calculator: "PassThroughCalculator" input_stream: "other" output_stream: "out" }
    """
    graph = _graph(config)
    poller = graph.add_output_stream_poller("out")
    seen: list[Any] = []
    graph.start_run({"poller": poller, "seen": seen})
    for t in range(4):
        _add(graph, "in", t, t)
        graph.wait_until_idle(WAIT)
    graph.close()
    assert len(seen) == 4
    assert [p.payload for p in poller] == [t for t in range(4) if all(
        s is None or s.payload != t for s in seen)]


def test_synchronous_mode_with_back_pressure() -> None:
    config = BACKPRESSURE.replace("max_queue_size: 3", "max_queue_size: 2")
    go = threading.Semaphore(100)
    out = run_graph(config, inputs={"in": [(t, t) for t in range(40)]},
                    side_packets={"go": go, "sample": lambda: None}, synchronous=True)["out"]
    assert payloads(out) == list(range(40))


def test_sources_end_with_stop() -> None:
    config = """
    output_stream: "out"
    node { calculator: "CountingSourceCalculator" output_stream: "out"
           input_side_packet: "MAX_COUNT:n" input_side_packet: "INTERVAL_US:step" }
    """
    for synchronous in (False, True):
        out = run_graph(config, side_packets={"n": 4, "step": 1000},
                        synchronous=synchronous)["out"]
        assert payloads(out) == [0, 1, 2, 3] and timestamps(out) == [0, 1000, 2000, 3000]


@register_calculator
class GfTStopAfterTwoSourceCalculator(Calculator):
    """A source that emits two packets and stops."""

    outputs = (Port(""),)

    def open(self, cc: CalculatorContext) -> None:
        self.left = 2

    def process(self, cc: CalculatorContext) -> None:
        if not self.left:
            raise Stop()
        self.left -= 1
        cc.outputs[0].add(self.left, 2 - self.left)


def test_trace_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "trace.json"
    config = TWO_STAGE + f"""
    profiler_config {{ trace_enabled: true trace_log_path: "{path}" }}
    """
    run_graph(config, inputs={"in": [(t, t) for t in range(3)]})
    trace = json.loads(path.read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    names = {e["name"] for e in events}
    assert {"PassThroughCalculator_1", "PassThroughCalculator_2"} <= names
    first = [e for e in events if e["name"] == "PassThroughCalculator_1"]
    assert first[0]["cat"] == "open" and first[-1]["cat"] == "close"
    assert all(e["dur"] >= 0 and isinstance(e["ts"], float) for e in events)
    assert any(e["ph"] == "M" and e["name"] == "thread_name" for e in trace["traceEvents"])
    # set_trace_path does the same for a graph without profiler_config.
    graph = _graph("""
    output_stream: "out"
    node { calculator: "GfTStopAfterTwoSourceCalculator" output_stream: "out" }
    """)
    other = tmp_path / "other.json"
    graph.set_trace_path(other)
    graph.start_run()
    graph.wait_until_done(WAIT)
    kinds = [e["cat"] for e in json.loads(other.read_text())["traceEvents"] if e["ph"] == "X"]
    assert kinds == ["open", "process", "process", "process", "close"]


def test_run_twice_and_wait_until_idle_errors() -> None:
    graph = _graph(TWO_STAGE)
    out = _collect(graph, "out")
    with pytest.raises(RuntimeError, match="not running: call start_run"):
        graph.wait_until_idle()
    for run in range(2):
        graph.start_run()
        with pytest.raises(RuntimeError, match="already running"):
            graph.start_run()
        _add(graph, "in", 0, run)
        graph.close()
    assert out == [0, 1]



@register_calculator
class GfTNumpyStampCalculator(Calculator):
    """Sends its input one later and moves the bound two later, both stamped by numpy
    integers."""

    inputs = (Port("IN"),)
    outputs = (Port("OUT"),)

    def process(self, cc: CalculatorContext) -> None:
        stamp = np.int64(int(cc.timestamp))
        cc.outputs["OUT"].add(cc.inputs["IN"].payload, stamp + 1)
        cc.outputs["OUT"].set_next_timestamp_bound(stamp + 2)


def test_outputs_take_numpy_integer_timestamps() -> None:
    """What ``Timestamp()`` takes stamps an output, the calculator API compiled (it checks
    its annotations) or not."""
    config = """
    input_stream: "in"
    output_stream: "out"
    node { calculator: "GfTNumpyStampCalculator" input_stream: "IN:in" output_stream: "OUT:out" }
    """
    out = run_graph(config, inputs={"in": [(0, "a"), (3, "b")]})["out"]
    assert payloads(out) == ["a", "b"] and timestamps(out) == [1, 4]
