"""Range inference semantics the original TC had (docs/language.md, "The rules"): a
left-side index may not start below 0, earlier writes bound later reads, and the `<=>`
annotation of the original grammar. Results are checked through the API against
hand-written NumPy."""

import warnings

import numpy as np
import pytest

import tcir
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source, parse
from tcir.frontend.lexer import Lexer


def checked(source: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        return check_source(source, "s.tc")


def ranges_of(source: str, stmt: int = 0) -> dict[str, tuple[str, str]]:
    (d,) = checked(source).defs.values()
    return {v: (str(lo), str(hi)) for v, (lo, hi) in d.stmts[stmt].ranges.items()}


def error(source: str) -> TcError:
    with pytest.raises(TcError) as info:
        checked(source)
    return info.value


def call(source: str, entry: str, *inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        return getattr(tcir.define(source), entry)(*inputs)


# A left-side index starting below 0 --------------------------------------------------


def test_the_original_shift_example_is_an_error_not_a_silent_cut():
    # Original TC: O(i) = I(i + 5) gave O the index range [-5, I_0 - 5). tcir used to
    # cut it to [0, I_0 - 5) silently, dropping I(0..4).
    err = error("def fun(float(I_0) I) -> (O) {\n  O(i) = I(i + 5)\n}")
    assert err.message == ("`I(i + 5)` would make `i` start at -5 (it allows `i` in [-5, I_0 - 5)), but `i` "
                           "indexes `O`, whose indices start at 0; shift the subscripts or give the range, "
                           "e.g. `where i in 0:I_0 - 5`")
    assert (err.file, err.line, err.col) == ("s.tc", 2, 10)


@pytest.mark.parametrize("source", [
    "def f(float(N) A) -> (O) { O(i) = A(2 * i + 3) }",
    "def f(float(N, M) A) -> (O) { O(i, j) +=! A(i + 1, j) }",
    "def f(float(N) A) -> (O) { O(i) = A(i + N + 1) }",
])
def test_every_provably_negative_start_is_an_error(source):
    assert "would make `i` start at" in error(source).message


def test_a_negative_bound_that_another_access_overrides_is_fine():
    assert ranges_of("def f(float(N) A) -> (O) { O(i) = A(i + 1) * A(i) }") == {"i": ("0", "N - 1")}


def test_the_suggested_fix_computes_the_shift(n=7):
    a = np.arange(n, dtype=np.float32)
    got = call("def f(float(N) A) -> (O) { O(i) = A(i + 5) where i in 0:N - 5 }", "f", a)
    np.testing.assert_array_equal(got, a[5:])


def test_a_start_negative_for_some_sizes_is_refused_at_call_time():
    source = "def f(float(N) A) -> (O) { O(i) = A(i + 3 - N) }"
    assert ranges_of(source) == {"i": ("N - 3", "2 * N - 3")}
    a = np.arange(5, dtype=np.float32)
    got = call(source, "f", a)  # N = 5: i in [2, 7)
    np.testing.assert_array_equal(got, np.concatenate([[0, 0], a]))
    with pytest.raises(TcError, match="writes `O` at index -1"):
        call(source, "f", np.arange(2, dtype=np.float32))


def test_a_start_below_zero_in_a_where_range_is_still_reported_there():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i + 1) where i in -1:N - 1\n}")
    assert err.message == "`i` starts at -1, but it indexes `O`, whose indices start at 0"


# Earlier writes bound later reads ----------------------------------------------------

PADDED_CONV = """def convolution(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (pad, tmp) {
    pad(n, c, h, w)  = I(n, c, h - 2 - 3, w - 3 - 4)
    tmp(n, m, h, w) +=! pad(n, c, 2 * h + kh, 3 * w + kw) * W1(m, c, kh, kw)
}"""


def test_the_original_padded_convolution_inference():
    # The original's test_inference.cc PaddedConv: pad has mins (0, 0, 5, 7) and tmp mins
    # (0, 0, 3, 3), extents ((H - KH) + 1) / 2 and ((W - KW) + 1) / 3.
    assert ranges_of(PADDED_CONV, 0) == {"n": ("0", "N"), "c": ("0", "C"), "h": ("5", "H + 5"), "w": ("7", "W + 7")}
    r = checked(PADDED_CONV).defs["convolution"].stmts[1].ranges
    for H in range(4, 14):
        for KH in range(1, 4):
            env = {"H": H, "KH": KH, "W": H + 1, "KW": KH}
            lo, hi = r["h"][0].evaluate(env), r["h"][1].evaluate(env)
            assert lo == 3 and hi - lo == (H - KH + 1) // 2
            lo, hi = r["w"][0].evaluate(env), r["w"][1].evaluate(env)
            assert lo == 3 and hi - lo == (H + 1 - KH + 1) // 3


@pytest.mark.parametrize("h, kh", [(4, 1), (6, 3), (9, 2)])
def test_the_padded_convolution_runs(h, kh):
    rng = np.random.default_rng(h)
    n, c, m, w = 2, 3, 2, h + 2
    inp = rng.uniform(-1, 1, (n, c, h, w)).astype(np.float32)
    w1 = rng.uniform(-1, 1, (m, c, kh, kh)).astype(np.float32)
    bias = np.zeros(m, np.float32)
    pad, tmp = call(PADDED_CONV, "convolution", inp, w1, bias)
    want_pad = np.zeros((n, c, h + 5, w + 7), np.float32)
    want_pad[:, :, 5:, 7:] = inp
    np.testing.assert_array_equal(pad, want_pad)
    oh, ow = (h - kh + 5) // 2 + 1, (w - kh + 7) // 3 + 1
    want = np.zeros((n, m, oh, ow), np.float64)
    for y in range(3, oh):
        for x in range(3, ow):
            patch = want_pad[:, :, 2 * y:2 * y + kh, 3 * x:3 * x + kh].astype(np.float64)
            want[:, :, y, x] = np.einsum("nckl,mckl->nm", patch, w1)
    assert tmp.shape == want.shape
    np.testing.assert_allclose(tmp, want, rtol=1e-5, atol=1e-5)


def test_a_later_read_is_bounded_by_the_range_written_not_the_allocation():
    src = "def f(float(N) X) -> (O) {\n  T(i) = X(i) where i in 2:N\n  O(i) = T(i) * 2.0\n}"
    assert ranges_of(src, 1) == {"i": ("2", "N")}
    x = np.arange(1, 7, dtype=np.float32)
    np.testing.assert_array_equal(call(src, "f", x), np.concatenate([[0, 0], 2 * x[2:]]))


def test_the_written_range_is_the_box_of_every_earlier_write():
    src = ("def f(float(N) X) -> (float(N) T, O) {\n  T(i) = X(i) where i in 3:N\n"
           "  T(i) = X(i) + 1.0 where i in 1:3\n  O(i) = T(i)\n}")
    assert ranges_of(src, 2) == {"i": ("1", "max(N, 3)")}
    src = ("def f(float(N) X, float(M) Y) -> (float(N) T, O) {\n  T(i) = X(i) where i in 1:2\n"
           "  T(i) = X(i) where i in 0:M\n  O(i) = T(i)\n}")
    assert ranges_of(src, 2) == {"i": ("0", "max(2, M)")}


def test_a_write_is_still_bounded_by_the_shape():
    # The second statement may write where the first did not.
    src = "def f(float(N) X) -> (T) {\n  T(i) = X(i) where i in 2:N\n  T(i) = 1.0 where exists X(i)\n}"
    assert ranges_of(src, 1) == {"i": ("0", "N")}


# `<=>` -------------------------------------------------------------------------------

ANNOTATED = """def fun(float(X,Y) A, float(Y,Z) B) -> (O) {
    O(i,j) +=! A(i,k) * B(k,j) <=> matmul(A(i,k), B(k,j))
}
def sig(float(B, N, M) X) -> (Z) {
    Z(b, i, j) = 1 / (1 + exp(-X(b, i, j))) <=> sigmoid(X(b, i, j))
}"""


def test_the_annotation_lexes_as_one_token():
    kinds = [t.kind for t in Lexer("a <=> b <= c").tokens()]
    assert kinds == ["ident", "<=>", "ident", "<=", "ident", "eof"]


def test_the_annotation_is_parsed():
    (stmt,) = parse(ANNOTATED).defs[0].stmts
    assert stmt.equivalent.name == "matmul" and len(stmt.equivalent.args) == 2
    assert (stmt.equivalent.loc.line, stmt.equivalent.loc.col) == (2, 32)


def test_the_annotation_is_checked_then_ignored():
    program = checked(ANNOTATED)
    plain = checked(ANNOTATED.replace(" <=> matmul(A(i,k), B(k,j))", "").replace(" <=> sigmoid(X(b, i, j))", ""))
    for name in ("fun", "sig"):
        for s, p in zip(program.defs[name].stmts, plain.defs[name].stmts, strict=True):
            assert (s.ranges, s.rhs, s.iterators, s.kind) == (p.ranges, p.rhs, p.iterators, p.kind)
    # Its reads bound nothing: only A bounds i here.
    assert ranges_of("def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) <=> copy(B(i + 1)) }") == {"i": ("0", "N")}
    # It issues no warning (an integer division used as a float would).
    checked("def f(float(N) A) -> (O) { O(i) = A(i) <=> scale(A(i) * (1 / N)) }")


def test_the_annotated_program_runs():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-1, 1, (3, 4)).astype(np.float32), rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    np.testing.assert_allclose(call(ANNOTATED, "fun", a, b), a @ b, rtol=1e-5)
    x = rng.uniform(-3, 3, (2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(call(ANNOTATED, "sig", x), 1 / (1 + np.exp(-x)), rtol=1e-5)


@pytest.mark.parametrize("source, message", [
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) <=> copy(Q(i))\n}", "unknown tensor or function `Q`"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) <=> copy(A(i, i))\n}",
     "`A` has rank 1 but is subscripted with 2 indices"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) <=> copy(A(j))\n}", "index `j` appears only in the `<=>` annotation"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) <=> (A(i))\n}", "expected the name of an operation after `<=>`"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) <=> copy + 1\n}", "expected `(` after `<=> copy`"),
])
def test_a_malformed_annotation_is_a_located_error(source, message):
    err = error(source)
    assert message in err.message
    assert err.line == 2
