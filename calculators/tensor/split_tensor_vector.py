"""SplitTensorVectorCalculator: splits a tensor list into ranges, one output each."""

from __future__ import annotations

from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.proto.mediapipe.calculators.core import split_vector_calculator_pb2


@register_calculator
class SplitTensorVectorCalculator(Calculator):
    """Outputs ``tensors[begin:end]`` of each ``ranges`` entry on the matching output.

    ``element_only`` sends the single element of one-element ranges instead of a list;
    ``combine_outputs`` sends all ranges concatenated on one output.
    """

    inputs = (Port(""),)
    outputs = (Port("", repeated=True),)
    options_type = split_vector_calculator_pb2.SplitVectorCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        ranges = node.options.ranges
        if not ranges:
            raise ContractError("SplitVectorCalculatorOptions need at least one range")
        for r in ranges:
            if r.begin < 0 or r.end <= r.begin:
                raise ContractError(f"invalid range [{r.begin}, {r.end})")
            if node.options.element_only and r.end - r.begin != 1:
                raise ContractError("element_only needs ranges of one element")
        expected = 1 if node.options.combine_outputs else len(ranges)
        if len(node.outputs) != expected:
            raise ContractError(f"{expected} output stream(s) expected for {len(ranges)} "
                                f"range(s), got {len(node.outputs)}")

    def process(self, cc: CalculatorContext) -> None:
        items = cc.inputs[0].payload
        opts = cc.options
        end = max(r.end for r in opts.ranges)
        if end > len(items):
            raise ValueError(f"the ranges need {end} elements, the input has {len(items)}")
        if opts.combine_outputs:
            cc.outputs[0].add([x for r in opts.ranges for x in items[r.begin:r.end]])
            return
        for i, r in enumerate(opts.ranges):
            cc.outputs[i].add(items[r.begin] if opts.element_only
                              else list(items[r.begin:r.end]))
