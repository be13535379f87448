"""graphflow against MediaPipe 0.10.21 on random graphs (see differential.py for the rules).

CI runs GRAPHFLOW_FUZZ_EXAMPLES examples (default 300) from seed GRAPHFLOW_FUZZ_SEED (default
0); ``make fuzz`` runs 10,000. A divergence fails with hypothesis' shrunk example; turn it into an
ordinary test in test_regressions.py (with MediaPipe's result written out) once understood.
"""

from __future__ import annotations

import collections
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from differential import (
    Example,
    MediaPipeRunner,
    divergence,
    examples,
    graphs,
    run_graphflow,
)
from hypothesis import HealthCheck, Phase, given, seed, settings

EXAMPLES = int(os.environ.get("GRAPHFLOW_FUZZ_EXAMPLES", "300"))
SEED = int(os.environ.get("GRAPHFLOW_FUZZ_SEED", "0"))
# Discarding racy graphs is the generator's job (a filter), not a health problem.
_SETTINGS = settings(database=None, deadline=None,
                     suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def mediapipe(mediapipe_python: pathlib.Path) -> Iterator[MediaPipeRunner]:
    """One MediaPipe process for the module's examples."""
    runner = MediaPipeRunner(mediapipe_python)
    yield runner
    runner.close()


_outcomes: collections.Counter[str] = collections.Counter()


@pytest.mark.timeout(600 + EXAMPLES // 10)  # shrinking a divergence takes a few minutes
@seed(SEED)
@settings(_SETTINGS, max_examples=EXAMPLES)
@given(example=examples())
def test_graphflow_matches_mediapipe(mediapipe: MediaPipeRunner, example: Example) -> None:
    theirs = mediapipe.run(example)
    assert theirs["outcome"] not in ("crash", "hang"), \
        f"MediaPipe {theirs['outcome']}: {theirs.get('message')}"
    ours = run_graphflow(example)
    _outcomes[theirs["outcome"]] += 1
    difference = divergence(example, ours, theirs)
    assert difference is None, difference


def test_the_examples_ran_graphs() -> None:
    """The examples above were mostly graphs that ran, not configs both engines reject."""
    if not _outcomes:
        pytest.skip("test_graphflow_matches_mediapipe did not run")
    assert _outcomes["ok"] >= 0.7 * sum(_outcomes.values()), dict(_outcomes)


def test_the_generator_uses_every_calculator_and_handler() -> None:
    """Over a few hundred graphs, every calculator and input stream handler turns up."""
    seen: collections.Counter[str] = collections.Counter()

    @seed(SEED)
    @settings(_SETTINGS, max_examples=300, phases=[Phase.generate])
    @given(graph=graphs())
    def collect(graph: Any) -> None:
        for node in graph.nodes:
            seen[node.calculator] += 1
            seen[node.effective_handler()] += 1
            seen["back edge"] += len(node.back_edges)

    collect()
    wanted = {"PassThroughCalculator", "GateCalculator", "MergeCalculator",
              "PacketPresenceCalculator", "PreviousLoopbackCalculator", "FlowLimiterCalculator",
              "SidePacketToStreamCalculator", "ConstantSidePacketCalculator",
              "BeginLoopFloatCalculator", "EndLoopFloatCalculator", "DefaultInputStreamHandler",
              "ImmediateInputStreamHandler", "FixedSizeInputStreamHandler", "back edge"}
    assert wanted <= set(seen), wanted - set(seen)


def test_a_divergence_is_reported(mediapipe: MediaPipeRunner) -> None:
    """The comparison fails when the engines differ: a graph MediaPipe rejects (a cycle without
    back_edge is an error in both) but whose streams are compared as if it ran."""
    example = Example('input_stream: "in"\nnode { calculator: "PassThroughCalculator" '
                      'input_stream: "in" output_stream: "out" }\n', {}, {"out": "int"},
                      [["add", "in", 1, "int", 5], ["close", "in"]])
    theirs = mediapipe.run(example)
    assert theirs["outcome"] == "ok" and theirs["streams"] == {"out": [[1, 5]]}
    ours = run_graphflow(example)
    assert divergence(example, ours, theirs) is None
    ours["streams"]["out"][0][1] = 6
    assert "stream 'out'" in str(divergence(example, ours, theirs))
    assert "outcome" in str(divergence(example, {**ours, "outcome": "error"}, theirs))

