"""What a user's MSNP13+ logins keep between sessions: the machine GUID and the address book.

The machine GUID names the bridge's endpoint at MSNP16+: made at the first login and kept, so
every login is the same endpoint beside the user's own Messenger. The address-book cache
(:mod:`bridge.msnp.ab_store`) lets a login fetch only what changed; it is used only for the
account it was fetched for, and read and written off the event loop (it can be megabytes).
"""

from __future__ import annotations

from typing import TypedDict
import asyncio

from bridge.db.user import User as DBUser
from bridge.msnp.ab_login import AbCache
from bridge.msnp.ab_store import dump_cache, load_cache
from bridge.msnp.client import MSNClient

__all__ = ["remember", "stored"]


class LoginState(TypedDict):
    machine_guid: str | None
    ab_cache: AbCache | None


def _cache_for(row: DBUser, passport: str) -> AbCache | None:
    if not row.ab_cache or (row.passport or "").lower() != passport.lower():
        return None
    return load_cache(row.ab_cache)


async def stored(row: DBUser, passport: str) -> LoginState:
    """The keyword arguments of :meth:`MSNClient.login` for ``passport``."""
    cache = await asyncio.to_thread(_cache_for, row, passport) if row.ab_cache else None
    return LoginState(machine_guid=row.machine_guid, ab_cache=cache)


async def remember(row: DBUser, client: MSNClient) -> None:
    """Keep the GUID and the address book of a successful login in ``row`` (saved by the
    caller)."""
    row.machine_guid = client.machine_guid or row.machine_guid
    if client.ab_cache is not None:
        row.ab_cache = await asyncio.to_thread(dump_cache, client.ab_cache)
