"""Execution tests of convert-{arith,math,cf,func}-to-llvm.

Small scalar functions written in func/arith/math/cf (and `tc.builtin`) are lowered by
the four passes plus `reconcile-unrealized-casts`, JIT-compiled for the host by the CPU
backend and called through ctypes. Results are compared with independent references:
exact rational arithmetic rounded to the format by hand (`round_exact`), Python's
`math`, high-precision `decimal` series, and bisection on `math.erf`/`math.erfc`.
f16/bf16 values cross the C ABI as i16 bit patterns (`arith.bitcast` in the test IR).
"""

from __future__ import annotations

import ctypes
import math
import random
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import arith, builtin, cf, func, llvm
from xdsl.dialects import math as math_dialect
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.transforms.reconcile_unrealized_casts import ReconcileUnrealizedCastsPass

from tcir.backends.cpu import CpuModule
from tcir.dialects.tc import TC
from tcir.errors import TcError
from tcir.frontend.builtins import ARITY
from tcir.passes import get_pass

LOWERING = ("convert-arith-to-llvm", "convert-math-to-llvm", "convert-cf-to-llvm", "convert-func-to-llvm")


# Lowering and JIT -----------------------------------------------------------------------


def _context() -> Context:
    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, arith.Arith, math_dialect.Math, cf.Cf, llvm.LLVM, TC):
        ctx.load_dialect(dialect)
    return ctx


def lower(text: str, passes: Sequence[str] = LOWERING) -> ModuleOp:
    """Parse, run `passes` and reconcile-unrealized-casts, verify."""
    ctx = _context()
    module = Parser(ctx, text).parse_module()
    for name in passes:
        get_pass(name)().apply(ctx, module)
    ReconcileUnrealizedCastsPass().apply(ctx, module)
    module.verify()
    return module


@cache
def jit(text: str, passes: Sequence[str] = LOWERING) -> CpuModule:
    module = lower(text, passes)
    leftovers = {op.name for op in module.walk() if not op.name.startswith(("llvm.", "builtin.module"))}
    assert not leftovers, f"ops left after lowering: {leftovers}"
    return CpuModule(module, opt_level=2)


# Float formats and exact rounding -------------------------------------------------------


@dataclass(frozen=True)
class Fmt:
    name: str
    p: int  # significand bits, implicit bit included
    emin: int
    emax: int

    @property
    def narrow(self) -> bool:
        return self.name in ("f16", "bf16")

    @property
    def carrier(self) -> str:
        """The type that crosses the C ABI."""
        return "i16" if self.narrow else self.name


F16, BF16 = Fmt("f16", 11, -14, 15), Fmt("bf16", 8, -126, 127)
F32, F64 = Fmt("f32", 24, -126, 127), Fmt("f64", 53, -1022, 1023)
FMTS = {f.name: f for f in (F16, BF16, F32, F64)}


def round_exact(value: Fraction | int | float, fmt: Fmt) -> float:
    """`value` rounded to nearest even in `fmt` (subnormals, overflow to inf)."""
    if isinstance(value, float) and (value == 0 or not math.isfinite(value)):
        return value  # keeps the sign of zero
    value = Fraction(value)
    if value == 0:
        return 0.0
    sign, a = (-1.0 if value < 0 else 1.0), abs(value)
    e = a.numerator.bit_length() - a.denominator.bit_length()
    if Fraction(2) ** e > a:
        e -= 1
    ulp = Fraction(2) ** (max(e, fmt.emin) - fmt.p + 1)
    n, rest = divmod(a, ulp)
    if rest > ulp / 2 or (rest == ulp / 2 and n % 2 == 1):
        n += 1
    result = n * ulp
    if result >= Fraction(2) ** (fmt.emax + 1):
        return sign * math.inf
    return sign * float(result)


def to_bits(x: float, fmt: Fmt) -> int:
    """Bit pattern of the `fmt` value `x` (which must be representable)."""
    if fmt is F64:
        return struct.unpack("<Q", struct.pack("<d", x))[0]
    if fmt is F16:
        return struct.unpack("<H", struct.pack("<e", x))[0]
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    return bits >> 16 if fmt is BF16 and not math.isnan(x) else (0x7FC0 if fmt is BF16 else bits)


def from_bits(b: int, fmt: Fmt) -> float:
    if fmt is F64:
        return struct.unpack("<d", struct.pack("<Q", b & (2**64 - 1)))[0]
    if fmt is F16:
        return struct.unpack("<e", struct.pack("<H", b & 0xFFFF))[0]
    if fmt is BF16:
        b = (b & 0xFFFF) << 16
    return struct.unpack("<f", struct.pack("<I", b & 0xFFFFFFFF))[0]


def ulp_diff(a: float, b: float, fmt: Fmt) -> float:
    """Distance in units in the last place of `fmt` (0 for two NaNs, inf for one)."""
    if math.isnan(a) or math.isnan(b):
        return 0 if math.isnan(a) and math.isnan(b) else math.inf
    if math.isinf(a) or math.isinf(b):
        return 0 if a == b else math.inf
    width = {"f16": 16, "bf16": 16, "f32": 32, "f64": 64}[fmt.name]

    def ordered(x: float) -> int:
        bits = to_bits(x, fmt)
        sign = 1 << (width - 1)
        return -(bits & (sign - 1)) if bits & sign else bits

    return abs(ordered(a) - ordered(b))


def same_float(a: float, b: float) -> bool:
    """Equal including the sign of zero; NaN equals NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def sample_floats(fmt: Fmt, n: int, seed: int, lo_exp: int = -30, hi_exp: int = 30) -> list[float]:
    """Edge values and random values of varied magnitude, all representable in `fmt`."""
    rng = random.Random(seed)
    big = math.ldexp(2 - 2.0 ** (1 - fmt.p), fmt.emax)
    tiny = math.ldexp(1, fmt.emin - fmt.p + 1)
    edges = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1 / 3, big, -big, tiny, -tiny,
             math.ldexp(1, fmt.emin), math.inf, -math.inf, math.nan]  # fmt: skip
    randoms = [rng.choice((-1, 1)) * rng.random() * 2.0 ** rng.randint(lo_exp, hi_exp) for _ in range(n)]
    return [round_exact(v, fmt) for v in edges + randoms]


# Test IR ---------------------------------------------------------------------------------


def scalar_function(name: str, arg_types: Sequence[str], result_type: str, body: str) -> str:
    """`func.func @name` whose arguments are %x0, %x1, ... and whose body defines %r.
    f16/bf16 arguments and results cross the ABI as i16 bits."""
    params, prologue = [], []
    for i, t in enumerate(arg_types):
        if t in ("f16", "bf16"):
            params.append(f"%a{i}: i16")
            prologue.append(f"  %x{i} = arith.bitcast %a{i} : i16 to {t}")
        else:
            params.append(f"%x{i}: {t}")
    carrier, epilogue, result = result_type, [], "%r"
    if result_type in ("f16", "bf16"):
        carrier, result = "i16", "%out"
        epilogue.append(f"  %out = arith.bitcast %r : {result_type} to i16")
    lines = [f"func.func @{name}({', '.join(params)}) -> {carrier} {{", *prologue, *body.strip().splitlines(),
             *epilogue, f"  func.return {result} : {carrier}", "}"]  # fmt: skip
    return "\n".join(lines)


INT_WIDTH = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "index": 64}


def wrap(v: int, t: str, signed: bool = True) -> int:
    """`v` as a two's complement value of type `t`, signed or unsigned."""
    w = INT_WIDTH[t]
    v &= (1 << w) - 1
    return v - (1 << w) if signed and v >= 1 << (w - 1) else v


class Caller:
    """Calls @name of a compiled module with Python values of the given types."""

    def __init__(self, module: CpuModule, name: str, arg_types: Sequence[str], result_type: str):
        # An i1 result has only its low bit defined (no zeroext): read a byte, mask it.
        self.fn = module.function(name, restype=ctypes.c_uint8) if result_type == "i1" else module.function(name)
        self.arg_types, self.result_type = arg_types, result_type

    def __call__(self, *args: float | int) -> float | int:
        raw = [self._to_c(v, t) for v, t in zip(args, self.arg_types)]
        return self._from_c(self.fn(*raw), self.result_type)

    @staticmethod
    def _to_c(v: float | int, t: str) -> float | int:
        if t in FMTS and FMTS[t].narrow:
            return wrap(to_bits(float(v), FMTS[t]), "i16")
        if t in INT_WIDTH:
            return wrap(int(v), t) if t != "i1" else bool(v & 1)
        return v

    @staticmethod
    def _from_c(v: float | int, t: str) -> float | int:
        if t in FMTS and FMTS[t].narrow:
            return from_bits(v, FMTS[t])
        return int(v) & 1 if t == "i1" else v


# Integer arithmetic ---------------------------------------------------------------------


def _sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


INT_OPS: dict[str, Callable[[int, int, str], int | None]] = {
    "addi": lambda a, b, t: a + b,
    "subi": lambda a, b, t: a - b,
    "muli": lambda a, b, t: a * b,
    "divsi": lambda a, b, t: _sdiv(a, b) if b else None,
    "divui": lambda a, b, t: wrap(a, t, False) // wrap(b, t, False) if b else None,
    "remsi": lambda a, b, t: a - b * _sdiv(a, b) if b else None,
    "remui": lambda a, b, t: wrap(a, t, False) % wrap(b, t, False) if b else None,
    "floordivsi": lambda a, b, t: a // b if b else None,
    "ceildivsi": lambda a, b, t: -(-a // b) if b else None,
    "ceildivui": lambda a, b, t: -(-wrap(a, t, False) // wrap(b, t, False)) if b else None,
    "andi": lambda a, b, t: a & b,
    "ori": lambda a, b, t: a | b,
    "xori": lambda a, b, t: a ^ b,
    "shli": lambda a, b, t: a << b if 0 <= b < INT_WIDTH[t] else None,
    "shrsi": lambda a, b, t: a >> b if 0 <= b < INT_WIDTH[t] else None,
    "shrui": lambda a, b, t: wrap(a, t, False) >> b if 0 <= b < INT_WIDTH[t] else None,
    "minsi": lambda a, b, t: min(a, b),
    "maxsi": lambda a, b, t: max(a, b),
    "minui": lambda a, b, t: min(wrap(a, t, False), wrap(b, t, False)),
    "maxui": lambda a, b, t: max(wrap(a, t, False), wrap(b, t, False)),
}
CMPI = {
    "eq": lambda a, b, t: a == b, "ne": lambda a, b, t: a != b,
    "slt": lambda a, b, t: a < b, "sle": lambda a, b, t: a <= b,
    "sgt": lambda a, b, t: a > b, "sge": lambda a, b, t: a >= b,
    "ult": lambda a, b, t: wrap(a, t, False) < wrap(b, t, False),
    "ule": lambda a, b, t: wrap(a, t, False) <= wrap(b, t, False),
    "ugt": lambda a, b, t: wrap(a, t, False) > wrap(b, t, False),
    "uge": lambda a, b, t: wrap(a, t, False) >= wrap(b, t, False),
}  # fmt: skip


def int_samples(t: str, n: int = 40, seed: int = 0) -> list[int]:
    w, rng = INT_WIDTH[t], random.Random(seed)
    lo, hi = -(1 << (w - 1)), (1 << (w - 1)) - 1
    edges = [0, 1, -1, 2, -2, 3, -7, 7, lo, hi, lo + 1, hi - 1, w - 1]
    randoms = [rng.randint(lo, hi) for _ in range(n)] + [rng.randint(-100, 100) for _ in range(n)]
    return [wrap(v, t) for v in edges + randoms]


@cache
def int_module(t: str) -> CpuModule:
    ops = [scalar_function(op, [t, t], t, f"  %r = arith.{op} %x0, %x1 : {t}") for op in INT_OPS]
    cmps = [scalar_function(f"cmp_{p}", [t, t], "i1", f"  %r = arith.cmpi {p}, %x0, %x1 : {t}") for p in CMPI]
    sel = scalar_function("select", ["i1", t, t], t, f"  %r = arith.select %x0, %x1, %x2 : {t}")
    return jit("\n".join([*ops, *cmps, sel]))


INT_TYPES = ["i8", "i32", "i64", "index"]


@pytest.mark.parametrize("t", INT_TYPES)
@pytest.mark.parametrize("op", list(INT_OPS))
def test_integer_binary_ops(op, t):
    carrier = "i64" if t == "index" else t
    fn = Caller(int_module(t), op, [carrier, carrier], carrier)
    samples = int_samples(t)
    lo = -(1 << (INT_WIDTH[t] - 1))
    for a in samples:
        for b in samples:
            if op in ("divsi", "remsi", "floordivsi", "ceildivsi") and a == lo and b == -1:
                continue  # overflow: undefined
            expected = INT_OPS[op](a, b, t)
            if expected is None:
                continue
            assert wrap(fn(a, b), t) == wrap(expected, t), (op, t, a, b)


@pytest.mark.parametrize("t", INT_TYPES)
def test_cmpi_and_select(t):
    carrier = "i64" if t == "index" else t
    module = int_module(t)
    samples = int_samples(t, n=12)
    for predicate, ref in CMPI.items():
        fn = Caller(module, f"cmp_{predicate}", [carrier, carrier], "i1")
        for a in samples:
            for b in samples:
                assert fn(a, b) == int(ref(a, b, t)), (predicate, a, b)
    select = Caller(module, "select", ["i1", carrier, carrier], carrier)
    assert select(1, 5, 9) == 5 and select(0, 5, 9) == 9


# Float arithmetic, comparisons, min/max ---------------------------------------------------


def _exact_or_float(op: str, a: float, b: float) -> Fraction | float:
    """The exact result, or the IEEE double one where that is exact too (zeros,
    infinities, NaN)."""
    if math.isfinite(a) and math.isfinite(b) and not (op == "divf" and b == 0):
        fa, fb = Fraction(a), Fraction(b)
        exact = {"addf": fa + fb, "subf": fa - fb, "mulf": fa * fb}[op] if op != "divf" else fa / fb
        if exact != 0:
            return exact
    x, y = np.float64(a), np.float64(b)
    with np.errstate(all="ignore"):
        return float({"addf": np.add, "subf": np.subtract, "mulf": np.multiply, "divf": np.divide}[op](x, y))


CMPF = {
    "false": lambda a, b: False, "true": lambda a, b: True,
    "oeq": lambda a, b: a == b, "ogt": lambda a, b: a > b, "oge": lambda a, b: a >= b,
    "olt": lambda a, b: a < b, "ole": lambda a, b: a <= b,
    "one": lambda a, b: a < b or a > b, "ord": lambda a, b: not (math.isnan(a) or math.isnan(b)),
    "ueq": lambda a, b: not (a < b or a > b), "ugt": lambda a, b: not a <= b,
    "uge": lambda a, b: not a < b, "ult": lambda a, b: not a >= b, "ule": lambda a, b: not a > b,
    "une": lambda a, b: not a == b, "uno": lambda a, b: math.isnan(a) or math.isnan(b),
}  # fmt: skip


def _minimum(a: float, b: float, is_min: bool) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        negative = math.copysign(1, a) < 0 or math.copysign(1, b) < 0
        positive = math.copysign(1, a) > 0 or math.copysign(1, b) > 0
        return -0.0 if (is_min and negative) or (not is_min and not positive) else 0.0
    return min(a, b) if is_min else max(a, b)


def _num(a: float, b: float, is_min: bool) -> float:
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return min(a, b) if is_min else max(a, b)


FLOAT_BINARY = ["addf", "subf", "mulf", "divf"]
MINMAX = {"minimumf": lambda a, b: _minimum(a, b, True), "maximumf": lambda a, b: _minimum(a, b, False),
          "minnumf": lambda a, b: _num(a, b, True), "maxnumf": lambda a, b: _num(a, b, False)}  # fmt: skip


@cache
def float_module(t: str) -> CpuModule:
    fns = [scalar_function(op, [t, t], t, f"  %r = arith.{op} %x0, %x1 : {t}") for op in [*FLOAT_BINARY, *MINMAX]]
    fns += [scalar_function(f"cmp_{p}", [t, t], "i1", f"  %r = arith.cmpf {p}, %x0, %x1 : {t}") for p in CMPF]
    fns.append(scalar_function("negf", [t], t, f"  %r = arith.negf %x0 : {t}"))
    fns.append(scalar_function("select", ["i1", t, t], t, f"  %r = arith.select %x0, %x1, %x2 : {t}"))
    return jit("\n".join(fns))


FLOAT_TYPES = ["f16", "bf16", "f32", "f64"]


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_float_arithmetic_is_correctly_rounded(t):
    fmt, module = FMTS[t], float_module(t)
    samples = sample_floats(fmt, 25, seed=1, lo_exp=-20, hi_exp=20)
    for op in FLOAT_BINARY:
        fn = Caller(module, op, [t, t], t)
        for a in samples:
            for b in samples:
                expected = round_exact(_exact_or_float(op, a, b), fmt)
                assert same_float(fn(a, b), expected), (op, a, b, fn(a, b), expected)


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_float_min_max_neg_select(t):
    fmt, module = FMTS[t], float_module(t)
    samples = sample_floats(fmt, 8, seed=2)
    for op, ref in MINMAX.items():
        fn = Caller(module, op, [t, t], t)
        for a in samples:
            for b in samples:
                got, expected = fn(a, b), ref(a, b)
                if op.endswith("numf") and a == b == 0:
                    assert got == 0  # either zero
                else:
                    assert same_float(got, expected), (op, a, b, got)
    neg = Caller(module, "negf", [t], t)
    for a in samples:
        assert same_float(neg(a), -a) or math.isnan(a)
    assert math.copysign(1, neg(0.0)) == -1
    select = Caller(module, "select", ["i1", t, t], t)
    assert select(1, 1.5, -2.0) == 1.5 and select(0, 1.5, -2.0) == -2.0


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_cmpf_all_predicates(t):
    fmt, module = FMTS[t], float_module(t)
    samples = sample_floats(fmt, 4, seed=3)
    for predicate, ref in CMPF.items():
        fn = Caller(module, f"cmp_{predicate}", [t, t], "i1")
        for a in samples:
            for b in samples:
                assert fn(a, b) == int(ref(a, b)), (predicate, a, b)


# Conversions ---------------------------------------------------------------------------

FLOAT_CASTS = [("extf", "f16", "f32"), ("extf", "f16", "f64"), ("extf", "bf16", "f32"), ("extf", "bf16", "f64"),
               ("extf", "f32", "f64"), ("truncf", "f64", "f32"), ("truncf", "f64", "f16"),
               ("truncf", "f64", "bf16"), ("truncf", "f32", "f16"), ("truncf", "f32", "bf16")]  # fmt: skip


def near_ties(src: Fmt, dst: Fmt, n: int, seed: int) -> list[float]:
    """Values of `src` at, just below and just above midpoints between neighbours in
    `dst`, where double rounding would go wrong; plus overflow and underflow."""
    rng, values = random.Random(seed), []
    for _ in range(n):
        v = round_exact(rng.uniform(0.5, 1) * 2.0 ** rng.randint(dst.emin - dst.p, dst.emax), dst)
        ulp = math.ldexp(1, max(math.frexp(v)[1] - 1, dst.emin) - dst.p + 1)
        mid = Fraction(v) + Fraction(ulp) / 2
        step = Fraction(2) ** (math.frexp(float(mid))[1] - src.p)
        for d in (-3, -1, 0, 1, 3):
            values.append(rng.choice((-1, 1)) * round_exact(mid + d * step, src))
    big = math.ldexp(2 - 2.0 ** -dst.p, dst.emax)  # the overflow threshold of dst
    return values + [round_exact(big, src), round_exact(big * (1 - 2.0**-40), src)]


@pytest.mark.parametrize("op,src,dst", FLOAT_CASTS, ids=lambda v: str(v))
def test_float_casts_round_once(op, src, dst):
    module = jit(scalar_function("cast", [src], dst, f"  %r = arith.{op} %x0 : {src} to {dst}"))
    fn = Caller(module, "cast", [src], dst)
    values = sample_floats(FMTS[src], 100, seed=4, lo_exp=-160, hi_exp=160)
    if op == "truncf":
        values += near_ties(FMTS[src], FMTS[dst], 60, seed=5)
    for x in values:
        expected = round_exact(x, FMTS[dst])
        assert same_float(fn(x), expected), (x, fn(x), expected)


INT_TO_FLOAT_TYPES = ["i1", "i8", "i16", "i32", "i64"]


def int_to_float_samples(t: str, dst: Fmt) -> list[int]:
    """Signed sample values (the same bits serve the unsigned test), with near-ties."""
    w = INT_WIDTH[t]
    if w == 1:
        return [0, 1]
    values = int_samples(t, 30, seed=6)
    for k in range(dst.p, w):  # odd numbers around 2^k: ties at precision p
        for v in ((1 << k) + (1 << (k - dst.p)) + d for d in (-1, 0, 1)):
            values += [wrap(v, t), wrap(-v, t)]
    return values + [wrap(2**w - 1, t)]


@pytest.mark.parametrize("dst", FLOAT_TYPES)
@pytest.mark.parametrize("src", INT_TO_FLOAT_TYPES)
def test_int_to_float_correctly_rounded(src, dst):
    body_s = f"  %r = arith.sitofp %x0 : {src} to {dst}"
    body_u = f"  %r = arith.uitofp %x0 : {src} to {dst}"
    module = jit(scalar_function("s", [src], dst, body_s) + "\n" + scalar_function("u", [src], dst, body_u))
    s, u = Caller(module, "s", [src], dst), Caller(module, "u", [src], dst)
    for v in int_to_float_samples(src, FMTS[dst]):
        signed = -1 if src == "i1" and v else v  # i1 true is -1 signed
        assert same_float(s(v), round_exact(signed, FMTS[dst])), (v, s(v))
        assert same_float(u(v), round_exact(wrap(v, src, False), FMTS[dst])), (v, u(v))


@pytest.mark.parametrize("src", FLOAT_TYPES)
@pytest.mark.parametrize("dst", ["i8", "i32", "i64"])
def test_float_to_int_truncates_and_saturates(src, dst):
    text = (scalar_function("s", [src], dst, f"  %r = arith.fptosi %x0 : {src} to {dst}") + "\n"
            + scalar_function("u", [src], dst, f"  %r = arith.fptoui %x0 : {src} to {dst}"))  # fmt: skip
    module = jit(text)
    s, u = Caller(module, "s", [src], dst), Caller(module, "u", [src], dst)
    w = INT_WIDTH[dst]
    for x in sample_floats(FMTS[src], 60, seed=7, lo_exp=-3, hi_exp=w + 2):
        if math.isnan(x):
            assert s(x) == 0 and u(x) == 0
            continue
        t = math.trunc(x) if math.isfinite(x) else (1 << 200 if x > 0 else -(1 << 200))
        assert s(x) == max(-(1 << (w - 1)), min((1 << (w - 1)) - 1, t)), x
        assert wrap(u(x), dst, False) == max(0, min((1 << w) - 1, t)), x


@pytest.mark.parametrize(
    "op,src,dst",
    [("index_cast", "index", "i32"), ("index_cast", "i32", "index"), ("index_cast", "i8", "index"),
     ("index_cast", "index", "i64"), ("extsi", "i8", "i64"), ("extui", "i8", "i64"), ("extsi", "i1", "i32"),
     ("extui", "i1", "i32"), ("trunci", "i64", "i8"), ("trunci", "i32", "i1")],  # fmt: skip
)
def test_integer_casts(op, src, dst):
    module = jit(scalar_function("cast", [src], dst, f"  %r = arith.{op} %x0 : {src} to {dst}"))
    c = lambda t: "i64" if t == "index" else t  # noqa: E731
    fn = Caller(module, "cast", [c(src)], c(dst))
    for v in int_samples(src, 20, seed=8) if src != "i1" else [0, -1]:
        expected = wrap(v, dst, signed=True) if op != "extui" else wrap(wrap(v, src, False), dst)
        assert wrap(fn(v), dst) == expected, (v, fn(v))


@pytest.mark.parametrize("ft,it", [("f16", "i16"), ("bf16", "i16"), ("f32", "i32"), ("f64", "i64")])
def test_bitcast_round_trip(ft, it):
    body = f"  %f = arith.bitcast %x0 : {it} to {ft}\n  %r = arith.bitcast %f : {ft} to {it}"
    to_float = jit(scalar_function("to_float", [it], ft, f"  %r = arith.bitcast %x0 : {it} to {ft}")
                   + "\n" + scalar_function("round_trip", [it], it, body))  # fmt: skip
    fn, back = Caller(to_float, "to_float", [it], ft), Caller(to_float, "round_trip", [it], it)
    for x in sample_floats(FMTS[ft], 20, seed=9):
        if math.isnan(x):
            continue
        bits = wrap(to_bits(x, FMTS[ft]), it)
        assert same_float(fn(bits), x)
        assert back(bits) == bits


def test_constants_of_every_type():
    cases = [("i1", "true", -1), ("i8", "-128", -128), ("i64", "9223372036854775807", 2**63 - 1),
             ("index", "-5", -5), ("f16", "0.1", round_exact(0.1, F16)), ("bf16", "0.1", round_exact(0.1, BF16)),
             ("bf16", "1.00390625", 1.0), ("bf16", "0x7F80", math.inf), ("f32", "0.1", round_exact(0.1, F32)),
             ("f64", "-0.0", -0.0), ("f32", "0x7FC00000", math.nan)]  # fmt: skip
    fns = [scalar_function(f"c{i}", [], t, f"  %r = arith.constant {v}" + ("" if t == "i1" else f" : {t}"))
           for i, (t, v, _) in enumerate(cases)]
    module = jit("\n".join(fns))
    for i, (t, _, expected) in enumerate(cases):
        got = Caller(module, f"c{i}", [], "i64" if t == "index" else t)()
        assert same_float(got, expected) if t in FMTS else wrap(got, t) == expected, (t, got)


# Math ops and TC builtins ----------------------------------------------------------------

PREC = 60
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459230781640628620899863")
_EULER_GAMMA = Decimal("0.57721566490153286060651209008240243104215933593992359880576723488486772677766467")


def _dec(x: float | Fraction) -> Decimal:
    x = Fraction(x)
    return Decimal(x.numerator) / Decimal(x.denominator)


def _series(first: Decimal, ratio: Callable[[int], Decimal]) -> Decimal:
    """first + first*ratio(1) + first*ratio(1)*ratio(2) + ... until negligible."""
    total, term, k = first, first, 0
    while True:
        k += 1
        term *= ratio(k)
        total += term
        if term == 0 or abs(term) < abs(total) * Decimal(10) ** (-PREC + 5):
            return total


def d_sin_pi(r: Fraction) -> Decimal:
    """sin(pi r) for |r| <= 2 (Taylor series at full precision)."""
    x = _dec(r) * _PI
    return _series(x, lambda k: -x * x / ((2 * k) * (2 * k + 1)))


def d_cos_pi(r: Fraction) -> Decimal:
    x = _dec(r) * _PI
    return _series(Decimal(1), lambda k: -x * x / ((2 * k - 1) * (2 * k)))


def d_erfc(x: Decimal) -> Decimal:
    """erfc by its Taylor series (|x| < 3) or continued fraction."""
    if x < -3:
        return 2 - d_erfc(-x)
    if x < 3:
        s = _series(x, lambda k: -x * x * (2 * k - 1) / (k * (2 * k + 1)))
        return 1 - 2 * s / _PI.sqrt()
    f = x
    for n in range(3000, 0, -1):
        f = x + Decimal(n) / 2 / f
    return (-x * x).exp() / (_PI.sqrt() * f)


def d_bessel(kind: str, nu: int, x: float) -> Decimal:
    """I_nu, J_nu (series) and Y_0, Y_1 (series with harmonic numbers) at x > 0."""
    d = _dec(x)
    t = d * d / 4
    half_pow = (d / 2) ** nu / math.factorial(nu)
    sign = 1 if kind == "i" else -1
    j = _series(half_pow, lambda k: sign * t / (k * (k + nu)))
    if kind in ("i", "j"):
        return j
    log_term = ((d / 2).ln() + _EULER_GAMMA) * 2 / _PI
    if nu == 0:  # Y0 = (2/pi)(ln(x/2)+g) J0 + (2/pi) sum (-1)^(k+1) H_k t^k/(k!)^2
        total, term, h, k = Decimal(0), Decimal(1), Decimal(0), 0
        while True:
            k += 1
            term *= -t / (k * k)
            h += Decimal(1) / k
            total -= term * h
            if abs(term * h) < Decimal(10) ** (-PREC + 5):
                return log_term * j + 2 * total / _PI
    # Y1 = -2/(pi x) + (2/pi) ln(x/2) J1 - (1/pi) sum (-1)^k (psi(k+1)+psi(k+2)) (x/2)^(2k+1)/(k!(k+1)!)
    total, term, k = Decimal(0), d / 2, 0
    h_k, h_k1 = Decimal(0), Decimal(1)  # H_k and H_(k+1)
    while True:
        total += term * (h_k + h_k1 - 2 * _EULER_GAMMA)
        k += 1
        term *= -t / (k * (k + 1))
        h_k, h_k1 = h_k1, h_k1 + Decimal(1) / (k + 1)
        if abs(term) < Decimal(10) ** (-PREC + 5):
            break
    return -2 / (_PI * d) + 2 / _PI * (d / 2).ln() * j - total / _PI


def _bisect(f: Callable[[float], float], target: float, lo: float, hi: float, increasing: bool) -> float:
    while True:
        mid = (lo + hi) / 2
        if mid in (lo, hi):
            return mid
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid


def ref_erfcinv(z: float) -> float:
    if z > 1:
        return -ref_erfcinv(2 - z)
    if z > 0.5:
        return ref_erfinv(1 - z)
    return _bisect(math.erfc, z, 0.0, 30.0, increasing=False)


def ref_erfinv(y: float) -> float:
    a = abs(y)
    if a < 0.5:
        return math.copysign(_bisect(math.erf, a, 0.0, 2 * a, increasing=True), y)
    return math.copysign(ref_erfcinv(1 - a), y)


def d_inverse_erfc(z: Decimal, guess: float) -> Decimal:
    """x with erfc(x) = z, by Newton steps at full precision from a double guess."""
    x = _dec(guess)
    for _ in range(3):
        x += (d_erfc(x) - z) / (2 / _PI.sqrt() * (-x * x).exp())
    return x


def _erfinv(y: float) -> Decimal:
    return d_inverse_erfc(1 - _dec(y), ref_erfinv(y))


def _erfcinv(z: float) -> Decimal | float:
    return d_inverse_erfc(_dec(z), ref_erfcinv(z)) if z else math.inf


def _normcdfinv(p: float) -> Decimal:
    return -Decimal(2).sqrt() * d_inverse_erfc(2 * _dec(p), ref_erfcinv(2 * p))


def _c_round(x: float) -> float:
    t = float(math.trunc(x))
    return t + math.copysign(1.0, x) if abs(x - t) >= 0.5 else t


def _fdim(x: float, y: float) -> float:
    return x - y if x > y else 0.0


def _logb(x: float) -> float:
    if not math.isfinite(x):
        return abs(x)
    return float(math.frexp(x)[1] - 1) if x else -math.inf


def _pow(x: float, y: float) -> float:
    """C's pow: overflow to inf, pole at zero."""
    try:
        return math.pow(x, y)
    except OverflowError:
        return math.inf
    except ValueError:
        if x != 0:
            return math.nan
        odd = y == math.floor(y) and math.fmod(y, 2) != 0
        return math.copysign(math.inf, x) if odd else math.inf


def _sinpi(x: float) -> Decimal:
    return d_sin_pi(Fraction(x) % 2)


def _cospi(x: float) -> Decimal:
    return d_cos_pi(Fraction(x) % 2)


@dataclass
class Ref:
    """Reference value (float or Decimal) of a TC builtin, its test inputs and its
    tolerance in ulps at f32 and f64 (f16/bf16: 1 ulp)."""

    fn: Callable[..., float | Decimal]
    domain: Callable[[random.Random], tuple[float, ...]]
    f32_ulps: float = 2
    f64_ulps: float = 2
    abs_ulps: float = 0.0  # absolute error accepted near zeros, in ulps of 1.0


def _u(lo: float, hi: float, n: int = 1) -> Callable[[random.Random], tuple[float, ...]]:
    return lambda rng: tuple(rng.uniform(lo, hi) for _ in range(n))


def _log_u(lo_exp: int, hi_exp: int, n: int = 1, signed: bool = True) -> Callable[[random.Random], tuple[float, ...]]:
    def draw(rng: random.Random) -> tuple[float, ...]:
        return tuple((rng.choice((-1, 1)) if signed else 1) * 2.0 ** rng.uniform(lo_exp, hi_exp) for _ in range(n))

    return draw


def _dec_fn(f: Callable[[Decimal], Decimal]) -> Callable[[float], Decimal]:
    return lambda x: f(_dec(x))


REFS: dict[str, Ref] = {
    "acos": Ref(math.acos, _u(-1, 1)), "acosh": Ref(math.acosh, _u(1, 1e4)),
    "asin": Ref(math.asin, _u(-1, 1)), "asinh": Ref(math.asinh, _log_u(-20, 20)),
    "atan": Ref(math.atan, _log_u(-20, 20)), "atanh": Ref(math.atanh, _u(-0.999, 0.999)),
    "cbrt": Ref(math.cbrt, _log_u(-60, 60)), "ceil": Ref(math.ceil, _log_u(-5, 30), 0, 0),
    "cos": Ref(math.cos, _u(-10, 10), abs_ulps=2), "cosh": Ref(math.cosh, _u(-80, 80)),
    "cospi": Ref(_cospi, _log_u(-10, 30), 1, 2), "erf": Ref(math.erf, _log_u(-20, 3)),
    "erfc": Ref(math.erfc, _u(-5, 25), 4, 4), "erfcinv": Ref(_erfcinv, _log_u(-60, 0.99, signed=False), 1, 2),
    "erfcx": Ref(_dec_fn(lambda x: (x * x).exp() * d_erfc(x)), _u(-9, 40), 1, 4),
    "erfinv": Ref(_erfinv, _u(-1, 1), 1, 2), "exp": Ref(math.exp, _u(-80, 80)),
    "exp10": Ref(lambda x: Decimal(10) ** _dec(x), _u(-30, 30)), "exp2": Ref(lambda x: 2.0**x, _u(-100, 100)),
    "expm1": Ref(math.expm1, _log_u(-30, 5)), "fabs": Ref(abs, _log_u(-30, 30), 0, 0),
    "floor": Ref(math.floor, _log_u(-5, 30), 0, 0), "lgamma": Ref(math.lgamma, _u(0.1, 30), 7, 5, 4),
    "log": Ref(math.log, _log_u(-100, 100, signed=False)), "log10": Ref(math.log10, _log_u(-100, 100, signed=False)),
    "log1p": Ref(math.log1p, _log_u(-30, 30, signed=False)), "log2": Ref(math.log2, _log_u(-100, 100, signed=False)),
    "logb": Ref(_logb, _log_u(-120, 120), 0, 0),
    "normcdf": Ref(_dec_fn(lambda x: d_erfc(-x / Decimal(2).sqrt()) / 2), _u(-30, 9), 1, 2),
    "normcdfinv": Ref(_normcdfinv, _u(1e-6, 1 - 1e-6), 1, 3),
    "rcbrt": Ref(lambda x: Decimal(math.copysign(1, x)) / _dec(abs(x)) ** (Decimal(1) / 3), _log_u(-60, 60), 1, 5),
    "round": Ref(_c_round, _u(-100, 100), 0, 0),
    "rsqrt": Ref(lambda x: 1 / _dec(x).sqrt(), _log_u(-100, 100, signed=False), 1, 2),
    "sin": Ref(math.sin, _u(-10, 10), abs_ulps=2), "sinh": Ref(math.sinh, _u(-80, 80)),
    "sinpi": Ref(_sinpi, _log_u(-10, 30), 1, 2), "sqrt": Ref(math.sqrt, _log_u(-100, 100, signed=False), 0, 0),
    "tan": Ref(math.tan, _u(-1.5, 1.5)), "tanh": Ref(math.tanh, _u(-10, 10)),
    "tgamma": Ref(math.gamma, _u(0.1, 30), 8, 10), "trunc": Ref(math.trunc, _log_u(-5, 30), 0, 0),
    "j0": Ref(lambda x: d_bessel("j", 0, x), _u(0.1, 20), 4, 4, 4),
    "j1": Ref(lambda x: d_bessel("j", 1, x), _u(0.1, 20), 4, 4, 4),
    "y0": Ref(lambda x: d_bessel("y", 0, x), _u(0.1, 20), 4, 4, 4),
    "y1": Ref(lambda x: d_bessel("y", 1, x), _u(0.1, 20), 4, 4, 4),
    "cyl_bessel_i0": Ref(lambda x: d_bessel("i", 0, abs(x)), _u(-80, 80), 1, 10),
    "cyl_bessel_i1": Ref(lambda x: d_bessel("i", 1, x) if x > 0 else -d_bessel("i", 1, -x), _u(-80, 80), 1, 10),
    "atan2": Ref(math.atan2, _log_u(-20, 20, 2)), "copysign": Ref(math.copysign, _log_u(-20, 20, 2), 0, 0),
    "fdim": Ref(_fdim, _u(-10, 10, 2), 0, 0), "fdivide": Ref(lambda x, y: _dec(x) / _dec(y), _log_u(-30, 30, 2), 0, 0),
    "fmax": Ref(max, _u(-10, 10, 2), 0, 0), "fmin": Ref(min, _u(-10, 10, 2), 0, 0),
    "fmod": Ref(math.fmod, _log_u(-10, 20, 2), 0, 0), "hypot": Ref(math.hypot, _log_u(-60, 60, 2)),
    "nextafter": Ref(math.nextafter, _u(-10, 10, 2), 0, 0), "pow": Ref(_pow, _u(0, 20, 2)),
    "remainder": Ref(math.remainder, _log_u(-10, 20, 2), 0, 0),
    "rhypot": Ref(lambda x, y: 1 / (_dec(x) ** 2 + _dec(y) ** 2).sqrt(), _log_u(-60, 60, 2), 1, 2),
    "fma": Ref(lambda x, y, z: _dec(x) * _dec(y) + _dec(z), _u(-10, 10, 3), 0, 0),
    "norm3d": Ref(lambda *v: sum(_dec(x) ** 2 for x in v).sqrt(), _log_u(-60, 60, 3), 1, 2),
    "rnorm3d": Ref(lambda *v: 1 / sum(_dec(x) ** 2 for x in v).sqrt(), _log_u(-60, 60, 3), 1, 3),
    "norm4d": Ref(lambda *v: sum(_dec(x) ** 2 for x in v).sqrt(), _log_u(-60, 60, 4), 1, 2),
    "rnorm4d": Ref(lambda *v: 1 / sum(_dec(x) ** 2 for x in v).sqrt(), _log_u(-60, 60, 4), 1, 3),
}  # fmt: skip


def test_every_builtin_has_a_reference():
    assert set(REFS) == set(ARITY)


class NoReference(Exception):
    """The argument lies outside the reference's domain (after rounding to the format)."""


def _nextafter(x: float, y: float, fmt: Fmt) -> float:
    """The neighbour of x toward y in `fmt`, stepping the bit pattern."""
    if math.isnan(x) or math.isnan(y):
        return math.nan
    if x == y:
        return y
    if x == 0:
        return math.copysign(from_bits(1, fmt), y)
    up = (x < y) == (x > 0)
    return from_bits(to_bits(x, fmt) + (1 if up else -1), fmt)


def _expected(name: str, args: Sequence[float], fmt: Fmt) -> float:
    """The reference, computed at high precision, rounded once to `fmt`."""
    if name == "nextafter":
        return _nextafter(*args, fmt)
    with localcontext() as ctx:
        ctx.prec = PREC
        try:
            value = REFS[name].fn(*args)
            if isinstance(value, Decimal):
                value = Fraction(value)
        except (ValueError, OverflowError, ZeroDivisionError, ArithmeticError) as err:
            raise NoReference from err
    return round_exact(value, fmt)


@cache
def builtin_module(t: str) -> CpuModule:
    fns = []
    for name, arity in ARITY.items():
        operands = ", ".join(f"%x{i}" for i in range(arity))
        types = ", ".join([t] * arity)
        body = f'  %r = tc.builtin "{name}"({operands}) : ({types}) -> {t}'
        fns.append(scalar_function("tc_" + name, [t] * arity, t, body))  # not libm's names
    return jit("\n".join(fns))


def check_function(fn: Callable[..., float], name: str, fmt: Fmt, count: int) -> None:
    """`count` random arguments from the function's domain, rounded to `fmt` (those
    that leave the domain by rounding, e.g. to 0 or inf in f16, are skipped)."""
    ref, rng = REFS[name], random.Random(name)
    tol = 1 if fmt.narrow else (ref.f32_ulps if fmt is F32 else ref.f64_ulps)
    checked = 0
    for _ in range(20 * count):
        if checked == count:
            break
        args = tuple(round_exact(v, fmt) for v in ref.domain(rng))
        if not all(map(math.isfinite, args)) or (name in ("fdivide", "fmod", "remainder") and args[1] == 0):
            continue
        try:
            expected = _expected(name, args, fmt)
        except NoReference:
            continue
        got = fn(*args)
        error = ulp_diff(got, expected, fmt)
        near_zero = abs(got - expected) <= ref.abs_ulps * 2.0 ** (1 - fmt.p)
        assert error <= tol or near_zero, f"{name}{args} = {got!r}, expected {expected!r} ({error} ulp)"
        checked += 1
    assert checked == count, f"only {checked} of {count} samples of {name} were in the domain"


@pytest.mark.parametrize("t", FLOAT_TYPES)
@pytest.mark.parametrize("name", sorted(ARITY))
def test_builtin_accuracy(name, t):
    fmt = FMTS[t]
    fn = Caller(builtin_module(t), "tc_" + name, [t] * ARITY[name], t)
    check_function(fn, name, fmt, 12 if fmt.narrow else 150)


INF, NAN = math.inf, math.nan
# C99 / CUDA special values: (function, arguments, expected), exact including signs.
SPECIALS = [
    ("erfinv", (1.0,), INF), ("erfinv", (-1.0,), -INF), ("erfinv", (1.5,), NAN), ("erfinv", (-0.0,), -0.0),
    ("erfcinv", (0.0,), INF), ("erfcinv", (2.0,), -INF), ("erfcinv", (1.0,), 0.0), ("erfcinv", (-0.5,), NAN),
    ("erfcinv", (2.5,), NAN), ("normcdfinv", (0.0,), -INF), ("normcdfinv", (1.0,), INF),
    ("normcdfinv", (0.5,), 0.0), ("normcdfinv", (1.5,), NAN), ("normcdf", (-INF,), 0.0),
    ("normcdf", (INF,), 1.0), ("normcdf", (0.0,), 0.5), ("erfcx", (-INF,), INF), ("erfcx", (INF,), 0.0),
    ("erfcx", (0.0,), 1.0), ("erfcx", (-30.0,), INF), ("cyl_bessel_i0", (0.0,), 1.0), ("cyl_bessel_i0", (-INF,), INF),
    ("cyl_bessel_i1", (-0.0,), -0.0), ("cyl_bessel_i1", (-INF,), -INF), ("cyl_bessel_i0", (1000.0,), INF),
    ("sinpi", (-0.0,), -0.0), ("sinpi", (1.0,), 0.0), ("sinpi", (-2.0,), -0.0), ("sinpi", (0.5,), 1.0),
    ("sinpi", (-1.5,), 1.0), ("sinpi", (INF,), NAN), ("sinpi", (16384.0,), 0.0), ("sinpi", (-16384.0,), -0.0),
    ("cospi", (0.5,), 0.0), ("cospi", (-1.5,), 0.0), ("cospi", (1.0,), -1.0), ("cospi", (16384.0,), 1.0),
    ("cospi", (-3.0,), -1.0), ("cospi", (-INF,), NAN),
    ("rsqrt", (0.0,), INF), ("rsqrt", (-0.0,), -INF), ("rsqrt", (INF,), 0.0), ("rsqrt", (-1.0,), NAN),
    ("rcbrt", (0.0,), INF), ("rcbrt", (-0.0,), -INF), ("rcbrt", (-8.0,), -0.5), ("rcbrt", (-INF,), -0.0),
    ("rhypot", (0.0, 0.0), INF), ("norm3d", (INF, NAN, 1.0), INF), ("norm4d", (NAN, 1.0, -INF, 2.0), INF),
    ("rnorm3d", (0.0, -0.0, 0.0), INF), ("rnorm4d", (INF, 1.0, 2.0, 3.0), 0.0), ("norm3d", (3.0, 4.0, 12.0), 13.0),
    ("log", (0.0,), -INF), ("log", (-1.0,), NAN), ("exp", (-INF,), 0.0), ("exp10", (2.0,), 100.0),
    ("logb", (0.0,), -INF), ("logb", (-INF,), INF), ("fdim", (1.0, 2.0), 0.0), ("fmax", (NAN, 1.0), 1.0),
    ("fmin", (-2.0, NAN), -2.0), ("hypot", (-INF, NAN), INF), ("pow", (NAN, 0.0), 1.0), ("pow", (-2.0, 3.0), -8.0),
    ("nextafter", (1.0, 1.0), 1.0), ("nextafter", (0.0, -0.0), -0.0), ("nextafter", (NAN, 1.0), NAN),
    ("lgamma", (1.0,), 0.0), ("tgamma", (-1.0,), NAN), ("y0", (0.0,), -INF), ("j0", (0.0,), 1.0),
    ("round", (-2.5,), -3.0), ("round", (0.25,), 0.0), ("trunc", (-0.5,), -0.0), ("fdivide", (1.0, 0.0), INF),
    ("fmod", (5.5, 2.0), 1.5), ("remainder", (5.5, 2.0), -0.5), ("copysign", (2.0, -0.0), -2.0),
    ("atan2", (0.0, -1.0), math.pi), ("fma", (2.0, 3.0, 1.0), 7.0), ("erf", (-INF,), -1.0), ("erfc", (-INF,), 2.0),
]  # fmt: skip


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_builtin_special_values(t):
    fmt, module = FMTS[t], builtin_module(t)
    for name, args, expected in SPECIALS:
        args = tuple(round_exact(a, fmt) for a in args)
        got = Caller(module, "tc_" + name, [t] * len(args), t)(*args)
        assert same_float(got, round_exact(expected, fmt)), f"{t} {name}{args} = {got!r}, expected {expected!r}"


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_builtins_propagate_nan(t):
    module = builtin_module(t)
    keeps_other = {"fmax", "fmin", "hypot", "norm3d", "norm4d", "rnorm3d", "rnorm4d", "rhypot", "copysign"}
    for name, arity in ARITY.items():
        if name in keeps_other:
            continue
        fn = Caller(module, "tc_" + name, [t] * arity, t)
        for position in range(arity):
            args = [1.5] * arity  # not 1: pow(1, NaN) is 1
            args[position] = math.nan
            assert math.isnan(fn(*args)), (name, args)


def test_nextafter_narrow_types_step_their_own_bits():
    for t, fmt in (("f16", F16), ("bf16", BF16)):
        fn = Caller(builtin_module(t), "tc_nextafter", [t, t], t)
        tiny = math.ldexp(1, fmt.emin - fmt.p + 1)
        assert fn(1.0, 2.0) == 1 + 2.0 ** (1 - fmt.p)
        assert fn(1.0, 0.0) == 1 - 2.0**-fmt.p
        assert same_float(fn(0.0, -1.0), -tiny) and fn(-0.0, 1.0) == tiny
        assert fn(-tiny, 0.0) == 0.0 and fn(math.inf, 0.0) == from_bits(to_bits(math.inf, fmt) - 1, fmt)


MATH_OPS = {  # math op -> builtin whose reference it shares
    "absf": "fabs", "acos": "acos", "acosh": "acosh", "asin": "asin", "asinh": "asinh", "atan": "atan",
    "atanh": "atanh", "cbrt": "cbrt", "ceil": "ceil", "cos": "cos", "cosh": "cosh", "erf": "erf",
    "exp": "exp", "exp2": "exp2", "expm1": "expm1", "floor": "floor", "log": "log", "log10": "log10",
    "log1p": "log1p", "log2": "log2", "round": "round", "rsqrt": "rsqrt", "sin": "sin", "sinh": "sinh",
    "sqrt": "sqrt", "tan": "tan", "tanh": "tanh", "trunc": "trunc", "atan2": "atan2", "copysign": "copysign",
    "powf": "pow", "fma": "fma",
}  # fmt: skip


@cache
def math_module(t: str) -> CpuModule:
    fns = []
    for op, name in MATH_OPS.items():
        n = ARITY[name]
        operands = ", ".join(f"%x{i}" for i in range(n))
        fns.append(scalar_function("math_" + op, [t] * n, t, f"  %r = math.{op} {operands} : {t}"))
    fns.append(scalar_function("roundeven", [t], t, f"  %r = math.roundeven %x0 : {t}"))
    fns.append(scalar_function("fpowi", [t, "i32"], t, f"  %r = math.fpowi %x0, %x1 : {t}, i32"))
    return jit("\n".join(fns))


@pytest.mark.parametrize("t", FLOAT_TYPES)
@pytest.mark.parametrize("op", sorted(MATH_OPS))
def test_math_ops(op, t):
    fn = Caller(math_module(t), "math_" + op, [t] * ARITY[MATH_OPS[op]], t)
    check_function(fn, MATH_OPS[op], FMTS[t], 10 if FMTS[t].narrow else 60)


@pytest.mark.parametrize("t", FLOAT_TYPES)
def test_math_roundeven_and_fpowi(t):
    module, fmt = math_module(t), FMTS[t]
    roundeven = Caller(module, "roundeven", [t], t)
    for x, expected in ((2.5, 2.0), (3.5, 4.0), (-0.5, -0.0), (1.25, 1.0)):
        assert same_float(roundeven(x), expected)
    fpowi = Caller(module, "fpowi", [t, "i32"], t)
    for x, n in ((-2.0, 3), (1.5, -2), (2.0, 100), (-1.0, 2**31 - 1), (0.0, -1), (3.0, 0)):
        assert same_float(fpowi(x, n), round_exact(_pow(x, float(n)), fmt)), (x, n)


@pytest.mark.parametrize("t", ["i8", "i32", "i64"])
def test_integer_math_ops(t):
    w = INT_WIDTH[t]
    ops = {"absi": lambda v: abs(v), "ctlz": lambda v: w - wrap(v, t, False).bit_length(),
           "cttz": lambda v: (wrap(v, t, False) & -wrap(v, t, False)).bit_length() - 1 if v else w,
           "ctpop": lambda v: bin(wrap(v, t, False)).count("1")}  # fmt: skip
    module = jit("\n".join(scalar_function(op, [t], t, f"  %r = math.{op} %x0 : {t}") for op in ops))
    for op, ref in ops.items():
        fn = Caller(module, op, [t], t)
        for v in int_samples(t, 20, seed=10):
            assert wrap(fn(v), t) == wrap(ref(v), t), (op, v)


# Control flow and functions -----------------------------------------------------------

LOOP = """
func.func @triangle(%n: index) -> index {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  cf.br ^head(%c0, %c0 : index, index)
^head(%i: index, %acc: index):
  %more = arith.cmpi slt, %i, %n : index
  cf.cond_br %more, ^body, ^exit(%acc : index)
^body:
  %next_acc = arith.addi %acc, %i : index
  %next = arith.addi %i, %c1 : index
  cf.br ^head(%next, %next_acc : index, index)
^exit(%r: index):
  func.return %r : index
}
func.func @halve_until_small(%a0: i16) -> i16 {
  %x = arith.bitcast %a0 : i16 to bf16
  %two = arith.constant 2.0 : bf16
  cf.br ^loop(%x : bf16)
^loop(%v: bf16):
  %big = arith.cmpf ogt, %v, %two : bf16
  %half = arith.divf %v, %two : bf16
  cf.cond_br %big, ^loop(%half : bf16), ^done
^done:
  %asserted = arith.cmpf ole, %v, %two : bf16
  cf.assert %asserted, "loop exit"
  %out = arith.bitcast %v : bf16 to i16
  func.return %out : i16
}
func.func @classify(%x: i32) -> f32 {
  cf.switch %x : i32, [
    default: ^other,
    0: ^zero,
    7: ^seven(%x : i32)
  ]
^zero:
  %z = arith.constant 0.5 : f32
  func.return %z : f32
^seven(%s: i32):
  %f = arith.sitofp %s : i32 to f32
  func.return %f : f32
^other:
  %m = arith.constant -1.0 : f32
  func.return %m : f32
}
"""


def test_loops_branches_switch_and_assert():
    module = jit(LOOP)
    triangle = Caller(module, "triangle", ["i64"], "i64")
    assert [triangle(n) for n in (0, 1, 5, 1000)] == [0, 0, 10, 499500]
    halve = Caller(module, "halve_until_small", ["bf16"], "bf16")
    assert halve(100.0) == 1.5625 and halve(1.0) == 1.0
    classify = Caller(module, "classify", ["i32"], "f32")
    assert [classify(v) for v in (0, 7, 3, -7)] == [0.5, 7.0, -1.0, -1.0]


CALLS = """
func.func private @cos(f64) -> f64
func.func private @log1pf(f32) -> f32
func.func @fact(%n: i64) -> i64 {
  %c1 = arith.constant 1 : i64
  %small = arith.cmpi sle, %n, %c1 : i64
  cf.cond_br %small, ^base, ^rec
^base:
  func.return %c1 : i64
^rec:
  %m = arith.subi %n, %c1 : i64
  %f = func.call @fact(%m) : (i64) -> i64
  %r = arith.muli %n, %f : i64
  func.return %r : i64
}
func.func @nothing(%x: index) {
  func.return
}
func.func @half_plus_one(%h: f16) -> f32 {
  %w = arith.extf %h : f16 to f32
  %one = arith.constant 1.0 : f32
  %r = arith.addf %w, %one : f32
  func.return %r : f32
}
func.func @call_half(%x: f32) -> f32 {
  %h = arith.truncf %x : f32 to f16
  %r = func.call @half_plus_one(%h) : (f16) -> f32
  func.return %r : f32
}
func.func @use(%x: f64, %i: index) -> f64 {
  func.call @nothing(%i) : (index) -> ()
  %c = func.call @cos(%x) : (f64) -> f64
  %y = arith.truncf %x : f64 to f32
  %l = func.call @log1pf(%y) : (f32) -> f32
  %lw = arith.extf %l : f32 to f64
  %r = arith.addf %c, %lw : f64
  func.return %r : f64
}
"""


def test_calls_recursion_void_and_external_declarations():
    module = jit(CALLS)
    fact = Caller(module, "fact", ["i64"], "i64")
    assert [fact(n) for n in (0, 1, 5, 20)] == [1, 1, 120, math.factorial(20)]
    assert Caller(module, "call_half", ["f32"], "f32")(2.5) == 3.5
    assert Caller(module, "half_plus_one", ["f16"], "f32")(0.5) == 1.5  # f16 arguments travel as i16 bits
    use = Caller(module, "use", ["f64", "i64"], "f64")
    x = 0.75
    assert use(x, 3) == math.cos(x) + float(round_exact(math.log1p(round_exact(x, F32)), F32))


# Errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,passes,message",
    [
        ("func.func @f(%m: memref<4xf32>) {\n func.return\n}", ["convert-func-to-llvm"],
         "convert-memref-to-llvm"),
        ("func.func @f(%x: f32) -> (f32, f32) {\n func.return %x, %x : f32, f32\n}", ["convert-func-to-llvm"],
         "2 results"),
        ("func.func @f(%v: vector<4xf32>) -> vector<4xf32> {\n %r = arith.addf %v, %v : vector<4xf32>\n"
         " func.return %r : vector<4xf32>\n}", ["convert-arith-to-llvm"], "vector"),
        ("func.func @f(%a: i32) -> i32 {\n %s, %o = arith.addui_extended %a, %a : i32, i1\n"
         " func.return %s : i32\n}", ["convert-arith-to-llvm"], "arith.addui_extended"),
        ("func.func @f(%a: i32) -> i32 {\n %r = math.ipowi %a, %a : i32\n func.return %r : i32\n}",
         ["convert-math-to-llvm"], "math.ipowi"),
    ],  # fmt: skip
    ids=["memref-argument", "two-results", "vector", "addui-extended", "ipowi"],
)
def test_unsupported_input_is_a_tc_error(text, passes, message):
    with pytest.raises(TcError, match=message):
        lower(text, passes)


def test_passes_work_in_any_order():
    order = ["convert-func-to-llvm", "convert-cf-to-llvm", "convert-math-to-llvm", "convert-arith-to-llvm"]
    module = lower(LOOP + CALLS, order)
    assert all(op.name.startswith(("llvm.", "builtin.module")) for op in module.walk())


def test_index_and_bf16_become_i64_and_i16_everywhere():
    module = lower(LOOP)
    types = {str(t) for op in module.walk() for t in [*(r.type for r in op.results), *(a.type for r in op.regions
                                                            for b in r.blocks for a in b.args)]}  # fmt: skip
    assert not {"index", "bf16"} & types
