"""Tests of the eymo geometry against hand-computed numbers and OpenCV."""

import math

import cv2
import numpy as np
import pytest

from calculators.eymo import PARTS, DrawItem, draw_items, parse
from calculators.eymo.geometry import bounce, polygon_centroid
from calculators.eymo.parts import FOREHEAD_STRETCH, part_polygon

W, H = 200, 100


def items(
    script: str,
    faces: list[np.ndarray] | None = None,
    size: tuple[int, int] = (W, H),
    t_us: int = 0,
) -> list[DrawItem]:
    return draw_items(parse(script), faces or [], size, t_us)


def one(script: str, **kwargs: object) -> DrawItem:
    (item,) = items(script, **kwargs)  # type: ignore[arg-type]
    return item


# rect(0.25 0.25 0.5 0.5) on a 200x100 frame: x 50..150, y 25..75, centroid (100, 50).
RECT = "rect(0.25 0.25 0.5 0.5)"
RECT_PX = np.array([[50, 25], [150, 25], [150, 75], [50, 75]], dtype=np.float32)


def face(center_x: float, seed: int = 0) -> np.ndarray:
    """Random landmarks around a centre, each part's ring a circle of its own radius."""
    rng = np.random.default_rng(seed)
    landmarks = np.column_stack(
        [
            rng.uniform(center_x - 0.1, center_x + 0.1, 468),
            rng.uniform(0.3, 0.7, 468),
            rng.uniform(-0.1, 0.1, 468),
        ]
    ).astype(np.float32)
    return landmarks


def test_rect_is_drawn_in_place_with_its_triangulation() -> None:
    item = one(f"{RECT}: brighten(1)")
    np.testing.assert_array_equal(item.src, RECT_PX)
    np.testing.assert_array_equal(item.dst, RECT_PX)
    assert item.bbox == (50, 25, 150, 75)
    np.testing.assert_array_equal(item.offsets, [[0, 0]])
    assert sorted(map(sorted, item.triangles.tolist())) == [[0, 1, 2], [0, 2, 3]] or sorted(
        map(sorted, item.triangles.tolist())
    ) == [[0, 1, 3], [1, 2, 3]]
    assert item.feather == pytest.approx(2.0)  # 2% of the 100 px long side
    assert not item.dst.flags.writeable and not item.src.flags.writeable


def test_scale_is_about_the_centroid() -> None:
    item = one(f"{RECT}: scale(2)")
    np.testing.assert_allclose(item.dst, [[0, 0], [200, 0], [200, 100], [0, 100]])
    assert item.bbox == (0, 0, 200, 100)
    assert item.feather == pytest.approx(4.0)


def test_rotation_is_in_pixels_so_a_rectangle_keeps_its_shape() -> None:
    # 100x50 px rectangle turned 90 degrees counterclockwise about (100, 50): 50 wide, 100 tall;
    # its top-left corner (50, 25) ends at the bottom left (75, 100).
    item = one(f"{RECT}: rotate(90)")
    np.testing.assert_allclose(item.dst, [[75, 100], [75, 0], [125, 0], [125, 100]], atol=1e-4)
    assert item.bbox == (75, 0, 125, 100)


def test_rotation_by_30_degrees_matches_opencv() -> None:
    item = one(f"{RECT}: rotate(30)", size=(640, 360))
    src = item.src.astype(np.float64)
    matrix = cv2.getRotationMatrix2D(
        (320.0, 180.0), 30.0, 1.0
    )  # OpenCV: positive is counterclockwise
    expected = src @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(item.dst, expected, atol=1e-3)


def test_spin_is_a_rotation_driven_by_the_timestamp() -> None:
    spun = one(f"{RECT}: spin(0.25)", t_us=1_000_000)  # a quarter turn after 1 s
    np.testing.assert_allclose(spun.dst, one(f"{RECT}: rotate(90)").dst, atol=1e-4)
    np.testing.assert_allclose(
        one(f"{RECT}: spin", t_us=3_000_000).dst,  # 0.5 rps: 1.5 turns
        one(f"{RECT}: rotate(180)").dst,
        atol=1e-4,
    )
    np.testing.assert_allclose(one(f"{RECT}: spin(1)", t_us=0).dst, RECT_PX)


def test_animation_is_deterministic() -> None:
    script = f"{RECT}: spin(0.3), drift(170, 20), scale(0.5)"
    first = items(script, t_us=12_345_678)
    again = items(script, t_us=12_345_678)
    later = items(script, t_us=12_345_679)
    assert len(first) == len(again) == len(later) == 1
    np.testing.assert_array_equal(first[0].dst, again[0].dst)
    assert first[0].bbox == again[0].bbox
    assert not np.array_equal(first[0].dst, later[0].dst)


def test_flip() -> None:
    mirror_x = one(f"{RECT}: flip(horizontal)").dst  # x -> 200 - x
    np.testing.assert_allclose(mirror_x, [[150, 25], [50, 25], [50, 75], [150, 75]])
    np.testing.assert_allclose(
        one(f"{RECT}: flip(vertical)").dst, [[50, 75], [150, 75], [150, 25], [50, 25]]
    )
    np.testing.assert_allclose(
        one(f"{RECT}: flip(both)").dst, one(f"{RECT}: rotate(180)").dst, atol=1e-4
    )


def test_translate_and_reshape() -> None:
    np.testing.assert_allclose(
        one(f"{RECT}: translate(10, -5), translate(1, 1)").dst, RECT_PX + np.array([11, -4])
    )
    # Left of the centre stretched x2 (x 50 -> 0), below it x3 (y 75 -> 125, clipped to 100).
    item = one(f"{RECT}: reshape(2, 1, 1, 3)")
    np.testing.assert_allclose(item.dst, [[0, 25], [150, 25], [150, 125], [0, 125]])
    assert item.bbox == (0, 25, 150, 100)


def test_ops_apply_in_order() -> None:
    # Reshape then rotate: the stretched left side ends up at the bottom.
    item = one(f"{RECT}: reshape(2, 1, 1, 1), rotate(90)")
    np.testing.assert_allclose(item.dst, [[75, 150], [75, 0], [125, 0], [125, 150]], atol=1e-4)


def test_drift_bounces_off_the_frame_edges() -> None:
    # x 100..200 in a 640 wide frame: 440 px of room to the right; after 5 s at 100 px/s the
    # region hit the edge at 4.4 s and came back 60 px, so it spans 480..580.
    script = "rect(0.15625 0.25 0.15625 0.25): drift(100, 0)"
    item = one(script, size=(640, 480), t_us=5_000_000)
    assert item.bbox == (480, 120, 580, 240)
    # Upwards (90 degrees): 120 px of room, at 100 px/s for 2 s it goes up 120 then down 80.
    item = one(script.replace("0)", "90)"), size=(640, 480), t_us=2_000_000)
    assert item.bbox == (100, 80, 200, 200)


def test_drift_from_beyond_an_edge_bounces_where_it_started() -> None:
    # x -50..50 in a 200 wide frame, already 50 px beyond the left edge: moving left, it
    # bounces at once from where it started.
    script = "rect(0 0.4 0.5 0.2): translate(-50, 0), drift(10, 180)"
    assert one(script, t_us=1_000_000).bbox == (0, 40, 60, 60)  # travelled 10 px: x -40..60
    assert one(script.replace("drift(10, 180)", "drift(10, 0)"), t_us=2_000_000).bbox == (
        0,
        40,
        70,
        60,
    )


def test_drift_velocities_add_up() -> None:
    item = one(
        "rect(0.4 0.4 0.2 0.2): drift(30, 0), drift(40, -90)", size=(1000, 1000), t_us=1_000_000
    )
    assert item.bbox == (430, 440, 630, 640)


def test_bounce_is_a_triangle_wave() -> None:
    assert [bounce(-10, 20, d) for d in (0, 15, 20, 25, 50, 65, 80)] == [0, 15, 20, 15, -10, 5, 20]
    assert [bounce(-10, 20, d) for d in (-5, -10, -20)] == [-5, -10, 0]
    assert bounce(5, 5, 100) == 0.0  # no room to move


def test_colour_operations_multiply_up() -> None:
    item = one(
        f"{RECT}: brighten(2), brighten(1.5), saturate(0.5), channels(1, 2, 3), channels(2, 1, 1)"
    )
    assert (item.brightness, item.saturation, item.channels) == (3.0, 0.5, (2.0, 2.0, 3.0))


def test_shade_matches_opencv_grey_and_hand_numbers() -> None:
    rgb = np.random.default_rng(1).uniform(0, 1, (8, 8, 3)).astype(np.float32)
    grey = one(f"{RECT}: saturate(0)").shade(rgb)
    expected = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(grey, np.repeat(expected[..., None], 3, axis=2), atol=1e-5)
    item = one(f"{RECT}: saturate(2), brighten(0.5), channels(1, 1, 0)")
    # luma of (0.5, 0.2, 0.1) = 0.1495+0.1174+0.0114 = 0.2783; saturated: luma + 2 (c - luma).
    luma = 0.2783
    expected_px = np.array([luma + 2 * (0.5 - luma), luma + 2 * (0.2 - luma), 0.0]) * 0.5
    np.testing.assert_allclose(item.shade([0.5, 0.2, 0.1]), np.clip(expected_px, 0, 1), atol=1e-5)


def test_swap_draws_each_region_at_the_others_centre() -> None:
    a, b = "rect(0 0 0.1 0.2)", "rect(0.5 0.5 0.2 0.4)"  # 20x20 at (10, 10); 40x40 at (120, 70)
    first, second = items(f"{a}: swap_with({b})")
    np.testing.assert_allclose(first.src, [[0, 0], [20, 0], [20, 20], [0, 20]])
    np.testing.assert_allclose(first.dst, first.src + np.array([110, 60]))
    np.testing.assert_allclose(second.src, [[100, 50], [140, 50], [140, 90], [100, 90]])
    np.testing.assert_allclose(second.dst, second.src - [110, 60])
    assert second.bbox == (0, 0, 30, 30)  # 40 px square centred on (10, 10), clipped


def test_copy_draws_in_place_and_at_each_target() -> None:
    drawn = items(
        "rect(0 0 0.1 0.2): copy_to(rect(0.5 0.5 0.2 0.4), rect(0.9 0 0.1 0.2)), scale(0.5)"
    )
    assert [i.bbox for i in drawn] == [(5, 5, 15, 15), (115, 65, 125, 75), (185, 5, 195, 15)]
    for item in drawn:
        np.testing.assert_array_equal(item.src, [[0, 0], [20, 0], [20, 20], [0, 20]])


def test_tile_covers_the_frame_with_copies() -> None:
    # The 100x50 box from 50, 25: columns at -50, 0, 50, 100 px and rows at -25 ... 50 px.
    item = one("rect(0.25 0.25 0.25 0.25): tile")
    xs, ys = sorted(set(item.offsets[:, 0])), sorted(set(item.offsets[:, 1]))
    assert xs == [-50, 0, 50, 100] and ys == [-25, 0, 25, 50]
    assert len(item.offsets) == 16
    assert item.bbox == (0, 0, W, H)


def test_tiny_tiles_use_a_minimum_cell() -> None:
    item = one("rect(0.5 0.5 0.001 0.001): tile", size=(80, 40))
    xs, ys = sorted(set(item.offsets[:, 0])), sorted(set(item.offsets[:, 1]))
    assert np.allclose(np.diff(xs), 8) and np.allclose(np.diff(ys), 8)
    assert xs[0] <= -40 + 8 and xs[-1] >= 40 - 8


def test_items_are_clipped_to_the_frame_and_dropped_when_outside() -> None:
    assert one(f"{RECT}: translate(-80, 0)").bbox == (0, 25, 70, 75)
    assert items(f"{RECT}: translate(-300, 0)") == []


def test_polygon_centroid() -> None:
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]], dtype=np.float64)
    np.testing.assert_allclose(polygon_centroid(ell), [2.5 / 3, 2.5 / 3])
    np.testing.assert_allclose(polygon_centroid(ell[::-1]), [2.5 / 3, 2.5 / 3])
    np.testing.assert_allclose(
        polygon_centroid(np.array([[0.0, 0], [1, 1], [3, 3]])), [4 / 3, 4 / 3]
    )


def test_parts_use_their_landmark_rings_and_triangulation_covers_them() -> None:
    landmarks = face(0.5)
    (item,) = items("mouth: brighten(1)", [landmarks], size=(640, 480))
    np.testing.assert_allclose(
        item.src, landmarks[list(PARTS["mouth"]), :2] * (640, 480), rtol=1e-6
    )
    # Put the ring on a concave star so earcut's triangles must cover exactly its area.
    ring = PARTS["leye"]
    angles = np.linspace(0, 2 * np.pi, len(ring), endpoint=False)
    radius = np.where(np.arange(len(ring)) % 2 == 0, 0.1, 0.04)
    landmarks[list(ring), 0] = 0.5 + radius * np.cos(angles)
    landmarks[list(ring), 1] = 0.5 + radius * np.sin(angles)
    (item,) = items("leye: scale(1)", [landmarks], size=(640, 480))
    polygon = item.src.astype(np.float64)
    area = abs(cv2.contourArea(polygon.astype(np.float32)))
    corners = polygon[item.triangles]
    u, v = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    triangles = np.abs(u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]).sum() / 2
    assert len(item.triangles) == len(ring) - 2
    assert triangles == pytest.approx(area, rel=1e-4)
    np.testing.assert_allclose(polygon_centroid(polygon), [320, 240], atol=1e-3)


def test_forehead_is_stretched_up_along_the_face() -> None:
    landmarks = face(0.5)
    px = landmarks[:, :2].astype(np.float64) * (640, 480)
    polygon = part_polygon("forehead", px)
    up = px[10] - px[152]
    for i, index in enumerate(PARTS["forehead"]):
        moved = FOREHEAD_STRETCH * up if index in (332, 297, 338, 10, 109, 67, 103) else 0
        np.testing.assert_allclose(polygon[i], px[index] + moved)


def test_faces_are_numbered_in_the_order_given_and_selected_by_number() -> None:
    # The graph numbers faces (FaceNumbering); draw_items takes its order as it is.
    faces = [face(0.8, 3), face(0.2, 1), face(0.5, 2)]
    for number, expected in enumerate(faces):
        (item,) = items(f"nose#{number}: tile()", faces)
        np.testing.assert_allclose(item.src, expected[list(PARTS["nose"]), :2] * (W, H), rtol=1e-6)
    assert items("nose#3: scale(2)", faces) == []


def anchor_face(drawn: DrawItem, faces: list[np.ndarray], part: str) -> int:
    """Which face's `part` centroid the item is centred on."""
    centre = polygon_centroid(drawn.dst.astype(np.float64))
    centres = [
        polygon_centroid(f[list(PARTS[part]), :2].astype(np.float64) * (W, H)) for f in faces
    ]
    return int(np.argmin([np.linalg.norm(centre - c) for c in centres]))


@pytest.mark.parametrize(
    ("selector", "face_index"),
    [("+1", 1), ("+2", 2), ("+3", 0), ("+7", 1), ("-1", 2), ("-2", 1), ("-3", 0), ("-4", 2)],
)
def test_relative_faces_wrap_around_both_ways(selector: str, face_index: int) -> None:
    faces = [face(0.2, 1), face(0.5, 2), face(0.8, 3)]
    _, copy = items(f"leye#0: copy_to(mouth{selector})", faces)
    assert anchor_face(copy, faces, "mouth") == face_index


def test_a_numbered_statement_makes_that_face_current() -> None:
    faces = [face(0.2, 1), face(0.5, 2), face(0.8, 3)]
    drawn = items("leye#1: copy_to(mouth+1, mouth, mouth-2)", faces)
    assert len(drawn) == 4
    assert [anchor_face(d, faces, "mouth") for d in drawn[1:]] == [2, 1, 2]


def test_a_rect_statement_runs_for_each_face_it_names() -> None:
    faces = [face(0.2, 1), face(0.5, 2), face(0.8, 3)]
    drawn = items("rect(0 0 0.1 0.1): copy_to(mouth)", faces)
    assert len(drawn) == 6  # per face: the rect in place, then its copy on that face's mouth
    assert [anchor_face(d, faces, "mouth") for d in drawn[1::2]] == [0, 1, 2]
    assert len(items("rect(0 0 0.1 0.1): copy_to(mouth#2)", faces)) == 2


def test_bare_parts_follow_the_current_face() -> None:
    faces = [face(0.2, 1), face(0.8, 3)]
    drawn = items("leye: swap_with(mouth+1)", faces)
    assert len(drawn) == 4  # one run per face, each drawing both regions
    assert [anchor_face(d, faces, "mouth") for d in drawn[0::2]] == [1, 0]
    assert [anchor_face(d, faces, "leye") for d in drawn[1::2]] == [0, 1]


def test_statements_without_parts_run_once_and_parts_need_faces() -> None:
    faces = [face(0.2, 1), face(0.8, 3)]
    assert len(items(f"{RECT}: scale(0.5)", faces)) == 1
    assert items("mouth: scale(2)") == []
    assert len(items(f"mouth: scale(2)\n{RECT}: tile")) == 1
    drawn = items("leye#0: scale(2)", faces)
    assert len(drawn) == 1 and drawn[0].statement == 0


def test_regions_without_area_draw_nothing() -> None:
    collapsed = np.full((468, 3), 0.5, dtype=np.float32)
    assert items("leye: scale(2), tile", [collapsed]) == []
    assert len(items("leye: swap_with(mouth), copy_to(rect(0 0 1 1))", [collapsed])) == 0


def test_statement_index_and_order() -> None:
    drawn = items(f"{RECT}: tile\n{RECT}: flip(both); {RECT}: scale(0.5)")
    assert [d.statement for d in drawn] == [0, 1, 2]


def test_bad_inputs_say_what_is_wrong() -> None:
    with pytest.raises(
        ValueError, match=r"face 1: landmarks have shape \(10, 3\); expected \(468, 3\)"
    ):
        draw_items(parse("leye: tile"), [face(0.5), np.zeros((10, 3))], (W, H), 0)
    broken = face(0.5)
    broken[7, 1] = np.nan
    with pytest.raises(ValueError, match="face 0: landmarks contain NaN or infinite values"):
        draw_items(parse("leye: tile"), [broken], (W, H), 0)
    with pytest.raises(ValueError, match="frame size must be positive, got 0x100"):
        draw_items(parse("leye: tile"), [], (0, 100), 0)


def test_angles_use_screen_convention() -> None:
    # drift(angle=45) moves right and up at equal rates.
    item = one("rect(0.4 0.4 0.2 0.2): drift(100, 45)", size=(1000, 1000), t_us=1_000_000)
    step = 100 / math.sqrt(2)
    np.testing.assert_allclose(item.dst.min(axis=0), [400 + step, 400 - step], atol=1e-3)
