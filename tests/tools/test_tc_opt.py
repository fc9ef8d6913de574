"""The tc-opt command line: output for valid input, `file:line:col: error:` and exit
status 1 for every kind of bad input, never a traceback."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
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


# Hostile inputs: each a located `error:`, exit status 1, no traceback -------------------


def _deep_regions(n: int) -> bytes:
    return (b"func.func @f() {\n  " + b'"scf.execute_region"() ({' * n + b"}) : () -> ()" * n
            + b"\n  func.return\n}\n")


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("regions.mlir", _deep_regions(10000), rb"regions.mlir:2:\d+: error: the IR is nested too deeply"),
        ("expression.mlir", b"func.func @f(%a: index) -> index {\n  %0 = affine.apply affine_map<(d0) -> ("
         + b"(" * 10000 + b"d0" + b")" * 10000 + b")>(%a)\n  func.return %0 : index\n}\n",
         rb"expression.mlir:2:\d+: error: the IR is nested too deeply"),
        ("type.mlir", b"func.func @f(%a: " + b"!llvm.struct<(" * 5000 + b"i32" + b")>" * 5000 + b") {\n}\n",
         rb"type.mlir:1:\d+: error: the IR is nested too deeply"),
        ("binary.mlir", bytes(range(256)) * 4, rb"binary.mlir:2:118: error: the source is not UTF-8 text"),
    ],
)
def test_hostile_mlir_is_a_located_error(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    result = tc_opt(str(path))
    assert result.returncode == 1, result.stdout[:300]
    assert b"Traceback" not in result.stderr and b"internal compiler error" not in result.stderr
    assert re.match(re.escape(str(tmp_path).encode()) + b"/" + expected, result.stderr), result.stderr[:500]


def test_endless_input_is_refused():
    for args, stdin in ((["-f", "mlir", "/dev/zero"], None), ([], open("/dev/zero", "rb"))):
        result = subprocess.run([str(BIN / "tc-opt"), *args], stdin=stdin, capture_output=True, timeout=120)
        assert result.returncode == 1
        assert re.fullmatch(rb"(/dev/zero|stdin): error: the input is larger than \d+ MiB, the most tc-opt reads\n",
                            result.stderr), result.stderr[:300]


@pytest.mark.parametrize(
    "pipeline, expected",
    [
        ("convert-tc-to-loops{sizes=}", rb"-p:1:27: error: malformed pass pipeline: Unknown argument value"),
        ("foo{", rb"-p:1:5: error: malformed pass pipeline: Expected argument name"),
        ("convert-tc-to-loops{sizes=M=4}", rb"-p:1:28: error: malformed pass pipeline: "),
        ("nosuchpass", rb"error: -p: Unrecognized passes: \['nosuchpass'\]"),
        ("convert-tc-to-loops{bogus=1}", rb"error: -p: Provided arguments \[\"bogus\"\] not found"),
        ("convert-tc-to-loops{vector_bytes=abc}", rb"error: -p: "),
    ],
)
def test_malformed_pass_pipeline_is_an_error(pipeline, expected):
    result = tc_opt(str(ROOT / "examples" / "matmul.tc"), "-p", pipeline)
    assert result.returncode == 1
    assert b"Traceback" not in result.stderr and b"internal compiler error" not in result.stderr
    assert re.match(expected, result.stderr), result.stderr[:500]


def test_unknown_extension_and_stdin(tmp_path):
    path = tmp_path / "prog.txt"
    path.write_text("def f(float(N) A) -> (B) { B(i) = A(i) }")
    result = tc_opt(str(path))
    assert result.returncode == 1 and result.stderr.startswith(str(path).encode() + b": error: unrecognized file "
                                                                                  b"extension 'txt'")
    ir = tc_opt(str(ROOT / "examples" / "matmul.tc")).stdout
    for args in ([], ["-"]):
        result = tc_opt(*args, stdin=ir)
        assert result.returncode == 0 and result.stdout == ir


def test_plain_xdsl_opt_on_tc_source_is_a_clean_error():
    result = subprocess.run([str(BIN / "xdsl-opt"), str(ROOT / "examples" / "matmul.tc")], capture_output=True)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"error: xdsl-opt has no front end for TC source (.tc); use tc-opt")


# Options ------------------------------------------------------------------------------

MATMUL = str(ROOT / "examples" / "matmul.tc")


def _launch(what: str, *mapping: str) -> bytes:
    result = tc_opt(MATMUL, "--sizes", "M=64,N=64,K=64", "--emit=gpu", *mapping)
    assert result.returncode == 0, result.stderr
    return re.search(rb"gpu.known_" + what.encode() + rb"_size = array<i32: ([0-9, ]+)>", result.stdout).group(1)


def _block_size(*mapping: str) -> bytes:
    return _launch("block", *mapping)


def _grid_size(*mapping: str) -> bytes:
    return _launch("grid", *mapping)


def test_mapping_takes_a_preset_or_the_text_form():
    # naive: mapToThreads=32,8; mlp: 128 threads along x (64 here: the extent of n)
    assert _block_size() == _block_size("--mapping", "naive") == _block_size("--mapping", "") == b"32, 8, 1"
    assert _block_size("--mapping", "mlp") == b"64, 1, 1"
    assert _block_size("--mapping", "mapToThreads=16") == b"16, 1, 1"
    assert _grid_size("--mapping", "mlp") == b"64, 1, 1"
    for mapping, message in (("bogus", b"unknown mapping options preset `bogus`"),
                             ("mlp naive", b"unknown mapping options preset `mlp naive`"),
                             ("unroll=2 unroll=3", b"`unroll` is given twice"),
                             ("tile=x", b"mapping option `tile`")):
        result = tc_opt(MATMUL, "--sizes", "M=64,N=64,K=64", "--emit=loops", "--mapping", mapping)
        assert result.returncode == 1 and message in result.stderr and b"Traceback" not in result.stderr
    assert b"mlp" in tc_opt("--help").stdout


def test_time_passes_and_print_between_passes_cover_the_stages():
    result = tc_opt(MATMUL, "--sizes", "M=4,N=4,K=4", "--emit=llvm", "--time-passes", "-p", "canonicalize")
    assert result.returncode == 0, result.stderr
    timings = re.findall(rb"^(Stage|Pass) (\S+) took [0-9.e-]+ seconds$", result.stdout, re.M)
    assert timings == [(b"Stage", b"affine"), (b"Stage", b"loops"), (b"Stage", b"llvm"), (b"Pass", b"canonicalize")]
    result = tc_opt(MATMUL, "--sizes", "M=4,N=4,K=4", "--emit=llvm", "--print-between-passes")
    assert result.returncode == 0, result.stderr
    assert re.findall(rb"^IR after stage (\S+):$", result.stdout, re.M) == [b"affine", b"loops"]
    after_affine = result.stdout.split(b"IR after stage affine:")[1].split(b"IR after stage loops:")[0]
    assert b"affine.for" in after_affine and b"scf.for" not in after_affine
    assert b"llvm.func @matmul" in result.stdout.split(b"IR after stage loops:")[1]


# --verify-diagnostics and --split-input-file ------------------------------------------

BAD_RETURN = "func.func @{name}() -> i32 {{\n  %0 = arith.constant 1 : i32\n{annotation}  func.return\n}}\n"


def _verify(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "v.mlir"
    path.write_text(text)
    return tc_opt(str(path), "--verify-diagnostics", "--split-input-file", *args)


def test_verify_diagnostics_checks_expected_errors_as_mlir_does(tmp_path):
    expected = "  // expected-error @+1 {{Expected arguments to have the same types}}\n"
    good = BAD_RETURN.format(name="a", annotation=expected)
    result = _verify(tmp_path, good + "// -----\n" + BAD_RETURN.format(name="b", annotation=expected))
    assert result.returncode == 0, result.stderr
    # chunk 2's error is on line 10 of the file, where its annotation points
    assert re.findall(rb"v.mlir:(\d+):3: error: Expected arguments", result.stdout) == [b"4", b"10"]
    # an expected error that is not produced
    result = _verify(tmp_path, good + "// -----\nfunc.func @c() {\n  // expected-error @+1 {{never}}\n"
                                      "  func.return\n}\n")
    assert result.returncode == 1
    assert re.search(rb"v.mlir:8:6: error: expected error \"never\" was not produced", result.stderr)
    # an error no annotation expects
    result = _verify(tmp_path, good + "// -----\n" + BAD_RETURN.format(name="d", annotation=""))
    assert result.returncode == 1
    assert re.search(rb"v.mlir:9:3: error: unexpected error: Expected arguments", result.stderr)
    # the wrong line
    result = _verify(tmp_path, BAD_RETURN.format(name="e", annotation=expected.replace("@+1", "@-1")))
    assert result.returncode == 1 and b"was not produced" in result.stderr and b"unexpected error" in result.stderr
    # without annotations, xdsl-opt's behaviour: print and go on, exit 0
    result = _verify(tmp_path, BAD_RETURN.format(name="f", annotation=""))
    assert result.returncode == 0 and b"error: Expected arguments" in result.stdout


def test_split_input_file_errors_count_lines_from_the_start_of_the_file(tmp_path):
    path = tmp_path / "s.mlir"
    path.write_text("func.func @f() {\n  func.return\n}\n// -----\n" + BAD_RETURN.format(name="g", annotation="")
                    + "// -----\nfunc.func @h( {\n")
    result = tc_opt(str(path), "--split-input-file")
    assert result.returncode == 1
    assert result.stderr.startswith(str(path).encode() + b":7:3: error: Expected arguments")
    result = tc_opt(str(path), "--split-input-file", "--verify-diagnostics")
    assert result.returncode == 0
    assert re.findall(rb"s.mlir:(\d+):\d+: error:", result.stdout) == [b"7", b"10"]


# Round trips: IR of each stage, printed, read back and carried on -----------------------

WINDOW = ("def window(float(N, K) A, float(K) W, float alpha) -> (B) {\n"
          "  B(i) +=! alpha * A(i, k + j) * W(j) where k in 0:2\n}\n")


def _run_ir(llvm_ir: bytes, inputs, output):
    from tcir.backends.cpu import ObjectModule, compile_object, invoke
    code, signatures = compile_object(llvm_ir.decode())
    invoke(ObjectModule(code, signatures).function("window"), [*inputs, output])


@pytest.mark.parametrize(
    "first, then",
    [
        (["--emit=affine"], [["--emit=llvm-ir"]]),
        (["--emit=affine", "--print-op-generic"], [["--emit=llvm-ir"]]),
        (["--emit=affine"], [["-p", "lower-affine"], ["--emit=llvm-ir"]]),
        (["--emit=affine"], [["--emit=loops"], ["--emit=llvm"], ["--emit=llvm-ir"]]),
        (["--emit=loops", "--mapping", "naive"], [["--emit=llvm", "--print-op-generic"], ["--emit=llvm-ir"]]),
        (["--emit=llvm", "--print-op-generic"], [["--emit=llvm-ir"]]),
    ],
    ids=["affine", "affine-generic", "lower-affine", "stage-by-stage", "scheduled-loops", "llvm-generic"],
)
def test_printed_stages_read_back_and_compute_the_same(tmp_path, first, then):
    """tc -> the IR of a stage as text -> tc-opt reads it (the affine stage's short
    subscripts `%A[%i, %k + %j]` parse into maps of symbols, which xDSL's lower-affine
    cannot lower) -> ... -> LLVM IR, run against NumPy."""
    src = tmp_path / "window.tc"
    src.write_text(WINDOW)
    result = tc_opt(str(src), "--sizes", "N=4,K=6", *first)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for args in then:
        result = tc_opt(*args, stdin=text)
        assert result.returncode == 0, result.stderr
        text = result.stdout
    rng = np.random.default_rng(3)
    a, w, alpha = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal(6).astype(np.float32), 1.5
    b = np.zeros(4, np.float32)
    _run_ir(text, [a, w, np.float32(alpha)], b)
    expected = alpha * sum(a[:, k + j] * w[j] for k in range(2) for j in range(5))
    np.testing.assert_allclose(b, expected, rtol=1e-5, atol=1e-6)


def test_gpu_stage_reads_back_and_emulates(tmp_path):
    from tcir.testing.gpu_emulator import emulate
    from tcir.tools.mlir_io import parse_mlir
    text = tc_opt(MATMUL, "--sizes", "M=5,N=7,K=3", "--emit=gpu").stdout
    assert text.count(b'"gpu.module_end"() : () -> ()') == 1 and b"gpu.kernel" in text
    again = tc_opt(stdin=text).stdout
    assert again == text
    module = parse_mlir(again.decode())
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((3, 7)).astype(np.float32)
    c = np.zeros((5, 7), np.float32)
    emulate(module, "matmul", [a, b, c])
    np.testing.assert_allclose(c, a @ b, rtol=1e-5, atol=1e-6)


def test_parametric_affine_ir_does_not_lower(tmp_path):
    src = tmp_path / "window.tc"
    src.write_text(WINDOW)
    text = tc_opt(str(src), "--emit=affine").stdout
    for args in (["--emit=loops"], ["-p", "lower-affine"]):
        result = tc_opt(*args, stdin=text)
        assert result.returncode == 1 and b"Traceback" not in result.stderr
        assert re.match(rb"stdin:\d+:\d+: error: cannot lower `affine.for` to loops: its upper bound", result.stderr)


# Bad usage: each an `error:` line, exit status 1 ------------------------------------------

SMALL = "def f(float(N) A) -> (B) {\n  B(i) = A(i)\n}\n"
BIG_LOOP = "func.func @f() {\n  affine.for %i = 0 to 99999999999999999999 {\n  }\n  func.return\n}\n"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["-t", "x86-asm"], rb"error: -t x86-asm does not print this IR"),
        (["-t", "wgsl"], rb"error: -t wgsl does not print this IR"),
        (["-t", "llvm"], rb"error: -t llvm translates the `llvm` stage; this IR is at the `tc` stage"),
        (["-t", "nosuch"], rb"usage: (.|\n)*error: argument -t/--target: invalid choice"),
        (["--sizes", "N=abc", "--emit=loops"], rb"error: size `N` must be an integer from 0 to 9223372036854775807"),
        (["--sizes", "N=\u00b2", "--emit=loops"], rb"error: size `N` must be an integer"),
        (["--sizes", "N", "--emit=loops"], rb"error: bad size `N`; expected NAME=VALUE"),
        (["--sizes", "N=3,N=4", "--emit=loops"], rb"error: the size `N` is given twice"),
        (["--sizes", "M=3", "--emit=loops"], rb"error: convert-tc-to-affine: no def has a size named `M`"),
        (["--sizes", "N=3", "--mapping", "naive", "--strides", "Q=1", "--emit=loops"],
         rb"error: convert-tc-to-loops: strides for `Q`, which no def has as a tensor argument"),
        (["--sizes", "N=99999999999999999999", "--emit=llvm"], rb"error: size `N` must be an integer from 0 to"),
        (["--sizes", "N=3", "--strides", "A=99999999999999999999", "--emit=llvm"], rb"error: strides of `A` must be"),
        (["--entry", "g"], rb".*small.tc:1:1: error: no def named `g`; the source defines `f`"),
        (["--shrink"], rb"error: --shrink: no pass raised ShrinkException"),
        (["-p", "canonicalize", "--emit=llvm-ir", "--sizes", "N=3"], rb"error: -p runs passes on IR"),
    ],
)
def test_bad_usage_is_an_error(tmp_path, args, expected):
    path = tmp_path / "small.tc"
    path.write_text(SMALL)
    result = tc_opt(str(path), *args)
    assert result.returncode == 1, result.stdout[:300]
    assert b"Traceback" not in result.stderr and b"internal compiler error" not in result.stderr
    assert re.match(expected, result.stderr), result.stderr[:500]


@pytest.mark.parametrize(
    "name, content, args, expected",
    [
        ("big.tc", "def f(float(N) A) -> (B) {\n  B(i) +=! A(i + k) where k in 0:99999999999999999999\n}\n", [],
         rb"big.tc:2:34: error: integer literal `99999999999999999999` is too large"),
        ("bigdim.tc", "def f(float(18446744073709551616) A) -> (B) {\n  B(i) = A(i)\n}\n", [],
         rb"bigdim.tc:1:13: error: integer literal `18446744073709551616` is too large"),
        ("big.mlir", BIG_LOOP, ["--emit=llvm"],
         rb"big.mlir:2:3: error: cannot lower `affine.for` to loops: a constant of its map is beyond int64"),
        ("ir.mlir", BIG_LOOP, ["--entry", "f"], rb"error: --entry picks a def of TC source; the input is IR"),
        ("ir.mlir", "func.func @f() {\n  func.return\n}\n", ["--emit=llvm", "--sizes", "N=3"],
         rb"error: --sizes and --mapping apply to `tc` IR; the input is at the `loops` stage"),
    ],
)
def test_out_of_range_and_misapplied_options_are_errors(tmp_path, name, content, args, expected):
    path = tmp_path / name
    path.write_text(content)
    result = tc_opt(str(path), *args)
    assert result.returncode == 1, result.stdout[:300]
    assert b"Traceback" not in result.stderr
    assert re.match(rb"(.*/)?" + expected, result.stderr), result.stderr[:500]


@pytest.mark.parametrize(
    "shell, expected",
    [
        ("{tc_opt} {src} -o /dev/full", b"error: cannot write the output: No space left on device\n"),
        ("{tc_opt} {src} > /dev/full", b"error: cannot write the output: No space left on device\n"),
        ("{tc_opt} {src} --emit=llvm-ir --sizes N=3 > /dev/full", b"error: cannot write the output: No space left"),
        ("{tc_opt} {src} >&-", b"error: stdout is closed: name an output file with -o\n"),
        ("{tc_opt} <&-", b"error: stdin is closed: name an input file\n"),
        ("{tc_opt} - <&-", b"error: stdin is closed: name an input file\n"),
    ],
)
def test_closed_streams_and_a_full_disk_are_errors(tmp_path, shell, expected):
    src = tmp_path / "small.tc"
    src.write_text(SMALL)
    result = subprocess.run(shell.format(tc_opt=BIN / "tc-opt", src=src), shell=True, capture_output=True)
    assert result.returncode == 1
    assert result.stderr.startswith(expected), result.stderr[:500]


def test_a_closed_pipe_is_silent(tmp_path):
    result = subprocess.run(f"{BIN / 'tc-opt'} {ROOT / 'examples' / 'matmul.tc'} --emit=llvm --sizes M=64,N=64,K=64 "
                            "| head -c 1 > /dev/null; echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                            capture_output=True)
    assert result.stdout.strip() in (b"0", b"1") and b"Traceback" not in result.stderr


def test_defs_without_symbolic_sizes_need_no_sizes(tmp_path):
    path = tmp_path / "fixed.tc"
    path.write_text("def f(float(4, 3) A) -> (B) {\n  B(i) +=! A(i, j)\n}\n")
    for emit in ("loops", "gpu", "llvm"):
        result = tc_opt(str(path), f"--emit={emit}")
        assert result.returncode == 0, result.stderr


def _one_stmt(out: str, domain: str, write: str, read: str, kind: str = "=") -> str:
    return (f"tc.def @f(%A : !tc.tensor<[N, 4], f32>) -> (%C : !tc.tensor<[{out}], f32>) {{\n"
            f"  tc.stmt ({domain}) %C[{write}] {kind} {{\n    %0 = tc.read %A[{read}] : f32\n"
            "    tc.yield %0 : f32\n  }\n}\n")


# IR that lies about its accesses: a clean error and exit status 1 once the sizes are
# specialized, before any code is generated (every such pipeline, and more lies, in
# filecheck/dialects/tc/invalid-sizes.mlir).
@pytest.mark.parametrize("ir, expected", [
    (_one_stmt("N", "%n in -1 to N", "%n", "%n + 1, 0"),
     ", statement 0 (tc.stmt writing %C) writes %C at index -1 of dimension 0 (subscript `%n`), outside [0, 8) with N=8"),
    (_one_stmt("N", "%n in 0 to N", "%n", "%n + 1, 0"),
     ", statement 0 (tc.stmt writing %C) reads %A at index 8 of dimension 0 (subscript `%n + 1`), outside [0, 8) with N=8"),
    (_one_stmt("N", "%n in 0 to N", "%n", "%n, 4"),
     ", statement 0 (tc.stmt writing %C) reads %A at index 4 of dimension 1 (subscript `4`), outside [0, 4) with N=8"),
    (_one_stmt("N", "%n in 0 to N, %r in 0 to N * 1152921504606846976", "%n", "%n, 0", "+=!"),
     ", statement 0 (tc.stmt writing %C): the upper bound of %r is `1152921504606846976 * N`, which is 9223372036854775808 with N=8: beyond int64"),
    (_one_stmt("N floordiv (N - 8)", "%n in 0 to N", "%n", "%n, 0"),
     ": dimension 0 of %C is `N floordiv (N - 8)`, which divides by zero with N=8"),
])
def test_ir_that_lies_about_its_accesses(tmp_path, ir, expected):
    path = tmp_path / "lie.mlir"
    path.write_text(ir)
    assert tc_opt(str(path), "--emit=tc").returncode == 0  # it verifies
    result = tc_opt(str(path), "--emit=loops", "--mapping=naive", "--sizes", "N=8")
    assert result.returncode == 1
    assert result.stderr.decode() == f"error: convert-tc-to-loops: tc.def @f{expected}\n"
    assert b"Traceback" not in result.stderr and not result.stdout


def test_dividing_a_size_by_zero_is_a_located_error(tmp_path):
    path = tmp_path / "div.mlir"
    path.write_text(_one_stmt("N", "%n in 0 to N, %r in 0 to N mod 0", "%n", "%n, 0", "+=!"))
    result = tc_opt(str(path), "--emit=loops", "--sizes", "N=8")
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}:2:37: error: invalid size expression: `N mod 0` divides by zero".encode())
