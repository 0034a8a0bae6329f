"""Mapping between MSN Passport addresses and Matrix user IDs.

A Passport address (an e-mail address) is turned into a Matrix localpart with a reversible
escape: lower-case ASCII letters, digits and ``. _ - /`` are kept as they are, every other byte
of the UTF-8 encoding becomes ``=`` followed by two lower-case hex digits. Upper-case letters
are folded to lower case first, because MSN treats addresses case-insensitively, so the result
only ever contains characters Matrix allows in a localpart (``[a-z0-9._=-/]``).

>>> escape_passport("Alice@Example.com")
'alice=40example.com'
>>> unescape_passport("alice=40example.com")
'alice@example.com'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
import re

from mautrix.types import UserID

__all__ = [
    "GhostIDs",
    "InvalidEscape",
    "escape_passport",
    "normalize_passport",
    "unescape_passport",
]

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789._-/")
_HEX = frozenset("0123456789abcdef")
_PLACEHOLDER = "{userid}"


class InvalidEscape(ValueError):
    """The string is not something :func:`escape_passport` could have produced."""


def normalize_passport(passport: str) -> str:
    """The canonical (lower-case, trimmed) form of a Passport address."""
    return passport.strip().lower()


def escape_passport(passport: str) -> str:
    """Escape a Passport address into a Matrix localpart fragment (see module docs)."""
    if not passport:
        raise ValueError("empty Passport address")
    out: list[str] = []
    for byte in passport.lower().encode("utf-8"):
        if byte in _SAFE:
            out.append(chr(byte))
        else:
            out.append(f"={byte:02x}")
    return "".join(out)


def unescape_passport(escaped: str) -> str:
    """Reverse :func:`escape_passport`. Raises :class:`InvalidEscape` on malformed input."""
    if not escaped:
        raise InvalidEscape("empty localpart")
    buf = bytearray()
    i = 0
    n = len(escaped)
    while i < n:
        ch = escaped[i]
        if ch == "=":
            pair = escaped[i + 1 : i + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise InvalidEscape(f"bad escape sequence at position {i} in {escaped!r}")
            byte = int(pair, 16)
            if byte in _SAFE:
                # escape_passport never escapes these, so the text is not canonical
                raise InvalidEscape(f"needlessly escaped {chr(byte)!r} in {escaped!r}")
            buf.append(byte)
            i += 3
            continue
        code = ord(ch)
        if code > 0x7F or code not in _SAFE:
            raise InvalidEscape(f"character {ch!r} is not allowed in {escaped!r}")
        buf.append(code)
        i += 1
    try:
        return buf.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEscape(f"escaped bytes are not UTF-8 in {escaped!r}") from e


@dataclass(frozen=True)
class GhostIDs:
    """The ghosts' Matrix IDs of one bridge: ``@<prefix><escaped passport><suffix>:<domain>``,
    where ``bridge.username_template`` is ``<prefix>{userid}<suffix>``.

    The one place that turns Passport addresses into ghost IDs and back; the registration's
    user namespace (:attr:`namespace_regex`) is derived from the same parts.
    """

    template: str
    domain: str

    def __post_init__(self) -> None:
        if self.template.count(_PLACEHOLDER) != 1:
            raise ValueError(
                f"username template {self.template!r} must contain {_PLACEHOLDER} once"
            )

    @cached_property
    def mxid_prefix(self) -> str:
        """What every ghost ID starts with, e.g. ``@msn_``."""
        return "@" + self.template.split(_PLACEHOLDER)[0]

    @cached_property
    def mxid_suffix(self) -> str:
        """What every ghost ID ends with, e.g. ``:example.com``."""
        return self.template.split(_PLACEHOLDER)[1] + ":" + self.domain

    @property
    def namespace_regex(self) -> str:
        """A regular expression matching every ghost ID (for the appservice registration)."""
        return re.escape(self.mxid_prefix) + r"[a-z0-9._=/\-]+" + re.escape(self.mxid_suffix)

    def mxid(self, passport: str) -> UserID:
        """The ghost of ``passport``, e.g. ``@msn_alice=40example.com:example.com``."""
        return UserID(f"{self.mxid_prefix}{escape_passport(passport)}{self.mxid_suffix}")

    def passport(self, mxid: str) -> str | None:
        """The Passport address of a ghost's Matrix ID, or ``None`` if it is not one of ours."""
        head, tail = self.mxid_prefix, self.mxid_suffix
        if len(mxid) <= len(head) + len(tail) or not (
            mxid.startswith(head) and mxid.endswith(tail)
        ):
            return None
        try:
            return unescape_passport(mxid[len(head) : len(mxid) - len(tail)])
        except InvalidEscape:
            return None

    def is_ghost(self, mxid: str) -> bool:
        return self.passport(mxid) is not None
