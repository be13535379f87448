"""Core calculators: pass-through, flow limiting, loopback, gating, vector clipping, constants."""

from __future__ import annotations

import collections
from typing import Any

from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    OutputStream,
    Port,
    Stop,
    register_calculator,
)
from graphflow.packet import Packet
from graphflow.proto.mediapipe.calculators.core import (
    clip_vector_size_calculator_pb2,
    constant_side_packet_calculator_pb2,
    flow_limiter_calculator_pb2,
    gate_calculator_pb2,
)
from graphflow.timestamp import Timestamp


@register_calculator
class PassThroughCalculator(Calculator):
    """Passes every input packet to the output of the same tag and index, unchanged."""

    inputs = (Port("*", repeated=True, optional=True),)
    outputs = (Port("*", repeated=True, optional=True),)
    input_side_packets = (Port("*", repeated=True, optional=True),)
    output_side_packets = (Port("*", repeated=True, optional=True),)
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """Each input port needs an output port of the same tag and index (side packets too)."""
        if set(node.inputs) != set(node.outputs):
            raise ContractError(f"inputs {_ports(node.inputs)} and outputs {_ports(node.outputs)}"
                                " must have the same tags and indices")
        if set(node.input_side_packets) != set(node.output_side_packets):
            raise ContractError("input and output side packets must have the same tags")

    def open(self, cc: CalculatorContext) -> None:
        self._ports = cc.inputs.ports()
        for port in cc.side_inputs.ports():  # the contract gives each an output of its port
            cc.side_outputs[port].set(cc.side_inputs[port])

    def process(self, cc: CalculatorContext) -> None:
        inputs, outputs = cc.inputs, cc.outputs
        for port in self._ports:
            packet = inputs[port]
            if not packet.is_empty:
                outputs[port].packets.append(packet)


def _ports(ports: tuple[tuple[str, int], ...]) -> str:
    return "[" + ", ".join(f"{t}:{i}" if t else str(i) for t, i in ports) + "]"


def settled_timestamp(cc: CalculatorContext, key: str | int) -> Timestamp:
    """The timestamp MediaPipe gives an input in a timestamp-bounds call (its
    ``Value().Timestamp()``): its packet's, or for an empty input the last timestamp its bound
    settles (MAX once the stream is done). Only for calculators with process_timestamp_bounds.
    """
    packet = cc.inputs[key]
    if not packet.is_empty:
        return packet.timestamp
    return cc.inputs.bound(key).previous_allowed_in_stream()


def _bound_or_close(stream: OutputStream, bound: Timestamp) -> None:
    """Moves an output's bound, closing it when no timestamp is left (bound past MAX)."""
    if bound > Timestamp.MAX:
        stream.close()
    else:
        stream.set_next_timestamp_bound(bound)


@register_calculator
class FlowLimiterCalculator(Calculator):
    """Drops frames while ``max_in_flight`` earlier ones are still being processed downstream.

    Connect the graph's last output back to FINISHED (as a back edge): a frame counts as
    finished when a FINISHED packet or bound reaches its timestamp. Frames that arrive while the
    limit is reached wait in a queue of ``max_in_queue`` (default 0: dropped, keeping the
    newest). Dropped frames advance the output bound, so downstream nodes do not wait for them.
    Optional ALLOW output: for each input frame, whether it went through. Further untagged
    inputs are auxiliary: their packets pass at the timestamps the first input let through.
    """

    inputs = (Port("", repeated=True, doc="frames, then auxiliary streams"),
              Port("FINISHED", optional=True), Port("OPTIONS", optional=True))
    outputs = (Port("", repeated=True, doc="frames let through"),
               Port("ALLOW", bool, optional=True))
    input_side_packets = (Port("OPTIONS", optional=True, missing_ok=True),
                          Port("MAX_IN_FLIGHT", int, optional=True, missing_ok=True))
    options_type = flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """One output per untagged input."""
        node.require_paired("", "")

    def open(self, cc: CalculatorContext) -> None:
        options = flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions()
        options.CopyFrom(cc.options)
        if "OPTIONS" in cc.side_inputs:
            options.MergeFrom(cc.side_inputs["OPTIONS"])
        if "MAX_IN_FLIGHT" in cc.side_inputs:
            options.max_in_flight = int(cc.side_inputs["MAX_IN_FLIGHT"])
        self.options = options
        self.count = cc.inputs.count("")
        self.queues: list[collections.deque[Packet[Any]]] = [
            collections.deque() for _ in range(self.count)]
        self.in_flight: collections.deque[Timestamp] = collections.deque()
        # Whether each range of timestamps was let through, from its first timestamp on.
        self.allowed: dict[Timestamp, bool] = {Timestamp.UNSET: True}

    def process(self, cc: CalculatorContext) -> None:
        # MediaPipe's FlowLimiterCalculator::Process, step by step.
        if cc.inputs.has("OPTIONS"):
            self.options.MergeFrom(cc.inputs["OPTIONS"].payload)
        if cc.inputs.connected("FINISHED"):
            finished = settled_timestamp(cc, "FINISHED")
            if finished == cc.timestamp:
                while self.in_flight and self.in_flight[0] <= finished:
                    self.in_flight.popleft()
        for i, queue in enumerate(self.queues):
            if cc.inputs.has(i):
                queue.append(cc.inputs[i])
        latest = settled_timestamp(cc, 0)
        timeout = self.options.in_flight_timeout
        if timeout > 0 and latest == cc.timestamp and latest < Timestamp.MAX:
            while self.in_flight and latest - self.in_flight[0] > timeout:
                self.in_flight.popleft()
        frames, out = self.queues[0], cc.outputs[0]
        while len(self.in_flight) < self.options.max_in_flight and frames:
            packet = frames.popleft()
            out.add_packet(packet)
            self._send_allow(cc, True, packet.timestamp)
            self.in_flight.append(packet.timestamp)
        while len(frames) > self.options.max_in_queue:
            self._send_allow(cc, False, frames.popleft().timestamp)
        if frames:
            settled = frames[0].timestamp
            _bound_or_close(out, settled)
        else:
            settled = latest.next_allowed_in_stream()
            _bound_or_close(out, settled)
            if cc.outputs.connected("ALLOW"):
                _bound_or_close(cc.outputs["ALLOW"], settled)
        self._auxiliary(cc, Timestamp.DONE if settled > Timestamp.MAX else settled)
        # Forget the ranges below the lowest timestamp still to come on any input.
        lowest = min(queue[0].timestamp if queue else
                     settled_timestamp(cc, i).next_allowed_in_stream()
                     for i, queue in enumerate(self.queues))
        starts = sorted(self.allowed)
        keep = max((t for t in starts if t <= lowest), default=starts[0])
        for start in starts:
            if start < keep:
                del self.allowed[start]

    def _send_allow(self, cc: CalculatorContext, allow: bool, ts: Timestamp) -> None:
        if cc.outputs.connected("ALLOW"):
            cc.outputs["ALLOW"].add(allow, ts)
        self.allowed[ts] = allow

    def _auxiliary(self, cc: CalculatorContext, settled: Timestamp) -> None:
        """Lets the auxiliary inputs' packets through below ``settled`` where the first input's
        frames went through."""
        for i in range(1, self.count):
            queue, out = self.queues[i], cc.outputs[i]
            while queue and queue[0].timestamp < settled:
                packet = queue.popleft()
                if self.allowed[max(t for t in self.allowed if t <= packet.timestamp)]:
                    out.add_packet(packet)
            _bound_or_close(out, queue[0].timestamp if queue else
                            settled_timestamp(cc, i).next_allowed_in_stream())


@register_calculator
class PreviousLoopbackCalculator(Calculator):
    """For each MAIN packet, outputs on PREV_LOOP (at the MAIN timestamp) the LOOP packet of the
    previous MAIN packet; for the first one, or when that LOOP had no packet, only the bound
    moves. LOOP is usually a back edge. LOOP packets are queued, so LOOP may run ahead of MAIN.
    """

    inputs = (Port("MAIN"), Port("LOOP"))
    outputs = (Port("PREV_LOOP"),)
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: CalculatorContext) -> None:
        # MediaPipe's queues: MAIN timestamps (packets and bound moves) with the LOOP timestamp
        # each one waits for (UNSET for a bound move), and LOOP packets or bound moves.
        self.mains: collections.deque[tuple[Timestamp, Timestamp]] = collections.deque()
        self.prev_main = Timestamp.UNSTARTED
        self.prev_packet_main = Timestamp.UNSTARTED
        self.loops: collections.deque[tuple[Timestamp, Packet[Any]]] = collections.deque()
        # UNSET, below UNSTARTED, so that LOOP's very first (empty) state is queued too.
        self.prev_loop = Timestamp.UNSET
        self.closed = False

    def process(self, cc: CalculatorContext) -> None:
        main_ts = settled_timestamp(cc, "MAIN")
        if self.prev_main < main_ts:
            if cc.inputs.has("MAIN"):
                self.mains.append((main_ts, self.prev_packet_main))
                self.prev_packet_main = main_ts
            else:
                self.mains.append((main_ts, Timestamp.UNSET))
            self.prev_main = main_ts
        loop_ts = settled_timestamp(cc, "LOOP")
        if self.prev_loop < loop_ts:
            self.loops.append((loop_ts, cc.inputs["LOOP"]))
            self.prev_loop = loop_ts
        out = cc.outputs["PREV_LOOP"]
        while self.mains and self.loops:
            ts, wanted = self.mains[0]
            loop_ts, loop = self.loops[0]
            if wanted < loop_ts:  # no LOOP packet can match this MAIN one
                out.set_next_timestamp_bound(ts + 1)
                self.mains.popleft()
            elif wanted > loop_ts:  # no MAIN packet can match this LOOP one
                self.loops.popleft()
            else:
                if loop.is_empty:
                    out.set_next_timestamp_bound(ts + 1)
                elif not self.closed:
                    out.add(loop.payload, ts)
                self.loops.popleft()
                self.mains.popleft()
            if ts == Timestamp.MAX:  # the last MAIN timestamp there can be
                out.close()
                self.closed = True


# The gate's states, read from the options' enum once (each read of it costs per frame).
_GATE_ALLOW = gate_calculator_pb2.GateCalculatorOptions.GATE_ALLOW
_GATE_DISALLOW = gate_calculator_pb2.GateCalculatorOptions.GATE_DISALLOW
_GATE_UNINITIALIZED = gate_calculator_pb2.GateCalculatorOptions.GATE_UNINITIALIZED


@register_calculator
class GateCalculator(Calculator):
    """Passes its untagged inputs through while ALLOW is true (or DISALLOW false).

    ALLOW / DISALLOW may be a stream or a side packet; without either, the options'
    ``allow`` decides. ``empty_packets_as_allow`` lets packets through when the control stream
    has no packet at that timestamp. Optional STATE_CHANGE output reports changes.
    """

    inputs = (Port("", repeated=True, optional=True), Port("ALLOW", bool, optional=True),
              Port("DISALLOW", bool, optional=True))
    outputs = (Port("", repeated=True, optional=True), Port("STATE_CHANGE", bool,
                                                              optional=True))
    input_side_packets = (Port("ALLOW", bool, optional=True, missing_ok=True),
                          Port("DISALLOW", bool, optional=True, missing_ok=True))
    options_type = gate_calculator_pb2.GateCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """One output per data input; ALLOW and DISALLOW are exclusive."""
        node.require_paired("", "")
        controls = [p for p in (*node.inputs, *node.input_side_packets)
                    if p[0] in ("ALLOW", "DISALLOW")]
        if len(controls) > 1:
            raise ContractError("use only one of ALLOW and DISALLOW (stream or side packet)")

    def open(self, cc: CalculatorContext) -> None:
        opts = cc.options
        # MediaPipe compares the state enum itself: only GATE_UNINITIALIZED (the default)
        # keeps the first call from reporting a change (UNSPECIFIED differs from both states).
        self.last_state = opts.initial_gate_state
        self.empty_as_allow = opts.empty_packets_as_allow
        self.allow = opts.allow
        self.side_decided = False
        if "ALLOW" in cc.side_inputs:
            self.allow, self.side_decided = bool(cc.side_inputs["ALLOW"]), True
        elif "DISALLOW" in cc.side_inputs:
            self.allow, self.side_decided = not cc.side_inputs["DISALLOW"], True
        self.stream_tag = next((t for t in ("ALLOW", "DISALLOW") if cc.inputs.connected(t)),
                               None)
        self.count = cc.inputs.count("")
        self.reports_changes = cc.outputs.connected("STATE_CHANGE")

    def process(self, cc: CalculatorContext) -> None:
        allow = self.allow
        if self.stream_tag is not None:
            control = cc.inputs[self.stream_tag]
            if control.is_empty:
                allow = self.empty_as_allow
            else:
                allow = bool(control.payload) == (self.stream_tag == "ALLOW")
        state = _GATE_ALLOW if allow else _GATE_DISALLOW
        if self.reports_changes and self.last_state not in (_GATE_UNINITIALIZED, state):
            cc.outputs["STATE_CHANGE"].add(allow)
        self.last_state = state
        if not allow and self.side_decided:
            for i in range(self.count):  # closed for good: downstream need not wait
                cc.outputs[i].close()
        if allow:
            for i in range(self.count):
                packet = cc.inputs[i]
                if not packet.is_empty:
                    cc.outputs[i].add_packet(packet)


@register_calculator
class MergeCalculator(Calculator):
    """Outputs, at each input timestamp, the packet of the first input that has one there."""

    inputs = (Port("", repeated=True),)
    outputs = (Port(""),)
    timestamp_offset = 0  # (MediaPipe's api2 nodes default to TimestampChange::Offset(0))

    def process(self, cc: CalculatorContext) -> None:
        for packet in cc.inputs:
            if not packet.is_empty:
                cc.outputs[0].add_packet(packet)
                return


@register_calculator
class PacketPresenceCalculator(Calculator):
    """Outputs PRESENCE true for each PACKET packet, false where only the bound moved."""

    inputs = (Port("PACKET"),)
    outputs = (Port("PRESENCE", bool),)
    timestamp_offset = 0
    process_timestamp_bounds = True

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs["PRESENCE"].add(cc.inputs.has("PACKET"))


@register_calculator
class ClipVectorSizeCalculator(Calculator):
    """Keeps the first ``max_vec_size`` items of a list (MediaPipe's ClipVectorSize*)."""

    inputs = (Port("", (list, tuple)),)
    outputs = (Port("", list),)
    input_side_packets = (Port("", int, optional=True),)
    options_type = clip_vector_size_calculator_pb2.ClipVectorSizeCalculatorOptions
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        self.max_size = int(cc.side_inputs.get(0, cc.options.max_vec_size))
        if self.max_size < 1:
            raise ValueError(f"max_vec_size must be at least 1, got {self.max_size}")

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(list(cc.inputs[0].payload[: self.max_size]))


for _name in ("ClipNormalizedRectVectorSizeCalculator", "ClipDetectionVectorSizeCalculator"):
    register_calculator(type(_name, (ClipVectorSizeCalculator,), {
        "__doc__": ClipVectorSizeCalculator.__doc__, "__module__": __name__}))


@register_calculator
class ConstantSidePacketCalculator(Calculator):
    """Outputs the options' constant values as side packets ``PACKET:0``, ``PACKET:1``..."""

    output_side_packets = (Port("PACKET", repeated=True),)
    options_type = constant_side_packet_calculator_pb2.ConstantSidePacketCalculatorOptions

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """As many PACKET outputs as constants in the options."""
        if len(node.output_side_packets) != len(node.options.packet):
            raise ContractError(f"{len(node.output_side_packets)} PACKET side outputs but "
                                f"{len(node.options.packet)} constants in the options")
        for i, packet in enumerate(node.options.packet):
            if packet.WhichOneof("value") is None:
                raise ContractError(f"constant {i} has no value")

    def open(self, cc: CalculatorContext) -> None:
        for i, packet in enumerate(cc.options.packet):
            kind = packet.WhichOneof("value")
            value = getattr(packet, kind)
            if kind.endswith("_vector_value"):
                value = list(next(iter(f for _, f in value.ListFields()), []))
            cc.side_outputs["PACKET", i].set(value)

    def process(self, cc: CalculatorContext) -> None:
        """Never called: the node has no streams."""


# SidePacketToStreamCalculator's output tags and the timestamps they send at (None: at the TICK
# packet's, or at the TIMESTAMP side packet's).
_SIDE_PACKET_TIMESTAMPS: dict[str, Timestamp | None] = {
    "AT_PRESTREAM": Timestamp.PRESTREAM, "AT_POSTSTREAM": Timestamp.POSTSTREAM,
    "AT_ZERO": Timestamp(0), "AT_TICK": None, "AT_FIRST_TICK": None, "AT_TIMESTAMP": None}


@register_calculator
class SidePacketToStreamCalculator(Calculator):
    """Sends side packet ``i`` on output ``TAG:i``, where one tag says when.

    AT_TICK: at every TICK packet's timestamp; AT_FIRST_TICK: at the first one, then the
    outputs close; AT_PRESTREAM, AT_POSTSTREAM, AT_ZERO: once, at that timestamp;
    AT_TIMESTAMP: once, at the TIMESTAMP side packet's.
    """

    inputs = (Port("TICK", optional=True),)
    outputs = tuple(Port(tag, repeated=True, optional=True) for tag in _SIDE_PACKET_TIMESTAMPS)
    input_side_packets = (Port("", repeated=True), Port("TIMESTAMP", int, optional=True))
    timestamp_offset = 0  # with TICK: the outputs follow TICK's bound

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """One output tag; TICK with the tick tags only; TIMESTAMP with AT_TIMESTAMP only; one
        untagged side packet per output."""
        tags = {tag for tag, _ in node.outputs}
        if len(tags) != 1:
            raise ContractError("needs outputs under exactly one of "
                                + ", ".join(_SIDE_PACKET_TIMESTAMPS))
        tag = tags.pop()
        ticks = tag in ("AT_TICK", "AT_FIRST_TICK")
        if ticks != (("TICK", 0) in node.inputs):
            raise ContractError("the TICK input goes with AT_TICK or AT_FIRST_TICK outputs, and "
                                "only with them")
        if (tag == "AT_TIMESTAMP") != (("TIMESTAMP", 0) in node.input_side_packets):
            raise ContractError("the TIMESTAMP side packet goes with AT_TIMESTAMP outputs, and "
                                "only with them")
        values = sum(1 for t, _ in node.input_side_packets if not t)
        if values != len(node.outputs):
            raise ContractError(f"{len(node.outputs)} outputs but {values} untagged side "
                                "packets")

    def open(self, cc: CalculatorContext) -> None:
        self.tag = next(t for t in _SIDE_PACKET_TIMESTAMPS if cc.outputs.connected(t))
        self.count = cc.outputs.count(self.tag)
        self.done = False

    def process(self, cc: CalculatorContext) -> None:
        if not cc.inputs.connected("TICK"):
            raise Stop()  # a source: close() sends the packets
        if self.done:
            return
        for i in range(self.count):
            cc.outputs[self.tag, i].add(cc.side_inputs[i])
            if self.tag == "AT_FIRST_TICK":
                cc.outputs[self.tag, i].close()
        self.done = self.tag == "AT_FIRST_TICK"

    def close(self, cc: CalculatorContext) -> None:
        ts = _SIDE_PACKET_TIMESTAMPS[self.tag]
        if self.tag == "AT_TIMESTAMP":
            ts = Timestamp(cc.side_inputs["TIMESTAMP"])
        if ts is not None:
            for i in range(self.count):
                cc.outputs[self.tag, i].add(cc.side_inputs[i], ts)


@register_calculator
class CountingSourceCalculator(Calculator):
    """A source of integers for tests and demos: MediaPipe's CountingSourceCalculator.

    Each call sends BATCH_SIZE (default 1) packets, counting INITIAL_VALUE (default 0), then up
    by INCREMENT (default 1), each at the timestamp of its value (times INTERVAL_US, graphflow's
    own, default 1). Side packets: MAX_COUNT (how many calls; default 10), ERROR_COUNT (fail in
    the call after that many, to test error handling), ERROR_ON_OPEN (fail in open if true).
    """

    outputs = (Port("", int),)
    input_side_packets = (Port("MAX_COUNT", int, optional=True),
                          Port("ERROR_COUNT", int, optional=True),
                          Port("ERROR_ON_OPEN", bool, optional=True),
                          Port("BATCH_SIZE", int, optional=True),
                          Port("INITIAL_VALUE", int, optional=True),
                          Port("INCREMENT", int, optional=True),
                          Port("INTERVAL_US", int, optional=True))

    def open(self, cc: CalculatorContext) -> None:
        if cc.side_inputs.get("ERROR_ON_OPEN", False):
            raise RuntimeError("CountingSourceCalculator: error in open (ERROR_ON_OPEN)")
        side = {tag: int(cc.side_inputs[tag]) for tag in (
            "MAX_COUNT", "ERROR_COUNT", "BATCH_SIZE", "INCREMENT") if tag in cc.side_inputs}
        for tag, value in side.items():
            least = 0 if tag.endswith("COUNT") else 1
            if value < least:
                raise ValueError(f"CountingSourceCalculator: side packet {tag} is {value}; "
                                 f"it must be at least {least}")
        self.max_count = side.get("MAX_COUNT", 10)
        self.error_count = side.get("ERROR_COUNT")
        self.batch_size = side.get("BATCH_SIZE", 1)
        self.increment = side.get("INCREMENT", 1)
        self.value = int(cc.side_inputs.get("INITIAL_VALUE", 0))
        self.interval = int(cc.side_inputs.get("INTERVAL_US", 1))
        self.calls = 0

    def process(self, cc: CalculatorContext) -> None:
        if self.error_count is not None and self.calls == self.error_count:
            raise RuntimeError("CountingSourceCalculator: error after "
                               f"{self.calls * self.batch_size} packets (ERROR_COUNT)")
        if self.calls >= self.max_count:
            raise Stop()
        for _ in range(self.batch_size):
            cc.outputs[0].add(self.value, self.value * self.interval)
            self.value += self.increment
        self.calls += 1
