"""The CPU renderer's pieces against `DrawItem.shade` and the reference renderer."""

import numpy as np
import pytest

from calculators.eymo import DrawItem, draw_items, parse
from calculators.eymo.cpu_renderer import _recolour, render_into

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
    {"saturation": 1.3, "brightness": 0.7},  # the luma path with a gain below 1
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
    opaque = pixels.copy()
    opaque[..., 3] = 255
    assert (_recolour(opaque, drawn)[..., 3] == 255).all()  # an opaque alpha stays


def test_recolour_without_colour_operations_is_the_same_array() -> None:
    pixels = np.zeros((3, 3, 4), np.uint8)
    assert _recolour(pixels, item()) is pixels


def test_render_into_keeps_the_alpha_and_draws_the_colours_as_on_an_opaque_frame() -> None:
    """The colours drawn do not depend on the frame's alpha, which stays as it was; an opaque
    frame may skip copying it (keep_alpha=False) for the same pixels."""
    rng = np.random.default_rng(3)
    height, width = 120, 160
    rgba = rng.integers(0, 256, (height, width, 4), np.uint8)
    face = np.column_stack([rng.uniform(0.3, 0.7, (468, 2)), np.zeros(468)]).astype(np.float32)
    items = draw_items(parse("mouth: scale(1.5), brighten(0.7), saturate(1.3)\n"
                             "leye: copy_to(nose), rotate(20)"), [face], (width, height), 0)
    assert items
    drawn = rgba.copy()
    render_into(drawn, items)
    np.testing.assert_array_equal(drawn[..., 3], rgba[..., 3])
    assert (drawn[..., :3] != rgba[..., :3]).any()
    opaque = rgba.copy()
    opaque[..., 3] = 255
    render_into(opaque, items, keep_alpha=False)
    np.testing.assert_array_equal(opaque[..., :3], drawn[..., :3])
    assert (opaque[..., 3] == 255).all()
