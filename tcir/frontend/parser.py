"""Recursive-descent parser for TC (grammar in docs/language.md).

Expressions use precedence climbing so that one nesting level costs few Python frames;
the tree depth is bounded (`MAX_DEPTH`) so that later recursive phases never exhaust
the stack: a deeper expression is a located error, not a RecursionError.
"""

from __future__ import annotations

import difflib
import sys
from typing import Callable

from ..errors import Location, TcError
from ..sizeexpr import INT64_MAX
from . import ast
from .lexer import Lexer, Token
from .format_names import lookup_type, type_names
from .types import TYPE_NAMES

MAX_DEPTH = 200


def did_you_mean(name: str, candidates, what: str = "") -> str:
    """`; did you mean `x`?` for the closest candidate to a misspelt `name`, or ""."""
    close = difflib.get_close_matches(name, [c for c in candidates if c != name], n=1, cutoff=0.6)
    return f"; did you mean {what + ' ' if what else ''}`{close[0]}`?" if close else ""


# Binary operators by precedence level, lowest first (`?:` is handled separately).
_BINARY_LEVELS: list[tuple[str, ...]] = [
    ("||",),
    ("&&",),
    (">", "<", "<=", ">=", "==", "!="),
    ("+", "-"),
    ("*", "/", "%"),
]
_PRECEDENCE = {op: level + 1 for level, ops in enumerate(_BINARY_LEVELS) for op in ops}
_ASSIGN_OPS = {"=", "+=", "*=", "min=", "max="}


class Parser:
    def __init__(self, source: str, filename: str = "<string>"):
        self.lexer = Lexer(source, filename)
        self._tokens = self.lexer.tokens()
        self.tok: Token = next(self._tokens)
        self._depth: dict[int, int] = {}
        self._nesting = 0

    # Token helpers -------------------------------------------------------------------

    def advance(self) -> Token:
        tok = self.tok
        if tok.kind != "eof":
            self.tok = next(self._tokens)
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        return self.tok.kind == kind and (text is None or self.tok.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        return self.advance() if self.at(kind, text) else None

    def expect(self, kind: str, what: str) -> Token:
        if self.tok.kind != kind:
            self.error(f"expected {what}, found {self.describe(self.tok)}")
        return self.advance()

    def expect_keyword(self, word: str) -> Token:
        if not self.at("ident", word):
            self.error(f"expected `{word}`, found {self.describe(self.tok)}")
        return self.advance()

    @staticmethod
    def describe(tok: Token) -> str:
        if tok.kind == "eof":
            return "end of input"
        text = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
        return f"`{text}`"

    def int_value(self, tok: Token) -> int:
        # Sizes and bounds are int64 in the generated code (and Python refuses int() of
        # more than 4300 digits).
        if len(tok.text) > 40 or int(tok.text) > INT64_MAX:
            self.error(f"integer literal {self.describe(tok)} is too large (more than int64's {INT64_MAX})",
                       tok.loc)
        return int(tok.text)

    def error(self, message: str, loc: Location | None = None) -> None:
        raise TcError(message, loc or self.tok.loc)

    def comma_list(self, item: Callable[[], object], close: str) -> list:
        """Items separated by commas up to the `close` token (consumed)."""
        items = []
        if not self.accept(close):
            items.append(item())
            while self.accept(","):
                items.append(item())
            if not self.accept(close):
                self.error(f"expected `,` or `{close}`, found {self.describe(self.tok)}")
        return items

    # Program structure ---------------------------------------------------------------

    def parse_program(self) -> ast.Program:
        start = self.tok.loc
        defs = []
        while not self.at("eof"):
            defs.append(self.parse_def())
        if not defs:
            self.error("no `def` in the source; a TC program is one or more `def NAME(...) -> (...) { ... }`", start)
        return ast.Program(start, defs, self.lexer.source)

    def parse_def(self) -> ast.Def:
        loc = self.expect_keyword("def").loc
        name = self.expect("ident", "the name of the def").text
        self.expect("(", "`(` to open the parameter list")
        params = self.comma_list(self.parse_param, ")")
        self.expect("->", "`->` before the outputs")
        self.expect("(", "`(` to open the output list")
        outputs = self.comma_list(self.parse_output, ")")
        self.expect("{", "`{` to open the body")
        stmts = []
        while not self.accept("}"):
            if self.at("eof"):
                self.error(f"unterminated body of `{name}`: expected `}}`")
            if self.accept(";"):
                continue
            stmts.append(self.parse_stmt())
        return ast.Def(loc, name, params, outputs, stmts)

    def parse_type(self):
        tok = self.expect("ident", "a type such as `float` or `int32`")
        return self.type_named(tok, f"; expected one of {', '.join(TYPE_NAMES)}, or a number format "
                                    "registered with tcir.lowp (float8_e4m3fn, int4 ...)")

    def type_named(self, tok: Token, expected: str = ""):
        """The type `tok` names: a builtin type or a format registered in tcir.lowp."""
        t = lookup_type(tok.text)
        if t is None:
            hint = did_you_mean(tok.text, type_names()).removeprefix("; ")
            self.error(f"unknown type `{tok.text}`{f' ({hint})' if hint else ''}{expected}", tok.loc)
        return t

    def parse_dim(self) -> ast.Dim:
        tok = self.tok
        if self.accept("int"):
            return ast.Dim(tok.loc, None, self.int_value(tok))
        if self.accept("ident"):
            return ast.Dim(tok.loc, tok.text, None)
        self.error(f"expected a size name or an integer, found {self.describe(tok)}")

    def parse_dims(self) -> list[ast.Dim]:
        return self.comma_list(self.parse_dim, ")") if self.accept("(") else []

    def parse_param(self) -> ast.Param:
        loc = self.tok.loc
        type_ = self.parse_type()
        dims = self.parse_dims()
        name = self.expect("ident", "a parameter name")
        return ast.Param(loc, name.text, type_, dims)

    def parse_output(self) -> ast.Output:
        first = self.expect("ident", "an output name or type")
        if self.at("ident") or self.at("("):
            type_ = self.type_named(first)
            dims = self.parse_dims()
            name = self.expect("ident", "an output name")
            return ast.Output(first.loc, name.text, type_, dims)
        return ast.Output(first.loc, first.text, None, None)

    def parse_stmt(self) -> ast.Stmt:
        target = self.expect("ident", "a statement (`NAME(indices) = expression`)")
        indices = []
        if self.accept("("):
            indices = self.comma_list(self.parse_lhs_subscript, ")")
        op_tok = self.tok
        if op_tok.kind == "assign" or op_tok.kind == "=":
            self.advance()
        else:
            self.error(f"expected an assignment (`=`, `+=`, `+=!`, `max=!` ...), found {self.describe(op_tok)}")
        op = op_tok.text.rstrip("!")
        rhs = self.parse_expr()
        equivalent = None
        eq_tok = self.accept("<=>")
        if eq_tok:
            name = self.expect("ident", "the name of an operation after `<=>`, as in `<=> matmul(A(i, k), B(k, j))`")
            self.expect("(", f"`(` after `<=> {name.text}`")
            equivalent = ast.Equivalent(eq_tok.loc, name.text, self.comma_list(self.parse_expr, ")"))
        clauses = []
        if self.accept("ident", "where"):
            clauses.append(self.parse_clause())
            while self.accept(","):
                clauses.append(self.parse_clause())
        return ast.Stmt(target.loc, target.text, indices, op, op_tok.text.endswith("!"), rhs, clauses, equivalent)

    def parse_lhs_subscript(self) -> ast.IndexName | ast.Expr:
        """An index variable, or any expression (semantic analysis accepts only an
        indirect subscript there, `T(I(b), d) += ...`)."""
        e = self.parse_expr()
        return ast.IndexName(e.loc, e.name) if isinstance(e, ast.Ident) else e

    def parse_clause(self) -> ast.Clause:
        loc = self.tok.loc
        if self.accept("ident", "exists"):
            return ast.ExistsClause(loc, self.parse_expr())
        name = self.expect("ident", "`exists`, a range `i in lo:hi` or a binding `x = expr`").text
        if self.accept("ident", "in"):
            lo = self.parse_expr()
            self.expect(":", "`:` between the bounds of the range")
            hi = self.parse_expr()
            return ast.RangeClause(loc, name, lo, hi)
        if self.accept("="):
            return ast.LetClause(loc, name, self.parse_expr())
        self.error(f"expected `in` or `=` after `{name}` in a where clause, found {self.describe(self.tok)}")

    # Expressions ---------------------------------------------------------------------

    def _node(self, node: ast.Expr, *children: ast.Expr) -> ast.Expr:
        depth = 1 + max((self._depth.get(id(c), 1) for c in children), default=0)
        if depth > MAX_DEPTH:
            self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels); "
                       "split it with a `where` binding or a temporary", node.loc)
        self._depth[id(node)] = depth
        return node

    def parse_expr(self) -> ast.Expr:
        cond = self.parse_binary(1)
        if not self.at("?"):
            return cond
        self.advance()
        # `a ? b : c ? ...` recurses here without passing parse_unary: bound it too.
        self._nesting += 1
        try:
            if self._nesting > MAX_DEPTH:
                self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
            then = self.parse_expr()
            self.expect(":", "`:` in the conditional expression")
            otherwise = self.parse_expr()
        finally:
            self._nesting -= 1
        return self._node(ast.Ternary(cond.loc, cond, then, otherwise), cond, then, otherwise)

    def parse_binary(self, min_prec: int) -> ast.Expr:
        lhs = self.parse_unary()
        while True:
            op = self.tok.kind
            prec = _PRECEDENCE.get(op)
            if prec is None or prec < min_prec:
                return lhs
            self.advance()
            rhs = self.parse_binary(prec + 1)
            lhs = self._node(ast.Binary(lhs.loc, op, lhs, rhs), lhs, rhs)

    def parse_unary(self) -> ast.Expr:
        # Every recursion of the expression grammar passes here: bound it before the stack.
        self._nesting += 1
        try:
            if self._nesting > MAX_DEPTH:
                self.error(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
            tok = self.tok
            if self.accept("-") or self.accept("!"):
                operand = self.parse_unary()
                return self._node(ast.Unary(tok.loc, tok.text, operand), operand)
            return self.parse_primary()
        finally:
            self._nesting -= 1

    def parse_primary(self) -> ast.Expr:
        tok = self.advance()
        if tok.kind == "int":
            return self._node(ast.IntLit(tok.loc, self.int_value(tok)))
        if tok.kind == "float":
            return self._node(ast.FloatLit(tok.loc, float(tok.text), tok.text))
        if tok.kind == "(":
            inner = self.parse_expr()
            self.expect(")", "`)` to close the parenthesis")
            return inner
        if tok.kind == "ident":
            if tok.text in ("where", "def", "exists", "in"):
                self.error(f"expected an expression, found the keyword `{tok.text}`", tok.loc)
            if self.accept("("):
                args = self.comma_list(self.parse_expr, ")")
                return self._node(ast.Apply(tok.loc, tok.text, args, tok.loc), *args)
            return self._node(ast.Ident(tok.loc, tok.text))
        self.error(f"expected an expression, found {self.describe(tok)}", tok.loc)


def parse(source: str, filename: str = "<string>") -> ast.Program:
    """Parse TC source into an AST; raises TcError on any malformed input."""
    if not isinstance(source, str):
        raise TcError(f"TC source must be a string, not {type(source).__name__}")
    # Each of the MAX_DEPTH levels costs a few frames: more than the default limit.
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20000))
    try:
        return Parser(source, filename).parse_program()
    finally:
        sys.setrecursionlimit(old)
