"""`tc-precision`: assign number formats across a TC def and report what it costs
(docs/mixed-precision.md).

    tc-precision examples/fcrelu.tc --entry fcrelu --sizes B=32,M=256,N=128 --policy amp --low bfloat16
    tc-precision mlp.tc --entry mlp3 --sizes B=16,M=64,N1=64,N2=32,N3=8 --policy auto --max-rel-error 0.01

The sample inputs are random arrays of the def's declared types and the given sizes,
floats uniform in [-1, 1) (`--seed`). It prints the assignment (tensor or statement ->
format), the transformed def as TC, and the accuracy report against float64 (per
tensor and per statement); `--markdown` prints the report as Markdown, `--json FILE`
writes all of it, `--output FILE.tc` the transformed def. Every bad input ends with
`file:line:col: error: ...` (or `error: ...`) on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from ..precision import POLICIES, mixed_precision
from ..passes.tc_lowering import parse_assignments, parse_sizes
from .cli import random_inputs, read_program, run_command


def _arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tc-precision",
                                     description="assign number formats across a TC def and report the accuracy")
    parser.add_argument("file", help="the .tc source")
    parser.add_argument("--entry", required=True, metavar="NAME", help="the def")
    parser.add_argument("--sizes", default="", metavar="M=512,N=256", help="the sizes of the sample inputs")
    parser.add_argument("--policy", choices=POLICIES, default="amp")
    parser.add_argument("--low", default="bfloat16", metavar="TYPE", help="contractions' operand format (amp)")
    parser.add_argument("--accumulate", default="float", metavar="TYPE", help="contractions' accumulation type")
    parser.add_argument("--override", default="", metavar="W1=float8_e4m3fn,2=float",
                        help="tensors (by name) or statements (by index) pinned to a format")
    parser.add_argument("--max-rel-error", type=float, default=None, metavar="X", help="auto: the outputs' budget")
    parser.add_argument("--min-snr-db", type=float, default=None, metavar="DB", help="auto: the outputs' budget")
    parser.add_argument("--formats", default=None, metavar="A,B",
                        help="auto: the formats to try (default: float8_e4m3fn,float8_e5m2,bfloat16,half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    parser.add_argument("--json", metavar="FILE.json", help="write the assignment, the source and the report")
    parser.add_argument("--output", metavar="FILE.tc", help="write the transformed def")
    return parser


def run(args: argparse.Namespace) -> None:
    source, program = read_program(args.file, args.entry)
    inputs = random_inputs(program.defs[args.entry], parse_sizes(args.sizes), args.seed, low=-1.0)
    extra = {"formats": [f.strip() for f in args.formats.split(",") if f.strip()]} if args.formats else {}
    mp = mixed_precision(source, args.entry, *inputs, policy=args.policy, low=args.low, accumulate=args.accumulate,
                         overrides=parse_assignments(args.override, "override") or None,
                         max_rel_error=args.max_rel_error, min_snr_db=args.min_snr_db, filename=args.file, **extra)
    print("assignment:")
    for key, value in mp.assignment.items():
        print(f"  {'statement ' if isinstance(key, int) else ''}{key}: {value}")
    if mp.trials:
        print("tried:")
        for t in mp.trials:
            print(f"  {t['tensor']} -> {t['format']}: max rel error {t['max_rel_error']:.3g}, "
                  f"SNR {t['snr_db']:.1f} dB, {'kept' if t['kept'] else 'rejected'}")
    print()
    print(mp.source)
    print(mp.report.to_markdown() if args.markdown else mp.report)
    if args.output:
        Path(args.output).write_text(mp.source)
    if args.json:
        doc = {"entry": args.entry, "assignment": {str(k): v for k, v in mp.assignment.items()},
               "source": mp.source, "trials": mp.trials, "report": mp.report.to_dict()}
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    run_command(run, _arguments().parse_args(argv))


if __name__ == "__main__":
    main()
