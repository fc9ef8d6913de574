"""What a call accepts, class by class (docs/api.md, "What a call accepts"): every bad
input is a TcError raised before anything is compiled or run, and what is accepted
computes what hand-written NumPy computes.

Nothing here allocates much memory: huge extents come from broadcast views (stride 0),
and the memory limit is monkeypatched where a test needs a small one.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import ml_dtypes
import numpy as np
import pytest

import tcir
from tcir import api
from tcir.api import UnknownDefError, _self_overlap

MATMUL = "def matmul(float(M, K) A, float(K, N) B) -> (C) {\n    C(m, n) +=! A(m, r_k) * B(r_k, n)\n}\n"
SCALE = "def scale(float(N) A) -> (B) { B(i) = 2 * A(i) }"
as_strided = np.lib.stride_tricks.as_strided


def f32(*shape):
    return np.ones(shape, np.float32)


def raises(match, fn, *args, **kwargs):
    with pytest.raises(tcir.TcError, match=match) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.fixture(scope="module")
def scale():
    return tcir.define(SCALE).scale


# --- 1. a def that does not exist ---------------------------------------------------------


def test_unknown_def_is_a_tc_error_with_a_suggestion():
    T = tcir.define(MATMUL, "matmul.tc")
    err = raises(r"^matmul.tc:1:1: error: no def named `matmull`; the source defines `matmul`; "
                 r"did you mean `matmul`\?$", getattr, T, "matmull")
    assert isinstance(err, AttributeError) and isinstance(err, UnknownDefError)
    assert err.message == "no def named `matmull`; the source defines `matmul`; did you mean `matmul`?"
    err = raises(r"no def named `conv2d`; the source defines `matmul`$", getattr, T, "conv2d")  # nothing close


def test_unknown_def_lists_every_def_and_hasattr_works():
    T = tcir.define(SCALE + "\n" + MATMUL)
    raises(r"the source defines `scale`, `matmul`; did you mean `scale`\?", getattr, T, "scal")
    assert hasattr(T, "scale") and hasattr(T, "matmul") and not hasattr(T, "wrong_name")
    assert getattr(T, "wrong_name", None) is None
    assert dir(T) == ["matmul", "scale"]
    assert isinstance(T.scale, tcir.Kernel)
    assert "matmul" in repr(T) and "scale" in repr(T)


def test_compile_suggests_a_close_def_too():
    raises(r"no def named `matmu`; the source defines `matmul`; did you mean `matmul`\?",
           tcir.compile, MATMUL, "matmu")


# --- 2. dtype hints name real types (bfloat16: ml_dtypes.bfloat16) -----------------------------

TC_TYPES = {"bool": np.bool_, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
            "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
            "half": np.float16, "bfloat16": ml_dtypes.bfloat16, "float": np.float32, "double": np.float64}


def _hinted_type(message: str, pattern: str):
    """The Python expression a message suggests, evaluated: it must name the right type."""
    found = re.search(pattern, message)
    assert found, message
    return eval(found.group(1), {"np": np, "ml_dtypes": ml_dtypes})  # noqa: S307 - our own message


@pytest.mark.parametrize("tc_type", TC_TYPES)
def test_every_hint_names_a_real_type(tc_type):
    want = np.dtype(TC_TYPES[tc_type])
    wrong = np.complex64  # no TC type
    T = tcir.define(f"def f({tc_type}(N) A, {tc_type} s) -> (B) {{ B(i) = A(i) }}")
    good = np.zeros(3, want)
    err = raises("must have dtype", T.f, np.zeros(3, wrong), 0)
    assert np.dtype(_hinted_type(err.message, r"x\.astype\(([\w.]+)\)")) == want
    err = raises("must be a NumPy array", T.f, [0, 0, 0], 0)
    assert np.dtype(_hinted_type(err.message, r"dtype=([\w.]+)\)")) == want
    err = raises("output `B` must have shape", T.f, good, 0, outputs=np.zeros(3, wrong))
    assert np.dtype(_hinted_type(err.message, r"np\.zeros\(\(3,\), ([\w.]+)\)")) == want
    err = raises("must be a number", T.f, good, "0")
    assert np.dtype(_hinted_type(err.message, r"a real Python number or ([\w.]+)\)")) == want


def test_bfloat16_messages_never_say_np_bfloat16():
    T = tcir.define("def f(bfloat16(N) A, bfloat16 s) -> (B) { B(i) = A(i) * s }")
    a = np.ones(3, ml_dtypes.bfloat16)
    for call in (lambda: T.f(f32(3), 1.0), lambda: T.f([1.0], 1.0), lambda: T.f(a, "x"),
                 lambda: T.f(a, 1.0, outputs=f32(3)), lambda: T.f(a, 1e39)):
        with pytest.raises(tcir.TcError) as info:
            call()
        assert "ml_dtypes.bfloat16" in str(info.value) and "np.bfloat16" not in str(info.value)


def test_bfloat16_scalars_compute():
    T = tcir.define("def f(bfloat16(N) A, bfloat16 s) -> (B) { B(i) = A(i) * s }")
    a = np.arange(4).astype(ml_dtypes.bfloat16)
    for s in (2.5, ml_dtypes.bfloat16(2.5), np.float32(2.5), np.array(2.5)):
        np.testing.assert_array_equal(T.f(a, s).astype(np.float32), np.arange(4, dtype=np.float32) * 2.5)


def test_scalars_that_are_not_real_numbers_or_do_not_fit():
    T = tcir.define("def f(float(N) A, float s) -> (B) { B(i) = A(i) * s }")
    a = f32(2)
    raises(r"scalar `s` of `f` must be a number .* got complex", T.f, a, 1 + 2j)
    raises(r"scalar `s` of `f` must be a number .* got complex64", T.f, a, np.complex64(1))
    raises(r"must be a number .* got str_", T.f, a, np.str_("3"))
    raises(r"must be a number .* got datetime64", T.f, a, np.datetime64(1, "s"))
    raises(r"must be a number .* got an array of shape \(1,\); pass one element", T.f, a, np.ones(1))
    raises(r"scalar `s` of `f` is `float` \(np.float32\): 1e\+40 is out of its range", T.f, a, 1e40)
    raises(r"scalar `s` of `f` is `float` \(np.float32\): 1000000000000000000000000000000000000000 is out",
           T.f, a, 10**39)
    raises(r"is out of its range", T.f, a, 10**400)  # beyond any float: not an OverflowError
    np.testing.assert_array_equal(T.f(a, np.inf), [np.inf, np.inf])  # an infinity is a value


# --- 3. `outputs=`: a NumPy array, or a tuple or list of them ---------------------------------


class ArrayLike:
    """A PyTorch CPU tensor as far as `outputs=` can tell: __array__, __len__, __getitem__.
    Taking it apart into rows is the bug: those methods fail the test."""

    def __init__(self, n):
        self.data = np.full(n, 7.0, np.float32)

    def __array__(self, dtype=None, copy=None):
        return self.data

    def __len__(self):
        raise AssertionError("outputs= was measured as a sequence")

    def __getitem__(self, i):
        raise AssertionError("outputs= was indexed as a sequence of rows")


@pytest.mark.parametrize("outputs, got", [
    (3, "got int"),
    ((x for x in [np.zeros(3, np.float32)]), "got generator"),
    ({"B": np.zeros(3, np.float32)}, "got dict"),
    ("abc", "got str"),
    (np.float32(0), "got float32"),
    (ArrayLike(3), r"got ArrayLike, an array-like that tcir could not write into in place"),
])
def test_outputs_that_are_not_arrays_or_sequences_of_arrays(scale, outputs, got):
    raises(r"`outputs=` must be a NumPy array or a PyTorch CPU tensor \(for one output\) or a tuple or list of them, one per "
           rf"output of `scale` \(B\); {got}", scale, f32(3), outputs=outputs)


def test_outputs_as_a_list_of_rows(scale):
    raises(r"output `B` must be a NumPy array or a PyTorch CPU tensor, got list", scale, f32(3), outputs=[[0.0, 0.0, 0.0]])
    raises(r"`scale` has 1 output\(s\) \(B\), got 3", scale, f32(3), outputs=[0.0, 0.0, 0.0])


def test_array_like_output_is_left_untouched(scale):
    out = ArrayLike(3)
    raises("`outputs=` must be", scale, f32(3), outputs=out)
    np.testing.assert_array_equal(out.data, 7.0)


def test_a_cuda_array_in_outputs_on_the_cpu_target(scale):
    class FakeCudaArray:
        __cuda_array_interface__ = {"shape": (3,), "typestr": "<f4", "data": (4096, False), "version": 3}

    raises(r'got a CUDA array \(FakeCudaArray\): compile with target="cuda"', scale, f32(3), outputs=FakeCudaArray())
    raises(r'output `B` must be a NumPy array or a PyTorch CPU tensor, got FakeCudaArray \(a CUDA array: compile with target="cuda"',
           scale, f32(3), outputs=[FakeCudaArray()])


def test_accepted_outputs_are_written(scale):
    a = np.arange(3, dtype=np.float32)
    for outputs in (np.zeros(3, np.float32), [np.zeros(3, np.float32)], (np.zeros(3, np.float32),)):
        got = scale(a, outputs=outputs)
        target = outputs if isinstance(outputs, np.ndarray) else outputs[0]
        assert got is target
        np.testing.assert_array_equal(target, 2 * a)


# --- 4. memory: outputs and temporaries too large to allocate --------------------------------

COPY2 = "def copy2(float(M, N) A) -> (O) { O(i, j) = A(i, j) }"
OUTER3 = "def outer3(float(I) A, float(J) B, float(K) C) -> (O) { O(i, j, k) = A(i) * B(j) * C(k) }"
WITH_TEMP = "def rowsum(float(M) A, float(N) B) -> (O) {\n  T(i, j) = A(i) * B(j)\n  O(i) +=! T(i, r)\n}\n"
TWO_OUT = "def two(float(N) A) -> (X, Y) {\n  X(i) = A(i)\n  Y(i) = 2 * A(i)\n}\n"


@pytest.fixture
def small_memory(monkeypatch):
    """A machine with 1 MiB of memory, as far as tcir's check knows."""
    monkeypatch.setattr(api, "host_memory_bytes", lambda: 1 << 20)


def huge(*shape):
    return np.broadcast_to(np.float32(1), shape)  # no memory: stride 0


def test_an_output_larger_than_memory(small_memory):
    T = tcir.define(COPY2)
    raises(r"^error: output `O` of `copy2` needs 4398046511104 bytes \(4 TiB\) \(shape \(1048576, 1048576\), "
           r"float32\): more than the memory of this machine \(1048576 bytes \(1 MiB\)\)$",
           T.copy2, huge(2**20, 2**20))
    raises(r"output `O` of `copy2` needs 1048580 bytes", T.copy2, huge(1, 2**18 + 1))
    np.testing.assert_array_equal(T.copy2(huge(1, 2**18 - 16)), 1)  # just under: fine


def test_an_output_larger_than_any_array():
    T = tcir.define(OUTER3)
    a = huge(2**22)
    raises(r"output `O` of `outer3` needs 295147905179352825856 bytes \(256 EiB\) .*: more than any array can "
           r"hold \(9223372036854775807 bytes", T.outer3, a, a, a)


def test_a_temporary_larger_than_memory(small_memory):
    T = tcir.define(WITH_TEMP)
    raises(r"temporary `T` of `rowsum` needs 1073741824 bytes \(1 GiB\) \(shape \(256, 1048576\), float32\): "
           r"more than the memory of this machine", T.rowsum, huge(2**8), huge(2**20))
    # The temporary is allocated by tcir even when the outputs are passed in.
    raises(r"temporary `T` of `rowsum` needs", T.rowsum, huge(2**8), huge(2**20), outputs=np.zeros(2**8, np.float32))
    a, b = np.arange(3, dtype=np.float32), np.arange(4, dtype=np.float32)
    np.testing.assert_allclose(T.rowsum(a, b), a * b.sum())


def test_the_total_counts(monkeypatch):
    monkeypatch.setattr(api, "host_memory_bytes", lambda: 6000)
    T = tcir.define(TWO_OUT)
    raises(r"`two` needs 8000 bytes \(7.81 KiB\) for the arrays tcir allocates \(output `X` 4000 bytes "
           r"\(3.91 KiB\), output `Y` 4000 bytes \(3.91 KiB\)\): more than the memory of this machine",
           T.two, f32(1000))
    a = np.arange(1000, dtype=np.float32)  # outputs passed in are not allocated by tcir
    x, y = T.two(a, outputs=(np.zeros(1000, np.float32), np.zeros(1000, np.float32)))
    np.testing.assert_array_equal(x, a)
    np.testing.assert_array_equal(y, 2 * a)


def test_a_failed_allocation_names_the_output(monkeypatch, scale):
    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate")

    monkeypatch.setattr(np, "zeros", out_of_memory)
    raises(r"cannot allocate output `B`: it needs 12 bytes \(shape \(3,\), float32\), and the allocation failed "
           r"\(MemoryError: Unable to allocate\)", scale, f32(3))


def test_the_memory_limit_is_the_machines():
    limit = api.host_memory_bytes()
    assert 2**20 < limit <= api.ADDRESSABLE_BYTES
    assert api.host_memory_bytes() == limit  # fixed for the process


# --- 5. sizes beyond int32 ---------------------------------------------------------------------

BIG = 2**31 + 5  # elements of a broadcast view: no memory


def test_extents_beyond_int32_are_64_bit():
    ones = np.broadcast_to(np.int64(1), (BIG,))
    T = tcir.define("def total(int64(N) A) -> (O) { O +=! A(r) }")
    assert int(T.total(ones)) == BIG
    row = np.broadcast_to(np.array([1, 2, 3], np.int64), (BIG, 3))
    T = tcir.define("def colsum(int64(N, 3) A) -> (O) { O(j) +=! A(N - 1 - r, j) }")
    np.testing.assert_array_equal(T.colsum(row), [BIG, 2 * BIG, 3 * BIG])


def test_a_size_used_as_a_value_beyond_int32():
    T = tcir.define("def f(int32(N) A) -> (O) {\n  O +=! int64(A(r)) * int64(N)\n}\n", "size.tc")
    a = np.broadcast_to(np.int32(1), (BIG,))
    raises(r"^size.tc:2:3: error: size `N` is 2147483653, but `O` uses it as a value, and a size used as a "
           r"value is `int32` in TC \(at most 2147483647\): it would wrap around", T.f, a)
    edge = 2**31 - 1
    assert int(T.f(np.broadcast_to(np.int32(1), (edge,)))) == edge * edge  # the largest int32 size


def test_an_index_used_as_a_value_beyond_int32():
    T = tcir.define("def f(int32(N) A) -> (O) {\n  O +=! int64(r) where r in 0:N\n}\n", "index.tc")
    raises(r"^index.tc:2:3: error: index `r` reaches 2147483652, but `O` uses it as a value, and an index "
           r"used as a value is `int32` in TC", T.f, np.broadcast_to(np.int32(1), (BIG,)))
    n = 2**31 - 1
    assert int(T.f(np.broadcast_to(np.int32(1), (n,)))) == (n - 1) * n // 2


def test_a_non_affine_subscript_is_a_value():
    T = tcir.define("def f(int64(N) A, int64(2) B) -> (O) { O +=! A(r) * B(r % 2) }")
    raises(r"index `r` reaches 2147483652, but `O` uses it as a value",
           T.f, np.broadcast_to(np.int64(1), (BIG,)), np.ones(2, np.int64))
    np.testing.assert_array_equal(T.f(np.arange(5, dtype=np.int64), np.array([10, 1], np.int64)),
                                  np.arange(5) @ np.array([10, 1, 10, 1, 10]))


# --- 6. outputs that overlap themselves ---------------------------------------------------------


def test_a_zero_stride_output(scale):
    out = as_strided(np.zeros(1, np.float32), (3,), (0,))  # writable, unlike np.broadcast_to
    raises(r"output `B` overlaps itself in memory: dimension 0 has stride 0, so its 3 elements are one location",
           scale, np.arange(3, dtype=np.float32), outputs=out)


def test_overlapping_strides_output():
    T = tcir.define("def copy(float(M, N) A) -> (O) { O(i, j) = A(i, j) }")
    buf = np.zeros(32, np.float32)
    out = as_strided(buf, (4, 4), (8, 4))  # row i starts at element 2i: rows overlap
    raises(r"output `O` overlaps itself in memory: its strides \(8, 4\) make some elements share memory",
           T.copy, f32(4, 4), outputs=out)
    out = as_strided(buf, (4,), (2,))  # float32 elements 2 bytes apart: partial overlap
    raises(r"output `B` overlaps itself in memory: its strides \(2,\) make some elements share memory",
           tcir.define(SCALE).scale, f32(4), outputs=out)


def test_interleaved_strides_that_do_not_overlap_are_fine():
    T = tcir.define("def copy(float(M, N) A) -> (O) { O(i, j) = A(i, j) }")
    buf = np.zeros(8, np.float32)
    out = as_strided(buf, (3, 2), (8, 12))  # elements at 0, 3, 2, 5, 4, 7: all distinct
    a = np.arange(6, dtype=np.float32).reshape(3, 2) + 1
    T.copy(a, outputs=out)
    want = np.zeros(8, np.float32)
    for i in range(3):
        for j in range(2):
            want[2 * i + 3 * j] = a[i, j]
    np.testing.assert_array_equal(buf, want)


def test_undecided_overlap_is_refused(monkeypatch):
    monkeypatch.setattr(api, "_OVERLAP_ENUMERATION_LIMIT", 2)
    T = tcir.define("def copy(float(M, N) A) -> (O) { O(i, j) = A(i, j) }")
    out = as_strided(np.zeros(8, np.float32), (3, 2), (8, 12))
    raises(r"output `O` overlaps itself in memory: its strides \(8, 12\) may let elements share memory",
           T.copy, f32(3, 2), outputs=out)


def test_inputs_may_overlap_themselves_and_reversed_outputs_are_fine(scale):
    a = np.broadcast_to(np.float32(3), (5,))
    buf = np.zeros(5, np.float32)
    scale(a, outputs=buf[::-1])
    np.testing.assert_array_equal(buf, 6)


def test_self_overlap_agrees_with_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(2000):
        ndim = int(rng.integers(1, 4))
        itemsize = int(rng.choice([1, 2, 4, 8]))
        shape = tuple(int(n) for n in rng.integers(0, 5, ndim))
        strides = tuple(int(s) for s in rng.integers(-12, 13, ndim))
        offsets = sorted(sum(i * s for i, s in zip(index, strides)) for index in np.ndindex(*shape))
        brute = any(b - a < itemsize for a, b in zip(offsets, offsets[1:]))
        assert (_self_overlap(shape, strides, itemsize) is not None) == brute, (shape, strides, itemsize)


# --- 7. masked arrays and bool bytes --------------------------------------------------------------


def test_masked_arrays_are_refused(scale):
    m = np.ma.masked_array(np.arange(3, dtype=np.float32), mask=[0, 1, 0])
    raises(r"`A` of `scale` is a NumPy masked array: tcir does not apply masks.* pass `x.filled\(value\)` .* "
           r"or `x.data`", scale, m)
    raises(r"output `B` is a NumPy masked array", scale, f32(3), outputs=np.ma.zeros(3, np.float32))
    np.testing.assert_array_equal(scale(m.filled(0)), [0, 0, 4])
    T = tcir.define("def f(float(N) A, float s) -> (B) { B(i) = A(i) * s }")
    raises(r"scalar `s` of `f` is a NumPy masked array", T.f, f32(2), np.ma.masked_array(2.0, mask=True))


def test_bool_bytes_other_than_0_and_1_are_true():
    """Any nonzero byte of a bool array is True (compiled loads compare the byte with 0),
    for contiguous and strided inputs, under vectorizing options too."""
    raw = np.array([0, 1, 2, 3, 128, 254, 255, 0, 7, 64, 0, 9], np.uint8)
    flags = np.array([True, False, True, True, False, False, True, True, False, True, True, False])
    cases = {
        "B(i) = A(i) ? 1 : 0": lambda a, c: a.astype(np.int32),
        "B(i) = int32(A(i))": lambda a, c: a.astype(np.int32),
        "B(i) = int32(!A(i))": lambda a, c: (~a).astype(np.int32),
        "B(i) = int32(A(i) == C(i))": lambda a, c: (a == c).astype(np.int32),
        "B(i) = int32(A(i) != C(i))": lambda a, c: (a != c).astype(np.int32),
        "B(i) = int32(A(i) && C(i))": lambda a, c: (a & c).astype(np.int32),
        "B(i) = uint8(A(i))": lambda a, c: a.astype(np.uint8),
        "B +=! int32(A(i))": lambda a, c: np.int32(a.sum()),
    }
    for body, numpy in cases.items():
        for preset in ("naive", "pointwise"):
            kernel = tcir.compile(f"def f(bool(N) A, bool(N) C) -> (B) {{ {body} }}", "f",
                                  options=tcir.MappingOptions(preset))
            for view in (slice(None), slice(None, None, -3)):
                a = raw[view].view(np.bool_)
                np.testing.assert_array_equal(kernel(a, flags[view]), numpy(raw[view] != 0, flags[view]),
                                              err_msg=f"{body} {preset} {view}")
    copy = tcir.define("def f(bool(N) A) -> (B) { B(i) = A(i) }").f(raw.view(np.bool_))
    np.testing.assert_array_equal(copy.view(np.uint8), raw != 0)  # written back as 0 and 1


def test_bool_scalar_from_a_non_canonical_byte():
    T = tcir.define("def f(int32(N) A, bool b) -> (B) { B(i) = A(i) * int32(b) }")
    b = np.array(2, np.uint8).view(np.bool_)
    np.testing.assert_array_equal(T.f(np.arange(3, dtype=np.int32), b), [0, 1, 2])


# --- target="cuda": the same checks, without a GPU -------------------------------------------


class FakeCudaArray:
    """An object that says it is a CUDA array (nothing is read through its address)."""

    def __init__(self, shape, typestr="<f4", address=4096, strides=None):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (address, False),
                                         "strides": strides, "version": 3}


class FakeDriver:
    def __init__(self, total_memory):
        self.total_memory = total_memory

    def cuDeviceGet(self, ordinal):
        return ordinal

    def cuDeviceTotalMem(self, handle):
        if self.total_memory is None:
            raise RuntimeError("not told")
        return self.total_memory


@pytest.fixture
def cuda_kernel(monkeypatch):
    """`cuda_kernel(source, entry, gpu_memory)`: a target="cuda" kernel on a fake GPU, to
    `prepare` calls (which checks them; nothing is compiled or launched)."""
    def make(source, entry, gpu_memory=1 << 40):
        device = SimpleNamespace(driver=FakeDriver(gpu_memory), ordinal=0)
        monkeypatch.setattr(api, "require_gpu", lambda: device)
        return tcir.compile(source, entry, target="cuda")
    return make


def test_cuda_outputs_argument(cuda_kernel):
    k = cuda_kernel(SCALE, "scale")
    raises(r"`outputs=` must be a NumPy array, a PyTorch CPU tensor or a CUDA array \(for one output\) or a tuple or list of them.*got int",
           k.prepare, [FakeCudaArray((3,))], 3)
    raises(r"got ArrayLike, an array-like", k.prepare, [f32(3)], ArrayLike(3))
    raises(r"output `B` must be a NumPy array, a PyTorch CPU tensor or a CUDA array, got list", k.prepare, [f32(3)], [[0.0, 0.0, 0.0]])
    call, outs, arrays, layout = k.prepare([FakeCudaArray((3,))], FakeCudaArray((3,), address=8192))
    assert outs["B"].shape == (3,) and layout.size_map == {"N": 3}


def test_cuda_outputs_that_overlap_themselves(cuda_kernel):
    k = cuda_kernel(SCALE, "scale")
    raises(r"output `B` overlaps itself in memory: dimension 0 has stride 0",
           k.prepare, [FakeCudaArray((3,))], FakeCudaArray((3,), address=8192, strides=(0,)))
    raises(r"output `B` overlaps itself in memory: dimension 0 has stride 0",
           k.prepare, [f32(3)], as_strided(np.zeros(1, np.float32), (3,), (0,)))
    raises(r"output `B` overlaps `A`", k.prepare, [FakeCudaArray((3,))], FakeCudaArray((3,), address=4100))
    k.prepare([FakeCudaArray((3,), strides=(0,))], FakeCudaArray((3,), address=8192))  # inputs may


def test_cuda_memory_is_the_gpus(cuda_kernel, small_memory):
    k = cuda_kernel(COPY2, "copy2", gpu_memory=1 << 10)
    raises(r"output `O` of `copy2` needs 4096 bytes \(4 KiB\) \(shape \(32, 32\), float32\): more than the memory "
           r"of the GPU \(1024 bytes", k.prepare, [FakeCudaArray((32, 32))])
    k = cuda_kernel(COPY2, "copy2", gpu_memory=None)  # the driver does not say: the host's limit
    raises(r"output `O` of `copy2` needs 4194304 bytes .* more than the memory of this machine",
           k.prepare, [FakeCudaArray((1024, 1024))])
    k = cuda_kernel(WITH_TEMP, "rowsum", gpu_memory=1 << 10)
    raises(r"temporary `T` of `rowsum` needs 4096 bytes", k.prepare, [f32(32), f32(32)],
           FakeCudaArray((32,)))


def test_cuda_masked_int32_and_dtype_checks(cuda_kernel):
    k = cuda_kernel(SCALE, "scale")
    raises(r"`A` of `scale` is a NumPy masked array", k.prepare, [np.ma.zeros(3, np.float32)])
    raises(r"output `B` is a NumPy masked array", k.prepare, [f32(3)], np.ma.zeros(3, np.float32))
    raises(r"must have dtype float32 .* pass x.astype\(np.float32\)", k.prepare, [FakeCudaArray((3,), "<f8")])
    k = cuda_kernel("def f(int32(N) A) -> (O) { O +=! int64(A(r)) * int64(N) }", "f")
    raises(r"size `N` is 2147483653, but `O` uses it as a value", k.prepare, [FakeCudaArray((BIG,), "<i4")])
    k = cuda_kernel("def f(bfloat16(N) A) -> (B) { B(i) = A(i) }", "f")
    raises(r"output `B` must have shape \(3,\) and dtype bfloat16, got shape \(3,\) and dtype float32; "
           r"allocate it with np.zeros\(\(3,\), ml_dtypes.bfloat16\)",
           k.prepare, [np.zeros(3, ml_dtypes.bfloat16)], FakeCudaArray((3,), "<f4", address=8192))
