"""Mixed precision (issue 16): `assign-precision`'s decisions and cast placement, the
rewritten defs run against hand-written NumPy with ml_dtypes' rounding, `auto`'s budget
on inputs it was not tuned on, the accuracy report against numbers computed here, and
the `tc-precision` command."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import ml_dtypes
import numpy as np
import pytest
from canonical import CANONICAL_SOURCES, EXAMPLES
from hypothesis import HealthCheck, assume, given, settings
from strategies import examples, tc_programs

import tcir
from tcir.frontend import check_source
from tcir.frontend.checked import TCall, TCast, TRead, children, nodes, reads
from tcir.frontend.printing import source_statements
from tcir.frontend.types import BFLOAT16, FLOAT, HALF, at_least_float
from tcir.passes.assign_precision import (
    CONTRACTION, ELEMENTWISE, INTEGER, KEEP, assign_precision, classify, simplify,
)
from tcir.testing.reference import evaluate

MLP = (EXAMPLES / "mlp3.tc").read_text()
FCRELU = CANONICAL_SOURCES["fcrelu"]


def rounded(x, dtype) -> np.ndarray:
    """`x` rounded to `dtype` by ml_dtypes / NumPy, as float64."""
    return np.asarray(x).astype(dtype).astype(np.float64)


def mlp_inputs(seed: int, B=16, M=64, N1=48, N2=32, N3=8):
    rng = np.random.default_rng(seed)

    def f(*shape):
        return (rng.standard_normal(shape) / math.sqrt(shape[-1] if len(shape) > 1 else 4)).astype(np.float32)

    return [f(B, M), f(N1, M), f(N1), f(N2, N1), f(N2), f(N3, N2), f(N3)]


def mlp_numpy(I, W1, B1, W2, B2, W3, B3, operand=lambda x: np.asarray(x, np.float64)):
    """The MLP in float64, each contraction's operands through `operand`."""
    O1 = np.maximum(operand(I) @ operand(W1).T + B1, 0)
    O2 = np.maximum(operand(O1) @ operand(W2).T + B2, 0)
    return operand(O2) @ operand(W3).T + B3


def _def(source: str, entry: str | None = None):
    program = check_source(source)
    return program.defs[entry or next(iter(program.defs))]


# Decisions ---------------------------------------------------------------------------


def test_amp_statement_classes():
    d = _def(FCRELU)
    assert [classify(d, s) for s in d.stmts] == [CONTRACTION, ELEMENTWISE, ELEMENTWISE]
    softmax = _def(CANONICAL_SOURCES["softmax"])
    # max=! rounds nothing (element-wise); the exp sum and the division by it stay
    assert [classify(softmax, s) for s in softmax.stmts] == [ELEMENTWISE, KEEP, KEEP]
    assert [classify(_def(CANONICAL_SOURCES["group_normalization"]), s)
            for s in _def(CANONICAL_SOURCES["group_normalization"]).stmts] == [KEEP]  # rsqrt
    lut = _def(CANONICAL_SOURCES["_2LUT"])
    assert {classify(lut, s) for s in lut.stmts} == {KEEP}  # sums of gathers, not contractions
    ints = _def("def f(int32(N) A) -> (O) { O(i) = A(i) * 2 }")
    assert classify(ints, ints.stmts[0]) == INTEGER


def test_amp_fcrelu_source_and_assignment():
    r = assign_precision(_def(FCRELU), "amp", "bfloat16", "float")
    assert "I_bfloat16(i0, i1) = bfloat16(I(i0, i1))" in r.source
    assert "W1_bfloat16(i0, i1) = bfloat16(W1(i0, i1))" in r.source
    assert "O1(b, n) +=! float(I_bfloat16(b, r_m)) * W1_bfloat16(n, r_m)" in r.source
    assert "O1(b, n) = fmax(O1(b, n), 0)" in r.source
    a = r.assignment
    assert a["W1_bfloat16"] == "bfloat16" and a["O1"] == "float" and a["W1"] == "float"
    assert a[0] == "bfloat16, accumulated in float" and a[1] == "float"
    assert a.hoisted == {"I_bfloat16": ("I", BFLOAT16), "W1_bfloat16": ("W1", BFLOAT16)}


def test_low_float_changes_nothing_on_canonical_examples():
    for name, source in CANONICAL_SOURCES.items():
        for d in check_source(source).defs.values():
            r = assign_precision(d, "amp", "float", "float")
            assert [(s.target, s.kind, s.init, s.rhs) for s in r.checked.stmts] == \
                [(s.target, s.kind, s.init, s.rhs) for s in d.stmts], name
            assert not r.assignment.hoisted


def test_hoisting_moves_fewer_bytes():
    d = _def(FCRELU)
    # B = 2: each weight element is read twice, fusing moves 2 * 4 bytes, hoisting 4 + 2 + 2 * 2
    few = assign_precision(d, sizes={"B": 2, "M": 64, "N": 32}).source
    assert "float(I_bfloat16(b, r_m)) * bfloat16(W1(n, r_m))" in few
    # B = 64: hoisting (4 + 2 + 64 * 2 per element) beats fusing (64 * 4)
    many = assign_precision(d, sizes={"B": 64, "M": 64, "N": 32}).source
    assert "W1_bfloat16(i0, i1) = bfloat16(W1(i0, i1))" in many
    # an element-wise use is read once per element: never hoisted
    ew = assign_precision(_def("def f(float(N) A) -> (O) { O(i) = A(i) * 2.0 }"), "keep",
                          overrides={0: "bfloat16"}).source
    assert "O(i) = float(bfloat16(A(i)) * bfloat16(2.0))" in ew or "bfloat16(A(i))" in ew
    assert "A_bfloat16" not in ew


def test_temporary_cast_goes_after_its_last_write():
    r = assign_precision(_def(MLP), "amp", "bfloat16")
    lines = [line.strip() for line in r.source.splitlines()]
    relu = lines.index("O1(b, n1) = fmax(O1(b, n1) + B1(n1), 0)")
    assert lines[relu + 2] == "O1_bfloat16(i0, i1) = bfloat16(O1(i0, i1))"
    assert "O2(b, n2) +=! float(O1_bfloat16(b, n1)) * W2_bfloat16(n2, n1)" in lines


def test_cast_chains_are_folded():
    read = TRead(BFLOAT16, "A", ())
    assert simplify(TCast(BFLOAT16, TCast(FLOAT, read))) == read  # to a wider type and back
    assert simplify(TCast(HALF, TCast(FLOAT, read))) == TCast(HALF, read)  # a widening in a chain
    narrowing = TCast(FLOAT, TCast(BFLOAT16, TRead(FLOAT, "B", ())))
    assert simplify(narrowing) == narrowing  # rounds: kept
    # bfloat16 operands of a contraction are not cast again
    src = "def mm(bfloat16(M, K) A, bfloat16(K, N) B) -> (C) { C(m, n) +=! float(A(m, k)) * float(B(k, n)) }"
    r = assign_precision(_def(src), "amp", "bfloat16")
    assert "bfloat16(" not in r.source.split("{", 1)[1]
    assert "C(m, n) +=! float(A(m, k)) * B(k, n)" in r.source


def _casts(e) -> int:
    """The conversions between float types and formats in a checked expression."""
    own = int(isinstance(e, TCast) and (e.type.is_float or e.type.is_lowp)
              and (e.operand.type.is_float or e.operand.type.is_lowp))
    return own + sum(_casts(c) for c in children(e))


def _naive_casts(d, a) -> int:
    """The casts of placing every conversion the assignment implies at its use: each
    read converted to the statement's compute format (a parameter first rounded to its
    format), a contraction's operands to the operand format and then to the
    accumulation, a builtin's arguments to `float` and its result back when the
    statement computes in a narrower format, and the result to the target's format."""
    count = 0
    for i, s in enumerate(d.stmts):
        if a.classes[i] == INTEGER:
            continue
        p = a.statements[i]
        own = d.tensors[s.target].dtype
        if at_least_float(p.compute) != p.compute:
            count += sum(len(n.args) + 1 for n in nodes(s.rhs) if isinstance(n, TCall) and n.type == own)
        for r in reads(s.rhs):
            t = d.tensors[r.tensor]
            if not (t.dtype.is_float or t.dtype.is_lowp):
                continue
            fmt = a.tensors.get(r.tensor, t.dtype)
            count += int(t.role in ("input", "scalar") and fmt != t.dtype)
            count += 1 if a.classes[i] != CONTRACTION else 2
        count += 1
    return count


@settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
@given(tc_programs(max_stmts=4, max_depth=3))
def test_random_defs_rewrite(program):
    """Every random def rewrites to TC that checks (`settle` raises otherwise), with no
    more casts than the naive placement; a float-only def with `low=float` is unchanged."""
    d = _def(program.source, program.entry)
    for low, overrides in (("bfloat16", None), ("float8_e4m3fn", None), ("half", {0: "bfloat16"})):
        r = assign_precision(d, "amp", low, "float", overrides=overrides)
        placed = sum(_casts(s.rhs) for s in r.checked.stmts) - sum(_casts(s.rhs) for s in d.stmts)
        assert placed <= _naive_casts(d, r.assignment)
    if all(t.dtype == FLOAT for t in d.tensors.values() if t.dtype.is_float):
        r = assign_precision(d, "amp", "float", "float")
        body = [line.strip().split(" where ")[0] for line in r.source.splitlines()[2:-1]]
        assert body == [st.text().split(" where ")[0] for st in source_statements(d.stmts)]


@settings(max_examples=examples(12), deadline=None, suppress_health_check=list(HealthCheck))
@given(tc_programs(max_stmts=3, max_depth=3))
def test_random_defs_run_as_the_reference_evaluates_them(program):
    """The rewritten def compiles, and computes what the NumPy reference evaluator
    (no code shared with the compiler) says the rewritten source means."""
    assume(not any(t.dtype.is_float and t.dtype != FLOAT for t in _def(program.source, program.entry).tensors.values()))
    d = _def(program.source, program.entry)
    r = assign_precision(d, "amp", "bfloat16", "float")
    inputs = program.inputs()
    got = getattr(tcir.define(r.source), program.entry)(*inputs)
    want = evaluate(r.checked, *inputs)
    got = got if isinstance(got, tuple) else (got,)
    for g, w, t in zip(got, want, r.checked.outputs):
        if t.dtype.is_float:
            np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(w, np.float64), rtol=2e-2, atol=2e-2,
                                       equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)


# Running -----------------------------------------------------------------------------


def test_amp_mlp_against_numpy():
    x = mlp_inputs(0)
    mp = tcir.mixed_precision(MLP, "mlp3", *x, policy="amp", low="bfloat16")
    got = mp.kernel(*x)
    assert got.dtype == np.float32
    want = mlp_numpy(*x, operand=lambda v: rounded(v, ml_dtypes.bfloat16))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)  # float sums vs float64 ones


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "half"])
def test_weights_pinned_to_a_format(fmt):
    x = mlp_inputs(1)
    pins = {"W1": fmt, "W2": fmt, "W3": fmt}
    mp = tcir.mixed_precision(MLP, "mlp3", *x, policy="keep", overrides=pins)
    dtype = getattr(ml_dtypes, fmt, None) or np.float16
    I, W1, B1, W2, B2, W3, B3 = (np.asarray(v, np.float64) for v in x)
    w = [rounded(v, dtype) for v in (x[1], x[3], x[5])]
    O1 = np.maximum(I @ w[0].T + B1, 0)
    O2 = np.maximum(O1 @ w[1].T + B2, 0)
    np.testing.assert_allclose(mp.kernel(*x), O2 @ w[2].T + B3, rtol=1e-4, atol=1e-5)


def test_output_pinned_to_bfloat16_accumulates_in_float():
    x = mlp_inputs(2)
    mp = tcir.mixed_precision(MLP, "mlp3", *x, overrides={"O3": "bfloat16"})
    assert "O3_float(b, n3) +=!" in mp.source and "O3(b, n3) = bfloat16(O3_float(b, n3))" in mp.source
    got = mp.kernel(*x)
    assert got.dtype == ml_dtypes.bfloat16
    want = mlp_numpy(*x, operand=lambda v: rounded(v, ml_dtypes.bfloat16))
    # the sum rounded to bfloat16, then the bias added in float and rounded again
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2e-2, atol=1e-2)


MLP2 = """
def mlp2(float(B, M) I, float(N1, M) W1, float(N1) B1, float(N2, N1) W2) -> (O2) {
    O1(b, n1) +=! I(b, m) * W1(n1, m)
    O1(b, n1) = fmax(O1(b, n1) + B1(n1), 0)
    O2(b, n2) +=! O1(b, n1) * W2(n2, n1)
}
"""


def test_auto_keeps_its_budget_on_unseen_inputs():
    budget = 0.02
    x = mlp_inputs(0)[:4]
    mp = tcir.mixed_precision(MLP2, "mlp2", *x, policy="auto", max_rel_error=budget,
                              formats=["float8_e4m3fn", "bfloat16"])
    assert any(t["kept"] for t in mp.trials) and any(not t["kept"] for t in mp.trials)
    assert {t["tensor"] for t in mp.trials} == {"I", "W1", "B1", "W2", "O1"}
    assert [k for k, v in mp.assignment.items() if isinstance(k, str) and v != "float"]
    for seed in (11, 12, 13):
        I, W1, B1, W2 = (np.asarray(v, np.float64) for v in mlp_inputs(seed)[:4])
        want = np.maximum(I @ W1.T + B1, 0) @ W2.T
        err = np.abs(mp.kernel(*mlp_inputs(seed)[:4]).astype(np.float64) - want).max() / np.abs(want).max()
        assert err <= budget, (seed, err, mp.source)


def test_auto_with_an_snr_budget():
    mp = tcir.mixed_precision(FCRELU, "fcrelu", *mlp_inputs(3)[:2], mlp_inputs(3)[1][:, 0].copy(),
                              policy="auto", min_snr_db=40, formats=["bfloat16", "float8_e4m3fn"])
    assert all(t["format"] in ("bfloat16", "float8_e4m3fn") for t in mp.trials)
    assert all((t["snr_db"] >= 40 + 20 * math.log10(2)) == t["kept"] for t in mp.trials)
    assert mp.report.row("O1")["snr_db"] >= 40


# The accuracy report -------------------------------------------------------------------


def _ulp_bf16(v: np.ndarray) -> np.ndarray:
    _, e = np.frexp(v)  # v = m * 2^e with m in [0.5, 1): floor(log2 v) = e - 1
    return np.maximum(np.ldexp(1.0, e - 1 - 7), 2.0**-133)


def _metrics(x: np.ndarray, r: np.ndarray, ulp) -> dict:
    d = np.abs(x - r)
    return {"max_abs_error": d.max(), "max_rel_error": d.max() / np.abs(r).max(),
            "mean_ulp_error": np.mean(d / ulp(np.maximum(np.abs(x), np.abs(r)))),
            "snr_db": 10 * math.log10(np.sum(r**2) / np.sum(d**2))}


def test_report_against_an_independent_computation():
    rng = np.random.default_rng(4)
    I, W1 = rng.standard_normal((12, 40)).astype(np.float32), rng.standard_normal((20, 40)).astype(np.float32)
    B1 = rng.standard_normal(20).astype(np.float32)
    report = tcir.accuracy_report(FCRELU, "fcrelu", I, W1, B1, assignment={"I": "bfloat16", "W1": "bfloat16"})
    Ib, Wb = rounded(I, ml_dtypes.bfloat16), rounded(W1, ml_dtypes.bfloat16)
    exact = np.maximum(I.astype(np.float64) @ W1.astype(np.float64).T + B1, 0)
    mixed = np.maximum(Ib @ Wb.T + B1, 0)  # what the bfloat16 operands give, in float64
    row = report.row("O1")
    assert row["format"] == "float"
    # the kernel sums in float, so its output is `mixed` up to float rounding
    assert abs(row["max_abs_error"] - np.abs(mixed - exact).max()) <= 1e-5 * np.abs(exact).max()
    assert row["max_rel_error"] == pytest.approx(np.abs(mixed - exact).max() / np.abs(exact).max(), rel=1e-3)
    assert row["snr_db"] == pytest.approx(10 * math.log10(np.sum(exact**2) / np.sum((mixed - exact) ** 2)), abs=0.05)
    cast = report.row("W1_bfloat16")
    want = _metrics(Wb, W1.astype(np.float64), _ulp_bf16)
    for key, value in want.items():
        assert cast[key] == pytest.approx(value, rel=1e-9), key
    assert 0.2 < cast["mean_ulp_error"] < 0.3  # a correct rounding errs by a quarter ulp on average
    assert [r["statement"] for r in report.statement_rows] == list(range(5))
    assert report.statement_rows[2]["text"] == "O1(b, n) +=! float(I_bfloat16(b, r_m)) * W1_bfloat16(n, r_m)"
    assert report.to_dict()["tensors"][0]["tensor"] == "I_bfloat16"
    assert "| `O1` | float |" in report.to_markdown()


def test_report_of_the_assignment_reproduces_the_mixed_precision_report():
    x = mlp_inputs(5, B=4, M=16, N1=8, N2=8, N3=4)
    mp = tcir.mixed_precision(MLP, "mlp3", *x, low="float8_e4m3fn")
    again = tcir.accuracy_report(MLP, "mlp3", *x, assignment=mp.assignment)
    assert again.rows == mp.report.rows
    assert "float8_e4m3fn" in str(mp.report) and "O3" in mp.report.to_markdown()


def test_report_of_a_def_written_with_formats():
    src = "def f(float(N) A) -> (O) { O(i) = float8_e4m3fn(A(i)) }"
    a = np.linspace(-3, 3, 101).astype(np.float32)
    row = tcir.accuracy_report(src, "f", a).row("O")
    ref = rounded(a, ml_dtypes.float8_e4m3fn)
    assert row["format"] == "float8_e4m3fn"
    assert row["max_abs_error"] == pytest.approx(np.abs(ref - a).max())
    assert row["mean_ulp_error"] <= 0.5


def test_exact_value_reports_infinite_snr():
    row = tcir.accuracy_report("def f(float(N) A) -> (O) { O(i) = A(i) * 2.0 }", "f",
                               np.arange(5, dtype=np.float32)).row("O")
    assert row["max_abs_error"] == 0 and row["snr_db"] == math.inf and row["mean_ulp_error"] == 0


# Errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"policy": "fast"}, "unknown policy `fast`"),
    ({"low": "bfloat61"}, "did you mean `bfloat16`"),
    ({"low": "int32"}, "not a float type or number format"),
    ({"overrides": {"W9": "half"}}, "has no tensor `W9`"),
    ({"overrides": {7: "half"}}, "statements 0 to 2, not 7"),
    ({"overrides": ["W1"]}, "overrides must map"),
    ({"policy": "auto"}, "needs a budget"),
    ({"max_rel_error": 0.1}, "for policy `auto`"),
    ({"policy": "auto", "max_rel_error": 0.1, "margin": 2}, "in (0, 1]"),
])
def test_errors(kwargs, message):
    x = [np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.ones(4, np.float32)]
    with pytest.raises(tcir.TcError, match=re.escape(message)):
        tcir.mixed_precision(FCRELU, "fcrelu", *x, **kwargs)


def test_auto_refuses_a_start_that_misses_the_budget():
    x = [np.full((2, 3), 0.3, np.float32), np.full((4, 3), 0.3, np.float32), np.zeros(4, np.float32)]
    with pytest.raises(tcir.TcError, match="with the overrides already misses the budget"):
        tcir.mixed_precision(FCRELU, "fcrelu", *x, policy="auto", max_rel_error=1e-6,
                             overrides={"W1": "float8_e4m3fn"})


def test_input_errors():
    with pytest.raises(tcir.TcError, match="takes 3 inputs"):
        tcir.mixed_precision(FCRELU, "fcrelu", np.ones((2, 3), np.float32))
    with pytest.raises(tcir.TcError, match="no def `nope`"):
        tcir.accuracy_report(FCRELU, "nope")
    with pytest.raises(tcir.TcError, match="only float tensors"):
        assign_precision(_def("def f(int32(N) A) -> (O) { O(i) = float(A(i)) }"), overrides={"A": "half"})
    with pytest.raises(tcir.TcError, match="`auto` measures on sample inputs"):
        assign_precision(_def(FCRELU), "auto")


# tc-precision ------------------------------------------------------------------------


def _tc_precision(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tcir.tools.tc_precision", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_tc_precision_prints_the_assignment_source_and_report(tmp_path):
    out = _tc_precision(str(EXAMPLES / "fcrelu.tc"), "--entry", "fcrelu", "--sizes", "B=8,M=16,N=4", "--low",
                        "float8_e4m3fn", "--json", str(tmp_path / "r.json"), "--output", str(tmp_path / "f.tc"),
                        "--markdown")
    assert out.returncode == 0, out.stderr
    assert "W1_float8_e4m3fn: float8_e4m3fn" in out.stdout
    assert "statement 0: float8_e4m3fn, accumulated in float" in out.stdout
    assert "O1(b, n) +=! float(I_float8_e4m3fn(b, r_m)) * W1_float8_e4m3fn(n, r_m)" in out.stdout
    assert "| `O1` | float |" in out.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["assignment"]["0"] == "float8_e4m3fn, accumulated in float"
    assert {r["tensor"] for r in doc["report"]["tensors"]} == {"I_float8_e4m3fn", "W1_float8_e4m3fn", "O1"}
    assert "fcrelu" in check_source((tmp_path / "f.tc").read_text()).defs


def test_tc_precision_auto(tmp_path):
    out = _tc_precision(str(EXAMPLES / "fcrelu.tc"), "--entry", "fcrelu", "--sizes", "B=4,M=16,N=8",
                        "--policy", "auto", "--max-rel-error", "0.05", "--formats", "bfloat16")
    assert out.returncode == 0, out.stderr
    assert "tried:" in out.stdout and "W1 -> bfloat16" in out.stdout


@pytest.mark.parametrize("args, message", [
    (["--entry", "fcrelu"], "needs --sizes for `B`, `M`, `N`"),
    (["--entry", "nope", "--sizes", "B=1"], "no def named `nope`"),
    (["--entry", "fcrelu", "--sizes", "B=2,M=2,N=2", "--low", "fp9"], "unknown type `fp9`"),
    (["--entry", "fcrelu", "--sizes", "B=2,M=2,N=2", "--override", "W1"], "expected NAME=VALUE"),
])
def test_tc_precision_errors(args, message):
    out = _tc_precision(str(EXAMPLES / "fcrelu.tc"), *args)
    assert out.returncode == 1
    assert message in out.stderr and "Traceback" not in out.stderr


def test_tc_precision_unreadable_file(tmp_path):
    out = _tc_precision(str(tmp_path / "missing.tc"), "--entry", "f")
    assert out.returncode == 1 and "missing.tc:1:1: error: cannot read it" in out.stderr


def test_a_user_format_as_low():
    tcir.lowp.float_format("fp7_e3m3", exponent=3, mantissa=3, kind="fn")
    x = [np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6), np.linspace(1, -1, 18, dtype=np.float32).reshape(3, 6),
         np.zeros(3, np.float32)]
    mp = tcir.mixed_precision(FCRELU, "fcrelu", *x, low="fp7_e3m3")
    assert "W1_fp7_e3m3(i0, i1) = fp7_e3m3(W1(i0, i1))" in mp.source
    # the operands rounded to e3m3 (3 fraction bits, bias 3), the sum exact in float64
    def e3m3(v):
        v = np.asarray(v, np.float64)
        e = np.floor(np.log2(np.maximum(np.abs(v), 2.0**-2)))
        step = 2.0 ** (e - 3)
        return np.round(v / step) * step  # to nearest even; every value here is far below the largest
    want = np.maximum(e3m3(x[0]) @ e3m3(x[1]).T + x[2], 0)
    np.testing.assert_allclose(mp.kernel(*x), want, rtol=1e-6, atol=1e-6)


def test_an_output_whose_first_write_covers_less_keeps_its_declared_shape():
    """`float(N) O0` first written where `i` reaches only min(N, M): declared in the
    rewritten def too, or its shape would be min(N, M) (found by tests/strategies.py)."""
    src = """def f(float(N, M) A) -> (float(N) O0) {
        O0(i) = A(i, i)
        O0(i) = O0(i - 1) + O0(i) where i in 1:N
    }"""
    with pytest.warns(tcir.TcWarning, match="narrows the range of `i`"):
        mp = tcir.mixed_precision(src, "f", np.ones((8, 1), np.float32))
    assert "-> (float(N) O0)" in mp.source
    np.testing.assert_array_equal(mp.kernel(np.ones((8, 1), np.float32)), np.ones(8, np.float32))


def test_an_output_read_before_it_is_written_keeps_its_declared_type():
    src = "def f(float(N) A) -> (float O0, O1) {\n    O0 = O0 + 1.0\n    O1(i) = A(i) * O0\n}"
    a = np.arange(4, dtype=np.float32)
    mp = tcir.mixed_precision(src, "f", a, overrides={"O1": "bfloat16"})
    assert "-> (float O0, O1)" in mp.source and "O1(i) = bfloat16(A(i) * O0)" in mp.source
    o0, o1 = mp.kernel(a)
    np.testing.assert_array_equal(o1.astype(np.float64), rounded(a * (float(o0) if np.ndim(o0) == 0 else o0),
                                                                 ml_dtypes.bfloat16))
    assert mp.report.row("O1")["format"] == "bfloat16"
