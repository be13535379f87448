"""Side packets with defaults: MediaPipe's DefaultSidePacketCalculator."""

from __future__ import annotations

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator


@register_calculator
class DefaultSidePacketCalculator(Calculator):
    """Outputs ``OPTIONAL_VALUE`` as ``VALUE`` when the graph was given it, else ``DEFAULT_VALUE``.

    A graph that lets users override a setting names its side packet as ``OPTIONAL_VALUE`` and
    a constant as ``DEFAULT_VALUE``; every node then reads ``VALUE``.

    Example:
        node {
          calculator: "DefaultSidePacketCalculator"
          input_side_packet: "OPTIONAL_VALUE:num_faces"
          input_side_packet: "DEFAULT_VALUE:default_num_faces"
          output_side_packet: "VALUE:face_count"
        }
    """

    input_side_packets = (
        Port("OPTIONAL_VALUE", optional=True, missing_ok=True,
             doc="the value the graph was given, if any"),
        Port("DEFAULT_VALUE", doc="the value to use otherwise"),
    )
    output_side_packets = (Port("VALUE", doc="OPTIONAL_VALUE if given, else DEFAULT_VALUE"),)

    def open(self, cc: CalculatorContext) -> None:
        """Sets VALUE."""
        side = cc.side_inputs
        value = side["OPTIONAL_VALUE"] if "OPTIONAL_VALUE" in side else side["DEFAULT_VALUE"]
        cc.side_outputs["VALUE"].set(value)

    def process(self, cc: CalculatorContext) -> None:
        """Never called: the node has no streams."""
