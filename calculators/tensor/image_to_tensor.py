"""ImageToTensorCalculator: crops a rotated region of an image into a model's input tensor.

MediaPipe's arithmetic (``image_to_tensor_utils.cc``, ``image_to_tensor_converter_opencv.cc``):
the ROI (a :class:`NormalizedRect`, or the whole image) becomes a rotated rectangle in pixels,
optionally padded to the tensor's aspect ratio (``keep_aspect_ratio``, letterboxing); the pixels
under it are resampled bilinearly into the tensor (OpenCV ``warpAffine``, which maps the ROI's
corners onto the tensor's corners exactly as MediaPipe's ``warpPerspective`` does), and values are
mapped from [0, 255] to the output range. Where every tensor pixel falls exactly on an image
pixel (an unrotated ROI whose size is a whole multiple of the tensor's, at a whole-pixel offset:
a detector's letterbox of a 640x480, 1280x720 or 1920x1080 frame into 128x128), bilinear
sampling picks that pixel, and a nearest-neighbour resize gives the same numbers in less than
half the time of the warp. The ``MATRIX`` output maps tensor-normalized
coordinates back to image-normalized ones (a row-major 4x4 matrix, 16 floats).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from calculators._opencv import cv2
from calculators.image.image_properties import image_frame
from graphflow.calculator import (
    Calculator,
    CalculatorContext,
    ContractError,
    NodeContract,
    Port,
    register_calculator,
)
from graphflow.formats import NormalizedRect
from graphflow.image_frame import ImageFrame
from graphflow.proto.mediapipe.calculators.tensor import image_to_tensor_calculator_pb2

_Options = image_to_tensor_calculator_pb2.ImageToTensorCalculatorOptions


@dataclasses.dataclass
class RotatedRect:
    """A rectangle in pixels rotated by ``rotation`` radians about its center."""

    center_x: float
    center_y: float
    width: float
    height: float
    rotation: float


def roi_from_rect(image_width: int, image_height: int,
                  rect: NormalizedRect | None) -> RotatedRect:
    """The ROI in pixels: ``rect`` scaled by the image size, or the whole image."""
    if rect is None:
        return RotatedRect(0.5 * image_width, 0.5 * image_height, float(image_width),
                           float(image_height), 0.0)
    return RotatedRect(rect.x_center * image_width, rect.y_center * image_height,
                       rect.width * image_width, rect.height * image_height, rect.rotation)


def pad_roi(tensor_width: int, tensor_height: int, roi: RotatedRect) -> tuple[float, ...]:
    """Grows ``roi`` in place to the tensor's aspect ratio (letterboxing).

    Returns:
        The letterbox padding ``(left, top, right, bottom)`` as fractions of the tensor size.
    """
    if roi.width <= 0 or roi.height <= 0:
        raise ValueError(f"ROI width and height must be > 0, got {roi.width} x {roi.height}")
    tensor_aspect = tensor_height / tensor_width
    roi_aspect = roi.height / roi.width
    if tensor_aspect > roi_aspect:
        vertical = (1.0 - roi_aspect / tensor_aspect) / 2.0
        roi.height = roi.width * tensor_aspect
        return (0.0, vertical, 0.0, vertical)
    horizontal = (1.0 - tensor_aspect / roi_aspect) / 2.0
    roi.width = roi.height / tensor_aspect
    return (horizontal, 0.0, horizontal, 0.0)


def _roi_affine(roi: RotatedRect) -> tuple[float, float, float, float, float, float]:
    """``(m00, m01, m02, m10, m11, m12)``: ROI-normalized (u, v) in [0, 1] to image pixels,
    ``x = m00 u + m01 v + m02``, ``y = m10 u + m11 v + m12`` (the rotation turns u, v about the
    ROI centre)."""
    a, b = roi.width, roi.height
    c, d = math.cos(roi.rotation), math.sin(roi.rotation)
    return (a * c, -b * d, -0.5 * a * c + 0.5 * b * d + roi.center_x,
            a * d, b * c, -0.5 * b * c - 0.5 * a * d + roi.center_y)


def rect_to_image_matrix(roi: RotatedRect, image_width: int,
                         image_height: int) -> npt.NDArray[np.float32]:
    """The 4x4 matrix (row-major, 16 floats) from ROI-normalized to image-normalized coordinates.

    MediaPipe's ``GetRotatedSubRectToRectTransformMatrix`` without flipping.
    """
    m00, m01, m02, m10, m11, m12 = _roi_affine(roi)
    g, h = 1.0 / image_width, 1.0 / image_height
    return np.array([
        m00 * g, m01 * g, 0.0, m02 * g,
        m10 * h, m11 * h, 0.0, m12 * h,
        0.0, 0.0, roi.width * g, 0.0,
        0.0, 0.0, 0.0, 1.0,
    ], dtype=np.float32)


class _Scratch:
    """Tensor-sized pixel buffers that crops reuse instead of allocating them for every frame.

    A crop takes one from a pool (`_SCRATCH`) and gives it back, so that nodes with
    ``max_in_flight`` above 1 never share one. Splitting a 192x192 RGBA warp into channel planes
    and scaling them took 110 us into new planes against 60 into these (back to back).
    """

    def __init__(self) -> None:
        self.images: dict[tuple[int, ...], npt.NDArray[np.uint8]] = {}
        self.plane_sets: dict[tuple[int, ...], list[npt.NDArray[np.uint8]]] = {}

    def image(self, *shape: int) -> npt.NDArray[np.uint8]:
        """A uint8 image buffer of ``shape`` (height, width, channels)."""
        buffer = self.images.get(shape)
        if buffer is None:
            buffer = self.images[shape] = np.empty(shape, np.uint8)
        return buffer

    def planes(self, height: int, width: int, count: int) -> list[npt.NDArray[np.uint8]]:
        """``count`` separate ``height x width`` buffers (for `cv2.split`)."""
        key = (height, width, count)
        planes = self.plane_sets.get(key)
        if planes is None:
            planes = self.plane_sets[key] = list(np.empty((count, height, width), np.uint8))
        return planes


_SCRATCH: list[_Scratch] = []  # idle scratch buffers; list.pop and append are atomic


def _four_channel_source(image: npt.NDArray[np.uint8], box: tuple[float, float, float, float],
                         tensor_pixels: int,
                         rotated: bool) -> tuple[npt.NDArray[np.uint8], int, int]:
    """The pixels to warp from and their top-left corner in ``image``.

    ``box`` is ``(x_min, y_min, x_max, y_max)`` of the ROI's corners. OpenCV's bilinear warp
    is faster for 4 channels than for 3, and a rotated warp walks the image across its rows,
    missing the caches on a frame that is not in them, while a color conversion reads it row by
    row: a face ROI turned by about 0.5 rad out of a 640x480 frame that is not in the caches
    (face mesh's tracked ROIs) took 310 us warped as it is against 84 + 109 through the
    conversion (OpenCV 5.1, one thread). So an RGB image's part under the ROI, with a 2-pixel
    margin for the bilinear neighbours, is first converted to RGBA. The part is cut at the
    image's edges, so border pixels are those of the whole image. Where the part is much larger
    than the tensor (a whole frame shrunk for a detector) the conversion would cost more than
    it saves, and the image is warped as it is, unless the ROI is ``rotated``.
    """
    if image.ndim == 3 and image.shape[2] == 3:
        h, w = image.shape[:2]
        x0 = max(math.floor(box[0]) - 2, 0)
        y0 = max(math.floor(box[1]) - 2, 0)
        x1 = min(math.floor(box[2]) + 3, w)
        y1 = min(math.floor(box[3]) + 3, h)
        if x0 < x1 and y0 < y1 and (rotated or (x1 - x0) * (y1 - y0) <= 4 * tensor_pixels):
            part = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2RGBA)
            return part.astype(np.uint8, copy=False), x0, y0
    return image, 0, 0


def _scale_into(pixels: npt.NDArray[Any], scale: np.float32, target: npt.NDArray[np.float32],
                scratch: _Scratch) -> None:
    """``target[...] = pixels[..., :3] * scale``, ``target`` an ``H x W x 3`` float32 view,
    either channel-interleaved or of channel planes (``channels_first``)."""
    if target.strides[2] == target.itemsize:
        if pixels.shape[2] == 4:  # contiguous RGB is faster to scale
            pixels = cv2.cvtColor(pixels, cv2.COLOR_RGBA2RGB,
                                  dst=scratch.image(*pixels.shape[:2], 3))
        np.multiply(pixels, scale, out=target, casting="unsafe")
        return
    planes = cv2.split(pixels, scratch.planes(*pixels.shape))
    for channel in range(3):
        np.multiply(planes[channel], scale, out=target[..., channel], casting="unsafe")


def _pixel_grid(image_width: int, image_height: int, width: int, height: int,
                matrix: npt.NDArray[np.float64]) -> tuple[slice, slice, slice, slice] | None:
    """Where ``matrix`` picks whole image pixels at whole steps: the block it samples inside
    the image, as slices (image rows, image columns, tensor rows, tensor columns); else None.

    ``matrix`` maps tensor pixel ``(u, v)`` to image point ``(x, y)``. It picks whole pixels
    when it neither rotates nor shears and its steps and offset are whole numbers. The image
    slices span ``step`` pixels per sample (what a resize by that factor reads), so they must
    fit in the image; the tensor pixels outside the block sample outside the image.
    """
    (sx, r01, x0), (r10, sy, y0) = matrix
    if r01 or r10 or sx < 1 or sy < 1 or \
            not all(float(a).is_integer() for a in (sx, sy, x0, y0)):
        return None

    def axis(start: int, step: int, size: int, count: int) -> tuple[slice, slice] | None:
        # Tensor indices [first, last) sample image indices start + t * step inside [0, size).
        first = min(count, max(0, -(start // step)))
        last = min(count, max(first, (size - 1 - start) // step + 1))
        begin, end = start + first * step, start + last * step
        if end > size or first == last:
            return None
        return slice(begin, end), slice(first, last)

    rows = axis(int(y0), int(sy), image_height, height)
    cols = axis(int(x0), int(sx), image_width, width)
    if rows is None or cols is None:
        return None
    return rows[0], cols[0], rows[1], cols[1]


def crop_to_tensor(image: npt.NDArray[np.uint8], roi: RotatedRect, width: int, height: int,
                   value_range: tuple[float, float], border_zero: bool,
                   dtype: type = np.float32, channels_first: bool = False) -> npt.NDArray[Any]:
    """Resamples the rotated ``roi`` of ``image`` into a ``(1, height, width, 3)`` tensor.

    Args:
        image: HxWx3 or HxWx4 uint8 pixels.
        roi: The region in pixels.
        width: Tensor width.
        height: Tensor height.
        value_range: ``(min, max)`` that pixel values 0 and 255 map to.
        border_zero: Fill outside the image with zeros (else replicate the edge).
        dtype: ``np.float32``, ``np.int8`` or ``np.uint8``.
        channels_first: Lay the tensor out in memory as channel planes: the result is the
            ``(1, height, width, 3)`` view of a C-contiguous ``(1, 3, height, width)`` array
            (the same values; ``tensor.transpose(0, 3, 1, 2)`` is that array), which a model
            with NCHW inputs takes without a transpose.
    """
    if math.isnan(roi.center_x + roi.center_y + roi.width + roi.height + roi.rotation):
        raise ValueError("ROI contains NaN values")
    if roi.width <= 0 or roi.height <= 0:
        raise ValueError(f"ROI width and height must be > 0, got {roi.width} x {roi.height}")
    m00, m01, m02, m10, m11, m12 = _roi_affine(roi)
    # Tensor pixel (u, v) samples the image at the ROI point (u / width, v / height).
    matrix = np.array([[m00 / width, m01 / height, m02], [m10 / width, m11 / height, m12]])
    lo, hi = value_range
    scale = np.float32((hi - lo) / 255.0)
    out = (np.empty((1, 3, height, width), dtype=np.float32).transpose(0, 2, 3, 1)
           if channels_first else np.empty((1, height, width, 3), dtype=np.float32))
    grid = (_pixel_grid(image.shape[1], image.shape[0], width, height, matrix)
            if image.ndim == 3 and image.shape[2] >= 3 else None)
    try:
        scratch = _SCRATCH.pop()
    except IndexError:
        scratch = _Scratch()
    try:
        if grid is not None and (border_zero or grid[2:] == (slice(0, height), slice(0, width))):
            # Every sample inside the image is a whole pixel: OpenCV's nearest-neighbour resize
            # by a whole factor picks exactly those (begin + i * step); the border is pixel
            # value 0.
            rows, cols, tensor_rows, tensor_cols = grid
            picked = cv2.resize(image[rows, cols],
                                (tensor_cols.stop - tensor_cols.start,
                                 tensor_rows.stop - tensor_rows.start),
                                interpolation=cv2.INTER_NEAREST)
            out[0, :tensor_rows.start] = 0.0
            out[0, tensor_rows.stop:] = 0.0
            out[0, tensor_rows, :tensor_cols.start] = 0.0
            out[0, tensor_rows, tensor_cols.stop:] = 0.0
            _scale_into(picked, scale, out[0, tensor_rows, tensor_cols], scratch)
        else:
            xs = (m02, m02 + m00, m02 + m01, m02 + m00 + m01)  # the ROI's corners
            ys = (m12, m12 + m10, m12 + m11, m12 + m10 + m11)
            source, x0, y0 = _four_channel_source(image, (min(xs), min(ys), max(xs), max(ys)),
                                                  width * height, bool(m01 or m10))
            matrix[:, 2] -= (x0, y0)
            border = cv2.BORDER_CONSTANT if border_zero else cv2.BORDER_REPLICATE
            warped = cv2.warpAffine(source, matrix, (width, height),
                                    dst=scratch.image(height, width, *source.shape[2:]),
                                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=border, borderValue=(0, 0, 0, 0))
            _scale_into(warped, scale, out[0], scratch)
    finally:
        _SCRATCH.append(scratch)
    if lo != 0.0:
        out += np.float32(lo)
    if dtype is np.float32:
        return out
    info = np.iinfo(dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(dtype)


def _value_range(options: Any) -> tuple[tuple[float, float], type]:
    """The output range and element type the options select."""
    which = options.WhichOneof("range")
    if which is None:
        raise ValueError("ImageToTensorCalculatorOptions must set output_tensor_float_range, "
                         "output_tensor_int_range or output_tensor_uint_range")
    r = getattr(options, which)
    lo, hi = float(r.min), float(r.max)
    if not lo < hi:
        raise ValueError(f"{which}: min ({lo}) must be below max ({hi})")
    if which == "output_tensor_float_range":
        return (lo, hi), np.float32
    return (lo, hi), (np.int8 if lo < 0 else np.uint8)


@register_calculator
class ImageToTensorCalculator(Calculator):
    """Converts an image (or its rotated ``NORM_RECT`` region) into a tensor list.

    Outputs a one-element list holding a ``(1, H, W, 3)`` tensor, held in memory as channel
    planes (``channels_first`` of `crop_to_tensor`: what InferenceCalculator feeds a converted
    model without a transpose); ``MATRIX`` (16 floats) maps
    tensor coordinates back to the image; ``LETTERBOX_PADDING`` gives the padding fractions.
    An empty ROI (width and height 0) produces nothing, as in MediaPipe.
    """

    inputs = (
        Port("IMAGE", ImageFrame, optional=True, doc="the image (ImageFrame)"),
        Port("NORM_RECT", NormalizedRect, optional=True, doc="region to crop"),
    )
    outputs = (
        Port("TENSORS", list, optional=True, doc="[(1, H, W, 3) tensor]"),
        Port("MATRIX", np.ndarray, optional=True, doc="16 floats, tensor -> image"),
        Port("LETTERBOX_PADDING", tuple, optional=True, doc="(left, top, right, bottom)"),
    )
    options_type = _Options
    timestamp_offset = 0

    @classmethod
    def check_contract(cls, node: NodeContract) -> None:
        if ("IMAGE", 0) not in node.inputs:
            raise ContractError("ImageToTensorCalculator needs an IMAGE input stream")
        try:
            _value_range(node.options)
        except ValueError as e:
            raise ContractError(str(e)) from None

    def open(self, cc: CalculatorContext) -> None:
        opts = cc.options
        self.range, self.dtype = _value_range(opts)
        self.width = opts.output_tensor_width if opts.HasField("output_tensor_width") else None
        self.height = opts.output_tensor_height if opts.HasField("output_tensor_height") else None
        self.keep_aspect_ratio = opts.keep_aspect_ratio
        self.border_zero = opts.border_mode == _Options.BORDER_ZERO

    def process(self, cc: CalculatorContext) -> None:
        image_packet = cc.inputs["IMAGE"]
        if image_packet.is_empty:
            return
        rect: NormalizedRect | None = None
        if cc.inputs.connected("NORM_RECT"):
            rect = cc.inputs["NORM_RECT"].get()
            if rect is None or (rect.width == 0 and rect.height == 0):
                return
        image = image_frame(image_packet.payload, "IMAGE")
        pixels = image.array
        tensor_w = self.width or image.width
        tensor_h = self.height or image.height
        roi = roi_from_rect(image.width, image.height, rect)
        padding = (pad_roi(tensor_w, tensor_h, roi) if self.keep_aspect_ratio
                   else (0.0, 0.0, 0.0, 0.0))
        tensor = crop_to_tensor(pixels, roi, tensor_w, tensor_h, self.range, self.border_zero,
                                self.dtype, channels_first=True)
        if cc.outputs.connected("LETTERBOX_PADDING"):
            cc.outputs["LETTERBOX_PADDING"].add(padding)
        if cc.outputs.connected("MATRIX"):
            cc.outputs["MATRIX"].add(rect_to_image_matrix(roi, image.width, image.height))
        if cc.outputs.connected("TENSORS"):
            tensor.flags.writeable = False
            cc.outputs["TENSORS"].add([tensor])
