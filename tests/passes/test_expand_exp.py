"""expand-exp: math.exp on f32/f64 as vectorizable arithmetic, checked against a
correctly rounded exp (40-digit `decimal`, rounded to the format by hand) over the
whole range: random arguments, the overflow and subnormal edges, infinities, NaN."""

from __future__ import annotations

import math
import random
from decimal import Decimal, localcontext

import pytest
from test_llvm_lowering import F32, F64, LOWERING, jit, round_exact, same_float, scalar_function, ulp_diff

from tcir.backends.cpu import call

BOUNDS = {"f32": (-104.0, 89.0), "f64": (-746.0, 710.0)}


def exact_exp(x: float, fmt) -> float:
    if math.isnan(x) or math.isinf(x):
        return x if math.isnan(x) or x > 0 else 0.0
    with localcontext() as ctx:
        ctx.prec = 40
        ctx.Emin, ctx.Emax = -999999, 999999
        return round_exact(Decimal(x).exp(), fmt)


def samples(fmt, n: int = 3000) -> list[float]:
    rng = random.Random(7)
    low, high = BOUNDS[fmt.name]
    edges = [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, low, high, 88.72283935546875,
             88.7228317260742, -87.33654022216797, -103.27892303466797, 709.782712893384,
             -708.3964185322641, -744.4400719213812, -745.1332191019411, 1e-30, -1e-30]
    values = edges + [rng.uniform(low, high) for _ in range(n)] + [rng.uniform(-1, 1) for _ in range(n)]
    return [round_exact(v, fmt) for v in values]


@pytest.mark.parametrize("fmt", [F32, F64], ids=lambda f: f.name)
def test_exp_within_two_ulp(fmt):
    module = jit(scalar_function("f", [fmt.name], fmt.name, f"%r = math.exp %x0 : {fmt.name}"),
                        ("expand-exp", *LOWERING))
    assert "llvm.exp" not in module.llvm_ir and "expf" not in module.llvm_ir
    fn = module.function("f")
    worst = 0.0
    for x in samples(fmt):
        got, want = call(fn, [], [x]), exact_exp(x, fmt)
        if math.isnan(want) or want in (0.0, math.inf):
            assert same_float(got, want), (x, got, want)
        else:
            worst = max(worst, ulp_diff(got, want, fmt))
            assert worst <= 2, (x, got, want)


def test_other_types_are_left_alone():
    module = jit(scalar_function("f", ["f16"], "f16", "%r = math.exp %x0 : f16"), ("expand-exp", *LOWERING))
    assert "expf" in module.llvm_ir or "llvm.exp" in module.llvm_ir
