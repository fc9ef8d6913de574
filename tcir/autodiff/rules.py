"""Derivative rules: the reverse pass through one typed expression.

`backward(e, adjoint, active)` returns, for every read of an active float tensor (or
scalar) in `e`, the contribution `adjoint * ∂e/∂read` as a typed expression, already
wrapped in the conditions of the `?:` branches the read sits in (so the contribution,
and the values it reads, are evaluated only where the forward read was).

Rules (`a` is the incoming adjoint):

    -x: -a      x + y: a, a      x - y: a, -a      x * y: a * y, a * x
    x / y: a / y, -a * x / (y * y)         x % y (fmod): a, -a * trunc(x / y)
    min/max(x, y), fmin/fmax: the adjoint goes to the operand that is the result; on a
        tie each gets a / 2 (as PyTorch's `minimum`/`maximum`)
    c ? x : y: c ? a : 0 to x, c ? 0 : a to y (comparisons, `&&`, `||`, `!` and every
        integer expression carry no gradient)
    casts between float types: the adjoint cast back; casts to or from integers: none
    builtins: see `UNARY` and `BINARY` below; `floor ceil round trunc logb` are
        piecewise constant and get a zero gradient (as in PyTorch); `lgamma tgamma
        nextafter` and the Bessel functions of the second kind are not differentiable
        yet (a `TcError` from the caller).
"""

from __future__ import annotations

import math
from typing import Callable

from ..frontend.checked import TBinary, TCall, TCast, TConst, TExpr, TRead, TScalar, TSelect, TUnary, children
from ..frontend.types import BOOL, ScalarType

# Expression builders that fold the obvious constants -----------------------------------


def const(t: ScalarType, v: float) -> TConst:
    return TConst(t, float(v) if t.is_float else v)


def is_const(e: TExpr, v: float | None = None) -> bool:
    return isinstance(e, TConst) and not isinstance(e.value, bool) and (v is None or e.value == v)


def cast(t: ScalarType, e: TExpr) -> TExpr:
    if e.type == t:
        return e
    if isinstance(e, TConst):
        return const(t, e.value)
    return TCast(t, e)


def neg(e: TExpr) -> TExpr:
    if isinstance(e, TConst):
        return const(e.type, -e.value)
    if isinstance(e, TUnary) and e.op == "-":
        return e.operand
    return TUnary(e.type, "-", e)


def add(a: TExpr, b: TExpr) -> TExpr:
    if is_const(a) and is_const(b):
        return const(a.type, a.value + b.value)
    if is_const(a, 0):
        return b
    if is_const(b, 0):
        return a
    if isinstance(a, TSelect) and isinstance(b, TSelect) and a.cond == b.cond:
        return select(a.cond, add(a.then, b.then), add(a.otherwise, b.otherwise))
    if isinstance(b, TUnary) and b.op == "-":
        return TBinary(a.type, "-", a, b.operand)
    return TBinary(a.type, "+", a, b)


def sub(a: TExpr, b: TExpr) -> TExpr:
    if is_const(a) and is_const(b):
        return const(a.type, a.value - b.value)
    if is_const(b, 0):
        return a
    if is_const(a, 0):
        return neg(b)
    return TBinary(a.type, "-", a, b)


def mul(a: TExpr, b: TExpr) -> TExpr:
    if is_const(a, 0) or is_const(b, 0):
        return const(a.type, 0)
    if is_const(a, 1):
        return b
    if is_const(b, 1):
        return a
    if is_const(b, -1):
        return neg(a)
    if is_const(a, -1):
        return neg(b)
    if isinstance(a, TConst) and isinstance(b, TConst):
        return const(a.type, a.value * b.value)
    if isinstance(b, TUnary) and b.op == "-" and not isinstance(a, TConst):
        return neg(TBinary(a.type, "*", a, b.operand))
    return TBinary(a.type, "*", a, b)


def div(a: TExpr, b: TExpr) -> TExpr:
    if is_const(a, 0):
        return a
    if is_const(b, 1):
        return a
    return TBinary(a.type, "/", a, b)


def cmp(op: str, a: TExpr, b: TExpr) -> TExpr:
    return TBinary(BOOL, op, a, b)


def both(a: TExpr | None, b: TExpr) -> TExpr:
    return b if a is None else TBinary(BOOL, "&&", a, b)


def select(c: TExpr, a: TExpr, b: TExpr) -> TExpr:
    if is_const(a, 0) and is_const(b, 0):
        return a
    return TSelect(a.type, c, a, b)


def call(fn: str, *args: TExpr) -> TExpr:
    return TCall(args[0].type, fn, tuple(args))


# Builtins: ∂f/∂x as a function of the argument(s), the result and the adjoint ---------

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


def _c(x: TExpr, v: float) -> TConst:
    return const(x.type, v)


def _sq(x: TExpr) -> TExpr:
    return mul(x, x)


def _rule_j1(x, y):
    return select(cmp("==", x, _c(x, 0)), _c(x, 0.5), sub(call("j0", x), div(y, x)))


def _rule_i1(x, y):
    return select(cmp("==", x, _c(x, 0)), _c(x, 0.5), sub(call("cyl_bessel_i0", x), div(y, x)))


# fn -> derivative(x, y) where y is `fn(x)` (the call itself)
UNARY: dict[str, Callable[[TExpr, TExpr], TExpr]] = {
    "exp": lambda x, y: y,
    "exp2": lambda x, y: mul(y, _c(x, math.log(2))),
    "exp10": lambda x, y: mul(y, _c(x, math.log(10))),
    "expm1": lambda x, y: call("exp", x),
    "log": lambda x, y: div(_c(x, 1), x),
    "log2": lambda x, y: div(_c(x, 1), mul(x, _c(x, math.log(2)))),
    "log10": lambda x, y: div(_c(x, 1), mul(x, _c(x, math.log(10)))),
    "log1p": lambda x, y: div(_c(x, 1), add(_c(x, 1), x)),
    "sqrt": lambda x, y: div(_c(x, 1), mul(_c(x, 2), y)),
    "rsqrt": lambda x, y: neg(div(y, mul(_c(x, 2), x))),
    "cbrt": lambda x, y: div(mul(call("rcbrt", x), call("rcbrt", x)), _c(x, 3)),
    "rcbrt": lambda x, y: neg(div(y, mul(_c(x, 3), x))),
    "sin": lambda x, y: call("cos", x),
    "cos": lambda x, y: neg(call("sin", x)),
    "tan": lambda x, y: add(_c(x, 1), _sq(y)),
    "asin": lambda x, y: call("rsqrt", sub(_c(x, 1), _sq(x))),
    "acos": lambda x, y: neg(call("rsqrt", sub(_c(x, 1), _sq(x)))),
    "atan": lambda x, y: div(_c(x, 1), add(_c(x, 1), _sq(x))),
    "sinh": lambda x, y: call("cosh", x),
    "cosh": lambda x, y: call("sinh", x),
    "tanh": lambda x, y: sub(_c(x, 1), _sq(y)),
    "asinh": lambda x, y: call("rsqrt", add(_sq(x), _c(x, 1))),
    "acosh": lambda x, y: call("rsqrt", sub(_sq(x), _c(x, 1))),
    "atanh": lambda x, y: div(_c(x, 1), sub(_c(x, 1), _sq(x))),
    "sinpi": lambda x, y: mul(_c(x, math.pi), call("cospi", x)),
    "cospi": lambda x, y: neg(mul(_c(x, math.pi), call("sinpi", x))),
    "erf": lambda x, y: mul(_c(x, 2 / _SQRT_PI), call("exp", neg(_sq(x)))),
    "erfc": lambda x, y: neg(mul(_c(x, 2 / _SQRT_PI), call("exp", neg(_sq(x))))),
    "erfcx": lambda x, y: sub(mul(mul(_c(x, 2), x), y), _c(x, 2 / _SQRT_PI)),
    "erfinv": lambda x, y: mul(_c(x, _SQRT_PI / 2), call("exp", _sq(y))),
    "erfcinv": lambda x, y: neg(mul(_c(x, _SQRT_PI / 2), call("exp", _sq(y)))),
    "normcdf": lambda x, y: div(call("exp", div(neg(_sq(x)), _c(x, 2))), _c(x, _SQRT_2PI)),
    "normcdfinv": lambda x, y: mul(_c(x, _SQRT_2PI), call("exp", div(_sq(y), _c(x, 2)))),
    "fabs": None,  # a sign select, below
    "j0": lambda x, y: neg(call("j1", x)),
    "j1": _rule_j1,
    "cyl_bessel_i0": lambda x, y: call("cyl_bessel_i1", x),
    "cyl_bessel_i1": _rule_i1,
}

# Piecewise constant: a zero gradient.
ZERO_GRADIENT = frozenset({"floor", "ceil", "round", "trunc", "logb"})

# fn -> (∂f/∂x, ∂f/∂y) as functions of (x, y, result)
BINARY: dict[str, Callable[[TExpr, TExpr, TExpr], tuple[TExpr, TExpr]]] = {
    "pow": lambda x, y, r: (mul(y, call("pow", x, sub(y, _c(x, 1)))),
                            select(cmp(">", x, _c(x, 0)), mul(r, call("log", x)), _c(x, 0))),
    "atan2": lambda x, y, r: (div(y, add(_sq(x), _sq(y))), neg(div(x, add(_sq(x), _sq(y))))),
    "hypot": lambda x, y, r: (div(x, r), div(y, r)),
    "rhypot": lambda x, y, r: (neg(mul(x, mul(r, _sq(r)))), neg(mul(y, mul(r, _sq(r))))),
    "fdivide": lambda x, y, r: (div(_c(x, 1), y), neg(div(x, _sq(y)))),
    "fmod": lambda x, y, r: (_c(x, 1), neg(call("trunc", div(x, y)))),
    "remainder": lambda x, y, r: (_c(x, 1), neg(div(sub(x, r), y))),
    "copysign": lambda x, y, r: (mul(call("copysign", _c(x, 1), x), call("copysign", _c(x, 1), y)), _c(x, 0)),
    "fdim": lambda x, y, r: (select(cmp(">", x, y), _c(x, 1), _c(x, 0)),
                             select(cmp(">", x, y), _c(x, -1), _c(x, 0))),
}
# fmax, fmin (and the min/max operators) split ties evenly: handled in `backward`.

NORMS = {"norm3d": 3, "rnorm3d": 3, "norm4d": 4, "rnorm4d": 4}

NOT_DIFFERENTIABLE = {
    "lgamma": "its derivative, the digamma function, is not a builtin",
    "tgamma": "its derivative needs the digamma function, which is not a builtin",
    "nextafter": "it steps to the next representable value",
    "y0": "the Bessel functions of the second kind are not differentiated yet",
    "y1": "the Bessel functions of the second kind are not differentiated yet",
}

DIFFERENTIABLE_BUILTINS = sorted(set(UNARY) | set(BINARY) | set(NORMS) | {"fma", "fmax", "fmin"} | ZERO_GRADIENT)


class NotDifferentiable(Exception):
    """Raised with the reason; the caller turns it into a located TcError."""


# The reverse pass through an expression ------------------------------------------------

Leaf = TRead | TScalar


def backward(e: TExpr, adjoint: TExpr, active: Callable[[str], bool]) -> list[tuple[Leaf, TExpr, bool]]:
    """(read, contribution, guarded) for each read of an active float tensor in `e`;
    `guarded` says whether the read sits in a branch of `?:`."""
    out: list[tuple[Leaf, TExpr, bool]] = []
    _back(e, adjoint, active, out)
    return [(leaf, c, g) for leaf, c, g in out if not is_const(c, 0)]


def _minmax(x: TExpr, y: TExpr, a: TExpr, op: str, out, active) -> None:
    wins = ">" if op == "max" else "<"
    _back(x, select(cmp(wins, x, y), a, select(cmp("==", x, y), div(a, _c(a, 2)), _c(a, 0))), active, out)
    _back(y, select(cmp(wins, y, x), a, select(cmp("==", x, y), div(a, _c(a, 2)), _c(a, 0))), active, out)


def _back(e: TExpr, a: TExpr, active, out: list) -> None:
    if not e.type.is_float or is_const(a, 0):
        return
    if isinstance(e, TRead | TScalar):
        name = e.tensor if isinstance(e, TRead) else e.name
        if active(name):
            out.append((e, a, False))
        return
    if isinstance(e, TCast):
        if e.operand.type.is_float:
            _back(e.operand, cast(e.operand.type, a), active, out)
        return
    if isinstance(e, TUnary):
        _back(e.operand, neg(a), active, out)
        return
    if isinstance(e, TSelect):
        for branch, taken in ((e.then, True), (e.otherwise, False)):
            inner: list = []
            _back(branch, a, active, inner)
            for leaf, c, _ in inner:
                wrapped = select(e.cond, c, _c(c, 0)) if taken else select(e.cond, _c(c, 0), c)
                out.append((leaf, wrapped, True))
        return
    if isinstance(e, TBinary):
        x, y = e.lhs, e.rhs
        if e.op == "+":
            _back(x, a, active, out)
            _back(y, a, active, out)
        elif e.op == "-":
            _back(x, a, active, out)
            _back(y, neg(a), active, out)
        elif e.op == "*":
            _back(x, mul(a, y), active, out)
            _back(y, mul(a, x), active, out)
        elif e.op == "/":
            _back(x, div(a, y), active, out)
            _back(y, div(mul(neg(a), x), mul(y, y)), active, out)
        elif e.op == "%":
            _back(x, a, active, out)
            _back(y, mul(neg(a), call("trunc", div(x, y))), active, out)
        elif e.op in ("min", "max"):
            _minmax(x, y, a, e.op, out, active)
        return
    if isinstance(e, TCall):
        _call(e, a, active, out)
        return
    # constants, indices, sizes: nothing


def _depends(e: TExpr, active) -> bool:
    """Whether `e` reads an active tensor or scalar."""
    if isinstance(e, TRead | TScalar) and active(e.tensor if isinstance(e, TRead) else e.name):
        return True
    return any(_depends(c, active) for c in children(e))


def _call(e: TCall, a: TExpr, active, out: list) -> None:
    fn, args = e.fn, e.args
    if fn in ZERO_GRADIENT:
        return
    if fn in NOT_DIFFERENTIABLE:
        if not any(_depends(x, active) for x in args):  # a constant factor, as `lgamma(float(K(i)))`
            return
        raise NotDifferentiable(f"`{fn}` is not differentiable yet: {NOT_DIFFERENTIABLE[fn]}")
    if fn in ("fmax", "fmin"):
        _minmax(args[0], args[1], a, "max" if fn == "fmax" else "min", out, active)
        return
    if fn == "fabs":
        x = args[0]
        _back(x, select(cmp(">", x, _c(x, 0)), a, select(cmp("<", x, _c(x, 0)), neg(a), _c(x, 0))), active, out)
        return
    if fn in UNARY:
        _back(args[0], mul(a, UNARY[fn](args[0], e)), active, out)
        return
    if fn in BINARY:
        dx, dy = BINARY[fn](args[0], args[1], e)
        _back(args[0], mul(a, dx), active, out)
        _back(args[1], mul(a, dy), active, out)
        return
    if fn == "fma":
        x, y, z = args
        _back(x, mul(a, y), active, out)
        _back(y, mul(a, x), active, out)
        _back(z, a, active, out)
        return
    if fn in NORMS:
        # norm: x_k / norm; rnorm: -x_k * rnorm^3
        for x in args:
            d = div(x, e) if fn.startswith("norm") else neg(mul(x, mul(e, mul(e, e))))
            _back(x, mul(a, d), active, out)
        return
    raise NotDifferentiable(f"`{fn}` is not differentiable yet")
