"""Drawing calculators: detections and landmarks to RenderData, and RenderData onto images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from calculators._opencv import cv2
from calculators.image.image_properties import image_frame
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import (
    Color,
    Detection,
    NormalizedLandmarkList,
    RenderAnnotation,
    RenderData,
    RenderLines,
    RenderPoints,
    RenderRect,
)
from graphflow.image_frame import ImageFrame
from graphflow.proto.mediapipe.calculators.util import (
    annotation_overlay_calculator_pb2,
    detections_to_render_data_calculator_pb2,
    landmarks_to_render_data_calculator_pb2,
)


def _color(message: Any, default: Color) -> Color:
    """A proto ``Color`` as an (r, g, b) tuple, or ``default`` when unset."""
    if not message.ListFields():
        return default
    return (message.r, message.g, message.b)


def detections_render_data(detections: list[Detection], color: Color,
                           thickness: float) -> RenderData:
    """A box outline and keypoint dots for each detection."""
    annotations: list[RenderAnnotation] = []
    for d in detections:
        annotations.append(RenderRect(d.xmin, d.ymin, d.xmin + d.width, d.ymin + d.height,
                                      color=color, thickness=thickness))
        if len(d.keypoints):
            annotations.append(RenderPoints(d.keypoints, color, thickness))
    return RenderData(tuple(annotations))


@register_calculator
class DetectionsToRenderDataCalculator(Calculator):
    """Draws ``DETECTIONS`` (a list) or ``DETECTION`` as boxes with keypoints.

    With ``produce_empty_packet`` (the default) an empty list gives an empty RenderData.
    """

    inputs = (Port("DETECTIONS", list, optional=True), Port("DETECTION", Detection,
                                                             optional=True))
    outputs = (Port("RENDER_DATA", RenderData),)
    options_type = detections_to_render_data_calculator_pb2.DetectionsToRenderDataCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if not node.inputs:
            raise ContractError("connect DETECTIONS or DETECTION")

    def process(self, cc: CalculatorContext) -> None:
        o = cc.options
        detections: list[Detection] = list(cc.inputs["DETECTIONS"].get(())) if \
            cc.inputs.connected("DETECTIONS") else []
        if cc.inputs.connected("DETECTION") and cc.inputs.has("DETECTION"):
            detections.append(cc.inputs["DETECTION"].payload)
        if not detections and not o.produce_empty_packet:
            return
        cc.outputs["RENDER_DATA"].add(detections_render_data(
            detections, _color(o.color, (255, 0, 0)), o.thickness))


def landmarks_render_data(landmarks: NormalizedLandmarkList, connections: list[int],
                          landmark_color: Color, connection_color: Color, thickness: float,
                          render_landmarks: bool = True) -> RenderData:
    """Dots at the landmarks and lines for ``connections`` (flat index pairs)."""
    xy = landmarks.xyz[:, :2]
    annotations: list[RenderAnnotation] = []
    if connections:
        pairs = np.asarray(connections, dtype=np.int64).reshape(-1, 2)
        if pairs.size and pairs.max() >= len(xy):
            raise ValueError(f"landmark_connections refer to landmark {int(pairs.max())}, the "
                             f"list has {len(xy)}")
        annotations.append(RenderLines(xy[pairs], connection_color, thickness))
    if render_landmarks:
        annotations.append(RenderPoints(xy, landmark_color, thickness))
    return RenderData(tuple(annotations))


@register_calculator
class LandmarksToRenderDataCalculator(Calculator):
    """Draws ``NORM_LANDMARKS`` as dots joined by the ``landmark_connections`` pairs."""

    inputs = (Port("NORM_LANDMARKS", NormalizedLandmarkList),)
    outputs = (Port("RENDER_DATA", RenderData),)
    options_type = landmarks_to_render_data_calculator_pb2.LandmarksToRenderDataCalculatorOptions
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if len(node.options.landmark_connections) % 2:
            raise ContractError("landmark_connections must hold index pairs (an even count)")

    def process(self, cc: CalculatorContext) -> None:
        o = cc.options
        cc.outputs["RENDER_DATA"].add(landmarks_render_data(
            cc.inputs["NORM_LANDMARKS"].payload, list(o.landmark_connections),
            _color(o.landmark_color, (255, 0, 0)), _color(o.connection_color, (0, 255, 0)),
            o.thickness, o.render_landmarks))


def _pixels(points: npt.NDArray[np.float32], width: int, height: int) -> npt.NDArray[np.int32]:
    return np.rint(points * np.array([width, height], dtype=np.float32)).astype(np.int32)


def draw(image: npt.NDArray[np.uint8], render_data: RenderData) -> None:
    """Draws ``render_data`` (normalized coordinates) onto ``image`` in place with OpenCV."""
    height, width = image.shape[:2]
    for a in render_data.annotations:
        t = max(1, round(a.thickness))
        color = (*a.color, 255)[:image.shape[2]]
        if isinstance(a, RenderPoints):
            for x, y in _pixels(a.points, width, height):
                cv2.circle(image, (int(x), int(y)), t, color, -1, cv2.LINE_AA)
        elif isinstance(a, RenderLines):
            if len(a.segments):
                cv2.polylines(image, list(_pixels(a.segments, width, height)), False, color, t,
                              cv2.LINE_AA)
        else:
            cx, cy = (a.left + a.right) / 2 * width, (a.top + a.bottom) / 2 * height
            box = ((cx, cy), ((a.right - a.left) * width, (a.bottom - a.top) * height),
                   math.degrees(a.rotation))
            corners = np.rint(cv2.boxPoints(box)).astype(np.int32)
            cv2.polylines(image, [corners], True, color, t, cv2.LINE_AA)


@register_calculator
class AnnotationOverlayCalculator(Calculator):
    """Draws RenderData (untagged inputs, or ``VECTOR`` lists of them) over a copy of ``IMAGE``.

    Inputs with no packet at a timestamp draw nothing; the image always comes out.
    """

    inputs = (
        Port("IMAGE", ImageFrame),
        Port("", RenderData, repeated=True, optional=True),
        Port("VECTOR", list, repeated=True, optional=True),
    )
    outputs = (Port("IMAGE", ImageFrame),)
    options_type = annotation_overlay_calculator_pb2.AnnotationOverlayCalculatorOptions
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        packet = cc.inputs["IMAGE"]
        if packet.is_empty:
            return
        frame = image_frame(packet.payload, "IMAGE")
        layers: list[RenderData] = [p.payload for p in
                                    (cc.inputs[i] for i in range(cc.inputs.count("")))
                                    if not p.is_empty]
        for i in range(cc.inputs.count("VECTOR")):
            layers.extend(cc.inputs["VECTOR", i].get(()))
        if not layers:
            cc.outputs["IMAGE"].add(frame)
            return
        canvas = np.array(frame.array)
        for layer in layers:
            draw(canvas, layer)
        cc.outputs["IMAGE"].add(ImageFrame(canvas))
