"""The CPU backend and `convert-memref-to-llvm`, end to end on NumPy arrays.

Kernels are written at the scf + memref + arith level with static strided layouts, then
lowered with xDSL's `convert-scf-to-cf`, our `convert-memref-to-llvm`, a minimal
test-only lowering of func/arith/cf to llvm (`_lower_rest`, so that these tests depend
on no other *-to-llvm pass) and `reconcile-unrealized-casts`; then JIT-compiled by
`tcir.backends.cpu` and run on arrays of every supported dtype, contiguous or not,
against NumPy. The whole pipeline is tested from TC source in tests/test_cpu_*.py.
"""

from __future__ import annotations

import ctypes
import math
import re
import threading

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.context import Context
from xdsl.dialects import arith, builtin, cf, func, llvm, memref, scf
from xdsl.dialects.builtin import FloatAttr, IndexType, IntegerAttr, ModuleOp, i64
from xdsl.ir import Attribute, Operation
from xdsl.parser import Parser
from xdsl.pattern_rewriter import PatternRewriteWalker, TypeConversionPattern, attr_type_rewrite_pattern
from xdsl.rewriter import Rewriter
from xdsl.transforms.convert_scf_to_cf import ConvertScfToCf
from xdsl.transforms.reconcile_unrealized_casts import ReconcileUnrealizedCastsPass

from tcir import TcError
from tcir.backends.cpu import (
    CpuKernel, CpuModule, ObjectModule, call, compile_object, host_target_machine, invoke, scalar_value, to_llvm_ir,
)
from tcir.passes.convert_memref_to_llvm import ConvertMemRefToLLVMPass

# dtype -> (MLIR element type, body computing %y from %x). bf16 is copied: its
# arithmetic (on i16 bits) belongs to convert-arith-to-llvm, beyond `_lower_rest`.
DTYPES = {
    np.dtype(np.float32): ("f32", "%y = arith.addf %x, %x : f32"),
    np.dtype(np.float64): ("f64", "%y = arith.addf %x, %x : f64"),
    np.dtype(np.float16): ("f16", "%y = arith.addf %x, %x : f16"),
    np.dtype(ml_dtypes.bfloat16): ("bf16", "%y = builtin.unrealized_conversion_cast %x : bf16 to bf16"),
    np.dtype(np.int8): ("i8", "%y = arith.addi %x, %x : i8"),
    np.dtype(np.int16): ("i16", "%y = arith.addi %x, %x : i16"),
    np.dtype(np.int32): ("i32", "%y = arith.addi %x, %x : i32"),
    np.dtype(np.int64): ("i64", "%y = arith.addi %x, %x : i64"),
    np.dtype(np.bool_): ("i1", "%t = arith.constant true\n%y = arith.xori %x, %t : i1"),
}


def reference(x: np.ndarray) -> np.ndarray:
    if x.dtype == ml_dtypes.bfloat16:
        return x
    return ~x if x.dtype == np.bool_ else x + x


# Test-only lowering of what is not memref -----------------------------------------------

_BINARY = {
    arith.AddiOp: llvm.AddOp, arith.SubiOp: llvm.SubOp, arith.MuliOp: llvm.MulOp,
    arith.XOrIOp: llvm.XOrOp, arith.AddfOp: llvm.FAddOp, arith.MulfOp: llvm.FMulOp,
}


def _lower_op(op: Operation) -> Operation | None:
    """The llvm op replacing `op`, or None to keep it."""
    match op:
        case arith.ConstantOp(value=IntegerAttr() as v) if isinstance(v.type, IndexType):
            return llvm.ConstantOp(IntegerAttr(v.value.data, i64), i64)
        case arith.ConstantOp(value=IntegerAttr() | FloatAttr() as v):
            return llvm.ConstantOp(v, v.type)
        case arith.CmpiOp():
            return llvm.ICmpOp(op.lhs, op.rhs, IntegerAttr(op.predicate.value.data, i64))
        case cf.BranchOp():
            return llvm.BrOp(op.successor, *op.arguments)
        case cf.ConditionalBranchOp():
            return llvm.CondBrOp(op.cond, op.then_block, op.then_arguments, op.else_block, op.else_arguments)
        case func.ReturnOp():
            return llvm.ReturnOp(op.arguments[0] if op.arguments else None)
        case func.FuncOp():
            outputs = op.function_type.outputs.data
            fn_type = llvm.LLVMFunctionType(op.function_type.inputs.data, outputs[0] if outputs else None)
            return llvm.FuncOp(op.sym_name, fn_type, linkage=llvm.LinkageAttr("external"),
                               body=Rewriter.move_region_contents_to_new_regions(op.body))
        case _ if type(op) in _BINARY:
            return _BINARY[type(op)](op.operands[0], op.operands[1])
    return None


class _IndexToI64(TypeConversionPattern):
    @attr_type_rewrite_pattern
    def convert_type(self, typ: IndexType) -> Attribute:
        return i64


def _lower_rest(module: ModuleOp) -> None:
    for op in list(module.walk()):
        if (new := _lower_op(op)) is not None:
            Rewriter.replace_op(op, new)
    PatternRewriteWalker(_IndexToI64(recursive=True)).rewrite_module(module)


def _context() -> Context:
    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, arith.Arith, scf.Scf, cf.Cf, memref.MemRef, llvm.LLVM):
        ctx.load_dialect(dialect)
    return ctx


def lower(text: str, **options) -> ModuleOp:
    """scf + memref + arith MLIR text -> verified llvm-dialect module."""
    ctx = _context()
    module = Parser(ctx, text).parse_module()
    ConvertScfToCf().apply(ctx, module)
    ConvertMemRefToLLVMPass(**options).apply(ctx, module)
    _lower_rest(module)
    ReconcileUnrealizedCastsPass().apply(ctx, module)
    module.verify()
    return module


def parse_llvm(text: str) -> ModuleOp:
    return Parser(_context(), text).parse_module()


# Kernels -------------------------------------------------------------------------------


def memref_type(shape: tuple[int, ...], element: str, strides: tuple[int, ...] | None = None) -> str:
    layout = f", strided<[{', '.join(map(str, strides))}]>" if strides is not None else ""
    return f"memref<{'x'.join(map(str, shape))}x{element}{layout}>"


def element_strides(array: np.ndarray) -> tuple[int, ...]:
    return tuple(s // array.itemsize for s in array.strides)


def loop_nest(shape: tuple[int, ...], body: str, bounds: bool = True) -> str:
    """`scf.for` loops over `shape` with induction variables %i0, %i1, ...

    With `bounds`, first defines the constants %c0, %c1 and %n0, %n1, ... they use.
    """
    lines = ["%c0 = arith.constant 0 : index", "%c1 = arith.constant 1 : index"] if bounds else []
    lines += [f"%n{d} = arith.constant {n} : index" for d, n in enumerate(shape)] if bounds else []
    for d in range(len(shape)):
        lines.append(f"scf.for %i{d} = %c0 to %n{d} step %c1 {{")
    lines.append(body)
    lines += ["}"] * len(shape)
    return "\n".join(lines)


def elementwise_kernel(a: np.ndarray, b: np.ndarray) -> str:
    """@kernel(A, B): B = f(A) elementwise, for the strides of the arrays given."""
    element, body = DTYPES[a.dtype]
    ta = memref_type(a.shape, element, element_strides(a))
    tb = memref_type(b.shape, element, element_strides(b))
    idx = ", ".join(f"%i{d}" for d in range(a.ndim))
    inner = f"%x = memref.load %A[{idx}] : {ta}\n{body}\nmemref.store %y, %B[{idx}] : {tb}"
    return (f"func.func @kernel(%A: {ta}, %B: {tb}) {{\n{loop_nest(a.shape, inner)}\n"
            "func.return\n}")


def random_array(dtype: np.dtype, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.kind == "i":
        return rng.integers(-100, 100, shape).astype(dtype)
    return rng.uniform(-8, 8, shape).astype(np.float32).astype(dtype)


def views(dtype: np.dtype, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Input arrays of shape (5, 7): contiguous, transposed, stepped slices, reversed."""
    return {
        "contiguous": random_array(dtype, (5, 7), rng),
        "transposed": random_array(dtype, (7, 5), rng).T,
        "stepped": random_array(dtype, (11, 22), rng)[1::2, 3::3],
        "reversed": random_array(dtype, (5, 7), rng)[::-1, ::-1],
    }


def strided_output(dtype: np.dtype, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A (buffer, view): the view is every other row and third column of the buffer."""
    buffer = np.zeros((2 * shape[0] + 1, 3 * shape[1]), dtype=dtype)
    return buffer, buffer[1::2, ::3]


def run_elementwise(a: np.ndarray, b: np.ndarray, **options) -> CpuModule:
    module = CpuModule(lower(elementwise_kernel(a, b), **options))
    call(module.function("kernel"), [a, b])
    return module


# Execution ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "stepped", "reversed"])
def test_elementwise_on_views(dtype, layout):
    a = views(dtype, np.random.default_rng(0))[layout]
    b = np.zeros(a.shape, dtype=dtype)
    run_elementwise(a, b)
    np.testing.assert_array_equal(b, reference(a))


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
def test_strided_output_leaves_the_gaps_alone(dtype):
    a = views(dtype, np.random.default_rng(1))["transposed"]
    buffer, b = strided_output(dtype, a.shape)
    run_elementwise(a, b)
    np.testing.assert_array_equal(b, reference(a))
    gaps = np.ones(buffer.shape, dtype=bool)
    gaps[1::2, ::3] = False
    assert not buffer[gaps].any()


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 6), steps=st.tuples(st.integers(-3, 3), st.integers(-3, 3)),
       transpose=st.booleans(), out_steps=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_any_static_strides(rows, cols, steps, transpose, out_steps):
    """Any NumPy view whose strides are whole elements, in and out."""
    steps = tuple(s or 1 for s in steps)
    base = np.arange(rows * abs(steps[0]) * cols * abs(steps[1]), dtype=np.float64)
    a = base.reshape(rows * abs(steps[0]), cols * abs(steps[1]))[::steps[0], ::steps[1]]
    a = a.T if transpose else a
    out = np.full((a.shape[0] * out_steps[0], a.shape[1] * out_steps[1]), -1.0)
    b = out[::out_steps[0], ::out_steps[1]]
    run_elementwise(a, b)
    np.testing.assert_array_equal(b, a + a)
    assert np.count_nonzero(out == -1.0) == out.size - b.size


TEMPORARY = """
func.func @kernel(%A: memref<6x10xf32, strided<[1, 6]>>, %B: memref<6x10xf32>) {
  %t = memref.alloc() : memref<6x10xf32>
""" + loop_nest((6, 10), """
  %x = memref.load %A[%i0, %i1] : memref<6x10xf32, strided<[1, 6]>>
  %y = arith.mulf %x, %x : f32
  memref.store %y, %t[%i0, %i1] : memref<6x10xf32>
""") + loop_nest((6, 10), """
  %x = memref.load %t[%i0, %i1] : memref<6x10xf32>
  %z = memref.load %A[%i0, %i1] : memref<6x10xf32, strided<[1, 6]>>
  %y = arith.addf %x, %z : f32
  memref.store %y, %B[%i0, %i1] : memref<6x10xf32>
""", bounds=False) + """
  memref.dealloc %t : memref<6x10xf32>
  func.return
}"""


@pytest.mark.parametrize("stack_limit", [16384, 0], ids=["stack", "heap"])
def test_temporary_buffer(stack_limit):
    a = np.random.default_rng(2).standard_normal((10, 6), dtype=np.float32).T
    b = np.zeros((6, 10), dtype=np.float32)
    module = CpuModule(lower(TEMPORARY, stack_limit=stack_limit))
    call(module.function("kernel"), [a, b])
    np.testing.assert_allclose(b, a * a + a, rtol=1e-6)
    assert ("aligned_alloc" in module.unoptimized_ir) == (stack_limit == 0)


SUBVIEW = """
func.func @kernel(%A: memref<8x10xf32>, %B: memref<3x4xf32>) {
  %s = memref.subview %A[1, 2] [3, 4] [2, 2]
      : memref<8x10xf32> to memref<3x4xf32, strided<[20, 2], offset: 12>>
""" + loop_nest((3, 4), """
  %x = memref.load %s[%i0, %i1] : memref<3x4xf32, strided<[20, 2], offset: 12>>
  memref.store %x, %B[%i0, %i1] : memref<3x4xf32>
""") + """
  func.return
}"""


def test_subview():
    a = np.arange(80, dtype=np.float32).reshape(8, 10)
    b = np.zeros((3, 4), dtype=np.float32)
    call(CpuModule(lower(SUBVIEW)).function("kernel"), [a, b])
    np.testing.assert_array_equal(b, a[1:7:2, 2:10:2])


DOT = """
func.func @kernel(%X: memref<9xf32, strided<[2]>>, %S: memref<f32>, %alpha: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = arith.constant 9 : index
  %zero = arith.constant 0.0 : f32
  %sum = scf.for %i = %c0 to %n step %c1 iter_args(%acc = %zero) -> (f32) {
    %x = memref.load %X[%i] : memref<9xf32, strided<[2]>>
    %ax = arith.mulf %alpha, %x : f32
    %next = arith.addf %acc, %ax : f32
    scf.yield %next : f32
  }
  memref.store %sum, %S[] : memref<f32>
  func.return
}"""


@pytest.mark.parametrize("alpha", [2.5, np.float32(2.5), np.float16(2.5), ml_dtypes.bfloat16(2.5)], ids=repr)
def test_scalar_argument_and_zero_d_memref(alpha):
    x = np.arange(18, dtype=np.float32)[::2]
    s = np.zeros((), dtype=np.float32)
    fn = CpuModule(lower(DOT)).function("kernel")
    assert fn.argtypes[2] is ctypes.c_float
    call(fn, [x, s], [alpha])
    assert s == np.float32(2.5) * x.sum()


def test_kernel_takes_arguments_in_parameter_order():
    x = np.arange(18, dtype=np.float32)[::2]
    s = np.zeros((), dtype=np.float32)
    kernel = CpuKernel(lower(DOT.replace("%S: memref<f32>, %alpha: f32", "%alpha: f32, %S: memref<f32>")), "kernel")
    kernel(x, 0.5, s)
    assert s == np.float32(0.5) * x.sum()
    with pytest.raises(TcError, match="expected a NumPy array, got float"):
        kernel(x, 0.5, 1.0)


def test_vectorizes_contiguous_loops():
    a = np.random.default_rng(3).standard_normal(4096, dtype=np.float32)
    b = np.zeros_like(a)
    module = run_elementwise(a, b)
    np.testing.assert_array_equal(b, a + a)
    widths = [int(w) for w in re.findall(r"<(\d+) x float>", module.llvm_ir)]
    assert widths and max(widths) >= 4, module.llvm_ir
    assert re.search(r"\bv?addps\b|\bfadd\s+v\d+\.4s", module.asm), module.asm


@pytest.mark.parametrize("opt_level", [0, 1, 2, 3])
def test_every_opt_level_runs(opt_level):
    a = np.arange(35, dtype=np.float64).reshape(5, 7)
    b = np.zeros_like(a)
    module = CpuModule(lower(elementwise_kernel(a, b)), opt_level=opt_level)
    call(module.function("kernel"), [a, b])
    np.testing.assert_array_equal(b, a + a)


def test_concurrent_compilation_and_calls():
    a = np.arange(35, dtype=np.float32).reshape(5, 7)
    text = elementwise_kernel(a, a)
    outputs = [np.zeros_like(a) for _ in range(8)]
    errors: list[BaseException] = []
    # xDSL's ImplicitBuilder (used when parsing scf.for) swaps Operation.__post_init__
    # process-wide, so xDSL IR is built one thread at a time (as tcir.compile does);
    # what runs concurrently here is the backend: LLVM compilation, JIT and calls.
    xdsl_lock = threading.Lock()

    def work(b: np.ndarray) -> None:
        try:
            with xdsl_lock:
                module = lower(text)
            call(CpuModule(module).function("kernel"), [a, b])
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(b,)) for b in outputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for b in outputs:
        np.testing.assert_array_equal(b, a + a)


LIBM = """
llvm.func @expf(f32) -> f32
llvm.func @erff(f32) -> f32
llvm.func @f(%x: f32) -> f32 {
  %e = llvm.call @expf(%x) : (f32) -> f32
  %r = llvm.call @erff(%e) : (f32) -> f32
  llvm.return %r : f32
}"""


def test_object_code_loads_and_runs():
    code, signatures = compile_object(to_llvm_ir(parse_llvm(LIBM), host_target_machine()))
    assert signatures["f"] == ("float", ("float",)) and "expf" not in signatures  # declarations are not kept
    fn = ObjectModule(code, signatures).function("f")
    assert fn(-1.0) == pytest.approx(math.erf(math.exp(-1.0)), rel=1e-6)


@pytest.mark.parametrize("cut", [0, 1, 16, 63, 64, 200, -64, -1])
def test_truncated_object_code_is_an_error_not_a_crash(cut):
    code, signatures = compile_object(to_llvm_ir(parse_llvm(LIBM), host_target_machine()))
    with pytest.raises(TcError, match="ELF|truncated"):
        ObjectModule(code[:cut], signatures)


def test_foreign_object_code_and_unknown_functions_are_errors():
    with pytest.raises(TcError, match="not a 64-bit little-endian ELF object"):
        ObjectModule(b"MZ" + bytes(200), {})
    code, signatures = compile_object(to_llvm_ir(parse_llvm(LIBM), host_target_machine()))
    module = ObjectModule(code, {**signatures, "g": ("float", ("float",))})
    for name in ("g", "h"):  # in the signatures but not the code; in neither
        with pytest.raises(TcError, match=f"defines no function @{name}"):
            module.function(name)


def test_libm_symbols_resolve():
    fn = CpuModule(parse_llvm(LIBM)).function("f")
    assert fn(-1.0) == pytest.approx(math.erf(math.exp(-1.0)), rel=1e-6)


BFLOAT = """
llvm.func @triple(%p: !llvm.ptr) {
  %v = llvm.load %p : !llvm.ptr -> bf16
  %c = llvm.mlir.constant(3.0 : bf16) : bf16
  %w = llvm.fmul %v, %c : bf16
  llvm.store %w, %p : bf16, !llvm.ptr
  llvm.return
}"""


def test_bfloat_in_the_llvm_dialect():
    x = np.array([1.5, -2.0, 0.5], dtype=ml_dtypes.bfloat16)
    call(CpuModule(parse_llvm(BFLOAT)).function("triple"), [x[2:]])  # a view's first element
    np.testing.assert_array_equal(x, np.array([1.5, -2.0, 1.5], dtype=ml_dtypes.bfloat16))


def test_narrow_float_scalars_go_as_bits_to_i16_parameters():
    module = CpuModule(parse_llvm("llvm.func @bits(%x: i16) -> i16 {\n  llvm.return %x : i16\n}"))
    fn = module.function("bits")
    for value in (ml_dtypes.bfloat16(-2.5), np.float16(0.1)):
        assert invoke(fn, [value]) == np.asarray(value).view(np.int16)


# Errors --------------------------------------------------------------------------------


def test_invalid_ir_quotes_the_line():
    bad = parse_llvm("llvm.func @f(%a: i32) -> f32 {\n  llvm.return %a : i32\n}")
    with pytest.raises(TcError, match=r"(?s)invalid LLVM IR:.*<string>:\d+:\d+: error: value doesn't match.*ret i32"):
        CpuModule(bad)


def test_untranslatable_op():
    with pytest.raises(TcError, match="cannot translate.*func.func"):
        CpuModule(Parser(_context(), "func.func @f() {\n  func.return\n}").parse_module())


def test_missing_function():
    module = CpuModule(parse_llvm(LIBM))
    with pytest.raises(TcError, match="no function @g"):
        module.function("g")
    with pytest.raises(TcError, match="only declared"):
        module.function("expf")


def test_half_scalar_parameters_are_refused():
    module = CpuModule(parse_llvm("llvm.func @h(%x: f16) {\n  llvm.return\n}"))
    with pytest.raises(TcError, match="f16/bf16 scalars"):
        module.function("h")


def test_bad_call_arguments():
    a = np.zeros((5, 7), dtype=np.float32)
    fn = CpuModule(lower(elementwise_kernel(a, a))).function("kernel")
    with pytest.raises(TcError, match="takes 2 arguments, got 1"):
        call(fn, [a])
    with pytest.raises(TcError, match="not aligned"):
        unaligned = np.frombuffer(bytearray(4 * 35 + 1), dtype=np.float32, offset=1, count=35)
        call(fn, [a, unaligned.reshape(5, 7)])
    with pytest.raises(TcError, match="byte order"):
        call(fn, [a, a.astype(">f4")])
    with pytest.raises(TcError, match="expected a NumPy array"):
        call(fn, [a, [0.0] * 35])
    with pytest.raises(TcError, match="does not fit"):
        scalar_value(300, ctypes.c_int8)


PASS_ERRORS = {
    "dynamic strides": (
        "func.func @f(%A: memref<?x?xf32>, %i: index) -> f32 {\n"
        "  %v = memref.load %A[%i, %i] : memref<?x?xf32>\n  func.return %v : f32\n}",
        r"memref<\?x\?xf32> needs static strides and offset"),
    "dynamic view": (
        "func.func @f(%A: memref<8xf32>, %i: index) -> f32 {\n"
        "  %s = memref.subview %A[%i] [4] [1] : memref<8xf32> to memref<4xf32, strided<[1], offset: ?>>\n"
        "  %v = memref.load %s[%i] : memref<4xf32, strided<[1], offset: ?>>\n  func.return %v : f32\n}",
        "needs static strides and offset"),
    "dynamic alloc": (
        "func.func @f(%n: index) {\n  %t = memref.alloc(%n) : memref<?xf32>\n  func.return\n}",
        "needs a static shape"),
    "unsupported op": (
        "func.func @f(%A: memref<8xf32>, %B: memref<8xf32>) {\n"
        '  "memref.copy"(%A, %B) : (memref<8xf32>, memref<8xf32>) -> ()\n  func.return\n}',
        "memref.copy is not supported"),
    "element type": (
        "func.func @f(%A: memref<8xi4>, %i: index) -> i4 {\n"
        "  %v = memref.load %A[%i] : memref<8xi4>\n  func.return %v : i4\n}",
        "unsupported element type i4"),
    "heap in a memory space": (
        "func.func @f() {\n  %t = memref.alloc() : memref<8192xf32, 3>\n  func.return\n}",
        "heap allocation in memory space 3"),
}


@pytest.mark.parametrize("case", list(PASS_ERRORS))
def test_pass_errors(case):
    text, message = PASS_ERRORS[case]
    module = Parser(_context(), text).parse_module()
    with pytest.raises(TcError, match=f"convert-memref-to-llvm: .*{message}"):
        ConvertMemRefToLLVMPass().apply(_context(), module)


def test_pass_rejects_a_bad_alignment():
    with pytest.raises(TcError, match="alignment=48 is not a power of two"):
        ConvertMemRefToLLVMPass(alignment=48).apply(_context(), ModuleOp([]))
