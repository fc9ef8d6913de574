"""Schedule each `tc.def` with isl and lower it to the scheduled scf loop nests.

Summary:
  The polyhedral path (`tcir.polyhedral`): the def's model (domains, accesses,
  dependences) is scheduled by the isl scheduler under the mapping options' fusion
  strategy; the innermost permutable band is reordered so its innermost loop walks
  memory contiguously; the outermost permutable bands are tiled; innermost loops are
  marked for unrolling; outermost coincident loops are marked parallel. The isl AST of
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

from dataclasses import dataclass, replace

import islpy as isl
from xdsl.builder import Builder, InsertPoint
from xdsl.context import Context
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import (
    ArrayAttr, DictionaryAttr, IndexType, IntegerAttr, MemRefType, ModuleOp, StringAttr, UnitAttr, i64,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.passes import ModulePass

from tcir.dialects import tc
from tcir.errors import TcError
from tcir.mapping_options import MappingOptions
from tcir.backends.cpu import host_vector_bytes
from tcir.passes.convert_tc_to_affine import (
    DefLowering, StmtLowering, constant, parse_sizes, parse_strides,
)
from tcir.polyhedral import build_ast, compute_schedule, extract, specialize, tile_outer_bands
from tcir.polyhedral.codegen import AstToScf, Part, for_range, parts, statements_in
from tcir.polyhedral.cpu_mapping import (
    dot_reduction_members, mark_parallel, mark_unroll, register_tile, register_tile_dots,
    sink_contiguous_members,
)
from tcir.polyhedral.model import Model, box_volume


def schedule_ast(def_op: tc.DefOp, sizes: dict[str, int], options: MappingOptions) -> tuple[Model, isl.AstNode]:
    """The specialized model of a def and the isl AST of its CPU schedule."""
    model = extract(def_op)
    fixed = specialize(model, sizes)
    schedule_options = replace(options.schedule_options(sizes), tile=())  # tiled after reordering
    scheduled = compute_schedule(model, schedule_options)
    tree = scheduled.schedule.intersect_domain(fixed.domain)
    tree = sink_contiguous_members(tree, fixed)
    lanes = _register_columns(def_op) // REGISTER_VECTORS  # elements in a host vector
    if any(options["tile"]):
        tree = tile_outer_bands(tree, options["tile"], untiled=dot_reduction_members(fixed, lanes))
    tree = register_tile(tree, REGISTER_ROWS, _register_columns(def_op))
    tree = register_tile_dots(tree, fixed, scheduled.deps.all, REGISTER_ROWS, REGISTER_VECTORS, lanes)
    tree = mark_parallel(mark_unroll(tree, options["unroll"]))
    return fixed, build_ast(tree, fixed.context)


# A register tile is REGISTER_ROWS rows of REGISTER_VECTORS host vectors: 16 vector
# accumulators, half the registers of AVX-512 (the rest hold loaded operands).
REGISTER_ROWS = 4
REGISTER_VECTORS = 4


def _register_columns(def_op: tc.DefOp) -> int:
    """Columns of a register tile: REGISTER_VECTORS host vectors of the def's widest
    element type."""
    types = [t.type.element_type if isinstance(t.type, tc.TensorType) else t.type
             for t in [*def_op.inputs, *def_op.outputs, *def_op.temporaries]]
    widest = max((tc.signless(t).bitwidth + 7) // 8 for t in types)
    return max(1, REGISTER_VECTORS * host_vector_bytes() // widest)


_REASSOC = arith.FastMathFlagsAttr([arith.FastMathFlag.REASSOC, arith.FastMathFlag.ALLOW_CONTRACT])
_CONTRACT = arith.FastMathFlagsAttr([arith.FastMathFlag.ALLOW_CONTRACT])


def _reassociate(block: Block) -> None:
    """Mark the float sum of a `+=` reduction (the value of the statement's store, just
    emitted last in `block`) reassociable, so LLVM may vectorize the reduction loop
    (partial sums in vector lanes): a summation order TC leaves open. A product added
    to the sum may be contracted with it into a fused multiply-add (one rounding
    instead of two)."""
    store = block.last_op if not isinstance(block.last_op, scf.YieldOp | func.ReturnOp) else block.last_op.prev_op
    if isinstance(store, memref.StoreOp) and isinstance(store.value.owner, arith.AddfOp):
        add = store.value.owner
        add.properties["fastmath"] = _REASSOC
        for operand in add.operands:
            if isinstance(operand.owner, arith.MulfOp):
                operand.owner.properties["fastmath"] = _CONTRACT


def _int_array(values: tuple[int, ...]) -> ArrayAttr:
    return ArrayAttr([IntegerAttr(v, i64) for v in values])


class ScheduledDefLowering(DefLowering):
    """`@<def>` calls its parts (see the module docstring)."""

    def __init__(self, def_op: tc.DefOp, sizes: dict[str, int], strides, options: MappingOptions):
        super().__init__(def_op, sizes, strides)
        self.options = options
        self.stmts = [op for op in def_op.body.block.ops if isinstance(op, tc.StmtOp)]
        self.part_functions: list[func.FuncOp] = []

    def emit_statements(self) -> None:
        self.model, ast = schedule_ast(self.def_op, self.sizes, self.options)
        name = self.def_op.sym_name.data
        arguments = list(self.def_op.inputs) + list(self.def_op.outputs) + list(self.def_op.temporaries)
        caller_values, caller_builder = self.values, self.builder
        for k, part in enumerate(parts(ast)):
            loop = for_range(part.parallel) if part.parallel is not None else None
            chunked = loop is not None
            function = self.part_function(f"{name}.part{k}", part, arguments, chunked)
            self.values, self.builder = caller_values, caller_builder
            operands = [self.values[t] for t in arguments]
            if chunked:
                first, bound, step = loop
                function.attributes["tcir.parallel"] = _int_array((first, bound, step))
                function.attributes["tcir.instances"] = IntegerAttr(self.instances(part), i64)
                operands += [constant(self.builder, first, IndexType()), constant(self.builder, bound, IndexType())]
            self.builder.insert(func.CallOp(function.sym_name.data, operands, []))
            self.part_functions.append(function)

    def instances(self, part: Part) -> int:
        """About how many statement instances a part executes (the volume of each
        statement's bounding box: counting exactly can take isl seconds), for the
        runtime's choice of running it on one thread or several."""
        names = set().union(*(statements_in(n) for n in part.nodes))
        return sum(box_volume(self.model.statement(n).domain) for n in names)

    def part_function(self, name: str, part: Part, arguments, chunked: bool) -> func.FuncOp:
        types = [self.arg_type(self.names[t.index], t.type) for t in arguments]
        block = Block(arg_types=types + ([IndexType()] * 2 if chunked else []))
        self.values = {}
        for old, new in zip(arguments, block.args):
            new.name_hint = self.names[old.index]
            self.values[old] = new
        emitter = AstToScf(Builder(InsertPoint.at_end(block)), {}, self.emit_instance)
        if chunked:
            block.args[-2].name_hint, block.args[-1].name_hint = "lo", "hi"
            emitter.for_(part.parallel, block.args[-2], block.args[-1])
        else:
            for node in part.nodes:
                emitter.emit(node)
        emitter.builder.insert(func.ReturnOp())
        # Distinct tensors never overlap (the API refuses outputs that overlap anything):
        # noalias lets LLVM keep reductions in registers and vectorize without checks.
        arg_attrs = ArrayAttr([DictionaryAttr({"llvm.noalias": UnitAttr()} if isinstance(t, MemRefType) else {})
                               for t in block.arg_types])
        return func.FuncOp(name, (block.arg_types, []), Region(block), arg_attrs=arg_attrs)

    def emit_instance(self, builder: Builder, name: str, values: list[SSAValue]) -> None:
        """One statement instance, its iterators given by `values`."""
        statement = self.model.statement(name)
        op = self.stmts[statement.index]
        self.builder = builder
        lowering = StmtLowering(self, op)
        if statement.is_init:
            reductions = {a.index for a in op.reduction_iterators()}
            kept = [i for i in range(len(op.iterators)) if i not in reductions]
            lowering.emit_init(dict(zip(kept, values, strict=True)))
        else:
            lowering.emit_body(dict(enumerate(values)))
            if op.kind.data == "+" and op.reduction_iterators():
                _reassociate(builder.insertion_point.block)

    def lower(self) -> func.FuncOp:
        main = super().lower()
        main.attributes["tcir.parts"] = ArrayAttr([StringAttr(f.sym_name.data) for f in self.part_functions])
        return main


@dataclass(frozen=True)
class SchedulingPass(ModulePass):
    """What the passes that schedule each `tc.def` with isl for known sizes share: the
    options (`sizes` required, `strides`, `mapping`) and the walk replacing each def by
    the operations `lower_def` returns."""

    sizes: str = ""
    strides: str = ""
    mapping: str = ""

    # why `sizes` is required, for the error without it
    needs_sizes = "the polyhedral schedule is computed for known sizes"

    def lower_def(self, def_op: tc.DefOp, sizes: dict[str, int], strides: dict[str, tuple[int, ...]],
                  options: MappingOptions) -> list[Operation]:
        raise NotImplementedError

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if not self.sizes:
            raise TcError(f"{self.name} needs the `sizes` option: {self.needs_sizes}")
        sizes = parse_sizes(self.sizes)
        strides = parse_strides(self.strides)
        options = MappingOptions.parse(self.mapping)
        for def_op in list(op.ops):
            if isinstance(def_op, tc.DefOp):
                op.body.block.insert_ops_before(self.lower_def(def_op, sizes, strides, options), def_op)
                def_op.detach()
                def_op.erase()


@dataclass(frozen=True)
class ConvertTcToLoopsPass(SchedulingPass):
    name = "convert-tc-to-loops"

    def lower_def(self, def_op, sizes, strides, options) -> list[Operation]:
        lowering = ScheduledDefLowering(def_op, sizes, strides, options)
        main = lowering.lower()
        return [main, *lowering.part_functions]
