"""Protobuf schemas (MediaPipe-compatible) in graphflow's private descriptor pool."""
