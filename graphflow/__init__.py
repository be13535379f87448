"""graphflow: MediaPipe's calculator-graph model in Python.

A graph of calculator nodes, described in a protobuf text file, carries timestamped packets
between nodes. Build and run one::

    import graphflow as gf

    with gf.CalculatorGraph(graph_config=PBTXT) as graph:
        graph.observe_output_stream("out", lambda name, packet: print(packet.payload))
        graph.start_run()
        graph.add_packet_to_input_stream("in", gf.Packet(1).at(0))
        graph.close_all_input_streams()
        graph.wait_until_done()
"""

from typing import Any

# First: the runtime package routes the compiled modules (graphflow.runtime.native.MODULES,
# graphflow.context and graphflow.packet among them) to their build before anything imports
# them; imported earlier, a module would exist twice, as Python and compiled.
import graphflow.runtime  # noqa: F401 - imported for its effect, see above
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    Stop,
    register_calculator,
    registered_calculators,
)
from graphflow.config import ConfigError, load_config, register_graph_folder, register_subgraph
from graphflow.formats import (
    Detection,
    Landmark,
    LandmarkList,
    NormalizedLandmarkList,
    NormalizedRect,
    Rect,
    RenderData,
)
from graphflow.graph import CalculatorGraph, OutputStreamPoller
from graphflow.image_frame import ImageFrame
from graphflow.packet import Packet
from graphflow.runtime import GraphCancelledError, GraphError
from graphflow.timestamp import Timestamp

# The GPU layer imports moderngl: load it only when one of its names is used.
_GPU_NAMES = ("GlContext", "GlShaderCalculator", "GlSimpleCalculator", "GlThreadError",
              "GlUnavailableError", "GpuBuffer", "ShaderError")


def __getattr__(name: str) -> Any:
    if name in _GPU_NAMES:
        import graphflow.gpu

        return getattr(graphflow.gpu, name)
    raise AttributeError(f"module 'graphflow' has no attribute {name!r}")


__all__ = [
    "Calculator",
    "CalculatorContext",
    "CalculatorGraph",
    "ConfigError",
    "ContractError",
    "Detection",
    "GlContext",
    "GlShaderCalculator",
    "GlSimpleCalculator",
    "GlThreadError",
    "GlUnavailableError",
    "GpuBuffer",
    "GraphCancelledError",
    "GraphError",
    "ImageFrame",
    "Landmark",
    "LandmarkList",
    "NodeContract",
    "NormalizedLandmarkList",
    "NormalizedRect",
    "OutputStreamPoller",
    "Packet",
    "Port",
    "Rect",
    "RenderData",
    "ShaderError",
    "Stop",
    "Timestamp",
    "load_config",
    "register_calculator",
    "register_graph_folder",
    "register_subgraph",
    "registered_calculators",
]
