"""A MediaPipe user's script runs on graphflow with one import line changed, with MediaPipe's
results.

examples/solutions_face_mesh.py is MediaPipe's face mesh (stills, drawn with the default
styles) and face detection (a video loop, drawn) example code with ``import mediapipe as mp``
changed to ``import graphflow.solutions as mp``. scripts/make_migration_fixture.py ran the same
script with the import put back under MediaPipe 0.10.21 (tests/fixtures/solutions/migration/):
graphflow's run must print the same lines with numbers within the solutions' tolerances and
draw (nearly) the same pixels.
"""

from __future__ import annotations

import difflib
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
from face_reference import ROOT, SOLUTION_FIXTURES

sys.path.insert(0, str(ROOT / "scripts"))
from make_migration_fixture import (
    ARGS,
    EXAMPLE,
    GRAPHFLOW_IMPORT,
    MEDIAPIPE_IMPORT,
    drawn_pixels,
    originals,
    read_bgr,
)

MIGRATION = SOLUTION_FIXTURES / "migration"
NUMBER = re.compile(r"-?\d+\.\d+")
# Normalized coordinates: 0.002 is 1.3 px at 640 and 2.6 px at 1280 wide, below 1% of the
# inter-ocular distance in these images; scores as in the detection tests.
COORDINATE_TOLERANCE = 0.002
SCORE_TOLERANCE = 0.02
DRAWN_IOU = 0.95  # where the two drew, over where either drew (lines move by a pixel here)


def test_the_example_differs_from_mediapipes_code_by_the_import_line_only() -> None:
    ours = EXAMPLE.read_text().splitlines()
    theirs = (MIGRATION / "script.py.txt").read_text().splitlines()
    changed = [line for line in difflib.unified_diff(theirs, ours, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [f"-{MEDIAPIPE_IMPORT}", f"+{GRAPHFLOW_IMPORT}"]


def _numbers_and_text(line: str) -> tuple[list[float], str]:
    return [float(n) for n in NUMBER.findall(line)], NUMBER.sub("#", line)


def test_the_example_gives_mediapipes_results(tmp_path: pathlib.Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    run = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path), *ARGS], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    ours = run.stdout.splitlines()
    theirs = (MIGRATION / "stdout.txt").read_text().splitlines()
    assert len(ours) == len(theirs) == 3 + 2 * 60  # 3 faces on the stills, 2 per frame
    for a, b in zip(ours, theirs, strict=True):
        (numbers_a, text_a), (numbers_b, text_b) = _numbers_and_text(a), _numbers_and_text(b)
        assert text_a == text_b, (a, b)  # same image / frame, same number of landmarks
        if text_a.startswith("frame"):  # score, then box and nose tip
            assert abs(numbers_a[0] - numbers_b[0]) <= SCORE_TOLERANCE, (a, b)
            numbers_a, numbers_b = numbers_a[1:], numbers_b[1:]
        np.testing.assert_allclose(numbers_a, numbers_b, atol=COORDINATE_TOLERANCE,
                                   err_msg=f"graphflow: {a}\nMediaPipe: {b}")
    for name, original in originals(ROOT).items():
        drawn = drawn_pixels(read_bgr(tmp_path / name), original).any(axis=2)
        expected = read_bgr(MIGRATION / name).any(axis=2)
        assert expected.sum() > 1000, name
        iou = (drawn & expected).sum() / (drawn | expected).sum()
        assert iou >= DRAWN_IOU, f"{name}: drawn pixels IoU {iou:.3f}"
