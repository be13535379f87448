"""Engine overhead: graphflow vs MediaPipe 0.10.21 on chains of PassThroughCalculators.

Adds integer packets from Python at increasing timestamps into a chain of N
PassThroughCalculators (and a fan-out/fan-in graph of K branches), observes the last stream, and
reports wall microseconds per packet from the first add to the return of close(). MediaPipe's own
CalculatorGraph runs the same graphs in the same run (bench/mediapipe/engine_chain.py, in the
.venv-mp made by scripts/mp_venv.sh), so the printed ratio compares like with like.

Usage:
    python bench/engine_chain.py [--packets 20000] [--repeats 3] [--no-mediapipe]

Prints a table and, last, one line: ``engine_chain ratio (graphflow/mediapipe, 10 nodes): R``.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

from graphflow import Packet
from graphflow.graph import CalculatorGraph

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench" / "mediapipe"))
from _common import run_reference  # noqa: E402
from engine_chain import chain_config, wide_config  # noqa: E402 - same graphs as MediaPipe's


def run_graphflow(config: str, packets: int, synchronous: bool) -> float:
    """Microseconds per packet for one run of ``config`` in graphflow."""
    graph = CalculatorGraph(graph_config=config, synchronous=synchronous)
    received: list[Packet[int]] = []
    graph.observe_output_stream("out", lambda _name, packet: received.append(packet))
    graph.start_run()
    start = time.perf_counter_ns()
    for ts in range(packets):
        graph.add_packet_to_input_stream("in", Packet(ts).at(ts))
    graph.close()
    elapsed = time.perf_counter_ns() - start
    if len(received) != packets or received[-1].payload != packets - 1:
        raise RuntimeError(f"graphflow delivered {len(received)} of {packets} packets")
    return elapsed / 1e3 / packets


def run_mediapipe(args: list[str]) -> float | None:
    """MediaPipe's microseconds per packet, or None without its venv."""
    result = run_reference("engine_chain.py", args)
    return None if result is None else float(result["us_per_packet"])


def main() -> None:
    """Runs every case and prints the table and the final ratio line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-mediapipe", action="store_true")
    args = parser.parse_args()
    cases = [("chain", 10, chain_config(10), ["10"]),
             ("chain", 100, chain_config(100), ["100"]),
             ("wide", 9, wide_config(8), ["--wide", "8"])]
    rows = []
    for variant, nodes, config, mp_args in cases:
        packets = args.packets if nodes <= 10 else args.packets // 4
        pooled = statistics.median(run_graphflow(config, packets, False)
                                   for _ in range(args.repeats))
        sync = statistics.median(run_graphflow(config, packets, True)
                                 for _ in range(args.repeats))
        mp = None if args.no_mediapipe else run_mediapipe(
            [*mp_args, "--packets", str(packets), "--repeats", str(args.repeats)])
        rows.append((variant, nodes, packets, pooled, sync, mp))
    print(f"{'graph':<8}{'nodes':>6}{'packets':>9}{'graphflow us':>14}{'sync us':>10}"
          f"{'mediapipe us':>14}{'ratio':>8}")
    for variant, nodes, packets, pooled, sync, mp in rows:
        ratio = f"{pooled / mp:.2f}" if mp else "-"
        mp_text = f"{mp:.1f}" if mp else "-"
        print(f"{variant:<8}{nodes:>6}{packets:>9}{pooled:>14.1f}{sync:>10.1f}{mp_text:>14}"
              f"{ratio:>8}")
    pooled, mp = rows[0][3], rows[0][5]
    if mp:
        print(f"engine_chain ratio (graphflow/mediapipe, 10 nodes): {pooled / mp:.2f}")
    else:
        print(f"engine_chain graphflow 10 nodes: {pooled:.1f} us/packet (no MediaPipe venv)")


if __name__ == "__main__":
    main()
