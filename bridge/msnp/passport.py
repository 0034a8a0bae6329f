"""The Passport web services a login calls, over the client's HTTP session (shared or its own).

MSNP8-12 fetch a Tweener ticket (:func:`~.auth.passport_ticket`). The RST token service of
MSNP13+ (:mod:`.sso`) will be called from here too, so the login never touches HTTP itself.
"""

from __future__ import annotations

import aiohttp

from .auth import passport_ticket
from .config import ClientConfig

__all__ = ["PassportServices"]


class PassportServices:
    """Passport for one client: over ``http`` when given, else over a session of its own, made
    on first use and closed by :meth:`close`."""

    __slots__ = ("_http", "_own", "config")

    def __init__(self, config: ClientConfig, http: aiohttp.ClientSession | None = None) -> None:
        self.config = config
        self._http = http
        self._own: aiohttp.ClientSession | None = None

    @property
    def owns_session(self) -> bool:
        """Whether a session of its own is open (and needs :meth:`close`)."""
        return self._own is not None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is not None:
            return self._http
        if self._own is None:
            self._own = aiohttp.ClientSession()
        return self._own

    async def tweener_ticket(self, passport: str, password: str, challenge: str) -> str:
        """The Passport 1.4 login (MSNP8-12): the ticket for ``USR TWN S``."""
        c = self.config
        return await passport_ticket(
            self._session(),
            passport,
            password,
            challenge,
            passport_url=c.passport_url,
            nexus_url=c.nexus_url,
            force_scheme=c.force_scheme,
            verify_tls=c.verify_tls,
            timeout=c.transaction_timeout,
        )

    async def close(self) -> None:
        """Close the session of its own, if any (a shared one is the caller's)."""
        own, self._own = self._own, None
        if own is not None:
            await own.close()
