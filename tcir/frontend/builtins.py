"""The builtin math functions of TC (the CUDA math set) and their arities."""

from __future__ import annotations

_UNARY = """acos acosh asin asinh atan atanh cbrt ceil cos cosh cospi erf erfc erfcinv erfcx
erfinv exp exp10 exp2 expm1 fabs floor lgamma log log10 log1p log2 logb normcdf normcdfinv
rcbrt round rsqrt sin sinh sinpi sqrt tan tanh tgamma trunc j0 j1 y0 y1 cyl_bessel_i0
cyl_bessel_i1""".split()
_BINARY = "atan2 copysign fdim fdivide fmax fmin fmod hypot nextafter pow remainder rhypot".split()

ARITY: dict[str, int] = (
    {f: 1 for f in _UNARY}
    | {f: 2 for f in _BINARY}
    | {"fma": 3, "norm3d": 3, "rnorm3d": 3, "norm4d": 4, "rnorm4d": 4}
)

# Names users reach for that TC does not have, with what to write instead.
SUGGESTIONS = {
    "relu": "there is no `relu`; write `fmax(x, 0)`",
    "sigmoid": "there is no `sigmoid`; write `1 / (1 + exp(-x))`",
    "abs": "use `fabs(x)`",
    "sqr": "write `x * x`",
    "ln": "use `log(x)`",
    "max2": "use `max(a, b)`",
}
