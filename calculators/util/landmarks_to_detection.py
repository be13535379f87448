"""LandmarksToDetectionCalculator: a detection spanning a landmark list."""

from __future__ import annotations

from calculators.util.bounds import xy_bounds
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.formats import Detection, NormalizedLandmarkList
from graphflow.proto.mediapipe.calculators.util import landmarks_to_detection_calculator_pb2


def landmarks_to_detection(landmarks: NormalizedLandmarkList,
                           indices: list[int] | None = None) -> Detection:
    """The detection whose keypoints are the (selected) landmarks and whose box bounds them."""
    xyz = landmarks.xyz if not indices else landmarks.xyz[indices]
    if len(xyz) == 0:
        raise ValueError("cannot make a detection from an empty landmark list")
    xyz.flags.writeable = False  # the keypoints below are a view of it (no copy)
    x0, y0, x1, y1 = xy_bounds(xyz)
    # The fields are what Detection() would make of them: read-only float32 keypoints, floats
    # (the size in float32, as MediaPipe subtracts), without the constructor's checks.
    return Detection.from_decoded(float(x0), float(y0), float(x1 - x0), float(y1 - y0),
                                  xyz[:, :2], 0.0, 0)


@register_calculator
class LandmarksToDetectionCalculator(Calculator):
    """Converts ``NORM_LANDMARKS`` to a ``DETECTION`` (optionally of selected landmarks)."""

    inputs = (Port("NORM_LANDMARKS", NormalizedLandmarkList),)
    outputs = (Port("DETECTION", Detection),)
    options_type = landmarks_to_detection_calculator_pb2.LandmarksToDetectionCalculatorOptions
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        self.indices = list(cc.options.selected_landmark_indices)

    def process(self, cc: CalculatorContext) -> None:
        indices = self.indices
        landmarks = cc.inputs["NORM_LANDMARKS"].payload
        if indices and max(indices) >= len(landmarks):
            raise ValueError(f"selected_landmark_indices go up to {max(indices)}, the list has "
                             f"{len(landmarks)} landmarks")
        cc.outputs["DETECTION"].add(landmarks_to_detection(landmarks, indices))
