"""graphs/face_detection.pbtxt and graphs/face_mesh.pbtxt end to end, and bad input."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import pytest

from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

ROOT = pathlib.Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "graphs"


def _inference_graph(model_path: object) -> str:
    """One InferenceCalculator node, named "detector", running ``model_path``."""
    return f"""
input_stream: "t"
output_stream: "o"
node {{ name: "detector" calculator: "InferenceCalculator" input_stream: "TENSORS:t"
  output_stream: "TENSORS:o"
  options {{ [mediapipe.InferenceCalculatorOptions.ext] {{ model_path: "{model_path}" }} }} }}
"""


DETECTOR_GRAPH = _inference_graph(
    "mediapipe/modules/face_detection/face_detection_short_range.tflite")


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    """The first demo clip frame, downsized to 640x360."""
    cap = cv2.VideoCapture(str(ROOT / "media" / "demo.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    return cv2.cvtColor(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_BGR2RGB)


def test_face_detection_graph_draws_boxes(face: np.ndarray) -> None:
    blank = np.zeros_like(face)
    out = run_graph((GRAPHS / "face_detection.pbtxt").read_text(),
                    inputs={"input_video": [(0, ImageFrame(face)), (1, ImageFrame(blank))]})
    # As in MediaPipe, a frame without faces has no detections packet (only a bound).
    assert [int(p.timestamp) for p in out["face_detections"]] == [0]
    detections = [p.payload for p in out["face_detections"]]
    assert len(detections[0]) == 1
    video = [np.asarray(p.payload) for p in out["output_video"]]
    assert [int(p.timestamp) for p in out["output_video"]] == [0, 1]
    d = detections[0][0]
    x0, y0 = int(d.xmin * 640), int(d.ymin * 360)
    x1 = int((d.xmin + d.width) * 640)
    row = video[0][y0, x0 + 2:x1 - 2]  # the box's top edge, drawn red
    assert (row[:, 0] > 200).mean() > 0.9 and (row[:, 1] < 60).mean() > 0.9
    assert (video[1] == 0).all()


def test_face_mesh_graph_tracks_and_handles_no_face(face: np.ndarray) -> None:
    blank = np.zeros_like(face)
    frames = [face, face, blank, face]
    out = run_graph((GRAPHS / "face_mesh.pbtxt").read_text(),
                    inputs={"input_video": [(i, ImageFrame(f)) for i, f in enumerate(frames)]},
                    side_packets={"num_faces": 1})
    landmarks = {int(p.timestamp): p.payload for p in out["multi_face_landmarks"]}
    assert sorted(landmarks) == [0, 1, 3]  # nothing at the blank frame; found again after it
    assert all(len(v) == 1 and np.asarray(v[0]).shape == (468, 3) for v in landmarks.values())
    assert [int(p.timestamp) for p in out["output_video"]] == [0, 1, 2, 3]
    annotated = np.asarray(out["output_video"][0].payload)
    assert (annotated != face).any() and annotated.shape == face.shape


def test_faces_at_the_border(face: np.ndarray) -> None:
    """A face partly outside the frame gives landmarks (some outside [0, 1]) or nothing."""
    shifted = np.zeros_like(face)
    shifted[:, :200] = face[:, 240:440]  # the face straddles the left edge
    out = run_graph((GRAPHS / "face_mesh.pbtxt").read_text(),
                    inputs={"input_video": [(i, ImageFrame(shifted)) for i in range(3)]},
                    side_packets={"num_faces": 2})
    for packet in out["multi_face_landmarks"]:
        for lm in packet.payload:
            assert np.isfinite(np.asarray(lm)).all()
    assert len(out["output_video"]) == 3


def test_missing_model_is_reported_with_the_node() -> None:
    graph = _inference_graph("nowhere/missing.tflite")
    with pytest.raises(Exception, match=r"(?s)detector.*missing\.tflite.*not found"):
        run_graph(graph, inputs={"t": [(0, [np.zeros((1, 4), np.float32)])]})


def test_corrupt_model_is_reported(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(Exception, match=r"(?s)detector.*broken\.tflite"):
        run_graph(_inference_graph(bad), inputs={"t": [(0, [np.zeros((1, 4), np.float32)])]})


def test_wrong_tensor_shape_is_reported() -> None:
    with pytest.raises(Exception, match=r"(?s)detector.*must have shape"):
        run_graph(DETECTOR_GRAPH, inputs={"t": [(0, [np.zeros((1, 64, 64, 3), np.float32)])]})


def test_raw_array_instead_of_image_is_reported(face: np.ndarray) -> None:
    with pytest.raises(Exception, match="must be an ImageFrame, got ndarray"):
        run_graph((GRAPHS / "face_detection.pbtxt").read_text(),
                  inputs={"input_video": [(0, face)]})


def test_attention_model_gives_478_landmarks(face: np.ndarray) -> None:
    graph = """
input_stream: "image"
output_stream: "landmarks"
node { calculator: "FaceLandmarkFrontCpu" input_stream: "IMAGE:image"
  input_side_packet: "NUM_FACES:num_faces" input_side_packet: "WITH_ATTENTION:attention"
  input_side_packet: "USE_PREV_LANDMARKS:prev" output_stream: "LANDMARKS:landmarks" }
input_side_packet: "num_faces"
input_side_packet: "attention"
input_side_packet: "prev"
"""
    for attention, count in ((True, 478), (False, 468)):
        out = run_graph(graph, inputs={"image": [(0, ImageFrame(face))]},
                        side_packets={"num_faces": 1, "attention": attention, "prev": True})
        [faces] = [p.payload for p in out["landmarks"]]
        assert [len(f) for f in faces] == [count]


@pytest.mark.parametrize("value", ["x", "0"])
def test_bad_thread_override_is_reported(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("GRAPHFLOW_INFERENCE_THREADS", value)
    with pytest.raises(Exception, match=rf"(?s)detector.*GRAPHFLOW_INFERENCE_THREADS.*'{value}'"):
        run_graph(DETECTOR_GRAPH, inputs={"t": [(0, [np.zeros((1, 128, 128, 3), np.float32)])]})
