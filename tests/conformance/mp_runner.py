"""MediaPipe's side of the differential suite: runs examples in mediapipe 0.10.21's CalculatorGraph.

Run with the reference interpreter (.venv-mp/bin/python); it imports only mediapipe, never
graphflow. It reads one JSON example per line on stdin and writes one JSON result per line on
stdout, in order, flushing after each, so that a client may send a whole batch at once or one
example at a time (hypothesis' shrinking) over one process.

An example (see tests/conformance/differential.py, which writes them)::

    {"graph": "<pbtxt>", "side_packets": {"name": ["int", 3]},
     "observe": {"stream": "int"},
     "steps": [["add", "in0", 5, "int", 3], ["close", "in0"]]}

Value types: int, int64 (side packets only), bool, float, floats (a float vector), timestamp
(not read: only the packet's timestamp is compared). After start_run and after every step the
runner waits until the graph is idle, then ends with wait_until_done.

A result::

    {"outcome": "ok" | "invalid" | "start_error" | "error", "error_step": int | null,
     "streams": {"stream": [[timestamp, value], ...]}, "message": str}

``error_step`` is the step whose call (or the idle wait after it) failed: -1 for the wait after
start_run, len(steps) for wait_until_done. ``streams`` then hold what was observed as of the last
idle point before the failure (deterministic but for what source nodes send, see
differential.py).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import mediapipe as mp

_CREATE = {
    "int": mp.packet_creator.create_int,
    "int64": mp.packet_creator.create_int64,
    "bool": mp.packet_creator.create_bool,
    "float": mp.packet_creator.create_float,
    "floats": mp.packet_creator.create_float_vector,
}
_GET = {
    "int": mp.packet_getter.get_int,
    "bool": mp.packet_getter.get_bool,
    "float": mp.packet_getter.get_float,
    "floats": lambda packet: [float(x) for x in mp.packet_getter.get_float_list(packet)],
    "timestamp": lambda packet: None,
}


def _packet(kind: str, value: Any) -> Any:
    return _CREATE[kind](value)


def run_example(example: dict[str, Any]) -> dict[str, Any]:
    """Runs one example and returns its result (see the module docstring)."""
    streams: dict[str, list[list[Any]]] = {name: [] for name in example["observe"]}
    result: dict[str, Any] = {"outcome": "ok", "error_step": None, "streams": streams,
                              "message": ""}
    try:
        graph = mp.CalculatorGraph(graph_config=example["graph"])
    except Exception as exc:  # any failure to build is the outcome compared
        return {**result, "outcome": "invalid", "message": str(exc)}

    def observer(kind: str) -> Any:
        def on_packet(name: str, packet: Any) -> None:
            try:
                value = _GET[kind](packet)
            except Exception as exc:  # a payload of another type is a result
                value = f"<unreadable as {kind}: {type(exc).__name__}>"
            streams[name].append([packet.timestamp.value, value])
        return on_packet

    for name, kind in example["observe"].items():
        graph.observe_output_stream(name, observer(kind))
    snapshot = {name: 0 for name in streams}

    def fail(outcome: str, step: int | None, exc: BaseException) -> dict[str, Any]:
        for name, count in snapshot.items():
            del streams[name][count:]
        try:
            graph.close()
        except Exception:  # the run already failed; its error is reported
            pass
        return {**result, "outcome": outcome, "error_step": step, "message": str(exc)}

    side = {name: _packet(kind, value) for name, (kind, value) in
            example["side_packets"].items()}
    try:
        graph.start_run(side)
    except Exception as exc:
        return fail("start_error", None, exc)
    steps = example["steps"]
    for index in range(-1, len(steps)):
        try:
            if index >= 0:
                step = steps[index]
                if step[0] == "add":
                    _, stream, ts, kind, value = step
                    graph.add_packet_to_input_stream(stream, _packet(kind, value).at(ts))
                else:
                    graph.close_input_stream(step[1])
            graph.wait_until_idle()
        except Exception as exc:
            return fail("error", index, exc)
        snapshot = {name: len(packets) for name, packets in streams.items()}
    try:
        graph.close()
    except Exception as exc:
        return fail("error", len(steps), exc)
    return result


def main() -> None:
    """Answers every example line on stdin with a result line on stdout."""
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(run_example(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
