"""The operations, rounding modes and user formats of tcir.testing.exact_formats against
independent computations (issue 15 item 7).

* Arithmetic of the small named formats against float64 then ml_dtypes' cast (one
  rounding from float64): float64 computes +, -, * of two 8-bit values exactly, and its
  quotient correctly rounded to 53 >= 2p + 2 bits, so rounding once more gives the
  correctly rounded quotient.
* Fixed point against Python integer arithmetic (floor division, explicit tie rules).
* Rounding and overflow of user formats against a search in the sorted table of values.
"""

import bisect
import math
from fractions import Fraction

import numpy as np
import pytest
from lowp_cases import FLOATS, assert_same_bits, boundary_values, encode_all, finite_magnitudes, ml_bits, ml_values

from tcir.lowp import FixedFormat, FloatFormat, get_format
from tcir.testing import exact_formats as exact

E4M3FN, E5M2, E2M1 = (get_format(n) for n in ("float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"))
Q4_4 = FixedFormat("q4_4", integer=4, fraction=4)
Q4_4_WRAP = FixedFormat("q4_4_wrap", integer=4, fraction=4, overflow="wrap")
F64_OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def all_pairs(fmt):
    n = 1 << fmt.bits
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return a.ravel(), b.ravel()


def apply(op, fmt, *patterns, **kw) -> np.ndarray:
    return np.array([op(fmt, *map(int, args), **kw) for args in zip(*patterns)], np.int64)


@pytest.mark.parametrize("fmt", [E4M3FN, E5M2, E2M1], ids=lambda f: f.name)
@pytest.mark.parametrize("op", F64_OPS)
def test_all_pairs_against_float64(fmt, op):
    a, b = all_pairs(fmt)
    with np.errstate(all="ignore"):
        result = F64_OPS[op](ml_values(fmt, a), ml_values(fmt, b))
    want, got = ml_bits(fmt, result), apply(getattr(exact, op), fmt, a, b)
    if not fmt.has_nan:  # 0 / 0: a NaN of unspecified sign, so either zero
        invalid = np.isnan(result)
        assert set(got[invalid]) <= {fmt.nan_bits(negative=False), fmt.nan_bits(negative=True)}
        want[invalid] = got[invalid]
    assert_same_bits(fmt, list(zip(a, b)), got, want)


@pytest.mark.parametrize("fmt", [E4M3FN, E2M1], ids=lambda f: f.name)
def test_fma_random_triples_against_float64(fmt):
    # a * b + c is exact in float64 here: the products are multiples of 2**-18 below 2**18
    rng = np.random.default_rng(3)
    a, b, c = rng.integers(0, 1 << fmt.bits, (3, 20_000))
    with np.errstate(all="ignore"):
        want = ml_bits(fmt, ml_values(fmt, a) * ml_values(fmt, b) + ml_values(fmt, c))
    assert_same_bits(fmt, list(zip(a, b, c)), apply(exact.fma, fmt, a, b, c), want)


def test_compare_pairs():
    # every pattern against every fourth and every special one (zeros, infinities, NaNs)
    second = [p for p in range(256) if p % 4 == 0 or p & 0x7F in (0, 0x7C, 0x7D, 0x7E, 0x7F)]
    a, b = (g.ravel() for g in np.meshgrid(np.arange(256), second, indexing="ij"))
    x, y = ml_values(E5M2, a), ml_values(E5M2, b)
    unordered = np.isnan(x) | np.isnan(y)
    relations = {"eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y}
    expected = {"ord": ~unordered, "uno": unordered}
    for name, rel in relations.items():
        expected["o" + name] = rel & ~unordered
        expected["u" + name] = rel | unordered
    assert set(expected) == set(exact.PREDICATES)
    for predicate, want in expected.items():
        got = np.array([exact.compare(E5M2, int(i), int(j), predicate) for i, j in zip(a, b)])
        assert (got == want).all(), predicate


@pytest.mark.parametrize("op", ["min", "max"])
def test_min_max_all_pairs_propagate_nan_and_order_zeros(op):
    a, b = all_pairs(E5M2)
    x, y = ml_values(E5M2, a), ml_values(E5M2, b)
    first = x < y if op == "min" else x > y
    zeros_pick_x = np.signbit(x) if op == "min" else ~np.signbit(x)
    want = np.where(np.isnan(x) | np.isnan(y), np.nan, np.where(first | ((x == y) & zeros_pick_x), x, y))
    got = ml_values(E5M2, apply(getattr(exact, op), E5M2, a, b))
    same = (got == want) & (np.signbit(got) == np.signbit(want))
    assert (same | (np.isnan(got) & np.isnan(want))).all()


@pytest.mark.parametrize("fmt", FLOATS, ids=lambda f: f.name)
def test_neg_and_abs_every_pattern(fmt):
    patterns = np.arange(1 << fmt.bits)
    values = ml_values(fmt, patterns)
    assert_same_bits(fmt, patterns, apply(exact.neg, fmt, patterns), ml_bits(fmt, -values))
    assert_same_bits(fmt, patterns, apply(exact.abs, fmt, patterns), ml_bits(fmt, np.abs(values)))


@pytest.mark.parametrize("fmt", FLOATS, ids=lambda f: f.name)
def test_saturate_clamps_to_the_largest_finite_value(fmt):
    x = boundary_values(fmt)
    top = float(fmt.max_finite)
    assert_same_bits(fmt, x, encode_all(fmt, x, overflow="saturate"), ml_bits(fmt, np.clip(x, -top, top)))


@pytest.mark.parametrize("fmt", FLOATS, ids=lambda f: f.name)
def test_toward_zero_truncates_and_never_overflows(fmt):
    x = boundary_values(fmt)
    mags = finite_magnitudes(fmt)
    below = mags[np.clip(np.searchsorted(mags, np.abs(x), side="right") - 1, 0, None)]
    with np.errstate(invalid="ignore"):  # NaN as ml_dtypes casts it (a zero in formats without NaN)
        want = np.where(np.isnan(x), ml_values(fmt, ml_bits(fmt, x)), np.copysign(below, x))
    if not fmt.signed:  # zero and negative numbers are NaN; there is no zero to truncate to
        want[x <= 0] = np.nan
    if fmt.has_inf:
        want[np.isinf(x)] = x[np.isinf(x)]
    elif fmt.overflow == "nan":
        want[np.isinf(x)] = np.nan
    got = ml_values(fmt, encode_all(fmt, x, rounding="toward_zero"))
    assert ((got == want) | (np.isnan(got) & np.isnan(want))).all()


# Fixed point ---------------------------------------------------------------------------


def _in_range(n: int, fmt: FixedFormat) -> int:
    """Integer n brought into an 8-bit signed range by the format's rule, as a pattern."""
    if fmt.overflow == "saturate":
        n = min(max(n, -128), 127)
    return n & 0xFF


def _half_even(num: int, den: int) -> int:
    """num / den rounded to nearest, ties to even (floor-based, any signs)."""
    if den < 0:
        num, den = -num, -den
    q, r = divmod(num, den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


FIXED_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: _half_even(a * b, 16),
    "div": lambda a, b: _half_even(16 * a, b),
}


@pytest.mark.parametrize("fmt", [Q4_4, Q4_4_WRAP], ids=lambda f: f.name)
@pytest.mark.parametrize("op", FIXED_OPS)
def test_fixed_all_pairs_against_integers(fmt, op):
    for a in range(-128, 128):
        for b in range(-128, 128):
            if op == "div" and b == 0:
                with pytest.raises(ZeroDivisionError):
                    exact.div(fmt, a & 0xFF, 0)
                continue
            want = _in_range(FIXED_OPS[op](a, b), fmt)
            assert getattr(exact, op)(fmt, a & 0xFF, b & 0xFF) == want, (op, a, b)


def test_fixed_mul_toward_zero():
    for a in range(-128, 128, 3):
        for b in range(-128, 128):
            p = a * b
            want = _in_range(p // 16 if p >= 0 else -(-p // 16), Q4_4)
            assert exact.mul(Q4_4, a & 0xFF, b & 0xFF, rounding="toward_zero") == want


@pytest.mark.parametrize("fmt", [Q4_4, Q4_4_WRAP], ids=lambda f: f.name)
def test_fixed_from_integers_and_floats(fmt):
    for n in range(-1000, 1001):
        assert exact.encode(fmt, n) == _in_range(16 * n, fmt)
    x = np.random.default_rng(5).standard_normal(20_000) * 10
    want = [_in_range(int(v), fmt) for v in np.rint(x * 16)]  # rint: ties to even
    assert encode_all(fmt, x).tolist() == want
    assert [exact.encode(fmt, v) for v in (math.nan, math.inf, -math.inf)] == (
        [0, 0x7F, 0x80] if fmt.overflow == "saturate" else [0, 0, 0])
    assert exact.neg(fmt, 0x80) == _in_range(128, fmt)
    assert exact.abs(fmt, 0x80, overflow="saturate") == 0x7F


def test_unsigned_fixed_saturates_at_zero():
    u = FixedFormat("uq4_4", integer=4, fraction=4, signed=False)
    assert exact.encode(u, -3) == 0 and exact.encode(u, 16) == 0xFF and exact.decode(u, 0xFF) == Fraction(255, 16)
    assert exact.sub(u, 0x10, 0x20) == 0
    assert exact.encode(FixedFormat("uq_w", 4, 4, signed=False, overflow="wrap"), -1) == 0xF0


# Stochastic rounding --------------------------------------------------------------------


@pytest.mark.parametrize("fmt, lo, hi", [
    (E4M3FN, 1, Fraction(9, 8)), (E5M2, Fraction(-3, 2**16), Fraction(-4, 2**16)), (E2M1, 4, 6),
    (get_format("float8_e8m0fnu"), 2**10, 2**11), (Q4_4, Fraction(-1, 16), 0),
], ids=["e4m3fn", "e5m2-subnormal", "e2m1", "e8m0", "q4_4"])
@pytest.mark.parametrize("frac", [Fraction(1, 10), Fraction(1, 3), Fraction(1, 2), Fraction(9, 10)])
def test_stochastic_picks_a_neighbour_and_is_unbiased(fmt, lo, hi, frac):
    x = lo + frac * (hi - lo)
    rng = np.random.default_rng(7)
    draws = rng.integers(0, 1 << exact.STOCHASTIC_BITS, 4000)
    results = [exact.decode(fmt, exact.encode(fmt, x, "stochastic", random_bits=int(r))) for r in draws]
    assert set(results) <= {lo, hi}
    p_away = results.count(hi if abs(hi) > abs(lo) else lo) / len(results)
    p_expected = float(frac if abs(hi) > abs(lo) else 1 - frac)
    assert abs(p_away - p_expected) <= 5 * math.sqrt(p_expected * (1 - p_expected) / len(results))


def test_stochastic_threshold_is_exact():
    width = 1 << exact.STOCHASTIC_BITS
    for frac in (Fraction(1, 4), Fraction(1, 3), Fraction(2, 3)):
        x = 1 + frac / 8  # between 1 and 9/8 in e4m3fn
        threshold = math.ceil(frac * width)  # round up iff r < frac * 2**32
        up = [exact.decode(E4M3FN, exact.encode(E4M3FN, x, "stochastic", random_bits=r))
              for r in (0, threshold - 1, threshold, width - 1)]
        assert up == [Fraction(9, 8), Fraction(9, 8), 1, 1]
    assert all(exact.encode(E4M3FN, Fraction(9, 8), "stochastic", random_bits=r) == 0x39 for r in (0, width - 1))


def test_stochastic_overflow_follows_the_format():
    x = 448 + 16  # halfway between the largest value and the next binade's first value
    assert exact.encode(E4M3FN, x, "stochastic", random_bits=0) == 0x7F  # rounded up: NaN
    assert exact.encode(E4M3FN, x, "stochastic", random_bits=(1 << 32) - 1) == 0x7E
    assert exact.encode(E4M3FN, x, "stochastic", "saturate", random_bits=0) == 0x7E


def test_argument_checks():
    with pytest.raises(ValueError, match="random_bits"):
        exact.encode(E4M3FN, 1, "stochastic")
    with pytest.raises(ValueError, match="random_bits"):
        exact.encode(E4M3FN, 1, random_bits=3)
    with pytest.raises(ValueError, match="random_bits"):
        exact.encode(E4M3FN, 1, "stochastic", random_bits=1 << 32)
    with pytest.raises(ValueError, match="rounding"):
        exact.encode(E4M3FN, 1, "up")
    with pytest.raises(ValueError, match="overflow"):
        exact.encode(E4M3FN, 1, overflow="wrap")
    with pytest.raises(ValueError, match="pattern"):
        exact.decode(E2M1, 16)
    with pytest.raises(ValueError, match="predicate"):
        exact.compare(E2M1, 1, 2, "lt")


# User formats -------------------------------------------------------------------------


def _table_nearest(fmt: FloatFormat, extended: list[Fraction], x: Fraction) -> int | None:
    """The pattern magnitude nearest to x > 0 in `extended`, the finite magnitudes listed
    by pattern and then the first one beyond them (an unbounded exponent range); None
    when that one is picked (an overflow). Ties: the even pattern; with no mantissa bits
    the larger (both neighbours' significand is 1)."""
    i = bisect.bisect_right(extended, x) - 1
    if i < 0:  # below the smallest value of a format without zero
        return 0
    if i == len(extended) - 1:
        return None
    lower, upper = x - extended[i], extended[i + 1] - x
    if lower != upper:
        pick = i if lower < upper else i + 1
    else:
        pick = i + 1 if fmt.mantissa == 0 and extended[i] != 0 else i + i % 2
    return None if pick == len(extended) - 1 else pick


# finite patterns without the sign, by kind: those below inf, below the NaN, or all
FINITE_COUNT = {
    "ieee": lambda f: ((1 << f.exponent) - 1) << f.mantissa,
    "fn": lambda f: (1 << (f.exponent + f.mantissa)) - 1,
    "unsigned": lambda f: (1 << f.exponent) - 1,
    "fnuz": lambda f: 1 << (f.exponent + f.mantissa),
    "finite": lambda f: 1 << (f.exponent + f.mantissa),
}


@pytest.mark.parametrize("fmt", [
    FloatFormat("u_e3m2_fnuz", 3, 2, bias=5, kind="fnuz"),
    FloatFormat("u_e4m1_fn", 4, 1, bias=3, kind="fn"),
    FloatFormat("u_e1m3_fn", 1, 3, kind="fn"),
    FloatFormat("u_e4m0_scale", 4, 0, bias=9, kind="unsigned"),
    FloatFormat("u_e3m3_finite", 3, 3, bias=2, kind="finite"),
    FloatFormat("u_e2m4_ieee", 2, 4, bias=0),
    FloatFormat("u_e6m9_ieee", 6, 9, bias=40),
], ids=lambda f: f.name)
def test_user_formats_against_a_table_search(fmt):
    mags = [exact.decode(fmt, i) for i in range(FINITE_COUNT[fmt.kind](fmt))]
    assert all(isinstance(v, Fraction) for v in mags) and mags == sorted(set(mags))
    assert mags[-1] == fmt.max_finite and min(v for v in mags if v) == fmt.min_subnormal
    binade = Fraction(1)
    while binade * 2 <= mags[-1]:
        binade *= 2
    while binade > mags[-1]:
        binade /= 2
    step = binade / 2 ** fmt.mantissa  # the ulp of the largest value
    extended = mags + [mags[-1] + step]
    picks = np.random.default_rng(11).permutation(len(mags))[:3000]
    xs = [mags[-1] * 2, mags[-1] + step / 2, mags[0] / 3, mags[0] / 2]
    for i in picks:
        gap = extended[i + 1] - extended[i]
        xs += [mags[i], mags[i] + gap / 2, mags[i] + gap / 2 + gap / 1000, mags[i] + gap / 2 - gap / 1000]
    sign = 1 << (fmt.bits - 1) if fmt.signed else 0
    for x in xs:
        want = _table_nearest(fmt, extended, x)
        if want is None:
            want = exact.encode(fmt, math.inf)  # the format's overflow rule, checked elsewhere
        assert exact.encode(fmt, x) == want, (fmt.name, x)
        if sign and 0 < want < exact.encode(fmt, math.inf) and fmt.kind != "fnuz":
            assert exact.encode(fmt, -x) == want | sign, (fmt.name, -x)


@pytest.mark.parametrize("name, dtype, exponent, mantissa", [
    ("u_half", np.float16, 5, 10), ("u_bfloat16", "bfloat16", 8, 7),
])
def test_16_bit_user_formats_against_numpy(name, dtype, exponent, mantissa):
    import ml_dtypes

    dtype = np.dtype(getattr(ml_dtypes, dtype) if isinstance(dtype, str) else dtype)
    fmt = FloatFormat(name, exponent, mantissa)
    with np.errstate(invalid="ignore", over="ignore"):
        values = np.arange(1 << 16, dtype=np.uint16).view(dtype).astype(np.float64)
    decoded = np.array([float(exact.decode(fmt, i)) for i in range(1 << 16)])
    assert ((decoded == values) & (np.signbit(decoded) == np.signbit(values)) | np.isnan(values)).all()
    assert np.isnan(decoded[np.isnan(values)]).all()
    x = np.random.default_rng(9).integers(0, 1 << 32, 20_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    with np.errstate(invalid="ignore", over="ignore"):
        want = x.astype(dtype).view(np.uint16).astype(np.int64)
    got = encode_all(fmt, x)
    assert ((got == want) | np.isnan(x)).all()
