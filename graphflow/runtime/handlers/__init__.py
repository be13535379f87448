"""Input stream handlers: one small registered class per module, as MediaPipe has them.

``DefaultInputStreamHandler`` (timestamp-aligned sets), ``ImmediateInputStreamHandler`` (each
packet as it comes), ``SyncSetInputStreamHandler`` (alignment within sets of streams),
``FixedSizeInputStreamHandler`` (drops the oldest queued packets) and
``EarlyCloseInputStreamHandler`` (closes the node once any input has ended). A node's config
names one in ``input_stream_handler``; :func:`register_input_stream_handler` adds another.
"""

from graphflow.runtime.handlers.base import (
    InputStreamHandler,
    handler_class,
    handler_names,
    register_input_stream_handler,
)
from graphflow.runtime.handlers.default import DefaultInputStreamHandler
from graphflow.runtime.handlers.early_close import EarlyCloseInputStreamHandler
from graphflow.runtime.handlers.fixed_size import FixedSizeInputStreamHandler
from graphflow.runtime.handlers.immediate import ImmediateInputStreamHandler
from graphflow.runtime.handlers.sync_set import SyncSetInputStreamHandler

__all__ = [
    "DefaultInputStreamHandler",
    "EarlyCloseInputStreamHandler",
    "FixedSizeInputStreamHandler",
    "ImmediateInputStreamHandler",
    "InputStreamHandler",
    "SyncSetInputStreamHandler",
    "handler_class",
    "handler_names",
    "register_input_stream_handler",
]
