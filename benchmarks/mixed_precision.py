"""Mixed precision (docs/benchmarks.md): `tcir.mixed_precision` on five defs, measured
in one run (issue 16's benchmark item).

fcrelu, a three-layer MLP in one def with temporaries (examples/mlp3.tc), softmax,
group normalization and matmul, each in four variants:

- `f32`: the def as written (`tcir.define(source)`);
- `amp bf16`: `tcir.mixed_precision(..., policy="amp", low="bfloat16")`;
- `amp f16`: the same with `low="half"`;
- `amp fp8 weights`: `policy="amp", low="bfloat16"` with the weight tensors (W1, W2,
  W3; matmul's B) pinned to `float8_e4m3fn` by `overrides`. softmax and group
  normalization have no weights: for them the row is `policy="amp",
  low="float8_e4m3fn"` (and amp leaves both defs as written: they have no contraction).

Per variant: the median time of the kernel (taking the original float32 inputs)
after a warm-up call (at least `--repeat` calls, interleaved with the other variants'), against the
f32 tcir kernel, a hand-written NumPy float32 implementation and PyTorch float32 (on
as many threads as tcir uses) timed in the same run; the bytes a statement-by-statement
run of the rewritten def must move (the model in `traffic`); and the outputs' error
against float64 from the variant's `AccuracyReport` (`tcir.accuracy_report` for f32).
Every variant's outputs are first checked against NumPy in float64 with a tolerance
for its format.

    .venv/bin/python benchmarks/mixed_precision.py [--repeat 5] [--only mlp3,softmax] [--no-write]

Writes its section of docs/benchmarks.md unless `--no-write`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cpu import _group_norm_np, _softmax_np, machine
from report import write_section

import tcir
from tcir.backends.cpu_parallel import thread_count
from tcir.frontend import check_source
from tcir.frontend.checked import CheckedDef, reads

HEADING = "## Mixed precision (tcir.mixed_precision)"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

try:
    import torch
except ImportError:  # the PyTorch column stays empty
    torch = None

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # NumPy's BLAS keeps its default threads
    threadpool_limits = None


def _relu(x):
    return np.maximum(x, 0)


def _fcrelu_np(i, w1, b1):
    return _relu(i @ w1.T + b1)


def _mlp3_np(i, w1, b1, w2, b2, w3, b3):
    o1 = _relu(i @ w1.T + b1)
    o2 = _relu(o1 @ w2.T + b2)
    return o2 @ w3.T + b3


def _gn_torch(x, g, b, m, v):
    return (g[None, :, :, None, None] * (x - m[:, :, None, None, None])
            * torch.rsqrt(v[:, :, None, None, None] + 1e-5) + b[None, :, :, None, None])


@dataclass
class Case:
    name: str  # example file stem and def name
    sizes: dict[str, int]
    make_inputs: Callable[[np.random.Generator, dict], tuple]
    numpy_fn: Callable[..., object]  # float32 in, float32 out (float64 in: the reference)
    torch_fn: Callable[..., object] | None
    weights: tuple[str, ...]  # pinned to fp8 in the `amp fp8 weights` variant


def _normal(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def _linear(rng, n_out, n_in):
    """Weights (n_out, n_in) scaled by 1/sqrt(fan-in), and a bias."""
    return _normal(rng, n_out, n_in, scale=1 / math.sqrt(n_in)), _normal(rng, n_out)


CASES = [
    Case("fcrelu", {"B": 128, "M": 512, "N": 512},
         lambda r, s: (_normal(r, s["B"], s["M"]), *_linear(r, s["N"], s["M"])),
         _fcrelu_np, lambda i, w, b: torch.relu(i @ w.T + b), ("W1",)),
    Case("mlp3", {"B": 128, "M": 512, "N1": 512, "N2": 256, "N3": 64},
         lambda r, s: (_normal(r, s["B"], s["M"]), *_linear(r, s["N1"], s["M"]), *_linear(r, s["N2"], s["N1"]),
                       *_linear(r, s["N3"], s["N2"])),
         _mlp3_np,
         lambda i, w1, b1, w2, b2, w3, b3: torch.relu(torch.relu(i @ w1.T + b1) @ w2.T + b2) @ w3.T + b3,
         ("W1", "W2", "W3")),
    Case("softmax", {"N": 1024, "D": 1024}, lambda r, s: (_normal(r, s["N"], s["D"]),),
         _softmax_np, lambda x: torch.softmax(x, 1), ()),
    Case("group_normalization", {"N": 8, "G": 16, "D": 8, "H": 32, "W": 32},
         lambda r, s: (_normal(r, s["N"], s["G"], s["D"], s["H"], s["W"]), _normal(r, s["G"], s["D"]),
                       _normal(r, s["G"], s["D"]), _normal(r, s["N"], s["G"]),
                       np.abs(_normal(r, s["N"], s["G"])) + np.float32(0.5)),
         _group_norm_np, _gn_torch, ()),
    Case("matmul", {"M": 512, "K": 512, "N": 512},
         lambda r, s: (_normal(r, s["M"], s["K"]), _normal(r, s["K"], s["N"], scale=1 / math.sqrt(s["K"]))),
         np.matmul, lambda a, b: a @ b, ("B",)),
]

# variant -> the largest max |x - r| / max |r| of any output accepted against float64
# NumPy (a loose bound on what the format's rounding of operands gives; a wrong kernel
# is off by O(1))
TOLERANCE = {"f32": 1e-5, "amp bf16": 3e-2, "amp f16": 5e-3, "amp fp8 weights": 0.15}


def variants(case: Case) -> dict[str, dict | None]:
    """Variant name -> `tcir.mixed_precision` keywords (None: the def as written)."""
    fp8 = ({"low": "bfloat16", "overrides": {w: "float8_e4m3fn" for w in case.weights}} if case.weights
           else {"low": "float8_e4m3fn"})
    return {"f32": None, "amp bf16": {"low": "bfloat16"}, "amp f16": {"low": "half"},
            "amp fp8 weights": fp8}


def _shape_elements(d: CheckedDef, name: str, sizes: dict[str, int]) -> int:
    info = d.tensors[name]
    if info.shape is not None:
        return math.prod(max(0, s.evaluate(sizes)) for s in info.shape)
    # a tensor the checker left unshaped: the extents of a statement writing it
    for s in d.stmts:
        if s.target == name:
            return math.prod(max(0, hi.evaluate(sizes) - lo.evaluate(sizes))
                             for lo, hi in (s.ranges[v] for v in s.lhs))
    raise KeyError(name)


def traffic(d: CheckedDef, sizes: dict[str, int]) -> tuple[int, int]:
    """(bytes read, bytes written) of running the def's statements one after another,
    each moving every tensor it touches once at its full size: the distinct tensors its
    right-hand side reads, plus its target when it accumulates into it (a reduction
    without `!`), are read; its target is written. Element sizes are the tensors'
    storage formats (`numpy_dtype.itemsize`: 1 byte for fp8, 2 for bf16 and half)."""
    def nbytes(name: str) -> int:
        return _shape_elements(d, name, sizes) * d.tensors[name].dtype.numpy_dtype.itemsize

    read = written = 0
    for s in d.stmts:
        names = {r.tensor for r in reads(s.rhs)}
        if s.kind != "=" and not s.init:
            names.add(s.target)
        read += sum(nbytes(n) for n in names)
        written += nbytes(s.target)
    return read, written


def _rel_error(x, r) -> float:
    x, r = np.asarray(x, np.float64), np.asarray(r, np.float64)
    return float(np.abs(x - r).max() / np.abs(r).max())


def _outputs(result) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def median_interleaved(fns: dict[str, Callable[[], object]], repeat: int,
                       budget: float = 0.25) -> dict[str, float]:
    """The median seconds of each function: after a warm-up call each, rounds that call
    every function once, at least `repeat` of them and more (up to 200) while the rounds
    take under `budget` seconds per function (as `cpu.median_seconds`, but interleaved:
    a change of the machine's load during the run falls on all the variants of a def
    alike rather than on whichever was being timed). Each round calls them in a new
    random order: in a fixed cyclic order the calls following NumPy's and PyTorch's ran
    up to 15% slower than the later ones, the more so the closer."""
    names, order = list(fns), random.Random(0)
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in names}
    spent, rounds = 0.0, 0
    while rounds < repeat or (spent < budget * len(names) and rounds < 200):
        order.shuffle(names)
        for name in names:
            start = time.perf_counter()
            fns[name]()
            elapsed = time.perf_counter() - start
            times[name].append(elapsed)
            spent += elapsed
        rounds += 1
    return {name: statistics.median(t) for name, t in times.items()}


def run_case(case: Case, repeat: int) -> list[dict]:
    rng = np.random.default_rng(0)
    inputs = case.make_inputs(rng, case.sizes)
    source = (EXAMPLES / f"{case.name}.tc").read_text()
    outputs = [t.name for t in check_source(source).defs[case.name].outputs]
    reference = _outputs(case.numpy_fn(*(x.astype(np.float64) for x in inputs)))
    rows, kernels = [], {}
    for variant, kwargs in variants(case).items():
        start = time.perf_counter()
        if kwargs is None:
            rewritten, kernel = source, getattr(tcir.define(source, f"{case.name}.tc"), case.name)
            report = tcir.accuracy_report(source, case.name, *inputs)
        else:
            mp = tcir.mixed_precision(source, case.name, *inputs, policy="amp", **kwargs,
                                      filename=f"{case.name}.tc")
            rewritten, kernel, report = mp.source, mp.kernel, mp.report
        got = _outputs(kernel(*inputs))  # compiles the kernel
        setup_s = time.perf_counter() - start
        checked = [_rel_error(x, r) for x, r in zip(got, reference)]
        if max(checked) > TOLERANCE[variant]:
            raise AssertionError(f"{case.name} {variant}: outputs {outputs} off NumPy float64 by {checked} "
                                 f"(max |x - r| / max |r|), more than {TOLERANCE[variant]}\n{rewritten}")
        d = check_source(rewritten).defs[case.name]
        errs = [report.row(o) for o in outputs]
        kernels[variant] = kernel
        rows.append({"case": case, "variant": variant, "kwargs": kwargs, "source": rewritten,
                     "changed": any(t.dtype.name != "float" for t in d.tensors.values()),
                     "stmts": len(d.stmts), "bytes": traffic(d, case.sizes), "setup": setup_s,
                     "max_rel": max(e["max_rel_error"] for e in errs), "snr": min(e["snr_db"] for e in errs),
                     "checked": max(checked)})
    fns = {variant: (lambda k=k: k(*inputs)) for variant, k in kernels.items()}
    fns["numpy"] = lambda: case.numpy_fn(*inputs)
    if torch is not None and case.torch_fn is not None:
        tensors = [torch.from_numpy(x) for x in inputs]
        fns["torch"] = lambda: case.torch_fn(*tensors)
    with torch.no_grad() if torch is not None else contextlib.nullcontext():
        medians = median_interleaved(fns, repeat)
    for row in rows:
        row.update(time=medians[row["variant"]], numpy=medians["numpy"], torch=medians.get("torch"))
        t_torch = "n/a" if row["torch"] is None else f"{row['torch'] * 1e3:.3f}"
        print(f"{case.name:20} {row['variant']:16} {row['time'] * 1e3:8.3f} ms  numpy {row['numpy'] * 1e3:.3f}  "
              f"torch {t_torch}  bytes r/w "
              f"{row['bytes'][0] / 1e6:.2f}/{row['bytes'][1] / 1e6:.2f} MB  max rel {row['max_rel']:.3g} "
              f"(NumPy check {row['checked']:.3g})  SNR {row['snr']:.1f} dB  setup {row['setup']:.1f} s", flush=True)
    return rows


def _db(v: float) -> str:
    return "inf" if v == math.inf else f"{v:.1f}"


def table(rows: list[dict]) -> list[str]:
    lines = ["| def | variant | stmts | ms | f32 tcir / it | NumPy / it | PyTorch / it | MB read | MB written "
             "| max rel error | SNR dB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    f32 = {r["case"].name: r["time"] for r in rows if r["variant"] == "f32"}
    for r in rows:
        name = r["case"].name
        variant = r["variant"]
        if variant == "amp fp8 weights" and not r["case"].weights:
            variant = "amp low=float8_e4m3fn (no weights)"
        torch_ratio = "n/a" if r["torch"] is None else f"{r['torch'] / r['time']:.2f}x"
        lines.append(f"| {name} | {variant} | {r['stmts']} | {r['time'] * 1e3:.3f} | {f32[name] / r['time']:.2f}x "
                     f"| {r['numpy'] / r['time']:.2f}x | {torch_ratio} | {r['bytes'][0] / 1e6:.2f} "
                     f"| {r['bytes'][1] / 1e6:.2f} | {r['max_rel']:.2g} | {_db(r['snr'])} |")
    return lines


def sizes_line(rows: list[dict]) -> str:
    seen = {}
    for r in rows:
        seen.setdefault(r["case"].name, ", ".join(f"{k}={v}" for k, v in r["case"].sizes.items()))
    return "Sizes: " + "; ".join(f"{name} {s}" for name, s in seen.items()) + "."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated def names")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for tcir, PyTorch and NumPy's BLAS (default: tcir's, all cores)")
    parser.add_argument("--note", default="", help="a sentence on this run added to the section")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    if args.threads is not None:
        os.environ["TCIR_NUM_THREADS"] = str(args.threads)  # read when tcir's pool starts: before any call
    threads = thread_count()
    if torch is not None:
        torch.set_num_threads(threads)
    blas = "its default threads"
    if threadpool_limits is not None:
        threadpool_limits(threads, user_api="blas")
        blas = f"{threads} thread{'s' if threads > 1 else ''}"
    load_start = os.getloadavg()[0]
    start = time.perf_counter()
    tcir.compile("def warm(float(N) A) -> (B) { B(i) = A(i) }", "warm", np.zeros(4, np.float32))  # imports
    rows = []
    for case in CASES:
        if not only or case.name in only:
            rows += run_case(case, args.repeat)
    wall = time.perf_counter() - start
    load_end = os.getloadavg()[0]
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    has = [f for f in ("avx512_bf16", "avx512fp16", "amx_bf16") if f" {f}" in flags]
    load = (f"load average {load_start:.1f} at the start and {load_end:.1f} at the end (other processes shared "
            "the cores, so times vary from run to run)" if max(load_start, load_end) > 1 else
            f"load average {load_start:.1f} at the start")
    parts = [
        HEADING, "",
        f"Measured {datetime.date.today()} on {machine()}; numbers in one run (`benchmarks/mixed_precision.py`, "
        f"{wall:.0f} s for the whole run, compiles included, tcir's compilation cache "
        f"{'off' if os.environ.get('TCIR_CACHE') == '0' else 'on'}); {load}. tcir on {threads} of "
        f"{os.cpu_count()} cores (TCIR_NUM_THREADS), PyTorch "
        f"{torch.__version__ + f' on {torch.get_num_threads()}' if torch is not None else '(not installed)'}"
        f", NumPy {np.__version__} (OpenBLAS) on {blas}. No GPU on this machine: the GPU half of the issue's "
        "benchmark is not measured here." + (f" {args.note}" if args.note else ""), "",
        "Variants: `f32` is the def as written (`tcir.define`); `amp bf16` and `amp f16` are "
        "`tcir.mixed_precision(source, entry, *inputs, policy=\"amp\", low=\"bfloat16\" / \"half\")`; `amp fp8 "
        "weights` is `policy=\"amp\", low=\"bfloat16\"` with the weights (W1, W2, W3, matmul's B) pinned to "
        "`float8_e4m3fn` by `overrides`. softmax and group_normalization have no weights; their last row is "
        "`policy=\"amp\", low=\"float8_e4m3fn\"`. Every variant's kernel takes the original float32 inputs, "
        "so an input amp rounds is converted inside each call. tcir kernels use the options `tcir.define` picks "
        "(tuned if cached, else the naive preset).", "",
        "Columns: `stmts`, the statements of the rewritten def (casts hoisted into temporaries add some); `ms`, "
        f"the median of at least {args.repeat} calls after a warm-up call (more for fast kernels, about 0.25 s of "
        "calls each, as `benchmarks/cpu.py`), the calls interleaved: each round calls every variant of the def, "
        "NumPy and PyTorch once, in a new random order each round; `X / it`, X's time over this variant's "
        "(above 1: this variant is faster), X being the f32 tcir kernel, a NumPy float32 implementation and "
        "the same in PyTorch float32, "
        "timed in the same run; `MB read` and `MB written` (10^6 bytes), a model of the compulsory traffic of "
        "running the rewritten def's statements one after another (`tcir.frontend.check_source(mp.source)`): "
        "each statement reads the distinct tensors its right-hand side reads, plus its target when it "
        "accumulates into it (a reduction without `!`), and writes its target, each whole at its storage "
        "format's element size (4 bytes float, 2 bfloat16 and half, 1 float8_e4m3fn); no cache reuse between "
        "statements, no re-reads inside a statement. `max rel error` (max |x - r| / max |r|) and `SNR` are "
        "those of the def's outputs against float64 from the variant's `AccuracyReport` "
        "(`tcir.accuracy_report` for f32), the worst over the outputs (softmax has three: O, expsum, maxVal). "
        "Before timing, each variant's outputs were checked against NumPy in float64 (max rel error at most "
        + ", ".join(f"{k} {v:g}" for k, v in TOLERANCE.items()) + ").", "",
        *table(rows), "", sizes_line(rows) +
        " Inputs standard normal float32, weights scaled by 1/sqrt(fan-in), group norm's var |normal| + 0.5.", "",
        "What the numbers say:", "",
        *interpretation(rows, has), ""]
    section = "\n".join(parts)
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


def _range(values, fmt) -> str:
    lo, hi = min(values), max(values)
    return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)} to {fmt(hi)}"


def interpretation(rows: list[dict], flags: list[str]) -> list[str]:
    by = {(r["case"].name, r["variant"]): r for r in rows}
    names = list(dict.fromkeys(r["case"].name for r in rows))
    amp = ("amp bf16", "amp f16", "amp fp8 weights")
    lines = []
    unchanged = [n for n in names if all((n, v) in by and not by[(n, v)]["changed"] for v in amp)]
    if unchanged:
        times = {n: [by[(n, v)]["time"] for v in ("f32", *amp)] for n in unchanged}
        spread = {n: max(t) / min(t) for n, t in times.items()}
        lines.append(
            f"- amp leaves {' and '.join(unchanged)} as written (no contraction: exp, rsqrt, the division by a "
            "reduction and the sums stay float, `max=!` follows its float input; the fp8 row's `low` only "
            "applies to contractions), so all four rows run the same float kernel, with the same bytes and "
            "errors; their times differ by timing noise alone (largest / smallest: "
            + ", ".join(f"{spread[n]:.2f}x {n}" for n in unchanged) + ").")
    contr = [n for n in names if n not in unchanged and all((n, v) in by for v in ("f32", *amp))]
    if not contr:
        return lines
    ratio = {(n, v): by[(n, v)]["time"] / by[(n, "f32")]["time"] for n in contr for v in amp}
    lines.append(
        "- On the defs with contractions (" + ", ".join(contr) + ") the amp kernels are no faster than f32, "
        "taking " + "; ".join(f"{_range([ratio[(n, v)] for n in contr], lambda x: f'{x:.1f}')}x its time ({v})"
                              for v in amp)
        + ". The fp8 weights cost most: amp stores them in a float8_e4m3fn temporary and the "
        "contraction decodes one at every product (a weight is reused by every row of the batch), where "
        "widening a bf16 is a single shift. On a CPU a low format buys no arithmetic: the rewritten def still "
        "multiplies and "
        "adds in float, and converting costs instructions: bf16 is carried as 16-bit integers (widening "
        "is a shift, rounding an integer round-to-nearest-even), half uses the F16C conversions, and "
        "float8_e4m3fn is decoded by integer bit manipulation (the `lowp` lowering's routines)"
        + (f"; this CPU's {', '.join(flags)} instructions are not used" if flags else "")
        + ". Every call also rounds its float32 inputs (activations and weights) into the temporaries amp "
        "hoists, a pass over each that the f32 kernel does not make.")
    extra = {n: sum(by[(n, "amp bf16")]["bytes"]) - sum(by[(n, "f32")]["bytes"]) for n in contr}
    fp8 = {n: sum(by[(n, "amp fp8 weights")]["bytes"]) - sum(by[(n, "amp bf16")]["bytes"]) for n in contr}
    lines.append(
        "- Bytes rise rather than fall: the def's inputs stay float32 (a drop-in replacement), so each call "
        "reads every tensor amp copies into a low-format temporary (the contractions' operands: their inputs, "
        "and mlp3's hidden activations between layers) in float32, writes the copy and reads that in the contraction: "
        + ", ".join(f"{n} {extra[n] / 1e6:+.2f} MB" for n in contr) + " read and written with bf16 against f32. "
        "fp8 weights save a byte per weight element over bf16 on the copy's write and again on its read ("
        + ", ".join(f"{n} {fp8[n] / 1e6:+.2f} MB" for n in contr) + "). The contraction's own operand reads do "
        "halve (bf16, half) or quarter (fp8 weights); traffic falls overall only when the weights are stored "
        "in the low format between calls (passed as `bfloat16` / `float8_e4m3fn` inputs, as the fp8 matmul of "
        "the number-formats section does), which this rewrite does not do for inputs.")
    err = {v: [by[(n, v)] for n in contr] for v in ("f32", *amp)}
    lines.append(
        "- Errors follow the operand format (the float accumulation adds little to the operands' rounding): "
        "max rel error "
        + "; ".join(f"{v} {_range([r['max_rel'] for r in err[v]], lambda x: f'{x:.1g}')} "
                    f"({_range([r['snr'] for r in err[v]], lambda x: f'{x:.0f}')} dB)" for v in ("f32", *amp))
        + ". bf16 keeps 8 significant bits, half 11 (about 8x less error, 18 dB more SNR), float8_e4m3fn 4; "
        "half's range (up to 65504) is ample for these O(1) values.")
    return lines


if __name__ == "__main__":
    main()
