"""MSNClient login against tests/msn_server over real sockets: every version, auth errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.errors import AuthError, ConnectionClosed, ProtocolRefused
from bridge.msnp.events import ListSynced, LoggedIn, PresenceChanged
from bridge.msnp.values import Lists, Status
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder, client_config, logged_in

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("protocol", range(2, 13))
async def test_login_and_sync_every_version(protocol: int) -> None:
    async with running_server() as server:
        client, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            assert client.connected and client.protocol == protocol
            assert client.friendly_name == "Alice"
            assert set(client.contacts) == {"bob@example.com", "carol@example.com"}
            bob = client.contacts["bob@example.com"]
            assert bob.friendly_name == "Bob"
            assert bob.lists & (Lists.FORWARD | Lists.ALLOW | Lists.REVERSE) == (
                Lists.FORWARD | Lists.ALLOW | Lists.REVERSE
            )
            if protocol >= 7:
                names = {client.groups[g].name for g in bob.groups if g in client.groups}
                assert names == {"Friends"}
                carol_groups = {
                    client.groups[g].name
                    for g in client.contacts["carol@example.com"].groups
                    if g in client.groups
                }
                assert "Friends" not in carol_groups
            if protocol >= 10:
                assert bob.guid == server.account("bob@example.com").guid
            logged = await rec.wait(LoggedIn)
            assert logged.protocol == protocol and logged.passport == "alice@example.com"
            synced = await rec.wait(ListSynced)
            assert set(synced.contacts) == set(client.contacts)
            # LoggedIn comes before ListSynced
            assert rec.events.index(logged) < rec.events.index(synced)
            assert server.online("alice@example.com") == "NLN"
        finally:
            await client.close()
        assert not client.connected


async def test_login_result_and_profile() -> None:
    async with running_server() as server:
        client = MSNClient(client_config(server, 12), Recorder())
        result = await client.login("alice@example.com", "alice123")
        try:
            assert result.protocol == 12 and result.passport == "alice@example.com"
            assert result.ticket
            assert result.friendly_name == "Alice"
            assert result.profile  # the text/x-msmsgsprofile headers
        finally:
            await client.close()
        md5 = MSNClient(client_config(server, 7), Recorder())
        result = await md5.login("alice@example.com", "alice123")
        assert result.ticket is None
        await md5.close()


async def test_initial_presence_seen_at_login() -> None:
    async with running_server() as server:
        bob, _ = await logged_in(server, "bob@example.com", 12)
        await bob.set_status(Status.BUSY)
        alice, rec = await logged_in(server, "alice@example.com", 7)
        try:
            event = await rec.wait(PresenceChanged, passport="bob@example.com")
            assert event.initial and event.status is Status.BUSY
            assert event.friendly_name == "Bob"
            assert alice.contacts["bob@example.com"].status is Status.BUSY
        finally:
            await alice.close()
            await bob.close()


@pytest.mark.parametrize("protocol", [7, 12])
async def test_wrong_password(protocol: int) -> None:
    async with running_server() as server:
        client = MSNClient(client_config(server, protocol), Recorder())
        with pytest.raises(AuthError, match="wrong e-mail address or password"):
            await client.login("alice@example.com", "not-the-password")
        assert not client.connected
        assert server.online("alice@example.com") is None


async def test_follows_dispatch_redirect() -> None:
    async with running_server() as server:
        assert server.ds_address is not None and server.ds_address != server.ns_address
        client, _ = await logged_in(server, "alice@example.com", 12)
        try:
            assert server.counters["ds_connections"] == 1
            assert server.counters["ns_connections"] == 1
            assert server.online("alice@example.com") == "NLN"
        finally:
            await client.close()


async def test_protocol_refused() -> None:
    async with running_server(protocols=range(8, 13)) as server:
        client = MSNClient(client_config(server, 7), Recorder())
        with pytest.raises(ProtocolRefused, match="none of the offered"):
            await client.login("alice@example.com", "alice123")


async def test_ticket_reuse_and_refresh() -> None:
    async with running_server() as server:
        first = MSNClient(client_config(server, 12), Recorder())
        result = await first.login("alice@example.com", "alice123")
        await first.close()
        assert result.ticket
        logins = server.counters["http_login"]

        again = MSNClient(client_config(server, 12), Recorder())
        reused = await again.login("alice@example.com", None, ticket=result.ticket)
        await again.close()
        assert reused.ticket == result.ticket
        assert server.counters["http_login"] == logins  # no Passport round trip

        fresh = MSNClient(client_config(server, 12), Recorder())
        renewed = await fresh.login("alice@example.com", "alice123", ticket="t=bogus&p=")
        assert renewed.ticket and renewed.ticket != "t=bogus&p="
        assert fresh.connected
        await fresh.close()

        stuck = MSNClient(client_config(server, 12), Recorder())
        with pytest.raises(AuthError, match="no password"):
            await stuck.login("alice@example.com", None, ticket="t=bogus&p=")


@pytest.mark.parametrize("scheme", [None, "http"])
async def test_nexus_discovery(scheme: str | None) -> None:
    async with running_server(nexus_dalogin_scheme=scheme) as server:
        config = client_config(
            server,
            12,
            passport_url=None,
            nexus_url=server.nexus_url,
            force_scheme="http" if scheme is None else None,
        )
        client = MSNClient(config, Recorder())
        result = await client.login("alice@example.com", "alice123")
        try:
            assert result.ticket
            assert server.counters["http_nexus"] == 1
        finally:
            await client.close()


@pytest.mark.parametrize(("trigger", "protocol"), [("USR", 12), ("USR", 5), ("SYN", 9)])
async def test_close_during_login_reports_stage(trigger: str, protocol: int) -> None:
    async with running_server() as server:
        server.close_during_login = trigger
        client = MSNClient(client_config(server, protocol), Recorder())
        with pytest.raises(ConnectionClosed) as info:
            await client.login("alice@example.com", "alice123")
        assert info.value.stage == trigger
        assert not client.connected


async def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with running_server() as server:
        config = client_config(server, 12, server=f"127.0.0.1:{port}")
    client = MSNClient(config, Recorder())
    with pytest.raises(OSError, match="cannot connect"):
        await client.login("alice@example.com", "alice123")


async def test_events_are_delivered_in_order_without_blocking() -> None:
    """A handler that calls back into the client does not dead-lock the connection."""
    async with running_server() as server:
        seen: list[str] = []
        renamed = asyncio.Event()
        client: MSNClient | None = None

        async def handler(event: object) -> None:
            if isinstance(event, ListSynced):
                assert client is not None
                await client.set_friendly_name("Alice from handler")
                seen.append("renamed")
                renamed.set()

        client = MSNClient(client_config(server, 12), handler)
        await client.login("alice@example.com", "alice123")
        try:
            await asyncio.wait_for(renamed.wait(), 5)
            assert seen == ["renamed"]
            assert client.friendly_name == "Alice from handler"
        finally:
            await client.close()
