"""Scheduling: every computed schedule respects every dependence (for each dependence
map D and schedule S, S^-1 . D . S is lexicographically positive), for every fusion
strategy, with and without tiling and specialization, on every canonical example."""

from pathlib import Path

import islpy as isl
import pytest

from tcir.driver import tc_to_module
from tcir.polyhedral import (
    Fusion,
    ScheduleOptions,
    band_coefficients,
    compute_schedule,
    dependences,
    extract_module,
    model_from_source,
    original_schedule_tree,
    respects,
    tile_outer_bands,
)
from tcir.polyhedral.schedule import all_bands

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALL = sorted(p.stem for p in EXAMPLES.glob("*.tc"))
TILES = [(), (32, 32), (4, 0, 8), (0, 0, 0, 2), (1, 1, 1, 1, 1, 1)]


def models(name):
    return list(extract_module(tc_to_module((EXAMPLES / f"{name}.tc").read_text())).values())


def model(name):
    return models(name)[0]


def lex_positive(deps: isl.UnionMap, schedule_map: isl.UnionMap) -> bool:
    """The property, written out per dependence map: (S^-1 . D . S) ⊆ lex-lt."""
    ok = True

    def check(dep: isl.Map) -> None:
        nonlocal ok
        src = isl.UnionMap.from_map(dep).apply_domain(schedule_map).apply_range(schedule_map)
        times = []
        src.foreach_map(times.append)
        for t in times:
            n_in, n_out = t.dim(isl.dim_type.in_), t.dim(isl.dim_type.out)
            assert n_in == n_out, t
            lt = isl.Map.lex_lt(t.get_space().domain())
            ok = ok and t.is_subset(lt.align_params(t.get_space()))

    deps.foreach_map(check)
    return ok


@pytest.mark.parametrize("tile", TILES, ids=str)
@pytest.mark.parametrize("fusion", list(Fusion), ids=lambda f: f.value)
@pytest.mark.parametrize("name", ALL)
def test_schedules_respect_dependences(name, fusion, tile):
    for m in models(name):
        r = compute_schedule(m, ScheduleOptions(fusion=fusion, tile=tile))
        for d in (r.deps.flow, r.deps.anti, r.deps.output):
            assert lex_positive(d, r.schedule_map)
        assert respects(r.deps.all, r.schedule_map)
        # the schedule covers the whole domain, and the AST was built
        assert r.schedule.get_domain().is_equal(m.domain)
        assert r.ast.to_C_str()


@pytest.mark.parametrize("fusion", ["Max", "Preserve3Coincident", "Min"])
@pytest.mark.parametrize("name", ALL)
def test_skewing_and_orthant_options(name, fusion):
    for m in models(name):
        for skew in (False, True):
            for orthant in (False, True):
                r = compute_schedule(m, ScheduleOptions(fusion=fusion, allow_skewing=skew,
                                                        positive_orthant=orthant, tile=(8, 8)))
                assert respects(r.deps.all, r.schedule_map)
                if not r.fallback:
                    for band in all_bands(r.schedule):
                        for member in band_coefficients(band):
                            for pieces in member.values():
                                for coefs in pieces:
                                    if not skew:
                                        assert sum(1 for c in coefs if c) <= 1
                                    if orthant:
                                        assert all(c >= 0 for c in coefs)


@pytest.mark.parametrize("name", ALL)
def test_fix_parameters_before_scheduling(name):
    m = model(name)
    sizes = {p: 5 for p in m.params}
    for fusion in Fusion:
        r = compute_schedule(m, ScheduleOptions(fusion=fusion, tile=(2, 3), fix_parameters=sizes))
        assert r.model.sizes and respects(r.deps.all, r.schedule_map)
        assert r.model.context.is_subset(m.context)


def test_respects_rejects_a_wrong_schedule():
    m = model("matmul")
    d = dependences(m).all
    assert respects(d, m.schedule)
    reversed_k = isl.UnionMap.read_from_str(
        m.context.get_ctx(), "[M, K, N] -> { S_0_init[m, n] -> [0, m, n, 0]; S_0[m, n, k] -> [1, m, n, -k] }")
    assert not respects(d, reversed_k.intersect_domain(m.domain))
    assert not lex_positive(d, reversed_k.intersect_domain(m.domain))
    init_last = isl.UnionMap.read_from_str(
        m.context.get_ctx(), "[M, K, N] -> { S_0_init[m, n] -> [2, m, n, 0]; S_0[m, n, k] -> [1, m, n, k] }")
    assert not respects(d, init_last.intersect_domain(m.domain))


def test_original_schedule_tree_is_valid_everywhere():
    for name in ALL:
        for m in models(name):
            d = dependences(m)
            tree = original_schedule_tree(m, d)
            assert respects(d.all, tree.get_map())
            assert respects(d.all, tile_outer_bands(tree, (3, 3, 3)).get_map())


def test_fusion_strategies_differ_on_fcrelu():
    m = model("fcrelu")

    def loops(f):
        return compute_schedule(m, ScheduleOptions(fusion=f)).ast.to_C_str().count("for (")

    assert loops("Max") == 3  # one (b, n) nest, with the reduction loop inside
    assert loops("Preserve3Coincident") == 3
    assert loops("Min") == 9  # every statement in its own nest


def test_coincidence_and_parallel_reductions():
    m = model("matmul")
    plain = compute_schedule(m, ScheduleOptions(fusion="Min"))
    red = compute_schedule(m, ScheduleOptions(fusion="Min", parallel_reductions=True))
    for r in (plain, red):
        assert respects(r.deps.all, r.schedule_map)

    def flags(r):
        out = []
        for band in all_bands(r.schedule):
            out.append([band.band_member_get_coincident(i) for i in range(band.band_n_member())])
        return out

    # the reduction loop r_k is never coincident by default
    assert all(not f[-1] for f in flags(plain) if len(f) == 3)
    assert any(len(f) == 3 and all(f) for f in flags(red))


def test_tiling_with_zero_sizes():
    m = model("matmul")
    r = compute_schedule(m, ScheduleOptions(fusion="Min", tile=(0, 16, 4)))
    text = r.ast.to_C_str()
    assert "16 * c" in text and "4 * c" in text
    bands = all_bands(r.schedule)
    # S_0: tile band over n and r_k only, above the full point band
    sizes = sorted(b.band_n_member() for b in bands)
    assert sizes == [1, 2, 2, 3]
    assert respects(r.deps.all, r.schedule_map)
    with pytest.raises(ValueError):
        tile_outer_bands(r.schedule, (-1,))


def test_maxpool_coalesced_schedule_falls_back_without_skewing():
    m = model("maxpool2x2")
    strict = compute_schedule(m, ScheduleOptions(fusion="Max"))
    assert strict.fallback  # isl coalesces (r_kh, r_kw) into 2 * r_kh + r_kw
    loose = compute_schedule(m, ScheduleOptions(fusion="Max", allow_skewing=True))
    assert not loose.fallback
    for r in (strict, loose):
        assert respects(r.deps.all, r.schedule_map)
    tiled = compute_schedule(m, ScheduleOptions(fusion="Max", tile=(4, 4, 4, 4)))
    assert respects(tiled.deps.all, tiled.schedule_map)
    assert "4 * c" in tiled.ast.to_C_str()


def test_model_from_source_and_symbolic_ast():
    m = model_from_source(open(EXAMPLES / "softmax.tc").read())
    r = compute_schedule(m)
    text = r.ast.to_C_str()
    for stmt in ("S_0_init(", "S_0(", "S_1_init(", "S_1(", "S_2("):
        assert stmt in text
