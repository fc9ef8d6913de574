"""The NVPTX backend: the device part of a gpu-stage module to PTX, through llvmlite.

Summary:
  `ptx_for_module(module, arch)` takes a gpu-stage module (docs/gpu.md), lowers the
  contents of its `gpu.module` ops (the host function is not compiled here) with
  convert-gpu-to-nvvm and the llvm stage's passes, translates them to LLVM IR for
  `nvptx64-nvidia-cuda` (`xdsl.backend.llvm.convert`, NVPTX data layout), gives the
  kernels the `ptx_kernel` calling convention (and `.maxntid` from
  `gpu.known_block_size`), links libdevice when a kernel calls a math function
  (`__nv_expf` ...), optimizes at O3 and emits PTX for `sm_80` or `sm_90` with LLVM's
  NVPTX target. The architecture reaches `lower-lowp` too: for sm_90, casts between
  f32/f16 and float8_e4m3fn/e5m2 use the hardware's `cvt` (passes/lower_lowp.py,
  `hardware_cast`). No GPU is needed. `llvm_ir_for_module(module, arch)` is the LLVM IR
  before linking and optimization; `assemble(ptx, arch)` runs `ptxas` (from the
  `nvidia-cuda-nvcc-cu12` wheel, `$CUDA_HOME/bin` or PATH; `find_ptxas()` says whether
  there is one) and returns the cubin.

ABI (the CPU backend's; what `convert-memref-to-llvm` produces): each kernel keeps its
`gpu.func` name (`.entry f_part0`, what the CUDA runtime looks up); every memref
argument is a bare (generic) pointer to its element at offset 0, shapes and strides
being compiled in; scalars go by value (index as i64, an f16 scalar as its 16 bits).
Shared memory is `.shared`, one uninitialized copy per block; libdevice is built for
no flush-to-zero (`nvvm-reflect-ftz` = 0) and its functions are inlined, so the PTX
needs nothing else.

Example:
    ptx = ptx_for_module(gpu_stage_module, arch="sm_90")
    assert ".visible .entry f_part0(" in ptx
    cubin = assemble(ptx, "sm_90")                  # TcError with ptxas's message

    python -m tcir.backends.nvptx kernels.mlir --arch sm_80 [--emit llvm-ir]

Errors (no `gpu.module`, ops or math that cannot run on the GPU, no libdevice for a
kernel that needs it, ptxas rejecting the PTX) are `tcir.TcError`.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import llvmlite.binding as llvm
import llvmlite.ir as ir
from xdsl.dialects import gpu
from xdsl.dialects import llvm as llvm_dialect
from xdsl.dialects.builtin import DenseArrayBase, ModuleOp, StringAttr
from xdsl.ir import Operation, SSAValue
from xdsl.parser import Parser
from xdsl.passes import ModulePass, PassPipeline
from xdsl.utils.exceptions import ParseError

from tcir.backends.cpu import COMPILE_LOCK, apply_function_attributes, optimize, parse_and_verify
from tcir.dialects import default_context
from tcir.errors import TcError
from tcir.passes import LLVM_PASSES, get_pass

TRIPLE = "nvptx64-nvidia-cuda"
ARCHS = ("sm_80", "sm_90")
# lower-lowp first: convert-gpu-to-nvvm lowers shared memory, which needs the lowp
# element types already turned into their storage integers
DEVICE_PASSES = ("lower-lowp", "convert-gpu-to-nvvm", *(name for name in LLVM_PASSES if name != "lower-lowp"))
# LLVM intrinsics the NVPTX backend can only lower to a library call, which does not
# exist on the GPU (codegen would abort the process): found by compiling each one.
_LIBCALL_INTRINSICS = re.compile(r"llvm\.(exp|exp10|log|log2|log10|sin|cos|tan|pow)\.|llvm\.exp2\.f64")


# Finding the CUDA tools ----------------------------------------------------------------


def _cuda_roots() -> Iterator[Path]:
    """Where CUDA files may be: the nvidia-cuda-nvcc wheel, $CUDA_HOME, $CUDA_PATH,
    /usr/local/cuda."""
    spec = importlib.util.find_spec("nvidia.cuda_nvcc") if importlib.util.find_spec("nvidia") else None
    if spec is not None and spec.submodule_search_locations:
        yield from (Path(p) for p in spec.submodule_search_locations)
    for variable in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(variable):
            yield Path(os.environ[variable])
    yield Path("/usr/local/cuda")


def _find_cuda_file(relative: str) -> str | None:
    for root in _cuda_roots():
        if (root / relative).is_file():
            return str(root / relative)
    return None


def find_libdevice() -> str | None:
    """The path of libdevice.10.bc, or None."""
    return _find_cuda_file("nvvm/libdevice/libdevice.10.bc")


def find_ptxas() -> str | None:
    """The path of a ptxas (the CUDA roots first, then PATH), or None."""
    return _find_cuda_file("bin/ptxas") or shutil.which("ptxas")


# Lowering to the llvm dialect -------------------------------------------------------------


def device_module(module: ModuleOp, arch: str) -> ModuleOp:
    """The contents of every `gpu.module` of `module`, lowered to the llvm dialect for
    `arch`, in one module."""
    _verify(module, "the gpu-stage module does not verify")
    kernels = [op.clone() for op in module.ops if isinstance(op, gpu.ModuleOp)]
    if not kernels:
        raise TcError("the module has no gpu.module: nothing to compile for the GPU "
                      "(expected the gpu stage, see docs/gpu.md)")
    passes = tuple(get_pass(name)(arch=arch) if name == "lower-lowp" else get_pass(name)()
                   for name in DEVICE_PASSES)
    PassPipeline(passes, _verify_lowered).apply(default_context(), ModuleOp(kernels))
    return ModuleOp(list(_merged_symbols(kernels)))


def _verify(module: ModuleOp, what: str) -> None:
    try:
        module.verify()
    except Exception as err:  # noqa: BLE001 - VerifyException, or a bare Exception (memref.load)
        raise TcError(f"{what}: {err}") from None


def _verify_lowered(done: ModulePass | None, module: ModuleOp, _next: ModulePass) -> None:
    if done is not None:  # before the first pass: the clones of a module verified just above
        _verify(module, "lowering the kernels produced invalid IR")


def _merged_symbols(modules: Sequence[gpu.ModuleOp]) -> Iterator[Operation]:
    """The ops of all `modules`, detached; a function declared in several of them once."""
    seen: dict[str, Operation] = {}
    for module in modules:
        for op in list(module.body.block.ops):
            symbol = op.properties.get("sym_name")
            first = seen.setdefault(symbol.data, op) if isinstance(symbol, StringAttr) else op
            if first is not op:
                if not _same_declaration(first, op):
                    raise TcError(f"two gpu.modules define @{symbol.data}; kernel names must be unique")
                continue
            op.detach()
            yield op


def _same_declaration(a: Operation, b: Operation) -> bool:
    """Two declarations of one function, or two identical internal definitions (the
    routines `lower-lowp` generates in each gpu.module that uses them)."""
    if not (isinstance(a, llvm_dialect.FuncOp) and isinstance(b, llvm_dialect.FuncOp)):
        return False
    if not a.body.blocks and not b.body.blocks:
        return a.function_type == b.function_type
    return a.linkage.linkage.data == "internal" and a.is_structurally_equivalent(b)


# LLVM IR -------------------------------------------------------------------------------


@cache
def _initialize() -> None:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()
    _teach_xdsl_address_spaces()


def _translate_gep(op: llvm_dialect.GEPOp, builder: ir.IRBuilder, val_map: dict[SSAValue, ir.Value]) -> None:
    """xDSL's GEP translation, with the base pointer cast to a typed pointer (which
    llvmlite's type checks want) in the base's own address space. xDSL casts it to
    address space 0, which LLVM rejects for `ptr addrspace(3)` (shared memory)."""
    from xdsl.backend.llvm.convert_type import convert_type

    base = val_map[op.ptr]
    element = convert_type(op.elem_type)
    typed = builder.bitcast(base, element.as_pointer(base.type.addrspace))
    dynamic = iter(op.ssa_indices)
    indices = [val_map[next(dynamic)] if index == llvm_dialect.GEP_USE_SSA_VAL
               else ir.Constant(ir.IntType(32), index) for index in op.rawConstantIndices.iter_values()]
    val_map[op.result] = builder.gep(typed, indices, inbounds=op.inbounds is not None, source_etype=element)


def _teach_xdsl_address_spaces() -> None:
    from xdsl.backend.llvm import convert_op

    convert_op._convert_getelementptr = _translate_gep


@cache
def target_machine(arch: str) -> llvm.TargetMachine:
    """The NVPTX target machine for `arch` (one of ARCHS), at O3."""
    if arch not in ARCHS:
        raise TcError(f"unsupported GPU architecture {arch!r}; expected one of {', '.join(ARCHS)}")
    _initialize()
    return llvm.Target.from_triple(TRIPLE).create_target_machine(cpu=arch, features="", opt=3)


def arch_for(capability: tuple[int, int]) -> str:
    """The newest of ARCHS that a GPU of compute `capability` runs (the driver
    JIT-compiles PTX for an older architecture to the device's)."""
    major, minor = capability
    usable = [arch for arch in ARCHS if int(arch[3:]) <= 10 * major + minor]
    if not usable:
        raise TcError(f"this GPU has compute capability {major}.{minor}; tcir's PTX needs "
                      f"{ARCHS[0][3]}.{ARCHS[0][4]} or newer")
    return usable[-1]


def _kernels(device: ModuleOp) -> list[llvm_dialect.FuncOp]:
    return [op for op in device.ops if isinstance(op, llvm_dialect.FuncOp) and "nvvm.kernel" in op.attributes]


def _to_llvm_ir(device: ModuleOp) -> str:
    """LLVM IR text of the lowered device module, kernels marked."""
    from xdsl.backend.llvm.convert import convert_module

    data_layout = str(target_machine(ARCHS[0]).target_data)  # the same for every arch
    try:
        module = convert_module(device, fallback_target_triple=TRIPLE, data_layout=data_layout)
    except Exception as err:  # noqa: BLE001 - NotImplementedError, LLVMTranslationException, ...
        raise TcError(f"cannot translate the kernels to LLVM IR: {type(err).__name__}: {err}") from None
    apply_function_attributes(device, module)
    for kernel in _kernels(device):
        function = module.get_global(kernel.sym_name.data)
        function.calling_convention = "ptx_kernel"
        _annotate_block_size(module, function, kernel.attributes.get("nvvm.maxntid"))
    for op in device.ops:  # xDSL drops the alignment of globals
        if isinstance(op, llvm_dialect.GlobalOp) and op.alignment is not None:
            module.get_global(op.sym_name.data).align = op.alignment.value.data
    i32 = ir.IntType(32)
    module.add_named_metadata("llvm.module.flags", [i32(4), "nvvm-reflect-ftz", i32(0)])  # 4: override
    return str(module)


def _annotate_block_size(module: ir.Module, function: ir.Function, maxntid: object) -> None:
    """`.maxntid` through `nvvm.annotations`, which LLVM turns into the function
    attribute "nvvm.maxntid" (llvmlite cannot write string attributes)."""
    if not isinstance(maxntid, DenseArrayBase):
        return
    for axis, threads in zip("xyz", maxntid.get_values()):
        module.add_named_metadata("nvvm.annotations", [function, f"maxntid{axis}", ir.IntType(32)(threads)])


def llvm_ir_for_module(module: ModuleOp, arch: str = "sm_90") -> str:
    """The LLVM IR of the kernels of a gpu-stage module for `arch`, before libdevice
    and O3."""
    device = device_module(module, arch)
    with COMPILE_LOCK:
        return _to_llvm_ir(device)


# Linking and code generation -----------------------------------------------------------------


@cache
def _libdevice_bitcode(path: str) -> bytes:
    return Path(path).read_bytes()


def _link_libdevice(parsed: llvm.ModuleRef) -> None:
    """Link libdevice if a kernel calls one of its `__nv_*` functions."""
    needed = sorted(f.name for f in parsed.functions if f.is_declaration and f.name.startswith("__nv_"))
    if not needed:
        return
    path = find_libdevice()
    if path is None:
        raise TcError(f"the kernels call {', '.join(needed)} from CUDA's libdevice, which was not found: "
                      "pip install nvidia-cuda-nvcc-cu12, or set CUDA_HOME")
    libdevice = llvm.parse_bitcode(_libdevice_bitcode(path))
    libdevice.triple, libdevice.data_layout = parsed.triple, parsed.data_layout
    parsed.link_in(libdevice)


def _internalize(parsed: llvm.ModuleRef, kernels: set[str]) -> None:
    """Everything but the kernels internal, so O3 inlines it and drops what is unused."""
    for value in [*parsed.functions, *parsed.global_variables]:
        if not value.is_declaration and value.name not in kernels:
            value.linkage = llvm.Linkage.internal


def _check_resolved(parsed: llvm.ModuleRef) -> None:
    """Every function called is defined or an intrinsic the NVPTX backend compiles."""
    for function in parsed.functions:
        name = function.name
        if function.is_declaration and (not name.startswith("llvm.") or _LIBCALL_INTRINSICS.match(name)):
            raise TcError(f"the kernels need @{name}, which the GPU does not have")


def ptx_for_module(module: ModuleOp, arch: str = "sm_90") -> str:
    """PTX for `arch` of the kernels of a gpu-stage module."""
    tm = target_machine(arch)
    device = device_module(module, arch)
    kernels = {k.sym_name.data for k in _kernels(device)}
    with COMPILE_LOCK:
        parsed = parse_and_verify(_to_llvm_ir(device))
        _link_libdevice(parsed)
        _internalize(parsed, kernels)
        optimize(parsed, tm, 3)
        _check_resolved(parsed)
        return tm.emit_assembly(parsed)


def assemble(ptx: str, arch: str = "sm_90") -> bytes:
    """The cubin ptxas makes of `ptx` for `arch`; a TcError with ptxas's message if it
    rejects it or there is no ptxas."""
    return run_ptxas(ptx, arch)[0]


def run_ptxas(ptx: str, arch: str = "sm_90", *flags: str) -> tuple[bytes, str]:
    """(the cubin, ptxas's messages) of assembling `ptx` for `arch` with extra `flags`
    (`-v` for the resource usage); a TcError as `assemble`'s."""
    ptxas = find_ptxas()
    if ptxas is None:
        raise TcError("ptxas not found: pip install nvidia-cuda-nvcc-cu12, or set CUDA_HOME")
    with tempfile.TemporaryDirectory(prefix="tcir-ptxas-") as tmp:
        source, cubin = Path(tmp, "kernels.ptx"), Path(tmp, "kernels.cubin")
        source.write_text(ptx)
        done = subprocess.run([ptxas, f"-arch={arch}", *flags, "-o", str(cubin), str(source)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise TcError(f"ptxas rejected the PTX for {arch}: {(done.stderr or done.stdout).strip()}")
        return cubin.read_bytes(), done.stderr + done.stdout


# Command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tcir.backends.nvptx FILE.mlir [--arch sm_90] [--emit ptx|llvm-ir]`."""
    parser = argparse.ArgumentParser(prog="python -m tcir.backends.nvptx",
                                     description="PTX (or LLVM IR) of the kernels of a gpu-stage module")
    parser.add_argument("file", help="gpu-stage MLIR ('-' for stdin)")
    parser.add_argument("--arch", default="sm_90", choices=ARCHS)
    parser.add_argument("--emit", default="ptx", choices=("ptx", "llvm-ir"))
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        module = Parser(default_context(), text, args.file).parse_module()
        print(ptx_for_module(module, args.arch) if args.emit == "ptx" else llvm_ir_for_module(module, args.arch))
    except ParseError as err:
        print(f"{err.span.get_location()}: error: {err.msg}", file=sys.stderr)
        return 1
    except TcError as err:
        print(f"{args.file}: error: {err.message}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"{args.file}: error: {err.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
