"""Lower memrefs with static strided layouts to bare `!llvm.ptr` values.

Summary:
  Every memref value (function and block arguments, call results, allocations) becomes
  an `!llvm.ptr` to the memref's base element: the "bare pointer" ABI. Shapes, strides
  and offsets must be static; they are baked into the address arithmetic, so
  `memref.load %A[%i, %j]` on `memref<..., strided<[S0, S1], offset: O>>` reads the
  element at `getelementptr inbounds T, %A[O + i*S0 + j*S1]` (`nsw` i64 arithmetic).

  - `memref.load` / `memref.store` -> `llvm.getelementptr` + `llvm.load` / `llvm.store`.
    `i1` elements live in memory as `i8` (NumPy's `bool`): loads compare with 0, stores
    zero-extend. Other elements have their `llvm_common.llvm_type`: index is i64, bf16
    is i16 (its bits), f16, f32, f64 and i8..i64 are themselves; loaded values and
    stored values are bridged to the original types with
    `builtin.unrealized_conversion_cast` (`llvm_common.to_llvm` / `from_llvm`). Accesses carry no `align`: LLVM assumes the element's ABI alignment
    (NumPy arrays have it; the CPU backend refuses unaligned ones).
  - `memref.alloc` of at most `stack_limit` bytes -> `llvm.alloca` hoisted to the entry
    block of the enclosing function (so LLVM can promote small temporaries to
    registers, and an alloc inside a loop does not grow the stack); larger ones -> a
    call to C11 `aligned_alloc(alignment, size rounded up to alignment)`.
    `memref.dealloc` -> `free`, or nothing for a stack buffer. A stack buffer serves
    every execution of its alloc (say, in a loop): its contents must not outlive the
    dealloc, as MLIR requires anyway. `memref.alloca` -> `llvm.alloca` in place.
  - View-like ops whose result layout is static (`memref.subview`, `memref.cast`,
    `memref.reinterpret_cast`, `memref.expand_shape`, `memref.collapse_shape`,
    `memref.assume_alignment`) keep the base pointer: their result type already says
    where the elements are relative to it.
  - Function signatures (`func.func`, `func.call`) and block arguments: memref types
    become `!llvm.ptr` (memory space N -> `!llvm.ptr<N>`), so func lowering sees
    pointers.
  - `index` subscripts are cast to i64 with `builtin.unrealized_conversion_cast` (one
    cast per value). Every cast this pass leaves meets its inverse from the other
    *-to-llvm passes, and `reconcile-unrealized-casts` removes both.

  Dynamic sizes, strides or offsets, unranked memrefs, `memref.global`, `memref.copy`,
  `memref.view`, atomics and element types other than the above are reported as
  `tcir.TcError`. Caller's contract: pass the address of the element at offset 0 (for
  tcir's kernels, whose arguments have offset 0, the address of the first element).

Options:
  stack_limit  largest `memref.alloc`, in bytes, placed on the stack (default 16384;
               0 puts every allocation on the heap).
  alignment    minimal alignment in bytes of allocations (default 64, a cache line;
               an `alignment` attribute on the alloc can raise it).

Before:
  func.func @f(%A: memref<4x8xf32, strided<[1, 4]>>, %i: index, %j: index) -> f32 {
    %v = memref.load %A[%i, %j] : memref<4x8xf32, strided<[1, 4]>>
    func.return %v : f32
  }
After:
  func.func @f(%A: !llvm.ptr, %i: index, %j: index) -> f32 {
    %j64 = builtin.unrealized_conversion_cast %j : index to i64
    %i64 = builtin.unrealized_conversion_cast %i : index to i64
    %c4 = llvm.mlir.constant(4) : i64
    %0 = llvm.mul %j64, %c4 overflow<nsw> : i64
    %1 = llvm.add %i64, %0 overflow<nsw> : i64
    %2 = llvm.getelementptr inbounds %A[%1] : (!llvm.ptr, i64) -> !llvm.ptr, f32
    %v = llvm.load %2 : !llvm.ptr -> f32
    func.return %v : f32
  }
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects import llvm, memref
from xdsl.dialects.builtin import (
    AnyFloat,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    IntAttr,
    IntegerAttr,
    IntegerType,
    MemRefType,
    ModuleOp,
    NoneAttr,
    UnrankedMemRefType,
    UnrealizedConversionCastOp,
    i1,
    i8,
    i64,
)
from xdsl.ir import Attribute, BlockArgument, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    TypeConversionPattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint, Rewriter
from xdsl.traits import SymbolTable

from tcir.errors import TcError
from tcir.passes.llvm_common import (
    OnlyWhere, TypeFinder, declare_function, from_llvm, llvm_type, lowering_error, to_llvm,
)

PASS_NAME = "convert-memref-to-llvm"
_NSW = llvm.OverflowAttr((llvm.OverflowFlag.NO_SIGNED_WRAP,))
_FLOAT_TYPES = (Float16Type, BFloat16Type, Float32Type, Float64Type)
_INT_WIDTHS = (8, 16, 32, 64)
# View-like ops lowered to "same base pointer, new static layout".
_VIEW_OPS = (
    memref.SubviewOp,
    memref.CastOp,
    memref.ReinterpretCastOp,
    memref.ExpandShapeOp,
    memref.CollapseShapeOp,
    memref.AssumeAlignmentOp,
)


def _error(message: str) -> TcError:
    return lowering_error(PASS_NAME, message)


# Types ---------------------------------------------------------------------------------


def pointer_type(memref_type: MemRefType) -> llvm.LLVMPointerType:
    """`!llvm.ptr` in the memref's memory space (none or an integer)."""
    space = memref_type.memory_space
    if isinstance(space, NoneAttr):
        return llvm.LLVMPointerType()
    if isinstance(space, IntegerAttr):
        number = space.value.data
        return llvm.LLVMPointerType(IntAttr(number)) if number else llvm.LLVMPointerType()
    raise _error(f"unsupported memory space {space} in {memref_type}")


def storage_type(element_type: Attribute) -> Attribute:
    """The LLVM type an element has in memory: i1 -> i8, else `llvm_type` (index -> i64,
    bf16 -> i16 bits)."""
    if element_type == i1:
        return i8
    stored = llvm_type(element_type)
    if isinstance(stored, IntegerType) and stored.width.data in _INT_WIDTHS:
        return stored
    if isinstance(stored, _FLOAT_TYPES):
        return stored
    raise _error(f"unsupported element type {element_type}")


def element_size(element_type: Attribute) -> int:
    """Bytes per element in memory."""
    stored = storage_type(element_type)
    assert isinstance(stored, IntegerType | AnyFloat)  # what storage_type returns
    return stored.bitwidth // 8


def static_layout(memref_type: Attribute) -> tuple[Sequence[int], int]:
    """(strides, offset) in elements; a clear error when not static."""
    if not isinstance(memref_type, MemRefType):
        raise _error(f"expected a ranked memref, got {memref_type}")
    strides = memref_type.get_strides()
    offset = memref_type.get_offset()
    if strides is None or None in strides or offset is None:
        raise _error(f"{memref_type} needs static strides and offset (bare-pointer ABI)")
    return strides, offset  # type: ignore[return-value]


def elements_spanned(memref_type: MemRefType) -> int:
    """How many elements from the base pointer the (static, strided) layout reaches
    (more than the shape holds where the layout pads or reorders it)."""
    strides, offset = static_layout(memref_type)
    shape = memref_type.get_shape()
    if 0 in shape:
        return 0
    return offset + 1 + sum((n - 1) * s for n, s in zip(shape, strides))


def static_bytes(memref_type: MemRefType) -> int:
    if not memref_type.has_static_shape():
        raise _error(f"allocation of {memref_type} needs a static shape")
    return memref_type.element_count() * element_size(memref_type.element_type)


# Small IR helpers ----------------------------------------------------------------------


def _constant(value: int, rewriter: PatternRewriter, where: InsertPoint | None = None,
              typ: IntegerType = i64) -> SSAValue:
    return rewriter.insert(llvm.ConstantOp(IntegerAttr(value, typ), typ), where).result


def _alloca(count: SSAValue, memref_type: MemRefType, align: int) -> llvm.AllocaOp:
    """`llvm.alloca count x T` in the memref's address space (align 0: the default)."""
    properties: dict[str, Attribute] = {"elem_type": storage_type(memref_type.element_type)}
    if align:
        properties["alignment"] = IntegerAttr(align, i64)
    return llvm.AllocaOp.create(operands=[count], properties=properties,
                                result_types=[pointer_type(memref_type)])


def _position_after(value: SSAValue) -> InsertPoint:
    """First point where `value` is defined (after its op, or at its block's start)."""
    if isinstance(value, BlockArgument):
        return InsertPoint.at_start(value.block)
    assert isinstance(value.owner, Operation)
    return InsertPoint.after(value.owner)


def _function_of(op: Operation) -> Operation:
    """The op directly inside the nearest symbol table (module) that contains `op`."""
    current = op
    while (parent := current.parent_op()) is not None and not parent.has_trait(SymbolTable):
        current = parent
    if current is op or not current.regions or not current.regions[0].blocks:
        raise _error(f"{op.name} is not inside a function")
    return current


def _stack_root(value: SSAValue) -> bool:
    """Whether `value` is (a view of) an `llvm.alloca`, following casts and views."""
    while isinstance(owner := value.owner, Operation):
        if isinstance(owner, llvm.AllocaOp | memref.AllocaOp):
            return True
        if isinstance(owner, UnrealizedConversionCastOp) and len(owner.inputs) == 1:
            value = owner.inputs[0]
        elif isinstance(owner, _VIEW_OPS):
            value = owner.operands[0]
        else:
            return False
    return False


# Patterns ------------------------------------------------------------------------------


@dataclass
class _Casts:
    """One `unrealized_conversion_cast` per (value, type), placed right after the value."""

    made: dict[tuple[SSAValue, Attribute], SSAValue] = field(default_factory=dict)

    def get(self, value: SSAValue, to: Attribute, rewriter: PatternRewriter) -> SSAValue:
        if value.type == to:
            return value
        key = (value, to)
        if key not in self.made:
            cast = UnrealizedConversionCastOp.get([value], [to])
            rewriter.insert(cast, _position_after(value))
            self.made[key] = cast.results[0]
        return self.made[key]


@dataclass
class LowerAlloc(RewritePattern):
    """`memref.alloc` -> entry-block `llvm.alloca` (small) or `aligned_alloc` (large)."""

    stack_limit: int
    alignment: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.AllocOp, rewriter: PatternRewriter) -> None:
        memref_type = op.memref.type
        ptr_type = pointer_type(memref_type)
        size = static_bytes(memref_type)
        align = max(self.alignment, op.alignment.value.data if op.alignment else 1)
        if size <= self.stack_limit:
            pointer = self._on_stack(op, memref_type, align, rewriter)
        else:
            pointer = self._on_heap(op, size, align, ptr_type, rewriter)
        rewriter.replace(op, UnrealizedConversionCastOp.get([pointer], [memref_type]))

    @staticmethod
    def _on_stack(op: memref.AllocOp, memref_type: MemRefType, align: int,
                  rewriter: PatternRewriter) -> SSAValue:
        entry = InsertPoint.at_start(_function_of(op).regions[0].blocks[0])
        count = _constant(memref_type.element_count(), rewriter, entry)
        return rewriter.insert(_alloca(count, memref_type, align), InsertPoint.after(count.owner)).res

    @staticmethod
    def _on_heap(op: memref.AllocOp, size: int, align: int, ptr_type: Attribute,
                 rewriter: PatternRewriter) -> SSAValue:
        if ptr_type != llvm.LLVMPointerType():
            raise _error(f"heap allocation in memory space {op.memref.type.memory_space}")
        declare_function(op, "aligned_alloc", [i64, i64], ptr_type)
        here = InsertPoint.before(op)
        rounded = max(-(-size // align) * align, align)
        args = [_constant(align, rewriter, here), _constant(rounded, rewriter, here)]
        call = rewriter.insert(llvm.CallOp("aligned_alloc", *args, return_type=ptr_type), here)
        return call.returned


class LowerAlloca(RewritePattern):
    """`memref.alloca` -> `llvm.alloca` in place."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.AllocaOp, rewriter: PatternRewriter) -> None:
        memref_type = op.memref.type
        static_bytes(memref_type)
        align = op.alignment.value.data if op.alignment else 0
        count = _constant(memref_type.element_count(), rewriter)
        alloca = rewriter.insert(_alloca(count, memref_type, align))
        rewriter.replace(op, UnrealizedConversionCastOp.get([alloca.res], [memref_type]))


@dataclass
class LowerDealloc(RewritePattern):
    """`memref.dealloc` -> `free`, or nothing for a stack buffer."""

    casts: _Casts

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.DeallocOp, rewriter: PatternRewriter) -> None:
        if _stack_root(op.memref):
            rewriter.erase(op)
            return
        if not isinstance(op.memref.type, MemRefType):
            raise _error(f"unranked memref {op.memref.type}")
        ptr_type = pointer_type(op.memref.type)
        declare_function(op, "free", [ptr_type], llvm.LLVMVoidType())
        pointer = self.casts.get(op.memref, ptr_type, rewriter)
        rewriter.replace(op, llvm.CallOp("free", pointer))


class LowerView(RewritePattern):
    """A view with a static result layout keeps the base pointer: a type cast."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, _VIEW_OPS):
            return
        result = op.results[0]
        static_layout(result.type)
        rewriter.replace(op, UnrealizedConversionCastOp.get([op.operands[0]], [result.type]))


@dataclass
class Addressing:
    """Element addresses of `memref[indices]` as GEPs over linearized i64 indices.

    Also for passes that run before this one and address memref elements themselves
    (convert-gpu-to-nvvm: `tcgpu.async_copy`): the memref value is cast to its pointer
    (`pointer_type`) with an `unrealized_conversion_cast`, which becomes a pointer to
    pointer cast once this pass has converted the memref types, and is folded.
    """

    casts: _Casts = field(default_factory=_Casts)

    def element_pointer(self, memref_value: SSAValue, indices: Sequence[SSAValue],
                        rewriter: PatternRewriter) -> SSAValue:
        """The address (`pointer_type` of the memref) of `memref_value[indices]`, built at
        the rewriter's insertion point: `getelementptr inbounds` over the linearized
        index (static strides and offset), or the base pointer when that index is 0.
        `indices` are index or i64 values."""
        memref_type = memref_value.type
        strides, offset = static_layout(memref_type)
        assert isinstance(memref_type, MemRefType)
        base = self.casts.get(memref_value, pointer_type(memref_type), rewriter)
        linear = self._linear_index(indices, strides, offset, rewriter)
        if linear is None:
            return base
        gep = llvm.GEPOp(base, [llvm.GEP_USE_SSA_VAL], storage_type(memref_type.element_type),
                         ssa_indices=[linear], result_type=base.type, inbounds=True)
        return rewriter.insert(gep).result

    def _linear_index(self, indices: Sequence[SSAValue], strides: Sequence[int], offset: int,
                      rewriter: PatternRewriter) -> SSAValue | None:
        """offset + sum(index * stride) in i64, or None when it is the constant 0."""
        total: SSAValue | None = None
        for index, stride in zip(indices, strides, strict=True):
            if stride == 0:
                continue
            term = self._as_i64(index, rewriter)
            if stride != 1:
                factor = _constant(stride, rewriter)
                term = rewriter.insert(llvm.MulOp(term, factor, overflow=_NSW)).res
            total = term if total is None else rewriter.insert(llvm.AddOp(total, term, overflow=_NSW)).res
        if offset:
            shift = _constant(offset, rewriter)
            total = shift if total is None else rewriter.insert(llvm.AddOp(total, shift, overflow=_NSW)).res
        return total

    @staticmethod
    def _as_i64(index: SSAValue, rewriter: PatternRewriter) -> SSAValue:
        if llvm_type(index.type) != i64:
            raise _error(f"subscript of type {index.type}; expected index or i64")
        return to_llvm(rewriter, index)


@dataclass
class LowerLoad(RewritePattern):
    addressing: Addressing

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.LoadOp, rewriter: PatternRewriter) -> None:
        pointer = self.addressing.element_pointer(op.memref, op.indices, rewriter)
        element_type = op.res.type
        load = rewriter.insert(llvm.LoadOp(pointer, storage_type(element_type)))
        rewriter.replace(op, [], [self._from_storage(load.dereferenced_value, element_type, rewriter)])

    @staticmethod
    def _from_storage(value: SSAValue, element_type: Attribute, rewriter: PatternRewriter) -> SSAValue:
        if element_type == i1:
            zero = _constant(0, rewriter, typ=i8)
            predicate = IntegerAttr(llvm.ICmpPredicateFlag.NE.to_int(), i64)
            return rewriter.insert(llvm.ICmpOp(value, zero, predicate)).res
        return from_llvm(rewriter, value, element_type, rewriter.insertion_point)


@dataclass
class LowerStore(RewritePattern):
    addressing: Addressing

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: memref.StoreOp, rewriter: PatternRewriter) -> None:
        pointer = self.addressing.element_pointer(op.memref, op.indices, rewriter)
        value = self._to_storage(op.value, rewriter)
        nontemporal = op.nontemporal is not None and op.nontemporal.value.data
        rewriter.replace(op, llvm.StoreOp(value, pointer, nontemporal=bool(nontemporal)))

    @staticmethod
    def _to_storage(value: SSAValue, rewriter: PatternRewriter) -> SSAValue:
        if value.type == i1:
            return rewriter.insert(llvm.ZExtOp(value, i8)).res
        return to_llvm(rewriter, value)


class MemRefToPointer(TypeConversionPattern):
    """memref types (results, block arguments, function types) -> `!llvm.ptr`."""

    def convert_type(self, typ: Attribute, /) -> Attribute | None:
        # what `@attr_type_rewrite_pattern` checks, without the message that its
        # constraint prints (`str(typ)`) for every other attribute it is asked about
        if not isinstance(typ, MemRefType):
            return None
        static_layout(typ)
        return pointer_type(typ)


# what MemRefToPointer converts: the type conversion visits only the ops that mention a
# memref (the generated lowp routines have none)
_MEMREFS = TypeFinder((MemRefType,))


def _fold_pointer_casts(module: ModuleOp) -> None:
    """Drop the `!llvm.ptr -> !llvm.ptr` casts that type conversion left behind."""
    for op in list(module.walk()):
        if (isinstance(op, UnrealizedConversionCastOp) and len(op.inputs) == 1
                and len(op.outputs) == 1 and op.inputs[0].type == op.outputs[0].type
                and isinstance(op.outputs[0].type, llvm.LLVMPointerType)):
            op.outputs[0].replace_all_uses_with(op.inputs[0])
            Rewriter.erase_op(op)


def _reject_leftovers(module: ModuleOp) -> None:
    for op in module.walk():
        if op.dialect_name() == "memref":
            raise _error(f"{op.name} is not supported")
        types = [v.type for v in op.results] + [a.type for r in op.regions for b in r.blocks for a in b.args]
        if any(isinstance(t, UnrankedMemRefType) for t in types):
            raise _error(f"unranked memref in {op.name}")


@dataclass(frozen=True)
class ConvertMemRefToLLVMPass(ModulePass):
    name = PASS_NAME

    stack_limit: int = 16384
    alignment: int = 64

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.alignment <= 0 or self.alignment & (self.alignment - 1):
            raise _error(f"alignment={self.alignment} is not a power of two")
        casts = _Casts()
        addressing = Addressing(casts)
        self._walk(op, [LowerAlloc(self.stack_limit, self.alignment), LowerAlloca()])
        self._walk(op, [LowerView(), LowerLoad(addressing), LowerStore(addressing), LowerDealloc(casts)])
        _reject_leftovers(op)
        self._walk(op, [OnlyWhere(MemRefToPointer(recursive=True), _MEMREFS.in_op)])
        _fold_pointer_casts(op)

    @staticmethod
    def _walk(op: ModuleOp, patterns: list[RewritePattern]) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns), apply_recursively=False).rewrite_module(op)
