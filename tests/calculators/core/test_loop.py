"""BeginLoop/EndLoop: per-element subgraphs, clones, empty batches."""

from __future__ import annotations

from typing import Any

import pytest

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


@pytest.mark.parametrize(("node", "message"), [
    ('calculator: "BeginLoopIntCalculator" input_stream: "ITERABLE:v" '
     'input_stream: "CLONE:a" output_stream: "ITEM:i" output_stream: "BATCH_END:e"',
     "as many CLONE outputs as CLONE inputs, got 1 and 0"),
    ('calculator: "FlowLimiterCalculator" input_stream: "v" input_stream: "a" '
     'input_stream: "FINISHED:f" input_stream_info { tag_index: "FINISHED" back_edge: true } '
     'output_stream: "o"',
     "as many untagged outputs as untagged inputs, got 2 and 1"),
    ('calculator: "LandmarkProjectionCalculator" input_stream: "NORM_LANDMARKS:0:v" '
     'input_stream: "NORM_LANDMARKS:1:a" input_stream: "NORM_RECT:f" '
     'output_stream: "NORM_LANDMARKS:o"',
     "as many NORM_LANDMARKS outputs as NORM_LANDMARKS inputs, got 2 and 1"),
])
def test_nodes_that_pair_inputs_with_outputs_refuse_unequal_counts(node: str,
                                                                   message: str) -> None:
    config = ('input_stream: "v" input_stream: "a" input_stream: "f"\n'
              f"node {{ {node} }}\n")
    with pytest.raises(gf.ConfigError, match=message):
        gf.CalculatorGraph(config)
