"""Number formats in TC, end to end on the CPU (issue 15 item 4): defs over fp8, fp4, int4,
a user float format and a fixed-point format compiled with tcir.compile and compared
bit-exactly against the NumPy reference evaluator (which computes every operation with
tcir.testing.exact_formats, independently of the generated code)."""

import ml_dtypes
import numpy as np
import pytest

import tcir
import tcir.lowp
from tcir.frontend import check_source
from tcir.passes import LLVM_PASSES, get_all_passes
from tcir.testing import exact_formats as ef
from tcir.testing import reference_lowp
from tcir.testing.reference import evaluate

# The end-to-end tests need the code generated for the formats (checked at collection).
needs_lower_lowp = pytest.mark.skipif(
    "lower-lowp" not in get_all_passes() and "lower-lowp" not in LLVM_PASSES,
    reason="the lower-lowp pass (passes/lower_lowp.py), which generates the formats' code, is not there yet")

FP7 = tcir.lowp.float_format("tst_fp7_e3m3", exponent=3, mantissa=3, kind="fn")
Q44 = tcir.lowp.fixed_format("tst_q4_4", integer=4, fraction=4, signed=True)

E4M3 = ml_dtypes.float8_e4m3fn


def same(got: np.ndarray, want: np.ndarray) -> None:
    """Bit-exact, NaN included."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes(), (got, want)


def check(source: str, *inputs) -> tuple:
    """Compiled on the CPU and evaluated by the reference: the same bits (for a format,
    the format's bits: what a storage integer holds above them may differ, as ml_dtypes'
    int4 arrays hold -2 as 0x0e where generated code may sign-extend it to 0xfe)."""
    program = check_source(source)
    entry = next(iter(program.defs))
    want = evaluate(program.defs[entry], *inputs)
    got = tcir.compile(source, entry, *inputs)(*inputs)
    got = got if isinstance(got, tuple) else (got,)
    for g, w, t in zip(got, want, program.defs[entry].outputs, strict=True):
        if t.dtype.is_lowp:
            assert g.dtype == w.dtype
            same(reference_lowp.patterns(g, t.dtype), reference_lowp.patterns(w, t.dtype))
        else:
            same(g, w)
    return got


def fp8(rng, shape, scale=4.0, dtype=E4M3):
    return (rng.standard_normal(shape) * scale).astype(dtype)


@needs_lower_lowp
def test_fp8_elementwise():
    rng = np.random.default_rng(1)
    a, b = fp8(rng, (5, 7)), fp8(rng, (5, 7))
    b[b.astype(np.float32) == 0] = E4M3(1.0)  # no 0 / 0 (whose NaN sign the hardware picks)
    check("""def f(float8_e4m3fn(M, N) a, float8_e4m3fn(M, N) b) -> (S, P, Q, D, X, L, G) {
        S(m, n) = a(m, n) + b(m, n) * 3
        P(m, n) = a(m, n) * b(m, n)
        Q(m, n) = a(m, n) / b(m, n)
        D(m, n) = -a(m, n) - b(m, n)
        X(m, n) = max(a(m, n), 0) + min(a(m, n), b(m, n))
        L(m, n) = a(m, n) < b(m, n) ? a(m, n) : b(m, n)
        G(m, n) = a(m, n) * 2.5
    }""", a, b)


@needs_lower_lowp
def test_fp8_overflow_follows_the_format():
    a = np.array([448.0, -448.0, 256.0, 1.0], np.float32)
    check("""def f(float(N) x) -> (P, Q) {
        P(n) = float8_e4m3fn(x(n)) * float8_e4m3fn(2)
        Q(n) = float8_e5m2(x(n)) * float8_e5m2(x(n)) * float8_e5m2(x(n))
    }""", a)


@needs_lower_lowp
def test_fp8_matmul_accumulates_in_float():
    rng = np.random.default_rng(2)
    # small integers times powers of two: every f32 partial sum is exact, whatever the order
    A = (rng.integers(-8, 8, (6, 16)) * 0.25).astype(E4M3)
    B = (rng.integers(-8, 8, (16, 5)) * 0.5).astype(E4M3)
    (C,) = check("""def matmul(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B) -> (float(M, N) C) {
        C(m, n) +=! A(m, r_k) * B(r_k, n)
    }""", A, B)
    products = (A.astype(np.float64)[:, :, None] * B.astype(np.float64)[None]).astype(E4M3)
    np.testing.assert_array_equal(C, products.astype(np.float32).sum(axis=1))


@needs_lower_lowp
def test_fp8_reductions_in_the_format():
    rng = np.random.default_rng(3)
    A, B = fp8(rng, (4, 9), 2.0), fp8(rng, (9, 3), 2.0)
    check("""def f(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B) -> (D, X, Y) {
        D(m, n) +=! A(m, k) * B(k, n)
        X(m, n) max=! A(m, k) * B(k, n)
        Y(m) min=! A(m, k)
    }""", A, B)


@needs_lower_lowp
def test_casts_float_fp8_fp4_float():
    x = np.array([0.3, 2.5, 7.0, -0.1, 1000.0, -3.3, 1e-4, 0.75, np.inf, np.nan], np.float32)
    e4, f4, back, again = check("""def f(float(N) x) -> (E, F, B, G) {
        E(n) = float8_e4m3fn(x(n))
        F(n) = float4_e2m1fn(x(n))
        B(n) = float(float4_e2m1fn(E(n)))
        G(n) = double(E(n)) + half(F(n))
    }""", x)
    same(e4, x.astype(E4M3))
    same(f4, x.astype(ml_dtypes.float4_e2m1fn))


@needs_lower_lowp
def test_user_float_format():
    values = [1.125, 2.0, 15.0, -0.5, 0.0625, -3.75]
    bits = np.array([ef.encode(FP7, v) for v in values], np.uint8)
    x = np.array([0.1, 3.3, -20.0, 7.5, 1.0, 0.0], np.float32)
    check("""def f(tst_fp7_e3m3(N) a, float(N) x) -> (P, C, F) {
        P(n) = a(n) * a(n) + tst_fp7_e3m3(1)
        C(n) = tst_fp7_e3m3(x(n))
        F(n) = float(a(n)) + x(n)
    }""", bits, x)


@needs_lower_lowp
def test_fixed_point_format():
    q = np.array([ef.encode(Q44, v) for v in [7.9375, -1.5, 0.5, -8.0, 3.25]]).astype(np.uint8).view(np.int8)
    x = np.array([0.03125, 0.09375, 100.0, -0.04, -2.6], np.float32)
    check("""def f(tst_q4_4(N) q, float(N) x) -> (S, M, C, D, F) {
        S(n) = q(n) + 1
        M(n) = q(n) * q(n)
        C(n) = tst_q4_4(x(n))
        D(n) = q(n) / 3
        F(n) = float(q(n)) * x(n)
    }""", q, x)


@needs_lower_lowp
def test_int4():
    x = np.array([2.7, -2.7, 9.0, -8.0, 0.4], np.float32)
    i = np.array([9, -9, 7, -7, 3], np.int32)
    a, b, *_ = check("""def f(float(N) x, int32(N) i) -> (A, B, Q, S, I) {
        A(n) = int4(x(n))
        B(n) = int4(i(n))
        Q(n) = int4(i(n)) / 2
        S(n) = int4(i(n)) + 1
        I(n) = int32(int4(i(n))) * 10
    }""", x, i)
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(a.astype(np.int8), x.astype(ml_dtypes.int4).astype(np.int8))


@needs_lower_lowp
def test_scalar_parameter_of_a_format():
    a = np.array([1.0, 2.0, -3.0], E4M3)
    k = tcir.compile("def f(float8_e4m3fn(N) a, float8_e4m3fn s) -> (P) { P(n) = a(n) * s }", "f", a, E4M3(0.3))
    same(k(a, E4M3(0.3)), np.array([0.3125, 0.625, -0.9375], E4M3))
    same(k(a, 0.3), np.array([0.3125, 0.625, -0.9375], E4M3))


# Through the pipeline's stages (no generated code needed) ----------------------------------

LOOPS_SOURCE = """def f(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B, tst_q4_4 s) -> (float(M, N) C, D, T) {
    C(m, n) +=! A(m, k) * B(k, n)
    D(m, n) max=! A(m, k) * B(k, n)
    T(m) +=! float8_e4m3fn(float(A(m, k)) * float(s))
}"""


def test_lowp_tensors_are_memrefs_of_lowp_types():
    from tcir.backends.cpu import host_machine
    from tcir.driver import CpuTarget, Job, Layout, lower, tc_to_module
    from tcir.mapping_options import MappingOptions

    tc = tc_to_module(LOOPS_SOURCE)
    text = str(tc)
    assert "!tc.tensor<[M, K], !lowp.float<e4m3, fn>>" in text and "%s : !lowp.fixed<s4.4, saturate>" in text
    assert "lowp.mul" in text and "lowp.cast %2 : !lowp.float<e4m3, fn> to f32" in text
    loops = str(lower(tc, CpuTarget(host_machine()), "loops",
                      Job(Layout.of({"M": 4, "N": 3, "K": 2}), MappingOptions("naive"))))
    assert "memref<4x2x!lowp.float<e4m3, fn>>" in loops
    assert "lowp.max" in loops and "lowp.add" in loops  # the reductions into the format combine in it
    # max=! starts from the format's smallest value (no infinities in fn), +=! from 0
    assert "arith.constant -4.480000e+02 : f64" in loops


def test_gpu_stage_accepts_formats():
    from tcir.backends import gpu_plan
    from tcir.driver import CudaTarget, Job, Layout, lower, tc_to_module
    from tcir.mapping_options import MappingOptions

    gpu = lower(tc_to_module(LOOPS_SOURCE), CudaTarget(), "gpu",
                Job(Layout.of({"M": 64, "N": 32, "K": 16}), MappingOptions("mlp")))
    specs = gpu_plan.plan(gpu, "f").params
    assert [getattr(s, "dtype", None) for s in specs] == [np.dtype(np.uint8), np.dtype(np.uint8), np.dtype(np.int8),
                                                          np.dtype(np.float32), np.dtype(np.uint8), np.dtype(np.uint8)]


def test_cache_key_holds_the_formats_named():
    from tcir.driver import _formats_named, canonical_source

    assert _formats_named(canonical_source(LOOPS_SOURCE)) == {
        "float8_e4m3fn": repr(tcir.lowp.get_format("float8_e4m3fn")), "tst_q4_4": repr(Q44)}
    assert _formats_named(canonical_source("def f(float(N) A) -> (B) { B(n) = A(n) }")) == {}


def test_argument_errors_name_the_conversion():
    k = tcir.define("def f(float8_e4m3fn(N) a, tst_q4_4(N) q, tst_q4_4 s) -> (P) {\n"
                    "  P(n) = float(a(n)) * float(q(n))\n}").f
    with pytest.raises(tcir.TcError, match=r"must have dtype float8_e4m3fn .*pass x.astype\(ml_dtypes.float8_e4m3fn\)"):
        k(np.zeros(2, np.float32), np.zeros(2, np.int8), np.int8(0))
    with pytest.raises(tcir.TcError, match=r'must have dtype int8 .*tcir.lowp.encode\(x, "tst_q4_4"\)'):
        k(np.zeros(2, E4M3), np.zeros(2, np.float32), np.int8(0))
    with pytest.raises(tcir.TcError, match=r'scalar `s` of `f` is `tst_q4_4`: pass its encoded pattern, '
                                           r'tcir.lowp.encode\(x, "tst_q4_4"\) \(a int8\), got float'):
        k(np.zeros(2, E4M3), np.zeros(2, np.int8), 0.5)


# The GPU mapping, through the emulator (lowp ops computed as the reference does) ----------------

GPU_SOURCE = """def f(float8_e4m3fn(M, K) A, float8_e4m3fn(K, N) B, tst_q4_4(N) q) -> (float(M, N) C, D, X, Q) {
    C(m, n) +=! A(m, k) * B(k, n)
    D(m, n) +=! A(m, k) * B(k, n)
    X(m, n) max=! A(m, k) * B(k, n)
    Q(m, n) = q(n) * 2 + tst_q4_4(C(m, n))
}"""


@pytest.mark.parametrize("preset", ["naive", "mlp", "pointwise"])
@pytest.mark.parametrize("shared", [False, True])
def test_gpu_mapping_through_the_emulator(preset, shared):
    from tcir.driver import CudaTarget, Job, Layout, lower, tc_to_module
    from tcir.mapping_options import MappingOptions
    from tcir.testing.gpu_emulator import emulate

    rng = np.random.default_rng(4)
    A = (rng.integers(-8, 8, (8, 12)) * 0.25).astype(E4M3)
    B = (rng.integers(-8, 8, (12, 6)) * 0.5).astype(E4M3)
    q = rng.integers(-128, 128, 6).astype(np.int8)
    want = evaluate(check_source(GPU_SOURCE).defs["f"], A, B, q)
    options = MappingOptions(preset).useSharedMemory(shared)
    module = lower(tc_to_module(GPU_SOURCE), CudaTarget(), "gpu", Job(Layout.of({"M": 8, "N": 6, "K": 12}), options))
    got = [np.zeros(w.shape, w.dtype) for w in want]
    emulate(module, "f", [A, B, q, *got])
    for g, w in zip(got, want):
        same(g, w)


@pytest.mark.gpu
@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "float8_e5m2"])
def test_fp8_conversions_on_the_gpu_match_the_cpu(gpu, fmt):
    """On sm_90 these casts use the hardware's `cvt` (passes/lower_lowp.py,
    `hardware_cast`); elsewhere the software routines. Either way, the CPU's bits:
    every f16 value, random f32 patterns, and back."""
    source = f"""
def roundtrip(float(N) X) -> ({fmt}(N) Y, float(N) Z) {{
    Y(i) = {fmt}(X(i))
    Z(i) = float(Y(i))
}}"""
    rng = np.random.default_rng(0)
    x = np.concatenate([np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32),
                        rng.integers(0, 1 << 32, 1 << 18, dtype=np.uint64).astype(np.uint32).view(np.float32)])
    y_gpu, z_gpu = tcir.compile(source, "roundtrip", x, target="cuda")(x)
    y_cpu, z_cpu = tcir.compile(source, "roundtrip", x)(x)
    same(y_gpu, y_cpu)
    same(z_gpu, z_cpu)
