"""From a Program, the faces' landmarks and a timestamp to the polygons a GPU renderer draws.

Semantics (what each statement draws):

* Faces are numbered from 0 in the order given (the graph numbers them with
  `calculators.eymo.tracking.FaceNumbering`: left to right, kept while they move). A statement
  `part#N: ...` runs for face N (and draws nothing while there is no face N); any other
  statement runs once for each face in turn. That face is the *current face*: a bare part
  name is that part of the current face, `part#N` is face N, `part+N` / `part-N` is the face
  N after / before the current one, wrapping around in both directions. Runs that resolve to
  the same faces are drawn once; a statement that names no part runs once, and statements
  that name parts draw nothing while no face is found.
* The region is the part's landmark ring (or the rect), triangulated with earcut.
* Shape operations work on the region's vertices relative to its area centroid, in the order
  written, in pixel space (so rotations keep their shape on any frame): `scale`, `rotate`,
  `spin` (a rotation by rps * 360 * t degrees, t = timestamp in seconds), `flip`, `reshape`
  (vertices left of the centre are stretched horizontally by l, right by r, above by t,
  below by b).
* Movement: `translate` offsets add up. `drift` velocities add up; the region then moves from
  its place at t = 0 and bounces off the frame edges (a triangle wave of t, so a timestamp
  always gives the same place). A region that starts beyond an edge bounces where it started;
  one larger than the frame does not drift on that axis.
* `swap_with(B)`: the region is drawn centred on B's centroid and B is drawn centred on the
  region's centroid, both transformed by the statement. `copy_to(T, ...)`: the region is
  also drawn centred on each target's centroid, after its own placement.
* `tile`: the finished region is repeated over the whole frame on a grid whose cell is the
  region's bounding box (at least `MIN_TILE_CELL` pixels a side), one copy at its own place.
* Edges are feathered over 2% of the larger side of the region's box (at least 1 pixel).
* Colour operations multiply up (`brighten(2), brighten(1.5)` brightens by 3); see
  `DrawItem.shade` for the formula.
* Every item samples the unmodified input frame, so swaps and copies never see each other's
  output; items are drawn in list order, later ones on top.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import mapbox_earcut
import numpy as np
import numpy.typing as npt

from calculators.eymo import program as ast
from calculators.eymo.parts import NUM_LANDMARKS, part_polygon

FloatArray = npt.NDArray[np.float64]

FEATHER_FRACTION = 0.02
MIN_FEATHER_PX = 1.0
MIN_TILE_CELL = 8.0
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
_SNAP = 1e-6  # rounding slack so that a box edge at 630.0000001 stays at 630


def _frozen(array: npt.ArrayLike, dtype: type) -> npt.NDArray:
    out: npt.NDArray = np.array(array, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class DrawItem:
    """One textured polygon with feathered edges, everything a renderer needs to draw it.

    The renderer draws the triangles `triangles` with vertex positions `dst` (plus each row
    of `offsets`) and texture coordinates `src`, sampling the unmodified input frame, and
    blends them over the output with an alpha that rises from 0 on the outline to 1 at
    `feather` pixels inside it. It never changes pixels outside `bbox`.

    Attributes:
        src: (N, 2) float32 outline in the input frame, pixels from the top-left corner
            (x right, y down).
        dst: (N, 2) float32 where each `src` vertex lands in the output frame, pixels.
        triangles: (T, 3) int32 vertex indices into `src`/`dst`, a triangulation of the outline.
        offsets: (K, 2) float32 translations; the mesh is drawn once per row ([[0, 0]] unless
            the statement tiles).
        bbox: (x0, y0, x1, y1) pixel box, half-open and inside the frame, covering every copy.
        feather: Width of the soft edge in output pixels.
        brightness: Multiplier of all three channels.
        saturation: Saturation factor (0 grey, 1 unchanged).
        channels: Multipliers of red, green and blue.
        statement: Index of the statement that produced the item.
    """

    src: npt.NDArray[np.float32]
    dst: npt.NDArray[np.float32]
    triangles: npt.NDArray[np.int32]
    offsets: npt.NDArray[np.float32]
    bbox: tuple[int, int, int, int]
    feather: float
    brightness: float = 1.0
    saturation: float = 1.0
    channels: tuple[float, float, float] = (1.0, 1.0, 1.0)
    statement: int = 0

    def shade(self, rgb: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Applies the item's colour operations; the reference for the renderer's shader.

        `luma = dot(rgb, LUMA_WEIGHTS)`, `rgb = luma + (rgb - luma) * saturation`,
        `rgb = rgb * channels * brightness`, clamped to 0..1.

        Args:
            rgb: (..., 3) colours in 0..1.

        Returns:
            The shaded colours, float32.
        """
        colours = np.asarray(rgb, dtype=np.float32)
        luma = colours @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)
        colours = luma[..., None] + (colours - luma[..., None]) * self.saturation
        colours = colours * np.asarray(self.channels, dtype=np.float32) * self.brightness
        return np.clip(colours, 0.0, 1.0).astype(np.float32)

    def coverage(self, points: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Returns the item's alpha at output positions: the reference for feathered edges.

        Alpha is 0 outside the `dst` outline (even-odd rule) and inside it rises linearly with
        the distance to the outline, reaching 1 at `feather` pixels. This is for the copy at
        offset (0, 0); subtract an `offsets` row from the points for the other copies.

        Args:
            points: (..., 2) positions in output pixels (pixel (i, j) has its centre at
                (i + 0.5, j + 0.5)).

        Returns:
            The alphas, float32, shaped like `points` without its last axis.
        """
        p = np.asarray(points, dtype=np.float64)
        flat = p.reshape(-1, 2)
        px, py = flat[:, 0], flat[:, 1]
        distance = np.full(len(flat), np.inf)
        inside = np.zeros(len(flat), dtype=bool)
        ring = self.dst.astype(np.float64)
        for (ax, ay), (bx, by) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
            ex, ey = bx - ax, by - ay
            length2 = ex * ex + ey * ey
            t = (
                np.clip(((px - ax) * ex + (py - ay) * ey) / length2, 0.0, 1.0)
                if length2 > 0
                else 0.0
            )
            distance = np.minimum(distance, np.hypot(px - ax - t * ex, py - ay - t * ey))
            crosses = (ay > py) != (
                by > py
            )  # never true for a horizontal edge, whose x_cross is junk
            with np.errstate(divide="ignore", invalid="ignore"):
                x_cross = ax + (py - ay) * ex / ey
            inside ^= crosses & (px < x_cross)
        alpha = np.where(inside, np.clip(distance / self.feather, 0.0, 1.0), 0.0)
        return alpha.reshape(p.shape[:-1]).astype(np.float32)


def polygon_centroid(ring: FloatArray) -> FloatArray:
    """Returns the area centroid of a simple polygon (the vertex mean if it has no area)."""
    following = np.concatenate((ring[1:], ring[:1]))
    cross = ring[:, 0] * following[:, 1] - following[:, 0] * ring[:, 1]
    area = cross.sum() / 2.0
    if abs(area) < 1e-9:
        return ring.mean(axis=0)
    return (cross @ (ring + following)) / (6.0 * area)


@dataclasses.dataclass(frozen=True)
class _Region:
    """An outline in pixels with its centroid, float32 copy and triangulation, computed once."""

    outline: FloatArray
    centre: FloatArray
    src: npt.NDArray[np.float32]
    triangles: npt.NDArray[np.int32]

    @classmethod
    def of(cls, outline: FloatArray) -> _Region:
        src = _frozen(outline, np.float32)
        triangles = _frozen(_triangulate(outline), np.int32)
        return cls(outline, polygon_centroid(outline), src, triangles)


def _rotation(degrees: float) -> FloatArray:
    """Matrix turning row vectors counterclockwise on screen (pixel y grows downwards)."""
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s], [s, c]])


def _deform(rel: FloatArray, ops: Sequence[ast.Op], seconds: float) -> FloatArray:
    """Applies the shape operations, in order, to vertices relative to the region's centre."""
    for op in ops:
        match op:
            case ast.Scale(factor):
                rel = rel * factor
            case ast.Rotate(degrees):
                rel = rel @ _rotation(degrees)
            case ast.Spin(rps):
                rel = rel @ _rotation(rps * 360.0 * seconds)
            case ast.Flip(mode):
                rel = rel * np.array(
                    [-1.0 if mode != "vertical" else 1.0, -1.0 if mode != "horizontal" else 1.0]
                )
            case ast.Reshape(left, right, top, bottom):
                rel = rel * np.stack(
                    [np.where(rel[:, 0] < 0, left, right), np.where(rel[:, 1] < 0, top, bottom)], 1
                )
    return rel


def bounce(low: float, high: float, travel: float) -> float:
    """Position after travelling `travel` from 0 inside [low, high], reflecting off both ends.

    A triangle wave: 0 at travel 0, moving up for positive travel. An empty range gives 0.
    """
    span = high - low
    if span <= 0.0:
        return 0.0
    u = (travel - low) % (2.0 * span)
    return low + (u if u <= span else 2.0 * span - u)


def _tile_offsets(lo: FloatArray, hi: FloatArray, frame: FloatArray) -> FloatArray:
    """Grid translations of the box [lo, hi] whose copies touch the frame, one of them (0, 0)."""
    cell = np.maximum(hi - lo, MIN_TILE_CELL)
    first = np.floor(-hi / cell) + 1
    last = np.ceil((frame - lo) / cell) - 1
    ix = np.arange(first[0], last[0] + 1) * cell[0]
    iy = np.arange(first[1], last[1] + 1) * cell[1]
    gx, gy = np.meshgrid(ix, iy)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def _triangulate(ring: FloatArray) -> npt.NDArray[np.int32]:
    indices = mapbox_earcut.triangulate_float64(ring, np.array([len(ring)], dtype=np.uint32))
    return indices.astype(np.int32).reshape(-1, 3)


def _faces_px(faces: Sequence[npt.ArrayLike], width: int, height: int) -> list[FloatArray]:
    """Validates the faces' landmarks; returns them in pixels, in the same order."""
    out = []
    for i, face in enumerate(faces):
        landmarks = np.asarray(face, dtype=np.float64)
        if landmarks.ndim != 2 or landmarks.shape[0] < NUM_LANDMARKS or landmarks.shape[1] < 2:
            raise ValueError(
                f"face {i}: landmarks have shape {landmarks.shape}; expected ({NUM_LANDMARKS}, 3) "
                "normalized x, y, z"
            )
        if not np.isfinite(landmarks[:, :2]).all():
            raise ValueError(f"face {i}: landmarks contain NaN or infinite values")
        out.append(landmarks[:, :2] * (width, height))
    return out


def _statement_shapes(statement: ast.Statement) -> list[ast.Shape]:
    shapes = [statement.shape]
    for op in statement.ops:
        if isinstance(op, ast.SwapWith):
            shapes.append(op.target)
        elif isinstance(op, ast.CopyTo):
            shapes.extend(op.targets)
    return shapes


def _face_of(shape: ast.PartShape, current: int, count: int) -> int | None:
    if shape.mode == "index":
        return shape.n if shape.n < count else None
    step = {"all": 0, "next": shape.n, "prev": -shape.n}[shape.mode]
    return (current + step) % count


def _runs(statement: ast.Statement, count: int) -> list[dict[ast.Shape, int]]:
    """The face chosen for each part shape of the statement, per distinct run."""
    parts = [s for s in _statement_shapes(statement) if isinstance(s, ast.PartShape)]
    if not parts:
        return [{}]
    shape = statement.shape
    currents: Sequence[int] = range(count)
    if isinstance(shape, ast.PartShape) and shape.mode == "index":
        currents = [shape.n] if shape.n < count else []
    runs: dict[tuple[int | None, ...], dict[ast.Shape, int]] = {}
    for current in currents:
        chosen = tuple(_face_of(s, current, count) for s in parts)
        if None not in chosen and chosen not in runs:
            runs[chosen] = {s: f for s, f in zip(parts, chosen, strict=True) if f is not None}
    return list(runs.values())


def _outline(
    shape: ast.Shape, faces: dict[ast.Shape, int], landmarks: list[FloatArray], frame: FloatArray
) -> FloatArray:
    if isinstance(shape, ast.RectShape):
        x0, y0 = shape.x * frame[0], shape.y * frame[1]
        x1, y1 = (shape.x + shape.w) * frame[0], (shape.y + shape.h) * frame[1]
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return part_polygon(shape.part, landmarks[faces[shape]])


def draw_items(
    program: ast.Program,
    faces: Sequence[npt.ArrayLike],
    frame_size: tuple[int, int],
    timestamp_us: int,
) -> list[DrawItem]:
    """Computes what the renderer draws for one frame.

    Args:
        program: The parsed script.
        faces: Each face's landmarks, (468, 3) (or more rows) normalized x, y, z, face 0
            first.
        frame_size: (width, height) of the frame in pixels.
        timestamp_us: The packet timestamp in microseconds; animations are a function of it.

    Returns:
        The draw items, in drawing order; items outside the frame or without area are left out.

    Raises:
        ValueError: A face's landmarks have the wrong shape or are not finite, or the frame
            size is not positive.
    """
    width, height = frame_size
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    frame = np.array([width, height], dtype=np.float64)
    landmarks = _faces_px(faces, width, height)
    seconds = timestamp_us / 1e6
    items: list[DrawItem] = []
    for index, statement in enumerate(program.statements):
        for run in _runs(statement, len(landmarks)):
            items.extend(_statement_items(statement, index, run, landmarks, frame, seconds))
    return items


@dataclasses.dataclass(frozen=True)
class _Effects:
    """What a statement's movement and colour operations add up to (face independent)."""

    shift: tuple[float, float] = (0.0, 0.0)
    velocity: tuple[float, float] = (0.0, 0.0)
    brightness: float = 1.0
    saturation: float = 1.0
    channels: tuple[float, float, float] = (1.0, 1.0, 1.0)
    tile: bool = False

    @classmethod
    def of(cls, ops: Sequence[ast.Op]) -> _Effects:
        sx = sy = vx = vy = 0.0
        brightness = saturation = red = green = blue = 1.0
        for op in ops:
            match op:
                case ast.Translate(x, y):
                    sx, sy = sx + x, sy + y
                case ast.Drift(speed, angle):
                    vx += speed * math.cos(math.radians(angle))
                    vy -= speed * math.sin(math.radians(angle))
                case ast.Brighten(factor):
                    brightness *= factor
                case ast.Saturate(factor):
                    saturation *= factor
                case ast.Channels(r, g, b):
                    red, green, blue = red * r, green * g, blue * b
        tile = any(isinstance(op, ast.Tile) for op in ops)
        return cls((sx, sy), (vx, vy), brightness, saturation, (red, green, blue), tile)


def _statement_items(
    statement: ast.Statement,
    index: int,
    run: dict[ast.Shape, int],
    landmarks: list[FloatArray],
    frame: FloatArray,
    seconds: float,
) -> list[DrawItem]:
    effects = _Effects.of(statement.ops)
    region = _Region.of(_outline(statement.shape, run, landmarks, frame))
    # What is drawn where: (region, the point its centroid goes to).
    placements: list[tuple[_Region, FloatArray]] = [(region, region.centre)]
    for op in statement.ops:
        if isinstance(op, ast.SwapWith):
            other = _Region.of(_outline(op.target, run, landmarks, frame))
            placements[0] = (region, other.centre)
            placements.insert(1, (other, region.centre))
        elif isinstance(op, ast.CopyTo):
            placements += [
                (region, polygon_centroid(_outline(t, run, landmarks, frame))) for t in op.targets
            ]
    width, height = float(frame[0]), float(frame[1])
    items = []
    for source, anchor in placements:
        if not len(source.triangles):
            continue  # a region without area, e.g. a face collapsed to a point
        dst = _deform(source.outline - source.centre, statement.ops, seconds) + anchor
        dst += effects.shift
        (x0, y0), (x1, y1) = dst.min(axis=0).tolist(), dst.max(axis=0).tolist()
        if effects.velocity != (0.0, 0.0):
            dx = bounce(min(-x0, 0.0), max(width - x1, 0.0), effects.velocity[0] * seconds)
            dy = bounce(min(-y0, 0.0), max(height - y1, 0.0), effects.velocity[1] * seconds)
            dst += (dx, dy)
            x0, y0, x1, y1 = x0 + dx, y0 + dy, x1 + dx, y1 + dy
        feather = max(MIN_FEATHER_PX, FEATHER_FRACTION * max(x1 - x0, y1 - y0))
        offsets = np.zeros((1, 2))
        if effects.tile:
            offsets = _tile_offsets(np.array([x0, y0]), np.array([x1, y1]), frame)
            (ox0, oy0), (ox1, oy1) = offsets.min(axis=0).tolist(), offsets.max(axis=0).tolist()
            x0, y0, x1, y1 = x0 + ox0, y0 + oy0, x1 + ox1, y1 + oy1
        bbox = (
            max(math.floor(x0 + _SNAP), 0),
            max(math.floor(y0 + _SNAP), 0),
            min(math.ceil(x1 - _SNAP), int(width)),
            min(math.ceil(y1 - _SNAP), int(height)),
        )
        if bbox[0] >= bbox[2] or bbox[1] >= bbox[3]:
            continue
        items.append(
            DrawItem(
                src=source.src,
                dst=_frozen(dst, np.float32),
                triangles=source.triangles,
                offsets=_frozen(offsets, np.float32),
                bbox=bbox,
                feather=feather,
                brightness=effects.brightness,
                saturation=effects.saturation,
                channels=effects.channels,
                statement=index,
            )
        )
    return items
