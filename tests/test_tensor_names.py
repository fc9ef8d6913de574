"""TC names ending in `_<digits>` (`X_1`, as `tcir.grad` makes them) stay distinct from
`X` through the IR: xDSL drops such a suffix from SSA name hints, so the tc dialect hints
them `X.1` (`tc.name_hint`, `tc.tc_name`). Before, `X_1` took `X`'s strides (out-of-bounds
writes, wrong results) and shared its isl tuple."""

import numpy as np
import pytest

import tcir
from tcir.dialects import default_context, tc
from tcir.driver import tc_to_module
from xdsl.parser import Parser

SOURCE = """def f(float(N) X) -> (O) {
    X_1(i) = X(i) * 2.0
    O(i) = X_1(N - 1 - i) + X(i)
}
def g(float(N, M) X) -> (S) {
    X_1(m, n) = X(n, m) * 2.0
    S(m) +=! X_1(m, n)
}
def h(float(N) A, float(N) A_1) -> (O) { O(i) = A(i) - A_1(i) }"""


def test_a_temporary_named_like_an_input_has_its_own_shape_and_strides():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    strided = np.asfortranarray(x)
    np.testing.assert_array_equal(tcir.compile(SOURCE, "g")(strided), (x * 2).sum(axis=0))
    y = np.arange(6, dtype=np.float32)
    np.testing.assert_array_equal(tcir.compile(SOURCE, "f")(y), y[::-1] * 2 + y)


@pytest.mark.parametrize("swap", [False, True])
def test_two_inputs_differing_by_a_numbered_suffix_keep_their_strides(swap):
    a, b = np.arange(8, dtype=np.float32)[::2], np.ones(4, np.float32)
    a, b = (b, a) if swap else (a, b)
    np.testing.assert_array_equal(tcir.compile(SOURCE, "h")(a, b), a - b)


def test_the_names_survive_printing_and_reading_back():
    module = tc_to_module(SOURCE, entry="h")
    text = str(module)
    assert "%A.1" in text
    (d,) = Parser(default_context(), text).parse_module().ops
    assert [tc.tc_name(a) for a in d.body.block.args] == ["A", "A_1", "O"]
    assert d.arg("A_1") is d.body.block.args[1]


@pytest.mark.parametrize("name", ["X", "X_1", "r_k", "T_12_3", "x9", "_1"])
def test_name_hint_and_tc_name_are_inverse(name):
    from xdsl.ir import Block
    from xdsl.dialects.builtin import f32

    (arg,) = Block(arg_types=[f32]).args
    arg.name_hint = tc.name_hint(name)
    assert tc.tc_name(arg) == name
