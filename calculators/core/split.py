"""MediaPipe's Split*VectorCalculator and Split*ListCalculator: lists cut into ranges.

Every one takes SplitVectorCalculatorOptions: ``ranges`` of ``[begin, end)``, one output each;
``element_only`` sends the element of one-element ranges instead of a list; ``combine_outputs``
sends all ranges concatenated on one output. MediaPipe registers one template instance per element
type; in Python the vector ones are one class under their names, and the landmark lists cut the
arrays of a NormalizedLandmarkList / LandmarkList.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import LandmarkList, NormalizedLandmarkList
from graphflow.proto.mediapipe.calculators.core import split_vector_calculator_pb2


@register_calculator
class SplitVectorCalculator(Calculator):
    """Sends ``items[begin:end]`` of each range on its output (see the module docstring)."""

    inputs = (Port(""),)
    outputs = (Port("", repeated=True),)
    options_type = split_vector_calculator_pb2.SplitVectorCalculatorOptions
    timestamp_offset = 0
    # MediaPipe moves the elements of vectors of Tensor out of the input, so their ranges may
    # not overlap even without combine_outputs.
    moves_elements = False

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """MediaPipe's rules for the ranges and the outputs."""
        options = node.options
        ranges = [(r.begin, r.end) for r in options.ranges]
        if options.combine_outputs or cls.moves_elements:
            for i, (begin, end) in enumerate(ranges):
                for other_begin, other_end in ranges[i + 1:]:
                    if begin < other_end and other_begin < end:
                        raise ContractError(f"ranges [{begin}, {end}) and [{other_begin}, "
                                            f"{other_end}) overlap")
        if options.combine_outputs:
            if len(node.outputs) != 1:
                raise ContractError("combine_outputs sends on exactly one output stream, "
                                    f"got {len(node.outputs)}")
            return
        if len(node.outputs) != len(ranges):
            raise ContractError(f"{len(ranges)} range(s) in the options but "
                                f"{len(node.outputs)} output stream(s)")
        for begin, end in ranges:
            if begin < 0 or end <= begin:
                raise ContractError(f"range [{begin}, {end}) is empty or negative")
            if options.element_only and end - begin != 1:
                raise ContractError(f"element_only needs ranges of one element, got "
                                    f"[{begin}, {end})")

    def open(self, cc: CalculatorContext) -> None:
        self.ranges = [(r.begin, r.end) for r in cc.options.ranges]
        self.end = max((end for _, end in self.ranges), default=0)
        self.combine = cc.options.combine_outputs
        self.element_only = cc.options.element_only

    def process(self, cc: CalculatorContext) -> None:
        items = cc.inputs[0].payload
        if len(items) < self.end:
            raise ValueError(f"the ranges need {self.end} elements, the input has "
                             f"{len(items)}")
        if self.combine:
            cc.outputs[0].add(self.join([self.take(items, b, e) for b, e in self.ranges]))
            return
        for i, (begin, end) in enumerate(self.ranges):
            cc.outputs[i].add(items[begin] if self.element_only
                              else self.take(items, begin, end))

    def take(self, items: Any, begin: int, end: int) -> Any:
        """``items[begin:end]`` as a list of the input's kind."""
        return list(items[begin:end])

    def join(self, parts: list[Any]) -> Any:
        """The parts, concatenated."""
        return [x for part in parts for x in part]


for _item in ("Tensor", "TfLiteTensor", "Landmark", "NormalizedLandmarkList", "NormalizedRect",
              "Matrix", "Detection", "ClassificationList", "Uint64t", "Float", "Image",
              "AffineMatrix"):
    register_calculator(type(f"Split{_item}VectorCalculator", (SplitVectorCalculator,), {
        "__doc__": SplitVectorCalculator.__doc__, "__module__": __name__,
        "moves_elements": _item == "Tensor"}))


class _SplitLandmarksCalculator(SplitVectorCalculator):
    """Cuts a landmark list (its xyz, visibility and presence arrays) into ranges; an
    element_only output gets the Landmark that indexing the list gives."""

    inputs = (Port("", (NormalizedLandmarkList, LandmarkList)),)

    def take(self, items: Any, begin: int, end: int) -> Any:
        """The landmarks ``begin`` to ``end`` as a list of the input's type."""
        return type(items)(*self._arrays(items, slice(begin, end)))

    def join(self, parts: list[Any]) -> Any:
        """One list of every part's landmarks."""
        arrays = list(zip(*(self._arrays(part, slice(None)) for part in parts), strict=True))
        joined = [None if any(a is None for a in column) else np.concatenate(column)
                  for column in arrays]
        return type(parts[0])(*joined)

    @staticmethod
    def _arrays(items: Any, cut: slice) -> tuple[Any, Any, Any]:
        return tuple(None if a is None else a[cut]  # type: ignore[return-value]
                     for a in (items.xyz, items.visibility, items.presence))


@register_calculator
class SplitNormalizedLandmarkListCalculator(_SplitLandmarksCalculator):
    """Cuts a NormalizedLandmarkList into ranges (see the module docstring)."""


@register_calculator
class SplitLandmarkListCalculator(_SplitLandmarksCalculator):
    """Cuts a LandmarkList into ranges (see the module docstring)."""
