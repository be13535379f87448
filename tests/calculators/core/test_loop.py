"""BeginLoop/EndLoop: per-element subgraphs, clones, empty batches."""

from __future__ import annotations

from typing import Any

import graphflow as gf
from graphflow.testing import run_graph


@gf.register_calculator
class _AddCloneCalculator(gf.Calculator):
    """Test helper: ITEM + CLONE."""

    inputs = (gf.Port("ITEM", int), gf.Port("CLONE", int))
    outputs = (gf.Port("", int),)
    timestamp_offset = 0

    def process(self, cc: Any) -> None:
        cc.outputs[0].add(cc.inputs["ITEM"].payload + cc.inputs["CLONE"].payload)


LOOP = """
input_stream: "lists"
input_stream: "offset"
output_stream: "sums"
output_stream: "batch_end"
node { calculator: "BeginLoopIntCalculator" input_stream: "ITERABLE:lists"
  input_stream: "CLONE:offset" output_stream: "ITEM:item" output_stream: "CLONE:loop_offset"
  output_stream: "BATCH_END:batch_end" }
node { calculator: "_AddCloneCalculator" input_stream: "ITEM:item" input_stream: "CLONE:loop_offset"
  output_stream: "sum" }
node { calculator: "EndLoopFloatCalculator" input_stream: "ITEM:sum"
  input_stream: "BATCH_END:batch_end" output_stream: "ITERABLE:sums" }
"""


def test_loop_over_lists_with_an_empty_batch() -> None:
    out = run_graph(LOOP, inputs={"lists": [(10, [1, 2]), (20, []), (30, [5])],
                                  "offset": [(10, 100), (20, 200), (30, 300)]})
    assert [(int(p.timestamp), p.payload) for p in out["sums"]] == [
        (10, [101, 102]), (30, [305])]
    # Loop timestamps: items 0, 1; the empty batch takes 2; then item 3.
    assert [(int(p.timestamp), int(p.payload)) for p in out["batch_end"]] == [
        (1, 10), (2, 20), (3, 30)]


def test_loop_when_the_iterable_stream_skips_a_timestamp() -> None:
    # No ITERABLE packet at 20 (only a bound): BeginLoop still closes the batch.
    out = run_graph(LOOP, inputs={"lists": [(10, [1]), (30, [2])],
                                  "offset": [(10, 0), (20, 0), (30, 0)]})
    assert [(int(p.timestamp), p.payload) for p in out["sums"]] == [(10, [1]), (30, [2])]
