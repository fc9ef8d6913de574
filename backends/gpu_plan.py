"""The launch plan of a gpu-stage module: what its host function does, as data.

Summary:
  `plan(module, entry)` reads the host function `@entry` of a gpu-stage module
  (docs/gpu.md) into a `Plan`: the layout of each parameter, the temporaries, and the
  kernel launches in order, each with its grid and block sizes and its arguments. The
  CPU emulator (tcir/testing/gpu_emulator.py) and the CUDA runtime both execute a
  plan, so neither interprets the host function itself.

Semantics:
  * `Plan.params[i]` describes argument `i` of the host function (the def's inputs then
    outputs): a `MemrefSpec` (shape, NumPy dtype, strides and offset in elements, from
    the memref's layout; the identity layout is row-major), or a `ScalarSpec` for a
    scalar parameter.
  * `Plan.temporaries[k]` is the `k`-th `memref.alloc` of the host function: a device
    buffer zero-filled before the first launch.
  * Every array a launch gets (parameter or temporary) is 16-byte aligned
    (`tcir.passes.convert_tc_to_gpu.ARG_ALIGNMENT`) at
    its linear index 0: whoever executes a plan places the arrays so.
  * `Plan.launches` run in order on one stream. A launch's arguments are `ParamArg(i)`
    (host argument `i`), `TempArg(k)` (temporary `k`) or `ScalarArg(value, dtype)` (an
    `arith.constant` of the host function).
  * Element types map to NumPy as at the CPU ABI: `i1` -> bool, signless `iN` -> intN
    (memory holds no signedness: callers may pass uintN arrays), `uiN` -> uintN,
    `index` -> int64, `f16`/`bf16`/`f32`/`f64` -> float16/ml_dtypes.bfloat16/float32/
    float64, a lowp type (a number format) -> its storage integer: uintN for float
    formats and unsigned fixed point, intN for signed fixed point; callers may pass
    arrays of the format's ml_dtypes dtype (float8_e4m3fn, int4 ...) of that size
    (`element_dtype`).

Example:
    p = plan(module, "f")
    p.launches[0]  # Launch(kernel='f_part0', grid=(1, 1, 1), block=(64, 1, 1),
                   #        args=(ParamArg(0), TempArg(0)), kernel_module='f_kernels')

Errors: anything outside the contract is a `tcir.TcError` naming the op or value: a
missing entry or kernel, an op other than `arith.constant`, `memref.alloc`,
`gpu.launch_func`, `memref.dealloc` and `func.return` in the host function, launch
sizes that are not constants or exceed CUDA's limits, async launches, dynamic shapes
or layouts, kernel arguments whose types differ from the kernel's parameters, a
temporary used after its `memref.dealloc`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects import arith, func, gpu, memref
from xdsl.dialects.builtin import (
    AnyFloat, FloatAttr, IndexType, IntegerAttr, IntegerType, MemRefType, ModuleOp, NoneAttr,
)
from xdsl.ir import Attribute, BlockArgument, Operation, SSAValue

from tcir.errors import TcError
from tcir.frontend.types import ALL_TYPES

# CUDA's limits on launch sizes (x, y, z), and on threads per block.
MAX_GRID = (2**31 - 1, 65535, 65535)
MAX_BLOCK = (1024, 1024, 64)
MAX_THREADS_PER_BLOCK = 1024

_DTYPES = {t.mlir: t.numpy_dtype for t in ALL_TYPES}
_DTYPE_NAMES = {d.name: d for d in [*_DTYPES.values(), np.dtype(np.int64)]}


@dataclass(frozen=True)
class MemrefSpec:
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...]  # in elements
    offset: int  # in elements


@dataclass(frozen=True)
class ScalarSpec:
    dtype: np.dtype


@dataclass(frozen=True)
class ParamArg:
    index: int  # host-function argument position


@dataclass(frozen=True)
class TempArg:
    index: int  # temporary number


@dataclass(frozen=True)
class ScalarArg:
    value: int | float
    dtype: np.dtype


Arg = ParamArg | TempArg | ScalarArg


@dataclass(frozen=True)
class Launch:
    kernel: str  # the gpu.func's name
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple[Arg, ...]
    kernel_module: str  # the gpu.module's name


@dataclass(frozen=True)
class Plan:
    entry: str
    params: tuple[MemrefSpec | ScalarSpec, ...]
    temporaries: tuple[MemrefSpec, ...]
    launches: tuple[Launch, ...]


def to_json(p: Plan) -> dict[str, Any]:
    """The plan as JSON data (what the compilation cache keeps beside the PTX)."""
    def arg(a: Arg) -> list:
        if isinstance(a, ScalarArg):
            return ["scalar", a.value, a.dtype.name]
        return ["param" if isinstance(a, ParamArg) else "temp", a.index]

    def spec(s: MemrefSpec | ScalarSpec) -> dict[str, Any]:
        if isinstance(s, ScalarSpec):
            return {"dtype": s.dtype.name}
        return {"shape": list(s.shape), "dtype": s.dtype.name, "strides": list(s.strides), "offset": s.offset}

    return {"entry": p.entry, "params": [spec(s) for s in p.params], "temporaries": [spec(s) for s in p.temporaries],
            "launches": [{"kernel": l.kernel, "grid": list(l.grid), "block": list(l.block),
                          "args": [arg(a) for a in l.args], "kernel_module": l.kernel_module} for l in p.launches]}


def from_json(data: dict[str, Any]) -> Plan:
    """The plan `to_json` wrote; a KeyError, TypeError or ValueError if it is not one."""
    def dtype(name: str) -> np.dtype:
        if name not in _DTYPE_NAMES:
            raise ValueError(f"unknown element dtype {name!r}")
        return _DTYPE_NAMES[name]

    def arg(a: list) -> Arg:
        kind, *rest = a
        if kind == "scalar":
            value, name = rest
            return ScalarArg(value, dtype(name))
        (index,) = rest
        return {"param": ParamArg, "temp": TempArg}[kind](int(index))

    def spec(s: dict[str, Any]) -> MemrefSpec | ScalarSpec:
        if "shape" not in s:
            return ScalarSpec(dtype(s["dtype"]))
        return MemrefSpec(tuple(map(int, s["shape"])), dtype(s["dtype"]), tuple(map(int, s["strides"])),
                          int(s["offset"]))

    def triple(values: list) -> tuple[int, int, int]:
        x, y, z = map(int, values)
        return x, y, z

    launches = tuple(Launch(str(l["kernel"]), triple(l["grid"]), triple(l["block"]), tuple(arg(a) for a in l["args"]),
                            str(l["kernel_module"])) for l in data["launches"])
    temporaries = tuple(spec(s) for s in data["temporaries"])
    if not all(isinstance(t, MemrefSpec) for t in temporaries):
        raise ValueError("a temporary is a memref")
    return Plan(str(data["entry"]), tuple(spec(s) for s in data["params"]), temporaries, launches)


def element_dtype(t: Attribute) -> np.dtype:
    """The NumPy dtype of a scalar type (see the module docstring)."""
    if isinstance(t, IndexType):
        return np.dtype(np.int64)
    width = getattr(t, "storage_width", None)  # a lowp type: its storage integer
    if width is not None:
        return np.dtype(f"{'int' if getattr(t, 'is_signed', False) else 'uint'}{width}")
    dtype = _DTYPES.get(str(t)) if isinstance(t, IntegerType | AnyFloat) else None
    if dtype is None:
        raise TcError(f"element type {t} is not supported on the gpu path "
                      "(expected i1, i8-i64, ui8-ui64, index, f16, bf16, f32 or f64)")
    return dtype


def memref_spec(t: Attribute, what: str) -> MemrefSpec:
    """The spec of a static memref type in global memory; `what` names it in errors."""
    if not isinstance(t, MemRefType):
        raise TcError(f"{what} has type {t}, expected a memref")
    if not t.has_static_shape():
        raise TcError(f"{what} has the dynamic shape {t}: the gpu path needs static shapes")
    strides, offset = t.get_strides(), t.get_offset()
    if strides is None or None in strides or offset is None:
        raise TcError(f"{what} has type {t}: the gpu path needs a static strided layout")
    if not isinstance(t.memory_space, NoneAttr):
        raise TcError(f"{what} has type {t}: host buffers are in global memory (no memory space)")
    return MemrefSpec(tuple(t.get_shape()), element_dtype(t.element_type), tuple(strides), offset)


def kernel_function(module: ModuleOp, kernel_module: str, kernel: str) -> gpu.FuncOp:
    """The `gpu.func` @kernel_module::@kernel of a module, marked `kernel`."""
    for op in module.ops:
        if isinstance(op, gpu.ModuleOp) and op.sym_name.data == kernel_module:
            for f in op.body.block.ops:
                if isinstance(f, gpu.FuncOp) and f.sym_name.data == kernel:
                    if f.kernel is None:
                        raise TcError(f"@{kernel_module}::@{kernel} is a gpu.func without the `kernel` attribute")
                    return f
            raise TcError(f"gpu.module @{kernel_module} has no gpu.func @{kernel}")
    raise TcError(f"the module has no gpu.module @{kernel_module} (launching @{kernel_module}::@{kernel})")


def _host_function(module: ModuleOp, entry: str) -> func.FuncOp:
    for op in module.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == entry:
            if op.function_type.outputs.data:
                raise TcError(f"the host function @{entry} must return nothing")
            if len(op.body.blocks) != 1:
                raise TcError(f"the host function @{entry} must have exactly one block")
            return op
    raise TcError(f"the module has no host function @{entry}")


def _param_spec(t: Attribute, index: int, entry: str) -> MemrefSpec | ScalarSpec:
    what = f"argument #{index} of @{entry}"
    return memref_spec(t, what) if isinstance(t, MemRefType) else ScalarSpec(element_dtype(t))


class _HostReader:
    """Walks the host function once, op by op, keeping what each SSA value stands for."""

    def __init__(self, module: ModuleOp, entry: str):
        self.module = module
        self.entry = entry
        self.host = _host_function(module, entry)
        block = self.host.body.block
        self.params = tuple(_param_spec(a.type, i, entry) for i, a in enumerate(block.args))
        self.temporaries: list[MemrefSpec] = []
        self.launches: list[Launch] = []
        self.values: dict[SSAValue, Arg] = {a: ParamArg(i) for i, a in enumerate(block.args)}
        self.freed: set[int] = set()

    def read(self) -> Plan:
        for op in self.host.body.block.ops:
            self.visit(op)
        return Plan(self.entry, self.params, tuple(self.temporaries), tuple(self.launches))

    def visit(self, op: Operation) -> None:
        if isinstance(op, arith.ConstantOp):
            self.values[op.result] = constant_value(op)
        elif isinstance(op, memref.AllocOp):
            if op.dynamic_sizes or op.symbol_operands:
                raise TcError(f"temporary {op.memref.type} of @{self.entry} has dynamic sizes")
            spec = memref_spec(op.memref.type, f"temporary #{len(self.temporaries)} of @{self.entry}")
            self.values[op.memref] = TempArg(len(self.temporaries))
            self.temporaries.append(spec)
        elif isinstance(op, gpu.LaunchFuncOp):
            self.launches.append(self.launch(op))
        elif isinstance(op, memref.DeallocOp):
            self.freed.add(self.temporary(op.memref, "memref.dealloc").index)
        elif isinstance(op, func.ReturnOp):
            if op.arguments:
                raise TcError(f"the host function @{self.entry} must return nothing")
        else:
            raise TcError(f"the host function @{self.entry} of a gpu-stage module may hold only "
                          "arith.constant, memref.alloc, gpu.launch_func, memref.dealloc and "
                          f"func.return; found `{op.name}`")

    def temporary(self, value: SSAValue, user: str) -> TempArg:
        arg = self.values.get(value)
        if not isinstance(arg, TempArg):
            raise TcError(f"{user} in @{self.entry} takes {_describe(value)}, not a temporary")
        if arg.index in self.freed:
            raise TcError(f"{user} in @{self.entry} uses temporary #{arg.index} after its memref.dealloc")
        return arg

    def size(self, value: SSAValue, what: str) -> int:
        arg = self.values.get(value)
        if not isinstance(arg, ScalarArg) or not isinstance(arg.value, int):
            raise TcError(f"the {what} of a launch in @{self.entry} must be an integer "
                          f"arith.constant of the host function, got {_describe(value)}")
        return arg.value

    def launch(self, op: gpu.LaunchFuncOp) -> Launch:
        root, nested = op.kernel.root_reference.data, [r.data for r in op.kernel.nested_references.data]
        if len(nested) != 1:
            raise TcError(f"gpu.launch_func in @{self.entry} must name @module::@kernel, got {op.kernel}")
        name = f"@{root}::@{nested[0]}"
        if op.asyncDependencies or op.asyncToken is not None or op.asyncObject is not None:
            raise TcError(f"the launch of {name} in @{self.entry} is async: launches run in order, synchronously")
        if op.clusterSizeX is not None or op.dynamicSharedMemorySize is not None:
            raise TcError(f"the launch of {name} in @{self.entry} has cluster sizes or dynamic shared "
                          "memory, which the gpu path does not use")
        grid = tuple(self.size(v, f"grid size {d}") for v, d in zip(
            (op.gridSizeX, op.gridSizeY, op.gridSizeZ), "xyz"))
        block = tuple(self.size(v, f"block size {d}") for v, d in zip(
            (op.blockSizeX, op.blockSizeY, op.blockSizeZ), "xyz"))
        _check_sizes(name, grid, block)
        kernel = kernel_function(self.module, root, nested[0])
        params = kernel.function_type.inputs.data
        if len(params) != len(op.kernelOperands):
            raise TcError(f"{name} takes {len(params)} arguments, the launch in @{self.entry} "
                          f"passes {len(op.kernelOperands)}")
        args = []
        for i, (value, want) in enumerate(zip(op.kernelOperands, params)):
            if value.type != want:
                raise TcError(f"argument #{i} of the launch of {name} has type {value.type}, "
                              f"the kernel takes {want}")
            arg = self.values.get(value)
            if arg is None:
                raise TcError(f"argument #{i} of the launch of {name} is {_describe(value)}: expected a "
                              "host argument, a temporary or a constant")
            args.append(self.temporary(value, f"the launch of {name}") if isinstance(arg, TempArg) else arg)
        return Launch(nested[0], grid, block, tuple(args), root)  # type: ignore[arg-type]


def constant_value(op: arith.ConstantOp) -> ScalarArg:
    """The value of a scalar `arith.constant`, integers wrapped to their type's range."""
    value = op.value
    if isinstance(value, IntegerAttr) and isinstance(value.type, IndexType | IntegerType):
        dtype = element_dtype(value.type)
        bits = 1 if dtype == np.bool_ else 8 * dtype.itemsize
        number = value.value.data % (1 << bits)
        if dtype.kind == "i" and number >= 1 << (bits - 1):
            number -= 1 << bits
        return ScalarArg(number, dtype)
    if isinstance(value, FloatAttr):
        return ScalarArg(float(value.value.data), element_dtype(value.type))
    raise TcError(f"arith.constant {value}: expected an integer, index or float scalar")


def _check_sizes(name: str, grid: tuple[int, ...], block: tuple[int, ...]) -> None:
    for what, sizes, limits in (("grid", grid, MAX_GRID), ("block", block, MAX_BLOCK)):
        for d, n, limit in zip("xyz", sizes, limits):
            if not 1 <= n <= limit:
                raise TcError(f"the launch of {name} has {what} size {d} = {n}, outside CUDA's 1..{limit}")
    if math.prod(block) > MAX_THREADS_PER_BLOCK:
        raise TcError(f"the launch of {name} has {math.prod(block)} threads per block "
                      f"(block {block}); CUDA allows {MAX_THREADS_PER_BLOCK}")


def _describe(value: SSAValue) -> str:
    if isinstance(value, BlockArgument):
        return f"block argument #{value.index} ({value.type})"
    return f"the result of `{value.owner.name}` ({value.type})"


def plan(module: ModuleOp, entry: str) -> Plan:
    """The plan of the host function @entry of a gpu-stage module (see the module docstring)."""
    return _HostReader(module, entry).read()
