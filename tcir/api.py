"""The public Python API: `tcir.define`, `tcir.compile` and `Kernel`.

    import numpy as np, tcir
    T = tcir.define('''
    def matmul(float(M, K) A, float(K, N) B) -> (C) {
        C(m, n) +=! A(m, r_k) * B(r_k, n)
    }''')
    C = T.matmul(np.ones((4, 3), np.float32), np.ones((3, 5), np.float32))

A def is compiled on its first call for the call's shapes, dtypes and strides (sizes
and strides become constants, as in Tensor Comprehensions) by the driver
(tcir/driver.py), which keeps what it compiles in the persistent compilation cache
(docs/cache.md): a new process calling the same kernel loads it instead of compiling.
In the process the loaded kernel is memoized by (canonical source, entry, argument
layout, target, options). Outputs are allocated zero-filled and returned (one array,
or a tuple in declared order), or written into `outputs=`.

Compilation is the polyhedral pipeline under the mapping options (`options=`: a
`tcir.MappingOptions`, its text, or None for the naive preset). With `target="cpu"`
(`convert-tc-to-loops`) parallel loops run on all cores (`tcir.backends.cpu_parallel`);
with `target="cuda"` (`convert-tc-to-gpu`, docs/gpu.md) the def runs as CUDA kernels on
GPU 0: NumPy arguments are copied to the device and back, CUDA arrays (PyTorch, CuPy:
`__cuda_array_interface__` or DLPack) are used in place, and with CUDA inputs the
outputs are allocated on the device, in the inputs' framework.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import SimpleNamespace

import numpy as np

from . import bounds
from .arguments import BoundCall, bind
from .backends.cuda_runtime import require_gpu
from .device_arrays import DeviceArray, device_array, zeros_like
from .driver import CpuTarget, CudaTarget, GpuMachine, Layout, canonical_source, compile_kernel
from .errors import Location, TcError
from .frontend import check_source
from .frontend.checked import CheckedDef, CheckedProgram, TensorInfo
from .mapping_options import MappingOptions

TARGETS = ("cpu", "cuda")

# (canonical source, entry, layout, target, options) -> loaded kernel. Builds run one at
# a time under the lock: xDSL's ImplicitBuilder swaps Operation.__post_init__
# process-wide, so two threads building IR at once can corrupt each other's IR.
_KERNELS: dict[tuple, object] = {}
_KERNELS_LOCK = threading.Lock()


def _element_strides(arr: np.ndarray | DeviceArray) -> tuple[int, ...] | None:
    """Strides in elements, or None when a stride is not a multiple of the item size."""
    if any(s % arr.itemsize for s in arr.strides):
        return None
    return tuple(s // arr.itemsize for s in arr.strides)


class Kernel:
    """A TC def ready to run: `kernel(*inputs, outputs=None)`."""

    def __init__(self, program: CheckedProgram, entry: str, target: str = "cpu", options=None):
        if target not in TARGETS:
            raise TcError(f"unknown target `{target}`; expected one of {', '.join(TARGETS)}")
        self.device = require_gpu() if target == "cuda" else None  # no GPU: a TcError now, not at a call
        self.program = program
        self.entry = entry
        self.target = target
        self.options = _mapping_options(options)
        self.definition: CheckedDef = program.defs[entry]
        self._source_key = canonical_source(program.source)
        self._shapes: dict[tuple, dict[str, tuple[int, ...]]] = {}  # checked sizes -> shapes

    def __repr__(self) -> str:
        return f"<tcir.Kernel {self.entry} target={self.target}>"

    def __call__(self, *inputs, outputs=None):
        call, outs, arrays, layout = self.prepare(inputs, outputs)
        self._compiled(layout)(*self._arguments(call, arrays))
        for name, arr in outs.items():
            if arr is not arrays[name]:  # written through a contiguous copy
                arr[...] = arrays[name]
        result = tuple(_unwrapped(outs[t.name]) for t in self.definition.outputs)
        return result[0] if len(result) == 1 else result

    def prepare(self, inputs: Sequence[object], outputs=None):
        """Check the arguments, allocate the outputs, and find the layout to compile for."""
        d = self.definition
        if self.target == "cuda":  # CUDA arrays are checked from their descriptions
            inputs = [self._device_or_host(x, f"input #{i} of `{d.name}`") for i, x in enumerate(inputs)]
            if isinstance(outputs, (list, tuple)):
                outputs = [self._device_or_host(x, f"output #{i} of `{d.name}`") for i, x in enumerate(outputs)]
            elif outputs is not None:
                outputs = self._device_or_host(outputs, f"output #0 of `{d.name}`")
        call = bind(d, inputs)
        sizes = tuple(sorted(call.sizes.items()))
        shapes = self._shapes.get(sizes)
        if shapes is None:  # the checks depend on the sizes only: once per sizes
            bounds.check_call(d, call.sizes)
            shapes = self._shapes[sizes] = bounds.shapes(d, call.sizes)
        outs = self._outputs(call, shapes, outputs)
        if outputs is not None:  # freshly allocated outputs overlap nothing
            _check_no_overlap(call.arrays, outs)
        arrays = {name: self._addressable(arr) for name, arr in {**call.arrays, **outs}.items()}
        layout = Layout(sizes, tuple((name, strides) for name, arr in arrays.items()
                                     if (strides := _element_strides(arr))),
                        tuple((name, arr.dtype.name) for name, arr in arrays.items()))
        return call, outs, arrays, layout

    # Arguments ------------------------------------------------------------------------

    @staticmethod
    def _device_or_host(value: object, what: str) -> object:
        return device_array(value, what) or value

    def _outputs(self, call: BoundCall, shapes, outputs) -> dict[str, np.ndarray | DeviceArray]:
        d = self.definition
        if outputs is None:
            like = next((a for a in call.arrays.values() if isinstance(a, DeviceArray)), None)
            if like is not None:  # CUDA inputs: CUDA outputs
                return {t.name: zeros_like(like, shapes[t.name], t.dtype.numpy_dtype, f"output `{t.name}`")
                        for t in d.outputs}
            return {t.name: np.zeros(shapes[t.name], t.dtype.numpy_dtype) for t in d.outputs}
        if isinstance(outputs, (np.ndarray, DeviceArray)):
            outputs = (outputs,)
        if len(outputs) != len(d.outputs):
            raise TcError(f"`{d.name}` has {len(d.outputs)} output(s) "
                          f"({', '.join(t.name for t in d.outputs)}), got {len(outputs)} in `outputs=`")
        result = {}
        for t, arr in zip(d.outputs, outputs):
            self._check_output(t, arr, shapes[t.name])
            result[t.name] = arr
        return result

    def _check_output(self, t: TensorInfo, arr, shape) -> None:
        want = t.dtype.numpy_dtype
        if not isinstance(arr, (np.ndarray, DeviceArray)):
            kind = "a NumPy array or a CUDA array" if self.target == "cuda" else "a NumPy array"
            raise TcError(f"output `{t.name}` must be {kind}, got {type(arr).__name__}")
        if arr.shape != shape or arr.dtype != want:
            raise TcError(f"output `{t.name}` must have shape {shape} and dtype {want.name}, "
                          f"got shape {arr.shape} and dtype {arr.dtype}")
        if arr.readonly if isinstance(arr, DeviceArray) else not arr.flags.writeable:
            raise TcError(f"output `{t.name}` is read-only")

    @staticmethod
    def _addressable(arr: np.ndarray | DeviceArray) -> np.ndarray | DeviceArray:
        """Arrays whose strides are whole elements are used in place; others copied."""
        if _element_strides(arr) is not None:
            return arr
        if isinstance(arr, DeviceArray):
            raise TcError(f"a CUDA array with byte strides {arr.strides} that are not whole "
                          f"{arr.itemsize}-byte elements; pass a contiguous copy")
        return np.ascontiguousarray(arr)

    def _arguments(self, call: BoundCall, arrays: dict[str, np.ndarray | DeviceArray]) -> list:
        args = []
        for t in self.definition.inputs + self.definition.outputs:
            args.append(call.scalars[t.name] if t.role == "scalar" else _unwrapped(arrays[t.name]))
        return args

    # Compilation ----------------------------------------------------------------------

    def _compiled(self, layout: Layout):
        key = (self._source_key, self.entry, layout, self.target, self.options)
        with _KERNELS_LOCK:
            kernel = _KERNELS.get(key)
            if kernel is None:
                kernel = _KERNELS[key] = compile_kernel(self.program, self.entry, self._target(), layout,
                                                        self.options, self.device)
        return kernel

    def _target(self) -> CpuTarget | CudaTarget:
        return CudaTarget(GpuMachine.of(self.device)) if self.target == "cuda" else CpuTarget()


def _unwrapped(arr: np.ndarray | DeviceArray) -> object:
    """The array the caller passed (or gets back)."""
    return arr.obj if isinstance(arr, DeviceArray) else arr


def _shares_memory(a: np.ndarray | DeviceArray, b: np.ndarray | DeviceArray) -> bool:
    if isinstance(a, DeviceArray):
        return a.overlaps(b)
    return isinstance(b, np.ndarray) and np.shares_memory(a, b)


def _check_no_overlap(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
    """Outputs may not share memory with inputs or each other: the kernel reads inputs
    while it writes outputs, and is compiled assuming they do not alias."""
    names = list(outputs)
    for i, name in enumerate(names):
        for other, arr in [*inputs.items(), *((n, outputs[n]) for n in names[i + 1:])]:
            if _shares_memory(outputs[name], arr):
                raise TcError(f"output `{name}` overlaps `{other}` in memory; pass separate arrays")


def _mapping_options(options) -> MappingOptions:
    """`options=` (a MappingOptions, its text, or None: the naive preset) as a copy, so
    that the kernel's options cannot change after the call."""
    if options is None:
        return MappingOptions()
    if isinstance(options, str):
        return MappingOptions.parse(options)
    if isinstance(options, MappingOptions):
        return options.copy()
    raise TcError(f"options= must be a tcir.MappingOptions, its text form or None, "
                  f"not {type(options).__name__}")


def define(source: str, filename: str = "<string>") -> SimpleNamespace:
    """Check TC source and return an object with one callable `Kernel` per def."""
    program = check_source(source, filename)
    return SimpleNamespace(**{name: Kernel(program, name) for name in program.defs})


def compile(source: str, entry: str, *example_inputs, target: str = "cpu", options=None,
            filename: str = "<string>") -> Kernel:
    """Compile the def `entry` for the shapes, dtypes and strides of `example_inputs`."""
    program = check_source(source, filename)
    if entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines "
                      + ", ".join(f"`{n}`" for n in program.defs), Location(filename, 1, 1))
    kernel = Kernel(program, entry, target, options)
    if example_inputs:
        kernel._compiled(kernel.prepare(example_inputs)[3])
    return kernel
