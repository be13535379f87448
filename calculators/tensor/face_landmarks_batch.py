"""FaceLandmarksBatchCalculator: every tracked face's mesh landmarks in one node.

MediaPipe's FaceLandmarkFrontCpu loops over the faces' ROIs (BeginLoop -> FaceLandmarkCpu ->
FaceLandmarkLandmarksToRoi -> EndLoop): about 20 calculator calls for each face, each run by
the engine, plus the loop's own. This calculator does the same work for all faces in one
``process()`` with the functions those calculators use, so a face costs its crop, its inference
and a few numpy calls, not 20 calls. graphflow's face tracker
(graphs/modules/face_tracker_cpu.pbtxt) uses it; MediaPipe's graphs keep their loops.

Each face, as face_landmark_cpu.pbtxt and face_landmark_landmarks_to_roi.pbtxt configure it:
the ROI cropped to a 192x192 tensor in [0, 1] (ImageToTensor, border replicated), the landmark
model (one session run a face, the faces after the first on helper threads while the node's
thread does the first: a batch of two measured no cheaper than two runs, 2.1-2.8 ms either way
on one thread), the face flag through a sigmoid kept when above 0.5 (TensorsToFloats,
Thresholding, Gate), 468 landmarks divided by the tensor size (TensorsToLandmarks), projected
into the image (LandmarkProjection), and the next frame's ROI from them (LandmarksToDetection,
DetectionsToRects turned so that landmarks 33 and 263 are level, RectTransformation 1.5x squared
long side).
"""

from __future__ import annotations

import concurrent.futures
import os

import numpy as np
import numpy.typing as npt

from calculators.image.image_properties import image_frame
from calculators.tensor.activation import sigmoid
from calculators.tensor.image_to_tensor import crop_to_tensor, roi_from_rect
from calculators.tensor.inference import open_session
from calculators.tensor.model_loader import FACE_LANDMARK_MODEL
from calculators.tensor.tensors_to_landmarks import decode_landmarks
from calculators.util.landmarks_to_detection import landmarks_to_detection
from calculators.util.projection import project_landmarks_in_rect
from calculators.util.rects import RectTransform, rotated_rect, transform_rect
from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.formats import NormalizedLandmarkList, NormalizedRect
from graphflow.image_frame import ImageFrame
from graphflow.proto.mediapipe.calculators.tensor import inference_calculator_pb2
from graphflow.proto.mediapipe.calculators.util import rect_transformation_calculator_pb2

TENSOR_SIZE = 192
NUM_LANDMARKS = 468
PRESENCE_THRESHOLD = 0.5
# The eyes' outer corners: the ROI turns so that the line between them is level.
ROTATION_KEYPOINTS = (33, 263)
_ROI_TRANSFORM = RectTransform.from_options(
    rect_transformation_calculator_pb2.RectTransformationCalculatorOptions(
        scale_x=1.5, scale_y=1.5, square_long=True))
_DIVISOR = np.array([TENSOR_SIZE, TENSOR_SIZE, TENSOR_SIZE], dtype=np.float32)


@register_calculator
class FaceLandmarksBatchCalculator(Calculator):
    """The mesh landmarks of every face ROI on a frame, and the faces' ROIs for the next one.

    Inputs: ``IMAGE``, the frame; ``NORM_RECTS``, the faces' ROIs. Outputs, in the ROIs' order
    and only for the faces the model finds (face flag above 0.5): ``LANDMARKS``, a list of
    NormalizedLandmarkLists; ``NORM_RECTS``, each face's ROI from its landmarks. Without a face
    neither output gets a packet (the bounds advance), as the EndLoop calculators of
    MediaPipe's loop do. An ROI of width and height 0 is skipped, as ImageToTensor skips it.
    """

    inputs = (
        Port("IMAGE", ImageFrame, doc="the frame"),
        Port("NORM_RECTS", list, doc="the faces' ROIs (NormalizedRects)"),
    )
    outputs = (
        Port("LANDMARKS", list, optional=True, doc="NormalizedLandmarkLists, one a face found"),
        Port("NORM_RECTS", list, optional=True, doc="the found faces' ROIs from their landmarks"),
    )
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        """Opens the landmark model's session (one thread, as face_landmark_cpu.pbtxt's)."""
        # Faces after the first are cropped and run on these threads while this one does the
        # first: OpenCV and onnxruntime let the interpreter lock go, so on two cores two faces
        # take about the time of one (MediaPipe's loop overlaps them across its nodes too; a
        # frame's faces must be done before the next frame's, whose ROIs they give). The
        # threads start with the first frame of several faces.
        self.helpers = concurrent.futures.ThreadPoolExecutor(
            max(1, (os.cpu_count() or 2) - 1), f"{cc.node_name}:faces")
        self.session = open_session(FACE_LANDMARK_MODEL,
                                    inference_calculator_pb2.InferenceCalculatorOptions(),
                                    cc.node_name)
        self.input_name = self.session.get_inputs()[0].name
        # The model's outputs: the landmarks, then the face flag.
        self.output_names = [o.name for o in self.session.get_outputs()]

    def close(self, cc: CalculatorContext) -> None:
        """Stops the helper threads."""
        self.helpers.shutdown()

    def _model(self, pixels: npt.NDArray[np.uint8], rect: NormalizedRect
               ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """The model's landmark and face flag tensors for one ROI."""
        tensor = crop_to_tensor(pixels, roi_from_rect(pixels.shape[1], pixels.shape[0], rect),
                                TENSOR_SIZE, TENSOR_SIZE, (0.0, 1.0), False)
        raw, flag = self.session.run(self.output_names, {self.input_name: tensor})
        return raw, flag

    def process(self, cc: CalculatorContext) -> None:
        """Runs the model on each ROI and sends the found faces' landmarks and ROIs."""
        rects = cc.inputs["NORM_RECTS"].get()
        if not rects or cc.inputs["IMAGE"].is_empty:
            return
        image = image_frame(cc.inputs["IMAGE"].payload, "IMAGE")
        pixels, size = image.array, (image.width, image.height)
        rects = [rect for rect in rects if rect.width != 0 or rect.height != 0]
        if not rects:
            return
        later = [self.helpers.submit(self._model, pixels, rect) for rect in rects[1:]]
        try:
            first = self._model(pixels, rects[0])
        finally:  # nothing of this frame runs on after process(), whatever failed
            concurrent.futures.wait(later)
        outputs = [first] + [future.result() for future in later]
        faces: list[NormalizedLandmarkList] = []
        rois: list[NormalizedRect] = []
        for rect, (raw, flag) in zip(rects, outputs, strict=True):
            score = float(sigmoid(np.asarray(flag, dtype=np.float64).reshape(-1))[0])
            if not score > PRESENCE_THRESHOLD:
                continue
            xyz, visibility, presence = decode_landmarks(raw, NUM_LANDMARKS)
            projected = project_landmarks_in_rect(xyz / _DIVISOR, rect)
            projected.flags.writeable = False  # into the list without a copy
            landmarks = NormalizedLandmarkList(projected, visibility, presence)
            faces.append(landmarks)
            rois.append(_next_roi(landmarks, size))
        if not faces:
            return
        if cc.outputs.connected("LANDMARKS"):
            cc.outputs["LANDMARKS"].add(faces)
        if cc.outputs.connected("NORM_RECTS"):
            cc.outputs["NORM_RECTS"].add(rois)


def _next_roi(landmarks: NormalizedLandmarkList, size: tuple[int, int]) -> NormalizedRect:
    """FaceLandmarkLandmarksToRoi: the box of the landmarks, turned level, 1.5x, square."""
    detection = landmarks_to_detection(landmarks)
    rect = rotated_rect(detection, *ROTATION_KEYPOINTS, 0.0, size)
    return transform_rect(rect, size, _ROI_TRANSFORM)
