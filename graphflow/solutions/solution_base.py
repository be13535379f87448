"""SolutionBase: runs one of MediaPipe's solution graphs frame by frame, as ``mp.solutions`` does.

MediaPipe's ``SolutionBase`` loads a ``.binarypb`` graph from its wheel, sets input side packets
and calculator options (by expanded node name, e.g.
``facelandmarkcpu__ThresholdingCalculator.threshold``), then for every ``process(image)`` adds
the image at a simulated 30 fps timestamp, waits until the graph is idle and returns the last
packet of each output stream in a named tuple (None where the stream has no packet for that
image). This class does the same on graphflow's engine, with the graphs in graphflow's bundled
``graphs/mediapipe/modules/`` (unmodified copies of the wheel's).
"""

from __future__ import annotations

import logging
import pathlib
import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from graphflow import CalculatorGraph, ImageFrame, Packet, load_config
from graphflow.resources import resource_dir

logger = logging.getLogger(__name__)

#: Microseconds between two ``process`` calls' timestamps: MediaPipe's simulated 30 fps.
FRAME_INTERVAL_US = 33_333

Converter = Callable[[Any], Any] | None


def graph_path(binary_graph_path: str) -> pathlib.Path:
    """The bundled copy of a MediaPipe graph named by its path in MediaPipe's wheel.

    Args:
        binary_graph_path: As in MediaPipe's solutions, e.g.
            ``"mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb"``.

    Raises:
        FileNotFoundError: graphflow does not bundle that graph.
    """
    path = resource_dir("graphs") / binary_graph_path
    if not path.is_file():
        raise FileNotFoundError(f"graphflow bundles no graph {binary_graph_path!r} "
                                f"(looked for {path})")
    return path


def check_rgb_image(image: Any) -> np.ndarray:
    """The image as a C-contiguous ``HxWx3`` uint8 array, or a ValueError saying what is wrong.

    A non-contiguous view (e.g. ``bgr[:, :, ::-1]``) is copied; a contiguous array is not.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"process() needs an RGB image as a numpy array of shape (height, "
                         f"width, 3) and dtype uint8, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"process() needs a three-channel RGB image of shape (height, width, "
                         f"3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"process() needs an RGB image of dtype uint8 (0-255), got dtype "
                         f"{image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"process() needs a non-empty image, got shape {image.shape}")
    return np.ascontiguousarray(image)


class SolutionBase:
    """Runs one MediaPipe solution graph; one ``process`` call per image.

    Args:
        binary_graph_path: The graph's path in MediaPipe's wheel (see `graph_path`).
        outputs: Output stream name -> function turning its packet payload into what the
            solution returns (e.g. graphflow landmark lists into protobuf messages), or None
            for the payload itself.
        side_inputs: Input side packets of the run.
        calculator_params: ``"node_name.options_field"`` -> value, set on the expanded graph's
            node options before the run, as MediaPipe's ``calculator_params``; a callable value
            is given the field's value in the graph and returns the one to set.
        input_stream: The graph input stream that takes the image.
        synchronous: True runs every calculator on the thread that calls ``process``, False on
            the graph's thread pool; None (the default) takes the class's `synchronous`.

    Raises:
        ValueError: A calculator parameter names no node or no options field.
    """

    #: The executor a solution runs on unless the caller says otherwise (see the module doc).
    synchronous: bool = True

    def __init__(self, binary_graph_path: str, outputs: Mapping[str, Converter],
                 side_inputs: Mapping[str, Any] | None = None,
                 calculator_params: Mapping[str, Any] | None = None,
                 input_stream: str = "image", synchronous: bool | None = None) -> None:
        self._graph: CalculatorGraph | None = None
        if synchronous is not None:
            self.synchronous = synchronous
        self._graph = CalculatorGraph(load_config(graph_path(binary_graph_path)),
                                      synchronous=self.synchronous)
        _set_calculator_params(self._graph, calculator_params or {})
        self._input_stream = input_stream
        self._outputs = dict(outputs)
        self._side_inputs = dict(side_inputs or {})
        self._results_type = namedtuple("SolutionOutputs", list(self._outputs))  # type: ignore[misc]
        self._latest: dict[str, Any] = {}
        self._lock = threading.Lock()
        for name in self._outputs:
            self._graph.observe_output_stream(name, self._store)
        self._timestamp = 0
        self._graph.start_run(self._side_inputs)

    def _store(self, stream: str, packet: Packet[Any]) -> None:
        with self._lock:
            self._latest[stream] = packet.payload

    def process(self, image: np.ndarray) -> Any:
        """Runs the graph on one RGB image and returns its outputs.

        Args:
            image: ``HxWx3`` uint8 RGB pixels.

        Returns:
            A named tuple with one field per output stream; a field is None when the graph gave
            no packet on that stream for this image.

        Raises:
            ValueError: The image is not a non-empty ``HxWx3`` uint8 array, or the solution is
                closed.
            RuntimeError: The graph failed (graphflow's ``GraphError``).
        """
        graph = self._running()
        frame = ImageFrame(check_rgb_image(image))
        with self._lock:
            self._latest.clear()
        self._timestamp += FRAME_INTERVAL_US
        graph.add_packet_to_input_stream(self._input_stream, Packet(frame).at(self._timestamp))
        graph.wait_until_idle()
        with self._lock:
            latest = dict(self._latest)
        return self._results_type(**{
            name: latest.get(name) if convert is None or name not in latest
            else convert(latest[name]) for name, convert in self._outputs.items()})

    def _running(self) -> CalculatorGraph:
        if self._graph is None:
            raise ValueError(f"this {type(self).__name__} is closed")
        return self._graph

    def close(self) -> None:
        """Closes the graph's input and waits for it to finish; ``process`` fails afterwards.

        Raises:
            ValueError: It was already closed.
        """
        graph = self._running()
        self._graph = None
        graph.close()

    def reset(self) -> None:
        """Starts a new run (tracking state and timestamps start over)."""
        graph = self._running()
        graph.close()
        with self._lock:
            self._latest.clear()
        self._timestamp = 0
        graph.start_run(self._side_inputs)

    def __enter__(self) -> SolutionBase:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._graph is not None:
            self.close()


def _set_calculator_params(graph: CalculatorGraph, params: Mapping[str, Any]) -> None:
    """Sets ``"node.field": value`` on the expanded nodes' options (MediaPipe's rule)."""
    nodes = {node.name: node for node in graph.validated.nodes}
    for key, value in params.items():
        node_name, sep, field = key.rpartition(".")
        node = nodes.get(node_name) if sep else None
        if node is None:
            raise ValueError(f"calculator parameter {key!r}: the graph has no node "
                             f"{node_name!r}")
        options = node.options
        if options is None or field not in options.DESCRIPTOR.fields_by_name:
            raise ValueError(f"calculator parameter {key!r}: {node.calculator.__name__} options "
                             f"have no field {field!r}")
        if callable(value):
            value = value(getattr(options, field))
        if value is None:
            options.ClearField(field)
        elif isinstance(value, Sequence) and not isinstance(value, str):
            del getattr(options, field)[:]
            getattr(options, field).extend(value)
        else:
            setattr(options, field, value)
        logger.debug("%s.%s = %r", node_name, field, value)
