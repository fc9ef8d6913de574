"""Checking a call's arguments against a def's signature, and binding its sizes.

Every mismatch is a `TcError` that names the parameter and the dimension, and says what
to pass instead (for a wrong dtype, the `astype` to use).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .device_arrays import DeviceArray, is_device_array
from .errors import TcError
from .frontend.checked import CheckedDef, TensorInfo


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
    sizes: dict[str, int] = {}
    origin: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    scalars: dict[str, np.generic] = {}
    for t, value in zip(d.inputs, args):
        if t.role == "scalar":
            scalars[t.name] = scalar_argument(d, t, value)
            continue
        arr = tensor_argument(d, t, value)
        for axis, (dim, extent) in enumerate(zip(t.shape, arr.shape)):
            where = f"`{t.name}` (dimension {axis})"
            literal = dim.as_constant()
            if literal is not None:
                if extent != literal:
                    raise TcError(f"dimension {axis} of `{t.name}` must be {literal} "
                                  f"(declared `{_signature(t)}`), got {extent}")
                continue
            name = str(dim)
            if name in sizes and sizes[name] != extent:
                raise TcError(f"size `{name}` is {sizes[name]} from {origin[name]} but {extent} from {where}")
            sizes.setdefault(name, extent)
            origin.setdefault(name, where)
        arrays[t.name] = arr
    return BoundCall(sizes, arrays, scalars)


def tensor_argument(d: CheckedDef, t: TensorInfo, value: object) -> np.ndarray:
    want = t.dtype.numpy_dtype
    if not isinstance(value, (np.ndarray, DeviceArray)):  # a DeviceArray: target="cuda"
        if is_device_array(value):
            raise TcError(f"`{t.name}` of `{d.name}` is a CUDA array; compile with target=\"cuda\" "
                          "to use it in place, or pass a NumPy array")
        raise TcError(f"`{t.name}` of `{d.name}` must be a NumPy array (`{_signature(t)}`), "
                      f"got {type(value).__name__}; pass np.asarray(x, dtype=np.{want.name})")
    if value.ndim != len(t.shape):
        raise TcError(f"`{t.name}` of `{d.name}` has rank {len(t.shape)} (`{_signature(t)}`), "
                      f"got an array of rank {value.ndim} with shape {value.shape}")
    if value.dtype != want:
        hint = f"x.astype(ml_dtypes.{want.name})" if want.name == "bfloat16" else f"x.astype(np.{want.name})"
        raise TcError(f"`{t.name}` of `{d.name}` must have dtype {want.name} (TC type `{t.dtype}`), "
                      f"got {value.dtype}; pass {hint}")
    return value


def scalar_argument(d: CheckedDef, t: TensorInfo, value: object) -> np.generic:
    want = t.dtype.numpy_dtype
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if not isinstance(value, (bool, int, float, np.generic)):
        raise TcError(f"scalar `{t.name}` of `{d.name}` must be a number (TC type `{t.dtype}`), "
                      f"got {type(value).__name__}")
    if t.dtype.is_integer or t.dtype.is_bool:
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise TcError(f"scalar `{t.name}` of `{d.name}` is `{t.dtype}`, got the non-integer {value}")
        info = np.iinfo(want) if t.dtype.is_integer else None
        if info is not None and not info.min <= int(value) <= info.max:
            raise TcError(f"scalar `{t.name}` of `{d.name}` is `{t.dtype}`: {value} is out of range "
                          f"[{info.min}, {info.max}]")
    return want.type(value)
