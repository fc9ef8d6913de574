"""GPU benchmarks: tcir (`target="cuda"`) against PyTorch (cuBLAS / cuDNN / ATen), in one run.

For each canonical kernel at the original Tensor Comprehensions benchmark sizes,
prints the median seconds of tcir and PyTorch on CUDA tensors (tcir uses them in place:
no copies are timed), the ratio, and tcir's compile time, under the mapping presets
(the best preset per kernel is reported, as a user would pick it), and writes the
table to the GPU section of docs/benchmarks.md with the GPU named. Each result is
checked against PyTorch's before it is timed.

    python3 benchmarks/gpu.py [--repeat 20] [--only matmul,softmax] [--no-write] [--out FILE]

Needs PyTorch with CUDA and a GPU; the CPU cases and helpers come from benchmarks/cpu.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu import EXAMPLES, GPU_HEADING, Case, _f32  # noqa: E402 - after the path
from report import write_section  # noqa: E402

import tcir  # noqa: E402

# single_thread: one GPU thread runs everything, a correctness baseline only
PRESETS = [p for p in tcir.MappingOptions.PRESETS if p != "single_thread"]


# 8 x 8 register tiles on 16 x 16 threads over steps of 8 of a reduction, pipelined
# copies to shared memory (docs/gpu.md): the SIMT GEMM shape, for every kernel
REGISTER_TILES = ("tile=128,128,8 mapToThreads=16,16 useSharedMemory=true usePrivateMemory=true "
                  "pipelineShared=true")


def variants() -> dict[str, tcir.MappingOptions]:
    """Every preset as it is, with shared and private memory promotion, and with the
    copies pipelined too; and REGISTER_TILES."""
    out = {}
    for preset in PRESETS:
        out[preset] = tcir.MappingOptions(preset)
        promoted = tcir.MappingOptions(preset).useSharedMemory(True).usePrivateMemory(True)
        out[f"{preset}+shared+private"] = promoted
        out[f"{preset}+shared+private+pipelined"] = promoted.copy().pipelineShared(True)
    out["register tiles 8x8"] = tcir.MappingOptions(REGISTER_TILES)
    return out


def _cases(torch) -> list[Case]:
    def lut(r):  # uniform: 2 x 640M normal samples would take longer than the benchmark
        e = 10**7
        return (r.random((e, 64), dtype=np.float32), r.integers(0, e, (128, 50), dtype=np.int32),
                r.random((e, 64), dtype=np.float32), r.integers(0, e, (128, 50), dtype=np.int32))

    def group_norm(x, g, b, m, v):
        return (g[None, :, :, None, None] * (x - m[:, :, None, None, None])
                * torch.rsqrt(v[:, :, None, None, None] + 1e-5) + b[None, :, :, None, None])

    def group_conv(i, w, b):
        n, g, c, h, wd = i.shape
        out = torch.nn.functional.conv2d(i.reshape(n, g * c, h, wd), w.reshape(-1, c, *w.shape[3:]), groups=g)
        return out.reshape(n, g, w.shape[1], *out.shape[2:]) + b[None, :, :, None, None]

    def softmax(x):
        m = x.max(1).values
        e = torch.exp(x - m[:, None])
        s = e.sum(1)
        return e / s[:, None], s, m

    return [
        Case("matmul", "matmul", "M=N=K=1024", lambda r: (_f32(r, 1024, 1024), _f32(r, 1024, 1024)),
             None, lambda a, b: a @ b),
        Case("tmm", "tmm", "M=128, N=256, K=32", lambda r: (_f32(r, 128, 32), _f32(r, 256, 32)),
             None, lambda a, b: a @ b.T),
        Case("tmm", "tmm", "M=128, N=1024, K=1024", lambda r: (_f32(r, 128, 1024), _f32(r, 1024, 1024)),
             None, lambda a, b: a @ b.T),
        Case("tmm", "tmm", "M=128, N=4096, K=16384", lambda r: (_f32(r, 128, 16384), _f32(r, 4096, 16384)),
             None, lambda a, b: a @ b.T),
        Case("batch_matmul", "batch_matmul", "B=500, N=26, M=72, K=26",
             lambda r: (_f32(r, 500, 26, 72), _f32(r, 500, 72, 26)), None, torch.bmm),
        Case("group_convolution", "group_convolution", "N=32, G=32, C=F=16, H=W=16, KH=KW=3",
             lambda r: (_f32(r, 32, 32, 16, 16, 16), _f32(r, 32, 16, 16, 3, 3), _f32(r, 32, 16)), None, group_conv),
        Case("fcrelu", "fcrelu", "B=128, M=2000, N=128",
             lambda r: (_f32(r, 128, 2000), _f32(r, 128, 2000), _f32(r, 128)),
             None, lambda i, w, b: torch.relu(i @ w.T + b)),
        Case("softmax", "softmax", "N=1024, D=1024", lambda r: (_f32(r, 1024, 1024),), None, softmax),
        Case("group_normalization", "group_normalization", "N=32, G=32, D=16, H=W=48",
             lambda r: (_f32(r, 32, 32, 16, 48, 48), _f32(r, 32, 16), _f32(r, 32, 16), _f32(r, 32, 32),
                        np.abs(_f32(r, 32, 32))), None, group_norm),
        Case("maxpool2x2", "maxpool2x2", "B=32, C=64, H=W=56", lambda r: (_f32(r, 32, 64, 56, 56),), None,
             lambda x: torch.nn.functional.max_pool2d(x, 2)),
        Case("kronecker3_1", "kronecker3_1", "M=256, N0=N1=N2=64, D2=16",
             lambda r: (_f32(r, 16, 64), _f32(r, 256, 64, 64, 64)), None, lambda w, x: x @ w.T),
        Case("2LUT", "_2LUT", "B=128, D=64, L=50, E=10^7", lut, None,
             lambda l1, i1, l2, i2: (l1[i1.long()].sum(1), l2[i2.long()].sum(1))),
        Case("C3", "_C3", "B=128, WX=1000, WY=1024", lambda r: (_f32(r, 128, 1000), _f32(r, 1024, 1000)),
             None, lambda i, w: i @ w.T),
    ]


# a variant whose warm-up call is this many times slower than the fastest one so far is
# not timed further: it cannot be the fastest, and the slowest (a whole tensor in one
# block) take seconds per call, which the session's time on the GPU cannot spare
GIVE_UP = 3


def cuda_seconds(torch, fn, repeat: int, limit: float | None = None) -> float:
    """Median wall time of `fn()` to completion on the GPU, after a warm-up call (3
    calls when one takes over a second); the warm-up's time alone if it took over
    `limit` seconds."""

    def timed() -> float:
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        return time.perf_counter() - start

    warm_up = timed()
    if limit is not None and warm_up > limit:
        return warm_up
    return statistics.median(timed() for _ in range(min(repeat, 3) if warm_up > 1 else repeat))


def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"


def run_variant(torch, case: Case, source: str, inputs: list, want: tuple, options, repeat: int,
                limit: float | None) -> tuple:
    """(seconds, compile seconds) of tcir under `options` (`cuda_seconds`'s `limit`);
    raises if it fails or its result differs from PyTorch's (a wrong result is not
    timed)."""
    start = time.perf_counter()
    kernel = tcir.compile(source, case.entry, *inputs, target="cuda", options=options, filename=f"{case.name}.tc")
    compile_s = time.perf_counter() - start
    for g, w in zip(_as_tuple(kernel(*inputs)), want):
        torch.testing.assert_close(g, w, rtol=1e-3, atol=1e-3)
    return cuda_seconds(torch, lambda: kernel(*inputs), repeat, limit), compile_s


def run_case(torch, case: Case, repeat: int) -> dict:
    """The fastest variant of `case`; a variant that fails is recorded in the row's
    `failed` ({variant: message}) and the others still run; one far slower than the
    fastest so far is not timed beyond its warm-up (`GIVE_UP`)."""
    inputs = [torch.from_numpy(x).cuda() for x in case.make_inputs(np.random.default_rng(0))]
    source = (EXAMPLES / f"{case.name}.tc").read_text()
    with torch.no_grad():
        want = _as_tuple(case.torch_fn(*inputs))
        row = {"case": case, "torch": cuda_seconds(torch, lambda: case.torch_fn(*inputs), repeat), "tcir": None,
               "failed": {}}
    for preset, options in variants().items():
        try:
            limit = None if row["tcir"] is None else GIVE_UP * row["tcir"]
            seconds, compile_s = run_variant(torch, case, source, inputs, want, options, repeat, limit)
        except (tcir.TcError, AssertionError, RuntimeError) as error:  # wrong result, CUDA or compile error
            row["failed"][preset] = _first_line(error)
            continue
        if row["tcir"] is None or seconds < row["tcir"]:
            row.update(tcir=seconds, preset=preset, compile=compile_s)
    return row


def table(rows: list[dict]) -> str:
    lines = ["| kernel | sizes | best options | tcir s | PyTorch s | PyTorch / tcir | compile s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["tcir"] is None:
            lines.append(f"| {r['case'].entry} | {r['case'].sizes} | every variant failed | — "
                         f"| {r['torch']:.6f} | — | — |")
            continue
        lines.append(f"| {r['case'].entry} | {r['case'].sizes} | {r['preset']} | {r['tcir']:.6f} "
                     f"| {r['torch']:.6f} | {r['torch'] / r['tcir']:.3f}x | {r['compile']:.2f} |")
    ratios = [r["torch"] / r["tcir"] for r in rows if r["tcir"] is not None]
    if ratios:
        lines += ["", f"Geometric mean of PyTorch / tcir over the {len(ratios)} kernels measured: "
                      f"{statistics.geometric_mean(ratios):.3f}x (above 1: tcir is faster)."]
    failures = [f"- {r['case'].entry} ({r['case'].sizes}), {variant}: {message}"
                for r in rows for variant, message in r["failed"].items()]
    if failures:
        lines += ["", "Variants that failed (compile error, CUDA error, or a result that differs from "
                      "PyTorch's beyond rtol = atol = 1e-3), not timed:", "", *failures]
    return "\n".join(lines)


HEADER = GPU_HEADING + """

Measured by `benchmarks/gpu.py` in one run on {gpu} (driver {driver}), PyTorch
{torch_version}: median of {repeat} calls (3 where a call takes over a second) after a
warm-up call, each timed to completion (`torch.cuda.synchronize`), on CUDA tensors that
tcir uses in place; a variant whose warm-up call is over {give_up} times slower than the
fastest so far is not timed further. PyTorch computes in
float32 (TF32 off in cuBLAS and cuDNN), as tcir does. For each kernel tcir
runs under every mapping preset (but single_thread), each as it is, with
`useSharedMemory` and `usePrivateMemory`, and with `pipelineShared` too, and under
`{register_tiles}` (8 x 8 register tiles), and the fastest is shown (what a user picks
without tuning); compile time is `tcir.compile` for that preset (isl scheduling and
mapping, xDSL lowering, LLVM O3 to PTX, the driver's JIT). Each tcir result is checked
against PyTorch's before it is timed. Ratios above 1 mean tcir is faster.

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", default="", help="comma-separated def names")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    parser.add_argument("--out", default=None, help="also write the section to this file")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("error: the GPU benchmarks need PyTorch with CUDA")
    if not torch.cuda.is_available():
        sys.exit("error: the GPU benchmarks need PyTorch with CUDA and a GPU")
    # float32 against float32: no TF32 in cuBLAS or cuDNN (cuDNN's convolutions use it by default)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    only = set(filter(None, args.only.split(",")))
    tcir.compile("def warm(float(N) A) -> (B) { B(i) = A(i) }", "warm", np.zeros(4, np.float32), target="cuda")
    from tcir.backends.cuda_runtime import require_gpu

    device = require_gpu()
    header = HEADER.format(gpu=device.name, driver=device.driver.cuDriverGetVersion(),
                           torch_version=torch.__version__, repeat=args.repeat, give_up=GIVE_UP,
                           register_tiles=REGISTER_TILES)
    rows = []
    for case in _cases(torch):
        if only and case.entry not in only and case.name not in only:
            continue
        rows.append(run_case(torch, case, args.repeat))
        r = rows[-1]
        best = (f"tcir {r['tcir']:.6f}s ({r['preset']})  torch {r['torch']:.6f}s  "
                f"{r['torch'] / r['tcir']:.3f}x  compile {r['compile']:.2f}s" if r["tcir"] is not None
                else f"every variant failed  torch {r['torch']:.6f}s")
        print(f"{case.entry:20} {case.sizes:38} {best}  ({len(r['failed'])} failed)", flush=True)
        if args.out:  # after every kernel: a run stopped by a time limit keeps what it measured
            Path(args.out).write_text(header + table(rows) + "\n")
    section = header + table(rows) + "\n"
    print(section)
    if not args.no_write:
        write_section(GPU_HEADING, section)  # the other sections stay


if __name__ == "__main__":
    main()
