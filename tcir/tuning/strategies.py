"""Search strategies of the autotuner: which mapping options to measure next.

Summary:
  A strategy explores a `SearchSpace` (tcir.tuning.space) by ask and tell:
  `propose()` returns a batch of candidates (`MappingOptions`, every one valid in the
  space and never one proposed or observed before; an empty batch means that no new
  candidate was found: the space is exhausted, or nearly), and `observe(options, time)`
  reports a candidate's time in seconds, or None when it failed (did not compile,
  crashed, computed a wrong result, timed out). Every proposed candidate is to be
  observed once, in any order; options measured outside the search (the base options,
  before the first proposal) may be observed too, and are then never proposed.
  `best()` is the fastest observation `(options, time)`, or None.

  Strategies draw every random choice from the `random.Random` they are given, so the
  same seed and the same observed times give the same proposals.

  - `genetic` (`GeneticSearch`): Tensor Comprehensions' genetic search.
  - `random` (`RandomSearch`): uniform samples, the base options first.
  - `model` (`ModelSearch`): a cost model learned online ranks many candidates and only
    the most promising are measured (TVM's Ansor / MetaSchedule); for `cuda` it
    re-ranks the best few by their GPU report (`REPORT_FEATURES`, `report_features`).

  `make_strategy(name, space, base, rng, **params)` builds one by name (`STRATEGIES`).

Example:
    space = SearchSpace.for_def(definition, {"M": 256, "K": 256, "N": 256}, target="cpu")
    strategy = make_strategy("genetic", space, base=MappingOptions(), rng=random.Random(0))
    while (batch := strategy.propose()) and budget_left():
        for options in batch:
            strategy.observe(options, measure(options))     # seconds, or None
    options, seconds = strategy.best()
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor

from ..errors import TcError
from ..mapping_options import MappingOptions
from .space import SearchSpace

__all__ = ["REPORT_FEATURES", "STRATEGIES", "GeneticSearch", "ModelSearch", "RandomSearch", "Reporter", "Strategy",
           "make_strategy", "report_features"]

MAX_MISSES = 200  # consecutive random draws of known candidates before giving up
# the numbers of a `tcir.gpu_report` that the `model` strategy learns from, for `cuda`
REPORT_FEATURES = ("registers", "spills", "occupancy", "global_load_efficiency", "global_store_efficiency",
                   "shared_bank_conflicts", "fma_per_shared_load")
# candidates -> each one's GPU report, or the error text where it has none
Reporter = Callable[[Sequence[MappingOptions]], Sequence[Mapping[str, Any] | str]]


def report_features(report: Mapping[str, Any]) -> list[float]:
    """The `REPORT_FEATURES` of a GPU report, as floats; a metric that is None (no such
    access: no shared loads, say) is -1, below every value a metric takes, so that the
    trees can tell it apart."""
    return [-1.0 if report[key] is None else float(report[key]) for key in REPORT_FEATURES]


def _checked_time(time: float | None) -> float | None:
    if time is None:
        return None
    if isinstance(time, bool) or not isinstance(time, Real) or not math.isfinite(time) or time < 0:
        raise TcError(f"a candidate's time must be a finite number of seconds >= 0, or None, got {time!r}")
    return float(time)


class Strategy:
    """What every strategy shares: the record of proposals and observations.

    Subclasses implement `_next_batch()`, the candidates to propose now (new ones)."""

    name = ""

    def __init__(self, space: SearchSpace, base: MappingOptions, rng: random.Random):
        if not isinstance(rng, random.Random):
            raise TcError(f"a strategy draws from a random.Random, got {rng!r}")
        self.space, self.rng = space, rng
        self.base = space.project(base)  # in the space; base's other options are every candidate's
        self._times: dict[MappingOptions, float | None] = {}  # observed, in order
        self._pending: set[MappingOptions] = set()  # proposed, not yet observed

    def propose(self) -> list[MappingOptions]:
        """The next batch of candidates to measure (empty: nothing new left to try)."""
        batch = [o for o in dict.fromkeys(self._next_batch()) if self._is_new(o)]
        self._pending.update(batch)
        return [o.copy() for o in batch]

    def observe(self, options: MappingOptions, time: float | None) -> None:
        """Report the time (seconds) of `options`, or None if it failed."""
        if not isinstance(options, MappingOptions):
            raise TcError(f"observe takes MappingOptions, got {options!r}")
        if options in self._times:
            raise TcError(f"these options were already observed: {options}")
        time = _checked_time(time)
        self._pending.discard(options)
        self._times[options.copy()] = time

    def best(self) -> tuple[MappingOptions, float] | None:
        """The fastest options observed and their time (the first of equals), or None."""
        measured = [(t, o) for o, t in self._times.items() if t is not None]
        if not measured:
            return None
        time, options = min(measured, key=lambda pair: pair[0])
        return options.copy(), time

    @property
    def history(self) -> list[tuple[MappingOptions, float | None]]:
        """Every observation `(options, time or None)`, in the order observed."""
        return [(o.copy(), t) for o, t in self._times.items()]

    def _next_batch(self) -> list[MappingOptions]:
        raise NotImplementedError

    def _is_new(self, options: MappingOptions) -> bool:
        return options not in self._times and options not in self._pending

    def _ranked(self, candidates: Iterable[MappingOptions]) -> list[tuple[MappingOptions, float]]:
        """The candidates measured successfully, fastest first (ties: in given order)."""
        timed = [(o, self._times.get(o)) for o in dict.fromkeys(candidates)]
        return sorted([(o, t) for o, t in timed if t is not None], key=lambda pair: pair[1])

    def _random_new(self, count: int, exclude: Iterable[MappingOptions] = ()) -> list[MappingOptions]:
        """Up to `count` distinct new random candidates, none of them in `exclude`."""
        found, new, misses = set(exclude), [], 0
        while len(new) < count and misses < MAX_MISSES:
            options = self.space.random(self.rng, like=self.base)
            if options in found or not self._is_new(options):
                misses += 1
                continue
            found.add(options)
            new.append(options)
            misses = 0
        return new


class RandomSearch(Strategy):
    """Uniform samples of the space, `batch_size` at a time; the base options first.

    Example:
        strategy = RandomSearch(space, MappingOptions(), random.Random(0), batch_size=8)
    """

    name = "random"

    def __init__(self, space: SearchSpace, base: MappingOptions, rng: random.Random, batch_size: int = 8):
        super().__init__(space, base, rng)
        self.batch_size = _positive("batch_size", batch_size)

    def _next_batch(self) -> list[MappingOptions]:
        first = [self.base] if self._is_new(self.base) else []
        return first + self._random_new(self.batch_size - len(first), exclude=first)


class GeneticSearch(Strategy):
    """Tensor Comprehensions' genetic search (tc/autotuner/genetic_search.cc), ask and tell.

    Generation 0 is the base options and random candidates. Each next generation keeps
    the `elites` fastest members unchanged and fills the population with children: with
    probability `crossover_rate` each gene from one of three parents, otherwise a copy
    of one parent; parents are drawn by roulette on their fitness 1/time (sigma-scaled:
    max(f - (mean - 2 std), 0), as TC does); then each gene of a child is redrawn with
    probability `mutation_rate`. Failed members never breed. With fewer than
    `min_breeders` measured members, the next generation is the best options so far and
    random candidates (TC's restart). `propose()` returns a generation's members not
    measured before; a generation with none (all its members were measured before, so
    their times are known) is bred on at once, and after `stale_generations` of those
    the population restarts.

    Defaults, smaller than TC's (population 100, 25 generations, crossover 80%,
    mutation 7%, 10 elites): on a CPU each candidate costs about 0.5 to 1 s to compile
    (two cores) and a tuning budget is 60 to 120 s, so 60 to 200 candidates in all; a
    population of 16 gives 4 to 12 generations, where TC's 100 would not finish its
    first. 3 elites (TC: 10 of 100) keep the best few safe in so small a population.
    Crossover stays at TC's 80%; mutation is 10% of the genes (TC: 7%), about one gene
    per child on a CPU space (7 to 11 genes), two on a CUDA one: on synthetic costs
    (tests/tuning) 3% to 10% found the optimum alike, 15% to 25% clearly less often.

    Example:
        strategy = GeneticSearch(space, MappingOptions(), random.Random(0), population_size=16)
    """

    name = "genetic"

    def __init__(self, space: SearchSpace, base: MappingOptions, rng: random.Random, population_size: int = 16,
                 elites: int = 3, crossover_rate: float = 0.8, mutation_rate: float = 0.1, min_breeders: int = 3,
                 stale_generations: int = 20):
        super().__init__(space, base, rng)
        self.population_size = _positive("population_size", population_size)
        if not 0 <= elites < population_size:
            raise TcError(f"elites must be >= 0 and below the population size ({population_size}), got {elites}")
        self.elites, self.min_breeders = elites, _positive("min_breeders", min_breeders)
        self.crossover_rate = _probability("crossover_rate", crossover_rate)
        self.mutation_rate = _probability("mutation_rate", mutation_rate)
        self.stale_generations = _positive("stale_generations", stale_generations)
        self.population: list[MappingOptions] = []
        self.generation = -1  # the population's generation (0: the first)

    def _next_batch(self) -> list[MappingOptions]:
        for _ in range(self.stale_generations):
            self._advance(self._breed() if self.population else self._first_generation())
            batch = [o for o in self.population if self._is_new(o)]
            if batch:
                return batch
        self._advance(self._restart())
        return self.population

    def _advance(self, population: list[MappingOptions]) -> None:
        self.population, self.generation = population, self.generation + 1

    def _first_generation(self) -> list[MappingOptions]:
        return [self.base] + self._random_new(self.population_size - 1, exclude=[self.base])

    def _restart(self) -> list[MappingOptions]:
        best = self.best()
        anchor = self.base if best is None else self.space.project(best[0])
        return [anchor] + self._random_new(self.population_size - 1, exclude=[anchor])

    def _breed(self) -> list[MappingOptions]:
        ranked = self._ranked(self.population)
        if len(ranked) < self.min_breeders:
            return self._restart()
        members = [o for o, _ in ranked]
        weights = _fitness([t for _, t in ranked])
        children = members[:self.elites]
        while len(children) < self.population_size:
            if self.rng.random() < self.crossover_rate:
                child = self.space.crossover(self.rng.choices(members, weights, k=3), self.rng)
            else:
                child = self.rng.choices(members, weights)[0]
            children.append(self.space.mutate(child, self.rng, self.mutation_rate))
        return children


def _fitness(times: list[float]) -> list[float]:
    """Roulette weights: 1/time, sigma-scaled as in TC (uniform when all are equal)."""
    fitness = [1 / max(t, 1e-12) for t in times]
    mean = sum(fitness) / len(fitness)
    deviation = math.sqrt(sum((f - mean) ** 2 for f in fitness) / len(fitness))
    scaled = [max(f - (mean - 2 * deviation), 0.0) for f in fitness]
    return scaled if sum(scaled) > 0 else [1.0] * len(fitness)


class ModelSearch(Strategy):
    """A cost model learned online picks the candidates to measure (TVM's Ansor and
    MetaSchedule).

    Until `warmup` candidates are observed it proposes the base options and random
    candidates. Then each round it fits gradient-boosted trees (scikit-learn's
    `GradientBoostingRegressor`, exact and deterministic, fast on the few hundred
    samples of a tuning run) from `space.features` to log(time), a failed candidate
    counting as 10 times slower than the slowest success; ranks a pool of `pool_size`
    random candidates and `mutations` mutations of each of the `parents` fastest
    measured ones; and proposes the `batch_size` best-ranked, each slot taken instead by
    a random member of the pool with probability `epsilon` (exploration). Without a
    success to learn from, it proposes random candidates.

    For a `cuda` space, `report` (None: options' features only) describes candidates by
    what their compilation shows: `report(candidates)` returns, per candidate, its
    `tcir.gpu_report` (a dict with the keys of `REPORT_FEATURES`) or the error text
    when it does not compile or assemble. A report costs a compilation and a ptxas run,
    so each round only the `report_top` best-ranked candidates are reported, those not
    reported in an earlier round (12: twice the default batch, so that the reports
    choose which half is measured); a candidate whose report fails is observed as
    failed (None) and never proposed. Those reported are re-ranked by a second model, from `space.features`
    and the report's numbers to log(time), fitted on the measured candidates that have
    a report (those are kept); until it can be fitted they keep the first ranking.

    Example:
        strategy = ModelSearch(space, MappingOptions(), random.Random(0), batch_size=6)
        strategy = ModelSearch(cuda_space, MappingOptions(), random.Random(0), report=reports)
    """

    name = "model"
    FAILURE_PENALTY = math.log(10)  # a failed candidate: log(slowest success) + this

    def __init__(self, space: SearchSpace, base: MappingOptions, rng: random.Random, batch_size: int = 6,
                 warmup: int = 8, pool_size: int = 500, parents: int = 8, mutations: int = 16,
                 mutation_rate: float = 0.25, epsilon: float = 0.15, report: Reporter | None = None,
                 report_top: int = 12):
        super().__init__(space, base, rng)
        self.batch_size, self.warmup = _positive("batch_size", batch_size), _positive("warmup", warmup)
        self.pool_size, self.parents = _positive("pool_size", pool_size), _positive("parents", parents)
        self.mutations = _positive("mutations", mutations)
        self.mutation_rate = _probability("mutation_rate", mutation_rate)
        self.epsilon = _probability("epsilon", epsilon)
        if report is not None and space.target != "cuda":
            raise TcError(f"the GPU report describes CUDA kernels; this space's target is `{space.target}`")
        self.report, self.report_top = report, _positive("report_top", report_top)
        self._features: dict[MappingOptions, list[float]] = {}
        self._reports: dict[MappingOptions, list[float]] = {}  # the report features of each candidate reported

    def _next_batch(self) -> list[MappingOptions]:
        seen = len(self._times) + len(self._pending)
        if seen < self.warmup:
            first = [self.base] if self._is_new(self.base) else []
            return first + self._random_new(max(self.warmup - seen, self.batch_size) - len(first), exclude=first)
        model = self._fit(list(self._times), self._featurize)
        pool = self._pool()
        if model is None or not pool:
            return pool[:self.batch_size]
        predicted = model.predict(np.array([self._featurize(o) for o in pool]))
        ties = [self.rng.random() for _ in pool]
        ranked = [pool[i] for i in sorted(range(len(pool)), key=lambda i: (predicted[i], ties[i]))]
        if self.report is not None:
            ranked = self._reranked(ranked)
        batch = []
        while ranked and len(batch) < self.batch_size:
            explore = self.rng.random() < self.epsilon
            batch.append(ranked.pop(self.rng.randrange(len(ranked)) if explore else 0))
        return batch

    def _featurize(self, options: MappingOptions) -> list[float]:
        if options not in self._features:
            self._features[options] = self.space.features(options)
        return self._features[options]

    def _with_report(self, options: MappingOptions) -> list[float]:
        return self._featurize(options) + self._reports[options]

    def _reranked(self, ranked: list[MappingOptions]) -> list[MappingOptions]:
        """`ranked` with its first `report_top` members reported and re-ranked by the model
        with the report's features (a failed report: the candidate observed as failed)."""
        top = ranked[:self.report_top]
        new = [o for o in top if o not in self._reports]
        for options, report in zip(new, self.report(new) if new else []):
            if isinstance(report, str):
                self.observe(options, None)
            else:
                self._reports[options] = report_features(report)
        top = [o for o in top if o in self._reports]
        model = self._fit([o for o in self._times if o in self._reports], self._with_report)
        if model is not None and top:
            predicted = model.predict(np.array([self._with_report(o) for o in top]))
            top = [top[i] for i in sorted(range(len(top)), key=lambda i: predicted[i])]  # stable: ties keep the order
        return top + ranked[self.report_top:]

    def _fit(self, samples: list[MappingOptions], features: Callable[[MappingOptions], list[float]]
             ) -> GradientBoostingRegressor | None:
        """The model of log(time) from `features` of the observed `samples`, or None
        without two different outcomes to learn."""
        successes = [t for t in self._times.values() if t is not None]
        if not successes:
            return None
        failed = math.log(max(max(successes), 1e-12)) + self.FAILURE_PENALTY
        targets = [failed if self._times[o] is None else math.log(max(self._times[o], 1e-12)) for o in samples]
        if not targets or max(targets) == min(targets):
            return None
        model = GradientBoostingRegressor(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=0)
        return model.fit(np.array([features(o) for o in samples]), np.array(targets))

    def _pool(self) -> list[MappingOptions]:
        """Candidates to rank: mutations of the fastest so far, then random ones."""
        pool: dict[MappingOptions, None] = {}
        for parent, _ in self._ranked(self._times)[:self.parents]:
            for _ in range(self.mutations):
                child = self.space.mutate(parent, self.rng, self.mutation_rate)
                if self._is_new(child):
                    pool[child] = None
        pool.update(dict.fromkeys(self._random_new(self.pool_size, exclude=pool)))
        return list(pool)


def _positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TcError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
        raise TcError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (GeneticSearch, RandomSearch, ModelSearch)}


def make_strategy(name: str, space: SearchSpace, base: MappingOptions, rng: random.Random, **params) -> Strategy:
    """The strategy called `name` (a key of `STRATEGIES`) with its parameters `params`
    (keyword arguments of its class); an unknown name or parameter is a `TcError`."""
    if name not in STRATEGIES:
        raise TcError(f"unknown tuning strategy `{name}`; valid: {', '.join(STRATEGIES)}")
    cls = STRATEGIES[name]
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("space", "base", "rng")]
    unknown = [p for p in params if p not in accepted]
    if unknown:
        raise TcError(f"strategy `{name}` has no parameter `{unknown[0]}`; its parameters: {', '.join(accepted)}")
    return cls(space, base, rng, **params)
