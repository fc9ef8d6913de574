"""`tc-tune`: tune the mapping options of a TC def from the command line (docs/autotuning.md).

    tc-tune examples/matmul.tc --entry matmul --sizes M=512,K=512,N=512 --budget 60 \\
        --plot curve.png --json result.json
    tc-tune examples/matmul.tc --entry matmul --sizes M=512,K=512,N=512 --dtypes A=half,B=half

The inputs are random arrays of the def's declared types and the given sizes (scalar
parameters are 1). A progress bar shows the candidates measured, the best time and the
speedup over the base options; the result (best options, times, speedup) is printed and
kept in the options cache, so `tcir.define` and `tcir.compile` use it for inputs of
these sizes. `--json` writes the result and the history; `--plot` the tuning curve.

A TC def declares its parameters' types, so the dtypes of the inputs are the def's.
`--dtypes A=half,B=float8_e4m3fn` retypes parameters instead: it tunes the def with
those declarations (any TC type or registered low-precision format), prints the
retyped signature, and writes the retyped source to `--json` ("source"); the tuned
options are cached for that retyped def, which is what a program must compile to use
them.
Every bad input ends with `file:line:col: error: ...` (or `error: ...`) on stderr and
exit status 1.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import TcError
from ..frontend import check_source
from ..frontend.checked import CheckedDef
from ..frontend.parser import parse
from ..passes.tc_lowering import parse_sizes
from ..tuning import TuningResult, autotune
from ..tuning.plot import plot_curves
from ..tuning.strategies import STRATEGIES
from ..tuning.tuner import DEFAULT_STRATEGY
from .cli import random_inputs, read_program, run_command


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _signature(d: CheckedDef) -> str:
    """`def matmul(half(M, K) A, ...)`, for the retyped def."""
    params = [f"{t.dtype}({', '.join(map(str, t.shape))}) {t.name}" if t.shape else f"{t.dtype} {t.name}"
              for t in d.inputs]
    return f"def {d.name}({', '.join(params)})"


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tc-tune", description="tune the mapping options of a TC def")
    parser.add_argument("file", help="the .tc source")
    parser.add_argument("--entry", required=True, metavar="NAME", help="the def to tune")
    parser.add_argument("--sizes", default="", metavar="M=512,N=256", help="the sizes of the inputs")
    parser.add_argument("--dtypes", default="", metavar="A=half,B=float",
                        help="tune the def with these parameters retyped (its declared types otherwise)")
    parser.add_argument("--target", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--strategy", choices=tuple(STRATEGIES), default=None,
                        help=f"the search strategy (default: {DEFAULT_STRATEGY})")
    parser.add_argument("--budget", type=float, default=60.0, metavar="SECONDS", help="seconds of tuning")
    parser.add_argument("--max-candidates", type=int, default=None, metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--executor", choices=("local", "ray"), default="local")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the tuning curve")
    parser.add_argument("--json", metavar="FILE.json", help="write the result and the history")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def retyped(source: str, filename: str, entry: str, dtypes: str) -> str:
    """`source` with the declared types of `entry`'s parameters replaced as `dtypes`
    (`A=half,B=float`) says; the result is checked by the caller like any source."""
    params = {p.name: p for d in parse(source, filename).defs if d.name == entry for p in d.params}
    lines = source.split("\n")
    for item in filter(None, (x.strip() for x in dtypes.split(","))):
        name, eq, type_name = (x.strip() for x in item.partition("="))
        if not eq or not _IDENT.fullmatch(type_name):
            raise TcError(f"--dtypes takes NAME=TYPE items separated by commas (`A=half,B=float`), got `{item}`")
        if name not in params:
            hint = difflib.get_close_matches(name, params, n=1)
            raise TcError(f"--dtypes: `{entry}` has no parameter `{name}`"
                          + (f"; did you mean `{hint[0]}`?" if hint else f" (its parameters: {', '.join(params)})"))
        loc = params[name].loc  # the parameter's type name starts there
        line = lines[loc.line - 1]
        old = _IDENT.match(line, loc.col - 1)
        lines[loc.line - 1] = line[:old.start()] + type_name + line[old.end():]
    return "\n".join(lines)


def result_json(result: TuningResult) -> dict:
    return {"options": str(result.options), "time_s": result.time_s, "base_time_s": result.base_time_s,
            "speedup": result.speedup,
            "history": [{"options": str(t.options), "time_s": t.time_s, "error": t.error, "at_s": t.at_s}
                        for t in result.history]}


def run(args: argparse.Namespace) -> None:
    source, program = read_program(args.file, args.entry)
    if args.dtypes:
        source = retyped(source, args.file, args.entry, args.dtypes)
        program = check_source(source, args.file)
        print(f"retyped: {_signature(program.defs[args.entry])}")
    inputs = random_inputs(program.defs[args.entry], parse_sizes(args.sizes), args.seed)
    result = autotune(source, args.entry, *inputs, target=args.target, strategy=args.strategy, budget_s=args.budget,
                      seed=args.seed, progress=not args.no_progress, max_candidates=args.max_candidates,
                      executor="ray" if args.executor == "ray" else None, filename=args.file)
    failed = sum(t.time_s is None for t in result.history)
    print(f"{args.entry}: best {result.time_s * 1e3:.4g} ms, base {result.base_time_s * 1e3:.4g} ms, "
          f"{result.speedup:.2f}x, {len(result.history)} candidates ({failed} failed)")
    print(f"options: {result.options}")
    if args.json:
        Path(args.json).write_text(json.dumps(result_json(result) | {"source": source}, indent=1) + "\n")
    if args.plot:
        plot_curves({args.strategy or DEFAULT_STRATEGY: result.history}, args.plot, title=f"{args.entry} ({args.sizes})",
                    base_time_s=result.base_time_s)


def main(argv: Sequence[str] | None = None) -> None:
    run_command(run, _arguments().parse_args(argv))


if __name__ == "__main__":
    main()
