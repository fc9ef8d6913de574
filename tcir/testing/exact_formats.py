"""Exact reference arithmetic for the low-precision formats (issue 15): the oracle the
generated casts and arithmetic are tested against.

It reads nothing of `tcir.lowp` but the descriptors' parameters (exponent, mantissa,
bias, kind; integer, fraction, signed, overflow, float_overflow) and re-derives every
encoding rule from them, so it shares no code with what it checks. All arithmetic is
exact (`fractions.Fraction` and Python integers), rounded once at the end.

Values
    `decode` returns a `Fraction` for every finite value except -0, and a Python
    `float` exactly for the special values: ``-0.0``, ``inf``, ``-inf`` and NaN (with
    a sign bit: ``math.copysign(1, v)``). Fixed-point values are always `Fraction`s.
    `encode` and the operations take and return bit patterns: non-negative ints below
    ``2**fmt.bits`` (two's complement for signed fixed formats).

Encoding (`encode(fmt, value, rounding, overflow, random_bits)`)
    `value` is exact when it is a `numbers.Rational` (int, Fraction, NumPy integer) and a
    floating-point source otherwise (a float, NumPy float or special value, converted
    exactly). Both round the same way; they differ only for fixed formats, where an
    out-of-range floating-point source follows `fmt.float_overflow` and an exact one
    `fmt.overflow` (ml_dtypes' int4 casts floats to 0 when out of range but wraps
    integers).

    rounding
        "nearest_even": to the nearest value; a tie goes to the neighbour whose integer
        significand, at the quantum of the smaller neighbour's binade, is even. With two
        or more significant bits this is IEEE roundTiesToEven; in an exponent-only format
        (p = 1) it rounds ties up, as ml_dtypes does for float8_e8m0fnu.
        "toward_zero": truncate the magnitude.
        "stochastic": with ``r = random_bits``, an integer in [0, 2**STOCHASTIC_BITS),
        lo and hi the neighbours of |x| (hi the next one away from zero) and
        ``frac = (|x| - lo) / (hi - lo)``, the magnitude rounds to hi iff
        ``r < frac * 2**STOCHASTIC_BITS`` (compared exactly), so the probability is
        ``ceil(frac * 2**32) / 2**32``: frac itself whenever frac is a multiple of
        2**-32, and an exact value (frac = 0) never moves.
    overflow
        A finite value overflows when its magnitude, rounded as if the exponent range
        were unbounded, exceeds the largest finite value. "saturate" then gives
        +-max_finite, and so does an infinity (the PTX ``satfinite`` rule). "format"
        applies the format's own rule, as ml_dtypes does: ieee gives +-inf; fn the NaN
        with the sign; fnuz and unsigned their NaN; finite +-max_finite. Rounding toward
        zero never carries a finite value beyond max_finite (IEEE 754 section 7.4): it
        gives +-max_finite whatever the overflow rule.
    NaN, zeros, unsigned formats (under both overflow rules)
        NaN gives the format's NaN with the input's sign where NaN patterns have one
        (ieee: the quiet NaN, all-ones exponent and the top mantissa bit; fn: all ones;
        fnuz: the sign bit alone; unsigned: all ones); in a `finite` format, which has
        no NaN, the zero of the OPPOSITE sign (ml_dtypes' behaviour). A zero, or a value
        that rounds to zero, keeps its sign, except in fnuz formats (+0). In an unsigned
        format, zero and every negative value give NaN, and a positive value below the
        smallest value 2**-bias gives that smallest value under every rounding (there is
        no zero to round to).
    fixed point
        The value times ``2**fraction`` is rounded to an integer as above, then brought
        into range: "saturate" clamps; "format" applies the format's rule ("saturate",
        "wrap" modulo 2**bits, or "zero"). NaN gives 0; +-inf the range limit when
        saturating and 0 otherwise.

Operations
    ``add sub mul div fma neg abs min max`` take and return patterns of one format;
    ``add sub mul div fma`` take `rounding`, `overflow` and `random_bits` as `encode`
    does, `neg` and `abs` only `overflow`, `min` and `max` nothing more. Each computes
    the exact result with IEEE 754 special-value rules (inf - inf, 0 * inf, 0 / 0 and
    inf / inf are NaN; x / 0 is +-inf; an exact zero sum of nonzero operands is +0 and
    the sum of two zeros is -0 only when both are; products and quotients take the
    exclusive or of the signs) and then encodes it once with the given rounding and
    overflow, so a NaN or infinite result follows the format's rules above. The NaN of
    an invalid operation is positive (IEEE 754 leaves its sign unspecified; x86 makes it
    negative, PTX positive), so 0 / 0 in a finite format gives -0; tests of generated code
    should accept either zero there. `fma` rounds a * b + c once. `neg` and `abs` are exact
    (a NaN result is the canonical NaN of its sign). `min` and `max` are IEEE
    754-2019 minimum and maximum, LLVM's ``llvm.minimum`` / ``llvm.maximum``: a NaN
    operand gives NaN, and -0 < +0; this is also the NaN rule of TC's `min`/`max`.
    Division by zero in a fixed-point format raises ZeroDivisionError (undefined in
    generated code). The names `abs`, `min` and `max` shadow the builtins inside this
    module, whose code never uses those builtins.
    `compare(fmt, a, b, predicate)` takes the LLVM `fcmp` predicates: ord, uno, and
    o/u + eq ne lt le gt ge; an "o" predicate is false and a "u" predicate true when an
    operand is NaN; -0 == +0.

Speed: decoding uses a table per float format (all 2**16 patterns of a 16-bit format in
about 0.2 s, once); encoding is integer arithmetic: about 3 us a value, 6 us an add.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

from tcir.lowp import FixedFormat, FloatFormat

__all__ = [
    "STOCHASTIC_BITS", "ROUNDINGS", "OVERFLOWS", "PREDICATES", "decode", "encode",
    "add", "sub", "mul", "div", "fma", "neg", "abs", "min", "max", "compare",
]

STOCHASTIC_BITS = 32
ROUNDINGS = ("nearest_even", "toward_zero", "stochastic")
OVERFLOWS = ("saturate", "format")
PREDICATES = ("oeq", "one", "olt", "ole", "ogt", "oge", "ueq", "une", "ult", "ule", "ugt", "uge", "ord", "uno")

Value = Fraction | float
NAN = math.nan
_RELATIONS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
              "ge": operator.ge}


# Float format layouts ------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """The encoding rules of a float format, derived from its parameters alone."""

    kind: str
    bits: int
    mantissa: int
    bias: int
    sign: int  # the sign bit (0 for unsigned)
    qmin: int  # exponent of the quantum of subnormals: 1 - bias - mantissa
    max_mag: int  # largest finite pattern without the sign
    inf_mag: int | None  # infinity without the sign (ieee only)

    def nan(self, negative: bool) -> int:
        all_ones = (1 << self.bits) - 1
        if self.kind == "ieee":
            return self.inf_mag | 1 << (self.mantissa - 1) | (self.sign if negative else 0)
        if self.kind == "fn":
            return all_ones if negative else all_ones & ~self.sign
        if self.kind == "fnuz":
            return self.sign
        if self.kind == "unsigned":
            return all_ones
        return 0 if negative else self.sign  # finite: ml_dtypes' -quiet_NaN(), quiet_NaN() = -0

    def is_nan(self, bits: int) -> bool:
        if self.kind == "fnuz":
            return bits == self.sign
        if self.kind == "finite":
            return False
        above = self.max_mag + 1 if self.kind == "ieee" else self.max_mag  # ieee: above inf
        return bits & ~self.sign > above

    def zero(self, negative: bool) -> int:
        return self.sign if negative and self.kind != "fnuz" else 0

    def overflowed(self, negative: bool) -> int:
        """The format's own rule for a value beyond max_finite (and for infinities)."""
        if self.kind == "ieee":
            return self.inf_mag | (self.sign if negative else 0)
        if self.kind == "finite":
            return self.max_mag | (self.sign if negative else 0)
        return self.nan(negative)


@cache
def _layout(fmt: FloatFormat) -> _Layout:
    e, m, kind = fmt.exponent, fmt.mantissa, fmt.kind
    signed = kind != "unsigned"
    bits = e + m + signed
    all_ones = (1 << (e + m)) - 1  # without the sign
    inf_mag = ((1 << e) - 1) << m if kind == "ieee" else None
    if kind == "ieee":
        max_mag = inf_mag - 1
    elif kind in ("fn", "unsigned"):  # NaN is all ones
        max_mag = all_ones - 1
    else:
        max_mag = all_ones
    return _Layout(kind, bits, m, fmt.bias, (1 << (bits - 1)) if signed else 0, 1 - fmt.bias - m, max_mag, inf_mag)


def _magnitude(lay: _Layout, mag: int) -> Fraction:
    """The value of a finite pattern without its sign."""
    if lay.kind == "unsigned":
        return Fraction(2) ** (mag - lay.bias)
    field, frac = mag >> lay.mantissa, mag & ((1 << lay.mantissa) - 1)
    significand = frac if field == 0 else frac | 1 << lay.mantissa
    return significand * Fraction(2) ** (lay.qmin + (field - 1 if field else 0))


def _decode_float(lay: _Layout, bits: int) -> Value:
    negative = bool(bits & lay.sign)
    mag = bits & ~lay.sign
    if lay.is_nan(bits):
        return math.copysign(NAN, -1.0 if negative else 1.0)
    if mag == lay.inf_mag:
        return -math.inf if negative else math.inf
    if mag == 0 and lay.kind != "unsigned":
        return -0.0 if negative else Fraction(0)
    value = _magnitude(lay, mag)
    return -value if negative else value


@cache
def _decode_table(fmt: FloatFormat) -> tuple[Value, ...]:
    lay = _layout(fmt)
    return tuple(_decode_float(lay, bits) for bits in range(1 << lay.bits))


def decode(fmt: FloatFormat | FixedFormat, bits: int) -> Value:
    """The exact value of pattern `bits` (see the module docstring for the specials)."""
    size = 1 << fmt.bits if isinstance(fmt, FixedFormat) else len(table := _decode_table(fmt))
    if not 0 <= bits < size:
        raise ValueError(f"{bits!r} is not a {fmt.bits}-bit pattern of {fmt.name}")
    if isinstance(fmt, FixedFormat):
        signed_int = bits - size if fmt.signed and bits >= size >> 1 else bits
        return Fraction(signed_int, 1 << fmt.fraction)
    return table[bits]


# Rounding --------------------------------------------------------------------------------


def _round_quotient(num: int, den: int, rounding: str, random_bits: int | None) -> int:
    """num / den (num >= 0, den > 0) rounded to an integer as `rounding` says."""
    q, rem = divmod(num, den)
    if rem == 0 or rounding == "toward_zero":
        return q
    if rounding == "nearest_even":
        return q + (2 * rem > den or (2 * rem == den and q & 1))
    return q + (random_bits * den < rem << STOCHASTIC_BITS)


def _scaled(n: int, d: int, exponent: int) -> tuple[int, int]:
    """(n / d) / 2**exponent as a (numerator, denominator) pair of integers."""
    return (n, d << exponent) if exponent >= 0 else (n << -exponent, d)


def _round_magnitude(lay: _Layout, x: Fraction | float, rounding: str, random_bits: int | None) -> int:
    """The pattern (without sign) of x > 0 rounded with an unbounded exponent range: it
    may exceed max_mag. The significand q at quantum 2**qe maps to the pattern
    ((qe - qmin) << mantissa) + q, which also holds for subnormals (qe = qmin) and for a
    carry into the next binade (q = 2**(mantissa + 1)). Integers only, for speed."""
    n, d = x.as_integer_ratio()
    e = n.bit_length() - d.bit_length()  # floor(log2(x)) or one more
    below = _scaled(n, d, e)
    e -= below[0] < below[1]
    if lay.kind == "unsigned":
        if e < -lay.bias:  # no zero: the smallest value is the nearest
            return 0
        qe = e
    else:
        qe = e - lay.mantissa if e - lay.mantissa > lay.qmin else lay.qmin
    q = _round_quotient(*_scaled(n, d, qe), rounding, random_bits)
    return ((qe - lay.qmin) << lay.mantissa) + q


def _encode_float(fmt: FloatFormat, x: Value, rounding: str, overflow: str, random_bits: int | None) -> int:
    lay = _layout(fmt)
    negative = _negative(x)
    if _is_nan(x):
        return lay.nan(negative)
    if lay.kind == "unsigned" and (negative or x == 0):
        return lay.nan(negative)
    sign = lay.sign if negative else 0
    if _is_inf(x):
        return lay.max_mag | sign if overflow == "saturate" else lay.overflowed(negative)
    if x == 0:
        return lay.zero(negative)
    mag = _round_magnitude(lay, -x if negative else x, rounding, random_bits)
    if mag > lay.max_mag:
        if overflow == "saturate" or rounding == "toward_zero":
            return lay.max_mag | sign
        return lay.overflowed(negative)
    return mag | sign if mag else lay.zero(negative)


def _encode_fixed(fmt: FixedFormat, x: Value, exact: bool, rounding: str, overflow: str,
                  random_bits: int | None) -> int:
    lo = -(1 << (fmt.bits - 1)) if fmt.signed else 0
    hi = (1 << (fmt.bits - 1)) - 1 if fmt.signed else (1 << fmt.bits) - 1
    rule = "saturate" if overflow == "saturate" else fmt.overflow if exact else fmt.float_overflow
    if _is_nan(x):
        n = 0
    elif _is_inf(x):
        n = (lo if x < 0 else hi) if rule == "saturate" else 0
    else:
        num, den = x.as_integer_ratio()
        mag = _round_quotient(*_scaled(-num if x < 0 else num, den, -fmt.fraction), rounding, random_bits)
        n = -mag if x < 0 else mag
        if not lo <= n <= hi:
            n = {"saturate": lo if n < lo else hi, "wrap": n, "zero": 0}[rule]
    return n & ((1 << fmt.bits) - 1)


def encode(fmt: FloatFormat | FixedFormat, value, rounding: str = "nearest_even", overflow: str = "format",
           random_bits: int | None = None) -> int:
    """The pattern of `value` rounded to `fmt` (rules in the module docstring)."""
    exact = isinstance(value, numbers.Rational)
    if isinstance(value, numbers.Integral):
        x = int(value)
    else:
        x = Fraction(value) if exact else float(value)
    return _encode(fmt, x, exact, rounding, overflow, random_bits)


def _encode(fmt, x: Value | int, exact: bool, rounding: str, overflow: str, random_bits: int | None) -> int:
    _check_rounding(rounding, overflow, random_bits)
    if isinstance(fmt, FixedFormat):
        return _encode_fixed(fmt, x, exact, rounding, overflow, random_bits)
    return _encode_float(fmt, x, rounding, overflow, random_bits)


def _check_rounding(rounding: str, overflow: str, random_bits) -> None:
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
    if (rounding == "stochastic") != (random_bits is not None):
        raise ValueError("random_bits is required with stochastic rounding, and only then")
    if random_bits is not None and not 0 <= random_bits < 1 << STOCHASTIC_BITS:
        raise ValueError(f"random_bits must be an integer in [0, 2**{STOCHASTIC_BITS}), got {random_bits!r}")


# Exact values with IEEE specials --------------------------------------------------------


def _is_nan(v: Value) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _is_inf(v: Value) -> bool:
    return isinstance(v, float) and math.isinf(v)


def _negative(v: Value) -> bool:
    return math.copysign(1.0, v) < 0 if isinstance(v, float) else v < 0


def _finite(v: Value) -> Fraction:
    """A decoded value known not to be inf or NaN, with -0.0 as 0."""
    return Fraction(0) if isinstance(v, float) else v


def _signed_zero(negative: bool) -> Value:
    return -0.0 if negative else Fraction(0)


def _signed_inf(negative: bool) -> float:
    return -math.inf if negative else math.inf


def _exact_add(a: Value, b: Value) -> Value:
    if _is_nan(a) or _is_nan(b):
        return NAN
    if _is_inf(a) or _is_inf(b):
        if _is_inf(a) and _is_inf(b) and a != b:
            return NAN
        return a if _is_inf(a) else b
    total = _finite(a) + _finite(b)
    if total == 0:
        return _signed_zero(a == 0 and b == 0 and _negative(a) and _negative(b))
    return total


def _exact_mul(a: Value, b: Value) -> Value:
    if _is_nan(a) or _is_nan(b):
        return NAN
    negative = _negative(a) != _negative(b)
    if _is_inf(a) or _is_inf(b):
        return NAN if a == 0 or b == 0 else _signed_inf(negative)
    product = _finite(a) * _finite(b)
    return product if product else _signed_zero(negative)


def _exact_div(a: Value, b: Value) -> Value:
    if _is_nan(a) or _is_nan(b):
        return NAN
    negative = _negative(a) != _negative(b)
    if _is_inf(a):
        return NAN if _is_inf(b) else _signed_inf(negative)
    if _is_inf(b):
        return _signed_zero(negative)
    if b == 0:
        return NAN if a == 0 else _signed_inf(negative)
    quotient = _finite(a) / _finite(b)
    return quotient if quotient else _signed_zero(negative)


def _exact_neg(a: Value) -> Value:
    if isinstance(a, float):
        return -a
    return -a if a else -0.0


def _pick(a: Value, b: Value, smaller: bool) -> Value:
    """IEEE 754-2019 minimum (smaller) or maximum: NaN wins, -0 < +0."""
    if _is_nan(a) or _is_nan(b):
        return NAN
    if a == b:  # only zeros of different signs differ here
        return a if _negative(a) == smaller else b
    return a if (a < b) == smaller else b


# Operations on patterns -----------------------------------------------------------------


def _round(fmt, value: Value, rounding: str, overflow: str, random_bits: int | None) -> int:
    """Encode an exact operation result (an exact source for fixed formats)."""
    return _encode(fmt, value, True, rounding, overflow, random_bits)


def add(fmt, a: int, b: int, rounding="nearest_even", overflow="format", random_bits=None) -> int:
    return _round(fmt, _exact_add(decode(fmt, a), decode(fmt, b)), rounding, overflow, random_bits)


def sub(fmt, a: int, b: int, rounding="nearest_even", overflow="format", random_bits=None) -> int:
    return _round(fmt, _exact_add(decode(fmt, a), _exact_neg(decode(fmt, b))), rounding, overflow, random_bits)


def mul(fmt, a: int, b: int, rounding="nearest_even", overflow="format", random_bits=None) -> int:
    return _round(fmt, _exact_mul(decode(fmt, a), decode(fmt, b)), rounding, overflow, random_bits)


def div(fmt, a: int, b: int, rounding="nearest_even", overflow="format", random_bits=None) -> int:
    divisor = decode(fmt, b)
    if isinstance(fmt, FixedFormat) and divisor == 0:
        raise ZeroDivisionError(f"division by zero in the fixed-point format {fmt.name}")
    return _round(fmt, _exact_div(decode(fmt, a), divisor), rounding, overflow, random_bits)


def fma(fmt, a: int, b: int, c: int, rounding="nearest_even", overflow="format", random_bits=None) -> int:
    """a * b + c rounded once."""
    product = _exact_mul(decode(fmt, a), decode(fmt, b))
    return _round(fmt, _exact_add(product, decode(fmt, c)), rounding, overflow, random_bits)


def neg(fmt, a: int, overflow="format") -> int:
    """-a, exact (only the most negative fixed-point value can overflow)."""
    return _round(fmt, _exact_neg(decode(fmt, a)), "nearest_even", overflow, None)


def abs(fmt, a: int, overflow="format") -> int:
    """|a|, exact (only the most negative fixed-point value can overflow)."""
    value = decode(fmt, a)
    return _round(fmt, _exact_neg(value) if _negative(value) else value, "nearest_even", overflow, None)


def min(fmt, a: int, b: int) -> int:
    """IEEE minimum (exact, so no rounding)."""
    return _round(fmt, _pick(decode(fmt, a), decode(fmt, b), True), "nearest_even", "format", None)


def max(fmt, a: int, b: int) -> int:
    """IEEE maximum (exact, so no rounding)."""
    return _round(fmt, _pick(decode(fmt, a), decode(fmt, b), False), "nearest_even", "format", None)


def compare(fmt, a: int, b: int, predicate: str) -> bool:
    """LLVM `fcmp` semantics (IEEE 754 comparisons) on two patterns of one format."""
    if predicate not in PREDICATES:
        raise ValueError(f"predicate must be one of {PREDICATES}, got {predicate!r}")
    x, y = decode(fmt, a), decode(fmt, b)
    unordered = _is_nan(x) or _is_nan(y)
    if predicate in ("ord", "uno"):
        return unordered == (predicate == "uno")
    if unordered:
        return predicate[0] == "u"
    return _RELATIONS[predicate[1:]](x, y)
