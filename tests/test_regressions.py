"""Every failure the fuzzers found, kept as an example (tests/regressions/*.tc).

Each file is a TC source whose leading comment says what bug it caught, then names the
entry and gives the inputs (docs/testing.md, "Keeping a failure"):

    # Regression: INT_MIN / -1 trapped (SIGFPE) in compiled code; TC wraps it.
    # Found by: test_fuzz_pipeline.py::test_cpu_matches_reference
    # entry: f
    # exact: C                       (optional: outputs compared bit for bit)
    # input A: [-2147483648, 7]      (JSON; NaN, Infinity allowed; scalars as numbers)
    # layout A: transposed           (optional: transposed, strided or reversed view)
    # expect: TcError                (optional: the call is an error, for both)
    def f(int32(N) A, int32(N) B) -> (C) { ... }

The test compiles the entry for the CPU, runs it on those inputs and compares it with
the NumPy reference evaluator (within TOLERANCE by dtype, or exactly); with `expect:
TcError`, both must refuse the call with a TcError.
"""

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from strategies import TOLERANCE

import tcir
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.testing.reference import evaluate, np_dtype

REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.tc"))
_HEADER = re.compile(r"#\s*(entry|exact|input|layout|expect)\s*([A-Za-z_]\w*)?\s*:\s*(.*)")


def parse_header(text: str) -> dict:
    """{"entry": name, "exact": set, "inputs": {name: json}, "layouts": {name: layout}}."""
    out = {"entry": None, "exact": set(), "inputs": {}, "layouts": {}, "expect": None}
    for line in text.splitlines():
        m = _HEADER.match(line.strip())
        if not m:
            continue
        key, name, value = m.groups()
        if key in ("entry", "expect"):
            out[key] = value.strip()
        elif key == "exact":
            out["exact"] = {v.strip() for v in value.split(",") if v.strip()}
        elif key == "input":
            out["inputs"][name] = json.loads(value)
        else:
            out["layouts"][name] = value.strip()
    return out


def _view(arr: np.ndarray, layout: str | None) -> np.ndarray:
    """The same values as a transposed, strided or reversed view."""
    if layout == "transposed" and arr.ndim >= 2:
        return np.ascontiguousarray(arr.T).T
    if layout == "strided" and arr.ndim >= 1:
        storage = np.zeros((arr.shape[0] * 2,) + arr.shape[1:], arr.dtype)
        storage[::2] = arr
        return storage[::2]
    if layout == "reversed" and arr.ndim >= 1:
        return np.ascontiguousarray(arr[::-1])[::-1]
    return arr


def inputs_of(definition, header: dict) -> list:
    args = []
    for p in definition.inputs:
        if p.name not in header["inputs"]:
            raise AssertionError(f"no `# input {p.name}:` line")
        value = header["inputs"][p.name]
        if p.role == "scalar":
            args.append(value)
        else:
            args.append(_view(np.array(value, dtype=np_dtype(p.dtype)), header["layouts"].get(p.name)))
    return args


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.stem)
def test_regression(path):
    source = path.read_text()
    assert re.search(r"#.*\S", source.split("def ", 1)[0]), "say in a comment what bug the example caught"
    header = parse_header(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        program = check_source(source, path.name)
        entry = header["entry"] or next(iter(program.defs))
        d = program.defs[entry]
        inputs = inputs_of(d, header)
        kernel = getattr(tcir.define(source, path.name), entry)
        if header["expect"] == "TcError":
            with pytest.raises(TcError):
                evaluate(d, *inputs)
            with pytest.raises(TcError):
                kernel(*inputs)
            return
        want = evaluate(d, *inputs)
        got = kernel(*inputs)
    got = got if isinstance(got, tuple) else (got,)
    for t, g, w in zip(d.outputs, got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape, (t.name, g.dtype, w.dtype, g.shape, w.shape)
        if g.dtype in TOLERANCE and t.name not in header["exact"]:
            rtol, atol = TOLERANCE[g.dtype]
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol,
                                       err_msg=t.name)
        else:
            np.testing.assert_array_equal(np.asarray(g, np.float64) if g.dtype in TOLERANCE else g,
                                          np.asarray(w, np.float64) if w.dtype in TOLERANCE else w, err_msg=t.name)


def test_there_are_regression_examples():
    assert REGRESSIONS, "tests/regressions/ holds the failures the fuzzers found"
