"""docs/benchmarks.md, written by several benchmarks: the CPU table (benchmarks/cpu.py)
owns the title and everything before the first `## ` heading, and every other benchmark
owns one `## ` section, which it replaces without touching the others."""

from __future__ import annotations

from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def replace_section(text: str, heading: str, section: str) -> str:
    """`text` with the section under `heading` (up to the next `## ` heading) replaced by
    `section`, or `section` appended."""
    if text.startswith(heading + "\n"):
        start = 0
    elif f"\n{heading}\n" in text:
        start = text.index(f"\n{heading}\n") + 1
    else:
        return text.rstrip("\n") + "\n\n" + section if text.strip() else section
    end = text.find("\n## ", start + len(heading))
    return text[:start] + section.rstrip("\n") + "\n" + ("" if end < 0 else text[end:])


def replace_head(text: str, head: str) -> str:
    """`text` with everything before its first `## ` heading replaced by `head`."""
    end = text.find("\n## ")
    return head.rstrip("\n") + "\n" + ("" if end < 0 else text[end:])


def write_section(heading: str, section: str, doc: Path = DOC) -> None:
    doc.write_text(replace_section(doc.read_text() if doc.exists() else "", heading, section))
