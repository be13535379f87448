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
    FlexBuffers options (or ``raw_options`` bytes). ``tensor(..., sparse="DDC")`` stores a
    constant in TFLite's sparse format, one letter per dimension: D dense, C compressed (CSR).
    """

    def __init__(self) -> None:
        self.tensors: list[tuple[str, tuple[int, ...], int, np.ndarray | None]] = []
        self.sparse: dict[int, str] = {}
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
        self,
        shape: tuple[int, ...],
        data: Any = None,
        dtype: int = TensorType.FLOAT32,
        sparse: str = "",
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
        if sparse:
            assert array is not None and len(sparse) == len(shape), sparse
            self.sparse[len(self.tensors) - 1] = sparse
        return len(self.tensors) - 1

    def op(
        self,
        code: int,
        inputs: list[int],
        outputs: list[int],
        options: str | None = None,
        custom: str = "",
        custom_options: dict[str, Any] | None = None,
        raw_options: bytes = b"",
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
        flex = flexbuffers.Dumps(custom_options) if custom_options is not None else raw_options
        self.ops.append((code, custom, version, inputs, outputs, built, flex))

    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        b = flatbuffers.Builder(1024)
        buffers = [self._buffer(b, None)]
        tensors = []
        for index, (name, shape, dtype, array) in enumerate(self.tensors):
            buffer = 0
            sparsity = None
            if array is not None and index in self.sparse:
                values, levels = _sparse_encode(array, self.sparse[index])
                buffers.append(self._buffer(b, values))
                buffer = len(buffers) - 1
                sparsity = self._sparsity(b, levels)
            elif array is not None:
                buffers.append(self._buffer(b, array))
                buffer = len(buffers) - 1
            name_offset = b.CreateString(name)
            shape_offset = b.CreateNumpyVector(np.asarray(shape, dtype=np.int32))
            tflite.TensorStart(b)
            if sparsity is not None:
                tflite.TensorAddSparsity(b, sparsity)
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
    def _sparsity(b: Any, levels: list[Level]) -> int:
        """SparsityParameters: identity traversal order, one DimensionMetadata per level."""
        metas = []
        for size, segments, indices in levels:
            vectors = []
            for values in (segments, indices):
                data = b.CreateNumpyVector(np.asarray(values, dtype=np.int32))
                tflite.Int32VectorStart(b)
                tflite.Int32VectorAddValues(b, data)
                vectors.append(tflite.Int32VectorEnd(b))
            tflite.DimensionMetadataStart(b)
            compressed = size < 0
            tflite.DimensionMetadataAddFormat(
                b, tflite.DimensionType.SPARSE_CSR if compressed else tflite.DimensionType.DENSE)
            if compressed:
                kind = tflite.SparseIndexVector.Int32Vector
                tflite.DimensionMetadataAddArraySegmentsType(b, kind)
                tflite.DimensionMetadataAddArraySegments(b, vectors[0])
                tflite.DimensionMetadataAddArrayIndicesType(b, kind)
                tflite.DimensionMetadataAddArrayIndices(b, vectors[1])
            else:
                tflite.DimensionMetadataAddDenseSize(b, size)
            metas.append(tflite.DimensionMetadataEnd(b))
        order = b.CreateNumpyVector(np.arange(len(levels), dtype=np.int32))
        meta_vector = TinyModel._offsets(b, metas)
        tflite.SparsityParametersStart(b)
        tflite.SparsityParametersAddTraversalOrder(b, order)
        tflite.SparsityParametersAddDimMetadata(b, meta_vector)
        return int(tflite.SparsityParametersEnd(b))

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


Level = tuple[int, list[int], list[int]]


def _sparse_encode(dense: np.ndarray, formats: str) -> tuple[np.ndarray, list[Level]]:
    """TFLite's sparse encoding in identity traversal order: the stored values, and per level
    (dense size, [], []) for D or (-1, segments, indices) for C, where a compressed level keeps
    the coordinates whose sub-tensor has a non-zero value."""
    parents: list[np.ndarray] = [dense]
    levels: list[Level] = []
    for axis, kind in enumerate(formats):
        children: list[np.ndarray] = []
        if kind == "D":
            for sub in parents:
                children.extend(sub)
            levels.append((dense.shape[axis], [], []))
        else:
            segments, indices = [0], []
            for sub in parents:
                for i, child in enumerate(sub):
                    if np.any(child != 0):
                        indices.append(i)
                        children.append(child)
                segments.append(len(indices))
            levels.append((-1, segments, indices))
        parents = children
    return np.array(parents, dtype=dense.dtype), levels
