"""The model loaders name the model files MediaPipe's subgraphs load, and the files exist."""

from __future__ import annotations

import pytest

from graphflow.runtime import GraphError
from graphflow.testing import run_graph
from graphflow.tflite_onnx import resolve_model_path


def _side_packet(calculator: str, side_in: str, value: object, side_out: str = "MODEL") -> str:
    config = f"""
input_stream: "tick"
input_side_packet: "value"
node {{ calculator: "{calculator}" {side_in} output_side_packet: "{side_out}:out" }}
node {{ calculator: "SidePacketToStreamCalculator" input_stream: "TICK:tick"
       input_side_packet: "out" output_stream: "AT_TICK:result" }}
"""
    out = run_graph(config, inputs={"tick": [(0, 0)]}, side_packets={"value": value},
                    outputs=["result"])
    [packet] = out["result"]
    return str(packet.payload)


@pytest.mark.parametrize(("attention", "model"), [
    (False, "face_landmark.tflite"), (True, "face_landmark_with_attention.tflite")])
def test_face_landmarks_model(attention: bool, model: str) -> None:
    path = _side_packet("FaceLandmarksModelLoader",
                        'input_side_packet: "WITH_ATTENTION:value"', attention)
    assert path == f"mediapipe/modules/face_landmark/{model}"
    assert resolve_model_path(path).is_file()


@pytest.mark.parametrize(("selection", "model"), [
    (0, "selfie_segmentation.tflite"), (1, "selfie_segmentation_landscape.tflite")])
def test_selfie_segmentation_model(selection: int, model: str) -> None:
    path = _side_packet("SelfieSegmentationModelLoader",
                        'input_side_packet: "MODEL_SELECTION:value"', selection)
    assert path == f"mediapipe/modules/selfie_segmentation/{model}"
    assert resolve_model_path(path).is_file()


def test_bad_model_selection_is_named() -> None:
    with pytest.raises(GraphError, match=r"MODEL_SELECTION must be 0 .* or 1 .*, got 2"):
        _side_packet("SelfieSegmentationModelLoader",
                     'input_side_packet: "MODEL_SELECTION:value"', 2)


def test_op_resolver_marker() -> None:
    assert _side_packet("TfLiteCustomOpResolverCalculator", "", 0, "OP_RESOLVER") == "mediapipe"
