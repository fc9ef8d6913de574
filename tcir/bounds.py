"""Checks made once the sizes are known, before any code runs.

Range inference guarantees in-bounds reads only for the accesses it used; explicit
`where` ranges and accesses whose variables were all inferred elsewhere are not covered
(docs/language.md). With concrete sizes every affine access is checked exactly over the
statement's box domain, so compiled code never reads or writes outside a tensor: a
violation is a located `TcError`. A read inside a `?:` branch runs only where its guard
holds: its extremes are narrowed by what the guard proves (`frontend.guards`), and a
read whose guard never holds is not checked.

Extents and affine subscripts are computed with 64-bit indices, so a size above 2^31 is
fine as an extent (a broadcast view of 2^31 elements is summed exactly). But as values
in expressions, sizes and index variables are `int32` (docs/language.md): a size used
as a value, or an index variable used as a value, that exceeds the int32 range for
these sizes would wrap around in the compiled code, and is a located `TcError` instead.
(Non-affine subscripts, such as `A(i * i)` or `LUT(I(b))`, are computed as values.)
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import TcError
from .frontend.checked import CheckedDef, CheckedStmt, TExpr, TIndex, TRead, TSize, children
from .frontend.guards import guard_limits, reads_with_guards
from .frontend.ranges import AffineForm, affine_form
from .sizeexpr import box_extremes


def shapes(d: CheckedDef, sizes: dict[str, int]) -> dict[str, tuple[int, ...]]:
    """The concrete shape of every tensor of `d`. An extent below 0 is 0, as in the
    reference (`where i in 0:N - 2` with N = 1 writes nothing into an empty output)."""
    return {name: tuple(max(0, e.evaluate(sizes)) for e in t.shape) for name, t in d.tensors.items()}


def concrete_ranges(stmt: CheckedStmt, sizes: dict[str, int]) -> dict[str, tuple[int, int]]:
    """The ranges for these sizes; an empty *inferred* range is an error (an explicit
    `where` range may be empty: the statement then does nothing)."""
    ranges = {}
    for var, (lo, hi) in stmt.ranges.items():
        low, high = lo.evaluate(sizes), hi.evaluate(sizes)
        if high <= low and var not in stmt.explicit:
            given = ", ".join(f"{k}={v}" for k, v in sizes.items() if k in lo.symbols() | hi.symbols())
            raise TcError(f"the range of `{var}` is empty ([{low}, {high})) with {given or 'these sizes'}; "
                          "the inputs are too small for this statement", stmt.loc)
        ranges[var] = (low, high)
    return ranges


INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _int32_values(e: TExpr) -> Iterator[TSize | TIndex]:
    """The sizes and index variables `e` computes with as int32 values: everywhere but in
    affine subscripts, which are 64-bit index arithmetic (as irgen lowers them)."""
    if isinstance(e, TSize | TIndex):
        yield e
        return
    if isinstance(e, TRead):
        for index in e.indices:
            if affine_form(index) is None:
                yield from _int32_values(index)
        return
    for c in children(e):
        yield from _int32_values(c)


def _check_int32_values(stmt: CheckedStmt, ranges: dict[str, tuple[int, int]], sizes: dict[str, int]) -> None:
    """A size or an index variable used as a value must fit int32, or it would wrap."""
    for use in (u for e in [stmt.rhs, *stmt.scatter.values()] for u in _int32_values(e)):
        if isinstance(use, TSize):
            value = sizes[use.name]
            if value > INT32_MAX:
                raise TcError(f"size `{use.name}` is {value}, but `{stmt.target}` uses it as a value, "
                              f"and a size used as a value is `int32` in TC (at most {INT32_MAX}): it "
                              "would wrap around; pass the value as an `int64` scalar parameter instead",
                              stmt.loc)
            continue
        if use.name not in ranges:
            continue
        low, high = ranges[use.name][0], ranges[use.name][1] - 1
        if low < INT32_MIN or high > INT32_MAX:
            bad = high if high > INT32_MAX else low
            raise TcError(f"index `{use.name}` reaches {bad}, but `{stmt.target}` uses it as a value, "
                          f"and an index used as a value is `int32` in TC (from {INT32_MIN} to "
                          f"{INT32_MAX}): it would wrap around", stmt.loc)


def _extremes(form: AffineForm, ranges: dict[str, tuple[int, int]], sizes: dict[str, int]) -> tuple[int, int]:
    base = form.const + sum(c * sizes[s] for s, c in form.sizes)
    return box_extremes(base, ((c, ranges[var][0], ranges[var][1] - 1) for var, c in form.vars))


def _text(form: AffineForm) -> str:
    terms = [f"{c}*{v}" if c != 1 else v for v, c in form.vars + form.sizes]
    if form.const or not terms:
        terms.append(str(form.const))
    return " + ".join(terms).replace("+ -", "- ")


def check_call(d: CheckedDef, sizes: dict[str, int]) -> None:
    """Raise TcError if a statement has an empty domain, an access out of bounds, or a
    size or index used as an int32 value beyond the int32 range."""
    extents = shapes(d, sizes)
    for stmt in d.stmts:
        ranges = concrete_ranges(stmt, sizes)
        accesses = [(r.tensor, [affine_form(i) for i in r.indices], "reads", facts)
                    for e in [stmt.rhs, *stmt.scatter.values()] for r, facts in reads_with_guards(e)]
        if any(high <= low for low, high in ranges.values()):
            # No point of the domain runs, but `!` still sets the left-side box to the
            # identity when only a reduction range is empty: check that write. (Skipping
            # it let compiled code write out of bounds. Found by test_fuzz_pipeline.py.)
            if not stmt.init or any(ranges[v][1] <= ranges[v][0] for v in stmt.lhs):
                continue
            accesses = []
        else:  # the right side is evaluated
            _check_int32_values(stmt, ranges, sizes)
        # a scatter-add's indirect subscripts: its updates skip an index outside the target
        accesses.append((stmt.target, [None if k in stmt.scatter else affine_form(x)
                                       for k, x in enumerate(stmt.write_subscripts())], "writes", None))
        for tensor, forms, verb, facts in accesses:
            limits = [None if form is None else guard_limits(form, facts, sizes, *_extremes(form, ranges, sizes))
                      for form in forms]  # None: indirect, the caller's responsibility (language.md)
            if any(lim is not None and lim[0] > lim[1] for lim in limits):
                continue  # the guard never holds where this read would run
            for axis, (form, lim) in enumerate(zip(forms, limits)):
                if lim is None:
                    continue
                low, high = lim
                extent = extents[tensor][axis]
                if low < 0 or high >= extent:
                    bad = low if low < 0 else high
                    raise TcError(f"`{stmt.target}` {verb} `{tensor}` at index {bad} of dimension {axis} "
                                  f"(subscript `{_text(form)}`), outside [0, {extent}); "
                                  "restrict the ranges with `where`", stmt.loc)
