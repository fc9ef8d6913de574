"""Property tests: the front end never fails with anything but a located TcError.

Three sources of input: random sequences of TC tokens, random mutations (token and
character level) of the canonical programs, and random well-formed programs that reach
deep into type checking and range inference. Checked programs must also satisfy the
contract of checked.py: every conversion is an explicit TCast.
"""

import re
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.frontend.checked import (
    COMPARISONS, TBinary, TCall, TCast, TConst, TRead, TSelect, TUnary, children,
)
from tcir.frontend.types import BOOL, TYPE_NAMES
from canonical import CANONICAL, CANONICAL_SOURCES  # the examples of tc-language.md

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


EXAMPLES = list(CANONICAL_SOURCES.values())


def run(source):
    """Check `source`; return the program or None on a TcError, which must be located.
    Any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        try:
            program = check_source(source, "fuzz.tc")
        except TcError as err:
            assert err.loc is not None or "nested too deeply" in err.message, str(err)
            assert str(err).startswith("fuzz.tc:") or err.loc is None
            return None
    check_invariants(program)
    return program


def check_invariants(program):
    for d in program.defs.values():
        for t in d.inputs + d.outputs + d.temporaries:
            assert t.dtype is not None and t.shape is not None, t.name
        for s in d.stmts:
            target = d.tensors[s.target]
            assert target.rank == len(s.lhs)
            assert set(s.ranges) == set(s.iterators) and s.iterators[:len(s.lhs)] == s.lhs
            assert s.rhs.type == target.dtype
            check_typed(s.rhs)


def check_typed(e):
    """Conversions are explicit: operands already have the types the operation needs."""
    if isinstance(e, TBinary):
        assert e.lhs.type == e.rhs.type, e
        if e.op in COMPARISONS or e.op in ("&&", "||"):
            assert e.type == BOOL
        else:
            assert e.type == e.lhs.type
    elif isinstance(e, TUnary):
        assert e.type == (BOOL if e.op == "!" else e.operand.type)
    elif isinstance(e, TSelect):
        assert e.cond.type == BOOL and e.then.type == e.type == e.otherwise.type
    elif isinstance(e, TCall):
        assert all(a.type == e.type for a in e.args) and e.type.is_float
    elif isinstance(e, TRead):
        assert all(i.type.is_integer for i in e.indices)
    elif isinstance(e, TCast):
        assert e.type != e.operand.type
    elif isinstance(e, TConst):
        assert isinstance(e.value, bool if e.type.is_bool else float if e.type.is_float else int)
        if e.type.is_integer:
            lo, hi = (0, 1 << e.type.bits) if e.type.kind == "uint" else (
                -(1 << (e.type.bits - 1)), 1 << (e.type.bits - 1))
            assert lo <= e.value < hi, e
    for child in children(e):
        check_typed(child)


# (a) random token sequences -----------------------------------------------------------

VOCABULARY = (
    ["def", "where", "in", "exists", "->", "(", ")", "{", "}", ",", ":", "?", ";", "\n", "#c\n"]
    + ["=", "+=", "*=", "min=", "max=", "+=!", "*=!", "min=!", "max=!"]
    + ["+", "-", "*", "/", "%", "!", "<", ">", "<=", ">=", "==", "!=", "&&", "||"]
    + ["A", "B", "C", "O", "T", "i", "j", "k", "r_k", "N", "M", "K", "alpha", "x"]
    + ["0", "1", "2", "3", "1.5", ".5", "1e-5", "2147483648"]
    + ["float", "double", "half", "bfloat16", "int8", "int32", "uint8", "int64", "bool", "float16"]
    + ["min", "max", "exp", "fmax", "fma", "pow", "relu", "sqrt"]
)


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=60), st.sampled_from([" ", "", "\n"]))
def test_random_token_sequences(tokens, sep):
    run(sep.join(tokens))


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=40))
def test_random_tokens_inside_a_def(tokens):
    run("def f(float(N, M) A, float(N) B, float alpha) -> (O) {\n  O(i) = " + " ".join(tokens) + "\n}")


@FUZZ
@given(st.lists(st.sampled_from(VOCABULARY), max_size=30))
def test_random_tokens_as_a_signature(tokens):
    run("def f(" + " ".join(tokens) + ") { O(i) = A(i) }")


# (b) mutations of the canonical programs -------------------------------------------------

TOKEN = re.compile(r"\s+|#[^\n]*|[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*(?:[eE][+-]?\d+)?|->|[+*]=!?|"
                   r"m(?:in|ax)=!?|[<>=!]=|&&|\|\||.", re.S)


@st.composite
def mutated(draw, unit: str):
    source = draw(st.sampled_from(EXAMPLES + [CANONICAL]))
    pieces = TOKEN.findall(source) if unit == "token" else list(source)
    assert "".join(pieces) == source
    vocabulary = VOCABULARY if unit == "token" else list("(){}[],:;?!=+-*/%<>&|#.\n \t0123456789aAiNx_\x00é")
    for _ in range(draw(st.integers(1, 4))):
        if not pieces:
            break
        at = draw(st.integers(0, len(pieces) - 1))
        op = draw(st.sampled_from(["delete", "insert", "swap", "duplicate", "replace"]))
        if op == "delete":
            del pieces[at]
        elif op == "insert":
            pieces.insert(at, draw(st.sampled_from(vocabulary)))
        elif op == "swap":
            other = draw(st.integers(0, len(pieces) - 1))
            pieces[at], pieces[other] = pieces[other], pieces[at]
        elif op == "duplicate":
            pieces.insert(at, pieces[at])
        else:
            pieces[at] = draw(st.sampled_from(vocabulary))
    return "".join(pieces)


@FUZZ
@given(mutated("token"))
def test_token_mutations_of_canonical_programs(source):
    run(source)


@FUZZ
@given(mutated("char"))
def test_character_mutations_of_canonical_programs(source):
    run(source)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text(source):
    run(source)


# (c) random well-formed programs ---------------------------------------------------------

TYPES = sorted(TYPE_NAMES)
NUMERIC_TYPES = [t for t in TYPES if t != "bool"]
SUBSCRIPTS = ["i", "j", "r", "k", "i + r", "2 * i + r", "j - 1", "N - 1 - i", "0", "I(i, r)", "int32(s)"]

# Type-directed expressions, so that most generated programs get past type checking.
numbers = st.deferred(lambda: st.one_of(
    st.sampled_from(["s", "1", "2.5", "1e-3", "i", "N", "x"]),
    st.builds("A({}, {})".format, st.sampled_from(SUBSCRIPTS), st.sampled_from(SUBSCRIPTS)),
    st.builds("B({})".format, st.sampled_from(SUBSCRIPTS)),
    st.builds("({} {} {})".format, numbers, st.sampled_from(["+", "-", "*", "/", "%"]), numbers),
    st.builds("-{}".format, numbers),
    st.builds("({} ? {} : {})".format, booleans, numbers, numbers),
    st.builds("{}({}, {})".format, st.sampled_from(["min", "max", "fmax", "pow"]), numbers, numbers),
    st.builds("{}({})".format, st.sampled_from(["exp", "sqrt", "tanh"] + NUMERIC_TYPES), numbers),
))
booleans = st.deferred(lambda: st.one_of(
    st.builds("({} {} {})".format, numbers, st.sampled_from(COMPARISONS), numbers),
    st.builds("({} {} {})".format, booleans, st.sampled_from(["&&", "||"]), booleans),
    st.builds("!{}".format, booleans),
))


@st.composite
def programs(draw):
    a_type, b_type, out_type = (draw(st.sampled_from(TYPES)) for _ in range(3))
    i_type = draw(st.sampled_from(["int32", "int64", "uint8", "float"]))
    outputs = draw(st.sampled_from(["O", f"{out_type}(N, M) O", f"{out_type}(N, 4) O"]))
    lines = []
    for n in range(draw(st.integers(1, 3))):
        target = "O(i, j)" if n == 0 else draw(st.sampled_from(["O(i, j)", "T(i, j)", "P(i)"]))
        op = draw(st.sampled_from(["=", "+=!", "+=!", "max=!", "*=!", "min=!", "+=", "*="]))
        rhs = draw(st.one_of(numbers, booleans)) if draw(st.integers(0, 5)) == 0 else draw(numbers)
        clauses = draw(st.lists(st.sampled_from([
            "r in 0:2", "k in 0:N / 2", "x = A(i, r)", "x = 2", "i in 0:N",
            "j in 1:M - 1"]), max_size=3, unique=True))
        if draw(st.integers(0, 4)):  # usually bound the left side's indices
            clauses.append("exists B(i)" if target == "P(i)" else "exists A(i, j)")
        if "x = 2" in clauses and "x = A(i, r)" in clauses:
            clauses.remove("x = 2")
        if not any(c.startswith("x =") for c in clauses):
            clauses.append("x = s")
        lines.append(f"  {target} {op} {rhs} where {', '.join(clauses)}")
    return (f"def f({a_type}(N, M) A, {b_type}(N) B, {i_type}(N, M) I, double s) -> ({outputs}) {{\n"
            + "\n".join(lines) + "\n}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_well_formed_programs(source):
    run(source)
