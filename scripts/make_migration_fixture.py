"""Run examples/solutions_face_mesh.py under MediaPipe 0.10.21 (run in .venv-mp).

Puts the example's ``import mediapipe as mp`` line back (its only change from MediaPipe's
code), runs it with this interpreter on the stills ``media/tilted/roll_p10.jpg`` and
``two_faces.jpg`` and the clip ``media/two_faces.mp4``, and writes to
tests/fixtures/solutions/migration/: ``script.py.txt`` (the MediaPipe version run; not
``.py``, so that linters leave MediaPipe's code alone), ``stdout.txt``
(what it printed) and what it drew on the images it wrote (``annotated_image*.png``,
``last_frame.png``): `drawn_pixels`, the pixels that differ from the image drawn on, others
black (small files; the test compares graphflow's run the same way).

Usage:
    .venv-mp/bin/python scripts/make_migration_fixture.py
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import cv2
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "solutions_face_mesh.py"
OUT = ROOT / "tests" / "fixtures" / "solutions" / "migration"
GRAPHFLOW_IMPORT = "import graphflow.solutions as mp  # was: import mediapipe as mp"
MEDIAPIPE_IMPORT = "import mediapipe as mp"
ARGS = ("media/two_faces.mp4", "media/tilted/roll_p10.jpg", "media/tilted/two_faces.jpg")


def drawn_pixels(annotated: np.ndarray, original: np.ndarray) -> np.ndarray:
    """The annotated image where it differs from the original, black elsewhere."""
    return np.where((annotated != original).any(axis=2)[..., None], annotated, 0)


def read_bgr(path: pathlib.Path) -> np.ndarray:
    """An image file as BGR uint8."""
    image = cv2.imread(str(path))
    if image is None:
        raise FileNotFoundError(f"cannot read an image from {path}")
    return np.asarray(image)


def originals(root: pathlib.Path) -> dict[str, np.ndarray]:
    """Output image name -> the BGR image the example drew it on (this OpenCV's decoding)."""
    images = {f"annotated_image{i}.png": read_bgr(root / path)
              for i, path in enumerate(ARGS[1:])}
    capture = cv2.VideoCapture(str(root / ARGS[0]))
    while True:
        success, frame = capture.read()
        if not success:
            break
        images["last_frame.png"] = np.asarray(frame)
    capture.release()
    return images


def main() -> None:
    """Writes the fixture directory."""
    source = EXAMPLE.read_text()
    assert source.count(GRAPHFLOW_IMPORT) == 1, f"{EXAMPLE} lost its import line"
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    script = OUT / "script.py.txt"
    script.write_text(source.replace(GRAPHFLOW_IMPORT, MEDIAPIPE_IMPORT))
    run = subprocess.run([sys.executable, str(script), str(OUT), *ARGS], cwd=ROOT, check=True,
                         capture_output=True, text=True)
    (OUT / "stdout.txt").write_text(run.stdout)
    for name, original in originals(ROOT).items():
        annotated = read_bgr(OUT / name)
        cv2.imwrite(str(OUT / name), drawn_pixels(annotated, original),
                    [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {OUT.relative_to(ROOT)}: {len(run.stdout.splitlines())} lines printed")


if __name__ == "__main__":
    main()
