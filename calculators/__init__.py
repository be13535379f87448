"""graphflow's calculator implementations, by theme (core, image, tensor, util, gpu, io, eymo).

Importing this package imports every module under it, which registers its calculators.
"""

import importlib
import pkgutil

for _module in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
    if not _module.name.rsplit(".", 1)[-1].startswith("_"):
        importlib.import_module(_module.name)
