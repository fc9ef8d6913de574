"""The CUDA runtime: PTX loaded and run through the CUDA driver API (cuda-python).

Summary:
  `require_gpu(ordinal)` initializes the driver (`cuInit`) once and returns the
  `Device`: its primary context (retained for the life of the process), one stream and
  a pool of device buffers; `is_available()` says whether that works. `CudaModule(ptx)`
  loads PTX with `cuModuleLoadDataEx`, the driver JIT-compiling it for the device, and
  `.function(name)` finds a kernel. `CudaKernel(ptx, plan)(*arrays)` runs a gpu-stage
  `Plan` (backends/gpu_plan.py, docs/gpu.md): arrays in parameter order (inputs then
  outputs, as `CpuKernel`), zero-filled temporaries, the launches in order on the
  device's stream, then the outputs copied back; it returns when the work is done.

Arrays:
  A NumPy array is copied to a device buffer (the bytes its elements span, gaps
  included) and, if it is an output, copied back into the same host bytes. A device
  array is used in place: an object with `__cuda_array_interface__` (PyTorch CUDA
  tensors, CuPy; the interface's `stream` is waited for through an event) or with
  `__dlpack__` / `__dlpack_device__` on a CUDA device (its producer is handed our
  stream). Every array's shape and dtype must equal the plan's `MemrefSpec` and its
  element strides the compiled ones (strides of extent-1 dimensions are ignored).

ABI (as the CPU backend): every memref argument is a bare device pointer to the
element at linear index 0 of its compiled layout, so that element `i` is at
`offset + sum(i_k * strides_k)`: for a layout with offset 0, the address of the view's
first element. That pointer is a multiple of `ARG_ALIGNMENT` (16) bytes, which the
kernels declare (`llvm.align`) so that LLVM merges neighbouring accesses into vector
ones: the runtime places copies and temporaries so, and runs a kernel on an aligned
copy of a device array whose pointer is not (a slice of a tensor; an output is copied
back). Scalars go by value. `kernelParams` is an array of N pointers, pointer
`i` to a copy of parameter `i`'s bytes (`pack_params`); the driver reads the sizes from
the kernel image.

Process-wide state: the driver, each device's context, stream and buffer pool are
created lazily under a lock. A call makes its device's context current on the calling
thread; its buffers go back to the pool only after the stream is synchronized, so
concurrent calls from several threads never share a buffer.

Example:
    kernel = CudaKernel(ptx_text, plan)
    kernel(x, y)                                   # NumPy arrays or CUDA tensors
    require_gpu().compute_capability               # (8, 0) on an A100
Errors (no cuda-python, no libcuda, cuInit failing, no device, PTX the JIT rejects
with its log, bad arguments, any failing driver call with the driver's error name and
description) are `tcir.TcError`.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from tcir.errors import TcError
from tcir.passes.convert_tc_to_gpu import ARG_ALIGNMENT

from .cpu import array_pointer
from .gpu_plan import Launch, MemrefSpec, ParamArg, Plan, ScalarArg, ScalarSpec, TempArg

# Idle device buffers kept per device for reuse, in bytes; beyond this they are freed.
POOL_BYTES = 1 << 30
_JIT_LOG_BYTES = 1 << 16
_PARAM_SLOT = 8  # bytes: every kernel parameter is a pointer or a scalar of at most 8 bytes

# DLPack (dlpack.h): device types and dtype codes.
_DL_CUDA, _DL_CUDA_MANAGED = 2, 13
CUDA_DLPACK_DEVICES = (_DL_CUDA, _DL_CUDA_MANAGED)
_DL_DTYPES = {0: "int", 1: "uint", 2: "float", 5: "complex"}
_DL_BFLOAT, _DL_BOOL = 4, 6

_NO_DEVICE = ("no CUDA device: the CUDA driver is installed but finds no GPU "
              "(check nvidia-smi and CUDA_VISIBLE_DEVICES), or use target=\"cpu\"")


class CudaError(TcError):
    """A failed driver call; `result` is the CUresult's name, e.g. CUDA_ERROR_OUT_OF_MEMORY."""

    def __init__(self, message: str, result: str):
        super().__init__(message)
        self.result = result


# The driver ---------------------------------------------------------------------------


def _import_driver() -> Any:
    """cuda-python's driver module: `cuda.bindings.driver` (12.6+, 13.x) or `cuda.cuda`."""
    try:
        from cuda.bindings import driver
    except ImportError:
        try:
            from cuda import cuda as driver
        except ImportError:
            raise TcError("the CUDA runtime needs cuda-python, which is not installed: "
                          "pip install cuda-python (or use target=\"cpu\")") from None
    return driver


def _describe(module: Any, err: Any) -> str:
    """`NAME: description` of a CUresult, from the driver when it can tell."""
    name = getattr(err, "name", str(err))
    status, text = module.cuGetErrorString(err)
    return f"{name}: {text.decode()}" if int(status) == 0 and text else name


class _CheckedDriver:
    """The driver module with every `cu*` call checked.

    `d.cuMemAlloc(n)` returns what follows the CUresult in cuda-python's result tuple
    (None, one value or a tuple), or raises a CudaError naming the call and the error.
    Other attributes (enums, handle types) are the module's.
    """

    def __init__(self, module: Any):
        self.module = module

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.module, name)
        if not name.startswith("cu"):
            return attr

        def checked(*args: Any) -> Any:
            err, *values = attr(*args)
            if int(err) != 0:
                raise CudaError(f"{name} failed: {_describe(self.module, err)}",
                                getattr(err, "name", str(err)))
            return values[0] if len(values) == 1 else tuple(values) or None

        return checked


def _initialize() -> _CheckedDriver:
    """Import cuda-python and run cuInit; a TcError saying which step failed."""
    module = _import_driver()
    try:
        err, = module.cuInit(0)
    except (RuntimeError, OSError) as exc:  # cuda-python could not dlopen libcuda
        raise TcError(f"no CUDA driver: libcuda (the NVIDIA driver library) was not found ({exc}); "
                      "install the NVIDIA driver, or use target=\"cpu\"") from None
    if getattr(err, "name", None) == "CUDA_ERROR_NO_DEVICE":
        raise TcError(_NO_DEVICE)
    if int(err) != 0:
        raise TcError(f"the CUDA driver failed to initialize: cuInit failed: {_describe(module, err)}")
    return _CheckedDriver(module)


class _Runtime:
    """The process's driver and devices, created on first use (thread-safe).

    A failed initialization is remembered: it is reported again, not retried.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._driver: _CheckedDriver | None = None
        self._error: str | None = None
        self._devices: dict[int, Device] = {}

    def device(self, ordinal: int) -> Device:
        with self._lock:
            if self._driver is None and self._error is None:
                try:
                    self._driver = _initialize()
                except TcError as err:
                    self._error = err.message
            if self._error is not None:
                raise TcError(self._error)
            if ordinal not in self._devices:
                self._devices[ordinal] = Device(self._driver, ordinal)
            return self._devices[ordinal]


_RUNTIME = _Runtime()


def require_gpu(ordinal: int = 0) -> Device:
    """The CUDA device `ordinal`, initialized; a TcError saying why there is none."""
    return _RUNTIME.device(ordinal)


def is_available() -> bool:
    """Whether the CUDA driver and a device are usable."""
    try:
        require_gpu()
    except TcError:
        return False
    return True


# Devices ------------------------------------------------------------------------------


class Device:
    """One GPU: its primary context, a stream (launches run on it in order) and a buffer pool."""

    def __init__(self, driver: _CheckedDriver, ordinal: int):
        count = driver.cuDeviceGetCount()
        if count == 0:
            raise TcError(_NO_DEVICE)
        if not 0 <= ordinal < count:
            raise TcError(f"no CUDA device #{ordinal}: there are {count} (0 to {count - 1})")
        self.driver = driver
        self.ordinal = ordinal
        handle = driver.cuDeviceGet(ordinal)
        self.name = driver.cuDeviceGetName(256, handle).split(b"\0")[0].decode()
        attribute = driver.CUdevice_attribute
        self.compute_capability = (
            driver.cuDeviceGetAttribute(attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle),
            driver.cuDeviceGetAttribute(attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle))
        # The primary context is the one PyTorch and CuPy use: their pointers are valid here.
        self.context = driver.cuDevicePrimaryCtxRetain(handle)
        self.activate()
        self.stream = driver.cuStreamCreate(driver.CUstream_flags.CU_STREAM_DEFAULT)
        self.pool = _Pool(driver)

    def __repr__(self) -> str:
        major, minor = self.compute_capability
        return f"<tcir CUDA device {self.ordinal}: {self.name}, sm_{major}{minor}>"

    def activate(self) -> None:
        """Make this device's context current on the calling thread (contexts are per thread)."""
        self.driver.cuCtxSetCurrent(self.context)

    def wait_for(self, stream: int) -> None:
        """Make our stream wait for the work queued so far on another stream (by handle)."""
        d = self.driver
        event = d.cuEventCreate(d.CUevent_flags.CU_EVENT_DISABLE_TIMING)
        try:
            d.cuEventRecord(event, d.CUstream(stream))
            d.cuStreamWaitEvent(self.stream, event, 0)
        finally:
            d.cuEventDestroy(event)  # released once the wait is done


class _Pool:
    """Idle device buffers by byte size, at most POOL_BYTES in all.

    A buffer is given back only when no queued work uses it (see `_Call`), so it can
    be handed out again or freed at once.
    """

    def __init__(self, driver: _CheckedDriver):
        self._driver = driver
        self._lock = threading.Lock()
        self._idle: dict[int, list[int]] = defaultdict(list)
        self._bytes = 0

    def take(self, nbytes: int) -> int:
        with self._lock:
            if self._idle[nbytes]:
                self._bytes -= nbytes
                return self._idle[nbytes].pop()
        try:
            return int(self._driver.cuMemAlloc(nbytes))
        except CudaError as err:
            if err.result != "CUDA_ERROR_OUT_OF_MEMORY":
                raise
            self.clear()  # idle buffers of other sizes may be what is missing
            return int(self._driver.cuMemAlloc(nbytes))

    def give(self, nbytes: int, pointer: int) -> None:
        with self._lock:
            if self._bytes + nbytes <= POOL_BYTES:
                self._idle[nbytes].append(pointer)
                self._bytes += nbytes
                return
        self._driver.cuMemFree(pointer)

    def clear(self) -> None:
        with self._lock:
            idle = [p for pointers in self._idle.values() for p in pointers]
            self._idle.clear()
            self._bytes = 0
        for pointer in idle:
            self._driver.cuMemFree(pointer)


# Modules ------------------------------------------------------------------------------


class CudaModule:
    """PTX loaded on a device: the driver JIT-compiles it (`cuModuleLoadDataEx`)."""

    def __init__(self, ptx: str, device: int = 0):
        self.device = require_gpu(device)
        self.ptx = ptx
        d = self.device.driver
        self.device.activate()
        error_log, info_log = bytearray(_JIT_LOG_BYTES), bytearray(_JIT_LOG_BYTES)
        jit = d.CUjit_option
        options = [jit.CU_JIT_ERROR_LOG_BUFFER, jit.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                   jit.CU_JIT_INFO_LOG_BUFFER, jit.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES]
        values = [error_log, len(error_log), info_log, len(info_log)]
        try:
            self.handle = d.cuModuleLoadDataEx(ptx.encode() + b"\0", len(options), options, values)
        except CudaError as err:
            log = _log_text(error_log)
            raise CudaError(f"the CUDA driver cannot load the PTX: {err.message}"
                            + (f"\nJIT log:\n{log}" if log else ""), err.result) from None
        self.jit_log = _log_text(info_log)  # e.g. register and spill counts
        self._functions: dict[str, Any] = {}
        weakref.finalize(self, _unload, self.device, self.handle).atexit = False

    def function(self, name: str) -> Any:
        """The kernel `name` (a CUfunction); a TcError if the PTX defines none."""
        if name not in self._functions:
            try:
                self._functions[name] = self.device.driver.cuModuleGetFunction(self.handle, name.encode())
            except CudaError as err:
                raise CudaError(f"the PTX has no kernel `{name}`: {err.message}", err.result) from None
        return self._functions[name]


def _log_text(buffer: bytearray) -> str:
    return buffer.split(b"\0", 1)[0].decode(errors="replace").strip()


def _unload(device: Device, handle: Any) -> None:
    """Unload a garbage-collected module; quietly, as a finalizer must."""
    try:
        device.activate()
        device.driver.cuModuleUnload(handle)
    except TcError:
        pass


# Kernel parameters --------------------------------------------------------------------


def pack_params(values: Sequence[bytes]) -> np.ndarray:
    """`kernelParams` for cuLaunchKernel: pass `result.ctypes.data`, keep `result` alive.

    One uint64 array: entries 0..N-1 are the pointers the driver reads, pointer `i` to
    entry N+i, an 8-byte slot holding parameter `i`'s bytes (zero-padded; native order).
    """
    n = len(values)
    packed = np.zeros(2 * n, np.uint64)
    slots = packed[n:].view(np.uint8).reshape(n, _PARAM_SLOT)
    for i, value in enumerate(values):
        if len(value) > _PARAM_SLOT:
            raise TcError(f"kernel parameter #{i} has {len(value)} bytes; "
                          f"at most {_PARAM_SLOT} are supported")
        slots[i, :len(value)] = np.frombuffer(value, np.uint8)
    packed[:n] = packed.ctypes.data + _PARAM_SLOT * (n + np.arange(n, dtype=np.uint64))
    return packed


def _pointer_bytes(pointer: int) -> bytes:
    """A device pointer as a kernel parameter (address arithmetic wraps, as on the device)."""
    return np.uint64(pointer % (1 << 64)).tobytes()


def scalar_bytes(value: Any, dtype: np.dtype, what: str) -> bytes:
    """The bytes of a scalar parameter; integer and bool ones must be exact."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if (isinstance(value, np.generic) and dtype.kind in "iu" and value.dtype.itemsize == dtype.itemsize
            and type(value).__module__.split(".")[0] == "ml_dtypes"):
        return np.asarray(value).tobytes()  # a number format (float8_e4m3fn, int4 ...): its storage bits
    if not isinstance(value, (bool, int, float, np.generic)):
        raise TcError(f"{what} must be a number ({dtype.name}), got {type(value).__name__}")
    exact = dtype.kind in "biu"
    if exact and isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise TcError(f"{what} is {dtype.name}, got the non-integer {value!r}")
    try:
        converted = np.asarray(value, dtype=dtype)
    except (OverflowError, ValueError):
        converted = None
    if converted is None or (exact and converted.item() != value):
        raise TcError(f"{what}: {value!r} is out of range for {dtype.name}")
    return converted.tobytes()


# Array arguments ----------------------------------------------------------------------


@dataclass(frozen=True)
class ArrayView:
    """What the runtime reads of an array argument."""

    address: int  # of the element at index (0, ..., 0), host or device
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...]  # in bytes
    readonly: bool
    on_device: bool
    device_id: int | None = None  # the GPU, when the array says (DLPack does)
    stream: int | None = None  # a stream to wait for before using the data
    owner: Any = None  # keeps a DLPack capsule alive while the call uses the data


def array_view(arg: Any, what: str, stream: int | None = None) -> ArrayView:
    """The view of a NumPy array, a `__cuda_array_interface__` object or a CUDA DLPack tensor.

    `stream`: the stream that will use the data, handed to a DLPack producer to sync with.
    """
    if isinstance(arg, np.ndarray):
        try:
            address = array_pointer(arg).value or 0
        except TcError as err:
            raise TcError(f"{what}: {err.message}") from None
        return ArrayView(address, arg.shape, arg.dtype, arg.strides, not arg.flags.writeable, False)
    try:
        interface = arg.__cuda_array_interface__
    except AttributeError:
        interface = None
    except Exception as err:  # noqa: BLE001 - e.g. PyTorch refuses bfloat16; DLPack may not
        if not hasattr(arg, "__dlpack__"):
            raise TcError(f"{what}: its __cuda_array_interface__ failed: {err}") from None
        interface = None
    if interface is not None:
        return _cuda_interface_view(interface, what)
    if hasattr(arg, "__dlpack__") and hasattr(arg, "__dlpack_device__"):
        return _dlpack_view(arg, what, stream)
    raise TcError(f"{what} must be a NumPy array or a CUDA array (an object with "
                  f"__cuda_array_interface__ or __dlpack__), got {type(arg).__name__}")


def _cuda_interface_view(interface: dict, what: str) -> ArrayView:
    if interface.get("mask") is not None:
        raise TcError(f"{what} is a masked CUDA array; pass one without a mask")
    try:
        dtype = np.dtype(interface["typestr"])
        shape = tuple(int(n) for n in interface["shape"])
        address, readonly = interface["data"]
    except (KeyError, TypeError, ValueError) as err:
        raise TcError(f"{what} has an invalid __cuda_array_interface__: {err!r}") from None
    strides = interface.get("strides")
    strides = _c_strides(shape, dtype.itemsize) if strides is None else tuple(int(s) for s in strides)
    return ArrayView(int(address or 0), shape, dtype, strides, bool(readonly), True,
                     stream=interface.get("stream"))


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    """`DLManagedTensor` of dlpack.h, up to its `dl_tensor` (all we read)."""

    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _dlpack_view(arg: Any, what: str, stream: int | None) -> ArrayView:
    """Read a DLPack tensor without taking ownership: the capsule (kept in `owner`)
    deletes it when collected."""
    device_type, device_id = (int(v) for v in arg.__dlpack_device__())
    if device_type not in CUDA_DLPACK_DEVICES:
        raise TcError(f"{what} is not on a CUDA device (DLPack device type {device_type}); "
                      "pass a NumPy array (np.asarray(x)) or a CUDA array")
    try:
        capsule = arg.__dlpack__() if stream is None else arg.__dlpack__(stream=stream)
    except Exception as err:  # noqa: BLE001 - e.g. PyTorch refuses tensors that require grad
        raise TcError(f"{what}: its __dlpack__ failed: {err}") from None
    try:
        tensor = _DLTensor.from_address(_capsule_pointer(capsule, b"dltensor"))
    except ValueError:
        raise TcError(f"{what}: __dlpack__ did not return a DLPack capsule") from None
    dtype = _dlpack_dtype(tensor.dtype, what)
    shape = tuple(tensor.shape[i] for i in range(tensor.ndim))
    strides = (_c_strides(shape, dtype.itemsize) if not tensor.strides
               else tuple(tensor.strides[i] * dtype.itemsize for i in range(tensor.ndim)))
    address = (tensor.data or 0) + tensor.byte_offset
    return ArrayView(address, shape, dtype, strides, False, True, device_id, owner=capsule)


def _dlpack_dtype(dtype: _DLDataType, what: str) -> np.dtype:
    code, bits = dtype.code, dtype.bits
    if dtype.lanes == 1 and code in _DL_DTYPES:
        return np.dtype(f"{_DL_DTYPES[code]}{bits}")
    if dtype.lanes == 1 and (code, bits) == (_DL_BFLOAT, 16):
        return np.dtype(ml_dtypes.bfloat16)
    if dtype.lanes == 1 and (code, bits) == (_DL_BOOL, 8):
        return np.dtype(np.bool_)
    raise TcError(f"{what} has DLPack dtype (code {code}, {bits} bits, {dtype.lanes} lanes), "
                  "which tcir does not support")


def check_view(view: ArrayView, spec: MemrefSpec, what: str) -> None:
    """The argument must have the compiled shape, dtype and element strides."""
    want = spec.dtype
    shape = tuple(spec.shape)
    # A signless iN memref holds no signedness: uintN arrays are as good (gpu_plan.py),
    # and so are the ml_dtypes arrays of a number format stored in such integers.
    unsigned = want.kind == "i" and view.dtype.kind == "u" and view.dtype.itemsize == want.itemsize
    bits = (want.kind in "iu" and view.dtype.itemsize == want.itemsize
            and view.dtype.type.__module__.split(".")[0] == "ml_dtypes")
    if (view.dtype != want and not unsigned and not bits) or view.shape != shape:
        raise TcError(f"{what} must have shape {shape} and dtype {want.name}, "
                      f"got shape {view.shape} and dtype {view.dtype.name}")
    if any(n > 1 and s != t * want.itemsize for n, s, t in zip(shape, view.strides, spec.strides)):
        raise TcError(f"{what} has strides {view.strides} in bytes, but the kernel was compiled for "
                      f"element strides {tuple(spec.strides)} ({want.itemsize}-byte elements); "
                      "pass an array with that layout")


def _span(spec: MemrefSpec) -> tuple[int, int]:
    """[lo, hi): the linear indices a layout's elements occupy; (0, 0) when empty."""
    if 0 in spec.shape:
        return 0, 0
    lo = hi = spec.offset
    for n, s in zip(spec.shape, spec.strides):
        lo, hi = lo + min(0, (n - 1) * s), hi + max(0, (n - 1) * s)
    return lo, hi + 1


# Kernels ------------------------------------------------------------------------------


class _Call:
    """The device buffers one call takes, given back once its stream is synchronized;
    if that fails (the context is broken), they are dropped."""

    def __init__(self, device: Device):
        self.device = device
        self.buffers: list[tuple[int, int]] = []

    def buffer(self, nbytes: int) -> int:
        if nbytes == 0:
            return 0
        pointer = self.device.pool.take(nbytes)
        self.buffers.append((nbytes, pointer))
        return pointer

    def array(self, spec: MemrefSpec) -> tuple[int, int]:
        """A buffer for the elements a layout spans: (the address of its lowest element,
        the argument pointer, at linear index 0, a multiple of `ARG_ALIGNMENT`)."""
        itemsize = spec.dtype.itemsize
        lo, hi = _span(spec)
        if hi == lo:
            return 0, 0
        skip = lo * itemsize % ARG_ALIGNMENT  # cuMemAlloc's buffers are 256-byte aligned
        first = self.buffer((hi - lo) * itemsize + skip) + skip
        return first, first - lo * itemsize

    def __enter__(self) -> _Call:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.device.driver.cuStreamSynchronize(self.device.stream)
        except TcError:
            return
        for nbytes, pointer in self.buffers:
            self.device.pool.give(nbytes, pointer)


@dataclass(frozen=True)
class _CopyBack:
    """An output's bytes to copy back once the kernels ran: `size` bytes from the device
    buffer `device` to `target`, host memory or (`on_device`) the caller's device array."""

    target: int
    device: int
    size: int
    on_device: bool = False


class CudaKernel:
    """A gpu-stage plan over loaded PTX: `kernel(*args)` in parameter order (arrays for
    memref parameters, numbers for scalar ones).

    `outputs`: how many trailing parameters are outputs, copied back when they are
    NumPy arrays; None: every writable NumPy argument is copied back.
    """

    def __init__(self, ptx: str, plan: Plan, outputs: int | None = None, device: int = 0,
                 definition: Any = None):
        if outputs is not None and not 0 <= outputs <= len(plan.params):
            raise TcError(f"`{plan.entry}` has {len(plan.params)} parameters; {outputs} cannot be outputs")
        self.plan = plan
        self.entry = plan.entry
        self.outputs = outputs
        self.definition = definition  # the checked TC def, for callers' messages
        self.module = CudaModule(ptx, device)
        self._launches = [(launch, self.module.function(launch.kernel), self._arg_values(launch))
                          for launch in plan.launches]

    def _arg_values(self, launch: Launch) -> list[bytes | ParamArg | TempArg]:
        """Constants as bytes now; parameters and temporaries stay indices until a call."""
        values: list[bytes | ParamArg | TempArg] = []
        for i, arg in enumerate(launch.args):
            if isinstance(arg, ScalarArg):
                what = f"argument #{i} of the launch of `{launch.kernel}`"
                values.append(scalar_bytes(arg.value, arg.dtype, what))
                continue
            table = self.plan.params if isinstance(arg, ParamArg) else self.plan.temporaries
            if not isinstance(arg, (ParamArg, TempArg)) or not 0 <= arg.index < len(table):
                raise TcError(f"launch of `{launch.kernel}` in the plan of `{self.entry}` has an "
                              f"invalid argument {arg!r}")
            values.append(arg)
        return values

    def _is_output(self, index: int) -> bool:
        return self.outputs is None or index >= len(self.plan.params) - self.outputs

    def __call__(self, *args: Any) -> None:
        params = self.plan.params
        if len(args) != len(params):
            raise TcError(f"`{self.entry}` takes {len(params)} arguments, got {len(args)}")
        device = self.module.device
        device.activate()
        bound = [self._check(i, arg, spec, device) for i, (arg, spec) in enumerate(zip(args, params))]
        with _Call(device) as call:
            values, copies = self._bind(bound, call)
            temporaries = [_pointer_bytes(self._temporary(spec, call)) for spec in self.plan.temporaries]
            for launch, function, launch_values in self._launches:
                self._launch(launch, function, [
                    value if isinstance(value, bytes)
                    else (values if isinstance(value, ParamArg) else temporaries)[value.index]
                    for value in launch_values])
            for copy in copies:
                if copy.on_device:
                    device.driver.cuMemcpyDtoDAsync(copy.target, copy.device, copy.size, device.stream)
                else:
                    device.driver.cuMemcpyDtoHAsync(copy.target, copy.device, copy.size, device.stream)
            try:
                device.driver.cuStreamSynchronize(device.stream)
            except CudaError as err:
                raise CudaError(f"running `{self.entry}` on the GPU failed: {err.message}",
                                err.result) from None

    def _check(self, index: int, arg: Any, spec: MemrefSpec | ScalarSpec,
               device: Device) -> ArrayView | bytes:
        """The checked view of an array argument, or the bytes of a scalar one."""
        what = f"argument #{index} of `{self.entry}`"
        if isinstance(spec, ScalarSpec):
            return scalar_bytes(arg, spec.dtype, what)
        view = array_view(arg, what, int(device.stream))
        if view.device_id not in (None, device.ordinal):
            raise TcError(f"{what} is on CUDA device {view.device_id}, "
                          f"the kernel on device {device.ordinal}")
        check_view(view, spec, what)
        if view.readonly and self.outputs is not None and self._is_output(index):
            raise TcError(f"{what} is an output but read-only")
        return view

    def _bind(self, bound: list[ArrayView | bytes], call: _Call) -> tuple[list[bytes], list[_CopyBack]]:
        """Parameter bytes (aligned device pointers; NumPy arrays and misaligned device
        arrays copied in first), and the copies back."""
        driver, stream = call.device.driver, call.device.stream
        values, copies = [], []
        for index, (view, spec) in enumerate(zip(bound, self.plan.params)):
            if isinstance(view, bytes):
                values.append(view)
                continue
            itemsize = view.dtype.itemsize
            pointer = view.address - spec.offset * itemsize  # at linear index 0
            if view.on_device:
                if view.stream is not None:
                    call.device.wait_for(view.stream)
                if pointer % ARG_ALIGNMENT == 0:
                    values.append(_pointer_bytes(pointer))
                    continue
            lo, hi = _span(spec)
            size = (hi - lo) * itemsize
            first, aligned = call.array(spec)
            if size:
                source = pointer + lo * itemsize
                if view.on_device:
                    driver.cuMemcpyDtoDAsync(first, source, size, stream)
                else:
                    driver.cuMemcpyHtoDAsync(first, source, size, stream)
                if self._is_output(index) and not view.readonly:
                    copies.append(_CopyBack(source, first, size, view.on_device))
            values.append(_pointer_bytes(aligned))
        return values, copies

    @staticmethod
    def _temporary(spec: MemrefSpec, call: _Call) -> int:
        """A zero-filled buffer for a temporary; its (aligned) pointer at linear index 0."""
        first, aligned = call.array(spec)
        lo, hi = _span(spec)
        if hi > lo:
            call.device.driver.cuMemsetD8Async(first, 0, (hi - lo) * spec.dtype.itemsize, call.device.stream)
        return aligned

    def _launch(self, launch: Launch, function: Any, values: list[bytes]) -> None:
        packed = pack_params(values)
        device = self.module.device
        try:
            device.driver.cuLaunchKernel(function, *launch.grid, *launch.block, 0, device.stream,
                                         packed.ctypes.data, 0)
        except CudaError as err:
            raise CudaError(f"launching `{launch.kernel}` (grid {tuple(launch.grid)}, block "
                            f"{tuple(launch.block)}) failed: {err.message}", err.result) from None
