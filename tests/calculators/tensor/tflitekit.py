"""Tiny .tflite models built in memory, to test the converter one operator at a time."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import flatbuffers
import numpy as np
import tflite
from flatbuffers import flexbuffers
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType


class TinyModel:
    """Builds small .tflite flatbuffers: tensors (constants with data), operators, graph I/O.

    ``op(code, inputs, outputs, "XOptions", Field=value)`` adds a builtin operator with its
    options table; ``op(Op.CUSTOM, ..., custom="Name", custom_options={...})`` a custom one with
    FlexBuffers options.
    """

    def __init__(self) -> None:
        self.tensors: list[tuple[str, tuple[int, ...], int, np.ndarray | None]] = []
        self.ops: list[
            tuple[
                int,
                str,
                int,
                list[int],
                list[int],
                tuple[int, Callable[[Any], int]] | None,
                bytes,
            ]
        ] = []

    def tensor(
        self, shape: tuple[int, ...], data: Any = None, dtype: int = TensorType.FLOAT32
    ) -> int:
        name = f"t{len(self.tensors)}"
        array = None
        if data is not None:
            numpy_type = {
                TensorType.FLOAT32: np.float32,
                TensorType.FLOAT16: np.float16,
                TensorType.INT32: np.int32,
            }[dtype]
            array = np.asarray(data, dtype=numpy_type).reshape(shape)
        self.tensors.append((name, shape, dtype, array))
        return len(self.tensors) - 1

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options: str | None = None,
        custom: str = "",
        custom_options: dict[str, Any] | None = None,
        version: int = 1,
        **fields: int,
    ) -> None:
        built = None
        if options is not None:
            module = importlib.import_module(f"tflite.{options}")

            def build(builder: Any) -> int:
                module.Start(builder)
                for field, value in fields.items():
                    getattr(module, f"Add{field}")(builder, value)
                return int(module.End(builder))

            built = (getattr(BuiltinOptions, options), build)
        flex = flexbuffers.Dumps(custom_options) if custom_options is not None else b""
        self.ops.append((code, custom, version, inputs, outputs, built, flex))

    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [self._buffer(b, None)]
        tensors = []
        for name, shape, dtype, array in self.tensors:
            buffer = 0
            if array is not None:
                buffers.append(self._buffer(b, array))
                buffer = len(buffers) - 1
            name_offset = b.CreateString(name)
            shape_offset = b.CreateNumpyVector(np.asarray(shape, dtype=np.int32))
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape_offset)
            tflite.TensorAddType(b, dtype)
            tflite.TensorAddBuffer(b, buffer)
            tflite.TensorAddName(b, name_offset)
            tensors.append(tflite.TensorEnd(b))
        codes: list[tuple[int, str, int]] = []
        operators = []
        for code, custom, version, op_inputs, op_outputs, built, flex in self.ops:
            if (code, custom, version) not in codes:
                codes.append((code, custom, version))
            options = built[1](b) if built else None
            flex_offset = b.CreateNumpyVector(np.frombuffer(flex, np.uint8)) if flex else None
            in_offset = b.CreateNumpyVector(np.asarray(op_inputs, dtype=np.int32))
            out_offset = b.CreateNumpyVector(np.asarray(op_outputs, dtype=np.int32))
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, codes.index((code, custom, version)))
            tflite.OperatorAddInputs(b, in_offset)
            tflite.OperatorAddOutputs(b, out_offset)
            if built:
                tflite.OperatorAddBuiltinOptionsType(b, built[0])
                tflite.OperatorAddBuiltinOptions(b, options)
            if flex_offset is not None:
                tflite.OperatorAddCustomOptions(b, flex_offset)
            operators.append(tflite.OperatorEnd(b))
        code_offsets = []
        for code, custom, version in codes:
            custom_offset = b.CreateString(custom) if custom else None
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddVersion(b, version)
            if custom_offset is not None:
                tflite.OperatorCodeAddCustomCode(b, custom_offset)
            code_offsets.append(tflite.OperatorCodeEnd(b))
        graph_inputs = b.CreateNumpyVector(np.asarray(inputs, dtype=np.int32))
        graph_outputs = b.CreateNumpyVector(np.asarray(outputs, dtype=np.int32))
        tensor_vector = self._offsets(b, tensors)
        operator_vector = self._offsets(b, operators)
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensor_vector)
        tflite.SubGraphAddInputs(b, graph_inputs)
        tflite.SubGraphAddOutputs(b, graph_outputs)
        tflite.SubGraphAddOperators(b, operator_vector)
        subgraph = tflite.SubGraphEnd(b)
        subgraphs = self._offsets(b, [subgraph])
        code_vector = self._offsets(b, code_offsets)
        buffer_vector = self._offsets(b, buffers)
        description = b.CreateString("tiny")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, code_vector)
        tflite.ModelAddSubgraphs(b, subgraphs)
        tflite.ModelAddBuffers(b, buffer_vector)
        tflite.ModelAddDescription(b, description)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _buffer(b: Any, array: np.ndarray | None) -> int:
        data = (
            b.CreateNumpyVector(np.frombuffer(array.tobytes(), np.uint8))
            if array is not None
            else None
        )
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        return int(tflite.BufferEnd(b))

    @staticmethod
    def _offsets(b: Any, offsets: list[int]) -> int:
        b.StartVector(4, len(offsets), 4)
        for offset in reversed(offsets):
            b.PrependUOffsetTRelative(offset)
        return int(b.EndVector())
