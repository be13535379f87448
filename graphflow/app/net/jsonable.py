"""Generic conversion of packet payloads to JSON values, without knowing their types.

Rules, in order: JSON scalars stay (non-finite floats become None); numpy scalars and arrays
become numbers and nested lists; protobuf messages go through ``MessageToDict``; objects with a
``to_dict()`` method, dataclasses (field by field) and named tuples become objects; images
(``ImageFrame``) become a summary of their size, never their pixels; mappings become objects;
lists, tuples and sets become lists; objects with ``__array__`` (landmark lists)
become nested lists; anything else becomes its ``repr``.

Example:
    >>> to_jsonable(Detection(0.1, 0.2, 0.3, 0.4, keypoints=[[0.5, 0.5]], score=0.9))["keypoints"]
    [[0.5, 0.5]]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format
from google.protobuf.message import Message

from graphflow.image_frame import ImageFrame

_MAX_DEPTH = 32


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """``value`` as nested dicts, lists, strings, numbers, booleans and None.

    Raises:
        ValueError: If the value nests deeper than 32 levels (a cycle, most likely).
    """
    if _depth > _MAX_DEPTH:
        raise ValueError(f"payload nests deeper than {_MAX_DEPTH} levels: {type(value).__name__}")
    depth = _depth + 1
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), depth)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), depth)
    if isinstance(value, Message):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, ImageFrame):
        return {"image": {"width": value.width, "height": value.height,
                          "channels": value.channels}}
    if callable(getattr(value, "to_dict", None)):
        return to_jsonable(value.to_dict(), depth)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), depth)
                for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return to_jsonable(value._asdict(), depth)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, depth) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v, depth) for v in value]
    if hasattr(value, "__array__"):
        return to_jsonable(np.asarray(value), depth)
    return repr(value)
