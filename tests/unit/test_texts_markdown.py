"""Text from elsewhere (a server's error, a contact's name, what the user typed) shows
literally in the bot's Markdown replies."""

from __future__ import annotations

from mautrix.util import markdown
import pytest

from bridge.msnp.errors import ConnectionClosed, MSNPError, ProtocolError
from bridge.texts import command_failure, md, not_connected_state

HOSTILE = "<b>bold</b> *star* [link](https://evil.example) _u_ `code` &lt; # ~~s~~"


def _rendered(text: str) -> str:
    return markdown.render(text)


def _assert_literal(html: str) -> None:
    # (the backticked `code` below is in the expected literal text: no <code> from it)
    for tag in ("<b>", "<em>", "<a ", "<del>", "<h1>"):
        assert tag not in html, html
    assert "&lt;b&gt;bold&lt;/b&gt; *star* [link](https://evil.example) _u_ `code`" in html
    assert "&amp;lt;" in html  # the entity shows as typed, not as "<"


@pytest.mark.parametrize(
    "error",
    [ProtocolError(HOSTILE), ConnectionClosed("USR", HOSTILE), MSNPError(600, HOSTILE)],
)
def test_server_error_text_is_literal(error: Exception) -> None:
    assert isinstance(error, ProtocolError | ConnectionClosed | MSNPError)
    reply = command_failure(error, "add x*y@example.com")
    html = _rendered(reply)
    _assert_literal(html)
    assert "<code>" not in html and "<strong>" not in html
    assert "x*y@example.com" in html


def test_md_is_one_literal_line() -> None:
    _assert_literal(_rendered(f"Logged in as **{md(HOSTILE)}**"))
    assert md("a\n\n# title\n    code") == "a \\# title code"
    assert _rendered(md("1. not a list")) == "<p>1. not a list</p>\n"


def test_ping_state_shows_the_last_error_literally() -> None:
    text = not_connected_state(False, None, HOSTILE, False)
    _assert_literal(_rendered(text))
    assert "`reconnect`" in text  # the bridge's own formatting stays
