"""ImagePropertiesCalculator and ToImageCalculator."""

from __future__ import annotations

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.image_frame import ImageFrame


def _image(cc: CalculatorContext, tag: str) -> ImageFrame | None:
    image = cc.inputs[tag].get()
    if image is not None and not isinstance(image, ImageFrame):
        raise TypeError(f"{tag} must be an ImageFrame, got {type(image).__name__}")
    return image


@register_calculator
class ImagePropertiesCalculator(Calculator):
    """Outputs ``SIZE``: the image's ``(width, height)``."""

    inputs = (Port("IMAGE", ImageFrame, optional=True), Port("IMAGE_CPU", ImageFrame,
                                                              optional=True))
    outputs = (Port("SIZE", tuple, doc="(width, height)"),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        tag = "IMAGE" if cc.inputs.connected("IMAGE") else "IMAGE_CPU"
        image = _image(cc, tag)
        if image is not None:
            cc.outputs["SIZE"].add((image.width, image.height))


@register_calculator
class ToImageCalculator(Calculator):
    """Passes a CPU image through: graphflow's ``Image`` is the ``ImageFrame`` itself."""

    inputs = (Port("IMAGE", ImageFrame, optional=True), Port("IMAGE_CPU", ImageFrame,
                                                              optional=True))
    outputs = (Port("IMAGE", ImageFrame),)
    timestamp_offset = 0

    def process(self, cc: CalculatorContext) -> None:
        tag = "IMAGE" if cc.inputs.connected("IMAGE") else "IMAGE_CPU"
        image = _image(cc, tag)
        if image is not None:
            cc.outputs["IMAGE"].add(image)
