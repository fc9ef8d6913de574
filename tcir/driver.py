"""The staged compilation driver (after Triton's stage dictionary).

`STAGES` maps each stage name to the passes that produce it from the previous stage,
in order; `tc-opt --emit=LEVEL` and the Python API run the pipeline up to a stage:

  tc       the tc dialect, straight from the front end
  affine   convert-tc-to-affine: loop nests over memrefs
  loops    lower-affine: scf loops, memref loads and stores
  gpu      convert-tc-to-gpu: a host function launching kernels in a `gpu.module`
           (docs/gpu.md)
  llvm     the llvm dialect, ready for llvmlite
  llvm-ir  LLVM IR text (not MLIR: produced by the CPU backend from the llvm stage)
  ptx      PTX text (not MLIR: produced by backends/nvptx.py from the gpu stage)

Three pipelines go through these stages, chosen by the first pass's per-pass options:
  `STAGES`            tc, affine, loops, llvm, llvm-ir: parametric loops, specialized
                      to sizes from `affine` on (options of `convert-tc-to-affine`);
  `SCHEDULED_STAGES`  tc, loops, llvm, llvm-ir: the polyhedral CPU pipeline, the tc
                      stage straight to scheduled loops (isl scheduling, tiling,
                      parallel parts; options of `convert-tc-to-loops`);
  `GPU_STAGES`        tc, gpu, ptx: isl scheduling mapped to blocks and threads
                      (options of `convert-tc-to-gpu`).
"""

from __future__ import annotations

from collections.abc import Mapping

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass, PassPipeline
from xdsl.transforms import get_all_passes

from .errors import Location, TcError
from .frontend import check_source
from .universe import PASSES, pass_class

# every stage, in pipeline order
STAGE_NAMES = ("tc", "affine", "loops", "gpu", "llvm", "llvm-ir", "ptx")
# stage -> passes that lower the previous stage's IR to it
STAGES: dict[str, list[str]] = {
    "tc": [],
    "affine": ["convert-tc-to-affine"],
    "loops": ["lower-affine"],
    "llvm": [
        "convert-scf-to-cf",
        "convert-memref-to-llvm",
        "expand-exp",
        "convert-math-to-llvm",
        "convert-arith-to-llvm",
        "convert-cf-to-llvm",
        "convert-func-to-llvm",
        "reconcile-unrealized-casts",
    ],
    "llvm-ir": [],
}
SCHEDULED_STAGES: dict[str, list[str]] = {
    "tc": [],
    # lower-affine: the zero-fill loops of temporaries
    "loops": ["convert-tc-to-loops", "lower-affine", "canonicalize", "cse"],
    "llvm": STAGES["llvm"],
    "llvm-ir": [],
}
GPU_STAGES: dict[str, list[str]] = {
    "tc": [],
    "gpu": ["convert-tc-to-gpu"],
    "ptx": [],
}
# the pass whose options select each pipeline, and what it is called in messages
_PIPELINES = (
    ("convert-tc-to-gpu", GPU_STAGES, "the GPU pipeline goes from `tc` to `gpu`, then to `ptx`"),
    ("convert-tc-to-loops", SCHEDULED_STAGES,
     "with mapping options the pipeline goes from `tc` straight to scheduled `loops`"),
    ("convert-tc-to-affine", STAGES, "the parametric pipeline has no `gpu` or `ptx` stage"),
)


def tc_to_module(source: str, filename: str = "<string>", entry: str | None = None) -> ModuleOp:
    """TC source to verified `tc` dialect IR (one `tc.def` per def, or only `entry`)."""
    from .irgen import build_module

    program = check_source(source, filename)
    if entry is not None and entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines "
                      + ", ".join(f"`{n}`" for n in program.defs), Location(filename, 1, 1))
    module = build_module(program, [entry] if entry else list(program.defs))
    module.verify()
    return module


def get_pass(name: str) -> type[ModulePass]:
    """A tcir pass, or one of xDSL's."""
    if name in PASSES:
        return pass_class(name)
    return get_all_passes()[name]()


def stage_passes(upto: str, options: Mapping[str, Mapping[str, object]] | None = None,
                 after: str = "tc") -> list[ModulePass]:
    """The passes of the stages after `after` up to and including `upto`, with
    per-pass options."""
    if upto not in STAGE_NAMES:
        raise TcError(f"unknown stage `{upto}`; expected one of {', '.join(STAGE_NAMES)}")
    options = options or {}
    first, stages, shape = next(p for p in _PIPELINES if p[0] in options or p[1] is STAGES)
    if upto not in stages:
        raise TcError(f"{shape}: there is no `{upto}` stage")
    if STAGE_NAMES.index(upto) > STAGE_NAMES.index("affine") and not options.get(first, {}).get("sizes"):
        raise TcError(f"lowering to `{upto}` needs every size specialized to a constant "
                      "(tc-opt --sizes M=64,N=32; the Python API does it from the inputs): "
                      "parametric IR stops at the `affine` stage")
    names = list(stages)
    chosen = names[names.index(after) + 1:names.index(upto) + 1]
    return [get_pass(n)(**options.get(n, {})) for stage in chosen for n in stages[stage]]


def run_stages(module: ModuleOp, upto: str, ctx: Context,
               options: Mapping[str, Mapping[str, object]] | None = None, after: str = "tc") -> None:
    """Lower `module` from stage `after` (default: the tc stage) through every stage up
    to `upto`, verifying after each pass."""
    passes = stage_passes(upto, options, after)
    PassPipeline(tuple(passes), lambda _p, m, _n: m.verify()).apply(ctx, module)


def default_context() -> Context:
    """A context with every dialect the pipeline uses (xDSL's and tcir's)."""
    from xdsl.universe import Universe

    from .universe import TCIR_UNIVERSE

    ctx = Context()
    for universe in (Universe.get_multiverse(), TCIR_UNIVERSE):
        for name, factory in universe.all_dialects.items():
            if name not in ctx.registered_dialect_names:
                ctx.register_dialect(name, factory)
    return ctx
