import graphflow as gf
from graphflow.testing import run_graph


@gf.register_calculator
class ScaleCalculator(gf.Calculator):
    """Multiplies each number by the FACTOR side packet."""

    inputs = (gf.Port("IN", float),)
    outputs = (gf.Port("OUT", float),)
    input_side_packets = (gf.Port("FACTOR", float),)

    def open(self, cc: gf.CalculatorContext) -> None:
        self.factor = cc.side_inputs["FACTOR"]

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["OUT"].add(cc.inputs["IN"].payload * self.factor)


out = run_graph("""
    input_stream: "x"  output_stream: "y"  input_side_packet: "k"
    node { calculator: "ScaleCalculator" input_stream: "IN:x" output_stream: "OUT:y"
           input_side_packet: "FACTOR:k" }
""", inputs={"x": [(0, 1.5), (33_333, 2.0)]}, side_packets={"k": 2.0})
assert [(int(p.timestamp), p.payload) for p in out["y"]] == [(0, 3.0), (33_333, 4.0)]
