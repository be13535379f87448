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
    x: npt.NDArray[Any]
    y: npt.NDArray[Any]
    if fmt == _Options.XYWH:
        x, y, w, h = v[:, 0], v[:, 1], v[:, 2], v[:, 3]
    elif fmt == _Options.XYXY:
        x, y = (-v[:, 0] + v[:, 2]) / 2, (-v[:, 1] + v[:, 3]) / 2
        w, h = v[:, 2] + v[:, 0], v[:, 3] + v[:, 1]
    else:
        y, x, h, w = v[:, 0], v[:, 1], v[:, 2], v[:, 3]
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    x = x / options.x_scale * aw + ax
    y = y / options.y_scale * ah + ay
    if options.apply_exponential_on_box_size:
        h = np.exp(h / options.h_scale) * ah
        w = np.exp(w / options.w_scale) * aw
    else:
        h = h / options.h_scale * ah
        w = w / options.w_scale * aw
    boxes = np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1)
    k = options.num_keypoints
    start = options.keypoint_coord_offset
    kp = raw[:, start:start + k * options.num_values_per_keypoint].reshape(
        len(raw), k, options.num_values_per_keypoint)[:, :, :2]
    if fmt in (_Options.XYWH, _Options.XYXY):
        kx, ky = kp[:, :, 0], kp[:, :, 1]
    else:
        ky, kx = kp[:, :, 0], kp[:, :, 1]
    keypoints = np.stack([kx / options.x_scale * aw[:, None] + ax[:, None],
                          ky / options.y_scale * ah[:, None] + ay[:, None]], axis=2)
    return boxes.astype(np.float32), keypoints.astype(np.float32)


def _check_shape(tensor: npt.NDArray[Any], rows: int, cols: int, what: str) -> None:
    if tensor.size != rows * cols or tensor.ndim not in (2, 3, 4):
        raise ValueError(f"{what} tensor must hold {rows} x {cols} values (shape (1, {rows}, "
                         f"{cols})), got shape {tensor.shape}")


@register_calculator
class TensorsToDetectionsCalculator(Calculator):
    """Decodes ``[boxes (1, N, num_coords), scores (1, N, num_classes)]`` into detections.

    Scores optionally go through a clipped sigmoid; boxes below ``min_score_thresh`` are
    dropped. Every input gives an output list, empty when nothing passes.
    """

    inputs = (Port("TENSORS", list, doc="[raw boxes, raw scores]"),)
    outputs = (Port("DETECTIONS", list, doc="list of Detection"),)
    input_side_packets = (Port("ANCHORS", np.ndarray, optional=True, doc="(N, 4) anchors"),)
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
        self.allowed = allowed
        mapping = o.tensor_mapping
        self.box_index = mapping.detections_tensor_index if o.HasField("tensor_mapping") else 0
        self.score_index = mapping.scores_tensor_index if o.HasField("tensor_mapping") else 1
        b = o.box_boundaries_indices
        self.box_cols = [b.ymin, b.xmin, b.ymax, b.xmax]

    def process(self, cc: CalculatorContext) -> None:
        o = self.options
        tensors = cc.inputs["TENSORS"].payload
        if len(tensors) < 2:
            raise ValueError(f"TENSORS needs a box and a score tensor, got {len(tensors)}")
        raw_boxes = np.asarray(tensors[self.box_index], dtype=np.float32)
        raw_scores = np.asarray(tensors[self.score_index], dtype=np.float32)
        _check_shape(raw_boxes, o.num_boxes, o.num_coords, "box")
        _check_shape(raw_scores, o.num_boxes, o.num_classes, "score")
        logits = raw_scores.reshape(o.num_boxes, o.num_classes)
        rows = np.arange(o.num_boxes)
        if o.sigmoid_score and o.HasField("min_score_thresh") and 0.0 < o.min_score_thresh < 1.0:
            # The sigmoid only grows: a box can pass only with a logit at least the threshold's
            # (less a margin, leaving the boundary to the exact test below). Few of the 896 or
            # 2304 anchors do, and only those are scored and decoded.
            threshold = o.min_score_thresh
            cut = math.log(threshold / (1.0 - threshold)) - 1e-3
            rows = np.flatnonzero((logits >= cut).any(axis=1))
        scores = logits[rows].astype(np.float64)
        if o.sigmoid_score:
            if o.HasField("score_clipping_thresh"):
                scores = np.clip(scores, -o.score_clipping_thresh, o.score_clipping_thresh)
            scores = sigmoid(scores)
        scores = np.where(self.allowed, scores, -np.inf)
        classes = np.argmax(scores, axis=1)
        best = scores[np.arange(len(scores)), classes]
        keep = np.isfinite(best)
        if o.HasField("min_score_thresh"):
            keep &= best >= o.min_score_thresh
        rows, classes, best = rows[keep], classes[keep], best[keep]
        boxes, keypoints = decode_boxes(raw_boxes.reshape(o.num_boxes, o.num_coords)[rows],
                                        self.anchors[rows], o)
        ymin, xmin, ymax, xmax = (boxes[:, c] for c in self.box_cols)
        if o.flip_vertically:
            ymin, ymax = 1.0 - ymax, 1.0 - ymin
            keypoints = keypoints.copy()
            keypoints[:, :, 1] = 1.0 - keypoints[:, :, 1]
        width, height = xmax - xmin, ymax - ymin
        valid = (width >= 0) & (height >= 0)
        keypoints.flags.writeable = False  # each Detection then keeps a view, not a copy
        detections: list[Detection] = []
        for i in np.flatnonzero(valid):
            if 0 < o.max_results == len(detections):
                break
            detections.append(Detection(float(xmin[i]), float(ymin[i]), float(width[i]),
                                        float(height[i]), keypoints[i], float(best[i]),
                                        int(classes[i])))
        cc.outputs["DETECTIONS"].add(detections)
