"""TensorFlow Lite models on onnxruntime, without TensorFlow.

A tool beside the engine, not part of it: :mod:`calculators.tensor.inference` uses it to run
MediaPipe's ``.tflite`` models. :func:`create_session` converts a model (once; conversions are
cached), and opens an onnxruntime session on it.
"""

from graphflow.tflite_onnx.converter import (
    CHANNELS_FIRST_KEY,
    MODELS_DIR,
    ONNX_OPSET,
    ModelLoadError,
    TensorSpec,
    UnsupportedOpError,
    cache_dir,
    convert_tflite,
    create_session,
    load_onnx_for,
    resolve_model_path,
    tflite_io,
)

__all__ = [
    "CHANNELS_FIRST_KEY",
    "MODELS_DIR",
    "ONNX_OPSET",
    "ModelLoadError",
    "TensorSpec",
    "UnsupportedOpError",
    "cache_dir",
    "convert_tflite",
    "create_session",
    "load_onnx_for",
    "resolve_model_path",
    "tflite_io",
]
