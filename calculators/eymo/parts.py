"""Face parts: rings of face-mesh landmark indices (the original eymo's) and their polygons."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# Each list is a ring: the landmarks in order around the part's outline.
# fmt: off
PARTS: dict[str, tuple[int, ...]] = {
    "face": (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148,
             152, 377, 400, 378, 379, 365, 397, 288, 435, 361, 323, 454, 356, 389, 251, 284, 332,
             297, 338),
    "mouth": (164, 167, 165, 216, 212, 202, 204, 194, 201, 200, 421, 418, 424, 422, 432, 436, 322,
              391, 393),
    "leye": (133, 173, 157, 158, 159, 160, 161, 246, 33, 7, 163, 144, 145, 153, 154, 155),
    "leye_region": (107, 66, 105, 63, 70, 156, 35, 31, 228, 229, 230, 231, 232, 233, 245, 193, 55),
    "reye": (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
    "reye_region": (300, 293, 334, 296, 336, 285, 417, 465, 453, 452, 451, 450, 449, 448, 261, 265,
                    353),
    "nose": (168, 193, 245, 188, 174, 236, 198, 209, 49, 64, 98, 97, 2, 326, 327, 294, 279, 429,
             420, 456, 419, 351, 417),
    "forehead": (54, 68, 107, 9, 336, 298, 284, 332, 297, 338, 10, 109, 67, 103),
}
# fmt: on

NUM_LANDMARKS = 468
# The forehead ring's upper arc (the top of the face mesh), pushed up to reach the hairline.
FOREHEAD_TOP = frozenset((332, 297, 338, 10, 109, 67, 103))
# How far the upper arc moves: this fraction of the face height (chin 152 to top 10), along the
# chin-to-top direction, so a tilted head gets a tilted forehead.
FOREHEAD_STRETCH = 0.25
_CHIN, _TOP = 152, 10


def part_polygon(part: str, landmarks_px: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Returns a part's outline in pixels.

    Args:
        part: A key of `PARTS`.
        landmarks_px: (N >= 468, 2) landmark x, y in pixels.

    Returns:
        (K, 2) float64 ring of the part's landmarks, in `PARTS` order; for `forehead`, the
        upper arc is moved up by `FOREHEAD_STRETCH` of the face height.
    """
    ring = PARTS[part]
    polygon = landmarks_px[list(ring)].astype(np.float64)
    if part == "forehead":
        up = landmarks_px[_TOP] - landmarks_px[_CHIN]
        top = [i for i, index in enumerate(ring) if index in FOREHEAD_TOP]
        polygon[top] += FOREHEAD_STRETCH * up
    return polygon
