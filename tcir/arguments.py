"""Checking a call's arguments against a def's signature, and binding its sizes.

Every mismatch is a `TcError` that names the parameter and the dimension, and says what
to pass instead (for a wrong dtype, the `astype` to use; `numpy_type` names a dtype's
scalar type as Python spells it: `np.float32`, `np.bool_`, `ml_dtypes.bfloat16`).

NumPy masked arrays are refused (their mask would be ignored), and so are scalars that
are not real numbers (complex, strings, dates) or that do not fit the parameter's type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from .device_arrays import DeviceArray, is_device_array
from .errors import TcError
from .frontend.checked import CheckedDef, TensorInfo


def numpy_type(dtype: np.dtype) -> str:
    """The Python spelling of `dtype`'s scalar type, for hints: `np.float32`, `np.bool_`,
    `ml_dtypes.bfloat16` (NumPy has no bfloat16 of its own)."""
    dtype = np.dtype(dtype)
    if dtype.type.__module__.split(".")[0] == "ml_dtypes":  # bfloat16, float8_e4m3fn, int4 ...
        return f"ml_dtypes.{dtype.name}"
    if dtype == np.dtype(np.bool_):
        return "np.bool_"
    return f"np.{dtype.name}"


def masked_array_error(what: str) -> TcError:
    """The error for a NumPy masked array, which tcir would read or write ignoring its mask."""
    return TcError(f"{what} is a NumPy masked array: tcir does not apply masks, so its masked "
                   "elements would be used as if they were valid; pass `x.filled(value)` (masked "
                   "elements replaced by `value`) or `x.data` (the values underneath) explicitly")


def _signature(t: TensorInfo) -> str:
    dims = ", ".join(str(d) for d in t.shape) if t.shape else ""
    return f"{t.dtype}({dims}) {t.name}" if dims else f"{t.dtype} {t.name}"


@dataclass(frozen=True)
class BoundCall:
    sizes: dict[str, int]
    arrays: dict[str, np.ndarray]  # tensor inputs by name (any strides)
    scalars: dict[str, np.generic]  # scalar parameters, converted to their type


def bind(d: CheckedDef, args: Sequence[object]) -> BoundCall:
    if len(args) != len(d.inputs):
        names = ", ".join(t.name for t in d.inputs)
        raise TcError(f"`{d.name}` takes {len(d.inputs)} input{'s' if len(d.inputs) != 1 else ''} "
                      f"({names}), got {len(args)}")
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, np.generic] = {}
    for t, value in zip(d.inputs, args):
        if t.role == "scalar":
            scalars[t.name] = scalar_argument(d, t, value)
        else:
            arrays[t.name] = tensor_argument(d, t, value)
    sizes = bind_sizes(d, [None if t.role == "scalar" else arrays[t.name].shape for t in d.inputs])
    return BoundCall(sizes, arrays, scalars)


def bind_sizes(d: CheckedDef, shapes: Sequence[Sequence | None], owner: str = "") -> dict:
    """The def's sizes bound from its tensor inputs' shapes (None for a scalar parameter),
    each of the declared rank: a literal extent must match, and a size met twice must
    agree. The extents may be ints or PyTorch SymInts while tracing (`tcir.torch`);
    `owner` (" of tcir::op") follows the parameter's name in messages."""
    sizes: dict[str, object] = {}
    origin: dict[str, str] = {}
    for t, shape in zip(d.inputs, shapes):
        if shape is None:
            continue
        for axis, (dim, extent) in enumerate(zip(t.shape, shape)):
            literal = dim.as_constant()
            if literal is not None:
                if extent != literal:
                    raise TcError(f"dimension {axis} of `{t.name}`{owner} must be {literal} "
                                  f"(declared `{_signature(t)}`), got {extent}")
                continue
            name = str(dim)
            where = f"`{t.name}` (dimension {axis})"
            if name not in sizes:
                sizes[name], origin[name] = extent, where
            elif sizes[name] != extent:
                raise TcError(f"size `{name}`{owner} is {sizes[name]} from {origin[name]} but {extent} from {where}")
    return sizes


def tensor_argument(d: CheckedDef, t: TensorInfo, value: object) -> np.ndarray:
    want = t.dtype.numpy_dtype
    if isinstance(value, np.ma.MaskedArray):
        raise masked_array_error(f"`{t.name}` of `{d.name}`")
    if not isinstance(value, (np.ndarray, DeviceArray)):  # a DeviceArray: target="cuda"
        if is_device_array(value):
            raise TcError(f"`{t.name}` of `{d.name}` is a CUDA array; compile with target=\"cuda\" "
                          "to use it in place, or pass a NumPy array")
        fix = (_conversion(t, "np.asarray(x)") if t.dtype.is_lowp and not t.dtype.is_named
               else f"np.asarray(x, dtype={numpy_type(want)})")
        raise TcError(f"`{t.name}` of `{d.name}` must be a NumPy array or a PyTorch CPU tensor "
                      f"(`{_signature(t)}`), got {type(value).__name__}; pass {fix}")
    if value.ndim != len(t.shape):
        raise TcError(f"`{t.name}` of `{d.name}` has rank {len(t.shape)} (`{_signature(t)}`), "
                      f"got an array of rank {value.ndim} with shape {value.shape}")
    if value.dtype != want:
        raise TcError(f"`{t.name}` of `{d.name}` must have dtype {want.name} (TC type `{t.dtype}`), "
                      f"got {value.dtype}; pass {_conversion(t, 'x')}")
    return value


def _conversion(t: TensorInfo, x: str) -> str:
    """How to make an array of `t`'s dtype from `x`: `x.astype(...)`, or for a number
    format of the user's (arrays of its storage integers) `tcir.lowp.encode(x, "fmt")`."""
    if t.dtype.is_lowp and not t.dtype.is_named:
        return f'tcir.lowp.encode({x}, "{t.dtype}") (the encoded patterns, {t.dtype.numpy_dtype.name})'
    return f"{x}.astype({numpy_type(t.dtype.numpy_dtype)})"


def _is_real_number(value: object) -> bool:
    """Python and NumPy booleans, integers and floats, and ml_dtypes' floats (bfloat16);
    not complex numbers, strings, dates or other NumPy scalars (np.timedelta64 is a
    NumPy integer type, but a duration, not a number)."""
    if isinstance(value, np.timedelta64):
        return False
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return True
    return isinstance(value, np.generic) and type(value).__module__.split(".")[0] == "ml_dtypes"


def _is_finite(value: object) -> bool:
    # A Python int is finite however large; np.longdouble can exceed a Python float.
    return isinstance(value, int) or bool(np.isfinite(value))


def scalar_argument(d: CheckedDef, t: TensorInfo, value: object) -> np.generic:
    want = t.dtype.numpy_dtype
    what = f"scalar `{t.name}` of `{d.name}`"
    if isinstance(value, np.ma.MaskedArray):
        raise masked_array_error(what)
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if t.dtype.is_lowp:
        return _format_scalar(what, t, value)
    if not _is_real_number(value):
        got = (f"an array of shape {value.shape}; pass one element, e.g. x.item()"
               if isinstance(value, np.ndarray) else type(value).__name__)
        raise TcError(f"{what} must be a number (TC type `{t.dtype}`: a real Python number or "
                      f"{numpy_type(want)}), got {got}")
    if t.dtype.is_integer or t.dtype.is_bool:
        if not isinstance(value, (bool, int, np.bool_, np.integer)):  # a float: a whole one
            number = float(value)
            if not number.is_integer():
                raise TcError(f"{what} is `{t.dtype}`, got the non-integer {value}")
        # a bool is 0 or 1: `2**32` is a mistake, not True
        low, high = (int(np.iinfo(want).min), int(np.iinfo(want).max)) if t.dtype.is_integer else (0, 1)
        if not low <= int(value) <= high:
            hint = "; pass True or False" if t.dtype.is_bool else ""
            raise TcError(f"{what} is `{t.dtype}`: {value} is out of range [{low}, {high}]{hint}")
        return want.type(value)
    # a float type: a finite value that rounds to infinity does not fit
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            converted = want.type(value)
        fits = math.isfinite(float(converted)) or not _is_finite(value)
    except OverflowError:  # a Python int beyond any float
        fits = False
    if not fits:
        largest = float(ml_dtypes.finfo(want).max)
        raise TcError(f"{what} is `{t.dtype}` ({numpy_type(want)}): {value!s} is out of its range "
                      f"(largest finite value {largest:g})")
    return converted


def _format_scalar(what: str, t: TensorInfo, value: object) -> np.generic:
    """A scalar of a number format: a NumPy scalar of its dtype as it is; for a named
    format (ml_dtypes') also a real number, rounded as ml_dtypes casts it (an integer
    format wraps an integer and truncates a float); a user format takes its encoded
    pattern only (`tcir.lowp.encode`)."""
    want = t.dtype.numpy_dtype
    if isinstance(value, np.generic) and value.dtype == want:
        return value
    if t.dtype.is_named and _is_real_number(value):
        return want.type(value)
    fix = (f"a real number or {numpy_type(want)}" if t.dtype.is_named else
           f'its encoded pattern, tcir.lowp.encode(x, "{t.dtype}") (a {want.name})')
    got = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
    raise TcError(f"{what} is `{t.dtype}`: pass {fix}, got {got}")
