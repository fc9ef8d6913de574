"""CPU benchmarks: tcir against NumPy and PyTorch, measured in one run.

For each canonical kernel at the original Tensor Comprehensions benchmark sizes
(scaled to fit a 2-core machine), prints the median seconds of tcir, NumPy and PyTorch
(when installed) and the ratios, and writes the table to docs/benchmarks.md with the
machine named.

    .venv/bin/python benchmarks/cpu.py [--repeat 5] [--only matmul,softmax] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from report import DOC, replace_head

import tcir

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

try:
    import torch
except ImportError:  # PyTorch is optional: its column is left empty
    torch = None


@dataclass
class Case:
    name: str  # example file stem and def name
    entry: str
    sizes: str  # shown in the table
    make_inputs: Callable[[np.random.Generator], tuple]
    numpy_fn: Callable[..., object]
    torch_fn: Callable[..., object] | None
    options: str | None = None  # tcir.MappingOptions text; None: the API's default


def _f32(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


def _softmax_np(x):
    m = x.max(axis=1)
    e = np.exp(x - m[:, None])
    s = e.sum(axis=1)
    return e / s[:, None], s, m


def _group_norm_np(x, gamma, beta, mean, var):
    return (gamma[None, :, :, None, None] * (x - mean[:, :, None, None, None])
            * (1 / np.sqrt(var[:, :, None, None, None] + 1e-5)) + beta[None, :, :, None, None])


def _maxpool_np(x):
    b, c, h, w = x.shape
    ho, wo = (h - 2) // 2 + 1, (w - 2) // 2 + 1
    return x[:, :, : 2 * ho, : 2 * wo].reshape(b, c, ho, 2, wo, 2).max(axis=(3, 5))


def _t(fn):
    """A PyTorch version of a NumPy-array function, fed tensors made once."""
    return fn if torch is not None else None


CASES = [
    Case("matmul", "matmul", "M=N=K=512", lambda r: (_f32(r, 512, 512), _f32(r, 512, 512)),
         np.matmul, _t(lambda a, b: a @ b)),
    Case("matmul", "matmul", "M=N=K=1024", lambda r: (_f32(r, 1024, 1024), _f32(r, 1024, 1024)),
         np.matmul, _t(lambda a, b: a @ b)),
    Case("matmul", "matmul", "M=N=K=1024, tile=64,128,256", lambda r: (_f32(r, 1024, 1024), _f32(r, 1024, 1024)),
         np.matmul, _t(lambda a, b: a @ b), options="tile=64,128,256"),
    Case("tmm", "tmm", "M=128, N=256, K=32", lambda r: (_f32(r, 128, 32), _f32(r, 256, 32)),
         lambda a, b: a @ b.T, _t(lambda a, b: a @ b.T)),
    Case("tmm", "tmm", "M=128, N=1024, K=1024", lambda r: (_f32(r, 128, 1024), _f32(r, 1024, 1024)),
         lambda a, b: a @ b.T, _t(lambda a, b: a @ b.T)),
    Case("batch_matmul", "batch_matmul", "B=500, N=26, M=72, K=26",
         lambda r: (_f32(r, 500, 26, 72), _f32(r, 500, 72, 26)), np.matmul, _t(torch.bmm if torch else None)),
    Case("fcrelu", "fcrelu", "B=128, M=2000, N=128", lambda r: (_f32(r, 128, 2000), _f32(r, 128, 2000), _f32(r, 128)),
         lambda i, w, b: np.maximum(i @ w.T + b, 0),
         _t(lambda i, w, b: torch.relu(i @ w.T + b))),
    Case("softmax", "softmax", "N=1024, D=1024", lambda r: (_f32(r, 1024, 1024),), _softmax_np,
         _t(lambda x: torch.softmax(x, 1))),
    Case("group_normalization", "group_normalization", "N=8, G=32, D=16, H=W=48 (TC: N=32)",
         lambda r: (_f32(r, 8, 32, 16, 48, 48), _f32(r, 32, 16), _f32(r, 32, 16), _f32(r, 8, 32),
                    np.abs(_f32(r, 8, 32))),
         _group_norm_np,
         _t(lambda x, g, b, m, v: g[None, :, :, None, None] * (x - m[:, :, None, None, None])
            * torch.rsqrt(v[:, :, None, None, None] + 1e-5) + b[None, :, :, None, None])),
    Case("maxpool2x2", "maxpool2x2", "B=32, C=64, H=W=56", lambda r: (_f32(r, 32, 64, 56, 56),), _maxpool_np,
         _t(lambda x: torch.nn.functional.max_pool2d(x, 2))),
    Case("kronecker3_1", "kronecker3_1", "M=256, N0=N1=N2=64, D2=16",
         lambda r: (_f32(r, 16, 64), _f32(r, 256, 64, 64, 64)),
         lambda w, x: x @ w.T, _t(lambda w, x: x @ w.T)),
    Case("2LUT", "_2LUT", "B=128, D=64, L=50, E=10^6 (TC: 10^7)",
         lambda r: (_f32(r, 10**6, 64), r.integers(0, 10**6, (128, 50), dtype=np.int32),
                    _f32(r, 10**6, 64), r.integers(0, 10**6, (128, 50), dtype=np.int32)),
         lambda l1, i1, l2, i2: (l1[i1].sum(axis=1), l2[i2].sum(axis=1)),
         _t(lambda l1, i1, l2, i2: (l1[i1.long()].sum(1), l2[i2.long()].sum(1)))),
    Case("C3", "_C3", "B=128, WX=1000, WY=1024", lambda r: (_f32(r, 128, 1000), _f32(r, 1024, 1000)),
         lambda i, w: i @ w.T, _t(lambda i, w: i @ w.T)),
]


def median_seconds(fn, repeat: int, budget: float = 0.25) -> float:
    """The median of at least `repeat` timed calls after a warm-up call, more (up to
    200) for fast functions, to fill about `budget` seconds: single calls of a fast
    kernel on a busy machine vary a lot."""
    fn()  # warm up (and, for tcir, compile)
    times = []
    while len(times) < repeat or (sum(times) < budget and len(times) < 200):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_case(case: Case, repeat: int) -> dict:
    rng = np.random.default_rng(0)
    inputs = case.make_inputs(rng)
    source = (EXAMPLES / f"{case.name}.tc").read_text()
    start = time.perf_counter()
    kernel = tcir.compile(source, case.entry, *inputs, options=case.options, filename=f"{case.name}.tc")
    compile_s = time.perf_counter() - start
    row = {"case": case, "compile": compile_s,
           "tcir": median_seconds(lambda: kernel(*inputs), repeat),
           "numpy": median_seconds(lambda: case.numpy_fn(*inputs), repeat), "torch": None}
    if torch is not None and case.torch_fn is not None:
        tensors = [torch.from_numpy(x) for x in inputs]
        with torch.no_grad():
            row["torch"] = median_seconds(lambda: case.torch_fn(*tensors), repeat)
    return row


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()}"


def _best(r: dict) -> float:
    """The faster of NumPy and PyTorch."""
    return min(r["numpy"], r["torch"]) if r["torch"] is not None else r["numpy"]


def table(rows: list[dict]) -> str:
    lines = ["| kernel | sizes | tcir s | NumPy s | PyTorch s | NumPy / tcir | PyTorch / tcir "
             "| best / tcir | compile s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        torch_s = f"{r['torch']:.4f}" if r["torch"] is not None else "—"
        torch_ratio = f"{r['torch'] / r['tcir']:.2f}x" if r["torch"] is not None else "—"
        lines.append(f"| {r['case'].entry} | {r['case'].sizes} | {r['tcir']:.4f} | {r['numpy']:.4f} | {torch_s} "
                     f"| {r['numpy'] / r['tcir']:.2f}x | {torch_ratio} | {_best(r) / r['tcir']:.2f}x "
                     f"| {r['compile']:.2f} |")
    lines.append("")
    for what, ratio in (("NumPy / tcir", lambda r: r["numpy"] / r["tcir"]),
                        ("best of NumPy and PyTorch / tcir", lambda r: _best(r) / r["tcir"])):
        mean = statistics.geometric_mean([ratio(r) for r in rows])
        lines.append(f"Geometric mean of {what}: {mean:.3f}x (above 1: tcir is faster).  ")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated def names")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    rows = []
    tcir.compile("def warm(float(N) A) -> (B) { B(i) = A(i) }", "warm", np.zeros(4, np.float32))  # imports
    for case in CASES:
        if only and case.entry not in only and case.name not in only:
            continue
        rows.append(run_case(case, args.repeat))
        r = rows[-1]
        print(f"{case.entry:22} {case.sizes:36} tcir {r['tcir']:.4f}s  numpy {r['numpy']:.4f}s  "
              f"torch {r['torch'] if r['torch'] is None else round(r['torch'], 4)}  compile {r['compile']:.2f}s",
              flush=True)
    text = table(rows)
    print(text)
    if not args.no_write:
        head = HEADER.format(machine=machine(), torch=torch.__version__ if torch else "not installed",
                             numpy=np.__version__) + text + "\n"
        DOC.write_text(replace_head(DOC.read_text() if DOC.exists() else "", head))


GPU_HEADING = "## GPU"


HEADER = """# Benchmarks

Measured by `benchmarks/cpu.py` in one run: median of at least 5 timed calls after a
warm-up call (up to 200 for fast kernels, about 0.25 s of calls each). Compile time is `tcir.compile` for the inputs (isl scheduling, xDSL lowering,
LLVM O3 and JIT; module imports excluded by a first compile of another kernel).
Ratios above 1 mean tcir is faster. tcir runs the polyhedral pipeline
(`convert-tc-to-loops`) with the API's default mapping options (the naive preset)
unless the sizes column names options; parallel loops run on all cores. NumPy and
PyTorch call multi-threaded BLAS / ATen kernels where they can.

Machine: {machine}. NumPy {numpy}, PyTorch {torch}.

"""


if __name__ == "__main__":
    main()
