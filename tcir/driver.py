"""The staged compilation driver (after Triton's `compiler.py`), with the persistent cache.

A target owns its pipeline: an ordered dictionary of stages, each a function from the
previous stage's artifact (and the `Job`, the compilation's typed options) to the next:

  target   stages                                          artifacts
  affine   tc, affine, loops, llvm, llvm-ir                 parametric loops (sizes from
                                                            `loops` on); IR, then LLVM IR text
  cpu      tc, loops, llvm, llvm-ir, object                 the polyhedral CPU pipeline
                                                            (docs/polyhedral.md); object code
  cuda     tc, gpu, ptx                                     blocks and threads (docs/gpu.md);
                                                            PTX text

  tc       the tc dialect, straight from the front end
  affine   convert-tc-to-affine: affine loop nests over memrefs
  loops    lower-affine (affine), or convert-tc-to-loops (cpu): scheduled scf loops in
           parts, their plan recorded for the runtime
  gpu      convert-tc-to-gpu: a host function launching kernels in a `gpu.module`, its
           launch plan recorded for the runtime
  llvm     the llvm dialect (tcir.passes.LLVM_PASSES)
  llvm-ir  LLVM IR text for the host (backends/cpu.py)
  object   host object code, optimized at O3, and the signatures of its functions
  ptx      PTX for the target's architecture (backends/nvptx.py)

Options are typed Python values given once, in the `Job`: the `Layout` (sizes, strides
and dtypes), the `MappingOptions`, and on the target its machine's facts (`CpuMachine`:
triple, CPU name and features, from which the vector width; `GpuMachine`: architecture,
and for a real device its name, compute capability and driver version). Text appears
only at the `tc-opt` and pass-option boundary (`Layout.parse`). This module decides
which pipeline runs and with what; the passes and backends below it never import it.

`compile_kernel` is what the API calls: it looks the compilation up in the persistent
cache (tcir/cache.py, docs/cache.md) under a key of everything the result depends on,
compiles on a miss, stores the binary with its JSON metadata, and loads it (an
`ObjectModule` of object code, or a `CudaKernel` of PTX). An entry that cannot be loaded
is recompiled with a `TcWarning`.

Example:
    target = CpuTarget(host_machine())
    job = Job(Layout.of(sizes={"N": 64}), MappingOptions("naive"))
    text = lower(tc_module(program, "scale"), target, "llvm-ir", job)
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar

import islpy
import llvmlite
import xdsl
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline

from . import backends as tcir_backends
from . import cache as disk_cache
from . import dialects as tcir_dialects
from . import passes as tcir_passes
from .backends import cpu_parallel, gpu_plan
from .backends.cpu import CpuMachine, ObjectModule, assembly, compile_object, host_machine, target_machine, to_llvm_ir
from .backends.cuda_runtime import CudaKernel, Device
from .backends.nvptx import ARCHS, arch_for, ptx_for_module
from .dialects import default_context
from .errors import Location, TcError
from .frontend import check_source
from .frontend.checked import CheckedDef, CheckedProgram
from .frontend.formats import registered_formats
from .frontend.lexer import Lexer
from .irgen import build_module
from .mapping_options import MappingOptions
from .passes import LLVM_PASSES, get_pass
from .passes.convert_tc_to_affine import convert_tc_to_affine
from .passes.convert_tc_to_gpu import convert_tc_to_gpu
from .passes.convert_tc_to_loops import convert_tc_to_loops
from .passes.tc_lowering import parse_sizes, parse_strides, size_names

# every stage that `tc-opt --emit` can print, in pipeline order
STAGE_NAMES = ("tc", "affine", "loops", "gpu", "llvm", "llvm-ir", "ptx")

# xDSL's ImplicitBuilder swaps Operation.__post_init__ process-wide: xDSL IR is built and
# rewritten by one thread at a time, under this lock (`tc_module`, and each stage of
# `lower` that takes IR). Stages after the IR (object code: backends/cpu.py's
# COMPILE_LOCK) run outside it. Fork waits for the IR work under way (the child gets
# xDSL as it is between two stages) and the child starts with the lock free.
IR_LOCK = threading.RLock()
os.register_at_fork(before=IR_LOCK.acquire, after_in_parent=IR_LOCK.release, after_in_child=IR_LOCK.release)


# Options ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What a compilation is specialized to: the sizes, and per tensor its element
    strides (absent: dense row-major) and dtype (for the cache key)."""

    sizes: tuple[tuple[str, int], ...] = ()
    strides: tuple[tuple[str, tuple[int, ...]], ...] = ()
    dtypes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, sizes: Mapping[str, int], strides: Mapping[str, tuple[int, ...]] | None = None,
           dtypes: Mapping[str, str] | None = None) -> Layout:
        return cls(tuple(sorted(sizes.items())), tuple(sorted((strides or {}).items())),
                   tuple(sorted((dtypes or {}).items())))

    @classmethod
    def parse(cls, sizes: str, strides: str = "") -> Layout:
        """The text form of `tc-opt --sizes M=64,N=32 --strides A=1:64`."""
        return cls.of(parse_sizes(sizes), parse_strides(strides))

    @property
    def size_map(self) -> dict[str, int]:
        return dict(self.sizes)

    @property
    def stride_map(self) -> dict[str, tuple[int, ...]]:
        return dict(self.strides)

    def pass_options(self) -> dict[str, str]:
        """The `sizes` and `strides` options of the tc-lowering passes, as text: for
        running those passes by name (`-p`, tests)."""
        return {"sizes": ",".join(f"{k}={v}" for k, v in self.sizes),
                "strides": ",".join(f"{n}={':'.join(map(str, s))}" for n, s in self.strides)}


@dataclass
class Job:
    """One compilation's options, and what its stages record for the runtime."""

    layout: Layout | None = None  # None: parametric (the affine target's tc and affine stages)
    mapping: MappingOptions = field(default_factory=MappingOptions)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def specialized(self) -> Layout:
        """The layout of a stage that needs one (`lower` checked that there is one)."""
        assert self.layout is not None
        return self.layout


@dataclass(frozen=True)
class GpuMachine:
    """The facts of the GPU code is compiled for: the PTX architecture, and for a real
    device its name, compute capability and driver version (cache key only)."""

    arch: str = ARCHS[-1]
    name: str = ""
    capability: tuple[int, int] | None = None
    driver_version: int | None = None

    @classmethod
    def of(cls, device: Device) -> GpuMachine:
        return cls(arch_for(device.compute_capability), device.name, device.compute_capability,
                   device.driver.cuDriverGetVersion())


# Stages -----------------------------------------------------------------------------------

Stage = Callable[[Any, Job], Any]


def verified(module: ModuleOp) -> ModuleOp:
    module.verify()
    return module


def passes(*names: str) -> Stage:
    """A stage running passes by name (tcir's or xDSL's), verifying after each. Its input
    is verified IR (each stage's output is, and tc-opt verifies what it reads), so it is
    not verified again before the first pass."""

    def run(module: ModuleOp, _job: Job) -> ModuleOp:
        pipeline = tuple(get_pass(name)() for name in names)
        PassPipeline(pipeline, _verify_after_pass).apply(default_context(), module)
        return module

    return run


def _verify_after_pass(done: Any, module: ModuleOp, _next: Any) -> None:
    if done is not None:  # PassPipeline also calls back before the first pass (done: None)
        module.verify()


def _affine(module: ModuleOp, job: Job) -> ModuleOp:
    layout = job.layout
    convert_tc_to_affine(module, layout.size_map if layout else None, layout.stride_map if layout else None)
    return verified(module)


def _record_cpu_plans(module: ModuleOp) -> dict[str, Any]:
    """The parallel-part plan of each scheduled def, read before the llvm stage drops the
    attributes it comes from."""
    names = [op.sym_name.data for op in module.ops if "tcir.parts" in getattr(op, "attributes", {})]
    return {name: cpu_parallel.plan(module, name).to_json() for name in names}


def llvm_ir_for(machine: CpuMachine) -> Stage:
    """The llvm-ir stage: LLVM IR text with `machine`'s triple and data layout."""
    return lambda module, _job: to_llvm_ir(module, target_machine(machine))


@dataclass(frozen=True)
class Target:
    """A pipeline: its name, its ordered stages, and the facts of its machine."""

    name: ClassVar[str]
    description: ClassVar[str]  # what its pipeline is, for messages
    # the stages that IR with symbolic sizes reaches (the rest need a layout)
    parametric: ClassVar[tuple[str, ...]] = ("tc",)

    @property
    def stages(self) -> dict[str, Stage]:
        raise NotImplementedError

    def machine_key(self) -> dict[str, Any]:
        """The machine's facts that the compiled code depends on (for the cache key)."""
        return {}


@dataclass(frozen=True)
class AffineTarget(Target):
    """The parametric pipeline: tc → affine → loops → llvm → llvm-ir."""

    name = "affine"
    description = "the parametric pipeline goes through `tc`, `affine`, `loops`, `llvm` and `llvm-ir`"
    parametric = ("tc", "affine")

    @property
    def stages(self) -> dict[str, Stage]:
        return {"tc": lambda m, _: m, "affine": _affine, "loops": passes("lower-affine"),
                "llvm": passes(*LLVM_PASSES), "llvm-ir": llvm_ir_for(host_machine())}


@dataclass(frozen=True)
class CpuTarget(Target):
    """The polyhedral CPU pipeline for `machine`: tc → loops → llvm → llvm-ir → object."""

    name = "cpu"
    description = "with mapping options the pipeline goes from `tc` straight to scheduled `loops`"
    machine: CpuMachine = field(default_factory=host_machine)

    @property
    def stages(self) -> dict[str, Stage]:
        return {"tc": lambda m, _: m, "loops": self._loops, "llvm": passes(*LLVM_PASSES),
                "llvm-ir": llvm_ir_for(self.machine), "object": self._object}

    def _loops(self, module: ModuleOp, job: Job) -> ModuleOp:
        layout = job.specialized
        convert_tc_to_loops(module, layout.size_map, layout.stride_map, job.mapping, self.machine.vector_bytes)
        # lower-affine: the zero-fill loops of temporaries
        passes("lower-affine", "canonicalize", "cse")(verified(module), job)
        job.metadata["plans"] = _record_cpu_plans(module)
        return module

    def _object(self, llvm_ir: str, job: Job) -> bytes:
        code, signatures = compile_object(llvm_ir, machine=self.machine)
        job.metadata["signatures"] = {name: [result, list(params)] for name, (result, params) in signatures.items()}
        return code

    def machine_key(self) -> dict[str, Any]:
        return {"triple": self.machine.triple, "cpu": self.machine.cpu, "features": self.machine.features}


@dataclass(frozen=True)
class CudaTarget(Target):
    """The GPU pipeline for `machine`: tc → gpu → ptx."""

    name = "cuda"
    description = "the GPU pipeline goes from `tc` to `gpu`, then to `ptx`"
    machine: GpuMachine = field(default_factory=GpuMachine)

    @property
    def stages(self) -> dict[str, Stage]:
        return {"tc": lambda m, _: m, "gpu": self._gpu, "ptx": self._ptx}

    @staticmethod
    def _gpu(module: ModuleOp, job: Job) -> ModuleOp:
        layout = job.specialized
        convert_tc_to_gpu(module, layout.size_map, layout.stride_map, job.mapping)
        verified(module)
        hosts = [op.sym_name.data for op in module.ops if "tcir.gpu" in getattr(op, "attributes", {})]
        job.metadata["plans"] = {name: gpu_plan.to_json(gpu_plan.plan(module, name)) for name in hosts}
        return module

    def _ptx(self, module: ModuleOp, _job: Job) -> str:
        return ptx_for_module(module, self.machine.arch)

    def machine_key(self) -> dict[str, Any]:
        m = self.machine
        return {"arch": m.arch, "name": m.name, "capability": list(m.capability or ()), "driver": m.driver_version}


def target_named(name: str, device: Device | None = None) -> CpuTarget | CudaTarget:
    """The target of the API's `target=` name: this host's CPU, or the CUDA `device`."""
    if name == "cuda":
        return CudaTarget(GpuMachine.of(device))
    return CpuTarget()


def lower(artifact: Any, target: Target, upto: str, job: Job, after: str = "tc") -> Any:
    """Run `target`'s stages after `after` up to and including `upto` on `artifact`."""
    for name in stages_between(artifact, target, upto, job, after):
        with IR_LOCK if isinstance(artifact, ModuleOp) else nullcontext():
            artifact = target.stages[name](artifact, job)
    return artifact


def stages_between(artifact: Any, target: Target, upto: str, job: Job, after: str = "tc") -> list[str]:
    """The names of `target`'s stages after `after` up to and including `upto`, once
    the options are checked (`job.layout` is set where nothing needs specializing)."""
    names = list(target.stages)
    for name in (upto, after):
        if name not in names:
            raise TcError(f"{target.description}: there is no `{name}` stage")
    if names.index(upto) < names.index(after):
        raise TcError(f"the input is at the `{after}` stage, past `{upto}`")
    if job.layout is None and isinstance(artifact, ModuleOp) and not size_names(artifact):
        job.layout = Layout()  # nothing to specialize: the defs' extents are all literal
    if job.layout is None and after == "tc" and upto not in target.parametric:
        raise TcError(f"lowering to `{upto}` needs every size specialized to a constant "
                      "(tc-opt --sizes M=64,N=32; the Python API does it from the inputs): "
                      f"parametric IR stops at the `{target.parametric[-1]}` stage")
    return names[names.index(after) + 1:names.index(upto) + 1]


def stage_of(module: ModuleOp) -> str:
    """The stage that IR is at, from the ops it holds (what `tc-opt` reads back)."""
    names = {op.name for op in module.walk()}
    if "tc.def" in names:
        return "tc"
    if "gpu.module" in names:
        return "gpu"
    if any(name.startswith("affine.") for name in names):
        return "affine"
    if names - {"builtin.module"} and all(n.startswith("llvm.") or n == "builtin.module" for n in names):
        return "llvm"
    return "loops" if "func.func" in names else "tc"


def tc_module(program: CheckedProgram, entry: str | None = None) -> ModuleOp:
    """A checked program (or its def `entry`) as verified `tc` dialect IR."""
    if entry is not None and entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines "
                      + ", ".join(f"`{n}`" for n in program.defs), Location(program.filename, 1, 1))
    with IR_LOCK:
        return verified(build_module(program, [entry] if entry else list(program.defs)))


def tc_to_module(source: str, filename: str = "<string>", entry: str | None = None) -> ModuleOp:
    """TC source (or its def `entry`) as verified `tc` dialect IR."""
    return tc_module(check_source(source, filename), entry)


# Compiling a kernel, through the cache ----------------------------------------------------------


@lru_cache(maxsize=16)  # a kernel's first call asks twice (options cache, compilation cache)
def canonical_source(source: str) -> str:
    """The source's tokens: edits to comments and layout compile to the same code."""
    return " ".join(token.text for token in Lexer(source).tokens())


@cache
def _tcir_fingerprint() -> str:
    """tcir's version and a hash of its Python sources (every installed folder: in an
    editable install `tcir.passes`, `tcir.backends` and `tcir.dialects` live outside
    `tcir/`): a changed compiler never reuses what an older one compiled."""
    digest = hashlib.sha256()
    for package in (tcir_passes, tcir_backends, tcir_dialects, None):
        root = Path(package.__file__ if package else __file__).resolve().parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return f"{importlib.metadata.version('tcir')}+{digest.hexdigest()[:16]}"


def cache_components(source: str, entry: str, target: Target, layout: Layout,
                     mapping: MappingOptions | None) -> dict:
    """Everything a compiled kernel depends on: the cache key's components (without
    `mapping`: what the tuned options of a kernel are kept under)."""
    components = {
        "source": canonical_source(source),
        "entry": entry,
        "layout": {"sizes": layout.sizes, "strides": layout.strides, "dtypes": layout.dtypes},
        "target": target.name,
        "machine": target.machine_key(),
        "versions": {"tcir": _tcir_fingerprint(), "llvmlite": llvmlite.__version__, "xdsl": str(xdsl.__version__),
                     "islpy": islpy.VERSION_TEXT},
    }
    formats = _formats_named(components["source"])
    if formats:  # a format name means what this process registered under it
        components["formats"] = formats
    if mapping is not None:
        components["mapping"] = str(mapping)
    return components


def _formats_named(canonical: str) -> dict[str, str]:
    """The number formats of `tcir.lowp` that a canonical source names, with their
    parameters (none for a kernel that names none, however many are registered)."""
    registered = registered_formats()
    return {name: repr(registered[name]) for name in sorted(set(canonical.split(" "))) if name in registered}


@dataclass(frozen=True)
class Compiled:
    """A compiled def: its binary (object code or PTX) and the JSON metadata its runtime
    needs (the plan; for object code the functions' signatures)."""

    binary: bytes
    metadata: dict[str, Any]


def compile_def(program: CheckedProgram, entry: str, target: CpuTarget | CudaTarget, layout: Layout,
                mapping: MappingOptions) -> Compiled:
    """Compile def `entry` through its target's last stage (no cache)."""
    final = list(target.stages)[-1]
    job = Job(layout, mapping)
    binary = lower(tc_module(program, entry), target, final, job)
    plan = job.metadata["plans"][entry]
    metadata = {"plan": plan, **({"signatures": job.metadata["signatures"]} if "signatures" in job.metadata else {})}
    return Compiled(binary.encode() if isinstance(binary, str) else binary, metadata)


def shown_stages(target: CpuTarget | CudaTarget) -> list[str]:
    """What `show` can print for `target`: its stages as text (not `object`, which is
    binary), and for a CPU target `asm`, the assembly of the object code."""
    names = [name for name in target.stages if name != "object"]
    return names + ["asm"] if isinstance(target, CpuTarget) else names


def show(program: CheckedProgram, entry: str, target: CpuTarget | CudaTarget, layout: Layout,
         mapping: MappingOptions, stage: str) -> str:
    """Def `entry` at `stage` as text, compiled as `compile_def` would (no cache): IR in
    the custom syntax, LLVM IR, PTX, or the host assembly."""
    names = shown_stages(target)
    if stage not in names:
        raise TcError(f"no stage `{stage}` for target \"{target.name}\"; the stages are "
                      + ", ".join(f"`{n}`" for n in names))
    module = tc_module(program, entry)
    if stage == "asm":
        return assembly(lower(module, target, "llvm-ir", Job(layout, mapping)), machine=target.machine)
    return str(lower(module, target, stage, Job(layout, mapping)))


def load(compiled: Compiled, target: CpuTarget | CudaTarget, definition: CheckedDef, device: Device | None = None):
    """The callable kernel of a compilation; a TcError, KeyError, TypeError or
    ValueError if its metadata is not what `compile_def` writes."""
    if isinstance(target, CudaTarget):
        return CudaKernel(compiled.binary.decode(), gpu_plan.from_json(compiled.metadata["plan"]),
                          len(definition.outputs), device.ordinal if device else 0, definition)
    signatures = {name: (str(result), tuple(map(str, params)))
                  for name, (result, params) in compiled.metadata["signatures"].items()}
    return cpu_parallel.ParallelCpuKernel(ObjectModule(compiled.binary, signatures),
                                          cpu_parallel.Plan.from_json(compiled.metadata["plan"]), definition)


def compile_kernel(program: CheckedProgram, entry: str, target: CpuTarget | CudaTarget, layout: Layout,
                   mapping: MappingOptions, device: Device | None = None):
    """The kernel of def `entry`, from the persistent cache or compiled (and cached)."""
    definition = program.defs[entry]
    key = disk_cache.cache_key(cache_components(program.source, entry, target, layout, mapping))
    found = disk_cache.get(key)
    if found is not None:
        try:
            return load(Compiled(found.blobs["binary"], found.metadata), target, definition, device)
        except (TcError, KeyError, TypeError, ValueError) as err:
            disk_cache.reject(key, f"cannot be loaded ({err})")
    compiled = compile_def(program, entry, target, layout, mapping)
    kernel = load(compiled, target, definition, device)
    disk_cache.put(key, compiled.metadata, {"binary": compiled.binary})
    return kernel


def cache_compiled(program: CheckedProgram, entry: str, target: CpuTarget | CudaTarget, layout: Layout,
                   mapping: MappingOptions, compiled: Compiled) -> None:
    """Keep a compilation made elsewhere (the tuner's workers) in the persistent cache,
    where `compile_kernel` finds it."""
    key = disk_cache.cache_key(cache_components(program.source, entry, target, layout, mapping))
    disk_cache.put(key, compiled.metadata, {"binary": compiled.binary})
