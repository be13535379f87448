"""Calculators cap OpenCV's thread pool (calculators/_opencv.py), unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = ("import cv2; default = cv2.getNumThreads(); "
         "import calculators.tensor.image_to_tensor; print(default, cv2.getNumThreads())")


def _threads(setting: str | None) -> tuple[int, int]:
    env = {k: v for k, v in os.environ.items() if k != "GRAPHFLOW_OPENCV_THREADS"}
    if setting is not None:
        env["GRAPHFLOW_OPENCV_THREADS"] = setting
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    default, after = out.stdout.split()
    return int(default), int(after)


@pytest.mark.parametrize(("setting", "expected"), [(None, 2), ("1", 1), ("3", 3)])
def test_importing_a_calculator_caps_opencv_threads(setting: str | None, expected: int) -> None:
    assert _threads(setting)[1] == expected


def test_zero_keeps_opencv_default() -> None:
    default, after = _threads("0")
    assert after == default


def test_a_bad_setting_is_reported() -> None:
    env = dict(os.environ, GRAPHFLOW_OPENCV_THREADS="many")
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode != 0
    assert "GRAPHFLOW_OPENCV_THREADS must be a thread count" in out.stderr
