"""ThresholdingCalculator: compares a float with a threshold."""

from __future__ import annotations

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.proto.mediapipe.calculators.util import thresholding_calculator_pb2


@register_calculator
class ThresholdingCalculator(Calculator):
    """``FLAG`` is ``FLOAT > threshold``; ``ACCEPT`` (true) / ``REJECT`` (false) fire on one side.

    The threshold comes from the options, the ``THRESHOLD`` side packet, or the latest
    ``THRESHOLD`` stream packet.
    """

    inputs = (Port("FLOAT", float), Port("THRESHOLD", float, optional=True))
    outputs = (
        Port("FLAG", bool, optional=True),
        Port("ACCEPT", bool, optional=True),
        Port("REJECT", bool, optional=True),
    )
    input_side_packets = (Port("THRESHOLD", float, optional=True),)
    options_type = thresholding_calculator_pb2.ThresholdingCalculatorOptions
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        self.threshold = float(cc.side_inputs.get("THRESHOLD", cc.options.threshold))
        # Read once: port lookups cost as much as the comparison.
        self.threshold_stream = cc.inputs.connected("THRESHOLD")
        self.flag, self.accept, self.reject = (
            cc.outputs.connected(tag) for tag in ("FLAG", "ACCEPT", "REJECT"))

    def process(self, cc: CalculatorContext) -> None:
        if self.threshold_stream and cc.inputs.has("THRESHOLD"):
            self.threshold = float(cc.inputs["THRESHOLD"].payload)
        value = cc.inputs["FLOAT"].get()
        if value is None:
            return
        accept = float(value) > self.threshold
        if self.flag:
            cc.outputs["FLAG"].add(accept)
        if accept and self.accept:
            cc.outputs["ACCEPT"].add(True)
        if not accept and self.reject:
            cc.outputs["REJECT"].add(False)
