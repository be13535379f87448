#!/usr/bin/env bash
# Re-extract the MediaPipe models (models/) and solution graphs (graphs/mediapipe/modules/*.binarypb)
# from the mediapipe 0.10.21 wheel on PyPI and check their sha256 sums. For maintainers: the extracted files
# are committed, nothing downloads them at run time.
# Usage: scripts/fetch_models.sh [PYTHON]   (PYTHON defaults to .venv/bin/python, else python3)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${1:-}"
if [[ -z "$python" ]]; then
  if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

wheel_name=mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl
wheel_sha=05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3

"$python" -m pip download --quiet --no-deps --only-binary=:all: \
  --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
  --dest "$work" mediapipe==0.10.21
echo "$wheel_sha  $work/$wheel_name" | sha256sum --check --quiet

# Members to extract: "path inside the wheel|destination|sha256".
members=(
  "mediapipe/modules/face_detection/face_detection_short_range.tflite|models/face_detection_short_range.tflite|bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
  "mediapipe/modules/face_landmark/face_landmark.tflite|models/face_landmark.tflite|1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
  "mediapipe/modules/face_landmark/face_landmark_with_attention.tflite|models/face_landmark_with_attention.tflite|e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4"
  "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite|models/face_detection_full_range_sparse.tflite|2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1"
  "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite|models/selfie_segmentation.tflite|9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
  "mediapipe/modules/selfie_segmentation/selfie_segmentation_landscape.tflite|models/selfie_segmentation_landscape.tflite|a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"
  "mediapipe-0.10.21.dist-info/LICENSE|models/LICENSE|"
  "mediapipe/modules/face_detection/face_detection_full_range_cpu.binarypb|graphs/mediapipe/modules/face_detection/face_detection_full_range_cpu.binarypb|00f072e71a9752536aa4b09216c6bf8d9cc7493222a8d3a472e563eb0e23163b"
  "mediapipe/modules/face_detection/face_detection_short_range_cpu.binarypb|graphs/mediapipe/modules/face_detection/face_detection_short_range_cpu.binarypb|84e65794d4e1d1c6d56896f4dfaab97bc769033205475c1bb9967a22f0da469c"
  "mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb|graphs/mediapipe/modules/face_landmark/face_landmark_front_cpu.binarypb|fa3c092da27d031d54ddd61a29b0e3dd521d53f55fa8898cb0f2b64d79cd6573"
  "mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.binarypb|graphs/mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.binarypb|df9f291eadc2ad77a4a0fabd83d4f2c0c2b4d8626c8f44fb0d14efc2fc81f46d"
)

for member in "${members[@]}"; do
  IFS='|' read -r src dst sha <<<"$member"
  mkdir -p "$root/$(dirname "$dst")"
  unzip -p "$work/$wheel_name" "$src" >"$root/$dst"
  if [[ -n "$sha" ]]; then
    echo "$sha  $root/$dst" | sha256sum --check --quiet
  fi
  echo "extracted $dst"
done
