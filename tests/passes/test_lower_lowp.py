"""Execution tests of `lower-lowp` (issue 15 item 3): lowp casts and arithmetic, lowered
by lower-lowp and the llvm stage, JIT-compiled for the host and run over arrays.

Each kernel is a loop over memrefs (inputs, outputs, and random bits for stochastic
rounding) around one lowp op. Expected results come from ml_dtypes (named formats:
`astype`, decoded values) and from `tcir.testing.exact_formats` (exact rational
arithmetic, for every format and every rounding mode), never from the code under test.
Any NaN pattern matches any NaN pattern; a finite format's NaN (0/0) may be either zero.

CI sizes: every pattern of the 4-, 6- and 8-bit formats; every f16 and bf16 pattern and
10^6 random f32 patterns plus the boundary values of each named format; all pairs of
e4m3fn, e5m2, e2m1 and e3m2 values for the binary ops. `TCIR_EXHAUSTIVE=1` widens the
sweeps (test_lower_lowp_exhaustive.py).

The helpers here (`Kernels`, `cast`, `binary`, ...) are imported by the other
test_lower_lowp_*.py files.
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from functools import cache

import ml_dtypes
import numpy as np
import pytest
from xdsl.dialects.builtin import IntegerType, bf16, f16, f32, f64
from xdsl.ir import Attribute
from xdsl.parser import Parser

from tcir.backends.cpu import CpuModule
from tcir.dialects import default_context
from tcir.dialects.lowp import LowpFixedType, LowpFloatType
from tcir.lowp import NAMED_FORMATS, FixedFormat, FloatFormat
from tcir.passes import LLVM_PASSES, get_pass
from tcir.testing import exact_formats as exact

EXHAUSTIVE = os.environ.get("TCIR_EXHAUSTIVE") == "1"
CHUNK = 8192
NAMED = {f.name: f for f in NAMED_FORMATS}


# Types and formats ----------------------------------------------------------------------


def lowp_type(fmt: FloatFormat | FixedFormat) -> Attribute:
    """The lowp type of a tcir.lowp format."""
    if isinstance(fmt, FloatFormat):
        return LowpFloatType(fmt.exponent, fmt.mantissa, fmt.kind, fmt.bias)
    return LowpFixedType(fmt.integer, fmt.fraction, fmt.signed, fmt.overflow, fmt.float_overflow)


def dtype_of(t: Attribute, unsigned: bool = False) -> np.dtype:
    """The NumPy dtype of a memref element of type t (lowp types: their storage)."""
    if isinstance(t, LowpFloatType):
        return np.dtype(f"uint{t.storage_width}")
    if isinstance(t, LowpFixedType):
        return np.dtype(f"{'int' if t.is_signed else 'uint'}{t.storage_width}")
    if t == f16:
        return np.dtype(np.float16)
    if t == bf16:
        return np.dtype(ml_dtypes.bfloat16)
    if t == f32:
        return np.dtype(np.float32)
    if t == f64:
        return np.dtype(np.float64)
    assert isinstance(t, IntegerType)
    return np.dtype(f"{'uint' if unsigned else 'int'}{t.width.data}")


def text(t: Attribute) -> str:
    return str(t)


# Kernels --------------------------------------------------------------------------------


def kernel_source(inputs: list[Attribute], ops: list[tuple[str, Attribute]], random: bool = False,
                  name: str = "k") -> str:
    """A function looping over CHUNK elements: loads %a0, %a1 ... (and the random bits
    %r), then each op text defines %w<k> (`{w}` in the text), stored to output k."""
    memref = lambda t: f"memref<{CHUNK}x{text(t)}>"  # noqa: E731
    args = [f"%x{k}: {memref(t)}" for k, t in enumerate(inputs)]
    args += [f"%y{k}: {memref(t)}" for k, (_, t) in enumerate(ops)]
    loads = [f"%a{k} = memref.load %x{k}[%i] : {memref(t)}" for k, t in enumerate(inputs)]
    if random:
        args.append(f"%rbits: memref<{CHUNK}xi32>")
        loads.append(f"%r = memref.load %rbits[%i] : memref<{CHUNK}xi32>")
    body = [op.format(w=f"%w{k}") for k, (op, _) in enumerate(ops)]
    stores = [f"memref.store %w{k}, %y{k}[%i] : {memref(t)}" for k, (_, t) in enumerate(ops)]
    lines = "\n    ".join(loads + body + stores)
    return f"""
func.func @{name}({", ".join(args)}) {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant {CHUNK} : index
  scf.for %i = %c0 to %n step %c1 {{
    {lines}
  }}
  func.return
}}"""


def lower(source: str):
    """Parse, run the llvm stage (lower-lowp first), verify."""
    ctx = default_context()
    module = Parser(ctx, source).parse_module()
    module.verify()  # the lowp ops as written are valid
    for name in LLVM_PASSES:
        get_pass(name)().apply(ctx, module)
    module.verify()
    return module


@cache
def compiled(source: str) -> CpuModule:
    return CpuModule(lower(source), opt_level=2)


def run(source: str, inputs: list[np.ndarray], outputs: list[np.dtype], random: np.ndarray | None = None,
        name: str = "k") -> list[np.ndarray]:
    """Call kernel `name` of `source` over the arrays (of one length), CHUNK at a time."""
    fn = compiled(source).function(name)
    count = len(inputs[0])
    padded = max(-(-count // CHUNK), 1) * CHUNK
    ins = [np.zeros(padded, a.dtype) for a in inputs]
    for buffer, a in zip(ins, inputs):
        buffer[:count] = a
    outs = [np.zeros(padded, dt) for dt in outputs]
    extra = []
    if random is not None:
        r = np.zeros(padded, np.uint32)
        r[:count] = random
        extra = [r]
    for start in range(0, padded, CHUNK):
        fn(*(a[start:].ctypes.data for a in (*ins, *outs, *extra)))
    return [o[:count] for o in outs]


def modifiers(rounding: str = "nearest_even", overflow: str = "format") -> str:
    text_ = ""
    if rounding != "nearest_even":
        text_ += f" rounding {rounding}"
    if rounding == "stochastic":
        text_ += " random %r"
    if overflow != "format":
        text_ += f" overflow {overflow}"
    return text_


def casts(values: np.ndarray, source: Attribute, targets: list[tuple], random: np.ndarray | None = None,
          unsigned_input: bool = False) -> list[np.ndarray]:
    """lowp.cast of each value to each target: (type, rounding, overflow[, unsigned
    result]), all in one kernel."""
    ui = "unsigned " if unsigned_input else ""
    ops, dtypes = [], []
    for target in targets:
        t, rounding, overflow, *rest = target
        ur = "unsigned " if rest and rest[0] else ""
        ops.append((f"{{w}} = lowp.cast %a0{modifiers(rounding, overflow)} : {ui}{text(source)} to {ur}{text(t)}", t))
        dtypes.append(dtype_of(t, bool(ur)))
    stochastic = any(target[1] == "stochastic" for target in targets)
    source_text = kernel_source([source], ops, random=stochastic)
    values = np.asarray(values).astype(dtype_of(source, unsigned_input), copy=False)
    return run(source_text, [values], dtypes, random if stochastic else None)


def cast(values: np.ndarray, source: Attribute, target: Attribute, rounding: str = "nearest_even",
         overflow: str = "format", random: np.ndarray | None = None, unsigned_input: bool = False,
         unsigned_result: bool = False) -> np.ndarray:
    """lowp.cast of each value (in the source's memref dtype) to `target`."""
    return casts(values, source, [(target, rounding, overflow, unsigned_result)], random, unsigned_input)[0]


def op_text(op: str, t: Attribute, arity: int, rounding: str = "nearest_even", overflow: str = "format",
            predicate: str | None = None) -> tuple[str, Attribute]:
    names = ", ".join(f"%a{k}" for k in range(arity))
    if op == "cmp":
        return f"{{w}} = lowp.cmp {predicate}, {names} : {text(t)}", IntegerType(1)
    if op in ("min", "max"):
        return f"{{w}} = lowp.{op} {names} : {text(t)}", t
    if op in ("neg", "abs"):
        return f"{{w}} = lowp.{op} %a0{modifiers('nearest_even', overflow)} : {text(t)}", t
    return f"{{w}} = lowp.{op} {names}{modifiers(rounding, overflow)} : {text(t)}", t


ARITY = {"neg": 1, "abs": 1, "fma": 3}


def ops(t: Attribute, operands: list[np.ndarray], specs: list[tuple], random: np.ndarray | None = None
        ) -> list[np.ndarray]:
    """Several lowp ops over operand arrays (storage patterns) of type t, one kernel:
    specs are (op, rounding, overflow, predicate)."""
    texts = [op_text(op, t, ARITY.get(op, 2), rounding, overflow, predicate)
             for op, rounding, overflow, predicate in specs]
    arity = max(ARITY.get(spec[0], 2) for spec in specs)
    stochastic = any(spec[1] == "stochastic" for spec in specs)
    source = kernel_source([t] * arity, texts, random=stochastic)
    dt = dtype_of(t)
    outputs = [np.dtype(np.bool_) if spec[0] == "cmp" else dt for spec in specs]
    return run(source, [np.asarray(a).astype(dt) for a in operands[:arity]], outputs,
               random if stochastic else None)


# Comparisons ----------------------------------------------------------------------------


def patterns_of(fmt: FloatFormat | FixedFormat, storage: np.ndarray) -> np.ndarray:
    """Storage values as patterns (non-negative ints below 2**bits)."""
    return storage.astype(np.int64) & ((1 << fmt.bits) - 1)


@cache
def _nan_table(fmt) -> np.ndarray:
    return np.array([isinstance(v, float) and math.isnan(v) for v in (exact.decode(fmt, p)
                                                                       for p in range(1 << fmt.bits))])


@cache
def values_f64(fmt) -> np.ndarray:
    """The value of every pattern as a float64 (exact: every format value is one)."""
    return np.array([float(exact.decode(fmt, p)) for p in range(1 << fmt.bits)])


def is_nan_pattern(fmt, patterns: np.ndarray) -> np.ndarray:
    if not isinstance(fmt, FloatFormat):
        return np.zeros(len(patterns), bool)
    return _nan_table(fmt)[np.asarray(patterns, np.int64)]


def assert_patterns(fmt, inputs, got: np.ndarray, want: np.ndarray, what: str = "",
                    nan_zero_either: np.ndarray | None = None) -> None:
    """Equal patterns of `fmt`; any NaN matches any NaN; where `nan_zero_either`, a finite
    format's two zeros both match."""
    got, want = patterns_of(fmt, np.asarray(got)), np.asarray(want, np.int64)
    differ = got != want
    if differ.any():
        differ &= ~(is_nan_pattern(fmt, got) & is_nan_pattern(fmt, want))
    if nan_zero_either is not None and isinstance(fmt, FloatFormat) and fmt.kind == "finite":
        zeros = {0, 1 << (fmt.bits - 1)}
        differ &= ~(nan_zero_either & np.isin(got, list(zeros)))
    if differ.any():
        where = np.flatnonzero(differ)[:8]
        inputs = list(zip(*inputs)) if isinstance(inputs, tuple) else list(np.asarray(inputs).ravel())
        shown = [(inputs[i], hex(got[i]), hex(want[i])) for i in where]
        raise AssertionError(f"{getattr(fmt, 'name', fmt)} {what}: {differ.sum()} of {len(got)} differ "
                             f"(input, ours, expected): {shown}")


def assert_floats(inputs, got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    """Bit-equal floats; any NaN matches any NaN."""
    got, want = np.asarray(got), np.asarray(want)
    bits = f"uint{got.dtype.itemsize * 8}"
    differ = got.view(bits) != want.view(bits)
    differ &= ~(np.isnan(got.astype(np.float64)) & np.isnan(want.astype(np.float64)))
    if differ.any():
        where = np.flatnonzero(differ)[:8]
        shown = [(np.asarray(inputs).ravel()[i], got[i], want[i]) for i in where]
        raise AssertionError(f"{what}: {differ.sum()} of {len(got)} differ (input, ours, expected): {shown}")


def exact_encode_all(fmt, values, rounding="nearest_even", overflow="format", random=None, exact_source=False):
    """exact.encode of each value: floats as floats, or as Fractions (`exact_source`)."""
    out = np.empty(len(values), np.int64)
    for k, v in enumerate(values):
        if exact_source:
            v = int(v) if isinstance(v, (int, np.integer)) else Fraction(v)
        else:
            v = float(v)
        out[k] = exact.encode(fmt, v, rounding, overflow, None if random is None else int(random[k]))
    return out


# Formats used below ---------------------------------------------------------------------

FLOATS = [f for f in NAMED_FORMATS if isinstance(f, FloatFormat)]
INTS = [f for f in NAMED_FORMATS if isinstance(f, FixedFormat)]
E4M3FN, E5M2 = NAMED["float8_e4m3fn"], NAMED["float8_e5m2"]
E2M1, E3M2 = NAMED["float4_e2m1fn"], NAMED["float6_e3m2fn"]
USER_FLOATS = [
    FloatFormat("fp7_e3m3fn", 3, 3, kind="fn"),
    FloatFormat("fp12_e5m6b9", 5, 6, bias=9),
    FloatFormat("fp5_e2m2fnuz", 2, 2, kind="fnuz"),
    FloatFormat("fp6_e5m0fnu", 5, 0, bias=20, kind="unsigned"),
    FloatFormat("fp16_e9m6fn", 9, 6, kind="fn"),
    FloatFormat("fp8_e3m4fin", 3, 4, kind="finite"),
]
Q4_4 = FixedFormat("q4_4", 4, 4)
Q4_4_WRAP = FixedFormat("q4_4w", 4, 4, overflow="wrap")
UQ2_6 = FixedFormat("uq2_6", 2, 6, signed=False)
Q3_2_WRAP = FixedFormat("q3_2w", 3, 2, overflow="wrap")
FIXED = [Q4_4, Q4_4_WRAP, UQ2_6, Q3_2_WRAP]


def ml_dtype(fmt) -> np.dtype:
    return np.dtype(getattr(ml_dtypes, fmt.name))


def ids(f) -> str:
    return f.name




def storage(fmt, patterns: np.ndarray) -> np.ndarray:
    """Patterns sign-extended for signed fixed point: routines read the low bits only, so
    operands whose high bits are not zero read the same (results have them zero)."""
    patterns = np.asarray(patterns, np.int64)
    if isinstance(fmt, FixedFormat) and fmt.signed:
        return np.where(patterns >= 1 << (fmt.bits - 1), patterns - (1 << fmt.bits), patterns)
    return patterns


def random_bits(n: int, seed: int) -> np.ndarray:
    bits = np.random.default_rng(seed).integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    bits[: n // 50] = 0  # the extremes, where a threshold off by one would show
    bits[n // 50: n // 25] = 0xFFFFFFFF
    return bits


def sample(values, n: int, seed: int):
    values = np.asarray(values)
    if len(values) <= n:
        return values
    return values[np.sort(np.random.default_rng(seed).choice(len(values), n, replace=False))]


@cache
def random_f32() -> np.ndarray:
    """10^6 seeded random f32 bit patterns (every exponent alike), NaNs included."""
    rng = np.random.default_rng(2024)
    return rng.integers(0, 1 << 32, 1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)


def boundaries(fmt, dtype) -> np.ndarray:
    """Every value of `fmt`, every midpoint between neighbours, the overflow threshold
    (half an ulp above the largest value), beyond it, the subnormal range down to below
    half the smallest value; each with its neighbours one ulp of `dtype` away, both
    signs; then the specials and `dtype`'s extremes."""
    if isinstance(fmt, FloatFormat):
        finite = np.unique(np.abs(values_f64(fmt)[np.isfinite(values_f64(fmt))]))
        top = finite[-1]
        ulp = top - finite[-2] if len(finite) > 1 else top
        tiny = finite[finite > 0][0]
        points = np.concatenate([finite, (finite[:-1] + finite[1:]) / 2,
                                 [top + ulp / 2, top + ulp, 2 * top, top * 1e6, tiny / 4, tiny / 2, tiny * 0.75,
                                  tiny * 1.5, tiny * 1e-6]])
    else:
        span = 1 << fmt.bits
        points = np.concatenate([np.arange(-4 * span, 4 * span + 1) / 2, [2.0 ** 31, 1e12]]) * 2.0 ** -fmt.fraction
    with np.errstate(over="ignore"):
        x = points.astype(dtype)
    x = np.concatenate([x, np.nextafter(x, dtype(np.inf)), np.nextafter(x, dtype(-np.inf))])
    tail = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, np.finfo(dtype).smallest_subnormal,
                     np.finfo(dtype).max], dtype)
    return np.concatenate([x, -x, tail])


def ml_cast(values: np.ndarray, fmt) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return values.astype(ml_dtype(fmt)).view(np.uint8).astype(np.int64)


def named_rounding(fmt) -> str:
    """ml_dtypes' rounding for a format: nearest even; truncation for int4, uint4, int2,
    uint2 (lowp.cast's default is nearest even: the same cast of ml_dtypes is `rounding
    toward_zero`)."""
    return "toward_zero" if isinstance(fmt, FixedFormat) else "nearest_even"


def all_16bit(dtype) -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(dtype)


F16_FMT, BF16_FMT = FloatFormat("f16", 5, 10), FloatFormat("bf16", 8, 7)


# Decoding: every pattern -> f64, f32, f16, bf16 --------------------------------------------

DECODE_TARGETS = [(f64, "nearest_even", "format"), (f32, "nearest_even", "format"),
                  (f16, "nearest_even", "format"), (bf16, "nearest_even", "format")]


@pytest.mark.parametrize("fmt", FLOATS + INTS, ids=ids)
def test_decode_every_pattern_against_ml_dtypes(fmt):
    patterns = np.arange(1 << fmt.bits)
    values = patterns.astype(np.uint8).view(ml_dtype(fmt))
    got64, got32, got16, gotb16 = casts(storage(fmt, patterns), lowp_type(fmt), DECODE_TARGETS)
    assert_floats(patterns, got64, values.astype(np.float64), f"{fmt.name} -> f64")
    assert_floats(patterns, got32, values.astype(np.float32), f"{fmt.name} -> f32")
    with np.errstate(over="ignore"):  # every value is an f32 value: one rounding to 16 bits
        assert_floats(patterns, got16, values.astype(np.float32).astype(np.float16), f"{fmt.name} -> f16")
        assert_floats(patterns, gotb16, values.astype(np.float32).astype(ml_dtypes.bfloat16), f"{fmt.name} -> bf16")


def _exact_value(v):
    """A decoded value as an exact source for exact.encode (-0.0, inf, NaN as floats)."""
    return v if isinstance(v, float) else Fraction(v)


@pytest.mark.parametrize("fmt", USER_FLOATS + FIXED, ids=ids)
def test_decode_user_formats_against_exact(fmt):
    patterns = np.arange(1 << fmt.bits)
    exact_values = [exact.decode(fmt, int(p)) for p in patterns]
    want64 = np.array([float(v) for v in exact_values])
    got64, got32, got16, gotb16 = casts(storage(fmt, patterns), lowp_type(fmt), DECODE_TARGETS)
    assert_floats(patterns, got64, want64, f"{fmt.name} -> f64")
    with np.errstate(over="ignore"):  # numpy's f64 -> f32 rounds once, to nearest even
        assert_floats(patterns, got32, want64.astype(np.float32), f"{fmt.name} -> f32")
    for got, f16fmt in ((got16, F16_FMT), (gotb16, BF16_FMT)):
        want = [exact.encode(f16fmt, _exact_value(v)) for v in exact_values]
        assert_patterns(f16fmt, patterns, got.view(np.uint16), want, f"{fmt.name} ->")


class F32Ref:
    """exact_formats' rounding (same definitions, stochastic included) for f32, a 32-bit
    ieee format that tcir.lowp cannot describe."""

    @staticmethod
    def encode(value, rounding="nearest_even", overflow="format", r=0) -> int:
        if isinstance(value, float) and math.isnan(value):
            return 0x7FC00000 | (0x80000000 if math.copysign(1, value) < 0 else 0)
        negative = math.copysign(1, value) < 0 if isinstance(value, float) else value < 0
        sign = 0x80000000 if negative else 0
        if isinstance(value, float) and math.isinf(value):
            return sign | (0x7F7FFFFF if overflow == "saturate" else 0x7F800000)
        x = abs(Fraction(value))
        if x == 0:
            return sign
        e = x.numerator.bit_length() - x.denominator.bit_length()
        if Fraction(2) ** e > x:
            e -= 1
        qe = max(e, -126) - 23
        scaled = x / Fraction(2) ** qe
        q, rem = divmod(scaled.numerator, scaled.denominator)
        if rem and rounding == "nearest_even":
            q += 2 * rem > scaled.denominator or (2 * rem == scaled.denominator and q & 1)
        elif rem and rounding == "stochastic":
            q += r * scaled.denominator < rem << 32
        mag = ((qe + 149) << 23) + q
        if mag > 0x7F7FFFFF:
            mag = 0x7F7FFFFF if overflow == "saturate" or rounding == "toward_zero" else 0x7F800000
        return sign | mag

    @classmethod
    def encode_all(cls, values, rounding="nearest_even", overflow="format", bits=None) -> np.ndarray:
        bits = np.zeros(len(values), np.uint32) if bits is None else bits
        return np.array([cls.encode(v, rounding, overflow, int(r)) for v, r in zip(values, bits)],
                        np.uint32).view(np.float32)


def test_decode_with_rounding_modes():
    """fp16_e9m6fn -> f32 is not exact (values beyond f32's range): every rounding and
    overflow mode applies, once."""
    fmt = USER_FLOATS[4]
    patterns = sample(np.arange(1 << fmt.bits), 65536 if EXHAUSTIVE else 4000, 1)
    bits = random_bits(len(patterns), 5)
    modes = [(f32, r, o) for r in ("toward_zero", "stochastic", "nearest_even") for o in ("format", "saturate")]
    results = casts(patterns, lowp_type(fmt), modes, bits)
    values = [exact.decode(fmt, int(p)) for p in patterns]
    for (_, rounding, overflow), got in zip(modes, results):
        want = F32Ref.encode_all(values, rounding, overflow, bits if rounding == "stochastic" else None)
        assert_floats(patterns, got, want, f"{fmt.name} -> f32 {rounding} {overflow}")


# Encoding to the named formats: every f16 and bf16, 10^6 random f32, boundaries ----------


@pytest.mark.parametrize("fmt", FLOATS + INTS, ids=ids)
def test_encode_every_f16_and_bf16_pattern(fmt):
    t = lowp_type(fmt)
    halves, brains = all_16bit(np.float16), all_16bit(ml_dtypes.bfloat16)
    op = f"{{w}} = lowp.cast %a{{k}}{modifiers(named_rounding(fmt))} : {{s}} to {text(t)}"
    source = kernel_source([f16, bf16], [(op.format(w="{w}", k=k, s=s), t) for k, s in enumerate(("f16", "bf16"))])
    got_h, got_b = run(source, [halves, brains], [dtype_of(t)] * 2)
    assert_patterns(fmt, halves, got_h, ml_cast(halves, fmt), "f16 ->")
    assert_patterns(fmt, brains, got_b, ml_cast(brains, fmt), "bf16 ->")


@pytest.mark.parametrize("fmt", FLOATS + INTS, ids=ids)
def test_encode_random_f32_and_boundaries_against_ml_dtypes(fmt):
    t = lowp_type(fmt)
    values32 = np.concatenate([random_f32(), boundaries(fmt, np.float32)])
    values64 = np.resize(boundaries(fmt, np.float64), len(values32))
    op = f"{{w}} = lowp.cast %a{{k}}{modifiers(named_rounding(fmt))} : {{s}} to {text(t)}"
    source = kernel_source([f32, f64], [(op.format(w="{w}", k=k, s=s), t) for k, s in enumerate(("f32", "f64"))])
    got32, got64 = run(source, [values32, values64], [dtype_of(t)] * 2)
    assert_patterns(fmt, values32, got32, ml_cast(values32, fmt), "f32 ->")
    assert_patterns(fmt, values64, got64, ml_cast(values64, fmt), "f64 ->")


@pytest.mark.parametrize("fmt", USER_FLOATS + FIXED, ids=ids)
def test_encode_user_formats_against_exact(fmt):
    t = lowp_type(fmt)
    values32 = np.concatenate([sample(random_f32(), 2000, 1), sample(boundaries(fmt, np.float32), 2500, 3)])
    values64 = np.resize(sample(boundaries(fmt, np.float64), 2500, 2), len(values32))
    op = f"{{w}} = lowp.cast %a{{k}} : {{s}} to {text(t)}"
    source = kernel_source([f32, f64], [(op.format(w="{w}", k=k, s=s), t) for k, s in enumerate(("f32", "f64"))])
    got32, got64 = run(source, [values32, values64], [dtype_of(t)] * 2)
    assert_patterns(fmt, values32, got32, exact_encode_all(fmt, values32), "f32 ->")
    assert_patterns(fmt, values64, got64, exact_encode_all(fmt, values64), "f64 ->")


# Rounding and overflow modes on casts ------------------------------------------------------

MODES = [(r, o) for r in ("nearest_even", "toward_zero", "stochastic") for o in ("format", "saturate")]
CAST_FORMATS = [E4M3FN, E5M2, NAMED["float8_e4m3fnuz"], NAMED["float8_e8m0fnu"], E2M1, USER_FLOATS[1],
                USER_FLOATS[3], Q4_4, UQ2_6, Q4_4_WRAP, NAMED["int4"]]


@pytest.mark.parametrize("fmt", CAST_FORMATS, ids=ids)
def test_cast_rounding_and_overflow_modes_against_exact(fmt):
    """Every mode from f32 and from f64 (with bits below f32's precision): bit-exact
    against the exact reference given the same random bits."""
    t = lowp_type(fmt)
    values32 = np.concatenate([sample(boundaries(fmt, np.float32), 700, 3), sample(random_f32(), 300, 4)])
    values64 = values32.astype(np.float64) * (1 + 2.0 ** -40)
    bits = random_bits(len(values32), 11)
    specs = [(f"{{w}} = lowp.cast %a{k}{modifiers(r, o)} : {s} to {text(t)}", t)
             for k, s in enumerate(("f32", "f64")) for r, o in MODES]
    results = run(kernel_source([f32, f64], specs, random=True), [values32, values64], [dtype_of(t)] * len(specs),
                  bits)
    for (spec, got), (source, (rounding, overflow)) in zip(zip(specs, results),
                                                             [(v, m) for v in (values32, values64) for m in MODES]):
        r = bits if rounding == "stochastic" else None
        want = exact_encode_all(fmt, source, rounding, overflow, r)
        assert_patterns(fmt, source, got, want, f"{source.dtype} {rounding} {overflow}")


def test_stochastic_threshold_is_exact():
    """r < frac * 2^32 exactly: at frac = k / 2^32 the bits k - 1 round up and k do not."""
    one_ulp = 2.0 ** -3  # e4m3fn in [1, 2)
    fracs = np.array([1, 2, 3, 12345, 2 ** 31, 2 ** 32 - 1], np.float64)
    values = np.repeat(1.0 + fracs * 2.0 ** -32 * one_ulp, 2)
    bits = np.stack([fracs - 1, fracs], axis=1).ravel().astype(np.uint32)
    got = cast(values, f64, lowp_type(E4M3FN), "stochastic", random=bits)
    assert list(got) == [0x39, 0x38] * len(fracs)


def test_stochastic_only_neighbours_and_unbiased():
    rng = np.random.default_rng(7)
    n = 200_000
    bits = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    x = np.float32(1.3)  # e5m2 neighbours 1.25 and 1.5: frac 0.2
    got = cast(np.full(n, x), f32, lowp_type(E5M2), "stochastic", random=bits)
    lo, hi = ml_cast(np.array([1.25, 1.5]), E5M2)
    assert set(np.unique(got)) <= {lo, hi}
    mean = np.where(got == hi, 1.5, 1.25).mean()
    assert abs(mean - float(x)) < 5 * 0.25 * math.sqrt(0.2 * 0.8 / n)  # 5 standard deviations


# Other sources: integers, standard floats with modes ---------------------------------------


def test_integer_sources():
    """i8..i64, signed and unsigned, to float formats and fixed point, every rounding: the
    integers are exact values (i64: rounded from all 64 bits, never through an f64)."""
    rng = np.random.default_rng(3)
    targets = [E4M3FN, NAMED["float8_e8m0fnu"], USER_FLOATS[1], Q4_4, UQ2_6, NAMED["int4"]]
    for width in (8, 16, 32, 64):
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        specials = [0, 1, -1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 240, 248, 255, 256, 448, 464, 480, 57344, 61440,
                    lo, hi, lo + 1, hi - 1]
        ints = [v for v in specials if lo <= v <= hi] + list(rng.integers(lo, hi, 120, endpoint=True))
        if width == 64:
            ints += [(1 << 62) + (1 << 58) + 1, (1 << 62) + (1 << 58), (1 << 63) - 1, -(1 << 63) + 12345,
                     (1 << 59) - 1, 3 << 57, (1 << 55) + (1 << 41) + 1]
        values = np.array(ints, dtype=f"int{width}")
        bits = random_bits(len(values), width)
        roundings = ("nearest_even", "toward_zero", "stochastic") if width in (32, 64) else ("nearest_even",)
        specs = [(lowp_type(fmt), r, "format") for fmt in targets for r in roundings]
        for unsigned in (False, True):
            source = values.view(f"uint{width}") if unsigned else values
            results = casts(source, IntegerType(width), specs, bits, unsigned_input=unsigned)
            for (t, rounding, _), got in zip(specs, results):
                fmt = targets[[lowp_type(f) for f in targets].index(t)]
                r = bits if rounding == "stochastic" else None
                want = exact_encode_all(fmt, [int(v) for v in source], rounding, "format", r, exact_source=True)
                assert_patterns(fmt, source, got, want, f"{'u' if unsigned else 'i'}{width} {rounding}")


def test_i64_to_f32_and_f64_with_modes():
    rng = np.random.default_rng(9)
    ints = np.concatenate([rng.integers(-(1 << 63), (1 << 63) - 1, 1500, dtype=np.int64, endpoint=True),
                           np.array([(1 << 62) + (1 << 38) + 1, (1 << 53) + 1, -(1 << 63), 0, 1, -1], np.int64)])
    bits = random_bits(len(ints), 10)
    specs = [(f32, r, "format") for r in ("nearest_even", "toward_zero", "stochastic")]
    specs.append((f64, "toward_zero", "format"))
    results = casts(ints, IntegerType(64), specs, bits)
    for (_, rounding, _), got in zip(specs[:3], results):
        want = F32Ref.encode_all([Fraction(int(v)) for v in ints], rounding, "format", bits)
        assert_floats(ints, got, want, f"i64 -> f32 {rounding}")

    def trunc53(v: int) -> float:
        m = abs(v)
        drop = max(m.bit_length() - 53, 0)
        return math.copysign(float((m >> drop) << drop), v) if v else 0.0

    assert_floats(ints, results[3], np.array([trunc53(int(v)) for v in ints]), "i64 -> f64 toward_zero")


def test_standard_float_casts_with_modes():
    """f32 -> f16/bf16 and f64 -> f32/f16/bf16 in every mode."""
    rng = np.random.default_rng(21)
    v32 = np.concatenate([sample(random_f32(), 800, 8), sample(boundaries(F16_FMT, np.float32), 500, 2),
                          sample(boundaries(BF16_FMT, np.float32), 500, 3)])
    with np.errstate(invalid="ignore"):  # signalling NaNs
        v64 = v32.astype(np.float64) * (1 + rng.random(len(v32)) * 2.0 ** -30)
    v64[:200] = rng.standard_normal(200) * 1e-40
    v64[200:206] = [1e300, -1e300, np.nan, np.inf, 0.0, -0.0]
    bits = random_bits(len(v32), 12)
    specs = [(f"{{w}} = lowp.cast %a{k}{modifiers(r, o)} : {s} to {text(t)}", t)
             for k, s, targets in ((0, "f32", (f16, bf16)), (1, "f64", (f32, f16, bf16)))
             for t in targets for r, o in MODES]
    results = run(kernel_source([f32, f64], specs, random=True), [v32, v64],
                  [dtype_of(t) for _, t in specs], bits)
    k = 0
    for source, targets in ((v32, (f16, bf16)), (v64, (f32, f16, bf16))):
        for t in targets:
            for rounding, overflow in MODES:
                got, k = results[k], k + 1
                r = bits if rounding == "stochastic" else None
                what = f"{source.dtype} -> {t} {rounding} {overflow}"
                if t == f32:
                    assert_floats(source, got, F32Ref.encode_all([float(v) for v in source], rounding, overflow, r),
                                  what)
                else:
                    fmt = F16_FMT if t == f16 else BF16_FMT
                    want = exact_encode_all(fmt, source, rounding, overflow, r)
                    assert_patterns(fmt, source, got.view(np.uint16), want, what)


def test_format_to_format_and_fixed_casts():
    """Between float formats, fixed point and integers: every pattern of the source."""
    pairs = {E4M3FN: [E5M2, NAMED["float8_e8m0fnu"], Q4_4, E2M1], E5M2: [E4M3FN, UQ2_6, USER_FLOATS[1]],
             E2M1: [E4M3FN], NAMED["float8_e4m3fnuz"]: [E4M3FN, NAMED["float8_e5m2fnuz"]],
             Q4_4: [E4M3FN, UQ2_6, Q3_2_WRAP], UQ2_6: [Q4_4_WRAP, E2M1], Q3_2_WRAP: [Q4_4, UQ2_6],
             NAMED["int4"]: [E2M1, NAMED["uint2"]], USER_FLOATS[1]: [E5M2]}
    for source, targets in pairs.items():
        patterns = np.arange(1 << source.bits)
        values = [exact.decode(source, int(p)) for p in patterns]
        # a float source is a float input (float_overflow); a fixed-point source is exact
        inputs = values if isinstance(source, FixedFormat) else [float(v) for v in values]
        bits = random_bits(len(patterns), source.bits)
        modes = MODES if source in (E4M3FN, Q4_4, E2M1) else [("nearest_even", "format")]
        cases = [(t, r, o) for t in targets for r, o in modes]
        specs = [(lowp_type(t), r, o) for t, r, o in cases]
        results = casts(storage(source, patterns), lowp_type(source), specs, bits)
        for (target, rounding, overflow), got in zip(cases, results):
            r = bits if rounding == "stochastic" else None
            want = [exact.encode(target, v, rounding, overflow, None if r is None else int(r[k]))
                    for k, v in enumerate(inputs)]
            assert_patterns(target, patterns, got, want, f"from {source.name} {rounding} {overflow}")


def _int_reference(v: float, width: int, signed: bool, rounding: str, overflow: str) -> int:
    """A float to an N-bit integer: rounded, then wrapped (or saturated); NaN 0; an
    infinity 0 (or the limit, saturating). Independent of exact_formats (which takes at
    most 32 bits)."""
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    if math.isnan(v):
        return 0
    if math.isinf(v):
        return ((lo if v < 0 else hi) if overflow == "saturate" else 0) & ((1 << width) - 1)
    x = Fraction(v)
    q, rem = divmod(abs(x.numerator), x.denominator)
    if rem and rounding == "nearest_even":
        q += 2 * rem > x.denominator or (2 * rem == x.denominator and q & 1)
    n = -q if x < 0 else q
    if not lo <= n <= hi and overflow == "saturate":
        n = lo if n < lo else hi
    return n & ((1 << width) - 1)


def test_floats_to_integers():
    """f64 and a float format to i8..i64, signed and unsigned: sN.0 / uN.0 with wrap."""
    rng = np.random.default_rng(12)
    values = np.concatenate([rng.standard_normal(400) * 10.0 ** rng.integers(0, 22, 400),
                             [0.5, 1.5, 2.5, -0.5, -1.5, 127.5, 128.0, -128.5, 255.5, 256.0, 300.7, -300.7, 1e19,
                              -1e19, 2.0 ** 63, -2.0 ** 63, 2.0 ** 64, 2.0 ** 70 + 2.0 ** 20, np.inf, -np.inf,
                              np.nan]])
    specs = [(IntegerType(w), r, o, u) for w in (8, 16, 32, 64) for u in (False, True)
             for r in ("nearest_even", "toward_zero") for o in ("format", "saturate")]
    for (t, rounding, overflow, unsigned), got in zip(specs, casts(values, f64, specs)):
        w = t.width.data
        want = [_int_reference(float(v), w, not unsigned, rounding, overflow) for v in values]
        mismatch = [(values[k], int(g) & ((1 << w) - 1), want[k]) for k, g in enumerate(got)
                    if int(g) & ((1 << w) - 1) != want[k]]
        assert not mismatch, (t, unsigned, rounding, overflow, mismatch[:6])
        if w <= 32:  # the same rule as exact_formats' fixed point sN.0 / uN.0 with wrap
            ifmt = FixedFormat("i", w if not unsigned else w, 0, signed=not unsigned, overflow="wrap")
            assert list(exact_encode_all(ifmt, values[:60], rounding, overflow)) == want[:60]
    # a float format to integers
    patterns = np.arange(256)
    specs = [(IntegerType(w), "nearest_even", "format", u) for w in (8, 64) for u in (False, True)]
    for (t, _, _, unsigned), got in zip(specs, casts(patterns, lowp_type(E5M2), specs)):
        w = t.width.data
        want = [_int_reference(v, w, not unsigned, "nearest_even", "format") for v in values_f64(E5M2)]
        assert [int(g) & ((1 << w) - 1) for g in got] == want, (w, unsigned)


def test_integers_to_integers_and_fixed():
    rng = np.random.default_rng(13)
    targets = [(tw, ur, o) for tw in (8, 16, 32, 64) for ur in (False, True) for o in ("format", "saturate")]
    for sw in (8, 16, 32, 64):
        ints = rng.integers(-(1 << (sw - 1)), (1 << (sw - 1)) - 1, 300, endpoint=True).astype(f"int{sw}")
        ints[:4] = [0, -1, -(1 << (sw - 1)), (1 << (sw - 1)) - 1]
        specs = [(f"{{w}} = lowp.cast %a0{modifiers('nearest_even', o)} : {'unsigned ' if ui else ''}i{sw} to "
                  f"{'unsigned ' if ur else ''}i{tw}", IntegerType(tw))
                 for ui in (False, True) for tw, ur, o in targets if tw != sw]
        cases = [(ui, tw, ur, o) for ui in (False, True) for tw, ur, o in targets if tw != sw]
        results = run(kernel_source([IntegerType(sw)], specs), [ints], [dtype_of(t) for _, t in specs])
        for (ui, tw, ur, overflow), got in zip(cases, results):
            src = ints.view(f"uint{sw}") if ui else ints
            lo, hi = (0, (1 << tw) - 1) if ur else (-(1 << (tw - 1)), (1 << (tw - 1)) - 1)
            want = [min(max(int(v), lo), hi) if overflow == "saturate" else int(v) for v in src]
            mask = (1 << tw) - 1
            assert [int(g) & mask for g in got] == [w & mask for w in want], (sw, ui, tw, ur, overflow)
    # integers to fixed point (the format's own rule for exact sources) and fixed point to integers
    ints = np.arange(-40, 41, dtype=np.int32)
    ref16 = FixedFormat("i16", 16, 0, overflow="wrap")
    for fmt in (Q4_4, UQ2_6, Q3_2_WRAP, NAMED["int4"]):
        t = lowp_type(fmt)
        specs = [(t, "nearest_even", "format"), (t, "nearest_even", "saturate")]
        for overflow, got in zip(("format", "saturate"), casts(ints, IntegerType(32), specs)):
            assert_patterns(fmt, ints, got, exact_encode_all(fmt, ints, overflow=overflow, exact_source=True),
                            f"i32 -> {overflow}")
        patterns = np.arange(1 << fmt.bits)
        specs = [(IntegerType(16), r, "format") for r in ("nearest_even", "toward_zero")]
        for (_, rounding, _), got in zip(specs, casts(storage(fmt, patterns), t, specs)):
            want = [exact.encode(ref16, exact.decode(fmt, int(p)), rounding) for p in patterns]
            assert [int(g) & 0xFFFF for g in got] == want, (fmt.name, rounding)


# Float-format arithmetic -------------------------------------------------------------------


def pairs(fmt):
    n = 1 << fmt.bits
    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return a.ravel(), b.ravel()


def invalid_results(fmt, a, b, op, c=None):
    """Where the exact result is NaN from valid operands (0/0, inf - inf ...): its sign is
    unspecified, so a finite format's either zero matches."""
    if fmt.kind != "finite":
        return None
    x, y = values_f64(fmt)[a], values_f64(fmt)[b]
    with np.errstate(all="ignore"):
        if op == "fma":
            return np.isnan(x * y + values_f64(fmt)[c])
        return np.isnan({"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op](x, y))


def exact_ops(fmt, op, operands, rounding="nearest_even", overflow="format", bits=None) -> list[int]:
    fn = getattr(exact, op)
    if bits is None:
        return [fn(fmt, *map(int, args), rounding, overflow) for args in zip(*operands)]
    return [fn(fmt, *map(int, args), rounding, overflow, int(r)) for *args, r in zip(*operands, bits)]


ARITH_FORMATS = [E4M3FN, E5M2, E2M1, E3M2]
BINARY = ("add", "sub", "mul", "div")


@pytest.mark.parametrize("fmt", ARITH_FORMATS, ids=ids)
def test_arithmetic_all_pairs_nearest_even(fmt):
    a, b = pairs(fmt)
    results = ops(lowp_type(fmt), [a, b], [(op, "nearest_even", "format", None) for op in BINARY])
    for op, got in zip(BINARY, results):
        assert_patterns(fmt, (a, b), got, exact_ops(fmt, op, (a, b)), op,
                        nan_zero_either=invalid_results(fmt, a, b, op))


@pytest.mark.parametrize("fmt", [E4M3FN, E2M1, E3M2, USER_FLOATS[0]], ids=ids)
def test_arithmetic_rounding_and_overflow_modes(fmt):
    """toward_zero, stochastic (bit-exact given the random bits) and saturation; all pairs
    of the small formats, a sample of the 6- to 8-bit ones (all pairs with TCIR_EXHAUSTIVE=1)."""
    a, b = pairs(fmt)
    if fmt.bits > 5 and not EXHAUSTIVE:
        keep = sample(np.arange(len(a)), 3000, 17)
        a, b = a[keep], b[keep]
    bits = random_bits(len(a), 5)
    modes = [("toward_zero", "format"), ("stochastic", "format"), ("nearest_even", "saturate"),
             ("stochastic", "saturate")]
    specs = [(op, r, o, None) for op in BINARY for r, o in modes]
    for (op, rounding, overflow, _), got in zip(specs, ops(lowp_type(fmt), [a, b], specs, bits)):
        want = exact_ops(fmt, op, (a, b), rounding, overflow, bits if rounding == "stochastic" else None)
        assert_patterns(fmt, (a, b), got, want, f"{op} {rounding} {overflow}",
                        nan_zero_either=invalid_results(fmt, a, b, op))


@pytest.mark.parametrize("fmt", [E4M3FN, E5M2, E2M1, USER_FLOATS[1]], ids=ids)
def test_fma_random_triples(fmt):
    rng = np.random.default_rng(31)
    n = 100_000 if EXHAUSTIVE else 3000
    a, b, c = rng.integers(0, 1 << fmt.bits, (3, n))
    # addends close to minus the product, where the sum cancels most
    t = lowp_type(fmt)
    with np.errstate(all="ignore"):
        near = -(values_f64(fmt)[a] * values_f64(fmt)[b])
    c[: n // 3] = patterns_of(fmt, cast(np.nan_to_num(near[: n // 3]), f64, t))
    bits = random_bits(n, 6)
    roundings = ("nearest_even", "toward_zero", "stochastic")
    results = ops(t, [a, b, c], [("fma", r, "format", None) for r in roundings], bits)
    for rounding, got in zip(roundings, results):
        want = exact_ops(fmt, "fma", (a, b, c), rounding, "format", bits if rounding == "stochastic" else None)
        assert_patterns(fmt, (a, b, c), got, want, f"fma {rounding}",
                        nan_zero_either=invalid_results(fmt, a, b, "fma", c))


def test_fma_tiny_addends_need_one_rounding():
    """a * b + c with c tiny and of the other sign: RN53(a*b + c) can land on a midpoint
    of the format that the exact value is just short of; the sum rounded to odd in f64
    does not."""
    fmt = USER_FLOATS[1]  # e5m6: products of up to 14 bits
    t = lowp_type(fmt)
    rng = np.random.default_rng(41)
    a, b = rng.integers(0, 1 << fmt.bits, (2, 5000))
    with np.errstate(all="ignore"):
        c_values = -(values_f64(fmt)[a] * values_f64(fmt)[b]) * 2.0 ** -40
    c = patterns_of(fmt, cast(np.nan_to_num(c_values), f64, t))
    results = ops(t, [a, b, c], [("fma", r, "format", None) for r in ("nearest_even", "toward_zero")])
    for rounding, got in zip(("nearest_even", "toward_zero"), results):
        assert_patterns(fmt, (a, b, c), got, exact_ops(fmt, "fma", (a, b, c), rounding), f"fma {rounding}")


PREDICATES = exact.PREDICATES


def _compare_reference(fmt, a, b, predicate) -> np.ndarray:
    """IEEE comparisons of the exactly decoded values (float64 holds them exactly)."""
    x, y = values_f64(fmt)[a], values_f64(fmt)[b]
    unordered = np.isnan(x) | np.isnan(y)
    if predicate in ("ord", "uno"):
        return unordered == (predicate == "uno")
    relation = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
                "ge": np.greater_equal}[predicate[1:]]
    with np.errstate(invalid="ignore"):
        ordered = relation(x, y) & ~unordered
    return ordered | unordered if predicate[0] == "u" else ordered


@pytest.mark.parametrize("fmt", ARITH_FORMATS + [NAMED["float8_e4m3fnuz"], NAMED["float8_e8m0fnu"], USER_FLOATS[2]],
                         ids=ids)
def test_min_max_cmp_all_pairs(fmt):
    a, b = pairs(fmt)
    specs = [("min", "nearest_even", "format", None), ("max", "nearest_even", "format", None)] + \
        [("cmp", "nearest_even", "format", p) for p in PREDICATES]
    results = ops(lowp_type(fmt), [a, b], specs)
    for op, got in zip(("min", "max"), results):
        assert_patterns(fmt, (a, b), got, [getattr(exact, op)(fmt, int(x), int(y)) for x, y in zip(a, b)], op)
    spot = sample(np.arange(len(a)), 300, 9)
    for predicate, got in zip(PREDICATES, results[2:]):
        want = _compare_reference(fmt, a, b, predicate)
        assert [exact.compare(fmt, int(a[k]), int(b[k]), predicate) for k in spot] == list(want[spot])
        bad = np.flatnonzero(got != want)
        assert not len(bad), (predicate, [(hex(a[k]), hex(b[k]), got[k]) for k in bad[:8]])


def test_neg_abs_every_pattern():
    formats = FLOATS + USER_FLOATS
    size = 1 << 16
    operands = [np.resize(np.arange(1 << f.bits), size).astype(dtype_of(lowp_type(f))) for f in formats]
    specs = []
    for k, fmt in enumerate(formats):
        for op in ("abs",) if fmt.kind == "unsigned" else ("neg", "abs"):
            specs.append((f"{{w}} = lowp.{op} %a{k} : {text(lowp_type(fmt))}", lowp_type(fmt)))
    results = iter(run(kernel_source([lowp_type(f) for f in formats], specs), operands,
                       [dtype_of(t) for _, t in specs]))
    for fmt, patterns in zip(formats, operands):
        for op in ("abs",) if fmt.kind == "unsigned" else ("neg", "abs"):
            want = [getattr(exact, op)(fmt, int(p)) for p in patterns[: 1 << fmt.bits]]
            assert_patterns(fmt, patterns[: 1 << fmt.bits], next(results)[: 1 << fmt.bits], want, op)


# Fixed point -------------------------------------------------------------------------------


def div_by_zero(fmt, x: int) -> int:
    """x / 0 in fixed point (the exact reference raises): the range limit of x's sign; 0/0: 0."""
    value = exact.decode(fmt, x)
    if value == 0:
        return 0
    limit = fmt.min_value if value < 0 else fmt.max_value
    return int(limit * 2 ** fmt.fraction) & ((1 << fmt.bits) - 1)


def fixed_reference(fmt, op, operands, rounding, overflow, bits) -> list[int]:
    fn = getattr(exact, op)
    out = []
    for k, args in enumerate(zip(*operands)):
        args = [int(v) for v in args]
        if op == "div" and exact.decode(fmt, args[1]) == 0:
            out.append(div_by_zero(fmt, args[0]))
            continue
        out.append(fn(fmt, *args, rounding, overflow, None if rounding != "stochastic" else int(bits[k])))
    return out


FIXED_OPS = [(op, r, o) for op in ("add", "sub") for o in ("format", "saturate") for r in ("nearest_even",)] + \
    [(op, r, o) for op in ("mul", "div", "fma") for r in ("nearest_even", "toward_zero", "stochastic")
     for o in ("format", "saturate")]


@pytest.mark.parametrize("fmt", [Q4_4, UQ2_6, Q3_2_WRAP, NAMED["uint4"], NAMED["int4"]], ids=ids)
def test_fixed_arithmetic_against_exact(fmt):
    """All pairs (a sample of the 8-bit formats' pairs in CI; c random for fma), every
    rounding and overflow; neg, abs, min, max and the comparisons."""
    a, b = pairs(fmt)
    if fmt.bits == 8 and not EXHAUSTIVE:
        keep = sample(np.arange(len(a)), 3000, 4)
        a, b = a[keep], b[keep]
    c = np.random.default_rng(2).integers(0, 1 << fmt.bits, len(a))
    bits = random_bits(len(a), 8)
    unary = np.resize(np.arange(1 << fmt.bits), len(a))
    specs = [(op, r, o, None) for op, r, o in FIXED_OPS]
    specs += [("min", "nearest_even", "format", None), ("max", "nearest_even", "format", None)]
    specs += [("cmp", "nearest_even", "format", p) for p in ("eq", "ne", "lt", "le", "gt", "ge")]
    results = iter(ops(lowp_type(fmt), [storage(fmt, x) for x in (a, b, c)], specs, bits))
    for op, rounding, overflow in FIXED_OPS:
        operands = (a, b, c) if op == "fma" else (a, b)
        got = next(results)
        assert_patterns(fmt, operands, got, fixed_reference(fmt, op, operands, rounding, overflow, bits),
                        f"{op} {rounding} {overflow}")
        unsigned = got.view(np.dtype(f"uint{8 * got.dtype.itemsize}")).astype(np.int64)
        assert (unsigned >> fmt.bits == 0).all()  # the pattern in the low bits, the high bits zero
    for op in ("min", "max"):
        want = [getattr(exact, op)(fmt, int(x), int(y)) for x, y in zip(a, b)]
        assert_patterns(fmt, (a, b), next(results), want, op)
    x, y = ([exact.decode(fmt, int(p)) for p in ps] for ps in (a, b))
    relations = {"eq": lambda u, v: u == v, "ne": lambda u, v: u != v, "lt": lambda u, v: u < v,
                 "le": lambda u, v: u <= v, "gt": lambda u, v: u > v, "ge": lambda u, v: u >= v}
    for predicate, relation in relations.items():
        assert list(next(results)) == [relation(u, v) for u, v in zip(x, y)], predicate
    specs = [(op, "nearest_even", o, None) for op in ("neg", "abs") for o in ("format", "saturate")]
    for (op, _, overflow, _), got in zip(specs, ops(lowp_type(fmt), [storage(fmt, unary)], specs)):
        want = [getattr(exact, op)(fmt, int(p), overflow) for p in unary]
        assert_patterns(fmt, unary, got, want, f"{op} {overflow}")


def test_fixed_wide_formats():
    """32-bit formats (64-bit products, (a << 32) / b) and a 16.16 format, random operands."""
    rng = np.random.default_rng(19)
    formats = [FixedFormat("q16_16", 16, 16), FixedFormat("uq0_32", 0, 32, signed=False),
               FixedFormat("q1_31w", 1, 31, overflow="wrap"), FixedFormat("uq32_0", 32, 0, signed=False)]
    n = 20_000 if EXHAUSTIVE else 250
    for fmt in formats:
        a, b, c = (rng.integers(0, 1 << fmt.bits, n, dtype=np.uint64).astype(np.int64) for _ in range(3))
        a[:8] = [0, 1, (1 << fmt.bits) - 1, 1 << (fmt.bits - 1), (1 << (fmt.bits - 1)) - 1, 2, 3,
                 (1 << fmt.fraction) & ((1 << fmt.bits) - 1)]
        b[:8] = a[:8][::-1]
        bits = random_bits(n, 3)
        specs = [(op, r, o, None) for op, r, o in FIXED_OPS]
        results = ops(lowp_type(fmt), [storage(fmt, x) for x in (a, b, c)], specs, bits)
        for (op, rounding, overflow, _), got in zip(specs, results):
            operands = (a, b, c) if op == "fma" else (a, b)
            assert_patterns(fmt, operands, got, fixed_reference(fmt, op, operands, rounding, overflow, bits),
                            f"{op} {rounding} {overflow}")


# The generated routines: inlined, vectorized, shared ----------------------------------------


def test_cast_loop_vectorizes_and_inlines():
    """f32 -> e4m3fn in a loop at O3: vector instructions and no call left."""
    t = lowp_type(E4M3FN)
    source = kernel_source([f32], [(f"{{w}} = lowp.cast %a0 : f32 to {text(t)}", t)])
    module = CpuModule(lower(source), opt_level=3)
    ir = module.llvm_ir
    assert re.search(r"<(8|16) x i32>", ir), "no vector of i32"
    assert re.search(r"<(8|16|32) x i8>", ir), "no vector of i8"
    assert "__lowp_" not in ir  # inlined, and the internal routine dropped
    assert not re.search(r"call (?!.*@llvm\.)", ir), "a call is left"
    x = random_f32()[:CHUNK].copy()
    y = np.zeros(CHUNK, np.uint8)
    module.function("k")(x.ctypes.data, y.ctypes.data)
    assert_patterns(E4M3FN, x, y, ml_cast(x, E4M3FN))


def test_routines_are_shared_private_and_idempotent():
    from tcir.passes.lower_lowp import LowerLowpPass

    t = text(lowp_type(E4M3FN))
    source = f"""
func.func @two(%x: f32, %y: f32) -> {t} {{
  %a = lowp.cast %x : f32 to {t}
  %b = lowp.cast %y : f32 to {t}
  %s = lowp.add %a, %b : {t}
  func.return %s : {t}
}}
func.func @three(%x: f32) -> {t} {{
  %a = lowp.cast %x : f32 to {t}
  func.return %a : {t}
}}"""
    ctx = default_context()
    module = Parser(ctx, source).parse_module()
    LowerLowpPass().apply(ctx, module)
    module.verify()
    routines = [op for op in module.ops if op.sym_name.data.startswith("__lowp_")]
    assert sorted(r.sym_name.data for r in routines) == ["__lowp_add_e4m3fn_rne", "__lowp_cast_f32_to_e4m3fn_rne"]
    for r in routines:
        assert r.sym_visibility.data == "private"
        assert str(r.attributes["llvm.linkage"]) == '#llvm.linkage<"internal">'
        assert "alwaysinline" in str(r.attributes["passthrough"])
    before = str(module)
    LowerLowpPass().apply(ctx, module)  # nothing left to do
    assert str(module) == before


def test_routines_are_built_once_per_process_and_cloned():
    """A second module using a format builds no routine: it gets clones of those built
    for the first (the same text as a fresh build), sharing no op with the first module
    or with the process-wide table."""
    from tcir.passes.lower_lowp import LowerLowpPass, RoutineSpec, build_routine, describe, routine_cache_info

    fmt = LowpFloatType(3, 3, "fnuz", 9)  # in no other test: its routines are first built here
    t = text(fmt)
    source = f"""
func.func @f(%x: f32, %y: f32) -> {t} {{
  %a = lowp.cast %x : f32 to {t}
  %b = lowp.cast %y : f32 to {t}
  %p = lowp.mul %a, %b : {t}
  func.return %p : {t}
}}"""
    ctx = default_context()

    def lowered():
        module = Parser(ctx, source).parse_module()
        before = routine_cache_info()
        LowerLowpPass().apply(ctx, module)
        module.verify()
        after = routine_cache_info()
        return module, after.misses - before.misses, after.hits - before.hits

    first, built, reused = lowered()
    assert (built, reused) == (2, 0)
    second, built, reused = lowered()
    assert (built, reused) == (0, 2)
    assert str(second) == str(first)
    assert not {id(op) for op in first.walk()} & {id(op) for op in second.walk()}
    mul = next(op for op in first.ops if op.sym_name.data == "__lowp_mul_e3m3b9fnuz_rne")
    spec = RoutineSpec("mul", describe(fmt), None, "nearest_even", "format")
    assert str(mul) == str(build_routine(spec))
    # cutting into one module's routine changes neither the table nor later modules
    expected = str(second)
    ret = mul.body.block.last_op
    assert ret is not None
    ret.detach()
    ret.erase()
    third, built, reused = lowered()
    assert (built, reused) == (0, 2)
    assert str(third) == expected


def test_modules_without_lowp_are_untouched():
    from tcir.passes.lower_lowp import LowerLowpPass

    ctx = default_context()
    module = Parser(ctx, "func.func @f(%x: f32) -> f32 {\n  func.return %x : f32\n}").parse_module()
    before = str(module)
    LowerLowpPass().apply(ctx, module)
    assert str(module) == before


def test_routine_names():
    from tcir.passes.lower_lowp import RoutineSpec, describe

    F, Q = LowpFloatType, LowpFixedType
    cases = {
        RoutineSpec("cast", describe(f32), describe(F(4, 3, "fn")), "nearest_even", "format"):
            "cast_f32_to_e4m3fn_rne",
        RoutineSpec("add", describe(F(5, 2)), None, "stochastic", "saturate", stochastic=True): "add_e5m2_sr_sat",
        RoutineSpec("cmp", describe(F(4, 3, "fnuz", 11)), None, "nearest_even", "format", "olt"):
            "cmp_olt_e4m3b11fnuz",
        RoutineSpec("mul", describe(Q(4, 4)), None, "toward_zero", "format"): "mul_qs4_4sat_rtz",
        RoutineSpec("cast", describe(IntegerType(8), True), describe(Q(4, 0, True, "wrap", "zero")), "toward_zero",
                    "format"): "cast_u8_to_qs4_0wrap_fzero_rtz",
        RoutineSpec("abs", describe(F(8, 0, "unsigned")), None, "nearest_even", "format"): "abs_e8m0fnu",
        RoutineSpec("cast", describe(F(2, 1, "finite")), describe(bf16), "nearest_even", "format"):
            "cast_e2m1fin_to_bf16_rne",
    }
    for spec, name in cases.items():
        assert spec.name == "__lowp_" + name


def test_memref_of_lowp_becomes_memref_of_storage():
    from tcir.passes.lower_lowp import LowerLowpPass

    source = """
func.func @f(%a: memref<4x!lowp.float<e4m3, fn>>, %b: memref<2x3x!lowp.fixed<s8.8, wrap>>)
    -> !lowp.float<e5m2, ieee> {
  %c0 = arith.constant 0 : index
  %x = memref.load %a[%c0] : memref<4x!lowp.float<e4m3, fn>>
  %y = lowp.cast %x : !lowp.float<e4m3, fn> to !lowp.float<e5m2, ieee>
  %t = memref.alloc() : memref<8x!lowp.float<e5m2, ieee>>
  memref.store %y, %t[%c0] : memref<8x!lowp.float<e5m2, ieee>>
  func.return %y : !lowp.float<e5m2, ieee>
}"""
    ctx = default_context()
    module = Parser(ctx, source).parse_module()
    LowerLowpPass().apply(ctx, module)
    module.verify()
    printed = str(module)
    assert "lowp" not in printed.replace("__lowp_", "")
    assert "func.func @f(%a: memref<4xi8>, %b: memref<2x3xi16>) -> i8" in printed
    assert "memref.alloc() : memref<8xi8>" in printed
