"""MSNClient at MSNP13-18 against tests/msn_server: RST/SSO login, the address book as the
contact list, presence, chat, several endpoints of one account, the negotiated version."""

from __future__ import annotations

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.errors import AuthError
from bridge.msnp.events import (
    ListSynced,
    LoggedIn,
    PersonalMessageChanged,
    PresenceChanged,
    TextMessageReceived,
)
from bridge.msnp.values import Lists, Status
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder, client_config, logged_in

pytestmark = pytest.mark.timeout(60)

GUID_A = "{11111111-2222-3333-4444-555555555555}"
GUID_B = "{66666666-7777-8888-9999-AAAAAAAAAAAA}"


@pytest.mark.parametrize("protocol", range(13, 19))
async def test_login_lists_and_presence_every_version(protocol: int) -> None:
    async with running_server() as server:
        bob, _ = await logged_in(server, "bob@example.com", protocol)
        await bob.set_status(Status.BUSY)
        client, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            assert client.connected and client.protocol == protocol
            logged = await rec.wait(LoggedIn)
            assert logged.protocol == protocol
            synced = await rec.wait(ListSynced)
            assert set(synced.contacts) == {"bob@example.com", "carol@example.com"}
            bob_entry = client.contacts["bob@example.com"]
            wanted = Lists.FORWARD | Lists.ALLOW | Lists.REVERSE
            assert bob_entry.lists & wanted == wanted
            assert bob_entry.friendly_name == "Bob"
            assert bob_entry.guid == server.account("bob@example.com").guid
            names = {client.groups[g].name for g in bob_entry.groups if g in client.groups}
            assert names == {"Friends"}
            presence = await rec.wait(PresenceChanged, passport="bob@example.com")
            assert presence.status is Status.BUSY
            assert server.online("alice@example.com") == "NLN"
            # the address book and the token service were used, SYN was not
            assert server.counters["http_rst"] >= 2 and server.counters["http_abservice"] >= 2
            await bob.set_personal_message("at lunch")
            await rec.wait(
                PersonalMessageChanged, passport="bob@example.com", personal_message="at lunch"
            )
        finally:
            await client.close()
            await bob.close()


@pytest.mark.parametrize("protocol", [13, 15, 18])
async def test_chat_both_ways(protocol: int) -> None:
    async with running_server() as server:
        bob, bob_rec = await logged_in(server, "bob@example.com", protocol)
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            await alice.send_text("bob@example.com", "hello bob")
            got = await bob_rec.wait(TextMessageReceived, sender="alice@example.com")
            assert got.text == "hello bob"
            await bob.send_text("alice@example.com", "hi alice")
            back = await rec.wait(TextMessageReceived, sender="bob@example.com")
            assert back.text == "hi alice"
        finally:
            await alice.close()
            await bob.close()


async def test_negotiates_the_highest_version_the_server_accepts() -> None:
    async with running_server(protocols=tuple(range(2, 16))) as server:
        config = client_config(server, 18, protocols=tuple(range(18, 7, -1)))
        client = MSNClient(config, Recorder())
        result = await client.login("alice@example.com", "alice123")
        try:
            assert result.protocol == 15 and client.protocol == 15
            assert result.ticket is None  # SSO tickets are not reusable alone
        finally:
            await client.close()


@pytest.mark.parametrize("protocol", [13, 15, 18])
async def test_wrong_password_is_an_auth_error(protocol: int) -> None:
    async with running_server() as server:
        client = MSNClient(client_config(server, protocol), Recorder())
        with pytest.raises(AuthError, match="wrong e-mail address or password"):
            await client.login("alice@example.com", "wrong")
        assert server.online("alice@example.com") is None


async def test_two_endpoints_of_one_account_both_stay_on() -> None:
    async with running_server() as server:
        first = MSNClient(client_config(server, 18), Recorder())
        await first.login("alice@example.com", "alice123", machine_guid=GUID_A)
        second_rec = Recorder()
        second = MSNClient(client_config(server, 18), second_rec)
        await second.login("alice@example.com", "alice123", machine_guid=GUID_B)
        try:
            guids = {ep.machine_guid for ep in server.endpoints["alice@example.com"]}
            assert guids == {GUID_A.lower(), GUID_B.lower()}
            assert first.connected and second.connected
            names = {ep.ep_name for ep in server.endpoints["alice@example.com"]}
            assert "Matrix bridge" in names
        finally:
            await second.close()
            await first.close()
