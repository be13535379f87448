"""Helpers for testing calculators and graphs (shipped with the package).

Example:
    from graphflow.testing import run_graph

    outputs = run_graph('''
        input_stream: "in"
        output_stream: "out"
        node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }
    ''', inputs={"in": [(0, "a"), (10, "b")]})
    assert [p.payload for p in outputs["out"]] == ["a", "b"]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from graphflow.calculator import Calculator
from graphflow.graph import CalculatorGraph, GraphError
from graphflow.packet import Packet
from graphflow.runtime.clock import SimulationClock


def run_graph(
    config: str | Any,
    inputs: Mapping[str, Iterable[tuple[int, Any]]] | None = None,
    side_packets: Mapping[str, Any] | None = None,
    outputs: Sequence[str] | None = None,
    *,
    synchronous: bool = False,
    timeout: float = 60.0,
) -> dict[str, list[Packet[Any]]]:
    """Runs a graph to completion on the given input packets and collects its outputs.

    Args:
        config: pbtxt text or a loaded config.
        inputs: ``{stream: [(timestamp, payload), ...]}`` for graph input streams; packets are
            added in timestamp order across streams (in ``inputs`` order at equal timestamps),
            then every input is closed.
        side_packets: Input side packets.
        outputs: Streams to collect (default: the graph's ``output_stream`` list).
        synchronous: Run calculators on the calling thread.
        timeout: Seconds before a hang is reported as ``TimeoutError``.

    Returns:
        ``{stream: [Packet, ...]}`` in arrival order.
    """
    graph = CalculatorGraph(config, synchronous=synchronous)
    names = list(outputs) if outputs is not None else [
        s.name for s in graph.validated.output_streams]
    collected: dict[str, list[Packet[Any]]] = {name: [] for name in names}
    for name in names:
        graph.observe_output_stream(name, lambda stream, packet: collected[stream].append(packet))
    graph.start_run(side_packets or {})
    try:
        merged = sorted(((int(ts), stream, payload) for stream, items in (inputs or {}).items()
                         for ts, payload in items), key=lambda item: item[0])
        for ts, stream, payload in merged:
            graph.add_packet_to_input_stream(stream, Packet(payload).at(ts))
        graph.close_all_input_streams()
        graph.wait_until_done(timeout=timeout)
    except BaseException:
        graph.cancel()  # a run that is over stays as it is
        with contextlib.suppress(GraphError):  # the cancellation, or the error raised already
            graph.wait_until_done(timeout=timeout)
        raise
    return collected


def run_calculator(
    calculator: str | type[Calculator],
    inputs: dict[str, Iterable[tuple[int, Any]]] | None = None,
    *,
    outputs: Sequence[str] = (),
    side_packets: dict[str, Any] | None = None,
    options: str = "",
    node_extra: str = "",
) -> dict[str, list[Packet[Any]]]:
    """Runs one calculator node on packets keyed by ``"TAG"`` / ``"TAG:i"`` port names.

    Args:
        calculator: The calculator class or registered name.
        inputs: ``{"TAG": [(ts, payload), ...]}`` per input port.
        outputs: Output ports to collect, e.g. ``["DETECTIONS"]``.
        side_packets: ``{"TAG": value}`` per input side packet port.
        options: Text inside the node's ``options { ... }`` block, e.g.
            ``'[mediapipe.GateCalculatorOptions.ext] { allow: true }'``.
        node_extra: More node fields in pbtxt (e.g. ``'max_in_flight: 2'``).

    Returns:
        ``{"TAG": [Packet, ...]}`` per requested output port.
    """
    name = calculator if isinstance(calculator, str) else calculator.__name__
    inputs, side_packets = inputs or {}, side_packets or {}

    def stream(port: str, prefix: str) -> str:
        return prefix + port.lower().replace(":", "_") if port else f"{prefix}0"

    lines = [f'input_stream: "{stream(port, "in_")}"' for port in inputs]
    lines.append(f'node {{ calculator: "{name}"')
    for field, ports, prefix in (("input_stream", inputs, "in_"),
                                 ("output_stream", outputs, "out_"),
                                 ("input_side_packet", side_packets, "side_")):
        lines += [f'  {field}: "{port + ":" if port else ""}{stream(port, prefix)}"'
                  for port in ports]
    if options:
        lines.append(f"  options {{ {options} }}")
    lines.append(f"  {node_extra} }}")
    result = run_graph(
        "\n".join(lines),
        inputs={stream(p, "in_"): items for p, items in inputs.items()},
        side_packets={stream(p, "side_"): v for p, v in side_packets.items()},
        outputs=[stream(p, "out_") for p in outputs],
    )
    return {port: result[stream(port, "out_")] for port in outputs}


def payloads(packets: Iterable[Packet[Any]]) -> list[Any]:
    """The payloads of a packet list."""
    return [p.payload for p in packets]


def timestamps(packets: Iterable[Packet[Any]]) -> list[int]:
    """The timestamps of a packet list, as ints."""
    return [int(p.timestamp) for p in packets]


__all__ = ["SimulationClock", "payloads", "run_calculator", "run_graph", "timestamps"]
