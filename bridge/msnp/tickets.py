"""The web-service tickets of one MSNP13+ session, renewed with a new RST request when they expire.

The address book and the offline-message service take the tickets the login's RST request
issued. They expire (``Expires`` in the RST answer, a day on MSN); a service then refuses the
request with a ``BadContextToken`` fault (the OIM service may say ``AuthenticationFailed``
without a lock-key challenge). :meth:`TicketKeeper.call` renews a ticket shortly before its
known expiry, and once more when a service says it expired, then retries the request once.
A renewal is an RST request with the account's password, which the keeper holds in memory
only (never in its ``repr`` or a log line); concurrent callers share one renewal.
"""

from __future__ import annotations

from typing import Final, TypeVar
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
import asyncio
import logging

from .errors import SoapFault
from .login import PassportService
from .sso import (
    CONTACTS,
    MESSENGER_TICKET,
    PASSPORT_TB,
    SecurityToken,
    SecurityTokens,
    TokenRequest,
)

__all__ = [
    "MESSENGER_SECURE",
    "RENEW_MARGIN",
    "SESSION_TICKETS",
    "TicketKeeper",
    "renewal_requests",
    "ticket_expired",
]

log = logging.getLogger("msnp.tickets")

T = TypeVar("T")

#: the OIM service's ticket (messenger.msn.com when a server issues none)
MESSENGER_SECURE: Final = "messengersecure.live.com"
#: the tickets a session goes on using after its login (the address book, offline messages);
#: the login's others (messengerclear for ``USR``, storage, ...) are not kept
SESSION_TICKETS: Final = (MESSENGER_TICKET, CONTACTS, MESSENGER_SECURE)
#: a ticket this close to its expiry is renewed before use (at most a quarter of its lifetime)
RENEW_MARGIN: Final = timedelta(minutes=5)


def renewal_requests() -> tuple[TokenRequest, ...]:
    """The tickets a renewal asks for: those the session's web services take."""
    return (
        TokenRequest(PASSPORT_TB),
        TokenRequest(MESSENGER_TICKET, "?id=507"),
        TokenRequest(CONTACTS, "MBI"),
        TokenRequest(MESSENGER_SECURE, "MBI_SSL"),
    )


def ticket_expired(fault: SoapFault) -> bool:
    """Whether a service refused a request because its ticket expired (or was revoked)."""
    if fault.code == "BadContextToken":
        return True
    return fault.code == "AuthenticationFailed" and "LockKeyChallenge" not in fault.detail


def _due(token: SecurityToken, now: datetime) -> bool:
    if token.expires is None:
        return False
    margin = RENEW_MARGIN
    if token.created is not None:
        margin = min(margin, (token.expires - token.created) / 4)
    return token.expired(now, margin=margin)


class TicketKeeper:
    """The tickets of ``passport``'s session: ``tokens`` from the login, renewed through
    ``web`` with ``password`` (None: never renewed)."""

    __slots__ = ("_lock", "_password", "_tokens", "_web", "passport", "renewals")

    def __init__(
        self,
        web: PassportService,
        passport: str,
        password: str | None,
        tokens: SecurityTokens,
    ) -> None:
        self._web = web
        self.passport = passport
        self._password = password
        self._tokens = tokens.only(SESSION_TICKETS)
        self._lock = asyncio.Lock()
        #: how many renewals this session made
        self.renewals = 0

    def __repr__(self) -> str:
        return f"<TicketKeeper {self.passport} renewals={self.renewals}>"

    @property
    def tokens(self) -> SecurityTokens:
        return self._tokens

    def token(self, addresses: Sequence[str]) -> SecurityToken | None:
        """The ticket of the first of ``addresses`` that has one."""
        for address in addresses:
            token = self._tokens.get(address)
            if token is not None and token.token:
                return token
        return None

    def ticket(self, addresses: Sequence[str]) -> str:
        token = self.token(addresses)
        if token is None:
            return self._tokens.ticket(addresses[0])  # raises: Passport issued none
        return token.token

    async def renew(self, addresses: Sequence[str], stale: str | None = None) -> None:
        """A new RST request; with ``stale``, only when the ticket is still that one (another
        caller may have renewed it meanwhile)."""
        if self._password is None:
            return
        async with self._lock:
            if stale is not None and self.ticket(addresses) != stale:
                return
            fresh = await self._web.security_tokens(
                self.passport, self._password, renewal_requests()
            )
            fresh = fresh.only(SESSION_TICKETS)
            merged = {**self._tokens.tokens, **{k: v for k, v in fresh.tokens.items() if v.token}}
            self._tokens = SecurityTokens(
                merged, fresh.cid or self._tokens.cid, fresh.puid or self._tokens.puid
            )
            self.renewals += 1
            log.info("renewed the web-service tickets of %s", self.passport)

    async def call(self, addresses: Sequence[str], attempt: Callable[[str], Awaitable[T]]) -> T:
        """``attempt(ticket)`` with the ticket of the first of ``addresses`` that has one:
        renewed first when it is about to expire, and renewed and tried once more when the
        service says it expired."""
        token = self.token(addresses)
        if token is not None and _due(token, datetime.now(UTC)):
            await self.renew(addresses, token.token)
        ticket = self.ticket(addresses)
        try:
            return await attempt(ticket)
        except SoapFault as fault:
            if self._password is None or not ticket_expired(fault):
                raise
            log.info("the %s ticket was refused (%s): renewing it", addresses[0], fault.code)
        await self.renew(addresses, ticket)
        return await attempt(self.ticket(addresses))
