"""The private descriptor pool that holds every graphflow protobuf message.

MediaPipe's Python package registers the same files (``mediapipe/framework/calculator.proto``)
in protobuf's default pool; keeping ours apart lets both be imported in one process.
"""

from google.protobuf import any_pb2, descriptor_pool

POOL = descriptor_pool.DescriptorPool()
POOL.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
