"""Symbolic size expressions: extents and loop bounds written in terms of TC sizes.

Range inference produces bounds such as ``(H - 2) floordiv 2 + 1`` or ``min(M, N)``;
the ``tc`` dialect stores them in tensor types and statement domains, and lowering
evaluates them once the sizes are known. Division is always floor division (the
inference rules need floor semantics for negative intermediate values).

Expressions are immutable, hashable trees built with the helpers below, which fold
constants and drop neutral terms so that equal computations print equally::

    >>> h = (sym("H") - 2) // 2 + 1
    >>> str(h), h.evaluate({"H": 7})
    ('(H - 2) floordiv 2 + 1', 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Mapping, Union

# Sizes, extents, strides and the integer options are int64 in the generated code.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

SizeLike = Union["SizeExpr", int]


class SizeExpr:
    """Base class of size expressions; use ``const``/``sym`` and the operators."""

    # Binding strength for printing: larger binds tighter.
    precedence: ClassVar[int] = 100

    def evaluate(self, env: Mapping[str, int]) -> int:
        raise NotImplementedError

    def symbols(self) -> frozenset[str]:
        raise NotImplementedError

    def substitute(self, env: Mapping[str, SizeExpr]) -> SizeExpr:
        """Replace symbols by expressions (symbols missing from ``env`` stay)."""
        raise NotImplementedError

    # Operators fold constants through the ``_binary`` helper.
    def __add__(self, other: SizeLike) -> SizeExpr:
        return _binary("+", self, other)

    def __radd__(self, other: SizeLike) -> SizeExpr:
        return _binary("+", other, self)

    def __sub__(self, other: SizeLike) -> SizeExpr:
        return _binary("-", self, other)

    def __rsub__(self, other: SizeLike) -> SizeExpr:
        return _binary("-", other, self)

    def __mul__(self, other: SizeLike) -> SizeExpr:
        return _binary("*", self, other)

    def __rmul__(self, other: SizeLike) -> SizeExpr:
        return _binary("*", other, self)

    def __floordiv__(self, other: SizeLike) -> SizeExpr:
        return _binary("floordiv", self, other)

    def __rfloordiv__(self, other: SizeLike) -> SizeExpr:
        return _binary("floordiv", other, self)

    def __mod__(self, other: SizeLike) -> SizeExpr:
        return _binary("mod", self, other)

    def __neg__(self) -> SizeExpr:
        return _binary("-", Const(0), self)

    def as_constant(self) -> int | None:
        """The value if the expression has no symbols, else None."""
        return self.evaluate({}) if not self.symbols() else None


@dataclass(frozen=True)
class Const(SizeExpr):
    value: int

    def evaluate(self, env: Mapping[str, int]) -> int:
        return self.value

    def symbols(self) -> frozenset[str]:
        return frozenset()

    def substitute(self, env: Mapping[str, SizeExpr]) -> SizeExpr:
        return self

    def __str__(self) -> str:
        return str(self.value) if self.value >= 0 else f"({self.value})"


@dataclass(frozen=True)
class Sym(SizeExpr):
    name: str

    def evaluate(self, env: Mapping[str, int]) -> int:
        try:
            return env[self.name]
        except KeyError:
            raise KeyError(f"size `{self.name}` has no value") from None

    def symbols(self) -> frozenset[str]:
        return frozenset({self.name})

    def substitute(self, env: Mapping[str, SizeExpr]) -> SizeExpr:
        return env.get(self.name, self)

    def __str__(self) -> str:
        return self.name


def _floordiv(a: int, b: int) -> int:
    if b == 0:
        raise ZeroDivisionError("division by zero in a size expression")
    return a // b


def _ceildiv(a: int, b: int) -> int:
    return -_floordiv(-a, b)


def _mod(a: int, b: int) -> int:
    return a - b * _floordiv(a, b)


# operator -> (evaluation, printing precedence); "min"/"max" print as calls.
BINARY_OPS: dict[str, tuple[Callable[[int, int], int], int]] = {
    "+": (lambda a, b: a + b, 1),
    "-": (lambda a, b: a - b, 1),
    "*": (lambda a, b: a * b, 2),
    "floordiv": (_floordiv, 2),
    "ceildiv": (_ceildiv, 2),
    "mod": (_mod, 2),
    "min": (min, 100),
    "max": (max, 100),
}


@dataclass(frozen=True)
class BinOp(SizeExpr):
    op: str
    lhs: SizeExpr
    rhs: SizeExpr

    @property
    def precedence(self) -> int:  # type: ignore[override]
        return BINARY_OPS[self.op][1]

    def evaluate(self, env: Mapping[str, int]) -> int:
        return BINARY_OPS[self.op][0](self.lhs.evaluate(env), self.rhs.evaluate(env))

    def symbols(self) -> frozenset[str]:
        return self.lhs.symbols() | self.rhs.symbols()

    def substitute(self, env: Mapping[str, SizeExpr]) -> SizeExpr:
        return _binary(self.op, self.lhs.substitute(env), self.rhs.substitute(env))

    def __str__(self) -> str:
        if self.op in ("min", "max"):
            return f"{self.op}({self.lhs}, {self.rhs})"
        prec = self.precedence
        # Operators associate to the left: an operand on the right of equal precedence
        # keeps its parentheses, so that the text parses back to the same tree.
        left = _paren(self.lhs, self.lhs.precedence < prec)
        right = _paren(self.rhs, self.rhs.precedence <= prec)
        return f"{left} {self.op} {right}"


def _paren(e: SizeExpr, needed: bool) -> str:
    return f"({e})" if needed else str(e)


def const(value: int) -> SizeExpr:
    return Const(int(value))


def sym(name: str) -> SizeExpr:
    return Sym(name)


def _as_expr(x: SizeLike) -> SizeExpr:
    return x if isinstance(x, SizeExpr) else Const(int(x))


def _linear(e: SizeExpr) -> tuple[dict[SizeExpr, int], int]:
    """`e` as sum(coef * atom) + const, where atoms are symbols or non-linear terms."""
    if isinstance(e, Const):
        return {}, e.value
    if isinstance(e, BinOp) and e.op in ("+", "-"):
        (ta, ca), (tb, cb) = _linear(e.lhs), _linear(e.rhs)
        sign = 1 if e.op == "+" else -1
        terms = dict(ta)
        for atom, c in tb.items():
            terms[atom] = terms.get(atom, 0) + sign * c
        return {a: c for a, c in terms.items() if c}, ca + sign * cb
    if isinstance(e, BinOp) and e.op == "*" and isinstance(e.lhs, Const):
        terms, c = _linear(e.rhs)
        return {a: k * e.lhs.value for a, k in terms.items() if k * e.lhs.value}, c * e.lhs.value
    return {e: 1}, 0


def _from_linear(terms: dict[SizeExpr, int], constant: int) -> SizeExpr:
    """Canonical form: positive terms first, then negative ones, then the constant."""
    ordered = sorted(terms.items(), key=lambda item: item[1] < 0)
    out: SizeExpr | None = None
    for atom, c in ordered:
        term = atom if abs(c) == 1 else BinOp("*", Const(abs(c)), atom)
        if out is None:
            out = term if c > 0 else BinOp("-", Const(0), term)
        else:
            out = BinOp("+" if c > 0 else "-", out, term)
    if out is None:
        return Const(constant)
    if constant:
        out = BinOp("+" if constant > 0 else "-", out, Const(abs(constant)))
    return out


def _binary(op: str, a: SizeLike, b: SizeLike) -> SizeExpr:
    """Build ``a op b``, folding constants and keeping sums in a canonical linear form."""
    a, b = _as_expr(a), _as_expr(b)
    ca, cb = a.as_constant(), b.as_constant()
    if ca is not None and cb is not None:
        return Const(BINARY_OPS[op][0](ca, cb))
    if op in ("+", "-") or (op == "*" and (ca is not None or cb is not None)):
        if op == "*":
            factor, other = (ca, b) if ca is not None else (cb, a)
            return _from_linear(*_linear(BinOp("*", Const(factor), other)))
        return _from_linear(*_linear(BinOp(op, a, b)))
    if op in ("floordiv", "ceildiv") and cb == 1:
        return a
    if op in ("min", "max"):
        if a == b:
            return a
        for x, y in ((a, b), (b, a)):  # min(min(N, M), N) is min(N, M)
            if isinstance(x, BinOp) and x.op == op and y in (x.lhs, x.rhs):
                return x
    return BinOp(op, a, b)


def box_extremes(const: int, terms: Iterable[tuple[int, int, int]]) -> tuple[int, int]:
    """The least and greatest values of ``const + sum(c * x)``, each ``x`` ranging over
    its own ``[first, last]`` (terms ``(c, first, last)``): an affine subscript's
    extremes over a statement's box domain, what the bounds checks of the API
    (tcir/bounds.py) and of the tc lowering (passes/tc_lowering.py) compare with the
    extents."""
    low = high = const
    for c, first, last in terms:
        low += c * (first if c > 0 else last)
        high += c * (last if c > 0 else first)
    return low, high


def floordiv(a: SizeLike, b: SizeLike) -> SizeExpr:
    return _binary("floordiv", a, b)


def ceildiv(a: SizeLike, b: SizeLike) -> SizeExpr:
    return _binary("ceildiv", a, b)


def smin(a: SizeLike, b: SizeLike) -> SizeExpr:
    return _binary("min", a, b)


def smax(a: SizeLike, b: SizeLike) -> SizeExpr:
    return _binary("max", a, b)


def binary(op: str, a: SizeLike, b: SizeLike) -> SizeExpr:
    """Build ``a op b`` for any operator name of ``BINARY_OPS``."""
    if op not in BINARY_OPS:
        raise ValueError(f"unknown size operator `{op}`")
    return _binary(op, a, b)
