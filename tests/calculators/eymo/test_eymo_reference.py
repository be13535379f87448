"""Tests of the CPU reference renderer and of the feathering alpha, on synthetic and real faces."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from calculators.eymo import PARTS, DrawItem, draw_items, parse
from calculators.eymo.geometry import polygon_centroid
from calculators.eymo.parts import part_polygon
from calculators.eymo.reference import render
from calculators.eymo.tracking import FaceNumbering

ROOT = Path(__file__).resolve().parents[3]
W, H = 160, 120


def frame(seed: int = 0, channels: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, channels), dtype=np.uint8)


def draw(script: str, image: np.ndarray, t_us: int = 0) -> np.ndarray:
    return render(image, draw_items(parse(script), [], (image.shape[1], image.shape[0]), t_us))


# rect(0.25 0.25 0.5 0.5) here is x 40..120, y 30..90; its feather is 2% of 80 = 1.6 px, so
# pixels 2 or more inside the edge are drawn at full strength.
RECT = "rect(0.25 0.25 0.5 0.5)"


def test_an_item_that_changes_nothing_leaves_the_frame_as_it_was() -> None:
    image = frame()
    np.testing.assert_array_equal(draw(f"{RECT}: brighten(1)", image), image)


def test_pixels_outside_the_box_are_untouched_and_rgba_alpha_is_kept() -> None:
    image = frame(1, channels=4)
    out = draw(f"{RECT}: brighten(0.5)", image)
    mask = np.ones((H, W), dtype=bool)
    mask[30:90, 40:120] = False
    np.testing.assert_array_equal(out[mask], image[mask])
    np.testing.assert_array_equal(out[..., 3], image[..., 3])
    inner = image[32:88, 42:118, :3].astype(np.float64)
    np.testing.assert_allclose(out[32:88, 42:118, :3], np.round(inner * 0.5), atol=1)


def test_integer_translation_and_flip_move_pixels_exactly() -> None:
    image = frame(2)
    out = draw(f"{RECT}: translate(20, -10)", image)
    np.testing.assert_array_equal(out[22:78, 62:138], image[32:88, 42:118])
    out = draw(f"{RECT}: flip(horizontal)", image)
    np.testing.assert_array_equal(out[32:88, 42:118], image[32:88, 42:118][:, ::-1])


def test_rotation_by_90_degrees_matches_numpy() -> None:
    image = frame(3)
    # A 40x40 square at 60..100 x 40..80 turned counterclockwise: np.rot90 turns the same way.
    out = draw("rect(0.375 0.3333333333 0.25 0.3333333333): rotate(90)", image)
    np.testing.assert_array_equal(out[42:78, 62:98], np.rot90(image[40:80, 60:100])[2:-2, 2:-2])


def test_swap_reads_the_unmodified_frame() -> None:
    image = frame(4)
    out = draw("rect(0 0 0.25 0.25): swap_with(rect(0.75 0.75 0.25 0.25))", image)
    np.testing.assert_array_equal(out[2:28, 2:38], image[92:118, 122:158])
    np.testing.assert_array_equal(out[92:118, 122:158], image[2:28, 2:38])


def test_tile_fills_the_frame_with_copies() -> None:
    image = frame(5)
    out = draw("rect(0.25 0.25 0.25 0.25): tile", image)  # a 40x30 cell starting at 40, 30
    cell = image[32:58, 42:78]
    for x, y in ((2, 2), (42, 2), (122, 92), (82, 62)):
        np.testing.assert_array_equal(out[y : y + 26, x : x + 36], cell)


def test_edges_are_feathered() -> None:
    image = np.full((100, 400, 3), 200, dtype=np.uint8)
    # x 40..360: the feather is 2% of 320 = 6.4 px; pixel x has its centre x + 0.5 - 40 px
    # inside the left edge, so it keeps (1 - that / 6.4) of the original 200.
    out = render(
        image, draw_items(parse("rect(0.1 0.25 0.8 0.5): channels(0, 0, 0)"), [], (400, 100), 0)
    )
    expected = [200, 200] + [round(200 * (1 - (d + 0.5) / 6.4)) for d in range(6)] + [0, 0]
    np.testing.assert_array_equal(out[50, 38:48, 0], expected)


def test_coverage_matches_opencv_point_polygon_test() -> None:
    item = draw_items(parse("rect(0 0 1 1): reshape(0.5, 1, 1, 1)"), [], (W, H), 0)[0]
    star = np.array(
        [
            [80 + r * np.cos(a), 60 + r * np.sin(a)]
            for a, r in zip(
                np.linspace(0, 2 * np.pi, 10, endpoint=False), [50, 20] * 5, strict=True
            )
        ]
    )
    item = DrawItem(
        src=item.src,
        dst=star.astype(np.float32),
        triangles=item.triangles,
        offsets=item.offsets,
        bbox=(0, 0, W, H),
        feather=6.0,
    )
    points = np.random.default_rng(6).uniform([0, 0], [W, H], (2000, 2))
    signed = np.array(
        [
            cv2.pointPolygonTest(
                star.astype(np.float32).reshape(-1, 1, 2), (float(x), float(y)), True
            )
            for x, y in points
        ]
    )
    keep = np.abs(signed) > 1e-3
    expected = np.where(signed > 0, np.clip(signed / 6.0, 0, 1), 0)
    np.testing.assert_allclose(item.coverage(points)[keep], expected[keep], atol=1e-4)
    assert item.coverage(points.reshape(40, 50, 2)).shape == (40, 50)


def test_render_rejects_other_images() -> None:
    with pytest.raises(
        ValueError, match=r"expected an \(H, W, 3\|4\) uint8 frame, got float32 \(4, 4\)"
    ):
        render(np.zeros((4, 4), dtype=np.float32), [])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stills() -> np.lib.npyio.NpzFile:
    return np.load(ROOT / "tests/fixtures/face/tilted.npz")


def real_faces(stills: np.lib.npyio.NpzFile) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """Every face of the stills and of every 4th frame of the tracked clip, with its frame size."""
    faces = [
        (landmarks, (int(stills["image_size"][k][0]), int(stills["image_size"][k][1])))
        for k in range(len(stills["names"]))
        for landmarks in stills["mesh_landmarks"][k, : stills["mesh_count"][k]]
    ]
    clip = np.load(ROOT / "tests/fixtures/face/clip_tracking.npz")["mesh_landmarks"]
    return faces + [(landmarks, (1280, 720)) for landmarks in clip[::4, 0]]


def test_part_rings_are_simple_polygons_on_real_faces(stills: np.lib.npyio.NpzFile) -> None:
    programs = {part: parse(f"{part}: brighten(1)") for part in PARTS}
    for n, (landmarks, size) in enumerate(real_faces(stills)):
        for part, program in programs.items():
            ring = part_polygon(part, landmarks[:, :2].astype(np.float64) * size)
            (item,) = draw_items(program, [landmarks], size, 0)
            corners = ring[item.triangles]
            u, v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
            covered = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]).sum() / 2
            # earcut gives n - 2 triangles covering exactly the area only for a simple ring.
            assert len(item.triangles) == len(ring) - 2, (n, part)
            area = abs(cv2.contourArea(ring.astype(np.float32)))
            assert covered == pytest.approx(area, rel=1e-3), (n, part)


def test_real_faces_are_numbered_left_to_right(stills: np.lib.npyio.NpzFile) -> None:
    k = list(stills["names"]).index("two_faces.jpg")
    width, height = stills["image_size"][k]
    faces = list(stills["mesh_landmarks"][k, :2])
    for given in (faces, faces[::-1]):
        numbered, _ = FaceNumbering().number(given)
        xs = [
            polygon_centroid(d.src.astype(np.float64))[0]
            for n in (0, 1)
            for d in draw_items(parse(f"nose#{n}: tile"), numbered, (width, height), 0)
        ]
        assert xs[0] < width / 2 < xs[1]
