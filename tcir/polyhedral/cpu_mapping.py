"""CPU mapping decisions on a schedule tree: which loop is innermost, which loops are
unrolled, which outer loops run in parallel.

Each function takes an ``isl.Schedule`` and returns a new one; none changes the order of
dependent statement instances, so a valid schedule stays valid:

``sink_contiguous_members(schedule, model)``
    In the innermost band of every path, if it is permutable (any member order is then
    valid), move the member that walks memory contiguously for the most accesses to the
    innermost position, so the innermost loop is the one LLVM vectorizes. A member that
    is also coincident (no dependence carried: no reduction) wins ties. Member scores:
    +2 per access whose last subscript is ``+-iterator`` (and whose other subscripts do
    not use it), -1 per access with it in another subscript, each times the number of
    elements the access touches (its bounding box), and +1 if coincident.
``register_tile(schedule, rows, columns)``
    In the innermost band of every path, if it is permutable and carries a reduction
    (a member that is not coincident) while its innermost member is coincident (the
    vector loop), tile it again: ``rows`` of the last other coincident member by
    ``columns`` of the innermost one. The tile loops are ordered coincident members
    first, reductions innermost, so a ``rows`` x ``columns`` block of the result stays
    in registers across the reduction; the ``rows`` point loop is unrolled and the
    ``columns`` one is left for LLVM to vectorize. The first iteration of the reduction
    loops is generated separately, so a fused initialization (``!`` or ``+=!``) leaves
    no guard in the hot loop. Matmul i, k, j tiled 64, 256, 256 becomes
    ``i/64, k/256, j/256, i/4, j/64, k, i (4 copies), j``.
``register_tile_dots(schedule, model, deps, rows, columns, min_trips)``
    The other kind of contraction: the innermost loop is a reduction that walks memory
    contiguously (``+=`` over ``r`` of ``A(i, r) * B(j, r)``, a dot product per result,
    vectorized along ``r`` with partial sums in the vector lanes). First, an innermost
    permutable band ``outer..., reductions...`` is split, and the reduction band is
    sunk below the sequence of statements under it (so a fused initialization runs
    before the reduction loop, not in its first iteration). Then the nearest band
    above such a reduction band is tiled ``rows`` by ``columns`` at its last two
    coincident members (``rows`` if it has one) and its point band is sunk to the
    leaves, below the reduction loop, and unrolled: ``rows x columns`` sums stay in
    vector registers across the reduction and each loaded vector of ``A`` or ``B``
    is used ``columns`` or ``rows`` times. Each step is kept only if the schedule
    still respects ``deps``. fcrelu's ``b, n`` over ``r_m`` becomes ``b/4, n/4``: 16
    inits, a loop over ``r_m`` of 16 instances, 16 bias and 16 relu instances;
    softmax's rows are tiled by 4 over the max and the sum loops.
``dot_reduction_members(model, min_trips)``
    For ``tile_outer_bands(..., untiled=)``: the innermost member of a band when it is
    such a dot-product reduction, which is left untiled (a tile would cut the vector
    loop short and add up the lanes once per tile).
``mark_unroll(schedule, factor)``
    TC's ``unroll``: in the innermost band of every path, mark members, innermost first,
    for full unrolling by the isl AST generator while the product of their trip counts
    (per iteration of the enclosing loops) stays within ``factor``, and that product
    times the band's statements within ``MAX_UNROLLED_INSTANCES``, whatever ``factor``.
``mark_parallel(schedule)``
    Put a ``parallel`` mark above the outermost band of every path whose first loop is
    coincident (no dependence is carried by that loop): the code generator turns the
    loop below such a mark into a function the CPU runtime runs on chunks of its range
    in several threads. The first loop is the first member with more than one value
    (``first_loop``): a member with a single value (one tile as large as the extent)
    is no loop in the isl AST, and the ``for`` right below the mark is then a later
    member's, or the next band's. The code generator checks again that the ``for`` it
    finds below a mark carries no dependence (``codegen.build_cpu_ast``).

Before (matmul, members i, j, k) -> after ``sink_contiguous_members``: i, k, j (``C``
and ``B`` are contiguous in ``j``, ``A`` is invariant).
"""

from __future__ import annotations

from collections.abc import Callable

import islpy as isl

from .model import Model, box_volume
from .schedule import band_coefficients, band_trip_count, map_bands, permute_band, respects, tile_band

PARALLEL = "parallel"

__all__ = [
    "MAX_UNROLLED_INSTANCES", "PARALLEL", "contiguity_scores", "dot_reduction_members", "first_loop",
    "mark_parallel", "mark_unroll", "register_tile", "register_tile_dots", "sink_contiguous_members",
]


# --- the innermost loop ----------------------------------------------------------------

def _iterator_of(pieces: list[list[int]]) -> int | None:
    """The iterator position a member is for a statement (``+iterator``, maybe plus a
    constant), from its pieces' iterator coefficients; None if skewed, constant, or
    piecewise."""
    if len(pieces) != 1:
        return None
    nonzero = [k for k, c in enumerate(pieces[0]) if c]
    return nonzero[0] if len(nonzero) == 1 and pieces[0][nonzero[0]] == 1 else None


def _access_score(access: isl.Map, k: int) -> int:
    """+2 if the access is contiguous in iterator k, -1 if strided by it, else 0."""
    if not access.is_single_valued() or access.dim(isl.dim_type.out) == 0:
        return 0
    pieces: list[isl.MultiAff] = []
    isl.PwMultiAff.from_map(access).foreach_piece(lambda _dom, maff: pieces.append(maff))
    if len(pieces) != 1:
        return 0
    maff = pieces[0]
    n = maff.dim(isl.dim_type.out)
    uses = [maff.get_at(d).get_coefficient_val(isl.dim_type.in_, k).to_python() for d in range(n)]
    if abs(uses[-1]) == 1 and not any(uses[:-1]):
        return 2
    return -1 if any(uses[:-1]) else 0


def contiguity_scores(node: isl.ScheduleNode, model: Model) -> list[int]:
    """Per member of a band, how well it walks memory contiguously (the member scores
    of ``sink_contiguous_members`` in the module docstring): higher is better."""
    scores = []
    for i, per_stmt in enumerate(band_coefficients(node)):
        score = 1 if node.band_member_get_coincident(i) else 0
        for name, pieces in per_stmt.items():
            k = _iterator_of(pieces)
            if k is None:
                continue
            stmt = model.statement(name)
            accesses: list[isl.Map] = []
            stmt.writes.union(stmt.reads).foreach_map(accesses.append)
            # an access counts as much as the elements it touches: walking a big
            # tensor contiguously matters more than a small one
            score += sum(_access_score(a, k) * max(1, box_volume(a.intersect_domain(stmt.domain).range()))
                         for a in accesses)
        scores.append(score)
    return scores


def sink_contiguous_members(schedule: isl.Schedule, model: Model) -> isl.Schedule:
    """See the module docstring."""

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        n = node.band_n_member()
        if n < 2 or not node.band_get_permutable():
            return node
        scores = contiguity_scores(node, model)
        best = max(range(n), key=lambda i: (scores[i], i))  # ties: keep the later member
        if best == n - 1:
            return node
        return permute_band(node, [i for i in range(n) if i != best] + [best])

    return map_bands(schedule, True, rewrite)


# --- unrolling -------------------------------------------------------------------------

# The most statement instances an unrolled nest emits. Each copy is lowered and compiled
# on its own (about 20 ms each through xDSL on a loaded 2-core VM), so `unroll(10**9)`
# of a 32^3 elementwise def would never finish. 512 keeps today's presets (pointwise:
# 128) and the tuner's choices (up to 32) as they are for nests of up to 4 (16)
# statements.
MAX_UNROLLED_INSTANCES = 512


def mark_unroll(schedule: isl.Schedule, factor: int) -> isl.Schedule:
    """See the module docstring."""
    if factor <= 1:
        return schedule

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        statements = node.get_domain().n_set()
        if not statements:  # no instance (an empty range at these sizes): nothing to unroll
            return node
        budget = min(factor, MAX_UNROLLED_INSTANCES // statements)
        for i in reversed(range(node.band_n_member())):
            trips = band_trip_count(node, i)
            if trips is None or trips > budget or trips == 0:
                break
            node = node.band_member_set_ast_loop_type(i, isl.ast_loop_type.unroll)
            budget //= max(trips, 1)
        return node

    return map_bands(schedule, True, rewrite)


# --- parallel loops ----------------------------------------------------------------------

def first_loop(node: isl.ScheduleNode) -> tuple[isl.ScheduleNode, int] | None:
    """The band and member of the first loop the isl AST generator emits for the
    subtree of band ``node``. A member that takes at most one value (for each value of
    the enclosing loops) becomes no ``for`` (isl substitutes its value), so the first
    loop is the first member with more values, in ``node`` or, if all its members take
    one value, in the band right below it (and so on). None if there is no such member
    above a sequence, a set or a leaf."""
    while node.get_type() == isl.schedule_node_type.band:
        for i in range(node.band_n_member()):
            trips = band_trip_count(node, i)
            if trips is None or trips > 1:
                return node, i
        node = node.child(0)
    return None


def mark_parallel(schedule: isl.Schedule) -> isl.Schedule:
    """See the module docstring."""

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        # the loop right below the mark is the first member with more than one value,
        # not necessarily member 0: matmul tiled 256 x 4 x 128 at M = 64 has one row
        # tile, and its first loop is the reduction's tile loop (found by the
        # autotuner: chunks of that loop raced on C)
        found = first_loop(node)
        if found is not None and found[0].band_member_get_coincident(found[1]):
            return node.insert_mark(isl.Id(PARALLEL, context=node.get_ctx()))
        return node

    return map_bands(schedule, False, rewrite)


# --- register tiling ----------------------------------------------------------------------

def register_tile(schedule: isl.Schedule, rows: int, columns: int) -> isl.Schedule:
    """See the module docstring."""

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        n = node.band_n_member()
        coincident = [bool(node.band_member_get_coincident(i)) for i in range(n)]
        if n < 2 or not node.band_get_permutable() or all(coincident) or not coincident[-1]:
            return node
        row = max((i for i in range(n - 1) if coincident[i]), default=None)
        if row is None:
            return node
        sizes = [1] * n
        sizes[row], sizes[-1] = rows, columns
        node = tile_band(node, sizes)
        # the reductions innermost among the tile loops, their first iteration (where a
        # fused initialization runs) peeled off so the rest has no guard
        reductions = [i for i in range(n) if not coincident[i]]
        node = permute_band(node, [i for i in range(n) if coincident[i]] + reductions)
        for j in range(n - len(reductions), n):
            node = node.band_member_set_ast_loop_type(j, isl.ast_loop_type.separate)
        point = node.child(0).band_member_set_ast_loop_type(row, isl.ast_loop_type.unroll)
        return point.parent()

    return map_bands(schedule, True, rewrite)


# --- register tiling of dot products --------------------------------------------------

def _bands_below(node: isl.ScheduleNode) -> list[isl.ScheduleNode]:
    """The first band on every path below ``node`` (through filters, sequences, marks)."""
    found: list[isl.ScheduleNode] = []
    for i in range(node.n_children()):
        child = node.child(i)
        if child.get_type() == isl.schedule_node_type.band:
            found.append(child)
        else:
            found.extend(_bands_below(child))
    return found


def _has_dot_tail(node: isl.ScheduleNode, model: Model, min_trips: int) -> bool:
    """The innermost member of an innermost band is a reduction that walks memory
    contiguously for at least ``min_trips`` iterations: a loop LLVM vectorizes as a
    dot product (partial sums in vector lanes, added up after the loop)."""
    n = node.band_n_member()
    if node.band_member_get_coincident(n - 1) or _bands_below(node):
        return False
    if contiguity_scores(node, model)[-1] <= 1:
        return False
    trips = band_trip_count(node, n - 1)
    return trips is not None and trips >= min_trips


def _is_dot_reduction(node: isl.ScheduleNode, model: Model, min_trips: int) -> bool:
    """An innermost band of reduction members only, with a dot-product tail."""
    n = node.band_n_member()
    return not any(node.band_member_get_coincident(i) for i in range(n)) and _has_dot_tail(node, model, min_trips)


def dot_reduction_members(model: Model, min_trips: int) -> Callable[[isl.ScheduleNode], list[int]]:
    """For ``tile_outer_bands(..., untiled=)``: the innermost member of a band when it is
    a dot-product reduction. Tiling it would cut the vector loop short and add up the
    vector lanes once per tile instead of once per result."""

    def members(node: isl.ScheduleNode) -> list[int]:
        return [node.band_n_member() - 1] if _has_dot_tail(node, model, min_trips) else []

    return members


def _split_reduction_tail(node: isl.ScheduleNode, model: Model, min_trips: int) -> isl.ScheduleNode:
    """A permutable innermost band ``outer..., reductions...`` whose innermost member is
    a dot reduction becomes ``outer...`` over the reductions' band, which is sunk below
    the sequence of statements under it (so a fused initialization runs before the
    reduction loop instead of in its first iteration)."""
    n = node.band_n_member()
    coincident = [bool(node.band_member_get_coincident(i)) for i in range(n)]
    if n < 2 or not node.band_get_permutable() or coincident[-1] or not any(coincident):
        return node
    tail = max(i for i in range(n) if coincident[i]) + 1
    if not _is_dot_reduction(node.band_split(tail).child(0), model, min_trips):
        return node
    reduction = node.band_split(tail).child(0)
    below = reduction.child(0)
    # sink only through a sequence of statement filters: a set's children are unordered
    if below.get_type() == isl.schedule_node_type.sequence and all(
            below.child(i).child(0).get_type() == isl.schedule_node_type.leaf for i in range(below.n_children())):
        reduction = reduction.band_sink()
    return reduction.parent()


def register_tile_dots(schedule: isl.Schedule, model: Model, deps: isl.UnionMap,
                       rows: int, columns: int, min_trips: int) -> isl.Schedule:
    """See the module docstring."""
    domain = schedule.get_domain()
    deps = deps.intersect_domain(domain).intersect_range(domain)

    def valid(candidate: isl.ScheduleNode) -> bool:
        return respects(deps, candidate.get_schedule().get_map())

    def split(node: isl.ScheduleNode) -> isl.ScheduleNode:
        new = _split_reduction_tail(node, model, min_trips)
        return new if new is node or valid(new) else node

    def tile(node: isl.ScheduleNode) -> isl.ScheduleNode:
        n = node.band_n_member()
        coincident = [i for i in range(n) if node.band_member_get_coincident(i)]
        if not coincident or not (node.band_get_permutable() or n == 1):
            return node
        if not any(_is_dot_reduction(b, model, min_trips) for b in _bands_below(node)):
            return node
        sizes = [1] * n
        if len(coincident) == 1:
            sizes[coincident[0]] = rows
        else:
            sizes[coincident[-2]], sizes[coincident[-1]] = rows, columns
        tiles = tile_band(node, sizes)
        point = tiles.child(0)
        for i in range(n):
            point = point.band_member_set_ast_loop_type(i, isl.ast_loop_type.unroll)
        new = point.band_sink().parent()
        return new if valid(new) else node

    def visit(node: isl.ScheduleNode, rewrite) -> isl.ScheduleNode:
        if node.get_type() == isl.schedule_node_type.band:
            new = rewrite(node)
            if new is not node:
                return new
        for i in range(node.n_children()):
            node = visit(node.child(i), rewrite).parent()
        return node

    # split first, so the tiling sees the reduction bands
    root = visit(schedule.get_root(), lambda n: n if _bands_below(n) else split(n))
    return visit(root, lambda n: tile(n) if _bands_below(n) else n).get_schedule()
