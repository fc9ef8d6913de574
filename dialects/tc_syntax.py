"""Parsing and printing helpers of the ``tc`` dialect's custom syntax.

Size expressions (``(H - 2) floordiv 2 + 1``, ``min(M, N)``) and affine subscripts
(``2 * %h + %r_kh``) share one infix grammar: ``* floordiv ceildiv mod`` bind tighter
than ``+ -``, all operators are left-associative, and primaries are integers,
parenthesized expressions, unary minus and a leaf given by the caller (a size name or
``min``/``max`` call, or an SSA value name).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Generic, TypeVar

from xdsl.ir import BlockArgument, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)
from xdsl.parser import Parser, UnresolvedOperand
from xdsl.parser.base_parser import BaseParser
from xdsl.printer import Printer

from tcir.sizeexpr import SizeExpr, binary, const, sym

SIZE_NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
"""TC identifiers, the names of sizes."""

_E = TypeVar("_E")

# Operators by binding strength, weakest first; all are left-associative.
_OPERATOR_LEVELS: tuple[tuple[str, ...], ...] = (
    ("+", "-"),
    ("*", "floordiv", "ceildiv", "mod"),
)


def _parse_optional_operator(parser: BaseParser, level: tuple[str, ...]) -> str | None:
    for punctuation in ("+", "-", "*"):
        if punctuation in level and parser.parse_optional_punctuation(punctuation):
            return punctuation
    return parser.parse_optional_keyword_in(level)


@dataclass(frozen=True)
class _InfixSyntax(Generic[_E]):
    """Precedence climbing over xDSL tokens; leaves come from a callback."""

    what: str
    constant: Callable[[int], _E]
    combine: Callable[[str, _E, _E], _E]

    def parse(self, parser: BaseParser, parse_leaf: Callable[[], _E | None], level: int = 0) -> _E:
        if level == len(_OPERATOR_LEVELS):
            return self._parse_primary(parser, parse_leaf)
        lhs = self.parse(parser, parse_leaf, level + 1)
        while (op := _parse_optional_operator(parser, _OPERATOR_LEVELS[level])) is not None:
            lhs = self._combine(parser, op, lhs, self.parse(parser, parse_leaf, level + 1))
        return lhs

    def _parse_primary(self, parser: BaseParser, parse_leaf: Callable[[], _E | None]) -> _E:
        if parser.parse_optional_punctuation("(") is not None:
            expr = self.parse(parser, parse_leaf)
            parser.parse_punctuation(")", f" to close a parenthesized {self.what}")
            return expr
        if parser.parse_optional_punctuation("-") is not None:
            operand = self._parse_primary(parser, parse_leaf)
            return self._combine(parser, "-", self.constant(0), operand)
        value = parser.parse_optional_integer(allow_boolean=False, allow_negative=False)
        if value is not None:
            return self.constant(value)
        if (leaf := parse_leaf()) is not None:
            return leaf
        parser.raise_error(f"expected a {self.what}")

    def _combine(self, parser: BaseParser, op: str, lhs: _E, rhs: _E) -> _E:
        # Constant folding divides by zero; affine exprs refuse non-constant factors.
        try:
            return self.combine(op, lhs, rhs)
        except (ArithmeticError, NotImplementedError) as error:
            parser.raise_error(f"invalid {self.what} `{op}`: {error}")


_SIZE_SYNTAX = _InfixSyntax[SizeExpr]("size expression", const, binary)

_AFFINE_OPERATORS: dict[str, Callable[[AffineExpr, AffineExpr], AffineExpr]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "floordiv": operator.floordiv,
    "ceildiv": AffineExpr.ceil_div,
    "mod": operator.mod,
}
_AFFINE_SYNTAX = _InfixSyntax[AffineExpr](
    "affine subscript",
    AffineExpr.constant,
    lambda op, lhs, rhs: _AFFINE_OPERATORS[op](lhs, rhs),
)


def parse_size_expr(parser: BaseParser) -> SizeExpr:
    """Parse a size expression as ``str(SizeExpr)`` prints it."""
    return _SIZE_SYNTAX.parse(parser, lambda: _parse_size_leaf(parser))


def _parse_size_leaf(parser: BaseParser) -> SizeExpr | None:
    start = parser.pos
    name = parser.parse_optional_identifier()
    if name is None:
        return None
    # xDSL's bare identifiers also allow `.` and `$`, TC's do not.
    if not SIZE_NAME.fullmatch(name):
        parser.raise_error(f"size name `{name}` is not a TC identifier", start, parser.pos)
    # `min`/`max` are calls only when followed by `(`, so sizes may still use the names.
    if name in ("min", "max") and parser.parse_optional_punctuation("("):
        lhs = parse_size_expr(parser)
        parser.parse_punctuation(",", f" between the operands of {name}")
        rhs = parse_size_expr(parser)
        parser.parse_punctuation(")", f" to close {name}(...)")
        return binary(name, lhs, rhs)
    return sym(name)


_AFFINE_PRECEDENCE = {
    AffineBinaryOpKind.Add: 1,
    AffineBinaryOpKind.Mul: 2,
    AffineBinaryOpKind.FloorDiv: 2,
    AffineBinaryOpKind.CeilDiv: 2,
    AffineBinaryOpKind.Mod: 2,
}
_PRIMARY = 3


def print_affine_expr(
    printer: Printer, expr: AffineExpr, values: Sequence[SSAValue | str], min_prec: int = 0
) -> None:
    """Print ``expr`` with ``d<i>`` shown as ``values[i]`` (a value, or text as is).

    A right operand of equal precedence is parenthesized, so that the left-associative
    parser rebuilds exactly the same tree. ``a + b * -1`` prints as ``a - b`` and
    ``b * -1`` as ``-b``, which the parser turns back into the same trees.
    """
    match expr:
        case AffineConstantExpr(value=value):
            printer.print_string(str(value))
        case AffineDimExpr(position=position) if isinstance(values[position], str):
            printer.print_string(values[position])
        case AffineDimExpr(position=position):
            printer.print_ssa_value(values[position])
        case AffineBinaryOpExpr(
            kind=AffineBinaryOpKind.Mul, lhs=lhs, rhs=AffineConstantExpr(value=-1)
        ):
            printer.print_string("-")
            print_affine_expr(printer, lhs, values, _PRIMARY)
        case AffineBinaryOpExpr(kind=AffineBinaryOpKind.Add, lhs=lhs, rhs=rhs) if (
            negated := _negated(rhs)
        ) is not None:
            _print_binary(printer, lhs, "-", negated, 1, values, min_prec)
        case AffineBinaryOpExpr(kind=kind, lhs=lhs, rhs=rhs):
            prec = _AFFINE_PRECEDENCE[kind]
            _print_binary(printer, lhs, kind.get_token(), rhs, prec, values, min_prec)
        case _:
            raise ValueError(f"tc subscripts have no symbols, got {expr}")


def _negated(expr: AffineExpr) -> AffineExpr | None:
    """``-expr`` if ``expr`` is a negative constant or has a negative factor, else None."""
    match expr:
        case AffineConstantExpr(value=value) if value < 0:
            return AffineExpr.constant(-value)
        case AffineBinaryOpExpr(
            kind=AffineBinaryOpKind.Mul, lhs=lhs, rhs=AffineConstantExpr(value=value)
        ) if value < 0:
            return lhs if value == -1 else lhs * -value
    return None


def _print_binary(
    printer: Printer,
    lhs: AffineExpr,
    token: str,
    rhs: AffineExpr,
    prec: int,
    values: Sequence[SSAValue],
    min_prec: int,
) -> None:
    with printer.in_parens() if prec < min_prec else nullcontext():
        print_affine_expr(printer, lhs, values, prec)
        printer.print_string(f" {token} ")
        print_affine_expr(printer, rhs, values, prec + 1)


def print_subscripts(printer: Printer, map: AffineMap, values: Sequence[SSAValue | str]) -> None:
    with printer.in_square_brackets():
        printer.print_list(map.results, lambda e: print_affine_expr(printer, e, values))


def parse_subscripts(
    parser: Parser,
    leaf: Callable[[UnresolvedOperand], AffineExpr],
    other_leaf: Callable[[], AffineExpr | None] = lambda: None,
) -> list[AffineExpr]:
    """Parse ``[e, ...]`` where ``leaf`` turns each ``%name`` into a dimension and
    ``other_leaf`` parses any other leaf it knows (None: not one)."""

    def parse_leaf() -> AffineExpr | None:
        operand = parser.parse_optional_unresolved_operand()
        return other_leaf() if operand is None else leaf(operand)

    return parser.parse_comma_separated_list(
        parser.Delimiter.SQUARE, lambda: _AFFINE_SYNTAX.parse(parser, parse_leaf)
    )


def first_use_order(map: AffineMap) -> list[int]:
    """Dimensions in order of first appearance in the printed subscripts."""
    order = dict.fromkeys(
        e.position for result in map.results for e in result.dfs() if isinstance(e, AffineDimExpr)
    )
    return list(order)


def parse_defined_operand(parser: Parser) -> SSAValue:
    """Parse a use of an already-defined value (the syntax omits its type)."""
    operand = parser.parse_unresolved_operand()
    values = parser.ssa_values.get(operand.operand_name, ())
    if operand.index >= len(values):
        parser.raise_error(f"%{operand.operand_name} must be defined before this use", operand.span)
    return values[operand.index]


def print_arguments(printer: Printer, args: Sequence[BlockArgument]) -> None:
    with printer.in_parens():
        printer.print_list(args, lambda arg: _print_argument(printer, arg))


def _print_argument(printer: Printer, arg: BlockArgument) -> None:
    printer.print_ssa_value(arg)
    printer.print_string(" : ")
    printer.print_attribute(arg.type)


# `!` right after `=` is not a token for xDSL's lexer (it starts a type alias name).
_INIT_MARK = "!"


def parse_assignment(parser: Parser) -> tuple[str, bool]:
    """Parse ``=``, ``+=``, ``*=``, ``min=``, ``max=``, each optionally followed by ``!``."""
    kind = (
        parser.parse_optional_punctuation("+")
        or parser.parse_optional_punctuation("*")
        or parser.parse_optional_keyword_in(("min", "max"))
        or "="
    )
    source, at = parser.lexer.input, parser.pos
    if source.at(at) == "=" and source.at(at + 1) == _INIT_MARK:
        # Consume `=!` by moving the lexer past it, before it lexes the lone `!`.
        parser._resume_from(at + 2)  # pyright: ignore[reportPrivateUsage]
        return kind, True
    parser.parse_punctuation("=", " in a tc.stmt assignment (=, +=, *=, min=, max=)")
    return kind, False


def assignment_text(kind: str, init: bool) -> str:
    return ("=" if kind == "=" else f"{kind}=") + (_INIT_MARK if init else "")
