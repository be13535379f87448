"""The runtime: what runs a validated graph.

- :mod:`~graphflow.runtime.scheduler`: the coordinator, one object that owns all scheduling
  state behind one lock, and the narrow API the graph uses.
- :mod:`~graphflow.runtime.node`: the run-time state of nodes, their queues, streams and tasks.
- :mod:`~graphflow.runtime.handlers`: input stream handlers, one registered class a module.
- :mod:`~graphflow.runtime.executors`: the thread pool, the caller's thread (synchronous mode),
  external executors (a GL context's thread) and the registry of their kinds.
- :mod:`~graphflow.runtime.clock`: real or simulated time; :mod:`~graphflow.runtime.trace`:
  Chrome traces; :mod:`~graphflow.runtime.errors`: the run's error and its message format.

``node`` and ``scheduler`` may run compiled (mypyc, ``scripts/build_native.py``): the hook that
loads the build, only while it matches these sources, goes in before anything imports them
(:mod:`~graphflow.runtime.native`).
"""

from graphflow.runtime import native

native.install()  # before the imports below: they import the modules it may route

from graphflow.runtime.clock import Clock, RealClock, SimulationClock  # noqa: E402
from graphflow.runtime.errors import GraphCancelledError, GraphError  # noqa: E402
from graphflow.runtime.executors import ExecutorKind, ExternalExecutor, register_executor_kind  # noqa: E402
from graphflow.runtime.handlers import InputStreamHandler, register_input_stream_handler  # noqa: E402
from graphflow.runtime.scheduler import Scheduler, default_num_threads  # noqa: E402

__all__ = [
    "Clock",
    "ExecutorKind",
    "ExternalExecutor",
    "GraphCancelledError",
    "GraphError",
    "InputStreamHandler",
    "RealClock",
    "Scheduler",
    "SimulationClock",
    "default_num_threads",
    "register_executor_kind",
    "register_input_stream_handler",
]
