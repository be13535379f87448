"""MediaPipe's legacy solutions API (``mp.solutions``) on graphflow.

MediaPipe 0.10.30 and later dropped ``mp.solutions``; the last wheel with it needs numpy<2,
protobuf<5 and Python<=3.12. These modules keep its API and run MediaPipe's own solution graphs
from the 0.10.21 wheel, unmodified, on graphflow's engine and onnxruntime:

- `face_mesh`: ``FaceMesh`` (468 landmarks, or 478 with iris refinement), connection sets.
- `face_detection`: ``FaceDetection`` (short- and full-range models).
- `selfie_segmentation`: ``SelfieSegmentation`` (general and landscape models).
- `drawing_utils`, `drawing_styles`: drawing landmarks and detections with OpenCV (and
  matplotlib's 3D plots, if installed), MediaPipe's styles for faces, hands and poses.
- `hands`, `pose` and the ``*_connections`` modules: landmark names and connections for
  drawing (no hand or pose solution).

User code changes one import line: ``import mediapipe as mp`` becomes
``import graphflow.solutions as mp`` (``mp.solutions.face_mesh`` keeps working), and
``from mediapipe import solutions`` becomes ``from graphflow import solutions``.
docs/solutions.md says what differs.
"""

import sys

from graphflow.solutions import (
    drawing_styles,
    drawing_utils,
    face_detection,
    face_mesh,
    face_mesh_connections,
    hands,
    hands_connections,
    pose,
    pose_connections,
    selfie_segmentation,
)

#: This package itself, so that code written as ``mp.solutions.face_mesh`` runs after
#: ``import graphflow.solutions as mp``.
solutions = sys.modules[__name__]

__all__ = ["drawing_styles", "drawing_utils", "face_detection", "face_mesh",
           "face_mesh_connections", "hands", "hands_connections", "pose", "pose_connections",
           "selfie_segmentation", "solutions"]
