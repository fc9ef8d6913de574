"""Compile-time benchmark: inputs that once made a compilation run for minutes or
forever, each timed once (issue 19: compile time is bounded and predictable).

Shapes: `tcir.define` of 1,000 small defs; an elementwise 16^3 def with `unroll(10**9)`
(unrolling is capped per nest, tcir/polyhedral/cpu_mapping.py); a 1 kB source of `where`
binding chains, each binding used three times (IR generation emits each value once,
tcir/irgen.py); 16 and 30 chained statements with fixParametersBeforeScheduling and Max
fusion, and 300 chained statements (isl's scheduler has a time budget,
tcir/polyhedral/schedule.py). Each is `tcir.compile` with example inputs, to host object
code, with the compilation cache off (TCIR_CACHE=0) and module imports excluded by a
first compile of another kernel; the result is checked against NumPy. Writes its section
of docs/benchmarks.md unless `--no-write`.

    .venv/bin/python benchmarks/compile_time.py [--only unroll,where] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime
import os
import textwrap
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

os.environ["TCIR_CACHE"] = "0"  # every shape compiles: nothing comes from the cache

import numpy as np  # noqa: E402
from cpu import machine  # noqa: E402
from report import write_section  # noqa: E402

import tcir  # noqa: E402
from tcir.errors import TcWarning  # noqa: E402

HEADING = "## Compile time"
RNG = np.random.default_rng(0)


@dataclass(frozen=True)
class Shape:
    name: str
    what: str
    run: Callable[[], str]  # compiles (and checks); returns a note for the table


def _define_many(count: int = 1000) -> str:
    source = "\n".join(f"def f{k}(float(N) A) -> (B) {{ B(i) = A(i) * {k} + 1 }}" for k in range(count))
    tcir.define(source)
    return f"{len(source) // 1000} kB source"


def _unrolled(n: int = 16) -> str:
    a = RNG.standard_normal((n, n, n), dtype=np.float32)
    kernel = tcir.compile("def f(float(N, N, N) A) -> (B) { B(i, j, k) = A(i, j, k) * 2 + 1 }", "f", a,
                          options=tcir.MappingOptions().unroll(10**9))
    np.testing.assert_allclose(kernel(a), a * 2 + 1, rtol=1e-6)
    return ""


def where_source(outputs: int = 3, depth: int = 9) -> str:
    """`outputs` statements, each a chain of `depth` bindings using the previous one three
    times: inlined as a tree, the last one is 3^(depth-1) copies of the first."""
    stmts = []
    for o in range(outputs):
        binds = [f"x1 = A(i) * 0.{o + 1}"] + [f"x{k} = x{k - 1} * x{k - 1} + x{k - 1}" for k in range(2, depth + 1)]
        stmts.append(f"    O{o}(i) = x{depth}\n        where " + ",\n              ".join(binds))
    outs = ", ".join(f"O{o}" for o in range(outputs))
    return f"def lets(float(N) A) -> ({outs}) {{\n" + "\n".join(stmts) + "\n}\n"


def _where() -> str:
    source = where_source()
    a = RNG.uniform(-0.5, 0.5, 64).astype(np.float32)
    outs = tcir.compile(source, "lets", a)(a)
    for o, got in enumerate(outs):
        x = a.astype(np.float64) * float(f"0.{o + 1}")
        for _ in range(8):
            x = x * x + x
        np.testing.assert_allclose(got, x, rtol=1e-4, atol=1e-6)
    return f"{len(source)} B source"


def chain_source(count: int) -> str:
    """`count` statements, each reading the previous two (one transposed): the chain of
    tests/polyhedral/test_scheduler_fallback.py, damped so that 300 stay finite."""
    return f"def chain(float(N, N) A) -> (T{count - 1}) {{\n    T0(i, j) = A(i, j)\n" + "".join(
        f"    T{k}(i, j) = T{k - 1}(j, i) * 0.5 + T{max(k - 2, 0)}(i, j) * A(j, i)\n" for k in range(1, count)) + "}\n"


def chain_numpy(a: np.ndarray, count: int) -> np.ndarray:
    t = [a]
    for k in range(1, count):
        t.append(t[k - 1].T * 0.5 + t[max(k - 2, 0)] * a.T)
    return t[-1]


def _chain(count: int, options: tcir.MappingOptions | None) -> str:
    a = RNG.uniform(-0.5, 0.5, (32, 32)).astype(np.float32)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        got = tcir.compile(chain_source(count), "chain", a, options=options)(a)
    np.testing.assert_allclose(got, chain_numpy(a, count), rtol=1e-3, atol=1e-3)
    said = [str(w.message) for w in record if issubclass(w.category, TcWarning)]
    return "scheduler fell back to the original order" if any("original order" in w for w in said) else ""


FIXED_MAX = tcir.MappingOptions().fixParametersBeforeScheduling(True).outerScheduleFusionStrategy("Max")

SHAPES = [
    Shape("define", "`tcir.define` of 1,000 one-statement defs (no compilation)", _define_many),
    Shape("unroll", "elementwise 16^3, `unroll(10**9)`", _unrolled),
    Shape("where", "3 statements, each a chain of 9 `where` bindings used 3 times each", _where),
    Shape("fixed16", "16 chained statements (32 x 32), fixParametersBeforeScheduling, Max fusion",
          lambda: _chain(16, FIXED_MAX)),
    Shape("fixed30", "30 chained statements (32 x 32), fixParametersBeforeScheduling, Max fusion",
          lambda: _chain(30, FIXED_MAX)),
    Shape("chain300", "300 chained statements (32 x 32), default options", lambda: _chain(300, None)),
]


def table(rows: list[tuple[Shape, float, str]]) -> str:
    lines = ["| shape | what | seconds | note |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.what} | {seconds:.2f} | {note} |" for s, seconds, note in rows]
    return "\n".join(lines) + "\n"


# one paragraph, filled to 88 columns once the numbers are in
HEADER = (
    "Measured by `benchmarks/compile_time.py` on {date} on {machine}: a VM whose two cores other "
    "processes shared (1-minute load average {load_start:.1f} at the start of the run, {load_end:.1f} "
    "at its end), so these are loaded-machine times, which vary by up to 2x from run to run. One run "
    "per shape: `tcir.compile` with example inputs to host object code (isl scheduling, xDSL "
    "lowering, LLVM O3), the compilation cache off (`TCIR_CACHE=0`), imports excluded by a first "
    "compile of another kernel; each result is checked against NumPy. Before the caps, the `unroll` "
    "shape took over a minute (32^3 never finished) and one statement of the `where` shape about 3 "
    "minutes (xDSL's CSE folding 3^8 inlined copies back). Defs of more than 8 statements are "
    "scheduled in a child process with a 20 s budget (the note says when the original order was "
    "used instead); most of chain300's time, profiled, is xDSL's lowering passes and the module "
    "verification after each of them, about a tenth isl's scheduler and AST build."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated shape names: "
                        + ",".join(s.name for s in SHAPES))
    parser.add_argument("--no-write", action="store_true", help="do not update docs/benchmarks.md")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    load_start = os.getloadavg()[0]
    tcir.compile("def warm(float(N) A) -> (B) { B(i) = A(i) }", "warm", np.zeros(4, np.float32))  # imports
    rows = []
    for shape in SHAPES:
        if only and shape.name not in only:
            continue
        start = time.perf_counter()
        note = shape.run()
        rows.append((shape, time.perf_counter() - start, note))
        print(f"{shape.name:10} {rows[-1][1]:8.2f} s  {note}", flush=True)
    header = HEADER.format(date=datetime.date.today(), machine=machine(), load_start=load_start,
                           load_end=os.getloadavg()[0])
    section = f"{HEADING}\n\n{textwrap.fill(header, 88)}\n\n{table(rows)}"
    print(section)
    if not args.no_write:
        write_section(HEADING, section)


if __name__ == "__main__":
    main()
