"""TC scalar types and the promotion rules of tc-language.md.

- int with float gives the float; two floats give the wider (half with bfloat16,
  neither wider than the other, gives float);
- two unsigned give the wider unsigned; signed with (un)signed gives the signed type
  of the larger width;
- `bool` takes part in no arithmetic: cast it first;
- a low-precision format (`tcir.lowp`, kind "lowp": `LowpType`) with itself gives itself,
  with a standard float gives the float, with an integer gives the format; two different
  formats do not mix (sema reports it, suggesting a cast: `mixed_formats`).

Format names are types too: `tcir.frontend.format_names` looks them up in the registry
(`tcir.frontend.formats`, which imports this module).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import ml_dtypes
import numpy as np


@dataclass(frozen=True)
class ScalarType:
    name: str  # canonical TC spelling: float, double, half, bfloat16, int32, uint8, bool ...
    kind: str  # "bool", "int", "uint", "float" or "lowp" (a `LowpType`)
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

    @property
    def is_lowp(self) -> bool:
        """A low-precision format of `tcir.lowp` (neither `is_float` nor `is_integer`)."""
        return self.kind == "lowp"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class LowpType(ScalarType):
    """A number format of `tcir.lowp` (`FloatFormat` or `FixedFormat`) as a TC type.

    `name` is the format's name, `bits` its width, `mlir` the lowp dialect type
    (`!lowp.float<e4m3, fn>`), `numpy` the name of `numpy_dtype`: ml_dtypes' dtype for
    the named formats, the storage integer (uint8, int16 ...) for user formats.
    """

    format: object = None  # tcir.lowp.FloatFormat | tcir.lowp.FixedFormat

    @property
    def numpy_dtype(self) -> np.dtype:
        return self.format.numpy_dtype

    @property
    def is_fixed(self) -> bool:
        """A fixed-point format (the ml_dtypes integers int4, uint4, int2, uint2 too)."""
        return not hasattr(self.format, "exponent")

    @property
    def is_lowp_float(self) -> bool:
        return hasattr(self.format, "exponent")

    @property
    def is_named(self) -> bool:
        """One of ml_dtypes' types (its arrays have ml_dtypes' dtype)."""
        return self.format.numpy_dtype != self.format.storage_dtype


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


def lowp_mlir(fmt) -> str:
    """The lowp dialect type of a `tcir.lowp` format, as text (dialects/lowp.py)."""
    if hasattr(fmt, "exponent"):
        bias = "" if fmt.bias == 2 ** (fmt.exponent - 1) - 1 else f", bias = {fmt.bias}"
        return f"!lowp.float<e{fmt.exponent}m{fmt.mantissa}, {fmt.kind}{bias}>"
    extra = "" if fmt.float_overflow == fmt.overflow else f", float_overflow = {fmt.float_overflow}"
    return f"!lowp.fixed<{'s' if fmt.signed else 'u'}{fmt.integer}.{fmt.fraction}, {fmt.overflow}{extra}>"


@lru_cache(maxsize=None)
def lowp_type(fmt) -> LowpType:
    """The TC type of a `tcir.lowp` format."""
    return LowpType(fmt.name, "lowp", fmt.bits, lowp_mlir(fmt), fmt.numpy_dtype.name, fmt)


def mixed_formats(a: ScalarType, b: ScalarType) -> bool:
    """Two different low-precision formats, which no rule combines (cast one first)."""
    return a.is_lowp and b.is_lowp and a != b


def promote(a: ScalarType, b: ScalarType) -> ScalarType:
    """The result type of a binary arithmetic operation (neither may be bool, and not
    two different formats: `mixed_formats`)."""
    if a == b:
        return a
    if a.is_lowp or b.is_lowp:
        if mixed_formats(a, b):
            raise TypeError(f"`{a}` and `{b}` do not mix; cast one of them")
        lowp, other = (a, b) if a.is_lowp else (b, a)
        return other if other.is_float else lowp  # with a float the float, with an integer the format
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
    if src.is_lowp or dst.is_lowp:
        # an integer into a format (as into a float); a format into a float that holds
        # every value of it exactly; never between two formats, nor to an integer.
        if dst.is_lowp:
            return src.is_integer
        return dst.is_float and holds_exactly(dst, src)
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


# precision (significant bits), smallest positive value, largest finite value
_FLOAT_RANGES = {
    "half": (11, Fraction(1, 2**24), Fraction(65504)),
    "bfloat16": (8, Fraction(1, 2**133), (2 - Fraction(1, 2**7)) * 2**127),
    "float": (24, Fraction(1, 2**149), (2 - Fraction(1, 2**23)) * 2**127),
    "double": (53, Fraction(1, 2**1074), (2 - Fraction(1, 2**52)) * 2**1023),
}


def holds_exactly(dst: ScalarType, src: LowpType) -> bool:
    """Whether the standard float `dst` holds every value of the format `src` exactly
    (and so its infinities and NaN, which every standard float has): no more significant
    bits, a smallest step and a largest value within its range."""
    precision, tiny, huge = _FLOAT_RANGES[dst.name]
    fmt = src.format
    if src.is_fixed:
        bits = fmt.bits - (1 if fmt.signed else 0)
        return bits <= precision and fmt.resolution >= tiny and fmt.max_value <= huge and -fmt.min_value <= huge
    bits = fmt.mantissa + 1
    return bits <= precision and fmt.min_subnormal >= tiny and fmt.max_finite <= huge
