"""tcir: Tensor Comprehensions compiled through MLIR-style dialects on xDSL.

The public API grows with the compiler; today it exposes the error type every
user-facing failure derives from and the front end's entry point.
"""

from .errors import Location, TcError, TcWarning

__all__ = ["TcError", "TcWarning", "Location"]
__version__ = "0.1.0"
