"""MediaPipe Pose's landmark connections (``POSE_CONNECTIONS``), for drawing pose landmarks.

MediaPipe 0.10.21's ``pose_connections.POSE_CONNECTIONS``, kept as data in
``hand_pose_connections.json`` (written by ``scripts/extract_mp_connections.py`` from the
wheel) in the order MediaPipe's source lists the pairs, and made into a frozenset as MediaPipe
does, so that it iterates (and draws) in MediaPipe's order. graphflow has no pose solution;
this serves landmarks from elsewhere drawn with `drawing_utils` and `drawing_styles`.
"""

from __future__ import annotations

# The file is shared with the hand connections: read once, by hands_connections.
from graphflow.solutions.hands_connections import _pairs

POSE_CONNECTIONS = frozenset(_pairs("POSE_CONNECTIONS"))
