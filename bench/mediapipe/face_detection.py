"""MediaPipe 0.10.21 face detection per-frame latency, whole and stage by stage.

For each ``--sizes`` entry, decodes media/demo.mp4 once, resizes every frame (cv2.INTER_AREA) and
converts it to RGB, then times, looping the clip:

- the solution: ``mp.solutions.face_detection.FaceDetection(model_selection=0).process`` (the
  FaceDetectionShortRangeCpu graph with the solution's packet and result conversions);
- the detector graph (``detector_config``): the nodes of MediaPipe's short-range detector
  (letterbox, inference, decoding + NMS, projection) in one ``CalculatorGraph``, one frame in
  and ``wait_until_idle``;
- its stages: a second run of that graph with MediaPipe's profiler on, each calculator's mean
  ``Process()`` time;
- the full-range solution, ``FaceDetection(model_selection=1).process`` (whole only).

bench/face_detection.py imports ``detector_config`` and ``STAGES`` under .venv (no mediapipe
there), so that graphflow runs the very same graph text. Prints one JSON line: for each size,
the solution's median, p95 and mean ms, CPU ms per frame (all threads) and frames with a
face, the detector graph's median ms and each stage's ms per frame, and under ``"full"`` the
full-range solution's latency, CPU ms and frames with a face.

Usage:
    .venv-mp/bin/python bench/mediapipe/face_detection.py [--frames 300] [--warmup 20]
        [--sizes 640x480,1280x720,1920x1080]
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import tempfile
from typing import Any

import cv2
import numpy as np
from _common import CLIP, emit, read_frames, summary_ms, time_calls

SIZES = ((640, 480), (1280, 720), (1920, 1080))
MODEL = "mediapipe/modules/face_detection/face_detection_short_range.tflite"

# The nodes of MediaPipe's face_detection.pbtxt with face_detection_short_range.pbtxt's options
# (the whole frame as ROI; ToImageCalculator left out: ImageToTensor takes an ImageFrame).
_LETTERBOX = """node {
  calculator: "ImageToTensorCalculator"
  input_stream: "IMAGE:image"
  output_stream: "TENSORS:input_tensors"
  output_stream: "MATRIX:transform_matrix"
  options: { [mediapipe.ImageToTensorCalculatorOptions.ext] {
    output_tensor_width: 128 output_tensor_height: 128 keep_aspect_ratio: true
    output_tensor_float_range { min: -1.0 max: 1.0 } border_mode: BORDER_ZERO } }
}
"""
_INFERENCE = f"""node {{
  calculator: "InferenceCalculator"
  input_stream: "TENSORS:input_tensors"
  output_stream: "TENSORS:detection_tensors"
  options: {{ [mediapipe.InferenceCalculatorOptions.ext] {{
    model_path: "{MODEL}" delegate {{ xnnpack {{}} }} }} }}
}}
"""
_DECODING_NMS = """node {
  calculator: "SsdAnchorsCalculator"
  output_side_packet: "anchors"
  options: { [mediapipe.SsdAnchorsCalculatorOptions.ext] {
    num_layers: 4 min_scale: 0.1484375 max_scale: 0.75 input_size_width: 128
    input_size_height: 128 anchor_offset_x: 0.5 anchor_offset_y: 0.5
    strides: 8 strides: 16 strides: 16 strides: 16 aspect_ratios: 1.0
    fixed_anchor_size: true interpolated_scale_aspect_ratio: 1.0 } }
}
node {
  calculator: "TensorsToDetectionsCalculator"
  input_stream: "TENSORS:detection_tensors"
  input_side_packet: "ANCHORS:anchors"
  output_stream: "DETECTIONS:unfiltered_detections"
  options: { [mediapipe.TensorsToDetectionsCalculatorOptions.ext] {
    num_classes: 1 num_boxes: 896 num_coords: 16 box_coord_offset: 0
    keypoint_coord_offset: 4 num_keypoints: 6 num_values_per_keypoint: 2
    sigmoid_score: true score_clipping_thresh: 100.0 reverse_output_order: true
    x_scale: 128.0 y_scale: 128.0 h_scale: 128.0 w_scale: 128.0 min_score_thresh: 0.5 } }
}
node {
  calculator: "NonMaxSuppressionCalculator"
  input_stream: "unfiltered_detections"
  output_stream: "filtered_detections"
  options: { [mediapipe.NonMaxSuppressionCalculatorOptions.ext] {
    min_suppression_threshold: 0.3 overlap_type: INTERSECTION_OVER_UNION
    algorithm: WEIGHTED } }
}
"""
_PROJECTION = """node {
  calculator: "DetectionProjectionCalculator"
  input_stream: "DETECTIONS:filtered_detections"
  input_stream: "PROJECTION_MATRIX:transform_matrix"
  output_stream: "DETECTIONS:detections"
}
"""
#: The stages of the detector and the calculators of each (matched by name: MediaPipe's
#: profiler names the inference node after the CPU implementation it picked).
STAGES = (
    ("letterbox", ("ImageToTensorCalculator",)),
    ("inference", ("InferenceCalculator",)),
    ("decoding + NMS", ("TensorsToDetectionsCalculator", "NonMaxSuppressionCalculator")),
    ("projection", ("DetectionProjectionCalculator",)),
)
#: The stream the detector graph outputs; its input stream is "image" (an RGB ImageFrame).
OUTPUT = "detections"


def detector_config(profile_path: str | None = None) -> str:
    """The short-range detector as one graph (text), optionally tracing into ``profile_path``.

    Both engines write a profile there when the graph closes: MediaPipe a GraphProfile
    (``*.binarypb``), graphflow a Chrome trace (JSON).
    """
    text = (f'input_stream: "image"\noutput_stream: "{OUTPUT}"\n'
            f"{_LETTERBOX}{_INFERENCE}{_DECODING_NMS}{_PROJECTION}")
    if profile_path is not None:
        text += (f'profiler_config {{ enable_profiler: true trace_enabled: true '
                 f'trace_log_path: "{profile_path}" trace_log_interval_count: 1000000 }}\n')
    return text


def stage_times(mean_us: dict[str, float]) -> dict[str, float]:
    """Each stage's ms per frame from each calculator's mean process() time in us."""
    return {stage: sum(us for name, us in mean_us.items() if any(c in name for c in names))
            / 1e3 for stage, names in STAGES}


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"640x480,1280x720"`` -> ``[(640, 480), (1280, 720)]``.

    Raises:
        ValueError: An entry is not WIDTHxHEIGHT with positive integers.
    """
    sizes = []
    for entry in text.split(","):
        width, _, height = entry.strip().partition("x")
        if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
            raise ValueError(f"size {entry!r} is not WIDTHxHEIGHT")
        sizes.append((int(width), int(height)))
    return sizes


def graph_latency(frames: list[np.ndarray], count: int, warmup: int,
                  profile_path: str | None = None) -> float:
    """Median ms from adding a frame to the detector graph until the graph is idle again."""
    import mediapipe as mp

    graph = mp.CalculatorGraph(graph_config=detector_config(profile_path))
    graph.observe_output_stream(OUTPUT, lambda _name, _packet: None)
    graph.start_run()
    timestamp = iter(range(1 << 62))
    # The ImageFrames are made (a copy of each frame) before the clock starts, as graphflow's
    # side makes its ImageFrames; a packet re-stamped with at() shares its frame.
    packets = [mp.packet_creator.create_image_frame(image_format=mp.ImageFormat.SRGB, data=rgb)
               for rgb in frames]

    def run(packet: Any) -> None:
        graph.add_packet_to_input_stream("image", packet.at(next(timestamp)))
        graph.wait_until_idle()

    try:
        samples, _, _ = time_calls(run, packets, count, warmup)
    finally:
        graph.close()
    return summary_ms(samples)["median_ms"]


def profiled_stages(frames: list[np.ndarray], count: int) -> dict[str, float]:
    """Stage ms per frame from MediaPipe's profiler over ``count`` frames of the graph."""
    from mediapipe.framework import calculator_profile_pb2

    with tempfile.TemporaryDirectory() as folder:
        graph_latency(frames, count, 0, folder + os.sep)
        (path,) = pathlib.Path(folder).glob("*.binarypb")
        profile = calculator_profile_pb2.GraphProfile.FromString(path.read_bytes())
    # The file holds successive snapshots, each counting from the last: add them up.
    total: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    for p in profile.calculator_profiles:
        total[p.name] += p.process_runtime.total
        calls[p.name] += sum(p.process_runtime.count)
    return stage_times({name: total[name] / calls[name] for name in total if calls[name]})


def measure(size: tuple[int, int], count: int, warmup: int) -> dict[str, Any]:
    """The solution's and the detector graph's latency and stages at one frame size."""
    import mediapipe as mp
    from mediapipe.python._framework_bindings import resource_util

    # model_path resolves against the package's parent folder, as the solutions set it.
    resource_util.set_resource_dir(os.path.dirname(os.path.dirname(mp.__file__)))
    frames = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in read_frames(CLIP, size)]
    solutions = []
    for model_selection in (0, 1):
        with mp.solutions.face_detection.FaceDetection(model_selection=model_selection,
                                                       min_detection_confidence=0.5) as solution:
            samples, found, cpu_ms = time_calls(lambda rgb: solution.process(rgb).detections,
                                                frames, count, warmup)
        solutions.append({"frames_with_face": found, **summary_ms(samples),
                          "cpu_ms": round(cpu_ms, 4)})
    short, full = solutions
    return {"size": list(size), **short, "full": full,
            "graph_median_ms": graph_latency(frames, count, warmup),
            "stages_ms": profiled_stages(frames, count)}


def main() -> None:
    """Parses arguments, runs the benchmark and prints one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="timed frames (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed frames first (default 20)")
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES),
                        help="frame sizes, comma-separated WIDTHxHEIGHT")
    args = parser.parse_args()
    if args.frames < 1 or args.warmup < 0:
        parser.error("--frames must be positive and --warmup not negative")
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as e:
        parser.error(str(e))
    emit("mediapipe.face_detection", {
        "frames": args.frames,
        "results": [measure(size, args.frames, args.warmup) for size in sizes],
    })


if __name__ == "__main__":
    main()
