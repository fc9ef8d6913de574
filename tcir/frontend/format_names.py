"""TC type names: the builtin types and the number formats registered in `tcir.lowp`
(`tcir.frontend.formats`) when a name is resolved, so a format registered after
`import tcir` is a type of every source checked after it."""

from __future__ import annotations

from .formats import registered_formats
from .types import TYPE_NAMES, ScalarType, lowp_type


def lookup_type(name: str) -> ScalarType | None:
    """The TC type named `name`: a builtin type or a registered format (None if none)."""
    t = TYPE_NAMES.get(name)
    if t is not None:
        return t
    fmt = registered_formats().get(name)
    return lowp_type(fmt) if fmt is not None else None


def type_names() -> list[str]:
    """Every type name: the builtin ones, then the registered formats (for hints)."""
    return list(TYPE_NAMES) + [n for n in registered_formats() if n not in TYPE_NAMES]
