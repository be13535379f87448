from graphflow.proto.mediapipe.calculators.tensor import inference_calculator_pb2 as _inference_calculator_pb2
from graphflow.proto.mediapipe.framework import calculator_options_pb2 as _calculator_options_pb2
from graphflow.proto.mediapipe.gpu import gpu_origin_pb2 as _gpu_origin_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FaceDetectionOptions(_message.Message):
    __slots__ = ("model_path", "gpu_origin", "tensor_width", "tensor_height", "num_layers", "strides", "interpolated_scale_aspect_ratio", "num_boxes", "x_scale", "y_scale", "w_scale", "h_scale", "min_score_thresh", "delegate")
    EXT_FIELD_NUMBER: _ClassVar[int]
    ext: _descriptor.FieldDescriptor
    MODEL_PATH_FIELD_NUMBER: _ClassVar[int]
    GPU_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TENSOR_WIDTH_FIELD_NUMBER: _ClassVar[int]
    TENSOR_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NUM_LAYERS_FIELD_NUMBER: _ClassVar[int]
    STRIDES_FIELD_NUMBER: _ClassVar[int]
    INTERPOLATED_SCALE_ASPECT_RATIO_FIELD_NUMBER: _ClassVar[int]
    NUM_BOXES_FIELD_NUMBER: _ClassVar[int]
    X_SCALE_FIELD_NUMBER: _ClassVar[int]
    Y_SCALE_FIELD_NUMBER: _ClassVar[int]
    W_SCALE_FIELD_NUMBER: _ClassVar[int]
    H_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_THRESH_FIELD_NUMBER: _ClassVar[int]
    DELEGATE_FIELD_NUMBER: _ClassVar[int]
    model_path: str
    gpu_origin: _gpu_origin_pb2.GpuOrigin.Mode
    tensor_width: int
    tensor_height: int
    num_layers: int
    strides: _containers.RepeatedScalarFieldContainer[int]
    interpolated_scale_aspect_ratio: float
    num_boxes: int
    x_scale: float
    y_scale: float
    w_scale: float
    h_scale: float
    min_score_thresh: float
    delegate: _inference_calculator_pb2.InferenceCalculatorOptions.Delegate
    def __init__(self, model_path: _Optional[str] = ..., gpu_origin: _Optional[_Union[_gpu_origin_pb2.GpuOrigin.Mode, str]] = ..., tensor_width: _Optional[int] = ..., tensor_height: _Optional[int] = ..., num_layers: _Optional[int] = ..., strides: _Optional[_Iterable[int]] = ..., interpolated_scale_aspect_ratio: _Optional[float] = ..., num_boxes: _Optional[int] = ..., x_scale: _Optional[float] = ..., y_scale: _Optional[float] = ..., w_scale: _Optional[float] = ..., h_scale: _Optional[float] = ..., min_score_thresh: _Optional[float] = ..., delegate: _Optional[_Union[_inference_calculator_pb2.InferenceCalculatorOptions.Delegate, _Mapping]] = ...) -> None: ...
