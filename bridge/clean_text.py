"""The one rule for short texts from MSN before the bridge stores or shows them: friendly
names, personal messages and group names lose their control characters.

Anyone on MSN chooses these texts, and the server passes them on URL-decoded, so they may hold
any code point: NUL (which PostgreSQL refuses in a text column, so every save of the row would
fail), line breaks and other C0/C1 controls (which break one-line displays), lone surrogates
(which cannot be encoded as UTF-8 at all) and bidirectional overrides (which make the rest of a
line read backwards, e.g. to fake another contact's name). All of them are removed; runs of
white space become one space; the result is at most :data:`MAX_LENGTH` characters long.
Emoji joiners, variation selectors and ordinary right-to-left text are kept.
"""

from __future__ import annotations

import re

__all__ = ["MAX_LENGTH", "clean_line"]

#: Longer texts are cut. MSN's own limit for names and personal messages is 129 characters;
#: a Matrix display name may be 256, and the bridge adds a suffix such as " (MSN)".
MAX_LENGTH = 200

# C0 controls except the white space that becomes a space, DEL and the C1 controls; lone
# surrogates; the bidirectional embeddings, overrides and isolates; U+FFFE/U+FFFF.
_REMOVED = re.compile(
    "["
    "\x00-\x08\x0e-\x1f"  # C0 controls (tab, line breaks etc. become spaces below)
    "\x7f-\x84\x86-\x9f"  # DEL, C1 controls (NEL becomes a space)
    "\ud800-\udfff"  # lone surrogates
    "\u202a-\u202e\u2066-\u2069"  # bidirectional embeddings, overrides, isolates
    "\ufffe\uffff"
    "]"
)
# a run of white space, or one white-space character other than a plain space (a lone space
# is left alone: a clean text comes back as the same object, not an equal copy kept twice)
_SPACES = re.compile(r"\s\s+|[^\S ]")


def clean_line(text: str | None, max_length: int = MAX_LENGTH) -> str:
    """``text`` as one clean line (see the module documentation); ``""`` for None."""
    if not text:
        return ""
    text = _SPACES.sub(" ", _REMOVED.sub("", text)).strip()
    if len(text) > max_length:
        text = text[:max_length].rstrip()
    return text
