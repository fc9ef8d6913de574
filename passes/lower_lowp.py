"""Lower the `lowp` dialect: low-precision types to their storage integers, each op to a
call of a generated routine written in `arith` (and `math.fma`/`math.ctlz`).

Summary:
  Issue 15, item 3. The dialect says what to compute (the exact result rounded once,
  `dialects/lowp.py`); this pass generates how, from integer bit manipulation.

  - Types: every `!lowp.float`/`!lowp.fixed` becomes its `storage_type` (a signless
    i8, i16 or i32) everywhere: SSA values, block arguments, function signatures,
    memref element types (`memref<4x!lowp.float<e4m3, fn>>` -> `memref<4xi8>`), so
    loads and stores of lowp values become integer loads and stores. Every format's
    pattern sits in the low bits, zero-extended (ml_dtypes' int4 arrays hold 0x0f for
    -1; `tcir.frontend.formats` documents the same for user formats). Routines read only
    the low `bits` bits of an operand, so any extension of the pattern reads the same.
  - Ops: each lowp op becomes a `func.call` of a `func.func private` routine, one per
    (op, types, rounding, overflow, signedness), emitted once per symbol table (the
    module, or the `gpu.module` holding the call: kernels call routines of their own
    gpu.module) and shared by every use. A routine's body is built once per process
    (issue 15, item 5): the built `func.func` is kept in a process-wide table keyed by
    its `RoutineSpec` (everything its text depends on; at most `ROUTINE_CACHE_SIZE`,
    least recently used dropped first) and each symbol table gets a clone, so no module
    shares an op with the table or with another module (`routine_cache_info()` counts
    builds and reuses). Routines are branch-free single blocks, carry
    `llvm.linkage = #llvm.linkage<internal>` and `passthrough = ["alwaysinline"]`
    (which the CPU and NVPTX backends apply to the LLVM function), so LLVM inlines
    them and vectorizes a loop of casts. Names are readable and deterministic:
    `__lowp_<op>_<types>[_<rounding>][_sat]`, e.g. `__lowp_cast_f32_to_e4m3fn_rne`,
    `__lowp_add_e5m2_sr_sat`, `__lowp_cmp_olt_e4m3fn`, `__lowp_mul_qs4_4sat_rtz`;
    float formats are `e<E>m<M>[b<bias>]<kind>` (kind: nothing for ieee, `fn`, `fnuz`,
    `fnu` for unsigned, `fin` for finite; the bias only when not the default, a
    negative one as `bn<k>`), fixed point
    `q<s|u><I>_<F><sat|wrap>[_f<float_overflow>]`, integers `i<N>` (`u<N>` read as
    unsigned).

Algorithms (why each is correct):
  decode (format -> float)
      The pattern's fields give the exact value ``sig * 2^(max(e,1) - bias - M)``
      (``sig = f`` plus the hidden bit when ``e > 0``): ``sitofp(sig)`` (exact, at
      most 16 bits) times the power of two built from its exponent bits (exact: a
      product by a power of two within the normal range), the sign ORed in, NaN and
      infinities selected. To f64 this is always exact (every format value is an f64
      value). To f32 directly when every value of the format is an f32 value and the
      scales are normal f32 numbers; to f16/bf16 through that f32 and an exact
      `arith.truncf` when every value is exact there. Otherwise decode to f64, then
      round once to the destination with the generic encoder below (so rounding and
      overflow attributes are honoured).
  encode (float -> format)
      From the source's bits with integer ops (f32 sources in i32, f64 sources in i64;
      first, exactly: f16/bf16 extended to f32, integers and fixed point of up to 24
      bits converted to f32 and of up to 32 bits to f64; i64 normalized with ctlz and
      rounded from its 64 bits, never through a rounded f64):
      sign, biased exponent eb = max(X + bias, 1) of the result (X the source's
      exponent), the significand with its hidden bit, and the shift s = (P - 1 - M) +
      (eb - X - bias): P - 1 - M for normal results, more for subnormal ones. The shift
      is clamped where the result can no longer change (P + 1 for nearest/toward zero,
      P + 32 for stochastic) and split so that every shift is smaller than the width.
      q = sig >> s; the discarded bits, left-aligned, decide the rounding:
      nearest_even rounds up above half, or at exactly half when q is odd;
      toward_zero never; stochastic when ``r < T + (S ? 1 : 0)``, T the first 32
      discarded bits and S whether any bit below them is set, which is exactly the
      reference's ``r < frac * 2^32`` (tcir.testing.exact_formats). The pattern is
      ``((eb - 1) << M) + q + up``: a carry out of the significand moves into the
      exponent by itself (q includes the hidden bit), subnormals come out with eb = 1.
      Then the format's rules: beyond the largest finite pattern the overflow rule
      (saturate, or the format's: inf / NaN / saturate; toward_zero saturates as IEEE
      754 does), NaN, infinities, zero (with its sign but in fnuz), the `unsigned`
      kind (exponent only, biased one higher internally, no zero: values below the
      smallest give the smallest, whose tie rule, rounding up, is the odd q = 1), the
      `finite` kind (NaN -> the zero of the opposite sign, as ml_dtypes).
      Subnormal sources are used unnormalized where the destination's smallest normal
      exponent is not below the source's (the quantum is then the same), else scaled
      by 2^P in the source's float type first (exact).
  float-format arithmetic (add sub mul div fma)
      Both operands decoded to f64 (exact), the operation computed in f64, the result
      encoded once (a NaN result is +NaN, as in the exact reference). Formats have at
      most p = 16 bits and magnitudes in [2^-511, 2^511), so every f64 result below is
      a normal f64 number and
        - mul is exact in f64 (2p <= 32 bits): one rounding in every mode;
        - add, sub, div with nearest_even: RN53 then RNp equals RNp (Figueroa 1995:
          53 >= 2p + 2);
        - add, sub with toward_zero or stochastic, and fma in every mode (a 2p-bit
          product plus a p-bit addend is outside Figueroa's theorem): the exact sum
          rounded to odd in f64 (TwoSum gives the error term; an inexact result with
          an even last bit moves one ulp toward the exact value). Rounding to odd at
          53 bits keeps 52 - p >= 36 exact bits below the destination's last bit and
          a sticky bit, so the one later rounding is exact in every mode, including
          the 32 bits + sticky that stochastic rounding reads;
        - div with toward_zero or stochastic: q = RN53(a/b), its remainder
          fma(-q, b, a) is exact, and its sign says on which side a/b lies: q
          rounded to odd the same way.
      Overflow, NaN and infinities follow IEEE in f64 and then the format's rules.
  neg abs min max cmp (floats)
      On the patterns: neg flips the sign bit (fnuz: 0 and NaN stay), abs clears it
      (fnuz NaN stays), a NaN result is the canonical NaN; min/max/cmp compare the
      sign-magnitude patterns as integers (-0 below +0 for min/max, equal for cmp).
  fixed point
      Values are integers (two's complement or unsigned) times 2^-F, computed in i64:
      add/sub exact; mul: the product fits 64 bits (unsigned 32x32 as u64), then
      divided by 2^F with the rounding mode applied to the magnitude of the exact
      quotient (floor decomposition, so negative results round like the reference);
      fma: (a*b >> F) + c plus the fraction bits, rounded once; div: (|a| << F) / |b|
      with the remainder deciding the rounding (stochastic: (rem << 32) / |b| and
      whether it divides exactly); then saturate or wrap (mod 2^bits). x/0 gives the
      range limit of x's sign under both rules (0/0 gives 0). Casts between fixed
      point, integers and floats as the dialect says: from floats the type's
      `float_overflow` rule (int4's `zero`), from integers and fixed point its
      `overflow` rule; an integer is sN.0 / uN.0 with wrap. Float to fixed rounds
      |x| * 2^F from the float's significand and exponent (huge values wrap exactly:
      the shifted significand modulo 2^64). neg, abs, min, max and the comparisons
      work on the integers (signed or unsigned as the format is).

  hardware conversions (option `arch`, sm_89 and later)
      PTX 7.8 converts pairs of f32 or f16 values to float8_e4m3fn/e5m2 rounded to
      nearest even and saturated (`cvt.rn.satfinite.e4m3x2.f32`), and pairs of those
      formats to f16 exactly (`cvt.rn.f16x2.e4m3x2`). A cast these compute
      (`hardware_cast`) becomes the instruction (inline PTX, one value of the pair
      used) and a few selects that make its result the software routine's bit for
      bit: a NaN keeps its sign (the instructions give +NaN), and under the format's
      overflow rule a magnitude from the midpoint above the largest finite value (the
      midpoint itself when that value's pattern is odd: ties to even) gives the
      format's overflow pattern instead of the saturated one. Decodes to f32 add an
      exact `cvt.f32.f16`. The routines are `..._cvt`; tests evaluate them with NumPy
      models of the instructions (tcir/testing/ptx_conversions.py) against ml_dtypes.

Options:
  arch  the GPU architecture the module is compiled for (`sm_90`); from sm_89 on the
        hardware conversions above are used. Empty (the default, and the CPU): none.
        The NVPTX backend passes its target's.

Before:
  func.func @f(%x: memref<8xf32>, %y: memref<8x!lowp.float<e4m3, fn>>, %i: index) {
    %v = memref.load %x[%i] : memref<8xf32>
    %w = lowp.cast %v : f32 to !lowp.float<e4m3, fn>
    memref.store %w, %y[%i] : memref<8x!lowp.float<e4m3, fn>>
    func.return
  }
After:
  func.func @f(%x: memref<8xf32>, %y: memref<8xi8>, %i: index) {
    %v = memref.load %x[%i] : memref<8xf32>
    %w = func.call @__lowp_cast_f32_to_e4m3fn_rne(%v) : (f32) -> i8
    memref.store %w, %y[%i] : memref<8xi8>
    func.return
  }
  func.func private @__lowp_cast_f32_to_e4m3fn_rne(%0: f32) -> i8
      attributes {llvm.linkage = #llvm.linkage<internal>, passthrough = ["alwaysinline"]} {
    %1 = arith.bitcast %0 : f32 to i32
    ...
    func.return %r : i8
  }

Reported as `tcir.TcError`: `lowp.neg` of an unsigned float format (the verifier's
error too), a symbol of a routine's name that is something else, an `arch` that is not
`sm_<number>`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from xdsl.context import Context
from xdsl.dialects import arith, func, llvm
from xdsl.dialects import math as math_dialect
from xdsl.dialects.builtin import (
    ArrayAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    FunctionType,
    IntegerAttr,
    IntegerType,
    ModuleOp,
    StringAttr,
    bf16,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriteWalker, TypeConversionPattern
from xdsl.traits import SymbolTable

from tcir.dialects import lowp
from tcir.errors import TcError
from tcir.passes.llvm_common import OnlyWhere, TypeFinder

PASS_NAME = "lower-lowp"
ROUTINE_PREFIX = "__lowp_"
NE, TZ, SR = "nearest_even", "toward_zero", "stochastic"
_ROUNDING_TAGS = {NE: "rne", TZ: "rtz", SR: "sr"}


# ----------------------------------------------------------------------------------
# Type descriptors
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FloatDesc:
    """A binary float format (the lowp kinds, and f16/bf16/f32/f64 as `ieee`)."""

    E: int
    M: int
    bias: int
    kind: str
    std: Attribute | None = None  # the standard float type this describes, if any

    @property
    def signed(self) -> bool:
        return self.kind != "unsigned"

    @property
    def bits(self) -> int:
        return self.E + self.M + self.signed

    @property
    def sign_bit(self) -> int:
        return 1 << (self.bits - 1) if self.signed else 0

    @property
    def all_ones(self) -> int:
        """All ones without the sign."""
        return (1 << (self.E + self.M)) - 1

    @property
    def inf_mag(self) -> int:
        return ((1 << self.E) - 1) << self.M

    @property
    def max_mag(self) -> int:
        if self.kind == "ieee":
            return self.inf_mag - 1
        if self.kind in ("fn", "unsigned"):
            return self.all_ones - 1
        return self.all_ones

    @property
    def quiet_nan(self) -> int:
        """ieee: the canonical quiet NaN without the sign."""
        return self.inf_mag | 1 << (self.M - 1)

    def nan(self, negative: bool) -> int:
        s = self.sign_bit if negative else 0
        if self.kind == "ieee":
            return self.quiet_nan | s
        if self.kind == "fn":
            return self.all_ones | s
        if self.kind == "fnuz":
            return self.sign_bit
        if self.kind == "unsigned":
            return self.all_ones
        return 0 if negative else self.sign_bit  # finite: the zero of the other sign

    def overflowed_mag(self) -> int:
        """The format's own overflow result for positive values, without the sign
        (fnuz's NaN is special-cased by the caller)."""
        return {"ieee": self.inf_mag, "finite": self.max_mag, "fn": self.all_ones}.get(self.kind, self.all_ones)

    @property
    def qmin(self) -> int:
        """Exponent of the smallest positive value's quantum."""
        return -self.bias if self.kind == "unsigned" else 1 - self.bias - self.M

    @property
    def max_finite(self) -> Fraction:
        mag = self.max_mag
        if self.kind == "unsigned":
            return Fraction(2) ** (mag - self.bias)
        e, f = mag >> self.M, mag & ((1 << self.M) - 1)
        return ((1 << self.M) + f) * Fraction(2) ** (e - self.bias - self.M)

    @property
    def tag(self) -> str:
        if self.std is not None:
            return _STD_TAGS[type(self.std)]
        bias = "" if self.bias == 2 ** (self.E - 1) - 1 else f"b{self.bias}" if self.bias >= 0 else f"bn{-self.bias}"
        kind = {"ieee": "", "fn": "fn", "fnuz": "fnuz", "unsigned": "fnu", "finite": "fin"}[self.kind]
        return f"e{self.E}m{self.M}{bias}{kind}"


F16 = FloatDesc(5, 10, 15, "ieee", f16)
BF16 = FloatDesc(8, 7, 127, "ieee", bf16)
F32 = FloatDesc(8, 23, 127, "ieee", f32)
F64 = FloatDesc(11, 52, 1023, "ieee", f64)
_STD = {Float16Type: F16, BFloat16Type: BF16, Float32Type: F32, Float64Type: F64}
_STD_TAGS = {Float16Type: "f16", BFloat16Type: "bf16", Float32Type: "f32", Float64Type: "f64"}


@dataclass(frozen=True)
class FixedDesc:
    """A fixed-point format, or an integer (``sN.0``/``uN.0`` with wrap)."""

    n: int  # bits
    F: int  # fraction bits
    signed: bool
    overflow: str  # saturate | wrap
    float_overflow: str  # saturate | wrap | zero
    width: int  # storage width
    is_int: bool = False

    @property
    def lo(self) -> int:
        return -(1 << (self.n - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.n - 1)) - 1 if self.signed else (1 << self.n) - 1

    @property
    def storage(self) -> IntegerType:
        return IntegerType(self.width)

    @property
    def tag(self) -> str:
        if self.is_int:
            return f"{'i' if self.signed else 'u'}{self.n}"
        integer = self.n - self.F
        rule = "sat" if self.overflow == "saturate" else "wrap"
        extra = "" if self.float_overflow == self.overflow else f"_f{self.float_overflow}"
        return f"q{'s' if self.signed else 'u'}{integer}_{self.F}{rule}{extra}"


Desc = FloatDesc | FixedDesc


def describe(t: Attribute, unsigned: bool = False) -> Desc:
    """The descriptor of a type a lowp op takes (`unsigned`: an integer read as such)."""
    if isinstance(t, lowp.LowpFloatType):
        return FloatDesc(t.exponent.data, t.mantissa.data, t.bias.data, t.kind.data)
    if isinstance(t, lowp.LowpFixedType):
        return FixedDesc(t.bits, t.fraction.data, t.is_signed, t.overflow.data, t.float_overflow.data,
                         t.storage_width)
    if type(t) in _STD:
        return _STD[type(t)]
    if isinstance(t, IntegerType):
        w = t.width.data
        return FixedDesc(w, 0, not unsigned, "wrap", "wrap", w, is_int=True)
    raise TcError(f"{PASS_NAME}: no lowp lowering for type {t}")


def carrier(d: Desc) -> Attribute:
    """The type of a value of `d` in a routine's signature."""
    if isinstance(d, FloatDesc):
        return d.std if d.std is not None else IntegerType(_float_storage(d))
    return d.storage


def _float_storage(d: FloatDesc) -> int:
    return 8 if d.bits <= 8 else 16 if d.bits <= 16 else 32 if d.bits <= 32 else 64


def exact_in(src: FloatDesc, dst: FloatDesc) -> bool:
    """Whether every value of `src` (and its specials) is a value of `dst`."""
    if src.M > dst.M or src.qmin < dst.qmin or src.max_finite > dst.max_finite:
        return False
    if src.kind == "ieee" and dst.kind != "ieee":
        return False
    if src.kind in ("ieee", "fn", "fnuz", "unsigned") and dst.kind == "finite":
        return False
    if src.kind in ("ieee", "fn", "finite") and dst.kind in ("fnuz", "unsigned"):
        return False  # -0
    return not (src.kind != "unsigned" and dst.kind == "unsigned")


# ----------------------------------------------------------------------------------
# Building arith in one block
# ----------------------------------------------------------------------------------


def _width(t: Attribute) -> int:
    assert isinstance(t, IntegerType)
    return t.width.data


class Builder:
    """Appends arith/math ops to a block and returns their results. Integer operands
    may be Python ints (constants of the other operand's type)."""

    def __init__(self, block: Block):
        self.block = block
        self._constants: dict[tuple[Attribute, object], SSAValue] = {}

    def emit(self, op: Operation) -> SSAValue:
        self.block.add_op(op)
        return op.results[0] if op.results else None  # type: ignore[return-value]

    def c(self, value: int | float, t: Attribute) -> SSAValue:
        if isinstance(t, IntegerType):
            w = t.width.data
            v = int(value) & ((1 << w) - 1)
            if w > 1 and v >= 1 << (w - 1):
                v -= 1 << w
            key: tuple[Attribute, object] = (t, v)
            attr: Attribute = IntegerAttr(v, t)
        else:
            key = (t, float(value).hex())
            attr = FloatAttr(float(value), t)
        if key not in self._constants:
            self._constants[key] = self.emit(arith.ConstantOp(attr))
        return self._constants[key]

    def _pair(self, a, b) -> tuple[SSAValue, SSAValue]:
        if not isinstance(a, SSAValue):
            a = self.c(a, b.type)
        if not isinstance(b, SSAValue):
            b = self.c(b, a.type)
        return a, b

    def _bin(self, cls, a, b) -> SSAValue:
        a, b = self._pair(a, b)
        return self.emit(cls(a, b))

    # integers
    def add(self, a, b): return self._bin(arith.AddiOp, a, b)
    def sub(self, a, b): return self._bin(arith.SubiOp, a, b)
    def mul(self, a, b): return self._bin(arith.MuliOp, a, b)
    def and_(self, a, b): return self._bin(arith.AndIOp, a, b)
    def or_(self, a, b): return self._bin(arith.OrIOp, a, b)
    def xor(self, a, b): return self._bin(arith.XOrIOp, a, b)
    def shl(self, a, b): return self._bin(arith.ShLIOp, a, b)
    def lshr(self, a, b): return self._bin(arith.ShRUIOp, a, b)
    def ashr(self, a, b): return self._bin(arith.ShRSIOp, a, b)
    def udiv(self, a, b): return self._bin(arith.DivUIOp, a, b)
    def urem(self, a, b): return self._bin(arith.RemUIOp, a, b)
    def umin(self, a, b): return self._bin(arith.MinUIOp, a, b)
    def umax(self, a, b): return self._bin(arith.MaxUIOp, a, b)
    def smin(self, a, b): return self._bin(arith.MinSIOp, a, b)
    def smax(self, a, b): return self._bin(arith.MaxSIOp, a, b)

    def cmp(self, predicate: str, a, b) -> SSAValue:
        a, b = self._pair(a, b)
        return self.emit(arith.CmpiOp(a, b, predicate))

    def sel(self, cond: SSAValue, a, b) -> SSAValue:
        if not isinstance(a, SSAValue) and not isinstance(b, SSAValue):
            raise AssertionError("select of two constants needs a type")
        a, b = self._pair(a, b)
        return self.emit(arith.SelectOp(cond, a, b))

    def sel_c(self, cond: SSAValue, a: int, b: int, t: Attribute) -> SSAValue:
        if a == b:
            return self.c(a, t)
        return self.emit(arith.SelectOp(cond, self.c(a, t), self.c(b, t)))

    def false(self) -> SSAValue:
        return self.c(0, i1)

    def not_(self, a: SSAValue) -> SSAValue:
        return self.xor(a, self.c(1, i1))

    def any(self, *conds: SSAValue | None) -> SSAValue:
        present = [c for c in conds if c is not None]
        if not present:
            return self.false()
        result = present[0]
        for c in present[1:]:
            result = self.or_(result, c)
        return result

    def zext(self, x: SSAValue, t: Attribute) -> SSAValue:
        return x if x.type == t else self.emit(arith.ExtUIOp(x, t))

    def sext(self, x: SSAValue, t: Attribute) -> SSAValue:
        return x if x.type == t else self.emit(arith.ExtSIOp(x, t))

    def trunc(self, x: SSAValue, t: Attribute) -> SSAValue:
        return x if x.type == t else self.emit(arith.TruncIOp(x, t))

    def bitcast(self, x: SSAValue, t: Attribute) -> SSAValue:
        return x if x.type == t else self.emit(arith.BitcastOp(x, t))

    def bit(self, cond: SSAValue, t: Attribute) -> SSAValue:
        """An i1 as 0 or 1 of type t."""
        return self.zext(cond, t)

    # floats
    def fadd(self, a, b): return self.emit(arith.AddfOp(a, b))
    def fsub(self, a, b): return self.emit(arith.SubfOp(a, b))
    def fmul(self, a, b): return self.emit(arith.MulfOp(a, b))
    def fdiv(self, a, b): return self.emit(arith.DivfOp(a, b))
    def fma(self, a, b, c): return self.emit(math_dialect.FmaOp(a, b, c))

    def fcmp(self, predicate: str, a, b) -> SSAValue:
        return self.emit(arith.CmpfOp(a, b, predicate))

    def sitofp(self, x: SSAValue, t: Attribute) -> SSAValue:
        return self.emit(arith.SIToFPOp(x, t))

    def uitofp(self, x: SSAValue, t: Attribute) -> SSAValue:
        return self.emit(arith.UIToFPOp(x, t))

    def extf(self, x: SSAValue, t: Attribute) -> SSAValue:
        return x if x.type == t else self.emit(arith.ExtFOp(x, t))

    def truncf(self, x: SSAValue, t: Attribute) -> SSAValue:
        return x if x.type == t else self.emit(arith.TruncFOp(x, t))

    def ctlz(self, x: SSAValue) -> SSAValue:
        return self.emit(math_dialect.CountLeadingZerosOp(x))

    def pow2(self, k: int, t: Attribute) -> SSAValue:
        return self.c(2.0 ** k, t)


def _int_of(t: Attribute) -> IntegerType:
    """The integer type of a float type's bits."""
    return IntegerType({Float16Type: 16, BFloat16Type: 16, Float32Type: 32, Float64Type: 64}[type(t)])


# ----------------------------------------------------------------------------------
# Rounding by shifting (the core of every encode)
# ----------------------------------------------------------------------------------


def shift_round(b: Builder, sig: SSAValue, sh: SSAValue, P: int, rounding: str,
                rand: SSAValue | None) -> tuple[SSAValue, SSAValue]:
    """(q, up): ``sig / 2^sh`` truncated, and whether `rounding` rounds it up (0 or 1,
    of sig's type). ``sig < 2^P``; `sh` >= 1 (unsigned, any size)."""
    t = sig.type
    W = _width(t)
    assert P <= W
    if rounding == TZ:
        s = b.umin(sh, P)
        if P < W:
            return b.lshr(sig, s), b.c(0, t)
        return b.sel(b.cmp("uge", s, W), 0, b.lshr(sig, b.umin(s, W - 1))), b.c(0, t)
    limit = P + 1 if rounding == NE else P + 32
    shc = b.umin(sh, limit)
    sticky_low = None
    if limit < W:
        q = b.lshr(sig, shc)
        dl = b.shl(sig, b.sub(W, shc))
    else:
        assert limit - W < W
        s1 = b.umin(shc, W)
        extra = b.sub(shc, s1)
        q = b.lshr(sig, b.umin(s1, W - 1))
        if P == W:
            q = b.sel(b.cmp("eq", s1, W), 0, q)
        dl0 = b.shl(sig, b.sub(W, s1))
        dl = b.lshr(dl0, extra)
        low = b.sub(b.shl(b.c(1, t), extra), 1)
        sticky_low = b.cmp("ne", b.and_(dl0, low), 0)
    if rounding == NE:
        half = 1 << (W - 1)
        odd = b.cmp("ne", b.and_(q, 1), 0)
        tie_up = b.any(odd, sticky_low)
        up = b.or_(b.cmp("ugt", dl, half), b.and_(b.cmp("eq", dl, half), tie_up))
    else:
        assert rand is not None
        if W == 32:
            top, rest = dl, sticky_low
        else:
            top = b.lshr(dl, W - 32)
            rest = b.any(b.cmp("ne", b.and_(dl, (1 << (W - 32)) - 1), 0), sticky_low)
        r = b.zext(rand, t)
        up = b.cmp("ult", r, top)
        if rest is not None:
            up = b.or_(up, b.and_(b.cmp("eq", r, top), rest))
    return q, b.bit(up, t)


@dataclass
class Parts:
    """A finite source value ``(-1)^neg * sig * 2^(X - (P - 1))``, with flags."""

    neg: SSAValue  # i1
    sig: SSAValue  # iW, < 2^P
    X: SSAValue  # iW, signed
    P: int
    is_nan: SSAValue | None = None
    is_inf: SSAValue | None = None
    is_zero: SSAValue | None = None


def float_parts(b: Builder, x: SSAValue, min_exp: int | None = None) -> Parts:
    """The parts of an f32 or f64 value (f16/bf16 are extended to f32 first). Subnormal
    sources are normalized (scaled by 2^P) when `min_exp` (the smallest exponent whose
    quantum the destination distinguishes) is below the source's smallest normal
    exponent; otherwise they keep the nominal exponent, which gives the same quantum."""
    if isinstance(x.type, (Float16Type, BFloat16Type)):
        x = b.extf(x, f32)
    src = _STD[type(x.type)]
    t = _int_of(x.type)
    W, MS, BS = _width(t), src.M, src.bias
    P = MS + 1
    bits0 = b.bitcast(x, t)
    absbits = b.and_(bits0, (1 << (W - 1)) - 1)
    inf_bits = src.inf_mag
    is_nan = b.cmp("ugt", absbits, inf_bits)
    is_inf = b.cmp("eq", absbits, inf_bits)
    is_zero = b.cmp("eq", absbits, 0)
    neg = b.cmp("slt", bits0, 0)
    normalize = min_exp is not None and min_exp < 1 - BS
    if normalize:
        sub = b.cmp("ult", absbits, 1 << MS)
        scaled = b.sel(sub, b.fmul(x, b.pow2(P, x.type)), x)
        bits = b.bitcast(scaled, t)
        adjust = b.sel_c(sub, P, 0, t)
    else:
        bits = bits0
        adjust = None
    ef = b.and_(b.lshr(bits, MS), (1 << src.E) - 1)
    frac = b.and_(bits, (1 << MS) - 1)
    sig = b.or_(frac, b.shl(b.bit(b.cmp("ne", ef, 0), t), MS))
    X = b.sub(b.umax(ef, 1), BS)
    if adjust is not None:
        X = b.sub(X, adjust)
    return Parts(neg, sig, X, P, is_nan, is_inf, is_zero)


def int_parts(b: Builder, v: SSAValue, signed: bool) -> Parts:
    """The parts of an i64 (normalized with ctlz: 64 significant bits)."""
    assert v.type == i64
    if signed:
        neg = b.cmp("slt", v, 0)
        m = b.sel(neg, b.sub(0, v), v)
    else:
        neg = b.false()
        m = v
    lz = b.umin(b.ctlz(m), 63)
    return Parts(neg, b.shl(m, lz), b.sub(63, lz), 64, None, None, b.cmp("eq", m, 0))


def widen_parts(b: Builder, p: Parts, t: Attribute) -> Parts:
    if p.sig.type == t:
        return p
    return Parts(p.neg, b.zext(p.sig, t), b.sext(p.X, t), p.P, p.is_nan, p.is_inf, p.is_zero)


# ----------------------------------------------------------------------------------
# Encoding to a float format
# ----------------------------------------------------------------------------------


def _min_exp(d: FloatDesc) -> int:
    """The smallest exponent X from which the quantum of `d` stops shrinking."""
    return -d.bias if d.kind == "unsigned" else 1 - d.bias


def encode_float(b: Builder, p: Parts, d: FloatDesc, rounding: str, overflow: str,
                 rand: SSAValue | None) -> SSAValue:
    """The pattern (in the parts' integer type, zero-extended) of the parts rounded to
    `d` as the dialect says."""
    t = p.sig.type
    M = d.M
    bias = d.bias + 1 if d.kind == "unsigned" else d.bias
    if p.P - 1 - M < 1:
        raise TcError(f"{PASS_NAME}: cannot round a {p.P}-bit significand to {M} mantissa bits")
    xb = b.add(p.X, bias)
    eb = b.smax(xb, 1)
    sh = b.add(b.sub(eb, xb), p.P - 1 - M)
    q, up = shift_round(b, p.sig, sh, p.P, rounding, rand)
    mag = b.add(b.add(b.shl(b.sub(eb, 1), M), q), up)
    saturate_finite = overflow == "saturate" or rounding == TZ
    if d.kind == "unsigned":
        pat = b.sel(b.cmp("eq", mag, 0), 0, b.sub(mag, 1))
        over = b.cmp("ugt", pat, d.max_mag)
        res = b.sel(over, d.max_mag if saturate_finite else d.all_ones, pat)
        if p.is_inf is not None:
            res = b.sel(p.is_inf, b.c(d.max_mag if overflow == "saturate" else d.all_ones, t), res)
        bad = b.any(p.neg, p.is_zero, p.is_nan)
        return b.sel(bad, b.c(d.all_ones, t), res)
    S = d.sign_bit
    sgn = b.sel_c(p.neg, S, 0, t)
    res = b.or_(mag, sgn)

    def signed_const(mag_value: int) -> SSAValue:
        return b.or_(b.c(mag_value, t), sgn)

    if d.kind == "fnuz":
        over_format = b.c(S, t)  # the NaN
    else:
        over_format = signed_const(d.overflowed_mag())
    over_value = signed_const(d.max_mag) if saturate_finite else over_format
    over = b.cmp("ugt", mag, d.max_mag)
    res = b.sel(over, over_value, res)
    zero = b.c(0, t) if d.kind == "fnuz" else sgn
    res = b.sel(b.any(b.cmp("eq", mag, 0), p.is_zero), zero, res)
    if p.is_inf is not None:
        res = b.sel(p.is_inf, signed_const(d.max_mag) if overflow == "saturate" else over_format, res)
    if p.is_nan is not None:
        if d.kind == "finite":
            nan = b.sel_c(p.neg, 0, S, t)
        elif d.kind == "fnuz":
            nan = b.c(S, t)
        else:
            nan = signed_const(d.nan(False))
        res = b.sel(p.is_nan, nan, res)
    return res


def to_float_result(b: Builder, pattern: SSAValue, d: FloatDesc) -> SSAValue:
    """A pattern as the carrier of `d` (a float type, or the storage integer)."""
    target = carrier(d)
    if d.std is not None:
        return b.bitcast(b.trunc(pattern, _int_of(d.std)), d.std)
    return b.trunc(pattern, target)


# ----------------------------------------------------------------------------------
# Decoding float formats
# ----------------------------------------------------------------------------------


def _pattern(b: Builder, v: SSAValue, d: FloatDesc) -> SSAValue:
    """The pattern of a float format operand as an i32, high bits cleared."""
    return b.and_(b.zext(v, i32), (1 << d.bits) - 1)


def _scales_fit(d: FloatDesc, dst: FloatDesc) -> bool:
    """Whether every scale 2^(max(e,1) - bias - M) of `d` is a normal `dst` number."""
    low = d.qmin
    high = ((1 << d.E) - 1) - d.bias - (0 if d.kind == "unsigned" else d.M)
    return low >= 1 - dst.bias and high <= dst.bias


def decode_float(b: Builder, v: SSAValue, d: FloatDesc, target: FloatDesc) -> SSAValue:
    """The exact value of the pattern `v` of `d` as an f32 or f64 (`target`), which
    must hold every value of `d` with normal scales (`_scales_fit`)."""
    assert target in (F32, F64) and _scales_fit(d, target)
    ft = target.std
    it = _int_of(ft)
    W = _width(it)
    p = _pattern(b, v, d)
    if d.kind == "unsigned":
        exp = b.zext(b.add(p, target.bias - d.bias), it)
        value_bits = b.shl(exp, target.M)
        is_nan = b.cmp("eq", p, d.all_ones)
        return b.bitcast(b.sel(is_nan, b.c(target.quiet_nan, it), value_bits), ft)
    mag = b.and_(p, d.all_ones)
    e = b.lshr(mag, d.M)
    f = b.and_(mag, (1 << d.M) - 1)
    sig = b.or_(f, b.shl(b.bit(b.cmp("ne", e, 0), i32), d.M))
    scale_exp = b.add(b.umax(e, 1), target.bias - d.bias - d.M)
    scale = b.bitcast(b.shl(b.zext(scale_exp, it), target.M), ft)
    value = b.fmul(b.sitofp(sig, ft), scale)
    sign = b.shl(b.zext(b.lshr(p, d.bits - 1), it), W - 1)
    bits = b.or_(b.bitcast(value, it), sign)
    if d.kind == "ieee":
        bits = b.sel(b.cmp("eq", mag, d.inf_mag), b.or_(b.c(target.inf_mag, it), sign), bits)
        bits = b.sel(b.cmp("ugt", mag, d.inf_mag), b.or_(b.c(target.quiet_nan, it), sign), bits)
    elif d.kind == "fn":
        bits = b.sel(b.cmp("eq", mag, d.all_ones), b.or_(b.c(target.quiet_nan, it), sign), bits)
    elif d.kind == "fnuz":
        bits = b.sel(b.cmp("eq", p, d.sign_bit), b.c(target.quiet_nan | 1 << (W - 1), it), bits)
    return b.bitcast(bits, ft)


def float_value(b: Builder, v: SSAValue, d: FloatDesc, prefer_f32: bool = True) -> SSAValue:
    """A float format operand as an exact f32 (when every value fits there, with normal
    scales, and `prefer_f32`) or f64; a standard float operand as f32 or f64 (f16 and
    bf16 extended, exactly)."""
    if d.std is not None:
        return b.extf(v, f32) if isinstance(d.std, (Float16Type, BFloat16Type)) else v
    if prefer_f32 and exact_in(d, F32) and _scales_fit(d, F32):
        return decode_float(b, v, d, F32)
    return decode_float(b, v, d, F64)


# ----------------------------------------------------------------------------------
# Fixed point
# ----------------------------------------------------------------------------------


def load_fixed(b: Builder, v: SSAValue, d: FixedDesc) -> SSAValue:
    """The integer of a fixed-point or integer operand as an i64 (sign- or
    zero-extended from its `n` bits, whatever the storage's high bits hold)."""
    t = v.type
    W = _width(t)
    if d.n < W:
        if d.signed:
            v = b.ashr(b.shl(v, W - d.n), W - d.n)
        else:
            v = b.and_(v, (1 << d.n) - 1)
    return b.sext(v, i64) if d.signed else b.zext(v, i64)


def store_fixed(b: Builder, r: SSAValue, d: FixedDesc) -> SSAValue:
    """An integer result (taken modulo 2^n) in the storage form of `d`: its n-bit two's
    complement pattern in the low bits, the high bits zero (as ml_dtypes' int4 holds -1
    as 0x0f)."""
    v = b.trunc(r, d.storage) if _width(r.type) > d.width else b.zext(r, d.storage)
    return b.and_(v, (1 << d.n) - 1) if d.n < d.width else v


def _rule(d: FixedDesc, overflow: str, exact: bool) -> str:
    if overflow == "saturate":
        return "saturate"
    return d.overflow if exact else d.float_overflow


def round_floor_parts(b: Builder, I: SSAValue, f: SSAValue, e: int, signed_domain: bool, rounding: str,
                      rand: SSAValue | None) -> SSAValue:
    """The exact value ``I + f / 2^e`` (``0 <= f < 2^e``, e <= 32; I an i64, signed or,
    with not `signed_domain`, unsigned and below 2^63 when e > 0) rounded to an integer,
    the rounding applied to the magnitude."""
    if e == 0:
        return I
    assert e <= 32
    if signed_domain:
        neg = b.cmp("slt", I, 0)
        has_f = b.cmp("ne", f, 0)
        qm = b.sel(neg, b.sel(has_f, b.sub(-1, I), b.sub(0, I)), I)
        fm = b.sel(b.and_(neg, has_f), b.sub(1 << e, f), f)
    else:
        neg, qm, fm = None, I, f
    if rounding == TZ:
        up = None
    elif rounding == NE:
        half = 1 << (e - 1)
        odd = b.cmp("ne", b.and_(qm, 1), 0)
        up = b.or_(b.cmp("ugt", fm, half), b.and_(b.cmp("eq", fm, half), odd))
    else:
        assert rand is not None
        up = b.cmp("ult", b.zext(rand, i64), b.shl(fm, 32 - e))
    mr = qm if up is None else b.add(qm, b.bit(up, i64))
    return b.sel(neg, b.sub(0, mr), mr) if neg is not None else mr


def fit_exact(b: Builder, R: SSAValue, signed_domain: bool, d: FixedDesc, rule: str,
              below: SSAValue | None = None, above: SSAValue | None = None) -> SSAValue:
    """An exact integer result R (i64; signed, or unsigned with not `signed_domain`)
    brought into the range of `d` by `rule` (wrap: left to the storage truncation).
    `below`/`above`: out-of-range conditions known otherwise (carries)."""
    lo, hi = d.lo, d.hi
    if signed_domain:
        if lo > -(1 << 63):
            below = b.any(below, b.cmp("slt", R, lo))
        if hi < (1 << 63) - 1:
            above = b.any(above, b.cmp("sgt", R, hi))
    else:
        if hi < (1 << 64) - 1:
            above = b.any(above, b.cmp("ugt", R, hi))
    if rule != "saturate":
        return R
    if below is not None:
        R = b.sel(below, b.c(lo, i64), R)
    if above is not None:
        R = b.sel(above, b.c(hi, i64), R)
    return R


def float_to_fixed(b: Builder, p: Parts, d: FixedDesc, rule: str, rounding: str,
                   rand: SSAValue | None) -> SSAValue:
    """|x| * 2^F rounded to an integer, signed, then the range rule (`rule`): the
    integer result (i32 or i64), to be stored modulo 2^n."""
    W = 32 if (p.P <= 24 and d.n <= 30) else 64
    t = IntegerType(W)
    p = widen_parts(b, p, t)
    k = b.add(p.X, d.F - (p.P - 1))  # value / quantum = sig * 2^k
    left = b.shl(p.sig, b.umin(k, W - 1))
    left = b.sel(b.cmp("sge", k, W), 0, left)
    sh = b.smax(b.sub(0, k), 1)
    q, up = shift_round(b, p.sig, sh, p.P, rounding, rand)
    mq = b.sel(b.cmp("sge", k, 0), left, b.add(q, up))
    huge = b.cmp("sge", b.add(p.X, d.F), min(d.n + 1, 64))
    if d.signed:
        limit_pos, limit_neg = (1 << (d.n - 1)) - 1, 1 << (d.n - 1)
        out = b.sel(p.neg, b.cmp("ugt", mq, limit_neg), b.cmp("ugt", mq, limit_pos))
    else:
        out = b.sel(p.neg, b.cmp("ne", mq, 0), b.cmp("ugt", mq, d.hi) if d.hi < (1 << W) - 1 else b.false())
    ovf = b.or_(huge, out)
    val = b.sel(p.neg, b.sub(0, mq), mq)
    limit = b.sel(p.neg, b.c(d.lo, t), b.c(d.hi, t))
    if rule == "saturate":
        res = b.sel(ovf, limit, val)
    elif rule == "zero":
        res = b.sel(ovf, 0, val)
    else:
        res = val
    if p.is_inf is not None:
        res = b.sel(p.is_inf, limit if rule == "saturate" else b.c(0, t), res)
    if p.is_nan is not None:
        res = b.sel(p.is_nan, 0, res)
    return res


def fixed_to_fixed(b: Builder, v: SSAValue, s: FixedDesc, d: FixedDesc, overflow: str, rounding: str,
                   rand: SSAValue | None) -> SSAValue:
    """An exact fixed/integer value (i64 from `load_fixed`) in another fixed/integer
    format: the result integer (i64)."""
    rule = _rule(d, overflow, exact=True)
    shift = d.F - s.F
    domain_signed = s.signed or s.n < 64
    if shift >= 0:
        # in range iff v in [ceil(lo / 2^shift), floor(hi / 2^shift)]
        lo_v = -((-d.lo) >> shift)
        hi_v = d.hi >> shift
        below = above = None
        if domain_signed:
            if lo_v > max(s.lo, -(1 << 63)):
                below = b.cmp("slt", v, lo_v)
            if hi_v < s.hi:
                above = b.cmp("sgt", v, hi_v)
        elif hi_v < s.hi:
            above = b.cmp("ugt", v, hi_v)
        R = b.shl(v, shift) if shift else v
        if rule != "saturate":
            return R
        if below is not None:
            R = b.sel(below, b.c(d.lo, i64), R)
        if above is not None:
            R = b.sel(above, b.c(d.hi, i64), R)
        return R
    e = -shift
    I = b.ashr(v, e) if s.signed else b.lshr(v, e)
    f = b.and_(v, (1 << e) - 1)
    R = round_floor_parts(b, I, f, e, s.signed, rounding, rand)
    return fit_exact(b, R, True, d, rule)


def fixed_value_float(b: Builder, v: SSAValue, s: FixedDesc) -> SSAValue:
    """The exact value of a fixed-point/integer operand (i64, n <= 53 bits) as an f32
    (n <= 24) or f64."""
    ft = f32 if s.n <= 24 else f64
    x = b.sitofp(v, ft) if s.signed or s.n < 64 else b.uitofp(v, ft)
    return b.fmul(x, b.pow2(-s.F, ft)) if s.F else x


# ----------------------------------------------------------------------------------
# Casts
# ----------------------------------------------------------------------------------


def cast_routine(b: Builder, x: SSAValue, s: Desc, d: Desc, rounding: str, overflow: str,
                 rand: SSAValue | None) -> SSAValue:
    if isinstance(s, FloatDesc) and isinstance(d, FloatDesc):
        return _float_to_float(b, x, s, d, rounding, overflow, rand)
    if isinstance(s, FixedDesc) and isinstance(d, FloatDesc):
        v = load_fixed(b, x, s)
        if s.n == 64:
            if d.std is not None and rounding == NE and overflow == "format":
                return b.sitofp(v, d.std) if s.signed else b.uitofp(v, d.std)
            return to_float_result(b, encode_float(b, int_parts(b, v, s.signed), d, rounding, overflow, rand), d)
        value = fixed_value_float(b, v, s)
        return _float_to_float(b, value, _STD[type(value.type)], d, rounding, overflow, rand)
    if isinstance(s, FloatDesc) and isinstance(d, FixedDesc):
        x = float_value(b, x, s)
        r = float_to_fixed(b, float_parts(b, x), d, _rule(d, overflow, exact=False), rounding, rand)
        return store_fixed(b, r, d)
    assert isinstance(s, FixedDesc) and isinstance(d, FixedDesc)
    r = fixed_to_fixed(b, load_fixed(b, x, s), s, d, overflow, rounding, rand)
    return store_fixed(b, r, d)


def _float_to_float(b: Builder, x: SSAValue, s: FloatDesc, d: FloatDesc, rounding: str, overflow: str,
                    rand: SSAValue | None) -> SSAValue:
    """A float-format or standard-float operand to a float destination."""
    if exact_in(s, d) and d.std is not None:
        if s.std is not None:
            return b.extf(x, d.std)
        # decode, exactly: to f64, or to f32 when the scales are normal there, then an
        # exact conversion to the destination
        via = F32 if _scales_fit(s, F32) and exact_in(s, F32) else F64
        value = decode_float(b, x, s, via)
        if d is via:
            return value
        return b.extf(value, d.std) if d is F64 else b.truncf(value, d.std)
    value = float_value(b, x, s)
    if d.std is not None and rounding == NE and overflow == "format":
        return b.truncf(value, d.std)  # correctly rounded (convert-arith-to-llvm)
    parts = float_parts(b, value, _min_exp(d))
    return to_float_result(b, encode_float(b, parts, d, rounding, overflow, rand), d)


# ----------------------------------------------------------------------------------
# Hardware conversions (sm_89 and later)
# ----------------------------------------------------------------------------------

# The formats sm_89+ converts in hardware (PTX ISA 7.8 `cvt` with .e4m3x2/.e5m2x2),
# by the PTX name of their pairs.
_CVT_FORMATS = {FloatDesc(4, 3, 7, "fn"): "e4m3x2", FloatDesc(5, 2, 15, "ieee"): "e5m2x2"}
HARDWARE_CVT_SM = 89


def _sm(arch: str) -> int:
    """The number of an architecture name (`sm_90` -> 90), 0 for none."""
    return int(arch[3:]) if arch.startswith("sm_") and arch[3:].isdigit() else 0


def _cvt_format(d: Desc) -> str | None:
    return _CVT_FORMATS.get(d) if isinstance(d, FloatDesc) else None


def hardware_cast(source: Desc, result: Desc, rounding: str, overflow: str) -> bool:
    """Whether sm_89+ computes this cast with one instruction and a few selects: f32 or
    f16 to e4m3fn/e5m2 rounded to nearest even (`cvt.rn.satfinite`), or e4m3fn/e5m2 to
    f16 or f32 (exact: `cvt.rn.f16x2`, then `cvt.f32.f16`)."""
    if _cvt_format(result) is not None:
        return source in (F32, F16) and rounding == NE
    return _cvt_format(source) is not None and result in (F16, F32)


def _asm(b: Builder, text: str, constraints: str, operands: list[SSAValue], result: Attribute) -> SSAValue:
    """Inline PTX: no side effects, so LLVM may move, merge and drop it like any value."""
    return b.emit(llvm.InlineAsmOp(text, constraints, operands, [result]))


def _float_bits(value: Fraction, d: FloatDesc) -> int:
    """The pattern of a value exact in the standard float `d` (f16 or f32)."""
    return int.from_bytes(struct.pack("<e" if d is F16 else "<f", float(value)), "little")


def hardware_encode(b: Builder, x: SSAValue, s: FloatDesc, d: FloatDesc, overflow: str) -> SSAValue:
    """`cvt.rn.satfinite` gives what the software routine gives to nearest even with
    `saturate` but for NaN (+NaN there, the operand's sign here, as ml_dtypes); with the
    format's overflow rule, magnitudes that round above the largest finite value (from
    the midpoint above it, included when that value's pattern is odd, as ties go to
    even) give the overflow pattern instead of the largest finite value."""
    pair = _cvt_format(d)
    if s is F32:  # the first operand fills the high byte: 0.0, unused
        packed = _asm(b, f"cvt.rn.satfinite.{pair}.f32 $0, $1, $2;", "=h,f,f", [b.c(0.0, f32), x], i16)
    else:
        halves = b.zext(b.bitcast(x, i16), i32)
        packed = _asm(b, f"cvt.rn.satfinite.{pair}.f16x2 $0, $1;", "=h,r", [halves], i16)
    it = _int_of(s.std)
    bits = b.bitcast(x, it)
    magnitude = b.and_(bits, s.sign_bit - 1)
    sign = b.sel_c(b.cmp("slt", bits, 0), d.sign_bit, 0, i8)
    res = b.trunc(packed, i8)
    if overflow != "saturate":
        midpoint = d.max_finite + Fraction(2) ** (max(d.max_mag >> d.M, 1) - d.bias - d.M) / 2
        over = b.cmp("uge" if d.max_mag & 1 else "ugt", magnitude, _float_bits(midpoint, s))
        res = b.sel(over, b.or_(b.c(d.overflowed_mag(), i8), sign), res)
    nan = b.or_(b.c(d.nan(False), i8), sign)
    return b.sel(b.cmp("ugt", magnitude, s.inf_mag), nan, res)


def hardware_decode(b: Builder, x: SSAValue, s: FloatDesc, d: FloatDesc) -> SSAValue:
    """`cvt.rn.f16x2` is exact (every value of e4m3fn and e5m2 is an f16 value) but
    gives +NaN for every NaN, where the software routine keeps the pattern's sign."""
    p = b.and_(b.zext(x, i16), (1 << s.bits) - 1)
    halves = _asm(b, f"cvt.rn.f16x2.{_cvt_format(s)} $0, $1;", "=r,h", [p], i32)
    value = b.bitcast(b.trunc(halves, i16), f16)
    it = _int_of(d.std)
    sign = b.shl(b.zext(b.lshr(p, s.bits - 1), it), _width(it) - 1)
    nan = b.bitcast(b.or_(b.c(d.quiet_nan, it), sign), d.std)
    magnitude = b.and_(p, s.sign_bit - 1)
    is_nan = b.cmp("ugt", magnitude, s.inf_mag) if s.kind == "ieee" else b.cmp("eq", magnitude, s.sign_bit - 1)
    return b.sel(is_nan, nan, value if d is F16 else b.extf(value, f32))


# ----------------------------------------------------------------------------------
# Float-format arithmetic
# ----------------------------------------------------------------------------------


def _f64_bits(b: Builder, x: SSAValue) -> SSAValue:
    return b.bitcast(x, i64)


def round_to_odd(b: Builder, s: SSAValue, toward_up: SSAValue, inexact: SSAValue) -> SSAValue:
    """f64 `s` (the nearest of an exact value; not zero when inexact) moved one ulp
    toward the exact value when the exact value is not `s` and `s`'s last bit is even.
    `toward_up`: the exact value is above `s` (in value)."""
    bits = _f64_bits(b, s)
    even = b.cmp("eq", b.and_(bits, 1), 0)
    positive = b.cmp("sge", bits, 0)
    # away from zero in magnitude iff the direction agrees with the sign
    away = b.cmp("eq", b.bit(toward_up, i64), b.bit(positive, i64))
    moved = b.sel(away, b.add(bits, 1), b.sub(bits, 1))
    return b.bitcast(b.sel(b.and_(even, inexact), moved, bits), f64)


def _finite(b: Builder, x: SSAValue) -> SSAValue:
    exponent = F64.inf_mag
    return b.cmp("ne", b.and_(_f64_bits(b, x), exponent), exponent)


def two_sum_odd(b: Builder, x: SSAValue, y: SSAValue) -> SSAValue:
    """x + y (f64, finite operands whose sum cannot overflow) rounded to odd; NaN and
    infinities as IEEE addition gives them."""
    s = b.fadd(x, y)
    bp = b.fsub(s, x)
    ap = b.fsub(s, bp)
    err = b.fadd(b.fsub(x, ap), b.fsub(y, bp))
    inexact = b.and_(b.fcmp("one", err, b.c(0.0, f64)), _finite(b, s))
    return round_to_odd(b, s, b.fcmp("ogt", err, b.c(0.0, f64)), inexact)


def div_odd(b: Builder, x: SSAValue, y: SSAValue) -> SSAValue:
    q = b.fdiv(x, y)
    r = b.fma(b.emit(arith.NegfOp(q)), y, x)
    inexact = b.and_(b.fcmp("one", r, b.c(0.0, f64)), _finite(b, q))
    # a/b - q = r/b: above q when r and b have the same sign
    up = b.cmp("eq", b.bit(b.fcmp("ogt", r, b.c(0.0, f64)), i64), b.bit(b.fcmp("ogt", y, b.c(0.0, f64)), i64))
    return round_to_odd(b, q, up, inexact)


def float_arith(b: Builder, op: str, args: Sequence[SSAValue], d: FloatDesc, rounding: str, overflow: str,
                rand: SSAValue | None) -> SSAValue:
    xs = [decode_float(b, a, d, F64) for a in args]
    if op == "add":
        r = b.fadd(*xs) if rounding == NE else two_sum_odd(b, *xs)
    elif op == "sub":
        r = b.fsub(*xs) if rounding == NE else two_sum_odd(b, xs[0], b.emit(arith.NegfOp(xs[1])))
    elif op == "mul":
        r = b.fmul(*xs)
    elif op == "div":
        r = b.fdiv(*xs) if rounding == NE else div_odd(b, *xs)
    else:  # fma: the product is exact, the sum rounded to odd
        r = two_sum_odd(b, b.fmul(xs[0], xs[1]), xs[2])
    # a NaN result is +NaN (the exact reference; IEEE leaves the sign open)
    r = b.sel(b.fcmp("uno", r, r), b.bitcast(b.c(F64.quiet_nan, i64), f64), r)
    pattern = encode_float(b, float_parts(b, r, _min_exp(d)), d, rounding, overflow, rand)
    return to_float_result(b, pattern, d)


def _float_key(b: Builder, p: SSAValue, d: FloatDesc, zeros_equal: bool) -> SSAValue:
    """An i32 whose signed order is the order of the values (not NaN)."""
    if not d.signed:
        return p
    mag = b.and_(p, d.all_ones)
    negative = b.cmp("ne", b.and_(p, d.sign_bit), 0)
    return b.sel(negative, b.sub(0, mag) if zeros_equal else b.xor(mag, -1), mag)


def _is_nan_pattern(b: Builder, p: SSAValue, d: FloatDesc) -> SSAValue | None:
    if d.kind == "finite":
        return None
    if d.kind == "fnuz":
        return b.cmp("eq", p, d.sign_bit)
    if d.kind == "unsigned":
        return b.cmp("eq", p, d.all_ones)
    mag = b.and_(p, d.all_ones)
    if d.kind == "fn":
        return b.cmp("eq", mag, d.all_ones)
    return b.cmp("ugt", mag, d.inf_mag)


def float_bits_op(b: Builder, op: str, args: Sequence[SSAValue], d: FloatDesc, predicate: str | None) -> SSAValue:
    ps = [_pattern(b, a, d) for a in args]
    t = IntegerType(_float_storage(d))
    S = d.sign_bit
    if op == "neg":
        (p,) = ps
        if d.kind == "unsigned":
            raise TcError(f"{PASS_NAME}: lowp.neg of the unsigned format {d.tag}, which has no negative values")
        r = b.xor(p, S)
        if d.kind == "fnuz":
            r = b.sel(b.cmp("eq", b.and_(p, d.all_ones), 0), p, r)
        elif d.kind == "ieee":
            r = b.sel(_is_nan_pattern(b, p, d), b.xor(b.or_(b.and_(p, S), d.quiet_nan), S), r)
        return b.trunc(r, t)
    if op == "abs":
        (p,) = ps
        if d.kind == "unsigned":
            return b.trunc(p, t)
        r = b.and_(p, d.all_ones)
        if d.kind == "fnuz":
            r = b.sel(b.cmp("eq", p, S), p, r)
        elif d.kind == "ieee":
            r = b.sel(_is_nan_pattern(b, p, d), b.c(d.quiet_nan, i32), r)
        return b.trunc(r, t)
    a, c = ps
    nan_a, nan_c = _is_nan_pattern(b, a, d), _is_nan_pattern(b, c, d)
    unordered = b.or_(nan_a, nan_c) if nan_a is not None else None
    if op in ("min", "max"):
        ka, kc = _float_key(b, a, d, False), _float_key(b, c, d, False)
        pick_a = b.cmp("slt" if op == "min" else "sgt", ka, kc)
        r = b.sel(pick_a, a, c)
        if unordered is not None:
            r = b.sel(unordered, d.nan(False), r)
        return b.trunc(r, t)
    assert op == "cmp" and predicate is not None
    ka, kc = _float_key(b, a, d, True), _float_key(b, c, d, True)
    if predicate in ("ord", "uno"):
        if unordered is None:
            return b.c(int(predicate == "ord"), i1)
        return b.not_(unordered) if predicate == "ord" else unordered
    relation = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}[predicate[1:]]
    result = b.cmp(relation, ka, kc)
    if unordered is None:
        return result
    if predicate[0] == "o":
        return b.and_(result, b.not_(unordered))
    return b.or_(result, unordered)


# ----------------------------------------------------------------------------------
# Fixed-point arithmetic
# ----------------------------------------------------------------------------------


def fixed_arith(b: Builder, op: str, args: Sequence[SSAValue], d: FixedDesc, rounding: str, overflow: str,
                rand: SSAValue | None, predicate: str | None) -> SSAValue:
    vs = [load_fixed(b, a, d) for a in args]
    rule = _rule(d, overflow, exact=True)
    if op in ("min", "max"):
        cls = {("min", True): "smin", ("max", True): "smax", ("min", False): "umin", ("max", False): "umax"}
        return store_fixed(b, getattr(b, cls[op, d.signed])(*vs), d)
    if op == "cmp":
        assert predicate is not None
        relation = predicate if predicate in ("eq", "ne") else ("s" if d.signed else "u") + predicate
        return b.cmp(relation, *vs)
    if op in ("add", "sub"):
        R = (b.add if op == "add" else b.sub)(*vs)
        return store_fixed(b, fit_exact(b, R, True, d, rule), d)
    if op == "neg":
        return store_fixed(b, fit_exact(b, b.sub(0, vs[0]), True, d, rule), d)
    if op == "abs":
        v = vs[0]
        R = b.sel(b.cmp("slt", v, 0), b.sub(0, v), v) if d.signed else v
        return store_fixed(b, fit_exact(b, R, True, d, rule), d)
    F = d.F
    if op in ("mul", "fma"):
        p = b.mul(vs[0], vs[1])  # exact: |p| < 2^62 signed, < 2^64 unsigned
        I = b.ashr(p, F) if d.signed else b.lshr(p, F)
        f = b.and_(p, (1 << F) - 1)
        above = None
        if op == "fma":
            I2 = b.add(I, vs[2])
            if not d.signed and F == 0:
                above = b.cmp("ult", I2, I)  # carry out of 64 bits
            I = I2
        R = round_floor_parts(b, I, f, F, d.signed, rounding, rand)
        return store_fixed(b, fit_exact(b, R, d.signed, d, rule, above=above), d)
    assert op == "div"
    a, c = vs
    if d.signed:
        na_neg, nc_neg = b.cmp("slt", a, 0), b.cmp("slt", c, 0)
        na = b.sel(na_neg, b.sub(0, a), a)
        nc = b.sel(nc_neg, b.sub(0, c), c)
        neg = b.xor(na_neg, nc_neg)
    else:
        na_neg, na, nc, neg = None, a, c, None
    zero_div = b.cmp("eq", nc, 0)
    num = b.shl(na, F)
    den = b.sel(zero_div, 1, nc)
    q = b.udiv(num, den)
    rem = b.urem(num, den)
    if rounding == NE:
        twice = b.shl(rem, 1)
        odd = b.cmp("ne", b.and_(q, 1), 0)
        up = b.or_(b.cmp("ugt", twice, den), b.and_(b.cmp("eq", twice, den), odd))
        q = b.add(q, b.bit(up, i64))
    elif rounding == SR:
        scaled = b.shl(rem, 32)
        top = b.udiv(scaled, den)
        rest = b.cmp("ne", b.urem(scaled, den), 0)
        r = b.zext(rand, i64)
        up = b.or_(b.cmp("ult", r, top), b.and_(b.cmp("eq", r, top), rest))
        q = b.add(q, b.bit(up, i64))
    R = b.sel(neg, b.sub(0, q), q) if neg is not None else q
    R = fit_exact(b, R, d.signed, d, rule)
    # x / 0: the range limit of x's sign; 0 / 0: 0
    limit = b.sel(na_neg, b.c(d.lo, i64), b.c(d.hi, i64)) if na_neg is not None else b.c(d.hi, i64)
    R = b.sel(zero_div, b.sel(b.cmp("eq", na, 0), 0, limit), R)
    return store_fixed(b, R, d)


# ----------------------------------------------------------------------------------
# Routines
# ----------------------------------------------------------------------------------


_ARITH_OPS = {lowp.AddOp: "add", lowp.SubOp: "sub", lowp.MulOp: "mul", lowp.DivOp: "div", lowp.FmaOp: "fma"}
_OTHER_OPS = {lowp.NegOp: "neg", lowp.AbsOp: "abs", lowp.MinOp: "min", lowp.MaxOp: "max", lowp.CmpOp: "cmp"}


@dataclass(frozen=True)
class RoutineSpec:
    """What one routine computes (one per name)."""

    op: str  # cast, add, ..., cmp
    source: Desc
    result: Desc | None  # cast only
    rounding: str
    overflow: str
    predicate: str | None = None
    stochastic: bool = False
    hardware: bool = False  # a cast sm_89+ computes in one instruction (hardware_cast)

    @property
    def name(self) -> str:
        parts = [self.op]
        if self.predicate:
            parts.append(self.predicate)
        parts.append(self.source.tag)
        if self.result is not None:
            parts += ["to", self.result.tag]
        if self.op in ("cast", "add", "sub", "mul", "div", "fma"):
            parts.append(_ROUNDING_TAGS[self.rounding])
        if self.overflow == "saturate":
            parts.append("sat")
        if self.hardware:
            parts.append("cvt")
        return ROUTINE_PREFIX + "_".join(parts)

    @property
    def arity(self) -> int:
        return {"cast": 1, "neg": 1, "abs": 1, "fma": 3}.get(self.op, 2)

    def signature(self) -> tuple[list[Attribute], Attribute]:
        inputs = [carrier(self.source)] * self.arity
        if self.stochastic:
            inputs.append(i32)
        if self.op == "cmp":
            return inputs, i1
        return inputs, carrier(self.result if self.result is not None else self.source)


def spec_of(op: Operation, sm: int = 0) -> RoutineSpec:
    """The routine of `op` for the GPU architecture number `sm` (0: none, the CPU)."""
    rounding = op.properties.get("rounding")
    overflow = op.properties.get("overflow")
    r = rounding.data.value if isinstance(rounding, lowp.RoundingAttr) else NE
    o = overflow.data.value if isinstance(overflow, lowp.OverflowAttr) else "format"
    if isinstance(op, lowp.CastOp):
        s = describe(op.input.type, op.unsigned_input is not None)
        d = describe(op.result.type, op.unsigned_result is not None)
        hardware = sm >= HARDWARE_CVT_SM and hardware_cast(s, d, r, o)
        return RoutineSpec("cast", s, d, r, o, stochastic=r == SR, hardware=hardware)
    if type(op) in _ARITH_OPS:
        return RoutineSpec(_ARITH_OPS[type(op)], describe(op.results[0].type), None, r, o, stochastic=r == SR)
    name = _OTHER_OPS[type(op)]
    t = op.operands[0].type
    if name == "cmp":
        return RoutineSpec("cmp", describe(t), None, NE, "format", predicate=op.predicate.data.value)
    return RoutineSpec(name, describe(t), None, NE, o if name in ("neg", "abs") else "format")


def build_routine(spec: RoutineSpec) -> func.FuncOp:
    inputs, output = spec.signature()
    block = Block(arg_types=inputs)
    b = Builder(block)
    args = list(block.args)
    rand = args.pop() if spec.stochastic else None
    s = spec.source
    if spec.hardware:
        assert isinstance(s, FloatDesc) and isinstance(spec.result, FloatDesc)
        if s.std is not None:
            result = hardware_encode(b, args[0], s, spec.result, spec.overflow)
        else:
            result = hardware_decode(b, args[0], s, spec.result)
    elif spec.op == "cast":
        assert spec.result is not None
        result = cast_routine(b, args[0], s, spec.result, spec.rounding, spec.overflow, rand)
    elif isinstance(s, FloatDesc):
        if spec.op in ("add", "sub", "mul", "div", "fma"):
            result = float_arith(b, spec.op, args, s, spec.rounding, spec.overflow, rand)
        else:
            result = float_bits_op(b, spec.op, args, s, spec.predicate)
    else:
        result = fixed_arith(b, spec.op, args, s, spec.rounding, spec.overflow, rand, spec.predicate)
    assert result.type == output, (spec.name, result.type, output)
    block.add_op(func.ReturnOp(result))
    routine = func.FuncOp(spec.name, FunctionType.from_lists(inputs, [output]), Region(block), visibility="private")
    routine.attributes["llvm.linkage"] = llvm.LinkageAttr("internal")
    routine.attributes["passthrough"] = ArrayAttr([StringAttr("alwaysinline")])
    return routine


def _symbol_table(op: Operation) -> Operation:
    table = op.parent_op()
    while table is not None and not table.has_trait(SymbolTable):
        table = table.parent_op()
    if table is None:
        raise TcError(f"{PASS_NAME}: {op.name} is not inside a module")
    return table


# About 100 KiB of ops per routine; a kernel using 16 formats needs 32 routines.
ROUTINE_CACHE_SIZE = 512


@lru_cache(maxsize=ROUTINE_CACHE_SIZE)
def _built_routine(spec: RoutineSpec) -> func.FuncOp:
    """The routine of `spec`, built once per process. Never inserted anywhere: modules
    get clones, so that rewriting one module never changes another's routines."""
    return build_routine(spec)


def routine_cache_info():
    """The process-wide table of built routines: `functools` cache info, where misses
    count the routines built and hits the reuses of an earlier build."""
    return _built_routine.cache_info()


class _Routines:
    """The routines of each symbol table, cloned from the process-wide table on first
    use."""

    def __init__(self):
        self._made: dict[tuple[int, str], func.FuncOp] = {}

    def get(self, table: Operation, spec: RoutineSpec) -> func.FuncOp:
        key = (id(table), spec.name)
        if key in self._made:
            return self._made[key]
        body = table.regions[0].block
        for existing in body.ops:
            sym = existing.properties.get("sym_name")
            if isinstance(sym, StringAttr) and sym.data == spec.name:
                if isinstance(existing, (func.FuncOp, llvm.FuncOp)) and existing.body.blocks:
                    self._made[key] = existing  # type: ignore[assignment]
                    return existing  # type: ignore[return-value]
                raise TcError(f"{PASS_NAME}: the symbol @{spec.name} is taken; it names a generated routine")
        routine = _built_routine(spec).clone()
        body.add_op(routine)
        self._made[key] = routine
        return routine


class _LowpToStorage(TypeConversionPattern):
    def convert_type(self, typ: Attribute, /) -> Attribute | None:
        if isinstance(typ, (lowp.LowpFloatType, lowp.LowpFixedType)):
            return typ.storage_type
        return None


_LOWP_TYPES = TypeFinder((lowp.LowpFloatType, lowp.LowpFixedType))


def _op_mentions_lowp(op: Operation) -> bool:
    """Whether `op` is a lowp op or has a lowp type in its results, properties,
    attributes (function types, memref.global types) or block arguments."""
    return op.dialect_name() == "lowp" or _LOWP_TYPES.in_op(op)


def _mentions_lowp(module: ModuleOp) -> bool:
    return any(_op_mentions_lowp(op) for op in module.walk())


def lower_lowp(module: ModuleOp, arch: str = "") -> None:
    """Replace every lowp op of `module` by a call of its routine, then every lowp type
    by its storage integer. `arch`: the GPU architecture the module is compiled for
    (`sm_90`), whose conversion instructions the routines may use; empty: none."""
    if not _mentions_lowp(module):
        return  # nothing to do: no walk over every attribute
    routines = _Routines()
    ops = [op for op in module.walk() if op.dialect_name() == "lowp"]
    for op in ops:
        if type(op) not in _ARITH_OPS and type(op) not in _OTHER_OPS and not isinstance(op, lowp.CastOp):
            raise TcError(f"{PASS_NAME}: cannot lower {op.name}")
    # the specs first: replacing an op gives its users operands of the storage type
    specs = [spec_of(op, _sm(arch)) for op in ops]
    for op, spec in zip(ops, specs):
        routine = routines.get(_symbol_table(op), spec)
        operands = list(op.operands)  # the values, then the random bits (last)
        _, output = spec.signature()
        call = func.CallOp(routine.sym_name.data, operands, [output])
        parent = op.parent_block()
        assert parent is not None
        parent.insert_op_before(call, op)
        op.results[0].replace_all_uses_with(call.results[0])
        op.detach()
        op.erase()
    PatternRewriteWalker(OnlyWhere(_LowpToStorage(recursive=True), _op_mentions_lowp)).rewrite_module(module)


@dataclass(frozen=True)
class LowerLowpPass(ModulePass):
    name = "lower-lowp"

    arch: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.arch and not _sm(self.arch):
            raise TcError(f"{PASS_NAME}: arch={self.arch!r} is not a GPU architecture such as sm_90")
        lower_lowp(op, self.arch)
