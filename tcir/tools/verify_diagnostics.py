"""MLIR's `--verify-diagnostics` for `tc-opt`: `expected-error {{...}}` annotations.

An input's annotations (`expected-error` or `expected-warning`, optionally `@+N`,
`@-N`, `@above`, `@below` or `@unknown`, then `{{message}}`) are matched against what
tc-opt reported: each must be produced on its line with a message containing the
annotation's, and every error or warning produced must be expected. Lines count from
the start of the file, in every `--split-input-file` chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Location, TcError

_LOCATED = re.compile(r"(?P<file>.*?):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|warning): (?P<message>.*)")
_UNLOCATED = re.compile(r"(?P<kind>error|warning): (?P<message>.*)")
_EXPECTED = re.compile(r"expected-(?P<kind>error|warning|note|remark)(?P<re>-re)?"
                       r"\s*(?:@(?P<where>[+-]\d+|above|below|unknown))?\s*\{\{(?P<message>.*?)\}\}")


@dataclass(frozen=True)
class Diagnostic:
    """An error or warning as tc-opt printed it."""

    kind: str
    line: int | None
    message: str
    text: str

    @classmethod
    def of(cls, text: str) -> Diagnostic:
        first = text.split("\n", 1)[0]
        if m := _LOCATED.fullmatch(first):
            return cls(m["kind"], int(m["line"]), m["message"], text)
        if m := _UNLOCATED.fullmatch(first):
            return cls(m["kind"], None, m["message"], text)
        return cls("error", None, first, text)


@dataclass(frozen=True)
class Expected:
    """An annotation: the diagnostic it expects (line None: `@unknown`) and where it is."""

    kind: str
    line: int | None
    message: str
    at: Location


def expectations(text: str, name: str) -> list[Expected]:
    """The annotations of an input (`@above`/`@below`: the nearest line before/after
    that is not only annotations)."""
    found = []
    lines = text.split("\n")
    only_annotation = [bool(_EXPECTED.search(line)) and not _EXPECTED.sub("", line).strip(" \t/#;-")
                       for line in lines]
    for number, line in enumerate(lines, 1):
        for m in _EXPECTED.finditer(line):
            at = Location(name, number, m.start() + 1, text)
            if m["re"] or m["kind"] in ("note", "remark"):
                raise TcError(f"`expected-{m['kind']}{m['re'] or ''}` is not supported (tc-opt checks "
                              "`expected-error` and `expected-warning`, with literal messages)", at)
            where, target = m["where"], number
            if where == "unknown":
                target = None
            elif where in ("above", "below"):
                step = -1 if where == "above" else 1
                target = number + step
                while 1 <= target <= len(lines) and only_annotation[target - 1]:
                    target += step
            elif where:
                target = number + int(where)
            found.append(Expected(m["kind"], target, m["message"], at))
    return found


def unmet(expected: list[Expected], produced: list[Diagnostic]) -> list[str]:
    """What fails MLIR's rule, one `error:` line each (empty: all is as expected)."""
    unmatched = list(produced)
    failures = []
    for e in expected:
        match = next((d for d in unmatched if d.kind == e.kind and d.line == e.line and e.message in d.message),
                     None)
        if match is None:
            failures.append(f"{e.at}: error: expected {e.kind} \"{e.message}\" was not produced")
        else:
            unmatched.remove(match)
    for d in unmatched:
        first = d.text.split("\n", 1)[0]
        failures.append(first.replace(f" {d.kind}: ", f" error: unexpected {d.kind}: ", 1) if d.line is not None
                        else f"error: unexpected {d.kind}: {d.message}")
    return failures
