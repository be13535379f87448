#!/usr/bin/env bash
# Create .venv-mp: the MediaPipe 0.10.21 reference environment (fixtures and MediaPipe-side benches).
#
# Idempotent: does nothing when .venv-mp already imports mediapipe 0.10.21 with numpy<2.
# mediapipe 0.10.21 is the last wheel that ships the face .tflite models and the legacy
# mp.solutions API; it needs numpy<2 and protobuf 4, so it cannot share .venv (numpy 2, protobuf 7).
# It is installed without its declared dependencies on purpose: opencv-contrib-python would clash
# with opencv-python-headless (both provide cv2), and jax, jaxlib, sentencepiece and sounddevice are
# not imported by the solutions API or the framework bindings. matplotlib is needed at import time
# (mediapipe.python.solutions.drawing_utils imports it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-mp"
PYTHON="${PYTHON:-python3}"
CHECK='import mediapipe as mp, numpy as np, cv2; assert mp.__version__ == "0.10.21"; assert int(np.__version__.split(".")[0]) < 2; mp.solutions.face_mesh.FaceMesh; mp.CalculatorGraph'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
    echo "mp_venv: $VENV is ready (mediapipe 0.10.21)"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet --no-deps "mediapipe==0.10.21"
"$VENV/bin/python" -m pip install --quiet \
    "numpy<2" \
    "protobuf>=4.25.3,<5" \
    "opencv-python-headless<4.11" \
    "absl-py" "attrs>=19.1.0" "flatbuffers>=2.0" \
    "matplotlib<3.11"
"$VENV/bin/python" -c "$CHECK"
echo "mp_venv: created $VENV (mediapipe 0.10.21)"
