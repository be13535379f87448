"""Tensor calculators: image-to-tensor conversion, inference and tensor decoding."""
