"""The one HTTP session that every user's MSN client shares while the bridge runs: Passport
logins, the MSNP13+ address book and offline messages.

A client left to itself opens an aiohttp session of its own and, from MSNP13 on, keeps it for
the whole MSN session (its connection pool, buffers and an idle socket to the web services per
user: several KiB each, thousands of sockets at scale). Shared, it is one pool. Its cookie jar
keeps nothing, so that no cookie a web service sets for one user is ever sent for another.
The bridge opens it at start-up and closes it after the last client; without it (tests that
make sessions of their own) each client uses its own, as the library does by default.
"""

from __future__ import annotations

from typing import Final

import aiohttp

__all__ = ["MAX_CONNECTIONS", "close", "open_session", "session"]

#: Sockets open to the web services at once, for all users together (logins are bounded before
#: that by ``bridge.reconnect.max_concurrent_logins``).
MAX_CONNECTIONS: Final = 256

_session: aiohttp.ClientSession | None = None


def open_session() -> aiohttp.ClientSession:
    """Open the shared session (in the running event loop), unless it is open."""
    global _session
    if _session is None or _session.closed:
        _session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
    return _session


def session() -> aiohttp.ClientSession | None:
    """The shared session while it is open (None: a client opens one of its own)."""
    return _session if _session is not None and not _session.closed else None


async def close() -> None:
    """Close it (at shutdown, after the clients)."""
    global _session
    if _session is not None:
        await _session.close()
        _session = None
