"""Upstream MLIR interop: tcir's affine-level IR, printed in generic form, is lowered by
upstream `mlir-opt-19` to the LLVM dialect and executed by `mlir-cpu-runner`; the
results must match tcir's own CPU backend. Canonical examples (two shapes each),
every language construct, every builtin per float dtype, and random programs
(`strategies.tc_programs`).

Skipped, with the reason, only where `mlir-opt-19` is absent (`.ci/run` installs
Debian's `mlir-19-tools` and `libmlir-19-dev`). Where mlir-opt-19 is present but the
runner or its libraries are not, the tests fail and say which package is missing.
"""

import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

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
from tcir.backends.cpu import ObjectModule, compile_object, invoke
from tcir.testing import mlir_interop
from tcir.testing.gpu_emulator import emulate
from tcir.tools.mlir_io import parse_mlir

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


# tc-opt's round trips with upstream MLIR 19 -------------------------------------------
# What tc-opt prints at the llvm and gpu stages is read by mlir-opt-19 (the llvm stage
# also translated by mlir-translate-19 and run); what mlir-opt-19 prints after lowering
# tcir's affine stage with upstream's passes is read back by tc-opt and compiled by
# tcir's backend. Every result is compared with hand-written NumPy.

TC_OPT = str(Path(sys.executable).parent / "tc-opt")


def tc_opt(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run([TC_OPT, *args], input=stdin, capture_output=True, text=True)
    assert done.returncode == 0, f"tc-opt {' '.join(args)} failed:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    return done.stdout


def _round_half_away(x):
    x = np.asarray(x, np.float64)
    return np.where(x >= 0, np.floor(x + 0.5), np.ceil(x - 0.5)).astype(np.float32)


@dataclass(frozen=True)
class Program:
    """A TC def with inputs and a hand-written NumPy reference (outputs in order)."""

    source: str
    entry: str
    inputs: Callable[[np.random.Generator], tuple]
    numpy: Callable[..., tuple]

    def sizes(self, inputs) -> str:
        _call, _outs, _arrays, layout = getattr(tcir.define(self.source), self.entry).prepare(inputs)
        return ",".join(f"{k}={v}" for k, v in layout.sizes)


def _example(name: str) -> Program:
    e = next(e for e in EXAMPLES_SET if e.entry == name)
    return Program(e.source, e.entry, lambda rng: e.inputs(rng, e.shapes[0]), e.numpy)


PROGRAMS = {
    "matmul": _example("matmul"),
    "softmax": _example("softmax"),
    "maxpool2x2": _example("maxpool2x2"),
    "2LUT": _example("_2LUT"),
    # max/min reductions (upstream: llvm.intr.maximum, llvm.intr.smax), a window
    "reductions": Program(
        "def f(float(M, K) A, int32(M, K) I, float(K) W) -> (H, L, S, IH, B) {\n"
        "  H(m) max=! A(m, k)\n  L(m) min=! A(m, k)\n  S(m) +=! A(m, k) * A(m, k)\n  IH(m) max=! I(m, k)\n"
        "  B(m) +=! A(m, k + j) * W(j) where k in 0:2\n}", "f",
        lambda r: (rand(r, np.float32, 3, 5), rand(r, np.int32, 3, 5), rand(r, np.float32, 5)),
        lambda A, I, W: (A.max(1), A.min(1), (A * A).sum(1), I.max(1),
                         sum(A[:, k + j] * W[j] for k in range(2) for j in range(4)))),
    # casts and math upstream lowers to ops xDSL lacks (llvm.fptosi/fptoui/uitofp,
    # llvm.intr.round/trunc/log10) or to libm calls (#llvm.memory_effects)
    "casts_and_math": Program(
        "def f(float(N) A, float(N) B, uint32(N) U) -> (T, R, X, Y, Z, W, V) {\n"
        "  T(i) = int32(A(i))\n  R(i) = round(A(i)) + trunc(B(i))\n  X(i) = fmax(A(i), B(i)) + fabs(B(i))\n"
        "  Y(i) = atan2(A(i), B(i))\n  Z(i) = tanh(A(i)) + log10(fabs(B(i)) + 1.0)\n  W(i) = float(U(i))\n"
        "  V(i) = uint8(fabs(A(i)) * 10.0)\n}", "f",
        lambda r: (rand(r, np.float32, 9), rand(r, np.float32, 9),
                   r.integers(0, 2**32, 9, dtype=np.uint64).astype(np.uint32)),
        lambda A, B, U: (A.astype(np.int32), _round_half_away(A) + np.trunc(B), np.fmax(A, B) + np.abs(B),
                         np.arctan2(A, B), np.tanh(A) + np.log10(np.abs(B) + np.float32(1)), U.astype(np.float32),
                         (np.abs(A) * np.float32(10)).astype(np.uint8))),
    # a temporary: malloc and free calls upstream
    "temporaries": Program(
        "def f(float(N, M) A) -> (O) {\n  T(i) +=! A(i, j) * A(i, j)\n  O(i, j) = A(i, j) / sqrt(T(i) + 1.0)\n}", "f",
        lambda r: (rand(r, np.float32, 4, 6),),
        lambda A: (A / np.sqrt((A * A).sum(1) + 1)[:, None],)),
}


def _expected(program: Program, inputs) -> tuple:
    return tuple(np.asarray(x) for x in program.numpy(*inputs))


def _compare(got: Sequence[np.ndarray], want: Sequence[np.ndarray], what: str) -> None:
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"output {k} of {what}"
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-6, err_msg=f"output {k} of {what}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {k} of {what}")


def _run_llvm_ir(ir: str, entry: str, inputs, outputs, descriptors: bool) -> None:
    """Compile LLVM IR text with tcir's backend and call @entry on the inputs and
    outputs: memrefs as bare pointers, or (`descriptors`) as MLIR's memref descriptor
    (allocated and aligned pointer, offset, sizes, strides)."""
    code, signatures = compile_object(ir)
    args = []
    for a in (*inputs, *outputs):
        if isinstance(a, np.ndarray) and descriptors:
            args += [a, a, 0, *a.shape, *[s // a.itemsize for s in a.strides]]
        else:
            args.append(a)
    invoke(ObjectModule(code, signatures).function(entry), args)


@pytest.fixture(scope="module")
def translate(tools):
    found = mlir_interop.find_mlir_translate()
    assert found is not None, "mlir-translate-19 (Debian package mlir-19-tools) is missing"
    return found


@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_llvm_stage_is_read_and_translated_by_upstream(tools, translate, tmp_path, name, generic):
    """`tc-opt --emit=llvm [--print-op-generic]` is valid MLIR 19 (the llvm dialect's
    overflow flags as `#llvm.overflow<...>`): mlir-opt-19 reads it, mlir-translate-19
    turns it into LLVM IR, which computes what NumPy does."""
    program = PROGRAMS[name]
    inputs = program.inputs(np.random.default_rng(7))
    source = tmp_path / "p.tc"
    source.write_text(program.source)
    text = tc_opt(str(source), "--entry", program.entry, "--sizes", program.sizes(inputs), "--emit=llvm",
                  *(["--print-op-generic"] if generic else []))
    if generic and "overflow" in text:
        assert "overflowFlags = #llvm.overflow<" in text and "overflowFlags = 1 : i32" not in text
    mlir_interop.run_tool(tools.mlir_opt, text, [], "upstream mlir-opt")
    ir = mlir_interop.run_tool(translate, text, ["--mlir-to-llvmir"], "upstream mlir-translate")
    want = _expected(program, inputs)
    got = [np.zeros_like(w) for w in want]
    _run_llvm_ir(ir, program.entry, inputs, got, descriptors=False)
    _compare(got, want, f"{name} through mlir-translate")


@pytest.mark.parametrize("pipeline", ["bare-pointer", "convert-to-llvm"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_upstream_lowering_reads_back_into_tc_opt(tools, tmp_path, name, pipeline):
    """tcir's affine stage (in tc-opt's custom form: MLIR's short `%A[%i + %j]`
    syntax), lowered to the llvm dialect by mlir-opt-19 and printed in both forms, is
    read back by tc-opt (upstream's llvm.intr.maximum, llvm.fptosi, libm declarations
    ...), which lowers it to LLVM IR that computes what NumPy does."""
    program = PROGRAMS[name]
    inputs = program.inputs(np.random.default_rng(11))
    source = tmp_path / "p.tc"
    source.write_text(program.source)
    affine = tc_opt(str(source), "--entry", program.entry, "--sizes", program.sizes(inputs), "--emit=affine")
    passes = mlir_interop.BARE_POINTER_PIPELINE if pipeline == "bare-pointer" else mlir_interop.CONVERT_TO_LLVM_PIPELINE
    want = _expected(program, inputs)
    for printed in ([], ["--mlir-print-op-generic"]):
        lowered = mlir_interop.run_tool(tools.mlir_opt, affine, [*passes, *printed], "upstream mlir-opt")
        ir = tc_opt("--emit=llvm-ir", stdin=lowered)
        got = [np.zeros_like(w) for w in want]
        _run_llvm_ir(ir, program.entry, inputs, got, descriptors=pipeline != "bare-pointer")
        _compare(got, want, f"{name} lowered by upstream ({pipeline}, {printed or 'custom'})")


@pytest.mark.parametrize("generic", [False, True], ids=["custom", "generic"])
@pytest.mark.parametrize("name", ["matmul", "softmax", "reductions"])
def test_gpu_stage_round_trips_through_upstream(tools, tmp_path, name, generic):
    """`tc-opt --emit=gpu` is valid MLIR 19 (kernels marked `gpu.kernel`, `gpu.module`
    terminated by `gpu.module_end`); what mlir-opt-19 prints back (generic form) is
    read by tc-opt, and the kernels run by the GPU emulator compute what NumPy does."""
    program = PROGRAMS[name]
    inputs = program.inputs(np.random.default_rng(5))
    source = tmp_path / "p.tc"
    source.write_text(program.source)
    text = tc_opt(str(source), "--entry", program.entry, "--sizes", program.sizes(inputs), "--emit=gpu",
                  "--mapping", "naive", *(["--print-op-generic"] if generic else []))
    upstream = mlir_interop.run_tool(tools.mlir_opt, text, ["--mlir-print-op-generic"], "upstream mlir-opt")
    assert '"gpu.module_end"' in upstream and "gpu.kernel" in upstream
    module = parse_mlir(tc_opt(stdin=upstream))
    want = _expected(program, inputs)
    got = [np.zeros_like(w) for w in want]
    emulate(module, program.entry, [*inputs, *got])
    _compare(got, want, f"{name} through upstream's gpu dialect")


def test_tc_opt_reports_ops_it_cannot_read(tools, tmp_path):
    """Upstream IR with an op tc-opt does not know is a located error, not a crash."""
    text = mlir_interop.run_tool(tools.mlir_opt, "func.func @f(%x: f32) -> f32 {\n  %0 = math.sinh %x : f32\n"
                                 "  %1 = llvm.intr.fmuladd(%0, %0, %x) : (f32, f32, f32) -> f32\n"
                                 "  func.return %1 : f32\n}\n", [], "upstream mlir-opt")
    path = tmp_path / "upstream.mlir"
    path.write_text(text)
    done = subprocess.run([TC_OPT, str(path)], capture_output=True, text=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert re.match(rf"{re.escape(str(path))}:\d+:\d+: error: Operation llvm.intr.fmuladd is not registered",
                    done.stderr)
