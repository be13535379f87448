"""ImageFrame <-> GpuBuffer converters in graphs."""

import numpy as np
import pytest

from graphflow.gpu import GlContext, GpuBuffer
from graphflow.gpu.transfer import TRANSFER_ENV
from graphflow.image_frame import ImageFrame
from graphflow.testing import run_graph

ROUND_TRIP = """
input_stream: "in"
output_stream: "gpu"
output_stream: "out"
node { calculator: "ImageFrameToGpuBufferCalculator" input_stream: "in" output_stream: "gpu" }
node { calculator: "GpuBufferToImageFrameCalculator" input_stream: "gpu" output_stream: "out" }
"""


@pytest.mark.parametrize("transfers", ["direct", "mapped"])
@pytest.mark.parametrize(("h", "w", "channels"), [(1, 1, 3), (7, 13, 3), (31, 9, 4)])
def test_round_trip_gives_rgba_with_the_same_pixels(
        monkeypatch: pytest.MonkeyPatch, transfers: str, h: int, w: int, channels: int) -> None:
    monkeypatch.setenv(TRANSFER_ENV, transfers)
    frames = [np.random.default_rng(i).integers(0, 256, (h, w, channels), np.uint8)
              for i in range(3)]
    images = [ImageFrame(f) for f in frames]
    out = run_graph(ROUND_TRIP, inputs={"in": list(enumerate(images))})
    assert [int(p.timestamp) for p in out["out"]] == [0, 1, 2]
    for packet in out["gpu"]:
        assert isinstance(packet.payload, GpuBuffer)
        assert packet.payload.size == (w, h)
    for packet, frame in zip(out["out"], frames, strict=True):
        result = np.asarray(packet.payload)
        assert packet.payload.format == "SRGBA"
        np.testing.assert_array_equal(result[..., :channels], frame)
        if channels == 3:
            assert (result[..., 3] == 255).all()
    # An SRGBA frame reads back as itself (the buffer holds the same pixels); an SRGB one is
    # read from the texture, or, on a software renderer with its direct transfers, goes on as
    # it is in a deferred buffer and is widened by the readback. Mapped transfers (forced on
    # llvmpipe: a GPU's path) widen it straight into the upload's mapped buffer.
    probe = GlContext("probe")
    software = probe.run(lambda: probe.software and probe.transfers.name == "direct")
    probe.shutdown()
    assert [p.payload is image for p, image in zip(out["out"], images, strict=True)] == \
        [channels == 4] * 3
    assert [p.payload.is_deferred for p in out["gpu"]] == [software] * 3
    for gpu, image in zip(out["gpu"], images, strict=True):
        if channels == 4 or software:
            assert gpu.payload.frame is image
        else:
            assert gpu.payload.frame is None


def test_an_image_frame_passes_through_the_readback_converter() -> None:
    frame = ImageFrame(np.zeros((2, 3, 3), np.uint8))
    out = run_graph("""
        input_stream: "in"
        output_stream: "out"
        node { calculator: "GpuBufferToImageFrameCalculator" input_stream: "in"
               output_stream: "out" }
    """, inputs={"in": [(5, frame)]})
    assert [p.payload for p in out["out"]] == [frame]
