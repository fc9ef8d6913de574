"""The CUDA runtime (backends/cuda_runtime.py).

Without a GPU, a fake driver stands in for cuda-python's: host memory plays device
memory and `cuLaunchKernel` runs a Python emulation of the kernel that reads its
arguments through `kernelParams` exactly as the driver does (N pointers, pointer `i` to
parameter `i`'s bytes), so argument checking, copies, temporaries, the buffer pool and
every error path run here. Tests marked `gpu` load hand-written PTX (`AXPY_PTX`) on a
real device, and skip without one.
"""

from __future__ import annotations

import ctypes
import enum
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from tcir import TcError
from tcir.backends import cuda_runtime
from tcir.backends.cuda_runtime import CudaKernel, CudaModule, check_view, pack_params, scalar_bytes
from tcir.backends.gpu_plan import Launch, MemrefSpec, ParamArg, Plan, ScalarArg, ScalarSpec, TempArg

F32, I32, U32 = np.dtype(np.float32), np.dtype(np.int32), np.dtype(np.uint32)

# y[i * sy] = a * x[i * sx] + y[i * sy] for i < n (float32; sx, sy element strides).
AXPY_PTX = """\
.version 7.0
.target sm_80
.address_size 64

.visible .entry axpy(
    .param .u64 axpy_x,
    .param .u64 axpy_y,
    .param .f32 axpy_a,
    .param .u32 axpy_n,
    .param .s32 axpy_sx,
    .param .s32 axpy_sy
)
{
    .reg .pred %p<2>;
    .reg .b32 %r<10>;
    .reg .f32 %f<5>;
    .reg .b64 %rd<10>;

    ld.param.u64 %rd1, [axpy_x];
    ld.param.u64 %rd2, [axpy_y];
    ld.param.f32 %f1, [axpy_a];
    ld.param.u32 %r1, [axpy_n];
    ld.param.s32 %r6, [axpy_sx];
    ld.param.s32 %r8, [axpy_sy];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd3, %rd1;
    cvta.to.global.u64 %rd4, %rd2;
    mul.lo.s32 %r7, %r5, %r6;
    mul.wide.s32 %rd5, %r7, 4;
    add.s64 %rd6, %rd3, %rd5;
    mul.lo.s32 %r9, %r5, %r8;
    mul.wide.s32 %rd7, %r9, 4;
    add.s64 %rd8, %rd4, %rd7;
    ld.global.f32 %f2, [%rd6];
    ld.global.f32 %f3, [%rd8];
    fma.rn.f32 %f4, %f1, %f2, %f3;
    st.global.f32 [%rd8], %f4;
DONE:
    ret;
}
"""
BLOCK = 128


def vector(n: int, strides: tuple[int, ...] = (1,), dtype: np.dtype = F32) -> MemrefSpec:
    return MemrefSpec((n,), dtype, strides, 0)


def axpy(x, y, a, n: int, sx: int = 1, sy: int = 1) -> Launch:
    """A launch of `axpy` over n elements; `a` a constant (float) or an argument."""
    a = ScalarArg(a, F32) if isinstance(a, float) else a
    return Launch("axpy", (-(-n // BLOCK), 1, 1), (BLOCK, 1, 1),
                  (x, y, a, ScalarArg(n, U32), ScalarArg(sx, I32), ScalarArg(sy, I32)), "kernels")


def axpy_plan(n: int, a: float = 2.0, sx: int = 1, sy: int = 1) -> Plan:
    """y += a * x, x and y with element strides sx and sy."""
    return Plan("axpy", (vector(n, (sx,)), vector(n, (sy,))), (),
                (axpy(ParamArg(0), ParamArg(1), a, n, sx, sy),))


def temporary_plan(n: int) -> Plan:
    """t = 3 * x (t a zero-filled temporary); y += t: y += 3x."""
    return Plan("twice", (vector(n), vector(n)), (vector(n),),
                (axpy(ParamArg(0), TempArg(0), 3.0, n), axpy(TempArg(0), ParamArg(1), 1.0, n)))


def scalar_param_plan(n: int) -> Plan:
    """kernel(x, a, y): y += a * x with `a` a scalar parameter."""
    return Plan("scaled", (vector(n), ScalarSpec(F32), vector(n)), (),
                (axpy(ParamArg(0), ParamArg(2), ParamArg(1), n),))


# A fake driver --------------------------------------------------------------------------


class CUresult(enum.IntEnum):
    CUDA_SUCCESS = 0
    CUDA_ERROR_INVALID_VALUE = 1
    CUDA_ERROR_OUT_OF_MEMORY = 2
    CUDA_ERROR_NO_DEVICE = 100
    CUDA_ERROR_INVALID_PTX = 218
    CUDA_ERROR_NOT_FOUND = 500
    CUDA_ERROR_ILLEGAL_ADDRESS = 700
    CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803


class CUjit_option(enum.IntEnum):
    CU_JIT_INFO_LOG_BUFFER = 3
    CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4
    CU_JIT_ERROR_LOG_BUFFER = 5
    CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6


class CUdevice_attribute(enum.IntEnum):
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76


class CUstream_flags(enum.IntEnum):
    CU_STREAM_DEFAULT = 0


class CUevent_flags(enum.IntEnum):
    CU_EVENT_DISABLE_TIMING = 2


class CUstream:
    def __init__(self, handle: int = 0):
        self.handle = handle

    def __int__(self) -> int:
        return self.handle


OK = CUresult.CUDA_SUCCESS


def emulate_axpy(grid, block, params: list[int]) -> None:
    """The `axpy` PTX, reading its six parameters from the addresses the driver gets."""
    x = ctypes.c_uint64.from_address(params[0]).value
    y = ctypes.c_uint64.from_address(params[1]).value
    a = ctypes.c_float.from_address(params[2]).value
    n = ctypes.c_uint32.from_address(params[3]).value
    sx = ctypes.c_int32.from_address(params[4]).value
    sy = ctypes.c_int32.from_address(params[5]).value
    # the kernels declare it (llvm.align): every array pointer is aligned, at linear index 0
    assert x % cuda_runtime.ARG_ALIGNMENT == 0 and y % cuda_runtime.ARG_ALIGNMENT == 0, (x, y)
    for i in range(min(n, grid[0] * block[0])):
        xi = ctypes.c_float.from_address(x + 4 * i * sx)
        yi = ctypes.c_float.from_address(y + 4 * i * sy)
        yi.value = np.float32(a) * np.float32(xi.value) + np.float32(yi.value)


class FakeDriver:
    """What the runtime uses of cuda-python's driver module, on host memory."""

    CUresult, CUjit_option, CUdevice_attribute = CUresult, CUjit_option, CUdevice_attribute
    CUstream_flags, CUevent_flags, CUstream = CUstream_flags, CUevent_flags, CUstream
    KERNELS = {"axpy": (emulate_axpy, 6)}

    def __init__(self, devices: int = 1):
        self.devices = devices
        self.init_result: CUresult | Exception = OK
        self.fail: dict[str, CUresult] = {}  # call name -> error it returns
        self.calls: list[tuple] = []
        self.memory: dict[int, ctypes.Array] = {}
        self.allocations = 0
        self.stream = CUstream(0x5EA)

    def _result(self, name: str, *logged) -> CUresult:
        """Log a call; the error it was told to fail with once, else success."""
        self.calls.append((name, *logged))
        return self.fail.pop(name, OK)

    def cuGetErrorString(self, err):
        return OK, f"description of {CUresult(err).name}".encode()

    def cuInit(self, flags):
        self.calls.append(("cuInit",))
        if isinstance(self.init_result, Exception):
            raise self.init_result
        return (self.init_result,)

    def cuDeviceGetCount(self):
        return OK, self.devices

    def cuDeviceGet(self, ordinal):
        return OK, ordinal

    def cuDeviceGetName(self, length, device):
        return OK, b"Fake GPU".ljust(length, b"\0")

    def cuDeviceGetAttribute(self, attribute, device):
        return OK, 8 if attribute == CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR else 0

    def cuDevicePrimaryCtxRetain(self, device):
        return OK, f"context{device}"

    def cuCtxSetCurrent(self, context):
        return (OK,)

    def cuStreamCreate(self, flags):
        return OK, self.stream

    def cuStreamSynchronize(self, stream):
        return (self._result("cuStreamSynchronize"),)

    def cuEventCreate(self, flags):
        return self._result("cuEventCreate"), "event"

    def cuEventRecord(self, event, stream):
        return (self._result("cuEventRecord", int(stream)),)

    def cuStreamWaitEvent(self, stream, event, flags):
        return (self._result("cuStreamWaitEvent", int(stream)),)

    def cuEventDestroy(self, event):
        return (OK,)

    def cuModuleLoadDataEx(self, image, count, options, values):
        assert image.endswith(b"\0") and count == len(options) == len(values)
        logs = dict(zip(options, values))
        error_log = logs[CUjit_option.CU_JIT_ERROR_LOG_BUFFER]
        assert isinstance(error_log, bytearray)  # written by the driver
        assert logs[CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES] == len(error_log)
        if b".target" not in image:
            log = b"ptxas application ptx input, line 1; fatal   : Parsing error near 'nonsense'"
            error_log[:len(log)] = log
            return CUresult.CUDA_ERROR_INVALID_PTX, None
        info = b"ptxas info    : Used 10 registers"
        logs[CUjit_option.CU_JIT_INFO_LOG_BUFFER][:len(info)] = info
        return OK, "module"

    def cuModuleGetFunction(self, module, name):
        kernel = self.KERNELS.get(name.decode())
        return (OK, kernel) if kernel else (CUresult.CUDA_ERROR_NOT_FOUND, None)

    def cuModuleUnload(self, module):
        return (OK,)

    def cuMemAlloc(self, nbytes):
        err = self._result("cuMemAlloc", nbytes)
        if err != OK:
            return err, None
        buffer = (ctypes.c_char * (nbytes + 256)).from_buffer(bytearray(b"\xff" * (nbytes + 256)))  # not zeroed
        pointer = ctypes.addressof(buffer) + (-ctypes.addressof(buffer)) % 256  # as cuMemAlloc's
        self.memory[pointer] = buffer
        self.allocations += 1
        return OK, pointer

    def cuMemFree(self, pointer):
        del self.memory[pointer]
        return (OK,)

    def cuMemcpyDtoDAsync(self, target, source, nbytes, stream):
        ctypes.memmove(target, source, nbytes)
        return (self._result("cuMemcpyDtoDAsync", nbytes),)

    def cuMemcpyHtoDAsync(self, device, host, nbytes, stream):
        ctypes.memmove(device, host, nbytes)
        return (self._result("cuMemcpyHtoDAsync", host, nbytes),)

    def cuMemcpyDtoHAsync(self, host, device, nbytes, stream):
        ctypes.memmove(host, device, nbytes)
        return (self._result("cuMemcpyDtoHAsync", host, nbytes),)

    def cuMemsetD8Async(self, device, value, nbytes, stream):
        ctypes.memset(device, value, nbytes)
        return (self._result("cuMemsetD8Async", nbytes),)

    def cuLaunchKernel(self, function, gx, gy, gz, bx, by, bz, shared, stream, params, extra):
        assert isinstance(params, int) and extra == 0 and int(stream) == int(self.stream)
        emulate, count = function
        pointers = [ctypes.c_uint64.from_address(params + 8 * i).value for i in range(count)]
        err = self._result("cuLaunchKernel", (gx, gy, gz), (bx, by, bz))
        if err == OK:
            emulate((gx, gy, gz), (bx, by, bz), pointers)
        return (err,)

    def count(self, name: str) -> int:
        return sum(call[0] == name for call in self.calls)


@pytest.fixture
def fake(monkeypatch):
    """A fresh runtime over a fake driver."""
    driver = FakeDriver()
    monkeypatch.setattr(cuda_runtime, "_import_driver", lambda: driver)
    monkeypatch.setattr(cuda_runtime, "_RUNTIME", cuda_runtime._Runtime())
    return driver


class CudaArray:
    """A device array as CuPy or PyTorch expose it (host memory in the fake driver)."""

    def __init__(self, array: np.ndarray, readonly: bool = False, stream: int | None = None, **changes):
        self.array = array
        self.__cuda_array_interface__ = {
            "shape": array.shape, "typestr": array.dtype.str, "data": (array.ctypes.data, readonly),
            "strides": None if array.flags.c_contiguous else array.strides, "version": 3,
            "stream": stream, **changes}


class DLPackArray:
    """An array seen through DLPack only: a CUDA tensor's, or in the fake driver a host
    array's capsule said to be on a CUDA device."""

    def __init__(self, array, device=(2, 0), forward_stream=False):
        self.array, self.device, self.forward_stream, self.streams = array, device, forward_stream, []

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None):
        self.streams.append(stream)
        return self.array.__dlpack__(stream=stream) if self.forward_stream else self.array.__dlpack__()


class Refusing:
    """Raises from its array interfaces, as PyTorch does for a tensor that requires grad."""

    def __init__(self, dlpack: bool):
        if dlpack:
            self.__dlpack_device__ = lambda: (2, 0)
            self.__dlpack__ = self._refuse

    @property
    def __cuda_array_interface__(self):
        self._refuse()

    def _refuse(self, stream=None):
        raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")


# No driver, no device ---------------------------------------------------------------------


def test_no_gpu_here_is_a_clear_error():
    """This machine has no libcuda (the GPU machine skips this)."""
    if cuda_runtime.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(TcError, match="no CUDA driver: libcuda"):
        cuda_runtime.require_gpu()
    with pytest.raises(TcError, match="libcuda"):
        CudaKernel(AXPY_PTX, axpy_plan(4))


def test_no_libcuda(fake):
    fake.init_result = RuntimeError('"cuda" is an NVIDIA driver library ...')  # cuda-python 13
    assert not cuda_runtime.is_available()
    with pytest.raises(TcError, match=r"no CUDA driver: libcuda .* not found .*install the NVIDIA driver"):
        cuda_runtime.require_gpu()
    with pytest.raises(TcError, match="libcuda"):
        CudaModule(AXPY_PTX)
    assert fake.count("cuInit") == 1  # remembered, not retried


def test_no_cuda_python(monkeypatch):
    monkeypatch.setattr(cuda_runtime, "_RUNTIME", cuda_runtime._Runtime())
    monkeypatch.setitem(sys.modules, "cuda", None)  # both import paths fail
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)
    with pytest.raises(TcError, match="needs cuda-python, which is not installed: pip install cuda-python"):
        cuda_runtime.require_gpu()


def test_cuinit_fails(fake):
    fake.init_result = CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH
    with pytest.raises(TcError, match="cuInit failed: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: description of"):
        cuda_runtime.require_gpu()


@pytest.mark.parametrize("how", ["cuInit", "count"])
def test_no_device(fake, how):
    if how == "cuInit":
        fake.init_result = CUresult.CUDA_ERROR_NO_DEVICE
    else:
        fake.devices = 0
    assert not cuda_runtime.is_available()
    with pytest.raises(TcError, match="no CUDA device: the CUDA driver is installed but finds no GPU"):
        cuda_runtime.require_gpu()


def test_device(fake):
    device = cuda_runtime.require_gpu()
    assert cuda_runtime.is_available() and cuda_runtime.require_gpu() is device
    assert (device.name, device.compute_capability) == ("Fake GPU", (8, 0))
    assert repr(device) == "<tcir CUDA device 0: Fake GPU, sm_80>"
    with pytest.raises(TcError, match=r"no CUDA device #3: there are 1 \(0 to 0\)"):
        cuda_runtime.require_gpu(3)


def test_device_is_created_once_across_threads(fake):
    devices = []
    threads = [threading.Thread(target=lambda: devices.append(cuda_runtime.require_gpu())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(devices) == 8 and all(d is devices[0] for d in devices)
    assert fake.count("cuInit") == 1


# Modules ------------------------------------------------------------------------------------


def test_module_jit_log(fake):
    module = CudaModule(AXPY_PTX)
    assert module.jit_log == "ptxas info    : Used 10 registers"
    assert module.function("axpy") is module.function("axpy")
    with pytest.raises(TcError, match="the PTX has no kernel `scale`: cuModuleGetFunction failed: "
                                      "CUDA_ERROR_NOT_FOUND"):
        module.function("scale")


def test_module_error_quotes_the_jit_log(fake):
    with pytest.raises(TcError) as info:
        CudaModule("nonsense")
    message = str(info.value)
    assert message.startswith("error: the CUDA driver cannot load the PTX: cuModuleLoadDataEx failed: "
                              "CUDA_ERROR_INVALID_PTX: description of CUDA_ERROR_INVALID_PTX")
    assert "JIT log:\nptxas application ptx input, line 1; fatal   : Parsing error near 'nonsense'" in message
    assert info.value.result == "CUDA_ERROR_INVALID_PTX"


# kernelParams -------------------------------------------------------------------------------


def test_pack_params_points_at_each_value():
    values = [np.uint64(0xDEADBEEF12345678).tobytes(), np.float32(2.5).tobytes(),
              np.int8(-3).tobytes(), np.float16(1.5).tobytes(), b""]
    packed = pack_params(values)
    base = packed.ctypes.data
    for i, value in enumerate(values):
        pointer = ctypes.c_uint64.from_address(base + 8 * i).value
        assert pointer % 8 == 0
        assert ctypes.string_at(pointer, 8) == value.ljust(8, b"\0")
    assert pack_params([]).size == 0


def test_pack_params_refuses_wide_values():
    with pytest.raises(TcError, match="kernel parameter #1 has 16 bytes; at most 8"):
        pack_params([b"1234", bytes(16)])


@pytest.mark.parametrize("value, dtype, expected", [
    (2.5, F32, np.float32(2.5).tobytes()),
    (np.float64(2.5), np.dtype(ml_dtypes.bfloat16), np.asarray(2.5, ml_dtypes.bfloat16).tobytes()),
    (np.array(7), I32, np.int32(7).tobytes()),
    (True, np.dtype(np.bool_), b"\x01"),
    (3.0, np.dtype(np.int64), np.int64(3).tobytes()),
    (np.uint8(255), np.dtype(np.int16), np.int16(255).tobytes()),
])
def test_scalar_bytes(value, dtype, expected):
    assert scalar_bytes(value, dtype, "`a`") == expected


@pytest.mark.parametrize("value, dtype, message", [
    ("2", F32, r"`a` must be a number \(float32\), got str"),
    (np.ones(2), F32, r"`a` must be a number \(float32\), got ndarray"),
    (2.5, I32, "`a` is int32, got the non-integer 2.5"),
    (float("nan"), I32, "`a` is int32, got the non-integer nan"),
    (300, np.dtype(np.int8), "`a`: 300 is out of range for int8"),
    (np.int64(300), np.dtype(np.int8), "`a`: np.int64.300.* is out of range for int8"),
    (-1, U32, "`a`: -1 is out of range for uint32"),
    (2, np.dtype(np.bool_), "`a`: 2 is out of range for bool"),
])
def test_scalar_bytes_errors(value, dtype, message):
    with pytest.raises(TcError, match=message):
        scalar_bytes(value, dtype, "`a`")


# Running plans on the fake driver -------------------------------------------------------------


def test_numpy_arrays_are_copied_in_and_out(fake):
    x, y = np.arange(300, dtype=np.float32), np.ones(300, np.float32)
    kernel = CudaKernel(AXPY_PTX, axpy_plan(300), outputs=1)
    assert kernel(x, y) is None
    np.testing.assert_array_equal(y, 2 * np.arange(300, dtype=np.float32) + 1)
    launch = next(c for c in fake.calls if c[0] == "cuLaunchKernel")
    assert launch[1:] == ((3, 1, 1), (BLOCK, 1, 1))
    assert [c[1] for c in fake.calls if c[0] == "cuMemcpyDtoHAsync"] == [y.ctypes.data]  # y only


def test_without_outputs_every_writable_array_is_copied_back(fake):
    x, y = np.arange(4, dtype=np.float32), np.zeros(4, np.float32)
    x.flags.writeable = False
    CudaKernel(AXPY_PTX, axpy_plan(4))(x, y)
    assert [c[1] for c in fake.calls if c[0] == "cuMemcpyDtoHAsync"] == [y.ctypes.data]
    np.testing.assert_array_equal(y, 2 * x)


@pytest.mark.parametrize("step", [2, 3, -1, -2])
def test_strided_numpy_input(fake, step):
    """The bytes the view spans go to the device; the pointer is its first element."""
    base = np.arange(40, dtype=np.float32)
    x = base[::step][:10]
    y = np.zeros(10, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(10, sx=step), outputs=1)(x, y)
    np.testing.assert_array_equal(y, 2 * x)
    copied = next(c for c in fake.calls if c[0] == "cuMemcpyHtoDAsync")
    assert copied[2] == 4 * (9 * abs(step) + 1)


def test_strided_output_keeps_its_gaps(fake):
    out = np.full(9, 7, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(3, sy=-3), outputs=1)(np.arange(3, dtype=np.float32), out[::-3])
    assert out.tolist() == [7, 7, 11, 7, 7, 9, 7, 7, 7]  # y = out[8], out[5], out[2]


def test_temporaries_are_zero_filled_on_every_call(fake):
    x = np.arange(5, dtype=np.float32)
    kernel = CudaKernel(AXPY_PTX, temporary_plan(5), outputs=1)
    for _ in range(2):  # the second call gets the first one's buffers back from the pool
        y = np.ones(5, np.float32)
        kernel(x, y)
        np.testing.assert_array_equal(y, 3 * x + 1)
    assert fake.count("cuMemsetD8Async") == 2
    assert fake.allocations == 3  # x, y, t: reused by the second call


def test_scalar_parameter(fake):
    x, y = np.arange(4, dtype=np.float32), np.zeros(4, np.float32)
    kernel = CudaKernel(AXPY_PTX, scalar_param_plan(4), outputs=1)
    kernel(x, np.float32(0.5), y)
    np.testing.assert_array_equal(y, x / 2)
    with pytest.raises(TcError, match=r"argument #1 of `scaled` must be a number \(float32\), got ndarray"):
        kernel(x, x, y)


def test_pool_is_bounded(fake, monkeypatch):
    monkeypatch.setattr(cuda_runtime, "POOL_BYTES", 16)
    CudaKernel(AXPY_PTX, axpy_plan(4), outputs=1)(np.ones(4, np.float32), np.ones(4, np.float32))
    assert len(fake.memory) == 1  # one 16-byte buffer kept, the other freed


def test_out_of_memory_frees_idle_buffers_and_retries(fake):
    kernel = CudaKernel(AXPY_PTX, axpy_plan(4), outputs=1)
    kernel(np.ones(4, np.float32), np.ones(4, np.float32))
    assert len(fake.memory) == 2
    fake.fail["cuMemAlloc"] = CUresult.CUDA_ERROR_OUT_OF_MEMORY
    y = np.ones(6, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(6), outputs=1)(np.ones(6, np.float32), y)
    np.testing.assert_array_equal(y, 3)
    assert len(fake.memory) == 2  # the 16-byte buffers were freed


def test_concurrent_calls(fake):
    kernel = CudaKernel(AXPY_PTX, temporary_plan(64), outputs=1)
    x = np.arange(64, dtype=np.float32)
    results, errors = [], []

    def run():
        try:
            y = np.zeros(64, np.float32)
            kernel(x, y)
            results.append(y)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 8
    for y in results:
        np.testing.assert_array_equal(y, 3 * x)


# Device arrays --------------------------------------------------------------------------------


def test_cuda_array_interface_is_used_in_place(fake):
    x, y = np.arange(8, dtype=np.float32), np.ones(8, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(8), outputs=1)(CudaArray(x, stream=1), CudaArray(y))
    np.testing.assert_array_equal(y, 2 * x + 1)
    assert fake.count("cuMemcpyHtoDAsync") == fake.count("cuMemcpyDtoHAsync") == fake.allocations == 0
    # the producer's stream (1: the legacy default stream) is waited for, once: y has no stream
    assert [c for c in fake.calls if c[0] in ("cuEventRecord", "cuStreamWaitEvent")] == [
        ("cuEventRecord", 1), ("cuStreamWaitEvent", int(fake.stream))]


def test_misaligned_cuda_arrays_run_on_aligned_copies(fake):
    """A slice of a tensor starting 4 bytes into a 16-byte unit: the kernel gets an
    aligned copy, and an output's copy is copied back into the caller's array."""
    base_x, base_y = np.arange(9, dtype=np.float32), np.ones(9, np.float32)
    x, y = base_x[1:], base_y[1:]
    assert x.ctypes.data % 16 and y.ctypes.data % 16
    CudaKernel(AXPY_PTX, axpy_plan(8), outputs=1)(CudaArray(x), CudaArray(y))
    np.testing.assert_array_equal(y, 2 * x + 1)
    assert base_y[0] == 1  # nothing outside the view written
    assert fake.count("cuMemcpyDtoDAsync") == 3  # x in, y in, y back
    assert fake.count("cuMemcpyHtoDAsync") == fake.count("cuMemcpyDtoHAsync") == 0


def test_misaligned_strided_cuda_array(fake):
    """The pointer at linear index 0 of a reversed view lies inside the array: an
    aligned copy of the elements it spans."""
    base, y = np.arange(20, dtype=np.float32), np.zeros(5, np.float32)
    view = base[::-3][:5]  # elements 19, 16, ..., 7: the pointer at index 0 is element 7's
    CudaKernel(AXPY_PTX, axpy_plan(5, sx=-3), outputs=1)(CudaArray(view), CudaArray(y))
    np.testing.assert_array_equal(y, 2 * view)
    assert fake.count("cuMemcpyDtoDAsync") == 1  # the input only: y is aligned


def test_strided_cuda_array(fake):
    base, y = np.arange(20, dtype=np.float32), np.zeros(5, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(5, sx=-3), outputs=1)(CudaArray(base[::-3][:5]), CudaArray(y))
    np.testing.assert_array_equal(y, 2 * base[::-3][:5])


def test_dlpack_array_is_used_in_place_with_our_stream(fake):
    x, y = DLPackArray(np.arange(8, dtype=np.float32)), np.zeros(8, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(8), outputs=1)(x, CudaArray(y))
    np.testing.assert_array_equal(y, 2 * x.array)
    assert x.streams == [int(fake.stream)]  # the producer syncs with our stream
    with pytest.raises(TcError, match="argument #0 of `axpy` is on CUDA device 1, the kernel on device 0"):
        CudaKernel(AXPY_PTX, axpy_plan(8))(DLPackArray(x.array, (2, 1)), CudaArray(y))


def test_dlpack_bfloat16():
    torch = pytest.importorskip("torch")
    view = cuda_runtime.array_view(DLPackArray(torch.zeros(3, 2, dtype=torch.bfloat16).t()), "`x`")
    assert (view.dtype, view.shape, view.strides, view.on_device) == (
        np.dtype(ml_dtypes.bfloat16), (2, 3), (2, 4), True)


@pytest.mark.parametrize("arg, message", [
    ([1.0, 2.0], "argument #0 of `axpy` must be a NumPy array or a CUDA array .* got list"),
    (DLPackArray(np.ones(4, np.float32), (1, 0)),
     r"argument #0 of `axpy` is not on a CUDA device \(DLPack device type 1\); pass a NumPy array"),
    (np.ones(4, np.float64), r"argument #0 of `axpy` must have shape \(4,\) and dtype float32, "
                             r"got shape \(4,\) and dtype float64"),
    (np.ones(4, ">f4"), "argument #0 of `axpy`: array of dtype >f4 is not in native byte order"),
    (np.ones(5, np.float32), r"must have shape \(4,\) and dtype float32, got shape \(5,\)"),
    (np.ones(8, np.float32)[::2], r"argument #0 of `axpy` has strides \(8,\) in bytes, but the kernel "
                                  r"was compiled for element strides \(1,\) \(4-byte elements\)"),
    (CudaArray(np.ones(4, np.float64)), "argument #0 of `axpy` must have .* dtype float32, got .* float64"),
    (CudaArray(np.ones(4, np.float32), mask=object()), "argument #0 of `axpy` is a masked CUDA array"),
    (Refusing(dlpack=False), "argument #0 of `axpy`: its __cuda_array_interface__ failed: Can't export"),
    (Refusing(dlpack=True), "argument #0 of `axpy`: its __dlpack__ failed: Can't export"),
    (CudaArray(np.ones(4, np.float32), typestr="zz"), "argument #0 of `axpy` has an invalid "
                                                     "__cuda_array_interface__"),
])
def test_bad_arguments(fake, arg, message):
    kernel = CudaKernel(AXPY_PTX, axpy_plan(4), outputs=1)
    with pytest.raises(TcError, match=message):
        kernel(arg, np.zeros(4, np.float32))
    assert fake.count("cuMemcpyHtoDAsync") == 0  # checked before any work is queued


def test_bad_outputs(fake):
    kernel = CudaKernel(AXPY_PTX, axpy_plan(4), outputs=1)
    x = np.ones(4, np.float32)
    with pytest.raises(TcError, match="argument #1 of `axpy` is an output but read-only"):
        kernel(x, CudaArray(np.ones(4, np.float32), readonly=True))
    with pytest.raises(TcError, match="`axpy` takes 2 arguments, got 1"):
        kernel(x)
    with pytest.raises(TcError, match="`axpy` has 2 parameters; 3 cannot be outputs"):
        CudaKernel(AXPY_PTX, axpy_plan(4), outputs=3)


def test_extent_one_strides_are_ignored():
    spec = MemrefSpec((1, 4), F32, (4, 1), 0)
    check_view(cuda_runtime.array_view(np.ones((4, 1), np.float32).T, "`x`"), spec, "`x`")


def test_signless_integers_take_unsigned_arrays():
    spec = MemrefSpec((4,), I32, (1,), 0)
    check_view(cuda_runtime.array_view(np.ones(4, np.uint32), "`x`"), spec, "`x`")
    with pytest.raises(TcError, match="dtype int32, got shape .* dtype int64"):
        check_view(cuda_runtime.array_view(np.ones(4, np.int64), "`x`"), spec, "`x`")


# Failures in the driver -----------------------------------------------------------------------


def test_bad_plans(fake):
    launch = axpy(ParamArg(0), ParamArg(5), 2.0, 4)
    with pytest.raises(TcError, match="launch of `axpy` in the plan of `f` has an invalid argument ParamArg"):
        CudaKernel(AXPY_PTX, Plan("f", (vector(4), vector(4)), (), (launch,)))
    launch = Launch("missing", (1, 1, 1), (1, 1, 1), (), "m")
    with pytest.raises(TcError, match="the PTX has no kernel `missing`"):
        CudaKernel(AXPY_PTX, Plan("f", (), (), (launch,)))
    launch = axpy(ParamArg(0), ParamArg(1), 2.0, 1 << 40)
    with pytest.raises(TcError, match="argument #3 of the launch of `axpy`: 1099511627776 is out of range"):
        CudaKernel(AXPY_PTX, Plan("f", (vector(4), vector(4)), (), (launch,)))


def test_failing_launch(fake):
    kernel = CudaKernel(AXPY_PTX, temporary_plan(4), outputs=1)
    fake.fail["cuLaunchKernel"] = CUresult.CUDA_ERROR_INVALID_VALUE
    with pytest.raises(TcError, match=r"launching `axpy` \(grid \(1, 1, 1\), block \(128, 1, 1\)\) failed: "
                                      "cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE: description of"):
        kernel(np.ones(4, np.float32), np.ones(4, np.float32))
    assert len(fake.memory) == 3 and fake.count("cuStreamSynchronize") == 1  # buffers back in the pool
    kernel(np.ones(4, np.float32), np.ones(4, np.float32))
    assert fake.allocations == 3


def test_failing_kernel_is_reported_at_synchronization(fake):
    kernel = CudaKernel(AXPY_PTX, axpy_plan(4), outputs=1)
    fake.fail["cuStreamSynchronize"] = CUresult.CUDA_ERROR_ILLEGAL_ADDRESS
    with pytest.raises(TcError, match="running `axpy` on the GPU failed: cuStreamSynchronize failed: "
                                      "CUDA_ERROR_ILLEGAL_ADDRESS"):
        kernel(np.ones(4, np.float32), np.ones(4, np.float32))


def test_broken_stream_drops_its_buffers(fake):
    kernel = CudaKernel(AXPY_PTX, axpy_plan(4), outputs=1)
    kernel(np.ones(4, np.float32), np.ones(4, np.float32))
    assert cuda_runtime.require_gpu().pool._bytes == 32
    fake.fail.update(cuLaunchKernel=CUresult.CUDA_ERROR_ILLEGAL_ADDRESS,
                     cuStreamSynchronize=CUresult.CUDA_ERROR_ILLEGAL_ADDRESS)
    with pytest.raises(TcError, match="launching `axpy`"):
        kernel(np.ones(4, np.float32), np.ones(4, np.float32))
    assert cuda_runtime.require_gpu().pool._bytes == 0  # not given back: the stream failed


# ptxas (no GPU needed) ------------------------------------------------------------------------


def _ptxas() -> str | None:
    bundled = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" \
        / "site-packages" / "nvidia" / "cuda_nvcc" / "bin" / "ptxas"
    return str(bundled) if bundled.exists() else shutil.which("ptxas")


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_axpy_ptx_assembles(tmp_path, arch):
    ptxas = _ptxas()
    if ptxas is None:
        pytest.skip("ptxas not found (pip install nvidia-cuda-nvcc-cu12)")
    source = tmp_path / "axpy.ptx"
    source.write_text(AXPY_PTX)
    result = subprocess.run([ptxas, f"-arch={arch}", str(source), "-o", str(tmp_path / "axpy.cubin")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# On a GPU ---------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_gpu_device(gpu):
    assert gpu.name and gpu.compute_capability >= (5, 0)
    assert cuda_runtime.is_available()


@pytest.mark.gpu
def test_gpu_module(gpu):
    module = CudaModule(AXPY_PTX)
    assert module.function("axpy") is not None
    with pytest.raises(TcError, match="the PTX has no kernel `nope`: .*CUDA_ERROR_NOT_FOUND"):
        module.function("nope")
    with pytest.raises(TcError, match="cannot load the PTX: .*CUDA_ERROR_INVALID_PTX"):
        CudaModule(AXPY_PTX.replace("fma.rn.f32", "fma.bogus.f32"))


@pytest.mark.gpu
@pytest.mark.parametrize("step", [1, 2, -3])
def test_gpu_numpy(gpu, step):
    n = 1000
    base = np.random.default_rng(0).standard_normal(3 * n, dtype=np.float32)
    x = base[::step][:n]
    y = np.ones(n, np.float32)
    CudaKernel(AXPY_PTX, axpy_plan(n, sx=step), outputs=1)(x, y)
    np.testing.assert_allclose(y, 2 * x + 1, rtol=1e-6)


@pytest.mark.gpu
def test_gpu_temporaries_and_scalars(gpu):
    x = np.arange(777, dtype=np.float32)
    kernel = CudaKernel(AXPY_PTX, temporary_plan(777), outputs=1)
    for _ in range(3):
        y = np.ones(777, np.float32)
        kernel(x, y)
        np.testing.assert_array_equal(y, 3 * x + 1)
    y = np.zeros(777, np.float32)
    CudaKernel(AXPY_PTX, scalar_param_plan(777), outputs=1)(x, 0.5, y)
    np.testing.assert_array_equal(y, x / 2)


@pytest.mark.gpu
def test_gpu_torch_in_place(gpu):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA")
    base = torch.arange(3000, dtype=torch.float32, device="cuda")
    x = base[::3]
    y = torch.ones(1000, device="cuda")
    CudaKernel(AXPY_PTX, axpy_plan(1000, sx=3), outputs=1)(x, y)
    torch.testing.assert_close(y, 2 * x + 1)
    z = torch.zeros(2000, device="cuda")[::2]  # and through DLPack only (PyTorch has no negative strides)
    CudaKernel(AXPY_PTX, axpy_plan(1000, sx=3, sy=2), outputs=1)(
        DLPackArray(x, x.__dlpack_device__(), forward_stream=True), z)
    torch.testing.assert_close(z, 2 * x)


@pytest.mark.gpu
def test_gpu_failing_launch(gpu):
    plan = Plan("f", (vector(4), vector(4)), (), (Launch("axpy", (1, 1, 1), (2048, 1, 1), (
        ParamArg(0), ParamArg(1), ScalarArg(1.0, F32), ScalarArg(4, U32), ScalarArg(1, I32),
        ScalarArg(1, I32)), "m"),))
    with pytest.raises(TcError, match=r"launching `axpy` \(grid \(1, 1, 1\), block \(2048, 1, 1\)\) failed: "
                                      "cuLaunchKernel failed: CUDA_ERROR_INVALID_VALUE"):
        CudaKernel(AXPY_PTX, plan)(np.ones(4, np.float32), np.ones(4, np.float32))
