"""graphs/eymo.pbtxt end to end on the demo clip: every frame out, pixels change only where told."""

import importlib.util
import pathlib
import sys
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from calculators.eymo import draw_items, parse
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRAMES = 24
FRAME_US = 33_333
# The left eye grows and brightens, the mouth turns cyan-ish; nothing moves elsewhere.
SCRIPT = "leye: scale(1.8), brighten(1.6)\nmouth: channels(0.2, 1, 1)\n"
MARGIN = 6  # pixels of slack for landmarks that differ slightly from MediaPipe's


@pytest.fixture(scope="module")
def clip() -> list[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(ROOT / "media/demo.mp4"))
    frames = []
    for _ in range(FRAMES):
        ok, bgr = capture.read()
        assert ok
        frames.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8))
    capture.release()
    return frames


def run_eymo(frames: list[npt.NDArray[np.uint8]], side_packets: dict[str, object],
             ) -> list[tuple[int, npt.NDArray[np.uint8]]]:
    out = run_graph(
        (ROOT / "graphs/eymo.pbtxt").read_text(),
        inputs={"input_video": [(i * FRAME_US, ImageFrame(f)) for i, f in enumerate(frames)]},
        side_packets=side_packets,
        timeout=300,
    )
    return [(int(p.timestamp), np.asarray(p.payload)) for p in out["output_video"]]


def target_masks(t_us: int, landmarks: npt.NDArray[np.float32],
                 ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Where the script may change pixels (grown by MARGIN) and must (shrunk by MARGIN)."""
    may = np.zeros((720, 1280), np.uint8)
    for item in draw_items(parse(SCRIPT), [landmarks], (1280, 720), t_us):
        cv2.fillPoly(may, [np.round(item.dst).astype(np.int32)], 1)
    kernel = np.ones((2 * MARGIN + 1, 2 * MARGIN + 1), np.uint8)
    return cv2.dilate(may, kernel).astype(bool), cv2.erode(may, kernel).astype(bool)


def test_the_demo_clip_changes_only_the_targeted_regions(
    clip: list[npt.NDArray[np.uint8]], tmp_path: pathlib.Path
) -> None:
    script = tmp_path / "fx.eymo"
    script.write_text(SCRIPT)
    # MediaPipe's own landmarks of the clip: where the regions should be.
    reference = np.load(ROOT / "tests/fixtures/face/clip_tracking.npz")["mesh_landmarks"]
    out = run_eymo(clip, {"script": str(script), "max_in_flight": 1 << 30})
    assert [t for t, _ in out] == [i * FRAME_US for i in range(FRAMES)]  # every frame, in order
    for i, ((t_us, pixels), frame) in enumerate(zip(out, clip, strict=True)):
        assert pixels.shape == (720, 1280, 4)
        changed = (pixels[..., :3] != frame).any(axis=2)
        may, must = target_masks(t_us, reference[i, 0])
        assert not changed[~may].any(), (i, np.argwhere(changed & ~may)[:5])
        assert changed[must].mean() > 0.95, i
        assert must.sum() > 2000  # both regions are there


def test_landmarks_every_nth_frame_still_outputs_every_frame(
    clip: list[npt.NDArray[np.uint8]], tmp_path: pathlib.Path
) -> None:
    script = tmp_path / "fx.eymo"
    script.write_text(SCRIPT)
    frames = clip[:10]
    out = run_eymo(frames, {"script": str(script), "max_in_flight": 1 << 30,
                            "landmark_every": 4})
    assert [t for t, _ in out] == [i * FRAME_US for i in range(len(frames))]
    measured = np.load(ROOT / "tests/fixtures/face/clip_tracking.npz")["mesh_landmarks"][:, 0]
    for i, ((t_us, pixels), frame) in enumerate(zip(out, frames, strict=True)):
        changed = (pixels[..., :3] != frame).any(axis=2)
        if i < 4:
            # Frames 1-3 hold frame 0's landmarks: the regions are where they were at frame 0.
            may, must = target_masks(t_us, measured[0])
            assert not changed[~may].any(), i
            assert changed[must].mean() > 0.95, i
        else:
            # Later measurements track from a 4-frame-old face box, and predictions run ahead:
            # the regions stay on the face, within 30 pixels of where MediaPipe saw them.
            may, _ = target_masks(t_us, measured[i])
            near = cv2.dilate(may.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
            assert not changed[~near].any(), i
            assert changed.sum() > 2000, i


def make_demo_media() -> Any:
    """scripts/make_demo_media.py as a module: where it put the faces of its clips."""
    spec = importlib.util.spec_from_file_location("make_demo_media",
                                                  ROOT / "scripts/make_demo_media.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_default_graph_follows_both_faces_of_the_two_face_clip(tmp_path: pathlib.Path,
                                                                    ) -> None:
    # Every mouth loses red; the forehead of face 1 (the right one) only loses green.
    script = tmp_path / "fx.eymo"
    script.write_text("mouth: channels(0.2, 1, 1)\nforehead#1: channels(1, 0.2, 1)\n")
    capture = cv2.VideoCapture(str(ROOT / "media/two_faces.mp4"))
    frames = []
    for _ in range(FRAMES):
        ok, bgr = capture.read()
        assert ok
        frames.append(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8))
    capture.release()
    out = run_eymo(frames, {"script": str(script), "max_in_flight": 1 << 30})
    assert len(out) == FRAMES
    media = make_demo_media()
    ys, xs = np.mgrid[0:720, 0:1280]
    for i, ((_, pixels), frame) in enumerate(zip(out, frames, strict=True)):
        before, after = frame.astype(int), pixels[..., :3].astype(int)
        kept = np.abs(after - before) <= 3
        red_lost = (after[..., 0] < before[..., 0] - 20) & kept[..., 1]
        green_lost = (after[..., 1] < before[..., 1] - 20) & kept[..., 0]
        left, right = xs < 640, xs >= 640
        assert (red_lost & left).sum() > 300 and (red_lost & right).sum() > 300, i
        assert (green_lost & right).sum() > 300 and not (green_lost & left).any(), i
        # Nothing changes away from the two heads (where the clip's maker put them).
        near = np.zeros((720, 1280), bool)
        for place in media.two_faces_path(i):
            near |= np.hypot(xs - place.center[0], ys - place.center[1]) < place.face_height
        assert kept.all(axis=2)[~near].all(), i


def test_graphflow_run_turns_one_image_into_one_image(tmp_path: pathlib.Path) -> None:
    from graphflow.app.cli import main

    still = ROOT / "media/tilted/roll_p10.jpg"
    script = tmp_path / "fx.eymo"
    script.write_text(SCRIPT)
    out = tmp_path / "one.png"
    assert main(["run", "eymo", "--input", str(still), "--output", str(out), "--quiet",
                 "--side-packet", f"script={script}"]) == 0
    written = cv2.imread(str(out))
    original = cv2.imread(str(still))
    assert written is not None and original is not None
    assert written.shape == original.shape
    # The eye and the mouth changed, the rest of the picture did not.
    changed = np.abs(written.astype(int) - original.astype(int)).max(axis=2) > 30
    assert 1000 < changed.sum() < 0.1 * changed.size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fx.eymo", "one.png"]
