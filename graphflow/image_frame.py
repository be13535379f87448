"""ImageFrame: an immutable CPU image (HxWx3 RGB or HxWx4 RGBA, uint8)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from graphflow.packet import _frozen


class ImageFrame:
    """A CPU image packet payload, MediaPipe's ``ImageFrame``.

    Wraps an ``HxWx3`` (SRGB) or ``HxWx4`` (SRGBA) ``uint8`` array without copying; the array
    is made read-only. ``np.asarray(frame)`` gives it back.

    Args:
        array: The pixels, rows top to bottom, RGB(A) channel order.

    Raises:
        ValueError: If the array is not HxWx3 or HxWx4 uint8, or is empty.
    """

    __slots__ = ("_array",)

    def __init__(self, array: npt.ArrayLike) -> None:
        arr = np.asarray(array)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(
                "ImageFrame needs an HxWx3 (RGB) or HxWx4 (RGBA) uint8 array, got "
                f"shape {arr.shape} dtype {arr.dtype}"
            )
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"ImageFrame needs a non-empty image, got shape {arr.shape}")
        self._array = _frozen(arr)

    @property
    def width(self) -> int:
        """Width in pixels."""
        return int(self._array.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels."""
        return int(self._array.shape[0])

    @property
    def channels(self) -> int:
        """3 (SRGB) or 4 (SRGBA)."""
        return int(self._array.shape[2])

    @property
    def format(self) -> str:
        """``"SRGB"`` or ``"SRGBA"`` (MediaPipe's ImageFormat names)."""
        return "SRGB" if self.channels == 3 else "SRGBA"

    @property
    def array(self) -> npt.NDArray[np.uint8]:
        """The read-only pixel array."""
        return self._array

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        if copy:
            return np.array(self._array, dtype=dtype)
        return self._array if dtype is None else self._array.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"ImageFrame({self.width}x{self.height} {self.format})"
