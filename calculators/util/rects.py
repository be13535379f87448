"""Rectangle calculators: DetectionsToRects, RectTransformation, AssociationNormRect and
NormalizedRectVectorHasMinSize, with MediaPipe's arithmetic."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from calculators.util.bounds import xy_bounds
from calculators.util.non_max_suppression import overlap_similarity
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import Detection, NormalizedRect, Rect
from graphflow.proto.mediapipe.calculators.util import (
    association_calculator_pb2,
    collection_has_min_size_calculator_pb2,
    detections_to_rects_calculator_pb2,
    rect_transformation_calculator_pb2,
)

_D2R = detections_to_rects_calculator_pb2.DetectionsToRectsCalculatorOptions


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped into [-pi, pi)."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def _box(detection: Detection, mode: int) -> tuple[float, float, float, float]:
    """The center and size of `detection_to_rect`'s rect."""
    if mode == _D2R.USE_KEYPOINTS:
        kp = detection.keypoints
        if len(kp) < 2:
            raise ValueError("USE_KEYPOINTS needs a detection with at least two keypoints")
        x0, y0, x1, y1 = xy_bounds(kp)
        return float(x0 + x1) / 2, float(y0 + y1) / 2, float(x1 - x0), float(y1 - y0)
    width, height = detection.width, detection.height
    return detection.xmin + width / 2, detection.ymin + height / 2, width, height


def detection_to_rect(detection: Detection, mode: int = _D2R.DEFAULT) -> NormalizedRect:
    """The axis-aligned rect of a detection's box (or of its keypoints' extent)."""
    return NormalizedRect(*_box(detection, mode))


def rotation_from_keypoints(detection: Detection, start: int, end: int, target_angle: float,
                            image_size: tuple[int, int]) -> float:
    """The rotation that brings the start->end keypoint vector to ``target_angle`` radians."""
    kp = detection.keypoints
    if max(start, end) >= len(kp):
        raise ValueError(f"rotation keypoints {start} and {end} need a detection with more than "
                         f"{max(start, end)} keypoints, it has {len(kp)}")
    w, h = image_size
    x0, y0 = kp[start, 0] * w, kp[start, 1] * h
    x1, y1 = kp[end, 0] * w, kp[end, 1] * h
    return normalize_radians(target_angle - math.atan2(-(y1 - y0), x1 - x0))


def rotated_rect(detection: Detection, start: int, end: int, target_angle: float,
                 image_size: tuple[int, int], mode: int = _D2R.DEFAULT) -> NormalizedRect:
    """`detection_to_rect` turned by `rotation_from_keypoints` (DetectionsToRects' rotation)."""
    # One rect, made with its rotation (a frozen dataclass costs per construction).
    return NormalizedRect(*_box(detection, mode),
                          rotation_from_keypoints(detection, start, end, target_angle, image_size))


class RectTransform(NamedTuple):
    """RectTransformationCalculatorOptions as plain values, read once: reading a protobuf field
    costs as much as the arithmetic it feeds, and a ROI is transformed every frame."""

    rotation: float | None  # radians added to the rect's rotation, None to keep it
    shift_x: float
    shift_y: float
    square_long: bool
    square_short: bool
    scale_x: float
    scale_y: float

    @classmethod
    def from_options(cls, options: Any) -> RectTransform:
        """The values of a RectTransformationCalculatorOptions message."""
        rotation = (options.rotation if options.HasField("rotation")
                    else math.radians(options.rotation_degrees)
                    if options.HasField("rotation_degrees") else None)
        return cls(rotation, options.shift_x, options.shift_y, options.square_long,
                   options.square_short, options.scale_x, options.scale_y)


def transform_rect(rect: NormalizedRect, image_size: tuple[int, int], transform: RectTransform
                   ) -> NormalizedRect:
    """Applies a RectTransform (rotate, shift, square, scale) to ``rect``."""
    width, height = image_size
    w, h, rotation = rect.width, rect.height, rect.rotation
    if transform.rotation is not None:
        rotation = normalize_radians(rotation + transform.rotation)
    sx, sy = transform.shift_x, transform.shift_y
    if rotation == 0.0:
        x, y = rect.x_center + w * sx, rect.y_center + h * sy
    else:
        c, s = math.cos(rotation), math.sin(rotation)
        x = rect.x_center + (width * w * sx * c - height * h * sy * s) / width
        y = rect.y_center + (width * w * sx * s + height * h * sy * c) / height
    if transform.square_long:
        side = max(w * width, h * height)
        w, h = side / width, side / height
    elif transform.square_short:
        side = min(w * width, h * height)
        w, h = side / width, side / height
    # Every field but rect_id is new: built directly (dataclasses.replace costs 3x).
    return NormalizedRect(x, y, w * transform.scale_x, h * transform.scale_y, rotation,
                          rect.rect_id)


def _to_pixels(rect: NormalizedRect, image_size: tuple[int, int]) -> Rect:
    w, h = image_size
    return Rect(round(rect.x_center * w), round(rect.y_center * h), round(rect.width * w),
                round(rect.height * h), rect.rotation, rect.rect_id)


@register_calculator
class DetectionsToRectsCalculator(Calculator):
    """Converts detections to rectangles, rotated so that two keypoints line up at an angle.

    Inputs ``DETECTION`` or ``DETECTIONS`` (and ``IMAGE_SIZE`` when rotating); outputs any of
    ``NORM_RECT``, ``RECT``, ``NORM_RECTS``, ``RECTS`` (single ones use the first detection).
    """

    inputs = (
        Port("DETECTION", Detection, optional=True),
        Port("DETECTIONS", list, optional=True),
        Port("IMAGE_SIZE", tuple, optional=True, doc="(width, height)"),
    )
    outputs = (
        Port("NORM_RECT", NormalizedRect, optional=True),
        Port("RECT", Rect, optional=True),
        Port("NORM_RECTS", list, optional=True),
        Port("RECTS", list, optional=True),
    )
    options_type = _D2R
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        o = node.options
        if (("DETECTION", 0) in node.inputs) == (("DETECTIONS", 0) in node.inputs):
            raise ContractError("connect exactly one of DETECTION and DETECTIONS")
        if ((("RECT", 0) in node.outputs or ("RECTS", 0) in node.outputs)
                and ("IMAGE_SIZE", 0) not in node.inputs):
            raise ContractError("RECT and RECTS (pixel rects) need the IMAGE_SIZE input")
        if o.HasField("rotation_vector_start_keypoint_index"):
            if not o.HasField("rotation_vector_end_keypoint_index"):
                raise ContractError("rotation_vector_end_keypoint_index must be set too")
            if o.HasField("rotation_vector_target_angle") == o.HasField(
                    "rotation_vector_target_angle_degrees"):
                raise ContractError("set exactly one of rotation_vector_target_angle and "
                                    "rotation_vector_target_angle_degrees")
            if ("IMAGE_SIZE", 0) not in node.inputs:
                raise ContractError("rotation needs the IMAGE_SIZE input")

    def open(self, cc: CalculatorContext) -> None:
        o = cc.options
        self.rotate = o.HasField("rotation_vector_start_keypoint_index")
        self.target = (o.rotation_vector_target_angle if o.HasField("rotation_vector_target_angle")
                       else math.radians(o.rotation_vector_target_angle_degrees))
        # Read once: options field reads cost as much as the arithmetic they feed.
        self.mode = o.conversion_mode
        self.keypoints = (o.rotation_vector_start_keypoint_index,
                          o.rotation_vector_end_keypoint_index)
        self.zero_rect_for_empty = o.output_zero_rect_for_empty_detections
        self.sized = cc.inputs.connected("IMAGE_SIZE")
        self.single = cc.inputs.connected("DETECTION")
        self.connected_outputs = {tag for tag in ("NORM_RECT", "RECT", "NORM_RECTS", "RECTS")
                                  if cc.outputs.connected(tag)}

    def _rect(self, det: Detection, size: tuple[int, int] | None) -> NormalizedRect:
        if self.rotate and size is not None:
            return rotated_rect(det, *self.keypoints, self.target, size, self.mode)
        return detection_to_rect(det, self.mode)

    def process(self, cc: CalculatorContext) -> None:
        size = cc.inputs["IMAGE_SIZE"].get() if self.sized else None
        if self.rotate and size is None:
            return
        outputs = self.connected_outputs
        if self.single:
            detection = cc.inputs["DETECTION"]
            if detection.is_empty:
                return
            detections = [detection.payload]
        else:
            if not cc.inputs.has("DETECTIONS"):
                return
            detections = list(cc.inputs["DETECTIONS"].payload)
            if not detections:
                if self.zero_rect_for_empty:
                    zero = NormalizedRect(0.0, 0.0, 0.0, 0.0)
                    for tag, value in (("NORM_RECT", zero), ("RECT", Rect(0, 0, 0, 0)),
                                       ("NORM_RECTS", [zero])):
                        if tag in outputs:
                            cc.outputs[tag].add(value)
                return
        rects = [self._rect(d, size) for d in detections]
        needs_pixels = "RECT" in outputs or "RECTS" in outputs
        if needs_pixels and size is None:
            raise ValueError("RECT/RECTS outputs need an IMAGE_SIZE packet at each timestamp "
                             "with detections")
        if "NORM_RECT" in outputs:
            cc.outputs["NORM_RECT"].add(rects[0])
        if "NORM_RECTS" in outputs:
            cc.outputs["NORM_RECTS"].add(rects)
        if size is not None and "RECT" in outputs:
            cc.outputs["RECT"].add(_to_pixels(rects[0], size))
        if size is not None and "RECTS" in outputs:
            cc.outputs["RECTS"].add([_to_pixels(r, size) for r in rects])


@register_calculator
class RectTransformationCalculator(Calculator):
    """Rotates, shifts, squares and scales ``NORM_RECT`` (or ``NORM_RECTS``) by the options."""

    inputs = (
        Port("NORM_RECT", NormalizedRect, optional=True),
        Port("NORM_RECTS", list, optional=True),
        Port("IMAGE_SIZE", tuple, doc="(width, height)"),
    )
    outputs = (Port("", (NormalizedRect, list)),)
    options_type = rect_transformation_calculator_pb2.RectTransformationCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if (("NORM_RECT", 0) in node.inputs) == (("NORM_RECTS", 0) in node.inputs):
            raise ContractError("connect exactly one of NORM_RECT and NORM_RECTS")

    def open(self, cc: CalculatorContext) -> None:
        self.transform = RectTransform.from_options(cc.options)
        self.single = cc.inputs.connected("NORM_RECT")

    def process(self, cc: CalculatorContext) -> None:
        size = cc.inputs["IMAGE_SIZE"].get()
        if size is None:
            return
        if self.single:
            rect = cc.inputs["NORM_RECT"].get()
            if rect is not None:
                cc.outputs[0].add(transform_rect(rect, size, self.transform))
        else:
            rects = cc.inputs["NORM_RECTS"].get()
            if rects is not None:
                cc.outputs[0].add([transform_rect(r, size, self.transform) for r in rects])


def _rect_box(rect: NormalizedRect) -> tuple[float, float, float, float]:
    return (rect.x_center - rect.width / 2, rect.y_center - rect.height / 2, rect.width,
            rect.height)


@register_calculator
class AssociationNormRectCalculator(Calculator):
    """Merges rect lists, later elements (and streams) winning over earlier ones on overlap.

    Each rect, in stream order, replaces the collected rects it overlaps by more than
    ``min_similarity_threshold`` (IoU). MediaPipe's NormalizedRect variant propagates no ids,
    so the optional ``PREV`` input changes nothing and is accepted only for compatibility.
    """

    inputs = (Port("", list, repeated=True), Port("PREV", list, optional=True))
    outputs = (Port("", list),)
    options_type = association_calculator_pb2.AssociationCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if node.options.min_similarity_threshold < 0:
            raise ContractError("min_similarity_threshold must be >= 0")

    def open(self, cc: CalculatorContext) -> None:
        self.threshold = cc.options.min_similarity_threshold
        self.count = cc.inputs.count("")

    def process(self, cc: CalculatorContext) -> None:
        threshold = self.threshold
        result: list[NormalizedRect] = []
        for i in range(self.count):
            for rect in cc.inputs[i].get(()):
                box = _rect_box(rect)
                result = [r for r in result
                          if overlap_similarity(box, _rect_box(r)) <= threshold]
                result.append(rect)
        cc.outputs[0].add(result)


@register_calculator
class NormalizedRectVectorHasMinSizeCalculator(Calculator):
    """Outputs whether the ``ITERABLE`` list has at least ``min_size`` elements.

    The minimum comes from the (untagged) side packet if connected, else from the options.
    """

    inputs = (Port("ITERABLE", list),)
    outputs = (Port("", bool),)
    input_side_packets = (Port("", int, optional=True),)
    options_type = collection_has_min_size_calculator_pb2.CollectionHasMinSizeCalculatorOptions
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        side = cc.side_inputs.get(0)
        self.min_size = int(side) if side is not None else cc.options.min_size
        if self.min_size < 0:
            raise ValueError(f"min_size must be >= 0, got {self.min_size}")

    def process(self, cc: CalculatorContext) -> None:
        items = cc.inputs["ITERABLE"].get()
        if items is not None:
            cc.outputs[0].add(len(items) >= self.min_size)
