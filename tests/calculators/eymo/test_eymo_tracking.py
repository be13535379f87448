"""When the face detector runs (FaceSearchGateCalculator) and how faces keep their numbers."""

import numpy as np
import pytest

from calculators.eymo.tracking import DEFAULT_DETECT_EVERY, DETECT_BACKOFF, FaceNumbering
from graphflow.formats import NormalizedRect
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

GATE = """
    input_stream: "frames"
    input_stream: "tracked"
    output_stream: "to_detector"
    input_side_packet: "num_faces"
    input_side_packet: "every"
    input_side_packet: "backoff"
    node { calculator: "FaceSearchGateCalculator" input_stream: "IMAGE:frames"
           input_stream: "PREV_RECTS:tracked" input_side_packet: "NUM_FACES:num_faces"
           %s output_stream: "IMAGE:to_detector" }
"""
FRAME = ImageFrame(np.zeros((2, 2, 3), np.uint8))


def detected_frames(tracked: list[int | None], num_faces: int, every: int | None,
                    backoff: int | None = None) -> list[int]:
    """The frames the gate passes, given how many faces were tracked before each (None: no
    packet, as on the first frame)."""
    rect = NormalizedRect(0.5, 0.5, 0.1, 0.1)
    side = 'input_side_packet: "DETECT_EVERY:every"' if every is not None else ""
    if backoff is not None:
        side += ' input_side_packet: "DETECT_BACKOFF:backoff"'
    out = run_graph(GATE % side, inputs={
        "frames": [(t, FRAME) for t in range(len(tracked))],
        "tracked": [(t, [rect] * n) for t, n in enumerate(tracked) if n is not None]},
        side_packets={"num_faces": num_faces, **({"every": every} if every else {}),
                      **({"backoff": backoff} if backoff else {})})
    return [int(p.timestamp) for p in out["to_detector"]]


def test_the_detector_runs_while_no_face_is_tracked_then_backs_off_from_k_frames() -> None:
    tracked = [None, 0, 0] + [1] * 60
    # Frames 0-2: nothing tracked; from 3 one face: the next look K=4 frames after frame 2,
    # then 8, then 16 (DETECT_BACKOFF * K) frames after each look that found nothing new.
    assert DETECT_BACKOFF == 4
    assert detected_frames(tracked, num_faces=4, every=4) == [0, 1, 2, 6, 14, 30, 46, 62]


def test_a_backoff_of_one_looks_every_k_frames_and_two_stops_at_2k() -> None:
    tracked = [None, 0, 0] + [1] * 30
    assert detected_frames(tracked, num_faces=4, every=4, backoff=1) == [
        0, 1, 2, 6, 10, 14, 18, 22, 26, 30]
    assert detected_frames(tracked, num_faces=4, every=4, backoff=2) == [0, 1, 2, 6, 14, 22, 30]


def test_a_new_face_brings_the_interval_back_to_k() -> None:
    # One face from frame 1; the look at frame 21 finds a second one (tracked from frame 22).
    tracked = [None] + [1] * 21 + [2] * 33
    assert detected_frames(tracked, num_faces=4, every=3) == [0, 3, 9, 21, 24, 30, 42, 54]


def test_the_detector_runs_at_once_when_a_face_is_lost() -> None:
    tracked = [None, 2, 2, 2, 1, 1, 1, 1, 1, 2, 2, 2]
    assert detected_frames(tracked, num_faces=4, every=5) == [0, 4, 9]


def test_the_detector_never_runs_with_as_many_faces_as_asked_for() -> None:
    tracked = [None, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    assert detected_frames(tracked, num_faces=1, every=2) == [0, 6]
    # MediaPipe's rule: DETECT_EVERY 1 looks on every frame with fewer faces than asked for.
    assert detected_frames(tracked, num_faces=2, every=1) == list(range(12))


def test_the_default_interval() -> None:
    k = DEFAULT_DETECT_EVERY
    tracked = [None] + [1] * (11 * k)
    assert detected_frames(tracked, num_faces=2, every=None) == [0, k, 3 * k, 7 * k, 11 * k]


@pytest.mark.parametrize(("name", "value"), [("NUM_FACES", 0), ("DETECT_EVERY", -1),
                                             ("DETECT_EVERY", True), ("DETECT_BACKOFF", 0)])
def test_bad_side_packets_are_named(name: str, value: object) -> None:
    key = {"NUM_FACES": "num_faces", "DETECT_EVERY": "every", "DETECT_BACKOFF": "backoff"}[name]
    side = {"num_faces": 1, "every": 1, "backoff": 1, key: value}
    with pytest.raises(Exception, match=f"side packet {name} must be an integer >= 1"):
        run_graph(GATE % ('input_side_packet: "DETECT_EVERY:every" '
                          'input_side_packet: "DETECT_BACKOFF:backoff"'),
                  inputs={"frames": [(0, FRAME)], "tracked": []}, side_packets=side)


def face(x: float, y: float = 0.5, width: float = 0.2) -> np.ndarray:
    """(468, 3) landmarks filling a square face of `width` centred on (x, y)."""
    rng = np.random.default_rng(round(x * 1000 + y * 10))
    grid = rng.uniform(-width / 2, width / 2, (468, 2)) + np.array([x, y])
    return np.column_stack([grid, np.zeros(468)]).astype(np.float32)


def centres(faces: list[np.ndarray]) -> list[float]:
    return [round(float((f[:, 0].min() + f[:, 0].max()) / 2), 2) for f in faces]


def test_faces_are_numbered_left_to_right_when_they_appear() -> None:
    numbering = FaceNumbering()
    faces, ids = numbering.number([face(0.7), face(0.2), face(0.45)])
    assert centres(faces) == [0.2, 0.45, 0.7]
    assert len(set(ids)) == 3


def test_faces_that_come_close_or_overlap_keep_their_numbers() -> None:
    numbering = FaceNumbering()
    _, first_ids = numbering.number([face(0.3, 0.4), face(0.7, 0.62)])
    # They move towards each other (one above the other) and cross by less than half a face
    # width (0.1), listed by the tracker in either order.
    for step, (a, b) in enumerate([(0.4, 0.6), (0.48, 0.52), (0.53, 0.47), (0.54, 0.46)]):
        given = [face(a, 0.4), face(b, 0.62)] if step % 2 else [face(b, 0.62), face(a, 0.4)]
        faces, ids = numbering.number(given)
        assert centres(faces) == [a, b], step
        assert ids == first_ids, step


def test_faces_that_clearly_swapped_places_are_numbered_left_to_right_again() -> None:
    numbering = FaceNumbering()
    _, (left_id, right_id) = numbering.number([face(0.3, 0.4), face(0.7, 0.62)])
    for a, b in [(0.45, 0.55), (0.52, 0.48), (0.58, 0.42)]:  # 0.16 apart: more than 0.1
        faces, ids = numbering.number([face(a, 0.4), face(b, 0.62)])
    assert centres(faces) == [0.42, 0.58]
    assert ids == [right_id, left_id]  # the same people, now numbered by place


def test_new_faces_take_their_place_from_the_left_and_lost_ones_free_theirs() -> None:
    numbering = FaceNumbering()
    _, (a, b) = numbering.number([face(0.2), face(0.8)])
    faces, ids = numbering.number([face(0.8), face(0.5), face(0.2)])
    assert centres(faces) == [0.2, 0.5, 0.8]
    assert ids[0] == a and ids[2] == b and ids[1] not in (a, b)
    faces, ids = numbering.number([face(0.5), face(0.8)])  # the left face is lost
    assert centres(faces) == [0.5, 0.8] and ids[1] == b
    faces, ids = numbering.number([face(0.2)])  # a face far from both: someone new
    assert ids[0] not in (a, b) and FaceNumbering().number([])[0] == []
