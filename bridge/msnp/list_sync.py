"""The MSNP2-12 list download (``SYN``): skipped when a kept list is current, else waited for
until the lists it announced arrived.

The lines themselves go through :mod:`.list_commands` into the :class:`~.roster.Roster`; this
waits on the roster's progress counters (MSNP8+ announce how many contacts and groups follow;
MSNP2-7 send every list, possibly empty) with one deadline for the whole download.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Callable
import asyncio
import logging

from .codec import Command
from .connection import Connection
from .errors import ConnectionClosed, TransactionTimeout
from .roster import Roster
from .values import ListCache, Lists

__all__ = ["sync", "wait_for_lists"]

log = logging.getLogger("msnp.ns")

#: The lists a complete MSNP2-7 ``SYN`` sends (then the download is complete).
_ALL_LISTS: Final = Lists.FORWARD | Lists.ALLOW | Lists.BLOCK | Lists.REVERSE


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


async def wait_for_lists(
    roster: Roster,
    reply: Command,
    progress: asyncio.Event,
    timeout: float,
    closed: Callable[[], bool],
) -> None:
    """Until the whole list the ``SYN`` ``reply`` announced has arrived; ``progress`` is set
    on every list line, ``closed`` tells whether the connection went away."""
    old = roster.version < 8
    if old:
        if reply.arg(0) == "0" and len(reply.args) == 1:
            return  # unchanged list version: nothing follows
        contacts = groups = 0
    else:
        if len(reply.args) < 3:
            return
        contacts, groups = _int(reply.args[-2]), _int(reply.args[-1])

    def done() -> bool:
        if old:
            return roster.lists_complete & _ALL_LISTS == _ALL_LISTS
        return roster.listed >= contacts and roster.groups_listed >= groups

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        progress.clear()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TransactionTimeout("the contact list (SYN) did not arrive completely")
        try:
            await asyncio.wait_for(progress.wait(), remaining)
        except TimeoutError:
            continue
        if closed():
            raise ConnectionClosed("SYN", "connection closed during the list download")


async def sync(
    conn: Connection,
    roster: Roster,
    cache: ListCache | None,
    progress: asyncio.Event,
    timeout: float,
    closed: Callable[[], bool],
) -> tuple[str, bool]:
    """``SYN`` with the ``cache``'s version; the list is downloaded (and waited for) unless the
    server says the kept one is current, which then seeds the roster. Returns the server's list
    version and whether the kept list was current."""
    width = 2 if roster.version >= 10 else 1
    if cache and (cache.protocol != roster.version or len(cache.version.split()) != width):
        cache = None  # (a version means something else in another protocol)
    syn = tuple(cache.version.split()) if cache else ("0",) * width
    reply = await conn.transaction("SYN", syn)
    version = " ".join(reply.args[:width]) if roster.version >= 8 else ""
    current = cache is not None and len(reply.args) <= width and version == cache.version
    log.debug("contact list: kept version %s, the server's %s", cache and cache.version, version)
    if cache is not None and current:
        roster.seed(cache)  # the server sends no list: it is the one we kept
    else:
        await wait_for_lists(roster, reply, progress, timeout, closed)
    return version, current
