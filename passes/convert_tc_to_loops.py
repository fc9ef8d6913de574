"""Schedule each `tc.def` with isl and lower it to the scheduled scf loop nests.

Summary:
  The polyhedral path (`tcir.polyhedral`): the def's model (domains, accesses,
  dependences) is scheduled by the isl scheduler under the mapping options' fusion
  strategy; the innermost permutable band is reordered so its innermost loop walks
  memory contiguously; the outermost permutable bands are tiled; innermost loops are
  marked for unrolling; outermost coincident loops are marked parallel (and checked
  to carry no dependence when the AST is built). The isl AST of
  that schedule is emitted as `scf.for` / `scf.if` over memrefs
  (`tcir.polyhedral.codegen`), each statement instance as its `tc.stmt` body with
  the iterators computed from the loop counters.

  The def becomes a function per top-level part of the AST, `@<def>.part<k>`, taking
  the def's arguments and temporaries; a part whose outer loop is parallel also takes
  `lo, hi : index`, the chunk of that loop to run, and carries
  `tcir.parallel = [first, bound, step]`, the loop's full range, and
  `tcir.instances`, how many statement instances it runs. Memref arguments of parts
  are `llvm.noalias`: the arrays of one call must not overlap. `@<def>` itself
  allocates the temporaries (zero-filled), calls the parts in order (parallel ones on
  their full range) and carries `tcir.parts`, the parts' names: the CPU runtime calls
  the parts directly, running chunks of the parallel ones on several threads.

Options:
  sizes    "M=64,K=32" (required): the sizes to specialize to.
  strides  "A=1:64,f.B=32:1": element strides of tensor arguments (as in
           convert-tc-to-affine).
  mapping  a `tcir.MappingOptions` text, e.g. "tile=32,32 unroll=4
           outerScheduleFusionStrategy=Max"; unspecified options take the naive
           preset's values. The CPU path uses the outer schedule's fusion, skewing
           and orthant options, fixParametersBeforeScheduling, tile and unroll.
  vector_bytes  the width of the target's widest vector registers in bytes (default
           32, AVX2; the driver passes the host's: 64 with AVX-512, 16 with SSE or
           NEON), which sizes the register tiles.

Before:
  tc.def @scale(%A : !tc.tensor<[N], f32>) -> (%B : !tc.tensor<[N], f32>) {
    tc.stmt (%i in 0 to N) %B[%i] = {
      %0 = tc.read %A[%i] : f32
      tc.yield %0 : f32
    }
  }
After (sizes="N=100", mapping="tile=32"):
  func.func @scale(%A : memref<100xf32>, %B : memref<100xf32>) attributes
      {tcir.parts = ["scale.part0"]} {
    %lo = arith.constant 0 : index
    %hi = arith.constant 4 : index
    func.call @scale.part0(%A, %B, %lo, %hi) : (...) -> ()
    func.return
  }
  func.func @scale.part0(%A : memref<100xf32>, %B : memref<100xf32>, %lo : index,
      %hi : index) attributes {tcir.parallel = [0, 4, 1]} {
    scf.for %c0 = %lo to %hi step %c1 {
      scf.for %c1 = (32 * %c0) to min(100, 32 * %c0 + 32) step %c1 {   // as arith ops
        %v = memref.load %A[%c1] : memref<100xf32>
        memref.store %v, %B[%c1] : memref<100xf32>
      }
    }
    func.return
  }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import islpy as isl
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation
from xdsl.passes import ModulePass

from tcir.dialects import tc
from tcir.mapping_options import MappingOptions
from tcir.passes.split_reduction import split_module
from tcir.passes.tc_lowering import (
    ScheduledDefLowering, check_sizes, element_bytes, outer_schedule_options, parse_sizes, parse_strides, replace_defs,
)
from tcir.polyhedral import compute_schedule, extract, specialize, tile_outer_bands
from tcir.polyhedral.codegen import build_cpu_ast
from tcir.polyhedral.cpu_mapping import (
    dot_reduction_members, mark_parallel, mark_unroll, register_tile, register_tile_dots,
    sink_contiguous_members,
)
from tcir.polyhedral.model import Model

# the option's default: AVX2's 32-byte vectors
DEFAULT_VECTOR_BYTES = 32


def schedule_ast(def_op: tc.DefOp, sizes: Mapping[str, int], options: MappingOptions,
                 vector_bytes: int = DEFAULT_VECTOR_BYTES) -> tuple[Model, isl.AstNode]:
    """The specialized model of a def and the isl AST of its CPU schedule."""
    model = extract(def_op)
    fixed = specialize(model, sizes)
    scheduled = compute_schedule(model, outer_schedule_options(options, sizes))
    tree = scheduled.schedule.intersect_domain(fixed.domain)
    tree = sink_contiguous_members(tree, fixed)
    columns = _register_columns(def_op, vector_bytes)
    lanes = columns // REGISTER_VECTORS  # elements in a host vector
    if any(options["tile"]):
        tree = tile_outer_bands(tree, options["tile"], untiled=dot_reduction_members(fixed, lanes))
    tree = register_tile(tree, REGISTER_ROWS, columns)
    tree = register_tile_dots(tree, fixed, scheduled.deps.all, REGISTER_ROWS, REGISTER_VECTORS, lanes)
    tree = mark_parallel(mark_unroll(tree, options["unroll"]))
    # the loops below the parallel marks are checked against the dependences: only a
    # loop that carries none runs in chunks on several threads
    return fixed, build_cpu_ast(tree, fixed.context, scheduled.deps.all)


# A register tile is REGISTER_ROWS rows of REGISTER_VECTORS host vectors: 16 vector
# accumulators, half the registers of AVX-512 (the rest hold loaded operands).
REGISTER_ROWS = 4
REGISTER_VECTORS = 4


def _register_columns(def_op: tc.DefOp, vector_bytes: int) -> int:
    """Columns of a register tile: REGISTER_VECTORS host vectors of the def's widest
    element type."""
    types = [t.type.element_type if isinstance(t.type, tc.TensorType) else t.type
             for t in [*def_op.inputs, *def_op.outputs, *def_op.temporaries]]
    widest = max(element_bytes(tc.signless(t)) for t in types)
    return max(1, REGISTER_VECTORS * vector_bytes // widest)


class CpuDefLowering(ScheduledDefLowering):
    """`@<def>` calls its parts, scheduled for the CPU (see the module docstring)."""

    def __init__(self, def_op: tc.DefOp, sizes, strides, options: MappingOptions, vector_bytes: int):
        super().__init__(def_op, sizes, strides, options)
        self.vector_bytes = vector_bytes

    def schedule(self) -> tuple[Model, isl.AstNode]:
        return schedule_ast(self.def_op, self.sizes, self.options, self.vector_bytes)


def convert_tc_to_loops(module: ModuleOp, sizes: Mapping[str, int] | None, strides: Mapping[str, tuple[int, ...]],
                        options: MappingOptions, vector_bytes: int = DEFAULT_VECTOR_BYTES) -> None:
    """The pass on typed options."""
    check_sizes(ConvertTcToLoopsPass.name, module, sizes, "the polyhedral schedule is computed for known sizes",
                strides)
    sizes = sizes or {}
    if options["splitReduction"] >= 2:  # contiguous slices: one core reads one slice
        split_module(module, sizes, options["splitReduction"], "chunked")

    def lower_def(def_op: tc.DefOp) -> list[Operation]:
        lowering = CpuDefLowering(def_op, sizes, strides, options, vector_bytes)
        return [lowering.lower(), *lowering.part_functions]

    replace_defs(module, lower_def)


@dataclass(frozen=True)
class ConvertTcToLoopsPass(ModulePass):
    name = "convert-tc-to-loops"

    sizes: str = ""
    strides: str = ""
    mapping: str = ""
    vector_bytes: int = DEFAULT_VECTOR_BYTES

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        convert_tc_to_loops(op, parse_sizes(self.sizes) if self.sizes else None, parse_strides(self.strides),
                            MappingOptions.parse(self.mapping), self.vector_bytes)
