"""The Python API with `target="cuda"`, against the NumPy reference.

Everywhere: the PTX of every canonical example under every preset assembles with
ptxas; the clear errors (no GPU or driver, a CUDA array given to the CPU target, a GPU
too old), the architecture choice, CUDA arrays described without a GPU.

On a GPU (marker `gpu`, skipped without one): every canonical example under every
preset, with and without shared and private memory, equals its hand-written NumPy
reference; random programs under random mapping
options equal the reference evaluator; PyTorch CUDA tensors are used in place (inputs,
`outputs=`, strided views) and CUDA inputs give CUDA outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from canonical import EXAMPLES_SET
from hypothesis import HealthCheck, given, settings
from strategies import compare_outputs, examples, reference_outputs, tc_programs
from test_gpu_mapping import gpu_options

import tcir
from tcir import MappingOptions, TcError
from tcir.backends import cuda_runtime
from tcir.backends.nvptx import ARCHS, arch_for, assemble, find_ptxas, ptx_for_module
from tcir.driver import CudaTarget, Job, lower, tc_to_module
from tcir.device_arrays import device_array, zeros_like
from tcir.frontend import check_source

pytestmark = pytest.mark.filterwarnings("ignore::tcir.errors.TcWarning")

MATMUL = "def matmul(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }"
SCALE = "def scale(float(N) A) -> (B) { B(i) = 2 * A(i) }"


class FakeCudaArray:
    """An object that says it is a CUDA array (nothing is read through its address)."""

    def __init__(self, shape, typestr="<f4", address=4096, strides=None, readonly=False):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (address, readonly),
                                         "strides": strides, "version": 3}


# --- without a GPU ----------------------------------------------------------------------------


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not found (the dev extra installs nvidia-cuda-nvcc-cu12)")
@pytest.mark.parametrize("preset", MappingOptions.PRESETS)
@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_example_ptx_assembles(example, preset):
    inputs = example.inputs(np.random.default_rng(0), example.shapes[-1])
    layout = getattr(tcir.define(example.source), example.entry).prepare(inputs)[3]
    module = tc_to_module(example.source, entry=example.entry)
    lower(module, CudaTarget(), "gpu", Job(layout, MappingOptions(preset)))
    for arch in ARCHS if preset == "naive" else ARCHS[-1:]:
        assert assemble(ptx_for_module(module, arch), arch)


def test_no_driver_is_a_tc_error_at_compile_time(monkeypatch):
    def no_driver():
        raise TcError("no CUDA driver: libcuda was not found")

    monkeypatch.setattr(cuda_runtime, "_import_driver", no_driver)
    monkeypatch.setattr(cuda_runtime, "_RUNTIME", cuda_runtime._Runtime())
    with pytest.raises(TcError, match="no CUDA driver"):
        tcir.compile(SCALE, "scale", target="cuda")


def test_a_cuda_array_on_the_cpu_target_says_what_to_do():
    with pytest.raises(TcError, match='`A` of `scale` is a CUDA array; compile with target="cuda"'):
        tcir.define(SCALE).scale(FakeCudaArray((3,)))


@pytest.mark.parametrize("capability, arch", [((8, 0), "sm_80"), ((8, 9), "sm_80"), ((9, 0), "sm_90"),
                                              ((10, 0), "sm_90"), ((12, 1), "sm_90")])
def test_arch_for(capability, arch):
    assert arch_for(capability) == arch


def test_an_old_gpu_is_a_tc_error():
    with pytest.raises(TcError, match="compute capability 7.5; tcir's PTX needs 8.0 or newer"):
        arch_for((7, 5))


def test_cuda_arrays_are_described_from_their_interface():
    a = device_array(FakeCudaArray((4, 3), strides=(4, 16)), "A")
    assert (a.shape, a.dtype, a.strides, a.ndim, a.itemsize) == ((4, 3), np.float32, (4, 16), 2, 4)
    assert a.span == (4096, 4096 + 3 * 4 + 2 * 16 + 4)
    assert device_array(np.zeros(3), "A") is None and device_array(3.0, "A") is None


def test_overlapping_cuda_arrays():
    a = device_array(FakeCudaArray((4,), address=4096), "a")
    assert a.overlaps(device_array(FakeCudaArray((4,), address=4108), "b"))
    assert not a.overlaps(device_array(FakeCudaArray((4,), address=4112), "c"))
    assert not a.overlaps(device_array(FakeCudaArray((0,), address=4096), "empty"))
    assert not a.overlaps(np.zeros(4, np.float32))


def test_outputs_beside_an_unknown_framework_must_be_passed():
    like = device_array(FakeCudaArray((4,)), "A")
    with pytest.raises(TcError, match="cannot allocate output `B` beside a FakeCudaArray .* pass it in `outputs=`"):
        zeros_like(like, (4,), np.dtype(np.float32), "output `B`")


# --- on a GPU -------------------------------------------------------------------------------


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.parametrize("promote", [False, True], ids=["global", "shared+private"])
@pytest.mark.parametrize("preset", MappingOptions.PRESETS)
@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_example_on_the_gpu(gpu, example, preset, promote):
    options = MappingOptions(preset).useSharedMemory(promote).usePrivateMemory(promote)
    for seed, sizes in enumerate(example.shapes):
        inputs = example.inputs(np.random.default_rng(seed), sizes)
        got = tcir.compile(example.source, example.entry, *inputs, target="cuda", options=options)(*inputs)
        got = got if isinstance(got, tuple) else (got,)
        for g, w in zip(got, example.numpy(*inputs)):
            _close(g, w)


@pytest.mark.gpu
@settings(max_examples=examples(20), suppress_health_check=[HealthCheck.function_scoped_fixture])  # `gpu`: one device
@given(tc_programs(), gpu_options())
def test_random_programs_on_the_gpu(gpu, program, options):
    inputs = program.inputs()
    want = reference_outputs(program, inputs)
    got = tcir.compile(program.source, program.entry, *inputs, target="cuda", options=options)(*inputs)
    names = [t.name for t in check_source(program.source).defs[program.entry].outputs]
    compare_outputs(program, got, want, names)


@pytest.fixture
def torch_cuda(gpu):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    return torch


@pytest.mark.gpu
def test_torch_tensors_in_place_and_torch_outputs(torch_cuda):
    torch = torch_cuda
    a = torch.randn(33, 17, device="cuda")
    b = torch.randn(17, 40, device="cuda")
    c = tcir.compile(MATMUL, "matmul", a, b, target="cuda")(a, b)
    assert isinstance(c, torch.Tensor) and c.device == a.device and c.dtype == torch.float32
    _close(c.cpu().numpy(), a.cpu().numpy() @ b.cpu().numpy())


@pytest.mark.gpu
def test_torch_outputs_are_written_in_place(torch_cuda):
    torch = torch_cuda
    a = torch.randn(1000, device="cuda")
    out = torch.full((1000,), 7.0, device="cuda")
    kernel = tcir.compile(SCALE, "scale", a, target="cuda")
    assert kernel(a, outputs=out) is out
    _close(out.cpu().numpy(), 2 * a.cpu().numpy())


@pytest.mark.gpu
def test_strided_torch_views_compile_for_their_strides(torch_cuda):
    torch = torch_cuda
    base = torch.randn(40, 33, device="cuda")
    a = base.t()  # 33 x 40, strides (1, 33)
    b = torch.randn(40, 20, device="cuda")[:, ::2]  # 40 x 10, strides (20, 2)
    c = tcir.compile(MATMUL, "matmul", a, b, target="cuda")(a, b)
    _close(c.cpu().numpy(), a.cpu().numpy() @ b.cpu().numpy())


@pytest.mark.gpu
def test_numpy_and_torch_inputs_mix(torch_cuda):
    torch = torch_cuda
    a = np.random.default_rng(0).standard_normal((8, 5)).astype(np.float32)
    b = torch.randn(5, 6, device="cuda")
    c = tcir.compile(MATMUL, "matmul", a, b, target="cuda")(a, b)
    assert isinstance(c, torch.Tensor)
    _close(c.cpu().numpy(), a @ b.cpu().numpy())


@pytest.mark.gpu
def test_an_output_overlapping_an_input_on_the_device(torch_cuda):
    torch = torch_cuda
    a = torch.randn(16, device="cuda")
    with pytest.raises(TcError, match="overlaps `A`"):
        tcir.compile(SCALE, "scale", a, target="cuda")(a, outputs=a)


@pytest.mark.gpu
def test_wrong_shape_of_a_torch_input(torch_cuda):
    torch = torch_cuda
    with pytest.raises(TcError, match="`A` of `matmul` has rank 2"):
        tcir.compile(MATMUL, "matmul", torch.randn(3, device="cuda"), torch.randn(3, 3, device="cuda"),
                     target="cuda")
