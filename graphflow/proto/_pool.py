"""The private descriptor pool that holds every graphflow protobuf message.

MediaPipe's Python package registers the same files (``mediapipe/framework/calculator.proto``)
in protobuf's default pool; keeping ours apart lets both be imported in one process.
"""

import functools
import importlib
import pkgutil

from google.protobuf import any_pb2, descriptor_pool

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)


@functools.cache
def load_all_messages() -> None:
    """Imports every generated module, so that all options types and extensions are in POOL.

    Parsing a config whose options name a message not yet imported would fail (text) or
    silently drop the options (binary).
    """
    import graphflow.proto.mediapipe as root

    for module in pkgutil.walk_packages(root.__path__, prefix=f"{root.__name__}."):
        if module.name.endswith("_pb2"):
            importlib.import_module(module.name)
