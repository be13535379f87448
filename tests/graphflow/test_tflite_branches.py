"""Stacking a converted model's parallel branches (graphflow.tflite_onnx.branches).

Each model is built by hand in ONNX and run by onnxruntime before and after the pass: the stacked
model must compute the same outputs, in fewer nodes.
"""

from __future__ import annotations

import collections
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from graphflow.tflite_onnx.branches import merge_branches

RNG = np.random.default_rng(5)
C, H = 16, 8


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def value(self, hint: str) -> str:
        self.count += 1
        return f"{hint}{self.count}"

    def const(self, array: np.ndarray) -> str:
        name = self.value("c")
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self.value(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, out: int, kernel: int = 1, depthwise: bool = False) -> str:
        shape = (C, 1, kernel, kernel) if depthwise else (out, C, kernel, kernel)
        return self.op("Conv", [x, self.const(RNG.normal(0, 0.3, shape).astype(np.float32)),
                                self.const(RNG.normal(0, 0.1, shape[0]).astype(np.float32))],
                       kernel_shape=[kernel, kernel], pads=[kernel // 2] * 4,
                       group=C if depthwise else 1)

    def block(self, x: str) -> str:
        """A residual block as the attention model's: depthwise, pointwise, add, a PReLU
        written as x + (1 - a) * relu(-x) with per-channel constants, max pool, spatial pad."""
        h = self.op("Add", [x, self.conv(self.conv(x, C, 3, depthwise=True), C)])
        negated = self.op("Relu", [self.op("Mul", [h, self.const(
            np.full((1, C, 1, 1), -1.0, np.float32))])])
        h = self.op("Add", [h, self.op("Mul", [negated, self.const(
            RNG.uniform(0, 2, (1, C, 1, 1)).astype(np.float32))])])
        h = self.op("MaxPool", [h], kernel_shape=[2, 2], strides=[1, 1])
        return self.op("Pad", [h, self.const(np.array([0, 0, 1, 1, 0, 0, 0, 0], np.int64))],
                       mode="constant")

    def model(self, inputs: list[tuple[str, tuple[int, ...]]],
              outputs: list[tuple[str, int]]) -> onnx.ModelProto:
        """The model of these nodes; ``outputs`` are (name, channels) of (1, channels, H, H)."""
        graph = helper.make_graph(
            self.nodes, "g",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, (1, c, H, H))
             for n, c in outputs],
            self.initializers)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, feed))


def _ops(model: onnx.ModelProto) -> collections.Counter[str]:
    return collections.Counter(node.op_type for node in model.graph.node)


def test_branches_of_a_split_batch_run_stacked() -> None:
    """Three crops: two go through the same blocks and then split into two heads each (an eye
    and an iris head on one tensor), the third shares the first block only, then goes its own
    way. Every output is the unstacked model's."""
    g = _Graph()
    crops = [f"crop{i}" for i in range(3)]
    g.nodes.append(helper.make_node("Split", ["batch", g.const(np.ones(3, np.int64))], crops,
                                    axis=0))
    outputs: list[tuple[str, int]] = []
    for i, crop in enumerate(crops):
        h = g.block(crop)
        if i == 2:  # its own way: a different convolution, a different head
            outputs.append((g.conv(g.op("Relu", [g.conv(h, C, 3)]), 6), 6))
            continue
        h = g.block(h)
        outputs.append((g.conv(g.block(h), 10), 10))  # the "eye" head
        outputs.append((g.conv(g.block(h), 4), 4))  # the "iris" head: the same blocks
    model = g.model([("batch", (3, C, H, H))], outputs)
    feed = {"batch": RNG.normal(0, 1, (3, C, H, H)).astype(np.float32)}
    expected = _run(model, feed)
    before = _ops(model)
    merged = merge_branches(onnx.ModelProto.FromString(model.SerializeToString()))
    got = _run(merged, feed)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    after = _ops(merged)
    # Two convolutions a block. Blocks: the 3 first ones (stacked into 1), 2 second ones (1),
    # 4 head blocks (1 for the eyes', 1 for the irises'); heads: 2 eye heads (1), 2 iris heads
    # (1); the third crop's own convolution and head stay.
    assert before["Conv"] == 2 * 9 + 4 + 2
    assert after["Conv"] == 2 * 4 + 2 + 2
    assert after["Add"] == 2 * 4 and after["MaxPool"] == 4


def test_a_model_without_a_split_batch_is_unchanged() -> None:
    g = _Graph()
    out = [(g.conv(g.block(x), 4), 4) for x in ("a", "b")]
    model = g.model([("a", (1, C, H, H)), ("b", (1, C, H, H))], out)
    merged = merge_branches(onnx.ModelProto.FromString(model.SerializeToString()))
    assert [n.SerializeToString() for n in merged.graph.node] == [
        n.SerializeToString() for n in model.graph.node]
