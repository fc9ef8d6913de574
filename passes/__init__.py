"""tcir's passes, one module each, named after the pass (`convert-tc-to-affine` lives in
`tcir.passes.convert_tc_to_affine`), and the registry that imports each one only when
it is first asked for (as xDSL's `get_all_passes`).

`get_pass(name)` finds a tcir pass or one of xDSL's; `LLVM_PASSES` is the llvm stage,
which the CPU pipelines and the NVPTX backend share.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.passes import ModulePass
from xdsl.transforms import get_all_passes as get_xdsl_passes


def get_all_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """Pass name -> a function importing and returning its class, in pipeline order."""

    def assign_precision():
        from tcir.passes.assign_precision import AssignPrecisionPass
        return AssignPrecisionPass

    def split_reduction():
        from tcir.passes.split_reduction import SplitReductionPass
        return SplitReductionPass

    def lower_lowp():
        from tcir.passes.lower_lowp import LowerLowpPass
        return LowerLowpPass

    def convert_tc_to_affine():
        from tcir.passes.convert_tc_to_affine import ConvertTcToAffinePass
        return ConvertTcToAffinePass

    def convert_tc_to_loops():
        from tcir.passes.convert_tc_to_loops import ConvertTcToLoopsPass
        return ConvertTcToLoopsPass

    def convert_tc_to_gpu():
        from tcir.passes.convert_tc_to_gpu import ConvertTcToGpuPass
        return ConvertTcToGpuPass

    def convert_gpu_to_nvvm():
        from tcir.passes.convert_gpu_to_nvvm import ConvertGpuToNvvmPass
        return ConvertGpuToNvvmPass

    def convert_memref_to_llvm():
        from tcir.passes.convert_memref_to_llvm import ConvertMemRefToLLVMPass
        return ConvertMemRefToLLVMPass

    def expand_exp():
        from tcir.passes.expand_exp import ExpandExpPass
        return ExpandExpPass

    def convert_arith_to_llvm():
        from tcir.passes.convert_arith_to_llvm import ConvertArithToLlvmPass
        return ConvertArithToLlvmPass

    def convert_math_to_llvm():
        from tcir.passes.convert_math_to_llvm import ConvertMathToLlvmPass
        return ConvertMathToLlvmPass

    def convert_cf_to_llvm():
        from tcir.passes.convert_cf_to_llvm import ConvertCfToLlvmPass
        return ConvertCfToLlvmPass

    def convert_func_to_llvm():
        from tcir.passes.convert_func_to_llvm import ConvertFuncToLlvmPass
        return ConvertFuncToLlvmPass

    return {
        "assign-precision": assign_precision,
        "split-reduction": split_reduction,
        "convert-tc-to-affine": convert_tc_to_affine,
        "convert-tc-to-loops": convert_tc_to_loops,
        "convert-tc-to-gpu": convert_tc_to_gpu,
        "convert-gpu-to-nvvm": convert_gpu_to_nvvm,
        "lower-lowp": lower_lowp,
        "convert-memref-to-llvm": convert_memref_to_llvm,
        "expand-exp": expand_exp,
        "convert-arith-to-llvm": convert_arith_to_llvm,
        "convert-math-to-llvm": convert_math_to_llvm,
        "convert-cf-to-llvm": convert_cf_to_llvm,
        "convert-func-to-llvm": convert_func_to_llvm,
    }


# The llvm stage: loops over memrefs (scf, memref, arith, math, func) to the llvm dialect;
# lower-lowp first (lowp ops to calls of generated arith routines, lowp types to integers).
LLVM_PASSES = (
    "lower-lowp",
    "convert-scf-to-cf",
    "convert-memref-to-llvm",
    "expand-exp",
    "convert-math-to-llvm",
    "convert-arith-to-llvm",
    "convert-cf-to-llvm",
    "convert-func-to-llvm",
    "reconcile-unrealized-casts",
)


def get_pass(name: str) -> type[ModulePass]:
    """The class of a tcir pass, or of one of xDSL's."""
    for registry in (get_all_passes(), get_xdsl_passes()):
        if name in registry:
            return registry[name]()
    raise KeyError(f"no pass named {name!r}")
