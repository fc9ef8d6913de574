"""The gpu-stage plan reader and the CPU emulator, on hand-written gpu-stage modules.

Each module is MLIR text in the form docs/gpu.md fixes; results are compared with
NumPy. xDSL 0.74 has no custom syntax for `gpu.module`, `gpu.func`, `gpu.launch_func`,
`memref.global` and the gpu id ops: `REVERSE` is written out in generic form, the other
modules are built with `module()`, `kernel()`, `launch()` and `shared()`, and their
kernel bodies use the upstream short forms (`%tx = gpu.thread_id x`, `gpu.barrier`),
which `_generic` expands.
"""

from __future__ import annotations

import itertools
import math
import re
import time

import ml_dtypes
import numpy as np
import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from tcir import TcError
from tcir.backends.gpu_plan import Launch, MemrefSpec, ParamArg, Plan, ScalarArg, ScalarSpec, TempArg, plan
from tcir.dialects import default_context
from tcir.testing import gpu_emulator
from tcir.testing.gpu_emulator import emulate

F32 = np.dtype(np.float32)

# Reversal of 64 floats through shared memory, in the generic form tc-opt prints.
REVERSE = """
builtin.module attributes {gpu.container_module} {
  func.func @rev(%A: memref<64xf32>, %C: memref<64xf32>) attributes {tcir.gpu} {
    %c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    "gpu.launch_func"(%c1, %c1, %c1, %c64, %c1, %c1, %A, %C) <{kernel = @rev_kernels::@rev_part0,
        operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 0>}>
        : (index, index, index, index, index, index, memref<64xf32>, memref<64xf32>) -> ()
    func.return
  }
  "gpu.module"() <{sym_name = "rev_kernels"}> ({
    "memref.global"() <{sym_name = "rev_part0_shared0", type = memref<64xf32, 3 : i64>,
                        sym_visibility = "private", initial_value}> : () -> ()
    "gpu.func"() <{function_type = (memref<64xf32>, memref<64xf32>) -> (), kernel}> ({
    ^bb0(%A: memref<64xf32>, %C: memref<64xf32>):
      %tx = "gpu.thread_id"() <{dimension = #gpu<dim x>}> : () -> index
      %s = memref.get_global @rev_part0_shared0 : memref<64xf32, 3 : i64>
      %v = memref.load %A[%tx] : memref<64xf32>
      memref.store %v, %s[%tx] : memref<64xf32, 3 : i64>
      "gpu.barrier"() : () -> ()
      %c63 = arith.constant 63 : index
      %r = arith.subi %c63, %tx : index
      %w = memref.load %s[%r] : memref<64xf32, 3 : i64>
      memref.store %w, %C[%tx] : memref<64xf32>
      "gpu.return"() : () -> ()
    }) {sym_name = "rev_part0", known_block_size = array<i32: 64, 1, 1>} : () -> ()
  }) : () -> ()
}
"""


# Building modules -------------------------------------------------------------------------

_names = itertools.count()


def parse(text: str) -> ModuleOp:
    module = Parser(default_context(), text).parse_module()
    module.verify()
    return module


def _generic(body: str) -> str:
    """Kernel text with the gpu id ops and barriers in generic form."""
    body = re.sub(r"(%\w+) = gpu\.(thread_id|block_id|block_dim|grid_dim) ([xyz])",
                  r'\1 = "gpu.\2"() <{dimension = #gpu<dim \3>}> : () -> index', body)
    return body.replace("gpu.barrier", '"gpu.barrier"() : () -> ()')


def kernel(name: str, params: list[tuple[str, str]], body: str, block: tuple[int, int, int] | None = None) -> str:
    """A `gpu.func ... kernel` taking `params` (name, type), returning after `body`."""
    types = ", ".join(t for _, t in params)
    args = ", ".join(f"%{n}: {t}" for n, t in params)
    known = f", known_block_size = array<i32: {', '.join(map(str, block))}>" if block else ""
    return (f'"gpu.func"() <{{function_type = ({types}) -> (), kernel}}> ({{\n^bb0({args}):\n'
            f'{_generic(body)}\n"gpu.return"() : () -> ()\n}}) {{sym_name = "{name}"{known}}} : () -> ()')


def shared(name: str, memref_type: str) -> str:
    return (f'"memref.global"() <{{sym_name = "{name}", type = {memref_type}, sym_visibility = "private", '
            'initial_value}> : () -> ()')


def launch(name: str, grid: tuple[int, int, int], block: tuple[int, int, int], args: list[tuple[str, str]],
           kernels: str = "f_kernels") -> str:
    """Constants for the sizes, and a `gpu.launch_func` of @kernels::@name on `args` (value, type)."""
    sizes = [f"%size{next(_names)}" for _ in range(6)]
    constants = "\n".join(f"{s} = arith.constant {n} : index" for s, n in zip(sizes, (*grid, *block)))
    operands = ", ".join(sizes + [v for v, _ in args])
    types = ", ".join(["index"] * 6 + [t for _, t in args])
    return (f'{constants}\n"gpu.launch_func"({operands}) <{{kernel = @{kernels}::@{name}, operandSegmentSizes = '
            f'array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, {len(args)}, 0>}}> : ({types}) -> ()')


def module(params: list[tuple[str, str]], host: str, kernels: list[str], entry: str = "f") -> ModuleOp:
    """A gpu-stage module: host function @entry(params) doing `host`, gpu.module @f_kernels."""
    signature = ", ".join(f"%{n}: {t}" for n, t in params)
    return parse(f"""builtin.module attributes {{gpu.container_module}} {{
  func.func @{entry}({signature}) attributes {{tcir.gpu}} {{
{host}
    func.return
  }}
  "gpu.module"() <{{sym_name = "f_kernels"}}> ({{
{chr(10).join(kernels)}
  }}) : () -> ()
}}""")


def one_kernel(params: list[tuple[str, str]], body: str, grid=(1, 1, 1), block=(64, 1, 1),
               globals_: list[str] = ()) -> ModuleOp:
    """A module whose host function launches one kernel @k on all its parameters."""
    host = launch("k", grid, block, [(f"%{n}", t) for n, t in params])
    return module(params, host, [*globals_, kernel("k", params, body)])


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# Shared memory and barriers ------------------------------------------------------------------


def test_reverse_through_shared_memory_in_the_generic_form():
    A = rng().standard_normal(64).astype(np.float32)
    C = np.zeros(64, np.float32)
    emulate(parse(REVERSE), "rev", [A, C])
    np.testing.assert_array_equal(C, A[::-1])


def test_reverse_without_the_barrier_is_a_race():
    racy = parse(REVERSE.replace('"gpu.barrier"() : () -> ()', ""))
    with pytest.raises(TcError, match=r"kernel @rev_part0: data race on shared memory @rev_part0_shared0 \[\d+\]"):
        emulate(racy, "rev", [np.ones(64, np.float32), np.zeros(64, np.float32)])


def test_shared_memory_is_per_block_and_poisoned():
    """Each of 4 blocks reverses its own 32 elements; a block that reads shared memory
    nobody wrote gets NaN (floats) or bytes 0xA5 (integers)."""
    params = [("A", "memref<128xf32>"), ("C", "memref<128xf32>"), ("P", "memref<128xf32>"), ("Q", "memref<128xi32>")]
    body = """
      %tx = gpu.thread_id x
      %bx = gpu.block_id x
      %n = gpu.block_dim x
      %base = arith.muli %bx, %n : index
      %i = arith.addi %base, %tx : index
      %s = memref.get_global @s : memref<32xf32, 3 : i64>
      %v = memref.load %A[%i] : memref<128xf32>
      memref.store %v, %s[%tx] : memref<32xf32, 3 : i64>
      gpu.barrier
      %c31 = arith.constant 31 : index
      %r = arith.subi %c31, %tx : index
      %w = memref.load %s[%r] : memref<32xf32, 3 : i64>
      memref.store %w, %C[%i] : memref<128xf32>
      %u = memref.get_global @u : memref<32xf32, 3 : i64>
      %x = memref.load %u[%tx] : memref<32xf32, 3 : i64>
      memref.store %x, %P[%i] : memref<128xf32>
      %t = memref.get_global @t : memref<32xi32, 3 : i64>
      %y = memref.load %t[%tx] : memref<32xi32, 3 : i64>
      memref.store %y, %Q[%i] : memref<128xi32>"""
    m = one_kernel(params, body, grid=(4, 1, 1), block=(32, 1, 1), globals_=[
        shared("s", "memref<32xf32, 3 : i64>"), shared("u", "memref<32xf32, 3 : i64>"),
        shared("t", "memref<32xi32, 3 : i64>")])
    A = np.arange(128, dtype=np.float32)
    C, P, Q = np.zeros(128, np.float32), np.zeros(128, np.float32), np.zeros(128, np.int32)
    emulate(m, "f", [A, C, P, Q])
    np.testing.assert_array_equal(C, A.reshape(4, 32)[:, ::-1].ravel())
    assert np.isnan(P).all()
    assert (Q == np.int32(np.uint32(0xA5A5A5A5).view(np.int32))).all()


TREE_SUM = """
      %tx = gpu.thread_id x
      %bx = gpu.block_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c8 = arith.constant 8 : index
      %c128 = arith.constant 128 : index
      %c256 = arith.constant 256 : index
      %base = arith.muli %bx, %c256 : index
      %i = arith.addi %base, %tx : index
      %s = memref.get_global @s : memref<256xf32, 3 : i64>
      %v = memref.load %A[%i] : memref<2048xf32>
      memref.store %v, %s[%tx] : memref<256xf32, 3 : i64>
      gpu.barrier
      scf.for %k = %c0 to %c8 step %c1 {
        %half = arith.shrui %c128, %k : index
        %active = arith.cmpi ult, %tx, %half : index
        scf.if %active {
          %j = arith.addi %tx, %half : index
          %a = memref.load %s[%tx] : memref<256xf32, 3 : i64>
          %b = memref.load %s[%j] : memref<256xf32, 3 : i64>
          %sum = arith.addf %a, %b : f32
          memref.store %sum, %s[%tx] : memref<256xf32, 3 : i64>
        }
        gpu.barrier
      }
      %first = arith.cmpi eq, %tx, %c0 : index
      scf.if %first {
        %total = memref.load %s[%c0] : memref<256xf32, 3 : i64>
        memref.store %total, %C[%bx] : memref<8xf32>
      }"""


def tree_sum(body: str = TREE_SUM) -> ModuleOp:
    return one_kernel([("A", "memref<2048xf32>"), ("C", "memref<8xf32>")], body, grid=(8, 1, 1),
                      block=(256, 1, 1), globals_=[shared("s", "memref<256xf32, 3 : i64>")])


def test_block_tree_reduction_with_barriers_in_a_loop():
    A = rng().standard_normal(2048).astype(np.float32)
    C = np.zeros(8, np.float32)
    emulate(tree_sum(), "f", [A, C])
    np.testing.assert_allclose(C, A.reshape(8, 256).sum(axis=1, dtype=np.float64), rtol=1e-5, atol=1e-5)


def test_tree_reduction_without_the_loop_barrier_is_a_race():
    racy = tree_sum(TREE_SUM.replace("        }\n        gpu.barrier\n      }", "        }\n      }"))
    with pytest.raises(TcError, match=r"data race on shared memory @s \[\d+\]: thread \(\d+, 0, 0\) of block"):
        emulate(racy, "f", [np.ones(2048, np.float32), np.zeros(8, np.float32)])


MATMUL = """
      %tx = gpu.thread_id x
      %ty = gpu.thread_id y
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c16 = arith.constant 16 : index
      %c48 = arith.constant 48 : index
      %row0 = arith.muli %by, %c16 : index
      %row = arith.addi %row0, %ty : index
      %col0 = arith.muli %bx, %c16 : index
      %col = arith.addi %col0, %tx : index
      %As = memref.get_global @As : memref<16x16xf32, 3 : i64>
      %Bs = memref.get_global @Bs : memref<16x16xf32, 3 : i64>
      %zero = arith.constant 0.0 : f32
      %res = scf.for %kt = %c0 to %c48 step %c16 iter_args(%acc = %zero) -> (f32) {
        %ak = arith.addi %kt, %tx : index
        %a = memref.load %A[%row, %ak] : memref<64x48xf32>
        memref.store %a, %As[%ty, %tx] : memref<16x16xf32, 3 : i64>
        %bk = arith.addi %kt, %ty : index
        %b = memref.load %B[%bk, %col] : memref<48x64xf32>
        memref.store %b, %Bs[%ty, %tx] : memref<16x16xf32, 3 : i64>
        gpu.barrier
        %part = scf.for %k = %c0 to %c16 step %c1 iter_args(%sum = %acc) -> (f32) {
          %x = memref.load %As[%ty, %k] : memref<16x16xf32, 3 : i64>
          %y = memref.load %Bs[%k, %tx] : memref<16x16xf32, 3 : i64>
          %p = arith.mulf %x, %y : f32
          %n = arith.addf %sum, %p : f32
          scf.yield %n : f32
        }
        gpu.barrier
        scf.yield %part : f32
      }
      memref.store %res, %C[%row, %col] : memref<64x64xf32>"""


def matmul(body: str = MATMUL) -> ModuleOp:
    params = [("A", "memref<64x48xf32>"), ("B", "memref<48x64xf32>"), ("C", "memref<64x64xf32>")]
    return one_kernel(params, body, grid=(4, 4, 1), block=(16, 16, 1), globals_=[
        shared("As", "memref<16x16xf32, 3 : i64>"), shared("Bs", "memref<16x16xf32, 3 : i64>")])


def test_tiled_matmul_with_shared_memory_and_a_2d_grid():
    A = rng().standard_normal((64, 48)).astype(np.float32)
    B = rng().standard_normal((48, 64)).astype(np.float32)
    C = np.zeros((64, 64), np.float32)
    emulate(matmul(), "f", [A, B, C])
    np.testing.assert_allclose(C, A @ B, rtol=1e-5, atol=1e-5)


def test_tiled_matmul_without_the_second_barrier_is_a_race():
    racy = matmul(MATMUL.replace("        gpu.barrier\n        scf.yield %part", "        scf.yield %part"))
    with pytest.raises(TcError, match=r"data race on shared memory @[AB]s \[\d+, \d+\]: .* writes it and .* read it "
                                      r"since the last gpu.barrier"):
        emulate(racy, "f", [np.ones((64, 48), np.float32), np.ones((48, 64), np.float32),
                            np.zeros((64, 64), np.float32)])


def test_a_barrier_inside_a_block_uniform_branch_is_fine():
    body = """
      %tx = gpu.thread_id x
      %bx = gpu.block_id x
      %c0 = arith.constant 0 : index
      %first = arith.cmpi eq, %bx, %c0 : index
      scf.if %first {
        gpu.barrier
      }
      %v = arith.index_cast %bx : index to i32
      %n = gpu.block_dim x
      %base = arith.muli %bx, %n : index
      %i = arith.addi %base, %tx : index
      memref.store %v, %C[%i] : memref<128xi32>"""
    C = np.zeros(128, np.int32)
    emulate(one_kernel([("C", "memref<128xi32>")], body, grid=(4, 1, 1), block=(32, 1, 1)), "f", [C])
    np.testing.assert_array_equal(C, np.repeat(np.arange(4), 32))


@pytest.mark.parametrize("body", [
    """%tx = gpu.thread_id x
      %c16 = arith.constant 16 : index
      %low = arith.cmpi ult, %tx, %c16 : index
      scf.if %low {
        gpu.barrier
      }""",
    """%tx = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      scf.for %k = %c0 to %tx step %c1 {
        gpu.barrier
      }""",
], ids=["if", "thread-dependent-loop"])
def test_divergent_barrier_is_an_error_at_once(body):
    start = time.perf_counter()
    with pytest.raises(TcError, match=r"kernel @k: divergent gpu.barrier: \d+ of the 64 threads of a block reach it, "
                                      r"the others \(the first: thread \(\d+, 0, 0\) of block \(0, 0, 0\)\) do not"):
        emulate(one_kernel([("C", "memref<64xf32>")], body), "f", [np.zeros(64, np.float32)])
    assert time.perf_counter() - start < 2


# Asynchronous copies (tcgpu) -------------------------------------------------------------------

# Each of 16 threads of a block copies a run of 4 floats of A into shared memory, then
# writes the next thread's run to C: C is A rolled by -4 within each block's 64 floats.
ASYNC_ROLL = """
      %tx = gpu.thread_id x
      %bx = gpu.block_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %c64 = arith.constant 64 : index
      %j = arith.muli %tx, %c4 : index
      %base = arith.muli %bx, %c64 : index
      %g = arith.addi %base, %j : index
      %s = memref.get_global @s : memref<64xf32, 3 : i64>
      tcgpu.async_copy %A[%g], %s[%j], 4 : memref<128xf32> to memref<64xf32, 3 : i64>
      tcgpu.async_commit
      tcgpu.async_wait 0
      gpu.barrier
      scf.for %k = %c0 to %c4 step %c1 {
        %next = arith.addi %j, %c4 : index
        %m = arith.addi %next, %k : index
        %r = arith.remui %m, %c64 : index
        %v = memref.load %s[%r] : memref<64xf32, 3 : i64>
        %o = arith.addi %g, %k : index
        memref.store %v, %C[%o] : memref<128xf32>
      }"""


def async_roll(body: str = ASYNC_ROLL) -> ModuleOp:
    return one_kernel([("A", "memref<128xf32>"), ("C", "memref<128xf32>")], body, grid=(2, 1, 1),
                      block=(16, 1, 1), globals_=[shared("s", "memref<64xf32, 3 : i64>")])


def test_async_copies_land_at_the_wait():
    A = rng().standard_normal(128).astype(np.float32)
    C = np.zeros(128, np.float32)
    emulate(async_roll(), "f", [A, C])
    np.testing.assert_array_equal(C, np.roll(A.reshape(2, 64), -4, axis=1).ravel())


def test_async_copies_without_the_wait_never_land():
    """The barrier orders the reads after the copies' start, not after their landing: the
    reads get the shared memory's poison."""
    C = np.zeros(128, np.float32)
    emulate(async_roll(ASYNC_ROLL.replace("tcgpu.async_wait 0", "")), "f", [np.ones(128, np.float32), C])
    assert np.isnan(C).all()


# Three steps through two shared buffers, the copy of step s + 1 in flight while step s
# is read: C[s] is A[s] rolled by -4.
DOUBLE_BUFFERED = """
      %tx = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c3 = arith.constant 3 : index
      %c4 = arith.constant 4 : index
      %c64 = arith.constant 64 : index
      %j = arith.muli %tx, %c4 : index
      %s = memref.get_global @s : memref<2x64xf32, 3 : i64>
      tcgpu.async_copy %A[%c0, %j], %s[%c0, %j], 4 : memref<3x64xf32> to memref<2x64xf32, 3 : i64>
      tcgpu.async_commit
      scf.for %step = %c0 to %c3 step %c1 {
        %next = arith.addi %step, %c1 : index
        %more = arith.cmpi ult, %next, %c3 : index
        scf.if %more {
          %nb = arith.remui %next, %c2 : index
          tcgpu.async_copy %A[%next, %j], %s[%nb, %j], 4 : memref<3x64xf32> to memref<2x64xf32, 3 : i64>
        }
        tcgpu.async_commit
        tcgpu.async_wait 1
        gpu.barrier
        %b = arith.remui %step, %c2 : index
        scf.for %k = %c0 to %c4 step %c1 {
          %n = arith.addi %j, %c4 : index
          %m = arith.addi %n, %k : index
          %r = arith.remui %m, %c64 : index
          %v = memref.load %s[%b, %r] : memref<2x64xf32, 3 : i64>
          %o = arith.addi %j, %k : index
          memref.store %v, %C[%step, %o] : memref<3x64xf32>
        }
        gpu.barrier
      }"""


def double_buffered(body: str = DOUBLE_BUFFERED) -> ModuleOp:
    return one_kernel([("A", "memref<3x64xf32>"), ("C", "memref<3x64xf32>")], body, block=(16, 1, 1),
                      globals_=[shared("s", "memref<2x64xf32, 3 : i64>")])


def test_double_buffered_async_copies():
    A = rng().standard_normal((3, 64)).astype(np.float32)
    C = np.zeros((3, 64), np.float32)
    emulate(double_buffered(), "f", [A, C])
    np.testing.assert_array_equal(C, np.roll(A, -4, axis=1))


def test_double_buffering_waiting_for_too_few_groups_reads_stale_data():
    """With two groups left pending, step s's copy has not landed when step s reads: steps 0
    and 1 read poison, step 2 what step 0's copy left in its buffer."""
    A = rng().standard_normal((3, 64)).astype(np.float32)
    C = np.zeros((3, 64), np.float32)
    emulate(double_buffered(DOUBLE_BUFFERED.replace("async_wait 1", "async_wait 2")), "f", [A, C])
    assert np.isnan(C[:2]).all()
    np.testing.assert_array_equal(C[2], np.roll(A[0], -4))


@pytest.mark.parametrize("make, shape, race", [
    # the next thread's run is read without the barrier after its copy landed
    (lambda: async_roll(ASYNC_ROLL.replace("gpu.barrier", "")), 128,
     r"\[4\]: thread \(0, 0, 0\) of block \(0, 0, 0\) reads it and thread \(1, 0, 0\) of block \(0, 0, 0\) wrote it"),
    # step 1's copy into buffer 0 starts without the barrier after step 0's reads of it
    (lambda: double_buffered(DOUBLE_BUFFERED.replace("gpu.barrier\n      }", "}")), (3, 64),
     r"\[0, 0\]: thread \(0, 0, 0\) of block \(0, 0, 0\) writes it and thread \(15, 0, 0\) of block "
     r"\(0, 0, 0\) read it"),
], ids=["copy-then-read", "read-then-copy"])
def test_an_async_copy_racing_with_a_read_is_a_race(make, shape, race):
    with pytest.raises(TcError, match=rf"kernel @k: data race on shared memory @s {race} since the last gpu.barrier"):
        emulate(make(), "f", [np.ones(shape, np.float32), np.zeros(shape, np.float32)])


def test_an_out_of_bounds_async_copy_is_an_error():
    """Thread 15 of block 1 copies A[125..128] of 128 floats."""
    m = async_roll(ASYNC_ROLL.replace("tcgpu.async_copy %A[%g]", "%g1 = arith.addi %g, %c1 : index\n"
                                      "      tcgpu.async_copy %A[%g1]"))
    with pytest.raises(TcError, match=r"kernel @k: tcgpu.async_copy of argument %A \[125..128\] is out of bounds "
                                      r"\(shape \[128\]\) \(thread \(15, 0, 0\) of block \(1, 0, 0\)\)"):
        emulate(m, "f", [np.ones(128, np.float32), np.zeros(128, np.float32)])


# Grids, guards, private memory, launches ------------------------------------------------------


GUARDED_ADD = """
      %tx = gpu.thread_id x
      %ty = gpu.thread_id y
      %bx = gpu.block_id x
      %by = gpu.block_id y
      %c4 = arith.constant 4 : index
      %c8 = arith.constant 8 : index
      %c37 = arith.constant 37 : index
      %c50 = arith.constant 50 : index
      %j0 = arith.muli %bx, %c8 : index
      %j = arith.addi %j0, %tx : index
      %i0 = arith.muli %by, %c4 : index
      %i = arith.addi %i0, %ty : index
      %in_i = arith.cmpi slt, %i, %c37 : index
      %in_j = arith.cmpi slt, %j, %c50 : index
      %inside = arith.andi %in_i, %in_j : i1
      scf.if %inside {
        %a = memref.load %A[%i, %j] : memref<37x50xf32>
        %b = memref.load %B[%j] : memref<50xf32>
        %s = arith.addf %a, %b : f32
        memref.store %s, %C[%i, %j] : memref<37x50xf32>
      }"""
GUARDED_PARAMS = [("A", "memref<37x50xf32>"), ("B", "memref<50xf32>"), ("C", "memref<37x50xf32>")]


def test_2d_grid_with_partial_tile_guards():
    A = rng().standard_normal((37, 50)).astype(np.float32)
    B = rng().standard_normal(50).astype(np.float32)
    C = np.full((37, 50), -1.0, np.float32)
    emulate(one_kernel(GUARDED_PARAMS, GUARDED_ADD, grid=(7, 10, 1), block=(8, 4, 1)), "f", [A, B, C])
    np.testing.assert_array_equal(C, A + B)


def test_an_unguarded_partial_tile_is_out_of_bounds():
    unguarded = GUARDED_ADD.replace("scf.if %inside {", "scf.if %in_i {")
    with pytest.raises(TcError, match=r"kernel @k: load of argument %A \[\d+, 5\d\] is out of bounds \(shape "
                                      r"\[37, 50\]\) \(thread \(\d, \d, 0\) of block \(6, \d+, 0\)\)"):
        emulate(one_kernel(GUARDED_PARAMS, unguarded, grid=(7, 10, 1), block=(8, 4, 1)), "f",
                [np.zeros((37, 50), np.float32), np.zeros(50, np.float32), np.zeros((37, 50), np.float32)])


def test_private_memory_accumulates_per_thread():
    """Each thread sums its row of A into 4 private partial sums (column k into k % 4)."""
    body = """
      %tx = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c4 = arith.constant 4 : index
      %c32 = arith.constant 32 : index
      %zero = arith.constant 0.0 : f32
      %p = memref.alloca() : memref<4xf32>
      scf.for %q = %c0 to %c4 step %c1 {
        memref.store %zero, %p[%q] : memref<4xf32>
      }
      scf.for %k = %c0 to %c32 step %c1 {
        %q = arith.remui %k, %c4 : index
        %a = memref.load %A[%tx, %k] : memref<64x32xf32>
        %old = memref.load %p[%q] : memref<4xf32>
        %new = arith.addf %old, %a : f32
        memref.store %new, %p[%q] : memref<4xf32>
      }
      %total = scf.for %q = %c0 to %c4 step %c1 iter_args(%acc = %zero) -> (f32) {
        %v = memref.load %p[%q] : memref<4xf32>
        %s = arith.addf %acc, %v : f32
        scf.yield %s : f32
      }
      memref.store %total, %C[%tx] : memref<64xf32>
      %u = memref.alloca() : memref<2xf32>
      %x = memref.load %u[%c1] : memref<2xf32>
      memref.store %x, %P[%tx] : memref<64xf32>"""
    A = rng().integers(-8, 8, (64, 32)).astype(np.float32)
    C, P = np.zeros(64, np.float32), np.zeros(64, np.float32)
    params = [("A", "memref<64x32xf32>"), ("C", "memref<64xf32>"), ("P", "memref<64xf32>")]
    emulate(one_kernel(params, body), "f", [A, C, P])
    np.testing.assert_array_equal(C, A.sum(axis=1))
    assert np.isnan(P).all()  # private memory starts uninitialized too


def test_thread_dependent_loop_bounds_and_if_results():
    """Thread t sums A[t:64]; odd threads negate through an scf.if that yields."""
    body = """
      %tx = gpu.thread_id x
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 2 : index
      %c64 = arith.constant 64 : index
      %zero = arith.constant 0.0 : f32
      %sum = scf.for %k = %tx to %c64 step %c1 iter_args(%acc = %zero) -> (f32) {
        %a = memref.load %A[%k] : memref<64xf32>
        %s = arith.addf %acc, %a : f32
        scf.yield %s : f32
      }
      %parity = arith.remui %tx, %c2 : index
      %odd = arith.cmpi ne, %parity, %zeroi : index
      %r = scf.if %odd -> (f32) {
        %n = arith.negf %sum : f32
        scf.yield %n : f32
      } else {
        scf.yield %sum : f32
      }
      memref.store %r, %C[%tx] : memref<64xf32>""".replace("%zeroi", "%c0").replace(
        "%c1 = arith", "%c0 = arith.constant 0 : index\n      %c1 = arith")
    A = rng().integers(-8, 8, 64).astype(np.float32)
    C = np.zeros(64, np.float32)
    emulate(one_kernel([("A", "memref<64xf32>"), ("C", "memref<64xf32>")], body), "f", [A, C])
    expected = np.cumsum(A[::-1])[::-1]
    np.testing.assert_array_equal(C, np.where(np.arange(64) % 2 == 1, -expected, expected))


SCALED = [
    kernel("first", [("A", "memref<64xf32>"), ("t", "memref<64xf32>")], """
      %tx = gpu.thread_id x
      %old = memref.load %t[%tx] : memref<64xf32>
      %a = memref.load %A[%tx] : memref<64xf32>
      %s = arith.addf %old, %a : f32
      memref.store %s, %t[%tx] : memref<64xf32>"""),
    kernel("second", [("t", "memref<64xf32>"), ("k", "f32"), ("s", "f32"), ("C", "memref<64xf32>"),
                      ("D", "memref<f32>")], """
      %tx = gpu.thread_id x
      %c0 = arith.constant 0 : index
      %c63 = arith.constant 63 : index
      %r = arith.subi %c63, %tx : index
      %a = memref.load %t[%tx] : memref<64xf32>
      %b = memref.load %t[%r] : memref<64xf32>
      %ka = arith.mulf %k, %a : f32
      %kab = arith.addf %ka, %b : f32
      %v = arith.mulf %kab, %s : f32
      memref.store %v, %C[%tx] : memref<64xf32>
      %first = arith.cmpi eq, %tx, %c0 : index
      scf.if %first {
        memref.store %s, %D[] : memref<f32>
      }""", block=(64, 1, 1)),
]


def scaled_module() -> ModuleOp:
    """Two launches through a temporary, with a constant and a host scalar as kernel arguments."""
    host = "\n".join([
        "%t = memref.alloc() : memref<64xf32>",
        "%two = arith.constant 2.0 : f32",
        launch("first", (1, 1, 1), (64, 1, 1), [("%A", "memref<64xf32>"), ("%t", "memref<64xf32>")]),
        launch("second", (1, 1, 1), (64, 1, 1), [("%t", "memref<64xf32>"), ("%two", "f32"), ("%s", "f32"),
                                                 ("%C", "memref<64xf32>"), ("%D", "memref<f32>")]),
        "memref.dealloc %t : memref<64xf32>",
    ])
    params = [("A", "memref<64xf32>"), ("s", "f32"), ("C", "memref<64xf32>"), ("D", "memref<f32>")]
    return module(params, host, SCALED)


def test_plan_of_two_launches_through_a_temporary():
    vector = MemrefSpec((64,), F32, (1,), 0)
    assert plan(scaled_module(), "f") == Plan(
        "f", (vector, ScalarSpec(F32), vector, MemrefSpec((), F32, (), 0)), (vector,), (
            Launch("first", (1, 1, 1), (64, 1, 1), (ParamArg(0), TempArg(0)), "f_kernels"),
            Launch("second", (1, 1, 1), (64, 1, 1),
                   (TempArg(0), ScalarArg(2.0, F32), ParamArg(1), ParamArg(2), ParamArg(3)), "f_kernels"),
        ))


def test_launches_run_in_order_with_a_zero_filled_temporary():
    A = rng().integers(-8, 8, 64).astype(np.float32)
    C, D = np.zeros(64, np.float32), np.zeros((), np.float32)
    m = scaled_module()
    for _ in range(2):  # a fresh temporary on every call
        emulate(m, "f", [A, 0.5, C, D])
        np.testing.assert_array_equal(C, (2 * A + A[::-1]) * 0.5)
        assert D == 0.5


def test_strided_input_as_its_memref_layout_says():
    params = [("A", "memref<8x16xf32, strided<[1, 8]>>"), ("C", "memref<8x16xf32>")]
    body = """
      %tx = gpu.thread_id x
      %ty = gpu.thread_id y
      %a = memref.load %A[%ty, %tx] : memref<8x16xf32, strided<[1, 8]>>
      memref.store %a, %C[%ty, %tx] : memref<8x16xf32>"""
    m = one_kernel(params, body, block=(16, 8, 1))
    assert plan(m, "f").params[0] == MemrefSpec((8, 16), F32, (1, 8), 0)
    X = rng().standard_normal((8, 16)).astype(np.float32)
    C = np.zeros((8, 16), np.float32)
    emulate(m, "f", [np.asfortranarray(X), C])
    np.testing.assert_array_equal(C, X)
    with pytest.raises(TcError, match=r"argument #0 of @f has element strides \(16, 1\), but its memref layout "
                                      r"has \(1, 8\)"):
        emulate(m, "f", [X, C])


# Element types and arithmetic ------------------------------------------------------------------

TYPES = {
    "f16": np.float16, "bf16": ml_dtypes.bfloat16, "f32": np.float32, "f64": np.float64,
    "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
}


@pytest.mark.parametrize("element", TYPES)
def test_arithmetic_stays_in_the_element_type(element):
    """y = x * x + x / 3 (integers wrap, divide truncating), in the type."""
    dtype = np.dtype(TYPES[element])
    is_float = dtype.kind == "f" or dtype == ml_dtypes.bfloat16
    add, mul, div = ("addf", "mulf", "divf") if is_float else ("addi", "muli", "divsi")
    three = "3.0" if is_float else "3"
    body = f"""
      %tx = gpu.thread_id x
      %three = arith.constant {three} : {element}
      %x = memref.load %X[%tx] : memref<64x{element}>
      %xx = arith.{mul} %x, %x : {element}
      %d = arith.{div} %x, %three : {element}
      %y = arith.{add} %xx, %d : {element}
      memref.store %y, %Y[%tx] : memref<64x{element}>"""
    m = one_kernel([("X", f"memref<64x{element}>"), ("Y", f"memref<64x{element}>")], body)
    if is_float:
        X = rng().standard_normal(64).astype(dtype) * dtype.type(100)
        expected = X * X + X / dtype.type(3)
    else:
        info = np.iinfo(dtype)
        X = rng().integers(info.min, info.max, 64, endpoint=True).astype(dtype)
        expected = X * X + (np.abs(X.astype(object)) // 3 * np.sign(X)).astype(dtype)  # C division
    Y = np.zeros(64, dtype)
    emulate(m, "f", [X, Y])
    np.testing.assert_array_equal(Y.view(np.uint8), expected.view(np.uint8))  # bit-exact, bf16 included


def test_signless_integers_take_either_signedness():
    body = """
      %tx = gpu.thread_id x
      %x = memref.load %X[%tx] : memref<64xi8>
      %y = arith.addi %x, %x : i8
      memref.store %y, %Y[%tx] : memref<64xi8>"""
    m = one_kernel([("X", "memref<64xi8>"), ("Y", "memref<64xi8>")], body)
    X = np.arange(64, dtype=np.uint8) * 4
    Y = np.zeros(64, np.uint8)
    emulate(m, "f", [X, Y])
    np.testing.assert_array_equal(Y, X + X)


def test_integer_semantics_of_signed_and_unsigned_ops():
    ops = ["divsi", "remsi", "divui", "remui", "floordivsi", "ceildivsi", "maxsi", "maxui", "shrsi", "shrui"]
    body = "\n".join(["%tx = gpu.thread_id x",
                      "%a = memref.load %A[%tx] : memref<16xi32>",
                      "%b = memref.load %B[%tx] : memref<16xi32>"]
                     + [f"""%r{k} = arith.{op} %a, %b : i32
      %k{k} = arith.constant {k} : index
      memref.store %r{k}, %C[%k{k}, %tx] : memref<{len(ops)}x16xi32>""" for k, op in enumerate(ops)])
    params = [("A", "memref<16xi32>"), ("B", "memref<16xi32>"), ("C", f"memref<{len(ops)}x16xi32>")]
    m = one_kernel(params, body, block=(16, 1, 1))
    A = np.array([7, -7, 7, -7, -2**31, 100, -100, 0, 1, -1, 2**31 - 1, 5, -5, 9, -9, 3], np.int32)
    B = np.array([2, 2, -2, -2, -1, 7, 7, 3, 1, 3, 2, 1, 1, 4, 4, 3], np.int32)
    C = np.zeros((len(ops), 16), np.int32)
    emulate(m, "f", [A, B, C])
    a, b = A.astype(np.int64), B.astype(np.int64)
    ua, ub = A.view(np.uint32).astype(np.int64), B.view(np.uint32).astype(np.int64)
    trunc = np.sign(a) * np.sign(b) * (np.abs(a) // np.abs(b))
    expected = [trunc, a - trunc * b, ua // ub, ua % ub, a // b, -(-a // b), np.maximum(a, b),
                np.maximum(ua, ub), a >> b, ua >> ub]
    for op, row, want in zip(ops, C, expected):
        np.testing.assert_array_equal(row, want.astype(np.int32), err_msg=op)


def test_casts_and_comparisons():
    body = """
      %tx = gpu.thread_id x
      %x = memref.load %X[%tx] : memref<8xf32>
      %h = arith.truncf %x : f32 to f16
      %b = arith.truncf %x : f32 to bf16
      %hb = arith.extf %h : f16 to f32
      %bb = arith.extf %b : bf16 to f32
      %s = arith.addf %hb, %bb : f32
      memref.store %s, %F[%tx] : memref<8xf32>
      %i = arith.fptosi %x : f32 to i32
      %nan = arith.cmpf uno, %x, %x : f32
      %w = arith.extui %nan : i1 to i32
      %l = arith.index_cast %tx : index to i32
      %lt = arith.cmpf olt, %x, %zero : f32
      %m = arith.select %lt, %l, %i : i32
      %sum = arith.addi %m, %w : i32
      memref.store %sum, %I[%tx] : memref<8xi32>""".replace(
        "%lt = ", "%zero = arith.constant 0.0 : f32\n      %lt = ")
    params = [("X", "memref<8xf32>"), ("F", "memref<8xf32>"), ("I", "memref<8xi32>")]
    X = np.array([1.0009765625, 2.5, -3.75, 1e-3, 65504.0, np.nan, 7.9, -0.0], np.float32)
    F, I = np.zeros(8, np.float32), np.zeros(8, np.int32)
    emulate(one_kernel(params, body, block=(8, 1, 1)), "f", [X, F, I])
    np.testing.assert_array_equal(F, X.astype(np.float16).astype(np.float32)
                                  + X.astype(ml_dtypes.bfloat16).astype(np.float32))
    with np.errstate(invalid="ignore"):
        truncated = np.trunc(np.nan_to_num(X)).astype(np.int32)
    expected = np.where(X < 0, np.arange(8), truncated) + np.isnan(X)
    np.testing.assert_array_equal(I[~np.isnan(X)], expected[~np.isnan(X)])
    assert I[5] & 1 == 1  # NaN: fptosi is undefined, the uno comparison is true


def test_math_ops_and_tc_builtins_compute_as_the_reference():
    body = """
      %tx = gpu.thread_id x
      %x = memref.load %X[%tx] : memref<64xf32>
      %e = math.exp %x : f32
      %t = math.tanh %x : f32
      %r = math.erf %x : f32
      %j = tc.builtin "normcdf"(%x) : (f32) -> f32
      %et = arith.addf %e, %t : f32
      %rj = arith.addf %r, %j : f32
      %y = arith.mulf %et, %rj : f32
      memref.store %y, %Y[%tx] : memref<64xf32>"""
    X = rng().uniform(-3, 3, 64).astype(np.float32)
    Y = np.zeros(64, np.float32)
    emulate(one_kernel([("X", "memref<64xf32>"), ("Y", "memref<64xf32>")], body), "f", [X, Y])
    x = X.astype(np.float64)
    erf = np.vectorize(math.erf)
    expected = (np.exp(x) + np.tanh(x)) * (erf(x) + 0.5 * (1 + erf(x / math.sqrt(2))))
    np.testing.assert_allclose(Y, expected, rtol=1e-5)


# Races across blocks --------------------------------------------------------------------------


@pytest.mark.parametrize("lanes, verb", [(1 << 15, "writes"), (64, "wrote")], ids=["lockstep", "one-block-groups"])
def test_two_blocks_writing_one_global_element_is_a_race(monkeypatch, lanes, verb):
    """Blocks run together, or one after the other (groups of one block): a race either way."""
    monkeypatch.setattr(gpu_emulator, "LANES_PER_GROUP", lanes)
    body = """
      %tx = gpu.thread_id x
      %v = arith.constant 1.0 : f32
      memref.store %v, %C[%tx] : memref<64xf32>"""
    m = one_kernel([("C", "memref<64xf32>")], body, grid=(2, 1, 1))
    with pytest.raises(TcError, match=r"data race on argument %C \[0\]: thread \(0, 0, 0\) of block \(1, 0, 0\) "
                                      rf"writes it and thread \(0, 0, 0\) of block \(0, 0, 0\) {verb} it "
                                      r"in the same launch \(blocks are not ordered\)"):
        emulate(m, "f", [np.zeros(64, np.float32)])
    emulate(m, "f", [np.zeros(64, np.float32)], check_races=False)


def test_a_block_writing_what_another_block_read_is_a_race():
    body = """
      %tx = gpu.thread_id x
      %bx = gpu.block_id x
      %c0 = arith.constant 0 : index
      %v = memref.load %C[%tx] : memref<64xf32>
      %second = arith.cmpi ne, %bx, %c0 : index
      scf.if %second {
        memref.store %v, %C[%tx] : memref<64xf32>
      }"""
    with pytest.raises(TcError, match=r"data race on argument %C \[0\]: thread \(0, 0, 0\) of block \(1, 0, 0\) "
                                      r"writes it and .* read it"):
        emulate(one_kernel([("C", "memref<64xf32>")], body, grid=(2, 1, 1)), "f", [np.zeros(64, np.float32)])


def test_threads_of_one_store_writing_one_element_is_a_race():
    body = """
      %c0 = arith.constant 0 : index
      %v = arith.constant 1.0 : f32
      memref.store %v, %C[%c0] : memref<64xf32>"""
    with pytest.raises(TcError, match=r"data race on argument %C \[0\]: thread \(1, 0, 0\) of block \(0, 0, 0\) "
                                      r"writes it and thread \(0, 0, 0\) of block \(0, 0, 0\) writes it since the last gpu.barrier"):
        emulate(one_kernel([("C", "memref<64xf32>")], body), "f", [np.zeros(64, np.float32)])


# Errors ----------------------------------------------------------------------------------------


def reverse_with(old: str, new: str) -> ModuleOp:
    assert old in REVERSE
    return parse(REVERSE.replace(old, new))


@pytest.mark.parametrize("old, new, message", [
    ("func.return", "%x = memref.load %A[%c1] : memref<64xf32>\n    func.return",
     r"the host function @rev of a gpu-stage module may hold only .*; found `memref.load`"),
    ("@rev_kernels::@rev_part0", "@rev_kernels::@nope", r"gpu.module @rev_kernels has no gpu.func @nope"),
    ("@rev_kernels::@rev_part0", "@other::@rev_part0", r"the module has no gpu.module @other"),
    ("%c64 = arith.constant 64 : index", "%c64 = arith.constant 2048 : index",
     r"the launch of @rev_kernels::@rev_part0 has block size x = 2048, outside CUDA's 1..1024"),
    ("func.func @rev(%A: memref<64xf32>", "func.func @rev(%A: memref<?xf32>",
     r"argument #0 of @rev has the dynamic shape memref<\?xf32>"),
    ("<{function_type = (memref<64xf32>, memref<64xf32>) -> (), kernel}>",
     "<{function_type = (memref<64xf32>, memref<64xf32>) -> ()}>", r"gpu.func without the `kernel` attribute"),
])
def test_plan_refuses_what_is_outside_the_contract(old, new, message):
    text = REVERSE.replace(old, new)
    if "?xf32" in new:  # keep the module valid: the launch takes what the host has
        text = text.replace("memref<64xf32>, memref<64xf32>) -> ()\n", "memref<?xf32>, memref<64xf32>) -> ()\n")
    with pytest.raises(TcError, match=message):
        plan(parse(text), "rev")


def test_plan_refuses_launch_sizes_that_are_not_constants():
    host = """%c1 = arith.constant 1 : index
    %c64 = arith.constant 64 : index
    "gpu.launch_func"(%n, %c1, %c1, %c64, %c1, %c1, %C) <{kernel = @f_kernels::@k,
        operandSegmentSizes = array<i32: 0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0>}>
        : (index, index, index, index, index, index, memref<64xf32>) -> ()"""
    with pytest.raises(TcError, match=r"the grid size x of a launch in @f must be an integer arith.constant of "
                                      r"the host function, got block argument #0 \(index\)"):
        plan(module([("n", "index"), ("C", "memref<64xf32>")], host,
                    [kernel("k", [("C", "memref<64xf32>")], "")]), "f")


def test_plan_refuses_a_temporary_used_after_its_dealloc():
    host = "\n".join(["%t = memref.alloc() : memref<64xf32>", "memref.dealloc %t : memref<64xf32>",
                      launch("k", (1, 1, 1), (64, 1, 1), [("%t", "memref<64xf32>")])])
    with pytest.raises(TcError, match=r"uses temporary #0 after its memref.dealloc"):
        plan(module([], host, [kernel("k", [("t", "memref<64xf32>")], "")]), "f")


def test_plan_refuses_a_missing_entry():
    with pytest.raises(TcError, match=r"the module has no host function @nope"):
        plan(parse(REVERSE), "nope")


@pytest.mark.parametrize("arrays, message", [
    (lambda: [np.zeros(64, np.float32)], r"@rev takes 2 arguments \(inputs then outputs\), got 1"),
    (lambda: [np.zeros(64, np.float32), np.zeros(63, np.float32)], r"argument #1 of @rev must have shape \(64,\)"),
    (lambda: [np.zeros(64, np.float64), np.zeros(64, np.float32)],
     r"argument #0 of @rev must have dtype float32, got float64"),
    (lambda: [[0.0] * 64, np.zeros(64, np.float32)], r"argument #0 of @rev must be a NumPy array"),
    (lambda: [np.zeros(64, np.float32), np.zeros(128, np.float32)[::2]],
     r"argument #1 of @rev has element strides \(2,\), but its memref layout has \(1,\)"),
])
def test_emulate_refuses_wrong_arrays(arrays, message):
    with pytest.raises(TcError, match=message):
        emulate(parse(REVERSE), "rev", arrays())


def test_emulate_refuses_a_read_only_output():
    C = np.zeros(64, np.float32)
    C.flags.writeable = False
    with pytest.raises(TcError, match=r"kernel @rev_part0: stores into argument %C, a read-only array"):
        emulate(parse(REVERSE), "rev", [np.zeros(64, np.float32), C])


def test_emulate_refuses_a_launch_that_contradicts_known_block_size():
    m = reverse_with("known_block_size = array<i32: 64, 1, 1>", "known_block_size = array<i32: 32, 2, 1>")
    with pytest.raises(TcError, match=r"@rev_part0 is launched with block size \(64, 1, 1\), but its "
                                      r"known_block_size is \(32, 2, 1\)"):
        emulate(m, "rev", [np.zeros(64, np.float32), np.zeros(64, np.float32)])


def test_emulate_refuses_ops_outside_the_gpu_stage():
    m = one_kernel([("C", "memref<64xf32>")], "%t = memref.alloc() : memref<4xf32>")
    with pytest.raises(TcError, match=r"kernel @k uses `memref.alloc`, which the gpu stage does not allow"):
        emulate(m, "f", [np.zeros(64, np.float32)])


def test_integer_division_by_zero_is_an_error():
    body = """
      %tx = gpu.thread_id x
      %c5 = arith.constant 5 : index
      %c64 = arith.constant 64 : index
      %d = arith.subi %tx, %c5 : index
      %q = arith.divsi %c64, %d : index
      %v = arith.index_cast %q : index to i32
      memref.store %v, %C[%tx] : memref<64xi32>"""
    with pytest.raises(TcError, match=r"kernel @k: integer division by zero in `arith.divsi` "
                                      r"\(thread \(5, 0, 0\) of block \(0, 0, 0\)\)"):
        emulate(one_kernel([("C", "memref<64xi32>")], body), "f", [np.zeros(64, np.int32)])
