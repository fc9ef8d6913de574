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

    @property
    def reduction_vars(self) -> list[str]:
        return [v for v in self.iterators if v not in self.lhs]


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
