"""The runtime: what runs a validated graph.

- :mod:`~graphflow.runtime.scheduler`: the coordinator, one object that owns all scheduling
  state behind one lock, and the narrow API the graph uses.
- :mod:`~graphflow.runtime.node`: the run-time state of nodes, their queues, streams and tasks.
- :mod:`~graphflow.runtime.handlers`: input stream handlers, one registered class a module.
- :mod:`~graphflow.runtime.executors`: the thread pool, the caller's thread (synchronous mode),
  external executors (a GL context's thread) and the registry of their kinds.
- :mod:`~graphflow.runtime.clock`: real or simulated time; :mod:`~graphflow.runtime.trace`:
  Chrome traces; :mod:`~graphflow.runtime.errors`: the run's error and its message format.
"""

from graphflow.runtime.clock import Clock, RealClock, SimulationClock
from graphflow.runtime.errors import GraphCancelledError, GraphError
from graphflow.runtime.executors import ExecutorKind, ExternalExecutor, register_executor_kind
from graphflow.runtime.handlers import InputStreamHandler, register_input_stream_handler
from graphflow.runtime.scheduler import Scheduler, default_num_threads

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
