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


class BoxDecoder:
    """Decodes raw box regressions against anchors (MediaPipe's ``DecodeBoxes``).

    The raw columns a box needs (centre, size, the x and y of each keypoint) are gathered in
    one order, x before y, whatever ``box_format`` the model writes; each column's scale,
    anchor size and anchor centre are laid out per anchor once, in ``__init__``. Decoding the
    few boxes that pass the score threshold is then a handful of numpy calls (each value goes
    through the same float32 operations as MediaPipe's per-box loop: ``raw / scale * anchor
    size + anchor centre``).

    Args:
        anchors: ``(num_boxes, 4)`` anchors (x_center, y_center, w, h).
        options: ``TensorsToDetectionsCalculatorOptions``.
    """

    def __init__(self, anchors: npt.NDArray[np.float32], options: Any) -> None:
        fmt = options.box_format
        if fmt == _Options.UNSPECIFIED and options.reverse_output_order:
            fmt = _Options.XYWH
        self.xyxy = fmt == _Options.XYXY
        self.exponential = options.apply_exponential_on_box_size
        o, k = options.box_coord_offset, options.num_keypoints
        # YXHW (and UNSPECIFIED) models write y before x, for the box and the keypoints.
        swap = fmt not in (_Options.XYWH, _Options.XYXY)
        box = [o + 1, o, o + 3, o + 2] if swap else [o, o + 1, o + 2, o + 3]
        keypoints = []
        for i in range(k):
            x = options.keypoint_coord_offset + i * options.num_values_per_keypoint
            keypoints += [x + 1, x] if swap else [x, x + 1]
        columns = box + keypoints
        # None where the model writes exactly those columns in that order (BlazeFace's XYWH).
        self.columns = (None if columns == list(range(len(columns)))
                        else np.array(columns, dtype=np.intp))
        # Per column: x_scale, y_scale, w_scale, h_scale, then x_scale, y_scale per keypoint.
        xy = [options.x_scale, options.y_scale]
        self.scale = np.array(xy + [options.w_scale, options.h_scale] + xy * k, np.float32)
        center, size = anchors[:, 0:2], anchors[:, 2:4]
        # Per anchor, row 0 its size and row 1 its centre for each column: one gather a frame.
        # A size has no centre to add: + 0 leaves the float32 product as it is.
        self.size_center = np.ascontiguousarray(np.stack(
            (np.tile(size, 2 + k),
             np.concatenate([center, np.zeros_like(center), np.tile(center, k)], axis=1)),
            axis=1))
        self.num_keypoints = k

    def __call__(self, raw: npt.NDArray[np.float32], rows: npt.NDArray[np.intp]
                 ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
        """Decodes ``rows`` of ``raw`` (``(num_boxes, num_coords)``).

        Returns:
            ``(xmin, ymin)`` and ``(xmax, ymax)``, each ``(len(rows), 2)``, and the keypoints
            ``(len(rows), num_keypoints, 2)`` as x, y; all float32 and normalized.
        """
        v = raw[rows] if self.columns is None else raw[rows[:, None], self.columns]
        if self.xyxy:
            # xmin, ymin, xmax, ymax: the centre and the size first, as MediaPipe computes them.
            lo, hi = v[:, 0:2].copy(), v[:, 2:4]
            v[:, 0:2] = (-lo + hi) / 2
            v[:, 2:4] = hi + lo
        v /= self.scale
        if self.exponential:
            v[:, 2:4] = np.exp(v[:, 2:4])
        anchor = self.size_center[rows]
        v *= anchor[:, 0]
        v += anchor[:, 1]
        half = v[:, 2:4] / 2
        return (v[:, 0:2] - half, v[:, 0:2] + half,
                v[:, 4:].reshape(len(rows), self.num_keypoints, 2))


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
        # Column of xmin, ymin, xmax, ymax holding MediaPipe's box value i (ymin, xmin, ymax,
        # xmax), for each of ymin, xmin, ymax, xmax as box_boundaries_indices reads them; None
        # when the box is read as decoded (the default indices, not flipped).
        box_cols = [(1, 0, 3, 2)[i] for i in (b.ymin, b.xmin, b.ymax, b.xmax)]
        self.box_cols = None if box_cols == [1, 0, 3, 2] and not o.flip_vertically else box_cols
        self.decode = BoxDecoder(self.anchors, o)
        self.logit_floor = _logit_floor(o)
        self.all_rows = np.arange(o.num_boxes)
        # One class, no class filter and a logit floor: the scores left are finite (NaN fails
        # the floor, the sigmoid maps the rest into [0, 1]), so there is nothing to check.
        self.single = o.num_classes == 1
        self.finite = self.single and self.allowed is None and self.logit_floor is not None
        self.min_score = o.min_score_thresh if o.HasField("min_score_thresh") else None
        self.max_results = o.max_results  # 0: no limit

    def process(self, cc: CalculatorContext) -> None:
        # Few boxes pass, and right after an inference each numpy call costs 3x what it costs
        # warm: the steps below are as few numpy calls as give MediaPipe's values.
        o = self.options
        tensors = cc.inputs["TENSORS"].payload
        if len(tensors) < 2:
            raise ValueError(f"TENSORS needs a box and a score tensor, got {len(tensors)}")
        raw_boxes = np.asarray(tensors[self.box_index], dtype=np.float32)
        raw_scores = np.asarray(tensors[self.score_index], dtype=np.float32)
        _check_shape(raw_boxes, o.num_boxes, o.num_coords, "box")
        _check_shape(raw_scores, o.num_boxes, o.num_classes, "score")
        # One class: a flat score per box (no any/argmax).
        scores = raw_scores.reshape((o.num_boxes,) if self.single else
                                    (o.num_boxes, o.num_classes))
        rows = self.all_rows
        if self.logit_floor is not None:
            # Only rows whose logit can reach the threshold go through the sigmoid below.
            above = scores >= self.logit_floor
            rows = np.nonzero(above if self.single else above.any(axis=1))[0]
            scores = scores[rows]
        scores = scores.astype(np.float64)
        if o.sigmoid_score:
            if o.HasField("score_clipping_thresh"):
                scores = np.clip(scores, -o.score_clipping_thresh, o.score_clipping_thresh)
            scores = sigmoid(scores)
        if self.allowed is not None:
            scores = np.where(self.allowed, scores, -np.inf)
        classes = None  # one class: every label is 0
        best = scores
        if not self.single:
            classes = np.argmax(scores, axis=1)
            best = scores[np.arange(len(scores)), classes]
        keep = None if self.min_score is None else best >= self.min_score
        if not self.finite:
            keep = np.isfinite(best) if keep is None else keep & np.isfinite(best)
        if keep is not None:
            rows, best = rows[keep], best[keep]
            classes = None if classes is None else classes[keep]
        lo, hi, keypoints = self.decode(raw_boxes.reshape(o.num_boxes, o.num_coords), rows)
        if self.box_cols is not None:
            # MediaPipe's box is ymin, xmin, ymax, xmax, read through box_boundaries_indices.
            corners = np.concatenate((lo, hi), axis=1)  # xmin, ymin, xmax, ymax
            ymin, xmin, ymax, xmax = (corners[:, c] for c in self.box_cols)
            if o.flip_vertically:
                ymin, ymax = 1.0 - ymax, 1.0 - ymin
                keypoints[:, :, 1] = 1.0 - keypoints[:, :, 1]
            lo, hi = np.stack((xmin, ymin), axis=1), np.stack((xmax, ymax), axis=1)
        keypoints.flags.writeable = False  # each detection keeps a view, not a copy
        labels = [0] * len(rows) if classes is None else classes.tolist()
        detections: list[Detection] = []
        for k, ((x, y), (w, h), score, label) in enumerate(zip(
                lo.tolist(), (hi - lo).tolist(), best.tolist(), labels, strict=True)):
            if w < 0 or h < 0:
                continue
            if 0 < self.max_results == len(detections):
                break
            detections.append(Detection.from_decoded(x, y, w, h, keypoints[k], score, label))
        cc.outputs["DETECTIONS"].add(detections)
