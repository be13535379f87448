"""ImageToTensorCalculator: ROI arithmetic, warp crop against the MATRIX output, letterboxing."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import cv2
import numpy as np
import pytest

from calculators.tensor.image_to_tensor import (
    RotatedRect,
    _pixel_grid,
    _roi_affine,
    crop_to_tensor,
    pad_roi,
    rect_to_image_matrix,
    roi_from_rect,
)
from graphflow.formats import NormalizedRect
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_calculator


def _gradient(width: int, height: int) -> np.ndarray:
    """An RGB image whose channels are linear in x and y (bilinear sampling is exact on it)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([x * 0.5 + 20, y * 0.5 + 30, 0.25 * x + 0.25 * y + 10], axis=2)
    return np.round(img).astype(np.uint8)


def test_pad_roi_letterboxes_to_tensor_aspect() -> None:
    roi = RotatedRect(100, 50, 200, 100, 0.0)
    assert pad_roi(128, 128, roi) == pytest.approx((0.0, 0.25, 0.0, 0.25))
    assert (roi.width, roi.height) == (200, 200)
    tall = RotatedRect(50, 100, 100, 200, 0.0)
    assert pad_roi(128, 128, tall) == pytest.approx((0.25, 0.0, 0.25, 0.0))
    assert (tall.width, tall.height) == (200, 200)


def test_roi_from_rect_scales_by_image_size() -> None:
    roi = roi_from_rect(640, 480, NormalizedRect(0.25, 0.5, 0.5, 0.25, 0.3))
    assert (roi.center_x, roi.center_y, roi.width, roi.height, roi.rotation) == (
        160, 240, 320, 120, 0.3)
    whole = roi_from_rect(640, 480, None)
    assert (whole.center_x, whole.center_y, whole.width, whole.height) == (320, 240, 640, 480)


def test_matrix_of_a_quarter_turn_by_hand() -> None:
    # A 50x40 px ROI at (80, 60) of a 160x120 image, turned 90 degrees clockwise (y down):
    # the ROI's x axis points down the image, its y axis points left.
    m = rect_to_image_matrix(RotatedRect(80, 60, 50, 40, math.pi / 2), 160, 120).reshape(4, 4)
    for (u, v), (x, y) in [((1.0, 0.5), (80, 85)),  # right middle: 25 px below the center
                           ((0.5, 0.0), (100, 60)),  # top middle: 20 px right of it
                           ((0.0, 0.0), (100, 35))]:  # top-left corner
        assert m[:2, :2] @ (u, v) + m[:2, 3] == pytest.approx((x / 160, y / 120), abs=1e-6)
    assert m[2, 2] == pytest.approx(50 / 160)  # z scales with the ROI width


@pytest.mark.parametrize("rotation", [0.0, 0.4, -math.pi / 2, 2.5])
def test_crop_samples_where_the_matrix_points(rotation: float) -> None:
    """Each tensor pixel holds the image value at the point the MATRIX maps it to."""
    width, height = 160, 120
    image = _gradient(width, height)
    roi = RotatedRect(80, 60, 50, 40, rotation)
    tensor = crop_to_tensor(image, roi, 32, 24, (0.0, 255.0), border_zero=True)
    assert tensor.shape == (1, 24, 32, 3) and tensor.dtype == np.float32
    m = rect_to_image_matrix(roi, width, height).reshape(4, 4)
    v, u = np.mgrid[0:24, 0:32].astype(np.float64)
    sx = (m[0, 0] * u / 32 + m[0, 1] * v / 24 + m[0, 3]) * width
    sy = (m[1, 0] * u / 32 + m[1, 1] * v / 24 + m[1, 3]) * height
    expected = np.stack([sx * 0.5 + 20, sy * 0.5 + 30, 0.25 * sx + 0.25 * sy + 10], axis=2)
    assert np.abs(tensor[0] - expected).max() < 1.5  # rounding of the uint8 source image


@pytest.mark.parametrize("roi", [
    RotatedRect(330, 230, 260, 260, 0.35),  # a face: the RGBA part path
    RotatedRect(330, 240, 450, 450, 0.35),  # a large turned face: RGBA part, cut at edges
    RotatedRect(20, 460, 150, 120, -0.8),  # over the bottom-left corner
    RotatedRect(-200, 240, 100, 100, 0.0),  # wholly outside
    RotatedRect(320, 240, 640, 480, 0.0),  # the whole frame: warped as it is
])
@pytest.mark.parametrize("border_zero", [True, False])
def test_crop_matches_a_remap_of_the_whole_image(roi: RotatedRect, border_zero: bool) -> None:
    """Against OpenCV's remap of the whole RGB frame at the points the MATRIX gives."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    image = cv2.GaussianBlur(noise, (0, 0), 3).astype(np.uint8, copy=False)
    tensor = crop_to_tensor(image, RotatedRect(**vars(roi)), 192, 192, (0.0, 255.0),
                            border_zero)
    m = rect_to_image_matrix(roi, 640, 480).reshape(4, 4)
    v, u = np.mgrid[0:192, 0:192].astype(np.float32) / 192
    map_x = (m[0, 0] * u + m[0, 1] * v + m[0, 3]) * 640
    map_y = (m[1, 0] * u + m[1, 1] * v + m[1, 3]) * 480
    border = cv2.BORDER_CONSTANT if border_zero else cv2.BORDER_REPLICATE
    expected = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=border)
    assert np.abs(tensor[0] - expected).max() <= 1.0


def _warp_reference(image: np.ndarray, roi: RotatedRect, width: int, height: int,
                    border_zero: bool) -> np.ndarray:
    """OpenCV's bilinear warp of the whole image, mapping the ROI's corners onto the tensor's."""
    m = rect_to_image_matrix(roi, image.shape[1], image.shape[0]).reshape(4, 4)
    matrix = np.array([[m[0, 0] * image.shape[1] / width, m[0, 1] * image.shape[1] / height,
                        m[0, 3] * image.shape[1]],
                       [m[1, 0] * image.shape[0] / width, m[1, 1] * image.shape[0] / height,
                        m[1, 3] * image.shape[0]]])
    border = cv2.BORDER_CONSTANT if border_zero else cv2.BORDER_REPLICATE
    return cv2.warpAffine(np.ascontiguousarray(image[..., :3]), matrix, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border)


@pytest.mark.parametrize(("size", "channels", "on_grid"), [
    ((640, 480), 3, True), ((1280, 720), 3, True), ((1920, 1080), 4, True),
    ((480, 640), 3, True), ((200, 100), 4, False)])
def test_a_whole_frame_letterbox_equals_the_warp_exactly(size: tuple[int, int], channels: int,
                                                         on_grid: bool) -> None:
    """The detector's letterbox takes every 5th/10th/15th pixel: the warp's very numbers."""
    rng = np.random.default_rng(size[0])
    image = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    roi = roi_from_rect(*size, None)
    pad_roi(128, 128, roi)
    assert (_pixel_grid(*size, 128, 128, _sampling(roi, 128, 128)) is not None) == on_grid
    tensor = crop_to_tensor(image, roi, 128, 128, (-1.0, 1.0), border_zero=True)
    expected = _warp_reference(image, roi, 128, 128, True).astype(np.float32)
    np.testing.assert_array_equal(tensor[0], expected * np.float32(2 / 255) + np.float32(-1.0))


@pytest.mark.parametrize(("roi", "border_zero", "on_grid"), [
    (RotatedRect(105, 62, 60, 30, 0.0), False, True),  # inside, steps 2 and 1
    (RotatedRect(10, 60, 60, 30, 0.0), True, True),  # over the left edge
    (RotatedRect(190, 112, 60, 60, 0.0), True, True),  # over the bottom-right corner
    (RotatedRect(189, 112, 60, 60, 0.0), True, False),  # the last step would leave the image
    (RotatedRect(500, 50, 30, 30, 0.0), True, False),  # wholly outside
])
def test_crops_on_the_pixel_grid_equal_the_warp_exactly(roi: RotatedRect, border_zero: bool,
                                                        on_grid: bool) -> None:
    image = np.random.default_rng(3).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    assert (_pixel_grid(200, 120, 30, 30, _sampling(roi, 30, 30)) is not None) == on_grid
    tensor = crop_to_tensor(image, RotatedRect(**vars(roi)), 30, 30, (0.0, 255.0), border_zero)
    expected = _warp_reference(image, roi, 30, 30, border_zero).astype(np.float32)
    np.testing.assert_array_equal(tensor[0], expected * np.float32(1.0))


def test_off_grid_and_rotated_crops_are_not_taken_for_pixel_picks() -> None:
    for roi in (RotatedRect(100, 60, 61, 30, 0.0), RotatedRect(100.5, 60, 60, 30, 0.0),
                RotatedRect(100, 60, 60, 30, 0.1), RotatedRect(100, 60, 15, 15, 0.0)):
        assert _pixel_grid(200, 120, 30, 30, _sampling(roi, 30, 30)) is None


def _sampling(roi: RotatedRect, width: int, height: int) -> np.ndarray:
    """The 2x3 matrix from tensor pixels to image points that crop_to_tensor samples with."""
    m00, m01, m02, m10, m11, m12 = _roi_affine(roi)
    return np.array([[m00 / width, m01 / height, m02], [m10 / width, m11 / height, m12]])


@pytest.mark.parametrize(("size", "channels", "roi", "value_range", "dtype"), [
    ((640, 480), 3, RotatedRect(330, 230, 260, 260, 0.35), (0.0, 1.0), np.float32),  # RGBA part
    ((640, 480), 4, RotatedRect(20, 460, 150, 120, -0.8), (-1.0, 1.0), np.float32),
    ((640, 480), 3, RotatedRect(320, 240, 640, 640, 0.0), (-1.0, 1.0), np.float32),  # grid
    ((200, 100), 4, RotatedRect(100, 50, 200, 200, 0.0), (0.0, 1.0), np.float32),  # warped
    ((640, 480), 3, RotatedRect(330, 230, 260, 260, 0.35), (-128.0, 127.0), np.int8),
])
@pytest.mark.parametrize("border_zero", [True, False])
def test_channels_first_crops_hold_the_same_values_in_planes(
        size: tuple[int, int], channels: int, roi: RotatedRect, value_range: tuple[float, float],
        dtype: type, border_zero: bool) -> None:
    image = np.random.default_rng(5).integers(0, 256, (size[1], size[0], channels), np.uint8)
    interleaved = crop_to_tensor(image, RotatedRect(**vars(roi)), 128, 128, value_range,
                                 border_zero, dtype)
    planar = crop_to_tensor(image, RotatedRect(**vars(roi)), 128, 128, value_range, border_zero,
                            dtype, channels_first=True)
    assert planar.shape == interleaved.shape == (1, 128, 128, 3)
    assert planar.dtype == interleaved.dtype == dtype
    assert interleaved.flags.c_contiguous and planar.transpose(0, 3, 1, 2).flags.c_contiguous
    np.testing.assert_array_equal(planar, interleaved)


def test_crop_value_range_and_int_types() -> None:
    image = np.full((10, 10, 3), 255, np.uint8)
    image[:, :, 1] = 0
    roi = RotatedRect(5, 5, 10, 10, 0.0)
    t = crop_to_tensor(image, roi, 4, 4, (-1.0, 1.0), border_zero=True)
    assert np.allclose(t[0, :, :, 0], 1.0) and np.allclose(t[0, :, :, 1], -1.0)
    u8 = crop_to_tensor(image, roi, 4, 4, (0.0, 255.0), False, np.uint8)
    assert u8.dtype == np.uint8 and u8[0, 0, 0, 0] == 255


def _run(image: ImageFrame, options: str, rect: NormalizedRect | None = None) -> dict:
    inputs: dict[str, Iterable[tuple[int, Any]]] = {"IMAGE": [(0, image)]}
    if rect is not None:
        inputs["NORM_RECT"] = [(0, rect)]
    return run_calculator("ImageToTensorCalculator", inputs,
                          outputs=["TENSORS", "MATRIX", "LETTERBOX_PADDING"],
                          options=f"[mediapipe.ImageToTensorCalculatorOptions.ext] {{{options}}}")


def test_calculator_letterbox_with_zero_border() -> None:
    image = ImageFrame(np.full((50, 100, 4), 200, np.uint8))  # RGBA input, wide
    out = _run(image, "output_tensor_width: 64 output_tensor_height: 64 keep_aspect_ratio: true "
                      "output_tensor_float_range { min: -1 max: 1 } border_mode: BORDER_ZERO")
    (tensor,) = out["TENSORS"][0].payload
    assert tensor.shape == (1, 64, 64, 3)
    assert out["LETTERBOX_PADDING"][0].payload == pytest.approx((0.0, 0.25, 0.0, 0.25))
    assert np.allclose(tensor[0, :15], -1.0)  # padding rows: pixel 0 -> -1
    assert np.allclose(tensor[0, 17:47], 200 / 255 * 2 - 1, atol=1e-5)
    matrix = out["MATRIX"][0].payload.reshape(4, 4)
    # The tensor's top-left corner lies above the image (the letterbox).
    assert matrix[:2, 3] == pytest.approx((0.0, -0.5))


def test_calculator_empty_rect_gives_no_output() -> None:
    image = ImageFrame(np.zeros((8, 8, 3), np.uint8))
    out = _run(image, "output_tensor_width: 4 output_tensor_height: 4 "
                      "output_tensor_float_range { min: 0 max: 1 }",
               NormalizedRect(0.5, 0.5, 0.0, 0.0))
    assert out["TENSORS"] == [] and out["MATRIX"] == []


def test_calculator_rejects_a_non_image() -> None:
    with pytest.raises(Exception, match="IMAGE must be an ImageFrame"):
        _run(np.zeros((8, 8, 3), np.uint8),  # type: ignore[arg-type]
             "output_tensor_width: 4 output_tensor_height: 4 "
             "output_tensor_float_range { min: 0 max: 1 }")


def test_calculator_needs_a_range() -> None:
    with pytest.raises(Exception, match="output_tensor_float_range"):
        _run(ImageFrame(np.zeros((8, 8, 3), np.uint8)), "output_tensor_width: 4")

