"""The Passport web services a login calls, over the client's HTTP session (shared or its own).

MSNP8-12 fetch a Tweener ticket (:func:`~.auth.passport_ticket`); MSNP13+ ask the RST token
service (:mod:`.sso`) for the tickets of the notification server and the web services, and the
address book is fetched through the same session, so the login never touches HTTP itself.

Where the token service is: ``sso_url`` when configured; otherwise on the host of the
configured Passport (``passport_url``) or nexus (``nexus_url``) as ``/RST.srf`` (revival
servers such as Escargot serve it beside their Tweener login); otherwise Windows Live's
``login.live.com``. The address-book services are found the same way (``ab_url``, else beside
the token service, else ``contacts.msn.com``).
"""

from __future__ import annotations

from typing import Final
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp

from .auth import passport_ticket
from .config import ClientConfig
from .soap import SoapRequest
from .soap_http import post_soap
from .sso import RST_URL, SecurityTokens, TokenRequest, build_rst_request, parse_rst_response

__all__ = ["AB_PATH", "SHARING_PATH", "PassportServices", "service_urls"]

AB_PATH: Final = "/abservice/abservice.asmx"
SHARING_PATH: Final = "/abservice/SharingService.asmx"
_LIVE_CONTACTS: Final = "https://contacts.msn.com"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def service_urls(config: ClientConfig) -> tuple[str, str]:
    """``(token service URL, address-book base URL)`` for ``config`` (see the module text)."""
    sso = config.sso_url
    if sso is None:
        for configured in (config.passport_url, config.nexus_url):
            origin = _origin(configured) if configured else None
            if origin is not None:
                sso = origin + "/RST.srf"
                break
    if sso is None:
        sso = RST_URL
    ab = config.ab_url
    if ab is None:
        ab = _LIVE_CONTACTS if sso == RST_URL else (_origin(sso) or _LIVE_CONTACTS)
    return sso, ab.rstrip("/")


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

    async def security_tokens(
        self, passport: str, password: str, requests: Sequence[TokenRequest]
    ) -> SecurityTokens:
        """The RST token request (MSNP13+): a ticket per requested service address.
        Raises :class:`~.errors.AuthError` for a wrong password, :class:`~.errors.SoapFault`
        or :class:`~.errors.ServiceUnavailable`."""
        url, _ = service_urls(self.config)
        rst2 = url.rstrip("/").lower().endswith("rst2.srf")
        request = build_rst_request(passport, password, requests, rst2=rst2)
        data = await self.post(url, request)
        return parse_rst_response(data)

    async def post(self, url: str, request: SoapRequest) -> bytes:
        """POST one SOAP request over this client's session; the answer's bytes."""
        c = self.config
        return await post_soap(
            self._session(),
            url,
            request,
            timeout=c.transaction_timeout,
            verify_tls=c.verify_tls,
        )

    async def close(self) -> None:
        """Close the session of its own, if any (a shared one is the caller's)."""
        own, self._own = self._own, None
        if own is not None:
            await own.close()
