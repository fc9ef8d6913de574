"""Mistakes that used to pass silently (docs/language.md, "Warnings" and "Errors"):
warnings located at the user's TC line, an access narrowing an index, an integer
division used as a float, and did-you-mean suggestions for misspelt names."""

import warnings
from pathlib import Path

import numpy as np
import pytest

import tcir
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.tc"))


def tc_warnings(source: str, filename: str = "w.tc") -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        check_source(source, filename)
    return [w for w in record if issubclass(w.category, TcWarning)]


def one_warning(source: str) -> TcWarning:
    (w,) = tc_warnings(source)
    return w.message


def no_warning(source: str):
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        return check_source(source, "w.tc")


def error(source: str) -> TcError:
    with pytest.raises(TcError) as info:
        no_warning(source)
    return info.value


# Located at the TC line, not at tcir's Python source ---------------------------------


@pytest.mark.parametrize("source, line, col", [
    ("def f(float(N, K) A) -> (S) {\n\n  S(i) += A(i, k)\n}", 3, 3),  # the reduction warning
    ("def f(float(N) A) -> (float(N) T) {\n  T(i) = T(i) + A(i)\n}", 2, 10),  # read before write
    ("def f(float(N) A, float(M) B) -> (O) {\n  O(i) = A(i) +\n    B(i)\n}", 2, 10),  # narrowing
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) * (1 / N)\n}", 2, 18),  # integer division
])
def test_a_warning_is_attributed_to_the_tc_source(source, line, col):
    (w,) = tc_warnings(source, "prog.tc")
    assert (w.filename, w.lineno) == ("prog.tc", line)  # not tcir/frontend/sema.py
    assert (w.message.loc.file, w.message.loc.line, w.message.loc.col) == ("prog.tc", line, col)
    assert str(w.message).startswith(f"prog.tc:{line}:{col}: warning: ")
    shown = warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
    assert shown.startswith(f"prog.tc:{line}: TcWarning: prog.tc:{line}:{col}: warning:")


def test_warnings_are_errors_under_a_filter_and_once_per_construct():
    source = "def f(float(N) A) -> (O) {\n  O(i) = A(i) * x + x where x = 1 / N\n}"
    assert len(tc_warnings(source)) == 1  # the binding is inlined twice, warned once
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        with pytest.raises(TcWarning) as info:
            check_source(source, "w.tc")
    assert info.value.loc.line == 2


def test_the_canonical_examples_do_not_warn():
    for path in EXAMPLES:
        no_warning(path.read_text())


# An access narrowing an index ---------------------------------------------------------

GROUP_NORM = """def group_normalization(float(N, G, D, H, W) I, float(G, D) gamma, float(G, D) beta,
                        float(N, G) mean, float(N, G) var) -> (O) {
    O(n, g, d, h, w) = gamma(g, d) * (I(n, g, d, h, w) - mean(n, g))
                     * rsqrt(var(n, g) + 1e-5) + beta(g, d)
}"""


def test_a_wrong_index_that_shrinks_a_range_warns():
    # `gamma(n, d)` for `gamma(g, d)`: n is silently limited to [0, min(G, N)).
    w = one_warning(GROUP_NORM.replace("gamma(g, d) *", "gamma(n, d) *"))
    assert w.message == ("`gamma(n, d)` narrows the range of `n` to [0, min(G, N)): it allows [0, G) where the "
                         "other accesses allow [0, N); check its subscripts, or give the range with `where`")
    assert (w.loc.line, w.loc.col) == (3, 24)


def test_a_declared_output_left_partly_unwritten_warns_and_says_so():
    source = "def f(float(N, D) X, float(D) gamma) -> (float(N, D) O) {\n  O(n, d) = gamma(n) * X(n, d)\n}"
    w = one_warning(source)
    assert w.message.startswith("`gamma(n)` narrows the range of `n` to [0, min(D, N)): it allows [0, D) where "
                                "the other accesses allow [0, N), so part of `O` is never written")
    # What the warning is about: rows D.. of O stay 0.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        x, gamma = np.ones((4, 2), np.float32), np.full(2, 3.0, np.float32)
        out = tcir.define(source).f(x, gamma)
    np.testing.assert_array_equal(out, np.array([[3, 3], [3, 3], [0, 0], [0, 0]], np.float32))


def test_two_disagreeing_accesses_are_both_named():
    w = one_warning("def f(float(N) A, float(M) B) -> (O) {\n  O(i) = A(i) + B(i)\n}")
    assert w.message == ("`A(i)` allows `i` in [0, N) but `B(i)` allows [0, M), so `i` ranges over "
                         "[0, min(N, M)) only; check the subscripts, or give the range with `where`")


def test_a_later_statement_bounded_by_an_earlier_shape_warns_at_the_new_access():
    w = one_warning("def f(float(N) A, float(M) B) -> (O) {\n  O(i) = A(i)\n  O(i) = O(i) + B(i)\n}")
    assert w.message.startswith("`B(i)` narrows the range of `i` to [0, min(N, M))")
    assert w.loc.line == 3


@pytest.mark.parametrize("source", [
    "def f(float(N) X) -> (O) { O(t) = X(t) + X(t + 1) }",  # a stencil: offsets of one extent
    "def f(float(N) X) -> (O) { O(t) = X(t) + (t >= 3 ? X(t - 3) : 0.0) }",
    "def f(float(N) A, float(N) B) -> (O) { O(i) = A(i) + B(i) }",
    "def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) where exists B(i) }",  # exists is meant to bound
    "def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) + B(i) where i in 0:min(N, M) }",
    # N is never tighter than min(N, M): the second statement adds nothing
    "def f(float(N) A, float(M) B) -> (O, P) { O(i) = A(i) * B(i) where i in 0:min(N, M)\n P(i) = O(i) + A(i) }",
    "def f(float(N, C, H, W) I, float(F, C, KH, KW) W1) -> (O) {"
    " O(n, f, h, w) +=! I(n, r_c, h + r_kh, w + r_kw) * W1(f, r_c, r_kh, r_kw) }",
    "def f(float(N, D) X, float(D) gamma) -> (float(N, D) O) { O(n, d) = gamma(d) * X(n, d) }",
])
def test_correct_programs_do_not_warn(source):
    no_warning(source)


# An integer division used as a float --------------------------------------------------


def test_an_integer_division_feeding_a_float_warns():
    w = one_warning("def f(float(N, D) X) -> (O) {\n  O(n) +=! X(n, r_d) * (1 / D)\n}")
    assert w.message == ("`1 / D` is an integer division (it truncates toward zero) but its result is used as "
                         "a `float`; write `1.0 / D` for a float division, or cast the result (`float(1 / D)`) "
                         "if truncation is meant")
    assert (w.loc.line, w.loc.col) == (2, 25)


def test_the_integer_division_is_indeed_zero():
    # What the warning is about: the mean is 0, not the mean.
    source = "def f(float(N, D) X) -> (O) {\n  O(n) +=! X(n, r_d) * (1 / D)\n}"
    x = np.ones((2, 4), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        np.testing.assert_array_equal(tcir.define(source).f(x), [0, 0])
    np.testing.assert_array_equal(tcir.define(source.replace("1 / D", "1.0 / D")).f(x), [1, 1])


@pytest.mark.parametrize("expr, text", [
    ("exp(i / 2)", "i / 2"),  # a builtin's argument
    ("A(i) + (i / 2 + 1)", "i / 2"),  # through integer arithmetic
    ("i > 2 ? A(i) : i / 3", "i / 3"),  # a branch of a float ?:
    ("min(A(i), N / 2)", "N / 2"),
    ("A(i) < i / 2 ? 1.0 : 0.0", "i / 2"),  # compared as a float
])
def test_every_implicit_float_use_of_an_integer_division_warns(expr, text):
    w = one_warning(f"def f(float(N) A) -> (O) {{ O(i) = {expr} where i in 0:N }}")
    assert w.message.startswith(f"`{text}` is an integer division")


def test_storing_an_integer_division_into_a_float_tensor_warns():
    w = one_warning("def f(float(N) A) -> (float(N) O) { O(i) = i / 2 }")
    assert "`float(i) / 2` for a float division" in w.message


@pytest.mark.parametrize("source", [
    "def f(float(N) A) -> (O) { O(i) = A(i) * float(1 / N) }",  # an explicit cast: meant
    "def f(float(N) A) -> (O) { O(i) = A(i) * (1.0 / N) }",
    "def f(float(N) A) -> (O) { O(i) = A(i) / N }",  # a float division
    "def f(int32(N) A) -> (O) { O(i) = A(i) / 2 }",  # an integer result
    "def f(float(N) A) -> (O) { O(i) = A(i / 2) where i in 0:N }",  # a subscript
    "def f(float(N) A) -> (O) { O(i) = i / 2 > 1 ? A(i) : 0.0 }",  # compared as integers
    "def f(float(N) A) -> (O) { O(i) = A(i) * float(i % 2) }",
])
def test_integer_divisions_not_used_as_floats_do_not_warn(source):
    no_warning(source)


# Did you mean ------------------------------------------------------------------------


@pytest.mark.parametrize("source, line, col, message", [
    ("def f(float(N) A) -> (O) {\n  O(i) = Aa(i)\n}", 2, 10,
     "unknown tensor or function `Aa`; did you mean the tensor `A`?"),
    ("def f(float(N, D) X, float(D) gamma) -> (O) {\n  O(n, d) = gama(d) * X(n, d)\n}", 2, 13,
     "unknown tensor or function `gama`; did you mean the tensor `gamma`?"),
    ("def f(float(N) A) -> (O) {\n  O(i) = exq(A(i))\n}", 2, 10,
     "unknown tensor or function `exq`; did you mean `exp`?"),
    ("def f(float(N) A) -> (O) {\n  O(i) = sqrtt(A(i))\n}", 2, 10,
     "unknown tensor or function `sqrtt`; did you mean `sqrt`?"),
    ("def f(float(N) A) -> (O) {\n  O(i) = flaot(A(i))\n}", 2, 10,
     "unknown tensor or function `flaot`; did you mean `float`?"),
    ("def f(float(N) A) -> (O) {\n  O(i) = relu(A(i))\n}", 2, 10,
     "unknown tensor or function `relu`; there is no `relu`; write `fmax(x, 0)`"),
    ("def f(float(N) A, float alpha) -> (O) {\n  O(i) = alpah * A(i)\n}", 2, 10,
     "`alpah` appears only on the right side, which makes it a reduction index, but `=` does not reduce; use "
     "`+=!` (or `*=!`, `min=!`, `max=!`); did you mean the scalar `alpha`?"),
    ("def f(float(N) A, float alpha) -> (O) {\n  O(i) +=! alpah * A(i)\n}", 2, 12,
     "cannot infer the range of `alpah`; add `where alpah in lo:hi`; did you mean the scalar `alpha`?"),
    ("def f(float(Num) A) -> (O) {\n  O(i) = A(i) * Nun\n}", 2, 17,
     "`Nun` appears only on the right side, which makes it a reduction index, but `=` does not reduce; use "
     "`+=!` (or `*=!`, `min=!`, `max=!`); did you mean the size `Num`?"),
    ("def f(float(N) A) -> (O) {\n  O(i) +=! A(ii)\n}", 2, 5,
     "cannot infer the range of `i`; add `where i in lo:hi`; is `ii` a misspelling of `i`, or the other way round?"),
    ("def f(float(N) A) -> (O) {\n  O(idx) = A(idz)\n}", 2, 14,
     "`idz` appears only on the right side, which makes it a reduction index, but `=` does not reduce; use "
     "`+=!` (or `*=!`, `min=!`, `max=!`); is `idx` a misspelling of `idz`, or the other way round?"),
    ("def f(float(N) A) -> (Out) {\n  Ouy(i) = A(i)\n}", 1, 23,
     "output `Out` is never written (a tensor named like it is written but not declared; did you mean `Ouy`?)"),
    ("def f(float(Num) A) -> (float(Nm) O) {\n  O(i) = A(i)\n}", 1, 31,
     "size `Nm` of output `O` is not a size of any input; did you mean `Num`?"),
    ("def f(float(Num) A) -> (O) {\n  O(i) = A(i) where i in 0:Nm\n}", 2, 28,
     "a range bound may use only sizes, integer constants, `+ - * / %` and `min`/`max`; did you mean the size `Num`?"),
    ("def f(floot(N) A) -> (O) {\n  O(i) = A(i)\n}", 1, 7,
     "unknown type `floot` (did you mean `float`?); expected one of"),
    ("def f(float(N) A) -> (flaot(N) O) {\n  O(i) = A(i)\n}", 1, 23, "unknown type `flaot` (did you mean `float`?)"),
])
def test_a_misspelt_name_gets_a_suggestion(source, line, col, message):
    err = error(source)
    assert err.message.startswith(message), err.message
    assert (err.line, err.col) == (line, col)


@pytest.mark.parametrize("source, message", [
    ("def f(float(N) A) -> (O) { O(i) = 1.0 }", "cannot infer the range of `i`; add `where i in lo:hi`"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) + B(i) }", "unknown tensor or function `B`"),
    ("def f(float(M, K) A) -> (C) { C(m) = A(m, r_k) }",
     "`r_k` appears only on the right side, which makes it a reduction index, but `=` does not reduce; use `+=!` "
     "(or `*=!`, `min=!`, `max=!`)"),
    ("def f(float(N, H) I, float(KH) W) -> (O) { O(n, h) +=! I(n, h + kh) * W(kh) * q }",
     "cannot infer the range of `q`; add `where q in lo:hi`"),
])
def test_no_suggestion_without_a_close_name(source, message):
    assert error(source).message == message
