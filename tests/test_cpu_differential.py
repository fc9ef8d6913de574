"""Compiled CPU code against the NumPy reference evaluator and hand-written NumPy:
every canonical example on several shapes, and every language construct."""

import numpy as np
import pytest
from canonical import EXAMPLES_SET

import tcir
from tcir.frontend import check_source
from tcir.testing.reference import evaluate

RTOL = {np.float32: 2e-5, np.float64: 1e-12}


def assert_close(actual, expected, rtol=2e-5, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol)


@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_example(example):
    kernel = getattr(tcir.define(example.source, example.file + ".tc"), example.entry)
    definition = check_source(example.source).defs[example.entry]
    for seed, sizes in enumerate(example.shapes):
        inputs = example.inputs(np.random.default_rng(seed), sizes)
        got = kernel(*inputs)
        got = got if isinstance(got, tuple) else (got,)
        for compiled, ref, hand in zip(got, evaluate(definition, *inputs), example.numpy(*inputs)):
            assert compiled.shape == ref.shape == np.shape(hand)
            assert_close(compiled, ref)
            assert_close(compiled, hand, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("preset", tcir.MappingOptions.PRESETS)
@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_example_under_each_preset(example, preset):
    """Every TC preset schedules, tiles and runs every canonical example correctly."""
    definition = check_source(example.source).defs[example.entry]
    for seed, sizes in enumerate(example.shapes[:2]):
        inputs = example.inputs(np.random.default_rng(seed), sizes)
        kernel = tcir.compile(example.source, example.entry, *inputs, options=tcir.MappingOptions(preset))
        got = kernel(*inputs)
        got = got if isinstance(got, tuple) else (got,)
        for compiled, ref, hand in zip(got, evaluate(definition, *inputs), example.numpy(*inputs)):
            assert_close(compiled, ref)
            assert_close(compiled, hand, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("threads", ["1", "2", "3", "7"])
def test_parallel_chunks_cover_the_loop(monkeypatch, threads):
    """Big enough to run in chunks on several threads (also more threads than tiles)."""
    monkeypatch.setenv("TCIR_NUM_THREADS", threads)
    example = EXAMPLES_SET[0]  # matmul
    sizes = {"M": 70, "K": 40, "N": 30}
    inputs = example.inputs(np.random.default_rng(0), sizes)
    kernel = tcir.compile(example.source, example.entry, *inputs, options="tile=16,8,8")
    assert any(p.loop is not None for p in kernel._compiled(kernel.prepare(inputs)[3]).plan.parts)
    assert_close(kernel(*inputs), example.numpy(*inputs)[0], rtol=1e-4, atol=1e-4)
