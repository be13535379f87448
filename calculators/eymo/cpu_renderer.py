"""A fast CPU renderer of eymo draw items (OpenCV on each item's box), for software GL.

On a machine whose GL renderer is a software one (Mesa's llvmpipe), drawing an item costs the
GL renderer three rasterizer passes plus the frame's upload, copy and readback; this renderer
touches only the items' boxes: per copy of an item, one `cv2.warpAffine` of the frame into
the box (the item's `dst` is an affine image of its `src` for every statement without
`reshape`; others go through `cv2.remap` with a map built triangle by triangle), one to
three integer OpenCV calls for the colour operations (`_recolour`), and the feathered alpha
from a filled polygon and its distance transform, as the weights of `cv2.blendLinear`. Every
copy is sampled before the first is blended, from the RGBA frame drawn on (still the input
then): a handful of OpenCV calls per copy, since in a graph each one lets the interpreter
lock go and the renderer waits to get it back.
`EymoTransformCalculator` picks it on software GL renderers (where bench/eymo_e2e.py measured
it faster); GPUs keep `GlItemRenderer`.

It matches `calculators.eymo.reference.render` up to rounding except along the feathered
edge: the distance to the outline comes from the distance transform (pixel centre to the
nearest pixel centre outside, less half a pixel), within about half a pixel of the exact one.
Every item samples the unmodified input frame; the items are drawn in list order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from calculators._opencv import cv2
from calculators.eymo.geometry import LUMA_WEIGHTS, DrawItem

#: Largest distance of a vertex from the affine fit of an item, in pixels, for the item to be
#: drawn with one `warpAffine` (statements without `reshape` fit to about 1e-4).
AFFINE_TOLERANCE_PX = 0.01
_INSIDE_SLACK = 1e-9  # barycentric tolerance, so that pixels on a shared edge count
_SHIFT = 4  # fractional bits of the polygon's vertices for cv2.fillPoly
_EDGE_PX = 0.75  # a filled pixel centre lies about this much farther from the outside
# pixel centres than from the outline (measured against `DrawItem.coverage`: no bias)
_EDGE = np.array([_EDGE_PX])  # as an OpenCV scalar

Pixels = npt.NDArray[np.uint8]


def render_into(frame: Pixels, items: Sequence[DrawItem], keep_alpha: bool = True) -> None:
    """Draws the items onto `frame` in place, each sampling the frame as it was before any.

    All copies are sampled first, then blended in list order: the frame is the unmodified
    input until the first blend, so no second copy of the input is needed, and the samples
    come out in the frame's RGBA layout (no widening a box). The price is memory: every
    copy's sample and weights are held until the blends, about 25 MB for a copy the size of
    a 1080p frame (a script's few feature-sized copies take a fraction of that).

    Args:
        frame: (H, W, 4) RGBA uint8 frame, the input (an RGB frame widened with alpha 255);
            its alpha is kept.
        items: Draw items for a frame of this size, e.g. from `draw_items`.
        keep_alpha: Copy the frame's alpha into each sample before blending it (a sample's
            alpha is the frame's interpolated); False for an opaque frame (an RGB frame
            widened), where both are 255.

    Raises:
        ValueError: The frame is not RGBA uint8.
    """
    if frame.ndim != 3 or frame.shape[2] != 4 or frame.dtype != np.uint8:
        raise ValueError(f"eymo CPU renderer: expected an (H, W, 4) uint8 frame, got "
                         f"{frame.dtype} {frame.shape}")
    copies = [copy for item in items for copy in _sample_item(frame, item)]
    for (x0, y0, x1, y1), sampled, weight, rest in copies:
        region = frame[y0:y1, x0:x1]
        if keep_alpha:
            sampled[..., 3] = region[..., 3]
        # Blended in place, weighted by weight / (weight + rest) (blendLinear divides by the
        # sum): each OpenCV or numpy call over a box lets the interpreter lock go, and in a
        # graph the renderer then waits to get it back from the face mesh's threads, so an
        # item makes as few of them as it can (bench/README.md).
        cv2.blendLinear(sampled, region, weight, rest, dst=region)


def _inverse_affine(item: DrawItem) -> npt.NDArray[np.float64] | None:
    """The 2x3 matrix taking `dst` to `src` (pixel-centre coordinates), or None if none fits.

    Fitted on three vertices spread around the outline and checked on all of them.
    """
    count = len(item.dst)
    if count < 3:
        return None
    corners = [0, count // 3, 2 * count // 3]
    (ax, ay), (bx, by), (cx, cy) = item.dst[corners].tolist()
    if abs((bx - ax) * (cy - ay) - (cx - ax) * (by - ay)) < 1e-6:
        return None  # the three vertices are in a line: leave it to the triangles
    matrix = np.asarray(cv2.getAffineTransform(item.dst[corners], item.src[corners]),
                        np.float64)
    dst, src = item.dst.astype(np.float64), item.src.astype(np.float64)
    if np.abs(dst @ matrix[:, :2].T + matrix[:, 2] - src).max() > AFFINE_TOLERANCE_PX:
        return None
    return matrix


def _recolour(sampled: Pixels, item: DrawItem) -> Pixels:
    """`DrawItem.shade` on RGBA pixels; an alpha of 255 stays 255 (others may change).

    The common statements take one to three integer OpenCV calls: brightness and channel
    gains alone one `cv2.LUT` with a table per channel (exact, the alpha's the identity;
    `cv2.multiply` by a per-channel scalar took 10-20 times longer); saturation (with equal
    gains) the luma from `cv2.cvtColor` (OpenCV's weights are `LUMA_WEIGHTS`) mixed in with
    `cv2.addWeighted`, within one step of the exact colour (the luma's rounding, times the
    gain). Saturation with unequal gains goes through `cv2.transform` with the whole 4x4
    matrix, about ten times slower than these.
    """
    saturation, channels = item.saturation, item.channels
    if saturation == 1.0 and item.brightness == 1.0 and channels == (1.0, 1.0, 1.0):
        return sampled
    gains = [c * item.brightness for c in channels]
    if saturation == 1.0:
        return np.asarray(cv2.LUT(sampled, _gain_table(*gains)), np.uint8)
    if gains[0] == gains[1] == gains[2]:
        luma = cv2.cvtColor(cv2.cvtColor(sampled, cv2.COLOR_RGBA2GRAY), cv2.COLOR_GRAY2RGBA)
        mixed = np.asarray(cv2.addWeighted(sampled, gains[0] * saturation, luma,
                                           gains[0] * (1.0 - saturation), 0.0), np.uint8)
        if gains[0] < 1.0:  # the alpha came out times the gain (saturated at 1 and above)
            mixed[..., 3] = sampled[..., 3]
        return mixed
    weights = np.asarray(LUMA_WEIGHTS)
    matrix = np.eye(4)
    matrix[:3, :3] = np.asarray(gains)[:, None] * (
        saturation * np.eye(3) + (1.0 - saturation) * weights[None, :])
    return np.asarray(cv2.transform(sampled, matrix), np.uint8)


@functools.lru_cache(maxsize=64)
def _gain_table(red: float, green: float, blue: float) -> Pixels:
    """`cv2.LUT`'s table for RGBA pixels: each colour channel times its gain, rounded and
    clamped; the alpha unchanged."""
    values = np.arange(256.0)[:, None] * (red, green, blue, 1.0)
    table = np.clip(np.round(values), 0, 255).astype(np.uint8).reshape(256, 1, 4)
    table.flags.writeable = False
    return table


#: One copy of an item ready to blend: its box (x0, y0, x1, y1) in the frame, the recoloured
#: samples of the box, and the blend's weights of the samples and of the frame.
_Copy = tuple[tuple[int, int, int, int], Pixels, npt.NDArray[np.float32],
              npt.NDArray[np.float32]]


def _sample_item(frame: Pixels, item: DrawItem) -> list[_Copy]:
    """Each copy of the item (one per `offsets` row) sampled from the frame and recoloured,
    with its feathered alpha as blend weights; copies that fall outside the frame are left
    out."""
    height, width = frame.shape[:2]
    inverse = _inverse_affine(item)
    dst = item.dst.astype(np.float64)
    (lo_x, lo_y), (hi_x, hi_y) = dst.min(axis=0).tolist(), dst.max(axis=0).tolist()
    bx0, by0, bx1, by1 = item.bbox
    feather = item.feather
    copies = []
    for dx, dy in item.offsets.tolist():
        x0, y0 = max(math.floor(lo_x + dx), bx0, 0), max(math.floor(lo_y + dy), by0, 0)
        x1, y1 = min(math.ceil(hi_x + dx), bx1, width), min(math.ceil(hi_y + dy), by1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        box_w, box_h = x1 - x0, y1 - y0
        # Alpha: the outline filled in a box one pixel larger than its own (not clipped to
        # the frame), so that the distance transform sees the outside all around it; inside,
        # alpha rises over `feather` pixels from the outline. As blend weights: the distance
        # less the edge's offset, at most `feather`, and `feather` less that for the frame.
        mx0, my0 = math.floor(lo_x + dx) - 1, math.floor(lo_y + dy) - 1
        mask = np.zeros((math.ceil(hi_y + dy) + 1 - my0, math.ceil(hi_x + dx) + 1 - mx0),
                        np.uint8)
        ring = ((dst + np.array([dx - mx0 - 0.5, dy - my0 - 0.5])) * (1 << _SHIFT)).round()
        cv2.fillPoly(mask, [ring.astype(np.int32)], 255, cv2.LINE_8, _SHIFT)
        distance = np.asarray(cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_3),
                              np.float32)
        inner = np.s_[y0 - my0:y0 - my0 + box_h, x0 - mx0:x0 - mx0 + box_w]
        weight = distance[inner]
        cv2.subtract(weight, _EDGE, dst=weight, mask=mask[inner])  # outside stays 0
        cv2.threshold(weight, feather, 0.0, cv2.THRESH_TRUNC, dst=weight)
        rest = feather - weight
        # The box's pixels sampled from the frame: output pixel centre (x + 0.5, y + 0.5)
        # maps to the point `inverse` gives, which is OpenCV's pixel (sx - 0.5, sy - 0.5).
        if inverse is not None:
            matrix = inverse.copy()
            matrix[:, 2] += inverse[:, :2] @ (x0 + 0.5 - dx, y0 + 0.5 - dy) - 0.5
            sampled = cv2.warpAffine(frame, matrix, (box_w, box_h),
                                     flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                     borderMode=cv2.BORDER_REPLICATE)
        else:
            map_x, map_y = _triangle_maps(item, dst + np.array([dx, dy]), x0, y0, box_w, box_h)
            sampled = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        copies.append(((x0, y0, x1, y1), _recolour(np.asarray(sampled, np.uint8), item),
                       weight, rest))
    return copies


def _triangle_maps(item: DrawItem, dst: npt.NDArray[np.float64], x0: int, y0: int, box_w: int,
                   box_h: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Source positions (OpenCV pixels) of the box's pixels, each triangle's affine on the
    pixel centres inside it (for items that no single affine fits; the reference renderer's
    rule: the first triangle that holds a centre, its edges included, maps it). ``dst`` is
    the item's outline moved by this copy's offset."""
    map_x = np.full((box_h, box_w), -1.0, np.float32)  # -1: no triangle (alpha 0 there)
    map_y = np.full((box_h, box_w), -1.0, np.float32)
    free = np.ones((box_h, box_w), bool)
    src = item.src.astype(np.float64)
    for triangle in item.triangles:
        corners = dst[triangle]
        design = np.column_stack((corners, np.ones(3)))
        if abs(np.linalg.det(design)) < 1e-9:
            continue
        lo = np.maximum(np.floor(corners.min(axis=0)).astype(int) - (x0, y0), 0)
        hi = np.minimum(np.ceil(corners.max(axis=0)).astype(int) - (x0, y0), (box_w, box_h))
        if (lo >= hi).any():
            continue
        gx, gy = np.meshgrid(np.arange(lo[0], hi[0]) + x0 + 0.5,
                             np.arange(lo[1], hi[1]) + y0 + 0.5)
        # Barycentric weights of the corners, affine in (x, y).
        weights = np.linalg.inv(design)
        w = [weights[0, k] * gx + weights[1, k] * gy + weights[2, k] for k in range(3)]
        slots = free[lo[1]:hi[1], lo[0]:hi[0]]
        hit = slots & (w[0] >= -_INSIDE_SLACK) & (w[1] >= -_INSIDE_SLACK) & (
            w[2] >= -_INSIDE_SLACK)
        mapped = np.stack([wk[hit] for wk in w], axis=1) @ (src[triangle] - 0.5)
        map_x[lo[1]:hi[1], lo[0]:hi[0]][hit] = mapped[:, 0]
        map_y[lo[1]:hi[1], lo[0]:hi[0]][hit] = mapped[:, 1]
        slots[hit] = False
    return map_x, map_y
