from graphflow.proto.mediapipe.framework import calculator_pb2 as _calculator_pb2
from graphflow.proto.mediapipe.framework import calculator_options_pb2 as _calculator_options_pb2
from graphflow.proto.mediapipe.util import color_pb2 as _color_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DetectionsToRenderDataCalculatorOptions(_message.Message):
    __slots__ = ("produce_empty_packet", "text_delimiter", "one_label_per_line", "thickness", "color", "scene_class", "render_detection_id")
    EXT_FIELD_NUMBER: _ClassVar[int]
    ext: _descriptor.FieldDescriptor
    PRODUCE_EMPTY_PACKET_FIELD_NUMBER: _ClassVar[int]
    TEXT_DELIMITER_FIELD_NUMBER: _ClassVar[int]
    ONE_LABEL_PER_LINE_FIELD_NUMBER: _ClassVar[int]
    THICKNESS_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    SCENE_CLASS_FIELD_NUMBER: _ClassVar[int]
    RENDER_DETECTION_ID_FIELD_NUMBER: _ClassVar[int]
    produce_empty_packet: bool
    text_delimiter: str
    one_label_per_line: bool
    thickness: float
    color: _color_pb2.Color
    scene_class: str
    render_detection_id: bool
    def __init__(self, produce_empty_packet: _Optional[bool] = ..., text_delimiter: _Optional[str] = ..., one_label_per_line: _Optional[bool] = ..., thickness: _Optional[float] = ..., color: _Optional[_Union[_color_pb2.Color, _Mapping]] = ..., scene_class: _Optional[str] = ..., render_detection_id: _Optional[bool] = ...) -> None: ...
