"""Image calculators: image properties and image type adapters."""
