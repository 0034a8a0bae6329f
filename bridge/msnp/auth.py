"""Authentication: the MD5 scheme (MSNP2-7) and Passport 1.4 "Tweener" (MSNP8+).

The HTTP side uses an :class:`aiohttp.ClientSession` the caller hands in; nothing here keeps
one of its own. Passwords and tickets are never logged.

The password goes only where the configuration points, or where a Passport server sends us
without leaving that trust: a redirect (``Location``) of the login server is followed only on
the same host and never from https to http; the login URL a nexus names (``DALogin``) may be on
another host only when the nexus answered over verified https (and then the login URL must be
https too), otherwise it must be on the nexus' own host.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote
import hashlib
import logging
import re

from yarl import URL
import aiohttp

from .errors import AuthError, PassportUnavailable

__all__ = [
    "DEFAULT_NEXUS_URL",
    "discover_login_url",
    "md5_response",
    "passport_ticket",
]

log = logging.getLogger("msnp.auth")

DEFAULT_NEXUS_URL: Final = "https://nexus.passport.com/rdr/pprdr.asp"
_FROM_PP = re.compile(r"from-PP\s*=\s*'([^']*)'", re.IGNORECASE)
_DA_LOGIN = re.compile(r"DALogin=([^,\s]+)", re.IGNORECASE)


def md5_response(salt: str, password: str) -> str:
    """The ``USR MD5 S`` answer: hex MD5 of the server's salt followed by the password."""
    return hashlib.md5((salt + password).encode("utf-8")).hexdigest()


def _apply_scheme(url: str, force_scheme: str | None) -> str:
    if not force_scheme:
        return url
    parsed = URL(url)
    if parsed.scheme in ("http", "https") and parsed.scheme != force_scheme:
        port = parsed.explicit_port
        parsed = parsed.with_scheme(force_scheme)
        if port is not None:
            parsed = parsed.with_port(port)
    return str(parsed)


def _password_refusal(source: URL, target: URL, *, trusted_source: bool = False) -> str | None:
    """Why the password must not follow ``source`` (a login or nexus URL) to ``target``."""
    if source.scheme == "https" and target.scheme != "https":
        return "from https to http"
    same_host = (source.host or "").lower() == (target.host or "").lower()
    if not same_host and not (trusted_source and target.scheme == "https"):
        return f"to another host ({target.host})"
    return None


def _ssl(url: str, verify_tls: bool) -> bool:
    """aiohttp's ``ssl=`` argument: False switches certificate checks off."""
    return verify_tls or not url.startswith("https:")


async def discover_login_url(
    http: aiohttp.ClientSession,
    nexus_url: str,
    *,
    force_scheme: str | None = None,
    verify_tls: bool = True,
    timeout: float = 20.0,
) -> str:
    """Ask the nexus for the DA login URL (``PassportURLs: DALogin=host/path``)."""
    url = _apply_scheme(nexus_url, force_scheme)
    try:
        async with http.get(
            url, ssl=_ssl(url, verify_tls), timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            header = ""
            for name, value in resp.headers.items():
                if name.lower() == "passporturls":
                    header = value
                    break
            final_url = resp.url
    except (aiohttp.ClientError, OSError) as e:
        raise PassportUnavailable(f"Passport nexus {url} unreachable: {e}") from e
    match = _DA_LOGIN.search(header)
    if not match:
        raise PassportUnavailable(
            f"Passport nexus {url} gave no DALogin (HTTP {resp.status}); set passport_url"
        )
    login = match.group(1)
    if "://" not in login:
        login = "https://" + login
    login = _apply_scheme(login, force_scheme)
    # a nexus reached over verified https all the way may name a login server elsewhere
    trusted = verify_tls and URL(url).scheme == "https" and final_url.scheme == "https"
    refusal = _password_refusal(URL(url), URL(login), trusted_source=trusted)
    if refusal is not None:
        raise PassportUnavailable(
            f"Passport nexus {url} named the login URL {login}; not sending the password "
            f"there ({refusal}): set passport_url"
        )
    return login


def _authorization(passport: str, password: str, challenge: str) -> str:
    return (
        "Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger%2Emsn%2Ecom,"
        f"sign-in={quote(passport, safe='')},pwd={quote(password, safe='')},{challenge}"
    )


async def passport_ticket(
    http: aiohttp.ClientSession,
    passport: str,
    password: str,
    challenge: str,
    *,
    passport_url: str | None = None,
    nexus_url: str | None = None,
    force_scheme: str | None = None,
    verify_tls: bool = True,
    timeout: float = 20.0,
) -> str:
    """Log in to Passport 1.4 and return the ticket for ``USR TWN S``.

    ``passport_url`` wins over ``nexus_url``; with neither the public nexus is asked.
    Raises :class:`AuthError` for a wrong password and :class:`PassportUnavailable` when the
    server cannot be reached or answers something unexpected.
    """
    if passport_url:
        url = _apply_scheme(passport_url, force_scheme)
    else:
        url = await discover_login_url(
            http,
            nexus_url or DEFAULT_NEXUS_URL,
            force_scheme=force_scheme,
            verify_tls=verify_tls,
            timeout=timeout,
        )
    headers = {"Authorization": _authorization(passport, password, challenge)}
    for attempt in range(2):
        log.debug("Passport login for %s at %s", passport, url)
        try:
            async with http.get(
                url,
                headers=headers,
                allow_redirects=False,
                ssl=_ssl(url, verify_tls),
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                status = resp.status
                auth_info = resp.headers.get("Authentication-Info", "")
                location = resp.headers.get("Location")
        except (aiohttp.ClientError, OSError) as e:
            raise PassportUnavailable(f"Passport login server {url} unreachable: {e}") from e
        if status == 200:
            match = _FROM_PP.search(auth_info)
            if not match or not match.group(1):
                raise PassportUnavailable(
                    f"Passport login server {url} answered 200 without a ticket"
                )
            return match.group(1)
        if status == 401:
            raise AuthError("wrong e-mail address or password")
        if status in (301, 302, 303, 307, 308) and location and attempt == 0:
            try:
                target = _apply_scheme(str(URL(url).join(URL(location))), force_scheme)
                refusal = _password_refusal(URL(url), URL(target))
            except ValueError as e:
                raise PassportUnavailable(f"Passport login server {url}: bad redirect") from e
            if refusal is not None:
                raise PassportUnavailable(
                    f"Passport login server {url} redirected to {target}; not following with "
                    f"the password ({refusal})"
                )
            url = target
            continue
        break
    raise PassportUnavailable(f"Passport login server {url} answered HTTP {status}")
