"""The staged compilation driver (after Triton's stage dictionary).

`STAGES` maps each stage name to the passes that produce it from the previous stage,
in order; `tc-opt --emit=LEVEL` and the Python API run the pipeline up to a stage.
"""

from __future__ import annotations

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import PassPipeline

from .errors import Location, TcError
from .frontend import check_source
from .universe import pass_class

# stage -> passes that lower the previous stage's IR to it
STAGES: dict[str, list[str]] = {
    "tc": [],
}


def tc_to_module(source: str, filename: str = "<string>", entry: str | None = None) -> ModuleOp:
    """TC source to verified `tc` dialect IR (one `tc.def` per def, or only `entry`)."""
    from .irgen import build_module

    program = check_source(source, filename)
    if entry is not None and entry not in program.defs:
        raise TcError(f"no def named `{entry}`; the source defines "
                      + ", ".join(f"`{n}`" for n in program.defs), Location(filename, 1, 1))
    module = build_module(program, [entry] if entry else list(program.defs))
    module.verify()
    return module


def run_stages(module: ModuleOp, upto: str, ctx: Context) -> None:
    """Lower `module` through every stage up to and including `upto`."""
    if upto not in STAGES:
        raise TcError(f"unknown stage `{upto}`; expected one of {', '.join(STAGES)}")
    names: list[str] = []
    for stage, passes in STAGES.items():
        names += passes
        if stage == upto:
            break
    PassPipeline(tuple(pass_class(n)() for n in names)).apply(ctx, module)
