"""A tiny raw-socket MSNP client for testing the server (no dependency on bridge.msnp)."""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from urllib.parse import quote
import asyncio
import hashlib

import aiohttp

__all__ = ["RawClient", "Reply", "login_md5", "login_twn", "passport_ticket"]

_SERVER_PAYLOAD: Final = frozenset({"MSG", "UBX", "GCF", "NOT", "IPG"})
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
        if tokens[0] in _SERVER_PAYLOAD and tokens[-1].isdigit() and len(tokens) > 2:
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
