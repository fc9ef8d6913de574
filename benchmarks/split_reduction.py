"""Long reductions with few results, split in two stages (`splitReduction`), on the CPU.

For a total sum, a split-K contraction with a 4 x 4 result and the squared norms of 8
long rows, prints a markdown table: the median milliseconds of tcir without the
option, tcir with `splitReduction` = 2 x the threads and 8 x the threads (the
partial results run in parallel, then a short second reduction combines them), NumPy
and PyTorch, all timed in this run, and the ratios against the better of NumPy and
PyTorch.

    .venv/bin/python benchmarks/split_reduction.py [--repeat 20] [--threads N] [--no-write]

Writes its section of docs/benchmarks.md. `--threads` (default: the machine's cores)
sets TCIR_NUM_THREADS and PyTorch's threads; NumPy's sum runs on one core.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np
import torch
from report import write_section

import tcir

HEADING = "## Split reductions (splitReduction)"

CASES = [  # (label, source, entry, inputs, numpy, torch)
    ("sum of 16M", "def total(float(N) A) -> (S) { S +=! A(i) }", "total",
     lambda r: (r.standard_normal(1 << 24).astype(np.float32),), lambda a: a.sum(), lambda a: a.sum()),
    ("4x4 matmul, K=1M", "def mm(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, k) * B(k, n) }", "mm",
     lambda r: (r.standard_normal((4, 1 << 20)).astype(np.float32), r.standard_normal((1 << 20, 4)).astype(np.float32)),
     lambda a, b: a @ b, lambda a, b: a @ b),
    ("norms of 8 rows of 2M", "def norms(float(R, N) X) -> (S) { S(r) +=! X(r, i) * X(r, i) }", "norms",
     lambda r: (r.standard_normal((8, 1 << 21)).astype(np.float32),),
     lambda x: np.einsum("ri,ri->r", x, x), lambda x: (x * x).sum(1)),
]


def median_ms(fn, repeat: int) -> float:
    fn()  # compile, warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    os.environ["TCIR_NUM_THREADS"] = str(args.threads)  # read when tcir's pool starts: before any call
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    splits = (2 * args.threads, 8 * args.threads)
    rows = []
    for label, source, entry, make, numpy_fn, torch_fn in CASES:
        inputs = make(rng)
        tensors = [torch.from_numpy(a) for a in inputs]
        ours = [median_ms(lambda k=tcir.compile(source, entry, options=tcir.MappingOptions().splitReduction(p)):
                          k(*inputs), args.repeat) for p in (0, *splits)]
        reference = min(median_ms(lambda: numpy_fn(*inputs), args.repeat),
                        median_ms(lambda: torch_fn(*tensors), args.repeat))
        cells = " | ".join(f"{t:.2f} ({reference / t:.2f}x)" for t in ours)
        rows.append(f"| {label} | {cells} | {reference:.2f} |")
    header = (f"{HEADING}\n\nMeasured by `benchmarks/split_reduction.py` on {datetime.date.today()}: CPU "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (load average "
              f"{os.getloadavg()[0]:.1f} at the end of the run), TCIR_NUM_THREADS={args.threads}, torch "
              f"{torch.__version__} ({torch.get_num_threads()} threads); median of {args.repeat} runs, in ms, "
              "with the speed against the better of NumPy and PyTorch in parentheses (above 1x: tcir is "
              "faster). tcir uses the naive preset, with and without `splitReduction` "
              "([gpu.md](gpu.md#split-reductions)): without it, these reductions run on one core.\n\n")
    table = (f"| reduction | tcir (ms) | splitReduction={splits[0]} | splitReduction={splits[1]} | "
             "best of NumPy, PyTorch (ms) |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    print(header + table)
    if not args.no_write:
        write_section(HEADING, header + table)


if __name__ == "__main__":
    main()
