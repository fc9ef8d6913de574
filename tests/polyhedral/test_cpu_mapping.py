"""The CPU mapping steps keep every schedule valid, and register tiling gives
contractions the intended loop structure (and leaves other nests alone)."""

import islpy as isl
import pytest

from tcir.polyhedral import Fusion, ScheduleOptions, compute_schedule, respects, tile_outer_bands
from tcir.polyhedral.cpu_mapping import register_tile, sink_contiguous_members
from tcir.polyhedral.schedule import all_bands

from test_schedule import ALL, lex_positive, model


def cpu_schedule(m, tile=()):
    tree = sink_contiguous_members(compute_schedule(m, ScheduleOptions(fusion=Fusion.MAX)).schedule, m)
    return tile_outer_bands(tree, tile) if tile else tree


@pytest.mark.parametrize("tile", [(), (32, 32, 32), (2, 3)], ids=str)
@pytest.mark.parametrize("name", ALL)
def test_register_tiling_respects_dependences(name, tile):
    m = model(name)
    tree = register_tile(cpu_schedule(m, tile), 4, 16)
    deps = compute_schedule(m).deps.all
    assert respects(deps, tree.get_map()) and lex_positive(deps, tree.get_map())


def loop_types(band: isl.ScheduleNode) -> list:
    return [band.band_member_get_ast_loop_type(i) for i in range(band.band_n_member())]


def test_matmul_register_tile():
    """m, k, n -> tile loops m/4, n/16, k (k separated), point loops m (unrolled), n."""
    tree = register_tile(cpu_schedule(model("matmul")), 4, 16)
    *_, tiles, points = all_bands(tree)
    assert [bool(tiles.band_member_get_coincident(i)) for i in range(3)] == [True, True, False]
    assert loop_types(tiles)[2] == isl.ast_loop_type.separate
    assert loop_types(points)[0] == isl.ast_loop_type.unroll
    code = isl.AstBuild.alloc(tree.get_ctx()).node_from_schedule(tree).to_C_str()
    assert code.count("S_0(") == 4 + 4  # 4 unrolled rows, peeled first reduction step and the rest


@pytest.mark.parametrize("name", ["maxpool2x2", "kronecker3_1"])
def test_nests_without_reductions_are_not_register_tiled(name):
    tree = cpu_schedule(model(name))
    assert register_tile(tree, 4, 16).get_map().is_equal(tree.get_map())


def specialized_cpu_schedule(name, sizes=None, tile=()):
    """The CPU mapping steps up to the dot register tiling, for every size 24 (or
    `sizes`): trip counts must be constants."""
    from tcir.polyhedral import specialize
    from tcir.polyhedral.cpu_mapping import dot_reduction_members, register_tile_dots

    m = model(name)
    fixed = specialize(m, sizes or {p: 24 for p in m.params})
    scheduled = compute_schedule(m, ScheduleOptions(fusion=Fusion.MAX))
    tree = sink_contiguous_members(scheduled.schedule.intersect_domain(fixed.domain), fixed)
    if tile:
        tree = tile_outer_bands(tree, tile, untiled=dot_reduction_members(fixed, 16))
    tree = register_tile(tree, 4, 16)
    return fixed, scheduled.deps.all, register_tile_dots(tree, fixed, scheduled.deps.all, 4, 4, 16)


@pytest.mark.parametrize("tile", [(), (32, 32, 32), (2, 3)], ids=str)
@pytest.mark.parametrize("name", ALL)
def test_dot_register_tiling_respects_dependences(name, tile):
    fixed, deps, tree = specialized_cpu_schedule(name, tile=tile)
    deps = deps.intersect_domain(fixed.domain).intersect_range(fixed.domain)
    assert respects(deps, tree.get_map()) and lex_positive(deps, tree.get_map())


def ast_code(fixed, tree) -> str:
    return isl.AstBuild.from_context(fixed.context).node_from_schedule(tree).to_C_str()


def test_fcrelu_dot_register_tile():
    """b, n tiled 4 x 4 and sunk below the reduction loop over the contiguous r_m: 16
    inits before it, 16 reduction instances in it, 16 bias and relu after it."""
    fixed, _, tree = specialized_cpu_schedule("fcrelu", {"B": 16, "M": 64, "N": 8}, tile=(32, 32, 32))
    code = ast_code(fixed, tree)
    loop = code.index("for (int c4 = 0; c4 <= 63; c4 += 1)")  # r_m, untiled
    assert code.count("S_0_init(") == 16 and code.rindex("S_0_init(") < loop
    body = code[loop:code.index("}", loop)]
    assert body.count("S_0(") == 16 and "S_1(" not in body
    assert code.count("S_1(") == code.count("S_2(") == 16 and code.index("S_1(") > loop


def test_kronecker_reduction_is_split_and_sunk():
    """The band m, n0, n1, d2, r_n2 (r_n2 contiguous in X and W2) becomes m, n0, n1 / 4,
    d2 / 4 over the initialization and a loop over r_n2 of 4 x 4 instances."""
    fixed, _, tree = specialized_cpu_schedule("kronecker3_1", {"M": 2, "N0": 2, "N1": 8, "N2": 32, "D2": 8})
    code = ast_code(fixed, tree)
    loop = code.index("<= 31; c")  # the r_n2 loop
    assert code.count("S_0_init(") == 16 and code.rindex("S_0_init(") < loop
    assert code[loop:].count("S_0(") == 16


@pytest.mark.parametrize("name", ["matmul", "maxpool2x2", "group_normalization"])
def test_nests_without_dot_reductions_are_not_dot_tiled(name):
    from tcir.polyhedral import specialize
    from tcir.polyhedral.cpu_mapping import register_tile_dots

    m = model(name)
    fixed = specialize(m, {p: 24 for p in m.params})
    scheduled = compute_schedule(m, ScheduleOptions(fusion=Fusion.MAX))
    tree = register_tile(sink_contiguous_members(scheduled.schedule.intersect_domain(fixed.domain), fixed), 4, 16)
    assert register_tile_dots(tree, fixed, scheduled.deps.all, 4, 4, 16).get_map().is_equal(tree.get_map())
