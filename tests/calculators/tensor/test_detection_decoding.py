"""SsdAnchorsCalculator and TensorsToDetectionsCalculator against hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from calculators.tensor.ssd_anchors import generate_anchors
from graphflow.proto.mediapipe.calculators.tensor import ssd_anchors_calculator_pb2
from graphflow.testing import run_graph

SHORT_RANGE = """
  num_layers: 4 min_scale: 0.1484375 max_scale: 0.75 input_size_width: 128
  input_size_height: 128 anchor_offset_x: 0.5 anchor_offset_y: 0.5
  strides: 8 strides: 16 strides: 16 strides: 16 aspect_ratios: 1.0 fixed_anchor_size: true
"""


def _short_range_anchors() -> np.ndarray:
    from google.protobuf import text_format
    options = ssd_anchors_calculator_pb2.SsdAnchorsCalculatorOptions()
    text_format.Parse(SHORT_RANGE, options)
    return generate_anchors(options)


def test_short_range_anchors() -> None:
    anchors = _short_range_anchors()
    assert anchors.shape == (896, 4)
    # Layer 1: a 16x16 grid, 2 anchors per cell (aspect 1 and the interpolated one).
    assert anchors[0] == pytest.approx((0.5 / 16, 0.5 / 16, 1.0, 1.0))
    assert anchors[1] == pytest.approx(anchors[0])
    assert anchors[2] == pytest.approx((1.5 / 16, 0.5 / 16, 1.0, 1.0))
    # Layers 2-4 share stride 16: an 8x8 grid with 6 anchors per cell.
    assert anchors[512] == pytest.approx((0.5 / 8, 0.5 / 8, 1.0, 1.0))
    assert anchors[517] == pytest.approx(anchors[512])
    assert anchors[518] == pytest.approx((1.5 / 8, 0.5 / 8, 1.0, 1.0))
    assert anchors[-1] == pytest.approx((7.5 / 8, 7.5 / 8, 1.0, 1.0))


def test_anchor_sizes_without_fixed_size() -> None:
    options = ssd_anchors_calculator_pb2.SsdAnchorsCalculatorOptions(
        num_layers=2, min_scale=0.2, max_scale=0.6, input_size_width=4, input_size_height=4,
        strides=[2, 4], aspect_ratios=[1.0, 4.0], interpolated_scale_aspect_ratio=0.0)
    anchors = generate_anchors(options)
    assert anchors.shape == (2 * 2 * 2 + 1 * 1 * 2, 4)
    # Scale 0.2 for layer 0; aspect 4 gives w = s*2, h = s/2.
    assert anchors[0, 2:] == pytest.approx((0.2, 0.2))
    assert anchors[1, 2:] == pytest.approx((0.4, 0.1))
    assert anchors[8, 2:] == pytest.approx((0.6, 0.6))


def test_anchors_reject_missing_geometry() -> None:
    options = ssd_anchors_calculator_pb2.SsdAnchorsCalculatorOptions(num_layers=1)
    with pytest.raises(ValueError, match="strides"):
        generate_anchors(options)


DECODE = """
input_stream: "tensors"
output_stream: "detections"
node {
  calculator: "SsdAnchorsCalculator"
  output_side_packet: "anchors"
  options { [mediapipe.SsdAnchorsCalculatorOptions.ext] {
    num_layers: 1 min_scale: 0.5 max_scale: 0.5 input_size_width: 2 input_size_height: 1
    strides: 1 aspect_ratios: 1.0 fixed_anchor_size: true interpolated_scale_aspect_ratio: 0
  } }
}
node {
  calculator: "TensorsToDetectionsCalculator"
  input_stream: "TENSORS:tensors"
  input_side_packet: "ANCHORS:anchors"
  output_stream: "DETECTIONS:detections"
  options { [mediapipe.TensorsToDetectionsCalculatorOptions.ext] {
    num_classes: 1 num_boxes: 2 num_coords: 6 keypoint_coord_offset: 4 num_keypoints: 1
    sigmoid_score: true score_clipping_thresh: 100 reverse_output_order: true
    x_scale: 128 y_scale: 128 w_scale: 128 h_scale: 128 min_score_thresh: 0.5
  } }
}
"""


def test_decode_against_hand_values() -> None:
    # Anchors: centers (0.25, 0.5) and (0.75, 0.5), size 1x1.
    boxes = np.array([[[12.8, -12.8, 25.6, 12.8, 6.4, 0.0],
                       [0.0, 0.0, 12.8, 12.8, 0.0, 0.0]]], np.float32)
    scores = np.array([[[2.0], [-1000.0]]], np.float32)  # sigmoid: 0.88, 0 (clipped first)
    out = run_graph(DECODE, inputs={"tensors": [(0, [boxes, scores])]})
    (detections,) = [p.payload for p in out["detections"]]
    assert len(detections) == 1
    d = detections[0]
    # x = 12.8/128 + 0.25 = 0.35, y = -0.1 + 0.5 = 0.4, w = 0.2, h = 0.1.
    assert d.box == pytest.approx((0.25, 0.35, 0.2, 0.1), abs=1e-6)
    assert d.keypoints.ravel().tolist() == pytest.approx([0.3, 0.5], abs=1e-6)
    assert d.score == pytest.approx(1 / (1 + np.exp(-2.0)), abs=1e-6)


def test_decode_with_nothing_above_threshold_sends_an_empty_list() -> None:
    boxes = np.zeros((1, 2, 6), np.float32)
    scores = np.full((1, 2, 1), -5.0, np.float32)
    out = run_graph(DECODE, inputs={"tensors": [(0, [boxes, scores])]})
    assert [p.payload for p in out["detections"]] == [[]]


def test_decode_rejects_wrong_shapes() -> None:
    with pytest.raises(Exception, match="box tensor must hold 2 x 6"):
        run_graph(DECODE, inputs={"tensors": [(0, [np.zeros((1, 3, 6), np.float32),
                                                   np.zeros((1, 2, 1), np.float32)])]})


def test_split_floats_and_landmarks() -> None:
    landmarks = np.arange(12, dtype=np.float32).reshape(1, 12) * 10  # 4 landmarks x 3
    flag = np.array([[0.0]], np.float32)
    out = run_graph("""
input_stream: "t"
output_stream: "score"
output_stream: "lm"
node { calculator: "SplitTensorVectorCalculator" input_stream: "t" output_stream: "a"
  output_stream: "b" options { [mediapipe.SplitVectorCalculatorOptions.ext] {
    ranges { begin: 0 end: 1 } ranges { begin: 1 end: 2 } } } }
node { calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:b"
  output_stream: "FLOAT:score"
  options { [mediapipe.TensorsToFloatsCalculatorOptions.ext] { activation: SIGMOID } } }
node { calculator: "TensorsToLandmarksCalculator" input_stream: "TENSORS:a"
  output_stream: "NORM_LANDMARKS:lm" options { [mediapipe.TensorsToLandmarksCalculatorOptions.ext] {
    num_landmarks: 4 input_image_width: 100 input_image_height: 200 } } }
""", inputs={"t": [(5, [landmarks, flag])]})
    assert out["score"][0].payload == pytest.approx(0.5)
    lm = np.asarray(out["lm"][0].payload)
    assert lm.shape == (4, 3)
    assert lm[1].tolist() == pytest.approx([0.3, 0.2, 0.5])  # (30/100, 40/200, 50/100)


def test_sigmoid_of_extreme_logits_without_overflow_warnings() -> None:
    # 2 landmarks x (x, y, z, visibility, presence); the last presence logit overflows exp().
    raw = np.array([[1, 2, 3, 0.0, 2.0, 4, 5, 6, -3.0, -1000.0]], np.float32)
    graph = """
input_stream: "flag"
input_stream: "t"
output_stream: "score"
output_stream: "lm"
node { calculator: "TensorsToFloatsCalculator" input_stream: "TENSORS:flag"
  output_stream: "FLOAT:score"
  options { [mediapipe.TensorsToFloatsCalculatorOptions.ext] { activation: SIGMOID } } }
node { calculator: "TensorsToLandmarksCalculator" input_stream: "TENSORS:t"
  output_stream: "LANDMARKS:lm" options { [mediapipe.TensorsToLandmarksCalculatorOptions.ext] {
    num_landmarks: 2 visibility_activation: SIGMOID presence_activation: SIGMOID } } }
"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail the node
        out = run_graph(graph, inputs={"flag": [(0, [np.array([[-1000.0]], np.float32)])],
                                       "t": [(0, [raw])]})
    assert out["score"][0].payload == 0.0
    lm = out["lm"][0].payload
    assert lm.visibility.tolist() == pytest.approx([0.5, 1 / (1 + math.exp(3.0))])
    assert lm.presence.tolist() == pytest.approx([1 / (1 + math.exp(-2.0)), 0.0])


def test_only_boxes_whose_sigmoid_reaches_the_threshold_pass() -> None:
    """Logits scattered around the threshold's (0 for 0.5), down to a few ulps of it: the
    boxes kept are exactly those whose float64 sigmoid is at least 0.5, in order."""
    rng = np.random.default_rng(9)
    frames = []
    for t in range(20):
        scores = rng.normal(0.0, 2e-3 if t % 2 else 1.0, (1, 2, 1)).astype(np.float32)
        if t == 0:
            scores[0, :, 0] = (0.0, -1e-7)  # at the threshold, just below it
        boxes = rng.uniform(0, 10, (1, 2, 6)).astype(np.float32)
        frames.append((t, [boxes, scores]))
    out = run_graph(DECODE, inputs={"tensors": frames})
    for (t, (_, scores)), packet in zip(frames, out["detections"], strict=True):
        expected = [float(s) for s in 1 / (1 + np.exp(-scores[0, :, 0].astype(np.float64)))
                    if s >= 0.5]
        assert [d.score for d in packet.payload] == pytest.approx(expected, abs=1e-12), t
    assert len(out["detections"][0].payload) == 1


def test_several_classes_keep_a_box_when_any_class_reaches_the_threshold() -> None:
    """With three sigmoid-scored classes, a box passes on its best class: a box whose first
    class is far below the threshold but whose third is above it is kept, with that class."""
    graph = DECODE.replace("num_classes: 1", "num_classes: 3").replace(
        "score_clipping_thresh: 100 ", "")
    rng = np.random.default_rng(3)
    frames = []
    for t in range(10):
        scores = rng.normal(0.0, 3.0, (1, 2, 3)).astype(np.float32)
        if t == 0:
            scores[0] = ((-9.0, -9.0, 1.0), (-9.0, -9.0, -1.0))
        frames.append((t, [rng.uniform(0, 10, (1, 2, 6)).astype(np.float32), scores]))
    out = run_graph(graph, inputs={"tensors": frames})
    for (t, (_, scores)), packet in zip(frames, out["detections"], strict=True):
        sig = 1 / (1 + np.exp(-scores[0].astype(np.float64)))
        expected = [(float(s.max()), int(s.argmax())) for s in sig if s.max() >= 0.5]
        got = [(d.score, d.label_id) for d in packet.payload]
        assert [c for _, c in got] == [c for _, c in expected], t
        assert [s for s, _ in got] == pytest.approx([s for s, _ in expected], abs=1e-12), t
    assert [d.label_id for d in out["detections"][0].payload] == [2]
