"""The text a Matrix reaction becomes on MSN."""

from __future__ import annotations

from bridge.portal.other_events import SNIPPET_LENGTH, reaction_text


def test_a_short_message_is_quoted_whole() -> None:
    assert reaction_text("👍", "see you at 8") == '* reacted 👍 to "see you at 8"'


def test_a_long_message_is_cut_after_the_first_words() -> None:
    body = "this is a rather long message that goes on\nand on for a while"
    text = reaction_text("❤️", body)
    assert text == '* reacted ❤️ to "this is a rather long message…"'  # whole words
    assert text.endswith('…"') and "\n" not in text
    assert len(text) <= len('* reacted ❤️ to ""') + SNIPPET_LENGTH + 1


def test_one_very_long_word_is_cut_anyway() -> None:
    assert reaction_text("👍", "x" * 100) == '* reacted 👍 to "' + "x" * SNIPPET_LENGTH + '…"'


def test_no_text_and_odd_keys() -> None:
    assert reaction_text("👍", None) == "* reacted 👍 to a message"
    assert reaction_text("", "hi") == '* reacted ? to "hi"'
    # a key with line breaks (anyone can send any key) stays on one short line
    assert reaction_text("a\nb" * 20, "hi").count("\n") == 0
    assert len(reaction_text("x" * 500, "hi")) < 40
