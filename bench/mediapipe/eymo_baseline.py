"""What a user would write instead of graphflow's eymo filter: MediaPipe FaceMesh + OpenCV edits.

Reads a clip (``--clip``, default media/demo.mp4, 1280x720) with OpenCV, runs MediaPipe 0.10.21
FaceMesh (tracking mode, ``--faces`` faces, default 1) on every frame, then applies an eymo script
with plain OpenCV (``--script``) to each face found (``+1`` is the next face, the face itself
when alone):

- ``default``, DESIGN.md's example (examples/default.eymo):
    leye: scale(4), saturate(1.2), brighten(1.4), spin(0.3)
    mouth: copy_to(reye_region+1), scale(1.5), brighten(1.2), saturate(1.3)
    leye_region: swap_with(mouth+1), scale(1.5)
  (drift, which only moves the left eye, is left out);
- ``bigfeatures`` (examples/bigfeatures.eymo): both eyes scaled 4x and brightened 1.2, the
  mouth scaled 1.5 and saturated 1.3, the nose brightened 1.3.

Each feature is the bounding box of its landmarks, masked by their convex hull, recolored in HSV,
scaled and rotated with one cv2.warpAffine, and pasted hard-edged centred on its target. All crops
come from the unedited frame. Loops the clip to ``--frames`` frames and prints one JSON line: fps
over the whole run and ms per stage.

Usage:
    .venv-mp/bin/python bench/mediapipe/eymo_baseline.py [--frames 600] [--clip media/demo.mp4]
        [--faces 1] [--script default|bigfeatures] [--write out.mp4]
"""

from __future__ import annotations

import argparse
import pathlib
import time
from collections.abc import Callable

import cv2
import mediapipe as mp
import numpy as np
from _common import CLIP, emit

PARTS = {
    "mouth": [
        164,
        167,
        165,
        216,
        212,
        202,
        204,
        194,
        201,
        200,
        421,
        418,
        424,
        422,
        432,
        436,
        322,
        391,
        393,
    ],
    "leye": [133, 173, 157, 158, 159, 160, 161, 246, 33, 7, 163, 144, 145, 153, 154, 155],
    "reye": [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249],
    "nose": [168, 193, 245, 188, 174, 236, 198, 209, 49, 64, 98, 97, 2, 326, 327, 294, 279, 429,
             420, 456, 419, 351, 417],
    "leye_region": [107, 66, 105, 63, 70, 156, 35, 31, 228, 229, 230, 231, 232, 233, 245, 193, 55],
    "reye_region": [
        300,
        293,
        334,
        296,
        336,
        285,
        417,
        465,
        453,
        452,
        451,
        450,
        449,
        448,
        261,
        265,
        353,
    ],
}
FPS = 30.0
SPIN_RPS = 0.3


def grab(frame: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (crop, hull mask, centre) of the landmarks' bounding box in the frame.

    The crop is empty when the box lies outside the frame (a face leaving it).
    """
    x, y, w, h = cv2.boundingRect(points)
    x0, y0 = max(x, 0), max(y, 0)
    crop = frame[y0 : y + h, x0 : x + w].copy()
    mask = np.zeros(crop.shape[:2], np.uint8)
    if crop.size:
        cv2.fillConvexPoly(mask, cv2.convexHull(points - (x0, y0)), 255)
    return crop, mask, np.array([x + w / 2.0, y + h / 2.0])


def recolor(crop: np.ndarray, saturate: float, brighten: float) -> np.ndarray:
    """Scales HSV saturation and value of a BGR crop (an empty one stays empty)."""
    if not crop.size:
        return crop
    hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 1] *= saturate
    hsv[..., 2] *= brighten
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)


def paste(
    frame: np.ndarray,
    crop: np.ndarray,
    mask: np.ndarray,
    centre: np.ndarray,
    scale: float,
    angle: float = 0.0,
) -> None:
    """Scales and rotates a masked crop about its centre and pastes it centred on ``centre``
    (nothing for an empty crop)."""
    if not crop.size:
        return
    h, w = crop.shape[:2]
    cos, sin = abs(np.cos(np.radians(angle))), abs(np.sin(np.radians(angle)))
    out_w, out_h = int(scale * (w * cos + h * sin)) + 2, int(scale * (w * sin + h * cos)) + 2
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, scale)
    matrix[:, 2] += (out_w - w) / 2.0, (out_h - h) / 2.0
    patch = cv2.warpAffine(crop, matrix, (out_w, out_h))
    patch_mask = cv2.warpAffine(mask, matrix, (out_w, out_h), flags=cv2.INTER_NEAREST)
    x0, y0 = int(centre[0] - out_w / 2.0), int(centre[1] - out_h / 2.0)
    fx0, fy0 = max(x0, 0), max(y0, 0)
    fx1, fy1 = min(x0 + out_w, frame.shape[1]), min(y0 + out_h, frame.shape[0])
    if fx1 > fx0 and fy1 > fy0:
        src = np.s_[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
        cv2.copyTo(patch[src], patch_mask[src], frame[fy0:fy1, fx0:fx1])


def edit_default(frame: np.ndarray, faces: list[np.ndarray], t: float) -> None:
    """Applies the example eymo script in place, given each face's landmarks in pixels and the
    time in s; all crops come from the unedited frame."""
    grabbed = [{name: grab(frame, points[idx]) for name, idx in PARTS.items()} for points in faces]
    for i, parts in enumerate(grabbed):
        following = grabbed[(i + 1) % len(grabbed)]
        leye_region, mouth = parts["leye_region"], following["mouth"]
        paste(frame, leye_region[0], leye_region[1], mouth[2], 1.5)
        paste(frame, mouth[0], mouth[1], leye_region[2], 1.5)
        own_mouth = parts["mouth"]
        paste(frame, recolor(own_mouth[0], 1.3, 1.2), own_mouth[1],
              following["reye_region"][2], 1.5)
        leye = parts["leye"]
        paste(frame, recolor(leye[0], 1.2, 1.4), leye[1], leye[2], 4.0, 360.0 * SPIN_RPS * t)


def edit_bigfeatures(frame: np.ndarray, faces: list[np.ndarray], t: float) -> None:
    """Applies examples/bigfeatures.eymo in place to each face (``t`` is unused: nothing
    moves); all crops come from the unedited frame."""
    grabbed = [{name: grab(frame, points[PARTS[name]])
                for name in ("leye", "reye", "mouth", "nose")} for points in faces]
    for parts in grabbed:
        for eye in ("leye", "reye"):
            crop, mask, centre = parts[eye]
            paste(frame, recolor(crop, 1.0, 1.2), mask, centre, 4.0)
        crop, mask, centre = parts["mouth"]
        paste(frame, recolor(crop, 1.3, 1.0), mask, centre, 1.5)
        crop, mask, centre = parts["nose"]
        paste(frame, recolor(crop, 1.0, 1.3), mask, centre, 1.0)


#: The scripts this baseline does, by name (the name of their examples/*.eymo file).
SCRIPTS: dict[str, Callable[[np.ndarray, list[np.ndarray], float], None]] = {
    "default": edit_default,
    "bigfeatures": edit_bigfeatures,
}


def main() -> None:
    """Parses arguments, runs the pipeline and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="frames to process (default 600)")
    parser.add_argument("--clip", type=pathlib.Path, default=CLIP,
                        help="the video (default media/demo.mp4)")
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="default",
                        help="the edits (default: DESIGN.md's example)")
    parser.add_argument("--write", help="also write the edited frames to this .mp4 (slows it)")
    parser.add_argument("--faces", type=int, default=1, help="FaceMesh's max_num_faces")
    args = parser.parse_args()
    if args.frames < 1 or args.faces < 1:
        parser.error("--frames and --faces must be positive")
    edit = SCRIPTS[args.script]
    clip = args.clip
    stages = {"decode": 0, "face_mesh": 0, "edit": 0}
    capture, writer, with_face, faces = cv2.VideoCapture(str(clip)), None, 0, 0
    mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=args.faces)
    start = time.perf_counter_ns()
    for i in range(args.frames):
        t0 = time.perf_counter_ns()
        ok, frame = capture.read()
        if not ok:
            capture.release()
            capture = cv2.VideoCapture(str(clip))
            ok, frame = capture.read()
        if not ok:
            raise RuntimeError(f"OpenCV cannot decode {clip}")
        t1 = time.perf_counter_ns()
        result = mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        t2 = time.perf_counter_ns()
        if result.multi_face_landmarks:
            with_face += 1
            faces += len(result.multi_face_landmarks)
            size = np.array([frame.shape[1], frame.shape[0]], np.float32)
            points = [
                (np.array([(p.x, p.y) for p in face.landmark], np.float32) * size).astype(np.int32)
                for face in result.multi_face_landmarks
            ]
            edit(frame, points, i / FPS)
        t3 = time.perf_counter_ns()
        stages["decode"] += t1 - t0
        stages["face_mesh"] += t2 - t1
        stages["edit"] += t3 - t2
        if args.write:
            writer = writer or cv2.VideoWriter(
                args.write, cv2.VideoWriter.fourcc(*"mp4v"), FPS, (frame.shape[1], frame.shape[0])
            )
            writer.write(frame)
    elapsed = time.perf_counter_ns() - start
    capture.release()
    mesh.close()
    if writer is not None:
        writer.release()
    emit(
        "mediapipe.eymo_baseline",
        {
            "clip": clip.name,
            "script": args.script,
            "size": [frame.shape[1], frame.shape[0]],
            "frames": args.frames,
            "frames_with_face": with_face,
            "faces_found": faces,
            "fps": round(args.frames / (elapsed / 1e9), 1),
            **{f"{k}_ms": round(v / 1e6 / args.frames, 3) for k, v in stages.items()},
        },
    )


if __name__ == "__main__":
    main()
