"""The public Python API: `tcir.define`, `tcir.compile` and `Kernel`.

    import numpy as np, tcir
    T = tcir.define('''
    def matmul(float(M, K) A, float(K, N) B) -> (C) {
        C(m, n) +=! A(m, r_k) * B(r_k, n)
    }''')
    C = T.matmul(np.ones((4, 3), np.float32), np.ones((3, 5), np.float32))

A def is compiled on its first call for the call's shapes, dtypes and strides (sizes
and strides become constants, as in Tensor Comprehensions) and the machine code is
memoized by (canonical source, entry, argument layout, target, options). Outputs are
allocated zero-filled and returned (one array, or a tuple in declared order), or
written into `outputs=`.

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
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from . import bounds
from .arguments import BoundCall, bind, numpy_dtype
from .device_arrays import DeviceArray, device_array, zeros_like
from .errors import Location, TcError
from .frontend import check_source
from .frontend.checked import CheckedDef, CheckedProgram, TensorInfo
from .frontend.lexer import Lexer
from .mapping_options import MappingOptions

TARGETS = ("cpu", "cuda")

# (canonical source, entry, layout, target, options) -> compiled function. Builds run
# one at a time under the lock: xDSL's ImplicitBuilder swaps Operation.__post_init__
# process-wide, so two threads building IR at once can corrupt each other's IR.
_CACHE: dict[tuple, object] = {}
_CACHE_LOCK = threading.Lock()


def _canonical(source: str) -> str:
    """The source's tokens: edits to comments and layout hit the same cache entries."""
    return " ".join(token.text for token in Lexer(source).tokens())


def _element_strides(arr: np.ndarray | DeviceArray) -> tuple[int, ...] | None:
    """Strides in elements, or None when a stride is not a multiple of the item size."""
    if any(s % arr.itemsize for s in arr.strides):
        return None
    return tuple(s // arr.itemsize for s in arr.strides)


@dataclass(frozen=True)
class _Layout:
    """What a compiled kernel is specialized to."""

    sizes: tuple[tuple[str, int], ...]
    strides: tuple[tuple[str, tuple[int, ...]], ...]

    def pass_options(self, entry: str) -> dict[str, str]:
        """The `sizes` and `strides` options of the passes that compile `entry` for it."""
        return {"sizes": ",".join(f"{k}={v}" for k, v in self.sizes),
                "strides": ",".join(f"{entry}.{n}={':'.join(map(str, s))}" for n, s in self.strides if s)}


class Kernel:
    """A TC def ready to run: `kernel(*inputs, outputs=None)`."""

    def __init__(self, program: CheckedProgram, entry: str, target: str = "cpu", options=None):
        if target not in TARGETS:
            raise TcError(f"unknown target `{target}`; expected one of {', '.join(TARGETS)}")
        if target == "cuda":
            from .backends.cuda_runtime import require_gpu

            self.device = require_gpu()  # no GPU or driver: a TcError now, not at the first call
        self.program = program
        self.entry = entry
        self.target = target
        self.options = _mapping_options(options)
        self.definition: CheckedDef = program.defs[entry]
        self._source_key = _canonical(program.source)
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
        layout = _Layout(sizes, tuple((name, _element_strides(arr)) for name, arr in arrays.items()))
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
                return {t.name: zeros_like(like, shapes[t.name], numpy_dtype(t.dtype), f"output `{t.name}`")
                        for t in d.outputs}
            return {t.name: np.zeros(shapes[t.name], numpy_dtype(t.dtype)) for t in d.outputs}
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
        want = numpy_dtype(t.dtype)
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

    def _compiled(self, layout: _Layout):
        key = (self._source_key, self.entry, layout, self.target, self.options)
        with _CACHE_LOCK:
            function = _CACHE.get(key)
            if function is None:
                function = _CACHE[key] = self._build(layout)
        return function

    def _build(self, layout: _Layout):
        from .driver import default_context, run_stages, tc_to_module

        module = tc_to_module(self.program.source, self.program.filename, entry=self.entry)
        options = {**layout.pass_options(self.entry), "mapping": self.options}
        ctx = default_context()
        if self.target == "cuda":
            from .backends.cuda_runtime import CudaKernel
            from .backends.gpu_plan import plan as gpu_plan
            from .backends.nvptx import arch_for, ptx_for_module

            run_stages(module, "gpu", ctx, {"convert-tc-to-gpu": options})
            ptx = ptx_for_module(module, arch_for(self.device.compute_capability))
            return CudaKernel(ptx, gpu_plan(module, self.entry), len(self.definition.outputs),
                              self.device.ordinal, self.definition)

        from .backends.cpu_parallel import ParallelCpuKernel, plan

        cpu_options = {"convert-tc-to-loops": options}
        run_stages(module, "loops", ctx, cpu_options)
        parts = plan(module, self.entry)  # read before the llvm stage drops the attributes
        run_stages(module, "llvm", ctx, cpu_options, after="loops")
        return ParallelCpuKernel(module, parts, self.definition)


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


def _mapping_options(options) -> str:
    """The text form of `options=` (a MappingOptions, its text, or None: the naive
    preset); text, so that the cache key cannot change after the call."""
    if options is None:
        return str(MappingOptions())
    if isinstance(options, str):
        return str(MappingOptions.parse(options))
    if isinstance(options, MappingOptions):
        return str(options)
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
