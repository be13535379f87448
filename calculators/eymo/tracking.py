"""Following several faces cheaply: when to look for new faces, and numbers that stay put.

- `FaceSearchGateCalculator` decides on which frames the face detector runs while faces are
  tracked from frame to frame (graphs/modules/face_tracker_cpu.pbtxt): on every frame while no
  face is tracked, at once when a tracked face was lost, and while fewer faces than asked for
  are tracked K frames after the faces last changed, then at intervals that double while no
  new face turns up (up to `DETECT_BACKOFF` times K). MediaPipe's FaceLandmarkFrontCpu runs the
  detector on every frame with fewer faces than NUM_FACES, which costs a detection per frame
  for a lone face when NUM_FACES > 1.
- `FaceNumbering` gives the faces of successive measurements their numbers (`part#1`): left to
  right when they appear, kept while they move, re-sorted left to right only when two faces
  have clearly swapped places, so that a number does not jump between people when faces come
  close or the tracker lists them in another order.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.image_frame import ImageFrame

#: Frames between two looks for new faces after the tracked faces changed (`DETECT_EVERY`).
DEFAULT_DETECT_EVERY = 10
#: Each look that finds no new face doubles the interval, up to this many times DETECT_EVERY
#: (the default of the `DETECT_BACKOFF` side packet; 1 keeps it at DETECT_EVERY): a lone face
#: then costs a detection every 40 frames with the defaults (MediaPipe's face mesh with one face
#: asked for never detects again while it tracks; bench/README.md), and a face that comes in
#: shows up within 40 frames (1.3 s at 30 fps), within 10 of a change.
DETECT_BACKOFF = 4
#: Two faces have clearly swapped places when the one numbered first is further right than the
#: other by more than this fraction of their mean width.
SWAP_MARGIN = 0.5
#: A face of one measurement is the same as one of the previous measurement when their centres
#: are closer than this fraction of the wider face's width.
SAME_FACE_DISTANCE = 1.0
# The face mesh's landmarks (the attention model adds iris points after them).
_MESH_LANDMARKS = 468

FaceArray = npt.NDArray[np.float32]


@register_calculator
class FaceSearchGateCalculator(Calculator):
    """Passes the frames the face detector should look at for new faces.

    Inputs: `IMAGE`, every frame; `PREV_RECTS`, the face rectangles tracked from the previous
    frame's landmarks (no packet: none). Output: `IMAGE`, the frames to run the detector on
    (for the others only the timestamp bound advances, so nothing downstream waits).

    Side packets: `NUM_FACES`, the most faces to follow (>= 1); `DETECT_EVERY` (optional,
    default 10), K >= 1. The detector runs on a frame when fewer than NUM_FACES faces are
    tracked and either no face is tracked, fewer faces are tracked than on the frame before
    (one was lost), or the interval has passed since it last ran. The interval is K frames
    after the number of tracked faces changed (a face found or lost) and doubles at each look
    that follows, up to B * K, while the number stays; `DETECT_BACKOFF` (optional, default 4),
    B >= 1, 1 for a look every K frames. With as many faces as asked for, it never runs; with
    DETECT_EVERY 1 (no backing off), it runs as MediaPipe's FaceLandmarkFrontCpu does.
    """

    inputs = (
        Port("IMAGE", ImageFrame, doc="every frame"),
        Port("PREV_RECTS", list, doc="faces tracked from the previous frame"),
    )
    outputs = (Port("IMAGE", ImageFrame, doc="the frames to look for new faces in"),)
    input_side_packets = (
        Port("NUM_FACES", int, doc="the most faces to follow"),
        Port("DETECT_EVERY", int, optional=True, missing_ok=True,
             doc="frames between looks (default 10)"),
        Port("DETECT_BACKOFF", int, optional=True, missing_ok=True,
             doc="the longest interval, in DETECT_EVERY intervals (default 4)"),
    )
    timestamp_offset: ClassVar[int | None] = 0

    def open(self, cc: CalculatorContext) -> None:
        """Reads and checks the side packets."""
        self._num_faces = _positive(cc.side_inputs["NUM_FACES"], "NUM_FACES")
        self._every = _positive(cc.side_inputs.get("DETECT_EVERY", DEFAULT_DETECT_EVERY),
                                "DETECT_EVERY")
        self._tracked = 0
        self._since = 0
        self._interval = self._every
        backoff = _positive(cc.side_inputs.get("DETECT_BACKOFF", DETECT_BACKOFF), "DETECT_BACKOFF")
        self._longest = self._every if self._every == 1 else backoff * self._every

    def process(self, cc: CalculatorContext) -> None:
        """Passes the frame or advances the bound past it."""
        image = cc.inputs["IMAGE"]
        if image.is_empty:
            return
        tracked = len(cc.inputs["PREV_RECTS"].get(()))
        lost = tracked < self._tracked
        if tracked != self._tracked:
            self._interval = self._every
        self._tracked = tracked
        self._since += 1
        if tracked >= self._num_faces or not (tracked == 0 or lost
                                              or self._since >= self._interval):
            cc.outputs["IMAGE"].set_next_timestamp_bound(int(image.timestamp) + 1)
            return
        if tracked and not lost:  # a look for faces next to the same tracked ones: back off
            self._interval = min(2 * self._interval, self._longest)
        self._since = 0
        cc.outputs["IMAGE"].add_packet(image)


def _positive(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"side packet {name} must be an integer >= 1, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class _Track:
    """A numbered face: an id that stays while the face is followed, its centre and width."""

    id: int
    x: float
    y: float
    width: float


class FaceNumbering:
    """Numbers the faces of successive measurements so that each keeps its number.

    Each call of `number` takes one measurement's faces (in any order) and returns them in
    number order (face 0 first) with an id per face that stays the same while the face is
    followed. A face is the one of the previous measurement whose centre is nearest, within
    `SAME_FACE_DISTANCE` face widths; followed faces keep their order, a new face is numbered
    by its place from the left among them, and a lost face's number goes to the next face. The
    order becomes left to right again only when a face numbered before another is further right
    than it by more than `SWAP_MARGIN` of their width: faces that come close or overlap keep
    their numbers.
    """

    def __init__(self) -> None:
        self._tracks: list[_Track] = []
        self._ids = itertools.count()

    def number(self, faces: Sequence[FaceArray]) -> tuple[list[FaceArray], list[int]]:
        """The faces in number order, and each one's id.

        Args:
            faces: One measurement's faces, (N, 2 or 3) normalized landmarks each.
        """
        shapes = [_shape(face) for face in faces]
        matched = _match(self._tracks, shapes)
        order = [j for j in matched if j is not None]
        for j in sorted(set(range(len(faces))) - set(order), key=lambda j: shapes[j][0]):
            # A new face goes before the first followed face that lies right of it.
            place = next((k for k, other in enumerate(order) if shapes[other][0] > shapes[j][0]),
                         len(order))
            order.insert(place, j)
        if _clearly_swapped([shapes[j] for j in order]):
            order.sort(key=lambda j: shapes[j][0])
        ids = {j: self._tracks[i].id for i, j in enumerate(matched) if j is not None}
        tracks = [_Track(ids[j] if j in ids else next(self._ids), *shapes[j]) for j in order]
        self._tracks = tracks
        return [faces[j] for j in order], [t.id for t in tracks]


def _shape(face: FaceArray) -> tuple[float, float, float]:
    """(centre x, centre y, width) of a face's mesh landmarks."""
    points = np.asarray(face)[:_MESH_LANDMARKS, :2]
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return float(x0 + x1) / 2, float(y0 + y1) / 2, max(float(x1 - x0), 1e-6)


def _match(tracks: Sequence[_Track], shapes: Sequence[tuple[float, float, float]],
           ) -> list[int | None]:
    """For each track in number order, the index of its face in `shapes` (None: lost)."""
    pairs = sorted(
        (np.hypot(t.x - x, t.y - y) / max(t.width, width), i, j)
        for i, t in enumerate(tracks) for j, (x, y, width) in enumerate(shapes))
    matched: list[int | None] = [None] * len(tracks)
    taken: set[int] = set()
    for distance, i, j in pairs:
        if distance < SAME_FACE_DISTANCE and matched[i] is None and j not in taken:
            matched[i] = j
            taken.add(j)
    return matched


def _clearly_swapped(shapes: Sequence[tuple[float, float, float]]) -> bool:
    """True if a face is further right than a later-numbered one by more than the margin."""
    return any(a[0] - b[0] > SWAP_MARGIN * (a[2] + b[2]) / 2
               for a, b in itertools.combinations(shapes, 2))


__all__ = ["DEFAULT_DETECT_EVERY", "DETECT_BACKOFF", "FaceNumbering", "FaceSearchGateCalculator"]
