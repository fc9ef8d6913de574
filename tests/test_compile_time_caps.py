"""Compile time stays bounded (issue 19): `unroll` emits at most MAX_UNROLLED_INSTANCES
statement instances per unrolled nest, whatever its value, and IR generation emits each
value of a `where` chain once, so the IR grows with the chain's length, not with the
size of the inlined expression tree. Counts only, no timings."""

import numpy as np

import tcir
from tcir.frontend import check_source
from tcir.irgen import build_module
from tcir.polyhedral.cpu_mapping import MAX_UNROLLED_INSTANCES
from tcir.testing.reference import evaluate

ELEMENTWISE = "def f(float(N, N, N) A) -> (B) { B(i, j, k) = A(i, j, k) * 2 + 1 }"


def test_a_huge_unroll_is_capped_and_computes_the_result():
    a = np.random.default_rng(0).standard_normal((16, 16, 16), dtype=np.float32)
    kernel = tcir.compile(ELEMENTWISE, "f", a, options=tcir.MappingOptions().unroll(10**9))
    loops = kernel.ir("loops", a)
    # uncapped, all 4096 instances of the 16^3 point band would be unrolled
    assert 0 < loops.count("memref.store") <= MAX_UNROLLED_INSTANCES
    assert "scf.for" in loops
    np.testing.assert_allclose(kernel(a), a * 2 + 1, rtol=1e-6)


def let_chain(depth: int) -> str:
    """Each binding uses the previous one three times: 3^(depth-1) copies of `x1` inlined."""
    binds = ["x1 = A(i) * 0.5"] + [f"x{k} = x{k - 1} * x{k - 1} + x{k - 1}" for k in range(2, depth + 1)]
    return f"def f(float(N) A) -> (B) {{\n  B(i) = x{depth}\n    where {', '.join(binds)}\n}}"


def op_count(depth: int) -> int:
    return sum(1 for _ in build_module(check_source(let_chain(depth)), ["f"]).walk())


def test_a_where_chain_becomes_ir_linear_in_its_depth():
    # depth 9 is the deepest such chain the front end inlines (9,840 expansions)
    counts = [op_count(depth) for depth in range(1, 10)]
    steps = {b - a for a, b in zip(counts, counts[1:])}
    assert steps == {2}, counts  # a multiplication and an addition per binding


def test_a_where_chain_computes_what_the_reference_does():
    source = let_chain(9)
    a = np.random.default_rng(1).uniform(-0.5, 0.5, 64).astype(np.float32)
    got = tcir.compile(source, "f", a)(a)
    np.testing.assert_allclose(got, evaluate(check_source(source).defs["f"], a)[0], rtol=1e-5, atol=1e-6)
