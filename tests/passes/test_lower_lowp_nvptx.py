"""lower-lowp on the GPU path: gpu.module kernels using lowp ops, through the NVPTX
backend (lower-lowp runs before convert-gpu-to-nvvm there), assembled by ptxas when it
is installed. No GPU is needed.

The routines are the CPU's (integer and f64 arithmetic, `llvm.fma`, `llvm.ctlz`), so
their results are those the CPU tests check; here: that every kind of routine compiles
for sm_80 and sm_90, is inlined (no `.func`, no `call`) and assembles, and that shared
memory of a lowp type works. For sm_90, casts between f32/f16 and float8_e4m3fn/e5m2
use the hardware's `cvt` instructions: their routines are evaluated over every f16
pattern, a million random f32 values and the boundaries with NumPy models of the
instructions (tcir/testing/ptx_conversions.py) and compared with ml_dtypes. The gpu
emulator (tcir/testing/gpu_emulator.py) does not run `func.call`, so the kernels are
not emulated.
"""

from __future__ import annotations

from functools import cache

import ml_dtypes
import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from tcir.backends import nvptx
from tcir.dialects import default_context
from tcir.passes import lower_lowp
from tcir.testing.ptx_conversions import evaluate_routine

needs_ptxas = pytest.mark.skipif(nvptx.find_ptxas() is None,
                                 reason="ptxas not found (pip install nvidia-cuda-nvcc-cu12, or set CUDA_HOME)")

E4M3 = "!lowp.float<e4m3, fn>"
E5M2 = "!lowp.float<e5m2, ieee>"
E8M0 = "!lowp.float<e8m0, unsigned>"
Q = "!lowp.fixed<s4.4, saturate>"
UQ = "!lowp.fixed<u0.32, wrap>"


def gpu_module(name: str, kernels: str, globals_: str = "") -> str:
    return f'"gpu.module"() <{{sym_name = "{name}"}}> ({{{globals_}{kernels}\n}}) : () -> ()\n'


def kernel(name: str, args: list[tuple[str, str]], body: str) -> str:
    types = ", ".join(t for _, t in args)
    params = ", ".join(f"%{n}: {t}" for n, t in args)
    return f"""
  "gpu.func"() <{{function_type = ({types}) -> (), kernel}}> ({{
  ^bb0({params}):
    %t = "gpu.thread_id"() <{{dimension = #gpu<dim x>}}> : () -> index
{body}
    "gpu.return"() : () -> ()
  }}) {{sym_name = "{name}", gpu.known_block_size = array<i32: 64, 1, 1>}} : () -> ()"""


# One kernel per kind of routine: casts (every rounding, integers, fixed point, standard
# floats), float-format arithmetic (f64 and round-to-odd), fixed-point arithmetic
# (64-bit products and divisions), comparisons and min/max.
EVERYTHING = kernel("everything", [("X", "memref<64xf32>"), ("D", "memref<64xf64>"), ("I", "memref<64xi64>"),
                                   ("R", "memref<64xi32>"), ("Y", f"memref<64x{E4M3}>"), ("Z", f"memref<64x{Q}>"),
                                   ("F", "memref<64xf32>"), ("B", "memref<64xi1>"), ("U", f"memref<64x{UQ}>"),
                                   ("H", "memref<64xbf16>"), ("S", f"memref<64x{E8M0}>")], f"""
    %x = memref.load %X[%t] : memref<64xf32>
    %d = memref.load %D[%t] : memref<64xf64>
    %i = memref.load %I[%t] : memref<64xi64>
    %r = memref.load %R[%t] : memref<64xi32>
    %a = lowp.cast %x : f32 to {E4M3}
    %b = lowp.cast %d rounding stochastic random %r overflow saturate : f64 to {E4M3}
    %c = lowp.cast %i rounding toward_zero : i64 to {E4M3}
    %e = lowp.cast %x rounding stochastic random %r : f32 to {E5M2}
    %s1 = lowp.add %a, %b : {E4M3}
    %s2 = lowp.sub %s1, %c rounding toward_zero : {E4M3}
    %s3 = lowp.mul %s2, %a rounding stochastic random %r : {E4M3}
    %s4 = lowp.div %s3, %b rounding toward_zero overflow saturate : {E4M3}
    %s5 = lowp.fma %s4, %a, %c rounding stochastic random %r : {E4M3}
    %s6 = lowp.max %s5, %s1 : {E4M3}
    %s7 = lowp.neg %s6 : {E4M3}
    %em = lowp.cast %e : {E5M2} to {E4M3}
    %s8 = lowp.min %s7, %em : {E4M3}
    %lt = lowp.cmp ult, %s8, %a : {E4M3}
    memref.store %s8, %Y[%t] : memref<64x{E4M3}>
    memref.store %lt, %B[%t] : memref<64xi1>
    %q = lowp.cast %x rounding stochastic random %r : f32 to {Q}
    %q2 = lowp.mul %q, %q rounding stochastic random %r : {Q}
    %q3 = lowp.div %q2, %q : {Q}
    %q4 = lowp.fma %q3, %q, %q2 rounding toward_zero overflow saturate : {Q}
    %q5 = lowp.abs %q4 : {Q}
    memref.store %q5, %Z[%t] : memref<64x{Q}>
    %u = lowp.cast %d rounding stochastic random %r : f64 to {UQ}
    %u2 = lowp.div %u, %u rounding stochastic random %r : {UQ}
    %u3 = lowp.mul %u2, %u : {UQ}
    memref.store %u3, %U[%t] : memref<64x{UQ}>
    %f = lowp.cast %s8 : {E4M3} to f32
    %g = lowp.cast %q5 : {Q} to f32
    %h = arith.addf %f, %g : f32
    memref.store %h, %F[%t] : memref<64xf32>
    %bh = lowp.cast %d rounding stochastic random %r overflow saturate : f64 to bf16
    memref.store %bh, %H[%t] : memref<64xbf16>
    %sc = lowp.cast %x rounding toward_zero : f32 to {E8M0}
    memref.store %sc, %S[%t] : memref<64x{E8M0}>""")

SHARED = gpu_module("shared", kernel("through_shared", [("X", "memref<64xf32>"), ("Y", f"memref<64x{E5M2}>")], f"""
    %buf = "memref.get_global"() <{{name = @buf}}> : () -> memref<64x{E5M2}, 3 : i64>
    %v = memref.load %X[%t] : memref<64xf32>
    %w = lowp.cast %v : f32 to {E5M2}
    memref.store %w, %buf[%t] : memref<64x{E5M2}, 3 : i64>
    "gpu.barrier"() : () -> ()
    %c63 = arith.constant 63 : index
    %o = arith.subi %c63, %t : index
    %u = memref.load %buf[%o] : memref<64x{E5M2}, 3 : i64>
    memref.store %u, %Y[%t] : memref<64x{E5M2}>"""),
    globals_=f'\n  "memref.global"() <{{sym_name = "buf", type = memref<64x{E5M2}, 3 : i64>, initial_value, '
             f'sym_visibility = "private"}}> : () -> ()')


def parse(text: str) -> ModuleOp:
    return Parser(default_context(), text).parse_module()


@cache
def everything_ptx(arch: str) -> str:
    return nvptx.ptx_for_module(parse(gpu_module("k", EVERYTHING) + SHARED), arch)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_kind_of_routine_compiles_to_ptx_inlined(arch):
    ptx = everything_ptx(arch)
    assert f".target {arch}" in ptx
    assert ".visible .entry everything(" in ptx and ".visible .entry through_shared(" in ptx
    assert ".func" not in ptx and "call" not in ptx  # every routine inlined
    assert ".shared" in ptx and "st.shared.b8" in ptx  # e5m2 in shared memory: bytes
    assert "fma.rn.f64" in ptx  # the exact remainder of division
    assert "clz.b64" in ptx  # the i64 source, normalized


@needs_ptxas
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_ptxas_assembles_the_routines(arch):
    assert nvptx.assemble(everything_ptx(arch), arch)


def test_routines_of_several_gpu_modules_merge():
    """Each gpu.module has its copy of a routine; the identical internal copies merge in
    the one LLVM module of the kernels."""
    body = f"""
    %v = memref.load %X[%t] : memref<64xf32>
    %w = lowp.cast %v : f32 to {E4M3}
    memref.store %w, %Y[%t] : memref<64x{E4M3}>"""
    args = [("X", "memref<64xf32>"), ("Y", f"memref<64x{E4M3}>")]
    text = gpu_module("a", kernel("first", args, body)) + gpu_module("b", kernel("second", args, body))
    ir = nvptx.llvm_ir_for_module(parse(text), "sm_80")
    assert ir.count('define internal i8 @"__lowp_cast_f32_to_e4m3fn_rne"(float') == 1
    assert "alwaysinline" in ir
    ptx = nvptx.ptx_for_module(parse(text), "sm_90")
    assert ".visible .entry first(" in ptx and ".visible .entry second(" in ptx and ".func" not in ptx


# Hardware conversions (sm_89 and later) ------------------------------------------------

CONVERSIONS = gpu_module("c", kernel("conversions", [
    ("X", "memref<64xf32>"), ("H", "memref<64xf16>"), ("Y", f"memref<64x{E4M3}>"), ("Z", f"memref<64x{E5M2}>"),
    ("F", "memref<64xf32>"), ("G", "memref<64xf16>")], f"""
    %x = memref.load %X[%t] : memref<64xf32>
    %h = memref.load %H[%t] : memref<64xf16>
    %a = lowp.cast %x : f32 to {E4M3}
    %b = lowp.cast %h overflow saturate : f16 to {E5M2}
    memref.store %a, %Y[%t] : memref<64x{E4M3}>
    memref.store %b, %Z[%t] : memref<64x{E5M2}>
    %c = lowp.cast %a : {E4M3} to f32
    %d = lowp.cast %b : {E5M2} to f16
    %e = lowp.cast %x rounding toward_zero : f32 to {E4M3}
    %f = lowp.cast %e : {E4M3} to f32
    %g = arith.addf %c, %f : f32
    memref.store %g, %F[%t] : memref<64xf32>
    memref.store %d, %G[%t] : memref<64xf16>"""))


@cache
def conversions_ptx(arch: str) -> str:
    return nvptx.ptx_for_module(parse(CONVERSIONS), arch)


def test_sm90_converts_with_the_hardware():
    ptx = conversions_ptx("sm_90")
    for instruction in ("cvt.rn.satfinite.e4m3x2.f32", "cvt.rn.satfinite.e5m2x2.f16x2", "cvt.rn.f16x2.e4m3x2",
                        "cvt.rn.f16x2.e5m2x2"):
        assert instruction in ptx, instruction
    assert ptx.count("cvt.rn.satfinite") == 2  # toward zero: the software routine
    assert ".func" not in ptx and "call" not in ptx
    assert "satfinite" not in conversions_ptx("sm_80") and "e4m3x2" not in conversions_ptx("sm_80")


@needs_ptxas
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_ptxas_assembles_the_conversions(arch):
    assert nvptx.assemble(conversions_ptx(arch), arch)


def test_lower_lowp_rejects_an_unknown_arch():
    from tcir.errors import TcError

    with pytest.raises(TcError, match="arch='gfx90a' is not a GPU architecture"):
        lower_lowp.LowerLowpPass(arch="gfx90a").apply(default_context(), parse(CONVERSIONS))


FP8 = {"e4m3fn": (lower_lowp.FloatDesc(4, 3, 7, "fn"), ml_dtypes.float8_e4m3fn),
       "e5m2": (lower_lowp.FloatDesc(5, 2, 15, "ieee"), ml_dtypes.float8_e5m2)}


def _f32_inputs() -> np.ndarray:
    """Every f16 value widened, a million random patterns, and around each format's
    boundaries (midpoints between neighbours and one ulp either side, the overflow
    midpoint, the subnormals)."""
    rng = np.random.default_rng(0)
    parts = [np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32),
             rng.integers(0, 1 << 32, 10 ** 6, dtype=np.uint64).astype(np.uint32).view(np.float32),
             np.array([np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0], np.float32)]
    for _, dtype in FP8.values():
        values = np.arange(256, dtype=np.uint8).view(dtype).astype(np.float32)
        values = np.sort(values[np.isfinite(values)])
        big = float(ml_dtypes.finfo(dtype).max)
        mids = np.concatenate([(values[1:] + values[:-1]) / 2, [big + (big - values[-2]) / 2]]).astype(np.float32)
        for m in (mids, -mids):
            parts += [m, np.nextafter(m, np.float32(np.inf)), np.nextafter(m, np.float32(-np.inf))]
    return np.concatenate(parts)


def _expected_bits(x: np.ndarray, dtype, saturate: bool) -> np.ndarray:
    """ml_dtypes' rounding; saturating: clipped to the largest finite value first."""
    if saturate:
        big = float(ml_dtypes.finfo(dtype).max)
        with np.errstate(invalid="ignore"):
            x = np.where(np.isnan(x), x, np.clip(x, -big, big))
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtype).view(np.uint8)


def _same_bits(got: np.ndarray, want: np.ndarray, nan: np.ndarray) -> None:
    """Bit for bit, except that a NaN matches a NaN of the same sign."""
    bits = f"uint{got.dtype.itemsize * 8}"
    got, want = got.view(bits), want.view(bits)
    sign = got.dtype.type(1 << (got.dtype.itemsize * 8 - 1))
    ok = (got == want) | (nan & ((got & sign) == (want & sign)))
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, [(hex(int(got[i])), hex(int(want[i]))) for i in bad[:5]]


@pytest.mark.parametrize("source", ["f32", "f16"])
@pytest.mark.parametrize("fmt", sorted(FP8))
@pytest.mark.parametrize("overflow", ["format", "saturate"])
def test_hardware_encode_matches_ml_dtypes(source, fmt, overflow):
    desc, dtype = FP8[fmt]
    src = {"f32": lower_lowp.F32, "f16": lower_lowp.F16}[source]
    spec = lower_lowp.RoutineSpec("cast", src, desc, lower_lowp.NE, overflow, hardware=True)
    assert lower_lowp.hardware_cast(src, desc, lower_lowp.NE, overflow)
    x = _f32_inputs() if source == "f32" else np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    got = evaluate_routine(lower_lowp.build_routine(spec), x)
    want = _expected_bits(x.astype(np.float32), dtype, overflow == "saturate")
    _same_bits(got, want, np.isnan(want.view(dtype)))


@pytest.mark.parametrize("fmt", sorted(FP8))
@pytest.mark.parametrize("target", ["f32", "f16"])
def test_hardware_decode_matches_ml_dtypes(fmt, target):
    desc, dtype = FP8[fmt]
    dst = {"f32": lower_lowp.F32, "f16": lower_lowp.F16}[target]
    spec = lower_lowp.RoutineSpec("cast", desc, dst, lower_lowp.NE, "format", hardware=True)
    assert lower_lowp.hardware_cast(desc, dst, lower_lowp.NE, "format")
    patterns = np.arange(256, dtype=np.uint8)
    got = evaluate_routine(lower_lowp.build_routine(spec), patterns)
    want = patterns.view(dtype).astype({"f32": np.float32, "f16": np.float16}[target])
    _same_bits(got, want, np.isnan(want))


def test_only_exact_instructions_are_used():
    """Toward zero, stochastic rounding, f64 and bf16 sources, other formats: software."""
    e4m3, e5m2 = FP8["e4m3fn"][0], FP8["e5m2"][0]
    ne, tz, sr = lower_lowp.NE, lower_lowp.TZ, lower_lowp.SR
    assert not lower_lowp.hardware_cast(lower_lowp.F32, e4m3, tz, "format")
    assert not lower_lowp.hardware_cast(lower_lowp.F32, e5m2, sr, "saturate")
    assert not lower_lowp.hardware_cast(lower_lowp.F64, e4m3, ne, "format")
    assert not lower_lowp.hardware_cast(lower_lowp.BF16, e4m3, ne, "format")
    assert not lower_lowp.hardware_cast(lower_lowp.F32, lower_lowp.FloatDesc(4, 3, 7, "fnuz"), ne, "format")
    assert not lower_lowp.hardware_cast(e4m3, lower_lowp.F64, ne, "format")
    assert not lower_lowp.hardware_cast(e4m3, e5m2, ne, "format")
