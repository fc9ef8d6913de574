"""NumPy models of the PTX conversion instructions `lower-lowp` uses on sm_89 and later,
and an evaluator of its branch-free routines over arrays, so that the routines built
around those instructions are checked in CI, without a GPU, against ml_dtypes.

The models follow the PTX ISA (`cvt`, PTX 7.8):
  cvt.rn.satfinite.{e4m3x2,e5m2x2}.f32 d, a, b
      a and b rounded to nearest even into the format, a into the high byte of the
      16-bit d; `.satfinite`: a magnitude beyond the largest finite value gives the
      largest finite value (sign kept), a NaN gives the NaN pattern 0x7f.
  cvt.rn.satfinite.{e4m3x2,e5m2x2}.f16x2 d, a
      the same from the two halves of a (the high half into the high byte).
  cvt.rn.f16x2.{e4m3x2,e5m2x2} d, a
      both bytes of a to f16 (exact), the high byte into the high half; a NaN gives
      the canonical f16 NaN 0x7fff.
Rounding and saturation are ml_dtypes' rounding of the clipped value (clipping first
changes nothing below the largest finite value, and above it both give that value).

    evaluate_routine(routine, x)     # routine: a func.func of lower-lowp; x: an array
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from xdsl.dialects import arith, func, llvm
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, IntegerType
from xdsl.ir import Attribute

_FORMATS = {"e4m3x2": ml_dtypes.float8_e4m3fn, "e5m2x2": ml_dtypes.float8_e5m2}
_CMPI = {0: np.equal, 1: np.not_equal, 2: np.less, 3: np.less_equal, 4: np.greater, 5: np.greater_equal,
         6: np.less, 7: np.less_equal, 8: np.greater, 9: np.greater_equal}
_CMPF_UNORDERED = 14
_BINARY = {arith.AndIOp: np.bitwise_and, arith.OrIOp: np.bitwise_or, arith.ShLIOp: np.left_shift,
           arith.ShRUIOp: np.right_shift}


def _to_format(x: np.ndarray, pair: str) -> np.ndarray:
    fmt = _FORMATS[pair]
    largest = float(ml_dtypes.finfo(fmt).max)
    with np.errstate(invalid="ignore"):
        bits = np.clip(x.astype(np.float32), -largest, largest).astype(fmt).view(np.uint8)
    return np.where(np.isnan(x), np.uint8(0x7F), bits).astype(np.uint16)


def _to_f16(byte: np.ndarray, pair: str) -> np.ndarray:
    values = byte.astype(np.uint8).view(_FORMATS[pair]).astype(np.float16)
    return np.where(np.isnan(values), np.uint16(0x7FFF), values.view(np.uint16)).astype(np.uint32)


def cvt(asm: str, operands: list[np.ndarray]) -> np.ndarray:
    """The result of one of the instructions above (the `asm` text lower-lowp emits)."""
    opcode = asm.split()[0]
    parts = opcode.split(".")
    if parts[:3] == ["cvt", "rn", "satfinite"] and parts[4] == "f32":
        high, low = operands
        return (_to_format(high, parts[3]) << 8) | _to_format(low, parts[3])
    if parts[:3] == ["cvt", "rn", "satfinite"] and parts[4] == "f16x2":
        halves = operands[0].astype(np.uint32)
        low = (halves & 0xFFFF).astype(np.uint16).view(np.float16)
        high = (halves >> 16).astype(np.uint16).view(np.float16)
        return (_to_format(high, parts[3]) << 8) | _to_format(low, parts[3])
    if parts[:3] == ["cvt", "rn", "f16x2"]:
        pairs = operands[0].astype(np.uint16)
        return (_to_f16(pairs >> 8, parts[3]) << 16) | _to_f16(pairs & 0xFF, parts[3])
    raise NotImplementedError(f"no model of {asm!r}")


def _dtype(t: Attribute) -> np.dtype:
    if isinstance(t, IntegerType):
        width = t.width.data
        return np.dtype(bool) if width == 1 else np.dtype(f"uint{width}")
    return np.dtype({"f16": np.float16, "f32": np.float32, "f64": np.float64}[str(t)])


def _signed(a: np.ndarray) -> np.ndarray:
    return a.view(f"int{a.dtype.itemsize * 8}")


def _step(op, get) -> np.ndarray:
    """The value of one op, its operands' values from `get`."""
    t = op.results[0].type if op.results else None
    if isinstance(op, arith.ConstantOp):
        value = op.value
        if isinstance(value, IntegerAttr):
            width = value.type.width.data
            return np.array(value.value.data & ((1 << width) - 1), _dtype(value.type))
        assert isinstance(value, FloatAttr)
        return np.array(value.value.data, _dtype(value.type))
    args = [get(v) for v in op.operands]
    if isinstance(op, llvm.InlineAsmOp):
        return cvt(op.asm_string.data, args).astype(_dtype(t))
    if isinstance(op, arith.BitcastOp):
        return args[0].view(_dtype(t))
    if isinstance(op, (arith.TruncIOp, arith.ExtUIOp, arith.ExtFOp)):
        return args[0].astype(_dtype(t))
    if isinstance(op, arith.SelectOp):
        return np.where(args[0], args[1], args[2]).astype(_dtype(t))
    if isinstance(op, arith.CmpiOp):
        predicate = op.predicate.value.data
        a, b = (args if predicate < 2 or predicate > 5 else [_signed(x) for x in args])
        return _CMPI[predicate](a, b)
    if isinstance(op, arith.CmpfOp) and op.predicate.value.data == _CMPF_UNORDERED:
        return np.isnan(args[0]) | np.isnan(args[1])
    if type(op) in _BINARY:
        return _BINARY[type(op)](args[0], args[1]).astype(_dtype(t))
    raise NotImplementedError(f"the evaluator has no {op.name}")


def evaluate_routine(routine: func.FuncOp, *inputs: np.ndarray) -> np.ndarray:
    """The routine's result for every element of `inputs` (arrays of its argument
    types' NumPy dtypes), computed op by op over whole arrays."""
    block = routine.body.block
    values = {arg: np.asarray(x, _dtype(arg.type)) for arg, x in zip(block.args, inputs)}
    for op in block.ops:
        if isinstance(op, func.ReturnOp):
            return values[op.operands[0]]
        values[op.results[0]] = _step(op, values.__getitem__)
    raise ValueError(f"@{routine.sym_name.data} does not return")
