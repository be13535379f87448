"""The logistic function the tensor decoders apply to raw model outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def sigmoid(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``1 / (1 + exp(-values))`` in the dtype of ``values``.

    Very negative logits overflow ``exp`` to infinity, which correctly gives 0; the overflow is
    not warned about.
    """
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-values))
