"""Number formats of tcir.lowp as TC types (issue 15 item 4; docs/language.md, "Number
formats"): parsing, the type rules, and every error with its location and hint."""

import ml_dtypes
import numpy as np
import pytest

import tcir.lowp
from tcir.errors import TcError
from tcir.frontend import check_source
from tcir.frontend.checked import TBinary, TCall, TCast, TConst, TIndex, TRead, TSelect, TUnary
from tcir.frontend.format_names import lookup_type, type_names
from tcir.frontend.types import (
    BFLOAT16, BOOL, DOUBLE, FLOAT, HALF, INT8, INT32, INT64, UINT8, LowpType, converts_implicitly, holds_exactly,
    promote,
)

# User formats of these tests (registration is idempotent for equal parameters).
FP7 = tcir.lowp.float_format("tst_fp7_e3m3", exponent=3, mantissa=3, kind="fn")
Q44 = tcir.lowp.fixed_format("tst_q4_4", integer=4, fraction=4, signed=True)
Q17 = tcir.lowp.fixed_format("tst_q1_7", integer=1, fraction=7, signed=True)
U16 = tcir.lowp.fixed_format("tst_u8_8", integer=8, fraction=8, signed=False, overflow="wrap")

E4M3 = lookup_type("float8_e4m3fn")
E5M2 = lookup_type("float8_e5m2")
E8M0 = lookup_type("float8_e8m0fnu")
E2M1 = lookup_type("float4_e2m1fn")
INT4 = lookup_type("int4")
FP7T = lookup_type("tst_fp7_e3m3")
Q44T = lookup_type("tst_q4_4")


def check(text: str, name: str = "f"):
    return check_source(text, "t.tc").defs[name]


def rhs(text: str, params: str = "float8_e4m3fn(N) a, float8_e4m3fn(N) b, float8_e5m2(N) c, float(N) x, "
                                   "int4(N) i4, tst_q4_4(N) q, float8_e8m0fnu(N) s") -> object:
    return check(f"def f({params}) -> (O) {{\n  O(n) = {text} where n in 0:N\n}}").stmts[0].rhs


def error(text: str) -> TcError:
    with pytest.raises(TcError) as info:
        check_source(text, "t.tc")
    return info.value


# The types ----------------------------------------------------------------------------


def test_named_formats_are_types():
    assert isinstance(E4M3, LowpType) and E4M3.is_lowp and E4M3.kind == "lowp"
    assert not (E4M3.is_float or E4M3.is_integer or E4M3.is_bool)
    assert (E4M3.name, E4M3.bits, E4M3.mlir) == ("float8_e4m3fn", 8, "!lowp.float<e4m3, fn>")
    assert E4M3.numpy_dtype == np.dtype(ml_dtypes.float8_e4m3fn) and E4M3.is_named and E4M3.is_lowp_float
    assert INT4.mlir == "!lowp.fixed<s4.0, wrap, float_overflow = zero>" and INT4.is_fixed
    assert INT4.numpy_dtype == np.dtype(ml_dtypes.int4)
    assert lookup_type("float8_e4m3b11fnuz").mlir == "!lowp.float<e4m3, fnuz, bias = 11>"
    assert lookup_type("float8_e4m3fn") is E4M3  # one type per format
    assert lookup_type("float") is FLOAT and lookup_type("no_such_format") is None


def test_user_formats_are_types_with_their_storage_dtype():
    assert FP7T.mlir == "!lowp.float<e3m3, fn>" and FP7T.numpy_dtype == np.dtype(np.uint8)
    assert not FP7T.is_named
    assert Q44T.mlir == "!lowp.fixed<s4.4, saturate>" and Q44T.numpy_dtype == np.dtype(np.int8)
    assert lookup_type("tst_u8_8").numpy_dtype == np.dtype(np.uint16)
    assert {"float8_e4m3fn", "int4", "tst_fp7_e3m3", "float"} <= set(type_names())


def test_a_format_registered_later_becomes_a_type_then():
    source = "def f(tst_late_e2m2(N) A) -> (O) { O(n) = A(n) }"
    assert "unknown type `tst_late_e2m2`" in error(source).message
    tcir.lowp.float_format("tst_late_e2m2", exponent=2, mantissa=2)
    assert check(source).inputs[0].dtype.name == "tst_late_e2m2"


def test_parameters_outputs_scalars_and_casts():
    g = check("def g(int4 k, float8_e4m3fn(N) A) -> (O) {\n  O(n) = float(A(n)) * k\n}", "g")
    assert g.inputs[0].dtype == INT4 and g.inputs[0].role == "scalar" and g.stmts[0].rhs.type == FLOAT
    d = check("def f(float8_e4m3fn(M, K) A, int32 k, tst_q4_4(K) Q) -> (float8_e5m2(M) O, tst_fp7_e3m3(M) P) {\n"
              "  O(m) +=! float8_e5m2(A(m, r) * k)\n"
              "  P(m) = tst_fp7_e3m3(O(m))\n}")
    assert [t.dtype for t in d.inputs] == [E4M3, INT32, Q44T]
    assert d.inputs[1].role == "scalar"
    assert [t.dtype for t in d.outputs] == [E5M2, FP7T]
    cast = d.stmts[0].rhs
    assert isinstance(cast, TCast) and cast.type == E5M2 and cast.operand.type == E4M3
    # the integer scalar is converted to the format of the product
    assert isinstance(cast.operand.rhs, TCast) and cast.operand.rhs.type == E4M3


# The rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, result", [
    (E4M3, E4M3, E4M3), (E4M3, FLOAT, FLOAT), (E4M3, HALF, HALF), (E4M3, DOUBLE, DOUBLE),
    (E8M0, BFLOAT16, BFLOAT16), (E4M3, INT32, E4M3), (E4M3, UINT8, E4M3), (INT4, INT64, INT4),
    (Q44T, FLOAT, FLOAT), (Q44T, INT8, Q44T),
])
def test_promote(a, b, result):
    assert promote(a, b) == result and promote(b, a) == result


def test_promote_refuses_two_formats():
    with pytest.raises(TypeError):
        promote(E4M3, E5M2)


@pytest.mark.parametrize("src, dst, implicit", [
    (E4M3, E4M3, True), (E4M3, FLOAT, True), (E4M3, HALF, True), (E4M3, BFLOAT16, True), (E4M3, DOUBLE, True),
    (E8M0, HALF, False), (E8M0, FLOAT, True),  # 2^-127 .. 2^127: beyond half
    (E2M1, HALF, True), (Q44T, HALF, True), (INT4, FLOAT, True),
    (lookup_type("tst_u8_8"), HALF, False), (lookup_type("tst_u8_8"), FLOAT, True),  # 16 significant bits
    (FLOAT, E4M3, False), (DOUBLE, E4M3, False), (INT32, E4M3, True), (UINT8, Q44T, True), (BOOL, E4M3, False),
    (E4M3, INT32, False), (E4M3, BOOL, False), (E4M3, E5M2, False), (E5M2, E4M3, False), (INT4, Q44T, False),
])
def test_converts_implicitly(src, dst, implicit):
    assert converts_implicitly(src, dst) is implicit


def test_holds_exactly_follows_precision_and_range():
    wide = LowpType("w", "lowp", 16, "", "uint16", tcir.lowp.float_format("tst_e8m7", exponent=8, mantissa=7))
    assert holds_exactly(FLOAT, wide) and holds_exactly(BFLOAT16, wide) and not holds_exactly(HALF, wide)
    e9 = tcir.lowp.float_format("tst_e9m3", exponent=9, mantissa=3)
    assert not holds_exactly(FLOAT, lookup_type(e9.name)) and holds_exactly(DOUBLE, lookup_type(e9.name))


def test_same_format_stays_in_the_format():
    e = rhs("a(n) * b(n) + a(n)")
    assert e.type == E4M3 and isinstance(e, TBinary) and e.lhs.type == E4M3 and e.lhs.op == "*"


def test_format_with_float_gives_the_float():
    e = rhs("a(n) * x(n)")
    assert e.type == FLOAT and isinstance(e.lhs, TCast) and e.lhs.operand.type == E4M3
    e = rhs("a(n) * 0.5")  # a float literal is a float
    assert e.type == FLOAT and e.rhs == TConst(FLOAT, 0.5)


def test_format_with_integer_gives_the_format():
    e = rhs("a(n) * 2")
    assert e.type == E4M3 and e.rhs == TConst(E4M3, 2)  # folded, rounded later
    e = rhs("q(n) + n")
    assert e.type == Q44T and e.rhs == TCast(Q44T, TIndex(INT32, "n"))
    assert rhs("max(a(n), 0)").type == E4M3
    assert rhs("i4(n) / 2").type == INT4


def test_comparisons_select_min_max():
    e = rhs("a(n) < b(n) ? a(n) : min(a(n), b(n))")
    assert isinstance(e, TSelect) and e.type == E4M3 and e.cond.type == BOOL and e.cond.lhs.type == E4M3
    assert rhs("a(n) == 0 ? 1 : 2").cond.rhs == TConst(E4M3, 0)
    assert rhs("a(n) < x(n) ? 1.0 : 2.0").cond.lhs.type == FLOAT


def test_builtins_compute_in_float():
    e = rhs("exp(a(n))")
    read = TRead(E4M3, "a", (TIndex(INT32, "n"),))
    assert isinstance(e, TCall) and e.type == FLOAT and e.args[0] == TCast(FLOAT, read)
    e = rhs("fmax(a(n), c(n))")  # two formats may meet in a builtin: each becomes float
    assert e.type == FLOAT and [x.type for x in e.args] == [FLOAT, FLOAT]
    assert rhs("pow(a(n), 2.0)").type == FLOAT


def test_casts_of_constants_round_once_later():
    e = rhs("float(float8_e4m3fn(0.3))")
    assert e == TCast(FLOAT, TConst(E4M3, 0.3))  # not folded to the float 0.3
    e = rhs("-float8_e4m3fn(3.0)")
    assert isinstance(e, TUnary) and e.operand == TConst(E4M3, 3.0)
    assert rhs("int4(9)") == TConst(INT4, 9) and rhs("int4(n < 2)").operand.type == BOOL


def test_reduction_accumulates_in_the_output_type():
    d = check("def f(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B) -> (float(M, N) C, D) {\n"
              "  C(m, n) +=! A(m, k) * B(k, n)\n  D(m, n) +=! A(m, k) * B(k, n)\n}")
    c, dd = d.stmts
    assert c.rhs.type == FLOAT and isinstance(c.rhs, TCast) and c.rhs.operand.type == E4M3
    assert c.rhs.operand.op == "*"  # the product is computed in the format
    assert dd.rhs.type == E4M3 and d.outputs[1].dtype == E4M3


def test_widening_stores_are_implicit():
    d = check("def f(float8_e4m3fn(N) A, int32(N) I) -> (half(N) H, float8_e4m3fn(N) E) {\n"
              "  H(n) = A(n)\n  E(n) = I(n)\n}")
    assert d.stmts[0].rhs == TCast(HALF, TRead(E4M3, "A", (TIndex(INT32, "n"),)))
    assert d.stmts[1].rhs.type == E4M3


def test_min_and_max_reductions_and_float_formats_that_hold_one():
    check("def f(float8_e8m0fnu(N) A) -> (O, P, Q) {\n  O min=! A(n)\n"
          "  P max=! A(n)\n  Q *=! A(n)\n}")


# Errors, each located, with its hint --------------------------------------------------------


def located(err: TcError, line: int, col: int) -> str:
    assert (err.loc.line, err.loc.col) == (line, col), err
    return err.message


def test_two_formats_do_not_mix():
    err = error("def f(float8_e4m3fn(N) a, float8_e5m2(N) c) -> (O) {\n  O(n) = a(n) + c(n)\n}")
    assert located(err, 2, 10) == (
        "the operands of `+` mix the number formats `float8_e4m3fn` and `float8_e5m2`, which do not combine "
        "implicitly; cast one to the other (`float8_e5m2(a(n))`) or both to a standard float (`float(a(n))`)")


@pytest.mark.parametrize("expr, what, col", [
    ("a(n) < c(n)", "the operands of `<`", 10),
    ("min(a(n), c(n))", "the operands of `min`", 10),
    ("n < 2 ? a(n) : c(n)", "the branches of `?:`", 10),
    ("a(n) * q(n)", "the operands of `*`", 10),
    ("2 * (a(n) - i4(n))", "the operands of `-`", 15),
])
def test_two_formats_do_not_mix_anywhere(expr, what, col):
    err = error("def f(float8_e4m3fn(N) a, float8_e5m2(N) c, tst_q4_4(N) q, int4(N) i4) -> (O) {\n"
                f"  O(n) = {expr}\n}}")
    message = located(err, 2, col)
    assert message.startswith(f"{what} mix the number formats `float8_e4m3fn` and ") and "cast one" in message


def test_remainder_is_not_defined_on_formats():
    err = error("def f(int4(N) a) -> (O) {\n  O(n) = a(n) % 3\n}")
    assert located(err, 2, 10) == ("`%` is not defined on the number format `int4`; use `fmod(x, y)`, which "
                                   "computes in `float`")


def test_unsigned_format_has_no_negation():
    err = error("def f(float8_e8m0fnu(N) s) -> (O) {\n  O(n) = 1 + -s(n)\n}")
    assert located(err, 2, 14) == ("unary `-` of a `float8_e8m0fnu` value: the format has no negative values (it is "
                                   "unsigned); convert it first, e.g. `-float(s(n))`")


def test_reduction_identity_the_format_cannot_hold():
    err = error("def f(float8_e8m0fnu(N) s) -> (O) {\n  O +=! s(n)\n}")
    assert located(err, 2, 3).startswith("`+=!` starts from 0, which `float8_e8m0fnu` cannot hold")
    assert "reduce into a `float` tensor" in err.message
    err = error("def f(tst_q1_7(N) s) -> (O) {\n  O *=! s(n)\n}")
    assert located(err, 2, 3).startswith("`*=!` starts from 1, which `tst_q1_7` cannot hold")
    check("def f(tst_q1_7(N) s) -> (O) {\n  O +=! s(n)\n}")  # 0 is fine


@pytest.mark.parametrize("target, value, col", [
    ("float8_e4m3fn", "x(n)", 10),  # a float into a format narrows
    ("float8_e4m3fn", "c(n)", 10),  # another format
    ("int32", "a(n)", 10),  # a format into an integer
    ("half", "s(n)", 10),  # float8_e8m0fnu does not fit half
])
def test_narrowing_stores_need_a_cast(target, value, col):
    err = error(f"def f(float8_e4m3fn(N) a, float8_e5m2(N) c, float(N) x, float8_e8m0fnu(N) s) -> ({target}(N) O) {{\n"
                f"  O(n) = {value}\n}}")
    source = {"x(n)": "float", "c(n)": "float8_e5m2", "a(n)": "float8_e4m3fn", "s(n)": "float8_e8m0fnu"}[value]
    assert located(err, 2, col) == (f"cannot store a `{source}` value into `O` of type `{target}` without a cast; "
                                    f"write `{target}(...)`")


def test_unknown_types_suggest_formats():
    err = error("def f(float8_e4m3fm(N) A) -> (O) {\n  O(n) = A(n)\n}")
    message = located(err, 1, 7)
    assert message.startswith("unknown type `float8_e4m3fm` (did you mean `float8_e4m3fn`?); expected one of bool")
    assert "or a number format registered with tcir.lowp" in message
    err = error("def f(float(N) A) -> (tst_fp7_e3m4(N) O) {\n  O(n) = A(n)\n}")
    assert located(err, 1, 23) == "unknown type `tst_fp7_e3m4` (did you mean `tst_fp7_e3m3`?)"
    err = error("def f(float(N) A) -> (O) {\n  O(n) = float8_e4m3fx(A(n))\n}")
    assert located(err, 2, 10) == "unknown tensor or function `float8_e4m3fx`; did you mean `float8_e4m3fn`?"


def test_a_cast_takes_one_argument():
    err = error("def f(float(N) A) -> (O) {\n  O(n) = float8_e4m3fn(A(n), 2)\n}")
    assert located(err, 2, 10) == "`float8_e4m3fn` takes 1 argument, found 2"


def test_format_subscripts_and_bool_operands_are_refused():
    err = error("def f(float(N) A, int4(N) I) -> (O) {\n  O(n) = A(I(n))\n}")
    assert located(err, 2, 12) == "a subscript of `A` must be an integer, found `int4`"
    err = error("def f(float8_e4m3fn(N) a) -> (O) {\n  O(n) = a(n) + (n < 2)\n}")
    assert located(err, 2, 18).startswith("`+` needs a number, not a `bool`")
