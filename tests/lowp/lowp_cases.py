"""Inputs and ml_dtypes comparisons shared by the tests of tcir/lowp and exact_formats.

Expected values come from ml_dtypes (its casts and decoded values) and plain float64 /
integer arithmetic, never from the code under test.
"""

from __future__ import annotations

import numpy as np

from tcir.lowp import NAMED_FORMATS, FloatFormat
from tcir.testing import exact_formats as exact

FLOATS = [f for f in NAMED_FORMATS if isinstance(f, FloatFormat)]
INTS = [f for f in NAMED_FORMATS if not isinstance(f, FloatFormat)]


def ml_bits(fmt, values: np.ndarray) -> np.ndarray:
    """ml_dtypes' cast of `values` to the named format, as patterns."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values).astype(fmt.numpy_dtype).view(np.uint8).astype(np.int64)


def ml_values(fmt, patterns) -> np.ndarray:
    """ml_dtypes' float64 values of the patterns of the named format."""
    return np.asarray(patterns, np.uint8).view(fmt.numpy_dtype).astype(np.float64)


def encode_all(fmt, values, **kw) -> np.ndarray:
    """exact.encode of each value (NumPy floats go in as exact Python floats)."""
    return np.array([exact.encode(fmt, float(v), **kw) for v in np.asarray(values).ravel()], np.int64)


def assert_same_bits(fmt, inputs, ours: np.ndarray, theirs: np.ndarray) -> None:
    """Equal patterns, where any NaN pattern matches any NaN pattern."""
    differ = ours != theirs
    if isinstance(fmt, FloatFormat) and differ.any():
        differ &= ~(np.isnan(ml_values(fmt, ours)) & np.isnan(ml_values(fmt, theirs)))
    if differ.any():
        where = np.flatnonzero(differ)[:8]
        shown = [(repr(np.asarray(inputs).ravel()[i]), hex(ours[i]), hex(theirs[i])) for i in where]
        raise AssertionError(f"{fmt.name}: {differ.sum()} differences (input, ours, ml_dtypes): {shown}")


def finite_magnitudes(fmt) -> np.ndarray:
    """The format's finite non-negative values, ascending, from ml_dtypes."""
    values = ml_values(fmt, np.arange(1 << fmt.bits))
    return np.unique(values[np.isfinite(values) & (values >= 0)])


def _around(x: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = x.astype(dtype)
    return np.concatenate([x, np.nextafter(x, dtype(np.inf)), np.nextafter(x, dtype(-np.inf))])


def boundary_values(fmt, dtype=np.float64) -> np.ndarray:
    """Rounding boundaries of a float format in `dtype`, both signs: every value, every
    midpoint between neighbours, the overflow threshold (half an ulp above the largest
    value) and multiples of the largest, the subnormal range down to below half the
    smallest subnormal, each with its neighbours one ulp of `dtype` away; then +-0,
    +-inf and NaN."""
    v = finite_magnitudes(fmt)
    top = v[-1]
    ulp = np.ldexp(1.0, np.frexp(top)[1] - 1 - fmt.mantissa)  # beyond top: top + ulp
    tiny = v[v > 0][0]
    points = np.concatenate([
        v, (v[:-1] + v[1:]) / 2, [top + ulp / 2, top + ulp, 2 * top, 1e30 * top],
        tiny * np.array([0.25, 0.5, 0.75, 1.5]), [np.finfo(dtype).smallest_subnormal, 1e-30 * tiny],
    ])
    points = _around(points, dtype)
    return np.concatenate([points, -points, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)])


def integer_boundaries(fmt, dtype=np.float64) -> np.ndarray:
    """For an integer format: halves and integers around its range, with neighbours."""
    span = 1 << fmt.bits
    k = np.arange(-2 * span, 2 * span + 1)
    points = np.concatenate([k, k + 0.5, [2.0 ** 31, 2.0 ** 32 + 3, 1e20, 1e300]])
    points = _around(points, dtype)
    return np.concatenate([points, -points, np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)])
