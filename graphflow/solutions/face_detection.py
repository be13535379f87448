"""MediaPipe Face Detection on graphflow: ``FaceDetection(...).process(rgb).detections``.

Runs MediaPipe's ``face_detection_short_range_cpu.binarypb`` (``model_selection=0``: faces
within about 2 m, 128x128 model) or ``face_detection_full_range_cpu.binarypb``
(``model_selection=1``: faces within about 5 m, 192x192 sparse model), both from MediaPipe
0.10.21, unmodified. Each face comes back as MediaPipe's ``Detection`` message: ``score``,
``location_data.relative_bounding_box`` and six ``relative_keypoints`` (see `FaceKeyPoint`).
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from graphflow.proto.mediapipe.framework.formats import detection_pb2, location_data_pb2
from graphflow.solutions.formats import detection_protos
from graphflow.solutions.solution_base import SolutionBase

_SHORT_RANGE_GRAPH_FILE_PATH = (
    "mediapipe/modules/face_detection/face_detection_short_range_cpu.binarypb")
_FULL_RANGE_GRAPH_FILE_PATH = (
    "mediapipe/modules/face_detection/face_detection_full_range_cpu.binarypb")
# The score threshold's node in each expanded graph.
_THRESHOLD_NODES = {
    0: "facedetectionshortrange__facedetection__TensorsToDetectionsCalculator",
    1: "facedetectionfullrange__facedetection__TensorsToDetectionsCalculator",
}


class FaceKeyPoint(enum.IntEnum):
    """The six face keypoints of a detection, in MediaPipe's order."""

    RIGHT_EYE = 0
    LEFT_EYE = 1
    NOSE_TIP = 2
    MOUTH_CENTER = 3
    RIGHT_EAR_TRAGION = 4
    LEFT_EAR_TRAGION = 5


def get_key_point(detection: detection_pb2.Detection, key_point_enum: FaceKeyPoint
                  ) -> location_data_pb2.LocationData.RelativeKeypoint | None:
    """One keypoint of a detection, by `FaceKeyPoint` (None without a detection)."""
    if not detection or not detection.location_data:
        return None
    return detection.location_data.relative_keypoints[key_point_enum]


class FaceDetection(SolutionBase):
    """MediaPipe Face Detection: face boxes and keypoints in an image.

    Args:
        min_detection_confidence: Score threshold. MediaPipe 0.10.21 ignores this argument and
            keeps its graphs' thresholds (0.5 short range, 0.6 full range: MediaPipe issue
            3896); graphflow applies it but never below those thresholds, so the defaults give
            MediaPipe's results and a higher value filters as documented.
        model_selection: 0 for the short-range model, 1 for the full-range model.
        synchronous: Run the graph on the caller's thread (True, the default) or on a thread
            pool (False); see `SolutionBase`.

    Raises:
        ValueError: ``model_selection`` is not 0 or 1.
    """

    def __init__(self, min_detection_confidence: float = 0.5, model_selection: int = 0, *,
                 synchronous: bool | None = None) -> None:
        if model_selection not in (0, 1):
            raise ValueError(f"model_selection must be 0 (short range) or 1 (full range), got "
                             f"{model_selection!r}")
        threshold = float(min_detection_confidence)
        super().__init__(
            _FULL_RANGE_GRAPH_FILE_PATH if model_selection == 1
            else _SHORT_RANGE_GRAPH_FILE_PATH,
            outputs={"detections": detection_protos},
            calculator_params={
                f"{_THRESHOLD_NODES[model_selection]}.min_score_thresh":
                    lambda graph_threshold: max(graph_threshold, threshold),
            },
            synchronous=synchronous)

    def process(self, image: np.ndarray) -> Any:
        """Finds the faces in one RGB image.

        Args:
            image: ``HxWx3`` uint8 RGB pixels.

        Returns:
            A named tuple whose ``detections`` is a list of ``Detection`` messages, or None when
            no face is found.

        Raises:
            ValueError: The image is not a non-empty ``HxWx3`` uint8 array, or the solution is
                closed.
            RuntimeError: The graph failed.
        """
        return super().process(image)
