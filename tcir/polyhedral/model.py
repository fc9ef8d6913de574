"""The polyhedral model of a ``tc.def``: domains, accesses, original schedule, dependences.

``extract(def_op)`` reads a ``tc.def`` (see ``dialects/tc.py``) and builds, with islpy:

- one isl statement per ``tc.stmt``, named ``S_<k>`` (``k``: position of the statement
  in the def), with domain ``[sizes] -> { S_k[iters] : lo <= it < hi }`` (the bounds are
  the statement's half-open ``SizeExpr`` ranges, written as isl quasi-affine
  expressions: ``floordiv``/``ceildiv``/``mod`` by constants become ``floor``/``ceil``/
  ``mod``, ``min``/``max`` stay);
- for a statement with ``!`` (``init``), an *init statement* ``S_<k>_init`` placed just
  before it, over the box of the non-reduction iterators (the LHS box), writing the
  target (it sets it to the reduction identity) and reading nothing;
- access relations: the write ``S_k[iters] -> T[write_map(iters)]``; for reductions
  (``kind`` other than ``=``) the same relation is also a read (``T op= e`` reads ``T``);
  every ``tc.read`` in the body (nested ``scf.if`` regions included; only a may-read
  then) is a read, the target included (``O1(b, n) = O1(b, n) + B1(n)``);
- indirect subscripts (an index operand that is neither an iterator nor a ``tc.size``
  result, e.g. ``LUT(I(b, r), d)``): every subscript that uses such a value is
  over-approximated by the whole extent of that tensor dimension, ``0 <= x < dim``; the
  read relation is then a may-access (never used to kill anything). A scatter-add's
  write at indices its body computes is over-approximated the same way
  (``exact_writes`` false); as it also reads what it may write, treating it as a
  must-write kills no flow that does not pass through it;
- the original schedule: statement order (init statements first), then lexicographic
  iterator order: ``S[i0..in] -> [p, i0, ..., in, 0...]`` padded to a common depth.

Size expressions that are not quasi-affine in the sizes (``M * N``, ``H floordiv S``)
become extra parameters ``_nl<i>`` (``Model.nonaffine`` maps them to their expression);
``specialize`` evaluates them along with the sizes. The context says every parameter is
``>= 0``.

``dependences(model)`` computes, with ``UnionAccessInfo.compute_flow`` against the
original schedule:

- ``flow`` (read after write), value-based: the writes are must-sources, so an
  intervening write kills older ones;
- ``anti`` (write after read) and ``output`` (write after write), memory-based: all
  earlier accesses to the same element, nothing killed. Value-based flow with
  memory-based false dependences is the usual safe set of validity constraints
  (PPCG's default);
- ``reduction``: the subset of all three that relates two instances of the same
  reduction statement through the element it updates (the dependences a parallel
  reduction would break); never those of a scatter-add, whose updates stay in order.

``specialize(model, sizes)`` is TC's ``fixParametersBeforeScheduling``: it fixes the
given parameters to their values in every domain, access and the context (they stay
parameters, fixed by equalities, so the same code paths apply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import islpy as isl
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import BlockArgument, SSAValue
from xdsl.ir.affine import (
    AffineBinaryOpExpr,
    AffineBinaryOpKind,
    AffineConstantExpr,
    AffineDimExpr,
    AffineExpr,
    AffineMap,
)

from tcir.dialects.tc import DefOp, ReadOp, SizeOp, StmtOp, TensorType, tc_name
from tcir.errors import Location, TcError
from tcir.frontend import check_source
from tcir.irgen import build_module
from tcir.sizeexpr import BinOp, Const, SizeExpr, Sym

__all__ = [
    "Dependences",
    "Model",
    "Statement",
    "box_volume",
    "dependences",
    "extract",
    "extract_module",
    "model_from_source",
    "specialize",
    "tensor_tuple_name",
]


@dataclass(frozen=True)
class Statement:
    """One isl statement: a ``tc.stmt`` or the init statement of a ``!`` reduction."""

    name: str  # isl tuple name: S_<k> or S_<k>_init
    index: int  # k: position of the tc.stmt in the def
    position: int  # position in the original statement order (init statements included)
    is_init: bool
    kind: str  # "=", "+", "*", "min", "max" (for an init statement: the kind it initializes)
    target: str  # written tensor
    iterators: tuple[str, ...]  # isl dimension names
    domain: isl.Set
    writes: isl.UnionMap
    reads: isl.UnionMap
    exact_reads: bool  # False if some read is over-approximated (indirect or conditional)
    exact_writes: bool = True  # False for a scatter-add (its write is over-approximated)

    @property
    def is_reduction(self) -> bool:
        """An update ``T op= e`` (not the init statement, not a plain ``=``)."""
        return not self.is_init and self.kind != "="


@dataclass(frozen=True)
class Model:
    """The polyhedral model of one ``tc.def``."""

    name: str
    params: tuple[str, ...]  # sizes, then the non-affine parameters
    nonaffine: Mapping[str, SizeExpr]
    statements: tuple[Statement, ...]
    context: isl.Set  # constraints on the parameters
    schedule: isl.UnionMap  # the original schedule
    sizes: Mapping[str, int] = field(default_factory=dict)  # values fixed by specialize

    @property
    def domain(self) -> isl.UnionSet:
        return _union_set([s.domain for s in self.statements], self.context)

    @property
    def writes(self) -> isl.UnionMap:
        return _union_map([s.writes for s in self.statements], self.context)

    @property
    def reads(self) -> isl.UnionMap:
        return _union_map([s.reads for s in self.statements], self.context)

    def statement(self, name: str) -> Statement:
        for s in self.statements:
            if s.name == name:
                return s
        raise KeyError(name)


@dataclass(frozen=True)
class Dependences:
    flow: isl.UnionMap  # write -> later read of the value (value-based)
    anti: isl.UnionMap  # read -> later write of the element (memory-based)
    output: isl.UnionMap  # write -> later write of the element (memory-based)
    reduction: isl.UnionMap  # the part of the above between updates of one reduction

    @property
    def all(self) -> isl.UnionMap:
        return self.flow.union(self.anti).union(self.output)

    @property
    def non_reduction(self) -> isl.UnionMap:
        return self.all.subtract(self.reduction)


def _union_set(sets: Sequence[isl.Set], context: isl.Set) -> isl.UnionSet:
    out = isl.UnionSet.empty(context.get_space())
    for s in sets:
        out = out.union(isl.UnionSet.from_set(s))
    return out


def _union_map(maps: Sequence[isl.UnionMap], context: isl.Set) -> isl.UnionMap:
    out = isl.UnionMap.empty(context.get_space())
    for m in maps:
        out = out.union(m)
    return out


class _Names:
    """isl text for size expressions; non-affine parts become fresh parameters."""

    def __init__(self, sizes: Sequence[str]):
        self.params: list[str] = list(sizes)
        self.nonaffine: dict[str, SizeExpr] = {}

    def param(self, name: str) -> str:
        if name not in self.params:
            self.params.append(name)
        return name

    def opaque(self, e: SizeExpr) -> str:
        for name, expr in self.nonaffine.items():
            if expr == e:
                return name
        name = f"_nl{len(self.nonaffine)}"
        self.nonaffine[name] = e
        self.params.append(name)
        return name

    def size(self, e: SizeExpr) -> str:
        if isinstance(e, Const):
            return str(e.value)
        if isinstance(e, Sym):
            return self.param(e.name)
        assert isinstance(e, BinOp)
        a, b = e.lhs.as_constant(), e.rhs.as_constant()
        if e.op in ("+", "-"):
            return f"({self.size(e.lhs)} {e.op} {self.size(e.rhs)})"
        if e.op == "*" and (a is not None or b is not None):
            return f"({self.size(e.lhs)} * {self.size(e.rhs)})"
        if e.op in ("floordiv", "ceildiv") and b is not None and b > 0:
            fn = "floor" if e.op == "floordiv" else "ceil"
            return f"{fn}(({self.size(e.lhs)}) / {b})"
        if e.op == "mod" and b is not None and b > 0:
            return f"(({self.size(e.lhs)}) mod {b})"
        if e.op in ("min", "max"):
            return f"{e.op}({self.size(e.lhs)}, {self.size(e.rhs)})"
        return self.opaque(e)


def _affine(e: AffineExpr, dims: Sequence[str | None]) -> str | None:
    """isl text of an affine expression; None if it uses a dimension mapped to None."""
    if isinstance(e, AffineConstantExpr):
        return str(e.value)
    if isinstance(e, AffineDimExpr):
        return dims[e.position]
    if isinstance(e, AffineBinaryOpExpr):
        lhs, rhs = _affine(e.lhs, dims), _affine(e.rhs, dims)
        if lhs is None or rhs is None:
            return None
        k = e.kind
        if k == AffineBinaryOpKind.Add:
            return f"({lhs} + {rhs})"
        if k == AffineBinaryOpKind.Mul:
            return f"({lhs} * {rhs})"
        if k == AffineBinaryOpKind.Mod:
            return f"(({lhs}) mod {rhs})"
        if k == AffineBinaryOpKind.FloorDiv:
            return f"floor(({lhs}) / {rhs})"
        if k == AffineBinaryOpKind.CeilDiv:
            return f"ceil(({lhs}) / {rhs})"
    raise ValueError(f"unsupported affine expression {e}")


def _access(names: _Names, params: str, stmt: str, iters: Sequence[str], tensor: SSAValue,
            map: AffineMap, dims: Sequence[str | None]) -> tuple[str, bool]:
    """``{ stmt[iters] -> T[map(dims)] }``; a subscript using an unknown (None) dimension
    ranges over the whole extent of that tensor dimension. Returns (map, exact)."""
    ty = tensor.type
    assert isinstance(ty, TensorType)
    tname = tensor_tuple_name(tensor)
    outs, conds, exact = [], [], True
    for j, (expr, extent) in enumerate(zip(map.results, ty.dims, strict=True)):
        text = _affine(expr, dims)
        if text is None:
            exact = False
            var = f"_a{j}"
            outs.append(var)
            conds.append(f"0 <= {var} < {names.size(extent)}")
        else:
            outs.append(text)
    cond = (" : " + " and ".join(conds)) if conds else ""
    text = f"{params} -> {{ {stmt}[{', '.join(iters)}] -> {tname}[{', '.join(outs)}]{cond} }}"
    return text, exact


# words of isl's text syntax, which cannot name a tuple or a variable
_ISL_WORDS = frozenset({"and", "or", "not", "exists", "mod", "floor", "ceil", "min", "max",
                        "true", "false", "infty", "NaN", "rat", "implies", "xor", "domain",
                        "cond", "max", "min"})


def tensor_tuple_name(tensor: SSAValue) -> str:
    """The isl tuple name of a def argument: its name (``_arg<n>`` if it has none or it
    is a word of isl's syntax)."""
    assert isinstance(tensor, BlockArgument)
    name = tc_name(tensor)
    if name and name not in _ISL_WORDS:
        return name
    return f"_arg{tensor.index}"


def _under_conditional(op, stmt: StmtOp) -> bool:
    parent = op.parent_op()
    return parent is not stmt


def extract(def_op: DefOp) -> Model:
    """The polyhedral model of a ``tc.def`` (see the module docstring)."""
    names = _Names(def_op.size_names())
    ops = [op for op in def_op.body.block.ops if isinstance(op, StmtOp)]
    tensor_names = {tensor_tuple_name(a) for a in def_op.body.block.args}

    # Collect everything as text first: the parameter list is complete only at the end.
    raw: list[dict] = []
    for k, op in enumerate(ops):
        taken = set(tensor_names) | set(names.params)
        iters = []
        for arg in op.iterators:
            name = tc_name(arg) or f"i{arg.index}"
            if name in taken or name in iters or name.startswith("_") or name in _ISL_WORDS:
                name = f"_i{arg.index}"
            iters.append(name)
        bounds = [(names.size(lo.data), names.size(hi.data))
                  for lo, hi in zip(op.lower_bounds, op.upper_bounds, strict=True)]
        wmap = op.write_map.data
        red = {a.index for a in op.reduction_iterators()}
        target = op.target
        base = f"S_{k}"
        while base in tensor_names:
            base += "_"
        entry = dict(k=k, op=op, iters=iters, bounds=bounds, red=red, target=target,
                     wmap=wmap, name=base, reads=[])
        # reads in the body: index operands are iterators, sizes, or indirect values
        for read in op.body.walk():
            if not isinstance(read, ReadOp):
                continue
            dims: list[str | None] = []
            for v in read.indices:
                if isinstance(v, BlockArgument) and v.owner is op.body.block:
                    dims.append(iters[v.index])
                elif isinstance(v.owner, SizeOp):
                    dims.append(names.param(v.owner.size.data))
                else:
                    dims.append(None)
            entry["reads"].append((read.tensor, read.map.data, dims,
                                   _under_conditional(read, op)))
        raw.append(entry)

    params = "[" + ", ".join(names.params) + "]"
    ctx = isl.Context()
    context = isl.Set.read_from_str(
        ctx, f"{params} -> {{ : " + " and ".join(f"{p} >= 0" for p in names.params) + " }"
        if names.params else "{ : }")

    statements: list[Statement] = []
    position = 0
    for e in raw:
        op, iters, k = e["op"], e["iters"], e["k"]
        kind = op.kind.data
        tname = tensor_tuple_name(e["target"])
        if op.is_init:
            keep = [i for i in range(len(iters)) if i not in e["red"]]
            init_iters = [iters[i] for i in keep]
            dims = [iters[i] if i not in e["red"] else None for i in range(len(iters))]
            name = e["name"] + "_init"
            dom = _domain(ctx, params, name, init_iters, [e["bounds"][i] for i in keep], context)
            wtext, _ = _access(names, params, name, init_iters, e["target"], e["wmap"], dims)
            statements.append(Statement(
                name=name, index=k, position=position, is_init=True, kind=kind, target=tname,
                iterators=tuple(init_iters), domain=dom,
                writes=_restrict(ctx, wtext, dom), reads=isl.UnionMap.empty(context.get_space()),
                exact_reads=True))
            position += 1
        name = e["name"]
        dom = _domain(ctx, params, name, iters, e["bounds"], context)
        computed = [None] * (e["wmap"].num_dims - len(iters))  # a scatter-add's indices
        wtext, exact_write = _access(names, params, name, iters, e["target"], e["wmap"], iters + computed)
        writes = _restrict(ctx, wtext, dom)
        reads = isl.UnionMap.empty(context.get_space())
        exact = True
        if kind != "=":
            reads = reads.union(writes)
        for tensor, rmap, dims, conditional in e["reads"]:
            rtext, ok = _access(names, params, name, iters, tensor, rmap, dims)
            exact = exact and ok and not conditional
            reads = reads.union(_restrict(ctx, rtext, dom))
        statements.append(Statement(
            name=name, index=k, position=position, is_init=False, kind=kind, target=tname,
            iterators=tuple(iters), domain=dom, writes=writes, reads=reads, exact_reads=exact,
            exact_writes=exact_write))
        position += 1

    schedule = _original_schedule(statements, context)
    return Model(name=def_op.sym_name.data, params=tuple(names.params),
                 nonaffine=dict(names.nonaffine), statements=tuple(statements),
                 context=context, schedule=schedule)


def _domain(ctx: isl.Context, params: str, name: str, iters: Sequence[str],
            bounds: Sequence[tuple[str, str]], context: isl.Set) -> isl.Set:
    conds = [f"{lo} <= {it} < {hi}" for it, (lo, hi) in zip(iters, bounds, strict=True)]
    text = f"{params} -> {{ {name}[{', '.join(iters)}]" + (
        " : " + " and ".join(conds) if conds else "") + " }"
    return isl.Set.read_from_str(ctx, text).intersect_params(context)


def _restrict(ctx: isl.Context, text: str, dom: isl.Set) -> isl.UnionMap:
    return isl.UnionMap.from_map(isl.Map.read_from_str(ctx, text).intersect_domain(dom))


def _original_schedule(statements: Sequence[Statement], context: isl.Set) -> isl.UnionMap:
    """Statement order, then lexicographic iterator order, padded to a common depth."""
    depth = max((len(s.iterators) for s in statements), default=0)
    out = isl.UnionMap.empty(context.get_space())
    for s in statements:
        its = list(s.iterators)
        time = [str(s.position)] + its + ["0"] * (depth - len(its))
        text = f"{{ {s.name}[{', '.join(its)}] -> [{', '.join(time)}] }}"
        m = isl.Map.read_from_str(context.get_ctx(), text)
        m = m.align_params(context.get_space()).intersect_domain(s.domain)
        out = out.union(isl.UnionMap.from_map(m))
    return out


def extract_module(module: ModuleOp) -> dict[str, Model]:
    """A model per ``tc.def`` of a module, by def name."""
    return {op.sym_name.data: extract(op) for op in module.ops if isinstance(op, DefOp)}


def model_from_source(source: str, entry: str | None = None) -> Model:
    """The model of def ``entry`` (default: the only/first def) of TC source text."""
    program = check_source(source)
    if entry is not None and entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines "
                      + ", ".join(f"`{n}`" for n in program.defs), Location("<string>", 1, 1))
    module = build_module(program, [entry] if entry else list(program.defs))
    module.verify()
    models = extract_module(module)
    return models[entry] if entry else next(iter(models.values()))


def box_volume(domain: isl.Set) -> int:
    """The number of points in the bounding box of a parameter-free set; 0 if it is
    unbounded (counting points exactly can take isl seconds)."""
    volume = 1
    for i in range(domain.dim(isl.dim_type.set)):
        low, high = domain.dim_min_val(i), domain.dim_max_val(i)
        if not (low.is_int() and high.is_int()):
            return 0
        volume *= max(0, high.to_python() - low.to_python() + 1)
    return volume


def dependences(model: Model) -> Dependences:
    """Flow (value-based), anti and output (memory-based) dependences, and the part of
    them that only chains updates of one reduction (see the module docstring)."""
    reads, writes, sched = model.reads, model.writes, model.schedule

    flow = (isl.UnionAccessInfo.from_sink(reads).set_must_source(writes)
            .set_schedule_map(sched).compute_flow().get_may_dependence())
    anti = (isl.UnionAccessInfo.from_sink(writes).set_may_source(reads)
            .set_schedule_map(sched).compute_flow().get_may_dependence())
    output = (isl.UnionAccessInfo.from_sink(writes).set_may_source(writes)
              .set_schedule_map(sched).compute_flow().get_may_dependence())

    same = isl.UnionMap.empty(model.context.get_space())
    for s in model.statements:
        # Two updates of a scatter-add may hit the same element only through the data:
        # they stay ordered (no tree or parallel reduction over them).
        if s.is_reduction and s.exact_writes:
            same = same.union(s.writes.apply_range(s.writes.reverse()))
    all_deps = flow.union(anti).union(output)
    return Dependences(flow=flow.coalesce(), anti=anti.coalesce(), output=output.coalesce(),
                       reduction=all_deps.intersect(same).coalesce())


def specialize(model: Model, sizes: Mapping[str, int]) -> Model:
    """Fix the given sizes (TC's fixParametersBeforeScheduling); non-affine parameters
    whose sizes are all given are fixed too. Unknown names are ignored."""
    values = {p: int(v) for p, v in sizes.items() if p in model.params}
    for name, expr in model.nonaffine.items():
        if expr.symbols() <= set(values) | set(model.sizes):
            values[name] = expr.evaluate({**model.sizes, **values})
    ctx = model.context.get_ctx()
    fixed = isl.Set.read_from_str(
        ctx, "[" + ", ".join(model.params) + "] -> { : "
        + " and ".join(f"{p} = {v}" for p, v in values.items()) + " }"
        if values else "{ : }")
    context = model.context.intersect_params(fixed.align_params(model.context.get_space()))

    def fix_map(m: isl.UnionMap) -> isl.UnionMap:
        return m.intersect_params(context)

    statements = tuple(
        replace(s, domain=s.domain.intersect_params(context), writes=fix_map(s.writes),
                reads=fix_map(s.reads))
        for s in model.statements)
    return replace(model, statements=statements, context=context,
                   schedule=fix_map(model.schedule),
                   sizes={**model.sizes, **{p: v for p, v in values.items()}})
