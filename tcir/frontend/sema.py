"""Semantic analysis: name resolution, the type rules and range inference.

`check(program)` turns the parser's AST into a `CheckedProgram` (see checked.py) or
raises a located `TcError`. Warnings (a reduction into a tensor no statement wrote
before, a read of a tensor not yet written, an access narrowing an index, an integer
division used as a float) are `TcWarning`s attributed to the TC source line (`errors.warn`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import Location, TcError, warn
from ..sizeexpr import SizeExpr, binary, const, smax, smin, sym
from . import ast
from .builtins import ARITY, SUGGESTIONS
from .parser import MAX_DEPTH, did_you_mean
from .checked import (
    COMPARISONS, CheckedDef, CheckedProgram, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr,
    TIndex, TRead, TScalar, TSelect, TSize, TUnary, TensorInfo, expr_text, reads, write_dims,
)
from .guards import guard_slack, reads_with_guards
from .format_names import lookup_type, type_names
from .ranges import Access, Bound, affine_form, at_least, check_not_empty, find_narrowing, infer_ranges, show
from .types import BOOL, FLOAT, INT32, ScalarType, at_least_float, converts_implicitly, mixed_formats, promote

_INT32_MAX = 2**31 - 1
_MAX_LET_EXPANSIONS = 10_000
_KIND = {"=": "=", "+=": "+", "*=": "*", "min=": "min", "max=": "max"}


def check(program: ast.Program, filename: str = "<string>") -> CheckedProgram:
    defs: dict[str, CheckedDef] = {}
    for d in program.defs:
        if d.name in defs:
            raise TcError(f"def `{d.name}` is defined twice", d.loc)
        defs[d.name] = DefChecker(d).check()
    return CheckedProgram(defs, program.source, filename)


# Conversions ------------------------------------------------------------------------


def convert(e: TExpr, t: ScalarType) -> TExpr:
    """`e` as type `t`; literals are folded so they take the type they are used at."""
    if e.type == t:
        return e
    if isinstance(e, TConst) and not e.type.is_lowp:
        return TConst(t, _convert_value(e.value, t))
    return TCast(t, e)


def _convert_value(v: int | float | bool, t: ScalarType) -> int | float | bool:
    if t.is_bool:
        return bool(v)
    if t.is_lowp:  # kept exact: IR generation and the reference round it to the format once
        return int(v) if isinstance(v, bool) else v
    if t.is_float:
        return float(v)
    v = int(v)  # C truncation toward zero, then wrap to the type's width
    v &= (1 << t.bits) - 1
    if t.kind == "int" and v >= 1 << (t.bits - 1):
        v -= 1 << t.bits
    return v


def _check_identity(s: ast.Stmt, kind: str, target: TensorInfo) -> None:
    """`+=!` starts from 0 and `*=!` from 1: the target's format must hold that value."""
    fmt, value = target.dtype.format, 0 if kind == "+" else 1
    if hasattr(fmt, "exponent"):  # a float format: 0 unless unsigned, 1 if within its range
        holds = fmt.kind != "unsigned" if value == 0 else fmt.min_subnormal <= 1 <= fmt.max_finite
    else:
        holds = fmt.min_value <= value <= fmt.max_value
    if not holds:
        raise TcError(f"`{s.op}!` starts from {value}, which `{target.dtype}` cannot hold, so `{target.name}` "
                      f"would start from a wrong value; reduce into a `float` tensor and cast the result "
                      f"(`{target.dtype}(...)`)", s.loc)


def _require_numeric(e: TExpr, what: str, loc: Location) -> None:
    if e.type.is_bool:
        raise TcError(f"{what} needs a number, not a `bool`; cast it first, e.g. `int32(...)`", loc)


def _feeding_division(e: TExpr) -> TBinary | None:
    """An integer `/` whose result flows into the value of `e` through integer arithmetic
    (not through a subscript, a condition or a function call), if any."""
    if not e.type.is_integer:
        return None
    if isinstance(e, TBinary) and e.op in ("+", "-", "*", "/", "%", "min", "max"):
        if e.op == "/":
            return e
        return _feeding_division(e.lhs) or _feeding_division(e.rhs)
    if isinstance(e, TUnary | TCast):
        return _feeding_division(e.operand)
    if isinstance(e, TSelect):
        return _feeding_division(e.then) or _feeding_division(e.otherwise)
    return None


@dataclass
class _StmtScope:
    """What resolving one statement's expressions collects."""

    lets: dict[str, ast.LetClause]
    index_vars: list[str] = field(default_factory=list)
    first_use: dict[str, Location] = field(default_factory=dict)
    reads: list[tuple[TRead, Location]] = field(default_factory=list)
    read_locs: dict[int, Location] = field(default_factory=dict)  # id(TRead) -> where it is written
    exists: list[TExpr] = field(default_factory=list)
    expanding: list[str] = field(default_factory=list)  # lets being expanded, for cycles
    expansions: int = 0  # lets are inlined: bound the work of `x2 = x1 + x1, x1 = x0 + x0 ...`
    quiet: bool = False  # resolving a `<=>` annotation: neither warnings nor reads count


class DefChecker:
    def __init__(self, d: ast.Def):
        self.d = d
        self.tensors: dict[str, TensorInfo] = {}
        self.sizes: list[str] = []
        self.ranks: dict[str, int] = {}
        self.written: set[str] = set()
        # The box each written tensor holds values in so far: a later read is bounded by it.
        self.written_box: dict[str, list[tuple[SizeExpr, SizeExpr]]] = {}
        self.divisions: dict[int, tuple[TBinary, Location]] = {}  # id -> (integer `/`, where)
        self.warned: set[tuple[str, Location | None]] = set()
        self.scope: _StmtScope | None = None

    def warn(self, message: str, loc: Location | None) -> None:
        if self.scope is not None and self.scope.quiet or (message, loc) in self.warned:
            return
        self.warned.add((message, loc))
        warn(message, loc)

    # Signature -----------------------------------------------------------------------

    def check(self) -> CheckedDef:
        inputs = [self._param(p) for p in self.d.params]
        outputs = [self._output(o) for o in self.d.outputs]
        temporaries = self._temporaries()
        stmts = [self._stmt(s) for s in self.d.stmts]
        for t in outputs:
            if t.name not in self.written:
                hint = did_you_mean(t.name, [x.name for x in temporaries])
                if hint:
                    hint = f" (a tensor named like it is written but not declared{hint})"
                raise TcError(f"output `{t.name}` is never written{hint}", t.loc)
        return CheckedDef(self.d.name, inputs, outputs, temporaries, self.sizes, stmts, self.d.loc)

    def _declare(self, name: str, loc: Location) -> None:
        if name in self.tensors:
            raise TcError(f"`{name}` is declared twice in `{self.d.name}`", loc)
        if name in self.sizes:
            raise TcError(f"`{name}` is already a size; tensors and sizes need distinct names", loc)

    def _param(self, p: ast.Param) -> TensorInfo:
        self._declare(p.name, p.loc)
        shape = []
        for dim in p.dims:
            if dim.name is None:
                shape.append(const(dim.value))
                continue
            if dim.name in self.tensors:
                raise TcError(f"size `{dim.name}` has the name of a tensor", dim.loc)
            if dim.name not in self.sizes:
                self.sizes.append(dim.name)
            shape.append(sym(dim.name))
        if p.name in self.sizes:  # `float(N) N`: the tensor's own size has its name
            raise TcError(f"`{p.name}` is already a size; tensors and sizes need distinct names", p.loc)
        role = "input" if p.dims else "scalar"
        info = TensorInfo(p.name, p.type, shape, role, p.loc)
        self.tensors[p.name] = info
        self.ranks[p.name] = len(shape)
        return info

    def _output(self, o: ast.Output) -> TensorInfo:
        self._declare(o.name, o.loc)
        shape = None
        if o.dims is not None:
            shape = []
            for dim in o.dims:
                if dim.name is not None and dim.name not in self.sizes:
                    raise TcError(f"size `{dim.name}` of output `{o.name}` is not a size of any input"
                                  f"{did_you_mean(dim.name, self.sizes)}", dim.loc)
                shape.append(sym(dim.name) if dim.name is not None else const(dim.value))
            self.ranks[o.name] = len(shape)
        info = TensorInfo(o.name, o.type, shape, "output", o.loc)  # type: ignore[arg-type]
        self.tensors[o.name] = info
        return info

    def _temporaries(self) -> list[TensorInfo]:
        """Tensors written but not declared; also fixes every written tensor's rank."""
        temps = []
        for s in self.d.stmts:
            rank = len(s.indices)
            if s.target not in self.tensors:
                if s.target in self.sizes:
                    raise TcError(f"cannot write `{s.target}`: it is a size", s.loc)
                info = TensorInfo(s.target, None, None, "temporary", s.loc)  # type: ignore[arg-type]
                self.tensors[s.target] = info
                temps.append(info)
            known = self.ranks.setdefault(s.target, rank)
            if known != rank:
                raise TcError(f"`{s.target}` has rank {known} but is written here with {rank} "
                              f"ind{'ex' if rank == 1 else 'ices'}", s.loc)
        return temps

    # Statements ----------------------------------------------------------------------

    def _stmt(self, s: ast.Stmt) -> CheckedStmt:
        target = self.tensors[s.target]
        if target.role in ("input", "scalar"):
            raise TcError(f"cannot write `{s.target}`: inputs are read-only; "
                          "write into an output or a temporary instead", s.loc)
        lhs = self._lhs_indices(s)
        scope = self.scope = _StmtScope(self._lets(s, lhs))
        explicit = self._explicit_ranges(s, scope)
        scatter = self._scatter_subscripts(s, scope)
        rhs = self._resolve(s.rhs, scope)
        if scatter and any(r.tensor == s.target for e in [rhs, *scatter.values()] for r in reads(e)):
            raise TcError(f"a scatter-add may not read its own target `{s.target}` (the result would "
                          "depend on the order of the updates); read a copy instead", s.loc)
        for c in s.clauses:
            if isinstance(c, ast.ExistsClause):
                before = set(scope.index_vars)
                scope.exists.append(self._resolve(c.expr, scope))
                for v in scope.index_vars:
                    if v not in before and v not in lhs and v not in explicit:
                        raise TcError(f"index `{v}` appears only in `exists`; "
                                      "an exists clause may only constrain the statement's indices",
                                      scope.first_use[v])
        if s.equivalent is not None:
            self._equivalent(s.equivalent, scope, lhs, explicit)
        for idx in s.indices:  # an index used only on the left is reported there
            if not self._computed(s, idx):
                scope.first_use.setdefault(idx.name, idx.loc)
        variables = list(lhs)
        variables += [v for v in scope.index_vars if v not in variables]
        variables += [v for v in explicit if v not in variables]
        kind, init = _KIND[s.op], s.init
        reductions = [v for v in variables if v not in lhs]
        if kind == "=" and reductions:
            v = reductions[0]
            raise TcError(f"`{v}` appears only on the right side, which makes it a reduction index, "
                          "but `=` does not reduce; use `+=!` (or `*=!`, `min=!`, `max=!`)"
                          + self._misspelt_index(v, lhs, scope), scope.first_use.get(v, s.loc))
        if init and not reductions:
            kind, init = "=", False  # `+=!` without a reduction index is plain `=`
        rhs = self._assign_type(s, target, kind, rhs)
        stmt = CheckedStmt(s.target, lhs, kind, init, variables, {}, rhs, s.loc, frozenset(explicit), scatter)
        stmt.ranges = self._ranges(s, target, stmt, explicit, scope)
        if target.shape is None:
            target.shape = [stmt.ranges[v][1] for v in lhs]
        if kind != "=" and not init and s.target not in self.written:
            self.warn(f"`{s.op}` reduces into `{s.target}`, which no earlier statement writes: its initial "
                      f"values are undefined; use `{s.op}!` to start from the identity", s.loc)
        # a scatter-add may write anywhere along its computed dimensions
        self._record_write(s.target, [(const(0), extent) if v is None else stmt.ranges[v]
                                      for v, extent in zip(write_dims(lhs, scatter), target.shape)])
        self.written.add(s.target)
        self.scope = None
        return stmt

    def _record_write(self, tensor: str, box: list[tuple[SizeExpr, SizeExpr]]) -> None:
        """Widen the box `tensor` holds values in by what a statement wrote."""
        old = self.written_box.get(tensor)
        if old is None:
            self.written_box[tensor] = list(box)
            return

        def union(a: SizeExpr, b: SizeExpr, pick, upper: bool) -> SizeExpr:
            if at_least(a, b, 0):
                return a if upper else b
            if at_least(b, a, 0):
                return b if upper else a
            return pick(a, b)

        self.written_box[tensor] = [(union(lo0, lo1, smin, False), union(hi0, hi1, smax, True))
                                    for (lo0, hi0), (lo1, hi1) in zip(old, box)]

    def _equivalent(self, eq: ast.Equivalent, scope: _StmtScope, lhs: list[str], explicit) -> None:
        """`<=> name(args)`: the arguments are checked like an `exists` expression, then
        dropped: the annotation neither computes nor bounds anything (the name is free)."""
        before = set(scope.index_vars)
        scope.quiet = True
        try:
            for arg in eq.args:
                self._resolve(arg, scope)
        finally:
            scope.quiet = False
        for v in scope.index_vars:
            if v not in before and v not in lhs and v not in explicit:
                raise TcError(f"index `{v}` appears only in the `<=>` annotation; "
                              "it may only use the statement's indices", scope.first_use[v])

    def _computed(self, s: ast.Stmt, idx: ast.IndexName | ast.Expr) -> bool:
        """Whether a left-side subscript is computed (a scatter-add's): an expression, or
        the name of an integer scalar parameter or of a `where` binding."""
        if not isinstance(idx, ast.IndexName):
            return True
        info = self.tensors.get(idx.name)
        return (info is not None and info.role == "scalar" and info.dtype.is_integer
                or any(isinstance(c, ast.LetClause) and c.name == idx.name for c in s.clauses))

    def _lhs_indices(self, s: ast.Stmt) -> list[str]:
        names: list[str] = []
        for idx in s.indices:
            if self._computed(s, idx):
                continue  # _scatter_subscripts
            if idx.name in names:
                raise TcError(f"index `{idx.name}` appears twice on the left side", idx.loc)
            if idx.name in self.sizes or idx.name in self.tensors:
                what = "a size" if idx.name in self.sizes else "a tensor"
                hint = ""
                info = self.tensors.get(idx.name)
                if info is not None and info.role != "scalar" and self.ranks.get(idx.name) == 0:
                    hint = f" (as a scatter-add's subscript, its value is `{idx.name}()`)"
                raise TcError(f"`{idx.name}` is {what}, not an index variable{hint}", idx.loc)
            names.append(idx.name)
        return names

    def _scatter_subscripts(self, s: ast.Stmt, scope: _StmtScope) -> dict[int, TExpr]:
        """The computed (indirect or other non-affine) subscripts on the left, by target
        dimension: `T(I(b), d) += e` adds `e` at the element `I(b)` names (a scatter-add,
        docs/language.md)."""
        out: dict[int, TExpr] = {}
        for k, idx in enumerate(s.indices):
            if not self._computed(s, idx):
                continue
            e = self._resolve(ast.Ident(idx.loc, idx.name) if isinstance(idx, ast.IndexName) else idx, scope)
            if affine_form(e) is not None and isinstance(idx, ast.IndexName):  # `O(i) = ... where i = 1`
                let = next(c for c in s.clauses if isinstance(c, ast.LetClause) and c.name == idx.name)
                raise TcError(f"`{idx.name}` is already defined; a `where` binding needs a new name", let.loc)
            if affine_form(e) is not None:
                raise TcError(f"expected an index variable on the left side, found `{expr_text(e)}`; the left "
                              "side takes distinct index variables, or computed subscripts that are not affine "
                              "(`T(I(b), d) += X(b, d)` reading an integer tensor, `T(i / 2) += X(i)`: a "
                              "scatter-add)", idx.loc)
            if not e.type.is_integer:
                raise TcError(f"a subscript of `{s.target}` must be an integer, found `{e.type}`", idx.loc)
            out[k] = e
        if not out:
            return out
        if s.op != "+=" or s.init:
            raise TcError(f"an indirect subscript on the left is a scatter-add, which takes `+=` (not "
                          f"`{s.op}{'!' if s.init else ''}`): set `{s.target}` in an earlier statement, "
                          "then add into it", s.loc)
        if s.target not in self.written:
            raise TcError(f"the scatter-add adds into `{s.target}`, but no earlier statement writes it; set "
                          f"it first (for example to 0, with a statement writing all of `{s.target}`)", s.loc)
        return out

    def _lets(self, s: ast.Stmt, lhs: list[str]) -> dict[str, ast.LetClause]:
        lets: dict[str, ast.LetClause] = {}
        for c in s.clauses:
            if not isinstance(c, ast.LetClause):
                continue
            if c.name in lets or c.name in self.tensors or c.name in self.sizes or c.name in lhs:
                raise TcError(f"`{c.name}` is already defined; a `where` binding needs a new name", c.loc)
            lets[c.name] = c
        return lets

    def _explicit_ranges(self, s: ast.Stmt, scope: _StmtScope) -> dict[str, tuple[SizeExpr, SizeExpr]]:
        ranges: dict[str, tuple[SizeExpr, SizeExpr]] = {}
        for c in s.clauses:
            if not isinstance(c, ast.RangeClause):
                continue
            if c.var in ranges:
                raise TcError(f"the range of `{c.var}` is given twice", c.loc)
            if c.var in self.tensors or c.var in self.sizes or c.var in scope.lets:
                raise TcError(f"`{c.var}` is not an index variable; `where ... in` ranges index variables", c.loc)
            ranges[c.var] = (self._bound(c.lo), self._bound(c.hi))
            scope.first_use.setdefault(c.var, c.loc)
        return ranges

    def _bound(self, e: ast.Expr) -> SizeExpr:
        """A range bound: sizes and integer constants with + - * / % min max."""
        if isinstance(e, ast.IntLit):
            return const(e.value)
        if isinstance(e, ast.Ident) and e.name in self.sizes:
            return sym(e.name)
        if isinstance(e, ast.Unary) and e.op == "-":
            return -self._bound(e.operand)
        if isinstance(e, ast.Binary) and e.op in ("+", "-", "*", "/", "%"):
            op = {"/": "floordiv", "%": "mod"}.get(e.op, e.op)
            lhs, rhs = self._bound(e.lhs), self._bound(e.rhs)
            if op in ("floordiv", "mod") and rhs.as_constant() == 0:
                raise TcError("division by zero in a range bound", e.loc)
            return binary(op, lhs, rhs)
        if isinstance(e, ast.Apply) and e.name in ("min", "max") and len(e.args) == 2:
            pick = smin if e.name == "min" else smax
            return pick(self._bound(e.args[0]), self._bound(e.args[1]))
        hint = did_you_mean(e.name, self.sizes, "the size") if isinstance(e, ast.Ident) else ""
        raise TcError("a range bound may use only sizes, integer constants, `+ - * / %` and `min`/`max`"
                      + hint, e.loc)

    def _assign_type(self, s: ast.Stmt, target: TensorInfo, kind: str, rhs: TExpr) -> TExpr:
        if target.dtype is None:
            target.dtype = rhs.type
        elif not converts_implicitly(rhs.type, target.dtype):
            raise TcError(f"cannot store a `{rhs.type}` value into `{target.name}` of type "
                          f"`{target.dtype}` without a cast; write `{target.dtype}(...)`", s.rhs.loc)
        if kind != "=" and target.dtype.is_bool:
            raise TcError(f"cannot reduce `bool` values with `{s.op}`; cast them to a number first", s.loc)
        if s.init and kind in ("+", "*") and target.dtype.is_lowp:
            _check_identity(s, kind, target)
        return self._implicit(rhs, target.dtype)

    def _ranges(self, s: ast.Stmt, target: TensorInfo, stmt: CheckedStmt, explicit: dict[str, tuple[SizeExpr, SizeExpr]],
                scope: _StmtScope) -> dict[str, tuple[SizeExpr, SizeExpr]]:
        lhs, variables = stmt.lhs, stmt.iterators
        for read, loc in scope.reads:
            info = self.tensors[read.tensor]
            if read.tensor not in self.written and info.role in ("output", "temporary"):
                self.warn(f"`{read.tensor}` is read before any statement writes it", loc)
        accesses = []
        guarded: list[tuple[str, Access]] = []  # subscripts a guard keeps in bounds, for messages
        sources = [(stmt.rhs, "read")] + [(x, "read") for x in stmt.scatter.values()]
        for expr, kind in sources + [(x, "exists") for x in scope.exists]:
            for read, facts in reads_with_guards(expr):
                info = self.tensors[read.tensor]
                if info.shape is None or not read.indices:
                    continue
                forms = [affine_form(i) for i in read.indices]
                box = self.written_box.get(read.tensor)  # earlier writes bound a later read
                lower = [lo for lo, _ in box] if box is not None else [const(0)] * len(forms)
                upper = [hi for _, hi in box] if box is not None else list(info.shape)
                slack = None
                if facts is not None:
                    slack = [guard_slack(f, facts, lo, hi) if f is not None else (0, 0)
                             for f, lo, hi in zip(forms, lower, upper)]
                access = Access(read.tensor, upper, forms, scope.read_locs.get(id(read), s.loc),
                                lower if box is not None else None, slack, kind, expr_text(read))
                accesses.append(access)
                for f, sides in zip(forms, slack or ()):
                    if f is not None and sides == (None, None):
                        guarded.extend((v, access) for v, _ in f.vars)
        if target.shape is not None:
            subscripts = stmt.write_subscripts()  # an indirect one bounds nothing (form None)
            accesses.append(Access(target.name, target.shape,
                                   [None if k in stmt.scatter else affine_form(x) for k, x in enumerate(subscripts)],
                                   s.loc, kind="write", text=expr_text(TRead(target.dtype, target.name, tuple(subscripts)))))

        def hint(var: str) -> str:
            text = ""
            shielded = [a for v, a in guarded if v == var]
            if shielded:
                text += (f"; the `?:` guard keeps {shielded[0].describe()} in bounds, so it does not "
                         f"bound `{var}`")
            return text + self._misspelt_index(var, lhs, scope)

        bounds: dict[str, list[Bound]] = {}
        ranges = infer_ranges(variables, explicit, accesses, scope.first_use,
                              nonnegative={v: target.name for v in lhs if v not in explicit},
                              bounds=bounds, hint=hint)
        for v in lhs:
            low = ranges[v][0].as_constant()
            if v in explicit and low is not None and low < 0:
                raise TcError(f"`{v}` starts at {low}, but it indexes `{target.name}`, whose indices start at 0",
                              scope.first_use.get(v, s.loc))
        for v in variables:
            check_not_empty(v, ranges[v], scope.first_use.get(v, s.loc))
        for v, cs in bounds.items():
            n = find_narrowing(v, cs, ranges[v])
            if n is None:
                continue
            result = f"[{show(n.result[0])}, {show(n.result[1])})"
            allowed = f"[{show(n.allowed[0])}, {show(n.allowed[1])})"
            others = f"[{show(n.others[0])}, {show(n.others[1])})"
            if n.other is None:
                note = ""
                if v in lhs and any(b.access.kind == "write" for b in cs):
                    note = f", so part of `{target.name}` is never written"
                message = (f"{n.access.describe()} narrows the range of `{v}` to {result}: it allows {allowed} "
                           f"where the other accesses allow {others}{note}; check its subscripts, or give the "
                           "range with `where`")
            else:
                message = (f"{n.access.describe()} allows `{v}` in {allowed} but {n.other.describe()} allows "
                           f"{others}, so `{v}` ranges over {result} only; check the subscripts, or give the "
                           "range with `where`")
            self.warn(message, n.access.loc)
        return ranges

    def _misspelt_index(self, var: str, lhs: list[str], scope: _StmtScope) -> str:
        """A did-you-mean for an index variable that may be a misspelt name."""
        names = {n: "size" for n in self.sizes}
        names |= {n: "scalar" if t.role == "scalar" else "tensor" for n, t in self.tensors.items()}
        names |= {n: "binding" for n in scope.lets}
        hint = did_you_mean(var, names)
        if hint:
            name = hint.split("`")[1]
            return f"; did you mean the {names[name]} `{name}`?"
        # An index on one side only may be the misspelling of one on the other side only.
        if var in lhs:
            others = [w for w in scope.index_vars if w not in lhs] if var not in scope.index_vars else []
        else:
            others = [w for w in lhs if w not in scope.index_vars]
        hint = did_you_mean(var, others)
        if hint:
            return f"; is `{hint.split('`')[1]}` a misspelling of `{var}`, or the other way round?"
        return ""

    # Expressions ---------------------------------------------------------------------

    def _implicit(self, e: TExpr, t: ScalarType) -> TExpr:
        """`convert` for a conversion the program does not write: an integer division
        that becomes a float this way is most likely a mistake (`X(n) * (1 / D)`)."""
        if t.is_float and e.type.is_integer:
            div = _feeding_division(e)
            if div is not None and id(div) in self.divisions:
                node, loc = self.divisions[id(div)]
                text = expr_text(node)
                lhs, rhs = node.lhs, expr_text(node.rhs, 7)
                while isinstance(lhs, TCast):
                    lhs = lhs.operand
                fixed = f"{lhs.value}.0 / {rhs}" if isinstance(lhs, TConst) else f"float({expr_text(lhs)}) / {rhs}"
                self.warn(f"`{text}` is an integer division (it truncates toward zero) but its result is used "
                          f"as a `{t}`; write `{fixed}` for a float division, or cast the result "
                          f"(`{t}({text})`) if truncation is meant", loc)
        return convert(e, t)

    def _resolve(self, e: ast.Expr, scope: _StmtScope) -> TExpr:
        if isinstance(e, ast.IntLit):
            if e.value > _INT32_MAX:
                raise TcError(f"integer literal {e.value} does not fit in int32; "
                              f"write it as a float ({e.value}.0) or split it", e.loc)
            return TConst(INT32, e.value)
        if isinstance(e, ast.FloatLit):
            if not math.isfinite(e.value):
                raise TcError(f"float literal {e.text} is out of range", e.loc)
            return TConst(FLOAT, e.value)
        if isinstance(e, ast.Ident):
            return self._ident(e, scope)
        if isinstance(e, ast.Apply):
            return self._apply(e, scope)
        if isinstance(e, ast.Unary):
            x = self._resolve(e.operand, scope)
            if e.op == "!":
                if not x.type.is_bool:
                    raise TcError(f"`!` needs a `bool`, found `{x.type}`; compare first, e.g. `x != 0`", e.loc)
                return TUnary(BOOL, "!", x)
            _require_numeric(x, "unary `-`", e.loc)
            if x.type.is_lowp and getattr(x.type.format, "kind", None) == "unsigned":
                raise TcError(f"unary `-` of a `{x.type}` value: the format has no negative values (it is "
                              f"unsigned); convert it first, e.g. `-float({expr_text(x)})`", e.loc)
            if isinstance(x, TConst) and not x.type.is_lowp:  # a format's constant is rounded later
                return TConst(x.type, _convert_value(-x.value, x.type))
            return TUnary(x.type, "-", x)
        if isinstance(e, ast.Binary):
            return self._binary(e, scope)
        assert isinstance(e, ast.Ternary)
        cond = self._resolve(e.cond, scope)
        if not cond.type.is_bool:
            raise TcError(f"the condition of `?:` must be a `bool`, found `{cond.type}`", e.cond.loc)
        a = self._resolve(e.then, scope)
        b = self._resolve(e.otherwise, scope)
        t = self._common(a, b, "the branches of `?:`", e.loc)
        return TSelect(t, cond, self._implicit(a, t), self._implicit(b, t))

    def _common(self, a: TExpr, b: TExpr, what: str, loc: Location) -> ScalarType:
        if a.type.is_bool and b.type.is_bool:
            return BOOL
        if a.type.is_bool or b.type.is_bool:
            raise TcError(f"{what} mix `bool` and `{b.type if a.type.is_bool else a.type}`; "
                          "cast the `bool` first", loc)
        return self._promote(a, b, what, loc)

    @staticmethod
    def _promote(a: TExpr, b: TExpr, what: str, loc: Location) -> ScalarType:
        """`promote`; two different number formats are an error that suggests a cast."""
        if mixed_formats(a.type, b.type):
            raise TcError(f"{what} mix the number formats `{a.type}` and `{b.type}`, which do not combine "
                          f"implicitly; cast one to the other (`{b.type}({expr_text(a)})`) or both to a "
                          f"standard float (`float({expr_text(a)})`)", loc)
        return promote(a.type, b.type)

    def _binary(self, e: ast.Binary, scope: _StmtScope) -> TExpr:
        a = self._resolve(e.lhs, scope)
        b = self._resolve(e.rhs, scope)
        if e.op in ("&&", "||"):
            for x, side in ((a, e.lhs), (b, e.rhs)):
                if not x.type.is_bool:
                    raise TcError(f"`{e.op}` needs `bool` operands, found `{x.type}`", side.loc)
            return TBinary(BOOL, e.op, a, b)
        if e.op in COMPARISONS:
            t = self._common(a, b, f"the operands of `{e.op}`", e.loc)
            if t.is_bool and e.op not in ("==", "!="):
                raise TcError(f"`{e.op}` cannot compare `bool` values", e.loc)
            return TBinary(BOOL, e.op, self._implicit(a, t), self._implicit(b, t))
        _require_numeric(a, f"`{e.op}`", e.lhs.loc)
        _require_numeric(b, f"`{e.op}`", e.rhs.loc)
        t = self._promote(a, b, f"the operands of `{e.op}`", e.loc)
        if e.op == "%" and t.is_lowp:
            raise TcError(f"`%` is not defined on the number format `{t}`; use `fmod(x, y)`, which "
                          "computes in `float`", e.loc)
        node = TBinary(t, e.op, self._implicit(a, t), self._implicit(b, t))
        if e.op == "/" and t.is_integer:
            self.divisions[id(node)] = (node, e.loc)
        if e.op in ("/", "%") and t.is_integer and isinstance(b, TConst) and b.value == 0:
            self.warn(f"`{expr_text(node)}` divides by zero, which gives 0 for integers; "
                      "was another divisor meant?", e.rhs.loc)
        return node

    def _ident(self, e: ast.Ident, scope: _StmtScope) -> TExpr:
        name = e.name
        if name in scope.lets:
            if name in scope.expanding:
                raise TcError(f"the binding of `{name}` refers to itself", e.loc)
            scope.expansions += 1
            if len(scope.expanding) >= MAX_DEPTH or scope.expansions > _MAX_LET_EXPANSIONS:
                raise TcError(f"the `where` bindings expand to an expression too large to compile "
                              f"(`{name}` here); use a temporary instead", e.loc)
            scope.expanding.append(name)
            value = self._resolve(scope.lets[name].value, scope)
            scope.expanding.pop()
            return value
        if name in self.sizes:
            return TSize(INT32, name)
        info = self.tensors.get(name)
        if info is not None:
            if info.role == "scalar":
                return TScalar(info.dtype, name)
            return self._read(name, [], e.loc, scope)
        if name in ARITY or name in ("min", "max"):
            raise TcError(f"`{name}` is a function; call it as `{name}(...)`", e.loc)
        if name not in scope.index_vars:
            scope.index_vars.append(name)
            scope.first_use.setdefault(name, e.loc)
        return TIndex(INT32, name)

    def _read(self, name: str, args: list[ast.Expr], loc: Location, scope: _StmtScope) -> TExpr:
        rank = self.ranks.get(name)
        if rank is None:
            raise TcError(f"`{name}` is read here but never written", loc)
        if len(args) != rank:
            raise TcError(f"`{name}` has rank {rank} but is subscripted with {len(args)} "
                          f"ind{'ex' if len(args) == 1 else 'ices'}", loc)
        indices = []
        for arg in args:
            i = self._resolve(arg, scope)
            if not i.type.is_integer:
                raise TcError(f"a subscript of `{name}` must be an integer, found `{i.type}`", arg.loc)
            indices.append(i)
        info = self.tensors[name]
        if info.dtype is None:
            raise TcError(f"`{name}` is read before any statement writes it, so its type is unknown", loc)
        read = TRead(info.dtype, name, tuple(indices))
        if not scope.quiet:
            scope.reads.append((read, loc))
            scope.read_locs[id(read)] = loc
        return read

    def _apply(self, e: ast.Apply, scope: _StmtScope) -> TExpr:
        name = e.name
        if name in self.tensors and self.tensors[name].role != "scalar":
            return self._read(name, e.args, e.name_loc, scope)
        cast = lookup_type(name)
        if cast is not None:
            self._arity(e, 1)
            return convert(self._resolve(e.args[0], scope), cast)
        if name in ("min", "max"):
            self._arity(e, 2)
            a, b = (self._resolve(x, scope) for x in e.args)
            t = self._common(a, b, f"the operands of `{name}`", e.loc)
            if t.is_bool:
                raise TcError(f"`{name}` needs numbers, not `bool`", e.loc)
            return TBinary(t, name, self._implicit(a, t), self._implicit(b, t))
        if name in ARITY:
            self._arity(e, ARITY[name])
            args = [self._resolve(x, scope) for x in e.args]
            t = args[0].type
            for x, node in zip(args, e.args):
                _require_numeric(x, f"`{name}`", node.loc)
                # a number format takes part as `float` (each converted to it on its own)
                t = promote(FLOAT if t.is_lowp else t, FLOAT if x.type.is_lowp else x.type)
            t = at_least_float(t)
            return TCall(t, name, tuple(self._implicit(x, t) for x in args))
        if name in self.tensors:
            raise TcError(f"`{name}` is a scalar parameter; use it without subscripts", e.name_loc)
        hint = SUGGESTIONS.get(name)
        if hint:
            hint = f"; {hint}"
        else:
            tensors = [n for n, t in self.tensors.items() if t.role != "scalar"]
            hint = did_you_mean(name, tensors, "the tensor") or did_you_mean(
                name, list(ARITY) + type_names() + ["min", "max"])
        raise TcError(f"unknown tensor or function `{name}`{hint}", e.name_loc)

    def _arity(self, e: ast.Apply, n: int) -> None:
        if len(e.args) != n:
            raise TcError(f"`{e.name}` takes {n} argument{'s' if n != 1 else ''}, found {len(e.args)}", e.loc)
