"""Raising `tc` dialect IR back to the checked program: the inverse of `tcir.irgen`.

`checked_def(op)` turns a `tc.def` into the `CheckedDef` that IR generation would turn
back into the same IR: ``build_def(checked_def(build_def(d)))`` prints exactly as
``build_def(d)``. It reads what irgen writes and nothing else; an op irgen never emits,
or one in a form it never emits (a write access that is not a list of distinct
iterators, an integer division without TC's guard, a `lowp` op with a non-default
rounding), is a `TcError` naming the op.

The inverse mapping
-------------------
- def: block arguments are the inputs (a `!tc.tensor` is role "input", any other type
  a "scalar"), the outputs, then the temporaries; names are the arguments' name hints
  (`tcir.dialects.tc.tc_name`), shapes the tensor types' size expressions, the sizes
  those among the input shapes (`DefOp.size_names`).
- types: the inverse of `irgen.mlir_type`: `f16 bf16 f32 f64` are half, bfloat16,
  float, double; `i1` is bool; `uiN` (tensor elements only) is uintN; a `lowp` type is
  the registered format with the same parameters (`irgen.lowp_mlir_type` of it), the
  ml_dtypes formats first, then the user formats in registration order.
- statement: iterators are the body's block arguments, ranges its bounds, the target
  subscripts (each a distinct iterator) give `lhs`, kind and init are the properties;
  the yielded value, raised at the target's element type, is `rhs`.
- values, bottom-up from the yield (a value used several times becomes a repeated
  subtree: irgen emits each distinct value once):

  ========================================== ========================================
  IR                                         checked expression
  ========================================== ========================================
  arith.constant                             TConst (its type's value: `ui8` 255, not -1)
  lowp.cast of an i64/f64 constant           TConst of the format (its exact value)
  arith.index_cast of an iterator            TIndex
  tc.size "N" : i32                          TSize
  a scalar argument                          TScalar
  tc.read (affine map over index operands)   TRead, affine subscripts rebuilt as sums
  arith add/sub/mul/div (f and i), min/max   TBinary (`subi 0, x` is `-x` or `0 - x`)
  divsi/divui/remsi/remui behind the guard   TBinary `/` or `%` (`guarded_division`)
  arith.cmpi/cmpf, lowp.cmp                  TBinary comparison
  andi/ori on i1, xori x, true               `&&`, `||`, `!`
  arith.select, scf.if                       TSelect
  math ops, maxnumf/minnumf, tc.builtin      TCall (tc.builtin "fmod" is float `%`)
  negf, lowp.neg                             TUnary `-`
  ext/trunc/itofp/fptoi, lowp.cast           TCast (half <-> bfloat16 through f32 is one)
  ========================================== ========================================

Signedness: arith integers are signless, so a value's signedness comes from the op
that makes it when that op says (`divui`, `fptoui`, a read of a `ui8` tensor...), else
from the op that uses it (the wanted type), else from its operands, else it is signed.
Where irgen reinterprets without an op (`uint8(x)` of an int8 `x` is the same bits),
the raised tree has the explicit `TCast`. A scalar parameter's type is signless in the
IR; it is unsigned when every use of it wants it unsigned.

What the IR does not record, and the raised tree therefore picks (each choice gives
the same IR back): a `where` binding is inlined (as sema does) and a `where` range is
just a range (`explicit` is empty); float constants carry their value rounded to their
type (an out-of-range one is the infinity); `x != 0` stands for `bool(x)`; `/` for
`fdivide(a, b)`; `%` for `fmod(a, b)` on floats; `-x` for `0 - x` unless irgen emitted
that 0 just before `x`; one cast for `bfloat16(float(h))` of a half `h` (and for
`fmt(uint8(b))` of a bool `b`); no cast for a computed subscript widened from unsigned
to 64 bits (`to_index` widens it anyway); where an int <-> uint cast of one width sits
(the wanted type goes down through `+ - *` and `?:`); an unsigned scalar parameter that
no use wants unsigned is signed; affine subscripts are rebuilt in a canonical form
(`i + 1`, `h * 2 + r` as `2 * h + r`); a format is named by the first registered
format with its parameters.

Locations are not in xDSL's IR: `locate` (e.g. `tcir.tools.mlir_io`'s
`IrReader.location`) may give them, else everything is at ``<ir>:1:1``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import (
    FloatAttr, IndexType, IntegerAttr, IntegerType, Signedness, bf16, f16, f32, f64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr, AffineBinaryOpKind, AffineConstantExpr, AffineDimExpr, AffineExpr,
)

from .dialects import lowp, tc
from .errors import Location, TcError
from .frontend.checked import (
    CheckedDef, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr, TIndex, TRead, TScalar, TSelect,
    TSize, TUnary, TensorInfo, children,
)
from .frontend.formats import registered_formats
from .frontend.types import (
    BFLOAT16, BOOL, DOUBLE, FLOAT, HALF, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64,
    ScalarType, lowp_type,
)
from .irgen import MATH_OPS, lowp_mlir_type

__all__ = ["checked_def", "scalar_type"]

Locate = Callable[[Operation], Location | None]

DEFAULT_LOCATION = Location("<ir>", 1, 1)

# Types ------------------------------------------------------------------------------

_FLOATS: dict[Attribute, ScalarType] = {f16: HALF, bf16: BFLOAT16, f32: FLOAT, f64: DOUBLE}
_SIGNED = {1: BOOL, 8: INT8, 16: INT16, 32: INT32, 64: INT64}
_UNSIGNED = {8: UINT8, 16: UINT16, 32: UINT32, 64: UINT64}


def scalar_type(t: Attribute) -> ScalarType:
    """The TC type of an element or scalar type: the inverse of `irgen.mlir_type`. A
    signless integer is signed (`i1` is bool), `uiN` unsigned; a `lowp` type is the
    first registered format with its parameters."""
    if isinstance(t, IntegerType):
        table = _UNSIGNED if t.signedness.data == Signedness.UNSIGNED else _SIGNED
        if t.signedness.data != Signedness.SIGNED and t.width.data in table:
            return table[t.width.data]
    elif t in _FLOATS:
        return _FLOATS[t]
    elif lowp.is_lowp_type(t):
        return _format_type(t)
    raise TcError(f"{t} is not the type of a TC value")


@lru_cache(maxsize=None)  # formats are only ever added, after those found first
def _format_type(t: Attribute) -> ScalarType:
    for fmt in registered_formats().values():  # the named formats come first
        if lowp_mlir_type(fmt) == t:
            return lowp_type(fmt)
    raise TcError(f"the IR uses the number format {t}, which no registered format has; register "
                  "it first (tcir.lowp.float_format(...) or tcir.lowp.fixed_format(...))")


def _integer(kind: str, bits: int) -> ScalarType:
    return (_UNSIGNED if kind == "uint" else _SIGNED)[bits]


def _width(v: SSAValue) -> int | None:
    """The width of a signless integer other than i1 (whose signedness the IR leaves open)."""
    t = v.type
    if isinstance(t, IntegerType) and t.signedness.data == Signedness.SIGNLESS and t.width.data > 1:
        return t.width.data
    return None


def _rounding_to(t: ScalarType) -> str:
    """The rounding irgen gives a conversion to `t`: toward zero for an integer or an
    integer format (fixed point without fraction bits), to nearest even otherwise."""
    integral = t.is_integer or t.is_lowp and t.is_fixed and t.format.fraction == 0
    return "toward_zero" if integral else "nearest_even"


# Op tables: the inverses of irgen's -------------------------------------------------------

_CMPI = {"eq": ("==", None), "ne": ("!=", None),
         "slt": ("<", "int"), "sgt": (">", "int"), "sle": ("<=", "int"), "sge": (">=", "int"),
         "ult": ("<", "uint"), "ugt": (">", "uint"), "ule": ("<=", "uint"), "uge": (">=", "uint")}
_CMPF = {"olt": "<", "ogt": ">", "ole": "<=", "oge": ">=", "oeq": "==", "une": "!="}
_LOWP_CMP_FIXED = {"lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "ne": "!="}
_INT_ARITH = {arith.AddiOp: "+", arith.SubiOp: "-", arith.MuliOp: "*"}
_FLOAT_ARITH = {arith.AddfOp: "+", arith.SubfOp: "-", arith.MulfOp: "*", arith.DivfOp: "/",
                arith.MinimumfOp: "min", arith.MaximumfOp: "max"}
_INT_MIN_MAX = {arith.MinSIOp: ("min", "int"), arith.MaxSIOp: ("max", "int"),
                arith.MinUIOp: ("min", "uint"), arith.MaxUIOp: ("max", "uint")}
_DIVISIONS = {arith.DivSIOp: ("/", "int"), arith.RemSIOp: ("%", "int"),
              arith.DivUIOp: ("/", "uint"), arith.RemUIOp: ("%", "uint")}
_LOWP_ARITH = {lowp.AddOp: "+", lowp.SubOp: "-", lowp.MulOp: "*", lowp.DivOp: "/",
               lowp.MinOp: "min", lowp.MaxOp: "max"}
# fdivide shares arith.divf with `/`, which is what divf raises to
_CALLS = {op: fn for fn, op in MATH_OPS.items() if op is not arith.DivfOp}

# The signedness an op gives its integer result, whatever its operands.
_RESULT_KIND = {arith.DivSIOp: "int", arith.RemSIOp: "int", arith.MinSIOp: "int", arith.MaxSIOp: "int",
                arith.DivUIOp: "uint", arith.RemUIOp: "uint", arith.MinUIOp: "uint", arith.MaxUIOp: "uint",
                arith.FPToSIOp: "int", arith.FPToUIOp: "uint", arith.IndexCastOp: "int", tc.SizeOp: "int"}


def _constant(v: SSAValue, value=None) -> bool:
    """Whether `v` is an `arith.constant` (of `value`, if given)."""
    op = v.owner
    if not isinstance(op, arith.ConstantOp):
        return False
    return value is None or isinstance(op.value, IntegerAttr | FloatAttr) and op.value.value.data == value


def _op(v: SSAValue, cls):
    """The op of class `cls` that defines `v`, or None."""
    return v.owner if isinstance(v.owner, cls) else None


def _guard(divisor: SSAValue, kind: str) -> tuple[SSAValue, SSAValue, SSAValue | None] | None:
    """`(b, b == 0, b == -1)` when `divisor` is irgen's guarded divisor of `b`:
    `select(b == 0 [|| b == -1 signed], 1, b)`; None otherwise."""
    select = _op(divisor, arith.SelectOp)
    if select is None or not _constant(select.lhs, 1):
        return None
    b, cond = select.rhs, select.cond
    minus_one = None
    if kind == "int":
        either = _op(cond, arith.OrIOp)
        if either is None:
            return None
        cond, minus_one = either.lhs, either.rhs
        if not _compares_with(minus_one, b, -1):
            return None
    return (b, cond, minus_one) if _compares_with(cond, b, 0) else None


def _compares_with(cond: SSAValue, b: SSAValue, value: int) -> bool:
    """Whether `cond` is `arith.cmpi eq, b, <value>`."""
    cmp = _op(cond, arith.CmpiOp)
    return (cmp is not None and arith.CMPI_COMPARISON_OPERATIONS[cmp.predicate.value.data] == "eq"
            and cmp.lhs is b and _constant(cmp.rhs, value))


def _guarded_division(select: arith.SelectOp) -> tuple[Operation, SSAValue, SSAValue] | None:
    """`(divide op, a, b)` when `select` is the result of irgen's `guarded_division` of
    `a / b`: `select(b == 0, 0, a / guard)`, then for signed integers
    `select(b == -1, 0 - a, that)`."""
    inner, minus_one = select, None
    if _op(select.rhs, arith.SelectOp) is not None and _op(select.lhs, arith.SubiOp) is not None:
        inner, minus_one = select.rhs.owner, select.cond
    divide = inner.rhs.owner
    if not isinstance(divide, arith.DivSIOp | arith.DivUIOp) or not _constant(inner.lhs, 0):
        return None
    kind = _DIVISIONS[type(divide)][1]
    guard = _guard(divide.rhs, kind)
    if guard is None or guard[1] is not inner.cond or (minus_one is None) != (kind == "uint"):
        return None
    a, b = divide.lhs, guard[0]
    if minus_one is not None:
        negated = select.lhs.owner
        if guard[2] is not minus_one or not _constant(negated.lhs, 0) or negated.rhs is not a:
            return None
    return divide, a, b


# Affine subscripts -----------------------------------------------------------------------


def _linear(expr: AffineExpr) -> tuple[int, dict[int, int]] | None:
    """`(constant, {dim: coefficient})` of an affine expression (dims in order of first
    appearance), or None for floordiv, ceildiv, mod and symbols."""
    if isinstance(expr, AffineConstantExpr):
        return expr.value, {}
    if isinstance(expr, AffineDimExpr):
        return 0, {expr.position: 1}
    if not isinstance(expr, AffineBinaryOpExpr):
        return None
    lhs, rhs = _linear(expr.lhs), _linear(expr.rhs)
    if lhs is None or rhs is None:
        return None
    if expr.kind == AffineBinaryOpKind.Add:
        terms = dict(lhs[1])
        for dim, c in rhs[1].items():
            terms[dim] = terms.get(dim, 0) + c
        return lhs[0] + rhs[0], terms
    if expr.kind == AffineBinaryOpKind.Mul:
        for (c, terms), (k, other) in ((lhs, rhs), (rhs, lhs)):
            if not other:  # one side is a constant
                return c * k, {dim: coef * k for dim, coef in terms.items()}
    return None


def _affine_expr(const: int, terms: list[tuple[TExpr, int]]) -> TExpr:
    """`2 * x + y - z + 1` from its terms: the int32 expression sema would check for
    such a subscript (affine_form gives back the same terms in the same order)."""
    out: TExpr | None = None
    for atom, c in terms + [(None, const)]:
        if c == 0:
            continue
        term = TConst(INT32, abs(c)) if atom is None else atom
        if atom is not None and abs(c) != 1:
            term = TBinary(INT32, "*", TConst(INT32, abs(c)), atom)
        if out is None:
            out = term if c > 0 else TUnary(INT32, "-", term) if atom is not None else TConst(INT32, c)
        else:
            out = TBinary(INT32, "+" if c > 0 else "-", out, term)
    return out if out is not None else TConst(INT32, 0)


# Raising ---------------------------------------------------------------------------------


class _DefRaiser:
    """One `tc.def`: its tensors, then each statement (`_StmtRaiser`)."""

    def __init__(self, op: tc.DefOp, locate: Locate | None):
        self.op, self.locate = op, locate or (lambda _: None)
        self.names = {arg: self.arg_name(arg) for arg in op.body.block.args}

    def where(self, op: Operation) -> Location:
        return self.locate(op) or DEFAULT_LOCATION

    def error(self, op: Operation, message: str) -> TcError:
        return TcError(f"`{op.name}` {message} (in tc.def @{self.op.sym_name.data})", self.locate(op))

    def arg_name(self, arg: BlockArgument) -> str:
        name = tc.tc_name(arg)
        if not name:
            raise self.error(self.op, f"argument #{arg.index} has no name; TC names every tensor")
        return name

    def raise_def(self) -> CheckedDef:
        op = self.op
        scalars = {arg: scalar_type(arg.type) for arg in op.inputs if not isinstance(arg.type, tc.TensorType)}
        stmts = list(op.body.block.ops)
        for stmt in stmts:
            if not isinstance(stmt, tc.StmtOp):
                raise self.error(stmt, "is not a tc.stmt; a tc.def holds only statements")
        raised = [_StmtRaiser(self, stmt, scalars).raise_stmt() for stmt in stmts]
        unsigned = _unsigned_scalars([s.rhs for s in raised], {self.names[a] for a in scalars})
        if unsigned:  # the IR does not say: unsigned where every use wants it so
            scalars = {a: _integer("uint", t.bits) if self.names[a] in unsigned else t for a, t in scalars.items()}
            raised = [_StmtRaiser(self, stmt, scalars).raise_stmt() for stmt in stmts]
        return CheckedDef(
            op.sym_name.data,
            inputs=[self.tensor(arg, "scalar" if arg in scalars else "input", scalars.get(arg)) for arg in op.inputs],
            outputs=[self.tensor(arg, "output") for arg in op.outputs],
            temporaries=[self.tensor(arg, "temporary") for arg in op.temporaries],
            sizes=list(op.size_names()),
            stmts=raised,
            loc=self.where(op),
        )

    def tensor(self, arg: BlockArgument, role: str, dtype: ScalarType | None = None) -> TensorInfo:
        t = arg.type
        if isinstance(t, tc.TensorType):
            return TensorInfo(self.names[arg], scalar_type(t.element_type), list(t.dims), role, self.where(self.op))
        return TensorInfo(self.names[arg], dtype, [], role, self.where(self.op))


def _unsigned_scalars(trees: list[TExpr], names: set[str]) -> set[str]:
    """The scalar parameters that every use casts to the unsigned type of their width."""
    cast, bare, seen = set(), set(), set()
    stack = list(trees)
    while stack:
        e = stack.pop()
        if id(e) in seen:  # trees share subtrees (a value used twice is one object)
            continue
        seen.add(id(e))
        if (isinstance(e, TCast) and isinstance(e.operand, TScalar) and e.type.kind == "uint"
                and e.operand.type.kind == "int" and e.type.bits == e.operand.type.bits):
            cast.add(e.operand.name)
            continue
        if isinstance(e, TScalar):
            bare.add(e.name)
        stack.extend(children(e))
    return (cast - bare) & names


class _StmtRaiser:
    """One `tc.stmt`: its domain, write access and the checked expression of its body."""

    def __init__(self, d: _DefRaiser, op: tc.StmtOp, scalars: dict[BlockArgument, ScalarType]):
        self.d, self.op, self.scalars = d, op, scalars
        self.iterators = {arg: d.arg_name(arg) for arg in op.iterators}
        self.raised: dict[tuple[SSAValue, ScalarType], TExpr] = {}
        self.naturals: dict[SSAValue, ScalarType | None] = {}
        # Raising visits the ops in the order irgen emits them (operands first, left to
        # right), so it knows how many ops of each block irgen has emitted at each point:
        # `zero_next` needs it.
        blocks = [op.body.block, *(b for inner in op.body.walk() for r in inner.regions for b in r.blocks)]
        self.position = {inner: i for block in blocks for i, inner in enumerate(block.ops)}
        self.cursor: dict[Block, int] = {}

    def error(self, op: Operation, message: str) -> TcError:
        return self.d.error(op, message)

    def raise_stmt(self) -> CheckedStmt:
        op = self.op
        self.check_ops()
        target = self.d.names.get(op.target) if isinstance(op.target, BlockArgument) else None
        if target is None:
            raise self.error(op, "writes a value that is not an argument of the tc.def")
        names = list(self.iterators.values())
        yielded = op.body.block.last_op
        if not isinstance(yielded, tc.YieldOp):
            raise self.error(op, "has a body that does not end with tc.yield")
        lhs, computed = [], {}
        for k, expr in enumerate(op.write_map.data.results):
            if isinstance(expr, AffineDimExpr) and expr.position >= len(names):  # a scatter-add's
                computed[k] = yielded.indices[expr.position - len(names)]
            elif not isinstance(expr, AffineDimExpr) or names[expr.position] in lhs:
                raise self.error(op, f"writes {op.write_map.data}: TC writes at a list of distinct iterators "
                                     "or at indices the body computes")
            else:
                lhs.append(names[expr.position])
        ranges = {name: (lo.data, hi.data) for name, lo, hi in zip(names, op.lower_bounds, op.upper_bounds)}
        rhs = self.value(yielded.value, scalar_type(op.target.type.element_type))
        scatter = {}
        for k, index in computed.items():
            scatter[k] = self.computed_index(index)
            self.emitted(index.owner)  # the index_cast, after the value
        return CheckedStmt(target, lhs, op.kind.data, op.is_init, names, ranges, rhs, self.d.where(op),
                           scatter=scatter)

    def check_ops(self) -> None:
        """Every op of the body is one irgen emits (even one whose value is unused)."""
        for op in self.op.body.walk():
            if op is not self.op and type(op) not in _HANDLERS and not isinstance(op, tc.YieldOp | scf.YieldOp):
                raise self.error(op, "has no TC equivalent: tcir.irgen never emits it")

    # Types --------------------------------------------------------------------------------

    def fixed_type(self, v: SSAValue) -> ScalarType | None:
        """The type of `v` as its definition alone says, None for an integer whose
        signedness only its uses can tell (a constant, `addi`, `extsi` ...)."""
        width = _width(v)
        if width is None:
            return scalar_type(v.type)
        if isinstance(v, BlockArgument):
            return self.scalars.get(v)
        op = v.owner
        if isinstance(op, tc.ReadOp):
            return scalar_type(op.tensor.type.element_type)
        if isinstance(op, lowp.CastOp):
            return _integer("uint" if op.unsigned_result is not None else "int", width)
        if isinstance(op, arith.SelectOp) and (division := _guarded_division(op)):
            return _integer(_DIVISIONS[type(division[0])][1], width)
        kind = _RESULT_KIND.get(type(op))
        return _integer(kind, width) if kind else None

    def natural(self, v: SSAValue) -> ScalarType | None:
        """`fixed_type`, else the type of the operands of a sign-agnostic op."""
        if v in self.naturals:
            return self.naturals[v]
        t = self.fixed_type(v)
        if t is None:
            op = v.owner
            sources: list[SSAValue] = []
            if type(op) in _INT_ARITH:
                sources = [op.lhs, op.rhs]
            elif isinstance(op, arith.SelectOp):
                sources = [op.lhs, op.rhs]
            elif isinstance(op, scf.IfOp):
                sources = [op.true_region.block.last_op.operands[0], op.false_region.block.last_op.operands[0]]
            t = next((s for s in map(self.natural, sources) if s is not None), None)
        self.naturals[v] = t
        return t

    def result_type(self, v: SSAValue, want: ScalarType | None) -> ScalarType:
        """The type `v` is raised at: its own, else the wanted one, else its operands'."""
        t = self.fixed_type(v)
        if t is not None:
            return t
        width = _width(v)
        if want is not None and want.is_integer and want.bits == width:
            return want
        return self.natural(v) or _integer("int", width)

    def value(self, v: SSAValue, want: ScalarType | None = None) -> TExpr:
        """`v` as a checked expression of type `want` (when given): an integer of the
        other signedness gets the TCast that irgen emits as nothing."""
        if isinstance(v.type, IndexType):
            raise self.error(v.owner if isinstance(v.owner, Operation) else self.op,
                             "gives an index used as a TC value; irgen casts iterators with arith.index_cast")
        t = self.result_type(v, want)
        e = self.raised.get((v, t))
        if e is None:
            e = self.raised[(v, t)] = self.raise_value(v, t)
            if isinstance(v.owner, Operation):
                self.emitted(v.owner)
        if want is None or e.type == want:
            return e
        if e.type.is_integer and want.is_integer and e.type.bits == want.bits:
            return TCast(want, e)
        where = v.owner if isinstance(v.owner, Operation) else self.op
        raise self.error(where, f"gives a {e.type} where a {want} is used")

    def emitted(self, op: Operation) -> None:
        """`op` (and so every op before it in its block) is emitted."""
        block = op.parent_block()
        self.cursor[block] = max(self.cursor.get(block, 0), self.position[op] + 1)

    def raise_value(self, v: SSAValue, t: ScalarType) -> TExpr:
        if isinstance(v, BlockArgument):
            if v in self.scalars:
                return TScalar(t, self.d.names[v])
            raise self.error(self.op, f"uses {self.iterators.get(v) or 'a block argument'} as a value "
                                      "without arith.index_cast")
        op = v.owner
        return _HANDLERS[type(op)](self, op, t)

    # Leaves -------------------------------------------------------------------------------

    def constant(self, op: arith.ConstantOp, t: ScalarType) -> TExpr:
        attr = op.value
        if isinstance(attr, FloatAttr):
            return TConst(t, attr.value.data)
        if not isinstance(attr, IntegerAttr) or isinstance(attr.type, IndexType):
            raise self.error(op, f"has value {attr}, which is no TC constant")
        if t.is_bool:
            return TConst(t, bool(attr.value.data))
        value = attr.value.data & ((1 << t.bits) - 1)  # two's complement, read as `t`
        if t.kind == "int" and value >= 1 << (t.bits - 1):
            value -= 1 << t.bits
        return TConst(t, value)

    def index_cast(self, op: arith.IndexCastOp, t: ScalarType) -> TExpr:
        if op.input in self.iterators:
            return TIndex(t, self.iterators[op.input])
        raise self.error(op, "converts a value that is not an iterator; irgen casts index values only "
                             "from iterators and to tc.read subscripts")

    def size(self, op: tc.SizeOp, t: ScalarType) -> TExpr:
        if isinstance(op.result.type, IndexType):
            raise self.error(op, "is an index used as a value; TC uses sizes as int32")
        return TSize(t, op.size.data)

    def read(self, op: tc.ReadOp, t: ScalarType) -> TExpr:
        if op.tensor not in self.d.names:
            raise self.error(op, "reads a value that is not an argument of the tc.def")
        subscripts = tuple(self.subscript(op, expr) for expr in op.map.data.results)
        return TRead(t, self.d.names[op.tensor], subscripts)

    def subscript(self, op: tc.ReadOp, expr: AffineExpr) -> TExpr:
        """An affine subscript as a sum of iterators and sizes; a computed one (an
        indirect read, a product of indices) as the value cast to `index`."""
        linear = _linear(expr)
        if linear is None:
            raise self.error(op, f"has the subscript {expr}; irgen writes sums of index operands times constants")
        const, coefficients = linear
        terms = [(op.indices[dim], c) for dim, c in coefficients.items() if c != 0]
        if len(terms) == 1 and terms[0][1] == 1 and const == 0 and self.computed(terms[0][0]):
            index = self.computed_index(terms[0][0])
            self.emitted(terms[0][0].owner)  # the index_cast, after the value
            return index
        atoms = []
        for index, c in terms:
            if index in self.iterators:
                atoms.append((TIndex(INT32, self.iterators[index]), c))
            elif isinstance(size := index.owner, tc.SizeOp):
                atoms.append((TSize(INT32, size.size.data), c))
                self.emitted(size)
            else:
                raise self.error(op, f"uses a computed index in the subscript {expr}; irgen passes "
                                     "a computed subscript whole")
        return _affine_expr(const, atoms)

    def computed(self, index: SSAValue) -> bool:
        return index not in self.iterators and not isinstance(index.owner, tc.SizeOp)

    def computed_index(self, index: SSAValue) -> TExpr:
        """Inverse of irgen's `to_index`: `index_cast`, after `extui` to i64 for an
        unsigned subscript narrower than 64 bits."""
        cast = _op(index, arith.IndexCastOp)
        if cast is None or _width(cast.input) is None:
            raise self.error(index.owner if isinstance(index.owner, Operation) else self.op,
                             "is a subscript that is neither an iterator, a size nor an integer cast to index")
        value = cast.input
        widened = _op(value, arith.ExtUIOp)
        if widened is not None and _width(value) == 64 and _width(widened.input) is not None:
            return self.value(widened.input, _integer("uint", _width(widened.input)))
        width = _width(value)
        return self.value(value, _integer("int", width) if width < 64 else None)

    def builtin(self, op: tc.BuiltinOp, t: ScalarType) -> TExpr:
        args = tuple(self.value(a, t) for a in op.args)
        if op.fn.data == "fmod" and len(args) == 2:  # irgen's float `%`
            return TBinary(t, "%", *args)
        return TCall(t, op.fn.data, args)

    def call(self, op: Operation, t: ScalarType) -> TExpr:
        return TCall(t, _CALLS[type(op)], tuple(self.value(a, t) for a in op.operands))

    # Arithmetic ---------------------------------------------------------------------------

    def int_arith(self, op: Operation, t: ScalarType) -> TExpr:
        symbol = _INT_ARITH[type(op)]
        if symbol == "-" and _constant(op.lhs, 0) and not self.zero_next(op.lhs.owner):
            return TUnary(t, "-", self.value(op.rhs, t))
        return TBinary(t, symbol, self.value(op.lhs, t), self.value(op.rhs, t))

    def zero_next(self, zero: arith.ConstantOp) -> bool:
        """Whether the 0 of `subi 0, x` is the next op irgen emits in its block: `0 - x`
        emits 0, then x; `-x` emits x, then 0. (A 0 emitted earlier is reused by both,
        and a 0 after ops of x can only be the unary minus's.)"""
        return self.position[zero] == self.cursor.get(zero.parent_block(), 0)

    def float_arith(self, op: Operation, t: ScalarType) -> TExpr:
        return TBinary(t, _FLOAT_ARITH[type(op)], self.value(op.lhs, t), self.value(op.rhs, t))

    def negf(self, op: arith.NegfOp, t: ScalarType) -> TExpr:
        return TUnary(t, "-", self.value(op.operand, t))

    def int_min_max(self, op: Operation, t: ScalarType) -> TExpr:
        return TBinary(t, _INT_MIN_MAX[type(op)][0], self.value(op.lhs, t), self.value(op.rhs, t))

    def division(self, op: Operation, t: ScalarType) -> TExpr:
        """`a / c` and `a % c` by a constant other than 0 and -1 (irgen divides
        directly), `a % b` behind irgen's guard; the guarded `/` is raised at its
        final select (`select`)."""
        symbol, kind = _DIVISIONS[type(op)]
        guard = _guard(op.rhs, kind) if symbol == "%" else None
        dividend = self.value(op.lhs, t)  # first, as irgen emits it
        divisor = self.value(guard[0] if guard else op.rhs, t)
        if guard is not None or isinstance(divisor, TConst) and divisor.value not in (0, -1):
            return TBinary(t, symbol, dividend, divisor)
        raise self.error(op, "divides by a value that may be 0 (or -1) without TC's guard "
                             "(a / 0 is 0 in TC: see irgen's guarded_division)")

    # Comparisons and logic ----------------------------------------------------------------

    def cmpi(self, op: arith.CmpiOp, t: ScalarType) -> TExpr:
        symbol, kind = _CMPI[arith.CMPI_COMPARISON_OPERATIONS[op.predicate.value.data]]
        width = _width(op.lhs)
        if width is None:  # i1: bool == and !=
            operand = BOOL
        elif kind is None:
            operand = self.natural(op.lhs) or self.natural(op.rhs) or _integer("int", width)
        else:
            operand = _integer(kind, width)
        return TBinary(BOOL, symbol, self.value(op.lhs, operand), self.value(op.rhs, operand))

    def cmpf(self, op: arith.CmpfOp, t: ScalarType) -> TExpr:
        predicate = arith.CMPF_COMPARISON_OPERATIONS[op.predicate.value.data]
        if predicate not in _CMPF:
            raise self.error(op, f"compares with `{predicate}`; TC's comparisons are "
                                 f"{', '.join(_CMPF)} (`!=` is unordered)")
        operand = scalar_type(op.lhs.type)
        return TBinary(BOOL, _CMPF[predicate], self.value(op.lhs, operand), self.value(op.rhs, operand))

    def logic(self, op: Operation, t: ScalarType) -> TExpr:
        if not t.is_bool:
            raise self.error(op, "combines integers bitwise; TC has only `&&` and `||` on bools")
        symbol = "&&" if isinstance(op, arith.AndIOp) else "||"
        return TBinary(t, symbol, self.value(op.lhs, t), self.value(op.rhs, t))

    def xori(self, op: arith.XOrIOp, t: ScalarType) -> TExpr:
        if not t.is_bool or not _constant(op.rhs, -1):  # i1 true is stored as -1
            raise self.error(op, "is not a negation `x xor true`; TC has no bitwise xor")
        return TUnary(t, "!", self.value(op.lhs, t))

    # Choices ------------------------------------------------------------------------------

    def select(self, op: arith.SelectOp, t: ScalarType) -> TExpr:
        division = _guarded_division(op)
        if division is not None:
            _, a, b = division
            return TBinary(t, "/", self.value(a, t), self.value(b, t))
        return TSelect(t, self.value(op.cond, BOOL), self.value(op.lhs, t), self.value(op.rhs, t))

    def scf_if(self, op: scf.IfOp, t: ScalarType) -> TExpr:
        if len(op.results) != 1 or not op.false_region.blocks:
            raise self.error(op, "is not a `c ? a : b`: irgen's scf.if has one result and two branches")
        branches = [region.block.last_op.operands[0] for region in (op.true_region, op.false_region)]
        return TSelect(t, self.value(op.cond, BOOL), *(self.value(b, t) for b in branches))

    # Conversions --------------------------------------------------------------------------

    def extend_int(self, op: Operation, t: ScalarType) -> TExpr:
        width = _width(op.input)
        if width is None:  # extui of an i1
            source = BOOL
        else:
            source = _integer("uint" if isinstance(op, arith.ExtUIOp) else "int", width)
        return TCast(t, self.value(op.input, source))

    def int_to_float(self, op: Operation, t: ScalarType) -> TExpr:
        width = _width(op.input)
        if width is None:
            source = BOOL
        else:
            source = _integer("uint" if isinstance(op, arith.UIToFPOp) else "int", width)
        return TCast(t, self.value(op.input, source))

    def convert(self, op: Operation, t: ScalarType) -> TExpr:
        """trunci, fptosi/fptoui (the result says the signedness), extf, truncf."""
        value = op.input
        widened = _op(value, arith.ExtFOp)
        if isinstance(op, arith.TruncFOp) and widened is not None and value.type == f32 \
                and {widened.input.type, op.result.type} == {f16, bf16}:
            value = widened.input  # irgen's half <-> bfloat16, through float
        return TCast(t, self.value(value))

    # Number formats -----------------------------------------------------------------------

    def lowp_modifiers(self, op: Operation, rounding: str | None) -> None:
        """irgen's lowp ops round as `rounding` with the format's overflow rule and
        without random bits; others compute something TC cannot write."""
        if getattr(op, "random", None) is not None:
            raise self.error(op, "rounds stochastically; TC's formats round to nearest")
        if getattr(op, "overflow", lowp.FORMAT) != lowp.FORMAT:
            raise self.error(op, f"has overflow {op.overflow.data}; TC uses the format's own rule")
        if rounding is not None and op.rounding.data != rounding:
            raise self.error(op, f"rounds {op.rounding.data}; irgen rounds it {rounding}")

    def lowp_arith(self, op: Operation, t: ScalarType) -> TExpr:
        symbol = _LOWP_ARITH[type(op)]
        if not isinstance(op, lowp.MinOp | lowp.MaxOp):
            self.lowp_modifiers(op, _rounding_to(t) if symbol == "/" else "nearest_even")
        return TBinary(t, symbol, self.value(op.lhs, t), self.value(op.rhs, t))

    def lowp_neg(self, op: lowp.NegOp, t: ScalarType) -> TExpr:
        self.lowp_modifiers(op, None)
        return TUnary(t, "-", self.value(op.operand, t))

    def lowp_cmp(self, op: lowp.CmpOp, t: ScalarType) -> TExpr:
        operand = scalar_type(op.lhs.type)
        predicate = str(op.predicate.data)
        symbol = (_LOWP_CMP_FIXED if operand.is_fixed else _CMPF).get(predicate)
        if symbol is None:
            raise self.error(op, f"compares with `{predicate}`, which no TC comparison is")
        return TBinary(BOOL, symbol, self.value(op.lhs, operand), self.value(op.rhs, operand))

    def lowp_cast(self, op: lowp.CastOp, t: ScalarType) -> TExpr:
        self.lowp_modifiers(op, _rounding_to(t))
        value, unsigned = op.input, op.unsigned_input is not None
        if t.is_lowp and not unsigned and isinstance(const := value.owner, arith.ConstantOp) \
                and value.type in (IntegerType(64), f64):
            return TConst(t, const.value.value.data)  # irgen's constant of a format: its exact value
        widened = _op(value, arith.ExtUIOp)
        if unsigned and widened is not None and widened.input.type == IntegerType(1) and value.type == IntegerType(8):
            return TCast(t, self.value(widened.input, BOOL))  # a bool goes through ui8
        width = _width(value)
        source = _integer("uint" if unsigned else "int", width) if width else scalar_type(value.type)
        return TCast(t, self.value(value, source))


_HANDLERS: dict[type[Operation], Callable[[_StmtRaiser, Operation, ScalarType], TExpr]] = {
    arith.ConstantOp: _StmtRaiser.constant,
    arith.IndexCastOp: _StmtRaiser.index_cast,
    tc.SizeOp: _StmtRaiser.size,
    tc.ReadOp: _StmtRaiser.read,
    tc.BuiltinOp: _StmtRaiser.builtin,
    **{cls: _StmtRaiser.call for cls in _CALLS},
    **{cls: _StmtRaiser.int_arith for cls in _INT_ARITH},
    **{cls: _StmtRaiser.float_arith for cls in _FLOAT_ARITH},
    arith.NegfOp: _StmtRaiser.negf,
    **{cls: _StmtRaiser.int_min_max for cls in _INT_MIN_MAX},
    **{cls: _StmtRaiser.division for cls in _DIVISIONS},
    arith.CmpiOp: _StmtRaiser.cmpi,
    arith.CmpfOp: _StmtRaiser.cmpf,
    arith.AndIOp: _StmtRaiser.logic,
    arith.OrIOp: _StmtRaiser.logic,
    arith.XOrIOp: _StmtRaiser.xori,
    arith.SelectOp: _StmtRaiser.select,
    scf.IfOp: _StmtRaiser.scf_if,
    arith.ExtSIOp: _StmtRaiser.extend_int,
    arith.ExtUIOp: _StmtRaiser.extend_int,
    arith.SIToFPOp: _StmtRaiser.int_to_float,
    arith.UIToFPOp: _StmtRaiser.int_to_float,
    arith.TruncIOp: _StmtRaiser.convert,
    arith.FPToSIOp: _StmtRaiser.convert,
    arith.FPToUIOp: _StmtRaiser.convert,
    arith.ExtFOp: _StmtRaiser.convert,
    arith.TruncFOp: _StmtRaiser.convert,
    **{cls: _StmtRaiser.lowp_arith for cls in _LOWP_ARITH},
    lowp.NegOp: _StmtRaiser.lowp_neg,
    lowp.CmpOp: _StmtRaiser.lowp_cmp,
    lowp.CastOp: _StmtRaiser.lowp_cast,
}


def checked_def(op: tc.DefOp, locate: Locate | None = None) -> CheckedDef:
    """The checked def that `tcir.irgen.build_def` turns into `op`'s IR (see the module
    docstring). `locate(op)` gives an op's source location where the IR was read from
    text; raises TcError for IR that irgen does not emit."""
    try:
        return _DefRaiser(op, locate).raise_def()
    except RecursionError:
        raise TcError(f"tc.def @{op.sym_name.data} is nested too deeply to raise") from None
