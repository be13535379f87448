"""The face pipeline against MediaPipe 0.10.21's own outputs (tests/fixtures/face/README.md).

MediaPipe's face_landmark_front_cpu.binarypb from the 0.10.21 wheel runs unmodified in
graphflow: on the demo clip (a moving, zooming, rolling face) in tracking mode, and on tilted
still photographs; the short-range detector runs through graphflow's FaceDetectionShortRangeCpu.
"""

from __future__ import annotations

import pathlib
from typing import Any

import cv2
import numpy as np
import pytest

from graphflow.formats import Detection
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "face"
FRONT_CPU = ROOT / "graphs/mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb"
FRAME_US = 33_333

DETECT = """
input_stream: "image"
output_stream: "detections"
node { calculator: "FaceDetectionShortRangeCpu" input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections" }
"""


def _clip() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(ROOT / "media" / "demo.mp4"))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def clip() -> list[np.ndarray]:
    frames = _clip()
    assert len(frames) == 120
    return frames


@pytest.fixture(scope="module")
def tilted() -> dict[str, np.ndarray]:
    ref = np.load(FIXTURES / "tilted.npz")
    images = {}
    for name in ref["names"]:
        bgr = cv2.imread(str(ROOT / "media" / "tilted" / str(name)))
        assert bgr is not None, name
        images[str(name)] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return images


def _mesh(frames: list[np.ndarray], num_faces: int, tracking: bool) -> dict[int, Any]:
    out = run_graph(FRONT_CPU.read_bytes(),
                    inputs={"image": [(i * FRAME_US, ImageFrame(f)) for i, f in enumerate(frames)]},
                    side_packets={"num_faces": num_faces, "with_attention": False,
                                  "use_prev_landmarks": tracking},
                    outputs=["multi_face_landmarks"], timeout=300)
    return {int(p.timestamp) // FRAME_US: p.payload for p in out["multi_face_landmarks"]}


def _median_error_iod(ours: np.ndarray, ref: np.ndarray, size: tuple[int, int]) -> float:
    """Median landmark distance over the inter-ocular distance (landmarks 33 and 263), in px."""
    scale = np.array(size, dtype=np.float64)
    iod = np.linalg.norm((ref[33, :2] - ref[263, :2]) * scale)
    return float(np.median(np.linalg.norm((ours[:, :2] - ref[:, :2]) * scale, axis=1)) / iod)


def _iou(a: Detection, box: np.ndarray) -> float:
    ax1, ay1 = a.xmin + a.width, a.ymin + a.height
    bx1, by1 = box[0] + box[2], box[1] + box[3]
    iw = max(0.0, min(ax1, bx1) - max(a.xmin, box[0]))
    ih = max(0.0, min(ay1, by1) - max(a.ymin, box[1]))
    inter = iw * ih
    return inter / (a.width * a.height + box[2] * box[3] - inter)


def _match_detections(ours: list[Detection], boxes: np.ndarray, scores: np.ndarray) -> None:
    assert len(ours) == len(boxes)
    for box, score in zip(boxes, scores, strict=True):
        best = max(ours, key=lambda d: _iou(d, box))
        assert _iou(best, box) >= 0.9
        assert abs(best.score - score) <= 0.02


def test_tracking_mesh_on_the_clip_matches_mediapipe(clip: list[np.ndarray]) -> None:
    ref = np.load(FIXTURES / "clip_tracking.npz")
    faces = _mesh(clip, num_faces=1, tracking=True)
    assert sorted(faces) == list(range(120))  # a face on every frame
    errors = []
    for i, landmarks in faces.items():
        assert len(landmarks) == 1
        ours = np.asarray(landmarks[0])
        assert ours.shape == (468, 3) and ours.dtype == np.float32
        errors.append(_median_error_iod(ours, ref["mesh_landmarks"][i, 0], (1280, 720)))
    assert max(errors) <= 0.01


def test_static_mesh_on_tilted_photos_matches_mediapipe(tilted: dict[str, np.ndarray]) -> None:
    ref = np.load(FIXTURES / "tilted.npz")
    names = list(tilted)
    for k, name in enumerate(names):
        faces = _mesh([tilted[name]], num_faces=2, tracking=False)
        found = faces.get(0, [])
        assert len(found) == ref["mesh_count"][k], name
        for j in range(ref["mesh_count"][k]):
            expected = ref["mesh_landmarks"][k, j]
            ours = min((np.asarray(f) for f in found),
                       key=lambda f: float(np.abs(f[:, :2] - expected[:, :2]).mean()))
            assert _median_error_iod(ours, expected, (640, 480)) <= 0.01, name


def test_detections_on_clip_and_photos_match_mediapipe(clip: list[np.ndarray],
                                                       tilted: dict[str, np.ndarray]) -> None:
    static = np.load(FIXTURES / "clip_static.npz")
    frames = [clip[i] for i in static["frame_index"]]
    out = run_graph(DETECT, inputs={"image": [(i, ImageFrame(f)) for i, f in enumerate(frames)]})
    assert [int(p.timestamp) for p in out["detections"]] == list(range(len(frames)))
    for i, packet in enumerate(out["detections"]):
        n = static["det_count"][i]
        _match_detections(packet.payload, static["det_bbox"][i, :n], static["det_score"][i, :n])
        best = max(packet.payload, key=lambda d: d.score)
        assert np.abs(best.keypoints - static["det_keypoints"][i, 0]).max() < 0.01
    ref = np.load(FIXTURES / "tilted.npz")
    out = run_graph(DETECT, inputs={"image": [(i, ImageFrame(img))
                                              for i, img in enumerate(tilted.values())]})
    for k, packet in enumerate(out["detections"]):
        n = ref["det_count"][k]
        _match_detections(packet.payload, ref["det_bbox"][k, :n], ref["det_score"][k, :n])
