"""Lower the `math` dialect and `tc.builtin` to the `llvm` dialect.

Summary:
  Every math op and every TC builtin function (`tc.builtin "name"(args)`, the CUDA
  math set of `tcir.frontend.builtins.ARITY`) becomes LLVM intrinsics, calls to C's
  libm, or an inline computation:

  - LLVM intrinsics: fabs, sqrt, exp, exp2, log, log2, log10, sin, cos, floor, ceil,
    trunc, round, roundeven, pow, copysign, fma, fmax/fmin (`llvm.maxnum/minnum`);
    integer math.absi, ctlz, cttz, ctpop (`llvm.abs/ctlz/cttz/ctpop`, defined at 0).
  - libm (an external `llvm.func` declared once per symbol table, `f` suffix for f32):
    acos acosh asin asinh atan atanh atan2 cbrt cosh sinh tan tanh erf erfc expm1 log1p
    lgamma tgamma exp10 logb fdim fmod hypot remainder nextafter j0 j1 y0 y1.
  - Computed inline, in f64 for every float type (then correctly rounded to it):
    rsqrt = 1/sqrt, rcbrt = 1/cbrt, rhypot = 1/hypot, norm3d/norm4d = nested hypot
    (no overflow; inf wins over NaN), rnorm3d/rnorm4d = their reciprocals; sinpi and
    cospi with exact argument reduction (fmod by 2, then to [-1/4, 1/4]; exact zeros
    with C's signs); normcdf = erfc(-x/sqrt2)/2 with the rounding of x/sqrt2
    corrected; erfinv/erfcinv = Giles' approximation (an asymptotic guess in the far
    tail) refined by Newton steps on erf, or on log(erfc) near +-1 (2 steps for f32
    and narrower, 3 for f64); normcdfinv = -sqrt2 * erfcinv(2p); erfcx =
    exp(x^2) erfc(x) with exp(x^2) corrected for the rounding of x^2, asymptotic series
    from x = 26; cyl_bessel_i0/i1 = power series (45 terms) below 20, asymptotic series
    (20 terms) above, scaled to avoid premature overflow. fdivide = x / y.
    Measured errors: within 2 ulp of f64 references for the f64 versions (1e-15
    relative for the Bessel functions), correctly rounded or 1 ulp for f32.
  - f16 and bf16 arguments are computed in f32 (or f64 above) and rounded back;
    nextafter on f16/bf16 steps the bit pattern of the narrow type itself.
  - math.fpowi(x, n) = pow(x, n) computed in f64.

  The libm calls are for the host (MCJIT resolves them in the process); a GPU
  target has to map them to its own library (libdevice's `__nv_*`). math ops'
  fastmath flags are dropped. Vector operands and math.ipowi are reported as
  `tcir.TcError`. `bf16` values are i16 bit patterns (see `convert-arith-to-llvm`).

Options: none.

Before:
  func.func @f(%x: f32) -> f32 {
    %y = math.exp %x : f32
    %z = tc.builtin "erfc"(%y) : (f32) -> f32
    %w = math.rsqrt %z : f32
    func.return %w : f32
  }
After:
  llvm.func @erfcf(f32) -> f32
  func.func @f(%x: f32) -> f32 {
    %y = llvm.call_intrinsic "llvm.exp.f32"(%x) : (f32) -> f32
    %z = llvm.call @erfcf(%y) : (f32) -> f32
    %0 = llvm.fpext %z : f32 to f64
    %1 = llvm.call_intrinsic "llvm.sqrt.f64"(%0) : (f64) -> f64
    %2 = llvm.mlir.constant(1.000000e+00 : f64) : f64
    %3 = llvm.fdiv %2, %1 : f64
    %w = llvm.fptrunc %3 : f64 to f32
    func.return %w : f32
  }
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import llvm, math
from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float64Type, ModuleOp, f64, i1, i16
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern

from tcir.dialects.tc import BuiltinOp
from tcir.passes.llvm_common import (
    Emitter,
    check_lowered,
    erase_dead_casts,
    lower_scalar_op,
    lowering_error,
)

PASS_NAME = "convert-math-to-llvm"

# math ops computing a C/TC function of their float operands.
MATH_FUNCTIONS: dict[type[Operation], str] = {
    math.AbsFOp: "fabs", math.AcosOp: "acos", math.AcoshOp: "acosh", math.AsinOp: "asin",
    math.AsinhOp: "asinh", math.AtanOp: "atan", math.AtanhOp: "atanh", math.Atan2Op: "atan2",
    math.CbrtOp: "cbrt", math.CeilOp: "ceil", math.CopySignOp: "copysign", math.CosOp: "cos",
    math.CoshOp: "cosh", math.ErfOp: "erf", math.ExpOp: "exp", math.Exp2Op: "exp2",
    math.ExpM1Op: "expm1", math.FloorOp: "floor", math.FmaOp: "fma", math.LogOp: "log",
    math.Log10Op: "log10", math.Log1pOp: "log1p", math.Log2Op: "log2", math.PowFOp: "pow",
    math.RoundOp: "round", math.RoundEvenOp: "roundeven", math.RsqrtOp: "rsqrt",
    math.SinOp: "sin", math.SinhOp: "sinh", math.SqrtOp: "sqrt", math.TanOp: "tan",
    math.TanhOp: "tanh", math.TruncOp: "trunc",
}  # fmt: skip

# Functions that are LLVM intrinsics (overloaded on the float type).
INTRINSICS = {
    **{f: "llvm." + f for f in "fabs sqrt exp exp2 log log2 log10 sin cos floor ceil".split()},
    **{f: "llvm." + f for f in "trunc round roundeven pow copysign fma".split()},
    "fmax": "llvm.maxnum",
    "fmin": "llvm.minnum",
}

# Functions of C's libm: `name` for f64, `namef` for f32.
LIBM = frozenset(
    """acos acosh asin asinh atan atanh atan2 cbrt cosh sinh tan tanh erf erfc expm1 log1p
    lgamma tgamma exp10 logb fdim fmod hypot remainder nextafter j0 j1 y0 y1""".split()
)

# Integer math ops -> (intrinsic, whether it takes the `is_int_min_poison`/
# `is_zero_poison` i1 flag).
INTEGER_INTRINSICS: dict[type[Operation], tuple[str, bool]] = {
    math.AbsIOp: ("llvm.abs", True),
    math.CountLeadingZerosOp: ("llvm.ctlz", True),
    math.CountTrailingZerosOp: ("llvm.cttz", True),
    math.CtPopOp: ("llvm.ctpop", False),
}

PI = (3.141592653589793, 1.2246467991473532e-16)  # hi + lo
SQRT2 = (1.4142135623730951, -9.667293313452913e-17)
INV_SQRT2 = (0.7071067811865476, -4.833646656726457e-17)
TWO_OVER_SQRT_PI = 1.1283791670955126
INV_SQRT_PI = 0.5641895835477563
INV_SQRT_2PI = 0.3989422804014327


# Functions computed inline, on f64 values -------------------------------------------
# Each takes the emitter, the f64 arguments and whether the result is f64 (`precise`;
# otherwise it is rounded to f32 or narrower and fewer refinement steps suffice).


def _recip(em: Emitter, x: SSAValue) -> SSAValue:
    return em.div(em.like(1.0, x), x)


def _hypot(em: Emitter, a: SSAValue, b: SSAValue) -> SSAValue:
    return em.call("hypot", [a, b], f64)


def _norm(em: Emitter, xs: Sequence[SSAValue]) -> SSAValue:
    """sqrt(sum of squares) as nested hypot: no spurious overflow, inf beats NaN."""
    if len(xs) == 4:
        return _hypot(em, _hypot(em, xs[0], xs[1]), _hypot(em, xs[2], xs[3]))
    return _hypot(em, _hypot(em, xs[0], xs[1]), xs[2])


def _times_hi_lo(em: Emitter, constant: tuple[float, float], x: SSAValue) -> SSAValue:
    """constant * x with the constant in double-double (one rounding at the end)."""
    hi, lo = constant
    product = em.fma(em.like(hi, x), x, em.mul(em.like(lo, x), x))
    infinite = em.fcmp("oeq", em.intrinsic("llvm.fabs", [x]), em.like(pymath.inf, x))
    return em.select(infinite, em.mul(em.like(hi, x), x), product)  # not inf - inf


def _sinpi_cospi(em: Emitter, x: SSAValue) -> tuple[SSAValue, SSAValue]:
    """sin(pi x) and cos(pi x), before the signs of zero results are fixed."""
    xr = em.emit(llvm.FRemOp(x, em.like(2.0, x)))  # exact, in (-2, 2)
    n = em.intrinsic("llvm.roundeven", [em.add(xr, xr)])  # in [-4, 4]
    r = em.sub(xr, em.mul(n, em.like(0.5, x)))  # exact, in [-1/4, 1/4]
    quarter = em.mul(n, em.like(0.25, x))
    q = em.sub(n, em.mul(em.intrinsic("llvm.floor", [quarter]), em.like(4.0, x)))  # n mod 4
    pr = _times_hi_lo(em, PI, r)
    s, c = em.intrinsic("llvm.sin", [pr]), em.intrinsic("llvm.cos", [pr])
    ns, nc = em.neg(s), em.neg(c)

    def pick(values: Sequence[SSAValue]) -> SSAValue:
        """values[q]; NaN q (x infinite or NaN) keeps values[0], which is NaN then."""
        result = values[0]
        for k in (1, 2, 3):
            result = em.select(em.fcmp("oeq", q, em.like(float(k), q)), values[k], result)
        return result

    return pick([s, c, ns, nc]), pick([c, ns, nc, s])


def _sinpi(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    value, _ = _sinpi_cospi(em, xs[0])
    zero = em.like(0.0, value)
    signed_zero = em.intrinsic("llvm.copysign", [zero, xs[0]])
    return em.select(em.fcmp("oeq", value, zero), signed_zero, value)


def _cospi(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    _, value = _sinpi_cospi(em, xs[0])
    return em.add(value, em.like(0.0, value))  # -0 -> +0


def _normcdf(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    """erfc(-x/sqrt2)/2, x/sqrt2 = p + e exactly enough, erfc(-p-e) ~ erfc(-p) +
    e * 2/sqrt(pi) * exp(-p^2)."""
    x = xs[0]
    hi, lo = INV_SQRT2
    p = em.mul(x, em.like(hi, x))
    e = em.add(em.fma(x, em.like(hi, x), em.neg(p)), em.mul(x, em.like(lo, x)))
    base = em.call("erfc", [em.neg(p)], f64)
    slope = em.mul(em.like(TWO_OVER_SQRT_PI, x), em.intrinsic("llvm.exp", [em.neg(em.mul(p, p))]))
    moderate = em.fcmp("olt", em.intrinsic("llvm.fabs", [x]), em.like(40.0, x))
    corrected = em.fma(e, slope, base)
    return em.mul(em.like(0.5, x), em.select(moderate, corrected, base))


_GILES_CENTRAL = [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]  # fmt: skip
_GILES_TAIL = [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]  # fmt: skip


def _inverse_erf_core(em: Emitter, p: SSAValue, q: SSAValue, steps: int) -> SSAValue:
    """x >= 0 with erf(x) = p and erfc(x) = q (p + q = 1; p is used when p <= 1/2, q
    otherwise, so each need only be accurate where used)."""
    one = em.like(1.0, p)
    w = em.neg(em.intrinsic("llvm.log", [em.mul(q, em.add(one, p))]))
    central = em.horner(em.sub(w, em.like(2.5, w)), _GILES_CENTRAL)
    tail = em.horner(em.sub(em.intrinsic("llvm.sqrt", [w]), em.like(3.0, w)), _GILES_TAIL)
    giles = em.mul(em.select(em.fcmp("olt", w, em.like(5.0, w)), central, tail), p)
    # Far tail: erfc(x) ~ exp(-x^2) / (x sqrt(pi)), so x^2 ~ L - log(sqrt(pi L)).
    big_l = em.neg(em.intrinsic("llvm.log", [q]))
    log_term = em.intrinsic("llvm.log", [em.intrinsic("llvm.sqrt", [em.mul(big_l, em.like(pymath.pi, p))])])
    asymptotic = em.intrinsic("llvm.sqrt", [em.sub(big_l, log_term)])
    x = em.select(em.fcmp("olt", w, em.like(16.0, w)), giles, asymptotic)
    small = em.fcmp("ole", p, em.like(0.5, p))
    for _ in range(steps):
        slope = em.mul(em.like(TWO_OVER_SQRT_PI, x), em.intrinsic("llvm.exp", [em.neg(em.mul(x, x))]))
        # Newton on erf(x) - p.
        by_erf = em.sub(x, em.div(em.sub(em.call("erf", [x], f64), p), slope))
        # Newton on log(erfc(x)) - log(q): well behaved in the tail.
        c = em.call("erfc", [x], f64)
        log_ratio = em.intrinsic("llvm.log", [em.div(c, q)])
        by_erfc = em.add(x, em.mul(log_ratio, em.div(c, slope)))
        x = em.select(small, by_erf, by_erfc)
    return x


def _steps(precise: bool) -> int:
    return 3 if precise else 2


def _erfinv(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    y = xs[0]
    a = em.intrinsic("llvm.fabs", [y])
    one = em.like(1.0, y)
    x = em.intrinsic("llvm.copysign", [_inverse_erf_core(em, a, em.sub(one, a), _steps(precise)), y])
    inf = em.intrinsic("llvm.copysign", [em.like(pymath.inf, y), y])
    x = em.select(em.fcmp("oeq", a, one), inf, x)
    return em.select(em.fcmp("ugt", a, one), em.like(pymath.nan, y), x)  # |y| > 1 or NaN


def _erfcinv_of(em: Emitter, z: SSAValue, precise: bool) -> SSAValue:
    one, two = em.like(1.0, z), em.like(2.0, z)
    upper = em.fcmp("ogt", z, one)  # erfcinv(z) = -erfcinv(2 - z)
    q = em.select(upper, em.sub(two, z), z)  # exact
    p = em.select(upper, em.sub(z, one), em.sub(one, z))  # exact where used
    x = _inverse_erf_core(em, p, q, _steps(precise))
    x = em.select(upper, em.neg(x), x)
    x = em.select(em.fcmp("oeq", z, em.like(0.0, z)), em.like(pymath.inf, z), x)
    x = em.select(em.fcmp("oeq", z, two), em.like(-pymath.inf, z), x)
    outside = em.iop(llvm.OrOp, em.fcmp("ult", z, em.like(0.0, z)), em.fcmp("ugt", z, two))
    return em.select(outside, em.like(pymath.nan, z), x)


def _erfcinv(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    return _erfcinv_of(em, xs[0], precise)


def _normcdfinv(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    v = _erfcinv_of(em, em.add(xs[0], xs[0]), precise)
    return em.add(em.neg(_times_hi_lo(em, SQRT2, v)), em.like(0.0, v))  # normcdfinv(1/2) = +0


_ERFCX_ASYMPTOTIC = [1.0, -1.0, 3.0, -15.0, 105.0, -945.0, 10395.0, -135135.0][::-1]


def _erfcx(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
    """exp(x^2) erfc(x): directly below 26 with x^2 = h + l exactly, exp(h + l) ~
    exp(h) (1 + l); above, the asymptotic series in 1/(2x^2)."""
    x = xs[0]
    h = em.mul(x, x)
    l = em.fma(x, x, em.neg(h))
    t = em.mul(em.intrinsic("llvm.exp", [h]), em.call("erfc", [x], f64))
    inf = em.like(pymath.inf, x)
    direct = em.select(em.fcmp("oeq", t, inf), inf, em.fma(t, l, t))
    y = em.div(em.like(1.0, x), em.add(h, h))
    series = em.horner(y, _ERFCX_ASYMPTOTIC)
    asymptotic = em.div(em.mul(series, em.like(INV_SQRT_PI, x)), x)
    return em.select(em.fcmp("olt", x, em.like(26.0, x)), direct, asymptotic)


def _bessel_series(nu: int) -> list[float]:
    """Coefficients of I_nu(x) / (x/2)^nu in t = x^2/4, highest degree first."""
    return [1.0 / (pymath.factorial(k) * pymath.factorial(k + nu)) for k in range(45)][::-1]


def _bessel_asymptotic(nu: int) -> list[float]:
    """Coefficients of I_nu(x) sqrt(2 pi x) / e^x in 1/x, highest degree first."""
    mu, coefficients = 4 * nu * nu, [1.0]
    for k in range(1, 20):
        coefficients.append(coefficients[-1] * -(mu - (2 * k - 1) ** 2) / (8 * k))
    return coefficients[::-1]


def _bessel_i(nu: int) -> Callable[[Emitter, Sequence[SSAValue], bool], SSAValue]:
    series_c, asymptotic_c = _bessel_series(nu), _bessel_asymptotic(nu)

    def lower(em: Emitter, xs: Sequence[SSAValue], precise: bool) -> SSAValue:
        x = xs[0]
        a = em.intrinsic("llvm.fabs", [x])
        half = em.mul(a, em.like(0.5, a))
        series = em.horner(em.mul(half, half), series_c)
        if nu == 1:
            series = em.mul(series, half)
        e = em.intrinsic("llvm.exp", [half])  # e^a = e * e, without overflowing early
        scale = em.div(em.mul(e, em.like(INV_SQRT_2PI, a)), em.intrinsic("llvm.sqrt", [a]))
        asymptotic = em.mul(e, em.mul(scale, em.horner(_recip(em, a), asymptotic_c)))
        inf = em.like(pymath.inf, a)
        asymptotic = em.select(em.fcmp("oeq", a, inf), inf, asymptotic)  # not inf / inf
        value = em.select(em.fcmp("olt", a, em.like(20.0, a)), series, asymptotic)
        return em.intrinsic("llvm.copysign", [value, x]) if nu == 1 else value

    return lower


def _reciprocal_of(
    f: Callable[[Emitter, Sequence[SSAValue]], SSAValue],
) -> Callable[[Emitter, Sequence[SSAValue], bool], SSAValue]:
    return lambda em, xs, precise: _recip(em, f(em, xs))


CUSTOM: dict[str, Callable[[Emitter, Sequence[SSAValue], bool], SSAValue]] = {
    "rsqrt": _reciprocal_of(lambda em, xs: em.intrinsic("llvm.sqrt", [xs[0]])),
    "rcbrt": _reciprocal_of(lambda em, xs: em.call("cbrt", [xs[0]], f64)),
    "rhypot": _reciprocal_of(lambda em, xs: _hypot(em, xs[0], xs[1])),
    "norm3d": lambda em, xs, precise: _norm(em, xs),
    "norm4d": lambda em, xs, precise: _norm(em, xs),
    "rnorm3d": _reciprocal_of(_norm),
    "rnorm4d": _reciprocal_of(_norm),
    "sinpi": _sinpi,
    "cospi": _cospi,
    "normcdf": _normcdf,
    "normcdfinv": _normcdfinv,
    "erfinv": _erfinv,
    "erfcinv": _erfcinv,
    "erfcx": _erfcx,
    "cyl_bessel_i0": _bessel_i(0),
    "cyl_bessel_i1": _bessel_i(1),
}


# Dispatch ------------------------------------------------------------------------------


def _nextafter_narrow(em: Emitter, x: SSAValue, y: SSAValue, t: Attribute) -> SSAValue:
    """nextafter on the bit patterns of f16/bf16 (x, y in their llvm types)."""
    bits = [v if isinstance(t, BFloat16Type) else em.cast(llvm.BitcastOp, v, i16) for v in (x, y)]
    xf, yf = (em.widen(v, t)[0] for v in (x, y))
    one = em.const(1, i16)
    away = em.iop(llvm.XOrOp, em.fcmp("olt", xf, yf), em.fcmp("olt", xf, em.like(0.0, xf)))
    stepped = em.select(away, em.iop(llvm.AddOp, bits[0], one), em.iop(llvm.SubOp, bits[0], one))
    tiny = em.select(em.fcmp("olt", yf, em.like(0.0, yf)), em.const(0x8001, i16), one)
    result = em.select(em.fcmp("oeq", xf, em.like(0.0, xf)), tiny, stepped)
    result = em.select(em.fcmp("oeq", xf, yf), bits[1], result)
    nan = em.const(0x7FC0 if isinstance(t, BFloat16Type) else 0x7E00, i16)
    result = em.select(em.fcmp("uno", xf, yf), nan, result)
    return result if isinstance(t, BFloat16Type) else em.cast(llvm.BitcastOp, result, t)


def lower_function(em: Emitter, name: str, args: Sequence[SSAValue], t: Attribute) -> SSAValue:
    """The C/TC function `name` of `args` (llvm values of original float type `t`)."""
    if name in CUSTOM:
        wide = [em.convert_float(a, t, f64) for a in args]
        value = CUSTOM[name](em, wide, isinstance(t, Float64Type))
        return em.convert_float(value, f64, t)
    if name == "nextafter" and isinstance(t, (Float16Type, BFloat16Type)):
        return _nextafter_narrow(em, args[0], args[1], t)
    widened = [em.widen(a, t) for a in args]
    xs, w = [x for x, _ in widened], widened[0][1]
    if name in INTRINSICS:
        value = em.intrinsic(INTRINSICS[name], xs)
    elif name in LIBM:
        value = em.call(name if isinstance(w, Float64Type) else name + "f", xs, w)
    elif name == "fdivide":
        value = em.div(xs[0], xs[1])
    else:
        raise lowering_error(PASS_NAME, f"no lowering for the function `{name}`")
    return em.convert_float(value, w, t)


def lower_float_op(em: Emitter, op: Operation) -> SSAValue:
    """The llvm-dialect value of a float math op or a `tc.builtin` (the function of the
    same name, computed by `lower_function`); the handler of those ops in this pass."""
    name = op.fn.data if isinstance(op, BuiltinOp) else MATH_FUNCTIONS[type(op)]
    args = [em.arg(v) for v in op.operands]
    return lower_function(em, name, args, op.results[0].type)


def _integer_intrinsic(em: Emitter, op: Operation) -> SSAValue:
    name, has_flag = INTEGER_INTRINSICS[type(op)]
    x = em.arg(op.operands[0])
    return em.intrinsic(name, [x, em.const(0, i1)] if has_flag else [x])


def _fpowi(em: Emitter, op: math.FPowIOp) -> SSAValue:
    t = op.result.type
    x = em.convert_float(em.arg(op.lhs), t, f64)
    n = em.int_to_float(em.arg(op.rhs), True, f64)
    return em.convert_float(em.intrinsic("llvm.pow", [x, n]), f64, t)


def _handler(op: Operation) -> Callable[[Emitter, Operation], SSAValue] | None:
    if isinstance(op, BuiltinOp) or type(op) in MATH_FUNCTIONS:
        return lower_float_op
    if type(op) in INTEGER_INTRINSICS:
        return _integer_intrinsic
    if isinstance(op, math.FPowIOp):
        return _fpowi
    return None


class LowerMathOp(RewritePattern):
    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        handler = _handler(op)
        if handler is not None:
            lower_scalar_op(rewriter, op, PASS_NAME, handler)


@dataclass(frozen=True)
class ConvertMathToLlvmPass(ModulePass):
    name = "convert-math-to-llvm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(LowerMathOp()).rewrite_module(op)
        erase_dead_casts(op)
        check_lowered(op, ("math", "tc.builtin"), PASS_NAME)
