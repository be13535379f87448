"""BeginLoop*/EndLoop* calculators: run a subgraph once per element of a list.

``BeginLoop`` sends each element of ``ITERABLE`` as its own packet on ``ITEM`` at consecutive
loop-internal timestamps (0, 1, 2, ... over the whole run), with the ``CLONE`` inputs repeated
alongside, then a ``BATCH_END`` packet (the outer timestamp) at the last loop timestamp.
``EndLoop`` collects ``ITEM`` packets until ``BATCH_END`` and sends them as one list at the outer
timestamp; an empty batch sends nothing and only advances the bound, as in MediaPipe.
"""

from __future__ import annotations

from typing import Any

from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.timestamp import Timestamp


@register_calculator
class BeginLoopCalculator(Calculator):
    """Splits ``ITERABLE`` into ``ITEM`` packets (see the module docstring)."""

    inputs = (
        Port("ITERABLE", (list, tuple)),
        Port("CLONE", repeated=True, optional=True),
        Port("TICK", optional=True),
    )
    outputs = (
        Port("ITEM"),
        Port("CLONE", repeated=True, optional=True),
        Port("BATCH_END", Timestamp),
    )
    process_timestamp_bounds = True

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        node.require_paired("CLONE", "CLONE")

    def open(self, cc: CalculatorContext) -> None:
        self.loop_ts = 0
        self.clone_count = cc.inputs.count("CLONE")

    def process(self, cc: CalculatorContext) -> None:
        start = self.loop_ts
        items = cc.inputs["ITERABLE"].get(())
        inputs, outputs = cc.inputs, cc.outputs
        item_out = outputs["ITEM"]
        clones = [(inputs["CLONE", i], outputs["CLONE", i]) for i in range(self.clone_count)]
        for item in items:
            item_out.add(item, self.loop_ts)
            for clone, out in clones:
                if not clone.is_empty:
                    out.add(clone.payload, self.loop_ts)
            self.loop_ts += 1
        if self.loop_ts == start:
            self.loop_ts += 1
            for stream in outputs:
                stream.set_next_timestamp_bound(self.loop_ts)
        # cc.timestamp is a Timestamp already (immutable): sent as it is.
        outputs["BATCH_END"].add(cc.timestamp, self.loop_ts - 1)


@register_calculator
class EndLoopCalculator(Calculator):
    """Collects ``ITEM`` packets into one list at the ``BATCH_END`` outer timestamp."""

    inputs = (Port("ITEM"), Port("BATCH_END", Timestamp))
    outputs = (Port("ITERABLE", list),)

    def open(self, cc: CalculatorContext) -> None:
        self.collected: list[Any] | None = None

    def process(self, cc: CalculatorContext) -> None:
        item = cc.inputs["ITEM"]
        if not item.is_empty:
            if self.collected is None:
                self.collected = []
            self.collected.append(item.payload)
        end = cc.inputs["BATCH_END"]
        if not end.is_empty:
            outer = int(end.payload)
            if self.collected is not None:
                cc.outputs["ITERABLE"].add(self.collected, outer)
                self.collected = None
            else:
                cc.outputs["ITERABLE"].set_next_timestamp_bound(outer + 1)


# MediaPipe registers one template instance per element type; in Python they are the same.
for _item in ("NormalizedLandmarkList", "LandmarkList", "NormalizedLandmarkListVector",
              "Detection", "NormalizedRect", "Rect", "Float", "Int", "Uint64t", "Tensor",
              "ImageFrame", "Image", "Matrix", "GpuBuffer"):
    register_calculator(type(f"BeginLoop{_item}Calculator", (BeginLoopCalculator,), {
        "__doc__": BeginLoopCalculator.__doc__, "__module__": __name__}))
for _item in ("NormalizedRect", "LandmarkListVector", "NormalizedLandmarkListVector",
              "Boolean", "Float", "ClassificationList", "Tensor", "Detection", "Matrix",
              "ImageFrame", "Image", "AffineMatrix", "ImageSize", "RenderData", "GpuBuffer"):
    register_calculator(type(f"EndLoop{_item}Calculator", (EndLoopCalculator,), {
        "__doc__": EndLoopCalculator.__doc__, "__module__": __name__}))
