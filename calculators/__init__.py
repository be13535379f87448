"""graphflow's calculator implementations, by theme (core, image, tensor, util, gpu, io, eymo).

Importing this package imports nothing else: :mod:`calculators.index` lists which module
registers each calculator, and graphflow imports a module when a graph names one of its
calculators (``graphflow.calculator.lookup_calculator``). Regenerate the index after adding a
calculator: ``python scripts/gen_calculator_index.py``.
"""
