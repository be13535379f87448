"""MediaPipe's SwitchContainer: one of several contained nodes processes the container's streams.

``SwitchContainer`` is a subgraph made from its node: a ``SwitchDemuxCalculator`` routes the
container's input streams and side packets to channel ``k`` (streams ``c<k>__<name>`` with
tags ``C<k>__<TAG>``), the ``contained_node`` of each channel works on them, and a
``SwitchMuxCalculator`` passes the selected channel's outputs on under the container's own
names, as MediaPipe's ``mediapipe/framework/tool/switch_container.cc`` builds it.

The channel is chosen when the graph starts: ``options.enable`` (channel 1 if true) or
``options.select``, overridden by the ``ENABLE`` (bool) or ``SELECT`` (int) input side packet.
MediaPipe's selection by stream, which can change channels between timestamps, is not
supported: the MediaPipe graphs graphflow runs select by side packet.

The mux passes on a timestamp bound without a packet (e.g. after a Gate closed) once its
unselected inputs have moved past it too: graphflow's immediate input stream handler waits for
every stream to settle before a bound-only call, where MediaPipe's treats each stream on its
own. The contained nodes therefore need timestamp offsets (graphflow's calculators have them),
so that the bounds the demux gives the unselected channels reach the mux.
"""

from __future__ import annotations

import re
from typing import Any

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.config import (
    GraphConfig,
    load_config,
    node_options,
    parse_tag_index_name,
    register_subgraph_generator,
)
from graphflow.proto.mediapipe.framework import calculator_pb2
from graphflow.proto.mediapipe.framework.tool import switch_container_pb2

_Options = switch_container_pb2.SwitchContainerOptions
_SELECTORS = ("SELECT", "ENABLE")
_CHANNEL_TAG = re.compile(r"^C(\d+)__(.*)$")

TagIndex = tuple[str, int]


def _stream(tag: str, index: int, name: str) -> str:
    """A ``TAG:index:name`` spec; untagged ports are positional, so just the name."""
    if not tag:
        return name
    return f"{tag}:{index}:{name}" if index else f"{tag}:{name}"


def _ports(specs: Any) -> dict[TagIndex, str]:
    """Tag/index -> stream name of a node's stream list, selectors left out; untagged streams
    are numbered in order."""
    ports: dict[TagIndex, str] = {}
    untagged = 0
    for spec in specs:
        tag, index, name = parse_tag_index_name(spec)
        if tag in _SELECTORS:
            continue
        if not tag:
            index, untagged = untagged, untagged + 1
        ports[tag, index or 0] = name
    return ports


def switch_container_config(node: Any) -> GraphConfig:
    """The subgraph of one SwitchContainer node: demux, contained nodes, mux.

    Raises:
        ValueError: Both ``select`` and ``enable`` options, both SELECT and ENABLE side packets,
            selection by stream, or no contained node.
    """
    options = node_options(node, _Options)
    if options.HasField("select") and options.HasField("enable"):
        raise ValueError("SwitchContainer: only one of the options 'enable' and 'select' can "
                         "be given")
    side_tags = {parse_tag_index_name(s)[0] for s in node.input_side_packet}
    if {"SELECT", "ENABLE"} <= side_tags:
        raise ValueError("SwitchContainer: only one of the side packets ENABLE and SELECT can "
                         "be given")
    if any(parse_tag_index_name(s)[0] in _SELECTORS for s in node.input_stream):
        raise ValueError("SwitchContainer: selecting the channel by an ENABLE or SELECT stream "
                         "is not supported by graphflow; use the side packet (or the options)")
    if not options.contained_node:
        raise ValueError("SwitchContainer: options have no contained_node")
    inputs, outputs = _ports(node.input_stream), _ports(node.output_stream)
    side_inputs, side_outputs = _ports(node.input_side_packet), _ports(node.output_side_packet)

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


register_subgraph_generator("SwitchContainer", switch_container_config)


def _channel(cc: CalculatorContext) -> int:
    """The selected channel: options, then the ENABLE / SELECT side packets (MediaPipe's order)."""
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


@register_calculator
class SwitchDemuxCalculator(Calculator):
    """Routes each input stream to the selected channel's ``C<k>__<TAG>`` output; the other
    channels only see their timestamp bounds advance. Side packets go to every channel (a
    contained node opens only once all its side packets are set)."""

    inputs = (Port("*", repeated=True, optional=True),)
    outputs = (Port("*", repeated=True, optional=True),)
    input_side_packets = (Port("SELECT", int, optional=True), Port("ENABLE", bool, optional=True),
                          Port("*", repeated=True, optional=True))
    output_side_packets = (Port("*", repeated=True, optional=True),)
    options_type = _Options
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: CalculatorContext) -> None:
        channel = _channel(cc)
        # Input (tag, index) -> its output on the selected channel (None if the channel has
        # none) and its outputs on all channels.
        self.selected: dict[TagIndex, TagIndex | None] = {}
        self.every: dict[TagIndex, list[TagIndex]] = {}
        for tag, index in cc.outputs.ports():
            split = _split_channel(tag)
            if split is None:
                raise ValueError(f"SwitchDemuxCalculator: output tag {tag!r} is not C<k>__TAG")
            self.every.setdefault((split[1], index), []).append((tag, index))
            self.selected.setdefault((split[1], index), None)
            if split[0] == channel:
                self.selected[split[1], index] = (tag, index)
        for tag, index in cc.side_outputs.ports():
            split = _split_channel(tag)
            if split is not None:
                cc.side_outputs[tag, index].set(cc.side_inputs[split[1], index])

    def process(self, cc: CalculatorContext) -> None:
        inputs, outputs = cc.inputs, cc.outputs
        for port in inputs.ports():
            packet = inputs[port]
            target = self.selected.get(port)
            if target is not None and not packet.is_empty:
                outputs[target].add_packet(packet)
            bound = int(inputs.bound(port))
            for other in self.every.get(port, ()):
                outputs[other].set_next_timestamp_bound(bound)


@register_calculator
class SwitchMuxCalculator(Calculator):
    """Passes the selected channel's ``C<k>__<TAG>`` streams and side packets on as ``<TAG>``;
    the other channels' inputs are ignored."""

    inputs = (Port("*", repeated=True, optional=True),)
    outputs = (Port("*", repeated=True, optional=True),)
    input_side_packets = (Port("SELECT", int, optional=True), Port("ENABLE", bool, optional=True),
                          Port("*", repeated=True, optional=True))
    output_side_packets = (Port("*", repeated=True, optional=True),)
    options_type = _Options
    input_stream_handler = "ImmediateInputStreamHandler"
    process_timestamp_bounds = True

    def open(self, cc: CalculatorContext) -> None:
        channel = _channel(cc)
        self.routes: list[tuple[TagIndex, TagIndex]] = []  # selected input -> output
        for tag, index in cc.inputs.ports():
            split = _split_channel(tag)
            if split is not None and split[0] == channel:
                self.routes.append(((tag, index), (split[1], index)))
        for tag, index in cc.side_outputs.ports():
            source = (f"C{channel}__{tag}", index)
            if source not in cc.side_inputs.ports():
                raise ValueError(f"SwitchMuxCalculator: channel {channel} has no side packet "
                                 f"{tag}:{index}")
            cc.side_outputs[tag, index].set(cc.side_inputs[source])

    def process(self, cc: CalculatorContext) -> None:
        inputs, outputs = cc.inputs, cc.outputs
        for source, target in self.routes:
            packet = inputs[source]
            if not packet.is_empty:
                outputs[target].add_packet(packet)
            outputs[target].set_next_timestamp_bound(
                int(inputs.bound(source)))  # type: ignore[attr-defined]
