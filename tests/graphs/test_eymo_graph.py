"""graphs/eymo.pbtxt end to end on the demo clip: every frame out, pixels change only where told."""

import pathlib

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
