"""Core calculators: pass-through, flow limiting, loopback, gating, vector clipping, constants."""

from __future__ import annotations

import collections
from typing import Any

from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
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


@register_calculator
class FlowLimiterCalculator(Calculator):
    """Drops frames while ``max_in_flight`` earlier ones are still being processed downstream.

    Connect the graph's last output back to FINISHED (as a back edge): a frame counts as
    finished when a FINISHED packet or bound reaches its timestamp. Frames that arrive while the
    limit is reached wait in a queue of ``max_in_queue`` (default 0: dropped, keeping the
    newest). Dropped frames advance the output bound, so downstream nodes do not wait for them.
    Optional ALLOW output: for each input frame, whether it went through.
    """

    inputs = (Port("", doc="frames"), Port("FINISHED", optional=True),
              Port("OPTIONS", optional=True))
    outputs = (Port("", doc="frames let through"), Port("ALLOW", bool, optional=True))
    input_side_packets = (Port("OPTIONS", optional=True), Port("MAX_IN_FLIGHT", int,
                                                                optional=True))
    options_type = flow_limiter_calculator_pb2.FlowLimiterCalculatorOptions
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: CalculatorContext) -> None:
        self.max_in_flight_side = cc.side_inputs.get("MAX_IN_FLIGHT")
        self._use_options(cc.side_inputs.get("OPTIONS", cc.options))
        self.in_flight: collections.deque[int] = collections.deque()
        self.waiting: collections.deque[Packet[Any]] = collections.deque()
        self.has_finished = cc.inputs.connected("FINISHED")

    def _use_options(self, options: Any) -> None:
        """Takes options from the node, or the OPTIONS side packet or stream (MediaPipe's
        RetrieveOptions); the MAX_IN_FLIGHT side packet wins over all of them."""
        self.max_in_flight = int(options.max_in_flight if self.max_in_flight_side is None
                                 else self.max_in_flight_side)
        self.max_in_queue = options.max_in_queue
        self.timeout = options.in_flight_timeout

    def process(self, cc: CalculatorContext) -> None:
        if cc.inputs.has("OPTIONS"):
            self._use_options(cc.inputs["OPTIONS"].payload)
        if self.has_finished:
            finished_bound = cc.inputs.bound("FINISHED")
            finished = cc.inputs["FINISHED"]
            while self.in_flight and (self.in_flight[0] < finished_bound or (
                    not finished.is_empty and self.in_flight[0] <= finished.timestamp)):
                self.in_flight.popleft()
        frame = cc.inputs[0]
        if not frame.is_empty:
            self.waiting.append(frame)
            # Abandon frames in flight for longer than in_flight_timeout (in timestamps).
            while self.timeout > 0 and self.in_flight and \
                    int(frame.timestamp) - self.in_flight[0] > self.timeout:
                self.in_flight.popleft()
        out = cc.outputs[0]
        allow = cc.outputs["ALLOW"] if cc.outputs.connected("ALLOW") else None
        while self.waiting and len(self.in_flight) < self.max_in_flight:
            packet = self.waiting.popleft()
            out.add_packet(packet)
            self.in_flight.append(int(packet.timestamp))
            if allow is not None:
                allow.add(True, packet.timestamp)
        while len(self.waiting) > self.max_in_queue:
            dropped = self.waiting.popleft()
            if allow is not None:
                allow.add(False, dropped.timestamp)
        # Everything up to the oldest waiting frame (or the current input) is decided.
        settled = self.waiting[0].timestamp if self.waiting else \
            cc.inputs.bound(0)
        out.set_next_timestamp_bound(settled)
        if allow is not None:
            allow.set_next_timestamp_bound(settled)


@register_calculator
class PreviousLoopbackCalculator(Calculator):
    """For each MAIN packet at T, outputs on PREV_LOOP the LOOP packet of the previous MAIN
    timestamp (empty for the first one, or when there was none). LOOP is a back edge."""

    inputs = (Port("MAIN"), Port("LOOP"))
    outputs = (Port("PREV_LOOP"),)
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: CalculatorContext) -> None:
        self.mains: collections.deque[int] = collections.deque()
        self.prev_main: int | None = None
        self.loop: Packet[Any] | None = None

    def process(self, cc: CalculatorContext) -> None:
        main = cc.inputs["MAIN"]
        if not main.is_empty:
            self.mains.append(int(main.timestamp))
        loop = cc.inputs["LOOP"]
        if not loop.is_empty:
            self.loop = loop
        loop_bound = cc.inputs.bound("LOOP")
        out = cc.outputs["PREV_LOOP"]
        while self.mains:
            ts = self.mains[0]
            prev = self.prev_main
            if prev is not None and loop_bound <= prev:
                break  # the LOOP value for the previous frame may still come
            if prev is not None and self.loop is not None and self.loop.timestamp == prev:
                out.add(self.loop.payload, ts)
            else:
                out.set_next_timestamp_bound(ts + 1)
            self.mains.popleft()
            self.prev_main = ts
        if not self.mains:
            main_bound = cc.inputs.bound("MAIN")
            out.set_next_timestamp_bound(main_bound)


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
    input_side_packets = (Port("ALLOW", bool, optional=True),
                          Port("DISALLOW", bool, optional=True))
    options_type = gate_calculator_pb2.GateCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """One output per data input; ALLOW and DISALLOW are exclusive."""
        data_in = [p for p in node.inputs if p[0] == ""]
        data_out = [p for p in node.outputs if p[0] == ""]
        if len(data_in) != len(data_out):
            raise ContractError(f"{len(data_in)} data inputs but {len(data_out)} outputs")
        controls = [p for p in (*node.inputs, *node.input_side_packets)
                    if p[0] in ("ALLOW", "DISALLOW")]
        if len(controls) > 1:
            raise ContractError("use only one of ALLOW and DISALLOW (stream or side packet)")

    def open(self, cc: CalculatorContext) -> None:
        opts = cc.options
        states = gate_calculator_pb2.GateCalculatorOptions
        self.last_state: bool | None = None if \
            opts.initial_gate_state == states.GATE_UNINITIALIZED else \
            opts.initial_gate_state == states.GATE_ALLOW
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

    def process(self, cc: CalculatorContext) -> None:
        allow = self.allow
        if self.stream_tag is not None:
            control = cc.inputs[self.stream_tag]
            if control.is_empty:
                allow = self.empty_as_allow
            else:
                allow = bool(control.payload) == (self.stream_tag == "ALLOW")
        if cc.outputs.connected("STATE_CHANGE") and allow != self.last_state and \
                self.last_state is not None:
            cc.outputs["STATE_CHANGE"].add(allow)
        self.last_state = allow
        if not allow and self.side_decided:
            for i in range(self.count):  # closed for good: downstream need not wait
                cc.outputs[i].close()
        if allow:
            for i in range(self.count):
                packet = cc.inputs[i]
                if not packet.is_empty:
                    cc.outputs[i].add_packet(packet)


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


@register_calculator
class SidePacketToStreamCalculator(Calculator):
    """Outputs its side packet once on its stream, at the first input's timestamp (TICK) or
    at ``Timestamp.PRESTREAM`` (AT_PRESTREAM)."""

    inputs = (Port("TICK", optional=True),)
    outputs = (Port("AT_TICK", optional=True), Port("AT_PRESTREAM", optional=True))
    input_side_packets = (Port(""),)
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        if cc.outputs.connected("AT_PRESTREAM"):
            cc.outputs["AT_PRESTREAM"].add(cc.side_inputs[0], Timestamp.PRESTREAM)
            cc.outputs["AT_PRESTREAM"].close()

    def process(self, cc: CalculatorContext) -> None:
        if not cc.inputs.connected("TICK"):
            raise Stop()  # a source (AT_PRESTREAM only): everything was sent in open()
        if cc.outputs.connected("AT_TICK") and cc.inputs.has("TICK"):
            cc.outputs["AT_TICK"].add(cc.side_inputs[0])


@register_calculator
class CountingSourceCalculator(Calculator):
    """A source of integers 0, 1, 2, ... at timestamps 0, 1, 2, ... (for tests and demos).

    Side packets: MAX_COUNT (how many; default 10), ERROR_COUNT (raise after that many, to test
    error handling), INTERVAL_US (timestamp step; default 1).
    """

    outputs = (Port("", int),)
    input_side_packets = (Port("MAX_COUNT", int, optional=True),
                          Port("ERROR_COUNT", int, optional=True),
                          Port("INTERVAL_US", int, optional=True))

    def open(self, cc: CalculatorContext) -> None:
        self.count = 0
        self.max_count = int(cc.side_inputs.get("MAX_COUNT", 10))
        self.error_count = cc.side_inputs.get("ERROR_COUNT")
        self.interval = int(cc.side_inputs.get("INTERVAL_US", 1))

    def process(self, cc: CalculatorContext) -> None:
        if self.error_count is not None and self.count == self.error_count:
            raise RuntimeError(f"CountingSourceCalculator: error after {self.count} packets "
                               "(ERROR_COUNT)")
        if self.count >= self.max_count:
            raise Stop()
        cc.outputs[0].add(self.count, self.count * self.interval)
        self.count += 1
