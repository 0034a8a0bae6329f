"""The notices about what contacts did (added the user, opened too many group chats).

They quote the contacts' names, which their owners chose: one line, no formatting or control
characters, bounded, never first. Nothing here has side effects; the callers send the notices.
"""

from __future__ import annotations

from collections.abc import Sequence
import html as html_lib
import unicodedata

from bridge.clean_text import clean_line

__all__ = ["QUOTED_NAME_LENGTH", "added_you", "group_rooms_limited", "quoted"]

#: A quoted name is cut after this many characters.
QUOTED_NAME_LENGTH = 64
_QUOTES = str.maketrans({"\u201c": "'", "\u201d": "'", '"': "'"})


def quoted(name: str) -> tuple[str, str]:
    """``name`` (chosen by a contact, so by anyone) for the middle of a notice: one line
    without control or formatting characters (no line breaks, no right-to-left overrides),
    at most :data:`QUOTED_NAME_LENGTH` characters, between quotation marks it cannot close;
    as plain text and as HTML (escaped)."""
    # the names rule (bridge.clean_text), then stricter for a quote: no format characters at all
    text = "".join(
        ch for ch in clean_line(name, max_length=len(name)) if unicodedata.category(ch)[0] != "C"
    )
    text = " ".join(text.translate(_QUOTES).split())
    if len(text) > QUOTED_NAME_LENGTH:
        text = text[: QUOTED_NAME_LENGTH - 1].rstrip() + "\u2026"
    return f"\u201c{text}\u201d", f"\u201c{html_lib.escape(text)}\u201d"


def _address(passport: str) -> tuple[str, str]:
    text = quoted(passport)[0][1:-1]
    return text, html_lib.escape(text)


def added_you(people: Sequence[tuple[str, str]], more: int = 0) -> tuple[str, str]:
    """The notice that ``people`` (passport, name) and ``more`` others added the user to their
    contact list; plain text and HTML."""
    plain: list[str] = []
    rich: list[str] = []
    for passport, name in people:
        name_text, name_html = quoted(name or passport)
        addr_text, addr_html = _address(passport)
        plain.append(f"{name_text} ({addr_text})")
        rich.append(f"{name_html} (<code>{addr_html}</code>)")
    listed_text, listed_html = ", ".join(plain), ", ".join(rich)
    if more:
        listed_text += f" and {more} more"
        listed_html += f" and {more} more"
    single = len(people) == 1 and not more
    head = (
        "Someone added you to their MSN contact list: "
        if single
        else "New people added you to their MSN contact list: "
    )
    who_text, who_html = _address(people[0][0]) if single else ("EMAIL", "EMAIL")
    tail_text = f". Answer with `accept {who_text}`, `decline {who_text}` or `block {who_text}`"
    tail_html = (
        f". Answer with <code>accept {who_html}</code>, <code>decline {who_html}</code> or "
        f"<code>block {who_html}</code>"
    )
    tail_text += "; `requests` lists them all." if more else "."
    tail_html += "; <code>requests</code> lists them all." if more else "."
    return head + listed_text + tail_text, head + listed_html + tail_html


def group_rooms_limited(passport: str, name: str, limit: int, window: float) -> tuple[str, str]:
    """The notice that the contact ``passport`` opened more group chat rooms than allowed."""
    name_text, name_html = quoted(name or passport)
    addr_text, addr_html = _address(passport)
    per = f"{limit} per {_duration(window)}"
    text = (
        "A contact started more new group chats than the bridge opens rooms for "
        f"({per}): {name_text} ({addr_text}). Until that eases, messages in their new group "
        "chats are shown in your direct chat with whoever wrote them (replies there go to "
        "that person only)."
    )
    rich = (
        "A contact started more new group chats than the bridge opens rooms for "
        f"({per}): {name_html} (<code>{addr_html}</code>). Until that eases, messages in "
        "their new group chats are shown in your direct chat with whoever wrote them "
        "(replies there go to that person only)."
    )
    return text, rich


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} seconds"
