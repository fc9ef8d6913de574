"""The NumPy reference evaluator (tcir/testing/reference.py) against hand-written NumPy.

Every expectation here is written independently of the evaluator: np.einsum, explicit
formulas, explicit Python loops, `math`, exact `fractions`, and (where the C library is
there) libm through ctypes.
"""

import ctypes
import ctypes.util
import math
import warnings
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import tcir.testing.reference as reference
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.frontend.builtins import ARITY
from tcir.testing.reference import bind_sizes, evaluate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = {p.stem: p.read_text() for p in sorted((ROOT / "examples").glob("*.tc"))}
BF16 = ml_dtypes.bfloat16


def define(source: str, name: str | None = None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        prog = check_source(source, "t.tc")
    if name is None:
        (d,) = prog.defs.values()
        return d
    return prog.defs[name]


def run(source: str, *args):
    return evaluate(define(source), *args)


def run1(source: str, *args):
    (out,) = run(source, *args)
    return out


def rand(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def close(got, want, rtol=2e-5, atol=1e-5):
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got.astype(np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


# The canonical examples ---------------------------------------------------------------

# the canonical examples of tc-language.md, and the three-layer MLP of docs/mixed-precision.md
CANONICAL = {"matmul", "tmm", "C3", "batch_matmul", "group_convolution", "fcrelu", "softmax",
             "kronecker3_1", "group_normalization", "2LUT", "maxpool2x2", "mlp3"}


def canonical(name):
    assert name in CANONICAL
    return define(EXAMPLES[name])


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 5, 4), (7, 1, 9), (4, 13, 1)])
def test_matmul_tmm_c3(rng, m, k, n):
    a, b, bt = rand(rng, (m, k)), rand(rng, (k, n)), rand(rng, (n, k))
    (c,) = evaluate(canonical("matmul"), a, b)
    assert c.dtype == np.float32
    close(c, np.einsum("mk,kn->mn", a.astype(np.float64), b))
    (c,) = evaluate(canonical("tmm"), a, bt)
    close(c, np.einsum("mk,nk->mn", a.astype(np.float64), bt))
    (c,) = evaluate(canonical("C3"), a, bt)
    close(c, a.astype(np.float64) @ bt.T.astype(np.float64))


@pytest.mark.parametrize("b,n,m,k", [(1, 1, 1, 1), (3, 2, 5, 4), (2, 7, 1, 3)])
def test_batch_matmul(rng, b, n, m, k):
    x, y = rand(rng, (b, n, m)), rand(rng, (b, m, k))
    (z,) = evaluate(canonical("batch_matmul"), x, y)
    close(z, np.einsum("bnm,bmk->bnk", x.astype(np.float64), y))


@pytest.mark.parametrize("N,G,C,F,H,W,KH,KW", [
    (1, 1, 1, 1, 1, 1, 1, 1), (2, 2, 3, 2, 5, 4, 3, 2), (1, 3, 1, 1, 3, 3, 1, 3), (2, 1, 2, 3, 4, 6, 4, 1)])
def test_group_convolution(rng, N, G, C, F, H, W, KH, KW):
    i, w1, b = rand(rng, (N, G, C, H, W)), rand(rng, (G, F, C, KH, KW)), rand(rng, (G, F))
    (o,) = evaluate(canonical("group_convolution"), i, w1, b)
    windows = sliding_window_view(i.astype(np.float64), (KH, KW), axis=(3, 4))  # n g c h w kh kw
    want = np.einsum("ngchwyx,gfcyx->ngfhw", windows, w1) + b[None, :, :, None, None]
    assert o.shape == (N, G, F, H - KH + 1, W - KW + 1)
    close(o, want)


@pytest.mark.parametrize("B,M,N", [(1, 1, 1), (3, 5, 4), (6, 2, 7)])
def test_fcrelu(rng, B, M, N):
    i, w1, b1 = rand(rng, (B, M)), rand(rng, (N, M)), rand(rng, (N,))
    (o,) = evaluate(canonical("fcrelu"), i, w1, b1)
    close(o, np.maximum(i.astype(np.float64) @ w1.T + b1, 0))


@pytest.mark.parametrize("B,M,N1,N2,N3", [(1, 1, 1, 1, 1), (3, 5, 4, 6, 2)])
def test_mlp3(rng, B, M, N1, N2, N3):
    x = [rand(rng, shape) for shape in ((B, M), (N1, M), (N1,), (N2, N1), (N2,), (N3, N2), (N3,))]
    (o,) = evaluate(canonical("mlp3"), *x)
    i, w1, b1, w2, b2, w3, b3 = (v.astype(np.float64) for v in x)
    h1 = np.maximum(i @ w1.T + b1, 0)
    h2 = np.maximum(h1 @ w2.T + b2, 0)
    close(o, h2 @ w3.T + b3)


@pytest.mark.parametrize("N,D", [(1, 1), (3, 7), (5, 2)])
def test_softmax(rng, N, D):
    i = rand(rng, (N, D)) * 3
    o, expsum, maxval = evaluate(canonical("softmax"), i)
    x = i.astype(np.float64)
    e = np.exp(x - x.max(1, keepdims=True))
    close(maxval, x.max(1))
    close(expsum, e.sum(1))
    close(o, e / e.sum(1, keepdims=True))


@pytest.mark.parametrize("M,N0,N1,N2,D2", [(1, 1, 1, 1, 1), (2, 3, 4, 5, 3), (3, 1, 2, 7, 1)])
def test_kronecker3_1(rng, M, N0, N1, N2, D2):
    w2, x = rand(rng, (D2, N2)), rand(rng, (M, N0, N1, N2))
    (o,) = evaluate(canonical("kronecker3_1"), w2, x)
    close(o, np.einsum("mabr,dr->mabd", x.astype(np.float64), w2))


@pytest.mark.parametrize("N,G,D,H,W", [(1, 1, 1, 1, 1), (2, 3, 2, 5, 3)])
def test_group_normalization(rng, N, G, D, H, W):
    i = rand(rng, (N, G, D, H, W))
    gamma, beta, mean = rand(rng, (G, D)), rand(rng, (G, D)), rand(rng, (N, G))
    var = np.abs(rand(rng, (N, G))) + np.float32(0.5)
    (o,) = evaluate(canonical("group_normalization"), i, gamma, beta, mean, var)
    g = gamma.astype(np.float64)[None, :, :, None, None]
    want = g * (i - mean[:, :, None, None, None]) / np.sqrt(var[:, :, None, None, None] + 1e-5) \
        + beta[None, :, :, None, None]
    close(o, want)


@pytest.mark.parametrize("B,D,L1,L2,E1,E2", [(1, 1, 1, 1, 1, 1), (3, 4, 5, 2, 7, 3), (2, 1, 3, 6, 2, 9)])
def test_2lut(rng, B, D, L1, L2, E1, E2):
    lut1, lut2 = rand(rng, (E1, D)), rand(rng, (E2, D))
    i1 = rng.integers(0, E1, (B, L1)).astype(np.int32)
    i2 = rng.integers(0, E2, (B, L2)).astype(np.int32)
    o1, o2 = evaluate(canonical("2LUT"), lut1, i1, lut2, i2)
    close(o1, lut1.astype(np.float64)[i1].sum(1))
    close(o2, lut2.astype(np.float64)[i2].sum(1))


@pytest.mark.parametrize("B,C,H,W", [(1, 1, 2, 2), (2, 3, 7, 5), (1, 2, 4, 9), (1, 1, 3, 2)])
def test_maxpool2x2(rng, B, C, H, W):
    i = rand(rng, (B, C, H, W))
    (o,) = evaluate(canonical("maxpool2x2"), i)
    ho, wo = H // 2, W // 2
    want = i[:, :, : 2 * ho, : 2 * wo].reshape(B, C, ho, 2, wo, 2).max(axis=(3, 5))
    assert o.shape == (B, C, ho, wo)
    np.testing.assert_array_equal(o, want)


def test_every_canonical_example_is_tested():
    assert CANONICAL == set(EXAMPLES)


def test_range_inference_examples_of_the_language_reference(rng):
    a, b = rand(rng, (5,)), rand(rng, (3,))
    o = run1("def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) + B(i) }", a, b)  # i in [0, min(N, M))
    np.testing.assert_array_equal(o, a[:3] + b)
    a, b = rand(rng, (3,)), rand(rng, (7,))
    o = run1("def f(float(N) A, float(M) B) -> (O) { O(j) +=! A(i) * B(i + j) }", a, b)
    close(o, [sum(float(a[i]) * float(b[i + j]) for i in range(3)) for j in range(5)])
    o = run1("def f(float(N) A) -> (O) { O(i) = A(i + 2) where i in 0:N - 2 }", b)
    np.testing.assert_array_equal(o, b[2:])


def test_strided_and_transposed_inputs(rng):
    a = rand(rng, (5, 8))[:, ::2]  # non-contiguous
    b = np.asfortranarray(rand(rng, (4, 3)))
    (c,) = evaluate(define(EXAMPLES["matmul"]), a, b)
    close(c, a.astype(np.float64) @ b)


def test_big_domains_are_split_without_changing_results(rng, monkeypatch):
    a, b = rand(rng, (5, 7)), rand(rng, (7, 3))
    src = EXAMPLES["matmul"]
    (whole,) = evaluate(define(src), a, b)
    monkeypatch.setattr(reference, "_CHUNK", 4)
    (split,) = evaluate(define(src), a, b)
    close(split, whole, rtol=1e-6)
    x = rng.integers(-100, 100, (6, 5)).astype(np.int32)
    out = run("def f(int32(N, K) X) -> (O) { O(i) +=! X(i, k) * X(i, k)\n s +=! X(i, k) }", x)
    np.testing.assert_array_equal(out[0], (x * x).sum(1))


# Reductions -------------------------------------------------------------------------------


REDUCE = {"+": np.sum, "*": np.prod, "min": np.min, "max": np.max}


@pytest.mark.parametrize("kind", ["+", "*", "min", "max"])
@pytest.mark.parametrize("dtype", ["float", "int32", "double", "int64"])
def test_reduction_with_init(rng, kind, dtype):
    npdt = np.dtype({"float": "float32", "double": "float64"}.get(dtype, dtype))
    a = rng.integers(-3, 4, (4, 5)).astype(npdt)
    o = run1(f"def f({dtype}(N, K) A) -> (O) {{ O(i) {kind}=! A(i, j) }}", a)
    assert o.dtype == npdt
    np.testing.assert_array_equal(o, REDUCE[kind](a, axis=1))


@pytest.mark.parametrize("kind", ["+", "*", "min", "max"])
def test_reduction_without_init_accumulates_into_the_existing_values(rng, kind):
    a, b = rand(rng, (3, 4)), rand(rng, (3,))
    o = run1(f"def f(float(N, K) A, float(N) B) -> (O) {{\n O(i) = B(i)\n O(i) {kind}= A(i, j)\n}}", a, b)
    combine = {"+": np.add, "*": np.multiply, "min": np.minimum, "max": np.maximum}[kind]
    close(o, combine(b.astype(np.float64), REDUCE[kind](a.astype(np.float64), axis=1)))


@pytest.mark.parametrize("kind,want", [("+", lambda a: a.sum(1)), ("*", lambda a: 0 * a[:, 0]),
                                       ("min", lambda a: np.minimum(0, a.min(1))),
                                       ("max", lambda a: np.maximum(0, a.max(1)))])
def test_reduction_without_init_into_a_fresh_output_starts_from_zero(rng, kind, want):
    a = rand(rng, (3, 5))
    src = f"def f(float(N, K) A) -> (O) {{ O(i) {kind}= A(i, j) }}"
    with pytest.warns(TcWarning, match="initial values are undefined"):
        d = check_source(src).defs["f"]
    close(evaluate(d, a)[0], want(a.astype(np.float64)))


def test_accumulating_without_reduction_variable_adds_once_per_point(rng):
    a = rand(rng, (6,))
    o = run1("def f(float(N) A) -> (O) {\n O(i) = A(i)\n O(i) += A(i)\n O(i) *= A(i)\n}", a)
    np.testing.assert_array_equal(o, (a + a) * a)


def test_rank0_output_and_empty_reductions():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    s, t = run("def f(float(N, K) A) -> (s, t) {\n s +=! A(i, k)\n t max=! A(i, k)\n}", a)
    assert s.shape == () and s.dtype == np.float32 and s == 15 and t == 5
    empty = np.zeros((3, 0), np.float32)
    o = run("def f(float(N, K) A) -> (S, P, MN, MX) {\n S(i) +=! A(i, k)\n P(i) *=! A(i, k)\n"
            " MN(i) min=! A(i, k)\n MX(i) max=! A(i, k)\n}", empty)
    for got, want in zip(o, [0, 1, np.inf, -np.inf]):
        np.testing.assert_array_equal(got, np.full(3, want, np.float32))
    ints = np.zeros((2, 0), np.int8)
    mn, mx = run("def f(int8(N, K) A) -> (MN, MX) {\n MN(i) min=! A(i, k)\n MX(i) max=! A(i, k)\n}", ints)
    assert mn.tolist() == [127, 127] and mx.tolist() == [-128, -128]


def test_min_max_propagate_nan_fmin_fmax_ignore_it():
    a = np.array([[1, np.nan, 3], [4, 5, 6]], np.float32)
    mn, mx, fm = run("def f(float(N, K) A) -> (MN, MX, FM) {\n MN(i) min=! A(i, k)\n MX(i) max=! A(i, k)\n"
                     " FM(i, k) = fmax(A(i, k), 2.0) + min(A(i, k), 10.0)\n}", a)
    assert np.isnan(mn[0]) and mn[1] == 4 and np.isnan(mx[0]) and mx[1] == 6
    np.testing.assert_array_equal(fm, np.fmax(a, 2) + np.minimum(a, 10))


def test_reduction_variable_only_in_where_and_a_let_binding(rng):
    a = rand(rng, (3, 4))
    o, p = run("def f(float(N, K) A) -> (O, P) {\n O(i) +=! 1.0 where r in 0:4, exists A(i, 0)\n"
               " P(i) +=! x * x where x = A(i, j)\n}", a)
    np.testing.assert_array_equal(o, np.full(3, 4, np.float32))
    close(p, (a.astype(np.float64) ** 2).sum(1))


# Self-reads: lexicographic order ---------------------------------------------------------


def test_prefix_sum_reads_the_values_stored_so_far(rng):
    x = rand(rng, (9,))
    o = run1("def f(float(N) X) -> (O) {\n O(i) = X(i)\n O(i) = O(i) + O(i - 1) where i in 1:N\n}", x)
    want = x.copy()
    for i in range(1, len(x)):
        want[i] = want[i] + want[i - 1]
    np.testing.assert_array_equal(o, want)


def test_reading_ahead_sees_the_old_values(rng):
    x = rand(rng, (7,))
    o = run1("def f(float(N) X) -> (O) {\n O(i) = X(i)\n O(i) = O(i + 1) * 2.0 + O(i) where i in 0:N - 1\n}", x)
    want = x.copy()
    for i in range(len(x) - 1):
        want[i] = want[i + 1] * np.float32(2) + want[i]
    np.testing.assert_array_equal(o, want)


def test_two_dimensional_recurrence(rng):
    x = rand(rng, (4, 5))
    o = run1("def f(float(N, M) X) -> (O) {\n O(i, j) = X(i, j)\n"
             " O(i, j) = O(i - 1, j) * 0.5 + O(i, j - 1) where i in 1:N, j in 1:M\n}", x)
    want = x.copy()
    for i in range(1, 4):
        for j in range(1, 5):
            want[i, j] = want[i - 1, j] * np.float32(0.5) + want[i, j - 1]
    np.testing.assert_array_equal(o, want)


def test_reduction_reading_the_element_it_accumulates(rng):
    a = rng.integers(-3, 4, (3, 5)).astype(np.int64)
    o, p = run("def f(int64(N, K) A) -> (int64(N) O, P) {\n O(i) +=! O(i) + A(i, j)\n P(i) = int64(1) where exists A(i, 0)\n P(i) *= P(i) + A(i, j)\n}", a)
    for i in range(3):
        acc, prod = 0, 1
        for j in range(5):
            acc = acc + (acc + int(a[i, j]))
            prod = prod * (prod + int(a[i, j]))
        assert o[i] == acc and p[i] == prod


def test_reduction_reading_another_element_of_its_target(rng):
    a = rng.integers(-3, 4, (3, 4)).astype(np.int32)
    o = run1("def f(int32(N, K) A) -> (O) {\n O(i) = 5 where exists A(i, 0)\n O(i) +=! A(i, j) + O(0)\n}", a)
    want = [0, 0, 0]  # the `!` sets every written element to 0 first
    for i in range(3):
        for j in range(4):
            want[i] += int(a[i, j]) + want[0]
    assert o.tolist() == want


# Guarded reads, indirect reads, out of bounds ---------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 8])
def test_guarded_read(rng, n):
    x = rand(rng, (n,))
    o = run1("def f(float(N) X) -> (O) { O(t) = X(t) + (t - 3 >= 0 ? X(t - 3) : 0.0) }", x)
    want = x.copy()
    want[3:] += x[:-3] if n > 3 else []
    np.testing.assert_array_equal(o, want)


def test_guarded_indirect_read_and_division():
    lut = np.array([10, 20, 30], np.float32)
    idx = np.array([2, -1, 0, 7], np.int32)
    o = run1("def f(float(E) L, int32(N) I) -> (O) { O(i) = I(i) >= 0 && I(i) < E ? L(I(i)) : -1.0 }", lut, idx)
    np.testing.assert_array_equal(o, [30, -1, 10, -1])
    a, b = np.array([7, 8, -9], np.int32), np.array([2, 0, 4], np.int32)
    o = run1("def f(int32(N) A, int32(N) B) -> (O) { O(i) = B(i) != 0 ? A(i) / B(i) : A(i) % 1 }", a, b)
    assert o.tolist() == [3, 0, -2]


def test_nested_selects_and_scalar_condition(rng):
    x = rand(rng, (5,))
    o = run1("def f(float(N) X) -> (O) { O(i) = i == 0 ? 1.0 : (i == N - 1 ? X(i - 1) : N > 3 ? X(i + 1) : 0.0) where exists X(i) }", x)
    want = [1.0, x[2], x[3], x[4], x[3]]
    np.testing.assert_array_equal(o, np.array(want, np.float32))


def test_out_of_bounds_indirect_read_is_an_error_naming_the_tensor():
    lut = np.zeros((4, 2), np.float32)
    idx = np.array([[0, 4]], np.int32)
    d = define(EXAMPLES["2LUT"])
    with pytest.raises(TcError, match=r"`LUT1` is read out of bounds: index 4 in dimension 0, whose extent is 4"):
        evaluate(d, lut, idx, lut, np.zeros((1, 1), np.int32))
    with pytest.raises(TcError, match="`L` is read out of bounds: index -1"):
        run("def f(float(E) L, int32(N) I) -> (O) { O(i) = L(I(i)) }", np.ones(3, np.float32),
            np.array([0, -1], np.int32))


def test_logical_operators_evaluate_both_operands():
    # Only `?:` guards a read: `&&` evaluates its right operand at every point.
    with pytest.raises(TcError, match="`L` is read out of bounds"):
        run("def f(float(E) L, int32(N) I) -> (O) { O(i) = I(i) >= 0 && L(I(i)) > 0.0 ? 1.0 : 0.0 }",
            np.ones(3, np.float32), np.array([0, -1], np.int32))


def test_out_of_bounds_through_an_explicit_range():
    with pytest.raises(TcError, match="`A` is read out of bounds"):
        run("def f(float(N) A) -> (O) { O(i) = A(i) where i in 0:N + 1 }", np.ones(3, np.float32))
    with pytest.raises(TcError, match="writes `O` out of bounds"):
        run("def f(float(N) A) -> (O) {\n O(i) = A(i)\n O(i) = 1.0 where i in 0:N + 1\n}", np.ones(3, np.float32))


def test_integer_division_by_zero_is_zero():
    o = run("def f(int32(N) A, int32(N) B) -> (O) { O(i) = A(i) / B(i) }",
            np.array([7, 7, -7], np.int32), np.array([2, 0, 0], np.int32))
    np.testing.assert_array_equal(o, [[3, 0, 0]])
    o = run("def f(uint8(N) A, uint8(N) B) -> (O) { O(i) = A(i) % B(i) }",
            np.array([7, 7], np.uint8), np.array([0, 4], np.uint8))
    np.testing.assert_array_equal(o, [[0, 3]])


# Temporaries, scalars, sizes --------------------------------------------------------------


def test_temporaries_are_used_but_not_returned(rng):
    a = rand(rng, (3, 4))
    out = run("def f(float(N, K) A) -> (O) {\n T(i) +=! A(i, k)\n U(i) = T(i) * 2.0\n O(i) = U(i) + T(i)\n}", a)
    assert len(out) == 1
    close(out[0], 3 * a.astype(np.float64).sum(1))


def test_scalar_parameters_and_sizes_as_values(rng):
    a = rand(rng, (5, 3))
    o = run1("def f(float(N, K) A, float alpha, int32 k) -> (O) { O(i, j) = alpha * A(i, j) + float(k) + K }",
             a, 0.1, 7)
    np.testing.assert_array_equal(o, np.float32(0.1) * a + np.float32(7) + np.float32(3))
    o = run1("def f(float(N) A, double s) -> (O) { O(i) = A(i) * s }", a[:, 0], np.float32(0.5))
    assert o.dtype == np.float64
    b = np.arange(8, dtype=np.float32).reshape(4, 2)
    m = run1("def f(float(N, K) A) -> (O) { O(n) +=! A(n, k) / K }", b)  # mean(n) / K in int32 -> float
    np.testing.assert_array_equal(m, b.mean(1))
    h = run1("def f(half(N) A, half s) -> (O) { O(i) = A(i) * s }", np.ones(2, np.float16), 1 / 3)
    assert h.dtype == np.float16 and h[0] == np.float16(1 / 3)


def test_literal_sizes_and_typed_outputs(rng):
    a = rand(rng, (4, 3))
    o = run1("def f(float(N, 3) A) -> (double(N) O) { O(i) +=! A(i, j) }", a)
    assert o.dtype == np.float64
    close(o, a.astype(np.float64).sum(1))
    with pytest.raises(TcError, match="dimension 1 of `A` must be 3, got 4"):
        run("def f(float(N, 3) A) -> (O) { O(i) +=! A(i, j) }", rand(rng, (3, 4)))


def test_offsets_leave_unwritten_elements_zero():
    a = np.array([1, 2, 3], np.float32)
    o = run1("def f(float(N) A) -> (O) { O(i) = A(i - 1) }", a)
    np.testing.assert_array_equal(o, [0, 1, 2, 3])


# Integer, bool, half and bfloat16 arithmetic -----------------------------------------------


def test_integers_wrap():
    a8, b8 = np.array([100, -100, 127], np.int8), np.array([100, -100, 1], np.int8)
    o = run1("def f(int8(N) A, int8(N) B) -> (O) { O(i) = A(i) + B(i) }", a8, b8)
    assert o.dtype == np.int8 and o.tolist() == [-56, 56, -128]
    u = np.array([200, 0, 1], np.uint8)
    o, n = run("def f(uint8(N) A) -> (O, Neg) {\n O(i) = A(i) + A(i)\n Neg(i) = -A(i)\n}", u)
    assert o.tolist() == [144, 0, 2] and n.tolist() == [56, 0, 255]
    big = np.array([2**31 - 1, -(2**31)], np.int32)
    o = run1("def f(int32(N) A) -> (O) { O(i) = A(i) * 3 + 1 }", big)
    assert o.tolist() == [(x * 3 + 1 + 2**31) % 2**32 - 2**31 for x in big.tolist()]
    o = run1("def f(int8(N) A) -> (O) { O(i) = A(i) + 1 }", a8)  # int8 + int32 literal is int32
    assert o.dtype == np.int32 and o.tolist() == [101, -99, 128]


def test_c_division_and_remainder():
    a = np.array([7, -7, 7, -7, 0, -(2**31)], np.int32)
    b = np.array([2, 2, -2, -2, 5, -1], np.int32)
    q, r = run("def f(int32(N) A, int32(N) B) -> (Q, R) {\n Q(i) = A(i) / B(i)\n R(i) = A(i) % B(i)\n}", a, b)
    assert q.tolist() == [3, -3, -3, 3, 0, -(2**31)]
    assert r.tolist() == [1, -1, 1, -1, 0, 0]
    for x, y, qq, rr in zip(a.tolist()[:5], b.tolist()[:5], q.tolist(), r.tolist()):
        assert qq == int(x / y) and rr == math.fmod(x, y)
    ua, ub = np.array([250, 7], np.uint8), np.array([7, 250], np.uint8)
    q, r = run("def f(uint8(N) A, uint8(N) B) -> (Q, R) {\n Q(i) = A(i) / B(i)\n R(i) = A(i) % B(i)\n}", ua, ub)
    assert q.tolist() == [35, 0] and r.tolist() == [5, 7]
    x, y = np.array([5.5, -5.5], np.float32), np.array([2, 2], np.float32)
    q, r = run("def f(float(N) X, float(N) Y) -> (Q, R) {\n Q(i) = X(i) / Y(i)\n R(i) = X(i) % Y(i)\n}", x, y)
    assert q.tolist() == [2.75, -2.75] and r.tolist() == [1.5, -1.5]


def test_casts():
    x = np.array([-2.7, 2.7, -0.5, 300.0], np.float32)
    t, w = run("def f(float(N) X) -> (T, W) {\n T(i) = int32(X(i))\n W(i) = uint8(int32(X(i)))\n}", x)
    assert t.tolist() == [-2, 2, 0, 300] and w.tolist() == [254, 2, 0, 44]
    y = np.array([0.0, -0.0, np.nan, 3.0], np.float64)
    b, f = run("def f(double(N) X) -> (B, F) {\n B(i) = bool(X(i))\n F(i) = float(X(i) > 1.0) + float(bool(int8(X(i) > 1.0)))\n}", y)
    assert b.tolist() == [False, False, True, True] and f.tolist() == [0, 0, 0, 2]
    i = np.array([-1, 70000, 2**31 - 1], np.int32)
    o = run1("def f(int32(N) I) -> (O) { O(i) = int16(I(i)) }", i)
    assert o.tolist() == [-1, 70000 - 65536, -1]


def test_bool_logic_and_nan_comparisons():
    a = np.array([1.0, np.nan, -1.0, 0.5], np.float32)
    b = np.array([2.0, np.nan, 2.0, 0.5], np.float32)
    o, ne, eq = run("def f(float(N) A, float(N) B) -> (O, NE, EQ) {\n"
                    " O(i) = A(i) > 0.0 && !(B(i) < 1.0) || A(i) == B(i)\n"
                    " NE(i) = A(i) != A(i)\n EQ(i) = (A(i) < B(i)) == (B(i) > A(i))\n}", a, b)
    assert o.dtype == np.bool_
    assert o.tolist() == [True, False, False, True]
    assert ne.tolist() == [False, True, False, False] and eq.all()


def test_float32_is_not_computed_in_double(rng):
    a, b, c = rand(rng, (50,)), rand(rng, (50,)), rand(rng, (50,))
    o = run1("def f(float(N) A, float(N) B, float(N) C) -> (O) { O(i) = A(i) * B(i) + C(i) / A(i) - 0.1 }", a, b, c)
    np.testing.assert_array_equal(o, a * b + c / a - np.float32(0.1))


@pytest.mark.parametrize("name,dtype", [("half", np.float16), ("bfloat16", BF16)])
def test_half_and_bfloat16_round_every_operation(rng, name, dtype):
    a, b = rand(rng, (4, 6), dtype), rand(rng, (4, 6), dtype)
    o, s = run(f"def f({name}(N, K) A, {name}(N, K) B) -> (O, S) {{\n O(i, k) = A(i, k) * B(i, k) + A(i, k)\n"
               f" S(i) +=! A(i, k) * B(i, k)\n}}", a, b)
    assert o.dtype == dtype and s.dtype == dtype
    np.testing.assert_array_equal(o, a * b + a)  # NumPy/ml_dtypes round each operation
    want = np.zeros(4, dtype)
    for k in range(6):  # lexicographic order, rounded after each step
        want = want + a[:, k] * b[:, k]
    np.testing.assert_array_equal(s, want)
    m = run1(f"def f({name}(N, K) A) -> (M) {{ M(i) max=! A(i, k) }}", a)
    np.testing.assert_array_equal(m, a.max(1))


def test_half_with_bfloat16_is_float_and_narrowing_casts_round_once():
    h, b = np.array([1.5], np.float16), np.array([2.25], BF16)
    o = run1("def f(half(N) H, bfloat16(N) B) -> (O) { O(i) = H(i) + B(i) }", h, b)
    assert o.dtype == np.float32 and o[0] == 3.75
    x = np.array([1 + 2**-8 + 2**-30, 1 + 2**-8, 1 + 3 * 2**-8, 1e39, -(1 + 2**-11 + 2**-40)], np.float64)
    bf, hf = run("def f(double(N) X) -> (B, H) {\n B(i) = bfloat16(X(i))\n H(i) = half(X(i))\n}", x)
    assert bf.astype(np.float64).tolist() == [1 + 2**-7, 1.0, 1 + 2**-6, math.inf, -1.0]
    assert hf.astype(np.float64).tolist() == [1 + 2**-8, 1 + 2**-8, 1 + 3 * 2**-8, math.inf, -(1 + 2**-10)]
    c = run1("def f(bfloat16(N) B) -> (O) { O(i) = B(i) * bfloat16(0.1) }", np.ones(1, BF16))
    assert c[0] == BF16(0.1) and float(c[0]) == 0.10009765625
    i = np.array([2**24 + 2**16 + 1, 3], np.int32)
    bi = run1("def f(int32(N) I) -> (O) { O(i) = bfloat16(I(i)) }", i)
    assert bi.astype(np.float64).tolist() == [2**24 + 2**17, 3]


# Builtins ---------------------------------------------------------------------------------


def _libm():
    path = ctypes.util.find_library("m")
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        for name in ("j0", "j1", "y0", "y1"):
            getattr(lib, name).restype = ctypes.c_double
            getattr(lib, name).argtypes = [ctypes.c_double]
        return lib
    except (OSError, AttributeError):
        return None


LIBM = _libm()


def _bessel_integral(n: int, x: float, modified: bool) -> float:
    """J_n / I_n by the trapezoidal rule over a full period (spectrally accurate)."""
    theta = np.arange(512) * (2 * np.pi / 512)
    if modified:
        return float(np.mean(np.exp(x * np.cos(theta)) * np.cos(n * theta)))
    return float(np.mean(np.cos(n * theta - x * np.sin(theta))))


def _cbrt(x):
    return math.copysign(abs(x) ** (1 / 3), x)


def _round(x):
    return math.copysign(math.floor(abs(x) + 0.5), x)


SQ2 = math.sqrt(2)

# name -> (points, expected function of float64 arguments or None for a round trip/identity check)
UNARY_POINTS = [-2.5, -0.7, -0.25, 0.0, 0.3, 0.5, 1.0, 1.7, 4.5]
SPECS = {
    "acos": ([-0.9, -0.2, 0.0, 0.4, 1.0], math.acos),
    "acosh": ([1.0, 1.5, 10.0, 1e5], math.acosh),
    "asin": ([-0.9, -0.2, 0.0, 0.4, 1.0], math.asin),
    "asinh": (UNARY_POINTS, math.asinh),
    "atan": (UNARY_POINTS, math.atan),
    "atanh": ([-0.9, -0.2, 0.0, 0.4, 0.99], math.atanh),
    "cbrt": (UNARY_POINTS + [27.0, -8.0], _cbrt),
    "ceil": (UNARY_POINTS, math.ceil),
    "cos": (UNARY_POINTS, math.cos),
    "cosh": (UNARY_POINTS, math.cosh),
    "cospi": ([0.1, 0.3, 1.7, -2.25, 5.1], lambda x: math.cos(math.pi * x)),
    "erf": (UNARY_POINTS, math.erf),
    "erfc": (UNARY_POINTS + [10.0], math.erfc),
    "erfcinv": ([1e-30, 1e-5, 0.3, 0.5, 1.0, 1.2, 1.99], None),
    "erfcx": ([-3.0, -0.5, 0.0, 0.5, 3.0, 10.0], lambda x: math.exp(x * x) * math.erfc(x)),
    "erfinv": ([-0.999, -0.3, 0.0, 0.1, 0.5, 0.8, 0.99999], None),
    "exp": (UNARY_POINTS, math.exp),
    "exp10": (UNARY_POINTS, lambda x: 10.0**x),
    "exp2": (UNARY_POINTS, lambda x: 2.0**x),
    "expm1": (UNARY_POINTS + [1e-10], math.expm1),
    "fabs": (UNARY_POINTS, math.fabs),
    "floor": (UNARY_POINTS, math.floor),
    "lgamma": ([-2.5, -0.7, 0.3, 1.0, 1.7, 4.5, 100.0], math.lgamma),
    "log": ([0.3, 0.5, 1.0, 1.7, 4.5, 1e10], math.log),
    "log10": ([0.3, 0.5, 1.0, 1.7, 4.5, 1e10], math.log10),
    "log1p": ([-0.7, -0.25, 0.0, 1e-12, 0.3, 4.5], math.log1p),
    "log2": ([0.3, 0.5, 1.0, 1.7, 4.5, 1e10], math.log2),
    "logb": ([-2.5, 0.3, 1.0, 1.7, 4.5, 1024.0, 1e-310], lambda x: float(math.frexp(x)[1] - 1)),
    "normcdf": (UNARY_POINTS + [-8.0], lambda x: 0.5 * math.erfc(-x / SQ2)),
    "normcdfinv": ([1e-10, 0.01, 0.3, 0.5, 0.9, 0.999], None),
    "rcbrt": ([-2.5, -0.7, 0.3, 1.0, 8.0], lambda x: 1 / _cbrt(x)),
    "round": ([-2.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -1.7, 4.5], _round),
    "rsqrt": ([0.3, 0.5, 1.0, 4.0, 1e10], lambda x: 1 / math.sqrt(x)),
    "sin": (UNARY_POINTS, math.sin),
    "sinh": (UNARY_POINTS, math.sinh),
    "sinpi": ([0.1, 0.3, 1.7, -2.25, 5.1], lambda x: math.sin(math.pi * x)),
    "sqrt": ([0.0, 0.3, 0.5, 1.0, 4.0, 1e10], math.sqrt),
    "tan": (UNARY_POINTS, math.tan),
    "tanh": (UNARY_POINTS, math.tanh),
    "tgamma": ([-2.5, -0.7, 0.3, 1.0, 1.7, 4.5, 20.0], math.gamma),
    "trunc": (UNARY_POINTS, lambda x: float(math.trunc(x))),
    "j0": ([0.3, 1.0, 3.7, 7.0, 13.3, 30.5, 100.25], lambda x: _bessel_integral(0, x, False)),
    "j1": ([-2.0, 0.3, 1.0, 3.7, 7.5, 13.3, 30.5, 100.25], lambda x: _bessel_integral(1, x, False)),
    "y0": ([0.3, 1.0, 3.7, 7.5, 13.3, 30.5, 100.25], None),
    "y1": ([0.3, 1.0, 3.7, 7.5, 13.3, 30.5, 100.25], None),
    "cyl_bessel_i0": ([-3.0, 0.0, 0.3, 1.0, 7.5, 30.0, 45.0], lambda x: _bessel_integral(0, x, True)),
    "cyl_bessel_i1": ([-3.0, 0.0, 0.3, 1.0, 7.5, 30.0, 45.0], lambda x: _bessel_integral(1, x, True)),
    "atan2": (([1.0, -1.0, 0.0, -2.0, 3.0], [2.0, 3.0, -1.0, -0.5, 0.0]), math.atan2),
    "copysign": (([1.0, -1.0, 2.5, 3.0], [-2.0, 3.0, -0.0, 0.0]), math.copysign),
    "fdim": (([5.0, 1.0, -2.0, 3.0], [2.0, 3.0, -5.0, 3.0]), lambda a, b: a - b if a > b else 0.0),
    "fdivide": (([1.0, -1.0, 2.5, 3.0], [3.0, 7.0, -0.5, 0.1]), lambda a, b: a / b),
    "fmax": (([1.0, -1.0, math.nan, 3.0], [2.0, -3.0, 5.0, math.nan]), lambda a, b: np.fmax(a, b)),
    "fmin": (([1.0, -1.0, math.nan, 3.0], [2.0, -3.0, 5.0, math.nan]), lambda a, b: np.fmin(a, b)),
    "fmod": (([5.5, -5.5, 7.0, 1e10], [2.0, 2.0, -3.0, 3.3]), math.fmod),
    "hypot": (([3.0, -1.0, 1e200, 0.0], [4.0, 7.0, 1e200, 0.0]), math.hypot),
    "nextafter": (([1.0, 1.0, 0.0, -2.0], [2.0, 0.0, -1.0, -2.0]), math.nextafter),
    "pow": (([2.0, 2.5, -2.0, 9.0, 0.0], [10.0, -1.5, 3.0, 0.5, 0.0]), math.pow),
    "remainder": (([5.5, 7.0, 5.0, -5.5, 1e10], [2.0, 2.0, 2.0, 2.0, 3.3]), math.remainder),
    "rhypot": (([3.0, -1.0, 1e200], [4.0, 7.0, 1e200]), lambda a, b: 1 / math.hypot(a, b)),
    "fma": (([1.0 + 2**-30, 2.0, -3.0], [1.0 - 2**-30, 3.0, 0.1], [-1.0, 1.0, 0.7]),
            lambda a, b, c: float(Fraction(a) * Fraction(b) + Fraction(c))),
    "norm3d": (([3.0, 1e200, 0.0], [4.0, 1e200, 0.0], [12.0, 1e200, 0.0]), math.hypot),
    "rnorm3d": (([3.0, 1e200, 1.0], [4.0, 1e200, 0.0], [12.0, 1e200, 0.0]), lambda *x: 1 / math.hypot(*x)),
    "norm4d": (([1.0, 2.0], [2.0, -3.0], [2.0, 6.0], [4.0, 0.5]), math.hypot),
    "rnorm4d": (([1.0, 2.0], [2.0, -3.0], [2.0, 6.0], [4.0, 0.5]), lambda *x: 1 / math.hypot(*x)),
}

# Relative tolerance in double, beyond the default 1e-14.
RTOL64 = {"j0": 1e-12, "j1": 1e-12, "cyl_bessel_i0": 1e-12, "cyl_bessel_i1": 1e-12, "erfcx": 1e-13,
          "tgamma": 1e-13, "lgamma": 1e-13, "cospi": 1e-13, "sinpi": 1e-13}


BESSEL_BY_INTEGRAL = {"j0", "j1", "cyl_bessel_i0", "cyl_bessel_i1"}


def test_every_builtin_has_a_spec():
    assert set(SPECS) == set(ARITY)


def _call(name: str, tc_type: str, columns):
    n = ARITY[name]
    params = ", ".join(f"{tc_type}(N) X{k}" for k in range(n))
    args = ", ".join(f"X{k}(i)" for k in range(n))
    dtype = np.float32 if tc_type == "float" else np.float64
    with np.errstate(over="ignore"):  # 1e200 is inf as a float
        arrays = [np.asarray(c, dtype) for c in columns]
    (out,) = run(f"def f({params}) -> (O) {{ O(i) = {name}({args}) }}", *arrays)
    assert out.dtype == dtype
    return arrays, out


def _check_inverse(name, xs, ys):
    for x, y in zip(xs, ys):
        if name == "erfinv":
            back = math.erf(y)
        elif name == "erfcinv":
            back = math.erfc(y)
        else:
            back = 0.5 * math.erfc(-y / SQ2)
        assert back == pytest.approx(x, rel=1e-13 * max(1.0, 2 * y * y), abs=1e-300)


@pytest.mark.parametrize("name", sorted(ARITY))
def test_builtin_in_double(name):
    points, want = SPECS[name]
    columns = [points] if ARITY[name] == 1 else list(points)
    arrays, out = _call(name, "double", columns)
    xs = [float(v) for v in arrays[0]]
    if want is None and name in ("y0", "y1"):
        _check_bessel_y(name, xs, out)
        return
    if want is None:
        _check_inverse(name, xs, [float(v) for v in out])
        return
    rtol = RTOL64.get(name, 1e-14)
    for k, got in enumerate(out.tolist()):
        expected = float(want(*(float(a[k]) for a in arrays)))
        if math.isnan(expected):
            assert math.isnan(got), (name, k)
        else:
            atol = 1e-15 if name in BESSEL_BY_INTEGRAL else 1e-300  # the integral rounds
            assert got == pytest.approx(expected, rel=rtol, abs=atol), (name, [float(a[k]) for a in arrays])


def _check_bessel_y(name, xs, out):
    # The Wronskian J1 Y0 - J0 Y1 = 2 / (pi x) ties Y to J (checked independently above).
    _, j0 = _call("j0", "double", [xs])
    _, j1 = _call("j1", "double", [xs])
    _, y0 = _call("y0", "double", [xs])
    _, y1 = _call("y1", "double", [xs])
    for x, a, b, c, d in zip(xs, j0, j1, y0, y1):
        assert b * c - a * d == pytest.approx(2 / (math.pi * x), rel=1e-13)
    known = {"y0": 0.088256964215676958, "y1": -0.78121282130028872}
    assert out[xs.index(1.0)] == pytest.approx(known[name], rel=1e-14)
    if LIBM is not None:  # glibc is accurate away from the zeros
        for x, got in zip(xs, out):
            assert got == pytest.approx(getattr(LIBM, name)(x), rel=1e-12)


@pytest.mark.parametrize("name", sorted(ARITY))
def test_builtin_in_float_matches_double_rounded(name):
    points, _ = SPECS[name]
    columns = [points] if ARITY[name] == 1 else list(points)
    arrays32, out32 = _call(name, "float", columns)
    # The float result is the double function of the float arguments, rounded to float.
    _, out64 = _call(name, "double", [a.astype(np.float64) for a in arrays32])
    if name == "nextafter":  # steps in float, not in double
        np.testing.assert_array_equal(out32, np.nextafter(arrays32[0], arrays32[1]))
        return
    if name == "fma":  # rounded once: exact with fractions
        for a, b, c, got in zip(*arrays32, out32):
            assert got == np.float32(float(Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))))
        return
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(out32, out64.astype(np.float32), rtol=1.2e-7, atol=1e-37)


def test_exact_builtins():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999999999999994, -0.0], np.float64)
    r = run1("def f(double(N) X) -> (O) { O(i) = round(X(i)) }", x)
    assert r.tolist() == [-3, -2, -1, 1, 2, 3, 0, 0] and math.copysign(1, r[-1]) == -1
    k = np.array([0, 0.5, 1, 1.5, 2, -0.5, -1, 3.5, 1e10 + 0.5, 123456.75], np.float64)
    s, c = run("def f(double(N) X) -> (S, C) {\n S(i) = sinpi(X(i))\n C(i) = cospi(X(i))\n}", k)
    assert s.tolist()[:9] == [0, 1, 0, -1, 0, -1, 0, -1, 1]
    assert c.tolist()[:9] == [1, 0, -1, 0, 1, 0, -1, 0, 0]
    assert s[-1] == pytest.approx(math.sqrt(0.5), rel=1e-15) and c[-1] == pytest.approx(-math.sqrt(0.5), rel=1e-15)
    specials = np.array([0.0, math.inf, -math.inf, math.nan], np.float64)
    lb, fd = run("def f(double(N) X) -> (L, D) {\n L(i) = logb(X(i))\n D(i) = fdim(X(i), 1.0)\n}", specials)
    assert lb.tolist()[:3] == [-math.inf, math.inf, math.inf] and math.isnan(lb[3])
    assert fd.tolist()[:3] == [0, math.inf, 0] and math.isnan(fd[3])


def test_bessel_and_inverse_special_values():
    x = np.array([0.0, math.inf, -1.0, math.nan], np.float64)
    j0, j1, y0, y1, i0, i1 = run("def f(double(N) X) -> (A, B, C, D, E, F) {\n A(i) = j0(X(i))\n B(i) = j1(X(i))\n"
                                 " C(i) = y0(X(i))\n D(i) = y1(X(i))\n E(i) = cyl_bessel_i0(X(i))\n"
                                 " F(i) = cyl_bessel_i1(X(i))\n}", x)
    assert j0.tolist()[:2] == [1, 0] and j0[2] == pytest.approx(0.76519768655796655, rel=1e-15)
    assert j1.tolist()[:2] == [0, 0] and j1[2] == pytest.approx(-0.44005058574493352, rel=1e-15)
    assert y0[0] == y1[0] == -math.inf and np.isnan(y0[2]) and np.isnan(y1[2])
    assert i0.tolist()[:2] == [1, math.inf] and i0[2] == pytest.approx(1.2660658777520084, rel=1e-15)
    assert i1[2] == pytest.approx(-0.56515910399248503, rel=1e-15)
    assert all(np.isnan(v[3]) for v in (j0, j1, y0, y1, i0, i1))
    if LIBM is not None:
        for name, out in (("j0", j0), ("j1", j1)):
            big = np.array([1e6 + 0.3, 1e15 + 7.0], np.float64)
            (got,) = run(f"def f(double(N) X) -> (O) {{ O(i) = {name}(X(i)) }}", big)
            for v, g in zip(big, got):
                assert g == pytest.approx(getattr(LIBM, name)(float(v)), rel=1e-9)
    p = np.array([0.0, 1.0, 2.0, -1.0, 1.5], np.float64)
    ei, ec, ni = run("def f(double(N) X) -> (A, B, C) {\n A(i) = erfinv(X(i) - 1.0)\n B(i) = erfcinv(X(i))\n"
                     " C(i) = normcdfinv(X(i) / 2.0)\n}", p)
    assert ei.tolist()[:3] == [-math.inf, 0, math.inf] and np.isnan(ei[3])
    assert ec.tolist()[:3] == [math.inf, 0, -math.inf] and np.isnan(ec[3])
    assert ni.tolist()[:3] == [-math.inf, 0, math.inf]


# Calling convention ----------------------------------------------------------------------


def test_bind_sizes():
    d = define("def f(float(M, K) A, float(K, 4) B, float alpha) -> (C) { C(m, n) +=! A(m, k) * B(k, n) * alpha }")
    a, b = np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32)
    assert bind_sizes(d, (a, b, 1.0)) == {"M": 2, "K": 3}
    with pytest.raises(TcError, match=r"`f` takes 3 arguments \(`A`, `B`, `alpha`\), got 2"):
        bind_sizes(d, (a, b))
    with pytest.raises(TcError, match=r"`A` of `f` has rank 2, got an array of rank 1"):
        bind_sizes(d, (np.zeros(3, np.float32), b, 1.0))
    with pytest.raises(TcError, match=r"dimension 0 of `B` is 5, but size `K` is 3 \(from dimension 1 of `A`\)"):
        bind_sizes(d, (a, np.zeros((5, 4), np.float32), 1.0))
    with pytest.raises(TcError, match=r"dimension 1 of `B` must be 4, got 2"):
        bind_sizes(d, (a, np.zeros((3, 2), np.float32), 1.0))
    with pytest.raises(TcError, match=r"`alpha` of `f` is a scalar parameter"):
        bind_sizes(d, (a, b, np.ones(2)))
    with pytest.raises(TcError, match=r"argument `A` of `f` must be a NumPy array"):
        bind_sizes(d, ([[1.0]], b, 1.0))


def test_argument_types_are_checked():
    d = define("def f(float(N) A, int8 k) -> (O) { O(i) = A(i) + float(k) }")
    a = np.zeros(3, np.float32)
    with pytest.raises(TcError, match=r"`A` must have dtype float32, got float64"):
        evaluate(d, a.astype(np.float64), 1)
    with pytest.raises(TcError, match=r"scalar `k` is `int8`, got the non-integer 1.5"):
        evaluate(d, a, 1.5)
    with pytest.raises(TcError, match=r"300 does not fit"):
        evaluate(d, a, 300)
    (o,) = evaluate(d, a, np.int64(-3))
    assert o.tolist() == [-3, -3, -3]
