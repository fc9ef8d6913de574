"""Number formats (docs/lowp.md): conversion speed, an fp8-weight matmul, and what
formats cost at compile time (issue 15 items 5 and 6), measured in one run.

1. Casting 16M float32 values to float8_e4m3fn, float8_e5m2, float4_e2m1fn and a
   fixed-point format (q4_4) and back: `tcir.lowp.encode`/`decode` (the generated
   routines, on all cores) against ml_dtypes' `astype` and PyTorch's `.to(dtype)`
   where PyTorch has the type. Median of `--repeat` runs; every tcir result is first
   checked bit for bit against ml_dtypes (q4_4: against the exact reference on a sample).
   Two more rows move the same bytes with a standard conversion instead of a format
   (float32 to uint8 and back, `fptoui`/`uitofp`, compiled by tcir): what LLVM makes of
   a conversion it knows, for comparison with the generated routines.
2. `Y = X @ W^T` with W in float8_e4m3fn, decoded inside the contraction
   (`float(W(n, k)) * X(b, k)`), against NumPy's matmul on the decoded float32 weights
   (the decode not timed) and against the same tcir kernel on float32 weights.
3. Compile time and object size of a kernel against the number of distinct formats it
   uses (1, 2, 4, 8, 16: `Y(i) = float(f1(X(i))) + ... + float(fk(X(i)))`), and of a
   kernel using no format before and after 256 more formats are registered (it must not
   grow). Each row's formats are new to the process, so its first compile builds their
   routines; compiled again, the kernel clones them from lower-lowp's process-wide table.
   `lower-lowp` alone is timed on the loops stage of three kernels of other new formats of
   the same shape: each kernel's first lowering builds the routines, three more clone
   them (medians). The persistent compilation cache is not used (`compile_def`).

    .venv/bin/python benchmarks/lowp.py [--repeat 5] [--no-write]

Writes its section of docs/benchmarks.md unless `--no-write`.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import statistics
import time

import ml_dtypes
import numpy as np
from cpu import machine
from report import write_section

import tcir
from tcir.driver import CpuTarget, Job, Layout, compile_def, lower, tc_module
from tcir.frontend import check_source
from tcir.mapping_options import MappingOptions
from tcir.passes.lower_lowp import lower_lowp, routine_cache_info
from tcir.testing import exact_formats as exact

HEADING = "## Number formats (tcir.lowp)"
N_VALUES = 16 * 2**20
RNG = np.random.default_rng(0)

try:
    import torch
except ImportError:  # the PyTorch column stays empty
    torch = None


def median_s(fn, repeat: int) -> float:
    fn()  # compile, warm caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _torch_dtype(name: str):
    return getattr(torch, name, None) if torch is not None else None


def conversions(repeat: int) -> list[str]:
    x = (RNG.standard_normal(N_VALUES) * 4).astype(np.float32)
    q44 = tcir.lowp.fixed_format("q4_4", integer=4, fraction=4, signed=True)
    rows = ["| format | direction | tcir ms | ml_dtypes ms | PyTorch ms | tcir vs ml_dtypes | tcir vs PyTorch |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for name in ("float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "q4_4"):
        bits = tcir.lowp.encode(x, name)
        if name == "q4_4":  # a user format: ml_dtypes has none; exact reference on a sample
            sample = RNG.integers(0, N_VALUES, 2000)
            assert [int(b) & 0xFF for b in bits[sample]] == [exact.encode(q44, float(v)) for v in x[sample]]
            ml = None
        else:
            ml = getattr(ml_dtypes, name)
            assert np.array_equal(bits.view(np.uint8), x.astype(ml).view(np.uint8))
        back = tcir.lowp.decode(bits, name)
        if ml is not None:
            assert np.array_equal(back, bits.astype(np.float32), equal_nan=True)
        tdtype = _torch_dtype(name)
        tx = torch.from_numpy(x) if tdtype is not None else None
        tbits = tx.to(tdtype) if tdtype is not None else None
        for direction, ours, theirs, pytorch in [
            ("f32 →", lambda: tcir.lowp.encode(x, name), ml and (lambda: x.astype(ml)),
             tdtype and (lambda: tx.to(tdtype))),
            ("→ f32", lambda: tcir.lowp.decode(bits, name), ml and (lambda: bits.astype(np.float32)),
             tdtype and (lambda: tbits.to(torch.float32))),
        ]:
            t_ours = median_s(ours, repeat)
            t_ml = median_s(theirs, repeat) if theirs else None
            t_torch = median_s(pytorch, repeat) if pytorch else None
            rows.append(f"| {name} | {direction} | {t_ours * 1e3:.1f} | {_ms(t_ml)} | {_ms(t_torch)} | "
                        f"{_ratio(t_ml, t_ours)} | {_ratio(t_torch, t_ours)} |")
    return rows


STANDARD = """
def narrow(float(N) X) -> (uint8(N) Y) { Y(i) = uint8(X(i)) }
def widen(uint8(N) X) -> (float(N) Y) { Y(i) = float(X(i)) }
"""


def standard_conversion(repeat: int) -> list[str]:
    """Rows for the same bytes converted to and from uint8 (LLVM's own conversions,
    compiled by tcir): a comparison for the generated routines."""
    x = (RNG.random(N_VALUES) * 200).astype(np.float32)
    kernels = tcir.define(STANDARD)
    y = kernels.narrow(x)
    assert np.array_equal(y, x.astype(np.uint8))
    rows = []
    for direction, fn in [("f32 →", lambda: kernels.narrow(x)), ("→ f32", lambda: kernels.widen(y))]:
        rows.append(f"| uint8 (a standard conversion, for comparison) | {direction} | {median_s(fn, repeat) * 1e3:.1f} "
                    "| n/a | n/a | n/a | n/a |")
    return rows


def _ms(t: float | None) -> str:
    return "n/a" if t is None else f"{t * 1e3:.1f}"


def _ratio(theirs: float | None, ours: float) -> str:
    return "n/a" if theirs is None else f"{theirs / ours:.1f}x"


FP8_LINEAR = """
def fp8_linear(float8_e4m3fn(N, K) W, float(B, K) X) -> (float(B, N) Y) {
    Y(b, n) +=! float(W(n, r_k)) * X(b, r_k)
}
def f32_linear(float(N, K) W, float(B, K) X) -> (float(B, N) Y) {
    Y(b, n) +=! W(n, r_k) * X(b, r_k)
}
"""


def fp8_matmul(repeat: int, b: int = 256, n: int = 1024, k: int = 1024) -> list[str]:
    T = tcir.define(FP8_LINEAR)
    w8 = tcir.lowp.encode(RNG.standard_normal((n, k)), "float8_e4m3fn")
    w32 = w8.astype(np.float32)
    x = RNG.standard_normal((b, k)).astype(np.float32)
    np.testing.assert_allclose(T.fp8_linear(w8, x), x @ w32.T, rtol=1e-4, atol=1e-3)
    t_fused = median_s(lambda: T.fp8_linear(w8, x), repeat)
    t_numpy = median_s(lambda: x @ w32.T, repeat)
    t_f32 = median_s(lambda: T.f32_linear(w32, x), repeat)
    return ["| kernel | ms | NumPy on decoded weights / it |", "|---|---:|---:|",
            f"| tcir, float8_e4m3fn weights decoded in the contraction | {t_fused * 1e3:.2f} | "
            f"{t_numpy / t_fused:.2f}x |",
            f"| tcir, float32 weights | {t_f32 * 1e3:.2f} | {t_numpy / t_f32:.2f}x |",
            f"| NumPy (OpenBLAS) on float32 weights | {t_numpy * 1e3:.2f} | 1.00x |",
            "", f"Sizes B={b}, N={n}, K={k}; tcir with the options `tcir.define` picks (tuned if cached, "
            "else the naive preset)."]


COMPILE_LAYOUT = Layout.of(sizes={"N": 4096})
COMPILE_COLUMNS = (
    "Each row's formats are new to the process (float formats e4m3fn with distinct biases). `routines built`: by a "
    "kernel's first lowering and by a later one (lower-lowp builds each routine once per process and clones it into "
    "every module). `lower-lowp ms`: the pass alone on the kernel's loops stage, the median over three kernels of "
    "its first run (building) and of three more (cloning). `compile s`: the whole compilation (`compile_def`, "
    "no persistent cache) the first time and again in the same process, one run each; the xDSL passes after "
    "lower-lowp, which lower the routines' ops to the llvm dialect in every module, take most of it.")


def _compile(source: str, entry: str) -> tuple[float, int]:
    program = check_source(source)
    start = time.perf_counter()
    compiled = compile_def(program, entry, CpuTarget(), COMPILE_LAYOUT, MappingOptions("naive"))
    return time.perf_counter() - start, len(compiled.binary)


def _lower_lowp_ms(sources: list[str], entry: str) -> tuple[float, float, int, int]:
    """lower-lowp on the loops stage of kernels whose formats are new to the process: the
    median ms of each kernel's first lowering and of three more, and the routines that one
    kernel's first and a later lowering built."""
    first, again = [], []
    for source in sources:
        loops = lower(tc_module(check_source(source), entry), CpuTarget(), "loops",
                      Job(COMPILE_LAYOUT, MappingOptions("naive")))
        built = [routine_cache_info().misses]
        for times in (first, again, again, again):
            module = loops.clone()
            start = time.perf_counter()
            lower_lowp(module)
            times.append((time.perf_counter() - start) * 1e3)
            built.append(routine_cache_info().misses)
    return statistics.median(first), statistics.median(again), built[1] - built[0], built[2] - built[1]


def compile_costs() -> list[str]:
    fresh = (tcir.lowp.float_format(f"bench_f{k}", exponent=4, mantissa=3, bias=k + 1, kind="fn")
             for k in itertools.count())

    def uses(count: int) -> str:  # a kernel of `count` formats new to this process
        body = " + ".join(f"float({next(fresh).name}(X(i)))" for _ in range(count))
        return f"def uses(float(N) X) -> (Y) {{ Y(i) = {body} }}"

    rows = ["| kernel | routines built, first / again | lower-lowp ms, first | lower-lowp ms, again | "
            "compile s, first | compile s, again | object bytes |", "|---|---:|---:|---:|---:|---:|---:|"]
    plain = "def plain(float(N) X) -> (Y) { Y(i) = X(i) * 2 + 1 }"
    _compile(plain, "plain")  # imports and first-compile costs out of the table
    before = _compile(plain, "plain")
    rows.append(f"| no format | 0 / 0 | – | – | {before[0]:.2f} | – | {before[1]} |")
    for count in (1, 2, 4, 8, 16):
        first_ms, again_ms, built_first, built_again = _lower_lowp_ms([uses(count) for _ in range(3)], "uses")
        source = uses(count)
        first, size = _compile(source, "uses")
        again, _ = _compile(source, "uses")
        rows.append(f"| {count} format{'s' if count > 1 else ''} (a cast to it and back each) | "
                    f"{built_first} / {built_again} | "
                    f"{first_ms:.0f} | {again_ms:.0f} | {first:.2f} | {again:.2f} | {size} |")
    for k in range(256):
        tcir.lowp.fixed_format(f"bench_q{k}", integer=1 + k % 16, fraction=k // 16, signed=True)
    after = _compile(plain, "plain")
    rows.append(f"| no format, {len(tcir.lowp.registered_formats())} formats registered | 0 / 0 | – | – | "
                f"{after[0]:.2f} | – | {after[1]} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    parts = [HEADING, "",
             f"Measured {datetime.date.today()} on {machine()}; numbers in one run (`benchmarks/lowp.py`). "
             "tcir runs on all cores, ml_dtypes on one; PyTorch with its default threads"
             f"{' (' + torch.__version__ + ')' if torch is not None else ' (not installed)'}; "
             f"load average {os.getloadavg()[0]:.1f} at the start.", "",
             f"### Conversions of {N_VALUES // 2**20}M values", "", *conversions(args.repeat),
             *standard_conversion(args.repeat), "",
             "### An fp8-weight matmul", "", *fp8_matmul(args.repeat), "",
             "### Compile time and object size against the formats a kernel uses", "", *compile_costs(), "",
             COMPILE_COLUMNS, ""]
    section = "\n".join(parts)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
