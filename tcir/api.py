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
layout, target, options); threads share the memo, a compiled kernel's calls never wait
for another compilation, and forked children may call kernels (docs/api.md, "Threads and
processes"). Outputs are allocated zero-filled and returned (one array,
or a tuple in declared order), or written into `outputs=`. PyTorch CPU tensors are
used in place (tcir/host_arrays.py), and with PyTorch inputs the outputs are tensors.

Compilation is the polyhedral pipeline under the mapping options (`options=`: a
`tcir.MappingOptions`, its text, a preset's name, or None: the best options the
autotuner found for the call's layout, docs/autotuning.md, else the naive preset). With `target="cpu"`
(`convert-tc-to-loops`) parallel loops run on all cores (`tcir.backends.cpu_parallel`);
with `target="cuda"` (`convert-tc-to-gpu`, docs/gpu.md) the def runs as CUDA kernels on
GPU 0: NumPy arguments are copied to the device and back, CUDA arrays (PyTorch, CuPy:
`__cuda_array_interface__` or DLPack) are used in place, and with CUDA inputs the
outputs are allocated on the device, in the inputs' framework.

Before anything is compiled or run, a call is checked (docs/api.md, "What a call
accepts"): the arguments (tcir/arguments.py), the accesses and int32 values for these
sizes (tcir/bounds.py), `outputs=` (a NumPy array or PyTorch CPU tensor, or a tuple or list of
them; CUDA arrays for "cuda"), outputs that overlap an input, each other or themselves, and the
memory the outputs and temporaries tcir allocates need. Every violation is a TcError.
"""

from __future__ import annotations

import difflib
import math
import os
import threading
from collections.abc import Sequence
from functools import cache
from types import SimpleNamespace

import numpy as np

from . import bounds, options_cache
from .arguments import BoundCall, bind, masked_array_error, numpy_type
from .backends.cuda_runtime import require_gpu
from .device_arrays import DeviceArray, device_array, is_device_array, zeros_like
from .driver import CpuTarget, CudaTarget, Layout, canonical_source, compile_kernel, show, target_named
from .errors import Location, TcError
from .frontend import check_source
from .frontend.checked import CheckedDef, CheckedProgram, TensorInfo
from .host_arrays import as_tensors, host_view, is_torch_tensor
from .mapping_options import MappingOptions

TARGETS = ("cpu", "cuda")

# (canonical source, entry, layout, target, options) -> loaded kernel. _KERNELS_LOCK
# guards the two dicts and is held only to read or write them, never while building, so
# a call of a compiled kernel never waits for a compilation. A key being built has a
# lock in _BUILDING, held by its builder: a second request for the key waits on it and
# then finds the kernel (one build per key); other keys build at the same time, except
# for what the driver serializes process-wide (xDSL IR: driver.IR_LOCK; LLVM:
# backends/cpu.py's COMPILE_LOCK). A build that raises stores nothing: the next request
# builds again.
_KERNELS: dict[tuple, object] = {}
_BUILDING: dict[tuple, threading.Lock] = {}
_KERNELS_LOCK = threading.Lock()


def _reset_locks_in_child() -> None:
    """After fork, in the child: the parent's other threads, which may have held these
    locks (a lookup, a build under way), do not exist there. The kernels built stay."""
    global _KERNELS_LOCK, _BUILDING
    _KERNELS_LOCK = threading.Lock()
    _BUILDING = {}


os.register_at_fork(after_in_child=_reset_locks_in_child)


def _memoized(key: tuple, build):
    """The kernel memoized under `key`, made by `build()` on a miss (once per key,
    however many threads ask at once)."""
    with _KERNELS_LOCK:
        kernel = _KERNELS.get(key)
        if kernel is not None:
            return kernel
        building = _BUILDING.setdefault(key, threading.Lock())
    with building:  # another thread building this key: wait for it
        with _KERNELS_LOCK:
            kernel = _KERNELS.get(key)
        if kernel is None:  # not built, or its build raised: build it here
            kernel = build()
            with _KERNELS_LOCK:
                _KERNELS[key] = kernel
                if _BUILDING.get(key) is building:
                    del _BUILDING[key]
    return kernel


# The largest byte size a NumPy array (or a C allocation) can have: that of `np.intp`.
ADDRESSABLE_BYTES = 2**63 - 1
# An output is checked for self-overlap element by element up to this many elements
# when its strides alone do not prove it free of overlap.
_OVERLAP_ENUMERATION_LIMIT = 1 << 22


def _element_strides(arr: np.ndarray | DeviceArray) -> tuple[int, ...] | None:
    """Strides in elements, or None when a stride is not a multiple of the item size."""
    if any(s % arr.itemsize for s in arr.strides):
        return None
    return tuple(s // arr.itemsize for s in arr.strides)


class Kernel:
    """A TC def ready to run: `kernel(*inputs, outputs=None)`. `source_key` is the
    program's `canonical_source`, where the caller has it (`define` computes it once for
    all its kernels)."""

    def __init__(self, program: CheckedProgram, entry: str, target: str = "cpu", options=None,
                 source_key: str | None = None):
        if target not in TARGETS:
            raise TcError(f"unknown target `{target}`; expected one of {', '.join(TARGETS)}")
        self.device = require_gpu() if target == "cuda" else None  # no GPU: a TcError now, not at a call
        self.program = program
        self.entry = entry
        self.target = target
        self.options = _mapping_options(options)  # None: the tuned options, else the naive preset
        self.definition: CheckedDef = program.defs[entry]
        self._target_object: CpuTarget | CudaTarget | None = None  # made on first use
        self._chosen: dict[Layout, MappingOptions] = {}  # layout -> the options used for it
        # the program's canonical source (the memo's key), computed once per program:
        # `define` passes it to each of its kernels (O(source) once, not once per def)
        self._source_key = canonical_source(program.source) if source_key is None else source_key
        self._shapes: dict[tuple, dict[str, tuple[int, ...]]] = {}  # checked sizes -> shapes
        self._gpu_memory: int | None = _device_memory_bytes(self.device) if self.device is not None else None

    def __repr__(self) -> str:
        return f"<tcir.Kernel {self.entry} target={self.target}>"

    def __call__(self, *inputs, outputs=None):
        call, outs, arrays, layout = self.prepare(inputs, outputs)
        self._compiled(layout)(*self._arguments(call, arrays))
        for name, arr in outs.items():
            if arr is not arrays[name]:  # written through a contiguous copy
                arr[...] = arrays[name]
        if outputs is not None:  # what the caller passed, PyTorch tensors included
            result = tuple(outputs) if isinstance(outputs, (list, tuple)) else (outputs,)
        else:
            result = tuple(_unwrapped(outs[t.name]) for t in self.definition.outputs)
            if any(is_torch_tensor(x) for x in inputs):  # PyTorch CPU inputs: tensors out
                result = as_tensors(result)
        return result[0] if len(result) == 1 else result

    def prepare(self, inputs: Sequence[object], outputs=None):
        """Check the arguments, allocate the outputs, and find the layout to compile for."""
        d = self.definition
        inputs = [self._argument(x, f"`{t.name}` of `{d.name}`", False)
                  for x, t in zip(inputs, d.inputs)] + list(inputs[len(d.inputs):])
        if isinstance(outputs, (list, tuple)):
            outputs = [self._argument(x, f"output #{i} of `{d.name}`", True) for i, x in enumerate(outputs)]
        elif outputs is not None:
            outputs = self._argument(outputs, f"output #0 of `{d.name}`", True)
        outputs = self._output_sequence(outputs)
        call = bind(d, inputs)
        sizes = tuple(sorted(call.sizes.items()))
        shapes = self._shapes.get(sizes)
        if shapes is None:  # the checks depend on the sizes only: once per sizes
            bounds.check_call(d, call.sizes)
            shapes = self._shapes[sizes] = bounds.shapes(d, call.sizes)
        self._check_memory(shapes, allocates_outputs=outputs is None)
        outs = self._outputs(call, shapes, outputs)
        if outputs is not None:  # freshly allocated outputs overlap nothing
            _check_no_overlap(call.arrays, outs)
        arrays = {name: self._addressable(arr) for name, arr in {**call.arrays, **outs}.items()}
        layout = Layout(sizes, tuple((name, strides) for name, arr in arrays.items()
                                     if (strides := _element_strides(arr))),
                        tuple((name, arr.dtype.name) for name, arr in arrays.items()))
        return call, outs, arrays, layout

    # Arguments ------------------------------------------------------------------------

    def _argument(self, value: object, what: str, writes: bool) -> object:
        """A PyTorch CPU tensor as a NumPy view of its memory; for "cuda", a CUDA array
        as its description (checked from it, used in place); anything else as it is."""
        value = host_view(value, what, writes)
        if self.target == "cuda":
            return device_array(value, what) or value
        return value

    def _output_sequence(self, outputs) -> tuple | None:
        """`outputs=` as a tuple (one element per output), or None. Only a NumPy array (a
        CUDA array for "cuda"), or a tuple or list of them, is accepted: anything else,
        even if it could be iterated (a list of rows, an array-like, a generator), is a
        TcError, so that it is never taken apart into rows."""
        if outputs is None:
            return None
        if isinstance(outputs, (np.ndarray, DeviceArray)):
            return (outputs,)
        if isinstance(outputs, (list, tuple)):
            return tuple(outputs)
        d = self.definition
        accepted = (f"`outputs=` must be {self._array_kinds()} (for one output) or a tuple or list of them, "
                    f"one per output of `{d.name}` ({', '.join(t.name for t in d.outputs)})")
        got = type(outputs).__name__
        if is_device_array(outputs):
            raise TcError(f"{accepted}; got a CUDA array ({got}): compile with target=\"cuda\" "
                          "to write into it in place, or pass a NumPy array")
        if hasattr(outputs, "__array__"):
            raise TcError(f"{accepted}; got {got}, an array-like that tcir could not write into in place")
        raise TcError(f"{accepted}; got {got}")

    def _array_kinds(self) -> str:
        """What the target takes as arrays, for messages."""
        if self.target == "cuda":
            return "a NumPy array, a PyTorch CPU tensor or a CUDA array"
        return "a NumPy array or a PyTorch CPU tensor"

    def _outputs(self, call: BoundCall, shapes, outputs) -> dict[str, np.ndarray | DeviceArray]:
        d = self.definition
        if outputs is None:
            like = next((a for a in call.arrays.values() if isinstance(a, DeviceArray)), None)
            if like is not None:  # CUDA inputs: CUDA outputs
                return {t.name: _allocated(t.name, shapes[t.name], t.dtype.numpy_dtype,
                                           lambda t=t: zeros_like(like, shapes[t.name], t.dtype.numpy_dtype,
                                                                  f"output `{t.name}`"))
                        for t in d.outputs}
            return {t.name: _allocated(t.name, shapes[t.name], t.dtype.numpy_dtype,
                                       lambda t=t: np.zeros(shapes[t.name], t.dtype.numpy_dtype))
                    for t in d.outputs}
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
        if isinstance(arr, np.ma.MaskedArray):
            raise masked_array_error(f"output `{t.name}`")
        if not isinstance(arr, (np.ndarray, DeviceArray)):
            kind = self._array_kinds()
            hint = (" (a CUDA array: compile with target=\"cuda\" to write into it in place)"
                    if is_device_array(arr) else "")
            raise TcError(f"output `{t.name}` must be {kind}, got {type(arr).__name__}{hint}")
        if arr.shape != shape or arr.dtype != want:
            raise TcError(f"output `{t.name}` must have shape {shape} and dtype {want.name}, "
                          f"got shape {arr.shape} and dtype {arr.dtype}; "
                          f"allocate it with np.zeros({shape}, {numpy_type(want)})")
        if arr.readonly if isinstance(arr, DeviceArray) else not arr.flags.writeable:
            raise TcError(f"output `{t.name}` is read-only")

    def _check_memory(self, shapes: dict[str, tuple[int, ...]], allocates_outputs: bool) -> None:
        """The temporaries, and the outputs when tcir allocates them, must fit in memory:
        each, and all together. A TcError names the tensor and its byte size before
        anything is allocated or compiled (instead of NumPy's MemoryError, or a failed
        allocation inside compiled code)."""
        d = self.definition
        tensors = [(f"temporary `{t.name}`", t) for t in d.temporaries]
        if allocates_outputs:
            tensors = [(f"output `{t.name}`", t) for t in d.outputs] + tensors
        limit, where = self._memory_limit()
        needs = []
        for what, t in tensors:
            shape = shapes[t.name]
            dtype = t.dtype.numpy_dtype
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > ADDRESSABLE_BYTES:
                raise TcError(f"{what} of `{d.name}` needs {_bytes(nbytes)} (shape {shape}, {dtype.name}): "
                              f"more than any array can hold ({_bytes(ADDRESSABLE_BYTES)}, 2^63 - 1 bytes)")
            if nbytes > limit:
                raise TcError(f"{what} of `{d.name}` needs {_bytes(nbytes)} (shape {shape}, {dtype.name}): "
                              f"more than {where} ({_bytes(limit)})")
            needs.append((what, nbytes))
        total = sum(nbytes for _, nbytes in needs)
        if total > limit:
            parts = ", ".join(f"{what} {_bytes(nbytes)}" for what, nbytes in needs if nbytes)
            raise TcError(f"`{d.name}` needs {_bytes(total)} for the arrays tcir allocates ({parts}): "
                          f"more than {where} ({_bytes(limit)})")

    def _memory_limit(self) -> tuple[int, str]:
        """The bytes tcir may allocate for one call, and what that limit is (for messages)."""
        host = host_memory_bytes()
        if self.target != "cuda":
            return host, "the memory of this machine"
        device = self._gpu_memory
        if device is not None and device < host:
            return device, "the memory of the GPU"
        return host, "the memory of this machine"

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

    def options_for(self, *inputs, outputs=None) -> MappingOptions:
        """The mapping options a call with these arguments uses: the kernel's explicit
        `options=`, else the best the autotuner found for their layout (the options
        cache, docs/autotuning.md), else the naive preset."""
        return self._options_for(self.prepare(inputs, outputs)[3]).copy()

    def ir(self, stage: str, *inputs, outputs=None) -> str:
        """The code a call with these arguments runs, at `stage`: `tc`, `loops`, `llvm`
        (IR in the custom syntax), `llvm-ir`, `asm` (host assembly) for "cpu"; `tc`, `gpu`,
        `ptx` for "cuda" (docs/api.md, "Looking at the generated code"). The arguments are
        checked as for a call, and select the layout and options; nothing runs."""
        layout = self.prepare(inputs, outputs)[3]
        return show(self.program, self.entry, self._target, layout, self._options_for(layout), stage)

    @property
    def _target(self) -> CpuTarget | CudaTarget:
        """The driver's target: this host's CPU, or the GPU's facts (asked of the driver once)."""
        if self._target_object is None:
            self._target_object = target_named(self.target, self.device)
        return self._target_object

    def _options_for(self, layout: Layout) -> MappingOptions:
        if self.options is not None:
            return self.options
        if layout not in self._chosen:  # read once per layout: the cache is on disk
            tuned = options_cache.best(self.program.source, self.entry, self._target, layout)
            self._chosen[layout] = tuned[0][0] if tuned else MappingOptions()
        return self._chosen[layout]

    def _compiled(self, layout: Layout):
        options = self._options_for(layout)
        key = (self._source_key, self.entry, layout, self.target, options)
        return _memoized(key, lambda: compile_kernel(self.program, self.entry, self._target, layout,
                                                     options, self.device))


def _unwrapped(arr: np.ndarray | DeviceArray) -> object:
    """The array the caller passed (or gets back)."""
    return arr.obj if isinstance(arr, DeviceArray) else arr


def _bytes(n: int) -> str:
    """`n` bytes, with a binary-prefixed size for large ones: `4398046511104 bytes (4 TiB)`."""
    if n < 1024:
        return f"{n} bytes"
    size, unit = float(n), "bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"):
        size /= 1024
        if size < 1024:
            break
    return f"{n} bytes ({size:.3g} {unit})"


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
        return int(text)
    except (OSError, ValueError):  # absent, or "max" (no limit)
        return None


@cache
def host_memory_bytes() -> int:
    """What this machine can back: its RAM and swap (/proc/meminfo, else sysconf), or the
    memory limit of its cgroup (container) when lower. 2^63 - 1 where none is known.
    Fixed for the process, so the check is deterministic."""
    total = None
    try:
        with open("/proc/meminfo") as f:
            fields = {line.split(":")[0]: line.split()[1:] for line in f}
        total = sum(int(fields[k][0]) * 1024 for k in ("MemTotal", "SwapTotal") if k in fields) or None
    except (OSError, ValueError, IndexError):
        pass
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            total = ADDRESSABLE_BYTES
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        limit = _read_int(path)
        if limit is not None and limit > 0:
            total = min(total, limit)
    return min(total, ADDRESSABLE_BYTES)


def _device_memory_bytes(device) -> int | None:
    """The GPU's total memory (cuDeviceTotalMem), or None when the driver does not say."""
    try:
        driver = device.driver
        return int(driver.cuDeviceTotalMem(driver.cuDeviceGet(device.ordinal)))
    except Exception:  # noqa: BLE001 - a fake or partial driver: the runtime reports OOM itself
        return None


def _allocated(name: str, shape: tuple[int, ...], dtype: np.dtype, allocate):
    """`allocate()` for output `name`; running out of memory (NumPy's MemoryError, or a
    framework's out-of-memory error) is a TcError naming the output and its size."""
    try:
        return allocate()
    except TcError:
        raise
    except (MemoryError, RuntimeError, ValueError) as err:  # torch.OutOfMemoryError is a RuntimeError
        nbytes = math.prod(shape) * dtype.itemsize
        raise TcError(f"cannot allocate output `{name}`: it needs {_bytes(nbytes)} (shape {shape}, "
                      f"{dtype.name}), and the allocation failed ({type(err).__name__}: {err}); "
                      "pass smaller inputs, or `outputs=` arrays you allocate") from None


def _self_overlap(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> str | None:
    """Why two elements of an array with these byte strides share memory, or None if none
    do. Exact: strides that do not prove the elements apart by themselves are checked
    element by element, and beyond _OVERLAP_ENUMERATION_LIMIT elements such an array is
    reported as possibly overlapping."""
    if 0 in shape:
        return None
    dims = sorted((abs(s), n, axis) for axis, (n, s) in enumerate(zip(shape, strides)) if n > 1)
    for stride, n, axis in dims:
        if stride == 0:
            return f"dimension {axis} has stride 0, so its {n} elements are one location"
    reach = itemsize  # the bytes that the dimensions seen so far span from an element
    for stride, n, _ in dims:
        if stride < reach:
            break
        reach += stride * (n - 1)
    else:
        return None  # each dimension steps past everything the smaller ones span
    if math.prod(n for _, n, _ in dims) > _OVERLAP_ENUMERATION_LIMIT:
        return f"its strides {tuple(strides)} may let elements share memory (too many to check one by one)"
    offsets = np.zeros(1, np.int64)
    for stride, n, _ in dims:
        offsets = (offsets[:, None] + np.arange(n, dtype=np.int64)[None, :] * stride).ravel()
    offsets.sort()
    if (np.diff(offsets) < itemsize).any():
        return f"its strides {tuple(strides)} make some elements share memory"
    return None


def _shares_memory(a: np.ndarray | DeviceArray, b: np.ndarray | DeviceArray) -> bool:
    if isinstance(a, DeviceArray):
        return a.overlaps(b)
    return isinstance(b, np.ndarray) and np.shares_memory(a, b)


def _check_no_overlap(inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]) -> None:
    """Outputs may not share memory with inputs, each other or themselves (a zero stride,
    overlapping strides): the kernel reads inputs while it writes outputs, writes in
    parallel, and is compiled assuming they do not alias."""
    names = list(outputs)
    for name, arr in outputs.items():
        reason = _self_overlap(arr.shape, arr.strides, arr.itemsize)
        if reason is not None:
            raise TcError(f"output `{name}` overlaps itself in memory: {reason}; parallel writes to "
                          "one location would race. Pass an array whose elements are distinct "
                          "(a fresh np.zeros(shape, dtype), or x.copy()); inputs may overlap themselves")
    for i, name in enumerate(names):
        for other, arr in [*inputs.items(), *((n, outputs[n]) for n in names[i + 1:])]:
            if _shares_memory(outputs[name], arr):
                raise TcError(f"output `{name}` overlaps `{other}` in memory; pass separate arrays")


def _mapping_options(options) -> MappingOptions | None:
    """`options=` (a MappingOptions, its text, a preset's name such as "naive", or None:
    the tuned options where there are some) as a copy, so that the kernel's options
    cannot change after the call."""
    if options is None:
        return None
    if isinstance(options, str):
        return MappingOptions(options) if options in MappingOptions.PRESETS else MappingOptions.parse(options)
    if isinstance(options, MappingOptions):
        return options.copy()
    raise TcError(f"options= must be a tcir.MappingOptions, its text form, a preset's name or None, "
                  f"not {type(options).__name__}")


class UnknownDefError(TcError, AttributeError):
    """A def that the source does not define, asked of `tcir.define`'s result: a TcError,
    and an AttributeError too, so that `hasattr` and `getattr(T, name, default)` work."""


def _no_def(name: str, defs: Sequence[str], filename: str) -> TcError:
    names = ", ".join(f"`{n}`" for n in defs) if defs else "no def"
    close = difflib.get_close_matches(name, list(defs), n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return UnknownDefError(f"no def named `{name}`; the source defines {names}{hint}", Location(filename, 1, 1))


class Definitions(SimpleNamespace):
    """What `tcir.define` returns: one `Kernel` per def, as attributes. Asking for a name
    that is not a def is an `UnknownDefError` (a TcError and an AttributeError) listing
    the defs, with a suggestion when one is close; `dir()` lists the defs."""

    def __init__(self, program: CheckedProgram | None = None):
        if program is None:
            super().__init__()
            return
        source_key = canonical_source(program.source)  # once, shared by the kernels
        super().__init__(**{name: Kernel(program, name, source_key=source_key) for name in program.defs})

    def __getattr__(self, name: str):  # only for names that are not attributes
        kernels = [k for k in self.__dict__.values() if isinstance(k, Kernel)]
        raise _no_def(name, [k.entry for k in kernels], kernels[0].program.filename if kernels else "<string>")

    def __dir__(self) -> list[str]:
        return sorted(name for name, value in self.__dict__.items() if isinstance(value, Kernel))

    def __repr__(self) -> str:
        return f"<tcir definitions {', '.join(self.__dir__())}>"


def define(source: str, filename: str = "<string>") -> Definitions:
    """Check TC source and return an object with one callable `Kernel` per def."""
    return Definitions(check_source(source, filename))


def compile(source: str, entry: str, *example_inputs, target: str = "cpu", options=None,
            filename: str = "<string>") -> Kernel:
    """Compile the def `entry` for the shapes, dtypes and strides of `example_inputs`."""
    program = check_source(source, filename)
    if entry not in program.defs:
        raise _no_def(entry, list(program.defs), filename)
    kernel = Kernel(program, entry, target, options)
    if example_inputs:
        kernel._compiled(kernel.prepare(example_inputs)[3])
    return kernel
