"""The autotuner end to end (tcir.tuning.tuner, harness, options cache, tc-tune): tiny
kernels, budgets and injected timings, so that every run is short and deterministic."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tcir
from tcir import MappingOptions, TcError, TcWarning, api, options_cache
from tcir import cache as disk_cache
from tcir.backends.nvptx import find_ptxas
from tcir.driver import CpuTarget, CudaTarget, GpuMachine, Layout, compile_def
from tcir.frontend import check_source
from tcir.tuning import autotune, tuner
from tcir.tuning.harness import CompileRequest, LocalExecutor, Measured, compile_request, report_request
from tcir.tuning.space import SearchSpace
from tcir.tuning.strategies import REPORT_FEATURES

MATMUL = "def matmul(float(M,K) A, float(K,N) B) -> (C) { C(m,n) +=! A(m,r_k) * B(r_k,n) }"
WRONG = "def matmul(float(M,K) A, float(K,N) B) -> (C) { C(m,n) +=! A(m,r_k) * B(r_k,n) + 1.0 }"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Each test tunes into its own cache directory."""
    monkeypatch.setenv("TCIR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TCIR_CACHE", raising=False)


def inputs(m=16, k=12, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)


def synthetic_time(options: MappingOptions) -> float:
    """A deterministic cost with its optimum at the first tile 8, unroll 4."""
    tile = options["tile"][0] if options["tile"] else 0
    return 1e-3 * (1 + abs(np.log2(max(tile, 1)) - 3) + abs(np.log2(options["unroll"]) - 2))


# Faulty compilers, run in the worker processes: the base options (which the test puts in
# TCIR_TEST_BASE, inherited by the workers) compile, the others fail.

def _is_base(request: CompileRequest) -> bool:
    return request.options == os.environ["TCIR_TEST_BASE"]


def crashing_compiler(request):
    if not _is_base(request):
        os._exit(3)
    return compile_request(request)


def hanging_compiler(request):
    if not _is_base(request):
        time.sleep(600)
    return compile_request(request)


def wrong_compiler(request):
    if not _is_base(request):
        request = CompileRequest(WRONG, *[getattr(request, f) for f in ("filename", "entry", "target", "layout",
                                                                         "options")])
    return compile_request(request)


@pytest.mark.parametrize("strategy", ["genetic", "random", "model"])
def test_each_strategy_improves_under_an_injected_timer(strategy):
    a, b = inputs()
    result = autotune(MATMUL, "matmul", a, b, strategy=strategy, max_candidates=10, budget_s=120, seed=1,
                      progress=False, timer=synthetic_time)
    assert 2 <= len(result.history) <= 10
    assert result.base_time_s == synthetic_time(result.history[0].options)
    assert result.time_s < result.base_time_s and result.time_s == synthetic_time(result.options)
    assert all(t.error is None and t.time_s == synthetic_time(t.options) for t in result.history)
    assert [t.at_s for t in result.history] == sorted(t.at_s for t in result.history)


def test_a_seeded_search_is_reproducible():
    a, b = inputs()
    runs = [autotune(MATMUL, "matmul", a, b, max_candidates=6, seed=7, progress=False, timer=synthetic_time)
            for _ in range(2)]
    assert [t.options for t in runs[0].history] == [t.options for t in runs[1].history]


@pytest.mark.parametrize("compiler, error", [
    (crashing_compiler, "the compiler crashed"),
    (hanging_compiler, "timeout"),
    (wrong_compiler, "wrong result"),
])
def test_the_harness_survives_crashes_hangs_and_wrong_results(compiler, error, monkeypatch):
    a, b = inputs()
    space = SearchSpace.for_def(check_source(MATMUL).defs["matmul"], {"M": 16, "K": 12, "N": 8})
    monkeypatch.setenv("TCIR_TEST_BASE", str(space.project(MappingOptions())))
    # the timeout leaves a fresh worker the time to start and import tcir
    executor = LocalExecutor(workers=2, timeout_s=20, compile_fn=compiler)
    try:
        result = autotune(MATMUL, "matmul", a, b, strategy="random", max_candidates=3, progress=False,
                          executor=executor)
    finally:
        executor.close()
    failed = result.history[1:]
    assert failed and all(t.time_s is None and error in t.error for t in failed), [t.error for t in failed]
    assert result.options == result.history[0].options  # only the base options ran right
    np.testing.assert_allclose(tcir.compile(MATMUL, "matmul", a, b)(a, b), a @ b, rtol=1e-5)


def test_the_best_options_are_cached_and_used_by_the_api():
    a, b = inputs()
    kernel = tcir.compile(MATMUL, "matmul", a, b)
    assert kernel.options_for(a, b) == MappingOptions()  # never tuned: the naive preset
    result = autotune(MATMUL, "matmul", a, b, max_candidates=6, progress=False, timer=synthetic_time)
    assert result.options != MappingOptions()
    for fresh in (tcir.compile(MATMUL, "matmul", a, b), getattr(tcir.define(MATMUL), "matmul")):
        assert fresh.options_for(a, b) == result.options
        np.testing.assert_allclose(fresh(a, b), a @ b, rtol=1e-5)
    assert tcir.compile(MATMUL, "matmul", a, b, options="naive").options_for(a, b) == MappingOptions()
    other = inputs(m=20)  # another layout: not tuned
    assert tcir.compile(MATMUL, "matmul", *other).options_for(*other) == MappingOptions()


def test_tuned_options_are_found_by_another_process(tmp_path):
    a, b = inputs()
    result = autotune(MATMUL, "matmul", a, b, max_candidates=6, progress=False, timer=synthetic_time)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    script = textwrap.dedent(f"""
        import numpy as np, tcir
        a, b = np.load({str(tmp_path / 'a.npy')!r}), np.load({str(tmp_path / 'b.npy')!r})
        print(tcir.compile({MATMUL!r}, "matmul", a, b).options_for(a, b))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ, check=True)
    assert MappingOptions.parse(done.stdout.strip()) == result.options


def test_the_options_cache_round_trips_and_rejects_bad_entries():
    layout = Layout.of({"M": 4, "K": 3, "N": 2}, {}, {"A": "float32", "B": "float32", "C": "float32"})
    target = CpuTarget()
    assert options_cache.best(MATMUL, "matmul", target, layout) == []
    fast, slow = MappingOptions().tile(2, 2), MappingOptions().unroll(4)
    options_cache.record(MATMUL, "matmul", target, layout, [(slow, 2.0), (fast, 1.0)])
    assert options_cache.best(MATMUL, "matmul", target, layout) == [(fast, 1.0), (slow, 2.0)]
    kept = options_cache.record(MATMUL, "matmul", target, layout,
                                [(MappingOptions().unroll(i), 3.0 + i) for i in (2, 8, 16, 32)] + [(slow, 0.5)])
    assert kept[0] == (slow, 0.5) and len(kept) == options_cache.KEEP
    [path] = Path(disk_cache.cache_dir()).glob("*.tcir")  # the only entry: these options
    disk_cache.put(path.stem, {"format": 1, "options": [{"options": "tile=-3", "time_s": 1.0}]}, {})
    with pytest.warns(TcWarning, match="not a tuned-options entry"):
        assert options_cache.best(MATMUL, "matmul", target, layout) == []
    assert not path.exists()  # removed: the next tuning starts afresh


def test_ctrl_c_keeps_the_best_so_far(tmp_path):
    script = textwrap.dedent(f"""
        import signal, sys, time, numpy as np, tcir
        # Ctrl-C as in a terminal, whatever SIGINT disposition the test runner passed down
        # (a process started with SIGINT ignored never raises KeyboardInterrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_tuner import inputs, synthetic_time
        def slow_timer(options):
            print("measured", flush=True)
            time.sleep(0.3)
            return synthetic_time(options)
        a, b = inputs()
        r = tcir.autotune({MATMUL!r}, "matmul", a, b, budget_s=300, progress=False, timer=slow_timer)
        print("best", r.options, len(r.history), flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ, start_new_session=True)
    seen = 0
    for line in process.stdout:
        seen += line.startswith("measured")
        if seen == 3:
            os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    [best] = [line for line in out.splitlines() if line.startswith("best")]
    assert int(best.split()[-1]) >= 2  # the base and a candidate at least (the third was interrupted)
    a, b = inputs()  # what it found was kept
    assert str(tcir.compile(MATMUL, "matmul", a, b).options_for(a, b)) == best.split(" ", 1)[1].rsplit(" ", 1)[0]


def test_tc_tune_prints_the_result_and_writes_json_and_a_plot(tmp_path):
    source = tmp_path / "matmul.tc"
    source.write_text(MATMUL + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "tcir.tools.tc_tune", str(source), "--entry", "matmul", "--sizes", "M=16,K=12,N=8",
         "--max-candidates", "3", "--budget", "120", "--no-progress", "--json", str(tmp_path / "r.json"),
         "--plot", str(tmp_path / "curve.png")], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "matmul: best" in done.stdout and "options: " in done.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data) == {"options", "time_s", "base_time_s", "speedup", "history", "source"} and len(data["history"]) <= 3
    MappingOptions.parse(data["options"])
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("arguments, message", [
    (["--entry", "nope", "--sizes", "M=2,K=2,N=2"], "no def named `nope`"),
    (["--entry", "matmul", "--sizes", "M=2"], "needs --sizes for `K`, `N`"),
    (["--entry", "matmul", "--sizes", "M=two"], "size `M` must be an integer from 0 to"),
    (["--entry", "matmul", "--sizes", "M=2,K=2,N=2", "--dtypes", "A"], "--dtypes takes NAME=TYPE items"),
    (["--entry", "matmul", "--sizes", "M=2,K=2,N=2", "--dtypes", "Q=half"], "`matmul` has no parameter `Q`"),
    (["--entry", "matmul", "--sizes", "M=2,K=2,N=2", "--dtypes", "A=floot"],
     "matmul.tc:1:12: error: unknown type `floot` (did you mean `float`?)"),
])
def test_tc_tune_errors_are_one_clean_line(tmp_path, arguments, message):
    source = tmp_path / "matmul.tc"
    source.write_text(MATMUL + "\n")
    done = subprocess.run([sys.executable, "-m", "tcir.tools.tc_tune", str(source), *arguments, "--no-progress"],
                          capture_output=True, text=True, env=os.environ)
    assert done.returncode == 1 and message in done.stderr and "Traceback" not in done.stderr


def test_tc_tune_retypes_parameters_with_dtypes(tmp_path):
    source = tmp_path / "matmul.tc"
    source.write_text("# two lines\n" + MATMUL.replace("float(K,N) B", "\n    float(K,N) B") + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "tcir.tools.tc_tune", str(source), "--entry", "matmul", "--sizes", "M=16,K=12,N=8",
         "--dtypes", "A=double, B=double", "--max-candidates", "2", "--no-progress", "--json", str(tmp_path / "r.json")],
        capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "retyped: def matmul(double(M, K) A, double(K, N) B)" in done.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert "double(M,K) A" in data["source"] and "double(K,N) B" in data["source"] and "# two lines" in data["source"]
    a, b = (x.astype(np.float64) for x in inputs())
    kernel = tcir.compile(data["source"], "matmul", a, b)  # the retyped def finds the tuned options
    assert str(kernel.options_for(a, b)) == data["options"]


def test_unknown_strategy_executor_and_target_are_errors():
    a, b = inputs()
    for kwargs, message in [({"strategy": "annealing"}, "unknown tuning strategy"),
                            ({"executor": "dask"}, "unknown executor"),
                            ({"target": "tpu"}, "unknown target")]:
        with pytest.raises(TcError, match=message):
            autotune(MATMUL, "matmul", a, b, progress=False, **kwargs)


def test_ray_finds_what_the_local_executor_finds():
    ray = pytest.importorskip("ray")
    from tcir.tuning.ray_executor import RayExecutor

    def timer(options):  # defined here: Ray's workers get it by value (they cannot import tests)
        return 1e-3 * (1 + abs(np.log2(max(options["tile"][0], 1)) - 3) + abs(np.log2(options["unroll"]) - 2))

    a, b = inputs()
    # a budget far above what 5 candidates need: on a loaded machine Ray's first task (a
    # worker starting) can take most of the default 60 s, and the search would stop early
    local = autotune(MATMUL, "matmul", a, b, max_candidates=5, seed=3, progress=False, timer=timer, budget_s=900)
    try:
        executor = RayExecutor(num_cpus=2, include_dashboard=False, log_to_driver=False)
        remote = autotune(MATMUL, "matmul", a, b, max_candidates=5, seed=3, progress=False, timer=timer,
                          executor=executor, budget_s=900)
    finally:
        ray.shutdown()
    assert remote.options == local.options
    assert [t.options for t in remote.history] == [t.options for t in local.history]


def test_compile_request_is_the_driver_compilation():
    a, b = inputs()
    kernel = tcir.compile(MATMUL, "matmul", a, b)
    layout = kernel.prepare((a, b))[3]
    request = CompileRequest(MATMUL, "<string>", "matmul", CpuTarget(), layout, str(MappingOptions()))
    direct = compile_def(check_source(MATMUL), "matmul", CpuTarget(), layout, MappingOptions())
    assert compile_request(request).metadata == direct.metadata


# target="cuda" without a GPU: a fake device (compute capability 8.6), and an executor
# that compiles and reports in this process, recording what it does, and "measures" with
# the injected timer (the outputs are a @ b: nothing runs).

class InProcessExecutor:
    def __init__(self, outputs, failing):
        self.outputs, self.failing = outputs, failing
        self.compiled, self.reported, self.archs = [], [], set()

    def compile(self, requests):
        for request in requests:
            self.compiled.append(request.mapping)
            yield request, compile_request(request)

    def report(self, requests, arch):
        self.archs.add(arch)
        for request in requests:
            self.reported.append(request.mapping)
            yield request, "ptxas fatal: stand-in" if self.failing(request.mapping) else report_request(request, arch)

    def measure(self, request):
        return Measured(request.timer(request.compiled_for.mapping), self.outputs)

    def close(self):
        pass


@pytest.fixture
def fake_gpu(monkeypatch):
    device = SimpleNamespace(name="fake", ordinal=0, compute_capability=(8, 6),
                             driver=SimpleNamespace(cuDriverGetVersion=lambda: 12040))
    monkeypatch.setattr(api, "require_gpu", lambda: device)


needs_ptxas = pytest.mark.skipif(find_ptxas() is None, reason="ptxas not found (pip install nvidia-cuda-nvcc-cu12)")


@needs_ptxas
def test_the_model_strategy_on_cuda_reports_its_best_ranked_candidates(fake_gpu):
    a, b = inputs()
    executor = InProcessExecutor((a @ b,), failing=lambda options: options["usePrivateMemory"])
    result = autotune(MATMUL, "matmul", a, b, target="cuda", strategy="model", max_candidates=16, progress=False,
                      executor=executor, timer=synthetic_time)
    assert executor.archs == {"sm_86"}  # the device's architecture, though its PTX is sm_80's
    assert 0 < len(executor.reported) <= 12  # one round after the warm-up: its best-ranked 12
    failed = [o for o in executor.reported if o["usePrivateMemory"]]
    trials = {t.options: t for t in result.history}
    assert failed and all(trials[o].time_s is None and trials[o].error == "ptxas fatal: stand-in" for o in failed)
    measured = [t.options for t in result.history if t.time_s is not None]
    assert set(executor.reported) & set(measured)  # reported, then measured without compiling again
    assert not set(executor.reported) & set(executor.compiled)
    assert result.time_s == min(synthetic_time(o) for o in measured)


def test_without_ptxas_the_model_strategy_on_cuda_learns_from_the_options_alone(fake_gpu, monkeypatch):
    monkeypatch.setattr(tuner, "find_ptxas", lambda: None)
    a, b = inputs()
    executor = InProcessExecutor((a @ b,), failing=lambda options: False)
    with pytest.warns(TcWarning, match="tunes without GPU reports: ptxas not found"):
        result = autotune(MATMUL, "matmul", a, b, target="cuda", strategy="model", max_candidates=9,
                          progress=False, executor=executor, timer=synthetic_time)
    assert len(result.history) == 9 and executor.reported == []


@needs_ptxas
def test_gpu_reports_in_workers_are_tcir_gpu_reports_and_their_compilations():
    a, b = inputs()
    options = MappingOptions().tile(8, 8, 4).mapToThreads(8, 8).useSharedMemory(True)
    layout = tcir.compile(MATMUL, "matmul", a, b).prepare((a, b))[3]
    request = CompileRequest(MATMUL, "<string>", "matmul", CudaTarget(GpuMachine("sm_80", "fake", (8, 6), 12040)),
                             layout, str(options))
    executor = LocalExecutor(workers=1)
    try:
        [(_, (report, compiled))] = executor.report([request], "sm_86")
        [(_, error)] = executor.report([request], "sm_75")  # ptxas refuses sm_80 PTX for sm_75
    finally:
        executor.close()
    public = tcir.gpu_report(MATMUL, "matmul", a, b, options=options, arch="sm_86")
    assert [report[k] for k in REPORT_FEATURES] == [public[k] for k in REPORT_FEATURES]
    assert compiled == compile_request(request)
    assert error.startswith("ptxas rejected the PTX for sm_75")
