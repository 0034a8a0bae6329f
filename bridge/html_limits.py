"""What keeps hostile formatting harmless: size and depth limits for Matrix HTML, the tags its
parser may see, and which MSN font names are names.

* HTML longer than one MSN message (:data:`MAX_HTML`) is not parsed whole: the standard
  library's HTMLParser rescans unterminated constructs, which costs quadratic time.
* Below that, every ``<`` that does not open a well-formed tag becomes ``&lt;`` and comments are
  dropped (:func:`escape_stray_lt`, linear), so the parser never meets an unterminated
  construct; tags nest at most :data:`MAX_DEPTH` deep (no recursion without bound).
* A font name goes into a ``style`` attribute on Matrix, where HTML escaping does not stop CSS:
  only letters, digits, spaces, ``.-_`` and at most :data:`MAX_FONT_NAME` characters pass.

This module is pure: no I/O, no bridge state.
"""

from __future__ import annotations

import re

from bridge.msnp.message import MAX_MSG_PAYLOAD

__all__ = ["MAX_DEPTH", "MAX_FONT_NAME", "MAX_HTML", "escape_stray_lt", "valid_font_name"]

#: HTML longer than one MSN message is not parsed whole.
MAX_HTML = MAX_MSG_PAYLOAD
#: Deeper tags are kept as text containers of their parent.
MAX_DEPTH = 40
#: Font names are at most this long (Windows allows 31 characters) ...
MAX_FONT_NAME = 64
#: ... and made of letters, digits, spaces, dots, hyphens and underscores.
_FONT_NAME = re.compile(r"[\w .\-]+")
# A well-formed start or end tag; no part may contain "<", so a match attempt never runs past
# the next "<" and checking every "<" of the input costs linear time.
_TAG = re.compile(
    r"</?[A-Za-z][A-Za-z0-9-]*"
    r"(?:\s+[^\s/>\"'=<]+(?:\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'|[^\s\"'<>=`]+))?)*"
    r"\s*/?>"
)


def valid_font_name(name: str) -> str:
    """``name`` stripped if it is a plausible font name, else ''."""
    name = name.strip()
    if len(name) <= MAX_FONT_NAME and _FONT_NAME.fullmatch(name):
        return name
    return ""


def escape_stray_lt(html: str) -> str:
    """``&lt;`` for every ``<`` that does not open a well-formed tag; comments removed."""
    out: list[str] = []
    pos = 0
    comments_closed = True  # False once a "<!--" had no "-->" after it: none later has one
    while True:
        lt = html.find("<", pos)
        if lt < 0:
            out.append(html[pos:])
            return "".join(out)
        out.append(html[pos:lt])
        if comments_closed and html.startswith("<!--", lt):
            end = html.find("-->", lt + 4)
            if end >= 0:
                pos = end + 3
                continue
            comments_closed = False
        match = _TAG.match(html, lt)
        if match is None:
            out.append("&lt;")
            pos = lt + 1
        else:
            out.append(match.group())
            pos = match.end()
