"""The `split-reduction` pass (passes/split_reduction.py) and the `splitReduction`
mapping option: the TC it writes, what it leaves alone, and results against
hand-written NumPy and the reference evaluator on the CPU and through the GPU
emulator. The IR is in filecheck/passes/split-reduction.tc."""

from __future__ import annotations

import numpy as np
import pytest
from canonical import EXAMPLES_SET

import tcir
from tcir import MappingOptions, TcError
from tcir.driver import default_context, tc_to_module
from tcir.frontend import check_source
from tcir.frontend.printing import source_statements
from tcir.passes import get_pass
from tcir.passes.convert_tc_to_gpu import ConvertTcToGpuPass
from tcir.passes.split_reduction import split_reductions
from tcir.testing.gpu_emulator import emulate
from tcir.testing.reference import bind_sizes, evaluate


def _split(source: str, entry: str, sizes: dict, partials: int = 4, layout: str = "chunked") -> list[str] | None:
    new = split_reductions(check_source(source).defs[entry], partials, layout, sizes)
    return None if new is None else [s.text() for s in source_statements(new.stmts)]


TOTAL = "def total(float(N) A) -> (S) { S +=! A(i) }"


def test_chunked_and_interleaved_slices_with_a_guarded_last_slice():
    assert _split(TOTAL, "total", {"N": 10}) == [
        "S_partial(i_outer) +=! i_outer * 3 + i_inner < 10 ? A(i_outer * 3 + i_inner) : 0 "
        "where i_outer in 0:4, i_inner in 0:3",
        "S +=! S_partial(i_outer) where i_outer in 0:4"]
    assert _split(TOTAL, "total", {"N": 12}, layout="interleaved") == [
        "S_partial(i_outer) +=! A(i_inner * 4 + i_outer) where i_outer in 0:4, i_inner in 0:3",
        "S +=! S_partial(i_outer) where i_outer in 0:4"]


def test_min_and_max_repeat_the_first_element_past_the_end():
    source = "def rowmax(float(M, N) A) -> (S) { S(m) max=! A(m, n) where n in 2:N }"
    assert _split(source, "rowmax", {"M": 3, "N": 13}, partials=4) == [
        "S_partial(m, n_outer) max=! n_outer * 3 + n_inner < 11 ? A(m, n_outer * 3 + n_inner + 2) : A(m, 2) "
        "where n_outer in 0:4, n_inner in 0:3",
        "S(m) max=! S_partial(m, n_outer) where n_outer in 0:4"]


def test_the_longest_reduction_variable_is_split_and_names_stay_distinct():
    source = """def f(float(N, K) A, float(K) i_outer) -> (S) {
        S(n) +=! A(n, r) * A(n, q) * i_outer(r) where q in 0:2
    }"""
    text = _split(source, "f", {"N": 3, "K": 40})
    assert text[0].startswith("S_partial(n, r_outer) +=! A(n, r_outer * 10 + r_inner) * A(n, q)")
    assert text[1] == "S(n) +=! S_partial(n, r_outer) where r_outer in 0:4"


@pytest.mark.parametrize("source, sizes, why", [
    (TOTAL, {"N": 7}, "shorter than 2 * partials"),
    ("def f(float(N) A) -> (S) { S(i) = A(i) }", {"N": 100}, "not a reduction"),
    ("def f(float8_e4m3fn(N) A) -> (float8_e4m3fn S) { S +=! A(i) }", {"N": 100}, "a sum rounding in order"),
    ("def f(float(N) A) -> (S) { S = 0.0\n S += S * A(i) }", {"N": 100}, "reads its target"),
    ("def f(float(N) A, int32(N) I) -> (S) { S(i) = A(i)\n S(I(j)) += A(j) }", {"N": 100}, "a scatter-add"),
])
def test_what_is_left_alone(source, sizes, why):
    assert _split(source, "f" if "def f" in source else "total", sizes) is None, why


def test_bad_options_are_errors():
    with pytest.raises(TcError, match="`partials` must be at least 2"):
        _split(TOTAL, "total", {"N": 100}, partials=1)
    with pytest.raises(TcError, match="unknown layout `rows`"):
        _split(TOTAL, "total", {"N": 100}, layout="rows")
    with pytest.raises(TcError, match="needs `sizes`"):
        get_pass("split-reduction")(partials=4).apply(default_context(), tc_to_module(TOTAL))


SOURCES = {
    "total": (TOTAL, lambda r: (r.standard_normal(1000).astype(np.float32),), lambda a: (a.sum(),)),
    # without `!`: the combination adds to what S held
    "more": ("def more(float(N) A, float(N, K) B) -> (S) { S(n) = A(n)\n S(n) += B(n, k) }",
             lambda r: (r.standard_normal(3).astype(np.float32), r.standard_normal((3, 301)).astype(np.float32)),
             lambda a, b: (a + b.sum(1),)),
    "prod": ("def prod(float(N) A) -> (S) { S *=! A(i) }",
             lambda r: (r.uniform(0.99, 1.01, 203).astype(np.float32),), lambda a: (np.prod(a),)),
    "smallest": ("def smallest(int32(N) A) -> (S) { S min=! A(i) }",
                 lambda r: (r.integers(-1000, 1000, 257).astype(np.int32),), lambda a: (a.min(),)),
}


@pytest.mark.parametrize("partials", [2, 7, 16])
@pytest.mark.parametrize("name", SOURCES)
def test_cpu_and_gpu_results_equal_numpy(name, partials):
    source, make, numpy = SOURCES[name]
    inputs = make(np.random.default_rng(partials))
    want = numpy(*inputs)
    options = MappingOptions().splitReduction(partials)
    got = tcir.compile(source, name, options=options)(*inputs)
    np.testing.assert_allclose(got, want[0], rtol=2e-5, atol=1e-5)
    sizes = bind_sizes(check_source(source).defs[name], inputs)
    module = tc_to_module(source, entry=name)
    ConvertTcToGpuPass(sizes=",".join(f"{k}={v}" for k, v in sizes.items()), mapping=str(options)).apply(
        default_context(), module)
    out = np.zeros(np.shape(want[0]), np.asarray(want[0]).dtype)
    emulate(module, name, list(inputs) + [out])
    np.testing.assert_allclose(out, want[0], rtol=2e-5, atol=1e-5)


# sizes at which a reduction of the example is long enough to split in 2
LONGER = {"group_convolution": {"N": 1, "G": 2, "C": 4, "F": 2, "H": 4, "W": 5}}
NOTHING_TO_SPLIT = {"group_normalization", "maxpool2x2"}  # no reduction; 2x2 windows


@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_examples_split_equal_the_reference(example):
    """Every canonical example on the CPU with `splitReduction=2`, against the reference
    evaluator of the unsplit def; all but two split a reduction at one of the sizes."""
    definition = check_source(example.source).defs[example.entry]
    kernel = tcir.compile(example.source, example.entry, options=MappingOptions().splitReduction(2))
    split = False
    for seed, sizes in enumerate(example.shapes + ((LONGER[example.entry],) if example.entry in LONGER else ())):
        inputs = example.inputs(np.random.default_rng(seed), sizes)
        split |= split_reductions(definition, 2, "chunked", bind_sizes(definition, inputs)) is not None
        got = kernel(*inputs)
        for g, w in zip(got if isinstance(got, tuple) else (got,), evaluate(definition, *inputs)):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=1e-5)
    assert split == (example.entry not in NOTHING_TO_SPLIT)


def test_partial_results_are_bounded():
    """A matmul of 2048 x 2048 outputs split 1024 ways would need 16 GiB of partials:
    left alone, and the tuner does not offer it."""
    from tcir.tuning.space import SearchSpace

    source = "def mm(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, k) * B(k, n) }"
    sizes = {"M": 2048, "N": 2048, "K": 2048}
    assert _split(source, "mm", sizes, partials=1024) is None
    assert _split(source, "mm", sizes, partials=4) is not None
    space = SearchSpace.for_def(check_source(source).defs["mm"], sizes)
    assert max(space.genes["splitReduction"]) == 4  # 2048 * 2048 * 4 = 2^24 partial results
