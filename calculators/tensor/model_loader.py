"""Model loaders of MediaPipe's graphs: which model file a subgraph runs, and its op resolver.

MediaPipe's FaceLandmarksModelLoader and SelfieSegmentationModelLoader are subgraphs that pick a
model path with a SwitchContainer and load it into a TFLite model; here each is one calculator
giving the MODEL side packet as a path, which InferenceCalculator opens (converted to ONNX).
"""

from __future__ import annotations

from graphflow.calculator import Calculator, CalculatorContext, Port, Stop, register_calculator

FACE_LANDMARK_MODEL = "mediapipe/modules/face_landmark/face_landmark.tflite"
FACE_LANDMARK_WITH_ATTENTION_MODEL = (
    "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite")
SELFIE_SEGMENTATION_MODELS = (
    "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
    "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite",
)


class _SidePacketSource(Calculator):
    """A node with side packets only: it sets them in open and has nothing to process."""

    def process(self, cc: CalculatorContext) -> None:
        """Ends at once: the node has no streams, only its side packets."""
        raise Stop()


@register_calculator
class FaceLandmarksModelLoader(_SidePacketSource):
    """MODEL: the face landmark model, or with ``WITH_ATTENTION: true`` the attention model
    (478 landmarks: refined eyes and lips, irises)."""

    input_side_packets = (Port("WITH_ATTENTION", bool, optional=True, missing_ok=True),)
    output_side_packets = (Port("MODEL", str),)

    def open(self, cc: CalculatorContext) -> None:
        with_attention = bool(cc.side_inputs.get("WITH_ATTENTION", False))
        cc.side_outputs["MODEL"].set(
            FACE_LANDMARK_WITH_ATTENTION_MODEL if with_attention else FACE_LANDMARK_MODEL)


@register_calculator
class SelfieSegmentationModelLoader(_SidePacketSource):
    """MODEL: the general selfie segmentation model (``MODEL_SELECTION`` 0, 256x256) or the
    landscape one (1, 256x144)."""

    input_side_packets = (Port("MODEL_SELECTION", int, optional=True, missing_ok=True),)
    output_side_packets = (Port("MODEL", str),)

    def open(self, cc: CalculatorContext) -> None:
        selection = cc.side_inputs.get("MODEL_SELECTION", 0)
        if selection not in (0, 1):
            raise ValueError(f"MODEL_SELECTION must be 0 (general) or 1 (landscape), got "
                             f"{selection!r}")
        cc.side_outputs["MODEL"].set(SELFIE_SEGMENTATION_MODELS[selection])


@register_calculator
class TfLiteCustomOpResolverCalculator(_SidePacketSource):
    """OP_RESOLVER for MediaPipe graphs: graphflow's .tflite converter already implements
    MediaPipe's custom operators, so the packet is only a marker InferenceCalculator accepts."""

    output_side_packets = (Port("OP_RESOLVER", str),)

    def open(self, cc: CalculatorContext) -> None:
        cc.side_outputs["OP_RESOLVER"].set("mediapipe")
