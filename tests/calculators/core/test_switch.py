"""SwitchContainer (SwitchDemuxCalculator, contained nodes, SwitchMuxCalculator), after
MediaPipe's switch_container_test.cc: the channel comes from the options or a side packet
(tests/conformance/test_switch_selection.py: from a stream, against MediaPipe)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import text_format

from calculators.core.switch import switch_container_config
from graphflow import CalculatorGraph, Packet
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.config import ConfigError
from graphflow.proto.mediapipe.framework import calculator_pb2
from graphflow.testing import run_graph

pytestmark = pytest.mark.usefixtures("no_thread_leak")


@register_calculator
class GfTScaleCalculator(Calculator):
    """OUT = IN * FACTOR for even IN; nothing for odd IN, so that the mux has to pass
    timestamp bounds on without packets."""

    inputs = (Port("IN", int),)
    outputs = (Port("OUT", int),)
    input_side_packets = (Port("FACTOR", int),)
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        self.factor = cc.side_inputs["FACTOR"]

    def process(self, cc: CalculatorContext) -> None:
        value = cc.inputs["IN"].payload
        if value % 2 == 0:
            cc.outputs["OUT"].add(value * self.factor)


@register_calculator
class GfTNegateCalculator(Calculator):
    """OUT = -IN, every packet (every contained node gets all the container's ports)."""

    inputs = (Port("IN", int),)
    outputs = (Port("OUT", int),)
    input_side_packets = (Port("FACTOR", int, optional=True),)
    # The unselected channel's outputs follow the bounds the demux gives it (graphflow's
    # immediate handler passes a bound on only once every input stream has settled past it).
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs["OUT"].add(-cc.inputs["IN"].payload)


def _graph(selector: str = 'input_side_packet: "SELECT:select"', options: str = "") -> str:
    return f"""
input_stream: "in"
output_stream: "out"
output_stream: "after"
input_side_packet: "select"
input_side_packet: "factor"
node {{
  calculator: "SwitchContainer"
  {selector}
  input_stream: "IN:in"
  input_side_packet: "FACTOR:factor"
  output_stream: "OUT:out"
  options {{
    [mediapipe.SwitchContainerOptions.ext] {{
      {options}
      contained_node {{ calculator: "GfTNegateCalculator" }}
      contained_node {{ calculator: "GfTScaleCalculator" }}
    }}
  }}
}}
# A node waiting on both streams: it only runs if the mux passes timestamp bounds on.
node {{ calculator: "PassThroughCalculator" input_stream: "out" input_stream: "in"
        output_stream: "after" output_stream: "in_copy" }}
"""


def _run(config: str, side_packets: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
    out = run_graph(config, inputs={"in": [(t, t) for t in range(1, 7)]},
                    side_packets=side_packets, outputs=["out", "in_copy"])
    return {name: [(int(p.timestamp), p.payload) for p in packets]
            for name, packets in out.items()}


def test_select_side_packet_picks_the_channel() -> None:
    out = _run(_graph(), {"select": 0, "factor": 3})
    assert out["out"] == [(t, -t) for t in range(1, 7)]
    out = _run(_graph(), {"select": 1, "factor": 3})
    assert out["out"] == [(2, 6), (4, 12), (6, 18)]


@pytest.mark.parametrize("select", [0, 1])
def test_timestamp_bounds_pass_through_demux_and_mux(select: int) -> None:
    """The node after the mux waits for its bound: it runs for each input timestamp before the
    next packet arrives, also where the selected channel sends nothing (odd values)."""
    graph = CalculatorGraph(_graph())
    seen: list[int] = []
    graph.observe_output_stream("in_copy", lambda _, packet: seen.append(int(packet.timestamp)))
    graph.start_run({"select": select, "factor": 3})
    for t in range(1, 7):
        graph.add_packet_to_input_stream("in", Packet(t).at(t))
        graph.wait_until_idle()
        assert seen == list(range(1, t + 1))
    graph.close()


def test_options_and_enable_side_packet() -> None:
    assert _run(_graph("", "select: 1"), {"select": 0, "factor": 2})["out"] == \
        [(2, 4), (4, 8), (6, 12)]
    assert _run(_graph("", "enable: false"), {"select": 0, "factor": 2})["out"][0] == (1, -1)
    enable = _graph('input_side_packet: "ENABLE:select"', "select: 0")
    assert _run(enable, {"select": True, "factor": 5})["out"][0] == (2, 10)  # overrides options
    assert _run(enable, {"select": False, "factor": 5})["out"][0] == (1, -1)


def test_side_packet_outputs_come_from_the_selected_channel() -> None:
    config = """
input_side_packet: "which"
output_stream: "out"
node {
  calculator: "SwitchContainer"
  input_side_packet: "ENABLE:which"
  output_side_packet: "PACKET:path"
  options {
    [mediapipe.SwitchContainerOptions.ext] {
      contained_node { calculator: "ConstantSidePacketCalculator" options {
        [mediapipe.ConstantSidePacketCalculatorOptions.ext] { packet { string_value: "a" } } } }
      contained_node { calculator: "ConstantSidePacketCalculator" options {
        [mediapipe.ConstantSidePacketCalculatorOptions.ext] { packet { string_value: "b" } } } }
    }
  }
}
node { calculator: "SidePacketToStreamCalculator" input_stream: "TICK:tick"
       input_side_packet: "path" output_stream: "AT_TICK:out" }
input_stream: "tick"
"""
    for which, expected in ((False, "a"), (True, "b")):
        out = run_graph(config, inputs={"tick": [(0, 0)]}, side_packets={"which": which})
        assert [p.payload for p in out["out"]] == [expected]


@pytest.mark.parametrize(("selector", "options", "message"), [
    ("", "select: 0 enable: true", "only one of the options 'enable' and 'select'"),
    ('input_side_packet: "SELECT:select" input_side_packet: "ENABLE:factor"', "",
     "only one of the side packets ENABLE and SELECT"),
    ('input_stream: "SELECT:select" input_stream: "ENABLE:flag"', "",
     "only one of the input streams ENABLE and SELECT"),
])
def test_bad_containers_are_config_errors(selector: str, options: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"node SwitchContainer: SwitchContainer: {message}"):
        run_graph(_graph(selector, options), inputs={"in": []},
                  side_packets={"select": 0, "factor": 1})


def test_selection_stream_switches_channels_and_passes_bounds_on() -> None:
    """Selecting by a SELECT stream (one packet with every input): each value goes to the
    channel selected for its timestamp, and the node after the mux runs for every timestamp
    before the next one comes, also where the channel sent nothing."""
    config = _graph('input_stream: "SELECT:select_stream"').replace(
        'input_stream: "in"', 'input_stream: "in"\ninput_stream: "select_stream"', 1)
    graph = CalculatorGraph(config)
    out: list[tuple[int, int]] = []
    seen: list[int] = []
    graph.observe_output_stream("out", lambda _, p: out.append((int(p.timestamp), p.payload)))
    graph.observe_output_stream("in_copy", lambda _, p: seen.append(int(p.timestamp)))
    graph.start_run({"select": 0, "factor": 3})
    channels = [1, 1, 0, 1, 0, 0]
    for t, channel in enumerate(channels, start=1):
        graph.add_packet_to_input_stream("select_stream", Packet(channel).at(t))
        graph.add_packet_to_input_stream("in", Packet(t).at(t))
        graph.wait_until_idle()
        assert seen == list(range(1, t + 1))
    graph.close()
    # Channel 1 scales even values and drops odd ones; channel 0 negates.
    assert out == [(2, 6), (3, -3), (4, 12), (5, -5), (6, -6)]


def test_packet_sequencer_needs_an_output_per_input() -> None:
    config = """
input_stream: "a"
node { calculator: "PacketSequencerCalculator" input_stream: "INPUT:0:a"
       input_stream: "INPUT:1:a" output_stream: "OUTPUT:b" }
"""
    with pytest.raises(ConfigError, match="as many OUTPUT outputs as INPUT inputs, got 2 and 1"):
        CalculatorGraph(config)


@pytest.mark.parametrize(("options", "ticks", "handler"), [
    ("", ["TICK:0:aux", "TICK:1:in"], "DefaultInputStreamHandler"),
    ('async_selection: true tick_input_stream: "IN"', ["TICK:0:in"], ""),
])
def test_the_selection_sequencer_ticks_on_the_inputs(options: str, ticks: list[str],
                                                     handler: str) -> None:
    """As switch_container.cc builds it: every container input is a tick unless
    tick_input_stream names some; synchronous unless async_selection."""
    node = text_format.Parse(f"""
calculator: "SwitchContainer"
input_stream: "ENABLE:flag" input_stream: "IN:in" input_stream: "AUX:aux"
output_stream: "OUT:out"
options {{ [mediapipe.SwitchContainerOptions.ext] {{ {options}
  contained_node {{ calculator: "GfTNegateCalculator" }} }} }}
""", calculator_pb2.CalculatorGraphConfig.Node())
    config = switch_container_config(node)
    sequencer = next(n for n in config.proto.node if n.calculator == "PacketSequencerCalculator")
    assert list(sequencer.input_stream) == ["INPUT:gate_enable", *ticks]
    set_handler = sequencer.input_stream_handler.input_stream_handler \
        if sequencer.HasField("input_stream_handler") else ""  # else the calculator's own
    assert set_handler == handler
    demux = next(n for n in config.proto.node if n.calculator == "SwitchDemuxCalculator")
    assert "ENABLE:gate_enable_timed" in demux.input_stream
