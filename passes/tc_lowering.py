"""The lowering of `tc` defs to loops over memrefs that the tc-lowering passes share.

Not a pass: `convert-tc-to-affine`, `convert-tc-to-loops` and `convert-tc-to-gpu` build on
it. It holds
  * the pass-option parsers (`parse_sizes`, `parse_strides`): text only at the
    pass-option boundary, typed values below it;
  * the checks of the options and, once the sizes are known, of what the IR claims
    (`check_sizes`, `check_accesses`: sizes within int64, accesses within tensors);
  * `DefLowering`: a `tc.def` to a `func.func` over memrefs (sizes specialized to
    constants or parametric, strided layouts, temporaries allocated and zero-filled),
    its statements emitted by `emit_statements`;
  * `StmtLowering`: one `tc.stmt` as affine loop nests (the init nest of `!`, the body
    with its reads, `?:` as `scf.if`), or one statement instance at given iterators
    (what the scheduled lowerings emit at each leaf of an isl AST);
  * `ScheduledDefLowering`: a def scheduled with isl, emitted as parts
    (`@<def>.part<k>`), the schedule itself left to a subclass (`schedule`);
  * `replace_defs`: the walk replacing each `tc.def` of a module by its lowering.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from io import StringIO

import islpy as isl
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import affine, arith, func, memref, scf
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX, AffineMapAttr, ArrayAttr, DictionaryAttr, FloatAttr, IndexType, IntegerAttr, IntegerType,
    MemRefType, ModuleOp, NoneAttr, Signedness, StridedLayoutAttr, StringAttr, UnitAttr, f64, i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr, AffineBinaryOpKind, AffineConstantExpr, AffineDimExpr, AffineExpr, AffineMap,
)
from xdsl.printer import Printer
from xdsl.transforms.lower_affine import insert_affine_map_ops

from tcir.dialects import lowp, tc
from tcir.dialects.lowp import is_lowp_type
from tcir.dialects.tc_syntax import print_affine_expr
from tcir.errors import TcError
from tcir.mapping_options import MappingOptions
from tcir.polyhedral import Fusion, ScheduleOptions
from tcir.polyhedral.codegen import AstToScf, Part, for_range, parts, statements_in
from tcir.polyhedral.model import Model, box_volume
from tcir.sizeexpr import INT64_MAX, INT64_MIN, BinOp, Const, SizeExpr, Sym, box_extremes

# --------------------------------------------------------------------------------------
# Options




def parse_assignments(text: str, what: str) -> dict[str, str]:
    """`"M=64, N=32"` -> {"M": "64", "N": "32"} (commas or spaces separate)."""
    out: dict[str, str] = {}
    for item in text.replace(",", " ").split():
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise TcError(f"bad {what} `{item}`; expected NAME=VALUE")
        if name in out:
            raise TcError(f"the {what} `{name}` is given twice")
        out[name] = value
    return out


def parse_sizes(text: str) -> dict[str, int]:
    sizes = {}
    for name, value in parse_assignments(text, "size").items():
        if not re.fullmatch(r"[0-9]+", value) or int(value) > INT64_MAX:
            raise TcError(f"size `{name}` must be an integer from 0 to {INT64_MAX}, not `{value}`")
        sizes[name] = int(value)
    return sizes


def parse_strides(text: str) -> dict[str, tuple[int, ...]]:
    strides = {}
    for name, value in parse_assignments(text, "stride").items():
        parts = value.split(":")
        if not all(re.fullmatch(r"-?[0-9]+", s) and abs(int(s)) <= INT64_MAX for s in parts):
            raise TcError(f"strides of `{name}` must be integers (at most {INT64_MAX} in magnitude) separated "
                          f"by `:`, not `{value}`")
        strides[name] = tuple(int(s) for s in parts)
    return strides


# --------------------------------------------------------------------------------------
# Types and constants


def element_type(t: tc.TensorType) -> Attribute:
    return tc.signless(t.element_type)


def is_unsigned(t: Attribute) -> bool:
    return isinstance(t, IntegerType) and t.signedness.data == Signedness.UNSIGNED


def constant(builder: Builder, value: int | float, t: Attribute) -> SSAValue:
    if is_lowp_type(t):  # a value of the format (identity, zero_value): exact in f64, cast
        exact = builder.insert(arith.ConstantOp(FloatAttr(float(value), f64))).result
        return builder.insert(lowp.CastOp(exact, t)).result
    attr = FloatAttr(float(value), t) if not isinstance(t, IntegerType | IndexType) else IntegerAttr(value, t)
    return builder.insert(arith.ConstantOp(attr)).result


def element_bytes(t: Attribute) -> int:
    """Bytes per element in memory: a lowp type takes its storage integer (8, 16 or 32 bits)."""
    width = t.storage_width if is_lowp_type(t) else t.bitwidth
    return (width + 7) // 8


def _lowp_range(t: Attribute) -> tuple[float, float]:
    """The smallest and the largest value of a lowp type (-+inf where it has infinities),
    exact as floats: the identities of `min` and `max`."""
    if isinstance(t, lowp.LowpFixedType):
        low = -(2 ** (t.integer.data - 1)) if t.is_signed else 0
        high = 2 ** (t.integer.data - t.is_signed) - 2.0 ** -t.fraction.data
        return float(low), float(high)
    e, m, kind, bias = t.exponent.data, t.mantissa.data, t.kind.data, t.bias.data
    if kind == "ieee":
        return -math.inf, math.inf
    # the largest finite pattern without its sign: below the NaN (all ones) or all ones
    top = (1 << (e + m)) - (2 if kind in ("fn", "unsigned") else 1)
    field, frac = top >> m, top & ((1 << m) - 1)
    high = math.ldexp((1 << m) + frac, field - bias - m) if kind != "unsigned" else math.ldexp(1, field - bias)
    return (math.ldexp(1, -bias) if kind == "unsigned" else -high), high


def zero_value(t: Attribute) -> int | float:
    """The value whose bits are all zero (what zero-filled memory holds): 0, but 2^-bias in
    an unsigned float format, which has no zero."""
    if isinstance(t, lowp.LowpFloatType) and t.kind.data == "unsigned":
        return math.ldexp(1, -t.bias.data)
    return 0


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
    if is_lowp_type(t):
        low, high = _lowp_range(t)
        return high if kind == "min" else low
    if isinstance(t, IntegerType):
        low, high = _int_limits(t, unsigned)
        return high if kind == "min" else low
    return float("inf") if kind == "min" else float("-inf")


_COMBINE_FLOAT = {"+": arith.AddfOp, "*": arith.MulfOp, "min": arith.MinimumfOp, "max": arith.MaximumfOp}
_COMBINE_INT = {"+": arith.AddiOp, "*": arith.MuliOp}
_COMBINE_SIGNED = {"min": arith.MinSIOp, "max": arith.MaxSIOp}
_COMBINE_UNSIGNED = {"min": arith.MinUIOp, "max": arith.MaxUIOp}


_COMBINE_LOWP = {"+": lowp.AddOp, "*": lowp.MulOp, "min": lowp.MinOp, "max": lowp.MaxOp}


def combine(kind: str, old: SSAValue, new: SSAValue, unsigned: bool) -> Operation:
    if is_lowp_type(old.type):  # rounded to the format at every step
        return _COMBINE_LOWP[kind](old, new)
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
    constant = e.lhs.as_constant() is not None or e.rhs.as_constant() is not None
    if e.op == "*" and not constant or e.op not in ("+", "-", "*") and e.rhs.as_constant() is None:
        raise TcError(f"the bound `{e}` is not affine in the sizes (a product of sizes, or a division by "
                      "one); specialize the sizes (the `sizes` option) to lower it")
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
        self.names = [tc.tc_name(arg) or f"arg{i}" for i, arg in enumerate(def_op.body.block.args)]
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
        zero = constant(self.builder, zero_value(element_type(t)), element_type(t))
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

    def extent(self, e: SizeExpr) -> SSAValue:
        """A tensor's extent as an index value: the size expression, 0 if below 0 (as in
        `memref_type`)."""
        if self.sizes is not None:
            return constant(self.builder, max(0, e.evaluate(self.sizes)), IndexType())
        zero = constant(self.builder, 0, IndexType())
        return self.builder.insert(arith.MaxSIOp(self.size_value(e), zero)).result

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
        yielded, computed = yield_op.value, list(yield_op.indices)
        yield_op.detach()
        yield_op.erase()
        if computed:
            self.emit_scatter(yielded, computed, ivs)
            return
        kind = self.stmt.kind.data
        if kind != "=":
            op = combine(kind, self.load_target(ivs), yielded, self.unsigned)
            yielded = self.p.builder.insert(op).results[0]
        self.store(yielded, ivs)

    def emit_scatter(self, value: SSAValue, computed: list[SSAValue], ivs: dict[int, SSAValue]) -> None:
        """A scatter-add's update at the indices its body computed: skipped where an index
        is outside the target, so an out-of-range index never writes outside a tensor
        (docs/language.md). The updates run in the schedule's order, one at a time: the
        dependences over the whole target keep them from running in parallel."""
        n = len(self.stmt.iterators)
        at = {**ivs, **{n + k: index for k, index in enumerate(computed)}}
        inside = None
        for k, expr in enumerate(self.write_map.data.results):
            if not expr.used_dims() & set(range(n, n + len(computed))):
                continue
            operands, amap = self.access(AffineMap(self.write_map.data.num_dims, 0, (expr,)), at)
            index = indices_of(self.p.builder, amap, operands)[0]
            extent = self.p.extent(self.tensor_type.dims[k])
            below = self.p.builder.insert(arith.CmpiOp(index, extent, "ult")).result
            inside = below if inside is None else self.p.builder.insert(arith.AndIOp(inside, below)).result
        assert inside is not None
        block = Block([scf.YieldOp()])
        self.p.builder.insert(scf.IfOp(inside, [], Region(block)))
        outer, self.p.builder = self.p.builder, Builder(InsertPoint.before(block.last_op))
        self.store(self.p.builder.insert(combine("+", self.load_target(at), value, self.unsigned)).results[0], at)
        self.p.builder = outer

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


# --------------------------------------------------------------------------------------
# Walking a module


def replace_defs(module: ModuleOp, lower_def: Callable[[tc.DefOp], list[Operation]]) -> None:
    """Replace each `tc.def` of `module` by the operations `lower_def` returns for it."""
    for def_op in list(module.ops):
        if isinstance(def_op, tc.DefOp):
            module.body.block.insert_ops_before(lower_def(def_op), def_op)
            def_op.detach()
            def_op.erase()


def size_names(module: ModuleOp) -> set[str]:
    """The symbolic sizes of the module's defs."""
    return {name for op in module.ops if isinstance(op, tc.DefOp) for name in op.size_names()}


def check_sizes(pass_name: str, module: ModuleOp, sizes: Mapping[str, int] | None,
                why: str | None = None, strides: Mapping[str, tuple[int, ...]] | None = None) -> None:
    """The `sizes` option names only sizes of the module's defs, `strides` only their
    tensors (`T` or `def.T`); with `why`, the pass needs sizes (`sizes` None: not given;
    empty is right for defs without symbolic sizes). Each def whose sizes are all known
    is then checked against them (`check_accesses`)."""
    tensors = {name for op in module.ops if isinstance(op, tc.DefOp) for arg in op.body.block.args
               if isinstance(arg.type, tc.TensorType) and tc.tc_name(arg)
               for name in (tc.tc_name(arg), f"{op.sym_name.data}.{tc.tc_name(arg)}")}
    unknown_tensors = sorted(set(strides or ()) - tensors)
    if unknown_tensors:
        raise TcError(f"{pass_name}: strides for " + ", ".join(f"`{n}`" for n in unknown_tensors)
                      + ", which no def has as a tensor argument")
    known = size_names(module)
    if sizes is None:
        if why is not None and known:
            raise TcError(f"{pass_name} needs the `sizes` option: {why}")
    elif unknown := sorted(set(sizes) - known):
        listed = ", ".join(f"`{n}`" for n in sorted(known)) or "none"
        raise TcError(f"{pass_name}: no def has a size named " + ", ".join(f"`{n}`" for n in unknown)
                      + f" (the sizes are: {listed})")
    for def_op in module.ops:
        # a def missing some sizes is DefLowering's error, which names them
        if isinstance(def_op, tc.DefOp) and set(def_op.size_names()) <= set(sizes or ()):
            check_accesses(pass_name, def_op, sizes or {})


def check_accesses(pass_name: str, def_op: tc.DefOp, sizes: Mapping[str, int]) -> None:
    """With the sizes known, raise a TcError naming the def, the statement and the tensor
    where hand-written `tc` IR would compile to wrong code: a size expression dividing by
    zero or beyond int64 (an extent, a bound, or a tensor's byte size), or an affine
    access outside its tensor over the statement's box domain (tcir/bounds.py checks the
    same for the API's programs). Only what is provable is an error: reads under an
    `scf.if` (they run where its condition holds), subscripts computed from values, and
    subscripts whose extremes may not be reached (a `mod` spanning several periods, an
    iterator in two divided terms) are not checked."""
    where = f"{pass_name}: {def_op.title}"
    given = ", ".join(f"{n}={sizes[n]}" for n in def_op.size_names()) or "no sizes"

    def value(e: SizeExpr, what: str, at: str = where) -> int:
        try:
            v = e.evaluate(sizes)
        except ZeroDivisionError:
            raise TcError(f"{at}: {what} is `{e}`, which divides by zero with {given}") from None
        if not INT64_MIN <= v <= INT64_MAX:
            raise TcError(f"{at}: {what} is `{e}`, which is {v} with {given}: beyond int64")
        return v

    extents: dict[SSAValue, list[int]] = {}
    for arg in def_op.body.block.args:
        if isinstance(arg.type, tc.TensorType):
            name = _named(arg)
            # an extent below 0 is 0, as in DefLowering.memref_type
            extents[arg] = [max(0, value(d, f"dimension {i} of {name}")) for i, d in enumerate(arg.type.dims)]
            if math.prod(extents[arg]) * element_bytes(element_type(arg.type)) > INT64_MAX:
                raise TcError(f"{where}: {name} of shape {extents[arg]} with {given} would take more than "
                              f"{INT64_MAX} bytes")
    for k, stmt in enumerate(op for op in def_op.body.block.ops if isinstance(op, tc.StmtOp)):
        title = f"{where}, statement {k} ({stmt.title})"
        ranges = [(value(lo.data, f"the lower bound of {_named(it)}", title),
                   value(hi.data, f"the upper bound of {_named(it)}", title) - 1)
                  for it, lo, hi in zip(stmt.iterators, stmt.lower_bounds, stmt.upper_bounds, strict=True)]
        runs = all(first <= last for first, last in ranges)
        reductions = {a.index for a in stmt.reduction_iterators()}
        accesses = []
        # `!` sets the written box whenever it is not empty, even if the body never runs
        if runs or (stmt.is_init and all(ranges[i][0] <= ranges[i][1] for i in range(len(ranges))
                                         if i not in reductions)):
            # an index a scatter-add computes is not checked (the update skips it if outside)
            accesses.append(("writes", stmt.target, stmt.write_map.data, [*stmt.iterators, *stmt.yielded_indices],
                             ranges + [None] * len(stmt.yielded_indices)))
        if runs:
            for read in stmt.body.block.ops:  # not those nested under an scf.if
                if isinstance(read, tc.ReadOp):
                    operands = [ranges[v.index] if isinstance(v, BlockArgument) and v.owner is stmt.body.block
                                else (sizes[v.owner.size.data],) * 2 if isinstance(v.owner, tc.SizeOp) else None
                                for v in read.indices]
                    accesses.append(("reads", read.tensor, read.map.data, read.indices, operands))
        for verb, tensor, amap, values, operands in accesses:
            if error := _out_of_bounds(tensor, amap, values, operands, extents[tensor]):
                raise TcError(f"{title} {verb} {error} with {given}")


def _out_of_bounds(tensor: SSAValue, amap: AffineMap, values: Sequence[SSAValue],
                   operands: Sequence[tuple[int, int] | None], extents: list[int]) -> str | None:
    """Where an access provably leaves its tensor (see `check_accesses`), else None."""
    for axis, (expr, extent) in enumerate(zip(amap.results, extents, strict=True)):
        reach = _reach(expr, operands)
        if reach is None or not reach[2] or 0 <= reach[0] <= reach[1] < extent:
            continue
        text = StringIO()
        print_affine_expr(Printer(stream=text), expr, values)
        return (f"{_named(tensor)} at index {reach[0] if reach[0] < 0 else reach[1]} of "
                f"dimension {axis} (subscript `{text.getvalue()}`), outside [0, {extent})")
    return None


def _named(value: SSAValue) -> str:
    assert isinstance(value, BlockArgument)  # a def argument or an iterator
    return f"%{value.name_hint}" if value.name_hint else f"argument #{value.index}"


def _linear(expr: AffineExpr) -> tuple[int, dict[AffineExpr, int]]:
    """`expr` as const + sum(c * atom), the atoms dimensions, divisions and modulos."""
    if isinstance(expr, AffineConstantExpr):
        return expr.value, {}
    if isinstance(expr, AffineBinaryOpExpr) and expr.kind == AffineBinaryOpKind.Add:
        (ca, ta), (cb, tb) = _linear(expr.lhs), _linear(expr.rhs)
        return ca + cb, {a: ta.get(a, 0) + tb.get(a, 0) for a in ta | tb}
    if isinstance(expr, AffineBinaryOpExpr) and expr.kind == AffineBinaryOpKind.Mul:
        factor, other = (expr.lhs, expr.rhs) if isinstance(expr.lhs, AffineConstantExpr) else (expr.rhs, expr.lhs)
        assert isinstance(factor, AffineConstantExpr)  # affine: one side is a constant
        c, terms = _linear(other)
        return c * factor.value, {a: k * factor.value for a, k in terms.items()}
    return 0, {expr: 1}


def _reach(expr: AffineExpr, operands: Sequence[tuple[int, int] | None]) -> tuple[int, int, bool, set[int]] | None:
    """The least and greatest values of `expr` over the box of its operands' ranges,
    whether some points reach them (else they only bound the values), and the operands
    that vary; None if it uses an operand computed from values."""
    const, terms = _linear(expr)
    parts, exact, varying = [], True, set()
    for atom, c in terms.items():
        if isinstance(atom, AffineDimExpr):
            if (bounds := operands[atom.position]) is None:
                return None
            (low, high), atom_exact = bounds, True
            dims = {atom.position} if low != high else set()
        else:  # floordiv, ceildiv or mod by a positive constant (the verifier's rule)
            assert isinstance(atom, AffineBinaryOpExpr) and isinstance(atom.rhs, AffineConstantExpr)
            if (inner := _reach(atom.lhs, operands)) is None:
                return None
            first, last, atom_exact, dims = inner
            d = atom.rhs.value
            if atom.kind == AffineBinaryOpKind.FloorDiv:
                low, high = first // d, last // d
            elif atom.kind == AffineBinaryOpKind.CeilDiv:
                low, high = -(-first // d), -(-last // d)
            elif first // d == last // d:  # within one period: x mod d is x minus a constant
                low, high = first % d, last % d
            else:
                low, high, atom_exact = 0, d - 1, False
        # extremes of terms over disjoint operands are reached together
        exact = exact and atom_exact and not dims & varying
        varying |= dims
        parts.append((c, low, high))
    low, high = box_extremes(const, parts)
    return low, high, exact, varying


# --------------------------------------------------------------------------------------
# Scheduled defs


def outer_schedule_options(options: MappingOptions, sizes: Mapping[str, int]) -> ScheduleOptions:
    """The isl scheduler's options for the outer schedule under the mapping options; the
    sizes are fixed before scheduling when `fixParametersBeforeScheduling` is set. Tiles
    are applied by each mapping after its own reordering, so none here."""
    fix = dict(sizes) if options["fixParametersBeforeScheduling"] else None
    return ScheduleOptions(fusion=Fusion(options["outerScheduleFusionStrategy"]),
                           allow_skewing=options["outerScheduleAllowSkewing"],
                           positive_orthant=options["outerSchedulePositiveOrthant"], fix_parameters=fix)


_REASSOC = arith.FastMathFlagsAttr([arith.FastMathFlag.REASSOC, arith.FastMathFlag.ALLOW_CONTRACT])
_CONTRACT = arith.FastMathFlagsAttr([arith.FastMathFlag.ALLOW_CONTRACT])


def _reassociate(block: Block) -> None:
    """Mark the float sum of a `+=` reduction (the value of the statement's store, just
    emitted last in `block`) reassociable, so LLVM may vectorize the reduction loop
    (partial sums in vector lanes): a summation order TC leaves open. A product added
    to the sum may be contracted with it into a fused multiply-add (one rounding
    instead of two)."""
    store = block.last_op if not isinstance(block.last_op, scf.YieldOp | func.ReturnOp) else block.last_op.prev_op
    if isinstance(store, memref.StoreOp) and isinstance(store.value.owner, arith.AddfOp):
        add = store.value.owner
        add.properties["fastmath"] = _REASSOC
        for operand in add.operands:
            if isinstance(operand.owner, arith.MulfOp):
                operand.owner.properties["fastmath"] = _CONTRACT


def int_array(values: tuple[int, ...]) -> ArrayAttr:
    return ArrayAttr([IntegerAttr(v, i64) for v in values])


class ScheduledDefLowering(DefLowering):
    """A def scheduled with isl: `@<def>` calls its parts `@<def>.part<k>`, one per
    top-level part of the schedule's AST (see convert-tc-to-loops). Subclasses give the
    schedule (`schedule`)."""

    def __init__(self, def_op: tc.DefOp, sizes: Mapping[str, int], strides: Mapping[str, tuple[int, ...]],
                 options: MappingOptions):
        super().__init__(def_op, dict(sizes), dict(strides))
        self.options = options
        self.stmts = [op for op in def_op.body.block.ops if isinstance(op, tc.StmtOp)]
        self.part_functions: list[func.FuncOp] = []

    def schedule(self) -> tuple[Model, isl.AstNode]:
        """The specialized model of the def and the isl AST of its schedule."""
        raise NotImplementedError

    def emit_statements(self) -> None:
        self.model, ast = self.schedule()
        name = self.def_op.sym_name.data
        arguments = list(self.def_op.inputs) + list(self.def_op.outputs) + list(self.def_op.temporaries)
        caller_values, caller_builder = self.values, self.builder
        for k, part in enumerate(parts(ast)):
            loop = for_range(part.parallel) if part.parallel is not None else None
            chunked = loop is not None
            function = self.part_function(f"{name}.part{k}", part, arguments, chunked)
            self.values, self.builder = caller_values, caller_builder
            operands = [self.values[t] for t in arguments]
            if chunked:
                first, bound, step = loop
                function.attributes["tcir.parallel"] = int_array((first, bound, step))
                function.attributes["tcir.instances"] = IntegerAttr(self.instances(part), i64)
                operands += [constant(self.builder, first, IndexType()), constant(self.builder, bound, IndexType())]
            self.builder.insert(func.CallOp(function.sym_name.data, operands, []))
            self.part_functions.append(function)

    def instances(self, part: Part) -> int:
        """About how many statement instances a part executes (the volume of each
        statement's bounding box: counting exactly can take isl seconds), for the
        runtime's choice of running it on one thread or several."""
        names = set().union(*(statements_in(n) for n in part.nodes))
        return sum(box_volume(self.model.statement(n).domain) for n in names)

    def part_function(self, name: str, part: Part, arguments, chunked: bool) -> func.FuncOp:
        types = [self.arg_type(self.names[t.index], t.type) for t in arguments]
        block = Block(arg_types=types + ([IndexType()] * 2 if chunked else []))
        self.values = {}
        for old, new in zip(arguments, block.args):
            new.name_hint = self.names[old.index]
            self.values[old] = new
        emitter = AstToScf(Builder(InsertPoint.at_end(block)), {}, self.emit_instance)
        if chunked:
            block.args[-2].name_hint, block.args[-1].name_hint = "lo", "hi"
            emitter.for_(part.parallel, block.args[-2], block.args[-1])
        else:
            for node in part.nodes:
                emitter.emit(node)
        emitter.builder.insert(func.ReturnOp())
        # Distinct tensors never overlap (the API refuses outputs that overlap anything):
        # noalias lets LLVM keep reductions in registers and vectorize without checks.
        arg_attrs = ArrayAttr([DictionaryAttr({"llvm.noalias": UnitAttr()} if isinstance(t, MemRefType) else {})
                               for t in block.arg_types])
        return func.FuncOp(name, (block.arg_types, []), Region(block), arg_attrs=arg_attrs)

    def emit_instance(self, builder: Builder, name: str, values: list[SSAValue]) -> None:
        """One statement instance, its iterators given by `values`."""
        statement = self.model.statement(name)
        op = self.stmts[statement.index]
        self.builder = builder
        lowering = StmtLowering(self, op)
        if statement.is_init:
            reductions = {a.index for a in op.reduction_iterators()}
            kept = [i for i in range(len(op.iterators)) if i not in reductions]
            lowering.emit_init(dict(zip(kept, values, strict=True)))
        else:
            lowering.emit_body(dict(enumerate(values)))
            if op.kind.data == "+" and op.reduction_iterators():
                _reassociate(builder.insertion_point.block)

    def lower(self) -> func.FuncOp:
        main = super().lower()
        main.attributes["tcir.parts"] = ArrayAttr([StringAttr(f.sym_name.data) for f in self.part_functions])
        return main
