"""Merges a converted model's parallel branches of the same structure into one, channel-stacked.

The attention face-landmark model runs three small sub-models side by side, one per crop (lips,
left eye, right eye), and each eye's splits again into an eye and an iris head: the same
operators on tensors of the same shapes, with their own weights. On crops of 16x16 and less
those operators cost onnxruntime mostly their per-node overhead, so running the branches as one,
their channels stacked, does the same arithmetic in a fraction of the nodes: a convolution of k
branches becomes one convolution with k times the groups (each branch's filters seeing only its
own channels), an element-wise op or pool one op over the stacked channels, a per-channel
constant the branches' constants side by side.

Branches are found by structure: each value gets a signature from its operator, attributes,
constant shapes and its inputs' signatures, so operators of equal signature compute the same
function of equally computed inputs. The crops of a batched ``Split`` (axis 0) are the roots: their
stack is a ``Reshape`` of the split tensor. Operators of equal signature whose inputs are the
same members of stacked values run stacked; every other reader of a stacked member reads it
through a ``Slice``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper

from graphflow.tflite_onnx.widen import (
    BINARY,
    POOLS,
    UNARY,
    channel_slice,
    replace_nodes,
    value_shapes,
)

# Operators that work on each channel (or each group of channels) alone, so that stacking the
# branches' channels stacks their results.
# (Not PRelu: its slopes, a tensor per branch, would have to be stacked too.)
_ELEMENTWISE = UNARY - {"PRelu"}
_STACKABLE = {"Conv", "Pad", *_ELEMENTWISE, *POOLS, *BINARY}


@dataclasses.dataclass
class _Stack:
    """Values computed side by side: ``name`` holds ``members``' channels one after another."""

    name: str
    members: list[str]
    channels: int


class _Merger:
    """One pass: signatures in node order, then the stacked groups, then the rewritten graph."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.shapes = value_shapes(model)
        self.constants = {t.name: t for t in model.graph.initializer}
        self.new_initializers: list[onnx.TensorProto] = []
        self.signatures: dict[object, int] = {}
        self.value_signature: dict[str, int] = {}
        self.stacks: dict[str, tuple[_Stack, int]] = {}  # member -> (stack, position)
        # Split batches whose crops are a stack: the stack's name -> the Reshape that makes it.
        self.seeds: dict[str, onnx.NodeProto] = {}
        self.nodes: list[onnx.NodeProto] = []  # the new graph's nodes, in no particular order
        self.slices: dict[tuple[str, int, int], str] = {}  # (stack, first, count) -> Slice
        self.merged: set[int] = set()  # ids of the nodes that run stacked
        self.fresh = 0

    def name(self, hint: str) -> str:
        self.fresh += 1
        return f"{hint}__stack{self.fresh}"

    def add_constant(self, value: np.ndarray, hint: str) -> str:
        name = self.name(hint)
        self.new_initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def intern(self, key: object) -> int:
        return self.signatures.setdefault(key, len(self.signatures))

    def is_image(self, name: str) -> bool:
        shape = self.shapes.get(name, ())
        return len(shape) == 4 and shape[0] == 1 and all(shape)

    # --- signatures ----------------------------------------------------------------------------

    def signature(self, node: onnx.NodeProto) -> int | None:
        """The node's signature if it can run stacked with its likes, else None."""
        if node.op_type not in _STACKABLE or len(node.output) != 1:
            return None
        if not self.is_image(node.output[0]):
            return None
        slots: list[object] = []
        for slot, name in enumerate(node.input):
            if not name:
                slots.append("")
                continue
            if name not in self.constants:
                if name not in self.value_signature or not self.is_image(name):
                    return None
                slots.append(self.value_signature[name])
                continue
            if node.op_type == "Conv" and slot in (1, 2):
                slots.append(("weights", tuple(self.constants[name].dims)))
                continue
            value = numpy_helper.to_array(self.constants[name])
            if node.op_type in BINARY:
                channels = self.shapes[node.output[0]][1]
                if value.size != 1 and value.shape not in ((channels, 1, 1),
                                                          (1, channels, 1, 1)):
                    return None
                slots.append(("per channel",))
            else:  # pads, clip bounds: the same numbers for every branch
                if node.op_type == "Pad" and (slot == 3 or (
                        slot == 1 and np.any(value.reshape(2, -1)[:, :2]))):
                    return None  # a pad of the batch or channel axis (or of chosen axes)
                slots.append(("constant", value.dtype.str, value.shape,
                              hashlib.sha256(value.tobytes()).hexdigest()))
        if node.op_type in BINARY:
            activations = [n for n in node.input if n not in self.constants]
            if len({self.shapes.get(n) for n in activations}) != 1:
                return None  # broadcasting between activations: not per channel
        attributes = tuple(sorted(a.SerializeToString() for a in node.attribute))
        return self.intern((node.op_type, attributes, tuple(slots)))

    # --- stacking ------------------------------------------------------------------------------

    def stack_inputs(self, group: list[onnx.NodeProto], slot: int) -> str | None:
        """The stacked value for ``slot`` of ``group``'s nodes (members in order), or None."""
        names = [node.input[slot] for node in group]
        found = self.stacks.get(names[0])
        if found is None:
            return None
        stack, first = found
        for offset, name in enumerate(names):
            if self.stacks.get(name) != (stack, first + offset):
                return None
        if first == 0 and len(names) == len(stack.members):
            return stack.name
        # A run of a stack's members: its channels, sliced once.
        key = (stack.name, first, len(names))
        if key not in self.slices:
            self.slices[key] = self.name(names[0])
            self.nodes.append(self.member_slice(stack, first, len(names), self.slices[key]))
        return self.slices[key]

    def member_slice(self, stack: _Stack, first: int, count: int, output: str) -> onnx.NodeProto:
        """A Slice of ``stack``'s channels: its members ``first`` to ``first + count``."""
        return channel_slice(stack.name, first * stack.channels, (first + count) * stack.channels,
                             output, self.add_constant)

    def stacked_constant(self, group: list[onnx.NodeProto], slot: int) -> str:
        node = group[0]
        values = [numpy_helper.to_array(self.constants[n.input[slot]]) for n in group]
        if node.op_type == "Conv":  # filters and biases: one branch after the other
            return self.add_constant(np.concatenate(values, axis=0), node.input[slot])
        if node.op_type in BINARY:
            channels = self.shapes[node.output[0]][1]
            per_channel = [np.broadcast_to(np.asarray(v).reshape(-1), (channels,))
                           for v in values]
            return self.add_constant(
                np.concatenate(per_channel).reshape(1, -1, 1, 1).astype(values[0].dtype),
                node.input[slot])
        return node.input[slot]  # the same numbers for every branch

    def emit_group(self, group: list[onnx.NodeProto]) -> None:
        """Emits ``group``'s nodes as one stacked node, or nothing when one of their inputs is
        not a run of a stack (the nodes then stay as they are; a Slice made on the way is
        dropped with the other dead nodes)."""
        node = group[0]
        inputs = []
        for slot, name in enumerate(node.input):
            if not name:
                inputs.append(name)
            elif name in self.constants:
                inputs.append(self.stacked_constant(group, slot))
            else:
                stacked = self.stack_inputs(group, slot)
                if stacked is None:
                    return
                inputs.append(stacked)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv":
            attrs["group"] = attrs.get("group", 1) * len(group)
        output = self.name(node.output[0])
        self.nodes.append(helper.make_node(node.op_type, inputs, [output], **attrs))
        stack = _Stack(output, [n.output[0] for n in group],
                       self.shapes[node.output[0]][1])
        for position, member in enumerate(stack.members):
            self.stacks[member] = (stack, position)
        self.merged.update(id(n) for n in group)

    def seed(self, node: onnx.NodeProto) -> bool:
        """A Split of a batch into images: its outputs are a stack, a Reshape of its input."""
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        shape = self.shapes.get(node.input[0], ())
        if (node.op_type != "Split" or attrs.get("axis", 0) != 0 or len(shape) != 4
                or shape[0] != len(node.output) or len(node.output) < 2 or not all(shape)
                or not all(self.is_image(o) for o in node.output)):
            return False
        signature = self.intern(("split", self.value_signature.get(node.input[0], node.input[0])))
        for output in node.output:
            self.value_signature[output] = signature
        batch, channels, height, width = shape
        stack = _Stack(self.name(node.input[0]), list(node.output), channels)
        self.seeds[stack.name] = helper.make_node(
            "Reshape",
            [node.input[0],
             self.add_constant(np.array([1, batch * channels, height, width], np.int64),
                               "shape")],
            [stack.name])
        for position, member in enumerate(stack.members):
            self.stacks[member] = (stack, position)
        return True

    def run(self) -> onnx.ModelProto:
        graph = self.model.graph
        order = list(graph.node)
        signature_of: dict[int, int] = {}
        for index, node in enumerate(order):
            if self.seed(node):
                continue
            signature = self.signature(node)
            if signature is None:
                signature = self.intern(("node", index))
            else:
                signature_of[index] = signature
            for output in node.output:
                self.value_signature.setdefault(output, signature)
        groups: dict[int, list[int]] = defaultdict(list)
        for index, signature in signature_of.items():
            groups[signature].append(index)
        # Groups in the order of their signatures: an input's signature is made before its
        # readers', so every stacked input exists before the groups that read it.
        for _, indices in sorted(groups.items()):
            if len(indices) < 2:
                continue
            # Split into runs that read the same stacks at consecutive positions.
            runs: list[list[onnx.NodeProto]] = []
            for index in indices:
                node = order[index]
                for run in runs:
                    if len(run) < 64 and self._extends(run, node):
                        run.append(node)
                        break
                else:
                    runs.append([node])
            for run in runs:
                if len(run) > 1:
                    self.emit_group(run)
        if not self.merged:
            return self.model
        used = {name for node in self.nodes for name in node.input}
        self.nodes.extend(seed for name, seed in self.seeds.items() if name in used)
        # Every other reader of a stacked member reads its channels through a Slice.
        members_read = {name for node in order if id(node) not in self.merged
                        for name in node.input} | {o.name for o in graph.output}
        for node in order:
            if id(node) in self.merged:
                for output in node.output:
                    if output in members_read:
                        stack, position = self.stacks[output]
                        self.nodes.append(self.member_slice(stack, position, 1, output))
            else:
                self.nodes.append(node)
        return replace_nodes(
            self.model, _live(_topological(self.nodes), {o.name for o in graph.output}),
            self.new_initializers)

    def _extends(self, run: list[onnx.NodeProto], node: onnx.NodeProto) -> bool:
        """Whether ``node`` reads, in every activation slot, the member after the one ``run``'s
        last node reads (so that the run's inputs are consecutive members of stacks)."""
        last = run[-1]
        for mine, theirs in zip(node.input, last.input, strict=True):
            if not mine or mine in self.constants:
                continue
            if not (mine in self.stacks and theirs in self.stacks):
                return False
            (stack, position), (their_stack, their_position) = (self.stacks[mine],
                                                                self.stacks[theirs])
            if stack is not their_stack or position != their_position + 1:
                return False
        return True


def _live(nodes: list[onnx.NodeProto], outputs: set[str]) -> list[onnx.NodeProto]:
    """The nodes that contribute to the graph's outputs."""
    needed = set(outputs)
    live = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            live.append(node)
            needed.update(node.input)
    return live[::-1]


def _topological(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The nodes in an order where each comes after the producers of its inputs (stable)."""
    produced_by = {o: i for i, node in enumerate(nodes) for o in node.output}
    waiting = [sum(1 for name in set(node.input) if name in produced_by) for node in nodes]
    readers: dict[int, list[int]] = defaultdict(list)
    for i, node in enumerate(nodes):
        for name in set(node.input):
            if name in produced_by:
                readers[produced_by[name]].append(i)
    ready = [i for i, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        i = heapq.heappop(ready)
        ordered.append(nodes[i])
        for reader in readers[i]:
            waiting[reader] -= 1
            if waiting[reader] == 0:
                heapq.heappush(ready, reader)
    if len(ordered) != len(nodes):
        stuck = next(node for node in nodes if not any(node is o for o in ordered))
        raise ValueError(f"stacking the branches made the graph cyclic: {stuck.op_type} node "
                         f"{stuck.name or stuck.output[0]!r} and "
                         f"{len(nodes) - len(ordered) - 1} others wait on each other")
    return ordered


def merge_branches(model: onnx.ModelProto) -> onnx.ModelProto:
    """Runs ``model``'s parallel branches of equal structure stacked (in place; returns it)."""
    return _Merger(model).run()
