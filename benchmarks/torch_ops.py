"""TC layers through `tcir.torch` against the same layers in PyTorch eager, on the CPU.

For fcrelu, group normalization, softmax and 2LUT (two embedding bags, whose backward
is a scatter-add) from examples/*.tc, prints a markdown table:
the median milliseconds of forward + backward through the registered custom op (the
backward runs tcir.grad's gradient def) and through the equivalent PyTorch expression,
and the overhead of calling the custom op instead of the bare tcir kernel (forward
only, same kernel, already compiled: the difference is the dispatcher, the autograd
wrapper, the argument checks and the tensor <-> NumPy views).

    .venv/bin/python benchmarks/torch_ops.py [--repeat 20] [--threads 1] [--no-write]

Writes its section of docs/benchmarks.md.

Both sides run on `--threads` threads (default 1: `torch.set_num_threads` and
`TCIR_NUM_THREADS`). On a loaded machine with few cores, a multi-threaded parallel
region waits for a descheduled thread's whole time slice (PyTorch eager showed
~170 ms instead of ~0.5 ms for softmax on a loaded 2-core VM), which measures the load,
not the kernels. Times are medians; a second figure is the minimum.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from report import write_section

import tcir
import tcir.torch as tt

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HEADING = "## PyTorch: TC layers as custom ops (tcir.torch)"


def fcrelu_eager(x, w, b):
    return torch.relu(x @ w.T + b)


def groupnorm_eager(x, gamma, beta, mean, var):
    return (gamma[None, :, :, None, None] * (x - mean[:, :, None, None, None])
            * torch.rsqrt(var[:, :, None, None, None] + 1e-5) + beta[None, :, :, None, None])


def softmax_eager(x):
    m = x.amax(1)
    e = torch.exp(x - m[:, None])
    s = e.sum(1)
    return e / s[:, None], s, m


def two_lut_eager(lut1, i1, lut2, i2):
    return lut1[i1].sum(1), lut2[i2].sum(1)


def two_lut_inputs(e, d, b, l):
    return (torch.randn(e, d), torch.randint(0, e, (b, l), dtype=torch.int32),
            torch.randn(e, d), torch.randint(0, e, (b, l), dtype=torch.int32))


def groupnorm_inputs(n, g, d, h, w):
    x = torch.randn(n, g, d, h, w)
    return (x, torch.randn(g, d), torch.randn(g, d), x.mean((2, 3, 4)), x.var((2, 3, 4)) + 0.5)


CASES = [  # (label, file, entry, sizes text, inputs, eager)
    ("fcrelu", "fcrelu", "fcrelu", "B=4 M=8 N=4",
     lambda: (torch.randn(4, 8), torch.randn(4, 8), torch.randn(4)), fcrelu_eager),
    ("fcrelu", "fcrelu", "fcrelu", "B=128 M=256 N=128",
     lambda: (torch.randn(128, 256), torch.randn(128, 256), torch.randn(128)), fcrelu_eager),
    ("group_normalization", "group_normalization", "group_normalization", "N=4 G=8 D=8 H=W=16",
     lambda: groupnorm_inputs(4, 8, 8, 16, 16), groupnorm_eager),
    ("softmax", "softmax", "softmax", "N=128 D=512",
     lambda: (torch.randn(128, 512),), softmax_eager),
    # embedding bags: the backward is a scatter-add into the tables
    ("2LUT", "2LUT", "_2LUT", "E1=E2=100000 D=64 B=128 L1=L2=16",
     lambda: two_lut_inputs(100_000, 64, 128, 16), two_lut_eager),
]


def median_ms(fn, repeat: int) -> tuple[float, float]:
    """(median, minimum) milliseconds of `fn()` after three warm-up calls."""
    for _ in range(3):  # compile, warm up
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3, min(times) * 1e3


def forward_backward(fn, inputs):
    def run():
        args = [a.detach().requires_grad_(a.is_floating_point()) for a in inputs]
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        sum(o.sum() for o in outs).backward()
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="threads for PyTorch and tcir")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["TCIR_NUM_THREADS"] = str(args.threads)  # read when tcir's pool starts: before any call
    torch.manual_seed(0)
    rows = []
    for label, file, entry, sizes, make_inputs, eager in CASES:
        op = tt.op((EXAMPLES / f"{file}.tc").read_text(), entry)
        inputs = make_inputs()
        ours = median_ms(forward_backward(op, inputs), args.repeat)
        theirs = median_ms(forward_backward(eager, inputs), args.repeat)
        arrays = [a.numpy() for a in inputs]
        with torch.no_grad():
            custom = median_ms(lambda: op(*inputs), args.repeat * 5)
        bare = median_ms(lambda: op.kernel(*arrays), args.repeat * 5)
        rows.append(f"| {label} | {sizes} | {ours[0]:.3f} ({ours[1]:.3f}) | {theirs[0]:.3f} ({theirs[1]:.3f}) | "
                    f"{ours[0] / theirs[0]:.2f}x | {custom[0]:.3f} | {bare[0]:.3f} | "
                    f"{(custom[0] - bare[0]) * 1e3:.0f} ({(custom[1] - bare[1]) * 1e3:.0f}) |")
    header = (f"{HEADING}\n\nMeasured by `benchmarks/torch_ops.py` on {datetime.date.today()}: CPU "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (load average "
              f"{os.getloadavg()[0]:.1f} at the end of the run); torch {torch.__version__} "
              f"({torch.get_num_threads()} threads), tcir with TCIR_NUM_THREADS={os.environ['TCIR_NUM_THREADS']}; "
              f"median (minimum) of {args.repeat} runs, {args.repeat * 5} for the forward-only columns. "
              "Forward + backward through the custom op (the backward runs the def from `tcir.grad`, "
              "which recomputes the forward) against PyTorch eager; the op overhead is the custom op's "
              "forward minus the bare tcir kernel's.\n\n")
    table = ("| layer | sizes | tcir.torch fwd+bwd (ms) | eager fwd+bwd (ms) | tcir / eager | "
             "custom op fwd (ms) | bare kernel fwd (ms) | op overhead (µs) |\n|---|---|---|---|---|---|---|---|\n"
             + "\n".join(rows) + "\n")
    print(header + table)
    if not args.no_write:
        write_section(HEADING, header + table)

if __name__ == "__main__":
    main()
