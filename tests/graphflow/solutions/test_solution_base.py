"""SolutionBase: input checks, lifecycle and calculator parameters (on FaceDetection's graph)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from face_reference import ROOT, read_rgb

from graphflow import CalculatorGraph
from graphflow.solutions import face_detection, face_mesh, selfie_segmentation
from graphflow.solutions.solution_base import SolutionBase, graph_path

IMAGE = ROOT / "media" / "tilted" / "roll_p10.jpg"


@pytest.mark.parametrize(("image", "message"), [
    ([[[0, 0, 0]]], "numpy array"),
    (np.zeros((48, 64), np.uint8), r"three-channel RGB image .* got shape \(48, 64\)"),
    (np.zeros((48, 64, 4), np.uint8), r"three-channel RGB image .* got shape \(48, 64, 4\)"),
    (np.zeros((48, 64, 3), np.float32), "dtype uint8 .* got dtype float32"),
    (np.zeros((0, 64, 3), np.uint8), r"non-empty image, got shape \(0, 64, 3\)"),
    (np.zeros((48, 0, 3), np.uint8), r"non-empty image, got shape \(48, 0, 3\)"),
])
def test_wrong_images_are_value_errors(image: object, message: str) -> None:
    with face_detection.FaceDetection() as detector:
        with pytest.raises(ValueError, match=message):
            detector.process(image)  # type: ignore[arg-type]
        # The graph is still usable after a rejected image.
        assert len(detector.process(read_rgb(IMAGE)).detections) == 1


def test_non_contiguous_views_give_the_same_result() -> None:
    rgb = read_rgb(IMAGE)
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    with face_detection.FaceDetection() as detector:
        a = detector.process(rgb).detections[0]
        b = detector.process(bgr[:, :, ::-1]).detections[0]  # negative strides
    assert a == b


def test_close_context_manager_and_reset(no_thread_leak: None) -> None:
    rgb = read_rgb(IMAGE)
    detector = face_detection.FaceDetection()
    first = detector.process(rgb).detections
    detector.reset()
    assert detector.process(rgb).detections == first
    detector.close()
    with pytest.raises(ValueError, match="FaceDetection is closed"):
        detector.process(rgb)
    with pytest.raises(ValueError, match="closed"):
        detector.close()
    with face_detection.FaceDetection() as inner:
        inner.process(rgb)
    with pytest.raises(ValueError, match="closed"):
        inner.process(rgb)


def test_calculator_params_name_nodes_and_fields() -> None:
    path = "mediapipe/modules/face_detection/face_detection_short_range_cpu.binarypb"
    node = "facedetectionshortrange__facedetection__TensorsToDetectionsCalculator"
    with pytest.raises(ValueError, match="the graph has no node 'nosuchnode'"):
        SolutionBase(path, outputs={}, calculator_params={"nosuchnode.min_score_thresh": 0.1})
    with pytest.raises(ValueError, match="options have no field 'threshold'"):
        SolutionBase(path, outputs={}, calculator_params={f"{node}.threshold": 0.1})
    seen: list[float] = []

    def raise_threshold(current: float) -> float:
        seen.append(current)
        return 0.99

    solution = SolutionBase(path, outputs={"detections": len},
                            calculator_params={f"{node}.min_score_thresh": raise_threshold})
    with solution:
        assert seen == [pytest.approx(0.5)]  # the graph's own value
        assert solution.process(read_rgb(IMAGE)).detections is None  # 0.975 < 0.99


def test_unknown_graph_is_named() -> None:
    with pytest.raises(FileNotFoundError, match=r"no graph 'mediapipe/modules/x\.binarypb'"):
        graph_path("mediapipe/modules/x.binarypb")


@pytest.mark.timeout(60)  # a close that waits on a node that never finishes hangs here
@pytest.mark.parametrize("make", [
    lambda: face_mesh.FaceMesh(), lambda: face_mesh.FaceMesh(refine_landmarks=True),
    lambda: face_detection.FaceDetection(model_selection=1),
    lambda: selfie_segmentation.SelfieSegmentation()])
def test_closing_or_resetting_before_any_image_ends_the_run(
        make: Any, no_thread_leak: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A solution that never got an image closes its graph plainly (every node's close runs,
    errors are raised) rather than cancelling it, and the run ends."""

    def no_cancel(graph: CalculatorGraph) -> None:
        raise AssertionError("the run was cancelled, not closed")

    monkeypatch.setattr(CalculatorGraph, "cancel", no_cancel)
    with make():
        pass
    solution = make()
    solution.reset()
    solution.close()
    with make() as used:  # a run that got images closes the same way
        used.process(read_rgb(IMAGE))


@pytest.mark.parametrize("make", [
    lambda **kw: face_detection.FaceDetection(**kw),
    lambda **kw: face_mesh.FaceMesh(refine_landmarks=True, **kw),
    lambda **kw: selfie_segmentation.SelfieSegmentation(**kw)])
def test_executor_choice_runs_calculators_where_asked_with_the_same_results(
        make: Any, no_thread_leak: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Solutions run synchronously by default (calculators and the outputs' observer on the
    caller's thread); False runs the graph on its pool, where the observer is called on a pool
    thread (the waiting caller may run calculators, never an observer); both give the same
    results, image after image."""
    threads: set[threading.Thread] = set()
    store = SolutionBase._store

    def record(self: SolutionBase, stream: str, packet: Any) -> None:
        threads.add(threading.current_thread())
        store(self, stream, packet)

    monkeypatch.setattr(SolutionBase, "_store", record)
    rgb = read_rgb(IMAGE)
    images = [rgb, rgb[::-1].copy(), rgb]  # tracking solutions carry state across images
    results = {}
    for synchronous, expected in ((None, True), (True, True), (False, False)):
        threads.clear()
        with make(**({} if synchronous is None else {"synchronous": synchronous})) as solution:
            # Masks as bytes: arrays do not compare with ==.
            results[synchronous] = [
                [v.tobytes() if isinstance(v, np.ndarray) else v for v in solution.process(image)]
                for image in images]
        assert (threads == {threading.current_thread()}) is expected, threads
    assert results[True][0][0] is not None  # the face (or mask) is found
    assert results[None] == results[True] == results[False]
