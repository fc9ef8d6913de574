"""Printing and parsing IR in tests, and the round-trip assertion the suites share."""

from __future__ import annotations

import functools
from io import StringIO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.printer import Printer

from tcir.dialects import default_context


@functools.cache
def context() -> Context:
    """Every dialect xDSL and tcir register (built once: finding them is slow)."""
    return default_context()


def show(op, generic: bool = False) -> str:
    out = StringIO()
    Printer(stream=out, print_generic_format=generic).print_op(op)
    return out.getvalue()


def parse(text: str) -> ModuleOp:
    return Parser(context(), text).parse_module()


def assert_round_trips(module: ModuleOp) -> None:
    """Both forms are fixed points, parse back equal, and agree with each other."""
    module.verify()
    for generic in (False, True):
        text = show(module, generic)
        reparsed = parse(text)
        reparsed.verify()
        assert show(reparsed, generic) == text
        assert reparsed.is_structurally_equivalent(module), text
    assert show(parse(show(module, generic=True))) == show(module)
