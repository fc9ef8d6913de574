"""User-facing diagnostics: ``TcError`` and located warnings.

Every error a user can cause (TC source, IR, call arguments, cache files, a missing
device) is a ``TcError``. When a source location is known the text follows the
compiler convention, then quotes the line with a caret under the column::

    matmul.tc:2:22: error: cannot infer the range of `j`; add `where j in lo:hi`
        C(i) +=! A(i, j) * B(j)
                         ^
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

# Long lines are cut around the caret so a 1 MB line never floods the terminal.
_MAX_QUOTE = 120


@dataclass(frozen=True)
class Location:
    """A 1-based line and column in a named source."""

    file: str
    line: int
    col: int
    source: str | None = None  # the whole text, to quote the line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def source_line(self) -> str | None:
        if self.source is None:
            return None
        # Only "\n" ends a line, as in the lexer's line count.
        lines = self.source.split("\n")
        if not 1 <= self.line <= len(lines):
            return None
        return lines[self.line - 1].removesuffix("\r")


def _quote(loc: Location) -> str:
    """The source line and a caret under the column, cut to a readable width."""
    line = loc.source_line()
    if line is None:
        return ""
    col = max(loc.col - 1, 0)
    start = max(0, col - _MAX_QUOTE // 2) if len(line) > _MAX_QUOTE else 0
    shown = line[start : start + _MAX_QUOTE]
    shown = "".join(c if c.isprintable() or c == "\t" else "?" for c in shown)
    pad = "".join("\t" if c == "\t" else " " for c in shown[: col - start])
    return f"\n    {shown}\n    {pad}^"


def format_diagnostic(kind: str, message: str, loc: Location | None) -> str:
    if loc is None:
        return f"{kind}: {message}"
    return f"{loc}: {kind}: {message}{_quote(loc)}"


class TcError(Exception):
    """Base class of every error tcir reports to its users.

    ``str(err)`` starts with ``file:line:col: error:`` when ``loc`` is known.
    ``message`` is the bare message, without location or quoted source.
    """

    def __init__(self, message: str, loc: Location | None = None):
        self.message = message
        self.loc = loc
        super().__init__(format_diagnostic("error", message, loc))

    @property
    def file(self) -> str | None:
        return self.loc.file if self.loc else None

    @property
    def line(self) -> int | None:
        return self.loc.line if self.loc else None

    @property
    def col(self) -> int | None:
        return self.loc.col if self.loc else None


class TcWarning(UserWarning):
    """A located warning (for example a reduction into an uninitialized tensor)."""

    def __init__(self, message: str, loc: Location | None = None):
        self.message = message
        self.loc = loc
        super().__init__(format_diagnostic("warning", message, loc))


def warn(message: str, loc: Location | None = None) -> None:
    """Report a warning through Python's ``warnings`` machinery (never silent).

    A located warning is attributed to the user's TC line, not to tcir's own source, so
    ``warnings`` filters, ``-W error::tcir.TcWarning`` and the record's filename and line
    all refer to the TC program; an unlocated one to tcir's caller."""
    if loc is None:
        warnings.warn(TcWarning(message), stacklevel=3)
    else:
        warnings.warn_explicit(TcWarning(message, loc), TcWarning, loc.file, loc.line, module=loc.file)
