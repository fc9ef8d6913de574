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
``mark_unroll(schedule, factor)``
    TC's ``unroll``: in the innermost band of every path, mark members, innermost first,
    for full unrolling by the isl AST generator while the product of their trip counts
    (per iteration of the enclosing loops) stays within ``factor``.
``mark_parallel(schedule)``
    Put a ``parallel`` mark above the outermost band of every path whose first member is
    coincident (no dependence is carried by that loop): the code generator turns the
    loop below such a mark into a function the CPU runtime runs on chunks of its range
    in several threads.

Before (matmul, members i, j, k) -> after ``sink_contiguous_members``: i, k, j (``C``
and ``B`` are contiguous in ``j``, ``A`` is invariant).
"""

from __future__ import annotations

import islpy as isl

from .model import Model, box_volume
from .schedule import band_coefficients, map_bands, tile_band

PARALLEL = "parallel"

__all__ = ["PARALLEL", "mark_parallel", "mark_unroll", "register_tile", "sink_contiguous_members"]


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


def _member_scores(node: isl.ScheduleNode, model: Model) -> list[int]:
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


def _permute(node: isl.ScheduleNode, order: list[int]) -> isl.ScheduleNode:
    ctx = node.get_ctx()
    mupa = node.band_get_partial_schedule()
    coincident = [node.band_member_get_coincident(i) for i in order]
    upas = isl.UnionPwAffList.alloc(ctx, len(order))
    for i in order:
        upas = upas.add(mupa.get_at(i))
    node = node.delete().insert_partial_schedule(
        isl.MultiUnionPwAff.from_union_pw_aff_list(mupa.get_space(), upas))
    node = node.band_set_permutable(1)
    for j, c in enumerate(coincident):
        node = node.band_member_set_coincident(j, c)
    return node


def sink_contiguous_members(schedule: isl.Schedule, model: Model) -> isl.Schedule:
    """See the module docstring."""

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        n = node.band_n_member()
        if n < 2 or not node.band_get_permutable():
            return node
        scores = _member_scores(node, model)
        best = max(range(n), key=lambda i: (scores[i], i))  # ties: keep the later member
        if best == n - 1:
            return node
        return _permute(node, [i for i in range(n) if i != best] + [best])

    return map_bands(schedule, True, rewrite)


# --- unrolling -------------------------------------------------------------------------

def _trip_count(node: isl.ScheduleNode, member: int) -> int | None:
    """The most iterations of member ``member`` for one value of the enclosing loops
    (outer bands and earlier members); None if that is not a constant."""
    mupa = node.band_get_partial_schedule()
    domain = node.get_domain()
    value = isl.UnionMap.from_union_pw_aff(mupa.get_at(member)).intersect_domain(domain)
    key = node.get_prefix_schedule_union_map()
    if member:
        earlier = mupa.drop_dims(isl.dim_type.set, member, node.band_n_member() - member)
        key = key.flat_range_product(isl.UnionMap.from_multi_union_pw_aff(earlier).intersect_domain(domain))
    # member values that occur under one value of the enclosing loops, pairwise
    pairs = value.reverse().apply_range(key).apply_range(key.reverse()).apply_range(value)
    sets: list[isl.Set] = []
    pairs.deltas().foreach_set(sets.append)
    most = 0
    for s in sets:
        top = s.dim_max_val(0)
        if not top.is_int():
            return None
        most = max(most, top.to_python() + 1)
    return most


def mark_unroll(schedule: isl.Schedule, factor: int) -> isl.Schedule:
    """See the module docstring."""
    if factor <= 1:
        return schedule

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        budget = factor
        for i in reversed(range(node.band_n_member())):
            trips = _trip_count(node, i)
            if trips is None or trips > budget or trips == 0:
                break
            node = node.band_member_set_ast_loop_type(i, isl.ast_loop_type.unroll)
            budget //= max(trips, 1)
        return node

    return map_bands(schedule, True, rewrite)


# --- parallel loops ----------------------------------------------------------------------

def mark_parallel(schedule: isl.Schedule) -> isl.Schedule:
    """See the module docstring."""

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        if node.band_member_get_coincident(0):
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
        node = _permute(node, [i for i in range(n) if coincident[i]] + reductions)
        for j in range(n - len(reductions), n):
            node = node.band_member_set_ast_loop_type(j, isl.ast_loop_type.separate)
        point = node.child(0).band_member_set_ast_loop_type(row, isl.ast_loop_type.unroll)
        return point.parent()

    return map_bands(schedule, True, rewrite)
