"""The one cleaning rule for names, personal messages and group names from MSN."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st
import pytest

from bridge.clean_text import MAX_LENGTH, clean_line
from bridge.puppet import presence_for


def test_names_are_not_decoded_twice_and_white_space_is_one_space() -> None:
    # the library already URL-decoded the name: "%41" here is literal text
    assert clean_line("100%41 real") == "100%41 real"
    assert clean_line("  Bob \t the \r\n builder ") == "Bob the builder"
    assert clean_line(None) == clean_line("") == ""


def test_a_clean_text_comes_back_as_the_same_object() -> None:
    """The bridge keeps a contact's cleaned name beside the library's: a name needing no
    cleaning is not copied."""
    name = "".join(["Bob ", "the builder"])  # (made at run time, not a shared constant)
    assert clean_line(name) is name
    assert clean_line("Bob  the builder") == "Bob the builder"


@given(st.text(alphabet=" \t\r\n\x0b\x0c\x85\u00a0\u2003\u3000ab", max_size=20))
def test_white_space_becomes_one_space_as_a_run_did(text: str) -> None:
    assert clean_line(text) == re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Evil\x00Bob", "EvilBob"),
        ("a\x01\x07\x1b[31mred", "a[31mred"),
        ("del\x7fc1\x80\x9f", "delc1"),
        ("next\x85line", "next line"),
        ("lone\ud800surrogate\udfff", "lonesurrogate"),
        ("\u202eevil\u202c \u2066x\u2069", "evil x"),
        ("no\ufffe\uffffchar", "nochar"),
    ],
)
def test_control_characters_are_removed(raw: str, clean: str) -> None:
    assert clean_line(raw) == clean
    # what is left can be stored anywhere: valid UTF-8, no NUL
    clean_line(raw).encode("utf-8")


def test_emoji_sequences_and_right_to_left_text_are_kept() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert clean_line(f"{family} \u2764\ufe0f") == f"{family} \u2764\ufe0f"
    assert clean_line("\u05e9\u05dc\u05d5\u05dd Bob") == "\u05e9\u05dc\u05d5\u05dd Bob"


def test_long_texts_are_cut() -> None:
    assert clean_line("x" * 10_000) == "x" * MAX_LENGTH
    assert clean_line("ab" * 10, max_length=5) == "ababa"


def test_presence_status_message_is_cleaned() -> None:
    # a personal message stored before the rule existed is cleaned when it is shown
    assert presence_for("NLN", "at\x00 work\n") == presence_for("NLN", "at work")
