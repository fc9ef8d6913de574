"""The TC front end: lexer → parser → AST → semantic analysis (types, ranges).

`check_source(text, filename)` is the one entry point the rest of tcir uses.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager

from ..errors import TcError
from .checked import CheckedProgram
from .parser import parse
from .sema import check

# Expressions are bounded to parser.MAX_DEPTH levels; each level costs a few frames in
# the recursive phases, which Python 3.11 runs without growing the C stack.
_RECURSION_LIMIT = 20000


@contextmanager
def _deep_recursion():
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def check_source(source: str, filename: str = "<string>") -> CheckedProgram:
    """Parse and check TC source; raises TcError with a location on any error."""
    with _deep_recursion():
        try:
            return check(parse(source, filename), filename)
        except RecursionError:
            raise TcError(f"{filename}: the program is nested too deeply to compile") from None


__all__ = ["check_source", "parse", "check", "CheckedProgram"]
