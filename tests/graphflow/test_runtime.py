"""The runtime's parts on their own: the simulation clock and external executor kinds."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import graphflow as gf
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.runtime import ExecutorKind, SimulationClock, register_executor_kind
from graphflow.testing import payloads, run_graph

pytestmark = pytest.mark.usefixtures("no_thread_leak")

WAIT = 30.0  # seconds: a guard against hangs, never a timing assertion


def _waiting_thread(clock: SimulationClock, cond: threading.Condition, timeout: float,
                    results: list[bool]) -> threading.Thread:
    started = threading.Event()

    def wait() -> None:
        with cond:
            started.set()
            results.append(clock.wait(cond, timeout))

    thread = threading.Thread(target=wait)
    thread.start()
    assert started.wait(WAIT)
    with cond:  # the lock is free again once the thread waits (its wait is registered)
        pass
    return thread


def test_a_timed_wait_ends_when_simulated_time_passes_its_deadline() -> None:
    clock = SimulationClock()
    cond = threading.Condition()
    results: list[bool] = []
    thread = _waiting_thread(clock, cond, 1.0, results)
    clock.advance(0.5)
    assert results == [] and thread.is_alive()  # half way: still waiting
    clock.advance(0.5)  # returns once the wait has resumed
    assert results == [False]
    assert clock.now() == 1.0
    thread.join(WAIT)


def test_a_notified_wait_reports_the_notify() -> None:
    clock = SimulationClock()
    cond = threading.Condition()
    results: list[bool] = []
    thread = _waiting_thread(clock, cond, 1.0, results)
    with cond:
        cond.notify()
    thread.join(WAIT)
    assert results == [True]
    clock.advance(2.0)  # nothing waits any more: returns at once
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1.0)


class _QueueThread:
    """An external executor: one thread that runs what is submitted, in order."""

    made: ClassVar[list[str]] = []

    def __init__(self, name: str) -> None:
        self.tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name=f"gftest-{name}")
        self.thread.start()
        self.made.append(name)

    def _run(self) -> None:
        while (fn := self.tasks.get()) is not None:
            fn()

    def submit(self, fn: Callable[[], None]) -> None:
        self.tasks.put(fn)

    def shutdown(self) -> None:
        self.tasks.put(None)
        self.thread.join()


def _by_side_name(calculator_executor: str, node: Any) -> str:
    """This kind's rule: a node of a calculator whose default is "gftest" runs on
    "gftest:<its first side packet's name>"."""
    return f"{calculator_executor}:{node.input_side_packet[0].split(':')[-1]}"


register_executor_kind(ExecutorKind("gftest", _QueueThread, _by_side_name))


@register_calculator
class GfTThreadNameCalculator(Calculator):
    """Outputs the name of the thread it runs on, on the executor kind registered here."""

    inputs = (Port(""),)
    outputs = (Port(""),)
    input_side_packets = (Port("ANY", optional=True),)
    executor = "gftest"

    def process(self, cc: CalculatorContext) -> None:
        cc.outputs[0].add(threading.current_thread().name)


def test_an_external_executor_kind_runs_its_nodes_on_its_executors() -> None:
    _QueueThread.made.clear()
    out = run_graph("""
        input_stream: "in"
        output_stream: "a"
        output_stream: "b"
        output_stream: "c"
        node { calculator: "GfTThreadNameCalculator" input_stream: "in" output_stream: "a"
               input_side_packet: "ANY:left" }
        node { calculator: "GfTThreadNameCalculator" input_stream: "in" output_stream: "b"
               input_side_packet: "ANY:right" }
        node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "c"
               executor: "gftest:other" }
    """, inputs={"in": [(0, 0), (1, 1)]}, side_packets={"left": 1, "right": 2})
    assert payloads(out["a"]) == ["gftest-gftest:left"] * 2  # the kind's rule picked these
    assert payloads(out["b"]) == ["gftest-gftest:right"] * 2
    assert payloads(out["c"]) == [0, 1]  # a node's config may name one, undeclared
    assert sorted(_QueueThread.made) == ["gftest:left", "gftest:other", "gftest:right"]


def test_an_executor_of_no_registered_kind_must_be_declared() -> None:
    with pytest.raises(gf.ConfigError, match="executor 'nokind:x' is not declared"):
        gf.CalculatorGraph("""
            input_stream: "in"
            node { calculator: "PassThroughCalculator" input_stream: "in" output_stream: "o"
                   executor: "nokind:x" }""")
