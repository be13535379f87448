"""InferenceCalculator: image tensors in either memory layout against a plain session."""

from __future__ import annotations

import numpy as np
import pytest

from graphflow import tflite_onnx
from graphflow.testing import run_calculator

_OPTIONS = ('[mediapipe.InferenceCalculatorOptions.ext] '
            '{ model_path: "mediapipe/modules/face_landmark/face_landmark.tflite" }')


def test_interleaved_and_planar_tensors_give_the_plain_conversions_outputs() -> None:
    """The calculator's session takes NCHW images; a (1, H, W, 3) tensor is the same input
    whether its memory is channel-interleaved or planar (ImageToTensor's)."""
    rng = np.random.default_rng(11)
    interleaved = rng.uniform(0.0, 1.0, (1, 192, 192, 3)).astype(np.float32)
    planar = np.ascontiguousarray(interleaved.transpose(0, 3, 1, 2)).transpose(0, 2, 3, 1)
    assert not planar.flags.c_contiguous
    out = run_calculator("InferenceCalculator",
                         {"TENSORS": [(0, [interleaved]), (1, [planar])]},
                         outputs=["TENSORS"], options=_OPTIONS)
    session = tflite_onnx.create_session(
        "mediapipe/modules/face_landmark/face_landmark.tflite", num_threads=1)
    want = session.run(None, {"input_1": interleaved})
    for packet in out["TENSORS"]:
        got = packet.payload
        assert [g.shape for g in got] == [(1, 1, 1, 1404), (1, 1, 1, 1)]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)


def test_a_wrong_shape_is_named_in_tflites_layout() -> None:
    with pytest.raises(Exception, match=r"must have shape \(1, 192, 192, 3\), got \(1, 3, 192"):
        run_calculator("InferenceCalculator",
                       {"TENSORS": [(0, [np.zeros((1, 3, 192, 192), np.float32)])]},
                       outputs=["TENSORS"], options=_OPTIONS)
