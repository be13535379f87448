"""xy_bounds against numpy's reductions along axis 0, which it replaces in the calculators."""

from __future__ import annotations

import numpy as np
import pytest

from calculators.util.bounds import xy_bounds


@pytest.mark.parametrize(("shape", "dtype"), [((478, 3), np.float32), ((6, 2), np.float32),
                                              ((1, 3), np.float64), ((33, 5), np.float64)])
def test_same_values_and_dtype_as_reductions_along_axis_0(shape: tuple[int, int],
                                                           dtype: type) -> None:
    points: np.ndarray = np.random.default_rng(3).normal(size=shape).astype(dtype)
    x0, y0, x1, y1 = xy_bounds(points)
    lo, hi = points.min(axis=0), points.max(axis=0)
    assert [x0, y0, x1, y1] == [lo[0], lo[1], hi[0], hi[1]]
    assert {np.dtype(type(v)) for v in (x0, y0, x1, y1)} == {np.dtype(dtype)}


def test_nan_propagates_as_in_min_and_max() -> None:
    points = np.array([[0.1, 0.2, 0.0], [np.nan, 0.5, 0.0], [0.3, 0.1, 0.0]], dtype=np.float32)
    x0, y0, x1, y1 = xy_bounds(points)
    assert np.isnan(x0) and np.isnan(x1)
    assert (y0, y1) == (np.float32(0.1), np.float32(0.5))


def test_empty_points_are_an_error_as_in_min() -> None:
    with pytest.raises(ValueError, match="zero-size"):
        xy_bounds(np.zeros((0, 3), dtype=np.float32))
