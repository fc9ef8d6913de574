"""Raising tc IR to the checked program (tcir/checked_from_ir.py), the inverse of irgen.

The property: `build_def(checked_def(build_def(d)))` prints exactly as `build_def(d)`,
for the canonical examples, the example files, the constructs irgen handles one by one
(number formats, integer division, guarded reads, indirect reads, builtins, scalars...)
and random programs. The raised def also equals sema's on every statement field, the
expression trees compared modulo what the IR does not record (`normalized`).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from ir_text import context, parse, show
from strategies import examples, tc_programs
from xdsl.dialects.builtin import FloatAttr

import tcir.lowp
from canonical import CANONICAL_SOURCES
from tcir.checked_from_ir import checked_def, scalar_type
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.frontend.checked import TBinary, TCall, TCast, TConst, TExpr, TRead, TUnary
from tcir.frontend.ranges import AffineForm, affine_form
from tcir.frontend.types import ScalarType
from tcir.irgen import build_def, mlir_type
from tcir.tools.mlir_io import IrReader

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_FILES = sorted((ROOT / "examples").glob("*.tc"))

# User formats with parameters no other test registers, so that the IR (which does not
# name formats) maps each back to its name.
tcir.lowp.float_format("rt_e3m3_b5", exponent=3, mantissa=3, bias=5, kind="fn")
tcir.lowp.fixed_format("rt_q5_3", integer=5, fraction=3, signed=True, overflow="wrap")


def checked(source: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        return check_source(source, "t.tc")


def assert_round_trips(source: str) -> None:
    """Every def: IR -> checked -> IR prints the same, and agrees with sema."""
    for d in checked(source).defs.values():
        text = show(build_def(d))
        raised = checked_def(build_def(d))
        assert show(build_def(raised)) == text
        assert_same_as_sema(d, raised)


# What the IR does not record --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AffineIndex(TExpr):
    """An affine subscript by its form: the IR keeps `i + 1`, not how it was written."""

    form: AffineForm


def ir_type(t: ScalarType) -> ScalarType:
    """`t` as arith code sees it: integers signless (read as signed), a format by its
    parameters (the first registered format that has them)."""
    return scalar_type(mlir_type(t, signless=True))


def normalized(e: TExpr) -> TExpr:
    """`e` as the IR records it, each choice the IR leaves open made as the raising
    makes it (tcir/checked_from_ir.py's docstring): affine subscripts as their form;
    float constants rounded to their type (an out-of-range one is the infinity: irgen's
    `_in_range`); integers signless (arith ops carry the signedness that matters, which
    the round trip checks), so a cast between int8 and uint8 is no node and 255 is -1;
    `bool(x)` as `x != 0`, `0 - x` as `-x`, `fdivide` as `/`, `fmod` as `%` (the same ops)."""
    if isinstance(e, TCast) and e.type.is_integer and e.operand.type.is_integer and e.type.bits == e.operand.type.bits:
        return normalized(e.operand)
    if isinstance(e, TCast) and e.type.is_bool:
        zero = TConst(e.operand.type, 0.0 if e.operand.type.is_float else 0)
        return normalized(TBinary(e.type, "!=", e.operand, zero))
    if isinstance(e, TBinary) and e.op == "-" and e.type.is_integer and isinstance(e.lhs, TConst) and e.lhs.value == 0:
        return normalized(TUnary(e.type, "-", e.rhs))
    if via(e, "float", 16) or via(e, "uint8", 1):
        return normalized(TCast(e.type, e.operand.operand))
    if isinstance(e, TCall) and e.fn in ("fdivide", "fmod"):
        return normalized(TBinary(e.type, "/" if e.fn == "fdivide" else "%", *e.args))
    changes = {"type": ir_type(e.type)}
    if isinstance(e, TConst) and e.type.is_float:
        try:
            changes["value"] = FloatAttr(e.value, mlir_type(e.type)).value.data
        except OverflowError:
            changes["value"] = float("inf") if e.value > 0 else float("-inf")
    if isinstance(e, TConst) and e.type.is_integer:
        value = e.value & ((1 << e.type.bits) - 1)
        changes["value"] = value - (1 << e.type.bits) if value >= 1 << (e.type.bits - 1) else value
    if isinstance(e, TRead):
        changes["indices"] = tuple(normalized_subscript(i) for i in e.indices)
    for field in dataclasses.fields(e):
        value = getattr(e, field.name)
        if field.name not in changes and isinstance(value, TExpr):
            changes[field.name] = normalized(value)
        elif field.name not in changes and isinstance(value, tuple):
            changes[field.name] = tuple(normalized(x) for x in value)
    return dataclasses.replace(e, **changes)


def via(e: TExpr, middle: str, bits: int) -> bool:
    """`e` converts a value of `bits` bits through `middle` to a type of as many bits
    (`bfloat16(float(h))` of a half `h`, `fmt(uint8(b))` of a bool `b`): irgen emits
    what it emits for the direct conversion."""
    return (isinstance(e, TCast) and isinstance(e.operand, TCast) and e.operand.type.name == middle
            and e.operand.operand.type.bits == bits
            and (e.type.is_float and e.type.bits == bits if middle == "float" else e.type.is_lowp))


def normalized_subscript(i: TExpr) -> TExpr:
    """An affine subscript as its form; a computed one without a widening of an
    unsigned value to 64 bits, which irgen's `to_index` does anyway."""
    form = affine_form(i)
    if form is not None:
        return AffineIndex(i.type, form)
    if isinstance(i, TCast) and i.type.bits == 64 and i.operand.type.kind == "uint":
        return normalized(i.operand)
    return normalized(i)


def assert_same_as_sema(d, raised) -> None:
    assert raised.name == d.name and raised.sizes == d.sizes
    for mine, theirs in ((raised.inputs, d.inputs), (raised.outputs, d.outputs),
                         (raised.temporaries, d.temporaries)):
        assert [(t.name, t.role, t.shape) for t in mine] == [(t.name, t.role, t.shape) for t in theirs]
        # a scalar parameter is signless in the IR
        assert [t.dtype if t.role != "scalar" else ir_type(t.dtype) for t in mine] == \
               [scalar_type(mlir_type(t.dtype)) if t.role != "scalar" else ir_type(t.dtype) for t in theirs]
    assert len(raised.stmts) == len(d.stmts)
    for got, want in zip(raised.stmts, d.stmts):
        assert (got.target, got.lhs, got.kind, got.init, got.iterators, got.ranges) == \
               (want.target, want.lhs, want.kind, want.init, want.iterators, want.ranges)
        assert normalized(got.rhs) == normalized(want.rhs)
        assert got.explicit == frozenset() and got.loc.file == "<ir>"


# The programs -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CANONICAL_SOURCES))
def test_canonical_examples(name):
    assert_round_trips(CANONICAL_SOURCES[name])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_files(path):
    assert_round_trips(path.read_text())


CONSTRUCTS = {
    "integer_division": """
def f(int32(N) A, int32 s, uint8(N) U, int64(N) L) -> (B, C, D, E, F, G) {
    B(i) = A(i) / s + A(i) % s - s
    C(i) = A(i) / 3 + A(i) % 3 + A(i) / 0 + A(i) / (-1) + A(i) % (-1)
    D(i) = U(i) / uint8(s) + U(i) % U(i) + U(i) / uint8(255)
    E(i) = L(i) / (A(i) == 0 ? 1 : int64(A(i))) + -(L(i) / L(i))
    F(i) = -(A(i) / A(i)) + (0 - A(i)) * -A(i)
    G(i) = (0 + (int8(0) - (A(i) < 0 ? int8(0) : int8(1)))) / int8(3)
}""",
    "guarded_reads": """
def f(float(T) X, float(T) Y) -> (Z, W) {
    Z(t) = t >= 1 ? X(t - 1) : 0.0 where t in 0:T
    W(t) = X(t) + (X(t) > 0 ? X(t) * Y(t) : t < T - 1 ? Y(t + 1) : -X(t))
}""",
    "indirect_reads": """
def f(float(E, D) LUT, int32(B, L) I, uint8(B) U, int64(B) J) -> (O, P) {
    O(b, d) +=! LUT(I(b, r_l), d)
    P(b, d) = LUT(U(b), d) + LUT(J(b), d) + LUT(I(b, 0) * I(b, 1), d) + LUT(uint32(I(b, 0)), d)
}""",
    "builtins": """
def f(float(N) A, double(N) B, half(N) H) -> (O, P, Q) {
    O(i) = exp(A(i)) + erfinv(A(i)) + fmax(A(i), 0) + fmin(A(i), 1) + fdivide(A(i), 3) + fmod(A(i), 2)
    P(i) = pow(B(i), 2.0) + fma(B(i), B(i), 1.0) + j0(B(i)) + B(i) % 1.5 + atan2(B(i), 1)
    Q(i) = fabs(H(i)) + rsqrt(float(H(i))) + normcdf(H(i)) + tanh(H(i))
}""",
    "scalars": """
def f(float(N) A, float alpha, int32 k, bool flag, uint16 u, double d) -> (O, P) {
    O(i) = flag ? alpha * A(i) + k : d + u
    P(i) = A(i) / u + float(u < uint16(k)) + uint32(alpha)
}""",
    "where_and_reductions": """
def f(float(M, K) A, float(K, N) B) -> (C, X, Y, P, S) {
    C(m, n) +=! a * b where a = A(m, r_k), b = B(r_k, n), r_k in 0:K
    X(m) max=! A(m, k)
    Y(m) min=! A(m, k) + c where c = A(m, 0) * A(m, 0)
    P(m) *=! A(m, k)
    S(m, n) = C(m, n) + X(m) - Y(m) * P(m)
}""",
    "casts": """
def f(float(N) A, half(N) H, bfloat16(N) G, int8(N) I, uint8(N) U, bool(N) Z) -> (O, P, Q, R, S) {
    O(i) = bfloat16(H(i)) + half(G(i)) + G(i) + H(i) + bfloat16(float(H(i))) + half(float(H(i)))
    P(i) = int8(U(i)) + int32(I(i)) + uint8(I(i)) + int8(A(i)) + uint16(A(i)) + int64(U(i))
    Q(i) = bool(A(i)) && bool(I(i)) || !Z(i) ? 1 : 0
    R(i) = float(Z(i)) + int32(Z(i)) + double(U(i)) + float(I(i))
    S(i) = uint8(-1) + uint8(200) * U(i) + int8(-128)
}""",
    "comparisons": """
def f(float(N) A, int32(N) I, uint32(N) U) -> (O) {
    O(i) = (A(i) < 1 && A(i) >= 0 || A(i) != A(i) || A(i) == 2) && (I(i) > 0 || U(i) <= 4) ? 1.0 : 0.0
}""",
    "min_max": """
def f(float(N) A, int32(N) I, uint8(N) U) -> (O, P, Q) {
    O(i) = max(A(i), 0) + min(A(i), 1)
    P(i) = max(I(i), 0) + min(I(i), 1)
    Q(i) = max(U(i), uint8(1)) + min(U(i), uint8(3))
}""",
    "sizes_and_indices": """
def f(float(N, M) A) -> (O) {
    O(i, j) = A(N - 1 - i, 2 * j + M - M) + i * j + N + A(i, 0) where j in 0:M
}""",
    "rank_zero": """
def f(float(N) A) -> (S, T) {
    S +=! A(i)
    T = S * 2
}""",
    "formats": """
def f(float8_e4m3fn(M, N) a, float8_e4m3fn(M, N) b, float(M) x, int32(M) k) -> (S, P, D, L, C, E, B, I) {
    S(m, n) = a(m, n) + b(m, n) * 3
    P(m, n) = -a(m, n) - max(a(m, n), 0) + min(a(m, n), b(m, n)) + a(m, n) * 2.5
    D(m, n) = a(m, n) / b(m, n)
    L(m, n) = a(m, n) < b(m, n) && a(m, n) != 0 ? a(m, n) : b(m, n)
    C(m) = float8_e5m2(x(m)) + float8_e5m2(k(m)) + float8_e5m2(uint8(k(m)))
    E(m) = float4_e2m1fn(float8_e4m3fn(x(m))) + float4_e2m1fn(bool(k(m))) + float4_e2m1fn(uint8(x(m) > 0))
    B(m) = bool(a(m, 0)) ? int32(a(m, 0)) : uint16(a(m, 1))
    I(m) = int4(x(m)) + int4(k(m)) / 2 + int4(k(m)) + 1
}""",
    "format_reductions": """
def f(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B) -> (float(M, N) C, D, X, Y) {
    C(m, n) +=! A(m, r_k) * B(r_k, n)
    D(m, n) +=! A(m, k) * B(k, n)
    X(m, n) max=! A(m, k) * B(k, n)
    Y(m) min=! A(m, k)
}""",
    "user_formats": """
def f(rt_e3m3_b5(N) a, rt_q5_3(N) q, float(N) x, rt_q5_3 s) -> (P, C, F, S, M, D, G) {
    P(n) = a(n) * a(n) + rt_e3m3_b5(1)
    C(n) = rt_e3m3_b5(x(n))
    F(n) = float(a(n)) + x(n)
    S(n) = q(n) + 1 - s
    M(n) = q(n) * q(n) > s ? q(n) : rt_q5_3(x(n))
    D(n) = q(n) / 3
    G(n) = double(q(n)) * x(n)
}""",
    "docs_number_formats": """
def scale(float8_e4m3fn(M, K) A, rt_e3m3_b5(K) s, float(M) bias) -> (float(M) O, rt_q5_3(M) Q) {
    O(m) +=! A(m, k) * float8_e4m3fn(s(k))
    O(m) = O(m) + bias(m)
    Q(m) = rt_q5_3(O(m))
}""",
}


@pytest.mark.parametrize("name", list(CONSTRUCTS))
def test_constructs(name):
    assert_round_trips(CONSTRUCTS[name])


@settings(max_examples=examples(50), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tc_programs())
def test_random_programs(program):
    assert_round_trips(program.source)


def test_raised_from_parsed_text():
    """IR read back from its text raises too (names from the text's SSA names)."""
    for source in CANONICAL_SOURCES.values():
        for d in checked(source).defs.values():
            text = show(build_def(d))
            (def_op,) = parse(text).ops
            assert show(build_def(checked_def(def_op))) == text


# What the raised def says -----------------------------------------------------------------


def test_fields_of_a_raised_def():
    d = checked("def f(float(M, K) A, uint8 u) -> (C) { C(m) +=! A(m, k) / u }").defs["f"]
    raised = checked_def(build_def(d))
    assert [(t.name, t.role, str(t.dtype)) for t in raised.inputs] == \
           [("A", "input", "float"), ("u", "scalar", "uint8")]
    assert raised.sizes == ["M", "K"] and raised.tensors["C"].role == "output"
    (s,) = raised.stmts
    assert (s.target, s.lhs, s.kind, s.init, s.iterators) == ("C", ["m"], "+", True, ["m", "k"])
    assert [str(hi) for _, hi in s.ranges.values()] == ["M", "K"]


def test_unsigned_constants_keep_their_value():
    d = checked("def f(uint8(N) U) -> (O) { O(i) = U(i) + uint8(255) }").defs["f"]
    (s,) = checked_def(build_def(d)).stmts
    assert s.rhs.rhs == TConst(scalar_type(mlir_type(d.inputs[0].dtype)), 255)


# Errors -----------------------------------------------------------------------------------

SHIFT = """tc.def @f(%A : !tc.tensor<[N], i32>) -> (%B : !tc.tensor<[N], i32>) {
  tc.stmt (%i in 0 to N) %B[%i] = {
    %0 = tc.read %A[%i] : i32
    %1 = arith.shli %0, %0 : i32
    tc.yield %1 : i32
  }
}"""


def parsed_def(text: str):
    (def_op,) = parse(text).ops
    return def_op


def test_an_op_irgen_never_emits_is_an_error():
    with pytest.raises(TcError, match=r"`arith.shli` has no TC equivalent.*tc.def @f"):
        checked_def(parsed_def(SHIFT))


def test_errors_are_located_when_the_ir_was_read_located():
    reader = IrReader(context(), SHIFT, "shift.mlir")
    (def_op,) = reader.read().ops
    with pytest.raises(TcError) as err:
        checked_def(def_op, locate=reader.location)
    assert str(err.value).startswith("shift.mlir:4:") and "arith.shli" in str(err.value)


@pytest.mark.parametrize("write", ["%B[%i, %i]", "%B[%i + 1, %j]", "%B[%j, 0]"])
def test_a_write_that_is_not_distinct_iterators_is_an_error(write):
    text = f"""tc.def @f(%A : !tc.tensor<[N], i32>) -> (%B : !tc.tensor<[N, N], i32>) {{
  tc.stmt (%i in 0 to N, %j in 0 to N) {write} = {{
    %0 = tc.read %A[%i] : i32
    tc.yield %0 : i32
  }}
}}"""
    with pytest.raises(TcError, match="`tc.stmt` writes .*TC writes at a list of distinct iterators"):
        checked_def(parsed_def(text))


@pytest.mark.parametrize("body, message", [
    ("%1 = arith.divsi %0, %0 : i32", "`arith.divsi` divides by a value that may be 0"),
    ("%c = arith.constant -1 : i32\n    %1 = arith.divsi %0, %c : i32", "`arith.divsi` divides by a value"),
    ("%c = arith.constant 3 : i32\n    %1 = arith.xori %0, %c : i32", "`arith.xori` is not a negation"),
    ("%1 = arith.index_cast %0 : i32 to index\n    %2 = tc.read %A[%1 + 1] : i32\n    %3 = arith.addi %2, %0 : i32",
     "`tc.read` uses a computed index"),
])
def test_forms_irgen_never_emits_are_errors(body, message):
    result = body.split("\n")[-1].split("=")[0].strip()
    text = f"""tc.def @f(%A : !tc.tensor<[N], i32>) -> (%B : !tc.tensor<[N], i32>) {{
  tc.stmt (%i in 0 to N) %B[%i] = {{
    %0 = tc.read %A[%i] : i32
    {body}
    tc.yield {result} : i32
  }}
}}"""
    with pytest.raises(TcError, match=message):
        checked_def(parsed_def(text))


def test_lowp_rounding_irgen_never_emits_is_an_error():
    text = """tc.def @f(%A : !tc.tensor<[N], !lowp.float<e4m3, fn>>) -> (%B : !tc.tensor<[N], !lowp.float<e4m3, fn>>) {
  tc.stmt (%i in 0 to N) %B[%i] = {
    %0 = tc.read %A[%i] : !lowp.float<e4m3, fn>
    %1 = lowp.add %0, %0 rounding toward_zero : !lowp.float<e4m3, fn>
    tc.yield %1 : !lowp.float<e4m3, fn>
  }
}"""
    with pytest.raises(TcError, match="`lowp.add` rounds toward_zero"):
        checked_def(parsed_def(text))


def test_an_unregistered_format_is_an_error():
    text = """tc.def @f(%A : !tc.tensor<[N], !lowp.float<e6m5, ieee>>) -> (%B : !tc.tensor<[N], f32>) {
  tc.stmt (%i in 0 to N) %B[%i] = {
    %0 = tc.read %A[%i] : !lowp.float<e6m5, ieee>
    %1 = lowp.cast %0 : !lowp.float<e6m5, ieee> to f32
    tc.yield %1 : f32
  }
}"""
    with pytest.raises(TcError, match="no registered format"):
        checked_def(parsed_def(text))
