"""GPU mapping decisions on a schedule tree: which loops run on blocks, which on threads
(TC's CUDA mapper, ``tc/core/polyhedral/cuda/mapped_scop.cc``).

``map_to_gpu(schedule, model, options)`` takes the isl schedule of a def (untiled, its
domain specialized to the actual sizes) and ``tcir.MappingOptions``, and returns one
``Kernel`` per top-level part, in execution order:

1. ``order_for_coalescing``: the outermost band of every path, if permutable, puts its
   coincident members first and, among them, the one that walks memory contiguously for
   the most accesses last (it becomes thread x: neighbouring threads touch neighbouring
   elements); the other members (reductions, carried dependences) follow.
2. The outermost bands are tiled with ``tile``; unrolling is marked with ``unroll`` as on
   the CPU path.
3. Top-level parts: the children of top-level sequences and sets (flattened), or the
   whole tree. A part whose root is a band is mapped:

   - blocks: the leading coincident members of the tile band (the outermost band, if
     tiled), as many as ``mapToBlocks`` has sizes, the innermost of them on x;
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
4. Consecutive parts with one block of one thread (nothing parallel, e.g. a full
   reduction) share a kernel.

A kernel of one band part also gives ``Kernel.tile``: each instance's coordinates in the
tile band (none if untiled), under the block filter, and ``Kernel.threads``: the thread
that runs it; ``gpu_memory`` promotes to shared memory per tile of a block what several
threads of the tile read.

The mapping needs no barrier: blocks and threads only split coincident members, and all
the instances of one value of those members run in one thread, in schedule order, so
every dependence inside a kernel stays inside one thread. Between parts, the kernel
boundary is the barrier.

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

from dataclasses import dataclass
from functools import cached_property

import islpy as isl

from tcir.mapping_options import MappingOptions

from .cpu_mapping import _member_scores, _permute, _trip_count, mark_unroll
from .model import Model
from .schedule import build_ast, map_bands, tile_outer_bands

__all__ = ["BLOCK_IDS", "THREAD_IDS", "Kernel", "map_to_gpu", "order_for_coalescing"]

# isl parameters standing for blockIdx.{x,y,z} and threadIdx.{x,y,z}
BLOCK_IDS = ("_gpu_bx", "_gpu_by", "_gpu_bz")
THREAD_IDS = ("_gpu_tx", "_gpu_ty", "_gpu_tz")

# below the outermost band of every path before tiling: the band above it is then the
# point band, and the tile band, if any, is above that
_POINT = "gpu_point"

_BAND = isl.schedule_node_type.band
_SPLIT = (isl.schedule_node_type.sequence, isl.schedule_node_type.set)


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
        scores = _member_scores(node, model)
        x = max(reversed(coincident), key=lambda i: scores[i])  # ties: the later member
        order = [i for i in coincident if i != x] + [x] + [i for i in range(n) if i not in coincident]
        return node if order == list(range(n)) else _permute(node, order)

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


def _dims(band: isl.ScheduleNode, sizes: tuple[int, ...]) -> list[tuple[int, int]]:
    """(member, size) per dimension x, y, z (TC: the innermost mapped member on x), the
    size at most the member's extent."""
    n = _leading_coincident(band)
    mapped = min(len(sizes), n)
    dims = []
    for d in range(mapped):
        member = n - 1 - d
        extent = _trip_count(band, member)
        dims.append((member, max(1, min(sizes[d], extent or sizes[d]))))
    return dims


def _mapping_filter(band: isl.ScheduleNode, dims: list[tuple[int, int]], ids: tuple[str, ...]) -> isl.UnionSet:
    """``{ S[i] : member_d(S[i]) mod size_d = id_d }`` for every dimension d."""
    ctx = band.get_ctx()
    mupa = band.band_get_partial_schedule()
    instances = band.get_domain()
    for (member, size), name in zip(dims, ids):
        values = isl.Set.read_from_str(ctx, f"[{name}] -> {{ [v] : v mod {size} = {name} }}")
        member_map = isl.UnionMap.from_union_pw_aff(mupa.get_at(member))
        instances = instances.intersect(member_map.intersect_range(isl.UnionSet.from_set(values)).domain())
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


def _thread_map(point: isl.ScheduleNode, dims: list[tuple[int, int]], instances: isl.UnionSet) -> isl.UnionMap:
    """``Kernel.threads``: ``{ S[i] -> [member_x mod size_x, ...] }``."""
    mupa = point.band_get_partial_schedule()
    out = isl.UnionMap.from_domain_and_range(instances, isl.UnionSet.read_from_str(point.get_ctx(), "{ [] }"))
    for member, size in dims:
        value = mupa.get_at(member).mod_val(isl.Val.int_from_si(point.get_ctx(), size))
        out = out.flat_range_product(isl.UnionMap.from_union_pw_aff(value).intersect_domain(instances))
    return out


def _map_part(node: isl.ScheduleNode, options: MappingOptions):
    """Insert the block and thread filters of a part rooted at ``node``; returns the node
    at the same position, the grid and block sizes, and ``Kernel.tile`` and
    ``Kernel.threads`` (None if the part is not a band)."""
    if node.get_type() != _BAND:
        return node, (1, 1, 1), (1, 1, 1), (None, None)
    tiled = node.child(0).get_type() == _BAND  # untiled: the _POINT mark is right below
    point = node.child(0) if tiled else node
    threads = _dims(point, options["mapToThreads"])
    blocks = _dims(node, options["mapToBlocks"]) if tiled else []
    instances = node.get_domain()
    if blocks:
        instances = _mapping_filter(node, blocks, BLOCK_IDS)
    tile = _tile_map(node, tiled, instances), _thread_map(point, threads, node.get_domain())
    if threads:
        point = point.insert_filter(_mapping_filter(point, threads, THREAD_IDS))
    node = point.parent() if tiled else point
    if blocks:
        node = node.insert_filter(instances)
    return node, _launch(blocks), _launch(threads), tile


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


def _kernels(tree: isl.Schedule, parts: list, model: Model) -> list[Kernel]:
    """A kernel per part; consecutive one-thread parts share one."""
    single = ((1, 1, 1), (1, 1, 1))
    merged: list[list] = []
    for domain, grid, block, tile in parts:
        if merged and (grid, block) == single and tuple(merged[-1][1:3]) == single:
            merged[-1][0] = merged[-1][0].union(domain)
            merged[-1][3] = (None, None)
        else:
            merged.append([domain, grid, block, tile])
    return [Kernel(tree.intersect_domain(domain), _context(model, grid, block), grid, block, *tile)
            for domain, grid, block, tile in merged]


def map_to_gpu(schedule: isl.Schedule, model: Model, options: MappingOptions) -> list[Kernel]:
    """See the module docstring."""
    tree = order_for_coalescing(schedule, model)
    point = isl.Id(_POINT, context=tree.get_ctx())
    tree = map_bands(tree, False, lambda band: band.child(0).insert_mark(point).parent())
    if any(options["tile"]):
        tree = tile_outer_bands(tree, options["tile"])
    tree = mark_unroll(tree, options["unroll"])
    parts = []
    for path in _part_paths(tree.get_root().child(0), (0,)):
        node = _node(tree, path)
        domain = node.get_domain()
        node, grid, block, tile = _map_part(node, options)
        tree = node.get_schedule()
        parts.append((domain, grid, block, tile))
    return _kernels(_drop_marks(tree), parts, model)
