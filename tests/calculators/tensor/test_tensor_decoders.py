"""TensorsToFloats, TensorsToLandmarks and their helpers against numpy computed by hand.

The decoders take shortcuts for speed (one value in Python floats, one scalar divisor for square
inputs, no pixel array when only normalized landmarks are asked for); these tests pin their
results to the plain array arithmetic bit for bit.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from calculators.tensor.activation import logistic
from calculators.tensor.tensors_to_landmarks import decode_landmarks
from graphflow.testing import run_calculator


def _array_sigmoid(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-values.astype(np.float64)))


def test_logistic_is_the_array_sigmoid_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    logits = np.concatenate([
        rng.uniform(-40, 40, 20000), rng.normal(0, 2, 20000),
        [0.0, -0.0, -700.0, -700.5, -709.7, -709.8, -745.2, -800.0, 710.0, 1e30, -1e30,
         np.inf, -np.inf]]).astype(np.float32).astype(np.float64)
    expected = _array_sigmoid(logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning either
        got = np.array([logistic(v) for v in logits.tolist()])
    assert got.tobytes() == expected.tobytes()
    assert np.isnan(logistic(float("nan")))


def test_float_output_is_the_sigmoid_of_the_one_value() -> None:
    logits = [2.5, -3.75, 0.0, -1000.0]
    out = run_calculator(
        "TensorsToFloatsCalculator",
        {"TENSORS": [(t, [np.array([[[[v]]]], np.float32)]) for t, v in enumerate(logits)]},
        outputs=["FLOAT"], options="[mediapipe.TensorsToFloatsCalculatorOptions.ext] "
                                   "{ activation: SIGMOID }")
    expected = _array_sigmoid(np.array(logits, np.float32)).tolist()
    assert [p.payload for p in out["FLOAT"]] == expected
    assert all(type(p.payload) is float for p in out["FLOAT"])


def test_floats_output_with_and_without_sigmoid() -> None:
    tensor = np.array([[0.5, -2.0, 7.25]], np.float32)
    plain = run_calculator("TensorsToFloatsCalculator", {"TENSORS": [(0, [tensor])]},
                           outputs=["FLOATS"])
    assert plain["FLOATS"][0].payload == [0.5, -2.0, 7.25]
    squashed = run_calculator(
        "TensorsToFloatsCalculator", {"TENSORS": [(0, [tensor])]}, outputs=["FLOATS"],
        options="[mediapipe.TensorsToFloatsCalculatorOptions.ext] { activation: SIGMOID }")
    assert squashed["FLOATS"][0].payload == _array_sigmoid(tensor.reshape(-1)).tolist()


def test_float_output_rejects_a_tensor_of_several_values() -> None:
    with pytest.raises(Exception, match="FLOAT needs a one-value tensor, got 2 values"):
        run_calculator("TensorsToFloatsCalculator",
                       {"TENSORS": [(0, [np.zeros((1, 2), np.float32)])]}, outputs=["FLOAT"])


def _decode_by_hand(raw: np.ndarray, n: int, flip_x: float | None, flip_y: float | None,
                    divisor: np.ndarray) -> np.ndarray:
    """The pixel array built column by column, then divided: the decoders' plain arithmetic."""
    rows = raw.reshape(n, -1)
    xyz = np.zeros((n, 3), np.float32)
    xyz[:, :min(3, rows.shape[1])] = rows[:, :3]
    if flip_x is not None:
        xyz[:, 0] = np.float32(flip_x) - xyz[:, 0]
    if flip_y is not None:
        xyz[:, 1] = np.float32(flip_y) - xyz[:, 1]
    return xyz / divisor


@pytest.mark.parametrize("columns", [2, 3, 5])
@pytest.mark.parametrize("flip", [False, True])
def test_decode_with_a_divisor_is_decode_then_divide(columns: int, flip: bool) -> None:
    n = 7
    raw = np.random.default_rng(columns).normal(90, 40, (1, n * columns)).astype(np.float32)
    flip_x, flip_y = (192.0, 160.0) if flip else (None, None)
    for divisor in (np.array([192, 160, 96], np.float32), np.float32(192)):
        xyz, visibility, presence = decode_landmarks(raw, n, flip_x, flip_y, divisor=divisor)
        expected = _decode_by_hand(raw, n, flip_x, flip_y, np.broadcast_to(divisor, 3))
        assert xyz.tobytes() == expected.tobytes()
        assert not xyz.flags.writeable
        assert not np.shares_memory(xyz, raw)  # its own array
        assert (visibility is None) == (columns < 4) and (presence is None) == (columns < 5)
    pixels, _, _ = decode_landmarks(raw, n, flip_x, flip_y)
    assert pixels.tobytes() == _decode_by_hand(raw, n, flip_x, flip_y,
                                               np.ones(3, np.float32)).tobytes()
    assert not np.shares_memory(pixels, raw)


@pytest.mark.parametrize(("width", "height", "normalize_z"), [(192, 192, 1.0), (256, 128, 0.5)])
def test_calculator_gives_pixels_and_normalized_landmarks(width: int, height: int,
                                                          normalize_z: float) -> None:
    n = 5
    raw = np.random.default_rng(width).normal(100, 30, (1, 1, 1, n * 3)).astype(np.float32)
    options = (f"[mediapipe.TensorsToLandmarksCalculatorOptions.ext] {{ num_landmarks: {n} "
               f"input_image_width: {width} input_image_height: {height} "
               f"normalize_z: {normalize_z} }}")
    divisor = np.array([width, height, width * normalize_z], np.float32)
    both = run_calculator("TensorsToLandmarksCalculator", {"TENSORS": [(0, [raw])]},
                          outputs=["LANDMARKS", "NORM_LANDMARKS"], options=options)
    norm_only = run_calculator("TensorsToLandmarksCalculator", {"TENSORS": [(0, [raw])]},
                               outputs=["NORM_LANDMARKS"], options=options)
    rows = raw.reshape(n, 3)
    assert both["LANDMARKS"][0].payload.xyz.tobytes() == rows.tobytes()
    for out in (both, norm_only):
        assert out["NORM_LANDMARKS"][0].payload.xyz.tobytes() == (rows / divisor).tobytes()
