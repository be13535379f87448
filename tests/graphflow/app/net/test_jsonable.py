"""Generic payload-to-JSON conversion, against hand-written expectations."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from graphflow.app.net.jsonable import to_jsonable
from graphflow.formats import Detection, NormalizedLandmarkList, NormalizedRect
from graphflow.image_frame import ImageFrame
from graphflow.proto.mediapipe.framework import calculator_pb2

pytestmark = pytest.mark.timeout(10)


def test_detection_list_and_landmarks() -> None:
    keypoints = np.array([[0.5, 0.75], [1, 0]], np.float32)
    detections = [Detection(0.25, 0.5, 0.125, 0.0625, keypoints=keypoints, score=0.5, label_id=3)]
    assert to_jsonable(detections) == [{
        "xmin": 0.25, "ymin": 0.5, "width": 0.125, "height": 0.0625,
        "keypoints": [[0.5, 0.75], [1.0, 0.0]], "score": 0.5, "label_id": 3}]
    landmarks = NormalizedLandmarkList(np.array([[0.5, 0.25, -0.125], [1, 0, 0]]))
    assert to_jsonable({"faces": [landmarks]}) == {
        "faces": [[[0.5, 0.25, -0.125], [1.0, 0.0, 0.0]]]}
    assert to_jsonable(landmarks[0]) == {"x": 0.5, "y": 0.25, "z": -0.125}
    assert to_jsonable(NormalizedRect(0.5, 0.5, 1, 1, rotation=0.25)) == {
        "x_center": 0.5, "y_center": 0.5, "width": 1, "height": 1, "rotation": 0.25,
        "rect_id": 0}


def test_numpy_values_and_non_finite_floats() -> None:
    value = {"a": np.float32(0.5), "b": np.arange(4, dtype=np.int64).reshape(2, 2),
             "c": (np.bool_(True), math.nan, -math.inf), 7: {1, 2}}
    assert to_jsonable(value) == {"a": 0.5, "b": [[0, 1], [2, 3]], "c": [True, None, None],
                                  "7": [1, 2]}
    assert to_jsonable(np.array([1.0, np.nan])) == [1.0, None]


def test_to_dict_array_protocol_protobuf_and_images() -> None:
    class WithDict:
        def to_dict(self) -> dict[str, object]:
            return {"n": np.int8(4)}

    class ArrayLike:
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return np.array([[1, 2]], dtype=np.uint8)

    @dataclasses.dataclass
    class Outer:
        inner: WithDict
        blob: bytes

    node = calculator_pb2.CalculatorGraphConfig.Node(calculator="X", input_stream=["in"])
    image = ImageFrame(np.zeros((4, 6, 3), np.uint8))
    converted = to_jsonable([Outer(WithDict(), b"\x00"), ArrayLike(), node, image])
    assert converted == [{"inner": {"n": 4}, "blob": "b'\\x00'"}, [[1, 2]],
                         {"calculator": "X", "input_stream": ["in"]},
                         {"image": {"width": 6, "height": 4, "channels": 3}}]
    json.dumps(converted)


def test_cycles_are_reported() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="nests deeper than 32 levels"):
        to_jsonable(loop)
