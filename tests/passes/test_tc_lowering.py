"""The pieces the tc-lowering passes share (passes/tc_lowering.py): how mapping options
become the isl scheduler's options, and which bounds parametric lowering can express."""

import pytest

from tcir import MappingOptions
from tcir.passes.tc_lowering import outer_schedule_options
from tcir.polyhedral import Fusion, ScheduleOptions


def test_outer_schedule_options_of_the_naive_preset():
    assert outer_schedule_options(MappingOptions(), {"M": 64}) == ScheduleOptions(
        fusion=Fusion.PRESERVE3_COINCIDENT, allow_skewing=False, positive_orthant=True, tile=(), fix_parameters=None)


def test_outer_schedule_options_follow_the_outer_schedule_options():
    opts = (MappingOptions("mlp").outerScheduleAllowSkewing(True).outerSchedulePositiveOrthant(False)
            .intraTileScheduleFusionStrategy("Min").tile(16, 0))
    got = outer_schedule_options(opts, {})
    assert got.fusion is Fusion.MAX and got.allow_skewing is True and got.positive_orthant is False
    # tiles are each mapping's, after its own reordering: never the scheduler's
    assert tuple(got.tile) == () and got.fix_parameters is None and got.parallel_reductions is False


def test_outer_schedule_options_fix_the_sizes_only_when_asked():
    sizes = {"M": 64, "N": 32}
    opts = MappingOptions().fixParametersBeforeScheduling(True)
    assert outer_schedule_options(opts, sizes).fix_parameters == sizes
    assert outer_schedule_options(opts, sizes).fix_parameters is not sizes  # a copy
    assert outer_schedule_options(MappingOptions(), sizes).fix_parameters is None


@pytest.mark.parametrize("bound", ["M * M", "M / N", "M % N"])
def test_a_bound_that_is_not_affine_in_the_sizes_is_an_error_in_parametric_lowering(bound):
    """Parametric affine loops need affine bounds; specialized sizes lower anything."""
    from tcir.driver import tc_to_module
    from tcir.errors import TcError
    from tcir.passes.convert_tc_to_affine import convert_tc_to_affine

    source = f"def f(float(M, N) A) -> (O) {{ O(i) = 1.0 where i in 0:{bound} }}"
    with pytest.raises(TcError, match="is not affine in the sizes .* specialize the sizes"):
        convert_tc_to_affine(tc_to_module(source))
    convert_tc_to_affine(tc_to_module(source), {"M": 4, "N": 3})
