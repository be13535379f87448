"""DefaultSidePacketCalculator: the given side packet, else the default."""

from graphflow.testing import run_graph

GRAPH = """
    input_side_packet: "given"
    output_stream: "out"
    node { calculator: "ConstantSidePacketCalculator" output_side_packet: "PACKET:fallback"
           options { [mediapipe.ConstantSidePacketCalculatorOptions.ext] {
             packet { int_value: 4 } } } }
    node { calculator: "DefaultSidePacketCalculator" input_side_packet: "OPTIONAL_VALUE:given"
           input_side_packet: "DEFAULT_VALUE:fallback" output_side_packet: "VALUE:value" }
    node { calculator: "SidePacketToStreamCalculator" input_side_packet: "value"
           output_stream: "AT_PRESTREAM:out" }
"""


def value(side_packets: dict[str, object]) -> object:
    (packet,) = run_graph(GRAPH, side_packets=side_packets)["out"]
    return packet.payload


def test_the_given_value_wins_and_the_default_fills_in() -> None:
    assert value({"given": 2}) == 2
    assert value({}) == 4
