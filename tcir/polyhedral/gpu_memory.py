"""Shared-memory promotion decisions for the GPU mapping (TC's ``useSharedMemory``,
``tc/core/polyhedral/cuda/memory_promotion_heuristic.cc``), computed with isl.

A kernel of ``map_to_gpu`` whose part is a band runs, in each block, a sequence of
*tiles*: the values of the tile band's members (``Kernel.tile``; none if untiled, then
the block's whole share of the part is one tile), the members mapped to blocks fixed
by the block id, the others (e.g. the tiles of a reduction) in order. With shared
memory, a block runs every tile as::

    copy the promoted tensors' footprints of the tile to shared memory (all threads)
    barrier
    the tile's instances (each thread its own, in schedule order), reading the copies
    barrier

``tile_asts(kernel)`` gives the two isl ASTs of that form: ``outer`` loops over the tiles
of a block (it only depends on the block id: the barriers are block-uniform) and calls
``TILE(t...)`` once per tile; ``inner`` runs the instances of the tile whose coordinates
are the parameters ``tile_parameter(i)``, mapped to threads (its guards may depend on
the thread id: it holds no barrier).

``promote_to_shared(kernel, model, element_bytes, budget)`` chooses what to copy:

- candidates: the tensors (of rank >= 1) the kernel reads and does not write (a copy is
  then never stale, and nothing needs writing back);
- footprint of a tensor in a tile: the elements read by the tile's instances (the read
  relation applied to the instances whose tile coordinates are the parameters), and its
  bounding box: per dimension an offset, the footprint's lowest element (``dim_min``, a
  function of the tile's coordinates and the block id), and a constant size, the most
  elements it spans in any tile (a partial tile's box may overlap the tensor's end: the
  copy is guarded);
- reuse: only tensors of which some element is read by several threads of a tile
  (``Kernel.threads``) are worth a copy; their reuse is the instances of the tile
  reading the tensor (their bounding boxes' volumes) per element of the box, and must
  be above 1;
- the most reused first, as long as the boxes fit in ``budget`` bytes in all.

The mapping keeps every dependence inside one thread and the promoted tensors are
read-only in the kernel, so the copies change no result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import islpy as isl

from .gpu_mapping import Kernel
from .model import Model
from .schedule import build_ast

__all__ = ["TILE", "SharedTile", "TileAsts", "promote_to_shared", "tile_asts", "tile_parameter"]

# the statement of the outer AST: one instance per tile of a block
TILE = "_gpu_tile"


def tile_parameter(i: int) -> str:
    """The isl parameter standing for coordinate ``i`` of the tile in ``inner``."""
    return f"_gpu_tile{i}"


@dataclass(frozen=True)
class SharedTile:
    """A tensor copied to shared memory, a box per tile."""

    tensor: str  # isl tuple name of the tensor
    offset: tuple[isl.AstExpr, ...]  # the box's first element, in the tile parameters and ids
    shape: tuple[int, ...]  # the box's size
    low_guard: tuple[bool, ...]  # per dimension: the box may start below 0
    high_guard: tuple[bool, ...]  # per dimension: the box may end past the tensor's extent
    reuse: float

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class TileAsts:
    outer: isl.AstNode
    inner: isl.AstNode
    context: isl.Set  # the parameters of ``inner``: sizes, ids and tile coordinates


def _fixed(space_dims: int, ctx: isl.Context) -> isl.Set:
    """``[_gpu_tile0, ...] -> { [t0, ...] : t_i = _gpu_tile_i }``."""
    params = ", ".join(tile_parameter(i) for i in range(space_dims))
    dims = ", ".join(f"t{i}" for i in range(space_dims))
    cond = " and ".join(f"t{i} = {tile_parameter(i)}" for i in range(space_dims))
    return isl.Set.read_from_str(ctx, f"[{params}] -> {{ [{dims}]{' : ' + cond if cond else ''} }}")


def _tiles(kernel: Kernel) -> isl.Set:
    """The tiles a block runs (parameters: the sizes and the block ids)."""
    return isl.Set.from_union_set(kernel.tile.range())


def _at_tile(kernel: Kernel) -> tuple[isl.UnionSet, isl.Set]:
    """The instances of the tile at the tile parameters, and ``TileAsts.context``."""
    tiles = _tiles(kernel)
    fixed = _fixed(tiles.dim(isl.dim_type.set), tiles.get_ctx())
    instances = kernel.tile.intersect_range(isl.UnionSet.from_set(fixed)).domain()
    params = tiles.align_params(fixed.get_space()).intersect(fixed.align_params(tiles.get_space())).params()
    context = kernel.context.align_params(params.get_space())
    return instances, context.intersect(params.align_params(context.get_space()))


def tile_asts(kernel: Kernel) -> TileAsts:
    """See the module docstring (``kernel.tile`` must not be None)."""
    tiles = _tiles(kernel).set_tuple_name(TILE)
    schedule = isl.Schedule.from_domain(isl.UnionSet.from_set(tiles))
    if tiles.dim(isl.dim_type.set):
        identity = isl.UnionMap.from_map(isl.Map.identity(tiles.get_space().map_from_set()))
        band = isl.MultiUnionPwAff.from_union_map(identity.intersect_domain(isl.UnionSet.from_set(tiles)))
        schedule = schedule.get_root().child(0).insert_partial_schedule(band).get_schedule()
    instances, context = _at_tile(kernel)
    return TileAsts(build_ast(schedule, kernel.context),
                    build_ast(kernel.schedule.intersect_domain(instances), context), context)


def _sets_by_name(union: isl.UnionSet) -> dict[str, isl.Set]:
    out: dict[str, isl.Set] = {}
    union.foreach_set(lambda s: out.__setitem__(s.get_tuple_name(), s))
    return out


def _box(footprint: isl.Set, context: isl.Set) -> tuple[list[isl.PwAff], tuple[int, ...]] | None:
    """The bounding box of a set with parameters: per dimension its lowest element (an
    affine function of the parameters, maybe piecewise) and the most elements it spans
    over ``context``; None if unbounded."""
    context = context.align_params(footprint.get_space().params())
    offsets, sizes = [], []
    for d in range(footprint.dim(isl.dim_type.set)):
        low, high = footprint.dim_min(d), footprint.dim_max(d)
        span = high.sub(low).intersect_params(context).max_val()
        if not span.is_int():
            return None
        offsets.append(low)
        sizes.append(span.to_python() + 1)
    return offsets, tuple(sizes)


def _guards(offset: isl.PwAff, size: int, extent: int, context: isl.Set) -> tuple[bool, bool]:
    """(the box may start below 0, the box may end past ``extent``) over ``context``."""
    context = context.align_params(offset.get_space().params())
    if not context.is_subset(offset.domain().align_params(context.get_space())):
        return True, True  # in tiles that do not read the tensor, the offset is any value
    offset = offset.intersect_params(context)
    low, high = offset.min_val(), offset.max_val()
    return (not low.is_int() or low.to_python() < 0,
            not high.is_int() or high.to_python() + size > extent)


def promote_to_shared(kernel: Kernel, model: Model, element_bytes: Mapping[str, int],
                      extents: Mapping[str, tuple[int, ...]], budget: int) -> list[SharedTile]:
    """See the module docstring; ``element_bytes`` and ``extents`` by tensor name."""
    if kernel.tile is None or kernel.block[0] * kernel.block[1] * kernel.block[2] == 1:
        return []
    instances, context = _at_tile(kernel)
    written = {s.get_tuple_name() for s in _sets_by_name(model.writes.intersect_domain(kernel.schedule.get_domain()).range()).values()}
    volumes = {}
    for name, s in _sets_by_name(instances).items():
        box = _box(s, context)
        volumes[name] = 1 if box is None else max(1, math.prod(box[1]))
    accesses: dict[str, int] = {}
    readers: dict[str, isl.UnionMap] = {}  # element -> the threads that read it
    reads = model.reads.intersect_domain(instances)
    who = kernel.threads.intersect_domain(instances)

    def count(read: isl.Map) -> None:
        name = read.get_tuple_name(isl.dim_type.out)
        accesses[name] = accesses.get(name, 0) + volumes[read.get_tuple_name(isl.dim_type.in_)]
        by = isl.UnionMap.from_map(read).reverse().apply_range(who)
        readers[name] = by if name not in readers else readers[name].union(by)

    reads.foreach_map(count)
    build = isl.AstBuild.from_context(context)
    candidates = []
    for name, footprint in _sets_by_name(reads.range()).items():
        rank = footprint.dim(isl.dim_type.set)
        if name in written or rank == 0 or name not in element_bytes or readers[name].is_single_valued():
            continue  # written, a scalar, or no element read by two threads of a tile
        box = _box(footprint, context)
        if box is None:
            continue
        pieces, shape = box
        reuse = accesses[name] / math.prod(shape)
        if reuse <= 1:
            continue
        guards = [_guards(p, s, e, context) for p, s, e in zip(pieces, shape, extents[name])]
        candidates.append(SharedTile(name, tuple(build.expr_from_pw_aff(p) for p in pieces), shape,
                                     tuple(g[0] for g in guards), tuple(g[1] for g in guards), reuse))
    chosen, used = [], 0
    for tile in sorted(candidates, key=lambda t: (-t.reuse, t.tensor)):
        size = tile.elements * element_bytes[tile.tensor]
        if used + size <= budget:
            chosen.append(tile)
            used += size
    return chosen
