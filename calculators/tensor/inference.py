"""InferenceCalculator: runs a model on a tensor list with onnxruntime.

``.onnx`` models run directly; ``.tflite`` models go through graphflow's converter
(``graphflow.tflite_onnx``), so a MediaPipe graph's
``model_path: "mediapipe/modules/face_detection/face_detection_short_range.tflite"`` resolves to
the bundled model. The calculator keeps no state between timestamps and onnxruntime releases the
GIL while it runs, so a node may set ``max_in_flight`` to overlap frames.

Image inputs stay ``(1, H, W, C)`` tensors as in TFLite, but a converted model takes them as
channel planes (NCHW, the layout its convolutions read): ImageToTensorCalculator writes its
tensors in that memory layout, so they go in without the transpose onnxruntime would otherwise
run first (53 us of face_landmark.tflite's 1.1-1.4 ms); a channel-interleaved tensor is
transposed here instead (45 us at 192x192).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import onnxruntime as ort

from graphflow import tflite_onnx
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.proto.mediapipe.calculators.tensor import inference_calculator_pb2

logger = logging.getLogger(__name__)

_Options = inference_calculator_pb2.InferenceCalculatorOptions

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def session_settings(options: Any) -> tuple[int | None, list[str]]:
    """The onnxruntime thread count and providers that InferenceCalculatorOptions select.

    ``delegate { xnnpack { num_threads: N } }`` or ``cpu_num_thread: N`` set the intra-op
    threads. The default is one: graphflow runs other nodes and other frames on the remaining
    cores, and on 2 cores one thread per session measured fastest under load (face mesh
    pipelined: about 480 fps with one thread against 340 with onnxruntime's default).
    ``delegate { gpu {} }`` (or the deprecated ``use_gpu``) prefers the CUDA provider when
    onnxruntime has it.
    """
    threads: int | None = 1
    delegate = options.delegate.WhichOneof("delegate") if options.HasField("delegate") else None
    if delegate == "xnnpack" and options.delegate.xnnpack.num_threads > 0:
        threads = options.delegate.xnnpack.num_threads
    elif options.cpu_num_thread > 0:
        threads = options.cpu_num_thread
    providers = [_CPU]
    if (delegate == "gpu" or options.use_gpu) and _CUDA in ort.get_available_providers():
        providers = [_CUDA, _CPU]
    return threads, providers


def open_session(model: str, options: Any, node_name: str,
                 channels_first: bool = False) -> ort.InferenceSession:
    """A session on ``model`` with the threads and providers that ``options`` select.

    Args:
        model: A .tflite (converted) or .onnx model path.
        options: InferenceCalculatorOptions (see `session_settings`).
        node_name: The node opening it, for the log.
        channels_first: Convert a .tflite model with NCHW image inputs
            (``tflite_onnx.create_session``).

    Raises:
        ValueError: ``GRAPHFLOW_INFERENCE_THREADS`` is set to something other than a thread
            count of at least 1.
    """
    threads, providers = session_settings(options)
    env = os.environ.get("GRAPHFLOW_INFERENCE_THREADS")
    if env:
        if not env.strip().isdigit() or int(env) < 1:
            raise ValueError(f"GRAPHFLOW_INFERENCE_THREADS must be a thread count of at "
                             f"least 1, got {env!r}")
        threads = int(env)
    session = tflite_onnx.create_session(model, num_threads=threads, providers=providers,
                                         channels_first=channels_first)
    logger.debug("%s: loaded %s (threads=%s, providers=%s)", node_name, model, threads,
                 providers)
    return session


@register_calculator
class InferenceCalculator(Calculator):
    """Runs ``model_path`` (or the MODEL side packet: a path or an InferenceSession).

    The input list holds the model's inputs in order; the output list holds its outputs in
    order, as the TFLite interpreter would give them. The environment variable
    ``GRAPHFLOW_INFERENCE_THREADS`` overrides the thread count of every node (handy for
    benchmarks).
    """

    inputs = (Port("TENSORS", list, doc="input tensors, in model input order"),)
    outputs = (Port("TENSORS", list, doc="output tensors, in model output order"),)
    input_side_packets = (
        Port("MODEL", object, optional=True, missing_ok=True,
             doc="model path or onnxruntime session"),
        Port("OP_RESOLVER", object, optional=True, missing_ok=True,
             doc="accepted for MediaPipe graphs; unused"),
    )
    options_type = _Options
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if ("MODEL", 0) not in node.input_side_packets and not node.options.model_path:
            raise ContractError("InferenceCalculator needs options.model_path or a MODEL side "
                                "packet")

    def open(self, cc: CalculatorContext) -> None:
        model = cc.side_inputs.get("MODEL") or cc.options.model_path
        self.session = (model if isinstance(model, ort.InferenceSession)
                        else open_session(str(model), cc.options, cc.node_name,
                                          channels_first=True))
        planar = self.session.get_modelmeta().custom_metadata_map.get(
            tflite_onnx.CHANNELS_FIRST_KEY, "").split(",")
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        # Whether each input is NCHW, and the (TFLite, NHWC) shape the calculator accepts.
        self.channels_first = [i.name in planar for i in inputs]
        self.input_shapes = [(i.shape[0], *i.shape[2:], i.shape[1]) if first else tuple(i.shape)
                             for i, first in zip(inputs, self.channels_first, strict=True)]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def process(self, cc: CalculatorContext) -> None:
        tensors = cc.inputs["TENSORS"].get()
        if tensors is None:
            return
        if len(tensors) != len(self.input_names):
            raise ValueError(f"the model takes {len(self.input_names)} input tensor(s), got "
                             f"{len(tensors)}")
        feed = {}
        for name, shape, first, tensor in zip(self.input_names, self.input_shapes,
                                              self.channels_first, tensors, strict=True):
            arr = np.asarray(tensor, dtype=np.float32)
            if arr.ndim != len(shape) or any(
                    isinstance(s, int) and s != a for s, a in zip(shape, arr.shape, strict=True)):
                raise ValueError(f"input tensor {name!r} must have shape {shape}, got "
                                 f"{arr.shape}")
            # A view, for a tensor already held as channel planes; else a transposed copy.
            feed[name] = np.ascontiguousarray(arr.transpose(0, 3, 1, 2)) if first else arr
        cc.outputs["TENSORS"].add(self.session.run(self.output_names, feed))
