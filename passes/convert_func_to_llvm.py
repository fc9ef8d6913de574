"""Lower the `func` dialect to the `llvm` dialect (bare-pointer calling convention).

Summary:
  - `func.func` -> `llvm.func` with the same name, body and attributes. Argument and
    result types get their llvm types (`index` -> i64, `bf16` -> i16, no result ->
    `!llvm.void`; an `f16` argument of a defined function is passed as its i16 bits,
    see `_f16_arguments_as_bits`); the entry block's arguments follow, with
    `builtin.unrealized_conversion_cast` for uses not yet lowered. Memref arguments
    must already be `!llvm.ptr` (`convert-memref-to-llvm` does that): the bare-pointer
    ABI passes one pointer per memref and nothing else, so a C caller passes
    `float *`. `arg_attrs`/`res_attrs` (e.g. `llvm.noalias`) are kept.
  - Declarations (bodiless, usually `private`) -> external `llvm.func` declarations.
    Every function gets `external` linkage unless it carries an `llvm.linkage`
    attribute.
  - `func.return` -> `llvm.return`; `func.call` -> `llvm.call` (an f16 argument is
    bitcast to i16 when the callee is a definition lowered here, which takes the bits).

  Reported as `tcir.TcError`: functions or calls with more than one result, memref,
  tensor or other non-LLVM argument types, `func.call_indirect`.

Options: none.

Before:
  func.func private @g(f32) -> f32
  func.func @f(%p: !llvm.ptr, %n: index, %x: f32) -> f32 {
    %r = func.call @g(%x) : (f32) -> f32
    %m = arith.addi %n, %n : index
    func.return %r : f32
  }
After:
  llvm.func @g(f32) -> f32
  llvm.func @f(%p: !llvm.ptr, %n: i64, %x: f32) -> f32 {
    %n_1 = builtin.unrealized_conversion_cast %n : i64 to index
    %r = llvm.call @g(%x) : (f32) -> f32
    %m = arith.addi %n_1, %n_1 : index
    llvm.return %r : f32
  }
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func, llvm
from xdsl.dialects.builtin import (
    AnyFloat,
    Float16Type,
    IndexType,
    IntegerType,
    ModuleOp,
    NoneType,
    i16,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint
from xdsl.traits import SymbolTable

from tcir.passes.llvm_common import (
    Emitter,
    check_lowered,
    erase_dead_casts,
    llvm_type,
    lowering_error,
    retype_block_arguments,
)

PASS_NAME = "convert-func-to-llvm"
_LLVM_VALUE_TYPES = (IntegerType, IndexType, AnyFloat, llvm.LLVMPointerType, llvm.LLVMStructType, llvm.LLVMArrayType)


def _value_type(t: Attribute, what: str, op: Operation) -> Attribute:
    """The llvm type of an argument or result type, or a clear error."""
    if not isinstance(t, _LLVM_VALUE_TYPES):
        hint = " (run convert-memref-to-llvm first)" if "memref" in t.name else ""
        raise lowering_error(PASS_NAME, f"{what} of type {t} has no LLVM type{hint}", op)
    return llvm_type(t)


def _result_type(types: tuple[Attribute, ...], what: str, op: Operation) -> Attribute:
    if len(types) > 1:
        raise lowering_error(PASS_NAME, f"{what} with {len(types)} results are not supported", op)
    if not types or isinstance(types[0], NoneType):
        return llvm.LLVMVoidType()
    return _value_type(types[0], "result", op)


class LowerFunc(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.FuncOp, rewriter: PatternRewriter) -> None:
        name = op.sym_name.data
        inputs = [_value_type(t, f"argument of @{name}", op) for t in op.function_type.inputs]
        output = _result_type(op.function_type.outputs.data, "functions", op)
        if op.body.blocks:
            retype_block_arguments(rewriter, op.body.blocks[0])
            inputs = _f16_arguments_as_bits(rewriter, op.body.blocks[0], inputs)
        linkage = op.attributes.get("llvm.linkage")
        new = llvm.FuncOp(
            name,
            llvm.LLVMFunctionType(inputs, output),
            linkage=linkage if isinstance(linkage, llvm.LinkageAttr) else llvm.LinkageAttr("external"),
            body=rewriter.move_region_contents_to_new_regions(op.body),
            other_props={"arg_attrs": op.arg_attrs, "res_attrs": op.res_attrs},
            extra_attrs={k: v for k, v in op.attributes.items() if k != "llvm.linkage"},
        )
        rewriter.replace(op, new)


def _f16_arguments_as_bits(rewriter: PatternRewriter, block: Block, inputs: list[Attribute]) -> list[Attribute]:
    """An `f16` argument of a defined function arrives as its `i16` bits and is bitcast
    to `f16` at entry, as `bf16` values always are: the x86-64 ABI passes `half` in a
    vector register, which a ctypes caller cannot do (backends/cpu.py passes a half
    scalar as its i16 bits). Found by tests/test_fuzz_pipeline.py (a `half alpha`
    parameter could not be called)."""
    inputs = list(inputs)
    for index, arg in enumerate(list(block.args)):
        if not isinstance(arg.type, Float16Type):
            continue
        bits = rewriter.insert_block_argument(block, index, i16)
        bits.name_hint = arg.name_hint
        cast = llvm.BitcastOp(bits, Float16Type())
        rewriter.insert(cast, InsertPoint.at_start(block))
        rewriter.replace_all_uses_with(arg, cast.result)
        rewriter.erase_block_argument(arg)
        inputs[index] = i16
    return inputs


class LowerReturn(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.ReturnOp, rewriter: PatternRewriter) -> None:
        if len(op.arguments) > 1:
            raise lowering_error(PASS_NAME, "returning more than one value is not supported", op)
        em = Emitter(rewriter, op)
        rewriter.replace(op, llvm.ReturnOp(em.arg(op.arguments[0]) if op.arguments else None))


class LowerCall(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: func.CallOp, rewriter: PatternRewriter) -> None:
        output = _result_type(tuple(r.type for r in op.res), "calls", op)
        for arg in op.arguments:
            _value_type(arg.type, "call argument", op)
        em = Emitter(rewriter, op)
        args = _match_callee(em, op, [em.arg(a) for a in op.arguments])
        returns = None if isinstance(output, llvm.LLVMVoidType) else output
        call = llvm.CallOp(op.callee.string_value(), *args, return_type=returns)
        rewriter.insert(call, em.point)
        results = [em.result(call.results[0], op.res[0].type)] if op.res else []
        rewriter.replace(op, [], results)


def _match_callee(em: Emitter, op: func.CallOp, args: list[SSAValue]) -> list[SSAValue]:
    """Bitcast f16 arguments to i16 where the (lowered) callee takes the bits
    (`_f16_arguments_as_bits`)."""
    callee = SymbolTable.lookup_symbol(op, op.callee)
    if not isinstance(callee, llvm.FuncOp):
        return args
    expected = callee.function_type.inputs.data
    return [
        em.cast(llvm.BitcastOp, a, t) if isinstance(a.type, Float16Type) and t == i16 else a
        for a, t in zip(args, expected)
    ]


@dataclass(frozen=True)
class ConvertFuncToLlvmPass(ModulePass):
    name = "convert-func-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # Functions first: llvm.call must name an llvm.func.
        walker = PatternRewriteWalker(GreedyRewritePatternApplier([LowerFunc()], dce_enabled=False))
        walker.rewrite_module(op)
        patterns: list[RewritePattern] = [LowerReturn(), LowerCall()]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False)).rewrite_module(op)
        erase_dead_casts(op)
        check_lowered(op, ("func",), PASS_NAME)

