"""tcir.testing.exact_formats against ml_dtypes 0.7.0: decoding every pattern of every
named format, and encoding every float16 and bfloat16, 10^5 random float32 patterns and
the rounding boundaries of each format, bit for bit (issue 15 item 7).

ml_dtypes rounds float32 and float64 inputs once, directly (the float64 boundaries here,
one float64 ulp beside each midpoint, would expose a double rounding through float32),
so both serve as inputs. Its integer types truncate floats toward zero: they are compared
with rounding="toward_zero".
"""

import math

import ml_dtypes
import numpy as np
import pytest
from lowp_cases import (
    FLOATS, INTS, assert_same_bits, boundary_values, encode_all, integer_boundaries, ml_bits, ml_values,
)

from tcir.lowp import FloatFormat
from tcir.testing import exact_formats as exact

NAMED = FLOATS + INTS
ALL_F16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
ALL_BF16 = np.arange(1 << 16, dtype=np.uint16).view(ml_dtypes.bfloat16)


def _rounding(fmt) -> str:
    return "nearest_even" if isinstance(fmt, FloatFormat) else "toward_zero"


@pytest.mark.parametrize("fmt", NAMED, ids=lambda f: f.name)
def test_decode_every_pattern(fmt):
    patterns = np.arange(1 << fmt.bits)
    theirs = ml_values(fmt, patterns)
    for bits, want in zip(patterns, theirs):
        got = float(exact.decode(fmt, int(bits)))
        assert (math.isnan(got) and math.isnan(want)) or (
            got == want and math.copysign(1, got) == math.copysign(1, want)), (fmt.name, hex(bits), got, want)


@pytest.mark.parametrize("fmt", NAMED, ids=lambda f: f.name)
@pytest.mark.parametrize("source", [ALL_F16, ALL_BF16], ids=["float16", "bfloat16"])
def test_encode_every_16_bit_float(fmt, source):
    ours = encode_all(fmt, source, rounding=_rounding(fmt))
    assert_same_bits(fmt, source, ours, ml_bits(fmt, source))


@pytest.mark.parametrize("fmt", NAMED, ids=lambda f: f.name)
def test_encode_random_float32(fmt):
    # half the patterns uniform, half with exponents near the format's range
    rng = np.random.default_rng(15)
    uniform = rng.integers(0, 1 << 32, 50_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    near = (rng.standard_normal(50_000) * 2.0 ** rng.integers(-20, 20, 50_000)).astype(np.float32)
    source = np.concatenate([uniform, near])
    ours = encode_all(fmt, source, rounding=_rounding(fmt))
    assert_same_bits(fmt, source, ours, ml_bits(fmt, source))


@pytest.mark.parametrize("fmt", NAMED, ids=lambda f: f.name)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_encode_boundaries(fmt, dtype):
    source = boundary_values(fmt, dtype) if isinstance(fmt, FloatFormat) else integer_boundaries(fmt, dtype)
    ours = encode_all(fmt, source, rounding=_rounding(fmt))
    assert_same_bits(fmt, source, ours, ml_bits(fmt, source))


@pytest.mark.parametrize("fmt", INTS, ids=lambda f: f.name)
def test_integer_formats_from_integers_wrap(fmt):
    source = np.concatenate([np.arange(-300, 301), [2 ** 31 - 1, -2 ** 31, 2 ** 62 + 5, -2 ** 63]]).astype(np.int64)
    ours = np.array([exact.encode(fmt, int(v)) for v in source])
    assert_same_bits(fmt, source, ours, ml_bits(fmt, source))
    assert (ours == source % (1 << fmt.bits)).all()


def test_encode_accepts_numpy_scalars_and_fractions():
    fmt = FLOATS[3]  # float8_e4m3fn
    assert exact.encode(fmt, np.float32(1.0625)) == exact.encode(fmt, 1.0625) == ml_bits(fmt, [1.0625])[0]
    assert exact.encode(fmt, np.int64(3)) == exact.encode(fmt, 3) == ml_bits(fmt, [3.0])[0]
