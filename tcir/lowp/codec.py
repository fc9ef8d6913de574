"""`encode(x, fmt)` and `decode(bits, fmt)`: NumPy arrays to and from a number format.

    import numpy as np, tcir
    tcir.lowp.fixed_format("q4_4", integer=4, fraction=4)
    bits = tcir.lowp.encode(np.array([1.3, -7.9]), "q4_4")     # int8 [21, -126]
    tcir.lowp.decode(bits, "q4_4")                             # float32 [1.3125, -7.875]

Both are TC kernels compiled through the same path as any use of the format in TC
(`Y(i) = q4_4(X(i))`, `Y(i) = float(X(i))`: the routines of the `lower-lowp` pass, on
all cores), kept like any kernel in the compilation cache, so a conversion is as fast as
the generated code and exactly what a kernel computes. Encoding rounds to nearest, ties
to even, with the format's own overflow rule (as TC's casts do).

Arrays of a format have the format's `numpy_dtype`: ml_dtypes' dtype for the named
formats (`encode(x, "float8_e4m3fn")` is an `ml_dtypes.float8_e4m3fn` array, the same as
`x.astype(ml_dtypes.float8_e4m3fn)`), the storage integer (uint8, int16 ...) holding
the bit pattern for user formats. `decode` gives `dtype` values, by default the smallest
of float32 and float64 that holds every value of the format exactly. Any shape and any
strides; the result has the input's shape.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import TcError
from ..frontend.formats import Format, get_format

# NumPy dtype name -> TC type name, for the values encode takes and decode gives
_TC_TYPES = {
    "bool": "bool", "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float16": "half", "bfloat16": "bfloat16", "float32": "float", "float64": "double",
}


def _format(fmt: str | Format) -> Format:
    if isinstance(fmt, str):
        return get_format(fmt)
    if get_format(fmt.name) != fmt:
        raise TcError(f"format `{fmt.name}` is not the one registered under that name")
    return fmt


def _tc_type(dtype: np.dtype, what: str) -> str:
    name = _TC_TYPES.get(np.dtype(dtype).name)
    if name is None:
        raise TcError(f"{what} must be a real number dtype ({', '.join(_TC_TYPES)}), got {np.dtype(dtype)}")
    return name


@lru_cache(maxsize=None)
def _converter(src: str, dst: str):
    """A kernel converting a vector of `src` to `dst`, compiled once per process."""
    from ..api import define  # the compiler: imported when a conversion first runs

    return define(f"def convert({src}(N) X) -> ({dst}(N) Y) {{ Y(i) = {dst}(X(i)) }}").convert


def _convert(x: np.ndarray, src: str, dst: str, dtype: np.dtype) -> np.ndarray:
    if x.size == 0:  # TC refuses an empty range; there is nothing to convert
        return np.empty(x.shape, dtype)
    flat = x.reshape(-1)  # a view where the strides allow it
    return _converter(src, dst)(flat).reshape(x.shape)


def encode(x, fmt: str | Format) -> np.ndarray:
    """The values `x` (any real dtype) rounded to the format `fmt` (a name or a format),
    as an array of `fmt.numpy_dtype`."""
    f = _format(fmt)
    x = np.asarray(x)
    return _convert(x, _tc_type(x.dtype, "encode's input"), f.name, f.numpy_dtype)


def decode(bits, fmt: str | Format, dtype=None) -> np.ndarray:
    """The values of the format `fmt` held in `bits` (an array of `fmt.numpy_dtype`, or of
    integers holding the bit patterns), as `dtype` (by default float32 when it holds every
    value of the format exactly, else float64)."""
    from ..frontend.types import TYPE_NAMES, holds_exactly, lowp_type

    f = _format(fmt)
    bits = np.asarray(bits)
    if bits.dtype != f.numpy_dtype:
        if bits.dtype.kind not in "iu" or bits.dtype.itemsize != f.numpy_dtype.itemsize:
            raise TcError(f"decode's input must be an array of {f.numpy_dtype} (format `{f.name}`), "
                          f"or of {f.numpy_dtype.itemsize}-byte integers holding its bit patterns; got {bits.dtype}")
        bits = bits.view(f.numpy_dtype)
    if dtype is None:
        dtype = np.float32 if holds_exactly(TYPE_NAMES["float"], lowp_type(f)) else np.float64
    return _convert(bits, f.name, _tc_type(dtype, "decode's dtype"), np.dtype(dtype))
