"""JPEG encode/decode for the stream server and sender, through simplejpeg (libjpeg-turbo).

simplejpeg was measured against PyTurboJPEG 1.8 (system libjpeg-turbo 2.1) and OpenCV on
640x480 frames of ``media/demo.mp4`` at quality 80 on this machine: encode 0.68 / 0.72 /
0.64 ms, decode 0.60 / 0.61 / 0.67 ms. They tie within noise; simplejpeg bundles its own
libjpeg-turbo (no system package) and encodes RGB, RGBA and BGR directly, so it is the one used.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import simplejpeg

Colorspace = Literal["RGB", "BGR", "RGBA"]


def encode(image: npt.ArrayLike, quality: int = 80, colorspace: Colorspace = "RGB") -> bytes:
    """Encodes an ``HxWx3`` (RGB or BGR) or ``HxWx4`` (RGBA) uint8 image as a 4:2:0 JPEG.

    Raises:
        ValueError: If the image is not such an array or ``quality`` is not in 1..100.
    """
    arr = np.asarray(image)
    channels = 4 if colorspace == "RGBA" else 3
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != channels:
        raise ValueError(f"JPEG encode: expected an HxWx{channels} uint8 {colorspace} image, got "
                         f"shape {arr.shape} dtype {arr.dtype}")
    check_quality(quality)
    return bytes(simplejpeg.encode_jpeg(np.ascontiguousarray(arr), quality=quality,
                                        colorspace=colorspace, colorsubsampling="420"))


def check_quality(quality: int) -> None:
    """Checks a JPEG quality.

    Raises:
        ValueError: If ``quality`` is not in 1..100.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in 1..100, got {quality}")


def encode_rgb(image: npt.ArrayLike, quality: int = 80) -> bytes:
    """Encodes a frame's pixels, ``HxWx3`` RGB or ``HxWx4`` RGBA (alpha dropped), as a JPEG."""
    arr = np.asarray(image)
    return encode(arr, quality, "RGBA" if arr.ndim == 3 and arr.shape[2] == 4 else "RGB")


DEFAULT_MAX_PIXELS = 4096 * 4096
"""The largest image (width x height) the stream server decodes by default (16.8 MP)."""


def check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    """Refuses an image over the pixel cap before anything is allocated for it.

    Raises:
        ValueError: Naming ``what``, its size and the cap.
    """
    if width * height > max_pixels:
        raise ValueError(f"{what} is {width}x{height} = {width * height} pixels, over the cap "
                         f"of {max_pixels} (--max-pixels)")


def decode(data: bytes, max_pixels: int | None = None) -> npt.NDArray[np.uint8]:
    """Decodes a JPEG into an ``HxWx3`` RGB uint8 array.

    Args:
        data: The JPEG.
        max_pixels: If given, a JPEG whose header claims more pixels is refused undecoded.

    Raises:
        ValueError: If ``data`` is not a decodable JPEG, or is over ``max_pixels``.
    """
    if max_pixels is not None:
        check_pixels(*size(data), max_pixels, f"JPEG of {len(data)} bytes")
    try:
        return simplejpeg.decode_jpeg(data, colorspace="RGB")  # type: ignore[no-any-return]
    except ValueError as exc:
        raise ValueError(f"not a decodable JPEG ({len(data)} bytes): {exc}") from None


def size(data: bytes) -> tuple[int, int]:
    """``(width, height)`` from a JPEG's header, without decoding it.

    Raises:
        ValueError: If ``data`` does not start with a readable JPEG header.
    """
    try:
        height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        raise ValueError(f"not a JPEG ({len(data)} bytes): {exc}") from None
    return int(width), int(height)
