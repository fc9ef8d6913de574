"""Every bad call is a TcError that names the parameter and the dimension, raised
before anything is compiled or run."""

import ml_dtypes
import numpy as np
import pytest

import tcir

MATMUL = "def matmul(float(M, K) A, float(K, N) B) -> (C) {\n    C(m, n) +=! A(m, r_k) * B(r_k, n)\n}\n"


def f32(*shape):
    return np.ones(shape, np.float32)


@pytest.fixture(scope="module")
def T():
    return tcir.define(MATMUL, "matmul.tc")


def raises(match, fn, *args, **kwargs):
    with pytest.raises(tcir.TcError, match=match):
        fn(*args, **kwargs)


def test_wrong_argument_count(T):
    raises(r"`matmul` takes 2 inputs \(A, B\), got 1", T.matmul, f32(2, 3))
    raises(r"takes 2 inputs \(A, B\), got 3", T.matmul, f32(2, 3), f32(3, 4), f32(1))


def test_wrong_rank(T):
    raises(r"`A` of `matmul` has rank 2 \(`float\(M, K\) A`\), got an array of rank 1", T.matmul, f32(3), f32(3, 4))


def test_wrong_dtype_suggests_astype(T):
    raises(r"`B` of `matmul` must have dtype float32 \(TC type `float`\), got float64; pass x.astype\(np.float32\)",
           T.matmul, f32(2, 3), np.ones((3, 4)))


def test_bfloat16_hint():
    T = tcir.define("def f(bfloat16(N) A) -> (B) { B(i) = A(i) }")
    raises(r"must have dtype bfloat16 .* pass x.astype\(ml_dtypes.bfloat16\)", T.f, f32(3))
    raises(r"must be a NumPy array .* pass np.asarray\(x, dtype=ml_dtypes.bfloat16\)", T.f, [1.0])
    assert ml_dtypes.bfloat16  # the hint names a real attribute


def test_size_mismatch_names_both_dimensions(T):
    raises(r"size `K` is 3 from `A` \(dimension 1\) but 5 from `B` \(dimension 0\)", T.matmul, f32(2, 3), f32(5, 4))


def test_literal_size_must_match():
    T = tcir.define("def f(float(N, 4) A) -> (B) { B(i, j) = A(i, j) }")
    raises(r"dimension 1 of `A` must be 4 \(declared `float\(N, 4\) A`\), got 5", T.f, f32(2, 5))


def test_not_an_array(T):
    raises(r"`A` of `matmul` must be a NumPy array .* got list; pass np.asarray\(x, dtype=np.float32\)",
           T.matmul, [[1.0]], f32(1, 1))


def test_scalar_arguments():
    T = tcir.define("def f(float(N) A, uint8 k) -> (B) { B(i) = A(i) * float(k) }")
    raises(r"scalar `k` of `f` is `uint8`: 300 is out of range \[0, 255\]", T.f, f32(2), 300)
    raises(r"scalar `k` of `f` is `uint8`, got the non-integer 1.5", T.f, f32(2), 1.5)
    raises(r"scalar `k` of `f` must be a number", T.f, f32(2), "3")


def test_outputs_argument(T):
    raises(r"`matmul` has 1 output\(s\) \(C\), got 2 in `outputs=`", T.matmul, f32(2, 3), f32(3, 4),
           outputs=(f32(2, 4), f32(2, 4)))
    raises(r"output `C` must have shape \(2, 4\) and dtype float32, got shape \(4, 2\)", T.matmul,
           f32(2, 3), f32(3, 4), outputs=f32(4, 2))
    ro = f32(2, 4)
    ro.flags.writeable = False
    raises(r"output `C` is read-only", T.matmul, f32(2, 3), f32(3, 4), outputs=ro)


def test_empty_inferred_range_is_located():
    T = tcir.define("def pool(float(H) I) -> (O) {\n  O(h) max=! I(2 * h + r) where r in 0:2\n}\n", "pool.tc")
    raises(r"pool.tc:2:3: error: the range of `h` is empty \(\[0, 0\)\) with H=1", T.pool, f32(1))


def test_explicit_range_reading_out_of_bounds_is_caught():
    T = tcir.define("def f(float(N) A) -> (B) {\n  B(i) = A(i + 1) where i in 0:N\n}\n", "oob.tc")
    raises(r"oob.tc:2:3: error: `B` reads `A` at index 4 of dimension 0 \(subscript `i \+ 1`\), outside \[0, 4\)",
           T.f, f32(4))


def test_uninferred_access_out_of_bounds_is_caught():
    T = tcir.define("def f(float(N) B, float(N) C, float(N) A) -> (O) {\n  O(i, j) = B(i) * C(j) * A(i + j)\n}\n",
                    "pair.tc")
    raises(r"pair.tc:2:3: error: `O` reads `A` at index 4 of dimension 0", T.f, f32(3), f32(3), f32(3))


def test_targets_and_options():
    raises(r"unknown target `tpu`", tcir.compile, MATMUL, "matmul", target="tpu")
    raises(r"no def named `mm`; the source defines `matmul`", tcir.compile, MATMUL, "mm")


def test_source_errors_are_located():
    with pytest.raises(tcir.TcError) as info:
        tcir.define("def f(float(N) A) -> (B) {\n  B(i) = A(j)\n}\n", "bad.tc")
    assert str(info.value).startswith("bad.tc:2:12: error: `j` appears only on the right side")
    assert (info.value.line, info.value.col) == (2, 12)


def test_outputs_may_not_overlap_other_arrays():
    square = tcir.define("def sq(float(N, N) A, float(N, N) B) -> (C, D) {\n"
                         "    C(i, j) = A(i, j) + B(i, j)\n    D(i, j) = A(j, i)\n}\n", "sq.tc")
    a = f32(4, 4)
    raises(r"output `C` overlaps `A`", square.sq, a, f32(4, 4), outputs=(a, f32(4, 4)))
    buf = np.zeros((4, 8), np.float32)
    raises(r"output `C` overlaps `D`", square.sq, a, a, outputs=(buf[:, :4], buf[:, 2:6]))
    c, d = square.sq(a, a, outputs=(buf[:, :4], buf[:, 4:]))  # disjoint halves of one buffer
    np.testing.assert_array_equal(c, 2 * a)
    np.testing.assert_array_equal(d, a)


def test_bad_mapping_options():
    a = f32(2, 3)
    raises(r"unroll", tcir.compile, MATMUL, "matmul", a, f32(3, 2), options="unroll=0")
    raises(r"options= must be a tcir.MappingOptions", tcir.compile, MATMUL, "matmul", options=42)
