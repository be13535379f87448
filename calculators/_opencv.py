"""OpenCV as the calculators use it, with its thread pool capped (import ``cv2`` from here).

graphflow already runs nodes and frames in parallel on its own pool; OpenCV's parallel loops
inside a node would start one more worker per core on top, and its workers spin for a while
after each call: on a 16-core machine, 16 threads for a 720p color conversion that takes a
fraction of a millisecond on one. Two threads is OpenCV's own choice on the 2-core machines
the face pipeline was tuned on (one thread gave the same CPU time per conversion and warp, but
no better pipelined throughput), so the cap is two. ``GRAPHFLOW_OPENCV_THREADS`` sets another
count (0 keeps OpenCV's default), read when this module is first imported.
"""

from __future__ import annotations

import os

import cv2

_THREADS = os.environ.get("GRAPHFLOW_OPENCV_THREADS", "2")
if not _THREADS.strip().isdigit():
    raise ValueError(f"GRAPHFLOW_OPENCV_THREADS must be a thread count (0: OpenCV's default), "
                     f"got {_THREADS!r}")
if int(_THREADS):
    cv2.setNumThreads(int(_THREADS))

__all__ = ["cv2"]
