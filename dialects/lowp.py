"""The ``lowp`` dialect: low-precision number formats as types, with casts and arithmetic.

A format is a parametric type; its values are stored in the low bits of an integer of
``storage_width`` bits (``storage_type``). The ops say what to compute (the exact result,
rounded once to the format); the ``lower-lowp`` pass generates how, from integer bit
manipulation. Every op is ``Pure``: stochastic rounding takes its random bits as an
operand, so CSE and DCE treat the ops as plain arithmetic.

Types
-----
``!lowp.float<e4m3, fn>``, ``!lowp.float<e4m3, fnuz, bias = 11>``
    ``LowpFloatType``: ``eEmM`` is E exponent bits (at least 1) and M mantissa bits (the
    fraction, without the implicit leading bit), then a sign bit unless the kind is
    ``unsigned``: at most 16 bits in all. ``bias`` defaults to ``2^(E-1) - 1`` and is
    printed only when it differs. The value of a finite encoding is
    ``(-1)^s * 2^(e - bias) * 1.m`` for ``e > 0`` and ``(-1)^s * 2^(1 - bias) * 0.m``
    (subnormals) for ``e = 0``. The kind is the convention for special values:

    ``ieee``      infinities (all-ones exponent, mantissa 0) and NaNs (all-ones exponent,
                  mantissa not 0) as in IEEE 754 (float8_e5m2); needs E >= 2 and M >= 1.
    ``fn``        finite: no infinities, one NaN per sign at all-ones exponent and
                  mantissa (float8_e4m3fn); needs E + M >= 2.
    ``fnuz``      finite, unsigned zero: no infinities, no negative zero, one NaN at the
                  negative-zero pattern (float8_e5m2fnuz, float8_e4m3b11fnuz).
    ``unsigned``  no sign bit, exponent only (M = 0): the scales ``2^(e - bias)``, NaN at
                  all-ones, no zero and no infinities (float8_e8m0fnu).
    ``finite``    no infinities and no NaN: every pattern is a number (the OCP MX
                  element types float6_e2m3fn, float6_e3m2fn, float4_e2m1fn, which
                  ``fn`` cannot describe).

    The kinds and the rules are those of ``tcir.frontend.formats`` (``FloatFormat``), so
    every format it accepts is a type and the other way round: every finite nonzero
    magnitude of a format lies in [2^-511, 2^511), where f64 computes the arithmetic
    of two values exactly enough (hence at most 9 exponent bits, but for e10m0 fn with
    bias 512, and a bias near the default).
``!lowp.fixed<s4.4, saturate>``, ``!lowp.fixed<u8.0, wrap>``, ``!lowp.fixed<s4.0, wrap, float_overflow = zero>``
    ``LowpFixedType``: a Q format, ``s`` (two's complement) or ``u`` (unsigned), integer
    bits (including the sign bit when signed: ``s1.7`` covers [-1, 1)) ``.`` fraction
    bits; at most 32 bits in all, at least one, and a signed format has at least the
    sign as integer bit. The value of an encoding is the integer it holds times
    ``2^-fraction``. The second parameter is the format's own overflow rule for exact
    results (arithmetic, conversions from integers and fixed point) beyond the range:
    ``saturate`` (clamp to the largest or smallest value) or ``wrap`` (modulo
    ``2^bits``, as the integer arithmetic of the encodings does). ``float_overflow``,
    printed only where it differs from the overflow rule, is the rule for floats that
    are out of range or not finite: ``saturate``, ``wrap`` or ``zero`` (0, as ml_dtypes'
    int4 does); NaN gives 0 under every rule, an infinity the range limit under
    ``saturate`` and 0 otherwise. As with floats, these are the parameters and rules
    of ``tcir.frontend.formats`` (``FixedFormat``).

Both types expose ``bits`` (the format's width), ``storage_width`` (8 or 16 for floats;
8, 16 or 32 for fixed point: the smallest that holds ``bits``) and ``storage_type``
(the signless integer of that width).

Attributes of the ops
---------------------
``rounding`` (``RoundingAttr``, ``#lowp<rounding toward_zero>`` in generic form):
    how an exact result between two neighbours of the destination becomes one of them.
    ``nearest_even`` (the default, omitted in the custom syntax): the nearer, ties to the
    one with an even last bit; ``toward_zero``: the one of smaller magnitude;
    ``stochastic``: the one of larger magnitude with probability ``p`` = (distance from
    the one of smaller magnitude) / (gap between them), decided by an extra operand of
    random bits, an ``i32`` written ``random %bits`` (present exactly when the rounding
    is stochastic): with ``r`` the bits read as an unsigned integer, the larger is
    chosen when ``r < p * 2^32``, so that uniform bits choose it with probability ``p``
    (to 2^-32). An exact result is never changed, whatever the mode.
``overflow`` (``OverflowAttr``): what a result beyond the destination's range becomes.
    ``format`` (the default, omitted): the destination's own rule. For ``ieee`` floats
    and f16, bf16, f32, f64 it is an infinity (as IEEE 754 rounds: with
    ``nearest_even`` only results at or beyond the midpoint above the largest value
    overflow; ``toward_zero`` never gives an infinity from a finite value); for ``fn``,
    ``fnuz`` and ``unsigned`` floats it is NaN, for ``finite`` floats (which have no
    NaN) it is saturation, as ml_dtypes does (``tcir.frontend.formats`` documents each
    named format); for fixed point it is the type's ``overflow`` rule, or its
    ``float_overflow`` rule for a float input; for integers it is ``wrap``.
    ``saturate``: the largest (or smallest) finite value of the destination, also for
    infinite inputs.
    Whatever the overflow mode: NaN stays NaN in a float destination that has one (a
    ``finite`` format gets a zero, as ml_dtypes gives) and becomes 0 in a fixed-point
    or integer one; an infinity becomes 0 in a fixed-point or integer destination but
    with ``saturate``; a negative value is out of the range of an unsigned fixed-point or
    integer destination (0 with ``saturate``) and NaN in an ``unsigned`` float; a
    ``fnuz`` or unsigned destination has no -0 (it becomes +0).
``unsigned_input``, ``unsigned_result`` (unit, ``lowp.cast`` only): the signless integer
    operand or result is read as unsigned (the default is signed, two's complement);
    written ``unsigned`` before the integer type. An integer behaves as the fixed-point
    format ``sN.0`` (or ``uN.0``) with ``wrap`` (also for floats).
``predicate`` (``PredicateAttr``, ``lowp.cmp`` only): on floats those of ``arith.cmpf``
    but ``false``/``true``: ``oeq one olt ole ogt oge`` (ordered: false if either
    operand is NaN), ``ueq une ult ule ugt uge`` (unordered: true if either is NaN),
    ``ord``, ``uno``; +0 equals -0. On fixed point, which has no NaN and whose
    signedness is in the type, ``eq ne lt le gt ge`` (signed comparison for ``s``
    formats, unsigned for ``u``). Each family is an error on the other kind of type.

Operations
----------
``%y = lowp.cast %x [rounding R] [random %bits] [overflow O] : [unsigned] T1 to [unsigned] T2``
    Converts between any two different types among lowp types, f16, bf16, f32, f64 and
    the signless integers i8, i16, i32, i64: the exact value of ``%x`` rounded to T2
    (``rounding``), then the overflow rule (``overflow``). Where every value of T1 is
    a value of T2 (e4m3 to f32) the attributes have no effect. A cast to the same type
    is a verifier error (it would do nothing: use the value).
``%z = lowp.add %a, %b [rounding R] [random %bits] [overflow O] : T``
    Also ``sub``, ``mul``, ``div``, and ``%d = lowp.fma %a, %b, %c ... : T`` (``a * b +
    c`` rounded once). The exact result of the real operation on the operands' values,
    rounded once to T, then the overflow rule. NaN operands give NaN; x/0 gives NaN for
    0/0 and otherwise an overflow of the sign of the quotient (an infinity in ``ieee``
    formats). On fixed point, ``add`` and ``sub`` are exact up to overflow (the rounding
    attribute has no effect there), ``mul``, ``div`` and ``fma`` round to ``2^-fraction``
    and x/0 overflows (0/0 is 0).
``%y = lowp.neg %a [overflow O] : T``, ``%y = lowp.abs %a [overflow O] : T``
    Exact but for overflow, which only signed fixed point has (``-(-8)`` in ``s4.0``) and
    unsigned fixed point has for ``neg`` of a non-zero value. ``neg`` of an ``unsigned``
    float (which has no negative values) is a verifier error; ``abs`` of it is the
    identity.
``%y = lowp.min %a, %b : T``, ``%y = lowp.max %a, %b : T``
    Exact; as ``arith.minimumf``/``maximumf`` on floats: NaN if either operand is NaN,
    -0 below +0.
``%c = lowp.cmp olt, %a, %b : T``
    An ``i1``; the predicates above.

The operands and the result of the arithmetic ops share one lowp type (mixed formats go
through ``lowp.cast``); the random bits are an ``i32``.

Example::

    func.func @example(%v : f32, %bits : i32) -> (i1, f32, !lowp.fixed<s4.4, wrap>) {
      %w = lowp.cast %v : f32 to !lowp.float<e4m3, fn>
      %s = lowp.cast %v rounding stochastic random %bits overflow saturate : f32 to !lowp.float<e5m2, ieee>
      %p = lowp.mul %w, %w : !lowp.float<e4m3, fn>
      %q = lowp.fma %w, %w, %p rounding toward_zero : !lowp.float<e4m3, fn>
      %lt = lowp.cmp olt, %p, %q : !lowp.float<e4m3, fn>
      %f = lowp.cast %q : !lowp.float<e4m3, fn> to f32
      %i = lowp.cast %f : f32 to unsigned i8
      %k = lowp.cast %i : unsigned i8 to !lowp.fixed<s4.4, wrap>
      %m = lowp.add %k, %k overflow saturate : !lowp.fixed<s4.4, wrap>
      func.return %lt, %f, %m : i1, f32, !lowp.fixed<s4.4, wrap>
    }

Python builders
---------------
``LowpFloatType(exponent, mantissa, kind="ieee", bias=None)`` (``bias=None``: the
default), ``LowpFixedType(integer, fraction, signed=True, overflow="saturate",
float_overflow=None)`` (``None``: ``overflow``); parameters ``exponent``, ``mantissa``,
``bias``, ``integer``, ``fraction`` (``IntAttr``), ``kind``, ``overflow``,
``float_overflow`` (``StringAttr``), ``signed`` (``IntAttr``, 0 or 1; the property
``is_signed``). ``is_lowp_type(t)``; ``float_format_error(...)`` and
``fixed_format_error(...)`` say what makes parameters invalid (or None).
``CastOp(input, result_type, rounding="nearest_even", overflow="format", random=None,
unsigned_input=False, unsigned_result=False)``;
``AddOp(lhs, rhs, rounding=..., overflow=..., random=None)`` and ``SubOp``, ``MulOp``,
``DivOp``; ``FmaOp(a, b, c, rounding=..., overflow=..., random=None)``;
``NegOp(operand, overflow=...)``, ``AbsOp``; ``MinOp(lhs, rhs)``, ``MaxOp``;
``CmpOp(lhs, rhs, predicate)``. Modes are strings or ``Rounding``/``Overflow``/
``Predicate`` members (or their attributes).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import ClassVar

from xdsl.dialects.builtin import (
    IntAttr,
    IntegerType,
    Signedness,
    StringAttr,
    UnitAttr,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i32,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Dialect,
    Operation,
    ParametrizedAttribute,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser, Parser, UnresolvedOperand
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

__all__ = [
    "CAST_FLOAT_TYPES",
    "CAST_INTEGER_WIDTHS",
    "FIXED_OVERFLOWS",
    "FLOAT_SOURCE_OVERFLOWS",
    "FLOAT_KINDS",
    "LOWP",
    "LowpType",
    "MAX_FIXED_BITS",
    "MAX_FLOAT_BITS",
    "RANGE",
    "AbsOp",
    "AddOp",
    "CastOp",
    "CmpOp",
    "DivOp",
    "FmaOp",
    "LowpFixedType",
    "LowpFloatType",
    "MaxOp",
    "MinOp",
    "MulOp",
    "NegOp",
    "Overflow",
    "OverflowAttr",
    "Predicate",
    "PredicateAttr",
    "Rounding",
    "RoundingAttr",
    "SubOp",
    "default_bias",
    "fixed_format_error",
    "float_format_error",
    "is_lowp_type",
]

FLOAT_KINDS: tuple[str, ...] = ("ieee", "fn", "fnuz", "unsigned", "finite")
"""Conventions for the special values of a float format (module docstring)."""

FIXED_OVERFLOWS: tuple[str, ...] = ("saturate", "wrap")
"""The own overflow rules of a fixed-point format."""

FLOAT_SOURCE_OVERFLOWS: tuple[str, ...] = ("saturate", "wrap", "zero")
"""The rules of a fixed-point format for floats that are out of its range or not finite."""

MAX_FLOAT_BITS = 16
MAX_FIXED_BITS = 32
RANGE = 511
"""Every finite nonzero magnitude of a float format lies in [2^-RANGE, 2^RANGE) (as in
``tcir.frontend.formats``)."""

CAST_FLOAT_TYPES: tuple[Attribute, ...] = (f16, bf16, f32, f64)
"""The standard float types that ``lowp.cast`` converts from and to."""

CAST_INTEGER_WIDTHS: tuple[int, ...] = (8, 16, 32, 64)
"""The widths of the signless integers that ``lowp.cast`` converts from and to."""



def default_bias(exponent: int) -> int:
    """The bias of a float format with ``exponent`` exponent bits unless told: 2^(E-1) - 1."""
    return 2 ** (exponent - 1) - 1


def _float_text(exponent: int, mantissa: int, kind: str, bias: int) -> str:
    spelled_bias = "" if bias == default_bias(exponent) else f", bias = {bias}"
    return f"!lowp.float<e{exponent}m{mantissa}, {kind}{spelled_bias}>"


def _fixed_text(integer: int, fraction: int, signed: bool, overflow: str, float_overflow: str) -> str:
    spelled = "" if float_overflow == overflow else f", float_overflow = {float_overflow}"
    return f"!lowp.fixed<{'s' if signed else 'u'}{integer}.{fraction}, {overflow}{spelled}>"


def float_format_error(exponent: int, mantissa: int, kind: str, bias: int) -> str | None:
    """What makes a float format invalid (module docstring), or None."""
    text = _float_text(exponent, mantissa, kind, bias)
    if kind not in FLOAT_KINDS:
        return f"{text}: unknown kind `{kind}`; expected one of {', '.join(FLOAT_KINDS)}"
    if exponent < 1:
        return f"{text}: the exponent must have at least 1 bit, got {exponent}"
    if mantissa < 0:
        return f"{text}: the mantissa cannot have a negative number of bits ({mantissa})"
    bits = exponent + mantissa + (kind != "unsigned")
    if bits > MAX_FLOAT_BITS:
        return f"{text} has {bits} bits; a float format has at most {MAX_FLOAT_BITS}"
    if kind == "unsigned" and mantissa != 0:
        return (f"{text}: an unsigned format is a scale, exponent only, so it has no mantissa "
                f"bits (got {mantissa})")
    if kind == "ieee" and exponent < 2:
        return (f"{text}: an ieee format needs at least 2 exponent bits (one exponent is taken "
                "by infinities and NaNs)")
    if kind == "ieee" and mantissa < 1:
        return f"{text}: an ieee format needs at least 1 mantissa bit (to tell NaN from infinity)"
    if kind == "fn" and exponent + mantissa < 2:
        return f"{text}: an fn format needs at least 2 exponent and mantissa bits (e1m0 holds only 0 and NaN)"
    # floor(log2) of the smallest positive value and of the largest finite value, whose
    # pattern (without the sign) is below the infinities, below the NaN, or all ones
    low = -bias if kind == "unsigned" else 1 - bias - mantissa
    top = {"ieee": (((1 << exponent) - 1) << mantissa) - 1, "fn": (1 << (exponent + mantissa)) - 2,
           "unsigned": (1 << exponent) - 2}.get(kind, (1 << (exponent + mantissa)) - 1)
    high = (top >> mantissa) - bias
    if low < -RANGE or high >= RANGE:
        span = (f"{text}: its values span 2^{low} to 2^{high + 1}, beyond [2^-{RANGE}, 2^{RANGE}) where f64 "
                "computes the arithmetic exactly enough")
        fewest, most = high + bias - RANGE + 1, low + bias + RANGE  # the biases that would fit
        if fewest > most:
            return f"{span}, whatever the bias: it has too many exponent bits"
        return f"{span}; the bias must be {fewest}" + (f" to {most}" if most > fewest else "")
    return None


def fixed_format_error(integer: int, fraction: int, signed: bool, overflow: str,
                       float_overflow: str | None = None) -> str | None:
    """What makes a fixed-point format invalid (module docstring), or None."""
    float_overflow = overflow if float_overflow is None else float_overflow
    text = _fixed_text(integer, fraction, signed, overflow, float_overflow)
    if overflow not in FIXED_OVERFLOWS:
        return (f"{text}: unknown overflow rule `{overflow}`; expected one of "
                f"{', '.join(FIXED_OVERFLOWS)}")
    if float_overflow not in FLOAT_SOURCE_OVERFLOWS:
        return (f"{text}: unknown float overflow rule `{float_overflow}`; expected one of "
                f"{', '.join(FLOAT_SOURCE_OVERFLOWS)}")
    if integer < 0 or fraction < 0:
        return f"{text}: integer and fraction bits cannot be negative"
    if signed and integer < 1:
        return f"{text}: a signed format needs at least 1 integer bit, the sign (s1.{fraction} covers [-1, 1))"
    bits = integer + fraction
    if bits < 1:
        return f"{text} has no bits"
    if bits > MAX_FIXED_BITS:
        return f"{text} has {bits} bits; a fixed-point format has at most {MAX_FIXED_BITS}"
    return None


def _storage_width(bits: int) -> int:
    return next(width for width in (8, 16, 32) if bits <= width)


# ----------------------------------------------------------------------------------
# Types
# ----------------------------------------------------------------------------------


def _parse_word(parser: AttrParser, accept: Callable[[str], bool], message: str, say_found: bool = False) -> str:
    """An identifier that ``accept`` takes, or a parse error located at the token."""
    start = parser.pos
    word = parser.parse_optional_identifier()
    if word is None:
        parser.raise_error(message)  # at the token found instead
    if not accept(word):
        parser.raise_error(message + (f", got `{word}`" if say_found else ""), start, start + len(word))
    return word


def _parse_spelling(parser: AttrParser, pattern: re.Pattern[str], what: str, example: str) -> re.Match[str]:
    word = _parse_word(parser, pattern.fullmatch, f"expected {what} such as `{example}`")
    match = pattern.fullmatch(word)
    assert match is not None
    return match


_FLOAT_SPELLING = re.compile(r"e(\d+)m(\d+)")
_FIXED_SPELLING = re.compile(r"([su])(\d+)\.(\d+)")


@irdl_attr_definition
class LowpFloatType(ParametrizedAttribute, TypeAttribute):
    """``!lowp.float<e4m3, fn>``: a float format of at most 16 bits."""

    name = "lowp.float"

    exponent: IntAttr
    mantissa: IntAttr
    kind: StringAttr
    bias: IntAttr

    def __init__(self, exponent: int | IntAttr, mantissa: int | IntAttr, kind: str | StringAttr = "ieee",
                 bias: int | IntAttr | None = None):
        if isinstance(exponent, IntAttr):
            exponent = exponent.data
        if bias is None:
            bias = default_bias(exponent)
        super().__init__(
            IntAttr(exponent),
            mantissa if isinstance(mantissa, IntAttr) else IntAttr(mantissa),
            kind if isinstance(kind, StringAttr) else StringAttr(kind),
            bias if isinstance(bias, IntAttr) else IntAttr(bias),
        )

    @property
    def has_sign(self) -> bool:
        return self.kind.data != "unsigned"

    @property
    def bits(self) -> int:
        return self.exponent.data + self.mantissa.data + self.has_sign

    @property
    def storage_width(self) -> int:
        return _storage_width(self.bits)

    @property
    def storage_type(self) -> IntegerType:
        return IntegerType(self.storage_width)

    @property
    def has_default_bias(self) -> bool:
        return self.bias.data == default_bias(self.exponent.data)

    def verify(self) -> None:
        error = float_format_error(self.exponent.data, self.mantissa.data, self.kind.data, self.bias.data)
        if error:
            raise VerifyException(error)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            spelling = _parse_spelling(parser, _FLOAT_SPELLING, "exponent and mantissa bits", "e4m3")
            exponent, mantissa = int(spelling[1]), int(spelling[2])
            parser.parse_punctuation(",", f" and the kind ({', '.join(FLOAT_KINDS)}) after the exponent and "
                                         "mantissa bits of !lowp.float")
            kind = _parse_word(parser, FLOAT_KINDS.__contains__,
                               f"expected the kind of a !lowp.float, one of {', '.join(FLOAT_KINDS)}")
            bias = default_bias(exponent)
            if parser.parse_optional_punctuation(","):
                parser.parse_keyword("bias", " (the only optional parameter of !lowp.float)")
                parser.parse_punctuation("=", " after `bias`")
                bias = parser.parse_integer(allow_boolean=False, context_msg=" as the bias of !lowp.float")
            # Reported here, located, rather than by verify() after parsing.
            if error := float_format_error(exponent, mantissa, kind, bias):
                parser.raise_error(error, start, parser.pos)
        return [IntAttr(exponent), IntAttr(mantissa), StringAttr(kind), IntAttr(bias)]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string(f"e{self.exponent.data}m{self.mantissa.data}, {self.kind.data}")
            if not self.has_default_bias:
                printer.print_string(f", bias = {self.bias.data}")


@irdl_attr_definition
class LowpFixedType(ParametrizedAttribute, TypeAttribute):
    """``!lowp.fixed<s4.4, saturate>``: a fixed-point (Q) format of at most 32 bits."""

    name = "lowp.fixed"

    integer: IntAttr
    fraction: IntAttr
    signed: IntAttr
    overflow: StringAttr
    float_overflow: StringAttr

    def __init__(self, integer: int | IntAttr, fraction: int | IntAttr, signed: bool | IntAttr = True,
                 overflow: str | StringAttr = "saturate", float_overflow: str | StringAttr | None = None):
        overflow = overflow if isinstance(overflow, StringAttr) else StringAttr(overflow)
        if float_overflow is None:
            float_overflow = overflow
        super().__init__(
            integer if isinstance(integer, IntAttr) else IntAttr(integer),
            fraction if isinstance(fraction, IntAttr) else IntAttr(fraction),
            signed if isinstance(signed, IntAttr) else IntAttr(int(signed)),
            overflow,
            float_overflow if isinstance(float_overflow, StringAttr) else StringAttr(float_overflow),
        )

    @property
    def is_signed(self) -> bool:
        return bool(self.signed.data)

    @property
    def bits(self) -> int:
        return self.integer.data + self.fraction.data

    @property
    def storage_width(self) -> int:
        return _storage_width(self.bits)

    @property
    def storage_type(self) -> IntegerType:
        return IntegerType(self.storage_width)

    def verify(self) -> None:
        if self.signed.data not in (0, 1):
            raise VerifyException(f"!lowp.fixed: `signed` is 0 or 1, got {self.signed.data}")
        error = fixed_format_error(self.integer.data, self.fraction.data, self.is_signed, self.overflow.data,
                                   self.float_overflow.data)
        if error:
            raise VerifyException(error)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            start = parser.pos
            spelling = _parse_spelling(parser, _FIXED_SPELLING, "s or u, integer bits `.` fraction bits",
                                       "s4.4")
            signed, integer, fraction = spelling[1] == "s", int(spelling[2]), int(spelling[3])
            parser.parse_punctuation(",", f" and the overflow rule ({', '.join(FIXED_OVERFLOWS)}) after the bits "
                                         "of !lowp.fixed")
            overflow = _parse_word(parser, FIXED_OVERFLOWS.__contains__,
                                   f"expected the overflow rule of a !lowp.fixed, one of {', '.join(FIXED_OVERFLOWS)}")
            float_overflow = overflow
            if parser.parse_optional_punctuation(","):
                parser.parse_keyword("float_overflow", " (the only optional parameter of !lowp.fixed)")
                parser.parse_punctuation("=", " after `float_overflow`")
                float_overflow = _parse_word(
                    parser, FLOAT_SOURCE_OVERFLOWS.__contains__,
                    f"expected the float overflow rule of a !lowp.fixed, one of {', '.join(FLOAT_SOURCE_OVERFLOWS)}")
            if error := fixed_format_error(integer, fraction, signed, overflow, float_overflow):
                parser.raise_error(error, start, parser.pos)
        return [IntAttr(integer), IntAttr(fraction), IntAttr(int(signed)), StringAttr(overflow),
                StringAttr(float_overflow)]

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            sign = "s" if self.is_signed else "u"
            printer.print_string(f"{sign}{self.integer.data}.{self.fraction.data}, {self.overflow.data}")
            if self.float_overflow != self.overflow:
                printer.print_string(f", float_overflow = {self.float_overflow.data}")


LowpType = LowpFloatType | LowpFixedType


def is_lowp_type(t: Attribute) -> bool:
    return isinstance(t, LowpFloatType | LowpFixedType)


# ----------------------------------------------------------------------------------
# Attributes of the ops
# ----------------------------------------------------------------------------------


class Rounding(StrEnum):
    NEAREST_EVEN = "nearest_even"
    TOWARD_ZERO = "toward_zero"
    STOCHASTIC = "stochastic"


class Overflow(StrEnum):
    FORMAT = "format"
    SATURATE = "saturate"


class Predicate(StrEnum):
    # floats, as arith.cmpf without false and true
    OEQ = "oeq"
    ONE = "one"
    OLT = "olt"
    OLE = "ole"
    OGT = "ogt"
    OGE = "oge"
    UEQ = "ueq"
    UNE = "une"
    ULT = "ult"
    ULE = "ule"
    UGT = "ugt"
    UGE = "uge"
    ORD = "ord"
    UNO = "uno"
    # fixed point (signed or unsigned as the type is)
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


FLOAT_PREDICATES: tuple[str, ...] = tuple(p.value for p in Predicate)[:14]
FIXED_PREDICATES: tuple[str, ...] = tuple(p.value for p in Predicate)[14:]


@irdl_attr_definition
class RoundingAttr(EnumAttribute[Rounding], SpacedOpaqueSyntaxAttribute):
    """``#lowp<rounding stochastic>``: a rounding mode."""

    name = "lowp.rounding"


@irdl_attr_definition
class OverflowAttr(EnumAttribute[Overflow], SpacedOpaqueSyntaxAttribute):
    """``#lowp<overflow saturate>``: what a result beyond the range becomes."""

    name = "lowp.overflow"


@irdl_attr_definition
class PredicateAttr(EnumAttribute[Predicate], SpacedOpaqueSyntaxAttribute):
    """``#lowp<predicate olt>``: the comparison of ``lowp.cmp``."""

    name = "lowp.predicate"


NEAREST_EVEN = RoundingAttr(Rounding.NEAREST_EVEN)
FORMAT = OverflowAttr(Overflow.FORMAT)


def _rounding(mode: str | Rounding | RoundingAttr) -> RoundingAttr:
    return mode if isinstance(mode, RoundingAttr) else RoundingAttr(Rounding(mode))


def _overflow(mode: str | Overflow | OverflowAttr) -> OverflowAttr:
    return mode if isinstance(mode, OverflowAttr) else OverflowAttr(Overflow(mode))


def _parse_mode(parser: Parser, enum: type[StrEnum], what: str) -> str:
    values = [e.value for e in enum]
    return _parse_word(parser, values.__contains__, f"expected {what}, one of {', '.join(values)}", say_found=True)


# ----------------------------------------------------------------------------------
# Shared verification, parsing and printing
# ----------------------------------------------------------------------------------


def _verify_random(op: IRDLOperation, rounding: RoundingAttr, random: SSAValue | None) -> None:
    stochastic = rounding.data == Rounding.STOCHASTIC
    if stochastic and random is None:
        raise VerifyException(f"{op.name}: rounding stochastic needs an operand of random bits "
                              "(`random %bits`, an i32)")
    if random is not None and not stochastic:
        raise VerifyException(f"{op.name}: an operand of random bits is only for rounding stochastic, "
                              f"but the rounding is {rounding.data}")
    if random is not None and random.type != i32:
        raise VerifyException(f"{op.name}: the random bits must be an i32, got {random.type}")


def _verify_same_lowp_type(op: IRDLOperation, values: Sequence[SSAValue]) -> Attribute:
    """The one lowp type of ``values`` (operands then the result)."""
    t = values[0].type
    if not is_lowp_type(t):
        raise VerifyException(f"{op.name} works on values of a !lowp.float or !lowp.fixed type, got {t} "
                              "(arith has the ops of standard types)")
    if any(v.type != t for v in values[1:]):
        types = ", ".join(str(v.type) for v in values)
        raise VerifyException(f"{op.name}: operands and result must have one lowp type (use lowp.cast to "
                              f"convert), got {types}")
    return t


class _Modifiers:
    """The optional `rounding R`, `random %bits`, `overflow O` of the custom syntax."""

    def __init__(self, parser: Parser, rounding: bool, overflow: bool):
        self.rounding: str = Rounding.NEAREST_EVEN
        self.random: UnresolvedOperand | None = None
        self.overflow: str = Overflow.FORMAT
        if rounding and parser.parse_optional_keyword("rounding"):
            self.rounding = _parse_mode(parser, Rounding, "a rounding mode")
        if rounding and parser.parse_optional_keyword("random"):
            self.random = parser.parse_unresolved_operand("expected the random bits (an i32 value)")
        if overflow and parser.parse_optional_keyword("overflow"):
            self.overflow = _parse_mode(parser, Overflow, "an overflow mode")
        self.parser = parser

    def resolved_random(self) -> SSAValue | None:
        return None if self.random is None else self.parser.resolve_operand(self.random, i32)

    @staticmethod
    def print(printer: Printer, op: IRDLOperation) -> None:
        rounding = op.properties.get("rounding")
        if isinstance(rounding, RoundingAttr) and rounding != NEAREST_EVEN:
            printer.print_string(f" rounding {rounding.data.value}")
        random = getattr(op, "random", None)
        if random is not None:
            printer.print_string(" random ")
            printer.print_ssa_value(random)
        overflow = op.properties.get("overflow")
        if isinstance(overflow, OverflowAttr) and overflow != FORMAT:
            printer.print_string(f" overflow {overflow.data.value}")


def _print_operands(printer: Printer, operands: Sequence[SSAValue]) -> None:
    printer.print_string(" ")
    printer.print_list(operands, printer.print_ssa_value)


def _parse_operands(parser: Parser, count: int, op: str) -> list[UnresolvedOperand]:
    operands = [parser.parse_unresolved_operand()]
    for _ in range(count - 1):
        parser.parse_punctuation(",", f" between the operands of {op}")
        operands.append(parser.parse_unresolved_operand())
    return operands


def _parse_tail(parser: Parser, op: str) -> tuple[dict[str, Attribute], Attribute]:
    """`attr-dict : type`."""
    attributes = parser.parse_optional_attr_dict()
    parser.parse_punctuation(":", f" before the type of {op}")
    return attributes, parser.parse_type()


def _print_tail(printer: Printer, op: Operation, t: Attribute) -> None:
    printer.print_op_attributes(op.attributes)
    printer.print_string(" : ")
    printer.print_attribute(t)


# ----------------------------------------------------------------------------------
# lowp.cast
# ----------------------------------------------------------------------------------


def _cast_type_error(t: Attribute) -> str | None:
    if is_lowp_type(t) or t in CAST_FLOAT_TYPES:
        return None
    if isinstance(t, IntegerType) and t.signedness.data == Signedness.SIGNLESS and \
            t.width.data in CAST_INTEGER_WIDTHS:
        return None
    hint = " (a signless integer with `unsigned` reads as unsigned)" if isinstance(t, IntegerType) else ""
    return f"a lowp type, f16, bf16, f32, f64, i8, i16, i32 or i64, got {t}{hint}"


def _is_integer(t: Attribute) -> bool:
    return isinstance(t, IntegerType)


@irdl_op_definition
class CastOp(IRDLOperation):
    """Converts a value to another format, rounding and handling overflow as told."""

    name = "lowp.cast"

    input = operand_def()
    random = opt_operand_def()
    result = result_def()
    rounding = prop_def(RoundingAttr, default_value=NEAREST_EVEN)
    overflow = prop_def(OverflowAttr, default_value=FORMAT)
    unsigned_input = opt_prop_def(UnitAttr)
    unsigned_result = opt_prop_def(UnitAttr)

    traits = traits_def(Pure())

    def __init__(self, input: SSAValue | Operation, result_type: Attribute,
                 rounding: str | Rounding | RoundingAttr = Rounding.NEAREST_EVEN,
                 overflow: str | Overflow | OverflowAttr = Overflow.FORMAT,
                 random: SSAValue | Operation | None = None,
                 unsigned_input: bool = False, unsigned_result: bool = False):
        properties: dict[str, Attribute] = {"rounding": _rounding(rounding), "overflow": _overflow(overflow)}
        if unsigned_input:
            properties["unsigned_input"] = UnitAttr()
        if unsigned_result:
            properties["unsigned_result"] = UnitAttr()
        super().__init__(operands=[input, [] if random is None else [random]], result_types=[result_type],
                         properties=properties)

    def verify_(self) -> None:
        source, target = self.input.type, self.result.type
        if error := _cast_type_error(source):
            raise VerifyException(f"lowp.cast: the input must be {error}")
        if error := _cast_type_error(target):
            raise VerifyException(f"lowp.cast: the result must be {error}")
        if source == target:
            raise VerifyException(f"lowp.cast from {source} to the same type does nothing; use the value")
        for flag, t, which in ((self.unsigned_input, source, "input"), (self.unsigned_result, target, "result")):
            if flag is not None and not _is_integer(t):
                raise VerifyException(f"lowp.cast: `unsigned` reads an integer {which} as unsigned, but the "
                                      f"{which} is {t}")
        _verify_random(self, self.rounding, self.random)

    def print(self, printer: Printer) -> None:
        _print_operands(printer, [self.input])
        _Modifiers.print(printer, self)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        if self.unsigned_input is not None:
            printer.print_string("unsigned ")
        printer.print_attribute(self.input.type)
        printer.print_string(" to ")
        if self.unsigned_result is not None:
            printer.print_string("unsigned ")
        printer.print_attribute(self.result.type)

    @classmethod
    def parse(cls, parser: Parser) -> CastOp:
        (input,) = _parse_operands(parser, 1, cls.name)
        modifiers = _Modifiers(parser, rounding=True, overflow=True)
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":", " before the input type of lowp.cast")
        unsigned_input = parser.parse_optional_keyword("unsigned") is not None
        source = parser.parse_type()
        parser.parse_keyword("to", " between the types of lowp.cast")
        unsigned_result = parser.parse_optional_keyword("unsigned") is not None
        target = parser.parse_type()
        op = cls(parser.resolve_operand(input, source), target, modifiers.rounding, modifiers.overflow,
                 modifiers.resolved_random(), unsigned_input, unsigned_result)
        op.attributes |= attributes
        return op


# ----------------------------------------------------------------------------------
# Arithmetic
# ----------------------------------------------------------------------------------


class _RoundingOp(IRDLOperation):
    """Arithmetic that rounds: `lowp.<op> %a, %b[, %c] [rounding R] [random %bits]
    [overflow O] : T`."""

    # The fields are in the subclasses: the operands come in the order the fields are
    # defined, base class first, and the random bits are the last operand.
    ARITY: ClassVar[int]

    def _build(self, operands: Sequence[SSAValue | Operation], rounding, overflow, random) -> None:
        operands = [SSAValue.get(v) for v in operands]
        IRDLOperation.__init__(
            self,
            operands=[*operands, [] if random is None else [random]],
            result_types=[operands[0].type],
            properties={"rounding": _rounding(rounding), "overflow": _overflow(overflow)},
        )

    @property
    def values(self) -> tuple[SSAValue, ...]:
        """The operands, without the random bits."""
        return tuple(self.operands[: self.ARITY])

    def verify_(self) -> None:
        _verify_same_lowp_type(self, [*self.values, self.result])
        _verify_random(self, self.rounding, self.random)

    def print(self, printer: Printer) -> None:
        _print_operands(printer, self.values)
        _Modifiers.print(printer, self)
        _print_tail(printer, self, self.result.type)

    @classmethod
    def parse(cls, parser: Parser):
        operands = _parse_operands(parser, cls.ARITY, cls.name)
        modifiers = _Modifiers(parser, rounding=True, overflow=True)
        attributes, t = _parse_tail(parser, cls.name)
        values = [parser.resolve_operand(o, t) for o in operands]
        op = cls(*values, rounding=modifiers.rounding, overflow=modifiers.overflow,
                 random=modifiers.resolved_random())
        op.attributes |= attributes
        return op


class _BinaryRoundingOp(_RoundingOp):
    ARITY: ClassVar[int] = 2

    lhs = operand_def()
    rhs = operand_def()
    random = opt_operand_def()
    result = result_def()
    rounding = prop_def(RoundingAttr, default_value=NEAREST_EVEN)
    overflow = prop_def(OverflowAttr, default_value=FORMAT)

    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation,
                 rounding: str | Rounding | RoundingAttr = Rounding.NEAREST_EVEN,
                 overflow: str | Overflow | OverflowAttr = Overflow.FORMAT,
                 random: SSAValue | Operation | None = None):
        self._build([lhs, rhs], rounding, overflow, random)


@irdl_op_definition
class AddOp(_BinaryRoundingOp):
    """``lhs + rhs``, rounded once."""

    name = "lowp.add"


@irdl_op_definition
class SubOp(_BinaryRoundingOp):
    """``lhs - rhs``, rounded once."""

    name = "lowp.sub"


@irdl_op_definition
class MulOp(_BinaryRoundingOp):
    """``lhs * rhs``, rounded once."""

    name = "lowp.mul"


@irdl_op_definition
class DivOp(_BinaryRoundingOp):
    """``lhs / rhs``, rounded once."""

    name = "lowp.div"


@irdl_op_definition
class FmaOp(_RoundingOp):
    """``a * b + c``, rounded once."""

    name = "lowp.fma"
    ARITY: ClassVar[int] = 3

    a = operand_def()
    b = operand_def()
    c = operand_def()
    random = opt_operand_def()
    result = result_def()
    rounding = prop_def(RoundingAttr, default_value=NEAREST_EVEN)
    overflow = prop_def(OverflowAttr, default_value=FORMAT)

    traits = traits_def(Pure())

    def __init__(self, a: SSAValue | Operation, b: SSAValue | Operation, c: SSAValue | Operation,
                 rounding: str | Rounding | RoundingAttr = Rounding.NEAREST_EVEN,
                 overflow: str | Overflow | OverflowAttr = Overflow.FORMAT,
                 random: SSAValue | Operation | None = None):
        self._build([a, b, c], rounding, overflow, random)


class _UnaryOp(IRDLOperation):
    """`lowp.<op> %a [overflow O] : T`: exact but for overflow."""

    operand = operand_def()
    result = result_def()
    overflow = prop_def(OverflowAttr, default_value=FORMAT)

    traits = traits_def(Pure())

    def __init__(self, operand: SSAValue | Operation,
                 overflow: str | Overflow | OverflowAttr = Overflow.FORMAT):
        operand = SSAValue.get(operand)
        super().__init__(operands=[operand], result_types=[operand.type],
                         properties={"overflow": _overflow(overflow)})

    def verify_(self) -> None:
        _verify_same_lowp_type(self, [self.operand, self.result])

    def print(self, printer: Printer) -> None:
        _print_operands(printer, [self.operand])
        _Modifiers.print(printer, self)
        _print_tail(printer, self, self.result.type)

    @classmethod
    def parse(cls, parser: Parser):
        (operand,) = _parse_operands(parser, 1, cls.name)
        modifiers = _Modifiers(parser, rounding=False, overflow=True)
        attributes, t = _parse_tail(parser, cls.name)
        op = cls(parser.resolve_operand(operand, t), overflow=modifiers.overflow)
        op.attributes |= attributes
        return op


@irdl_op_definition
class NegOp(_UnaryOp):
    """``-a``."""

    name = "lowp.neg"

    def verify_(self) -> None:
        super().verify_()
        t = self.operand.type
        if isinstance(t, LowpFloatType) and not t.has_sign:
            raise VerifyException(f"lowp.neg: {t} has no negative values (it is unsigned)")


@irdl_op_definition
class AbsOp(_UnaryOp):
    """``|a|``."""

    name = "lowp.abs"


class _MinMaxOp(IRDLOperation):
    """`lowp.<op> %a, %b : T`: exact."""

    lhs = operand_def()
    rhs = operand_def()
    result = result_def()

    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation):
        lhs = SSAValue.get(lhs)
        super().__init__(operands=[lhs, rhs], result_types=[lhs.type])

    def verify_(self) -> None:
        _verify_same_lowp_type(self, [self.lhs, self.rhs, self.result])

    def print(self, printer: Printer) -> None:
        _print_operands(printer, [self.lhs, self.rhs])
        _print_tail(printer, self, self.result.type)

    @classmethod
    def parse(cls, parser: Parser):
        operands = _parse_operands(parser, 2, cls.name)
        attributes, t = _parse_tail(parser, cls.name)
        op = cls(*(parser.resolve_operand(o, t) for o in operands))
        op.attributes |= attributes
        return op


@irdl_op_definition
class MinOp(_MinMaxOp):
    """The smaller operand; NaN if either is NaN, -0 below +0."""

    name = "lowp.min"


@irdl_op_definition
class MaxOp(_MinMaxOp):
    """The larger operand; NaN if either is NaN, -0 below +0."""

    name = "lowp.max"


@irdl_op_definition
class CmpOp(IRDLOperation):
    """``lowp.cmp olt, %a, %b : T``: an i1."""

    name = "lowp.cmp"

    lhs = operand_def()
    rhs = operand_def()
    result = result_def()
    predicate = prop_def(PredicateAttr)

    traits = traits_def(Pure())

    def __init__(self, lhs: SSAValue | Operation, rhs: SSAValue | Operation,
                 predicate: str | Predicate | PredicateAttr):
        if not isinstance(predicate, PredicateAttr):
            predicate = PredicateAttr(Predicate(predicate))
        super().__init__(operands=[lhs, rhs], result_types=[i1], properties={"predicate": predicate})

    def verify_(self) -> None:
        t = _verify_same_lowp_type(self, [self.lhs, self.rhs])
        if self.result.type != i1:
            raise VerifyException(f"lowp.cmp: the result is an i1, got {self.result.type}")
        predicate = self.predicate.data.value
        if isinstance(t, LowpFloatType) and predicate not in FLOAT_PREDICATES:
            raise VerifyException(f"lowp.cmp: `{predicate}` compares fixed-point values; on {t} use one of "
                                  f"{' '.join(FLOAT_PREDICATES)}")
        if isinstance(t, LowpFixedType) and predicate not in FIXED_PREDICATES:
            raise VerifyException(f"lowp.cmp: `{predicate}` compares floats; on {t}, which has no NaN, use "
                                  f"one of {' '.join(FIXED_PREDICATES)}")

    def print(self, printer: Printer) -> None:
        printer.print_string(f" {self.predicate.data.value},")
        _print_operands(printer, [self.lhs, self.rhs])
        _print_tail(printer, self, self.lhs.type)

    @classmethod
    def parse(cls, parser: Parser) -> CmpOp:
        predicate = _parse_mode(parser, Predicate, "a comparison predicate")
        parser.parse_punctuation(",", " after the predicate of lowp.cmp")
        operands = _parse_operands(parser, 2, cls.name)
        attributes, t = _parse_tail(parser, cls.name)
        op = cls(*(parser.resolve_operand(o, t) for o in operands), predicate)
        op.attributes |= attributes
        return op


LOWP = Dialect(
    "lowp",
    [CastOp, AddOp, SubOp, MulOp, DivOp, FmaOp, NegOp, AbsOp, MinOp, MaxOp, CmpOp],
    [LowpFloatType, LowpFixedType, RoundingAttr, OverflowAttr, PredicateAttr],
)
