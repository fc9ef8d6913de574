"""The NumPy reference evaluator on number formats (tcir.lowp), against values computed
by hand (docs/language.md, "Number formats"; tcir/testing/reference_lowp.py)."""

import math

import ml_dtypes
import numpy as np
import pytest

import tcir.lowp
from tcir.errors import TcError
from tcir.frontend import check_source
from tcir.frontend.format_names import lookup_type
from tcir.testing import exact_formats as ef
from tcir.testing import reference_lowp
from tcir.testing.reference import evaluate

FP7 = tcir.lowp.float_format("tst_fp7_e3m3", exponent=3, mantissa=3, kind="fn")
Q44 = tcir.lowp.fixed_format("tst_q4_4", integer=4, fraction=4, signed=True)
U88 = tcir.lowp.fixed_format("tst_u8_8", integer=8, fraction=8, signed=False, overflow="wrap")

E4M3 = ml_dtypes.float8_e4m3fn
E5M2 = ml_dtypes.float8_e5m2


def run(source: str, *args):
    d = check_source(source, "t.tc")
    return evaluate(d.defs[next(iter(d.defs))], *args)


def f8(values, dtype=E4M3):
    return np.array(values, np.float64).astype(dtype)


def same(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-exact, NaN included."""
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), (got, want)


# Arithmetic in one format ------------------------------------------------------------------


def test_each_operation_rounds_to_the_format():
    a, b = f8([1.125, 3.0, 448.0, -0.25]), f8([1.125, 1.25, 2.0, 0.0])
    (p, s, q, m) = run("def f(float8_e4m3fn(N) a, float8_e4m3fn(N) b) -> (P, S, Q, M) {\n"
                       "  P(n) = a(n) * b(n)\n  S(n) = a(n) + b(n)\n  Q(n) = a(n) / b(n)\n"
                       "  M(n) = a(n) * b(n) + a(n)\n}",
                       a, b)
    # 1.125^2 = 1.265625 -> 1.25 (quantum 1/8 in [1, 2)); 3.75 exact; 896 > 448 -> NaN (fn); -0
    same(p, f8([1.25, 3.75, np.nan, -0.0]))
    same(s, f8([2.25, 4.0, 448.0, -0.25]))  # 4.25 -> 4 (quantum 0.5 in [4, 8)); 450 -> 448 (quantum 32)
    # 1.125 / 1.125 = 1; 3 / 1.25 = 2.4 -> 2.5 (quantum 1/4 in [2, 4)); 448 / 2; -0.25 / 0 = -inf -> NaN
    same(q, f8([1.0, 2.5, 224.0, -np.nan]))
    # rounded twice: 1.25 + 1.125 = 2.375 -> 2.5 (tie: even), 3.75 + 3 = 6.75 -> 7 (tie)
    same(m, f8([2.5, 7.0, np.nan, -0.25]))


def test_ieee_formats_overflow_to_infinity():
    (p,) = run("def f(float8_e5m2(N) a) -> (P) {\n  P(n) = a(n) * a(n)\n}", f8([256.0, -512.0, 3.0], E5M2))
    same(p, f8([np.inf, np.inf, 8.0], E5M2))  # 9 -> 8 (quantum 2 in [8, 16), tie to even)


def test_integers_and_literals_take_the_format():
    a = f8([1.5, 3.0, -7.0])
    (p, q, r) = run("def f(float8_e4m3fn(N) a) -> (P, Q, R) {\n  P(n) = a(n) * 3 + n\n"
                    "  Q(n) = a(n) * 0.3\n  R(n) = a(n) * float8_e4m3fn(0.3)\n}", a)
    same(p, f8([4.5, 10.0, -18.0]))  # 9 + 1 = 10; -21 -> -20 (quantum 2, tie: even), + 2 = -18
    assert p.dtype == E4M3 and q.dtype == np.float32
    np.testing.assert_array_equal(q, np.float32(a.astype(np.float32) * np.float32(0.3)))
    # 0.3 -> 0.3125 (quantum 1/64 in [0.25, 0.5)); 1.5 * 0.3125 = 0.46875 exact; 0.9375; -2.1875 -> -2.25
    same(r, f8([0.46875, 0.9375, -2.25]))


def test_comparisons_min_max_negation_select():
    a, b = f8([1.0, np.nan, -0.0, 2.0]), f8([2.0, 1.0, 0.0, 2.0])
    (lt, ne, mn, mx, ng, sel) = run(
        "def f(float8_e4m3fn(N) a, float8_e4m3fn(N) b) -> (L, E, Mn, Mx, G, S) {\n"
        "  L(n) = a(n) < b(n)\n  E(n) = a(n) != b(n)\n  Mn(n) = min(a(n), b(n))\n  Mx(n) = max(a(n), b(n))\n"
        "  G(n) = -a(n)\n  S(n) = a(n) == b(n) ? a(n) : float8_e4m3fn(-1)\n}", a, b)
    np.testing.assert_array_equal(lt, [True, False, False, False])
    np.testing.assert_array_equal(ne, [True, True, False, False])  # -0 == +0
    same(mn, f8([1.0, np.nan, -0.0, 2.0]))
    same(mx, f8([2.0, np.nan, 0.0, 2.0]))
    same(ng, f8([-1.0, -np.nan, 0.0, -2.0]))
    same(sel, f8([-1.0, -1.0, -0.0, 2.0]))


def test_builtins_compute_in_float():
    (e,) = run("def f(float8_e4m3fn(N) a) -> (E) {\n  E(n) = exp(a(n))\n}", f8([0.0, 1.0]))
    assert e.dtype == np.float32
    np.testing.assert_allclose(e, [1.0, math.e], rtol=1e-7)


# Reductions ---------------------------------------------------------------------------------


MATMUL = """def f(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B) -> (float(M, N) C, D, X, Y) {
    C(m, n) +=! A(m, k) * B(k, n)
    D(m, n) +=! A(m, k) * B(k, n)
    X(m, n) max=! A(m, k) * B(k, n)
    Y(m, n) min=! A(m, k) * B(k, n)
}"""


def test_reductions_accumulate_in_the_output_type():
    A = f8([[1.125, 3.5, 0.5]])
    B = f8([[1.125], [1.0], [0.125]])
    C, D, X, Y = run(MATMUL, A, B)
    # products in fp8: 1.265625 -> 1.25, 3.5, 0.0625; summed in float: 4.8125
    np.testing.assert_array_equal(C, np.array([[4.8125]], np.float32))
    # summed in fp8, in order: 1.25 + 3.5 = 4.75 -> 5 (tie, even), 5 + 0.0625 = 5.0625 -> 5
    same(D, f8([[5.0]]))
    same(X, f8([[3.5]]))
    same(Y, f8([[0.0625]]))


def test_reduction_identities_of_the_formats():
    empty_k = np.zeros((2, 0), E4M3), np.zeros((0, 1), E4M3)
    C, D, X, Y = run(MATMUL, *empty_k)
    np.testing.assert_array_equal(C, np.zeros((2, 1), np.float32))
    same(D, f8([[0.0], [0.0]]))
    same(X, f8([[-448.0], [-448.0]]))  # fn: no infinities, the smallest value
    same(Y, f8([[448.0], [448.0]]))
    x, y = run("def f(float8_e5m2(M, K) A) -> (X, Y) {\n  X(m) max=! A(m, k)\n  Y(m) min=! A(m, k)\n}",
               np.zeros((1, 0), E5M2))
    same(x, f8([-np.inf], E5M2))
    same(y, f8([np.inf], E5M2))
    assert reference_lowp.identity("max", lookup_type("float8_e8m0fnu")).view(np.uint8) == 0  # 2^-127
    assert reference_lowp.identity("min", lookup_type("int4")).view(np.uint8) == 7
    assert reference_lowp.identity("max", lookup_type("tst_q4_4")) == np.int8(-128)


# Conversions --------------------------------------------------------------------------------


def test_casts_float_to_formats_and_back():
    x = np.array([0.3, 2.5, 7.0, -0.1, 1000.0, np.nan, -np.inf], np.float32)
    (e4, e2, back) = run("def f(float(N) x) -> (E, F, B) {\n  E(n) = float8_e4m3fn(x(n))\n"
                         "  F(n) = float4_e2m1fn(x(n))\n  B(n) = float(float4_e2m1fn(E(n)))\n}", x)
    same(e4, x.astype(E4M3))  # as ml_dtypes rounds
    same(e2, x.astype(ml_dtypes.float4_e2m1fn))
    # e2m1 holds 0, 0.5, 1, 1.5, 2, 3, 4, 6: 0.3 -> 0.5, 2.5 -> 2 (tie), 7 -> 6 (saturates), -0.1 -> -0
    np.testing.assert_array_equal(e2.astype(np.float32)[:4], [0.5, 2.0, 6.0, -0.0])
    # through fp8 first: 0.3 -> 0.3125 -> 0.5, 2.5, 7 -> 6, NaN (fn) -> finite e2m1 has no NaN: -0
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back[:4], [0.5, 2.0, 6.0, -0.0])


@pytest.mark.parametrize("name", ["float8_e3m4", "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn",
                                  "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu",
                                  "float6_e2m3fn", "float6_e3m2fn", "float4_e2m1fn"])
def test_casts_agree_with_ml_dtypes(name):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(300) * 10.0 ** rng.integers(-6, 6, 300),
                        [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(np.float32)
    (y, back) = run(f"def f(float(N) x) -> (Y, B) {{\n  Y(n) = {name}(x(n))\n  B(n) = double(Y(n))\n}}", x)
    dtype = getattr(ml_dtypes, name)
    same(y, x.astype(dtype))
    np.testing.assert_array_equal(back, y.astype(np.float64))


def test_integer_formats_truncate_and_wrap():
    x = np.array([2.7, -2.7, 9.0, -8.0], np.float32)
    i = np.array([9, -9, 7, -7], np.int32)
    (a, b, q, s) = run("def f(float(N) x, int32(N) i) -> (A, B, Q, S) {\n  A(n) = int4(x(n))\n  B(n) = int4(i(n))\n"
                       "  Q(n) = int4(i(n)) / 2\n  S(n) = int4(i(n)) + 1\n}", x, i)
    same(a, np.array([2, -2, 0, -8]).astype(ml_dtypes.int4))  # a float beyond int4 gives 0
    with np.errstate(invalid="ignore"):
        same(a, x.astype(ml_dtypes.int4))
    same(b, np.array([-7, 7, 7, -7]).astype(ml_dtypes.int4))  # integers wrap
    same(q, np.array([-3, 3, 3, -3]).astype(ml_dtypes.int4))  # truncated
    same(s, np.array([-6, -8, -8, -6]).astype(ml_dtypes.int4))  # 7 + 1 wraps


def test_formats_to_integers_and_bool():
    a = f8([2.75, -2.75, np.nan, 0.0])
    (i, b, u) = run("def f(float8_e4m3fn(N) a) -> (I, B, U) {\n  I(n) = int32(a(n))\n  B(n) = bool(a(n))\n"
                    "  U(n) = uint8(a(n))\n}", a)
    np.testing.assert_array_equal(i, np.array([2, -2, 0, 0], np.int32))
    np.testing.assert_array_equal(b, [True, True, True, False])
    np.testing.assert_array_equal(u, np.array([2, 254, 0, 0], np.uint8))


# User formats --------------------------------------------------------------------------------


def test_user_float_format_in_its_storage_integers():
    bits = np.array([ef.encode(FP7, v) for v in [1.125, 2.0, 15.0, -0.5]], np.uint8)
    (p, f) = run("def f(tst_fp7_e3m3(N) a) -> (P, F) {\n  P(n) = a(n) * a(n)\n  F(n) = float(a(n))\n}", bits)
    assert p.dtype == np.uint8
    # e3m3 fn (bias 3): 1.265625 -> 1.25; 4; 225 > max 15 -> NaN (0x3f); 0.25
    assert [ef.decode(FP7, int(v)) for v in p[[0, 1, 3]]] == [1.25, 4, 0.25]
    assert p[2] == 0x3F
    np.testing.assert_array_equal(f, np.array([1.125, 2.0, 15.0, -0.5], np.float32))


def test_fixed_point_saturates_rounds_and_is_sign_extended():
    q = np.array([ef.encode(Q44, v) for v in [7.9375, -1.5, 0.5, -8.0]]).astype(np.uint8).view(np.int8)
    assert q[1] == -24  # -1.5 * 16, sign-extended
    (s, m, c, d) = run("def f(tst_q4_4(N) q, float(N) x) -> (S, M, C, D) {\n  S(n) = q(n) + 1\n  M(n) = q(n) * q(n)\n"
                       "  C(n) = tst_q4_4(x(n))\n  D(n) = q(n) / 3\n}",
                       q, np.array([0.03125, 0.09375, 100.0, -0.04], np.float32))
    assert s.dtype == np.int8
    np.testing.assert_array_equal(s / 16, [7.9375, -0.5, 1.5, -7.0])  # saturates at the top
    np.testing.assert_array_equal(m / 16, [7.9375, 2.25, 0.25, 7.9375])
    # 0.5 and 1.5 sixteenths tie to even: 0 and 2/16; 100 saturates; -0.64/16 -> -1/16
    np.testing.assert_array_equal(c, np.array([0, 2, 127, -1], np.int8))
    # 7.9375 / 3 = 2.6458 -> 42.33/16 -> 42; -0.5; 0.1666 -> 2.67/16 -> 3; -2.6667 -> -42.67/16 -> -43
    np.testing.assert_array_equal(d, np.array([42, -8, 3, -43], np.int8))


def test_unsigned_fixed_point_wraps():
    u = np.array([ef.encode(U88, v) for v in [255.5, 1.0]], np.uint16)
    (s,) = run("def f(tst_u8_8(N) u) -> (S) {\n  S(n) = u(n) + 1\n}", u)
    assert s.dtype == np.uint16
    np.testing.assert_array_equal(s, np.array([128, 512], np.uint16))  # 256.5 wraps to 0.5


def test_fixed_point_division_by_zero_is_an_error():
    q = np.array([16, 0], np.int8)
    with pytest.raises(TcError, match="division by zero in the fixed-point format `tst_q4_4`"):
        run("def f(tst_q4_4(N) q) -> (D) {\n  D(n) = q(n) / q(1)\n}", q)
    (d,) = run("def f(tst_q4_4(N) q) -> (D) {\n  D(n) = q(n) != 0 ? q(0) / q(n) : q(n)\n}", q)
    np.testing.assert_array_equal(d, [16, 0])  # the lane dividing by zero is not evaluated


# Scalars and arguments --------------------------------------------------------------------------


def test_scalar_parameters_of_formats():
    a = f8([1.0, 2.0])
    (p,) = run("def f(float8_e4m3fn(N) a, float8_e4m3fn s) -> (P) {\n  P(n) = a(n) * s\n}", a, 0.3)
    same(p, f8([0.3125, 0.625]))  # 0.3 rounded to the format first
    (p,) = run("def f(float8_e4m3fn(N) a, float8_e4m3fn s) -> (P) {\n  P(n) = a(n) * s\n}", a, E4M3(0.5))
    same(p, f8([0.5, 1.0]))
    bits = np.uint8(ef.encode(FP7, 0.5))
    (p,) = run("def f(float(N) a, tst_fp7_e3m3 s) -> (P) {\n  P(n) = a(n) * s\n}", a.astype(np.float32), bits)
    np.testing.assert_array_equal(p, [0.5, 1.0])
    with pytest.raises(TcError, match=r'tcir.lowp.encode\(x, "tst_fp7_e3m3"\)'):
        run("def f(float(N) a, tst_fp7_e3m3 s) -> (P) {\n  P(n) = a(n) * s\n}", a.astype(np.float32), 0.5)


def test_arrays_must_have_the_format_dtype():
    with pytest.raises(TcError, match="must have dtype float8_e4m3fn"):
        run("def f(float8_e4m3fn(N) a) -> (P) {\n  P(n) = a(n)\n}", np.zeros(2, np.float32))


def test_outputs_and_temporaries_start_as_zero_bits():
    (o,) = run("def f(float8_e8m0fnu(N) a) -> (O) {\n  O(n) = a(n) where n in 1:N\n}",
               f8([1.0, 2.0], ml_dtypes.float8_e8m0fnu))
    assert o.view(np.uint8).tolist() == [0, 128]  # element 0 is never written: 2^-127, the zero bits
