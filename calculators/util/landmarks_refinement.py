"""LandmarksRefinementCalculator: merges several landmark lists into one refined list."""

from __future__ import annotations

import numpy as np

from graphflow.calculator import Calculator, CalculatorContext, Port, register_calculator
from graphflow.formats import NormalizedLandmarkList
from graphflow.proto.mediapipe.calculators.util import landmarks_refinement_calculator_pb2

_Options = landmarks_refinement_calculator_pb2.LandmarksRefinementCalculatorOptions


@register_calculator
class LandmarksRefinementCalculator(Calculator):
    """Writes each ``LANDMARKS:i`` list into the output at ``refinement[i].indexes_mapping``.

    Refinements apply in order, later ones overwriting x and y; z is kept (``none``), copied
    (``copy``) or set to the average of the output's z at ``indexes_for_average`` so far
    (``assign_average``), as in MediaPipe. The mappings together must cover 0..N-1. Without a
    packet on every input there is no output. Visibility and presence are not carried.
    """

    inputs = (Port("LANDMARKS", NormalizedLandmarkList, repeated=True),)
    outputs = (Port("REFINED_LANDMARKS", NormalizedLandmarkList),)
    options_type = _Options
    timestamp_offset = 0

    def open(self, cc: CalculatorContext) -> None:
        refinements = list(cc.options.refinement)
        self.ports = sorted(cc.inputs.ports(), key=lambda port: port[1])
        count = len(self.ports)
        if len(refinements) != count:
            raise ValueError(f"there are {len(refinements)} refinements for {count} LANDMARKS "
                             f"streams")
        self.steps: list[tuple[np.ndarray, str, np.ndarray | None]] = []
        used: set[int] = set()
        for i, refinement in enumerate(refinements):
            mapping = np.array(refinement.indexes_mapping, dtype=np.intp)
            if mapping.size == 0:
                raise ValueError(f"refinement {i} has no indexes_mapping")
            kind = refinement.z_refinement.WhichOneof("z_refinement_options")
            if kind is None:
                raise ValueError(f"refinement {i} has no z_refinement")
            average = None
            if kind == "assign_average":
                average = np.array(refinement.z_refinement.assign_average.indexes_for_average,
                                   dtype=np.intp)
                if average.size == 0:
                    raise ValueError(f"refinement {i}: assign_average needs "
                                     f"indexes_for_average")
            used.update(mapping.tolist())
            self.steps.append((mapping, kind, average))
        self.size = len(used)
        if min(used) != 0 or max(used) != self.size - 1:
            raise ValueError(f"the indexes_mapping values must cover 0..{max(used)} without "
                             f"gaps ({max(used) + 1 - self.size} missing)")

    def process(self, cc: CalculatorContext) -> None:
        inputs = [cc.inputs[port].get() for port in self.ports]
        if any(landmarks is None for landmarks in inputs):
            return
        refined = np.zeros((self.size, 3), dtype=np.float32)
        for i, ((mapping, kind, average), landmarks) in enumerate(
                zip(self.steps, inputs, strict=True)):
            xyz = np.asarray(landmarks)
            if len(xyz) != len(mapping):
                raise ValueError(f"LANDMARKS:{i} has {len(xyz)} landmarks, its mapping "
                                 f"{len(mapping)}")
            refined[mapping, :2] = xyz[:, :2]
            if kind == "copy":
                refined[mapping, 2] = xyz[:, 2]
            elif kind == "assign_average":
                refined[mapping, 2] = refined[average, 2].mean(dtype=np.float64)
        refined.flags.writeable = False
        cc.outputs["REFINED_LANDMARKS"].add(NormalizedLandmarkList(refined))
