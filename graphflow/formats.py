"""Packet payload types of the vision calculators: MediaPipe's formats as light numpy types.

MediaPipe carries detections, rectangles and landmarks as protobuf messages; graphflow carries
small immutable Python objects backed by numpy arrays, with MediaPipe's field names:

- :class:`Detection`: a relative bounding box, keypoints, a score and a label id.
- :class:`NormalizedRect` / :class:`Rect`: a rotated rectangle in normalized / pixel units.
- :class:`NormalizedLandmarkList` / :class:`LandmarkList`: ``np.asarray(landmarks)`` is an
  ``(N, 3)`` float32 array of x, y, z.
- :class:`RenderData`: drawing primitives for ``AnnotationOverlayCalculator``.

Tensor lists (MediaPipe's ``std::vector<Tensor>``) are Python lists of numpy arrays.

Example:
    >>> lm = NormalizedLandmarkList([[0.5, 0.5, 0.0], [0.6, 0.4, 0.01]])
    >>> np.asarray(lm).shape
    (2, 3)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def _readonly_f32(values: npt.ArrayLike, shape_tail: tuple[int, ...], what: str) -> FloatArray:
    """``values`` as a read-only float32 array shaped ``(-1, *shape_tail)``.

    A read-only float32 array is taken as it is (read-only views are how packets share arrays);
    anything else is copied.
    """
    if isinstance(values, np.ndarray) and values.dtype == np.float32 and \
            not values.flags.writeable:
        arr = values
    else:
        arr = np.array(values, dtype=np.float32)
    if arr.size == 0:
        arr = arr.reshape((0, *shape_tail))
    if arr.ndim != 1 + len(shape_tail) or arr.shape[1:] != shape_tail:
        raise ValueError(f"{what} must have shape (N, {', '.join(map(str, shape_tail))}), "
                         f"got {arr.shape}")
    arr.flags.writeable = False
    return arr


@dataclasses.dataclass(frozen=True, eq=False)
class Detection:
    """One detected object: MediaPipe's ``Detection`` with a ``RELATIVE_BOUNDING_BOX``.

    Attributes:
        xmin: Left edge of the box, normalized by the image width.
        ymin: Top edge, normalized by the image height.
        width: Box width, normalized.
        height: Box height, normalized.
        keypoints: ``(K, 2)`` float32 relative keypoints (x, y).
        score: Confidence in [0, 1].
        label_id: Class id.
    """

    xmin: float
    ymin: float
    width: float
    height: float
    keypoints: FloatArray = dataclasses.field(
        default_factory=lambda: _readonly_f32([], (2,), "keypoints"))
    score: float = 0.0
    label_id: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "keypoints", _readonly_f32(self.keypoints, (2,), "keypoints"))

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``(xmin, ymin, width, height)``."""
        return (self.xmin, self.ymin, self.width, self.height)

    @classmethod
    def from_decoded(cls, xmin: float, ymin: float, width: float, height: float,
                     keypoints: FloatArray, score: float, label_id: int) -> Detection:
        """A detection from fields a decoder has already made valid, taken as they are.

        For calculators that make several detections a frame from one array (the constructor's
        checks cost 5x the object): ``keypoints`` must be a read-only float32 ``(K, 2)`` array
        and the other fields Python floats and an int; nothing is checked.
        """
        detection = object.__new__(cls)
        detection.__dict__.update(xmin=xmin, ymin=ymin, width=width, height=height,
                                  keypoints=keypoints, score=score, label_id=label_id)
        return detection

    def replace(self, **changes: Any) -> Detection:
        """A copy with some fields changed.

        Copies the fields as they are and checks only new keypoints: the detection calculators
        call it per detection per frame, and ``dataclasses.replace`` (every field through
        ``__init__``) cost 2x a construction.

        Raises:
            TypeError: A name in ``changes`` is not a field.
        """
        unknown = changes.keys() - _DETECTION_FIELDS
        if unknown:
            raise TypeError(f"Detection has no field(s) {sorted(unknown)}")
        copy = object.__new__(Detection)
        fields = copy.__dict__
        fields.update(self.__dict__)
        fields.update(changes)
        if "keypoints" in changes:
            fields["keypoints"] = _readonly_f32(changes["keypoints"], (2,), "keypoints")
        return copy


_DETECTION_FIELDS = frozenset(field.name for field in dataclasses.fields(Detection))


@dataclasses.dataclass(frozen=True)
class NormalizedRect:
    """A rotated rectangle in normalized image coordinates (MediaPipe's ``NormalizedRect``).

    Attributes:
        x_center: Center x in [0, 1] of the image width.
        y_center: Center y in [0, 1] of the image height.
        width: Width relative to the image width.
        height: Height relative to the image height.
        rotation: Clockwise rotation in radians (image y points down).
        rect_id: An optional id, kept by association across frames.
    """

    x_center: float
    y_center: float
    width: float
    height: float
    rotation: float = 0.0
    rect_id: int = 0


@dataclasses.dataclass(frozen=True)
class Rect:
    """A rotated rectangle in pixels (MediaPipe's ``Rect``)."""

    x_center: int
    y_center: int
    width: int
    height: int
    rotation: float = 0.0
    rect_id: int = 0


class Landmark(NamedTuple):
    """One landmark, as indexing a landmark list gives it."""

    x: float
    y: float
    z: float


class _LandmarkListBase:
    """An immutable ``(N, 3)`` float32 array of landmarks with optional visibility/presence."""

    __slots__ = ("_presence", "_visibility", "_xyz")

    def __init__(self, xyz: npt.ArrayLike, visibility: npt.ArrayLike | None = None,
                 presence: npt.ArrayLike | None = None) -> None:
        self._xyz = _readonly_f32(xyz, (3,), f"{type(self).__name__} landmarks")
        self._visibility = self._per_landmark(visibility, "visibility")
        self._presence = self._per_landmark(presence, "presence")

    def _per_landmark(self, values: npt.ArrayLike | None, what: str) -> FloatArray | None:
        if values is None:
            return None
        arr = np.array(values, dtype=np.float32).reshape(-1)
        if arr.shape[0] != self._xyz.shape[0]:
            raise ValueError(f"{what} needs one value per landmark ({self._xyz.shape[0]}), "
                             f"got {arr.shape[0]}")
        arr.flags.writeable = False
        return arr

    @property
    def xyz(self) -> FloatArray:
        """The read-only ``(N, 3)`` float32 array."""
        return self._xyz

    @property
    def visibility(self) -> FloatArray | None:
        """Per-landmark visibility, if the model gives it."""
        return self._visibility

    @property
    def presence(self) -> FloatArray | None:
        """Per-landmark presence, if the model gives it."""
        return self._presence

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> npt.NDArray[Any]:
        if copy:
            return np.array(self._xyz, dtype=dtype)
        return self._xyz if dtype is None else self._xyz.astype(dtype, copy=False)

    def __len__(self) -> int:
        return int(self._xyz.shape[0])

    def __getitem__(self, index: int) -> Landmark:
        x, y, z = self._xyz[index]
        return Landmark(float(x), float(y), float(z))

    def __iter__(self) -> Iterator[Landmark]:
        return (Landmark(float(x), float(y), float(z)) for x, y, z in self._xyz)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} landmarks)"


class NormalizedLandmarkList(_LandmarkListBase):
    """Landmarks in normalized image coordinates: x, y in [0, 1], z in the scale of x.

    Args:
        xyz: ``(N, 3)`` array-like of x, y, z.
        visibility: Optional ``N`` visibility values.
        presence: Optional ``N`` presence values.
    """

    __slots__ = ()


class LandmarkList(_LandmarkListBase):
    """Landmarks in absolute units (pixels or metres), MediaPipe's ``LandmarkList``."""

    __slots__ = ()


Color = tuple[int, int, int]


@dataclasses.dataclass(frozen=True, eq=False)
class RenderPoints:
    """Filled dots at normalized ``(N, 2)`` positions."""

    points: FloatArray
    color: Color = (255, 0, 0)
    thickness: float = 1.0


@dataclasses.dataclass(frozen=True, eq=False)
class RenderLines:
    """Line segments: a normalized ``(M, 2, 2)`` array of ``(start, end)`` points."""

    segments: FloatArray
    color: Color = (255, 0, 0)
    thickness: float = 1.0


@dataclasses.dataclass(frozen=True)
class RenderRect:
    """A rectangle outline in normalized coordinates, rotated about its center (radians)."""

    left: float
    top: float
    right: float
    bottom: float
    rotation: float = 0.0
    color: Color = (255, 0, 0)
    thickness: float = 1.0


RenderAnnotation = RenderPoints | RenderLines | RenderRect


@dataclasses.dataclass(frozen=True)
class RenderData:
    """What to draw over an image (MediaPipe's ``RenderData``), in normalized coordinates."""

    annotations: tuple[RenderAnnotation, ...] = ()


__all__ = [
    "Color",
    "Detection",
    "Landmark",
    "LandmarkList",
    "NormalizedLandmarkList",
    "NormalizedRect",
    "Rect",
    "RenderAnnotation",
    "RenderData",
    "RenderLines",
    "RenderPoints",
    "RenderRect",
]
