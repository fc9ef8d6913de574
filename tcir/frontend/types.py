"""TC scalar types and the promotion rules of tc-language.md.

- int with float gives the float; two floats give the wider (half with bfloat16,
  neither wider than the other, gives float);
- two unsigned give the wider unsigned; signed with (un)signed gives the signed type
  of the larger width;
- `bool` takes part in no arithmetic: cast it first.
"""

from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class ScalarType:
    name: str  # canonical TC spelling: float, double, half, bfloat16, int32, uint8, bool ...
    kind: str  # "bool", "int", "uint" or "float"
    bits: int
    mlir: str  # builtin MLIR spelling: f32, bf16, i32, ui8, i1 ...
    numpy: str  # NumPy / ml_dtypes dtype name

    @property
    def numpy_dtype(self) -> np.dtype:
        """The NumPy dtype of the type's values (ml_dtypes' for bfloat16)."""
        return np.dtype(getattr(ml_dtypes, self.numpy)) if self.numpy == "bfloat16" else np.dtype(self.numpy)

    @property
    def is_float(self) -> bool:
        return self.kind == "float"

    @property
    def is_integer(self) -> bool:
        return self.kind in ("int", "uint")

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    def __str__(self) -> str:
        return self.name


def _t(name: str, kind: str, bits: int, mlir: str, numpy: str) -> ScalarType:
    return ScalarType(name, kind, bits, mlir, numpy)


BOOL = _t("bool", "bool", 1, "i1", "bool")
INT8 = _t("int8", "int", 8, "i8", "int8")
INT16 = _t("int16", "int", 16, "i16", "int16")
INT32 = _t("int32", "int", 32, "i32", "int32")
INT64 = _t("int64", "int", 64, "i64", "int64")
UINT8 = _t("uint8", "uint", 8, "ui8", "uint8")
UINT16 = _t("uint16", "uint", 16, "ui16", "uint16")
UINT32 = _t("uint32", "uint", 32, "ui32", "uint32")
UINT64 = _t("uint64", "uint", 64, "ui64", "uint64")
HALF = _t("half", "float", 16, "f16", "float16")
BFLOAT16 = _t("bfloat16", "float", 16, "bf16", "bfloat16")
FLOAT = _t("float", "float", 32, "f32", "float32")
DOUBLE = _t("double", "float", 64, "f64", "float64")

ALL_TYPES = (BOOL, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64,
             HALF, BFLOAT16, FLOAT, DOUBLE)

# Type names accepted in source; the aliases after the canonical names are extensions.
TYPE_NAMES: dict[str, ScalarType] = {t.name: t for t in ALL_TYPES} | {
    "float32": FLOAT, "float64": DOUBLE, "float16": HALF,
}

_SIGNED_OF_WIDTH = {8: INT8, 16: INT16, 32: INT32, 64: INT64}


def promote(a: ScalarType, b: ScalarType) -> ScalarType:
    """The result type of a binary arithmetic operation (neither may be bool)."""
    if a == b:
        return a
    if a.is_float and b.is_float:
        if a.bits == b.bits:  # half with bfloat16
            return FLOAT
        return a if a.bits > b.bits else b
    if a.is_float or b.is_float:
        return a if a.is_float else b
    if a.kind == "uint" and b.kind == "uint":
        return a if a.bits > b.bits else b
    return _SIGNED_OF_WIDTH[max(a.bits, b.bits)]


def at_least_float(t: ScalarType) -> ScalarType:
    """Builtin math functions return at least `float`."""
    return t if t.is_float and t.bits >= 32 else FLOAT


def converts_implicitly(src: ScalarType, dst: ScalarType) -> bool:
    """Whether a value of `src` may be stored into `dst` without an explicit cast.

    Widening only: a larger integer of a compatible signedness, any integer to a float,
    a float to a float that holds all its values. Everything else narrows.
    """
    if src == dst:
        return True
    if src.is_bool or dst.is_bool:
        return False
    if dst.is_float:
        if not src.is_float:
            return True
        return dst.bits > src.bits and not (src == BFLOAT16 and dst == HALF)
    if src.is_float:
        return False
    if src.kind == dst.kind:
        return dst.bits >= src.bits
    # unsigned fits a strictly wider signed type; signed never fits an unsigned one.
    return src.kind == "uint" and dst.bits > src.bits
