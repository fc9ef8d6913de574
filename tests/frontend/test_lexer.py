"""The TC tokenizer: token kinds, compound assignments, numbers, comments, locations."""

import pytest

from tcir.errors import TcError
from tcir.frontend.lexer import Lexer


def lex(source: str) -> list[tuple[str, str]]:
    """(kind, text) of every token, without the final eof."""
    tokens = list(Lexer(source, "t.tc").tokens())
    assert tokens[-1].kind == "eof"
    return [(t.kind, t.text) for t in tokens[:-1]]


def lex_error(source: str) -> TcError:
    with pytest.raises(TcError) as info:
        list(Lexer(source, "t.tc").tokens())
    return info.value


# Token kinds ------------------------------------------------------------------------

PUNCTUATION = ["->", "==", "!=", "<=", ">=", "&&", "||", "(", ")", "{", "}", ",", ":", "?",
               "<", ">", "+", "-", "*", "/", "%", "!", "=", ";"]


@pytest.mark.parametrize("punct", PUNCTUATION)
def test_punctuation_is_its_own_kind(punct):
    assert lex(f"a {punct} b") == [("ident", "a"), (punct, punct), ("ident", "b")]


@pytest.mark.parametrize("op", ["+=", "*=", "min=", "max=", "+=!", "*=!", "min=!", "max=!"])
def test_assignment_operators_are_single_tokens(op):
    assert lex(f"C(i) {op} A(i)") == [
        ("ident", "C"), ("(", "("), ("ident", "i"), (")", ")"),
        ("assign", op), ("ident", "A"), ("(", "("), ("ident", "i"), (")", ")"),
    ]


def test_identifiers():
    assert lex("_a a_1 r_kh _2LUT Z9") == [("ident", t) for t in "_a a_1 r_kh _2LUT Z9".split()]


def test_keywords_and_type_names_are_identifiers():
    words = "def where in exists float int32 bfloat16 min max"
    assert lex(words) == [("ident", w) for w in words.split()]


def test_eof_location_after_trailing_text():
    tokens = list(Lexer("a\n  b", "t.tc").tokens())
    eof = tokens[-1]
    assert (eof.kind, eof.loc.line, eof.loc.col) == ("eof", 2, 4)


def test_empty_source_is_just_eof():
    tokens = list(Lexer("", "t.tc").tokens())
    assert [t.kind for t in tokens] == ["eof"]


# Compound assignments versus their look-alikes ----------------------------------------


def test_plus_assign_bang_without_space_is_one_token():
    assert lex("+=!b") == [("assign", "+=!"), ("ident", "b")]


def test_plus_assign_then_logical_not_with_space():
    assert lex("+= !b") == [("assign", "+="), ("!", "!"), ("ident", "b")]


def test_min_assign_versus_min_call():
    assert lex("min=") == [("assign", "min=")]
    assert lex("min(a, b)")[:2] == [("ident", "min"), ("(", "(")]
    assert lex("min =") == [("ident", "min"), ("=", "=")]


def test_assignment_is_not_taken_from_an_equality():
    assert lex("min==b") == [("ident", "min"), ("==", "=="), ("ident", "b")]
    assert lex("a+==b") == [("ident", "a"), ("+", "+"), ("==", "=="), ("ident", "b")]


def test_min_inside_a_longer_identifier_is_not_an_operator():
    assert lex("amin=b") == [("ident", "amin"), ("=", "="), ("ident", "b")]
    assert lex("minx=b") == [("ident", "minx"), ("=", "="), ("ident", "b")]


def test_longest_punctuation_wins():
    assert lex("a->b") == [("ident", "a"), ("->", "->"), ("ident", "b")]
    assert lex("a<=b>=c!=d") == [("ident", "a"), ("<=", "<="), ("ident", "b"), (">=", ">="),
                                  ("ident", "c"), ("!=", "!="), ("ident", "d")]
    assert lex("a--b") == [("ident", "a"), ("-", "-"), ("-", "-"), ("ident", "b")]


# Numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "7", "42", "2147483648"])
def test_integers(text):
    assert lex(text) == [("int", text)]


@pytest.mark.parametrize("text", ["1.", ".5", "1.5", "1e-5", "1E+3", "2e10", "1.e2", ".5e-1"])
def test_floats(text):
    assert lex(text) == [("float", text)]


def test_number_then_identifier():
    assert lex("1e") == [("int", "1"), ("ident", "e")]
    assert lex("2h") == [("int", "2"), ("ident", "h")]


def test_two_dots_make_two_numbers():
    assert lex("1.5.5") == [("float", "1.5"), ("float", ".5")]


def test_minus_is_never_part_of_a_number():
    assert lex("-1") == [("-", "-"), ("int", "1")]
    assert lex("1e-5-2") == [("float", "1e-5"), ("-", "-"), ("int", "2")]


# Comments and whitespace ------------------------------------------------------------


def test_comments_run_to_end_of_line():
    assert lex("a # b c (\nd") == [("ident", "a"), ("ident", "d")]


def test_comment_at_end_of_input_without_newline():
    assert lex("a #") == [("ident", "a")]


def test_whitespace_kinds():
    assert lex("a\tb\r\nc\fd\ve") == [("ident", x) for x in "abcde"]


# Locations --------------------------------------------------------------------------


def test_token_locations_are_one_based_line_and_column():
    src = "def f\n  (x) # c\n\tyy"
    locs = [(t.text, t.loc.line, t.loc.col) for t in Lexer(src, "t.tc").tokens()][:-1]
    assert locs == [("def", 1, 1), ("f", 1, 5), ("(", 2, 3), ("x", 2, 4), (")", 2, 5), ("yy", 3, 2)]
    assert all(t.loc.file == "t.tc" for t in Lexer(src, "t.tc").tokens())


# Unexpected characters --------------------------------------------------------------


@pytest.mark.parametrize("char, shown", [
    ("@", "'@'"), ("$", "'$'"), ("&", "'&'"), ("|", "'|'"), (".", "'.'"), ("[", "'['"),
    ("é", "'é'"), ("\x00", "U+0000"), ("\x7f", "U+007F"), ("\x1b", "U+001B"), ("\u200b", "U+200B"),
])
def test_unexpected_character_is_a_located_error(char, shown):
    err = lex_error(f"ab\n  x {char} y")
    assert err.message == f"unexpected character {shown}"
    assert (err.loc.line, err.loc.col) == (2, 5)


def test_unexpected_character_after_valid_tokens_reports_first_one():
    err = lex_error("a + b @ c $")
    assert err.col == 7
