"""tcir.lowp.encode / decode: compiled conversions of NumPy arrays, against ml_dtypes for
the named formats and the exact reference (tcir.testing.exact_formats) for user formats."""

import ml_dtypes
import numpy as np
import pytest
from lowp_cases import FLOATS, INTS, assert_same_bits, ml_bits

import tcir
from tcir.lowp import decode, encode, fixed_format, float_format
from tcir.testing import exact_formats as exact

RNG = np.random.default_rng(7)
VALUES = np.concatenate([RNG.standard_normal(2000) * 10.0 ** RNG.integers(-6, 6, 2000),
                         [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 0.5, 1.5, 2.5]]).astype(np.float32)


@pytest.mark.parametrize("fmt", FLOATS + INTS, ids=lambda f: f.name)
def test_encode_matches_ml_dtypes(fmt):
    got = encode(VALUES, fmt.name)
    assert got.dtype == fmt.numpy_dtype and got.shape == VALUES.shape
    assert_same_bits(fmt, VALUES, got.view(np.uint8).astype(np.int64), ml_bits(fmt, VALUES))


@pytest.mark.parametrize("fmt", FLOATS + INTS, ids=lambda f: f.name)
def test_decode_every_pattern_matches_ml_dtypes(fmt):
    patterns = np.arange(256, dtype=np.uint8)
    if fmt.bits < 8:  # ml_dtypes keeps the format's bits in the low bits of the byte
        patterns = np.unique(patterns.view(fmt.numpy_dtype).astype(np.float64).astype(fmt.numpy_dtype).view(np.uint8))
    bits = patterns.view(fmt.numpy_dtype)
    want = bits.astype(np.float64)
    got = decode(bits, fmt.name, dtype=np.float64)
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(want)]), np.signbit(want[~np.isnan(want)]))
    np.testing.assert_array_equal(got, want)  # NaNs in the same places
    assert decode(bits, fmt.name).dtype == np.float32  # every value of these formats is a float32


def test_user_formats_against_the_exact_reference():
    fp = float_format("codec_e3m3", exponent=3, mantissa=3, kind="fn")
    q = fixed_format("codec_q4_4", integer=4, fraction=4, signed=True)
    wide = float_format("codec_e9m2", exponent=9, mantissa=2, kind="ieee", bias=200)
    values = np.concatenate([VALUES[:300], [1e-70, 3e-61, 2.0**-201]]).astype(np.float64)
    for fmt in (fp, q, wide):
        got = encode(values, fmt)
        assert got.dtype == fmt.storage_dtype
        want = np.array([exact.encode(fmt, float(v)) for v in values])
        np.testing.assert_array_equal(got.astype(np.int64) & ((1 << fmt.bits) - 1), want)
        decoded = decode(got, fmt, dtype=np.float64)
        for v, pattern in zip(decoded, want):
            ref = exact.decode(fmt, int(pattern))
            assert (np.isnan(v) and ref != ref) or v == float(ref)
    assert decode(encode(values, wide), wide).dtype == np.float64  # its values exceed float32's range


def test_shapes_strides_scalars_and_empty_arrays():
    x = RNG.standard_normal((6, 5)).astype(np.float32)
    view = x.T[::2, 1:]
    got = encode(view, "float8_e5m2")
    assert got.shape == view.shape
    np.testing.assert_array_equal(got.view(np.uint8), view.astype(ml_dtypes.float8_e5m2).view(np.uint8))
    assert encode(np.float32(1.75), "float8_e4m3fn").shape == ()
    assert encode(np.zeros((0, 3)), "float8_e4m3fn").shape == (0, 3)
    np.testing.assert_array_equal(decode(encode([1, 2, 3], "int4"), "int4"), [1, 2, 3])


def test_integer_patterns_are_accepted_by_decode():
    got = decode(np.array([0x38, 0x7f, 0x80], np.uint8), "float8_e4m3fn")  # 1, NaN, -0
    assert got[0] == 1.0 and np.isnan(got[1]) and got[2] == 0 and np.signbit(got[2])


@pytest.mark.parametrize("call, message", [
    (lambda: encode([1.0], "float9_e4m4"), r"no format named `float9_e4m4`|unknown format|did you mean"),
    (lambda: encode(np.array([1 + 2j]), "float8_e4m3fn"), r"encode's input must be a real number dtype"),
    (lambda: decode(np.zeros(3, np.uint16), "float8_e4m3fn"), r"decode's input must be an array of float8_e4m3fn"),
    (lambda: decode(np.zeros(3, np.float32), "float8_e4m3fn"), r"decode's input must be an array of float8_e4m3fn"),
    (lambda: decode(np.zeros(3, np.uint8), "float8_e4m3fn", dtype=np.complex64), r"decode's dtype must be"),
])
def test_errors(call, message):
    with pytest.raises(tcir.TcError, match=message):
        call()
