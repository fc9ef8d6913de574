"""The autotuner's evaluation harness: compile candidates in parallel, measure one at a time.

Summary:
  A `CompileRequest` (the TC source, entry, target with its machine, layout and mapping
  options) is compiled by `compile_request` in a worker process, which returns the
  driver's `Compiled` (object code or PTX, and its JSON metadata). `LocalExecutor`
  runs workers on this machine (pebble's process pool: a candidate that crashes the
  compiler, or runs past `timeout_s`, kills only its worker and is recorded as an
  error); `tcir.tuning.ray_executor.RayExecutor` runs the same requests as Ray tasks.

  For the `model` strategy on `cuda`, `report_request` compiles a candidate in a
  worker and describes it (`tcir.gpu_model.module_report` on its gpu stage and PTX:
  ptxas's registers and spills, occupancy, coalescing, bank conflicts); it returns the
  compilation too, which is `compile_request`'s, so that a candidate reported and then
  measured is compiled once. Executors run these as they run compilations.

  `measure` runs a compiled candidate on the inputs: warm-up, then up to `repeats`
  timed runs, the median, with Tensor Comprehensions' pruning (a first run 100x the
  best time so far, or a later one 5x, stops the timing: the candidate is slow, its
  time is what was measured). It returns the outputs too, for the tuner to check
  against the base options' outputs. A `timer(options) -> seconds` replaces the timed
  runs (tests and simulations; the kernel still runs once for its outputs).

Example:
    executor = LocalExecutor(workers=2)
    for request, result in executor.compile(requests):
        if isinstance(result, Compiled):
            measured = executor.measure(MeasureRequest(request, result, inputs, best_s=None))
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pebble

from ..api import Kernel
from ..driver import Compiled, CpuTarget, CudaTarget, Job, Layout, compile_def, load, lower, tc_module
from ..errors import TcError
from ..frontend import check_source
from ..gpu_model import module_report
from ..mapping_options import MappingOptions

# TC's pruning: stop timing a candidate whose first run is this many times the best so
# far, or whose later run is SLOW_LATER times it
SLOW_FIRST = 100.0
SLOW_LATER = 5.0


@dataclass(frozen=True)
class CompileRequest:
    source: str
    filename: str
    entry: str
    target: CpuTarget | CudaTarget
    layout: Layout
    options: str  # MappingOptions text (what crosses process boundaries)

    @property
    def mapping(self) -> MappingOptions:
        return MappingOptions.parse(self.options)


def compile_request(request: CompileRequest) -> Compiled:
    """Compile one candidate (in a worker process)."""
    program = check_source(request.source, request.filename)
    return compile_def(program, request.entry, request.target, request.layout, request.mapping)


def report_request(request: CompileRequest, arch: str) -> tuple[dict[str, Any], Compiled]:
    """The GPU report (`tcir.gpu_report`'s, for `arch`) of one CUDA candidate and its
    compilation, equal to `compile_request`'s (in a worker process)."""
    program = check_source(request.source, request.filename)
    job = Job(request.layout, request.mapping)
    module = lower(tc_module(program, request.entry), request.target, "gpu", job)
    ptx = lower(module, request.target, "ptx", job, after="gpu")
    report = module_report(module, arch, ptx, request.entry, request.options)
    return report, Compiled(ptx.encode(), {"plan": job.metadata["plans"][request.entry]})


@dataclass(frozen=True)
class MeasureRequest:
    compiled_for: CompileRequest
    compiled: Compiled
    inputs: Sequence[Any]
    best_s: float | None  # the best time so far, for pruning
    repeats: int = 5
    timer: Callable[[MappingOptions], float] | None = None


@dataclass(frozen=True)
class Measured:
    time_s: float
    outputs: tuple[np.ndarray, ...]
    pruned: bool = False


def _runner(request: MeasureRequest) -> Callable[[], tuple]:
    """A function running the compiled candidate once on fresh outputs."""
    what = request.compiled_for
    program = check_source(what.source, what.filename)
    kernel = Kernel(program, what.entry, what.target.name)
    definition = program.defs[what.entry]
    function = load(request.compiled, what.target, definition, kernel.device)
    tensors = definition.inputs + definition.outputs

    def run() -> tuple:
        call, outs, arrays, _ = kernel.prepare(request.inputs)
        start = time.perf_counter()
        function(*[call.scalars[t.name] if t.role == "scalar" else arrays[t.name] for t in tensors])
        elapsed = time.perf_counter() - start
        return elapsed, tuple(np.asarray(outs[t.name]) for t in definition.outputs)

    return run


def measure(request: MeasureRequest) -> Measured:
    """Time a compiled candidate (see the module docstring)."""
    run = _runner(request)
    first, outputs = run()  # also the warm-up: first-touch of the outputs, caches
    if request.timer is not None:
        return Measured(request.timer(request.compiled_for.mapping), outputs)
    best = request.best_s
    if best is not None and first > SLOW_FIRST * best:
        return Measured(first, outputs, pruned=True)
    times = []
    for _ in range(request.repeats):
        elapsed, _ = run()
        times.append(elapsed)
        if best is not None and elapsed > SLOW_LATER * best:
            return Measured(statistics.median(times), outputs, pruned=True)
    return Measured(statistics.median(times), outputs)


def describe(error: BaseException) -> str:
    """One line for the history: a TcError's message, or the exception and where."""
    if isinstance(error, TcError):
        return error.message.splitlines()[0]
    if isinstance(error, concurrent.futures.TimeoutError):
        return "the compiler ran past the per-candidate timeout"
    if isinstance(error, pebble.ProcessExpired):
        return f"the compiler crashed (exit code {error.exitcode})"
    where = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    return f"{type(error).__name__}: {error}" + (f" at {where[0].filename}:{where[0].lineno}" if where else "")


class LocalExecutor:
    """Compiles in worker processes on this machine, measures in this process."""

    def __init__(self, workers: int | None = None, timeout_s: float = 300.0,
                 compile_fn: Callable[[CompileRequest], Compiled] = compile_request,
                 report_fn: Callable[[CompileRequest, str], tuple[dict[str, Any], Compiled]] = report_request):
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.timeout_s = timeout_s
        self.compile_fn, self.report_fn = compile_fn, report_fn
        self._pool: pebble.ProcessPool | None = None

    def _workers(self) -> pebble.ProcessPool:
        if self._pool is None:  # spawn: a fresh interpreter, whatever threads this one runs
            self._pool = pebble.ProcessPool(max_workers=self.workers, context=multiprocessing.get_context("spawn"))
        return self._pool

    def compile(self, requests: Sequence[CompileRequest]) -> Iterator[tuple[CompileRequest, Compiled | str]]:
        """Each request with its `Compiled`, or the error text, in the requests' order."""
        return self._run(self.compile_fn, requests)

    def report(self, requests: Sequence[CompileRequest], arch: str
               ) -> Iterator[tuple[CompileRequest, tuple[dict[str, Any], Compiled] | str]]:
        """Each CUDA request with its GPU report for `arch` and its `Compiled`
        (`report_request`), or the error text, in the requests' order."""
        return self._run(self.report_fn, requests, arch)

    def _run(self, function: Callable, requests: Sequence[CompileRequest], *args
             ) -> Iterator[tuple[CompileRequest, Any]]:
        futures = [self._workers().schedule(function, (r, *args), timeout=self.timeout_s) for r in requests]
        for request, future in zip(requests, futures):
            try:
                yield request, future.result()
            except Exception as err:  # noqa: BLE001 - a failing candidate is recorded, never fatal
                yield request, describe(err)

    def measure(self, request: MeasureRequest) -> Measured:
        return measure(request)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None
