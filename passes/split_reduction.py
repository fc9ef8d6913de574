"""Split long reductions in two stages: partial results over slices of the reduction,
then their combination (split-K for contractions, two-stage sums and norms).

Summary:
  Issue 18, item 4. A reduction whose left side has few points runs in few threads (on
  the GPU, a total `S +=! A(i)` runs in one block; on the CPU in one core), however long
  it is. This pass gives such a statement `S(l) op=! E(l, r)` a parallel dimension:
  `partials` partial results of slices of the reduction variable `r` go to a new
  temporary, and a second statement combines them:

      S_partial(l, r_outer) op=! E(l, r := slice(r_outer, r_inner))
      S(l) op=! S_partial(l, r_outer)

  `r_outer` ranges over the `partials` slices and is parallel; `r_inner` over the
  elements of a slice. The layouts of the slices (`layout`):
  - `chunked` (the CPU's): slice `c` holds the consecutive `r = lo + c * F + q`, `F =
    ceil(R / partials)`, so each core reads contiguous memory;
  - `interleaved` (the GPU's): slice `c` holds `r = lo + q * partials + c`, so that
    neighbouring threads (consecutive `c`) read neighbouring elements.
  Where `partials` does not divide the extent `R` of `r`, the last slice is guarded:
  `+` and `*` add their identity for the points past the end, `min` and `max` repeat the
  first element (they are idempotent, and a float identity would be an infinity, which
  TC has no literal for). No atomics: the combination is a second, ordinary reduction,
  so the result is deterministic (it differs from the unsplit sum by reassociation).

  A statement is split when it is a `+`, `*`, `min` or `max` reduction (with or without
  `!`: the second statement keeps the original's assignment, so `S += E` still adds
  to what `S` held), its variable with the longest extent spans at least `2 * partials`
  points, its partial results (its left side's points times `partials`) are at most
  `MAX_PARTIALS` elements, its right side does not read its target, it is not a scatter-add, and it does
  not sum or multiply into a number format of `tcir.lowp` (which rounds after every
  step, in order). Every other statement is kept as it is.

  The def is raised to TC (`tcir.checked_from_ir`), rewritten and generated again, as
  `assign-precision` does; the new names avoid every name of the def. A def that cannot
  be raised (IR no TC source gives) is left as it is.

Options:
  partials  the number of partial results (at least 2).
  layout    `chunked` (default) or `interleaved`.
  sizes     "N=4096,M=4" (required): the extents decide what is split and the slices.

Before (`def total(float(N) A) -> (S) { S +=! A(i) }` at N=10, partials=4, chunked):
  tc.stmt (%i in 0 to N) %S[] +=! { ... tc.read %A[%i] ... }
After, as TC:
  S_partial(i_outer) +=! i_outer * 3 + i_inner < 10 ? A(i_outer * 3 + i_inner) : 0.0
      where i_outer in 0:4, i_inner in 0:3
  S +=! S_partial(i_outer) where i_outer in 0:4

Used by the `loops` and `gpu` stages when the mapping option `splitReduction` is at
least 2 (docs/mapping-options.md), with the layout of their target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from tcir.checked_from_ir import checked_def
from tcir.dialects import tc
from tcir.errors import TcError
from tcir.frontend.checked import (
    CheckedDef, CheckedStmt, TBinary, TConst, TExpr, TIndex, TRead, TSelect, reads, rebuild,
)
from tcir.frontend.printing import (
    RESERVED, SourceStmt, fresh_name, header_source, parameter_source, result_source, settle, source_statements,
    statement_op,
)
from tcir.frontend.types import BOOL, INT32
from tcir.irgen import build_def
from tcir.passes.tc_lowering import parse_sizes
from tcir.sizeexpr import Const

LAYOUTS = ("chunked", "interleaved")
# the most elements of a temporary of partial results (64 MiB of float): a split is for a
# reduction whose left side has few points, never one that would need gigabytes
MAX_PARTIALS = 1 << 24
_IDENTITY = {"+": 0, "*": 1}


def split_reductions(d: CheckedDef, partials: int, layout: str, sizes: Mapping[str, int]) -> CheckedDef | None:
    """`d` with its long reductions split (module docstring), or None if none is."""
    if partials < 2:
        raise TcError(f"split-reduction: `partials` must be at least 2, not {partials}")
    if layout not in LAYOUTS:
        raise TcError(f"split-reduction: unknown layout `{layout}`; expected " + " or ".join(f"`{x}`" for x in LAYOUTS))
    taken = set(d.tensors) | set(d.sizes) | set(RESERVED) | {v for s in d.stmts for v in s.iterators}
    out: list[SourceStmt] = []
    split = False
    for s in d.stmts:
        r = split_variable(d, s, partials, sizes)
        if r is None:
            out += source_statements([s])
            continue
        out += _two_stages(d, s, r, partials, layout, sizes, taken)
        split = True
    if not split:
        return None
    params = [parameter_source(t) for t in d.inputs]
    header = header_source(d.name, params, [result_source(d, t.name, t.dtype) for t in d.outputs])
    return settle(header, [(None, out)], d.name, f"{d.name} (split-reduction)")[1]


def _extent(s: CheckedStmt, v: str, sizes: Mapping[str, int]) -> int:
    lo, hi = s.ranges[v]
    return hi.evaluate(sizes) - lo.evaluate(sizes)


def split_variable(d: CheckedDef, s: CheckedStmt, partials: int, sizes: Mapping[str, int]) -> str | None:
    """The reduction variable of statement `s` of `d` that `partials` would split at
    these sizes, None if `s` is not split (module docstring)."""
    dtype = d.tensors[s.target].dtype
    if (s.kind not in ("+", "*", "min", "max") or not s.reduction_vars or s.scatter
            or any(x.tensor == s.target for x in reads(s.rhs)) or dtype.is_lowp and s.kind in _IDENTITY):
        return None
    r = max(s.reduction_vars, key=lambda v: _extent(s, v, sizes))  # the first of the longest
    points = math.prod(max(0, _extent(s, v, sizes)) for v in s.lhs)
    return r if _extent(s, r, sizes) >= 2 * partials and points * partials <= MAX_PARTIALS else None


def _two_stages(d: CheckedDef, s: CheckedStmt, r: str, partials: int, layout: str, sizes: Mapping[str, int],
                taken: set[str]) -> list[SourceStmt]:
    extent = _extent(s, r, sizes)
    per_slice = -(-extent // partials)
    outer, inner = fresh_name(f"{r}_outer", taken), fresh_name(f"{r}_inner", taken)
    partial = fresh_name(f"{s.target}_partial", taken)
    c, q = TIndex(INT32, outer), TIndex(INT32, inner)
    offset = (_times(c, per_slice) if layout == "chunked" else _times(q, partials))
    offset = TBinary(INT32, "+", offset, q if layout == "chunked" else c)
    lo = s.ranges[r][0].evaluate(sizes)
    rhs = _substituted(s.rhs, r, TBinary(INT32, "+", offset, TConst(INT32, lo)) if lo else offset)
    if per_slice * partials != extent:  # the last slice runs past the end
        past = TConst(s.rhs.type, _IDENTITY[s.kind]) if s.kind in _IDENTITY else _substituted(
            s.rhs, r, TConst(INT32, lo))
        rhs = TSelect(s.rhs.type, TBinary(BOOL, "<", offset, TConst(INT32, extent)), rhs, past)
    ranges = {v: rng for v, rng in s.ranges.items() if v != r}
    first = dict(ranges)
    first[outer] = (Const(0), Const(partials))
    first[inner] = (Const(0), Const(per_slice))
    explicit = (set(s.explicit) - {r}) | {outer, inner}
    lhs = list(s.lhs)
    second = {v: s.ranges[v] for v in lhs} | {outer: (Const(0), Const(partials))}
    combine = TRead(s.rhs.type, partial, tuple(TIndex(INT32, v) for v in lhs + [outer]))
    return [
        SourceStmt(partial, lhs + [outer], statement_op(s.kind, True), rhs, first, explicit),
        SourceStmt(s.target, lhs, statement_op(s.kind, s.init), combine, second,
                   (set(s.explicit) & set(lhs)) | {outer}),
    ]


def _times(v: TIndex, k: int) -> TExpr:
    return TBinary(INT32, "*", v, TConst(INT32, k))


def _substituted(e: TExpr, r: str, value: TExpr) -> TExpr:
    """`e` with the index variable `r` replaced by `value` (in subscripts and as a value)."""
    return rebuild(e, lambda x: value if isinstance(x, TIndex) and x.name == r else None)


@dataclass(frozen=True)
class SplitReductionPass(ModulePass):
    name = "split-reduction"

    partials: int = 0
    layout: str = "chunked"
    sizes: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.sizes:
            raise TcError(f"{self.name}: needs `sizes` (what is split depends on the extents)")
        split_module(op, parse_sizes(self.sizes), self.partials, self.layout)


def split_module(module: ModuleOp, sizes: Mapping[str, int], partials: int, layout: str) -> None:
    """Every `tc.def` of `module` with its long reductions split, in place."""
    for def_op in list(module.ops):
        if not isinstance(def_op, tc.DefOp):
            continue
        try:
            d = checked_def(def_op)
        except TcError:
            continue  # IR that is not TC (hand-written): an optimization leaves it as it is
        new = split_reductions(d, partials, layout, sizes)
        if new is not None:
            module.body.block.insert_op_before(build_def(new), def_op)
            def_op.detach()
            def_op.erase()
