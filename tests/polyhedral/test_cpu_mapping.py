"""The CPU mapping steps keep every schedule valid, and register tiling gives
contractions the intended loop structure (and leaves other nests alone)."""

import islpy as isl
import pytest

from tcir.polyhedral import Fusion, ScheduleOptions, compute_schedule, respects, tile_outer_bands
from tcir.polyhedral.cpu_mapping import register_tile, sink_contiguous_members
from tcir.polyhedral.schedule import _bands

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
    *_, tiles, points = _bands(tree)
    assert [bool(tiles.band_member_get_coincident(i)) for i in range(3)] == [True, True, False]
    assert loop_types(tiles)[2] == isl.ast_loop_type.separate
    assert loop_types(points)[0] == isl.ast_loop_type.unroll
    code = isl.AstBuild.alloc(tree.get_ctx()).node_from_schedule(tree).to_C_str()
    assert code.count("S_0(") == 4 + 4  # 4 unrolled rows, peeled first reduction step and the rest


@pytest.mark.parametrize("name", ["maxpool2x2", "kronecker3_1"])
def test_nests_without_reductions_are_not_register_tiled(name):
    tree = cpu_schedule(model(name))
    assert register_tile(tree, 4, 16).get_map().is_equal(tree.get_map())
