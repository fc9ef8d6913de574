"""The statement-level reverse pass: from a checked def to the source of its gradient.

1. **Versions.** A tensor written by several statements holds several values over
   time; the reverse pass needs the old ones (`O1(b, n) = fmax(O1(b, n), 0)` needs the
   `O1` before the `fmax`). So the forward statements are copied into the gradient
   def with every write but a tensor's last one renamed to a fresh version
   (`O1_1`, `O1_2`, then `O1`), and each read renamed to the version it sees. A write
   that leaves part of the previous version in place (an accumulation without `!`, or
   a `=` over part of the tensor) first copies the previous version; an accumulation
   without `!` and without reduction variables becomes `O(l) = O_prev(l) op E`.
2. **Activity.** A version is active when its value depends on an input in `wrt`;
   only active values get an adjoint.
3. **Reverse.** Statements are visited last to first. Each active version `V` has an
   adjoint `d_V` (the parameter `d_O` for an output's final value, or a temporary) that
   holds ∂loss/∂V once every reader of `V` has been visited, which is exactly when the
   statement writing `V` is. That statement's right side is differentiated
   (`rules.backward`) with the adjoint `d_V(lhs)` and each read `X(s)` gets
   `d_X(s) += contribution`, an adjoint statement over the forward statement's
   iteration domain (see `_scatter` for the change of variables when `s` is not a list
   of distinct index variables). What the previous version of `V` gets through the
   statement is then left in `d_V` on its left side (`_to_previous`).
4. **Pruning and checking.** Forward statements whose values the reverse part does not
   read are dropped; the source is checked by the front end, and a statement whose
   inferred ranges differ from the forward ones gets explicit `where` ranges, until
   the program checks with exactly the intended domains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location, TcError
from ..frontend.checked import (
    CheckedDef, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr, TIndex, TRead, TScalar, TSelect, TSize,
    TUnary, TensorInfo, children, reads, rebuild, write_subscripts,
)
from ..frontend.printing import (
    RESERVED, SourceStmt, expr_source, header_source, parameter_source, same_range, settle, statement_op,
    write_source,
)
from ..frontend.guards import reads_with_guards
from ..frontend.ranges import at_least
from ..frontend.types import INT32, ScalarType, promote
from ..sizeexpr import BinOp, Const, SizeExpr, Sym, smax, smin
from . import rules
from .rules import NotDifferentiable, add, both, cast, cmp, const, div, mul, select

Range = tuple[SizeExpr, SizeExpr]


@dataclass
class FStmt:
    """A statement of the gradient def's forward part."""

    target: str  # the version written
    lhs: list[str]
    kind: str  # "=", "+", "*", "min", "max"
    init: bool
    ranges: dict[str, Range]  # every iterator, left side first
    rhs: TExpr
    explicit: set[str]
    loc: Location
    copy: bool = False
    prev: str | None = None  # `*= min= max=` without `!`: the version it combines with
    scatter: dict[int, TExpr] = field(default_factory=dict)  # a scatter-add's indirect subscripts

    @property
    def subscripts(self) -> tuple[TExpr, ...]:
        return tuple(write_subscripts(self.lhs, self.scatter))

    @property
    def reduction_vars(self) -> list[str]:
        return [v for v in self.ranges if v not in self.lhs]

    @property
    def overwrites(self) -> bool:
        return self.kind == "=" or self.init


def _reads(*es: TExpr) -> set[str]:
    return {r.tensor for e in es for r in reads(e)}


# Affine subscripts ---------------------------------------------------------------------


@dataclass
class Affine:
    """sum(coef * index var) + sum(coef * size) + const."""

    vars: dict[str, int]
    sizes: dict[str, int]
    const: int

    def scaled(self, k: int) -> Affine:
        return Affine({v: c * k for v, c in self.vars.items()}, {s: c * k for s, c in self.sizes.items()},
                      self.const * k)

    def plus(self, o: Affine) -> Affine:
        vs, ss = dict(self.vars), dict(self.sizes)
        for v, c in o.vars.items():
            vs[v] = vs.get(v, 0) + c
        for s, c in o.sizes.items():
            ss[s] = ss.get(s, 0) + c
        return Affine({v: c for v, c in vs.items() if c}, {s: c for s, c in ss.items() if c}, self.const + o.const)

    def substitute(self, v: str, form: Affine) -> Affine:
        if v not in self.vars:
            return self
        c = self.vars[v]
        rest = Affine({w: k for w, k in self.vars.items() if w != v}, self.sizes, self.const)
        return rest.plus(form.scaled(c))

    def expr(self) -> TExpr:
        terms: list[tuple[int, TExpr]] = [(c, TIndex(INT32, v)) for v, c in self.vars.items()]
        terms += [(c, TSize(INT32, s)) for s, c in self.sizes.items()]
        out: TExpr | None = None
        for c, t in terms:
            mag = t if abs(c) == 1 else TBinary(INT32, "*", TConst(INT32, abs(c)), t)
            if out is None:
                out = mag if c > 0 else TUnary(INT32, "-", mag)
            else:
                out = TBinary(INT32, "+" if c > 0 else "-", out, mag)
        if out is None:
            return TConst(INT32, self.const)
        if self.const:
            out = TBinary(INT32, "+" if self.const > 0 else "-", out, TConst(INT32, abs(self.const)))
        return out


def affine(e: TExpr) -> Affine | None:
    if isinstance(e, TIndex):
        return Affine({e.name: 1}, {}, 0)
    if isinstance(e, TSize) and e.type == INT32:
        return Affine({}, {e.name: 1}, 0)
    if isinstance(e, TConst) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return Affine({}, {}, e.value)
    if isinstance(e, TUnary) and e.op == "-":
        a = affine(e.operand)
        return a.scaled(-1) if a else None
    if isinstance(e, TBinary) and e.op in ("+", "-", "*"):
        a, b = affine(e.lhs), affine(e.rhs)
        if a is None or b is None:
            return None
        if e.op == "+":
            return a.plus(b)
        if e.op == "-":
            return a.plus(b.scaled(-1))
        if not a.vars and not a.sizes:
            return b.scaled(a.const)
        if not b.vars and not b.sizes:
            return a.scaled(b.const)
    return None


# Names ---------------------------------------------------------------------------------


class Names:
    """The one namespace of tensors and sizes of the generated def. A new tensor must
    also avoid every index variable name in use, and a new index variable every tensor
    and size name."""

    def __init__(self, d: CheckedDef):
        self.tensorish = set(d.tensors) | set(d.sizes) | set(RESERVED)
        self.taken = set(self.tensorish)
        for s in d.stmts:
            self.taken |= set(s.iterators)

    def fresh(self, base: str) -> str:
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}_{k}" if not base[-1].isdigit() else f"{base}x{k}"
        self.taken.add(name)
        self.tensorish.add(name)
        return name

    def fresh_index(self, base: str, local: set[str]) -> str:
        name, k = base, 1
        while name in self.tensorish or name in local:
            k += 1
            name = f"{base}{k}"
        self.taken.add(name)
        return name


def _dim_vars(shape: list[SizeExpr], names: Names, local: set[str] | None = None) -> list[str]:
    local = set(local or ())
    out = []
    for k, s in enumerate(shape):
        base = str(s).lower() if str(s).isidentifier() else f"i{k}"
        v = names.fresh_index(base, local)
        local.add(v)
        out.append(v)
    return out


# The pass ------------------------------------------------------------------------------


class Gradient:
    def __init__(self, d: CheckedDef, wrt: list[str], source_name: str):
        self.d = d
        self.wrt = wrt
        self.names = Names(d)
        self.name = self.names.fresh(f"{d.name}_grad")
        self.fwd: list[FStmt] = []
        self.final: dict[str, str] = {}  # tensor -> its last version
        self.dtype: dict[str, ScalarType] = {t.name: t.dtype for t in d.tensors.values()}
        self.shape: dict[str, list[SizeExpr]] = {t.name: list(t.shape or []) for t in d.tensors.values()}
        self.lhs_names: dict[str, list[str]] = {}
        self.source_name = source_name

    # 1. versions ------------------------------------------------------------------

    def version(self) -> None:
        d = self.d
        writes: dict[str, int] = {}
        for s in d.stmts:
            writes[s.target] = writes.get(s.target, 0) + 1
        done: dict[str, int] = {}
        current: dict[str, str] = {}
        for s in d.stmts:
            t = s.target
            self._check_reads(s, current)
            rename = dict(current)
            rhs = rebuild(s.rhs, lambda x: TRead(x.type, rename[x.tensor], x.indices)
                       if isinstance(x, TRead) and x.tensor in rename else None)
            kind, init = s.kind, s.init
            if init and not s.reduction_vars:
                kind, init = "=", False
            combines = t in current and kind != "=" and not init
            if combines and not s.reduction_vars and not s.scatter:
                # one combination per point: `O(l) op= E` is `O(l) = O_prev(l) op E`
                rhs = _combine(kind, TRead(self.dtype[t], current[t], tuple(TIndex(INT32, v) for v in s.lhs)), rhs)
                kind = "="
            done[t] = done.get(t, 0) + 1
            last = done[t] == writes[t]
            name = t if last else self.names.fresh(f"{t}_{done[t]}")
            self.dtype[name] = self.dtype[t]
            self.shape[name] = self.shape[t]
            if not s.scatter:  # index names for the adjoint's statements, one per dimension
                self.lhs_names[name] = list(s.lhs)
            ranges = {v: s.ranges[v] for v in s.iterators}
            full = self._covers(s.lhs, ranges, self.shape[t])
            if t not in current:
                if not init and kind != "=":
                    if kind != "+":
                        raise TcError(f"`{s.kind}=` without `!` into `{t}`, which no earlier statement writes, "
                                      f"is not differentiable; use `{s.kind}=!`", s.loc)
                    init = True
                if not full and self._shape_differs(s, t):
                    self._copy(name, None, s)
            elif not (full and (kind == "=" or init)):
                self._copy(name, current[t], s)
            prev = current[t] if combines and kind in ("*", "min", "max") else None
            self.fwd.append(FStmt(name, list(s.lhs), kind, init, ranges, rhs, set(s.explicit), s.loc, prev=prev,
                                  scatter=dict(s.scatter)))
            current[t] = name
        self.final = current

    def _shape_differs(self, s: CheckedStmt, t: str) -> bool:
        hi = [s.ranges[v][1] for v in s.lhs]
        return any(str(h) != str(e) for h, e in zip(hi, self.shape[t]))

    def _copy(self, name: str, prev: str | None, s: CheckedStmt) -> None:
        """`name(all) = prev(all)` (or 0), so that a partial write keeps the rest."""
        shape = self.shape[name]
        vs = list(s.lhs) if len(s.lhs) == len(shape) else _dim_vars(shape, self.names)
        ranges = {v: (Const(0), e) for v, e in zip(vs, shape)}
        t = self.dtype[name]
        rhs = TRead(t, prev, tuple(TIndex(INT32, v) for v in vs)) if prev else const(t, 0)
        self.fwd.append(FStmt(name, vs, "=", False, ranges, rhs, set(vs), s.loc, copy=True))

    def _covers(self, lhs: list[str], ranges: dict[str, Range], shape: list[SizeExpr]) -> bool:
        return len(lhs) == len(shape) and all(same_range(ranges[v], (Const(0), e)) for v, e in zip(lhs, shape))

    def _check_reads(self, s: CheckedStmt, current: dict[str, str]) -> None:
        """Refuse what the versions cannot express: a read of an output or temporary
        before any statement writes it (its initial values are not recomputed), and the
        reads of `_check_self_reads`."""
        for r in reads(s.rhs):
            if self.d.tensors[r.tensor].role in ("output", "temporary") and r.tensor not in current:
                raise TcError(f"`{r.tensor}` is read before any statement writes it: not differentiable", s.loc)
        self._check_self_reads(s)

    def _check_self_reads(self, s: CheckedStmt) -> None:
        """A statement may read its own target where the value it reads is one an
        earlier statement wrote: at the element it writes (each point combines once) or
        at an element a later point writes (`O(i + 1)`: points run in lexicographic
        order, so it still holds the old value). Anything else reads values this very
        statement wrote, a recurrence, whose adjoint runs the other way."""
        own = [r for r in reads(s.rhs) if r.tensor == s.target]
        for r in own:
            read = f"`{s.target}({', '.join(expr_source(i) for i in r.indices)})`"
            if s.init:
                raise TcError(f"this statement reads its own target {read}, which its `!` has just set to "
                              f"the identity of `{s.kind}=`: not differentiable; read the earlier value "
                              f"through another tensor", s.loc)
            offset = _offset(r.indices, s.lhs)
            if offset is None or offset < (0,) * len(offset):
                where = ("at an element that an earlier point of the same statement writes" if offset
                         else "at an element that depends on the point in a non-constant way")
                raise TcError(f"this statement reads its own target {read} {where}: a recurrence (points run in "
                              f"lexicographic order, each reading what earlier ones wrote). Its adjoint is a "
                              f"recurrence running the opposite way, which a TC statement cannot express (its "
                              f"points run in increasing order): not differentiable. Write the values in closed "
                              f"form instead (a prefix sum as `O(i) +=! j <= i ? A(j) : 0.0 where j in 0:N`), "
                              f"or write its gradient by hand", s.loc)
            if not any(offset) and s.reduction_vars:
                red = ", ".join(f"`{v}`" for v in s.reduction_vars)
                raise TcError(f"this statement reads its own target {read} inside a reduction over {red}: each "
                              f"step of the reduction reads what the previous one wrote, a recurrence: not "
                              f"differentiable. Reduce into a new tensor and combine it with `{s.target}` in "
                              f"a statement of its own", s.loc)

    # 2. activity ------------------------------------------------------------------

    def activity(self) -> None:
        self.active = set(self.wrt)
        for f in self.fwd:
            if self.dtype[f.target].is_float and (_reads(f.rhs) | _scalars(f.rhs)) & self.active:
                self.active.add(f.target)

    # 3. reverse -------------------------------------------------------------------

    def reverse(self) -> list[SourceStmt]:
        d = self.d
        self.outs: list[SourceStmt] = []
        self.adjoint: dict[str, str] = {}
        self.ready: set[str] = set()
        self.params: list[tuple[str, TensorInfo, list[SizeExpr]]] = []  # d_O params
        self.grads: dict[str, str] = {}  # input -> d_input
        writers: dict[str, int] = {}
        read_by: set[str] = set()
        for f in self.fwd:
            writers[f.target] = writers.get(f.target, 0) + 1
            read_by |= _reads(f.rhs)
        for o in d.outputs:
            if not o.dtype.is_float:
                continue
            pname = self.names.fresh(f"d_{o.name}")
            dims = []
            for k, e in enumerate(o.shape or []):
                if isinstance(e, Const) or str(e).isidentifier():
                    dims.append(str(e))
                else:
                    dims.append(self.names.fresh(f"{o.name}_dim{k}"))
            self.params.append((pname, o, dims))
            v = self.final[o.name]
            if v not in self.active:
                continue
            if v in read_by or writers[v] > 1:
                buf = self.names.fresh(f"d_{o.name}_total")
                vs = self.lhs_names.get(v) or _dim_vars(self.shape[v], self.names)
                rng = {x: (Const(0), e) for x, e in zip(vs, self.shape[v])}
                t = self.dtype[v]
                self.outs.append(SourceStmt(buf, vs, "=", TRead(t, pname, tuple(TIndex(INT32, x) for x in vs)), rng,
                                     comment=f"the adjoint of `{o.name}`: the seed, then what later uses add"))
                self.adjoint[v] = buf
            else:
                self.adjoint[v] = pname
            self.ready.add(v)
        for x in self.wrt:
            self.grads[x] = self.names.fresh(f"d_{x}")
            self.adjoint[x] = self.grads[x]
        for f in reversed(self.fwd):
            self._reverse_stmt(f)
        for x in self.wrt:
            if x not in self.ready:
                self._zero(x, self.grads[x], comment=f"nothing depends on `{x}`")
        return self.outs

    def _zero(self, x: str, name: str, comment: str | None = None) -> None:
        shape = self.shape[x]
        vs = self.lhs_names.get(x) or _dim_vars(shape, self.names)
        rng = {v: (Const(0), e) for v, e in zip(vs, shape)}
        self.outs.append(SourceStmt(name, vs, "=", const(self.dtype[x], 0), rng, set(vs) if x not in self.grads else set(),
                             exact=x not in self.grads, comment=comment))
        self.ready.add(x)

    def _reverse_stmt(self, f: FStmt) -> None:
        v = f.target
        if v not in self.active or v not in self.ready:
            return
        idx = f.subscripts  # of a scatter-add: its adjoint is a gather
        g: TExpr = TRead(self.dtype[v], self.adjoint[v], idx)
        if (inside := _inside(f.scatter, self.shape[v])) is not None:
            g = select(inside, g, const(g.type, 0))  # where the forward skipped an index outside
        guard: TExpr | None = None
        to_prev: TExpr | None = None  # the adjoint of the previous version where `f` combines with it
        head = len(self.outs)
        if f.kind in ("max", "min") and f.reduction_vars:
            g, guard, to_prev = self._extremum(f, idx, g)
        elif f.kind == "*" and f.reduction_vars:
            g, to_prev = self._product(f, idx, g)
        try:
            leaves = rules.backward(f.rhs, g, lambda n: n in self.active)
        except NotDifferentiable as err:
            raise TcError(str(err), f.loc) from None
        groups: dict[tuple, list] = {}
        for leaf, c, guarded in leaves:
            name = leaf.tensor if isinstance(leaf, TRead) else leaf.name
            subs = leaf.indices if isinstance(leaf, TRead) else ()
            key = (name, tuple(expr_source(s) for s in subs))
            if key in groups:
                groups[key][1] = add(groups[key][1], c)
                groups[key][2] = groups[key][2] or guarded
            else:
                groups[key] = [leaf, c, guarded]
        for (name, _), (leaf, c, guarded) in groups.items():
            if guard is not None:
                c = select(guard, c, const(c.type, 0))
            subs = leaf.indices if isinstance(leaf, TRead) else ()
            self._scatter(f, name, subs, c, guarded)
        if to_prev is not None and f.prev in self.active:
            self._to_previous(f, to_prev)
        elif f.overwrites and self._first_writer(f) is not f:
            self._to_previous(f, const(self.dtype[v], 0))
        if head < len(self.outs) and self.outs[head].comment is None:
            self.outs[head].comment = f"adjoint of: {self._text(f)}"

    def _extremum(self, f: FStmt, idx: tuple[TExpr, ...], g: TExpr) -> tuple[TExpr, TExpr, TExpr | None]:
        """`max=`/`min=` over reduction variables: the adjoint goes to the points that
        reach the extremum, shared evenly among them as PyTorch's `amax` does; without
        `!` the previous value is one more such point. Returns the adjoint of the reads
        of the right side, the mask it is under and the previous value's adjoint."""
        v, t = f.target, self.dtype[f.target]
        value = TRead(t, v, idx)
        ties = self.names.fresh(f"{v}_ties")
        self.shape[ties] = self.shape[v]
        hit = cmp("==", f.rhs, value)
        self.outs.append(SourceStmt(ties, list(f.lhs), "+=!", _indicator(hit), dict(f.ranges), set(f.explicit),
                             comment=f"how many points reach the {f.kind}imum: ties share the adjoint"))
        reached = None
        if f.prev is not None:
            reached = cmp("==", TRead(t, f.prev, idx), value)
            self._over_lhs(f, ties, "+=", _indicator(reached))
        share = div(g, TCast(t, TRead(INT32, ties, idx)))
        return share, hit, None if reached is None else select(reached, share, const(t, 0))

    def _product(self, f: FStmt, idx: tuple[TExpr, ...], g: TExpr) -> tuple[TExpr, TExpr | None]:
        """`*=` over reduction variables, exact with zero factors (no division by 0):
        with `z` zero factors and `p` the product of the others, the derivative in one
        factor `x` is `p / x` when `z == 0`, `p` at the only zero, 0 otherwise. Without
        `!` the previous value is one more factor. Returns the adjoint of the reads of
        the right side and the previous value's adjoint."""
        v, t = f.target, self.dtype[f.target]
        zeros = self.names.fresh(f"{v}_zeros")
        prod = self.names.fresh(f"{v}_nonzero_prod")
        self.shape[zeros] = self.shape[prod] = self.shape[v]
        is_zero = cmp("==", f.rhs, const(t, 0))
        self.outs.append(SourceStmt(zeros, list(f.lhs), "+=!", _indicator(is_zero), dict(f.ranges), set(f.explicit),
                             comment="the product's adjoint without dividing by zero"))
        self.outs.append(SourceStmt(prod, list(f.lhs), "*=!", TSelect(t, is_zero, const(t, 1), f.rhs),
                             dict(f.ranges), set(f.explicit)))
        if f.prev is not None:
            x = TRead(t, f.prev, idx)
            prev_zero = cmp("==", x, const(t, 0))
            self._over_lhs(f, zeros, "+=", _indicator(prev_zero))
            self._over_lhs(f, prod, "*=", TSelect(t, prev_zero, const(t, 1), x))
        z = TRead(INT32, zeros, idx)
        p = TRead(t, prod, idx)

        def partial(x: TExpr, x_zero: TExpr) -> TExpr:
            return select(cmp("==", z, TConst(INT32, 0)), div(p, x),
                          select(both(cmp("==", z, TConst(INT32, 1)), x_zero), p, const(t, 0)))

        to_prev = mul(g, partial(x, prev_zero)) if f.prev is not None else None
        return mul(g, partial(f.rhs, is_zero)), to_prev

    def _over_lhs(self, f: FStmt, target: str, op: str, e: TExpr) -> None:
        """`target(lhs) op e` over `f`'s left side only (the previous value as one more
        point of a count or product that `f`'s reduction started; an adjoint rescaled)."""
        rng = {v: f.ranges[v] for v in f.lhs}
        self.outs.append(SourceStmt(target, list(f.lhs), op, e, rng))

    def _first_writer(self, f: FStmt) -> FStmt:
        return next(g for g in self.fwd if g.target == f.target)

    def _to_previous(self, f: FStmt, adjoint: TExpr) -> None:
        """The adjoint of `f`'s target becomes that of the previous version on `f`'s
        left side: 0 where `f` overwrote it, `d_V * ∂V/∂prev` where `f` combined with
        it. The copy `V = prev` that precedes `f` then passes it on."""
        self._over_lhs(f, self.adjoint[f.target], "=", adjoint)

    def _text(self, f: FStmt) -> str:
        lhs = write_source(f.target, f.lhs, f.scatter)
        op = f.kind + "=" + ("!" if f.init else "") if f.kind != "=" else "="
        return f"{lhs} {op} {expr_source(f.rhs)}"

    def _new_index(self, extent: SizeExpr, k: int, local: set[str]) -> str:
        """A new index variable for dimension `k` of a scatter's left side, named after
        its extent."""
        base = str(extent).lower() if str(extent).isidentifier() else f"i{k}"
        y = self.names.fresh_index(base if base not in local else f"{base}_in", local)
        local.add(y)
        return y

    def _read_bounds(self, c: TExpr, subst: dict[str, Affine]) -> list[TExpr]:
        """Guards `0 <= s < extent` for the subscripts `s` of the reads in `c` that the
        change of variables `subst` rewrites into a new mix of variables (`I(3 * r)`
        with `r = n - m` becomes `I(3 * n - 3 * m)`). They hold wherever the forward
        read ran, but the call-time bounds check, which bounds a subscript by the box of
        the ranges and by guards on the same variables only, could not prove them. Not
        for a read in a `?:` branch: it runs only where its guard holds, so a guard of the
        whole statement would drop the points where the other branch runs (the call-time
        check bounds it by its own guard's facts)."""
        covered = [form.vars for form in subst.values()]
        shapes = self.shape | {d: self.shape[v] for v, d in self.adjoint.items()}
        out: list[TExpr] = []
        for r in (r for r, facts in reads_with_guards(c) if facts is None):
            for sub, extent in zip(r.indices, shapes[r.tensor]):
                a = affine(sub)
                if a is None or not set(a.vars) & set(subst):
                    continue
                for w, form in subst.items():
                    a = a.substitute(w, form)
                bound = _size_affine(extent)
                if len(a.vars) == 1 and list(a.vars.values()) == [1] or a.vars in covered or bound is None:
                    continue  # a single variable (bounded by its range) or a variable part the guards bound
                guards = [cmp(">=", a.expr(), TConst(INT32, 0)), cmp("<", a.expr(), bound.expr())]
                out += [g for g in guards if all(expr_source(g) != expr_source(o) for o in out)]
        return out

    def _scatter(self, f: FStmt, x: str, subs: tuple[TExpr, ...], c: TExpr, guarded: bool) -> None:
        if x not in self.adjoint:
            self.adjoint[x] = self.names.fresh(f"d_{x}")
        target = self.adjoint[x]
        shape = self.shape[x]
        local = set(f.ranges)
        lhs: list[str] = []
        ranges: dict[str, Range] = {}
        subst: dict[str, Affine] = {}
        conds: list[TExpr] = []
        indirect: dict[int, TExpr] = {}
        red = f.reduction_vars
        for k, sub in enumerate(subs):
            a = affine(sub)
            if a is None:  # an indirect or non-affine subscript: a scatter-add at it
                # under a guard, where the read did not run the subscript may be anything
                # (a padding index -1): its adjoint is 0 there, added at a clamped index
                indirect[k] = _clamped(sub, shape[k]) if guarded else sub
                continue
            for w, form in subst.items():
                a = a.substitute(w, form)
            if (len(a.vars) == 1 and not a.sizes and a.const == 0 and list(a.vars.values()) == [1]
                    and next(iter(a.vars)) not in lhs and next(iter(a.vars)) in f.ranges):
                w = next(iter(a.vars))
                lhs.append(w)
                ranges[w] = _within(f.ranges[w], shape[k]) if guarded else f.ranges[w]
                continue
            y = self._new_index(shape[k], k, local)
            lhs.append(y)
            image = _image(a, f.ranges | ranges)
            ranges[y] = _within(image, shape[k]) if not _divides(image) else (Const(0), shape[k])
            cands = [w for w, cw in a.vars.items()
                     if abs(cw) == 1 and w in f.ranges and w not in lhs and _affine_bounds(f.ranges[w])]
            cands.sort(key=lambda w: (w not in red, list(f.ranges).index(w)))
            if cands:
                w = cands[0]
                cw = a.vars[w]
                rest = Affine({u: cu for u, cu in a.vars.items() if u != w}, a.sizes, a.const)
                form = Affine({y: 1}, {}, 0).plus(rest.scaled(-1)).scaled(cw)
                subst = {u: fu.substitute(w, form) for u, fu in subst.items()}
                subst[w] = form
            else:
                conds.append(_equal(a.expr(), TIndex(INT32, y)))
        bounds = []
        for w, form in subst.items():
            lo, hi = f.ranges[w]
            e = form.expr()
            bounds += [cmp(">=", e, _size_affine(b).expr()) for b in _operands(lo, "max")
                       if not _always(form, b, ranges, lower=True)]
            bounds += [cmp("<", e, _size_affine(b).expr()) for b in _operands(hi, "min")
                       if not _always(form, b, ranges, lower=False)]
        conds = bounds + self._read_bounds(c, subst) + conds
        for w in f.ranges:
            if w not in subst and w not in ranges:
                ranges[w] = f.ranges[w]
        if any(at_least(lo, hi, 0) for lo, hi in ranges.values()):
            return  # the read never runs: its guard fails wherever the forward statement runs
        # ranges narrowed from the forward ones (or the extent) may be empty for some
        # sizes, which only an explicit `where` range may be
        whole = {v: f.ranges[v] if v in f.ranges else (Const(0), shape[lhs.index(v)]) for v in ranges}
        explicit = {v for v, rng in ranges.items() if v in f.explicit or not same_range(rng, whole[v])}
        if subst:
            c = _substitute(c, subst)
            indirect = {k: _substitute(sub, subst) for k, sub in indirect.items()}
        cond: TExpr | None = None
        for k in conds:
            cond = both(cond, _substitute(k, subst))
        if cond is not None:
            c = select(cond, c, const(c.type, 0))
        c = cast(self.dtype[x], c)
        reductions = [w for w in ranges if w not in lhs]
        if x in self.ready:
            op = "+="
        elif self._covers(lhs, ranges, shape) and not indirect:
            op = "+=!" if reductions else "="
        else:  # a scatter-add adds into values an earlier statement set
            self._zero(x, target)
            op = "+="
        self.ready.add(x)
        self.outs.append(SourceStmt(target, lhs, op, c, ranges, explicit, exact=x not in self.grads,
                                    scatter=indirect))


def _operands(s: SizeExpr, op: str) -> list[SizeExpr]:
    """The operands of a nest of `min` (or `max`) in a range bound: a guard compares
    with each, as the front end proves bounds from affine comparisons only."""
    if isinstance(s, BinOp) and s.op == op:
        return _operands(s.lhs, op) + _operands(s.rhs, op)
    return [s]


def _image(form: Affine, ranges: dict[str, Range]) -> Range:
    """The values an affine subscript takes over the box of its variables' ranges."""
    base: SizeExpr = Const(form.const)
    for name, c in form.sizes.items():
        base = base + Sym(name) * c
    lo = hi = base
    for v, c in form.vars.items():
        first, last = ranges[v][0], ranges[v][1] - 1
        lo = lo + (first if c > 0 else last) * c
        hi = hi + (last if c > 0 else first) * c
    return lo, hi + 1


def _within(image: Range, extent: SizeExpr) -> Range:
    """The range of a left-side variable of an adjoint that stands for a subscript: the
    values the subscript takes (`image`) inside the tensor's extent (outside it, a
    guarded read does not run). Narrower than the extent, it lets the call-time bounds
    check prove the reads of the adjoint statement, which it checks over a box."""
    lo, hi = image
    lo = lo if at_least(lo, Const(0), 0) else Const(0) if at_least(Const(0), lo, 0) else smax(lo, Const(0))
    hi = hi if at_least(extent, hi, 0) else extent if at_least(hi, extent, 0) else smin(hi, extent)
    return lo, hi


def _divides(rng: Range) -> bool:
    """Whether a bound of the range divides (`floordiv`, `ceildiv`, `%`). The range of a
    new variable is then left whole rather than narrowed to its subscript's values: the
    divisions in the domains of a gradient def make its polyhedral dependence analysis
    very slow (minutes where the forward def takes a second)."""
    def walk(e: SizeExpr) -> bool:
        return isinstance(e, BinOp) and (e.op in ("floordiv", "ceildiv", "mod") or walk(e.lhs) or walk(e.rhs))

    return walk(rng[0]) or walk(rng[1])


def _affine_bounds(rng: Range) -> bool:
    """Whether the bounds of a range are affine in the sizes (a `max` of lower bounds,
    a `min` of upper bounds). Only then does the range of an eliminated variable become
    a guard: the front end proves reads in bounds from affine comparisons only, so a
    bound such as `N % 3 + 1` keeps the variable, tied by an equality guard."""
    lo, hi = rng
    return all(_size_affine(b) is not None for b in _operands(lo, "max") + _operands(hi, "min"))


def _equal(sub: TExpr, y: TIndex) -> TExpr:
    """`sub == y`, compared in the type of the subscript (an index tensor may be
    `int64`)."""
    t = promote(sub.type, INT32)
    return cmp("==", cast(t, sub), cast(t, y))


def _clamped(sub: TExpr, extent: SizeExpr) -> TExpr:
    """`sub` clamped to [0, extent) (left as it is if the extent is not affine in sizes)."""
    bound = _size_affine(extent)
    if bound is None:
        return sub
    t = promote(sub.type, INT32)
    last = cast(t, TBinary(INT32, "-", bound.expr(), TConst(INT32, 1)))
    return TBinary(t, "max", TBinary(t, "min", cast(t, sub), last), TConst(t, 0))


def _inside(subs: dict[int, TExpr], shape: list[SizeExpr]) -> TExpr | None:
    """`0 <= s && s < extent` for each computed subscript `s` whose extent is affine."""
    cond = None
    for k, sub in subs.items():
        bound = _size_affine(shape[k])
        if bound is not None:
            t = promote(sub.type, INT32)
            s = cast(t, sub)
            cond = both(cond, both(cmp(">=", s, TConst(t, 0)), cmp("<", s, cast(t, bound.expr()))))
    return cond


def _size_affine(s: SizeExpr) -> Affine | None:
    """A size expression as an affine form of sizes, if it is one."""
    c = s.as_constant()
    if c is not None:
        return Affine({}, {}, c)
    if isinstance(s, Sym):
        return Affine({}, {s.name: 1}, 0)
    if isinstance(s, BinOp) and s.op in ("+", "-", "*"):
        a, b = _size_affine(s.lhs), _size_affine(s.rhs)
        if a is None or b is None:
            return None
        if s.op == "+":
            return a.plus(b)
        if s.op == "-":
            return a.plus(b.scaled(-1))
        if not a.sizes:
            return b.scaled(a.const)
        if not b.sizes:
            return a.scaled(b.const)
    return None


def _always(form: Affine, bound: SizeExpr, ranges: dict[str, Range], lower: bool) -> bool:
    """Whether `form >= bound` (lower) or `form < bound` holds at every point, where
    `form` has one variable `y` ranging over `[lo, hi)`: the guard side is then left out."""
    b = _size_affine(bound)
    if b is None or len(form.vars) != 1:
        return False
    (y, c), = form.vars.items()
    if y not in ranges:
        return False
    lo, hi = _size_affine(ranges[y][0]), _size_affine(ranges[y][1])
    if lo is None or hi is None:
        return False
    diff = form.plus(b.scaled(-1)) if lower else b.plus(form.scaled(-1)).plus(Affine({}, {}, -1))
    # diff >= 0 at the extreme point of y: y = lo if diff grows with y, else y = hi - 1
    at = lo if diff.vars[y] > 0 else hi.plus(Affine({}, {}, -1))
    rest = diff.substitute(y, at)
    return not rest.vars and not rest.sizes and rest.const >= 0


def _indicator(c: TExpr) -> TExpr:
    """1 where `c` holds, else 0 (`int32`), for counting points."""
    return TSelect(INT32, c, TConst(INT32, 1), TConst(INT32, 0))


def _combine(kind: str, a: TExpr, b: TExpr) -> TExpr:
    """`a op b` for the accumulation `kind` (`+`, `*`, `min`, `max`)."""
    return TBinary(a.type, kind, a, b)


def _offset(subs: tuple[TExpr, ...], lhs: list[str]) -> tuple[int, ...] | None:
    """The constant offset `(c1, ...)` of a read `X(l1 + c1, ...)` of a statement with
    left side `X(l1, ...)`, or None when a subscript is not of that form."""
    if len(subs) != len(lhs):
        return None
    out = []
    for sub, v in zip(subs, lhs):
        a = affine(sub)
        if a is None or a.vars != {v: 1} or a.sizes:
            return None
        out.append(a.const)
    return tuple(out)


def _substitute(e: TExpr, subst: dict[str, Affine]) -> TExpr:
    """`e` with the index variables of `subst` replaced; affine subscripts are
    rewritten in normal form (`2 * h + (h_in - 2 * h)` is `h_in`)."""
    if isinstance(e, TIndex):
        return subst[e.name].expr() if e.name in subst else e
    if e.type.is_integer and not isinstance(e, TRead):
        a = affine(e)
        if a is not None and set(a.vars) & set(subst):
            for w, form in subst.items():
                a = a.substitute(w, form)
            return a.expr()
    if isinstance(e, TRead):
        subs = []
        for i in e.indices:
            a = affine(i)
            if a is None:
                subs.append(_substitute(i, subst))
            else:
                for w, form in subst.items():
                    a = a.substitute(w, form)
                subs.append(a.expr())
        return TRead(e.type, e.tensor, tuple(subs))
    if isinstance(e, TUnary):
        return TUnary(e.type, e.op, _substitute(e.operand, subst))
    if isinstance(e, TCast):
        return TCast(e.type, _substitute(e.operand, subst))
    if isinstance(e, TBinary):
        return TBinary(e.type, e.op, _substitute(e.lhs, subst), _substitute(e.rhs, subst))
    if isinstance(e, TSelect):
        return TSelect(e.type, _substitute(e.cond, subst), _substitute(e.then, subst), _substitute(e.otherwise, subst))
    if isinstance(e, TCall):
        return TCall(e.type, e.fn, tuple(_substitute(a, subst) for a in e.args))
    return e


def _scalars(e: TExpr) -> set[str]:
    found: set[str] = set()

    def walk(x: TExpr) -> None:
        if isinstance(x, TScalar):
            found.add(x.name)
        for c in children(x):
            walk(c)

    walk(e)
    return found


# 4. assembling and checking ------------------------------------------------------------


def gradient_source(d: CheckedDef, wrt: list[str], filename: str) -> str:
    g = Gradient(d, wrt, filename)
    g.version()
    g.activity()
    outs = g.reverse()
    # prune the forward statements the reverse part does not read
    needed: set[str] = set()
    for o in outs:
        needed |= _reads(o.rhs, *o.scatter.values())
    fwd: list[FStmt] = []
    for f in reversed(g.fwd):
        if f.target in needed:
            fwd.append(f)
            needed |= _reads(f.rhs, *f.scatter.values())
    fwd.reverse()
    forward = [SourceStmt(f.target, f.lhs, statement_op(f.kind, f.init), f.rhs, dict(f.ranges), set(f.explicit),
                          scatter=dict(f.scatter)) for f in fwd]
    params = [parameter_source(t) for t in d.inputs]
    params += [parameter_source(TensorInfo(pname, o.dtype, dims, "output", o.loc)) for pname, o, dims in g.params]
    results = [parameter_source(TensorInfo(g.grads[x], d.tensors[x].dtype, d.tensors[x].shape, d.tensors[x].role,
                                           d.tensors[x].loc)) for x in wrt]
    sections = [("forward: the values the gradient needs, recomputed", forward),
                ("reverse: adjoints, last statement first", outs)]
    return settle(header_source(g.name, params, results), sections, g.name, f"{filename} (gradient)")[0]
