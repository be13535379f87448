"""SwitchContainer selecting its channel by an ENABLE or SELECT input stream, against MediaPipe.

Each case runs a container of ThresholdingCalculators (channel 0: threshold 0.25, channel 1:
0.75, channel 2: 0.5) on values of 0.5 or 0.6, so that each output flag says which channel
made it, with MediaPipe 0.10.21's result written out (made by
test_recorded_results_are_mediapipes' runner, which checks them against MediaPipe itself).
A selection packet at T applies from the first timestamp after the last input timestamp the
container had seen (MediaPipe's PacketSequencerCalculator): with the default synchronous
selection, to the input at T; with ``async_selection``, to the inputs after those already in.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from differential import Example, MediaPipeRunner, run_graphflow

_CHANNEL = """contained_node {{ calculator: "ThresholdingCalculator" options {{
      [mediapipe.ThresholdingCalculatorOptions.ext] {{ threshold: {} }} }} }}"""


def _graph(selector: str, options: str = "", channels: int = 2,
           more_inputs: str = "") -> str:
    contained = "\n".join(_CHANNEL.format(t) for t in (0.25, 0.75, 0.5)[:channels])
    return f"""
input_stream: "value"
input_stream: "select"
input_stream: "threshold"
node {{
  calculator: "SwitchContainer"
  input_stream: "{selector}:select"
  input_stream: "FLOAT:value"
  {more_inputs}
  output_stream: "FLAG:flag"
  options {{ [mediapipe.SwitchContainerOptions.ext] {{ {options} {contained} }} }}
}}
"""


def _frames(selects: dict[int, Any], kind: str = "int", value: float = 0.5,
            count: int = 6, select_first: bool = True) -> list[list[Any]]:
    """Values at 1..count; a selection packet at each timestamp of ``selects``, before or after
    the value of the same timestamp."""
    steps: list[list[Any]] = []
    for t in range(1, count + 1):
        value_step = ["add", "value", t, "float", value]
        select_steps = [["add", "select", t, kind, selects[t]]] if t in selects else []
        steps += [*select_steps, value_step] if select_first else [value_step, *select_steps]
    return steps


T, F = True, False
CASES: dict[str, tuple[Example, list[tuple[int, bool]]]] = {
    # A selection with every value: channel 0 gives True, channel 1 False.
    "select-every-frame": (Example(_graph("SELECT"), {}, {"flag": "bool"}, _frames(
        {1: 0, 2: 1, 3: 1, 4: 0, 5: 1, 6: 0})),
        [(1, T), (2, F), (3, F), (4, T), (5, F), (6, T)]),
    "select-after-the-value": (Example(_graph("SELECT"), {}, {"flag": "bool"}, _frames(
        {1: 1, 2: 0, 3: 1, 4: 1, 5: 0, 6: 1}, select_first=False)),
        [(1, F), (2, T), (3, F), (4, F), (5, T), (6, F)]),
    "enable-every-frame": (Example(_graph("ENABLE"), {}, {"flag": "bool"}, _frames(
        {1: True, 2: False, 3: True, 4: True, 5: False, 6: False}, kind="bool")),
        [(1, F), (2, T), (3, F), (4, F), (5, T), (6, T)]),
    # Values without a selection wait for the next one, which applies from after the last
    # value before it; closing the selection stream lets the rest through.
    "sparse-selection-then-closed": (Example(_graph("SELECT", "select: 1"), {},
                                             {"flag": "bool"}, [
        ["add", "value", 1, "float", 0.5], ["add", "value", 2, "float", 0.5],
        ["add", "select", 3, "int", 0], ["add", "value", 3, "float", 0.5],
        ["add", "value", 4, "float", 0.5], ["add", "select", 5, "int", 1],
        ["add", "value", 5, "float", 0.5], ["close", "select"],
        ["add", "value", 6, "float", 0.5], ["close", "value"]]),
        [(1, F), (2, F), (3, T), (4, T), (5, F), (6, F)]),
    # Asynchronous selection: a selection applies after the inputs already in, whatever its
    # own timestamp, and inputs do not wait for it.
    "async-selection": (Example(_graph("SELECT", "async_selection: true"), {},
                                {"flag": "bool"}, [
        ["add", "value", 1, "float", 0.5], ["add", "value", 2, "float", 0.5],
        ["add", "select", 1, "int", 1], ["add", "value", 3, "float", 0.5],
        ["add", "value", 4, "float", 0.5], ["add", "select", 2, "int", 0],
        ["add", "value", 5, "float", 0.5], ["add", "select", 3, "int", 0],
        ["add", "value", 6, "float", 0.5]]),
        [(1, T), (2, T), (3, F), (4, F), (5, T), (6, T)]),
    # Three channels by SELECT, starting on the options' channel 2 (threshold 0.5, value 0.6).
    "three-channels": (Example(_graph("SELECT", "select: 2", channels=3), {},
                               {"flag": "bool"}, _frames({2: 1, 4: 2, 5: 0}, value=0.6)),
        [(1, T), (2, F), (3, F), (4, T), (5, T), (6, T)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_selection_by_stream_gives_mediapipes_result(name: str, no_thread_leak: None) -> None:
    example, expected = CASES[name]
    result = run_graphflow(example)
    assert result["outcome"] == "ok", result["message"]
    assert [tuple(p) for p in result["streams"]["flag"]] == expected


@pytest.fixture(scope="module")
def mediapipe(mediapipe_python: pathlib.Path) -> Iterator[MediaPipeRunner]:
    runner = MediaPipeRunner(mediapipe_python)
    yield runner
    runner.close()


def test_recorded_results_are_mediapipes(mediapipe: MediaPipeRunner) -> None:
    results = mediapipe.run_batch(example for example, _ in CASES.values())
    for (name, (_, expected)), theirs in zip(CASES.items(), results, strict=True):
        assert theirs["outcome"] == "ok", (name, theirs["message"])
        assert [tuple(p) for p in theirs["streams"]["flag"]] == expected, name


def test_both_selection_streams_are_rejected_by_both(mediapipe: MediaPipeRunner) -> None:
    graph = _graph("SELECT", more_inputs='input_stream: "ENABLE:threshold"')
    example = Example(graph, {}, {"flag": "bool"}, [])
    assert mediapipe.run(example)["outcome"] == "invalid"
    result = run_graphflow(example)
    assert result["outcome"] == "invalid"
    assert "only one of the input streams ENABLE and SELECT" in result["message"]
