"""tcir's xDSL plugin: every tcir dialect and pass, imported only when first used.

Registered as the `xdsl.universe` entry point `tcir`, so plain `xdsl-opt` sees the
same dialects and passes as `tc-opt`. A pass named `foo-bar` lives in
`tcir.passes.foo_bar` and its ModulePass class is the one whose `name` is `foo-bar`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from xdsl.ir import Dialect
from xdsl.passes import ModulePass
from xdsl.universe import Universe

# dialect name -> (module, attribute)
DIALECTS: dict[str, tuple[str, str]] = {
    "tc": ("tcir.dialects.tc", "TC"),
}

# Pass names in pipeline order; each is a module of tcir.passes named after it.
PASSES: list[str] = [
    "convert-tc-to-affine",
    "convert-tc-to-loops",
    "convert-tc-to-gpu",
    "convert-gpu-to-nvvm",
    "convert-memref-to-llvm",
    "expand-exp",
    "convert-arith-to-llvm",
    "convert-math-to-llvm",
    "convert-cf-to-llvm",
    "convert-func-to-llvm",
]


def _dialect_factory(module: str, attr: str) -> Callable[[], Dialect]:
    return lambda: getattr(importlib.import_module(module), attr)


def pass_class(name: str) -> type[ModulePass]:
    module = importlib.import_module("tcir.passes." + name.replace("-", "_"))
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ModulePass) and getattr(value, "name", None) == name:
            return value
    raise LookupError(f"module {module.__name__} defines no ModulePass named {name!r}")


TCIR_UNIVERSE = Universe(
    all_dialects={name: _dialect_factory(*where) for name, where in DIALECTS.items()},
    all_passes={name: (lambda name=name: pass_class(name)) for name in PASSES},
)
