"""The GPU mapping (`tcir.polyhedral.gpu_mapping`, the pass `convert-tc-to-gpu`).

- On the schedule: every statement instance runs on exactly one (block, thread), launch
  sizes are tight (every block and thread index runs something), thread x is the
  contiguous member; a part with nothing parallel but a reduction (+, *, max, min
  into one element) is a block reduction (a private partial per thread, a tree in
  shared memory, thread 0's update), anything else serial is one thread.
- On the IR: it verifies, the host function holds only what docs/gpu.md allows, the
  private accumulator leaves no global access in the reduction loop, shared memory
  holds matmul's tiles of A and B (the reduction reads them from address space 3),
  within maxSharedMemory (the most reused first), only where there is reuse, with
  block-uniform barriers; `unroll` unrolls; read-only arguments are marked; bad
  options are TcErrors.
- Results: the gpu stage, run by the CPU emulator (tcir/testing/gpu_emulator.py, race
  checks on), equals the NumPy reference for every canonical example under every
  preset (with and without private and shared memory), and for random programs under
  random mapping options; the PTX of a promoted kernel assembles (ptxas, sm_80 and
  sm_90).
"""

import math

import islpy as isl
import numpy as np
import pytest
from canonical import EXAMPLES, EXAMPLES_SET
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import compare_outputs, examples, reference_outputs, tc_programs
from xdsl.dialects import arith, func, gpu, memref, scf
from xdsl.ir import Operation

import tcir
from tcir import MappingOptions, TcError
from tcir.backends import nvptx
from tcir.dialects import tcgpu
from tcir.driver import default_context, tc_to_module
from tcir.frontend import check_source
from tcir.passes.convert_tc_to_gpu import SHARED_SPACE, ConvertTcToGpuPass, schedule_kernels
from tcir.polyhedral import model_from_source
from tcir.polyhedral.gpu_mapping import BLOCK_IDS, THREAD_IDS, order_for_coalescing
from tcir.testing.gpu_emulator import emulate
from tcir.testing.reference import bind_sizes, evaluate

pytestmark = pytest.mark.filterwarnings("ignore::tcir.errors.TcWarning")

MATMUL = "def matmul(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }"
TOTAL = "def total(float(N) A) -> (S) { S +=! A(i) }"


def _sizes_text(sizes: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sizes.items())


def _gpu_module(source: str, entry: str, sizes: dict, options: MappingOptions, strides: str = ""):
    module = tc_to_module(source, entry=entry)
    ConvertTcToGpuPass(sizes=_sizes_text(sizes), strides=strides, mapping=str(options)).apply(default_context(), module)
    module.verify()
    return module


def _kernels(source: str, sizes: dict, options: MappingOptions):
    def_op = next(iter(tc_to_module(source).ops))
    return schedule_kernels(def_op, sizes, options)


def _instances_to_ids(kernel) -> isl.UnionMap:
    """{ S[i] -> [bx, by, bz, tx, ty, tz] }: who runs each instance of the kernel."""
    maps = []
    kernel.schedule.get_map().domain().intersect_params(kernel.context).foreach_set(maps.append)
    out = None
    for s in maps:
        m = isl.Map.from_domain(s)
        for name in BLOCK_IDS + THREAD_IDS:
            pos = m.find_dim_by_name(isl.dim_type.param, name)
            m = m.move_dims(isl.dim_type.out, m.dim(isl.dim_type.out), isl.dim_type.param, pos, 1)
        m = isl.UnionMap.from_map(m)
        out = m if out is None else out.union(m)
    return out


# --- the mapping on the schedule ------------------------------------------------------------


@pytest.mark.parametrize("preset", MappingOptions.PRESETS)
@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_every_instance_runs_once_and_every_id_runs_something(example, preset):
    definition = check_source(example.source).defs[example.entry]
    for sizes in example.shapes:
        sizes = bind_sizes(definition, example.inputs(np.random.default_rng(0), sizes))
        model, kernels = _kernels(example.source, sizes, MappingOptions(preset))
        covered = None
        for kernel in kernels:
            who = _instances_to_ids(kernel)
            assert who.is_single_valued(), "an instance runs on several threads"
            domain = who.domain()
            assert covered is None or covered.intersect(domain).is_empty(), "an instance runs in two kernels"
            covered = domain if covered is None else covered.union(domain)
            ids = isl.Set.from_union_set(who.range())
            for d, size in enumerate(kernel.grid + kernel.block):
                assert ids.dim_max_val(d).to_python() == size - 1, "a launch larger than the extent"
        assert covered.is_equal(model.domain)


def test_extents_below_the_options_tighten_the_launch():
    """An extent of 5 gets 5 threads, 2 tiles get 2 blocks; 70 columns on 32 threads
    loop (block-stride)."""
    options = MappingOptions().tile(32, 32).mapToThreads(32, 8).mapToBlocks(256, 256)
    _, (kernel,) = _kernels(MATMUL, {"M": 5, "K": 3, "N": 70}, options)
    assert (kernel.grid, kernel.block) == ((3, 1, 1), (32, 5, 1))
    _, (kernel,) = _kernels(MATMUL, {"M": 5, "K": 3, "N": 70}, options.copy().mapToBlocks(2))
    assert kernel.grid == (2, 1, 1)  # 3 tiles on 2 blocks: a grid-stride loop


def test_untiled_members_mapped_to_threads_get_blocks_too():
    """Without tiles, a member mapped to threads is tiled by its thread count, so that
    blocks map it too (70 columns: 3 blocks of 32 threads); one block only if asked."""
    _, (kernel,) = _kernels(MATMUL, {"M": 5, "K": 3, "N": 70}, MappingOptions().tile())
    assert (kernel.grid, kernel.block) == ((3, 1, 1), (32, 5, 1))
    _, (kernel,) = _kernels(MATMUL, {"M": 5, "K": 3, "N": 70}, MappingOptions().tile(0, 64))
    assert (kernel.grid, kernel.block) == ((2, 1, 1), (32, 5, 1))  # n: 64 per block, m: all 5 in one
    _, (kernel,) = _kernels(MATMUL, {"M": 5, "K": 3, "N": 70}, MappingOptions().tile().mapToBlocks(1))
    assert (kernel.grid, kernel.block) == ((1, 1, 1), (32, 5, 1))


def test_tiles_as_large_as_their_members_leave_blocks_to_the_thread_members():
    """Group normalization under the naive preset: tiles of 32 on n, g, d cover N = G = 32
    and D = 16 whole, so they would give one block for the whole tensor; h and w, which
    `tile` leaves untiled, are tiled by their thread counts instead (48 / 8 x 48 / 32 =
    6 x 2 blocks). Each element is computed once, as the reference says."""
    source = (EXAMPLES / "group_normalization.tc").read_text()
    sizes = {"N": 32, "G": 32, "D": 16, "H": 48, "W": 48}
    _, (kernel,) = _kernels(source, sizes, MappingOptions("naive"))
    assert (kernel.grid, kernel.block) == ((2, 6, 1), (32, 8, 1))
    small = {"N": 2, "G": 3, "D": 2, "H": 20, "W": 40}
    module = _gpu_module(source, "group_normalization", small, MappingOptions("naive"))
    (function,) = [op for op in module.walk() if isinstance(op, gpu.FuncOp)]
    assert tuple(function.known_grid_size.get_values()) == (2, 3, 1)
    rng = np.random.default_rng(9)
    shapes = [(2, 3, 2, 20, 40), (3, 2), (3, 2), (2, 3), (2, 3)]
    _check_results(source, "group_normalization", [rng.random(s, np.float32) + 0.5 for s in shapes], module)


def test_blocks_map_the_members_with_several_tiles():
    """batch_matmul with `tile=1,32,32`: the tiles of 32 hold all of N = 26 and K = 26,
    so blocks map the batch (500 tiles, on 256 blocks and a grid-stride loop) instead of
    two members of one tile each, which left the whole batch to one block."""
    source = (EXAMPLES / "batch_matmul.tc").read_text()
    options = MappingOptions().tile(1, 32, 32).mapToThreads(8, 8)
    _, (kernel,) = _kernels(source, {"B": 500, "N": 26, "M": 72, "K": 26}, options)
    assert kernel.grid == (256, 1, 1)
    module = _gpu_module(source, "batch_matmul", {"B": 5, "N": 6, "M": 7, "K": 3}, options)
    (function,) = [op for op in module.walk() if isinstance(op, gpu.FuncOp)]
    assert tuple(function.known_grid_size.get_values()) == (5, 1, 1)
    rng = np.random.default_rng(10)
    _check_results(source, "batch_matmul", [rng.random((5, 6, 7), np.float32), rng.random((5, 7, 3), np.float32)],
                   module)


def test_thread_x_walks_memory_contiguously():
    """O(i, j) = A(j, i) + B(j, i): two reads are contiguous in i, one write in j, so i
    becomes the innermost coincident member, and thread x (the loads coalesce)."""
    source = "def t(float(N, M) A, float(N, M) B) -> (O) { O(i, j) = A(j, i) + B(j, i) }"
    model = model_from_source(source)
    from tcir.polyhedral import compute_schedule
    tree = order_for_coalescing(compute_schedule(model).schedule, model)
    band = tree.get_root().child(0)
    last = band.band_get_partial_schedule().get_at(band.band_n_member() - 1)
    assert "(i)" in str(last)
    module = _gpu_module(source, "t", {"N": 6, "M": 7}, MappingOptions())
    (kernel,) = [op for op in module.walk() if isinstance(op, gpu.FuncOp)]
    tx = next(op.result for op in kernel.walk() if isinstance(op, gpu.ThreadIdOp) and op.dimension.data == "x")
    loads = [op for op in kernel.walk() if isinstance(op, memref.LoadOp)]
    assert loads and all(op.indices[-1] is tx for op in loads)


def test_a_full_reduction_is_a_block_reduction_in_one_kernel():
    """mapToThreads' product, tightened to the extent; the init runs on thread 0 in the
    same kernel."""
    for threads, n, block in [((32,), 100, 32), ((16, 16), 1000, 256), ((256,), 100, 100), ((32,), 1, 1)]:
        _, kernels = _kernels(TOTAL, {"N": n}, MappingOptions().mapToThreads(*threads))
        assert [(k.grid, k.block) for k in kernels] == [((1, 1, 1), (block, 1, 1))]
        assert (kernels[0].segments is not None) == (block > 1)


@pytest.mark.parametrize("source", [
    "def f(float(N) A) -> (S) { S = 1.0\n S += A(i) * S }",  # the update reads its target
    "def f(float(N) A) -> (S) { S(i) = A(i) where i in 0:1\n S(i) = S(i - 1) + A(i) where i in 1:N }",  # a scan
])
def test_other_serial_parts_stay_on_one_thread(source):
    _, kernels = _kernels(source, {"N": 40}, MappingOptions())
    assert [(k.grid, k.block, k.segments) for k in kernels] == [((1, 1, 1), (1, 1, 1), None)]


# --- the IR --------------------------------------------------------------------------------


def _host_and_kernels(module):
    (host,) = [op for op in module.ops if isinstance(op, func.FuncOp)]
    kernels = [op for op in module.walk() if isinstance(op, gpu.FuncOp)]
    return host, kernels


def test_the_host_function_holds_only_launches_and_buffers():
    source = "def twice(float(N) A) -> (B) { T(i) = 2 * A(i)\n B(i) = T(N - 1 - i) }"
    module = _gpu_module(source, "twice", {"N": 5}, MappingOptions())
    host, kernels = _host_and_kernels(module)
    allowed = (arith.ConstantOp, memref.AllocOp, gpu.LaunchFuncOp, memref.DeallocOp, func.ReturnOp)
    assert all(isinstance(op, allowed) for op in host.body.walk())
    assert "tcir.gpu" in host.attributes and "gpu.container_module" in module.attributes
    launches = [op for op in host.body.walk() if isinstance(op, gpu.LaunchFuncOp)]
    assert [str(op.kernel) for op in launches] == ["@twice_kernels::@twice_part0", "@twice_kernels::@twice_part1"]
    assert [k.sym_name.data for k in kernels] == ["twice_part0", "twice_part1"]
    for launch, kernel in zip(launches, kernels):
        assert [v.type for v in launch.kernelOperands] == list(kernel.function_type.inputs)


def test_private_memory_keeps_the_accumulator_out_of_global_memory():
    options = MappingOptions().tile(16, 16).usePrivateMemory(True)
    module = _gpu_module(MATMUL, "matmul", {"M": 64, "N": 48, "K": 40}, options)
    _, (kernel,) = _host_and_kernels(module)
    c = kernel.body.block.args[2]
    reduction = [op for op in kernel.walk() if isinstance(op, scf.ForOp)
                 and any(isinstance(inner, memref.LoadOp) and inner.memref.name_hint == "A" for inner in op.body.walk())
                 and not any(isinstance(inner, scf.ForOp) for inner in op.body.walk())]
    assert reduction
    for loop in reduction:
        assert not any(isinstance(op, memref.LoadOp | memref.StoreOp) and op.memref is c for op in loop.body.walk())
    assert any(isinstance(op, memref.AllocaOp) for op in kernel.walk())


SHARED = MappingOptions().tile(32, 32, 32).mapToThreads(32, 8).useSharedMemory(True)


def _shared_globals(module) -> dict[str, tuple[int, ...]]:
    return {op.sym_name.data: tuple(op.type.get_shape()) for op in module.walk() if isinstance(op, memref.GlobalOp)
            and op.type.memory_space == SHARED_SPACE}


def _reads_in_innermost_loops(kernel) -> set[str]:
    """What the loads of the innermost loops read: an argument's name, or `shared`."""
    innermost = [op for op in kernel.walk() if isinstance(op, scf.ForOp)
                 and not any(isinstance(inner, scf.ForOp) for inner in op.body.walk())]
    return {("shared" if load.memref.type.memory_space == SHARED_SPACE else load.memref.name_hint)
            for loop in innermost for load in loop.body.walk()
            if isinstance(load, memref.LoadOp) and not _is_copy(load)}


def _is_copy(load) -> bool:
    return any(isinstance(use.operation, memref.StoreOp) and use.operation.memref.type.memory_space == SHARED_SPACE
               for use in load.res.uses)


def test_shared_memory_holds_the_tiles_of_matmul():
    """Tiles of 32 of the reduction: a block copies its 32 x 32 boxes of A and B once
    per step of the reduction, and the reduction reads only the copies."""
    module = _gpu_module(MATMUL, "matmul", {"M": 64, "N": 48, "K": 40}, SHARED)
    _, (kernel,) = _host_and_kernels(module)
    assert sorted(_shared_globals(module).values()) == [(32, 32), (32, 32)]
    assert _reads_in_innermost_loops(kernel) == {"shared", "C"}
    assert [op.memref.name_hint for op in kernel.walk() if isinstance(op, memref.GetGlobalOp)] == ["shared_A", "shared_B"]
    assert sum(isinstance(op, gpu.BarrierOp) for op in kernel.walk()) == 2
    _check_barriers_are_block_uniform(kernel)


def _thread_dependent(value, memo=None) -> bool:
    memo = {} if memo is None else memo
    if value in memo:
        return memo[value]
    memo[value] = False
    op = value.owner
    if isinstance(op, gpu.ThreadIdOp):
        result = True
    elif isinstance(op, memref.LoadOp):
        result = True  # data
    elif isinstance(op, Operation):
        result = any(_thread_dependent(v, memo) for v in op.operands)
    else:  # a loop iterator
        loop = op.parent_op()
        result = isinstance(loop, scf.ForOp) and any(_thread_dependent(v, memo) for v in (loop.lb, loop.ub, loop.step))
    memo[value] = result
    return result


def _check_barriers_are_block_uniform(kernel) -> None:
    for barrier in [op for op in kernel.walk() if isinstance(op, gpu.BarrierOp)]:
        parent = barrier.parent_op()
        while not isinstance(parent, gpu.FuncOp):
            if isinstance(parent, scf.IfOp):
                assert not _thread_dependent(parent.cond), "a barrier under a thread-dependent condition"
            if isinstance(parent, scf.ForOp):
                assert not any(_thread_dependent(v) for v in (parent.lb, parent.ub, parent.step)), \
                    "a barrier in a loop with thread-dependent bounds"
            parent = parent.parent_op()


def test_max_shared_memory_takes_the_most_reused_first():
    """M = 8: per tile, A's box (8 x 32, 1 KiB) is read 32 times per element, B's (32 x 32,
    4 KiB) 8 times. 5 KiB: both; 4 KiB: A only; 1000 bytes: nothing, as without the option."""
    sizes = {"M": 8, "N": 64, "K": 64}
    for budget, want in [(5120, [(8, 32), (32, 32)]), (4096, [(8, 32)]), (1000, [])]:
        module = _gpu_module(MATMUL, "matmul", sizes, SHARED.copy().maxSharedMemory(budget))
        assert list(_shared_globals(module).values()) == want
    module = _gpu_module(MATMUL, "matmul", sizes, SHARED.copy().maxSharedMemory(1000))
    assert not any(isinstance(op, gpu.BarrierOp) for op in module.walk())
    assert str(module) == str(_gpu_module(MATMUL, "matmul", sizes, SHARED.copy().useSharedMemory(False)))


@pytest.mark.parametrize("source, entry, sizes", [
    ("def scale(float(N) A) -> (B) { B(i) = 2 * A(i) }", "scale", {"N": 100}),
    ("def t(float(N, M) A) -> (B) { B(i, j) = A(j, i) }", "t", {"N": 40, "M": 40}),
    # each element read twice, but by one thread: not worth a copy
    ("def sq(float(N, M) A) -> (B) { B(i) +=! A(i, j) * A(i, j) }", "sq", {"N": 64, "M": 40}),
])
def test_no_reuse_no_shared_memory(source, entry, sizes):
    """Nothing that several threads of a block read: no copy, no barrier."""
    module = _gpu_module(source, entry, sizes, SHARED)
    assert not _shared_globals(module)
    assert not any(isinstance(op, gpu.BarrierOp) for op in module.walk())


def test_written_tensors_are_not_promoted():
    """fcrelu fused (Max): O1 is read and written in the kernel, so only I and W1 move."""
    source = """def fcrelu(float(B, M) I, float(N, M) W1, float(N) B1) -> (O1) {
        O1(b, n) +=! I(b, r_m) * W1(n, r_m)
        O1(b, n) = fmax(O1(b, n) + B1(n), 0)
    }"""
    options = SHARED.copy().outerScheduleFusionStrategy("Max").tile(16, 16, 16).mapToThreads(16, 4)
    module = _gpu_module(source, "fcrelu", {"B": 20, "M": 24, "N": 18}, options)
    names = {op.memref.name_hint for op in module.walk() if isinstance(op, memref.GetGlobalOp)}
    assert "shared_O1" not in names and {"shared_I", "shared_W1"} <= names
    _check_results(source, "fcrelu", [np.random.default_rng(1).random(s, np.float32) for s in ((20, 24), (18, 24), (18,))],
                   module)


def _check_results(source, entry, inputs, module):
    definition = check_source(source).defs[entry]
    want = evaluate(definition, *inputs)
    for got, ref in zip(_run(module, entry, inputs, want), want):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-5)


def test_unroll_unrolls_on_the_gpu_path():
    """unroll=8 with tiles of 8 of the reduction: no loop is left inside a tile step."""
    sizes = {"M": 5, "N": 70, "K": 40}
    options = MappingOptions().tile(32, 32, 8).mapToThreads(32, 8)
    for shared in (False, True):
        rolled = _gpu_module(MATMUL, "matmul", sizes, options.copy().useSharedMemory(shared))
        unrolled = _gpu_module(MATMUL, "matmul", sizes, options.copy().useSharedMemory(shared).unroll(8))
        loads = [sum(isinstance(op, memref.LoadOp) for op in m.walk()) for m in (rolled, unrolled)]
        loops = [sum(isinstance(op, scf.ForOp) for op in m.walk()) for m in (rolled, unrolled)]
        assert loads[1] == loads[0] + 7 * 3 and loops[1] == loops[0] - 1  # A (or its copy), B, C
        inputs = [np.random.default_rng(2).random(s, np.float32) for s in ((5, 40), (40, 70))]
        _check_results(MATMUL, "matmul", inputs, unrolled)


def test_unroll_of_a_band_without_instances():
    """N = 1 leaves the reduction over r in 0:N - 1 without instances: nothing to unroll
    (the unroll budget divided by no statement once raised ZeroDivisionError)."""
    source = """def f(float(N) A, float(M) B) -> (int32(N, N) O0, O2) {
        O0(i, j) = 0 where i in 0:N
        O2(i) +=! uint8(int8(O0(r + 1, 0))) where i in 0:2, r in 0:N - 1
        O2(i) += (i >= 1 ? O2(i - 1) : uint8(0)) where r in 0:2
    }"""
    options = MappingOptions.parse("fixParametersBeforeScheduling=true tile= unroll=64 mapToThreads=1 mapToBlocks=1")
    module = _gpu_module(source, "f", {"N": 1, "M": 8}, options)
    _check_results(source, "f", [np.ones(1, np.float32), np.ones(8, np.float32)], module)


def test_unroll_copy_shared_unrolls_the_copies():
    """Boxes of 32 x 32 on 32 x 8 threads, copied in runs of 4: one run (4 copies) per
    thread and box, no copy loop; without unrolling, one loop over each box's runs. Both
    boxes may pass their tensor's end along their rows (K = 40, N = 48): each run is also
    copied element by element, for where an end cuts it."""
    sizes = {"M": 64, "N": 48, "K": 40}
    looped = _gpu_module(MATMUL, "matmul", sizes, SHARED)
    unrolled = _gpu_module(MATMUL, "matmul", sizes, SHARED.copy().unrollCopyShared(True))
    assert [sum(isinstance(op, scf.ForOp) for op in m.walk()) for m in (looped, unrolled)] == [5, 3]
    copies = [op for op in unrolled.walk() if isinstance(op, memref.StoreOp) and op.memref.type.memory_space == SHARED_SPACE]
    assert len(copies) == 2 * (4 + 4)
    inputs = [np.random.default_rng(3).random(s, np.float32) for s in ((64, 40), (40, 48))]
    _check_results(MATMUL, "matmul", inputs, unrolled)


def test_read_only_arguments_are_marked():
    module = _gpu_module(MATMUL, "matmul", {"M": 4, "N": 4, "K": 4}, MappingOptions())
    _, (kernel,) = _host_and_kernels(module)
    flags = [set(d.data) for d in kernel.attributes["arg_attrs"].data]
    assert flags == [{"llvm.noalias", "llvm.align", "llvm.readonly"}] * 2 + [{"llvm.noalias", "llvm.align"}]
    assert all(d.data["llvm.align"].value.data == 16 for d in kernel.attributes["arg_attrs"].data)


@pytest.mark.skipif(nvptx.find_ptxas() is None, reason="ptxas not found (pip install nvidia-cuda-nvcc-cu12)")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_promoted_matmul_ptx_assembles(arch):
    options = SHARED.copy().tile(16, 16, 16).usePrivateMemory(True).unroll(4)
    module = _gpu_module(MATMUL, "matmul", {"M": 64, "N": 48, "K": 40}, options)
    ptx = nvptx.ptx_for_module(module, arch)
    assert ".shared" in ptx and "ld.shared" in ptx and "bar.sync" in ptx
    assert "ld.global.nc" in ptx  # the copies read A and B (llvm.readonly) through the read-only cache
    assert nvptx.assemble(ptx, arch)


@pytest.mark.parametrize("mapping, message", [
    ("mapToThreads=64,32", "above CUDA's limit of 1024 threads per block"),
    ("mapToThreads=1,2,3,4", "expected 1 to 3 sizes"),
    ("mapToBlocks=1,70000", "above CUDA's limit of 65535"),
    ("mapToThread=32", "did you mean `mapToThreads`?"),
])
def test_bad_options_are_tc_errors(mapping, message):
    module = tc_to_module(MATMUL)
    with pytest.raises(TcError, match=message):
        ConvertTcToGpuPass(sizes="M=4,N=4,K=4", mapping=mapping).apply(default_context(), module)


def test_sizes_are_required():
    with pytest.raises(TcError, match="needs the `sizes` option"):
        ConvertTcToGpuPass().apply(default_context(), tc_to_module(MATMUL))


# --- results, through the emulator ------------------------------------------------------------


def _run(module, entry, inputs, want) -> tuple:
    outputs = [np.zeros(w.shape, w.dtype) for w in want]
    emulate(module, entry, list(inputs) + outputs)
    return tuple(outputs)


@pytest.mark.parametrize("private, shared", [(False, False), (True, False), (False, True), (True, True)],
                         ids=["global", "private", "shared", "private+shared"])
@pytest.mark.parametrize("preset", MappingOptions.PRESETS)
@pytest.mark.parametrize("example", EXAMPLES_SET, ids=lambda e: e.entry)
def test_canonical_example_under_each_preset(example, preset, private, shared):
    definition = check_source(example.source).defs[example.entry]
    options = MappingOptions(preset).usePrivateMemory(private).useSharedMemory(shared)
    for seed, sizes in enumerate(example.shapes[:2]):
        inputs = example.inputs(np.random.default_rng(seed), sizes)
        module = _gpu_module(example.source, example.entry, bind_sizes(definition, inputs), options)
        want = evaluate(definition, *inputs)
        for got, ref in zip(_run(module, example.entry, inputs, want), want):
            np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-5)


REDUCTIONS = [(kind, dtype) for kind in ("+=!", "*=!", "max=!", "min=!", "+=", "max=") for dtype in ("float", "int32")]


@pytest.mark.parametrize("n", [1, 7, 150])
@pytest.mark.parametrize("kind, dtype", REDUCTIONS, ids=lambda v: v)
def test_block_reductions_equal_the_reference(kind, dtype, n):
    """Every kind and type, sizes 1, odd (a guarded tree level) and above the block;
    without `!`, thread 0 combines with the output's value (0, which the max of
    negative numbers shows)."""
    source = f"def total({dtype}(N) A) -> (S) {{ S {kind} A(i) }}"
    rng = np.random.default_rng(n)
    a = rng.uniform(-2, -1, n) if kind.startswith("max") else rng.uniform(0.5, 1.5, n)
    if kind.startswith("*"):
        a = rng.choice([-1.0, 1.0], n) * (1 if dtype == "int32" else rng.uniform(0.97, 1.03, n))
    a = (np.round(a * 4) if dtype == "int32" and not kind.startswith("*") else a).astype(dtype.replace("float", "float32"))
    _check_results(source, "total", [a], _gpu_module(source, "total", {"N": n}, MappingOptions().mapToThreads(8, 8)))


@pytest.mark.parametrize("source, entry, shapes, options", [
    # two reductions, each with its tree, in one kernel with their inits on thread 0
    ("def f(float(N) A) -> (S, P) { S +=! A(i)\n P max=! A(i) }", "f", [(37,)], MappingOptions().mapToThreads(16)),
    # a one-thread part, a barrier, then the reduction accumulating onto its value
    ("def f(float(N) A) -> (S) { S = 3.0\n S += A(i) }", "f", [(50,)], MappingOptions().mapToThreads(16)),
    # a 2-D full reduction, tiled: the inner member on threads
    ("def r(float(N, M) A) -> (S) { S +=! A(n, m) }", "r", [(3, 70)], MappingOptions().tile(2, 8).mapToThreads(16, 4)),
    # one row: the init is fused in the reduction's band, on thread 0
    ("def r(float(N, M) A) -> (O) { O(n) +=! A(n, m) }", "r", [(1, 70)], MappingOptions()),
])
def test_block_reductions_of_several_parts(source, entry, shapes, options):
    inputs = [np.random.default_rng(4).random(s, np.float32) for s in shapes]
    sizes = bind_sizes(check_source(source).defs[entry], inputs)
    module = _gpu_module(source, entry, sizes, options)
    _, kernels = _host_and_kernels(module)
    assert len(kernels) == 1 and kernels[0].attributes["gpu.known_block_size"].get_values()[0] > 1
    _check_barriers_are_block_uniform(kernels[0])
    _check_results(source, entry, inputs, module)


def test_block_reduction_ir():
    """A private partial per thread, a tree in shared memory with block-uniform
    barriers, thread 0's update of the target; the PTX assembles."""
    module = _gpu_module(TOTAL, "total", {"N": 100}, MappingOptions().mapToThreads(32))
    _, (kernel,) = _host_and_kernels(module)
    assert list(_shared_globals(module).values()) == [(32,)]
    assert sum(isinstance(op, gpu.BarrierOp) for op in kernel.walk()) == 1 + 5  # after the init, 5 levels
    _check_barriers_are_block_uniform(kernel)
    (partial,) = [op for op in kernel.walk() if isinstance(op, memref.AllocaOp)]
    assert partial.parent_op() is kernel
    s = kernel.body.block.args[1]
    assert [op.parent_op().cond.owner.predicate.value.data for op in kernel.walk()
            if isinstance(op, memref.StoreOp) and op.memref is s] == [0, 0]  # eq: thread 0 (init, result)
    if nvptx.find_ptxas() is not None:
        for arch in ("sm_80", "sm_90"):
            ptx = nvptx.ptx_for_module(module, arch)
            assert "bar.sync" in ptx and "st.shared" in ptx
            assert nvptx.assemble(ptx, arch)


REGISTER = MappingOptions().tile(64, 64, 8).mapToThreads(16, 16).usePrivateMemory(True).useSharedMemory(True)


def test_register_tile_keeps_the_reduction_outside_a_threads_points():
    """tile=64,64,8 on 16 x 16 threads: 4 x 4 points of C per thread, unrolled inside
    the reduction loop, their accumulators private: no global C in the loop."""
    module = _gpu_module(MATMUL, "matmul", {"M": 64, "N": 64, "K": 64}, REGISTER)
    _, (kernel,) = _host_and_kernels(module)
    c = kernel.body.block.args[2]
    reductions = [op for op in kernel.walk() if isinstance(op, scf.ForOp) and any(
        isinstance(load, memref.LoadOp) and load.memref.type.memory_space == SHARED_SPACE
        and not _is_copy(load) for load in op.body.walk())
        and not any(isinstance(inner, gpu.BarrierOp) for inner in op.body.walk())]  # not the loop over steps
    assert reductions
    for reduction in reductions:
        assert not any(isinstance(op, scf.ForOp) for op in reduction.body.walk())  # the points, unrolled
        shared_loads = [op for op in reduction.body.walk() if isinstance(op, memref.LoadOp)
                        and op.memref.type.memory_space == SHARED_SPACE]
        assert len(shared_loads) == 2 * 16  # a product per point of the 4 x 4 tile
        assert not any(isinstance(op, memref.LoadOp | memref.StoreOp) and op.memref is c
                       for op in reduction.body.walk())
    assert sum(isinstance(op, memref.AllocaOp) for op in kernel.walk()) == 16
    _check_barriers_are_block_uniform(kernel)
    inputs = [np.random.default_rng(5).random((64, 64), np.float32) for _ in range(2)]
    _check_results(MATMUL, "matmul", inputs, module)
    if nvptx.find_ptxas() is not None:
        for arch in ("sm_80", "sm_90"):
            assert nvptx.assemble(nvptx.ptx_for_module(module, arch), arch)


def _shared_layouts(module) -> dict[str, object]:
    return {op.sym_name.data: op.type.get_strides() for op in module.walk() if isinstance(op, memref.GlobalOp)}


def test_a_register_tiles_fragment_of_a_is_a_column_of_a_copy_laid_out_column_first():
    """A thread loads rows 4 ty .. 4 ty + 3 of one column of A's copy: laid out m fastest
    (columns of 64 rounded and padded to 68 floats), they are one vector load; B's copy,
    loaded along its rows, and any copy whose rows neighbouring threads x read (B with
    `unroll` alone) stay row-major."""
    sizes = {"M": 64, "N": 128, "K": 64}
    module = _gpu_module(MATMUL, "matmul", sizes, REGISTER)
    assert _shared_layouts(module) == {"matmul_part0_shared0": (1, 68), "matmul_part0_shared1": (64, 1)}
    rng = np.random.default_rng(8)
    _check_results(MATMUL, "matmul", [rng.random((64, 64), np.float32), rng.random((64, 128), np.float32)], module)
    exact = _gpu_module(MATMUL, "matmul", sizes, REGISTER.copy().maxSharedMemory(4096))  # no room for padding
    assert _shared_layouts(exact) == {"matmul_part0_shared0": (1, 64), "matmul_part0_shared1": (64, 1)}
    unrolled = _gpu_module(MATMUL, "matmul", sizes, SHARED.copy().tile(64, 64, 8).mapToThreads(16, 16).unroll(4))
    assert _shared_layouts(unrolled) == {"matmul_part0_shared0": (8, 1), "matmul_part0_shared1": (64, 1)}


def test_a_register_tiles_rows_and_columns_are_runs_of_consecutive_values():
    """Threads x run 4 consecutive columns of each 64-wide tile (floor(n / 4) mod 16 =
    tx), threads y 4 consecutive rows (floor(m / 4) mod 16 = ty); the runs are what
    LLVM merges into vector accesses."""
    _, (kernel,) = _kernels(MATMUL, {"M": 64, "N": 128, "K": 64}, REGISTER)
    ctx = kernel.threads.get_ctx()
    want = isl.UnionMap.read_from_str(ctx, "{ S_0[m, n, k] -> [floor(n / 4) mod 16, floor(m / 4) mod 16]; "
                                           "S_0_init[m, n] -> [floor(n / 4) mod 16, floor(m / 4) mod 16] }")
    assert kernel.threads.is_equal(want.intersect_domain(kernel.threads.domain()))
    ids = _instances_to_ids(kernel)
    owned = ids.intersect_range(isl.UnionSet.read_from_str(ctx, "{ [0, 0, 0, 3, 2, 0] }"))  # block 0, thread (3, 2)
    for name, want_range in (("n", (12, 15)), ("m", (8, 11))):
        values = isl.Set.from_union_set(owned.domain().apply(
            isl.UnionMap.read_from_str(ctx, f"{{ S_0[m, n, k] -> [{name}] }}")))
        assert (values.dim_min_val(0).to_python(), values.dim_max_val(0).to_python()) == want_range
        assert values.count_val().to_python() == 4


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("example", [e for e in EXAMPLES_SET if e.entry in
                                     ("matmul", "tmm", "batch_matmul", "fcrelu", "group_convolution")],
                         ids=lambda e: e.entry)
def test_register_tiles_of_contractions_equal_the_reference(example, shared):
    """Tiles of 8 on 4 threads: each thread computes 2 values per mapped member."""
    definition = check_source(example.source).defs[example.entry]
    options = MappingOptions().tile(8, 8, 4).mapToThreads(4, 4).usePrivateMemory(True).useSharedMemory(shared)
    inputs = example.inputs(np.random.default_rng(6), example.shapes[0])
    module = _gpu_module(example.source, example.entry, bind_sizes(definition, inputs), options)
    want = evaluate(definition, *inputs)
    for got, ref in zip(_run(module, example.entry, inputs, want), want):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-5)


# --- pipelined copies (pipelineShared) ----------------------------------------------------------

PIPELINED = SHARED.copy().pipelineShared(True)


def _async_ops(kernel) -> list[Operation]:
    return [op for op in kernel.walk() if op.dialect_name() == "tcgpu"]


def test_pipelined_copies_double_buffer_the_steps_of_matmul():
    """K = 40 in steps of 32: both shared buffers doubled; step 0's copies before the
    loop; in the loop, step s + 1's copies (into the other buffer, when there is one),
    a commit, a wait for all but that group, then the barrier and the tile, which reads
    the buffer of its step's parity; the same in every thread."""
    module = _gpu_module(MATMUL, "matmul", {"M": 64, "N": 48, "K": 40}, PIPELINED)
    _, (kernel,) = _host_and_kernels(module)
    assert sorted(_shared_globals(module).values()) == [(2, 32, 32), (2, 32, 32)]
    copies = [op for op in _async_ops(kernel) if isinstance(op, tcgpu.AsyncCopyOp)]
    assert copies and all(op.elements.value.data == 4 for op in copies if not _under_else(op))
    assert not any(isinstance(op, memref.StoreOp) and op.memref.type.memory_space == SHARED_SPACE
                   for op in kernel.walk())
    (loop,) = [op for op in kernel.body.block.ops if isinstance(op, scf.ForOp) and _has_barrier(op)]
    before = kernel.body.block.ops
    assert [type(op) for op in before if op.dialect_name() == "tcgpu"] == [tcgpu.AsyncCommitOp]
    body = list(loop.body.block.ops)
    first = next(i for i, op in enumerate(body) if isinstance(op, gpu.BarrierOp))
    assert [type(op) for op in body[first - 3:first]] == [scf.IfOp, tcgpu.AsyncCommitOp, tcgpu.AsyncWaitOp]
    assert body[first - 1].pending.value.data == 1
    assert any(isinstance(op, tcgpu.AsyncCopyOp) for op in body[first - 3].walk())
    reads = [op for op in kernel.walk() if isinstance(op, memref.LoadOp) and op.memref.type.memory_space == SHARED_SPACE]
    assert reads and not any(_thread_dependent(op.indices[0]) for op in reads)
    _check_barriers_are_block_uniform(kernel)


def _under_else(op: Operation) -> bool:
    """Inside the else branch of an scf.if (a run the tensor's end cuts: element by element)."""
    while (parent := op.parent_op()) is not None:
        if isinstance(parent, scf.IfOp) and parent.false_region.blocks and op.parent_region() is parent.false_region:
            return True
        op = parent
    return False


def _has_barrier(op: Operation) -> bool:
    return any(isinstance(inner, gpu.BarrierOp) for inner in op.walk())


@pytest.mark.parametrize("options", [
    SHARED.copy().tile(32, 32).pipelineShared(True),  # one tile per block, no loop: nothing to overlap
    PIPELINED.copy().maxSharedMemory(8192),  # the two 4 KiB boxes fit once, not twice
], ids=["no loop", "no room"])
def test_pipelined_copies_only_where_they_can_be(options):
    """Elsewhere the option changes nothing: single buffers, loads and stores."""
    module = _gpu_module(MATMUL, "matmul", {"M": 64, "N": 48, "K": 40}, options)
    _, (kernel,) = _host_and_kernels(module)
    assert _shared_globals(module) and not any(len(shape) == 3 for shape in _shared_globals(module).values())
    assert not _async_ops(kernel)
    sizes = {"M": 64, "N": 48, "K": 40}
    rng = np.random.default_rng(3)
    _check_results(MATMUL, "matmul", [rng.random((sizes["M"], sizes["K"]), np.float32),
                                      rng.random((sizes["K"], sizes["N"]), np.float32)], module)


def test_pipelined_copies_of_a_padded_tile_go_element_by_element():
    """Rows padded to 33 floats are not 16-byte aligned: cp.async of one float each."""
    source = "def columns(float(M, K) A, float(K, N) B) -> (C) { C(n, m) +=! A(m, k) * B(k, n) }"
    options = PIPELINED.copy().tile(32, 32, 32).mapToThreads(32, 8)
    sizes = {"M": 64, "N": 64, "K": 64}
    module = _gpu_module(source, "columns", sizes, options)
    _, (kernel,) = _host_and_kernels(module)
    padded = {name: shape for name, shape in _shared_globals(module).items() if shape[-1] == 33}
    assert padded and all(shape[0] == 2 for shape in padded.values())
    into_padded = [op for op in _async_ops(kernel) if isinstance(op, tcgpu.AsyncCopyOp)
                   and op.dest.type.get_shape()[-1] == 33]
    assert into_padded and all(op.elements.value.data == 1 for op in into_padded)
    rng = np.random.default_rng(4)
    _check_results(source, "columns", [rng.random((64, 64), np.float32), rng.random((64, 64), np.float32)], module)


# sizes with several steps of 8 along the reduction, the last partial
PIPELINED_SIZES = {"matmul": {"M": 17, "K": 33, "N": 9}, "tmm": {"M": 9, "K": 21, "N": 10},
                   "batch_matmul": {"B": 2, "N": 9, "M": 10, "K": 19}}


@pytest.mark.parametrize("private", [False, True], ids=["shared", "private+shared"])
@pytest.mark.parametrize("example", [e for e in EXAMPLES_SET if e.entry in PIPELINED_SIZES], ids=lambda e: e.entry)
def test_pipelined_contractions_equal_the_reference(example, private):
    """Tiles of 8 with a tiled reduction, on 4 x 4 threads: several steps per block."""
    definition = check_source(example.source).defs[example.entry]
    options = (MappingOptions().tile(8, 8, 8, 8).mapToThreads(4, 4).useSharedMemory(True)
               .usePrivateMemory(private).pipelineShared(True))
    inputs = example.inputs(np.random.default_rng(7), PIPELINED_SIZES[example.entry])
    module = _gpu_module(example.source, example.entry, bind_sizes(definition, inputs), options)
    assert _async_ops(module)
    want = evaluate(definition, *inputs)
    for got, ref in zip(_run(module, example.entry, inputs, want), want):
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=1e-5)


def test_pipelined_copies_overlap_the_tiles_of_a_grid_stride_loop():
    """One block, the reduction inside each tile: the block's loop over its tiles of C
    is the pipelined one."""
    options = MappingOptions.parse("tile=16,16 mapToThreads=16,4 mapToBlocks=1,1 useSharedMemory=true "
                                   "pipelineShared=true")
    module = _gpu_module(MATMUL, "matmul", {"M": 40, "N": 48, "K": 20}, options)
    assert _async_ops(module) and all(len(shape) == 3 for shape in _shared_globals(module).values())
    rng = np.random.default_rng(5)
    _check_results(MATMUL, "matmul", [rng.random((40, 20), np.float32), rng.random((20, 48), np.float32)], module)


@st.composite
def gpu_options(draw):
    """Random legal options: a preset, then random scheduling and mapping knobs."""
    options = MappingOptions(draw(st.sampled_from(MappingOptions.PRESETS)))
    options.outerScheduleFusionStrategy(draw(st.sampled_from(["Max", "Preserve3Coincident", "Min"])))
    options.fixParametersBeforeScheduling(draw(st.booleans()))
    options.tile(draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 8, 32]), max_size=5)))
    options.unroll(draw(st.sampled_from([1, 2, 4, 8, 64])))
    sizes = st.sampled_from([1, 2, 3, 4, 8, 32])
    options.mapToThreads(draw(st.lists(sizes, min_size=1, max_size=3).filter(lambda t: math.prod(t) <= 1024)))
    options.mapToBlocks(draw(st.lists(st.sampled_from([1, 2, 3, 5, 256]), min_size=1, max_size=3)))
    options.usePrivateMemory(draw(st.booleans()))
    options.useSharedMemory(draw(st.booleans()))
    options.maxSharedMemory(draw(st.sampled_from([0, 0, 16, 256, 1024, 4096, 49152, 1 << 20])))
    options.unrollCopyShared(draw(st.booleans()))
    options.pipelineShared(draw(st.booleans()))
    return options


def _random_module(program, options, inputs):
    kernel = getattr(tcir.define(program.source), program.entry)
    layout = kernel.prepare(inputs)[3]
    strides = layout.pass_options()["strides"]
    return _gpu_module(program.source, program.entry, dict(layout.sizes), options, strides)


@settings(max_examples=examples(20))
@given(tc_programs(), gpu_options())
def test_random_programs_under_random_options(program, options):
    inputs = program.inputs()
    want = reference_outputs(program, inputs)
    module = _random_module(program, options, inputs)
    names = [t.name for t in check_source(program.source).defs[program.entry].outputs]
    compare_outputs(program, _run(module, program.entry, inputs, want), want, names)


@pytest.mark.skipif(nvptx.find_ptxas() is None, reason="ptxas not found (pip install nvidia-cuda-nvcc-cu12)")
@settings(max_examples=examples(6), deadline=None)
@given(tc_programs(), gpu_options(), st.sampled_from(["sm_80", "sm_90"]))
def test_random_programs_ptx_with_shared_memory_assembles(program, options, arch):
    """Shared memory of every element type (f16, bf16, i1 ...) through NVPTX and ptxas."""
    module = _random_module(program, options.useSharedMemory(True), program.inputs())
    nvptx.assemble(nvptx.ptx_for_module(module, arch), arch)
