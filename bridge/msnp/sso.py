"""Passport 3.0 / Live ID single sign-on: the token request and its answer.

MSNP13-14 sign in with ``USR TWN`` and MSNP15+ with ``USR SSO``; both get their tickets from
the WS-Trust ``RequestMultipleSecurityTokens`` call to ``RST.srf`` (``RST2.srf``, the WS-Trust
2005 / SOAP 1.2 flavour, for Windows Live Messenger 2009). One request asks for a compact
ticket per service address; the answer maps each address to its ticket, its lifetime and, for
``messengerclear.live.com``, the binary secret from which :mod:`.mbi_key` computes the
``USR SSO S`` answer to the server's nonce.

Pure functions; :func:`bridge.msnp.soap_http.post_soap` carries the request. A wrong password
raises :class:`~bridge.msnp.errors.AuthError`; other faults raise
:class:`~bridge.msnp.errors.SoapFault`. Passwords and tickets never reach a log or a repr.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from sys import intern
from urllib.parse import unquote

from .errors import AuthError, RemoteProtocolError
from .soap import SOAP11_NS, SOAP12_NS, SoapRequest, fault_from, parse_envelope
from .xmlsafe import Element, attr, reads_xml, strict_text, text

__all__ = [
    "CONTACTS",
    "MESSENGER_CLEAR",
    "MESSENGER_TICKET",
    "PASSPORT_TB",
    "RST2_URL",
    "RST_URL",
    "SecurityToken",
    "SecurityTokens",
    "SsoChallenge",
    "TokenRequest",
    "build_rst_request",
    "parse_rst_response",
    "parse_sso_challenge",
    "sso_token_requests",
    "twn_policy_reference",
    "twn_token_requests",
]

RST_URL: Final = "https://login.live.com/RST.srf"
RST2_URL: Final = "https://login.live.com/RST2.srf"

PASSPORT_TB: Final = "http://Passport.NET/tb"
#: The ticket of ``USR SSO S`` and the binary secret of the MBI key (MSNP15+).
MESSENGER_CLEAR: Final = "messengerclear.live.com"
#: The ticket of ``USR TWN S`` (MSNP13-14) and of the offline-message services.
MESSENGER_TICKET: Final = "messenger.msn.com"
#: The ticket of the address-book and sharing services.
CONTACTS: Final = "contacts.msn.com"

_HOSTING_APP: Final = "{7108E71A-9926-4FCB-BCC9-9A9D3F32E423}"
_REQUEST_PARAMS: Final = "AQAAAAIAAABsYwQAAAAxMDMz"
_PPCRL: Final = "http://schemas.microsoft.com/Passport/SoapServices/PPCRL"
_WSSE_2003: Final = "http://schemas.xmlsoap.org/ws/2003/06/secext"
_WSSE_2004: Final = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
)
_WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_SAML: Final = "urn:oasis:names:tc:SAML:1.0:assertion"

_MAX_NONCE: Final = 1024


@dataclass(frozen=True, slots=True)
class _Namespaces:
    """What differs between ``RST.srf`` (WS-Trust 2004, SOAP 1.1) and ``RST2.srf`` (2005, 1.2)."""

    soap: str
    wsse: str
    trust: str
    policy: str
    addressing: str
    issue: str
    policy_prefix: str


_RST1: Final = _Namespaces(
    soap=SOAP11_NS,
    wsse="http://schemas.xmlsoap.org/ws/2003/06/secext",
    trust="http://schemas.xmlsoap.org/ws/2004/04/trust",
    policy="http://schemas.xmlsoap.org/ws/2002/12/policy",
    addressing="http://schemas.xmlsoap.org/ws/2004/03/addressing",
    issue="http://schemas.xmlsoap.org/ws/2004/04/security/trust/Issue",
    policy_prefix="wsse",
)
_RST2: Final = _Namespaces(
    soap=SOAP12_NS,
    wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    trust="http://schemas.xmlsoap.org/ws/2005/02/trust",
    policy="http://schemas.xmlsoap.org/ws/2004/09/policy",
    addressing="http://www.w3.org/2005/08/addressing",
    issue="http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
    policy_prefix="wsp",
)


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One ``RequestSecurityToken``: the service address and its policy reference (None for
    ``http://Passport.NET/tb``, which takes none)."""

    address: str
    policy: str | None = None


def sso_token_requests(policy: str) -> tuple[TokenRequest, ...]:
    """The tokens an MSNP15+ client asks for; ``policy`` is the one from ``USR SSO S``
    (usually ``MBI_KEY_OLD``), used for ``messengerclear.live.com``."""
    return (
        TokenRequest(PASSPORT_TB),
        TokenRequest(MESSENGER_CLEAR, policy),
        TokenRequest(MESSENGER_TICKET, "?id=507"),
        TokenRequest(CONTACTS, "MBI"),
        TokenRequest("messengersecure.live.com", "MBI_SSL"),
        TokenRequest("storage.msn.com", "MBI_SSL"),
        TokenRequest("sup.live.com", "MBI"),
    )


def twn_policy_reference(challenge: str) -> str:
    """The ``USR TWN S`` challenge (``ct=...,rver=...,id=507``) as the policy reference of
    ``messenger.msn.com``: URL-decoded, its commas turned into ampersands, after a ``?``."""
    return "?" + unquote(challenge).replace(",", "&")


def twn_token_requests(challenge: str) -> tuple[TokenRequest, ...]:
    """The tokens an MSNP13-14 client asks for; the ``messenger.msn.com`` ticket is the one
    sent back in ``USR TWN S``."""
    return (
        TokenRequest(PASSPORT_TB),
        TokenRequest(MESSENGER_TICKET, twn_policy_reference(challenge)),
        TokenRequest(CONTACTS, "MBI"),
        TokenRequest("messengersecure.live.com", "MBI_SSL"),
        TokenRequest("storage.msn.com", "MBI_SSL"),
        TokenRequest("sup.live.com", "MBI"),
    )


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_rst_request(
    passport: str,
    password: str,
    requests: Iterable[TokenRequest],
    *,
    rst2: bool = False,
    now: datetime | None = None,
) -> SoapRequest:
    """The ``RequestMultipleSecurityTokens`` envelope for ``RST.srf`` (or ``RST2.srf``).

    The address and password are XML-escaped; a password with characters XML cannot carry
    raises :class:`~bridge.msnp.errors.LocalProtocolError` rather than being altered.
    """
    user = strict_text(passport, "account name")
    secret = strict_text(password, "password")
    ns = _RST2 if rst2 else _RST1
    tokens = []
    for index, request in enumerate(requests):
        reference = (
            f'<{ns.policy_prefix}:PolicyReference URI="{attr(request.policy)}"/>'
            if request.policy is not None
            else ""
        )
        tokens.append(
            f'<wst:RequestSecurityToken Id="RST{index}">'
            f"<wst:RequestType>{ns.issue}</wst:RequestType>"
            "<wsp:AppliesTo><wsa:EndpointReference>"
            f"<wsa:Address>{text(request.address)}</wsa:Address>"
            "</wsa:EndpointReference></wsp:AppliesTo>"
            f"{reference}</wst:RequestSecurityToken>"
        )
    header = ""
    if rst2:
        moment = now or datetime.now(UTC)
        header = (
            '<wsa:Action s:mustUnderstand="1">'
            "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue</wsa:Action>"
            '<wsa:To s:mustUnderstand="1">HTTPS://login.live.com:443//RST2.srf</wsa:To>'
        )
        timestamp = (
            '<wsu:Timestamp wsu:Id="Timestamp">'
            f"<wsu:Created>{_stamp(moment)}</wsu:Created>"
            f"<wsu:Expires>{_stamp(moment + timedelta(minutes=5))}</wsu:Expires>"
            "</wsu:Timestamp>"
        )
    else:
        timestamp = ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<s:Envelope xmlns:s="{ns.soap}" xmlns:ps="{_PPCRL}" xmlns:wsse="{ns.wsse}"'
        f' xmlns:saml="{_SAML}" xmlns:wsp="{ns.policy}" xmlns:wsu="{_WSU}"'
        f' xmlns:wsa="{ns.addressing}" xmlns:wst="{ns.trust}">'
        f"<s:Header>{header}"
        '<ps:AuthInfo Id="PPAuthInfo">'
        f"<ps:HostingApp>{_HOSTING_APP}</ps:HostingApp>"
        f"<ps:BinaryVersion>{5 if rst2 else 4}</ps:BinaryVersion>"
        "<ps:UIVersion>1</ps:UIVersion><ps:Cookies/>"
        f"<ps:RequestParams>{_REQUEST_PARAMS}</ps:RequestParams>"
        "</ps:AuthInfo>"
        '<wsse:Security><wsse:UsernameToken Id="user">'
        f"<wsse:Username>{user}</wsse:Username><wsse:Password>{secret}</wsse:Password>"
        f"</wsse:UsernameToken>{timestamp}</wsse:Security>"
        "</s:Header><s:Body>"
        f'<ps:RequestMultipleSecurityTokens Id="RSTS">{"".join(tokens)}'
        "</ps:RequestMultipleSecurityTokens></s:Body></s:Envelope>"
    ).encode()
    content_type = "application/soap+xml; charset=utf-8" if rst2 else "text/xml; charset=utf-8"
    return SoapRequest(None, body, content_type)


@dataclass(frozen=True, slots=True)
class SecurityToken:
    """A ticket for one address. ``token`` is the compact ticket as issued (``t=...&p=...``,
    the form ``USR`` and the services take) or, for ``http://Passport.NET/tb``, the
    encrypted legacy token; ``binary_secret`` is the base64 proof key when one came with it."""

    address: str
    token: str = field(repr=False)
    token_type: str = ""
    binary_secret: str | None = field(default=None, repr=False)
    created: datetime | None = None
    expires: datetime | None = None

    def expired(self, now: datetime | None = None, *, margin: timedelta = timedelta()) -> bool:
        """True when the ticket expires within ``margin`` of ``now`` (never when unknown)."""
        if self.expires is None:
            return False
        return self.expires - margin <= (now or datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class SecurityTokens:
    """The tickets of one RST answer by service address (addresses compare case-insensitively)."""

    tokens: Mapping[str, SecurityToken]
    cid: str | None = None
    puid: str | None = None

    def get(self, address: str) -> SecurityToken | None:
        return self.tokens.get(address.lower())

    def only(self, addresses: Iterable[str]) -> SecurityTokens:
        """These tickets with those of ``addresses`` only (what a session goes on using)."""
        keys = {address.lower() for address in addresses}
        kept = {key: token for key, token in self.tokens.items() if key in keys}
        return SecurityTokens(kept, self.cid, self.puid)

    def ticket(self, address: str) -> str:
        """The ticket for ``address``; :class:`ProtocolError` when Passport issued none."""
        token = self.get(address)
        if token is None or not token.token:
            raise RemoteProtocolError(f"Passport issued no ticket for {address}")
        return token.token


def _parse_time(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_BAD_CREDENTIALS: Final = frozenset({"FailedAuthentication", "InvalidUser", "BadPassword"})


@reads_xml
def parse_rst_response(data: bytes) -> SecurityTokens:
    """The tickets of an ``RST.srf``/``RST2.srf`` answer.

    Raises :class:`AuthError` when Passport refused the e-mail address or password,
    :class:`~bridge.msnp.errors.SoapFault` for any other fault and :class:`ProtocolError`
    when the answer is not a token collection.
    """
    root = parse_envelope(data)
    fault = fault_from(root)
    if fault is not None:
        if fault.code in _BAD_CREDENTIALS:
            raise AuthError("wrong e-mail address or password", code=911)
        raise fault
    body = root.child("Body")
    collection = body.first("RequestSecurityTokenResponseCollection") if body else None
    if collection is None:
        raise RemoteProtocolError(
            "Passport answer without a RequestSecurityTokenResponseCollection"
        )
    tokens: dict[str, SecurityToken] = {}
    # (every ticket of an answer tends to have the same times: one datetime for each)
    times: dict[str, datetime | None] = {}

    def moment(node: Element | None, name: str) -> datetime | None:
        if node is None:
            return None
        text = node.findtext(name)
        if text not in times:
            times[text] = _parse_time(text)
        return times[text]

    for response in collection.children_named("RequestSecurityTokenResponse"):
        address = response.findtext("AppliesTo/EndpointReference/Address").strip()
        if not address:
            continue
        key = intern(address.lower())  # (a few addresses, the same in every session)
        if key == address:
            address = key
        requested = response.child("RequestedSecurityToken")
        token = ""
        if requested is not None:
            compact = requested.child("BinarySecurityToken")
            legacy = requested.first("CipherValue")
            token = (compact or legacy or requested).text.strip()
        lifetime = response.child("Lifetime") or response.child("LifeTime")
        secret = response.findtext("RequestedProofToken/BinarySecret").strip()
        tokens[key] = SecurityToken(
            address=address,
            token=token,
            token_type=intern(response.findtext("TokenType").strip()),
            binary_secret=secret or None,
            created=moment(lifetime, "Created"),
            expires=moment(lifetime, "Expires"),
        )
    cid = puid = None
    header = root.child("Header")
    pp = header.first("pp") if header is not None else None
    if pp is not None:
        puid = pp.findtext("PUID").strip() or None
        for prop in pp.findall("credProperties/credProperty"):
            if prop.get("Name") == "CID" and prop.text.strip():
                cid = prop.text.strip()
    return SecurityTokens(tokens, cid=cid, puid=puid)


@dataclass(frozen=True, slots=True)
class SsoChallenge:
    """``USR trid SSO S <policy> <nonce>``: the policy for ``messengerclear.live.com`` and the
    base64 nonce the MBI key answers."""

    policy: str
    nonce: str


def parse_sso_challenge(args: Iterable[str]) -> SsoChallenge:
    """Read ``SSO S <policy> <nonce>`` (the arguments after the transaction id)."""
    values = list(args)
    if len(values) < 4 or values[0] != "SSO" or values[1] != "S":
        raise RemoteProtocolError("expected USR SSO S <policy> <nonce>")
    policy, nonce = values[2], values[3]
    if not policy or not nonce or len(nonce) > _MAX_NONCE or not nonce.isascii():
        raise RemoteProtocolError("unusable SSO policy or nonce")
    return SsoChallenge(policy, nonce)
