"""From an isl AST to scf loops (the walk design.md asks for instead of computing
bounds by hand).

``AstToScf(builder, values, on_user).emit(node)`` inserts, at ``builder``'s insertion
point, the code of an ``isl.AstNode``:

====================  ====================================================================
isl AST               emitted
====================  ====================================================================
``for``               ``scf.for %c = init to bound step inc`` (``c <= e`` gives bound
                      ``e + 1``, ``c < e`` gives ``e``); the iterator is bound to ``%c``
``if``                ``scf.if`` (with an else region when the AST has one)
``block``             its children in order
``mark``              its child (marks are read by ``parts``)
``user`` ``S(e...)``  ``on_user(builder, "S", [values of e...])``
====================  ====================================================================

Expressions become ``index`` arithmetic: ``add``/``sub``/``mul``/``minus``, ``min``/``max``
(``arith.minsi``/``maxsi``), ``fdiv_q`` (``floordivsi``), ``pdiv_q``/``div`` (``divsi``: the
dividend is non-negative or the division exact), ``pdiv_r``/``zdiv_r`` (``remsi``),
comparisons (``cmpi``), ``and``/``or`` (``andi``/``ori``: both sides are pure and cheap)
and ``select``/``cond``. Identifiers are looked up in ``values`` (loop iterators, and
whatever the caller puts there: size parameters).

``build_cpu_ast(schedule, context, deps)`` builds the isl AST of a CPU schedule and
checks its ``parallel`` marks (see ``cpu_mapping``): the ``for`` right below such a mark
is annotated ``parallel`` only if no dependence of ``deps`` between the instances it runs
is carried by it (instances of different iterations must be independent: the runtime
runs chunks of that loop on several threads at once). The mark says which band should
be parallel; the check makes sure the loop isl generated there is that band's
parallel member and not, say, a reduction's tile loop when the member above it takes a
single value and became no loop.

``parts(node)`` splits the top level of an AST into the pieces a CPU runtime can run
one after another: a ``for`` annotated ``parallel`` right under a ``parallel`` mark is
a part of its own; consecutive other nodes form sequential parts (an AST built without
the check has no parallel parts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import islpy as isl
from xdsl.builder import Builder, InsertPoint
from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import IndexType, IntegerAttr
from xdsl.ir import Block, Region, SSAValue

from tcir.errors import TcError

from .cpu_mapping import PARALLEL

__all__ = ["AstToScf", "Part", "build_cpu_ast", "for_range", "parts", "statements_in"]

OnUser = Callable[[Builder, str, list[SSAValue]], None]

_T = isl.ast_expr_op_type
_BINARY = {
    _T.add: arith.AddiOp, _T.sub: arith.SubiOp, _T.mul: arith.MuliOp,
    _T.fdiv_q: arith.FloorDivSIOp, _T.pdiv_q: arith.DivSIOp, _T.div: arith.DivSIOp,
    _T.pdiv_r: arith.RemSIOp, _T.zdiv_r: arith.RemSIOp,
    _T.and_: arith.AndIOp, _T.and_then: arith.AndIOp, _T.or_: arith.OrIOp, _T.or_else: arith.OrIOp,
}
_NARY = {_T.min: arith.MinSIOp, _T.max: arith.MaxSIOp}
_COMPARE = {_T.eq: "eq", _T.lt: "slt", _T.le: "sle", _T.gt: "sgt", _T.ge: "sge"}


def _args(e: isl.AstExpr) -> list[isl.AstExpr]:
    return [e.get_op_arg(i) for i in range(e.get_op_n_arg())]


def _children(node: isl.AstNode) -> list[isl.AstNode]:
    children = node.block_get_children()
    return [children.get_at(i) for i in range(children.n_ast_node())]


class AstToScf:
    def __init__(self, builder: Builder, values: dict[str, SSAValue], on_user: OnUser):
        self.builder = builder
        self.values = dict(values)
        self.on_user = on_user

    # Expressions ----------------------------------------------------------------------

    def constant(self, value: int) -> SSAValue:
        return self.builder.insert(arith.ConstantOp(IntegerAttr(value, IndexType()))).result

    def expr(self, e: isl.AstExpr) -> SSAValue:
        kind = e.get_type()
        if kind == isl.ast_expr_type.int:
            return self.constant(e.get_val().to_python())
        if kind == isl.ast_expr_type.id:
            name = e.get_id().get_name()
            if name not in self.values:
                raise TcError(f"isl AST uses `{name}`, which has no value here")
            return self.values[name]
        op = e.get_op_type()
        args = [self.expr(a) for a in _args(e)] if op != _T.call else []
        insert = self.builder.insert
        if op in _BINARY:
            return insert(_BINARY[op](args[0], args[1])).result
        if op in _NARY:
            value = args[0]
            for a in args[1:]:
                value = insert(_NARY[op](value, a)).result
            return value
        if op in _COMPARE:
            return insert(arith.CmpiOp(args[0], args[1], _COMPARE[op])).result
        if op == _T.minus:
            return insert(arith.SubiOp(self.constant(0), args[0])).result
        if op in (_T.select, _T.cond):
            return insert(arith.SelectOp(args[0], args[1], args[2])).result
        raise TcError(f"unsupported isl AST expression `{e.to_C_str()}`")

    # Nodes ----------------------------------------------------------------------------

    def emit(self, node: isl.AstNode) -> None:
        kind = node.get_type()
        if kind == isl.ast_node_type.for_:
            self.for_(node)
        elif kind == isl.ast_node_type.if_:
            self.if_(node)
        elif kind == isl.ast_node_type.block:
            for child in _children(node):
                self.emit(child)
        elif kind == isl.ast_node_type.mark:
            self.emit(node.mark_get_node())
        elif kind == isl.ast_node_type.user:
            call = node.user_get_expr()
            args = _args(call)
            self.on_user(self.builder, args[0].get_id().get_name(), [self.expr(a) for a in args[1:]])
        else:
            raise TcError(f"unsupported isl AST node:\n{node.to_C_str()}")

    def for_(self, node: isl.AstNode, lower: SSAValue | None = None, upper: SSAValue | None = None) -> None:
        """A loop; `lower`/`upper` replace its bounds (a chunk of a parallel loop)."""
        iterator = node.for_get_iterator().get_id().get_name()
        lo = lower if lower is not None else self.expr(node.for_get_init())
        hi = upper if upper is not None else self.upper_bound(node.for_get_cond(), iterator)
        step = self.expr(node.for_get_inc())
        block = Block([scf.YieldOp()], arg_types=[IndexType()])
        block.args[0].name_hint = iterator
        self.builder.insert(scf.ForOp(lo, hi, step, [], Region(block)))
        self.nested(block, node.for_get_body(), {iterator: block.args[0]})

    def upper_bound(self, cond: isl.AstExpr, iterator: str) -> SSAValue:
        """The exclusive bound of `iterator <= e` or `iterator < e`."""
        op = cond.get_op_type() if cond.get_type() == isl.ast_expr_type.op else None
        args = _args(cond) if op is not None else []
        if op not in (_T.le, _T.lt) or args[0].get_type() != isl.ast_expr_type.id \
                or args[0].get_id().get_name() != iterator:
            raise TcError(f"unsupported isl loop condition `{cond.to_C_str()}`")
        bound = self.expr(args[1])
        if op == _T.le:
            bound = self.builder.insert(arith.AddiOp(bound, self.constant(1))).result
        return bound

    def if_(self, node: isl.AstNode) -> None:
        cond = self.expr(node.if_get_cond())
        then_block = Block([scf.YieldOp()])
        else_block = Block([scf.YieldOp()]) if node.if_has_else_node() else None
        self.builder.insert(scf.IfOp(cond, [], Region(then_block),
                                     Region(else_block) if else_block is not None else None))
        self.nested(then_block, node.if_get_then_node(), {})
        if else_block is not None:
            self.nested(else_block, node.if_get_else_node(), {})

    def nested(self, block: Block, node: isl.AstNode, bound: dict[str, SSAValue]) -> None:
        """Emit `node` before `block`'s terminator, with `bound` names in scope."""
        inner = AstToScf(Builder(InsertPoint.before(block.last_op)), {**self.values, **bound}, self.on_user)
        inner.emit(node)


# --- top-level parts -------------------------------------------------------------------

@dataclass
class Part:
    nodes: list[isl.AstNode]
    parallel: isl.AstNode | None = None  # the `for` node run in chunks, if any


def _top_level(node: isl.AstNode) -> list[isl.AstNode]:
    if node.get_type() == isl.ast_node_type.block:
        return [n for child in _children(node) for n in _top_level(child)]
    return [node]


def _parallel_for(node: isl.AstNode) -> isl.AstNode | None:
    if node.get_type() != isl.ast_node_type.mark or node.mark_get_id().get_name() != PARALLEL:
        return None
    inner = node.mark_get_node()
    if inner.get_type() != isl.ast_node_type.for_:
        return None
    try:
        annotation = inner.get_annotation()
    except isl.Error:  # built without build_cpu_ast: not checked
        return None
    return inner if annotation is not None and annotation.get_name() == PARALLEL else None


def carries_no_dependence(schedule: isl.UnionMap, deps: isl.UnionMap) -> bool:
    """The last dimension of ``schedule`` (instances -> the values of the loops around
    a point of the AST, the last one innermost) carries no dependence of ``deps``: two
    dependent instances with the same values of the outer loops have the same value of
    the last one. Dependences with an end outside the schedule's domain do not count."""
    # deltas exist only within one space: a schedule into several spaces (not what isl
    # gives) is not proven parallel
    spaces: list[isl.Set] = []
    schedule.range().foreach_set(spaces.append)
    if len(spaces) > 1:
        return False
    pairs = deps.apply_domain(schedule).apply_range(schedule)
    deltas: list[isl.Set] = []
    pairs.deltas().foreach_set(deltas.append)
    for delta in deltas:
        n = delta.dim(isl.dim_type.set)
        if n == 0:
            return False
        zero = isl.Val.zero(delta.get_ctx())
        same_outer = delta
        for i in range(n - 1):
            same_outer = same_outer.fix_val(isl.dim_type.set, i, zero)
        if not same_outer.is_subset(same_outer.fix_val(isl.dim_type.set, n - 1, zero)):
            return False
    return True


def build_cpu_ast(schedule: isl.Schedule, context: isl.Set, deps: isl.UnionMap) -> isl.AstNode:
    """The isl AST of a CPU schedule, its parallel loops checked (module docstring)."""
    ctx = context.get_ctx()
    state: dict[str, object] = {"below_mark": False, "error": None}

    def before_mark(mark: isl.Id, build: isl.AstBuild) -> None:
        state["below_mark"] = mark.get_name() == PARALLEL

    def before_for(build: isl.AstBuild) -> isl.Id:
        below_mark, state["below_mark"] = state["below_mark"], False
        parallel = False
        if below_mark and state["error"] is None:
            try:
                parallel = carries_no_dependence(build.get_schedule(), deps)
            except Exception as err:  # an exception cannot cross isl: raised below
                state["error"] = err
        return isl.Id(PARALLEL if parallel else "for", context=ctx)

    build = isl.AstBuild.from_context(context)
    build, mark_handle = build.set_before_each_mark(before_mark)
    build, for_handle = build.set_before_each_for(before_for)
    node = build.node_from_schedule(schedule)
    del mark_handle, for_handle
    if state["error"] is not None:
        raise state["error"]
    return node


def parts(node: isl.AstNode) -> list[Part]:
    """See the module docstring."""
    out: list[Part] = []
    for top in _top_level(node):
        loop = _parallel_for(top)
        if loop is not None:
            out.append(Part([loop], loop))
        elif out and out[-1].parallel is None:
            out[-1].nodes.append(top)
        else:
            out.append(Part([top]))
    return out


def for_range(node: isl.AstNode) -> tuple[int, int, int] | None:
    """(first, bound, step) of a `for` whose bounds are constants, else None."""
    init, cond, inc = node.for_get_init(), node.for_get_cond(), node.for_get_inc()
    bound_expr = cond.get_op_arg(1)
    if any(e.get_type() != isl.ast_expr_type.int for e in (init, bound_expr, inc)):
        return None
    bound = bound_expr.get_val().to_python() + (1 if cond.get_op_type() == _T.le else 0)
    return init.get_val().to_python(), bound, inc.get_val().to_python()


def statements_in(node: isl.AstNode) -> set[str]:
    """The names of the statements a subtree executes instances of."""
    names: set[str] = set()

    def visit(n: isl.AstNode) -> bool:
        if n.get_type() == isl.ast_node_type.user:
            names.add(n.user_get_expr().get_op_arg(0).get_id().get_name())
        return True

    node.foreach_descendant_top_down(visit)
    return names
