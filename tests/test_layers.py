"""The import direction of docs/architecture.md, checked on the sources.

Layers, lowest first: front end ← dialects ← polyhedral and passes ← backends ← driver
← API and tools ← test oracles. A module imports only modules of its own layer or
below — at the top of the module or inside a function alike, so that no lazy import
hides a cycle — no two modules import each other (even through others), and no module
imports another's private (underscored) names.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> the package it installs as (pyproject.toml's package-dir)
PACKAGES = {"tcir": "tcir", "dialects": "tcir.dialects", "passes": "tcir.passes", "backends": "tcir.backends"}

LAYERS = [
    ("front end", ["tcir.errors", "tcir.sizeexpr", "tcir.frontend", "tcir.mapping_options"]),
    ("dialects", ["tcir.dialects", "tcir.irgen", "tcir.checked_from_ir"]),
    ("polyhedral and passes", ["tcir.polyhedral", "tcir.passes"]),
    ("backends", ["tcir.backends"]),
    ("driver", ["tcir.driver", "tcir.cache", "tcir.options_cache"]),
    ("API and tools", ["tcir.api", "tcir.arguments", "tcir.bounds", "tcir.device_arrays", "tcir.tools",
                       "tcir.universe", "tcir.tuning", "tcir.host_arrays", "tcir.lowp", "tcir.accuracy",
                       "tcir.precision", "tcir.gpu_model", "tcir"]),
    ("test oracles", ["tcir.testing"]),
]


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    """The layer of a module: the one whose longest prefix names it."""
    best = max(((len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
                if module == prefix or module.startswith(prefix + ".")), default=None)
    assert best is not None, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best[1]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported tcir module, names imported from it, line) for every import anywhere in
    the module."""
    found = []
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.split(".")[0] == "tcir"]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != "tcir":
                continue
            names = [alias.name for alias in node.names]
            # `from tcir.backends import cpu_parallel` imports the module tcir.backends.cpu_parallel
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            found += [(s, [], node.lineno) for s in submodules]
            rest = [n for n in names if f"{target}.{n}" not in MODULES]
            if rest or not submodules:
                found.append((target, rest, node.lineno))
    return found


def test_every_module_is_in_a_layer():
    for module in MODULES:
        _layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    mine = _layer(module)
    for target, _, line in _imports(module):
        if target in MODULES or any(m.startswith(target + ".") for m in MODULES):
            theirs = _layer(target)
            assert theirs <= mine, (f"{MODULES[module].relative_to(ROOT)}:{line}: {module} ({LAYERS[mine][0]}) "
                                    f"imports {target} ({LAYERS[theirs][0]}), a layer above it")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_across_modules(module):
    for target, names, line in _imports(module):
        private = [n for n in names if n.startswith("_")]
        assert not private, f"{MODULES[module].relative_to(ROOT)}:{line}: imports {', '.join(private)} from {target}"


def test_no_import_cycles():
    graph = {m: {t for t, _, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}
    # a package's __init__ importing its own submodules is how packages re-export
    for module in graph:
        graph[module] = {t for t in graph[module] if not t.startswith(module + ".")}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_checks_see_lazy_imports():
    """The parser finds imports inside functions too (what would hide a cycle)."""
    imports = {t for t, _, _ in _imports("tcir.passes")}
    assert "tcir.passes.convert_tc_to_affine" in imports  # imported inside the lazy getters
