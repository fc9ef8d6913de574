"""Hypothesis strategies for random TC programs, shared by the property tests.

API (import it from any test under tests/: `from strategies import tc_programs, ...`)

    tc_programs(max_stmts=5, max_depth=4) -> SearchStrategy[GeneratedProgram]
        Random *well-formed* TC programs with concrete sizes: every reduction kind with
        and without init, affine subscripts with strides, offsets, windows and reversals,
        `where` ranges, bindings and `exists`, guarded `?:` reads, builtins, casts,
        integer / float / bool types, statements reading earlier results, temporaries,
        rank-0 tensors, scalar parameters, typed outputs, indirect reads and clamped
        computed subscripts, scatter-adds into earlier results (`T(I(r), j) += e`,
        `T(i / 2) += e`, their indices always inside the target), strided input views,
        sizes from 1 to 40 (odd ones, and one large enough for vector loops now and
        then), special inputs (integer extremes; NaN, infinities, signed zeros,
        subnormals, huge values, out-of-range literals).
        Each program type-checks, passes range inference and the call-time bounds
        checks for its sizes (integer divisors may be zero: `x / 0` is 0), never casts an
        out-of-range, non-finite or inexact float to an integer and stays in the domains
        of its builtins, so the NumPy reference defines its result.

    GeneratedProgram (frozen dataclass)
        .source   the TC text (sometimes with a second, unrelated def)
        .entry    the def to call
        .sizes    {size name: value}
        .inputs() the arguments (NumPy arrays / Python scalars), deterministic: made
                  from .seed (`.make_inputs(rng)` for other values)
        .exact    names of outputs that compiled code must reproduce bit for bit (every
                  operation on their path is correctly rounded in both evaluators: no
                  float reduction that may be reassociated, no libm function)
        .tolerances  {output: (rtol, atol)} for the others, from the least precise
                  type their rounding errors went through and their magnitude bound
        .ranges   the model's range of every index variable, per statement
                  ([{var: (lo, hi)}], concrete), for checking range inference
        .bounds   {output: (lo, hi)}: the model's interval of its values (not for
                  programs with special float inputs), for checking the model
        .regression_text(comment) the program as a tests/regressions/*.tc file

    malformed_programs() -> SearchStrategy[str]
        Mutations of valid programs (token edits, swapped names, dropped clauses,
        changed operators, huge literals): mostly invalid, sometimes still valid.

    compare_outputs(program, got, want)   assert compiled == reference (tolerance by
                                          dtype; exact outputs bit for bit)
    TOLERANCE                             {dtype: (rtol, atol)}
    reference_outputs(program, inputs)    the NumPy reference's outputs
    examples(n)                           the example count of a property that runs n
                                          examples under the `ci` hypothesis profile
                                          (tests/conftest.py; `fuzz`: FUZZ_SCALE * n)

Example:

    from hypothesis import given
    from strategies import tc_programs

    @given(tc_programs())
    def test_something(program):
        module = tcir.driver.tc_to_module(program.source, entry=program.entry)
        result = getattr(tcir.define(program.source), program.entry)(*program.inputs())

The generator keeps a concrete model of every statement: it knows the sizes, mirrors
range inference on concrete values (docs/language.md, "Range inference"), tracks an
interval and an exactness flag for every expression, and retries a statement whose
model turns out invalid (an empty range, an access out of bounds, a value too large).
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

from tcir.frontend.types import (
    BFLOAT16, BOOL, DOUBLE, FLOAT, HALF, INT8, INT16, INT32, INT64, TYPE_NAMES, UINT8, UINT16, UINT32,
    UINT64, ScalarType, at_least_float, converts_implicitly, promote,
)

__all__ = [
    "GeneratedProgram", "InputSpec", "tc_programs", "malformed_programs", "compare_outputs",
    "reference_outputs", "TOLERANCE", "np_dtype_of", "examples",
]


def examples(n: int) -> int:
    """How many examples a property that runs `n` under the ci profile runs now."""
    profile = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    scale = int(os.environ.get("FUZZ_SCALE", "50")) if profile == "fuzz" else 1
    return max(1, n * scale)


FLOAT_TYPES = (FLOAT, DOUBLE, HALF, BFLOAT16)
INT_TYPES = (INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, UINT64)
SIZE_NAMES = ("N", "M", "K", "L")
LHS_NAMES = ("i", "j", "k", "l")
RED_NAMES = ("r", "r_k", "q", "r_w")
_INDEX_NAME = re.compile(r"\b(" + "|".join(LHS_NAMES + RED_NAMES) + r")\b")
LIMIT = 1000.0  # magnitude bound of every float value a program computes

TOLERANCE = {  # (rtol, atol) by output dtype, for outputs that are not exact
    np.dtype(np.float32): (1e-4, 1e-4),
    np.dtype(np.float64): (1e-9, 1e-9),
    np.dtype(np.float16): (1e-2, 1e-2),
    np.dtype(ml_dtypes.bfloat16): (4e-2, 4e-2),
}


def np_dtype_of(t: ScalarType) -> np.dtype:
    return np.dtype(ml_dtypes.bfloat16) if t == BFLOAT16 else np.dtype(t.numpy)


def _type_range(t: ScalarType) -> tuple[int, int]:
    if t.kind == "uint":
        return 0, (1 << t.bits) - 1
    return -(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1


# ------------------------------------------------------------------------------------
# The generated program


@dataclass(frozen=True)
class InputSpec:
    """How to make one argument."""

    name: str
    type: str  # TC type name
    shape: tuple[int, ...] | None  # None: a scalar parameter
    lo: float
    hi: float
    special: bool = False  # integers: also the type's extremes, 0 and -1; floats: NaN,
    # infinities, signed zeros, subnormals and the largest finite values
    layout: str = "c"  # c, transposed, strided, reversed


@dataclass(frozen=True)
class GeneratedProgram:
    source: str
    entry: str
    sizes: dict
    specs: tuple[InputSpec, ...]
    seed: int
    exact: frozenset = frozenset()
    ranges: tuple = ()
    tolerances: dict = field(default_factory=dict)  # output -> (rtol, atol), the inexact ones
    bounds: dict = field(default_factory=dict)  # output -> (lo, hi): the model's interval

    def inputs(self) -> tuple:
        return self.make_inputs(np.random.default_rng(self.seed))

    def make_inputs(self, rng: np.random.Generator) -> tuple:
        return tuple(_make_input(spec, rng) for spec in self.specs)

    def regression_text(self, comment: str) -> str:
        """A self-contained tests/regressions/*.tc file for this program and its inputs."""
        lines = [f"# {line}" if line else "#" for line in comment.strip().splitlines()]
        lines.append(f"# entry: {self.entry}")
        if self.exact:
            lines.append(f"# exact: {', '.join(sorted(self.exact))}")
        for spec, value in zip(self.specs, self.inputs()):
            lines.append(f"# input {spec.name}: {_input_text(spec, value)}")
            if spec.layout != "c":
                lines.append(f"# layout {spec.name}: {spec.layout}")
        return "\n".join(lines) + "\n" + self.source.rstrip() + "\n"

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        return f"GeneratedProgram(entry={self.entry!r}, sizes=({sizes}), seed={self.seed}):\n{self.source}"


def _make_input(spec: InputSpec, rng: np.random.Generator):
    t = TYPE_NAMES[spec.type]
    if spec.shape is None:  # a scalar parameter
        if t.is_bool:
            return bool(rng.integers(0, 2))
        if t.is_integer:
            return int(rng.integers(int(spec.lo), int(spec.hi) + 1))
        return float(rng.uniform(spec.lo, spec.hi))
    dt = np_dtype_of(t)
    shape = spec.shape
    if spec.layout == "transposed" and len(shape) >= 2:
        alloc = tuple(reversed(shape))
    elif spec.layout == "strided" and len(shape) >= 1:
        alloc = (shape[0] * 2,) + shape[1:]
    else:
        alloc = shape
    if t.is_bool:
        base = rng.integers(0, 2, alloc).astype(bool)
    elif t.is_integer:
        base = rng.integers(int(spec.lo), int(spec.hi) + 1, alloc, dtype=np.int64).astype(dt)
        if spec.special and base.size:
            lo, hi = _type_range(t)
            extremes = np.array([lo, hi, 0, -1 if lo < 0 else 1, lo + 1], dtype=object)
            pick = rng.random(alloc) < 0.3
            values = rng.choice(extremes, alloc)
            base = np.where(pick, values, base.astype(object)).astype(dt)
    else:
        base = rng.uniform(spec.lo, spec.hi, alloc).astype(np.float64).astype(dt)
        if spec.special and base.size:
            info = ml_dtypes.finfo(dt)
            tiny, big = float(info.smallest_subnormal), float(info.max)
            extremes = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, big, -big, 1.0])
            pick = rng.random(alloc) < 0.3
            base = np.where(pick, rng.choice(extremes, alloc), base.astype(np.float64)).astype(dt)
    if spec.layout == "transposed" and len(shape) >= 2:
        return base.transpose()
    if spec.layout == "strided" and len(shape) >= 1:
        return base[::2]
    if spec.layout == "reversed" and len(shape) >= 1:
        return base[::-1]
    return np.ascontiguousarray(base)


def _input_text(spec: InputSpec, value) -> str:
    if spec.shape is None:
        return json.dumps(value)
    arr = np.asarray(value)
    data = arr.astype(np.float64).tolist() if arr.dtype.kind == "f" or arr.dtype == ml_dtypes.bfloat16 else arr.tolist()
    return json.dumps(data, separators=(",", ":"))  # NaN and Infinity as json.loads reads them


# ------------------------------------------------------------------------------------
# Comparing results


def reference_outputs(program: GeneratedProgram, inputs) -> tuple:
    import warnings

    from tcir.errors import TcWarning
    from tcir.frontend import check_source
    from tcir.testing.reference import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        d = check_source(program.source).defs[program.entry]
    return evaluate(d, *inputs)


def compare_outputs(program: GeneratedProgram, got, want, names=None) -> None:
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(want)
    names = names or [f"#{k}" for k in range(len(want))]
    for name, g, w in zip(names, got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (name, g.dtype, w.dtype, g.shape, w.shape)
        if g.dtype in TOLERANCE and name not in program.exact:
            rtol, atol = program.tolerances.get(name) or TOLERANCE[g.dtype]
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol,
                                       err_msg=f"output {name}")
        elif g.dtype in TOLERANCE:  # exact: bit for bit up to the sign of zero and NaN payloads
            np.testing.assert_array_equal(g.astype(np.float64), w.astype(np.float64), err_msg=f"output {name} (exact)")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"output {name}")


# ------------------------------------------------------------------------------------
# Expressions: text, type, interval, exactness


@dataclass
class _Val:
    text: str
    type: ScalarType
    lo: float = 0
    hi: float = 1
    exact: bool = True  # bit-identical in the reference and compiled code
    prec: ScalarType | None = None  # inexact: the narrowest float type its error went through

    @property
    def mag(self) -> float:
        return max(abs(self.lo), abs(self.hi))


_EPS = {"half": 2.0 ** -11, "bfloat16": 2.0 ** -8, "float": 2.0 ** -24, "double": 2.0 ** -53}
# Inexact results (libm functions, reassociated float reductions) are compared within
# K * eps relative, and K * eps * (the magnitude bound of the output) absolute.
_K = {"half": 16, "bfloat16": 8, "float": 1000, "double": 10000}


def _limit(t: ScalarType) -> float:
    """The magnitude bound of float values of type `t`."""
    return 256.0 if t.bits == 16 else LIMIT


def _magnitude_ok(t: ScalarType, lo, hi, exact: bool) -> bool:
    """Inexact values stay below `_limit` (their errors are compared with a tolerance
    relative to it); exact ones may be large, but never overflow to infinity."""
    m = max(abs(lo), abs(hi))
    # exact values never overflow (an inf would turn into NaN, which no cast survives)
    return m <= ((3e4 if t == HALF else 1e30) if exact else _limit(t))


def _narrow(*types) -> ScalarType | None:
    """The least precise of some float types (None: exact)."""
    types = [t for t in types if t is not None and t.is_float]
    return max(types, key=lambda t: _EPS[t.name]) if types else None


def _pj(t: ScalarType, *vals) -> ScalarType | None:
    """The precision of an operation of type `t` on `vals`: exact operands give an exact
    result; an error from inexact operands is rounded to `t` too."""
    p = _narrow(*(v.prec for v in vals))
    return _narrow(p, t) if p is not None else None


def _clip_int(t: ScalarType, lo, hi) -> tuple[int, int]:
    """Integer arithmetic wraps: an interval that leaves the type becomes the whole type."""
    lo, hi = int(math.floor(lo)), int(math.ceil(hi))
    tlo, thi = _type_range(t)
    if lo < tlo or hi > thi:
        return tlo, thi
    return lo, hi


@dataclass
class _Form:
    """An affine subscript: sum(c * var) + const (sizes folded to their values)."""

    vars: dict
    const: int
    text: str


@dataclass
class _Read:
    tensor: str
    extents: tuple  # the allocated shape: what the call-time check holds the read to
    forms: list  # _Form or None (not affine)
    protected: bool  # an explicit bounds guard keeps it in bounds
    # What range inference holds the read to, per axis (lo, hi): the box that earlier
    # statements wrote, for a tensor written in this def; [0, extent) otherwise.
    bounds: tuple = ()
    free_below: frozenset = frozenset()  # axes whose lower side the `?:` guard proves


@dataclass
class _Tensor:
    name: str
    type: ScalarType
    role: str  # input, scalar, output, temporary
    shape: tuple | None = None  # concrete; None: not written yet
    dims: tuple | None = None  # text of each extent (size name or literal)
    lo: float = 0
    hi: float = 0
    exact: bool = True
    index_max: int | None = None  # index tensors: values in [0, index_max)
    prec: ScalarType | None = None  # see _Val.prec
    written: bool = False
    typed: bool = False  # an output declared with its type and shape
    box: list | None = None  # per axis (lo, hi): the hull of what statements wrote so far
    box_from_zero: list | None = None  # per axis: every write started at a literal 0

    def record_write(self, box: list, from_zero: list) -> None:
        """Widen the box this tensor holds values in by one statement's left-side ranges
        (a later read's range inference is bounded by it: docs/language.md)."""
        if self.box is None:
            self.box, self.box_from_zero = list(box), list(from_zero)
            return
        self.box = [(min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(self.box, box)]
        self.box_from_zero = [a and b for a, b in zip(self.box_from_zero, from_zero)]
    spec: InputSpec | None = None


class _Invalid(Exception):
    """The statement being generated is not valid: retry with other choices."""


# Builtins: arity, argument domain check, image of the argument intervals, exact, and
# whether the arguments must be exact (discontinuous functions).
def _to_integer_image(args):
    """ceil, floor, round, trunc: monotone, and within 1 of the argument."""
    (lo, hi), = args
    return math.floor(lo) - 1, math.ceil(hi) + 1


def _logb_image(args):
    (lo, hi), = args
    return -4, max(10, math.log2(max(abs(lo), abs(hi))) + 1)


def _mono(f, inc=True):
    def image(args):
        (lo, hi), = args
        a, b = f(lo), f(hi)
        return (a, b) if inc else (b, a)
    return image


def _const_image(lo, hi):
    return lambda args: (lo, hi)


def _within(lo, hi):
    return lambda args: all(lo <= a and b <= hi for a, b in args)


def _away_from_zero(m):
    return lambda args: all(a >= m or b <= -m for a, b in args)


def _any(args):
    return True


def _rnorm_ok(args):
    return any(a >= 0.25 or b <= -0.25 for a, b in args)


def _norm_image(args):
    return 0.0, math.sqrt(sum(max(a * a, b * b) for a, b in args))


def _rnorm_image(args):
    low = max(min(abs(a), abs(b)) if a * b > 0 else 0 for a, b in args)
    return 1 / math.sqrt(sum(max(a * a, b * b) for a, b in args)), 1 / max(low, 0.25)


def _pow_image(args):
    (a0, a1), (b0, b1) = args
    corners = [x ** y for x in (a0, a1) for y in (b0, b1)]
    return min(corners), max(corners)


def _fma_image(args):
    (a0, a1), (b0, b1), (c0, c1) = args
    p = [x * y for x in (a0, a1) for y in (b0, b1)]
    return min(p) + c0, max(p) + c1


def _mod_image(args):
    (a0, a1), (b0, b1) = args
    m = min(max(abs(a0), abs(a1)), max(abs(b0), abs(b1)))
    return -m, m


def _lgamma_image(args):
    (lo, hi), = args
    return -0.13, max(math.lgamma(lo), math.lgamma(hi))


def _tgamma_image(args):
    (lo, hi), = args
    return 0.88, max(math.gamma(lo), math.gamma(hi))


def _cosh_image(args):
    (lo, hi), = args
    return 1.0, math.cosh(max(abs(lo), abs(hi)))


def _fabs_image(args):
    (lo, hi), = args
    return (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi))), max(abs(lo), abs(hi))


def _rcbrt_image(args):
    (lo, hi), = args
    m = min(abs(lo), abs(hi))
    return -1 / math.copysign(abs(m) ** (1 / 3), 1), 1 / abs(m) ** (1 / 3)


def _erfcx_image(args):
    (lo, hi), = args
    f = lambda x: math.exp(x * x) * math.erfc(x) if x < 20 else 1 / (x * math.sqrt(math.pi))  # noqa: E731
    return f(hi), f(lo)


BUILTINS = {
    # name: (arity, domain ok(args), image(args), exact, needs exact args)
    "acos": (1, _within(-0.9, 0.9), _mono(math.acos, False), False, False),
    "asin": (1, _within(-0.9, 0.9), _mono(math.asin), False, False),
    "acosh": (1, _within(1.1, LIMIT), _mono(math.acosh), False, False),
    "asinh": (1, _any, _mono(math.asinh), False, False),
    "atan": (1, _any, _const_image(-1.6, 1.6), False, False),
    "atanh": (1, _within(-0.9, 0.9), _mono(math.atanh), False, False),
    "cbrt": (1, _any, _mono(lambda x: math.copysign(abs(x) ** (1 / 3), x)), False, False),
    "ceil": (1, _any, _to_integer_image, True, True),
    "floor": (1, _any, _to_integer_image, True, True),
    "round": (1, _any, _to_integer_image, True, True),
    "trunc": (1, _any, _to_integer_image, True, True),
    "cos": (1, _within(-100, 100), _const_image(-1, 1), False, False),
    "sin": (1, _within(-100, 100), _const_image(-1, 1), False, False),
    "cospi": (1, _within(-100, 100), _const_image(-1, 1), False, False),
    "sinpi": (1, _within(-100, 100), _const_image(-1, 1), False, False),
    "cosh": (1, _within(-5, 5), _cosh_image, False, False),
    "sinh": (1, _within(-5, 5), _mono(math.sinh), False, False),
    "tan": (1, _within(-1.2, 1.2), _mono(math.tan), False, False),
    "tanh": (1, _any, _const_image(-1, 1), False, False),
    "erf": (1, _any, _const_image(-1, 1), False, False),
    "erfc": (1, _any, _const_image(0, 2), False, False),
    "erfcinv": (1, _within(0.1, 1.9), _const_image(-1.2, 1.2), False, False),
    "erfcx": (1, _within(-2, LIMIT), _erfcx_image, False, False),
    "erfinv": (1, _within(-0.9, 0.9), _const_image(-1.2, 1.2), False, False),
    "exp": (1, _within(-LIMIT, 5), _mono(math.exp), False, False),
    "exp2": (1, _within(-LIMIT, 8), _mono(lambda x: 2.0 ** x), False, False),
    "exp10": (1, _within(-LIMIT, 2), _mono(lambda x: 10.0 ** x), False, False),
    "expm1": (1, _within(-LIMIT, 5), _mono(math.expm1), False, False),
    "fabs": (1, _any, _fabs_image, True, False),
    "lgamma": (1, _within(0.3, 20), _lgamma_image, False, False),
    "tgamma": (1, _within(0.3, 6), _tgamma_image, False, False),
    "log": (1, _within(0.1, LIMIT), _mono(math.log), False, False),
    "log2": (1, _within(0.1, LIMIT), _mono(math.log2), False, False),
    "log10": (1, _within(0.1, LIMIT), _mono(math.log10), False, False),
    "log1p": (1, _within(-0.7, LIMIT), _mono(math.log1p), False, False),
    "logb": (1, _away_from_zero(0.1), _logb_image, True, True),
    "normcdf": (1, _any, _const_image(0, 1), False, False),
    "normcdfinv": (1, _within(0.05, 0.95), _const_image(-1.7, 1.7), False, False),
    "rcbrt": (1, _away_from_zero(0.1), _rcbrt_image, False, False),
    "rsqrt": (1, _within(0.1, LIMIT), _mono(lambda x: 1 / math.sqrt(x), False), False, False),
    "sqrt": (1, _within(0, LIMIT), _mono(math.sqrt), True, False),
    "j0": (1, _within(-20, 20), _const_image(-1, 1), False, False),
    "j1": (1, _within(-20, 20), _const_image(-1, 1), False, False),
    "y0": (1, _within(0.5, 20), _const_image(-1.5, 0.6), False, False),
    "y1": (1, _within(0.5, 20), _const_image(-1.5, 0.6), False, False),
    "cyl_bessel_i0": (1, _within(-5, 5), _const_image(1, 28), False, False),
    "cyl_bessel_i1": (1, _within(-5, 5), _const_image(-25, 25), False, False),
    "atan2": (2, _any, _const_image(-3.2, 3.2), False, True),
    "copysign": (2, _any, lambda a: (-max(map(abs, a[0])), max(map(abs, a[0]))), True, True),
    "fdim": (2, _any, lambda a: (0.0, max(0.0, a[0][1] - a[1][0])), True, False),
    "fdivide": (2, lambda a: _away_from_zero(0.5)(a[1:]), None, True, False),
    "fmax": (2, _any, lambda a: (max(a[0][0], a[1][0]), max(a[0][1], a[1][1])), True, False),
    "fmin": (2, _any, lambda a: (min(a[0][0], a[1][0]), min(a[0][1], a[1][1])), True, False),
    "fmod": (2, lambda a: _away_from_zero(0.5)(a[1:]), _mod_image, True, True),
    "remainder": (2, lambda a: _away_from_zero(0.5)(a[1:]), _mod_image, True, True),
    "hypot": (2, _any, _norm_image, False, False),
    "rhypot": (2, _rnorm_ok, _rnorm_image, False, False),
    "nextafter": (2, _any, lambda a: (a[0][0] - 1e-3 * (1 + abs(a[0][0])), a[0][1] + 1e-3 * (1 + abs(a[0][1]))),
                  True, True),
    "pow": (2, lambda a: _within(0.1, 10)(a[:1]) and _within(-3, 3)(a[1:]), _pow_image, False, False),
    "fma": (3, _any, _fma_image, True, False),
    "norm3d": (3, _any, _norm_image, False, False),
    "rnorm3d": (3, _rnorm_ok, _rnorm_image, False, False),
    "norm4d": (4, _any, _norm_image, False, False),
    "rnorm4d": (4, _rnorm_ok, _rnorm_image, False, False),
}


def _div_image(a, b):
    q = [x / y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return min(q), max(q)


# ------------------------------------------------------------------------------------
# The program builder


class _Builder:
    def __init__(self, draw, max_stmts: int, max_depth: int):
        self.draw = draw
        self.max_depth = max_depth
        self.max_stmts = max_stmts
        self.tensors: dict[str, _Tensor] = {}
        self.params: list[_Tensor] = []  # inputs and scalars, in signature order
        self.outputs: list[_Tensor] = []
        self.stmts: list[str] = []
        self.ranges: list[dict] = []
        self.counter = 0

    # Helpers --------------------------------------------------------------------------

    def d(self, strategy):
        return self.draw(strategy)

    def chance(self, p: float) -> bool:
        return self.d(st.integers(0, 999)) < p * 1000

    def pick(self, seq):
        seq = list(seq)
        return seq[self.d(st.integers(0, len(seq) - 1))]

    def weighted(self, options: dict):
        keys = [k for k, w in options.items() if w > 0]
        total = sum(options[k] for k in keys)
        x = self.d(st.integers(0, total - 1))
        for k in keys:
            x -= options[k]
            if x < 0:
                return k
        raise AssertionError

    # Signature --------------------------------------------------------------------------

    def signature(self) -> None:
        # Special float inputs (NaN, inf, -0.0, subnormals, huge values): then no float ->
        # integer cast and no float sums or products over reduction variables (overflow
        # and inf - inf depend on the order), so that every result is still defined. The
        # intervals do not hold for them; builtins get any argument (NaN in, NaN out).
        self.special = self.chance(0.15)
        count = self.d(st.integers(1, 4))
        self.sizes = {}
        big = self.d(st.integers(0, 6 * count))  # at most one size large enough for vector loops
        for n in range(count):
            self.sizes[SIZE_NAMES[n]] = self.d(st.integers(8, 40)) if n == big else self.d(st.integers(1, 7))
        unused = list(self.sizes)
        for n in range(self.d(st.integers(1, 3))):
            self.new_input(unused)
        while unused:
            self.new_input(unused)
        for n in range(self.d(st.integers(0, 2))):
            self.new_scalar()
        for n in range(self.d(st.sampled_from([0, 0, 0, 1]))):
            self.new_typed_output()

    def value_type(self, bools=True) -> ScalarType:
        kind = self.weighted({"float": 10, "int": 6, "bool": 1 if bools else 0})
        if kind == "float":
            return self.weighted({FLOAT: 8, DOUBLE: 3, HALF: 2, BFLOAT16: 2})
        if kind == "int":
            return self.weighted({INT32: 6, INT64: 2, INT8: 2, INT16: 1, UINT8: 2, UINT16: 1, UINT32: 1, UINT64: 1})
        return BOOL

    def dims_text(self, rank: int, unused: list) -> tuple:
        dims = []
        for _ in range(rank):
            if unused and self.chance(0.7):
                dims.append(unused.pop(0))
            elif self.chance(0.1):
                dims.append(str(self.d(st.integers(1, 4))))
            else:
                dims.append(self.pick(self.sizes))
            if sum(self.extent(x) >= 8 for x in dims) > 1:  # one large extent per tensor at most
                if dims[-1] in self.sizes and dims[-1] not in dims[:-1] and \
                        not any(dims[-1] in (p.dims or ()) for p in self.params):
                    unused.insert(0, dims[-1])  # still to be introduced by some input
                dims[-1] = str(self.d(st.integers(1, 3)))
        return tuple(dims)

    def extent(self, dim: str) -> int:
        return int(dim) if dim.isdigit() else self.sizes[dim]

    def new_input(self, unused: list, rank=None, t=None, index_max=None) -> _Tensor:
        name = "ABCDEFGHJ"[len([p for p in self.params if p.role == "input" and p.index_max is None])]
        if rank is None:
            rank = self.weighted({1: 4, 2: 5, 3: 2, 0: 0})
        t = t or self.value_type()
        dims = self.dims_text(rank, unused)
        shape = tuple(self.extent(x) for x in dims)
        special = False
        if index_max is not None:
            lo, hi = 0, index_max - 1
        elif t.is_bool:
            lo, hi = 0, 1
        elif t.is_integer:
            choice = self.weighted({"small": 6, "positive": 3, "full": 2})
            tlo, thi = _type_range(t)
            lo, hi = {"small": (max(tlo, -20), 20), "positive": (1, 9), "full": (max(tlo, -100), 100)}[choice]
            if choice == "full":
                special, lo, hi = True, tlo, thi
        else:
            lo, hi = self.pick([(-2.0, 2.0), (0.25, 2.0), (-0.75, 0.75)])
            special = self.special and self.chance(0.7)  # the interval does not hold then
        layout = "c"
        if rank >= 1 and self.chance(0.15):
            layout = self.pick(["transposed", "strided", "reversed"] if rank >= 2 else ["strided", "reversed"])
        spec_lo, spec_hi = lo, hi
        if special:  # random values stay small; the extremes are mixed in
            spec_lo, spec_hi = max(lo, -100), min(hi, 100)
        tensor = _Tensor(name, t, "input", shape, dims, lo, hi, index_max=index_max, written=True)
        tensor.spec = InputSpec(name, t.name, shape, spec_lo, spec_hi, special, layout)
        self.tensors[name] = tensor
        self.params.append(tensor)
        return tensor

    def count(self) -> int:
        self.counter += 1
        return self.counter - 1

    def new_scalar(self) -> None:
        name = ["alpha", "beta", "gamma"][len([p for p in self.params if p.role == "scalar"])]
        t = self.weighted({FLOAT: 5, DOUBLE: 2, INT32: 3, INT64: 1, UINT8: 1, BOOL: 1, HALF: 1})
        if t.is_bool:
            lo, hi = 0, 1
        elif t.is_integer:
            lo, hi = (1, 9) if self.chance(0.5) else (-9, 9)
            lo = max(lo, 0) if t.kind == "uint" else lo
        else:
            lo, hi = self.pick([(-2.0, 2.0), (0.5, 1.5)])
        tensor = _Tensor(name, t, "scalar", (), (), lo, hi, written=True)
        tensor.spec = InputSpec(name, t.name, None, lo, hi)
        self.tensors[name] = tensor
        self.params.append(tensor)

    def new_typed_output(self) -> None:
        name = f"O{self.count()}"
        t = self.value_type()
        rank = self.d(st.integers(0, 2))
        dims = tuple(self.pick(self.sizes) if self.chance(0.85) else str(self.d(st.integers(1, 3)))
                     for _ in range(rank))
        shape = tuple(self.extent(x) for x in dims)
        tensor = _Tensor(name, t, "output", shape, dims, 0, 0, typed=True)
        self.tensors[name] = tensor
        self.outputs.append(tensor)

    # Statements -------------------------------------------------------------------------

    def body(self) -> None:
        count = self.d(st.integers(1, self.max_stmts))
        for _ in range(count):
            self.statement()
        for t in list(self.outputs):  # every declared output must be written
            if not t.written:
                self.statement(force_target=t)
        if not self.outputs:
            self.statement(force_new_output=True)

    def statement(self, force_target=None, force_new_output=False) -> None:
        for attempt in range(8):
            builder = _StmtBuilder(self, force_target, force_new_output, attempt)
            try:
                text, ranges = builder.build()
            except _Invalid:
                continue
            builder.commit(ranges)
            self.stmts.append(text)
            self.ranges.append(ranges)
            return
        if force_target is not None or force_new_output:
            self.fallback(force_target)

    def fallback(self, target: _Tensor | None) -> None:
        """A statement that is valid by construction: a constant over the target's box."""
        if target is None:
            target = _Tensor(f"O{self.count()}", FLOAT, "output")
            self.tensors[target.name] = target
            self.outputs.append(target)
        if target.shape is None:  # a new rank-1 output over the first size
            size = next(iter(self.sizes))
            text = f"{target.name}(i) = 1.5 where i in 0:{size}"
            target.shape, target.dims = (self.sizes[size],), (str(self.sizes[size]),)
            target.type = FLOAT
            ranges = {"i": (0, self.sizes[size])}
        else:
            lhs = list(LHS_NAMES[:len(target.shape)])
            value = "(1 == 1)" if target.type.is_bool else f"{target.type.name}(1)"
            sub = f"({', '.join(lhs)})" if lhs else ""
            clauses = [f"{v} in 0:{e}" for v, e in zip(lhs, target.shape)]
            text = f"{target.name}{sub} = {value}"
            if clauses:
                text += " where " + ", ".join(clauses)
            ranges = {v: (0, e) for v, e in zip(lhs, target.shape)}
        target.lo, target.hi = min(target.lo, 0), max(target.hi, 1.5)
        target.written = True
        target.record_write([ranges[v] for v in ranges], [True] * len(ranges))
        self.stmts.append(text)
        self.ranges.append(ranges)

    # Rendering -------------------------------------------------------------------------

    def render(self, entry: str) -> str:
        params = []
        for p in self.params:
            if p.role == "scalar":
                params.append(f"{p.type.name} {p.name}")
            else:
                params.append(f"{p.type.name}({', '.join(p.dims)}) {p.name}" if p.dims else f"{p.type.name} {p.name}")
        outs = []
        for t in self.outputs:
            if t.typed:
                outs.append(f"{t.type.name}({', '.join(t.dims)}) {t.name}" if t.dims else f"{t.type.name} {t.name}")
            else:
                outs.append(t.name)
        sep = "\n    "
        body = sep.join(self.stmts)
        if self.chance(0.1):
            body = body.replace(sep, " ;" + sep, 1)
        comment = "  # generated" if self.chance(0.1) else ""
        return f"def {entry}({', '.join(params)}) -> ({', '.join(outs)}) {{{comment}{sep}{body}\n}}\n"


class _StmtBuilder:
    """One attempt at one statement. Raises _Invalid when the model says the statement
    would not be valid; nothing is committed to the program until `commit`."""

    def __init__(self, prog: _Builder, force_target, force_new_output, attempt):
        self.p = prog
        self.reads: list[_Read] = []
        self.bindings: list[tuple[str, str]] = []
        self.exists: list[str] = []
        self.explicit: dict[str, tuple[str, int, int]] = {}
        self.used: list[str] = []
        self.new_inputs: list[_Tensor] = []
        self.force_target = force_target
        self.force_new_output = force_new_output
        self.attempt = attempt
        self.nesting = 0  # subscripts being generated inside subscripts
        # A scatter-add's computed subscripts, by target dimension: (text, None or the
        # (variable, divisor, op) of `v / c`, `v % c`, whose range keeps it in bounds).
        self.scatter: dict[int, tuple[str, tuple | None]] = {}

    def d(self, s):
        return self.p.d(s)

    def read(self, t: _Tensor, forms: list, protected=False, free_below=frozenset()) -> None:
        """Record a read of `t`: inference bounds it by what earlier statements wrote."""
        bounds = tuple(t.box) if t.box is not None else tuple((0, n) for n in t.shape)
        self.reads.append(_Read(t.name, t.shape, forms, protected, bounds, free_below))

    def snapshot(self):
        return len(self.reads), len(self.used), len(self.bindings), len(self.new_inputs)

    def restore(self, snap) -> None:
        """Forget what a discarded sub-expression recorded."""
        r, u, b, n = snap
        del self.reads[r:], self.used[u:], self.bindings[b:], self.new_inputs[n:]

    def chance(self, x):
        return self.p.chance(x)

    def pick(self, s):
        return self.p.pick(s)

    # The statement --------------------------------------------------------------------

    def build(self):
        p = self.p
        writable = [t for t in p.tensors.values() if t.role in ("output", "temporary") and t.shape is not None]
        if self.force_target is not None:
            target = self.force_target
        elif not self.force_new_output and writable and self.chance(0.4):
            target = self.pick(writable)
        else:
            rank = p.weighted({0: 1, 1: 4, 2: 4, 3: 1})
            role = "output" if (self.force_new_output or self.chance(0.55)) else "temporary"
            name = f"{'O' if role == 'output' else 'T'}{p.count()}"
            target = _Tensor(name, p.value_type(), role)
            target.rank = rank
        self.target = target
        self.new_target = target.shape is None
        rank = len(target.shape) if target.shape is not None else target.rank
        self.lhs = list(LHS_NAMES[:rank])
        if self.chance(0.3):
            shuffled = list(LHS_NAMES)
            self.lhs = [shuffled[(k + self.d(st.integers(0, 3))) % 4] for k in range(rank)]
            if len(set(self.lhs)) != rank:
                self.lhs = list(LHS_NAMES[:rank])
        t = target.type
        if not self.new_target and self.chance(0.15) and rank >= 1 and target.shape[0] >= 2 \
                and not t.is_bool and target.written:
            return self.recurrence()
        # A scatter-add (`T(I(r), j) += e`) into a tensor an earlier statement wrote: some
        # dimensions take computed subscripts instead of left-side variables.
        scatter = []
        if not self.new_target and target.written and rank >= 1 and not t.is_bool and all(target.shape) \
                and self.chance(0.15):
            scatter = [k for k in range(rank) if self.chance(0.3)] or [self.d(st.integers(0, rank - 1))]
            self.lhs = [v for k, v in enumerate(self.lhs) if k not in scatter]
        kinds = {"+": 1} if scatter else {"=": 6, "+": 4, "*": 1, "min": 2, "max": 2} if not t.is_bool else {"=": 1}
        self.kind = p.weighted(kinds)
        self.init = self.kind != "=" and not scatter and self.chance(0.65)
        self.red = [] if self.kind == "=" else list(RED_NAMES[:p.weighted({0: 1, 1: 5, 2: 3})])
        if p.special and t.is_float and self.kind in "+*":
            self.red = []
        self.vars = self.lhs + self.red
        # Reading the element being written: in a reduction, it sees the partial result
        # (integers only: they wrap, so the growth over the reduction does not matter).
        # (A scatter-add may not read its target: the result would depend on the order.)
        self.self_read = not self.new_target and (not self.red or t.is_integer) and not scatter
        self.read_target = False
        # explicit ranges
        for v in self.vars:
            if self.chance(0.12):
                self.explicit_range(v)
        # before the right side, so that its reduction variables are fresh for them
        self.scatter = {k: self.computed_subscript(k) for k in scatter}
        # the right side
        self.depth = p.max_depth
        if self.new_target or target.typed:
            value = self.typed(t, self.depth)
        else:
            value = self.storable(t, self.depth)
        rhs = value
        # bind every variable, drop unused reductions
        used = set(self.used) | set(self.explicit)
        self.red = [v for v in self.red if v in used]
        self.vars = self.lhs + self.red
        ranges = self.bind_all()
        self.validate(ranges, rhs)
        return self.render(rhs.text), ranges

    def recurrence(self):
        """A statement that reads its own target at another element, so TC's order of
        points matters: `T(i, j) = T(i - 1, j) op T(i, j) where i in 1:E`, or with the
        guard `(i >= 1 ? T(i - 1, j) : 0)`, or accumulating `T(i, j) += T(i - 1, j)`
        (integers: also over a reduction variable that appears only in `where`)."""
        target = self.target
        t = target.type
        self.init, self.red = False, []
        v = self.lhs[0]
        prev = f"{target.name}({', '.join([f'{v} - 1'] + self.lhs[1:])})"
        here = f"{target.name}({', '.join(self.lhs)})"
        # The guard `v >= 1` proves `v - 1` in bounds below only where the written box
        # starts at 0 whatever the sizes (docs/language.md, "Reads in `?:` branches").
        guarded = target.box_from_zero[0] and self.chance(0.4)
        if guarded:
            prev = f"({v} >= 1 ? {prev} : {t.name}(0))"
        else:
            self.explicit[v] = (f"1:{target.dims[0]}", 1, target.shape[0])
        forms = [_Form({w: 1}, 0, w) for w in self.lhs]
        self.read(target, [_Form({v: 1}, -1, "")] + forms[1:], protected=guarded,
                  free_below=frozenset({0}) if guarded else frozenset())
        self.used += self.lhs
        self.kind = self.pick(["=", "=", "+", "max", "min"])
        if self.kind == "=":
            ops = ["({a} + {b})", "max({a}, {b})", "min({a}, {b})"]
            if t.is_float:
                ops.append("({a} * 0.5 + {b})")
            text = self.pick(ops).format(a=prev, b=here)
            self.read(target, forms)
            if "0.5" in text and promote(t, FLOAT) != t:
                text = f"{t.name}({text})"  # half * 0.5 is a float
        else:
            text = prev
            if t.is_integer and self.chance(0.5):
                self.red = ["r"]
                self.explicit["r"] = ("0:2", 0, 2)
        self.vars = self.lhs + self.red
        lo, hi = min(target.lo, 0), max(target.hi, 0)
        m = max(abs(lo), abs(hi))
        if "0.5" in text:
            lo, hi = -2 * m, 2 * m
        elif self.kind == "+" or "+" in text:
            lo, hi = -m * 2 ** target.shape[0], m * 2 ** target.shape[0]
        if t.is_integer:
            lo, hi = _clip_int(t, lo, hi)
        elif max(abs(lo), abs(hi)) > _limit(t):
            raise _Invalid
        value = _Val(text, t, lo, hi, target.exact, target.prec)
        ranges = self.bind_all()
        self.validate(ranges, value, recurrence=True)
        return self.render(text), ranges

    def explicit_range(self, v: str) -> None:
        p = self.p
        size = self.pick(p.sizes)
        n = p.sizes[size]
        is_lhs = v in self.lhs
        options = [(f"0:{size}", 0, n), (f"1:{size}", 1, n), (f"0:{size} - 1", 0, n - 1),
                   (f"0:{min(2, n) if not is_lhs else 2}", 0, min(2, n) if not is_lhs else 2),
                   (f"0:{size} / 2 + 1", 0, n // 2 + 1), (f"{size} - 1:{size}", n - 1, n)]
        if len(p.sizes) >= 2:
            other = self.pick(p.sizes)
            options.append((f"0:min({size}, {other})", 0, min(n, p.sizes[other])))
            options.append((f"0:max({size}, {other}) % 3 + 1", 0, max(n, p.sizes[other]) % 3 + 1))
        if not is_lhs:
            options.append(("-1:2", -1, 2))
        elif self.chance(0.2):  # empty for N = 1, and the extent N - 2 is negative
            options.append((f"0:{size} - 2", 0, n - 2))
        self.explicit[v] = self.pick(options)

    # Binding and checking ---------------------------------------------------------------

    def accesses(self):
        """(bounds, subscripts, axes free below) of each access that range inference uses:
        every read (this model generates no `?:` guard that proves a side of a subscript,
        but the explicit bounds guards of `guarded()`, whose reads it leaves out, and the
        recurrence's `v >= 1`), and the write into a target of known shape (a computed
        subscript bounds nothing)."""
        out = [(r.bounds, r.forms, r.free_below) for r in self.reads]
        if self.target.shape is not None:
            out.append((tuple((0, n) for n in self.target.shape),
                        [None if k in self.scatter else _Form({s: 1}, 0, s)
                         for k, s in enumerate(self.write_subscripts())], frozenset()))
        return out

    def write_subscripts(self) -> list[str]:
        """The target's subscripts: the left-side variables, and computed ones in between."""
        direct = iter(self.lhs)
        return [self.scatter[k][0] if k in self.scatter else next(direct)
                for k in range(len(self.lhs) + len(self.scatter))]

    def infer(self):
        """Range inference on concrete values (docs/language.md, the rounds)."""
        known = {v: (lo, hi) for v, (_, lo, hi) in self.explicit.items()}
        nonneg = {v for v in self.lhs if v not in self.explicit}
        while True:
            collected = {}
            for bounds, forms, free_below in self.accesses():
                for axis, (form, (lower, upper)) in enumerate(zip(forms, bounds)):
                    if form is None:
                        continue
                    unknown = [v for v in form.vars if v not in known]
                    if len(unknown) != 1:
                        continue
                    v = unknown[0]
                    c = form.vars[v]
                    rlo = rhi = form.const
                    for w, cw in form.vars.items():
                        if w == v:
                            continue
                        first, last = known[w][0], known[w][1] - 1
                        rlo += cw * (first if cw > 0 else last)
                        rhi += cw * (last if cw > 0 else first)
                    low_t, high_t = lower - rlo, upper - 1 - rhi
                    if c > 0:
                        lo, hi = -((-low_t) // c), high_t // c + 1
                    else:
                        lo, hi = -((-high_t) // c), low_t // c + 1
                    if axis in free_below:  # the guard proves the subscript's lower side
                        lo, hi = (None, hi) if c > 0 else (lo, None)
                    los, his = collected.setdefault(v, ([], []))
                    los += [] if lo is None else [lo]
                    his += [] if hi is None else [hi]
            found = {}
            for v, (los, his) in collected.items():
                if not his or not los and v not in nonneg:
                    continue  # bounded on one side only: a later round may bound it
                lo = max(los) if los else 0
                if v in nonneg and lo < 0:
                    raise _Invalid  # a left-side index must not start below 0
                found[v] = (lo, min(his))
            if not found:
                return known
            known.update(found)

    def bind_all(self):
        p = self.p
        for _ in range(len(self.vars) + 2):
            known = self.infer()
            unbound = [v for v in self.vars if v not in known]
            if not unbound:
                return {v: known[v] for v in self.vars}
            v = unbound[0]
            candidates = [t for t in p.tensors.values() if t.role == "input" and t.shape
                          and t.index_max is None]
            if v in self.used and candidates and self.chance(0.7):
                t = self.pick(candidates)
                k = self.d(st.integers(0, len(t.shape) - 1))
                subs = ["0"] * len(t.shape)
                subs[k] = v
                forms = [_Form({}, 0, "0")] * len(t.shape)
                forms[k] = _Form({v: 1}, 0, v)
                self.exists.append(f"exists {t.name}({', '.join(subs)})")
                self.read(t, forms)
            elif v in self.used or v in self.lhs:
                self.explicit_range(v)
                if v in self.lhs and self.explicit[v][1] < 0:
                    raise _Invalid
            else:
                raise _Invalid
        raise _Invalid

    def validate(self, ranges, rhs: _Val, recurrence=False) -> None:
        target = self.target
        inferred = [v for v in self.vars if v not in self.explicit]
        for v in inferred:
            if ranges[v][1] <= ranges[v][0]:
                raise _Invalid  # an empty inferred range is a call-time error
        for v in self.lhs:
            if v in self.explicit and self.explicit[v][1] < 0:
                raise _Invalid
        empty = any(hi <= lo for lo, hi in ranges.values())
        if self.kind in ("min", "max") and any(ranges[v][1] <= ranges[v][0] for v in self.red):
            raise _Invalid  # the identity (inf or the type's extreme) would be stored
        points = math.prod(max(0, hi - lo) for lo, hi in ranges.values())
        if points > (1500 if recurrence or self.self_read else 6000):
            raise _Invalid
        if not empty:
            for r in self.reads:
                if r.protected:
                    continue
                for form, extent in zip(r.forms, r.extents):
                    if form is None:
                        continue
                    lo = hi = form.const
                    for w, c in form.vars.items():
                        first, last = ranges[w][0], ranges[w][1] - 1
                        lo += c * (first if c > 0 else last)
                        hi += c * (last if c > 0 else first)
                    if lo < 0 or hi >= extent:
                        raise _Invalid
        lhs_box = all(ranges[v][1] > ranges[v][0] for v in self.lhs)
        if target.shape is not None and (not empty or self.init and lhs_box):  # `!` sets the lhs box
            direct = [n for k, n in enumerate(target.shape) if k not in self.scatter]
            for v, extent in zip(self.lhs, direct):
                if ranges[v][0] < 0 or ranges[v][1] > extent:
                    raise _Invalid
        if not empty:  # the reference refuses a computed subscript outside the target
            for k, (_, bound) in self.scatter.items():
                if bound is not None:
                    v, c, op = bound
                    if ranges[v][0] < 0 or op == "/" and (ranges[v][1] - 1) // c >= target.shape[k]:
                        raise _Invalid
        if self.new_target:
            shape = tuple(max(0, ranges[v][1]) for v in self.lhs)
            if math.prod(shape) > 600 or any(n == 0 for n in shape) and not self.chance(0.3):
                raise _Invalid
            self.shape = shape
        # the values the target holds afterwards
        t = target.type
        reductions = math.prod(max(0, ranges[v][1] - ranges[v][0]) for v in self.red) if self.red else 1
        old_lo, old_hi = (target.lo, target.hi) if target.written or target.typed else (0, 0)
        lo, hi, exact = rhs.lo, rhs.hi, rhs.exact
        if self.kind == "=":
            pass
        elif self.kind == "+":  # a scatter-add too: each element gets at most `reductions` updates
            lo, hi = min(0, lo) * reductions, max(0, hi) * reductions
            if not self.init:
                lo, hi = lo + old_lo, hi + old_hi
            exact = exact and (t.is_integer or reductions <= 1 and t.bits >= 32)
        elif self.kind == "*":
            m = max(abs(lo), abs(hi), 1) ** reductions
            if not self.init:
                m *= max(abs(old_lo), abs(old_hi), 1)
            lo, hi = -m, m
            exact = exact and (t.is_integer or reductions <= 1 and t.bits >= 32)
        if self.kind != "=" and not self.init:
            exact = exact and target.exact
        if t.is_integer and self.red and getattr(self, "read_target", False):
            lo, hi = _type_range(t)  # compounds over the reduction points
        if t.is_integer:
            lo, hi = _clip_int(t, lo, hi)
        elif not t.is_bool and not _magnitude_ok(t, lo, hi, exact):
            raise _Invalid
        prec = _pj(t, rhs)
        if not exact and t.is_float:
            prec = _narrow(prec, t)  # a reduction that may be reassociated
        if not self.new_target:
            prec = _narrow(prec, target.prec)
        # elements no statement writes stay 0
        self.result = (min(lo, old_lo, 0), max(hi, old_hi, 0), exact and (target.exact or self.new_target), prec)

    def render(self, rhs: str) -> str:
        target = self.target
        sub = f"({', '.join(self.write_subscripts())})" if self.lhs or self.scatter else ""
        op = {"=": "=", "+": "+=", "*": "*=", "min": "min=", "max": "max="}[self.kind]
        if self.init:
            op += "!"
        clauses = [f"{v} in {text}" for v, (text, _, _) in self.explicit.items()]
        clauses += [f"{name} = {text}" for name, text in self.bindings]
        clauses += self.exists
        if len(clauses) > 1 and self.chance(0.5):
            clauses = clauses[1:] + clauses[:1]
        text = f"{target.name}{sub} {op} {rhs}"
        if clauses:
            text += " where " + ", ".join(clauses)
        return text

    def commit(self, ranges) -> None:
        p, target = self.p, self.target
        if self.new_target:
            target.shape = self.shape
            target.dims = tuple(str(n) for n in self.shape)
            p.tensors[target.name] = target
            if target.role == "output":
                p.outputs.append(target)
        for t in self.new_inputs:
            p.tensors[t.name] = t
            p.params.append(t)
        target.lo, target.hi, target.exact, target.prec = self.result
        target.written = True
        # a scatter-add may write anywhere along its computed dimensions
        subs = self.write_subscripts()
        target.record_write([(0, target.shape[k]) if k in self.scatter else ranges[s] for k, s in enumerate(subs)],
                            [k in self.scatter or self.explicit.get(s, ("",))[0].startswith("0:")
                             for k, s in enumerate(subs)])

    # Expressions -----------------------------------------------------------------------

    def typed(self, t: ScalarType, depth: int) -> _Val:
        """An expression of exactly type `t`."""
        v = self.storable(t, depth)
        return v if v.type == t else self.cast(v, t)

    def storable(self, t: ScalarType, depth: int) -> _Val:
        """An expression that `t` accepts without a cast (or with one, explicit)."""
        if t.is_bool:
            return self.boolean(depth)
        if t.is_integer:
            v = self.integer(depth) if self.chance(0.8) else self.number(depth, exact=True)
        else:
            v = self.number(depth)
        if converts_implicitly(v.type, t) and self.chance(0.8):
            return v
        return self.cast(v, t)

    def cast(self, v: _Val, t: ScalarType) -> _Val:
        """`t(v)`, made safe: float to integer only from exact values inside the type."""
        if v.type == t:
            return v
        if t.is_bool:
            if v.type.is_float and not v.exact:
                raise _Invalid
            return _Val(f"bool({v.text})", BOOL, 0, 1, v.exact)
        if v.type.is_bool:
            return _Val(f"{t.name}({v.text})", t, 0, 1, True)
        if t.is_integer and v.type.is_float:
            if not v.exact or self.p.special:
                raise _Invalid
            tlo, thi = _type_range(t)
            lo, hi = max(tlo, -100), min(thi, 100)
            text = v.text
            if v.lo < lo or v.hi > hi:
                text = f"max(min({text}, {hi}), {lo if lo >= 0 else f'(-{-lo})'})"
                v = _Val(text, v.type, max(v.lo, lo), min(v.hi, hi), True)
            return _Val(f"{t.name}({text})", t, math.trunc(v.lo), math.trunc(v.hi), True)
        if t.is_integer:
            lo, hi = _clip_int(t, v.lo, v.hi)
            return _Val(f"{t.name}({v.text})", t, lo, hi, True)
        # to a float type (large integers are exact, but bound what follows)
        if v.mag > _limit(t) and self.chance(0.6):
            v = self.clamp(v, int(_limit(t)))
        return _Val(f"{t.name}({v.text})", t, v.lo, v.hi, v.exact, _pj(t, v))

    def clamp(self, v: _Val, m: int) -> _Val:
        t = v.type if v.type.is_float else promote(v.type, INT32)
        lo = max(v.lo, -m)
        if v.type.kind == "uint" and v.type.bits >= 32:
            lo = -m  # min(u, m) compares as a signed type: large values turn negative
        return _Val(f"max(min({v.text}, {m}), (-{m}))", t, lo, min(v.hi, m), v.exact, _pj(t, v))

    def number(self, depth: int, exact=False, float_only=False) -> _Val:
        """A float or integer expression."""
        if float_only or self.chance(0.7):
            return self.floating(depth, exact)
        return self.integer(depth)

    def floating(self, depth: int, exact=False) -> _Val:
        for _ in range(6):
            snap = self.snapshot()
            try:
                v = self._floating(depth, exact)
            except _Invalid:
                self.restore(snap)
                continue
            if v.type.is_float and _magnitude_ok(v.type, v.lo, v.hi, v.exact) and (v.exact or not exact):
                return v
            self.restore(snap)
        return self.float_leaf(exact)

    def _floating(self, depth: int, exact: bool) -> _Val:
        if depth <= 0 or self.chance(0.15):
            return self.float_leaf(exact)
        form = self.p.weighted({
            "arith": 6, "div": 2, "minmax": 2, "neg": 1, "builtin": 0 if exact else 5, "exact_builtin": 2,
            "select": 2, "guarded": 2, "cast": 1, "binding": 1, "from_int": 1,
        })
        if form == "arith":
            a, b = self.number(depth - 1, exact, float_only=True), self.number(depth - 1, exact)
            op = self.pick("+-*")
            return self.arith(op, a, b)
        if form == "div":
            a = self.number(depth - 1, exact, float_only=True)
            b = self.number(depth - 1, exact)
            if not (b.lo >= 0.5 or b.hi <= -0.5):  # divide by b * b + 1 instead
                if b.mag > 20:
                    raise _Invalid
                square = self.arith("*", b, b)
                t = promote(square.type, INT32)
                b = _Val(f"({square.text} + 1)", t, 1, b.mag ** 2 + 1, b.exact, _pj(t, square))
            t = promote(a.type, b.type)
            lo, hi = _div_image(a, b)
            return _Val(f"({a.text} / {b.text})", t, lo, hi, a.exact and b.exact, _pj(t, a, b))
        if form == "minmax":
            a, b = self.number(depth - 1, exact, float_only=True), self.number(depth - 1, exact)
            op = self.pick(["min", "max"])
            f = min if op == "min" else max
            t = promote(a.type, b.type)
            return _Val(f"{op}({a.text}, {b.text})", t, f(a.lo, b.lo), f(a.hi, b.hi), a.exact and b.exact,
                        _pj(t, a, b))
        if form == "neg":
            a = self.floating(depth - 1, exact)
            return _Val(f"(-{a.text})", a.type, -a.hi, -a.lo, a.exact, a.prec)
        if form in ("builtin", "exact_builtin"):
            return self.builtin(depth, exact or form == "exact_builtin")
        if form == "select":
            cond = self.boolean(depth - 1)
            a, b = self.branches(cond, lambda: (self.number(depth - 1, exact, float_only=True),
                                                self.number(depth - 1, exact)))
            t = promote(a.type, b.type)
            return _Val(f"({cond.text} ? {a.text} : {b.text})", t, min(a.lo, b.lo), max(a.hi, b.hi),
                        a.exact and b.exact and cond.exact, _pj(t, a, b))
        if form == "guarded":
            return self.guarded("float", depth, exact)
        if form == "cast":
            a = self.number(depth - 1, exact)
            t = self.pick(FLOAT_TYPES)
            return self.cast(a, t)
        if form == "binding":
            return self.binding(lambda: self.floating(depth - 1, exact))
        a = self.integer(depth - 1)
        if a.mag > 1000:
            a = self.clamp(a, 1000)
        return self.cast(a, self.pick(FLOAT_TYPES))

    def arith(self, op: str, a: _Val, b: _Val) -> _Val:
        t = promote(a.type, b.type)
        if op == "+":
            lo, hi = a.lo + b.lo, a.hi + b.hi
        elif op == "-":
            lo, hi = a.lo - b.hi, a.hi - b.lo
        else:
            p = [x * y for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
            lo, hi = min(p), max(p)
        if t.is_integer:
            lo, hi = _clip_int(t, lo, hi)
        elif not _magnitude_ok(t, lo, hi, a.exact and b.exact):
            raise _Invalid
        return _Val(f"({a.text} {op} {b.text})", t, lo, hi, a.exact and b.exact, _pj(t, a, b))

    def builtin(self, depth: int, exact: bool) -> _Val:
        names = [n for n, spec in BUILTINS.items() if spec[3] or not exact]
        if self.p.special:  # the sign of a NaN made by inf * 0 is unspecified; copysign shows it
            names.remove("copysign")
        name = self.pick(names)
        arity, ok, image, is_exact, needs_exact = BUILTINS[name]
        args = [self.number(depth - 1, exact=needs_exact or exact) for _ in range(arity)]
        if not ok([(a.lo, a.hi) for a in args]):
            raise _Invalid
        t = args[0].type
        for a in args[1:]:
            t = promote(t, a.type)
        t = at_least_float(t)
        if name == "fdivide":
            lo, hi = _div_image(args[0], args[1])
        else:
            try:
                lo, hi = image([(a.lo, a.hi) for a in args])
            except (OverflowError, ValueError, ZeroDivisionError):
                raise _Invalid from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or \
                not _magnitude_ok(t, lo, hi, is_exact and all(a.exact for a in args)):
            raise _Invalid
        exact_result = is_exact and all(a.exact for a in args)
        prec = _pj(t, *args) if exact_result else _narrow(t, *(a.prec for a in args))
        return _Val(f"{name}({', '.join(a.text for a in args)})", t, min(lo, hi), max(lo, hi), exact_result, prec)

    def integer(self, depth: int) -> _Val:
        for _ in range(6):
            snap = self.snapshot()
            try:
                v = self._integer(depth)
            except _Invalid:
                self.restore(snap)
                continue
            if v.type.is_integer:
                return v
            self.restore(snap)
        return self.int_leaf()

    def _integer(self, depth: int) -> _Val:
        if depth <= 0 or self.chance(0.2):
            return self.int_leaf()
        form = self.p.weighted({"arith": 6, "div": 3, "minmax": 2, "neg": 1, "select": 2, "guarded": 1,
                                "cast": 2, "from_float": 1, "binding": 1})
        if form == "arith":
            return self.arith(self.pick("+-*"), self.integer(depth - 1), self.integer(depth - 1))
        if form == "div":
            a, b = self.integer(depth - 1), self.integer(depth - 1)
            t = promote(a.type, b.type)
            if b.lo <= 0 <= b.hi and self.chance(0.5):  # guard the divisor, or let `x / 0` be 0
                one = "1" if b.type == INT32 else f"{b.type.name}(1)"
                b = _Val(f"({b.text} == 0 ? {one} : {b.text})", b.type, b.lo, b.hi)
            op = self.pick("/%")
            m = max(abs(a.lo), abs(a.hi))
            lo, hi = _clip_int(t, -m, m)
            if t.kind == "uint":
                lo = 0
            return _Val(f"({a.text} {op} {b.text})", t, lo, hi)
        if form == "minmax":
            a, b = self.integer(depth - 1), self.integer(depth - 1)
            op = self.pick(["min", "max"])
            f = min if op == "min" else max
            t = promote(a.type, b.type)
            lo, hi = _clip_int(t, f(a.lo, b.lo), f(a.hi, b.hi))
            return _Val(f"{op}({a.text}, {b.text})", t, lo, hi)
        if form == "neg":
            a = self.integer(depth - 1)
            lo, hi = _clip_int(a.type, -a.hi, -a.lo)
            if a.type.kind == "uint":
                lo, hi = _type_range(a.type)
            return _Val(f"(-{a.text})", a.type, lo, hi)
        if form == "select":
            cond = self.boolean(depth - 1)
            a, b = self.branches(cond, lambda: (self.integer(depth - 1), self.integer(depth - 1)))
            t = promote(a.type, b.type)
            lo, hi = _clip_int(t, min(a.lo, b.lo), max(a.hi, b.hi))
            return _Val(f"({cond.text} ? {a.text} : {b.text})", t, lo, hi, cond.exact)
        if form == "guarded":
            return self.guarded("int", depth, False)
        if form == "cast":
            return self.cast(self.integer(depth - 1), self.pick(INT_TYPES))
        if form == "from_float":
            return self.cast(self.floating(depth - 1, exact=True), self.pick(INT_TYPES))
        return self.binding(lambda: self.integer(depth - 1))

    def boolean(self, depth: int) -> _Val:
        for _ in range(6):
            snap = self.snapshot()
            try:
                v = self._boolean(depth)
            except _Invalid:
                self.restore(snap)
                continue
            if v.type.is_bool and v.exact:
                return v
            self.restore(snap)
        return _Val(f"({self.int_leaf().text} > 0)", BOOL)

    def _boolean(self, depth: int) -> _Val:
        if depth <= 0 or self.chance(0.2):
            if self.chance(0.5):
                leaf = self.leaf_read("bool")
                if leaf is not None:
                    return leaf
                flags = [t for t in self.p.params if t.role == "scalar" and t.type.is_bool]
                if flags:
                    return _Val(self.pick(flags).name, BOOL)
            return self.compare(max(depth, 1))
        form = self.p.weighted({"compare": 5, "logic": 3, "not": 1, "cast": 1, "select": 1})
        if form == "compare":
            return self.compare(depth)
        if form == "logic":
            a, b = self.boolean(depth - 1), self.boolean(depth - 1)
            return _Val(f"({a.text} {self.pick(['&&', '||'])} {b.text})", BOOL)
        if form == "not":
            return _Val(f"!{self.boolean(depth - 1).text}", BOOL)
        if form == "cast":
            return self.cast(self.number(depth - 1, exact=True), BOOL)
        cond = self.boolean(depth - 1)
        a, b = self.branches(cond, lambda: (self.boolean(depth - 1), self.boolean(depth - 1)))
        return _Val(f"({cond.text} ? {a.text} : {b.text})", BOOL)

    def branches(self, cond: _Val, make):
        """The branches `make()` returns for `cond ? a : b`. A condition that compares
        index variables may prove a side of a subscript in a branch, which that side then
        leaves out of range inference (docs/language.md, "Reads in `?:` branches"); this
        model does not follow guards, so it generates no such statement."""
        first = len(self.reads)
        a, b = make()
        text = cond.text
        for name, value in reversed(self.bindings):  # a binding may use an earlier one
            text = re.sub(rf"\b{name}\b", f"({value})", text)
        if _INDEX_NAME.search(text) and any(f is not None and f.vars for r in self.reads[first:] for f in r.forms):
            raise _Invalid
        return a, b

    def compare(self, depth: int) -> _Val:
        a = self.number(depth - 1, exact=True)
        b = self.number(depth - 1, exact=True)
        op = self.pick(["<", ">", "<=", ">=", "==", "!="])
        if not (a.exact and b.exact):
            raise _Invalid
        return _Val(f"({a.text} {op} {b.text})", BOOL)

    def binding(self, make) -> _Val:
        if len(self.bindings) >= 2:
            return make()
        v = make()
        name = f"x{len(self.bindings)}"
        if any(name == b for b, _ in self.bindings):
            return v
        self.bindings.append((name, v.text))
        return _Val(name, v.type, v.lo, v.hi, v.exact, v.prec)

    # Leaves ----------------------------------------------------------------------------

    def index_bounds(self) -> tuple[int, int]:
        """Bounds of any index variable's values: ranges start at -1 (`where r in -1:2`)
        or at an offset, and end at most an offset past an extent."""
        return -8, max(self.p.sizes.values()) + 8

    def float_leaf(self, exact: bool) -> _Val:
        kind = self.p.weighted({"read": 10, "literal": 2, "scalar": 1, "index": 1})
        if kind == "read":
            snap = self.snapshot()
            v = self.leaf_read("float")
            if v is not None and (v.exact or not exact):
                return v
            self.restore(snap)
        if kind == "scalar":
            s = [t for t in self.p.params if t.role == "scalar" and t.type.is_float]
            if s:
                t = self.pick(s)
                return _Val(t.name, t.type, t.lo, t.hi)
        if kind == "index":
            v = self.pick(self.vars) if self.vars else None
            if v is not None:
                self.used.append(v)
                return _Val(f"float({v})", FLOAT, *self.index_bounds())
        if self.p.special and self.chance(0.3):  # literals that overflow (or underflow) their type
            text, t = self.pick([("1e39", FLOAT), ("half(1e10)", HALF), ("half(65520.0)", HALF),
                                 ("bfloat16(1e39)", BFLOAT16), ("3.4028236e38", FLOAT), ("1e-46", FLOAT),
                                 ("half(1e-8)", HALF), ("double(1e39)", DOUBLE), ("(-1e39)", FLOAT)])
            return _Val(text, t, 1, 1)  # the interval is not used for special programs
        text, value = self.pick([("0.5", 0.5), ("1.5", 1.5), ("2.0", 2.0), ("1e-3", 1e-3), ("3.", 3.0),
                                 (".25", 0.25), ("2.5e-1", 0.25), ("0.1", 0.1), ("3.14159", 3.14159),
                                 ("1e-5", 1e-5)])
        if self.chance(0.3):
            t = self.pick([HALF, DOUBLE, BFLOAT16])
            return _Val(f"{t.name}({text})", t, value, value)
        return _Val(text, FLOAT, value, value)

    def int_leaf(self) -> _Val:
        kind = self.p.weighted({"read": 6, "literal": 2, "scalar": 1, "index": 2, "size": 1})
        if kind == "read":
            v = self.leaf_read("int")
            if v is not None:
                return v
        if kind == "scalar":
            s = [t for t in self.p.params if t.role == "scalar" and t.type.is_integer]
            if s:
                t = self.pick(s)
                return _Val(t.name, t.type, t.lo, t.hi)
        if kind == "index" and self.vars:
            v = self.pick(self.vars)
            self.used.append(v)
            return _Val(v, INT32, *self.index_bounds())
        if kind == "size":
            s = self.pick(self.p.sizes)
            return _Val(s, INT32, self.p.sizes[s], self.p.sizes[s])
        n = self.pick([0, 1, 2, 3, 7, 100, 255, 1000, 32768, 65535, 2147483647])
        if self.chance(0.25):
            t = self.pick(INT_TYPES)
            lo, hi = _type_range(t)
            n = n if lo <= n <= hi else 1
            return _Val(f"{t.name}({n})", t, n, n)
        return _Val(str(n), INT32, n, n)

    def readable(self, cls: str):
        out = []
        for t in self.p.tensors.values():
            if t.role == "scalar" or t.shape is None or any(n == 0 for n in t.shape):
                continue
            if not (t.written or t.typed):
                continue
            if t is self.target and not (self.self_read and len(t.shape) == len(self.lhs)):
                continue
            if cls == "float" and not t.type.is_float or cls == "int" and not t.type.is_integer \
                    or cls == "bool" and not t.type.is_bool:
                continue
            out.append(t)
        return out

    def leaf_read(self, cls: str) -> _Val | None:
        if len(self.reads) > 10:
            return None
        tensors = self.readable(cls)
        if not tensors:
            return None
        t = self.pick(tensors)
        if t is self.target:  # only at the element being written
            self.read_target = True
            self.read(t, [_Form({v: 1}, 0, v) for v in self.lhs])
            self.used += self.lhs
            sub = f"({', '.join(self.lhs)})" if self.lhs else ""
            return _Val(f"{t.name}{sub}", t.type, t.lo, t.hi, t.exact, t.prec)
        if not t.shape:
            return _Val(t.name, t.type, t.lo, t.hi, t.exact, t.prec)
        subs, forms = [], []
        for k, extent in enumerate(t.shape):
            text, form = self.subscript(t, k)
            subs.append(text)
            forms.append(form)
        self.read(t, forms)
        return _Val(f"{t.name}({', '.join(subs)})", t.type, t.lo, t.hi, t.exact, t.prec)

    def choose_var(self) -> str | None:
        if not self.vars:
            return None
        fresh = [v for v in self.vars if v not in self.used]
        v = self.pick(fresh) if fresh and self.chance(0.7) else self.pick(self.vars)
        self.used.append(v)
        return v

    def extent_text(self, t: _Tensor, k: int) -> str:
        return t.dims[k]

    def subscript(self, t: _Tensor, k: int, allow_indirect=True):
        allow_indirect = allow_indirect and self.nesting == 0 and len(self.reads) < 8
        self.nesting += 1
        try:
            return self._subscript(t, k, allow_indirect)
        finally:
            self.nesting -= 1

    def _subscript(self, t: _Tensor, k: int, allow_indirect: bool):
        extent = t.shape[k]
        form = self.p.weighted({"var": 8, "offset": 2, "stride": 2, "window": 3, "reverse": 1, "const": 1,
                                "indirect": 3 if allow_indirect else 0,
                                "clamped": 1 if allow_indirect else 0})
        v = self.choose_var() if form not in ("const", "indirect", "clamped") else None
        if form == "const" or v is None and form not in ("indirect", "clamped"):
            c = self.d(st.integers(0, extent - 1))
            return str(c), _Form({}, c, str(c))
        if form == "var":
            return v, _Form({v: 1}, 0, v)
        if form == "offset":
            c = self.d(st.integers(1, 2))
            sign = self.pick([1, -1])
            return f"{v} {'+' if sign > 0 else '-'} {c}", _Form({v: 1}, sign * c, "")
        if form == "stride":
            c = self.d(st.integers(2, 3))
            off = self.d(st.integers(0, 1))
            return (f"{c} * {v}" + (f" + {off}" if off else "")), _Form({v: c}, off, "")
        if form == "window":
            w = self.choose_var()
            if w == v:
                return v, _Form({v: 1}, 0, v)
            c = self.d(st.integers(1, 2))
            return (f"{c} * {v} + {w}" if c > 1 else f"{v} + {w}"), _Form({v: c, w: 1}, 0, "")
        if form == "reverse":
            dim = self.extent_text(t, k)
            return f"{dim} - 1 - {v}", _Form({v: -1}, extent - 1, "")
        if form == "clamped":
            e = self.integer(1)  # nested subscripts are never indirect (self.nesting)
            top = self.extent_text(t, k)
            return f"max(min({e.text}, {top} - 1), 0)", None
        return self.indirect(t, k)

    def computed_subscript(self, k: int) -> tuple[str, tuple | None]:
        """A scatter-add's subscript of target dimension `k`, not affine, whose values stay
        in [0, extent): an index tensor's value, a clamped integer expression, `v / c`
        (`validate` checks v's range) or `v % c` (c <= extent)."""
        extent = self.target.shape[k]
        form = self.p.weighted({"indirect": 5, "clamped": 1, "div": 2, "mod": 1})
        self.nesting += 1  # nothing indirect inside
        try:
            if form == "indirect":
                text = self.indirect(self.target, k)[0]
                # a bare name on the left is an index variable: read a rank-0 tensor as `X()`
                return (text if text.endswith(")") else f"{text}()"), None
            v = self.choose_var() if form != "clamped" else None
            if v is None:
                e = self.integer(1)
                return f"max(min({e.text}, {self.extent_text(self.target, k)} - 1), 0)", None
            if form == "div":
                c = self.d(st.integers(2, 3))
                return f"{v} / {c}", (v, c, "/")
            c = self.d(st.integers(1, extent)) if extent > 1 else 1
            return f"{v} % {c}", (v, c, "%")
        finally:
            self.nesting -= 1

    def indirect(self, t: _Tensor, k: int):
        """`I(...)` with an index tensor whose values are in [0, extent): an index input,
        or any integer tensor (an input, or an earlier result) whose interval fits."""
        extent = t.shape[k]
        p = self.p
        pool = [x for x in list(p.tensors.values()) + self.new_inputs
                if x.index_max is not None and x.index_max <= extent]
        pool += [x for x in self.readable("int") if x is not self.target and x.index_max is None
                 and 0 <= x.lo and x.hi <= extent - 1]
        if pool and self.chance(0.6):
            idx = self.pick(pool)
        else:
            if len([x for x in p.params if x.index_max is not None]) + len(self.new_inputs) >= 3:
                raise _Invalid
            idx = self._new_index_tensor(extent)
        subs, forms = [], []
        for j in range(len(idx.shape)):
            text, form = self.subscript(idx, j, allow_indirect=False)
            subs.append(text)
            forms.append(form)
        self.read(idx, forms)
        text = f"{idx.name}({', '.join(subs)})" if idx.shape else idx.name
        if self.chance(0.2):
            text = f"int64({text})"
        return text, None

    def _new_index_tensor(self, extent: int) -> _Tensor:
        p = self.p
        name = f"I{p.count()}"
        t = self.pick([INT32, INT32, INT64, UINT8, INT8, UINT16, UINT32])
        lo, hi = _type_range(t)
        if extent - 1 > hi:
            t = INT32
        rank = self.pick([1, 1, 2])
        dims = tuple(self.pick(p.sizes) for _ in range(rank))
        shape = tuple(p.sizes[x] for x in dims)
        tensor = _Tensor(name, t, "input", shape, dims, 0, extent - 1, index_max=extent, written=True)
        tensor.spec = InputSpec(name, t.name, shape, 0, extent - 1)
        self.new_inputs.append(tensor)  # added to the program by `commit`
        return tensor

    def guarded(self, cls: str, depth: int, exact: bool) -> _Val:
        """`(s0 >= 0 && s0 < E0 && ... ? X(s0, ...) : other)`: the read may be out of
        bounds for some points; the guard keeps it from running there."""
        # Inputs only: their bounds guards prove both sides of each subscript against the
        # declared extent, which is then not bounded by what earlier statements wrote.
        tensors = [t for t in self.readable(cls) if t.shape and t.role == "input" and
                   (t.exact or not exact)]
        if not tensors:
            raise _Invalid
        t = self.pick(tensors)
        subs, conds = [], []
        for k, extent in enumerate(t.shape):
            v = self.choose_var()
            if v is None:
                subs.append("0")
                continue
            off = self.d(st.integers(-2, 2))
            c = self.pick([1, 1, 2])
            s = (f"{c} * {v}" if c > 1 else v) + (f" + {off}" if off > 0 else f" - {-off}" if off < 0 else "")
            subs.append(s)
            conds.append(f"{s} >= 0 && {s} < {self.extent_text(t, k)}")
        if not conds:
            raise _Invalid
        self.read(t, [None] * len(t.shape), protected=True)
        # `other` runs where the conjunction of bounds fails: that proves nothing about it
        other = self.integer(depth - 1) if cls == "int" else self.number(depth - 1, exact)
        read = f"{t.name}({', '.join(subs)})"
        cond = " && ".join(conds)
        if self.chance(0.5):
            text = f"({cond} ? {read} : {other.text})"
        else:
            negated = " || ".join(f"!({c})" for c in conds)
            text = f"({negated} ? {other.text} : {read})"
        ty = promote(t.type, other.type)
        lo, hi = min(t.lo, other.lo), max(t.hi, other.hi)
        if ty.is_integer:
            lo, hi = _clip_int(ty, lo, hi)
        return _Val(text, ty, lo, hi, t.exact and other.exact, _pj(ty, t, other))


# ------------------------------------------------------------------------------------
# Strategies

DECOYS = (
    "def _aux(float(M, K) A, float(K, N) B) -> (C) {\n    C(m, n) +=! A(m, r_k) * B(r_k, n)\n}\n",
    "def aux2(int32(N) X) -> (Y) { Y(i) = X(N - 1 - i) }\n",
)


@st.composite
def tc_programs(draw, max_stmts: int = 5, max_depth: int = 4) -> GeneratedProgram:
    """Random well-formed TC programs with concrete sizes and inputs (see the module
    docstring)."""
    b = _Builder(draw, max_stmts, max_depth)
    b.signature()
    b.body()
    entry = b.pick(["f", "kernel", "_k2"])
    source = b.render(entry)
    if b.chance(0.1):
        decoy = b.pick(DECOYS)
        source = decoy + source if b.chance(0.5) else source + decoy
    exact = frozenset(t.name for t in b.outputs if t.exact)
    tolerances = {}
    for t in b.outputs:
        if t.type.is_float and not t.exact:
            p = _narrow(t.prec, t.type)
            rel = _K[p.name] * _EPS[p.name]
            tolerances[t.name] = (rel, rel * max(1.0, abs(t.lo), abs(t.hi)))
    seed = draw(st.integers(0, 2**32 - 1))
    specs = tuple(p.spec for p in b.params)
    bounds = {} if b.special else {t.name: (t.lo, t.hi) for t in b.outputs}
    return GeneratedProgram(source, entry, dict(b.sizes), specs, seed, exact, tuple(b.ranges), tolerances,
                            bounds)


# Malformed programs ------------------------------------------------------------------

_TOKEN = re.compile(r"\s+|#[^\n]*|[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*(?:[eE][+-]?\d+)?|->|[+*]=!?|"
                    r"m(?:in|ax)=!?|[<>=!]=|&&|\|\||.", re.S)
_VOCABULARY = (
    ["def", "where", "in", "exists", "->", "(", ")", "{", "}", ",", ":", "?", ";", "\n"]
    + ["=", "+=", "*=", "min=", "max=", "+=!", "*=!", "min=!", "max=!"]
    + ["+", "-", "*", "/", "%", "!", "<", ">", "<=", ">=", "==", "!=", "&&", "||"]
    + ["0", "1", "-1", "2147483648", "1e400", "99999999999999999999", "1.5"]
    + ["float", "double", "half", "bfloat16", "int8", "uint64", "bool"]
    + ["min", "max", "exp", "fmax", "fma", "relu", "i", "j", "r", "x0", "N", "M"]
)


_ASSIGN = ["=", "+=", "*=", "min=", "max=", "+=!", "*=!", "min=!", "max=!"]
_BINARY = ["+", "-", "*", "/", "%", "<", ">", "<=", ">=", "==", "!=", "&&", "||"]
_TYPES = sorted(TYPE_NAMES)


@st.composite
def malformed_programs(draw) -> str:
    """A valid generated program with 1 to 4 mutations: token edits (delete, insert,
    swap, duplicate, replace) that mostly break the syntax, and edits that keep it but
    break the meaning (another name of the program, another type, assignment or
    operator, another number, a dropped `where` clause)."""
    program = draw(tc_programs(max_stmts=3, max_depth=2))
    pieces = _TOKEN.findall(program.source)
    names = sorted({p for p in pieces if re.fullmatch(r"[A-Za-z_]\w*", p) and p not in TYPE_NAMES})
    vocabulary = _VOCABULARY + names
    for _ in range(draw(st.integers(1, 4))):
        if not pieces:
            break
        at = draw(st.integers(0, len(pieces) - 1))
        op = draw(st.sampled_from(["delete", "insert", "swap", "duplicate", "replace", "name", "name", "type",
                                   "operator", "number", "clause"]))
        piece = pieces[at]
        if op == "delete":
            del pieces[at]
        elif op == "insert":
            pieces.insert(at, draw(st.sampled_from(vocabulary)) + " ")
        elif op == "swap":
            other = draw(st.integers(0, len(pieces) - 1))
            pieces[at], pieces[other] = pieces[other], pieces[at]
        elif op == "duplicate":
            pieces.insert(at, piece)
        elif op == "replace":
            pieces[at] = draw(st.sampled_from(vocabulary))
        else:  # edits that keep the syntax: find a token of the right kind from `at` on
            kinds = {"name": names, "type": _TYPES, "operator": _ASSIGN + _BINARY}
            for k in range(len(pieces)):
                j = (at + k) % len(pieces)
                token = pieces[j]
                if op == "number" and re.fullmatch(r"\d[\d.eE+-]*", token):
                    pieces[j] = draw(st.sampled_from(["0", "1", "3", "2147483647", "2147483648", "1e39", "0.5"]))
                    break
                if op == "clause" and token == "where":
                    end = next((n for n in range(j, len(pieces)) if "\n" in pieces[n]), len(pieces))
                    del pieces[j:end]
                    break
                pool = kinds.get(op)
                if pool and token in pool:
                    if op != "operator" or (token in _ASSIGN) == (pieces[j] in _ASSIGN):
                        same = _ASSIGN if token in _ASSIGN else _BINARY if op == "operator" else pool
                        pieces[j] = draw(st.sampled_from(same))
                        break
    return "".join(pieces)
