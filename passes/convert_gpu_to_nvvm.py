"""Lower the device side of the gpu stage (the inside of each `gpu.module`) toward NVVM.

Summary:
  Rewrites what only a GPU has into ops the *-to-llvm passes and the NVPTX backend
  take; everything outside `gpu.module` ops (the host function) is left alone.

  - `gpu.thread_id`, `gpu.block_id`, `gpu.block_dim`, `gpu.grid_dim` (x, y, z) ->
    `llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.{tid,ctaid,ntid,nctaid}.<dim>"` (i32),
    zero-extended to i64 and cast to `index` (`builtin.unrealized_conversion_cast`,
    removed by `reconcile-unrealized-casts` once the users are lowered).
  - `gpu.barrier` -> `llvm.nvvm.barrier.cta.sync.aligned.all(0)` (`bar.sync 0`; LLVM
    22's name for `llvm.nvvm.barrier0`, which it only accepts by upgrading it).
  - `gpu.func` -> `func.func` (same name, signature and body) and `gpu.return` ->
    `func.return`, so convert-func-to-llvm lowers them. A kernel is marked
    `nvvm.kernel` (the backend gives it the `ptx_kernel` calling convention);
    `gpu.known_block_size` becomes `nvvm.maxntid` (PTX `.maxntid`: a bound, so a
    launch tightened to fewer threads stays valid).
  - Shared memory: `memref.global` in memory space 3 -> an uninitialized `internal`
    `llvm.mlir.global` in address space 3, an array of the elements its layout spans
    (memory types as in convert-memref-to-llvm: i1 -> i8, index -> i64, bf16 -> i16);
    `memref.get_global` -> `llvm.mlir.addressof` (`!llvm.ptr<3>`) cast to the memref
    type, so convert-memref-to-llvm addresses it like any memref.
  - Asynchronous copies (`tcgpu`, PTX's `cp.async`, sm_80+) -> inline PTX with side
    effects and a `~{memory}` clobber, so LLVM neither drops them nor moves memory
    accesses across them. `tcgpu.async_copy` addresses both elements as
    convert-memref-to-llvm does (`Addressing.element_pointer`: the memref cast to its
    pointer, folded once that pass has run, and a GEP) and becomes
    `{ .reg .u64 g; cvta.to.global.u64 g, $1; cp.async.cg.shared.global [$0], [g], 16; }`
    for 16 bytes (`.cg`: bypasses L1, 16 bytes only) or `cp.async.ca` for 4 and 8: the
    source, a generic pointer (`!llvm.ptr`), converted to a global address in the
    block; the destination an `!llvm.ptr<3>`, 64-bit like every NVPTX pointer here
    (constraints `l,l`). `tcgpu.async_commit` -> `cp.async.commit_group;`,
    `tcgpu.async_wait P` -> `cp.async.wait_group P;`. Not LLVM's
    `llvm.nvvm.cp.async.*` intrinsics: they take a global (`addrspace(1)`) source,
    and xDSL's llvm dialect and translation have no `addrspacecast` to make one.
  - Float math (`math` ops and `tc.builtin`, the CUDA math set) -> calls to libdevice,
    `__nv_<name>f` for f32 and `__nv_<name>` for f64 (`math.roundeven` -> `__nv_rint`),
    as CUDA computes them; f16 and bf16 arguments are computed in f32 and rounded
    back. NVPTX has no `exp`, `log`, `sin`, `cos`, `pow` instructions, so the
    intrinsics and libm calls of convert-math-to-llvm would not compile. Left to
    convert-math-to-llvm: `fdivide` (a division), integer math and `math.fpowi`.
  - `memref.alloca` (private memory) needs nothing here: convert-memref-to-llvm makes
    it an `llvm.alloca`, which LLVM keeps in registers or local memory.

  Reported as `tcir.TcError`: any other gpu op inside a `gpu.module`, a
  `memref.global` there outside memory space 3 or with an initial value, or with a
  dynamic shape.

Options: none.

Before:
  "gpu.module"() <{sym_name = "k"}> ({
    "memref.global"() <{sym_name = "s", type = memref<64xf32, 3 : i64>,
                        initial_value, sym_visibility = "private"}> : () -> ()
    "gpu.func"() <{function_type = (memref<64xf32>) -> (), kernel}> ({
    ^bb0(%A: memref<64xf32>):
      %t = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %s = memref.get_global @s : memref<64xf32, 3 : i64>
      %v = memref.load %A[%t] : memref<64xf32>
      %e = math.exp %v : f32
      memref.store %e, %s[%t] : memref<64xf32, 3 : i64>
      "gpu.barrier"() : () -> ()
      "gpu.return"() : () -> ()
    }) {sym_name = "f", gpu.known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
After:
  "gpu.module"() <{sym_name = "k"}> ({
    llvm.func @__nv_expf(f32) -> f32
    llvm.mlir.global internal @s() {addr_space = 3 : i32} : !llvm.array<64 x f32>
    func.func @f(%A: memref<64xf32>) attributes {nvvm.kernel, nvvm.maxntid = array<i32: 64, 1, 1>} {
      %0 = llvm.call_intrinsic "llvm.nvvm.read.ptx.sreg.tid.x"() : () -> i32
      %1 = llvm.zext %0 : i32 to i64
      %t = builtin.unrealized_conversion_cast %1 : i64 to index
      %2 = llvm.mlir.addressof @s : !llvm.ptr<3>
      %s = builtin.unrealized_conversion_cast %2 : !llvm.ptr<3> to memref<64xf32, 3 : i64>
      %v = memref.load %A[%t] : memref<64xf32>
      %e = llvm.call @__nv_expf(%v) : (f32) -> f32
      memref.store %e, %s[%t] : memref<64xf32, 3 : i64>
      %3 = llvm.mlir.constant(0 : i32) : i32
      llvm.call_intrinsic "llvm.nvvm.barrier.cta.sync.aligned.all"(%3) : (i32) -> ()
      func.return
    }
  }) : () -> ()
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, gpu, llvm, memref
from xdsl.dialects.builtin import (
    ArrayAttr,
    Float32Type,
    IntegerAttr,
    MemRefType,
    ModuleOp,
    UnitAttr,
    UnrealizedConversionCastOp,
    i32,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from tcir.dialects.tc import BuiltinOp
from tcir.dialects.tcgpu import AsyncCommitOp, AsyncCopyOp, AsyncWaitOp
from tcir.errors import TcError
from tcir.passes.convert_math_to_llvm import MATH_FUNCTIONS
from tcir.passes.convert_memref_to_llvm import (
    Addressing, element_size, elements_spanned, pointer_type, storage_type,
)
from tcir.passes.llvm_common import Emitter, erase_dead_casts, lower_scalar_op, lowering_error

PASS_NAME = "convert-gpu-to-nvvm"
BARRIER = "llvm.nvvm.barrier.cta.sync.aligned.all"
SHARED_MEMORY_SPACE = 3

# gpu id op -> PTX special register
_SPECIAL_REGISTERS: dict[type[Operation], str] = {
    gpu.ThreadIdOp: "tid",
    gpu.BlockIdOp: "ctaid",
    gpu.BlockDimOp: "ntid",
    gpu.GridDimOp: "nctaid",
}
# libdevice's name where it is not the C name
LIBDEVICE_RENAMES = {"roundeven": "rint"}
# computed inline by convert-math-to-llvm (a division)
INLINE_MATH_FUNCTIONS = frozenset({"fdivide"})


def _error(message: str, op: Operation | None = None) -> TcError:
    return lowering_error(PASS_NAME, message, op)


# Ids and barriers ------------------------------------------------------------------------


def _special_register(em: Emitter, op: Operation) -> SSAValue:
    """The i32 special register of a gpu id op, as i64 (non-negative: zext)."""
    dimension = op.properties["dimension"]
    assert isinstance(dimension, gpu.DimensionAttr)
    name = f"llvm.nvvm.read.ptx.sreg.{_SPECIAL_REGISTERS[type(op)]}.{dimension.data.value}"
    return em.cast(llvm.ZExtOp, em.call_intrinsic(name, [], i32), i64)


class LowerSpecialRegister(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if type(op) in _SPECIAL_REGISTERS:
            lower_scalar_op(rewriter, op, PASS_NAME, _special_register)


class LowerBarrier(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: gpu.BarrierOp, rewriter: PatternRewriter) -> None:
        barrier_id = Emitter(rewriter, op).const(0, i32)
        rewriter.replace(op, llvm.CallIntrinsicOp(BARRIER, [barrier_id], []))


# Functions -------------------------------------------------------------------------------


class LowerFunc(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: gpu.FuncOp, rewriter: PatternRewriter) -> None:
        body = rewriter.move_region_contents_to_new_regions(op.body)
        # argument attributes (llvm.noalias, llvm.readonly: read-only cache loads) go on
        arg_attrs = op.attributes.get("arg_attrs")
        new = func.FuncOp(op.sym_name.data, op.function_type, body,
                          arg_attrs=arg_attrs if isinstance(arg_attrs, ArrayAttr) else None)
        if op.kernel is not None:
            new.attributes["nvvm.kernel"] = UnitAttr()
        if op.known_block_size is not None:
            new.attributes["nvvm.maxntid"] = op.known_block_size
        rewriter.replace(op, new)


class LowerReturn(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: gpu.ReturnOp, rewriter: PatternRewriter) -> None:
        rewriter.replace(op, func.ReturnOp(*op.args))


# Shared memory ---------------------------------------------------------------------------


def _check_shared(memref_type: MemRefType, op: Operation) -> None:
    """A global of a gpu.module must be a static buffer in shared memory."""
    space = memref_type.memory_space
    if not (isinstance(space, IntegerAttr) and space.value.data == SHARED_MEMORY_SPACE):
        raise _error("only shared memory (memory space 3) can be a global of a gpu.module", op)
    if not memref_type.has_static_shape():
        raise _error("shared memory needs a static shape", op)


class LowerGlobal(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.GlobalOp, rewriter: PatternRewriter) -> None:
        _check_shared(op.type, op)
        if not isinstance(op.initial_value, UnitAttr):
            raise _error("shared memory cannot have an initial value", op)
        array = llvm.LLVMArrayType(elements_spanned(op.type), storage_type(op.type.element_type))
        alignment = op.alignment.value.data if op.alignment is not None else None
        rewriter.replace(op, llvm.GlobalOp(array, op.sym_name, "internal", SHARED_MEMORY_SPACE, alignment=alignment))


class LowerGetGlobal(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.GetGlobalOp, rewriter: PatternRewriter) -> None:
        memref_type = op.memref.type
        _check_shared(memref_type, op)
        address = rewriter.insert(llvm.AddressOfOp(op.name_, pointer_type(memref_type)))
        rewriter.replace(op, UnrealizedConversionCastOp.get([address.result], [memref_type]))


# Asynchronous copies ---------------------------------------------------------------------


def _ptx(text: str, constraints: str = "", operands: tuple[SSAValue, ...] = ()) -> llvm.InlineAsmOp:
    """Inline PTX with side effects and a memory clobber: LLVM neither drops it nor moves
    memory accesses (of shared memory above all) across it."""
    clobber = "~{memory}"
    return llvm.InlineAsmOp(text, f"{constraints},{clobber}" if constraints else clobber, operands,
                            has_side_effects=True)


def _async_copy_ptx(size: int) -> str:
    """`cp.async` of `size` bytes (4, 8 or 16) from the generic address $1 (of global
    memory) to the shared address $0; 16 bytes bypass L1 (`.cg` takes only 16)."""
    cache = "cg" if size == 16 else "ca"
    return (f"{{ .reg .u64 g; cvta.to.global.u64 g, $1; "
            f"cp.async.{cache}.shared.global [$0], [g], {size}; }}")


@dataclass
class LowerAsyncCopy(RewritePattern):
    addressing: Addressing

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: AsyncCopyOp, rewriter: PatternRewriter) -> None:
        source_type = op.source.type
        assert isinstance(source_type, MemRefType)
        size = op.elements.value.data * element_size(source_type.element_type)
        source = self.addressing.element_pointer(op.source, op.source_indices, rewriter)
        dest = self.addressing.element_pointer(op.dest, op.dest_indices, rewriter)
        # both pointers 64-bit: shared ones too, without nvptx-short-ptr
        rewriter.replace(op, _ptx(_async_copy_ptx(size), "l,l", (dest, source)))


class LowerAsyncCommit(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: AsyncCommitOp, rewriter: PatternRewriter) -> None:
        rewriter.replace(op, _ptx("cp.async.commit_group;"))


class LowerAsyncWait(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: AsyncWaitOp, rewriter: PatternRewriter) -> None:
        rewriter.replace(op, _ptx(f"cp.async.wait_group {op.pending.value.data};"))


# Math ------------------------------------------------------------------------------------


def _function_name(op: Operation) -> str | None:
    """The C name of the float function `op` computes, if it is one."""
    if isinstance(op, BuiltinOp):
        return op.fn.data
    return MATH_FUNCTIONS.get(type(op))


def _libdevice_call(em: Emitter, op: Operation) -> SSAValue:
    """`__nv_<name>[f](args)` in f32 or f64, rounded back to the op's type."""
    name = _function_name(op)
    assert name is not None
    t = op.results[0].type
    widened = [em.widen(em.arg(v), t) for v in op.operands]
    args, wide = [x for x, _ in widened], widened[0][1]
    suffix = "f" if isinstance(wide, Float32Type) else ""
    value = em.call(f"__nv_{LIBDEVICE_RENAMES.get(name, name)}{suffix}", args, wide)
    return em.convert_float(value, wide, t)


class LowerMath(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        name = _function_name(op)
        if name is not None and name not in INLINE_MATH_FUNCTIONS:
            lower_scalar_op(rewriter, op, PASS_NAME, _libdevice_call)


# Pass ------------------------------------------------------------------------------------


def _reject_leftovers(module: gpu.ModuleOp) -> None:
    for op in module.body.walk():
        if op.dialect_name() == "gpu":
            raise _error(f"{op.name} is not supported in a kernel", op)


@dataclass(frozen=True)
class ConvertGpuToNvvmPass(ModulePass):
    name = PASS_NAME

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns: list[RewritePattern] = [
            LowerSpecialRegister(), LowerBarrier(), LowerFunc(), LowerReturn(),
            LowerGlobal(), LowerGetGlobal(), LowerMath(),
            LowerAsyncCopy(Addressing()), LowerAsyncCommit(), LowerAsyncWait(),
        ]
        walker = PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False))
        for device in [o for o in op.walk() if isinstance(o, gpu.ModuleOp)]:
            walker.rewrite_region(device.body)
            _reject_leftovers(device)
        erase_dead_casts(op)
