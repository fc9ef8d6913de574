"""Scalar types and the type rules of tc-language.md, directly and through checked source."""

import pytest

from tcir.errors import TcError
from tcir.frontend import check_source
from tcir.frontend.checked import TBinary, TCall, TCast, TConst, TRead, TScalar, TSelect, TUnary
from tcir.frontend.types import (
    ALL_TYPES, BFLOAT16, BOOL, DOUBLE, FLOAT, HALF, INT8, INT16, INT32, INT64, TYPE_NAMES, UINT8,
    UINT16, UINT32, UINT64, at_least_float, converts_implicitly, promote,
)

# One scalar parameter of every type, named after its type.
SCALARS = {"b": BOOL, "i8": INT8, "i16": INT16, "i32": INT32, "i64": INT64, "u8": UINT8,
           "u16": UINT16, "u32": UINT32, "u64": UINT64, "f16": HALF, "bf16": BFLOAT16,
           "f32": FLOAT, "f64": DOUBLE}
PARAMS = ", ".join(f"{t.name} {n}" for n, t in SCALARS.items())


def rhs(text: str, out: str = "O"):
    """The checked right side of `O(i) = text` over the scalars above and float(N) A."""
    program = check_source(f"def f({PARAMS}, float(N) A) -> ({out}) {{\n"
                           f"  O(i) = {text} where i in 0:4\n}}", "t.tc")
    return program.defs["f"].stmts[0].rhs


def type_of(text: str):
    return rhs(text).type


def type_error(text: str, out: str = "O") -> TcError:
    with pytest.raises(TcError) as info:
        rhs(text, out)
    return info.value


# The type table ---------------------------------------------------------------------


def test_type_names_and_aliases():
    assert {t.name for t in ALL_TYPES} == {
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "half", "bfloat16", "float", "double"}
    assert TYPE_NAMES["float32"] is FLOAT and TYPE_NAMES["float64"] is DOUBLE
    assert TYPE_NAMES["float16"] is HALF
    assert (FLOAT.mlir, DOUBLE.mlir, HALF.mlir, BFLOAT16.mlir, BOOL.mlir, UINT8.mlir) == (
        "f32", "f64", "f16", "bf16", "i1", "ui8")


# promote: the binary-operation rules ------------------------------------------------


@pytest.mark.parametrize("a, b, result", [
    # int with float gives the float
    (INT32, FLOAT, FLOAT), (INT64, HALF, HALF), (UINT64, BFLOAT16, BFLOAT16), (INT8, DOUBLE, DOUBLE),
    # two floats give the wider
    (FLOAT, DOUBLE, DOUBLE), (HALF, FLOAT, FLOAT), (BFLOAT16, DOUBLE, DOUBLE),
    # half with bfloat16: neither is wider, the result is float (extension)
    (HALF, BFLOAT16, FLOAT),
    # two unsigned give the wider unsigned
    (UINT8, UINT16, UINT16), (UINT32, UINT64, UINT64),
    # two signed give the wider signed
    (INT8, INT64, INT64),
    # signed with unsigned gives the signed type of the larger width
    (INT8, UINT32, INT32), (UINT8, INT8, INT8), (INT64, UINT8, INT64), (UINT64, INT16, INT64),
])
def test_promote(a, b, result):
    assert promote(a, b) == result
    assert promote(b, a) == result


@pytest.mark.parametrize("t", ALL_TYPES)
def test_promote_same_type_is_identity(t):
    assert promote(t, t) == t


@pytest.mark.parametrize("t, result", [
    (INT8, FLOAT), (UINT64, FLOAT), (HALF, FLOAT), (BFLOAT16, FLOAT), (FLOAT, FLOAT), (DOUBLE, DOUBLE)])
def test_at_least_float(t, result):
    assert at_least_float(t) == result


@pytest.mark.parametrize("src, dst, ok", [
    (INT8, INT32, True), (INT32, INT8, False), (UINT8, UINT16, True), (UINT16, UINT8, False),
    (UINT8, INT16, True), (UINT8, INT8, False), (INT8, UINT64, False),
    (INT64, FLOAT, True), (UINT8, HALF, True),
    (HALF, FLOAT, True), (BFLOAT16, FLOAT, True), (FLOAT, DOUBLE, True),
    (FLOAT, HALF, False), (DOUBLE, FLOAT, False), (HALF, BFLOAT16, False), (BFLOAT16, HALF, False),
    (FLOAT, INT64, False), (BOOL, INT32, False), (INT32, BOOL, False), (BOOL, BOOL, True),
])
def test_converts_implicitly(src, dst, ok):
    assert converts_implicitly(src, dst) is ok


# Through the checker ----------------------------------------------------------------


@pytest.mark.parametrize("text, t", [
    ("i32 + f32", FLOAT), ("f32 + f64", DOUBLE), ("u8 + u32", UINT32), ("i8 * u32", INT32),
    ("u64 - i8", INT64), ("f16 * bf16", FLOAT), ("f16 + f16", HALF), ("i64 % i8", INT64),
    ("i / 2", INT32), ("1 + 2", INT32), ("1 + 2.0", FLOAT), ("1e3", FLOAT), ("f16 + 1", HALF),
    ("f16 * 2.0", FLOAT), ("f64 + 1.5", DOUBLE), ("N * i", INT32), ("A(i)", FLOAT),
    ("-u8", UINT8), ("min(i8, u16)", INT16), ("max(f16, i64)", HALF),
])
def test_arithmetic_result_types(text, t):
    assert type_of(text) == t


def test_index_variables_and_sizes_are_int32():
    e = rhs("i + N")
    assert e.type == INT32 and (e.lhs.type, e.rhs.type) == (INT32, INT32)


def test_implicit_conversions_are_explicit_casts():
    e = rhs("i8 + f32")
    assert isinstance(e, TBinary) and e.type == FLOAT
    assert isinstance(e.lhs, TCast) and e.lhs.type == FLOAT and isinstance(e.lhs.operand, TScalar)
    assert isinstance(e.rhs, TScalar)


def test_literals_fold_to_the_type_they_are_used_at():
    e = rhs("f64 + 1")
    assert e.rhs == TConst(DOUBLE, 1.0)
    e = rhs("i8 < 3")
    assert e.rhs == TConst(INT32, 3) and e.lhs == TCast(INT32, TScalar(INT8, "i8"))
    e = rhs("-2 * A(i)")
    assert e.lhs == TConst(FLOAT, -2.0)


@pytest.mark.parametrize("text", ["i < 2", "f32 >= i", "f16 == bf16", "b != b", "i8 > u64",
                                  "A(i) <= 1.0", "b == (i > 2)"])
def test_comparisons_give_bool(text):
    assert type_of(text) == BOOL


def test_comparison_operands_are_promoted():
    e = rhs("i8 < f64")
    assert e.type == BOOL and e.lhs.type == DOUBLE and e.rhs.type == DOUBLE


@pytest.mark.parametrize("text", ["b && b", "b || i < 2", "!b", "!(i > 1) && (f32 < 2.0 || b)"])
def test_logic_gives_bool(text):
    assert type_of(text) == BOOL


@pytest.mark.parametrize("text, message", [
    ("i && b", "`&&` needs `bool` operands, found `int32`"),
    ("b || f32", "`||` needs `bool` operands, found `float`"),
    ("!i", "`!` needs a `bool`, found `int32`"),
    ("i ? 1 : 2", "the condition of `?:` must be a `bool`, found `int32`"),
    ("b + 1", "`+` needs a number, not a `bool`"),
    ("2 * (i < 3)", "`*` needs a number, not a `bool`"),
    ("-b", "unary `-` needs a number"),
    ("b < b", "`<` cannot compare `bool` values"),
    ("b == 1", "the operands of `==` mix `bool` and `int32`"),
    ("b ? b : 1", "the branches of `?:` mix `bool` and `int32`"),
    ("min(b, b)", "`min` needs numbers"),
    ("max(b, 1)", "the operands of `max` mix `bool` and `int32`"),
    ("exp(b)", "`exp` needs a number, not a `bool`"),
])
def test_bool_type_errors(text, message):
    err = type_error(text)
    assert message in err.message
    assert err.line == 2


def test_logic_error_points_at_the_offending_operand():
    err = type_error("b && i")
    assert err.col == len("  O(i) = b && ") + 1


@pytest.mark.parametrize("text, t", [
    ("c ? i : f32", FLOAT), ("c ? 1 : 2", INT32), ("c ? b : b", BOOL), ("c ? f16 : f64", DOUBLE)])
def test_conditional_branches_are_promoted(text, t):
    e = rhs(text.replace("c ?", "i < 2 ?"))
    assert isinstance(e, TSelect) and e.type == t
    assert e.then.type == t and e.otherwise.type == t and e.cond.type == BOOL


@pytest.mark.parametrize("text, t", [
    ("exp(i)", FLOAT), ("exp(u8)", FLOAT), ("exp(f16)", FLOAT), ("exp(bf16)", FLOAT),
    ("exp(f32)", FLOAT), ("exp(f64)", DOUBLE), ("pow(f32, f64)", DOUBLE), ("pow(2, 3)", FLOAT),
    ("fma(i, f16, 1)", FLOAT), ("fmax(f64, 0)", DOUBLE),
])
def test_builtins_return_at_least_float(text, t):
    e = rhs(text)
    assert isinstance(e, TCall) and e.type == t
    assert all(a.type == t for a in e.args)


@pytest.mark.parametrize("cast, t", [(name, t) for name, t in TYPE_NAMES.items() if t != BOOL])
def test_casts_use_the_type_name(cast, t):
    e = rhs(f"{cast}(A(i))")
    assert e.type == t
    read = e if t == FLOAT else e.operand  # casting a float to float is no cast at all
    assert isinstance(read, TRead) and read.tensor == "A"
    assert t == FLOAT or isinstance(e, TCast)


def test_cast_of_a_literal_is_folded():
    assert rhs("float(1)") == TConst(FLOAT, 1.0)
    assert rhs("int32(2.9)") == TConst(INT32, 2)
    assert rhs("int32(-2.9)") == TConst(INT32, -2)
    assert rhs("bool(3)") == TConst(BOOL, True)


@pytest.mark.parametrize("text, value, t", [
    ("int8(300)", 44, INT8), ("uint8(-1)", 255, UINT8), ("int8(128)", -128, INT8),
    ("uint16(65536)", 0, UINT16), ("-uint8(1)", 255, UINT8), ("int64(2147483647)", 2**31 - 1, INT64),
])
def test_folded_integer_casts_wrap_to_the_type_width(text, value, t):
    assert rhs(text) == TConst(t, value)


@pytest.mark.parametrize("text", ["float()", "int32(1, 2)", "double(A(i), A(i))"])
def test_cast_takes_one_argument(text):
    assert "takes 1 argument" in type_error(text).message


def test_float_literal_out_of_range_is_an_error():
    err = type_error("int32(1e400)")
    assert err.message == "float literal 1e400 is out of range"
    assert err.col == len("  O(i) = int32(") + 1


def test_integer_literal_must_fit_int32():
    assert type_of("2147483647") == INT32
    err = type_error("2147483648")
    assert "does not fit in int32" in err.message


# Subscripts -------------------------------------------------------------------------


@pytest.mark.parametrize("sub", ["i", "i8", "u64", "int32(f32)", "i + 1", "N - 1 - i"])
def test_integral_subscripts(sub):
    assert isinstance(rhs(f"A({sub})"), TRead)


@pytest.mark.parametrize("sub, t", [("f32", "float"), ("1.0", "float"), ("i * 1.0", "float"),
                                    ("b", "bool"), ("i > 0", "bool"), ("A(i)", "float")])
def test_subscripts_must_be_integral(sub, t):
    err = type_error(f"A({sub})")
    assert err.message == f"a subscript of `A` must be an integer, found `{t}`"
    assert err.col == len("  O(i) = A(") + 1


# Storing into outputs ---------------------------------------------------------------


def test_inferred_output_type_is_the_rhs_type():
    program = check_source("def f(int8(N) A, uint8(N) B) -> (O) { O(i) = A(i) + B(i) }")
    assert program.defs["f"].outputs[0].dtype == INT8


@pytest.mark.parametrize("out, text", [
    ("half(4) O", "f32"), ("float(4) O", "f64"), ("int8(4) O", "i32"), ("int32(4) O", "f32"),
    ("uint32(4) O", "i32"), ("bfloat16(4) O", "f16"), ("int32(4) O", "1.0"), ("int8(4) O", "i8 + 1"),
    ("bool(4) O", "i"), ("int32(4) O", "b"),
])
def test_typed_output_cannot_be_narrowed_implicitly(out, text):
    err = type_error(text, out)
    assert err.message.startswith("cannot store a `")
    assert "without a cast" in err.message
    assert err.col == len("  O(i) = ") + 1


@pytest.mark.parametrize("out, text, t", [
    ("double(4) O", "f32", DOUBLE), ("float(4) O", "i64", FLOAT), ("int64(4) O", "u32", INT64),
    ("half(4) O", "f16 * 2", HALF), ("float(4) O", "1", FLOAT), ("half(4) O", "half(f32)", HALF),
    ("int8(4) O", "int8(i32)", INT8), ("bool(4) O", "i < 2", BOOL),
])
def test_widening_or_explicit_cast_into_typed_output(out, text, t):
    e = rhs(text, out)
    assert e.type == t


def test_literal_stored_into_typed_output_is_folded():
    assert rhs("1", "double(4) O") == TConst(DOUBLE, 1.0)


def test_second_statement_cannot_narrow_an_inferred_type():
    with pytest.raises(TcError, match="cannot store a `double` value into `O` of type `float`"):
        check_source("def f(float(N) A, double(N) D) -> (O) { O(i) = A(i)\n O(i) = D(i) }")


def test_bool_cannot_be_reduced():
    with pytest.raises(TcError, match="cannot reduce `bool` values with `max=`"):
        check_source("def f(float(N, M) A) -> (O) { O(i) max=! A(i, j) > 0.0 }")


def test_negation_keeps_the_type():
    e = rhs("-i8")
    assert isinstance(e, TUnary) and e.type == INT8
