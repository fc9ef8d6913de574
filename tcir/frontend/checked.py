"""The checked program: names resolved, every expression typed, ranges inferred.

This is what semantic analysis hands to IR generation and to the NumPy reference
evaluator. Implicit conversions are explicit `TCast` nodes, so consumers never apply
promotion rules themselves; literals are folded to the type they are used at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location
from ..sizeexpr import SizeExpr
from .types import INT32, ScalarType

# Typed expressions ------------------------------------------------------------------


@dataclass(frozen=True)
class TExpr:
    type: ScalarType


@dataclass(frozen=True)
class TConst(TExpr):
    value: int | float | bool


@dataclass(frozen=True)
class TIndex(TExpr):
    """An index variable used as a value (int32)."""

    name: str


@dataclass(frozen=True)
class TSize(TExpr):
    """A size used as a value (int32)."""

    name: str


@dataclass(frozen=True)
class TScalar(TExpr):
    """A scalar (rank-0) parameter."""

    name: str


@dataclass(frozen=True)
class TRead(TExpr):
    tensor: str
    indices: tuple[TExpr, ...]


@dataclass(frozen=True)
class TUnary(TExpr):
    op: str  # "-" or "!"
    operand: TExpr


@dataclass(frozen=True)
class TBinary(TExpr):
    # + - * / % (arithmetic), < > <= >= == != (comparison), && ||, min, max.
    op: str
    lhs: TExpr
    rhs: TExpr


@dataclass(frozen=True)
class TSelect(TExpr):
    """`cond ? then : otherwise`: only the chosen branch is evaluated."""

    cond: TExpr
    then: TExpr
    otherwise: TExpr


@dataclass(frozen=True)
class TCall(TExpr):
    """A builtin math function; arguments are already of the result type."""

    fn: str
    args: tuple[TExpr, ...]


@dataclass(frozen=True)
class TCast(TExpr):
    operand: TExpr


COMPARISONS = ("<", ">", "<=", ">=", "==", "!=")


def index_value(name: str) -> TIndex:
    return TIndex(INT32, name)


def write_dims(lhs: list[str], scatter: dict[int, TExpr]) -> list[str | None]:
    """Per target dimension, its left-side index variable (`lhs` in order), or None where
    a scatter-add's computed subscript stands."""
    direct = iter(lhs)
    return [None if k in scatter else next(direct) for k in range(len(lhs) + len(scatter))]


def write_subscripts(lhs: list[str], scatter: dict[int, TExpr]) -> list[TExpr]:
    """A target's subscripts, one per dimension: the left-side index variables and the
    computed subscripts of a scatter-add."""
    return [scatter[k] if v is None else index_value(v) for k, v in enumerate(write_dims(lhs, scatter))]


def children(e: TExpr) -> tuple[TExpr, ...]:
    """The direct sub-expressions of a typed expression."""
    if isinstance(e, TRead):
        return e.indices
    if isinstance(e, TUnary | TCast):
        return (e.operand,)
    if isinstance(e, TBinary):
        return (e.lhs, e.rhs)
    if isinstance(e, TSelect):
        return (e.cond, e.then, e.otherwise)
    if isinstance(e, TCall):
        return e.args
    return ()


def nodes(e: TExpr):
    """`e` and every expression inside it, outermost first."""
    yield e
    for c in children(e):
        yield from nodes(c)


def reads(e: TExpr) -> list[TRead]:
    """Every tensor read in `e`, outermost first (the reads inside a subscript too)."""
    return [x for x in nodes(e) if isinstance(x, TRead)]


def rebuild(e: TExpr, f) -> TExpr:
    """`e` rebuilt bottom-up, each node `x` replaced by `f(x)` (or kept where `f`
    returns None)."""
    if isinstance(e, TRead):
        e = TRead(e.type, e.tensor, tuple(rebuild(i, f) for i in e.indices))
    elif isinstance(e, TUnary):
        e = TUnary(e.type, e.op, rebuild(e.operand, f))
    elif isinstance(e, TCast):
        e = TCast(e.type, rebuild(e.operand, f))
    elif isinstance(e, TBinary):
        e = TBinary(e.type, e.op, rebuild(e.lhs, f), rebuild(e.rhs, f))
    elif isinstance(e, TSelect):
        e = TSelect(e.type, rebuild(e.cond, f), rebuild(e.then, f), rebuild(e.otherwise, f))
    elif isinstance(e, TCall):
        e = TCall(e.type, e.fn, tuple(rebuild(a, f) for a in e.args))
    r = f(e)
    return e if r is None else r


# Definitions ------------------------------------------------------------------------


@dataclass
class TensorInfo:
    name: str
    dtype: ScalarType
    shape: list[SizeExpr] | None  # None for an output or temporary not yet written
    role: str  # "input", "scalar", "output" or "temporary"
    loc: Location

    @property
    def rank(self) -> int:
        return len(self.shape) if self.shape is not None else 0


@dataclass
class CheckedStmt:
    target: str
    lhs: list[str]  # the output index variables, in subscript order
    kind: str  # "=", "+", "*", "min" or "max"
    init: bool  # first set the target to the identity of `kind` over the domain
    iterators: list[str]  # lhs variables, then reduction variables
    ranges: dict[str, tuple[SizeExpr, SizeExpr]]  # half-open [lo, hi)
    rhs: TExpr  # of the target's element type
    loc: Location
    explicit: frozenset[str] = frozenset()  # variables ranged by `where v in lo:hi`
    # A scatter-add (`T(I(b), d) += ...`): target dimension -> its indirect subscript, an
    # integer expression; `lhs` then lists the index variables of the other dimensions.
    scatter: dict[int, TExpr] = field(default_factory=dict)

    @property
    def reduction_vars(self) -> list[str]:
        return [v for v in self.iterators if v not in self.lhs]

    def write_subscripts(self) -> list[TExpr]:
        return write_subscripts(self.lhs, self.scatter)


@dataclass
class CheckedDef:
    name: str
    inputs: list[TensorInfo]  # in signature order, scalars included
    outputs: list[TensorInfo]
    temporaries: list[TensorInfo]
    sizes: list[str]  # symbolic sizes in order of first appearance among the inputs
    stmts: list[CheckedStmt]
    loc: Location
    tensors: dict[str, TensorInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for t in self.inputs + self.outputs + self.temporaries:
            self.tensors[t.name] = t


@dataclass
class CheckedProgram:
    defs: dict[str, CheckedDef]
    source: str
    filename: str


# Printing ---------------------------------------------------------------------------

_PRECEDENCE = {"||": 2, "&&": 3, **{op: 4 for op in COMPARISONS}, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}


def expr_text(e: TExpr, context: int = 0) -> str:
    """`e` in TC syntax, for messages (implicit conversions are not shown)."""
    if isinstance(e, TConst):
        if isinstance(e.value, bool):
            return "true" if e.value else "false"
        text = repr(e.value) if isinstance(e.value, float) else str(e.value)
        return f"({text})" if text.startswith("-") and context > 0 else text
    if isinstance(e, TIndex | TSize | TScalar):
        return e.name
    if isinstance(e, TRead):
        return f"{e.tensor}({', '.join(expr_text(i) for i in e.indices)})" if e.indices else e.tensor
    if isinstance(e, TCast):
        return expr_text(e.operand, context)
    if isinstance(e, TCall):
        return f"{e.fn}({', '.join(expr_text(a) for a in e.args)})"
    if isinstance(e, TUnary):
        text = f"{e.op}{expr_text(e.operand, 7)}"
        return f"({text})" if context > 7 else text
    if isinstance(e, TBinary):
        if e.op in ("min", "max"):
            return f"{e.op}({expr_text(e.lhs)}, {expr_text(e.rhs)})"
        prec = _PRECEDENCE[e.op]
        text = f"{expr_text(e.lhs, prec)} {e.op} {expr_text(e.rhs, prec + 1)}"
        return f"({text})" if context > prec else text
    if isinstance(e, TSelect):
        text = f"{expr_text(e.cond, 1)} ? {expr_text(e.then)} : {expr_text(e.otherwise)}"
        return f"({text})" if context > 0 else text
    return "..."
