"""TensorsToFloatsCalculator: the values of a one-tensor list as floats."""

from __future__ import annotations

import numpy as np

from calculators.tensor.activation import sigmoid
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.proto.mediapipe.calculators.tensor import tensors_to_floats_calculator_pb2

_Options = tensors_to_floats_calculator_pb2.TensorsToFloatsCalculatorOptions


@register_calculator
class TensorsToFloatsCalculator(Calculator):
    """Outputs the single value (``FLOAT``) or all values (``FLOATS``) of the first tensor.

    ``activation: SIGMOID`` applies the logistic function first.
    """

    inputs = (Port("TENSORS", list),)
    outputs = (Port("FLOAT", float, optional=True), Port("FLOATS", list, optional=True))
    options_type = _Options
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if not node.outputs:
            raise ContractError("TensorsToFloatsCalculator needs a FLOAT or FLOATS output")

    def process(self, cc: CalculatorContext) -> None:
        tensors = cc.inputs["TENSORS"].payload
        if len(tensors) != 1:
            raise ValueError(f"TENSORS must hold exactly one tensor, got {len(tensors)}")
        values = np.asarray(tensors[0], dtype=np.float64).reshape(-1)
        if cc.options.activation == _Options.SIGMOID:
            values = sigmoid(values)
        if cc.outputs.connected("FLOAT"):
            if values.size != 1:
                raise ValueError(f"FLOAT needs a one-value tensor, got {values.size} values; "
                                 "use FLOATS")
            cc.outputs["FLOAT"].add(float(values[0]))
        if cc.outputs.connected("FLOATS"):
            cc.outputs["FLOATS"].add([float(v) for v in values])
