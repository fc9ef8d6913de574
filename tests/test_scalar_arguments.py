"""Scalar parameters take numbers of a fitting kind and range (docs/api.md, "What a call
accepts"), and mapping options integers that fit int64: anything else is a TcError
naming the parameter or option, never a traceback, a silent conversion or a wrap."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import tcir

A = np.ones(3, np.float32)


def kernel(tc_type: str):
    """`B(i) = s`: the scalar as the kernel received it, three times."""
    return tcir.define(f"def f(float(N) A, {tc_type} s) -> (B) {{ B(i) = s where i in 0:N }}").f


def raises(match: str, fn, *args):
    with pytest.raises(tcir.TcError, match=match) as info:
        fn(*args)
    return info.value


NOT_A_NUMBER = [
    (np.str_("3"), "str_"), ("3", "str"), (b"3", "bytes"), (np.bytes_(b"3"), "bytes_"),
    (np.datetime64("2020-01-01"), "datetime64"), (np.timedelta64(3, "s"), "timedelta64"),
    (np.timedelta64(3), "timedelta64"), (3 + 0j, "complex"), (np.complex64(3), "complex64"),
    (np.complex128(3), "complex128"), (np.array("3"), "str_"), (np.array(3 + 0j), "complex128"),
    (None, "NoneType"), ([3.0], "list"),
]


@pytest.mark.parametrize("tc_type", ["float", "double", "half", "bfloat16", "int32", "uint8", "int64", "bool"])
@pytest.mark.parametrize("value, got", NOT_A_NUMBER, ids=[got for _, got in NOT_A_NUMBER])
def test_what_is_not_a_real_number_is_refused(tc_type, value, got):
    raises(rf"scalar `s` of `f` must be a number \(TC type `{tc_type}`.*\), got {got}$", kernel(tc_type), A, value)


OUT_OF_RANGE = [
    ("float", 10**400, r"is `float` \(np.float32\): 1000+ is out of its range \(largest finite value 3.40282e\+38\)"),
    ("double", 10**400, r"is `double` \(np.float64\): 1000+ is out of its range \(largest finite value 1.79769e\+308\)"),
    ("float", 1e39, r"is `float` \(np.float32\): 1e\+39 is out of its range"),
    ("half", 70000, r"is `half` \(np.float16\): 70000 is out of its range \(largest finite value 65504\)"),
    ("bool", 2**32, r"is `bool`: 4294967296 is out of range \[0, 1\]; pass True or False"),
    ("bool", 2, r"is `bool`: 2 is out of range \[0, 1\]"),
    ("bool", -1, r"is `bool`: -1 is out of range \[0, 1\]"),
    ("bool", np.int64(2**32), r"is `bool`: 4294967296 is out of range \[0, 1\]"),
    ("bool", 2.0, r"is `bool`: 2.0 is out of range \[0, 1\]"),
    ("uint8", -1, r"is `uint8`: -1 is out of range \[0, 255\]"),
    ("uint8", 2**8, r"is `uint8`: 256 is out of range \[0, 255\]"),
    ("uint8", np.int16(-1), r"is `uint8`: -1 is out of range \[0, 255\]"),
    ("int8", 128, r"is `int8`: 128 is out of range \[-128, 127\]"),
    ("int32", 2**31, r"is `int32`: 2147483648 is out of range \[-2147483648, 2147483647\]"),
    ("int64", 2**63, r"is `int64`: 9223372036854775808 is out of range \[-9223372036854775808, 9223372036854775807\]"),
    ("int64", -(2**63) - 1, r"is `int64`: -9223372036854775809 is out of range"),
    ("int64", np.uint64(2**63), r"is `int64`: 9223372036854775808 is out of range"),
    ("int64", 2.0**63, r"is `int64`: 9.223372036854776e\+18 is out of range"),
    ("int64", 10**400, r"is `int64`: 1000+ is out of range"),
    ("uint64", -1, r"is `uint64`: -1 is out of range \[0, 18446744073709551615\]"),
    ("uint64", 2**64, r"is `uint64`: 18446744073709551616 is out of range"),
]


@pytest.mark.parametrize("tc_type, value, message", OUT_OF_RANGE)
def test_values_out_of_the_types_range_are_refused(tc_type, value, message):
    raises(rf"scalar `s` of `f` {message}", kernel(tc_type), A, value)


@pytest.mark.skipif(bool(np.isinf(np.longdouble("1e400"))), reason="np.longdouble is a double here")
def test_a_long_double_beyond_float_range_is_refused():
    raises(r"is `double` \(np.float64\): 1e\+400 is out of its range", kernel("double"), A, np.longdouble("1e400"))


# A float for an integer or bool parameter: only a whole value (what the value means is
# then unambiguous); the fraction, nan and infinities are refused.
@pytest.mark.parametrize("tc_type", ["int32", "uint8", "int64", "bool"])
@pytest.mark.parametrize("value", [0.5, 3.5, -0.25, float("nan"), float("inf"), np.float32(1.5)])
def test_a_fraction_for_an_integer_type_is_refused(tc_type, value):
    raises(rf"scalar `s` of `f` is `{tc_type}`, got the non-integer", kernel(tc_type), A, value)


DTYPES = {"float": np.float32, "double": np.float64, "half": np.float16, "bfloat16": ml_dtypes.bfloat16,
          "bool": np.bool_, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
          "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64}

ACCEPTED = [
    ("float", 2.5, 2.5), ("float", 2, 2.0), ("float", True, 1.0), ("float", np.float64(2.5), 2.5),
    ("float", np.float16(2.5), 2.5), ("float", ml_dtypes.bfloat16(2.5), 2.5), ("float", np.int8(-3), -3.0),
    ("float", np.uint64(7), 7.0), ("float", np.bool_(True), 1.0), ("float", np.array(2.5), 2.5),
    ("float", np.array(2.5, np.float32), 2.5), ("float", float("inf"), np.inf),
    ("double", 0.1, 0.1), ("double", np.float32(0.1), float(np.float32(0.1))), ("double", 2**53, 2.0**53),
    ("half", 1.5, 1.5), ("half", np.float16(65504), 65504.0),
    ("bfloat16", 1.5, 1.5), ("bfloat16", ml_dtypes.bfloat16(-2), -2.0),
    ("bool", True, True), ("bool", False, False), ("bool", 1, True), ("bool", 0, False), ("bool", 1.0, True),
    ("bool", np.True_, True), ("bool", np.uint8(1), True), ("bool", np.array(False), False),
    ("int8", -128, -128), ("int8", np.int8(127), 127), ("int16", np.int16(-32768), -32768),
    ("int32", 2**31 - 1, 2**31 - 1), ("int32", np.int32(-7), -7), ("int32", 3.0, 3), ("int32", np.array(5), 5),
    ("int64", -(2**63), -(2**63)), ("int64", 2**63 - 1, 2**63 - 1), ("int64", np.int64(-5), -5),
    ("int64", np.uint8(255), 255), ("int64", np.float64(-2.0**63), -(2**63)),
    ("uint8", 0, 0), ("uint8", 127, 127), ("uint8", np.uint8(3), 3), ("uint8", np.array(3, np.uint8), 3),
    ("uint16", 32767, 32767), ("uint32", 2**31 - 1, 2**31 - 1), ("uint64", 2**63 - 1, 2**63 - 1),
    ("uint8", 255, 255),
    ("uint8", np.uint8(200), 200),
    ("uint16", 2**16 - 1, 2**16 - 1),
    ("uint32", 3 * 10**9, 3 * 10**9),
    ("uint64", 2**64 - 1, 2**64 - 1),
]


@pytest.mark.parametrize("tc_type, value, expected", ACCEPTED)
def test_valid_values_compute_the_right_result(tc_type, value, expected):
    out = kernel(tc_type)(A, value)
    assert out.dtype == DTYPES[tc_type]
    np.testing.assert_array_equal(out.astype(np.float64) if tc_type == "bfloat16" else out, [expected] * 3)


# --- mapping options: integers are int64 ------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: tcir.MappingOptions().tile(2**63),
    lambda: tcir.MappingOptions().tile(32, 2**63),
    lambda: tcir.MappingOptions("tile=9223372036854775808"),
    lambda: tcir.MappingOptions("tile=32,9223372036854775808"),
    lambda: tcir.MappingOptions.parse("unroll=9223372036854775808"),
    lambda: tcir.MappingOptions().unroll(2**63),
    lambda: tcir.MappingOptions().maxSharedMemory(2**64),
    lambda: tcir.MappingOptions().privateDepth(np.uint64(2**63)),
], ids=["tile", "tile-second", "tile-text", "tile-text-second", "unroll-text", "unroll", "maxSharedMemory",
        "privateDepth-numpy"])
def test_mapping_option_values_beyond_int64_are_refused(make):
    with pytest.raises(tcir.TcError, match=r"mapping option `\w+`: \d+ is beyond int64 \(at most 9223372036854775807\)"):
        make()


def test_mapping_options_at_int64_max_compile_and_run():
    opts = tcir.MappingOptions().tile(2**63 - 1, 2**63 - 1).unroll(2**63 - 1)
    assert tcir.MappingOptions(str(opts)) == opts
    k = tcir.compile("def scale(float(N) X) -> (Y) { Y(i) = X(i) * 2.0 }", "scale", options=opts)
    np.testing.assert_array_equal(k(np.arange(5, dtype=np.float32)), np.arange(5) * 2.0)
