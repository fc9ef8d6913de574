"""The autotuner: searches a kernel's mapping options and keeps the best (docs/autotuning.md).

`autotune` (also `tcir.autotune`) runs a search; `tcir.tuning.space` derives the search
space from a def, `tcir.tuning.strategies` proposes candidates, `tcir.tuning.harness`
compiles them in parallel and measures them, `tcir.tuning.ray_executor` does both on a
Ray cluster, `tcir.tuning.plot` draws tuning curves. What it finds is kept in the
options cache (`tcir.options_cache`), which the API reads.
"""

from .tuner import TuningResult, Trial, autotune

__all__ = ["autotune", "TuningResult", "Trial"]
