"""Executors: where tasks run. A thread pool, the caller's thread (synchronous mode), or an
external executor such as a GL context's thread; and the registry of external executor kinds.

An executor holds the ready tasks of the nodes assigned to it; the scheduler appends to
``ready`` and calls :meth:`Executor.dispatch` with its lock held. Whoever runs a task calls
``Scheduler.execute`` without the lock, then ``Scheduler.complete`` with it.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from graphflow.runtime.node import INITIAL_COST, Task

if TYPE_CHECKING:
    from graphflow.calculator import Calculator
    from graphflow.runtime.scheduler import Scheduler

# A task expected to run at least this long (seconds) is worth a second pool thread: waking one
# and handing the GIL over costs tens of microseconds on the critical thread, more than a short
# task saves by running beside it.
WAKE_COST = INITIAL_COST
# A task left for a busy thread can still wait behind a call that blocks far longer than its
# node's history promised: idle threads look every IDLE_CHECK seconds and take a ready task
# when every busy thread has been in its current call for STALE seconds.
IDLE_CHECK = 0.01
STALE = 0.002
# Once nothing has run for QUIET seconds, idle threads stop looking and sleep until woken; a task
# then left for a busy thread wakes one of them first.
QUIET = 1.0


class ExternalExecutor(Protocol):
    """An executor owned outside the pool, such as a GL context thread."""

    def submit(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the executor's thread, in submission order, without blocking."""

    def shutdown(self) -> None:
        """Finishes queued work, releases resources and joins the thread."""


@dataclasses.dataclass(frozen=True)
class ExecutorKind:
    """A kind of external executor that nodes name as ``prefix`` or ``prefix:<name>``.

    Attributes:
        prefix: The name's first part (``"gl"``).
        factory: Makes the executor for one full name (one per name and graph run).
        node_executor: For a calculator whose default executor is of this kind: the executor
            name of one node, from the calculator's default and the node's config message (a
            GL node's context comes from its ``GlContextOptions``).
        node_options: The full name of an options message that such nodes may carry besides
            their calculator's own (``"mediapipe.GlContextOptions"``).
    """

    prefix: str
    factory: Callable[[str], ExternalExecutor]
    node_executor: Callable[[str, Any], str | None] | None = None
    node_options: str | None = None


_KINDS: dict[str, ExecutorKind] = {}


def register_executor_kind(kind: ExecutorKind) -> None:
    """Lets nodes run on executors named ``kind.prefix`` or ``kind.prefix:<name>``.

    A layer above the engine registers its kind when imported (``graphflow.gpu`` registers
    ``"gl"``); the calculators that need it import that layer, so the kind is known before
    their nodes are validated.
    """
    _KINDS[kind.prefix] = kind


def executor_kind(name: str | None) -> ExecutorKind | None:
    """The registered kind of an executor name (``"gl:render"`` -> the ``"gl"`` kind)."""
    return _KINDS.get(name.split(":", 1)[0]) if name else None


def node_executor(node: Any, calculator: type[Calculator]) -> str:
    """Which executor a node runs on ("" for the default pool): the one place that decides.

    The node config's ``executor``, else its calculator's default, which an executor kind may
    refine from the node's config (a GL calculator's context name).
    """
    if node.executor:
        return str(node.executor)
    kind = executor_kind(calculator.executor)
    if kind is not None and kind.node_executor is not None:
        return kind.node_executor(str(calculator.executor), node) or ""
    return calculator.executor or ""


class Executor:
    """The ready tasks of the nodes that run on one executor.

    Attributes:
        name: The executor's name (``"default"`` for the graph's pool).
        ready: Tasks ready to run, oldest first (scheduler lock).
        external: The external executor that runs them, if any.
    """

    def __init__(self, name: str, scheduler: Scheduler) -> None:
        # (Set here, not as class attributes: compiled by mypyc, this class's instances would
        # not have them.)
        self.external: ExternalExecutor | None = None
        self.idle = 0  # threads of its own waiting for work (a pool's)
        self.name = name
        self.scheduler = scheduler
        self.ready: collections.deque[Task] = collections.deque()

    def dispatch(self, task: Task) -> None:
        """``task`` was just appended to ``ready`` (lock held): see that it will run. Called
        only for an executor with idle threads or an external one."""

    def start(self) -> None:
        """Starts the executor's threads (no lock held)."""

    def wake_all(self) -> None:
        """Wakes every waiting thread to look at the state again (lock held)."""

    def shutdown(self) -> None:
        """Joins the executor's threads once the run is done (no lock held)."""


class CallerThread(Executor):
    """Synchronous mode: the caller's thread runs the tasks (:func:`run_here`)."""


class ThreadPool(Executor):
    """A pool of threads that share the scheduler lock.

    A pool thread keeps the lock between finishing one task and taking the next, and takes
    the tasks that its own task made ready, so a chain of cheap nodes costs one lock round
    trip per hop and no thread switch. It wakes an idle thread only for a long task
    (:meth:`worth_waking`); idle threads look for tasks left behind a call that blocks. A
    caller blocked in one of the graph's own waits may run some of its tasks meanwhile
    (:meth:`run_while_waiting`), and counts as one of its threads while it does.
    """

    def __init__(self, name: str, scheduler: Scheduler, threads: int) -> None:
        super().__init__(name, scheduler)
        self.cond = threading.Condition(scheduler.lock)  # where sleeping idle threads wait
        self.watch = threading.Condition(scheduler.lock)  # where the watching one waits
        self.threads_wanted = threads
        self.threads: list[threading.Thread] = []
        self.members: set[int] = set()  # its threads' idents
        # Callers running its tasks while they wait: ident -> which tasks each may run.
        self.helpers: dict[int, Callable[[Task], bool]] = {}
        self.sleepers = 0  # idle threads asleep on `cond` and not yet woken
        self.watching = False  # an idle thread looks for stuck tasks (_idle_wait)
        self.started: dict[int, float] = {}  # busy thread -> when its current call began
        # An idle thread was woken to deliver graph inputs (Scheduler._kick) and has not
        # looked yet: it takes the tasks they make ready, no other is woken for them.
        self.kicked = False

    def start(self) -> None:
        for i in range(self.threads_wanted):
            thread = threading.Thread(target=self._work, name=f"graphflow-{self.name}-{i}",
                                      daemon=True)
            self.threads.append(thread)
            thread.start()

    def dispatch(self, task: Task) -> None:
        me = threading.get_ident()
        may_run = self.helpers.get(me)
        if may_run is not None and not may_run(task):
            self.wake_one()  # a task that the waiting caller leaves to the pool's threads
        elif me not in self.members and may_run is None:
            # Work from outside the pool (graph inputs, an external executor's task) wakes a
            # thread for the first ready task; a task that joins others waits for the thread
            # woken for them, which wakes another only by the wake rule (_work), as for a pool
            # thread's own ready tasks: a second thread woken for a short task costs more
            # than it saves.
            if (len(self.ready) == 1 and not self.kicked) or self.worth_waking(task):
                self.wake_one()
        elif len(self.ready) > 1 and self.worth_waking(task):
            # A pool thread takes one ready task next itself: handing a chain's next hop to
            # another thread costs more than running it here.
            self.wake_one()

    def wake_one(self) -> None:
        """Wakes an idle thread (lock held): a sleeping one, so that the watching one goes on
        watching, else the watching one."""
        if self.sleepers:
            self.sleepers -= 1
            self.cond.notify()
        else:
            self.watch.notify()

    def worth_waking(self, task: Task) -> bool:
        """Whether a pool thread that cannot run every ready task itself wakes an idle one.

        ``task`` is the one at issue: the one it starts (leaving the rest) or the one it just
        made ready. Only a long task is worth it (a short one is over before a woken thread
        would hold the GIL), unless every idle thread sleeps: otherwise one of them watches for
        stuck work (:meth:`_idle_wait`).
        """
        return task.node.cost >= WAKE_COST or self.sleepers == self.idle

    def wake_all(self) -> None:
        self.sleepers = 0
        self.cond.notify_all()
        self.watch.notify_all()

    def shutdown(self) -> None:
        for thread in self.threads:
            thread.join()

    def _work(self) -> None:
        scheduler = self.scheduler
        lock = scheduler.lock
        ready = self.ready
        now = scheduler.clock.now
        me = threading.get_ident()
        woken = False  # just back from waiting idle
        with lock:
            self.members.add(me)
            while True:
                task = None
                if ready and not scheduler.paused:
                    task = ready[0] if not (woken and self.helpers) else next(
                        (t for t in ready if not self._left_to_helper(t, now())), None)
                if task is None:
                    if scheduler.done:
                        return
                    self.idle += 1
                    if scheduler.inbox and scheduler.error is None:
                        # Graph inputs came in after the last drain: add_packet reads `idle`
                        # after appending, so either it drains or this thread does.
                        self.idle -= 1
                        scheduler.after_change()
                        continue
                    self._idle_wait()
                    self.idle -= 1
                    woken = True
                    # (One woken to deliver graph inputs, Scheduler._kick, does that next.
                    # If another came first, the next input wakes a thread again.)
                    self.kicked = False
                    continue
                woken = False
                if task is ready[0]:
                    ready.popleft()
                else:
                    ready.remove(task)
                self._run(task, me, now)

    def _run(self, task: Task, me: int, now: Callable[[], float]) -> None:
        """Runs ``task``, just taken from ``ready``, on the calling thread, ``me`` (lock held,
        released while the calculator runs)."""
        scheduler = self.scheduler
        ready = self.ready
        if ready and self.idle and self.worth_waking(task):
            self.wake_one()  # for what is left while this thread is busy
        scheduler.kicked = False
        self.started[me] = now()
        scheduler.lock.release()
        try:
            scheduler.execute(task)
        except BaseException as exc:
            # (A KeyboardInterrupt in a caller that runs tasks while it waits.) The run fails
            # with it rather than keeping the task in flight for ever.
            task.error = exc
            raise
        finally:
            scheduler.lock.acquire()
            del self.started[me]
            scheduler.complete(task)

    def _left_to_helper(self, task: Task, now: float) -> bool:
        """Whether a pool thread just back from waiting idle leaves a short ready task to a
        caller that runs tasks while it waits and may run this one (lock held: the caller is
        in a call): a thread woken for a graph input before the caller came to help would
        otherwise run beside it, for the wake rule's loss. Not once the caller's call has
        lasted STALE seconds (it may block)."""
        return task.node.cost < WAKE_COST and any(
            may_run(task) and now - self.started[helper] < STALE
            for helper, may_run in self.helpers.items())

    def run_while_waiting(self, until: Callable[[], bool], may_run: Callable[[Task], bool],
                          deadline: float | None = None) -> None:
        """Runs ready tasks on the calling thread, which waits in one of the graph's own waits,
        while ``until()`` is false, before ``deadline`` (``time.monotonic()``; None: none) and a
        ready task is one that ``may_run`` allows, the oldest such first (lock held; both are
        called with it). The others are left to the pool's
        threads: ready tasks are independent of one another, so any order is one that the
        pool's threads could have taken them in.

        A caller that waits for the graph's results would otherwise hand each of them over
        twice (waking a pool thread for the first task, being woken for the result), across
        cores on a multi-core machine. While it runs tasks it counts as a pool thread (the
        tasks it makes ready follow the pool's wake rule); when it stops, it wakes an idle
        thread for the ready tasks it leaves.
        """
        scheduler = self.scheduler
        me = threading.get_ident()
        if me in self.members or me in self.helpers:
            return  # a calculator of this graph waiting for it: it is in a call already
        now = scheduler.clock.now
        ready = self.ready
        self.helpers[me] = may_run
        try:
            if scheduler.inbox and scheduler.error is None:
                # Graph inputs that a pool thread was woken to deliver (Scheduler._kick):
                # delivered here, their tasks are ones this caller may run.
                scheduler.after_change()
            while ready and not until() and not scheduler.paused and (
                    deadline is None or time.monotonic() < deadline):
                task = ready[0]
                if may_run(task):
                    ready.popleft()
                else:
                    later = next((t for t in ready if may_run(t)), None)
                    if later is None:
                        break
                    ready.remove(later)
                    task = later
                self._run(task, me, now)
        finally:
            del self.helpers[me]
            if ready and self.idle and not scheduler.paused:
                self.wake_one()

    def _idle_wait(self) -> None:
        """Waits (lock held) until woken, done, or a ready task was left waiting too long.

        One idle thread of the pool watches while anything runs: every IDLE_CHECK seconds it
        looks for a task (or graph inputs) left to a busy thread (see dispatch,
        Scheduler.add_packet) and takes it if every busy thread has been in its call for STALE
        seconds. The other idle threads, and the watcher once nothing has run for QUIET
        seconds, sleep until woken (on a many-core machine, a pool of idle threads polling
        would cost CPU time for nothing).
        """
        scheduler = self.scheduler
        clock = scheduler.clock
        if not self.watching:
            self.watching = True
            try:
                while scheduler.running or clock.now() - scheduler.idle_since < QUIET:
                    if clock.wait(self.watch, IDLE_CHECK) or scheduler.done:
                        return
                    if self.ready or scheduler.inbox:
                        now = clock.now()
                        if all(now - began >= STALE for began in self.started.values()):
                            return
            finally:
                self.watching = False
        self.sleepers += 1  # (whoever wakes it takes it off the count)
        clock.wait(self.cond, None)


class External(Executor):
    """Tasks run by an :class:`ExternalExecutor` (a GL context's thread), one submission each."""

    def __init__(self, name: str, scheduler: Scheduler, external: ExternalExecutor) -> None:
        super().__init__(name, scheduler)
        self.external = self._external = external

    def dispatch(self, task: Task) -> None:
        self._external.submit(self._run_one)

    def _run_one(self) -> None:
        scheduler = self.scheduler
        with scheduler.lock:
            if not self.ready:
                return  # dropped when the run failed or was cancelled
            task = self.ready.popleft()
        scheduler.execute(task)
        with scheduler.lock:
            scheduler.complete(task)

    def shutdown(self) -> None:
        self._external.shutdown()


def run_here(scheduler: Scheduler, until: Callable[[], bool], idle_only: bool = False) -> None:
    """Synchronous mode: runs ready tasks on the calling thread until ``until()`` (no lock
    held; ``until`` is called with it).

    Tasks of external executors still run on their threads; this thread waits for them.
    ``idle_only``: ``until()`` cannot hold while a task is ready or running (it waits for the
    graph to idle or end), so it is asked only once none is.
    """
    lock = scheduler.lock
    with lock:
        while not ((not idle_only or not scheduler.running) and until()):
            task = None
            for executor in scheduler.executors.values():
                if executor.external is None and executor.ready and not scheduler.paused:
                    task = executor.ready.popleft()
                    break
            if task is None:
                if scheduler.running == 0 and not scheduler.unthrottle_if_stalled():
                    return
                scheduler.changed.wait(0.05)
                continue
            lock.release()
            try:
                scheduler.execute(task)
            finally:
                lock.acquire()
            scheduler.complete(task)
