"""The builtin math of TC for the reference evaluator: special functions computed
independently of the compiler.

`BUILTINS` maps every builtin name (`tcir.frontend.builtins.ARITY`) to its
implementation `f(args, dtype) -> array`: `args` are the evaluated arguments (arrays of
the result type, float32 or float64), `dtype` that type, and the result is an array
convertible to it. The reference evaluator (`tcir.testing.reference`) and the GPU
emulator (`tcir.testing.gpu_emulator`) compute every builtin call with it. It shares no
code with the compiler's lowering of builtins (`convert-math-to-llvm`), so it can serve
as that lowering's oracle.

Accuracy
    A builtin works in its result type (`float` or `double`). Most are computed in
    float64 (rounded to `float` for `float` arguments by the caller); the functions
    NumPy lacks are computed from `math` (erf, erfc, lgamma, tgamma, remainder), by
    Newton iteration (erfinv, erfcinv, normcdfinv, with a scaled `erfcx` for the tails)
    or with high-precision `decimal` series and asymptotic expansions (j0, j1, y0, y1,
    cyl_bessel_i0/i1): accurate to about 1e-13 relative in float64 away from the zeros
    of the Bessel functions.

Exact functions
    `round` rounds half away from zero (C `round`), `cospi`/`sinpi` are exact at
    integers and half-integers, `nextafter` steps in the argument type, `fma` rounds
    once (through exact rationals in double; a two-sum rounded to odd in float), `logb`
    is the unbiased exponent, `fdim(a, b)` is `a - b` if `a > b` else +0 (NaN if either
    is NaN), `fmin`/`fmax` ignore a NaN operand, `remainder` is the IEEE remainder,
    `fdivide` is `/`, `rsqrt`/`rcbrt`/`rhypot`/`rnorm3d`/`rnorm4d` are reciprocals,
    `exp10` is `10^x`, `normcdf(x)` is `erfc(-x / sqrt(2)) / 2`, `normcdfinv(p)` is
    `-sqrt(2) * erfcinv(2p)`; `norm3d`/`norm4d` scale to avoid overflow.

Speed
    The functions computed in Python run once per distinct argument value (about 1 us
    for erf, 10-20 us for the Bessel functions).
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import lru_cache
from typing import Callable

import numpy as np

from tcir.frontend.builtins import ARITY

__all__ = ["BUILTINS"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)

_SQRT_PI = math.sqrt(math.pi)
_SQRT2 = math.sqrt(2.0)


# Applying scalar functions ------------------------------------------------------------


def _f64(x) -> np.ndarray:
    return np.asarray(x, _F64)


def _map(f: Callable[[float], float], x) -> np.ndarray:
    """Apply a scalar Python function elementwise (once per distinct value)."""
    x = _f64(x)
    flat = x.ravel()
    if flat.size <= 4:
        return np.array([f(float(v)) for v in flat], _F64).reshape(x.shape)
    uniq, inverse = np.unique(flat, return_inverse=True)
    out = np.array([f(float(v)) for v in uniq], _F64)
    return out[inverse].reshape(x.shape)


def _map2(f: Callable[[float, float], float], a, b) -> np.ndarray:
    a, b = np.broadcast_arrays(_f64(a), _f64(b))
    out = np.array([f(float(x), float(y)) for x, y in zip(a.ravel(), b.ravel())], _F64)
    return out.reshape(a.shape)


def _unary(f: Callable[[np.ndarray], np.ndarray]):
    return lambda args, dt: f(_f64(args[0]))


def _binary64(f: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    return lambda args, dt: f(_f64(args[0]), _f64(args[1]))


# Elementary scalar helpers ------------------------------------------------------------


def _two_square(x: float) -> tuple[float, float]:
    """x * x as an unevaluated sum hi + lo (Dekker), for |x| well inside the range."""
    p = x * x
    c = 134217729.0 * x
    xh = c - (c - x)
    xl = x - xh
    return p, ((xh * xh - p) + 2 * xh * xl) + xl * xl


def _exp_square(x: float) -> float:
    hi, lo = _two_square(x)
    return math.exp(hi) * math.exp(lo)


def _erfcx(x: float) -> float:
    """exp(x^2) * erfc(x)."""
    if math.isnan(x):
        return math.nan
    if x >= 12.0:  # asymptotic series; the first omitted term is below 1e-17
        inv2x2 = 0.5 / x / x
        term, total, k = 1.0, 1.0, 0
        while True:
            k += 1
            term *= -(2 * k - 1) * inv2x2
            total += term
            if abs(term) < 1e-17:
                break
        return (1.0 / x) / _SQRT_PI * total
    if x >= 0.0:
        return _exp_square(x) * math.erfc(x)
    if x < -26.7:
        return math.inf
    return 2.0 * _exp_square(x) - _erfcx(-x)


def _erfinv_small(x: float) -> float:
    """erfinv for |x| <= 0.5 by Newton's method on erf."""
    if x == 0.0:
        return x
    y = x * _SQRT_PI / 2 * (1 + math.pi * x * x / 12)
    for _ in range(100):
        step = (math.erf(y) - x) / (2.0 / _SQRT_PI * math.exp(-y * y))
        y -= step
        if abs(step) <= 1e-17 * abs(y):
            break
    return y


def _erfcinv(c: float) -> float:
    if math.isnan(c) or c < 0.0 or c > 2.0:
        return math.nan
    if c == 0.0:
        return math.inf
    if c == 2.0:
        return -math.inf
    if c > 1.0:
        return -_erfcinv(2.0 - c)  # exact
    if c > 0.5:
        return _erfinv_small(1.0 - c)  # exact
    # Newton on g(y) = log(erfc(y)) - log(c) = log(erfcx(y)) - y^2 - log(c): concave and
    # decreasing, so the iterates converge monotonically from the right after one step.
    t = -math.log(c)
    y = math.sqrt(max(t - 0.5 * math.log(math.pi * max(t, 1.0)), 0.25))
    logc = math.log(c)
    for _ in range(200):
        ex = _erfcx(y)
        step = (math.log(ex) - y * y - logc) * (_SQRT_PI / 2) * ex
        y += step
        if abs(step) <= 1e-16 * y:
            break
    return y


def _erfinv(x: float) -> float:
    if math.isnan(x) or abs(x) > 1.0:
        return math.nan
    if abs(x) <= 0.5:
        return _erfinv_small(x)
    return math.copysign(_erfcinv(1.0 - abs(x)), x)


def _lgamma(x: float) -> float:
    try:
        return math.lgamma(x)
    except (ValueError, OverflowError):
        return math.inf


def _tgamma(x: float) -> float:
    if math.isnan(x):
        return x
    if x == 0.0:
        return math.copysign(math.inf, x)
    if x == -math.inf or (x < 0 and x == math.floor(x)):
        return math.nan
    try:
        return math.gamma(x)
    except OverflowError:
        return math.inf if x > 0 else math.copysign(0.0, math.sin(math.pi * x))
    except ValueError:
        return math.nan


def _remainder(x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y) or math.isinf(x) or y == 0.0:
        return math.nan
    return math.remainder(x, y)


# Bessel functions in high precision (decimal) -----------------------------------------

# Euler's constant to 50 digits.
_EULER = Decimal("0.57721566490153286060651209008240243104215933593992")


@lru_cache(maxsize=None)
def _dpi(digits: int) -> Decimal:
    """pi to `digits` significant digits (the series of the decimal module's recipes)."""
    with localcontext() as ctx:
        ctx.prec = digits + 5
        three = Decimal(3)
        last, t, s, n, na, d, da = 0, three, three, 1, 0, 0, 24
        while s != last:
            last = s
            n, na = n + na, na + 8
            d, da = d + da, da + 32
            t = (t * n) / d
            s += t
    with localcontext() as ctx:
        ctx.prec = digits
        return +s


def _pi_for(prec: int) -> Decimal:
    return _dpi(((prec + 49) // 50) * 50)


def _dcos_sin(x: Decimal, prec: int) -> tuple[Decimal, Decimal]:
    """cos and sin of x (any magnitude) in the current context of precision `prec`."""
    pi = _pi_for(prec + 10)
    two_pi = 2 * pi
    r = x - two_pi * (x / two_pi).to_integral_value()
    eps = Decimal(10) ** (-prec - 2)
    r2 = r * r
    c, s = Decimal(0), Decimal(0)
    term_c, term_s, k = Decimal(1), r, 0
    while abs(term_c) > eps or abs(term_s) > eps:
        c += term_c
        s += term_s
        k += 2
        term_c = -term_c * r2 / (k * (k - 1))
        term_s = -term_s * r2 / (k * (k + 1))
    return c, s


_PREC = 60


def _jy_series(n: int, x: Decimal, want_y: bool) -> tuple[Decimal, Decimal | None]:
    """J_n(x) and Y_n(x) (n = 0, 1) by their power series (A&S 9.1.10, 9.1.11)."""
    h = x / 2
    q = -(h * h)
    eps = Decimal(10) ** (-_PREC + 5)
    term = Decimal(1) / math.factorial(n)  # q^k / (k! (n + k)!)
    psi_k = -_EULER  # psi(k + 1)
    psi_nk = -_EULER + sum((Decimal(1) / j for j in range(1, n + 1)), Decimal(0))  # psi(n + k + 1)
    sj, sy, k = Decimal(0), Decimal(0), 0
    while True:
        sj += term
        sy += (psi_k + psi_nk) * term
        k += 1
        psi_k += Decimal(1) / k
        psi_nk += Decimal(1) / (n + k)
        term = term * q / (k * (n + k))
        if k > h and abs(term) < eps:
            break
    hn = h if n else Decimal(1)
    j = sj * hn
    if not want_y:
        return j, None
    pi = _pi_for(_PREC)
    y = 2 / pi * h.ln() * j - hn * sy / pi
    if n == 1:
        y -= 1 / (pi * h)
    return j, y


def _jy_asymptotic(n: int, x: Decimal, prec: int) -> tuple[Decimal, Decimal]:
    """Hankel's expansions (A&S 9.2.5-9.2.10), for x >= 25: error below e^(-2x)."""
    mu = 4 * n * n
    p, qsum = Decimal(0), Decimal(0)
    term, k = Decimal(1), 0
    tiny = Decimal(10) ** (-_PREC)
    while True:
        sign = -1 if (k // 2) % 2 else 1
        if k % 2 == 0:
            p += sign * term
        else:
            qsum += sign * term
        k += 1
        new = term * (mu - (2 * k - 1) ** 2) / (k * 8 * x)
        if abs(new) >= abs(term) or abs(new) < tiny:
            break
        term = new
    pi = _pi_for(prec)
    omega = x - (Decimal(2 * n + 1) / 4) * pi
    c, s = _dcos_sin(omega, prec)
    amp = (2 / (pi * x)).sqrt()
    return amp * (p * c - qsum * s), amp * (p * s + qsum * c)


def _jy(n: int, x: float, want_y: bool) -> tuple[float, float]:
    """J_n(x), Y_n(x) for finite x > 0."""
    dx = Decimal(x)
    prec = _PREC + max(0, dx.adjusted())
    with localcontext() as ctx:
        ctx.prec = prec
        if x < 25.0:
            j, y = _jy_series(n, dx, want_y)
        else:
            j, y = _jy_asymptotic(n, dx, prec)
        return float(j), (float(y) if want_y else math.nan)


def _bessel_j(n: int, x: float) -> float:
    if math.isnan(x):
        return x
    sign = -1.0 if (n == 1 and x < 0) else 1.0
    x = abs(x)
    if math.isinf(x):
        return sign * 0.0
    if x == 0.0:
        return 1.0 if n == 0 else sign * 0.0
    return sign * _jy(n, x, False)[0]


def _bessel_y(n: int, x: float) -> float:
    if math.isnan(x) or x < 0:
        return math.nan
    if x == 0.0:
        return -math.inf
    if math.isinf(x):
        return 0.0
    return _jy(n, x, True)[1]


def _bessel_i(n: int, x: float) -> float:
    """The modified Bessel function I_n (n = 0, 1)."""
    if math.isnan(x):
        return x
    sign = -1.0 if (n == 1 and x < 0) else 1.0
    x = abs(x)
    if math.isinf(x):
        return sign * math.inf
    if x == 0.0:
        return 1.0 if n == 0 else sign * 0.0
    if x > 800.0:  # e^x / sqrt(2 pi x) overflows a double (and dx.exp() decimal's exponents)
        return sign * math.inf
    dx = Decimal(x)
    with localcontext() as ctx:
        ctx.prec = _PREC
        if x < 40.0:  # the power series: positive terms
            h = dx / 2
            q = h * h
            term = Decimal(1) / math.factorial(n)
            total, k = Decimal(0), 0
            eps = Decimal(10) ** (-_PREC + 5)
            while True:
                total += term
                k += 1
                term = term * q / (k * (n + k))
                if k > h and term < eps * total:
                    break
            value = total * h if n else total
        else:  # e^x / sqrt(2 pi x) * sum (-1)^k a_k / x^k (A&S 9.7.1)
            mu = 4 * n * n
            total, term, k = Decimal(0), Decimal(1), 0
            tiny = Decimal(10) ** (-_PREC)
            while True:
                total += term
                k += 1
                new = -term * (mu - (2 * k - 1) ** 2) / (k * 8 * dx)
                if abs(new) >= abs(term) or abs(new) < tiny:
                    break
                term = new
            value = dx.exp() / (2 * _pi_for(_PREC) * dx).sqrt() * total
        return sign * float(value)


# Exact functions -------------------------------------------------------------------------


def _round_half_away(x: np.ndarray) -> np.ndarray:
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t)


def _sincospi(x: np.ndarray, want_sin: bool) -> np.ndarray:
    r = np.fmod(x, 2.0)  # exact, in (-2, 2)
    k = np.rint(2.0 * r)  # the nearest multiple of 1/2, in half-turns
    f = r - k / 2.0  # exact, in [-1/4, 1/4]
    quadrant = np.mod(k, 4.0)
    s, c = np.sin(np.pi * f), np.cos(np.pi * f)
    if want_sin:
        out = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [s, c, -s], -c)
        out = np.where(out == 0, np.copysign(0.0, x), out)  # sinpi(n) is +0 for n >= 0, else -0
    else:
        out = np.select([quadrant == 0, quadrant == 1, quadrant == 2], [c, -s, -c], s)
        out = np.where(out == 0, 0.0, out)  # cospi(n + 1/2) is +0
    return np.where(np.isfinite(x), out, np.nan)


def _logb(x: np.ndarray) -> np.ndarray:
    _, e = np.frexp(x)
    out = (e - 1).astype(_F64)
    out = np.where(x == 0, -np.inf, out)
    out = np.where(np.isinf(x), np.inf, out)
    return np.where(np.isnan(x), np.nan, out)


def _fdim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.where(a > b, a - b, 0.0)
    return np.where(np.isnan(a) | np.isnan(b), np.nan, out)


def _norm(*xs: np.ndarray) -> np.ndarray:
    xs = np.broadcast_arrays(*(np.abs(_f64(x)) for x in xs))
    m = np.maximum.reduce(xs)
    safe = np.where((m == 0) | ~np.isfinite(m), 1.0, m)
    out = safe * np.sqrt(sum((x / safe) ** 2 for x in xs))
    out = np.where(m == 0, 0.0, out)
    out = np.where(np.isnan(m), np.nan, out)
    return np.where(np.logical_or.reduce([np.isinf(x) for x in xs]), np.inf, out)


def _fma_f64(a: float, b: float, c: float) -> float:
    if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
        return a * b + c
    exact = Fraction(a) * Fraction(b) + Fraction(c)
    try:
        return float(exact)
    except OverflowError:  # (math.copysign(inf, exact) would convert `exact` again and raise)
        return math.inf if exact > 0 else -math.inf


def _fma(args, dt: np.dtype) -> np.ndarray:
    a, b, c = (_f64(x) for x in args)
    if dt == _F64:
        a, b, c = np.broadcast_arrays(a, b, c)
        out = [_fma_f64(float(x), float(y), float(z)) for x, y, z in zip(a.ravel(), b.ravel(), c.ravel())]
        return np.array(out, _F64).reshape(a.shape)
    # float32: a * b is exact in float64; s + err = p + c exactly (two-sum); round the
    # float64 sum to odd, then to float32: a single correct rounding.
    p = a * b
    s = p + c
    bb = s - p
    err = (p - (s - bb)) + (c - bb)
    finite = np.isfinite(s)
    odd = (np.where(finite, s, 0.0).view(np.uint64) & 1).astype(bool)
    toward = np.where(err > 0, np.inf, -np.inf)
    s = np.where(finite & (err != 0) & ~odd, np.nextafter(s, toward), s)
    return s.astype(_F32)


def _nextafter(args, dt: np.dtype) -> np.ndarray:
    return np.nextafter(np.asarray(args[0], dt), np.asarray(args[1], dt))


# The table ---------------------------------------------------------------------------

BUILTINS: dict[str, Callable[[list[np.ndarray], np.dtype], np.ndarray]] = {
    "acos": _unary(np.arccos), "acosh": _unary(np.arccosh), "asin": _unary(np.arcsin),
    "asinh": _unary(np.arcsinh), "atan": _unary(np.arctan), "atanh": _unary(np.arctanh),
    "cbrt": _unary(np.cbrt), "ceil": _unary(np.ceil), "cos": _unary(np.cos), "cosh": _unary(np.cosh),
    "cospi": _unary(lambda x: _sincospi(x, False)),
    "erf": _unary(lambda x: _map(math.erf, x)),
    "erfc": _unary(lambda x: _map(math.erfc, x)),
    "erfcinv": _unary(lambda x: _map(_erfcinv, x)),
    "erfcx": _unary(lambda x: _map(_erfcx, x)),
    "erfinv": _unary(lambda x: _map(_erfinv, x)),
    "exp": _unary(np.exp), "exp10": _unary(lambda x: np.power(10.0, x)), "exp2": _unary(np.exp2),
    "expm1": _unary(np.expm1), "fabs": _unary(np.abs), "floor": _unary(np.floor),
    "lgamma": _unary(lambda x: _map(_lgamma, x)),
    "log": _unary(np.log), "log10": _unary(np.log10), "log1p": _unary(np.log1p), "log2": _unary(np.log2),
    "logb": _unary(_logb),
    "normcdf": _unary(lambda x: 0.5 * _map(math.erfc, -x / _SQRT2)),
    "normcdfinv": _unary(lambda x: -_SQRT2 * _map(_erfcinv, 2.0 * x)),
    "rcbrt": _unary(lambda x: 1.0 / np.cbrt(x)),
    "round": _unary(_round_half_away),
    "rsqrt": _unary(lambda x: 1.0 / np.sqrt(x)),
    "sin": _unary(np.sin), "sinh": _unary(np.sinh),
    "sinpi": _unary(lambda x: _sincospi(x, True)),
    "sqrt": _unary(np.sqrt), "tan": _unary(np.tan), "tanh": _unary(np.tanh),
    "tgamma": _unary(lambda x: _map(_tgamma, x)),
    "trunc": _unary(np.trunc),
    "j0": _unary(lambda x: _map(lambda v: _bessel_j(0, v), x)),
    "j1": _unary(lambda x: _map(lambda v: _bessel_j(1, v), x)),
    "y0": _unary(lambda x: _map(lambda v: _bessel_y(0, v), x)),
    "y1": _unary(lambda x: _map(lambda v: _bessel_y(1, v), x)),
    "cyl_bessel_i0": _unary(lambda x: _map(lambda v: _bessel_i(0, v), x)),
    "cyl_bessel_i1": _unary(lambda x: _map(lambda v: _bessel_i(1, v), x)),
    "atan2": _binary64(np.arctan2), "copysign": _binary64(np.copysign), "fdim": _binary64(_fdim),
    "fdivide": _binary64(np.divide), "fmax": _binary64(np.fmax), "fmin": _binary64(np.fmin),
    "fmod": _binary64(np.fmod), "hypot": _binary64(np.hypot),
    "nextafter": _nextafter, "pow": _binary64(np.power),
    "remainder": _binary64(lambda a, b: _map2(_remainder, a, b)),
    "rhypot": _binary64(lambda a, b: 1.0 / np.hypot(a, b)),
    "fma": _fma,
    "norm3d": lambda args, dt: _norm(*args), "rnorm3d": lambda args, dt: 1.0 / _norm(*args),
    "norm4d": lambda args, dt: _norm(*args), "rnorm4d": lambda args, dt: 1.0 / _norm(*args),
}

assert set(BUILTINS) == set(ARITY), set(BUILTINS) ^ set(ARITY)
