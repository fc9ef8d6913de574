"""Upstream MLIR interop: tcir's affine-level IR, printed in generic form, is lowered by
upstream `mlir-opt-19` to the LLVM dialect and executed by `mlir-cpu-runner`; the
results must match tcir's own CPU backend. Canonical examples (two shapes each),
every language construct, every builtin per float dtype, and random programs
(`strategies.tc_programs`).

Skipped, with the reason, only where `mlir-opt-19` is absent (`.ci/run` installs
Debian's `mlir-19-tools` and `libmlir-19-dev`). Where mlir-opt-19 is present but the
runner or its libraries are not, the tests fail and say which package is missing.
"""

import warnings

import ml_dtypes
import numpy as np
import pytest
from canonical import EXAMPLES_SET
from hypothesis import given, settings
from strategies import compare_outputs, examples, tc_programs
from test_cpu_constructs import BUILTIN_ARGS, CONSTRUCTS, _domain, rand

import tcir
from tcir.frontend import check_source
from tcir.frontend.builtins import ARITY
from tcir.testing import mlir_interop

TOLERANCE = {  # (rtol, atol) by output dtype; other dtypes must match exactly
    np.dtype(np.float32): (3e-5, 1e-5),
    np.dtype(np.float64): (1e-11, 1e-12),
    np.dtype(np.float16): (2e-3, 2e-3),
    np.dtype(ml_dtypes.bfloat16): (1.6e-2, 1e-2),
}


@pytest.fixture(scope="module")
def tools():
    """The upstream tools: a skip where mlir-opt-19 is absent, a failure naming the
    missing package where only the runner or its libraries are."""
    if mlir_interop.find_mlir_opt() is None:
        pytest.skip("upstream MLIR interop: mlir-opt-19 not found (install Debian's mlir-19-tools "
                    "and libmlir-19-dev, as .ci/run does)")
    found = mlir_interop.find_tools()
    assert found is not None, mlir_interop.missing_tools()
    return found


def check_against_tcir(tools, source, entry, inputs, filename="<string>"):
    """Upstream's outputs against tcir's, with a tolerance by dtype for floats."""
    upstream = mlir_interop.run_upstream(source, entry, *inputs, tools=tools, filename=filename)
    ours = getattr(tcir.define(source, filename), entry)(*inputs)
    upstream = upstream if isinstance(upstream, tuple) else (upstream,)
    ours = ours if isinstance(ours, tuple) else (ours,)
    assert len(upstream) == len(ours)
    for k, (got, want) in enumerate(zip(upstream, ours)):
        assert got.dtype == want.dtype and got.shape == want.shape, f"output {k}"
        if got.dtype in TOLERANCE:
            rtol, atol = TOLERANCE[got.dtype]
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=f"output {k} of {entry}:\n{source}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"output {k} of {entry}:\n{source}")


# The canonical examples ---------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_example(tools, example):
    assert len(example.shapes) >= 2
    for seed, sizes in enumerate(example.shapes[:2]):
        inputs = example.inputs(np.random.default_rng(seed), sizes)
        check_against_tcir(tools, example.source, example.entry, inputs, example.file + ".tc")


# Every construct and builtin ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
def test_construct(tools, name):
    source, make = CONSTRUCTS[name]
    check_against_tcir(tools, source, "f", make(np.random.default_rng(3), 3))


def _builtin_groups(fns):
    """Builtins grouped by input domain: one def per group, one output per builtin."""
    groups: dict[tuple[float, float], list[str]] = {}
    for fn in sorted(fns):
        groups.setdefault(_domain(fn), []).append(fn)
    return sorted(groups.items())


# every builtin for float and double; a third of them each for half and bfloat16 (time)
BUILTIN_CASES = [("float", sorted(ARITY)), ("double", sorted(ARITY)),
                 ("half", sorted(ARITY)[0::3]), ("bfloat16", sorted(ARITY)[1::3])]


@pytest.mark.parametrize("dtype, fns", BUILTIN_CASES, ids=[d for d, _ in BUILTIN_CASES])
def test_builtins(tools, dtype, fns):
    np_type = {"float": np.float32, "double": np.float64, "half": np.float16, "bfloat16": ml_dtypes.bfloat16}[dtype]
    rng = np.random.default_rng(1)
    for (low, high), group in _builtin_groups(fns):
        body = []
        for fn in group:
            args = BUILTIN_ARGS[ARITY[fn]]
            if fn in ("fmod", "remainder", "fdivide"):
                args = "A(i), (fabs(B(i)) < 0.3 ? 0.5 : B(i))"
            elif fn == "pow":
                args = "fabs(A(i)) + 0.1, B(i)"
            body.append(f"  O_{fn}(i) = {fn}({args})")
        source = (f"def f({dtype}(N) A, {dtype}(N) B, {dtype}(N) C) -> ({', '.join(f'O_{fn}' for fn in group)}) {{\n"
                  + "\n".join(body) + "\n}")
        inputs = [rand(rng, np_type, 5, low=low, high=high) for _ in range(3)]
        check_against_tcir(tools, source, "f", inputs)


def test_strided_input_views(tools):
    """Transposed and stepped input views: the kernel is specialized to their strides, as
    tcir's API does, so upstream lowers strided memref layouts; a reversed view (negative
    stride) is passed as a dense copy."""
    source = "def mm(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }"
    rng = np.random.default_rng(5)
    a = rand(rng, np.float32, 9, 6).T  # (6, 9), strides (1, 6)
    b = rand(rng, np.float32, 18, 10)[::2, ::3]  # (9, 4), strides (20, 3)
    text = mlir_interop.prepare_upstream(source, "mm", a, b).module_text
    assert "memref<6x9xf32, strided<[1, 6]>>" in text and "memref<9x4xf32, strided<[20, 3]>>" in text
    check_against_tcir(tools, source, "mm", (a, b))
    check_against_tcir(tools, source, "mm", (a, rand(rng, np.float32, 9, 4)[::-1]))


def test_interop_module_is_generic_affine_ir():
    """What upstream receives: the kernel at the affine stage in generic form, no
    tcir dialect left (tc.builtin lowered by tcir's own patterns)."""
    source = "def f(float(N) A, float s) -> (B) { B(i) = erfinv(A(i)) * s + exp(A(i)) }"
    run = mlir_interop.prepare_upstream(source, "f", np.zeros(3, np.float32), 2.0)
    assert run.lowered_builtins == 1
    text = run.module_text
    assert '"func.func"() <{sym_name = "f"' in text and '"affine.for"()' in text and '"math.exp"' in text
    assert "tc." not in text
    assert "arith.constant 0x40000000 : f32" in text  # the scalar, as its bit pattern


def test_tool_failures_carry_stderr(tools):
    with pytest.raises(mlir_interop.MlirInteropError, match=r"(?s)upstream mlir-opt failed.*--- stderr ---.*error:"):
        mlir_interop.lower_and_execute('module { "tc.nothing"() : () -> () }', tools, keep_on_failure=False)


# Random programs ----------------------------------------------------------------------


@settings(max_examples=examples(30))  # the profile (tests/conftest.py) sets the rest
@given(tc_programs())
def test_random_program(tools, program):
    inputs = program.inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tcir.TcWarning)
        names = [t.name for t in check_source(program.source).defs[program.entry].outputs]
        upstream = mlir_interop.run_upstream(program.source, program.entry, *inputs, tools=tools)
        ours = getattr(tcir.define(program.source), program.entry)(*inputs)
    compare_outputs(program, upstream, ours if isinstance(ours, tuple) else (ours,), names)
