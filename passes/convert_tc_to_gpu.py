"""Schedule each `tc.def` with isl and map it to GPU kernels (the gpu stage of docs/gpu.md).

Summary:
  The def is scheduled as on the CPU path (`convert-tc-to-loops`: isl scheduler, the
  mapping options' fusion strategy, sizes specialized), then mapped to blocks and
  threads as Tensor Comprehensions' CUDA mapper does (`tcir.polyhedral.gpu_mapping`):
  the outermost bands are tiled with `tile`; the leading coincident members of a tile
  band that have several tiles run on blocks (`mapToBlocks`, the innermost on x), those of the point band below
  on threads (`mapToThreads`, the innermost on x, which the mapping makes the member
  that walks memory contiguously, so that accesses coalesce); reductions and other
  loops run in order inside each thread. Extents larger than the grid or the block are
  covered by grid- and block-stride loops, partial tiles are guarded by `scf.if`, and
  launch sizes are tightened to the extents.

  A part with nothing parallel whose instances update one element with an associative
  and commutative reduction (`+=`, `*=`, `max=`, `min=`, the body not reading the
  target: a full reduction) is a block reduction on one block: each of
  `prod(mapToThreads)` threads x (tightened to the reduced member's extent)
  accumulates a strided share in a private `memref.alloca`, initialized to the
  reduction's identity; the partials are stored to a `memref.global` in memory space
  3 (`@<kernel>_reduce<j>`) and combined by a tree (each level, after a
  `gpu.barrier`, `tx < k` combines `partials[tx]` and `partials[tx + half]`; odd
  counts are guarded); thread 0 then combines the total with the target's value (the
  identity after a `!` init, which thread 0 ran first; the existing value without
  `!`) and stores it. Floats are reassociated. Consecutive one-thread parts and block
  reductions share a kernel, the one-thread parts run by thread 0, a barrier between
  them. Any other part with nothing parallel runs on one thread.

  Each top-level part of the schedule is a kernel `gpu.func @<def>_part<k>` in
  `gpu.module @<def>_kernels`, taking the arrays it uses; the host function `@<def>`
  (attribute `tcir.gpu`) allocates the temporaries (zero-filled by the gpu stage's
  contract: no fill loops) and launches the kernels in order. A kernel's memref
  arguments carry `arg_attrs`: `llvm.noalias` (the arrays of one launch do not
  overlap), and `llvm.readonly` on those the kernel never writes (for read-only cache
  loads, ld.global.nc, where the backend translates it).

  With `useSharedMemory`, tensors that several threads of a block's tile read (matmul's
  A and B, when the reduction is tiled) are promoted to shared memory
  (`tcir.polyhedral.gpu_memory`): the kernel loops, block-uniformly, over the tiles of
  its block (the tile band's members), and per tile all the block's threads copy each
  promoted tensor's box (the bounding box, computed with isl, of the elements the
  tile reads; innermost dimension on threads x, guarded where the box passes the
  tensor's end; where the box's rows and the tensor's rows hold whole runs of 4
  elements, in runs: run r of the box by the thread of linear id r mod threads, each
  run's 4 copies straight-line code, so that LLVM merges them into ld.global.nc.v4 and
  st.shared.v4) to a `memref.global` in memory space 3 (16-byte aligned, as the
  kernel's array arguments: `llvm.align`; its rows padded by one element where
  neighbouring threads x read it a row apart and rows of an even number of words would
  put them in a few banks), then `gpu.barrier`, then the
  tile's instances run with their loads of the tensor reading the copy, then
  `gpu.barrier` (`unrollCopyShared` unrolls the copy loops when each thread copies at
  most UNROLL_COPY_LIMIT elements). With `pipelineShared`, where a tile is the whole
  body of a loop over the block's tiles and twice the copies fit, shared memory is
  double-buffered (a leading dimension of 2, indexed by the step's parity): the copies
  of the first tile before the loop, and in each step, first the copies of the next
  tile into the other buffer, asynchronous (`tcgpu.async_copy`: cp.async of a run of 16
  bytes, or of one element of 4 or 8), `tcgpu.async_commit`, `tcgpu.async_wait 1` (this
  step's copies have landed), then the barrier and the tile; elsewhere the option
  changes nothing. Only tensors the kernel does not write are promoted, the most reused
  first, while their boxes fit in `maxSharedMemory` bytes (0: CUDA's 48 KiB of static
  shared memory per block, which is also the most used); a kernel with nothing to
  promote is emitted as without the option.

  With `usePrivateMemory`, an element that a loop reads and updates at the same place
  in every iteration (a reduction's accumulator) is kept in a private `memref.alloca`
  across the loop, loaded before it and stored after it; several such places of one
  tensor are promoted together when their indices provably differ (by a constant in
  some dimension), their loads and stores each under one test, in the order the loop
  first accesses them. With it, a thread that computes several outputs of a tile (a
  tile extent above the thread count) runs the reduction loop outside its outputs,
  which are unrolled (at most 64): a register tile, e.g. 4 x 4 accumulators per thread
  with `tile=64,64 mapToThreads=16,16`, each loaded value of A or B used 4 times; along
  threads x and y the thread's outputs are 4 consecutive columns and rows
  (gpu_mapping's thread runs), so that its loads of B and its loads and stores of C
  are vector accesses, and so are its loads of A's copy, which is laid out with the
  dimension a thread loads consecutively fastest (`_fragment_dim`, `_fastest`). `unroll` unrolls innermost
  loops as on the CPU path (the isl AST generator, also inside the tiles of shared
  memory).

Options:
  sizes    "M=64,K=32" (required): the sizes to specialize to.
  strides  "A=1:64,f.B=32:1": element strides of tensor arguments (as in
           convert-tc-to-affine).
  mapping  a `tcir.MappingOptions` text, e.g. "tile=32,32 mapToThreads=32,8
           mapToBlocks=256,256 usePrivateMemory=true useSharedMemory=true
           maxSharedMemory=16384"; unspecified options take the naive preset's
           values. The GPU path uses the outer schedule's options, tile,
           mapToThreads, mapToBlocks, unroll, usePrivateMemory, useSharedMemory,
           maxSharedMemory, unrollCopyShared, splitReduction and pipelineShared.

Before:
  tc.def @scale(%A : !tc.tensor<[N], f32>) -> (%B : !tc.tensor<[N], f32>) {
    tc.stmt (%i in 0 to N) %B[%i] = {
      %0 = tc.read %A[%i] : f32
      tc.yield %0 : f32
    }
  }
After (sizes="N=100", mapping="tile=32 mapToThreads=32 mapToBlocks=2"):
  builtin.module attributes {gpu.container_module} {
    func.func @scale(%A : memref<100xf32>, %B : memref<100xf32>) attributes {tcir.gpu} {
      %c2 = arith.constant 2 : index
      %c1 = arith.constant 1 : index
      %c32 = arith.constant 32 : index
      "gpu.launch_func"(%c2, %c1, %c1, %c32, %c1, %c1, %A, %B)
          <{kernel = @scale_kernels::@scale_part0, ...}> : (...) -> ()
      func.return
    }
    "gpu.module"() <{sym_name = "scale_kernels"}> ({
      gpu.func @scale_part0(%A : memref<100xf32>, %B : memref<100xf32>) kernel
          attributes {gpu.kernel, gpu.known_block_size = array<i32: 32, 1, 1>,
                      gpu.known_grid_size = array<i32: 2, 1, 1>,
                      arg_attrs = [{llvm.noalias, llvm.readonly}, {llvm.noalias}]} {
        %bx = gpu.block_id x
        %tx = gpu.thread_id x
        scf.for %c0 = %bx to 4 step 2 {            // tiles of 32: a grid-stride loop
          %i = 32 * %c0 + %tx                      // as arith ops
          scf.if %i <= 99 {                        // the partial last tile
            %v = memref.load %A[%i] : memref<100xf32>
            memref.store %v, %B[%i] : memref<100xf32>
          }
        }
        gpu.return
      }
    }) : () -> ()
  }
After (matmul, sizes="M=64,N=48,K=40", mapping="tile=16,16,16 useSharedMemory=true"),
the kernel:
  "memref.global"() <{sym_name = "matmul_part0_shared0", type = memref<16x16xf32, 3 : i64>, ...}>
  "memref.global"() <{sym_name = "matmul_part0_shared1", type = memref<16x16xf32, 3 : i64>, ...}>
  gpu.func @matmul_part0(%A : memref<64x40xf32>, %B : memref<40x48xf32>, %C : memref<64x48xf32>)
      kernel attributes {arg_attrs = [{llvm.noalias, llvm.readonly}, {llvm.noalias, llvm.readonly},
                                      {llvm.noalias}], ...} {
    %sA = memref.get_global @matmul_part0_shared0 : memref<16x16xf32, 3 : i64>
    %sB = memref.get_global @matmul_part0_shared1 : memref<16x16xf32, 3 : i64>
    scf.for %s = 0 to 3 step 1 {                       // the steps of the reduction
      scf.for %r = %ty to 16 step 8 {                  // all threads copy A's box
        scf.for %q = %tx to 16 step 16 {
          scf.if 16 * %s + %q < 40 {                   // the last step is partial
            %v = memref.load %A[16 * %by + %r, 16 * %s + %q]
            memref.store %v, %sA[%r, %q]
      } } }
      ...                                              // and B's
      gpu.barrier
      scf.for %i = 16 * %by + %ty to 16 * %by + 16 step 8 {
        scf.if %s == 0 { C[%i, 16 * %bx + %tx] = 0 }
        scf.for %k = 16 * %s to min(40, 16 * %s + 16) step 1 {
          %a = memref.load %sA[%i - 16 * %by, %k - 16 * %s]
          %b = memref.load %sB[%k - 16 * %s, %tx]
          ...                                          // C[%i, 16 * %bx + %tx] += %a * %b
      } }
      gpu.barrier
    }
    gpu.return
  }
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import islpy as isl

from xdsl.builder import Builder, InsertPoint
from xdsl.context import Context
from xdsl.dialects import affine, arith, func, gpu, memref, scf
from xdsl.dialects.builtin import (
    ArrayAttr, DictionaryAttr, IndexType, IntegerAttr, MemRefType, ModuleOp, NoneAttr, StridedLayoutAttr, StringAttr,
    SymbolRefAttr, UnitAttr, i64,
)
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import GreedyRewritePatternApplier, PatternRewriteWalker
from xdsl.transforms.common_subexpression_elimination import cse
from xdsl.transforms.dead_code_elimination import region_dce
from xdsl.transforms.loop_invariant_code_motion import move_loop_invariant_code
from xdsl.transforms.lower_affine import LowerAffineLoad, LowerAffineStore
from xdsl.traits import is_side_effect_free

from tcir.dialects import tc, tcgpu
from tcir.dialects.lowp import is_lowp_type
from tcir.mapping_options import MappingOptions
from tcir.passes.convert_memref_to_llvm import elements_spanned
from tcir.passes.split_reduction import split_module
from tcir.passes.tc_lowering import (
    DefLowering, ScheduledDefLowering, check_sizes, combine, constant, element_bytes, identity, is_unsigned,
    outer_schedule_options, parse_sizes, parse_strides, replace_defs,
)
from tcir.polyhedral import build_ast, compute_schedule, extract, specialize
from tcir.polyhedral.codegen import AstToScf
from tcir.polyhedral.gpu_mapping import BLOCK_IDS, THREAD_IDS, BlockReduction, Kernel, map_to_gpu
from tcir.polyhedral.gpu_memory import TILE, SharedTile, promote_to_shared, tile_asts, tile_parameter
from tcir.polyhedral.model import Model, tensor_tuple_name

# CUDA's limit on a block's static shared memory, in bytes (maxSharedMemory=0: all of it)
SHARED_MEMORY_BYTES = 48 * 1024
BANK_WORD = 4  # bytes: a shared memory bank serves one word of 4 bytes
SHARED_SPACE = IntegerAttr(3, i64)
# bytes: every memref argument of a kernel points, at its linear index 0, to a multiple of
# this (the kernels say so with `llvm.align`; whoever runs the gpu stage places arrays so:
# backends/gpu_plan.py's contract, the CUDA runtime); shared buffers are aligned alike
ARG_ALIGNMENT = 16


# reductions whose updates may be combined in any order (float reassociation accepted)
TREE_REDUCIBLE = ("+", "*", "min", "max")


def reducible_statements(def_op: tc.DefOp, model: Model) -> set[str]:
    """The reduction statements a block may combine as a tree: an associative and
    commutative update whose body does not read the target (so the partial results of
    the threads are independent of the target's value). A sum or product into a number
    format (lowp) is not: it rounds to the format at every step, in order, so that a tree
    would change more than the last bits (min and max are exact in any order); nor is a
    scatter-add, whose updates of one element stay in order."""
    stmts = [op for op in def_op.body.block.ops if isinstance(op, tc.StmtOp)]
    out = set()
    for statement in model.statements:
        op = stmts[statement.index]
        if is_lowp_type(op.target.type.element_type) and statement.kind in ("+", "*") or op.yielded_indices:
            continue  # (a scatter-add's updates stay in order, docs/language.md)
        if statement.is_reduction and statement.kind in TREE_REDUCIBLE and not any(
                isinstance(read, tc.ReadOp) and read.tensor == op.target for read in op.body.walk()):
            out.add(statement.name)
    return out


def schedule_kernels(def_op: tc.DefOp, sizes: Mapping[str, int], options: MappingOptions) -> tuple[Model, list[Kernel]]:
    """The specialized model of a def and its kernels, mapped."""
    model = extract(def_op)
    fixed = specialize(model, sizes)
    scheduled = compute_schedule(model, outer_schedule_options(options, sizes))  # tiled when mapped
    return fixed, map_to_gpu(scheduled.schedule.intersect_domain(fixed.domain), fixed, options,
                             reducible_statements(def_op, fixed))


# --- private memory ----------------------------------------------------------------------

def _defined_in(value: SSAValue, loop: scf.ForOp) -> bool:
    owner = value.owner.parent_op() if isinstance(value, BlockArgument) else value.owner
    return owner is not None and loop.is_ancestor(owner)


def _accesses(loop: scf.ForOp) -> dict[SSAValue, list[Operation]]:
    out: dict[SSAValue, list[Operation]] = {}
    for op in loop.body.walk():
        if isinstance(op, memref.LoadOp | memref.StoreOp):
            out.setdefault(op.memref, []).append(op)
    return out


def _places(loop: scf.ForOp, accesses: list[Operation]) -> list[list[Operation]] | None:
    """The accesses grouped by place, if every place can live in a private variable
    across the loop: loop-invariant, stored to, accessed in every iteration (so it is
    a valid index whenever the loop runs), and distinct from the other places (their
    indices differ by a constant in some dimension: a thread's register tile). Another
    thread never touches them meanwhile: the mapping keeps every dependence in a
    thread."""
    groups: dict[tuple[SSAValue, ...], list[Operation]] = {}
    for op in accesses:
        groups.setdefault(tuple(op.indices), []).append(op)
    for place, group in groups.items():
        if (any(_defined_in(v, loop) for v in place) or not any(isinstance(op, memref.StoreOp) for op in group)
                or not any(op.parent_op() is loop for op in group)):
            return None
    forms = [[_linear(v) for v in place] for place in groups]
    for a, b in itertools.combinations(forms, 2):
        if not any(x[0] == y[0] and x[1] != y[1] for x, y in zip(a, b)):
            return None
    return list(groups.values())


def _linear(value: SSAValue) -> tuple[frozenset, int]:
    """An index as (its terms {(value, coefficient)}, a constant), through constants,
    additions, subtractions and products by constants."""
    op = value.owner
    if isinstance(op, arith.ConstantOp):
        return frozenset(), op.value.value.data
    if isinstance(op, arith.AddiOp | arith.SubiOp | arith.MuliOp):
        (lt, lc), (rt, rc) = _linear(op.lhs), _linear(op.rhs)
        if isinstance(op, arith.MuliOp):
            if not lt or not rt:
                scale, (terms, c) = (lc, (rt, rc)) if not lt else (rc, (lt, lc))
                return frozenset((v, k * scale) for v, k in terms if k * scale), c * scale
            return frozenset({(value, 1)}), 0
        sign = 1 if isinstance(op, arith.AddiOp) else -1
        total = dict(lt)
        for v, k in rt:
            total[v] = total.get(v, 0) + sign * k
        return frozenset((v, k) for v, k in total.items() if k), lc + sign * rc
    return frozenset({(value, 1)}), 0


_FOLD = {arith.AddiOp: operator.add, arith.SubiOp: operator.sub, arith.MuliOp: operator.mul,
         arith.MinSIOp: min, arith.MaxSIOp: max}


def _static(value: SSAValue) -> int | None:
    """The value of index arithmetic on constants (loop bounds from the isl AST), else None."""
    op = value.owner
    if isinstance(op, arith.ConstantOp):
        return op.value.value.data
    if type(op) not in _FOLD:
        return None
    lhs, rhs = _static(op.lhs), _static(op.rhs)
    return None if lhs is None or rhs is None else _FOLD[type(op)](lhs, rhs)


def _when_running(builder: Builder, loop: scf.ForOp, ops: list[Operation]) -> None:
    """Insert `ops` where `builder` points, under `scf.if` unless the loop surely runs."""
    bounds = [_static(loop.lb), _static(loop.ub)]
    if None not in bounds and bounds[0] < bounds[1]:
        for op in ops:
            builder.insert(op)
        return
    runs = builder.insert(arith.CmpiOp(loop.lb, loop.ub, "slt")).result
    builder.insert(scf.IfOp(runs, [], Region(Block([*ops, scf.YieldOp()]))))


def _promote(entry: Block, loop: scf.ForOp, target: SSAValue, places: list[list[Operation]]) -> None:
    """Each place of `target` (its accesses in the loop) in a private variable across
    the loop: loaded before it, stored after it, all places under one test that the
    loop runs, in the order the loop first accesses them (a register tile's row: one
    vector access, once LLVM merges them)."""
    before, after = [], []
    for accesses in places:
        place = list(accesses[0].indices)
        private = memref.AllocaOp.get(target.type.element_type, shape=[])
        entry.insert_op_before(private, entry.first_op)
        for op in accesses:
            new = (memref.LoadOp.get(private, []) if isinstance(op, memref.LoadOp)
                   else memref.StoreOp.get(op.value, private, []))
            op.parent_block().insert_op_before(new, op)
            if isinstance(op, memref.LoadOp):
                op.res.replace_all_uses_with(new.res)
            op.detach()
            op.erase()
        load, back = memref.LoadOp.get(target, place), memref.LoadOp.get(private, [])
        before += [load, memref.StoreOp.get(load.res, private, [])]
        after += [back, memref.StoreOp.get(back.res, target, place)]
    _when_running(Builder(InsertPoint.before(loop)), loop, before)
    _when_running(Builder(InsertPoint.after(loop)), loop, after)


def promote_accumulators(kernel: Block) -> None:
    """usePrivateMemory (see the module docstring), at the outermost loop where legal."""
    loops = [op for op in kernel.walk() if isinstance(op, scf.ForOp)]
    for loop in reversed(loops):  # inner loops first: invariant indices bubble out
        move_loop_invariant_code(loop)
    cse(kernel)  # one SSA value per index: equal places are equal operands
    for loop in [op for op in kernel.walk() if isinstance(op, scf.ForOp)]:
        for target, accesses in _accesses(loop).items():
            if isinstance(target, BlockArgument) and target.owner is kernel:
                places = _places(loop, accesses)
                if places:
                    _promote(kernel, loop, target, places)


# --- shared memory ---------------------------------------------------------------------------

def _loop(builder: Builder, lower: SSAValue, upper: SSAValue, step: SSAValue) -> tuple[Builder, SSAValue]:
    """An `scf.for` at `builder`; a builder into its body, and its iterator."""
    body = Block([scf.YieldOp()], arg_types=[IndexType()])
    builder.insert(scf.ForOp(lower, upper, step, [], Region(body)))
    return Builder(InsertPoint.before(body.last_op)), body.args[0]


def _copy_threads(rank: int, block: tuple[int, ...], ids: dict[str, SSAValue],
                  builder: Builder) -> dict[int, tuple[SSAValue, int]]:
    """Dimension of a copied box -> (first index, step) of the threads that walk it: the
    innermost dimension on threads x (coalesced), the next on y, then z; with fewer
    dimensions than thread dimensions, the outermost one takes the rest, linearized."""
    used = [(ids[THREAD_IDS[d]], block[d]) for d in range(3) if block[d] > 1]
    walk = {rank - 1 - k: used[k] for k in range(min(rank, len(used)))}
    if len(used) > rank:
        value, step = used[rank - 1]
        for more, size in used[rank:]:
            scaled = builder.insert(arith.MuliOp(more, constant(builder, step, IndexType()))).result
            value = builder.insert(arith.AddiOp(value, scaled)).result
            step *= size
        walk[0] = (value, step)
    return walk


def _linear_thread(block: tuple[int, ...], ids: dict[str, SSAValue], builder: Builder) -> SSAValue:
    """The thread's linear id in its block, x fastest: tx + X * (ty + Y * tz)."""
    value = None
    for d in reversed(range(3)):
        if block[d] == 1:
            continue
        if value is not None:
            value = builder.insert(arith.MuliOp(value, constant(builder, block[d], IndexType()))).result
            value = builder.insert(arith.AddiOp(value, ids[THREAD_IDS[d]])).result
        else:
            value = ids[THREAD_IDS[d]]
    return value if value is not None else constant(builder, 0, IndexType())


def _in_runs(tile: SharedTile, source: SSAValue) -> bool:
    """Whether a box is copied in runs (`_copy_runs`): its rows hold whole runs, and the
    source's rows (its strides but the innermost) are whole runs too, so that runs can
    be aligned in both memories."""
    strides = source.type.get_strides()
    return (tile.shape[-1] % COPY_RUN == 0 and strides is not None and strides[-1] == 1
            and all(stride is not None and stride % COPY_RUN == 0 for stride in strides[:-1]))


# unrollCopyShared unrolls a copy if each thread copies at most this many elements
UNROLL_COPY_LIMIT = 64


@dataclass(frozen=True)
class _Copier:
    """How a thread copies elements of `source` to its copy `shared`: a load and a store
    each, or, `asynchronous`, `tcgpu.async_copy` where cp.async can move them (4, 8 or
    16 bytes at once; the other elements still by load and store)."""

    source: SSAValue
    shared: SSAValue
    asynchronous: bool

    def moves(self, elements: int) -> bool:
        size = tcgpu.element_size(self.source.type.element_type)
        return self.asynchronous and size is not None and elements * size in tcgpu.ASYNC_COPY_BYTES

    def one(self, builder: Builder, where: list[SSAValue], index: list[SSAValue]) -> None:
        """shared[index] = source[where]."""
        if self.moves(1):
            builder.insert(tcgpu.AsyncCopyOp(self.source, where, self.shared, index, 1))
            return
        load = builder.insert(memref.LoadOp.get(self.source, where))
        builder.insert(memref.StoreOp.get(load.res, self.shared, index))

    def run(self, builder: Builder, wheres: list[list[SSAValue]], indices: list[list[SSAValue]]) -> None:
        """A run of consecutive elements, aligned in both memories to the run's bytes."""
        if self.moves(len(wheres)):
            builder.insert(tcgpu.AsyncCopyOp(self.source, wheres[0], self.shared, indices[0], len(wheres)))
            return
        for where, index in zip(wheres, indices):
            self.one(builder, where, index)


def _copy_in(builder: Builder, tile: SharedTile, copier: _Copier, offsets: list[SSAValue],
             walk: dict[int, tuple[SSAValue, int]], unroll: bool) -> None:
    """All threads of the block copy the box of `source` at `offsets` to `shared`, each
    element once; elements outside `source` (partial tiles) are skipped. Unrolled (a
    copy per element a thread copies, guarded where the last one may pass the box) if
    `unroll` and each thread copies at most UNROLL_COPY_LIMIT elements."""
    steps = [walk.get(d, (None, 1)) for d in range(len(tile.shape))]
    trips = [-(-size // step) for size, (_, step) in zip(tile.shape, steps)]
    if unroll and math.prod(trips) <= UNROLL_COPY_LIMIT:
        for ks in itertools.product(*[range(t) for t in trips]):
            index, tests = [], []
            for k, size, (first, step) in zip(ks, tile.shape, steps):
                at = constant(builder, k * step, IndexType())
                if first is not None:
                    at = builder.insert(arith.AddiOp(first, at)).result
                    if (k + 1) * step > size:  # some threads are past the box
                        tests.append(arith.CmpiOp(at, constant(builder, size, IndexType()), "slt"))
                index.append(at)
            _copy_element(builder, tile, copier, offsets, index, tests)
        return
    index = []
    for size, (first, step) in zip(tile.shape, steps):
        first = first if first is not None else constant(builder, 0, IndexType())
        builder, i = _loop(builder, first, constant(builder, size, IndexType()), constant(builder, step, IndexType()))
        index.append(i)
    _copy_element(builder, tile, copier, offsets, index, [])


def _copy_element(builder: Builder, tile: SharedTile, copier: _Copier, offsets: list[SSAValue],
                  index: list[SSAValue], tests: list[Operation]) -> None:
    """shared[index] = source[offsets + index], if `tests` hold and it is inside `source`."""
    where = _add(builder, offsets, index)
    _when(builder, tests + _inside(builder, tile, copier.source, where, range(len(where))),
          lambda b: copier.one(b, where, index))


def _add(builder: Builder, a: list[SSAValue], b: list[SSAValue]) -> list[SSAValue]:
    return [builder.insert(arith.AddiOp(x, y)).result for x, y in zip(a, b)]


def _inside(builder: Builder, tile: SharedTile, source: SSAValue, where: list[SSAValue],
            dims, low: bool = True, high: bool = True) -> list[Operation]:
    """The tests that `where` lies inside `source` along `dims` (above its start with
    `low`, below its end with `high`), where the box may pass it."""
    tests: list[Operation] = []
    for d in dims:
        if low and tile.low_guard[d]:
            tests.append(arith.CmpiOp(where[d], constant(builder, 0, IndexType()), "sge"))
        if high and tile.high_guard[d]:
            tests.append(arith.CmpiOp(where[d], constant(builder, source.type.get_shape()[d], IndexType()), "slt"))
    return tests


def _when(builder: Builder, tests: list[Operation], then: Callable[[Builder], None],
          otherwise: Callable[[Builder], None] | None = None) -> None:
    """`then` where every test holds (`otherwise` where one fails); `then` alone without
    tests."""
    inside = None
    for test in tests:
        value = builder.insert(test).result
        inside = value if inside is None else builder.insert(arith.AndIOp(inside, value)).result
    if inside is None:
        then(builder)
        return
    regions = []
    for emit in (then, otherwise):
        if emit is None:
            regions.append(Region())
            continue
        block = Block([scf.YieldOp()])
        emit(Builder(InsertPoint.before(block.last_op)))
        regions.append(Region(block))
    builder.insert(scf.IfOp(inside, [], *regions))


# a thread copies runs of this many consecutive elements along a box's innermost
# dimension when its rows hold whole runs: LLVM merges a run's loads and stores into
# vector ones (ld.global.nc.v4, st.shared.v4) where their addresses are aligned
COPY_RUN = 4


def _copy_runs(builder: Builder, tile: SharedTile, copier: _Copier, offsets: list[SSAValue],
               thread: SSAValue, threads: int, unroll: bool) -> None:
    """All threads of the block copy the box in runs of COPY_RUN elements: run `r` (the
    box's runs in row-major order) by the thread of linear id `r mod threads`, so that
    neighbouring threads copy neighbouring runs. A run that lies wholly inside `source`
    (its first and last elements tell) is copied by straight-line code; one the
    tensor's end cuts, element by element. Unrolled as `_copy_in`. When the runs of a
    row divide the threads, a thread keeps its column and steps over rows (the indices
    stay affine in the loop counter)."""
    index_type = IndexType()
    source = copier.source
    per_row = tile.shape[-1] // COPY_RUN
    rows = math.prod(tile.shape[:-1])
    inner = len(tile.shape) - 1

    def split(b: Builder, value: SSAValue, sizes) -> list[SSAValue]:
        """`value` as a row-major index over `sizes` (the last the fastest)."""
        index = []
        for size in reversed(sizes[1:]):
            index.insert(0, b.insert(arith.RemUIOp(value, constant(b, size, index_type))).result)
            value = b.insert(arith.DivUIOp(value, constant(b, size, index_type))).result
        return [value, *index]

    def copy_run(b: Builder, row: SSAValue, col: SSAValue) -> None:
        index = split(b, row, tile.shape[:-1]) if inner else []
        first = b.insert(arith.MuliOp(col, constant(b, COPY_RUN, index_type))).result
        elements = [[*index, b.insert(arith.AddiOp(first, constant(b, v, index_type))).result if v else first]
                    for v in range(COPY_RUN)]
        wheres = [_add(b, offsets, e) for e in elements]

        def whole(bb: Builder) -> None:
            copier.run(bb, wheres, elements)

        def partial(bb: Builder) -> None:
            for where, e in zip(wheres, elements):
                _when(bb, _inside(bb, tile, source, where, [inner]),
                      lambda b3, where=where, e=e: copier.one(b3, where, e))

        ends = (_inside(b, tile, source, wheres[0], [inner], high=False)
                + _inside(b, tile, source, wheres[-1], [inner], low=False))
        _when(b, _inside(b, tile, source, wheres[0], range(inner)),
              lambda bb: _when(bb, ends, whole, partial) if ends else whole(bb))

    total = rows * per_row
    by_rows = threads % per_row == 0  # a thread keeps its column
    if by_rows:
        row, col = split(builder, thread, (rows, per_row)) if per_row > 1 else (thread, constant(builder, 0, index_type))
        start, count, step = row, rows, threads // per_row
    else:
        start, count, step = thread, total, threads

    def slot(b: Builder, value: SSAValue) -> None:
        if by_rows:
            copy_run(b, value, col)
        else:
            row, run_col = split(b, value, (rows, per_row))
            copy_run(b, row, run_col)

    trips = -(-count // step)
    if unroll and trips * COPY_RUN <= UNROLL_COPY_LIMIT:
        for j in range(trips):
            value = builder.insert(arith.AddiOp(start, constant(builder, j * step, index_type))).result
            tests = [arith.CmpiOp(value, constant(builder, count, index_type), "slt")] if (j + 1) * step > count else []
            _when(builder, tests, lambda b, value=value: slot(b, value))
        return
    body, value = _loop(builder, start, constant(builder, count, index_type), constant(builder, step, index_type))
    slot(body, value)


def _tx_strides(copy: SSAValue, tx: SSAValue) -> list[int] | None:
    """The element distance between the words that neighbouring threads x read from the
    copy, per load of it (its indices' coefficients of `tx` times the row-major strides
    of its shape), or None if an index depends on `tx` other than linearly."""
    shape = copy.type.get_shape()
    strides = [math.prod(shape[d + 1:]) for d in range(len(shape))]
    out = []
    for use in copy.uses:
        load = use.operation
        if not isinstance(load, memref.LoadOp):
            continue
        distance = 0
        for index, stride in zip(load.indices, strides):
            terms, _ = _linear(index)
            if any(v is not tx and _depends_on(v, tx) for v, _ in terms):
                return None
            distance += sum(k for v, k in terms if v is tx) * stride
        out.append(distance)
    return out


def _depends_on(value: SSAValue, root: SSAValue) -> bool:
    """Whether `value` is computed from `root` (each value visited once)."""
    seen, todo = set(), [value]
    while todo:
        v = todo.pop()
        if v is root:
            return True
        if v in seen:
            continue
        seen.add(v)
        if isinstance(v.owner, Operation):
            todo.extend(v.owner.operands)
    return False


def _pad_rows(global_op: memref.GlobalOp, copy: SSAValue, tx: SSAValue,
              room: int) -> tuple[memref.GlobalOp, SSAValue, int]:
    """Pad the rows of a shared copy by one element where neighbouring threads x read
    words a row apart (a column of a tile: rows of an even number of words put them all
    in a few banks), so that they fall in distinct banks; within `room` bytes. Returns
    the copy's global, the copy and the room left."""
    t = copy.type
    shape = t.get_shape()
    size = element_bytes(t.element_type)
    pad_bytes = math.prod(shape[:-1]) * size
    distances = _tx_strides(copy, tx) if len(shape) >= 2 and size == BANK_WORD else None
    if not distances or pad_bytes > room:
        return global_op, copy, room
    row = shape[-1]
    # a column read (the distance a multiple of a row) with an even distance in words
    if not any(d and d % row == 0 and d % 2 == 0 and (d // row) % 2 for d in distances):
        return global_op, copy, room
    padded = MemRefType(t.element_type, [*shape[:-1], row + 1], NoneAttr(), SHARED_SPACE)
    return (*_relaid(global_op, copy, padded), room - pad_bytes)


def _fragment_dim(copy: SSAValue, tx: SSAValue) -> int | None:
    """The dimension, if not the innermost, along which a thread loads consecutive
    elements of a copy in straight-line code (a register tile's fragment of A: rows
    m, m + 1, ... of one column), and no other: laid out fastest, such a fragment is one
    vector load. None where neighbouring threads x load neighbouring elements of a row
    (they would then read a column apart)."""
    rank = copy.type.get_num_dims()
    if rank < 2 or 1 in (_tx_strides(copy, tx) or [1]):
        return None
    constants: dict[tuple, set[int]] = {}
    for use in copy.uses:
        load = use.operation
        if isinstance(load, memref.LoadOp):
            forms = [_linear(i) for i in load.indices]
            for d in range(rank):
                others = tuple(f for k, f in enumerate(forms) if k != d)
                constants.setdefault((load.parent_block(), d, forms[d][0], others), set()).add(forms[d][1])
    along = {d for (_, d, _, _), values in constants.items() if {min(values), min(values) + 1} <= values}
    return along.pop() if len(along) == 1 and rank - 1 not in along else None


def _fastest(global_op: memref.GlobalOp, copy: SSAValue, dim: int,
             room: int) -> tuple[memref.GlobalOp, SSAValue, int]:
    """Lay a copy out with `dim` fastest (the others in order), its extent rounded up to
    whole runs (aligned fragments) and padded by one run (the copy's stores down `dim`'s
    neighbours, runs along the innermost dimension, then spread over more banks), each
    within `room` bytes. Returns the copy's global, the copy and the room left."""
    t = copy.type
    shape = t.get_shape()
    others = math.prod(n for d, n in enumerate(shape) if d != dim)
    size = element_bytes(t.element_type)
    extent = shape[dim]
    rounded = -(-extent // COPY_RUN) * COPY_RUN
    for candidate in (rounded, rounded + COPY_RUN):  # whole runs, then one more run of padding
        if (candidate - shape[dim]) * others * size <= room:
            extent = candidate
    strides, stride = [0] * len(shape), extent
    strides[dim] = 1
    for d in reversed([d for d in range(len(shape)) if d != dim]):
        strides[d], stride = stride, stride * shape[d]
    laid = MemRefType(t.element_type, shape, StridedLayoutAttr(strides, 0), SHARED_SPACE)
    used = (extent * others - math.prod(shape)) * size
    return (*_relaid(global_op, copy, laid), room - used)


def _shared_global(name: StringAttr, t: MemRefType) -> memref.GlobalOp:
    # aligned as a kernel argument: a thread's run of 4 elements is one vector access
    return memref.GlobalOp.get(name, t, UnitAttr(), alignment=ARG_ALIGNMENT)


def _relaid(global_op: memref.GlobalOp, copy: SSAValue, t: MemRefType) -> tuple[memref.GlobalOp, SSAValue]:
    """The copy's global and the copy, all its uses, with the type `t` (a new layout of
    its elements)."""
    new = _retyped(copy, t)
    copy.replace_all_uses_with(new)
    _erase_unused([copy.owner])
    return _shared_global(global_op.sym_name, t), new


def _retyped(copy: SSAValue, t: MemRefType) -> SSAValue:
    """A `memref.get_global` of the copy's global as `t`, next to the copy's."""
    old = copy.owner
    assert isinstance(old, memref.GetGlobalOp)
    new = memref.GetGlobalOp(old.name_, t)
    old.parent_block().insert_op_before(new, old)
    new.memref.name_hint = copy.name_hint
    return new.memref


def _read_shared(first: Operation, last: Operation, shared: dict[SSAValue, tuple[SSAValue, list[SSAValue]]]) -> None:
    """Loads of promoted tensors from `first` to `last` (ops of one block) read the copies."""
    op = first
    while op is not last:
        following = op.next_op  # `op` may be a load, replaced
        for load in [o for o in op.walk() if isinstance(o, memref.LoadOp) and o.memref in shared]:
            copy, offsets = shared[load.memref]
            builder = Builder(InsertPoint.before(load))
            index = [i if _static(o) == 0 else builder.insert(arith.SubiOp(i, o)).result
                     for i, o in zip(load.indices, offsets)]
            new = builder.insert(memref.LoadOp.get(copy, index))
            load.res.replace_all_uses_with(new.res)
            load.detach()
            load.erase()
        op = following


# --- pipelined copies ----------------------------------------------------------------------

def _emitted(builder: Builder, emit: Callable[[], None]) -> list[Operation]:
    """The ops that `emit` inserts at `builder`, at its block's level."""
    point = builder.insertion_point
    after = point.insert_before.prev_op if point.insert_before is not None else point.block.last_op
    emit()
    op, out = after.next_op if after is not None else point.block.first_op, []
    while op is not None and op is not point.insert_before:
        out.append(op)
        op = op.next_op
    return out


@dataclass
class _TileCode:
    """What `emit_tiles` emitted for one tile: its two barriers, and the ops before the
    first that copy the boxes (the others compute offsets)."""

    first: gpu.BarrierOp
    last: gpu.BarrierOp
    copying: list[Operation]

    def head(self) -> list[Operation]:
        """The ops of the tile's block before its first barrier: copies and their
        index arithmetic."""
        ops = list(self.first.parent_block().ops)
        return ops[:ops.index(self.first)]

    def pipelineable(self) -> bool:
        """Whether the tile is the whole body of a loop (over a block's tiles: its
        bounds are the same in all threads) with nothing but copies and index
        arithmetic before its first barrier."""
        loop = self.first.parent_op()
        if not isinstance(loop, scf.ForOp) or loop.iter_args or self.last.parent_op() is not loop:
            return False
        copying = set(self.copying)
        return isinstance(self.last.next_op, scf.YieldOp) and all(
            op in copying or is_side_effect_free(op) for op in self.head())


def _double(global_op: memref.GlobalOp, copy: SSAValue) -> tuple[memref.GlobalOp, SSAValue]:
    """The global of a copy and its `memref.get_global` with a leading dimension of 2:
    two buffers (the second as aligned as the first)."""
    t = copy.type
    if isinstance(t.layout, NoneAttr):
        layout = NoneAttr()
    else:
        layout = StridedLayoutAttr([-(-elements_spanned(t) // COPY_RUN) * COPY_RUN, *t.get_strides()], 0)
    doubled = MemRefType(t.element_type, [2, *t.get_shape()], layout, SHARED_SPACE)
    return _shared_global(global_op.sym_name, doubled), _retyped(copy, doubled)


def _index_buffers(ops: list[Operation], buffers: dict[SSAValue, SSAValue], which: SSAValue) -> None:
    """Accesses of a copy in `ops` (and inside them) access buffer `which` of its double."""
    for op in [o for top in ops for o in top.walk()]:
        builder = Builder(InsertPoint.before(op))
        if isinstance(op, memref.LoadOp) and op.memref in buffers:
            new = builder.insert(memref.LoadOp.get(buffers[op.memref], [which, *op.indices]))
            op.res.replace_all_uses_with(new.res)
        elif isinstance(op, memref.StoreOp) and op.memref in buffers:
            builder.insert(memref.StoreOp.get(op.value, buffers[op.memref], [which, *op.indices]))
        elif isinstance(op, tcgpu.AsyncCopyOp) and op.dest in buffers:
            builder.insert(tcgpu.AsyncCopyOp(op.source, op.source_indices, buffers[op.dest],
                                             [which, *op.dest_indices], op.elements.value.data))
        else:
            continue
        op.detach()
        op.erase()


def _copies_at(head: list[Operation], iv: SSAValue, value: SSAValue, buffers: dict[SSAValue, SSAValue],
               which: SSAValue) -> list[Operation]:
    """Clones of a loop's `head` (its copies and their index arithmetic) for the
    iteration `iv = value`, copying into buffer `which`, without what they leave unused."""
    mapper = {iv: value}
    block = Block([op.clone(mapper) for op in head])
    _index_buffers(list(block.ops), buffers, which)
    for op in reversed(list(block.ops)):  # users come after what they use
        if is_side_effect_free(op) and not any(r.uses for r in op.results):
            op.detach()
            op.erase()  # arithmetic of the tile's offsets, unused by the copies
    clones = list(block.ops)
    for op in clones:
        op.detach()
    return clones


def _pipeline(code: _TileCode, buffers: dict[SSAValue, SSAValue]) -> None:
    """Double-buffer a pipelineable tile (`pipelineShared`): before its loop, the copies
    of the first iteration into buffer 0; in iteration k, the copies of iteration k + 1
    into buffer (k + 1) mod 2, asynchronous (tcgpu.async_copy: a group per iteration),
    then a wait for all but that group (iteration k's copies) before the first barrier,
    and the tile reading buffer k mod 2. The last barrier of iteration k - 1 keeps
    iteration k's copies from overwriting what its tile reads."""
    loop = code.first.parent_op()
    assert isinstance(loop, scf.ForOp)
    body = loop.body.block
    iv, index_type = body.args[0], IndexType()
    head = code.head()
    before = Builder(InsertPoint.before(loop))
    _when_running(before, loop, _copies_at(head, iv, loop.lb, buffers, constant(before, 0, index_type)))
    before.insert(tcgpu.AsyncCommitOp())
    b = Builder(InsertPoint.before(code.first))
    steps = b.insert(arith.DivUIOp(b.insert(arith.SubiOp(iv, loop.lb)).result, loop.step)).result
    this = b.insert(arith.RemUIOp(steps, constant(b, 2, index_type))).result
    other = b.insert(arith.SubiOp(constant(b, 1, index_type), this)).result
    following = b.insert(arith.AddiOp(iv, loop.step)).result
    more = b.insert(arith.CmpiOp(following, loop.ub, "slt")).result
    b.insert(scf.IfOp(more, [], Region(Block([*_copies_at(head, iv, following, buffers, other), scf.YieldOp()]))))
    for op in reversed(code.copying):
        op.detach()
        op.erase()
    b.insert(tcgpu.AsyncCommitOp())
    b.insert(tcgpu.AsyncWaitOp(1))
    ops = list(body.ops)
    _index_buffers(ops[ops.index(code.first) + 1:], buffers, this)


def _split_async_copies(copy: SSAValue, asynchronous: bool) -> None:
    """The async copies into `copy` element by element: asynchronous where cp.async
    moves one element, else (or not `asynchronous`) as loads and stores."""
    for use in list(copy.uses):
        op = use.operation
        if not isinstance(op, tcgpu.AsyncCopyOp) or (asynchronous and op.elements.value.data == 1):
            continue
        b = Builder(InsertPoint.before(op))
        copier = _Copier(op.source, copy, asynchronous)
        for v in range(op.elements.value.data):
            def shifted(index, v=v):
                last = b.insert(arith.AddiOp(index[-1], constant(b, v, IndexType()))).result if v else index[-1]
                return [*index[:-1], last]
            copier.one(b, shifted(list(op.source_indices)), shifted(list(op.dest_indices)))
        op.detach()
        op.erase()


def _argument_attributes(block: Block) -> ArrayAttr:
    """`arg_attrs` of a kernel: its memref arguments do not overlap (`llvm.noalias`, as
    on the CPU path), are aligned (`llvm.align`: the plan's contract, so that LLVM
    merges neighbouring accesses into vector ones), and those it never writes are
    `llvm.readonly` (the NVPTX backend may then read them through the read-only cache,
    ld.global.nc)."""
    attrs = []
    for arg in block.args:
        if not isinstance(arg.type, MemRefType):
            attrs.append(DictionaryAttr({}))
            continue
        flags: dict[str, Attribute] = {"llvm.noalias": UnitAttr(), "llvm.align": IntegerAttr(ARG_ALIGNMENT, i64)}
        if not any(isinstance(use.operation, memref.StoreOp) and use.operation.memref is arg for use in arg.uses):
            flags["llvm.readonly"] = UnitAttr()
        attrs.append(DictionaryAttr(flags))
    return ArrayAttr(attrs)


# --- block reductions -------------------------------------------------------------------------

def _redirect(block: Block, target: SSAValue, partial: SSAValue) -> None:
    """Loads and stores of `target` in `block` (one update of a reduction) access the
    rank-0 `partial` instead."""
    for op in list(block.walk()):
        if isinstance(op, memref.LoadOp | affine.LoadOp) and op.memref is target:
            new = memref.LoadOp.get(partial, [])
            op.parent_block().insert_op_before(new, op)
            op.results[0].replace_all_uses_with(new.res)
        elif isinstance(op, memref.StoreOp | affine.StoreOp) and op.memref is target:
            op.parent_block().insert_op_before(memref.StoreOp.get(op.value, partial, []), op)
        else:
            continue
        op.detach()
        op.erase()


def _guarded(builder: Builder, condition: SSAValue | None, ops: list[Operation]) -> None:
    """`ops` at `builder`, under `scf.if condition` unless it is None."""
    for op in ops:
        if op.parent is not None:
            op.detach()
    if condition is None:
        for op in ops:
            builder.insert(op)
    else:
        builder.insert(scf.IfOp(condition, [], Region(Block([*ops, scf.YieldOp()]))))


# --- kernels and the host function ---------------------------------------------------------

def _erase_unused(ops: list[Operation]) -> None:
    for op in ops:
        if not op.results[0].uses:
            op.detach()
            op.erase()


class GpuDefLowering(ScheduledDefLowering):
    """`@<def>` launches a kernel per part (see the module docstring)."""

    def __init__(self, def_op: tc.DefOp, sizes: dict[str, int], strides, options: MappingOptions):
        super().__init__(def_op, sizes, strides, options)
        self.device_ops: list[Operation] = []  # the gpu.module's: shared globals and kernels

    def zero_fill(self, value: SSAValue, t: tc.TensorType) -> None:
        """Nothing: the gpu stage's `memref.alloc` is zero-filled by contract."""

    def emit_statements(self) -> None:
        self.model, kernels = schedule_kernels(self.def_op, self.sizes, self.options)
        name = self.def_op.sym_name.data
        arguments = list(self.def_op.inputs) + list(self.def_op.outputs) + list(self.def_op.temporaries)
        host_values, host = self.values, self.builder
        constants: dict[int, SSAValue] = {}

        def size(value: int) -> SSAValue:
            if value not in constants:
                constants[value] = constant(host, value, IndexType())
            return constants[value]

        for k, kernel in enumerate(kernels):
            function, used = self.kernel_function(f"{name}_part{k}", kernel, arguments)
            self.device_ops.append(function)
            sizes = [size(v) for v in kernel.grid + kernel.block]
            host.insert(gpu.LaunchFuncOp(SymbolRefAttr(f"{name}_kernels", [function.sym_name.data]),
                                         sizes[:3], sizes[3:], kernelOperands=[host_values[a] for a in used]))
        self.values, self.builder = host_values, host

    def kernel_function(self, name: str, kernel: Kernel, arguments) -> tuple[gpu.FuncOp, list]:
        """The kernel and the def's arguments it takes (those it uses)."""
        block = Block(arg_types=[self.arg_type(self.names[t.index], t.type) for t in arguments])
        self.values = {}
        for old, new in zip(arguments, block.args):
            new.name_hint = self.names[old.index]
            self.values[old] = new
        builder = Builder(InsertPoint.at_end(block))
        ids = {}
        for names, op, prefix in ((BLOCK_IDS, gpu.BlockIdOp, "b"), (THREAD_IDS, gpu.ThreadIdOp, "t")):
            for id_name, dim in zip(names, "xyz"):
                ids[id_name] = builder.insert(op(gpu.DimensionAttr(gpu.DimensionEnum(dim)))).result
                ids[id_name].name_hint = prefix + dim
        tensors = {tensor_tuple_name(old): new for old, new in zip(arguments, block.args)
                   if isinstance(new.type, MemRefType)}
        promoted = self.shared_tiles(kernel, tensors)
        if kernel.segments is not None:
            self.emit_segments(builder, name, kernel, ids)
        elif promoted:
            self.emit_tiles(builder, name, kernel, ids, promoted, tensors)
        else:
            AstToScf(builder, ids, self.emit_instance).emit(kernel.ast)
        builder.insert(gpu.ReturnOp([]))
        region = Region(block)
        # statement bodies access rank-0 tensors with affine.load/store: the gpu stage has no affine
        PatternRewriteWalker(GreedyRewritePatternApplier([LowerAffineLoad(), LowerAffineStore()])).rewrite_region(region)
        _erase_unused([v.owner for v in ids.values()])
        if self.options["pipelineShared"]:  # the index arithmetic of runs copied by one op
            region_dce(region)
        if kernel.private_memory:
            promote_accumulators(block)
        used = [a for a, v in zip(arguments, block.args) if v.uses]
        for v in [v for v in block.args if not v.uses]:
            block.erase_arg(v)
        function = gpu.FuncOp(name, (block.arg_types, []), region, kernel=True,
                               known_block_size=kernel.block, known_grid_size=kernel.grid)
        function.attributes["arg_attrs"] = _argument_attributes(block)
        # MLIR's own mark of a kernel (its gpu.launch_func verifier looks for it); xDSL's
        # is the `kernel` property above
        function.attributes["gpu.kernel"] = UnitAttr()
        return function, used

    def shared_tiles(self, kernel: Kernel, tensors: dict[str, SSAValue]) -> list[SharedTile]:
        """useSharedMemory: what to promote (tcir.polyhedral.gpu_memory), in the budget."""
        if not self.options["useSharedMemory"] or kernel.tile is None:
            return []
        budget = self.shared_budget()
        types = {n: v.type for n, v in tensors.items()}
        sizes = {n: element_bytes(t.element_type) for n, t in types.items()}
        extents = {n: tuple(t.get_shape()) for n, t in types.items()}
        return promote_to_shared(kernel, self.model, sizes, extents, budget)

    def shared_budget(self) -> int:
        """Bytes of shared memory a kernel may use: `maxSharedMemory`, at most CUDA's static 48 KiB."""
        return min(self.options["maxSharedMemory"] or SHARED_MEMORY_BYTES, SHARED_MEMORY_BYTES)

    def emit_tiles(self, builder: Builder, name: str, kernel: Kernel, ids: dict[str, SSAValue],
                   promoted: list[SharedTile], tensors: dict[str, SSAValue]) -> None:
        """The kernel as tiles (gpu_memory.tile_asts): per tile, copy the promoted boxes to
        shared memory, barrier, run the tile reading the copies, barrier; with
        `pipelineShared`, double-buffered where it can be (`_pipeline`)."""
        asts = tile_asts(kernel)
        copies, globals_ = [], []
        for j, tile in enumerate(promoted):
            source = tensors[tile.tensor]
            t = MemRefType(source.type.element_type, tile.shape, NoneAttr(), SHARED_SPACE)
            globals_.append(_shared_global(StringAttr(f"{name}_shared{j}"), t))
            copy = builder.insert(memref.GetGlobalOp(f"{name}_shared{j}", t)).memref
            copy.name_hint = f"shared_{tile.tensor}"
            copies.append(copy)
        # how the threads walk the boxes: element by element per rank, or in runs
        in_runs = [_in_runs(tile, tensors[tile.tensor]) for tile in promoted]
        walks = {rank: _copy_threads(rank, kernel.block, ids, builder)
                 for rank in {len(t.shape) for t, runs in zip(promoted, in_runs) if not runs}}
        thread = _linear_thread(kernel.block, ids, builder) if any(in_runs) else None
        asynchronous = self.options["pipelineShared"]
        codes: list[_TileCode] = []

        def on_tile(inner: Builder, statement: str, values: list[SSAValue]) -> None:
            assert statement == TILE
            emitter = AstToScf(inner, {**ids, **{tile_parameter(i): v for i, v in enumerate(values)}},
                               self.emit_instance)
            shared, copying = {}, []
            for tile, copy, runs in zip(promoted, copies, in_runs):
                offsets = [emitter.expr(e) for e in tile.offset]
                copier = _Copier(tensors[tile.tensor], copy, asynchronous)
                if runs:
                    copying += _emitted(inner, lambda: _copy_runs(
                        inner, tile, copier, offsets, thread, math.prod(kernel.block), self.options["unrollCopyShared"]))
                else:
                    copying += _emitted(inner, lambda: _copy_in(
                        inner, tile, copier, offsets, walks[len(tile.shape)], self.options["unrollCopyShared"]))
                shared[tensors[tile.tensor]] = (copy, offsets)
            first = inner.insert(gpu.BarrierOp())
            emitter.emit(asts.inner)
            last = inner.insert(gpu.BarrierOp())
            _read_shared(first, last, shared)
            codes.append(_TileCode(first, last, copying))

        AstToScf(builder, ids, on_tile).emit(asts.outer)
        room = self.shared_budget() - sum(t.elements * element_bytes(c.type.element_type)
                                          for t, c in zip(promoted, copies))
        unaligned = []  # copies whose rows no longer hold aligned runs
        for j, copy in enumerate(copies):
            dim = _fragment_dim(copy, ids[THREAD_IDS[0]])
            if dim is not None:
                global_op, copies[j], room = _fastest(globals_[j], copy, dim, room)
            else:
                global_op, copies[j], room = _pad_rows(globals_[j], copy, ids[THREAD_IDS[0]], room)
            if global_op is not globals_[j]:
                globals_[j] = global_op
                unaligned.append(j)
        if asynchronous:
            footprint = sum(elements_spanned(g.type) * element_bytes(g.type.element_type) for g in globals_)
            if footprint <= room and all(code.pipelineable() for code in codes):
                doubled = [_double(g, c) for g, c in zip(globals_, copies)]
                buffers = dict(zip(copies, (c for _, c in doubled)))
                for code in codes:
                    _pipeline(code, buffers)
                _erase_unused([c.owner for c in copies])
                globals_, copies = [g for g, _ in doubled], [c for _, c in doubled]
            else:
                for copy in copies:
                    _split_async_copies(copy, asynchronous=False)
        for j in unaligned:  # runs go element by element
            _split_async_copies(copies[j], asynchronous=True)
        self.device_ops.extend(globals_)

    def emit_segments(self, builder: Builder, name: str, kernel: Kernel, ids: dict[str, SSAValue]) -> None:
        """A kernel with block reductions: its segments in order, a barrier between two."""
        for j, segment in enumerate(kernel.segments):
            if j:
                builder.insert(gpu.BarrierOp())
            ast = build_ast(kernel.schedule.intersect_domain(segment.domain), kernel.context)
            if segment.reduction is None:
                AstToScf(builder, ids, self.emit_instance).emit(ast)
            else:
                self.emit_block_reduction(builder, f"{name}_reduce{j}", segment.reduction, ast, ids, kernel.block[0])

    def emit_block_reduction(self, builder: Builder, name: str, reduction: BlockReduction, ast: isl.AstNode,
                             ids: dict[str, SSAValue], width: int) -> None:
        """Each thread accumulates its share of the updates in a private variable; the
        partials are combined by a tree in shared memory; thread 0 updates the target."""
        op = self.stmts[self.model.statement(reduction.statement).index]
        target = self.values[op.target]
        kind, unsigned = op.kind.data, is_unsigned(op.target.type.element_type)
        element = target.type.element_type
        entry = builder.insertion_point.block  # the kernel's: segments are at its top level
        alloca = memref.AllocaOp.get(element, shape=[])
        entry.insert_op_before(alloca, entry.first_op)  # a static alloca: LLVM keeps it in a register
        partial = alloca.memref
        partial.name_hint = "partial"
        builder.insert(memref.StoreOp.get(constant(builder, identity(kind, element, unsigned), element), partial, []))

        def on_user(inner: Builder, statement: str, values: list[SSAValue]) -> None:
            if statement != reduction.statement:  # the init statement, on thread 0
                self.emit_instance(inner, statement, values)
                return
            instance = Block()
            self.emit_instance(Builder(InsertPoint.at_end(instance)), statement, values)
            _redirect(instance, target, partial)
            for new in list(instance.ops):
                new.detach()
                inner.insert(new)

        AstToScf(builder, ids, on_user).emit(ast)
        tx, size = ids[THREAD_IDS[0]], reduction.threads
        t = MemRefType(element, [size], NoneAttr(), SHARED_SPACE)
        self.device_ops.append(memref.GlobalOp.get(StringAttr(name), t, UnitAttr()))
        shared = builder.insert(memref.GetGlobalOp(name, t)).memref
        shared.name_hint = "partials"

        def below(bound: int) -> SSAValue:
            return builder.insert(arith.CmpiOp(tx, constant(builder, bound, IndexType()), "slt")).result

        value = builder.insert(memref.LoadOp.get(partial, [])).res
        _guarded(builder, below(size) if size < width else None, [memref.StoreOp.get(value, shared, [tx])])
        active = size
        while active > 1:  # each level halves the partials: shared[tx] op= shared[tx + half]
            builder.insert(gpu.BarrierOp())
            half = (active + 1) // 2
            level = Block()
            body = Builder(InsertPoint.at_end(level))
            other = body.insert(arith.AddiOp(tx, constant(body, half, IndexType()))).result
            mine = body.insert(memref.LoadOp.get(shared, [tx])).res
            theirs = body.insert(memref.LoadOp.get(shared, [other])).res
            body.insert(memref.StoreOp.get(body.insert(combine(kind, mine, theirs, unsigned)).results[0], shared, [tx]))
            _guarded(builder, below(active - half), list(level.ops))
            active = half
        last = Block()
        body = Builder(InsertPoint.at_end(last))
        place = [constant(body, i, IndexType()) for i in reduction.element]
        total = body.insert(memref.LoadOp.get(shared, [constant(body, 0, IndexType())])).res
        old = body.insert(memref.LoadOp.get(target, place)).res
        body.insert(memref.StoreOp.get(body.insert(combine(kind, old, total, unsigned)).results[0], target, place))
        zero = builder.insert(arith.CmpiOp(tx, constant(builder, 0, IndexType()), "eq")).result
        _guarded(builder, zero, list(last.ops))

    def lower(self) -> func.FuncOp:
        host = DefLowering.lower(self)  # not the CPU parts' attribute of ScheduledDefLowering
        host.attributes["tcir.gpu"] = UnitAttr()
        return host


def convert_tc_to_gpu(module: ModuleOp, sizes: Mapping[str, int] | None, strides: Mapping[str, tuple[int, ...]],
                      options: MappingOptions) -> None:
    """The pass on typed options."""
    check_sizes(ConvertTcToGpuPass.name, module, sizes,
                "the polyhedral schedule and the launch sizes are computed for known sizes", strides)
    sizes = sizes or {}
    if options["splitReduction"] >= 2:  # interleaved slices: neighbouring threads read neighbouring elements
        split_module(module, sizes, options["splitReduction"], "interleaved")

    def lower_def(def_op: tc.DefOp) -> list[Operation]:
        lowering = GpuDefLowering(def_op, sizes, strides, options)
        host = lowering.lower()
        return [host, gpu.ModuleOp(StringAttr(f"{def_op.sym_name.data}_kernels"), Region(Block(lowering.device_ops)))]

    replace_defs(module, lower_def)
    module.attributes["gpu.container_module"] = UnitAttr()


@dataclass(frozen=True)
class ConvertTcToGpuPass(ModulePass):
    name = "convert-tc-to-gpu"

    sizes: str = ""
    strides: str = ""
    mapping: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        convert_tc_to_gpu(op, parse_sizes(self.sizes) if self.sizes else None, parse_strides(self.strides),
                          MappingOptions.parse(self.mapping))
