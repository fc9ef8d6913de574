"""Lower the `arith` dialect to the `llvm` dialect.

Summary:
  Rewrites every scalar arith op into llvm ops or LLVM intrinsics that
  `xdsl.backend.llvm.convert` translates to llvmlite.

  - Integers: addi/subi/muli (overflow flags kept), divsi/divui/remsi/remui,
    andi/ori/xori, shli/shrsi/shrui -> the llvm op of the same meaning;
    minsi/maxsi/minui/maxui -> `llvm.smin/smax/umin/umax`; floordivsi, ceildivsi,
    ceildivui -> sdiv/srem (udiv) plus a correction; cmpi (all predicates) ->
    `llvm.icmp`; select -> `llvm.select`; index_cast, extsi, extui, trunci -> sext /
    zext / trunc (or nothing when the widths agree).
  - Floats: addf/subf/mulf/divf (fastmath flags kept), negf, cmpf (all 16 predicates;
    `false`/`true` become constants), minimumf/maximumf -> `llvm.minimum/maximum`
    (NaN-propagating), minnumf/maxnumf -> `llvm.minnum/maxnum` (C fmin/fmax).
  - Conversions, correctly rounded between i1..i64, f16, bf16, f32, f64: extf/truncf
    (f64 -> f16/bf16 rounds to odd in f32 first, so there is a single rounding),
    sitofp/uitofp (u64 and i64 -> f16/bf16 without double rounding), fptosi/fptoui ->
    `llvm.fptosi.sat`/`llvm.fptoui.sat` (in-range results exact; arith leaves
    out-of-range undefined, here it saturates and NaN gives 0), bitcast.
  - Types: `index` is i64. `bf16` is i16 holding the bit pattern (llvmlite has no
    bfloat): bf16 arithmetic and comparisons are done in f32 and rounded back to
    nearest even (correctly rounded for + - * /), negf flips the sign bit. f16 stays
    `f16` (`half`), which LLVM promotes as needed; on x86 the JIT target needs F16C
    (host CPU features) since MCJIT cannot resolve libgcc's half-conversion helpers.
  - Operands and results whose type changes (index, bf16) are bridged with
    `builtin.unrealized_conversion_cast`; run `reconcile-unrealized-casts` after all
    *-to-llvm passes.

  Not supported (reported as `tcir.TcError`): vector and tensor operands, dense
  constants, addui_extended, mului_extended, mulsi_extended, and any other arith op.

Options: none.

Before:
  func.func @f(%x: f32, %i: index) -> f32 {
    %c = arith.constant 2.0 : f32
    %y = arith.mulf %x, %c : f32
    %n = arith.index_cast %i : index to i32
    %m = arith.sitofp %n : i32 to f32
    %r = arith.maximumf %y, %m : f32
    func.return %r : f32
  }
After:
  func.func @f(%x: f32, %i: index) -> f32 {
    %i64 = builtin.unrealized_conversion_cast %i : index to i64
    %c = llvm.mlir.constant(2.000000e+00 : f32) : f32
    %y = llvm.fmul %x, %c : f32
    %n = llvm.trunc %i64 : i64 to i32
    %m = llvm.sitofp %n : i32 to f32
    %r = llvm.call_intrinsic "llvm.maximum.f32"(%y, %m) : (f32, f32) -> f32
    func.return %r : f32
  }
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, llvm
from xdsl.dialects.builtin import (
    BFloat16Type,
    FloatAttr,
    IntegerAttr,
    ModuleOp,
    i1,
    i16,
)
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)

from tcir.passes.llvm_common import (
    Emitter,
    Handler,
    bf16_bits,
    check_lowered,
    erase_dead_casts,
    int_width,
    llvm_type,
    lower_scalar_op,
    lowering_error,
)

PASS_NAME = "convert-arith-to-llvm"

_INT_BINARY: dict[type[Operation], type[Operation]] = {
    arith.AddiOp: llvm.AddOp,
    arith.SubiOp: llvm.SubOp,
    arith.MuliOp: llvm.MulOp,
    arith.DivSIOp: llvm.SDivOp,
    arith.DivUIOp: llvm.UDivOp,
    arith.RemSIOp: llvm.SRemOp,
    arith.RemUIOp: llvm.URemOp,
    arith.AndIOp: llvm.AndOp,
    arith.OrIOp: llvm.OrOp,
    arith.XOrIOp: llvm.XOrOp,
    arith.ShLIOp: llvm.ShlOp,
    arith.ShRSIOp: llvm.AShrOp,
    arith.ShRUIOp: llvm.LShrOp,
}
_INT_INTRINSIC = {
    arith.MinSIOp: "llvm.smin",
    arith.MaxSIOp: "llvm.smax",
    arith.MinUIOp: "llvm.umin",
    arith.MaxUIOp: "llvm.umax",
}
_FLOAT_BINARY: dict[type[Operation], type[Operation]] = {
    arith.AddfOp: llvm.FAddOp,
    arith.SubfOp: llvm.FSubOp,
    arith.MulfOp: llvm.FMulOp,
    arith.DivfOp: llvm.FDivOp,
}
_FLOAT_INTRINSIC = {
    arith.MinimumfOp: "llvm.minimum",
    arith.MaximumfOp: "llvm.maximum",
    arith.MinnumfOp: "llvm.minnum",
    arith.MaxnumfOp: "llvm.maxnum",
}


# Integers ------------------------------------------------------------------------------


def _int_binary(em: Emitter, op: Operation) -> SSAValue:
    a, b = em.arg(op.operands[0]), em.arg(op.operands[1])
    cls = _INT_BINARY[type(op)]
    flags = op.properties.get("overflowFlags")
    if issubclass(cls, llvm.ArithmeticBinOpOverflow) and isinstance(flags, arith.IntegerOverflowAttr) and flags.data:
        overflow = llvm.OverflowAttr(tuple(llvm.OverflowFlag(f.value) for f in flags.data))
        return em.emit(cls(a, b, overflow=overflow))
    return em.iop(cls, a, b)


def _int_intrinsic(em: Emitter, op: Operation) -> SSAValue:
    return em.intrinsic(_INT_INTRINSIC[type(op)], [em.arg(v) for v in op.operands])


def _is_nonzero_and(em: Emitter, r: SSAValue, same_sign: bool, b: SSAValue) -> SSAValue:
    """r != 0 and (sign(r) == sign(b)) == same_sign: when a truncated quotient needs
    the floor/ceil correction."""
    zero = em.like(0, r)
    signs_differ = em.iop(llvm.XOrOp, em.icmp("slt", r, zero), em.icmp("slt", b, zero))
    wanted = em.iop(llvm.XOrOp, signs_differ, em.const(1, i1)) if same_sign else signs_differ
    return em.iop(llvm.AndOp, em.icmp("ne", r, zero), wanted)


def _floordivsi(em: Emitter, op: Operation) -> SSAValue:
    a, b = em.arg(op.operands[0]), em.arg(op.operands[1])
    q, r = em.iop(llvm.SDivOp, a, b), em.iop(llvm.SRemOp, a, b)
    fix = _is_nonzero_and(em, r, False, b)
    return em.select(fix, em.iop(llvm.SubOp, q, em.like(1, q)), q)


def _ceildivsi(em: Emitter, op: Operation) -> SSAValue:
    a, b = em.arg(op.operands[0]), em.arg(op.operands[1])
    q, r = em.iop(llvm.SDivOp, a, b), em.iop(llvm.SRemOp, a, b)
    fix = _is_nonzero_and(em, r, True, b)
    return em.select(fix, em.iop(llvm.AddOp, q, em.like(1, q)), q)


def _ceildivui(em: Emitter, op: Operation) -> SSAValue:
    a, b = em.arg(op.operands[0]), em.arg(op.operands[1])
    zero, one = em.like(0, a), em.like(1, a)
    q = em.iop(llvm.AddOp, em.iop(llvm.UDivOp, em.iop(llvm.SubOp, a, one), b), one)
    return em.select(em.icmp("eq", a, zero), zero, q)


def _cmpi(em: Emitter, op: arith.CmpiOp) -> SSAValue:
    predicate = arith.CMPI_COMPARISON_OPERATIONS[op.predicate.value.data]
    return em.icmp(predicate, em.arg(op.lhs), em.arg(op.rhs))


def _select(em: Emitter, op: arith.SelectOp) -> SSAValue:
    return em.select(em.arg(op.cond), em.arg(op.lhs), em.arg(op.rhs))


def _resize(em: Emitter, op: Operation, signed: bool) -> SSAValue:
    """index_cast / extsi / extui / trunci: sext, zext, trunc or nothing."""
    x = em.arg(op.operands[0])
    src, dst = int_width(op.operands[0].type), int_width(op.results[0].type)
    t = llvm_type(op.results[0].type)
    if src == dst:
        return x
    if src > dst:
        return em.cast(llvm.TruncOp, x, t)
    return em.cast(llvm.SExtOp if signed else llvm.ZExtOp, x, t)


def _constant(em: Emitter, op: arith.ConstantOp) -> SSAValue:
    value, t = op.value, op.result.type
    if isinstance(value, IntegerAttr):
        return em.const(value.value.data, llvm_type(t))
    if isinstance(value, FloatAttr):
        if isinstance(t, BFloat16Type):
            return em.const(bf16_bits(value.value.data), i16)
        return em.const(value.value.data, t)
    raise lowering_error(PASS_NAME, "only scalar integer and float constants are supported", op)


# Floats --------------------------------------------------------------------------------


def _fastmath(op: Operation) -> llvm.FastMathAttr:
    flags = op.properties.get("fastmath")
    if isinstance(flags, arith.FastMathFlagsAttr) and flags.data:
        return llvm.FastMathAttr(flags.data)
    return llvm.FastMathAttr(None)


def _in_f32_if_bf16(em: Emitter, op: Operation, compute: Callable[..., SSAValue]) -> SSAValue:
    """compute(*args) on the llvm operands; bf16 operands are computed in f32 and the
    result rounded back to bf16 when it is a float."""
    t = op.operands[0].type
    args = [em.arg(v) for v in op.operands]
    if not isinstance(t, BFloat16Type):
        return compute(*args)
    result = compute(*(em.bf16_to_f32(a) for a in args))
    return em.f32_to_bf16(result) if op.results[0].type == t else result


def _float_binary(em: Emitter, op: Operation) -> SSAValue:
    cls = _FLOAT_BINARY[type(op)]
    return _in_f32_if_bf16(em, op, lambda a, b: em.emit(cls(a, b, _fastmath(op))))


def _float_intrinsic(em: Emitter, op: Operation) -> SSAValue:
    name = _FLOAT_INTRINSIC[type(op)]
    return _in_f32_if_bf16(em, op, lambda a, b: em.intrinsic(name, [a, b]))


def _negf(em: Emitter, op: arith.NegfOp) -> SSAValue:
    x = em.arg(op.operand)
    if isinstance(op.operand.type, BFloat16Type):
        return em.iop(llvm.XOrOp, x, em.const(0x8000, i16))
    return em.neg(x)


def _cmpf(em: Emitter, op: arith.CmpfOp) -> SSAValue:
    predicate = arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data]
    if predicate in ("false", "true"):
        return em.const(int(predicate == "true"), i1)
    return _in_f32_if_bf16(em, op, lambda a, b: em.fcmp(predicate, a, b))


def _convert_float(em: Emitter, op: Operation) -> SSAValue:
    return em.convert_float(em.arg(op.operands[0]), op.operands[0].type, op.results[0].type)


def _int_to_float(em: Emitter, op: Operation) -> SSAValue:
    signed = isinstance(op, arith.SIToFPOp)
    return em.int_to_float(em.arg(op.operands[0]), signed, op.results[0].type)


def _float_to_int(em: Emitter, op: Operation) -> SSAValue:
    signed = isinstance(op, arith.FPToSIOp)
    x = em.arg(op.operands[0])
    return em.float_to_int(x, op.operands[0].type, signed, op.results[0].type)


def _bitcast(em: Emitter, op: arith.BitcastOp) -> SSAValue:
    x, t = em.arg(op.input), llvm_type(op.result.type)
    return x if x.type == t else em.cast(llvm.BitcastOp, x, t)


HANDLERS: dict[type[Operation], Handler] = {
    **{cls: _int_binary for cls in _INT_BINARY},
    **{cls: _int_intrinsic for cls in _INT_INTRINSIC},
    **{cls: _float_binary for cls in _FLOAT_BINARY},
    **{cls: _float_intrinsic for cls in _FLOAT_INTRINSIC},
    arith.FloorDivSIOp: _floordivsi,
    arith.CeilDivSIOp: _ceildivsi,
    arith.CeilDivUIOp: _ceildivui,
    arith.CmpiOp: _cmpi,
    arith.CmpfOp: _cmpf,
    arith.SelectOp: _select,
    arith.ConstantOp: _constant,
    arith.IndexCastOp: lambda em, op: _resize(em, op, signed=True),
    arith.ExtSIOp: lambda em, op: _resize(em, op, signed=True),
    arith.ExtUIOp: lambda em, op: _resize(em, op, signed=False),
    arith.TruncIOp: lambda em, op: _resize(em, op, signed=False),
    arith.NegfOp: _negf,
    arith.ExtFOp: _convert_float,
    arith.TruncFOp: _convert_float,
    arith.SIToFPOp: _int_to_float,
    arith.UIToFPOp: _int_to_float,
    arith.FPToSIOp: _float_to_int,
    arith.FPToUIOp: _float_to_int,
    arith.BitcastOp: _bitcast,
}


class LowerArithOp(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        handler = HANDLERS.get(type(op))
        if handler is not None:
            lower_scalar_op(rewriter, op, PASS_NAME, handler)


@dataclass(frozen=True)
class ConvertArithToLlvmPass(ModulePass):
    name = "convert-arith-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerArithOp()).rewrite_module(op)
        erase_dead_casts(op)
        check_lowered(op, ("arith",), PASS_NAME)
