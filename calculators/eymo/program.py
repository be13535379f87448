"""The syntax tree of an eymo script: frozen dataclasses, Program -> Statement -> Shape, ops.

Conventions (the parser checks them, the geometry relies on them):

* Coordinates are pixels with x to the right and y down, except `RectShape`, whose
  values are fractions of the frame (0..1), so a script works at any resolution.
* Angles are degrees, positive counterclockwise as seen on the screen.
* Every shape- and colour-changing operation works about the region's own centre.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

FaceMode = Literal["all", "index", "next", "prev"]
FlipMode = Literal["horizontal", "vertical", "both"]


@dataclasses.dataclass(frozen=True)
class PartShape:
    """A face part, such as `leye`, `mouth#1` or `reye_region+1`.

    Attributes:
        part: The part name (a key of `calculators.eymo.parts.PARTS`).
        mode: `all` (bare name: the current face), `index` (`part#N`: face N, 0 is the
            leftmost), `next` (`part+N`: the face N after the current one) or `prev`
            (`part-N`: the face N before it); `next`/`prev` wrap around the faces.
        n: The number after `#`, `+` or `-`; 0 for a bare name.
    """

    part: str
    mode: FaceMode = "all"
    n: int = 0


@dataclasses.dataclass(frozen=True)
class RectShape:
    """A fixed rectangle `rect(x y w h)`, in fractions of the frame width and height.

    Attributes:
        x: Left edge, 0..1 of the frame width.
        y: Top edge, 0..1 of the frame height.
        w: Width, a fraction of the frame width (> 0).
        h: Height, a fraction of the frame height (> 0).
    """

    x: float
    y: float
    w: float
    h: float


Shape = PartShape | RectShape


@dataclasses.dataclass(frozen=True)
class Scale:
    """Scale the region about its centre by `factor`."""

    factor: float


@dataclasses.dataclass(frozen=True)
class Rotate:
    """Rotate the region about its centre by `degrees` (counterclockwise on screen)."""

    degrees: float


@dataclasses.dataclass(frozen=True)
class Spin:
    """Rotate by `rps` turns per second of packet time (counterclockwise when positive)."""

    rps: float


@dataclasses.dataclass(frozen=True)
class Drift:
    """Move at `speed` pixels per second in direction `angle`, bouncing off the frame edges.

    `angle` is in degrees, counterclockwise from "to the right" (90 moves up).
    """

    speed: float
    angle: float


@dataclasses.dataclass(frozen=True)
class Translate:
    """Move the region by (`x`, `y`) pixels; y grows downwards."""

    x: float
    y: float


@dataclasses.dataclass(frozen=True)
class Flip:
    """Mirror the region about its centre: left-right, top-bottom or both."""

    mode: FlipMode


@dataclasses.dataclass(frozen=True)
class Brighten:
    """Multiply the region's colours by `factor`."""

    factor: float


@dataclasses.dataclass(frozen=True)
class Saturate:
    """Scale the region's colour saturation by `factor` (0 gives grey)."""

    factor: float


@dataclasses.dataclass(frozen=True)
class Channels:
    """Multiply the red, green and blue channels by `r`, `g` and `b`."""

    r: float
    g: float
    b: float


@dataclasses.dataclass(frozen=True)
class CopyTo:
    """Also draw the region, transformed, centred on each of `targets`."""

    targets: tuple[Shape, ...]


@dataclasses.dataclass(frozen=True)
class SwapWith:
    """Draw the region at `target`'s place and `target` at the region's place."""

    target: Shape


@dataclasses.dataclass(frozen=True)
class Tile:
    """Repeat the transformed region across the whole frame, side by side."""


@dataclasses.dataclass(frozen=True)
class Reshape:
    """Stretch the parts of the region left of, right of, above and below its centre."""

    left: float
    right: float
    top: float
    bottom: float


Op = (
    Scale
    | Rotate
    | Spin
    | Drift
    | Translate
    | Flip
    | Brighten
    | Saturate
    | Channels
    | CopyTo
    | SwapWith
    | Tile
    | Reshape
)


@dataclasses.dataclass(frozen=True)
class Statement:
    """One `shape: op, op, ...` statement.

    Attributes:
        shape: The region the statement moves or recolours.
        ops: The operations, in the order written.
        line: The 1-based line where the statement starts (not part of equality).
    """

    shape: Shape
    ops: tuple[Op, ...]
    line: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True)
class Program:
    """A parsed script.

    Attributes:
        statements: The statements, drawn in this order.
        source: The file name used in messages (not part of equality).
    """

    statements: tuple[Statement, ...]
    source: str = dataclasses.field(default="<script>", compare=False)
