"""Tokenizer for TC source.

Newlines are not tokens: statements end where an expression cannot continue (the
group-normalization example continues a statement on a line that starts with `*`).
Compound assignments are single tokens when written without spaces (`+=!`, `min=`);
`+= !b` is `+=` followed by a logical not.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Iterator

from ..errors import Location, TcError


@dataclass(frozen=True)
class Token:
    kind: str  # "ident", "int", "float", "assign", "eof" or the punctuation itself
    text: str
    loc: Location


# Longest match first: every multi-character punctuation precedes its prefixes.
_PUNCTUATION = [
    "<=>", "->", "==", "!=", "<=", ">=", "&&", "||",
    "(", ")", "{", "}", ",", ":", "?", "<", ">", "+", "-", "*", "/", "%", "!", "=", ";",
]
_ASSIGN = re.compile(r"(\+=|\*=|min=|max=)(?!=)!?")
_NUMBER = re.compile(r"(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")
_IDENT = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
_SPACE = re.compile(r"[ \t\r\n\f\v]+|#[^\n]*")


class Lexer:
    def __init__(self, source: str, filename: str = "<string>"):
        self.source = source
        self.filename = filename
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def location(self, offset: int) -> Location:
        line = bisect.bisect_right(self._line_starts, offset)
        col = offset - self._line_starts[line - 1] + 1
        return Location(self.filename, line, col, self.source)

    def tokens(self) -> Iterator[Token]:
        src, pos, end = self.source, 0, len(self.source)
        while True:
            m = _SPACE.match(src, pos)
            while m:
                pos = m.end()
                m = _SPACE.match(src, pos)
            if pos >= end:
                yield Token("eof", "", self.location(end))
                return
            token = self._next(pos)
            pos += len(token.text)
            yield token

    def _next(self, pos: int) -> Token:
        src, loc = self.source, self.location(pos)
        m = _ASSIGN.match(src, pos)
        if m:
            return Token("assign", m.group(0), loc)
        m = _NUMBER.match(src, pos)
        if m:
            kind = "float" if ("." in m.group(0) or m.group(2)) else "int"
            return Token(kind, m.group(0), loc)
        m = _IDENT.match(src, pos)
        if m:
            return Token("ident", m.group(0), loc)
        for p in _PUNCTUATION:
            if src.startswith(p, pos):
                return Token(p, p, loc)
        char = src[pos]
        shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
        raise TcError(f"unexpected character {shown}", loc)

