"""tcir.tuning.strategies: genetic, random and model-based search, driven by injected
timing functions instead of compiled kernels.

The synthetic cost of matmul 256^3 on a CPU has a known optimum (tile 32,16,64, unroll
4, Max fusion: 1 ms); each strategy must improve on the base options and come near the
optimum within a budget of evaluations. The other tests check the protocol: proposals
valid and never repeated, reproducible from the seed, observation in any order, failed
candidates (all of them, even), a tiny space running out, and the errors. For `cuda`,
the model strategy with GPU reports is driven by a stand-in for `tcir.gpu_report`."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from tcir import MappingOptions, TcError
from tcir.frontend import check_source
from tcir.gpu_model import occupancy
from tcir.tuning.space import CpuLimits, GpuLimits, SearchSpace
from tcir.tuning.strategies import (STRATEGIES, GeneticSearch, ModelSearch, RandomSearch, make_strategy,
                                    report_features)

MATMUL = check_source("def matmul(float(M,K) A, float(K,N) B) -> (C) { C(m,n) +=! A(m,r_k) * B(r_k,n) }").defs["matmul"]
SCALE = check_source("def scale(float(N) A, float s) -> (B) { B(i) = s * A(i) }").defs["scale"]
SPACE = SearchSpace.for_def(MATMUL, {"M": 256, "K": 256, "N": 256}, target="cpu", device=CpuLimits(cores=2))
CUDA_SPACE = SearchSpace.for_def(MATMUL, {"M": 96, "K": 40, "N": 300}, target="cuda", device=GpuLimits())
NAMES = sorted(STRATEGIES)
BEST_TILE = (32, 16, 64)
# protocol tests need no large candidate pools: they fit the model as often, on less
FAST = {"genetic": {}, "random": {}, "model": dict(pool_size=100)}


def synthetic_time(options: MappingOptions) -> float:
    """1 ms at the optimum, plus 1 ms per octave of distance of each tile size (untiled:
    the extent) and of unroll from theirs, plus 0.5 ms unless the fusion is Max."""
    cost = 1.0 + abs(math.log2(options["unroll"]) - 2) + 0.5 * (options["outerScheduleFusionStrategy"] != "Max")
    for size, best, extent in zip(options["tile"], BEST_TILE, SPACE.extents):
        cost += abs(math.log2(size or extent) - math.log2(best))
    return cost * 1e-3


def search(strategy, time_of, evaluations, reverse=False):
    """Run the ask-and-tell loop for at most `evaluations` candidates; the batches."""
    batches, count = [], 0
    while count < evaluations:
        batch = strategy.propose()
        if not batch:
            break
        batches.append(batch)
        for options in reversed(batch) if reverse else batch:
            strategy.observe(options, time_of(options))
        count += len(batch)
    return batches


def flaky(seed):
    """The synthetic time, but about a third of the candidates fail (deterministically)."""
    return lambda options: None if random.Random(f"{seed}{options}").random() < 0.3 else synthetic_time(options)


# (strategy, evaluations, the best time it must reach on each seed, in ms)
TARGETS = [("genetic", 150, 2.0), ("random", 150, 4.5), ("model", 100, 2.0)]


@pytest.mark.parametrize("name, evaluations, target_ms", TARGETS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_strategy_improves_on_the_base_options(name, evaluations, target_ms, seed):
    base = MappingOptions()  # tile=32,32,32 unroll=1 Preserve3Coincident: 5.5 ms
    strategy = make_strategy(name, SPACE, base=base, rng=random.Random(seed))
    search(strategy, synthetic_time, evaluations)
    options, time = strategy.best()
    assert time < synthetic_time(base) and time == synthetic_time(options)
    assert time <= target_ms * 1e-3, f"{name} reached {time * 1e3} ms: {options}"


@pytest.mark.parametrize("space", [SPACE, CUDA_SPACE], ids=["cpu", "cuda"])
@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_and_times_give_the_same_proposals(name, space):
    def proposals(seed):
        strategy = make_strategy(name, space, base=MappingOptions(), rng=random.Random(seed), **FAST[name])
        return [[str(o) for o in batch] for batch in search(strategy, flaky(seed), 60)]

    first = proposals(3)
    assert first == proposals(3)
    assert first != proposals(4)


@settings(max_examples=examples(6))
@given(name=st.sampled_from(NAMES), seed=st.integers(0, 2**32 - 1), cuda=st.booleans(), reverse=st.booleans())
def test_proposals_are_valid_and_never_repeated(name, seed, cuda, reverse):
    space = CUDA_SPACE if cuda else SPACE
    base = MappingOptions("conv")
    strategy = make_strategy(name, space, base=base, rng=random.Random(seed), **FAST[name])
    batches = search(strategy, flaky(seed), 50, reverse=reverse)
    proposed = [o for batch in batches for o in batch]
    assert len(proposed) >= 50
    assert len(set(proposed)) == len(proposed)
    assert all(space.is_valid(o) for o in proposed)
    # options outside the genes are the base's
    assert all(o["mapToThreads"] == base["mapToThreads"] for o in proposed if not cuda)
    assert [o for o, _ in strategy.history] == [o for batch in batches for o in (reversed(batch) if reverse else batch)]


@pytest.mark.parametrize("name", NAMES)
def test_every_candidate_failing(name):
    strategy = make_strategy(name, SPACE, base=MappingOptions(), rng=random.Random(0), **FAST[name])
    batches = search(strategy, lambda options: None, 80)
    proposed = [o for batch in batches for o in batch]
    assert len(proposed) >= 80 and len(set(proposed)) == len(proposed)
    assert strategy.best() is None
    assert all(time is None for _, time in strategy.history)


@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_space_runs_out(name):
    space = SearchSpace.for_def(SCALE, {"N": 1}, target="cpu")  # tile 0 or 1: 72 candidates
    strategy = make_strategy(name, space, base=MappingOptions(), rng=random.Random(0), **FAST[name])
    batches = search(strategy, synthetic_time_of_scale, 10 * space.size)
    proposed = [o for batch in batches for o in batch]
    assert len(set(proposed)) == len(proposed) <= space.size
    assert len(proposed) >= space.size // 2
    assert strategy.propose() == []


def synthetic_time_of_scale(options):
    return 1e-3 * (1 + options["tile"][0] + math.log2(options["unroll"]))


def test_observations_made_outside_the_search():
    base = MappingOptions()
    for name in NAMES:
        strategy = make_strategy(name, SPACE, base=base, rng=random.Random(0), **FAST[name])
        strategy.observe(base, 0.5)  # the tuner measures the base options first
        proposed = [o for batch in search(strategy, synthetic_time, 40) for o in batch]
        assert base not in proposed
        assert strategy.history[0] == (base, 0.5)


def test_observe_checks_its_arguments():
    strategy = RandomSearch(SPACE, MappingOptions(), random.Random(0))
    first, second = strategy.propose()[:2]
    strategy.observe(first, 1.0)
    with pytest.raises(TcError, match="already observed"):
        strategy.observe(first, 2.0)
    for bad in (-1.0, math.nan, math.inf, "1.0", True):
        with pytest.raises(TcError, match="finite number of seconds"):
            strategy.observe(second, bad)
    with pytest.raises(TcError, match="takes MappingOptions"):
        strategy.observe(str(second), 1.0)
    strategy.observe(second, 0.5)
    assert strategy.best() == (second, 0.5)


def test_genetic_search_starts_from_the_base_and_keeps_its_elites():
    strategy = GeneticSearch(SPACE, MappingOptions().unroll(4), random.Random(0), population_size=8, elites=2)
    first = strategy.propose()
    assert len(first) == 8 and first[0] == SPACE.project(MappingOptions().unroll(4))
    for options in first:
        strategy.observe(options, synthetic_time(options))
    fastest = sorted(first, key=synthetic_time)[:2]
    strategy.propose()
    assert strategy.generation >= 1 and strategy.population[:2] == fastest


def test_the_model_search_warms_up_then_ranks():
    strategy = ModelSearch(SPACE, MappingOptions(), random.Random(0), batch_size=4, warmup=10, pool_size=50)
    warmup = strategy.propose()
    assert len(warmup) == 10 and warmup[0] == MappingOptions()
    for options in warmup:
        strategy.observe(options, synthetic_time(options))
    assert len(strategy.propose()) == 4


# The model strategy with GPU reports (target cuda). The stand-in report's occupancy
# follows from the threads per block and registers that grow with the unroll factor (0:
# too many registers to launch); its bank conflicts are drawn from the options' text,
# so that no feature of the options predicts them and only the report tells.

def fake_report(options: MappingOptions) -> dict:
    registers = 24 + 16 * int(math.log2(options["unroll"]))
    shared = options["useSharedMemory"]
    return {"registers": registers, "spills": 0,
            "occupancy": occupancy(registers, math.prod(options["mapToThreads"]), 0),
            "global_load_efficiency": 1.0, "global_store_efficiency": 1.0,
            "shared_bank_conflicts": random.Random(str(options)).randrange(32) if shared else None,
            "fma_per_shared_load": 0.5 if shared else None}


def report_time(options: MappingOptions) -> float | None:
    """1 ms over the occupancy with conflict-free shared memory, a quarter more per bank
    conflict, 10 ms without shared memory; None where the kernel cannot launch."""
    report = fake_report(options)
    if not report["occupancy"]:
        return None
    conflicts = report["shared_bank_conflicts"]
    return 1e-3 * (10 if conflicts is None else 1 + conflicts / 4) / report["occupancy"]


class Reports:
    """A reporter that records its calls; the reports of the candidates `failing` picks
    fail with an error text."""

    def __init__(self, failing=lambda options: False):
        self.calls, self.failing = [], failing

    def __call__(self, candidates):
        self.calls.append(list(candidates))
        return ["ptxas fatal: Unresolved extern function" if self.failing(o) else fake_report(o)
                for o in candidates]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_model_search_with_gpu_reports_is_reproducible_and_beats_random(seed):
    def run(name, **params):
        strategy = make_strategy(name, CUDA_SPACE, base=MappingOptions(), rng=random.Random(seed), **params)
        return strategy, [[str(o) for o in batch] for batch in search(strategy, report_time, 40)]

    model, proposals = run("model", pool_size=100, report=Reports())
    assert run("model", pool_size=100, report=Reports())[1] == proposals
    assert model.best()[1] <= run("random")[0].best()[1]


def test_only_the_best_ranked_candidates_are_reported():
    reports = Reports()
    strategy = ModelSearch(CUDA_SPACE, MappingOptions(), random.Random(0), batch_size=3, warmup=6, pool_size=100,
                           epsilon=0, report=reports, report_top=5)
    batch = strategy.propose()
    assert len(batch) == 6 and reports.calls == []  # the warm-up: random, nothing reported
    for rounds in range(1, 6):
        for options in batch:
            strategy.observe(options, report_time(options))
        batch = strategy.propose()
        assert len(reports.calls) == rounds and 1 <= len(reports.calls[-1]) <= 5
        assert len(batch) == 3 and all(o in reports.calls[-1] for o in batch)  # no exploration: all reported
    reported = [o for call in reports.calls for o in call]
    assert len(set(reported)) == len(reported)  # never twice


def test_a_failed_gpu_report_is_recorded_and_skipped():
    reports = Reports(failing=lambda options: options["usePrivateMemory"])
    strategy = ModelSearch(CUDA_SPACE, MappingOptions(), random.Random(0), pool_size=100, report=reports)
    proposed = [o for batch in search(strategy, report_time, 40) for o in batch]
    failed = [o for call in reports.calls for o in call if o["usePrivateMemory"]]
    assert len(proposed) >= 40 and failed
    assert not set(failed) & set(proposed)
    history = dict(strategy.history)
    assert all(history[o] is None for o in failed)
    assert strategy.best()[1] == min(t for t in history.values() if t is not None)


def test_report_features():
    report = fake_report(MappingOptions().mapToThreads(32, 8).unroll(2))
    assert report_features(report) == [40.0, 0.0, 0.75, 1.0, 1.0, -1.0, -1.0]  # no shared memory: -1
    with pytest.raises(TcError, match="CUDA kernels; this space's target is `cpu`"):
        ModelSearch(SPACE, MappingOptions(), random.Random(0), report=Reports())


def test_make_strategy():
    assert NAMES == ["genetic", "model", "random"]
    assert isinstance(make_strategy("random", SPACE, MappingOptions(), random.Random(0), batch_size=3), RandomSearch)
    assert len(make_strategy("random", SPACE, MappingOptions(), random.Random(0), batch_size=3).propose()) == 3
    assert len(make_strategy("genetic", SPACE, MappingOptions(), random.Random(0), population_size=5).propose()) == 5
    with pytest.raises(TcError, match="unknown tuning strategy `annealing`; valid: genetic, random, model"):
        make_strategy("annealing", SPACE, MappingOptions(), random.Random(0))
    with pytest.raises(TcError, match="no parameter `population`; its parameters: population_size"):
        make_strategy("genetic", SPACE, MappingOptions(), random.Random(0), population=4)
    with pytest.raises(TcError, match="random.Random"):
        make_strategy("genetic", SPACE, MappingOptions(), rng=0)
    with pytest.raises(TcError, match="elites"):
        make_strategy("genetic", SPACE, MappingOptions(), random.Random(0), population_size=4, elites=4)
    with pytest.raises(TcError, match="mutation_rate"):
        make_strategy("model", SPACE, MappingOptions(), random.Random(0), mutation_rate=2)
