"""TensorFlow Lite models on onnxruntime: a .tflite -> ONNX converter, a conversion cache, sessions.

The converter reads the .tflite flatbuffer with the ``tflite`` package and writes an
``onnx.ModelProto`` with ``onnx.helper``; TensorFlow is not needed. It covers the operators of
MediaPipe's face and selfie models (``face_detection_short_range.tflite``,
``face_detection_full_range_sparse.tflite``, ``face_landmark.tflite``,
``face_landmark_with_attention.tflite``, ``selfie_segmentation(_landscape).tflite``): CONV_2D,
DEPTHWISE_CONV_2D, DEQUANTIZE (float16 constants), DENSIFY (sparse constants), PRELU, ADD, MUL,
RELU, HARD_SWISH, LOGISTIC, PAD, MAX_POOL_2D, AVERAGE_POOL_2D, MEAN, RESHAPE, CONCATENATION,
STRIDED_SLICE, RESIZE_BILINEAR and DEPTH_TO_SPACE, with fused activations and TFLite's SAME/VALID
padding, and MediaPipe's custom operators Landmarks2TransformMatrix, TransformTensorBilinear,
TransformLandmarks and Convolution2DTransposeBias, written with standard ONNX operators.

The converted model keeps TFLite's interface: the same input and output names, shapes (NHWC) and
order, so callers see exactly the tensors the TFLite interpreter would give them. Inside, 4-D
activations are NCHW (onnxruntime's native convolution layout); a tensor is transposed only where a
consumer needs the other layout, which for these models means once after the input and once
before each output head. A caller that holds its images channel-planar already (ImageToTensor's
tensors) asks for ``channels_first`` inputs instead: 4-D inputs are then declared NCHW, which
saves the input's transpose (53 us of face_landmark.tflite's 1.1-1.4 ms on one thread), and
the model lists them in its metadata under `CHANNELS_FIRST_KEY`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import struct
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import onnx
import onnxruntime as ort
import tflite
from flatbuffers import flexbuffers
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.Padding import Padding
from tflite.TensorType import TensorType

from graphflow.resources import resource_dir
from graphflow.tflite_onnx import branches, widen

logger = logging.getLogger(__name__)

_Options = TypeVar("_Options")

#: ONNX operator set the converter emits.
ONNX_OPSET = 17
_ONNX_IR_VERSION = 8

#: Folder of the bundled models (the checkout's ``models/``, or the installed wheel's copy).
MODELS_DIR = resource_dir("models")

# Part of every cache key, so that a changed converter never reuses an older conversion.
# The channel widening depends on the CPU, so its block is part of the key too.
_CONVERTER_TAG = hashlib.sha256(
    Path(__file__).read_bytes() + Path(widen.__file__).read_bytes()
    + Path(branches.__file__).read_bytes()
    + str(widen.BLOCK).encode()).hexdigest()[:12]

_OP_NAMES = {code: name for name, code in vars(BuiltinOperator).items() if not name.startswith("_")}
_ACTIVATION_NAMES = {
    code: name for name, code in vars(ActivationFunctionType).items() if not name.startswith("_")
}
_TYPE_NAMES = {code: name for name, code in vars(TensorType).items() if not name.startswith("_")}
_NUMPY_TYPES = {
    TensorType.FLOAT32: np.float32,
    TensorType.FLOAT16: np.float16,
    TensorType.INT32: np.int32,
    TensorType.INT64: np.int64,
    TensorType.INT8: np.int8,
    TensorType.UINT8: np.uint8,
}
# onnxruntime's load errors (they share no base class below Exception).
_ORT_LOAD_ERRORS = (
    ort_errors.Fail,
    ort_errors.InvalidArgument,
    ort_errors.InvalidGraph,
    ort_errors.InvalidProtobuf,
    ort_errors.NoSuchFile,
    ort_errors.NotImplemented,
    ort_errors.RuntimeException,
)
# Axis permutations between TFLite's NHWC and ONNX's NCHW, and where each NHWC axis lands in NCHW.
_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)
_NCHW_AXIS = (0, 2, 3, 1)

#: Model metadata key listing (comma-separated) the inputs a ``channels_first`` conversion
#: declares NCHW.
CHANNELS_FIRST_KEY = "graphflow.channels_first_inputs"


class ModelLoadError(ValueError):
    """A model file cannot be read, converted or loaded; the message names the file."""


class UnsupportedOpError(ModelLoadError):
    """The .tflite model uses an operator (or an operator variant) the converter does not cover."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """A model input or output as TFLite declares it.

    Attributes:
        name: The tensor's name (also the converted ONNX model's input/output name).
        shape: Its static shape, NHWC for images.
        dtype: Its numpy element type name, e.g. ``"float32"``.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """Finds a model file.

    An existing path (absolute, or relative to the working directory) is returned as it is.
    Otherwise the path is taken as MediaPipe-style (e.g.
    ``"mediapipe/modules/face_detection/face_detection_short_range.tflite"``) and resolves to the
    file of the same basename in graphflow's bundled models folder.

    Args:
        path: The model path as written in a graph or by a caller.

    Returns:
        The path of an existing file.

    Raises:
        FileNotFoundError: Neither location holds the file; the message names both.
    """
    given = Path(path)
    if given.is_file():
        return given
    bundled = MODELS_DIR / given.name
    if bundled.is_file():
        return bundled
    raise FileNotFoundError(
        f"model file {str(path)!r} not found: looked at {given.absolute()} and at {bundled} "
        f"(graphflow's bundled models folder)"
    )


def tflite_io(
    path: str | os.PathLike[str],
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """Lists a .tflite model's inputs and outputs in TFLite's order.

    Args:
        path: The .tflite file (resolved with `resolve_model_path`).

    Returns:
        ``(inputs, outputs)``.

    Raises:
        ModelLoadError: The file is not a readable TFLite model.
    """
    source = resolve_model_path(path)
    model = _parse_tflite(source.read_bytes(), str(source))
    try:
        graph = model.Subgraphs(0)
        names = _tensor_names(graph)
        return (
            tuple(_tensor_spec(graph, graph.Inputs(i), names) for i in range(graph.InputsLength())),
            tuple(
                _tensor_spec(graph, graph.Outputs(i), names) for i in range(graph.OutputsLength())
            ),
        )
    except (struct.error, IndexError) as exc:
        raise ModelLoadError(f"{source}: corrupt TFLite model ({exc})") from exc


def convert_tflite(path: str | os.PathLike[str], channels_first: bool = False) -> onnx.ModelProto:
    """Converts a .tflite model to ONNX.

    Args:
        path: The .tflite file (resolved with `resolve_model_path`).
        channels_first: Declare 4-D inputs NCHW (listed under `CHANNELS_FIRST_KEY` in the
            model's metadata) instead of TFLite's NHWC.

    Returns:
        The ONNX model; its inputs and outputs have TFLite's names, shapes (but for
        ``channels_first`` inputs) and order.

    Raises:
        ModelLoadError: The file is not a readable TFLite model.
        UnsupportedOpError: The model uses an operator the converter does not cover.
    """
    source = resolve_model_path(path)
    return _convert(source.read_bytes(), str(source), channels_first)


def cache_dir() -> Path:
    """Returns the folder of converted models: ``$XDG_CACHE_HOME/graphflow/onnx``.

    ``~/.cache`` stands in for ``$XDG_CACHE_HOME`` when it is unset or not absolute.
    """
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "graphflow" / "onnx"


def load_onnx_for(path: str | os.PathLike[str], channels_first: bool = False) -> Path | bytes:
    """Returns the ONNX conversion of a .tflite model, converting only on a cache miss.

    Conversions are cached in `cache_dir` under ``<sha256 of the .tflite>-<converter tag>.onnx``
    (``...-nchw.onnx`` for ``channels_first``) and written atomically, so concurrent processes
    never see a partial file. When the cache cannot be written the serialized model is returned
    instead.

    Args:
        path: The .tflite file (resolved with `resolve_model_path`).
        channels_first: Convert with NCHW inputs (see `convert_tflite`).

    Returns:
        The cached .onnx file, or the serialized ONNX model when the cache is not writable.

    Raises:
        ModelLoadError: The file is not a readable TFLite model.
        UnsupportedOpError: The model uses an operator the converter does not cover.
    """
    source = resolve_model_path(path)
    data = source.read_bytes()
    layout = "-nchw" if channels_first else ""
    target = cache_dir() / f"{hashlib.sha256(data).hexdigest()}-{_CONVERTER_TAG}{layout}.onnx"
    if target.is_file():
        logger.debug("using cached conversion %s of %s", target, source)
        return target
    blob = _convert(data, str(source), channels_first).SerializeToString()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(partial, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise
    except OSError as exc:
        logger.warning("cannot cache the conversion of %s in %s: %s", source, target.parent, exc)
        return blob
    logger.info("converted %s to %s", source, target)
    return target


def create_session(
    path: str | os.PathLike[str],
    num_threads: int | None = None,
    providers: Sequence[str] | None = None,
    channels_first: bool = False,
) -> ort.InferenceSession:
    """Opens an onnxruntime session for a .tflite (converted, cached) or .onnx model.

    Args:
        path: The model file (resolved with `resolve_model_path`).
        num_threads: onnxruntime's intra-op thread count; None keeps onnxruntime's default.
        providers: onnxruntime execution providers; None means ``["CPUExecutionProvider"]``.
        channels_first: Convert a .tflite model with NCHW inputs (see `convert_tflite`); an
            .onnx model is opened as it is.

    Returns:
        The session, with full graph optimization and one inter-op thread.

    Raises:
        FileNotFoundError: The model file does not exist.
        ModelLoadError: The file is not a readable model.
        UnsupportedOpError: A .tflite model uses an operator the converter does not cover.
        ValueError: ``num_threads`` is below 1.
    """
    source = resolve_model_path(path)
    model: Path | bytes = (load_onnx_for(source, channels_first)
                           if source.suffix.lower() == ".tflite" else source)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    # Idle intra-op threads sleep instead of spinning: in a graph the cores have other nodes to
    # run (spinning cost about 5 ms of CPU per frame in graphs/eymo.pbtxt on 2 cores).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if num_threads is not None:
        if num_threads < 1:
            raise ValueError(f"num_threads must be at least 1, got {num_threads} (model {source})")
        options.intra_op_num_threads = num_threads
    try:
        return ort.InferenceSession(
            model if isinstance(model, bytes) else str(model),
            sess_options=options,
            providers=list(providers) if providers is not None else ["CPUExecutionProvider"],
        )
    except _ORT_LOAD_ERRORS as exc:
        where = (
            f"{model} (converted from {source})"
            if isinstance(model, Path) and model != source
            else source
        )
        raise ModelLoadError(f"{where}: onnxruntime cannot load the model: {exc}") from exc


def _parse_tflite(data: bytes, source: str) -> tflite.Model:
    """Opens a TFLite flatbuffer, checking its file identifier and that it has a graph."""
    if len(data) < 8 or not tflite.Model.ModelBufferHasIdentifier(data, 0):
        raise ModelLoadError(f"{source}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise ModelLoadError(f"{source}: the TFLite model has no subgraph")
    except (struct.error, IndexError) as exc:
        raise ModelLoadError(f"{source}: corrupt TFLite model ({exc})") from exc
    return model


def _tensor_shape(tensor: tflite.Tensor) -> tuple[int, ...]:
    shape = tensor.ShapeAsNumpy()
    return () if isinstance(shape, int) else tuple(int(d) for d in shape)


def _tensor_names(graph: tflite.SubGraph) -> list[str]:
    """The graph's tensor names, made unique (ONNX needs that; TFLite does not check)."""
    names, seen = [], set()
    for i in range(graph.TensorsLength()):
        name = graph.Tensors(i).Name().decode(errors="replace") or f"tensor_{i}"
        while name in seen:
            name = f"{name}_{i}"
        seen.add(name)
        names.append(name)
    return names


def _tensor_spec(graph: tflite.SubGraph, index: int, names: Sequence[str]) -> TensorSpec:
    tensor = graph.Tensors(index)
    dtype = _NUMPY_TYPES.get(tensor.Type())
    return TensorSpec(
        name=names[index],
        shape=_tensor_shape(tensor),
        dtype=np.dtype(dtype).name
        if dtype is not None
        else _TYPE_NAMES.get(tensor.Type(), "?").lower(),
    )


def _convert(data: bytes, source: str, channels_first: bool = False) -> onnx.ModelProto:
    model = _parse_tflite(data, source)
    try:
        return widen.widen_channels(
            branches.merge_branches(_Converter(model, source, channels_first).run()))
    except (struct.error, IndexError) as exc:
        raise ModelLoadError(f"{source}: corrupt TFLite model ({exc})") from exc


def _window_pads(
    source: str,
    where: str,
    in_hw: Sequence[int],
    kernel_hw: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    padding: int,
    out_hw: Sequence[int],
) -> list[int]:
    """ONNX ``pads`` ([top, left, bottom, right]) reproducing TFLite's SAME/VALID windows.

    TFLite pads ``total // 2`` before and the rest after, where ``total`` is what the output size
    needs; it is checked against the output shape the model declares.
    """
    before, after = [], []
    for size, kernel, stride, dilation, declared in zip(
        in_hw, kernel_hw, strides, dilations, out_hw, strict=True
    ):
        extent = (kernel - 1) * dilation + 1
        if padding == Padding.SAME:
            out = (size + stride - 1) // stride
        elif padding == Padding.VALID:
            out = (size - extent + stride) // stride
        else:
            raise UnsupportedOpError(f"{source}: {where}: unknown padding type {padding}")
        if out != declared:
            raise ModelLoadError(
                f"{source}: {where}: output size {declared} does not match input {size}, window "
                f"{kernel}, stride {stride}, dilation {dilation} (expected {out})"
            )
        total = max((out - 1) * stride + extent - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


class _Converter:
    """One conversion: walks the TFLite operators in order and emits ONNX nodes."""

    def __init__(self, model: tflite.Model, source: str, channels_first: bool = False) -> None:
        self.model = model
        self.source = source
        self.channels_first = channels_first
        self.graph = model.Subgraphs(0)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.where = "model"
        # Constant tensors (TFLite layout), filled from buffers on demand and by DEQUANTIZE.
        self.constants: dict[int, np.ndarray] = {}
        # Activations: tensor index -> {NCHW?: ONNX value name}; each layout is made once.
        self.values: dict[int, dict[bool, str]] = {}
        self.cached_initializers: dict[tuple[object, ...], str] = {}
        self.names = _tensor_names(self.graph)
        self.fresh = 0
        # The operator being converted, and later ones already converted with an earlier one.
        self.index = 0
        self.converted: set[int] = set()
        self.handlers: dict[int, Callable[[tflite.Operator], None]] = {
            BuiltinOperator.CONV_2D: self._conv,
            BuiltinOperator.DEPTHWISE_CONV_2D: self._conv,
            BuiltinOperator.DEQUANTIZE: self._dequantize,
            BuiltinOperator.PRELU: self._prelu,
            BuiltinOperator.ADD: self._add,
            BuiltinOperator.RELU: self._relu,
            BuiltinOperator.PAD: self._pad,
            BuiltinOperator.MAX_POOL_2D: self._pool,
            BuiltinOperator.RESHAPE: self._reshape,
            BuiltinOperator.CONCATENATION: self._concatenation,
            BuiltinOperator.MUL: self._mul,
            BuiltinOperator.MEAN: self._mean,
            BuiltinOperator.DENSIFY: self._densify,
            BuiltinOperator.RESIZE_BILINEAR: self._resize_bilinear,
            BuiltinOperator.DEPTH_TO_SPACE: self._depth_to_space,
            BuiltinOperator.HARD_SWISH: self._unary,
            BuiltinOperator.LOGISTIC: self._unary,
            BuiltinOperator.AVERAGE_POOL_2D: self._pool,
            BuiltinOperator.STRIDED_SLICE: self._strided_slice,
        }
        # MediaPipe's custom operators: name -> (supported version, handler).
        self.custom_handlers: dict[str, tuple[int, Callable[[tflite.Operator], None]]] = {
            "Landmarks2TransformMatrix": (2, self._landmarks_to_transform_matrix),
            "TransformTensorBilinear": (2, self._transform_tensor_bilinear),
            "TransformLandmarks": (2, self._transform_landmarks),
            "Convolution2DTransposeBias": (1, self._transpose_conv_bias),
        }

    def run(self) -> onnx.ModelProto:
        graph = self.graph
        inputs, outputs, planar = [], [], []
        for i in range(graph.InputsLength()):
            index = graph.Inputs(i)
            spec = self._float_spec(index, "input")
            nchw = self.channels_first and len(spec.shape) == 4
            self.values[index] = {nchw: self.names[index]}
            shape = tuple(spec.shape[a] for a in _TO_NCHW) if nchw else spec.shape
            if nchw:
                planar.append(spec.name)
            inputs.append(helper.make_tensor_value_info(spec.name, TensorProto.FLOAT, shape))
        for i in range(graph.OperatorsLength()):
            if i in self.converted:
                continue
            self.index = i
            op = graph.Operators(i)
            name = self._op_name(op)
            self.where = f"operator #{i} ({name})"
            self._handler(op)(op)
        self.where = "outputs"
        for i in range(graph.OutputsLength()):
            index = graph.Outputs(i)
            spec = self._float_spec(index, "output")
            if self._value(index, nchw=False) != spec.name:
                raise UnsupportedOpError(
                    f"{self.source}: output {spec.name!r} is not computed by the graph"
                )
            outputs.append(helper.make_tensor_value_info(spec.name, TensorProto.FLOAT, spec.shape))
        description = self.model.Description()
        onnx_graph = helper.make_graph(
            self.nodes,
            description.decode(errors="replace") if description else Path(self.source).stem,
            inputs,
            outputs,
            initializer=self.initializers,
        )
        model = helper.make_model(
            onnx_graph,
            producer_name="graphflow.tflite_onnx",
            doc_string=f"converted from {Path(self.source).name}",
            opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
            ir_version=_ONNX_IR_VERSION,
        )
        if planar:
            helper.set_model_props(model, {CHANNELS_FIRST_KEY: ",".join(planar)})
        return model

    def _handler(self, op: tflite.Operator) -> Callable[[tflite.Operator], None]:
        code = self._op_code(op)
        handler = self.handlers.get(code)
        if code == BuiltinOperator.CUSTOM:
            op_code = self.model.OperatorCodes(op.OpcodeIndex())
            custom = (op_code.CustomCode() or b"").decode(errors="replace")
            version, handler = self.custom_handlers.get(custom, (0, None))
            if handler is not None and op_code.Version() != version:
                raise UnsupportedOpError(
                    f"{self.source}: {self.where} is version {op_code.Version()}; the converter "
                    f"implements version {version} of MediaPipe's {custom}"
                )
        if handler is None:
            supported = ", ".join(
                sorted(_OP_NAMES[code] for code in self.handlers) + sorted(self.custom_handlers)
            )
            raise UnsupportedOpError(
                f"{self.source}: {self.where} is not supported by graphflow's TFLite to ONNX "
                f"converter (supported: {supported})"
            )
        return handler

    # --- model reading -------------------------------------------------------------------------

    def _op_code(self, op: tflite.Operator) -> int:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())

    def _op_name(self, op: tflite.Operator) -> str:
        code = self._op_code(op)
        if code == BuiltinOperator.CUSTOM:
            custom = self.model.OperatorCodes(op.OpcodeIndex()).CustomCode()
            return f"custom operator {custom.decode(errors='replace') if custom else '?'}"
        return _OP_NAMES.get(code, f"builtin operator {code}")

    def _options(self, op: tflite.Operator, cls: type[_Options]) -> _Options:
        table = op.BuiltinOptions()
        if table is None:
            raise ModelLoadError(f"{self.source}: {self.where} has no options")
        options = cls()
        options.Init(table.Bytes, table.Pos)  # type: ignore[attr-defined]
        return options

    def _custom_options(self, op: tflite.Operator) -> dict[str, Any]:
        """A custom operator's options (a FlexBuffers map; empty when it has none)."""
        data = op.CustomOptionsAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return {}
        options = flexbuffers.Loads(data.tobytes())
        if not isinstance(options, dict):
            raise ModelLoadError(f"{self.source}: {self.where}: custom options are not a map")
        return options

    def _shape(self, index: int) -> tuple[int, ...]:
        return _tensor_shape(self.graph.Tensors(index))

    def _float_spec(self, index: int, role: str) -> TensorSpec:
        spec = _tensor_spec(self.graph, index, self.names)
        if spec.dtype != "float32":
            raise UnsupportedOpError(
                f"{self.source}: {role} {spec.name!r} is {spec.dtype}; "
                f"only float32 models are supported"
            )
        return spec

    def _constant(self, index: int) -> np.ndarray | None:
        """A constant tensor's value in TFLite layout, or None for an activation."""
        if index in self.constants:
            return self.constants[index]
        tensor = self.graph.Tensors(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        if tensor.Sparsity() is not None:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: {self.names[index]!r} is a sparse constant; only "
                f"DENSIFY can read it"
            )
        dtype = _NUMPY_TYPES.get(tensor.Type())
        if dtype is None:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: constant {self.names[index]!r} has unsupported type "
                f"{_TYPE_NAMES.get(tensor.Type(), tensor.Type())}"
            )
        value = np.frombuffer(data.tobytes(), dtype=dtype).reshape(self._shape(index))
        self.constants[index] = value
        return value

    def _required_constant(self, index: int, role: str) -> np.ndarray:
        value = self._constant(index)
        if value is None:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: {role} {self.names[index]!r} must be a constant"
            )
        return value

    # --- ONNX emission -------------------------------------------------------------------------

    def _fresh_name(self, hint: str) -> str:
        self.fresh += 1
        return f"{hint}__{self.fresh}"

    def _initializer(self, key: tuple[object, ...], hint: str, value: np.ndarray) -> str:
        name = self.cached_initializers.get(key)
        if name is None:
            name = self._fresh_name(hint)
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
            self.cached_initializers[key] = name
        return name

    def _const(self, value: np.ndarray, hint: str) -> str:
        """An initializer holding ``value`` (shared by every use of the same value)."""
        key = ("array", value.dtype.str, value.shape, value.tobytes())
        return self._initializer(key, hint, value)

    def _op(self, op_type: str, inputs: Sequence[str], hint: str, **attrs: Any) -> str:
        """Emits one node with a fresh output name and returns that name."""
        output = self._fresh_name(hint)
        self._node(op_type, inputs, output, **attrs)
        return output

    def _int64(self, values: Sequence[int]) -> str:
        key = ("int64", tuple(values))
        return self._initializer(key, "const_i64", np.asarray(values, dtype=np.int64))

    def _scalar(self, value: float) -> str:
        return self._initializer(("float", value), "const_f32", np.asarray(value, dtype=np.float32))

    def _node(self, op_type: str, inputs: Sequence[str], output: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))

    def _bind(self, index: int, nchw: bool) -> str:
        """Names the ONNX value of a TFLite tensor produced in the given layout."""
        nchw = nchw and len(self._shape(index)) == 4
        name = self.names[index] + ("__nchw" if nchw else "")
        self.values[index] = {nchw: name}
        return name

    def _value(self, index: int, nchw: bool) -> str:
        """The ONNX value of TFLite tensor ``index``, NCHW if asked and the tensor is 4-D.

        Constants become initializers (broadcast to 4-D first when NCHW is asked); activations
        are permuted to the asked layout once and reused.
        """
        shape = self._shape(index)
        constant = self._constant(index)
        if constant is not None:
            layout = self._layout_constant(constant, nchw)
            return self._initializer(("const", index, nchw), self.names[index], layout)
        layouts = self.values.get(index)
        if layouts is None:
            raise ModelLoadError(
                f"{self.source}: {self.where} reads {self.names[index]!r} "
                f"before any operator writes it"
            )
        nchw = nchw and len(shape) == 4
        if nchw not in layouts:
            source = layouts[not nchw]
            perm = _TO_NCHW if nchw else _TO_NHWC
            source_shape = shape if nchw else tuple(shape[i] for i in _TO_NCHW)
            target = self.names[index] + ("__nchw" if nchw else "")
            if target == source:  # a channels_first input read in TFLite's layout
                target += "__nhwc"
            self._permute(source, target, perm, source_shape)
            layouts[nchw] = target
        return layouts[nchw]

    def _layout_constant(self, value: np.ndarray, nchw: bool) -> np.ndarray:
        """A constant for an NCHW op (if ``nchw``): broadcast to 4-D as TFLite would, permuted."""
        if not nchw:
            return value
        if value.ndim > 4:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: a constant of rank {value.ndim} cannot broadcast "
                f"against an image tensor"
            )
        return value.reshape((1,) * (4 - value.ndim) + value.shape).transpose(_TO_NCHW)

    def _permute(
        self, source: str, target: str, perm: tuple[int, ...], shape: tuple[int, ...]
    ) -> None:
        """Transposes, or only reshapes when the permutation moves nothing but size-1 axes."""
        moved = [axis for axis in perm if shape[axis] != 1]
        if moved == sorted(moved):
            self._node("Reshape", [source, self._int64([shape[axis] for axis in perm])], target)
        else:
            self._node("Transpose", [source], target, perm=list(perm))

    def _prefers_nchw(self, indices: Sequence[int]) -> bool:
        """Whether an element-wise op over these tensors should run in NCHW.

        It does when every activation among them is 4-D and one of them already exists in NCHW.
        """
        activations = [i for i in indices if self._constant(i) is None]
        return all(len(self._shape(i)) == 4 for i in activations) and any(
            True in self.values.get(i, {}) for i in activations
        )

    def _emit(
        self,
        op_type: str,
        inputs: Sequence[str],
        output_index: int,
        nchw: bool,
        activation: int = ActivationFunctionType.NONE,
        **attrs: Any,
    ) -> None:
        """Emits one ONNX node writing TFLite tensor ``output_index``, then its fused activation."""
        output = self._bind(output_index, nchw)
        if activation == ActivationFunctionType.NONE:
            self._node(op_type, inputs, output, **attrs)
            return
        raw = self._fresh_name(output)
        self._node(op_type, inputs, raw, **attrs)
        if activation == ActivationFunctionType.RELU:
            self._node("Relu", [raw], output)
        elif activation == ActivationFunctionType.RELU6:
            self._node("Clip", [raw, self._scalar(0.0), self._scalar(6.0)], output)
        elif activation == ActivationFunctionType.RELU_N1_TO_1:
            self._node("Clip", [raw, self._scalar(-1.0), self._scalar(1.0)], output)
        else:
            # TFLite's float kernels quietly skip TANH and SIGN_BIT; do not guess.
            name = _ACTIVATION_NAMES.get(activation, str(activation))
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: fused activation {name} is not supported"
            )

    # --- operators -----------------------------------------------------------------------------

    def _conv(self, op: tflite.Operator) -> None:
        depthwise = self._op_code(op) == BuiltinOperator.DEPTHWISE_CONV_2D
        options = self._options(
            op, tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
        )
        x, w, out = op.Inputs(0), op.Inputs(1), op.Outputs(0)
        weights = self._required_constant(w, "the filter").astype(np.float32)
        in_shape, out_shape = self._shape(x), self._shape(out)
        if depthwise:
            # TFLite [1, KH, KW, C*M] -> ONNX [C*M, 1, KH, KW]; one group per input channel.
            onnx_weights = weights.transpose(3, 0, 1, 2)
            group = in_shape[3]
        else:
            # TFLite [O, KH, KW, I] -> ONNX [O, I, KH, KW].
            onnx_weights = weights.transpose(0, 3, 1, 2)
            group = 1
        strides = (options.StrideH(), options.StrideW())
        dilations = (options.DilationHFactor(), options.DilationWFactor())
        pads = _window_pads(
            self.source,
            self.where,
            in_shape[1:3],
            weights.shape[1:3],
            strides,
            dilations,
            options.Padding(),
            out_shape[1:3],
        )
        inputs = [
            self._value(x, nchw=True),
            self._initializer(("weights", w, depthwise), self.names[w], onnx_weights),
        ]
        if op.InputsLength() > 2 and op.Inputs(2) >= 0:
            b = op.Inputs(2)
            bias = self._required_constant(b, "the bias").astype(np.float32)
            inputs.append(self._initializer(("bias", b), self.names[b], bias))
        self._emit(
            "Conv",
            inputs,
            out,
            nchw=True,
            activation=options.FusedActivationFunction(),
            kernel_shape=list(weights.shape[1:3]),
            strides=list(strides),
            dilations=list(dilations),
            pads=pads,
            group=group,
        )

    def _pool(self, op: tflite.Operator) -> None:
        average = self._op_code(op) == BuiltinOperator.AVERAGE_POOL_2D
        options = self._options(op, tflite.Pool2DOptions)
        x, out = op.Inputs(0), op.Outputs(0)
        kernel = (options.FilterHeight(), options.FilterWidth())
        strides = (options.StrideH(), options.StrideW())
        pads = _window_pads(
            self.source,
            self.where,
            self._shape(x)[1:3],
            kernel,
            strides,
            (1, 1),
            options.Padding(),
            self._shape(out)[1:3],
        )
        # ONNX's pools leave padded cells out (AveragePool's count_include_pad defaults to 0),
        # as TFLite does.
        self._emit(
            "AveragePool" if average else "MaxPool",
            [self._value(x, nchw=True)],
            out,
            nchw=True,
            activation=options.FusedActivationFunction(),
            kernel_shape=list(kernel),
            strides=list(strides),
            pads=pads,
        )

    def _dequantize(self, op: tflite.Operator) -> None:
        x = op.Inputs(0)
        value = self._required_constant(x, "the input")
        if value.dtype != np.float16:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: only float16 constants can be dequantized, "
                f"{self.names[x]!r} is {value.dtype}"
            )
        self.constants[op.Outputs(0)] = value.astype(np.float32)

    def _densify(self, op: tflite.Operator) -> None:
        """A sparse constant (TFLite's DimensionMetadata: DENSE or CSR per dimension) made
        dense once, at conversion."""
        x = op.Inputs(0)
        tensor = self.graph.Tensors(x)
        sparsity = tensor.Sparsity()
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        dtype = _NUMPY_TYPES.get(tensor.Type())
        if sparsity is None or isinstance(data, int) or dtype is None:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: {self.names[x]!r} is not a sparse constant"
            )
        if not isinstance(sparsity.BlockMapAsNumpy(), int):
            raise UnsupportedOpError(f"{self.source}: {self.where}: block-sparse tensors are not "
                                     f"supported")
        values = np.frombuffer(data.tobytes(), dtype=dtype)
        shape = self._shape(x)
        order = [int(d) for d in sparsity.TraversalOrderAsNumpy()]
        # Walk the dimensions in traversal order: each level turns the positions of the level
        # above into positions (dense: parent * size + i; CSR: the parent's segment) and
        # coordinates along its dimension. The last level's positions index the values.
        positions = np.zeros(1, dtype=np.int64)
        coords = np.zeros((1, 0), dtype=np.int64)
        for level in range(sparsity.DimMetadataLength()):
            meta = sparsity.DimMetadata(level)
            if meta.Format() == tflite.DimensionType.DENSE:
                size = meta.DenseSize()
                along = np.tile(np.arange(size), len(positions))
                positions = np.repeat(positions * size, size) + along
                coords = np.column_stack([np.repeat(coords, size, axis=0), along])
            else:
                segments = self._sparse_index_vector(meta, "ArraySegments")
                indices = self._sparse_index_vector(meta, "ArrayIndices")
                counts = segments[positions + 1] - segments[positions]
                starts = np.repeat(segments[positions], counts)
                offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
                positions = starts + offsets
                coords = np.column_stack([np.repeat(coords, counts, axis=0), indices[positions]])
        if len(order) != len(shape) or positions.size != values.size:
            raise ModelLoadError(f"{self.source}: {self.where}: sparse tensor "
                                 f"{self.names[x]!r} does not match its shape {shape}")
        dense = np.zeros(shape, dtype=dtype)
        dense[tuple(coords[:, order.index(axis)] for axis in range(len(shape)))] = \
            values[positions]
        self.constants[op.Outputs(0)] = dense

    def _sparse_index_vector(self, meta: Any, field: str) -> np.ndarray:
        """A CSR dimension's segments or indices (a union of int32/uint16/uint8 vectors)."""
        kinds = {
            tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
            tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
            tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
        }
        kind = kinds.get(getattr(meta, f"{field}Type")())
        table = getattr(meta, field)()
        if kind is None or table is None:
            raise ModelLoadError(f"{self.source}: {self.where}: a CSR dimension has no {field}")
        vector = kind()
        vector.Init(table.Bytes, table.Pos)
        return np.asarray(vector.ValuesAsNumpy(), dtype=np.int64)

    def _unary(self, op: tflite.Operator) -> None:
        """Element-wise activations, in whatever layout their input has."""
        op_type = {BuiltinOperator.HARD_SWISH: "HardSwish", BuiltinOperator.LOGISTIC: "Sigmoid"}
        x = op.Inputs(0)
        nchw = self._prefers_nchw([x])
        self._emit(op_type[self._op_code(op)], [self._value(x, nchw)], op.Outputs(0), nchw)

    def _resize_bilinear(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.ResizeBilinearOptions)
        x, out = op.Inputs(0), op.Outputs(0)
        if options.AlignCorners() and options.HalfPixelCenters():
            raise UnsupportedOpError(f"{self.source}: {self.where}: align_corners together "
                                     f"with half_pixel_centers is not supported")
        # TFLite's three sampling grids are ONNX Resize's coordinate transformations.
        mode = "align_corners" if options.AlignCorners() else (
            "half_pixel" if options.HalfPixelCenters() else "asymmetric")
        out_shape = self._shape(out)
        sizes = [out_shape[0], out_shape[3], out_shape[1], out_shape[2]]
        self._emit(
            "Resize",
            [self._value(x, nchw=True), "", "", self._int64(sizes)],
            out,
            nchw=True,
            mode="linear",
            coordinate_transformation_mode=mode,
        )

    def _depth_to_space(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.DepthToSpaceOptions)
        block = options.BlockSize()
        out = op.Outputs(0)
        if self._readers(out) <= {BuiltinOperator.RESHAPE}:
            # Read in NHWC order only (a detector head's reshape into boxes): the input in NHWC
            # (onnxruntime's reorder out of its blocked layout writes that directly), then a
            # swap of two axes that moves whole rows of block * channels values. onnxruntime's
            # DepthToSpace and a Transpose to NHWC took 0.13 ms in the full-range detector's
            # 64-channel head.
            n, h, w, c = self._shape(out)
            x = self._op("Reshape", [self._value(op.Inputs(0), nchw=False),
                                     self._int64([n * h // block, w // block, block,
                                                  block * c])], "d2s_rows")
            # (n h, w, row, (column, c)) -> (n h, row, w, (column, c)): TFLite's (DCR) order.
            x = self._op("Transpose", [x], "d2s_nhwc", perm=[0, 2, 1, 3])
            self._emit("Reshape", [x, self._int64([n, h, w, c])], out, nchw=False)
            return
        # TFLite's channel order is (row, column, channel): ONNX's DCR mode.
        self._emit(
            "DepthToSpace",
            [self._value(op.Inputs(0), nchw=True)],
            op.Outputs(0),
            nchw=True,
            blocksize=block,
            mode="DCR",
        )

    def _readers(self, index: int) -> set[int]:
        """The builtin operator codes of the operators reading tensor ``index``."""
        graph = self.graph
        return {self._op_code(graph.Operators(i)) for i in range(graph.OperatorsLength())
                if index in graph.Operators(i).InputsAsNumpy().tolist()}

    def _prelu(self, op: tflite.Operator) -> None:
        x, out = op.Inputs(0), op.Outputs(0)
        alpha = self._required_constant(op.Inputs(1), "alpha").astype(np.float32)
        nchw = self._prefers_nchw([x])
        value = self._value(x, nchw)
        # PReLU(x) = x + (1 - alpha) * relu(-x), in ops onnxruntime fuses and keeps in its blocked
        # layout; its PRelu op (or relu/sub/mul/add) makes it reorder tensors around every call.
        negated = self._fresh_name(self.names[out])
        rectified = self._fresh_name(self.names[out])
        scaled = self._fresh_name(self.names[out])
        self._scale(value, np.array(-1.0, dtype=np.float32), self._shape(x), nchw, negated)
        self._node("Relu", [negated], rectified)
        self._scale(rectified, 1.0 - alpha, self._shape(x), nchw, scaled)
        self._emit("Add", [value, scaled], out, nchw)

    def _scale(
        self, value: str, factors: np.ndarray, shape: Sequence[int], nchw: bool, output: str
    ) -> None:
        """Writes ``value * factors``, a TFLite-layout constant that broadcasts to ``shape``.

        Per-channel factors on an NCHW tensor become a 1x1 depthwise convolution, which
        onnxruntime runs in its blocked NCHWc layout together with the convolutions around it.
        """
        channels = shape[-1]
        per_channel = factors.size in (1, channels) and all(d == 1 for d in factors.shape[:-1])
        if nchw and per_channel:
            vector = np.broadcast_to(factors.reshape(-1), (channels,)).astype(np.float32)
            weights = self._initializer(
                ("depthwise scale", vector.tobytes()), "scale", vector.reshape(channels, 1, 1, 1)
            )
            self._node("Conv", [value, weights], output, kernel_shape=[1, 1], group=channels)
        else:
            layout = self._layout_constant(factors.astype(np.float32), nchw)
            constant = self._initializer(("mul", layout.shape, layout.tobytes()), "scale", layout)
            self._node("Mul", [value, constant], output)

    def _add(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.AddOptions)
        a, b = op.Inputs(0), op.Inputs(1)
        nchw = self._prefers_nchw([a, b])
        self._emit(
            "Add",
            [self._value(a, nchw), self._value(b, nchw)],
            op.Outputs(0),
            nchw,
            activation=options.FusedActivationFunction(),
        )

    def _relu(self, op: tflite.Operator) -> None:
        x = op.Inputs(0)
        nchw = self._prefers_nchw([x])
        self._emit("Relu", [self._value(x, nchw)], op.Outputs(0), nchw)

    def _pad(self, op: tflite.Operator) -> None:
        x, out = op.Inputs(0), op.Outputs(0)
        paddings = self._required_constant(op.Inputs(1), "the paddings").astype(np.int64)
        rank = len(self._shape(x))
        if paddings.shape != (rank, 2):
            raise ModelLoadError(
                f"{self.source}: {self.where}: paddings of shape {paddings.shape} "
                f"for a rank-{rank} input"
            )
        # A 4-D PAD runs in NCHW even on an NHWC value (the model's input): onnxruntime then folds
        # the zeros into the convolution after it, which reads NCHW anyway.
        nchw = rank == 4
        if nchw and not paddings[:3].any():
            # Zero channels around an NCHW tensor: a 1x1 convolution with one-hot weights gives
            # the same numbers and, unlike Pad, keeps onnxruntime in its blocked NCHWc layout.
            channels = self._shape(x)[3]
            weights = np.zeros(
                (channels + int(paddings[3].sum()), channels, 1, 1), dtype=np.float32
            )
            weights[np.arange(channels) + paddings[3, 0], np.arange(channels)] = 1.0
            one_hot = self._initializer(("channel pad", out), "channel_pad", weights)
            self._emit("Conv", [self._value(x, nchw), one_hot], out, nchw, kernel_shape=[1, 1])
            return
        if nchw:
            paddings = paddings[list(_TO_NCHW)]
        pads = [int(p) for p in paddings[:, 0]] + [int(p) for p in paddings[:, 1]]
        self._emit("Pad", [self._value(x, nchw), self._int64(pads)], out, nchw, mode="constant")

    def _reshape(self, op: tflite.Operator) -> None:
        # TFLite reshapes in NHWC element order; the declared output shape is static.
        out = op.Outputs(0)
        shape = self._int64(self._shape(out))
        self._emit("Reshape", [self._value(op.Inputs(0), nchw=False), shape], out, nchw=False)

    def _concatenation(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.ConcatenationOptions)
        inputs = [op.Inputs(i) for i in range(op.InputsLength())]
        out = op.Outputs(0)
        rank = len(self._shape(out))
        axis = options.Axis() % rank
        if options.FusedActivationFunction() != ActivationFunctionType.NONE:
            # TFLite's kernel refuses these and its XNNPACK delegate ignores them.
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: fused activations are not supported"
            )
        nchw = rank == 4 and self._prefers_nchw(inputs)
        self._emit(
            "Concat",
            [self._value(i, nchw) for i in inputs],
            out,
            nchw,
            axis=_NCHW_AXIS[axis] if nchw else axis,
        )

    def _mul(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.MulOptions)
        a, b = op.Inputs(0), op.Inputs(1)
        nchw = self._prefers_nchw([a, b])
        self._emit(
            "Mul",
            [self._value(a, nchw), self._value(b, nchw)],
            op.Outputs(0),
            nchw,
            activation=options.FusedActivationFunction(),
        )

    def _mean(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.ReducerOptions)
        x, out = op.Inputs(0), op.Outputs(0)
        rank = len(self._shape(x))
        axes = sorted({int(a) % rank for a in self._required_constant(op.Inputs(1), "the axes")
                       .reshape(-1)})
        keep = bool(options.KeepDims())
        # A kept-rank image reduction stays NCHW; anything else is computed in TFLite's layout.
        nchw = keep and rank == 4 and self._prefers_nchw([x])
        self._emit(
            "ReduceMean",
            [self._value(x, nchw)],
            out,
            nchw,
            axes=[_NCHW_AXIS[a] for a in axes] if nchw else axes,
            keepdims=int(keep),
        )

    def _strided_slice(self, op: tflite.Operator) -> None:
        options = self._options(op, tflite.StridedSliceOptions)
        x, out = op.Inputs(0), op.Outputs(0)
        shape = self._shape(x)
        begin = self._required_constant(op.Inputs(1), "begin").astype(np.int64)
        end = self._required_constant(op.Inputs(2), "end").astype(np.int64)
        strides = self._required_constant(op.Inputs(3), "strides").astype(np.int64)
        if options.EllipsisMask() or options.NewAxisMask() or options.Offset():
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: ellipsis, new-axis and offset slices are not "
                f"supported"
            )
        starts, ends = [], []
        for axis, (b, e, step) in enumerate(zip(begin, end, strides, strict=True)):
            if options.ShrinkAxisMask() >> axis & 1:
                # One element, TFLite's begin (negative counts from the end).
                b = b % shape[axis]
                starts.append(int(b))
                ends.append(int(b) + 1)
                continue
            # A masked bound is the whole axis in the stride's direction; ONNX's Slice clamps
            # out-of-range bounds as TFLite does.
            lowest, highest = (0, shape[axis]) if step > 0 else (shape[axis] - 1, -shape[axis] - 1)
            starts.append(lowest if options.BeginMask() >> axis & 1 else int(b))
            ends.append(highest if options.EndMask() >> axis & 1 else int(e))
        axes = list(range(len(shape)))
        sliced = self._op(
            "Slice",
            [
                self._value(x, nchw=False),
                self._int64(starts),
                self._int64(ends),
                self._int64(axes),
                self._int64([int(v) for v in strides]),
            ],
            self.names[out],
        )
        # Shrunk axes disappear; the declared output shape says what is left.
        self._emit("Reshape", [sliced, self._int64(self._shape(out))], out, nchw=False)

    # --- MediaPipe's custom operators (mediapipe/util/tflite/operations/) -----------------------

    def _landmarks_to_transform_matrix(self, op: tflite.Operator) -> None:
        """Landmarks2TransformMatrix v2: the 4x4 matrix mapping a crop's pixels to the features.

        The crop is the box of a landmark subset in a frame rotated so that the line from the
        left to the right rotation landmark has ``target_rotation_radians``; scaled by
        ``scale_x/y`` and sampled at ``output_width`` x ``output_height``. With ``c, s`` the
        cosine and sine of that rotation (taken from the landmarks' difference vector, so no
        atan2 is needed), the matrix is ``shift(center) @ R(-r) @ scale @ shift(-size / 2)``.

        Written as a dozen small nodes (each costs onnxruntime about a microsecond whatever its
        size): the rotation and its negation come out of one row normalization, so one
        ReduceMax gives the box's high and low corners, and every other step is a constant
        linear map folded into a MatMul.
        """
        attrs = self._custom_options(op)
        x, out = op.Inputs(0), op.Outputs(0)
        shape = self._shape(x)
        if len(shape) != 3 or shape[0] != 1 or shape[2] < 2:
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: landmarks of shape {shape}; expected (1, N, 2+)"
            )
        count, dims = shape[1], shape[2]
        left, right = int(attrs["left_rotation_idx"]), int(attrs["right_rotation_idx"])
        subset = [int(i) for i in attrs["subset_idxs"]]
        width, height = int(attrs["output_width"]), int(attrs["output_height"])
        scale_x, scale_y = float(attrs["scale_x"]), float(attrs["scale_y"])
        target = float(attrs.get("target_rotation_radians", 0.0))
        if min([left, right, *subset]) < 0 or max([left, right, *subset]) >= count:
            raise ModelLoadError(f"{self.source}: {self.where}: landmark index out of range")
        hint = self.names[out]
        # The x, y of the subset, then of the rotation landmarks the subset lacks: (K, 2).
        rows = subset + [i for i in dict.fromkeys([left, right]) if i not in subset]
        flat = self._op("Reshape", [self._value(x, nchw=False), self._int64([count * dims])],
                        hint)
        where = np.array([[dims * i, dims * i + 1] for i in rows], dtype=np.int64)
        xy = self._op("Gather", [flat, self._const(where, "landmark_xy")], hint, axis=0)
        # (dx, dy) from the left to the right landmark. A tiny x offset stands in for
        # atan2(0, 0) = 0 when they coincide (its square is still a normal float32); against
        # any real distance it is far below float resolution.
        pick = np.zeros((1, len(rows)), dtype=np.float32)
        pick[0, rows.index(left)] -= 1.0
        pick[0, rows.index(right)] += 1.0
        delta = self._op("Gemm", [self._const(pick, "pick"), xy,
                                  self._const(np.array([[1e-18, 0.0]], np.float32), "no_turn")],
                         hint)  # (1, 2)
        # r = target - angle: (cos r, sin r) = (cos a, sin a) @ [[cos t, sin t], [sin t, -cos t]],
        # both scaled by the distance. Laid out as the rows of [R(-r) | -R(-r)] with
        # R(-r) = [[c, s], [-s, c]]; each row's norm is sqrt(2) times the distance, so the row
        # normalization leaves [R(-r) | -R(-r)] / sqrt(2).
        ct, st = np.cos(target), np.sin(target)
        turn = np.array([[ct, st], [st, -ct]])
        both = np.array([[1, 0, -1, 0, 0, 1, 0, -1], [0, 1, 0, -1, -1, 0, 1, 0]])
        rotations = self._op(
            "LpNormalization",
            [self._op("Reshape", [self._op("MatMul", [delta, self._const(
                (turn @ both).astype(np.float32), "turn")], hint), self._int64([2, 4])], hint)],
            hint, axis=1, p=2,
        )  # (2, 4)
        # Points rotated by r (row vectors times R(-r)), and negated: (K, 4); the column
        # maxima over the subset are the box's (high, -low) / sqrt(2).
        rotated = self._op("MatMul", [xy, rotations], hint)
        if len(rows) > len(subset):
            rotated = self._op("Slice", [rotated, self._int64([0]), self._int64([len(subset)]),
                                         self._int64([0])], hint)
        corners = self._op("ReduceMax", [rotated], hint, axes=[0], keepdims=1)  # (1, 4)
        # The matrix's top rows are R(-r) @ [[w', 0, 0, vx], [0, h', 0, vy]] with (w', h') the
        # box size times scale / output size and v = middle - size * scale / 2 (the box centre
        # and the shift by minus half the output, both in the rotated frame): linear in the
        # corners, so one constant (4, 16) map gives the (4, 4) right factor for
        # [R(-r) | -R(-r)] / sqrt(2) (its last two rows zero).
        linear = np.zeros((4, 16))
        for i in range(4):
            m = np.zeros(4)
            m[i] = 1.0
            high, low = np.sqrt(2) * m[:2], -np.sqrt(2) * m[2:]
            size, middle = high - low, (high + low) / 2
            shift = middle - size * np.array([scale_x, scale_y]) / 2
            box = np.zeros((4, 4))
            box[0, 0], box[1, 1] = size * [scale_x / width, scale_y / height]
            box[:2, 3] = shift
            linear[i] = (np.sqrt(2) * box).ravel()
        factor = self._op(
            "Reshape",
            [self._op("MatMul", [corners, self._const(linear.astype(np.float32), "box_to_matrix")],
                      hint), self._int64([1, 4, 4])],
            hint,
        )
        top = self._op("MatMul", [rotations, factor], hint)  # (1, 2, 4)
        bottom = np.array([[[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]], dtype=np.float32)
        self._emit("Concat", [top, self._const(bottom, "matrix_bottom")], out, nchw=False,
                   axis=1)

    def _transform_tensor_bilinear(self, op: tflite.Operator) -> None:
        """TransformTensorBilinear v2: samples an NHWC tensor at matrix-mapped output pixels.

        Output pixel (x, y) reads input position ``M @ (x + 0.5, y + 0.5, 0, 1) - 0.5``
        bilinearly, neighbours outside the input reading 0; a position outside
        ``[0, W - 1] x [0, H - 1]`` gives 0. The four neighbours of every output pixel are
        gathered as rows of the NHWC input and summed with their weights (onnxruntime's
        GridSample took about 3x longer on the attention model's 16x16 crops: it works out
        each position's weights again for every channel).

        Every later TransformTensorBilinear of the same input and output size whose matrix
        already exists (the attention model's three crops of one feature map) is sampled in
        the same nodes, the matrices stacked: the node count, not the arithmetic, is what
        these small crops cost.
        """
        group = [op, *self._same_crops(op)]
        x = op.Inputs(0)
        _, in_h, in_w, channels = self._shape(x)
        _, out_h, out_w, _ = self._shape(op.Outputs(0))
        count = len(group)
        hint = self.names[op.Outputs(0)]
        ys, xs = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
        pixels = np.stack(
            [xs.ravel() + 0.5, ys.ravel() + 0.5, np.zeros(xs.size), np.ones(xs.size)], axis=1
        ).astype(np.float32)  # (P, 4), P = out_h * out_w
        matrices = [self._value(member.Inputs(1), nchw=False) for member in group]
        stacked = matrices[0] if count == 1 else self._op("Concat", matrices, hint, axis=0)
        rows = self._op("Slice", [stacked, self._int64([0]), self._int64([2]), self._int64([1])],
                        hint)  # (G, 2, 4): each matrix's first two rows
        position = self._op(
            "Sub",
            [
                self._op(
                    "MatMul",
                    [self._const(pixels, "pixel_centers"),
                     self._op("Transpose", [rows], hint, perm=[0, 2, 1])],
                    hint,
                ),
                self._scalar(0.5),
            ],
            hint,
        )  # (G, P, 2): input x, y
        limits = self._const(np.array([in_w - 1, in_h - 1], dtype=np.float32), "limits")
        zero = self._scalar(0.0)
        inside = self._op(
            "ReduceMin",
            [
                self._op(
                    "Cast",
                    [
                        self._op(
                            "And",
                            [
                                self._op("GreaterOrEqual", [position, zero], hint),
                                self._op("LessOrEqual", [position, limits], hint),
                            ],
                            hint,
                        )
                    ],
                    hint,
                    to=TensorProto.FLOAT,
                )
            ],
            hint,
            axes=[2],
            keepdims=1,
        )  # (G, P, 1): 1 where the position lies in the input
        # The four neighbours (dx, dy) of each position: their row-major indices, from the
        # clamped coordinates (x0, y0, x1, y1) (an index outside the input only comes with a
        # zero weight or outside the mask); gathered at once as NHWC rows, neighbour first,
        # and summed with their bilinear weights.
        points = count * out_h * out_w
        neighbours = ((0, 0), (1, 0), (0, 1), (1, 1))
        corner = self._op("Floor", [position], hint)  # (G, P, 2)
        coords = self._op(
            "Concat", [corner, self._op("Add", [corner, self._scalar(1.0)], hint)], hint, axis=2
        )  # (G, P, 4): x0, y0, x1, y1
        coords = (
            self._op("Clip", [coords, zero, self._scalar(float(in_w - 1))], hint)
            if in_w == in_h  # one bound for x and y: a single Clip
            else self._op(
                "Min",
                [
                    self._op("Max", [coords, zero], hint),
                    self._const(np.array([in_w - 1, in_h - 1] * 2, np.float32), "limits4"),
                ],
                hint,
            )
        )
        to_index = np.zeros((4, 4), np.float32)  # column k: x_dx + W * y_dy
        for k, (dx, dy) in enumerate(neighbours):
            to_index[2 * dx, k] = 1.0
            to_index[1 + 2 * dy, k] = in_w
        flat = self._op(
            "Reshape",
            [
                self._op(
                    "Transpose",
                    [
                        self._op(
                            "Cast",
                            [self._op("MatMul", [coords, self._const(to_index, "to_index")],
                                      hint)],
                            hint,
                            to=TensorProto.INT64,
                        )
                    ],
                    hint,
                    perm=[2, 0, 1],
                ),
                self._int64([-1]),
            ],
            hint,
        )  # (4 G P,), neighbour first
        # Weights: with F = (1 - fx, 1 - fy, fx, fy), neighbour k's is F[x pick] * F[y pick].
        fraction = self._op("Sub", [position, corner], hint)  # (G, P, 2)
        spans = self._op(
            "Concat", [self._op("Sub", [self._scalar(1.0), fraction], hint), fraction], hint,
            axis=2,
        )  # (G, P, 4)
        pick_x = np.zeros((4, 4), np.float32)
        pick_y = np.zeros((4, 4), np.float32)
        for k, (dx, dy) in enumerate(neighbours):
            pick_x[2 * dx, k] = 1.0
            pick_y[1 + 2 * dy, k] = 1.0
        weights = self._op(
            "Reshape",
            [
                self._op(
                    "Transpose",
                    [
                        self._op(
                            "Mul",
                            [
                                self._op(
                                    "Mul",
                                    [
                                        self._op("MatMul",
                                                 [spans, self._const(pick_x, "pick_x")], hint),
                                        self._op("MatMul",
                                                 [spans, self._const(pick_y, "pick_y")], hint),
                                    ],
                                    hint,
                                ),
                                inside,
                            ],
                            hint,
                        )
                    ],
                    hint,
                    perm=[2, 0, 1],
                ),
                self._int64([4 * points, 1]),
            ],
            hint,
        )  # (4 G P, 1), neighbour first
        rows_of = self._op(
            "Reshape", [self._value(x, nchw=False), self._int64([in_h * in_w, channels])], hint
        )
        picked = self._op("Mul", [self._op("Gather", [rows_of, flat], hint, axis=0), weights],
                          hint)  # (4 G P, C)
        # The four neighbours' sum as one small MatMul (onnxruntime's ReduceSum over a
        # leading axis, or a batched 1x4 by 4xC MatMul, took 2-5x longer).
        summed = self._op(
            "MatMul",
            [
                self._const(np.ones((1, 4), np.float32), "four_ones"),
                self._op("Reshape", [picked, self._int64([4, points * channels])], hint),
            ],
            hint,
        )
        if count == 1:
            self._emit("Reshape", [summed, self._int64([1, out_h, out_w, channels])],
                       op.Outputs(0), nchw=False)
            return
        # The crops as a batch in NCHW, split into images: the convolutions that read them
        # need NCHW anyway, and branches.merge_branches stacks the branches that start there.
        crops = self._op(
            "Transpose",
            [self._op("Reshape", [summed, self._int64([count, out_h, out_w, channels])], hint)],
            hint,
            perm=list(_TO_NCHW),
        )
        outputs = [self._bind(member.Outputs(0), nchw=True) for member in group]
        self.nodes.append(helper.make_node("Split", [crops, self._int64([1] * count)], outputs,
                                           axis=0))

    def _same_crops(self, op: tflite.Operator) -> list[tflite.Operator]:
        """The later TransformTensorBilinear operators that sample ``op``'s input at its output
        size with a matrix that exists now; marked as converted."""
        attrs = self._custom_options(op)
        x, out = op.Inputs(0), op.Outputs(0)
        _, out_h, out_w, _ = self._shape(out)
        if (int(attrs["output_height"]), int(attrs["output_width"])) != (out_h, out_w):
            raise ModelLoadError(
                f"{self.source}: {self.where}: output size {out_h}x{out_w} does not match the "
                f"options' {attrs['output_height']}x{attrs['output_width']}"
            )
        found = []
        for index in range(self.index + 1, self.graph.OperatorsLength()):
            if index in self.converted:
                continue
            other = self.graph.Operators(index)
            code = self.model.OperatorCodes(other.OpcodeIndex())
            if (self._op_code(other) == BuiltinOperator.CUSTOM
                    and code.CustomCode() == b"TransformTensorBilinear" and code.Version() == 2
                    and other.Inputs(0) == x
                    and self._shape(other.Outputs(0)) == self._shape(out)
                    and self._custom_options(other) == attrs
                    and (other.Inputs(1) in self.values
                         or self._constant(other.Inputs(1)) is not None)):
                found.append(other)
                self.converted.add(index)
        return found

    def _transform_landmarks(self, op: tflite.Operator) -> None:
        """TransformLandmarks v2: x, y of each landmark through the matrix's first two rows
        (``M @ (x, y, 0, 1)``); a third coordinate passes through unchanged.

        One MatMul of the landmarks padded with a 1, by a (D + 1, D) matrix gathered from M's
        entries (and a 0 and a 1 for the third coordinate).
        """
        x, matrix, out = op.Inputs(0), op.Inputs(1), op.Outputs(0)
        shape = self._shape(x)
        if len(shape) != 3 or shape[2] not in (2, 3):
            raise UnsupportedOpError(
                f"{self.source}: {self.where}: landmarks of shape {shape}; expected (1, N, 2|3)"
            )
        hint = self.names[out]
        # M's entries flattened (row-major, M[i][j] at 4 i + j), then a 0 and a 1.
        entries = self._op(
            "Concat",
            [self._op("Reshape", [self._value(matrix, nchw=False), self._int64([16])], hint),
             self._const(np.array([0.0, 1.0], np.float32), "zero_one")],
            hint,
            axis=0,
        )
        zero, one = 16, 17
        # Rows: the factors of x, y (, z), 1; columns: x', y' (, z').
        pick = (
            [[0, 4], [1, 5], [3, 7]]
            if shape[2] == 2
            else [[0, 4, zero], [1, 5, zero], [zero, zero, one], [3, 7, zero]]
        )
        factors = self._op("Gather", [entries, self._const(np.array(pick, np.int64), "pick")],
                           hint, axis=0)
        padded = self._op(
            "Pad",
            [self._value(x, nchw=False), self._int64([0, 0, 0, 0, 0, 1]), self._scalar(1.0)],
            hint,
            mode="constant",
        )
        self._emit("MatMul", [padded, factors], out, nchw=False)

    def _transpose_conv_bias(self, op: tflite.Operator) -> None:
        """Convolution2DTransposeBias: TFLite's transposed convolution plus a bias, with
        TfLiteTransposeConvParams (padding, stride width, stride height) as raw options."""
        raw = op.CustomOptionsAsNumpy()
        if isinstance(raw, int) or raw.size < 12:
            raise ModelLoadError(f"{self.source}: {self.where}: missing transposed convolution "
                                 f"parameters")
        padding, stride_w, stride_h = struct.unpack_from("<iii", raw.tobytes())
        x, w, b, out = op.Inputs(0), op.Inputs(1), op.Inputs(2), op.Outputs(0)
        weights = self._required_constant(w, "the filter").astype(np.float32)  # OHWI
        bias = self._required_constant(b, "the bias").astype(np.float32)
        _, in_h, in_w, _ = self._shape(x)
        _, kernel_h, kernel_w, _ = weights.shape
        pads_hw = []
        for size, kernel, stride in ((in_h, kernel_h, stride_h), (in_w, kernel_w, stride_w)):
            # TfLitePadding: 1 SAME, 2 VALID. SAME trims what overhangs the input's last step.
            total = max(0, kernel - (size - 1) % stride - 1) if padding == 1 else 0
            if padding not in (1, 2):
                raise UnsupportedOpError(f"{self.source}: {self.where}: unknown padding "
                                         f"{padding}")
            pads_hw.append((total // 2, total - total // 2, (size - 1) * stride + kernel - total))
        declared = self._shape(out)[1:3]
        if tuple(p[2] for p in pads_hw) != tuple(declared):
            raise ModelLoadError(
                f"{self.source}: {self.where}: output size {declared} does not match the "
                f"transposed convolution's {tuple(p[2] for p in pads_hw)}"
            )
        self._emit(
            "ConvTranspose",
            [
                self._value(x, nchw=True),
                # OHWI -> ONNX's (in, out, kh, kw).
                self._initializer(("transpose weights", w), self.names[w],
                                  weights.transpose(3, 0, 1, 2)),
                self._initializer(("bias", b), self.names[b], bias),
            ],
            out,
            nchw=True,
            kernel_shape=[kernel_h, kernel_w],
            strides=[stride_h, stride_w],
            pads=[pads_hw[0][0], pads_hw[1][0], pads_hw[0][1], pads_hw[1][1]],
        )
