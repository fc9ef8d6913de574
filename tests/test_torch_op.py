"""tcir.torch.op: TC defs as PyTorch custom operators (forward on CPU tensors, fake
implementations from range inference, backward through tcir.grad)."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import tcir  # noqa: E402
import tcir.torch as tt  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FCRELU = (EXAMPLES / "fcrelu.tc").read_text()
MATMUL = (EXAMPLES / "matmul.tc").read_text()
SOFTMAX = (EXAMPLES / "softmax.tc").read_text()
GROUPNORM = (EXAMPLES / "group_normalization.tc").read_text()


def double(source: str) -> str:
    return source.replace("float(", "double(")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def fcrelu_ref(x, w, b):
    return torch.maximum(x @ w.T + b, torch.zeros(()))


def softmax_ref(x):
    m = x.amax(1)
    e = torch.exp(x - m[:, None])
    return e / e.sum(1, keepdim=True), e.sum(1), m


def groupnorm_ref(x, gamma, beta, mean, var):
    return (gamma[None, :, :, None, None] * (x - mean[:, :, None, None, None])
            * torch.rsqrt(var[:, :, None, None, None] + 1e-5) + beta[None, :, :, None, None])


def groupnorm_args(requires_grad=False):
    x = torch.randn(2, 2, 3, 2, 3)
    gamma, beta = torch.randn(2, 3), torch.randn(2, 3)
    mean, var = x.mean((2, 3, 4)), x.var((2, 3, 4)) + 0.5
    args = (x, gamma, beta, mean, var)
    return tuple(a.clone().requires_grad_(requires_grad) for a in args)


# Forward ----------------------------------------------------------------------------


def test_forward_against_eager():
    fcrelu, matmul = tt.op(FCRELU, "fcrelu"), tt.op(MATMUL, "matmul")
    softmax, groupnorm = tt.op(SOFTMAX, "softmax"), tt.op(GROUPNORM, "group_normalization")
    x, w, b = torch.randn(3, 5), torch.randn(4, 5), torch.randn(4)
    torch.testing.assert_close(fcrelu(x, w, b), fcrelu_ref(x, w, b))
    torch.testing.assert_close(torch.ops.tcir.fcrelu(x, w, b), fcrelu_ref(x, w, b))
    a, c = torch.randn(3, 6), torch.randn(6, 2)
    torch.testing.assert_close(matmul(a, c), a @ c)
    torch.testing.assert_close(matmul(a, c.T.contiguous().T), a @ c)  # strided: used in place
    s = torch.randn(4, 7)
    for got, want in zip(softmax(s), softmax_ref(s)):
        torch.testing.assert_close(got, want)
    torch.testing.assert_close(softmax(s)[0], torch.softmax(s, 1))
    args = groupnorm_args()
    torch.testing.assert_close(groupnorm(*args), groupnorm_ref(*args))


def test_dtypes_cross_without_copies():
    bf = tt.op("def twice(bfloat16(N) A, int32(N) K) -> (B, C) { B(i) = A(i) * 2\n C(i) = K(i) + 1 }", "twice")
    a = torch.tensor([1.5, -2.0, 3.0], dtype=torch.bfloat16)
    k = torch.tensor([1, 2, 3], dtype=torch.int32)
    b, c = bf(a, k)
    assert b.dtype == torch.bfloat16 and c.dtype == torch.int32
    assert b.tolist() == [3.0, -4.0, 6.0] and c.tolist() == [2, 3, 4]
    flags = tt.op("def flip(bool(N) A) -> (B) { B(i) = !A(i) }", "flip")
    assert flags(torch.tensor([True, False])).tolist() == [False, True]


def test_registration_is_idempotent_and_shows_in_torch_ops():
    first = tt.op(MATMUL, "matmul")
    assert tt.op(MATMUL + "\n# a comment\n", "matmul") is first
    assert first.qualname == "tcir::matmul"
    assert str(torch.ops.tcir.matmul.default._schema) == "tcir::matmul(Tensor A, Tensor B) -> Tensor"
    renamed = tt.op(MATMUL, "matmul", name="matmul_again")
    assert renamed is not first and renamed.qualname == "tcir::matmul_again"


# Backward ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["fcrelu", "matmul", "softmax"])
def test_gradcheck_double(which):
    f, args = _f64_op(which)
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5)


def _f64_op(which):
    """A float64 op and arguments for (grad)gradcheck."""
    if which == "fcrelu":
        f = tt.op(double(FCRELU), "fcrelu", name="fcrelu_f64")
        args = (torch.randn(3, 4), torch.randn(2, 4), torch.randn(2))
    elif which == "matmul":
        f = tt.op(double(MATMUL), "matmul", name="matmul_f64")
        args = (torch.randn(3, 4), torch.randn(4, 2))
    else:
        f = tt.op(double(SOFTMAX), "softmax", name="softmax_f64")
        args = (torch.randn(2, 5),)
    return f, tuple(a.double().requires_grad_() for a in args)


@pytest.mark.parametrize("which", ["fcrelu", "matmul", "softmax"])
def test_gradgradcheck_double(which):
    f, args = _f64_op(which)
    assert torch.autograd.gradgradcheck(f, args, eps=1e-6, atol=1e-5)
    assert f.backward_op.qualname == f"tcir_backward::{f.name}"
    assert f.backward_op.backward_op.qualname == f"tcir_backward2::{f.name}"  # derived on the first use


def test_third_derivative():
    f = tt.op("def cube(double(N) A) -> (O) { O(i) = A(i) * A(i) * A(i) }", "cube")
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    (ggg,) = torch.autograd.grad(gg.sum(), x)
    torch.testing.assert_close((g, gg, ggg), (3 * x * x, 6 * x, torch.full_like(x, 6.0)))


def test_backward_without_gradient_is_a_located_tcerror():
    f = tt.op("def lg(double(N) A) -> (O) {\n  O(i) = lgamma(A(i))\n}", "lg")
    x = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(f(x), torch.lgamma(x))  # the forward works
    with pytest.raises(tcir.TcError, match="tcir::lg has no gradient: `lgamma` is not differentiable") as err:
        f(x).sum().backward()
    assert err.value.loc is not None and err.value.loc.line == 2


def test_double_backward_without_second_derivative_is_a_tcerror(monkeypatch):
    # tcir.grad derives every gradient def it generates; a refusal is simulated
    f = tt.op("def sq(double(N) A) -> (O) { O(i) = A(i) * A(i) }", "sq")
    real = tt.grad

    def refuse_gradient_defs(source, entry, wrt=None):
        if entry.endswith("_grad"):
            raise tcir.TcError("not differentiable (simulated)")
        return real(source, entry, wrt)

    monkeypatch.setattr(tt, "grad", refuse_gradient_defs)
    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)  # the first derivative works
    torch.testing.assert_close(g, 2 * x)
    with pytest.raises(tcir.TcError, match=r"tcir_backward::sq has no gradient, so tcir::sq has no derivative "
                                           r"of order 2: not differentiable \(simulated\)"):
        torch.autograd.grad(g.sum(), x)


def _grads(fn, args, weights):
    outs = fn(*args)
    outs = outs if isinstance(outs, tuple) else (outs,)
    loss = sum((o * w).sum() for o, w in zip(outs, weights))
    return torch.autograd.grad(loss, [a for a in args if a.requires_grad])


def test_gradients_against_autograd():
    fcrelu = tt.op(FCRELU, "fcrelu")
    args = tuple(t.requires_grad_() for t in (torch.randn(3, 5), torch.randn(4, 5), torch.randn(4)))
    weights = (torch.randn(3, 4),)
    for got, want in zip(_grads(fcrelu, args, weights), _grads(fcrelu_ref, args, weights)):
        torch.testing.assert_close(got, want)
    softmax = tt.op(SOFTMAX, "softmax")
    x = (torch.randn(3, 6, requires_grad=True),)
    weights = (torch.randn(3, 6), torch.randn(3), torch.zeros(3))
    for got, want in zip(_grads(softmax, x, weights), _grads(softmax_ref, x, weights)):
        torch.testing.assert_close(got, want)
    groupnorm = tt.op(GROUPNORM, "group_normalization")
    args = groupnorm_args(requires_grad=True)
    weights = (torch.randn(2, 2, 3, 2, 3),)
    for got, want in zip(_grads(groupnorm, args, weights), _grads(groupnorm_ref, args, weights)):
        torch.testing.assert_close(got, want)
    # .sum().backward(): the output's gradient is a broadcast (stride 0) tensor
    args = tuple(t.requires_grad_() for t in (torch.randn(3, 5), torch.randn(4, 5), torch.randn(4)))
    got = torch.autograd.grad(fcrelu(*args).sum(), args)
    want = torch.autograd.grad(fcrelu_ref(*args).sum(), args)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_integer_inputs_get_no_gradient():
    scale = tt.op("def scale(float(N) A, int32(N) K, float s) -> (B) { B(i) = A(i) * K(i) * s }", "scale")
    a = torch.randn(4, requires_grad=True)
    k = torch.tensor([1, 2, 3, 4], dtype=torch.int32)
    (g,) = torch.autograd.grad(scale(a, k, 0.5).sum(), [a])
    torch.testing.assert_close(g, k.float() * 0.5)
    assert "d_A" in scale.grad_source and "d_K" not in scale.grad_source and "d_s" not in scale.grad_source


# Tracing ----------------------------------------------------------------------------


class TwoOps(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = tt.op(FCRELU, "fcrelu")
        self.mm = tt.op(MATMUL, "matmul")
        self.w = torch.nn.Parameter(torch.randn(4, 5))
        self.b = torch.nn.Parameter(torch.randn(4))
        self.v = torch.nn.Parameter(torch.randn(4, 2))

    def forward(self, x):
        return self.mm(self.fc(x, self.w, self.b), self.v)


def test_torch_compile_fullgraph_without_graph_breaks():
    module = TwoOps()
    x = torch.randn(3, 5)
    explanation = torch._dynamo.explain(module)(x)
    assert explanation.graph_break_count == 0 and explanation.graph_count == 1
    torch._dynamo.reset()
    # inductor, with symbolic sizes: the fake implementations trace forward and backward
    compiled = torch.compile(module, fullgraph=True, dynamic=True)
    want = module(x)
    got = compiled(x)
    torch.testing.assert_close(got, want)
    got.sum().backward()
    grads = [p.grad.clone() for p in module.parameters()]
    module.zero_grad()
    want.sum().backward()
    for g, p in zip(grads, module.parameters()):
        torch.testing.assert_close(g, p.grad)


def test_fake_shapes_are_symbolic():
    softmax = tt.op(SOFTMAX, "softmax")
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    mode = FakeTensorMode(shape_env=ShapeEnv())
    x = mode.from_tensor(torch.randn(3, 6))
    n, d = x.shape
    assert isinstance(n, torch.SymInt)
    with mode:
        o, e, m = softmax(x)
    assert o.shape == (n, d) and e.shape == (n,) and m.shape == (n,) and o.dtype == torch.float32


def test_torch_export():
    class Layer(torch.nn.Module):
        def forward(self, x, w, b):
            return tt.op(FCRELU, "fcrelu")(x, w, b) * 2

    args = (torch.randn(3, 5), torch.randn(4, 5), torch.randn(4))
    exported = torch.export.export(Layer(), args)
    assert "tcir.fcrelu" in str(exported.graph)
    torch.testing.assert_close(exported.module()(*args), Layer()(*args))


def test_opcheck():
    torch.library.opcheck(tt.op(FCRELU, "fcrelu").custom_op,
                          (torch.randn(3, 5), torch.randn(4, 5, requires_grad=True), torch.randn(4)))


# Training ---------------------------------------------------------------------------


def test_training_lowers_the_loss():
    layer = tt.op(FCRELU, "fcrelu")
    x, target = torch.randn(16, 8), torch.rand(16, 4)
    w = torch.nn.Parameter(torch.randn(4, 8) * 0.3)
    b = torch.nn.Parameter(torch.zeros(4))
    opt = torch.optim.SGD([w, b], lr=0.1)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((layer(x, w, b) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


# Errors -----------------------------------------------------------------------------


def test_errors_are_tcerrors():
    with pytest.raises(tcir.TcError, match="did you mean `fcrelu`"):
        tt.op(FCRELU, "fcrelux")
    tt.op(FCRELU, "fcrelu")
    with pytest.raises(tcir.TcError, match="already registered"):
        tt.op(MATMUL, "matmul", name="fcrelu")
    with pytest.raises(tcir.TcError, match="name= must be an identifier"):
        tt.op(MATMUL, "matmul", name="a::b")
    matmul = tt.op(MATMUL, "matmul")
    with pytest.raises(tcir.TcError, match=r"must have dtype torch.float32.*x.to\(torch.float32\)"):
        matmul(torch.randn(2, 3, dtype=torch.float64), torch.randn(3, 2))
    with pytest.raises(tcir.TcError, match="size `K`"):
        matmul(torch.randn(2, 3), torch.randn(4, 2))
    with pytest.raises(tcir.TcError, match="has rank 2"):
        matmul(torch.randn(2), torch.randn(4, 2))


def test_float8_formats_cross_and_formats_without_a_torch_dtype_are_errors():
    scaled = tt.op("def fp8_scaled(float8_e4m3fn(N) W, float(N) X) -> (Y) { Y(i) = float(W(i)) * X(i) }",
                   "fp8_scaled")
    w = torch.tensor([0.5, 2.0, -3.0, 448.0]).to(torch.float8_e4m3fn)
    x = torch.full((4,), 2.0)
    torch.testing.assert_close(scaled(w, x), w.float() * x)
    int4 = tt.op("def int4_values(int4(N) W) -> (Y) { Y(i) = float(W(i)) }", "int4_values")
    with pytest.raises(tcir.TcError, match="`W` has the number format `int4`, which PyTorch has no dtype for"):
        int4(torch.zeros(3, dtype=torch.int8))
