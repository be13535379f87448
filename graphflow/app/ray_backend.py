"""Running graphflow work on a Ray cluster: batch jobs as Ray tasks, stream graphs as Ray actors.

Ray is an optional dependency (``pip install graphflow[ray]``); this module imports it on use.
Every node of the cluster needs graphflow installed, and batch inputs and outputs must be at the
same paths on every node (a shared file system), since tasks open files by name.

Example:
    from graphflow.app import ray_backend
    ray_backend.connect("")                 # RAY_ADDRESS, or a new local cluster
    results = ray_backend.run_jobs(jobs, "", None, print)
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from graphflow.app.batch import BatchJob, FileResult, run_job

logger = logging.getLogger(__name__)

TASK_RETRIES = 1
"""Times Ray re-runs a batch task whose worker process or node died."""


def require_ray() -> Any:
    """The ``ray`` module.

    Raises:
        ImportError: If Ray is not installed, saying how to install it.
    """
    try:
        import ray
    except ImportError:
        raise ImportError("Ray is not installed: pip install 'graphflow[ray]' "
                          "(or pip install ray)") from None
    return ray


def connect(address: str) -> Any:
    """Connects this process to a Ray cluster unless it already is.

    Args:
        address: ``host:port`` of a running cluster's head (``ray start --head`` prints it),
            ``"auto"`` for one running on this machine, or ``""`` for the cluster named by
            ``RAY_ADDRESS`` or else a new local one that ends with this process.

    Returns:
        The ``ray`` module.
    """
    ray = require_ray()
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS") or None
        logger.info("connecting to Ray at %s", target or "a new local cluster")
        ray.init(address=target, include_dashboard=False, configure_logging=False,
                 log_to_driver=False)
    return ray


def cluster_cpus() -> int:
    """The CPUs of the connected cluster."""
    ray = require_ray()
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_jobs(jobs: Sequence[BatchJob], address: str, in_flight: int | None,
             on_result: Callable[[FileResult], None]) -> list[FileResult]:
    """Runs batch jobs as Ray tasks (one CPU each), at most ``in_flight`` at once.

    A task whose worker died is retried once by Ray; if it dies again its file fails. Results
    come back in job order; ``on_result`` sees each as it completes.
    """
    ray = connect(address)
    task = ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(run_job)
    limit = in_flight or cluster_cpus()
    results: dict[int, FileResult] = {}
    waiting = list(range(len(jobs)))
    running: dict[Any, int] = {}
    while waiting or running:
        while waiting and len(running) < limit:
            index = waiting.pop(0)
            running[task.remote(jobs[index])] = index
        ready, _ = ray.wait(list(running), num_returns=1)
        index = running.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except ray.exceptions.RayError as exc:
            job = jobs[index]
            result = FileResult(job.source, job.output, "failed",
                                error=f"the Ray task failed: {type(exc).__name__}: {exc}")
        results[index] = result
        on_result(result)
    return [results[i] for i in range(len(jobs))]


def actor_class(cls: type, max_restarts: int) -> Any:
    """``cls`` as a Ray actor class that Ray restarts up to ``max_restarts`` times.

    Actors reserve no CPU (a stream's graph mostly waits for frames) and are spread over the
    cluster's nodes; a restarted actor runs ``cls.__init__`` again with the same arguments.
    """
    ray = require_ray()
    return ray.remote(cls).options(num_cpus=0, max_restarts=max_restarts, max_task_retries=0,
                                   scheduling_strategy="SPREAD")


def is_actor_lost(exc: BaseException) -> bool:
    """True if a call failed because its actor died or is restarting (not because of the call)."""
    ray = require_ray()
    return isinstance(exc, (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError))


def kill_actor(handle: Any) -> None:
    """Ends an actor for good (no restart)."""
    ray = require_ray()
    ray.kill(handle, no_restart=True)
