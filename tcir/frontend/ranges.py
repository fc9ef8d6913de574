"""Range inference (docs/language.md, "Range inference").

Each index variable ranges over a half-open interval of size expressions. Inference
proceeds in rounds: in each round, every affine subscript that contains exactly one
still-unknown variable constrains it so that the subscript stays inside the tensor (or
inside the range earlier statements wrote) for every value of the known variables; the
sides of a guarded subscript that its `?:` guard proves constrain nothing (guards.py).
Constraints are intersected and the variables bounded on both sides become known for
the next round. `where i in lo:hi` fixes a range outright. `find_narrowing` spots an
access that bounds a variable by another extent than the others (a warning).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import Location, TcError
from ..sizeexpr import BinOp, Const, SizeExpr, Sym, ceildiv, const, floordiv, smax, smin, sym
from .checked import TBinary, TCast, TConst, TExpr, TIndex, TSize, TUnary
from .types import converts_implicitly

Range = tuple[SizeExpr, SizeExpr]


@dataclass(frozen=True)
class AffineForm:
    """`sum(coef * var) + sum(coef * size) + const` with integer coefficients."""

    vars: tuple[tuple[str, int], ...]
    sizes: tuple[tuple[str, int], ...]
    const: int

    def coefficient(self, var: str) -> int:
        return dict(self.vars).get(var, 0)


def _combine(a: AffineForm, b: AffineForm, scale: int) -> AffineForm:
    """a + scale * b."""

    def merge(x, y):
        out = dict(x)
        for k, c in y:
            out[k] = out.get(k, 0) + scale * c
        return tuple((k, c) for k, c in out.items() if c != 0)

    return AffineForm(merge(a.vars, b.vars), merge(a.sizes, b.sizes), a.const + scale * b.const)


_ZERO = AffineForm((), (), 0)


def affine_form(e: TExpr) -> AffineForm | None:
    """The affine form of an integer expression over index variables and sizes, or
    None when it is not affine (products of variables, divisions, tensor reads...)."""
    if isinstance(e, TConst) and e.type.is_integer:
        return AffineForm((), (), int(e.value))
    if isinstance(e, TIndex):
        return AffineForm(((e.name, 1),), (), 0)
    if isinstance(e, TSize):
        return AffineForm((), ((e.name, 1),), 0)
    if isinstance(e, TCast) and e.type.is_integer and e.operand.type.is_integer:
        # Only a conversion that keeps every value: `int8(i)` wraps, so it is not `i`.
        return affine_form(e.operand) if converts_implicitly(e.operand.type, e.type) else None
    if isinstance(e, TUnary) and e.op == "-":
        inner = affine_form(e.operand)
        return None if inner is None else _combine(_ZERO, inner, -1)
    if isinstance(e, TBinary) and e.op in ("+", "-", "*"):
        lhs, rhs = affine_form(e.lhs), affine_form(e.rhs)
        if lhs is None or rhs is None:
            return None
        if e.op == "*":
            return _scale(lhs, rhs)
        return _combine(lhs, rhs, 1 if e.op == "+" else -1)
    return None


def _scale(a: AffineForm, b: AffineForm) -> AffineForm | None:
    for x, y in ((a, b), (b, a)):
        if not y.vars and not y.sizes:
            return _combine(_ZERO, x, y.const)
    return None


def _size_part(form: AffineForm) -> SizeExpr:
    out: SizeExpr = const(form.const)
    for name, c in form.sizes:
        out = out + sym(name) * c
    return out


def _bounds_of_rest(form: AffineForm, skip: str, known: dict[str, Range]) -> tuple[SizeExpr, SizeExpr]:
    """Smallest and largest value of the subscript without the `skip` term."""
    lo = hi = _size_part(form)
    for var, c in form.vars:
        if var == skip:
            continue
        vlo, vhi = known[var]
        first, last = vlo, vhi - 1
        lo = lo + (first if c > 0 else last) * c
        hi = hi + (last if c > 0 else first) * c
    return lo, hi


def _constraint(c: int, rest_lo: SizeExpr, rest_hi: SizeExpr, lower: SizeExpr, extent: SizeExpr,
                slack: tuple[int | None, int | None] = (0, 0)) -> tuple[SizeExpr | None, SizeExpr | None]:
    """The values of v with lower <= c*v + rest <= extent - 1 for every value of rest.

    `slack` relaxes the sides of the subscript (below, above) for a read in a `?:`
    branch: None when the guard proves the side (no bound; None also stands for an
    unbounded side of v's interval), else how many values beyond it the guard keeps
    the read from running at (guards.py)."""
    below, above = slack
    low_target = None if below is None else lower - below - rest_lo  # c*v in [low, high]
    high_target = None if above is None else extent - 1 + above - rest_hi
    if c > 0:
        return (None if low_target is None else ceildiv(low_target, c),
                None if high_target is None else floordiv(high_target, c) + 1)
    # x / c = -x / -c: divide by a positive number, so that `-i` gives `1 - N`, not `(N - 1) ceildiv (-1)`
    return (None if high_target is None else ceildiv(-high_target, -c),
            None if low_target is None else floordiv(-low_target, -c) + 1)


@dataclass
class Access:
    """An access that bounds its subscripts: a read, an `exists` read, or the write into
    a target whose shape is already known.

    Subscript k must stay in `[lower[k], shape[k])`: `lower` is 0 by default and `shape`
    the tensor's extents; a read of a tensor that earlier statements wrote is bounded by
    the range they wrote instead. `slack[k]` relaxes the sides (below, above) of
    subscript k in a read that a `?:` guard protects (`guards.guard_slack`)."""

    tensor: str
    shape: list[SizeExpr]
    subscripts: list[AffineForm | None]  # None: not affine, constrains nothing
    loc: Location
    lower: list[SizeExpr] | None = None
    slack: list[tuple[int | None, int | None]] | None = None
    kind: str = "read"  # "read", "exists" or "write"
    text: str = ""  # the access as written, for messages: `gamma(n)`

    def describe(self) -> str:
        return f"`{self.text}`" if self.text else f"the access to `{self.tensor}`"


@dataclass(frozen=True)
class Bound:
    """What one subscript of one access allows for the variable it bounds."""

    access: Access
    lo: SizeExpr | None
    hi: SizeExpr | None


def _fold(pick, values: list[SizeExpr]) -> SizeExpr:
    """`smin` or `smax` of the values, dropping those that provably never decide it."""
    out = values[0]
    for v in values[1:]:
        if at_least(v, out, 0):
            out = out if pick is smin else v
        elif at_least(out, v, 0):
            out = v if pick is smin else out
        else:
            out = pick(out, v)
    return out


def show(e: SizeExpr) -> str:
    """A size expression for a message (`-5`, not `(-5)`)."""
    value = e.as_constant()
    return str(value) if value is not None else str(e)


def infer_ranges(
    variables: list[str],
    explicit: dict[str, Range],
    accesses: list[Access],
    first_use: dict[str, Location],
    nonnegative: Mapping[str, str] | frozenset[str] | set[str] = frozenset(),
    bounds: dict[str, list[Bound]] | None = None,
    hint: Callable[[str], str] | None = None,
) -> dict[str, Range]:
    """The rounds of docs/language.md, "Range inference".

    `nonnegative`: the variables that index a written tensor (mapped to its name): their
    range starts at 0 when nothing bounds it below, and a lower bound that is negative
    whatever the sizes is an error. `bounds`, when given, receives for every inferred
    variable what each access allowed in the round that found it. `hint(var)` adds to
    the error for a variable that cannot be inferred."""
    known = dict(explicit)
    while True:
        collected: dict[str, list[Bound]] = {}
        for access in accesses:
            lowers = access.lower or [const(0)] * len(access.shape)
            slacks = access.slack or [(0, 0)] * len(access.shape)
            for form, extent, lower, slack in zip(access.subscripts, access.shape, lowers, slacks):
                if form is None:
                    continue
                unknown = [v for v, _ in form.vars if v not in known]
                if len(unknown) != 1:
                    continue
                var = unknown[0]
                lo, hi = _constraint(form.coefficient(var), *_bounds_of_rest(form, var, known), lower, extent, slack)
                if lo is not None or hi is not None:
                    collected.setdefault(var, []).append(Bound(access, lo, hi))
        found: dict[str, Range] = {}
        for var, cs in collected.items():
            los = [b.lo for b in cs if b.lo is not None]
            his = [b.hi for b in cs if b.hi is not None]
            if not his or not los and var not in nonnegative:
                continue  # unbounded on one side: wait for a later round
            lo = _fold(smax, los) if los else const(0)  # a left-side index starts at 0
            if var in nonnegative and _negative(lo):
                _negative_start(var, lo, _fold(smin, his), cs, nonnegative)
            found[var] = (lo, _fold(smin, his))
            if bounds is not None:
                bounds[var] = cs
        if not found:
            break
        known.update(found)
    for var in variables:
        if var not in known:
            extra = hint(var) if hint else ""
            raise TcError(f"cannot infer the range of `{var}`; add `where {var} in lo:hi`{extra}", first_use.get(var))
    return {v: known[v] for v in variables}


def _negative_start(var: str, lo: SizeExpr, hi: SizeExpr, cs: list[Bound], targets) -> None:
    culprit = next((b for b in cs if b.lo is not None and _negative(b.lo)), cs[0])
    target = targets.get(var) if isinstance(targets, Mapping) else None
    tensor = f"`{target}`, whose" if target else "a tensor whose"
    raise TcError(f"{culprit.access.describe()} would make `{var}` start at {show(lo)} (it allows `{var}` in "
                  f"[{show(lo)}, {show(hi)})), but `{var}` indexes {tensor} indices start at 0; shift the "
                  f"subscripts or give the range, e.g. `where {var} in 0:{show(hi)}`", culprit.access.loc)


def _negative(e: SizeExpr) -> bool:
    """Whether `e` is below 0 for all sizes (sizes are never negative)."""
    value = e.as_constant()
    if value is not None:
        return value < 0
    if isinstance(e, BinOp) and e.op in ("min", "max"):
        pick = any if e.op == "min" else all
        return pick(_negative(x) for x in (e.lhs, e.rhs))
    form = size_form(e)
    return form is not None and form[1] < 0 and all(c <= 0 for c in form[0].values())


def size_form(e: SizeExpr) -> tuple[dict[str, int], int] | None:
    """`e` as (sum of coefficient * size, constant), or None when it is not linear."""
    if isinstance(e, Const):
        return {}, e.value
    if isinstance(e, Sym):
        return {e.name: 1}, 0
    if isinstance(e, BinOp) and e.op in ("+", "-", "*"):
        a, b = size_form(e.lhs), size_form(e.rhs)
        if a is None or b is None:
            return None
        if e.op == "*":
            if a[0] and b[0]:
                return None
            base, factor = (a, b[1]) if not b[0] else (b, a[1])
            return {k: c * factor for k, c in base[0].items() if c * factor}, base[1] * factor
        sign = 1 if e.op == "+" else -1
        terms = dict(a[0])
        for k, c in b[0].items():
            terms[k] = terms.get(k, 0) + sign * c
        return {k: c for k, c in terms.items() if c}, a[1] + sign * b[1]
    return None


@dataclass(frozen=True)
class Narrowing:
    """One access bounds a variable more tightly than the others, and not by a constant
    offset (a different extent: `gamma(n)` of extent D where the others give N)."""

    var: str
    access: Access
    allowed: Range  # what that access allows
    others: Range  # what the other accesses allow
    result: Range  # the inferred range
    other: Access | None = None  # when no single access stands alone: one it disagrees with


def find_narrowing(var: str, cs: list[Bound], result: Range) -> Narrowing | None:
    """The access that narrows `var` below what the other accesses allow, if any.

    Bounds that differ by a constant (`X(t)` and `X(t - 3)`: a stencil) or that are
    provably looser than another access's (`N` next to `min(N, M)`) never count, nor do
    `exists` clauses, which are there to bound. Of several disagreeing accesses the one
    that stands alone (the later one on a tie) is named."""
    if len(cs) < 2 or any(b.access.kind == "exists" for b in cs):
        return None
    for upper in (True, False):
        groups: list[list] = []  # [tightest bound, [Bound, ...]]
        for b in cs:
            value = b.hi if upper else b.lo
            if value is None:
                continue
            for g in groups:
                offset = (value - g[0]).as_constant()
                if offset is not None:
                    if offset < 0 if upper else offset > 0:
                        g[0] = value
                    g[1].append(b)
                    break
            else:
                groups.append([value, [b]])
        if len(groups) < 2:
            continue

        def looser(a: SizeExpr, b: SizeExpr) -> bool:
            return at_least(a, b) if upper else at_least(b, a)

        live = [g for g in groups if not any(h is not g and looser(g[0], h[0]) for h in groups)]
        if len(live) < 2:
            continue
        # The declared shape of the target is never the culprit; then the access that
        # stands alone (fewest accesses agree with it).
        live.sort(key=lambda g: (any(b.access.kind == "write" for b in g[1]), len(g[1])))
        narrow = live[0]
        alone = len(narrow[1]) < len(live[1][1]) or any(b.access.kind == "write" for b in live[1][1])
        rest = [g[0] for g in groups if g is not narrow]
        other = _fold(smin if upper else smax, rest)
        by = narrow[1][0]
        allowed = (by.lo if by.lo is not None else result[0], by.hi if by.hi is not None else result[1])
        others = (result[0], other) if upper else (other, result[1])
        return Narrowing(var, by.access, allowed, others, result, None if alone else live[1][1][0].access)
    return None


def at_least(a: SizeExpr, b: SizeExpr, least: int = 1) -> bool:
    """Whether a >= b provably, for every size >= `least` (1 for warnings: an extent of
    0 is legal but not what a program is written for)."""
    if a == b:
        return True
    form = size_form(a - b)
    if form is not None and all(c >= 0 for c in form[0].values()) \
            and form[1] + least * sum(form[0].values()) >= 0:
        return True
    if isinstance(b, BinOp) and b.op == "min" and (at_least(a, b.lhs, least) or at_least(a, b.rhs, least)):
        return True
    if isinstance(b, BinOp) and b.op == "max" and at_least(a, b.lhs, least) and at_least(a, b.rhs, least):
        return True
    if isinstance(a, BinOp) and a.op == "max" and (at_least(a.lhs, b, least) or at_least(a.rhs, b, least)):
        return True
    if isinstance(a, BinOp) and a.op == "min" and at_least(a.lhs, b, least) and at_least(a.rhs, b, least):
        return True
    return False


def check_not_empty(var: str, rng: Range, loc: Location | None) -> None:
    """An inferred range that is empty whatever the sizes is an error."""
    extent = (rng[1] - rng[0]).as_constant()
    if extent is not None and extent <= 0:
        raise TcError(f"the range of `{var}` is empty: [{rng[0]}, {rng[1]})", loc)
