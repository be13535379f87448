"""Drawing: DetectionsToRenderData, LandmarksToRenderData and AnnotationOverlay."""

from __future__ import annotations

import numpy as np
import pytest

from calculators.util.render import draw, landmarks_render_data
from graphflow.formats import Detection, NormalizedLandmarkList, RenderData, RenderRect
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph


def test_draw_rect_outline_only() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    draw(image, RenderData((RenderRect(0.25, 0.25, 0.75, 0.75, color=(0, 255, 0)),)))
    assert image[25, 100, 1] > 200  # top edge (antialiased)
    assert image[50, 100].tolist() == [0, 0, 0]  # inside stays
    assert image[:, :, 0].max() == 0 and image[:, :, 2].max() == 0


def test_landmark_connections_checked() -> None:
    lm = NormalizedLandmarkList([[0.1, 0.1, 0], [0.9, 0.9, 0]])
    data = landmarks_render_data(lm, [0, 1], (255, 0, 0), (0, 0, 255), 1.0)
    assert len(data.annotations) == 2
    with pytest.raises(ValueError, match="landmark 5"):
        landmarks_render_data(lm, [0, 5], (255, 0, 0), (0, 0, 255), 1.0)


def test_overlay_draws_on_a_copy_and_passes_frames_without_data() -> None:
    pixels = np.full((60, 80, 3), 10, np.uint8)
    frame = ImageFrame(pixels)
    det = Detection(0.25, 0.25, 0.5, 0.5, np.array([[0.5, 0.5]], np.float32), 0.9)
    out = run_graph("""
input_stream: "video"
input_stream: "dets"
output_stream: "annotated"
node { calculator: "DetectionsToRenderDataCalculator" input_stream: "DETECTIONS:dets"
  output_stream: "RENDER_DATA:rd" options { [mediapipe.DetectionsToRenderDataCalculatorOptions.ext]
  { color { r: 255 g: 0 b: 0 } thickness: 2 } } }
node { calculator: "AnnotationOverlayCalculator" input_stream: "IMAGE:video" input_stream: "rd"
  output_stream: "IMAGE:annotated" }
""", inputs={"video": [(0, frame), (1, frame)], "dets": [(0, [det])]})
    first, second = (p.payload for p in out["annotated"])
    assert np.asarray(first)[15, 40, 0] > 200 and np.asarray(first)[15, 40, 1] < 20
    assert np.asarray(first)[30, 40, 0] > 200  # the keypoint dot
    assert second is frame  # nothing to draw: the frame itself
    assert (pixels == 10).all()
