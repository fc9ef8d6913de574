"""The statement-level reverse pass: from a checked def to the source of its gradient.

1. **Versions.** A tensor written by several statements holds several values over
   time; the reverse pass needs the old ones (`O1(b, n) = fmax(O1(b, n), 0)` needs the
   `O1` before the `fmax`). So the forward statements are copied into the gradient
   def with every write but a tensor's last one renamed to a fresh version
   (`O1_1`, `O1_2`, then `O1`), and each read renamed to the version it sees. A write
   that leaves part of the previous version in place (`+=` without `!`, or a `=` over
   part of the tensor) first copies the previous version.
2. **Activity.** A version is active when its value depends on an input in `wrt`;
   only active values get an adjoint.
3. **Reverse.** Statements are visited last to first. Each active version `V` has an
   adjoint `d_V` (the parameter `d_O` for an output's final value, or a temporary) that
   holds ∂loss/∂V once every reader of `V` has been visited, which is exactly when the
   statement writing `V` is. That statement's right side is differentiated
   (`rules.backward`) with the adjoint `d_V(lhs)` and each read `X(s)` gets
   `d_X(s) += contribution`, an adjoint statement over the forward statement's
   iteration domain (see `_Scatter` for the change of variables when `s` is not a list
   of distinct index variables).
4. **Pruning and checking.** Forward statements whose values the reverse part does not
   read are dropped; the source is checked by the front end, and a statement whose
   inferred ranges differ from the forward ones gets explicit `where` ranges, until
   the program checks with exactly the intended domains.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from ..errors import Location, TcError, TcWarning
from ..frontend import check_source
from ..frontend.checked import (
    CheckedDef, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr, TIndex, TRead, TScalar, TSelect, TSize,
    TUnary, TensorInfo, children,
)
from ..frontend.types import INT32, ScalarType
from ..sizeexpr import BinOp, Const, SizeExpr, Sym, smax, smin
from . import rules
from .printing import RESERVED, expr_source, size_source, size_value
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

    @property
    def reduction_vars(self) -> list[str]:
        return [v for v in self.ranges if v not in self.lhs]

    @property
    def overwrites(self) -> bool:
        return self.kind == "=" or self.init


@dataclass
class Out:
    """A statement of the generated def."""

    target: str
    lhs: list[str]
    op: str  # "=", "+=", "+=!" ...
    rhs: TExpr
    ranges: dict[str, Range]
    explicit: set[str] = field(default_factory=set)
    exact: bool = True
    comment: str | None = None

    def reads(self) -> set[str]:
        return _reads(self.rhs)


def _reads(e: TExpr) -> set[str]:
    found: set[str] = set()

    def walk(x: TExpr) -> None:
        if isinstance(x, TRead):
            found.add(x.tensor)
        for c in children(x):
            walk(c)

    walk(e)
    return found


def _map(e: TExpr, f) -> TExpr:
    """Rebuild `e` bottom-up, replacing each node `x` by `f(x)` (or keeping it when
    `f` returns None)."""
    if isinstance(e, TRead):
        e = TRead(e.type, e.tensor, tuple(_map(i, f) for i in e.indices))
    elif isinstance(e, TUnary):
        e = TUnary(e.type, e.op, _map(e.operand, f))
    elif isinstance(e, TCast):
        e = TCast(e.type, _map(e.operand, f))
    elif isinstance(e, TBinary):
        e = TBinary(e.type, e.op, _map(e.lhs, f), _map(e.rhs, f))
    elif isinstance(e, TSelect):
        e = TSelect(e.type, _map(e.cond, f), _map(e.then, f), _map(e.otherwise, f))
    elif isinstance(e, TCall):
        e = TCall(e.type, e.fn, tuple(_map(a, f) for a in e.args))
    r = f(e)
    return e if r is None else r


def _same(a: Range, b: Range) -> bool:
    return str(a[0]) == str(b[0]) and str(a[1]) == str(b[1])


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
        self.origin: dict[str, str] = {}  # version -> the tensor it is a value of
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
            self._check_self_reads(s, t in current)
            rename = dict(current)
            if t in current:
                rename[t] = current[t]
            rhs = _map(s.rhs, lambda x: TRead(x.type, rename[x.tensor], x.indices)
                       if isinstance(x, TRead) and x.tensor in rename else None)
            kind, init = s.kind, s.init
            if init and not s.reduction_vars:
                kind, init = "=", False
            done[t] = done.get(t, 0) + 1
            last = done[t] == writes[t]
            name = t if last else self.names.fresh(f"{t}_{done[t]}")
            self.dtype[name] = self.dtype[t]
            self.origin[name] = t
            self.shape[name] = self.shape[t]
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
            else:
                if not init and kind not in ("=", "+"):
                    raise TcError(f"`{s.kind}=` without `!` (combining with the values earlier statements wrote) "
                                  f"is not differentiable yet; use `{s.kind}=!` into a new tensor", s.loc)
                if not (full and (kind == "=" or init)):
                    self._copy(name, current[t], s)
            self.fwd.append(FStmt(name, list(s.lhs), kind, init, ranges, rhs, set(s.explicit), s.loc))
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
        return len(lhs) == len(shape) and all(_same(ranges[v], (Const(0), e)) for v, e in zip(lhs, shape))

    def _check_self_reads(self, s: CheckedStmt, written: bool) -> None:
        own = [r for r in _all_reads(s.rhs) if r.tensor == s.target]
        if not own:
            return
        same = all(isinstance(i, TIndex) and i.name == v for r in own
                   for i, v in zip(r.indices, s.lhs)) and all(len(r.indices) == len(s.lhs) for r in own)
        if not written:
            raise TcError(f"`{s.target}` is read before any statement writes it: not differentiable", s.loc)
        if s.kind != "=" or not same:
            what = "at another element (a recurrence)" if not same else "in a reduction"
            raise TcError(f"this statement reads its own target `{s.target}` {what}: "
                          f"not differentiable yet", s.loc)

    # 2. activity ------------------------------------------------------------------

    def activity(self) -> None:
        self.active = set(self.wrt)
        for f in self.fwd:
            if self.dtype[f.target].is_float and (_reads(f.rhs) | _scalars(f.rhs)) & self.active:
                self.active.add(f.target)
        # Reads whose adjoint is a scatter to a computed index, reported in source order.
        for f in self.fwd:
            if f.target not in self.active:
                continue
            for r in _all_reads(f.rhs):
                if r.tensor in self.active and r.type.is_float and any(affine(i) is None for i in r.indices):
                    self._no_scatter(f, r.tensor, r.indices)

    def _no_scatter(self, f: FStmt, x: str, subs) -> None:
        base = self.origin.get(x, x)
        raise TcError(f"the adjoint of the read `{base}({', '.join(expr_source(i) for i in subs)})` "
                      f"would be a scatter-add into `d_{base}` at a computed index, which TC cannot write "
                      f"(a left side takes index variables only): not supported yet", f.loc)

    # 3. reverse -------------------------------------------------------------------

    def reverse(self) -> list[Out]:
        d = self.d
        self.outs: list[Out] = []
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
                self.outs.append(Out(buf, vs, "=", TRead(t, pname, tuple(TIndex(INT32, x) for x in vs)), rng,
                                     comment=f"the adjoint of `{o.name}`: the seed, then what later uses add"))
                self.adjoint[v] = buf
            else:
                self.adjoint[v] = pname
            self.ready.add(v)
        for x in self.wrt:
            self.grads[x] = self.names.fresh(f"d_{x}")
            self.adjoint[x] = self.grads[x]
        for f in reversed(self.fwd):
            self._reverse_stmt(f, writers)
        for x in self.wrt:
            if x not in self.ready:
                self._zero(x, self.grads[x], comment=f"nothing depends on `{x}`")
        return self.outs

    def _zero(self, x: str, name: str, comment: str | None = None) -> None:
        shape = self.shape[x]
        vs = self.lhs_names.get(x) or _dim_vars(shape, self.names)
        rng = {v: (Const(0), e) for v, e in zip(vs, shape)}
        self.outs.append(Out(name, vs, "=", const(self.dtype[x], 0), rng, set(vs) if x not in self.grads else set(),
                             exact=x not in self.grads, comment=comment))
        self.ready.add(x)

    def _reverse_stmt(self, f: FStmt, writers: dict[str, int]) -> None:
        v = f.target
        if v not in self.active or v not in self.ready:
            return
        t = self.dtype[v]
        idx = tuple(TIndex(INT32, x) for x in f.lhs)
        g: TExpr = TRead(t, self.adjoint[v], idx)
        guard: TExpr | None = None
        head = len(self.outs)
        red = f.reduction_vars
        if f.kind in ("max", "min") and red:
            ties = self.names.fresh(f"{v}_ties")
            hit = cmp("==", f.rhs, TRead(t, v, idx))
            self.outs.append(Out(ties, list(f.lhs), "+=!", TSelect(INT32, hit, TConst(INT32, 1), TConst(INT32, 0)),
                                 dict(f.ranges), set(f.explicit),
                                 comment=f"how many points reach the {f.kind}imum: ties share the adjoint"))
            g = div(g, TCast(t, TRead(INT32, ties, idx)))
            guard = hit
        elif f.kind == "*" and red:
            zeros = self.names.fresh(f"{v}_zeros")
            prod = self.names.fresh(f"{v}_nonzero_prod")
            is_zero = cmp("==", f.rhs, const(t, 0))
            self.outs.append(Out(zeros, list(f.lhs), "+=!", TSelect(INT32, is_zero, TConst(INT32, 1),
                                                                    TConst(INT32, 0)),
                                 dict(f.ranges), set(f.explicit),
                                 comment="the product's adjoint without dividing by zero"))
            self.outs.append(Out(prod, list(f.lhs), "*=!", TSelect(t, is_zero, const(t, 1), f.rhs),
                                 dict(f.ranges), set(f.explicit)))
            z = TRead(INT32, zeros, idx)
            p = TRead(t, prod, idx)
            partial = select(cmp("==", z, TConst(INT32, 0)), div(p, f.rhs),
                             select(both(cmp("==", z, TConst(INT32, 1)), is_zero), p, const(t, 0)))
            g = mul(g, partial)
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
        if f.overwrites and self._first_writer(f) is not f:
            self._zero_part(f)
        if head < len(self.outs) and self.outs[head].comment is None:
            self.outs[head].comment = f"adjoint of: {self._text(f)}"

    def _first_writer(self, f: FStmt) -> FStmt:
        return next(g for g in self.fwd if g.target == f.target)

    def _zero_part(self, f: FStmt) -> None:
        """The part of the previous version that `f` overwrote has no influence."""
        if self._first_writer(f) is f:
            return
        rng = {v: f.ranges[v] for v in f.lhs}
        self.outs.append(Out(self.adjoint[f.target], list(f.lhs), "=", const(self.dtype[f.target], 0), rng,
                             set(f.lhs)))

    def _text(self, f: FStmt) -> str:
        lhs = f"{f.target}({', '.join(f.lhs)})" if f.lhs else f.target
        op = f.kind + "=" + ("!" if f.init else "") if f.kind != "=" else "="
        return f"{lhs} {op} {expr_source(f.rhs)}"

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
        forms = []
        for s in subs:
            a = affine(s)
            if a is None:
                self._no_scatter(f, x, subs)
            forms.append(a)
        red = f.reduction_vars
        for k, a in enumerate(forms):
            for w, form in subst.items():
                a = a.substitute(w, form)
            if (len(a.vars) == 1 and not a.sizes and a.const == 0 and list(a.vars.values()) == [1]
                    and next(iter(a.vars)) not in lhs and next(iter(a.vars)) in f.ranges):
                w = next(iter(a.vars))
                lo, hi = f.ranges[w]
                if guarded:
                    if not (isinstance(lo, Const) and lo.value >= 0):
                        lo = smax(lo, Const(0))
                    if str(hi) != str(shape[k]):
                        hi = smin(hi, shape[k])
                lhs.append(w)
                ranges[w] = (lo, hi)
                continue
            base = str(shape[k]).lower() if str(shape[k]).isidentifier() else f"i{k}"
            y = self.names.fresh_index(base if base not in local else f"{base}_in", local)
            local.add(y)
            lhs.append(y)
            ranges[y] = (Const(0), shape[k])
            cands = [w for w, cw in a.vars.items() if abs(cw) == 1 and w in f.ranges and w not in lhs]
            cands.sort(key=lambda w: (w not in red, list(f.ranges).index(w)))
            if cands:
                w = cands[0]
                cw = a.vars[w]
                rest = Affine({u: cu for u, cu in a.vars.items() if u != w}, a.sizes, a.const)
                form = Affine({y: 1}, {}, 0).plus(rest.scaled(-1)).scaled(cw)
                subst = {u: fu.substitute(w, form) for u, fu in subst.items()}
                subst[w] = form
            else:
                conds.append(cmp("==", TIndex(INT32, y), a.expr()))
        bounds = []
        for w, form in subst.items():
            lo, hi = f.ranges[w]
            e = form.expr()
            if not _always(form, lo, ranges, lower=True):
                bounds.append(cmp(">=", e, size_value(lo)))
            if not _always(form, hi, ranges, lower=False):
                bounds.append(cmp("<", e, size_value(hi)))
        conds = bounds + conds
        for w in f.ranges:
            if w not in subst and w not in ranges:
                ranges[w] = f.ranges[w]
        if subst:
            c = _substitute(c, subst)
        cond: TExpr | None = None
        for k in conds:
            cond = both(cond, k)
        if cond is not None:
            c = select(cond, c, const(c.type, 0))
        c = cast(self.dtype[x], c)
        reductions = [w for w in ranges if w not in lhs]
        if x in self.ready:
            op = "+="
        elif self._covers(lhs, ranges, shape):
            op = "+=!" if reductions else "="
        else:
            self._zero(x, target)
            op = "+="
        self.ready.add(x)
        self.outs.append(Out(target, lhs, op, c, ranges, exact=x not in self.grads))


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
    `form` has one variable `y` ranging over `[0, E)`: the guard side is then left out."""
    b = _size_affine(bound)
    if b is None or len(form.vars) != 1:
        return False
    (y, c), = form.vars.items()
    if y not in ranges or _size_affine(ranges[y][0]) != Affine({}, {}, 0):
        return False
    ext = _size_affine(ranges[y][1])
    if ext is None:
        return False
    diff = form.plus(b.scaled(-1)) if lower else b.plus(form.scaled(-1)).plus(Affine({}, {}, -1))
    # diff >= 0 at the extreme point of y: y = 0 if diff grows with y, else y = E - 1
    slope = diff.vars[y]
    at = Affine({}, {}, 0) if slope > 0 else ext.plus(Affine({}, {}, -1))
    rest = diff.substitute(y, at)
    return not rest.vars and not rest.sizes and rest.const >= 0


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


def _all_reads(e: TExpr) -> list[TRead]:
    out: list[TRead] = []

    def walk(x: TExpr) -> None:
        if isinstance(x, TRead):
            out.append(x)
        for c in children(x):
            walk(c)

    walk(e)
    return out


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


def _sig_dims(shape) -> str:
    return ", ".join(str(s) for s in shape)


def gradient_source(d: CheckedDef, wrt: list[str], filename: str) -> str:
    g = Gradient(d, wrt, filename)
    g.version()
    g.activity()
    outs = g.reverse()
    # prune the forward statements the reverse part does not read
    needed: set[str] = set()
    for o in outs:
        needed |= o.reads()
    fwd: list[FStmt] = []
    for f in reversed(g.fwd):
        if f.target in needed:
            fwd.append(f)
            needed |= _reads(f.rhs)
    fwd.reverse()
    forward = [Out(f.target, f.lhs, _op(f), f.rhs, dict(f.ranges), set(f.explicit)) for f in fwd]
    params = []
    for t in d.inputs:
        if t.role == "scalar":
            params.append(f"{t.dtype.name} {t.name}")
        else:
            params.append(f"{t.dtype.name}({_sig_dims(t.shape)}) {t.name}")
    for pname, o, dims in g.params:
        params.append(f"{o.dtype.name}({_sig_dims(dims)}) {pname}" if dims else f"{o.dtype.name}() {pname}")
    results = []
    for x in wrt:
        t = d.tensors[x]
        if t.role == "scalar":
            results.append(f"{t.dtype.name} {g.grads[x]}")
        else:
            results.append(f"{t.dtype.name}({_sig_dims(t.shape)}) {g.grads[x]}")
    header = f"def {g.name}({', '.join(params)})\n    -> ({', '.join(results)}) {{"
    return _settle(header, forward, outs, g.name, filename)


def _op(f: FStmt) -> str:
    if f.kind == "=":
        return "="
    return f"{f.kind}=" + ("!" if f.init else "")


def _render(header: str, forward: list[Out], reverse: list[Out]) -> tuple[str, dict[int, Out]]:
    lines = [header]
    at: dict[int, Out] = {}
    if forward:
        lines.append("    # forward: the values the gradient needs, recomputed")
    for section, stmts in (("forward", forward), ("reverse", reverse)):
        if section == "reverse":
            lines.append("    # reverse: adjoints, last statement first")
        for o in stmts:
            if o.comment:
                lines.append(f"    # {o.comment}")
            lhs = f"{o.target}({', '.join(o.lhs)})" if o.lhs else o.target
            text = f"    {lhs} {o.op} {expr_source(o.rhs, o.exact)}"
            where = [f"{v} in {size_source(lo)}:{size_source(hi)}" for v, (lo, hi) in o.ranges.items()
                     if v in o.explicit]
            if where:
                text += " where " + ", ".join(where)
            lines.append(text)
            at[len(lines)] = o
    lines.append("}")
    return "\n".join(lines) + "\n", at


def _settle(header: str, forward: list[Out], reverse: list[Out], name: str, filename: str) -> str:
    """Add `where` ranges until every statement checks with the intended domain."""
    stmts = forward + reverse
    for _ in range(4 * len(stmts) + 4):
        text, at = _render(header, forward, reverse)
        changed = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                program = check_source(text, f"{filename} (gradient)")
            except TcError as err:
                o = at.get(err.loc.line) if err.loc else None
                if o is None or o.explicit >= set(o.ranges):
                    raise TcError(f"internal error: the generated gradient does not check: {err}\n{text}") from None
                o.explicit |= set(o.ranges)
                continue
        for w in caught:
            if issubclass(w.category, TcWarning) and getattr(w.message, "loc", None) is not None:
                o = at.get(w.message.loc.line)
                if o is not None and not o.explicit >= set(o.ranges):
                    o.explicit |= set(o.ranges)
                    changed = True
        checked = program.defs[name].stmts
        for o, cs in zip(stmts, checked):
            for v, rng in o.ranges.items():
                if v not in o.explicit and (v not in cs.ranges or not _same(cs.ranges[v], rng)):
                    o.explicit.add(v)
                    changed = True
        if not changed:
            return text
    raise TcError(f"internal error: the ranges of the generated gradient do not settle\n{text}")
