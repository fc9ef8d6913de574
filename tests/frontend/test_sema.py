"""Semantic analysis: names, statements, reductions, temporaries, clauses, errors, warnings."""

import warnings

import pytest

from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.frontend.checked import TConst, TIndex, TRead, TScalar, TSelect, TSize, children
from tcir.frontend.types import FLOAT, INT32


def check(source: str):
    """Check `source`, failing the test on any warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        return check_source(source, "s.tc")


def one_def(source: str):
    (d,) = check(source).defs.values()
    return d


def error(source: str) -> TcError:
    with pytest.raises(TcError) as info:
        check(source)
    return info.value


def warning(source: str) -> TcWarning:
    with pytest.warns(TcWarning) as record:
        check_source(source, "s.tc")
    (w,) = [w.message for w in record if isinstance(w.message, TcWarning)]
    return w


def located(err, line: int, col: int) -> bool:
    return (err.loc.file, err.loc.line, err.loc.col) == ("s.tc", line, col)


def nodes(e):
    yield e
    for c in children(e):
        yield from nodes(c)


# Signatures, roles and sizes --------------------------------------------------------


def test_roles_shapes_and_sizes():
    d = one_def("def f(float(M, K) A, float(K, 4) B, float alpha) -> (C) {\n"
                "  C(m, n) +=! A(m, k) * B(k, n) * alpha\n}")
    assert [(t.name, t.role, [str(s) for s in t.shape]) for t in d.inputs] == [
        ("A", "input", ["M", "K"]), ("B", "input", ["K", "4"]), ("alpha", "scalar", [])]
    assert d.sizes == ["M", "K"]
    (c,) = d.outputs
    assert (c.name, c.role, c.dtype, [str(s) for s in c.shape]) == ("C", "output", FLOAT, ["M", "4"])
    assert d.temporaries == []
    assert set(d.tensors) == {"A", "B", "alpha", "C"}


def test_scalar_parameter_and_size_values():
    d = one_def("def f(float(N) A, float eps) -> (O) { O(i) = A(i) / N + eps * i }")
    leaves = [e for e in nodes(d.stmts[0].rhs) if isinstance(e, (TSize, TScalar, TIndex))]
    assert TSize(INT32, "N") in leaves
    assert TScalar(FLOAT, "eps") in leaves
    assert TIndex(INT32, "i") in leaves


def test_typed_output_shape_comes_from_the_signature():
    d = one_def("def f(float(N) A) -> (double(N, 2) O) { O(i, j) = A(i) }")
    assert [str(s) for s in d.outputs[0].shape] == ["N", "2"]
    assert d.stmts[0].ranges["j"][1].evaluate({}) == 2


def test_rank_0_output_and_rank_0_read():
    d = one_def("def f(float(N) A) -> (s, t) { s +=! A(i)\n t = s * 2 }")
    s, t = d.outputs
    assert (s.shape, t.shape) == ([], [])
    assert d.stmts[0].lhs == [] and d.stmts[0].reduction_vars == ["i"]
    assert isinstance(d.stmts[1].rhs.lhs, TRead) and d.stmts[1].rhs.lhs.indices == ()


def test_typed_rank_0_output():
    d = one_def("def f(float(N) A) -> (double s) { s +=! A(i) }")
    assert (d.outputs[0].dtype.name, d.outputs[0].shape) == ("double", [])


def test_output_with_size_not_from_inputs_is_an_error():
    err = error("def f(float(N) A) -> (float(M) O) { O(i) = A(i) }")
    assert "size `M` of output `O` is not a size of any input" in err.message
    assert located(err, 1, 29)


def test_same_size_name_means_same_symbol():
    d = one_def("def f(float(N, N) A) -> (O) { O(i) = A(i, i) }")
    assert d.sizes == ["N"]
    assert [str(s) for s in d.inputs[0].shape] == ["N", "N"]


# Statements and reductions ----------------------------------------------------------


def test_reduction_variables_are_those_only_on_the_right():
    d = one_def("def f(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, k) * B(k, n) }")
    (s,) = d.stmts
    assert (s.target, s.lhs, s.kind, s.init) == ("C", ["m", "n"], "+", True)
    assert s.iterators == ["m", "n", "k"] and s.reduction_vars == ["k"]


def test_reduction_prefix_is_a_convention_not_syntax():
    d = one_def("def softmax(float(N, D) I) -> (O, expsum, maxVal) {\n"
                "    maxVal(n) max=! I(n, d)\n"
                "    expsum(n) +=! exp(I(n, d) - maxVal(n))\n"
                "    O(n, d) = exp(I(n, d) - maxVal(n)) / expsum(n)\n}")
    assert [s.reduction_vars for s in d.stmts] == [["d"], ["d"], []]
    assert [s.kind for s in d.stmts] == ["max", "+", "="]


@pytest.mark.parametrize("op, kind, init", [
    ("+=!", "+", True), ("*=!", "*", True), ("min=!", "min", True), ("max=!", "max", True)])
def test_initializing_reductions(op, kind, init):
    (s,) = one_def(f"def f(float(N, M) A) -> (O) {{ O(i) {op} A(i, j) }}").stmts
    assert (s.kind, s.init) == (kind, init)


@pytest.mark.parametrize("op, kind", [("+=", "+"), ("*=", "*"), ("min=", "min"), ("max=", "max")])
def test_accumulating_reductions_after_a_write(op, kind):
    d = one_def(f"def f(float(N, M) A) -> (O) {{ O(i) = 0.0 where i in 0:N\n O(i) {op} A(i, j) }}")
    assert (d.stmts[1].kind, d.stmts[1].init) == (kind, False)


@pytest.mark.parametrize("op", ["+=!", "*=!", "min=!", "max=!"])
def test_bang_form_without_reduction_variable_is_plain_assignment(op):
    (s,) = one_def(f"def f(float(N) A) -> (O) {{ O(i) {op} A(i) }}").stmts
    assert (s.kind, s.init) == ("=", False)


def test_accumulation_without_reduction_variable_keeps_its_kind():
    d = one_def("def f(float(N) A) -> (O) { O(i) = A(i)\n O(i) += A(i) }")
    assert (d.stmts[1].kind, d.stmts[1].init) == ("+", False)


def test_assignment_with_reduction_variable_is_an_error():
    err = error("def f(float(N, M) A) -> (O) {\n  O(i) = A(i, j)\n}")
    assert err.message.startswith("`j` appears only on the right side, which makes it a reduction index")
    assert "use `+=!`" in err.message
    assert located(err, 2, 15)


def test_assignment_with_reduction_variable_from_a_where_range():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i) where r in 0:3\n}")
    assert "`r` appears only on the right side" in err.message
    assert located(err, 2, 21)


def test_reduction_without_bang_into_unwritten_tensor_warns():
    w = warning("def f(float(N, M) A) -> (O) {\n  O(i) += A(i, j)\n}")
    assert "`+=` reduces into `O`, which no earlier statement writes" in w.message
    assert "use `+=!`" in w.message
    assert (w.loc.file, w.loc.line, w.loc.col) == ("s.tc", 2, 3)
    assert str(w).startswith("s.tc:2:3: warning: ")


@pytest.mark.parametrize("op", ["*=", "min=", "max="])
def test_every_accumulating_form_warns_without_earlier_write(op):
    w = warning(f"def f(float(N, M) A) -> (O) {{ O(i) {op} A(i, j) }}")
    assert f"`{op}` reduces into `O`" in w.message


def test_no_warning_for_bang_forms_or_after_a_write():
    check("def f(float(N, M) A) -> (O) { O(i) +=! A(i, j)\n O(i) += A(i, j) }")


def test_reading_a_typed_output_before_writing_it_warns():
    w = warning("def f(float(N) A) -> (float(N) O) {\n  O(i) = O(i) + A(i)\n}")
    assert w.message == "`O` is read before any statement writes it"
    assert (w.loc.line, w.loc.col) == (2, 10)


def test_reading_an_untyped_tensor_before_writing_it_is_an_error():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = T(i)\n  T(i) = A(i)\n}")
    assert "`T` is read before any statement writes it, so its type is unknown" in err.message
    assert located(err, 2, 10)


def test_statements_run_in_order_and_reads_see_earlier_writes():
    d = one_def("def f(float(N) A) -> (O) { O(i) = A(i)\n O(i) = O(i) * 2\n O(i) = O(i) + 1 }")
    assert [s.target for s in d.stmts] == ["O", "O", "O"]
    assert isinstance(d.stmts[1].rhs.lhs, TRead) and d.stmts[1].rhs.lhs.tensor == "O"


# Temporaries (extension) ------------------------------------------------------------


def test_temporaries_are_written_but_not_returned():
    d = one_def("def f(float(N, M) A) -> (O) {\n  T(i) +=! A(i, j)\n  O(i) = T(i) * 2\n}")
    assert [t.name for t in d.outputs] == ["O"]
    (tmp,) = d.temporaries
    assert (tmp.name, tmp.role, tmp.dtype, [str(s) for s in tmp.shape]) == ("T", "temporary", FLOAT, ["N"])
    assert "T" in d.tensors


def test_temporary_rank_must_be_consistent():
    err = error("def f(float(N) A) -> (O) {\n  T(i) = A(i)\n  T(i, j) = A(i) where j in 0:2\n  O(i) = T(i)\n}")
    assert err.message == "`T` has rank 1 but is written here with 2 indices"
    assert located(err, 3, 3)


# Clauses ----------------------------------------------------------------------------


def test_where_let_is_inlined():
    (s,) = one_def("def f(float(N) A) -> (O) { O(i) = x * x where x = A(i) + 1.0 }").stmts
    assert s.rhs.lhs == s.rhs.rhs
    assert s.rhs.lhs.lhs.tensor == "A"


def test_lets_may_refer_to_later_lets():
    (s,) = one_def("def f(float(N) A) -> (O) { O(i) = x where x = y * 2.0, y = A(i) }").stmts
    assert s.rhs.lhs.tensor == "A"


def test_let_introducing_a_reduction_variable():
    (s,) = one_def("def f(float(N, M) A) -> (O) { O(i) +=! x where x = A(i, j) }").stmts
    assert s.reduction_vars == ["j"]


def test_self_referential_let_is_an_error():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = x where x = y + A(i), y = x\n}")
    assert err.message == "the binding of `x` refers to itself"
    assert located(err, 2, 36)


def test_lets_are_inlined_within_limits():
    chain = ", ".join(f"x{k + 1} = x{k} * 2.0" for k in range(100))
    (s,) = one_def(f"def f(float(N) A) -> (O) {{ O(i) = x100 where x0 = A(i), {chain} }}").stmts
    assert s.rhs.type == FLOAT


@pytest.mark.parametrize("op, n", [("x{k} + 1.0", 1000), ("x{k} + x{k}", 30)])
def test_let_expansion_is_bounded(op, n):
    # A long chain, or bindings that double at each step, would exhaust the stack or
    # take exponential time if inlined without limit.
    lets = ", ".join(f"x{k + 1} = " + op.format(k=k) for k in range(n))
    err = error(f"def f(float(N) A) -> (O) {{\n  O(i) = x{n} where x0 = A(i), {lets}\n}}")
    assert err.message.startswith("the `where` bindings expand to an expression too large")
    assert err.line == 2


@pytest.mark.parametrize("clause, col", [("x = 1, x = 2", 28), ("A = 1", 21), ("N = 1", 21),
                                         ("i = 1", 21), ("O = 2", 21)])
def test_let_needs_a_new_name(clause, col):
    err = error(f"def f(float(N) A) -> (O) {{\n  O(i) = A(i) where {clause}\n}}")
    assert "is already defined; a `where` binding needs a new name" in err.message
    assert located(err, 2, col)


def test_where_range_fixes_the_range():
    (s,) = one_def("def f(float(N) A) -> (O) { O(i) = A(i) where i in 1:N - 1 }").stmts
    assert [str(x) for x in s.ranges["i"]] == ["1", "N - 1"]


@pytest.mark.parametrize("bound, text", [
    ("N / 2", "N floordiv 2"), ("N % 3", "N mod 3"), ("min(N, 4)", "min(N, 4)"),
    ("max(N - 1, 2) * 2", "2 * max(N - 1, 2)"), ("-(-N)", "N"), ("2 * N - N", "N")])
def test_range_bounds_are_size_expressions(bound, text):
    (s,) = one_def(f"def f(float(N) A) -> (O) {{ O(i) = 1.0 where i in 0:{bound} }}").stmts
    assert str(s.ranges["i"][1]) == text


@pytest.mark.parametrize("bound", ["i", "alpha", "A(0)", "1.5", "N > 1 ? 1 : 2", "exp(N)",
                                   "min(N, 2, 3)"])
def test_range_bounds_use_only_sizes_and_integers(bound):
    err = error(f"def f(float(N) A, float alpha) -> (O) {{\n  O(i) = 1.0 where i in 0:{bound}\n}}")
    assert err.message.startswith("a range bound may use only sizes, integer constants")
    assert located(err, 2, 27)


@pytest.mark.parametrize("bound", ["N / 0", "N % (2 - 2)", "1 / 0"])
def test_range_bound_division_by_zero_is_an_error(bound):
    err = error(f"def f(float(N) A) -> (O) {{\n  O(i) = 1.0 where i in 0:{bound}\n}}")
    assert err.message == "division by zero in a range bound"
    assert located(err, 2, 27)


def test_range_given_twice_is_an_error():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i) where i in 0:N, i in 0:2\n}")
    assert err.message == "the range of `i` is given twice"
    assert located(err, 2, 31)


@pytest.mark.parametrize("name", ["A", "N", "x"])
def test_range_of_something_not_an_index(name):
    err = error(f"def f(float(N) A) -> (O) {{\n  O(i) = A(i) where x = 1, {name} in 0:2\n}}")
    assert f"`{name}` is not an index variable" in err.message


def test_explicit_range_below_zero_on_the_left_side():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = 1.0 where i in -1:N\n}")
    assert err.message == "`i` starts at -1, but it indexes `O`, whose indices start at 0"
    assert located(err, 2, 20)


def test_exists_only_constrains_inference():
    (s,) = one_def("def f(float(N) A) -> (O) { O(i) = 1.0 where exists A(i) }").stmts
    assert s.rhs == TConst(FLOAT, 1.0)
    assert [str(x) for x in s.ranges["i"]] == ["0", "N"]


def test_exists_may_not_introduce_an_index():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i) where exists A(k)\n}")
    assert err.message.startswith("index `k` appears only in `exists`")
    assert located(err, 2, 30)


# Names and declarations -------------------------------------------------------------


@pytest.mark.parametrize("source, line, col, message", [
    ("def f(float(N) A) -> (O) { O(i) = A(i) }\ndef f(float(N) A) -> (O) { O(i) = A(i) }",
     2, 1, "def `f` is defined twice"),
    ("def f(float(N) A, double(N) A) -> (O) { O(i) = A(i) }", 1, 19, "`A` is declared twice in `f`"),
    ("def f(float(N) A) -> (A) { A(i) = 1.0 }", 1, 23, "`A` is declared twice in `f`"),
    ("def f(float(N) A) -> (O, O) { O(i) = A(i) }", 1, 26, "`O` is declared twice in `f`"),
    ("def f(float(N) A) -> (N) { N(i) = 1.0 }", 1, 23, "`N` is already a size"),
    ("def f(float(N) A, float(A) B) -> (O) { O(i) = A(i) }", 1, 25, "size `A` has the name of a tensor"),
    ("def f(float(N) N) -> (O) { O(i) = 1.0 where i in 0:N }", 1, 7, "`N` is already a size"),
    ("def f(float(N) A) -> (O) {\n  N(i) = A(i)\n}", 2, 3, "cannot write `N`: it is a size"),
    ("def f(float(N) A) -> (O) {\n  A(i) = 1.0\n}", 2, 3, "cannot write `A`: inputs are read-only"),
    ("def f(float(N) A, float s) -> (O) {\n  s = 1.0\n}", 2, 3, "cannot write `s`: inputs are read-only"),
    ("def f(float(N) A) -> (O) {\n  O(i, i) = A(i)\n}", 2, 8, "index `i` appears twice on the left side"),
    ("def f(float(N) A) -> (O) {\n  O(N) = A(0)\n}", 2, 5, "`N` is a size, not an index variable"),
    ("def f(float(N) A) -> (O) {\n  O(A) = 1.0\n}", 2, 5, "`A` is a tensor, not an index variable"),
    ("def f(float(N) A) -> (O, P) {\n  O(i) = A(i)\n}", 1, 26, "output `P` is never written"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i)\n  O(i, j) = A(j)\n}", 3, 3,
     "`O` has rank 1 but is written here with 2 indices"),
    ("def f(float(N) A) -> (float(N) O) {\n  O(i, j) = A(j)\n}", 2, 3,
     "`O` has rank 1 but is written here with 2 indices"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i, j)\n}", 2, 10, "`A` has rank 1 but is subscripted with 2 indices"),
    ("def f(float(N, M) A) -> (O) {\n  O(i) = A(i)\n}", 2, 10, "`A` has rank 2 but is subscripted with 1 index"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A\n}", 2, 10, "`A` has rank 1 but is subscripted with 0 indices"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) + B(i)\n}", 2, 17, "unknown tensor or function `B`"),
    ("def f(float(N) A) -> (O, P) {\n  O(i) = P(i)\n}", 2, 10, "`P` is read here but never written"),
    ("def f(float(N) A) -> (O) {\n  O(i) = relu(A(i))\n}", 2, 10,
     "unknown tensor or function `relu`; there is no `relu`; write `fmax(x, 0)`"),
    ("def f(float(N) A) -> (O) {\n  O(i) = sigmoid(A(i))\n}", 2, 10,
     "unknown tensor or function `sigmoid`; there is no `sigmoid`; write `1 / (1 + exp(-x))`"),
    ("def f(float(N) A) -> (O) {\n  O(i) = abs(A(i))\n}", 2, 10, "use `fabs(x)`"),
    ("def f(float(N) A, float s) -> (O) {\n  O(i) = s(i)\n}", 2, 10,
     "`s` is a scalar parameter; use it without subscripts"),
    ("def f(float(N) A) -> (O) {\n  O(i) = exp(A(i), 1.0)\n}", 2, 10, "`exp` takes 1 argument, found 2"),
    ("def f(float(N) A) -> (O) {\n  O(i) = pow(A(i))\n}", 2, 10, "`pow` takes 2 arguments, found 1"),
    ("def f(float(N) A) -> (O) {\n  O(i) = fma(A(i), 1.0)\n}", 2, 10, "`fma` takes 3 arguments, found 2"),
    ("def f(float(N) A) -> (O) {\n  O(i) = min(A(i))\n}", 2, 10, "`min` takes 2 arguments, found 1"),
    ("def f(float(N) A) -> (O) {\n  O(i) = max(A(i), 1.0, 2.0)\n}", 2, 10, "`max` takes 2 arguments, found 3"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) + exp\n}", 2, 17, "`exp` is a function; call it as `exp(...)`"),
    ("def f(float(N) A) -> (O) {\n  O(i) = A(i) + max\n}", 2, 17, "`max` is a function"),
])
def test_name_errors_are_located(source, line, col, message):
    err = error(source)
    assert message in err.message
    assert located(err, line, col)


def test_sizes_are_shared_across_statements_but_indices_are_per_statement():
    d = one_def("def f(float(N) A, float(M) B) -> (O, P) { O(i) = A(i)\n P(i) = B(i) }")
    assert [str(d.stmts[0].ranges["i"][1]), str(d.stmts[1].ranges["i"][1])] == ["N", "M"]


def test_guarded_read_is_typed_and_kept():
    (s,) = one_def("def f(float(N) X) -> (O) { O(t) = X(t) + (t - 3 >= 0 ? X(t - 3) : 0.0) }").stmts
    sel = s.rhs.rhs
    assert isinstance(sel, TSelect)
    assert isinstance(sel.then, TRead) and sel.otherwise == TConst(FLOAT, 0.0)


def test_defs_are_independent():
    program = check("def a(float(N) X) -> (Y) { Y(i) = X(i) }\n"
                    "def b(double(M) X) -> (Y) { Y(i) = X(i) }")
    assert program.defs["a"].outputs[0].dtype.name == "float"
    assert program.defs["b"].outputs[0].dtype.name == "double"
    assert program.defs["b"].sizes == ["M"]


def test_checked_program_keeps_source_and_filename():
    program = check("def a(float(N) X) -> (Y) { Y(i) = X(i) }")
    assert program.filename == "s.tc" and program.source.startswith("def a")
