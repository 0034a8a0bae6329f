"""Logging in to the notification server: version negotiation, authentication and redirects.

``VER``/``CVR``, then ``USR`` with the method the version asks for, following ``XFR NS``
redirects; a stored Passport ticket is tried before the password. The way a version
authenticates is an :data:`Authenticator` chosen by :func:`authenticator_for`: MSNP2-7 answer an
MD5 challenge (only with ``allow_md5_login``, see :mod:`.versions`), MSNP8-12 send a Passport
1.4 ticket (TWN), MSNP13-14 send a TWN ticket that the RST token service issued, MSNP15+
answer ``USR SSO`` with the MBI key response and (16+) the machine GUID naming this endpoint
(:mod:`.sso` builds and reads both). MSNP13+ need the password (the tickets they get are not
reusable on their own) and keep every ticket the token service issued in
:attr:`Authenticated.tokens` for the web services (address book, offline messages).
"""

from __future__ import annotations

from typing import Final, Protocol
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
import logging

from .auth import md5_response
from .codec import Command, decode_arg
from .config import ClientConfig
from .connection import Connection, parse_address
from .errors import (
    AuthError,
    ConnectionClosed,
    ErrorCode,
    MSNPError,
    ProtocolRefused,
    RemoteProtocolError,
    TicketRejected,
)
from .mbi_key import mbi_key_response
from .soap import SoapRequest
from .sso import (
    MESSENGER_CLEAR,
    MESSENGER_TICKET,
    SecurityTokens,
    TokenRequest,
    parse_sso_challenge,
    sso_token_requests,
    twn_token_requests,
)
from .versions import FIRST_TWEENER_VERSION, chosen_version, offered_versions

__all__ = [
    "FIRST_MPOP_VERSION",
    "FIRST_SSO_VERSION",
    "LAST_TWEENER_VERSION",
    "MAX_REDIRECTS",
    "Authenticated",
    "Authenticator",
    "Credentials",
    "PassportService",
    "authenticator_for",
    "log_in",
]

log = logging.getLogger("msnp.login")

MAX_REDIRECTS: Final = 3
#: The last version that sends a Passport 1.4 ticket fetched with the challenge (TWN).
LAST_TWEENER_VERSION: Final = 12
#: The first version that answers ``USR SSO`` (MSNP13-14 send an RST-issued TWN ticket).
FIRST_SSO_VERSION: Final = 15
#: The first version with several points of presence (the machine GUID names the endpoint).
FIRST_MPOP_VERSION: Final = 16


class PassportService(Protocol):
    """The Passport web services a login calls (:class:`~.passport.PassportServices`)."""

    async def tweener_ticket(self, passport: str, password: str, challenge: str) -> str:
        """The Passport 1.4 login: the ticket for ``USR TWN S``."""
        ...

    async def security_tokens(
        self, passport: str, password: str, requests: Sequence[TokenRequest]
    ) -> SecurityTokens:
        """The RST token request (MSNP13+)."""
        ...

    async def post(self, url: str, request: SoapRequest) -> bytes:
        """One SOAP request to a web service (the address book)."""
        ...


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who logs in: the account and a password, a stored Passport ticket, or both (the ticket
    is tried first, the password when the server refuses it). Secrets stay out of ``repr``.
    ``machine_guid`` (``{...}``) names this endpoint at MSNP16+: keep it per account, so every
    login is the same endpoint (None: a fresh one per login)."""

    passport: str
    password: str | None = field(default=None, repr=False)
    ticket: str | None = field(default=None, repr=False)
    machine_guid: str | None = None


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A connection the server accepted (``USR OK``), ready for ``SYN``."""

    conn: Connection
    version: int
    #: the account as the server spells it, and its friendly name when ``USR`` gives it (<10)
    passport: str
    friendly_name: str | None
    #: the Passport ticket that was accepted (None for MD5); not in the repr
    ticket: str | None = field(repr=False)
    #: the host name the connection went to (after redirects)
    host: str
    #: MSNP13+: every ticket the token service issued (address book, OIMs); not in the repr
    tokens: SecurityTokens | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class _Redirect:
    address: str


@dataclass(frozen=True, slots=True)
class _Accepted:
    reply: Command
    ticket: str | None = field(repr=False)
    tokens: SecurityTokens | None = field(default=None, repr=False)


#: One way of answering ``USR`` for a version: returns the server's ``USR OK`` (with the ticket
#: used) or an ``XFR NS`` redirect.
Authenticator = Callable[
    [Connection, int, Credentials, PassportService], Awaitable["_Accepted | _Redirect"]
]


async def log_in(
    config: ClientConfig,
    credentials: Credentials,
    connect: Callable[[], Connection],
    services: PassportService,
    on_version: Callable[[int], None],
) -> Authenticated:
    """Connect (following redirects) and authenticate; a rejected stored ticket is followed by
    a login with the password. ``connect`` makes an unopened connection, ``on_version`` hears
    the negotiated version before any command that depends on it can arrive.

    Raises :class:`AuthError` (:class:`TicketRejected` when only a ticket was known),
    :class:`ProtocolRefused`, :class:`ConnectionClosed`, :class:`MSNPError` or :class:`OSError`.
    """
    offered_versions(config.protocols, config.allow_md5_login)  # raises if none is left
    if credentials.ticket is not None:
        try:
            return await _connect(config, credentials, connect, services, on_version)
        except TicketRejected as e:
            log.info(
                "stored Passport ticket for %s rejected; logging in again", credentials.passport
            )
            if credentials.password is None:
                raise TicketRejected(
                    "the Passport ticket was rejected and no password is known", e.code
                ) from None
            credentials = Credentials(
                credentials.passport, credentials.password, machine_guid=credentials.machine_guid
            )
    return await _connect(config, credentials, connect, services, on_version)


async def _connect(
    config: ClientConfig,
    credentials: Credentials,
    connect: Callable[[], Connection],
    services: PassportService,
    on_version: Callable[[int], None],
) -> Authenticated:
    host, port = parse_address(config.server)
    for _ in range(MAX_REDIRECTS + 1):
        conn = connect()
        await conn.open(host, port, config.connect_timeout)
        try:
            version = await _negotiate(conn, config, credentials.passport)
            on_version(version)
            conn.stage = "USR"
            outcome = await authenticator_for(version)(conn, version, credentials, services)
        except BaseException:
            await conn.close()
            raise
        if isinstance(outcome, _Accepted):
            reply = outcome.reply
            if reply.arg(0) != "OK":
                await conn.close()
                raise RemoteProtocolError(f"unexpected USR reply {reply!r}")
            name = None
            if version < 10 and len(reply.args) >= 3:
                name = decode_arg(reply.arg(2))
            passport = reply.arg(1) or credentials.passport
            return Authenticated(
                conn, version, passport, name, outcome.ticket, host, outcome.tokens
            )
        log.debug("redirected from %s:%s to %s", host, port, outcome.address)
        await conn.close()
        host, port = parse_address(outcome.address)
    raise RemoteProtocolError(f"more than {MAX_REDIRECTS} XFR NS redirects")


async def _negotiate(conn: Connection, config: ClientConfig, passport: str) -> int:
    """``VER`` (and ``CVR`` from MSNP8): the version the server chose."""
    conn.stage = "VER"
    configured, allow_md5 = config.protocols, config.allow_md5_login
    offered = offered_versions(configured, allow_md5)
    reply = await conn.transaction("VER", (*(f"MSNP{v}" for v in offered), "CVR0"))
    version = chosen_version(reply.args, offered, configured, allow_md5)
    conn.version = version
    if version >= FIRST_TWEENER_VERSION:
        conn.stage = "CVR"
        c = config
        await conn.transaction(
            "CVR",
            (
                c.locale,
                c.os_type,
                c.os_version,
                c.arch,
                c.client_name,
                c.client_version,
                c.client_lib,
                passport,
            ),
        )
    return version


def authenticator_for(version: int) -> Authenticator:
    """How ``version`` answers ``USR``."""
    if version < FIRST_TWEENER_VERSION:
        return _md5
    if version <= LAST_TWEENER_VERSION:
        return _tweener
    if version < FIRST_SSO_VERSION:
        return _rst_tweener
    if version <= 18:
        return _sso
    raise ProtocolRefused(f"MSNP{version} logins are not supported")


def _redirect(reply: Command) -> _Redirect:
    if reply.arg(0) != "NS" or not reply.arg(1):
        raise RemoteProtocolError(f"unexpected transfer {reply!r} during login")
    return _Redirect(reply.arg(1))


async def _md5(
    conn: Connection, version: int, credentials: Credentials, services: PassportService
) -> _Accepted | _Redirect:
    log.info("logging in with MD5 (MSNP%s), as allowed by allow_md5_login", version)
    conn.stage = "INF"
    await conn.transaction("INF")
    conn.stage = "USR"
    reply = await conn.transaction(
        "USR", ("MD5", "I", credentials.passport), expect=("USR", "XFR")
    )
    if reply.name == "XFR":
        return _redirect(reply)
    if credentials.password is None:
        raise AuthError("a password is needed to log in with MSNP2-7 (MD5)")
    salt = reply.arg(2)
    try:
        reply = await conn.transaction(
            "USR", ("MD5", "S", md5_response(salt, credentials.password))
        )
    except MSNPError as e:
        if e.code == ErrorCode.AUTHENTICATION_FAILED:
            raise AuthError("wrong e-mail address or password", e.code) from e
        raise
    return _Accepted(reply, None)


async def _tweener(
    conn: Connection, version: int, credentials: Credentials, services: PassportService
) -> _Accepted | _Redirect:
    passport, password, ticket = credentials.passport, credentials.password, credentials.ticket
    reply = await conn.transaction("USR", ("TWN", "I", passport), expect=("USR", "XFR"))
    if reply.name == "XFR":
        return _redirect(reply)
    challenge = reply.arg(2)
    stored = ticket is not None
    if ticket is None:
        if password is None:
            raise AuthError("a password or a Passport ticket is needed to log in")
        conn.stage = "Passport"
        ticket = await services.tweener_ticket(passport, password, challenge)
        if conn.closed:
            raise ConnectionClosed("Passport", "the server closed the connection")
        conn.stage = "USR"
    try:
        reply = await conn.transaction("USR", ("TWN", "S", ticket))
    except MSNPError as e:
        if e.code in (ErrorCode.AUTHENTICATION_FAILED, ErrorCode.BAD_TICKET):
            if stored:
                raise TicketRejected("the server rejected the Passport ticket", e.code) from e
            raise AuthError("the server rejected the Passport ticket", e.code) from e
        raise
    except ConnectionClosed:
        if stored:
            raise TicketRejected(
                "the server closed the connection after the Passport ticket",
                ErrorCode.AUTHENTICATION_FAILED,
            ) from None
        raise
    return _Accepted(reply, ticket)


def _password_for(version: int, credentials: Credentials) -> str:
    if credentials.password is None:
        raise AuthError(f"a password is needed to log in with MSNP{version} (Passport RST)")
    return credentials.password


async def _tokens(
    conn: Connection,
    credentials: Credentials,
    password: str,
    requests: Sequence[TokenRequest],
    services: PassportService,
) -> SecurityTokens:
    conn.stage = "Passport"
    tokens = await services.security_tokens(credentials.passport, password, requests)
    if conn.closed:
        raise ConnectionClosed("Passport", "the server closed the connection")
    conn.stage = "USR"
    return tokens


def _refused(e: MSNPError) -> BaseException:
    if e.code in (ErrorCode.AUTHENTICATION_FAILED, ErrorCode.BAD_TICKET):
        return AuthError("the server rejected the Passport ticket", e.code)
    return e


async def _rst_tweener(
    conn: Connection, version: int, credentials: Credentials, services: PassportService
) -> _Accepted | _Redirect:
    """MSNP13-14: ``USR TWN`` with the messenger.msn.com ticket of the RST token service."""
    password = _password_for(version, credentials)
    reply = await conn.transaction(
        "USR", ("TWN", "I", credentials.passport), expect=("USR", "XFR")
    )
    if reply.name == "XFR":
        return _redirect(reply)
    tokens = await _tokens(conn, credentials, password, twn_token_requests(reply.arg(2)), services)
    ticket = tokens.ticket(MESSENGER_TICKET)
    try:
        reply = await conn.transaction("USR", ("TWN", "S", ticket))
    except MSNPError as e:
        raise _refused(e) from e
    return _Accepted(reply, ticket, tokens)


async def _sso(
    conn: Connection, version: int, credentials: Credentials, services: PassportService
) -> _Accepted | _Redirect:
    """MSNP15+: ``USR SSO I``, the server's policy and nonce, the RST tokens, then ``USR SSO
    S`` with the messengerclear.live.com ticket, the MBI key answer and (16+) the GUID."""
    password = _password_for(version, credentials)
    reply = await conn.transaction(
        "USR", ("SSO", "I", credentials.passport), expect=("USR", "XFR")
    )
    if reply.name == "XFR":
        return _redirect(reply)
    challenge = parse_sso_challenge(reply.args)
    tokens = await _tokens(
        conn, credentials, password, sso_token_requests(challenge.policy), services
    )
    clear = tokens.get(MESSENGER_CLEAR)
    if clear is None or not clear.token or not clear.binary_secret:
        raise RemoteProtocolError("Passport issued no messengerclear.live.com ticket and key")
    args = ["SSO", "S", clear.token, mbi_key_response(clear.binary_secret, challenge.nonce)]
    if version >= FIRST_MPOP_VERSION:
        if credentials.machine_guid is None:
            raise ValueError("MSNP16+ logins need a machine GUID")
        args.append(credentials.machine_guid)
    try:
        reply = await conn.transaction("USR", tuple(args))
    except MSNPError as e:
        raise _refused(e) from e
    return _Accepted(reply, None, tokens)
