"""Make the demo media from scikit-image's bundled astronaut photograph (no network).

Writes, deterministically:
    media/demo.mp4       1280x720, 30 fps, 120 frames ('mp4v'): the photo on a blurred background,
                         seen through a smooth, loopable camera path (pan, zoom so the face spans
                         28% to 45% of the frame height, roll up to +-40 degrees). Below about 26%
                         of a 16:9 frame's height, MediaPipe's short-range detector scores this
                         face 0.5-0.7 or misses it, hence 28% at the smallest.
    media/tilted/*.jpg   640x480 stills: the head rolled by -35, -15, 10 and 30 degrees at different
                         sizes and positions, and two faces side by side (one mirrored).
    media/two_faces.mp4  1280x720, 30 fps, 60 frames, H.264 (graphflow's VideoWriter, PyAV's
                         libx264, preset veryfast): two heads side by side (the right one
                         mirrored), each moving, zooming (30% to 36% of the frame height) and
                         rolling on its own loopable path; only each head's surroundings are
                         pasted, so neither covers the other.
    media/group.jpg      1280x720: a composed group photograph (the repository has no real one):
                         six copies of the face, 125 to 160 px tall, some mirrored and rolled,
                         in two rows, for the full-range face detector.

With ``--lost`` it writes only media/lost.mp4 instead: 1280x720, 30 fps, 300 frames, a small
face (16% to 24% of the frame height) rolling by up to 40 degrees that crosses the frame from
left to right three times, off screen or too small for the short-range detector most of the
time: MediaPipe 0.10.21 FaceMesh finds it on about a fifth of the frames (70 of 300 with
OpenCV 4.10), so the detector runs on most frames. It is about 4 MB, so it is not committed:
bench/eymo_e2e.py makes it when it is missing.

``skimage.data.astronaut()`` reads a PNG shipped inside the scikit-image wheel; nothing is
downloaded. scikit-image is a development dependency of this script only. Re-running gives
byte-identical files with the same OpenCV build (the committed ones come from
opencv-python-headless 5.0.0.93 in .venv); another OpenCV/FFmpeg build may encode other bytes,
which would make tests/fixtures/face stale (its meta.json holds the SHA-256 of each file).
two_faces.mp4 is not in the fixtures: its bytes depend on the libx264 build and thread count.

Usage:
    .venv/bin/python scripts/make_demo_media.py [--out media] [--lost]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys
from collections.abc import Callable

import cv2
import numpy as np
from skimage import data as skdata

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # graphflow's VideoWriter, when run as a script

# Face of the astronaut photo (512x512): MediaPipe 0.10.21 FaceMesh landmarks span x 178..272,
# y 72..175 pixels, so the face is centred near (225, 124) and about 104 px tall.
FACE_CENTER = (225.0, 124.0)
FACE_HEIGHT = 104.0

VIDEO_SIZE = (1280, 720)
VIDEO_FPS = 30.0
VIDEO_FRAMES = 120
TWO_FACES_FRAMES = 60
STILL_SIZE = (640, 480)
FEATHER_PX = 8
JPEG_QUALITY = 85


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the photo's face lands in the output image.

    Attributes:
        center: Face centre in output pixels (x, y).
        face_height: Face height in output pixels.
        roll_deg: Counter-clockwise roll of the head as seen on screen, in degrees.
        mirrored: Whether the photo is flipped left-right first.
    """

    center: tuple[float, float]
    face_height: float
    roll_deg: float
    mirrored: bool = False


def load_photo() -> np.ndarray:
    """Returns the astronaut photograph as a (512, 512, 3) uint8 BGR array."""
    rgb = skdata.astronaut()
    return np.ascontiguousarray(rgb[:, :, ::-1])


def blurred_background(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Returns a featureless background in the photo's colours.

    Args:
        photo: BGR uint8 photo.
        size: Output (width, height).

    Returns:
        BGR uint8 image of the given size: the photo shrunk to 8x6 pixels, enlarged smoothly,
        blurred and pulled towards grey, so that no face-like structure remains.
    """
    tiny = cv2.resize(photo, (8, 6), interpolation=cv2.INTER_AREA)
    big = cv2.resize(tiny, size, interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), sigmaX=size[0] / 20.0)
    grey = np.full_like(big, 128)
    return cv2.addWeighted(big, 0.6, grey, 0.4, 0.0)


def feather_mask(height: int, width: int, feather: int) -> np.ndarray:
    """Returns a float32 mask that is 1 inside and ramps to 0 over ``feather`` px at the edges."""
    ys = np.minimum(np.arange(height), np.arange(height)[::-1]).astype(np.float32)
    xs = np.minimum(np.arange(width), np.arange(width)[::-1]).astype(np.float32)
    ramp = np.minimum(ys[:, None], xs[None, :]) / float(feather)
    return np.clip(ramp, 0.0, 1.0)


def head_mask(height: int, width: int) -> np.ndarray:
    """Returns a float32 mask of the photo that keeps only the head's surroundings.

    The box reaches 1.1 face heights from the face centre on each side, with feathered edges.
    """
    mask = np.zeros((height, width), np.float32)
    reach = 1.1 * FACE_HEIGHT
    x0, x1 = round(FACE_CENTER[0] - reach), round(FACE_CENTER[0] + reach)
    y0, y1 = max(0, round(FACE_CENTER[1] - reach)), round(FACE_CENTER[1] + reach)
    mask[y0:y1, x0:x1] = feather_mask(y1 - y0, x1 - x0, FEATHER_PX)
    return mask


def compose(
    photo: np.ndarray,
    background: np.ndarray,
    placements: list[Placement],
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Pastes the photo onto the background once per placement.

    Args:
        photo: BGR uint8 photo whose face is at ``FACE_CENTER`` and ``FACE_HEIGHT`` tall.
        background: BGR uint8 canvas; not modified.
        placements: Where each copy of the face goes.
        mask: float32 weight of each photo pixel (default: the whole photo, feathered edges).

    Returns:
        The composed BGR uint8 image.
    """
    out_h, out_w = background.shape[:2]
    canvas = background.astype(np.float32)
    if mask is None:
        mask = feather_mask(photo.shape[0], photo.shape[1], FEATHER_PX)
    for place in placements:
        src = photo[:, ::-1] if place.mirrored else photo
        cx = photo.shape[1] - 1 - FACE_CENTER[0] if place.mirrored else FACE_CENTER[0]
        matrix = cv2.getRotationMatrix2D(
            (cx, FACE_CENTER[1]), place.roll_deg, place.face_height / FACE_HEIGHT
        )
        matrix[0, 2] += place.center[0] - cx
        matrix[1, 2] += place.center[1] - FACE_CENTER[1]
        warped = cv2.warpAffine(
            np.ascontiguousarray(src), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR
        ).astype(np.float32)
        alpha = cv2.warpAffine(mask, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)[..., None]
        canvas = canvas * (1.0 - alpha) + warped * alpha
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)


def camera_path(frame: int) -> Placement:
    """Returns the face placement for one demo frame; the path is periodic over the clip.

    Args:
        frame: Frame index; the path repeats every ``VIDEO_FRAMES`` frames, so a looped clip
            moves smoothly across the seam.

    Returns:
        The placement: face height from 28% (frame 0) to 45% (frame 60) of the frame height,
        roll +40 degrees at frame 30 and -40 at frame 90, centre panning across the frame.
    """
    width, height = VIDEO_SIZE
    phase = 2.0 * math.pi * frame / VIDEO_FRAMES
    face_fraction = 0.365 - 0.085 * math.cos(phase)
    center = (
        width / 2.0 + 0.22 * width * math.sin(phase),
        height / 2.0 + 0.08 * height * math.sin(2.0 * phase),
    )
    return Placement(center, face_fraction * height, 40.0 * math.sin(phase))


def two_faces_path(frame: int) -> list[Placement]:
    """Returns the two heads' placements for one frame of the two-face clip (periodic).

    Args:
        frame: Frame index; the paths repeat every ``TWO_FACES_FRAMES`` frames.

    Returns:
        The left head (face 30% to 34% of the frame height, rolling +-15 degrees) and the
        mirrored right head (32% to 36%, rolling -+12 degrees, a quarter period later), each
        drifting by 3% of the frame width and 5% of its height around its own place.
    """
    width, height = VIDEO_SIZE
    phase = 2.0 * math.pi * frame / TWO_FACES_FRAMES
    left = Placement(
        (0.27 * width + 0.03 * width * math.sin(phase),
         0.5 * height + 0.05 * height * math.cos(phase)),
        (0.32 + 0.02 * math.sin(phase)) * height,
        15.0 * math.sin(phase),
    )
    later = phase + math.pi / 2.0
    right = Placement(
        (0.73 * width - 0.03 * width * math.sin(later),
         0.5 * height + 0.05 * height * math.sin(later)),
        (0.34 + 0.02 * math.cos(later)) * height,
        -12.0 * math.sin(later),
        mirrored=True,
    )
    return [left, right]


LOST_FRAMES = 300
LOST_CROSSINGS = 3


def lost_camera_path(frame: int) -> Placement:
    """Returns the face placement for one frame of the lost-face clip.

    Args:
        frame: Frame index in [0, LOST_FRAMES).

    Returns:
        The placement: the face crosses from 35% of the width left of the frame to 35% right
        of it once every LOST_FRAMES / LOST_CROSSINGS frames, bobbing up and down, rolling
        +-40 degrees twice per crossing, its height between 16% and 24% of the frame height
        over the clip.
    """
    width, height = VIDEO_SIZE
    crossing = LOST_FRAMES // LOST_CROSSINGS
    u = (frame % crossing) / crossing
    face_fraction = 0.20 - 0.04 * math.cos(2.0 * math.pi * frame / LOST_FRAMES)
    center = (-0.35 * width + 1.7 * width * u,
              height / 2.0 + 0.15 * height * math.sin(2.0 * math.pi * u))
    return Placement(center, face_fraction * height, 40.0 * math.sin(4.0 * math.pi * u))


STILLS: dict[str, list[Placement]] = {
    "roll_m35.jpg": [Placement((300.0, 230.0), 150.0, -35.0)],
    "roll_m15.jpg": [Placement((400.0, 260.0), 110.0, -15.0)],
    "roll_p10.jpg": [Placement((250.0, 200.0), 190.0, 10.0)],
    "roll_p30.jpg": [Placement((350.0, 250.0), 130.0, 30.0)],
    "two_faces.jpg": [
        Placement((180.0, 220.0), 120.0, 12.0),
        Placement((470.0, 250.0), 100.0, -20.0, mirrored=True),
    ],
}


GROUP_SIZE = (1280, 720)
# Two rows of three, 125 to 160 px tall: the full-range detector's scores on these are 0.69 to
# 0.93 (its threshold is 0.6; smaller faces in a 720p frame score below it or are missed). Each
# pasted photo is about 5x its face height, so the copies overlap only in their feathered,
# featureless margins and bodies, never on a face.
GROUP: list[Placement] = [
    Placement((220.0, 200.0), 160.0, 5.0),
    Placement((640.0, 180.0), 130.0, -8.0, mirrored=True),
    Placement((1060.0, 200.0), 145.0, 10.0),
    Placement((220.0, 540.0), 140.0, -4.0, mirrored=True),
    Placement((640.0, 545.0), 155.0, 2.0),
    Placement((1060.0, 530.0), 125.0, -10.0),
]


def write_group(photo: np.ndarray, path: pathlib.Path) -> None:
    """Writes the composed group photograph as a JPEG file.

    Raises:
        RuntimeError: If OpenCV cannot write the file.
    """
    image = compose(photo, blurred_background(photo, GROUP_SIZE), GROUP)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise RuntimeError(f"OpenCV cannot write {path}")


def write_video(photo: np.ndarray, path: pathlib.Path, frames: int = VIDEO_FRAMES,
                path_of: Callable[[int], Placement] = camera_path) -> None:
    """Writes a clip of the photo along a camera path with OpenCV's 'mp4v' writer.

    Args:
        photo: BGR uint8 photo.
        path: Output .mp4 path.
        frames: Number of frames.
        path_of: The face placement of each frame (the demo clip's camera path by default).

    Raises:
        RuntimeError: If OpenCV cannot open the writer.
    """
    background = blurred_background(photo, VIDEO_SIZE)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), VIDEO_FPS, VIDEO_SIZE)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write 'mp4v' video to {path}")
    try:
        for frame in range(frames):
            writer.write(compose(photo, background, [path_of(frame)]))
    finally:
        writer.release()


def write_two_faces(photo: np.ndarray, path: pathlib.Path) -> None:
    """Writes the two-face clip in H.264 with graphflow's VideoWriter.

    Args:
        photo: BGR uint8 photo.
        path: Output .mp4 path.
    """
    from calculators.io.video import VideoWriter

    background = blurred_background(photo, VIDEO_SIZE)
    mask = head_mask(photo.shape[0], photo.shape[1])
    writer = VideoWriter(path, fps=VIDEO_FPS, h264_options={"preset": "veryfast"})  # small
    try:
        for frame in range(TWO_FACES_FRAMES):
            bgr = compose(photo, background, two_faces_path(frame), mask)
            writer.write(round(frame * 1e6 / VIDEO_FPS), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        writer.close()
    if writer.codec != "avc1":
        raise RuntimeError(f"{path} was written with {writer.codec!r}, not H.264: install av")


def write_lost_video(path: pathlib.Path) -> None:
    """Writes the lost-face clip (see the module docstring) to ``path``."""
    write_video(load_photo(), path, LOST_FRAMES, lost_camera_path)


def write_stills(photo: np.ndarray, folder: pathlib.Path) -> list[pathlib.Path]:
    """Writes the tilted-head stills as JPEG files.

    Args:
        photo: BGR uint8 photo.
        folder: Output folder, created if missing.

    Returns:
        The paths written.

    Raises:
        RuntimeError: If OpenCV cannot write a file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    background = blurred_background(photo, STILL_SIZE)
    paths = []
    for name, placements in STILLS.items():
        path = folder / name
        image = compose(photo, background, placements)
        if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise RuntimeError(f"OpenCV cannot write {path}")
        paths.append(path)
    return paths


def main() -> None:
    """Parses arguments and writes the demo clip and stills."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "media", help="output folder")
    parser.add_argument("--only", choices=("two_faces",),
                        help="write only this file (e.g. the two-face clip, for the benches)")
    parser.add_argument("--lost", action="store_true",
                        help="write only lost.mp4, the clip where the face is often lost")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.lost:
        lost = args.out / "lost.mp4"
        write_lost_video(lost)
        print(f"wrote {lost} ({lost.stat().st_size} bytes)")
        return
    photo = load_photo()
    two_faces = args.out / "two_faces.mp4"
    write_two_faces(photo, two_faces)
    if args.only == "two_faces":
        print(f"wrote {two_faces} ({two_faces.stat().st_size} bytes)")
        return
    video = args.out / "demo.mp4"
    write_video(photo, video)
    group = args.out / "group.jpg"
    write_group(photo, group)
    for path in [video, two_faces, group, *write_stills(photo, args.out / "tilted")]:
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
