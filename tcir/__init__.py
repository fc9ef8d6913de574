"""tcir: Tensor Comprehensions compiled through MLIR-style dialects on xDSL.

    import numpy as np, tcir
    T = tcir.define("def scale(float(N) A, float s) -> (B) { B(i) = s * A(i) }")
    B = T.scale(np.arange(4, dtype=np.float32), 2.0)

`tcir.TcError` is the base of every error a user can cause; its text starts
`file:line:col: error:` whenever a source location exists.
"""

from . import lowp
from .api import Kernel, compile, define
from .cache import cache_info, clear_cache
from .errors import Location, TcError, TcWarning
from .mapping_options import MappingOptions

__all__ = ["define", "compile", "autotune", "grad", "mixed_precision", "accuracy_report", "gpu_report", "Kernel",
           "TcError", "TcWarning", "Location", "MappingOptions", "cache_info", "clear_cache", "lowp"]


def __getattr__(name: str):
    # `tcir.autotune` imports the tuner (scikit-learn, pebble, tqdm) only when first used
    if name == "autotune":
        from .tuning import autotune

        return autotune
    if name == "grad":  # `tcir.grad`: automatic differentiation of TC (docs/autodiff.md)
        from .autodiff import grad

        return grad
    if name == "mixed_precision":  # number formats across a def (docs/mixed-precision.md)
        from .precision import mixed_precision

        return mixed_precision
    if name == "accuracy_report":
        from .accuracy import accuracy_report

        return accuracy_report
    if name == "gpu_report":  # a performance model of the CUDA kernels, without a GPU (docs/gpu.md)
        from .gpu_model import gpu_report

        return gpu_report
    raise AttributeError(f"module 'tcir' has no attribute {name!r}")
__version__ = "0.1.0"
