"""Property tests of the whole pipeline on random TC programs (tests/strategies.py).

  - generated programs are valid: the front end accepts them, range inference agrees
    with the generator's concrete model, the call-time checks pass, the reference runs;
  - the front end (and IR generation, and parametric lowering) only ever raises TcError,
    on mutations of valid programs;
  - the tc IR of a random program round-trips (custom and generic syntax) to a fixed point;
  - after every pass of every standard pipeline the IR verifies, and each stage's
    printed IR parses back;
  - compiled CPU code equals the NumPy reference evaluator (bit for bit where every
    operation is correctly rounded, else within a tolerance by dtype);
  - the PTX of the GPU mapping assembles with ptxas (sm_80 and sm_90); random mapping
    options give the same result.

Example counts scale with the hypothesis profile (tests/conftest.py, docs/testing.md).
A failure prints the program and `@reproduce_failure`; keep it as a regression example
(tests/regressions/). With TCIR_FUZZ_LOG=FILE each program is appended to FILE before
it is compiled, so even a crash of the process leaves its culprit behind.
"""

import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import compare_outputs, examples, malformed_programs, reference_outputs, tc_programs

import tcir
from tcir import bounds
from tcir.backends.nvptx import ARCHS, assemble, find_ptxas, ptx_for_module
from tcir.driver import AffineTarget, CudaTarget, Job, lower, tc_to_module
from tcir.errors import TcError, TcWarning
from tcir.frontend import check_source
from tcir.testing.reference import bind_sizes
from ir_text import assert_round_trips, parse, show

pytestmark = pytest.mark.filterwarnings("ignore::tcir.errors.TcWarning")


def _log(program) -> None:
    path = os.environ.get("TCIR_FUZZ_LOG")
    if path:
        with open(path, "a") as f:
            f.write(program.regression_text("TCIR_FUZZ_LOG") + "\n")
            f.flush()


def _layout(program, inputs):
    """The layout the API compiles for: sizes, element strides and dtypes of the arguments."""
    kernel = getattr(tcir.define(program.source), program.entry)
    return kernel.prepare(inputs)[3]


# 1. The generator makes valid programs --------------------------------------------------


@settings(max_examples=examples(100))
@given(tc_programs())
def test_generated_programs_are_valid(program):
    d = check_source(program.source).defs[program.entry]
    inputs = program.inputs()
    sizes = bind_sizes(d, inputs)
    assert sizes == program.sizes
    for stmt, model in zip(d.stmts, program.ranges, strict=True):
        inferred = {v: (lo.evaluate(sizes), hi.evaluate(sizes)) for v, (lo, hi) in stmt.ranges.items()}
        assert inferred == model, f"range inference of `{stmt.target}` disagrees with the model"
    bounds.check_call(d, sizes)
    # The model's intervals hold (they are what keeps casts and divisions defined).
    for t, out in zip(d.outputs, reference_outputs(program, inputs), strict=True):
        if t.name in program.bounds:
            lo, hi = program.bounds[t.name]
            values = np.asarray(out).astype(np.float64)
            slack = 1e-2 * max(1.0, abs(lo), abs(hi))  # values rounded to narrow types
            assert np.isfinite(values).all() and (values >= lo - slack).all() and (values <= hi + slack).all(), \
                f"`{t.name}` leaves the model's interval [{lo}, {hi}]: {values.min()} .. {values.max()}"


# 2. The front end only ever raises TcError ----------------------------------------------


@settings(max_examples=examples(200))
@given(malformed_programs())
def test_front_end_only_raises_tc_error(source):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        try:
            module = tc_to_module(source, "fuzz.tc")
        except TcError as err:
            assert str(err).startswith("fuzz.tc:") or err.loc is None, str(err)
            return
    # Accepted: parametric lowering either works or explains itself.
    try:
        lower(module, AffineTarget(), "affine", Job())
    except TcError:
        pass


# 3. The tc IR round trip is a fixed point ---------------------------------------------------


@settings(max_examples=examples(40))
@given(tc_programs())
def test_tc_round_trip_is_a_fixed_point(program):
    assert_round_trips(tc_to_module(program.source))


# 4. Every pass of every pipeline verifies -------------------------------------------------


def _run_verifying(module, stages, layout=None) -> None:
    """Lower through `stages` of the parametric pipeline (the driver verifies after every
    pass), checking that each stage's printed IR parses back."""
    job, done = Job(layout), "tc"
    for stage in stages:
        lower(module, AffineTarget(), stage, job, after=done)
        done = stage
        text = show(module)
        reparsed = parse(text)  # each stage's printed IR (what tc-opt --emit prints) parses back
        reparsed.verify()


@settings(max_examples=examples(20))
@given(tc_programs())
def test_every_pass_verifies(program):
    from tcir.backends.cpu import host_target_machine, parse_and_verify, to_llvm_ir

    # parametric: sizes stay symbolic up to the affine stage
    try:
        _run_verifying(tc_to_module(program.source), ["affine"])
    except TcError as err:
        assert "specialize the sizes" in str(err), str(err)  # min/max bounds need sizes
    # specialized to the program's sizes and its inputs' strides, down to LLVM IR
    module = tc_to_module(program.source, entry=program.entry)
    _run_verifying(module, ["affine", "loops", "llvm"], _layout(program, program.inputs()))
    parse_and_verify(to_llvm_ir(module, host_target_machine()))


# 5. Compiled CPU code equals the reference ------------------------------------------------


def _output_views(want, layout: str):
    """Zero-filled output arrays with the reference's shapes and dtypes, as strided views."""
    views = []
    for w in want:
        if layout == "strided" and w.ndim >= 1:
            views.append(np.zeros((w.shape[0] * 2,) + w.shape[1:], w.dtype)[::2])
        elif layout == "transposed" and w.ndim >= 2:
            views.append(np.zeros(w.shape[::-1], w.dtype).T)
        else:
            views.append(np.zeros(w.shape, w.dtype))
    return tuple(views)


@settings(max_examples=examples(30))
@given(tc_programs(), st.sampled_from([None, None, "strided", "transposed"]))
def test_cpu_matches_reference(program, output_layout):
    inputs = program.inputs()
    want = reference_outputs(program, inputs)
    _log(program)
    kernel = getattr(tcir.define(program.source), program.entry)
    d = check_source(program.source).defs[program.entry]
    outputs = None if output_layout is None else _output_views(want, output_layout)
    got = kernel(*inputs, outputs=outputs)
    compare_outputs(program, got, want, [t.name for t in d.outputs])
    if outputs is not None:  # written in place
        compare_outputs(program, outputs, want, [t.name for t in d.outputs])


# 6. Other targets and options ----------------------------------------------------------------


def ptx_for(program, arch: str) -> str:
    """The PTX of `program` for its sizes (the naive preset's GPU mapping)."""
    module = tc_to_module(program.source, entry=program.entry)
    lower(module, CudaTarget(), "gpu", Job(_layout(program, program.inputs())))
    return ptx_for_module(module, arch)


@st.composite
def mapping_options(draw):
    """Random legal mapping options: a preset, then random CPU-relevant knobs."""
    options = tcir.MappingOptions(draw(st.sampled_from(tcir.MappingOptions.PRESETS)))
    fusion = st.sampled_from(["Max", "Preserve3Coincident", "Min"])
    options.outerScheduleFusionStrategy(draw(fusion))
    options.outerScheduleAllowSkewing(draw(st.booleans()))
    options.outerSchedulePositiveOrthant(draw(st.booleans()))
    options.fixParametersBeforeScheduling(draw(st.booleans()))
    options.tile(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 8, 32]), max_size=5)))
    options.unroll(draw(st.sampled_from([1, 2, 4, 8, 64])))
    return options


@pytest.mark.skipif(find_ptxas() is None, reason="ptxas not found (the dev extra installs nvidia-cuda-nvcc-cu12)")
@settings(max_examples=examples(10))
@given(tc_programs(), st.sampled_from(ARCHS))
def test_ptx_assembles_with_ptxas(program, arch):
    _log(program)
    assemble(ptx_for(program, arch), arch)  # a TcError with ptxas's message if it is rejected


@settings(max_examples=examples(10))
@given(tc_programs(), mapping_options())
def test_mapping_options_give_the_reference_result(program, options):
    """Every legal schedule, tiling and unrolling computes what the reference does."""
    inputs = program.inputs()
    want = reference_outputs(program, inputs)
    _log(program)
    got = tcir.compile(program.source, program.entry, *inputs, options=options)(*inputs)
    d = check_source(program.source).defs[program.entry]
    compare_outputs(program, got, want, [t.name for t in d.outputs])


@settings(max_examples=examples(5))
@given(tc_programs())
def test_inputs_are_deterministic(program):
    """A failure reproduces from its seed: the same program gives the same inputs."""
    for a, b in zip(program.inputs(), program.inputs(), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.strides == b.strides
        bits = lambda x: np.ascontiguousarray(x).view(np.uint8) if x.ndim else x  # noqa: E731 (NaN == NaN)
        np.testing.assert_array_equal(bits(a), bits(b))
