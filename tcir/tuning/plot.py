"""Tuning curves: the best time found so far, against candidates and against seconds.

`tuning_curve(history)` is the curve as data; `plot_curves({"genetic": history, ...},
"curve.png")` draws one or several runs with matplotlib (two panels: against the number
of candidates measured, and against the seconds of tuning), base time dashed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed (CI, servers)

import matplotlib.pyplot as plt  # noqa: E402 - after choosing the backend

from .tuner import Trial  # noqa: E402


def tuning_curve(history: Sequence[Trial]) -> list[tuple[int, float, float]]:
    """(candidates measured, seconds, best time so far) after each candidate that ran."""
    points, best = [], None
    for n, trial in enumerate(history, 1):
        if trial.time_s is not None and (best is None or trial.time_s < best):
            best = trial.time_s
        if best is not None:
            points.append((n, trial.at_s, best))
    return points


def plot_curves(runs: Mapping[str, Sequence[Trial]], path: str | Path, title: str = "",
                base_time_s: float | None = None) -> Path:
    """Draw the runs' tuning curves to `path` (PNG, SVG or PDF by its suffix)."""
    figure, (by_count, by_time) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for label, history in runs.items():
        curve = tuning_curve(history)
        if not curve:
            continue
        counts, seconds, best = zip(*curve)
        by_count.step(counts, [b * 1e3 for b in best], where="post", label=label)
        by_time.step(seconds, [b * 1e3 for b in best], where="post", label=label)
    for axes, xlabel in ((by_count, "candidates measured"), (by_time, "seconds of tuning")):
        if base_time_s is not None:
            axes.axhline(base_time_s * 1e3, linestyle="--", color="gray", label="base options")
        axes.set_xlabel(xlabel)
        axes.grid(True, alpha=0.3)
    by_count.set_ylabel("best time (ms)")
    by_count.legend()
    figure.suptitle(title or "tuning curve")
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
