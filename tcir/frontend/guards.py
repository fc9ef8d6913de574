"""Guards: what the condition of a `?:` proves about the reads in its branches.

`c ? a : b` evaluates `a` only where `c` holds and `b` only where it does not. The
conjuncts of `c` (of `!c` for `b`) that compare affine integer expressions are *facts*:
`f >= 0` (`t - 3 >= 0` gives `t - 3`, `h + kh - 1 < H` gives `H - h - kh`) or `f != 0`
(`i != N - 1`). A fact with the same variable part as a subscript bounds it: `t - 3 >= 0`
proves `X(t - 3)` is not below 0, and `i != N - 1` keeps `X(i + 1)` from running at the
one index past the end. Range inference drops the sides of guarded subscripts that the
facts prove and widens the others by the values the facts exclude (`guard_slack`;
docs/language.md, "Reads in `?:` branches"); the call-time bounds check narrows the
extremes of a guarded subscript with them (`guard_limits`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ..sizeexpr import SizeExpr
from .checked import COMPARISONS, TBinary, TExpr, TRead, TSelect, TUnary, children
from .ranges import AffineForm, affine_form, size_form


@dataclass(frozen=True)
class Fact:
    """`form >= 0` (op ">=") or `form != 0` (op "!=") wherever the guarded branch runs."""

    form: AffineForm
    op: str = ">="


Facts = tuple[Fact, ...]

_NEGATED = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}


def _minus(a: AffineForm, b: AffineForm, const: int = 0) -> AffineForm:
    """a - b + const."""
    def merge(x, y):
        out = dict(x)
        for k, c in y:
            out[k] = out.get(k, 0) - c
        return tuple((k, c) for k, c in out.items() if c != 0)

    return AffineForm(merge(a.vars, b.vars), merge(a.sizes, b.sizes), a.const - b.const + const)


def facts_of(cond: TExpr, holds: bool = True) -> Facts:
    """The affine facts implied by `cond` being `holds` (conjuncts only: a disjunction,
    or a comparison of floats or unsigned integers, gives none)."""
    if isinstance(cond, TUnary) and cond.op == "!":
        return facts_of(cond.operand, not holds)
    if not isinstance(cond, TBinary):
        return ()
    if cond.op == ("&&" if holds else "||"):
        return facts_of(cond.lhs, holds) + facts_of(cond.rhs, holds)
    if cond.op not in COMPARISONS or cond.lhs.type.kind != "int":
        return ()  # unsigned comparisons wrap: `uint32(i - 3) >= 0` always holds
    a, b = affine_form(cond.lhs), affine_form(cond.rhs)
    if a is None or b is None:
        return ()
    op = cond.op if holds else _NEGATED[cond.op]
    if op == ">=":
        return (Fact(_minus(a, b)),)
    if op == ">":
        return (Fact(_minus(a, b, -1)),)
    if op == "<=":
        return (Fact(_minus(b, a)),)
    if op == "<":
        return (Fact(_minus(b, a, -1)),)
    if op == "==":
        return (Fact(_minus(a, b)), Fact(_minus(b, a)))
    return (Fact(_minus(a, b), "!="),)


def reads_with_guards(e: TExpr, facts: Facts | None = None) -> Iterator[tuple[TRead, Facts | None]]:
    """Every tensor read of `e` with the facts of the `?:` branches around it: None
    for a read outside any branch (it always runs where its statement runs)."""
    if isinstance(e, TSelect):
        yield from reads_with_guards(e.cond, facts)
        yield from reads_with_guards(e.then, (facts or ()) + facts_of(e.cond, True))
        yield from reads_with_guards(e.otherwise, (facts or ()) + facts_of(e.cond, False))
        return
    if isinstance(e, TRead):
        yield e, facts
    for c in children(e):
        yield from reads_with_guards(c, facts)


def _same_vars(a: AffineForm, b: AffineForm, sign: int) -> bool:
    return dict(a.vars) == {v: sign * c for v, c in b.vars}


def _add(x: dict[str, int], y, sign: int = 1) -> dict[str, int]:
    out = dict(x)
    for k, c in (y.items() if isinstance(y, dict) else y):
        out[k] = out.get(k, 0) + sign * c
    return {k: c for k, c in out.items() if c}


def _nonnegative(sizes: dict[str, int], constant: int) -> bool:
    """Whether sum(coef * size) + constant >= 0 for all sizes >= 0."""
    return constant >= 0 and all(c >= 0 for c in sizes.values())


def _excluded(form: AffineForm, fact: Fact) -> tuple[dict[str, int], int] | None:
    """The value (sizes, constant) that `form` cannot take where `fact` (a `!=`) holds."""
    if _same_vars(fact.form, form, 1):  # form = fact + (form - fact), fact != 0
        return _add(dict(form.sizes), fact.form.sizes, -1), form.const - fact.form.const
    if _same_vars(fact.form, form, -1):  # fact = -vars + rest != 0: vars != rest
        return _add(dict(form.sizes), fact.form.sizes), form.const + fact.form.const
    return None


def guard_slack(form: AffineForm, facts: Facts, lower: SizeExpr, extent: SizeExpr) -> tuple[int | None, int | None]:
    """How the facts relax `lower <= form <= extent - 1`, for all sizes, per side (below,
    above): None when a `>=` fact proves the side (it bounds nothing), else the number
    of values just outside it that `!=` facts exclude (the side may be that much wider:
    `i != N - 1` lets `X(i + 1)` reach index N, where the read does not run)."""
    low, high = size_form(lower), size_form(extent)
    below: int | None = 0
    above: int | None = 0
    for f in facts:
        if f.op != ">=":
            continue
        if low is not None and _same_vars(f.form, form, 1):
            # form - lower = f + (form - f - lower)
            rest = _add(_add(dict(form.sizes), f.form.sizes, -1), low[0], -1)
            if _nonnegative(rest, form.const - f.form.const - low[1]):
                below = None
        if high is not None and _same_vars(f.form, form, -1):
            # extent - 1 - form = f + (extent - 1 - form - f)
            rest = _add(_add(high[0], form.sizes, -1), f.form.sizes, -1)
            if _nonnegative(rest, high[1] - 1 - form.const - f.form.const):
                above = None
    excluded = [x for f in facts if f.op == "!=" and (x := _excluded(form, f)) is not None]
    if below is not None and low is not None:
        while (low[0], low[1] - 1 - below) in excluded:
            below += 1
    if above is not None and high is not None:
        while (high[0], high[1] + above) in excluded:
            above += 1
    return below, above


def guard_limits(form: AffineForm, facts: Facts | None, sizes: Mapping[str, int],
                 low: int, high: int) -> tuple[int, int]:
    """For concrete sizes: `[low, high]` (the extremes of `form` over the statement's
    domain) narrowed to the values the facts allow where the read runs; empty
    (low > high) when the guard never holds."""
    def value(sz, k: int) -> int:
        return k + sum(c * sizes[s] for s, c in (sz.items() if isinstance(sz, dict) else sz))

    excluded = set()
    for f in facts or ():
        if f.op == "!=":
            x = _excluded(form, f)
            if x is not None:
                excluded.add(value(*x))
            continue
        if _same_vars(f.form, form, 1):  # form = f + (form - f) >= form - f
            low = max(low, value(form.sizes, form.const) - value(f.form.sizes, f.form.const))
        if _same_vars(f.form, form, -1):  # form = -f + (form + f) <= form + f
            high = min(high, value(form.sizes, form.const) + value(f.form.sizes, f.form.const))
    while high in excluded and low <= high:
        high -= 1
    while low in excluded and low <= high:
        low += 1
    return low, high
