"""tcir's dialects (`tc`, `lowp`, `tcgpu`), imported only when first asked for, and the context every
pipeline uses.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.context import Context
from xdsl.ir import Dialect
from xdsl.universe import Universe


def get_all_dialects() -> dict[str, Callable[[], Dialect]]:
    """Dialect name -> a function importing and returning it."""

    def get_tc() -> Dialect:
        from tcir.dialects.tc import TC
        return TC

    def get_lowp() -> Dialect:
        from tcir.dialects.lowp import LOWP
        return LOWP

    def get_tcgpu() -> Dialect:
        from tcir.dialects.tcgpu import TCGPU
        return TCGPU

    return {"tc": get_tc, "lowp": get_lowp, "tcgpu": get_tcgpu}


def default_context() -> Context:
    """A context with xDSL's dialects, those of the installed xDSL plugins, and tcir's."""
    ctx = Context()
    for dialects in (Universe.get_multiverse().all_dialects, get_all_dialects()):
        for name, factory in dialects.items():
            if name not in ctx.registered_dialect_names:
                ctx.register_dialect(name, factory)
    return ctx
