"""MediaPipe Face Mesh on graphflow: ``FaceMesh(...).process(rgb).multi_face_landmarks``.

Runs MediaPipe's ``face_landmark_front_cpu.binarypb`` (0.10.21) unmodified, with the side
packets and options MediaPipe's ``mp.solutions.face_mesh.FaceMesh`` gives it. Each face comes
back as MediaPipe's ``NormalizedLandmarkList`` message: 468 landmarks, or 478 with
``refine_landmarks=True`` (the attention model's refined eyes and lips, and 10 iris points).

Example:
    >>> from graphflow.solutions import face_mesh
    >>> with face_mesh.FaceMesh(refine_landmarks=True) as mesh:   # doctest: +SKIP
    ...     results = mesh.process(rgb)
    ...     for face in results.multi_face_landmarks or []:
    ...         print(face.landmark[468].x)                       # left iris centre
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphflow.solutions.face_mesh_connections import (  # noqa: F401 - MediaPipe's module API
    FACEMESH_CONTOURS,
    FACEMESH_FACE_OVAL,
    FACEMESH_IRISES,
    FACEMESH_LEFT_EYE,
    FACEMESH_LEFT_EYEBROW,
    FACEMESH_LEFT_IRIS,
    FACEMESH_LIPS,
    FACEMESH_NOSE,
    FACEMESH_RIGHT_EYE,
    FACEMESH_RIGHT_EYEBROW,
    FACEMESH_RIGHT_IRIS,
    FACEMESH_TESSELATION,
)
from graphflow.solutions.formats import landmark_list_protos
from graphflow.solutions.solution_base import SolutionBase

FACEMESH_NUM_LANDMARKS = 468
FACEMESH_NUM_LANDMARKS_WITH_IRISES = 478
_BINARYPB_FILE_PATH = "mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb"
# Expanded node names of the options MediaPipe's FaceMesh sets.
_DETECTION_THRESHOLD = ("facedetectionshortrangecpu__facedetectionshortrange__facedetection__"
                        "TensorsToDetectionsCalculator.min_score_thresh")
_TRACKING_THRESHOLD = "facelandmarkcpu__ThresholdingCalculator.threshold"


class FaceMesh(SolutionBase):
    """MediaPipe Face Mesh: face landmarks of up to ``max_num_faces`` faces per image.

    Args:
        static_image_mode: Treat every image on its own (the detector runs each time); False
            tracks faces across images (the detector runs only while fewer than
            ``max_num_faces`` faces are tracked).
        max_num_faces: Most faces to return.
        refine_landmarks: Use the attention model: refined eyes and lips and 10 iris landmarks
            (478 in all).
        min_detection_confidence: Face detector score threshold.
        min_tracking_confidence: Face presence threshold of the landmark model; below it a
            tracked face is lost and the detector runs again.
        synchronous: Run the graph on the caller's thread (True, the default) or on a thread
            pool (False); see `SolutionBase`.
    """

    def __init__(self, static_image_mode: bool = False, max_num_faces: int = 1,
                 refine_landmarks: bool = False, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5, *,
                 synchronous: bool | None = None) -> None:
        super().__init__(
            _BINARYPB_FILE_PATH,
            outputs={"multi_face_landmarks": landmark_list_protos},
            side_inputs={
                "num_faces": int(max_num_faces),
                "with_attention": bool(refine_landmarks),
                "use_prev_landmarks": not static_image_mode,
            },
            calculator_params={
                _DETECTION_THRESHOLD: float(min_detection_confidence),
                _TRACKING_THRESHOLD: float(min_tracking_confidence),
            },
            synchronous=synchronous)

    def process(self, image: np.ndarray) -> Any:
        """Finds the face landmarks in one RGB image.

        Args:
            image: ``HxWx3`` uint8 RGB pixels.

        Returns:
            A named tuple whose ``multi_face_landmarks`` is a list of
            ``NormalizedLandmarkList`` messages, one per face, or None when no face is found.

        Raises:
            ValueError: The image is not a non-empty ``HxWx3`` uint8 array, or the solution is
                closed.
            RuntimeError: The graph failed.
        """
        return super().process(image)
