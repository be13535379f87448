"""MediaPipe Selfie Segmentation on graphflow: ``SelfieSegmentation(...).process(rgb)``.

Runs MediaPipe's ``selfie_segmentation_cpu.binarypb`` (0.10.21) unmodified: the general model
(``model_selection=0``, 256x256 input) or the landscape one (``model_selection=1``, 256x144,
faster). ``segmentation_mask`` is a float32 ``(height, width)`` array of the image's size: the
probability that each pixel shows a person.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphflow.solutions.solution_base import SolutionBase

_BINARYPB_FILE_PATH = "mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.binarypb"


class SelfieSegmentation(SolutionBase):
    """MediaPipe Selfie Segmentation: a person mask per image.

    Args:
        model_selection: 0 for the general model, 1 for the landscape model.
        synchronous: Run the graph on the caller's thread (True, the default) or on a thread
            pool (False); see `SolutionBase`.

    Raises:
        ValueError: ``model_selection`` is not 0 or 1.
    """

    def __init__(self, model_selection: int = 0, *, synchronous: bool | None = None) -> None:
        if model_selection not in (0, 1):
            raise ValueError(f"model_selection must be 0 (general) or 1 (landscape), got "
                             f"{model_selection!r}")
        super().__init__(_BINARYPB_FILE_PATH, outputs={"segmentation_mask": None},
                         side_inputs={"model_selection": int(model_selection)},
                         synchronous=synchronous)

    def process(self, image: np.ndarray) -> Any:
        """Segments one RGB image.

        Args:
            image: ``HxWx3`` uint8 RGB pixels.

        Returns:
            A named tuple whose ``segmentation_mask`` is a read-only float32 ``(H, W)`` array
            with values in [0, 1].

        Raises:
            ValueError: The image is not a non-empty ``HxWx3`` uint8 array, or the solution is
                closed.
            RuntimeError: The graph failed.
        """
        return super().process(image)
