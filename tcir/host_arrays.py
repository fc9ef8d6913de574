"""PyTorch CPU tensors as arguments of the Python API, used in place.

`host_view(value, what, writes=False)` is a NumPy view of a PyTorch tensor on the CPU
(no copy: DLPack, or the bits of a dtype that NumPy lacks viewed as ml_dtypes'), and
returns anything else unchanged, for the API to check as usual. `as_tensors(arrays)`
turns the arrays a kernel returned into tensors sharing their memory, so that a call
with PyTorch inputs gets PyTorch outputs.

PyTorch is imported only when a tensor is seen: `import tcir` does not import it.

Refused, as TcErrors naming the argument:
- a tensor that requires a gradient while autograd records (the result would be
  silently detached): `tcir.torch.op` makes a differentiable operator, `x.detach()`
  takes the values;
- a sparse or otherwise non-strided tensor, and a tensor on a device other than the CPU
  for `target="cpu"` (CUDA tensors are `tcir.device_arrays`' business);
- as an output, a tensor with a pending negation or conjugation (its memory does not
  hold its values) or one without storage of its own to write.

Example:
    x = torch.ones(4, 3)
    a = host_view(x, "`A`")         # np.ndarray sharing x's memory
    y, = as_tensors([np.zeros(4, np.float32)])
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import ml_dtypes
import numpy as np

from .errors import TcError

# torch dtype name -> (the integer dtype holding its bits, the ml_dtypes dtype): NumPy has
# neither bfloat16 nor the float8 types, so they cross as views of their bits.
_BIT_VIEWS = {
    "bfloat16": ("int16", ml_dtypes.bfloat16),
    "float8_e4m3fn": ("uint8", ml_dtypes.float8_e4m3fn),
    "float8_e4m3fnuz": ("uint8", ml_dtypes.float8_e4m3fnuz),
    "float8_e5m2": ("uint8", ml_dtypes.float8_e5m2),
    "float8_e5m2fnuz": ("uint8", ml_dtypes.float8_e5m2fnuz),
    "float8_e8m0fnu": ("uint8", ml_dtypes.float8_e8m0fnu),
}
_ML_DTYPES_BITS = {np.dtype(ml): bits for bits, ml in _BIT_VIEWS.values()}
_TORCH_OF_ML_DTYPE = {np.dtype(ml): name for name, (_, ml) in _BIT_VIEWS.items()}
# the torch dtypes (by name) that cross as bit views, for tables keyed by type name
BIT_VIEW_DTYPES = tuple(_BIT_VIEWS)


def _torch():
    """The torch module if the caller has imported it (a tensor exists only then)."""
    return sys.modules.get("torch")


def is_torch_tensor(value: object) -> bool:
    torch = _torch()
    return torch is not None and isinstance(value, torch.Tensor)


def host_view(value: object, what: str, writes: bool = False) -> object:
    """A NumPy view of `value` if it is a PyTorch CPU tensor, else `value` itself."""
    if not is_torch_tensor(value):
        return value
    torch = _torch()
    if value.requires_grad and torch.is_grad_enabled():
        raise TcError(f"{what} requires a gradient, which a tcir kernel would silently drop: use "
                      "tcir.torch.op(source, entry) for an operator that PyTorch's autograd "
                      "differentiates, or pass x.detach() for the values alone")
    if value.layout != torch.strided:
        raise TcError(f"{what} is a {value.layout} tensor; tcir takes strided (dense) tensors: "
                      "pass x.to_dense()")
    if value.device.type != "cpu":
        return value  # a CUDA tensor (tcir.device_arrays) or an unsupported device, refused later
    if value.is_conj() or value.is_neg():
        if writes:
            raise TcError(f"{what} is a lazily negated or conjugated view whose memory does not "
                          "hold its values; pass a tensor with x.resolve_neg().resolve_conj()")
        value = value.resolve_conj().resolve_neg()
    value = value.detach()
    bits = _BIT_VIEWS.get(str(value.dtype).removeprefix("torch."))
    if bits is not None:
        return value.view(getattr(torch, bits[0])).numpy().view(bits[1])
    try:
        return np.from_dlpack(value)
    except (BufferError, RuntimeError, TypeError) as err:
        raise TcError(f"{what}: NumPy cannot view a tensor of dtype {value.dtype} ({err})") from None


def torch_dtype_of(dtype: np.dtype):
    """The torch dtype of a NumPy (or ml_dtypes) dtype."""
    torch = _torch()
    name = _TORCH_OF_ML_DTYPE.get(np.dtype(dtype))
    return getattr(torch, name) if name is not None else torch.from_numpy(np.empty(0, dtype)).dtype


def as_tensors(arrays: Sequence[object]) -> tuple:
    """Tensors sharing the memory of the NumPy arrays among `arrays` (ml_dtypes' floats
    as torch's); other values (CUDA tensors already) as they are."""
    torch = _torch()
    tensors = []
    for a in arrays:
        bits = _ML_DTYPES_BITS.get(a.dtype) if isinstance(a, np.ndarray) else None
        if not isinstance(a, np.ndarray):
            tensors.append(a)
        elif bits is None:
            tensors.append(torch.from_numpy(a))
        else:
            tensors.append(torch.from_numpy(a.view(bits)).view(getattr(torch, _TORCH_OF_ML_DTYPE[a.dtype])))
    return tuple(tensors)
