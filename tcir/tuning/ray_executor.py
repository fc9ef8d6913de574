"""The autotuner on a Ray cluster: `tcir.autotune(..., executor="ray")` (extra `tcir[ray]`).

Summary:
  Compilation runs as Ray tasks on every node's CPUs (one CPU each), so a cluster
  compiles a batch of candidates at once; measurement runs as one Ray task at a time,
  placed on a node with the target's device (a GPU for `cuda`; for `cpu`, a node with
  the CPUs the kernel's threads use), so timings never share a device. Candidates that
  crash or pass `timeout_s` are recorded as errors, as with `LocalExecutor`. The GPU
  reports of the `model` strategy on `cuda` run as compilations do. The nodes
  must run the same tcir and have the same kind of CPU as the one tuning for
  (`CpuTarget`'s machine facts are the tuning process's).

  `RayExecutor(address=None)` joins the cluster at `address` (or `RAY_ADDRESS`), or
  starts a local one; docs/autotuning.md says how to run it on a real cluster.

Example:
    result = tcir.autotune(MATMUL, "matmul", a, b, executor=RayExecutor("ray://head:10001"))
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import ray

from ..driver import Compiled, CudaTarget
from ..errors import TcError
from .harness import CompileRequest, Measured, MeasureRequest, compile_request, describe, measure, report_request


class RayExecutor:
    def __init__(self, address: str | None = None, timeout_s: float = 300.0, measure_cpus: int = 1, **init):
        if not ray.is_initialized():
            try:
                ray.init(address=address, **init)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise TcError(f"cannot join the Ray cluster{f' at {address}' if address else ''}: {err}") from None
        self.timeout_s = timeout_s
        self._compile = ray.remote(num_cpus=1)(compile_request)
        self._report = ray.remote(num_cpus=1)(report_request)
        self._measure_cpus = measure_cpus
        self._measure = ray.remote(measure)

    def compile(self, requests: Sequence[CompileRequest]) -> Iterator[tuple[CompileRequest, Compiled | str]]:
        """Each request with its `Compiled`, or the error text, in the requests' order."""
        return self._results(requests, [self._compile.remote(r) for r in requests])

    def report(self, requests: Sequence[CompileRequest], arch: str
               ) -> Iterator[tuple[CompileRequest, tuple[dict[str, Any], Compiled] | str]]:
        """Each CUDA request with its GPU report for `arch` and its `Compiled`
        (`harness.report_request`), or the error text, in the requests' order."""
        return self._results(requests, [self._report.remote(r, arch) for r in requests])

    def _results(self, requests: Sequence[CompileRequest], refs: list) -> Iterator[tuple[CompileRequest, Any]]:
        ready, late = ray.wait(refs, num_returns=len(refs), timeout=self.timeout_s)
        for ref in late:
            ray.cancel(ref, force=True)
        done = set(ready)
        for request, ref in zip(requests, refs):
            if ref not in done:
                yield request, "the compiler ran past the per-candidate timeout"
                continue
            try:
                yield request, ray.get(ref)
            except ray.exceptions.RayTaskError as err:
                yield request, describe(err.cause if err.cause is not None else err)
            except ray.exceptions.RayError as err:  # a worker that died: a crashing candidate
                yield request, f"the compiler crashed ({type(err).__name__})"

    def measure(self, request: MeasureRequest) -> Measured:
        gpu = isinstance(request.compiled_for.target, CudaTarget)
        task = self._measure.options(num_gpus=1 if gpu else 0, num_cpus=self._measure_cpus)
        try:
            return ray.get(task.remote(request))
        except ray.exceptions.RayTaskError as err:
            if isinstance(err.cause, TcError):
                raise err.cause from None
            raise

    def close(self) -> None:
        """Nothing: the cluster (or the local one `ray.init` started) outlives a tuning run."""
