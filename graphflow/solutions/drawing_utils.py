"""Drawing landmarks and detections on images, as MediaPipe's ``drawing_utils`` does.

Same functions, arguments, error messages and pixels as
``mediapipe.python.solutions.drawing_utils`` (0.10.21): `draw_landmarks`, `draw_detection`,
`draw_axis`, `plot_landmarks` and `DrawingSpec`. Images are BGR ``uint8`` ``HxWx3`` arrays,
drawn on in place with OpenCV. Landmarks outside the image, or with a visibility or presence
below 0.5, are not drawn, nor are the connections that touch them; so are detection keypoints
and boxes outside the image (MediaPipe's OpenCV calls fail on those). `plot_landmarks` needs
matplotlib, which graphflow does not depend on: it is imported when called.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np

from graphflow.proto.mediapipe.framework.formats import location_data_pb2

_PRESENCE_THRESHOLD = 0.5
_VISIBILITY_THRESHOLD = 0.5
_BGR_CHANNELS = 3

WHITE_COLOR = (224, 224, 224)
BLACK_COLOR = (0, 0, 0)
RED_COLOR = (0, 0, 255)
GREEN_COLOR = (0, 128, 0)
BLUE_COLOR = (255, 0, 0)


@dataclasses.dataclass
class DrawingSpec:
    """How to draw: BGR color, line thickness (-1 fills circles) and circle radius in pixels."""

    color: tuple[int, int, int] = WHITE_COLOR
    thickness: int = 2
    circle_radius: int = 2


def _normalized_to_pixel_coordinates(normalized_x: float, normalized_y: float,
                                     image_width: int, image_height: int
                                     ) -> tuple[int, int] | None:
    """The pixel of a normalized point, or None when it lies outside [0, 1] x [0, 1]."""

    def inside(value: float) -> bool:
        return (value > 0 or math.isclose(0, value)) and (value < 1 or math.isclose(1, value))

    if not (inside(normalized_x) and inside(normalized_y)):
        return None
    return (min(math.floor(normalized_x * image_width), image_width - 1),
            min(math.floor(normalized_y * image_height), image_height - 1))


def _check_bgr(image: np.ndarray) -> tuple[int, int]:
    if image.ndim != 3 or image.shape[2] != _BGR_CHANNELS:
        raise ValueError(f"Input image must contain three channel bgr data. Got shape "
                         f"{image.shape}.")
    return int(image.shape[0]), int(image.shape[1])


def _is_hidden(landmark: Any) -> bool:
    """True for a landmark whose visibility or presence, where set, is below 0.5."""
    return ((landmark.HasField("visibility") and landmark.visibility < _VISIBILITY_THRESHOLD)
            or (landmark.HasField("presence") and landmark.presence < _PRESENCE_THRESHOLD))


def _check_connection(start: int, end: int, count: int) -> None:
    if not (0 <= start < count and 0 <= end < count):
        raise ValueError(f"Landmark index is out of range. Invalid connection from landmark "
                         f"#{start} to landmark #{end}.")


def draw_detection(image: np.ndarray, detection: Any,
                   keypoint_drawing_spec: DrawingSpec = DrawingSpec(color=RED_COLOR),  # noqa: B008
                   bbox_drawing_spec: DrawingSpec = DrawingSpec()) -> None:  # noqa: B008
    """Draws a detection's keypoints (circles) and relative bounding box on a BGR image.

    Args:
        image: ``HxWx3`` BGR uint8 image, drawn on in place.
        detection: A ``Detection`` message with relative location data.
        keypoint_drawing_spec: How to draw the keypoints.
        bbox_drawing_spec: How to draw the box.

    Raises:
        ValueError: The image is not three-channel, or the location data is not relative.
    """
    if not detection.location_data:
        return
    rows, cols = _check_bgr(image)
    location = detection.location_data
    if location.format != location_data_pb2.LocationData.RELATIVE_BOUNDING_BOX:
        # MediaPipe's message, its spelling included, for code that matches on it.
        raise ValueError("LocationData must be relative for this drawing funtion to work.")
    for keypoint in location.relative_keypoints:
        point = _normalized_to_pixel_coordinates(keypoint.x, keypoint.y, cols, rows)
        if point is not None:
            cv2.circle(image, point, keypoint_drawing_spec.circle_radius,
                       keypoint_drawing_spec.color, keypoint_drawing_spec.thickness)
    if not location.HasField("relative_bounding_box"):
        return
    box = location.relative_bounding_box
    start = _normalized_to_pixel_coordinates(box.xmin, box.ymin, cols, rows)
    end = _normalized_to_pixel_coordinates(box.xmin + box.width, box.ymin + box.height, cols,
                                           rows)
    if start is not None and end is not None:
        cv2.rectangle(image, start, end, bbox_drawing_spec.color, bbox_drawing_spec.thickness)


def draw_landmarks(
        image: np.ndarray, landmark_list: Any,
        connections: Iterable[tuple[int, int]] | None = None,
        landmark_drawing_spec: DrawingSpec | Mapping[int, DrawingSpec] | None
        = DrawingSpec(color=RED_COLOR),  # noqa: B008
        connection_drawing_spec: DrawingSpec | Mapping[tuple[int, int], DrawingSpec]
        = DrawingSpec(),  # noqa: B008
        is_drawing_landmarks: bool = True) -> None:
    """Draws landmarks (circles) and the connections between them on a BGR image.

    Args:
        image: ``HxWx3`` BGR uint8 image, drawn on in place.
        landmark_list: A ``NormalizedLandmarkList`` message.
        connections: ``(start, end)`` landmark index pairs to join with lines.
        landmark_drawing_spec: One spec for all landmarks, or one per landmark index; None
            draws no landmarks.
        connection_drawing_spec: One spec for all connections, or one per connection.
        is_drawing_landmarks: False draws the connections only.

    Raises:
        ValueError: The image is not three-channel, or a connection names a landmark index
            out of range.
    """
    if not landmark_list:
        return
    rows, cols = _check_bgr(image)
    points: dict[int, tuple[int, int]] = {}
    for index, landmark in enumerate(landmark_list.landmark):
        if _is_hidden(landmark):
            continue
        point = _normalized_to_pixel_coordinates(landmark.x, landmark.y, cols, rows)
        if point:
            points[index] = point
    if connections:
        count = len(landmark_list.landmark)
        # One spec for all: one polylines call (same pixels as a cv2.line per connection).
        segments: list[np.ndarray] = []
        for connection in connections:
            start, end = connection[0], connection[1]
            _check_connection(start, end, count)
            if start not in points or end not in points:
                continue
            if isinstance(connection_drawing_spec, Mapping):
                spec = connection_drawing_spec[connection]
                cv2.line(image, points[start], points[end], spec.color, spec.thickness)
            else:
                segments.append(np.array([points[start], points[end]], dtype=np.int32))
        if segments and isinstance(connection_drawing_spec, DrawingSpec):
            cv2.polylines(image, segments, False, connection_drawing_spec.color,
                          connection_drawing_spec.thickness)
    # Points after lines, as MediaPipe draws them.
    if is_drawing_landmarks and landmark_drawing_spec:
        for index, point in points.items():
            spec = landmark_drawing_spec[index] if isinstance(landmark_drawing_spec, Mapping) \
                else landmark_drawing_spec
            border = max(spec.circle_radius + 1, int(spec.circle_radius * 1.2))
            cv2.circle(image, point, border, WHITE_COLOR, spec.thickness)
            cv2.circle(image, point, spec.circle_radius, spec.color, spec.thickness)


def draw_axis(image: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
              focal_length: tuple[float, float] = (1.0, 1.0),
              principal_point: tuple[float, float] = (0.0, 0.0), axis_length: float = 0.1,
              axis_drawing_spec: DrawingSpec = DrawingSpec()) -> None:  # noqa: B008
    """Draws an object's x (red), y (green) and z (blue) axes, projected with a pinhole camera.

    Args:
        image: ``HxWx3`` BGR uint8 image, drawn on in place.
        rotation: 3x3 rotation from object to camera coordinates.
        translation: Translation from object to camera coordinates.
        focal_length: Camera focal lengths in x and y (normalized device units).
        principal_point: Camera principal point (normalized device units).
        axis_length: Axis length in object units.
        axis_drawing_spec: Line thickness of the axes.

    Raises:
        ValueError: The image is not three-channel.
    """
    rows, cols = _check_bgr(image)
    axes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    camera = np.matmul(rotation, axis_length * axes.T).T + translation
    x, y, z = camera[..., 0], camera[..., 1], camera[..., 2]
    fx, fy = focal_length
    px, py = principal_point
    x_ndc = np.clip(-fx * x / (z + 1e-5) + px, -1.0, 1.0)
    y_ndc = np.clip(-fy * y / (z + 1e-5) + py, -1.0, 1.0)
    x_im = ((1 + x_ndc) * 0.5 * cols).astype(np.int32)
    y_im = ((1 - y_ndc) * 0.5 * rows).astype(np.int32)
    origin = (int(x_im[0]), int(y_im[0]))
    for k, color in ((1, RED_COLOR), (2, GREEN_COLOR), (3, BLUE_COLOR)):
        cv2.arrowedLine(image, origin, (int(x_im[k]), int(y_im[k])), color,
                        axis_drawing_spec.thickness)


def _normalize_color(color: tuple[int, int, int]) -> tuple[float, ...]:
    return tuple(v / 255. for v in color)


def plot_landmarks(landmark_list: Any,
                   connections: Iterable[tuple[int, int]] | None = None,
                   landmark_drawing_spec: DrawingSpec = DrawingSpec(  # noqa: B008
                       color=RED_COLOR, thickness=5),
                   connection_drawing_spec: DrawingSpec = DrawingSpec(  # noqa: B008
                       color=BLACK_COLOR, thickness=5),
                   elevation: int = 10, azimuth: int = 10) -> None:
    """Plots landmarks and their connections in 3D with matplotlib, and shows the figure.

    As MediaPipe: the plot's axes are ``(-z, x, -y)`` of each landmark, colors are the specs'
    BGR colors as RGB, and ``plt.show()`` is called.

    Args:
        landmark_list: A ``NormalizedLandmarkList`` (or ``LandmarkList``) message.
        connections: ``(start, end)`` landmark index pairs to join with lines.
        landmark_drawing_spec: Color and line width of the landmarks.
        connection_drawing_spec: Color and line width of the connections.
        elevation: The view's elevation angle in degrees.
        azimuth: The view's azimuth angle in degrees.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: A connection names a landmark index out of range.
    """
    if not landmark_list:
        return
    try:
        plt = importlib.import_module("matplotlib.pyplot")
    except ImportError as exc:
        raise ImportError("drawing_utils.plot_landmarks needs matplotlib, which graphflow does "
                          "not install: pip install matplotlib") from exc
    plt.figure(figsize=(10, 10))
    ax = plt.axes(projection="3d")
    ax.view_init(elev=elevation, azim=azimuth)
    plotted: dict[int, tuple[float, float, float]] = {}
    landmark_color = _normalize_color(landmark_drawing_spec.color[::-1])
    connection_color = _normalize_color(connection_drawing_spec.color[::-1])
    for index, landmark in enumerate(landmark_list.landmark):
        if _is_hidden(landmark):
            continue
        ax.scatter3D(xs=[-landmark.z], ys=[landmark.x], zs=[-landmark.y],
                     color=landmark_color,
                     linewidth=landmark_drawing_spec.thickness)
        plotted[index] = (-landmark.z, landmark.x, -landmark.y)
    if connections:
        count = len(landmark_list.landmark)
        for connection in connections:
            start, end = connection[0], connection[1]
            _check_connection(start, end, count)
            if start in plotted and end in plotted:
                a, b = plotted[start], plotted[end]
                ax.plot3D(xs=[a[0], b[0]], ys=[a[1], b[1]], zs=[a[2], b[2]],
                          color=connection_color,
                          linewidth=connection_drawing_spec.thickness)
    plt.show()
