"""The CPU backend: an llvm-dialect module to host machine code, through llvmlite's MCJIT.

Summary:
  `CpuModule(module)` translates an xDSL `ModuleOp` that holds only `llvm.func` /
  `llvm.global` ops to LLVM IR (`xdsl.backend.llvm.convert`), parses and verifies it,
  optimizes it with LLVM's new pass manager for the host CPU (its name and features,
  so loops vectorize with the widest vectors the machine has), and JIT-compiles it.
  `.function(name)` returns a ctypes function whose signature is read from the LLVM
  function; `call(fn, arrays, scalars)` and `invoke(fn, args)` pass NumPy arrays as
  pointers and scalars by value; `CpuKernel(module, entry)(*args)` does all of it.
  `compile_object(llvm_ir)` optimizes LLVM IR text the same way and emits host object
  code with its functions' signatures (LLVM type names), which `ObjectModule` loads
  into MCJIT: the driver's `object` stage, and what the compilation cache keeps.
  `host_machine()` is this host's `CpuMachine` (triple, CPU name, features, and so the
  widest vector width).

ABI (what `convert-memref-to-llvm` produces): every memref argument is a bare pointer
to its element at offset 0; shapes and strides are compile-time constants, so a
strided NumPy view (transposed, sliced with steps, negative steps) is passed as the
address of its first element, `arr.ctypes.data`. Element types in memory are NumPy's:
bool is one byte; f16 is `half`; bf16 (ml_dtypes.bfloat16) is 2 bytes, i16 bits in
the pipeline's IR (or `bfloat` in hand-written llvm IR). Scalars go by value as
i1/i8..i64/float/double. `half`/`bfloat` scalar *parameters* are refused (the x86-64
ABI passes them in vector registers, which ctypes cannot do): a kernel takes such
scalars as i16 bits (what the *-to-llvm passes do for bf16) or as f32. A
float16/bfloat16 NumPy scalar goes as its bits to an i16 parameter and widens
exactly to an f32/f64 one.

Process-wide state: LLVM's native target is initialized once, lazily, and libm is
loaded into the JIT's symbol space (so `expf`, `erff`, ... resolve). Compilation holds
a lock (LLVM's global context is not thread-safe); calling compiled functions does not,
and ctypes releases the GIL during the call. `os.fork()` waits for a compilation under
way (the child gets LLVM between compilations, and the lock free); engines loaded
before the fork work in the child. xDSL's IR translator is taught the `bf16`
type (it knows f16/f32/f64 only).

Example:
    code, signatures = compile_object(to_llvm_ir(llvm_dialect_module, host_target_machine()))
    scale = ObjectModule(code, signatures).function("scale")
    mod = CpuModule(llvm_dialect_module)          # opt_level=3
    scale = mod.function("scale")                 # (ptr, ptr, float) -> void
    call(scale, [x, y], [2.0])
    assert "<8 x float>" in mod.llvm_ir           # vectorized
Errors (translation, IR parsing or verification with the offending line, a missing
symbol, bad arguments) are `tcir.TcError`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import llvmlite.binding as llvm
import llvmlite.ir as ir
import ml_dtypes
import numpy as np
from xdsl.dialects.builtin import BFloat16Type, ModuleOp

from tcir.errors import TcError

_INIT_LOCK = threading.Lock()
COMPILE_LOCK = threading.RLock()  # LLVM's global context is not thread-safe
_initialized = False


# fork: a child must not inherit LLVM in the middle of a compilation (its state, and
# LLVM's own mutexes, would stay as the parent's compiling thread left them), so fork
# waits for the one under way; the child starts with COMPILE_LOCK free (the forking
# thread, the child's only thread, holds it and lets go) and a fresh _INIT_LOCK.
def _reset_init_lock_in_child() -> None:
    global _INIT_LOCK
    _INIT_LOCK = threading.Lock()
    COMPILE_LOCK.release()


os.register_at_fork(before=COMPILE_LOCK.acquire, after_in_parent=COMPILE_LOCK.release,
                    after_in_child=_reset_init_lock_in_child)

# LLVM scalar type (as printed) -> ctypes type; None: void.
_CTYPES: dict[str, Any] = {
    "void": None,
    "ptr": ctypes.c_void_p,
    "i1": ctypes.c_bool,
    "i8": ctypes.c_int8,
    "i16": ctypes.c_int16,
    "i32": ctypes.c_int32,
    "i64": ctypes.c_int64,
    "float": ctypes.c_float,
    "double": ctypes.c_double,
}
_NARROW_FLOATS = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))


# Process-wide initialization -----------------------------------------------------------


class _BFloatType(ir.types._BaseFloatType):
    """LLVM's `bfloat`, which llvmlite.ir lacks; constants print as exact double hex."""

    null = "0.0"
    intrinsic_name = "bf16"

    def __str__(self) -> str:
        return "bfloat"

    def format_constant(self, value: float) -> str:
        return ir.types._format_double(float(ml_dtypes.bfloat16(value)))


_BFloatType._create_instance()


def _teach_xdsl_bfloat16() -> None:
    from xdsl.backend.llvm import convert_type

    convert_type._TYPE_CONVERTERS.setdefault(BFloat16Type, lambda _: _BFloatType())


def _load_libm() -> None:
    name = ctypes.util.find_library("m")
    if name:
        llvm.load_library_permanently(name)


def initialize() -> None:
    """Initialize LLVM's native target, libm and the bf16 translation, once (thread-safe)."""
    global _initialized
    with _INIT_LOCK:
        if _initialized:
            return
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_native_asmparser()
        _load_libm()
        _teach_xdsl_bfloat16()
        _initialized = True


@dataclass(frozen=True)
class CpuMachine:
    """The facts of a CPU that code is compiled for: LLVM's triple, CPU name and features."""

    triple: str
    cpu: str
    features: str

    @property
    def vector_bytes(self) -> int:
        """The width of the widest vector registers: 64 with AVX-512, 32 with AVX, else
        16 (SSE, NEON)."""
        features = self.features.split(",")
        return 64 if "+avx512f" in features else 32 if "+avx" in features else 16


@cache
def host_machine() -> CpuMachine:
    """This host's CPU."""
    return CpuMachine(llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())


def target_machine(machine: CpuMachine, opt_level: int = 3) -> llvm.TargetMachine:
    """A new target machine for a CPU's triple, name and features.

    A new one each time: an MCJIT engine takes ownership of its target machine.
    """
    initialize()
    target = llvm.Target.from_triple(machine.triple)
    return target.create_target_machine(cpu=machine.cpu, features=machine.features, opt=opt_level, jit=True)


def host_target_machine(opt_level: int = 3) -> llvm.TargetMachine:
    """A new target machine for this host's CPU."""
    return target_machine(host_machine(), opt_level)


# Compilation ---------------------------------------------------------------------------


def to_llvm_ir(module: ModuleOp, target_machine: llvm.TargetMachine) -> str:
    """LLVM IR text of an llvm-dialect module, for the target machine's triple and layout."""
    from xdsl.backend.llvm.convert import convert_module

    initialize()
    try:
        ir_module = convert_module(
            module,
            fallback_target_triple=target_machine.triple,
            data_layout=str(target_machine.target_data),
        )
    except Exception as err:  # noqa: BLE001 - NotImplementedError, LLVMTranslationException, ...
        raise TcError(f"cannot translate the llvm dialect to LLVM IR: {type(err).__name__}: {err}") from None
    apply_function_attributes(module, ir_module)
    return str(ir_module)


def apply_function_attributes(module: ModuleOp, ir_module: ir.Module) -> None:
    """What xDSL's translation drops from a defined `llvm.func`: `internal`/`private`
    linkage, and `alwaysinline` in its `passthrough` (property or attribute). The
    routines of `lower-lowp` carry both, so that LLVM inlines them (and drops them)."""
    from xdsl.dialects import llvm as llvm_dialect
    from xdsl.dialects.builtin import ArrayAttr, StringAttr

    for op in module.ops:
        if not isinstance(op, llvm_dialect.FuncOp) or not op.body.blocks:
            continue
        function = ir_module.get_global(op.sym_name.data)
        if op.linkage.linkage.data in ("internal", "private"):
            function.linkage = op.linkage.linkage.data
        passthrough = op.passthrough or op.attributes.get("passthrough")
        if isinstance(passthrough, ArrayAttr) and StringAttr("alwaysinline") in passthrough.data:
            function.attributes.add("alwaysinline")


def parse_and_verify(text: str) -> llvm.ModuleRef:
    """Parse LLVM IR text and run LLVM's verifier.

    A TcError on failure; LLVM's message quotes the offending line of the IR.
    """
    try:
        parsed = llvm.parse_assembly(text)
    except RuntimeError as err:
        raise TcError("invalid LLVM IR: " + str(err).strip()) from None
    try:
        parsed.verify()
    except RuntimeError as err:
        raise TcError("LLVM IR does not verify: " + str(err).strip()) from None
    return parsed


def optimize(parsed: llvm.ModuleRef, target_machine: llvm.TargetMachine, opt_level: int) -> None:
    """LLVM's default O`opt_level` pipeline, vectorizers on from O2."""
    options = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    options.loop_vectorization = opt_level >= 2
    options.slp_vectorization = opt_level >= 2
    options.loop_unrolling = opt_level >= 2
    builder = llvm.create_pass_builder(target_machine, options)
    builder.getModulePassManager().run(parsed, builder)


def _ctype(llvm_type: str, what: str) -> Any:
    name = str(llvm_type)
    if name in _CTYPES:
        return _CTYPES[name]
    if name.startswith("ptr"):
        return ctypes.c_void_p
    if name in ("half", "bfloat"):
        raise TcError(f"{what} has type {name}: f16/bf16 scalars cannot cross the CPU ABI; "
                      "pass them as f32 (or as i16 bits and bitcast)")
    raise TcError(f"{what} has type {name}, which the CPU backend cannot pass")


# (result, parameters) of a function, as LLVM prints its types: what ctypes needs to call
# it, kept beside object code
Signature = tuple[str, tuple[str, ...]]


def _signature(fn: llvm.ValueRef) -> Signature:
    fn_type = fn.global_value_type
    if fn_type.is_function_vararg:
        raise TcError(f"@{fn.name} is variadic")
    return str(fn_type.get_function_return()), tuple(str(t) for t in fn_type.get_function_parameters())


def _ctypes_signature(name: str, signature: Signature) -> tuple[Any, list[Any]]:
    result, parameters = signature
    return (_ctype(result, f"the result of @{name}"),
            [_ctype(t, f"argument #{i} of @{name}") for i, t in enumerate(parameters)])


def _cfunction(engine: llvm.ExecutionEngine, name: str, restype: Any, argtypes: Sequence[Any], owner: object) -> Any:
    """A ctypes function at @name's address in `engine`, keeping `owner` (which holds
    the engine and its machine code) alive."""
    address = engine.get_function_address(name)
    if not address:
        raise TcError(f"the compiled module defines no function @{name}")
    fn = ctypes.CFUNCTYPE(restype, *argtypes)(address)
    fn._tcir_module = owner
    return fn


def compile_object(llvm_ir: str, opt_level: int = 3, machine: CpuMachine | None = None
                   ) -> tuple[bytes, dict[str, Signature]]:
    """Object code of LLVM IR text for `machine` (default: this host), optimized at
    `opt_level`, and the signatures of the functions it defines: what `ObjectModule`
    loads (and the compilation cache keeps)."""
    tm = target_machine(machine or host_machine(), opt_level)
    with COMPILE_LOCK:
        parsed = _optimized(llvm_ir, tm, opt_level)
        signatures = {f.name: _signature(f) for f in parsed.functions if not f.is_declaration}
        return tm.emit_object(parsed), signatures


def assembly(llvm_ir: str, opt_level: int = 3, machine: CpuMachine | None = None) -> str:
    """The assembly of the object code `compile_object` makes of the same LLVM IR."""
    tm = target_machine(machine or host_machine(), opt_level)
    with COMPILE_LOCK:
        return tm.emit_assembly(_optimized(llvm_ir, tm, opt_level))


def _optimized(llvm_ir: str, tm: llvm.TargetMachine, opt_level: int) -> llvm.ModuleRef:
    parsed = parse_and_verify(llvm_ir)
    optimize(parsed, tm, opt_level)
    return parsed


def check_object(code: bytes) -> None:
    """A TcError unless `code` is a whole 64-bit little-endian ELF object (what
    `compile_object` makes on the hosts tcir supports): LLVM's loader trusts its input,
    and a truncated or foreign file would crash the process instead of raising."""
    if len(code) < 64 or code[:4] != b"\x7fELF" or code[4:6] != b"\x02\x01":
        raise TcError("not a 64-bit little-endian ELF object file")
    (section_table,) = struct.unpack_from("<Q", code, 0x28)
    entry_size, count = struct.unpack_from("<HH", code, 0x3A)
    if entry_size < 0x28 or section_table + entry_size * count > len(code):
        raise TcError("the object file is truncated (its section table is past its end)")
    for i in range(count):
        kind, = struct.unpack_from("<I", code, section_table + i * entry_size + 4)
        offset, size = struct.unpack_from("<QQ", code, section_table + i * entry_size + 0x18)
        if kind != _SHT_NOBITS and offset + size > len(code):
            raise TcError(f"the object file is truncated (section {i} is past its end)")


_SHT_NOBITS = 8  # an ELF section with no bytes in the file (.bss)


class ObjectModule:
    """Host object code (from `compile_object`) loaded into an MCJIT engine."""

    def __init__(self, object_code: bytes, signatures: dict[str, Signature]):
        check_object(object_code)
        self.signatures = signatures
        with COMPILE_LOCK:
            self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), host_target_machine())
            try:
                self._engine.add_object_file(llvm.ObjectFileRef.from_data(object_code))
                self._engine.finalize_object()
            except RuntimeError as err:
                raise TcError(f"cannot load the object code: {str(err).strip()}") from None

    def function(self, name: str) -> Any:
        """A ctypes function for @name, typed by its signature."""
        if name not in self.signatures:
            raise TcError(f"the compiled module defines no function @{name}")
        return _cfunction(self._engine, name, *_ctypes_signature(name, self.signatures[name]), self)


class CpuModule:
    """An llvm-dialect module, optimized and JIT-compiled for the host CPU."""

    def __init__(self, llvm_module: ModuleOp, opt_level: int = 3):
        if opt_level not in (0, 1, 2, 3):
            raise TcError(f"opt_level must be 0..3, got {opt_level}")
        self.opt_level = opt_level
        self._target_machine = host_target_machine(opt_level)
        with COMPILE_LOCK:
            self.unoptimized_ir = to_llvm_ir(llvm_module, self._target_machine)
            parsed = parse_and_verify(self.unoptimized_ir)
            optimize(parsed, self._target_machine, opt_level)
            self.llvm_ir = str(parsed)
            self._parsed = parsed
            self._engine = llvm.create_mcjit_compiler(parsed, self._target_machine)
            self._engine.finalize_object()
        self._asm: str | None = None

    @property
    def asm(self) -> str:
        """Assembly of the optimized module for the host CPU (computed on first use)."""
        if self._asm is None:
            with COMPILE_LOCK:
                self._asm = self._target_machine.emit_assembly(llvm.parse_assembly(self.llvm_ir))
        return self._asm

    def signature(self, name: str) -> tuple[Any, list[Any]]:
        """(restype, argtypes) in ctypes of the defined function `name`."""
        with COMPILE_LOCK:
            try:
                fn = self._parsed.get_function(name)
            except NameError:
                raise TcError(f"the compiled module defines no function @{name}") from None
            if fn.is_declaration:
                raise TcError(f"@{name} is only declared in the compiled module")
            return _ctypes_signature(name, _signature(fn))

    def function(self, name: str, argtypes: Sequence[Any] | None = None, restype: Any = ...) -> Any:
        """A ctypes function for @name; types default to its LLVM signature.

        The function keeps this module (and its machine code) alive.
        """
        default_res, default_args = self.signature(name)
        argtypes = list(default_args if argtypes is None else argtypes)
        if len(argtypes) != len(default_args):
            raise TcError(f"@{name} takes {len(default_args)} arguments, not {len(argtypes)}")
        return _cfunction(self._engine, name, default_res if restype is ... else restype, argtypes, self)


# Calling -------------------------------------------------------------------------------


def array_pointer(array: np.ndarray) -> ctypes.c_void_p:
    """The address of an array's first element (strides are the kernel's business)."""
    if not isinstance(array, np.ndarray):
        raise TcError(f"expected a NumPy array, got {type(array).__name__}")
    if not array.dtype.isnative:
        raise TcError(f"array of dtype {array.dtype} is not in native byte order")
    if not array.flags.aligned:
        raise TcError(f"array of dtype {array.dtype} is not aligned to its element size")
    return ctypes.c_void_p(array.ctypes.data)


def scalar_value(value: Any, ctype: Any) -> Any:
    """`value` as the ctypes scalar `ctype`; integers must fit its signed or unsigned range.

    A float16/bfloat16 NumPy scalar widens exactly to a float/double parameter, and
    goes as its bit pattern to an i16 one (how the *-to-llvm passes lower bf16); a scalar
    of another ml_dtypes type (a number format: float8_e4m3fn, int4 ...) goes as its bits
    to an integer parameter of its size (lower-lowp passes formats as storage integers).
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, np.generic) and value.dtype in _NARROW_FLOATS and ctype is ctypes.c_int16:
        return ctype(np.asarray(value).view(np.int16).item())  # bf16 lowered to its i16 bits
    if (isinstance(value, np.generic) and type(value).__module__.split(".")[0] == "ml_dtypes"
            and value.dtype.itemsize == ctypes.sizeof(ctype) and ctype in (ctypes.c_int8, ctypes.c_int16)):
        # a number format (float8_e4m3fn, int4 ...) lowered to its storage integer: its bits
        return ctype(np.asarray(value).view(f"int{8 * value.dtype.itemsize}").item())
    if isinstance(value, np.generic):
        value = value.item() if value.dtype not in _NARROW_FLOATS else float(value)
    if ctype in (ctypes.c_float, ctypes.c_double):
        return ctype(float(value))
    bits = 8 * ctypes.sizeof(ctype)
    if ctype is not ctypes.c_bool and 2 ** (bits - 1) <= value < 2 ** bits:
        value -= 2 ** bits  # an unsigned value: LLVM's integers are signless, its bits are what count
    converted = ctype(value)
    if converted.value != value:
        raise TcError(f"scalar {value!r} does not fit in {ctype.__name__}")
    return converted


def invoke(fn: Any, args: Sequence[Any]) -> Any:
    """Call `fn` with arguments in parameter order: arrays for pointers, else scalars."""
    argtypes = list(fn.argtypes or ())
    if len(args) != len(argtypes):
        raise TcError(f"the function takes {len(argtypes)} arguments, got {len(args)}")
    return fn(*[array_pointer(a) if t is ctypes.c_void_p else scalar_value(a, t)
                for a, t in zip(args, argtypes)])


def call(fn: Any, arrays: Sequence[np.ndarray], scalars: Sequence[Any] = ()) -> Any:
    """Call `fn(*arrays, *scalars)`: the arrays' parameters come first, then the scalars'."""
    return invoke(fn, [*arrays, *scalars])


class CpuKernel:
    """The entry function of a compiled module: `kernel(*args)` in parameter order."""

    def __init__(self, llvm_module: ModuleOp, entry: str, definition: Any = None, opt_level: int = 3):
        self.module = CpuModule(llvm_module, opt_level)
        self.entry = entry
        self.definition = definition  # the checked TC def, for callers' messages
        self.function = self.module.function(entry)

    def __call__(self, *args: Any) -> Any:
        return invoke(self.function, args)
