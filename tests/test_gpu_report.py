"""`tcir.gpu_report`: the performance model of the CUDA kernels, on hand-computed cases.

The occupancy formula and the memory analysis of hand-built gpu-stage IR need nothing;
the reports of compiled defs need ptxas (registers and spills), not a GPU.
"""


import numpy as np
import pytest
from xdsl.parser import Parser

import tcir
from tcir.backends.nvptx import assemble, find_ptxas
from tcir.dialects import default_context
from tcir.tools.tc_opt import run

from tcir import gpu_model as report_module
from tcir.gpu_model import format_report, gpu_report, memory_report, occupancy, occupancy_limits

needs_ptxas = pytest.mark.skipif(find_ptxas() is None, reason="ptxas not found (pip install nvidia-cuda-nvcc-cu12)")

COPY = "def copy(float(N) A) -> (O) { O(i) = A(i) }"
STRIDED = "def strided(float(M) A) -> (O) { O(i) = A(32 * i) }"
TRANSPOSE = "def transpose(float(N, M) A) -> (O) { O(m, n) = A(n, m) }"
MATMUL = "def matmul(float(M, K) A, float(K, N) B) -> (C) { C(m, n) +=! A(m, r_k) * B(r_k, n) }"
# C is indexed (n, m): threads x walk m, so the shared copy of A is read down a column
COLUMNS = "def columns(float(M, K) A, float(K, N) B) -> (C) { C(n, m) +=! A(m, k) * B(k, n) }"
SHARED = "tile=16,16,16 mapToThreads=16,16 useSharedMemory=true"


def f32(*shape):
    return np.zeros(shape, np.float32)


# Occupancy: the CUDA occupancy calculator's formula on given numbers -----------------------


@pytest.mark.parametrize("registers, threads, shared, arch, expected", [
    (32, 256, 0, "sm_90", 1.0),       # 8 blocks of 8 warps: all 64 warps
    (128, 256, 0, "sm_90", 0.25),     # 128 * 32 = 4096 registers a warp: 4 warps per sub-partition
    (33, 256, 0, "sm_90", 0.75),      # 1056 rounded to 1280 a warp: 12 per sub-partition, 6 blocks
    (64, 256, 0, "sm_80", 0.5),       # 2048 a warp: 32 warps, 4 blocks
    (16, 32, 0, "sm_90", 0.5),        # one-warp blocks: at most 32 blocks, 32 of 64 warps
    (32, 128, 48 * 1024, "sm_90", 0.25),  # 49 KiB a block (1 KiB reserved): 4 blocks of 4 warps
    (32, 256, 0, "sm_86", 1.0),       # 48 warps: 6 blocks
    (32, 256, 0, "sm_75", 1.0),       # 32 warps: 4 blocks
    (32, 256, 48 * 1024, "sm_70", 0.25),  # 96 KiB a SM, no reserve: 2 blocks of 8 of 64 warps
])
def test_occupancy_is_hand_computed(registers, threads, shared, arch, expected):
    assert occupancy(registers, threads, shared, arch) == expected


def test_occupancy_names_its_limits():
    limits = occupancy_limits(128, 256, 0, "sm_90")
    assert limits["blocks_per_sm"] == 2 and limits["limited_by"] == ["registers"]
    assert limits["limits"] == {"warps": 8, "blocks": 32, "registers": 2, "shared": 228}
    assert occupancy_limits(16, 32)["limited_by"] == ["blocks"]


@pytest.mark.parametrize("args, message", [
    ((32, 256, 0, "sm_12"), "unknown GPU architecture 'sm_12'"),
    ((300, 256, 0, "sm_90"), "300 registers per thread; sm_90 allows 255"),
    ((32, 2048, 0, "sm_90"), "2048 threads per block"),
    ((32, 256, 300 * 1024, "sm_90"), "bytes of shared memory per block"),
])
def test_occupancy_errors(args, message):
    with pytest.raises(tcir.TcError, match=message):
        occupancy(*args)


# The memory analysis of hand-built gpu-stage IR -----------------------------------------------

def _one_kernel(arg: str, tile: str, body: str, aligned: bool = False) -> str:
    """A gpu-stage module whose host launches one kernel on 32 threads with an array
    `%A` of type `arg`; the kernel has `%tx` and, as `%s`, a shared buffer `tile` of type
    `tile` (16-byte aligned when `aligned`), then runs the lines of `body`."""
    alignment = ", alignment = 16 : i64" if aligned else ""
    return f"""
builtin.module attributes {{gpu.container_module}} {{
  func.func @f(%A: {arg}) attributes {{tcir.gpu}} {{
    %one = arith.constant 1 : index
    %n = arith.constant 32 : index
    "gpu.launch_func"(%one, %one, %one, %n, %one, %one, %A) <{{kernel = @f_kernels::@f_part0,
        operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0>}}>
        : (index, index, index, index, index, index, {arg}) -> ()
    func.return
  }}
  "gpu.module"() <{{sym_name = "f_kernels"}}> ({{
    "memref.global"() <{{sym_name = "tile", type = {tile}, initial_value,
                        sym_visibility = "private"{alignment}}}> : () -> ()
    "gpu.func"() <{{function_type = ({arg}) -> (), kernel}}> ({{
    ^bb0(%A: {arg}):
      %tx = "gpu.thread_id"() <{{dimension = #gpu<dim x>}}> : () -> index
      %s = memref.get_global @tile : {tile}
{body}
      "gpu.return"() : () -> ()
    }}) {{sym_name = "f_part0", gpu.known_block_size = array<i32: 32, 1, 1>,
        gpu.known_grid_size = array<i32: 1, 1, 1>, gpu.kernel}} : () -> ()
  }}) : () -> ()
}}
"""


def _tile_read(row: int) -> str:
    """Each thread reads tile[tx][0] twice (rows of `row` floats) and stores the square."""
    tile = f"memref<32x{row}xf32, 3 : i64>"
    return _one_kernel("memref<32xf32>", tile, f"""      %c0 = arith.constant 0 : index
      %v = memref.load %s[%tx, %c0] : {tile}
      %w = memref.load %s[%tx, %c0] : {tile}
      %p = arith.mulf %v, %w : f32
      memref.store %p, %A[%tx] : memref<32xf32>""")


def _parsed(text: str):
    return Parser(default_context(), text).parse_module()


@pytest.mark.parametrize("row, conflicts", [(32, 31.0), (33, 0.0)])
def test_a_column_of_a_shared_tile_conflicts_unless_padded(row, conflicts):
    """32 threads read tile[tx][0]: with rows of 32 words all in bank 0 (31 extra
    wavefronts), with rows of 33 in 32 banks."""
    (kernel,) = memory_report(_parsed(_tile_read(row)))
    assert kernel["shared_bank_conflicts"] == conflicts
    assert kernel["shared_bytes"] == 32 * row * 4 and kernel["block"] == [32, 1, 1]
    assert kernel["global_store_efficiency"] == 1.0 and kernel["global_sectors_per_request"] == 4.0
    # the second load of the same element is the first's value (LLVM's GVN): one request
    shared = kernel["accesses"]["shared_load"]
    assert (shared["static"], shared["redundant"], shared["warp_requests"]) == (2, 1, 1.0)
    assert kernel["fma_per_shared_load"] == 1.0


def _runs(row: int, shift: int) -> str:
    """Thread tx copies A[4 tx + shift + v] to tile[tx][v], v = 0 .. 3."""
    body = ["      %c4 = arith.constant 4 : index",
            f"      %cshift = arith.constant {shift} : index",
            "      %first = arith.muli %tx, %c4 : index",
            "      %start = arith.addi %first, %cshift : index"]
    for v in range(4):
        body += [f"      %c{v}v = arith.constant {v} : index",
                 f"      %i{v} = arith.addi %start, %c{v}v : index",
                 f"      %x{v} = memref.load %A[%i{v}] : memref<132xf32>",
                 f"      memref.store %x{v}, %s[%tx, %c{v}v] : memref<32x{row}xf32, 3 : i64>"]
    return _one_kernel("memref<132xf32>", f"memref<32x{row}xf32, 3 : i64>", "\n".join(body), aligned=True)


@pytest.mark.parametrize("row, shift, load_requests, efficiency, conflicts", [
    (4, 0, 1, 1.0, 0.0),      # one ld.global.v4 per warp (512 bytes, 16 sectors); st.shared.v4 in 4 phases
    # 4 bytes off 16: four scalar loads, each using 4 bytes of every 16 (lanes 16 bytes
    # apart from byte 4 + 4v: 16 sectors each, 17 for v = 3, whose last lane starts a sector)
    (4, 1, 4, 512 / (65 * 32), 0.0),
    (32, 0, 1, 1.0, 28.0),    # rows of 32 words: a phase's 8 lanes all write banks 0-3 (7 extra x 4)
])
def test_a_threads_consecutive_elements_are_one_vector_access(row, shift, load_requests, efficiency, conflicts):
    """Accesses by each thread of 4 consecutive elements in straight-line code are what
    LLVM's load-store vectorizer merges, when the first is 16-byte aligned: the model
    counts them as one request, served for shared memory in quarter-warp phases."""
    (kernel,) = memory_report(_parsed(_runs(row, shift)))
    loads = kernel["accesses"]["global_load"]
    assert (loads["static"], loads["warp_requests"]) == (4, load_requests)
    assert kernel["global_load_efficiency"] == efficiency
    stores = kernel["accesses"]["shared_store"]
    assert (stores["warp_requests"], kernel["shared_bank_conflicts"]) == (1, conflicts)
    vector = [d for d in kernel["access_details"] if "vector of 4" in d["access"]]
    assert len(vector) == (2 if shift == 0 else 1)


def _async_copies(row: int, elements: int, stride: int = 1, extra: str = "", after: str = "") -> str:
    """Thread tx copies `elements` floats with one tcgpu.async_copy from A[stride * elements
    * tx] to tile[tx][0] (rows of `row` floats), then runs the lines `extra` (commit, wait)
    and `after`."""
    n = 32 * stride * elements
    tile = f"memref<32x{row}xf32, 3 : i64>"
    return _one_kernel(f"memref<{n}xf32>", tile, f"""      %c0 = arith.constant 0 : index
      %step = arith.constant {stride * elements} : index
      %i = arith.muli %tx, %step : index
      tcgpu.async_copy %A[%i], %s[%tx, %c0], {elements} : memref<{n}xf32> to {tile}
{extra}{after}""", aligned=True)


WAIT = """      tcgpu.async_commit
      tcgpu.async_wait 0
"""
BARRIER = """      "gpu.barrier"() : () -> ()
"""


@pytest.mark.parametrize("row, elements, sectors, conflicts", [
    (4, 4, 16, 0.0),    # 512 contiguous bytes: 16 sectors; st.shared 16 bytes a lane, 4 conflict-free phases
    (32, 4, 16, 28.0),  # rows of 32 words: a quarter warp's 8 lanes all write banks 0-3 (7 extra x 4)
    (32, 2, 8, 30.0),   # 8 bytes a lane: two half-warp phases of 16 lanes in banks 0-1 (15 extra x 2)
    (32, 1, 4, 31.0),   # down a column of rows of 32 words: all 32 lanes in bank 0
    (33, 1, 4, 0.0),    # rows of 33: 32 banks
])
def test_an_async_copy_is_one_global_load_and_one_shared_store(row, elements, sectors, conflicts):
    """A tcgpu.async_copy of N consecutive floats per thread (cp.async) is one warp request
    of the N elements per lane in global memory and one in shared memory, counted as a
    vector access of N (the 16-byte one: as ld.global.v4 / st.shared.v4 are); no shared
    load, no register value."""
    (kernel,) = memory_report(_parsed(_async_copies(row, elements)))
    loads, stores = kernel["accesses"]["global_load"], kernel["accesses"]["shared_store"]
    assert (loads["static"], loads["warp_requests"], loads["thread_executions"]) == (1, 1.0, 32.0)
    assert (stores["static"], stores["warp_requests"]) == (1, 1.0)
    assert kernel["global_load_efficiency"] == 1.0 and kernel["global_sectors_per_request"] == sectors
    assert kernel["shared_bank_conflicts"] == conflicts
    assert kernel["accesses"]["shared_load"]["warp_requests"] == 0 and kernel["fma_per_shared_load"] is None
    assert kernel["async_copies"] == {"static": 1, "warp_requests": 1.0, "thread_executions": 32.0}
    assert kernel["unknown_accesses"] == 0 and kernel["notes"] == []
    suffix = f" ({elements} elements)" if elements > 1 else ""
    assert [(d["access"], d["kind"]) for d in kernel["access_details"]] == [
        (f"tcgpu.async_copy of %A{suffix}", "global_load"), (f"tcgpu.async_copy to %s{suffix}", "shared_store")]


@pytest.mark.parametrize("row", [4, 32])
def test_a_16_byte_async_copy_is_counted_as_the_vector_copy_is(row):
    """cp.async of 16 bytes a lane and ld.global.v4 + st.shared.v4 of the same elements:
    the same requests, sectors and conflicts."""
    (copy,) = memory_report(_parsed(_async_copies(row, 4)))
    (vector,) = memory_report(_parsed(_runs(row, 0)))
    for key in ("global_load_efficiency", "global_sectors_per_request", "shared_bank_conflicts"):
        assert copy[key] == vector[key]
    for kind in ("global_load", "shared_store"):
        assert copy["accesses"][kind]["warp_requests"] == vector["accesses"][kind]["warp_requests"] == 1.0
    assert vector["async_copies"] == {"static": 0, "warp_requests": 0.0, "thread_executions": 0.0}


def test_async_copies_of_strided_single_floats_use_4_bytes_of_each_sector():
    """N = 1, lanes 32 floats (128 bytes) apart: each lane has a sector of its own."""
    (kernel,) = memory_report(_parsed(_async_copies(33, 1, stride=32)))
    assert kernel["global_load_efficiency"] == 4 / 32 and kernel["global_sectors_per_request"] == 32.0
    assert kernel["accesses"]["global_load"]["warp_requests"] == 1.0 and kernel["shared_bank_conflicts"] == 0.0


def test_commit_and_wait_cost_nothing():
    (plain,) = memory_report(_parsed(_async_copies(32, 4)))
    (waited,) = memory_report(_parsed(_async_copies(32, 4, extra=WAIT)))
    assert waited == plain


def test_the_copied_tile_is_read_from_shared_memory_after_the_wait():
    """After commit, wait and barrier, tile[tx][0] is loaded (the copy left no value in
    registers: a shared load, counted) and squared into A."""
    after = """      %v = memref.load %s[%tx, %c0] : memref<32x33xf32, 3 : i64>
      %p = arith.mulf %v, %v : f32
      memref.store %p, %A[%tx] : memref<32xf32>"""
    (kernel,) = memory_report(_parsed(_async_copies(33, 1, extra=WAIT + BARRIER, after=after)))
    accesses = kernel["accesses"]
    assert accesses["shared_load"]["warp_requests"] == 1.0 and accesses["shared_load"]["redundant"] == 0
    assert accesses["shared_store"]["warp_requests"] == 1.0 and kernel["fma_per_shared_load"] == 1.0
    # without the barrier either, the load is not the copy's value
    (unsynced,) = memory_report(_parsed(_async_copies(33, 1, after=after)))
    assert unsynced["accesses"]["shared_load"]["redundant"] == 0


def test_a_double_buffered_async_copy_in_a_loop():
    """4 iterations, each copying 16 bytes a lane of A[128 k + 4 tx ...] into buffer k % 2
    of a memref<2x32x4xf32>: a uniform buffer index, 4 requests of each kind, coalesced
    and conflict-free; an unknown source index is a note, not a guess."""
    tile = "memref<2x32x4xf32, 3 : i64>"
    body = f"""      %c0 = arith.constant 0 : index
      %c2 = arith.constant 2 : index
      %c4 = arith.constant 4 : index
      %c128 = arith.constant 128 : index
      %c512 = arith.constant 512 : index
      %lane = arith.muli %tx, %c4 : index
      scf.for %k = %c0 to %c512 step %c128 {{
        %i = arith.addi %k, %lane : index
        %q = arith.divui %k, %c128 : index
        %b = arith.remui %q, %c2 : index
        tcgpu.async_copy %A[%i], %s[%b, %tx, %c0], 4 : memref<512xf32> to {tile}
        tcgpu.async_commit
        tcgpu.async_wait 1
      }}"""
    (kernel,) = memory_report(_parsed(_one_kernel("memref<512xf32>", tile, body, aligned=True)))
    assert kernel["accesses"]["global_load"]["warp_requests"] == 4.0
    assert kernel["accesses"]["shared_store"]["warp_requests"] == 4.0
    assert kernel["global_load_efficiency"] == 1.0 and kernel["shared_bank_conflicts"] == 0.0
    assert kernel["async_copies"] == {"static": 1, "warp_requests": 4.0, "thread_executions": 128.0}
    indirect = body.replace("%i = arith.addi %k, %lane : index",
                            "%x = memref.load %A[%k] : memref<512xf32>\n"
                            "        %y = arith.fptosi %x : f32 to i32\n"
                            "        %i = arith.index_cast %y : i32 to index")
    (kernel,) = memory_report(_parsed(_one_kernel("memref<512xf32>", tile, indirect, aligned=True)))
    assert kernel["accesses"]["global_load"]["unknown"] == 1 and kernel["accesses"]["shared_store"]["unknown"] == 0
    assert kernel["accesses"]["shared_store"]["warp_requests"] == 4.0
    assert any(note.startswith("tcgpu.async_copy of %A in f_part0: the address depends on a loaded value")
               for note in kernel["notes"])


def test_an_indirect_address_is_unknown_not_guessed():
    text = _tile_read(32).replace(
        "%v = memref.load %s[%tx, %c0]", "%i = memref.load %A[%tx] : memref<32xf32>\n"
        "      %j = arith.fptosi %i : f32 to i32\n      %k = arith.index_cast %j : i32 to index\n"
        "      %v = memref.load %s[%k, %c0]")
    (kernel,) = memory_report(_parsed(text))
    assert kernel["unknown_accesses"] == 1 and kernel["accesses"]["shared_load"]["unknown"] == 1
    assert any("depends on a loaded value" in note for note in kernel["notes"])


# Reports of compiled defs ----------------------------------------------------------------------


@needs_ptxas
def test_a_coalesced_copy():
    report = tcir.gpu_report(COPY, "copy", f32(1024))
    assert report["global_load_efficiency"] == 1.0 and report["global_store_efficiency"] == 1.0
    assert report["global_sectors_per_request"] == 4.0  # 32 lanes * 4 bytes: 4 sectors
    assert report["registers"] > 0 and report["spills"] == 0
    (kernel,) = report["kernels"]
    assert kernel["name"] == "copy_part0" and kernel["shared_bytes"] == 0
    assert report["occupancy"] == occupancy(kernel["registers"], int(np.prod(kernel["block"])), 0, "sm_90")
    assert report["shared_bank_conflicts"] is None and report["fma_per_shared_load"] is None


@needs_ptxas
@pytest.mark.parametrize("source, inputs", [(STRIDED, (f32(32 * 1024),)), (TRANSPOSE, (f32(64, 64),))])
def test_an_uncoalesced_read(source, inputs):
    """Lanes 128 and 256 bytes apart: each uses 4 bytes of its own 32-byte sector."""
    report = gpu_report(source, source.split()[1].split("(")[0], *inputs)
    assert report["global_load_efficiency"] == 4 / 32
    assert report["global_store_efficiency"] == 1.0


@needs_ptxas
def test_a_shared_tile_read_down_a_column_is_padded():
    """The copy of A is read down a column: rows of 32 floats would put the 32 lanes in
    one bank (31 extra wavefronts); convert-tc-to-gpu pads them to 33 floats, unless
    the padding does not fit in maxSharedMemory. A reduction tile of 33 needs none."""
    a, b = f32(64, 66), f32(66, 64)

    def shared_reads(options):
        (kernel,) = gpu_report(COLUMNS, "columns", a, b, options=options)["kernels"]
        return [d["bank_conflicts"] for d in kernel["access_details"] if d["kind"] == "shared_load"], \
            kernel["shared_bytes"]

    base = "mapToThreads=32,8 useSharedMemory=true"
    assert shared_reads(f"tile=32,32,32 {base}") == ([0.0, 0.0], (32 * 33 + 32 * 32) * 4)
    assert shared_reads(f"tile=32,32,32 {base} maxSharedMemory=8192") == ([31.0, 0.0], 2 * 32 * 32 * 4)
    assert shared_reads(f"tile=32,32,33 {base}") == ([0.0, 0.0], 2 * 32 * 33 * 4)


@needs_ptxas
def test_matmul_with_shared_memory():
    report = gpu_report(MATMUL, "matmul", f32(64, 64), f32(64, 64), options=SHARED)
    assert report["fma_per_shared_load"] == 0.5  # one multiply per A and B element loaded
    assert report["shared_bank_conflicts"] == 0.0 and report["global_load_efficiency"] == 1.0
    (kernel,) = report["kernels"]
    assert kernel["shared_bytes"] == 2 * 16 * 16 * 4 and kernel["block"] == [16, 16, 1]
    assert kernel["grid"] == [4, 4, 1] and report["spills"] == 0
    assert report["occupancy"] == occupancy(kernel["registers"], 256, 2048, "sm_90")
    # a 4 x 4 register tile uses each loaded element 4 times, and its 4 consecutive rows
    # of A (a column of A's copy, laid out m fastest) and 4 consecutive columns of B are
    # one vector load each: per step of the reduction, 2 loads for 16 multiplies
    tiled = gpu_report(MATMUL, "matmul", f32(64, 64), f32(64, 64),
                       options="tile=64,64,8 mapToThreads=16,16 useSharedMemory=true usePrivateMemory=true")
    assert tiled["fma_per_shared_load"] == 8.0
    # A's copy column-first, its columns padded to 68 floats: 1 + 63 + 7 * 68 elements
    assert tiled["kernels"][0]["shared_bytes"] == (540 + 8 * 64) * 4
    assert tiled["global_load_efficiency"] == tiled["global_store_efficiency"] == 1.0
    assert tiled["shared_bank_conflicts"] == 0.0
    text = format_report(report)
    assert text.startswith("gpu-report @matmul for sm_90") and "fma per shared load 0.50" in text


@needs_ptxas
def test_architectures():
    report = gpu_report(COPY, "copy", f32(256), arch="sm_86")  # sm_80 PTX, assembled for sm_86
    assert report["arch"] == "sm_86" and report["registers"] > 0
    with pytest.raises(tcir.TcError, match="needs sm_80 or newer; sm_75 is older"):
        gpu_report(COPY, "copy", f32(256), arch="sm_75")
    with pytest.raises(tcir.TcError, match="unknown GPU architecture 'sm_91'"):
        gpu_report(COPY, "copy", f32(256), arch="sm_91")


@needs_ptxas
@pytest.mark.parametrize("entry, inputs, options, message", [
    ("nope", (f32(4),), None, "no def named `nope`"),
    ("copy", (f32(4, 4),), None, "rank"),
    ("copy", (), None, r"`copy` takes 1 input \(A\), got 0"),
    ("copy", (f32(4),), "tile=banana", "tile"),
    ("copy", (f32(4),), 3, "options= must be"),
])
def test_errors(entry, inputs, options, message):
    with pytest.raises(tcir.TcError, match=message):
        gpu_report(COPY, entry, *inputs, options=options)


def test_without_ptxas_it_says_what_to_install(monkeypatch):
    monkeypatch.setattr(report_module, "find_ptxas", lambda: None)
    with pytest.raises(tcir.TcError, match="ptxas not found: pip install nvidia-cuda-nvcc-cu12"):
        gpu_report(COPY, "copy", f32(4))


def test_tcir_gpu_report_is_the_function():
    assert tcir.gpu_report is gpu_report


# tc-opt --gpu-report ---------------------------------------------------------------------------


@needs_ptxas
def test_tc_opt_prints_the_report_after_the_ptx(tmp_path, capsys):
    path = tmp_path / "matmul.tc"
    path.write_text(MATMUL)
    assert run([str(path), "--sizes", "M=64,N=64,K=64", "--mapping", SHARED, "--emit=ptx", "--gpu-report"]) == 0
    out = capsys.readouterr().out
    ptx, _, report = out.partition("// gpu-report @matmul for sm_90\n")
    assert ".visible .entry matmul_part0(" in ptx
    assert "shared bank conflicts 0.00 per request, fma per shared load 0.50" in report
    assert "kernel matmul_part0: block 16x16x1, grid 4x4x1, shared 2048 bytes" in report
    assert all(line.startswith("//") for line in report.splitlines())
    assemble(out, "sm_90")  # the report is PTX comments: the output still assembles


@needs_ptxas
def test_tc_opt_reports_a_gpu_stage_input(tmp_path, capsys):
    path = tmp_path / "tile.mlir"
    path.write_text(_tile_read(32))
    assert run([str(path), "--emit=ptx", "--gpu-report"]) == 0
    assert "shared bank conflicts 31.00 per request" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--sizes", "M=4,N=4,K=4", "--emit=gpu", "--gpu-report"],
     "error: --gpu-report describes the kernels of --emit=ptx"),
    (["--emit=ptx", "--gpu-report"], "error: lowering to `ptx` needs every size specialized"),
])
def test_tc_opt_errors(tmp_path, capsys, args, message):
    path = tmp_path / "matmul.tc"
    path.write_text(MATMUL)
    assert run([str(path), *args]) == 1
    assert message in capsys.readouterr().err
