"""Lower the `tc` dialect to affine loops over memrefs.

Summary:
  Each `tc.def` becomes a `func.func`; each `tc.stmt` a loop nest over its domain that
  stores (or reduces into) its target. A statement with `!` is preceded by a nest that
  sets the target to the reduction's identity. Reads become `affine.load`, or
  `memref.load` with computed indices when a subscript is indirect; temporaries are
  `memref.alloc`ed (and zero-filled, as outputs are) at entry and freed at exit. `?:` stays an `scf.if`, so guarded reads
  stay guarded. Loop order: the target's last index innermost, reductions just outside
  it, so that the innermost loop walks contiguous memory (statements that read their
  own target elsewhere than where they write keep TC's order: outputs, then reductions).

Options:
  sizes    "M=64,K=32": specialize every size to a constant; memrefs get static shapes
           and, with `strides`, static strided layouts. Without it the pass is
           parametric: sizes become leading `index` arguments and memrefs are dynamic.
  strides  "A=1:64,f.B=32:1": element strides of tensor arguments, by name or as
           DEF.NAME (specialized mode only; default dense row-major), e.g. for
           transposed or sliced inputs.

Before:
  tc.def @scale(%A : !tc.tensor<[N], f32>) -> (%B : !tc.tensor<[N], f32>) {
    tc.stmt (%i in 0 to N) %B[%i] = {
      %0 = tc.read %A[%i] : f32
      %1 = arith.addf %0, %0 : f32
      tc.yield %1 : f32
    }
  }
After (sizes="N=8"):
  func.func @scale(%A : memref<8xf32>, %B : memref<8xf32>) {
    affine.for %i = 0 to 8 {
      %0 = affine.load %A[%i] : memref<8xf32>
      %1 = arith.addf %0, %0 : f32
      affine.store %1, %B[%i] : memref<8xf32>
    }
    func.return
  }
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.builder import Builder, InsertPoint
from xdsl.context import Context
from xdsl.dialects import affine, arith, func, memref
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX, AffineMapAttr, FloatAttr, IndexType, IntegerAttr, IntegerType, MemRefType, ModuleOp,
    NoneAttr, Signedness, StridedLayoutAttr,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap
from xdsl.passes import ModulePass
from xdsl.transforms.lower_affine import insert_affine_map_ops

from tcir.dialects import tc
from tcir.errors import TcError
from tcir.sizeexpr import BinOp, Const, SizeExpr, Sym

# --------------------------------------------------------------------------------------
# Options


def parse_assignments(text: str, what: str) -> dict[str, str]:
    """`"M=64, N=32"` -> {"M": "64", "N": "32"} (commas or spaces separate)."""
    out: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise TcError(f"bad {what} `{item}`; expected NAME=VALUE")
        out[name] = value
    return out


def parse_sizes(text: str) -> dict[str, int]:
    sizes = {}
    for name, value in parse_assignments(text, "size").items():
        if not value.isdigit():
            raise TcError(f"size `{name}` must be a non-negative integer, not `{value}`")
        sizes[name] = int(value)
    return sizes


def parse_strides(text: str) -> dict[str, tuple[int, ...]]:
    strides = {}
    for name, value in parse_assignments(text, "stride").items():
        try:
            strides[name] = tuple(int(s) for s in value.split(":"))
        except ValueError:
            raise TcError(f"strides of `{name}` must be integers separated by `:`, not `{value}`") from None
    return strides


# --------------------------------------------------------------------------------------
# Types and constants


def element_type(t: tc.TensorType) -> Attribute:
    return tc.signless(t.element_type)


def is_unsigned(t: Attribute) -> bool:
    return isinstance(t, IntegerType) and t.signedness.data == Signedness.UNSIGNED


def constant(builder: Builder, value: int | float, t: Attribute) -> SSAValue:
    attr = FloatAttr(float(value), t) if not isinstance(t, IntegerType | IndexType) else IntegerAttr(value, t)
    return builder.insert(arith.ConstantOp(attr)).result


def _int_limits(t: IntegerType, unsigned: bool) -> tuple[int, int]:
    bits = t.width.data
    if bits == 1 or unsigned:  # unsigned max is all ones: -1 in the signless encoding
        return 0, -1 if bits > 1 else 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def identity(kind: str, t: Attribute, unsigned: bool) -> int | float:
    """The value a reduction starts from."""
    if kind == "+":
        return 0
    if kind == "*":
        return 1
    if isinstance(t, IntegerType):
        low, high = _int_limits(t, unsigned)
        return high if kind == "min" else low
    return float("inf") if kind == "min" else float("-inf")


_COMBINE_FLOAT = {"+": arith.AddfOp, "*": arith.MulfOp, "min": arith.MinimumfOp, "max": arith.MaximumfOp}
_COMBINE_INT = {"+": arith.AddiOp, "*": arith.MuliOp}
_COMBINE_SIGNED = {"min": arith.MinSIOp, "max": arith.MaxSIOp}
_COMBINE_UNSIGNED = {"min": arith.MinUIOp, "max": arith.MaxUIOp}


def combine(kind: str, old: SSAValue, new: SSAValue, unsigned: bool) -> Operation:
    if not isinstance(old.type, IntegerType):
        return _COMBINE_FLOAT[kind](old, new)
    if kind in _COMBINE_INT:
        return _COMBINE_INT[kind](old, new)
    return (_COMBINE_UNSIGNED if unsigned else _COMBINE_SIGNED)[kind](old, new)


# --------------------------------------------------------------------------------------
# Size expressions as affine maps (parametric mode)


def size_to_affine(e: SizeExpr, dims: dict[str, int]) -> AffineExpr:
    """A size expression over size arguments (dimension i = size dims[name])."""
    if isinstance(e, Const):
        return AffineExpr.constant(e.value)
    if isinstance(e, Sym):
        return AffineExpr.dimension(dims[e.name])
    assert isinstance(e, BinOp)
    if e.op in ("min", "max"):
        raise TcError(f"the bound `{e}` needs `{e.op}` inside an expression; "
                      "specialize the sizes (the `sizes` option) to lower it")
    lhs, rhs = size_to_affine(e.lhs, dims), size_to_affine(e.rhs, dims)
    if e.op == "+":
        return lhs + rhs
    if e.op == "-":
        return lhs - rhs
    if e.op == "*":
        return lhs * rhs
    if e.op == "floordiv":
        return lhs // rhs
    if e.op == "ceildiv":
        return lhs.ceil_div(rhs)
    return lhs % rhs


def _flatten(e: SizeExpr, op: str) -> list[SizeExpr]:
    """min(a, min(b, c)) -> [a, b, c]: an affine bound map takes the min of its results."""
    if isinstance(e, BinOp) and e.op == op:
        return _flatten(e.lhs, op) + _flatten(e.rhs, op)
    return [e]


# --------------------------------------------------------------------------------------
# The lowering of one def


class DefLowering:
    def __init__(self, def_op: tc.DefOp, sizes: dict[str, int] | None, strides: dict[str, tuple[int, ...]]):
        self.def_op = def_op
        self.sizes = sizes
        self.strides = strides
        self.names = [arg.name_hint or f"arg{i}" for i, arg in enumerate(def_op.body.block.args)]
        self.size_names = list(def_op.size_names())
        if sizes is not None:
            missing = [n for n in self.size_names if n not in sizes]
            if missing:
                raise TcError(f"`{def_op.sym_name.data}` needs a value for the size(s) "
                              + ", ".join(f"`{n}`" for n in missing))

    # Signature ----------------------------------------------------------------------

    def shape_of(self, t: tc.TensorType) -> list[int]:
        assert self.sizes is not None
        return [d.evaluate(self.sizes) for d in t.dims]

    def memref_type(self, name: str, t: tc.TensorType) -> MemRefType:
        elt = element_type(t)
        if self.sizes is None:
            return MemRefType(elt, [DYNAMIC_INDEX] * t.rank)
        # An extent below 0 is 0 (an explicit `where` range may be empty for some sizes:
        # `O(i) = ... where i in 0:N - 2` with N = 1), as in the reference and the API.
        shape = [max(0, n) for n in self.shape_of(t)]
        layout: Attribute = NoneAttr()
        strides = self.strides.get(f"{self.def_op.sym_name.data}.{name}", self.strides.get(name))
        if strides is not None:
            if len(strides) != t.rank:
                raise TcError(f"`{name}` has rank {t.rank} but {len(strides)} strides were given")
            layout = StridedLayoutAttr(list(strides), 0)
        return MemRefType(elt, shape, layout)

    def arg_type(self, name: str, t: Attribute) -> Attribute:
        return self.memref_type(name, t) if isinstance(t, tc.TensorType) else t

    def lower(self) -> func.FuncOp:
        d = self.def_op
        params = list(d.inputs) + list(d.outputs)
        arg_types = [self.arg_type(self.names[a.index], a.type) for a in params]
        size_types = [IndexType()] * len(self.size_names) if self.sizes is None else []
        body = Block(arg_types=size_types + arg_types)
        for name, arg in zip(self.size_names if self.sizes is None else [], body.args):
            arg.name_hint = name
        tensor_args = body.args[len(size_types):]
        self.values: dict[SSAValue, SSAValue] = {}
        for old, new in zip(params, tensor_args):
            new.name_hint = self.names[old.index]
            self.values[old] = new
        self.size_args = dict(zip(self.size_names, body.args)) if self.sizes is None else {}
        self.builder = Builder(InsertPoint.at_end(body))
        temps = [self.alloc(t) for t in d.temporaries]
        self.emit_statements()
        for t in temps:
            self.builder.insert(memref.DeallocOp.get(t))
        self.builder.insert(func.ReturnOp())
        return func.FuncOp(d.sym_name.data, (body.arg_types, []), Region(body))

    def emit_statements(self) -> None:
        for stmt in self.def_op.body.block.ops:
            assert isinstance(stmt, tc.StmtOp)
            StmtLowering(self, stmt).lower()

    def alloc(self, arg: BlockArgument) -> SSAValue:
        t = self.memref_type(self.names[arg.index], arg.type)
        dynamic = [self.size_value(e) for e in arg.type.dims] if self.sizes is None else []
        value = self.builder.insert(memref.AllocOp(dynamic, [], t)).memref
        value.name_hint = self.names[arg.index]
        self.values[arg] = value
        self.zero_fill(value, arg.type)
        return value

    def zero_fill(self, value: SSAValue, t: tc.TensorType) -> None:
        """Temporaries start at zero, as outputs do (the API allocates them zero-filled)
        and as the reference defines: a `+=` without `!` into a fresh temporary, or an
        element that no statement writes, reads 0 (memref.alloc leaves garbage).
        Found by tests/test_fuzz_pipeline.py."""
        outer = self.builder
        ivs = []
        for dim in t.dims:
            lo_map, lo_ops = self.bound(Const(0), "max")
            hi_map, hi_ops = self.bound(dim, "min")
            block = Block([affine.YieldOp.get()], arg_types=[IndexType()])
            self.builder.insert(affine.ForOp.from_region(lo_ops, hi_ops, [], [], lo_map, hi_map, Region(block)))
            self.builder = Builder(InsertPoint.before(block.last_op))
            ivs.append(block.args[0])
        zero = constant(self.builder, 0, element_type(t))
        self.builder.insert(affine.StoreOp(zero, value, ivs, AffineMapAttr(AffineMap.identity(len(ivs)))))
        self.builder = outer

    # Sizes --------------------------------------------------------------------------

    def size_value(self, e: SizeExpr) -> SSAValue:
        """An index value of a size expression at the current insertion point."""
        if self.sizes is not None:
            return constant(self.builder, e.evaluate(self.sizes), IndexType())
        if isinstance(e, Sym):
            return self.size_args[e.name]
        amap, operands = self.size_map([e])
        return self.builder.insert(affine.ApplyOp(operands, AffineMapAttr(amap))).result

    def size_map(self, exprs: list[SizeExpr]) -> tuple[AffineMap, list[SSAValue]]:
        """A map over the size arguments the expressions use (dims only, see design.md)."""
        used = [n for n in self.size_names if any(n in e.symbols() for e in exprs)]
        dims = {n: i for i, n in enumerate(used)}
        results = tuple(size_to_affine(e, dims) for e in exprs)
        return AffineMap(len(used), 0, results), [self.size_args[n] for n in used]

    def bound(self, e: SizeExpr, op: str) -> tuple[AffineMapAttr, list[SSAValue]]:
        """A loop bound: a constant, or a map over the size arguments (min/max lists)."""
        if self.sizes is not None:
            value = e.evaluate(self.sizes)
            return AffineMapAttr(AffineMap(0, 0, (AffineExpr.constant(value),))), []
        amap, operands = self.size_map(_flatten(e, op))
        return AffineMapAttr(amap), operands


class StmtLowering:
    def __init__(self, parent: DefLowering, stmt: tc.StmtOp):
        self.p, self.stmt = parent, stmt
        self.target = parent.values[stmt.target]
        self.tensor_type: tc.TensorType = stmt.target.type
        self.unsigned = is_unsigned(self.tensor_type.element_type)
        self.write_map = stmt.write_map

    def lower(self) -> None:
        s = self.stmt
        written = {e.position for e in self.write_map.data.results if hasattr(e, "position")}
        if s.init is not None:
            lhs = [i for i in range(len(s.iterators)) if i in written]
            self.loop_nest(lhs, self.emit_init)
        self.loop_nest(self.loop_order(written), self.emit_body)

    def loop_order(self, written: set[int]) -> list[int]:
        n = len(self.stmt.iterators)
        lhs = [i for i in range(n) if i in written]
        reductions = [i for i in range(n) if i not in written]
        if not lhs or self.reads_own_target_elsewhere():
            return lhs + reductions
        return lhs[:-1] + reductions + lhs[-1:]

    def reads_own_target_elsewhere(self) -> bool:
        for op in self.stmt.body.walk():
            if isinstance(op, tc.ReadOp) and op.tensor == self.stmt.target:
                subscripts = op.map.data.replace_dims_and_symbols(
                    [self._iterator_expr(v) for v in op.indices], [], len(self.stmt.iterators), 0)
                if subscripts.results != self.write_map.data.results:
                    return True
        return False

    def _iterator_expr(self, value: SSAValue) -> AffineExpr:
        if isinstance(value, BlockArgument) and value.owner is self.stmt.body.block:
            return AffineExpr.dimension(value.index)
        return AffineExpr.dimension(len(self.stmt.iterators) + 1000)  # never equal to a write

    def loop_nest(self, order: list[int], emit_innermost) -> None:
        """Nested affine.for loops over the iterators in `order`; then the innermost body."""
        outer = self.p.builder
        ivs: dict[int, SSAValue] = {}
        for i in order:
            lo_map, lo_ops = self.p.bound(self.stmt.lower_bounds.data[i].data, "max")
            hi_map, hi_ops = self.p.bound(self.stmt.upper_bounds.data[i].data, "min")
            block = Block([affine.YieldOp.get()], arg_types=[IndexType()])
            block.args[0].name_hint = self.stmt.iterators[i].name_hint
            loop = affine.ForOp.from_region(lo_ops, hi_ops, [], [], lo_map, hi_map, Region(block))
            self.p.builder.insert(loop)
            self.p.builder = Builder(InsertPoint.before(block.last_op))
            ivs[i] = block.args[0]
        emit_innermost(ivs)
        self.p.builder = outer

    def store(self, value: SSAValue, ivs: dict[int, SSAValue]) -> None:
        operands, amap = self.access(self.write_map.data, ivs)
        if all(_is_loop_iv(v) for v in operands):
            self.p.builder.insert(affine.StoreOp(value, self.target, operands, AffineMapAttr(amap)))
        else:  # iterators computed from other loops' counters (a scheduled nest)
            indices = indices_of(self.p.builder, amap, operands)
            self.p.builder.insert(memref.StoreOp.get(value, self.target, indices))

    def load_target(self, ivs: dict[int, SSAValue]) -> SSAValue:
        operands, amap = self.access(self.write_map.data, ivs)
        if all(_is_loop_iv(v) for v in operands):
            return self.p.builder.insert(affine.LoadOp(self.target, operands, AffineMapAttr(amap))).result
        indices = indices_of(self.p.builder, amap, operands)
        return self.p.builder.insert(memref.LoadOp.get(self.target, indices)).res

    def access(self, amap: AffineMap, ivs: dict[int, SSAValue]) -> tuple[list[SSAValue], AffineMap]:
        """The write map over only the loops that exist (dims renumbered)."""
        used = sorted(ivs)
        renumber = [AffineExpr.dimension(used.index(i)) if i in ivs else AffineExpr.constant(0)
                    for i in range(amap.num_dims)]
        return [ivs[i] for i in used], amap.replace_dims_and_symbols(renumber, [], len(used), 0)

    def emit_init(self, ivs: dict[int, SSAValue]) -> None:
        elt = element_type(self.tensor_type)
        value = constant(self.p.builder, identity(self.stmt.kind.data, elt, self.unsigned), elt)
        self.store(value, ivs)

    def emit_body(self, ivs: dict[int, SSAValue]) -> None:
        mapping: dict[SSAValue, SSAValue] = dict(self.p.values)
        for i, iterator in enumerate(self.stmt.iterators):
            mapping[iterator] = ivs[i]
        cloned = [self.p.builder.insert(op.clone(value_mapper=mapping)) for op in self.stmt.body.block.ops]
        for op in [inner for top in cloned for inner in top.walk()]:
            if isinstance(op, tc.ReadOp):
                self.lower_read(op, ivs)
            elif isinstance(op, tc.SizeOp):
                self.lower_size(op)
        # The cloned tc.yield kept its operand up to date through the rewrites above.
        yield_op = cloned[-1]
        assert isinstance(yield_op, tc.YieldOp)
        yielded = yield_op.value
        yield_op.detach()
        yield_op.erase()
        kind = self.stmt.kind.data
        if kind != "=":
            op = combine(kind, self.load_target(ivs), yielded, self.unsigned)
            yielded = self.p.builder.insert(op).results[0]
        self.store(yielded, ivs)

    def lower_read(self, op: tc.ReadOp, ivs: dict[int, SSAValue]) -> None:
        builder = Builder(InsertPoint.before(op))
        source = op.tensor
        amap = op.map.data
        affine_valid = all(_is_loop_iv(v) for v in op.indices)
        if affine_valid:
            new = affine.LoadOp(source, list(op.indices), AffineMapAttr(amap), op.result.type)
            builder.insert(new)
        else:  # indirect subscripts: compute the indices, then a plain load
            new = builder.insert(memref.LoadOp.get(source, indices_of(builder, amap, list(op.indices))))
        op.result.replace_all_uses_with(new.results[0])
        op.detach()
        op.erase()

    def lower_size(self, op: tc.SizeOp) -> None:
        builder = Builder(InsertPoint.before(op))
        name = op.size.data
        if self.p.sizes is not None:
            value = constant(builder, self.p.sizes[name], op.result.type)
        else:
            value = self.p.size_args[name]
            if not isinstance(op.result.type, IndexType):
                value = builder.insert(arith.IndexCastOp(value, op.result.type)).result
        op.result.replace_all_uses_with(value)
        op.detach()
        op.erase()


def indices_of(builder: Builder, amap: AffineMap, operands: list[SSAValue]) -> list[SSAValue]:
    """The results of `amap` applied to `operands`, computed with arith ops."""
    index_ops, indices = insert_affine_map_ops(AffineMapAttr(amap), operands, [])
    for index_op in index_ops:
        builder.insert(index_op)
    return indices


def _is_loop_iv(value: SSAValue) -> bool:
    return isinstance(value, BlockArgument) and isinstance(value.owner.parent_op(), affine.ForOp)


@dataclass(frozen=True)
class ConvertTcToAffinePass(ModulePass):
    name = "convert-tc-to-affine"

    sizes: str = ""
    strides: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        sizes = parse_sizes(self.sizes) if self.sizes else None
        strides = parse_strides(self.strides)
        if strides and sizes is None:
            raise TcError("the `strides` option needs `sizes` (specialized mode)")
        for def_op in list(op.ops):
            if isinstance(def_op, tc.DefOp):
                new = DefLowering(def_op, sizes, strides).lower()
                op.body.block.insert_op_before(new, def_op)
                def_op.detach()
                def_op.erase()
