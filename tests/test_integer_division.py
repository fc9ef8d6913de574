"""Integer `/` and `%` are defined everywhere (docs/language.md): `x / 0 == x % 0 == 0`,
`INT_MIN / -1 == INT_MIN`, truncation toward zero otherwise. Compiled code is checked
against Python's integers (hand-written here), and a divisor of zero never kills the
process (x86's div traps)."""

import warnings

import numpy as np
import pytest

import tcir
from tcir.errors import TcWarning
from tcir.frontend import check_source
from tcir.testing.reference import evaluate

TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def c_divide(a: int, b: int, op: str, dtype: np.dtype) -> int:
    """C's truncating `/` and `%` on Python integers, with TC's rules for 0 and -1."""
    if b == 0:
        return 0
    q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
    value = q if op == "/" else a - q * b
    return int(np.array(value).astype(dtype)) if dtype.kind == "u" else \
        (value + 2 ** (8 * dtype.itemsize - 1)) % 2 ** (8 * dtype.itemsize) - 2 ** (8 * dtype.itemsize - 1)


def operands(dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    info = np.iinfo(dtype)
    values = sorted(v for v in {info.min, info.min + 1, -7, -1, 0, 1, 2, 7, info.max - 1, info.max}
                    if info.min <= v <= info.max)
    a, b = np.meshgrid(np.array(values, dtype), np.array(values, dtype), indexing="ij")
    return a.ravel().copy(), b.ravel().copy()


@pytest.mark.parametrize("op", ["/", "%"])
@pytest.mark.parametrize("type_name", TYPES)
def test_division_by_tensor_values_including_zero(type_name, op):
    dtype = np.dtype(type_name)
    a, b = operands(dtype)
    source = f"def f({type_name}(N) A, {type_name}(N) B) -> (O) {{ O(i) = A(i) {op} B(i) }}"
    want = np.array([c_divide(int(x), int(y), op, dtype) for x, y in zip(a, b)], dtype)
    np.testing.assert_array_equal(tcir.compile(source, "f")(a, b), want)
    np.testing.assert_array_equal(evaluate(check_source(source).defs["f"], a, b)[0], want)


@pytest.mark.parametrize("op", ["/", "%"])
def test_division_by_a_scalar_zero_runs_vectorized_loops(op):
    a = np.arange(-500, 500, dtype=np.int32)
    k = tcir.compile(f"def f(int32(N) A, int32 d) -> (O) {{ O(i) = A(i) {op} d }}", "f")
    np.testing.assert_array_equal(k(a, np.int32(0)), np.zeros_like(a))
    np.testing.assert_array_equal(k(a, np.int32(-1)), -a if op == "/" else np.zeros_like(a))


@pytest.mark.parametrize("text", ["A(i) / 0", "A(i) % 0", "A(i) / int8(0)"])
def test_a_literal_zero_divisor_warns_at_its_line(text):
    source = f"def f(int32(N) A) -> (O) {{\n    O(i) = {text}\n}}"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        k = tcir.compile(source, "f")
    (w,) = [w for w in record if issubclass(w.category, TcWarning)]
    assert "divides by zero, which gives 0" in str(w.message)
    assert (w.filename, w.lineno) == ("<string>", 2)
    np.testing.assert_array_equal(k(np.arange(4, dtype=np.int32)), np.zeros(4, np.int32))


def test_a_float_division_by_zero_is_ieee_and_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", TcWarning)
        k = tcir.compile("def f(float(N) A) -> (O) { O(i) = A(i) / 0.0 }", "f")
    np.testing.assert_array_equal(k(np.array([1, -1], np.float32)), [np.inf, -np.inf])
