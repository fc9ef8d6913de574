"""tcir.tuning.space: the autotuner's search space of mapping options for a def at sizes.

The property test draws defs (matmul, a two-statement fcrelu, a 1-D elementwise scale,
a 4-D convolution), sizes, targets and device limits, and checks that every option the
space makes (random, projected, mutated, crossed over) is valid by rules computed here
from the def, independently of the space: MappingOptions accepts it, as many tile sizes
as the deepest statement has loops, each 0 or within its loop's extent, and the CUDA
limits. The unit tests pin the choices (TC's powers2andCeilDivisors), the size, the
validity checks, projection, crossover and the footprint features."""

import math
import random
from itertools import product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from tcir import MappingOptions, TcError
from tcir.bounds import concrete_ranges
from tcir.frontend import check_source
from tcir.tuning.space import CpuLimits, GpuLimits, SearchSpace, ceil_divisors_and_powers2

SOURCES = {
    "matmul": "def matmul(float(M,K) A, float(K,N) B) -> (C) { C(m,n) +=! A(m,r_k) * B(r_k,n) }",
    "fcrelu": """def fcrelu(float(B,M) I, float(N,M) W1, float(N) B1) -> (O1, O2) {
        O1(b, n) +=! I(b, r_m) * W1(n, r_m)
        O2(b, n) = fmax(O1(b, n) + B1(n), 0)
    }""",
    "scale": "def scale(float(N) A, float s) -> (B) { B(i) = s * A(i) }",
    "conv": """def conv(float(N,C,H,W) I, float(F,C,KH,KW) W1) -> (O) {
        O(n, f, h, w) +=! I(n, r_c, h + r_kh, w + r_kw) * W1(f, r_c, r_kh, r_kw)
    }""",
}
DEFS = {name: check_source(source).defs[name] for name, source in SOURCES.items()}
DEPTH = {"matmul": 3, "fcrelu": 3, "scale": 1, "conv": 7}
CPU = CpuLimits(cores=2)
CPU_GENES = ["outerScheduleFusionStrategy", "fixParametersBeforeScheduling",
             "unroll"]
CUDA_GENES = CPU_GENES + [f"{o}[{k}]" for o in ("mapToThreads", "mapToBlocks") for k in range(3)] + [
    "useSharedMemory", "usePrivateMemory", "unrollCopyShared", "useReadOnlyCache", "pipelineShared", "maxSharedMemory",
    "privateDepth", "sharedDepth"]


def space_of(name, target="cpu", device=None, **sizes):
    return SearchSpace.for_def(DEFS[name], sizes, target=target, device=device or (CPU if target == "cpu" else None))


def extents(name, sizes):
    """The extent of each loop position, from the def's ranges (the largest over statements)."""
    found = {}
    for stmt in DEFS[name].stmts:
        for p, (lo, hi) in enumerate(concrete_ranges(stmt, sizes)[v] for v in stmt.iterators):
            found[p] = max(found.get(p, 0), hi - lo)
    return [found[p] for p in range(len(found))]


@st.composite
def sizes_for(draw, name):
    size = st.integers(1, 300)
    if name == "conv":
        kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        return dict(N=draw(st.integers(1, 8)), C=draw(st.integers(1, 16)), F=draw(st.integers(1, 16)),
                    KH=kh, KW=kw, H=kh + draw(st.integers(0, 40)), W=kw + draw(st.integers(0, 40)))
    return {s: draw(size) for s in DEFS[name].sizes}


GPUS = st.builds(GpuLimits, max_threads_per_block=st.sampled_from([1024, 512, 256]),
                 shared_memory_per_block=st.sampled_from([48 * 1024, 96 * 1024, 16 * 1024, 1024]),
                 sm_count=st.sampled_from([1, 80, 132]))


def check_valid(space, options, name, sizes, target, device):
    """The validity rules, computed from the def and the limits, not from the space."""
    assert isinstance(options, MappingOptions)
    assert MappingOptions.parse(str(options)) == options
    assert space.is_valid(options)
    tile = options["tile"]
    assert len(tile) == DEPTH[name] == space.depth
    for size, extent in zip(tile, extents(name, sizes)):
        assert size == 0 or 1 <= size <= extent
    assert options["unroll"] in (1, 2, 4, 8, 16, 32)
    if target == "cuda":
        threads = options["mapToThreads"]
        assert math.prod(threads) <= device.max_threads_per_block
        assert all(t <= limit for t, limit in zip(threads, device.max_block_dims))
        assert all(b <= limit for b, limit in zip(options["mapToBlocks"], device.max_grid_dims))
        assert options["maxSharedMemory"] < device.shared_memory_per_block
        assert options["privateDepth"] <= space.depth and options["sharedDepth"] <= space.depth
    features = space.features(options)
    assert len(features) == len(space.feature_names) and all(math.isfinite(f) for f in features)


@settings(max_examples=examples(40))
@given(name=st.sampled_from(sorted(DEFS)), target=st.sampled_from(["cpu", "cuda"]), seed=st.integers(0, 2**32 - 1),
       data=st.data())
def test_the_space_makes_only_valid_options(name, target, seed, data):
    sizes = data.draw(sizes_for(name))
    device = data.draw(GPUS) if target == "cuda" else CPU
    space = SearchSpace.for_def(DEFS[name], sizes, target=target, device=device)
    rng = random.Random(seed)
    made = [space.project(MappingOptions(preset)) for preset in MappingOptions.PRESETS]
    made += [space.random(rng) for _ in range(8)]
    made += [space.mutate(rng.choice(made), rng, rate=rng.random()) for _ in range(8)]
    made += [space.crossover(rng.sample(made, 3), rng) for _ in range(8)]
    for options in made:
        check_valid(space, options, name, sizes, target, device)


def test_tile_sizes_are_tcs_powers_of_two_and_ceil_divisors_up_to_the_extent():
    # TC's own test of powers2andCeilDivisors (test/test_autotuner_utility.cc)
    assert ceil_divisors_and_powers2(10) == (1, 2, 3, 4, 5, 8, 10, 16)
    assert ceil_divisors_and_powers2(72) == (1, 2, 3, 4, 5, 8, 9, 16, 18, 32, 36, 64, 72, 128)
    assert ceil_divisors_and_powers2(35) == (1, 2, 3, 4, 5, 8, 9, 16, 18, 32, 35, 64)
    assert ceil_divisors_and_powers2(130) == (1, 2, 3, 4, 5, 8, 9, 16, 17, 32, 33, 64, 65, 128, 130, 256)
    assert ceil_divisors_and_powers2(1) == (1,)
    space = space_of("matmul", M=10, K=72, N=1)
    assert space.extents == (10, 1, 72)  # m, n, r_k
    assert space.genes["tile[0]"] == (0, 1, 2, 3, 4, 5, 8, 10)
    assert space.genes["tile[1]"] == (0, 1)
    assert space.genes["tile[2]"] == (0, 1, 2, 3, 4, 5, 8, 9, 16, 18, 32, 36, 64, 72)


def test_the_genes_of_each_target():
    cpu, cuda = space_of("matmul", M=64, K=64, N=64), space_of("matmul", "cuda", M=64, K=64, N=64)
    tiles = [f"tile[{p}]" for p in range(3)] + ["splitReduction"]  # K = 64 splits up to 32 ways
    assert sorted(cpu.genes) == sorted(CPU_GENES + tiles)
    assert sorted(cuda.genes) == sorted(CUDA_GENES + tiles)
    assert cpu.genes["splitReduction"] == (0, 2, 4, 8, 16, 32)
    assert "splitReduction" not in space_of("matmul", M=64, K=3, N=64).genes  # too short to split
    assert cpu.genes["unroll"] == (1, 2, 4, 8, 16, 32)
    assert cpu.genes["outerScheduleFusionStrategy"] == ("Max", "Preserve3Coincident", "Min")
    assert cuda.genes["mapToThreads[2]"] == (1, 2, 4, 8, 16, 32, 64)
    assert cuda.genes["maxSharedMemory"] == (0, 4096, 8192, 16384, 32768)  # 0: all 48 KiB
    assert cuda.genes["sharedDepth"] == (0, 1, 2, 3)
    bigger = space_of("matmul", "cuda", GpuLimits(shared_memory_per_block=96 * 1024), M=64, K=64, N=64)
    assert bigger.genes["maxSharedMemory"] == (0, 4096, 8192, 16384, 32768, 65536)


def test_the_size_counts_the_distinct_candidates():
    space = space_of("scale", N=3)  # tile 0..3, 6 unrolls, 3 fusions, 2 fix: 144
    assert space.size == 4 * 6 * 3 * 2
    rng = random.Random(0)
    assert len({space.random(rng) for _ in range(20000)}) == space.size
    gpu = GpuLimits(max_threads_per_block=256)
    cuda = space_of("matmul", "cuda", gpu, M=100, K=30, N=7)
    threads = [t for t in product(*(cuda.genes[f"mapToThreads[{k}]"] for k in range(3))) if math.prod(t) <= 256]
    others = math.prod(len(c) for g, c in cuda.genes.items() if not g.startswith("mapToThreads"))
    assert cuda.size == len(threads) * others
    assert isinstance(cuda.size, int) and cuda.size > 10**12


def test_is_valid_rejects_what_the_space_does_not_hold():
    space = space_of("matmul", M=10, K=72, N=64)  # extents m=10, n=64, r_k=72
    good = space.project(MappingOptions().tile(8, 64, 9).unroll(4))
    assert space.is_valid(good)
    assert not space.is_valid(good.copy().tile(8, 64))  # too few tile sizes
    assert not space.is_valid(good.copy().tile(8, 64, 9, 1))  # too many
    assert not space.is_valid(good.copy().tile(16, 64, 9))  # above the extent of m
    assert not space.is_valid(good.copy().tile(6, 64, 9))  # not a choice
    assert not space.is_valid(good.copy().unroll(64))
    assert not space.is_valid("tile=8,64,9")
    cuda = space_of("matmul", "cuda", GpuLimits(max_threads_per_block=256), M=10, K=72, N=64)
    options = cuda.project(MappingOptions().mapToThreads(16, 16))
    assert cuda.is_valid(options)
    assert not cuda.is_valid(options.copy().mapToThreads(32, 16))  # 512 threads > 256
    assert not cuda.is_valid(options.copy().maxSharedMemory(48 * 1024))
    assert not cuda.is_valid(options.copy().sharedDepth(4))


def test_project_snaps_to_the_nearest_choice_and_keeps_the_other_options():
    space = space_of("scale", N=10)
    naive = MappingOptions().outerScheduleAllowSkewing(True).unroll(128)
    projected = space.project(naive)
    assert projected["tile"] == (10,) and projected["unroll"] == 32
    assert projected["outerScheduleAllowSkewing"] is True
    assert space.project(projected) == projected
    matmul = space_of("matmul", M=256, K=256, N=256)
    assert matmul.project(MappingOptions()) == MappingOptions()  # tile=32,32,32 is a candidate
    cuda = space_of("matmul", "cuda", GpuLimits(max_threads_per_block=128), M=64, K=64, N=64)
    assert cuda.project(MappingOptions().mapToThreads(32, 8))["mapToThreads"] == (16, 8)


def test_mutate_and_crossover():
    space = space_of("matmul", M=256, K=256, N=256)
    rng = random.Random(1)
    options = space.random(rng).outerScheduleAllowSkewing(True)
    assert space.mutate(options, rng, rate=0.0) == options
    assert all(space.is_valid(space.mutate(options, rng, rate=1.0)) for _ in range(20))
    parents = [space.random(rng) for _ in range(3)]
    for _ in range(20):
        child = space.crossover(parents, rng)
        for gene, value in zip(child["tile"], zip(*(p["tile"] for p in parents))):
            assert gene in value
        assert child["unroll"] in {p["unroll"] for p in parents}
        assert child["outerScheduleAllowSkewing"] == parents[0]["outerScheduleAllowSkewing"]
    with pytest.raises(TcError, match="at least one parent"):
        space.crossover([], rng)


def test_random_is_reproducible_and_copies_the_template():
    space = space_of("conv", "cuda", N=2, C=8, F=16, H=20, W=20, KH=3, KW=3)
    template = MappingOptions("mlp").outerSchedulePositiveOrthant(False)
    first = [space.random(random.Random(7), like=template) for _ in range(5)]
    assert first == [space.random(random.Random(7), like=template) for _ in range(5)]
    assert all(o["outerSchedulePositiveOrthant"] is False for o in first)


def test_features_use_the_tile_footprints():
    space = space_of("matmul", M=256, K=256, N=256)
    names = space.feature_names
    features = dict(zip(names, space.features(MappingOptions().tile(32, 16, 64).unroll(4))))
    # C(m, n) 32 x 16, A(m, r_k) 32 x 64, B(r_k, n) 64 x 16 floats
    assert features["log2 footprint"] == pytest.approx(math.log2(4 * (32 * 16 + 32 * 64 + 64 * 16)))
    assert features["log2 tiles"] == pytest.approx(math.log2(8 * 16 * 4))
    assert features["log2 parallel"] == pytest.approx(3)  # 256 / 32 tiles of m
    assert features["log2 unroll"] == 2 and features["fits L1"] == 1 and features["fits L2"] == 1
    assert features["innermost multiple of 16"] == 1 and features["core balance"] == 1
    untiled = dict(zip(names, space.features(MappingOptions().tile(0, 0, 0))))
    assert untiled["log2 footprint"] == pytest.approx(math.log2(3 * 256 * 256 * 4))  # 768 KiB
    assert untiled["fits L1"] == 0 and untiled["fits L2"] == 1
    assert untiled["log2 tiles"] == 0 and untiled["log2 parallel"] == 8
    conv = space_of("conv", N=1, C=1, F=1, H=10, W=10, KH=3, KW=3)
    # O(n,f,h,w) 4 x 4, I(n,r_c,h+r_kh,w+r_kw) (4+3-1) x (4+3-1), W1 3 x 3 (n, f, r_c of extent 1)
    tile = MappingOptions().tile(1, 1, 4, 4, 1, 3, 3)
    footprint = dict(zip(conv.feature_names, conv.features(tile)))["log2 footprint"]
    assert footprint == pytest.approx(math.log2(4 * (16 + 36 + 9)))


def test_features_of_the_gpu_and_of_options_outside_the_space():
    space = space_of("matmul", "cuda", GpuLimits(sm_count=128), M=256, K=256, N=256)
    options = MappingOptions().tile(32, 32, 32).mapToThreads(32, 8).mapToBlocks(8, 8).maxSharedMemory(16384)
    features = dict(zip(space.feature_names, space.features(options)))
    assert features["log2 threads"] == 8 and features["warp multiple"] == 1
    assert features["log2 blocks / SMs"] == pytest.approx(math.log2(64 / 128))
    assert features["log2 footprint / shared"] == pytest.approx(math.log2(3 * 32 * 32 * 4 / 16384))
    outside = MappingOptions().tile(3000, 7)  # tile sizes out of range, too few: still described
    assert len(space.features(outside)) == len(space.feature_names)


def test_for_def_errors():
    with pytest.raises(TcError, match="unknown target `tpu`"):
        SearchSpace.for_def(DEFS["scale"], {"N": 4}, target="tpu")
    with pytest.raises(TcError, match="needs the value of size `N`"):
        SearchSpace.for_def(DEFS["scale"], {}, target="cpu")
    with pytest.raises(TcError, match="must be a GpuLimits"):
        SearchSpace.for_def(DEFS["scale"], {"N": 4}, target="cuda", device=CPU)
    with pytest.raises(TcError, match="range of"):
        SearchSpace.for_def(DEFS["conv"], dict(N=1, C=1, F=1, H=2, W=9, KH=3, KW=3), target="cpu")


def test_cpu_limits():
    assert CpuLimits(cores=4).l1_bytes == 32 * 1024 and CpuLimits().l2_bytes == 1024 * 1024
    detected = CpuLimits.detect()
    assert detected.cores >= 1 and detected.l1_bytes > 0 and detected.l2_bytes >= detected.l1_bytes
