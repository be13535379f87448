"""Widens a converted model's channel counts to whole blocks of onnxruntime's NCHWc layout.

onnxruntime runs convolutions on CPU in a blocked layout (NCHWc: channels in blocks of 16 with
AVX-512, 8 with AVX2) when every channel count is a whole number of blocks. MediaPipe's models
grow their channels by a few at a time (BlazeFace: 24, 28, 32, 36, 42, 48, 56, ... 88, 96, with a
PAD of the channels on each residual shortcut), so onnxruntime leaves the blocked layout around
such tensors: it converts back and forth and runs those pools and depthwise convolutions in plain
NCHW, and each channel PAD costs a convolution.

This pass gives every 4-D convolution output whose channels are not a whole number of blocks
the next whole number, with zero weights and zero bias in the added channels, and carries the
widening through the ops that work channel by channel (element-wise activations, pools,
depthwise convolutions, adds and multiplies with per-channel constants). The added channels
hold zeros wherever every op on the way maps zero to zero; a channel PAD of such a tensor is
then the tensor itself and goes. Every other consumer, and every graph output, reads the
original channels through a ``Slice``. The model computes the same numbers: the added channels
only ever meet zero weights. A permutation into NCHW that feeds element-wise ops gets an identity
depthwise convolution after it (likewise a reshape or slice into an image), so that those ops stay
in the blocked layout too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def nchwc_block(cpuinfo: Path = Path("/proc/cpuinfo")) -> int:
    """The channel block of onnxruntime's NCHWc kernels on this CPU, or 0 where it has none.

    16 with AVX-512, 8 with AVX2 (MLAS's blocked kernels are x86 only); 0 where the CPU flags
    cannot be read or have neither (widening would only add work there).
    """
    try:
        text = cpuinfo.read_text()
    except OSError:
        return 0
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines()
                  if line.startswith("flags")), [])
    return 16 if "avx512f" in flags else 8 if "avx2" in flags else 0


#: This machine's NCHWc block (part of the conversion cache key).
BLOCK = nchwc_block()

# Element-wise ops that map each channel to itself; those in _ZERO_PRESERVING map 0 to 0.
UNARY = {"Relu", "PRelu", "HardSwish", "Sigmoid", "Clip", "LeakyRelu", "Tanh"}
_ZERO_PRESERVING = {"Relu", "PRelu", "HardSwish", "LeakyRelu", "Tanh"}
#: Pools and per-channel binary ops: both work on each channel alone (branches.py stacks them).
POOLS = {"MaxPool", "AveragePool"}
BINARY = {"Add", "Mul"}
_CARRIERS = {"Conv", "Pad", "Resize", *UNARY, *POOLS, *BINARY}


def replace_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto],
                  new_initializers: list[onnx.TensorProto]) -> onnx.ModelProto:
    """Gives ``model`` the rewritten ``nodes`` (in order) and ``new_initializers``, drops the
    initializers nothing reads any more and the stale inferred shapes; returns ``model``."""
    graph = model.graph
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(new_initializers)
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    del graph.value_info[:]
    return model


def value_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    """Every value's shape by name (graph inputs, outputs and inferred intermediates)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    return {value.name: tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
            for value in [*inferred.graph.value_info, *inferred.graph.input,
                          *inferred.graph.output]}


def channel_slice(source: str, start: int, end: int, output: str,
                  add_constant: Callable[[np.ndarray, str], str]) -> onnx.NodeProto:
    """A Slice node: channels ``start`` to ``end`` (exclusive, axis 1) of ``source`` as
    ``output``.

    Args:
        source: The value sliced (NCHW).
        start: Its first channel in the slice.
        end: The channel after the slice's last.
        output: The slice's name.
        add_constant: Makes an initializer of a value, given a name hint; returns its name
            (the caller's, so that its names stay unique).
    """
    return helper.make_node(
        "Slice",
        [source, add_constant(np.array([start], np.int64), "starts"),
         add_constant(np.array([end], np.int64), "ends"),
         add_constant(np.array([1], np.int64), "axes")],
        [output])


@dataclasses.dataclass
class _Wide:
    """A widened value: its name, its original and widened channel counts, zeros in the rest."""

    name: str
    channels: int
    width: int
    zeros: bool


def _round_up(channels: int) -> int:
    return -(-channels // BLOCK) * BLOCK


class _Widener:
    """One pass over a model's nodes, in order, rewriting them into ``nodes``."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.shapes = value_shapes(model)
        self.initializers = {t.name: t for t in model.graph.initializer}
        # Value name -> the nodes reading it.
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in model.graph.node:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)
        self.wide: dict[str, _Wide] = {}
        self.sliced: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.new_initializers: list[onnx.TensorProto] = []

    def reader_ops(self, name: str) -> set[str]:
        """The op types of the nodes reading value ``name``."""
        return {node.op_type for node in self.readers.get(name, [])}

    def constant(self, name: str) -> np.ndarray | None:
        tensor = self.initializers.get(name)
        return None if tensor is None else numpy_helper.to_array(tensor)

    def add_constant(self, value: np.ndarray, hint: str) -> str:
        name = f"{hint}__wide{len(self.new_initializers)}"
        self.new_initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def narrow(self, name: str) -> str:
        """The original-width value of ``name`` (a Slice of its widened value, made once)."""
        wide = self.wide.get(name)
        if wide is None:
            return name
        if wide.width == wide.channels:
            return wide.name
        if name not in self.sliced:
            self.nodes.append(channel_slice(wide.name, 0, wide.channels, name, self.add_constant))
            self.sliced.add(name)
        return name

    def run(self) -> onnx.ModelProto:
        for node in self.model.graph.node:
            handler = getattr(self, f"_{node.op_type.lower()}", None)
            if handler is None or not handler(node):
                self.keep(node)
        for output in self.model.graph.output:
            value = self.narrow(output.name)
            if value != output.name:  # a value under another name (a PAD that went)
                self.nodes.append(helper.make_node("Identity", [value], [output.name]))
        return replace_nodes(self.model, self.nodes, self.new_initializers)

    def keep(self, node: onnx.NodeProto) -> None:
        """Emits a node unchanged, reading the original width of every widened input."""
        inputs = [self.narrow(name) if name else name for name in node.input]
        node = onnx.NodeProto.FromString(node.SerializeToString())
        del node.input[:]
        node.input.extend(inputs)
        self.nodes.append(node)

    def emit(self, node: onnx.NodeProto, inputs: list[str], channels: int, width: int,
             zeros: bool, **replace: object) -> bool:
        """Emits ``node`` with new inputs and a widened output (named ``<output>__wide``)."""
        output = node.output[0]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs.update(replace)
        name = f"{output}__wide" if width > channels else output
        self.nodes.append(helper.make_node(node.op_type, inputs, [name], name=node.name,
                                           **attrs))
        if width > channels:
            self.wide[output] = _Wide(name, channels, width, zeros)
        return True

    def _conv(self, node: onnx.NodeProto) -> bool:
        weights = self.constant(node.input[1])
        bias = self.constant(node.input[2]) if len(node.input) > 2 else None
        if weights is None or weights.ndim != 4 or (len(node.input) > 2 and bias is None):
            return False
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        group = attrs.get("group", 1)
        x = self.wide.get(node.input[0])
        out_channels, in_channels = weights.shape[:2]
        if group > 1:
            # Depthwise: as wide as its input, zero filters in the added channels.
            if x is None or in_channels != 1 or group != out_channels:
                return False
            width = x.width
        else:
            if (x is not None and x.zeros and bias is None and out_channels <= x.width
                    and self._is_identity(weights)):
                # A channel PAD (a one-hot 1x1 convolution) of a tensor whose added channels
                # are zeros: the widened tensor already is the padded one.
                self.wide[node.output[0]] = _Wide(x.name, out_channels, x.width, True)
                return True
            # Widen where the consumers can carry the added channels (not, e.g., before a head's
            # Transpose: the widening would only add work and a Slice).
            carried = self.reader_ops(node.output[0]) <= _CARRIERS
            # Fewer channels than a block are widened only on the way to a full convolution:
            # onnxruntime pads them to a block inside its blocked layout anyway, but reorders
            # them out of it for a convolution that reads fewer channels than a block (0.1 ms
            # a reorder and slower convolution each in the full-range detector's 96x96 blocks).
            wanted = carried and (out_channels > BLOCK or (
                out_channels > 1 and self._reaches_convolution(node.output[0])))
            width = _round_up(out_channels) if wanted else out_channels
            if x is None and width == out_channels:
                return False
            x_width = x.width if x is not None else in_channels
            weights = np.pad(weights, ((0, width - out_channels), (0, x_width - in_channels),
                                       (0, 0), (0, 0)))
        if group > 1:
            weights = np.pad(weights, ((0, width - out_channels), (0, 0), (0, 0), (0, 0)))
        inputs = [x.name if x is not None else node.input[0],
                  self.add_constant(weights.astype(np.float32), node.input[1])]
        if bias is not None:
            inputs.append(self.add_constant(
                np.pad(bias, (0, width - out_channels)).astype(np.float32), node.input[2]))
        replace = {"group": width} if group > 1 else {}
        # The added channels have zero weights and zero bias: they hold zeros.
        return self.emit(node, inputs, out_channels, width, True, **replace)

    def _reaches_convolution(self, name: str) -> bool:
        """Whether ``name`` reaches a convolution that is not depthwise through carrying ops."""
        for reader in self.readers.get(name, []):
            if reader.op_type not in _CARRIERS:
                return False
            group = next((helper.get_attribute_value(a) for a in reader.attribute
                          if a.name == "group"), 1)
            if reader.op_type == "Conv" and group == 1:
                continue
            if not self._reaches_convolution(reader.output[0]):
                return False
        return bool(self.readers.get(name))

    @staticmethod
    def _is_identity(weights: np.ndarray) -> bool:
        """Whether 1x1 ``weights`` copy input channel i to output channel i, zeros after."""
        if weights.shape[2:] != (1, 1):
            return False
        matrix = weights[:, :, 0, 0]
        cols = matrix.shape[1]
        return bool(np.array_equal(matrix[:cols], np.eye(cols)) and not matrix[cols:].any())

    def _unary(self, node: onnx.NodeProto) -> bool:
        x = self.wide.get(node.input[0])
        if x is None:
            return False
        inputs = [x.name, *node.input[1:]]
        if node.op_type == "PRelu":
            slope = self.constant(node.input[1])
            if slope is None or slope.ndim < 3 or slope.shape[-3] != x.channels:
                return False
            pad = [(0, 0)] * slope.ndim
            pad[-3] = (0, x.width - x.channels)
            inputs[1] = self.add_constant(np.pad(slope, pad), node.input[1])
        elif node.op_type == "Clip":
            low = self.constant(node.input[1]) if len(node.input) > 1 else None
            high = self.constant(node.input[2]) if len(node.input) > 2 else None
            zeros = x.zeros and (low is None or low <= 0) and (high is None or high >= 0)
            return self.emit(node, inputs, x.channels, x.width, bool(zeros))
        return self.emit(node, inputs, x.channels, x.width,
                         x.zeros and node.op_type in _ZERO_PRESERVING)

    _relu = _prelu = _hardswish = _sigmoid = _clip = _leakyrelu = _tanh = _unary

    def _pool(self, node: onnx.NodeProto) -> bool:
        x = self.wide.get(node.input[0])
        if x is None:
            return False
        return self.emit(node, [x.name], x.channels, x.width, x.zeros)

    _maxpool = _averagepool = _pool

    def _pad(self, node: onnx.NodeProto) -> bool:
        """A zero PAD of the spatial axes only."""
        x = self.wide.get(node.input[0])
        pads = self.constant(node.input[1]) if len(node.input) > 1 else None
        value = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        mode = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "mode"),
                    b"constant")
        if (x is None or pads is None or pads.shape != (8,) or pads[1] or pads[5]
                or mode != b"constant" or (value is not None and value.any())):
            return False
        return self.emit(node, [x.name, *node.input[1:]], x.channels, x.width, x.zeros)

    def _resize(self, node: onnx.NodeProto) -> bool:
        """A resize of the spatial axes only, by constant scales or sizes."""
        x = self.wide.get(node.input[0])
        if x is None:
            return False
        inputs = [x.name, *node.input[1:]]
        scales = self.constant(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        sizes = self.constant(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        if scales is not None and scales.shape == (4,) and scales[:2].tolist() == [1, 1]:
            return self.emit(node, inputs, x.channels, x.width, x.zeros)
        if sizes is not None and sizes.shape == (4,) and sizes[1] == x.channels:
            inputs[3] = self.add_constant(
                np.array([sizes[0], x.width, *sizes[2:]], np.int64), node.input[3])
            return self.emit(node, inputs, x.channels, x.width, x.zeros)
        return False

    def _transpose(self, node: onnx.NodeProto) -> bool:
        """A permutation into NCHW: see `_into_blocked`."""
        perm = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "perm"),
                    None)
        return perm is not None and list(perm) == [0, 3, 1, 2] and self._into_blocked(node)

    def _reshape(self, node: onnx.NodeProto) -> bool:
        """A reshape into an image (branches.py's stack of crops): see `_into_blocked`."""
        return self._into_blocked(node)

    def _slice(self, node: onnx.NodeProto) -> bool:
        """A slice of an image (branches.py's run of a stack): see `_into_blocked`."""
        return self._into_blocked(node)

    def _into_blocked(self, node: onnx.NodeProto) -> bool:
        """A layout op's NCHW output that feeds element-wise ops as well as convolutions.

        onnxruntime keeps an Add or Mul in its blocked layout only when every input comes from
        an op it runs there; a Transpose, Reshape or Slice is not one. So a residual chain that
        starts from such a tensor (the attention model's eye and lip crops: Add(crop,
        Conv(...)), then Add(that, Conv(...)), ...) left the blocked layout at every Add: a
        reorder out and one back in per Add. An identity depthwise convolution after the op is
        reordered into the blocked layout once, and every Add of the chain stays there.
        """
        output = node.output[0]
        shape = self.shapes.get(output, ())
        readers = self.reader_ops(output)
        if (len(node.output) != 1 or len(shape) != 4 or not shape[1] or shape[1] % BLOCK
                or "Conv" not in readers or not readers & BINARY
                or any(name in self.wide for name in node.input)):
            return False
        channels = shape[1]
        permuted = f"{output}__plain"
        copy = onnx.NodeProto.FromString(node.SerializeToString())
        del copy.output[:]
        copy.output.append(permuted)
        self.nodes.append(copy)
        ones = self.add_constant(np.ones((channels, 1, 1, 1), np.float32), f"{output}__identity")
        self.nodes.append(helper.make_node("Conv", [permuted, ones], [output],
                                           kernel_shape=[1, 1], group=channels))
        return True

    def _binary(self, node: onnx.NodeProto) -> bool:
        wide = [self.wide.get(name) for name in node.input]
        present = [w for w in wide if w is not None]
        if not present:
            return False
        first = present[0]
        inputs: list[str] = []
        zeros = True
        for name, w in zip(node.input, wide, strict=True):
            value = self.constant(name)
            if w is None and value is None:
                # An activation as it is: fine beside one widened to no more channels than it has.
                shape = self.shapes.get(name, ())
                if len(shape) != 4 or shape[1] != first.width:
                    return False
                w = _Wide(name, first.width, first.width, False)
            if w is not None:
                if w.width != first.width:
                    return False
                inputs.append(w.name)
                zeros = zeros and w.zeros
                continue
            assert value is not None
            if value.ndim >= 3 and value.shape[-3] == first.channels and first.channels > 1:
                pad = [(0, 0)] * value.ndim
                pad[-3] = (0, first.width - first.channels)
                # Zeros in the added channels: an add keeps them zero; a multiply makes them zero.
                inputs.append(self.add_constant(np.pad(value, pad), name))
            elif value.ndim < 3 or value.shape[-3] == 1:
                inputs.append(name)
                zeros = zeros and (node.op_type == "Mul" or not value.any())
            else:
                return False
        channels = max(w.channels for w in present)
        return self.emit(node, inputs, channels, first.width, zeros)

    _add = _mul = _binary


def widen_channels(model: onnx.ModelProto) -> onnx.ModelProto:
    """Widens ``model``'s convolution channels to whole NCHWc blocks (in place; returned).

    Args:
        model: A converted model whose 4-D activations are NCHW.

    Returns:
        The same model object, rewritten (unchanged where `BLOCK` is 0): same inputs, outputs
        and results.
    """
    return _Widener(model).run() if BLOCK else model
