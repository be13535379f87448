"""LandmarksSmoothingCalculator: MediaPipe's velocity and one-euro landmark filters.

Landmarks are filtered in pixels (normalized x and z times the image width, y times the height)
with one filter per landmark and coordinate; ``value_scale`` is one over the object scale (the
mean of the landmarks' bounding box sides, or of ``OBJECT_SCALE_ROI``), so that how much a
landmark moves is judged relative to the object's size.
"""

from __future__ import annotations

import collections
import math

import numpy as np
import numpy.typing as npt

from calculators.util.bounds import xy_bounds
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import NormalizedLandmarkList, NormalizedRect
from graphflow.proto.mediapipe.calculators.util import landmarks_smoothing_calculator_pb2

_Options = landmarks_smoothing_calculator_pb2.LandmarksSmoothingCalculatorOptions
Values = npt.NDArray[np.float64]

_ASSUMED_MAX_DURATION_NS = 1_000_000_000 // 30


class _LowPass:
    """Exponential smoothing with a per-call alpha (MediaPipe's LowPassFilter)."""

    def __init__(self) -> None:
        self.raw: Values | None = None
        self.stored: Values | None = None

    def apply(self, value: Values, alpha: Values | float) -> Values:
        result = value if self.stored is None else alpha * value + (1.0 - alpha) * self.stored
        self.raw, self.stored = value, result
        return result


class RelativeVelocityFilter:
    """MediaPipe's RelativeVelocityFilter (legacy transition distance), on arrays of values.

    The smoothing weight of a new value grows with the recent speed: ``alpha = 1 - 1 / (1 +
    velocity_scale * |velocity|)``, the velocity measured over up to ``window_size`` steps.
    """

    def __init__(self, window_size: int, velocity_scale: float) -> None:
        self.window_size = window_size
        self.velocity_scale = velocity_scale
        self.window: collections.deque[tuple[Values, int]] = collections.deque()
        self.last_ns = -1
        self.last_value: Values | None = None
        self.last_scale = 1.0
        self.low_pass = _LowPass()

    def apply(self, timestamp_ns: int, value: Values, value_scale: float) -> Values:
        """The filtered values at ``timestamp_ns`` (unchanged if time did not advance)."""
        if self.last_ns >= timestamp_ns:
            return value
        if self.last_value is None:
            alpha: Values | float = 1.0
        else:
            distance = value * value_scale - self.last_value * self.last_scale
            duration = timestamp_ns - self.last_ns
            total_distance, total_duration = distance, duration
            limit = (1 + len(self.window)) * _ASSUMED_MAX_DURATION_NS
            for d, t in self.window:
                if total_duration + t > limit:
                    break
                total_distance = total_distance + d
                total_duration += t
            velocity = total_distance / (total_duration * 1e-9)
            alpha = 1.0 - 1.0 / (1.0 + self.velocity_scale * np.abs(velocity))
            self.window.appendleft((distance, duration))
            if len(self.window) > self.window_size:
                self.window.pop()
        self.last_value, self.last_scale, self.last_ns = value, value_scale, timestamp_ns
        return self.low_pass.apply(value, alpha)


class OneEuroFilter:
    """MediaPipe's OneEuroFilter on arrays of values (cutoff grows with the speed)."""

    def __init__(self, frequency: float, min_cutoff: float, beta: float,
                 derivate_cutoff: float) -> None:
        self.frequency = frequency
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.derivate_cutoff = derivate_cutoff
        self.x = _LowPass()
        self.dx = _LowPass()
        self.last_ns = 0

    def _alpha(self, cutoff: Values | float) -> Values | float:
        te = 1.0 / self.frequency
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    def apply(self, timestamp_ns: int, value: Values, value_scale: float) -> Values:
        """The filtered values at ``timestamp_ns`` (unchanged if time did not advance)."""
        if self.last_ns >= timestamp_ns:
            return value
        if self.last_ns != 0 and timestamp_ns != 0:
            self.frequency = 1.0 / ((timestamp_ns - self.last_ns) * 1e-9)
        self.last_ns = timestamp_ns
        dvalue = (np.zeros_like(value) if self.x.raw is None
                  else (value - self.x.raw) * value_scale * self.frequency)
        edvalue = self.dx.apply(dvalue, self._alpha(self.derivate_cutoff))
        cutoff = self.min_cutoff + self.beta * np.abs(edvalue)
        return self.x.apply(value, self._alpha(cutoff))


def object_scale(xy: Values) -> float:
    """The mean of the width and height of the points' bounding box."""
    x0, y0, x1, y1 = xy_bounds(xy)
    return float((x1 - x0) + (y1 - y0)) / 2.0


@register_calculator
class LandmarksSmoothingCalculator(Calculator):
    """Smooths ``NORM_LANDMARKS`` over time into ``NORM_FILTERED_LANDMARKS``.

    ``IMAGE_SIZE`` (width, height) converts to pixels; ``OBJECT_SCALE_ROI`` optionally gives the
    object scale. A timestamp without landmarks resets the filters.
    """

    inputs = (
        Port("NORM_LANDMARKS", NormalizedLandmarkList),
        Port("IMAGE_SIZE", tuple, doc="(width, height)"),
        Port("OBJECT_SCALE_ROI", NormalizedRect, optional=True),
    )
    outputs = (Port("NORM_FILTERED_LANDMARKS", NormalizedLandmarkList),)
    options_type = _Options
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        which = node.options.WhichOneof("filter_options")
        if which == "velocity_filter" and node.options.velocity_filter.window_size < 1:
            raise ContractError("velocity_filter.window_size must be at least 1")

    def open(self, cc: CalculatorContext) -> None:
        self.options = cc.options
        self.filter: RelativeVelocityFilter | OneEuroFilter | None = None

    def _new_filter(self) -> RelativeVelocityFilter | OneEuroFilter:
        """The filter the options select (process() passes landmarks through without one)."""
        o = self.options
        if o.WhichOneof("filter_options") == "velocity_filter":
            v = o.velocity_filter
            return RelativeVelocityFilter(v.window_size, v.velocity_scale)
        e = o.one_euro_filter
        return OneEuroFilter(e.frequency, e.min_cutoff, e.beta, e.derivate_cutoff)

    def process(self, cc: CalculatorContext) -> None:
        landmarks = cc.inputs["NORM_LANDMARKS"].get()
        if landmarks is None:
            self.filter = None
            return
        size = cc.inputs["IMAGE_SIZE"].get()
        if size is None:
            raise ValueError("IMAGE_SIZE is needed with NORM_LANDMARKS")
        width, height = size
        scale = np.array([width, height, width], dtype=np.float64)
        if len(landmarks) == 0:
            if self.options.empty_landmarks_policy == _Options.EMPTY_LANDMARKS_POLICY_RESET:
                self.filter = None
                cc.outputs["NORM_FILTERED_LANDMARKS"].add(landmarks)
                return
            raise ValueError("empty landmark list (empty_landmarks_policy is FAIL)")
        which = self.options.WhichOneof("filter_options")
        if which in (None, "no_filter"):
            cc.outputs["NORM_FILTERED_LANDMARKS"].add(landmarks)
            return
        settings = getattr(self.options, which)
        values = landmarks.xyz.astype(np.float64) * scale
        value_scale = 1.0
        if not settings.disable_value_scaling:
            roi = cc.inputs["OBJECT_SCALE_ROI"].get() if cc.inputs.connected(
                "OBJECT_SCALE_ROI") else None
            obj = ((roi.width * width + roi.height * height) / 2.0 if roi is not None
                   else object_scale(values[:, :2]))
            if obj < settings.min_allowed_object_scale:
                cc.outputs["NORM_FILTERED_LANDMARKS"].add(landmarks)
                return
            value_scale = 1.0 / obj
        if self.filter is None:
            self.filter = self._new_filter()
        filtered = self.filter.apply(int(cc.timestamp) * 1000, values, value_scale) / scale
        cc.outputs["NORM_FILTERED_LANDMARKS"].add(NormalizedLandmarkList(
            filtered, landmarks.visibility, landmarks.presence))
