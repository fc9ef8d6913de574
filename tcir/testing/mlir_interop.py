"""Run tcir's affine-level IR through upstream MLIR: an interoperability check.

tcir lowers a TC def to the `affine` stage (`convert-tc-to-affine`, every size
specialized), prints it in MLIR's generic form, and hands it to upstream tools:
`mlir-opt` (LLVM 19) lowers it to the LLVM dialect with upstream's own passes, and
`mlir-cpu-runner` executes it. The results can then be compared with tcir's own
CPU backend (`tcir.define(source).<entry>(*inputs)`).

    >>> from tcir.testing import mlir_interop
    >>> tools = mlir_interop.find_tools()          # None when mlir-opt-19 is absent
    >>> C = mlir_interop.run_upstream(source, "matmul", A, B, tools=tools)

The program executed by the runner is one module:

- the kernel: the `func.func @<entry>` of the affine stage, printed generically by
  xDSL; TC builtins that upstream's `math` dialect lacks (`tc.builtin`, e.g. erfinv,
  normcdf, Bessel functions) are first lowered by tcir's own `convert-math-to-llvm`
  patterns (applied to `tc.builtin` ops only), so upstream sees `llvm` dialect ops
  there and the upstream `math` lowering everywhere else;
- one `memref.global` constant per input tensor (the bytes as a hex `dense`
  literal, so every value is exact), one zero-initialized mutable `memref.global`
  per output, scalar parameters as `arith.constant`s (bit patterns for floats);
  transposed or stepped input views are specialized to their strides as tcir's API
  does (the kernel takes `strided<[...]>` memrefs, built in `@main` with
  `memref.reinterpret_cast` over a flat global), other inputs are dense copies;
- `func.func @main()` calls the kernel, then for each output copies the *bit
  patterns* of its elements, zero-extended to i64, into a buffer printed with the
  runner library's `printMemrefI64`. `printMemrefF32/F64` print 6 significant
  digits; bit patterns give back every output dtype (bool, int8-64, uint8-64, half,
  bfloat16, float, double) exactly, NaNs and signed zeros included. (The runner
  library prints one garbage element for an empty memref; the parser ignores it.)

The other direction, and the other stages, are `tc-opt`'s round trips (tests in
tests/testing/test_mlir_interop.py): what tc-opt prints at the llvm and gpu stages is
read by `mlir-opt` (and the llvm stage translated by `mlir-translate`), and what
`mlir-opt` prints after lowering tcir's affine stage with upstream's passes
(`BARE_POINTER_PIPELINE`, `CONVERT_TO_LLVM_PIPELINE`) is read back by `tc-opt` and
compiled by tcir's backend; `run_tool` runs one upstream tool on IR text.

Tools are found on PATH (`mlir-opt-19`, `mlir-cpu-runner-19`, `mlir-translate-19`) or
under `/usr/lib/llvm-19` (Debian's `mlir-19-tools` and `libmlir-19-dev`); the
environment variables `TCIR_MLIR_OPT`, `TCIR_MLIR_CPU_RUNNER`, `TCIR_MLIR_TRANSLATE` and
`TCIR_MLIR_RUNNER_LIBS` (comma-separated paths) override the search.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import BFloat16Type, IntegerType, UnrealizedConversionCastOp
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern
from xdsl.printer import Printer

from tcir.api import define
from tcir.dialects.tc import BuiltinOp
from tcir.driver import AffineTarget, Job, Layout, lower, tc_to_module
from tcir.passes.convert_math_to_llvm import PASS_NAME, lower_float_op
from tcir.passes.llvm_common import lower_scalar_op

LLVM_PREFIX = Path("/usr/lib/llvm-19")

# Upstream MLIR 19 passes from the affine stage to the LLVM dialect.
LOWERING_PIPELINE: tuple[str, ...] = (
    "--lower-affine",
    "--arith-expand",
    "--convert-scf-to-cf",
    "--math-legalize-to-f32",
    "--convert-math-to-llvm",
    "--convert-math-to-libm",
    "--expand-strided-metadata",
    "--finalize-memref-to-llvm",
    "--convert-arith-to-llvm",
    "--convert-index-to-llvm",
    "--convert-func-to-llvm",
    "--convert-cf-to-llvm",
    "--reconcile-unrealized-casts",
)

# The same with tcir's calling convention (bare pointers for memrefs of static shape
# and identity layout), so that tcir's CPU runtime calls what upstream lowered.
BARE_POINTER_PIPELINE: tuple[str, ...] = tuple(
    "--convert-func-to-llvm=use-bare-ptr-memref-call-conv=1" if p == "--convert-func-to-llvm" else p
    for p in LOWERING_PIPELINE)

# MLIR's one-pass conversion, after the loops (memref descriptors; math ops without an
# LLVM intrinsic stay `math` ops, which tc-opt's llvm stage lowers).
CONVERT_TO_LLVM_PIPELINE: tuple[str, ...] = (
    "--lower-affine",
    "--convert-scf-to-cf",
    "--convert-to-llvm",
    "--reconcile-unrealized-casts",
)

TOOL_TIMEOUT_S = 120


class MlirInteropError(RuntimeError):
    """An upstream tool failed or printed something unexpected (the message carries the
    command, its exit status, its stderr and where the input IR was kept)."""


@dataclass(frozen=True)
class Tools:
    mlir_opt: str
    cpu_runner: str
    runner_libs: tuple[str, ...]  # libmlir_runner_utils.so, libmlir_c_runner_utils.so


def _which(env: str, names: Sequence[str], fallbacks: Sequence[Path]) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for path in fallbacks:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return None


def find_mlir_opt() -> str | None:
    """Upstream `mlir-opt` of LLVM 19, or None."""
    return _which("TCIR_MLIR_OPT", ["mlir-opt-19"], [LLVM_PREFIX / "bin" / "mlir-opt"])


def find_cpu_runner() -> str | None:
    """Upstream `mlir-cpu-runner` of LLVM 19, or None."""
    return _which("TCIR_MLIR_CPU_RUNNER", ["mlir-cpu-runner-19"], [LLVM_PREFIX / "bin" / "mlir-cpu-runner"])


def find_mlir_translate() -> str | None:
    """Upstream `mlir-translate` of LLVM 19 (llvm dialect -> LLVM IR), or None."""
    return _which("TCIR_MLIR_TRANSLATE", ["mlir-translate-19"], [LLVM_PREFIX / "bin" / "mlir-translate"])


def find_runner_libs() -> tuple[str, ...] | None:
    """The runner utility libraries (from libmlir-19-dev), or None."""
    if os.environ.get("TCIR_MLIR_RUNNER_LIBS"):
        return tuple(p for p in os.environ["TCIR_MLIR_RUNNER_LIBS"].split(",") if p)
    libs = [LLVM_PREFIX / "lib" / name for name in ("libmlir_runner_utils.so", "libmlir_c_runner_utils.so")]
    return tuple(map(str, libs)) if all(p.is_file() for p in libs) else None


def missing_tools() -> str | None:
    """Why the interop check cannot run here, or None when every tool is present."""
    missing = []
    if find_mlir_opt() is None:
        missing.append("mlir-opt-19 (Debian package mlir-19-tools)")
    if find_cpu_runner() is None:
        missing.append("mlir-cpu-runner (Debian package mlir-19-tools)")
    if find_runner_libs() is None:
        missing.append(f"libmlir_runner_utils.so and libmlir_c_runner_utils.so in {LLVM_PREFIX / 'lib'} "
                       "(Debian package libmlir-19-dev)")
    if not missing:
        return None
    return "upstream MLIR 19 is not installed: missing " + "; ".join(missing)


def find_tools() -> Tools | None:
    """Every tool the check needs, or None (see `missing_tools` for why)."""
    if missing_tools() is not None:
        return None
    return Tools(find_mlir_opt(), find_cpu_runner(), find_runner_libs())  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------
# The kernel at the affine stage, in generic form


def affine_module(source: str, entry: str, sizes: dict[str, int], filename: str = "<string>",
                  strides: dict[str, tuple[int, ...]] | None = None):
    """The `affine` stage of def `entry`, every size specialized; tensors dense
    row-major, or at the element `strides` given by name."""
    module = tc_to_module(source, filename, entry=entry)
    return lower(module, AffineTarget(), "affine", Job(Layout.of(sizes, strides)))


def lower_tc_builtins(module) -> int:
    """Lower every `tc.builtin` op (upstream has no `tc` dialect) with tcir's
    `convert-math-to-llvm` patterns, leaving every other op to upstream; return how
    many were lowered. bf16 values cross into the llvm dialect as i16 bit patterns
    through `builtin.unrealized_conversion_cast`s, which are rewritten as
    `arith.bitcast`s (upstream's `reconcile-unrealized-casts` could not fold them)."""
    count = 0

    class LowerBuiltin(RewritePattern):
        def match_and_rewrite(self, op, rewriter: PatternRewriter) -> None:
            nonlocal count
            if isinstance(op, BuiltinOp):
                count += 1
                lower_scalar_op(rewriter, op, PASS_NAME, lower_float_op)

    PatternRewriteWalker(LowerBuiltin()).rewrite_module(module)
    for op in list(module.walk()):
        if isinstance(op, UnrealizedConversionCastOp) and len(op.inputs) == len(op.outputs) == 1:
            src, dst = op.inputs[0].type, op.outputs[0].type
            if {type(src), type(dst)} == {BFloat16Type, IntegerType}:
                cast = arith.BitcastOp(op.inputs[0], dst)
                op.parent_block().insert_op_before(cast, op)
                op.outputs[0].replace_all_uses_with(cast.result)
                op.detach()
                op.erase()
    module.verify()
    return count


def generic_ops(module) -> str:
    """The module's top-level ops (the kernel, external declarations) in generic form."""
    out = StringIO()
    printer = Printer(stream=out, print_generic_format=True)
    for op in module.body.block.ops:
        printer.print_op(op)
        out.write("\n")
    return out.getvalue()


# --------------------------------------------------------------------------------------
# The driver: inputs as globals, @main, printing the outputs' bit patterns

_ELEMENT = {  # NumPy dtype name -> (MLIR element type, bits)
    "bool": ("i1", 1), "int8": ("i8", 8), "int16": ("i16", 16), "int32": ("i32", 32), "int64": ("i64", 64),
    "uint8": ("i8", 8), "uint16": ("i16", 16), "uint32": ("i32", 32), "uint64": ("i64", 64),
    "float16": ("f16", 16), "bfloat16": ("bf16", 16), "float32": ("f32", 32), "float64": ("f64", 64),
}


def _element(dtype: np.dtype) -> tuple[str, int]:
    try:
        return _ELEMENT[np.dtype(dtype).name]
    except KeyError:
        raise MlirInteropError(f"no MLIR element type for the NumPy dtype {np.dtype(dtype)}") from None


def _memref(shape: Sequence[int], element: str) -> str:
    return "memref<" + "".join(f"{n}x" for n in shape) + element + ">"


def _dense(arr: np.ndarray) -> str:
    """An exact `dense` literal: hex bytes (little-endian, as upstream stores them);
    `i1` as nested true/false lists (upstream stores those bit-packed)."""
    if arr.size == 0:
        return "dense<>"
    if arr.dtype == np.bool_:
        def nested(a):
            if a.ndim == 0:
                return "true" if a else "false"
            return "[" + ", ".join(nested(x) for x in a) + "]"
        return f"dense<{nested(arr)}>"
    data = np.ascontiguousarray(arr)
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("<"))
    return f'dense<"0x{data.tobytes().hex().upper()}">'


def _scalar(value: object, dtype: np.dtype) -> str:
    """An `arith.constant` value: floats as bit patterns, integers as signless values."""
    element, bits = _element(dtype)
    v = np.asarray(value, dtype)
    if element == "i1":
        return "true" if bool(v) else "false"
    if element.startswith(("f", "bf")):
        raw = int(v.view(f"u{bits // 8}"))
        return f"0x{raw:0{bits // 4}X}"
    raw = int(v.astype(f"u{bits // 8}"))
    return str(raw - (1 << bits) if raw >= 1 << (bits - 1) else raw)


@dataclass(frozen=True)
class _Argument:
    kind: str  # "tensor" or "scalar"
    value: np.ndarray | np.generic
    dtype: np.dtype
    strides: tuple[int, ...] | None = None  # element strides the kernel is specialized to


def _backing(arr: np.ndarray, strides: tuple[int, ...]) -> np.ndarray:
    """A 1-D buffer holding `arr` at the (non-negative) element `strides`, offset 0."""
    span = sum(s * (n - 1) for s, n in zip(strides, arr.shape)) + 1
    buf = np.zeros(span, arr.dtype)
    view = np.lib.stride_tricks.as_strided(buf, arr.shape, [s * arr.itemsize for s in strides])
    view[...] = arr
    return buf


def driver_module(kernel_ops: str, entry: str, arguments: Sequence[_Argument],
                  outputs: Sequence[tuple[tuple[int, ...], np.dtype]]) -> str:
    """The module `mlir-cpu-runner` executes: `kernel_ops` (generic text) plus globals
    for the inputs and outputs and a `@main` that calls `@entry` and prints each
    output's bit patterns with `printMemrefI64`."""
    top, body, signature, operands = [], [], [], []
    for i, arg in enumerate(arguments):
        element, _ = _element(arg.dtype)
        if arg.kind == "scalar":
            typed = "" if element == "i1" else f" : {element}"  # `true`/`false` carry their type
            body.append(f"    %s{i} = arith.constant {_scalar(arg.value, arg.dtype)}{typed}")
            operands.append(f"%s{i}")
            signature.append(element)
            continue
        t = _memref(arg.value.shape, element)
        if arg.strides is None:
            top.append(f'  memref.global "private" constant @__tcir_in{i} : {t} = {_dense(arg.value)}')
            body.append(f"    %a{i} = memref.get_global @__tcir_in{i} : {t}")
        else:  # the kernel's strided layout: the values at their strides in a flat buffer
            buf = _backing(arg.value, arg.strides)
            flat = _memref(buf.shape, element)
            t = t[:-1] + f", strided<[{', '.join(map(str, arg.strides))}]>>"
            top.append(f'  memref.global "private" constant @__tcir_in{i} : {flat} = {_dense(buf)}')
            body.append(f"    %g{i} = memref.get_global @__tcir_in{i} : {flat}")
            body.append(f"    %a{i} = memref.reinterpret_cast %g{i} to offset: [0], sizes: "
                        f"[{', '.join(map(str, arg.value.shape))}], strides: [{', '.join(map(str, arg.strides))}]"
                        f" : {flat} to {t}")
        operands.append(f"%a{i}")
        signature.append(t)
    for j, (shape, dtype) in enumerate(outputs):
        element, _ = _element(dtype)
        t = _memref(shape, element)
        zero = "false" if element == "i1" else "0.0" if element.startswith(("f", "bf")) else "0"
        top.append(f'  memref.global "private" @__tcir_out{j} : {t} = dense<{zero}>')
        body.append(f"    %o{j} = memref.get_global @__tcir_out{j} : {t}")
        operands.append(f"%o{j}")
        signature.append(t)
    body.append(f"    func.call @{entry}({', '.join(operands)}) : ({', '.join(signature)}) -> ()")
    body.append("    %c0 = arith.constant 0 : index")
    body.append("    %c1 = arith.constant 1 : index")
    for j, (shape, dtype) in enumerate(outputs):
        element, bits = _element(dtype)
        n = int(np.prod(shape, dtype=np.int64))
        t, flat = _memref(shape, element), _memref([n], element)
        body += [
            f"    %flat{j} = memref.reinterpret_cast %o{j} to offset: [0], sizes: [{n}], strides: [1]"
            f" : {t} to {flat}",
            f"    %bits{j} = memref.alloc() : memref<{n}xi64>",
            f"    %n{j} = arith.constant {n} : index",
            f"    scf.for %i = %c0 to %n{j} step %c1 {{",
            f"      %v = memref.load %flat{j}[%i] : {flat}",
        ]
        value, vtype = "%v", element
        if element.startswith(("f", "bf")):
            body.append(f"      %b = arith.bitcast %v : {element} to i{bits}")
            value, vtype = "%b", f"i{bits}"
        if vtype != "i64":
            body.append(f"      %w = arith.extui {value} : {vtype} to i64")
            value = "%w"
        body += [
            f"      memref.store {value}, %bits{j}[%i] : memref<{n}xi64>",
            "    }",
            f"    %u{j} = memref.cast %bits{j} : memref<{n}xi64> to memref<*xi64>",
            f"    func.call @printMemrefI64(%u{j}) : (memref<*xi64>) -> ()",
            f"    memref.dealloc %bits{j} : memref<{n}xi64>",
        ]
    body.append("    func.return")
    return "\n".join([
        "module {",
        "  func.func private @printMemrefI64(memref<*xi64>) attributes {llvm.emit_c_interface}",
        *top,
        kernel_ops.rstrip("\n"),
        "  func.func @main() {",
        *body,
        "  }",
        "}",
        "",
    ])


# --------------------------------------------------------------------------------------
# Running the tools


def _run(cmd: Sequence[str], what: str, kept: Path | None) -> str:
    where = f"\n(input kept in {kept})" if kept else ""
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MlirInteropError(f"{what} timed out after {TOOL_TIMEOUT_S} s: {' '.join(cmd)}{where}") from None
    except OSError as err:
        raise MlirInteropError(f"{what} could not be started: {err}") from None
    if done.returncode != 0:
        raise MlirInteropError(f"{what} failed with exit status {done.returncode}: {' '.join(cmd)}{where}\n"
                               f"--- stderr ---\n{done.stderr.rstrip()}")
    return done.stdout


def run_tool(tool: str, text: str, args: Sequence[str], what: str, keep_on_failure: bool = True) -> str:
    """`tool INPUT args` on `text` (an upstream MLIR tool): its stdout. On failure the
    input is kept in a temporary folder named in the error (unless `keep_on_failure`
    is false)."""
    work = Path(tempfile.mkdtemp(prefix="tcir-mlir-"))
    failed = True
    try:
        source = work / "input.mlir"
        source.write_text(text)
        stdout = _run([tool, str(source), *args], what, work if keep_on_failure else None)
        failed = False
        return stdout
    finally:
        if not (failed and keep_on_failure):
            shutil.rmtree(work, ignore_errors=True)


def lower_and_execute(module_text: str, tools: Tools, keep_on_failure: bool = True) -> str:
    """Lower `module_text` with upstream `mlir-opt`, run `@main` with `mlir-cpu-runner`,
    and return what it printed. On failure the inputs are kept in a temporary folder
    named in the error (unless `keep_on_failure` is false)."""
    work = Path(tempfile.mkdtemp(prefix="tcir-mlir-"))
    kept = work if keep_on_failure else None
    failed = True
    try:
        source, lowered = work / "input.mlir", work / "lowered.mlir"
        source.write_text(module_text)
        _run([tools.mlir_opt, str(source), *LOWERING_PIPELINE, "-o", str(lowered)], "upstream mlir-opt", kept)
        stdout = _run([tools.cpu_runner, str(lowered), "-e", "main", "-entry-point-result=void",
                       "-shared-libs=" + ",".join(tools.runner_libs)], "mlir-cpu-runner", kept)
        failed = False
        return stdout
    finally:
        if not (failed and keep_on_failure):
            shutil.rmtree(work, ignore_errors=True)


_HEADER = re.compile(r"Unranked Memref base@ = \S+ rank = (\d+) offset = (\d+) sizes = \[([^\]]*)\]"
                     r" strides = \[([^\]]*)\] data =")


def parse_printed_memrefs(text: str) -> list[np.ndarray]:
    """The memrefs printed by `printMemrefI64` (or printMemrefI32), as int64 arrays of
    the printed shapes."""
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise MlirInteropError(f"no memref in the runner's output:\n{text[:2000]}")
    arrays = []
    for k, h in enumerate(headers):
        end = headers[k + 1].start() if k + 1 < len(headers) else len(text)
        shape = tuple(int(s) for s in h.group(3).replace(",", " ").split())
        values = [int(v) for v in re.findall(r"-?\d+", text[h.end():end])]
        if 0 in shape:  # the runner library prints one (garbage) element of an empty memref
            values = []
        if len(values) != int(np.prod(shape, dtype=np.int64)):
            raise MlirInteropError(f"memref of shape {shape} printed with {len(values)} values:\n"
                                   f"{text[h.start():end][:2000]}")
        arrays.append(np.array(values, dtype=np.int64).reshape(shape))
    return arrays


def _from_bits(bits: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    _, width = _element(dtype)
    raw = bits.astype(np.uint64)
    if width == 1:
        return (raw != 0).reshape(shape)
    return raw.astype(f"u{width // 8}").view(dtype).reshape(shape)


# --------------------------------------------------------------------------------------
# The whole check


@dataclass
class UpstreamRun:
    """What `prepare_upstream` built: the module text, and what to expect back."""

    module_text: str
    output_specs: list[tuple[tuple[int, ...], np.dtype]]
    lowered_builtins: int


def _kernel_strides(arr: np.ndarray) -> tuple[int, ...] | None:
    """The element strides to specialize the kernel to for the input view `arr`, as tcir's
    API does (transposed, stepped views); None for a dense array, or where the view
    cannot be rebuilt at offset 0 (a negative or fractional stride): those are passed as
    dense copies."""
    if arr.flags.c_contiguous or arr.size == 0 or any(s < 0 or s % arr.itemsize for s in arr.strides):
        return None
    return tuple(s // arr.itemsize for s in arr.strides)


def prepare_upstream(source: str, entry: str, *inputs, filename: str = "<string>") -> UpstreamRun:
    """Bind `inputs` to def `entry` as `tcir.define(source).<entry>` would (same checks,
    same sizes, the same strided layouts for transposed or stepped input views), and
    build the module for `mlir-cpu-runner`."""
    kernel = getattr(define(source, filename), entry)
    call, outs, _arrays, layout = kernel.prepare(inputs)
    d = kernel.definition
    arguments, strides = [], {}
    for t in d.inputs:
        if t.role == "scalar":
            value = call.scalars[t.name]
            arguments.append(_Argument("scalar", value, t.dtype.numpy_dtype))
        else:
            arr = call.arrays[t.name]
            st = _kernel_strides(arr)
            if st is not None:
                strides[t.name] = st
            arguments.append(_Argument("tensor", arr, arr.dtype, st))
    specs = [(outs[t.name].shape, outs[t.name].dtype) for t in d.outputs]
    module = affine_module(source, entry, dict(layout.sizes), filename, strides)
    lowered = lower_tc_builtins(module)
    return UpstreamRun(driver_module(generic_ops(module), entry, arguments, specs), specs, lowered)


def run_upstream(source: str, entry: str, *inputs, tools: Tools | None = None,
                 filename: str = "<string>"):
    """Def `entry` of `source` on `inputs`, compiled and executed by upstream MLIR from
    tcir's affine-level IR: the outputs (zero-initialized, as in tcir's API), one array
    or a tuple in declared order."""
    tools = tools or find_tools()
    if tools is None:
        raise MlirInteropError(missing_tools() or "upstream MLIR tools not found")
    run = prepare_upstream(source, entry, *inputs, filename=filename)
    printed = parse_printed_memrefs(lower_and_execute(run.module_text, tools))
    if len(printed) != len(run.output_specs):
        raise MlirInteropError(f"expected {len(run.output_specs)} printed outputs, got {len(printed)}")
    result = tuple(_from_bits(bits, shape, dtype) for bits, (shape, dtype) in zip(printed, run.output_specs))
    return result[0] if len(result) == 1 else result
