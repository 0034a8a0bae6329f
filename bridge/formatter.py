"""Message text conversion between Matrix (HTML) and MSN (plain text + one format per message).

MSN formats a whole message at once (one font, one colour, effects B/I/U/S in
``X-MMS-IM-Format``).  Matrix formats runs of text with HTML.  Going to MSN, the HTML is turned
into text and one format by :mod:`bridge.html_to_msn`; here edits, emotes and replies are
shaped (a reply's fallback is dropped and the quoted message can be prefixed as ``> ...``).

Going to Matrix, the text is HTML-escaped, newlines become ``<br>``, and the message format is
wrapped around it (``<b>``, ``<i>``, ``<u>``, ``<del>``, ``<font color>``, a font-family span).
Messages without any formatting get no ``formatted_body``. The font name is used only when it is
a name (:func:`bridge.html_limits.valid_font_name`): it goes into a ``style`` attribute.
HTML longer than one MSN message is not parsed: the plain ``body`` is sent instead.

This module is pure: no I/O, no bridge state.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping
from html import escape
import re

from bridge.html_limits import MAX_HTML, valid_font_name
from bridge.html_to_msn import html_to_msn, parse_color
from bridge.msnp.values import MessageFormat

__all__ = [
    "DEFAULT_FONTS",
    "emote_text",
    "html_to_msn",
    "matrix_to_msn",
    "msn_to_matrix",
    "quote_text",
    "strip_reply_fallback",
]

# Fonts MSN clients send by default; they are not worth a font-family span on Matrix.
DEFAULT_FONTS = frozenset(
    {"", "ms sans serif", "microsoft sans serif", "segoe ui", "tahoma", "arial"}
)
# Black is every MSN client's default colour; on dark Matrix themes it would be unreadable.
DEFAULT_COLORS = frozenset({"", "000000"})

# --- Matrix content -> MSN ------------------------------------------------------------------

_REPLY_FALLBACK_LINE = re.compile(r"^> ?")


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> <@user> quoted`` lines (and the blank line after them) of a reply body."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def quote_text(
    text: str, sender: str | None = None, max_lines: int = 3, max_chars: int = 200
) -> str:
    """``> sender: line`` lines quoting (the start of) ``text``."""
    text = text.strip()
    if len(text) > max_chars:
        text = text[: max_chars - 3].rstrip() + "..."
    lines = text.split("\n")
    if len(lines) > max_lines:
        lines = [*lines[:max_lines], "..."]
    if sender:
        lines[0] = f"{sender}: {lines[0]}"
    return "\n".join(f"> {line}".rstrip() for line in lines)


def emote_text(name: str, text: str) -> str:
    """The MSN form of a Matrix ``/me`` message: ``* name text``."""
    return f"* {name} {text}"


def matrix_to_msn(
    content: Mapping[str, Any],
    *,
    sender_name: str = "",
    quote: str | None = None,
    quote_sender: str | None = None,
    newline: str = "\r\n",
) -> tuple[str, MessageFormat]:
    """A Matrix ``m.room.message`` content (as a dict) -> (MSN text, message format).

    * edits (``m.new_content``) are sent as ``* new text``;
    * ``m.emote`` becomes ``* sender_name text``;
    * a reply's fallback is removed; ``quote`` (the replied-to text, looked up by the caller) is
      put in front as ``> ...`` lines;
    * newlines are written as ``newline`` (MSN clients use CRLF).
    """
    edit = False
    new_content = content.get("m.new_content")
    relates = content.get("m.relates_to") or {}
    if isinstance(new_content, Mapping) and relates.get("rel_type") == "m.replace":
        edit = True
        content = new_content
        relates = {}
    is_reply = isinstance(relates, Mapping) and "m.in_reply_to" in relates
    body = content.get("body")
    body = body if isinstance(body, str) else ""
    formatted = content.get("formatted_body")
    if isinstance(formatted, str) and len(formatted) > MAX_HTML and body.strip():
        formatted = None  # too long to parse: the plain body carries the whole text
    if content.get("format") == "org.matrix.custom.html" and isinstance(formatted, str):
        text, fmt = html_to_msn(formatted)
        if not text.strip() and body.strip():
            text, fmt = (strip_reply_fallback(body) if is_reply else body), MessageFormat()
    else:
        text = strip_reply_fallback(body) if is_reply else body
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        fmt = MessageFormat()
    if content.get("msgtype") == "m.emote":
        text = emote_text(sender_name, text) if sender_name else f"* {text}"
    if edit:
        text = f"* {text}"
    if is_reply and quote is not None:
        text = f"{quote_text(quote, quote_sender)}\n{text}"
    if newline != "\n":
        text = text.replace("\n", newline)
    return text, fmt


# --- MSN -> Matrix content ------------------------------------------------------------------


def msn_to_matrix(
    text: str, fmt: MessageFormat | None = None, *, msgtype: str = "m.text"
) -> dict[str, Any]:
    """MSN text + format -> Matrix message content (``formatted_body`` only when formatted)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    content: dict[str, Any] = {"msgtype": msgtype, "body": text}
    if fmt is None:
        return content
    color = fmt.color.lower() if fmt.color else ""
    font = valid_font_name(fmt.font)
    wrappers: list[tuple[str, str]] = []
    if font and font.lower() not in DEFAULT_FONTS:
        wrappers.append((f'<span style="font-family: {escape(font)}">', "</span>"))
    if color not in DEFAULT_COLORS and parse_color(color):
        wrappers.append((f'<font color="#{color}">', "</font>"))
    for effect, tag in (("B", "b"), ("I", "i"), ("U", "u"), ("S", "del")):
        if effect in fmt.effects:
            wrappers.append((f"<{tag}>", f"</{tag}>"))
    if not wrappers:
        return content
    html = escape(text, quote=False).replace("\n", "<br>")
    for opening, closing in reversed(wrappers):
        html = f"{opening}{html}{closing}"
    content["format"] = "org.matrix.custom.html"
    content["formatted_body"] = html
    return content
