"""The Python examples in the documentation run as written."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCKS = [(path.name, i, code) for path in sorted(DOCS.glob("*.md"))
          for i, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))
          if "import tcir" in code]


@pytest.mark.parametrize("doc, index, code", BLOCKS, ids=[f"{d}-{i}" for d, i, _ in BLOCKS])
def test_python_example_runs(doc, index, code):
    exec(compile(code, f"{doc}[{index}]", "exec"), {})
