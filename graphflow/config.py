"""Graph configs: loading, locating, subgraph expansion and validation.

``load_config`` reads MediaPipe's ``CalculatorGraphConfig`` from ``.pbtxt`` text or ``.binarypb``
bytes; ``expand_and_validate`` expands subgraph nodes in place (MediaPipe's name prefixing and
``graph_options`` / ``option_value`` mapping) and checks the result against the registered
calculators, so that every mistake is reported before anything runs, as ``file:line:col``, the
node, and what was expected.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from google.protobuf import text_format
from google.protobuf.message import DecodeError, Message

from graphflow.calculator import (
    Calculator,
    ContractError,
    NodeContract,
    Port,
    PortId,
    did_you_mean,
    import_listed,
    lookup_calculator,
    registered_calculators,
)
from graphflow.proto._pool import POOL, load_all_messages
from graphflow.proto.mediapipe.framework import calculator_pb2
from graphflow.resources import resource_dir
from graphflow.runtime.executors import executor_kind, node_executor
from graphflow.runtime.handlers import handler_class, handler_names

GraphConfigProto = calculator_pb2.CalculatorGraphConfig
NodeProto = calculator_pb2.CalculatorGraphConfig.Node

_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*\Z")
_TAG_RE = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
_INDEX_RE = re.compile(r"(0|[1-9][0-9]*)\Z")

EXECUTOR_TYPES = ("", "ThreadPoolExecutor", "ApplicationThreadExecutor")


def _reserved_executor(name: str) -> bool:
    """MediaPipe's reserved executor names ("default", "gpu", "__..."), which no config may
    declare or name."""
    return name in ("default", "gpu") or name.startswith("__")


class ConfigError(ValueError):
    """A mistake in a graph config, located as ``file:line:col`` where possible.

    Validation reports every mistake it finds at once: ``errors`` holds them all (each a
    ConfigError with its own location), and the message lists them one a line. ``where``,
    ``node`` and ``reason`` are those of the first.
    """

    def __init__(self, message: str, where: Location | None = None, node: str | None = None):
        self.where = where
        self.node = node
        self.reason = message
        self.errors: list[ConfigError] = [self]
        prefix = f"{where}: " if where else ""
        node_part = f"node {node}: " if node else ""
        super().__init__(f"{prefix}{node_part}{message}")

    @classmethod
    def of(cls, errors: Sequence[ConfigError]) -> ConfigError:
        """One error for several: the first, with a message that lists them all."""
        if len(errors) == 1:
            return errors[0]
        first = errors[0]
        combined = cls(first.reason, first.where, first.node)
        combined.errors = list(errors)
        combined.args = (f"{len(errors)} errors in the graph config:\n"
                         + "\n".join(f"  {e}" for e in errors),)
        return combined


@dataclasses.dataclass(frozen=True)
class Location:
    """A place in a config file (1-based line and column; 0 when unknown)."""

    path: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.path}:{self.line}:{self.col}"
        return self.path


@dataclasses.dataclass
class NodeLocations:
    """Where a node and each of its fields' values start in the text."""

    node: Location
    fields: dict[str, list[Location]] = dataclasses.field(default_factory=dict)

    def field(self, name: str, index: int) -> Location:
        """The location of the ``index``-th value of field ``name`` (the node's if unknown)."""
        places = self.fields.get(name, [])
        return places[index] if index < len(places) else self.node


@dataclasses.dataclass
class GraphConfig:
    """A parsed config with the source locations of its nodes.

    Attributes:
        proto: The ``CalculatorGraphConfig`` message.
        source: The file path, or ``"<string>"`` for inline text.
        node_locations: Per node (same order as ``proto.node``), where it is in the text.
        generator_locations: Where each ``packet_generator`` entry is (to refuse them).
    """

    proto: Any
    source: str
    node_locations: list[NodeLocations]
    generator_locations: list[Location] = dataclasses.field(default_factory=list)

    def node_location(self, index: int) -> NodeLocations:
        """Where node ``index`` is (a file-level location for binary configs)."""
        if index < len(self.node_locations):
            return self.node_locations[index]
        return NodeLocations(Location(self.source))


# --------------------------------------------------------------------------------------------
# Stream specs


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    """One ``TAG:index:name`` entry of a node's stream or side packet list."""

    tag: str
    index: int
    name: str

    @property
    def port(self) -> PortId:
        """The (tag, index) the calculator sees."""
        return (self.tag, self.index)


def parse_tag_index_name(spec: str) -> tuple[str, int | None, str]:
    """Parses ``name``, ``TAG:name`` or ``TAG:N:name`` with MediaPipe's rules.

    Returns:
        (tag, index or None when not written, name).

    Raises:
        ValueError: With what is wrong with the spec.
    """
    parts = spec.split(":")
    if len(parts) == 1:
        tag, index, name = "", None, parts[0]
    elif len(parts) == 2:
        tag, index, name = parts[0], None, parts[1]
    elif len(parts) == 3:
        if not _INDEX_RE.match(parts[1]):
            raise ValueError(f"{spec!r}: the index {parts[1]!r} must be a non-negative integer")
        tag, index, name = parts[0], int(parts[1]), parts[2]
    else:
        raise ValueError(f"{spec!r}: expected 'name', 'TAG:name' or 'TAG:index:name'")
    if tag and not _TAG_RE.match(tag):
        raise ValueError(f"{spec!r}: the tag {tag!r} must match [A-Z_][A-Z0-9_]*")
    if not _NAME_RE.match(name):
        raise ValueError(f"{spec!r}: the name {name!r} must match [a-z_][a-z0-9_]*")
    return tag, index, name


def parse_stream_list(specs: Iterable[str]) -> list[StreamSpec]:
    """Parses a repeated stream field with MediaPipe's numbering (tool/tag_map.cc).

    ``name`` takes the next untagged index, ``TAG:name`` is ``TAG:0``; the indices of each tag
    must be 0, 1, ... n-1, each given once.
    """
    result: list[StreamSpec] = []
    untagged = 0
    seen: dict[PortId, str] = {}
    for spec in specs:
        tag, index, name = parse_tag_index_name(spec)
        if index is None:
            index = 0 if tag else untagged
        if not tag:
            untagged += 1
        if (tag, index) in seen:
            raise ValueError(f"{spec!r}: port {tag}:{index} is already given by "
                             f"{seen[tag, index]!r} (number repeated ports as "
                             f"{tag}:0:a, {tag}:1:b)")
        seen[tag, index] = spec
        result.append(StreamSpec(tag, index, name))
    for tag in {s.tag for s in result}:
        indices = sorted(s.index for s in result if s.tag == tag)
        if indices != list(range(len(indices))):
            missing = min(set(range(indices[-1])) - set(indices))
            raise ValueError(f"{seen[tag, indices[-1]]!r}: tag {tag} has no index {missing} "
                             "(indices of a tag must be 0, 1, ... without gaps)")
    return result


def parse_tag_index(spec: str) -> PortId:
    """Parses an ``InputStreamInfo.tag_index`` (``"TAG"``, ``"TAG:2"``, ``":3"``, ``""``)."""
    tag, _, index = spec.partition(":")
    if tag and not _TAG_RE.match(tag):
        raise ValueError(f"tag_index {spec!r}: the tag must match [A-Z_][A-Z0-9_]*")
    if index and not _INDEX_RE.match(index):
        raise ValueError(f"tag_index {spec!r}: the index must be a non-negative integer")
    return tag, int(index or 0)


# --------------------------------------------------------------------------------------------
# Loading


def load_config(source: str | pathlib.Path | bytes | Message, *, path: str | None = None
                ) -> GraphConfig:
    """Loads a graph config.

    Args:
        source: A path to a ``.pbtxt`` / ``.binarypb`` file, pbtxt text, binary bytes, or a
            ``CalculatorGraphConfig`` message.
        path: The name to use in error messages for inline text.

    Raises:
        ConfigError: If the file cannot be read or parsed (with its line and column).
    """
    if isinstance(source, Message):
        proto = GraphConfigProto()
        proto.CopyFrom(source) if source.DESCRIPTOR is proto.DESCRIPTOR else \
            proto.ParseFromString(source.SerializeToString())
        return GraphConfig(proto, path or "<config>", [])
    if isinstance(source, bytes):
        return _parse_binary(source, path or "<bytes>")
    if isinstance(source, pathlib.Path) or (
        "\n" not in source and "{" not in source and source.endswith((".pbtxt", ".binarypb",
                                                                       ".pb", ".txt"))
    ):
        file = pathlib.Path(source)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read graph config: {exc.strerror}",
                              Location(str(file))) from None
        if file.suffix in (".binarypb", ".pb"):
            return _parse_binary(data, str(file))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("not a UTF-8 text file (binary configs need the .binarypb "
                              "extension)", Location(str(file))) from None
        return parse_text(text, str(file))
    return parse_text(source, path or "<string>")


def parse_text(text: str, path: str = "<string>") -> GraphConfig:
    """Parses pbtxt text into a located :class:`GraphConfig`."""
    proto = GraphConfigProto()
    load_all_messages()
    try:
        text_format.Parse(text, proto, descriptor_pool=POOL)
    except text_format.ParseError as exc:
        line, col = exc.GetLine() or 0, exc.GetColumn() or 0
        message = re.sub(r"^\d+:\d+ : ", "", str(exc))
        # protobuf's advice to import a _pb2 module is for programmers, not graph authors
        message = re.sub(r" Did you import the _pb2 module.*", "", message, flags=re.S)
        hint = _unknown_extension_hint(message)
        raise ConfigError(message + hint, Location(path, line, col),
                          _node_around(text, line, col)) from None
    nodes, generators = _locate_nodes(text, path)
    return GraphConfig(proto, path, nodes, generators)


def _node_around(text: str, line: int, col: int) -> str | None:
    """The name (or calculator) of the top-level ``node { }`` that contains ``line:col``."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + max(col - 1, 0)
    depth, start = 0, -1
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        if kind == "ident" and depth == 0:
            start = match.start() if match.group() == "node" else -1
        elif kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth == 0 and start >= 0:
                if start <= offset < match.end():
                    return _node_label(text[start:match.end()])
                start = -1
        if match.start() > offset and depth == 0:
            break
    return _node_label(text[start:]) if start >= 0 and depth > 0 else None


def _node_label(node_text: str) -> str | None:
    for field in ("name", "calculator"):
        found = re.search(rf'(?<![\w.]){field}\s*:\s*"([^"]*)"', node_text)
        if found and found.group(1):
            return found.group(1)
    return None


def _parse_binary(data: bytes, path: str) -> GraphConfig:
    proto = GraphConfigProto()
    load_all_messages()  # extensions not yet in the pool would be dropped silently
    try:
        proto.ParseFromString(data)
    except DecodeError as exc:
        raise ConfigError(f"not a binary CalculatorGraphConfig: {exc}", Location(path)) from None
    return GraphConfig(proto, path, [])


def _unknown_extension_hint(message: str) -> str:
    field = re.search(r'Message type "([\w.]+)" has no field named "(\w+)"', message)
    if field:
        try:
            descriptor = POOL.FindMessageTypeByName(field.group(1))
        except KeyError:
            return ""
        return did_you_mean(field.group(2), descriptor.fields_by_name)
    match = re.search(r'Extension "([\w.]+)" not registered', message) or re.search(
        r'Type "([\w.]+)" not found', message)
    if not match:
        return ""
    wanted = match.group(1).removesuffix(".ext").rsplit(".", 1)[-1]
    short = [calc.options_type.DESCRIPTOR.name for calc in registered_calculators().values()
             if calc.options_type is not None]
    return did_you_mean(wanted, short) or " (no calculator in graphflow defines these options)"


_TOKEN_RE = re.compile(
    r'(?P<ws>\s+)|(?P<comment>#[^\n]*)|(?P<string>"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\')'
    r"|(?P<open>[{<])|(?P<close>[}>])|(?P<ident>\[[^\]]*\]|[A-Za-z_][\w.]*)|(?P<other>.)",
    re.S,
)


def _locate_nodes(text: str, path: str) -> tuple[list[NodeLocations], list[Location]]:
    """Finds where each top-level ``node`` and its direct fields' values start, and where each
    top-level ``packet_generator`` entry starts."""
    nodes: list[NodeLocations] = []
    generators: list[Location] = []
    depth = 0
    line, line_start = 1, 0
    pending_field: str | None = None
    current: NodeLocations | None = None
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        start = match.start()
        col = start - line_start + 1
        if kind == "ident":
            word = match.group()
            if depth == 0 and word == "node":
                current = NodeLocations(Location(path, line, col))
                nodes.append(current)
            elif depth == 0 and word == "packet_generator":
                generators.append(Location(path, line, col))
            elif depth == 1 and current is not None:
                pending_field = word
        elif kind == "string" and depth == 1 and current is not None and pending_field:
            current.fields.setdefault(pending_field, []).append(Location(path, line, col))
            pending_field = None
        elif kind == "open":
            if depth == 1 and current is not None and pending_field:
                current.fields.setdefault(pending_field, []).append(Location(path, line, col))
            pending_field = None
            depth += 1
        elif kind == "close":
            depth -= 1
            pending_field = None
        elif kind in ("ws", "comment", "string"):
            pass
        elif match.group() != ":" and depth == 1:
            pending_field = None
        newlines = match.group().count("\n")
        if newlines:
            line += newlines
            line_start = match.start() + match.group().rfind("\n") + 1
    return nodes, generators


# --------------------------------------------------------------------------------------------
# Subgraph registry

_GRAPH_FOLDERS: list[pathlib.Path] = [resource_dir("graphs")]
_SUBGRAPHS: dict[str, GraphConfig] = {}
_SUBGRAPH_FILES: dict[str, pathlib.Path] | None = None
#: Subgraphs whose config depends on their node (MediaPipe's ``Subgraph::GetConfig``).
_SUBGRAPH_GENERATORS: dict[str, Callable[[Any], GraphConfig]] = {}
_TYPE_RE = re.compile(r'^\s*type\s*:\s*"([A-Za-z_][\w.]*)"', re.M)


def register_graph_folder(folder: str | pathlib.Path) -> None:
    """Makes every ``*.pbtxt`` with a ``type:`` in ``folder`` usable as a subgraph."""
    global _SUBGRAPH_FILES
    _GRAPH_FOLDERS.append(pathlib.Path(folder).resolve())
    _SUBGRAPH_FILES = None


def register_subgraph(config: str | pathlib.Path | GraphConfig) -> str:
    """Registers one subgraph config (text, path or loaded) under its ``type``; returns it."""
    loaded = config if isinstance(config, GraphConfig) else load_config(config)
    if not loaded.proto.type:
        raise ConfigError("a subgraph needs a `type: \"Name\"` field", Location(loaded.source))
    _SUBGRAPHS[loaded.proto.type] = loaded
    return str(loaded.proto.type)


def _subgraph_files() -> dict[str, pathlib.Path]:
    global _SUBGRAPH_FILES
    if _SUBGRAPH_FILES is None:
        found: dict[str, pathlib.Path] = {}
        for folder in _GRAPH_FOLDERS:
            for file in sorted(folder.glob("**/*.pbtxt")):
                match = _TYPE_RE.search(file.read_text(encoding="utf-8", errors="replace"))
                if match:
                    found.setdefault(match.group(1), file)
        _SUBGRAPH_FILES = found
    return _SUBGRAPH_FILES


def register_subgraph_generator(name: str, generator: Callable[[Any], GraphConfig]) -> None:
    """Registers a subgraph type whose config is made from each node that uses it.

    ``generator(node)`` gets the node's ``CalculatorGraphConfig.Node`` message and returns the
    subgraph config (MediaPipe's ``SwitchContainer`` builds its nodes from its options this
    way); a ValueError it raises becomes a ConfigError at the node.
    """
    _SUBGRAPH_GENERATORS[name] = generator


def lookup_subgraph(name: str) -> GraphConfig | None:
    """The subgraph config registered under ``name``, or None."""
    if name not in _SUBGRAPHS:
        file = _subgraph_files().get(name)
        if file is None:
            return None
        _SUBGRAPHS[name] = load_config(file)
    return _SUBGRAPHS[name]


def subgraph_names() -> list[str]:
    """Every known subgraph type name."""
    return sorted(set(_SUBGRAPHS) | set(_subgraph_files()) | set(_SUBGRAPH_GENERATORS))


# --------------------------------------------------------------------------------------------
# Expansion


@dataclasses.dataclass
class ExpandedNode:
    """A calculator node after subgraph expansion, with where it came from."""

    proto: Any
    where: NodeLocations


def expand(config: GraphConfig) -> list[ExpandedNode]:
    """Expands subgraph nodes recursively (MediaPipe's rules) and returns calculator nodes."""
    nodes = [ExpandedNode(n, config.node_location(i)) for i, n in enumerate(config.proto.node)]
    return _expand_nodes(nodes, config.proto, stack=())


def _expand_nodes(nodes: list[ExpandedNode], parent: Any, stack: tuple[str, ...]
                  ) -> list[ExpandedNode]:
    names = _canonical_names([n.proto for n in nodes])
    result: list[ExpandedNode] = []
    for node, canonical in zip(nodes, names, strict=True):
        sub = None if lookup_calculator(node.proto.calculator) else _subgraph_of(node, canonical)
        if sub is None:
            result.append(node)
            continue
        if node.proto.calculator in stack:
            raise ConfigError(f"subgraph {node.proto.calculator!r} includes itself "
                              f"({' -> '.join((*stack, node.proto.calculator))})",
                              node.where.node, canonical)
        inner = _instantiate_subgraph(node, sub, canonical)
        result.extend(_expand_nodes(inner, sub.proto, (*stack, node.proto.calculator)))
    return result


def _subgraph_of(node: ExpandedNode, canonical: str) -> GraphConfig | None:
    """The config of the subgraph a node names (generated from the node, or registered)."""
    generator = _SUBGRAPH_GENERATORS.get(node.proto.calculator)
    if generator is None and import_listed(node.proto.calculator):
        generator = _SUBGRAPH_GENERATORS.get(node.proto.calculator)
    if generator is None:
        return lookup_subgraph(node.proto.calculator)
    try:
        generated = generator(node.proto)
    except ValueError as exc:
        raise ConfigError(str(exc), node.where.node, canonical) from None
    # Errors inside the generated nodes point at the node that made them.
    return dataclasses.replace(generated, node_locations=[node.where] * len(generated.proto.node))


def _canonical_names(nodes: Sequence[Any]) -> list[str]:
    """MediaPipe's CanonicalNodeName: the name or calculator, suffixed _N when repeated."""
    base = [n.name or n.calculator for n in nodes]
    counts: dict[str, int] = {}
    for b in base:
        counts[b] = counts.get(b, 0) + 1
    seen: dict[str, int] = {}
    names = []
    for b in base:
        seen[b] = seen.get(b, 0) + 1
        names.append(b if counts[b] <= 1 else f"{b}_{seen[b]}")
    return names


_STREAM_FIELDS = ("input_stream", "output_stream", "input_side_packet", "output_side_packet")


def _instantiate_subgraph(node: ExpandedNode, sub: GraphConfig, canonical: str
                          ) -> list[ExpandedNode]:
    prefix = canonical.lower().replace(".", "_").replace(" ", "_").replace(":", "_")
    where = node.where.node
    rename: dict[tuple[bool, str], str] = {}  # (is side packet, inner name) -> outer name
    # Subgraph inputs the node leaves unconnected are removed from the inner nodes, as in
    # MediaPipe's RemoveIgnoredStreams, so that optional inputs (e.g. ROI) may be omitted.
    ignored: dict[str, set[str]] = {"input_stream": set(), "input_side_packet": set()}
    for field in _STREAM_FIELDS:
        try:
            outer = {s.port: s.name for s in parse_stream_list(getattr(node.proto, field))}
            inner = parse_stream_list(getattr(sub.proto, field))
        except ValueError as exc:
            raise ConfigError(str(exc), where, canonical) from None
        inner_ports = {s.port for s in inner}
        for port in outer:
            if port not in inner_ports:
                known = ", ".join(f"{t}:{i}" if t else str(i) for t, i in sorted(inner_ports))
                raise ConfigError(
                    f"subgraph {node.proto.calculator} has no {field.replace('_', ' ')} "
                    f"{port[0]}:{port[1]} (it has: {known or 'none'})", where, canonical)
        for s in inner:
            if s.port in outer:
                rename["side" in field, s.name] = outer[s.port]
            elif field in ignored:
                ignored[field].add(s.name)
    graph_options = _subgraph_options(node, sub, canonical)
    result = []
    sub_names = _canonical_names(sub.proto.node)
    for i, inner_node in enumerate(sub.proto.node):
        copy_node = NodeProto()
        copy_node.CopyFrom(inner_node)
        copy_node.name = f"{prefix}__{sub_names[i]}"
        for field in _STREAM_FIELDS:
            specs = list(getattr(copy_node, field))
            del getattr(copy_node, field)[:]
            for spec in specs:
                tag, index, name = parse_tag_index_name(spec)
                if name in ignored.get(field, ()):
                    continue
                new = rename.get(("side" in field, name), f"{prefix}__{name}")
                head = f"{tag}:" if tag else ""
                mid = f"{index}:" if index is not None else ""
                getattr(copy_node, field).append(f"{head}{mid}{new}")
        location = sub.node_location(i)
        _apply_option_values(copy_node, graph_options, location, copy_node.name)
        result.append(ExpandedNode(copy_node, location))
    return result


def _subgraph_options(node: ExpandedNode, sub: GraphConfig, canonical: str) -> list[Message]:
    """The subgraph's graph_options, merged with the options its node gives."""
    options: list[Message] = []
    for any_msg in sub.proto.graph_options:
        options.append(_unpack_any(any_msg, sub.node_location(0).node, canonical))
    given: list[Message] = [_unpack_any(a, node.where.node, canonical)
                            for a in node.proto.node_options]
    for ext in _set_extensions(node.proto.options):
        given.append(ext)
    for msg in given:
        for existing in options:
            if existing.DESCRIPTOR is msg.DESCRIPTOR:
                existing.MergeFrom(msg)
                break
        else:
            options.append(msg)
    return options


def _set_extensions(options: Any) -> list[Message]:
    return [value for field, value in options.ListFields() if field.is_extension]


def _any_type_name(any_msg: Any) -> str:
    """The full message name an ``Any`` holds (its type URL after the last ``/``)."""
    return str(any_msg.type_url.rsplit("/", 1)[-1])


def _unpack_any(any_msg: Any, where: Location, node: str) -> Message:
    type_name = _any_type_name(any_msg)
    try:
        descriptor = POOL.FindMessageTypeByName(type_name)
    except KeyError:
        raise ConfigError(f"unknown options type {type_name!r}", where, node) from None
    from google.protobuf import message_factory

    msg = message_factory.GetMessageClass(descriptor)()
    msg.ParseFromString(any_msg.value)
    return msg


def _apply_option_values(node: Any, graph_options: list[Message], where: NodeLocations,
                         name: str) -> None:
    """Applies ``option_value: "field:options/path"`` from the graph options to the node."""
    if not node.option_value:
        return
    calc = lookup_calculator(node.calculator)
    if calc is None or calc.options_type is None:
        return  # a nested subgraph node: its option_value maps graph options further down
    target = node_options(node, calc.options_type)
    for i, spec in enumerate(node.option_value):
        loc = where.field("option_value", i)
        dst, sep, src = spec.partition(":")
        if not sep:
            raise ConfigError(f"option_value {spec!r}: expected 'field:options/path'", loc, name)
        src_path = src.removeprefix("options/").split("/")
        value = _find_option(graph_options, src_path)
        if value is _MISSING:
            continue
        try:
            _set_path(target, dst.split("/"), value)
        except (KeyError, AttributeError, TypeError, ValueError) as exc:
            raise ConfigError(f"option_value {spec!r}: cannot set {dst!r} on "
                              f"{calc.options_type.DESCRIPTOR.name}: {exc}", loc, name) from None
    _store_node_options(node, target)


_MISSING: Any = object()


def _find_option(messages: list[Message], path: list[str]) -> Any:
    for msg in messages:
        current: Any = msg
        for part in path:
            field = current.DESCRIPTOR.fields_by_name.get(part)
            if field is None:
                current = _MISSING
                break
            if not field.is_repeated and field.has_presence and \
                    not current.HasField(part):
                return _MISSING
            current = getattr(current, part)
        if current is not _MISSING:
            return current
    return _MISSING


def _set_path(msg: Any, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        msg = getattr(msg, part)
    field = msg.DESCRIPTOR.fields_by_name.get(path[-1])
    if field is None:
        raise KeyError(f"no field {path[-1]!r}"
                       + did_you_mean(path[-1], msg.DESCRIPTOR.fields_by_name))
    if field.is_repeated:
        del getattr(msg, path[-1])[:]
        if field.message_type is not None:
            for item in value:
                getattr(msg, path[-1]).add().CopyFrom(item)
        else:
            getattr(msg, path[-1]).extend(value)
    elif field.message_type is not None:
        getattr(msg, path[-1]).CopyFrom(value)
    else:
        setattr(msg, path[-1], value)


def node_options(node: Any, options_type: type[Message]) -> Message:
    """The node's options of ``options_type`` (from ``options`` or ``node_options``), or defaults.

    Options of another type are skipped here; validation reports them.
    """
    result = options_type()
    descriptor = options_type.DESCRIPTOR
    for any_msg in node.node_options:
        if _any_type_name(any_msg) == descriptor.full_name:
            result.MergeFromString(any_msg.value)
    ext = descriptor.extensions_by_name.get("ext")
    if ext is not None and node.options.HasExtension(ext):
        result.MergeFrom(node.options.Extensions[ext])
    return result


def _store_node_options(node: Any, value: Message) -> None:
    descriptor = value.DESCRIPTOR
    ext = descriptor.extensions_by_name.get("ext")
    if ext is not None:
        node.options.Extensions[ext].CopyFrom(value)
        kept = [a for a in node.node_options if _any_type_name(a)
                != descriptor.full_name]
        del node.node_options[:]
        node.node_options.extend(kept)
        return
    for any_msg in node.node_options:
        if _any_type_name(any_msg) == descriptor.full_name:
            any_msg.Pack(value)
            return
    node.node_options.add().Pack(value)


# --------------------------------------------------------------------------------------------
# Validation


@dataclasses.dataclass
class NodeSpec:
    """A validated calculator node, ready to run."""

    index: int
    name: str
    calculator: type[Calculator]
    inputs: list[StreamSpec]
    outputs: list[StreamSpec]
    side_inputs: list[StreamSpec]
    side_outputs: list[StreamSpec]
    back_edges: set[PortId]
    options: Any
    handler: str
    executor: str
    max_in_flight: int
    where: NodeLocations
    # What the handler's parse_options made of its options (sync sets, queue sizes).
    handler_options: Any = None
    # A source's layer: sources run layer by layer, lowest first (Scheduler._start_source_layer).
    source_layer: int = 0

    @property
    def location(self) -> Location:
        """Where the node is defined."""
        return self.where.node

    def describe(self) -> str:
        """``'name' (Calculator) at file:line``."""
        return f"{self.name!r} ({self.calculator.__name__}) at {self.location}"


@dataclasses.dataclass
class ValidatedGraph:
    """A config checked and expanded: its nodes and graph-level streams."""

    config: GraphConfig
    nodes: list[NodeSpec]
    input_streams: list[StreamSpec]
    output_streams: list[StreamSpec]
    input_side_packets: list[StreamSpec]
    producers: dict[str, int]  # stream name -> node index (-1 for a graph input)
    side_producers: dict[str, int]  # side packet name -> node index

    def required_side_packets(self) -> dict[str, list[NodeSpec]]:
        """Side packets no node produces (graph inputs included), with the nodes that need them:
        every one a node connects, unless its port is ``missing_ok`` (MediaPipe's rule: a
        connected side packet is required unless its packet type is Optional())."""
        needed: dict[str, list[NodeSpec]] = {}
        for node in self.nodes:
            optional = {p.tag for p in node.calculator.input_side_packets if p.missing_ok}
            for s in node.side_inputs:
                if self.side_producers.get(s.name, -1) < 0 and s.tag not in optional:
                    needed.setdefault(s.name, []).append(node)
        return needed


def expand_and_validate(config: GraphConfig) -> ValidatedGraph:
    """Expands subgraphs and checks everything that can be checked before a run.

    Raises:
        ConfigError: Every problem found (``errors``), each with file:line:col and the node.
    """
    proto = config.proto
    where_graph = Location(config.source)
    errors: list[ConfigError] = []
    lists = {}
    for field in ("input_stream", "output_stream", "input_side_packet"):
        try:
            lists[field] = parse_stream_list(getattr(proto, field))
        except ValueError as exc:
            errors.append(ConfigError(str(exc), where_graph))
            lists[field] = []
    graph_inputs, graph_outputs = lists["input_stream"], lists["output_stream"]
    graph_side = lists["input_side_packet"]
    handler_default = proto.input_stream_handler.input_stream_handler if \
        proto.HasField("input_stream_handler") else ""
    executors = {e.name for e in proto.executor if e.name}
    declared: set[str] = set()
    for e in proto.executor:
        label = repr(e.name) if e.name else "(default)"
        if _reserved_executor(e.name):
            errors.append(ConfigError(f"executor list: {e.name!r} is a reserved executor "
                                      "name", where_graph))
        if e.name in declared:
            errors.append(ConfigError(f"executor {label} is declared twice", where_graph))
        declared.add(e.name)
        if e.type not in EXECUTOR_TYPES:
            errors.append(ConfigError(
                f"executor {label}: unknown type {e.type!r}, expected one of "
                f"{', '.join(EXECUTOR_TYPES[1:])}" + did_you_mean(e.type, EXECUTOR_TYPES[1:]),
                where_graph))
        elif e.name and not e.type:
            # MediaPipe's application hands such an executor over (SetExecutor); graphflow's
            # cannot, so the config must say which kind to make.
            errors.append(ConfigError(f"executor {label} has no type: give it one of "
                                      f"{', '.join(EXECUTOR_TYPES[1:])}", where_graph))
        if not e.name and proto.num_threads:
            errors.append(ConfigError("num_threads and an executor config for the default "
                                      "executor cannot both be given", where_graph))
    for j, generator in enumerate(proto.packet_generator):
        # (A config read from a .binarypb has no text, so no locations.)
        place = config.generator_locations[j] if config.generator_locations else where_graph
        errors.append(ConfigError(
            f"packet_generator {generator.packet_generator!r}: graphflow runs no packet "
            "generators (MediaPipe's deprecated predecessor of side-packet nodes, which no graph "
            "of MediaPipe's wheel uses): make its side packets with a node that has only "
            "output_side_packet entries", place))
    expanded = expand(config)
    names = _canonical_names([n.proto for n in expanded])
    nodes: list[NodeSpec] = []
    for i, (item, name) in enumerate(zip(expanded, names, strict=True)):
        node = _validate_node(i, item, name, handler_default, executors, errors)
        if node is not None:
            nodes.append(node)
    producers: dict[str, int] = {}
    for s in graph_inputs:
        if s.name in producers:
            errors.append(ConfigError(f"graph input stream {s.name!r} is listed twice",
                                      where_graph))
        producers[s.name] = -1
    side_producers: dict[str, int] = {s.name: -1 for s in graph_side}
    # Every node's streams count, valid or not, so that one mistake is reported once.
    for index, (item, name) in enumerate(zip(expanded, names, strict=True)):
        where = item.where
        for j, s in enumerate(_parsed(item.proto.output_stream)):
            if s.name in producers:
                other = producers[s.name]
                first = "the graph's input_stream" if other < 0 else \
                    f"node {names[other]!r} at {expanded[other].where.node}"
                errors.append(ConfigError(f"output stream {s.name!r} is already produced by "
                                          f"{first}", where.field("output_stream", j), name))
            producers[s.name] = index
        for j, s in enumerate(_parsed(item.proto.output_side_packet)):
            if s.name in side_producers and side_producers[s.name] >= 0:
                other = side_producers[s.name]
                errors.append(ConfigError(
                    f"output side packet {s.name!r} is already produced by node "
                    f"{names[other]!r} at {expanded[other].where.node}",
                    where.field("output_side_packet", j), name))
            side_producers[s.name] = index
    for item, name in zip(expanded, names, strict=True):
        for j, s in enumerate(_parsed(item.proto.input_stream)):
            if s.name not in producers:
                errors.append(ConfigError(
                    f"input stream {s.name!r} has no producer: no node outputs it and it is "
                    f"not a graph input_stream{did_you_mean(s.name, sorted(producers))}",
                    item.where.field("input_stream", j), name))
    for s in graph_outputs:
        if s.name not in producers:
            errors.append(ConfigError(f"graph output stream {s.name!r} has no producer"
                                      + did_you_mean(s.name, sorted(producers)), where_graph))
    _check_stream_types(nodes, producers, errors)
    if errors:
        raise ConfigError.of(errors)
    _check_cycles(nodes, producers)
    return ValidatedGraph(config, nodes, graph_inputs, graph_outputs, graph_side, producers,
                          side_producers)


def _port_types(ports: Sequence[Port], tag: str) -> tuple[type, ...] | None:
    """The payload types a port declares, or None where it takes any payload (``object``, a
    ``*`` port, or a type that is not a class)."""
    port = next((p for p in ports if p.tag == tag), None) or \
        next((p for p in ports if p.tag == "*"), None)
    if port is None:
        return None
    types = port.type if isinstance(port.type, tuple) else (port.type,)
    if object in types or not all(isinstance(t, type) for t in types):
        return None
    return types


def _check_stream_types(nodes: list[NodeSpec], producers: dict[str, int],
                        errors: list[ConfigError]) -> None:
    """Adds an error for each stream whose two ends declare payload types that no payload can
    have both of (MediaPipe fails such a graph: "Input Stream ... of calculator ... expects
    packets of type ..."). A subclass on either side is consistent, so a port of a base class
    (or ``object``) takes what is declared more precisely."""
    by_index = {n.index: n for n in nodes}
    for node in nodes:
        for j, s in enumerate(node.inputs):
            producer = by_index.get(producers.get(s.name, -1))
            if producer is None:
                continue  # a graph input stream (untyped), or a node reported already
            wanted = _port_types(node.calculator.inputs, s.tag)
            out = next(o for o in producer.outputs if o.name == s.name)
            given = _port_types(producer.calculator.outputs, out.tag)
            if wanted is None or given is None or any(
                    issubclass(a, b) or issubclass(b, a) for a in wanted for b in given):
                continue
            errors.append(ConfigError(
                f"input stream {s.name!r} takes {_type_names(wanted)}, but node "
                f"{producer.name!r} ({producer.calculator.__name__}) at {producer.where.node} "
                f"declares {_type_names(given)} for it", node.where.field("input_stream", j),
                node.name))


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__qualname__ for t in types)


def _parsed(specs: Iterable[str]) -> list[StreamSpec]:
    """The stream list, or none if it does not parse (its node reports why)."""
    try:
        return parse_stream_list(specs)
    except ValueError:
        return []


def _validate_node(index: int, item: ExpandedNode, name: str, handler_default: str,
                   executors: set[str], errors: list[ConfigError]) -> NodeSpec | None:
    """The node, checked; or None, with its problems added to ``errors``."""
    proto = item.proto
    where = item.where
    node_where = where.node
    before = len(errors)
    calc = lookup_calculator(proto.calculator)
    if calc is None:
        if not proto.calculator:
            errors.append(ConfigError("the node has no `calculator` field", node_where, name))
        else:
            known = list(registered_calculators()) + subgraph_names()
            errors.append(ConfigError(f"unknown calculator {proto.calculator!r}"
                                      + did_you_mean(proto.calculator, known),
                                      where.field("calculator", 0), name))
        return None
    streams: dict[str, list[StreamSpec]] = {}
    for field in _STREAM_FIELDS:
        try:
            streams[field] = parse_stream_list(getattr(proto, field))
        except ValueError as exc:
            bad = next((i for i, s in enumerate(getattr(proto, field))
                        if str(exc).startswith(f"{s!r}:")), 0)
            errors.append(ConfigError(str(exc), where.field(field, bad), name))
            streams[field] = []
    for field, ports in (("input_stream", calc.inputs), ("output_stream", calc.outputs),
                         ("input_side_packet", calc.input_side_packets),
                         ("output_side_packet", calc.output_side_packets)):
        errors.extend(_check_ports(streams[field], ports, field, calc, where, name))
    options = _collect(errors, _node_options_checked, proto, calc, where, name)
    back_edges: set[PortId] = set()
    input_ports = {s.port for s in streams["input_stream"]}
    for j, info in enumerate(proto.input_stream_info):
        try:
            port = parse_tag_index(info.tag_index)
        except ValueError as exc:
            errors.append(ConfigError(str(exc), where.field("input_stream_info", j), name))
            continue
        if port not in input_ports:
            errors.append(ConfigError(f"input_stream_info names {info.tag_index!r}, which is "
                                      "not one of the node's input streams",
                                      where.field("input_stream_info", j), name))
        if info.back_edge:
            back_edges.add(port)
    handler = proto.input_stream_handler.input_stream_handler if \
        proto.HasField("input_stream_handler") else (calc.input_stream_handler
                                                     or handler_default
                                                     or "DefaultInputStreamHandler")
    handler_type = handler_class(handler)
    handler_options = None
    if handler_type is None:
        errors.append(ConfigError(f"unknown input stream handler {handler!r}"
                                  + did_you_mean(handler, handler_names()),
                                  where.field("input_stream_handler", 0), name))
    else:
        try:
            handler_options = handler_type.parse_options(
                proto.input_stream_handler.options, [s.port for s in streams["input_stream"]],
                parse_tag_index)
        except ValueError as exc:
            errors.append(ConfigError(str(exc), where.field("input_stream_handler", 0), name))
    executor = node_executor(proto, calc)
    if _reserved_executor(proto.executor):
        errors.append(ConfigError(f"{proto.executor!r} is a reserved executor name",
                                  where.field("executor", 0), name))
    elif proto.executor and proto.executor not in executors and \
            executor_kind(proto.executor) is None:
        errors.append(ConfigError(f"executor {proto.executor!r} is not declared in the graph's "
                                  "executor list" + did_you_mean(proto.executor,
                                                                 sorted(executors)),
                                  where.field("executor", 0), name))
    if len(errors) > before:
        return None  # the contract check needs a well-formed node
    contract = NodeContract(
        name, tuple(s.port for s in streams["input_stream"]),
        tuple(s.port for s in streams["output_stream"]),
        tuple(s.port for s in streams["input_side_packet"]),
        tuple(s.port for s in streams["output_side_packet"]), options)
    try:
        calc.check_contract(contract)
    except ContractError as exc:
        errors.append(ConfigError(f"{calc.__name__}: {exc}", node_where, name))
        return None
    return NodeSpec(index, name, calc, streams["input_stream"], streams["output_stream"],
                    streams["input_side_packet"], streams["output_side_packet"], back_edges,
                    options, handler, executor, max(1, proto.max_in_flight), where,
                    handler_options, proto.source_layer)


T = TypeVar("T")


def _collect(errors: list[ConfigError], check: Callable[..., T], *args: Any) -> T | None:
    """``check(*args)``, or None with its ConfigError added to ``errors``."""
    try:
        return check(*args)
    except ConfigError as exc:
        errors.append(exc)
        return None


def _check_ports(specs: list[StreamSpec], ports: Sequence[Port], field: str,
                 calc: type[Calculator], where: NodeLocations, name: str) -> list[ConfigError]:
    """What is wrong with the node's ``field`` entries for the calculator's ``ports``."""
    by_tag = {p.tag: p for p in ports}
    kind = field.replace("_", " ")
    if "*" in by_tag:
        return []
    errors = []
    for j, s in enumerate(specs):
        port = by_tag.get(s.tag)
        if port is None:
            declared = ", ".join(repr(p.tag) if p.tag else "untagged" for p in ports) or "none"
            label = f"tag {s.tag!r}" if s.tag else "an untagged stream"
            errors.append(ConfigError(
                f"{calc.__name__} has no {kind} with {label} (it declares: {declared})"
                + did_you_mean(s.tag, [p.tag for p in ports if p.tag]),
                where.field(field, j), name))
        elif s.index > 0 and not port.repeated:
            errors.append(ConfigError(f"{calc.__name__}'s {kind} {s.tag or 'untagged'} takes "
                                      f"one stream, but index {s.index} is given",
                                      where.field(field, j), name))
    given = {s.tag for s in specs}
    for p in ports:
        if not p.optional and p.tag not in given:
            label = f"{p.tag!r}" if p.tag else "(untagged)"
            errors.append(ConfigError(f"{calc.__name__} needs the {kind} {label}, which the "
                                      "node does not connect", where.node, name))
    return errors


def _node_options_checked(proto: Any, calc: type[Calculator], where: NodeLocations,
                          name: str) -> Any:
    wanted = calc.options_type.DESCRIPTOR.full_name if calc.options_type else None
    # A node of an external executor kind may also say which executor it runs on (a GL
    # node's GlContextOptions).
    kind = executor_kind(calc.executor)
    also = kind.node_options if kind is not None else None
    for ext in _set_extensions(proto.options):
        if ext.DESCRIPTOR.full_name not in (wanted, also):
            raise ConfigError(
                f"{calc.__name__} takes {'options ' + wanted if wanted else 'no options'}, "
                f"not {ext.DESCRIPTOR.full_name}", where.field("options", 0), name)
    for j, any_msg in enumerate(proto.node_options):
        type_name = _any_type_name(any_msg)
        if type_name not in (wanted, also):
            raise ConfigError(
                f"{calc.__name__} takes {'options ' + wanted if wanted else 'no options'}, "
                f"not {type_name}", where.field("node_options", j), name)
    return node_options(proto, calc.options_type) if calc.options_type else None


def _check_cycles(nodes: list[NodeSpec], producers: dict[str, int]) -> None:
    """Rejects a cycle that is not broken by an input marked ``back_edge``."""
    edges: dict[int, list[tuple[int, NodeSpec, int]]] = {n.index: [] for n in nodes}
    for node in nodes:
        for j, s in enumerate(node.inputs):
            src = producers[s.name]
            if src >= 0 and s.port not in node.back_edges:
                edges[src].append((node.index, node, j))
    state: dict[int, int] = {}

    def visit(start: int) -> None:
        stack = [(start, iter(edges[start]))]
        state[start] = 1
        while stack:
            current, children = stack[-1]
            for child, node, j in children:
                if state.get(child) == 1:
                    tag, index = node.inputs[j].port
                    tag_index = f"{tag}:{index}" if index else tag
                    raise ConfigError(
                        f"cycle through input stream {node.inputs[j].name!r}: mark the stream "
                        "that goes back with input_stream_info { tag_index: "
                        f"'{tag_index}' back_edge: true }}",
                        node.where.field("input_stream", j), node.name)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(edges[child])))
                    break
            else:
                state[current] = 2
                stack.pop()

    for node in nodes:
        if node.index not in state:
            visit(node.index)
