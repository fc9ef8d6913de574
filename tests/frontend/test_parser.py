"""The TC parser: program structure, statements, clauses, expressions and precedence.

The canonical examples of tc-language.md are kept here verbatim; each must parse and
pass semantic analysis.
"""

import pytest

from tcir.errors import TcError
from tcir.frontend import ast, check_source
from tcir.frontend.parser import MAX_DEPTH, parse
from tcir.frontend.types import BFLOAT16, DOUBLE, FLOAT, HALF, UINT8
from canonical import CANONICAL_SOURCES as CANONICAL  # the examples of tc-language.md



def show(e: ast.Expr) -> str:
    """A fully parenthesized rendering of an expression tree."""
    if isinstance(e, ast.IntLit):
        return str(e.value)
    if isinstance(e, ast.FloatLit):
        return e.text
    if isinstance(e, ast.Ident):
        return e.name
    if isinstance(e, ast.Apply):
        return f"{e.name}({', '.join(show(a) for a in e.args)})"
    if isinstance(e, ast.Unary):
        return f"({e.op}{show(e.operand)})"
    if isinstance(e, ast.Binary):
        return f"({show(e.lhs)} {e.op} {show(e.rhs)})"
    assert isinstance(e, ast.Ternary)
    return f"({show(e.cond)} ? {show(e.then)} : {show(e.otherwise)})"


def stmt_of(body: str, params: str = "float(N) A") -> ast.Stmt:
    program = parse(f"def f({params}) -> (O) {{\n{body}\n}}")
    (stmt,) = program.defs[0].stmts
    return stmt


def expr(text: str) -> str:
    return show(stmt_of(f"O(i) = {text}").rhs)


def parse_error(source: str) -> TcError:
    with pytest.raises(TcError) as info:
        parse(source, "p.tc")
    return info.value


# Canonical examples -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CANONICAL))
def test_canonical_example_parses_and_checks(name):
    program = check_source(CANONICAL[name], f"{name}.tc")
    assert list(program.defs) == [name]


def test_all_canonical_examples_in_one_source():
    program = check_source("\n".join(CANONICAL.values()), "all.tc")
    assert list(program.defs) == list(CANONICAL)


def test_matmul_ast():
    (d,) = parse(CANONICAL["matmul"]).defs
    assert d.name == "matmul"
    assert [(p.name, p.type, [str(x) for x in p.dims]) for p in d.params] == [
        ("A", FLOAT, ["M", "K"]), ("B", FLOAT, ["K", "N"])]
    assert [(o.name, o.type, o.dims) for o in d.outputs] == [("C", None, None)]
    (s,) = d.stmts
    assert (s.target, [i.name for i in s.indices], s.op, s.init) == ("C", ["m", "n"], "+=", True)
    assert show(s.rhs) == "(A(m, r_k) * B(r_k, n))"
    assert s.clauses == []


def test_statement_continues_on_a_line_starting_with_an_operator():
    (d,) = parse(CANONICAL["group_normalization"]).defs
    (s,) = d.stmts
    assert show(s.rhs) == ("(((gamma(g, d) * (I(n, g, d, h, w) - mean(n, g))) "
                           "* rsqrt((var(n, g) + 1e-5))) + beta(g, d))")


def test_statements_end_at_a_newline_that_cannot_continue_the_expression():
    (d,) = parse(CANONICAL["fcrelu"]).defs
    assert [show(s.rhs) for s in d.stmts] == [
        "(I(b, r_m) * W1(n, r_m))", "(O1(b, n) + B1(n))", "fmax(O1(b, n), 0)"]


# Signatures -------------------------------------------------------------------------


def test_scalar_params_and_literal_sizes():
    (d,) = parse("def f(float alpha, double(N, 4) A, uint8 k) -> (O) { O(i) = A(i, 0) }").defs
    assert [(p.name, p.type, [str(x) for x in p.dims]) for p in d.params] == [
        ("alpha", FLOAT, []), ("A", DOUBLE, ["N", "4"]), ("k", UINT8, [])]
    literal = d.params[1].dims[1]
    assert (literal.name, literal.value) == (None, 4)


def test_typed_outputs_including_rank_0():
    (d,) = parse("def f(float(N) A) -> (half(N, 3) O, float s, P, bfloat16() Q) { }").defs
    assert [(o.name, o.type, None if o.dims is None else [str(x) for x in o.dims])
            for o in d.outputs] == [("O", HALF, ["N", "3"]), ("s", FLOAT, []), ("P", None, None),
                                    ("Q", BFLOAT16, [])]


@pytest.mark.parametrize("alias, canonical", [
    ("float32", FLOAT), ("float64", DOUBLE), ("float16", HALF), ("half", HALF), ("bfloat16", BFLOAT16),
])
def test_type_aliases(alias, canonical):
    (d,) = parse(f"def f({alias}(N) A) -> () {{ }}").defs
    assert d.params[0].type == canonical


def test_empty_parameter_and_output_lists():
    (d,) = parse("def f() -> () { }").defs
    assert (d.params, d.outputs, d.stmts) == ([], [], [])


def test_several_defs_and_comments():
    src = """# leading comment
    def a(float(N) X) -> (Y) { Y(i) = X(i) } # after
    # between
    def b(float(N) X) -> (Y) {
        Y(i) = X(i) # trailing
        # alone
    }"""
    program = parse(src)
    assert [d.name for d in program.defs] == ["a", "b"]
    assert [len(d.stmts) for d in program.defs] == [1, 1]


def test_semicolons_separate_statements():
    (d,) = parse("def f(float(N) A) -> (O) { ; O(i) = A(i); O(i) = O(i) * 2;; }").defs
    assert len(d.stmts) == 2


# Statements -------------------------------------------------------------------------


@pytest.mark.parametrize("written, op, init", [
    ("=", "=", False), ("+=", "+=", False), ("*=", "*=", False), ("min=", "min=", False),
    ("max=", "max=", False), ("+=!", "+=", True), ("*=!", "*=", True), ("min=!", "min=", True),
    ("max=!", "max=", True),
])
def test_assignment_forms(written, op, init):
    s = stmt_of(f"O(i) {written} A(i)")
    assert (s.op, s.init) == (op, init)


def test_rank_0_target():
    s = stmt_of("s +=! A(i)")
    assert (s.target, s.indices) == ("s", [])


def test_where_clauses():
    s = stmt_of("O(i) +=! A(i + r) * x where r in 0:K - 1, x = A(i) * 2, exists A(i), i in 1:N")
    kinds = [type(c).__name__ for c in s.clauses]
    assert kinds == ["RangeClause", "LetClause", "ExistsClause", "RangeClause"]
    r, x, ex, i = s.clauses
    assert (r.var, show(r.lo), show(r.hi)) == ("r", "0", "(K - 1)")
    assert (x.name, show(x.value)) == ("x", "(A(i) * 2)")
    assert show(ex.expr) == "A(i)"
    assert (i.var, show(i.lo), show(i.hi)) == ("i", "1", "N")


# Expressions and precedence ---------------------------------------------------------


@pytest.mark.parametrize("text, tree", [
    ("a + b * c", "(a + (b * c))"),
    ("a * b + c", "((a * b) + c)"),
    ("a - b - c", "((a - b) - c)"),
    ("a / b % c * d", "(((a / b) % c) * d)"),
    ("-a * b", "((-a) * b)"),
    ("- - a", "(-(-a))"),
    ("!a && b", "((!a) && b)"),
    ("a || b && c", "(a || (b && c))"),
    ("a && b || c", "((a && b) || c)"),
    ("a < b + 1", "(a < (b + 1))"),
    ("a + 1 >= b * 2", "((a + 1) >= (b * 2))"),
    ("a == b && c != d", "((a == b) && (c != d))"),
    ("a < b == c > d", "(((a < b) == c) > d)"),
    ("a <= b || c >= d", "((a <= b) || (c >= d))"),
    ("c ? a : b", "(c ? a : b)"),
    ("c ? a : d ? b : e", "(c ? a : (d ? b : e))"),
    ("c ? d ? a : b : e", "(c ? (d ? a : b) : e)"),
    ("a || b ? x + 1 : y * 2", "((a || b) ? (x + 1) : (y * 2))"),
    ("(a + b) * c", "((a + b) * c)"),
    ("min(a, b + c) * max(d, e)", "(min(a, (b + c)) * max(d, e))"),
    ("float(x) + int32(y)", "(float(x) + int32(y))"),
    ("A(2 * h + r_kh, w)", "A(((2 * h) + r_kh), w)"),
    ("LUT(I(b, r), d)", "LUT(I(b, r), d)"),
    ("fma(a, b, c)", "fma(a, b, c)"),
    ("1. + .5 * 1e-5", "(1. + (.5 * 1e-5))"),
])
def test_precedence_and_associativity(text, tree):
    assert expr(text) == tree


def test_literal_values():
    s = stmt_of("O(i) = 12 + 2.5e1")
    assert isinstance(s.rhs.lhs, ast.IntLit) and s.rhs.lhs.value == 12
    assert isinstance(s.rhs.rhs, ast.FloatLit) and s.rhs.rhs.value == 25.0


BUILTINS = """acos acosh asin asinh atan atanh cbrt ceil cos cosh cospi erf erfc erfcinv erfcx
erfinv exp exp10 exp2 expm1 fabs floor lgamma log log10 log1p log2 logb normcdf normcdfinv
rcbrt round rsqrt sin sinh sinpi sqrt tan tanh tgamma trunc j0 j1 y0 y1 cyl_bessel_i0
cyl_bessel_i1""".split()
BINARY_BUILTINS = "atan2 copysign fdim fdivide fmax fmin fmod hypot nextafter pow remainder rhypot".split()


@pytest.mark.parametrize("fn", BUILTINS)
def test_every_unary_builtin_parses_and_checks(fn):
    program = check_source(f"def f(float(N) A) -> (O) {{ O(i) = {fn}(A(i)) }}")
    assert program.defs["f"].stmts[0].rhs.fn == fn


@pytest.mark.parametrize("fn", BINARY_BUILTINS)
def test_every_binary_builtin_parses_and_checks(fn):
    program = check_source(f"def f(float(N) A) -> (O) {{ O(i) = {fn}(A(i), 2.0) }}")
    assert program.defs["f"].stmts[0].rhs.fn == fn


@pytest.mark.parametrize("fn, arity", [("fma", 3), ("norm3d", 3), ("rnorm3d", 3), ("norm4d", 4),
                                       ("rnorm4d", 4)])
def test_ternary_and_quaternary_builtins(fn, arity):
    args = ", ".join(["A(i)"] * arity)
    program = check_source(f"def f(float(N) A) -> (O) {{ O(i) = {fn}({args}) }}")
    assert len(program.defs["f"].stmts[0].rhs.args) == arity


# Expression depth -------------------------------------------------------------------


def test_moderately_deep_expressions_parse():
    parse("def f(float(N) A) -> (O) { O(i) = " + "(" * 150 + "A(i)" + ")" * 150 + " }")
    parse("def f(float(N) A) -> (O) { O(i) = " + " + ".join(["A(i)"] * 150) + " }")


@pytest.mark.parametrize("body", [
    "(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
    " + ".join(["a"] * (MAX_DEPTH + 1)),
    "-" * (MAX_DEPTH + 1) + "a",
    "c ? a : " * (MAX_DEPTH + 1) + "a",
    "exp(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1),
])
def test_too_deep_expressions_are_located_errors(body):
    err = parse_error("def f(float(N) A) -> (O) {\n O(i) = " + body + "\n}")
    assert "nested too deeply" in err.message
    assert err.line == 2


# Syntax errors ----------------------------------------------------------------------


@pytest.mark.parametrize("source, line, col, message", [
    ("", 1, 1, "no `def` in the source"),
    ("# only a comment\n", 2, 1, "no `def` in the source"),
    ("define f() -> () {}", 1, 1, "expected `def`, found `define`"),
    ("def (float A) -> () {}", 1, 5, "expected the name of the def"),
    ("def f float A) -> () {}", 1, 7, "expected `(` to open the parameter list"),
    ("def f(A) -> () {}", 1, 7, "unknown type `A`"),
    ("def f(float) -> () {}", 1, 12, "expected a parameter name, found `)`"),
    ("def f(floaty(N) A) -> () {}", 1, 7, "unknown type `floaty`"),
    ("def f(float(N A) -> () {}", 1, 15, "expected `,` or `)`, found `A`"),
    ("def f(float(N,) A) -> () {}", 1, 15, "expected a size name or an integer, found `)`"),
    ("def f(float(1.5) A) -> () {}", 1, 13, "expected a size name or an integer, found `1.5`"),
    ("def f() (O) {}", 1, 9, "expected `->` before the outputs"),
    ("def f() -> O {}", 1, 12, "expected `(` to open the output list"),
    ("def f() -> (floaty(N) O) {}", 1, 13, "unknown type `floaty`"),
    ("def f() -> (float(N)) {}", 1, 21, "expected an output name"),
    ("def f() -> (O) O(i) = 1", 1, 16, "expected `{` to open the body"),
    ("def f(float(N) A) -> (O) {\n O(i) = A(i)\n", 3, 1, "unterminated body of `f`"),
    ("def f(float(N) A) -> (O) { O(i) == A(i) }", 1, 33, "expected an assignment"),
    ("def f(float(N) A) -> (O) { O(i) -= A(i) }", 1, 33, "expected an assignment"),
    ("def f(float(N) A) -> (O) { (i) = A(i) }", 1, 28, "expected a statement"),
    ("def f(float(N) A) -> (O) { O(i) = }", 1, 35, "expected an expression, found `}`"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) + }", 1, 42, "expected an expression, found `}`"),
    ("def f(float(N) A) -> (O) { O(i) = (A(i) }", 1, 41, "expected `)` to close the parenthesis"),
    ("def f(float(N) A) -> (O) { O(i) = c ? A(i) }", 1, 44, "expected `:` in the conditional"),
    ("def f(float(N) A) -> (O) { O(i) = where }", 1, 35, "found the keyword `where`"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) where }", 1, 46, "`exists`, a range `i in lo:hi`"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) where i 0:N }", 1, 48,
     "expected `in` or `=` after `i` in a where clause"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) where i in 0 N }", 1, 53,
     "expected `:` between the bounds of the range"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) where i in 0:N, }", 1, 56, "`exists`, a range"),
    ("def f(float(N) A) -> (O) { O(i) = A(i) } }", 1, 42, "expected `def`, found `}`"),
    ("def f(float(N) A) -> (O) { O(i) = A(i; }", 1, 38, "expected `,` or `)`, found `;`"),
])
def test_syntax_errors_are_located(source, line, col, message):
    err = parse_error(source)
    assert message in err.message
    assert (err.file, err.line, err.col) == ("p.tc", line, col)


def test_integer_literal_too_long_for_python_is_a_located_error():
    err = parse_error("def f(float(N) A) -> (O) { O(i) = " + "9" * 5000 + " }")
    assert "too large" in err.message and err.col == 35
    err = parse_error("def f(float(" + "9" * 5000 + ") A) -> () { }")
    assert "too large" in err.message and err.col == 13


def test_parse_rejects_non_string_source():
    with pytest.raises(TcError, match="must be a string"):
        parse(b"def f() -> () {}")


def test_first_token_of_program_located():
    program = parse("\n\n  def f() -> () { }")
    assert (program.defs[0].loc.line, program.defs[0].loc.col) == (3, 3)


def test_ast_statement_location_is_target():
    s = stmt_of("   O(i) = A(i)")
    assert (s.loc.line, s.loc.col) == (2, 4)
    assert isinstance(s.indices[0], ast.IndexName) and s.indices[0].loc.col == 6


def test_int32_is_a_type_name_in_casts():
    s = stmt_of("O(i) = int32(A(i))")
    assert isinstance(s.rhs, ast.Apply) and s.rhs.name == "int32"
    assert [show(a) for a in s.rhs.args] == ["A(i)"]
