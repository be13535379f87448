"""FaceLandmarksBatchCalculator against MediaPipe's own per-face loop, side by side in one graph.

The reference is face_landmark_front_cpu.pbtxt's loop as MediaPipe writes it: BeginLoop over the
ROIs, FaceLandmarkCpu and FaceLandmarkLandmarksToRoi (graphs/mediapipe/modules/face_landmark/,
unmodified) for each, EndLoop collecting the landmarks and the next ROIs. Both get the same
frames of the two-face clip and the same ROI lists, with ROIs the model finds no face in and
empty ROIs among them; their outputs must be the same packets, value for value.
"""

from __future__ import annotations

import pathlib
from typing import Any

import cv2
import numpy as np
import pytest

from graphflow.formats import NormalizedLandmarkList, NormalizedRect
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph, timestamps

ROOT = pathlib.Path(__file__).resolve().parents[3]

GRAPH = """
input_stream: "image"
input_stream: "rects"
output_stream: "batch_landmarks"
output_stream: "batch_rects"
output_stream: "loop_landmarks"
output_stream: "loop_rects"

node {
  calculator: "FaceLandmarksBatchCalculator"
  input_stream: "IMAGE:image"
  input_stream: "NORM_RECTS:rects"
  output_stream: "LANDMARKS:batch_landmarks"
  output_stream: "NORM_RECTS:batch_rects"
}

node { calculator: "ImagePropertiesCalculator" input_stream: "IMAGE:image"
       output_stream: "SIZE:image_size" }
node {
  calculator: "BeginLoopNormalizedRectCalculator"
  input_stream: "ITERABLE:rects"
  input_stream: "CLONE:0:image"
  input_stream: "CLONE:1:image_size"
  output_stream: "ITEM:rect"
  output_stream: "CLONE:0:loop_image"
  output_stream: "CLONE:1:loop_image_size"
  output_stream: "BATCH_END:loop_end"
}
node { calculator: "FaceLandmarkCpu" input_stream: "IMAGE:loop_image"
       input_stream: "ROI:rect" output_stream: "LANDMARKS:landmarks" }
node { calculator: "FaceLandmarkLandmarksToRoi" input_stream: "LANDMARKS:landmarks"
       input_stream: "IMAGE_SIZE:loop_image_size" output_stream: "ROI:next_rect" }
node { calculator: "EndLoopNormalizedLandmarkListVectorCalculator"
       input_stream: "ITEM:landmarks" input_stream: "BATCH_END:loop_end"
       output_stream: "ITERABLE:loop_landmarks" }
node { calculator: "EndLoopNormalizedRectCalculator"
       input_stream: "ITEM:next_rect" input_stream: "BATCH_END:loop_end"
       output_stream: "ITERABLE:loop_rects" }
"""

# The two faces of media/two_faces.mp4 on its first frames (ROIs as the tracker makes them).
RIGHT_FACE = NormalizedRect(0.7056, 0.5429, 0.3016, 0.5363, 0.1658)
LEFT_FACE = NormalizedRect(0.2710, 0.5470, 0.2703, 0.4806, 0.0387)
NO_FACE = NormalizedRect(0.08, 0.12, 0.12, 0.2, 0.0)  # the top-left corner: no face there
EMPTY = NormalizedRect(0.5, 0.5, 0.0, 0.0)
ROI_LISTS = [
    [RIGHT_FACE, LEFT_FACE],
    [LEFT_FACE, NO_FACE, EMPTY, RIGHT_FACE],
    [NO_FACE],
    [],
    [EMPTY],
    [LEFT_FACE],
]


def _frames(count: int) -> list[ImageFrame]:
    capture = cv2.VideoCapture(str(ROOT / "media/two_faces.mp4"))
    frames: list[ImageFrame] = []
    while len(frames) < count:
        ok, bgr = capture.read()
        assert ok, "media/two_faces.mp4 has fewer frames than the test reads"
        frames.append(ImageFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    return frames


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    frames = _frames(len(ROI_LISTS))
    return run_graph(GRAPH, inputs={
        "image": [(i, frame) for i, frame in enumerate(frames)],
        "rects": [(i, rects) for i, rects in enumerate(ROI_LISTS)],
    })


def test_the_faces_found_are_those_of_the_loop_in_the_same_order(
        outputs: dict[str, Any]) -> None:
    # Frames 2-4 have no ROI with a face: no packet from either; the others have one packet each.
    assert timestamps(outputs["loop_landmarks"]) == [0, 1, 5]
    assert timestamps(outputs["batch_landmarks"]) == [0, 1, 5]
    assert timestamps(outputs["batch_rects"]) == timestamps(outputs["loop_rects"]) == [0, 1, 5]
    for batch, loop in zip(outputs["batch_landmarks"], outputs["loop_landmarks"], strict=True):
        assert [type(face) for face in batch.payload] == [NormalizedLandmarkList] * len(
            loop.payload)
        assert len(batch.payload) == len(loop.payload)
        for ours, theirs in zip(batch.payload, loop.payload, strict=True):
            assert np.array_equal(ours.xyz, theirs.xyz)
            assert ours.visibility is None and theirs.visibility is None
            assert ours.presence is None and theirs.presence is None
    # The faces, not the ROIs without one: two, then two (left first), then one.
    assert [len(p.payload) for p in outputs["batch_landmarks"]] == [2, 2, 1]
    left_x = [float(p.payload[0].xyz[:, 0].mean()) for p in outputs["batch_landmarks"]]
    assert left_x[0] > 0.5 > left_x[1] and left_x[2] < 0.5


def test_the_next_rois_are_those_of_the_loop(outputs: dict[str, Any]) -> None:
    for batch, loop in zip(outputs["batch_rects"], outputs["loop_rects"], strict=True):
        assert batch.payload == loop.payload
    # Each next ROI is about where its face was (the faces barely move between these frames).
    first = outputs["batch_rects"][0].payload
    assert first[0].x_center == pytest.approx(RIGHT_FACE.x_center, abs=0.02)
    assert first[1].x_center == pytest.approx(LEFT_FACE.x_center, abs=0.02)


def test_an_image_that_is_not_an_image_frame_is_named() -> None:
    with pytest.raises(Exception, match="IMAGE must be an ImageFrame, got ndarray"):
        run_graph(GRAPH, inputs={"image": [(0, np.zeros((8, 8, 3), np.uint8))],
                                 "rects": [(0, [LEFT_FACE])]})


def test_a_failure_on_a_helper_thread_names_the_node_and_the_timestamp() -> None:
    # The second ROI is cropped on a helper thread; a ROI with no width cannot be cropped.
    graph = """
    input_stream: "image" input_stream: "rects" output_stream: "landmarks"
    node { calculator: "FaceLandmarksBatchCalculator" name: "faces"
           input_stream: "IMAGE:image" input_stream: "NORM_RECTS:rects"
           output_stream: "LANDMARKS:landmarks" }
    """
    image = ImageFrame(np.zeros((120, 160, 3), np.uint8))
    rects = [NormalizedRect(0.5, 0.5, 0.5, 0.5), NormalizedRect(0.5, 0.5, 0.0, 0.5)]
    with pytest.raises(Exception, match=r"node 'faces' \(FaceLandmarksBatchCalculator\) .*"
                                        r"failed in process at timestamp 7: ValueError: ROI "
                                        r"width and height must be > 0, got 0.0 x 60.0"):
        run_graph(graph, inputs={"image": [(7, image)], "rects": [(7, rects)]})
