"""ImagePropertiesCalculator, ToImageCalculator and FromImageCalculator."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.image_frame import ImageFrame


def image_frame(payload: Any, tag: str) -> ImageFrame:
    """The payload of a packet on input stream ``tag``, checked to be an ImageFrame.

    Raises:
        TypeError: It is something else (a raw array, a GpuBuffer...); the message names ``tag``.
    """
    if not isinstance(payload, ImageFrame):
        raise TypeError(f"{tag} must be an ImageFrame, got {type(payload).__name__}")
    return payload


# MediaPipe's Image-or-ImageFrame ports: a node connects one of them.
_IMAGE_INPUTS = (Port("IMAGE", ImageFrame, optional=True),
                 Port("IMAGE_CPU", ImageFrame, optional=True))


class _ImageInput(Calculator):
    """A node with MediaPipe's Image-or-ImageFrame input (``IMAGE`` or ``IMAGE_CPU``)."""

    inputs = _IMAGE_INPUTS

    def open(self, cc: CalculatorContext) -> None:
        self.image_tag = "IMAGE" if cc.inputs.connected("IMAGE") else "IMAGE_CPU"

    def image(self, cc: CalculatorContext) -> ImageFrame | None:
        """The image on the connected input (None without a packet)."""
        image = cc.inputs[self.image_tag].get()
        return None if image is None else image_frame(image, self.image_tag)


@register_calculator
class ImagePropertiesCalculator(_ImageInput):
    """Outputs ``SIZE``: the image's ``(width, height)``."""

    outputs = (Port("SIZE", tuple, doc="(width, height)"),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        image = self.image(cc)
        if image is not None:
            cc.outputs["SIZE"].add((image.width, image.height))


@register_calculator
class ToImageCalculator(_ImageInput):
    """Passes a CPU image through: graphflow's ``Image`` is the ``ImageFrame`` itself."""

    outputs = (Port("IMAGE", ImageFrame),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        image = self.image(cc)
        if image is not None:
            cc.outputs["IMAGE"].add(image)


@register_calculator
class FromImageCalculator(Calculator):
    """Passes a CPU image through as ``IMAGE_CPU``: an ImageFrame, or a float32 mask array
    (MediaPipe's VEC32F1 image, as TensorsToSegmentationCalculator gives it)."""

    inputs = (Port("IMAGE", object),)
    outputs = (Port("IMAGE_CPU", object),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        packet = cc.inputs["IMAGE"]
        if packet.is_empty:
            return
        if not isinstance(packet.payload, (ImageFrame, np.ndarray)):
            raise TypeError(f"IMAGE must be an ImageFrame or a mask array, got "
                            f"{type(packet.payload).__name__}")
        cc.outputs["IMAGE_CPU"].add_packet(packet)
