"""Shared helpers of the passes that lower to the `llvm` dialect.

Types
  `llvm_type(t)` is the one type mapping of every *-to-llvm pass: `index` -> `i64`,
  `bf16` -> `i16` (llvmlite has no bfloat type, so bf16 values travel as their bit
  pattern and are computed in f32), every other type unchanged. Values whose type
  changes are bridged with `builtin.unrealized_conversion_cast` (`to_llvm`,
  `from_llvm`), which `reconcile-unrealized-casts` removes once every pass has run, so
  the passes work in any order.

Emitter
  `Emitter` inserts llvm ops before an anchor op and returns their results; the
  float helpers (`convert_float`, `int_to_float`, `float_to_int`) implement correctly
  rounded conversions between i1..i64, f16, bf16, f32 and f64 using only the ops that
  `xdsl.backend.llvm.convert` translates (no `uitofp`/`fptosi`/`fptoui`, no
  `fptrunc double to half`, which needs a libgcc helper that MCJIT cannot resolve).
  Intrinsics are always `llvm.call_intrinsic` with the type-mangled name: the
  converter declares its dedicated ops (`llvm.intr.fabs`, ...) without the type
  suffix, so one module could not use such an op at two types.

Op replacement
  `lower_scalar_op` replaces a one-result op by what a handler emits (cast back to
  the original type where still used); `declare_function` declares a C function once
  per symbol table; `erase_dead_casts` and `check_lowered` end each pass.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from functools import lru_cache
from io import StringIO

from xdsl.dialects import func, llvm
from xdsl.dialects.builtin import (
    ArrayAttr,
    BFloat16Type,
    DictionaryAttr,
    FloatAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    IndexType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    ShapedType,
    StringAttr,
    UnrealizedConversionCastOp,
    f32,
    f64,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, ParametrizedAttribute, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, RewritePattern
from xdsl.printer import Printer
from xdsl.rewriter import InsertPoint
from xdsl.traits import SymbolTable

from tcir.errors import TcError

FLOAT_TYPES = (Float16Type, BFloat16Type, Float32Type, Float64Type)


def lowering_error(pass_name: str, message: str, op: Operation | None = None) -> TcError:
    """A `TcError` naming the pass and, when given, the op (its first printed line)."""
    if op is None:
        return TcError(f"{pass_name}: {message}")
    text = StringIO()
    Printer(stream=text).print_op(op)
    first = text.getvalue().strip().splitlines()[0]
    return TcError(f"{pass_name}: {message}: {first[:200]}")


# Types ---------------------------------------------------------------------------------


def llvm_type(t: Attribute) -> Attribute:
    """The type a value of type `t` has in the llvm dialect."""
    if isinstance(t, IndexType):
        return i64
    if isinstance(t, BFloat16Type):
        return i16
    return t


def is_float(t: Attribute) -> bool:
    return isinstance(t, FLOAT_TYPES)


def int_width(t: Attribute) -> int:
    """Bit width of an integer or index type (index is 64 bits)."""
    if isinstance(t, IndexType):
        return 64
    assert isinstance(t, IntegerType)
    return t.width.data


def intrinsic_suffix(t: Attribute) -> str:
    """`f32`, `f64`, `f16` or `iN`: the overload suffix of an intrinsic on type `t`."""
    if isinstance(t, Float16Type):
        return "f16"
    if isinstance(t, Float32Type):
        return "f32"
    if isinstance(t, Float64Type):
        return "f64"
    return f"i{int_width(t)}"


def bf16_bits(x: float) -> int:
    """The bf16 bit pattern nearest to `x` (round to nearest even, quiet NaN)."""
    if math.isnan(x):
        return 0x7FC0
    if math.isinf(x) or x == 0:
        return struct.unpack("<I", struct.pack("<f", x))[0] >> 16
    _, e = math.frexp(x)
    ulp_exp = max(e - 8, -133)  # 8 significant bits; subnormal spacing 2**-133
    q = round(math.ldexp(x, -ulp_exp))  # exact scaling; round() is half-even
    value = math.ldexp(q, ulp_exp)
    if abs(value) >= 2.0**128:
        value = math.copysign(math.inf, x)
    return struct.unpack("<I", struct.pack("<f", value))[0] >> 16


# Casts between original and llvm types --------------------------------------------------


def _casts_after_definition(value: SSAValue) -> tuple[list[UnrealizedConversionCastOp], InsertPoint]:
    """The casts placed right after `value`'s definition (where `to_llvm` puts them, so
    that they dominate every use), and the point after them."""
    if isinstance(value, BlockArgument):
        op, block = value.block.first_op, value.block
    else:
        op, block = value.owner.next_op, value.owner.parent_block()
    casts: list[UnrealizedConversionCastOp] = []
    while isinstance(op, UnrealizedConversionCastOp):
        casts.append(op)
        op = op.next_op
    assert block is not None
    return casts, InsertPoint.before(op) if op is not None else InsertPoint.at_end(block)


def to_llvm(rewriter: PatternRewriter, value: SSAValue) -> SSAValue:
    """`value` as its llvm type: itself, the input of the cast that produced it, or a
    cast placed after its definition (one per value)."""
    target = llvm_type(value.type)
    if target == value.type:
        return value
    owner = value.owner
    if (
        isinstance(owner, UnrealizedConversionCastOp)
        and len(owner.inputs) == 1
        and owner.inputs[0].type == target
    ):
        return owner.inputs[0]
    casts, point = _casts_after_definition(value)
    for cast in casts:
        if list(cast.inputs) == [value] and [r.type for r in cast.results] == [target]:
            return cast.results[0]
    cast, result = UnrealizedConversionCastOp.cast_one(value, target)
    rewriter.insert(cast, point)
    return result


def from_llvm(
    rewriter: PatternRewriter, value: SSAValue, original: Attribute, point: InsertPoint
) -> SSAValue:
    """`value` (of type `llvm_type(original)`) seen as type `original`."""
    if value.type == original:
        return value
    cast, result = UnrealizedConversionCastOp.cast_one(value, original)
    rewriter.insert(cast, point)
    return result


def retype_block_arguments(rewriter: PatternRewriter, block: Block) -> None:
    """Give each argument of `block` its llvm type; old uses go through a cast."""
    for index, arg in enumerate(list(block.args)):
        target = llvm_type(arg.type)
        if target == arg.type:
            continue
        new_arg = rewriter.insert_block_argument(block, index, target)
        new_arg.name_hint = arg.name_hint
        cast, result = UnrealizedConversionCastOp.cast_one(new_arg, arg.type)
        rewriter.insert(cast, InsertPoint.at_start(block))
        rewriter.replace_all_uses_with(arg, result)
        rewriter.erase_block_argument(arg)


def _declares(op: Operation, inputs: Sequence[Attribute], output: Attribute) -> bool:
    """Whether `op` is a bodiless func.func/llvm.func of the given llvm signature."""
    if isinstance(op, llvm.FuncOp):
        ft = op.function_type
        return not op.body.blocks and list(ft.inputs) == list(inputs) and ft.output == output
    if isinstance(op, func.FuncOp):
        ft = op.function_type
        ins = [llvm_type(t) for t in ft.inputs]
        outs = [llvm_type(t) for t in ft.outputs] or [llvm.LLVMVoidType()]
        return not op.body.blocks and ins == list(inputs) and outs == [output]
    return False


def declare_function(
    anchor: Operation, name: str, inputs: Sequence[Attribute], output: Attribute
) -> None:
    """Declare the external `llvm.func @name` in the symbol table around `anchor`
    (once). A different symbol of that name there is a `TcError`: a call would reach
    it instead of the C function."""
    table = anchor.parent_op()
    while table is not None and not table.has_trait(SymbolTable):
        table = table.parent_op()
    if table is None:
        raise TcError(f"cannot declare @{name}: {anchor.name} is not inside a module")
    body = table.regions[0].block
    for op in body.ops:
        sym = op.properties.get("sym_name")
        if isinstance(sym, StringAttr) and sym.data == name:
            if _declares(op, inputs, output):
                return
            raise TcError(f"the symbol @{name} is taken; it is needed for the C library function {name}")
    decl = llvm.FuncOp(
        name, llvm.LLVMFunctionType(inputs, output), linkage=llvm.LinkageAttr("external")
    )
    if body.first_op is None:
        body.add_op(decl)
    else:
        body.insert_op_before(decl, body.first_op)


# Emitter -------------------------------------------------------------------------------


class Emitter:
    """Builds llvm ops (on values of llvm types) and returns their results."""

    def __init__(self, rewriter: PatternRewriter, anchor: Operation, point: InsertPoint | None = None):
        """Insert at `point` (default: before `anchor`); `anchor` locates the symbol
        table for function declarations."""
        self.rewriter = rewriter
        self.anchor = anchor
        self.point = InsertPoint.before(anchor) if point is None else point
        self._constants: dict[tuple[Attribute, float | int], SSAValue] = {}

    def emit(self, op: Operation) -> SSAValue:
        """Insert `op`; its first result (terminators: not to be used)."""
        self.rewriter.insert(op, self.point)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    # Casts from and to the original types.
    def arg(self, value: SSAValue) -> SSAValue:
        return to_llvm(self.rewriter, value)

    def result(self, value: SSAValue, original: Attribute) -> SSAValue:
        return from_llvm(self.rewriter, value, original, self.point)

    # Constants.
    def const(self, value: float | int, t: Attribute) -> SSAValue:
        """A constant (one op per value and type in this emitter)."""
        if is_float(t):
            value = float(value)
            attr = FloatAttr(value, t)
        else:
            w = int_width(t)
            v = int(value) & ((1 << w) - 1)
            value = v - (1 << w) if v >= 1 << (w - 1) else v
            attr = IntegerAttr(value, t)
        key = (t, struct.pack("<d", value) if isinstance(value, float) else value)
        if key not in self._constants:
            self._constants[key] = self.emit(llvm.ConstantOp(attr, t))
        return self._constants[key]

    def like(self, value: float | int, like: SSAValue) -> SSAValue:
        """A constant of the type of `like`."""
        return self.const(value, like.type)

    # Integer ops.
    def iop(self, cls: type[Operation], a: SSAValue, b: SSAValue) -> SSAValue:
        """A binary integer op. No `overflowFlags` property at all rather than a zero
        one, which xDSL prints generically in a form upstream MLIR rejects."""
        if issubclass(cls, llvm.ArithmeticBinOpOverflow):
            return self.emit(cls.create(operands=[a, b], result_types=[a.type]))
        return self.emit(cls(a, b))

    def icmp(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        code = llvm.ICmpPredicateFlag(predicate).to_int()
        return self.emit(llvm.ICmpOp(a, b, IntegerAttr(code, i64)))

    def cast(self, cls: type[Operation], value: SSAValue, t: Attribute) -> SSAValue:
        """trunc/zext/sext/bitcast/fpext/fptrunc/sitofp of `value` to `t`, without
        optional flags (xDSL's `trunc` would carry `overflowFlags`, which MLIR 19's
        generic syntax rejects)."""
        return self.emit(cls.create(operands=[value], result_types=[t]))

    def select(self, cond: SSAValue, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(llvm.SelectOp(cond, a, b))

    # Float ops.
    def add(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(llvm.FAddOp(a, b))

    def sub(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(llvm.FSubOp(a, b))

    def mul(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(llvm.FMulOp(a, b))

    def div(self, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(llvm.FDivOp(a, b))

    def neg(self, a: SSAValue) -> SSAValue:
        return self.emit(llvm.FNegOp(a))

    def fma(self, a: SSAValue, b: SSAValue, c: SSAValue) -> SSAValue:
        return self.intrinsic("llvm.fma", [a, b, c])

    def fcmp(self, predicate: str, a: SSAValue, b: SSAValue) -> SSAValue:
        return self.emit(llvm.FCmpOp(a, b, predicate))

    def intrinsic(self, base: str, args: Sequence[SSAValue], t: Attribute | None = None) -> SSAValue:
        """`llvm.<base>` overloaded on the type of the first argument (result type `t`,
        by default that type), always as `llvm.call_intrinsic` with the mangled name:
        the converter declares its dedicated ops (`llvm.intr.fabs`...) unmangled, so
        one module could not use them at two types."""
        arg_type = args[0].type
        t = arg_type if t is None else t
        return self.call_intrinsic(f"{base}.{intrinsic_suffix(arg_type)}", args, t)

    def call_intrinsic(self, name: str, args: Sequence[SSAValue], t: Attribute) -> SSAValue:
        return self.emit(llvm.CallIntrinsicOp(name, args, [t]))

    def call(self, name: str, args: Sequence[SSAValue], t: Attribute) -> SSAValue:
        """Call the external C function `name` (declared on first use)."""
        declare_function(self.anchor, name, [a.type for a in args], t)
        return self.emit(llvm.CallOp(name, *args, return_type=t))

    def horner(self, x: SSAValue, coefficients: Sequence[float]) -> SSAValue:
        """c[0]*x^(n-1) + ... + c[n-1], by Horner's rule (highest degree first)."""
        p = self.like(coefficients[0], x)
        for c in coefficients[1:]:
            p = self.fma(p, x, self.like(c, x))
        return p

    # Float conversions (operands and results in llvm types; `src`/`dst` the original
    # float types, so a bf16 value is its i16 bit pattern).
    def bf16_to_f32(self, bits: SSAValue) -> SSAValue:
        wide = self.cast(llvm.ZExtOp, bits, i32)
        return self.cast(llvm.BitcastOp, self.iop(llvm.ShlOp, wide, self.const(16, i32)), f32)

    def f32_to_bf16(self, x: SSAValue) -> SSAValue:
        """Round to nearest even; NaN stays a (quiet) NaN."""
        bits = self.cast(llvm.BitcastOp, x, i32)
        high = self.iop(llvm.LShrOp, bits, self.const(16, i32))
        lsb = self.iop(llvm.AndOp, high, self.const(1, i32))
        bias = self.iop(llvm.AddOp, lsb, self.const(0x7FFF, i32))
        rounded = self.iop(llvm.LShrOp, self.iop(llvm.AddOp, bits, bias), self.const(16, i32))
        quiet = self.iop(llvm.OrOp, high, self.const(0x40, i32))
        result = self.select(self.fcmp("uno", x, x), quiet, rounded)
        return self.cast(llvm.TruncOp, result, i16)

    def f64_to_f32_odd(self, x: SSAValue) -> SSAValue:
        """f64 -> f32 rounding to odd, so that a second rounding to a narrower type
        (f16, bf16) is correctly rounded."""
        r = self.cast(llvm.FPTruncOp, x, f32)
        back = self.cast(llvm.FPExtOp, r, f64)
        bits = self.cast(llvm.BitcastOp, r, i32)
        one = self.const(1, i32)
        even = self.icmp("eq", self.iop(llvm.AndOp, bits, one), self.const(0, i32))
        inexact = self.fcmp("one", back, x)
        away = self.fcmp("ogt", self.intrinsic("llvm.fabs", [back]), self.intrinsic("llvm.fabs", [x]))
        nudged = self.select(away, self.iop(llvm.SubOp, bits, one), self.iop(llvm.AddOp, bits, one))
        adjust = self.iop(llvm.AndOp, even, inexact)
        return self.cast(llvm.BitcastOp, self.select(adjust, nudged, bits), f32)

    def convert_float(self, x: SSAValue, src: Attribute, dst: Attribute) -> SSAValue:
        """Correctly rounded conversion between f16, bf16, f32 and f64."""
        if src == dst:
            return x
        if isinstance(src, BFloat16Type):
            return self.convert_float(self.bf16_to_f32(x), f32, dst)
        if isinstance(src, Float16Type) and not isinstance(dst, (Float32Type, Float64Type)):
            return self.convert_float(self.cast(llvm.FPExtOp, x, f32), f32, dst)
        if isinstance(src, Float64Type) and isinstance(dst, (Float16Type, BFloat16Type)):
            return self.convert_float(self.f64_to_f32_odd(x), f32, dst)
        if isinstance(dst, BFloat16Type):
            return self.f32_to_bf16(x)
        width = {Float16Type: 16, Float32Type: 32, Float64Type: 64}
        wider = width[type(dst)] > width[type(src)]
        return self.cast(llvm.FPExtOp if wider else llvm.FPTruncOp, x, dst)

    def widen(self, x: SSAValue, src: Attribute) -> tuple[SSAValue, Attribute]:
        """A f16/bf16 value as f32 (exact); f32/f64 unchanged."""
        if isinstance(src, (Float16Type, BFloat16Type)):
            return self.convert_float(x, src, f32), f32
        return x, src

    def int_to_float(self, x: SSAValue, signed: bool, dst: Attribute) -> SSAValue:
        """sitofp/uitofp of an i1..i64 value, correctly rounded to any float type."""
        w = int_width(x.type)
        if isinstance(dst, (Float32Type, Float64Type)):
            return self._int_to_wide_float(x, signed, w, dst)
        # f16/bf16: an f64 whose rounding to <= 51 bits equals that of x, then narrow.
        if w <= 53:
            exact = self._int_to_wide_float(x, signed, w, f64)
            return self.convert_float(exact, f64, dst)
        if not signed:
            return self.convert_float(self._sticky_to_f64(x), f64, dst)
        negative = self.icmp("slt", x, self.like(0, x))
        magnitude = self._sticky_to_f64(self.select(negative, self.iop(llvm.SubOp, self.like(0, x), x), x))
        return self.convert_float(self.select(negative, self.neg(magnitude), magnitude), f64, dst)

    def _int_to_wide_float(self, x: SSAValue, signed: bool, w: int, dst: Attribute) -> SSAValue:
        if signed:
            return self.cast(llvm.SIToFPOp, x, dst)
        if w < 64:
            return self.cast(llvm.SIToFPOp, self.cast(llvm.ZExtOp, x, i64), dst)
        # u64 with the top bit set: halve keeping the lost bit sticky, convert, double.
        top = self.icmp("slt", x, self.like(0, x))
        one = self.like(1, x)
        half = self.iop(llvm.OrOp, self.iop(llvm.LShrOp, x, one), self.iop(llvm.AndOp, x, one))
        f = self.cast(llvm.SIToFPOp, self.select(top, half, x), dst)
        return self.select(top, self.add(f, f), f)

    def _sticky_to_f64(self, m: SSAValue) -> SSAValue:
        """An unsigned 64-bit magnitude as f64, low 11 bits folded into a sticky bit
        when it has more than 53 significant bits."""
        big = self.icmp("uge", m, self.like(1 << 53, m))
        low = self.iop(llvm.AndOp, m, self.like(0x7FF, m))
        sticky = self.cast(llvm.ZExtOp, self.icmp("ne", low, self.like(0, m)), i64)
        shifted = self.iop(llvm.OrOp, self.iop(llvm.LShrOp, m, self.like(11, m)), sticky)
        f = self.cast(llvm.SIToFPOp, self.select(big, shifted, m), f64)
        return self.select(big, self.mul(f, self.const(2.0**11, f64)), f)

    def float_to_int(self, x: SSAValue, src: Attribute, signed: bool, dst: Attribute) -> SSAValue:
        """fptosi/fptoui rounding toward zero; out-of-range inputs (undefined for arith)
        saturate and NaN gives 0 (`llvm.fpto[su]i.sat`)."""
        x, t = self.widen(x, src)
        kind = "fptosi" if signed else "fptoui"
        name = f"llvm.{kind}.sat.{intrinsic_suffix(dst)}.{intrinsic_suffix(t)}"
        return self.call_intrinsic(name, [x], dst)


# Op replacement --------------------------------------------------------------------------

Handler = Callable[[Emitter, Operation], SSAValue]


def lower_scalar_op(rewriter: PatternRewriter, op: Operation, pass_name: str, handler: Handler) -> None:
    """Replace the one-result scalar `op` by what `handler` emits, cast back to the
    original result type."""
    if any(isinstance(v.type, ShapedType) for v in (*op.operands, *op.results)):
        raise lowering_error(pass_name, "vector and tensor operands are not supported", op)
    em = Emitter(rewriter, op)
    value = handler(em, op)
    used = bool(op.results[0].uses)
    rewriter.replace(op, [], [em.result(value, op.results[0].type) if used else None])


def erase_dead_casts(module: ModuleOp) -> None:
    """Erase the unrealized casts whose results are unused (casts back to an original
    type whose users were lowered later)."""
    for op in reversed(list(module.walk())):
        if isinstance(op, UnrealizedConversionCastOp) and not any(r.uses for r in op.results):
            op.detach()
            op.erase()


def check_lowered(module: ModuleOp, names: Sequence[str], pass_name: str) -> None:
    """Raise a TcError for the first op left in `module` that is named in `names` or
    belongs to a dialect named there."""
    for op in module.walk():
        if any(op.name == n or op.name.startswith(n + ".") for n in names):
            raise lowering_error(pass_name, f"cannot lower {op.name}", op)


class TypeFinder:
    """Whether a type of `kinds` occurs in an attribute, where xDSL's recursive type
    conversion looks (parameters, array elements, dictionary values), or in an op (its
    result types, properties, attributes and block arguments). Cached for hashable
    attributes: a type conversion walking every op of a module asks about the same
    types again and again."""

    def __init__(self, kinds: tuple[type, ...]):
        self.kinds = kinds
        self._cached = lru_cache(maxsize=1 << 14)(self._parametrized)

    def in_attribute(self, attr: Attribute) -> bool:
        if isinstance(attr, ArrayAttr):
            return any(self.in_attribute(a) for a in attr.data)
        if isinstance(attr, DictionaryAttr):  # not hashable
            return any(self.in_attribute(a) for a in attr.data.values())
        if isinstance(attr, ParametrizedAttribute):
            try:
                return self._cached(attr)
            except TypeError:  # a parameter that cannot be hashed
                return self._parametrized(attr)
        return False

    def _parametrized(self, attr: ParametrizedAttribute) -> bool:
        return isinstance(attr, self.kinds) or any(self.in_attribute(p) for p in attr.parameters)

    def in_op(self, op: Operation) -> bool:
        if any(self.in_attribute(r.type) for r in op.results):
            return True
        if any(self.in_attribute(a) for a in (*op.properties.values(), *op.attributes.values())):
            return True
        return any(self.in_attribute(arg.type) for region in op.regions for block in region.blocks for arg in block.args)


class OnlyWhere(RewritePattern):
    """`inner` (a type conversion), applied only to the ops `mentions(op)` holds for: a
    type conversion rebuilds every attribute it looks at, so visiting only the ops that
    can change keeps it from costing a walk over every attribute of the module."""

    def __init__(self, inner: RewritePattern, mentions: Callable[[Operation], bool]):
        self.inner, self.mentions = inner, mentions

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if self.mentions(op):
            self.inner.match_and_rewrite(op, rewriter)
