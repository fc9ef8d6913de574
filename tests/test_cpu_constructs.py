"""Every language construct compiled for the CPU against the NumPy reference
evaluator, on several shapes (sizes of 1 and odd sizes) and for each dtype."""

import ml_dtypes
import numpy as np
import pytest

import tcir
from tcir.frontend import check_source
from tcir.frontend.builtins import ARITY
from tcir.testing.reference import evaluate

TOLERANCE = {  # (rtol, atol) by output dtype
    np.dtype(np.float32): (3e-5, 1e-5),
    np.dtype(np.float64): (1e-11, 1e-12),
    np.dtype(np.float16): (2e-3, 2e-3),
    np.dtype(ml_dtypes.bfloat16): (1.6e-2, 1e-2),
}


def run_both(source: str, entry: str, *inputs):
    compiled = getattr(tcir.define(source), entry)(*inputs)
    compiled = compiled if isinstance(compiled, tuple) else (compiled,)
    reference = evaluate(check_source(source).defs[entry], *inputs)
    assert len(compiled) == len(reference)
    for got, want in zip(compiled, reference):
        assert got.dtype == want.dtype and got.shape == want.shape
        if got.dtype in TOLERANCE:
            rtol, atol = TOLERANCE[got.dtype]
            np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=atol)
        else:
            np.testing.assert_array_equal(got, want)


def rand(rng, dtype, *shape, low=-3.0, high=3.0):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -100), min(info.max, 100) + 1, shape).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


SIZES = [1, 3, 7]

CONSTRUCTS = {
    "scalar_param_and_size_value": ("def f(float(N, 4) A, float alpha) -> (B) { B(i, j) = alpha * A(i, j) / N + j }",
                                    lambda r, n: (rand(r, np.float32, n, 4), np.float32(1.5))),
    "where_range_and_let": ("def f(float(N) A) -> (B) { B(i) = A(i) * w + A(i - 1) where i in 1:N, w = 2.0 }",
                            lambda r, n: (rand(r, np.float32, n + 1),)),
    "exists": ("def f(float(N) A, float(N) C) -> (B) { B(i) = A(i) where exists C(i) }",
               lambda r, n: (rand(r, np.float32, n), rand(r, np.float32, n))),
    "guarded_read": ("def f(float(T) X) -> (Y) { Y(t) = (t - 3 >= 0 ? X(t - 3) : 0.0) + (t + 1 < T ? X(t + 1) : -1.0) "
                     "where t in 0:T }", lambda r, n: (rand(r, np.float32, n),)),
    "comparisons_and_logic": ("def f(int32(N) A, float(N) F) -> (B, C) {\n"
                              "  B(i) = (A(i) > 0 && !(A(i) == 3)) || A(i) <= -5 ? 1 : 0\n"
                              "  C(i) = F(i) != F(i) || F(i) >= 0.5 ? F(i) : -F(i)\n}",
                              lambda r, n: (rand(r, np.int32, n), rand(r, np.float32, n))),
    "min_max_operators": ("def f(float(N) A, int32(N) I, uint16(N) U) -> (B, C, D) {\n"
                          "  B(i) = max(min(A(i), 1.0), -1.0)\n  C(i) = min(I(i), 7) + max(I(i), -7)\n"
                          "  D(i) = max(U(i), uint16(40))\n}",
                          lambda r, n: (rand(r, np.float32, n), rand(r, np.int32, n), rand(r, np.uint16, n))),
    "casts": ("def f(float(N) A, int8(N) S, uint8(N) U, bool(N) P) -> (B, C, D, E) {\n"
              "  B(i) = float(int32(A(i))) + float(S(i)) + float(U(i))\n  C(i) = int16(S(i)) * int16(U(i))\n"
              "  D(i) = bool(A(i)) && P(i)\n  E(i) = double(A(i)) + double(P(i))\n}",
              lambda r, n: (rand(r, np.float32, n), rand(r, np.int8, n), rand(r, np.uint8, n), rand(r, np.bool_, n))),
    "integer_division": ("def f(int32(N) A, int32(N) B, uint32(N) U) -> (Q, R, V, W) {\n"
                         "  Q(i) = A(i) / (B(i) == 0 ? 1 : B(i))\n  R(i) = A(i) % (B(i) == 0 ? 1 : B(i))\n"
                         "  V(i) = U(i) / uint32(3)\n  W(i) = U(i) % uint32(3)\n}",
                         lambda r, n: (rand(r, np.int32, n), rand(r, np.int32, n),
                                       r.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))),
    "integer_wraparound": ("def f(int8(N) A, uint8(N) U) -> (B, C) {\n  B(i) = int8(A(i) * int8(3))\n"
                           "  C(i) = U(i) - uint8(200)\n}",
                           lambda r, n: (rand(r, np.int8, n), rand(r, np.uint8, n))),
    "float_remainder": ("def f(float(N) A, double(N) D) -> (B, C) {\n  B(i) = A(i) % 0.75\n  C(i) = D(i) % 1.25\n}",
                        lambda r, n: (rand(r, np.float32, n), rand(r, np.float64, n))),
    "indirect_subscripts": ("def f(float(E, D) LUT, int32(B, L) I) -> (O) { O(b, d) +=! LUT(I(b, r_l), d) }",
                            lambda r, n: (rand(r, np.float32, 5, n), r.integers(0, 5, (n, 2), dtype=np.int32))),
    "temporaries": ("def f(float(N, M) A) -> (O) {\n  T(i) +=! A(i, j) * A(i, j)\n  O(i, j) = A(i, j) / sqrt(T(i) + 1.0)\n}",
                    lambda r, n: (rand(r, np.float32, n, n + 2),)),
    "every_reduction": ("def f(float(M, K) A, int32(M, K) I) -> (S, P, L, H, IS, IL) {\n"
                        "  S(m) +=! A(m, k)\n  S(m) += A(m, k)\n  P(m) *=! A(m, k)\n  L(m) min=! A(m, k)\n"
                        "  H(m) max=! A(m, k)\n  H(m) max= A(m, k) * 2.0\n  IS(m) +=! I(m, k)\n  IL(m) min=! I(m, k)\n}",
                        lambda r, n: (rand(r, np.float32, n, n + 1, low=0.5, high=1.5), rand(r, np.int32, n, n + 1))),
    "rank0_output": ("def f(float(N) A) -> (S, C) {\n  S +=! A(i)\n  C(i) = A(i) - S\n}",
                     lambda r, n: (rand(r, np.float32, n),)),
    "self_read_in_order": ("def f(float(N) A) -> (P) {\n  P(i) = A(i)\n  P(i) = P(i) + P(i - 1) where i in 1:N\n}",
                           lambda r, n: (rand(r, np.float32, n),)),
    "half_and_bfloat16": ("def f(half(N) A, bfloat16(N) B) -> (C, D, E) {\n  C(i) = A(i) * A(i) + half(1.0)\n"
                          "  D(i) = B(i) + B(i)\n  E(i) = float(A(i)) * float(B(i))\n}",
                          lambda r, n: (rand(r, np.float16, n), rand(r, ml_dtypes.bfloat16, n))),
    "double_precision": ("def f(double(N, K) A) -> (S) { S(i) +=! A(i, k) * A(i, k) + 1e-5 }",
                         lambda r, n: (rand(r, np.float64, n, 3),)),
    "int64_and_uint64": ("def f(int64(N) A, uint64(N) U) -> (B, C) {\n  B(i) = A(i) * int64(1000000007)\n"
                         "  C(i) = U(i) * uint64(3) + uint64(1)\n}",
                         lambda r, n: (rand(r, np.int64, n), rand(r, np.uint64, n))),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTS))
@pytest.mark.parametrize("n", SIZES)
def test_construct(name, n):
    source, make = CONSTRUCTS[name]
    run_both(source, "f", *make(np.random.default_rng(n), n))


def _domain(fn: str) -> tuple[float, float]:
    """Inputs where each builtin is defined and well conditioned."""
    if fn in ("acos", "asin", "atanh", "erfinv"):
        return -0.9, 0.9
    if fn in ("erfcinv",):
        return 0.1, 1.9
    if fn in ("normcdfinv",):
        return 0.05, 0.95
    if fn in ("acosh",):
        return 1.1, 4.0
    if fn in ("log", "log10", "log2", "logb", "sqrt", "rsqrt", "lgamma", "tgamma", "y0", "y1", "rcbrt"):
        return 0.3, 4.0
    return -2.5, 2.5


BUILTIN_ARGS = {1: "A(i)", 2: "A(i), B(i)", 3: "A(i), B(i), C(i)", 4: "A(i), B(i), C(i), A(i)"}


@pytest.mark.parametrize("fn", sorted(ARITY))
@pytest.mark.parametrize("dtype", ["float", "double"])
def test_builtin(fn, dtype):
    source = (f"def f({dtype}(N) A, {dtype}(N) B, {dtype}(N) C) -> (O) "
              f"{{ O(i) = {fn}({BUILTIN_ARGS[ARITY[fn]]}) }}")
    rng = np.random.default_rng(1)
    np_type = np.float32 if dtype == "float" else np.float64
    low, high = _domain(fn)
    inputs = [rand(rng, np_type, 9, low=low, high=high) for _ in range(3)]
    if fn in ("fmod", "remainder", "fdivide"):
        inputs[1] = np.where(np.abs(inputs[1]) < 0.3, np_type(0.5), inputs[1])
    if fn == "pow":
        inputs[0] = np.abs(inputs[0]) + np_type(0.1)
    run_both(source, "f", *inputs)


def test_non_contiguous_inputs_and_outputs():
    source = "def f(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }"
    rng = np.random.default_rng(3)
    a = rand(rng, np.float32, 9, 6).T  # transposed: (6, 9)
    b = rand(rng, np.float32, 18, 10)[::2, ::-3]  # stepped and reversed: (9, 4)
    storage = np.zeros((12, 4), np.float32)
    out = storage[::2]  # a strided output view (6, 4)
    result = tcir.define(source).f(a, b, outputs=out)
    assert result is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    assert not np.any(storage[1::2])  # the rows between the view's rows are untouched


def test_outputs_are_written_in_place():
    T = tcir.define("def f(float(N) A) -> (B, C) {\n  B(i) = A(i) + 1.0\n  C(i) = A(i) * 2.0\n}")
    a = np.arange(5, dtype=np.float32)
    b, c = np.empty(5, np.float32), np.empty(5, np.float32)
    result = T.f(a, outputs=(b, c))
    assert result[0] is b and result[1] is c
    np.testing.assert_array_equal(b, a + 1)
    np.testing.assert_array_equal(c, a * 2)


def test_kernels_are_memoized(monkeypatch):
    from tcir import api

    builds = []
    original = api.compile_kernel
    monkeypatch.setattr(api, "compile_kernel", lambda *args: builds.append(args[3]) or original(*args))
    source = "def scale_memo(float(N) A) -> (B) { B(i) = A(i) * 3.0 }"
    a = np.ones(4, np.float32)
    tcir.define(source).scale_memo(a)
    tcir.define("# the same def, laid out differently\n" + source.replace(" ", "  ")).scale_memo(a)
    assert len(builds) == 1  # same canonical source, shapes, dtypes and strides
    tcir.define(source).scale_memo(np.ones(5, np.float32))
    tcir.define(source).scale_memo(np.ones(8, np.float32)[::2])
    assert len(builds) == 3  # a new size, then new strides


def test_compile_prepares_for_example_inputs():
    kernel = tcir.compile("def g(float(N) A) -> (B) { B(i) = A(i) + 1.0 }", "g", np.zeros(3, np.float32))
    np.testing.assert_array_equal(kernel(np.ones(3, np.float32)), np.full(3, 2, np.float32))


def test_kernels_compile_and_run_from_many_threads():
    """Calls from threads, each needing its own specialization, all come out right."""
    import threading

    program = tcir.define("def scale(float(N) X) -> (Y) { Y(i) = 3 * X(i) + 1 }")
    inputs = [np.arange(n, dtype=np.float32) for n in range(1, 13)]
    results: dict[int, np.ndarray] = {}

    def work(x: np.ndarray) -> None:
        results[x.size] = program.scale(x)

    threads = [threading.Thread(target=work, args=(x,)) for x in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for x in inputs:
        np.testing.assert_array_equal(results[x.size], 3 * x + 1)


# --- Regression: chunks of a loop that carries a reduction ran in parallel ------------
# matmul tiled 256,4,128 at M = 64 has one tile of rows: isl emits no loop for it, so the
# `for` below the `parallel` mark (put above the band because its first member, the row
# tile, is coincident) was the next one, the reduction's tile loop over r_k. The runtime
# ran chunks of it on several threads: they raced on C, and the chunk holding r_k = 0
# initialized C under the others (errors of 13 to 43, varying between runs). Found by
# the autotuner; the default tile=32,32,32 did it too (fewer than 33 rows, K > 32).
# Now mark_parallel looks at the first member that is a loop, and the code generator
# parallelizes a loop only if it carries no dependence (codegen.build_cpu_ast).

def _fcrelu(i, w, b1):
    return np.maximum(i @ w.T + b1, 0)


MATMUL = "def f(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }"
TILED_REDUCTIONS = {  # name: (source, input shapes, the result in NumPy)
    "matmul": (MATMUL, [(64, 64), (64, 64)], np.matmul),
    "matmul_few_rows": (MATMUL, [(8, 96), (96, 64)], np.matmul),
    "batch_matmul": ("def f(float(B, M, K) X, float(B, K, N) Y) -> (Z) { Z(b, m, n) +=! X(b, m, r_k) * Y(b, r_k, n) }",
                     [(2, 32, 32), (2, 32, 64)], np.matmul),
    "fcrelu": ("def f(float(B, M) I, float(N, M) W, float(N) B1) -> (O) {\n"
               "  O(b, n) +=! I(b, r_m) * W(n, r_m)\n  O(b, n) = fmax(O(b, n) + B1(n), 0)\n}",
               [(64, 64), (64, 64), (64,)], _fcrelu),
}
# around and above the extents (64; 8, 96 and 64 for matmul_few_rows; 2, 32, 32, 64
# for batch_matmul): larger, equal, one more or less, and 4 (REGISTER_ROWS, a
# register tile's rows) meeting the register tiling; 32 is the default
REDUCTION_TILES = ["tile=256,4,128", "tile=64,4,32", "tile=64,64,64", "tile=4,4,4", "tile=65,63,4 unroll=4",
                   "tile=1,256,32", "tile=32,32,32", "tile=2,32,4,64"]


class _OutOfOrderPool:
    """Runs each submitted chunk at once: the other chunks run before the calling
    thread's first one, deterministically (the chunks must be independent)."""

    def submit(self, fn, *args):
        from concurrent.futures import Future

        future = Future()
        future.set_result(fn(*args))
        return future


@pytest.mark.parametrize("threads", ["1", "4", "4-out-of-order"])
@pytest.mark.parametrize("tile", REDUCTION_TILES)
@pytest.mark.parametrize("name", sorted(TILED_REDUCTIONS))
def test_tiled_reductions_on_several_threads(name, tile, threads, monkeypatch):
    from tcir.backends import cpu_parallel

    monkeypatch.setenv("TCIR_NUM_THREADS", threads.split("-")[0])
    if threads.endswith("out-of-order"):
        monkeypatch.setattr(cpu_parallel, "_pool", _OutOfOrderPool)
    source, shapes, numpy = TILED_REDUCTIONS[name]
    rng = np.random.default_rng(7)
    inputs = [rand(rng, np.float32, *shape) for shape in shapes]
    want = numpy(*[x.astype(np.float64) for x in inputs])
    kernel = tcir.compile(source, "f", *inputs, options=tile)
    for _ in range(3):  # a race may come out right once
        got = kernel(*inputs)
        np.testing.assert_allclose(got.astype(np.float64), want, rtol=3e-5, atol=1e-4)
