"""Which loops the CPU runs in parallel: the `parallel` marks (cpu_mapping.mark_parallel),
the check of the loop below each mark (codegen.build_cpu_ast), and the chunks the
runtime cuts a parallel loop into (backends/cpu_parallel.chunks).

Regression: matmul tiled 256,4,128 at M = 64 has one tile of rows, which isl emits as
no loop; the `for` below the parallel mark was then the reduction's tile loop, and its
chunks raced on C (tests/test_cpu_constructs.py::test_tiled_reductions_on_several_threads
runs it; here the structure, without threads)."""

import islpy as isl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import examples

from tcir.backends.cpu_parallel import chunks
from tcir.driver import tc_to_module
from tcir.mapping_options import MappingOptions
from tcir.passes.convert_tc_to_loops import REGISTER_ROWS, schedule_ast
from tcir.polyhedral import Fusion, ScheduleOptions, build_ast, compute_schedule, specialize, tile_outer_bands
from tcir.polyhedral.codegen import build_cpu_ast, for_range, parts
from tcir.polyhedral.cpu_mapping import PARALLEL, first_loop, mark_parallel, sink_contiguous_members
from tcir.polyhedral.schedule import map_bands

from test_schedule import ALL, EXAMPLES, model


def def_op(name):
    from tcir.dialects import tc

    module = tc_to_module((EXAMPLES / f"{name}.tc").read_text())
    return next(op for op in module.ops if isinstance(op, tc.DefOp))


def parallel_loops(name, size, mapping):
    """(first, bound, step) of every parallel part of example `name`, every size `size`."""
    d = def_op(name)
    _, ast = schedule_ast(d, {s: size for s in d.size_names()}, MappingOptions.parse(mapping))
    return [for_range(p.parallel) for p in parts(ast) if p.parallel is not None]


@pytest.mark.parametrize("size, mapping", [(64, "tile=256,4,128"), (64, "tile=64,4,32"), (256, "tile=256,4,128"),
                                           (8, "tile=32,32,32"), (64, "tile=65,63,4 unroll=4")])
def test_one_tile_of_rows_leaves_the_reduction_loop_sequential(size, mapping):
    """m / 256 takes one value: the first loop is r_k / 4, which carries the reduction
    (at size 8 the first loop is the register tile's rows, m / 4: parallel)."""
    assert parallel_loops("matmul", size, mapping) == ([(0, 2, 1)] if size == 8 else [])


@pytest.mark.parametrize("size, tile, loop", [(256, "64,4,32", (0, 4, 1)), (64, "16,4,32", (0, 4, 1)),
                                              (64, "32,32,32", (0, 2, 1))])
def test_several_tiles_of_rows_stay_parallel(size, tile, loop):
    assert parallel_loops("matmul", size, f"tile={tile}") == [loop]


def cpu_tree(name, sizes, tile):
    m = model(name)
    fixed = specialize(m, sizes)
    scheduled = compute_schedule(m, ScheduleOptions(fusion=Fusion.MAX))
    tree = sink_contiguous_members(scheduled.schedule.intersect_domain(fixed.domain), fixed)
    return fixed, scheduled.deps.all, tile_outer_bands(tree, tile)


def test_first_loop_skips_members_of_one_value():
    """matmul m, r_k, n tiled 256, 4, 128 at 64: m / 256 and n / 128 take one value."""
    _, _, tree = cpu_tree("matmul", {"M": 64, "K": 64, "N": 64}, (256, 4, 128))
    band = tree.get_root().child(0)
    node, member = first_loop(band)
    assert node.get_tree_depth() == band.get_tree_depth() and member == 1
    assert not node.band_member_get_coincident(member)
    assert "mark" not in str(mark_parallel(tree).get_root())
    # every member of one value: the first loop is in the band below (the point band)
    _, _, tree = cpu_tree("matmul", {"M": 64, "K": 64, "N": 64}, (256, 256, 256))
    node, member = first_loop(tree.get_root().child(0))
    assert node.get_tree_depth() == band.get_tree_depth() + 1 and member == 0


def marked_outermost(tree):
    """A parallel mark above every outermost band (what mark_parallel did for a band
    whose member 0 is coincident, whatever loop isl emits first)."""
    return map_bands(tree, False, lambda node: node.insert_mark(isl.Id(PARALLEL, context=node.get_ctx())))


@pytest.mark.parametrize("tile", [(256, 4, 128), (64, 4, 32), (4, 64, 4)], ids=str)
def test_a_marked_loop_that_carries_a_dependence_is_not_parallel(tile):
    """The check behind the mark: whatever the mark says, the loop isl emits below it
    runs in chunks only if it carries no dependence."""
    fixed, deps, tree = cpu_tree("matmul", {"M": 64, "K": 64, "N": 64}, tile)
    tree = marked_outermost(tree)
    ast = build_cpu_ast(tree, fixed.context, deps)
    [part] = parts(ast)
    first_is_rows = tile[0] < 64  # several row tiles: the loop over them is parallel
    assert (part.parallel is not None) == first_is_rows
    # an AST built without the check has no parallel part
    assert all(p.parallel is None for p in parts(build_ast(tree, fixed.context)))


@pytest.mark.parametrize("tile", [(), (32, 32, 32), (4, 4, 4), (256, 4, 128), (1, 64, 2)], ids=str)
@pytest.mark.parametrize("name", ALL)
def test_marks_agree_with_the_check(name, tile):
    """Every loop mark_parallel marks is one the check proves parallel (the mark looks
    at the loop isl emits), at sizes around a register tile (REGISTER_ROWS)."""
    m = model(name)
    fixed, deps, tree = cpu_tree(name, {p: REGISTER_ROWS + 4 for p in m.params}, tile)
    marked = mark_parallel(tree)
    ast = build_cpu_ast(marked, fixed.context, deps)
    marks = []

    def visit(node):
        if node.get_type() == isl.ast_node_type.mark and node.mark_get_id().get_name() == PARALLEL:
            inner = node.mark_get_node()
            if inner.get_type() == isl.ast_node_type.for_:
                marks.append(inner.get_annotation().get_name())
        return True

    ast.foreach_descendant_top_down(visit)
    assert all(a == PARALLEL for a in marks), marks


@settings(max_examples=examples(200))
@given(first=st.integers(-20, 20), length=st.integers(-5, 120), step=st.integers(1, 9), n=st.integers(1, 12))
def test_chunks_cover_the_loop_once(first, length, step, n):
    bound = first + length
    pieces = chunks(first, bound, step, n)
    assert len(pieces) <= n and all(lo < hi for lo, hi in pieces)
    assert all((lo - first) % step == 0 for lo, _ in pieces)  # each starts on an iteration
    assert [i for lo, hi in pieces for i in range(lo, hi, step)] == list(range(first, bound, step))
    if len(range(first, bound, step)) >= n:
        assert len(pieces) == n  # every thread gets a chunk
