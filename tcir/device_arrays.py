"""CUDA arrays as arguments of the Python API (`target="cuda"`).

`device_array(value)` describes an array that lives on a CUDA device — an object with
`__cuda_array_interface__` (PyTorch CUDA tensors, CuPy, Numba) or a DLPack tensor on a
CUDA device — as a `DeviceArray` (shape, dtype, strides, the bytes it spans), and
returns None for anything else (NumPy arrays, numbers), which the API checks as usual.
The kernel then uses the array in place; NumPy arrays are copied to the device and back.

`zeros_like(like, shape, dtype)` allocates an output beside a device input, in the
input's own framework (PyTorch or CuPy) on the same device, so that a call with device
inputs returns device outputs.

Example:
    x = torch.ones(4, 3, device="cuda")
    d = device_array(x)            # DeviceArray(shape=(4, 3), dtype=float32, ...)
    y = zeros_like(d, (4,), np.dtype(np.float32))   # a torch CUDA tensor
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .backends.cuda_runtime import CUDA_DLPACK_DEVICES, array_view
from .errors import TcError
from .host_arrays import torch_dtype_of


@dataclass(frozen=True, eq=False)
class DeviceArray:
    """What the API checks of a CUDA array; `obj` is the array itself."""

    obj: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...]  # in bytes
    readonly: bool
    span: tuple[int, int]  # [first, last) device addresses of its elements

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    def overlaps(self, other: object) -> bool:
        """Whether the two arrays' byte ranges meet (a NumPy array never does)."""
        if not isinstance(other, DeviceArray) or self.span[0] == self.span[1] or other.span[0] == other.span[1]:
            return False
        return self.span[0] < other.span[1] and other.span[0] < self.span[1]


def is_device_array(value: object) -> bool:
    """Whether `value` says it is on a CUDA device (without touching its data)."""
    if isinstance(value, np.ndarray):
        return False
    try:
        if getattr(value, "__cuda_array_interface__", None) is not None:
            return True
    except Exception:  # noqa: BLE001 - e.g. PyTorch refuses tensors that require grad; DLPack may not
        pass
    dlpack_device = getattr(value, "__dlpack_device__", None)
    if dlpack_device is None or not hasattr(value, "__dlpack__"):
        return False
    try:
        return int(dlpack_device()[0]) in CUDA_DLPACK_DEVICES
    except Exception:  # noqa: BLE001 - a broken protocol is not a CUDA array
        return False


def device_array(value: object, what: str) -> DeviceArray | None:
    """The description of a CUDA array, or None if `value` is not one."""
    if not is_device_array(value):
        return None
    view = array_view(value, what)
    low = high = view.address
    if 0 not in view.shape:
        for n, s in zip(view.shape, view.strides):
            low, high = low + min(0, (n - 1) * s), high + max(0, (n - 1) * s)
        high += view.dtype.itemsize
    return DeviceArray(value, tuple(view.shape), view.dtype, tuple(view.strides), view.readonly, (low, high))


def zeros_like(like: DeviceArray, shape: tuple[int, ...], dtype: np.dtype, what: str) -> DeviceArray:
    """A zero-filled C-contiguous array of `shape` and `dtype` in `like`'s framework and device."""
    framework = type(like.obj).__module__.split(".")[0]
    if framework == "torch":
        import torch

        made = torch.zeros(shape, dtype=torch_dtype_of(dtype), device=like.obj.device)
    elif framework == "cupy":
        import cupy

        with cupy.cuda.Device(like.obj.device.id):
            made = cupy.zeros(shape, dtype)
    else:
        raise TcError(f"cannot allocate {what} beside a {type(like.obj).__name__} on the GPU "
                      "(tcir allocates PyTorch and CuPy arrays); pass it in `outputs=`")
    described = device_array(made, what)
    assert described is not None  # a fresh CUDA tensor
    return described
