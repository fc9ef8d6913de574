"""Range inference (tc-language.md, "Range inference").

Each index variable ranges over a half-open interval of size expressions. Inference
proceeds in rounds: in each round, every affine subscript that contains exactly one
still-unknown variable constrains it so that the subscript stays inside the tensor for
every value of the known variables; constraints are intersected and the variables they
constrain become known for the next round. `where i in lo:hi` fixes a range outright.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import Location, TcError
from ..sizeexpr import SizeExpr, ceildiv, const, floordiv, smax, smin, sym
from .checked import TBinary, TCast, TConst, TExpr, TIndex, TSize, TUnary

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
        return affine_form(e.operand)
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


def _constraint(c: int, rest_lo: SizeExpr, rest_hi: SizeExpr, extent: SizeExpr) -> Range:
    """The values of v with 0 <= c*v + rest <= extent - 1 for every value of rest."""
    low_target, high_target = -rest_lo, extent - 1 - rest_hi  # c*v in [low, high]
    if c > 0:
        return ceildiv(low_target, c), floordiv(high_target, c) + 1
    return ceildiv(high_target, c), floordiv(low_target, c) + 1


@dataclass
class Access:
    """A read (or a write into a tensor of known shape) that bounds its subscripts."""

    tensor: str
    shape: list[SizeExpr]
    subscripts: list[AffineForm | None]  # None: not affine, constrains nothing
    loc: Location


def infer_ranges(
    variables: list[str],
    explicit: dict[str, Range],
    accesses: list[Access],
    first_use: dict[str, Location],
    nonnegative: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Range]:
    """`nonnegative`: variables that index a written tensor, so never start below 0;
    the bound applies in the round they become known, before later rounds use them."""
    known = dict(explicit)
    while True:
        found: dict[str, Range] = {}
        for access in accesses:
            for form, extent in zip(access.subscripts, access.shape):
                if form is None:
                    continue
                unknown = [v for v, _ in form.vars if v not in known]
                if len(unknown) != 1:
                    continue
                var = unknown[0]
                lo, hi = _constraint(form.coefficient(var), *_bounds_of_rest(form, var, known), extent)
                if var in found:
                    lo, hi = smax(found[var][0], lo), smin(found[var][1], hi)
                found[var] = (lo, hi)
        for var in nonnegative & found.keys():
            lo, hi = found[var]
            low = lo.as_constant()
            if low is None or low < 0:
                found[var] = (smax(lo, 0), hi)
        if not found:
            break
        known.update(found)
    for var in variables:
        if var not in known:
            raise TcError(f"cannot infer the range of `{var}`; add `where {var} in lo:hi`", first_use.get(var))
    return {v: known[v] for v in variables}


def check_not_empty(var: str, rng: Range, loc: Location | None) -> None:
    """An inferred range that is empty whatever the sizes is an error."""
    extent = (rng[1] - rng[0]).as_constant()
    if extent is not None and extent <= 0:
        raise TcError(f"the range of `{var}` is empty: [{rng[0]}, {rng[1]})", loc)
