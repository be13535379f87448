"""The drawing scenes of the drawing fixtures, given either package's ``solutions``.

scripts/make_drawing_fixtures.py draws them with MediaPipe's ``mp.solutions`` (in .venv-mp)
and test_drawing.py with ``graphflow.solutions``: one list of calls, so that both draw the
same scenes. Both packages give ``drawing_utils``, ``drawing_styles``, ``hands`` and ``pose``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def draw_scenes(solutions: Any, canvases: np.ndarray, hand: Any, body: Any, detection: Any,
                rotations: np.ndarray, translations: np.ndarray) -> None:
    """Draws the five scenes on ``canvases`` (5 x H x W x 3): the hand and pose styles, default
    specs, connections only, axes, a detection."""
    drawing_utils, drawing_styles = solutions.drawing_utils, solutions.drawing_styles
    drawing_utils.draw_landmarks(canvases[0], hand, solutions.hands.HAND_CONNECTIONS,
                                 drawing_styles.get_default_hand_landmarks_style(),
                                 drawing_styles.get_default_hand_connections_style())
    drawing_utils.draw_landmarks(canvases[1], body, solutions.pose.POSE_CONNECTIONS,
                                 landmark_drawing_spec=drawing_styles
                                 .get_default_pose_landmarks_style())
    drawing_utils.draw_landmarks(canvases[2], hand)
    drawing_utils.draw_landmarks(canvases[2], body, solutions.pose.POSE_CONNECTIONS,
                                 is_drawing_landmarks=False)
    for rotation, translation in zip(rotations, translations, strict=True):
        drawing_utils.draw_axis(canvases[3], rotation, translation)
    drawing_utils.draw_axis(canvases[3], rotations[0], translations[0],
                            focal_length=(2.0, 1.5), principal_point=(0.1, -0.2),
                            axis_length=0.3,
                            axis_drawing_spec=drawing_utils.DrawingSpec(thickness=4))
    drawing_utils.draw_detection(canvases[4], detection,
                                 drawing_utils.DrawingSpec(color=(0, 255, 0), thickness=-1,
                                                           circle_radius=4),
                                 drawing_utils.DrawingSpec(thickness=3))


def plot_scenes(solutions: Any, hand: Any, body: Any) -> None:
    """The plot_landmarks calls: the pose with the defaults, the hand with its own specs."""
    drawing_utils = solutions.drawing_utils
    drawing_utils.plot_landmarks(body, solutions.pose.POSE_CONNECTIONS)
    drawing_utils.plot_landmarks(hand, solutions.hands.HAND_CONNECTIONS,
                                 drawing_utils.DrawingSpec(color=(10, 20, 30), thickness=2),
                                 drawing_utils.DrawingSpec(color=(200, 100, 0), thickness=1),
                                 elevation=30, azimuth=-60)
