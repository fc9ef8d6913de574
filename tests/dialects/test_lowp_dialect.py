"""The lowp dialect: types and their verifiers, ops built from Python, verifiers, printing
and print/parse round trips (the FileCheck tests under filecheck/dialects/lowp check the
syntax from text)."""

from __future__ import annotations

import re

import pytest
from xdsl.builder import ImplicitBuilder
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    IntAttr,
    IntegerType,
    ModuleOp,
    Signedness,
    StringAttr,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Block, Region
from xdsl.parser import Parser
from xdsl.traits import Pure
from xdsl.utils.exceptions import ParseError, VerifyException
from xdsl.utils.test_value import create_ssa_value

from tcir.dialects import default_context, get_all_dialects
from tcir.dialects import lowp
from tcir.dialects.lowp import (
    FIXED_OVERFLOWS,
    FIXED_PREDICATES,
    FLOAT_KINDS,
    FLOAT_PREDICATES,
    LOWP,
    AbsOp,
    AddOp,
    CastOp,
    CmpOp,
    DivOp,
    FmaOp,
    LowpFixedType,
    LowpFloatType,
    MaxOp,
    MinOp,
    MulOp,
    NegOp,
    Overflow,
    OverflowAttr,
    Predicate,
    Rounding,
    RoundingAttr,
    SubOp,
    default_bias,
    is_lowp_type,
)
from ir_text import assert_round_trips, context, parse, show

E4M3FN = LowpFloatType(4, 3, "fn")
E5M2 = LowpFloatType(5, 2, "ieee")
E8M0 = LowpFloatType(8, 0, "unsigned")
Q4_4 = LowpFixedType(4, 4, signed=True, overflow="wrap")
U8 = LowpFixedType(8, 0, signed=False, overflow="saturate")


def parse_type(text: str):
    return Parser(context(), text).parse_type()


def valid_floats():
    """Every valid float format with the default bias."""
    for kind in FLOAT_KINDS:
        for exponent in range(1, 13):
            for mantissa in range(0, 16):
                if lowp.float_format_error(exponent, mantissa, kind, default_bias(exponent)) is None:
                    yield LowpFloatType(exponent, mantissa, kind)


def valid_fixed():
    for signed in (True, False):
        for integer in range(0, 33):
            for fraction in range(0, 33 - integer):
                if lowp.fixed_format_error(integer, fraction, signed, "wrap") is None:
                    yield LowpFixedType(integer, fraction, signed, "wrap")


def in_function(arg_types, build) -> ModuleOp:
    """A module with one function of these arguments; `build(*args)` adds the body's ops
    (the function returns nothing)."""
    block = Block(arg_types=arg_types)
    with ImplicitBuilder(block):
        build(*block.args)
        func.ReturnOp()
    f = func.FuncOp("f", (list(arg_types), []), Region(block))
    return ModuleOp([f])


def verify_error(module: ModuleOp) -> str:
    with pytest.raises(VerifyException) as info:
        module.verify()
    return str(info.value)


# ----------------------------------------------------------------------------------
# Types
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "t, text, bits, storage",
    [
        (E4M3FN, "!lowp.float<e4m3, fn>", 8, 8),
        (LowpFloatType(4, 3, "fn", bias=7), "!lowp.float<e4m3, fn>", 8, 8),
        (LowpFloatType(4, 3, "fnuz", bias=8), "!lowp.float<e4m3, fnuz, bias = 8>", 8, 8),
        (LowpFloatType(4, 3, "fnuz", bias=11), "!lowp.float<e4m3, fnuz, bias = 11>", 8, 8),
        (E5M2, "!lowp.float<e5m2, ieee>", 8, 8),
        (LowpFloatType(3, 4), "!lowp.float<e3m4, ieee>", 8, 8),
        (E8M0, "!lowp.float<e8m0, unsigned>", 8, 8),
        (LowpFloatType(2, 3, "fn"), "!lowp.float<e2m3, fn>", 6, 8),
        (LowpFloatType(2, 1, "fn"), "!lowp.float<e2m1, fn>", 4, 8),
        (LowpFloatType(5, 10), "!lowp.float<e5m10, ieee>", 16, 16),
        (LowpFloatType(9, 6), "!lowp.float<e9m6, ieee>", 16, 16),
        (LowpFloatType(2, 1, "finite"), "!lowp.float<e2m1, finite>", 4, 8),
        (LowpFloatType(10, 0, "fn", bias=512), "!lowp.float<e10m0, fn, bias = 512>", 11, 16),
        (LowpFloatType(8, 7), "!lowp.float<e8m7, ieee>", 16, 16),
        (LowpFloatType(4, 4, "fn"), "!lowp.float<e4m4, fn>", 9, 16),
        (LowpFloatType(9, 0, "unsigned", bias=200), "!lowp.float<e9m0, unsigned, bias = 200>", 9, 16),
        (LowpFloatType(4, 3, "ieee", bias=0), "!lowp.float<e4m3, ieee, bias = 0>", 8, 8),
        (Q4_4, "!lowp.fixed<s4.4, wrap>", 8, 8),
        (U8, "!lowp.fixed<u8.0, saturate>", 8, 8),
        (LowpFixedType(1, 0), "!lowp.fixed<s1.0, saturate>", 1, 8),
        (LowpFixedType(0, 9, False), "!lowp.fixed<u0.9, saturate>", 9, 16),
        (LowpFixedType(16, 16, True, "wrap"), "!lowp.fixed<s16.16, wrap>", 32, 32),
        (LowpFixedType(1, 16), "!lowp.fixed<s1.16, saturate>", 17, 32),
        (LowpFixedType(0, 32, False, "wrap"), "!lowp.fixed<u0.32, wrap>", 32, 32),
        (LowpFixedType(4, 0, True, "wrap", "zero"), "!lowp.fixed<s4.0, wrap, float_overflow = zero>", 4, 8),
        (LowpFixedType(2, 0, False, "wrap", "saturate"), "!lowp.fixed<u2.0, wrap, float_overflow = saturate>", 2, 8),
        (LowpFixedType(8, 8, True, "saturate", "wrap"), "!lowp.fixed<s8.8, saturate, float_overflow = wrap>", 16, 16),
        (LowpFixedType(8, 8, True, "saturate", "saturate"), "!lowp.fixed<s8.8, saturate>", 16, 16),
    ],
)
def test_types_print_parse_and_widths(t, text, bits, storage):
    assert str(t) == text
    assert parse_type(text) == t
    assert t.bits == bits
    assert t.storage_width == storage
    assert t.storage_type == IntegerType(storage)
    assert is_lowp_type(t)


def test_float_type_parameters():
    t = LowpFloatType(4, 3, "fnuz", bias=11)
    assert (t.exponent, t.mantissa, t.kind, t.bias) == (IntAttr(4), IntAttr(3), StringAttr("fnuz"), IntAttr(11))
    assert not t.has_default_bias and LowpFloatType(4, 3, "fnuz").has_default_bias
    assert LowpFloatType(4, 3) == LowpFloatType(4, 3, "ieee", 7)  # ieee and the default bias
    assert E4M3FN.has_sign and not E8M0.has_sign
    assert [default_bias(e) for e in (1, 2, 4, 5, 8, 10)] == [0, 1, 7, 15, 127, 511]
    # A default bias spelled out is the same type, printed without it.
    assert parse_type("!lowp.float<e5m2, fnuz, bias = 15>") == LowpFloatType(5, 2, "fnuz")


def test_fixed_type_parameters():
    assert Q4_4.is_signed and not U8.is_signed
    assert (Q4_4.integer, Q4_4.fraction, Q4_4.signed, Q4_4.overflow, Q4_4.float_overflow) == (
        IntAttr(4), IntAttr(4), IntAttr(1), StringAttr("wrap"), StringAttr("wrap"))
    assert LowpFixedType(4, 4) == LowpFixedType(4, 4, True, "saturate") == LowpFixedType(4, 4, True, "saturate", "saturate")
    assert LowpFixedType(4, 0, True, "wrap") != LowpFixedType(4, 0, True, "wrap", "zero")
    # a float_overflow equal to the overflow rule, spelled out, is the same type
    assert parse_type("!lowp.fixed<s4.4, wrap, float_overflow = wrap>") == Q4_4
    assert LowpFixedType(4, 4) != LowpFixedType(4, 4, False) != LowpFixedType(4, 4, False, "wrap")


def test_every_valid_format_round_trips():
    floats, fixed = list(valid_floats()), list(valid_fixed())
    assert len(floats) > 100 and len(fixed) == 32 * 33 // 2 + 33 * 34 // 2 - 1
    for t in floats + fixed:
        assert parse_type(str(t)) == t, t
        assert t.storage_width == min(w for w in (8, 16, 32) if w >= t.bits)
        assert t.storage_width <= (16 if isinstance(t, LowpFloatType) else 32)
    assert max(t.bits for t in floats) == 16 and max(t.bits for t in fixed) == 32


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: LowpFloatType(0, 3, "fn"), "!lowp.float<e0m3, fn>: the exponent must have at least 1 bit, got 0"),
        (lambda: LowpFloatType(-1, 3, "fn", bias=0), "the exponent must have at least 1 bit, got -1"),
        (lambda: LowpFloatType(10, 5), "!lowp.float<e10m5, ieee>: its values span 2^-515 to 2^512, beyond "
                                       "[2^-511, 2^511) where f64 computes the arithmetic exactly enough, whatever "
                                       "the bias: it has too many exponent bits"),
        (lambda: LowpFloatType(11, 4, "unsigned"), "no mantissa bits (got 4)"),
        (lambda: LowpFloatType(11, 0, "unsigned"), "whatever the bias: it has too many exponent bits"),
        (lambda: LowpFloatType(4, -1, "fn"), "!lowp.float<e4m-1, fn>: the mantissa cannot have a negative number of bits (-1)"),
        (lambda: LowpFloatType(8, 8), "!lowp.float<e8m8, ieee> has 17 bits; a float format has at most 16"),
        (lambda: LowpFloatType(10, 6, "unsigned"), "an unsigned format is a scale, exponent only, so it has no mantissa bits (got 6)"),
        (lambda: LowpFloatType(5, 2, "unsigned"), "an unsigned format is a scale, exponent only, so it has no mantissa bits (got 2)"),
        (lambda: LowpFloatType(1, 3, "ieee"), "an ieee format needs at least 2 exponent bits"),
        (lambda: LowpFloatType(5, 0, "ieee"), "an ieee format needs at least 1 mantissa bit (to tell NaN from infinity)"),
        (lambda: LowpFloatType(1, 0, "fn"), "an fn format needs at least 2 exponent and mantissa bits (e1m0 holds only 0 and NaN)"),
        (lambda: LowpFloatType(4, 3, "fnu"), "!lowp.float<e4m3, fnu>: unknown kind `fnu`; expected one of ieee, fn, fnuz, "
                                             "unsigned, finite"),
        (lambda: LowpFloatType(8, 7, "ieee", bias=-1000), "its values span 2^994 to 2^1255, beyond [2^-511, 2^511) where "
                                                          "f64 computes the arithmetic exactly enough; the bias must be -256 to 505"),
        (lambda: LowpFloatType(8, 7, "ieee", bias=-257), "its values span 2^251 to 2^512, beyond"),
        (lambda: LowpFloatType(8, 7, "ieee", bias=506), "its values span 2^-512 to 2^-251, beyond"),
        (lambda: LowpFloatType(8, 0, "unsigned", bias=512), "the bias must be -256 to 511"),
        (lambda: LowpFloatType(10, 0, "fn"), "the bias must be 512"),
        (lambda: LowpFixedType(0, 8, True), "!lowp.fixed<s0.8, saturate>: a signed format needs at least 1 integer bit, the sign"),
        (lambda: LowpFixedType(0, 0, False, "wrap"), "!lowp.fixed<u0.0, wrap> has no bits"),
        (lambda: LowpFixedType(20, 13, True, "wrap"), "!lowp.fixed<s20.13, wrap> has 33 bits; a fixed-point format has at most 32"),
        (lambda: LowpFixedType(-1, 9, False), "integer and fraction bits cannot be negative"),
        (lambda: LowpFixedType(4, -4), "integer and fraction bits cannot be negative"),
        (lambda: LowpFixedType(4, 4, True, "clamp"), "!lowp.fixed<s4.4, clamp>: unknown overflow rule `clamp`; expected one of saturate, wrap"),
        (lambda: LowpFixedType(4, 4, IntAttr(2)), "!lowp.fixed: `signed` is 0 or 1, got 2"),
        (lambda: LowpFixedType(4, 0, True, "wrap", "nan"), "!lowp.fixed<s4.0, wrap, float_overflow = nan>: unknown float "
                                                           "overflow rule `nan`; expected one of saturate, wrap, zero"),
        (lambda: LowpFixedType(4, 0, True, "zero"), "unknown overflow rule `zero`; expected one of saturate, wrap"),
    ],
)
def test_invalid_types(build, message):
    with pytest.raises(VerifyException, match=re.escape(message)):
        build()


def test_float_limits_are_accepted():
    # the extremes that the rules allow: values in [2^-511, 2^511)
    assert LowpFloatType(9, 6).bits == 16
    assert LowpFloatType(8, 7, "ieee", bias=-256).bias.data == -256  # the largest value below 2^511
    assert LowpFloatType(8, 7, "fn", bias=-255).bias.data == -255  # (fn: all-ones exponent is finite)
    with pytest.raises(VerifyException, match=re.escape("the bias must be -255 to 505")):
        LowpFloatType(8, 7, "fn", bias=-256)
    assert LowpFloatType(8, 7, "ieee", bias=505).bias.data == 505  # the smallest value 2^-511
    assert LowpFloatType(8, 0, "unsigned", bias=511).bits == 8
    assert LowpFloatType(10, 0, "fn", bias=512).bits == 11  # the one format with 10 exponent bits
    assert LowpFloatType(2, 1, "ieee").bits == 4 and LowpFloatType(1, 1, "fn").bits == 3
    assert LowpFloatType(1, 0, "fnuz").bits == 2 and LowpFloatType(1, 0, "unsigned").bits == 1


@pytest.mark.parametrize(
    "text, message, located",
    [
        ("!lowp.float<e0m3, fn>", "the exponent must have at least 1 bit, got 0", "e0m3, fn"),
        ("!lowp.float<e10m3, fn>", "it has too many exponent bits", "e10m3, fn"),
        ("!lowp.float<e5m2, unsigned>", "no mantissa bits (got 2)", "e5m2, unsigned"),
        ("!lowp.float<e4m3, fn, bias = 5000>", "the bias must be -495 to 509", "e4m3, fn, bias = 5000"),
        ("!lowp.float<e4m3, fnu>", "expected the kind of a !lowp.float, one of ieee, fn, fnuz, unsigned, finite", "fnu"),
        ("!lowp.float<4, fn>", "expected exponent and mantissa bits such as `e4m3`", "4"),
        ("!lowp.float<e4m3, >", "expected the kind of a !lowp.float", ">"),
        ("!lowp.float<e4m3, fn, bias = 1.5>", "Expected integer literal", "1.5"),
        ("!lowp.float<e4m3, fn, scale = 2>", "Expected 'bias'", "scale"),
        ("!lowp.fixed<s0.4, wrap>", "a signed format needs at least 1 integer bit", "s0.4, wrap"),
        ("!lowp.fixed<s4.4, clamp>", "expected the overflow rule of a !lowp.fixed, one of saturate, wrap", "clamp"),
        ("!lowp.fixed<x4.4, wrap>", "expected s or u, integer bits `.` fraction bits such as `s4.4`", "x4.4"),
        ("!lowp.fixed<s4.0, zero>", "expected the overflow rule of a !lowp.fixed, one of saturate, wrap", "zero"),
        ("!lowp.fixed<s4.0, wrap, float_overflow = nan>",
         "expected the float overflow rule of a !lowp.fixed, one of saturate, wrap, zero", "nan"),
        ("!lowp.fixed<s4.0, wrap, zero>", "Expected 'float_overflow'", "zero"),
    ],
)
def test_type_parse_errors_are_located(text, message, located):
    with pytest.raises(ParseError, match=re.escape(message)) as info:
        parse_type(text)
    assert info.value.span.text == located


# ----------------------------------------------------------------------------------
# Ops built from Python
# ----------------------------------------------------------------------------------


def test_cast_builders_print_and_round_trip():
    types = [f32, i32, i8, i64, E4M3FN, Q4_4]

    def body(x, bits, u8, i64v, e4, q):
        CastOp(x, E4M3FN)
        CastOp(x, E5M2, rounding="toward_zero", overflow="saturate")
        CastOp(x, LowpFloatType(2, 1, "fn"), rounding=Rounding.STOCHASTIC, random=bits)
        CastOp(u8, Q4_4, unsigned_input=True)
        CastOp(e4, i32, rounding=RoundingAttr(Rounding.TOWARD_ZERO), unsigned_result=True)
        CastOp(q, f64, overflow=OverflowAttr(Overflow.SATURATE))
        CastOp(i64v, f16)
        CastOp(e4, bf16)
        CastOp(u8, i16, unsigned_input=True, unsigned_result=True)

    module = in_function(types, body)
    assert_round_trips(module)
    text = show(module)
    for line in [
        "lowp.cast %0 : f32 to !lowp.float<e4m3, fn>",
        "lowp.cast %0 rounding toward_zero overflow saturate : f32 to !lowp.float<e5m2, ieee>",
        "lowp.cast %0 rounding stochastic random %1 : f32 to !lowp.float<e2m1, fn>",
        "lowp.cast %2 : unsigned i8 to !lowp.fixed<s4.4, wrap>",
        "lowp.cast %4 rounding toward_zero : !lowp.float<e4m3, fn> to unsigned i32",
        "lowp.cast %5 overflow saturate : !lowp.fixed<s4.4, wrap> to f64",
        "lowp.cast %3 : i64 to f16",
        "lowp.cast %4 : !lowp.float<e4m3, fn> to bf16",
        "lowp.cast %2 : unsigned i8 to unsigned i16",
    ]:
        assert line in text, text


def test_cast_accessors_and_defaults():
    module = in_function([f32, i32], lambda x, bits: CastOp(x, E4M3FN, "stochastic", "saturate", bits))
    cast = next(op for op in module.walk() if isinstance(op, CastOp))
    assert cast.rounding == RoundingAttr(Rounding.STOCHASTIC) and cast.overflow == OverflowAttr(Overflow.SATURATE)
    assert cast.random is not None and cast.result.type == E4M3FN
    assert cast.unsigned_input is None and cast.unsigned_result is None
    plain = CastOp(cast.input, E5M2)
    assert plain.rounding.data == Rounding.NEAREST_EVEN and plain.overflow.data == Overflow.FORMAT
    assert plain.random is None


def test_arithmetic_builders_print_and_round_trip():
    def body(a, b, c, bits, q, u):
        AddOp(a, b)
        SubOp(a, b, rounding="toward_zero")
        MulOp(a, b, rounding="stochastic", random=bits)
        DivOp(a, b, overflow="saturate")
        FmaOp(a, b, c)
        FmaOp(a, b, c, rounding="stochastic", overflow="saturate", random=bits)
        NegOp(a)
        AbsOp(q, overflow="saturate")
        MinOp(a, b)
        MaxOp(q, q)
        CmpOp(a, b, "olt")
        CmpOp(q, q, Predicate.GE)
        MulOp(q, q, rounding="toward_zero")
        AbsOp(u)
        CmpOp(u, u, "uno")

    module = in_function([E4M3FN, E4M3FN, E4M3FN, i32, Q4_4, E8M0], body)
    assert_round_trips(module)
    text = show(module)
    for line in [
        "lowp.add %0, %1 : !lowp.float<e4m3, fn>",
        "lowp.sub %0, %1 rounding toward_zero : !lowp.float<e4m3, fn>",
        "lowp.mul %0, %1 rounding stochastic random %3 : !lowp.float<e4m3, fn>",
        "lowp.div %0, %1 overflow saturate : !lowp.float<e4m3, fn>",
        "lowp.fma %0, %1, %2 : !lowp.float<e4m3, fn>",
        "lowp.fma %0, %1, %2 rounding stochastic random %3 overflow saturate : !lowp.float<e4m3, fn>",
        "lowp.neg %0 : !lowp.float<e4m3, fn>",
        "lowp.abs %4 overflow saturate : !lowp.fixed<s4.4, wrap>",
        "lowp.min %0, %1 : !lowp.float<e4m3, fn>",
        "lowp.max %4, %4 : !lowp.fixed<s4.4, wrap>",
        "lowp.cmp olt, %0, %1 : !lowp.float<e4m3, fn>",
        "lowp.cmp ge, %4, %4 : !lowp.fixed<s4.4, wrap>",
        "lowp.mul %4, %4 rounding toward_zero : !lowp.fixed<s4.4, wrap>",
        "lowp.abs %5 : !lowp.float<e8m0, unsigned>",
        "lowp.cmp uno, %5, %5 : !lowp.float<e8m0, unsigned>",
    ]:
        assert line in text, text


def test_op_accessors():
    module = in_function([E4M3FN, i32], lambda a, bits: [
        FmaOp(a, a, a, rounding="stochastic", random=bits), AddOp(a, a), CmpOp(a, a, "oeq")])
    fma, add, cmp = [op for op in module.walk() if isinstance(op, FmaOp | AddOp | CmpOp)]
    assert fma.values == (fma.a, fma.b, fma.c) and fma.random is not None and len(fma.operands) == 4
    assert add.values == (add.lhs, add.rhs) and add.random is None and add.result.type == E4M3FN
    assert cmp.result.type == i1 and cmp.predicate.data == Predicate.OEQ


ALL_OPS = [CastOp, AddOp, SubOp, MulOp, DivOp, FmaOp, NegOp, AbsOp, MinOp, MaxOp, CmpOp]


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: op.name)
def test_ops_are_pure(op):
    assert op.has_trait(Pure)


def test_predicates_and_modes():
    assert FLOAT_PREDICATES == ("oeq", "one", "olt", "ole", "ogt", "oge", "ueq", "une", "ult", "ule", "ugt", "uge",
                                "ord", "uno")
    assert FIXED_PREDICATES == ("eq", "ne", "lt", "le", "gt", "ge")
    assert [r.value for r in Rounding] == ["nearest_even", "toward_zero", "stochastic"]
    assert [o.value for o in Overflow] == ["format", "saturate"]
    assert FIXED_OVERFLOWS == ("saturate", "wrap")


# ----------------------------------------------------------------------------------
# Verifiers
# ----------------------------------------------------------------------------------

ui8 = IntegerType(8, Signedness.UNSIGNED)


@pytest.mark.parametrize(
    "types, build, message",
    [
        ([f32], lambda x: CastOp(x, f32), "lowp.cast from f32 to the same type does nothing; use the value"),
        ([E4M3FN], lambda x: CastOp(x, LowpFloatType(4, 3, "fn", 7)),
         "lowp.cast from !lowp.float<e4m3, fn> to the same type does nothing"),
        ([i8], lambda x: CastOp(x, i8, unsigned_input=True), "lowp.cast from i8 to the same type does nothing"),
        ([f32], lambda x: CastOp(x, ui8), "lowp.cast: the result must be a lowp type, f16, bf16, f32, f64, i8, i16, "
                                          "i32 or i64, got ui8 (a signless integer with `unsigned` reads as unsigned)"),
        ([i1], lambda x: CastOp(x, E4M3FN), "lowp.cast: the input must be a lowp type, f16, bf16, f32, f64, i8, i16, "
                                            "i32 or i64, got i1"),
        ([f32], lambda x: CastOp(x, E4M3FN, unsigned_input=True),
         "lowp.cast: `unsigned` reads an integer input as unsigned, but the input is f32"),
        ([i32], lambda x: CastOp(x, Q4_4, unsigned_result=True),
         "lowp.cast: `unsigned` reads an integer result as unsigned, but the result is !lowp.fixed<s4.4, wrap>"),
        ([f32], lambda x: CastOp(x, E4M3FN, "stochastic"),
         "lowp.cast: rounding stochastic needs an operand of random bits (`random %bits`, an i32)"),
        ([f32, i32], lambda x, r: CastOp(x, E4M3FN, "toward_zero", random=r),
         "lowp.cast: an operand of random bits is only for rounding stochastic, but the rounding is toward_zero"),
        ([f32, i64], lambda x, r: CastOp(x, E4M3FN, "stochastic", random=r),
         "lowp.cast: the random bits must be an i32, got i64"),
        ([f32], lambda x: AddOp(x, x),
         "lowp.add works on values of a !lowp.float or !lowp.fixed type, got f32 (arith has the ops of standard types)"),
        ([E4M3FN, E5M2], lambda a, b: SubOp(a, b),
         "lowp.sub: operands and result must have one lowp type (use lowp.cast to convert), got "
         "!lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>, !lowp.float<e4m3, fn>"),
        ([Q4_4, LowpFixedType(4, 4)], lambda a, b: MulOp(a, b),
         "lowp.mul: operands and result must have one lowp type"),
        ([E4M3FN], lambda a: DivOp(a, a, "stochastic"), "lowp.div: rounding stochastic needs an operand of random bits"),
        ([E4M3FN, i32], lambda a, r: AddOp(a, a, random=r),
         "lowp.add: an operand of random bits is only for rounding stochastic, but the rounding is nearest_even"),
        ([E4M3FN, i16], lambda a, r: MulOp(a, a, "stochastic", random=r), "lowp.mul: the random bits must be an i32, got i16"),
        ([E4M3FN, E5M2], lambda a, c: FmaOp(a, a, c), "lowp.fma: operands and result must have one lowp type"),
        ([E4M3FN], lambda a: FmaOp(a, a, a, "stochastic"), "lowp.fma: rounding stochastic needs an operand of random bits"),
        ([f16], lambda a: NegOp(a), "lowp.neg works on values of a !lowp.float or !lowp.fixed type, got f16"),
        ([E8M0], lambda a: NegOp(a), "lowp.neg: !lowp.float<e8m0, unsigned> has no negative values (it is unsigned)"),
        ([i8], lambda a: AbsOp(a), "lowp.abs works on values of a !lowp.float or !lowp.fixed type, got i8"),
        ([E4M3FN, LowpFloatType(4, 3, "fnuz")], lambda a, b: MinOp(a, b), "lowp.min: operands and result must have one lowp type"),
        ([bf16], lambda a: MaxOp(a, a), "lowp.max works on values of a !lowp.float or !lowp.fixed type, got bf16"),
        ([Q4_4], lambda a: CmpOp(a, a, "olt"),
         "lowp.cmp: `olt` compares floats; on !lowp.fixed<s4.4, wrap>, which has no NaN, use one of eq ne lt le gt ge"),
        ([E4M3FN], lambda a: CmpOp(a, a, "lt"),
         "lowp.cmp: `lt` compares fixed-point values; on !lowp.float<e4m3, fn> use one of oeq one olt ole ogt oge "
         "ueq une ult ule ugt uge ord uno"),
        ([E4M3FN, E5M2], lambda a, b: CmpOp(a, b, "oeq"),
         "lowp.cmp: operands and result must have one lowp type (use lowp.cast to convert), got "
         "!lowp.float<e4m3, fn>, !lowp.float<e5m2, ieee>"),
        ([f64], lambda a: CmpOp(a, a, "oeq"), "lowp.cmp works on values of a !lowp.float or !lowp.fixed type, got f64"),
    ],
)
def test_verifier_errors(types, build, message):
    assert message in verify_error(in_function(types, build))


def test_result_type_mismatches_from_generic_ops():
    def body(a):
        NegOp.create(operands=[a], result_types=[LowpFixedType(4, 4)],
                     properties={"overflow": OverflowAttr(Overflow.FORMAT)})

    assert "lowp.neg: operands and result must have one lowp type" in verify_error(in_function([Q4_4], body))

    def cmp(a):
        CmpOp.create(operands=[a, a], result_types=[i8],
                     properties={"predicate": lowp.PredicateAttr(Predicate.OLT)})

    assert verify_error(in_function([E4M3FN], cmp)) == "lowp.cmp: the result is an i1, got i8"


def test_unknown_modes_are_value_errors():
    x = create_ssa_value(f32)
    with pytest.raises(ValueError):
        CastOp(x, f16, rounding="up")
    with pytest.raises(ValueError):
        CastOp(x, f16, overflow="wrap")
    with pytest.raises(ValueError):
        CmpOp(x, x, "true")


# ----------------------------------------------------------------------------------
# Registration and the docstring's example
# ----------------------------------------------------------------------------------


def test_registered_for_tc_opt_and_the_xdsl_plugin():
    assert get_all_dialects()["lowp"]() is LOWP
    ctx = default_context()
    assert ctx.get_optional_op("lowp.cast") is CastOp
    assert ctx.get_optional_type("lowp.float") is LowpFloatType
    assert ctx.get_optional_type("lowp.fixed") is LowpFixedType
    from tcir.universe import TCIR_UNIVERSE

    assert TCIR_UNIVERSE.all_dialects["lowp"]() is LOWP
    assert {op.name for op in ALL_OPS} == {op.name for op in LOWP.operations}


def test_docstring_example_parses_and_verifies():
    doc = lowp.__doc__
    example = doc[doc.index("Example::") + len("Example::"):doc.index("Python builders")]
    module = parse(example)
    module.verify()
    assert_round_trips(module)
    assert sum(1 for op in module.walk() if op.dialect_name() == "lowp") == 9


# ----------------------------------------------------------------------------------
# Agreement with the format descriptors
# ----------------------------------------------------------------------------------


def test_types_and_format_descriptors_accept_the_same_parameters():
    """The dialect stands alone, but its types are the formats of `tcir.frontend.formats`:
    the same parameters are valid in both (a sample here; the full sweep agreed)."""
    formats = pytest.importorskip("tcir.frontend.formats")
    from tcir import TcError

    assert set(formats.FLOAT_KINDS) == set(FLOAT_KINDS)
    assert set(formats.FIXED_OVERFLOWS) == set(FIXED_OVERFLOWS)
    assert set(formats.FLOAT_SOURCE_OVERFLOWS) == set(lowp.FLOAT_SOURCE_OVERFLOWS)
    for kind in FLOAT_KINDS:
        for exponent in range(1, 12):
            for mantissa in range(0, 17):
                base = default_bias(exponent)
                for bias in {base, base + 1, base - 3, 0, -256, -257, 505, 506, 512, 513, -600}:
                    try:
                        formats.FloatFormat("x", exponent, mantissa, bias=bias, kind=kind)
                        valid = True
                    except TcError:
                        valid = False
                    assert (lowp.float_format_error(exponent, mantissa, kind, bias) is None) == valid, (
                        kind, exponent, mantissa, bias)
    for signed in (True, False):
        for integer in range(0, 34):
            for fraction in (0, 1, 7, 16, 31, 32, 33):
                for rule in FIXED_OVERFLOWS:
                    for float_rule in lowp.FLOAT_SOURCE_OVERFLOWS:
                        try:
                            formats.FixedFormat("q", integer, fraction, signed, rule, float_rule)
                            valid = True
                        except TcError:
                            valid = False
                        error = lowp.fixed_format_error(integer, fraction, signed, rule, float_rule)
                        assert (error is None) == valid, (signed, integer, fraction, rule, float_rule)
    for fmt in formats.NAMED_FORMATS:
        if isinstance(fmt, formats.FloatFormat):
            t = LowpFloatType(fmt.exponent, fmt.mantissa, fmt.kind, fmt.bias)
        else:
            t = LowpFixedType(fmt.integer, fmt.fraction, fmt.signed, fmt.overflow, fmt.float_overflow)
        assert t.bits == fmt.bits and parse_type(str(t)) == t
