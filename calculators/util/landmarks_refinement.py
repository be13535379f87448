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
        steps: list[tuple[np.ndarray, str, np.ndarray | None]] = []
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
            steps.append((mapping, kind, average))
        self.size = len(used)
        if min(used) != 0 or max(used) != self.size - 1:
            raise ValueError(f"the indexes_mapping values must cover 0..{max(used)} without "
                             f"gaps ({max(used) + 1 - self.size} missing)")
        # The refinements write one after the other, but where each output's x and y end up
        # coming from is fixed by the options: the row of the inputs stacked in port order that
        # wrote it last. One gather then does the six overlapping scatters of the face mesh
        # (the whole node 40 us a frame down to 21, replayed hot). z is written in order by its
        # own steps, as an average reads the z written before it.
        self.lengths = [len(mapping) for mapping, _, _ in steps]
        self.source = np.empty(self.size, dtype=np.intp)
        # (mapping, rows of the stacked inputs to copy z from, or None, indexes to average)
        self.z_steps: list[tuple[np.ndarray, slice | None, np.ndarray | None]] = []
        offset = 0
        for mapping, kind, average in steps:
            rows = slice(offset, offset + len(mapping))
            # A later refinement, or a later repeat of an index in the same one, overwrites, as
            # MediaPipe's loop over the landmarks does (numpy does not promise an order for a
            # scatter with repeated indexes).
            for row, index in enumerate(mapping.tolist(), start=offset):
                self.source[index] = row
            if kind == "copy":
                self.z_steps.append((mapping, rows, None))
            elif kind == "assign_average":
                self.z_steps.append((mapping, None, average))
            offset += len(mapping)

    def process(self, cc: CalculatorContext) -> None:
        inputs = [cc.inputs[port].get() for port in self.ports]
        if any(landmarks is None for landmarks in inputs):
            return
        for i, (landmarks, length) in enumerate(zip(inputs, self.lengths, strict=True)):
            if len(landmarks) != length:
                raise ValueError(f"LANDMARKS:{i} has {len(landmarks)} landmarks, its mapping "
                                 f"{length}")
        stacked = np.concatenate([landmarks.xyz for landmarks in inputs])
        refined = stacked[self.source]
        z = np.zeros(self.size, dtype=np.float32)
        for mapping, rows, average in self.z_steps:
            if rows is not None:
                z[mapping] = stacked[rows, 2]
            else:
                assert average is not None  # assign_average
                # sum / count is what mean(dtype=float64) computes, without its Python wrapper.
                z[mapping] = z[average].sum(dtype=np.float64) / len(average)
        refined[:, 2] = z
        refined.flags.writeable = False
        cc.outputs["REFINED_LANDMARKS"].add(NormalizedLandmarkList(refined))
