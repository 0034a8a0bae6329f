"""What a user's MSNP13+ logins keep between sessions: the machine GUID and the address book.

The machine GUID names the bridge's endpoint at MSNP16+: made at the first login and kept, so
every login is the same endpoint beside the user's own Messenger. The address-book cache
(:mod:`bridge.msnp.ab_store`) lets a login fetch only what changed; it is used only for the
account it was fetched for, and read and written off the event loop when it is large (it can be
megabytes).
"""

from __future__ import annotations

from typing import Final, TypedDict
import asyncio
import logging

from bridge.db.user import User as DBUser
from bridge.msnp.ab_login import THREAD_PARSE_BYTES, AbCache
from bridge.msnp.ab_store import dump_cache, load_cache
from bridge.msnp.client import MSNClient

__all__ = ["reads_cache", "remember", "stored"]

log = logging.getLogger("mau.endpoint_state")

#: The first MSNP version with the address book (a user last seen below it has no cache).
FIRST_AB_VERSION: Final = 13


class LoginState(TypedDict):
    machine_guid: str | None
    ab_cache: AbCache | None


def reads_cache(row: DBUser, passport: str) -> bool:
    """Whether a login of ``passport`` reads the address book kept in ``row``: only the
    account's own, and not one last seen below MSNP13."""
    same_account = (row.passport or "").lower() == passport.lower()
    return same_account and (row.protocol is None or row.protocol >= FIRST_AB_VERSION)


async def stored(row: DBUser, passport: str) -> LoginState:
    """The keyword arguments of :meth:`MSNClient.login` for ``passport``."""
    cache = await _read_cache(row) if reads_cache(row, passport) else None
    return LoginState(machine_guid=row.machine_guid, ab_cache=cache)


async def _read_cache(row: DBUser) -> AbCache | None:
    try:
        text = await row.read_ab_cache()
    except Exception:  # (then the whole address book is fetched, as without a cache)
        log.warning("Failed to read the kept address book of %s", row.mxid, exc_info=True)
        return None
    if not text:
        return None
    # a small one on the loop (JSON reads about ten times faster than the address book's
    # XML, which is parsed on the loop below the same size): the hand-over to a thread and
    # back costs a third of reading a cache of 20 contacts
    if len(text) < THREAD_PARSE_BYTES:
        return load_cache(text)
    return await asyncio.to_thread(load_cache, text)


async def remember(row: DBUser, client: MSNClient, stored: LoginState) -> None:
    """Keep the GUID of a successful login in ``row`` (saved by the caller) and write its
    address book to the database at once (it is not held in memory with the row), unless it
    is what was read for the login (``stored``): a restart's deltas are mostly empty."""
    row.machine_guid = client.machine_guid or row.machine_guid
    cache = client.take_ab_cache()  # (not held for the session: the database keeps it)
    before = stored["ab_cache"]
    if cache is not None and (before is None or not cache.same_lists(before)):
        text = await asyncio.to_thread(dump_cache, cache)
        try:
            await row.write_ab_cache(text)
        except Exception:  # (the next login then fetches the whole address book)
            log.warning("Failed to keep the address book of %s", row.mxid, exc_info=True)
