"""IR generation: the checked TC program to the `tc` dialect.

One `tc.def` per def and one `tc.stmt` per statement. Scalar bodies use arith and math
ops chosen from the checked types (signed or unsigned division, ordered or unordered
float comparison...), `tc.builtin` for the TC builtins that math lacks, and `scf.if`
for a `?:` whose branches read tensors, so that only the chosen branch reads memory.
Each distinct value is emitted once per block: sema inlines a `where` binding at every
use, and a chain of bindings used several times each would otherwise grow exponentially
(and xDSL's CSE, quadratic in duplicate reads, would take minutes to fold it back).
Affine subscripts become the map of a `tc.read`; any other subscript (an indirect read
`LUT(I(b, r), d)`, a product of indices) is computed in the body and passed as an
index operand.

Values of a number format of `tcir.lowp` (a `LowpType`) are `lowp` dialect values:
arithmetic, `min`/`max`, negation and comparisons are `lowp` ops (each rounds to the
format once), and every conversion to or from a format is a `lowp.cast` with the default
rounding (to nearest, ties to even) and overflow rule (the format's own), except to an
integer or an integer format (fixed point without fraction bits: int4, uint4, int2,
uint2), which truncates toward zero as TC's float-to-integer casts and ml_dtypes do; `/`
in an integer format truncates too. A constant of a format is its exact value (an `i64`
or an `f64` constant) cast to the format.
"""

from __future__ import annotations

from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import arith, math, scf
from xdsl.dialects.builtin import (
    FloatAttr, IndexType, IntegerAttr, IntegerType, ModuleOp, Signedness, bf16, f16, f32, f64,
)
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.transforms.common_subexpression_elimination import OperationInfo

from tcir.dialects import lowp, tc

from .frontend.checked import (
    COMPARISONS, CheckedDef, CheckedProgram, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr,
    TIndex, TRead, TScalar, TSelect, TSize, TUnary, TensorInfo, children, write_dims,
)
from .frontend.ranges import affine_form
from .frontend.types import UINT8, ScalarType

_FLOATS: dict[str, Attribute] = {"f16": f16, "bf16": bf16, "f32": f32, "f64": f64}


def lowp_mlir_type(fmt) -> Attribute:
    """The lowp dialect type of a `tcir.lowp` format."""
    if hasattr(fmt, "exponent"):
        return lowp.LowpFloatType(fmt.exponent, fmt.mantissa, fmt.kind, fmt.bias)
    return lowp.LowpFixedType(fmt.integer, fmt.fraction, fmt.signed, fmt.overflow, fmt.float_overflow)


def mlir_type(t: ScalarType, signless: bool = False) -> Attribute:
    """The builtin type of a TC scalar type (`ui8` for uint8 unless `signless`), the lowp
    dialect type of a number format."""
    if t.is_lowp:
        return lowp_mlir_type(t.format)
    if t.is_float:
        return _FLOATS[t.mlir]
    if t.kind == "uint" and not signless:
        return IntegerType(t.bits, Signedness.UNSIGNED)
    return IntegerType(t.bits)


def build_module(program: CheckedProgram, names: list[str]) -> ModuleOp:
    return ModuleOp([build_def(program.defs[n]) for n in names])


def _arg_type(t: TensorInfo) -> Attribute:
    if t.role == "scalar":
        return mlir_type(t.dtype, signless=True)
    return tc.TensorType(t.shape, mlir_type(t.dtype))


def build_def(d: CheckedDef) -> tc.DefOp:
    def_op = tc.DefOp.build_def(
        d.name,
        inputs=[(t.name, _arg_type(t)) for t in d.inputs],
        outputs=[(t.name, _arg_type(t)) for t in d.outputs],
        temporaries=[(t.name, _arg_type(t)) for t in d.temporaries],
    )
    args = {t.name: arg for t, arg in zip(d.inputs + d.outputs + d.temporaries, def_op.body.block.args)}
    for s in d.stmts:
        def_op.body.block.add_op(_StmtBuilder(d, s, args).build())
    return def_op


# The comparison predicates of arith.cmpf / arith.cmpi by TC operator. `!=` is unordered
# so that NaN != NaN, as in C; the others are ordered.
_CMPF = {"<": "olt", ">": "ogt", "<=": "ole", ">=": "oge", "==": "oeq", "!=": "une"}
_CMPI_SIGNED = {"<": "slt", ">": "sgt", "<=": "sle", ">=": "sge", "==": "eq", "!=": "ne"}
_CMPI_UNSIGNED = {"<": "ult", ">": "ugt", "<=": "ule", ">=": "uge", "==": "eq", "!=": "ne"}

_FLOAT_ARITH = {"+": arith.AddfOp, "-": arith.SubfOp, "*": arith.MulfOp, "/": arith.DivfOp,
                "min": arith.MinimumfOp, "max": arith.MaximumfOp}
_INT_ARITH = {"+": arith.AddiOp, "-": arith.SubiOp, "*": arith.MuliOp}
_SIGNED_ARITH = {"/": arith.DivSIOp, "%": arith.RemSIOp, "min": arith.MinSIOp, "max": arith.MaxSIOp}
_UNSIGNED_ARITH = {"/": arith.DivUIOp, "%": arith.RemUIOp, "min": arith.MinUIOp, "max": arith.MaxUIOp}

# TC builtins with a math (or arith) op of the same meaning; the others are tc.builtin.
MATH_OPS = {
    "acos": math.AcosOp, "acosh": math.AcoshOp, "asin": math.AsinOp, "asinh": math.AsinhOp,
    "atan": math.AtanOp, "atanh": math.AtanhOp, "atan2": math.Atan2Op, "cbrt": math.CbrtOp,
    "ceil": math.CeilOp, "copysign": math.CopySignOp, "cos": math.CosOp, "cosh": math.CoshOp,
    "erf": math.ErfOp, "exp": math.ExpOp, "exp2": math.Exp2Op, "expm1": math.ExpM1Op,
    "fabs": math.AbsFOp, "floor": math.FloorOp, "fma": math.FmaOp, "log": math.LogOp,
    "log10": math.Log10Op, "log1p": math.Log1pOp, "log2": math.Log2Op, "pow": math.PowFOp,
    "round": math.RoundOp, "rsqrt": math.RsqrtOp, "sin": math.SinOp, "sinh": math.SinhOp,
    "sqrt": math.SqrtOp, "tan": math.TanOp, "tanh": math.TanhOp, "trunc": math.TruncOp,
    "fmax": arith.MaxnumfOp, "fmin": arith.MinnumfOp, "fdivide": arith.DivfOp,
}


# The largest finite value of the formats FloatAttr packs with `struct` (f16 'e', f32
# 'f'), and the rounding threshold above which a value rounds to infinity.
_OVERFLOW = {"half": (65504.0, 65520.0), "float": (3.4028234663852886e38, 3.4028235677973366e38)}


def _in_range(value: float, t: ScalarType) -> float:
    """A folded constant keeps its decimal value (`half(1e10)`, `A(i) + 1e39` with a
    `float` A); one that rounds to infinity in `t` must be the infinity: FloatAttr
    packs f16/f32 values with `struct`, which raised OverflowError for them. The
    reference rounds the same way (np.asarray(value, dtype) is inf). Found by
    tests/test_fuzz_pipeline.py."""
    limits = _OVERFLOW.get(t.name)
    if limits is not None and abs(value) >= limits[1]:
        return float("inf") if value > 0 else float("-inf")
    return value


# TC comparisons on float formats (as _CMPF) and on fixed point (signedness in the type)
_LOWP_CMP_FLOAT = _CMPF
_LOWP_CMP_FIXED = {"<": "lt", ">": "gt", "<=": "le", ">=": "ge", "==": "eq", "!=": "ne"}
_LOWP_ARITH = {"+": lowp.AddOp, "-": lowp.SubOp, "*": lowp.MulOp, "/": lowp.DivOp,
               "min": lowp.MinOp, "max": lowp.MaxOp}


def _rounding_to(t: ScalarType) -> str:
    """How a value is rounded to `t`: toward zero for an integer or an integer format
    (fixed point without fraction bits), to nearest even otherwise."""
    integral = t.is_integer or t.is_lowp and t.is_fixed and t.format.fraction == 0
    return "toward_zero" if integral else "nearest_even"


def _reads_memory(e: TExpr) -> bool:
    return isinstance(e, TRead) or any(_reads_memory(c) for c in children(e))


class _StmtBuilder:
    """Emits one statement: its domain, write access and scalar body."""

    def __init__(self, d: CheckedDef, s: CheckedStmt, args: dict[str, SSAValue]):
        self.d, self.s, self.args = d, s, args
        # the values emitted so far, by op (name, operands, attributes, regions); a
        # branch block starts from a copy, as the enclosing block cannot use its values
        self.values: dict[OperationInfo, SSAValue] = {}

    def build(self) -> tc.StmtOp:
        s = self.s
        # a scatter-add's indirect subscripts are computed in the body and yielded
        computed = [s.scatter[k] for k in sorted(s.scatter)]
        write = [AffineExpr.dimension(len(s.iterators) + sorted(s.scatter).index(k)) if v is None else v
                 for k, v in enumerate(write_dims(s.lhs, s.scatter))]
        stmt = tc.StmtOp.create_stmt(
            self.args[s.target], s.kind,
            [(v, *s.ranges[v]) for v in s.iterators],
            write=write, init=s.init, yielded=len(computed),
        )
        self.iterators = dict(zip(s.iterators, stmt.iterators))
        self.builder = Builder(InsertPoint.at_end(stmt.body.block))
        value = self.emit(s.rhs)
        indices = [self.to_index(self.emit(e), e.type) for e in computed]
        self.builder.insert(tc.YieldOp(value, indices))
        return stmt

    def op(self, op):
        """The value of ``op``, inserted, or the equal op's already emitted (the body's
        ops are pure: nothing is written before the statement's yield)."""
        key = OperationInfo(op)
        known = self.values.get(key)
        if known is not None:
            op.erase()  # drops its uses of the operands
            return known
        self.builder.insert(op)
        self.values[key] = op.results[0]
        return op.results[0]

    # Values ---------------------------------------------------------------------------

    def emit(self, e: TExpr) -> SSAValue:
        if isinstance(e, TConst):
            return self.constant(e.value, e.type)
        if isinstance(e, TIndex):
            return self.op(arith.IndexCastOp(self.iterators[e.name], mlir_type(e.type, True)))
        if isinstance(e, TSize):
            return self.op(tc.SizeOp(e.name, mlir_type(e.type, True)))
        if isinstance(e, TScalar):
            return self.args[e.name]
        if isinstance(e, TRead):
            return self.read(e)
        if isinstance(e, TUnary):
            return self.unary(e)
        if isinstance(e, TBinary):
            return self.binary(e)
        if isinstance(e, TSelect):
            return self.select(e)
        if isinstance(e, TCall):
            return self.call(e)
        assert isinstance(e, TCast)
        return self.cast(self.emit(e.operand), e.operand.type, e.type)

    def constant(self, value, t: ScalarType) -> SSAValue:
        if t.is_lowp:  # the exact value, rounded to the format by a cast
            if isinstance(value, float):
                exact = self.op(arith.ConstantOp(FloatAttr(value, f64)))
            else:
                exact = self.op(arith.ConstantOp(IntegerAttr(int(value), IntegerType(64))))
            return self.op(lowp.CastOp(exact, mlir_type(t), rounding=_rounding_to(t)))
        ty = mlir_type(t, signless=True)
        if t.is_float:
            attr = FloatAttr(_in_range(float(value), t), ty)
        elif t.is_bool:
            attr = IntegerAttr(int(bool(value)), ty)
        else:
            # Unsigned values above the signed range are stored with their bit pattern.
            bits = t.bits
            v = int(value) & ((1 << bits) - 1)
            attr = IntegerAttr(v - (1 << bits) if v >= 1 << (bits - 1) else v, ty)
        return self.op(arith.ConstantOp(attr))

    def read(self, e: TRead) -> SSAValue:
        operands: list[SSAValue] = []

        def dim(value: SSAValue) -> AffineExpr:
            if value not in operands:
                operands.append(value)
            return AffineExpr.dimension(operands.index(value))

        results = []
        for index in e.indices:
            form = affine_form(index)
            if form is None:  # indirect or non-affine: computed, then used as an index
                results.append(dim(self.to_index(self.emit(index), index.type)))
                continue
            expr = AffineExpr.constant(form.const)
            for var, c in form.vars:
                expr = expr + dim(self.iterators[var]) * c
            for size, c in form.sizes:
                expr = expr + dim(self.op(tc.SizeOp(size, IndexType()))) * c
            results.append(expr)
        amap = AffineMap(len(operands), 0, tuple(results))
        return self.op(tc.ReadOp(self.args[e.tensor], operands, amap))

    def to_index(self, value: SSAValue, t: ScalarType) -> SSAValue:
        # index_cast sign-extends: widen unsigned subscripts with a zero extension first.
        if t.kind == "uint" and t.bits < 64:
            value = self.op(arith.ExtUIOp(value, IntegerType(64)))
        return self.op(arith.IndexCastOp(value, IndexType()))

    def unary(self, e: TUnary) -> SSAValue:
        x = self.emit(e.operand)
        if e.op == "!":
            return self.op(arith.XOrIOp(x, self.constant(True, e.type)))
        if e.type.is_lowp:
            return self.op(lowp.NegOp(x))
        if e.type.is_float:
            return self.op(arith.NegfOp(x))
        return self.op(arith.SubiOp(self.constant(0, e.type), x))

    def binary(self, e: TBinary) -> SSAValue:
        a, b = self.emit(e.lhs), self.emit(e.rhs)
        t = e.lhs.type
        if e.op == "&&":
            return self.op(arith.AndIOp(a, b))
        if e.op == "||":
            return self.op(arith.OrIOp(a, b))
        if t.is_lowp:
            if e.op in COMPARISONS:
                return self.op(lowp.CmpOp(a, b, (_LOWP_CMP_FIXED if t.is_fixed else _LOWP_CMP_FLOAT)[e.op]))
            if e.op == "/":
                return self.op(lowp.DivOp(a, b, rounding=_rounding_to(t)))
            return self.op(_LOWP_ARITH[e.op](a, b))
        if e.op in COMPARISONS:
            if t.is_float:
                return self.op(arith.CmpfOp(a, b, _CMPF[e.op]))
            table = _CMPI_UNSIGNED if t.kind in ("uint", "bool") else _CMPI_SIGNED
            return self.op(arith.CmpiOp(a, b, table[e.op]))
        if t.is_float:
            if e.op == "%":
                return self.op(tc.BuiltinOp("fmod", [a, b], mlir_type(t)))
            return self.op(_FLOAT_ARITH[e.op](a, b))
        if e.op in _INT_ARITH:
            return self.op(_INT_ARITH[e.op](a, b))
        table = _UNSIGNED_ARITH if t.kind == "uint" else _SIGNED_ARITH
        if e.op in ("/", "%") and not (isinstance(e.rhs, TConst) and e.rhs.value not in (0, -1)):
            return self.guarded_division(e.op, a, b, t, table[e.op])
        return self.op(table[e.op](a, b))

    def guarded_division(self, op: str, a: SSAValue, b: SSAValue, t: ScalarType, divide) -> SSAValue:
        """`a / b` and `a % b` on integers where `b` may be 0 (or, signed, -1), with
        TC's defined results (docs/language.md; reference.py): `a / 0` and `a % 0` are
        0, as in Halide, and INT_MIN / -1 wraps to INT_MIN (INT_MIN % -1 is 0). LLVM
        leaves both undefined and x86's div traps (SIGFPE), so divide by 1 at those
        points, then pick the defined quotient: 0 where `b` is 0, `0 - a` (which wraps)
        where it is -1. A remainder by 1 is already the 0 both cases need. Found by
        tests/test_fuzz_pipeline.py (-1) and a hostile probe (0)."""
        one = self.constant(1, t)
        special = zero = self.op(arith.CmpiOp(b, self.constant(0, t), "eq"))
        if t.kind == "int":
            minus_one = self.op(arith.CmpiOp(b, self.constant(-1, t), "eq"))
            special = self.op(arith.OrIOp(zero, minus_one))
        result = self.op(divide(a, self.op(arith.SelectOp(special, one, b))))
        if op == "%":
            return result
        result = self.op(arith.SelectOp(zero, self.constant(0, t), result))
        if t.kind == "int":
            result = self.op(arith.SelectOp(minus_one, self.op(arith.SubiOp(self.constant(0, t), a)), result))
        return result

    def select(self, e: TSelect) -> SSAValue:
        cond = self.emit(e.cond)
        if not (_reads_memory(e.then) or _reads_memory(e.otherwise)):
            return self.op(arith.SelectOp(cond, self.emit(e.then), self.emit(e.otherwise)))
        # Lazy: each branch in its own region, so a guarded read runs only when chosen.
        branches = []
        for branch in (e.then, e.otherwise):
            block = Block()
            outer, self.builder = self.builder, Builder(InsertPoint.at_end(block))
            outer_values, self.values = self.values, dict(self.values)
            self.builder.insert(scf.YieldOp(self.emit(branch)))
            self.builder, self.values = outer, outer_values
            branches.append(Region(block))
        return self.op(scf.IfOp(cond, [mlir_type(e.type, True)], *branches))

    def call(self, e: TCall) -> SSAValue:
        args = [self.emit(a) for a in e.args]
        op = MATH_OPS.get(e.fn)
        if op is None:
            return self.op(tc.BuiltinOp(e.fn, args, mlir_type(e.type)))
        return self.op(op(*args))

    def cast(self, x: SSAValue, src: ScalarType, dst: ScalarType) -> SSAValue:
        if src == dst:
            return x
        if src.is_lowp or dst.is_lowp:
            return self.lowp_cast(x, src, dst)
        to = mlir_type(dst, signless=True)
        if dst.is_bool:  # x != 0
            zero = self.constant(0, src)
            if src.is_float:
                return self.op(arith.CmpfOp(x, zero, "une"))
            return self.op(arith.CmpiOp(x, zero, "ne"))
        unsigned_src = src.kind in ("uint", "bool")
        if src.is_float and dst.is_float:
            if src.bits == dst.bits:  # half <-> bfloat16 through float
                x = self.op(arith.ExtFOp(x, f32))
                return self.op(arith.TruncFOp(x, to))
            return self.op((arith.ExtFOp if dst.bits > src.bits else arith.TruncFOp)(x, to))
        if dst.is_float:
            return self.op((arith.UIToFPOp if unsigned_src else arith.SIToFPOp)(x, to))
        if src.is_float:
            return self.op((arith.FPToUIOp if dst.kind == "uint" else arith.FPToSIOp)(x, to))
        if dst.bits == src.bits:
            return x  # signless: only the interpretation changes
        if dst.bits < src.bits:
            return self.op(arith.TruncIOp(x, to))
        return self.op((arith.ExtUIOp if unsigned_src else arith.ExtSIOp)(x, to))

    def lowp_cast(self, x: SSAValue, src: ScalarType, dst: ScalarType) -> SSAValue:
        """A conversion from or to a number format: `lowp.cast` (bool through i8 or a
        comparison with 0; to an integer truncating toward zero, as C casts floats)."""
        if dst.is_bool:  # x != 0 (NaN is true, as for floats)
            zero = self.constant(0, src)
            return self.op(lowp.CmpOp(x, zero, "ne" if src.is_fixed else "une"))
        if src.is_bool:
            x, src = self.op(arith.ExtUIOp(x, IntegerType(8))), UINT8
        return self.op(lowp.CastOp(x, mlir_type(dst, signless=True), rounding=_rounding_to(dst),
                                   unsigned_input=src.kind == "uint", unsigned_result=dst.kind == "uint"))
