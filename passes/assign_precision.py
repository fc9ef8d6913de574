"""Assign number formats across each `tc.def`: which tensor is stored and which
statement computes in which format, with the casts that takes placed and kept few.

Summary:
  Issue 16. A def's statements, tensors and temporaries are its dataflow graph; the
  pass decides a format for each, rewrites the statements to compute in it, and
  writes the result as an ordinary def (every conversion an explicit TC cast), so the
  same decision is readable as TC text (`tcir.mixed_precision(...).source`).

  Statement classes (policy `amp`; PyTorch's autocast decides by op lists, this pass
  by what a statement computes):
  - a **contraction**, a `+` reduction of a product (`C(m, n) +=! A(m, k) * B(k, n)`),
    rounds its operands to `low` and forms the products and their sum in
    `accumulate`, as tensor cores do (a product of two `bfloat16`, `half` or 8-bit
    values is exact in `float`, so only the operands and the sum round);
  - statements calling exp, log, pow, rsqrt or a relative of theirs, dividing by the
    result of a reduction (a softmax or norm denominator), and the reductions that
    are not contractions (`+`, `*`: sums, norms) stay in their own type: their error
    grows with the inputs' error and the number of terms;
  - other statements are **element-wise** and follow their inputs: they compute in
    the widest format of the tensors they read (`max=!`/`min=!` reductions too: they
    round nothing);
  - integer statements are not touched.
  A temporary is stored in the format its statements produce (a contraction's
  `accumulate`), an input and an output keep their declared type, so the result is a
  drop-in replacement of the def. `overrides` pins a tensor to a format (an input is
  then rounded once to it, an output is returned in it) or a statement, by its index
  in the def, to a compute format (a contraction's operand format). Policy `keep`
  changes only what `overrides` pins (what `tcir.mixed_precision`'s `auto` search
  starts from).

  Cast placement: a conversion is a TC cast (`bfloat16(W(n, m))`); chains are folded
  (`x` to a wider type and on to `t` is `x` to `t`; to a type and back is nothing).
  A narrowing cast of an input read inside statements is either **fused** into each
  use or **hoisted** into a temporary written once (`W_bfloat16(i0, i1) =
  bfloat16(W(i0, i1))`), whichever moves fewer bytes: with `r` the reads of the input
  over all its uses (the points of each reading statement's domain: a weight read
  inside a reduction is read once per point of the reduced dimensions) and `n` its
  elements, fusing moves `r * size(src)` bytes, hoisting `n * (size(src) +
  size(low)) + r * size(low)`. With unknown sizes a use that reduces over dimensions
  the subscript lacks counts as large reuse. Per-point reads count both the traffic
  between cache and registers and the cast's work, which a fused cast repeats at every
  point.

Options:
  policy      `amp` (default) or `keep`; `auto` needs sample inputs and is
              `tcir.mixed_precision`'s.
  low         the operand format of contractions (default `bfloat16`): any TC type
              name or registered format (`half`, `float8_e4m3fn`, a user format).
  accumulate  the contractions' accumulation type (default `float`).
  overrides   "W1=float8_e4m3fn, 2=float": tensors (by name) or statements (by their
              0-based index in the def) pinned to a format.
  sizes       "M=64,N=32" (optional): the sizes the hoisting rule counts bytes with.

Before:
  tc.def @fcrelu(%I : !tc.tensor<[B, M], f32>, %W1 : !tc.tensor<[N, M], f32>, ...)
      -> (%O1 : !tc.tensor<[B, N], f32>) {
    tc.stmt (%b in 0 to B, %n in 0 to N, %r_m in 0 to M) %O1[%b, %n] +=! {
      %0 = tc.read %I[%b, %r_m] : f32
      %1 = tc.read %W1[%n, %r_m] : f32
      %2 = arith.mulf %0, %1 : f32
      tc.yield %2 : f32
    }
    ...
After (policy=amp low=bfloat16), as TC:
  def fcrelu(float(B, M) I, float(N, M) W1, float(N) B1) -> (O1) {
      W1_bfloat16(i0, i1) = bfloat16(W1(i0, i1))
      I_bfloat16(i0, i1) = bfloat16(I(i0, i1))
      O1(b, n) +=! float(I_bfloat16(b, r_m)) * W1_bfloat16(n, r_m)
      O1(b, n) = O1(b, n) + B1(n)
      O1(b, n) = fmax(O1(b, n), 0)
  }
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from tcir.checked_from_ir import checked_def
from tcir.dialects import tc
from tcir.errors import TcError
from tcir.frontend.checked import (
    CheckedDef, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr, TIndex, TRead, TScalar, TSelect, TSize,
    TUnary, nodes, reads, rebuild,
)
from tcir.frontend.format_names import lookup_type, type_names
from tcir.frontend.printing import (
    RESERVED, SourceStmt, fresh_name, header_source, parameter_source, result_source, settle, statement_op,
    whole_tensor_statement,
)
from tcir.frontend.types import BFLOAT16, FLOAT, INT32, ScalarType, at_least_float, converts_implicitly
from tcir.irgen import build_def

from .tc_lowering import parse_assignments, parse_sizes

POLICIES = ("amp", "keep")

# Builtins whose error grows with their argument's (PyTorch autocast's float32 list,
# by function): statements calling them keep their type.
SENSITIVE_CALLS = frozenset({
    "exp", "exp2", "exp10", "expm1", "log", "log2", "log10", "log1p", "pow", "rsqrt", "rcbrt", "rhypot",
    "rnorm3d", "rnorm4d", "lgamma", "tgamma", "erfinv", "erfcinv",
})

CONTRACTION, KEEP, ELEMENTWISE, INTEGER = "contraction", "keep", "element-wise", "integer"


@dataclass(frozen=True)
class Precision:
    """How a statement computes: its arithmetic in `compute`; a contraction's products
    and sum in `accumulate` (its operands rounded to `compute`)."""

    compute: ScalarType
    accumulate: ScalarType | None = None

    def __str__(self) -> str:
        return str(self.compute) + (f", accumulated in {self.accumulate}" if self.accumulate else "")


@dataclass
class Assignment(Mapping):
    """The decision: `tensors` maps each float tensor and scalar of the result to its
    format, `statements` each statement of the original def (by index) to its class and
    `Precision`; `hoisted` names the temporaries that hold a tensor cast once. As a
    mapping: tensor names and statement indices to format names (`Precision` as text)."""

    tensors: dict[str, ScalarType]
    statements: dict[int, Precision]
    classes: dict[int, str]
    hoisted: dict[str, tuple[str, ScalarType]] = field(default_factory=dict)  # temp -> (tensor, format)

    def _flat(self) -> dict:
        return {**{n: t.name for n, t in self.tensors.items()}, **{i: str(p) for i, p in self.statements.items()}}

    def __getitem__(self, key):
        return self._flat()[key]

    def __iter__(self):
        return iter(self._flat())

    def __len__(self) -> int:
        return len(self._flat())


@dataclass
class Result:
    source: str  # the def written back as TC
    checked: CheckedDef  # `source` checked
    assignment: Assignment


def resolve_type(name, what: str) -> ScalarType:
    """A TC type or registered format by name (a `ScalarType` passes through)."""
    if isinstance(name, ScalarType):
        return name
    t = lookup_type(str(name))
    if t is None:
        hint = difflib.get_close_matches(str(name), type_names(), n=1)
        raise TcError(f"{what}: unknown type `{name}`" + (f" (did you mean `{hint[0]}`?)" if hint else ""))
    if not (t.is_float or t.is_lowp):
        raise TcError(f"{what}: `{name}` is not a float type or number format")
    return t


def _floatish(t: ScalarType) -> bool:
    return t.is_float or t.is_lowp


def _cast(t: ScalarType, e: TExpr) -> TExpr:
    return e if e.type == t else TCast(t, e)


def _widest(types) -> ScalarType | None:
    """The type every one of `types` converts to exactly (None for none; `float` when
    no one of them holds all the others)."""
    best = None
    for t in types:
        if best is None or converts_implicitly(best, t):
            best = t
        elif not converts_implicitly(t, best):
            best = FLOAT if all(converts_implicitly(u, FLOAT) for u in (t, best)) else None
            if best is None:
                return None
    return best


def simplify(e: TExpr) -> TExpr:
    """Fold cast chains: a cast to the operand's own type is nothing, and `x` widened
    exactly to `b` then cast to `c` is `x` cast to `c`."""
    def fold(x: TExpr) -> TExpr | None:
        if not isinstance(x, TCast):
            return None
        inner = x.operand
        while isinstance(inner, TCast) and _floatish(inner.type) and _floatish(inner.operand.type) \
                and converts_implicitly(inner.operand.type, inner.type):
            inner = inner.operand
        return _cast(x.type, inner)

    return rebuild(e, fold)


# Classifying statements ---------------------------------------------------------------


def _factors(e: TExpr) -> list[TExpr]:
    if isinstance(e, TBinary) and e.op == "*":
        return _factors(e.lhs) + _factors(e.rhs)
    return [e]


def is_contraction(s: CheckedStmt) -> bool:
    """A `+` reduction of a product of at least two factors that read tensors."""
    if s.kind != "+" or not s.reduction_vars:
        return False
    factors = _factors(s.rhs)
    return len([f for f in factors if reads(f)]) >= 2


def classify(d: CheckedDef, s: CheckedStmt) -> str:
    if not _floatish(d.tensors[s.target].dtype):
        return INTEGER
    if is_contraction(s):
        return CONTRACTION
    reduced = {t.target for t in d.stmts if t.kind in ("+", "*") and t.reduction_vars}
    for node in nodes(s.rhs):
        if isinstance(node, TCall) and node.fn in SENSITIVE_CALLS:
            return KEEP
        if isinstance(node, TBinary) and node.op == "/" and any(r.tensor in reduced for r in reads(node.rhs)):
            return KEEP
    if s.kind in ("+", "*") and s.reduction_vars:
        return KEEP
    return ELEMENTWISE


# Deciding ---------------------------------------------------------------------------


class Planner:
    """The assignment of one def under a policy (no rewriting)."""

    def __init__(self, d: CheckedDef, policy: str, low: ScalarType, accumulate: ScalarType,
                 tensor_pins: Mapping[str, ScalarType], stmt_pins: Mapping[int, ScalarType]):
        self.d, self.policy, self.low, self.accumulate = d, policy, low, accumulate
        self.tensor_pins, self.stmt_pins = tensor_pins, stmt_pins

    def plan(self) -> Assignment:
        d = self.d
        classes = {i: classify(d, s) if self.policy == "amp" else
                   KEEP if _floatish(d.tensors[s.target].dtype) else INTEGER for i, s in enumerate(d.stmts)}
        fmt: dict[str, ScalarType | None] = {}
        for t in d.inputs + d.outputs + d.temporaries:
            if _floatish(t.dtype):
                fmt[t.name] = self.tensor_pins.get(t.name, t.dtype if t.role != "temporary" else None)
        precision: dict[int, Precision] = {}
        for _ in range(len(d.stmts) + 2):  # temporaries only widen: a few rounds settle
            changed = False
            produced: dict[str, list[ScalarType]] = {}
            for i, s in enumerate(d.stmts):
                if classes[i] == INTEGER:
                    continue
                p = self._precision(i, s, classes[i], fmt)
                precision[i] = p
                produced.setdefault(s.target, []).append(p.accumulate or p.compute)
            for name, types in produced.items():
                if self.d.tensors[name].role == "temporary" and name not in self.tensor_pins:
                    new = _widest(types) or self.d.tensors[name].dtype
                    if fmt[name] != new:
                        fmt[name], changed = new, True
            if not changed:
                break
        tensors = {n: t for n, t in fmt.items() if t is not None}
        return Assignment(tensors, precision, classes)

    def _precision(self, i: int, s: CheckedStmt, cls: str, fmt) -> Precision:
        own = self.d.tensors[s.target].dtype
        pinned = self.stmt_pins.get(i)
        if cls == CONTRACTION:
            return Precision(pinned or self.low, self.accumulate)
        if cls == KEEP:
            return Precision(pinned or own)
        inputs = [fmt.get(r.tensor) for r in reads(s.rhs)] + [
            fmt.get(n.name) for n in nodes(s.rhs) if isinstance(n, TScalar)]
        if s.kind != "=" and not s.init:
            inputs.append(fmt.get(s.target))
        compute = pinned or _widest([t for t in inputs if t is not None]) or own
        if not _computable(s.rhs, own, compute):
            compute = own
        return Precision(compute)


def _computable(e: TExpr, own: ScalarType, c: ScalarType) -> bool:
    """Whether the operations of `e` done in `own` exist in `c` (formats lack `%`,
    unsigned formats `-`, integer formats a rounding `/`)."""
    if not c.is_lowp:
        return True
    for node in nodes(e):
        if node.type != own and not (isinstance(node, TBinary) and node.lhs.type == own):
            continue
        if isinstance(node, TBinary) and node.op == "%":
            return False
        if isinstance(node, TBinary) and node.op == "/" and c.is_fixed:
            return False
        if isinstance(node, TUnary) and node.op == "-" and getattr(c.format, "kind", "") == "unsigned":
            return False
    return True


# Rewriting --------------------------------------------------------------------------


class Retyper:
    """A statement's right side with the nodes of its own type `own` computed in `c`
    and each tensor read giving its assigned format."""

    def __init__(self, d: CheckedDef, fmt: Mapping[str, ScalarType], own: ScalarType, c: ScalarType):
        self.d, self.fmt, self.own, self.c = d, fmt, own, c

    def new(self, t: ScalarType) -> ScalarType:
        return self.c if t == self.own else t

    def __call__(self, e: TExpr) -> TExpr:
        nt = self.new(e.type)
        if isinstance(e, TRead | TScalar):
            name = e.tensor if isinstance(e, TRead) else e.name
            value_type = self.fmt.get(name, e.type)
            if self.d.tensors[name].role in ("input", "scalar"):  # a parameter keeps its type: round it
                return _cast(nt, _cast(value_type, e))
            return _cast(nt, TRead(value_type, e.tensor, e.indices))
        if isinstance(e, TConst):
            return e if nt == e.type or isinstance(e.value, bool) else TConst(nt, e.value)
        if isinstance(e, TIndex | TSize):
            return e
        if isinstance(e, TCast):
            return _cast(nt, self(e.operand))
        if isinstance(e, TUnary):
            return TUnary(nt, e.op, _cast(nt, self(e.operand)) if e.op == "-" else self(e.operand))
        if isinstance(e, TBinary):
            operand_type = self.new(e.lhs.type)
            return TBinary(nt, e.op, _cast(operand_type, self(e.lhs)), _cast(operand_type, self(e.rhs)))
        if isinstance(e, TSelect):
            return TSelect(nt, self(e.cond), _cast(nt, self(e.then)), _cast(nt, self(e.otherwise)))
        if isinstance(e, TCall):
            ct = at_least_float(nt) if _floatish(nt) else nt
            return _cast(nt, TCall(ct, e.fn, tuple(_cast(ct, self(a)) for a in e.args)))
        raise TypeError(f"cannot retype {e!r}")


def _contract(e: TExpr, own: ScalarType, p: Precision, leaf) -> TExpr:
    """A contraction's product tree with its products in `p.accumulate` and each factor
    that reads a tensor rounded to `p.compute` first."""
    if isinstance(e, TBinary) and e.op == "*" and e.type == own:
        return TBinary(p.accumulate, "*", _contract(e.lhs, own, p, leaf), _contract(e.rhs, own, p, leaf))
    value = leaf(e)
    return _cast(p.accumulate, _cast(p.compute, value) if reads(e) else value)


class Rewriter:
    def __init__(self, d: CheckedDef, a: Assignment, sizes: Mapping[str, int] | None):
        self.d, self.a, self.sizes = d, a, sizes
        self.taken = set(d.tensors) | set(d.sizes) | set(RESERVED) | {
            v for s in d.stmts for v in s.iterators}

    def fresh(self, base: str) -> str:
        return fresh_name(base, self.taken)

    def rhs(self, i: int, s: CheckedStmt) -> TExpr:
        """The right side of statement `i` in the target's format (before hoisting)."""
        own = self.d.tensors[s.target].dtype
        target = self.a.tensors.get(s.target, own)
        if self.a.classes[i] == INTEGER:
            return simplify(Retyper(self.d, self.a.tensors, own, own)(s.rhs))
        p = self.a.statements[i]
        if self.a.classes[i] == CONTRACTION:
            e = _contract(s.rhs, own, p, Retyper(self.d, self.a.tensors, own, own))
        else:
            e = Retyper(self.d, self.a.tensors, own, p.compute)(s.rhs)
        return simplify(_cast(target, e))

    def statements(self) -> list[tuple[str | None, list[SourceStmt]]]:
        d = self.d
        body: list[SourceStmt] = []
        for i, s in enumerate(d.stmts):
            rhs = self.rhs(i, s)
            target, tail = s.target, []
            p = self.a.statements.get(i)
            fmt = self.a.tensors.get(s.target)
            if (self.a.classes[i] == CONTRACTION and s.init and fmt is not None and p.accumulate != fmt
                    and _floatish(p.accumulate)):
                # accumulate in `accumulate`, then round once into the target's format
                target = self.fresh(f"{s.target}_{p.accumulate.name}")
                rhs = simplify(_strip_to(rhs, p.accumulate))
                self.a.tensors[target] = p.accumulate
                acc_read = TRead(p.accumulate, target, tuple(TIndex(INT32, v) for v in s.lhs))
                lhs_ranges = {v: s.ranges[v] for v in s.lhs}
                tail.append(SourceStmt(s.target, list(s.lhs), "=", _cast(fmt, acc_read), lhs_ranges,
                                       set(s.explicit) & set(s.lhs)))
            body.append(SourceStmt(target, list(s.lhs), statement_op(s.kind, s.init), rhs, dict(s.ranges),
                                   set(s.explicit), scatter=dict(s.scatter)))
            body += tail
        top, body = self.hoist(body)
        return [(None, top + body)]

    def hoist(self, body: list[SourceStmt]) -> tuple[list[SourceStmt], list[SourceStmt]]:
        """Replace the fused narrowing casts of a tensor that move more bytes than a
        cast temporary: (the inputs' cast statements, the body with the temporaries'
        cast statements after their last write)."""
        uses: dict[tuple[str, ScalarType], list[tuple[int, TRead]]] = {}
        for k, st in enumerate(body):
            for node in nodes(st.rhs):
                if isinstance(node, TCast) and isinstance(node.operand, TRead) and node.operand.indices \
                        and _narrows(node.operand.type, node.type) and node.operand.tensor in self.d.tensors:
                    uses.setdefault((node.operand.tensor, node.type), []).append((k, node.operand))
        top: list[SourceStmt] = []
        inline: dict[int, list[SourceStmt]] = {}  # after body[k]
        for (name, t), found in uses.items():
            at = self._cast_point(name, body, [k for k, _ in found])
            if at is None or not self._hoists(name, t, [(body[k], read) for k, read in found]):
                continue
            temp = self.fresh(f"{name}_{t.name}")
            self.a.tensors[temp] = t
            self.a.hoisted[temp] = (name, t)
            cast = self._cast_stmt(temp, name, found[0][1].type, t)
            if at < 0:
                top.append(cast)
            else:
                inline.setdefault(at, []).append(cast)

            def swap(x: TExpr, name=name, t=t, temp=temp) -> TExpr | None:
                if isinstance(x, TCast) and x.type == t and isinstance(x.operand, TRead) and x.operand.tensor == name:
                    return TRead(t, temp, x.operand.indices)
                return None

            for st in body:
                st.rhs = simplify(rebuild(st.rhs, swap))
        return top, [x for k, st in enumerate(body) for x in [st, *inline.get(k, [])]]

    def _cast_point(self, name: str, body: list[SourceStmt], used_at: list[int]) -> int | None:
        """Where a cast of `name` may be written once for these uses: -1 for an input (at
        the top), after the last write before the first use for a temporary that no
        statement writes from there to the last use; None if nowhere."""
        if self.d.tensors[name].role == "input":
            return -1
        writes = [k for k, st in enumerate(body) if st.target == name]
        before = [k for k in writes if k < min(used_at)]
        if not before or any(min(used_at) <= k <= max(used_at) for k in writes):
            return None
        return before[-1]

    def _cast_stmt(self, temp: str, name: str, src_type: ScalarType, t: ScalarType) -> SourceStmt:
        return whole_tensor_statement(temp, name, self.d.tensors[name].shape, src_type, self.taken, convert=t,
                                      comment=f"{name} rounded to {t} once")

    def _hoists(self, name: str, t: ScalarType, found) -> bool:
        s_src, s_t = found[0][1].type.numpy_dtype.itemsize, t.numpy_dtype.itemsize
        elements = self._count(self.d.tensors[name].shape)
        reads_total = 0.0
        for st, read in found:
            points = self._count([hi - lo for lo, hi in st.ranges.values()])
            used = {n.name for n in nodes(read) if isinstance(n, TIndex)}
            if points is None or elements is None:
                reuse_missing = any(v not in used for v in st.ranges)
                points = math.inf if reuse_missing else (elements or 1)
            reads_total += points
        n = elements if elements is not None else 1
        return reads_total * (s_src - s_t) > n * (s_src + s_t)

    def _count(self, extents) -> int | None:
        if self.sizes is None:
            return None
        try:
            return math.prod(max(0, e.evaluate(self.sizes)) for e in extents)
        except KeyError:
            return None


def _narrows(src: ScalarType, dst: ScalarType) -> bool:
    return _floatish(src) and _floatish(dst) and src != dst and not converts_implicitly(src, dst)


def _strip_to(e: TExpr, t: ScalarType) -> TExpr:
    """`e` before its final cast, when that operand has type `t`."""
    return e.operand if isinstance(e, TCast) and e.operand.type == t else _cast(t, e)


# Entry points ---------------------------------------------------------------------


def parse_overrides(overrides, d: CheckedDef) -> tuple[dict[str, ScalarType], dict[int, ScalarType]]:
    """`{"W1": "float8_e4m3fn", 2: "float"}` (or the text "W1=float8_e4m3fn, 2=float")
    checked against the def."""
    if overrides is None:
        return {}, {}
    if isinstance(overrides, str):
        overrides = parse_assignments(overrides, "override")
    if not isinstance(overrides, Mapping):
        raise TcError(f"overrides must map tensor names or statement indices to formats, not {type(overrides).__name__}")
    tensors, stmts = {}, {}
    for key, value in overrides.items():
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            index = int(key)
            if not 0 <= index < len(d.stmts):
                raise TcError(f"overrides: `{d.name}` has statements 0 to {len(d.stmts) - 1}, not {index}", d.loc)
            stmts[index] = resolve_type(value, f"overrides[{index}]")
            continue
        if key not in d.tensors:
            raise TcError(f"overrides: `{d.name}` has no tensor `{key}` (its tensors: "
                          + ", ".join(f"`{n}`" for n in d.tensors) + ")", d.loc)
        if not _floatish(d.tensors[key].dtype):
            raise TcError(f"overrides: `{key}` is of type `{d.tensors[key].dtype}`; only float tensors get a format",
                          d.loc)
        tensors[key] = resolve_type(value, f"overrides[{key!r}]")
    return tensors, stmts


def assign_precision(d: CheckedDef, policy: str = "amp", low="bfloat16", accumulate="float", overrides=None,
                     sizes: Mapping[str, int] | None = None, filename: str = "<string>") -> Result:
    """The def `d` with formats assigned under `policy` (module docstring), as TC text,
    its checked def and the assignment."""
    if policy not in POLICIES:
        hint = " (`auto` measures on sample inputs: use `tcir.mixed_precision`)" if policy == "auto" else ""
        raise TcError(f"assign-precision: unknown policy `{policy}`; expected "
                      + " or ".join(f"`{p}`" for p in POLICIES) + hint)
    low_t = resolve_type(low if low is not None else BFLOAT16, "low")
    acc_t = resolve_type(accumulate, "accumulate")
    tensor_pins, stmt_pins = parse_overrides(overrides, d)
    return rewrite(d, Planner(d, policy, low_t, acc_t, tensor_pins, stmt_pins).plan(), sizes, filename)


def rewrite(d: CheckedDef, assignment: Assignment, sizes: Mapping[str, int] | None = None,
            filename: str = "<string>") -> Result:
    """The def `d` under `assignment` (from `assign_precision`, or changed by a search)."""
    assignment = Assignment(dict(assignment.tensors), dict(assignment.statements), dict(assignment.classes))
    sections = Rewriter(d, assignment, sizes).statements()
    params = [parameter_source(t) for t in d.inputs]
    text, checked = settle(header_source(d.name, params, [result_source(d, t.name, assignment.tensors.get(t.name, t.dtype))
                                                    for t in d.outputs]), sections, d.name,
                           f"{filename} (mixed precision)")
    return Result(text, checked, assignment)


@dataclass(frozen=True)
class AssignPrecisionPass(ModulePass):
    name = "assign-precision"

    policy: str = "amp"
    low: str = "bfloat16"
    accumulate: str = "float"
    overrides: str = ""
    sizes: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        sizes = parse_sizes(self.sizes) if self.sizes else None
        for def_op in list(op.ops):
            if isinstance(def_op, tc.DefOp):
                d = checked_def(def_op)
                result = assign_precision(d, self.policy, self.low, self.accumulate, self.overrides or None, sizes)
                op.body.block.insert_op_before(build_def(result.checked), def_op)
                def_op.detach()
                def_op.erase()
