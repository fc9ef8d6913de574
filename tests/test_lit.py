"""Runs the lit FileCheck suite under filecheck/ so that `pytest` covers everything."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_filecheck_suite():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "lit"), "-q", "-j", "2", str(ROOT / "filecheck")],
        capture_output=True, text=True, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
