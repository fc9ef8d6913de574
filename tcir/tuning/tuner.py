"""`tcir.autotune`: search the mapping options of a kernel for the fastest, and keep them.

Summary:
  The search space comes from the def and the inputs' sizes (`tcir.tuning.space`), a
  strategy proposes batches of candidates (`tcir.tuning.strategies`: `genetic`,
  `random`, `model`), the executor compiles each batch in parallel and measures the
  candidates one at a time (`tcir.tuning.harness`). The base options (the naive
  preset) are measured first: their outputs are the reference every candidate's
  outputs must match (floats within a tolerance, since reductions may reassociate), and
  their time is the speedup's base. A candidate that fails to compile, crashes, hangs
  or computes a different result is recorded in the history with the reason and never
  kept. The search stops at the time budget, after `max_candidates`, when the strategy
  has nothing left to propose, or on Ctrl-C (after the current candidate; the best so
  far is kept).

  For `cuda`, the `model` strategy also asks for the GPU reports (`tcir.gpu_report`'s
  numbers) of its best-ranked few each round: the executor compiles those at the
  tuning sizes and reports them for the device's architecture; a candidate reported
  and then measured is not compiled again, and one whose report fails is recorded in
  the history as a failed compilation is (it counts towards `max_candidates`). Without
  ptxas it learns from the options alone, with a warning.

  The best options found go to the options cache (`tcir.options_cache`), where
  `tcir.define` and `tcir.compile(..., options=None)` find them, and the best kernel's
  code to the compilation cache, so the next call with these inputs' layout loads it.

Example:
    result = tcir.autotune(MATMUL, "matmul", a, b, budget_s=60)
    result.options, result.time_s, result.base_time_s, len(result.history)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from .. import options_cache
from ..api import TARGETS, Kernel
from ..backends.nvptx import find_ptxas
from ..driver import Compiled, CudaTarget, Layout, cache_compiled, target_named
from ..errors import TcError, warn
from ..frontend import check_source
from ..frontend.checked import CheckedProgram
from ..gpu_model import ARCH_LIMITS
from ..mapping_options import MappingOptions
from .harness import CompileRequest, LocalExecutor, Measured, MeasureRequest
from .space import SearchSpace
from .strategies import STRATEGIES, make_strategy

# The strategy that won the tuning-curve benchmark (docs/benchmarks.md, "Tuned"): the
# best geometric mean of final best times over its four kernels, each relative to the
# best of the three strategies (model 1.00, random 1.28, genetic 1.29 on 2026-12-07,
# 120 s each on a quiet 2-core VM; model best or within 0.3% on all four).
DEFAULT_STRATEGY = "model"
DEFAULT_BUDGET_S = 60.0
# outputs within this relative tolerance of the base options' match (float sums may be
# reassociated by tiling and vectorization)
RTOL = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10}


@dataclass(frozen=True)
class Trial:
    """One candidate of a tuning run."""

    options: MappingOptions
    time_s: float | None  # None: it failed (see `error`)
    error: str | None
    at_s: float  # seconds since the tuning started, when its measurement ended


@dataclass
class TuningResult:
    options: MappingOptions
    time_s: float
    base_time_s: float
    history: list[Trial] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.base_time_s / self.time_s


def _mismatch(got: Sequence[np.ndarray], want: Sequence[np.ndarray]) -> str | None:
    """Why outputs differ from the reference's, or None."""
    for i, (g, w) in enumerate(zip(got, want)):
        rtol = RTOL.get(w.dtype, 1e-3 if w.dtype.kind == "f" or w.dtype.name == "bfloat16" else 0)
        if rtol == 0:
            equal = np.array_equal(g, w)
        else:
            scale = float(np.max(np.abs(w.astype(np.float64)), initial=0.0)) or 1.0
            equal = np.allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=rtol * scale,
                                equal_nan=True)
        if not equal:
            return f"wrong result: output #{i} differs from the base options' output"
    return None


class _Run:
    """The state of one tuning run: requests, the reference, the best, the history."""

    def __init__(self, program: CheckedProgram, entry: str, target: str, inputs: Sequence[object],
                 executor, timer, progress: bool):
        self.program, self.entry, self.inputs = program, entry, inputs
        self.executor, self.timer = executor, timer
        kernel = Kernel(program, entry, target)
        self.kernel_target = target_named(target, kernel.device)
        self.layout: Layout = kernel.prepare(inputs)[3]
        self.sizes = dict(self.layout.sizes)
        self.device = kernel.device
        self.start = time.perf_counter()
        self.history: list[Trial] = []
        self.reference: tuple[np.ndarray, ...] | None = None
        self.best: tuple[MappingOptions, float, Compiled] | None = None
        self.reported: dict[MappingOptions, Compiled] = {}  # compiled for a GPU report, not yet measured
        self.bar = tqdm(desc=f"tuning {entry}", unit="candidate", disable=not progress, leave=False)

    def request(self, options: MappingOptions) -> CompileRequest:
        return CompileRequest(self.program.source, self.program.filename, self.entry, self.kernel_target,
                              self.layout, str(options))

    def evaluate(self, batch: Sequence[MappingOptions]) -> list[tuple[MappingOptions, float | None]]:
        """Compile a batch in parallel (but what a GPU report compiled), measure each;
        the (options, time or None)."""
        fresh = self.executor.compile([self.request(o) for o in batch if o not in self.reported])
        results = []
        for options in batch:
            known = self.reported.pop(options, None)
            request, compiled = (self.request(options), known) if known is not None else next(fresh)
            time_s, error = self._measure(request, compiled)
            self._record(options, time_s, error)
            results.append((options, time_s))
        return results

    def gpu_reports(self, batch: Sequence[MappingOptions]) -> list[dict | str]:
        """The `model` strategy's `report` for `cuda`: each candidate's GPU report, or the
        error text (then recorded in the history as a failed compilation)."""
        reports = []
        for request, result in self.executor.report([self.request(o) for o in batch], _report_arch(self.kernel_target)):
            if isinstance(result, str):
                self._record(request.mapping, None, result)
                reports.append(result)
            else:
                report, self.reported[request.mapping] = result
                reports.append(report)
        return reports

    def _record(self, options: MappingOptions, time_s: float | None, error: str | None) -> None:
        self.history.append(Trial(options, time_s, error, time.perf_counter() - self.start))
        self._report()

    def _measure(self, request: CompileRequest, compiled: Compiled | str) -> tuple[float | None, str | None]:
        if isinstance(compiled, str):
            return None, compiled
        best_s = self.best[1] if self.best else None
        try:
            measured: Measured = self.executor.measure(
                MeasureRequest(request, compiled, self.inputs, best_s, timer=self.timer))
        except TcError as err:
            return None, f"the kernel failed: {err.message.splitlines()[0]}"
        if self.reference is None:
            self.reference = measured.outputs
        elif (wrong := _mismatch(measured.outputs, self.reference)) is not None:
            return None, wrong
        if self.best is None or measured.time_s < self.best[1]:
            self.best = (request.mapping, measured.time_s, compiled)
        return measured.time_s, None

    def _report(self) -> None:
        self.bar.update(1)
        if self.best is not None and self.history[0].time_s:
            self.bar.set_postfix(best=f"{self.best[1] * 1e3:.3g} ms",
                                 speedup=f"{self.history[0].time_s / self.best[1]:.2f}x")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def autotune(source: str, entry: str, *inputs, target: str = "cpu", strategy: str | None = None,
             budget_s: float | None = None, seed: int = 0, progress: bool = True, executor=None,
             max_candidates: int | None = None, timer: Callable[[MappingOptions], float] | None = None,
             filename: str = "<string>") -> TuningResult:
    """Tune the mapping options of def `entry` for these inputs (see the module docstring).

    `strategy`: one of `genetic`, `random` (the default), `model`; `budget_s`: seconds of
    tuning (default 60); `executor`: None (worker processes on this machine), "ray"
    (`tcir.tuning.ray_executor`), or an executor object; `timer(options) -> seconds`
    replaces the timed runs (tests, simulations)."""
    if target not in TARGETS:
        raise TcError(f"unknown target `{target}`; expected one of {', '.join(TARGETS)}")
    program = check_source(source, filename)
    if entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines " + ", ".join(f"`{n}`" for n in program.defs))
    name = strategy or DEFAULT_STRATEGY
    if name not in STRATEGIES:
        raise TcError(f"unknown tuning strategy `{name}`; expected one of {', '.join(STRATEGIES)}")
    budget = DEFAULT_BUDGET_S if budget_s is None else budget_s
    owned = executor is None or isinstance(executor, str)
    executor = _executor(executor)
    run = _Run(program, entry, target, inputs, executor, timer, progress)
    try:
        return _search(run, name, budget, seed, max_candidates)
    finally:
        run.bar.close()
        if owned:
            executor.close()


def _executor(executor):
    if executor is None:
        return LocalExecutor()
    if executor == "ray":
        from .ray_executor import RayExecutor  # Ray is an optional extra: imported only when asked for

        return RayExecutor()
    if isinstance(executor, str):
        raise TcError(f"unknown executor `{executor}`; expected None, \"ray\" or an executor object")
    return executor


def _report_arch(target: CudaTarget) -> str:
    """The architecture a GPU report models: the device's, or where the model has no
    limits for it (`ARCH_LIMITS` lacks sm_100, say), that of its PTX."""
    arch = "sm_{}{}".format(*target.machine.capability)
    return arch if arch in ARCH_LIMITS else target.machine.arch


def _reports(run: _Run, name: str) -> dict:
    """The GPU reports the strategy learns from: for `model` on `cuda`, where ptxas is
    (without it every report would fail, so the model learns from the options alone)."""
    if name != "model" or not isinstance(run.kernel_target, CudaTarget):
        return {}
    if find_ptxas() is None:
        warn("the `model` strategy tunes without GPU reports: ptxas not found (pip install nvidia-cuda-nvcc-cu12, "
             "or set CUDA_HOME)")
        return {}
    return {"report": run.gpu_reports}


def _search(run: _Run, name: str, budget: float, seed: int, max_candidates: int | None) -> TuningResult:
    space = SearchSpace.for_def(run.program.defs[run.entry], run.sizes, target=run.kernel_target.name,
                                device=None)
    search = make_strategy(name, space, base=MappingOptions(), rng=random.Random(seed), **_reports(run, name))
    base = search.base  # the naive preset, its tiles fitted to the space
    [(_, base_time)] = run.evaluate([base])
    if base_time is None:
        raise TcError(f"the base options of `{run.entry}` do not compile or run: {run.history[0].error}")
    try:
        while run.elapsed() < budget and (max_candidates is None or len(run.history) < max_candidates):
            batch = search.propose()
            if not batch:
                break  # nothing new left to try
            if base in batch:  # measured first, as the reference
                search.observe(base, base_time)
                batch.remove(base)
            if max_candidates is not None:
                room = max(0, max_candidates - len(run.history))  # failed GPU reports count too
                for options in batch[room:]:
                    search.observe(options, None)  # not measured: the search ends here
                batch = batch[:room]
            for options, time_s in run.evaluate(batch):
                search.observe(options, time_s)
    except KeyboardInterrupt:
        pass  # keep the best so far
    return _finish(run, base_time)


def _finish(run: _Run, base_time: float) -> TuningResult:
    options, time_s, compiled = run.best
    ranked = sorted((t for t in run.history if t.time_s is not None), key=lambda t: t.time_s)
    options_cache.record(run.program.source, run.entry, run.kernel_target, run.layout,
                         [(t.options, t.time_s) for t in ranked[:options_cache.KEEP]])
    cache_compiled(run.program, run.entry, run.kernel_target, run.layout, options, compiled)
    return TuningResult(options, time_s, base_time, run.history)
