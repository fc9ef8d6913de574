"""Range inference through `?:` branches (docs/language.md, "Reads in `?:` branches").

A read in a branch constrains like any read, except for the sides of its subscripts
that the guard proves. The programs below are the original TC's own (its concatenation
test, its masked convolution example) and padded / shifted reads; each is run through
the API and compared with a hand-written NumPy result at sizes where the guard cuts
(the edges), and with the NumPy reference evaluator.
"""

import warnings

import numpy as np
import pytest

import tcir
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.frontend.checked import TBinary, TConst, TIndex, TRead, TSelect, TSize, TUnary
from tcir.frontend.guards import Fact, facts_of, guard_limits, guard_slack, reads_with_guards
from tcir.frontend.ranges import AffineForm
from tcir.frontend.types import BOOL, FLOAT, INT32, UINT32
from tcir.sizeexpr import const, sym
from tcir.testing.reference import evaluate


def checked(source: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        return check_source(source, "g.tc")


def ranges_of(source: str, stmt: int = 0) -> dict[str, tuple[str, str]]:
    (d,) = checked(source).defs.values()
    return {v: (str(lo), str(hi)) for v, (lo, hi) in d.stmts[stmt].ranges.items()}


def run(source: str, entry: str, *inputs):
    """The API's result, checked against the reference evaluator too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        got = getattr(tcir.define(source), entry)(*inputs)
    ref = evaluate(checked(source).defs[entry], *inputs)
    got_t = got if isinstance(got, tuple) else (got,)
    for g, r in zip(got_t, ref, strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
    return got


def rand(rng, *shape):
    return rng.uniform(-2, 2, shape).astype(np.float32)


# Facts -------------------------------------------------------------------------------


def i(name):
    return TIndex(INT32, name)


def c(v):
    return TConst(INT32, v)


def b(op, x, y):
    return TBinary(BOOL if op in ("<", ">", "<=", ">=", "==", "!=", "&&", "||") else INT32, op, x, y)


def form(vars=(), sizes=(), k=0):
    return AffineForm(tuple(vars), tuple(sizes), k)


def ge(*args):
    return Fact(form(*args), ">=")


def ne(*args):
    return Fact(form(*args), "!=")


@pytest.mark.parametrize("cond, holds, facts", [
    (b(">=", b("-", i("t"), c(3)), c(0)), True, [ge([("t", 1)], (), -3)]),
    (b(">=", b("-", i("t"), c(3)), c(0)), False, [ge([("t", -1)], (), 2)]),  # t - 3 < 0
    (b("<", i("h"), TSize(INT32, "H")), True, [ge([("h", -1)], [("H", 1)], -1)]),
    (b("==", i("i"), c(0)), True, [ge([("i", 1)]), ge([("i", -1)])]),
    (b("==", i("i"), c(0)), False, [ne([("i", 1)])]),
    (b("!=", i("i"), TSize(INT32, "N")), True, [ne([("i", 1)], [("N", -1)])]),
    (b("&&", b(">", i("i"), c(0)), b("<=", i("i"), c(5))), True, [ge([("i", 1)], (), -1), ge([("i", -1)], (), 5)]),
    (b("&&", b(">", i("i"), c(0)), b("<=", i("i"), c(5))), False, []),  # a disjunction
    (b("||", b(">", i("i"), c(0)), b("<=", i("i"), c(5))), False, [ge([("i", -1)]), ge([("i", 1)], (), -6)]),
    (TUnary(BOOL, "!", b(">", i("i"), c(0))), True, [ge([("i", -1)])]),
    (TBinary(BOOL, ">=", TBinary(UINT32, "-", i("i"), c(3)), TConst(UINT32, 0)), True, []),  # unsigned: always true
    (TBinary(BOOL, "<", TBinary(FLOAT, "+", i("i"), c(1)), TConst(FLOAT, 2.5)), True, []),  # floats
    (b("<", TRead(INT32, "I", (i("b"),)), c(3)), True, []),  # not affine
])
def test_facts_of_a_condition(cond, holds, facts):
    assert list(facts_of(cond, holds)) == facts


def test_a_guard_proves_a_side_with_the_same_variable_part_and_a_provable_difference():
    t_minus_3 = ge([("t", 1)], (), -3)
    n = sym("N")
    assert guard_slack(form([("t", 1)], k=-3), (t_minus_3,), const(0), n) == (None, 0)
    assert guard_slack(form([("t", 1)], k=-2), (t_minus_3,), const(0), n) == (None, 0)
    assert guard_slack(form([("t", 1)], k=-4), (t_minus_3,), const(0), n) == (0, 0)
    assert guard_slack(form([("t", 2)], k=-3), (t_minus_3,), const(0), n) == (0, 0)
    # h + kh - 1 < H, i.e. H - h - kh >= 0, proves h + kh - 1 <= H - 1 in a dimension of extent H ...
    upper = ge([("h", -1), ("kh", -1)], [("H", 1)], 0)
    sub = form([("h", 1), ("kh", 1)], k=-1)
    assert guard_slack(sub, (upper,), const(0), sym("H")) == (0, None)
    # ... but not in one of extent W, nor in a written range [0, H - 1)
    assert guard_slack(sub, (upper,), const(0), sym("W")) == (0, 0)
    assert guard_slack(sub, (upper,), const(0), sym("H") - 1) == (0, 0)
    # a written range starting at 5 needs a guard proving s >= 5
    assert guard_slack(form([("h", 1)]), (ge([("h", 1)]),), const(5), n) == (0, 0)
    assert guard_slack(form([("h", 1)]), (ge([("h", 1)], (), -5),), const(5), n) == (None, 0)


def test_a_disequality_widens_a_side_by_the_values_it_excludes():
    n = sym("N")
    # i != N - 1 keeps X(i + 1) from reading X(N): the upper side may reach N.
    assert guard_slack(form([("i", 1)], k=1), (ne([("i", 1)], [("N", -1)], 1),), const(0), n) == (0, 1)
    # i != 0 (written `0 != i` too) keeps X(i - 1) from reading X(-1).
    assert guard_slack(form([("i", 1)], k=-1), (ne([("i", 1)]),), const(0), n) == (1, 0)
    assert guard_slack(form([("i", 1)], k=-1), (ne([("i", -1)]),), const(0), n) == (1, 0)
    # i != 0 and i != 1 keep X(i - 2) from both -2 and -1; i != 0 alone leaves -1 possible.
    assert guard_slack(form([("i", 1)], k=-2), (ne([("i", 1)]), ne([("i", 1)], (), -1)), const(0), n) == (2, 0)
    assert guard_slack(form([("i", 1)], k=-2), (ne([("i", 1)], (), -1),), const(0), n) == (1, 0)
    assert guard_slack(form([("i", 1)], k=-2), (ne([("i", 1)]),), const(0), n) == (0, 0)


def test_guard_limits_for_concrete_sizes():
    sub = form([("h", 1), ("kh", 1)], k=-1)
    facts = (ge([("h", 1), ("kh", 1)], (), -1), ge([("h", -1), ("kh", -1)], [("H", 1)], 0))
    assert guard_limits(sub, facts, {"H": 7}, -1, 8) == (0, 6)
    assert guard_limits(sub, facts, {"H": 7}, 2, 4) == (2, 4)
    assert guard_limits(sub, (), {"H": 7}, -1, 8) == (-1, 8)
    assert guard_limits(sub, None, {"H": 7}, -1, 8) == (-1, 8)
    # i != N - 1: X(i + 1) never reads X(N)
    plus1 = form([("i", 1)], k=1)
    assert guard_limits(plus1, (ne([("i", 1)], [("N", -1)], 1),), {"N": 5}, 1, 5) == (1, 4)
    # a guard that never holds where the read is
    assert guard_limits(plus1, (ge([("i", -1)], (), -3),), {}, 5, 9)[0] > 2


def test_reads_with_guards_walks_both_branches_and_nests():
    x = TRead(FLOAT, "X", (b("-", i("t"), c(1)),))
    y = TRead(FLOAT, "Y", (i("t"),))
    z = TRead(FLOAT, "Z", (i("t"),))
    cond_read = TRead(INT32, "C", (i("t"),))
    inner = TSelect(FLOAT, b(">", i("t"), c(2)), y, z)
    e = TSelect(FLOAT, b("&&", b(">=", i("t"), c(1)), b(">", cond_read, c(0))), x, inner)
    got = [(r.tensor, f) for r, f in reads_with_guards(e)]
    assert got == [
        ("C", None),
        ("X", (ge([("t", 1)], (), -1),)),
        ("Y", (ge([("t", 1)], (), -3),)),  # !(t >= 1 && ...) gives nothing, then t > 2
        ("Z", (ge([("t", -1)], (), 2),)),
    ]


# Inference ---------------------------------------------------------------------------

CONCAT = """def concat(float(M, N) A, float(M, N) B) -> (O1) {
    O1(n, i, m) = i == 0 ? A(m, n) : B(m, n) where i in 0:2
}"""


def test_the_original_concatenation_infers_its_ranges():
    assert ranges_of(CONCAT) == {"n": ("0", "N"), "i": ("0", "2"), "m": ("0", "M")}
    (d,) = checked(CONCAT).defs.values()
    assert [str(e) for e in d.outputs[0].shape] == ["N", "2", "M"]


def test_concatenation_without_where_names_the_index_nothing_bounds():
    with pytest.raises(TcError) as info:
        checked("def concat(float(M, N) A, float(M, N) B) -> (O) {\n"
                "    O(i, m, n) = i == 0 ? A(m, n) : B(m, n)\n}")
    assert info.value.message.startswith("cannot infer the range of `i`; add `where i in lo:hi`")
    assert (info.value.line, info.value.col) == (2, 18)


MASKED_CONV = """def masked_convolve(float(B, C, H, W) Input, float(F, C, K, K) Weights, uint8(F, C) Mask) -> (Output) {
    Output(b, f, h, w) +=! (Mask(f, r_c) == 1) ?
        fmax(0.0, Input(b, r_c, h + r_k1, w + r_k2)) * Weights(f, r_c, r_k1, r_k2) :
        0.0
}"""


def test_the_original_masked_convolution_infers_the_unmasked_ranges():
    assert ranges_of(MASKED_CONV) == {
        "b": ("0", "B"), "f": ("0", "F"), "h": ("0", "H - K + 1"), "w": ("0", "W - K + 1"),
        "r_c": ("0", "C"), "r_k1": ("0", "K"), "r_k2": ("0", "K")}


PADDED_CONV = """def pad_conv(float(N, H, W) I, float(KH) W1) -> (O) {
    O(n, h, w) +=! (h + kh - 1 >= 0 && h + kh - 1 < H) ? I(n, h + kh - 1, w) * W1(kh) : 0.0 where h in 0:H
}"""


def test_padded_convolution_bounds_the_unguarded_sides_only():
    # n, w from I; kh from W1 (the guard mentions kh but proves only h + kh - 1).
    assert ranges_of(PADDED_CONV) == {"n": ("0", "N"), "h": ("0", "H"), "w": ("0", "W"), "kh": ("0", "KH")}
    typed = PADDED_CONV.replace("-> (O)", "-> (float(N, H, W) O)").replace(" where h in 0:H", "")
    assert ranges_of(typed) == {"n": ("0", "N"), "h": ("0", "H"), "w": ("0", "W"), "kh": ("0", "KH")}


def test_padded_convolution_without_a_range_for_h_says_why():
    source = PADDED_CONV.replace(" where h in 0:H", "")
    with pytest.raises(TcError) as info:
        checked(source)
    assert info.value.message == (
        "cannot infer the range of `h`; add `where h in lo:hi`; the `?:` guard keeps "
        "`I(n, h + kh - 1, w)` in bounds, so it does not bound `h`")
    assert (info.value.line, info.value.col) == (2, 21)


def test_a_weaker_guard_proves_less():
    # t - 2 >= 0 does not prove X(t - 3) >= 0: that side still bounds t from below.
    assert ranges_of("def f(float(N) X) -> (O) { O(t) = t - 2 >= 0 ? X(t - 3) : 0.0 }") == {"t": ("3", "N + 3")}
    assert ranges_of("def f(float(N) X) -> (O) { O(t) = t - 4 >= 0 ? X(t - 3) : 0.0 }") == {"t": ("0", "N + 3")}


def test_the_else_branch_is_guarded_by_the_negated_condition():
    src = "def f(float(N) X) -> (O) { O(t) = t < 3 || t >= N + 3 ? 0.0 : X(t - 3) where t in 0:N + 5 }"
    (s,) = checked(src).defs["f"].stmts
    assert [str(x) for x in s.ranges["t"]] == ["0", "N + 5"]
    src = "def f(float(N) X) -> (O) { O(t) = t < 3 ? 0.0 : X(t - 3) }"
    assert ranges_of(src) == {"t": ("0", "N + 3")}


def test_a_disequality_guard_lets_a_neighbour_read_run_up_to_the_edge():
    # Each element with its neighbours; the ends are special-cased with `!=` / `==`.
    src = ("def f(float(N) X) -> (O) { O(i) = i == 0 ? 1.0 : "
           "(i == N - 1 ? X(i - 1) : N > 3 ? X(i + 1) : 0.0) where exists X(i) }")
    assert ranges_of(src) == {"i": ("0", "N")}
    src = "def f(float(N) X) -> (O) { O(i) = (i != N - 1 ? X(i + 1) : 0.0) + (i != 0 ? X(i - 1) : 0.0) + X(i) }"
    assert ranges_of(src) == {"i": ("0", "N")}
    # Without the guards the neighbours shrink the range.
    assert ranges_of("def f(float(N) X) -> (O) { O(i) = X(i + 1) + X(i - 1) + X(i) }".replace(
        "X(i) }", "X(i) where exists X(i) }")) == {"i": ("1", "N - 1")}


def test_a_guard_on_other_variables_proves_nothing():
    # The original's LU example: r_k >= m1 does not keep L(m1, r_k) in bounds.
    src = ("def lu(float(M, M) L, float(M, M) U) -> (LU) {\n"
           "  LU(m1, m2) +=! (r_k >= m1 && r_k <= m2) ? L(m1, r_k) * U(r_k, m2) : 0.0\n}")
    assert ranges_of(src) == {"m1": ("0", "M"), "m2": ("0", "M"), "r_k": ("0", "M")}


def test_guarded_reads_of_an_earlier_result_are_bounded_by_what_was_written():
    src = ("def f(float(N) X) -> (O) {\n  T(i) = X(i - 2)\n"  # T written for i in [2, N + 2)
           "  O(i) = i >= 2 ? T(i) : 0.0\n}")
    # i >= 2 proves T(i) >= 2, the start of what was written: only the upper side bounds i.
    assert ranges_of(src, 1) == {"i": ("0", "N + 2")}
    src = src.replace("i >= 2 ?", "i >= 1 ?")  # does not prove i >= 2
    assert ranges_of(src, 1) == {"i": ("2", "N + 2")}


# End to end through the API, against hand-written NumPy -----------------------------


@pytest.mark.parametrize("m, n", [(1, 1), (2, 3), (5, 4)])
def test_concatenation_runs(m, n):
    rng = np.random.default_rng(m * 10 + n)
    a, b_ = rand(rng, m, n), rand(rng, m, n)
    got = run(CONCAT, "concat", a, b_)
    np.testing.assert_array_equal(got, np.stack([a.T, b_.T], axis=1))


@pytest.mark.parametrize("bsz, c, f, h, k", [(1, 1, 1, 3, 1), (2, 3, 2, 5, 2), (1, 2, 3, 6, 3)])
def test_masked_convolution_runs(bsz, c, f, h, k):
    rng = np.random.default_rng(h)
    inp, wts = rand(rng, bsz, c, h, h + 1), rand(rng, f, c, k, k)
    mask = rng.integers(0, 2, (f, c)).astype(np.uint8)
    got = run(MASKED_CONV, "masked_convolve", inp, wts, mask)
    oh, ow = h - k + 1, h + 1 - k + 1
    want = np.zeros((bsz, f, oh, ow), np.float64)
    for y in range(oh):
        for x in range(ow):
            patch = np.maximum(inp[:, :, y:y + k, x:x + k].astype(np.float64), 0.0)
            want[:, :, y, x] = np.einsum("bckl,fckl,fc->bf", patch, wts, mask == 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("h, kh", [(1, 1), (1, 3), (2, 3), (5, 3), (4, 5)])
def test_padded_convolution_reads_only_where_the_guard_holds(h, kh):
    # Padding 1 on top: rows h + kh - 1 outside [0, H) read nothing, even at the edges
    # (h = 0 with kh = 0; the last rows with the largest kh).
    rng = np.random.default_rng(h * 7 + kh)
    inp, w1 = rand(rng, 2, h, 3), rand(rng, kh)
    got = run(PADDED_CONV, "pad_conv", inp, w1)
    padded = np.pad(inp.astype(np.float64), ((0, 0), (1, kh), (0, 0)))
    want = sum(padded[:, r:r + h, :] * w1[r] for r in range(kh))
    assert got.shape == (2, h, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    typed = PADDED_CONV.replace("-> (O)", "-> (float(N, H, W) O)").replace(" where h in 0:H", "")
    np.testing.assert_allclose(run(typed, "pad_conv", inp, w1), want, rtol=1e-5, atol=1e-5)


SHIFTS = """def shift(float(N) X) -> (P) {
    P(t) = t - 3 >= 0 ? X(t - 3) : 0.0
}
def stencil(float(N) X) -> (O) {
    O(t) = X(t) + (t - 3 >= 0 ? X(t - 3) : 0.0) + (t + 1 < N ? X(t + 1) : -1.0)
}
def pad2(float(N) X) -> (P) {
    P(t) = t >= 2 && t - 2 < N ? X(t - 2) : 0.5 where t in 0:N + 4
}"""


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_shifted_and_padded_reads_run(n):
    x = rand(np.random.default_rng(n), n)
    np.testing.assert_array_equal(run(SHIFTS, "shift", x), np.concatenate([np.zeros(3, np.float32), x]))
    want = x.astype(np.float64).copy()
    want[3:] += x[:-3] if n > 3 else []
    want += np.append(x[1:], -1.0)
    np.testing.assert_allclose(run(SHIFTS, "stencil", x), want, rtol=1e-6)
    np.testing.assert_array_equal(run(SHIFTS, "pad2", x), np.pad(x, 2, constant_values=0.5))


NEIGHBOURS = """def neighbours(float(N) X) -> (O) {
    O(i) = (i != N - 1 ? X(i + 1) : 0.0) + (i != 0 ? X(i - 1) : 0.0) + 2.0 * X(i)
}"""


@pytest.mark.parametrize("n", [1, 2, 5])
def test_neighbour_reads_guarded_by_disequalities_run(n):
    x = rand(np.random.default_rng(n), n)
    want = 2.0 * x.astype(np.float64)
    want[:-1] += x[1:]
    want[1:] += x[:-1]
    np.testing.assert_allclose(run(NEIGHBOURS, "neighbours", x), want, rtol=1e-6)


def test_a_guarded_read_inference_did_not_use_is_checked_at_call_time():
    from tcir import bounds
    (d,) = checked("def f(float(N) X) -> (O) { O(t) = t > 0 ? X(t) : 0.0 where t in 0:N + 1 }").defs.values()
    with pytest.raises(TcError, match="reads `X` at index 3"):
        bounds.check_call(d, {"N": 3})


def test_a_guarded_read_the_guard_proves_passes_the_call_time_check():
    from tcir import bounds
    d = checked(SHIFTS).defs["pad2"]
    bounds.check_call(d, {"N": 3})
