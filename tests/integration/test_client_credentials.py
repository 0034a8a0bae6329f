"""Where the password may go: no MD5 downgrade, no Passport redirect to another host or to http.

The Passport peers here are small aiohttp apps on 127.0.0.1 and 127.0.0.2 (two hosts on the
loopback) that record every request; the MSN side is tests/msn_server or a scripted VER peer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
import asyncio
import datetime
import ipaddress
import ssl

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import aiohttp
import pytest

from bridge.msnp.auth import passport_ticket
from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.errors import MD5LoginRefused, PassportUnavailable
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder

pytestmark = pytest.mark.timeout(60)

TICKET_INFO = "Passport1.4 da-status=success,from-PP='t=ticket&p=x'"


# ------------------------------------------------------------------------------ MD5


async def test_md5_only_server_is_refused_by_default() -> None:
    async with running_server(protocols=range(2, 8)) as server:
        client = MSNClient(
            ClientConfig(server=server.server_address, passport_url=server.passport_url),
            Recorder(),
        )
        with pytest.raises(MD5LoginRefused, match="allow_md5_login"):
            await client.login("alice@example.com", "alice123")
        assert server.counters["logins"] == 0
        assert not client.connected


class ScriptedVer:
    """Answers every ``VER`` with MSNP7, whatever was offered; records what it receives."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ended = asyncio.Event()  # a connection was closed
        self.address = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedVer:
        self._server = await asyncio.start_server(self._on_conn, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                text = line.decode().strip()
                self.lines.append(text)
                tokens = text.split()
                if tokens[0] == "VER":
                    writer.write(f"VER {tokens[1]} MSNP7 CVR0\r\n".encode())
                elif tokens[0] == "INF":
                    writer.write(f"INF {tokens[1]} MD5\r\n".encode())
                elif tokens[0] == "USR":
                    writer.write(f"USR {tokens[1]} MD5 S 1013928519.693957190\r\n".encode())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            self.ended.set()


async def test_server_answering_ver_with_msnp7_gets_no_md5() -> None:
    async with ScriptedVer() as peer:
        client = MSNClient(ClientConfig(server=peer.address, passport_url="http://x"), Recorder())
        with pytest.raises(MD5LoginRefused, match="chose MSNP7"):
            await client.login("alice@example.com", "alice123")
        await asyncio.wait_for(peer.ended.wait(), 5)  # the client hung up: nothing more comes
        assert [line.split()[0] for line in peer.lines] == ["VER"]
        assert "MSNP7" not in peer.lines[0]  # never offered


async def test_md5_login_when_allowed() -> None:
    async with running_server(protocols=range(2, 8)) as server:
        client = MSNClient(
            ClientConfig(server=server.server_address, allow_md5_login=True), Recorder()
        )
        result = await client.login("alice@example.com", "alice123")
        try:
            assert result.protocol == 7
        finally:
            await client.close()


# ------------------------------------------------------------------------------ Passport


class PassportPeer:
    """An HTTP(S) server on ``host`` whose routes answer per test; records requests."""

    def __init__(self, host: str, tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.tls = tls
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.routes: dict[str, web.Response] = {}
        self.port = 0
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, request.headers.get("Authorization")))
        return self.routes.get(request.path, web.Response(status=404))

    async def __aenter__(self) -> PassportPeer:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0, ssl_context=self.tls)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def password_seen(self) -> bool:
        return any(auth and "pwd=" in auth for _, auth in self.requests)


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


def ticket() -> web.Response:
    return web.Response(status=200, headers={"Authentication-Info": TICKET_INFO})


@asynccontextmanager
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


async def test_login_redirect_to_another_host_is_not_followed() -> None:
    async with PassportPeer("127.0.0.1") as login, PassportPeer("127.0.0.2") as other:
        other.routes["/login"] = ticket()
        login.routes["/login"] = redirect(other.url("/login"))
        async with http() as session:
            with pytest.raises(PassportUnavailable, match="another host"):
                await passport_ticket(
                    session, "a@b.c", "s3cret", "ct=1", passport_url=login.url("/login")
                )
        assert other.requests == []


async def test_login_redirect_on_the_same_host_is_followed() -> None:
    async with PassportPeer("127.0.0.1") as login:
        login.routes["/login"] = redirect("/login2")
        login.routes["/login2"] = ticket()
        async with http() as session:
            got = await passport_ticket(
                session, "a@b.c", "s3cret", "ct=1", passport_url=login.url("/login")
            )
        assert got == "t=ticket&p=x"
        assert [path for path, _ in login.requests] == ["/login", "/login2"]


async def test_login_redirect_from_https_to_http_is_not_followed(tmp_path: Path) -> None:
    tls = self_signed(tmp_path)
    async with PassportPeer("127.0.0.1", tls) as secure, PassportPeer("127.0.0.1") as plain:
        plain.routes["/login"] = ticket()
        secure.routes["/login"] = redirect(plain.url("/login"))
        async with http() as session:
            with pytest.raises(PassportUnavailable, match="from https to http"):
                await passport_ticket(
                    session,
                    "a@b.c",
                    "s3cret",
                    "ct=1",
                    passport_url=secure.url("/login"),
                    verify_tls=False,
                )
        assert secure.password_seen() and plain.requests == []


async def test_plain_http_nexus_cannot_send_the_password_elsewhere() -> None:
    async with PassportPeer("127.0.0.1") as nexus, PassportPeer("127.0.0.2") as other:
        other.routes["/login"] = ticket()
        nexus.routes["/rdr/pprdr.asp"] = web.Response(
            headers={"PassportURLs": f"DARealm=Passport.Net,DALogin={other.url('/login')}"}
        )
        async with http() as session:
            with pytest.raises(PassportUnavailable, match="another host"):
                await passport_ticket(
                    session, "a@b.c", "s3cret", "ct=1", nexus_url=nexus.url("/rdr/pprdr.asp")
                )
        assert other.requests == []
        # a login URL on the nexus' own host is used
        nexus.routes["/login"] = ticket()
        nexus.routes["/rdr/pprdr.asp"] = web.Response(
            headers={"PassportURLs": f"DALogin={nexus.host}:{nexus.port}/login"}
        )
        async with http() as session:
            got = await passport_ticket(
                session,
                "a@b.c",
                "s3cret",
                "ct=1",
                nexus_url=nexus.url("/rdr/pprdr.asp"),
                force_scheme="http",
            )
        assert got == "t=ticket&p=x" and nexus.password_seen()


async def test_unverified_https_nexus_cannot_send_the_password_elsewhere(
    tmp_path: Path,
) -> None:
    tls = self_signed(tmp_path)
    async with PassportPeer("127.0.0.1", tls) as nexus, PassportPeer("127.0.0.2") as other:
        other.routes["/login"] = ticket()
        nexus.routes["/rdr/pprdr.asp"] = web.Response(
            headers={"PassportURLs": f"DALogin=https://127.0.0.2:{other.port}/login"}
        )
        async with http() as session:
            with pytest.raises(PassportUnavailable, match="another host"):
                await passport_ticket(
                    session,
                    "a@b.c",
                    "s3cret",
                    "ct=1",
                    nexus_url=nexus.url("/rdr/pprdr.asp"),
                    verify_tls=False,
                )
        assert other.requests == []
