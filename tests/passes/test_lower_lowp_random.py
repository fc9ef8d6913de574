"""Property tests of lower-lowp: random formats x every operation x random operands and
rounding modes, against tcir.testing.exact_formats (hypothesis; `ci` runs few examples,
`make fuzz` FUZZ_SCALE times more, tests/conftest.py).

Each example compiles one kernel holding every operation of the drawn format (casts
from f32 and f64 in the drawn modes, to f64, to f32, arithmetic, min/max, neg/abs), so
formats the named ones do not exercise (1 exponent bit, no mantissa, large or negative
biases, 9 exponent bits, 16-bit fixed point with wrap) are covered too.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples
from test_lower_lowp import (
    MODES,
    F32Ref,
    assert_floats,
    assert_patterns,
    dtype_of,
    exact_encode_all,
    invalid_results,
    kernel_source,
    lowp_type,
    modifiers,
    random_bits,
    run,
    storage,
    text,
    values_f64,
)
from xdsl.dialects.builtin import f32, f64

from tcir.errors import TcError
from tcir.lowp import FixedFormat, FloatFormat
from tcir.testing import exact_formats as exact


@st.composite
def float_formats(draw) -> FloatFormat:
    kind = draw(st.sampled_from(["ieee", "fn", "fnuz", "unsigned", "finite"]))
    exponent = draw(st.integers(2 if kind == "ieee" else 1, 9))
    low_mantissa = 1 if kind == "ieee" or (kind == "fn" and exponent == 1) else 0
    mantissa = 0 if kind == "unsigned" else draw(st.integers(low_mantissa, 15 - exponent))
    default = 2 ** (exponent - 1) - 1
    bias = draw(st.integers(default - 6, default + 6))
    try:
        return FloatFormat("random", exponent, mantissa, bias, kind)
    except TcError:  # beyond the range bound: the default bias
        return FloatFormat("random", exponent, mantissa, None, kind)


@st.composite
def fixed_formats(draw) -> FixedFormat:
    signed = draw(st.booleans())
    bits = draw(st.integers(1 if not signed else 2, 16))
    fraction = draw(st.integers(0, bits - (1 if signed else 0)))
    overflow = draw(st.sampled_from(["saturate", "wrap"]))
    float_overflow = draw(st.sampled_from(["saturate", "wrap", "zero"]))
    return FixedFormat("random", bits - fraction, fraction, signed, overflow, float_overflow)


def _operands(fmt, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1 << fmt.bits, n) for _ in range(3)]


def _inputs(fmt, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """f32 and f64 inputs around the format's values: exact values, midpoints, nudged."""
    rng = np.random.default_rng(seed)
    if isinstance(fmt, FloatFormat):
        values = values_f64(fmt)
        values = values[np.isfinite(values)]
    else:
        values = np.array([float(exact.decode(fmt, p)) for p in range(1 << fmt.bits)])
    picked = rng.choice(values, n) * (1 + rng.choice([0, 0, 2.0 ** -20, -2.0 ** -30, 0.5, -0.25, 3], n))
    picked[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e-30, 1.0]
    with np.errstate(over="ignore"):
        return picked.astype(np.float32), picked * (1 + rng.random(n) * 2.0 ** -35)


N = 600


@given(fmt=float_formats(), seed=st.integers(0, 2 ** 16))
@settings(max_examples=examples(3))
def test_random_float_formats(fmt, seed):
    t = lowp_type(fmt)
    x32, x64 = _inputs(fmt, N, seed)
    a, b, c = _operands(fmt, N, seed + 1)
    bits = random_bits(N, seed + 2)
    cast_specs = [(f"{{w}} = lowp.cast %a{k}{modifiers(r, o)} : {s} to {text(t)}", t)
                  for k, s in ((0, "f32"), (1, "f64")) for r, o in MODES]
    back = [(f"{{w}} = lowp.cast %a2 : {text(t)} to f64", f64),
            (f"{{w}} = lowp.cast %a2 rounding toward_zero : {text(t)} to f32", f32)]
    rounding = ["nearest_even", "toward_zero", "stochastic"][seed % 3]
    overflow = ["format", "saturate"][seed % 2]
    arith_ops = ["add", "sub", "mul", "div"]
    arith = [(f"{{w}} = lowp.{op} %a2, %a3{modifiers(rounding, overflow)} : {text(t)}", t) for op in arith_ops]
    arith.append((f"{{w}} = lowp.fma %a2, %a3, %a4{modifiers(rounding, overflow)} : {text(t)}", t))
    others = [(f"{{w}} = lowp.{op} %a2, %a3 : {text(t)}", t) for op in ("min", "max")]
    unary = ("abs",) if fmt.kind == "unsigned" else ("neg", "abs")
    others += [(f"{{w}} = lowp.{op} %a2 : {text(t)}", t) for op in unary]
    specs = cast_specs + back + arith + others
    results = iter(run(kernel_source([f32, f64, t, t, t], specs, random=True),
                       [x32, x64, *(x.astype(dtype_of(t)) for x in (a, b, c))], [dtype_of(ty) for _, ty in specs],
                       bits))
    for values in (x32, x64):
        for r, o in MODES:
            want = exact_encode_all(fmt, values, r, o, bits if r == "stochastic" else None)
            assert_patterns(fmt, values, next(results), want, f"{fmt} from {values.dtype} {r} {o}")
    exact_values = [exact.decode(fmt, int(p)) for p in a]
    assert_floats(a, next(results), np.array([float(v) for v in exact_values]), f"{fmt} -> f64")
    want = F32Ref.encode_all(exact_values, "toward_zero")
    assert_floats(a, next(results), want, f"{fmt} -> f32 toward_zero")
    r = bits if rounding == "stochastic" else None
    for op in arith_ops + ["fma"]:
        operands = (a, b, c) if op == "fma" else (a, b)
        want = [getattr(exact, op)(fmt, *map(int, args), rounding, overflow, None if r is None else int(r[k]))
                for k, args in enumerate(zip(*operands))]
        assert_patterns(fmt, operands, next(results), want, f"{fmt} {op} {rounding} {overflow}",
                        nan_zero_either=invalid_results(fmt, a, b, op, c))
    for op in ("min", "max"):
        assert_patterns(fmt, (a, b), next(results), [getattr(exact, op)(fmt, int(x), int(y)) for x, y in zip(a, b)],
                        f"{fmt} {op}")
    for op in unary:
        assert_patterns(fmt, a, next(results), [getattr(exact, op)(fmt, int(x)) for x in a], f"{fmt} {op}")


@given(fmt=fixed_formats(), seed=st.integers(0, 2 ** 16))
@settings(max_examples=examples(3))
def test_random_fixed_formats(fmt, seed):
    t = lowp_type(fmt)
    x32, x64 = _inputs(fmt, N, seed)
    a, b, c = _operands(fmt, N, seed + 1)
    bits = random_bits(N, seed + 2)
    rounding = ["nearest_even", "toward_zero", "stochastic"][seed % 3]
    overflow = ["format", "saturate"][seed % 2]
    specs = [(f"{{w}} = lowp.cast %a{k}{modifiers(r, o)} : {s} to {text(t)}", t)
             for k, s in ((0, "f32"), (1, "f64")) for r, o in MODES]
    specs.append((f"{{w}} = lowp.cast %a2 : {text(t)} to f64", f64))
    ops = ["add", "sub", "mul", "div", "fma"]
    specs += [(f"{{w}} = lowp.{op} %a2, %a3{', %a4' if op == 'fma' else ''}{modifiers(rounding, overflow)} : "
               f"{text(t)}", t) for op in ops]
    results = iter(run(kernel_source([f32, f64, t, t, t], specs, random=True),
                       [x32, x64, *(storage(fmt, x).astype(dtype_of(t)) for x in (a, b, c))],
                       [dtype_of(ty) for _, ty in specs], bits))
    for values in (x32, x64):
        for r, o in MODES:
            want = exact_encode_all(fmt, values, r, o, bits if r == "stochastic" else None)
            assert_patterns(fmt, values, next(results), want, f"{fmt} from {values.dtype} {r} {o}")
    assert_floats(a, next(results), np.array([float(exact.decode(fmt, int(p))) for p in a]), f"{fmt} -> f64")
    for op in ops:
        operands = (a, b, c) if op == "fma" else (a, b)
        want = []
        for k, args in enumerate(zip(*operands)):
            args = [int(v) for v in args]
            if op == "div" and exact.decode(fmt, args[1]) == 0:
                value = exact.decode(fmt, args[0])
                limit = 0 if value == 0 else (fmt.min_value if value < 0 else fmt.max_value)
                want.append(int(limit * 2 ** fmt.fraction) & ((1 << fmt.bits) - 1))
                continue
            want.append(getattr(exact, op)(fmt, *args, rounding, overflow,
                                           None if rounding != "stochastic" else int(bits[k])))
        assert_patterns(fmt, operands, next(results), want, f"{fmt} {op} {rounding} {overflow}")
