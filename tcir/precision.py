"""`tcir.mixed_precision`: a def with number formats assigned, compiled, and what it cost.

    mp = tcir.mixed_precision(FCRELU, "fcrelu", I, W1, B1, policy="amp", low="bfloat16")
    print(mp.source)        # the def as TC, every cast written
    O1 = mp.kernel(I, W1, B1)
    print(mp.report)        # per tensor and statement: errors against float64

Policies (docs/mixed-precision.md): `amp` and `keep` are the `assign-precision` pass's
(`tcir/passes/assign_precision.py`: statement classes, cast placement); `auto` measures
on the sample inputs. It starts from `keep` (every type as written, `overrides`
applied) and, tensor by tensor, largest first (the float inputs and temporaries), tries
the formats of `formats` from the fewest bits up, keeping the first under which every
output stays within the budget: `max_rel_error` (each output's max |x - r| / max |r|
against float64) and/or `min_snr_db`. A change is kept only when the measured error is
within `margin` (default one half) of the budget, so that inputs the search did not see
stay within it too. Every trial is in `trials`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .accuracy import AccuracyReport, measure, run_probe, statement_texts, value_errors
from .api import Kernel, define
from .arguments import bind_sizes
from .errors import TcError
from .frontend import check_source
from .frontend.checked import CheckedDef
from .passes.assign_precision import (
    Assignment, Planner, Result, assign_precision, parse_overrides, resolve_type, rewrite,
)

POLICIES = ("amp", "keep", "auto")
DEFAULT_FORMATS = ("float8_e4m3fn", "float8_e5m2", "bfloat16", "half")


@dataclass
class MixedPrecision:
    entry: str
    source: str  # the transformed def as TC
    assignment: Assignment  # tensor or statement index -> format
    kernel: Kernel  # takes the original def's inputs
    report: AccuracyReport  # on the sample inputs
    trials: list[dict] = field(default_factory=list)  # `auto`'s tries, in order

    def __str__(self) -> str:
        lines = [f"assignment of {self.entry}:"]
        lines += [f"  {k}: {v}" for k, v in self.assignment.items() if not isinstance(k, int)]
        lines += [f"  statement {k}: {v}" for k, v in self.assignment.items() if isinstance(k, int)]
        return "\n".join(lines + ["", self.source, str(self.report)])


def mixed_precision(source: str, entry: str, *sample_inputs, policy: str = "amp", low="bfloat16",
                    accumulate="float", overrides=None, max_rel_error: float | None = None,
                    min_snr_db: float | None = None, formats=DEFAULT_FORMATS, margin: float = 0.5,
                    filename: str = "<string>") -> MixedPrecision:
    """The def `entry` of `source` with number formats assigned by `policy` (module
    docstring), its kernel and its accuracy report on `sample_inputs`. `low` is `amp`'s
    operand format; `auto` tries `formats` instead."""
    if policy not in POLICIES:
        raise TcError(f"unknown policy `{policy}`; expected " + ", ".join(f"`{p}`" for p in POLICIES))
    program = check_source(source, filename)
    if entry not in program.defs:
        raise TcError(f"no def `{entry}` in {filename}; it defines " + ", ".join(f"`{n}`" for n in program.defs))
    d = program.defs[entry]
    if len(sample_inputs) != len(d.inputs):
        raise TcError(f"`{entry}` takes {len(d.inputs)} inputs ({', '.join(t.name for t in d.inputs)}); "
                      f"got {len(sample_inputs)} sample inputs", d.loc)
    sizes = _sizes(d, sample_inputs)
    trials: list[dict] = []
    if policy == "auto":
        if max_rel_error is None and min_snr_db is None:
            raise TcError("policy `auto` needs a budget: `max_rel_error=` and/or `min_snr_db=`")
        if not 0 < margin <= 1:
            raise TcError(f"`margin` is the share of the budget a trial may use, in (0, 1]; got {margin}")
        result = Search(d, sample_inputs, sizes, accumulate, overrides, max_rel_error, min_snr_db, formats,
                        margin, filename).run(trials)
    else:
        if max_rel_error is not None or min_snr_db is not None:
            raise TcError(f"a budget (`max_rel_error`, `min_snr_db`) is for policy `auto`, not `{policy}`")
        result = assign_precision(d, policy, low, accumulate, overrides, sizes, filename)
    kernel = getattr(define(result.source, f"{filename} (mixed precision)"), entry)
    report = measure(result.checked, sample_inputs, filename, statement_texts(result.checked))
    return MixedPrecision(entry, result.source, result.assignment, kernel, report, trials)


def _sizes(d: CheckedDef, inputs) -> dict[str, int]:
    shapes = [None if t.role == "scalar" else np.shape(x) for t, x in zip(d.inputs, inputs)]
    return {k: int(v) for k, v in bind_sizes(d, shapes).items()}


class Search:
    """`auto`: greedy lowering of tensors within an output error budget."""

    def __init__(self, d: CheckedDef, inputs, sizes, accumulate, overrides, max_rel, min_snr, formats, margin,
                 filename):
        self.d, self.inputs, self.sizes, self.filename = d, inputs, sizes, filename
        self.max_rel, self.min_snr, self.margin = max_rel, min_snr, margin
        self.formats = sorted((resolve_type(f, "formats") for f in formats), key=lambda t: t.bits)
        self.pins, self.stmt_pins = parse_overrides(overrides, d)
        self.accumulate = resolve_type(accumulate, "accumulate")
        outputs = [t.name for t in d.outputs]
        _, self.refs = run_probe(d, inputs, filename, in_double=True, results=outputs)

    def run(self, trials: list[dict]) -> Result:
        best = self._result(self.pins)
        within, worst = self._within(best)
        if not within:
            raise TcError(f"`{self.d.name}` as written{' with the overrides' if self.pins else ''} already misses "
                          f"the budget on the sample inputs (max rel error {worst['max_rel_error']:.3g}, SNR "
                          f"{worst['snr_db']:.1f} dB, against {self._budget()}); nothing to lower", self.d.loc)
        for name in self._candidates():
            current = best.assignment.tensors.get(name, self.d.tensors[name].dtype)
            for t in self.formats:
                if t.bits >= current.bits:
                    break
                pins = {**self.pins, name: t}
                result = self._result(pins)
                within, worst = self._within(result)
                trials.append({"tensor": name, "format": t.name, **worst, "kept": within})
                if within:
                    self.pins, best = pins, result
                    break
        return best

    def _budget(self) -> str:
        parts = []
        if self.max_rel is not None:
            parts.append(f"max rel error {self.margin * self.max_rel:.3g}")
        if self.min_snr is not None:
            parts.append(f"SNR {self.min_snr - 20 * math.log10(self.margin):.1f} dB")
        return " and ".join(parts) + f" with the margin {self.margin}"

    def _result(self, pins) -> Result:
        plan = Planner(self.d, "keep", self.formats[0], self.accumulate, pins, self.stmt_pins).plan()
        return rewrite(self.d, plan, self.sizes, self.filename)

    def _candidates(self) -> list[str]:
        """The float inputs and temporaries not pinned, most bytes first."""
        def size(name: str) -> int:
            shape = self.d.tensors[name].shape or []
            return math.prod(max(0, s.evaluate(self.sizes)) for s in shape) * self.d.tensors[name].dtype.bits

        names = [t.name for t in self.d.inputs + self.d.temporaries
                 if t.role != "scalar" and (t.dtype.is_float or t.dtype.is_lowp) and t.name not in self.pins]
        return sorted(names, key=size, reverse=True)

    def _within(self, result: Result) -> tuple[bool, dict]:
        outputs = [t.name for t in self.d.outputs]
        _, values = run_probe(result.checked, self.inputs, self.filename, in_double=False, results=outputs)
        worst = {"max_rel_error": 0.0, "snr_db": math.inf}
        for name, x in values.items():
            e = value_errors(x, self.refs[name], result.checked.tensors[name].dtype)
            worst["max_rel_error"] = max(worst["max_rel_error"], e["max_rel_error"])
            worst["snr_db"] = min(worst["snr_db"], e["snr_db"])
        ok = True
        if self.max_rel is not None:
            ok &= worst["max_rel_error"] <= self.margin * self.max_rel
        if self.min_snr is not None:
            # a margin of one half in error amplitude is 20 log10(2) dB of SNR
            ok &= worst["snr_db"] >= self.min_snr - 20 * math.log10(self.margin)
        return bool(ok), worst
