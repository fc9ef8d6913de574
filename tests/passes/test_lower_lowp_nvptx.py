"""lower-lowp on the GPU path: gpu.module kernels using lowp ops, through the NVPTX
backend (lower-lowp runs before convert-gpu-to-nvvm there), assembled by ptxas when it
is installed. No GPU is needed.

The routines are the CPU's (integer and f64 arithmetic, `llvm.fma`, `llvm.ctlz`), so
their results are those the CPU tests check; here: that every kind of routine compiles
for sm_80 and sm_90, is inlined (no `.func`, no `call`) and assembles, and that shared
memory of a lowp type works. The hardware conversions of sm_89+ (`cvt.rn.satfinite.e4m3x2.f32`)
are not used yet. The gpu emulator (tcir/testing/gpu_emulator.py) does not run
`func.call`, so the kernels are not emulated.
"""

from __future__ import annotations

from functools import cache

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from tcir.backends import nvptx
from tcir.dialects import default_context

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
    ir = nvptx.llvm_ir_for_module(parse(text))
    assert ir.count('define internal i8 @"__lowp_cast_f32_to_e4m3fn_rne"(float') == 1
    assert "alwaysinline" in ir
    ptx = nvptx.ptx_for_module(parse(text), "sm_90")
    assert ".visible .entry first(" in ptx and ".visible .entry second(" in ptx and ".func" not in ptx
