"""ImagePropertiesCalculator, ToImageCalculator and FromImageCalculator."""

from __future__ import annotations

import numpy as np
import pytest

from graphflow.image_frame import ImageFrame
from graphflow.testing import run_calculator


@pytest.mark.parametrize("tag", ["IMAGE", "IMAGE_CPU"])
def test_size_is_width_then_height(tag: str) -> None:
    frame = ImageFrame(np.zeros((30, 40, 3), np.uint8))
    out = run_calculator("ImagePropertiesCalculator", {tag: [(0, frame), (7, frame)]},
                         outputs=["SIZE"])
    assert [(int(p.timestamp), p.payload) for p in out["SIZE"]] == [(0, (40, 30)), (7, (40, 30))]


def test_to_image_passes_the_frame_itself() -> None:
    frame = ImageFrame(np.zeros((4, 6, 4), np.uint8))
    out = run_calculator("ToImageCalculator", {"IMAGE_CPU": [(3, frame)]}, outputs=["IMAGE"])
    (packet,) = out["IMAGE"]
    assert int(packet.timestamp) == 3 and packet.payload is frame


def test_a_raw_array_is_refused_with_the_port() -> None:
    with pytest.raises(Exception, match="IMAGE must be an ImageFrame, got ndarray"):
        run_calculator("ImagePropertiesCalculator", {"IMAGE": [(0, np.zeros((2, 2, 3)))]},
                       outputs=["SIZE"])


def test_from_image_passes_frames_and_masks_and_refuses_others() -> None:
    frame = ImageFrame(np.zeros((4, 6, 3), np.uint8))
    mask = np.zeros((4, 6), np.float32)
    out = run_calculator("FromImageCalculator", {"IMAGE": [(1, frame), (2, mask)]},
                         outputs=["IMAGE_CPU"])
    assert out["IMAGE_CPU"][0].payload is frame
    np.testing.assert_array_equal(out["IMAGE_CPU"][1].payload, mask)
    with pytest.raises(Exception, match="IMAGE must be an ImageFrame or a mask array, got str"):
        run_calculator("FromImageCalculator", {"IMAGE": [(0, "not an image")]},
                       outputs=["IMAGE_CPU"])
