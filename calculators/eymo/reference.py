"""A CPU reference renderer of eymo draw items (numpy and OpenCV).

It defines what the GPU renderer must produce, pixel for pixel up to rounding: every item
samples the unmodified input frame bilinearly, is recoloured by `DrawItem.shade`, and is
blended over the output with `DrawItem.coverage` as alpha, items in list order. It is slow
(it evaluates every pixel of every item's box in numpy) and meant for tests and debugging.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from calculators._opencv import cv2
from calculators.eymo.geometry import DrawItem

_INSIDE_SLACK = 1e-9  # barycentric tolerance, so that pixels on a shared triangle edge count


def render(frame: npt.NDArray[np.uint8], items: Sequence[DrawItem]) -> npt.NDArray[np.uint8]:
    """Draws the items onto a copy of the frame.

    Args:
        frame: (H, W, 3) RGB or (H, W, 4) RGBA uint8 image; alpha is left unchanged.
        items: Draw items for a frame of this size, e.g. from `draw_items`.

    Returns:
        The new frame, same shape and dtype.

    Raises:
        ValueError: The frame is not an RGB or RGBA uint8 image.
    """
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) uint8 frame, got {frame.dtype} {frame.shape}")
    source = frame[..., :3].astype(np.float32) / 255.0
    out = source.copy()
    for item in items:
        for offset in item.offsets.astype(np.float64):
            _draw(out, source, item, offset)
    result = frame.copy()
    result[..., :3] = np.round(out * 255.0).astype(np.uint8)
    return result


def _draw(
    out: npt.NDArray[np.float32],
    source: npt.NDArray[np.float32],
    item: DrawItem,
    offset: npt.NDArray[np.float64],
) -> None:
    dst = item.dst.astype(np.float64) + offset
    lo, hi = np.floor(dst.min(axis=0)).astype(int), np.ceil(dst.max(axis=0)).astype(int)
    x0, y0 = max(lo[0], item.bbox[0]), max(lo[1], item.bbox[1])
    x1, y1 = min(hi[0], item.bbox[2]), min(hi[1], item.bbox[3])
    if x0 >= x1 or y0 >= y1:
        return
    gx, gy = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
    map_x = np.full(gx.shape, np.nan, dtype=np.float32)
    map_y = np.full(gx.shape, np.nan, dtype=np.float32)
    src = item.src.astype(np.float64)
    for triangle in item.triangles:
        (ax, ay), (bx, by), (cx, cy) = dst[triangle]
        det = (bx - ax) * (cy - ay) - (cx - ax) * (by - ay)
        if abs(det) < 1e-12:
            continue
        u = ((gx - ax) * (cy - ay) - (cx - ax) * (gy - ay)) / det
        v = ((bx - ax) * (gy - ay) - (gx - ax) * (by - ay)) / det
        hit = (
            (u >= -_INSIDE_SLACK)
            & (v >= -_INSIDE_SLACK)
            & (u + v <= 1 + _INSIDE_SLACK)
            & np.isnan(map_x)
        )
        s0, s1, s2 = src[triangle]
        map_x[hit] = (s0[0] + u * (s1[0] - s0[0]) + v * (s2[0] - s0[0]))[hit]
        map_y[hit] = (s0[1] + u * (s1[1] - s0[1]) + v * (s2[1] - s0[1]))[hit]
    mapped = ~np.isnan(map_x)
    # Pixel centres are at i + 0.5; cv2.remap puts them at i.
    sampled = cv2.remap(
        source,
        np.where(mapped, map_x - 0.5, 0),
        np.where(mapped, map_y - 0.5, 0),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    alpha = (item.coverage(np.stack([gx, gy], axis=-1) - offset) * mapped)[..., None]
    region = out[y0:y1, x0:x1]
    region[...] = region * (1.0 - alpha) + item.shade(sampled) * alpha
