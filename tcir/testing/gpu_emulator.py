"""The gpu-stage emulator: a gpu-stage module run on the CPU, on NumPy arrays.

Summary:
  `emulate(module, entry, arrays)` executes the host function `@entry` of a gpu-stage
  module (docs/gpu.md) as its plan says (backends/gpu_plan.py): temporaries
  zero-filled, then every launch in order, each kernel run over its whole grid with
  CUDA's semantics. It lets CI, which has no GPU, test the GPU mapping against the NumPy
  reference, and it reports what a GPU would silently get wrong: divergent barriers,
  data races, out-of-bounds accesses and reads of uninitialized shared memory.

Semantics:
  * `arrays` are the host function's arguments, inputs then outputs, as for the CPU
    kernel: an array of the memref's shape and dtype (for signless integers, either
    signedness of the width) whose element strides are the memref layout's (strides of
    extent-1 dimensions are free), or a number for a scalar parameter. Outputs are
    written in place. Element `[i, j]` of a memref is `array[i, j]`.
  * A kernel runs as lanes, one per thread, in lockstep (SIMT): each op is evaluated
    with NumPy for every thread of a group of blocks at once, under a mask of the
    threads that reach it. `scf.if` with a condition that differs between threads runs
    both branches under complementary masks; `scf.for` with thread-dependent bounds runs
    until no thread is left in it. `gpu.thread_id/block_id/block_dim/grid_dim` (x, y,
    z; x fastest) give CUDA's values.
  * `gpu.barrier` is real: all threads of a block reach it before any goes on (lockstep
    guarantees it). A barrier that some but not all threads of a block reach (inside an
    `scf.if` some threads skip, or a loop some threads have left) is a `TcError`, found
    at once: no thread ever waits.
  * Memory: arguments and temporaries are global memory; a `memref.global` in memory
    space 3 read by `memref.get_global` is shared memory, one buffer per block, filled
    with poison (NaN for floats, bytes 0xA5 for integers, true for i1) when the block
    starts; `memref.alloca` is private to each thread, filled with the same poison.
  * Values of a number format (`lowp` types) are their storage integers, and the `lowp`
    ops compute as the NumPy reference does (tcir/testing/reference_lowp.py: exact,
    rounded once), with the roundings IR generation emits (to nearest even; toward zero
    into integers and integer formats); other modes are a `TcError`.
  * Arithmetic is in the values' types: f16/bf16/f32 are not widened, integers wrap,
    `index` is 64 bits; `math.*` and `tc.builtin` compute as the NumPy reference does
    (`tcir.testing.special.BUILTINS`), conversions as its casts
    (`tcir.testing.reference.c_cast`). Integer division by zero in a thread that
    executes it is a `TcError`.
  * Races (`check_races=True`): between two barriers of a block, two different threads
    writing one element of shared or global memory, or one writing and another reading
    it; and within one launch, two blocks writing one global element, or one writing
    and another reading it. Accesses are tracked per element (last writer, last
    readers); a race is reported for the first access that completes one, with the
    kernel, the buffer, the element and both threads. (Lockstep execution hides the
    effect of a race, so detection is what shows it; it may miss a race whose
    accesses another block's barrier separates, never reports one that is not.)
  * Async copies (`tcgpu`, PTX's cp.async): `tcgpu.async_copy` reads its source when it
    starts, and counts for races as a read of the source and a write of the destination
    then (the copy may land any time after); its values land in shared memory only when
    a `tcgpu.async_wait` of the thread completes its group, another write for races.
    Until then the destination keeps what it held (poison at first), so a missing wait
    shows as stale or poison data. Copies still pending when the block ends are dropped.

Example:
    C = np.zeros(64, np.float32)
    emulate(module, "rev", [A, C])      # C[i] == A[63 - i]

Errors: `tcir.TcError` for everything plan() refuses, wrong arguments (count, shape,
dtype, strides, a read-only output), kernel ops outside the gpu stage, launches that
disagree with a kernel's `known_block_size`/`known_grid_size`, out-of-bounds
accesses, division by zero, divergent barriers and races; each names the kernel and,
where one is at fault, the thread and block.

Speed: groups of blocks of up to `LANES_PER_GROUP` threads run together, so the cost is
per op executed by a group (a few microseconds) plus NumPy's per-thread work; race
checks cost about twice the rest. A 64x64x48 matmul tiled through shared memory (16
blocks of 256 threads, 48 barrier-separated steps) takes about 50 ms, 16 ms without
race checks; a guarded 2-D add over 70 blocks of 32 threads about 1 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from xdsl.dialects import arith, gpu, memref, scf
from xdsl.dialects.builtin import DenseArrayBase, IntegerAttr, ModuleOp, NoneAttr
from xdsl.ir import Block, Operation

from tcir.backends.gpu_plan import (
    Launch, MemrefSpec, ParamArg, ScalarArg, ScalarSpec, TempArg, constant_value, element_dtype,
    kernel_function, plan,
)
from tcir.dialects import lowp, tcgpu
from tcir.dialects.tc import BuiltinOp
from tcir.errors import TcError
from tcir.frontend import types as tc_types
from tcir.irgen import MATH_OPS

from . import reference_lowp
from .reference import c_cast
from .special import BUILTINS

# Threads run together at most (whole blocks); bounds the memory of one op's values.
LANES_PER_GROUP = 1 << 15

_SHARED_SPACE = 3


def emulate(module: ModuleOp, entry: str, arrays: Sequence[Any], *, check_races: bool = True) -> None:
    """Run the host function @entry on `arrays` (inputs then outputs, outputs in place)."""
    p = plan(module, entry)
    if len(arrays) != len(p.params):
        raise TcError(f"@{entry} takes {len(p.params)} arguments (inputs then outputs), got {len(arrays)}")
    params = [_parameter(spec, value, f"argument #{i} of @{entry}")
              for i, (spec, value) in enumerate(zip(p.params, arrays))]
    temporaries = [np.zeros(spec.shape, spec.dtype) for spec in p.temporaries]
    with np.errstate(all="ignore"):  # inactive lanes compute on garbage
        for launch in p.launches:
            kernel = kernel_function(module, launch.kernel_module, launch.kernel)
            values = [_launch_value(a, params, temporaries) for a in launch.args]
            _run_launch(kernel, launch, values, check_races)


# Arguments -------------------------------------------------------------------------------


def _parameter(spec: MemrefSpec | ScalarSpec, value: Any, what: str) -> Any:
    """`value` checked against `spec`: an array viewed in the spec's dtype, or a scalar."""
    if isinstance(spec, ScalarSpec):
        return _scalar(value, spec.dtype, what)
    if not isinstance(value, np.ndarray):
        raise TcError(f"{what} must be a NumPy array of shape {spec.shape} and dtype {spec.dtype}, "
                      f"got {type(value).__name__}")
    if value.shape != spec.shape:
        raise TcError(f"{what} must have shape {spec.shape}, got {value.shape}")
    if value.dtype != spec.dtype and not _same_integer_width(value.dtype, spec.dtype):
        raise TcError(f"{what} must have dtype {spec.dtype}, got {value.dtype}")
    if any(n > 1 and got != want * value.itemsize for n, got, want in zip(value.shape, value.strides, spec.strides)):
        got = tuple(s // value.itemsize if s % value.itemsize == 0 else f"{s} bytes" for s in value.strides)
        raise TcError(f"{what} has element strides {got}, but its memref layout has {spec.strides}: "
                      "pass an array with that layout (the module is compiled for it)")
    return value.view(spec.dtype)


def _same_integer_width(a: np.dtype, b: np.dtype) -> bool:
    """Integers of one width, or an ml_dtypes array of a number format (float8_e4m3fn,
    int4 ...) for its storage integer."""
    ml = a.type.__module__.split(".")[0] == "ml_dtypes"
    return (a.kind in "iu" or ml) and b.kind in "iu" and a.itemsize == b.itemsize


def _scalar(value: Any, dtype: np.dtype, what: str) -> np.generic:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic) and _same_integer_width(value.dtype, dtype):
        return np.asarray(value).view(dtype)[()]  # a number format's scalar: its storage bits
    if not isinstance(value, (bool, int, float, np.number, np.bool_)):
        raise TcError(f"{what} must be a number of type {dtype}, got {type(value).__name__}")
    if dtype.kind in "iub":
        number = float(value)
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        if not number.is_integer() or (info is not None and not info.min <= int(value) <= info.max):
            raise TcError(f"{what} must be a {dtype} value, got {value!r}")
    return dtype.type(value)


def _launch_value(arg: ParamArg | TempArg | ScalarArg, params: list[Any], temporaries: list[np.ndarray]) -> Any:
    if isinstance(arg, ParamArg):
        return params[arg.index]
    if isinstance(arg, TempArg):
        return temporaries[arg.index]
    return arg.dtype.type(arg.value)


# Launches ----------------------------------------------------------------------------------


class _Launch:
    """What the groups of blocks of one launch share: sizes, and the barrier count."""

    def __init__(self, launch: Launch, check_races: bool):
        self.name = f"@{launch.kernel}"
        self.grid = launch.grid
        self.block = launch.block
        self.threads = math.prod(launch.block)
        self.check_races = check_races
        self.epoch = 1  # barriers executed so far by any block, plus one

    def thread_of(self, lane: int) -> str:
        """`thread (x, y, z) of block (x, y, z)` of a lane number (block * threads + thread)."""
        b, t = divmod(int(lane), self.threads)
        bx, by, _ = self.block
        gx, gy, _ = self.grid
        return (f"thread ({t % bx}, {t // bx % by}, {t // (bx * by)}) "
                f"of block ({b % gx}, {b // gx % gy}, {b // (gx * gy)})")


def _run_launch(kernel: gpu.FuncOp, launch: Launch, values: list[Any], check_races: bool) -> None:
    _check_known_sizes(kernel, launch)
    _check_ops(kernel)
    state = _Launch(launch, check_races)
    names = [a.name_hint or str(i) for i, a in enumerate(kernel.body.block.args)]
    args = [_Buffer(f"argument %{name}", v, "global", check_races, state.threads) if isinstance(v, np.ndarray)
            else v for name, v in zip(names, values)]
    blocks = math.prod(launch.grid)
    per_group = max(1, LANES_PER_GROUP // state.threads)
    for first in range(0, blocks, per_group):
        _Blocks(state, kernel, first, min(blocks, first + per_group)).run(args)


def _known_size(kernel: gpu.FuncOp, what: str) -> tuple[int, ...] | None:
    for name in (f"gpu.known_{what}_size", f"known_{what}_size"):
        attr = kernel.attributes.get(name, kernel.properties.get(name))
        if isinstance(attr, DenseArrayBase):
            return tuple(attr.get_values())
    return None


def _check_known_sizes(kernel: gpu.FuncOp, launch: Launch) -> None:
    for what, sizes in (("block", launch.block), ("grid", launch.grid)):
        known = _known_size(kernel, what)
        if known is not None and known != sizes:
            raise TcError(f"@{launch.kernel} is launched with {what} size {sizes}, "
                          f"but its known_{what}_size is {known}")


def _check_ops(kernel: gpu.FuncOp) -> None:
    for op in kernel.walk():
        if op is kernel or type(op) in _HANDLERS or isinstance(op, scf.YieldOp | gpu.ReturnOp):
            if any(len(r.blocks) > 1 for r in op.regions):
                raise TcError(f"`{op.name}` in kernel @{kernel.sym_name.data} has a region of several "
                              "blocks: the gpu stage uses structured control flow only")
            continue
        raise TcError(f"kernel @{kernel.sym_name.data} uses `{op.name}`, which the gpu stage does not "
                      "allow (gpu ids and barrier, scf.for/if, arith, math, tc.builtin, "
                      "memref.load/store/alloca/get_global, tcgpu async copies)")


# Memory ------------------------------------------------------------------------------------


def _poison(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Uninitialized memory: NaN, bytes 0xA5 or true, so that reading it shows."""
    if dtype.kind == "b":
        return np.ones(shape, dtype)
    if dtype.kind in "iu":
        data = np.empty(shape, dtype)
        data.reshape(-1).view(np.uint8).fill(0xA5)
        return data
    return np.full(shape, np.nan, dtype)


class _Records:
    """Who accessed each element of a buffer during one launch, to find races.

    Per element: the last writing lane and the epoch (barrier count) of the write; the
    lane that read it in the last epoch it was read (-2: several), and the block that
    read it in this launch (-2: several). Lanes are numbered in the launch (block *
    threads + thread). `check_read`/`check_write` take one op's accesses: the elements
    `e` and the lanes accessing them.
    """

    def __init__(self, size: int, threads: int):
        self.threads = threads
        self.w_lane = np.full(size, -1, np.int64)
        self.w_epoch = np.zeros(size, np.int64)
        self.r_lane = np.full(size, -1, np.int64)
        self.r_epoch = np.zeros(size, np.int64)
        self.r_block = np.full(size, -1, np.int64)
        self._key = np.zeros(size, np.int64)  # scratch: a lane or block per element, for one op
        self._flag = np.zeros(size, bool)

    def check_read(self, e: np.ndarray, lanes: np.ndarray, epoch: int) -> Conflict | None:
        """The first read racing with a write, else None after recording the reads."""
        conflict = _first(self.after_write(e, lanes, epoch), self.w_lane[e], "wrote")
        if conflict is None:
            self.record_read(e, lanes, epoch)
        return conflict

    def check_write(self, e: np.ndarray, lanes: np.ndarray, epoch: int) -> Conflict | None:
        """The first write racing with an access, else None after recording the writes."""
        self._key[e[::-1]] = lanes[::-1]  # the first lane writing each element: others race with it
        first = self._key[e]
        reader, read_by = self.r_lane[e], self.r_block[e]
        # Once no other block read the element, its readers are all of the writer's block.
        conflict = (_first(first != lanes, first, "writes")
                    or _first(self.after_write(e, lanes, epoch), self.w_lane[e], "wrote")
                    or _first((read_by != -1) & (read_by != lanes // self.threads), np.full_like(e, -1), "read")
                    or _first((self.r_epoch[e] == epoch) & (reader != -1) & (reader != lanes), reader, "read"))
        if conflict is None:
            self.w_lane[e] = lanes
            self.w_epoch[e] = epoch
        return conflict

    def after_write(self, e: np.ndarray, lanes: np.ndarray, epoch: int) -> np.ndarray:
        """Which accesses conflict with the last write of their element."""
        writer = self.w_lane[e]
        concurrent = (self.w_epoch[e] == epoch) | (writer // self.threads != lanes // self.threads)
        return (writer >= 0) & (writer != lanes) & concurrent

    def record_read(self, e: np.ndarray, lanes: np.ndarray, epoch: int) -> None:
        blocks = lanes // self.threads
        lane = np.where(self._others(e, lanes), -2, lanes)
        block = np.where(self._others(e, blocks), -2, blocks)
        old = self.r_lane[e]
        fresh = (self.r_epoch[e] != epoch) | (old == -1) | (old == lane)
        self.r_lane[e] = np.where(fresh, lane, -2)
        self.r_epoch[e] = epoch
        old_block = self.r_block[e]
        self.r_block[e] = np.where((old_block == -1) | (old_block == block), block, -2)

    def _others(self, e: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Per access: whether another access of the op to its element has another key."""
        self._key[e] = keys
        differ = self._key[e] != keys
        self._flag[e] = False
        self._flag[e[differ]] = True
        return self._flag[e]


# (position of the access in the op, the other lane, what the other did); the other lane
# is -1 for some thread of another block, -2 for several threads of the same block.
Conflict = tuple[int, int, str]


def _first(found: np.ndarray, other: np.ndarray, verb: str) -> Conflict | None:
    hits = np.flatnonzero(found)
    return (int(hits[0]), int(other[hits[0]]), verb) if hits.size else None


class _Buffer:
    """A memref's storage. Shared memory has one leading axis per block of the group,
    private memory one per lane; global memory is the array itself."""

    def __init__(self, name: str, data: np.ndarray, scope: str, track: bool, threads: int = 1):
        self.name = name
        self.scope = scope
        self.shape = data.shape if scope == "global" else data.shape[1:]
        # A 0-d array as one element, so that every scope indexes a leading axis or more.
        self.data = data.reshape(1) if data.ndim == 0 else data
        self.records = _Records(self.data.size, threads) if track and scope != "private" else None


@dataclass
class _Copy:
    """The elements a `tcgpu.async_copy` copies and that have not landed: per element, its
    indices in `buffer.data`, the lane (of the group of blocks), the lane's group and the value."""

    buffer: _Buffer
    at: tuple[np.ndarray, ...]
    lanes: np.ndarray
    group: np.ndarray
    values: np.ndarray

    def take(self, where: np.ndarray) -> _Copy:
        return _Copy(self.buffer, tuple(i[where] for i in self.at), self.lanes[where], self.group[where],
                     self.values[where])


# Execution ---------------------------------------------------------------------------------


class _Blocks:
    """A group of consecutive blocks of a launch, run in lockstep: one lane per thread."""

    def __init__(self, launch: _Launch, kernel: gpu.FuncOp, first: int, stop: int):
        self.launch = launch
        self.kernel = kernel
        threads = launch.threads
        self.lane = np.arange(first * threads, stop * threads, dtype=np.int64)  # numbered in the launch
        self.count = self.lane.size
        self.local_lane = self.lane - first * threads
        block, thread = np.divmod(self.lane, threads)
        self.local_block = block - first
        self.blocks = stop - first
        (bx, by, _), (gx, gy, _) = launch.block, launch.grid
        self.thread_ids = (thread % bx, thread // bx % by, thread // (bx * by))
        self.block_ids = (block % gx, block // gx % gy, block // (gx * gy))
        self.shared: dict[str, _Buffer] = {}
        self.env: dict[Any, Any] = {}
        # tcgpu async copies: each lane's commits so far, and the copies not landed yet in
        # the order they started (those left when the blocks end die with their shared memory).
        self.commits = np.zeros(self.count, np.int64)
        self.pending: list[_Copy] = []

    def run(self, args: list[Any]) -> None:
        body = self.kernel.body.block
        for arg, value in zip(body.args, args):
            self.env[arg] = value
        self.region(body, np.ones(self.count, bool))

    def region(self, block: Block, mask: np.ndarray) -> list[Any]:
        """Run a block's ops for the lanes in `mask`; the values its terminator yields."""
        env = self.env
        for op in block.ops:
            handler = _HANDLERS.get(type(op))
            if handler is None:  # scf.yield or gpu.return (_check_ops allowed nothing else)
                return [env[v] for v in op.operands]
            results = handler(self, op, [env[v] for v in op.operands], mask)
            for result, value in zip(op.results, results):
                env[result] = value
        return []

    def error(self, message: str, lane: int | None = None) -> TcError:
        where = f" ({self.launch.thread_of(lane)})" if lane is not None else ""
        return TcError(f"kernel {self.launch.name}: {message}{where}")

    def lanes(self, value: Any) -> np.ndarray:
        return np.broadcast_to(value, (self.count,))

    # gpu -------------------------------------------------------------------------------------

    def thread_id(self, op: gpu.ThreadIdOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        return (self.thread_ids[_dim(op)],)

    def block_id(self, op: gpu.BlockIdOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        return (self.block_ids[_dim(op)],)

    def block_dim(self, op: gpu.BlockDimOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        return (np.int64(self.launch.block[_dim(op)]),)

    def grid_dim(self, op: gpu.GridDimOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        return (np.int64(self.launch.grid[_dim(op)]),)

    def barrier(self, op: gpu.BarrierOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        arrived = np.bincount(self.local_block[mask], minlength=self.blocks)
        partial_blocks = np.flatnonzero((arrived != 0) & (arrived != self.launch.threads))
        if partial_blocks.size:
            b = partial_blocks[0]
            missing = np.flatnonzero(~mask & (self.local_block == b))[0]
            raise self.error(f"divergent gpu.barrier: {arrived[b]} of the {self.launch.threads} threads of a "
                             "block reach it, the others (the first: "
                             f"{self.launch.thread_of(self.lane[missing])}) do not")
        self.launch.epoch += 1
        return ()

    # scf -------------------------------------------------------------------------------------

    def if_(self, op: scf.IfOp, args: list[Any], mask: np.ndarray) -> list[Any]:
        taken = mask & args[0]
        has_else = bool(op.false_region.blocks)
        if not taken.any():
            return self.region(op.false_region.block, mask) if has_else else []
        if np.array_equal(taken, mask) or not has_else:
            return self.region(op.true_region.block, taken)
        then = self.region(op.true_region.block, taken)
        other = self.region(op.false_region.block, mask & ~taken)
        return [self.merge(taken, a, b) for a, b in zip(then, other)]

    def for_(self, op: scf.ForOp, args: list[Any], mask: np.ndarray) -> list[Any]:
        lb, ub, step, *values = args
        body = op.body.block
        iv_type = element_dtype(op.lb.type).type
        bad = np.flatnonzero((self.lanes(step) <= 0) & mask)
        if bad.size:
            raise self.error(f"scf.for with the step {self.lanes(step)[bad[0]]}: steps must be positive",
                             self.lane[bad[0]])
        if np.ndim(lb) == np.ndim(ub) == np.ndim(step) == 0:  # the same trip count in every lane
            for iv in range(int(lb), int(ub), int(step)):
                values = self.iteration(body, iv_type(iv), values, mask)
            return values
        iv = self.lanes(lb).copy()
        active = mask & (iv < ub)
        while active.any():
            new = self.iteration(body, iv, values, active)
            values = [self.merge(active, a, b) for a, b in zip(new, values)]
            iv = iv + step
            active &= iv < ub
        return values

    def iteration(self, body: Block, iv: Any, values: list[Any], mask: np.ndarray) -> list[Any]:
        self.env[body.args[0]] = iv
        for arg, value in zip(body.args[1:], values):
            self.env[arg] = value
        return self.region(body, mask)

    def merge(self, where: np.ndarray, a: Any, b: Any) -> Any:
        if a is b:
            return a
        if isinstance(a, _Buffer) or isinstance(b, _Buffer):
            raise self.error("a memref chosen per thread (scf.if/scf.for yielding different memrefs)")
        return np.where(where, a, b)

    # memref ----------------------------------------------------------------------------------

    def get_global(self, op: memref.GetGlobalOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        name = op.name_.string_value()
        if name not in self.shared:
            self.shared[name] = self.new_shared(name)
        return (self.shared[name],)

    def new_shared(self, name: str) -> _Buffer:
        module = self.kernel.parent_op()
        found = [g for g in module.walk() if isinstance(g, memref.GlobalOp) and g.sym_name.data == name]
        if not found:
            raise self.error(f"memref.get_global @{name}: no memref.global @{name} in its gpu.module")
        t = found[0].type
        space = t.memory_space
        if not (isinstance(space, IntegerAttr) and space.value.data == _SHARED_SPACE) or not t.has_static_shape():
            raise self.error(f"memref.global @{name} has type {t}: the gpu stage's globals are shared "
                             "memory (memory space 3) of a static shape")
        data = _poison((self.blocks, *t.get_shape()), element_dtype(t.element_type))
        return _Buffer(f"shared memory @{name}", data, "shared", self.launch.check_races, self.launch.threads)

    def alloca(self, op: memref.AllocaOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        t = op.memref.type
        if args or not t.has_static_shape() or not isinstance(t.memory_space, NoneAttr):
            raise self.error(f"memref.alloca of {t}: private memory has a static shape and no memory space")
        data = _poison((self.count, *t.get_shape()), element_dtype(t.element_type))
        return (_Buffer("private memory (memref.alloca)", data, "private", False),)

    def select(self, buffer: _Buffer, index: list[Any], mask: np.ndarray, access: str,
               run: int = 1) -> tuple[np.ndarray, ...]:
        """Indices into `buffer.data` of the element each lane in `mask` accesses, the first
        of `run` consecutive ones along the innermost dimension (all checked in bounds)."""
        active = [self.lanes(i)[mask] for i in index]
        ends = [1] * (len(active) - 1) + [run]
        for i, n, end in zip(active, buffer.shape, ends):
            bad = np.flatnonzero((i < 0) | (i > n - end))
            if bad.size:
                element = [str(int(j[bad[0]])) for j in active]
                if run > 1:
                    element[-1] += f"..{int(active[-1][bad[0]]) + run - 1}"
                raise self.error(f"{access} of {buffer.name} [{', '.join(element)}] is out of bounds (shape "
                                 f"{list(buffer.shape)})", self.lane[mask][bad[0]])
        if buffer.scope == "shared":
            return (self.local_block[mask], *active)
        if buffer.scope == "private":
            return (self.local_lane[mask], *active)
        return tuple(active) if buffer.shape else (np.zeros(int(mask.sum()), np.int64),)

    def load(self, op: memref.LoadOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        buffer, *index = args
        at = self.select(buffer, index, mask, "load")
        if buffer.records is not None:
            self.check_race(buffer, at, self.lane[mask], "reads")
        out = np.zeros(self.count, buffer.data.dtype)
        out[mask] = buffer.data[at]
        return (out,)

    def store(self, op: memref.StoreOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        value, buffer, *index = args
        if not buffer.data.flags.writeable:
            raise self.error(f"stores into {buffer.name}, a read-only array")
        at = self.select(buffer, index, mask, "store")
        if buffer.records is not None:
            self.check_race(buffer, at, self.lane[mask], "writes")
        buffer.data[at] = self.lanes(value)[mask]
        return ()

    def check_race(self, buffer: _Buffer, at: tuple[np.ndarray, ...], lanes: np.ndarray, access: str) -> None:
        """Raise on the first access (`reads` or `writes`) of the op that races; `lanes`
        (numbered in the launch) make the accesses `at`."""
        e = np.ravel_multi_index(at, buffer.data.shape)
        check = buffer.records.check_write if access == "writes" else buffer.records.check_read
        conflict = check(e, lanes, self.launch.epoch)
        if conflict is None:
            return
        i, other, verb = conflict
        element = [int(j[i]) for j in (at if buffer.scope == "global" and buffer.shape else at[1:])]
        lane, threads = int(lanes[i]), self.launch.threads
        if other >= 0:
            who, same_block = self.launch.thread_of(other), other // threads == lane // threads
        else:
            who, same_block = ("other threads of its block", True) if other == -2 else ("a thread of another block", False)
        when = "since the last gpu.barrier" if same_block else "in the same launch (blocks are not ordered)"
        raise self.error(f"data race on {buffer.name} {element}: {self.launch.thread_of(lane)} {access} it "
                         f"and {who} {verb} it {when}")

    # tcgpu -----------------------------------------------------------------------------------

    def async_copy(self, op: tcgpu.AsyncCopyOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        n, k = op.elements.value.data, len(op.source_indices)
        src, dst = args[0], args[1 + k]
        source = self.run_of(src, args[1:1 + k], mask, n)
        dest = self.run_of(dst, args[2 + k:], mask, n)
        lanes = np.repeat(self.local_lane[mask], n)
        # The copy may land at any time from now on: it races as it starts.
        if src.records is not None:
            self.check_race(src, source, self.lane[lanes], "reads")
        if dst.records is not None:
            self.check_race(dst, dest, self.lane[lanes], "writes")
        self.pending.append(_Copy(dst, dest, lanes, self.commits[lanes], src.data[source]))
        return ()

    def run_of(self, buffer: _Buffer, index: list[Any], mask: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
        """Indices into `buffer.data` of the `n` consecutive elements each lane in `mask`
        copies, lane by lane (`n` is 1 for a 0-d memref)."""
        *outer, inner = self.select(buffer, index, mask, "tcgpu.async_copy", n)
        return (*(np.repeat(i, n) for i in outer), (inner[:, None] + np.arange(n)).ravel())

    def async_commit(self, op: tcgpu.AsyncCommitOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        self.commits[mask] += 1
        return ()

    def async_wait(self, op: tcgpu.AsyncWaitOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        """Land the copies of the lanes in `mask` whose groups are complete, in the order
        they started (a lane's later copy of an element wins)."""
        complete = self.commits - op.pending.value.data
        pending = []
        for copy in self.pending:
            done = mask[copy.lanes] & (copy.group < complete[copy.lanes])
            if done.any():
                landed = copy.take(done)
                if landed.buffer.records is not None:
                    self.check_race(landed.buffer, landed.at, self.lane[landed.lanes], "writes")
                landed.buffer.data[landed.at] = landed.values
                copy = copy.take(~done)
            if copy.lanes.size:
                pending.append(copy)
        self.pending = pending
        return ()

    # arith and math ------------------------------------------------------------------------

    def constant(self, op: arith.ConstantOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        value = constant_value(op)
        return (value.dtype.type(value.value),)

    def division(self, fn: Callable[..., Any], signed: bool, op: Operation, args: list[Any],
                 mask: np.ndarray) -> tuple[Any, ...]:
        a, b = args
        zero = np.flatnonzero((self.lanes(b) == 0) & mask)
        if zero.size:
            raise self.error(f"integer division by zero in `{op.name}`", self.lane[zero[0]])
        b = np.where(b == 0, np.ones_like(b), b)  # lanes outside the mask
        return _integer(fn, signed, a, b)

    def math(self, op: Operation, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        name = op.fn.data if isinstance(op, BuiltinOp) else _MATH_NAMES[type(op)]
        dtype = element_dtype(op.results[0].type)
        work = dtype if dtype.itemsize >= 4 else np.dtype(np.float32)  # BUILTINS take float or double
        out = np.zeros(self.count, dtype)
        out[mask] = np.asarray(BUILTINS[name]([self.lanes(a)[mask].astype(work) for a in args], work)).astype(dtype)
        return (out,)


def _dim(op: Operation) -> int:
    return "xyz".index(op.dimension.data.value)


# Arithmetic on lanes --------------------------------------------------------------------------


def _signed(x: Any) -> Any:
    """Integer lanes read as signed: i1 true is -1."""
    return -np.asarray(x).astype(np.int8) if np.asarray(x).dtype == np.bool_ else x


def _unsigned(x: Any) -> Any:
    x = np.asarray(x)
    return x.astype(np.dtype(f"u{x.dtype.itemsize}"))


def _wrap(x: Any, dtype: np.dtype) -> Any:
    """An integer result in `dtype`, wrapped (i1 keeps the low bit)."""
    return np.bitwise_and(x, 1).astype(np.bool_) if dtype == np.bool_ else np.asarray(x).astype(dtype)


def _integer(fn: Callable[..., Any], signed: bool, a: Any, b: Any) -> tuple[Any, ...]:
    read = _signed if signed else _unsigned
    return (_wrap(fn(read(a), read(b)), np.asarray(a).dtype),)


def _trunc_divide(a: Any, b: Any) -> Any:
    q = np.floor_divide(a, b)
    return q + ((q < 0) & (q * b != a))


def _ceil_divide(a: Any, b: Any) -> Any:
    q = np.floor_divide(a, b)
    return q + (q * b != a)


def _cmpf(predicate: int, a: Any, b: Any) -> Any:
    ordered = ~(np.isnan(a) | np.isnan(b))
    if predicate in (0, 15):
        return np.broadcast_to(np.bool_(predicate == 15), np.broadcast(a, b).shape)
    if predicate in (7, 14):
        return ordered if predicate == 7 else ~ordered
    compare = _COMPARISONS[predicate - 1 if predicate < 7 else predicate - 8]
    return ordered & compare(a, b) if predicate < 7 else ~ordered | compare(a, b)


_COMPARISONS = (np.equal, np.greater, np.greater_equal, np.less, np.less_equal, np.not_equal)
_CMPI = ((True, np.equal), (True, np.not_equal), (True, np.less), (True, np.less_equal),
         (True, np.greater), (True, np.greater_equal), (False, np.less), (False, np.less_equal),
         (False, np.greater), (False, np.greater_equal))


def _cmpi(op: arith.CmpiOp, a: Any, b: Any) -> Any:
    signed, compare = _CMPI[op.predicate.value.data]
    read = _signed if signed else _unsigned
    return compare(read(a), read(b))


def _result_dtype(op: Operation) -> np.dtype:
    return element_dtype(op.results[0].type)


def _int_cast(x: Any, op: Operation) -> Any:
    return _wrap(_signed(x), _result_dtype(op))


def _fp_to_unsigned(x: Any, op: Operation) -> Any:
    dtype = _result_dtype(op)
    return _wrap(c_cast(x, np.dtype(f"u{dtype.itemsize}")), dtype)


_FLOAT_BINARY = {
    arith.AddfOp: np.add, arith.SubfOp: np.subtract, arith.MulfOp: np.multiply, arith.DivfOp: np.divide,
    arith.MaximumfOp: np.maximum, arith.MinimumfOp: np.minimum,
    arith.MaxnumfOp: np.fmax, arith.MinnumfOp: np.fmin,
}
# op -> (reads its operands as signed?, function)
_INTEGER_BINARY = {
    arith.AddiOp: (True, np.add), arith.SubiOp: (True, np.subtract), arith.MuliOp: (True, np.multiply),
    arith.AndIOp: (False, np.bitwise_and), arith.OrIOp: (False, np.bitwise_or),
    arith.XOrIOp: (False, np.bitwise_xor), arith.MaxSIOp: (True, np.maximum),
    arith.MinSIOp: (True, np.minimum), arith.MaxUIOp: (False, np.maximum),
    arith.MinUIOp: (False, np.minimum), arith.ShLIOp: (False, np.left_shift),
    arith.ShRSIOp: (True, np.right_shift), arith.ShRUIOp: (False, np.right_shift),
}
_DIVISIONS = {
    arith.DivSIOp: (True, _trunc_divide), arith.DivUIOp: (False, np.floor_divide),
    arith.RemSIOp: (True, np.fmod), arith.RemUIOp: (False, np.remainder),
    arith.FloorDivSIOp: (True, np.floor_divide), arith.CeilDivSIOp: (True, _ceil_divide),
    arith.CeilDivUIOp: (False, _ceil_divide),
}
# op -> function of (operand, op)
_CASTS: dict[type[Operation], Callable[[Any, Operation], Any]] = {
    arith.ExtFOp: lambda x, op: c_cast(x, _result_dtype(op)),
    arith.TruncFOp: lambda x, op: c_cast(x, _result_dtype(op)),
    arith.SIToFPOp: lambda x, op: c_cast(_signed(x), _result_dtype(op)),
    arith.UIToFPOp: lambda x, op: c_cast(_unsigned(x), _result_dtype(op)),
    arith.FPToSIOp: lambda x, op: c_cast(x, _result_dtype(op)),
    arith.FPToUIOp: _fp_to_unsigned,
    arith.ExtSIOp: _int_cast, arith.TruncIOp: _int_cast, arith.IndexCastOp: _int_cast,
    arith.ExtUIOp: lambda x, op: _wrap(_unsigned(x), _result_dtype(op)),
    arith.BitcastOp: lambda x, op: np.asarray(x).view(_result_dtype(op)),
}
_MATH_NAMES = {cls: name for name, cls in MATH_OPS.items()}

Handler = Callable[[_Blocks, Operation, list[Any], np.ndarray], Any]
_HANDLERS: dict[type[Operation], Handler] = {
    gpu.ThreadIdOp: _Blocks.thread_id, gpu.BlockIdOp: _Blocks.block_id,
    gpu.BlockDimOp: _Blocks.block_dim, gpu.GridDimOp: _Blocks.grid_dim, gpu.BarrierOp: _Blocks.barrier,
    scf.IfOp: _Blocks.if_, scf.ForOp: _Blocks.for_,
    memref.GetGlobalOp: _Blocks.get_global, memref.AllocaOp: _Blocks.alloca,
    memref.LoadOp: _Blocks.load, memref.StoreOp: _Blocks.store,
    tcgpu.AsyncCopyOp: _Blocks.async_copy, tcgpu.AsyncCommitOp: _Blocks.async_commit,
    tcgpu.AsyncWaitOp: _Blocks.async_wait,
    arith.ConstantOp: _Blocks.constant,
    arith.NegfOp: lambda self, op, args, mask: (np.negative(args[0]),),
    arith.SelectOp: lambda self, op, args, mask: (self.merge(args[0], args[1], args[2]),),
    arith.CmpiOp: lambda self, op, args, mask: (_cmpi(op, *args),),
    arith.CmpfOp: lambda self, op, args, mask: (_cmpf(op.predicate.value.data, *args),),
    BuiltinOp: _Blocks.math,
}
for _cls, _fn in _FLOAT_BINARY.items():
    _HANDLERS[_cls] = lambda self, op, args, mask, fn=_fn: (fn(*args),)
for _cls, (_is_signed, _fn) in _INTEGER_BINARY.items():
    _HANDLERS[_cls] = lambda self, op, args, mask, fn=_fn, s=_is_signed: _integer(fn, s, *args)
for _cls, (_is_signed, _fn) in _DIVISIONS.items():
    _HANDLERS[_cls] = lambda self, op, args, mask, fn=_fn, s=_is_signed: self.division(fn, s, op, args, mask)
for _cls, _fn in _CASTS.items():
    _HANDLERS[_cls] = lambda self, op, args, mask, fn=_fn: (fn(args[0], op),)
for _cls in _MATH_NAMES:
    _HANDLERS[_cls] = _Blocks.math


# Number formats (lowp) ---------------------------------------------------------------------


@cache
def _lowp_type(t: Any) -> tc_types.LowpType:
    """The TC type of a lowp dialect type (an unregistered format of its parameters)."""
    from tcir.lowp import FixedFormat, FloatFormat

    if isinstance(t, lowp.LowpFloatType):
        fmt = FloatFormat(f"lowp_{t}", t.exponent.data, t.mantissa.data, t.bias.data, t.kind.data)
    else:
        fmt = FixedFormat(f"lowp_{t}", t.integer.data, t.fraction.data, t.is_signed, t.overflow.data,
                          t.float_overflow.data)
    return tc_types.lowp_type(fmt)


_STANDARD = {"f16": tc_types.HALF, "bf16": tc_types.BFLOAT16, "f32": tc_types.FLOAT, "f64": tc_types.DOUBLE}


def _scalar_type(t: Any, unsigned: bool) -> tc_types.ScalarType:
    if lowp.is_lowp_type(t):
        return _lowp_type(t)
    if str(t) in _STANDARD:
        return _STANDARD[str(t)]
    return tc_types.TYPE_NAMES[f"{'u' if unsigned else ''}int{t.width.data}"]


def _check_modes(self: _Blocks, op: Operation, rounding: str) -> None:
    modes = (op.properties["rounding"].data.value if "rounding" in op.properties else rounding,
             op.properties["overflow"].data.value if "overflow" in op.properties else "format")
    if modes != (rounding, "format") or getattr(op, "random", None) is not None:
        raise self.error(f"`{op.name}` with rounding {modes[0]} and overflow {modes[1]} is not emulated "
                         f"(only rounding {rounding}, the format's overflow rule)")


def _lowp_cast(self: _Blocks, op: lowp.CastOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
    src = _scalar_type(op.input.type, op.unsigned_input is not None)
    dst = _scalar_type(op.result.type, op.unsigned_result is not None)
    _check_modes(self, op, reference_lowp.rounding_to(dst))
    x = np.asarray(args[0])
    if src.kind == "uint":
        x = x.view(src.numpy_dtype)
    out = reference_lowp.cast(x, src, dst, c_cast)
    return (out.view(_result_dtype(op)) if dst.is_integer else out,)


def _lowp_binary(symbol: str) -> Handler:
    def handler(self: _Blocks, op: Operation, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
        t = _lowp_type(op.operands[0].type)
        _check_modes(self, op, reference_lowp.rounding_to(t) if symbol == "/" else "nearest_even")
        try:
            return (reference_lowp.binary(symbol, args[0], args[1], t, mask),)
        except ZeroDivisionError as err:
            raise self.error(str(err)) from None
    return handler


_LOWP_PREDICATES = {"olt": "<", "ogt": ">", "ole": "<=", "oge": ">=", "oeq": "==", "une": "!=",
                    "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "eq": "==", "ne": "!="}


def _lowp_cmp(self: _Blocks, op: lowp.CmpOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
    predicate = op.predicate.data.value
    if predicate not in _LOWP_PREDICATES:
        raise self.error(f"`lowp.cmp {predicate}` is not emulated (TC's comparisons only)")
    return (reference_lowp.binary(_LOWP_PREDICATES[predicate], args[0], args[1], _lowp_type(op.lhs.type)),)


def _lowp_neg(self: _Blocks, op: lowp.NegOp, args: list[Any], mask: np.ndarray) -> tuple[Any, ...]:
    _check_modes(self, op, "nearest_even")
    return (reference_lowp.negate(args[0], _lowp_type(op.operand.type)),)


_HANDLERS[lowp.CastOp] = _lowp_cast
_HANDLERS[lowp.CmpOp] = _lowp_cmp
_HANDLERS[lowp.NegOp] = _lowp_neg
for _cls, _symbol in ((lowp.AddOp, "+"), (lowp.SubOp, "-"), (lowp.MulOp, "*"), (lowp.DivOp, "/"),
                      (lowp.MinOp, "min"), (lowp.MaxOp, "max")):
    _HANDLERS[_cls] = _lowp_binary(_symbol)
