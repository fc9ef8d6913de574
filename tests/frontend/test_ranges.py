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
from tcir.frontend.types import INT8, INT32, INT64

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
    (TCast(INT32, TIndex(INT64, "i")), AffineForm((("i", 1),), (), 0)),
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
    got = concrete(f"def f(float(N) A) -> (O) {{ O(i) = A({sub}) }}", {"N": n})["i"]
    expected = interval(x for x in WINDOW if x >= 0 and 0 <= formula(x, n) < n)
    assert same(got, expected)


def test_reduction_variable_ranges_may_start_above_zero():
    assert ranges_of("def f(float(N) A) -> (s) { s +=! A(r - 2) }") == {"r": ("2", "N + 2")}


def test_left_side_variables_never_start_below_zero():
    r = ranges_of("def f(float(N) A) -> (O) { O(i) = A(i + 2) }")
    assert r == {"i": ("0", "N - 2")}


def test_left_side_lower_bound_applies_before_later_rounds():
    # Round 1 gives i in [1 - N, 1), cut to [0, 1) as i indexes O; round 2 bounds j
    # for that i only.
    src = "def f(float(N, N) B) -> (O) { O(i) +=! B(-i, i + j) }"
    for n in range(1, 7):
        got = concrete(src, {"N": n})
        assert got["i"] == range(0, 1)
        assert got["j"] == interval(j for j in WINDOW if 0 <= 0 + j < n)


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


def test_guarded_reads_do_not_constrain():
    src = "def f(float(N) X) -> (O) { O(t) = X(t) + (t - 3 >= 0 ? X(t - 3) : 0.0) }"
    assert ranges_of(src) == {"t": ("0", "N")}
    src = "def f(float(N) X) -> (O) { O(t) = X(t) + (t + 1 < N ? X(t + 1) : X(t)) }"
    assert ranges_of(src) == {"t": ("0", "N")}


def test_a_read_in_the_condition_of_a_conditional_constrains():
    src = "def f(float(N) X, float(M) Y) -> (O) { O(t) = Y(t) > 0.0 ? X(t) : 0.0 }"
    assert ranges_of(src) == {"t": ("0", "M")}


def test_only_guarded_reads_cannot_infer():
    err = error("def f(float(N) X) -> (O) { O(t) = t > 0 ? X(t) : 0.0 }")
    assert "cannot infer the range of `t`" in err.message


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
    ("def f(float(4) A) -> (O) {\n  O(i) = A(i + 5)\n}", "i"),
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
    guarded: bool = False  # inside a `?:` branch: never constrains


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
            read = f"{a.tensor}({', '.join(s.text() for s in a.subs)})"
            reads.append(f"({self.lhs[0] if self.lhs else 0} >= 1 ? {read} : 0.0)" if a.guarded else read)
        clauses = [f"{v} in {lo}:{hi}" for v, (lo, hi) in self.explicit.items()]
        clauses += [f"exists {a.tensor}({', '.join(s.text() for s in a.subs)})" for a in self.exists]
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
    return Statement(inputs, lhs, accesses, exists, explicit)


def schedule(stmt: Statement, shape: dict[str, list]) -> dict[str, list[tuple[Sub, object]]]:
    """The rounds of the spec, on variable sets only: which (subscript, extent) pairs
    constrain each variable, in the round where it becomes known."""
    known = set(stmt.explicit)
    constraints: dict[str, list] = {}
    active = [a for a in stmt.accesses + stmt.exists if not a.guarded]
    while True:
        found: dict[str, list] = {}
        for a in active:
            for s, extent in zip(a.subs, shape[a.tensor]):
                unknown = [v for v in s.vars if v not in known]
                if len(unknown) == 1:
                    found.setdefault(unknown[0], []).append((s, extent))
        if not found:
            return constraints
        constraints.update(found)
        known |= set(found)


ENVIRONMENTS = [{"N": 1, "M": 1, "K": 1}, {"N": 2, "M": 3, "K": 4}, {"N": 6, "M": 2, "K": 3},
                {"N": 5, "M": 7, "K": 1}, {"N": 4, "M": 4, "K": 6}]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements())
def test_inferred_ranges_are_exactly_the_brute_force_ranges(stmt):
    source = stmt.source()
    try:
        d = checked(source).defs["f"]
    except TcError as err:
        assert err.loc is not None, source
        assert any(m in err.message for m in ("cannot infer", "is empty", "appears only in `exists`")), (
            source, err.message)
        return
    (s,) = d.stmts
    shapes = {name: [dim for dim in dims] for name, dims in stmt.inputs.items()}
    constraints = schedule(stmt, shapes)
    assert set(s.ranges) == set(constraints) | set(stmt.explicit), source
    for env in ENVIRONMENTS:
        extent = {name: [dim if isinstance(dim, int) else env[dim] for dim in dims]
                  for name, dims in shapes.items()}
        got = {v: range(lo.evaluate(env), hi.evaluate(env)) for v, (lo, hi) in s.ranges.items()}
        for v, (lo, hi) in stmt.explicit.items():
            assert got[v] == range(lo, hi)
        for v, cons in constraints.items():
            others = sorted({w for sub, _ in cons for w in sub.vars if w != v})
            if any(len(got[w]) == 0 for w in others):
                continue  # "for every value of the others" is vacuous
            valid = []
            for x in WINDOW:
                if v in s.lhs and x < 0:
                    continue
                ok = True
                for values in itertools.product(*(got[w] for w in others)):
                    point = dict(zip(others, values), **{v: x})
                    for sub, dim in cons:
                        size = dim if isinstance(dim, int) else env[dim]
                        if not 0 <= sub.value(point, env) < size:
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
        # Soundness: every constraining access is in bounds at every point of the domain.
        domain = [got[v] for v in s.iterators]
        if 0 < len(list(itertools.product(*domain))[:3000]) < 3000:
            constraining = {id(sub) for cons in constraints.values() for sub, _ in cons}
            for values in itertools.product(*domain):
                point = dict(zip(s.iterators, values))
                for a in stmt.accesses + stmt.exists:
                    for sub, size in zip(a.subs, extent[a.tensor]):
                        if id(sub) in constraining:
                            assert 0 <= sub.value(point, env) < size, (source, env, point)
