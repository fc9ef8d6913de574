"""Low-precision number formats: descriptors and the registry (issue 15, item 1), public
as `tcir.lowp` (docs/lowp.md). It lives in the front end, whose types the formats become
(`tcir.frontend.format_names`), and checks names against TC's own.

A format is a frozen descriptor, `FloatFormat` or `FixedFormat`, registered under a TC
identifier so that TC source can name it as a type. This module only describes formats;
the code that computes with them is generated elsewhere, and the exact reference that
tests it (`tcir.testing.exact_formats`) reads nothing here but the descriptors' fields.

Floating-point encodings
    A signed format stores ``sign | exponent field | mantissa field``; an `unsigned` one
    only the exponent field. With ``p = mantissa + 1`` significant bits, a field ``e > 0``
    holds ``(2**mantissa + f) * 2**(e - bias - mantissa)`` and ``e = 0`` the subnormal
    ``f * 2**(1 - bias - mantissa)``. ``kind`` says what the top patterns mean:

    ========== ============ ===================================== ==============
    kind       infinities   NaN                                   negative zero
    ========== ============ ===================================== ==============
    ieee       all-ones     all-ones exponent, mantissa != 0      yes
               exponent,
               mantissa 0
    fn         none         all-ones exponent and mantissa        yes
    fnuz       none         the negative-zero pattern (sign only) no
    unsigned   none         all ones (no sign bit, no zero; field no
                            ``e`` holds ``2**(e - bias)``)
    finite     none         none: every pattern is a number       yes
    ========== ============ ===================================== ==============

    `finite` is not in issue 15's list: ml_dtypes' OCP MX element types float6_e2m3fn,
    float6_e3m2fn and float4_e2m1fn have neither infinities nor NaN, which `fn` (NaN at
    all ones) cannot describe.

What ml_dtypes 0.7.0 does when casting to each named format (measured with
``np.array([x], float32 or float64).astype(fmt)``; both sources behave alike)

    ==================== ======== ====== =========== ============= ============== ======= ===============
    format               kind     bias   max finite  beyond max    +-inf          -0      NaN (sign s)
                                                     after
                                                     rounding
    ==================== ======== ====== =========== ============= ============== ======= ===============
    float8_e3m4          ieee     3      15.5        +-inf         +-inf          -0      NaN 0x78|s
    float8_e4m3          ieee     7      240         +-inf         +-inf          -0      NaN 0x7c|s
    float8_e5m2          ieee     15     57344       +-inf         +-inf          -0      NaN 0x7e|s
    float8_e4m3fn        fn       7      448         NaN 0x7f|s    NaN 0x7f|s     -0      NaN 0x7f|s
    float8_e4m3fnuz      fnuz     8      240         NaN 0x80      NaN 0x80       +0      NaN 0x80
    float8_e4m3b11fnuz   fnuz     11     30          NaN 0x80      NaN 0x80       +0      NaN 0x80
    float8_e5m2fnuz      fnuz     16     57344       NaN 0x80      NaN 0x80       +0      NaN 0x80
    float8_e8m0fnu       unsigned 127    2**127      NaN 0xff      NaN 0xff       NaN     NaN 0xff
    float6_e2m3fn        finite   1      7.5         +-max         +-max          -0      zero, sign NOT s
    float6_e3m2fn        finite   3      28          +-max         +-max          -0      zero, sign NOT s
    float4_e2m1fn        finite   1      6           +-max         +-max          -0      zero, sign NOT s
    ==================== ======== ====== =========== ============= ============== ======= ===============

    * Rounding is to nearest, ties to the even significand, from float32 and from
      float64 alike: ml_dtypes converts float64 directly (one rounding), not through
      float32. For float8_e8m0fnu (p = 1) both neighbours of a tie have the significand
      1; ml_dtypes rounds such ties up (1.5 -> 2, 3 -> 4, 6 -> 8), i.e. to the
      neighbour whose significand is even at the lower neighbour's quantum.
    * A value below half the smallest subnormal rounds to zero with its sign (to +0 in
      the fnuz formats: a negative value that rounds to zero gives +0).
    * float8_e8m0fnu: +0, -0 and every negative number (even -tiny) give NaN; a
      positive value below the smallest value 2**-127 gives 2**-127 (the nearest: there
      is no zero).
    * NaN into a format without NaN (float6_*, float4_*): ml_dtypes returns
      ``-quiet_NaN()`` for a negative NaN and ``quiet_NaN()`` otherwise, and its
      quiet_NaN() is the -0 pattern, so +NaN gives -0 and -NaN gives +0.

The ml_dtypes integer types int4, uint4, int2, uint2 (`FixedFormat` with fraction 0):

    * from a float: truncation toward zero; a truncated value outside the type's range,
      +-inf and NaN give 0 (e.g. int4: 7.9 -> 7, -8.5 -> -8, 8.0 -> 0, -9 -> 0; uint4:
      -0.5 -> 0, -1.5 -> 0, 16 -> 0). That is ``float_overflow="zero"``, with rounding
      toward zero.
    * from an integer: wrap modulo 2**bits (int4: 8 -> -8, 17 -> 1; uint4: -1 -> 15),
      and their arithmetic wraps too: ``overflow="wrap"``.
    * one value per byte, the low bits holding the two's-complement pattern (int4 -1 is
      the byte 0x0f); the float6 and float4 types are stored one per byte likewise.
"""

from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass
from fractions import Fraction

import ml_dtypes
import numpy as np

from ..errors import TcError
from .builtins import ARITY
from .types import TYPE_NAMES

__all__ = [
    "FloatFormat", "FixedFormat", "Format", "FLOAT_KINDS", "NAMED_FORMATS",
    "float_format", "fixed_format", "get_format", "registered_formats",
]

FLOAT_KINDS = ("ieee", "fn", "fnuz", "unsigned", "finite")
FIXED_OVERFLOWS = ("saturate", "wrap")
FLOAT_SOURCE_OVERFLOWS = ("saturate", "wrap", "zero")

MAX_FLOAT_BITS = 16
MAX_FIXED_BITS = 32
# Every finite nonzero magnitude of a float format lies in [2**-RANGE, 2**RANGE).
RANGE = 511

_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_KEYWORDS = ("def", "where", "exists", "in")


def _pow2(k: int) -> Fraction:
    return Fraction(2) ** k


def _log2_floor(x: Fraction) -> int:
    """floor(log2(x)) of a positive Fraction."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e if x >= _pow2(e) else e - 1


def _check_int(owner: str, name: str, value, lowest: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise TcError(f"{owner}: `{name}` must be an integer >= {lowest}, got {value!r}")


def _check_choice(owner: str, name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        listed = ", ".join(f'"{c}"' for c in choices)
        raise TcError(f"{owner}: `{name}` must be one of {listed}, got {value!r}")


def _storage(bits: int, signed: bool) -> np.dtype:
    """The smallest NumPy integer of 8, 16 or 32 bits that holds `bits` bits."""
    width = next(w for w in (8, 16, 32) if bits <= w)
    return np.dtype(f"{'int' if signed else 'uint'}{width}")


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format of at most 16 bits (see the module docstring).

    Value properties (`max_finite`, `min_normal`, `min_subnormal`) are exact
    `Fraction`s; ``float()`` of each is exact.

    Range bound: every finite nonzero magnitude must lie in [2**-511, 2**511), which
    allows at most 9 exponent bits with a bias that centres the range (and e10m0 "fn"
    with bias 512, whose values span exactly that range). Then the exact
    sum, difference, product and quotient of two values, and every midpoint between
    neighbouring values, are zero or normal float64 numbers (within [2**-1022, 2**1022)),
    so float64 holds every operand exactly and computes each basic operation with one
    correct rounding to 53 >= 2p + 2 bits (p <= 16); rounding that result once more to
    the format gives the correctly rounded result, subnormal results included (double
    rounding is innocuous: Figueroa 1995, Roux 2014). Code generated for these formats
    may therefore compute in float64, and tests may compare through float64.
    """

    name: str
    exponent: int
    mantissa: int
    bias: int | None = None  # None: 2**(exponent - 1) - 1
    kind: str = "ieee"

    def __post_init__(self):
        owner = f"float format `{self.name}`"
        _check_int(owner, "exponent", self.exponent, 1)
        _check_int(owner, "mantissa", self.mantissa, 0)
        _check_choice(owner, "kind", self.kind, FLOAT_KINDS)
        if self.bias is None:
            object.__setattr__(self, "bias", 2 ** (self.exponent - 1) - 1)
        elif isinstance(self.bias, bool) or not isinstance(self.bias, int):
            raise TcError(f"{owner}: `bias` must be an integer, got {self.bias!r}")
        self._check_shape(owner)
        self._check_range(owner)

    def _check_shape(self, owner: str) -> None:
        if self.bits > MAX_FLOAT_BITS:
            raise TcError(f"{owner} has {self.bits} bits; float formats have at most {MAX_FLOAT_BITS}")
        if self.kind == "unsigned" and self.mantissa != 0:
            raise TcError(f"{owner}: kind \"unsigned\" is an exponent-only scale: `mantissa` must be 0")
        if self.kind == "ieee" and (self.exponent < 2 or self.mantissa < 1):
            raise TcError(f"{owner}: kind \"ieee\" needs at least 2 exponent bits and 1 mantissa bit "
                          "(infinities and NaN take the all-ones exponent)")
        if self.kind == "fn" and self.exponent + self.mantissa < 2:
            raise TcError(f"{owner}: kind \"fn\" with 1 exponent bit and no mantissa holds only 0 and NaN")

    def _check_range(self, owner: str) -> None:
        low, high = _log2_floor(self.min_subnormal), _log2_floor(self.max_finite)
        if low < -RANGE or high >= RANGE:
            raise TcError(
                f"{owner}: its values span 2^{low} to 2^{high}, beyond [2^-{RANGE}, 2^{RANGE}) where "
                "float64 computes its arithmetic exactly enough; use at most 9 exponent bits and a "
                "bias near the default"
            )

    @property
    def bits(self) -> int:
        return self.exponent + self.mantissa + (1 if self.signed else 0)

    @property
    def signed(self) -> bool:
        return self.kind != "unsigned"

    @property
    def has_inf(self) -> bool:
        return self.kind == "ieee"

    @property
    def has_nan(self) -> bool:
        return self.kind != "finite"

    @property
    def has_zero(self) -> bool:
        return self.kind != "unsigned"

    @property
    def has_negative_zero(self) -> bool:
        return self.kind in ("ieee", "fn", "finite")

    @property
    def max_finite(self) -> Fraction:
        e, m = self.exponent, self.mantissa
        # the largest finite pattern without its sign: just below inf, below NaN, or all ones
        top = {"ieee": (((1 << e) - 1) << m) - 1, "fn": (1 << (e + m)) - 2, "unsigned": (1 << e) - 2}
        pattern = top.get(self.kind, (1 << (e + m)) - 1)
        field, frac = pattern >> m, pattern & ((1 << m) - 1)
        return ((1 << m) + frac) * _pow2(field - self.bias - m)

    @property
    def min_normal(self) -> Fraction:
        """The smallest positive normal value (for `unsigned`, the smallest value)."""
        return _pow2(-self.bias if self.kind == "unsigned" else 1 - self.bias)

    @property
    def min_subnormal(self) -> Fraction:
        """The smallest positive value (`min_normal` when the format has no subnormals)."""
        return _pow2(-self.bias if self.kind == "unsigned" else 1 - self.bias - self.mantissa)

    @property
    def overflow(self) -> str:
        """What ml_dtypes gives for a finite value beyond `max_finite` after rounding and
        for an infinity: "inf" (+-inf), "nan" (the NaN) or "saturate" (+-max_finite)."""
        return {"ieee": "inf", "finite": "saturate"}.get(self.kind, "nan")

    def nan_bits(self, negative: bool) -> int:
        """The pattern a NaN of that sign converts to (as ml_dtypes): the quiet NaN with
        the sign where NaN has a sign; in a `finite` format, the zero of the OTHER sign."""
        sign = 1 << (self.bits - 1) if self.signed else 0
        all_ones = (1 << self.bits) - 1
        if self.kind == "ieee":  # all-ones exponent, top mantissa bit (the quiet bit)
            quiet = (((1 << self.exponent) - 1) << self.mantissa) | (1 << (self.mantissa - 1))
            return quiet | (sign if negative else 0)
        if self.kind == "fn":
            return all_ones if negative else all_ones ^ sign
        if self.kind == "finite":
            return 0 if negative else sign
        return sign if self.kind == "fnuz" else all_ones

    @property
    def storage_dtype(self) -> np.dtype:
        """The unsigned integer holding one pattern (in its low bits)."""
        return _storage(self.bits, signed=False)

    @property
    def numpy_dtype(self) -> np.dtype:
        """ml_dtypes' dtype for its named formats, the storage integer for the others."""
        return np.dtype(getattr(ml_dtypes, self.name)) if self in _NAMED else self.storage_dtype


@dataclass(frozen=True)
class FixedFormat:
    """A binary fixed-point (Q) format: a `bits`-bit integer times ``2**-fraction``.

    `integer` counts the sign bit of a signed format: signed q4_4 (integer=4,
    fraction=4) has 8 bits and the range [-8, 8 - 1/16]. `overflow` is what an exact
    result (arithmetic, a conversion from an integer or another fixed format) does
    beyond the range; `float_overflow` what a conversion from a floating-point value
    does when out of range or not finite ("zero": 0, as ml_dtypes' int4 does; NaN gives
    0 under every rule, +-inf the range limit under "saturate" and 0 otherwise). It
    defaults to `overflow`. Arrays hold the integer ``value * 2**fraction`` in
    `storage_dtype`: its `bits`-bit two's complement pattern in the low bits, the high
    bits zero (as ml_dtypes' int4 holds -1 as 0x0f; the same when `bits` fills the
    storage integer, as in q4_4). Reads look at the low `bits` bits only.
    """

    name: str
    integer: int
    fraction: int
    signed: bool = True
    overflow: str = "saturate"
    float_overflow: str | None = None  # None: `overflow`

    def __post_init__(self):
        owner = f"fixed-point format `{self.name}`"
        if not isinstance(self.signed, bool):
            raise TcError(f"{owner}: `signed` must be True or False, got {self.signed!r}")
        _check_int(owner, "integer", self.integer, 1 if self.signed else 0)
        _check_int(owner, "fraction", self.fraction, 0)
        _check_choice(owner, "overflow", self.overflow, FIXED_OVERFLOWS)
        if self.float_overflow is None:
            object.__setattr__(self, "float_overflow", self.overflow)
        _check_choice(owner, "float_overflow", self.float_overflow, FLOAT_SOURCE_OVERFLOWS)
        if not 1 <= self.bits <= MAX_FIXED_BITS:
            raise TcError(f"{owner} has {self.bits} bits; fixed-point formats have 1 to {MAX_FIXED_BITS}")

    @property
    def bits(self) -> int:
        return self.integer + self.fraction

    @property
    def resolution(self) -> Fraction:
        return _pow2(-self.fraction)

    @property
    def min_value(self) -> Fraction:
        return -_pow2(self.integer - 1) if self.signed else Fraction(0)

    @property
    def max_value(self) -> Fraction:
        return _pow2(self.integer - (1 if self.signed else 0)) - self.resolution

    @property
    def storage_dtype(self) -> np.dtype:
        return _storage(self.bits, self.signed)

    @property
    def numpy_dtype(self) -> np.dtype:
        """ml_dtypes' dtype for int4, uint4, int2, uint2; the storage integer otherwise."""
        return np.dtype(getattr(ml_dtypes, self.name)) if self in _NAMED else self.storage_dtype


Format = FloatFormat | FixedFormat


def _ml_int(name: str, bits: int, signed: bool) -> FixedFormat:
    return FixedFormat(name, bits, 0, signed, overflow="wrap", float_overflow="zero")


NAMED_FORMATS: tuple[Format, ...] = (
    FloatFormat("float8_e3m4", 3, 4),
    FloatFormat("float8_e4m3", 4, 3),
    FloatFormat("float8_e4m3b11fnuz", 4, 3, bias=11, kind="fnuz"),
    FloatFormat("float8_e4m3fn", 4, 3, kind="fn"),
    FloatFormat("float8_e4m3fnuz", 4, 3, bias=8, kind="fnuz"),
    FloatFormat("float8_e5m2", 5, 2),
    FloatFormat("float8_e5m2fnuz", 5, 2, bias=16, kind="fnuz"),
    FloatFormat("float8_e8m0fnu", 8, 0, kind="unsigned"),
    FloatFormat("float6_e2m3fn", 2, 3, kind="finite"),
    FloatFormat("float6_e3m2fn", 3, 2, kind="finite"),
    FloatFormat("float4_e2m1fn", 2, 1, kind="finite"),
    _ml_int("int4", 4, True),
    _ml_int("uint4", 4, False),
    _ml_int("int2", 2, True),
    _ml_int("uint2", 2, False),
)

_NAMED = frozenset(NAMED_FORMATS)  # these use ml_dtypes' dtype for arrays
_registry: dict[str, Format] = {f.name: f for f in NAMED_FORMATS}
_lock = threading.Lock()


def _check_name(name) -> None:
    """A format name is a TC identifier that names no builtin type, function or keyword."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise TcError(f"a format name must be a TC identifier (letters, digits, `_`), got {name!r}")
    if name in TYPE_NAMES:
        raise TcError(f"`{name}` is a builtin TC type; choose another format name")
    if name in ARITY or name in ("min", "max"):
        raise TcError(f"`{name}` is a builtin TC function; choose another format name")
    if name in _KEYWORDS:
        raise TcError(f"`{name}` is a TC keyword; choose another format name")


def _register(fmt: Format) -> Format:
    """Register `fmt`, or return the format already registered with identical parameters."""
    _check_name(fmt.name)
    with _lock:
        known = _registry.setdefault(fmt.name, fmt)
    if known != fmt:
        raise TcError(f"format `{fmt.name}` is already registered as {known!r}; "
                      f"it cannot be redefined as {fmt!r}")
    return known


def float_format(name: str, *, exponent: int, mantissa: int, bias: int | None = None,
                 kind: str = "ieee") -> FloatFormat:
    """Register a floating-point format under `name` (idempotent for equal parameters)."""
    return _register(FloatFormat(name, exponent, mantissa, bias, kind))


def fixed_format(name: str, *, integer: int, fraction: int, signed: bool = True,
                 overflow: str = "saturate") -> FixedFormat:
    """Register a fixed-point format under `name` (idempotent for equal parameters)."""
    return _register(FixedFormat(name, integer, fraction, signed, overflow))


def get_format(name: str) -> Format:
    """The format registered under `name`; an unknown name is a TcError with a hint."""
    try:
        return _registry[name]
    except (KeyError, TypeError):
        pass
    close = difflib.get_close_matches(str(name), list(_registry), n=1)
    hint = f"; did you mean `{close[0]}`?" if close else (
        "; register it with tcir.lowp.float_format(...) or tcir.lowp.fixed_format(...)")
    raise TcError(f"unknown number format `{name}`{hint}")


def registered_formats() -> dict[str, Format]:
    """Every registered format by name, the named ones first, then in registration order."""
    with _lock:
        return dict(_registry)
