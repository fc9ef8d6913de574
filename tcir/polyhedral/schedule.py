"""Scheduling a polyhedral model with the isl scheduler, TC-style.

``compute_schedule(model, options)`` returns a ``Scheduled``: the isl schedule tree,
its flat schedule map, the dependences it was computed from, and the isl AST
(``AstBuild.node_from_schedule``) that code generation walks.

Constraints given to ``ScheduleConstraints.compute_schedule``:

- validity: all dependences (value-based flow, memory-based anti and output; see
  ``model.dependences``). Every schedule therefore respects every dependence; the
  tests check this for every strategy and tile size (``respects``).
- proximity: all dependences (keep producers and consumers, and reuse, close).
- coincidence: all dependences by default, so a band member marked coincident is
  truly parallel (no dependence carried) and the parallel-marking step can trust the
  flag. With ``parallel_reductions=True`` the self-dependences of reductions
  (``Dependences.reduction``) are left out, so that reduction dimensions can be marked
  coincident too; that is only correct for a code generator that emits those
  dimensions as reductions (atomics, or a tree reduction), hence off by default.

Fusion strategies (TC's ``FusionStrategy``). TC drove them with an isl merge callback
from a forked isl; upstream isl, which islpy wraps, has no such callback, so each
strategy is approximated with the scheduler options that islpy exposes on the context:

============================  ======================================================
``Max``                       ``schedule_whole_component`` (schedule each dependence
                              component as a whole: the largest fusion)
``Preserve3Coincident``       incremental clustering with ``schedule_outer_coincidence``
                              (merge only if the outer member stays coincident) and
                              ``schedule_maximize_coincidence``
``Min``                       ``schedule_serialize_sccs``: every strongly connected
                              component gets its own band (minimal fusion)
============================  ======================================================

``schedule_maximize_band_depth`` is off for all three (it splits fused groups to keep
bands deep). On the canonical examples Max and Preserve3Coincident fuse alike (fcrelu:
one nest; softmax: the two reductions fused, the last statement apart under
Preserve3Coincident, everything under one ``n`` loop under Max); Min never fuses.

Skewing and positive orthant (``allow_skewing``, ``positive_orthant``): upstream isl has
no option that forbids skewed or negative schedule coefficients, so they are checked on
the result: if a band member combines several iterators of a statement (skewing) or has
a negative iterator coefficient (outside the positive orthant) while that is not
allowed, the schedule is replaced by the original one (statement order, then loop order:
always valid; ``Scheduled.fallback`` is then True; each statement's band is marked
permutable / coincident from the distances of its self-dependences, cross-statement
dependences being carried by the sequence). isl does produce such schedules: for
maxpool it coalesces the two reduction loops into ``2 * r_kh + r_kw``.

Tiling (``tile``): the outermost band of every root-to-leaf path is tiled if it is
permutable (or has one member) with sizes given in member order; a size of 0 (and any
member past the end of the list) leaves that member untiled. With all sizes non-zero
this is ``band_tile``; otherwise the band becomes a tile band with
``floor(member / size)`` for the tiled members only, above the original band (the point
band). Both are valid for a permutable band (every uncarried dependence has
non-negative distance in every member, and ``floor(x / s)`` is monotone).

``fix_parameters`` specializes the model first (TC's ``fixParametersBeforeScheduling``).

When isl's scheduler fails on a valid program ("unable to carry dependences": a
statement that reads its own target at permuted indices) or runs past its time budget,
the original schedule is used as well, with a ``TcWarning`` saying so: scheduling never
raises an isl error and never runs unbounded. isl cannot be interrupted, and its count
of operations (``isl_ctx_set_max_operations``) tracks its time too loosely to serve as a
budget (a 40-statement def spends minutes under a count that the canonical examples
need), so a def of more than ``IN_PROCESS_STATEMENTS`` statements is scheduled in a
child process that is killed after ``SCHEDULER_TIME_LIMIT_S`` seconds: the schedule
constraints go to it, and the schedule tree comes back, as isl's own text.
"""

from __future__ import annotations

import enum
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import islpy as isl

from tcir.errors import warn

from .model import Dependences, Model, dependences, specialize

__all__ = [
    "Fusion",
    "ScheduleOptions",
    "Scheduled",
    "all_bands",
    "band_coefficients",
    "band_trip_count",
    "build_ast",
    "map_bands",
    "compute_schedule",
    "original_schedule_tree",
    "permute_band",
    "respects",
    "tile_band",
    "tile_outer_bands",
]


class Fusion(enum.Enum):
    MAX = "Max"
    PRESERVE3_COINCIDENT = "Preserve3Coincident"
    MIN = "Min"


@dataclass(frozen=True)
class ScheduleOptions:
    fusion: Fusion | str = Fusion.PRESERVE3_COINCIDENT
    allow_skewing: bool = False
    positive_orthant: bool = True
    tile: Sequence[int] = ()
    parallel_reductions: bool = False
    fix_parameters: Mapping[str, int] | None = None


@dataclass(frozen=True)
class Scheduled:
    model: Model  # the specialized model when fix_parameters was given
    deps: Dependences
    schedule: isl.Schedule
    fallback: bool = False
    options: ScheduleOptions = field(default_factory=ScheduleOptions)

    @cached_property
    def ast(self) -> isl.AstNode:
        """Built on first use: code generation builds its own from a mapped tree."""
        return build_ast(self.schedule, self.model.context)

    @property
    def schedule_map(self) -> isl.UnionMap:
        return self.schedule.get_map()

    def respects_dependences(self) -> bool:
        return respects(self.deps.all, self.schedule_map)


def _options(fusion: Fusion) -> dict[str, int]:
    """Every scheduler option we rely on, by isl's name (`ctx.set_<name>`)."""
    return {
        "tile_scale_tile_loops": 0,  # tile loops count tiles; point loops keep values
        "tile_shift_point_loops": 0,
        "schedule_maximize_coincidence": 1,
        "schedule_treat_coalescing": 1,
        "schedule_separate_components": 1,
        "schedule_whole_component": 1 if fusion is Fusion.MAX else 0,
        # maximize_band_depth splits fused groups to keep bands deep: it fights fusion
        "schedule_maximize_band_depth": 0,
        "schedule_outer_coincidence": 1 if fusion is Fusion.PRESERVE3_COINCIDENT else 0,
        "schedule_serialize_sccs": 1 if fusion is Fusion.MIN else 0,
    }


def _configure(ctx: isl.Context, fusion: Fusion) -> None:
    """Set every scheduler option we rely on (the context is shared: no leftovers)."""
    for name, value in _options(fusion).items():
        getattr(ctx, f"set_{name}")(value)


def compute_schedule(model: Model, options: ScheduleOptions | None = None,
                     deps: Dependences | None = None) -> Scheduled:
    """Schedule ``model`` (see the module docstring); ``deps`` default to
    ``dependences(model)`` (recomputed after ``fix_parameters``)."""
    options = options or ScheduleOptions()
    fusion = Fusion(options.fusion) if isinstance(options.fusion, str) else options.fusion
    if options.fix_parameters:
        model = specialize(model, options.fix_parameters)
        deps = None
    deps = deps or dependences(model)
    ctx = model.context.get_ctx()
    _configure(ctx, fusion)
    coincidence = deps.non_reduction if options.parallel_reductions else deps.all
    sc = (isl.ScheduleConstraints.on_domain(model.domain)
          .set_context(model.context)
          .set_validity(deps.all)
          .set_proximity(deps.all)
          .set_coincidence(coincidence))
    schedule = _isl_schedule(sc, ctx, fusion, len(model.statements))
    fallback = False
    if schedule is None or not _coefficients_allowed(schedule, options) \
            or not respects(deps.all, schedule.get_map()):
        schedule, fallback = original_schedule_tree(model, deps), True
    _configure(ctx, fusion)
    if any(options.tile):
        schedule = tile_outer_bands(schedule, options.tile)
    return Scheduled(model=model, deps=deps, schedule=schedule, fallback=fallback, options=options)


IN_PROCESS_STATEMENTS = 8  # up to this many statements isl schedules in well under a second
SCHEDULER_TIME_LIMIT_S = 20.0

# The child: islpy only (a tenth of a second to start), the options, isl's text.
_CHILD = """
import json, sys
import islpy as isl
request = json.load(sys.stdin)
ctx = isl.Context()
for name, value in request["options"].items():
    getattr(ctx, "set_" + name)(value)
try:
    schedule = isl.ScheduleConstraints.read_from_str(ctx, request["constraints"]).compute_schedule()
except isl.Error as err:
    json.dump({"error": str(err)}, sys.stdout)
else:
    json.dump({"schedule": schedule.to_str()}, sys.stdout)
"""


class _GaveUp(Exception):
    """isl's scheduler failed or ran out of time (the message says which)."""


def _isl_schedule(sc: isl.ScheduleConstraints, ctx: isl.Context, fusion: Fusion,
                  statements: int) -> isl.Schedule | None:
    """isl's schedule, or None (with a TcWarning) when the scheduler fails or runs out
    of time."""
    try:
        if statements <= IN_PROCESS_STATEMENTS:
            try:
                return sc.compute_schedule()
            except isl.Error as err:
                raise _GaveUp(_isl_reason(str(err))) from None
        return _schedule_in_child(sc, ctx, fusion)
    except _GaveUp as why:
        warn(f"isl's scheduler {why} on {statements} statement(s); they keep their original order, "
             "each loop nest sequential where its dependences demand")
        return None


def _schedule_in_child(sc: isl.ScheduleConstraints, ctx: isl.Context, fusion: Fusion) -> isl.Schedule:
    request = json.dumps({"constraints": sc.to_str(), "options": _options(fusion)})
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD], input=request, capture_output=True, text=True,
                              timeout=SCHEDULER_TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        raise _GaveUp(f"ran past its budget of {SCHEDULER_TIME_LIMIT_S:g} s") from None
    try:
        reply = json.loads(done.stdout)
    except ValueError:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise _GaveUp(f"failed in its process ({last})") from None
    if "error" in reply:
        raise _GaveUp(_isl_reason(reply["error"]))
    return isl.Schedule.read_from_str(ctx, reply["schedule"])


def _isl_reason(message: str) -> str:
    """"call to isl_...compute_schedule failed: <reason> in /path/isl_x.c:N" -> the reason."""
    return f"failed ({message.split(' failed: ', 1)[-1].split(' in /', 1)[0]})"


def build_ast(schedule: isl.Schedule, context: isl.Set) -> isl.AstNode:
    """The isl AST of a schedule (parameters constrained by ``context``)."""
    return isl.AstBuild.from_context(context).node_from_schedule(schedule)


def respects(deps: isl.UnionMap, schedule_map: isl.UnionMap) -> bool:
    """Every dependence ``a -> b`` has ``S(a)`` lexicographically before ``S(b)``, i.e.
    ``S^-1 . D . S`` is in lex-lt (``D ⊆ { a -> b : S(a) << S(b) }``)."""
    before = schedule_map.lex_lt_union_map(schedule_map)
    return deps.is_subset(before)


# --- band inspection ----------------------------------------------------------------

def map_bands(schedule: isl.Schedule, innermost: bool,
              rewrite: Callable[[isl.ScheduleNode], isl.ScheduleNode]) -> isl.Schedule:
    """Apply ``rewrite`` to the outermost (or innermost) band of every root-to-leaf
    path; ``rewrite`` returns a node at the band's position (a mark it inserts above the
    band counts)."""

    def has_band_below(node: isl.ScheduleNode) -> bool:
        return any(node.child(i).get_type() == isl.schedule_node_type.band or has_band_below(node.child(i))
                   for i in range(node.n_children()))

    def visit(node: isl.ScheduleNode) -> isl.ScheduleNode:
        if node.get_type() == isl.schedule_node_type.band and (not innermost or not has_band_below(node)):
            return rewrite(node)
        for i in range(node.n_children()):
            node = visit(node.child(i)).parent()
        return node

    return visit(schedule.get_root()).get_schedule()


def all_bands(schedule: isl.Schedule) -> list[isl.ScheduleNode]:
    """Every band node of a schedule tree, each before the bands below it."""
    out: list[isl.ScheduleNode] = []

    def visit(node: isl.ScheduleNode) -> None:
        if node.get_type() == isl.schedule_node_type.band:
            out.append(node)
        for i in range(node.n_children()):
            visit(node.child(i))

    visit(schedule.get_root())
    return out


def band_coefficients(node: isl.ScheduleNode) -> list[dict[str, list[list[int]]]]:
    """Per band member, per statement: the iterator coefficients of each piece."""
    members = []
    mupa = node.band_get_partial_schedule()
    for i in range(mupa.dim(isl.dim_type.set)):
        per_stmt: dict[str, list[list[int]]] = {}
        pas: list[isl.PwAff] = []
        mupa.get_at(i).foreach_pw_aff(pas.append)
        for pa in pas:
            name = pa.get_space().get_tuple_name(isl.dim_type.in_)
            for _, aff in pa.get_pieces():
                n = aff.dim(isl.dim_type.in_)
                per_stmt.setdefault(name, []).append(
                    [aff.get_coefficient_val(isl.dim_type.in_, k).to_python() for k in range(n)])
        members.append(per_stmt)
    return members


def permute_band(node: isl.ScheduleNode, order: list[int]) -> isl.ScheduleNode:
    """A permutable band with its members reordered: member ``order[j]`` becomes member
    ``j``, its coincidence flag with it."""
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


def band_trip_count(node: isl.ScheduleNode, member: int) -> int | None:
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


def _coefficients_allowed(schedule: isl.Schedule, options: ScheduleOptions) -> bool:
    if options.allow_skewing and not options.positive_orthant:
        return True
    for band in all_bands(schedule):
        for member in band_coefficients(band):
            for pieces in member.values():
                for coefs in pieces:
                    if not options.allow_skewing and sum(1 for c in coefs if c) > 1:
                        return False
                    if options.positive_orthant and any(c < 0 for c in coefs):
                        return False
    return True


# --- the original schedule as a tree ------------------------------------------------

def original_schedule_tree(model: Model, deps: Dependences | None = None) -> isl.Schedule:
    """Statement order, then loop order: a sequence of one band per statement. With
    ``deps``, a band is permutable if every self-dependence of its statement has
    non-negative distances, and a member coincident if they are all 0 there."""
    schedule = isl.Schedule.from_domain(model.domain)
    stmts = [s for s in model.statements]
    node = schedule.get_root().child(0)
    if len(stmts) > 1:
        filters = isl.UnionSetList.alloc(model.context.get_ctx(), len(stmts))
        for s in stmts:
            filters = filters.add(isl.UnionSet.from_set(s.domain))
        node = node.insert_sequence(filters)
    for k, s in enumerate(stmts):
        leaf = node.child(k).child(0) if len(stmts) > 1 else node
        if s.iterators:
            ident = isl.MultiAff.identity_on_domain_space(s.domain.get_space())
            mupa = isl.MultiUnionPwAff.from_multi_pw_aff(isl.MultiPwAff.from_multi_aff(ident))
            leaf = leaf.insert_partial_schedule(mupa)
            if deps is not None:
                leaf = _mark_band(leaf, s.name, s.domain, deps.all)
        node = leaf.parent().parent() if len(stmts) > 1 else leaf
    return node.get_schedule()


def _mark_band(node: isl.ScheduleNode, name: str, domain: isl.Set,
               deps: isl.UnionMap) -> isl.ScheduleNode:
    """Mark the identity band of one statement from its self-dependence distances. If
    they are not all non-negative, the band is split: the leading members where every
    distance is 0 form a permutable (and coincident) band, each later member a band."""
    ctx = node.get_ctx()
    n = domain.dim(isl.dim_type.set)
    delta = deps.extract_map(domain.get_space().map_from_set()).deltas()
    universe = isl.Set.universe(delta.get_space())
    zero = [delta.is_subset(universe.fix_val(isl.dim_type.set, j, isl.Val.zero(ctx)))
            for j in range(n)]
    nonneg = universe
    for j in range(n):
        nonneg = nonneg.lower_bound_val(isl.dim_type.set, j, isl.Val.zero(ctx))
    if delta.is_subset(nonneg):
        node = node.band_set_permutable(1)
        for j in range(n):
            node = node.band_member_set_coincident(j, 1 if zero[j] else 0)
        return node
    prefix = next((j for j in range(n) if not zero[j]), n)
    sizes = ([prefix] if prefix else []) + [1] * (n - prefix)
    for k, size in enumerate(sizes):
        if node.band_n_member() > size:
            node = node.band_split(size)
        node = node.band_set_permutable(1)
        offset = sum(sizes[:k])
        for j in range(size):
            node = node.band_member_set_coincident(j, 1 if zero[offset + j] else 0)
        if k + 1 < len(sizes):
            node = node.child(0)
    for _ in range(len(sizes) - 1):
        node = node.parent()
    return node


# --- tiling ---------------------------------------------------------------------------

def tile_outer_bands(schedule: isl.Schedule, sizes: Sequence[int] | Callable[[isl.ScheduleNode], Sequence[int]],
                     untiled: Callable[[isl.ScheduleNode], Sequence[int]] | None = None) -> isl.Schedule:
    """Tile the outermost permutable band of every path (see the module docstring) by
    ``sizes``, or by ``sizes(band)`` for each band; ``untiled(band)`` names members of a
    band to leave untiled whatever ``sizes`` say."""

    def tile(node: isl.ScheduleNode) -> isl.ScheduleNode:
        n = node.band_n_member()
        if node.band_get_permutable() or n == 1:
            given = list(sizes(node) if callable(sizes) else sizes)
            if any(s < 0 for s in given):
                raise ValueError(f"tile sizes must be >= 0, got {given}")
            keep = set(untiled(node)) if untiled is not None else set()
            node = tile_band(node, [0 if i in keep else (given + [0] * n)[i] for i in range(n)])
        return node

    return map_bands(schedule, False, tile)


def tile_band(node: isl.ScheduleNode, sizes: list[int]) -> isl.ScheduleNode:
    """Tile a band by ``sizes`` (one per member, 0: untiled); returns the tile band."""
    if not any(sizes):
        return node
    ctx = node.get_ctx()
    if all(sizes):
        mv = isl.MultiVal.zero(node.band_get_space())
        for i, s in enumerate(sizes):
            mv = mv.set_val(i, isl.Val.int_from_si(ctx, s))
        return node.band_tile(mv)
    n = len(sizes)
    coincident = [node.band_member_get_coincident(i) for i in range(n)]
    permutable = node.band_get_permutable()
    mupa = node.band_get_partial_schedule()
    tiled = [i for i, s in enumerate(sizes) if s]
    upas = isl.UnionPwAffList.alloc(ctx, len(tiled))
    for i in tiled:
        upa = mupa.get_at(i).scale_down_val(isl.Val.int_from_si(ctx, sizes[i])).floor()
        upas = upas.add(upa)
    space = isl.Space.set_alloc(ctx, 0, len(tiled)).align_params(mupa.get_space())
    tile = isl.MultiUnionPwAff.from_union_pw_aff_list(space, upas)
    node = node.insert_partial_schedule(tile)  # above the point band
    node = node.band_set_permutable(1)
    for j, i in enumerate(tiled):
        node = node.band_member_set_coincident(j, coincident[i])
    point = node.child(0)
    point = point.band_set_permutable(permutable)
    return point.parent()
