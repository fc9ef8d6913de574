"""Lower the `tc` dialect to affine loops over memrefs.

Summary:
  Each `tc.def` becomes a `func.func`; each `tc.stmt` a loop nest over its domain that
  stores (or reduces into) its target. A statement with `!` is preceded by a nest that
  sets the target to the reduction's identity. Reads become `affine.load`, or
  `memref.load` with computed indices when a subscript is indirect; temporaries are
  `memref.alloc`ed (and zero-filled, as outputs are) at entry and freed at exit. `?:` stays an `scf.if`, so guarded reads
  stay guarded. Loop order: the target's last index innermost, reductions just outside
  it, so that the innermost loop walks contiguous memory (statements that read their
  own target elsewhere than where they write keep TC's order: outputs, then reductions).

Options:
  sizes    "M=64,K=32": specialize every size to a constant; memrefs get static shapes
           and, with `strides`, static strided layouts. Without it the pass is
           parametric: sizes become leading `index` arguments and memrefs are dynamic.
  strides  "A=1:64,f.B=32:1": element strides of tensor arguments, by name or as
           DEF.NAME (specialized mode only; default dense row-major), e.g. for
           transposed or sliced inputs.

Before:
  tc.def @scale(%A : !tc.tensor<[N], f32>) -> (%B : !tc.tensor<[N], f32>) {
    tc.stmt (%i in 0 to N) %B[%i] = {
      %0 = tc.read %A[%i] : f32
      %1 = arith.addf %0, %0 : f32
      tc.yield %1 : f32
    }
  }
After (sizes="N=8"):
  func.func @scale(%A : memref<8xf32>, %B : memref<8xf32>) {
    affine.for %i = 0 to 8 {
      %0 = affine.load %A[%i] : memref<8xf32>
      %1 = arith.addf %0, %0 : f32
      affine.store %1, %B[%i] : memref<8xf32>
    }
    func.return
  }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from tcir.errors import TcError
from tcir.passes.tc_lowering import DefLowering, check_sizes, parse_sizes, parse_strides, replace_defs


def convert_tc_to_affine(module: ModuleOp, sizes: Mapping[str, int] | None = None,
                         strides: Mapping[str, tuple[int, ...]] | None = None) -> None:
    """The pass on typed options: `sizes` None for the parametric form."""
    if strides and sizes is None:
        raise TcError("the `strides` option needs `sizes` (specialized mode)")
    check_sizes(ConvertTcToAffinePass.name, module, sizes, strides=strides)
    sizes = dict(sizes) if sizes is not None else None
    replace_defs(module, lambda def_op: [DefLowering(def_op, sizes, dict(strides or {})).lower()])


@dataclass(frozen=True)
class ConvertTcToAffinePass(ModulePass):
    name = "convert-tc-to-affine"

    sizes: str = ""
    strides: str = ""

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        convert_tc_to_affine(op, parse_sizes(self.sizes) if self.sizes else None, parse_strides(self.strides))
