"""TensorsToDetectionsCalculator: decodes SSD box and score tensors into detections."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from calculators.tensor.activation import sigmoid
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.formats import Detection
from graphflow.proto.mediapipe.calculators.tensor import tensors_to_detections_calculator_pb2

_Options = tensors_to_detections_calculator_pb2.TensorsToDetectionsCalculatorOptions


def decode_boxes(raw: npt.NDArray[np.float32], anchors: npt.NDArray[np.float32],
                 options: Any) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Decodes raw box regressions against anchors (MediaPipe's ``DecodeBoxes``).

    Centres and sizes are decoded as (x, y) pairs and the keypoints as one array, so the cost
    is a dozen numpy calls whatever the number of boxes; each value goes through the same
    float32 operations as MediaPipe's per-box loop.

    Args:
        raw: ``(num_boxes, num_coords)`` raw values.
        anchors: ``(num_boxes, 4)`` anchors (x_center, y_center, w, h).
        options: ``TensorsToDetectionsCalculatorOptions``.

    Returns:
        ``boxes`` ``(num_boxes, 4)`` as ymin, xmin, ymax, xmax and ``keypoints``
        ``(num_boxes, num_keypoints, 2)`` as x, y, all normalized.
    """
    fmt = options.box_format
    if fmt == _Options.UNSPECIFIED and options.reverse_output_order:
        fmt = _Options.XYWH
    o = options.box_coord_offset
    v: npt.NDArray[Any] = raw[:, o:o + 4]
    if fmt == _Options.XYWH:
        xy, wh = v[:, 0:2], v[:, 2:4]
    elif fmt == _Options.XYXY:
        xy = (-v[:, 0:2] + v[:, 2:4]) / 2
        wh = v[:, 2:4] + v[:, 0:2]
    else:  # YXHW
        xy, wh = v[:, 1::-1], v[:, 3:1:-1]
    center, size = anchors[:, 0:2], anchors[:, 2:4]
    xy_scale = np.array([options.x_scale, options.y_scale], dtype=np.float32)
    wh_scale = np.array([options.w_scale, options.h_scale], dtype=np.float32)
    xy = xy / xy_scale * size + center
    wh = np.exp(wh / wh_scale) * size if options.apply_exponential_on_box_size \
        else wh / wh_scale * size
    half = wh / 2
    # [xmin, ymin] and [xmax, ymax], each reversed into MediaPipe's ymin, xmin, ymax, xmax.
    boxes = np.concatenate(((xy - half)[:, ::-1], (xy + half)[:, ::-1]), axis=1)
    k = options.num_keypoints
    start = options.keypoint_coord_offset
    kp = raw[:, start:start + k * options.num_values_per_keypoint].reshape(
        len(raw), k, options.num_values_per_keypoint)[:, :, :2]
    if fmt not in (_Options.XYWH, _Options.XYXY):
        kp = kp[:, :, ::-1]  # stored as y, x
    keypoints = kp / xy_scale * size[:, None] + center[:, None]
    return boxes.astype(np.float32, copy=False), keypoints.astype(np.float32, copy=False)


def _logit_floor(options: Any) -> float | None:
    """A logit below which a box cannot pass ``min_score_thresh``, or None when there is none.

    Only for classes scored by a sigmoid with a threshold in (0, 1): the sigmoid is monotonic,
    so a box whose raw scores are all below logit(threshold) fails the threshold; the floor sits a
    little lower so that rounding never drops a box that passes. With clipping, a floor below
    the clip would drop boxes that the clip lifts to it, so there is none then.
    """
    t = options.min_score_thresh
    if not (options.sigmoid_score and options.HasField("min_score_thresh") and 0.0 < t < 1.0):
        return None
    floor = math.log(t / (1.0 - t)) - 1e-3
    if options.HasField("score_clipping_thresh") and floor <= -options.score_clipping_thresh:
        return None
    return floor


def _check_shape(tensor: npt.NDArray[Any], rows: int, cols: int, what: str) -> None:
    if tensor.size != rows * cols or tensor.ndim not in (2, 3, 4):
        raise ValueError(f"{what} tensor must hold {rows} x {cols} values (shape (1, {rows}, "
                         f"{cols})), got shape {tensor.shape}")


@register_calculator
class TensorsToDetectionsCalculator(Calculator):
    """Decodes ``[boxes (1, N, num_coords), scores (1, N, num_classes)]`` into detections.

    Scores optionally go through a clipped sigmoid; boxes below ``min_score_thresh`` are
    dropped before their coordinates are decoded (with numpy, all of them at once), and with
    sigmoid scores the boxes whose raw scores cannot reach the threshold are dropped
    before the sigmoid, so the cost follows the few boxes that pass. Every input gives an
    output list, empty when nothing passes.
    """

    inputs = (Port("TENSORS", list, doc="[raw boxes, raw scores]"),)
    outputs = (Port("DETECTIONS", list, doc="list of Detection"),)
    input_side_packets = (Port("ANCHORS", np.ndarray, optional=True, missing_ok=True,
                               doc="(N, 4) anchors"),)
    options_type = _Options
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        o = cc.options
        self.options = o
        if o.num_boxes <= 0 or o.num_coords <= 0:
            raise ValueError("TensorsToDetectionsCalculatorOptions need num_boxes and num_coords")
        if o.x_scale == 0 or o.y_scale == 0 or o.w_scale == 0 or o.h_scale == 0:
            raise ValueError("TensorsToDetectionsCalculatorOptions need non-zero x/y/w/h_scale")
        anchors = cc.side_inputs.get("ANCHORS")
        if anchors is None:
            raise ValueError("TensorsToDetectionsCalculator needs the ANCHORS side packet")
        self.anchors = np.asarray(anchors, dtype=np.float32)
        if self.anchors.shape != (o.num_boxes, 4):
            raise ValueError(f"ANCHORS has shape {self.anchors.shape}, options.num_boxes is "
                             f"{o.num_boxes}")
        allowed = np.ones(o.num_classes, dtype=bool)
        if o.allow_classes:
            allowed[:] = False
            allowed[[c for c in o.allow_classes if c < o.num_classes]] = True
        allowed[[c for c in o.ignore_classes if c < o.num_classes]] = False
        self.allowed = None if allowed.all() else allowed
        mapping = o.tensor_mapping
        self.box_index = mapping.detections_tensor_index if o.HasField("tensor_mapping") else 0
        self.score_index = mapping.scores_tensor_index if o.HasField("tensor_mapping") else 1
        b = o.box_boundaries_indices
        self.box_cols = [b.ymin, b.xmin, b.ymax, b.xmax]
        self.logit_floor = _logit_floor(o)

    def process(self, cc: CalculatorContext) -> None:
        o = self.options
        tensors = cc.inputs["TENSORS"].payload
        if len(tensors) < 2:
            raise ValueError(f"TENSORS needs a box and a score tensor, got {len(tensors)}")
        raw_boxes = np.asarray(tensors[self.box_index], dtype=np.float32)
        raw_scores = np.asarray(tensors[self.score_index], dtype=np.float32)
        _check_shape(raw_boxes, o.num_boxes, o.num_coords, "box")
        _check_shape(raw_scores, o.num_boxes, o.num_classes, "score")
        scores = raw_scores.reshape(o.num_boxes, o.num_classes)
        rows = np.arange(o.num_boxes)
        if self.logit_floor is not None:
            # Only rows whose logit can reach the threshold go through the sigmoid below.
            rows = np.flatnonzero((scores >= self.logit_floor).any(axis=1))
            scores = scores[rows]
        scores = scores.astype(np.float64)
        if o.sigmoid_score:
            if o.HasField("score_clipping_thresh"):
                scores = np.clip(scores, -o.score_clipping_thresh, o.score_clipping_thresh)
            scores = sigmoid(scores)
        if self.allowed is not None:
            scores = np.where(self.allowed, scores, -np.inf)
        classes = np.argmax(scores, axis=1)
        best = scores[np.arange(len(scores)), classes]
        keep = np.isfinite(best)
        if o.HasField("min_score_thresh"):
            keep &= best >= o.min_score_thresh
        passed = rows[keep]
        best, classes = best[keep], classes[keep]
        boxes, keypoints = decode_boxes(raw_boxes.reshape(o.num_boxes, o.num_coords)[passed],
                                        self.anchors[passed], o)
        ymin, xmin, ymax, xmax = (boxes[:, c] for c in self.box_cols)
        if o.flip_vertically:
            ymin, ymax = 1.0 - ymax, 1.0 - ymin
            keypoints[:, :, 1] = 1.0 - keypoints[:, :, 1]
        keypoints.flags.writeable = False  # each detection keeps a view, not a copy
        width, height = xmax - xmin, ymax - ymin
        detections: list[Detection] = []
        for k in np.flatnonzero((width >= 0) & (height >= 0)):
            if 0 < o.max_results == len(detections):
                break
            detections.append(Detection(float(xmin[k]), float(ymin[k]), float(width[k]),
                                        float(height[k]), keypoints[k], float(best[k]),
                                        int(classes[k])))
        cc.outputs["DETECTIONS"].add(detections)
