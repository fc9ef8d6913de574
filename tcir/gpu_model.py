"""`tcir.gpu_report`: a performance model of a def's CUDA kernels, without a GPU.

Summary:
  `gpu_report(source, entry, *inputs, options=None, arch="sm_90")` compiles def `entry`
  for the CUDA target as a call with `inputs` would (their sizes, strides and dtypes,
  the mapping `options`; None: the naive preset), then describes each kernel from what
  the compiler knows: `ptxas -v` for its resources, and the mapped IR (the `gpu` stage,
  docs/gpu.md) for its memory accesses. Nothing runs; no GPU is needed, only `ptxas`.
  `tc-opt --emit=ptx --gpu-report` prints the same report after the PTX, as PTX
  comments. docs/gpu.md, "A performance model without a GPU", shows an example.

  The report is a dict:
    registers               most registers per thread of any kernel (ptxas -v)
    spills                  bytes of spill stores + spill loads, all kernels (ptxas -v)
    occupancy               theoretical occupancy of the least occupied kernel: resident
                            warps per SM / the most warps an SM holds (`occupancy`)
    global_load_efficiency  bytes the warps' global loads use / bytes of the 32-byte
                            sectors they touch (1.0: coalesced; 4/32: float32 lanes a
                            row apart); None without global loads of known address
    global_store_efficiency the same for global stores
    global_sectors_per_request  32-byte sectors per warp request (loads and stores)
    shared_bank_conflicts   extra wavefronts per shared-memory warp request: the most
                            distinct 4-byte words that one of the 32 banks serves, minus
                            1, averaged over requests (0: conflict-free, 31: 32-way)
    fma_per_shared_load     floating multiplies (`arith.mulf`, `math.fma`: a mul and an
                            add that LLVM contracts count once) per shared-memory load,
                            per thread; None without shared loads
    unknown_accesses        memory accesses whose address is not known per thread (an
                            indirect subscript, a loop-carried index): left out of the
                            metrics above, never guessed; `notes` says which
    kernels                 per launch: name, entry, block, grid, shared_bytes and the
                            metrics of that kernel alone, plus spill_stores, spill_loads,
                            occupancy_limited_by, blocks_per_sm, the access counts
                            (`accesses`: static, unknown, redundant, warp_requests,
                            thread_executions per kind), `access_details` (per counted
                            load or store: its requests, efficiency or conflicts) and
                            `async_copies` (its `tcgpu.async_copy` ops: static,
                            warp_requests, thread_executions)
    and entry, arch, options, notes (the unknown accesses, why).

How the memory metrics are computed (from the mapped IR, `memory_report`):
  Each kernel body is evaluated for one block, block (0, 0, 0), every thread at once:
  an index value is its value per thread at the *representative point* (block ids 0,
  every loop at its first iteration: thread ids, constants and what is computed from
  them, exactly, division and remainder included) plus an affine part in block-uniform
  symbols (block ids, loop iteration counters, block-uniform values computed
  non-affinely, such as the `min` of a loop bound). Scalar kernel arguments are the
  launch's constants. The address of a load or store is `offset + sum(stride * index)`
  of its memref layout, in bytes. Per warp (32 consecutive linear thread ids, x
  fastest) and per request:
  - global: the distinct 32-byte sectors the active lanes touch, and the distinct bytes
    they access; the buffer is taken 256-byte aligned (cudaMalloc), and where the
    uniform part of the address moves it by less than a sector (a block id times an odd
    row length), the sector count is averaged over the offsets modulo 32 bytes it can
    take;
  - shared: the 32 banks of 4 bytes; the conflict degree is the most distinct words
    mapped to one bank, minus 1 (a broadcast of one word is no conflict).
  An address that is not known per thread (it depends on a loaded value, a loop-carried
  value or a scalar argument of the host, or mixes thread ids and uniform symbols
  non-affinely) is counted in `unknown_accesses` and named in `notes`, never guessed.
  Weights (execution counts, not a static average): each request counts as often as its
  warp executes it in block 0. A loop multiplies by its trip count at the
  representative point (per warp, the most of its active lanes'). A condition on thread
  ids (partial tiles) is evaluated per thread at that point; a uniform comparison of
  block ids and loop counters (the first step of a reduction) counts for the share of
  their values where it holds (enumerated up to 65536 combinations); a condition on
  loaded data counts both branches as taken by every thread. A load of what the same
  straight-line code loaded or stored at the same address before (no barrier, no store
  to the buffer between; an `scf.if` body sees what precedes it, a loop body what its
  loop does not overwrite) is not counted: LLVM's GVN reuses the value (the IR of a
  register tile reloads each element for every use). Totals are ratios of sums over
  every warp request of every launch, each kernel's block counts times its number of
  blocks. Private memory (`memref.alloca`) is registers: not counted.
  Vector accesses: where straight-line code has each thread access 2 or 4 consecutive
  elements of one buffer (at most 16 bytes), the first of them aligned to their size
  at every iteration (kernel arguments are `ARG_ALIGNMENT`-aligned, shared
  buffers as their `memref.global` says), they are one request, as LLVM's load-store
  vectorizer makes them (ld.global.nc.v4, st.shared.v4 ...): for global memory, the
  sectors of all the lanes' bytes; for shared memory, served in phases of 32 / width
  lanes (quarter warps for 16 bytes), whose extra wavefronts add up. A store to an
  element the same run stored before replaces it (LLVM drops the dead store).
  Asynchronous copies (`tcgpu.async_copy`, cp.async: N consecutive elements, 4, 8 or 16
  bytes, per thread from global to shared memory, not through registers) are each one
  global load request of the N elements and one shared store request of the N elements,
  counted as a vector access of that width is (N = 1: as a scalar one), but never
  merged with other accesses nor reused: a load of the source or of the destination
  after the copy is not the copy's value. They are not shared loads
  (`fma_per_shared_load`). `tcgpu.async_commit` and `tcgpu.async_wait` cost nothing
  here; the barrier after the wait is a `gpu.barrier`. The IR is
  read before LLVM: hoisted loop-invariant loads, caches, 64-bit scalar shared accesses
  served per half-warp, the last partial iteration of a tiled loop, and blocks other
  than block 0 are not modeled.

Resources:
  `ptxas_usage(ptx, arch)` runs `ptxas -v -arch=ARCH` and reads, per kernel,
  "Used N registers", "N bytes spill stores", "N bytes spill loads" and "N bytes
  smem". PTX is generated for the newest of tcir's PTX targets (sm_80, sm_90) that
  `arch` runs (sm_86 and sm_89: sm_80 PTX assembled for them); sm_70 and sm_75 have
  occupancy limits here but tcir emits no PTX for them.

  `occupancy(registers, threads_per_block, shared_bytes, arch)` is the CUDA occupancy
  calculator's model (cuda_occupancy.h, CUDA 12: cudaOccMaxActiveBlocksPerMultiprocessor):
  resident blocks per SM are the least of
    warps:     max warps per SM // warps per block
    blocks:    max blocks per SM
    registers: 4 sub-partitions each holding (65536 / 4) // (registers * 32 rounded up
               to 256) warps; their sum // warps per block
    shared:    shared memory per SM // (the block's static shared memory + the runtime's
               reserved 1 KiB per block from sm_80 on, rounded up to 256 bytes on sm_7x,
               128 on sm_8x and sm_90); the largest carveout is assumed
  and occupancy = blocks * warps per block / max warps per SM. The per-architecture
  limits (`ARCH_LIMITS`) are those of the CUDA C++ Programming Guide, "Compute
  Capabilities", table "Technical Specifications per Compute Capability" (maximum
  resident blocks, warps and threads per SM, 32-bit registers per SM, shared memory per
  SM) and of cuda_occupancy.h (allocation granularities, reserved shared memory).

`tcir.gpu_report` is this module's `gpu_report`.

Example:
    A = np.zeros((64, 64), np.float32)
    report = tcir.gpu_report(MATMUL, "matmul", A, A, options="tile=16,16,16 mapToThreads=16,16 "
                             "useSharedMemory=true")
    report["registers"], report["occupancy"], report["fma_per_shared_load"]   # 35 0.75 0.5
    print(format_report(report))

Errors (`tcir.TcError`): no ptxas (install nvidia-cuda-nvcc-cu12 ...), an unknown
`arch`, a bad `entry`, inputs that a call would refuse, bad options, ptxas rejecting
the PTX.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects import gpu
from xdsl.dialects.builtin import IntegerAttr, MemRefType, ModuleOp
from xdsl.ir import Block, Operation, SSAValue

from .api import Kernel
from .backends import gpu_plan
from .backends.nvptx import ARCHS, arch_for, find_ptxas, run_ptxas
from .dialects.tcgpu import AsyncCopyOp
from .driver import CudaTarget, GpuMachine, Job, lower, tc_module
from .errors import TcError
from .frontend import check_source
from .mapping_options import MappingOptions
from .passes.convert_memref_to_llvm import elements_spanned
from .passes.convert_tc_to_gpu import ARG_ALIGNMENT

__all__ = ["ARCH_LIMITS", "ArchLimits", "format_report", "gpu_report", "memory_report", "module_report",
           "occupancy", "occupancy_limits", "ptxas_usage"]

WARP = 32
VECTOR_BYTES = 16  # the widest vector access (ld.v4.b32)
SECTOR_BYTES = 32
BANKS = 32
BANK_BYTES = 4
GLOBAL_ALIGNMENT = 256  # cudaMalloc's alignment: a buffer starts at a sector boundary


# Occupancy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchLimits:
    """What bounds the resident blocks of an SM (see the module docstring for sources)."""

    max_warps: int  # resident warps per SM
    max_blocks: int  # resident blocks per SM
    shared_per_sm: int  # bytes, the largest carveout
    shared_per_block: int  # bytes, the most one block may use (opt-in)
    reserved_shared: int  # bytes the runtime reserves per block
    shared_granularity: int  # bytes
    registers_per_sm: int = 65536
    register_granularity: int = 256  # registers, per warp
    max_registers_per_thread: int = 255
    sub_partitions: int = 4

    @property
    def max_threads(self) -> int:
        return self.max_warps * WARP


KIB = 1024
ARCH_LIMITS: dict[str, ArchLimits] = {
    "sm_70": ArchLimits(max_warps=64, max_blocks=32, shared_per_sm=96 * KIB, shared_per_block=96 * KIB,
                        reserved_shared=0, shared_granularity=256),
    "sm_75": ArchLimits(max_warps=32, max_blocks=16, shared_per_sm=64 * KIB, shared_per_block=64 * KIB,
                        reserved_shared=0, shared_granularity=256),
    "sm_80": ArchLimits(max_warps=64, max_blocks=32, shared_per_sm=164 * KIB, shared_per_block=163 * KIB,
                        reserved_shared=KIB, shared_granularity=128),
    "sm_86": ArchLimits(max_warps=48, max_blocks=16, shared_per_sm=100 * KIB, shared_per_block=99 * KIB,
                        reserved_shared=KIB, shared_granularity=128),
    "sm_89": ArchLimits(max_warps=48, max_blocks=24, shared_per_sm=100 * KIB, shared_per_block=99 * KIB,
                        reserved_shared=KIB, shared_granularity=128),
    "sm_90": ArchLimits(max_warps=64, max_blocks=32, shared_per_sm=228 * KIB, shared_per_block=227 * KIB,
                        reserved_shared=KIB, shared_granularity=128),
}


def _limits(arch: str) -> ArchLimits:
    if arch not in ARCH_LIMITS:
        raise TcError(f"unknown GPU architecture {arch!r} for the performance model; expected one of "
                      + ", ".join(ARCH_LIMITS))
    return ARCH_LIMITS[arch]


def _round_up(n: int, unit: int) -> int:
    return -(-n // unit) * unit


def occupancy_limits(registers: int, threads_per_block: int, shared_bytes: int = 0, arch: str = "sm_90") -> dict:
    """Resident blocks per SM as each resource limits them, the least of them, and the
    theoretical occupancy (resident warps / max warps per SM) of a kernel using
    `registers` per thread, `threads_per_block` and `shared_bytes` of static shared
    memory per block on `arch`. `limited_by` names the binding limits."""
    lim = _limits(arch)
    for name, value in (("registers", registers), ("threads_per_block", threads_per_block),
                        ("shared_bytes", shared_bytes)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise TcError(f"occupancy: {name} must be an integer >= 0, got {value!r}")
    if not 1 <= threads_per_block <= gpu_plan.MAX_THREADS_PER_BLOCK:
        raise TcError(f"occupancy: {threads_per_block} threads per block; CUDA allows 1 to "
                      f"{gpu_plan.MAX_THREADS_PER_BLOCK}")
    if registers > lim.max_registers_per_thread:
        raise TcError(f"occupancy: {registers} registers per thread; {arch} allows {lim.max_registers_per_thread}")
    if shared_bytes > lim.shared_per_block:
        raise TcError(f"occupancy: {shared_bytes} bytes of shared memory per block; {arch} allows "
                      f"{lim.shared_per_block}")
    warps = -(-threads_per_block // WARP)
    by = {"warps": lim.max_warps // warps, "blocks": lim.max_blocks}
    if registers:
        per_warp = _round_up(registers * WARP, lim.register_granularity)
        warps_by_registers = (lim.registers_per_sm // lim.sub_partitions // per_warp) * lim.sub_partitions
        by["registers"] = warps_by_registers // warps
    else:
        by["registers"] = lim.max_blocks
    per_block = _round_up(shared_bytes + lim.reserved_shared, lim.shared_granularity)
    by["shared"] = lim.shared_per_sm // per_block if per_block else lim.max_blocks
    blocks = min(by.values())
    return {"blocks_per_sm": blocks, "warps_per_sm": blocks * warps, "max_warps_per_sm": lim.max_warps,
            "occupancy": blocks * warps / lim.max_warps, "limits": by,
            "limited_by": [name for name, n in by.items() if n == blocks]}


def occupancy(registers: int, threads_per_block: int, shared_bytes: int = 0, arch: str = "sm_90") -> float:
    """The theoretical occupancy (0 to 1) of `occupancy_limits`."""
    return occupancy_limits(registers, threads_per_block, shared_bytes, arch)["occupancy"]


# ptxas -v --------------------------------------------------------------------------------

_ENTRY = re.compile(r"Compiling entry function '([^']+)' for '(\w+)'")
_SPILLS = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")


def _ptxas() -> str:
    path = find_ptxas()
    if path is None:
        raise TcError("ptxas not found: pip install nvidia-cuda-nvcc-cu12, or set CUDA_HOME "
                      "(the GPU report reads registers and spills from `ptxas -v`)")
    return path


def ptxas_usage(ptx: str, arch: str = "sm_90") -> dict[str, dict[str, int]]:
    """Per kernel of `ptx`, what `ptxas -v -arch=ARCH` says it uses: registers,
    spill_stores and spill_loads (bytes), stack (bytes) and shared_bytes (static)."""
    _limits(arch)
    _ptxas()
    _, text = run_ptxas(ptx, arch, "-v")
    usage: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    for line in text.splitlines():
        if m := _ENTRY.search(line):
            current = usage.setdefault(m[1], {"registers": 0, "spill_stores": 0, "spill_loads": 0, "stack": 0,
                                              "shared_bytes": 0})
        elif current is not None:
            if m := _SPILLS.search(line):
                current.update(stack=int(m[1]), spill_stores=int(m[2]), spill_loads=int(m[3]))
            if m := _USED.search(line):
                current["registers"] = int(m[1])
            if m := _SMEM.search(line):
                current["shared_bytes"] = int(m[1])
    return usage


# Index values per thread ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Value:
    """An integer value in one block: its value per thread at the representative point
    (`lanes`: block 0, every loop at its first iteration) and how it moves from there,
    affinely, with block-uniform symbols (`coeffs`: block ids, loop iteration counters,
    uniform values computed non-affinely). `exact` is False when it mixes thread ids and
    uniform symbols non-affinely: then `lanes` holds it at the representative point
    only, and `coeffs` is empty. `fraction`, for a uniform condition: the share of the
    blocks and loop iterations where it holds (None: not known)."""

    lanes: np.ndarray
    coeffs: tuple[tuple[str, int], ...] = ()
    exact: bool = True
    fraction: float | None = None

    @property
    def varies(self) -> bool:
        return bool(self.lanes.size) and bool((self.lanes != self.lanes[0]).any())

    @property
    def constant(self) -> int | None:
        return int(self.lanes[0]) if not self.coeffs and not self.varies else None


def _affine(terms: Sequence[tuple[int, _Value]], constant: int = 0) -> _Value:
    """sum(k * v) + constant (`terms` not empty)."""
    lanes = np.full_like(terms[0][1].lanes, constant)
    coeffs: dict[str, int] = {}
    for k, v in terms:
        lanes = lanes + k * v.lanes
        for s, c in v.coeffs:
            coeffs[s] = coeffs.get(s, 0) + k * c
    return _Value(lanes, tuple(sorted((s, c) for s, c in coeffs.items() if c)),
                  all(v.exact for _, v in terms))


def _floordiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.floor_divide(a, np.where(b == 0, 1, b))


def _truncdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    b = np.where(b == 0, 1, b)
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q)


def _ceildiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -np.floor_divide(-a, np.where(b == 0, 1, b))


def _unsigned(f: Callable) -> Callable:
    return lambda a, b: f(a.astype(np.uint64), b.astype(np.uint64)).astype(np.int64)


# the integer ops evaluated per thread where not affine
_NONAFFINE: dict[str, Callable[..., np.ndarray]] = {
    "arith.muli": np.multiply,
    "arith.divsi": _truncdiv, "arith.divui": _unsigned(lambda a, b: a // np.where(b == 0, 1, b)),
    "arith.floordivsi": _floordiv, "arith.ceildivsi": _ceildiv,
    "arith.ceildivui": _unsigned(lambda a, b: -(-a // np.where(b == 0, 1, b))),
    "arith.remsi": lambda a, b: a - _truncdiv(a, b) * b,
    "arith.remui": _unsigned(lambda a, b: a % np.where(b == 0, 1, b)),
    "arith.minsi": np.minimum, "arith.maxsi": np.maximum,
    "arith.minui": _unsigned(np.minimum), "arith.maxui": _unsigned(np.maximum),
    "arith.andi": np.bitwise_and, "arith.ori": np.bitwise_or, "arith.xori": np.bitwise_xor,
    "arith.shli": lambda a, b: np.left_shift(a, np.clip(b, 0, 63)),
    "arith.shrsi": lambda a, b: np.right_shift(a, np.clip(b, 0, 63)),
    "arith.select": lambda c, a, b: np.where(c != 0, a, b),
}
_PREDICATES: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    0: np.equal, 1: np.not_equal, 2: np.less, 3: np.less_equal, 4: np.greater, 5: np.greater_equal,
    6: _unsigned(np.less), 7: _unsigned(np.less_equal), 8: _unsigned(np.greater), 9: _unsigned(np.greater_equal),
}
_CASTS = ("arith.index_cast", "arith.index_castui", "arith.extsi", "arith.extui", "arith.trunci")
_FMA = ("arith.mulf", "math.fma")


# Accesses ---------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Weighted totals of one kind of access (global loads, shared stores ...)."""

    requests: float = 0.0  # warp requests
    threads: float = 0.0  # thread executions
    used: float = 0.0  # bytes the lanes access (global)
    fetched: float = 0.0  # bytes of the sectors touched (global)
    conflicts: float = 0.0  # extra wavefronts (shared)
    static: int = 0  # accesses in the IR
    unknown: int = 0  # of which the address is not known per thread
    redundant: int = 0  # loads of a value loaded or stored before (LLVM reuses it): not counted

    def add(self, other: _Tally, scale: float = 1.0) -> None:
        for name in ("requests", "threads", "used", "fetched", "conflicts"):
            setattr(self, name, getattr(self, name) + scale * getattr(other, name))
        self.static += other.static
        self.unknown += other.unknown
        self.redundant += other.redundant


KINDS = ("global_load", "global_store", "shared_load", "shared_store")


@dataclass
class _KernelMemory:
    tallies: dict[str, _Tally] = field(default_factory=lambda: {k: _Tally() for k in KINDS})
    fma: float = 0.0  # thread executions of mulf / fma
    data_conditions: int = 0  # conditions on loaded data (both branches counted)
    notes: list[str] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)  # per counted access
    async_copies: _Tally = field(default_factory=_Tally)  # tcgpu.async_copy: static, requests, threads


def _distinct(values: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Distinct values among the active lanes of each warp (last axis), 0 where none."""
    active = np.broadcast_to(active, values.shape)
    first = np.take_along_axis(values, np.argmax(active, axis=-1)[..., None], axis=-1)
    v = np.sort(np.where(active, values, first), axis=-1)
    return np.where(active.any(-1), 1 + (np.diff(v, axis=-1) != 0).sum(-1), 0)


def _bank_conflicts(words: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Per warp (last axis: lanes): the most distinct words one bank serves, minus 1."""
    active = np.broadcast_to(active, words.shape)
    first = np.take_along_axis(words, np.argmax(active, axis=-1)[..., None], axis=-1)
    w = np.where(active, words, first)
    w = w - w.min(axis=-1, keepdims=True)
    keys = np.sort((w % BANKS) * (1 << 40) + w, axis=-1)  # by bank, then word
    new = np.ones(keys.shape, bool)
    new[..., 1:] = keys[..., 1:] != keys[..., :-1]
    banks = (keys >> 40).reshape(-1, WARP)
    rows = np.repeat(np.arange(banks.shape[0]), WARP)
    counts = np.zeros((banks.shape[0], BANKS), np.int64)
    np.add.at(counts, (rows, banks.ravel()), new.reshape(-1))
    return np.maximum(counts.max(-1).reshape(keys.shape[:-1]) - 1, 0)


_Key = tuple  # (buffer, address per thread as bytes, uniform coefficients): a value LLVM would reuse
_ENUMERATION_LIMIT = 1 << 16  # uniform conditions over at most this many symbol values are counted exactly


class _KernelWalk:
    """The memory accesses of one kernel for one block (see the module docstring)."""

    def __init__(self, kernel: gpu.FuncOp, launch: gpu_plan.Launch):
        self.kernel, self.block, self.grid = kernel, launch.block, launch.grid
        self.name = kernel.sym_name.data
        threads = math.prod(self.block)
        self.warps = -(-threads // WARP)
        linear = np.arange(self.warps * WARP, dtype=np.int64)
        x, y = self.block[0], self.block[1]
        self.ids = {"x": linear % x, "y": (linear // x) % y, "z": linear // (x * y)}
        self.zero = np.zeros(linear.size, np.int64)
        self.values: dict[SSAValue, _Value] = {}
        self.buffers: dict[SSAValue, tuple[str, MemRefType]] = {}
        self.ranges: dict[str, int] = {}  # symbol -> how many values it takes (0 .. n-1)
        self.symbols = 0
        self.runs: dict[tuple[SSAValue, str], _Run] = {}  # per (buffer, load/store): the open run
        self.alignments: dict[SSAValue, int] = {}  # shared buffers: their alignment in bytes
        self.result = _KernelMemory()
        body = kernel.body.block
        for arg, passed in zip(body.args, launch.args):
            if isinstance(arg.type, MemRefType):
                self.buffers[arg] = ("global", arg.type)
            elif isinstance(passed, gpu_plan.ScalarArg) and isinstance(passed.value, int):
                self.values[arg] = self.const(passed.value)
        self.walk(body, linear < threads, np.ones(self.warps), {})

    # values

    def symbol(self, name: str, values: int | None = None) -> _Value:
        """A new block-uniform symbol, 0 at the representative point, taking the values
        0 .. values-1 if known."""
        self.symbols += 1
        key = f"{name}#{self.symbols}"
        if values is not None:
            self.ranges[key] = values
        return _Value(self.zero, ((key, 1),))

    def const(self, n: int) -> _Value:
        return _Value(np.full_like(self.zero, n))

    def apply(self, name: str, f: Callable[..., np.ndarray], args: Sequence[_Value]) -> _Value:
        """`f` per thread: exact where no argument moves with uniform symbols; a new uniform
        symbol where none varies by thread; else inexact (at the representative point)."""
        lanes = f(*(a.lanes for a in args)).astype(np.int64)
        if not any(a.coeffs for a in args):
            return _Value(lanes, (), all(a.exact for a in args))
        if not any(a.varies for a in args):
            return _Value(lanes, self.symbol(name.removeprefix("arith.")).coeffs, all(a.exact for a in args),
                          self.fraction(f, args) if name == "cmpi" else None)
        return _Value(lanes, (), False)

    def fraction(self, predicate: Callable[..., np.ndarray], args: Sequence[_Value]) -> float | None:
        """The share of the values of the uniform symbols of `args` (block ids, loop
        counters) for which a uniform comparison holds, or None if they are not all known
        or too many."""
        symbols = sorted({s for a in args for s, _ in a.coeffs})
        if not all(s in self.ranges for s in symbols):
            return None
        if math.prod(self.ranges[s] for s in symbols) > _ENUMERATION_LIMIT:
            return None
        if any(self.ranges[s] == 0 for s in symbols):
            return 0.0
        grids = np.meshgrid(*(np.arange(self.ranges[s]) for s in symbols), indexing="ij")
        values = []
        for a in args:
            c = dict(a.coeffs)
            values.append(int(a.lanes[0]) + sum(c.get(s, 0) * g for s, g in zip(symbols, grids)))
        return float(np.mean(predicate(*values)))

    def get(self, value: SSAValue) -> _Value | None:
        return self.values.get(value)

    # the walk

    def walk(self, block: Block, mask: np.ndarray, weights: np.ndarray, available: dict[_Key, None]) -> None:
        for op in block.ops:
            if op.regions or op.name == "gpu.barrier":  # the end of straight-line code: of runs
                self.flush()
            self.visit(op, mask, weights, available)
        self.flush()

    def visit(self, op: Operation, mask: np.ndarray, weights: np.ndarray, available: dict[_Key, None]) -> None:
        name = op.name
        args = [self.get(v) for v in op.operands]
        known = all(a is not None for a in args)
        result = op.results[0] if op.results else None
        if name == "arith.constant":
            value = op.properties.get("value")
            if isinstance(value, IntegerAttr):
                self.values[result] = self.const(value.value.data)
        elif name == "gpu.thread_id":
            self.values[result] = _Value(self.ids[op.properties["dimension"].data.value])
        elif name == "gpu.block_id":
            d = "xyz".index(op.properties["dimension"].data.value)
            self.values[result] = self.symbol(f"block_id.{'xyz'[d]}", values=self.grid[d])
        elif name in ("gpu.block_dim", "gpu.grid_dim"):
            sizes = self.block if name == "gpu.block_dim" else self.grid
            self.values[result] = self.const(sizes["xyz".index(op.properties["dimension"].data.value)])
        elif name in ("arith.addi", "arith.subi") and known:
            self.values[result] = _affine([(1, args[0]), (1 if name == "arith.addi" else -1, args[1])])
        elif name == "arith.muli" and known and (args[0].constant is not None or args[1].constant is not None):
            k, v = (args[0].constant, args[1]) if args[0].constant is not None else (args[1].constant, args[0])
            self.values[result] = _affine([(k, v)])
        elif name in _NONAFFINE and known:
            self.values[result] = self.apply(name, _NONAFFINE[name], args)
        elif name == "arith.cmpi" and known:
            self.values[result] = self.apply("cmpi", _PREDICATES[op.properties["predicate"].value.data], args)
        elif name in _CASTS and known:
            self.values[result] = args[0]
        elif name == "scf.for":
            self.loop(op, args, mask, weights, available)
        elif name == "scf.if":
            self.branch(op, args[0], mask, weights, available)
        elif name == "gpu.barrier":
            available.clear()
        elif name == "memref.get_global" and isinstance(result.type, MemRefType):
            space = result.type.memory_space
            shared = isinstance(space, IntegerAttr) and space.value.data == 3
            self.buffers[result] = ("shared" if shared else "global", result.type)
            if shared:
                self.alignments[result] = _global_alignment(op, gpu_plan.element_dtype(result.type.element_type).itemsize)
        elif name in ("memref.alloca", "memref.alloc"):
            self.buffers[result] = ("private", result.type)
        elif name == "memref.load":
            self.access(op, op.operands[0], list(op.operands[1:]), "load", mask, weights, available)
        elif name == "memref.store":
            self.access(op, op.operands[1], list(op.operands[2:]), "store", mask, weights, available)
        elif isinstance(op, AsyncCopyOp):
            self.async_copy(op, mask, weights, available)
        elif name in _FMA:
            self.result.fma += self.thread_executions(mask, weights)
        elif op.regions:  # anything else with regions: walked as if run once
            self.nested(op, [(region, mask, weights) for region in op.regions], available)

    def per_warp(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(self.warps, WARP)

    def thread_executions(self, mask: np.ndarray, weights: np.ndarray) -> float:
        return float((self.per_warp(mask).sum(-1) * weights).sum())

    def nested(self, op: Operation, regions: list, available: dict[_Key, None]) -> None:
        """Walk regions of `op` that may run several times or not at all: what they write
        is no longer known to be available after `op`, nor at their start."""
        clobbered = _clobbered(op)
        inner = {} if clobbered is None else {k: None for k in available if k[0] not in clobbered}
        for region, mask, weights in regions:
            if region.blocks and mask.any():
                self.walk(region.blocks[0], mask, weights, dict(inner))
        for k in [k for k in available if clobbered is None or k[0] in clobbered]:
            del available[k]

    def loop(self, op: Operation, args: list[_Value | None], mask: np.ndarray, weights: np.ndarray,
             available: dict[_Key, None]) -> None:
        lb, ub, step = args[:3]
        iv = op.regions[0].blocks[0].args[0]
        trips = np.ones_like(self.zero)  # unknown bounds: counted once
        if lb is not None and ub is not None and step is not None:
            s = np.where(step.lanes > 0, step.lanes, 1)
            trips = np.where(step.lanes > 0, np.maximum(_ceildiv(ub.lanes - lb.lanes, s), 0), 1)
        inner = mask & (trips > 0)
        warp_trips = np.where(self.per_warp(inner), self.per_warp(trips), 0).max(-1)
        if lb is not None:
            k = step.constant if step is not None else None
            counter = self.symbol("iteration", values=int(warp_trips.max(initial=0)))
            self.values[iv] = _affine([(1, lb), (k if k is not None else 1, counter)])
        self.nested(op, [(op.regions[0], inner, weights * warp_trips)], available)

    def branch(self, op: Operation, cond: _Value | None, mask: np.ndarray, weights: np.ndarray,
               available: dict[_Key, None]) -> None:
        if cond is None:
            self.result.data_conditions += 1
            branches = [(mask, weights), (mask, weights)]
        elif cond.fraction is not None:  # uniform: taken in a share of the blocks and iterations
            branches = [(mask, weights * cond.fraction), (mask, weights * (1 - cond.fraction))]
        else:
            taken = cond.lanes != 0
            branches = [(mask & taken, weights), (mask & ~taken, weights)]
        self.nested(op, [(region, m, w) for region, (m, w) in zip(op.regions, branches)], available)

    def access(self, op: Operation, buffer: SSAValue, indices: list[SSAValue], what: str, mask: np.ndarray,
               weights: np.ndarray, available: dict[_Key, None]) -> None:
        space, t = self.buffers.get(buffer, ("global", buffer.type))
        if space == "private" or not isinstance(t, MemRefType):
            return
        tally = self.result.tallies[f"{space}_{what}"]
        label = f"{op.name} of {_buffer_name(buffer)} in {self.name}"
        address = self.address(label, t, indices, tally)
        if address is None:
            if what == "store":
                for k in [k for k in available if k[0] is buffer]:
                    del available[k]
            return
        key = (buffer, address.lanes.tobytes(), address.coeffs)
        if what == "load" and key in available:  # LLVM reuses the value loaded or stored before
            tally.redundant += 1
            return
        if what == "store":
            for k in [k for k in available if k[0] is buffer]:
                del available[k]
        available[key] = None
        size = gpu_plan.element_dtype(t.element_type).itemsize
        run = self.runs.get((buffer, what))
        if (run is not None and address.coeffs == run.first.coeffs
                and np.array_equal(mask, run.mask) and np.array_equal(weights, run.weights)):
            if what == "store" and any(np.array_equal(address.lanes, run.first.lanes + j) for j in range(run.count)):
                return  # the earlier store to the element is dead (LLVM drops it)
            if (run.count + 1) * size <= VECTOR_BYTES and run.count < 4 and np.array_equal(
                    address.lanes, run.first.lanes + run.count):
                run.count += 1
                return
        self.flush((buffer, what))
        alignment = self.alignments.get(buffer, ARG_ALIGNMENT)  # global memory: the contract's
        self.runs[(buffer, what)] = _Run(space, what, label, address, size, alignment, mask, weights)

    def address(self, label: str, t: MemRefType, indices: Sequence[SSAValue], tally: _Tally) -> _Value | None:
        """The address in bytes of element `indices` of a memref of type `t`, counting the
        access in `tally` (static, and unknown with a note where it is not known: None)."""
        tally.static += 1
        strides, offset = t.get_strides(), t.get_offset()
        values = [self.get(i) for i in indices]
        if strides is None or None in strides or offset is None:
            why = f"the memref {t} has a dynamic layout"
        elif any(v is None for v in values):
            why = "the address depends on a loaded value, a loop-carried value or a kernel argument"
        elif not all(v.exact for v in values):
            why = "the address mixes thread ids and block-uniform values non-affinely"
        else:
            return _affine([(s, v) for s, v in zip(strides, values)], offset) if values else self.const(offset)
        tally.unknown += 1
        self.result.notes.append(f"{label}: {why}; not counted")
        return None

    def async_copy(self, op: AsyncCopyOp, mask: np.ndarray, weights: np.ndarray,
                   available: dict[_Key, None]) -> None:
        """cp.async: one global load request of `elements` consecutive elements per
        thread and one shared store request of them, each counted as a vector access of
        that width (the op's contract: both addresses aligned to its bytes), never merged
        with other accesses; nothing it moves is in registers, so no later load reuses it."""
        elements = op.elements.value.data
        copies = self.result.async_copies
        copies.static += 1
        copies.requests += float(weights[self.per_warp(mask).any(-1)].sum())
        copies.threads += self.thread_executions(mask, weights)
        for k in [k for k in available if k[0] is op.dest]:
            del available[k]
        for buffer, indices, what in ((op.source, op.source_indices, "load"), (op.dest, op.dest_indices, "store")):
            space, t = self.buffers.get(buffer, ("global", buffer.type))
            if what == "store":
                space = "shared"  # the op's contract (memory space 3)
            if space == "private" or not isinstance(t, MemRefType):
                continue
            tally = self.result.tallies[f"{space}_{what}"]
            label = f"{op.name} {'of' if what == 'load' else 'to'} {_buffer_name(buffer)} in {self.name}"
            address = self.address(label, t, list(indices), tally)
            if address is None:
                continue
            size = gpu_plan.element_dtype(t.element_type).itemsize
            run = _Run(space, what, label, address, size, elements * size, mask, weights, elements, async_copy=True)
            self.tally(run, address, elements)

    def flush(self, key: tuple[SSAValue, str] | None = None) -> None:
        """Tally the open run of `key` (all of them: None): one vector request per warp
        where LLVM merges it (2 or 4 elements, aligned at every iteration), else each
        element alone."""
        for k in [key] if key is not None else list(self.runs):
            run = self.runs.pop(k, None)
            if run is None:
                continue
            if run.vector:
                self.tally(run, run.first, run.count)
                continue
            for j in range(run.count):
                self.tally(run, _affine([(1, run.first)], j), 1)

    def tally(self, run: _Run, address: _Value, width: int) -> None:
        """One warp request per warp of `width` consecutive elements per thread from
        `address` (a vector access when `width` > 1)."""
        space, size, mask, weights = run.space, run.size, run.mask, run.weights
        tally = self.result.tallies[f"{space}_{run.what}"]
        active = self.per_warp(mask)
        live = active.any(-1) & (weights > 0)
        if not live.any():
            return
        active, w = active[live], weights[live]
        lanes = self.per_warp(address.lanes * size)[live]
        modulus = SECTOR_BYTES if space == "global" else BANK_BYTES
        step = math.gcd(modulus, *(abs(c) * size for _, c in address.coeffs))
        shifted = lanes[None] + np.arange(0, modulus, step)[:, None, None]  # (offsets, warps, lanes)
        # each lane's `width` elements: (offsets, warps, lanes * width), lanes major
        shifted = (shifted[..., None] + size * np.arange(width)).reshape(*shifted.shape[:2], -1)
        elements = np.repeat(active, width, axis=-1)
        tally.requests += float(w.sum())
        tally.threads += float((active.sum(-1) * w).sum())
        access = run.label.rsplit(" in ", 1)[0]
        if width > 1:
            access += f" ({width} elements)" if run.async_copy else f" (vector of {width})"
        detail = {"access": access, "kind": f"{space}_{run.what}",
                  "warp_requests": float(w.sum())}
        if space == "global":
            sectors = _distinct(np.floor_divide(shifted, SECTOR_BYTES), elements[None]).mean(0)
            used = float((_distinct(shifted[0], elements) * size * w).sum())
            fetched = float((sectors * SECTOR_BYTES * w).sum())
            tally.used += used
            tally.fetched += fetched
            detail.update(efficiency=used / fetched, sectors_per_request=fetched / SECTOR_BYTES / float(w.sum()))
        else:
            # served in `width` phases of WARP / width lanes (128-bit accesses: quarter
            # warps), each phase WARP words; the extra wavefronts of the phases add up
            phases = shifted.reshape(*shifted.shape[:2], width, WARP)
            busy = elements.reshape(elements.shape[0], width, WARP)
            words = np.floor_divide(phases, BANK_BYTES)
            conflicts = float((_bank_conflicts(words, busy[None]).sum(-1).mean(0) * w).sum())
            tally.conflicts += conflicts
            detail.update(bank_conflicts=conflicts / float(w.sum()))
        self.result.details.append(detail)


@dataclass
class _Run:
    """Accesses by each thread of consecutive elements of one buffer in one stretch of
    straight-line code, `count` of them from `first`, with one mask and weights: LLVM's
    load-store vectorizer merges 2 or 4 into one vector access when every thread's
    first address is a multiple of their bytes at every iteration (the kernels'
    arguments are `ARG_ALIGNMENT`-aligned; shared buffers as their `memref.global`
    says)."""

    space: str
    what: str
    label: str
    first: _Value
    size: int
    alignment: int
    mask: np.ndarray
    weights: np.ndarray
    count: int = 1
    async_copy: bool = False  # a tcgpu.async_copy's load or store (cp.async): one request, never merged

    @property
    def vector(self) -> bool:
        span = self.count * self.size
        if self.count not in (2, 4) or self.alignment % span:
            return False
        return bool((self.first.lanes * self.size % span == 0).all()) and all(
            c * self.size % span == 0 for _, c in self.first.coeffs)


def _global_alignment(get_global: Operation, size: int) -> int:
    """The alignment of the `memref.global` a `memref.get_global` reads (shared memory):
    its attribute, else its element's `size`."""
    table = get_global.parent_op()
    while table is not None and not isinstance(table, (gpu.ModuleOp, ModuleOp)):
        table = table.parent_op()
    name = get_global.properties["name"].string_value()
    for op in table.body.block.ops if table is not None else ():
        if op.name == "memref.global" and op.properties["sym_name"].data == name:
            alignment = op.properties.get("alignment")
            return alignment.value.data if isinstance(alignment, IntegerAttr) else size
    return size


def _clobbered(op: Operation) -> set[SSAValue] | None:
    """The buffers that `op`'s regions store to, or None if they hold a barrier (or
    anything else that may write memory: a call)."""
    stored: set[SSAValue] = set()
    for inner in op.walk():
        if inner is op:
            continue
        if inner.name in ("gpu.barrier", "func.call", "llvm.call"):
            return None
        if inner.name == "memref.store":
            stored.add(inner.operands[1])
        elif isinstance(inner, AsyncCopyOp):
            stored.add(inner.dest)
    return stored


def _buffer_name(value: SSAValue) -> str:
    if value.name_hint:
        return f"%{value.name_hint}"
    owner = value.owner
    if isinstance(owner, Operation) and owner.name == "memref.get_global":
        return f"@{owner.properties['name'].string_value()}"
    return "a buffer"


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _metrics(memory: _KernelMemory) -> dict[str, Any]:
    t = memory.tallies
    shared = _Tally()
    shared.add(t["shared_load"])
    shared.add(t["shared_store"])
    requests = t["global_load"].requests + t["global_store"].requests
    fetched = t["global_load"].fetched + t["global_store"].fetched
    return {
        "global_load_efficiency": _ratio(t["global_load"].used, t["global_load"].fetched),
        "global_store_efficiency": _ratio(t["global_store"].used, t["global_store"].fetched),
        "global_sectors_per_request": _ratio(fetched / SECTOR_BYTES, requests),
        "shared_bank_conflicts": _ratio(shared.conflicts, shared.requests),
        "fma_per_shared_load": _ratio(memory.fma, t["shared_load"].threads),
        "unknown_accesses": sum(x.unknown for x in t.values()),
        "accesses": {kind: {"static": x.static, "unknown": x.unknown, "redundant": x.redundant,
                            "warp_requests": x.requests, "thread_executions": x.threads} for kind, x in t.items()},
        "fma_thread_executions": memory.fma,
        "data_dependent_conditions": memory.data_conditions,
        "async_copies": {"static": memory.async_copies.static, "warp_requests": memory.async_copies.requests,
                         "thread_executions": memory.async_copies.threads},
        "access_details": memory.details,
    }


def _launches(module: ModuleOp, entry: str | None) -> list[tuple[str, gpu_plan.Launch]]:
    hosts = [op.sym_name.data for op in module.ops if "tcir.gpu" in getattr(op, "attributes", {})]
    if not hosts:
        raise TcError("the module has no host function marked `tcir.gpu`: the GPU report reads the gpu stage "
                      "(docs/gpu.md)")
    if entry is not None:
        if entry not in hosts:
            raise TcError(f"the module has no host function @{entry} (its gpu-stage host functions: "
                          + (", ".join(f"@{h}" for h in hosts) or "none") + ")")
        hosts = [entry]
    return [(host, launch) for host in hosts for launch in gpu_plan.plan(module, host).launches]


def memory_report(module: ModuleOp, entry: str | None = None) -> list[dict[str, Any]]:
    """The memory metrics of each launch of the host function `entry` (every host
    function marked `tcir.gpu` if None) of a gpu-stage module: name, block, grid,
    shared_bytes (its `memref.global`s in memory space 3) and the metrics of
    `_metrics`, for the launch's block (see the module docstring)."""
    rows = []
    for host, launch in _launches(module, entry):
        kernel = gpu_plan.kernel_function(module, launch.kernel_module, launch.kernel)
        memory = _KernelWalk(kernel, launch).result
        rows.append({"entry": host, "name": launch.kernel, "block": list(launch.block), "grid": list(launch.grid),
                     "shared_bytes": _shared_bytes(module, launch.kernel_module, kernel),
                     **_metrics(memory), "notes": memory.notes, "_memory": memory})
    return rows


def _shared_bytes(module: ModuleOp, kernel_module: str, kernel: gpu.FuncOp) -> int:
    """Bytes of the shared buffers (memory space 3 globals) that `kernel` uses."""
    used = {op.properties["name"].string_value() for op in kernel.walk() if op.name == "memref.get_global"}
    total = 0
    for op in module.ops:
        if isinstance(op, gpu.ModuleOp) and op.sym_name.data == kernel_module:
            for g in op.body.block.ops:
                if g.name == "memref.global" and g.properties["sym_name"].data in used:
                    t = g.properties["type"]
                    space = t.memory_space
                    if isinstance(space, IntegerAttr) and space.value.data == 3 and t.has_static_shape():
                        # padded or column-first copies span more than their shape
                        total += elements_spanned(t) * gpu_plan.element_dtype(t.element_type).itemsize
    return total


# The report ----------------------------------------------------------------------------------


def _ptx_arch(arch: str) -> str:
    _limits(arch)
    major, minor = int(arch[3:-1]), int(arch[-1])
    try:
        return arch_for((major, minor))
    except TcError:
        raise TcError(f"the GPU report compiles tcir's PTX, which needs {ARCHS[0]} or newer; {arch} is older "
                      "(tcir.gpu_model.occupancy still models it)") from None


def module_report(module: ModuleOp, arch: str = "sm_90", ptx: str | None = None, entry: str | None = None,
                  options: str | None = None) -> dict[str, Any]:
    """The report of the host function `entry` of a gpu-stage module (every host function
    if None), with resources from `ptxas -v` on `ptx` (compiled from the module for
    `arch` if None)."""
    _limits(arch)
    _ptxas()
    if ptx is None:
        target = CudaTarget(GpuMachine(_ptx_arch(arch)))
        ptx = lower(module, target, "ptx", Job(), after="gpu")
    usage = ptxas_usage(ptx, arch)
    kernels, notes = [], []
    totals = {k: _Tally() for k in KINDS}
    fma = 0.0
    for row in memory_report(module, entry):
        memory: _KernelMemory = row.pop("_memory")
        resources = usage.get(row["name"])
        if resources is None:
            raise TcError(f"ptxas reported nothing for kernel {row['name']}")
        threads = math.prod(row["block"])
        shared = max(resources["shared_bytes"], row.pop("shared_bytes"))
        occ = occupancy_limits(resources["registers"], threads, shared, arch)
        kernels.append({"name": row.pop("name"), "entry": row.pop("entry"), "block": row.pop("block"),
                        "grid": row.pop("grid"), "shared_bytes": shared, "registers": resources["registers"],
                        "spill_stores": resources["spill_stores"], "spill_loads": resources["spill_loads"],
                        "spills": resources["spill_stores"] + resources["spill_loads"],
                        "occupancy": occ["occupancy"], "occupancy_limited_by": occ["limited_by"],
                        "blocks_per_sm": occ["blocks_per_sm"], **row})
        notes += row["notes"]
        blocks = math.prod(kernels[-1]["grid"])
        for kind in KINDS:
            totals[kind].add(memory.tallies[kind], blocks)
        fma += memory.fma * blocks
    total = _KernelMemory(totals, fma)
    metrics = _metrics(total)
    entries = list(dict.fromkeys(k["entry"] for k in kernels))
    return {
        "entry": entry if entry is not None or len(entries) != 1 else entries[0], "arch": arch, "options": options,
        "registers": max((k["registers"] for k in kernels), default=0),
        "spills": sum(k["spills"] for k in kernels),
        "occupancy": min((k["occupancy"] for k in kernels), default=None),
        **{k: metrics[k] for k in ("global_load_efficiency", "global_store_efficiency", "global_sectors_per_request",
                                   "shared_bank_conflicts", "fma_per_shared_load", "unknown_accesses")},
        "kernels": kernels, "notes": notes,
    }


def _options(options: object) -> MappingOptions:
    if options is None:
        return MappingOptions()
    if isinstance(options, MappingOptions):
        return options.copy()
    if isinstance(options, str):
        return MappingOptions(options) if options in MappingOptions.PRESETS else MappingOptions.parse(options)
    raise TcError(f"options= must be a tcir.MappingOptions, its text form, a preset's name or None, "
                  f"not {type(options).__name__}")


def gpu_report(source: str, entry: str, *inputs, options=None, arch: str = "sm_90",
               filename: str = "<string>") -> dict[str, Any]:
    """The performance model of def `entry` of `source` compiled for the CUDA target as a
    call with `inputs` (NumPy arrays or scalars, checked as a call checks them) under
    `options` (None: the naive preset) would be, for `arch` (sm_80 ... sm_90). See the
    module docstring for the keys and how each is computed. Needs ptxas, not a GPU."""
    if not isinstance(arch, str):
        raise TcError(f"arch= must be a GPU architecture name such as 'sm_90', not {arch!r}")
    ptx_arch = _ptx_arch(arch)
    _ptxas()
    program = check_source(source, filename)
    if entry not in program.defs:
        raise TcError(f"no def named `{entry}` in {filename}; the source defines "
                      + ", ".join(f"`{n}`" for n in program.defs))
    mapping = _options(options)
    layout = Kernel(program, entry, "cpu", mapping).prepare(inputs)[3]
    target = CudaTarget(GpuMachine(ptx_arch))
    job = Job(layout, mapping)
    module = lower(tc_module(program, entry), target, "gpu", job)
    ptx = lower(module, target, "ptx", job, after="gpu")
    return module_report(module, arch, ptx, entry, str(mapping))


def _number(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def format_report(report: Mapping[str, Any]) -> str:
    """The report as text lines (what `tc-opt --gpu-report` prints, as PTX comments)."""
    lines = [f"gpu-report{' @' + report['entry'] if report.get('entry') else ''} for {report['arch']}"]
    if report.get("options"):
        lines.append(f"  options: {report['options']}")
    lines += [f"  registers {report['registers']}, spills {report['spills']} bytes, "
             f"occupancy {_number(report['occupancy'])}",
             f"  global load efficiency {_number(report['global_load_efficiency'])}, "
             f"store efficiency {_number(report['global_store_efficiency'])}, "
             f"{_number(report['global_sectors_per_request'], 1)} sectors per request",
             f"  shared bank conflicts {_number(report['shared_bank_conflicts'])} per request, "
             f"fma per shared load {_number(report['fma_per_shared_load'])}, "
             f"unknown accesses {report['unknown_accesses']}"]
    for k in report["kernels"]:
        lines.append(f"  kernel {k['name']}: block {'x'.join(map(str, k['block']))}, "
                     f"grid {'x'.join(map(str, k['grid']))}, shared {k['shared_bytes']} bytes, "
                     f"registers {k['registers']}, spills {k['spills']} bytes, occupancy {_number(k['occupancy'])} "
                     f"(limited by {', '.join(k['occupancy_limited_by'])}), "
                     f"load efficiency {_number(k['global_load_efficiency'])}, "
                     f"store efficiency {_number(k['global_store_efficiency'])}, "
                     f"bank conflicts {_number(k['shared_bank_conflicts'])}, "
                     f"fma per shared load {_number(k['fma_per_shared_load'])}")
    lines += [f"  note: {n}" for n in report["notes"]]
    return "\n".join(lines)
