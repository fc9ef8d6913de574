"""Range inference: the rules of tc-language.md, checked against brute-force enumeration.

The brute-force checker below is independent of tcir.frontend.ranges: for concrete sizes
it enumerates candidate values of each index variable and keeps those for which every
constraining access stays in bounds for every value of the variables already known.
"""

import itertools
import warnings
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.frontend.checked import TBinary, TCast, TConst, TIndex, TRead, TSize, TUnary
from tcir.frontend.ranges import AffineForm, affine_form
from tcir.frontend.types import INT8, INT32, INT64, UINT32

WINDOW = range(-60, 61)  # candidate values; every generated range lies well inside


def checked(source: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        return check_source(source, "r.tc")


def ranges_of(source: str, stmt: int = 0) -> dict[str, tuple[str, str]]:
    (d,) = checked(source).defs.values()
    return {v: (str(lo), str(hi)) for v, (lo, hi) in d.stmts[stmt].ranges.items()}


def concrete(source: str, sizes: dict[str, int], stmt: int = 0) -> dict[str, range]:
    (d,) = checked(source).defs.values()
    return {v: range(lo.evaluate(sizes), hi.evaluate(sizes))
            for v, (lo, hi) in d.stmts[stmt].ranges.items()}


def error(source: str) -> TcError:
    with pytest.raises(TcError) as info:
        checked(source)
    return info.value


def interval(values) -> range:
    """`values` (a sorted contiguous list) as a range; empty ranges compare equal."""
    values = list(values)
    if not values:
        return range(0)
    assert values == list(range(values[0], values[-1] + 1)), "valid set is not an interval"
    return range(values[0], values[-1] + 1)


def same(a: range, b: range) -> bool:
    return (len(a) == 0 and len(b) == 0) or a == b


# affine_form ------------------------------------------------------------------------


def i(name):
    return TIndex(INT32, name)


def c(value):
    return TConst(INT32, value)


def b(op, x, y):
    return TBinary(INT32, op, x, y)


@pytest.mark.parametrize("e, form", [
    (c(3), AffineForm((), (), 3)),
    (i("h"), AffineForm((("h", 1),), (), 0)),
    (TSize(INT32, "N"), AffineForm((), (("N", 1),), 0)),
    (b("+", b("*", c(2), i("h")), i("r")), AffineForm((("h", 2), ("r", 1)), (), 0)),
    (b("-", b("-", TSize(INT32, "N"), c(1)), i("i")), AffineForm((("i", -1),), (("N", 1),), -1)),
    (b("*", b("+", i("i"), c(1)), c(3)), AffineForm((("i", 3),), (), 3)),
    (TUnary(INT32, "-", b("-", i("i"), i("j"))), AffineForm((("i", -1), ("j", 1)), (), 0)),
    (b("-", b("+", i("i"), i("j")), i("i")), AffineForm((("j", 1),), (), 0)),
    (TCast(INT64, TIndex(INT32, "i")), AffineForm((("i", 1),), (), 0)),
])
def test_affine_form(e, form):
    assert affine_form(e) == form


@pytest.mark.parametrize("e", [
    b("*", i("i"), i("j")),
    b("/", i("i"), c(2)),
    b("%", i("i"), c(2)),
    TRead(INT32, "I", (i("b"),)),
    b("+", i("i"), TRead(INT32, "I", (i("b"),))),
    b("*", TSize(INT32, "N"), i("i")),
    TBinary(INT32, "min", i("i"), c(2)),
])
def test_non_affine_subscripts(e):
    assert affine_form(e) is None


def test_affine_form_of_narrow_integer_cast():
    assert affine_form(TCast(INT32, TIndex(INT8, "i"))) == AffineForm((("i", 1),), (), 0)


@pytest.mark.parametrize("to, of", [(INT8, INT32), (INT32, INT64), (UINT32, INT32), (INT32, UINT32)])
def test_a_cast_that_can_change_the_value_is_not_affine(to, of):
    # `int8(i)` wraps at 128: inference and the bounds check must not take it for `i`.
    assert affine_form(TCast(to, TIndex(of, "i"))) is None


# The spec's rules, one by one -------------------------------------------------------


def test_each_access_bounds_its_single_unknown():
    assert ranges_of("def f(float(M, K) A) -> (C) { C(m) +=! A(m, r_k) }") == {
        "m": ("0", "M"), "r_k": ("0", "K")}


def test_constraints_from_different_accesses_intersect():
    r = ranges_of("def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) + B(i) }")
    assert r == {"i": ("0", "min(N, M)")}
    for n, m in itertools.product(range(0, 6), repeat=2):
        got = concrete("def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) + B(i) }", {"N": n, "M": m})
        expected = interval(x for x in WINDOW if 0 <= x < n and 0 <= x < m)
        assert same(got["i"], expected)


MAXPOOL = """def maxpool2x2(float(B, C, H, W) I) -> (O) {
    O(b, c, h, w) max=! I(b, c, 2 * h + r_kh, 2 * w + r_kw) where r_kh in 0:2, r_kw in 0:2
}"""


def test_strided_window_gives_the_spec_range():
    r = ranges_of(MAXPOOL)
    assert r["h"] == ("0", "(H - 2) floordiv 2 + 1")
    assert r["w"] == ("0", "(W - 2) floordiv 2 + 1")
    assert r["r_kh"] == ("0", "2")
    (d,) = checked(MAXPOOL).defs.values()
    assert [str(s) for s in d.outputs[0].shape] == ["B", "C", "(H - 2) floordiv 2 + 1",
                                                    "(W - 2) floordiv 2 + 1"]


@pytest.mark.parametrize("H", range(0, 14))
def test_strided_window_matches_brute_force(H):
    got = concrete(MAXPOOL, {"B": 1, "C": 1, "H": H, "W": 5})["h"]
    expected = interval(h for h in WINDOW if h >= 0 and all(0 <= 2 * h + r < H for r in range(2)))
    assert same(got, expected)


CONV = """def conv(float(N, C, H, W) I, float(F, C, KH, KW) W1) -> (O) {
    O(n, f, h, w) +=! I(n, r_c, h + r_kh, w + r_kw) * W1(f, r_c, r_kh, r_kw)
}"""


@pytest.mark.parametrize("H, KH", [(h, k) for h in range(0, 7) for k in range(1, 5)])
def test_second_round_uses_ranges_from_the_first(H, KH):
    assert ranges_of(CONV)["h"] == ("0", "H - KH + 1")
    got = concrete(CONV, {"N": 1, "C": 1, "H": H, "W": 1, "F": 1, "KH": KH, "KW": 1})
    assert got["r_kh"] == range(KH)
    expected = interval(h for h in WINDOW if h >= 0 and all(0 <= h + r < H for r in range(KH)))
    assert same(got["h"], expected)


def test_one_unknown_per_access_per_round():
    # Round 1: A(i) bounds i, B(i + j) has two unknowns. Round 2: B(i + j) bounds j
    # for every i already known; i is not narrowed again.
    src = "def f(float(N) A, float(M) B) -> (O) { O(i) +=! A(i) * B(i + j) }"
    assert ranges_of(src) == {"i": ("0", "N"), "j": ("0", "M - N + 1")}
    for n, m in itertools.product(range(1, 6), repeat=2):
        got = concrete(src, {"N": n, "M": m})
        assert got["i"] == range(n)
        expected = interval(j for j in WINDOW if all(0 <= x + j < m for x in range(n)))
        assert same(got["j"], expected)


def test_two_unknowns_in_every_access_cannot_be_inferred():
    err = error("def f(float(N) A) -> (O) {\n  O(i) +=! A(i + j)\n}")
    assert err.message == "cannot infer the range of `i`; add `where i in lo:hi`"
    assert (err.line, err.col) == (2, 14)


@pytest.mark.parametrize("sub, formula", [
    ("N - 1 - i", lambda i, n: n - 1 - i), ("i - 1", lambda i, n: i - 1), ("i + 2", lambda i, n: i + 2),
    ("3 * i + 2", lambda i, n: 3 * i + 2), ("-2 * i + N", lambda i, n: -2 * i + n),
    ("2 * i - 3", lambda i, n: 2 * i - 3), ("N - i", lambda i, n: n - i),
])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 6, 11])
def test_single_variable_subscripts_match_brute_force(sub, formula, n):
    source = f"def f(float(N) A) -> (O) {{ O(i) = A({sub}) }}"
    expected = interval(x for x in WINDOW if 0 <= formula(x, n) < n)
    if sub in ("i + 2", "2 * i + 2"):  # starts at a negative index whatever N is
        assert "would make `i` start at" in error(source).message
        return
    got = concrete(source, {"N": n})["i"]
    assert same(got, expected) or not expected and not got


def test_reduction_variable_ranges_may_start_above_zero():
    assert ranges_of("def f(float(N) A) -> (s) { s +=! A(r - 2) }") == {"r": ("2", "N + 2")}


def test_a_left_side_index_starting_below_zero_is_an_error():
    # The original TC gave O the index range [-2, N - 2) (a Halide buffer with min -2);
    # tcir's arrays start at 0, and silently dropping two reads was a trap.
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i + 2)\n}")
    assert err.message == ("`A(i + 2)` would make `i` start at -2 (it allows `i` in [-2, N - 2)), but `i` "
                           "indexes `O`, whose indices start at 0; shift the subscripts or give the range, "
                           "e.g. `where i in 0:N - 2`")
    assert (err.line, err.col) == (2, 10)
    # The fixes it suggests work.
    assert ranges_of("def f(float(N) A) -> (O) { O(i) = A(i + 2) where i in 0:N - 2 }") == {"i": ("0", "N - 2")}
    assert ranges_of("def f(float(N) A) -> (O) { O(i) = A(i) where exists A(i + 2) }") == {"i": ("0", "N - 2")}


def test_a_reduction_index_may_start_below_zero():
    assert ranges_of("def f(float(N) A) -> (s) { s +=! A(r + 2) }") == {"r": ("(-2)", "N - 2")}


def test_a_lower_bound_negative_only_for_some_sizes_is_checked_at_call_time():
    # i in [1 - N, 1): fine for N = 1, a write below 0 otherwise; later rounds use it.
    from tcir import bounds
    src = "def f(float(N, N) B) -> (O) { O(i) +=! B(-i, i + j) }"
    assert ranges_of(src) == {"i": ("0 - N + 1", "1"), "j": ("N - 1", "N")}
    (d,) = checked(src).defs.values()
    bounds.check_call(d, {"N": 1})
    for n in range(2, 5):
        with pytest.raises(TcError, match="writes `O` at index"):
            bounds.check_call(d, {"N": n})


def test_where_fixes_a_range():
    assert ranges_of("def f(float(N) A) -> (O) { O(i) = A(i) where i in 1:3 }") == {"i": ("1", "3")}


def test_where_fixes_a_range_used_in_a_later_round():
    src = "def f(float(N) A) -> (O) { O(i) +=! A(i + r) where r in 0:K }"
    err = error(src)  # K is not a size of the def
    assert "range bound" in err.message
    src = "def f(float(N) A, float(K) B) -> (O) { O(i) +=! A(i + r) where r in 0:K }"
    assert ranges_of(src) == {"i": ("0", "N - K + 1"), "r": ("0", "K")}


def test_exists_constrains_inference_only():
    src = "def f(float(N) A, float(M) B) -> (O) { O(i) = A(i) where exists B(i + 1) }"
    assert ranges_of(src) == {"i": ("0", "min(N, M - 1)")}
    (s,) = checked(src).defs["f"].stmts
    assert isinstance(s.rhs, TRead) and s.rhs.tensor == "A"


def test_the_sides_a_guard_proves_do_not_constrain():
    src = "def f(float(N) X) -> (O) { O(t) = X(t) + (t - 3 >= 0 ? X(t - 3) : 0.0) }"
    assert ranges_of(src) == {"t": ("0", "N")}
    src = "def f(float(N) X) -> (O) { O(t) = X(t) + (t + 1 < N ? X(t + 1) : X(t)) }"
    assert ranges_of(src) == {"t": ("0", "N")}


def test_a_read_in_the_condition_of_a_conditional_constrains():
    src = "def f(float(N) X, float(M) Y) -> (O) { O(t) = Y(t) > 0.0 ? X(t) : 0.0 }"
    assert ranges_of(src) == {"t": ("0", "min(M, N)")}


def test_a_read_in_a_branch_constrains_what_its_guard_does_not_prove():
    # The guard says nothing about t's upper side: X(t) bounds it.
    assert ranges_of("def f(float(N) X) -> (O) { O(t) = t > 0 ? X(t) : 0.0 }") == {"t": ("0", "N")}
    # Only one side proven, the other bounds t; t starts at 0 as it indexes O.
    assert ranges_of("def f(float(N) X) -> (O) { O(t) = t - 3 >= 0 ? X(t - 3) : 0.0 }") == {"t": ("0", "N + 3")}


def test_a_read_whose_guard_proves_both_sides_bounds_nothing():
    err = error("def f(float(N) X) -> (O) {\n  O(t) = t - 1 >= 0 && t - 1 < N ? X(t - 1) : 0.0\n}")
    assert err.message.startswith("cannot infer the range of `t`; add `where t in lo:hi`; the `?:` guard "
                                  "keeps `X(t - 1)` in bounds, so it does not bound `t`")
    assert ranges_of("def f(float(N) X) -> (O) { O(t) = t - 1 >= 0 && t - 1 < N ? X(t - 1) : 0.0 "
                     "where t in 0:N + 2 }") == {"t": ("0", "N + 2")}


def test_indirect_subscripts_do_not_constrain_but_their_inner_reads_do():
    src = "def f(float(E, D) LUT, int32(B, L) I) -> (O) { O(b, d) +=! LUT(I(b, r_l), d) }"
    assert ranges_of(src) == {"b": ("0", "B"), "d": ("0", "D"), "r_l": ("0", "L")}


# Output extents ---------------------------------------------------------------------


def shapes(source: str) -> dict[str, list[str]]:
    (d,) = checked(source).defs.values()
    return {t.name: [str(s) for s in t.shape] for t in d.outputs + d.temporaries}


def test_output_extent_is_the_maximum_index_plus_one():
    assert shapes("def f(float(N) A) -> (O) { O(i) = A(i) where i in 2:5 }") == {"O": ["5"]}
    assert shapes("def f(float(N) A) -> (O) { O(i) = A(i - 1) }") == {"O": ["N + 1"]}
    assert shapes("def f(float(M, K) A) -> (O) { O(k, m) +=! A(m, r) * k where k in 0:3 }") == {
        "O": ["3", "M"]}


def test_temporary_extent():
    assert shapes("def f(float(N) A) -> (O) { T(i) = A(2 * i)\n O(i) = T(i) }") == {
        "O": ["(N - 1) floordiv 2 + 1"], "T": ["(N - 1) floordiv 2 + 1"]}


def test_one_shape_across_statements():
    # The second statement is bounded by O's shape from the first, not by B alone.
    src = "def f(float(N) A, float(M) B) -> (O) { O(i) = A(i)\n O(i) = O(i) + B(i) }"
    assert shapes(src) == {"O": ["N"]}
    assert ranges_of(src, stmt=1) == {"i": ("0", "min(N, M)")}


def test_typed_output_shape_bounds_its_writes():
    src = "def f(float(N) A) -> (float(M, 3) O) { O(i, j) = 1.0 }"
    err = error(src)
    assert "size `M` of output `O` is not a size of any input" in err.message
    src = "def f(float(N) A, float(M) B) -> (float(M, 3) O) { O(i, j) = A(i) }"
    assert ranges_of(src) == {"i": ("0", "min(N, M)"), "j": ("0", "3")}


def test_output_written_only_through_where_ranges():
    assert shapes("def f(float(N) A) -> (O) { O(i, j) = 1.0 where i in 0:N, j in 0:N + 1 }") == {
        "O": ["N", "N + 1"]}


# Errors -----------------------------------------------------------------------------


def test_cannot_infer_names_the_variable_and_suggests_where():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = 1.0\n}")
    assert err.message == "cannot infer the range of `i`; add `where i in lo:hi`"
    assert (err.file, err.line, err.col) == ("r.tc", 2, 5)


def test_cannot_infer_through_non_affine_subscripts():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i * i)\n}")
    assert "cannot infer the range of `i`" in err.message
    assert (err.line, err.col) == (2, 12)


def test_cannot_infer_reduction_variable():
    err = error("def f(float(N) A) -> (O) {\n  O(i) +=! A(i) * r\n}")
    assert err.message == "cannot infer the range of `r`; add `where r in lo:hi`"
    assert (err.line, err.col) == (2, 19)


@pytest.mark.parametrize("source, var", [
    ("def f(float(4) A) -> (s) {\n  s +=! A(r) * A(r + j) where j in 0:5\n}", "r"),
    ("def f(float(4) A) -> (O) {\n  O(i) +=! A(2 * i + r) where r in 0:5\n}", "i"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) where i in 3:3\n}", "i"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) where i in N:N - 1\n}", "i"),
    ("def f(float(N) A) -> (O) {\n  O(i) +=! A(i) where r in 2:0\n}", "r"),
])
def test_empty_range_is_an_error(source, var):
    err = error(source)
    assert err.message.startswith(f"the range of `{var}` is empty: [")
    assert err.line == 2


# A brute-force property over generated statements ------------------------------------


@dataclass
class Sub:
    """An affine subscript: sum(coef * var) + sum(coef * size) + const."""

    vars: dict[str, int]
    sizes: dict[str, int] = field(default_factory=dict)
    const: int = 0

    def text(self) -> str:
        terms = [(c, v) for v, c in self.vars.items()] + [(c, s) for s, c in self.sizes.items()]
        out = ""
        for coef, atom in terms:
            term = atom if abs(coef) == 1 else f"{abs(coef)} * {atom}"
            out += (f" - {term}" if coef < 0 else f" + {term}") if out else (f"-{term}" if coef < 0 else term)
        if self.const or not out:
            out += (f" + {self.const}" if self.const >= 0 else f" - {-self.const}") if out else str(self.const)
        return out

    def value(self, point: dict[str, int], sizes: dict[str, int]) -> int:
        return (sum(c * point[v] for v, c in self.vars.items())
                + sum(c * sizes[s] for s, c in self.sizes.items()) + self.const)


@dataclass
class Access:
    tensor: str
    subs: list[Sub]
    guarded: bool = False  # inside a `?:` branch
    guard: list[tuple[Sub, str]] = field(default_factory=list)  # facts `g >= 0` / `g != 0` of its condition
    negated: bool = False  # written `!(cond) ? 0.0 : read`: the read is in the else branch

    def text(self) -> str:
        return f"{self.tensor}({', '.join(s.text() for s in self.subs)})"


def _terms(sizes: dict, const: int) -> tuple[dict, int]:
    return {k: c for k, c in sizes.items() if c}, const


def slack(a: Access, sub: Sub, extent) -> tuple[int | None, int | None]:
    """The rule of language.md, on this model: a side of `0 <= sub <= extent - 1` that a
    `>=` fact with the same (or the opposite) variable part proves for all sizes >= 0
    bounds nothing (None); otherwise it is widened by the values just beyond it that
    `!=` facts exclude."""
    if not a.guarded:
        return 0, 0
    low: int | None = 0
    high: int | None = 0
    top = {extent: 1} if isinstance(extent, str) else {}
    top_const = extent if isinstance(extent, int) else 0
    excluded = []
    for g, op in a.guard:
        keys = set(sub.sizes) | set(g.sizes) | set(top)
        if op == "!=":
            if g.vars == sub.vars:  # sub = g + (sub - g), g != 0
                excluded.append(_terms({k: sub.sizes.get(k, 0) - g.sizes.get(k, 0) for k in keys},
                                       sub.const - g.const))
            elif g.vars == {v: -c for v, c in sub.vars.items()}:  # sub = -g + (sub + g)
                excluded.append(_terms({k: sub.sizes.get(k, 0) + g.sizes.get(k, 0) for k in keys},
                                       sub.const + g.const))
            continue
        if g.vars == sub.vars:  # sub = g + (sub - g)
            rest = {k: sub.sizes.get(k, 0) - g.sizes.get(k, 0) for k in keys}
            if sub.const - g.const >= 0 and all(c >= 0 for c in rest.values()):
                low = None
        if g.vars == {v: -c for v, c in sub.vars.items()}:  # extent - 1 - sub = g + (...)
            rest = {k: top.get(k, 0) - sub.sizes.get(k, 0) - g.sizes.get(k, 0) for k in keys}
            if top_const - 1 - sub.const - g.const >= 0 and all(c >= 0 for c in rest.values()):
                high = None
    while low is not None and ({}, -1 - low) in excluded:
        low += 1
    while high is not None and _terms(dict(top), top_const + high) in excluded:
        high += 1
    return low, high


@dataclass
class Statement:
    inputs: dict[str, list]  # name -> dims (size names or literal ints)
    lhs: list[str]
    accesses: list[Access]
    exists: list[Access]
    explicit: dict[str, tuple[int, int]]

    def source(self) -> str:
        params = ", ".join(f"float({', '.join(map(str, dims))}) {name}" for name, dims in self.inputs.items())
        reads = []
        for a in self.accesses:
            if not a.guarded:
                reads.append(a.text())
                continue
            cond = " && ".join(f"{g.text()} {op} 0" for g, op in a.guard) or "1 >= 1"
            reads.append(f"(!({cond}) ? 0.0 : {a.text()})" if a.negated else f"({cond} ? {a.text()} : 0.0)")
        clauses = [f"{v} in {lo}:{hi}" for v, (lo, hi) in self.explicit.items()]
        clauses += [f"exists {a.text()}" for a in self.exists]
        where = f" where {', '.join(clauses)}" if clauses else ""
        lhs = f"({', '.join(self.lhs)})" if self.lhs else ""
        return f"def f({params}) -> (O) {{\n  O{lhs} +=! {' * '.join(reads)}{where}\n}}"


SIZE_NAMES = ["N", "M", "K"]
VARS = ["i", "j", "k", "r", "s"]


@st.composite
def statements(draw) -> Statement:
    n_inputs = draw(st.integers(1, 3))
    inputs = {name: draw(st.lists(st.sampled_from(SIZE_NAMES + [1, 3, 5]), min_size=1, max_size=3))
              for name in "ABC"[:n_inputs]}
    used = draw(st.lists(st.sampled_from(VARS), min_size=1, max_size=4, unique=True))

    def sub(dims_sizes):
        names = draw(st.lists(st.sampled_from(used), max_size=2, unique=True))
        coefs = {v: draw(st.sampled_from([1, 1, 1, 2, -1, -2])) for v in names}
        sizes = {}
        if dims_sizes and draw(st.booleans()) and any(c < 0 for c in coefs.values()):
            sizes = {draw(st.sampled_from(dims_sizes)): 1}
        return Sub(coefs, sizes, draw(st.integers(-2, 2)))

    def access(name, guarded=False):
        dims = inputs[name]
        return Access(name, [sub([d for d in dims if isinstance(d, str)]) for _ in dims], guarded)

    accesses = [access(name) for name in inputs]
    if draw(st.booleans()):
        accesses.append(access(draw(st.sampled_from(list(inputs))), guarded=True))
    exists = [access(draw(st.sampled_from(list(inputs))))] if draw(st.integers(0, 3)) == 0 else []
    in_reads = [v for v in used if any(v in s.vars for a in accesses for s in a.subs)]
    lhs = draw(st.lists(st.sampled_from(in_reads), max_size=3, unique=True)) if in_reads else []
    explicit = {}
    for v in in_reads:
        if draw(st.integers(0, 4)) == 0:
            lo = draw(st.integers(0, 1))
            explicit[v] = (lo, lo + draw(st.integers(1, 3)))
    for a in accesses:
        if not a.guarded:
            continue
        a.negated = draw(st.booleans())
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["lhs", "lower", "upper", "not_below", "not_above", "random"]))
            k = draw(st.integers(0, len(a.subs) - 1))
            s, extent = a.subs[k], inputs[a.tensor][k]
            shift = draw(st.sampled_from([0, 0, 0, 1, -1]))  # -1: a guard too weak to prove it
            minus_s = {v: -c for v, c in s.vars.items()}
            top = {extent: 1} if isinstance(extent, str) else {}
            top_const = extent if isinstance(extent, int) else 0
            if kind == "lhs" and lhs:  # the guard `i >= 1`
                a.guard.append((Sub({lhs[0]: 1}, {}, -1), ">="))
            elif kind == "lower":  # `s >= 0`, or a little stronger / weaker
                a.guard.append((Sub(dict(s.vars), dict(s.sizes), s.const - shift), ">="))
            elif kind == "upper":  # `s < extent`: extent - 1 - s >= 0
                sizes = {k2: top.get(k2, 0) - s.sizes.get(k2, 0) for k2 in set(top) | set(s.sizes)}
                sizes = {k2: c for k2, c in sizes.items() if c}
                a.guard.append((Sub(minus_s, sizes, top_const - 1 - s.const - shift), ">="))
            elif kind == "not_below":  # `s != -1` (or a neighbour), either way round
                if draw(st.booleans()):
                    a.guard.append((Sub(dict(s.vars), dict(s.sizes), s.const + 1 + shift), "!="))
                else:
                    a.guard.append((Sub(minus_s, {k2: -c for k2, c in s.sizes.items()}, -s.const - 1 - shift), "!="))
            elif kind == "not_above":  # `s != extent` (or a neighbour)
                sizes = {k2: s.sizes.get(k2, 0) - top.get(k2, 0) for k2 in set(top) | set(s.sizes)}
                a.guard.append((Sub(dict(s.vars), {k2: c for k2, c in sizes.items() if c},
                                    s.const - top_const - shift), "!="))
            else:
                a.guard.append((sub([d for d in inputs[a.tensor] if isinstance(d, str)]),
                                draw(st.sampled_from([">=", "!="]))))
    return Statement(inputs, lhs, accesses, exists, explicit)


def schedule(stmt: Statement, shape: dict[str, list]) -> dict[str, list[tuple[Sub, object, bool, bool]]]:
    """The rounds of the spec, on variable sets only: which (subscript, extent, bounds
    below, bounds above) constrain each variable, in the round where it becomes known
    (a variable needs a bound on both sides, or an upper one if it is on the left side)."""
    known = set(stmt.explicit)
    constraints: dict[str, list] = {}
    while True:
        found: dict[str, list] = {}
        for a in stmt.accesses + stmt.exists:
            for s, extent in zip(a.subs, shape[a.tensor]):
                unknown = [v for v in s.vars if v not in known]
                if len(unknown) != 1:
                    continue
                low, high = slack(a, s, extent)  # of the subscript: None when proved
                coef = s.vars[unknown[0]]
                below, above = (low, high) if coef > 0 else (high, low)  # of the variable
                if below is not None or above is not None:
                    found.setdefault(unknown[0], []).append((s, extent, low, high))
        def bounds(v, cons, upper):
            return any((c[3] if (c[0].vars[v] > 0) == upper else c[2]) is not None for c in cons)

        found = {v: cons for v, cons in found.items()
                 if bounds(v, cons, True) and (v in stmt.lhs or bounds(v, cons, False))}
        if not found:
            return constraints
        constraints.update(found)
        known |= set(found)


ENVIRONMENTS = [{"N": 1, "M": 1, "K": 1}, {"N": 2, "M": 3, "K": 4}, {"N": 6, "M": 2, "K": 3},
                {"N": 5, "M": 7, "K": 1}, {"N": 4, "M": 4, "K": 6}]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_inferred_ranges_are_exactly_the_brute_force_ranges(stmt):
    source = stmt.source()
    shapes = {name: [dim for dim in dims] for name, dims in stmt.inputs.items()}
    try:
        d = checked(source).defs["f"]
    except TcError as err:
        assert err.loc is not None, source
        assert any(m in err.message for m in ("cannot infer", "is empty", "appears only in `exists`",
                                              "would make")), (source, err.message)
        if "would make" in err.message:  # a left-side index starting below 0 for all sizes
            var = err.message.split("`")[3]
            assert var in stmt.lhs and var in schedule(stmt, shapes), (source, err.message)
        return
    (s,) = d.stmts
    constraints = schedule(stmt, shapes)
    assert set(s.ranges) == set(constraints) | set(stmt.explicit), source
    for env in ENVIRONMENTS:
        extent = {name: [dim if isinstance(dim, int) else env[dim] for dim in dims]
                  for name, dims in shapes.items()}
        got = {v: range(lo.evaluate(env), hi.evaluate(env)) for v, (lo, hi) in s.ranges.items()}
        for v, (lo, hi) in stmt.explicit.items():
            assert got[v] == range(lo, hi)
        for v, cons in constraints.items():
            others = sorted({w for sub, *_ in cons for w in sub.vars if w != v})
            if any(len(got[w]) == 0 for w in others):
                continue  # "for every value of the others" is vacuous
            bounded_below = any((low if sub.vars[v] > 0 else high) is not None for sub, _, low, high in cons)
            valid = []
            for x in WINDOW:
                if v in s.lhs and not bounded_below and x < 0:
                    continue  # a left-side index with nothing below it starts at 0
                ok = True
                for values in itertools.product(*(got[w] for w in others)):
                    point = dict(zip(others, values), **{v: x})
                    for sub, dim, low, high in cons:
                        size = dim if isinstance(dim, int) else env[dim]
                        value = sub.value(point, env)
                        if (low is not None and value < -low) or (high is not None and value > size - 1 + high):
                            ok = False
                            break
                    if not ok:
                        break
                if ok:
                    valid.append(x)
            assert same(got[v], interval(valid)), (source, env, v, got[v], valid)
        # Output extents: the largest index written plus one.
        (out,) = d.outputs
        assert [e.evaluate(env) for e in out.shape] == [got[v].stop for v in s.lhs]
        # Soundness: every constraining access is in bounds at every point of the domain
        # where it runs (a guarded one: where its guard holds), on the sides it bounds or
        # that its guard proves.
        domain = [got[v] for v in s.iterators]
        if 0 < len(list(itertools.product(*domain))[:3000]) < 3000:
            constraining = {id(c[0]) for cons in constraints.values() for c in cons}
            for values in itertools.product(*domain):
                point = dict(zip(s.iterators, values))
                for a in stmt.accesses + stmt.exists:
                    if a.guarded and not all(g.value(point, env) >= 0 if op == ">=" else g.value(point, env) != 0
                                             for g, op in a.guard):
                        continue  # the read does not run here
                    for sub, dim, size in zip(a.subs, shapes[a.tensor], extent[a.tensor]):
                        if id(sub) in constraining or slack(a, sub, dim) == (None, None):
                            assert 0 <= sub.value(point, env) < size, (source, env, point, a.text())
