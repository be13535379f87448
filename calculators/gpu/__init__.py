"""GPU calculators: ImageFrame <-> GpuBuffer converters, a window sink, a virtual camera sink."""
