"""MediaPipe's SwitchContainer: one of several contained nodes processes the container's streams.

``SwitchContainer`` is a subgraph made from its node: a ``SwitchDemuxCalculator`` routes the
container's input streams and side packets to channel ``k`` (streams ``c<k>__<name>`` with
tags ``C<k>__<TAG>``), the ``contained_node`` of each channel works on them, and a
``SwitchMuxCalculator`` passes the selected channel's outputs on under the container's own
names, as MediaPipe's ``mediapipe/framework/tool/switch_container.cc`` builds it.

The channel is chosen when the graph starts: ``options.enable`` (channel 1 if true) or
``options.select``, overridden by the ``ENABLE`` (bool) or ``SELECT`` (int) input side packet.
An ``ENABLE`` or ``SELECT`` input stream changes it between timestamps: as in MediaPipe, a
``PacketSequencerCalculator`` restamps each selection packet to the first timestamp after the
last input timestamp seen (the container's input streams, or those of
``options.tick_input_stream``, are its ticks), so that it applies from there on; demux and mux
keep the history of selections and route each timestamp to the channel selected for it, waiting
for the selection stream to settle past a timestamp before they route it. By default the
sequencer synchronizes selection and inputs (MediaPipe's DefaultInputStreamHandler: a selection
packet at T applies to the input at T, and inputs wait for the selection stream);
``options.async_selection`` makes it take selections as they come (ImmediateInputStreamHandler).

The mux passes on a timestamp bound without a packet (e.g. after a Gate closed) once its
unselected inputs have moved past it too: graphflow's immediate input stream handler waits for
every stream to settle before a bound-only call, where MediaPipe's treats each stream on its
own. The demux therefore moves every channel's bounds, where MediaPipe's moves the selected
channel's only, and the contained nodes need timestamp offsets (graphflow's calculators have
them), so that the bounds the demux gives the unselected channels reach the mux.
"""

from __future__ import annotations

import bisect
import collections
import re
from typing import Any

from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.config import (
    GraphConfig,
    load_config,
    node_options,
    parse_tag_index_name,
    register_subgraph_generator,
)
from graphflow.packet import Packet
from graphflow.proto.mediapipe.framework import calculator_pb2
from graphflow.proto.mediapipe.framework.tool import switch_container_pb2
from graphflow.timestamp import Timestamp

_Options = switch_container_pb2.SwitchContainerOptions
_SELECTORS = ("SELECT", "ENABLE")
_CHANNEL_TAG = re.compile(r"^C(\d+)__(.*)$")

TagIndex = tuple[str, int]


def _stream(tag: str, index: int, name: str) -> str:
    """A ``TAG:index:name`` spec; untagged ports are positional, so just the name."""
    if not tag:
        return name
    return f"{tag}:{index}:{name}" if index else f"{tag}:{name}"


def _ports(specs: Any) -> tuple[dict[TagIndex, str], list[str]]:
    """Tag/index -> stream name of a node's stream list, and the selector tags (SELECT,
    ENABLE) in it, one per stream, which the ports leave out; untagged streams are numbered in
    order."""
    ports: dict[TagIndex, str] = {}
    selectors: list[str] = []
    untagged = 0
    for spec in specs:
        tag, index, name = parse_tag_index_name(spec)
        if tag in _SELECTORS:
            selectors.append(tag)
            continue
        if not tag:
            index, untagged = untagged, untagged + 1
        ports[tag, index or 0] = name
    return ports, selectors


def switch_container_config(node: Any) -> GraphConfig:
    """The subgraph of one SwitchContainer node: demux, contained nodes, mux.

    Raises:
        ValueError: Both ``select`` and ``enable`` options, both SELECT and ENABLE side packets
            or input streams, or no contained node.
    """
    options = node_options(node, _Options)
    if options.HasField("select") and options.HasField("enable"):
        raise ValueError("SwitchContainer: only one of the options 'enable' and 'select' can "
                         "be given")
    inputs, selector_streams = _ports(node.input_stream)
    side_inputs, side_selectors = _ports(node.input_side_packet)
    if {"SELECT", "ENABLE"} <= set(side_selectors):
        raise ValueError("SwitchContainer: only one of the side packets ENABLE and SELECT can "
                         "be given")
    if len(selector_streams) > 1:
        raise ValueError("SwitchContainer: only one of the input streams ENABLE and SELECT can "
                         "be given")
    if not options.contained_node:
        raise ValueError("SwitchContainer: options have no contained_node")
    outputs, side_outputs = _ports(node.output_stream)[0], _ports(node.output_side_packet)[0]

    config = calculator_pb2.CalculatorGraphConfig()
    config.input_side_packet.extend(["SELECT:gate_select", "ENABLE:gate_enable"])
    demux = config.node.add(calculator="SwitchDemuxCalculator",
                            input_side_packet=["SELECT:gate_select", "ENABLE:gate_enable"])
    mux = calculator_pb2.CalculatorGraphConfig.Node(
        calculator="SwitchMuxCalculator",
        input_side_packet=["SELECT:gate_select", "ENABLE:gate_enable"])
    selection = _Options()
    selection.CopyFrom(options)
    selection.ClearField("contained_node")
    for part in (demux, mux):
        part.options.Extensions[_Options.ext].CopyFrom(selection)
    for (tag, index), name in sorted(inputs.items()):
        config.input_stream.append(_stream(tag, index, name))
        demux.input_stream.append(_stream(tag, index, name))
    if selector_streams:
        selector = selector_streams[0]
        config.input_stream.append(f"{selector}:gate_{selector.lower()}")
        timed = _sequencer(config, selector, options, inputs)
        demux.input_stream.append(f"{selector}:{timed}")
        mux.input_stream.append(f"{selector}:{timed}")
    for (tag, index), name in sorted(side_inputs.items()):
        config.input_side_packet.append(_stream(tag, index, name))
        demux.input_side_packet.append(_stream(tag, index, name))
    for (tag, index), name in sorted(outputs.items()):
        config.output_stream.append(_stream(tag, index, name))
        mux.output_stream.append(_stream(tag, index, name))
    for (tag, index), name in sorted(side_outputs.items()):
        config.output_side_packet.append(_stream(tag, index, name))
        mux.output_side_packet.append(_stream(tag, index, name))
    for channel, contained in enumerate(options.contained_node):
        inner = config.node.add()
        inner.CopyFrom(contained)
        wiring = ((inputs, demux.output_stream, inner.input_stream),
                  (side_inputs, demux.output_side_packet, inner.input_side_packet),
                  (outputs, mux.input_stream, inner.output_stream),
                  (side_outputs, mux.input_side_packet, inner.output_side_packet))
        for ports, outer_field, inner_field in wiring:
            for (tag, index), name in sorted(ports.items()):
                channel_name = f"c{channel}__{name}"
                outer_field.append(f"C{channel}__{tag}:{index}:{channel_name}")
                inner_field.append(_stream(tag, index, channel_name))
    config.node.append(mux)
    return load_config(config, path="<SwitchContainer>")


def _sequencer(config: Any, selector: str, options: Any, inputs: dict[TagIndex, str]) -> str:
    """Adds the PacketSequencerCalculator that restamps the selection stream to the inputs'
    timestamps (ticks: the inputs, or those named by ``tick_input_stream``); returns the name
    of its output."""
    name = f"gate_{selector.lower()}"
    sequencer = config.node.add(calculator="PacketSequencerCalculator",
                                input_stream=[f"INPUT:{name}"],
                                output_stream=[f"OUTPUT:{name}_timed"])
    if not options.async_selection:
        sequencer.input_stream_handler.input_stream_handler = "DefaultInputStreamHandler"
    ticks = {_tag_index(t) for t in options.tick_input_stream}
    tick = 0
    for (tag, index), stream in sorted(inputs.items()):
        if ticks and (tag, index) not in ticks:
            continue
        sequencer.input_stream.append(f"TICK:{tick}:{stream}")
        tick += 1
    return f"{name}_timed"


def _tag_index(spec: str) -> TagIndex:
    """``"TAG"`` or ``"TAG:index"`` (a ``tick_input_stream`` entry) as a tag and an index."""
    tag, _, index = spec.partition(":")
    return tag, int(index or 0)


register_subgraph_generator("SwitchContainer", switch_container_config)


def _channel(cc: CalculatorContext) -> int:
    """The channel selected at the start: options, then the ENABLE / SELECT side packets
    (MediaPipe's order)."""
    options = cc.options
    channel = 0
    if options.HasField("enable"):
        channel = 1 if options.enable else 0
    if options.HasField("select"):
        channel = options.select
    if cc.side_inputs.get("ENABLE") is not None:
        channel = 1 if cc.side_inputs["ENABLE"] else 0
    if cc.side_inputs.get("SELECT") is not None:
        channel = int(cc.side_inputs["SELECT"])
    return channel


def _split_channel(tag: str) -> tuple[int, str] | None:
    match = _CHANNEL_TAG.match(tag)
    return (int(match.group(1)), match.group(2)) if match else None


class _Selection:
    """The channel selected for each timestamp: the start channel, then the packets of the
    node's ENABLE or SELECT input stream, each from its timestamp on.

    Args:
        cc: The node's context in ``open``.
    """

    def __init__(self, cc: CalculatorContext) -> None:
        ports = cc.inputs.ports()
        self.tag = next((tag for tag in _SELECTORS if (tag, 0) in ports), None)
        self.starts: list[int] = [int(Timestamp.UNSTARTED)]
        self.channels: list[int] = [_channel(cc)]

    def update(self, cc: CalculatorContext) -> int:
        """Records a selection packet of this call; returns the first timestamp whose channel
        is not known yet (the selection stream's bound). Only with a selection stream."""
        assert self.tag is not None  # without one, the nodes route by the side packet alone
        packet = cc.inputs[self.tag]
        if not packet.is_empty:
            channel = int(packet.payload) if self.tag == "SELECT" else int(bool(packet.payload))
            if channel != self.channels[-1]:
                self.starts.append(int(packet.timestamp))
                self.channels.append(channel)
        return int(cc.inputs.bound(self.tag))

    def at(self, timestamp: int) -> int:
        """The channel selected for ``timestamp``."""
        return self.channels[bisect.bisect_right(self.starts, timestamp) - 1]

    def next_change(self, timestamp: int) -> int:
        """The first timestamp after ``timestamp`` with another selection (DONE if none)."""
        i = bisect.bisect_right(self.starts, timestamp)
        return self.starts[i] if i < len(self.starts) else int(Timestamp.DONE)

    def forget_before(self, timestamp: int) -> None:
        """Drops the selections that end before ``timestamp`` (no longer asked about)."""
        i = bisect.bisect_right(self.starts, timestamp) - 1
        if i > 0:
            del self.starts[:i], self.channels[:i]


class _SwitchNode(Calculator):
    """The contract of the demux and the mux: the selection (a SELECT or ENABLE input stream
    or side packet, or the options), any other streams and side packets (``C<k>__<TAG>`` on
    the channels' side), every input as it comes, bounds passed on."""

    inputs = (Port("SELECT", int, optional=True), Port("ENABLE", bool, optional=True),
              Port("*", repeated=True, optional=True))
    outputs = (Port("*", repeated=True, optional=True),)
    input_side_packets = (Port("SELECT", int, optional=True, missing_ok=True),
                          Port("ENABLE", bool, optional=True, missing_ok=True),
                          Port("*", repeated=True, optional=True))
    output_side_packets = (Port("*", repeated=True, optional=True),)
    options_type = _Options
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True


@register_calculator
class SwitchDemuxCalculator(_SwitchNode):
    """Routes each input stream to the selected channel's ``C<k>__<TAG>`` output; the other
    channels only see their timestamp bounds advance. Side packets go to every channel (a
    contained node opens only once all its side packets are set). With an ENABLE or SELECT
    input stream, packets wait until the selection for their timestamp is known."""

    def open(self, cc: CalculatorContext) -> None:
        self.selection = _Selection(cc)
        # Input (tag, index) -> its output on each channel that has one.
        self.channels: dict[TagIndex, dict[int, TagIndex]] = {}
        connected = set(cc.inputs.ports())
        for tag, index in cc.outputs.ports():
            split = _split_channel(tag)
            if split is None:
                raise ValueError(f"SwitchDemuxCalculator: output tag {tag!r} is not C<k>__TAG")
            if (split[1], index) in connected:
                self.channels.setdefault((split[1], index), {})[split[0]] = (tag, index)
        self.queues: dict[TagIndex, collections.deque[Packet[Any]]] = {
            port: collections.deque() for port in self.channels}
        # Each input with its output on the start channel (None if it has none) and all its
        # outputs: all that _route needs.
        channel = self.selection.channels[0]
        self.routes = [(port, targets.get(channel), list(targets.values()))
                       for port, targets in self.channels.items()]
        for tag, index in cc.side_outputs.ports():
            split = _split_channel(tag)
            if split is not None:
                cc.side_outputs[tag, index].set(cc.side_inputs[split[1], index])

    def process(self, cc: CalculatorContext) -> None:
        if self.selection.tag is None:
            self._route(cc)
            return
        inputs, outputs = cc.inputs, cc.outputs
        known = self.selection.update(cc)
        settled = known
        for port, targets in self.channels.items():
            queue = self.queues[port]
            packet = inputs[port]
            if not packet.is_empty:
                queue.append(packet)
            while queue and int(queue[0].timestamp) < known:
                packet = queue.popleft()
                target = targets.get(self.selection.at(int(packet.timestamp)))
                if target is not None:
                    outputs[target].add_packet(packet)
            bound = min(int(inputs.bound(port)), known)
            settled = min(settled, bound)
            for target in targets.values():
                outputs[target].set_next_timestamp_bound(bound)
        self.selection.forget_before(settled)

    def _route(self, cc: CalculatorContext) -> None:
        """One channel for the whole run (no selection stream): packets go straight to it.
        The per-frame path of the graphs that select by side packet, kept short."""
        inputs, outputs = cc.inputs, cc.outputs
        for port, target, targets in self.routes:
            packet = inputs[port]
            if target is not None and not packet.is_empty:
                outputs[target].add_packet(packet)
            bound = inputs.bound(port)
            for other in targets:
                outputs[other].set_next_timestamp_bound(bound)


@register_calculator
class SwitchMuxCalculator(_SwitchNode):
    """Passes the selected channel's ``C<k>__<TAG>`` streams and side packets on as ``<TAG>``;
    the other channels' inputs are ignored. With an ENABLE or SELECT input stream, each
    timestamp comes from the channel selected for it, once that is known."""

    def open(self, cc: CalculatorContext) -> None:
        self.selection = _Selection(cc)
        channel = self.selection.channels[0]
        # Output (tag, index) -> its input on each channel that has one.
        self.sources: dict[TagIndex, dict[int, TagIndex]] = {
            port: {} for port in cc.outputs.ports()}
        for tag, index in cc.inputs.ports():
            split = _split_channel(tag)
            if split is not None and (split[1], index) in self.sources:
                self.sources[split[1], index][split[0]] = (tag, index)
        self.queues: dict[TagIndex, collections.deque[Packet[Any]]] = {
            source: collections.deque() for sources in self.sources.values()
            for source in sources.values()}
        # Output -> the first timestamp it has not passed on yet.
        self.done: dict[TagIndex, int] = dict.fromkeys(self.sources, int(Timestamp.UNSTARTED))
        # The start channel's (input, output) pairs: all that _route needs.
        self.routes = [(sources[channel], port) for port, sources in self.sources.items()
                       if channel in sources]
        for tag, index in cc.side_outputs.ports():
            source = (f"C{channel}__{tag}", index)
            if source not in cc.side_inputs.ports():
                raise ValueError(f"SwitchMuxCalculator: channel {channel} has no side packet "
                                 f"{tag}:{index}")
            cc.side_outputs[tag, index].set(cc.side_inputs[source])

    def process(self, cc: CalculatorContext) -> None:
        if self.selection.tag is None:
            self._route(cc)
            return
        inputs, outputs = cc.inputs, cc.outputs
        known = self.selection.update(cc)
        for port, sources in self.sources.items():
            for source in sources.values():
                packet = inputs[source]
                # A channel's packet below what the output has passed on came from a channel
                # not selected for it (the selected one's inputs had settled past it).
                if not packet.is_empty and int(packet.timestamp) >= self.done[port]:
                    self.queues[source].append(packet)
        settled = known
        for port, sources in self.sources.items():
            done = self._advance(inputs, sources, self.done[port], known)
            passed: list[Packet[Any]] = []
            for channel, source in sources.items():
                queue = self.queues[source]
                while queue and int(queue[0].timestamp) < done:
                    packet = queue.popleft()
                    if self.selection.at(int(packet.timestamp)) == channel:
                        passed.append(packet)
            for packet in sorted(passed, key=lambda p: int(p.timestamp)):
                outputs[port].add_packet(packet)
            outputs[port].set_next_timestamp_bound(done)
            self.done[port] = done
            settled = min(settled, done)
        self.selection.forget_before(settled)

    def _route(self, cc: CalculatorContext) -> None:
        """One channel for the whole run (no selection stream): its packets and bounds go
        straight through. The per-frame path of the graphs that select by side packet."""
        inputs, outputs = cc.inputs, cc.outputs
        for source, port in self.routes:
            packet = inputs[source]
            out = outputs[port]
            if not packet.is_empty:
                out.add_packet(packet)
            out.set_next_timestamp_bound(inputs.bound(source))

    def _advance(self, inputs: Any, sources: dict[int, TagIndex], done: int, known: int) -> int:
        """How far an output can go from ``done``: through each selection's span as far as
        the selected channel's input has settled, up to where the selection is unknown."""
        while done < known:
            source = sources.get(self.selection.at(done))
            end = min(self.selection.next_change(done), known)
            if source is not None:
                end = min(end, int(inputs.bound(source)))
            if end <= done:
                break
            done = end
        return done


@register_calculator
class PacketSequencerCalculator(Calculator):
    """Restamps each ``INPUT`` packet to its ``OUTPUT`` stream's bound: the first timestamp
    after the last ``TICK`` timestamp; each tick moves the outputs' bounds past it.

    MediaPipe's ``mediapipe/calculators/core/packet_sequencer_calculator.cc``; SwitchContainer
    uses it to apply a selection packet from the next input timestamp on. When an input packet
    and a tick come in one call, the packet takes the bound before the tick, so that it covers
    the tick's timestamp.
    """

    inputs = (Port("INPUT", repeated=True), Port("TICK", repeated=True, optional=True))
    outputs = (Port("OUTPUT", repeated=True),)
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """As many OUTPUT streams as INPUT streams."""
        node.require_paired("INPUT", "OUTPUT")

    def open(self, cc: CalculatorContext) -> None:
        self.bounds = [int(Timestamp.MIN)] * cc.outputs.count("OUTPUT")

    def process(self, cc: CalculatorContext) -> None:
        inputs, outputs = cc.inputs, cc.outputs
        for i, bound in enumerate(self.bounds):
            packet = inputs["INPUT", i]
            if not packet.is_empty:
                outputs["OUTPUT", i].add_packet(packet.at(bound))
                self.bounds[i] = bound + 1
        # A tick "arrives" in this call when its stream settled at this call's timestamp
        # (MediaPipe: the tick input's Value().Timestamp() is the InputTimestamp()).
        now = int(cc.timestamp)
        ticked = any(inputs.bound(("TICK", i)).previous_allowed_in_stream() == cc.timestamp
                     for i in range(inputs.count("TICK")))
        for i, bound in enumerate(self.bounds):
            if ticked and now >= bound:
                self.bounds[i] = now + 1
                outputs["OUTPUT", i].set_next_timestamp_bound(now + 1)
