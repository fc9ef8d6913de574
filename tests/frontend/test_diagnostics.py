"""Diagnostics: the `file:line:col: error:` format with a quoted line and caret, and
robustness: no input, however broken, produces anything but a TcError."""

import random
import warnings

import pytest

from tcir.errors import Location, TcError, TcWarning, format_diagnostic
from tcir.frontend import check_source
from canonical import CANONICAL_SOURCES  # the examples of tc-language.md


MEGABYTE = 1 << 20
EXAMPLES = list(CANONICAL_SOURCES.values())


def outcome(source) -> TcError | None:
    """Check `source`: None when it is valid, the TcError otherwise; anything else fails."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TcWarning)
        try:
            check_source(source, "d.tc")
        except TcError as err:
            return err
    return None


def error(source) -> TcError:
    err = outcome(source)
    assert err is not None, "expected a TcError"
    return err


def quote(err: TcError) -> tuple[str, str]:
    """The quoted source line and the caret line of a diagnostic."""
    _, line, caret = str(err).split("\n")
    assert line.startswith("    ") and caret.startswith("    ")
    return line[4:], caret[4:]


# Format -----------------------------------------------------------------------------


def test_error_format_with_quoted_line_and_caret():
    err = error("def f(float(N) A) -> (O) {\n  O(i) = A(i) + B(i)\n}")
    assert str(err) == ("d.tc:2:17: error: unknown tensor or function `B`\n"
                        "      O(i) = A(i) + B(i)\n"
                        "                    ^")
    assert (err.file, err.line, err.col) == ("d.tc", 2, 17)
    assert err.message == "unknown tensor or function `B`"


def test_default_filename():
    with pytest.raises(TcError) as info:
        check_source("def")
    assert str(info.value).startswith("<string>:1:4: error: expected the name of the def")


def test_caret_under_a_tab_indented_token():
    err = error("def f(float(N) A) -> (O) {\n\t\tO(i) = A(i) + B(i)\n}")
    line, caret = quote(err)
    assert line == "\t\tO(i) = A(i) + B(i)"
    assert caret == "\t\t" + " " * 14 + "^"


def test_error_at_end_of_input_after_newline_quotes_the_empty_last_line():
    err = error("def f(float(N) A) -> (O) {\n")
    assert str(err) == "d.tc:2:1: error: unterminated body of `f`: expected `}`\n    \n    ^"


def test_error_at_end_of_input_on_the_last_line_is_quoted():
    err = error("def f(float(N) A) -> (O) {")
    line, caret = quote(err)
    assert line == "def f(float(N) A) -> (O) {" and caret == " " * 26 + "^"


def test_non_printable_characters_are_not_echoed():
    err = error("def f(float(N) A) -> (O) { O(i) = A(i) \x1b[31m }")
    assert err.message == "unexpected character U+001B"
    line, caret = quote(err)
    assert "\x1b" not in str(err)
    assert line[caret.index("^")] == "?"


def test_long_lines_are_cut_around_the_caret():
    source = "def f(float(N) A) -> (O) { O(i) = A(i)" + " " * MEGABYTE + " + @ }"
    err = error(source)
    assert err.message == "unexpected character '@'"
    line, caret = quote(err)
    assert len(line) <= 120
    assert line[caret.index("^")] == "@"


def test_crlf_line_endings():
    err = error("def f(float(N) A) -> (O) {\r\n  O(i) = B(i)\r\n}\r\n")
    assert (err.line, err.col) == (2, 10)
    line, caret = quote(err)
    assert line == "  O(i) = B(i)" and caret == " " * 9 + "^"


@pytest.mark.parametrize("sep", ["\r", "\f", "\v", "\x85", "\u2028"])
def test_only_newline_ends_a_quoted_line(sep):
    err = error(f"def f(float(N) A) -> (O) {{ # a{sep}b\n  O(i) = B(i)\n}}")
    assert (err.line, err.col) == (2, 10)
    line, caret = quote(err)
    assert line == "  O(i) = B(i)" and caret == " " * 9 + "^"


def test_format_without_location():
    err = TcError("something failed")
    assert str(err) == "error: something failed"
    assert (err.file, err.line, err.col) == (None, None, None)


def test_warning_format():
    loc = Location("w.tc", 1, 3, "a  b")
    assert str(TcWarning("careful", loc)) == "w.tc:1:3: warning: careful\n    a  b\n      ^"
    assert format_diagnostic("note", "n", None) == "note: n"


# Robustness -------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["", " ", "\n\n", "# nothing\n", "\t \r\n", ";", "}", "{"])
def test_empty_or_trivial_sources(source):
    err = error(source)
    assert err.loc is not None


def test_canonical_examples_are_valid():
    assert len(EXAMPLES) == 11
    for example in EXAMPLES:
        assert outcome(example) is None, example


@pytest.mark.parametrize("index", range(11))
def test_every_prefix_of_every_canonical_example(index):
    example = EXAMPLES[index]
    for end in range(len(example)):
        err = outcome(example[:end])
        # A prefix that ends right after a statement can be valid only if it is complete.
        if err is None:
            assert example[:end].rstrip().endswith("}"), example[:end]
        else:
            assert err.loc is not None and 1 <= err.line <= example.count("\n") + 2


@pytest.mark.parametrize("seed", range(20))
def test_binary_garbage(seed):
    rng = random.Random(seed)
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    for text in (data.decode("latin-1"), data.decode("utf-8", errors="replace")):
        err = error(text)
        assert err.loc is not None
    # Garbage after a valid program, and NUL bytes inside one.
    assert error(EXAMPLES[0] + data.decode("latin-1")) is not None
    nul = EXAMPLES[0].replace("+=!", "+=!\x00")
    assert "U+0000" in error(nul).message


def test_bytes_instead_of_text():
    err = error(EXAMPLES[0].encode())
    assert "must be a string" in err.message


@pytest.mark.parametrize("body", [
    "(" * 10_000 + "A(i)" + ")" * 10_000,
    "(" * 10_000,
    "-" * 10_000 + "A(i)",
    "!" * 10_000 + "A(i)",
    "exp(" * 10_000 + "A(i)" + ")" * 10_000,
    "A(" * 10_000 + "i" + ")" * 10_000,
    "i < 1 ? A(i) : " * 10_000 + "A(i)",
    " + ".join(["A(i)"] * 10_000),
    "min(" * 5_000 + "A(i)" + ", 1)" * 5_000,
])
def test_deep_nesting_is_a_located_error(body):
    err = error(f"def f(float(N) A) -> (O) {{\n  O(i) = {body}\n}}")
    assert "nested too deeply" in err.message
    assert err.line == 2



@pytest.mark.parametrize("line", [
    "a" * MEGABYTE,
    "9" * MEGABYTE,
    "1." + "5" * MEGABYTE,
    "#" * MEGABYTE,
    " " * MEGABYTE,
    # Many tokens: a quarter of a megabyte keeps these fast.
    "def f(float(N) A) -> (O) { O(i) = A(i) }" * (MEGABYTE // 160),
    "def f(" + "float(N) A, " * (MEGABYTE // 48) + ") -> (O) { O(i) = A(i) }",
    "def f(float(N) A) -> (O) { O(i) = max(" + "A(i), " * (MEGABYTE // 24) + "A(i)) }",
    "def f(float(N) A) -> (O) { O(i) = A(i) where " + "i in 0:N, " * (MEGABYTE // 40) + "}",
    "def f(float(N) A) -> (O) { O(i) = A(i)" + "; " * (MEGABYTE // 8) + "}",
    "(" * MEGABYTE,
    "def f(float(N) A) -> (O) { O(i) = " + "c ? " * (MEGABYTE // 4),
])
def test_one_megabyte_line(line):
    err = outcome(line)
    if err is not None:
        assert err.loc is not None
        assert len(str(err)) < 1000


def test_large_valid_program():
    stmt = "  O(i) = O(i) + A(i)\n"
    source = "def f(float(N) A) -> (O) {\n  O(i) = A(i)\n" + stmt * 5000 + "}"
    assert outcome(source) is None
