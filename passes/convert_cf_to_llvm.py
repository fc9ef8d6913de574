"""Lower the `cf` dialect to the `llvm` dialect.

Summary:
  - `cf.br` -> `llvm.br`, `cf.cond_br` -> `llvm.cond_br`, same successors and
    successor operands.
  - `cf.switch` -> a chain of `llvm.icmp "eq"` + `llvm.cond_br`, one new block per case
    after the first (llvmlite's converter has no `llvm.switch`).
  - `cf.assert %c, "msg"` -> `llvm.cond_br %c, ^continue, ^failure` where `^failure`
    calls C's `abort()` (declared `llvm.func @abort()`) and ends in
    `llvm.unreachable`; the ops after the assert move to `^continue`. The message is
    not printed.
  - The arguments of every successor block get their llvm types (`index` -> i64,
    `bf16` -> i16), with `builtin.unrealized_conversion_cast` for their remaining old
    uses; run `reconcile-unrealized-casts` once all *-to-llvm passes have run.

Options: none.

Before:
  cf.cond_br %c, ^bb1(%i : index), ^bb2
^bb1(%j : index):
  %k = arith.addi %j, %j : index
  cf.br ^bb2
After:
  %i_1 = builtin.unrealized_conversion_cast %i : index to i64
  llvm.cond_br %c, ^bb1(%i_1 : i64), ^bb2
^bb1(%j : i64):
  %j_1 = builtin.unrealized_conversion_cast %j : i64 to index
  %k = arith.addi %j_1, %j_1 : index
  llvm.br ^bb2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import cf, llvm
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from tcir.passes.llvm_common import (
    Emitter,
    check_lowered,
    declare_function,
    erase_dead_casts,
    retype_block_arguments,
    to_llvm,
)

PASS_NAME = "convert-cf-to-llvm"


def _operands(rewriter: PatternRewriter, values: Sequence[SSAValue], dest: Block) -> list[SSAValue]:
    """Successor operands in llvm types, after giving `dest`'s arguments llvm types."""
    retype_block_arguments(rewriter, dest)
    return [to_llvm(rewriter, v) for v in values]


class LowerBranch(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.BranchOp, rewriter: PatternRewriter) -> None:
        args = _operands(rewriter, op.arguments, op.successor)
        rewriter.replace(op, llvm.BrOp(op.successor, *args))


class LowerCondBranch(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.ConditionalBranchOp, rewriter: PatternRewriter) -> None:
        then_args = _operands(rewriter, op.then_arguments, op.then_block)
        else_args = _operands(rewriter, op.else_arguments, op.else_block)
        new = llvm.CondBrOp(op.cond, op.then_block, then_args, op.else_block, else_args)
        rewriter.replace(op, new)


class LowerSwitch(RewritePattern):
    """Compare with each case value in turn; the last comparison falls to default."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.SwitchOp, rewriter: PatternRewriter) -> None:
        block = op.parent_block()
        assert block is not None and block.parent is not None
        flag = to_llvm(rewriter, op.flag)
        default = (op.default_block, _operands(rewriter, op.default_operands, op.default_block))
        values = op.case_values.get_values() if op.case_values is not None else ()
        cases = [
            (value, dest, _operands(rewriter, operands, dest))
            for value, dest, operands in zip(values, op.case_blocks, _case_operands(op))
        ]
        em = Emitter(rewriter, op)
        for index, (value, dest, operands) in enumerate(cases):
            if index + 1 < len(cases):
                otherwise = (Block(), [])
                block.parent.insert_block_after(otherwise[0], em.point.block)
            else:
                otherwise = default
            matches = em.icmp("eq", flag, em.like(value, flag))
            em.emit(llvm.CondBrOp(matches, dest, operands, otherwise[0], otherwise[1]))
            em = Emitter(rewriter, op, InsertPoint.at_end(otherwise[0]))
        if not cases:
            em.emit(llvm.BrOp(default[0], *default[1]))
        rewriter.erase(op)


def _case_operands(op: cf.SwitchOp) -> list[Sequence[SSAValue]]:
    operands, start = [], 0
    for size in op.case_operand_segments.get_values():
        operands.append(op.case_operands[start : start + size])
        start += size
    return operands


class LowerAssert(RewritePattern):
    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: cf.AssertOp, rewriter: PatternRewriter) -> None:
        block = op.parent_block()
        assert block is not None and block.parent is not None
        assert op.next_op is not None  # a terminator follows
        continuation = block.split_before(op.next_op)
        failure = Block()
        block.parent.insert_block_after(failure, block)
        declare_function(op, "abort", [], llvm.LLVMVoidType())
        failure.add_ops([llvm.CallOp("abort"), llvm.UnreachableOp()])
        rewriter.replace(op, llvm.CondBrOp(op.arg, continuation, [], failure, []))


@dataclass(frozen=True)
class ConvertCfToLlvmPass(ModulePass):
    name = "convert-cf-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        patterns: list[RewritePattern] = [LowerBranch(), LowerCondBranch(), LowerSwitch(), LowerAssert()]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns, dce_enabled=False)).rewrite_module(op)
        erase_dead_casts(op)
        check_lowered(op, ("cf",), PASS_NAME)
