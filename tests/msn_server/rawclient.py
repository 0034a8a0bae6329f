"""A tiny raw-socket MSNP client for testing the server (no dependency on bridge.msnp)."""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from urllib.parse import quote
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape
import asyncio
import hashlib

import aiohttp

__all__ = [
    "LoginRefused",
    "RawClient",
    "Reply",
    "Tokens",
    "ab_envelope",
    "find_all",
    "find_text",
    "login_md5",
    "login_sso",
    "login_twn",
    "mbi_answer",
    "passport_ticket",
    "rst_tokens",
    "soap_post",
]

_SERVER_PAYLOAD: Final = frozenset(
    {"MSG", "UBX", "GCF", "NOT", "IPG", "ADL", "RML", "FQY", "NFY", "SDG", "UBN", "PUT"}
)
DEFAULT_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True)
class Reply:
    line: str
    payload: bytes | None = None

    @property
    def tokens(self) -> list[str]:
        return self.line.split(" ")

    @property
    def name(self) -> str:
        return self.tokens[0]

    def __str__(self) -> str:
        return self.line


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.trid = 0

    @classmethod
    async def connect(cls, address: str) -> RawClient:
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass

    async def __aenter__(self) -> RawClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def cmd(self, name: str, *args: object, payload: bytes | None = None) -> int:
        """Send ``NAME trid args...`` (plus a payload); returns the trid."""
        self.trid += 1
        parts = [name, str(self.trid), *(str(a) for a in args)]
        if payload is not None:
            parts.append(str(len(payload)))
        await self.write((" ".join(parts) + "\r\n").encode() + (payload or b""))
        return self.trid

    async def read(self, timeout: float = DEFAULT_TIMEOUT) -> Reply:
        """The next server line (with its payload); raises EOFError when closed."""
        raw = await asyncio.wait_for(self.reader.readline(), timeout)
        if not raw:
            raise EOFError("connection closed by the server")
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        tokens = line.split(" ")
        if tokens[0] in _SERVER_PAYLOAD and tokens[-1].isdigit() and len(tokens) >= 2:
            payload = await asyncio.wait_for(self.reader.readexactly(int(tokens[-1])), timeout)
            return Reply(line, payload)
        return Reply(line)

    async def expect(self, prefix: str, timeout: float = DEFAULT_TIMEOUT) -> Reply:
        """Read until a line starting with ``prefix``; the lines before it are dropped."""
        while True:
            reply = await self.read(timeout)
            if reply.line == prefix or reply.line.startswith(prefix + " "):
                return reply

    async def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[Reply]:
        """Read until EOF; returns what came before it."""
        seen: list[Reply] = []
        while True:
            try:
                seen.append(await self.read(timeout))
            except (EOFError, ConnectionError, asyncio.IncompleteReadError):
                return seen

    async def nothing(self, wait: float = 0.3) -> None:
        """Assert that nothing arrives within ``wait`` seconds."""
        try:
            reply = await self.read(wait)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected {reply.line!r}")


async def passport_ticket(
    session: aiohttp.ClientSession, login_url: str, email: str, password: str
) -> tuple[int, str]:
    """GET /login; returns (HTTP status, from-PP value or '')."""
    header = (
        "Passport1.4 OrgVerb=GET,OrgURL=http%3A%2F%2Fmessenger%2Emsn%2Ecom,"
        f"sign-in={quote(email)},pwd={quote(password)},ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=1"
    )
    async with session.get(login_url, headers={"Authorization": header}) as resp:
        info = resp.headers.get("Authentication-Info", "")
        marker = "from-PP='"
        if marker not in info:
            return resp.status, ""
        return resp.status, info.split(marker, 1)[1].split("'", 1)[0]


async def login_md5(address: str, email: str, password: str, version: int = 7) -> RawClient:
    """Log in at MSNP2-7 with MD5; returns the client after ``USR OK``."""
    client = await RawClient.connect(address)
    await client.cmd("VER", f"MSNP{version}", "CVR0")
    await client.expect("VER")
    await client.cmd("CVR", "0x0409", "winnt", "5.1", "i386", "MSNMSGR", "6.0.0602", "MSMSGS")
    await client.expect("CVR")
    await client.cmd("INF")
    await client.expect("INF")
    await client.cmd("USR", "MD5", "I", email)
    salt = (await client.expect("USR")).tokens[4]
    await client.cmd("USR", "MD5", "S", hashlib.md5((salt + password).encode()).hexdigest())
    ok = await client.read()
    if ok.tokens[:3] != ["USR", str(client.trid), "OK"]:
        raise AssertionError(f"login failed: {ok.line}")
    return client


async def login_twn(
    address: str, login_url: str, email: str, password: str, version: int = 12
) -> RawClient:
    """Log in at MSNP8+ through the Passport endpoint; returns the client after the profile."""
    client = await RawClient.connect(address)
    await client.cmd("VER", f"MSNP{version}", "CVR0")
    await client.expect("VER")
    await client.cmd(
        "CVR", "0x0409", "winnt", "5.1", "i386", "MSNMSGR", "7.0.0816", "MSMSGS", email
    )
    await client.expect("CVR")
    await client.cmd("USR", "TWN", "I", email)
    await client.expect("USR")
    async with aiohttp.ClientSession() as session:
        status, ticket = await passport_ticket(session, login_url, email, password)
    if status != 200:
        raise AssertionError(f"passport login failed: HTTP {status}")
    await client.cmd("USR", "TWN", "S", ticket)
    ok = await client.read()
    if ok.tokens[:3] != ["USR", str(client.trid), "OK"]:
        raise AssertionError(f"login failed: {ok.line}")
    if version >= 11:
        assert (await client.read()).line == "SBS 0 null"
    assert (await client.read()).name == "MSG"
    return client


# -- MSNP13+: Passport RST, the SSO MBI answer, SOAP calls -------------------------------------
#
# Written again here, from the public descriptions, rather than imported from the server's
# modules, so that a test built on them checks the server instead of agreeing with it.

_WSSE_NS = "http://schemas.xmlsoap.org/ws/2003/06/secext"
_RST_DOMAINS = (
    ("http://Passport.NET/tb", None),
    ("messengerclear.live.com", "MBI_KEY_OLD"),
    ("messenger.msn.com", "?id=507"),
    ("contacts.msn.com", "MBI"),
    ("messengersecure.live.com", "MBI_SSL"),
)


def rst_request(
    email: str, password: str, domains: tuple[tuple[str, str | None], ...] = _RST_DOMAINS
) -> bytes:
    tokens = "".join(
        f'<wst:RequestSecurityToken Id="RST{i}"><wst:RequestType>'
        "http://schemas.xmlsoap.org/ws/2004/04/security/trust/Issue</wst:RequestType>"
        f"<wsp:AppliesTo><wsa:EndpointReference><wsa:Address>{domain}</wsa:Address>"
        "</wsa:EndpointReference></wsp:AppliesTo>"
        + (f'<wsse:PolicyReference URI="{policy}"/>' if policy else "")
        + "</wst:RequestSecurityToken>"
        for i, (domain, policy) in enumerate(domains)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Envelope '
        'xmlns="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:wsse="{_WSSE_NS}" xmlns:wsp="http://schemas.xmlsoap.org/ws/2002/12/policy" '
        'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/03/addressing" '
        'xmlns:wst="http://schemas.xmlsoap.org/ws/2004/04/trust"><Header><wsse:Security>'
        f'<wsse:UsernameToken Id="user"><wsse:Username>{escape(email)}</wsse:Username>'
        f"<wsse:Password>{escape(password)}</wsse:Password></wsse:UsernameToken>"
        "</wsse:Security></Header><Body><ps:RequestMultipleSecurityTokens "
        'xmlns:ps="http://schemas.microsoft.com/Passport/SoapServices/PPCRL" Id="RSTS">'
        f"{tokens}</ps:RequestMultipleSecurityTokens></Body></Envelope>"
    ).encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _all(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if _local(e.tag) == name]


@dataclass(frozen=True, slots=True)
class Tokens:
    """What an RST answer gave: token and BinarySecret per domain, or the fault."""

    tokens: dict[str, str]
    secrets: dict[str, str]
    fault: str | None
    status: int
    body: str


async def rst_tokens(
    session: aiohttp.ClientSession, base: str, email: str, password: str, *, rst2: bool = True
) -> Tokens:
    """POST /RST2.srf (or /RST.srf) and pick the tokens out of the answer."""
    url = f"{base}/{'RST2' if rst2 else 'RST'}.srf"
    async with session.post(url, data=rst_request(email, password)) as resp:
        body = await resp.text()
        status = resp.status
    root = ET.fromstring(body)
    fault = next((e for e in root.iter() if _local(e.tag) == "Fault"), None)
    if fault is not None:
        code = [
            (e.text or "").strip() for e in fault.iter() if _local(e.tag) in ("Value", "faultcode")
        ]
        return Tokens({}, {}, code[-1] if code else "fault", status, body)
    tokens: dict[str, str] = {}
    secrets_: dict[str, str] = {}
    for response in _all(root, "RequestSecurityTokenResponse"):
        address = next((e.text or "" for e in _all(response, "Address")), "")
        token = next((e.text or "" for e in _all(response, "BinarySecurityToken")), "")
        secret = next((e.text or "" for e in _all(response, "BinarySecret")), "")
        if token:
            tokens[address] = token
        if secret:
            secrets_[address] = secret
    return Tokens(tokens, secrets_, None, status, body)


def _rps_key(secret: bytes, magic: bytes) -> bytes:
    import hmac

    def mac(data: bytes) -> bytes:
        return hmac.new(secret, data, hashlib.sha1).digest()

    first = mac(magic)
    third = mac(first)
    return mac(first + magic) + mac(third + magic)[:4]


def mbi_answer(nonce: str, secret_b64: str, iv: bytes | None = None) -> str:
    """The MBI_KEY_OLD answer blob (base64) to ``nonce`` for a BinarySecret."""
    import base64
    import hmac
    import os
    import struct

    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:  # pragma: no cover
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

    secret = base64.b64decode(secret_b64)
    iv = iv if iv is not None else os.urandom(8)
    hash_key = _rps_key(secret, b"WS-SecureConversationSESSION KEY HASH")
    crypt_key = _rps_key(secret, b"WS-SecureConversationSESSION KEY ENCRYPTION")
    digest = hmac.new(hash_key, nonce.encode("ascii"), hashlib.sha1).digest()
    pad = 8 - len(nonce) % 8  # PKCS#5: a whole block of 8s when it fits exactly
    padded = nonce.encode("ascii") + bytes([pad]) * pad
    encryptor = Cipher(TripleDES(crypt_key), modes.CBC(iv)).encryptor()
    cipher = encryptor.update(padded) + encryptor.finalize()
    header = struct.pack("<7I", 28, 1, 0x6603, 0x8004, 8, 20, len(cipher))
    return base64.b64encode(header + iv + digest + cipher).decode("ascii")


async def login_sso(
    address: str,
    http_base: str,
    email: str,
    password: str,
    version: int = 18,
    *,
    machine_guid: str | None = "{4a8d2b47-1d7c-4b6e-9c55-0e6f3bda1c27}",
    mbi: str = "right",
    session: aiohttp.ClientSession | None = None,
) -> tuple[RawClient, Tokens]:
    """Log in at MSNP15+ with SSO; returns the client after the profile (and the empty UBX
    at 16+) and the RST tokens. ``mbi``: "right", "wrong" or "none"."""
    client = await RawClient.connect(address)
    await client.cmd("VER", f"MSNP{version}", "CVR0")
    await client.expect("VER")
    await client.cmd(
        "CVR", "0x0409", "winnt", "6.1", "i386", "MSNMSGR", "14.0.8117", "msmsgs", email
    )
    await client.expect("CVR")
    t = await client.cmd("USR", "SSO", "I", email)
    gcf = await client.read()
    assert gcf.name == "GCF" and gcf.tokens[1] == "0", gcf.line
    usr = await client.read()
    assert usr.tokens[:5] == ["USR", str(t), "SSO", "S", "MBI_KEY_OLD"], usr.line
    nonce = usr.tokens[5]
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        tokens = await rst_tokens(http, http_base, email, password)
    finally:
        if own:
            await http.close()
    if tokens.fault is not None:
        raise AssertionError(f"RST refused: {tokens.fault}")
    ticket = tokens.tokens["messengerclear.live.com"]
    secret = tokens.secrets["messengerclear.live.com"]
    args: list[str] = [ticket]
    if mbi == "right":
        args.append(mbi_answer(nonce, secret))
    elif mbi == "wrong":
        args.append(mbi_answer(nonce + "x", secret))
    if version >= 16 and machine_guid is not None:
        args.append(machine_guid)
    t = await client.cmd("USR", "SSO", "S", *args)
    ok = await client.read()
    if ok.tokens[:3] != ["USR", str(t), "OK"]:
        await client.close()
        raise LoginRefused(ok.line)
    assert (await client.read()).line == "SBS 0 null"
    assert (await client.read()).name == "MSG"
    if version >= 16:
        assert (await client.read()).name == "UBX"
    return client, tokens


class LoginRefused(AssertionError):
    """The server answered the login with an error line (in ``args[0]``)."""


def ab_envelope(token: str, action: str, body: str) -> bytes:
    """An ABService / SharingService request envelope."""
    return (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope '
        'xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soap:Header>'
        '<ABApplicationHeader xmlns="http://www.msn.com/webservices/AddressBook">'
        "<ApplicationId>CFE80F9D-180F-4399-82AB-413F33A1FA11</ApplicationId>"
        "<IsMigration>false</IsMigration><PartnerScenario>Initial</PartnerScenario>"
        '</ABApplicationHeader><ABAuthHeader xmlns="http://www.msn.com/webservices/AddressBook">'
        f"<ManagedGroupRequest>false</ManagedGroupRequest><TicketToken>{escape(token)}"
        f"</TicketToken></ABAuthHeader></soap:Header><soap:Body><{action} "
        f'xmlns="http://www.msn.com/webservices/AddressBook">{body}</{action}></soap:Body>'
        "</soap:Envelope>"
    ).encode()


async def soap_post(
    session: aiohttp.ClientSession, url: str, action_uri: str, envelope: bytes
) -> tuple[int, ET.Element]:
    headers = {"SOAPAction": f'"{action_uri}"', "Content-Type": "text/xml; charset=utf-8"}
    async with session.post(url, data=envelope, headers=headers) as resp:
        return resp.status, ET.fromstring(await resp.read())


def find_all(root: ET.Element, name: str) -> list[ET.Element]:
    """Every element named ``name`` (any namespace) under ``root``."""
    return _all(root, name)


def find_text(root: ET.Element, name: str) -> str | None:
    found = _all(root, name)
    return (found[0].text or "") if found else None
