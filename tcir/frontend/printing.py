"""Printing checked TC back to source: typed expressions, size expressions, statements
and defs (for the programs that tcir writes: gradients, mixed-precision defs).

The checked tree (`tcir.frontend.checked`) has every conversion explicit and every
literal folded to the type it is used at. Printed naively (as `expr_text` does for
messages) the text may check to a different program: `O(i) = 1.0` with `O` a `double`
temporary would make `O` a `float`. `expr_source` prints an expression so that the
front end types it exactly as the tree says, yet without the noise of the implicit
conversions: a cast is left out where the promotion of its context puts it back (and a
literal is written bare where its context gives it its type); otherwise it is written
(`double(0)`, `half(0.5)`, `float(D(i))`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from ..errors import TcError, TcWarning
from ..sizeexpr import BinOp, Const, SizeExpr, Sym
from . import check_source
from .builtins import ARITY
from .checked import (
    COMPARISONS, CheckedDef, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr, TIndex, TRead, TScalar, TSelect, TSize, TUnary,
    TensorInfo, children, reads, write_subscripts,
)
from .types import (
    FLOAT, INT32, TYPE_NAMES, ScalarType, at_least_float, converts_implicitly, mixed_formats, promote,
)

# Words that cannot name a tensor, a size or an index variable.
RESERVED = frozenset({"def", "where", "in", "exists", "min", "max"}) | frozenset(TYPE_NAMES) | frozenset(ARITY)

_PREC = {"||": 2, "&&": 3, **{op: 4 for op in COMPARISONS}, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}


def _promote(a: ScalarType, b: ScalarType) -> ScalarType | None:
    if a.is_bool or b.is_bool:
        return a if a == b else None
    return None if mixed_formats(a, b) else promote(a, b)


def _has_division(e: TExpr) -> bool:
    if isinstance(e, TBinary) and e.op in ("/", "%") and e.type.is_integer:
        return True
    return any(_has_division(c) for c in children(e))


def _const_forms(c: TConst) -> list[tuple[str, ScalarType]]:
    """The bare spellings of a constant with the type the front end gives each."""
    v = c.value
    if isinstance(v, bool):
        return []
    if isinstance(v, int) or float(v).is_integer() and abs(v) < 2**31:
        n = int(v)
        forms = [(str(n), INT32)]
        if c.type.is_float:
            forms.append((f"{float(n)!r}", FLOAT))
        return forms
    return [(repr(float(v)), FLOAT)]


class _Printed:
    __slots__ = ("text", "prec", "type")

    def __init__(self, text: str, prec: int, type_: ScalarType):
        self.text, self.prec, self.type = text, prec, type_

    def at(self, context: int) -> str:
        return f"({self.text})" if self.prec < context else self.text


_ATOM = 100


def _strict(e: TExpr) -> _Printed:
    """`e` printed so that the front end gives it exactly `e.type`."""
    if isinstance(e, TConst):
        if isinstance(e.value, bool):
            return _Printed("(0 == 0)" if e.value else "(0 != 0)", _ATOM, e.type)
        for text, t in _const_forms(e):
            if t == e.type:
                return _bare_const(text, t)
        text = _const_forms(e)[0][0] if _const_forms(e) else str(e.value)
        return _Printed(f"{e.type.name}({text})", _ATOM, e.type)
    if isinstance(e, TCast):
        inner = _strict(e.operand)
        return _Printed(f"{e.type.name}({inner.text})", _ATOM, e.type)
    return _node(e)


def _bare_const(text: str, t: ScalarType) -> _Printed:
    return _Printed(text, 0 if text.startswith("-") else _ATOM, t)


def _loose(e: TExpr) -> list[_Printed]:
    """Spellings of `e` whose type converts implicitly to `e.type` with the same value,
    loosest first; the last one is the strict spelling."""
    if isinstance(e, TConst) and not isinstance(e.value, bool):
        return [_bare_const(text, t) for text, t in _const_forms(e)] + [_strict(e)]
    if isinstance(e, TCast) and converts_implicitly(e.operand.type, e.type) and not (
            e.operand.type.is_integer and e.type.is_float and _has_division(e.operand)):
        return [_strict(e.operand), _strict(e)]
    return [_strict(e)]


def _pick(operands: list[TExpr], ok) -> list[_Printed]:
    """The loosest spellings of `operands` for which `ok(types)` holds."""
    options = [_loose(o) for o in operands]
    chosen = [opts[0] for opts in options]
    if ok([p.type for p in chosen]):
        return chosen
    # make operands strict one at a time, then all
    for i in range(len(operands)):
        trial = chosen[:i] + [options[i][-1]] + chosen[i + 1:]
        if ok([p.type for p in trial]):
            return trial
    return [opts[-1] for opts in options]


def _common(types: list[ScalarType]) -> ScalarType | None:
    t = types[0]
    for u in types[1:]:
        t = _promote(t, u)
        if t is None:
            return None
    return t


def _node(e: TExpr) -> _Printed:
    if isinstance(e, TIndex | TSize | TScalar):
        return _Printed(e.name, _ATOM, e.type)
    if isinstance(e, TRead):
        if not e.indices:
            return _Printed(e.tensor, _ATOM, e.type)
        subs = [_pick([i], lambda ts: ts[0].is_integer)[0].text for i in e.indices]
        return _Printed(f"{e.tensor}({', '.join(subs)})", _ATOM, e.type)
    if isinstance(e, TUnary):
        inner = _strict(e.operand)
        return _Printed(f"{e.op}{inner.at(7)}", 7, e.type)
    if isinstance(e, TBinary):
        operand_type = e.lhs.type
        lhs, rhs = _pick([e.lhs, e.rhs], lambda ts: _common(ts) == operand_type)
        if e.op in ("min", "max"):
            return _Printed(f"{e.op}({lhs.text}, {rhs.text})", _ATOM, e.type)
        prec = _PREC[e.op]
        return _Printed(f"{lhs.at(prec)} {e.op} {rhs.at(prec + 1)}", prec, e.type)
    if isinstance(e, TSelect):
        cond = _strict(e.cond)
        then, otherwise = _pick([e.then, e.otherwise], lambda ts: _common(ts) == e.type)
        return _Printed(f"{cond.at(2)} ? {then.text} : {otherwise.text}", 1, e.type)
    if isinstance(e, TCall):
        def ok(ts):
            t = _common(ts)
            return t is not None and not t.is_bool and at_least_float(t) == e.type
        args = _pick(list(e.args), ok)
        return _Printed(f"{e.fn}({', '.join(a.text for a in args)})", _ATOM, e.type)
    if isinstance(e, TConst | TCast):
        return _strict(e)
    raise TypeError(f"cannot print {e!r}")


def expr_source(e: TExpr, exact: bool = True) -> str:
    """TC source of `e`. With `exact`, the text has exactly type `e.type` (the right
    side of a statement whose target takes its type from it); otherwise any type that
    converts implicitly to it with the same value."""
    return (_strict(e) if exact else _loose(e)[0]).text


# Size expressions in `where` ranges ----------------------------------------------------


def size_source(s: SizeExpr) -> str:
    """A size expression in the syntax of `where` range bounds (`/` and `%` are floor
    division and modulo there)."""
    return _size(s)[0]


def _size(s: SizeExpr) -> tuple[str, int]:
    if isinstance(s, Const):
        return (str(s.value), 3) if s.value >= 0 else (f"-{-s.value}", 0)
    if isinstance(s, Sym):
        return s.name, 3
    if isinstance(s, BinOp):
        if s.op in ("min", "max"):
            return f"{s.op}({_size(s.lhs)[0]}, {_size(s.rhs)[0]})", 3
        if s.op == "ceildiv":
            b = s.rhs.as_constant()
            if b is not None and b > 0:
                return _size(BinOp("floordiv", BinOp("+", s.lhs, Const(b - 1)), s.rhs))
            return f"0 - (0 - {_paren(s.lhs, 2)}) / {_paren(s.rhs, 3)}", 1
        op, prec = {"+": ("+", 1), "-": ("-", 1), "*": ("*", 2), "floordiv": ("/", 2), "mod": ("%", 2)}[s.op]
        return f"{_paren(s.lhs, prec)} {op} {_paren(s.rhs, prec + 1)}", prec
    raise TypeError(f"cannot print the size {s!r}")


def _paren(s: SizeExpr, context: int) -> str:
    text, prec = _size(s)
    return f"({text})" if prec < context else text


# Statements and defs -------------------------------------------------------------------

Range = tuple[SizeExpr, SizeExpr]


@dataclass
class SourceStmt:
    """A statement of a def being written: its right side is a checked expression and
    its intended domain `ranges`; `explicit` names the ranges written as `where`
    clauses (`settle` adds more until the front end infers exactly `ranges`)."""

    target: str
    lhs: list[str]
    op: str  # "=", "+=", "+=!" ...
    rhs: TExpr
    ranges: dict[str, Range]
    explicit: set[str] = field(default_factory=set)
    exact: bool = True  # the right side's text has exactly its type (the target takes it)
    comment: str | None = None
    scatter: dict[int, TExpr] = field(default_factory=dict)  # as CheckedStmt.scatter

    def text(self) -> str:
        text = f"{write_source(self.target, self.lhs, self.scatter)} {self.op} {expr_source(self.rhs, self.exact)}"
        where = [f"{v} in {size_source(lo)}:{size_source(hi)}" for v, (lo, hi) in self.ranges.items()
                 if v in self.explicit]
        return text + (" where " + ", ".join(where) if where else "")


def write_source(target: str, lhs: list[str], scatter: dict[int, TExpr]) -> str:
    """The left side of a statement: `T(i, j)`, `T` for rank 0, and a scatter-add's
    computed subscripts (a rank-0 tensor read as one is `X()`: a bare name there is an
    index variable)."""
    subscripts = [f"{x.tensor}()" if isinstance(x, TRead) and not x.indices else expr_source(x)
                  for x in write_subscripts(lhs, scatter)]
    return f"{target}({', '.join(subscripts)})" if subscripts else target


def fresh_name(base: str, taken: set[str]) -> str:
    """`base`, or `base_2`, `base_3` ... the first not in `taken` (which then holds it)."""
    name, k = base, 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    taken.add(name)
    return name


def whole_tensor_statement(target: str, source: str, shape: list[SizeExpr], dtype: ScalarType, taken: set[str],
                           convert: ScalarType | None = None, comment: str | None = None) -> SourceStmt:
    """`target(i0, ...) = source(i0, ...)` over the whole of `shape` (the read of type
    `dtype` converted to `convert` if given), its index names clear of `taken`."""
    idx = [f"i{k}" for k in range(len(shape))]
    while set(idx) & taken:
        idx = ["_" + v for v in idx]
    read = TRead(dtype, source, tuple(TIndex(INT32, v) for v in idx))
    return SourceStmt(target, idx, "=", TCast(convert, read) if convert else read,
                      {v: (Const(0), n) for v, n in zip(idx, shape)}, comment=comment)


def statement_op(kind: str, init: bool) -> str:
    """The assignment operator of a checked statement's `kind` and `init`."""
    return "=" if kind == "=" else f"{kind}=" + ("!" if init else "")


def parameter_source(t: TensorInfo) -> str:
    """A parameter or typed output of a signature: `float(M, N) A`, `float alpha`."""
    if t.role == "scalar":
        return f"{t.dtype.name} {t.name}"
    return f"{t.dtype.name}({', '.join(str(s) for s in t.shape or [])}) {t.name}"


def source_statements(stmts: list[CheckedStmt], rhs=None) -> list[SourceStmt]:
    """Checked statements to be written back, each right side through `rhs` if given."""
    return [SourceStmt(s.target, list(s.lhs), statement_op(s.kind, s.init), rhs(s.rhs) if rhs else s.rhs,
                       dict(s.ranges), set(s.explicit), scatter=dict(s.scatter)) for s in stmts]


def result_source(d: CheckedDef, name: str, dtype: ScalarType) -> str:
    """An output in a signature: its name (its statements give it its type and shape),
    or typed (`float O`, `float(N) O`) where that is not so: a statement reads it before
    any statement writes it (`O = O`), or its first write covers less than its declared
    shape (`float(N) O` first written where `i` only reaches `min(N, M)`); only a shape
    written with sizes alone can be declared."""
    t = d.tensors[name]
    first = next((i for i, s in enumerate(d.stmts) if s.target == name), None)
    early = first is None or any(r.tensor == name for s in d.stmts[:first + 1] for r in reads(s.rhs))
    short = first is not None and [str(d.stmts[first].ranges[v][1]) for v in d.stmts[first].lhs] != [
        str(dim) for dim in t.shape or []]
    if not (early or short) or not all(dim.as_constant() is not None or isinstance(dim, Sym) for dim in t.shape or []):
        return name
    return parameter_source(TensorInfo(name, dtype, t.shape, "output", t.loc)) if t.shape else f"{dtype.name} {name}"


def header_source(name: str, params: list[str], results: list[str]) -> str:
    return f"def {name}({', '.join(params)})\n    -> ({', '.join(results)}) {{"


def render(header: str, sections: list[tuple[str | None, list[SourceStmt]]]) -> tuple[str, dict[int, SourceStmt]]:
    """The text of a def (`header`, then each section's comment and statements) and the
    statement printed on each line."""
    lines = header.split("\n")
    at: dict[int, SourceStmt] = {}
    for comment, stmts in sections:
        if comment and stmts:
            lines.append(f"    # {comment}")
        for s in stmts:
            if s.comment:
                lines.append(f"    # {s.comment}")
            lines.append("    " + s.text())
            at[len(lines)] = s
    lines.append("}")
    return "\n".join(lines) + "\n", at


def same_range(a: Range, b: Range) -> bool:
    return str(a[0]) == str(b[0]) and str(a[1]) == str(b[1])


def settle(header: str, sections: list[tuple[str | None, list[SourceStmt]]], name: str,
           filename: str) -> tuple[str, CheckedDef]:
    """Add `where` ranges until every statement checks with its intended domain; the
    text and its checked def."""

    stmts = [s for _, section in sections for s in section]
    for _ in range(4 * len(stmts) + 4):
        text, at = render(header, sections)
        changed = False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                program = check_source(text, filename)
            except TcError as err:
                s = at.get(err.loc.line) if err.loc else None
                if s is None or s.explicit >= set(s.ranges):
                    raise TcError(f"internal error: the generated def does not check: {err}\n{text}") from None
                s.explicit |= set(s.ranges)
                continue
        for w in caught:
            if issubclass(w.category, TcWarning) and getattr(w.message, "loc", None) is not None:
                s = at.get(w.message.loc.line)
                if s is not None and not s.explicit >= set(s.ranges):
                    s.explicit |= set(s.ranges)
                    changed = True
        checked = program.defs[name]
        for s, cs in zip(stmts, checked.stmts):
            for v, rng in s.ranges.items():
                if v not in s.explicit and (v not in cs.ranges or not same_range(cs.ranges[v], rng)):
                    s.explicit.add(v)
                    changed = True
        if not changed:
            return text, checked
    raise TcError(f"internal error: the ranges of the generated def do not settle\n{text}")
