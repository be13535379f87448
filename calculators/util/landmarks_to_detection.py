"""LandmarksToDetectionCalculator: a detection spanning a landmark list."""

from __future__ import annotations

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.formats import Detection, NormalizedLandmarkList
from graphflow.proto.mediapipe.calculators.util import landmarks_to_detection_calculator_pb2


def landmarks_to_detection(landmarks: NormalizedLandmarkList,
                           indices: list[int] | None = None) -> Detection:
    """The detection whose keypoints are the (selected) landmarks and whose box bounds them."""
    xy = landmarks.xyz[:, :2] if not indices else landmarks.xyz[indices, :2]
    if len(xy) == 0:
        raise ValueError("cannot make a detection from an empty landmark list")
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    return Detection(float(x0), float(y0), float(x1 - x0), float(y1 - y0), xy)


@register_calculator
class LandmarksToDetectionCalculator(Calculator):
    """Converts ``NORM_LANDMARKS`` to a ``DETECTION`` (optionally of selected landmarks)."""

    inputs = (Port("NORM_LANDMARKS", NormalizedLandmarkList),)
    outputs = (Port("DETECTION", Detection),)
    options_type = landmarks_to_detection_calculator_pb2.LandmarksToDetectionCalculatorOptions
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        indices = list(cc.options.selected_landmark_indices)
        landmarks = cc.inputs["NORM_LANDMARKS"].payload
        if indices and max(indices) >= len(landmarks):
            raise ValueError(f"selected_landmark_indices go up to {max(indices)}, the list has "
                             f"{len(landmarks)} landmarks")
        cc.outputs["DETECTION"].add(landmarks_to_detection(landmarks, indices))
