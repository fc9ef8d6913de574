"""Low-precision number formats as TC types (issue 15; docs/lowp.md).

    import tcir.lowp
    tcir.lowp.float_format("fp7_e3m3", exponent=3, mantissa=3, kind="fn")
    tcir.lowp.fixed_format("q4_4", integer=4, fraction=4, signed=True)
    bits = tcir.lowp.encode(x, "q4_4"); y = tcir.lowp.decode(bits, "q4_4")

Every ml_dtypes type is registered from the start (`NAMED_FORMATS`). This package only
describes formats; it imports neither xDSL nor llvmlite, so declaring a format is cheap
(`encode` and `decode` import the compiler when they first run).
"""

from .codec import decode, encode
from ..frontend.formats import (
    FLOAT_KINDS, NAMED_FORMATS, FixedFormat, FloatFormat, Format, fixed_format, float_format, get_format,
    registered_formats,
)

__all__ = ["FloatFormat", "FixedFormat", "Format", "FLOAT_KINDS", "NAMED_FORMATS",
           "float_format", "fixed_format", "get_format", "registered_formats", "encode", "decode"]
