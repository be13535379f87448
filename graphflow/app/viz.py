"""Graph diagrams through graphviz: ``graphflow viz GRAPH -o graph.svg``.

Calculator nodes are boxes labelled with the node name and calculator; edges carry stream
names (back edges dashed); graph input and output streams are ovals, side packets notes joined
by dotted edges. Subgraph nodes show as one box (double border) unless ``expand`` is set.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

from graphflow.config import (
    ConfigError,
    GraphConfig,
    StreamSpec,
    ValidatedGraph,
    _canonical_names,
    expand_and_validate,
    lookup_subgraph,
    parse_stream_list,
    parse_tag_index,
)

FORMATS = ("dot", "gv", "svg", "png", "pdf")


@dataclasses.dataclass
class _Node:
    name: str
    calculator: str
    inputs: list[StreamSpec]
    outputs: list[StreamSpec]
    side_inputs: list[StreamSpec]
    side_outputs: list[StreamSpec]
    back_edges: set[tuple[str, int]]
    subgraph: bool


def _nodes_as_written(config: GraphConfig) -> list[_Node]:
    nodes = []
    protos = list(config.proto.node)
    for i, (proto, name) in enumerate(zip(protos, _canonical_names(protos), strict=True)):
        where = config.node_location(i).node
        try:
            back = {parse_tag_index(info.tag_index) for info in proto.input_stream_info
                    if info.back_edge}
            nodes.append(_Node(
                name, proto.calculator, parse_stream_list(proto.input_stream),
                parse_stream_list(proto.output_stream), parse_stream_list(proto.input_side_packet),
                parse_stream_list(proto.output_side_packet), back,
                lookup_subgraph(proto.calculator) is not None))
        except ValueError as exc:
            raise ConfigError(str(exc), where, name) from None
    return nodes


def _nodes_expanded(graph: ValidatedGraph) -> list[_Node]:
    return [_Node(n.name, n.calculator.__name__, n.inputs, n.outputs, n.side_inputs,
                  n.side_outputs, n.back_edges, False)
            for n in graph.nodes]


def _label(spec: StreamSpec) -> str:
    tag = f"{spec.tag}:{spec.index}:" if spec.index else (f"{spec.tag}:" if spec.tag else "")
    return f"{tag}{spec.name}"


def to_graphviz(config: GraphConfig, *, expand: bool = False) -> Any:
    """A ``graphviz.Digraph`` of the config (validated first, so errors are located).

    Args:
        config: A loaded graph config.
        expand: Draw the calculators inside subgraph nodes instead of the subgraph nodes.

    Raises:
        ConfigError: If the config does not validate.
        ImportError: If the ``graphviz`` package is missing (``pip install graphviz``).
    """
    import graphviz

    validated = expand_and_validate(config)  # the drawing of an invalid graph would mislead
    nodes = _nodes_expanded(validated) if expand else _nodes_as_written(config)
    dot = graphviz.Digraph(pathlib.Path(config.source).stem or "graph",
                           graph_attr={"rankdir": "TB", "fontname": "Helvetica"},
                           node_attr={"fontname": "Helvetica", "fontsize": "11"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    producers: dict[str, str] = {}
    for spec in validated.input_streams:
        producers[spec.name] = f"in__{spec.name}"
        dot.node(f"in__{spec.name}", spec.name, shape="oval", style="filled",
                 fillcolor="#d8ecff")
    side_producers: dict[str, str] = {}  # graph side packets are drawn where they are used
    for i, node in enumerate(nodes):
        node_id = f"n{i}"
        label = node.name if node.name == node.calculator else f"{node.name}\n{node.calculator}"
        dot.node(node_id, label, shape="box", style="rounded,filled", fillcolor="#f4f4f4",
                 peripheries="2" if node.subgraph else "1")
        for spec in node.outputs:
            producers[spec.name] = node_id
        for spec in node.side_outputs:
            side_producers[spec.name] = node_id
    drawn: set[str] = set()
    for i, node in enumerate(nodes):
        for spec in node.inputs:
            back = {"style": "dashed", "constraint": "false"} if spec.port in node.back_edges \
                else {}
            dot.edge(producers.get(spec.name, f"in__{spec.name}"), f"n{i}", label=_label(spec),
                     **back)
        for spec in node.side_inputs:
            source = side_producers.get(spec.name) or f"side__{spec.name}"
            if source.startswith("side__") and source not in drawn:
                drawn.add(source)
                dot.node(source, spec.name, shape="note", style="filled", fillcolor="#fff5d6")
            dot.edge(source, f"n{i}", label=_label(spec), style="dotted")
    for spec in validated.output_streams:
        dot.node(f"out__{spec.name}", spec.name, shape="oval", style="filled",
                 fillcolor="#dcf5dc")
        dot.edge(producers.get(spec.name, f"in__{spec.name}"), f"out__{spec.name}")
    return dot


def write_diagram(config: GraphConfig, output: str | pathlib.Path, *, expand: bool = False
                  ) -> pathlib.Path:
    """Writes the diagram; the extension picks the format (.dot/.gv text, or .svg/.png/.pdf).

    Raises:
        ValueError: For another extension.
        RuntimeError: If an image format is asked for and graphviz's ``dot`` program is
            missing.
    """
    path = pathlib.Path(output)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"{str(output)!r}: the diagram format comes from the extension, one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    dot = to_graphviz(config, expand=expand)
    if fmt in ("dot", "gv"):
        path.write_text(dot.source, encoding="utf-8")
        return path
    import graphviz

    try:
        path.write_bytes(dot.pipe(format=fmt))
    except graphviz.ExecutableNotFound:
        raise RuntimeError(
            f"writing {fmt} needs graphviz's `dot` program (Debian: apt-get install graphviz); "
            "a .dot file needs nothing") from None
    return path
