"""The NVPTX backend and `convert-gpu-to-nvvm`: gpu-stage modules to PTX, checked by ptxas.

The modules are hand-written at the gpu stage (docs/gpu.md); no GPU is needed. Each
kernel's PTX is checked for what the CUDA runtime relies on (`.entry` names, `.shared`
buffers, parameters) and assembled with ptxas for sm_80 and sm_90 when ptxas is
installed (the `nvidia-cuda-nvcc-cu12` dev dependency ships it and libdevice).
"""

from __future__ import annotations

import re

import llvmlite.binding as llvm
import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from tcir import TcError
from tcir.backends import nvptx
from tcir.dialects import default_context
from tcir.frontend.builtins import ARITY
from tcir.passes.convert_gpu_to_nvvm import INLINE_MATH_FUNCTIONS, LIBDEVICE_RENAMES
from tcir.passes.convert_math_to_llvm import MATH_FUNCTIONS

ARCHS = ["sm_80", "sm_90"]
needs_ptxas = pytest.mark.skipif(nvptx.find_ptxas() is None,
                                 reason="ptxas not found (pip install nvidia-cuda-nvcc-cu12, or set CUDA_HOME)")
needs_libdevice = pytest.mark.skipif(nvptx.find_libdevice() is None,
                                     reason="libdevice not found (pip install nvidia-cuda-nvcc-cu12, or set CUDA_HOME)")


def parse(text: str) -> ModuleOp:
    return Parser(default_context(), text).parse_module()


def gpu_id(op: str, dim: str) -> str:
    return f'"gpu.{op}"() <{{dimension = #gpu<dim {dim}>}}> : () -> index'


def kernel(name: str, args: list[tuple[str, str]], body: str, block: str = "64, 1, 1") -> str:
    """A `gpu.func ... kernel` (generic form) with these arguments and body."""
    types = ", ".join(t for _, t in args)
    params = ", ".join(f"%{n}: {t}" for n, t in args)
    return f"""
  "gpu.func"() <{{function_type = ({types}) -> (), kernel}}> ({{
  ^bb0({params}):
{body}
    "gpu.return"() : () -> ()
  }}) {{sym_name = "{name}", gpu.known_block_size = array<i32: {block}>}} : () -> ()"""


def gpu_module(*contents: str, name: str = "kernels") -> str:
    return f'"gpu.module"() <{{sym_name = "{name}"}}> ({{{"".join(contents)}\n}}) : () -> ()\n'


def ptx_of(text: str, arch: str) -> str:
    """PTX of a gpu-stage module, assembled by ptxas when there is one."""
    ptx = nvptx.ptx_for_module(parse(text), arch)
    if nvptx.find_ptxas() is not None:
        assert nvptx.assemble(ptx, arch)  # a non-empty cubin
    assert f".target {arch}" in ptx
    return ptx


# The example of docs/gpu.md: a reversal through shared memory, with a barrier.
REVERSE = """
builtin.module attributes {gpu.container_module} {
  func.func @f(%A: memref<64xf32>, %C: memref<64xf32>) attributes {tcir.gpu} {
    %t = memref.alloc() : memref<64xf32>
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    "gpu.launch_func"(%c1, %c1, %c1, %c64, %c1, %c1, %A, %C) <{kernel = @f_kernels::@f_part0, operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 0>}> : (index, index, index, index, index, index, memref<64xf32>, memref<64xf32>) -> ()
    memref.dealloc %t : memref<64xf32>
    func.return
  }
  "gpu.module"() <{sym_name = "f_kernels"}> ({
    "memref.global"() <{sym_name = "f_part0_shared0", type = memref<64xf32, 3 : i64>, initial_value, sym_visibility = "private"}> : () -> ()
    "gpu.func"() <{function_type = (memref<64xf32>, memref<64xf32>) -> (), kernel}> ({
    ^bb0(%A: memref<64xf32>, %C: memref<64xf32>):
      %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %s = memref.get_global @f_part0_shared0 : memref<64xf32, 3 : i64>
      %v = memref.load %A[%tx] : memref<64xf32>
      memref.store %v, %s[%tx] : memref<64xf32, 3 : i64>
      "gpu.barrier"() : () -> ()
      %c63 = arith.constant 63 : index
      %r = arith.subi %c63, %tx : index
      %w = memref.load %s[%r] : memref<64xf32, 3 : i64>
      memref.store %w, %C[%tx] : memref<64xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "f_part0", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}
"""

# C[i, j] = alpha * A[i, j] + B[j, i] on 100x70, 16x16 blocks: partial tiles guarded.
GUARDED_2D = gpu_module(kernel("add_transposed", [
    ("A", "memref<100x70xf32>"), ("B", "memref<70x100xf32>"), ("C", "memref<100x70xf32>"), ("alpha", "f32")], f"""
    %bx = {gpu_id("block_id", "x")}
    %by = {gpu_id("block_id", "y")}
    %tx = {gpu_id("thread_id", "x")}
    %ty = {gpu_id("thread_id", "y")}
    %c16 = arith.constant 16 : index
    %i0 = arith.muli %by, %c16 : index
    %i = arith.addi %i0, %ty : index
    %j0 = arith.muli %bx, %c16 : index
    %j = arith.addi %j0, %tx : index
    %m = arith.constant 100 : index
    %n = arith.constant 70 : index
    %in_i = arith.cmpi slt, %i, %m : index
    %in_j = arith.cmpi slt, %j, %n : index
    %in = arith.andi %in_i, %in_j : i1
    scf.if %in {{
      %a = memref.load %A[%i, %j] : memref<100x70xf32>
      %b = memref.load %B[%j, %i] : memref<70x100xf32>
      %s = arith.mulf %a, %alpha : f32
      %c = arith.addf %s, %b : f32
      memref.store %c, %C[%i, %j] : memref<100x70xf32>
    }}""", block="16, 16, 1"))

MATH = gpu_module(kernel("math", [("X", "memref<64xf32>"), ("D", "memref<64xf64>")], f"""
    %t = {gpu_id("thread_id", "x")}
    %x = memref.load %X[%t] : memref<64xf32>
    %e = math.exp %x : f32
    %h = math.tanh %e : f32
    %r = math.erf %h : f32
    memref.store %r, %X[%t] : memref<64xf32>
    %d = memref.load %D[%t] : memref<64xf64>
    %v = tc.builtin "erfinv"(%d) : (f64) -> f64
    %w = math.powf %v, %d : f64
    memref.store %w, %D[%t] : memref<64xf64>"""))

# f16 and f64 elements, private memory indexed by a thread id (so in local memory).
MIXED = gpu_module(kernel("mixed", [("H", "memref<64xf16>"), ("D", "memref<64xf64>")], f"""
    %t = {gpu_id("thread_id", "x")}
    %p = memref.alloca() : memref<8xf64>
    %c8 = arith.constant 8 : index
    %k = arith.remui %t, %c8 : index
    %h = memref.load %H[%t] : memref<64xf16>
    %w = arith.extf %h : f16 to f64
    memref.store %w, %p[%k] : memref<8xf64>
    %c0 = arith.constant 0 : index
    %q = memref.load %p[%c0] : memref<8xf64>
    %d = memref.load %D[%t] : memref<64xf64>
    %s = arith.addf %q, %d : f64
    memref.store %s, %D[%t] : memref<64xf64>
    %n = arith.truncf %s : f64 to f16
    memref.store %n, %H[%t] : memref<64xf16>"""))

SCALARS = gpu_module(kernel("axpby", [
    ("X", "memref<64xf32>"), ("a", "f32"), ("b", "f64"), ("k", "i32"), ("n", "index"), ("h", "f16")], f"""
    %t = {gpu_id("thread_id", "x")}
    %in = arith.cmpi slt, %t, %n : index
    scf.if %in {{
      %x = memref.load %X[%t] : memref<64xf32>
      %kf = arith.sitofp %k : i32 to f32
      %hf = arith.extf %h : f16 to f32
      %bf = arith.truncf %b : f64 to f32
      %y0 = arith.mulf %x, %a : f32
      %y1 = arith.addf %y0, %kf : f32
      %y2 = arith.addf %y1, %hf : f32
      %y = arith.addf %y2, %bf : f32
      memref.store %y, %X[%t] : memref<64xf32>
    }}"""))

# Asynchronous copies into double-buffered shared memory (tcgpu): 16 bytes (4 f32) per
# thread into the first tile, one f32 into the second, each its own group; the first
# tile is read once at most one group is pending, the second once none is.
ASYNC = gpu_module("""
  "memref.global"() <{sym_name = "tiles", type = memref<2x16x16xf32, 3 : i64>, initial_value, sym_visibility = "private", alignment = 16 : i64}> : () -> ()""",
                   kernel("pipelined", [("A", "memref<64x64xf32>"), ("C", "memref<64x64xf32>")], f"""
    %tx = {gpu_id("thread_id", "x")}
    %ty = {gpu_id("thread_id", "y")}
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %j = arith.muli %tx, %c4 : index
    %s = memref.get_global @tiles : memref<2x16x16xf32, 3 : i64>
    tcgpu.async_copy %A[%ty, %j], %s[%c0, %ty, %j], 4 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
    tcgpu.async_commit
    tcgpu.async_copy %A[%j, %ty], %s[%c1, %ty, %tx], 1 : memref<64x64xf32> to memref<2x16x16xf32, 3 : i64>
    tcgpu.async_commit
    tcgpu.async_wait 1
    "gpu.barrier"() : () -> ()
    %v = memref.load %s[%c0, %ty, %j] : memref<2x16x16xf32, 3 : i64>
    memref.store %v, %C[%ty, %j] : memref<64x64xf32>
    tcgpu.async_wait 0
    "gpu.barrier"() : () -> ()
    %w = memref.load %s[%c1, %ty, %tx] : memref<2x16x16xf32, 3 : i64>
    memref.store %w, %C[%j, %ty] : memref<64x64xf32>""", block="4, 16, 1"))


def entries(ptx: str) -> list[str]:
    return re.findall(r"^\.visible \.entry (\w+)\(", ptx, re.MULTILINE)


# Kernels -----------------------------------------------------------------------------------


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
def test_shared_memory_reversal(arch):
    ptx = ptx_of(REVERSE, arch)
    assert entries(ptx) == ["f_part0"]
    assert re.search(r"\.shared \.align \d+ \.b8 f_part0_shared0\[256\];", ptx)
    assert "st.shared" in ptx and "ld.shared" in ptx
    assert "bar.sync \t0;" in ptx
    assert ".maxntid 64, 1, 1" in ptx


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
def test_guarded_2d_kernel(arch):
    ptx = ptx_of(GUARDED_2D, arch)
    assert entries(ptx) == ["add_transposed"]
    for register in ("%ctaid.x", "%ctaid.y", "%tid.x", "%tid.y"):
        assert register in ptx
    assert ".maxntid 16, 16, 1" in ptx
    assert re.search(r"@%p\d+ bra", ptx)  # the guard


@needs_ptxas
@needs_libdevice
@pytest.mark.parametrize("arch", ARCHS)
def test_math_through_libdevice(arch):
    ptx = ptx_of(MATH, arch)
    assert entries(ptx) == ["math"]
    # libdevice is linked in, its __nvvm_reflect queries resolved, its functions inlined
    # but for internal helpers defined in the PTX (__internal_accurate_pow).
    assert "__nv" not in ptx
    called = set(re.findall(r"call(?:\.uni)? (?:\(\w+\), )?(\w+),", ptx))
    assert called <= set(re.findall(r"^\.func .*?(\w+)\($", ptx, re.MULTILINE))


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
def test_f16_f64_and_private_memory(arch):
    ptx = ptx_of(MIXED, arch)
    assert re.search(r"ld\.global\.\w*16", ptx) and re.search(r"ld\.global\.\w*64", ptx)
    assert "__local_depot" in ptx  # the private array, indexed by the thread id


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
def test_scalar_arguments(arch):
    ptx = ptx_of(SCALARS, arch)
    params = re.findall(r"\.param \.(\w+)(?: \.ptr \.align \d+)? axpby_param_(\d)", ptx)
    # a pointer, f32, f64, i32, index (i64), f16 (as its 16 bits)
    assert [width for width, _ in params] == ["u64", "f32", "f64", "u32", "u64", "u16"]


@needs_ptxas
@pytest.mark.parametrize("arch", ARCHS)
def test_async_copies(arch):
    ptx = ptx_of(ASYNC, arch)
    assert entries(ptx) == ["pipelined"]
    assert re.search(r"\.shared \.align 16 \.b8 tiles\[2048\];", ptx)
    # the generic source converted in the asm block, the shared destination a register
    copies = re.findall(r"cvta\.to\.global\.u64 g, %rd\d+; (cp\.async\.(?:cg|ca)\.shared\.global) "
                        r"\[%rd\d+\], \[g\], (\d+);", ptx)
    assert copies == [("cp.async.cg.shared.global", "16"), ("cp.async.ca.shared.global", "4")]
    assert ptx.count("cp.async.commit_group;") == 2
    # the shared loads stay after their waits (the asm clobbers memory)
    first_wait, last_wait = ptx.index("cp.async.wait_group 1;"), ptx.index("cp.async.wait_group 0;")
    loads = [m.start() for m in re.finditer(r"ld\.shared", ptx)]
    assert len(loads) == 2 and first_wait < loads[0] < last_wait < loads[1]


def test_async_copies_llvm_ir():
    text = nvptx.llvm_ir_for_module(parse(ASYNC))
    asm = ('call void asm sideeffect "{ .reg .u64 g; cvta.to.global.u64 g, $1; '
           'cp.async.cg.shared.global [$0], [g], 16; }", "l,l,~{memory}"(')
    # the destination in shared memory (llvmlite prints the GEP's type as a typed pointer)
    assert re.search(re.escape(asm) + r"[^)]*addrspace\(3\)[^,]*, ptr ", text)
    assert 'call void asm sideeffect "cp.async.wait_group 1;", "~{memory}"()' in text


@needs_ptxas
def test_several_gpu_modules_one_ptx():
    text = gpu_module(kernel("first", [("X", "memref<64xf32>")], ""), name="a") + \
        gpu_module(kernel("second", [("X", "memref<64xf32>")], ""), name="b")
    assert sorted(entries(ptx_of(text, "sm_90"))) == ["first", "second"]


def test_llvm_ir_marks_kernels():
    text = nvptx.llvm_ir_for_module(parse(REVERSE))
    assert 'target triple = "nvptx64-nvidia-cuda"' in text
    assert 'define ptx_kernel void @"f_part0"(ptr' in text
    assert '@"f_part0_shared0" = internal addrspace(3) global [64 x float] undef' in text
    assert '"llvm.nvvm.barrier.cta.sync.aligned.all"(i32 0)' in text
    assert "@f(" not in text and '@"f"(' not in text  # the host function is not compiled


@needs_libdevice
def test_every_math_function_is_in_libdevice():
    """The names convert-gpu-to-nvvm calls exist in libdevice (f32 and f64)."""
    library = llvm.parse_bitcode(open(nvptx.find_libdevice(), "rb").read())
    defined = {f.name for f in library.functions if not f.is_declaration}
    names = (set(MATH_FUNCTIONS.values()) | set(ARITY)) - INLINE_MATH_FUNCTIONS
    for name in names:
        cuda = LIBDEVICE_RENAMES.get(name, name)
        assert {f"__nv_{cuda}", f"__nv_{cuda}f"} <= defined, name


# Errors ------------------------------------------------------------------------------------


def test_no_gpu_module():
    with pytest.raises(TcError, match="no gpu.module"):
        nvptx.ptx_for_module(parse("func.func @f() {\n func.return\n}"), "sm_90")


def test_unsupported_gpu_op():
    text = gpu_module(kernel("k", [], f'    %g = {gpu_id("global_id", "x")}'))
    with pytest.raises(TcError, match="gpu.global_id is not supported in a kernel"):
        nvptx.ptx_for_module(parse(text), "sm_90")


@pytest.mark.parametrize("body, callee", [
    # convert-math-to-llvm makes fpowi a pow intrinsic: a libm call on NVPTX
    ("%n = arith.index_cast %t : index to i32\n%y = math.fpowi %x, %n : f32, i32\n"
     "memref.store %y, %X[%t] : memref<64xf32>", "llvm.pow.f64"),
    ("%big = memref.alloc() : memref<65536xf32>\nmemref.store %x, %big[%t] : memref<65536xf32>",
     "aligned_alloc"),
])
def test_what_the_gpu_cannot_call(body, callee):
    text = gpu_module(kernel("k", [("X", "memref<64xf32>")], f"""
    %t = {gpu_id("thread_id", "x")}
    %x = memref.load %X[%t] : memref<64xf32>
    {body}"""))
    with pytest.raises(TcError, match=f"need @{re.escape(callee)}, which the GPU does not have"):
        nvptx.ptx_for_module(parse(text), "sm_90")


def test_missing_libdevice(monkeypatch):
    monkeypatch.setattr(nvptx, "find_libdevice", lambda: None)
    with pytest.raises(TcError, match=r"call __nv_erff, __nv_erfinv, __nv_expf, __nv_pow, __nv_tanhf from CUDA.s libdevice, which was not found"):
        nvptx.ptx_for_module(parse(MATH), "sm_90")
    assert entries(nvptx.ptx_for_module(parse(REVERSE), "sm_90")) == ["f_part0"]  # needs none


def test_duplicate_kernel_names():
    text = gpu_module(kernel("k", [], ""), name="a") + gpu_module(kernel("k", [], ""), name="b")
    with pytest.raises(TcError, match="two gpu.modules define @k"):
        nvptx.ptx_for_module(parse(text), "sm_90")


def test_unknown_arch():
    with pytest.raises(TcError, match="unsupported GPU architecture 'sm_52'"):
        nvptx.ptx_for_module(parse(REVERSE), "sm_52")


def test_invalid_input_module():
    text = gpu_module(kernel("k", [("X", "memref<64xf32>")], "%v = memref.load %X[] : memref<64xf32>"))
    with pytest.raises(TcError, match="does not verify"):
        nvptx.ptx_for_module(parse(text), "sm_90")


@needs_ptxas
def test_ptxas_errors_are_tc_errors():
    with pytest.raises(TcError, match="ptxas rejected the PTX for sm_90: .*nonsense"):
        nvptx.assemble(".version 7.8\n.target sm_90\nnonsense\n", "sm_90")


def test_no_ptxas(monkeypatch):
    monkeypatch.setattr(nvptx, "find_ptxas", lambda: None)
    with pytest.raises(TcError, match="ptxas not found"):
        nvptx.assemble("", "sm_90")


def test_command_line(tmp_path, capsys):
    source = tmp_path / "k.mlir"
    source.write_text(REVERSE)
    assert nvptx.main([str(source), "--arch", "sm_80"]) == 0
    assert ".visible .entry f_part0(" in capsys.readouterr().out
    source.write_text("func.func @f(")
    assert nvptx.main([str(source)]) == 1
    assert "error:" in capsys.readouterr().err
