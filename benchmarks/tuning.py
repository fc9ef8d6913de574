"""Autotuning benchmarks: tuned kernels against the naive preset, NumPy and PyTorch, and
the tuning curves of the three strategies.

For each kernel of benchmarks/cpu.py's set, tunes with `tcir.autotune` (the default
strategy, `--budget` seconds), then times in one run the naive preset's kernel, the
tuned kernel, NumPy and PyTorch (when installed). With `--curves`, tunes matmul 1024,
fcrelu, group convolution and softmax with each strategy and draws their tuning curves
to docs/tuning-<kernel>.png. Writes its section of docs/benchmarks.md.

    .venv/bin/python benchmarks/tuning.py [--budget 120] [--only matmul,fcrelu] [--curves] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
from pathlib import Path

import numpy as np
from cpu import CASES, EXAMPLES, Case, machine, median_seconds
from report import write_section

import tcir
from tcir.tuning.plot import plot_curves
from tcir.tuning.strategies import STRATEGIES
from tcir.tuning.tuner import DEFAULT_STRATEGY

try:
    import torch
except ImportError:  # PyTorch is optional: its column is left empty
    torch = None

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Tuned (the autotuner)"
CURVE_KERNELS = ("matmul", "fcrelu", "group_convolution", "softmax")
# group convolution is not in the CPU table's set: a ResNeXt-like layer, scaled down
GROUP_CONVOLUTION = Case("group_convolution", "group_convolution", "N=8, G=32, C=F=4, H=W=30, KH=KW=3",
                         lambda r: (r.standard_normal((8, 32, 4, 30, 30), dtype=np.float32),
                                    r.standard_normal((32, 4, 4, 3, 3), dtype=np.float32),
                                    r.standard_normal((32, 4), dtype=np.float32)),
                         None, None)


def _source(case: Case) -> str:
    return (EXAMPLES / f"{case.name}.tc").read_text()


def tune(case: Case, budget: float, strategy: str, seed: int = 0):
    inputs = case.make_inputs(np.random.default_rng(0))
    return tcir.autotune(_source(case), case.entry, *inputs, strategy=strategy, budget_s=budget, seed=seed,
                         filename=f"{case.name}.tc")


def time_case(case: Case, tuned: tcir.MappingOptions, repeat: int) -> dict:
    inputs = case.make_inputs(np.random.default_rng(0))
    source = _source(case)
    naive = tcir.compile(source, case.entry, *inputs, options="naive")
    best = tcir.compile(source, case.entry, *inputs, options=tuned)
    row = {"case": case, "naive": median_seconds(lambda: naive(*inputs), repeat),
           "tuned": median_seconds(lambda: best(*inputs), repeat),
           "numpy": median_seconds(lambda: case.numpy_fn(*inputs), repeat) if case.numpy_fn else None,
           "torch": None}
    if torch is not None and case.torch_fn is not None:
        tensors = [torch.from_numpy(x) for x in inputs]
        with torch.no_grad():
            row["torch"] = median_seconds(lambda: case.torch_fn(*tensors), repeat)
    return row


def _reference(row: dict) -> float | None:
    times = [t for t in (row["numpy"], row["torch"]) if t is not None]
    return min(times) if times else None


def table(rows: list[dict]) -> str:
    lines = ["| kernel | sizes | naive s | tuned s | tuned / naive | best of NumPy, PyTorch s | best / tuned |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ref = _reference(r)
        ref_s, ratio = ("—", "—") if ref is None else (f"{ref:.4f}", f"{ref / r['tuned']:.2f}x")
        lines.append(f"| {r['case'].entry} | {r['case'].sizes} | {r['naive']:.4f} | {r['tuned']:.4f} "
                     f"| {r['naive'] / r['tuned']:.2f}x | {ref_s} | {ratio} |")
    compared = [r for r in rows if _reference(r) is not None]
    lines.append("")
    lines.append(f"Geometric mean of naive / tuned: "
                 f"{statistics.geometric_mean([r['naive'] / r['tuned'] for r in rows]):.3f}x.  ")
    if compared:
        lines.append(f"Geometric mean of best of NumPy and PyTorch / tuned: "
                     f"{statistics.geometric_mean([_reference(r) / r['tuned'] for r in compared]):.3f}x "
                     "(above 1: tcir is faster).  ")
    return "\n".join(lines)


def curves(budget: float, only: set[str]) -> tuple[list[str], str]:
    """Tune each curve kernel with every strategy: the lines of the section about them and
    the winning strategy (the least geometric mean of final best / best of the three)."""
    lines = []
    ratios: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    cases = {c.name: c for c in [*CASES, GROUP_CONVOLUTION] if c.options is None}
    cases["matmul"] = next(c for c in CASES if c.name == "matmul" and "1024" in c.sizes and c.options is None)
    for name in CURVE_KERNELS:
        if only and name not in only:
            continue
        case = cases[name]
        runs = {strategy: tune(case, budget, strategy) for strategy in STRATEGIES}
        path = plot_curves({s: r.history for s, r in runs.items()}, ROOT / "docs" / f"tuning-{name}.png",
                           title=f"{case.entry} ({case.sizes}), {budget:.0f} s per strategy",
                           base_time_s=next(iter(runs.values())).base_time_s)
        summary = ", ".join(f"{s}: {r.time_s * 1e3:.3g} ms after {len(r.history)} candidates"
                            for s, r in runs.items())
        lines.append(f"- {case.entry} ({case.sizes}): {summary}. ![{name}]({path.name})")
        print(lines[-1], flush=True)
        best = min(r.time_s for r in runs.values())
        for s, r in runs.items():
            ratios[s].append(r.time_s / best)
    means = {s: statistics.geometric_mean(v) for s, v in ratios.items() if v}
    winner = min(means, key=means.get) if means else DEFAULT_STRATEGY
    lines += ["", "Strategies, by the geometric mean of each one's final best relative to the best of the three: "
              + ", ".join(f"{s} {m:.2f}" for s, m in sorted(means.items(), key=lambda item: item[1]))
              + f". The winner, `{winner}`, tuned the table above."]
    return lines, winner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=120.0, help="seconds of tuning per kernel and strategy")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated def names")
    parser.add_argument("--curves", action="store_true", help="also the tuning curves of every strategy")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    curve_lines, strategy = curves(args.budget, only) if args.curves else ([], DEFAULT_STRATEGY)
    rows = []
    for case in [c for c in CASES if c.options is None]:
        if only and case.entry not in only and case.name not in only:
            continue
        result = tune(case, args.budget, strategy)
        rows.append(time_case(case, result.options, args.repeat))
        print(f"{case.entry:22} {case.sizes:36} naive {rows[-1]['naive']:.4f}s tuned {rows[-1]['tuned']:.4f}s "
              f"({len(result.history)} candidates) options: {result.options}", flush=True)
    text = table(rows) if rows else ""
    print(text)
    if not args.no_write:
        section = (f"{HEADING}\n\nMeasured by `benchmarks/tuning.py` on {datetime.date.today()} ({machine()}): "
                   f"each kernel tuned for {args.budget:.0f} s with the `{strategy}` strategy, then the "
                   "naive preset's kernel, the tuned kernel, NumPy and PyTorch (when installed) timed in one run "
                   "as in the CPU table.\n\n" + text + "\n")
        if curve_lines:
            section += "\nTuning curves (best time so far against candidates and seconds):\n\n" + \
                "\n".join(curve_lines) + "\n"
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
