"""One-time login links: random tokens bound to a Matrix user, short-lived and single-use.

The store keeps only a hash of each token (a memory dump or a debugger shows no usable link),
one live link per Matrix user (a new ``login`` replaces the old link) and at most
:data:`MAX_LINKS` entries in all, so its memory is bounded whatever users do. Links live in
memory only: a bridge restart invalidates them, which is the safe direction.

A link is *used* by a successful login; a failed one (wrong password) may be retried with the
same link until :data:`MAX_ATTEMPTS` failures, and only one attempt runs at a time. Opening the
page (GET) uses nothing, so link previews and prefetching browsers cannot spend a link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
import hashlib
import secrets
import time

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_LINKS",
    "TOKEN_BYTES",
    "Link",
    "LinkState",
    "LoginLinks",
    "looks_like_token",
]

#: Random bytes per token (256 bits: guessing is hopeless).
TOKEN_BYTES = 32
#: Failed logins before a link is spent.
MAX_ATTEMPTS = 5
#: Live and recently spent links kept at most (the oldest go first).
MAX_LINKS = 10_000
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
#: ``secrets.token_urlsafe(TOKEN_BYTES)`` is this long.
_TOKEN_LENGTH = 43


def looks_like_token(text: str) -> bool:
    """Cheap shape check before hashing what a browser sent."""
    return len(text) == _TOKEN_LENGTH and set(text) <= _TOKEN_CHARS


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii")).digest()


class LinkState(Enum):
    VALID = "valid"
    UNKNOWN = "unknown"  # never issued, replaced by a newer link, or the bridge restarted
    EXPIRED = "expired"
    USED = "used"
    BUSY = "busy"  # a login with this link is running right now


@dataclass(slots=True)
class Link:
    """A link's facts. ``passport`` is the address the user named in ``login``, if any."""

    mxid: str
    passport: str | None
    expires_at: float
    attempts: int = 0
    used: bool = False
    busy: bool = False


class LoginLinks:
    """The store of login links (see the module documentation)."""

    def __init__(
        self,
        lifetime: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_links: int = MAX_LINKS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be positive")
        self.lifetime = lifetime
        self.clock = clock
        self.max_links = max_links
        self.max_attempts = max_attempts
        # Insertion order is issue order: the first entry is the oldest.
        self._links: dict[bytes, Link] = {}
        self._by_user: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self._links)

    def issue(self, mxid: str, passport: str | None = None) -> str:
        """A new token for ``mxid``; the user's previous link stops working."""
        self._prune()
        old = self._by_user.pop(mxid, None)
        if old is not None:
            self._links.pop(old, None)
        while len(self._links) >= self.max_links:
            oldest = next(iter(self._links))
            self._forget(oldest)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        key = _digest(token)
        self._links[key] = Link(mxid, passport, self.clock() + self.lifetime)
        self._by_user[mxid] = key
        return token

    def check(self, token: str) -> tuple[LinkState, Link | None]:
        """What ``token`` is worth now; the link is returned only when it is VALID or BUSY."""
        link = self._find(token)
        if link is None:
            return LinkState.UNKNOWN, None
        if link.used:
            return LinkState.USED, None
        if self.clock() >= link.expires_at:
            return LinkState.EXPIRED, None
        if link.busy:
            return LinkState.BUSY, link
        return LinkState.VALID, link

    def begin(self, token: str) -> tuple[LinkState, Link | None]:
        """Start a login attempt with ``token``: it must be VALID, and becomes BUSY."""
        state, link = self.check(token)
        if state is LinkState.VALID and link is not None:
            link.busy = True
        return state, link

    def finish(self, token: str, success: bool) -> None:
        """End the attempt :meth:`begin` started: spend the link on success or on the last
        allowed failure."""
        link = self._find(token)
        if link is None:
            return
        link.busy = False
        if success:
            link.used = True
        else:
            link.attempts += 1
            if link.attempts >= self.max_attempts:
                link.used = True
        if link.used and self._by_user.get(link.mxid) == _digest(token):
            # The spent entry stays (to answer "already used") until it would have expired;
            # the user's next `login` issues a fresh one.
            del self._by_user[link.mxid]

    def revoke_user(self, mxid: str) -> None:
        """Forget ``mxid``'s live link (e.g. they logged in another way)."""
        key = self._by_user.pop(mxid, None)
        if key is not None:
            self._links.pop(key, None)

    def _find(self, token: str) -> Link | None:
        if not looks_like_token(token):
            return None
        return self._links.get(_digest(token))

    def _forget(self, key: bytes) -> None:
        link = self._links.pop(key, None)
        if link is not None and self._by_user.get(link.mxid) == key:
            del self._by_user[link.mxid]

    def _prune(self) -> None:
        """Drop expired links (oldest first; stops at the first one still alive)."""
        now = self.clock()
        while self._links:
            key = next(iter(self._links))
            if self._links[key].expires_at > now:
                break
            self._forget(key)
