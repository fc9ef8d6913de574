"""The tc-opt command line: output for valid input, `file:line:col: error:` and exit
status 1 for every kind of bad input, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def tc_opt(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "tc-opt"), *args], input=stdin, capture_output=True)


def test_example_prints_verified_tc_ir():
    result = tc_opt(str(ROOT / "examples" / "matmul.tc"), "--emit=tc")
    assert result.returncode == 0, result.stderr
    assert b"tc.def @matmul" in result.stdout


def test_entry_picks_a_def(tmp_path):
    src = tmp_path / "two.tc"
    src.write_text((ROOT / "examples" / "matmul.tc").read_text() + (ROOT / "examples" / "tmm.tc").read_text())
    result = tc_opt(str(src), "--entry", "tmm")
    assert result.returncode == 0
    assert b"@tmm" in result.stdout and b"@matmul" not in result.stdout


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("syntax.tc", b"def f(float(N) A) -> (B) {\n  B(i) = A(i) +\n}\n", b"syntax.tc:3:1: error: expected an expression"),
        ("sema.tc", b"def f(float(N) A) -> (B) {\n  B(i) = A(i, j)\n}\n", b"sema.tc:2:10: error: `A` has rank 1"),
        ("empty.tc", b"", b"empty.tc:1:1: error: no `def`"),
        ("binary.tc", bytes(range(256)), b"binary.tc:2:118: error: the source is not UTF-8"),
        ("deep.tc", b"def f(float(N) A) -> (B) { B(i) = " + b"(" * 10000 + b"A(i)" + b")" * 10000 + b" }",
         b"deep.tc:1:"),
        ("long.tc", b"def f(float(N) A) -> (B) { B(i) = A(i)" + b" " * 1_000_000 + b"+ }", b"long.tc:1:"),
        ("bad.mlir", b'func.func @f() -> i32 {\n  %0 = arith.constant 1 : i32\n  func.return\n}\n', b"bad.mlir:3:3: error:"),
        ("syntax.mlir", b"func.func @f( {\n", b"syntax.mlir:1:"),
        ("bad_tc.mlir", b'tc.def @f() -> (%C : !tc.tensor<[N], f32>) {\n}\n', b"bad_tc.mlir:1:1: error:"),
    ],
)
def test_bad_input_is_a_located_error(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    result = tc_opt(str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(str(tmp_path).encode() + b"/" + expected), result.stderr[:500]
    assert b"Traceback" not in result.stderr


def test_missing_file_and_unknown_entry(tmp_path):
    result = tc_opt(str(tmp_path / "nope.tc"))
    assert result.returncode == 1 and b"error:" in result.stderr and b"Traceback" not in result.stderr
    result = tc_opt(str(ROOT / "examples" / "matmul.tc"), "--entry", "nope")
    assert result.returncode == 1 and b"no def named `nope`" in result.stderr


def test_warnings_are_reported(tmp_path):
    path = tmp_path / "warn.tc"
    path.write_text("def f(float(N, K) A) -> (S) {\n  S(i) += A(i, k)\n}\n")
    result = tc_opt(str(path))
    assert result.returncode == 0
    assert b"warn.tc:2:3: warning:" in result.stderr


def test_xdsl_opt_loads_tcir_through_the_plugin(tmp_path):
    ir = tc_opt(str(ROOT / "examples" / "softmax.tc")).stdout
    result = subprocess.run([str(BIN / "xdsl-opt")], input=ir, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ir
