"""`kernel.ir(stage, *inputs)`: the code a call would run, at every stage (docs/api.md)."""

import ctypes

import llvmlite.binding as llvm
import numpy as np
import pytest

import tcir
from tcir.dialects import default_context
from xdsl.parser import Parser

SCALE = "def scale(float(N) X) -> (Y) { Y(i) = X(i) * 2.0 }"
MATMUL = """def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, r_k) * B(r_k, n)
}"""


@pytest.fixture(scope="module")
def scale():
    return tcir.compile(SCALE, "scale", options="naive")


def test_every_cpu_stage_is_text_of_that_stage(scale):
    x = np.ones(96, np.float32)
    tc, loops, llvm_dialect = scale.ir("tc", x), scale.ir("loops", x), scale.ir("llvm", x)
    assert "tc.def" in tc and "scf.for" not in tc
    assert "scf.for" in loops and "tc.def" not in loops
    assert "llvm.func @scale" in llvm_dialect and "scf." not in llvm_dialect
    assert 'define void @"scale"' in scale.ir("llvm-ir", x)
    assert "scale:" in scale.ir("asm", x)  # the entry's label in the host assembly


@pytest.mark.parametrize("stage", ["tc", "loops", "llvm"])
def test_ir_stages_read_back_and_verify(scale, stage):
    text = scale.ir(stage, np.ones(8, np.float32))
    module = Parser(default_context(), text).parse_module()
    module.verify()


def test_the_sizes_come_from_the_inputs(scale):
    assert "257" in scale.ir("loops", np.ones(257, np.float32))
    assert "257" not in scale.ir("loops", np.ones(96, np.float32))


def test_the_llvm_ir_is_the_code_that_runs(scale):
    """Compiled by llvmlite directly, not through tcir, the LLVM IR computes the result."""
    x = np.arange(40, dtype=np.float32)
    module = llvm.parse_assembly(scale.ir("llvm-ir", x))
    engine = llvm.create_mcjit_compiler(module, llvm.Target.from_default_triple().create_target_machine())
    engine.finalize_object()
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(engine.get_function_address("scale"))
    y = np.zeros_like(x)
    fn(x.ctypes.data, y.ctypes.data)
    np.testing.assert_array_equal(y, 2 * x)


def test_the_options_shape_the_loops():
    a, b = np.ones((64, 32), np.float32), np.ones((32, 48), np.float32)
    naive = tcir.compile(MATMUL, "matmul", options="naive").ir("loops", a, b)
    tiled = tcir.compile(MATMUL, "matmul", options=tcir.MappingOptions("naive").tile(16, 8)).ir("loops", a, b)
    assert naive != tiled


def test_a_kernel_of_define_shows_itself_too():
    T = tcir.define(SCALE)
    assert "tc.def" in T.scale.ir("tc", np.ones(4, np.float32))


def test_an_unknown_stage_lists_the_stages(scale):
    with pytest.raises(tcir.TcError, match=r"no stage `object` .*`tc`, `loops`, `llvm`, `llvm-ir`, `asm`"):
        scale.ir("object", np.ones(4, np.float32))


def test_the_arguments_are_checked_as_for_a_call(scale):
    with pytest.raises(tcir.TcError, match="must have dtype float32"):
        scale.ir("tc", np.ones(4, np.int32))
    with pytest.raises(tcir.TcError, match="input"):
        scale.ir("tc")
