"""Exhaustive sweeps of lower-lowp, too long for CI: run with TCIR_EXHAUSTIVE=1
(skipped otherwise). TCIR_EXHAUSTIVE=1 also widens the samples of test_lower_lowp.py
(all pairs in every rounding mode, more fma triples, more fixed-point operands).

* every f32 bit pattern (2^32) to each named format against ml_dtypes' `astype`, in
  chunks of 2^24 (TCIR_EXHAUSTIVE_FORMATS=float8_e4m3fn,... to choose; about 15 s a
  format on one core of this project's machines, most of it ml_dtypes);
* every f32 bit pattern to a fixed-point format and every 16-bit user format's pattern
  to f32 against the exact reference is out of reach for Fractions; instead every pair
  of e4m3fn and e5m2 values in every rounding and overflow mode against exact_formats.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_lower_lowp import (
    E4M3FN,
    E5M2,
    FLOATS,
    INTS,
    MODES,
    assert_patterns,
    compiled,
    dtype_of,
    exact_ops,
    invalid_results,
    kernel_source,
    lowp_type,
    ml_cast,
    modifiers,
    named_rounding,
    ops,
    pairs,
    random_bits,
    text,
)
from xdsl.dialects.builtin import f32

pytestmark = pytest.mark.skipif(os.environ.get("TCIR_EXHAUSTIVE") != "1", reason="set TCIR_EXHAUSTIVE=1")

SWEEP = 1 << 24
CHOSEN = os.environ.get("TCIR_EXHAUSTIVE_FORMATS")
SWEPT = [f for f in FLOATS + INTS if CHOSEN is None or f.name in CHOSEN.split(",")]


@pytest.mark.parametrize("fmt", SWEPT, ids=lambda f: f.name)
def test_every_f32_pattern(fmt):
    t = lowp_type(fmt)
    source = kernel_source([f32], [(f"{{w}} = lowp.cast %a0{modifiers(named_rounding(fmt))} : f32 to {text(t)}", t)],
                           name="sweep").replace("arith.constant 8192", f"arith.constant {SWEEP}")
    source = source.replace("memref<8192x", f"memref<{SWEEP}x")
    fn = compiled(source).function("sweep")
    out = np.zeros(SWEEP, dtype_of(t))
    for start in range(0, 1 << 32, SWEEP):
        x = np.arange(start, start + SWEEP, dtype=np.uint64).astype(np.uint32).view(np.float32)
        fn(x.ctypes.data, out.ctypes.data)
        assert_patterns(fmt, x, out, ml_cast(x, fmt), f"f32 patterns from {start:#x}")


@pytest.mark.parametrize("fmt", [E4M3FN, E5M2], ids=lambda f: f.name)
def test_every_pair_every_mode(fmt):
    a, b = pairs(fmt)
    bits = random_bits(len(a), 99)
    specs = [(op, r, o, None) for op in ("add", "sub", "mul", "div") for r, o in MODES]
    for (op, rounding, overflow, _), got in zip(specs, ops(lowp_type(fmt), [a, b], specs, bits)):
        want = exact_ops(fmt, op, (a, b), rounding, overflow, bits if rounding == "stochastic" else None)
        assert_patterns(fmt, (a, b), got, want, f"{op} {rounding} {overflow}",
                        nan_zero_either=invalid_results(fmt, a, b, op))
