"""PyTorch CPU tensors through the plain API (`tcir.compile`, `tcir.define`): used in
place, tensors out, `outputs=` tensors written in place, and clear errors for tensors
that need a gradient, sparse tensors and lazily negated outputs (tcir/host_arrays.py).
The expected values are computed by PyTorch itself."""

import ml_dtypes
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import tcir  # noqa: E402

T = tcir.define("""
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, r_k) * B(r_k, n)
}
def scale(float(N) X, float s) -> (Y) {
    Y(i) = s * X(i)
}
def widen(bfloat16(N) X) -> (Y, Z) {
    Y(i) = float(X(i)) * 2
    Z(i) = X(i) + X(i)
}
def count(int32(N) X, bool(N) P) -> (S) {
    S(i) = P(i) ? X(i) : 0
}
def unsigned(uint16(N) X) -> (Y) {
    Y(i) = X(i) + X(i)
}
""")


def test_tensors_in_tensors_out():
    a, b = torch.randn(5, 3), torch.randn(3, 4)
    c = T.matmul(a, b)
    assert isinstance(c, torch.Tensor) and c.dtype == torch.float32 and c.device.type == "cpu"
    torch.testing.assert_close(c, a @ b)


def test_compiled_kernels_take_tensors_too():
    a, b = torch.randn(6, 2), torch.randn(2, 7)
    k = tcir.compile("def mm(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }",
                     "mm", a, b)
    torch.testing.assert_close(k(a, b), a @ b)


def test_strided_views_are_read_in_place():
    base = torch.randn(8, 6)
    a = base.t()[:, ::2]  # (6, 4), not contiguous
    b = torch.randn(4, 3)
    torch.testing.assert_close(T.matmul(a, b), a @ b)


def test_mixed_numpy_and_torch_inputs_give_tensors():
    a = torch.randn(2, 3)
    b = np.ones((3, 2), np.float32)
    c = T.matmul(a, b)
    assert isinstance(c, torch.Tensor)
    torch.testing.assert_close(c, a @ torch.from_numpy(b))


def test_numpy_inputs_still_give_arrays():
    c = T.matmul(np.ones((2, 3), np.float32), np.ones((3, 2), np.float32))
    assert isinstance(c, np.ndarray)


def test_outputs_are_written_in_place_and_returned_as_passed():
    x = torch.arange(4, dtype=torch.float32)
    out = torch.full((4,), 7.0)
    got = T.scale(x, 3.0, outputs=out)
    assert got is out
    torch.testing.assert_close(out, 3 * x)
    # a strided output tensor, in a list
    big = torch.zeros(8)
    got = T.scale(x, 2.0, outputs=[big[::2]])
    torch.testing.assert_close(big[::2], 2 * x)
    assert torch.all(big[1::2] == 0)


def test_numpy_inputs_with_a_tensor_output():
    out = torch.zeros(3)
    T.scale(np.ones(3, np.float32), 5.0, outputs=out)
    torch.testing.assert_close(out, torch.full((3,), 5.0))


def test_a_zero_dimensional_tensor_is_a_scalar():
    x = torch.ones(3)
    torch.testing.assert_close(T.scale(x, torch.tensor(2.5)), torch.full((3,), 2.5))


def test_bfloat16_crosses_both_ways_without_copies():
    x = torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)
    y, z = T.widen(x)
    assert y.dtype == torch.float32 and z.dtype == torch.bfloat16
    torch.testing.assert_close(y, x.float() * 2)
    torch.testing.assert_close(z, x + x)
    out_y, out_z = torch.zeros(3), torch.zeros(3, dtype=torch.bfloat16)
    T.widen(x, outputs=(out_y, out_z))
    torch.testing.assert_close(out_z, x + x)


def test_integer_bool_and_unsigned_dtypes():
    x = torch.tensor([1, 2, 3, 4], dtype=torch.int32)
    p = torch.tensor([True, False, True, True])
    assert T.count(x, p).tolist() == [1, 0, 3, 4]
    u = torch.tensor([1, 40000], dtype=torch.uint16)
    y = T.unsigned(u)
    assert y.dtype == torch.uint16 and y.tolist() == [2, 80000 - 65536]  # wraps, as uint16 does


def test_a_tensor_that_requires_grad_is_refused():
    a = torch.randn(2, 3, requires_grad=True)
    with pytest.raises(tcir.TcError, match=r"`A` of `matmul` requires a gradient.*tcir\.torch\.op.*x\.detach\(\)"):
        T.matmul(a, torch.randn(3, 2))
    with torch.no_grad():  # nothing would be recorded: the values are what is wanted
        c = T.matmul(a, torch.ones(3, 2))
    torch.testing.assert_close(c, a.detach() @ torch.ones(3, 2))
    torch.testing.assert_close(T.matmul(a.detach(), torch.ones(3, 2)), a.detach() @ torch.ones(3, 2))


def test_an_output_that_requires_grad_is_refused():
    out = torch.zeros(3, requires_grad=True)
    with pytest.raises(tcir.TcError, match=r"output #0 of `scale` requires a gradient"):
        T.scale(torch.ones(3), 1.0, outputs=out)


def test_sparse_tensors_are_refused():
    s = torch.eye(3).to_sparse()
    with pytest.raises(tcir.TcError, match=r"`A` of `matmul` is a torch.sparse_coo tensor.*x\.to_dense\(\)"):
        T.matmul(s, torch.ones(3, 3))


def test_lazily_negated_views():
    x = torch.tensor([1.0, 2.0, 3.0])
    neg = torch._neg_view(x)
    assert neg.is_neg()
    torch.testing.assert_close(T.scale(neg, 2.0), -2 * x)  # an input: its values are read
    with pytest.raises(tcir.TcError, match=r"output #0 of `scale` is a lazily negated"):
        T.scale(x, 1.0, outputs=torch._neg_view(torch.zeros(3)))


def test_argument_errors_name_the_parameter():
    with pytest.raises(tcir.TcError, match=r"`A` of `matmul` must have dtype float32.*got float64"):
        T.matmul(torch.ones(2, 3, dtype=torch.float64), torch.ones(3, 2))
    with pytest.raises(tcir.TcError, match=r"size `K` is 3 from `A` \(dimension 1\) but 4 from `B` \(dimension 0\)"):
        T.matmul(torch.ones(2, 3), torch.ones(4, 2))
    with pytest.raises(tcir.TcError, match=r"output `C` must have shape \(2, 2\) and dtype float32"):
        T.matmul(torch.ones(2, 3), torch.ones(3, 2), outputs=torch.zeros(3, 3))


def test_outputs_overlapping_an_input_tensor_are_refused():
    x = torch.ones(4)
    with pytest.raises(tcir.TcError, match="overlap"):
        T.scale(x, 2.0, outputs=x)


def test_float8_tensors_cross_as_ml_dtypes_views():
    from tcir.host_arrays import as_tensors, host_view

    x = torch.tensor([0.5, -448.0, 2.0]).to(torch.float8_e4m3fn)
    view = host_view(x, "`X`")
    assert view.dtype == np.dtype(ml_dtypes.float8_e4m3fn)
    np.testing.assert_array_equal(view.astype(np.float32), x.float().numpy())
    back, = as_tensors([view])
    assert back.dtype == torch.float8_e4m3fn and back.data_ptr() == x.data_ptr()
