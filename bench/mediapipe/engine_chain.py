"""MediaPipe's own graph engine from Python: per-packet cost of a chain of PassThroughCalculators.

Builds a CalculatorGraph (MediaPipe 0.10.21's C++ framework through its Python bindings) whose
graph input goes through N PassThroughCalculators in a chain ("chain"), or is fanned out to K
parallel PassThroughCalculators whose outputs all enter one K-port PassThroughCalculator
("wide"; one of its outputs is observed). Adds integer packets (packet_creator.create_int) at
increasing timestamps, observes the last stream, and prints one JSON line with the wall time per
packet, from the first add_packet_to_input_stream until close() has returned (close waits until
the graph is done).

bench/engine_chain.py imports ``chain_config`` and ``wide_config`` from here under .venv, where
mediapipe is not installed, so mediapipe is imported only where a graph is run.

Usage:
    .venv-mp/bin/python bench/mediapipe/engine_chain.py [N] [--wide K] [--packets 20000]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Any

from _common import emit


def node(inputs: list[str], outputs: list[str]) -> str:
    """Returns one PassThroughCalculator node in text format."""
    ports = [f'input_stream: "{name}"' for name in inputs]
    ports += [f'output_stream: "{name}"' for name in outputs]
    return f'node {{ calculator: "PassThroughCalculator" {" ".join(ports)} }}\n'


def chain_config(nodes: int) -> str:
    """Returns a text graph config: ``in`` -> N PassThroughCalculators -> ``out``."""
    streams = ["in"] + [f"s{i}" for i in range(1, nodes)] + ["out"]
    body = "".join(node([src], [dst]) for src, dst in itertools.pairwise(streams))
    return f'input_stream: "in"\noutput_stream: "out"\n{body}'


def wide_config(width: int) -> str:
    """Returns a text graph config: ``in`` -> K parallel PassThroughs -> one K-port PassThrough.

    The join node's first output is named ``out``; the others are left unobserved.
    """
    branches = [f"b{i}" for i in range(width)]
    fan_out = "".join(node(["in"], [branch]) for branch in branches)
    join = node(branches, ["out"] + [f"j{i}" for i in range(1, width)])
    return f'input_stream: "in"\noutput_stream: "out"\n{fan_out}{join}'


def run_once(config: str, packets: int) -> float:
    """Runs the graph over ``packets`` integer packets; returns wall microseconds per packet.

    Raises:
        RuntimeError: If the observed stream did not carry every packet in order.
    """
    import mediapipe as mp

    graph = mp.CalculatorGraph(graph_config=config)
    received: list[Any] = []
    graph.observe_output_stream("out", lambda _name, packet: received.append(packet))
    graph.start_run()
    start = time.perf_counter_ns()
    for ts in range(packets):
        graph.add_packet_to_input_stream("in", mp.packet_creator.create_int(ts).at(ts))
    graph.close()
    elapsed = time.perf_counter_ns() - start
    last = mp.packet_getter.get_int(received[-1]) if received else None
    if len(received) != packets or last != packets - 1:
        raise RuntimeError(
            f"observed {len(received)} packets ending with {last}, expected {packets}"
        )
    return elapsed / 1e3 / packets


def main() -> None:
    """Parses arguments, runs the benchmark and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "nodes", nargs="?", type=int, default=10, help="chain length N (default 10)"
    )
    parser.add_argument(
        "--wide", type=int, metavar="K", help="fan-out/fan-in of K branches instead"
    )
    parser.add_argument(
        "--packets", type=int, default=20_000, help="packets per run (default 20000)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs; the median is reported")
    args = parser.parse_args()
    if args.nodes < 1 or (args.wide is not None and args.wide < 1) or args.packets < 1:
        parser.error("N, K and --packets must be positive")
    config = chain_config(args.nodes) if args.wide is None else wide_config(args.wide)
    runs = [run_once(config, args.packets) for _ in range(args.repeats)]
    emit(
        "mediapipe.engine_chain",
        {
            "variant": "chain" if args.wide is None else "wide",
            "nodes": args.nodes if args.wide is None else args.wide + 1,
            "packets": args.packets,
            "us_per_packet": round(statistics.median(runs), 3),
            "us_per_packet_runs": [round(r, 3) for r in runs],
        },
    )


if __name__ == "__main__":
    main()
