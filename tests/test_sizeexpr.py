"""Symbolic size expressions: folding, canonical printing, floor semantics."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tcir.sizeexpr import BinOp, Const, Sym, binary, ceildiv, const, floordiv, smax, smin, sym

N, M, H = sym("N"), sym("M"), sym("H")


# Construction, evaluation, symbols ----------------------------------------------------


def test_leaves():
    assert const(3).evaluate({}) == 3 and str(const(3)) == "3"
    assert str(const(-2)) == "(-2)"
    assert N.evaluate({"N": 7}) == 7 and str(N) == "N"
    assert N.symbols() == frozenset({"N"}) and const(1).symbols() == frozenset()


def test_missing_size_is_a_key_error_naming_it():
    with pytest.raises(KeyError, match="size `N` has no value"):
        (N + M).evaluate({"M": 1})


def test_docstring_example():
    h = (H - 2) // 2 + 1
    assert str(h) == "(H - 2) floordiv 2 + 1"
    assert [h.evaluate({"H": v}) for v in (1, 2, 3, 7, 8)] == [0, 1, 1, 3, 4]


def test_as_constant():
    assert (const(2) * 3 + 1).as_constant() == 7
    assert (N - N + 4).as_constant() == 4
    assert (N + 1).as_constant() is None


def test_substitute():
    e = smin(N + 1, M * 2)
    assert e.substitute({"N": const(3)}) == smin(const(4), M * 2)
    assert str(e.substitute({"M": N})) == "min(N + 1, 2 * N)"
    assert e.substitute({"N": const(3), "M": const(1)}) == const(2)


def test_unknown_operator():
    with pytest.raises(ValueError, match="unknown size operator `\\^`"):
        binary("^", N, 2)


# Folding and canonical forms ----------------------------------------------------------


@pytest.mark.parametrize("e, text", [
    (N + 0, "N"), (N * 1, "N"), (N * 0, "0"), (N - N, "0"), (2 * N - N, "N"),
    ((N + 3) - (N + 1), "2"), (N + 1 - 1, "N"), (1 + N, "N + 1"), (N * 2, "2 * N"),
    (N - M + 1, "N - M + 1"), (N - (M - 1), "N - M + 1"), (M + N - M, "N"),
    (-N, "0 - N"), (-(N + M) + N, "0 - M"), (N - 2 * M, "N - 2 * M"), (3 * (N + 1), "3 * N + 3"),
    (floordiv(N, 1), "N"), (ceildiv(N, 1), "N"), (smin(N, N), "N"), (smax(N, N), "N"),
    (smin(smin(N, M), N), "min(N, M)"), (smax(M, smax(N, M)), "max(N, M)"),
    (smin(N, M), "min(N, M)"), (floordiv(const(-7), 2), "(-4)"), (ceildiv(const(-7), 2), "(-3)"),
    (const(-7) % 2, "1"), (smax(const(-1), 0), "0"),
])
def test_folding_and_canonical_text(e, text):
    assert str(e) == text


def test_equal_computations_are_equal_values():
    assert N + 1 == 1 + N
    assert hash(N * 2 - 1) == hash(2 * N - 1)
    assert {(N - 2) // 2 + 1: "h"}[(N - 2) // 2 + 1] == "h"


@pytest.mark.parametrize("e, text", [
    (M * (N // 2), "M * (N floordiv 2)"),
    ((M * N) // 2, "M * N floordiv 2"),
    (M * (N % 2), "M * (N mod 2)"),
    (M * ceildiv(N, 2), "M * (N ceildiv 2)"),
    (N // (M // 2), "N floordiv (M floordiv 2)"),
    (N // 2 // M, "N floordiv 2 floordiv M"),
    (N // (2 * M), "N floordiv (2 * M)"),
    (N % (M + 1), "N mod (M + 1)"),
    ((N + 1) * (M - 1), "(N + 1) * (M - 1)"),
    (M - N // 2, "M - N floordiv 2"),
    (smin(N, M) - M * N, "min(N, M) - M * N"),
])
def test_printing_parenthesizes_where_grouping_matters(e, text):
    assert str(e) == text


@pytest.mark.parametrize("a, b", [(-7, 2), (7, -2), (-7, -2), (7, 2), (0, 3), (-6, 3)])
def test_floor_semantics(a, b):
    env = {"A": a, "B": b}
    x, y = sym("A"), sym("B")
    assert floordiv(x, y).evaluate(env) == a // b
    assert ceildiv(x, y).evaluate(env) == -((-a) // b)
    assert (x % y).evaluate(env) == a - b * (a // b)


def test_division_by_zero():
    with pytest.raises(ZeroDivisionError):
        floordiv(N, M).evaluate({"N": 1, "M": 0})
    with pytest.raises(ZeroDivisionError):
        floordiv(const(1), const(0))


# Properties -----------------------------------------------------------------------------

SIZES = ["N", "M", "K"]
OPS = ["+", "-", "*", "floordiv", "ceildiv", "mod", "min", "max"]


def trees(leaves=st.one_of(st.integers(-5, 5), st.sampled_from(SIZES))):
    return st.recursive(
        leaves,
        lambda sub: st.tuples(st.sampled_from(OPS), sub, sub),
        max_leaves=12,
    )


def python_value(tree, env):
    """The tree's value computed with Python ints: the reference semantics."""
    if isinstance(tree, int):
        return tree
    if isinstance(tree, str):
        return env[tree]
    op, a, b = tree
    x, y = python_value(a, env), python_value(b, env)
    if op in ("floordiv", "ceildiv", "mod") and y == 0:
        raise ZeroDivisionError
    return {"+": x + y, "-": x - y, "*": x * y, "min": min(x, y), "max": max(x, y),
            "floordiv": x // y if y else 0, "ceildiv": -((-x) // y) if y else 0,
            "mod": x % y if y else 0}[op]


def build(tree):
    if isinstance(tree, int):
        return const(tree)
    if isinstance(tree, str):
        return sym(tree)
    op, a, b = tree
    return binary(op, build(a), build(b))


def parse_printed(text: str, env) -> int:
    """Evaluate the printed form, reading it with the usual left-associative precedence:
    `* floordiv ceildiv mod` bind tighter than `+ -`; min/max are calls."""
    tokens = re.findall(r"\d+|[A-Za-z]+|[-+*(),]", text)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        tok = take()
        if tok == "(":
            if peek() == "-":  # a negative constant prints as (-k)
                take()
                value = -int(take())
            else:
                value = expr()
            assert take() == ")"
            return value
        if tok in ("min", "max"):
            assert take() == "("
            a = expr()
            assert take() == ","
            b = expr()
            assert take() == ")"
            return min(a, b) if tok == "min" else max(a, b)
        if tok.isdigit():
            return int(tok)
        return env[tok]

    def term():
        value = atom()
        while peek() in ("*", "floordiv", "ceildiv", "mod"):
            op, rhs = take(), atom()
            value = {"*": lambda: value * rhs, "floordiv": lambda: value // rhs,
                     "ceildiv": lambda: -((-value) // rhs), "mod": lambda: value % rhs}[op]()
        return value

    def expr():
        value = term()
        while peek() in ("+", "-"):
            op, rhs = take(), term()
            value = value + rhs if op == "+" else value - rhs
        return value

    result = expr()
    assert pos == len(tokens), text
    return result


ENVS = [{"N": 1, "M": 2, "K": 3}, {"N": 7, "M": -3, "K": 5}, {"N": -4, "M": 6, "K": -1}]


@settings(max_examples=400, deadline=None)
@given(trees())
def test_folding_preserves_values_and_printing_is_unambiguous(tree):
    try:
        e = build(tree)
    except ZeroDivisionError:
        return  # a constant division by zero is refused while building
    for env in ENVS:
        try:
            expected = python_value(tree, env)
        except ZeroDivisionError:
            continue
        try:
            value = e.evaluate(env)
        except ZeroDivisionError:
            continue  # folding may keep a division whose divisor is 0 only for this env
        assert value == expected, (tree, str(e), env)
        assert parse_printed(str(e), env) == expected, (tree, str(e), env)


@settings(max_examples=200, deadline=None)
@given(trees(), st.sampled_from(SIZES), st.integers(-4, 4))
def test_substitution_commutes_with_evaluation(tree, name, value):
    try:
        e = build(tree)
        substituted = e.substitute({name: const(value)})
    except ZeroDivisionError:
        return
    for env in ENVS:
        full = dict(env, **{name: value})
        try:
            expected = e.evaluate(full)
        except ZeroDivisionError:
            continue
        assert substituted.evaluate(full) == expected


def test_structure_types():
    e = N // 2
    assert isinstance(e, BinOp) and e.op == "floordiv"
    assert isinstance(e.lhs, Sym) and e.rhs == Const(2)
