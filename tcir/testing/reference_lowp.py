"""Number formats (`tcir.lowp`) in the NumPy reference evaluator (tcir/testing/reference.py).

Arrays of a format hold what the API passes: ml_dtypes' dtype for the named formats
(float8_e4m3fn, int4 ...), the storage integer for user formats (`LowpType.numpy_dtype`),
the pattern in its low bits and the high bits zero, as the generated code writes it. Internally every operation works on **bit
patterns** (int64 arrays of non-negative patterns below ``2**bits``), computed by the
exact arithmetic of `tcir.testing.exact_formats` — decode, the exact operation, one
rounding — and never by generated code. It is vectorized by deduplication: each distinct
operand (or pair of operands) is computed once in Python, then scattered back, so a
tensor of an 8-bit format costs at most 256 (or 65536) exact operations whatever its
size. Decoding is a table per float format (float64 holds every value of a format of at
most 16 bits exactly, NaN's sign and -0 included) and a product for fixed point.

The rules (docs/language.md, "Number formats"):
  * `+ - * /` and `min`/`max` of one format: the exact result rounded once to the format
    (to nearest, ties to even; the format's own overflow rule); in an integer format
    (fixed point without fraction bits: int4, uint4, int2, uint2) `/` truncates toward
    zero; `/` by zero in fixed point is an error here (undefined in compiled code).
    `-` is exact (its overflow rule for fixed point). Comparisons are IEEE on the exact
    values (`!=` is true for NaN, the others false; -0 == +0).
  * conversions: to a standard float, the exact value rounded once (to nearest even);
    to an integer, truncated toward zero and wrapped (NaN and infinities give 0), as
    `lowp.cast` does; to `bool`, `!= 0`; from a standard float, an integer, `bool` or
    another format, `exact_formats.encode` from the exact value (a float source, or an
    exact one for integers and fixed point), rounding toward zero into an integer format
    and to nearest even otherwise.
  * the identities of the `!` reductions: 0, 1, and for `min`/`max` the largest and the
    smallest value of the format (+-inf where it has infinities).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache

import numpy as np

from tcir.errors import TcError
from tcir.frontend.types import LowpType, ScalarType
from tcir.lowp import FixedFormat

from . import exact_formats as ef

_F64 = np.dtype(np.float64)


# Patterns and storage ----------------------------------------------------------------


def patterns(x: np.ndarray, t: LowpType) -> np.ndarray:
    """The bit patterns (int64) of an array of format `t` in its NumPy dtype."""
    x = np.asarray(x)
    width = x.dtype.itemsize
    bits = x.view(np.dtype(f"uint{8 * width}")).astype(np.int64)
    return bits & ((1 << t.bits) - 1)


def storage(p: np.ndarray, t: LowpType) -> np.ndarray:
    """Patterns back into `t`'s NumPy dtype: the pattern in the low bits, the high bits
    zero (as ml_dtypes' int4 holds -1 as 0x0f, and as `FixedFormat` documents)."""
    p = np.asarray(p, np.int64)
    dtype = t.numpy_dtype
    return p.astype(np.dtype(f"uint{8 * dtype.itemsize}")).view(dtype)


@cache
def _float_table(fmt) -> np.ndarray:
    return np.array([float(ef.decode(fmt, bits)) for bits in range(1 << fmt.bits)], _F64)


def values(p: np.ndarray, t: LowpType) -> np.ndarray:
    """The exact values (float64) of patterns of format `t`."""
    fmt = t.format
    if t.is_fixed:
        signed = np.where(p >= 1 << (fmt.bits - 1), p - (1 << fmt.bits), p) if fmt.signed else p
        return np.ldexp(signed.astype(_F64), -fmt.fraction)
    return _float_table(fmt)[p]


def _exact(fmt, bits: int):
    """The value of a pattern as `encode` takes it: a float for a float format (a float
    source), a Fraction for fixed point (an exact source)."""
    value = ef.decode(fmt, bits)
    return value if isinstance(fmt, FixedFormat) else float(value)


# Deduplicated exact operations ---------------------------------------------------------


def _unique_map(fn, key: np.ndarray, *columns: np.ndarray) -> np.ndarray:
    """fn(*row) for each distinct `key`, scattered back to `key`'s shape (int64)."""
    flat = key.ravel()
    uniq, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
    rows = [c.ravel()[first] for c in columns]
    results = np.fromiter((fn(*(r[k].item() for r in rows)) for k in range(len(uniq))), np.int64, len(uniq))
    return results[inverse.reshape(-1)].reshape(key.shape)


def _pairs(fn, a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    key = (a.astype(np.uint64) << np.uint64(bits)) | b.astype(np.uint64)
    return _unique_map(fn, key, a, b)


def rounding_to(t: ScalarType) -> str:
    """Toward zero into an integer or an integer format, to nearest even otherwise."""
    integral = t.is_integer or t.is_lowp and t.is_fixed and t.format.fraction == 0
    return "toward_zero" if integral else "nearest_even"


def binary(op: str, a: np.ndarray, b: np.ndarray, t: LowpType, mask=None) -> np.ndarray:
    """`a op b` for arrays of format `t` (in its NumPy dtype); comparisons give bool."""
    fmt, pa, pb = t.format, patterns(a, t), patterns(b, t)
    if op in ("<", ">", "<=", ">=", "==", "!="):
        x, y = values(pa, t), values(pb, t)
        return {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal,
                "==": np.equal, "!=": np.not_equal}[op](x, y)
    if op in ("min", "max"):
        fn = ef.min if op == "min" else ef.max
        return storage(_pairs(lambda x, y: fn(fmt, x, y), pa, pb, fmt.bits), t)
    rounding = rounding_to(t) if op == "/" else "nearest_even"
    if op == "/" and t.is_fixed:
        zero = np.broadcast_to(values(pb, t) == 0, np.broadcast_shapes(pa.shape, pb.shape))
        live = zero if mask is None else zero & mask
        if live.any():
            raise ZeroDivisionError(f"division by zero in the fixed-point format `{t}`")
        pb = np.where(zero, ef.encode(fmt, 1), pb)  # lanes not evaluated
    fn = {"+": ef.add, "-": ef.sub, "*": ef.mul, "/": ef.div}[op]
    return storage(_pairs(lambda x, y: fn(fmt, x, y, rounding), pa, pb, fmt.bits), t)


def negate(a: np.ndarray, t: LowpType) -> np.ndarray:
    p = patterns(a, t)
    return storage(_unique_map(lambda x: ef.neg(t.format, x), p, p), t)


def encode_value(value, t: LowpType) -> np.ndarray:
    """A constant (its exact int or float value) rounded to `t`, as a 0-d array."""
    exact = int(value) if isinstance(value, bool | int) else float(value)
    return storage(np.asarray(ef.encode(t.format, exact, rounding_to(t))), t)


def identity(kind: str, t: LowpType) -> np.ndarray:
    """Where a `!` reduction into format `t` starts: 0, 1, or for min (max) the largest
    (smallest) value of the format, +inf (-inf) where it has infinities."""
    fmt = t.format
    if kind in ("+", "*"):
        return encode_value(0 if kind == "+" else 1, t)
    if t.is_fixed:
        value = fmt.max_value if kind == "min" else fmt.min_value
    elif fmt.kind == "ieee":
        value = math.inf if kind == "min" else -math.inf
    elif kind == "min":
        value = fmt.max_finite
    else:
        value = fmt.min_subnormal if fmt.kind == "unsigned" else -fmt.max_finite
    return storage(np.asarray(ef.encode(fmt, value if isinstance(value, float) else Fraction(value))), t)


def combine(kind: str, acc: np.ndarray, value: np.ndarray, t: LowpType) -> np.ndarray:
    """One step of a reduction into format `t`: rounded to the format."""
    return binary({"+": "+", "*": "*", "min": "min", "max": "max"}[kind], acc, value, t)


# Conversions ------------------------------------------------------------------------------


def cast(x: np.ndarray, src: ScalarType, dst: ScalarType, to_dtype) -> np.ndarray:
    """`x` of type `src` converted to `dst` where one of them is a format; `to_dtype(x,
    dtype)` converts between standard types (reference.c_cast)."""
    if src.is_lowp and dst.is_lowp:
        fmt = src.format
        p = patterns(x, src)
        return storage(_unique_map(lambda v: ef.encode(dst.format, _exact(fmt, v), rounding_to(dst)), p, p), dst)
    if src.is_lowp:
        v = values(patterns(x, src), src)
        if dst.is_bool:
            return np.asarray(v != 0)
        if dst.is_float:
            return to_dtype(v, dst.numpy_dtype)  # exact in float64, rounded once
        return _to_integer(v, dst)
    # into a format: from bool and integers exactly, from floats as floats
    x = np.asarray(x)
    if src.is_bool:
        x, src_int = x.astype(np.int64), True
    else:
        src_int = src.is_integer
    if src_int:
        ints = x.astype(np.int64) if src.kind != "uint" or src.bits < 64 else x
        return storage(_unique_map(lambda v: ef.encode(dst.format, int(v), rounding_to(dst)), ints, ints), dst)
    wide = np.asarray(x).astype(np.float32).astype(_F64) if x.dtype.itemsize == 2 else np.asarray(x, _F64)
    key = wide.view(np.uint64)
    return storage(_unique_map(lambda v: ef.encode(dst.format, float(v), rounding_to(dst)), key, wide), dst)


def _to_integer(v: np.ndarray, dst: ScalarType) -> np.ndarray:
    """Exact values to an integer type: truncated toward zero, wrapped modulo 2^bits;
    NaN and infinities give 0 (lowp.cast's rule for integers, `wrap`)."""
    bits, signed = dst.bits, dst.kind == "int"

    def convert(x: float) -> int:
        n = int(x) % (1 << bits) if math.isfinite(x) else 0
        return n - (1 << bits) if signed and n >= 1 << (bits - 1) else n

    flat = np.asarray(v, _F64).ravel()
    uniq, inverse = np.unique(flat.view(np.uint64), return_inverse=True)
    converted = np.array([convert(x) for x in uniq.view(_F64).tolist()], dst.numpy_dtype)
    return converted[inverse.reshape(-1)].reshape(np.shape(v))


def scalar(value, t: LowpType, name: str) -> np.ndarray:
    """A scalar argument of format `t`: a value of its NumPy dtype (a NumPy scalar or a
    0-d array) as is; for a named format also a real Python number, rounded to it."""
    if isinstance(value, np.ndarray | np.generic) and value.dtype == t.numpy_dtype:
        return np.asarray(value)
    if t.is_named and isinstance(value, int | float) and not isinstance(value, bool):
        return encode_value(value, t)
    hint = "" if t.is_named else f"; encode the value first: tcir.lowp.encode(x, \"{t}\")"
    raise TcError(f"scalar `{name}` is `{t}`: pass a {t.numpy_dtype} scalar{hint}")
