"""The calculator API: the base class users subclass, its contract and its context.

A calculator declares its ports and options up front, as class attributes; the framework checks
every node of a graph against them before anything runs, then calls ``open`` once, ``process``
once per input timestamp (or repeatedly, for a source) and ``close`` once, never concurrently
for one instance. Example:

    import graphflow as gf

    @gf.register_calculator
    class ScaleCalculator(gf.Calculator):
        \"\"\"Multiplies each number by the FACTOR side packet.\"\"\"

        inputs = (gf.Port("IN", float),)
        outputs = (gf.Port("OUT", float),)
        input_side_packets = (gf.Port("FACTOR", float),)
        timestamp_offset = 0

        def open(self, cc: gf.CalculatorContext) -> None:
            self.factor = cc.side_inputs["FACTOR"]

        def process(self, cc: gf.CalculatorContext) -> None:
            cc.outputs["OUT"].add(cc.inputs["IN"].payload * self.factor)
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from google.protobuf.message import Message

from graphflow.context import CalculatorContext, OutputStream, PortId
from graphflow.packet import EMPTY_PACKET

C = TypeVar("C", bound=type["Calculator"])


class Stop(Exception):  # noqa: N818 - a signal, not an error; reads as `raise Stop()`
    """Raised by a source calculator's ``process`` to end its output streams.

    Example:
        def process(self, cc):
            if self.count == 10:
                raise gf.Stop()
    """


class ContractError(ValueError):
    """A node's configuration does not satisfy its calculator's contract."""


@dataclasses.dataclass(frozen=True)
class Port:
    """A port a calculator declares: an input or output stream, or a side packet.

    Args:
        tag: The port's tag (``"IMAGE"``), ``""`` for untagged (indexed) ports, or ``"*"`` for
            any tags at all (pass-through style calculators).
        type: The payload type (or tuple of types) checked on packets the calculator outputs;
            ``object`` accepts anything.
        optional: True if a node may leave the port unconnected.
        missing_ok: Input side packets: a run may leave the side packet out although the node
            connects it (MediaPipe's ``Optional()`` packet type); otherwise a connected side
            packet that no node makes must be given to ``start_run``.
        repeated: True if the node may connect several streams, as ``TAG:0:a``, ``TAG:1:b``
            (or several untagged streams for ``tag=""``).
        doc: One line shown by ``graphflow calculators``.
    """

    tag: str
    type: type | tuple[type, ...] = object
    optional: bool = False
    missing_ok: bool = False
    repeated: bool = False
    doc: str = ""


class Calculator:
    """Base class of every calculator; subclass it and register it with ``register_calculator``.

    Class attributes (the contract, checked against each node before a run):
        inputs: Input stream ports (:class:`Port`); empty for a source.
        outputs: Output stream ports.
        input_side_packets: Input side packet ports.
        output_side_packets: Output side packet ports.
        options_type: The protobuf options message class (e.g. ``GateCalculatorOptions``), or
            ``None``. The node's ``options { [mediapipe.X.ext] {...} }`` or
            ``node_options { [type.googleapis.com/mediapipe.X] {...} }`` fill it.
        timestamp_offset: If set, after ``process`` at T every output stream's bound moves to
            ``T + offset + 1``, so that downstream nodes need not wait for packets that will
            never come. MediaPipe's ``SetOffset``.
        input_stream_handler: The default handler for this calculator's nodes, one of
            ``"DefaultInputStreamHandler"``, ``"ImmediateInputStreamHandler"``,
            ``"SyncSetInputStreamHandler"``; a node's config overrides it.
        process_timestamp_bounds: If True, ``process`` is also called when input bounds
            advance with no packets (every input empty, ``cc.timestamp`` the settled bound);
            with the immediate handler, once more at ``Timestamp.MAX`` when every input is done.
        executor: The default executor name for this calculator's nodes (GPU calculators use
            their GL context's executor).

    Methods to override: ``open``, ``process`` (required), ``close``; ``check_contract`` for
    rules that depend on the node's configuration (e.g. as many outputs as inputs).
    """

    inputs: ClassVar[Sequence[Port]] = ()
    outputs: ClassVar[Sequence[Port]] = ()
    input_side_packets: ClassVar[Sequence[Port]] = ()
    output_side_packets: ClassVar[Sequence[Port]] = ()
    options_type: ClassVar[type[Message] | None] = None
    timestamp_offset: ClassVar[int | None] = None
    input_stream_handler: ClassVar[str | None] = None
    process_timestamp_bounds: ClassVar[bool] = False
    executor: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr in ("inputs", "outputs", "input_side_packets", "output_side_packets"):
            ports = getattr(cls, attr)
            if isinstance(ports, Port):
                raise TypeError(f"{cls.__name__}.{attr} must be a tuple of Port, not one Port: "
                                f"write ({ports!r},)")
            for port in ports:
                if not isinstance(port, Port):
                    raise TypeError(f"{cls.__name__}.{attr} must hold Port objects, "
                                    f"found {port!r}")

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        """Checks configuration-dependent rules; raise :class:`ContractError` to reject."""

    def open(self, cc: CalculatorContext) -> None:
        """Called once before the first ``process``."""

    def process(self, cc: CalculatorContext) -> None:
        """Called for each input set (or repeatedly for a source)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement process(self, cc): it is called for every "
            "input timestamp"
        )

    def close(self, cc: CalculatorContext) -> None:
        """Called once after the last ``process`` (also after a failure elsewhere)."""


@dataclasses.dataclass(frozen=True)
class NodeContract:
    """What ``Calculator.check_contract`` sees of a node: its connected ports and options."""

    name: str
    inputs: tuple[PortId, ...]
    outputs: tuple[PortId, ...]
    input_side_packets: tuple[PortId, ...]
    output_side_packets: tuple[PortId, ...]
    options: Any

    def require_paired(self, input_tag: str, output_tag: str) -> None:
        """Checks that as many ``output_tag`` output streams as ``input_tag`` inputs are connected.

        For calculators that map their i-th input of a tag to their i-th output (PassThrough-like
        nodes, loops, projections); ``""`` names the untagged streams.

        Raises:
            ContractError: The counts differ; the message gives both.
        """
        count_in = sum(1 for tag, _ in self.inputs if tag == input_tag)
        count_out = sum(1 for tag, _ in self.outputs if tag == output_tag)
        if count_in != count_out:
            raise ContractError(f"needs as many {output_tag or 'untagged'} outputs as "
                                f"{input_tag or 'untagged'} inputs, got {count_in} and "
                                f"{count_out}")


_REGISTRY: dict[str, type[Calculator]] = {}


def register_calculator(cls: C | None = None, *, name: str | None = None) -> Any:
    """Registers a calculator class under its class name (or ``name``) for use in graphs.

    Usable as ``@register_calculator`` or ``@register_calculator(name="OtherName")``.
    Registering a different class under a taken name replaces it with a warning-free override
    only if it comes from the same module (reloads); otherwise it is an error.
    """

    def register(klass: C) -> C:
        if not (isinstance(klass, type) and issubclass(klass, Calculator)):
            raise TypeError(f"register_calculator expects a Calculator subclass, got {klass!r}")
        if klass.process is Calculator.process:
            raise TypeError(f"{klass.__name__} must implement process(self, cc)")
        key = name or klass.__name__
        old = _REGISTRY.get(key)
        if old is not None and old is not klass and old.__module__ != klass.__module__:
            raise ValueError(
                f"a calculator named {key!r} is already registered by {old.__module__}"
            )
        _REGISTRY[key] = klass
        return klass

    return register(cls) if cls is not None else register


def registered_calculators() -> dict[str, type[Calculator]]:
    """All calculators by name: the registered ones and every one the indexes list.

    This imports every module an index names (``graphflow calculators`` uses it); a graph
    imports only the modules of the calculators it names (:func:`lookup_calculator`).
    """
    for module in sorted(set(calculator_index().values())):
        importlib.import_module(module)
    return dict(_REGISTRY)


def lookup_calculator(name: str) -> type[Calculator] | None:
    """The calculator registered under ``name``, importing the module an index lists for it.

    Returns None for a name that is neither registered nor listed.
    """
    klass = _REGISTRY.get(name)
    if klass is None and import_listed(name):
        klass = _REGISTRY.get(name)
    return klass


def import_listed(name: str) -> bool:
    """Imports the module an index lists for ``name`` (a calculator or a subgraph generator).

    Returns False when no index lists ``name``.
    """
    module = calculator_index().get(name)
    if module is None:
        return False
    importlib.import_module(module)
    return True


#: Entry-point group through which packages list their calculators without importing them.
INDEX_ENTRY_POINT_GROUP = "graphflow.calculators"
_INDEX: dict[str, str] | None = None


def calculator_index() -> dict[str, str]:
    """Node name -> module that registers it, from every installed package's index.

    A node name is a calculator's or a subgraph generator's (such as ``SwitchContainer``).

    A package lists its calculators with an entry point in the group ``graphflow.calculators``
    whose object is a ``{name: module}`` mapping (graphflow's own: ``calculators.index``), so
    that a graph imports only the modules it needs. The engine never imports those packages
    itself; calculators registered with :func:`register_calculator` need no index.
    """
    global _INDEX
    if _INDEX is None:
        index: dict[str, str] = {}
        for entry in importlib.metadata.entry_points(group=INDEX_ENTRY_POINT_GROUP):
            try:
                listed = entry.load()
            except (ImportError, AttributeError) as error:
                raise ImportError(
                    f"the calculator index {entry.value!r} (entry point {entry.name!r} of "
                    f"{entry.dist.name if entry.dist else 'an installed package'}) cannot be "
                    f"loaded: {error}. Another installed package named "
                    f"{entry.value.split('.', 1)[0]!r} may shadow it") from error
            index.update(listed)
        _INDEX = index
    return _INDEX


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest candidate, or an empty string."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


__all__ = [
    "EMPTY_PACKET",
    "Calculator",
    "CalculatorContext",
    "ContractError",
    "NodeContract",
    "OutputStream",
    "Port",
    "PortId",
    "Stop",
    "calculator_index",
    "did_you_mean",
    "import_listed",
    "lookup_calculator",
    "register_calculator",
    "registered_calculators",
]
