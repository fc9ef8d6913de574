"""The NumPy reference evaluator of TC: the oracle the compiler is tested against.

`evaluate(d, *args)` runs a checked definition (`tcir.frontend.check_source(...).defs[name]`)
on NumPy arrays and returns its outputs. It interprets the checked program directly and
shares no lowering code with the compiler, so a disagreement between the two points at
a bug in one of them. It favours exactness and clarity over speed, but vectorizes the
common statements with NumPy broadcasting so that benchmark-sized tests stay fast.

These are the execution semantics of tcir; compiled code must agree with them (up to
floating-point reassociation of reductions, see below).

Calling convention
    * `evaluate(d, *args)` takes one argument per parameter, in signature order.
      A tensor parameter takes a NumPy array (any strides) of exactly the declared
      dtype (`ScalarType.numpy`; `bfloat16` is `ml_dtypes.bfloat16`). A scalar (rank-0)
      parameter takes a Python or NumPy scalar (or a 0-d array), converted to the
      parameter's type: any real number for a float type (rounded to nearest), an
      integer that fits for an integer type, a `bool` for `bool`.
    * `bind_sizes(d, args)` binds every symbolic size from the input shapes. A wrong
      number of arguments, a wrong rank, an extent that differs from a literal size or
      from the value another dimension gave the same size raise `TcError` naming the
      parameter and the (0-based) dimension.
    * The result is the tuple of outputs in declared order (rank-0 outputs as 0-d
      arrays); temporaries are not returned.

Storage
    Outputs and temporaries are allocated ZERO-initialized with the shape given by their
    `shape` size expressions (an extent that evaluates below 0 is 0). So a `+=` without
    `!` into a fresh output starts from 0, and elements no statement writes stay 0.

Statements
    Statements run in order. A statement's domain is the box of its iterator ranges
    (half-open `[lo, hi)`, possibly empty), iterators ordered left-side variables first,
    then reduction variables. Writing outside the target's shape raises `TcError`.
    * `=`: for every point, the right side is stored into the target element.
    * `+= *= min= max=` combine the value of every point into the target element with
      `+`, `*`, `min`, `max` (NaN-propagating on floats, like the `min`/`max` operators).
    * `init` (the `!` forms) first sets the target over the box of the left-side ranges
      to the identity (0; 1; +inf / -inf for floats, the type's max / min for integers),
      then reduces. (The initialization covers the whole left-side box even when a
      reduction range is empty: an empty sum is 0.)
    * Points are visited in lexicographic order of the iterators, and a read of the
      target itself sees the values stored so far. The evaluator is exact here: a
      statement that reads its own target only at the element being written is
      vectorized over the left-side variables (and loops over reduction points in
      order); any other read of the target runs an exact point-by-point loop.
    * Reductions of `half`/`bfloat16` accumulate in lexicographic order, rounding to the
      type after every step. Integer reductions wrap (so their order does not matter).
      For `float`/`double` sums and products the reference uses NumPy's reduction in the
      type (pairwise summation): compiled code may associate differently, so compare
      floating-point reductions with a tolerance.

Arithmetic (every operation in its expression's type, as typed by the front end)
    * `float` stays `float` (no float64 intermediate), `half` and `bfloat16` are rounded
      to their type after every operation; `double` is IEEE double.
    * Integers wrap modulo 2^bits. `/` on integers truncates toward zero and `%` is the C
      remainder (sign of the dividend); `INT_MIN / -1` wraps to `INT_MIN`. An integer
      division or remainder by zero is undefined in compiled code; the reference raises
      `TcError("... division by zero ...")` so that tests never rely on it. On floats `/`
      is IEEE division and `%` is `fmod`.
    * Comparisons are IEEE (`!=` is true for NaN, the others false). `&&` and `||`
      evaluate both operands (only `?:` is lazy). `min`/`max` propagate NaN.
    * Casts: float to integer truncates toward zero (NaN and out-of-range values are
      undefined: avoid them in tests); integer to integer wraps; a number to `bool` is
      `!= 0` (NaN is true); `bool` to a number is 0 or 1; to `half`/`bfloat16` rounds
      to nearest-even once from the exact value.
    * Size names are `int32` values, index variables `int32`.

Reads
    `c ? a : b` is lazy: lanes where a branch is not taken never evaluate it, so a
    guarded read or division there cannot fail. Indirect subscripts (read from an
    integer tensor) work. A read outside a tensor's bounds at a point that is evaluated
    raises `TcError` naming the tensor, the dimension and the index.

Builtins (`tcir.frontend.builtins.ARITY`)
    A builtin works in its result type (`float` or `double`): its arguments are
    evaluated in that type, `tcir.testing.special.BUILTINS` computes it (in float64 for
    most; that module gives the accuracy and the exactly specified functions) and the
    result is rounded to the type.

Number formats (`tcir.lowp`: float8_e4m3fn, int4, user formats)
    Arrays hold ml_dtypes' dtype for the named formats and the storage integer for user
    formats. Every operation on them is computed exactly and rounded once by
    `tcir.testing.exact_formats` (tcir/testing/reference_lowp.py has the rules), never by
    generated code; reductions into a format round after every step, in order, like
    half. A `!` reduction starts from 0, 1, or the largest / smallest value of the
    format for min / max (+-inf where it has infinities).

Speed
    Vectorized statements evaluate at most `_CHUNK` domain points at a time. The
    builtins computed in Python run once per distinct argument value (see
    `tcir.testing.special`); statements that read their own target at another element
    run point by point (some 10 us per point).
"""

from __future__ import annotations

import itertools
import math
import sys
from typing import Callable

import ml_dtypes
import numpy as np

from tcir.errors import TcError
from tcir.frontend.checked import (
    CheckedDef, CheckedStmt, TBinary, TCall, TCast, TConst, TExpr, TIndex, TRead, TScalar, TSelect,
    TSize, TUnary, TensorInfo, children, expr_text, write_dims,
)
from tcir.frontend.types import ScalarType

from . import reference_lowp as lowp
from .special import BUILTINS

__all__ = ["evaluate", "bind_sizes", "np_dtype", "c_cast"]

_BF16 = np.dtype(ml_dtypes.bfloat16)
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_I32 = np.dtype(np.int32)

# A vectorized statement evaluates its right side over at most this many points at once.
_CHUNK = 1 << 22
_RECURSION_LIMIT = 20000


def np_dtype(t: ScalarType) -> np.dtype:
    """The NumPy dtype of a TC scalar type."""
    if t.is_lowp:  # ml_dtypes' dtype for a named format, the storage integer otherwise
        return t.numpy_dtype
    return _BF16 if t.numpy == "bfloat16" else np.dtype(t.numpy)


# Conversions ------------------------------------------------------------------------


def _f64_to_bf16(x: np.ndarray) -> np.ndarray:
    """float64 -> bfloat16 rounded once to nearest-even (ml_dtypes rounds through
    float32 twice). Round to odd into float32 first, then to nearest into bfloat16:
    float32 has more than 2 * 8 + 2 bits, so the result is the correctly rounded one."""
    x = np.asarray(x, _F64)
    f = x.astype(_F32)
    back = f.astype(_F64)
    inexact = (back != x) & np.isfinite(x) & np.isfinite(f)
    if inexact.any():
        odd = (f.view(np.uint32) & 1).astype(bool)
        toward = np.where(x > back, np.float32(np.inf), np.float32(-np.inf)).astype(_F32)
        f = np.where(inexact & ~odd, np.nextafter(f, toward), f).astype(_F32)
    # Values beyond float32's range rounded to inf; bfloat16 has float32's range: inf is right.
    return f.astype(_BF16)


def c_cast(x, dst: np.dtype) -> np.ndarray:
    """`x` (an array of any TC dtype) converted to `dst` with C semantics (the casts
    described above): float to integer truncates toward zero, integer to integer wraps,
    a number to bool is `!= 0`, and a conversion to half/bfloat16 rounds to
    nearest-even once from the exact value."""
    x = np.asarray(x)
    src = x.dtype
    if src == dst:
        return x
    if dst == np.bool_:
        return np.asarray(x != 0) if src not in (_BF16, _F16) else np.asarray(x.astype(_F32) != 0)
    if src == np.bool_:
        return x.astype(_F32).astype(dst) if dst == _BF16 else x.astype(dst)
    src_float = src.kind == "f" or src == _BF16
    dst_float = dst.kind == "f" or dst == _BF16
    if src in (_BF16, _F16):  # widen exactly first
        x, src = x.astype(_F32), _F32
        if dst == _F32:
            return x
    if dst_float:
        if dst == _BF16:
            return _f64_to_bf16(x.astype(_F64)) if src != _F32 else x.astype(_BF16)
        if dst == _F16 and not src_float:
            return x.astype(_F64).astype(_F16)
        return x.astype(dst)
    if src_float:  # float -> integer: truncate toward zero (out of range: undefined)
        return np.trunc(x).astype(dst)
    return x.astype(dst)  # integer -> integer wraps


def _const(value, dst: np.dtype) -> np.ndarray:
    if dst == _BF16:
        return _f64_to_bf16(np.asarray(float(value), _F64))
    return np.asarray(value, dtype=dst)


def _identity(kind: str, dt: np.dtype) -> np.ndarray:
    if kind == "+":
        return _const(0, dt)
    if kind == "*":
        return _const(1, dt)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.asarray(info.max if kind == "min" else info.min, dtype=dt)
    return _const(math.inf if kind == "min" else -math.inf, dt)


_COMBINE = {"+": np.add, "*": np.multiply, "min": np.minimum, "max": np.maximum}


# Calling convention -----------------------------------------------------------------


def _describe(arg) -> str:
    if isinstance(arg, np.ndarray):
        return f"an array of shape {arg.shape} and dtype {arg.dtype}"
    return f"a `{type(arg).__name__}`"


def bind_sizes(d: CheckedDef, args) -> dict[str, int]:
    """The value of every symbolic size of `d`, from the shapes of `args`."""
    args = list(args)
    if len(args) != len(d.inputs):
        names = ", ".join(f"`{p.name}`" for p in d.inputs)
        raise TcError(f"`{d.name}` takes {len(d.inputs)} argument{'s' if len(d.inputs) != 1 else ''} "
                      f"({names}), got {len(args)}")
    sizes: dict[str, int] = {}
    origin: dict[str, tuple[str, int]] = {}
    for p, arg in zip(d.inputs, args):
        if p.role == "scalar":
            if np.ndim(arg) != 0:
                raise TcError(f"`{p.name}` of `{d.name}` is a scalar parameter, got {_describe(arg)}")
            continue
        shape = getattr(arg, "shape", None)
        if not isinstance(arg, np.ndarray) or shape is None:
            raise TcError(f"argument `{p.name}` of `{d.name}` must be a NumPy array, got {_describe(arg)}")
        if len(shape) != len(p.shape):
            raise TcError(f"`{p.name}` of `{d.name}` has rank {len(p.shape)}, got an array of rank "
                          f"{len(shape)} (shape {tuple(shape)})")
        for k, (want, got) in enumerate(zip(p.shape, shape)):
            literal = want.as_constant()
            if literal is not None:
                if got != literal:
                    raise TcError(f"dimension {k} of `{p.name}` must be {literal}, got {got}")
                continue
            name = str(want)
            if name in sizes and sizes[name] != got:
                q, j = origin[name]
                raise TcError(f"dimension {k} of `{p.name}` is {got}, but size `{name}` is "
                              f"{sizes[name]} (from dimension {j} of `{q}`)")
            sizes.setdefault(name, int(got))
            origin.setdefault(name, (p.name, k))
    return sizes


def _scalar_arg(p: TensorInfo, arg) -> np.ndarray:
    if p.dtype.is_lowp:
        return lowp.scalar(arg, p.dtype, p.name)
    dt = np_dtype(p.dtype)
    value = arg.item() if isinstance(arg, np.ndarray | np.generic) else arg
    if p.dtype.is_bool:
        if not isinstance(value, bool):
            raise TcError(f"scalar `{p.name}` is `bool`, got {_describe(arg)}")
        return np.asarray(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TcError(f"scalar `{p.name}` is `{p.dtype}`, got {_describe(arg)}")
    if p.dtype.is_integer:
        if not isinstance(value, int):
            raise TcError(f"scalar `{p.name}` is `{p.dtype}`, got the non-integer {value!r}")
        info = np.iinfo(dt)
        if not info.min <= value <= info.max:
            raise TcError(f"scalar `{p.name}` is `{p.dtype}`, and {value} does not fit in it")
        return np.asarray(value, dtype=dt)
    if isinstance(value, int):
        try:
            value = float(value)  # correctly rounded
        except OverflowError:
            value = math.copysign(math.inf, value)
    with np.errstate(over="ignore"):
        return _const(value, dt)


def _input_array(p: TensorInfo, arg) -> np.ndarray:
    dt = np_dtype(p.dtype)
    if arg.dtype != dt:
        raise TcError(f"`{p.name}` must have dtype {dt}, got {arg.dtype}")
    return arg


# Evaluation ------------------------------------------------------------------------


def evaluate(d: CheckedDef, *args) -> tuple[np.ndarray, ...]:
    """Run `d` on `args`; the outputs in declared order (rank-0 outputs as 0-d arrays)."""
    sizes = bind_sizes(d, args)
    arrays: dict[str, np.ndarray] = {}
    for p, arg in zip(d.inputs, args):
        arrays[p.name] = _scalar_arg(p, arg) if p.role == "scalar" else _input_array(p, arg)
    for t in d.outputs + d.temporaries:
        try:
            shape = [max(0, s.evaluate(sizes)) for s in t.shape]
        except ZeroDivisionError:
            raise TcError(f"the shape of `{t.name}` divides by zero for sizes {sizes}", t.loc) from None
        arrays[t.name] = np.zeros(shape, dtype=np_dtype(t.dtype))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _RECURSION_LIMIT))
    try:
        with np.errstate(all="ignore"):
            for s in d.stmts:
                _Statement(s, arrays, sizes).run()
    finally:
        sys.setrecursionlimit(old)
    return tuple(arrays[t.name] for t in d.outputs)


def _target_reads(e: TExpr, target: str):
    if isinstance(e, TRead) and e.tensor == target:
        yield e
    for c in children(e):
        yield from _target_reads(c, target)


class _Statement:
    def __init__(self, s: CheckedStmt, arrays: dict[str, np.ndarray], sizes: dict[str, int]):
        self.s = s
        self.arrays = arrays
        self.sizes = sizes
        self.target = arrays[s.target]
        self.dtype = self.target.dtype
        self.type = s.rhs.type  # the target's element type
        if self.type.is_lowp and s.kind != "=":  # a number format rounds at every step
            self.combine = lambda acc, v: lowp.combine(s.kind, acc, v, self.type)
        else:
            self.combine = _COMBINE.get(s.kind)
        self.env: dict[str, np.ndarray] = {}
        try:
            self.bounds = {v: (s.ranges[v][0].evaluate(sizes), s.ranges[v][1].evaluate(sizes))
                           for v in s.iterators}
        except ZeroDivisionError:
            raise TcError(f"a range of the statement divides by zero for sizes {sizes}", s.loc) from None

    # Driving the statement -----------------------------------------------------------

    def run(self) -> None:
        s = self.s
        lhs_bounds = [self.bounds[v] for v in s.lhs]
        red_bounds = [self.bounds[v] for v in s.reduction_vars]
        if any(hi <= lo for lo, hi in lhs_bounds):
            return
        for k, v in enumerate(write_dims(s.lhs, s.scatter)):
            if v is None:
                continue
            (lo, hi), extent = self.bounds[v], self.target.shape[k]
            if lo < 0 or hi > extent:
                raise TcError(f"the statement writes `{s.target}` out of bounds: `{v}` ranges over "
                              f"[{lo}, {hi}) but dimension {k} has extent {extent}", s.loc)
        box = tuple(slice(lo, hi) for lo, hi in lhs_bounds)
        if s.init:
            self.target[box] = (lowp.identity(s.kind, self.type) if self.type.is_lowp
                                else _identity(s.kind, self.dtype))
        if any(hi <= lo for lo, hi in red_bounds):
            return
        written = tuple(s.lhs)
        exact = True
        reads_target = False
        for r in _target_reads(s.rhs, s.target):
            reads_target = True
            if not (len(r.indices) == len(written) and all(
                    isinstance(i, TIndex) and i.name == v for i, v in zip(r.indices, written))):
                exact = False
        if not exact:
            self._run_pointwise()
        elif reads_target and red_bounds:
            self._run_reductions_in_order()
        else:
            self._run_box([self.bounds[v] for v in s.iterators])

    def _bind(self, vectorized: list[str], fixed: dict[str, int]) -> None:
        n = len(vectorized)
        self.env = {v: np.asarray(x, _I32) for v, x in fixed.items()}
        for k, v in enumerate(vectorized):
            lo, hi = self.bounds[v]
            shape = [1] * n
            shape[k] = hi - lo
            self.env[v] = np.arange(lo, hi, dtype=np.int64).astype(_I32).reshape(shape)

    def _run_box(self, box: list[tuple[int, int]]) -> None:
        """Vectorized over a sub-box of the domain; no read of the target other than the
        element written (so points of the box are independent). Big boxes are split."""
        s = self.s
        points = math.prod(hi - lo for lo, hi in box)
        if points > _CHUNK:
            for k, (lo, hi) in enumerate(box):
                if hi - lo > 1:
                    mid = (lo + hi) // 2
                    self._run_box(box[:k] + [(lo, mid)] + box[k + 1:])
                    self._run_box(box[:k] + [(mid, hi)] + box[k + 1:])
                    return
        saved = self.bounds
        self.bounds = dict(saved) | dict(zip(s.iterators, box))
        try:
            self._bind(list(s.iterators), {})
            shape = tuple(hi - lo for lo, hi in box)
            values = np.broadcast_to(self._eval(s.rhs, None), shape)
            if s.scatter:
                self._scatter(values)
                return
        finally:
            self.bounds = saved
        nl = len(s.lhs)
        sub = tuple(slice(lo, hi) for lo, hi in box[:nl])
        if s.kind == "=":
            self.target[sub] = values
            return
        op = self.combine
        acc = self.target[sub]
        if nl == len(box):
            self.target[sub] = op(acc, values)
        elif self.dtype in (_F16, _BF16) or self.type.is_lowp:  # round after every step, in order
            flat = values.reshape(values.shape[:nl] + (-1,))
            acc = acc.copy()
            for r in range(flat.shape[-1]):
                acc = op(acc, flat[..., r])
            self.target[sub] = acc
        else:
            axes = tuple(range(nl, len(box)))
            self.target[sub] = op(acc, op.reduce(values, axis=axes, dtype=self.dtype))

    def _scatter(self, values: np.ndarray) -> None:
        """A scatter-add over the bound box: every update added at the element its indirect
        subscripts name, in lexicographic order; an index outside the target is an error."""
        s, shape = self.s, values.shape
        where = []
        for k, (v, extent) in enumerate(zip(write_dims(s.lhs, s.scatter), self.target.shape)):
            if v is not None:
                where.append(np.broadcast_to(self.env[v], shape).astype(np.int64))
                continue
            index = np.broadcast_to(self._eval(s.scatter[k], None), shape).astype(np.int64)
            bad = (index < 0) | (index >= extent)
            if bad.any():
                point = np.unravel_index(int(np.argmax(bad)), shape)
                at = ", ".join(f"{v}={lo + p}" for v, p, (lo, _) in
                               zip(s.iterators, point, (self.bounds[v] for v in s.iterators)))
                raise TcError(f"the scatter-add writes `{s.target}` at index {index[point]} of dimension {k} "
                              f"(subscript `{expr_text(s.scatter[k])}` at {at}), outside [0, {extent})", s.loc)
            where.append(index)
        if self.type.is_lowp or self.dtype in (_F16, _BF16):  # round after every step, in order
            for point in np.ndindex(*shape):
                element = tuple(int(w[point]) for w in where)
                self.target[element] = self.combine(self.target[element], values[point])
        else:
            np.add.at(self.target, tuple(where), values)

    def _run_reductions_in_order(self) -> None:
        """The right side reads the element being written: loop over the reduction points
        in order, vectorized over the left-side variables."""
        s = self.s
        op = self.combine
        box = tuple(slice(*self.bounds[v]) for v in s.lhs)
        shape = tuple(hi - lo for lo, hi in (self.bounds[v] for v in s.lhs))
        red = s.reduction_vars
        for point in itertools.product(*(range(*self.bounds[v]) for v in red)):
            self._bind(list(s.lhs), dict(zip(red, point)))
            values = np.broadcast_to(self._eval(s.rhs, None), shape)
            self.target[box] = op(self.target[box], values)

    def _run_pointwise(self) -> None:
        """The exact semantics: every point in lexicographic order."""
        s = self.s
        nl = len(s.lhs)
        op = self.combine
        for point in itertools.product(*(range(*self.bounds[v]) for v in s.iterators)):
            self._bind([], dict(zip(s.iterators, point)))
            value = self._eval(s.rhs, None)
            where = point[:nl]
            self.target[where] = value if op is None else op(self.target[where], value)

    # Expressions ----------------------------------------------------------------------

    def _eval(self, e: TExpr, mask) -> np.ndarray:
        """The value of `e` at the bound points, broadcastable to the domain, of exactly
        `e`'s dtype. `mask`: the lanes that are evaluated (None: all); the others are
        computed but never fail (no out-of-bounds read, no division error)."""
        dt = np_dtype(e.type)
        r = np.asarray(self._eval_node(e, mask, dt))
        assert r.dtype == dt, (type(e).__name__, r.dtype, dt)
        return r

    def _eval_node(self, e: TExpr, mask, dt: np.dtype):
        if isinstance(e, TConst):
            return lowp.encode_value(e.value, e.type) if e.type.is_lowp else _const(e.value, dt)
        if isinstance(e, TIndex):
            return self.env[e.name]
        if isinstance(e, TSize):
            return np.asarray(self.sizes[e.name], np.int64).astype(_I32)
        if isinstance(e, TScalar):
            return self.arrays[e.name]
        if isinstance(e, TRead):
            return self._read(e, mask)
        if isinstance(e, TCast):
            if e.type.is_lowp or e.operand.type.is_lowp:
                return lowp.cast(self._eval(e.operand, mask), e.operand.type, e.type, c_cast)
            return c_cast(self._eval(e.operand, mask), dt)
        if isinstance(e, TUnary):
            x = self._eval(e.operand, mask)
            if e.type.is_lowp:
                return lowp.negate(x, e.type)
            return np.logical_not(x) if e.op == "!" else np.negative(x)
        if isinstance(e, TSelect):
            return self._select(e, mask)
        if isinstance(e, TBinary):
            return self._binary(e, mask, dt)
        if isinstance(e, TCall):
            args = [self._eval(a, mask) for a in e.args]
            return np.asarray(BUILTINS[e.fn](args, dt)).astype(dt)
        raise AssertionError(f"unknown expression {e!r}")

    def _fail(self, message: str):
        raise TcError(message, self.s.loc)

    def _read(self, e: TRead, mask) -> np.ndarray:
        arr = self.arrays[e.tensor]
        if not e.indices:
            return np.array(arr)  # a snapshot of a rank-0 tensor
        indices = [self._eval(i, mask) for i in e.indices]
        safe = []
        for k, i in enumerate(indices):
            extent = arr.shape[k]
            oob = (i < 0) | (i >= extent)
            if oob.any():
                bad = oob if mask is None else oob & mask
                if bad.any():
                    shape = np.broadcast_shapes(bad.shape, i.shape)
                    first = tuple(np.argwhere(np.broadcast_to(bad, shape))[0])
                    value = np.broadcast_to(i, shape)[first]
                    self._fail(f"`{e.tensor}` is read out of bounds: index {value} in dimension {k}, "
                               f"whose extent is {extent}")
                if extent == 0:  # no lane reads it
                    shape = np.broadcast_shapes(*(j.shape for j in indices))
                    return np.zeros(shape, arr.dtype)
                i = np.where(oob, 0, i)
            safe.append(i.astype(np.intp))
        return arr[tuple(safe)]

    def _select(self, e: TSelect, mask) -> np.ndarray:
        cond = self._eval(e.cond, mask)
        then_mask = cond if mask is None else cond & mask
        else_mask = ~cond if mask is None else ~cond & mask
        take_then, take_else = bool(then_mask.any()), bool(else_mask.any())
        if not take_else:
            return self._eval(e.then, then_mask)
        if not take_then:
            return self._eval(e.otherwise, else_mask)
        return np.where(cond, self._eval(e.then, then_mask), self._eval(e.otherwise, else_mask))

    def _binary(self, e: TBinary, mask, dt: np.dtype) -> np.ndarray:
        a = self._eval(e.lhs, mask)
        b = self._eval(e.rhs, mask)
        op = e.op
        if e.lhs.type.is_lowp:
            try:
                return lowp.binary(op, a, b, e.lhs.type, mask)
            except ZeroDivisionError as err:
                self._fail(str(err))
        if op in _SIMPLE_BINARY:
            return _SIMPLE_BINARY[op](a, b)
        assert op in ("/", "%"), op
        if dt.kind == "f" or dt == _BF16:
            return np.divide(a, b) if op == "/" else np.fmod(a, b)
        zero = b == 0  # x / 0 and x % 0 are 0 (docs/language.md)
        if dt.kind == "u":
            b = np.where(zero, 1, b).astype(dt)
            return np.where(zero, 0, a // b if op == "/" else a % b).astype(dt)
        minus_one = b == -1  # INT_MIN / -1 wraps; avoid the C overflow trap
        b = np.where(zero | minus_one, 1, b).astype(dt)
        r = np.fmod(a, b)  # C remainder: sign of the dividend
        if op == "%":
            return np.where(zero, 0, r).astype(dt)
        q = (a - r) // b
        return np.where(minus_one, np.negative(a), np.where(zero, 0, q)).astype(dt)


_SIMPLE_BINARY: dict[str, Callable] = {
    "+": np.add, "-": np.subtract, "*": np.multiply,
    "<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal,
    "==": np.equal, "!=": np.not_equal, "&&": np.logical_and, "||": np.logical_or,
    "min": np.minimum, "max": np.maximum,
}
