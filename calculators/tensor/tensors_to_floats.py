"""TensorsToFloatsCalculator: the values of a one-tensor list as floats."""

from __future__ import annotations

import numpy as np

from calculators.tensor.activation import logistic, sigmoid
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

    def open(self, cc: CalculatorContext) -> None:
        # Read once: options and port lookups cost more than the one value face mesh decodes.
        self.sigmoid = cc.options.activation == _Options.SIGMOID
        self.wants_float = cc.outputs.connected("FLOAT")
        self.wants_floats = cc.outputs.connected("FLOATS")

    def process(self, cc: CalculatorContext) -> None:
        tensors = cc.inputs["TENSORS"].payload
        if len(tensors) != 1:
            raise ValueError(f"TENSORS must hold exactly one tensor, got {len(tensors)}")
        tensor = np.asarray(tensors[0])
        if self.wants_float:
            if tensor.size != 1:
                raise ValueError(f"FLOAT needs a one-value tensor, got {tensor.size} values; "
                                 "use FLOATS")
            # One value in Python floats: numpy's array calls on it cost 10x more than this,
            # right after the model's run has evicted their code from the caches.
            value = float(tensor.item())
            cc.outputs["FLOAT"].add(logistic(value) if self.sigmoid else value)
        if self.wants_floats:
            values = tensor.astype(np.float64).reshape(-1)
            cc.outputs["FLOATS"].add((sigmoid(values) if self.sigmoid else values).tolist())
