"""Start-up cost: a one-PassThrough graph from a fresh interpreter (the engine alone).

Times, in fresh interpreters, (1) a bare interpreter, (2) importing numpy and protobuf (the
engine's only third-party imports: the anchor), (3) ``import graphflow``, (4) building and
running a one-PassThrough graph with one packet. The goal is (4) under 0.35 s on the 2-core
machine; tests/test_layers.py checks which modules it loads.

Usage:
    python bench/import_time.py [--repeats 7]

Prints a table and, last, one line:
``import_time one-node graph: S s (ratio to numpy+protobuf import: R)``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "bare interpreter": "pass",
    "numpy + protobuf (anchor)": "import numpy, google.protobuf.message",
    "import graphflow": "import graphflow",
    "one-node graph, one packet": """
import graphflow as gf
graph = gf.CalculatorGraph(graph_config='input_stream: "in" output_stream: "out" '
    'node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "out" }')
graph.start_run()
graph.add_packet_to_input_stream("in", gf.Packet(1).at(0))
graph.close()
""",
}


def wall(code: str) -> float:
    """Seconds from starting a fresh interpreter on ``code`` to its exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    """Runs every case ``--repeats`` times (interleaved) and prints the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, code in CASES.items():
            times[name].append(wall(code))
    print(f"{'case':32} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, runs in times.items():
        print(f"{name:32} {statistics.median(runs):9.3f} {min(runs):7.3f} {max(runs):7.3f}")
    graph = statistics.median(times["one-node graph, one packet"])
    anchor = statistics.median(times["numpy + protobuf (anchor)"])
    print(f"import_time one-node graph: {graph:.3f} s "
          f"(ratio to numpy+protobuf import: {graph / anchor:.2f})")


if __name__ == "__main__":
    main()
