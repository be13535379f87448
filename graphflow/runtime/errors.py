"""The error a failed graph run raises, and the one format of its messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphflow.timestamp import Timestamp

if TYPE_CHECKING:
    from graphflow.config import NodeSpec


class GraphError(RuntimeError):
    """A node failed; the message names the node, method, timestamp and config line."""

    def __init__(self, message: str, node: str | None = None, method: str | None = None,
                 timestamp: Timestamp | None = None) -> None:
        super().__init__(message)
        self.node = node
        self.method = method
        self.timestamp = timestamp


class GraphCancelledError(GraphError):
    """The run was cancelled (MediaPipe's ``Cancelled`` status from ``WaitUntilDone``)."""

    def __init__(self) -> None:
        super().__init__("the graph run was cancelled")


def node_error(spec: NodeSpec, what: str, method: str | None = None,
               timestamp: Timestamp | None = None) -> GraphError:
    """``node 'name' (Calculator) at file:line:col: what`` (:meth:`NodeSpec.describe`)."""
    return GraphError(f"node {spec.describe()}: {what}", spec.name, method, timestamp)
