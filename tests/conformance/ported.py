"""Helpers for the tests ported from MediaPipe's C++ tests (their expectations, not their code).

MediaPipe's tests use small calculators of their own (MakePairCalculator, IntAdderCalculator,
LambdaCalculator...); the ``Test*`` calculators here do what those do, under names that cannot
clash with real ones. :class:`StepRun` drives a graph the way those tests do: add packets, wait
until idle, look at what each observed stream got. :class:`SimulatedTime` stands in for the
simulation clock of MediaPipe's timing tests.
"""

from __future__ import annotations

import collections
import heapq
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import graphflow as gf
from calculators.core.flow import settled_timestamp
from graphflow.calculator import ContractError, NodeContract
from graphflow.runtime.clock import SimulationClock
from graphflow.timestamp import Timestamp


class StepRun:
    """A started graph whose ``observe`` streams are collected as ``(timestamp, payload)``.

    Example:
        run = StepRun(CONFIG, ["out"])
        run.add("in", 1, 10)
        run.idle()
        assert run.out["out"] == [(1, 10)]
    """

    def __init__(self, config: str, observe: Iterable[str],
                 side_packets: Mapping[str, Any] | None = None) -> None:
        self.graph = gf.CalculatorGraph(graph_config=config)
        self.out: dict[str, list[tuple[int, Any]]] = {name: [] for name in observe}
        self._arrived = threading.Condition()
        for name in self.out:
            self.graph.observe_output_stream(name, self._collect)
        self.graph.start_run(dict(side_packets or {}))

    def _collect(self, name: str, packet: gf.Packet[Any]) -> None:
        with self._arrived:
            self.out[name].append((int(packet.timestamp), packet.payload))
            self._arrived.notify_all()

    def wait_for(self, stream: str, count: int) -> None:
        """Waits until ``stream`` got ``count`` packets (while a node blocks, so that the graph
        never gets idle)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.out[stream]) >= count, timeout=30):
                raise TimeoutError(f"{stream!r} got {self.out[stream]}, not {count} packets")

    def add(self, stream: str, timestamp: int, payload: Any) -> None:
        """Adds one packet to a graph input stream."""
        self.graph.add_packet_to_input_stream(stream, gf.Packet(payload).at(timestamp))

    def close(self, stream: str) -> None:
        """Closes one graph input stream."""
        self.graph.close_input_stream(stream)

    def idle(self) -> None:
        """Waits until nothing runs (raises the run's error, if any)."""
        self.graph.wait_until_idle(timeout=30)

    def finish(self) -> None:
        """Closes every input and waits until the run is done."""
        self.graph.close_all_input_streams()
        self.graph.wait_until_done(timeout=30)

    def stop(self) -> None:
        """Ends the run if a failed test left it going (its error, if any, is the test's)."""
        try:
            self.graph.cancel()
            self.graph.wait_until_done(timeout=30)
        except (gf.GraphError, RuntimeError):
            pass

    def timestamps(self, stream: str) -> list[int]:
        """The timestamps the stream got so far."""
        return [ts for ts, _ in self.out[stream]]


# The step_run fixture (conftest.py): makes StepRuns that are stopped after the test.
Runs = Callable[..., StepRun]


def _equal_untagged(node: NodeContract, inputs: int | None = None) -> None:
    count = sum(1 for tag, _ in node.inputs if not tag)
    if inputs is not None and count != inputs:
        raise ContractError(f"takes {inputs} untagged inputs, got {count}")


@gf.register_calculator
class TestMakePairCalculator(gf.Calculator):
    """MediaPipe's MakePairCalculator: (first payload or None, second payload or None)."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port(""),)

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """Two inputs."""
        _equal_untagged(node, 2)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(tuple(None if p.is_empty else p.payload for p in cc.inputs))


@gf.register_calculator
class TestPacketOnCloseCalculator(gf.Calculator):
    """Passes ints through; in close, sends their sum at Timestamp.MAX."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0

    def open(self, cc: gf.CalculatorContext) -> None:
        self.sum = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        self.sum += cc.inputs[0].payload
        cc.outputs[0].add_packet(cc.inputs[0])

    def close(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(self.sum, Timestamp.MAX)


@gf.register_calculator
class TestDroppingGateCalculator(gf.Calculator):
    """A gate that moves no bound when it drops (DISALLOW true): downstream waits."""

    inputs = (gf.Port(""), gf.Port("DISALLOW", bool))
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.inputs.has(0) and not cc.inputs["DISALLOW"].payload:
            cc.outputs[0].add_packet(cc.inputs[0])


@gf.register_calculator
class TestIntAdderCalculator(gf.Calculator):
    """Outputs the sum of its inputs' ints (offset 0)."""

    inputs = (gf.Port("", int, repeated=True),)
    outputs = (gf.Port("", int),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(sum(p.payload for p in cc.inputs))


@gf.register_calculator
class TestIncrementCalculator(gf.Calculator):
    """Adds one to each int (offset 0)."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload + 1)


@gf.register_calculator
class TestMultiplierCalculator(gf.Calculator):
    """Multiplies input 0 by input 1 (offset 0)."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload * cc.inputs[1].payload)


@gf.register_calculator
class TestEvenIntFilterCalculator(gf.Calculator):
    """Passes even ints; for an odd one, only moves the bound past it."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.inputs[0].payload % 2 == 0:
            cc.outputs[0].add_packet(cc.inputs[0])
        else:
            cc.outputs[0].set_next_timestamp_bound(cc.timestamp + 1)


@gf.register_calculator
class TestValveCalculator(gf.Calculator):
    """Passes input 0 where input 1 is true, else moves the bound; counts both in COUNTS."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port(""),)
    input_side_packets = (gf.Port("COUNTS"),)

    def process(self, cc: gf.CalculatorContext) -> None:
        counts = cc.side_inputs["COUNTS"]
        if cc.inputs[1].payload:
            counts["pass"] += 1
            cc.outputs[0].add_packet(cc.inputs[0])
        else:
            counts["block"] += 1
            cc.outputs[0].set_next_timestamp_bound(cc.timestamp + 1)


@gf.register_calculator
class TestCountingPassThroughCalculator(gf.Calculator):
    """PassThrough of one stream that counts its calls in COUNTS["calls"]."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    input_side_packets = (gf.Port("COUNTS"),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.side_inputs["COUNTS"]["calls"] += 1
        cc.outputs[0].add_packet(cc.inputs[0])


@gf.register_calculator
class TestTimeShiftMinusOneCalculator(gf.Calculator):
    """Sends each packet one microsecond earlier (offset -1)."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = -1

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload, cc.timestamp - 1)


@gf.register_calculator
class TestCustomBoundCalculator(gf.Calculator):
    """Sends no packet, only moves its output's bound past each input timestamp."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].set_next_timestamp_bound(cc.timestamp + 1)


@gf.register_calculator
class TestOffsetBoundCalculator(gf.Calculator):
    """Sends nothing; its offset 0 moves its output's bound."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        """Nothing: the offset moves the bound."""


@gf.register_calculator
class TestFuturePacketCalculator(gf.Calculator):
    """Sends each packet 3 microseconds later."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload, cc.timestamp + 3)


@gf.register_calculator
class TestCallCounterCalculator(gf.Calculator):
    """Sends, for each call, the call's timestamp (MediaPipe's BoundToPacketCalculator without
    the empty inputs' timestamps, which graphflow gives only to bounds-processing nodes)."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port("", repeated=True),)

    def process(self, cc: gf.CalculatorContext) -> None:
        for out in cc.outputs:
            out.add(int(cc.timestamp))


@gf.register_calculator
class TestProcessBoundToPacketCalculator(gf.Calculator):
    """Immediate, bounds-processing: sends, on output i, each new settled timestamp of input i
    at that timestamp (MediaPipe's ProcessBoundToPacketCalculator)."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port("", repeated=True),)
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: gf.CalculatorContext) -> None:
        self.bounds = [Timestamp.UNSTARTED] * len(cc.outputs)

    def process(self, cc: gf.CalculatorContext) -> None:
        for i, out in enumerate(cc.outputs):
            ts = settled_timestamp(cc, i)
            if ts == cc.timestamp and ts >= self.bounds[i]:
                out.add(int(ts), ts)
                self.bounds[i] = ts.next_allowed_in_stream()


@gf.register_calculator
class TestImmediatePassThroughCalculator(gf.Calculator):
    """Immediate, bounds-processing: passes packets and bounds input i to output i."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port("", repeated=True),)
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def process(self, cc: gf.CalculatorContext) -> None:
        for i, out in enumerate(cc.outputs):
            if cc.inputs.has(i):
                out.add_packet(cc.inputs[i])
            else:
                out.set_next_timestamp_bound(settled_timestamp(cc, i).next_allowed_in_stream())


@gf.register_calculator
class TestLastPacketCalculator(gf.Calculator):
    """Holds back each packet; sends the last one in close."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.last: gf.Packet[Any] | None = None

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].set_next_timestamp_bound(cc.timestamp)
        self.last = cc.inputs[0]

    def close(self, cc: gf.CalculatorContext) -> None:
        if self.last is not None:
            cc.outputs[0].add_packet(self.last)


@gf.register_calculator
class TestRecorderCalculator(gf.Calculator):
    """Appends ``(timestamp, payloads)`` for every call to the LOG side packet (a list), with
    None for an empty input, and "close" when it closes."""

    inputs = (gf.Port("", repeated=True),)
    input_side_packets = (gf.Port("LOG"),)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.side_inputs["LOG"].append(self.record(cc))

    def close(self, cc: gf.CalculatorContext) -> None:
        cc.side_inputs["LOG"].append("close")

    def record(self, cc: gf.CalculatorContext) -> tuple[Any, ...]:
        """What one call is logged as."""
        return int(cc.timestamp), tuple(None if p.is_empty else p.payload for p in cc.inputs)


@gf.register_calculator
class TestBoundsRecorderCalculator(TestRecorderCalculator):
    """TestRecorderCalculator for timestamp bounds too; logs each input's settled timestamp."""

    process_timestamp_bounds = True

    def record(self, cc: gf.CalculatorContext) -> tuple[Any, ...]:
        """The call's timestamp, payloads and each input's settled timestamp."""
        return (*super().record(cc),
                tuple(int(settled_timestamp(cc, i)) for i in range(len(cc.inputs))))


@gf.register_calculator
class TestScriptCalculator(gf.Calculator):
    """For the n-th TICK packet, does what SCRIPT[n] says, in one call, so that several streams
    change at once: a list of ``(output, "packet", timestamp, payload)``, ``(output, "bound",
    timestamp)`` or ``(output, "close")``."""

    inputs = (gf.Port("TICK"),)
    outputs = (gf.Port("", repeated=True),)
    input_side_packets = (gf.Port("SCRIPT"),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.step = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        for op in cc.side_inputs["SCRIPT"][self.step]:
            out = cc.outputs[op[0]]
            if op[1] == "packet":
                out.add(op[3], op[2])
            elif op[1] == "bound":
                out.set_next_timestamp_bound(op[2])
            else:
                out.close()
        self.step += 1


@gf.register_calculator
class TestHoldCalculator(gf.Calculator):
    """Passes each call's packets on (input i to output i) once the test releases the call
    (``RELEASE``, a threading.Semaphore), as MediaPipe's tests keep frames in flight with a
    LambdaCalculator and a semaphore."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port("", repeated=True),)
    input_side_packets = (gf.Port("RELEASE"),)

    def process(self, cc: gf.CalculatorContext) -> None:
        release: threading.Semaphore = cc.side_inputs["RELEASE"]
        if not release.acquire(timeout=30):
            raise TimeoutError("the test never released this call")
        for i, out in enumerate(cc.outputs):
            if cc.inputs.has(i):
                out.add_packet(cc.inputs[i])


@gf.register_calculator
class TestPassThroughOrEmptyCalculator(gf.Calculator):
    """Passes each packet; where only the bound moved, sends an empty list (offset 0)."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0
    process_timestamp_bounds = True

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.inputs.has(0):
            cc.outputs[0].add_packet(cc.inputs[0])
        else:
            cc.outputs[0].add([])


@gf.register_calculator
class TestCommandCalculator(gf.Calculator):
    """Turns each CMD packet into an output packet, ``("packet", timestamp, payload)``, or a
    bound move, ``("bound", timestamp)``: a graph input whose bound can move alone (MediaPipe's
    SetInputStreamTimestampBound)."""

    inputs = (gf.Port("CMD"),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        command = cc.inputs["CMD"].payload
        if command[0] == "packet":
            cc.outputs[0].add(command[2], command[1])
        else:
            cc.outputs[0].set_next_timestamp_bound(command[1])


@gf.register_calculator
class TestEmptyPacketCalculator(gf.Calculator):
    """Sends an empty packet at each even input timestamp: a bound past it, in MediaPipe."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.timestamp % 2 == 0:
            cc.outputs[0].add_packet(gf.Packet().at(cc.timestamp))


@gf.register_calculator
class TestOffsetAndBoundCalculator(gf.Calculator):
    """Offset 0, and a bound of 10000 at every input timestamp divisible by 20."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.timestamp % 20 == 0:
            cc.outputs[0].set_next_timestamp_bound(10000)


@gf.register_calculator
class TestSidePacketInProcessCalculator(gf.Calculator):
    """Sets its output side packet to the payload of the packet it processes."""

    inputs = (gf.Port(""),)
    output_side_packets = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.side_outputs[0].set(cc.inputs[0].payload)


@gf.register_calculator
class TestCountToSidePacketInCloseCalculator(gf.Calculator):
    """Counts its input packets; sets the count as its output side packet in close."""

    inputs = (gf.Port(""),)
    output_side_packets = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.count = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        self.count += 1

    def close(self, cc: gf.CalculatorContext) -> None:
        cc.side_outputs[0].set(self.count)


@gf.register_calculator
class TestSidePacketAtPostStreamCalculator(gf.Calculator):
    """A source: sends its input side packet at PostStream in open, then stops."""

    outputs = (gf.Port(""),)
    input_side_packets = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.side_inputs[0], Timestamp.POSTSTREAM)
        cc.outputs[0].close()

    def process(self, cc: gf.CalculatorContext) -> None:
        raise gf.Stop()


class SimulatedTime:
    """The simulated time of MediaPipe's SimulationClock tests, in microseconds.

    MediaPipe's calculators sleep on a simulation clock that moves once every thread sleeps. Here
    the test moves a :class:`SimulationClock` through :meth:`sleep`, stopping at each time a
    TestSleepCalculator finishes a packet (it registers them with :meth:`wake_at`) to tell it,
    with a packet on its TICK input, and waiting until the graph is idle at that time.
    """

    def __init__(self) -> None:
        self.clock = SimulationClock()
        self._wakeups: list[int] = []
        self._ticks = 0

    def now(self) -> int:
        """The simulated time, in microseconds."""
        return round(self.clock.now() * 1e6)

    def wake_at(self, micros: int) -> None:
        """Asks for a TICK packet once the time reaches ``micros``."""
        heapq.heappush(self._wakeups, micros)

    def _advance_to(self, micros: int) -> None:
        self.clock.advance((micros - self.now()) * 1e-6)

    def sleep(self, run: StepRun, micros: int) -> None:
        """Lets ``run`` settle at the current time, then moves the time ``micros`` on, ticking
        its "tick" input at every wake-up on the way (in time order)."""
        run.idle()
        target = self.now() + micros
        while self._wakeups and self._wakeups[0] <= target:
            self._advance_to(heapq.heappop(self._wakeups))
            run.add("tick", self._ticks, None)
            self._ticks += 1
            run.idle()
        self._advance_to(target)

    def finish(self, run: StepRun) -> None:
        """Lets every simulated call end (MediaPipe's WaitUntilDone on a simulation clock), then
        closes the "tick" input and waits until the run is done."""
        while self._wakeups:
            self.sleep(run, self._wakeups[0] - self.now())
        run.close("tick")
        run.graph.wait_until_done(timeout=30)


@gf.register_calculator
class TestSleepCalculator(gf.Calculator):
    """MediaPipe's SleepCalculator on a simulation clock: serves PACKET packets one at a time,
    each taking SLEEP_TIME microseconds (the first WARMUP_TIME) of the TIME side packet's
    simulated time (a SimulatedTime, which ticks TICK when a packet's time is up). Its output's
    bound follows its input's once nothing waits, as MediaPipe's offset 0 moves it."""

    inputs = (gf.Port("PACKET"), gf.Port("TICK"))
    outputs = (gf.Port("PACKET"),)
    input_side_packets = (gf.Port("WARMUP_TIME", int), gf.Port("SLEEP_TIME", int),
                          gf.Port("TIME"))
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: gf.CalculatorContext) -> None:
        self.time: SimulatedTime = cc.side_inputs["TIME"]
        self.queue: collections.deque[gf.Packet[Any]] = collections.deque()
        self.busy_until: int | None = None  # when the packet being served is done
        self.served = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.inputs.has("PACKET"):
            self.queue.append(cc.inputs["PACKET"])
        now, out = self.time.now(), cc.outputs["PACKET"]
        while self.queue:
            if self.busy_until is None:
                self.served += 1
                self.busy_until = now + cc.side_inputs[
                    "WARMUP_TIME" if self.served == 1 else "SLEEP_TIME"]
                self.time.wake_at(self.busy_until)
            if self.busy_until > now:
                break
            out.add_packet(self.queue.popleft())
            self.busy_until = None
        bound = self.queue[0].timestamp if self.queue else \
            settled_timestamp(cc, "PACKET").next_allowed_in_stream()
        if bound > Timestamp.MAX:
            out.close()
        else:
            out.set_next_timestamp_bound(bound)


@gf.register_calculator
class TestDropCalculator(gf.Calculator):
    """MediaPipe's DropCalculator: passes PACKET packets but the third; where DROP_TIMESTAMPS is
    true, from the third packet on it stops moving its bound too."""

    inputs = (gf.Port("PACKET"),)
    outputs = (gf.Port("PACKET"),)
    input_side_packets = (gf.Port("DROP_TIMESTAMPS", bool),)
    process_timestamp_bounds = True

    def open(self, cc: gf.CalculatorContext) -> None:
        self.count = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        packet, out = cc.inputs["PACKET"], cc.outputs["PACKET"]
        if not packet.is_empty:
            self.count += 1
        drop = self.count == 3
        if not drop and not packet.is_empty:
            out.add_packet(packet)
        if not drop or not cc.side_inputs["DROP_TIMESTAMPS"]:
            out.set_next_timestamp_bound(cc.timestamp.next_allowed_in_stream())


@gf.register_calculator
class TestArrayCopyCalculator(gf.Calculator):
    """MediaPipe's TestTensorCpuCopyCalculator: sends a copy of each array (offset 0)."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    timestamp_offset = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload.copy())


class RateLimits:
    """The shared counters of MediaPipe's fixed-size handler test: the source may send one
    packet, then ten per packet the slow node took; the slow node takes its next one after ten
    more were sent, or once the source is done."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.sent = 0
        self.taken = 0
        self.source_done = False

    def wait(self, until: Callable[[], bool]) -> None:
        """Waits (with the counters' lock held) until ``until()``."""
        if not self.changed.wait_for(until, timeout=30):
            raise TimeoutError(f"rate limits stuck: {self.sent} sent, {self.taken} taken")


@gf.register_calculator
class TestRateLimitedSourceCalculator(gf.Calculator):
    """MediaPipe's TestSourceCalculator: sends 0 at timestamps 0..99, one a call, each call
    waiting for the slow node as LIMITS (a RateLimits) says."""

    outputs = (gf.Port(""),)
    input_side_packets = (gf.Port("LIMITS"),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.next = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        limits: RateLimits = cc.side_inputs["LIMITS"]
        if self.next == 100:
            with limits.changed:
                limits.source_done = True
                limits.changed.notify_all()
            raise gf.Stop()
        cc.outputs[0].add(0, self.next)
        self.next += 1
        with limits.changed:
            limits.sent += 1
            limits.changed.notify_all()
            limits.wait(lambda: limits.sent <= 10 * limits.taken or limits.sent <= 1)


@gf.register_calculator
class TestSlowCalculator(gf.Calculator):
    """MediaPipe's TestSlowCalculator: passes each packet, then waits until ten more were sent
    (or the source is done), as LIMITS says."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    input_side_packets = (gf.Port("LIMITS"),)

    def process(self, cc: gf.CalculatorContext) -> None:
        limits: RateLimits = cc.side_inputs["LIMITS"]
        cc.outputs[0].add_packet(cc.inputs[0])
        with limits.changed:
            limits.taken += 1
            limits.changed.notify_all()
            limits.wait(lambda: limits.sent > 10 * limits.taken or limits.source_done)


@gf.register_calculator
class TestOutputAndBoundSourceCalculator(gf.Calculator):
    """MediaPipe's OutputAndBoundSourceCalculator: for t = 0, 10, ... 2000, sends t / 20 at
    every t divisible by 20, else only moves its bound to t."""

    outputs = (gf.Port("", int),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.counter = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        if self.counter % 20 == 0:
            cc.outputs[0].add(self.counter // 20, self.counter)
        else:
            cc.outputs[0].set_next_timestamp_bound(self.counter)
        if self.counter == 2000:
            raise gf.Stop()
        self.counter += 10


@gf.register_calculator
class TestDelay20Calculator(gf.Calculator):
    """MediaPipe's Delay20Calculator: sends 0 at 0 in open, then each packet 20 later."""

    inputs = (gf.Port("", int),)
    outputs = (gf.Port("", int),)
    timestamp_offset = 20

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(0, 0)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload, cc.timestamp + 20)


@gf.register_calculator
class TestOccasionalBoundCalculator(gf.Calculator):
    """MediaPipe's OccasionalBoundCalculator: sends nothing; at input timestamps divisible by
    20, moves its bound past the input."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.timestamp % 20 == 0:
            cc.outputs[0].set_next_timestamp_bound(cc.timestamp.next_allowed_in_stream())


@gf.register_calculator
class TestIntSinkCalculator(gf.Calculator):
    """MediaPipe's IntSinkCalculator: takes ints, does nothing."""

    inputs = (gf.Port("", int),)

    def process(self, cc: gf.CalculatorContext) -> None:
        """Nothing: a sink."""


@gf.register_calculator
class TestSidePacketOfInputPacketCalculator(gf.Calculator):
    """MediaPipe's OutputSidePacketWithTimestampCalculator: sets its output side packet to the
    input packet itself, timestamp and all."""

    inputs = (gf.Port(""),)
    output_side_packets = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.side_outputs[0].set(cc.inputs[0])


@gf.register_calculator
class TestIntegerSidePacketCalculator(gf.Calculator):
    """MediaPipe's IntegerOutputSidePacketCalculator: sets its output side packet to 1 in open;
    never processes."""

    output_side_packets = (gf.Port("", int),)

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.side_outputs[0].set(1)

    def process(self, cc: gf.CalculatorContext) -> None:
        raise AssertionError("not reached")


@gf.register_calculator
class TestSidePacketAdderCalculator(gf.Calculator):
    """MediaPipe's SidePacketAdderCalculator: the sum of its two side packets, set in open."""

    input_side_packets = (gf.Port("", int, repeated=True),)
    output_side_packets = (gf.Port("", int),)

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.side_outputs[0].set(cc.side_inputs[0] + cc.side_inputs[1])

    def process(self, cc: gf.CalculatorContext) -> None:
        raise AssertionError("not reached")


@gf.register_calculator
class TestCachedSidePacketCalculator(gf.Calculator):
    """MediaPipe's OutputSidePacketCachedCalculator: an expensive side packet (a new object each
    time open makes one)."""

    output_side_packets = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.side_outputs[0].set(["An expensive side-packet created only once per graph"])

    def process(self, cc: gf.CalculatorContext) -> None:
        raise AssertionError("not reached")


@gf.register_calculator
class TestFirstPacketCalculator(gf.Calculator):
    """MediaPipe's FirstPacketFilterCalculator: passes the first packet, then closes."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.seen = False

    def process(self, cc: gf.CalculatorContext) -> None:
        if not self.seen:
            cc.outputs[0].add_packet(cc.inputs[0])
            cc.outputs[0].close()
            self.seen = True


@gf.register_calculator
class TestGlobalCountSourceCalculator(gf.Calculator):
    """MediaPipe's GlobalCountSourceCalculator: five packets at 0..4, each the next value of
    the COUNTER side packet (an iterator shared by the graph's users)."""

    outputs = (gf.Port("", int),)
    input_side_packets = (gf.Port("COUNTER"),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.sent = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(next(cc.side_inputs["COUNTER"]), self.sent)
        self.sent += 1
        if self.sent >= 5:
            raise gf.Stop()


@gf.register_calculator
class TestUnitDelayCalculator(gf.Calculator):
    """MediaPipe's UnitDelayCalculator: sends 0 at 0 in open, then each packet one later."""

    inputs = (gf.Port("", int),)
    outputs = (gf.Port("", int),)

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(0, 0)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(cc.inputs[0].payload, cc.timestamp.next_allowed_in_stream())


@gf.register_calculator
class TestMergeCalculator(gf.Calculator):
    """The MergeCalculator of MediaPipe's test_calculators.cc: for each timestamp, the tuple of
    its inputs' payloads, None for an empty input (the default handler)."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port(""),)

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add(tuple(None if p.is_empty else p.payload for p in cc.inputs))


@gf.register_calculator
class TestOutputAllSourceCalculator(gf.Calculator):
    """MediaPipe's OutputAllSourceCalculator: 100 packets at 0..99 in one call, then stops."""

    outputs = (gf.Port("", int),)

    def process(self, cc: gf.CalculatorContext) -> None:
        for ts in range(100):
            cc.outputs[0].add(0, ts)
        raise gf.Stop()


@gf.register_calculator
class TestOutputOneAtATimeSourceCalculator(gf.Calculator):
    """MediaPipe's OutputOneAtATimeSourceCalculator: 1000 packets at 0..999, one a call."""

    outputs = (gf.Port("", int),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.index = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        if self.index == 1000:
            raise gf.Stop()
        cc.outputs[0].add(0, self.index)
        self.index += 1


@gf.register_calculator
class TestDecimatorCalculator(gf.Calculator):
    """MediaPipe's DecimatorCalculator: passes one packet in 101."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.index = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        if self.index % 101 == 0:
            cc.outputs[0].add_packet(cc.inputs[0])
        self.index += 1


@gf.register_calculator
class TestAssertEmptyInputInOpenCalculator(gf.Calculator):
    """MediaPipe's AssertEmptyInputInOpenCalculator: fails in open unless its input is empty
    there, even when the node upstream sent a packet in its own open."""

    inputs = (gf.Port(""),)

    def open(self, cc: gf.CalculatorContext) -> None:
        if not cc.inputs[0].is_empty or cc.inputs[0].timestamp != Timestamp.UNSET:
            raise AssertionError(f"open sees a packet: {cc.inputs[0]}")

    def process(self, cc: gf.CalculatorContext) -> None:
        """Nothing: a sink."""


@gf.register_calculator
class TestEmptySourceCalculator(gf.Calculator):
    """MediaPipe's IntEmptySourceCalculator: a source of ints that stops at once."""

    outputs = (gf.Port("", int),)

    def process(self, cc: gf.CalculatorContext) -> None:
        raise gf.Stop()


@gf.register_calculator
class TestStringEmptySourceCalculator(TestEmptySourceCalculator):
    """StringEmptySourceCalculator: a source of strings that stops at once."""

    outputs = (gf.Port("", str),)


@gf.register_calculator
class TestStringSinkCalculator(gf.Calculator):
    """MediaPipe's StringSinkCalculator: takes strings, does nothing."""

    inputs = (gf.Port("", str),)

    def process(self, cc: gf.CalculatorContext) -> None:
        """Nothing: a sink."""


@gf.register_calculator
class TestErrorOnOpenCalculator(gf.Calculator):
    """MediaPipe's ErrorOnOpenCalculator: a pass-through that fails in open if ERROR_ON_OPEN."""

    inputs = (gf.Port(""),)
    outputs = (gf.Port(""),)
    input_side_packets = (gf.Port("ERROR_ON_OPEN", bool),)

    def open(self, cc: gf.CalculatorContext) -> None:
        if cc.side_inputs["ERROR_ON_OPEN"]:
            raise RuntimeError("expected error in open (ERROR_ON_OPEN)")

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs[0].add_packet(cc.inputs[0])


@gf.register_calculator
class TestInputTimestampLogCalculator(gf.Calculator):
    """MediaPipe's CheckInputTimestamp{,2}{Source,Sink}Calculator: logs ``(phase, timestamp)``
    of open, process and close in LOG; as a source (no input) sends 0, 1, 2, ... at their
    timestamps, as a sink takes them; stops after STOP_AFTER calls if given."""

    inputs = (gf.Port("", optional=True),)
    outputs = (gf.Port("", optional=True),)
    input_side_packets = (gf.Port("LOG"), gf.Port("STOP_AFTER", int, optional=True))

    def open(self, cc: gf.CalculatorContext) -> None:
        self.log: list[tuple[Any, ...]] = cc.side_inputs["LOG"]
        self.log.append(("open", int(cc.timestamp)))
        self.count = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        if cc.inputs.connected(0):
            self.log.append(("process", int(cc.timestamp), int(cc.inputs[0].timestamp)))
        else:
            self.log.append(("process", int(cc.timestamp)))
            cc.outputs[0].add(self.count, self.count)
        self.count += 1
        if self.count >= cc.side_inputs.get("STOP_AFTER", self.count + 1):
            raise gf.Stop()

    def close(self, cc: gf.CalculatorContext) -> None:
        self.log.append(("close", int(cc.timestamp)))


@gf.register_calculator
class TestInfiniteSequenceCalculator(gf.Calculator):
    """MediaPipe's InfiniteSequenceCalculator: a source of 0, 1, 2, ... on OUT without end;
    EVENT gets 1 at 1 in open and 2 at 2 in close."""

    outputs = (gf.Port("OUT", int), gf.Port("EVENT", int))

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["EVENT"].add(1, 1)
        self.count = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["OUT"].add(self.count, self.count)
        self.count += 1

    def close(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["EVENT"].add(2, 2)


@gf.register_calculator
class TestStoppingPassThroughCalculator(gf.Calculator):
    """MediaPipe's StoppingPassThroughCalculator: passes its untagged inputs, and stops the
    graph in its eleventh call; EVENT gets 1 at 1 in open and 2 at 2 in close."""

    inputs = (gf.Port("", repeated=True),)
    outputs = (gf.Port("", repeated=True), gf.Port("EVENT", int))

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["EVENT"].add(1, 1)
        self.count = 0

    def process(self, cc: gf.CalculatorContext) -> None:
        for i in range(cc.inputs.count("")):
            if cc.inputs.has(i):
                cc.outputs[i].add_packet(cc.inputs[i])
        self.count += 1
        if self.count > 10:
            raise gf.Stop()

    def close(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["EVENT"].add(2, 2)
