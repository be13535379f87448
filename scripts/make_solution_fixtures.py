"""Compute MediaPipe 0.10.21 references for graphflow.solutions (run in .venv-mp).

Writes tests/fixtures/solutions/: iris face mesh (tracking on the demo clip, static on the
stills), full-range face detection (the composed group photograph, the stills, clip frames),
selfie segmentation masks (both models) and a drawing made with MediaPipe's drawing_utils; the
arrays are described in tests/fixtures/solutions/README.md. Exits non-zero if MediaPipe misses a
face the media are made to show.

Usage:
    bash scripts/mp_venv.sh
    .venv-mp/bin/python scripts/make_solution_fixtures.py
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.framework.formats import landmark_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
# The face fixtures' decoding, detection and padding helpers: same venv, same conventions.
from make_face_fixtures import (  # noqa: E402
    CLIP,
    TILTED,
    decode_clip,
    detections_of,
    missing_faces,
    padded,
    read_rgb,
    save,
    sha256,
)

OUT = ROOT / "tests" / "fixtures" / "solutions"
GROUP = ROOT / "media" / "group.jpg"
NUM_IRIS_LANDMARKS = 478
MESH_STRIDE = 4  # tracking landmarks kept for every 4th clip frame (all frames are processed)
DETECTION_STRIDE = 4
MASK_STRIDE = 8
DRAWN_STILL = "roll_p10.jpg"
MESH_OPTIONS: dict[str, Any] = {
    "refine_landmarks": True,
    "min_detection_confidence": 0.5,
    "min_tracking_confidence": 0.5,
}
GROUP_FACES = 6


def iris_landmarks_of(mesh: Any, rgb: np.ndarray) -> np.ndarray:
    """(n, 478, 3) float32 x, y, z per face from a refine_landmarks FaceMesh."""
    faces = mesh.process(rgb).multi_face_landmarks or []
    points = [[[p.x, p.y, p.z] for p in face.landmark] for face in faces]
    return np.asarray(points, np.float32).reshape(-1, NUM_IRIS_LANDMARKS, 3)


def iris_references(frames: list[np.ndarray], stills: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Tracking FaceMesh with irises over every clip frame, and static FaceMesh on the stills."""
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         **MESH_OPTIONS) as mesh:
        tracked = [iris_landmarks_of(mesh, rgb) for rgb in frames]
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=2,
                                         **MESH_OPTIONS) as mesh:
        still = [iris_landmarks_of(mesh, rgb) for rgb in stills]
    kept = np.arange(0, len(frames), MESH_STRIDE, dtype=np.int32)
    return {
        "clip_count": np.asarray([len(t) for t in tracked], np.int32),
        "clip_frame_index": kept,
        "clip_landmarks": padded([tracked[i] for i in kept], 1),
        "still_count": np.asarray([len(s) for s in still], np.int32),
        "still_landmarks": padded(still, 2),
    }


def full_range_references(images: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Full-range FaceDetection (model_selection=1, default confidence) on each image."""
    boxes, scores, keypoints = [], [], []
    with mp.solutions.face_detection.FaceDetection(model_selection=1) as detector:
        for rgb in images:
            box, score, kps = detections_of(detector, rgb)
            boxes.append(box)
            scores.append(score)
            keypoints.append(kps)
    slots = max(1, max(len(b) for b in boxes))
    return {
        "det_count": np.asarray([len(b) for b in boxes], np.int32),
        "det_bbox": padded(boxes, slots),
        "det_score": padded(scores, slots),
        "det_keypoints": padded(keypoints, slots),
    }


def mask_references(images: list[np.ndarray]) -> dict[str, np.ndarray]:
    """SelfieSegmentation masks > 0.5 of both models, bit-packed per image row-major."""
    out: dict[str, np.ndarray] = {}
    for selection in (0, 1):
        packed, area = [], []
        with mp.solutions.selfie_segmentation.SelfieSegmentation(
                model_selection=selection) as segmenter:
            for rgb in images:
                mask = segmenter.process(rgb).segmentation_mask > 0.5
                packed.append(np.packbits(mask.reshape(-1)))
                area.append(mask.mean())
        width = max(len(p) for p in packed)
        out[f"model{selection}_bits"] = np.stack(
            [np.pad(p, (0, width - len(p))) for p in packed])
        out[f"model{selection}_area"] = np.asarray(area, np.float32)
    return out


def drawing(rgb: np.ndarray, landmarks: np.ndarray, detection: Any) -> np.ndarray:
    """MediaPipe's drawing_utils with its default face styles on a black BGR canvas."""
    drawing_utils = mp.solutions.drawing_utils
    styles = mp.solutions.drawing_styles
    face_mesh = mp.solutions.face_mesh
    canvas = np.zeros_like(rgb)
    face = landmark_pb2.NormalizedLandmarkList()
    for x, y, z in landmarks.tolist():
        face.landmark.add(x=x, y=y, z=z)
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_TESSELATION, None,
                                 styles.get_default_face_mesh_tesselation_style())
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_CONTOURS, None,
                                 styles.get_default_face_mesh_contours_style())
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_IRISES, None,
                                 styles.get_default_face_mesh_iris_connections_style())
    drawing_utils.draw_landmarks(canvas, face, face_mesh.FACEMESH_NOSE,
                                 drawing_utils.DrawingSpec(thickness=1, circle_radius=1),
                                 styles.get_default_face_mesh_contours_style(1))
    drawing_utils.draw_detection(canvas, detection)
    return canvas


def main() -> int:
    """Computes and writes the fixtures; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT, help="output folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    frames = decode_clip(CLIP)
    still_paths = sorted(TILTED.glob("*.jpg"))
    stills = [read_rgb(p) for p in still_paths]
    group = read_rgb(GROUP)
    names = np.asarray([p.name for p in still_paths])

    mesh = {"still_names": names, **iris_references(frames, stills)}
    detection_frames = np.arange(0, len(frames), DETECTION_STRIDE, dtype=np.int32)
    detection = {
        "names": np.asarray(["group.jpg", *names, *(f"clip:{i}" for i in detection_frames)]),
        **full_range_references([group, *stills, *(frames[i] for i in detection_frames)]),
    }
    mask_frames = np.arange(0, len(frames), MASK_STRIDE, dtype=np.int32)
    mask_images = [*(frames[i] for i in mask_frames), *stills, group]
    masks = {
        "names": np.asarray([*(f"clip:{i}" for i in mask_frames), *names, "group.jpg"]),
        "sizes": np.asarray([[m.shape[1], m.shape[0]] for m in mask_images], np.int32),
        **mask_references(mask_images),
    }
    drawn = stills[list(names).index(DRAWN_STILL)]
    with mp.solutions.face_detection.FaceDetection() as detector:
        first_detection = detector.process(drawn).detections[0]
    canvas = drawing(drawn, mesh["still_landmarks"][list(names).index(DRAWN_STILL), 0],
                     first_detection)
    mesh["drawn_detection"] = np.asarray(
        [*(getattr(first_detection.location_data.relative_bounding_box, f)
           for f in ("xmin", "ymin", "width", "height")),
         *(v for kp in first_detection.location_data.relative_keypoints for v in (kp.x, kp.y))],
        np.float32)

    save(args.out / "mesh_iris.npz", mesh)
    save(args.out / "face_detection_full_range.npz", detection)
    save(args.out / "selfie_segmentation.npz", masks)
    cv2.imwrite(str(args.out / "drawing.png"), canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    meta = {
        "mediapipe": mp.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
        "clip": {"file": "media/demo.mp4", "sha256": sha256(CLIP), "frames": len(frames)},
        "group": {"file": "media/group.jpg", "sha256": sha256(GROUP)},
        "tilted": {p.name: sha256(p) for p in still_paths},
        "face_mesh": {**MESH_OPTIONS, "clip_max_num_faces": 1, "still_max_num_faces": 2,
                      "clip_stride": MESH_STRIDE},
        "face_detection": {"model_selection": 1, "min_detection_confidence": 0.5,
                           "clip_stride": DETECTION_STRIDE},
        "selfie_segmentation": {"model_selection": [0, 1], "threshold": 0.5,
                                "clip_stride": MASK_STRIDE},
        "drawing": {"still": DRAWN_STILL},
    }
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    expected_stills = np.asarray([2 if "two" in p.name else 1 for p in still_paths])
    problems = (
        missing_faces("mesh_iris.clip", mesh["clip_count"], np.ones(len(frames), np.int32))
        + missing_faces("mesh_iris.still", mesh["still_count"], expected_stills)
        + missing_faces("full_range.group", detection["det_count"][:1],
                        np.asarray([GROUP_FACES]))
    )
    for name in ("mesh_iris.npz", "face_detection_full_range.npz", "selfie_segmentation.npz",
                 "drawing.png", "meta.json"):
        print(f"wrote {args.out / name} ({(args.out / name).stat().st_size} bytes)")
    for problem in problems:
        print(f"MISSING FACE: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
