"""The syntax tree the parser produces, before any name resolution or typing.

Every node carries the location of its first token so that later phases can report
errors exactly where the user wrote the construct.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location
from .types import ScalarType


@dataclass
class Node:
    loc: Location = field(compare=False, repr=False)


# Expressions ------------------------------------------------------------------------


@dataclass
class Expr(Node):
    pass


@dataclass
class IntLit(Expr):
    value: int


@dataclass
class FloatLit(Expr):
    value: float
    text: str


@dataclass
class Ident(Expr):
    """A bare name: an index variable, a size, a scalar parameter, a let or a rank-0 tensor."""

    name: str


@dataclass
class Apply(Expr):
    """`name(args)`: a tensor read, a builtin call, `min`/`max` or a cast."""

    name: str
    args: list[Expr]
    name_loc: Location = field(compare=False, repr=False)


@dataclass
class Unary(Expr):
    op: str  # "-" or "!"
    operand: Expr


@dataclass
class Binary(Expr):
    op: str  # + - * / % < > <= >= == != && ||
    lhs: Expr
    rhs: Expr


@dataclass
class Ternary(Expr):
    cond: Expr
    then: Expr
    otherwise: Expr


# Statements -------------------------------------------------------------------------


@dataclass
class RangeClause(Node):
    var: str
    lo: Expr
    hi: Expr


@dataclass
class LetClause(Node):
    name: str
    value: Expr


@dataclass
class ExistsClause(Node):
    expr: Expr


Clause = RangeClause | LetClause | ExistsClause


@dataclass
class IndexName(Node):
    name: str


@dataclass
class Equivalent(Node):
    """`<=> name(args)` after a statement's right side: an annotation of the original
    TC grammar naming an equivalent library operation (`<=> matmul(A(i, k), B(k, j))`)."""

    name: str
    args: list[Expr]


@dataclass
class Stmt(Node):
    target: str
    # An index variable, or an indirect subscript (`T(I(b), d) += ...`: a scatter-add).
    indices: list[IndexName | Expr]
    op: str  # "=", "+=", "*=", "min=", "max=" (without the `!`)
    init: bool  # the `!` forms
    rhs: Expr
    clauses: list[Clause]
    equivalent: Equivalent | None = None


# Definitions ------------------------------------------------------------------------


@dataclass
class Dim(Node):
    """A size in a signature: a symbolic name or a literal extent."""

    name: str | None
    value: int | None

    def __str__(self) -> str:
        return self.name if self.name is not None else str(self.value)


@dataclass
class Param(Node):
    name: str
    type: ScalarType
    dims: list[Dim]  # empty for a scalar (rank-0) parameter


@dataclass
class Output(Node):
    name: str
    type: ScalarType | None  # None when inferred
    dims: list[Dim] | None  # None when inferred


@dataclass
class Def(Node):
    name: str
    params: list[Param]
    outputs: list[Output]
    stmts: list[Stmt]


@dataclass
class Program(Node):
    defs: list[Def]
    source: str = field(default="", repr=False)
