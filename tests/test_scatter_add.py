"""Scatter-adds: a computed subscript on the left of `+=` (docs/language.md).

`T(I(b, l), d) += G(b, d)` adds at the element an integer tensor names. Checked here
through every layer against hand-written NumPy loops: the front end (what it accepts,
its errors), the `tc` dialect (syntax, verifier), the reference evaluator, compiled CPU
code under several mapping options, the GPU stage through the emulator (which also
checks for races), and the guard that skips an index outside the target. Gradients
that use scatter-adds are checked in tests/test_autodiff.py.
"""

from __future__ import annotations

import itertools

import ml_dtypes
import numpy as np
import pytest
from xdsl.utils.exceptions import VerifyException

import tcir
from tcir import MappingOptions, TcError
from tcir.checked_from_ir import checked_def
from tcir.driver import default_context, tc_to_module
from tcir.frontend import check_source
from tcir.frontend.printing import source_statements
from tcir.passes.convert_tc_to_gpu import ConvertTcToGpuPass
from tcir.testing.gpu_emulator import emulate
from tcir.testing.reference import evaluate

EMBEDDING_GRAD = """
def embedding_grad(float(E, D) W, int32(B, L) I, float(B, D) G) -> (d_W) {
    d_W(e, d) = 0.0 where e in 0:E, d in 0:D
    d_W(I(b, l), d) += G(b, d)
}
"""


def _embedding_grad(I, G, E, dtype=np.float32):
    """Hand-written: every update in order, an index outside [0, E) skipped."""
    out = np.zeros((E, G.shape[1]), dtype)
    for b, l in itertools.product(range(I.shape[0]), range(I.shape[1])):
        if 0 <= I[b, l] < E:
            out[I[b, l]] = (out[I[b, l]] + G[b]).astype(dtype)
    return out


def _inputs(E=7, D=5, B=6, L=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((E, D)).astype(dtype)
    I = rng.integers(0, E, (B, L)).astype(np.int32)
    G = rng.standard_normal((B, D)).astype(dtype)
    return W, I, G


# Front end ---------------------------------------------------------------------------------


def test_the_checked_statement_keeps_the_computed_subscript():
    d = check_source(EMBEDDING_GRAD).defs["embedding_grad"]
    s = d.stmts[1]
    assert (s.target, s.lhs, s.kind, s.init) == ("d_W", ["d"], "+", False)
    assert sorted(s.scatter) == [0] and s.reduction_vars == ["b", "l"]
    # `b` and `l` are inferred from the read of I inside the subscript
    assert {v: (str(lo), str(hi)) for v, (lo, hi) in s.ranges.items()} == {
        "d": ("0", "D"), "b": ("0", "B"), "l": ("0", "L")}
    assert [x.text() for x in source_statements(d.stmts)][1] == "d_W(I(b, l), d) += G(b, d)"


@pytest.mark.parametrize("body, col, message", [
    ("O(i) = A(i)\n    O(2) = A(i)", 7, "expected an index variable on the left side, found `2`"),
    ("O(i) = A(i)\n    O(i + 1) = A(i)", 7, "expected an index variable on the left side, found `i + 1`"),
    ("O(i) = A(i)\n    O(I(i)) +=! A(i)", 5, "a scatter-add, which takes `+=` (not `+=!`)"),
    ("O(i) = A(i)\n    O(I(i)) = A(i)", 5, "a scatter-add, which takes `+=` (not `=`)"),
    ("O(i) = A(i)\n    O(I(i)) max= A(i)", 5, "a scatter-add, which takes `+=` (not `max=`)"),
    ("O(I(i)) += A(i)", 5, "no earlier statement writes it; set it first"),
    ("O(i) = A(i)\n    O(I(i)) += O(i)", 5, "a scatter-add may not read its own target `O`"),
    ("O(i) = A(i)\n    O(A(i)) += A(i)", 7, "a subscript of `O` must be an integer, found `float`"),
])
def test_errors_are_located(body, col, message):
    source = f"def f(float(N) A, int32(N) I) -> (O) {{\n    {body}\n}}"
    with pytest.raises(TcError) as info:
        check_source(source, "s.tc")
    assert message in info.value.message
    assert (info.value.line, info.value.col) == (source[:source.index(body.split("\n")[-1].strip())].count("\n") + 1,
                                                 col)


def test_a_non_affine_subscript_is_a_scatter_add_too():
    source = """def pool(float(N) A) -> (O) {
        O(j) = 0.0 where j in 0:(N + 1) / 2
        O(i / 2) += A(i)
    }"""
    a = np.arange(7, dtype=np.float32)
    want = np.array([a[0] + a[1], a[2] + a[3], a[4] + a[5], a[6]], np.float32)
    np.testing.assert_array_equal(evaluate(check_source(source).defs["pool"], a)[0], want)
    np.testing.assert_array_equal(tcir.compile(source, "pool")(a), want)


# The tc dialect ----------------------------------------------------------------------------


def test_the_ir_yields_the_index_and_raises_back_to_the_same_def():
    module = tc_to_module(EMBEDDING_GRAD)
    text = str(module)
    assert "%d_W[at(0), %d] += {" in text and "tc.yield %0 at [%2] : f32" in text
    stmt = list(next(iter(module.ops)).body.block.ops)[1]
    assert len(stmt.yielded_indices) == 1 and [a.name_hint for a in stmt.reduction_iterators()] == ["b", "l"]
    raised = checked_def(next(iter(module.ops)))
    assert [x.text() for x in source_statements(raised.stmts)][1] == "d_W(I(b, l), d) += G(b, d)"


def test_the_verifier_refuses_a_yielded_index_without_a_scatter_add():
    module = tc_to_module(EMBEDDING_GRAD)
    stmt = list(next(iter(module.ops)).body.block.ops)[1]
    stmt.properties["kind"] = type(stmt.kind)("max")
    with pytest.raises(VerifyException, match="a write at yielded indices is a scatter-add"):
        module.verify()


# Results -----------------------------------------------------------------------------------


def test_reference_equals_hand_written_numpy_and_refuses_an_index_outside():
    d = check_source(EMBEDDING_GRAD).defs["embedding_grad"]
    W, I, G = _inputs()
    np.testing.assert_allclose(evaluate(d, W, I, G)[0], _embedding_grad(I, G, 7), rtol=1e-6)
    I[2, 1] = 7
    with pytest.raises(TcError, match=r"writes `d_W` at index 7 of dimension 0 \(subscript `I\(b, l\)` at "
                                      r"d=0, b=2, l=1\), outside \[0, 7\)"):
        evaluate(d, W, I, G)


@pytest.mark.parametrize("options", [
    "naive", "single_thread", "mlp", "tile=2,2,2", "tile=0 unroll=4", "outerScheduleFusionStrategy=Max tile=4",
])
def test_compiled_cpu_code_equals_hand_written_numpy(options):
    kernel = tcir.compile(EMBEDDING_GRAD, "embedding_grad",
                          options=options if options in MappingOptions.PRESETS else MappingOptions.parse(options))
    for seed in range(2):
        W, I, G = _inputs(E=9, D=33, B=17, L=5, seed=seed)
        I[0, 0], I[1, 1] = 9, -1  # outside: skipped, never written
        np.testing.assert_allclose(kernel(W, I, G), _embedding_grad(I, G, 9), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tc_type, dtype", [("half", np.float16), ("bfloat16", ml_dtypes.bfloat16),
                                             ("int32", np.int32)])
def test_low_precision_and_integer_updates_run_in_order(tc_type, dtype):
    """Rounded after every update, in the order of (b, l): bit for bit the loop's result."""
    source = f"""def embedding_grad({tc_type}(E, D) W, int32(B, L) I, {tc_type}(B, D) G) -> ({tc_type}(E, D) d_W) {{
        d_W(e, d) = 0
        d_W(I(b, l), d) += G(b, d)
    }}"""
    W, I, G = _inputs(E=5, D=4, B=30, L=4)
    W, G = W.astype(dtype), (G * 100 if dtype is np.int32 else G).astype(dtype)
    want = _embedding_grad(I, G, 5, dtype)
    d = check_source(source).defs["embedding_grad"]
    np.testing.assert_array_equal(evaluate(d, W, I, G)[0], want)
    np.testing.assert_array_equal(tcir.compile(source, "embedding_grad")(W, I, G), want)


@pytest.mark.parametrize("private, shared", [(False, False), (True, True)], ids=["global", "private+shared"])
@pytest.mark.parametrize("preset", MappingOptions.PRESETS)
def test_gpu_stage_through_the_emulator(preset, private, shared):
    """The GPU mapping keeps each element's updates in one thread, in order: the emulator
    (which refuses races) gives the loop's result, an index outside skipped."""
    W, I, G = _inputs(E=6, D=40, B=9, L=3, seed=3)
    I[4, 2] = 100
    module = tc_to_module(EMBEDDING_GRAD, entry="embedding_grad")
    options = MappingOptions(preset).usePrivateMemory(private).useSharedMemory(shared)
    ConvertTcToGpuPass(sizes="E=6,D=40,B=9,L=3", mapping=str(options)).apply(default_context(), module)
    module.verify()
    out = np.full((6, 40), 7.0, np.float32)  # the first statement sets it all
    emulate(module, "embedding_grad", [W, I, G, out])
    np.testing.assert_allclose(out, _embedding_grad(I, G, 6), rtol=1e-5, atol=1e-6)


# Rewriters keep scatter-adds (found by the random programs of tests/strategies.py) -------------


def test_a_rank_0_tensor_as_a_computed_subscript_is_written_with_parentheses():
    source = """def f(float(N) A, int32 k) -> (O0, O1) {
        O1 = k
        O0(i) = A(i)
        O0(O1()) += A(i)
    }"""
    d = check_source(source).defs["f"]
    assert [s.text() for s in source_statements(d.stmts)][2] == "O0(O1()) += A(i)"
    with pytest.raises(TcError, match=r"`O1` is a tensor, not an index variable \(as a scatter-add's subscript, "
                                      r"its value is `O1\(\)`\)"):
        check_source(source.replace("O0(O1())", "O0(O1)"))
    a = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(tcir.compile(source, "f")(a, 2)[0], a + np.float32([0, 0, 6, 0]))


def test_mixed_precision_keeps_the_computed_subscripts():
    from tcir.passes.assign_precision import assign_precision

    source = """def f(float(N) A, int32(N) I) -> (O) {
        O(i) = A(i)
        O(I(i)) += A(i)
    }"""
    result = assign_precision(check_source(source).defs["f"], "amp", "bfloat16", "float")
    assert "O(I(i)) += A(i)" in result.source


@pytest.mark.parametrize("preset", ["naive", "mlp"])
def test_a_scatter_add_without_direct_dimensions_is_no_block_reduction(preset):
    """`T(I(n)) += X(n)` has nothing parallel; its updates hit different elements, so it
    must not become a block reduction (which sums into one element): it runs in order."""
    source = """def h(float(N) X, int32(N) I, float(E) W) -> (T) {
        T(e) = 0.0 where e in 0:E
        T(I(n)) += X(n)
    }"""
    rng = np.random.default_rng(5)
    x, i = rng.standard_normal(300).astype(np.float32), rng.integers(0, 7, 300).astype(np.int32)
    want = np.zeros(7, np.float32)
    for n in range(300):
        want[i[n]] += x[n]
    module = tc_to_module(source, entry="h")
    ConvertTcToGpuPass(sizes="N=300,E=7", mapping=str(MappingOptions(preset))).apply(default_context(), module)
    out = np.zeros(7, np.float32)
    emulate(module, "h", [x, i, np.zeros(7, np.float32), out])
    np.testing.assert_array_equal(out, want)


def test_several_computed_dimensions_unsigned_and_int64_indices_scalars_and_bindings():
    source = """def f(float(B, D) G, uint8(B) R, int64(B) C, int32 s) -> (T, U) {
        T(r, c, d) = 0.0 where r in 0:4, c in 0:3, d in 0:D
        T(R(b), k, d) += G(b, d) where k = C(b)
        U(e) = 0.0 where e in 0:5
        U(s) += G(b, d)
    }"""
    rng = np.random.default_rng(7)
    g = rng.standard_normal((9, 6)).astype(np.float32)
    r, c = rng.integers(0, 4, 9).astype(np.uint8), rng.integers(0, 3, 9).astype(np.int64)
    want_t = np.zeros((4, 3, 6), np.float32)
    for b in range(9):
        want_t[r[b], c[b]] += g[b]
    want_u = np.zeros(5, np.float32)
    want_u[2] = g.sum()
    got_t, got_u = tcir.compile(source, "f")(g, r, c, 2)
    np.testing.assert_allclose(got_t, want_t, rtol=1e-6)
    np.testing.assert_allclose(got_u, want_u, rtol=1e-5)
    ref_t, ref_u = evaluate(check_source(source).defs["f"], g, r, c, 2)
    np.testing.assert_allclose(ref_t, want_t, rtol=1e-6)
