"""The autotuner's search space: the mapping options worth trying for one def at given sizes.

Summary:
  `SearchSpace.for_def(definition, sizes, target)` derives, from a checked def and the
  values of its sizes, the options that matter for its band structure, as *genes*:
  named tuples of choices (`space.genes`), a candidate being one choice per gene.

  - `tile[i]` for each loop position i of the deepest statement: 0 (untiled) and
    Tensor Comprehensions' `powers2andCeilDivisors` of the extent E at that position
    (the powers of two and the ceil(E / 2^k)) up to E. The extent at position i is the
    largest one among the statements' i-th iterators (an approximation: the CPU and GPU
    mappings may reorder band members).
  - `unroll` (1 to 32, powers of two), `outerScheduleFusionStrategy` (Max,
    Preserve3Coincident, Min) and `fixParametersBeforeScheduling`; `splitReduction`
    (0 and the powers of two up to `MAX_SPLIT` that split some reduction of the def,
    passes/split_reduction.py) when the def has a reduction long enough. Not
    `intraTileScheduleFusionStrategy`: tcir does not re-schedule point loops, so it
    changes nothing (it would triple the space for nothing).
  - For `cuda` also `mapToThreads[0..2]` and `mapToBlocks[0..2]` (a trailing 1 is an
    absent dimension; powers of two for threads, TC's divisors and powers of two of the
    extents and of 256 for blocks, within `GpuLimits`; threads per block at most
    `max_threads_per_block`), `useSharedMemory`, `usePrivateMemory`,
    `unrollCopyShared`, `useReadOnlyCache`, `pipelineShared`, `maxSharedMemory` (0, all the device has, or
    a power of two from 4 KiB below that), `privateDepth` and `sharedDepth` (0 to the
    loop depth; tcir ignores both today).

  Options outside the genes (skewing, presets' CUDA sizes on a CPU, ...) are not
  searched: candidates copy them from a template (`like`, the naive preset by default).
  `space.is_valid(options)` holds for exactly the options whose genes take one of their
  choices (the tile count is the loop depth) within the device's limits, whatever their
  other options; every candidate the space makes is valid. Sampling (`random`, `mutate`,
  `crossover`) takes a `random.Random`, so a seeded search is reproducible.

  `space.features(options)` describes a candidate to a cost model (floats, log2-scaled
  where sizes vary by orders of magnitude; see `FEATURE_NAMES` via `feature_names`).
  Footprints are approximate: a tensor access touches, per dimension, 1 + sum(|coef| *
  (tiled extent - 1)) elements of its affine subscript (the whole dimension for an
  indirect one), capped by the dimension; a tile's footprint is the sum over the
  accesses of one statement, and the def's the largest over its statements (as if each
  statement ran its own tiles). The tiled extent of a loop is its tile size, or its
  whole extent when untiled.

Example:
    from tcir.frontend import check_source
    d = check_source("def mm(float(M,K) A, float(K,N) B) -> (C) { C(m,n) +=! A(m,r_k) * B(r_k,n) }").defs["mm"]
    space = SearchSpace.for_def(d, {"M": 256, "K": 256, "N": 256}, target="cpu")
    rng = random.Random(0)
    options = space.random(rng)                      # a MappingOptions with 3 tile sizes
    child = space.crossover([options, space.random(rng), space.random(rng)], rng)
    assert space.is_valid(space.mutate(child, rng, rate=0.2))
    space.features(options)                          # [log2 tile sizes, footprint, ...]
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

from ..bounds import concrete_ranges, shapes
from ..errors import TcError
from ..frontend.checked import CheckedDef, CheckedStmt, reads
from ..frontend.ranges import affine_form
from ..mapping_options import FUSION_STRATEGIES, MappingOptions
from ..passes.split_reduction import split_variable

__all__ = ["CpuLimits", "GpuLimits", "SearchSpace", "TARGETS", "ceil_divisors_and_powers2"]

TARGETS = ("cpu", "cuda")
UNROLL_CHOICES = (1, 2, 4, 8, 16, 32)
MAX_SPLIT = 1024  # the most partial results of a split reduction the space tries
BOOLEANS = (False, True)
SHARED_MEMORY_STEP = 4096  # the smallest maxSharedMemory tried, in bytes
# how many times `random`, `mutate` and `crossover` draw before giving up (TC: 1000)
MAX_DRAWS = 1000
_DIM3 = ("mapToThreads", "mapToBlocks")  # options whose genes are their x, y, z sizes


@dataclass(frozen=True)
class CpuLimits:
    """The CPU the features compare tiles with: its cores and data cache sizes in bytes.

    The cache sizes default to constants (a 32 KiB L1 and a 1 MiB L2 per core), so that
    features are the same on every machine with as many cores; `detect()` reads them
    from Linux's /sys instead."""

    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    l1_bytes: int = 32 * 1024
    l2_bytes: int = 1024 * 1024

    @classmethod
    def detect(cls) -> CpuLimits:
        """This machine's data caches from /sys (the defaults where it has none)."""
        found = {}
        for index in range(8):
            folder = f"/sys/devices/system/cpu/cpu0/cache/index{index}"
            try:
                with open(f"{folder}/level") as level, open(f"{folder}/type") as kind, open(f"{folder}/size") as size:
                    if kind.read().strip() in ("Data", "Unified"):
                        found[int(level.read())] = _bytes(size.read().strip())
            except (OSError, ValueError):
                continue
        return cls(l1_bytes=found.get(1, cls.l1_bytes), l2_bytes=found.get(2, cls.l2_bytes))


def _bytes(text: str) -> int:
    """`32K` -> 32768 (the notation of /sys cache sizes)."""
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:].upper(), 1)
    return int(text.rstrip("KMGkmg")) * scale


@dataclass(frozen=True)
class GpuLimits:
    """A CUDA device's limits; the defaults are CUDA's for compute capability 8.0 and
    9.0 (static shared memory per block: 48 KiB) and an H100's 132 SMs."""

    max_threads_per_block: int = 1024
    max_block_dims: tuple[int, int, int] = (1024, 1024, 64)
    max_grid_dims: tuple[int, int, int] = (2**31 - 1, 65535, 65535)
    shared_memory_per_block: int = 48 * 1024
    sm_count: int = 132
    warp_size: int = 32


def ceil_divisors_and_powers2(value: int) -> tuple[int, ...]:
    """TC's `powers2andCeilDivisors`: the powers of two up to the first one >= value,
    and ceil(value / p) for each of them: 10 -> (1, 2, 3, 4, 5, 8, 10, 16)."""
    powers = [2**k for k in range(math.ceil(math.log2(value)) + 1)]
    return tuple(sorted(set(powers) | {-(-value // p) for p in powers if p <= value}))


def _up_to(values: Sequence[int], limit: int) -> tuple[int, ...]:
    return tuple(v for v in values if v <= limit)


@dataclass(frozen=True)
class _Access:
    """A tensor access of a statement: its element size and, per tensor dimension, the
    dimension's size and the subscript's (loop position, |coefficient|) terms (None: an
    indirect subscript)."""

    element_bytes: int
    dims: tuple[tuple[int, tuple[tuple[int, int], ...] | None], ...]

    def footprint(self, tiled: Sequence[int]) -> int:
        """Bytes one tile touches when the loop at position p runs `tiled[p]` times."""
        elements = 1
        for size, terms in self.dims:
            span = size if terms is None else 1 + sum(c * (tiled[p] - 1) for p, c in terms)
            elements *= min(size, span)
        return elements * self.element_bytes


@dataclass(frozen=True)
class _Nest:
    """A statement's loop nest: the extent of each loop position and its accesses."""

    extents: tuple[int, ...]
    accesses: tuple[_Access, ...]

    def tiled(self, tile: Sequence[int]) -> tuple[int, ...]:
        """The iterations of each loop inside one tile (0 or no size: the whole loop)."""
        return tuple(min(tile[p], e) if p < len(tile) and tile[p] > 0 else e for p, e in enumerate(self.extents))

    def tiles(self, tiled: Sequence[int]) -> int:
        return math.prod(-(-e // t) for e, t in zip(self.extents, tiled))

    def outer_trips(self, tile: Sequence[int]) -> int:
        """The iterations of the outermost (parallel) loop: the tiles of position 0, or
        all of its loop when untiled."""
        if not self.extents:
            return 1
        return -(-self.extents[0] // tile[0]) if tile and tile[0] > 0 else self.extents[0]


def _nest(d: CheckedDef, stmt: CheckedStmt, sizes: Mapping[str, int], shape_of: dict) -> _Nest:
    ranges = concrete_ranges(stmt, sizes)
    position = {v: p for p, v in enumerate(stmt.iterators)}
    written = (stmt.target, tuple(stmt.write_subscripts()))  # a scatter-add's computed ones: whole dimensions
    subscripts = dict.fromkeys([written] + [(r.tensor, r.indices) for r in reads(stmt.rhs)])
    accesses = []
    for tensor, indices in subscripts:
        dims = []
        for size, index in zip(shape_of[tensor], indices):
            form = affine_form(index)
            terms = None if form is None else tuple((position[v], abs(c)) for v, c in form.vars if v in position)
            dims.append((max(1, size), terms))
        accesses.append(_Access(max(1, d.tensors[tensor].dtype.bits // 8), tuple(dims)))
    extents = tuple(max(1, ranges[v][1] - ranges[v][0]) for v in stmt.iterators)
    return _Nest(extents, tuple(accesses))


def _split_choices(d: CheckedDef, sizes: Mapping[str, int]) -> tuple[int, ...]:
    """The `splitReduction` values that split some reduction of `d`: powers of two up to
    `MAX_SPLIT` (none if no reduction is long enough)."""
    powers = [2**k for k in range(1, MAX_SPLIT.bit_length())]
    return tuple(p for p in powers if any(split_variable(d, s, p, sizes) for s in d.stmts))


def _log2(x: float) -> float:
    return math.log2(max(x, 1))


class SearchSpace:
    """The mapping options of one def at given sizes worth trying (module docstring).

    Attributes: `genes` (gene name -> tuple of choices, in a fixed order), `target`,
    `device` (`CpuLimits` or `GpuLimits`), `extents` (the extent of each loop position),
    `size` (the number of distinct candidates)."""

    def __init__(self, nests: Sequence[_Nest], target: str, device: CpuLimits | GpuLimits,
                 split_choices: Sequence[int] = ()):
        self.target, self.device, self._nests = target, device, tuple(nests)
        depth = max((len(n.extents) for n in nests), default=0)
        self.extents = tuple(max(n.extents[p] for n in nests if p < len(n.extents)) for p in range(depth))
        self.genes: dict[str, tuple] = {
            "outerScheduleFusionStrategy": FUSION_STRATEGIES,
            "fixParametersBeforeScheduling": BOOLEANS,
            **{f"tile[{p}]": (0,) + _up_to(ceil_divisors_and_powers2(e), e) for p, e in enumerate(self.extents)},
            "unroll": UNROLL_CHOICES,
        }
        if split_choices:
            self.genes["splitReduction"] = (0, *split_choices)
        self._threads: list[tuple[int, int, int]] = []  # the feasible mapToThreads[0..2]
        if target == "cuda":
            self.genes.update(self._cuda_genes(device))
            self._threads = [t for t in product(*(self.genes[f"mapToThreads[{k}]"] for k in range(3)))
                             if math.prod(t) <= device.max_threads_per_block]
        self._choices = {gene: frozenset(choices) for gene, choices in self.genes.items()}

    @classmethod
    def for_def(cls, definition: CheckedDef, sizes: Mapping[str, int], target: str = "cpu",
                device: CpuLimits | GpuLimits | None = None) -> SearchSpace:
        """The space of `definition` (a checked def) with these size values, for target
        "cpu" (`device`: a `CpuLimits`, default `CpuLimits()`) or "cuda" (a `GpuLimits`,
        default `GpuLimits()`). A missing size, or one that empties an inferred range,
        is a `TcError`."""
        if target not in TARGETS:
            raise TcError(f"unknown target `{target}`; expected one of {', '.join(TARGETS)}")
        kind = CpuLimits if target == "cpu" else GpuLimits
        device = kind() if device is None else device
        if not isinstance(device, kind):
            raise TcError(f"the device of target `{target}` must be a {kind.__name__}, got {device!r}")
        missing = [s for s in definition.sizes if s not in sizes]
        if missing:
            raise TcError(f"the search space of `{definition.name}` needs the value of size "
                          + ", ".join(f"`{s}`" for s in missing))
        sizes = {name: int(value) for name, value in sizes.items()}
        shape_of = shapes(definition, sizes)
        return cls([_nest(definition, s, sizes, shape_of) for s in definition.stmts], target, device,
                   _split_choices(definition, sizes))

    def _cuda_genes(self, gpu: GpuLimits) -> dict[str, tuple]:
        powers = [2**k for k in range(gpu.max_threads_per_block.bit_length())]
        block_sizes = sorted(set().union(*(ceil_divisors_and_powers2(e) for e in (*self.extents, 256))))
        memory = [2**k for k in range(SHARED_MEMORY_STEP.bit_length() - 1, gpu.shared_memory_per_block.bit_length())
                  if 2**k < gpu.shared_memory_per_block]
        return {
            **{f"mapToThreads[{k}]": _up_to(powers, limit) for k, limit in enumerate(gpu.max_block_dims)},
            **{f"mapToBlocks[{k}]": _up_to(block_sizes, limit) for k, limit in enumerate(gpu.max_grid_dims)},
            "useSharedMemory": BOOLEANS, "usePrivateMemory": BOOLEANS, "unrollCopyShared": BOOLEANS,
            "useReadOnlyCache": BOOLEANS, "pipelineShared": BOOLEANS,
            "maxSharedMemory": (0, *memory),
            "privateDepth": tuple(range(len(self.extents) + 1)),
            "sharedDepth": tuple(range(len(self.extents) + 1)),
        }

    @property
    def depth(self) -> int:
        """The number of tile sizes: the loop depth of the deepest statement."""
        return len(self.extents)

    @property
    def size(self) -> int:
        """How many distinct candidates the space holds (for one template)."""
        free = math.prod(len(c) for gene, c in self.genes.items() if not gene.startswith("mapToThreads["))
        return free * (len(self._threads) if self.target == "cuda" else 1)

    # Genomes: {gene: value}, one value per gene ------------------------------------------

    def _genome(self, options: MappingOptions) -> dict:
        """The gene values of `options`, as they are (maybe outside the choices)."""
        genome = {}
        for gene in self.genes:
            name, _, index = gene.partition("[")
            if not index:
                genome[gene] = options[name]
                continue
            values, p = options[name], int(index[:-1])
            genome[gene] = values[p] if p < len(values) else (0 if name == "tile" else 1)
        return genome

    def _options(self, genome: Mapping, like: MappingOptions) -> MappingOptions:
        """`like` with the options of `genome`."""
        options = like.copy()
        for name in (g for g in self.genes if "[" not in g):
            getattr(options, name)(genome[name])
        options.tile(*(genome[f"tile[{p}]"] for p in range(self.depth)))
        if self.target == "cuda":
            for name in _DIM3:
                getattr(options, name)(*(genome[f"{name}[{k}]"] for k in range(3)))
        return options

    def _feasible(self, genome: Mapping) -> bool:
        """Whether the genes fit together (the threads of a block within the limit)."""
        if self.target != "cuda":
            return True
        threads = math.prod(genome[f"mapToThreads[{k}]"] for k in range(3))
        return threads <= self.device.max_threads_per_block

    def _snap(self, gene: str, value) -> object:
        """The choice of `gene` nearest `value` (log scale), or its first choice."""
        choices = self.genes[gene]
        if value in self._choices[gene]:
            return value
        if not isinstance(choices[0], int) or isinstance(choices[0], bool):
            return choices[0]
        return min(choices, key=lambda c: (abs(_log2(c + 1) - _log2(value + 1)), c))

    # The public operations ------------------------------------------------------------

    def is_valid(self, options: MappingOptions) -> bool:
        """Whether `options` is a candidate of this space: as many tile sizes as loops,
        every gene one of its choices, the threads of a block within the device's limit."""
        if not isinstance(options, MappingOptions) or len(options["tile"]) != self.depth:
            return False
        genome = self._genome(options)
        return all(v in self._choices[g] for g, v in genome.items()) and self._feasible(genome)

    def project(self, options: MappingOptions) -> MappingOptions:
        """The candidate nearest `options`: tile list cut or padded with 0 to the loop
        depth, every gene snapped to its nearest choice, the threads of a block halved
        (the largest dimension first) until they fit; the other options kept."""
        genome = {g: self._snap(g, v) for g, v in self._genome(options).items()}
        while not self._feasible(genome):
            k = max(range(3), key=lambda k: genome[f"mapToThreads[{k}]"])
            genome[f"mapToThreads[{k}]"] //= 2
        return self._options(genome, options)

    def random(self, rng: random.Random, like: MappingOptions | None = None) -> MappingOptions:
        """A candidate drawn uniformly; options outside the genes are `like`'s (default:
        the naive preset)."""
        genome = {gene: rng.choice(choices) for gene, choices in self.genes.items()
                  if not gene.startswith("mapToThreads[")}
        if self.target == "cuda":
            genome.update(zip((f"mapToThreads[{k}]" for k in range(3)), rng.choice(self._threads)))
        return self._options(genome, MappingOptions() if like is None else like)

    def mutate(self, options: MappingOptions, rng: random.Random, rate: float) -> MappingOptions:
        """TC's mutation: each gene of `options` (projected first) is redrawn with
        probability `rate`, again while the result is infeasible (at most MAX_DRAWS
        times, then `options` projected is returned)."""
        genome = self._genome(self.project(options))
        for _ in range(MAX_DRAWS):
            child = {g: rng.choice(self.genes[g]) if rng.random() < rate else v for g, v in genome.items()}
            if self._feasible(child):
                return self._options(child, options)
        return self.project(options)

    def crossover(self, parents: Sequence[MappingOptions], rng: random.Random) -> MappingOptions:
        """TC's crossover: each gene from one of `parents` (TC takes three), chosen
        uniformly, again while infeasible (then the first parent); options outside the
        genes are the first parent's."""
        if not parents:
            raise TcError("crossover needs at least one parent")
        genomes = [self._genome(self.project(p)) for p in parents]
        for _ in range(MAX_DRAWS):
            child = {g: rng.choice(genomes)[g] for g in self.genes}
            if self._feasible(child):
                return self._options(child, parents[0])
        return self.project(parents[0])

    # Features for a cost model ----------------------------------------------------------

    def features(self, options: MappingOptions) -> list[float]:
        """The cost model's description of `options` (floats in a fixed order: see
        `feature_names`). Also defined for options outside the space."""
        return list(self._features(options).values())

    @property
    def feature_names(self) -> list[str]:
        """The names of `features`' values, in their order."""
        return list(self._features(MappingOptions()))

    def _features(self, options: MappingOptions) -> dict[str, float]:
        tile = options["tile"]
        tiled = [n.tiled(tile) for n in self._nests]
        footprint = max((sum(a.footprint(t) for a in n.accesses) for n, t in zip(self._nests, tiled)), default=0)
        tiles = [n.tiles(t) for n, t in zip(self._nests, tiled)]
        traffic = sum(t * sum(a.footprint(x) for a in n.accesses) for n, x, t in zip(self._nests, tiled, tiles))
        parallel = max((n.outer_trips(tile) for n in self._nests), default=1)
        deepest = max(zip(self._nests, tiled), key=lambda nt: len(nt[0].extents), default=None)
        innermost = deepest[1][-1] if deepest and deepest[1] else 1
        features = {f"log2 tile[{p}]": _log2(min(tile[p], e) if p < len(tile) and tile[p] else e)
                    for p, e in enumerate(self.extents)}
        features.update({
            "log2 unroll": _log2(options["unroll"]),
            "log2 splitReduction": _log2(options["splitReduction"]),
            **{f"outer {s}": float(options["outerScheduleFusionStrategy"] == s) for s in FUSION_STRATEGIES},
            "fixParametersBeforeScheduling": float(options["fixParametersBeforeScheduling"]),
            "log2 footprint": _log2(footprint),
            "log2 tiles": _log2(sum(tiles)),
            "log2 traffic": _log2(traffic),
            "log2 parallel": _log2(parallel),
            "innermost multiple of 8": float(innermost % 8 == 0),
            "innermost multiple of 16": float(innermost % 16 == 0),
        })
        if self.target == "cuda":
            features.update(self._gpu_features(options, footprint, sum(tiles)))
        else:
            features.update(self._cpu_features(footprint, parallel))
        return features

    def _cpu_features(self, footprint: int, parallel: int) -> dict[str, float]:
        cpu = self.device
        rounds = -(-parallel // cpu.cores)
        return {
            "log2 footprint / L1": _log2(footprint) - math.log2(cpu.l1_bytes),
            "log2 footprint / L2": _log2(footprint) - math.log2(cpu.l2_bytes),
            "fits L1": float(footprint <= cpu.l1_bytes),
            "fits L2": float(footprint <= cpu.l2_bytes),
            "log2 parallel / cores": _log2(parallel) - math.log2(cpu.cores),
            "core balance": parallel / (rounds * cpu.cores),
        }

    def _gpu_features(self, options: MappingOptions, footprint: int, tiles: int) -> dict[str, float]:
        gpu = self.device
        threads = math.prod(options["mapToThreads"])
        blocks = min(math.prod(options["mapToBlocks"]), tiles)
        shared = min(options["maxSharedMemory"] or gpu.shared_memory_per_block, gpu.shared_memory_per_block)
        return {
            "log2 threads": _log2(threads),
            "warp multiple": float(threads % gpu.warp_size == 0),
            "log2 blocks": _log2(blocks),
            "log2 blocks / SMs": _log2(blocks) - math.log2(gpu.sm_count),
            "log2 footprint / shared": _log2(footprint) - math.log2(shared),
            "fits shared": float(footprint <= shared),
            "useSharedMemory": float(options["useSharedMemory"]),
            "usePrivateMemory": float(options["usePrivateMemory"]),
            "unrollCopyShared": float(options["unrollCopyShared"]),
            "useReadOnlyCache": float(options["useReadOnlyCache"]),
            "pipelineShared": float(options["pipelineShared"]),
            "privateDepth": float(options["privateDepth"]),
            "sharedDepth": float(options["sharedDepth"]),
        }
