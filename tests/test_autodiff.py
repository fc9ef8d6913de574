"""tcir.grad: the generated gradient defs against central finite differences.

Every gradient is the source of a def `<entry>_grad(inputs, d_outputs) -> (d_inputs)`.
It must check with the front end, compile for the CPU, and its vector-Jacobian product
must match central finite differences (float64) of `sum(d_out * out)` computed with the
NumPy reference evaluator on the forward def; fcrelu, matmul and softmax are also
compared with torch.autograd when torch is importable. The builtins are checked one by
one with the reference evaluator (no compilation) and all together compiled.

Every canonical example is differentiated; 2LUT's indirect reads `LUT1(I1(b, r_l1), d)`
get a one-hot scatter-add (`d_LUT1(e1, d) +=! I1(b, r_l1) == e1 ? ... : 0`).
"""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from strategies import examples, tc_programs

import tcir
from tcir import TcError
from tcir.frontend import check_source
from tcir.frontend.types import TYPE_NAMES
from tcir.testing.reference import evaluate

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _double(src: str) -> str:
    return re.sub(r"\bfloat\b", "double", src)


def _quiet_check(src: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return check_source(src)


def _loss(d, args, d_outs) -> float:
    outs = evaluate(d, *args)
    return sum(float(np.sum(o.astype(np.float64) * g)) for o, g in zip(outs, d_outs) if g is not None)


def _finite_differences(d, args, d_outs, wrt_index: int) -> np.ndarray:
    x = args[wrt_index]
    scalar = np.ndim(x) == 0
    base = np.array(x, dtype=np.float64)
    grad = np.zeros_like(base)
    flat = base.reshape(-1)
    for k in range(flat.size):
        h = 1e-6 * max(1.0, abs(flat[k]))
        vals = []
        for sign in (1, -1):
            pert = flat.copy()
            pert[k] += sign * h
            new = list(args)
            new[wrt_index] = float(pert[0]) if scalar else pert.reshape(base.shape)
            vals.append(_loss(d, new, d_outs))
        grad.reshape(-1)[k] = (vals[0] - vals[1]) / (2 * h)
    return grad


def _d_outputs(d, outs, rng):
    return [rng.standard_normal(np.shape(o)) if t.dtype.is_float else None for o, t in zip(outs, d.outputs)]


def check_gradient(src: str, entry: str, args, wrt=None, compiled=True, seed=0, rtol=1e-5, atol=1e-6,
                   d_outs=None):
    """The gradient of `entry` (a double source) against finite differences; returns
    the generated source and the gradients."""
    d = _quiet_check(src).defs[entry]
    gsrc = tcir.grad(src, entry, wrt)
    program = _quiet_check(gsrc)  # the generated source checks
    gname = f"{entry}_grad"
    assert gname in program.defs
    rng = np.random.default_rng(seed)
    outs = evaluate(d, *args)
    if d_outs is None:
        d_outs = _d_outputs(d, outs, rng)
    names = [t.name for t in d.inputs]
    wrt_names = [n for n in names if d.tensors[n].dtype.is_float] if wrt is None else list(wrt)
    grad_args = list(args) + [g for g in d_outs if g is not None]
    if compiled:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = tcir.compile(gsrc, gname)(*grad_args)
    else:
        got = evaluate(program.defs[gname], *grad_args)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(wrt_names)
    for name, g in zip(wrt_names, got):
        expect = _finite_differences(d, args, d_outs, names.index(name))
        np.testing.assert_allclose(np.asarray(g, np.float64), expect, rtol=rtol, atol=atol,
                                   err_msg=f"d_{name} of {entry}\n{gsrc}")
    return gsrc, got


def _example(name: str) -> tuple[str, str]:
    src = _double((EXAMPLES / f"{name}.tc").read_text())
    return src, re.search(r"def (\w+)", src).group(1)


R = np.random.default_rng(1234)


def _r(*shape, lo=-1.0, hi=1.0):
    return R.uniform(lo, hi, shape)


EXAMPLE_ARGS = {
    "fcrelu": lambda: [_r(3, 4), _r(5, 4), _r(5)],
    "matmul": lambda: [_r(3, 4), _r(4, 2)],
    "tmm": lambda: [_r(3, 4), _r(2, 4)],
    "batch_matmul": lambda: [_r(2, 3, 4), _r(2, 4, 2)],
    "softmax": lambda: [_r(3, 4)],
    "group_normalization": lambda: [_r(2, 2, 2, 2, 3), _r(2, 2), _r(2, 2), _r(2, 2), _r(2, 2, lo=0.5, hi=1.5)],
    "group_convolution": lambda: [_r(1, 2, 2, 4, 4), _r(2, 2, 2, 2, 2), _r(2, 2)],
    "maxpool2x2": lambda: [_r(2, 2, 4, 5)],
    "kronecker3_1": lambda: [_r(2, 3), _r(2, 2, 2, 3)],
    "C3": lambda: [_r(2, 3), _r(4, 3)],
    "2LUT": lambda: [_r(5, 3), R.integers(0, 5, (4, 3)).astype(np.int32), _r(6, 3),
                     R.integers(0, 6, (4, 2)).astype(np.int32)],
}


@pytest.mark.parametrize("name", sorted(EXAMPLE_ARGS))
def test_canonical_examples(name):
    src, entry = _example(name)
    check_gradient(src, entry, EXAMPLE_ARGS[name]())


def test_indirect_reads_get_a_scatter_add():
    src, entry = _example("2LUT")
    text = tcir.grad(src, entry)
    assert "d_LUT1(e1, d) = 0\n    d_LUT1(I1(b, r_l1), d) += d_O1(b, d)\n" in text
    torch = pytest.importorskip("torch")
    args = EXAMPLE_ARGS["2LUT"]()
    d_outs = [R.standard_normal((4, 3)), R.standard_normal((4, 3))]
    _, got = check_gradient(src, entry, args, d_outs=d_outs)
    lut1, lut2 = (torch.tensor(a, requires_grad=True) for a in (args[0], args[2]))
    i1, i2 = (torch.tensor(a, dtype=torch.int64) for a in (args[1], args[3]))
    loss = (lut1[i1].sum(1) * torch.tensor(d_outs[0])).sum() + (lut2[i2].sum(1) * torch.tensor(d_outs[1])).sum()
    loss.backward()
    np.testing.assert_allclose(got[0], lut1.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got[1], lut2.grad.numpy(), rtol=1e-12)


def test_fcrelu_gradient_text():
    src, _ = _example("fcrelu")
    text = tcir.grad(src, "fcrelu")
    assert "d_W1(n, r_m) +=! d_O1_1(b, n) * I(b, r_m)" in text
    assert "d_B1(n) +=! d_O1_2(b, n)" in text
    assert text.startswith("def fcrelu_grad(double(B, M) I, double(N, M) W1, double(N) B1, double(B, N) d_O1)")
    # docs/autodiff.md shows the gradient of the float source as generated
    doc = (EXAMPLES.parent / "docs" / "autodiff.md").read_text()
    shown = re.search(r"```\n(def fcrelu_grad.*?\n}\n)```", doc, re.S).group(1)
    assert tcir.grad((EXAMPLES / "fcrelu.tc").read_text(), "fcrelu") == shown


# Hand-written constructs -----------------------------------------------------------------

ELEMENTWISE = """
def ew(double(N) A, double(N) B, double s) -> (O, P) {
    O(i) = A(i) * B(i) + A(i) / B(i) - -A(i) + min(A(i), B(i)) * max(A(i), 2.0 * B(i)) + s * A(i)
    P(i) = A(i) % B(i) + (A(i) - B(i)) * (A(i) - B(i)) - s / B(i)
}
"""


def test_elementwise():
    check_gradient(ELEMENTWISE, "ew", [_r(5, lo=0.2, hi=1), _r(5, lo=1.1, hi=2), 0.7])


REDUCTIONS = """
def red(double(N, M) A, double(M) x, double s) -> (y, tot, diag, shifted, neg, rep) {
    y(i) +=! s * A(i, j) * x(j)
    tot +=! A(i, j) * A(i, j)
    diag(i) = A(i, i) * x(0) where i in 0:N
    shifted(i) +=! A(i, j) * x(j + 1) where j in 0:M - 1
    neg +=! x(r + 2) * x(r + 2)
    rep(i) +=! A(i, 1) * s where k in 0:3
}
"""


def test_sum_reductions_and_subscripts():
    check_gradient(REDUCTIONS, "red", [_r(3, 4), _r(4), 1.3])


def test_wrt_subset():
    gsrc, got = check_gradient(REDUCTIONS, "red", [_r(3, 4), _r(4), 1.3], wrt=["s", "x"], compiled=False)
    assert "d_A" not in gsrc
    assert "d_s" in gsrc


PRODUCT = """
def prod(double(N, M) A) -> (P, Q) {
    P(i) *=! A(i, j)
    Q(j) *=! A(i, j) + 1.0
}
"""


def test_product_reduction():
    check_gradient(PRODUCT, "prod", [_r(3, 4)])


def test_product_reduction_with_zeros():
    A = np.array([[1.0, 2.0, 0.0, 3.0], [0.0, 2.0, 0.0, 5.0], [1.5, 2.0, 3.0, 4.0]])
    gsrc = tcir.grad("def p(double(N, M) A) -> (P) { P(i) *=! A(i, j) }", "p")
    g = np.array([1.0, 2.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = tcir.compile(gsrc, "p_grad")(A, g)
    expect = np.zeros_like(A)
    for i in range(3):
        for j in range(4):
            expect[i, j] = g[i] * np.prod(np.delete(A[i], j))
    np.testing.assert_allclose(got, expect)


MINMAX = """
def mm(double(N, M) A, double(M) b) -> (Mx, Mn) {
    Mx(i) max=! A(i, j) * b(j)
    Mn(j) min=! A(i, j) + b(j)
}
"""


def test_max_min_reductions():
    check_gradient(MINMAX, "mm", [_r(3, 4), _r(4)])


def test_max_ties_split_evenly():
    A = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, 1.0, 0.0, 4.0]])
    gsrc = tcir.grad("def m(double(N, M) A) -> (O) { O(i) max=! A(i, j) }", "m")
    g = np.array([1.0, 2.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = tcir.compile(gsrc, "m_grad")(A, g)
    hit = A == A.max(axis=1, keepdims=True)
    np.testing.assert_allclose(got, hit * (g / hit.sum(axis=1))[:, None])


def test_max_ties_as_torch_amax():
    torch = pytest.importorskip("torch")
    A = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [5.0, 1.0, 0.0, 4.0]])
    g = np.array([1.0, 2.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = tcir.compile(tcir.grad("def m(double(N, M) A) -> (O) { O(i) max=! A(i, j) }", "m"), "m_grad")(A, g)
    t = torch.tensor(A, requires_grad=True)
    torch.amax(t, dim=1).backward(torch.tensor(g))
    np.testing.assert_allclose(got, t.grad.numpy())


COMBINING = """
def comb(double(N, M) A, double(N) b) -> (Mx, Mn, P, Q) {
    Mx(i) = b(i)
    Mx(i) max= A(i, j)
    Mn(i) = b(i) * 2.0
    Mn(i) min= A(i, j) where i in 1:N
    P(i) = b(i)
    P(i) *= A(i, j) + 0.5
    Q(i) = A(i, 0)
    Q(i) *= b(i)
    Q(i) max= A(i, 1)
    Q(i) min= b(i) * A(i, 2)
}
"""


def test_accumulation_without_init_combines_with_the_previous_value():
    gsrc, _ = check_gradient(COMBINING, "comb", [_r(4, 3), _r(4)])
    assert "Mx_ties(i) += Mx_1(i) == Mx(i) ? 1 : 0" in gsrc  # the previous value is one more point
    assert "Q_2(i) = Q_1(i) * b(i)" in gsrc  # without a reduction variable: one combination per point


def _compiled_gradient(src, entry, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tcir.compile(tcir.grad(src, entry), f"{entry}_grad")(*args)


def test_max_without_init_splits_ties_as_amax_over_all_points():
    torch = pytest.importorskip("torch")
    src = "def m(double(N) b, double(N, M) A) -> (O) {\n O(i) = b(i)\n O(i) max= A(i, j)\n}"
    b = np.array([3.0, 1.0, 2.0])
    A = np.array([[1.0, 3.0, 3.0], [0.0, 1.0, 1.0], [2.0, 2.0, 5.0]])
    g = np.array([1.0, 2.0, -1.0])
    got_b, got_A = _compiled_gradient(src, "m", b, A, g)
    tb, tA = torch.tensor(b, requires_grad=True), torch.tensor(A, requires_grad=True)
    torch.amax(torch.cat([tb[:, None], tA], 1), dim=1).backward(torch.tensor(g))
    np.testing.assert_allclose(got_b, tb.grad.numpy())
    np.testing.assert_allclose(got_A, tA.grad.numpy())


def test_product_without_init_with_zeros():
    src = "def p(double(N) b, double(N, M) A) -> (O) {\n O(i) = b(i)\n O(i) *= A(i, j)\n}"
    b = np.array([0.0, 2.0, 0.0, 1.5])
    A = np.array([[1.0, 2.0, 3.0], [0.0, 2.0, 5.0], [0.0, 2.0, 3.0], [1.0, 2.0, 4.0]])
    g = np.array([1.0, 2.0, -1.0, 0.5])
    got_b, got_A = _compiled_gradient(src, "p", b, A, g)
    factors = np.concatenate([b[:, None], A], 1)
    expect = np.array([[g[i] * np.prod(np.delete(factors[i], k)) for k in range(4)] for i in range(4)])
    np.testing.assert_allclose(got_b, expect[:, 0])
    np.testing.assert_allclose(got_A, expect[:, 1:])


OWN_READS = """
def own(double(N) A, double(N) B) -> (O) {
    O(i) = A(i) * B(i)
    O(i) = O(i) * O(i) + (i + 2 < N ? O(i + 2) : 0.0)
    O(i) += B(i) * O(i)
    O(i) max= A(i) * O(i)
}
"""


def test_own_target_at_the_element_written_or_a_later_one():
    # `O(i + 2)` is written by a later point: it still holds the previous value
    check_gradient(OWN_READS, "own", [_r(5), _r(5)])


SELECT = """
def sel(double(N) X) -> (O, P, Q) {
    O(t) = X(t) + (t >= 3 ? X(t - 3) : 0.0)
    P(t) = t >= 2 && t - 2 < N ? X(t - 2) * X(t - 2) : 0.0 where t in 0:N + 4
    Q(t) = X(t) > 0.0 ? exp(X(t)) : X(t) * 3.0
}
"""


def test_select_and_guarded_reads():
    check_gradient(SELECT, "sel", [_r(6)])


PADDED = """
def pad(double(N, H) I, double(KH) W) -> (O) {
    O(n, h) +=! (h + kh - 1 >= 0 && h + kh - 1 < H) ? I(n, h + kh - 1) * W(kh) : 0.0 where h in 0:H
}
"""


def test_padded_convolution():
    check_gradient(PADDED, "pad", [_r(2, 5), _r(3)])


MULTI = """
def multi(double(N) A, double(N) B) -> (O, U) {
    O(i) = A(i) * A(i)
    O(i) = O(i) * B(i) where i in 1:N
    O(i) += A(i) * B(i)
    T(i) = exp(O(i))
    U(i) = T(i) + O(i)
    O(i) = T(i) * T(i) + O(i)
    T(i) = T(i) * B(i)
    U(i) += T(i)
}
"""


def test_several_writes_temporaries_and_earlier_results():
    gsrc, _ = check_gradient(MULTI, "multi", [_r(4), _r(4)])
    assert "O_1" in gsrc  # the value overwritten is kept under its own name


def test_casts_between_float_types():
    src = """
    def casts(float(N) F, double(N) A) -> (O, H) {
        O(i) = double(F(i)) * A(i)
        H(i) = float(A(i)) * F(i)
    }"""
    F = R.uniform(-1, 1, 4).astype(np.float32)
    A = R.uniform(-1, 1, 4)
    dO = R.standard_normal(4)
    dH = R.standard_normal(4).astype(np.float32)
    gsrc = tcir.grad(src, "casts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dF, dA = tcir.compile(gsrc, "casts_grad")(F, A, dO, dH)
    assert dF.dtype == np.float32 and dA.dtype == np.float64
    np.testing.assert_allclose(dF, (dO * A).astype(np.float32) + dH * A.astype(np.float32), rtol=1e-5)
    np.testing.assert_allclose(dA, dO * F + (dH * F).astype(np.float64), rtol=1e-5)


def test_gathers_and_non_affine_subscripts():
    src = """
    def g(double(N) A, double(E) L, int32(N) I, int64(N) J) -> (O) {
        O(i) = A(i) * L(I(i)) * L(J(i)) + L(2 * i + 1) * L(i * i) where i in 0:N
    }"""
    args = [_r(4), _r(10), np.array([2, 0, 1, 2], np.int32), np.array([1, 1, 3, 0], np.int64)]
    check_gradient(src, "g", args, wrt=["A"])
    gsrc, _ = check_gradient(src, "g", args)
    assert "d_L(J(i)) += " in gsrc and "d_L(i * i) += " in gsrc  # scatter-adds


# Builtins --------------------------------------------------------------------------------

# builtin -> its call on x (in [0.1, 0.9]) and y (in [1.1, 1.9])
UNARY_CALLS = {
    "exp": "exp(x)", "exp2": "exp2(x)", "exp10": "exp10(x)", "expm1": "expm1(x)", "log": "log(x)",
    "log2": "log2(x)", "log10": "log10(x)", "log1p": "log1p(x)", "sqrt": "sqrt(x)", "rsqrt": "rsqrt(x)",
    "cbrt": "cbrt(x)", "rcbrt": "rcbrt(x)", "sin": "sin(x)", "cos": "cos(x)", "tan": "tan(x)",
    "asin": "asin(x)", "acos": "acos(x)", "atan": "atan(x)", "sinh": "sinh(x)", "cosh": "cosh(x)",
    "tanh": "tanh(x)", "asinh": "asinh(x)", "acosh": "acosh(y)", "atanh": "atanh(x)", "sinpi": "sinpi(x)",
    "cospi": "cospi(x)", "erf": "erf(x)", "erfc": "erfc(x)", "erfcx": "erfcx(x)", "erfinv": "erfinv(x)",
    "erfcinv": "erfcinv(x)", "normcdf": "normcdf(x)", "normcdfinv": "normcdfinv(x)",
    "fabs": "fabs(x - 0.5)", "j0": "j0(x)", "j1": "j1(x)", "cyl_bessel_i0": "cyl_bessel_i0(x)",
    "cyl_bessel_i1": "cyl_bessel_i1(x)", "floor": "floor(3.0 * x) * x", "ceil": "ceil(3.0 * x) * x",
    "round": "round(3.0 * x) * x", "trunc": "trunc(3.0 * x) * x", "logb": "logb(y) * x",
    "pow": "pow(x, y)", "atan2": "atan2(x, y)", "hypot": "hypot(x, y)", "rhypot": "rhypot(x, y)",
    "fdivide": "fdivide(x, y)", "fmod": "fmod(y, x)", "remainder": "remainder(y, x)",
    "copysign": "copysign(x, y - 1.5)", "fdim": "fdim(y, x)", "fmax": "fmax(x, y - 1.0)",
    "fmin": "fmin(x, y - 1.0)", "fma": "fma(x, y, x * y)", "norm3d": "norm3d(x, y, x * y)",
    "rnorm3d": "rnorm3d(x, y, x)", "norm4d": "norm4d(x, y, x, y)", "rnorm4d": "rnorm4d(x, y, y, x)",
}


def _call_text(c: str) -> str:
    return re.sub(r"\bx\b", "X(i)", re.sub(r"\by\b", "Y(i)", c))


def _builtin_src(name: str, calls: list[str]) -> str:
    return f"def {name}(double(N) X, double(N) Y) -> (O) {{ O(i) = {' + '.join(_call_text(c) for c in calls)} }}"


BUILTIN_ARGS = [R.uniform(0.1, 0.9, 5), R.uniform(1.1, 1.9, 5)]


@pytest.mark.parametrize("fn", sorted(UNARY_CALLS))
def test_builtin_derivative(fn):
    check_gradient(_builtin_src("f", [UNARY_CALLS[fn]]), "f", BUILTIN_ARGS, compiled=False, rtol=1e-5, atol=1e-6)


def test_builtins_compiled_together():
    check_gradient(_builtin_src("allf", list(UNARY_CALLS.values())), "allf", BUILTIN_ARGS, rtol=1e-5, atol=1e-5)


def test_builtin_list_in_docstring_matches_rules():
    import tcir.autodiff
    from tcir.autodiff import rules

    doc = tcir.autodiff.__doc__
    for fn in rules.DIFFERENTIABLE_BUILTINS:
        assert re.search(rf"\b{fn}\b", doc), fn
        assert fn in UNARY_CALLS, fn


# Errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("src, wrt, message, line", [
    ("def f(double(N) A) -> (O) {\n  O(i) = lgamma(A(i))\n}", None, "`lgamma` is not differentiable", 2),
    ("def f(double(N) A) -> (O) {\n  O(i) = A(i)\n  O(i) = O(i) + (i > 0 ? O(i - 1) : 0.0)\n}", None,
     r"`O\(i - 1\)` at an element that an earlier point .* writes: a recurrence.*prefix sum", 3),
    ("def f(double(N) A) -> (O) {\n  O(i) = A(i)\n  O(i) = O(i) + O(N - 1 - i)\n}", None,
     "non-constant way: a recurrence", 3),
    ("def f(double(N, M) A) -> (O) {\n  O(i) = A(i, 0)\n  O(i) += O(i) * A(i, j)\n}", None,
     "inside a reduction over `j`", 3),
    ("def f(double(N, M) A) -> (O) {\n  O(i) = A(i, 0)\n  O(i) +=! O(i) * A(i, j)\n}", None,
     "its `!` has just set to the identity", 3),
    ("def f(double(N, M) A) -> (O) {\n  O(i) max= A(i, j)\n}", None, "which no earlier statement writes", 2),
    ("def f(double(N) A) -> (double(N) O, P) {\n  P(i) = A(i) * O(i)\n  O(i) = A(i)\n}", None,
     "`O` is read before any statement writes it", 2),
    ("def f(double(N) A, int32(N) I) -> (O) {\n  O(i) = A(i) * float(I(i))\n}", ["I"], "integer", 1),
    ("def f(double(N) A) -> (O) {\n  O(i) = A(i)\n}", ["Z"], "not a parameter", 1),
    ("def f(double(N) A) -> (O) {\n  O(i) = A(i)\n}", ["O"], "output or temporary", 1),
    ("def f(int32(N) A) -> (O) {\n  O(i) = A(i)\n}", None, "no float input", 1),
])
@pytest.mark.filterwarnings("ignore::tcir.errors.TcWarning")
def test_errors(src, wrt, message, line):
    with pytest.raises(TcError, match=message) as err:
        tcir.grad(src, "f", wrt)
    assert err.value.loc is not None and err.value.loc.line == line


def test_unknown_entry():
    with pytest.raises(TcError, match="no def `g`"):
        tcir.grad("def f(double(N) A) -> (O) { O(i) = A(i) }", "g")


# PyTorch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fcrelu", "matmul", "softmax"])
def test_against_torch_autograd(name):
    torch = pytest.importorskip("torch")
    src, entry = _example(name)
    args = EXAMPLE_ARGS[name]()
    d = _quiet_check(src).defs[entry]
    outs = evaluate(d, *args)
    rng = np.random.default_rng(7)
    d_outs = [rng.standard_normal(o.shape) for o in outs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = tcir.compile(tcir.grad(src, entry), f"{entry}_grad")(*args, *d_outs)
    got = got if isinstance(got, tuple) else (got,)
    ts = [torch.tensor(a, requires_grad=True) for a in args]
    if name == "fcrelu":
        I, W1, B1 = ts
        touts = [torch.maximum(I @ W1.T + B1, torch.zeros(()))]
    elif name == "matmul":
        touts = [ts[0] @ ts[1]]
    else:
        I, = ts
        mx = torch.amax(I, dim=1)
        e = torch.exp(I - mx[:, None])
        s = e.sum(dim=1)
        touts = [e / s[:, None], s, mx]
    loss = sum((o * torch.tensor(g)).sum() for o, g in zip(touts, d_outs))
    loss.backward()
    for g, t in zip(got, ts):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("src", [
    # a typed output written in part: the rest stays 0
    "def f(double(N) A) -> (double(N) O) { O(i) = A(i) * A(i) where i in 1:N }",
    # a rank-0 result read by a later statement
    "def f(double(N) A) -> (s, O) { s +=! A(i)\n O(i) = A(i) * s }",
    # a condition on the index only
    "def f(double(N) A) -> (O) { O(i) = i < 2 ? A(i) : sqrt(A(i)) }",
    # a binding and an `exists` clause
    "def f(double(N) A) -> (O) { O(i) = x * x where x = A(i) + 1.0, exists A(i) }",
])
def test_more_constructs_with_the_reference(src):
    check_gradient(src, "f", [R.uniform(0.2, 1.0, 4)], compiled=False)


# Random programs -------------------------------------------------------------------------

_FLOAT_TYPES = re.compile(r"\b(?:float|half|bfloat16|float16|float32|float64)\b")


def _in_double(value, spec):
    """An argument of a float parameter as float64 (the program is made double)."""
    if TYPE_NAMES[spec.type].is_float:
        return float(value) if spec.shape is None else np.array(value, np.float64)
    return value


def _directional(loss, x, direction) -> tuple[float, float]:
    """Central differences of `loss` at `x` along `direction`, at two steps: where they
    disagree the loss is not smooth there (a `max` tie, a `?:` boundary, a step)."""
    scale = max(1.0, float(np.max(np.abs(x))) if np.size(x) else 1.0)
    coarse, fine = ((loss(x + h * direction) - loss(x - h * direction)) / (2 * h)
                    for h in (1e-6 * scale, 1e-7 * scale))
    return coarse, fine


def _skip(reason: str) -> None:
    event(f"skipped: {reason}")
    assume(False)


def _in_double_precision(program) -> tuple[str, object]:
    """The source with every float type made `double`, and its entry def."""
    if not program.bounds or any(spec.special for spec in program.specs):
        _skip("special inputs (NaN, infinities, integer extremes)")
    src = _FLOAT_TYPES.sub("double", program.source)
    try:
        d = _quiet_check(src).defs[program.entry]
    except TcError:  # `O(i) = 3.0` makes a `float` tensor, which a later `double` cannot be stored into
        _skip("not valid with double types")
    if not any(t.dtype.is_float for t in d.inputs) or not any(t.dtype.is_float for t in d.outputs):
        _skip("no float input or output")
    return src, d


def _gradient_or_skip(src: str, entry: str) -> str:
    try:
        return tcir.grad(src, entry)
    except TcError as err:
        assert "internal error" not in str(err), str(err)
        _skip(f"refused: {err.message.split(':')[0][:60]}")


def _returns_tuple(kernel):
    def call(*args):
        out = kernel(*args)
        return out if isinstance(out, tuple) else (out,)
    return call


@settings(max_examples=examples(8))
@given(tc_programs(max_stmts=4))
@pytest.mark.filterwarnings("ignore::tcir.errors.TcWarning")
def test_gradients_of_random_programs(program):
    """Random float programs (in double) against central finite differences of the
    compiled forward kernel along a random direction per input. A program that
    `tcir.grad` refuses is skipped (hypothesis fails the test if it skips them all);
    internal errors fail it."""
    src, d = _in_double_precision(program)
    gsrc = _gradient_or_skip(src, program.entry)
    args = [_in_double(v, spec) for v, spec in zip(program.inputs(), program.specs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        forward = _returns_tuple(tcir.compile(src, program.entry))
        backward = _returns_tuple(tcir.compile(gsrc, re.match(r"def (\w+)", gsrc).group(1)))
    rng = np.random.default_rng(program.seed)
    d_outs = [rng.standard_normal(np.shape(o)).astype(np.asarray(o).dtype) if t.dtype.is_float else None
              for o, t in zip(forward(*args), d.outputs)]  # an output of float literals only stays `float`
    got = backward(*args, *[g for g in d_outs if g is not None])
    wrt = [k for k, t in enumerate(d.inputs) if t.dtype.is_float]
    for k, g in zip(wrt, got, strict=True):
        def loss(x, k=k):
            new = list(args)
            new[k] = float(x) if np.ndim(args[k]) == 0 else x
            return sum(float(np.sum(np.asarray(o, np.float64) * w)) for o, w in zip(forward(*new), d_outs)
                       if w is not None)

        base = np.asarray(args[k], np.float64)
        if not np.isfinite(loss(base)):
            _skip("a value not finite")
        direction = rng.uniform(-1, 1, np.shape(base))
        coarse, fine = _directional(loss, base, direction)
        exact = float(np.sum(np.asarray(g, np.float64) * direction))
        tol = 1e-4 * max(1.0, abs(exact), abs(coarse))
        if abs(coarse - fine) > tol:
            _skip("not smooth within the step")
        assert abs(exact - coarse) <= tol, f"d_{d.inputs[k].name}: {exact} != {coarse}\n{src}\n{gsrc}"
    event("checked")


def test_a_forward_scatter_add_gets_a_gather():
    """The adjoint of `T(I(b, l), d) += ...` for G is a gather from T's adjoint; W's
    adjoint passes through the scatter unchanged. Repeated indices add up."""
    src = """
    def emb(double(E, D) W, int32(B, L) I, double(B, D) G) -> (T) {
        T(e, d) = W(e, d) * 2.0
        T(I(b, l), d) += G(b, d) * G(b, d)
    }"""
    args = [_r(5, 3), np.array([[0, 4], [4, 4], [2, 0]], np.int32), _r(3, 3)]
    gsrc, _ = check_gradient(src, "emb", args)
    # a gather, 0 where the forward skipped an index outside T
    assert "d_G(b, d) +=! (I(b, l) >= 0 && I(b, l) < E ? d_T_total(I(b, l), d) : 0) * G(b, d)" in gsrc
    check_gradient(src, "emb", args, compiled=False)


def test_gather_gradients_are_scatter_adds_against_torch():
    """An embedding bag with repeated rows: the scatter-add of the gradient against
    PyTorch's autograd, through tcir.grad compiled and through the reference."""
    torch = pytest.importorskip("torch")
    src = "def bag(double(E, D) W, int64(B, L) I) -> (O) { O(b, d) +=! W(I(b, r_l), d) }"
    W, I = _r(50, 4), np.random.default_rng(1).integers(0, 50, (7, 6))
    I[0, :3] = 11
    d_O = _r(7, 4)
    gsrc = tcir.grad(src, "bag")
    assert "d_W(I(b, r_l), d) += d_O(b, d)" in gsrc
    w = torch.tensor(W, requires_grad=True)
    (w[torch.tensor(I)].sum(1) * torch.tensor(d_O)).sum().backward()
    np.testing.assert_allclose(tcir.compile(gsrc, "bag_grad")(W, I, d_O), w.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(evaluate(_quiet_check(gsrc).defs["bag_grad"], W, I, d_O)[0], w.grad.numpy(),
                               rtol=1e-12)


def test_a_guarded_read_bounds_only_its_own_branch():
    """A change of variables used to guard the whole adjoint statement by the bounds of a
    read inside a `?:` branch, dropping the points where the other branch ran (found by
    the random programs: d_D(1, 1, 1) was 0)."""
    src = """def f(double(N) C, double(3, L, 3) D) -> (O0) {
        O0(i, j) min=! C(r) - r + (2 * j + 1 < 3 && 2 * r - 1 >= 0 && 2 * r - 1 < L && 2 * i + 1 < 3
                                   ? D(2 * j + 1, 2 * r - 1, 2 * i + 1) : D(i + j, i, i))
    }"""
    check_gradient(src, "f", [_r(5), _r(3, 5, 3, lo=-2.0, hi=2.0)], d_outs=[_r(3, 1)])


def test_a_guarded_gather_with_padding_indices_and_a_scalar_index():
    """`I(i) >= 0 ? LUT(I(i)) : 0` with I = -1 (padding): the scatter-add's index is
    clamped where the read did not run, so the reference runs it too; `LUT(s)` with a
    scalar index `s` scatters at `s`."""
    src = "def f(double(E) LUT, int32(N) I) -> (O) { O(i) = I(i) >= 0 ? LUT(I(i)) * LUT(I(i)) : 0.0 }"
    args = [_r(5), np.array([0, -1, 2, 2, -1], np.int32)]
    check_gradient(src, "f", args)
    check_gradient(src, "f", args, compiled=False)
    gsrc, _ = check_gradient("def g(double(E) LUT, int32 s) -> (O) { O(i) = LUT(s) * i where i in 0:3 }", "g",
                             [_r(5), 3])
    assert "d_LUT(s) += " in gsrc
