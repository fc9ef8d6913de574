"""GPU mapping decisions on a schedule tree: which loops run on blocks, which on threads
(TC's CUDA mapper, ``tc/core/polyhedral/cuda/mapped_scop.cc``).

``map_to_gpu(schedule, model, options)`` takes the isl schedule of a def (untiled, its
domain specialized to the actual sizes) and ``tcir.MappingOptions``, and returns one
``Kernel`` per top-level part, in execution order:

1. ``order_for_coalescing``: the outermost band of every path, if permutable, puts its
   coincident members first and, among them, the one that walks memory contiguously for
   the most accesses last (it becomes thread x: neighbouring threads touch neighbouring
   elements); the other members (reductions, carried dependences) follow.
2. The outermost bands are tiled with ``tile``. Where ``tile`` splits none of a band's
   leading coincident members into several tiles (``tile=0``, none given, or tiles as
   large as the members: the naive preset's 32 on group normalization's N = G = 32),
   the members step 3 maps to threads that ``tile`` leaves untiled get tiles of their
   thread counts, so that blocks map them too: no kernel runs a whole tensor in one
   block unless ``mapToBlocks`` asks for one block (all sizes 1) or ``tile`` for one
   tile. Unrolling is marked with ``unroll`` as on the CPU path.
3. Top-level parts: the children of top-level sequences and sets (flattened), or the
   whole tree. A part whose root is a band is mapped:

   - blocks: the leading coincident members of the tile band (the outermost band, if
     tiled) that have several tiles, as many as ``mapToBlocks`` has sizes, the
     innermost of them on x (a member of one tile would take a grid dimension of 1 and
     leave the tiles of an outer member to a loop in each block);
   - threads: the leading coincident members of the point band (the band below the tile
     band, or the outermost band itself if untiled), as many as ``mapToThreads`` has
     sizes, the innermost of them on x;
   - everything else (reduction members, non-coincident members, inner bands) runs in
     order inside each thread.

   A member ``v`` mapped to a block or thread dimension of size ``n`` becomes the filter
   ``v mod n = id`` over a parameter ``id`` (``BLOCK_IDS``, ``THREAD_IDS``), as in TC and
   PPCG: the isl AST generator then emits grid- or block-stride loops where an extent
   exceeds ``n``, and guards for partial tiles, and every instance runs exactly once.
   Sizes are tightened to the extents (at most the number of tiles for blocks, the most
   iterations of the member inside one tile for threads), so an extent of 5 gets 5
   threads, not 32.
4. Consecutive parts of one block of one thread (nothing parallel) or block reductions
   (step 5) share a kernel. With a block reduction among them, the kernel is a
   sequence of segments (``Segment``), a barrier between two: a block reduction, or
   parts that thread 0 runs (their instances constrained to ``_gpu_tx = 0``;
   consecutive ones form one segment).
5. Block reductions. A part that gets one block of one thread (no coincident member,
   or only members of extent 1) is instead spread over the threads x of one block
   when its instances are those of one reduction statement ``R`` in ``reducible``
   (``+``, ``*``, ``max``, ``min``, whose body does not read its target: the caller
   decides from the ``tc`` dialect; the model cannot tell ``S += S * a`` from
   ``S += a``), and maybe of ``R``'s init statement, and ``R`` updates one element.
   The member of a band of the part (not a tile band's) with the most values (at
   most ``prod(mapToThreads)``; ties: the one contiguous in memory, then the inner)
   is mapped to ``n`` threads as in step 3 (``member mod n = _gpu_tx``), in the
   ``Segment``'s domain, not the tree; the init instances run on thread 0. The only
   dependences between ``R``'s instances chain updates of the one element, so they
   may run in any order once the code generator accumulates each thread's share in a
   private partial and combines the partials (``BlockReduction``: a tree in shared
   memory, then thread 0 updates the element: the init, on thread 0 too, came first).
   ``n`` is the member's extent over the part, whatever tile loops enclose it (with
   ``tile``, each thread then loops over the tiles, finding its share in some).
   Reductions whose parallel members are few but more than one (``O(n) +=! A(n, r)``
   with N = 4) keep the mapping of step 3: a thread per ``n``.

6. Register tiles (``usePrivateMemory``, TC's register promotion). When a thread runs
   several values of members mapped to threads (a tile extent above the thread
   count: block-stride loops) and the point band is permutable with reduction members,
   the point band is reordered: unmapped coincident members, the reductions, then the
   thread-strided members (legal: the band is permutable). The reduction loop then
   encloses the thread's points (their loops unrolled when they are at most
   ``REGISTER_TILE_POINTS``, and the reduction's first iteration, where a fused init
   runs, generated apart), so the code generator keeps their accumulators in private
   memory across it. CPU's ``register_tile`` (``cpu_mapping``) does the same on the
   innermost band with tile sizes of its own; here the thread mapping makes the tile.
   In such a band the members on threads are mapped in runs (``thread_runs``):
   ``floor(v / run) mod n = tx`` (and ``ty``, ``tz``), each thread ``run`` consecutive
   values (up to ``THREAD_RUN`` = 4), then the next ``n * run`` values' share, so that
   a thread's accesses along that member are contiguous and LLVM merges them into
   vector ones (``ld.shared.v4``, ``st.global.v4``; neighbouring threads access
   neighbouring runs, so a warp's requests stay whole).

A kernel of one band part also gives ``Kernel.tile``: each instance's coordinates in the
tile band (none if untiled), under the block filter, and ``Kernel.threads``: the thread
that runs it; ``gpu_memory`` promotes to shared memory per tile of a block what several
threads of the tile read.

Apart from block reductions, the mapping needs no barrier: blocks and threads only
split coincident members, and all the instances of one value of those members run in
one thread, in schedule order, so every dependence inside a kernel stays inside one
thread. Between parts, the kernel boundary is the barrier (in a kernel of segments,
the barrier between segments).

Before (matmul, sizes M=5, N=70, K=40, ``tile=32,32,32 mapToThreads=32,8``)::

    band (m, n, r_k)  coincident [1, 1, 0]

After: the tile band ``(m/32, n/32, r_k/32)`` under the filter ``{ n/32 mod 3 = bx }``
(one tile of m: 1 block along y), the point band ``(m, n, r_k)`` under
``{ m mod 5 = ty; n mod 32 = tx }``; ``grid = (3, 1, 1)``, ``block = (32, 5, 1)``, and
the AST::

    if (32 * bx + tx <= 69) {
      S_0_init(ty, 32 * bx + tx);
      for (int c2 = 0; c2 <= 1; c2 += 1)
        for (int c5 = 32 * c2; c5 <= min(39, 32 * c2 + 31); c5 += 1)
          S_0(ty, 32 * bx + tx, c5);
    }
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property

import islpy as isl

from tcir.mapping_options import MappingOptions

from .cpu_mapping import contiguity_scores, mark_unroll
from .model import Model
from .schedule import band_trip_count, build_ast, map_bands, permute_band, tile_outer_bands

__all__ = ["BLOCK_IDS", "THREAD_IDS", "BlockReduction", "Kernel", "Segment", "map_to_gpu", "order_for_coalescing"]

# isl parameters standing for blockIdx.{x,y,z} and threadIdx.{x,y,z}
BLOCK_IDS = ("_gpu_bx", "_gpu_by", "_gpu_bz")
THREAD_IDS = ("_gpu_tx", "_gpu_ty", "_gpu_tz")

# below the outermost band of every path before tiling: the band above it is then the
# point band, and the tile band, if any, is above that
_POINT = "gpu_point"

_BAND = isl.schedule_node_type.band
_SPLIT = (isl.schedule_node_type.sequence, isl.schedule_node_type.set)


@dataclass(frozen=True)
class BlockReduction:
    """A reduction statement whose instances the threads of one block share (step 5 of
    the module docstring)."""

    statement: str  # the reduction statement (isl name)
    element: tuple[int, ...]  # the one element of its target it updates
    threads: int  # threads x holding a partial (the first ones of the block)


@dataclass(frozen=True)
class Segment:
    """Instances of a kernel run between two barriers; the ids that run each instance are
    constraints on the parameters ``THREAD_IDS`` in ``domain``."""

    domain: isl.UnionSet
    reduction: BlockReduction | None = None  # None: thread 0 runs them all, in order


@dataclass(frozen=True)
class Kernel:
    """One kernel launch: the instances it runs, mapped, and its launch sizes."""

    schedule: isl.Schedule  # the whole tree restricted to the kernel's instances
    context: isl.Set  # the sizes and the ranges of the block and thread ids
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    # instances -> the coordinates of their block-level tile (the tile band's members,
    # none if the part is untiled), the block filter in its domain: what a block runs
    # between two barriers when data is promoted to shared memory; None for a kernel
    # that merges one-thread parts
    tile: isl.UnionMap | None = None
    # instances -> the thread (its mapped ids, x first) that runs them, in every block;
    # None where ``tile`` is
    threads: isl.UnionMap | None = None
    # a kernel with a block reduction: its segments, in order, a barrier between two;
    # None for the others (one AST: ``ast``)
    segments: tuple[Segment, ...] | None = None
    # usePrivateMemory: the kernel keeps accumulators in private memory (what the
    # register tiles of step 6 were made for)
    private_memory: bool = False

    @cached_property
    def ast(self) -> isl.AstNode:
        return build_ast(self.schedule, self.context)


# --- 1. coalescing ---------------------------------------------------------------------

def order_for_coalescing(schedule: isl.Schedule, model: Model) -> isl.Schedule:
    """See the module docstring (step 1)."""

    def rewrite(node: isl.ScheduleNode) -> isl.ScheduleNode:
        n = node.band_n_member()
        if n < 2 or not node.band_get_permutable():
            return node
        coincident = [i for i in range(n) if node.band_member_get_coincident(i)]
        if not coincident:
            return node
        scores = contiguity_scores(node, model)
        x = max(reversed(coincident), key=lambda i: scores[i])  # ties: the later member
        order = [i for i in coincident if i != x] + [x] + [i for i in range(n) if i not in coincident]
        return node if order == list(range(n)) else permute_band(node, order)

    return map_bands(schedule, False, rewrite)


# --- 3. parts and their mapping ----------------------------------------------------------

def _node(schedule: isl.Schedule, path: tuple[int, ...]) -> isl.ScheduleNode:
    node = schedule.get_root()
    for i in path:
        node = node.child(i)
    return node


def _part_paths(node: isl.ScheduleNode, path: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Paths (child positions from the root) to the root of every non-empty part."""
    if node.get_type() in _SPLIT:
        return [p for i in range(node.n_children())
                for p in _part_paths(node.child(i).child(0), (*path, i, 0))]
    return [] if node.get_domain().is_empty() else [path]


def _leading_coincident(band: isl.ScheduleNode) -> int:
    n = 0
    while n < band.band_n_member() and band.band_member_get_coincident(n):
        n += 1
    return n


def _dims(band: isl.ScheduleNode, sizes: tuple[int, ...], several: bool = False) -> list[tuple[int, int]]:
    """(member, size) per dimension x, y, z of the band's leading coincident members
    (TC: the innermost mapped member on x), the size at most the member's extent;
    `several`: only members with several values (a tile band's members of one tile
    would take grid dimensions of 1 and leave the tiles of the others to a loop in
    every block)."""
    n = _leading_coincident(band)
    members = [m for m in reversed(range(n)) if not several or (band_trip_count(band, m) or 2) > 1]
    dims = []
    for size, member in zip(sizes, members):
        extent = band_trip_count(band, member)
        dims.append((member, max(1, min(size, extent or size))))
    return dims


def _member_filter(band: isl.ScheduleNode, member: int, size: int, name: str,
                   instances: isl.UnionSet, run: int = 1) -> isl.UnionSet:
    """``{ S[i] in instances : floor(member(S[i]) / run) mod size = name }``: each id
    runs ``run`` consecutive values, then the next ``size * run`` values' share."""
    values = isl.Set.read_from_str(band.get_ctx(), f"[{name}] -> {{ [v] : floor(v / {run}) mod {size} = {name} }}")
    member_map = isl.UnionMap.from_union_pw_aff(band.band_get_partial_schedule().get_at(member))
    return instances.intersect(member_map.intersect_range(isl.UnionSet.from_set(values)).domain())


def _tile_sizes(options: MappingOptions):
    """Step 2's tile sizes of a band: `tile`; where it splits none of the band's leading
    coincident members (which blocks map) into several tiles (untiled, or tiles as large
    as the member), the members mapped to threads that `tile` leaves untiled and that
    have more values than threads get tiles of their thread counts, so that blocks map
    them too (a whole tensor never runs in one block) unless `mapToBlocks` asks for one
    block (or `tile` for one tile)."""
    one_block = all(b == 1 for b in options["mapToBlocks"])

    def splits(band: isl.ScheduleNode, member: int, size: int) -> bool:
        extent = band_trip_count(band, member)
        return size > 0 and (extent is None or size < extent)

    def sizes(band: isl.ScheduleNode) -> list[int]:
        n = band.band_n_member()
        out = (list(options["tile"]) + [0] * n)[:n]
        if not one_block and not any(splits(band, m, out[m]) for m in range(_leading_coincident(band))):
            for member, threads in _dims(band, options["mapToThreads"]):
                if not out[member] and splits(band, member, threads):
                    out[member] = threads
        return out

    return sizes


def _mapping_filter(band: isl.ScheduleNode, dims: list[tuple[int, int]], ids: tuple[str, ...],
                    runs: tuple[int, ...] = ()) -> isl.UnionSet:
    """``{ S[i] : floor(member_d(S[i]) / run_d) mod size_d = id_d }`` for every
    dimension d (``runs`` of 1 where not given)."""
    instances = band.get_domain()
    for d, ((member, size), name) in enumerate(zip(dims, ids)):
        instances = _member_filter(band, member, size, name, instances, runs[d] if d < len(runs) else 1)
    return instances


def _launch(dims: list[tuple[int, int]]) -> tuple[int, int, int]:
    sizes = [size for _, size in dims] + [1, 1, 1]
    return sizes[0], sizes[1], sizes[2]


def _tile_map(node: isl.ScheduleNode, tiled: bool, instances: isl.UnionSet) -> isl.UnionMap:
    """``Kernel.tile`` of a part rooted at the band ``node``."""
    if tiled:
        band = node.band_get_partial_schedule().reset_range_tuple_id()  # named after a lone statement
        return isl.UnionMap.from_multi_union_pw_aff(band).intersect_domain(instances)
    return isl.UnionMap.from_domain_and_range(instances, isl.UnionSet.read_from_str(node.get_ctx(), "{ [] }"))


def _thread_map(point: isl.ScheduleNode, dims: list[tuple[int, int]], instances: isl.UnionSet,
                runs: tuple[int, ...]) -> isl.UnionMap:
    """``Kernel.threads``: ``{ S[i] -> [floor(member_x / run_x) mod size_x, floor(member_y / run_y) mod size_y, ...] }``."""
    ctx = point.get_ctx()
    mupa = point.band_get_partial_schedule()
    out = isl.UnionMap.from_domain_and_range(instances, isl.UnionSet.read_from_str(ctx, "{ [] }"))
    for d, (member, size) in enumerate(dims):
        value = mupa.get_at(member)
        if runs[d] > 1:
            value = value.scale_down_val(isl.Val.int_from_si(ctx, runs[d])).floor()
        value = value.mod_val(isl.Val.int_from_si(ctx, size))
        out = out.flat_range_product(isl.UnionMap.from_union_pw_aff(value).intersect_domain(instances))
    return out


def _map_part(node: isl.ScheduleNode, model: Model, options: MappingOptions, reducible: Collection[str]):
    """Insert the block and thread filters of a part rooted at ``node``; returns the node
    at the same position, the grid and block sizes, ``Kernel.tile`` and
    ``Kernel.threads`` (None if the part is not a band), and the part's ``Segment`` if
    it is a block reduction (then nothing is inserted)."""
    if node.get_type() != _BAND:
        return node, (1, 1, 1), (1, 1, 1), (None, None), None
    tiled = node.child(0).get_type() == _BAND  # untiled: the _POINT mark is right below
    point = node.child(0) if tiled else node
    threads = _dims(point, options["mapToThreads"])
    blocks = _dims(node, options["mapToBlocks"], several=True) if tiled else []
    if _launch(blocks) == _launch(threads) == (1, 1, 1):
        segment = _block_reduction(node, tiled, model, math.prod(options["mapToThreads"]), reducible)
        if segment is not None:
            return node, (1, 1, 1), (segment.reduction.threads, 1, 1), (None, None), segment
    instances = node.get_domain()
    if blocks:
        instances = _mapping_filter(node, blocks, BLOCK_IDS)
    runs = thread_runs(point, threads) if options["usePrivateMemory"] and _reorderable(point) else (1,) * len(threads)
    tile = _tile_map(node, tiled, instances), _thread_map(point, threads, node.get_domain(), runs)
    if threads:
        # values of each member on threads that one thread runs (before the filter)
        points = {member: -(-(band_trip_count(point, member) or 1) // size) for member, size in threads}
        point = point.insert_filter(_mapping_filter(point, threads, THREAD_IDS, runs))
        if options["usePrivateMemory"]:
            point = register_tile(point.child(0), points).parent()
    node = point.parent() if tiled else point
    if blocks:
        node = node.insert_filter(instances)
    return node, _launch(blocks), _launch(threads), tile, None


# --- 6. register tiles ------------------------------------------------------------------------

# the most points of a thread's register tile whose loops are unrolled (8 x 8)
REGISTER_TILE_POINTS = 64
# the most consecutive values of a member on threads that a thread of a register tile
# runs: 4 elements of 4 bytes are one 16-byte vector access
THREAD_RUN = 4


def thread_runs(point: isl.ScheduleNode, threads: list[tuple[int, int]]) -> tuple[int, ...]:
    """How many consecutive values of each member on threads (x first) each thread runs:
    the largest power of two up to ``THREAD_RUN`` that its share of a tile holds whole.
    Consecutive values make a thread's accesses along that member contiguous, so that
    LLVM merges them into vector loads and stores (along x: ``ld.shared.v4`` of B's
    copy, ``st.global.v4`` of C; along y: ``ld.shared.v4`` of A's copy, which
    convert-tc-to-gpu lays out with that dimension fastest); neighbouring threads then
    access neighbouring runs."""
    runs = []
    for member, size in threads:
        share = (band_trip_count(point, member) or 1) // size
        run = 1
        while run * 2 <= min(share, THREAD_RUN):
            run *= 2
        runs.append(run)
    return tuple(runs)


def _reorderable(band: isl.ScheduleNode) -> bool:
    """Whether step 6 may move a point band's reduction members outside the others: a
    permutable band of several members, some not coincident. (Elsewhere a thread's run
    would only make its scalar accesses stride across a warp.)"""
    n = band.band_n_member()
    return n >= 2 and band.band_get_permutable() and not all(band.band_member_get_coincident(i) for i in range(n))


def register_tile(band: isl.ScheduleNode, points: dict[int, int]) -> isl.ScheduleNode:
    """Step 6 of the module docstring on the point band ``band``, whose members mapped
    to threads each thread runs ``points[member]`` values of; returns the band's node."""
    if not _reorderable(band):
        return band
    n = band.band_n_member()
    coincident = [bool(band.band_member_get_coincident(i)) for i in range(n)]
    reductions = [i for i in range(n) if not coincident[i]]
    strided = [i for i in range(n) if points.get(i, 1) > 1]  # a thread runs several values
    if not strided:
        return band
    order = [i for i in range(n) if coincident[i] and i not in strided] + reductions + strided
    band = permute_band(band, order)
    first = n - len(strided) - len(reductions)
    for j in range(first, first + len(reductions)):  # the init (its first iteration) apart
        band = band.band_member_set_ast_loop_type(j, isl.ast_loop_type.separate)
    if math.prod(points[i] for i in strided) <= REGISTER_TILE_POINTS:
        for j in range(n - len(strided), n):
            band = band.band_member_set_ast_loop_type(j, isl.ast_loop_type.unroll)
    return band


# --- 5. block reductions ---------------------------------------------------------------------

def _statement_names(instances: isl.UnionSet) -> set[str]:
    names: set[str] = set()
    instances.foreach_set(lambda s: names.add(s.get_tuple_name()))
    return names


def _bands_in(node: isl.ScheduleNode) -> list[isl.ScheduleNode]:
    out = [node] if node.get_type() == _BAND else []
    for i in range(node.n_children()):
        out.extend(_bands_in(node.child(i)))
    return out


def _on_thread(instances: isl.UnionSet, ids: dict[str, int]) -> isl.UnionSet:
    """``instances`` run by the thread whose ids are ``ids``."""
    names = ", ".join(ids)
    fixed = " and ".join(f"{name} = {value}" for name, value in ids.items())
    return instances.intersect_params(isl.Set.read_from_str(instances.get_ctx(), f"[{names}] -> {{ : {fixed} }}"))


def _thread_zero(instances: isl.UnionSet) -> isl.UnionSet:
    return _on_thread(instances, {THREAD_IDS[0]: 0})


def _extent(band: isl.ScheduleNode, member: int, instances: isl.UnionSet) -> int:
    """How many values a band member takes over ``instances`` (at most: its range's
    span), whatever the enclosing loops (a tile loop's steps included)."""
    values = isl.UnionMap.from_union_pw_aff(band.band_get_partial_schedule().get_at(member))
    span = isl.Set.from_union_set(values.intersect_domain(instances).range())
    low, high = span.dim_min_val(0), span.dim_max_val(0)
    return high.to_python() - low.to_python() + 1 if low.is_int() and high.is_int() else 1


def _block_reduction(node: isl.ScheduleNode, tiled: bool, model: Model, most: int,
                     reducible: Collection[str]) -> Segment | None:
    """The part rooted at ``node`` as a block reduction (step 5 of the module docstring),
    or None: it holds the instances of one reduction statement in ``reducible`` (and
    maybe of its init statement), which update one element, and some band member
    below ``node`` (not a tile band's) has at least 2 values for ``most`` threads."""
    instances = node.get_domain()
    names = _statement_names(instances)
    reductions = [n for n in names if model.statement(n).is_reduction]
    if len(reductions) != 1 or reductions[0] not in reducible:
        return None
    statement = model.statement(reductions[0])
    init = {s.name for s in model.statements if s.is_init and s.index == statement.index}
    if not names <= {statement.name} | init:
        return None
    updates = instances.intersect(isl.UnionSet.from_set(statement.domain))
    written = isl.Set.from_union_set(statement.writes.intersect_domain(updates).range())
    if not written.is_singleton():
        return None
    element = tuple(written.dim_min_val(d).to_python() for d in range(written.dim(isl.dim_type.set)))
    best = None
    for band in _bands_in(node.child(0) if tiled else node):
        if not updates.is_subset(band.get_domain()):
            continue
        scores = contiguity_scores(band, model)
        for member in range(band.band_n_member()):
            threads = min(most, _extent(band, member, updates))
            key = (threads, scores[member])
            if best is None or key >= best[0]:  # ties: the inner member
                best = key, band, member
    if best is None or best[0][0] < 2:
        return None
    (threads, _), band, member = best
    shares = _member_filter(band, member, threads, THREAD_IDS[0], updates)
    others = instances.subtract(updates)
    return Segment(shares.union(_thread_zero(others)), BlockReduction(statement.name, element, threads))


def _context(model: Model, grid: tuple[int, ...], block: tuple[int, ...]) -> isl.Set:
    ids = list(BLOCK_IDS) + list(THREAD_IDS)
    bounds = [f"0 <= {name} < {size}" for name, size in zip(ids, grid + block)]
    ranges = isl.Set.read_from_str(model.context.get_ctx(), f"[{', '.join(ids)}] -> {{ : {' and '.join(bounds)} }}")
    context = model.context.align_params(ranges.get_space())
    return context.intersect(ranges.align_params(context.get_space()))


def _drop_marks(schedule: isl.Schedule) -> isl.Schedule:
    def visit(node: isl.ScheduleNode) -> isl.ScheduleNode:
        if node.get_type() == isl.schedule_node_type.mark and node.mark_get_id().get_name() == _POINT:
            node = node.delete()
        for i in range(node.n_children()):
            node = visit(node.child(i)).parent()
        return node

    return visit(schedule.get_root()).get_schedule()


def _kernels(tree: isl.Schedule, parts: list, model: Model, private_memory: bool) -> list[Kernel]:
    """A kernel per part; consecutive parts of one block that are one thread or a block
    reduction share one."""
    groups: list[list] = []
    for part in parts:
        _, grid, block, _, segment = part
        alone = grid == (1, 1, 1) and (block == (1, 1, 1) or segment is not None)
        if groups and alone and groups[-1][0]:
            groups[-1][1].append(part)
        else:
            groups.append([alone, [part]])
    kernels = []
    for alone, group in groups:
        if len(group) == 1 and group[0][4] is None:
            domain, grid, block, tile, _ = group[0]
            kernels.append(Kernel(tree.intersect_domain(domain), _context(model, grid, block), grid, block, *tile,
                                  private_memory=private_memory))
            continue
        domain = group[0][0]
        for part in group[1:]:
            domain = domain.union(part[0])
        width = max(part[2][0] for part in group)
        if width == 1:  # one-thread parts only
            kernels.append(Kernel(tree.intersect_domain(domain), _context(model, (1, 1, 1), (1, 1, 1)),
                                  (1, 1, 1), (1, 1, 1), private_memory=private_memory))
            continue
        segments: list[Segment] = []
        for part in group:
            if part[4] is not None:
                segments.append(part[4])
            elif segments and segments[-1].reduction is None:
                segments[-1] = Segment(segments[-1].domain.union(_thread_zero(part[0])))
            else:
                segments.append(Segment(_thread_zero(part[0])))
        everything = segments[0].domain
        for segment in segments[1:]:
            everything = everything.union(segment.domain)
        block = (width, 1, 1)
        # a filter, not only the domain: the schedule's map then says who runs what
        schedule = tree.intersect_domain(everything).get_root().child(0).insert_filter(everything).get_schedule()
        kernels.append(Kernel(schedule, _context(model, (1, 1, 1), block), (1, 1, 1), block,
                              segments=tuple(segments), private_memory=private_memory))
    return kernels


def map_to_gpu(schedule: isl.Schedule, model: Model, options: MappingOptions,
               reducible: Collection[str] = ()) -> list[Kernel]:
    """See the module docstring; ``reducible``: the reduction statements (isl names)
    whose updates may be combined in any order (step 5)."""
    tree = order_for_coalescing(schedule, model)
    point = isl.Id(_POINT, context=tree.get_ctx())
    tree = map_bands(tree, False, lambda band: band.child(0).insert_mark(point).parent())
    tree = tile_outer_bands(tree, _tile_sizes(options))
    tree = mark_unroll(tree, options["unroll"])
    parts = []
    for path in _part_paths(tree.get_root().child(0), (0,)):
        node = _node(tree, path)
        domain = node.get_domain()
        node, grid, block, tile, segment = _map_part(node, model, options, reducible)
        tree = node.get_schedule()
        parts.append((domain, grid, block, tile, segment))
    return _kernels(_drop_marks(tree), parts, model, options["usePrivateMemory"])
