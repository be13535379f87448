"""LandmarksSmoothingCalculator: MediaPipe's filters against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from calculators.util.landmarks_smoothing import OneEuroFilter, RelativeVelocityFilter
from graphflow.formats import NormalizedLandmarkList
from graphflow.testing import run_graph


def test_velocity_filter_steps() -> None:
    f = RelativeVelocityFilter(window_size=5, velocity_scale=10.0)
    first = f.apply(0 + 1, np.array([10.0]), 0.5)  # first value passes through
    assert first.tolist() == [10.0]
    # Second: distance 12*0.5 - 10*0.5 = 1 over 1/30 s -> velocity 30; alpha = 1 - 1/301.
    second = f.apply(1 + 33_333_333, np.array([12.0]), 0.5)
    alpha = 1 - 1 / 301
    assert second[0] == pytest.approx(alpha * 12 + (1 - alpha) * 10)
    assert f.apply(5, np.array([99.0]), 0.5).tolist() == [99.0]  # time went back: raw value


def test_one_euro_filter_steps() -> None:
    f = OneEuroFilter(frequency=30.0, min_cutoff=1.0, beta=0.0, derivate_cutoff=1.0)
    assert f.apply(1_000, np.array([1.0]), 1.0).tolist() == [1.0]
    out = f.apply(1_000 + 50_000_000, np.array([2.0]), 1.0)  # 20 Hz now
    te, tau = 1 / 20, 1 / (2 * math.pi)
    alpha = 1 / (1 + tau / te)
    assert out[0] == pytest.approx(alpha * 2 + (1 - alpha) * 1)


def test_calculator_smooths_and_resets() -> None:
    a = NormalizedLandmarkList([[0.1, 0.1, 0.0], [0.3, 0.5, 0.0]])
    b = NormalizedLandmarkList([[0.2, 0.1, 0.0], [0.4, 0.5, 0.0]])
    out = run_graph("""
input_stream: "lm"
input_stream: "size"
output_stream: "smooth"
node { calculator: "LandmarksSmoothingCalculator" input_stream: "NORM_LANDMARKS:lm"
  input_stream: "IMAGE_SIZE:size" output_stream: "NORM_FILTERED_LANDMARKS:smooth"
  options { [mediapipe.LandmarksSmoothingCalculatorOptions.ext] {
    one_euro_filter { min_cutoff: 0.01 beta: 0.0 } } } }
""", inputs={"lm": [(1_000, a), (34_333, b), (101_000, b)],
             "size": [(1_000, (100, 100)), (34_333, (100, 100)), (67_666, (100, 100)),
                      (101_000, (100, 100))]})
    got = [np.asarray(p.payload) for p in out["smooth"]]
    assert [int(p.timestamp) for p in out["smooth"]] == [1_000, 34_333, 101_000]
    assert np.allclose(got[0], np.asarray(a))
    assert 0.1 < got[1][0, 0] < 0.12  # heavily smoothed towards the previous value
    assert np.allclose(got[2], np.asarray(b))  # no landmarks at 67666: the filter restarted
