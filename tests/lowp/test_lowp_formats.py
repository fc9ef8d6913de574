"""Format descriptors and the registry of tcir.lowp (issue 15 item 1), against ml_dtypes'
finfo/iinfo and its casts."""

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from lowp_cases import FLOATS, INTS, ml_bits

import tcir.lowp as lowp
from tcir.errors import TcError
from tcir.lowp import FixedFormat, FloatFormat

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("fmt", FLOATS, ids=lambda f: f.name)
def test_float_descriptor_matches_finfo(fmt):
    info = ml_dtypes.finfo(fmt.numpy_dtype)
    assert fmt.numpy_dtype == np.dtype(getattr(ml_dtypes, fmt.name))
    assert fmt.storage_dtype == np.uint8 and fmt.numpy_dtype.itemsize == 1
    assert fmt.bits == info.bits
    assert fmt.max_finite == Fraction(float(info.max))
    assert fmt.min_normal == Fraction(float(info.smallest_normal))
    assert fmt.min_subnormal == Fraction(float(info.smallest_subnormal))
    values = np.arange(1 << fmt.bits, dtype=np.uint8).view(fmt.numpy_dtype).astype(np.float64)
    assert fmt.has_inf == bool(np.isinf(values).any())
    assert fmt.has_nan == bool(np.isnan(values).any())
    assert fmt.has_zero == bool((values == 0).any())
    assert fmt.has_negative_zero == bool(((values == 0) & np.signbit(values)).any())
    assert fmt.signed == bool((values < 0).any())


@pytest.mark.parametrize("fmt", FLOATS, ids=lambda f: f.name)
def test_float_descriptor_special_conversions_match_ml_dtypes(fmt):
    top = float(fmt.max_finite)
    beyond = ml_bits(fmt, np.array([2 * top, np.inf]))
    expected = {"inf": np.inf, "saturate": top, "nan": np.nan}[fmt.overflow]
    assert (beyond == ml_bits(fmt, np.array([expected, expected]))).all()
    assert ml_bits(fmt, np.array([np.nan]))[0] == fmt.nan_bits(negative=False)
    assert ml_bits(fmt, np.array([-np.nan]))[0] == fmt.nan_bits(negative=True)


@pytest.mark.parametrize("fmt", INTS, ids=lambda f: f.name)
def test_int_descriptor_matches_iinfo(fmt):
    info = ml_dtypes.iinfo(fmt.numpy_dtype)
    assert (fmt.min_value, fmt.max_value, fmt.resolution) == (info.min, info.max, 1)
    assert fmt.bits == info.bits and fmt.fraction == 0
    assert (fmt.overflow, fmt.float_overflow) == ("wrap", "zero")
    assert fmt.storage_dtype == (np.int8 if fmt.signed else np.uint8)


def test_fixed_descriptor_ranges():
    q = FixedFormat("q", integer=4, fraction=4)
    assert (q.bits, q.min_value, q.max_value, q.resolution) == (8, -8, 8 - Fraction(1, 16), Fraction(1, 16))
    assert q.storage_dtype == np.int8 and q.numpy_dtype == np.int8 and q.float_overflow == "saturate"
    u = FixedFormat("u", integer=0, fraction=9, signed=False, overflow="wrap")
    assert (u.min_value, u.max_value, u.storage_dtype) == (0, 1 - Fraction(1, 512), np.uint16)
    assert FixedFormat("w", integer=20, fraction=12).storage_dtype == np.int32


def test_user_float_formats():
    fp7 = lowp.float_format("test_fp7_e3m3", exponent=3, mantissa=3, kind="fn")
    assert (fp7.bits, fp7.bias, fp7.max_finite) == (7, 3, Fraction(28))  # 1.75 * 2**4, below the NaN
    assert fp7.storage_dtype == np.uint8 and fp7.numpy_dtype == np.uint8
    wide = lowp.float_format("test_fp16_e6m9", exponent=6, mantissa=9)
    assert wide.storage_dtype == np.uint16 and wide.bias == 31
    scale = lowp.float_format("test_e5m0", exponent=5, mantissa=0, kind="unsigned")
    assert (scale.bits, scale.min_subnormal, scale.max_finite) == (5, Fraction(1, 2 ** 15), 2 ** 15)
    assert lowp.get_format("test_fp7_e3m3") is fp7


def test_registration_is_idempotent_and_named_formats_are_registered():
    first = lowp.fixed_format("test_q4_4", integer=4, fraction=4, signed=True)
    assert lowp.fixed_format("test_q4_4", integer=4, fraction=4) is first
    assert lowp.float_format("float8_e4m3fn", exponent=4, mantissa=3, kind="fn") is lowp.get_format("float8_e4m3fn")
    assert lowp.float_format("float8_e5m2", exponent=5, mantissa=2, bias=15) is lowp.get_format("float8_e5m2")
    names = list(lowp.registered_formats())
    assert names[:len(lowp.NAMED_FORMATS)] == [f.name for f in lowp.NAMED_FORMATS]
    assert "test_q4_4" in names


def test_redefinition_is_an_error():
    lowp.float_format("test_redefined", exponent=4, mantissa=3)
    with pytest.raises(TcError, match="already registered"):
        lowp.float_format("test_redefined", exponent=4, mantissa=3, kind="fn")
    with pytest.raises(TcError, match="already registered"):
        lowp.fixed_format("test_redefined", integer=4, fraction=4)
    with pytest.raises(TcError, match="already registered"):
        lowp.float_format("float8_e4m3fn", exponent=4, mantissa=3)


@pytest.mark.parametrize("name, message", [
    ("float", "builtin TC type"), ("half", "builtin TC type"), ("float16", "builtin TC type"),
    ("exp", "builtin TC function"), ("fmax", "builtin TC function"), ("min", "builtin TC function"),
    ("where", "keyword"), ("in", "keyword"), ("8bit", "TC identifier"), ("fp-8", "TC identifier"),
    ("", "TC identifier"), (None, "TC identifier"),
])
def test_invalid_names(name, message):
    with pytest.raises(TcError, match=message):
        lowp.float_format(name, exponent=4, mantissa=3)


@pytest.mark.parametrize("params, message", [
    (dict(exponent=0, mantissa=3), "exponent"),
    (dict(exponent=4, mantissa=-1), "mantissa"),
    (dict(exponent=4.0, mantissa=3), "exponent"),
    (dict(exponent=True, mantissa=3), "exponent"),
    (dict(exponent=4, mantissa=3, bias=1.5), "bias"),
    (dict(exponent=8, mantissa=8), "at most 16"),
    (dict(exponent=4, mantissa=3, kind="ocp"), "kind"),
    (dict(exponent=4, mantissa=3, kind="unsigned"), "mantissa` must be 0"),
    (dict(exponent=4, mantissa=0), "ieee"),
    (dict(exponent=1, mantissa=2), "ieee"),
    (dict(exponent=1, mantissa=0, kind="fn"), "only 0 and NaN"),
    (dict(exponent=10, mantissa=5), r"2\^-511"),
    (dict(exponent=9, mantissa=6, bias=510), r"2\^-511"),
    (dict(exponent=5, mantissa=2, bias=-500), r"2\^-511"),
])
def test_invalid_float_parameters(params, message):
    with pytest.raises(TcError, match=message):
        lowp.float_format("test_invalid_float", **params)


def test_widest_float_exponent_within_the_range_bound():
    fmt = lowp.float_format("test_e9m6", exponent=9, mantissa=6)
    assert Fraction(2) ** -511 <= fmt.min_subnormal and fmt.max_finite < Fraction(2) ** 511


@pytest.mark.parametrize("params, message", [
    (dict(integer=0, fraction=8), "integer"),
    (dict(integer=0, fraction=0, signed=False), "1 to 32"),
    (dict(integer=20, fraction=13), "1 to 32"),
    (dict(integer=4, fraction=-1), "fraction"),
    (dict(integer=4, fraction=4, signed=1), "signed"),
    (dict(integer=4, fraction=4, overflow="clamp"), "overflow"),
])
def test_invalid_fixed_parameters(params, message):
    with pytest.raises(TcError, match=message):
        lowp.fixed_format("test_invalid_fixed", **params)


def test_unknown_format_suggests_a_close_name():
    with pytest.raises(TcError, match="unknown number format `float8_e4m3f`; did you mean `float8_e4m3fn`"):
        lowp.get_format("float8_e4m3f")
    with pytest.raises(TcError, match="register it with tcir.lowp.float_format"):
        lowp.get_format("zzzz")


def test_importing_lowp_loads_neither_xdsl_nor_llvmlite():
    # tcir/__init__ imports the compiler: a stub package measures tcir.lowp alone.
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('tcir'); pkg.__path__ = [{str(ROOT / 'tcir')!r}]; sys.modules['tcir'] = pkg\n"
        "import tcir.lowp\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('xdsl', 'llvmlite'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_descriptors_are_hashable_values():
    a = FloatFormat("x", 4, 3)
    assert a == FloatFormat("x", 4, 3, bias=7, kind="ieee") and hash(a) == hash(FloatFormat("x", 4, 3, 7))
    assert {a: 1}[FloatFormat("x", 4, 3)] == 1
    # only the named format itself, not a namesake with other parameters, has ml_dtypes' dtype
    assert FloatFormat("float8_e4m3fn", 4, 3).numpy_dtype == np.uint8
