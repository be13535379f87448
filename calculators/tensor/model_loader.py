"""FaceLandmarksModelLoader: picks the face landmark model, as MediaPipe's subgraph does."""

from __future__ import annotations

from graphflow.calculator import Calculator, CalculatorContext, Port, Stop, register_calculator

FACE_LANDMARK_MODEL = "mediapipe/modules/face_landmark/face_landmark.tflite"


@register_calculator
class FaceLandmarksModelLoader(Calculator):
    """Outputs the MODEL side packet (a model path) for FaceLandmarkCpu.

    ``WITH_ATTENTION: true`` selects MediaPipe's attention mesh model (478 landmarks with
    irises), which graphflow does not ship: it is rejected with a clear error.
    """

    input_side_packets = (Port("WITH_ATTENTION", bool, optional=True),)
    output_side_packets = (Port("MODEL", str),)

    def open(self, cc: CalculatorContext) -> None:
        if cc.side_inputs.get("WITH_ATTENTION", False):
            raise ValueError("with_attention=true needs face_landmark_with_attention.tflite and "
                             "its attention decoding, which graphflow does not provide; "
                             "set the WITH_ATTENTION side packet to false")
        cc.side_outputs["MODEL"].set(FACE_LANDMARK_MODEL)

    def process(self, cc: CalculatorContext) -> None:
        """Ends at once: the node has no streams, only its side packet."""
        raise Stop()
