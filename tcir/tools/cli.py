"""What tcir's commands share: reading a def from a file, random inputs of given sizes,
and the exit path (every error one `file:line:col: error: ...` or `error: ...` line on
stderr and status 1, never a traceback)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..errors import Location, TcError
from ..frontend import check_source
from ..frontend.checked import CheckedProgram


def read_program(path: str, entry: str) -> tuple[str, CheckedProgram]:
    """The source of `path` and its checked program, which must define `entry`."""
    try:
        source = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise TcError(f"cannot read it ({getattr(err, 'strerror', None) or err})", Location(path, 1, 1)) from None
    program = check_source(source, path)
    if entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines " + ", ".join(f"`{n}`" for n in program.defs))
    return source, program


def random_inputs(definition, sizes: dict[str, int], seed: int, low: float = 0.0) -> list:
    """Random inputs of `definition` for `sizes`, in parameter order: floats uniform in
    [low, 1), integers in [0, 8), scalars 1."""
    missing = sorted({s for t in definition.inputs if t.shape for e in t.shape for s in e.symbols()} - set(sizes))
    if missing:
        raise TcError(f"`{definition.name}` needs --sizes for " + ", ".join(f"`{n}`" for n in missing))
    rng = np.random.default_rng(seed)
    inputs = []
    for t in definition.inputs:
        dtype = t.dtype.numpy_dtype
        if t.role == "scalar":
            inputs.append(dtype.type(1))
            continue
        shape = tuple(e.evaluate(sizes) for e in t.shape)
        if dtype.kind == "b":
            inputs.append(rng.random(shape) < 0.5)
        elif dtype.kind in "iu":
            inputs.append(rng.integers(0, 8, shape).astype(dtype))
        else:
            inputs.append(rng.uniform(low, 1.0, shape).astype(dtype))
    return inputs


def run_command(run, args) -> None:
    """Run `run(args)`, turning every error into one line on stderr and exit status 1."""
    try:
        run(args)
    except TcError as err:
        print(str(err), file=sys.stderr)
        sys.exit(1)
    except OSError as err:  # writing an output file
        print(f"{err.filename or ''}: error: {err.strerror or err}", file=sys.stderr)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - a command never shows a traceback
        if os.environ.get("TCIR_DEBUG"):
            raise
        print(f"error: internal error: {type(err).__name__}: {err} (set TCIR_DEBUG=1 for a traceback and report it)",
              file=sys.stderr)
        sys.exit(1)
