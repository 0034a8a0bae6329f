"""One login of a session's client with what earlier sessions kept, and keeping what it returned.

What is kept: a Passport ticket (reused until shortly before it may expire, so a reconnect need
not send the password), the MSNP8-12 contact list (:mod:`bridge.list_cache`) and the MSNP13+
endpoint state (:mod:`bridge.endpoint_state`). :class:`bridge.session.MSNSession` calls these on
its one open path: :func:`prepare` (database reads) before it takes a turn of the login gate,
:func:`log_in` (only the network login) with the turn held.
"""

from __future__ import annotations

from dataclasses import dataclass
import time

from bridge import endpoint_state, list_cache
from bridge.db.user import User as DBUser
from bridge.endpoint_state import LoginState
from bridge.msnp.client import LoginResult, MSNClient
from bridge.msnp.values import ListCache

__all__ = ["TICKET_LIFETIME", "Prepared", "keep", "log_in", "prepare", "usable_ticket"]

#: Passport tickets are not reported with a lifetime; reuse one for this long at most.
TICKET_LIFETIME = 8 * 3600


def usable_ticket(row: DBUser) -> str | None:
    """The stored ticket, unless it may expire within a minute."""
    if row.ticket and (row.ticket_expiry or 0) > time.time() + 60:
        return row.ticket
    return None


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a login of one account needs from the database, read before the login turn."""

    cache: ListCache | None
    kept: LoginState


async def prepare(row: DBUser, passport: str) -> Prepared:
    """Read the list and endpoint state kept for ``passport`` (no network, no gate)."""
    return Prepared(
        await list_cache.load(row, passport), await endpoint_state.stored(row, passport)
    )


async def log_in(
    client: MSNClient, passport: str, password: str | None, ticket: str | None, ready: Prepared
) -> LoginResult:
    """Log ``client`` in, with what :func:`prepare` read for ``passport``."""
    return await client.login(passport, password, ticket=ticket, cache=ready.cache, **ready.kept)


async def keep(
    row: DBUser,
    client: MSNClient,
    result: LoginResult,
    new_credentials: tuple[str, str | None] | None,
    ready: Prepared,
) -> None:
    """Put what the login returned into ``row`` (the caller saves it): the credentials of a
    new login (``new_credentials``: passport, password), a new ticket, the protocol version,
    the endpoint state (``ready``: what :func:`prepare` read for the login)."""
    if new_credentials is not None:
        row.passport, row.password = new_credentials
        row.credentials_lost = False
    if result.ticket and result.ticket != row.ticket:
        row.ticket = result.ticket
        row.ticket_expiry = int(time.time()) + TICKET_LIFETIME
    row.protocol = result.protocol
    await endpoint_state.remember(row, client, ready.kept)
