"""The compilation cache as the API uses it (tcir/driver.py `compile_kernel`, docs/cache.md).

Hits across processes, many processes compiling one key at once, what goes into the
key, bad entries, the on/off switch, `tcir.cache_info` and `tcir.clear_cache`.

A hit is proven without timing: the scripts run in fresh processes (so the in-process
memo of loaded kernels is empty) with `tcir.driver.compile_def` wrapped to count the
compilations, and print what they saw as JSON. Results are checked against NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import islpy
import llvmlite
import numpy as np
import pytest
import xdsl

import tcir
from tcir import TcError, TcWarning, cache_info, clear_cache
from tcir import cache as disk_cache
from tcir.backends.cpu import CpuMachine
from tcir.cache import cache_key
from tcir.driver import CpuTarget, CudaTarget, GpuMachine, Layout, cache_components
from tcir.mapping_options import MappingOptions

ROOT = Path(__file__).resolve().parents[1]

MATMUL = """
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, r_k) * B(r_k, n)
}
"""
SHAPES = {"A": (5, 3), "B": (3, 4)}

# Runs in a fresh interpreter. argv[1] is a JSON dict: "jobs", a list of calls, each
# with "source", "entry", "seed", and optionally "transpose_a" (A as a transposed view:
# other strides) and "env" (set before the call); and optionally "ready" and "wait_for"
# (to start together: touch `ready`, then wait until `wait_for` exists). It prints one
# JSON report per job: the result (or the TcError), the compile_def calls and warnings.
CHILD = r"""
import json, os, sys, time, warnings
import numpy as np

args = json.loads(sys.argv[1])
import tcir
import tcir.driver as driver

calls = []
_compile_def = driver.compile_def

def counting_compile_def(*a, **k):
    calls.append(1)
    return _compile_def(*a, **k)

driver.compile_def = counting_compile_def

if args.get("ready"):
    open(args["ready"], "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(args["wait_for"]) and time.monotonic() < deadline:
        time.sleep(0.005)

reports = []
for job in args["jobs"]:
    os.environ.update(job.get("env", {}))
    rng = np.random.default_rng(job["seed"])
    A = rng.standard_normal((5, 3)).astype(np.float32)
    B = rng.standard_normal((3, 4)).astype(np.float32)
    if job.get("transpose_a"):
        A = np.ascontiguousarray(A.T).T
    before = len(calls)
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            kernel = getattr(tcir.define(job["source"]), job["entry"])
            out["result"] = kernel(A, B).tolist()
        except tcir.TcError as err:
            out["error"] = str(err)
    out["calls"] = len(calls) - before
    out["warnings"] = [[w.category.__name__, str(w.message)] for w in caught]
    reports.append(out)
print(json.dumps(reports))
"""


def inputs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The child's inputs, made the same way."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(SHAPES["A"]).astype(np.float32),
            rng.standard_normal(SHAPES["B"]).astype(np.float32))


def expected(seed: int) -> np.ndarray:
    A, B = inputs(seed)
    C = np.zeros((5, 4), np.float64)
    for m in range(5):
        for n in range(4):
            for k in range(3):
                C[m, n] += float(A[m, k]) * float(B[k, n])
    return C


def child_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCIR_CACHE")}
    env["TCIR_CACHE_DIR"] = str(cache_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def job(source: str = MATMUL, entry: str = "matmul", seed: int = 0, **extra) -> dict:
    return {"source": source, "entry": entry, "seed": seed, **extra}


def parse(stdout: str, stderr: str, returncode: int) -> list[dict]:
    assert returncode == 0, f"the child process failed ({returncode}):\n{stderr[-3000:]}"
    return json.loads(stdout.strip().splitlines()[-1])


def run_jobs(cache_dir: Path, jobs: list[dict], env: dict[str, str] | None = None) -> list[dict]:
    """Run CHILD with `jobs` in one fresh interpreter; its reports."""
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps({"jobs": jobs})], capture_output=True,
                          text=True, env=child_env(cache_dir, **(env or {})), timeout=120)
    return parse(proc.stdout, proc.stderr, proc.returncode)


def run_child(cache_dir: Path, env: dict[str, str] | None = None, **args) -> dict:
    """One call of the matmul (or `source`'s `entry`) in a fresh interpreter; its report."""
    [report] = run_jobs(cache_dir, [job(**args)], env)
    return report


def assert_correct(report: dict, seed: int = 0) -> None:
    assert "error" not in report, report["error"]
    np.testing.assert_allclose(np.array(report["result"]), expected(seed), rtol=1e-5, atol=1e-5)


def assert_hit(report: dict, seed: int) -> None:
    """The kernel was loaded from the cache, silently, and computes correctly."""
    assert report["calls"] == 0
    assert report["warnings"] == []
    assert_correct(report, seed)


def entries(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.tcir"))


# --- hits across processes --------------------------------------------------------------


def test_a_second_process_hits(tmp_path):
    first = run_child(tmp_path, seed=1)
    assert first["calls"] == 1
    assert first["warnings"] == []
    assert_correct(first, seed=1)
    [entry] = entries(tmp_path)
    assert len(entry.stem) == 64 and all(c in "0123456789abcdef" for c in entry.stem)
    assert entry.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry.name]  # no temp file left

    assert_hit(run_child(tmp_path, seed=2), seed=2)  # other values, same layout: the same kernel
    assert entries(tmp_path) == [entry]


def test_edits_to_the_text_hit_other_tokens_and_strides_miss(tmp_path):
    assert run_child(tmp_path, seed=3)["calls"] == 1
    reformatted = ("# the same def\ndef matmul(float(M,K) A,float(K,N) B)->(C){\n"
                   "\tC(m,n) +=! A(m,r_k)*B(r_k,n)  # sum\n}\n")
    renamed = MATMUL.replace("r_k", "r_j")  # the same computation, other tokens
    # in one process: each job's in-process memo key differs, so each looks at the disk
    same_text, other_tokens, column_major = run_jobs(tmp_path, [
        job(reformatted, seed=4),
        job(renamed, seed=5),
        # a column-major A is another layout: compiled for its strides, not loaded from
        # the row-major entry (which would read A wrongly)
        job(MATMUL, seed=6, transpose_a=True),
    ])
    assert_hit(same_text, seed=4)
    assert other_tokens["calls"] == 1
    assert_correct(other_tokens, seed=5)
    assert column_major["calls"] == 1
    assert_correct(column_major, seed=6)
    assert len(entries(tmp_path)) == 3


# --- concurrency --------------------------------------------------------------------------


def test_eight_processes_compiling_one_key_at_once(tmp_path):
    cache_dir, sync = tmp_path / "cache", tmp_path / "sync"
    sync.mkdir()
    go = sync / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD,
                               json.dumps({"jobs": [job(seed=i)], "ready": str(sync / f"ready{i}"),
                                           "wait_for": str(go)})],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(cache_dir))
             for i in range(8)]
    try:
        deadline = time.monotonic() + 90
        while (sum((sync / f"ready{i}").exists() for i in range(8)) < 8 and time.monotonic() < deadline
               and all(p.poll() is None for p in procs)):
            time.sleep(0.01)
        go.touch()  # every process has imported tcir: they all look the key up at once
        outputs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    reports = [parse(out, err, p.returncode)[0] for (out, err), p in zip(outputs, procs)]
    for seed, report in enumerate(reports):
        assert_correct(report, seed)
        assert report["warnings"] == []
        assert report["calls"] in (0, 1)
    assert sum(r["calls"] for r in reports) >= 1
    [entry] = entries(cache_dir)
    assert [p.name for p in cache_dir.iterdir()] == [entry.name]  # no temp files
    assert_hit(run_child(cache_dir, seed=8), seed=8)


# --- what the key depends on ---------------------------------------------------------------

CPU = CpuMachine("x86_64-unknown-linux-gnu", "skylake", "+avx,+avx2,+sse4.2")
GPU = GpuMachine("sm_90", "NVIDIA H100", (9, 0), 12040)
LAYOUT = dict(sizes={"M": 5, "K": 3, "N": 4}, strides={"A": (3, 1), "B": (4, 1), "C": (4, 1)},
              dtypes={"A": "float32", "B": "float32", "C": "float32"})


def key_of(source=MATMUL, entry="matmul", target=None, layout=None, mapping=None) -> str:
    return cache_key(cache_components(source, entry, target or CpuTarget(CPU),
                                      layout or Layout.of(**LAYOUT), mapping or MappingOptions()))


def layout_with(**changes) -> Layout:
    parts = {name: dict(value) for name, value in LAYOUT.items()}
    for name, (tensor, value) in changes.items():
        parts[name][tensor] = value
    return Layout.of(**parts)


TWO_DEFS = MATMUL + """
def matmul2(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, r_k) * B(r_k, n)
}
"""

VARIANTS = {
    "source: another body": lambda: key_of(source=MATMUL.replace("A(m, r_k) * B", "A(m, r_k) + B")),
    "source: a renamed index": lambda: key_of(source=MATMUL.replace("r_k", "r_j")),
    "source: another constant": lambda: key_of(source=MATMUL.replace("A(m, r_k)", "2.0 * A(m, r_k)")),
    "layout: a size": lambda: key_of(layout=layout_with(sizes=("N", 5))),
    "layout: a stride": lambda: key_of(layout=layout_with(strides=("A", (1, 5)))),
    "layout: a dtype": lambda: key_of(layout=layout_with(dtypes=("C", "float64"))),
    "target: cuda": lambda: key_of(target=CudaTarget(GPU)),
    "cpu: triple": lambda: key_of(target=CpuTarget(CpuMachine("aarch64-unknown-linux-gnu", CPU.cpu, CPU.features))),
    "cpu: name": lambda: key_of(target=CpuTarget(CpuMachine(CPU.triple, "icelake-server", CPU.features))),
    "cpu: features": lambda: key_of(target=CpuTarget(CpuMachine(CPU.triple, CPU.cpu, CPU.features + ",+avx512f"))),
    "gpu: arch": lambda: key_of(target=CudaTarget(GpuMachine("sm_80", GPU.name, GPU.capability, GPU.driver_version))),
    "gpu: name": lambda: key_of(target=CudaTarget(GpuMachine(GPU.arch, "NVIDIA H200", GPU.capability,
                                                             GPU.driver_version))),
    "gpu: capability": lambda: key_of(target=CudaTarget(GpuMachine(GPU.arch, GPU.name, (9, 1), GPU.driver_version))),
    "gpu: driver": lambda: key_of(target=CudaTarget(GpuMachine(GPU.arch, GPU.name, GPU.capability, 12050))),
    "mapping: tile": lambda: key_of(mapping=MappingOptions().tile(32)),
    "mapping: preset": lambda: key_of(mapping=MappingOptions("mlp")),
    "mapping: unroll": lambda: key_of(mapping=MappingOptions().unroll(4)),
}


def test_every_component_changes_the_key():
    base = key_of()
    keys = {name: make() for name, make in VARIANTS.items()}
    same = [name for name, key in keys.items() if key == base]
    assert same == [], f"these changes keep the key: {same}"
    assert len(set(keys.values())) == len(keys), "two different changes share a key"
    # the entry alone: another def of the same source
    assert key_of(source=TWO_DEFS, entry="matmul") != key_of(source=TWO_DEFS, entry="matmul2")


def test_the_key_is_stable_and_ignores_comments_and_layout_of_the_text():
    base = key_of()
    assert key_of() == base
    assert key_of(target=CpuTarget(CpuMachine(CPU.triple, CPU.cpu, CPU.features))) == base
    assert key_of(mapping=MappingOptions.parse(str(MappingOptions()))) == base
    reformatted = ("# matmul, reformatted\n\ndef   matmul(float(M,K) A,float(K,N) B)->(C)\n{\n"
                   "  C(m,n)\t+=!  A(m,r_k)*B(r_k,n)   # the product\n}\n\n")
    assert key_of(source=reformatted) == base


@pytest.mark.parametrize("module, attribute", [(llvmlite, "__version__"), (xdsl, "__version__"),
                                                (islpy, "VERSION_TEXT")])
def test_a_tool_version_changes_the_key(monkeypatch, module, attribute):
    base = key_of()
    monkeypatch.setattr(module, attribute, "0.0.0+other")
    assert key_of() != base


VERSION_KEY = r"""
import importlib.metadata, sys
real = importlib.metadata.version
if sys.argv[1]:
    importlib.metadata.version = lambda name: sys.argv[1] if name == "tcir" else real(name)
from tcir.backends.cpu import CpuMachine
from tcir.cache import cache_key
from tcir.driver import CpuTarget, Layout, cache_components
from tcir.mapping_options import MappingOptions
layout = Layout.of({"M": 5, "K": 3, "N": 4}, {"A": (3, 1), "B": (4, 1), "C": (4, 1)},
                   {"A": "float32", "B": "float32", "C": "float32"})
target = CpuTarget(CpuMachine("x86_64-unknown-linux-gnu", "skylake", "+avx,+avx2,+sse4.2"))
print(cache_key(cache_components(sys.argv[2], "matmul", target, layout, MappingOptions())))
"""


def test_the_tcir_version_changes_the_key(tmp_path):
    def key_with(version: str) -> str:
        proc = subprocess.run([sys.executable, "-c", VERSION_KEY, version, MATMUL], capture_output=True,
                              text=True, env=child_env(tmp_path), timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert key_with("") == key_of()  # the same components in another process: the same key
    assert key_with("99.0.0") != key_of()


# --- bad entries ---------------------------------------------------------------------------


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


# What a bad entry file holds, from the good one (`path` is where it lies).
CORRUPTIONS = {
    "garbage": lambda path, data: path.write_bytes(b"\x00\xffnot a tcir entry at all\n" * 40),
    "empty": lambda path, data: path.write_bytes(b""),
    "truncated in the magic line": lambda path, data: path.write_bytes(data[:5]),
    "truncated in the header": lambda path, data: path.write_bytes(data[:40]),
    "truncated in the blob": lambda path, data: path.write_bytes(data[:-10]),
    "a flipped bit": lambda path, data: path.write_bytes(_flip_last_byte(data)),
    "another key's entry": lambda path, data: path.write_bytes(data.replace(path.stem.encode(), b"0" * 64)),
    "unreadable (a directory)": lambda path, data: path.mkdir(),
}


def _without(metadata: dict, name: str) -> dict:
    return {k: v for k, v in metadata.items() if k != name}


def _renamed_parts(metadata: dict) -> dict:
    plan = dict(metadata["plan"], parts=[dict(part, name="no_such_function") for part in metadata["plan"]["parts"]])
    return dict(metadata, plan=plan)


# Entries that pass the store's checks (rewritten through `tcir.cache.put`) with
# metadata the compiler cannot load: compile_kernel's `reject` path.
UNLOADABLE = {
    "no plan": lambda metadata: _without(metadata, "plan"),
    "no signatures": lambda metadata: _without(metadata, "signatures"),
    "a plan of other functions": _renamed_parts,
    "a plan that is not one": lambda metadata: dict(metadata, plan=["not", "a", "plan"]),
}


def _store(key: str, metadata: dict, blobs: dict[str, bytes]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        disk_cache.put(key, metadata, blobs)


def _named(name: str) -> str:
    return "matmul_" + "".join(c if c.isalnum() else "_" for c in name)


def test_bad_entries_warn_and_are_recompiled(tmp_path, monkeypatch):
    """Each case in its own directory and def (so that one process checks them all with
    an empty in-process memo for each): a fresh process warns once, naming the file,
    computes correctly, and leaves a good entry that the next process loads silently."""
    cases = [*CORRUPTIONS, *UNLOADABLE]
    dirs = {case: tmp_path / f"case{i}" for i, case in enumerate(cases)}
    jobs = [job(MATMUL.replace("matmul", _named(case)), _named(case), seed=20 + i,
                env={"TCIR_CACHE_DIR": str(dirs[case])}) for i, case in enumerate(cases)]
    assert all(r["calls"] == 1 for r in run_jobs(tmp_path, jobs))

    monkeypatch.setenv("TCIR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TCIR_CACHE", raising=False)
    paths = {}
    for case in cases:
        [path] = entries(dirs[case])
        paths[case] = path
        if case in CORRUPTIONS:
            data = path.read_bytes()
            path.unlink()
            CORRUPTIONS[case](path, data)
        else:
            monkeypatch.setenv("TCIR_CACHE_DIR", str(dirs[case]))
            entry = disk_cache.get(path.stem)
            assert entry is not None
            _store(path.stem, UNLOADABLE[case](json.loads(json.dumps(entry.metadata))), entry.blobs)

    problems = {}
    for i, (case, report) in enumerate(zip(cases, run_jobs(tmp_path, jobs))):
        try:
            assert_correct(report, seed=20 + i)
            assert report["calls"] == 1
            [(category, message)] = report["warnings"]  # exactly one
            assert category == "TcWarning"
            assert str(paths[case]) in message
            if case in UNLOADABLE:
                assert "cannot be loaded" in message
            assert paths[case].is_file()  # a good entry is back
        except (AssertionError, ValueError) as err:
            problems[case] = f"{err!r}: {report}"
    assert problems == {}

    for i, (case, report) in enumerate(zip(cases, run_jobs(tmp_path, jobs))):
        try:
            assert_hit(report, seed=20 + i)
        except AssertionError as err:
            problems[case] = f"{err!r}: {report}"
    assert problems == {}


@pytest.fixture(scope="module")
def good_entry(tmp_path_factory) -> tuple[str, bytes]:
    """The key and bytes of the matmul's entry, written by a first process."""
    directory = tmp_path_factory.mktemp("good-entry")
    assert run_child(directory)["calls"] == 1
    [entry] = entries(directory)
    return entry.stem, entry.read_bytes()


@pytest.mark.parametrize("binary", ["junk", "half"])
def test_object_code_the_compiler_cannot_load_warns_and_is_recompiled(tmp_path, monkeypatch, good_entry, binary):
    key, data = good_entry
    monkeypatch.setenv("TCIR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TCIR_CACHE", raising=False)
    path = tmp_path / f"{key}.tcir"
    path.write_bytes(data)
    entry = disk_cache.get(key)
    blob = entry.blobs["binary"]
    junk = b"\x7fELF junk, not object code " * 20 if binary == "junk" else blob[: len(blob) // 2]
    _store(key, entry.metadata, {"binary": junk})

    report = run_child(tmp_path, seed=7)
    assert_correct(report, seed=7)
    assert report["calls"] == 1
    [(category, message)] = report["warnings"]
    assert category == "TcWarning"
    assert str(path) in message and "cannot be loaded" in message


# --- on and off -------------------------------------------------------------------------------


def test_a_disabled_cache_compiles_every_time_and_writes_nothing(tmp_path):
    assert run_child(tmp_path, seed=9)["calls"] == 1  # the cache on: an entry
    [path] = entries(tmp_path)
    data = path.read_bytes()
    os.utime(path, (1_000_000_000, 1_000_000_000))
    # off: compiled again, the entry neither read (a hit refreshes its mtime) nor
    # replaced, and nothing else written
    report = run_child(tmp_path, {"TCIR_CACHE": "0"}, seed=10)
    assert report["calls"] == 1
    assert report["warnings"] == []
    assert_correct(report, seed=10)
    assert path.read_bytes() == data
    assert path.stat().st_mtime == 1_000_000_000
    assert list(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("value", ["yes", "2", "off", "true"])
def test_an_invalid_switch_is_an_error_of_the_call(tmp_path, monkeypatch, value):
    monkeypatch.setenv("TCIR_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TCIR_CACHE", value)
    # a def of its own, so that the in-process memo of loaded kernels cannot answer
    source = MATMUL.replace("matmul", f"matmul_switch_{value}")
    kernel = getattr(tcir.define(source), f"matmul_switch_{value}")
    A, B = inputs(0)
    with pytest.raises(TcError, match="TCIR_CACHE"):
        kernel(A, B)
    assert list(tmp_path.iterdir()) == []


# --- info and clear ------------------------------------------------------------------------


def test_cache_info_counts_the_entry_and_clear_cache_removes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TCIR_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TCIR_CACHE", raising=False)
    monkeypatch.delenv("TCIR_CACHE_MAX_BYTES", raising=False)
    info = cache_info()
    assert (info["directory"], info["entries"], info["bytes"], info["enabled"]) == (str(tmp_path), 0, 0, True)

    # a def of its own, so that the in-process memo of loaded kernels cannot answer
    source = MATMUL.replace("matmul", "matmul_info")
    A, B = inputs(14)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        C = tcir.define(source).matmul_info(A, B)
    np.testing.assert_allclose(C, expected(14), rtol=1e-5, atol=1e-5)
    [entry] = entries(tmp_path)
    info = cache_info()
    assert (info["entries"], info["bytes"]) == (1, entry.stat().st_size)

    (tmp_path / "notes.txt").write_text("not tcir's")
    assert clear_cache() == 1
    assert entries(tmp_path) == []
    assert (tmp_path / "notes.txt").read_text() == "not tcir's"
    assert (cache_info()["entries"], cache_info()["bytes"]) == (0, 0)
    assert clear_cache() == 0

    # really gone: the next process compiles again, and caches it again
    report = run_child(tmp_path, source=source, entry="matmul_info", seed=15)
    assert report["calls"] == 1
    assert_correct(report, seed=15)
    assert cache_info()["entries"] == 1

    monkeypatch.setenv("TCIR_CACHE", "0")
    assert cache_info()["enabled"] is False
