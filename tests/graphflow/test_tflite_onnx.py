"""Tests of the .tflite -> ONNX converter against the TFLite interpreter (ai_edge_litert)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from ai_edge_litert.interpreter import Interpreter
from tflite.ActivationFunctionType import ActivationFunctionType as Act
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflite.Padding import Padding
from tflite.TensorType import TensorType
from tflitekit import TinyModel

from graphflow import tflite_onnx
from graphflow.tflite_onnx import (
    MODELS_DIR,
    ModelLoadError,
    TensorSpec,
    UnsupportedOpError,
    convert_tflite,
    create_session,
    load_onnx_for,
    resolve_model_path,
    tflite_io,
    widen,
)

DETECTOR = MODELS_DIR / "face_detection_short_range.tflite"
LANDMARKS = MODELS_DIR / "face_landmark.tflite"
# Models ai_edge_litert runs too (its XNNPACK delegate has the selfie models' custom layer).
FULL_RANGE = MODELS_DIR / "face_detection_full_range_sparse.tflite"
SELFIE = MODELS_DIR / "selfie_segmentation.tflite"
SELFIE_LANDSCAPE = MODELS_DIR / "selfie_segmentation_landscape.tflite"
ATOL = 1e-3


def _tflite_outputs(model: Path | bytes, x: np.ndarray) -> list[np.ndarray]:
    if isinstance(model, Path):
        interpreter = Interpreter(model_path=str(model), num_threads=1)
    else:
        interpreter = Interpreter(model_content=model, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]


def _onnx_outputs(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return list(session.run(None, {session.get_inputs()[0].name: x}))


def _structured_inputs(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Images in the [-1, 1] range the face models take, random and structured."""
    _, height, width, channels = shape
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = np.stack([xs / (width - 1), ys / (height - 1), (xs + ys) / (width + height - 2)], -1)
    disc = (((xs - width / 2) ** 2 + (ys - height / 2) ** 2) < (width / 3) ** 2).astype(np.float32)
    images = {
        "uniform": rng.uniform(-1.0, 1.0, shape),
        "gaussian": np.clip(rng.normal(0.0, 0.5, shape), -1.0, 1.0),
        "zeros": np.zeros(shape),
        "ones": np.ones(shape),
        "ramp": ramp[None] * 2.0 - 1.0,
        "disc": np.repeat(disc[None, :, :, None], channels, axis=3) * 1.6 - 0.8,
        "checker": np.repeat(((xs // 8 + ys // 8) % 2)[None, :, :, None], channels, axis=3) * 2.0
        - 1.0,
    }
    return {name: image.astype(np.float32) for name, image in images.items()}


@pytest.mark.parametrize("path", [DETECTOR, LANDMARKS, FULL_RANGE, SELFIE, SELFIE_LANDSCAPE],
                         ids=lambda p: p.stem)
def test_models_match_tflite(path: Path) -> None:
    model = convert_tflite(path)
    inputs, outputs = tflite_io(path)
    assert [i.name for i in model.graph.input] == [spec.name for spec in inputs]
    assert [o.name for o in model.graph.output] == [spec.name for spec in outputs]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for name, x in _structured_inputs(inputs[0].shape).items():
        expected = _tflite_outputs(path, x)
        got = session.run(None, {inputs[0].name: x})
        for spec, want, have in zip(outputs, expected, got, strict=True):
            assert have.shape == want.shape == spec.shape, (name, spec.name)
            np.testing.assert_allclose(
                have, want, rtol=0, atol=ATOL, err_msg=f"{name}: {spec.name}"
            )


@pytest.mark.parametrize("path", [DETECTOR, LANDMARKS, FULL_RANGE, SELFIE, SELFIE_LANDSCAPE],
                         ids=lambda p: p.stem)
def test_channels_first_inputs_take_planes_and_give_tflites_outputs(path: Path) -> None:
    """A ``channels_first`` conversion declares its image input NCHW, lists it in the model's
    metadata, starts without a transpose, and gives TFLite's outputs for the same images."""
    model = convert_tflite(path, channels_first=True)
    (spec,), outputs = tflite_io(path)
    n, h, w, c = spec.shape
    (declared,) = model.graph.input
    assert declared.name == spec.name
    assert [d.dim_value for d in declared.type.tensor_type.shape.dim] == [n, c, h, w]
    assert {p.key: p.value for p in model.metadata_props} == {
        tflite_onnx.CHANNELS_FIRST_KEY: spec.name}
    assert [o.name for o in model.graph.output] == [o.name for o in outputs]
    assert "Transpose" not in [n.op_type for n in model.graph.node if spec.name in n.input]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for name, x in _structured_inputs(spec.shape).items():
        got = session.run(None, {spec.name: np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
        for out, want, have in zip(outputs, _tflite_outputs(path, x), got, strict=True):
            assert have.shape == want.shape == out.shape, (name, out.name)
            np.testing.assert_allclose(have, want, rtol=0, atol=ATOL, err_msg=f"{name}: {out.name}")


def test_face_model_interfaces() -> None:
    assert tflite_io(DETECTOR) == (
        (TensorSpec("input", (1, 128, 128, 3), "float32"),),
        (
            TensorSpec("regressors", (1, 896, 16), "float32"),
            TensorSpec("classificators", (1, 896, 1), "float32"),
        ),
    )
    assert tflite_io(LANDMARKS) == (
        (TensorSpec("input_1", (1, 192, 192, 3), "float32"),),
        (
            TensorSpec("conv2d_21", (1, 1, 1, 1404), "float32"),
            TensorSpec("conv2d_31", (1, 1, 1, 1), "float32"),
        ),
    )


def test_layout_is_transposed_once_at_each_end() -> None:
    """Only the input and the output heads change layout; no per-op transposes."""
    detector = [n.op_type for n in convert_tflite(DETECTOR).graph.node]
    landmarks = [n.op_type for n in convert_tflite(LANDMARKS).graph.node]
    # Detector: the input, and the four heads before their NHWC reshapes.
    assert detector.count("Transpose") == 5
    # Landmarks: the input; its 1x1 outputs need only a reshape.
    assert landmarks.count("Transpose") == 1
    assert "PRelu" not in landmarks and "Pad" not in landmarks + detector


def test_zero_pads_fold_into_the_convolutions_after_them(tmp_path: Path) -> None:
    """The full-range detector pads its NHWC input before its first convolution: converted,
    that PAD runs on NCHW, where onnxruntime folds it (and every other) into the convolution."""
    model = convert_tflite(FULL_RANGE)
    assert "Pad" in [n.op_type for n in model.graph.node]
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    ort.InferenceSession(model.SerializeToString(), options,
                         providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    assert "Pad" not in [n.op_type for n in optimized.graph.node]


# --- tiny single-purpose models ------------------------------------------------------------------


def _check_tiny(tmp_path: Path, data: bytes, x: np.ndarray) -> onnx.ModelProto:
    """Converts a tiny model and checks it against the interpreter; returns the ONNX model."""
    path = tmp_path / "tiny.tflite"
    path.write_bytes(data)
    model = convert_tflite(path)
    expected = _tflite_outputs(data, x)
    got = _onnx_outputs(model, x)
    for want, have in zip(expected, got, strict=True):
        assert have.shape == want.shape
        np.testing.assert_allclose(have, want, rtol=0, atol=1e-5)
    return model


RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def _own_random_numbers() -> None:
    """Each test draws the numbers it draws alone, whichever tests ran before it (with -k,
    the full-range bottleneck's random weights once grew its outputs past the tolerance)."""
    RNG.bit_generator.state = np.random.default_rng(3).bit_generator.state


def _uniform(*shape: int) -> np.ndarray:
    return RNG.uniform(-1.0, 1.0, shape).astype(np.float32)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "padding", "activation"),
    [
        ((7, 9), (3, 3), (2, 2), (1, 1), Padding.SAME, Act.NONE),  # odd sizes: asymmetric pads
        ((8, 8), (5, 5), (2, 2), (1, 1), Padding.SAME, Act.RELU),
        ((6, 11), (3, 2), (1, 3), (1, 1), Padding.SAME, Act.RELU6),
        ((9, 9), (3, 3), (1, 1), (2, 2), Padding.VALID, Act.RELU_N1_TO_1),
        ((10, 7), (3, 3), (3, 2), (2, 1), Padding.SAME, Act.RELU),
    ],
)
def test_conv_2d(
    tmp_path: Path,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    padding: int,
    activation: int,
) -> None:
    def out(n: int, k: int, s: int, d: int) -> int:
        return -(-n // s) if padding == Padding.SAME else -(-(n - (k - 1) * d) // s)

    oh, ow = (out(n, k, s, d) for n, k, s, d in zip(size, kernel, stride, dilation, strict=True))
    m = TinyModel()
    x = m.tensor((1, *size, 3))
    w = m.tensor((4, *kernel, 3), _uniform(4, *kernel, 3) * 3)
    bias = m.tensor((4,), _uniform(4))
    y = m.tensor((1, oh, ow, 4))
    m.op(
        Op.CONV_2D,
        [x, w, bias],
        [y],
        "Conv2DOptions",
        Padding=padding,
        StrideH=stride[0],
        StrideW=stride[1],
        DilationHFactor=dilation[0],
        DilationWFactor=dilation[1],
        FusedActivationFunction=activation,
    )
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, *size, 3))


@pytest.mark.parametrize(("multiplier", "stride"), [(1, 1), (2, 2), (3, 1)])
def test_depthwise_conv_2d_with_float16_weights(
    tmp_path: Path, multiplier: int, stride: int
) -> None:
    m = TinyModel()
    x = m.tensor((1, 9, 8, 2))
    w16 = m.tensor((1, 3, 3, 2 * multiplier), _uniform(1, 3, 3, 2 * multiplier), TensorType.FLOAT16)
    b16 = m.tensor((2 * multiplier,), _uniform(2 * multiplier), TensorType.FLOAT16)
    w, bias = m.tensor((1, 3, 3, 2 * multiplier)), m.tensor((2 * multiplier,))
    y = m.tensor((1, -(-9 // stride), -(-8 // stride), 2 * multiplier))
    m.op(Op.DEQUANTIZE, [w16], [w])
    m.op(Op.DEQUANTIZE, [b16], [bias])
    m.op(
        Op.DEPTHWISE_CONV_2D,
        [x, w, bias],
        [y],
        "DepthwiseConv2DOptions",
        Padding=Padding.SAME,
        StrideH=stride,
        StrideW=stride,
        DepthMultiplier=multiplier,
        DilationHFactor=1,
        DilationWFactor=1,
        FusedActivationFunction=Act.RELU,
    )
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 9, 8, 2))


@pytest.mark.parametrize(("size", "padding"), [((5, 7), Padding.SAME), ((6, 9), Padding.VALID)])
def test_max_pool_ignores_padding(tmp_path: Path, size: tuple[int, int], padding: int) -> None:
    out = [-(-n // 2) if padding == Padding.SAME else (n - 3) // 2 + 1 for n in size]
    m = TinyModel()
    x, y = m.tensor((1, *size, 3)), m.tensor((1, *out, 3))
    m.op(
        Op.MAX_POOL_2D,
        [x],
        [y],
        "Pool2DOptions",
        Padding=padding,
        StrideH=2,
        StrideW=2,
        FilterHeight=3,
        FilterWidth=3,
    )
    # All negative: a padded zero taking part in the max would show.
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, *size, 3) - 2.0)


def _conv_1x1(m: TinyModel, x: int, shape: tuple[int, ...], channels: int) -> int:
    """A 1x1 convolution, so that what follows it runs on NCHW tensors inside the ONNX model."""
    w = m.tensor((channels, 1, 1, shape[3]), _uniform(channels, 1, 1, shape[3]))
    bias = m.tensor((channels,), _uniform(channels))
    y = m.tensor((*shape[:3], channels))
    m.op(
        Op.CONV_2D,
        [x, w, bias],
        [y],
        "Conv2DOptions",
        Padding=Padding.VALID,
        StrideH=1,
        StrideW=1,
        DilationHFactor=1,
        DilationWFactor=1,
    )
    return y


@pytest.mark.parametrize("alpha_shape", [(1, 1, 4), (4,), (1,), (5, 6, 4)])
def test_prelu(tmp_path: Path, alpha_shape: tuple[int, ...]) -> None:
    m = TinyModel()
    x = m.tensor((1, 5, 6, 3))
    h = _conv_1x1(m, x, (1, 5, 6, 3), 4)
    # Slopes below 0, between 0 and 1, and above 1, as face_landmark.tflite has.
    alpha = m.tensor(alpha_shape, RNG.uniform(-1.6, 1.6, alpha_shape))
    y = m.tensor((1, 5, 6, 4))
    m.op(Op.PRELU, [h, alpha], [y])
    model = _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 5, 6, 3) * 3)
    assert "PRelu" not in {n.op_type for n in model.graph.node}


def test_prelu_on_a_matrix(tmp_path: Path) -> None:
    m = TinyModel()
    x, alpha, y = m.tensor((3, 4)), m.tensor((4,), [-0.5, 0.0, 0.25, 1.5]), m.tensor((3, 4))
    m.op(Op.PRELU, [x, alpha], [y])
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(3, 4))


@pytest.mark.parametrize(
    "paddings",
    [
        [[0, 0], [0, 0], [0, 0], [0, 3]],  # channel padding, as the face models do
        [[0, 0], [0, 0], [0, 0], [2, 1]],
        [[0, 0], [1, 2], [0, 3], [0, 0]],
        [[0, 0], [1, 0], [2, 1], [1, 1]],
    ],
)
def test_pad(tmp_path: Path, paddings: list[list[int]]) -> None:
    m = TinyModel()
    x = m.tensor((1, 4, 5, 2))
    h = _conv_1x1(m, x, (1, 4, 5, 2), 3)
    shape = tuple(
        n + before + after for n, (before, after) in zip((1, 4, 5, 3), paddings, strict=True)
    )
    pads = m.tensor((4, 2), paddings, TensorType.INT32)
    y = m.tensor(shape)
    m.op(Op.PAD, [h, pads], [y], "PadOptions")
    # The same padding straight on the NHWC graph input.
    pads_in = m.tensor((4, 2), [*paddings[:3], [0, 0]], TensorType.INT32)
    z = m.tensor((*shape[:3], 2))
    m.op(Op.PAD, [x, pads_in], [z], "PadOptions")
    _check_tiny(tmp_path, m.build([x], [y, z]), _uniform(1, 4, 5, 2))


def test_add_relu_broadcast_and_fused_activation(tmp_path: Path) -> None:
    m = TinyModel()
    x = m.tensor((1, 3, 4, 2))
    h = _conv_1x1(m, x, (1, 3, 4, 2), 3)
    bias, lifted, summed, y = (
        m.tensor((3,), [0.5, -0.25, 1.0]),
        m.tensor((1, 3, 4, 3)),
        m.tensor((1, 3, 4, 3)),
        m.tensor((1, 3, 4, 3)),
    )
    m.op(Op.ADD, [h, bias], [lifted], "AddOptions", FusedActivationFunction=Act.RELU6)
    m.op(Op.ADD, [lifted, h], [summed], "AddOptions")
    m.op(Op.RELU, [summed], [y])
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 3, 4, 2) * 4)


@pytest.mark.parametrize("axis", [3, -1, 1])
def test_concatenation_of_images(tmp_path: Path, axis: int) -> None:
    m = TinyModel()
    x = m.tensor((1, 4, 4, 2))
    a, b = _conv_1x1(m, x, (1, 4, 4, 2), 3), _conv_1x1(m, x, (1, 4, 4, 2), 3)
    shape = [1, 4, 4, 3]
    shape[axis] *= 2
    y = m.tensor(tuple(shape))
    m.op(Op.CONCATENATION, [a, b], [y], "ConcatenationOptions", Axis=axis)
    model = _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 4, 4, 2))
    # Concatenated in NCHW, transposed once for the output.
    assert [n.op_type for n in model.graph.node].count("Transpose") == 2


def test_reshape_and_concatenate_heads(tmp_path: Path) -> None:
    """The detector's head pattern: NHWC element order survives the internal NCHW layout."""
    m = TinyModel()
    x = m.tensor((1, 4, 4, 3))
    a = _conv_1x1(m, x, (1, 4, 4, 3), 6)
    b = _conv_1x1(m, x, (1, 4, 4, 3), 2)
    ra, rb, y = m.tensor((1, 48, 2)), m.tensor((1, 16, 2)), m.tensor((1, 64, 2))
    m.op(Op.RESHAPE, [a, m.tensor((3,), [1, -1, 2], TensorType.INT32)], [ra])
    m.op(Op.RESHAPE, [b, m.tensor((3,), [1, -1, 2], TensorType.INT32)], [rb])
    m.op(Op.CONCATENATION, [ra, rb], [y], "ConcatenationOptions", Axis=1)
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 4, 4, 3))


def test_a_channels_first_input_read_in_tflites_layout(tmp_path: Path) -> None:
    """An NCHW input that an operator reads in NHWC element order (a reshape) is transposed
    back under a name of its own, beside the convolution that reads it as it is."""
    m = TinyModel()
    x = m.tensor((1, 4, 4, 3))
    a = _conv_1x1(m, x, (1, 4, 4, 3), 2)
    ra, rx, y = m.tensor((1, 16, 2)), m.tensor((1, 24, 2)), m.tensor((1, 40, 2))
    m.op(Op.RESHAPE, [a, m.tensor((3,), [1, -1, 2], TensorType.INT32)], [ra])
    m.op(Op.RESHAPE, [x, m.tensor((3,), [1, -1, 2], TensorType.INT32)], [rx])
    m.op(Op.CONCATENATION, [ra, rx], [y], "ConcatenationOptions", Axis=1)
    path = tmp_path / "tiny.tflite"
    path.write_bytes(m.build([x], [y]))
    image = _uniform(1, 4, 4, 3)
    model = convert_tflite(path, channels_first=True)
    name = model.graph.input[0].name
    readers = {n.op_type for n in model.graph.node if name in n.input}
    assert readers == {"Conv", "Transpose"}, readers
    assert name + "__nhwc" in [o for n in model.graph.node for o in n.output]
    (got,) = _onnx_outputs(model, np.ascontiguousarray(image.transpose(0, 3, 1, 2)))
    (want,) = _tflite_outputs(path.read_bytes(), image)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_concatenation_with_fused_activation_is_rejected(tmp_path: Path) -> None:
    m = TinyModel()
    a, b, y = m.tensor((1, 2)), m.tensor((1, 2)), m.tensor((1, 4))
    m.op(
        Op.CONCATENATION,
        [a, b],
        [y],
        "ConcatenationOptions",
        Axis=1,
        FusedActivationFunction=Act.RELU,
    )
    path = tmp_path / "concat.tflite"
    path.write_bytes(m.build([a, b], [y]))
    with pytest.raises(
        UnsupportedOpError, match=r"concat\.tflite: operator #0 \(CONCATENATION\): fused"
    ):
        convert_tflite(path)


def test_unsupported_builtin_op_is_named(tmp_path: Path) -> None:
    m = TinyModel()
    x, h, y = m.tensor((1, 4)), m.tensor((1, 4)), m.tensor((1, 4))
    m.op(Op.RELU, [x], [h])
    m.op(Op.SOFTMAX, [h], [y], "SoftmaxOptions")
    path = tmp_path / "softmax.tflite"
    path.write_bytes(m.build([x], [y]))
    with pytest.raises(
        UnsupportedOpError, match=r"softmax\.tflite: operator #1 \(SOFTMAX\) is not supported"
    ):
        convert_tflite(path)


def test_unsupported_custom_op_is_named(tmp_path: Path) -> None:
    m = TinyModel()
    x, y = m.tensor((1, 4)), m.tensor((1, 4))
    m.op(Op.CUSTOM, [x], [y], custom="MyMagic")
    path = tmp_path / "custom.tflite"
    path.write_bytes(m.build([x], [y]))
    with pytest.raises(
        UnsupportedOpError, match=r"custom\.tflite: operator #0 \(custom operator MyMagic\)"
    ):
        convert_tflite(path)


def test_unsupported_fused_activation_is_named(tmp_path: Path) -> None:
    m = TinyModel()
    x, y = m.tensor((1, 2, 2, 1)), m.tensor((1, 2, 2, 1))
    m.op(Op.ADD, [x, x], [y], "AddOptions", FusedActivationFunction=Act.TANH)
    path = tmp_path / "tanh.tflite"
    path.write_bytes(m.build([x], [y]))
    with pytest.raises(
        UnsupportedOpError, match=r"tanh\.tflite: operator #0 \(ADD\): fused activation TANH"
    ):
        convert_tflite(path)


def test_non_float16_dequantize_is_rejected(tmp_path: Path) -> None:
    m = TinyModel()
    x, w32, w, y = m.tensor((1, 2)), m.tensor((2,), [1, 2]), m.tensor((2,)), m.tensor((1, 2))
    m.op(Op.DEQUANTIZE, [w32], [w])
    m.op(Op.ADD, [x, w], [y], "AddOptions")
    path = tmp_path / "deq.tflite"
    path.write_bytes(m.build([x], [y]))
    with pytest.raises(
        UnsupportedOpError, match=r"deq\.tflite: operator #0 \(DEQUANTIZE\): only float16"
    ):
        convert_tflite(path)


# --- files, paths, cache, sessions ---------------------------------------------------------------


def test_corrupt_tflite_files_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"this is not a flatbuffer at all")
    with pytest.raises(ModelLoadError, match=r"garbage\.tflite: not a TFLite model"):
        convert_tflite(garbage)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(DETECTOR.read_bytes()[:4096])
    with pytest.raises(ModelLoadError, match=r"truncated\.tflite: corrupt TFLite model"):
        convert_tflite(truncated)
    with pytest.raises(ModelLoadError, match=r"truncated\.tflite"):
        create_session(truncated)


def test_corrupt_onnx_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ModelLoadError, match=r"broken\.onnx: onnxruntime cannot load the model"):
        create_session(broken)


def test_missing_model_names_path_and_models_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        resolve_model_path("mediapipe/modules/nothing/no_such_model.tflite")
    message = str(caught.value)
    assert "mediapipe/modules/nothing/no_such_model.tflite" in message
    assert str(tmp_path / "mediapipe/modules/nothing/no_such_model.tflite") in message
    assert str(MODELS_DIR / "no_such_model.tflite") in message
    with pytest.raises(FileNotFoundError, match="no_such_model"):
        create_session("no_such_model.tflite")


def test_mediapipe_paths_resolve_to_bundled_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        resolve_model_path("mediapipe/modules/face_detection/face_detection_short_range.tflite")
        == DETECTOR
    )
    assert resolve_model_path("mediapipe/modules/face_landmark/face_landmark.tflite") == LANDMARKS
    # An existing file wins over the bundled one, relative paths as they are.
    local = tmp_path / "mediapipe/modules/face_landmark/face_landmark.tflite"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"local copy")
    assert resolve_model_path("mediapipe/modules/face_landmark/face_landmark.tflite") == Path(
        "mediapipe/modules/face_landmark/face_landmark.tflite"
    )
    assert resolve_model_path(local) == local
    assert MODELS_DIR == Path(tflite_onnx.__file__).resolve().parents[2] / "models"


def test_cache_converts_once_per_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    first = load_onnx_for(DETECTOR)
    assert isinstance(first, Path)
    assert first.parent == tmp_path / "xdg" / "graphflow" / "onnx"
    assert first.name.startswith(hashlib.sha256(DETECTOR.read_bytes()).hexdigest() + "-")
    assert first.read_bytes() == convert_tflite(DETECTOR).SerializeToString()
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary file left
    # A second load reuses the file as it is: mark it and see the mark survive.
    marked = onnx.load(first)
    marked.producer_version = "marked"
    first.write_bytes(marked.SerializeToString())
    assert (
        load_onnx_for("mediapipe/modules/face_detection/face_detection_short_range.tflite") == first
    )
    assert onnx.load(first).producer_version == "marked"
    # The same content under another name shares the entry; other content gets its own.
    copy = tmp_path / "copy.tflite"
    copy.write_bytes(DETECTOR.read_bytes())
    assert load_onnx_for(copy) == first
    other = load_onnx_for(LANDMARKS)
    assert isinstance(other, Path) and other != first and other.parent == first.parent
    # The channels-first conversion is an entry of its own.
    planar = load_onnx_for(DETECTOR, channels_first=True)
    assert isinstance(planar, Path) and planar.name == first.name.replace(".onnx", "-nchw.onnx")
    assert planar.read_bytes() == convert_tflite(DETECTOR, channels_first=True).SerializeToString()


def test_cache_falls_back_to_home_and_to_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    assert tflite_onnx.cache_dir() == tmp_path / "home" / ".cache" / "graphflow" / "onnx"
    blocker = tmp_path / "not_a_dir"
    blocker.write_bytes(b"")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    blob = load_onnx_for(LANDMARKS)
    assert isinstance(blob, bytes)
    assert blob == convert_tflite(LANDMARKS).SerializeToString()


def test_create_session_runs_converted_tflite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    session = create_session(
        "mediapipe/modules/face_detection/face_detection_short_range.tflite", num_threads=1
    )
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("input", [1, 128, 128, 3])]
    assert [o.name for o in session.get_outputs()] == ["regressors", "classificators"]
    x = _structured_inputs((1, 128, 128, 3))["disc"]
    for want, have in zip(
        _tflite_outputs(DETECTOR, x), session.run(None, {"input": x}), strict=True
    ):
        np.testing.assert_allclose(have, want, rtol=0, atol=ATOL)
    # An .onnx file loads directly.
    onnx_path = tmp_path / "detector.onnx"
    onnx.save(convert_tflite(DETECTOR), onnx_path)
    assert [o.name for o in create_session(onnx_path).get_outputs()] == [
        "regressors",
        "classificators",
    ]
    with pytest.raises(ValueError, match="num_threads must be at least 1"):
        create_session(onnx_path, num_threads=0)


def test_mul_broadcast_and_fused_activation(tmp_path: Path) -> None:
    m = TinyModel()
    x = m.tensor((1, 3, 4, 2))
    h = _conv_1x1(m, x, (1, 3, 4, 2), 3)
    gate, scaled, y = m.tensor((1, 1, 1, 3)), m.tensor((1, 3, 4, 3)), m.tensor((1, 3, 4, 3))
    m.op(Op.MUL, [h, m.tensor((3,), [0.5, -2.0, 1.5])], [scaled], "MulOptions",
         FusedActivationFunction=Act.RELU6)
    # Per-channel gate from a pooled branch (the selfie model's squeeze-and-excite pattern).
    m.op(Op.MEAN, [h, m.tensor((2,), [1, 2], TensorType.INT32)], [gate], "ReducerOptions",
         KeepDims=1)
    m.op(Op.MUL, [scaled, gate], [y], "MulOptions")
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 3, 4, 2) * 4)


@pytest.mark.parametrize(
    ("begin", "end", "strides", "masks", "shape"),
    [
        ([0, 0, 0, 0], [1, 1, 1, 1404], [1, 1, 1, 1], {}, (1, 1, 1, 1404)),  # the mesh identity
        ([0, 1, 0, 2], [1, 5, 6, 7], [1, 2, 3, 1], {}, (1, 2, 2, 5)),
        ([0, -1, 0, 6], [0, 0, 0, 0], [1, -1, 1, -2], {"BeginMask": 0b0101, "EndMask": 0b1111},
         (1, 5, 6, 4)),
        ([0, 2, 0, 1], [1, 3, 6, 4], [1, 1, 1, 1], {"ShrinkAxisMask": 0b0011}, (6, 3)),
    ],
)
def test_strided_slice(tmp_path: Path, begin: list[int], end: list[int], strides: list[int],
                       masks: dict[str, int], shape: tuple[int, ...]) -> None:
    in_shape = (1, 1, 1, 1404) if shape == (1, 1, 1, 1404) else (1, 5, 6, 7)
    m = TinyModel()
    x, y = m.tensor(in_shape), m.tensor(shape)
    m.op(Op.STRIDED_SLICE,
         [x, m.tensor((4,), begin, TensorType.INT32), m.tensor((4,), end, TensorType.INT32),
          m.tensor((4,), strides, TensorType.INT32)],
         [y], "StridedSliceOptions", **masks)
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(*in_shape))


@pytest.mark.parametrize(
    ("axes", "keep", "shape"),
    [([1, 2], 1, (1, 1, 1, 3)), ([1, 2], 0, (1, 3)), ([-1], 1, (1, 4, 5, 1)), ([3], 0, (1, 4, 5))],
)
def test_mean(tmp_path: Path, axes: list[int], keep: int, shape: tuple[int, ...]) -> None:
    m = TinyModel()
    x = m.tensor((1, 4, 5, 2))
    h = _conv_1x1(m, x, (1, 4, 5, 2), 3)
    y = m.tensor(shape)
    m.op(Op.MEAN, [h, m.tensor((len(axes),), axes, TensorType.INT32)], [y], "ReducerOptions",
         KeepDims=keep)
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 4, 5, 2))


@pytest.mark.parametrize("formats", ["DDDC", "DCDC", "CDDD", "CCCC"])
def test_densify_sparse_float16_weights(tmp_path: Path, formats: str) -> None:
    """The sparse full-range detector's pattern: sparse float16 filter -> DENSIFY ->
    DEQUANTIZE -> CONV_2D."""
    weights = _uniform(6, 1, 2, 5)
    weights[np.abs(weights) < 0.6] = 0.0  # about 60% zeros
    weights[2] = 0.0  # a whole output channel of zeros
    m = TinyModel()
    x = m.tensor((1, 4, 4, 5))
    sparse = m.tensor((6, 1, 2, 5), weights, TensorType.FLOAT16, sparse=formats)
    half, w, y = m.tensor((6, 1, 2, 5), dtype=TensorType.FLOAT16), m.tensor((6, 1, 2, 5)), \
        m.tensor((1, 4, 4, 6))
    m.op(Op.DENSIFY, [sparse], [half], "DensifyOptions")
    m.op(Op.DEQUANTIZE, [half], [w])
    m.op(Op.CONV_2D, [x, w, m.tensor((6,), _uniform(6))], [y], "Conv2DOptions",
         Padding=Padding.SAME, StrideH=1, StrideW=1, DilationHFactor=1, DilationWFactor=1)
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 4, 4, 5))


@pytest.mark.parametrize(("align", "half"), [(0, 1), (1, 0), (0, 0)])
@pytest.mark.parametrize("out_hw", [(8, 10), (5, 7), (3, 2)])
def test_resize_bilinear(tmp_path: Path, align: int, half: int, out_hw: tuple[int, int]) -> None:
    m = TinyModel()
    x = m.tensor((1, 4, 5, 2))
    h = _conv_1x1(m, x, (1, 4, 5, 2), 3)
    y = m.tensor((1, *out_hw, 3))
    m.op(Op.RESIZE_BILINEAR, [h, m.tensor((2,), out_hw, TensorType.INT32)], [y],
         "ResizeBilinearOptions", AlignCorners=align, HalfPixelCenters=half)
    _check_tiny(tmp_path, m.build([x], [y]), _uniform(1, 4, 5, 2))


@pytest.mark.parametrize(("block", "read_by"), [(2, "output"), (3, "reshape"), (2, "conv")])
def test_depth_to_space(tmp_path: Path, block: int, read_by: str) -> None:
    """DEPTH_TO_SPACE as a model output, read by a RESHAPE (a detector head's boxes: both in
    NHWC order, no DepthToSpace node) and read by a convolution (an NCHW DepthToSpace)."""
    m = TinyModel()
    x = m.tensor((1, 3, 4, 2))
    h = _conv_1x1(m, x, (1, 3, 4, 2), 3 * block * block)
    y = m.tensor((1, 3 * block, 4 * block, 3))
    m.op(Op.DEPTH_TO_SPACE, [h], [y], "DepthToSpaceOptions", BlockSize=block)
    if read_by == "reshape":
        out = m.tensor((1, 12 * block * block, 3))
        m.op(Op.RESHAPE, [y, m.tensor((3,), (1, 12 * block * block, 3), TensorType.INT32)],
             [out])
    elif read_by == "conv":
        out = _conv_1x1(m, y, (1, 3 * block, 4 * block, 3), 5)
    else:
        out = y
    model = _check_tiny(tmp_path, m.build([x], [out]), _uniform(1, 3, 4, 2))
    ops = [n.op_type for n in model.graph.node]
    assert ("DepthToSpace" in ops) == (read_by == "conv")


def test_hard_swish_logistic_and_average_pool(tmp_path: Path) -> None:
    m = TinyModel()
    x = m.tensor((1, 7, 6, 2))
    h = _conv_1x1(m, x, (1, 7, 6, 2), 3)
    swished, pooled, gate = m.tensor((1, 7, 6, 3)), m.tensor((1, 4, 3, 3)), m.tensor((1, 4, 3, 3))
    m.op(Op.HARD_SWISH, [h], [swished])
    # SAME padding on odd sizes: TFLite averages over the cells inside the input only.
    m.op(Op.AVERAGE_POOL_2D, [swished], [pooled], "Pool2DOptions", Padding=Padding.SAME,
         StrideH=2, StrideW=2, FilterHeight=3, FilterWidth=3)
    m.op(Op.LOGISTIC, [pooled], [gate])
    _check_tiny(tmp_path, m.build([x], [gate]), _uniform(1, 7, 6, 2) * 6)


def test_channels_widen_to_whole_blocks_and_channel_pads_go(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A BlazeFace block with channel counts that are no whole NCHWc block (20 -> 24 -> 32,
    two channel PADs, a max pool, a per-channel Mul and a sigmoid head; the second PAD is also
    a model output): the converted model gives the interpreter's numbers, its inner
    convolutions are widened to 32 channels, and the PADs of zero-filled channels are no node
    at all."""
    monkeypatch.setattr(widen, "BLOCK", 16)  # AVX-512's block, whatever this machine has
    m = TinyModel()
    x = m.tensor((1, 8, 8, 2))
    h = _conv_1x1(m, x, (1, 8, 8, 2), 20)
    act = m.tensor((1, 8, 8, 20))
    m.op(Op.RELU, [h], [act])
    dw = m.tensor((1, 8, 8, 20))
    m.op(Op.DEPTHWISE_CONV_2D, [act, m.tensor((1, 3, 3, 20), _uniform(1, 3, 3, 20)),
                                m.tensor((20,), _uniform(20))], [dw],
         "DepthwiseConv2DOptions", Padding=Padding.SAME, StrideH=1, StrideW=1,
         DepthMultiplier=1, DilationHFactor=1, DilationWFactor=1)
    branch = _conv_1x1(m, dw, (1, 8, 8, 20), 24)
    shortcut = m.tensor((1, 8, 8, 24))
    m.op(Op.PAD, [act, m.tensor((4, 2), [[0, 0], [0, 0], [0, 0], [0, 4]], TensorType.INT32)],
         [shortcut], "PadOptions")
    summed, pooled = m.tensor((1, 8, 8, 24)), m.tensor((1, 4, 4, 24))
    m.op(Op.ADD, [branch, shortcut], [summed], "AddOptions", FusedActivationFunction=Act.RELU)
    m.op(Op.MAX_POOL_2D, [summed], [pooled], "Pool2DOptions", Padding=Padding.VALID,
         StrideH=2, StrideW=2, FilterHeight=2, FilterWidth=2)
    scaled, padded = m.tensor((1, 4, 4, 24)), m.tensor((1, 4, 4, 32))
    m.op(Op.MUL, [pooled, m.tensor((24,), _uniform(24))], [scaled], "MulOptions")
    m.op(Op.PAD, [scaled, m.tensor((4, 2), [[0, 0], [0, 0], [0, 0], [0, 8]], TensorType.INT32)],
         [padded], "PadOptions")
    head = _conv_1x1(m, padded, (1, 4, 4, 32), 3)
    y = m.tensor((1, 4, 4, 3))
    m.op(Op.LOGISTIC, [head], [y])
    data = m.build([x], [y, padded])
    model = _check_tiny(tmp_path, data, _uniform(1, 8, 8, 2) * 2)
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    convs = [weights[n.input[1]] for n in model.graph.node if n.op_type == "Conv"]
    # 2->20, depthwise, 20->24 and the 3-channel head; both channel PADs are gone.
    assert convs == [(32, 2, 1, 1), (32, 1, 3, 3), (32, 32, 1, 1), (3, 32, 1, 1)]
    assert "Pad" not in [n.op_type for n in model.graph.node]
    # Without a blocked layout (BLOCK 0) nothing widens: the PADs stay one-hot convolutions.
    monkeypatch.setattr(widen, "BLOCK", 0)
    model = _check_tiny(tmp_path, data, _uniform(1, 8, 8, 2) * 2)
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    assert [weights[n.input[1]][0] for n in model.graph.node if n.op_type == "Conv"] == [
        20, 20, 24, 24, 32, 3]


def test_fewer_channels_than_a_block_widen_only_on_the_way_to_a_convolution(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The full-range detector's bottleneck, 16 -> 8 -> depthwise -> 16 channels, widens its 8
    channels to a block (16): the 8 -> 16 convolution then reads whole blocks. A 4-channel head
    whose depthwise output goes to a RESHAPE stays 4 channels wide (no Slice back)."""
    monkeypatch.setattr(widen, "BLOCK", 16)
    m = TinyModel()
    x = m.tensor((1, 6, 6, 3))
    wide = _conv_1x1(m, x, (1, 6, 6, 3), 16)
    narrow = _conv_1x1(m, wide, (1, 6, 6, 16), 8)

    def depthwise(x: int, channels: int) -> int:
        y = m.tensor((1, 6, 6, channels))
        m.op(Op.DEPTHWISE_CONV_2D, [x, m.tensor((1, 3, 3, channels), _uniform(1, 3, 3, channels)),
                                    m.tensor((channels,), _uniform(channels))], [y],
             "DepthwiseConv2DOptions", Padding=Padding.SAME, StrideH=1, StrideW=1,
             DepthMultiplier=1, DilationHFactor=1, DilationWFactor=1)
        return y

    back = _conv_1x1(m, depthwise(narrow, 8), (1, 6, 6, 8), 16)
    head = depthwise(_conv_1x1(m, back, (1, 6, 6, 16), 4), 4)
    boxes = m.tensor((1, 36, 4))
    m.op(Op.RESHAPE, [head, m.tensor((3,), (1, 36, 4), TensorType.INT32)], [boxes])
    # Small inputs: six layers of random weights grow the outputs towards the 1e-5 tolerance.
    model = _check_tiny(tmp_path, m.build([x], [boxes]), _uniform(1, 6, 6, 3) * 0.1)
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer}
    convs = [weights[n.input[1]] for n in model.graph.node if n.op_type == "Conv"]
    assert convs == [(16, 3, 1, 1), (16, 16, 1, 1), (16, 1, 3, 3), (16, 16, 1, 1),
                     (4, 16, 1, 1), (4, 1, 3, 3)]
    assert "Slice" not in [n.op_type for n in model.graph.node]


@pytest.mark.parametrize(("flags", "block"), [
    ("fpu sse2 avx avx2 fma avx512f avx512bw avx512_vnni", 16),
    ("fpu sse2 avx avx2 fma", 8),
    ("fp asimd evtstrm aes pmull sha1 sha2 crc32", 0),  # an ARM CPU: no NCHWc kernels
])
def test_nchwc_block_follows_the_cpu_flags(tmp_path: Path, flags: str, block: int) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\n"
                       f"processor\t: 1\nflags\t\t: {flags}\n")
    assert widen.nchwc_block(cpuinfo) == block
    assert widen.nchwc_block(tmp_path / "missing") == 0


def _reorders(model: onnx.ModelProto, tmp_path: Path, x: np.ndarray) -> tuple[int, np.ndarray]:
    """onnxruntime's layout conversions in its optimized ``model``, and the model's output."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    session = ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    optimized = onnx.load(str(tmp_path / "optimized.onnx"))
    return sum(n.op_type.startswith("Reorder") for n in optimized.graph.node), y


@pytest.mark.skipif(widen.nchwc_block() == 0, reason="onnxruntime has no blocked layout here")
def test_a_residual_chain_from_a_permuted_tensor_stays_in_the_blocked_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The attention model's crop pattern: an NHWC tensor permuted to NCHW, then
    ``h = h + Conv(h)`` twice. With the pass, onnxruntime converts into its blocked layout once
    and out once (it converted out and back in around each Add before); same numbers as numpy's."""
    monkeypatch.setattr(widen, "BLOCK", widen.nchwc_block())
    channels = 2 * widen.nchwc_block()
    rng = np.random.default_rng(3)
    w1, w2 = (rng.uniform(-1, 1, (channels, channels)).astype(np.float32) for _ in range(2))
    nodes = [onnx.helper.make_node("Transpose", ["x"], ["h0"], perm=[0, 3, 1, 2])]
    for i, name in enumerate(("w1", "w2")):
        nodes += [onnx.helper.make_node("Conv", [f"h{i}", name], [f"c{i}"], kernel_shape=[1, 1]),
                  onnx.helper.make_node("Add", [f"h{i}", f"c{i}"], [f"h{i + 1}"])]
    graph = onnx.helper.make_graph(
        nodes, "residuals",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 6, 5, channels])],
        [onnx.helper.make_tensor_value_info("h2", onnx.TensorProto.FLOAT,
                                            [1, channels, 6, 5])],
        [onnx.numpy_helper.from_array(w.reshape(channels, channels, 1, 1), name)
         for w, name in ((w1, "w1"), (w2, "w2"))])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    x = rng.uniform(-1, 1, (1, 6, 5, channels)).astype(np.float32)
    h = x.transpose(0, 3, 1, 2)
    for w in (w1, w2):
        h = h + np.einsum("oc,nchw->nohw", w, h)
    before, _ = _reorders(model, tmp_path, x)
    widened = widen.widen_channels(onnx.ModelProto.FromString(model.SerializeToString()))
    onnx.checker.check_model(widened)
    after, y = _reorders(widened, tmp_path, x)
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-4)
    assert after == 2 < before
