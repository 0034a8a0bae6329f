"""The Passport security-token service: ``POST /RST.srf`` (SOAP 1.1) and ``/RST2.srf`` (1.2).

A client sends a WS-Trust ``RequestMultipleSecurityTokens`` envelope with the credentials in
``wsse:UsernameToken`` (``Username``/``Password``) and one ``RequestSecurityToken`` per service
it wants a ticket for (``wsa:Address``: ``messengerclear.live.com``, ``contacts.msn.com``,
``messenger.msn.com``, ...). The answer has one ``RequestSecurityTokenResponse`` per address: a
``urn:passport:compact`` ``BinarySecurityToken`` ``t=<token>&p=<proof>`` (XML-escaped), plus a
``BinarySecret`` proof key for messengerclear.live.com (the key of the SSO ``MBI_KEY_OLD``
answer) and a ``urn:passport:legacy`` token for ``http://Passport.NET/tb``. A wrong password
(or an unknown account) gets a SOAP fault ``FailedAuthentication`` with ``psf:reqstatus
0x80048821``, with HTTP 200 as Escargot answers (SOAP 1.2 clients must read the body).
Every token is tied to its domain: the NS takes messengerclear.live.com tokens in
``USR SSO S``, the address book contacts.msn.com ones, the OIM services messenger.msn.com.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
import base64
import logging
import secrets
import time

from aiohttp import web

from . import soap

if TYPE_CHECKING:
    from .server import MSNServer

__all__ = ["MESSENGER_CLEAR", "TB", "add_routes"]

log = logging.getLogger("msn_server")

MESSENGER_CLEAR: Final = "messengerclear.live.com"
TB: Final = "http://Passport.NET/tb"
MAX_TOKENS: Final = 32
TOKEN_LIFETIME: Final = 86400.0

_S12: Final = "http://www.w3.org/2003/05/soap-envelope"
_S11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
_WSSE: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU: Final = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_WSA: Final = "http://www.w3.org/2005/08/addressing"
_WSP: Final = "http://schemas.xmlsoap.org/ws/2004/09/policy"
_PSF: Final = "http://schemas.microsoft.com/Passport/SoapServices/SOAPFault"
_TRUST2: Final = "http://schemas.xmlsoap.org/ws/2005/02/trust"
_TRUST1: Final = "http://schemas.xmlsoap.org/ws/2004/04/trust"


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _envelope(version2: bool, header: str, body: str) -> str:
    ns = _S12 if version2 else _S11
    return (
        f'<?xml version="1.0" encoding="utf-8" ?><S:Envelope xmlns:S="{ns}" '
        f'xmlns:wsse="{_WSSE}" xmlns:wsu="{_WSU}" xmlns:wsa="{_WSA}" xmlns:psf="{_PSF}">'
        f"<S:Header>{header}</S:Header><S:Body>{body}</S:Body></S:Envelope>"
    )


def _failure(version2: bool, code: str = "wst:FailedAuthentication") -> str:
    trust = _TRUST2 if version2 else _TRUST1
    pp = (
        "<psf:pp><psf:serverVersion>1</psf:serverVersion><psf:authstate>0x80048800"
        "</psf:authstate><psf:reqstatus>0x80048821</psf:reqstatus></psf:pp>"
    )
    if version2:
        body = (
            f'<S:Fault xmlns:wst="{trust}"><S:Code><S:Value>S:Sender</S:Value><S:Subcode>'
            f"<S:Value>{code}</S:Value></S:Subcode></S:Code><S:Reason>"
            '<S:Text xml:lang="en-US">Authentication Failure</S:Text></S:Reason>'
            "<S:Detail><psf:error><psf:value>0x80048821</psf:value></psf:error></S:Detail>"
            "</S:Fault>"
        )
    else:
        body = (
            f'<S:Fault xmlns:wst="{trust}"><faultcode>{code}</faultcode>'
            "<faultstring>Authentication Failure</faultstring></S:Fault>"
        )
    return _envelope(version2, pp, body)


def _token_response(
    version2: bool,
    index: int,
    domain: str,
    token: str,
    secret: str | None,
    created: float,
    seconds: float = TOKEN_LIFETIME,
) -> str:
    lifetime = (
        f"<wst:Lifetime><wsu:Created>{_utc(created)}</wsu:Created>"
        f"<wsu:Expires>{_utc(created + seconds)}</wsu:Expires></wst:Lifetime>"
    )
    applies = (
        f'<wsp:AppliesTo xmlns:wsp="{_WSP}"><wsa:EndpointReference><wsa:Address>'
        f"{soap.esc(domain)}</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>"
    )
    proof = (
        f"<wst:RequestedProofToken><wst:BinarySecret>{secret}</wst:BinarySecret>"
        "</wst:RequestedProofToken>"
        if secret
        else ""
    )
    if domain == TB:
        opaque = base64.b64encode(secrets.token_bytes(96)).decode("ascii")
        requested = (
            '<EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#" Id="BinaryDAToken0" '
            'Type="http://www.w3.org/2001/04/xmlenc#Element"><EncryptionMethod '
            'Algorithm="http://www.w3.org/2001/04/xmlenc#tripledes-cbc"></EncryptionMethod>'
            f"<CipherData><CipherValue>{opaque}</CipherValue></CipherData></EncryptedData>"
        )
        kind = "urn:passport:legacy"
    else:
        requested = (
            f'<wsse:BinarySecurityToken Id="Compact{index}">{soap.esc(token)}'
            "</wsse:BinarySecurityToken>"
        )
        kind = "urn:passport:compact"
    return (
        f"<wst:RequestSecurityTokenResponse><wst:TokenType>{kind}</wst:TokenType>{applies}"
        f"{lifetime}<wst:RequestedSecurityToken>{requested}</wst:RequestedSecurityToken>"
        f"{proof}</wst:RequestSecurityTokenResponse>"
    )


def add_routes(app: web.Application, server: MSNServer) -> None:
    async def handle(request: web.Request, version2: bool) -> web.Response:
        server.counters["http_rst"] += 1
        try:
            root = await soap.read_request(request)
        except soap.SoapError as e:
            log.info("RST: unreadable request: %s", e)
            return soap.xml_response(_failure(version2, "wst:InvalidRequest"), status=500)
        email = soap.text(root, ".//UsernameToken/Username") or ""
        password = soap.text(root, ".//UsernameToken/Password") or ""
        domains = [
            (node.text or "").strip()
            for node in soap.findall(soap.find(root, "Body"), ".//Address")
        ][:MAX_TOKENS]
        account = server.directory.get(email)
        if account is None or not secrets.compare_digest(
            account.password.encode("utf-8"), password.encode("utf-8")
        ):
            log.info("RST: failed login for %s", email or "?")
            return soap.xml_response(_failure(version2))
        now = time.time()
        seconds = server.config.rst_token_lifetime
        responses = []
        for index, domain in enumerate(domains):
            secret = None
            if domain in (TB, MESSENGER_CLEAR):
                secret = base64.b64encode(secrets.token_bytes(24)).decode("ascii")
            token = ""
            if domain != TB:
                token = server.tickets.issue_compact(
                    account.email, domain, secret=secret, lifetime=seconds
                )
            responses.append(_token_response(version2, index, domain, token, secret, now, seconds))
        trust = _TRUST2 if version2 else _TRUST1
        pp = (
            "<psf:pp><psf:serverVersion>1</psf:serverVersion>"
            f"<psf:PUID>{account.puid}</psf:PUID><psf:authstate>0x48803</psf:authstate>"
            "<psf:reqstatus>0x0</psf:reqstatus><psf:credProperties>"
            f'<psf:credProperty Name="CID">{account.cid_hex}</psf:credProperty>'
            f'<psf:credProperty Name="AuthMembername">{soap.esc(account.email)}'
            "</psf:credProperty></psf:credProperties></psf:pp>"
        )
        body = (
            f'<wst:RequestSecurityTokenResponseCollection xmlns:wst="{trust}">'
            f"{''.join(responses)}</wst:RequestSecurityTokenResponseCollection>"
        )
        log.debug("RST: issued %d tokens for %s", len(domains), account.email)
        return soap.xml_response(_envelope(version2, pp, body))

    async def rst(request: web.Request) -> web.Response:
        return await handle(request, version2=False)

    async def rst2(request: web.Request) -> web.Response:
        return await handle(request, version2=True)

    app.router.add_post("/RST.srf", rst)
    app.router.add_post("/RST2.srf", rst2)
