"""The wheel carries every module of the folders mapped into `tcir`."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {"tcir": "tcir", "dialects": "tcir/dialects", "passes": "tcir/passes", "backends": "tcir/backends"}


def _expected_modules() -> set[str]:
    expected = set()
    for folder, package_path in MAPPED.items():
        for path in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in path.parts:
                continue
            expected.add(f"{package_path}/{path.relative_to(ROOT / folder).as_posix()}")
    return expected


def test_wheel_contains_every_module(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("tcir-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = _expected_modules() - names
    assert not missing, f"modules missing from the wheel: {sorted(missing)}"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "tc-opt = tcir.tools.tc_opt:main" in text
    assert "tcir = tcir.universe:TCIR_UNIVERSE" in text
