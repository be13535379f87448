"""MediaPipe's custom TFLite operators in the converter, against numpy references.

ai_edge_litert cannot run the face mesh's operators (they live in MediaPipe's op resolver, which
its Python wheel does not expose), so each reference below follows MediaPipe's C++ kernels
(mediapipe/util/tflite/operations/*.cc) step by step, in float64 loops. Its XNNPACK delegate does
run Convolution2DTransposeBias (the selfie segmentation models' last layer): that one is checked
against both.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from ai_edge_litert.interpreter import Interpreter
from tflite.BuiltinOperator import BuiltinOperator as Op
from tflitekit import TinyModel

from graphflow.tflite_onnx import UnsupportedOpError, convert_tflite

RNG = np.random.default_rng(11)


def _run(tmp_path: Path, data: bytes, *inputs: np.ndarray) -> list[np.ndarray]:
    path = tmp_path / "custom.tflite"
    path.write_bytes(data)
    model = convert_tflite(path)
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return list(session.run(None, dict(zip(names, inputs, strict=True))))


# --- references -----------------------------------------------------------------------------


def _matrix_reference(landmarks: np.ndarray, left: int, right: int, subset: list[int],
                      width: int, height: int, scale_x: float, scale_y: float,
                      target: float) -> np.ndarray:
    """Landmarks2TransformMatrix v2: EstimateRotationRadians, EstimateCenterAndSize, then
    shift(crop) * rotation(-r) * scale * shift(-output / 2), as 4x4 products."""
    points = landmarks[0].astype(np.float64)
    rotation = target - math.atan2(points[right, 1] - points[left, 1],
                                   points[right, 0] - points[left, 0])
    c, s = math.cos(rotation), math.sin(rotation)
    rotated = [(c * x - s * y, s * x + c * y) for x, y in points[subset, :2]]
    xs, ys = [p[0] for p in rotated], [p[1] for p in rotated]
    mid_x, mid_y = (max(xs) + min(xs)) / 2, (max(ys) + min(ys)) / 2
    crop_w, crop_h = max(xs) - min(xs), max(ys) - min(ys)
    ci, si = math.cos(-rotation), math.sin(-rotation)
    crop_x, crop_y = ci * mid_x - si * mid_y, si * mid_x + ci * mid_y

    def mat(rows: list[list[float]]) -> np.ndarray:
        return np.array(rows, dtype=np.float64)

    r = -rotation
    t = mat([[1, 0, 0, crop_x], [0, 1, 0, crop_y], [0, 0, 1, 0], [0, 0, 0, 1]])
    t = t @ mat([[math.cos(r), -math.sin(r), 0, 0], [math.sin(r), math.cos(r), 0, 0],
                 [0, 0, 1, 0], [0, 0, 0, 1]])
    t = t @ np.diag([scale_x * crop_w / width, scale_y * crop_h / height, 1, 1])
    t = t @ mat([[1, 0, 0, -width / 2], [0, 1, 0, -height / 2], [0, 0, 1, 0], [0, 0, 0, 1]])
    return t[None].astype(np.float32)


def _bilinear_reference(data: np.ndarray, matrix: np.ndarray, out_h: int,
                        out_w: int) -> np.ndarray:
    """TransformTensorBilinear v2: the align-corners corrected matrix, out-of-bound positions
    0, neighbours outside the input read as 0."""
    _, in_h, in_w, channels = data.shape
    xt = matrix[0, 0].astype(np.float64).copy()
    yt = matrix[0, 1].astype(np.float64).copy()
    xt[3] += xt[0] * 0.5 + xt[1] * 0.5 - 0.5
    yt[3] += yt[0] * 0.5 + yt[1] * 0.5 - 0.5
    out = np.zeros((1, out_h, out_w, channels), np.float64)

    def read(h: int, w: int) -> np.ndarray:
        if h < 0 or w < 0 or h >= in_h or w >= in_w:
            return np.zeros(channels)
        return data[0, h, w].astype(np.float64)

    for oy in range(out_h):
        for ox in range(out_w):
            coord = np.array([ox, oy, 0.0, 1.0])
            tx, ty = float(xt @ coord), float(yt @ coord)
            if tx < 0 or tx > in_w - 1 or ty < 0 or ty > in_h - 1:
                continue
            fx, fy = math.floor(tx), math.floor(ty)
            right, lower = tx - fx, ty - fy
            upper_row = (1 - right) * read(fy, fx) + right * read(fy, fx + 1)
            lower_row = (1 - right) * read(fy + 1, fx) + right * read(fy + 1, fx + 1)
            out[0, oy, ox] = lower * lower_row + (1 - lower) * upper_row
    return out.astype(np.float32)


def _landmarks_reference(landmarks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """TransformLandmarks v2: (x, y, 0, 1) dotted with the matrix's first two rows; z kept."""
    out = landmarks.astype(np.float64).copy()
    m = matrix[0].astype(np.float64)
    for i, point in enumerate(landmarks[0]):
        v = np.array([point[0], point[1], 0.0, 1.0])
        out[0, i, 0], out[0, i, 1] = m[0] @ v, m[1] @ v
    return out.astype(np.float32)


def _transpose_conv_reference(data: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                              stride: tuple[int, int], pad: tuple[int, int],
                              out_hw: tuple[int, int]) -> np.ndarray:
    """Convolution2DTransposeBias: the bias, then each input value scattered through the OHWI
    filter to ``in * stride - pad + filter offset``, dropping what falls outside."""
    _, in_h, in_w, _ = data.shape
    out_c, k_h, k_w, _ = weights.shape
    out = np.broadcast_to(bias.astype(np.float64), (1, *out_hw, out_c)).copy()
    for y in range(in_h):
        for x in range(in_w):
            for fy in range(k_h):
                for fx in range(k_w):
                    oy, ox = y * stride[0] - pad[0] + fy, x * stride[1] - pad[1] + fx
                    if 0 <= oy < out_hw[0] and 0 <= ox < out_hw[1]:
                        out[0, oy, ox] += weights[:, fy, fx, :].astype(np.float64) @ \
                            data[0, y, x].astype(np.float64)
    return out.astype(np.float32)


# --- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.0, 0.7, -2.5])
def test_landmarks_to_transform_matrix(tmp_path: Path, target: float) -> None:
    subset = [3, 7, 1, 9, 12, 4]
    options = {"left_rotation_idx": 3, "right_rotation_idx": 7, "output_height": 12,
               "output_width": 16, "scale_x": 1.5, "scale_y": 1.25, "subset_idxs": subset,
               "target_rotation_radians": target}
    m = TinyModel()
    x, y = m.tensor((1, 14, 3)), m.tensor((1, 4, 4))
    m.op(Op.CUSTOM, [x], [y], custom="Landmarks2TransformMatrix", custom_options=options,
         version=2)
    data = m.build([x], [y])
    for trial in range(6):
        landmarks = RNG.uniform(-20, 60, (1, 14, 3)).astype(np.float32)
        if trial == 0:  # the rotation landmarks on one vertical line: atan2 of +-pi/2
            landmarks[0, 7, 0] = landmarks[0, 3, 0]
        if trial == 1:  # on top of each other: atan2(0, 0) = 0
            landmarks[0, 7, :2] = landmarks[0, 3, :2]
        expected = _matrix_reference(landmarks, 3, 7, subset, 16, 12, 1.5, 1.25, target)
        [got] = _run(tmp_path, data, landmarks)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(("in_hw", "out_hw"), [((9, 11), (6, 7)), ((48, 48), (16, 16))])
def test_transform_tensor_bilinear(tmp_path: Path, in_hw: tuple[int, int],
                                   out_hw: tuple[int, int]) -> None:
    m = TinyModel()
    x, matrix, y = m.tensor((1, *in_hw, 5)), m.tensor((1, 4, 4)), m.tensor((1, *out_hw, 5))
    m.op(Op.CUSTOM, [x, matrix], [y], custom="TransformTensorBilinear",
         custom_options={"output_height": out_hw[0], "output_width": out_hw[1]}, version=2)
    data = m.build([x, matrix], [y])
    for trial in range(5):
        features = RNG.uniform(-1, 1, (1, *in_hw, 5)).astype(np.float32)
        # A rotated, scaled crop around a point that moves partly outside the input: some
        # output pixels read it bilinearly, some fall outside (0), some straddle its edge.
        t = _crop_matrix(in_hw, out_hw) if trial else np.eye(4, dtype=np.float32)[None]
        expected = _bilinear_reference(features, t, *out_hw)
        [got] = _run(tmp_path, data, features, t)
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
        if trial == 0:
            np.testing.assert_allclose(got, features[:, :out_hw[0], :out_hw[1]], atol=1e-5)


def _crop_matrix(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """A random rotated, scaled crop matrix around a point that may lie partly outside."""
    angle, scale = RNG.uniform(-math.pi, math.pi), RNG.uniform(0.4, 1.6)
    cx, cy = RNG.uniform(-2, in_hw[1] + 2), RNG.uniform(-2, in_hw[0] + 2)
    t = np.eye(4, dtype=np.float32)
    t[:2, :2] = scale * np.array([[math.cos(angle), -math.sin(angle)],
                                  [math.sin(angle), math.cos(angle)]])
    t[:2, 3] = [cx, cy] - t[:2, :2] @ [out_hw[1] / 2, out_hw[0] / 2]
    return t[None]


def test_crops_of_one_input_are_sampled_together(tmp_path: Path) -> None:
    """Three crops of one feature map with their own matrices (the attention model's lips and
    eyes) are sampled in one gather; a crop whose matrix is computed after the first crop, one
    of another size and one of another input are sampled on their own. Each crop matches the
    reference of its own matrix."""
    subset = [0, 3, 5, 8]
    options = {"left_rotation_idx": 0, "right_rotation_idx": 5, "output_height": 6,
               "output_width": 6, "scale_x": 1.5, "scale_y": 1.5, "subset_idxs": subset,
               "target_rotation_radians": 0.0}
    m = TinyModel()
    features, other = m.tensor((1, 12, 12, 4)), m.tensor((1, 12, 12, 4))
    mats = [m.tensor((1, 4, 4)) for _ in range(3)]
    landmarks, late = m.tensor((1, 9, 2)), m.tensor((1, 4, 4))
    crops = [m.tensor((1, 6, 6, 4)) for _ in range(3)]
    late_crop, small_crop, other_crop = (m.tensor((1, 6, 6, 4)), m.tensor((1, 5, 5, 4)),
                                         m.tensor((1, 6, 6, 4)))

    def crop(x: int, matrix: int, y: int, size: int = 6) -> None:
        m.op(Op.CUSTOM, [x, matrix], [y], custom="TransformTensorBilinear",
             custom_options={"output_height": size, "output_width": size}, version=2)

    crop(features, mats[0], crops[0])
    m.op(Op.CUSTOM, [landmarks], [late], custom="Landmarks2TransformMatrix",
         custom_options=options, version=2)
    crop(features, mats[1], crops[1])
    crop(features, late, late_crop)
    crop(features, mats[0], small_crop, size=5)
    crop(other, mats[1], other_crop)
    crop(features, mats[2], crops[2])
    data = m.build([features, other, landmarks, *mats],
                   [*crops, late_crop, small_crop, other_crop])
    path = tmp_path / "crops.tflite"
    path.write_bytes(data)
    gathers = [n for n in convert_tflite(path).graph.node if n.op_type == "Gather"]
    # One gather of the three crops, one for each of the late, small and other crops, and the
    # matrix's gather of its landmarks.
    assert len(gathers) == 5
    feature_map = RNG.uniform(-1, 1, (1, 12, 12, 4)).astype(np.float32)
    other_map = RNG.uniform(-1, 1, (1, 12, 12, 4)).astype(np.float32)
    points = RNG.uniform(0, 12, (1, 9, 2)).astype(np.float32)
    matrices = [_crop_matrix((12, 12), (6, 6)) for _ in range(3)]
    got = _run(tmp_path, data, feature_map, other_map, points, *matrices)
    late_matrix = _matrix_reference(points, 0, 5, subset, 6, 6, 1.5, 1.5, 0.0)
    expected = [*(_bilinear_reference(feature_map, t, 6, 6) for t in matrices),
                _bilinear_reference(feature_map, late_matrix, 6, 6),
                _bilinear_reference(feature_map, matrices[0], 5, 5),
                _bilinear_reference(other_map, matrices[1], 6, 6)]
    for crop_got, crop_expected in zip(got, expected, strict=True):
        np.testing.assert_allclose(crop_got, crop_expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("dims", [2, 3])
def test_transform_landmarks(tmp_path: Path, dims: int) -> None:
    m = TinyModel()
    x, matrix, y = m.tensor((1, 80, dims)), m.tensor((1, 4, 4)), m.tensor((1, 80, dims))
    m.op(Op.CUSTOM, [x, matrix], [y], custom="TransformLandmarks", version=2)
    data = m.build([x, matrix], [y])
    landmarks = RNG.uniform(-5, 20, (1, 80, dims)).astype(np.float32)
    t = RNG.uniform(-3, 3, (1, 4, 4)).astype(np.float32)
    [got] = _run(tmp_path, data, landmarks, t)
    np.testing.assert_allclose(got, _landmarks_reference(landmarks, t), rtol=1e-5, atol=1e-4)


def test_the_attention_models_crop_chain(tmp_path: Path) -> None:
    """Matrix -> bilinear crop -> landmarks back through the matrix, as the attention model
    chains them (with its 48x48x32 features and 16x16 crops)."""
    subset = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0]
    options = {"left_rotation_idx": 61, "right_rotation_idx": 291, "output_height": 16,
               "output_width": 16, "scale_x": 1.5, "scale_y": 1.5, "subset_idxs": subset,
               "target_rotation_radians": 0.0}
    m = TinyModel()
    mesh, features = m.tensor((1, 468, 3)), m.tensor((1, 48, 48, 32))
    matrix, crop = m.tensor((1, 4, 4)), m.tensor((1, 16, 16, 32))
    points, moved = m.tensor((1, 80, 2)), m.tensor((1, 80, 2))
    m.op(Op.CUSTOM, [mesh], [matrix], custom="Landmarks2TransformMatrix", custom_options=options,
         version=2)
    m.op(Op.CUSTOM, [features, matrix], [crop], custom="TransformTensorBilinear",
         custom_options={"output_height": 16, "output_width": 16}, version=2)
    m.op(Op.CUSTOM, [points, matrix], [moved], custom="TransformLandmarks", version=2)
    data = m.build([mesh, features, points], [crop, moved])
    mesh_in = RNG.uniform(8, 40, (1, 468, 3)).astype(np.float32)
    features_in = RNG.uniform(-1, 1, (1, 48, 48, 32)).astype(np.float32)
    points_in = RNG.uniform(0, 16, (1, 80, 2)).astype(np.float32)
    got_crop, got_moved = _run(tmp_path, data, mesh_in, features_in, points_in)
    t = _matrix_reference(mesh_in, 61, 291, subset, 16, 16, 1.5, 1.5, 0.0)
    np.testing.assert_allclose(got_crop, _bilinear_reference(features_in, t, 16, 16), atol=1e-4)
    np.testing.assert_allclose(got_moved, _landmarks_reference(points_in, t), rtol=1e-5,
                               atol=1e-4)


def test_other_versions_are_named(tmp_path: Path) -> None:
    m = TinyModel()
    x, matrix, y = m.tensor((1, 4, 4, 1)), m.tensor((1, 4, 4)), m.tensor((1, 2, 2, 1))
    m.op(Op.CUSTOM, [x, matrix], [y], custom="TransformTensorBilinear",
         custom_options={"output_height": 2, "output_width": 2}, version=1)
    path = tmp_path / "v1.tflite"
    path.write_bytes(m.build([x, matrix], [y]))
    with pytest.raises(UnsupportedOpError, match=r"v1\.tflite: operator #0 \(custom operator "
                       r"TransformTensorBilinear\) is version 1; the converter implements "
                       r"version 2"):
        convert_tflite(path)


@pytest.mark.parametrize(("in_hw", "kernel", "stride", "padding"), [
    ((6, 5), (2, 2), (2, 2), 1),  # the selfie models' 2x upsampling
    ((5, 4), (3, 3), (2, 2), 1),  # SAME with an odd overhang: asymmetric trim
    ((4, 3), (3, 2), (1, 2), 2),  # VALID
])
def test_transpose_conv_bias(tmp_path: Path, in_hw: tuple[int, int], kernel: tuple[int, int],
                             stride: tuple[int, int], padding: int) -> None:
    totals = [max(0, k - (n - 1) % s - 1) if padding == 1 else 0
              for n, k, s in zip(in_hw, kernel, stride, strict=True)]
    out_hw = ((in_hw[0] - 1) * stride[0] + kernel[0] - totals[0],
              (in_hw[1] - 1) * stride[1] + kernel[1] - totals[1])
    weights = RNG.uniform(-1, 1, (3, *kernel, 4)).astype(np.float32)
    bias = RNG.uniform(-1, 1, 3).astype(np.float32)
    m = TinyModel()
    x, y = m.tensor((1, *in_hw, 4)), m.tensor((1, *out_hw, 3))
    # TfLiteTransposeConvParams: padding (1 SAME, 2 VALID), stride width, stride height.
    params = struct.pack("<iii", padding, stride[1], stride[0])
    m.op(Op.CUSTOM, [x, m.tensor(weights.shape, weights), m.tensor((3,), bias)], [y],
         custom="Convolution2DTransposeBias", raw_options=params)
    data = m.build([x], [y])
    features = RNG.uniform(-1, 1, (1, *in_hw, 4)).astype(np.float32)
    [got] = _run(tmp_path, data, features)
    expected = _transpose_conv_reference(features, weights, bias, stride,
                                         (totals[0] // 2, totals[1] // 2), out_hw)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    interpreter = Interpreter(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], features)
    interpreter.invoke()
    litert = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, litert, rtol=0, atol=1e-5)
