"""What a def's number formats cost in accuracy: `tcir.accuracy_report`.

The def runs twice on the same inputs: as written (or under a mixed-precision
assignment) and with every float type and number format replaced by `double` (so its
casts vanish: the same statements evaluated in float64, the reference). Every tensor a
statement writes is made an output of both, so each tensor's final value is compared;
a statement whose target a later statement overwrites is compared on the def cut after
it. Per value, against the reference `r` (all in float64):

- `max_abs_error`: max |x - r|;
- `max_rel_error`: max |x - r| / max |r|, the error relative to the tensor's scale (an
  element-wise ratio would be dominated by the elements a ReLU or a cancellation makes
  zero, where any rounding is infinitely large relatively);
- `mean_ulp_error`: the mean of |x - r| / ulp, the ulp in the tensor's own format at
  the larger of |x| and |r| (the format's spacing there: `2^(e - M)` for a float of `M`
  fraction bits and exponent `e = floor(log2 max(|x|, |r|))`, never less than the
  smallest subnormal; `2^-F` for fixed point with `F` fraction bits): at most 0.5 for
  a correctly rounded value. The larger magnitude, so that a value a rounding error
  left tiny where the reference is zero (after a ReLU, a cancellation) counts in the
  spacing of its own size rather than the smallest subnormal's;
- `snr_db`: 10 log10(sum r^2 / sum (x - r)^2), infinite when exact.

A value that is NaN or infinite where the reference is finite makes every error
infinite (and the SNR -inf).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from .errors import TcError, TcWarning
from .frontend import check_source
from .frontend.checked import CheckedDef, TCast, TensorInfo, rebuild
from .frontend.printing import (
    SourceStmt, fresh_name, header_source, parameter_source, result_source, settle, source_statements,
    whole_tensor_statement,
)
from .frontend.types import DOUBLE, ScalarType
from .passes.assign_precision import Assignment, assign_precision, rewrite

METRICS = ("max_abs_error", "max_rel_error", "mean_ulp_error", "snr_db")
# fraction bits and smallest subnormal of the standard floats
_STANDARD = {"half": (10, 2.0**-24), "bfloat16": (7, 2.0**-133), "float": (23, 2.0**-149),
             "double": (52, 2.0**-1074)}


def ulp(r: np.ndarray, t: ScalarType) -> np.ndarray:
    """The spacing of the format `t` at each value of `r` (float64)."""
    if t.is_lowp and t.is_fixed:
        return np.full(r.shape, 2.0 ** -t.format.fraction)
    if t.is_lowp:
        bits, tiny = t.format.mantissa, float(t.format.min_subnormal)
    else:
        bits, tiny = _STANDARD[t.name]
    with np.errstate(divide="ignore"):
        e = np.floor(np.log2(np.abs(r)))
    spacing = np.where(np.isfinite(e), np.exp2(np.where(np.isfinite(e), e, 0) - bits), tiny)
    return np.maximum(spacing, tiny)


def errors(x: np.ndarray, r: np.ndarray, t: ScalarType) -> dict[str, float]:
    """The four metrics of the module docstring for a value `x` of format `t`."""
    x, r = np.asarray(x, np.float64).ravel(), np.asarray(r, np.float64).ravel()
    if x.size == 0:
        return dict.fromkeys(METRICS[:3], 0.0) | {"snr_db": math.inf}
    if not np.array_equal(np.isfinite(x), np.isfinite(r)) or not np.all(np.isfinite(r) | (x == r)):
        return dict.fromkeys(METRICS[:3], math.inf) | {"snr_db": -math.inf}
    finite = np.isfinite(r)
    x, r = x[finite], r[finite]
    diff = np.abs(x - r)
    abs_err = float(diff.max(initial=0.0))
    scale = float(np.abs(r).max(initial=0.0))
    rel = abs_err / scale if scale > 0 else (0.0 if abs_err == 0 else math.inf)
    noise, signal = float(np.sum(diff**2)), float(np.sum(r**2))
    snr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    mean_ulp = float(np.mean(diff / ulp(np.maximum(np.abs(x), np.abs(r)), t))) if diff.size else 0.0
    return {"max_abs_error": abs_err, "max_rel_error": rel, "mean_ulp_error": mean_ulp, "snr_db": snr}


@dataclass
class AccuracyReport:
    """Per tensor (`rows`: each tensor a statement writes, its final value) and per
    statement (`statement_rows`: the statement's target right after it), the errors
    against the float64 evaluation; each row a dict with `tensor`, `format` and the
    metrics (statement rows also `statement`, its index, and `text`)."""

    entry: str
    rows: list[dict]
    statement_rows: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"entry": self.entry, "tensors": [dict(r) for r in self.rows],
                "statements": [dict(r) for r in self.statement_rows]}

    def to_markdown(self) -> str:
        head = "| tensor | format | max abs error | max rel error | mean ulp error | SNR (dB) |\n|---|---|---|---|---|---|"
        lines = [f"Accuracy of `{self.entry}` against float64, per tensor:", "", head]
        lines += [_markdown_row(f"`{r['tensor']}`", r) for r in self.rows]
        lines += ["", "Per statement (its target right after it):", "",
                  "| # | statement | format | max abs error | max rel error | mean ulp error | SNR (dB) |",
                  "|---|---|---|---|---|---|---|"]
        lines += [_markdown_row(f"{r['statement']} | `{r['text']}`", r) for r in self.statement_rows]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        width = max([len(r["tensor"]) for r in self.rows] + [6])
        fw = max([len(r["format"]) for r in self.rows] + [6])
        lines = [f"accuracy of {self.entry} against float64",
                 f"  {'tensor':<{width}}  {'format':<{fw}}  {'max abs':>10}  {'max rel':>10}  {'mean ulp':>9}  "
                 f"{'SNR dB':>7}"]
        for r in self.rows:
            lines.append(f"  {r['tensor']:<{width}}  {r['format']:<{fw}}  {_num(r['max_abs_error']):>10}  "
                         f"{_num(r['max_rel_error']):>10}  {_num(r['mean_ulp_error']):>9}  {_db(r['snr_db']):>7}")
        lines.append("  per statement (the target right after it):")
        for r in self.statement_rows:
            lines.append(f"  [{r['statement']}] {r['text']}: max rel {_num(r['max_rel_error'])}, "
                         f"SNR {_db(r['snr_db'])} dB ({r['format']})")
        return "\n".join(lines)

    def row(self, tensor: str) -> dict:
        for r in self.rows:
            if r["tensor"] == tensor:
                return r
        raise KeyError(tensor)


def _num(v: float) -> str:
    return "inf" if v == math.inf else f"{v:.3g}"


def _db(v: float) -> str:
    return "inf" if v == math.inf else ("-inf" if v == -math.inf else f"{v:.1f}")


def _markdown_row(first: str, r: dict) -> str:
    return (f"| {first} | {r['format']} | {_num(r['max_abs_error'])} | {_num(r['max_rel_error'])} | "
            f"{_num(r['mean_ulp_error'])} | {_db(r['snr_db'])} |")


# Running a def and its float64 twin --------------------------------------------------


def _double(t: ScalarType) -> ScalarType:
    return DOUBLE if t.is_float or t.is_lowp else t


def _in_double(e):
    """A checked expression with every float and format node computed in double."""
    def f(x):
        if isinstance(x, TCast) and _double(x.type) == x.operand.type == DOUBLE:
            return x.operand
        return dataclasses.replace(x, type=_double(x.type)) if _double(x.type) != x.type else None

    return rebuild(e, f)


@dataclass
class Probe:
    """A def's statements as a def whose outputs are the tensors to compare: `results`,
    or (when None) every tensor written and, after each statement whose target a later
    one overwrites, a copy of the target (`snapshots`: statement index -> copy)."""

    name: str
    text: str
    results: list[str]
    snapshots: dict[int, str]


def probe(d: CheckedDef, in_double: bool, filename: str, results: list[str] | None = None) -> Probe:
    name = f"{d.name}_probe" + ("_f64" if in_double else "")
    stmts = source_statements(d.stmts, _in_double if in_double else None)
    snapshots: dict[int, str] = {}
    body: list[SourceStmt] = []
    taken = set(d.tensors) | {v for s in d.stmts for v in s.iterators} | set(d.sizes)
    for i, (s, st) in enumerate(zip(d.stmts, stmts)):
        body.append(st)
        if results is None and any(t.target == s.target for t in d.stmts[i + 1:]):
            snapshots[i] = fresh_name(f"{s.target}_after{i}", taken)
            t = d.tensors[s.target]
            body.append(whole_tensor_statement(snapshots[i], t.name, t.shape or [], t.dtype, taken))
    if results is None:
        results = list(dict.fromkeys(s.target for s in d.stmts)) + list(snapshots.values())
    signature = [result_source(d, n, _double(d.tensors[n].dtype) if in_double else d.tensors[n].dtype)
                 if n in d.tensors else n for n in results]
    inputs = [TensorInfo(t.name, _double(t.dtype) if in_double else t.dtype, t.shape, t.role, t.loc)
              for t in d.inputs]
    text, _ = settle(header_source(name, [parameter_source(t) for t in inputs], signature), [(None, body)], name,
                     f"{filename} (accuracy probe)")
    return Probe(name, text, results, snapshots)


def as_float64(x, t: ScalarType) -> np.ndarray | float:
    """A value of type `t` (an array of its NumPy dtype, or of a user format's storage
    integers) as float64."""
    if t.is_lowp and not t.is_named:
        from .lowp import decode

        return decode(np.asarray(x), t.format, np.float64)
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray):
        return float(x)
    return np.asarray(x).astype(np.float64)


def run_probe(d: CheckedDef, inputs, filename: str, in_double: bool,
              results: list[str] | None = None) -> tuple[Probe, dict[str, object]]:
    """The probe of `d` (`probe`) run on `inputs`, as `d` computes or in float64: the
    value of each of its results."""
    from .api import define

    p = probe(d, in_double, filename, results)
    args = [as_float64(x, t.dtype) if in_double and (t.dtype.is_float or t.dtype.is_lowp) else x
            for x, t in zip(inputs, d.inputs)]
    with warnings.catch_warnings():  # the def's own warnings were shown when it was checked
        warnings.simplefilter("ignore", TcWarning)
        kernel = getattr(define(p.text, f"{filename} (accuracy probe)"), p.name)
    values = kernel(*args)
    return p, dict(zip(p.results, values if isinstance(values, tuple) else (values,)))


def measure(d: CheckedDef, inputs, filename: str = "<string>", text_of=None) -> AccuracyReport:
    """The report of the checked def `d` on `inputs`; `text_of(i)` gives statement
    `i`'s TC text for the rows."""
    if len(inputs) != len(d.inputs):
        raise TcError(f"`{d.name}` takes {len(d.inputs)} inputs ({', '.join(t.name for t in d.inputs)}), "
                      f"got {len(inputs)}", d.loc)
    written = list(dict.fromkeys(s.target for s in d.stmts))
    fmt = {n: d.tensors[n].dtype for n in written}
    p, xs = run_probe(d, inputs, filename, in_double=False)
    _, rs = run_probe(d, inputs, filename, in_double=True)
    rows = [_row(n, fmt[n], xs[n], rs[n]) for n in written if fmt[n].is_float or fmt[n].is_lowp]
    statement_rows = []
    for i, s in enumerate(d.stmts):
        if fmt[s.target].is_float or fmt[s.target].is_lowp:
            value = p.snapshots.get(i, s.target)
            statement_rows.append({"statement": i, "text": text_of(i) if text_of else s.target,
                                   **_row(s.target, fmt[s.target], xs[value], rs[value])})
    return AccuracyReport(d.name, rows, statement_rows)


def _row(name: str, t: ScalarType, x, r) -> dict:
    return {"tensor": name, "format": t.name, **value_errors(x, r, t)}


def value_errors(x, r, t: ScalarType) -> dict[str, float]:
    """`errors` of a value of type `t` as a kernel returns it, against its float64 twin."""
    return errors(as_float64(x, t), as_float64(r, DOUBLE), t)


def accuracy_report(source: str, entry: str, *inputs, assignment=None, filename: str = "<string>") -> AccuracyReport:
    """The accuracy of the def `entry` of `source` on `inputs` against its float64
    evaluation; with `assignment` (a `MixedPrecision.assignment`, or overrides
    `{tensor or statement index: format}`), of the def under that assignment."""
    program = check_source(source, filename)
    if entry not in program.defs:
        raise TcError(f"no def `{entry}` in {filename}; it defines " + ", ".join(f"`{n}`" for n in program.defs))
    d = program.defs[entry]
    if isinstance(assignment, Assignment):
        result = rewrite(d, assignment, None, filename)
    elif assignment is not None:
        result = assign_precision(d, "keep", overrides=assignment, filename=filename)
    else:
        return measure(d, inputs, filename, statement_texts(d))
    return measure(result.checked, inputs, filename, statement_texts(result.checked))


def statement_texts(d: CheckedDef):
    """Statement index -> its TC text, for report rows."""
    stmts = source_statements(d.stmts)
    return lambda i: stmts[i].text()
