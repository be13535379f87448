"""graphflow.solutions.selfie_segmentation against MediaPipe 0.10.21's SelfieSegmentation."""

from __future__ import annotations

import numpy as np
import pytest
from face_reference import ROOT, SOLUTION_FIXTURES, read_clip, read_rgb

from graphflow.solutions import selfie_segmentation


@pytest.mark.parametrize("model", [0, 1])
def test_masks_match_mediapipe(model: int) -> None:
    """IoU of mask > 0.5 against MediaPipe's at least 0.95 on every image, both models."""
    ref = np.load(SOLUTION_FIXTURES / "selfie_segmentation.npz")
    clip = read_clip(ROOT / "media" / "demo.mp4")
    ious = []
    with selfie_segmentation.SelfieSegmentation(model_selection=model) as segmenter:
        for k, name in enumerate(ref["names"].tolist()):
            if name.startswith("clip:"):
                image = clip[int(name.removeprefix("clip:"))]
            else:
                folder = ROOT / "media" if name == "group.jpg" else ROOT / "media" / "tilted"
                image = read_rgb(folder / name)
            width, height = ref["sizes"][k]
            mask = segmenter.process(image).segmentation_mask
            assert mask.dtype == np.float32 and mask.shape == (height, width)
            assert 0.0 <= mask.min() and mask.max() <= 1.0
            expected = np.unpackbits(ref[f"model{model}_bits"][k])[:width * height] \
                .reshape(height, width).astype(bool)
            ours = mask > 0.5
            ious.append((ours & expected).sum() / (ours | expected).sum())
            assert ref[f"model{model}_area"][k] > 0.1, name  # a person is in every image
    assert min(ious) >= 0.95, ious


def test_model_selection_is_checked() -> None:
    with pytest.raises(ValueError, match=r"model_selection must be 0 \(general\) or 1"):
        selfie_segmentation.SelfieSegmentation(model_selection=3)
