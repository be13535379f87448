"""Packets a calculator sends in open() (MediaPipe's headers at PreStream) reach consumers."""

from typing import ClassVar

import graphflow as gf
from graphflow.testing import run_graph, timestamps


@gf.register_calculator
class _HeaderInOpenCalculator(gf.Calculator):
    """Sends a header at PreStream from open(), then closes that stream."""

    inputs = (gf.Port("IN"),)
    outputs = (gf.Port("OUT"), gf.Port("HEADER"))
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["HEADER"].add("header", gf.Timestamp.PRESTREAM)
        cc.outputs["HEADER"].close()

    def process(self, cc: gf.CalculatorContext) -> None:
        cc.outputs["OUT"].add(cc.inputs["IN"].payload)


def test_packets_sent_in_open_are_delivered_before_the_stream_closes() -> None:
    out = run_graph("""
        input_stream: "in"
        output_stream: "out"
        output_stream: "header"
        node { calculator: "_HeaderInOpenCalculator" input_stream: "IN:in"
               output_stream: "OUT:out" output_stream: "HEADER:header" }
    """, inputs={"in": [(0, "a"), (5, "b")]})
    assert [(p.payload, p.timestamp) for p in out["header"]] == [
        ("header", gf.Timestamp.PRESTREAM)]
    assert timestamps(out["out"]) == [0, 5]
