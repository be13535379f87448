"""graphs/modules/face_tracker_cpu.pbtxt against MediaPipe's face_landmark_front_cpu.binarypb.

With DETECT_EVERY 1 the tracker looks for faces on every frame while fewer than NUM_FACES are
tracked, which is MediaPipe's rule; its landmarks then must be those of MediaPipe's own graph
(the 0.10.21 wheel's binarypb, unmodified, on graphflow) packet for packet and value for value,
although the tracker computes the faces' ROIs and landmarks with other nodes (the vector forms
of the ROI calculators, FaceLandmarksBatchCalculator instead of the per-face loop).
"""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import pytest

from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

ROOT = pathlib.Path(__file__).resolve().parents[2]
FRONT_CPU = ROOT / "graphs/mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb"
FRAME_US = 33_333

TRACKER = """
input_stream: "image"
input_side_packet: "num_faces"
input_side_packet: "detect_every"
output_stream: "multi_face_landmarks"
node { calculator: "FaceTrackerCpu" input_stream: "IMAGE:image"
  input_side_packet: "NUM_FACES:num_faces" input_side_packet: "DETECT_EVERY:detect_every"
  output_stream: "LANDMARKS:multi_face_landmarks" }
"""


def _frames(clip: str, count: int, step: int) -> list[tuple[int, ImageFrame]]:
    capture = cv2.VideoCapture(str(ROOT / "media" / clip))
    frames: list[tuple[int, ImageFrame]] = []
    index = 0
    while len(frames) < count:
        ok, bgr = capture.read()
        assert ok, f"media/{clip} has fewer frames than the test reads"
        if index % step == 0:
            frames.append((len(frames) * FRAME_US,
                           ImageFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))))
        index += 1
    capture.release()
    return frames


@pytest.mark.parametrize(("clip", "step", "num_faces"), [
    ("two_faces.mp4", 2, 2),  # both faces found on the first frame, then followed
    ("two_faces.mp4", 2, 3),  # one face too few: the detector runs on every frame
    ("demo.mp4", 4, 1),  # one face turning, zooming and rolling
])
def test_the_tracker_finds_what_mediapipes_graph_finds(clip: str, step: int,
                                                        num_faces: int) -> None:
    frames = _frames(clip, 30, step)
    ours = run_graph(TRACKER, inputs={"image": frames},
                     side_packets={"num_faces": num_faces, "detect_every": 1},
                     timeout=300)["multi_face_landmarks"]
    theirs = run_graph(FRONT_CPU.read_bytes(), inputs={"image": frames},
                       side_packets={"num_faces": num_faces, "with_attention": False,
                                     "use_prev_landmarks": True},
                       outputs=["multi_face_landmarks"], timeout=300)["multi_face_landmarks"]
    assert [int(p.timestamp) for p in ours] == [int(p.timestamp) for p in theirs]
    assert len(ours) == len(frames)
    counts = [len(p.payload) for p in ours]
    assert counts == [len(p.payload) for p in theirs]
    # Every frame has the clip's faces (with three asked for, one frame of the two-face clip
    # has a third, short-lived one in both graphs).
    assert min(counts) == (1 if clip == "demo.mp4" else 2)
    for a, b in zip(ours, theirs, strict=True):
        for face, reference in zip(a.payload, b.payload, strict=True):
            assert np.array_equal(face.xyz, reference.xyz), int(a.timestamp)
