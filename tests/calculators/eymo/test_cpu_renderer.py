"""The CPU renderer's pieces against `DrawItem.shade` and the reference renderer."""

import numpy as np
import pytest

from calculators.eymo import DrawItem
from calculators.eymo.cpu_renderer import _recolour

SQUARE = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], np.float32)


def item(**colour: object) -> DrawItem:
    return DrawItem(src=SQUARE, dst=SQUARE, triangles=np.array([[0, 1, 2], [0, 2, 3]], np.int32),
                    offsets=np.zeros((1, 2), np.float32), bbox=(0, 0, 4, 4), feather=1.0,
                    **colour)  # type: ignore[arg-type]


@pytest.mark.parametrize("colour", [
    {"brightness": 1.4},  # one multiply
    {"channels": (0.5, 1.0, 1.8), "brightness": 1.2},  # one multiply, per channel
    {"saturation": 1.3, "brightness": 1.2},  # the luma mixed in
    {"saturation": 0.0},  # grey
    {"saturation": 1.2, "channels": (1.5, 1.5, 1.5)},  # equal gains: still the luma path
    {"saturation": 0.6, "channels": (0.2, 1.0, 1.3)},  # unequal gains: the whole matrix
])
def test_recolour_matches_shade_within_one_step(colour: dict[str, object]) -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (37, 53, 4), np.uint8)
    drawn = item(**colour)
    expected = np.round(drawn.shade(pixels[..., :3] / 255.0) * 255.0)
    out = _recolour(pixels, drawn)
    assert out.shape == pixels.shape and out.dtype == np.uint8
    diff = np.abs(out[..., :3].astype(int) - expected)
    assert diff.max() <= 1, (diff.max(), colour)
    assert diff.mean() < 0.5


def test_recolour_without_colour_operations_is_the_same_array() -> None:
    pixels = np.zeros((3, 3, 4), np.uint8)
    assert _recolour(pixels, item()) is pixels
