"""Disconnections, keepalive, challenges, server-pushed list changes and list operations."""

from __future__ import annotations

import asyncio

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.errors import ConnectionClosed, MSNPError
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    Disconnected,
    GroupChanged,
    ListSynced,
    PresenceChanged,
    TextMessageReceived,
)
from bridge.msnp.values import DisconnectReason, Group, Lists, Status
from tests.msn_server import AL, BL, FL
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import logged_in, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("protocol", [7, 12])
async def test_out_oth(protocol: int) -> None:
    async with running_server() as server:
        client, rec = await logged_in(server, "alice@example.com", protocol)
        await server.kick_other_location("alice@example.com")
        event = await rec.wait(Disconnected)
        assert event.reason is DisconnectReason.OTHER_LOCATION
        assert not client.connected
        assert len(rec.of(Disconnected)) == 1
        with pytest.raises(ConnectionClosed):
            await client.set_status(Status.AWAY)
        await client.close()  # harmless on a dead client
        assert len(rec.of(Disconnected)) == 1


async def test_out_ssd() -> None:
    async with running_server() as server:
        client, rec = await logged_in(server, "alice@example.com", 9)
        await server.shutdown_notice()
        assert (await rec.wait(Disconnected)).reason is DisconnectReason.SERVER_SHUTDOWN
        assert not client.connected


async def test_second_login_kicks_the_first() -> None:
    async with running_server() as server:
        first, rec = await logged_in(server, "alice@example.com", 12)
        second, _ = await logged_in(server, "alice@example.com", 12)
        try:
            assert (await rec.wait(Disconnected)).reason is DisconnectReason.OTHER_LOCATION
            assert second.connected and not first.connected
        finally:
            await second.close()


async def test_server_drop() -> None:
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", 12)
        bob, _ = await logged_in(server, "bob@example.com", 12)
        await alice.send_text("bob@example.com", "hi")
        await server.drop("alice@example.com")
        event = await rec.wait(Disconnected)
        assert event.reason is DisconnectReason.CONNECTION_LOST
        assert not alice.connected
        # the switchboards are left once the session is gone (nothing was in flight)
        await wait_until(lambda: alice.conversations() == {})
        await bob.close()


async def test_message_in_flight_when_the_session_drops_is_still_acknowledged() -> None:
    # A switchboard lives on at the server when the notification session drops: a message
    # written just before is delivered, and its acknowledgement must not be thrown away (the
    # sender would have to guess whether it arrived). What the contact sends meanwhile
    # arrives too. Only then are the switchboards left, and nothing new is sent on them.
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", 12)
        bob, bob_rec = await logged_in(server, "bob@example.com", 12)
        try:
            await alice.send_text("bob@example.com", "first")
            await bob_rec.wait(TextMessageReceived, text="first")
            sending = asyncio.create_task(alice.send_text("bob@example.com", "in flight"))
            await asyncio.sleep(0)  # written; the server has not read it yet
            await server.drop("alice@example.com")
            await bob.send_text("alice@example.com", "meanwhile")
            await sending  # acknowledged, not ConnectionClosed
            await bob_rec.wait(TextMessageReceived, text="in flight")
            await rec.wait(Disconnected)
            await rec.wait(TextMessageReceived, text="meanwhile")
            with pytest.raises(ConnectionClosed):
                await alice.send_text("bob@example.com", "after the drop")
            await wait_until(lambda: alice.conversations() == {})
        finally:
            await bob.close()


async def test_keepalive_timeout_when_server_stalls() -> None:
    async with running_server() as server:
        client, rec = await logged_in(
            server, "alice@example.com", 9, keepalive_interval=0.2, keepalive_timeout=0.4
        )
        await wait_until(lambda: server.counters["png"] >= 3)  # PNG/QNG rounds succeed
        assert client.connected and not rec.of(Disconnected)
        server.stall("alice@example.com", 3.0)
        event = await rec.wait(Disconnected, timeout=3)
        assert event.reason is DisconnectReason.KEEPALIVE_TIMEOUT
        assert not client.connected


async def test_protocol_error_from_server() -> None:
    async with running_server() as server:
        client, rec = await logged_in(server, "alice@example.com", 12)
        await server.send_raw("alice@example.com", b"!!garbage!! line\r\n")
        event = await rec.wait(Disconnected)
        assert event.reason is DisconnectReason.PROTOCOL_ERROR
        assert "malformed" in event.detail
        assert not client.connected


@pytest.mark.parametrize("protocol", [8, 11])
async def test_challenges_are_answered(protocol: int) -> None:
    async with running_server(challenge_interval=0.1, challenge_timeout=1.0) as server:
        client, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            await wait_until(lambda: server.counters["challenges_answered"] >= 3)
            assert client.connected and not rec.of(Disconnected)
            assert server.online("alice@example.com") == "NLN"
        finally:
            await client.close()


@pytest.mark.parametrize("protocol", [5, 9, 12])
async def test_reverse_list_add_and_remove_are_pushed(protocol: int) -> None:
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        dave, _ = await logged_in(server, "dave@example.com", 12)
        try:
            await dave.add_contact("alice@example.com", friendly_name="Alice")
            added = await rec.wait(ContactAdded, passport="dave@example.com")
            assert added.list_ is Lists.REVERSE
            assert alice.contacts["dave@example.com"].lists & Lists.REVERSE
            await dave.remove_contact("alice@example.com")
            removed = await rec.wait(ContactRemoved, passport="dave@example.com")
            assert removed.list_ is Lists.REVERSE
            assert not alice.contacts["dave@example.com"].lists & Lists.REVERSE
        finally:
            await dave.close()
            await alice.close()


@pytest.mark.parametrize("protocol", [7, 9, 12])
async def test_list_operations(protocol: int) -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", protocol)
        account = server.account("alice@example.com")
        try:
            group = await alice.add_group("Work mates")
            assert alice.groups[group.id].name == "Work mates"
            assert any(g.name == "Work mates" for g in account.groups.values())
            await alice.rename_group(group.id, "Colleagues")
            assert any(g.name == "Colleagues" for g in account.groups.values())

            await alice.add_contact("dave@example.com", group=group.id, friendly_name="Dave")
            entry = account.contacts["dave@example.com"]
            assert entry.lists & FL
            assert len(entry.groups) == 1
            assert alice.contacts["dave@example.com"].lists & Lists.FORWARD
            assert group.id in alice.contacts["dave@example.com"].groups

            await alice.block("carol@example.com")
            assert account.contacts["carol@example.com"].lists & BL
            assert not account.contacts["carol@example.com"].lists & AL
            await alice.unblock("carol@example.com")
            assert account.contacts["carol@example.com"].lists & AL
            assert not account.contacts["carol@example.com"].lists & BL

            await alice.remove_contact("dave@example.com", group=group.id)
            assert not account.contacts["dave@example.com"].groups
            await alice.remove_contact("dave@example.com")
            entry = account.contacts.get("dave@example.com")
            assert entry is None or not entry.lists & FL
            await alice.remove_group(group.id)
            assert group.id not in alice.groups
            assert not any(g.name == "Colleagues" for g in account.groups.values())

            await alice.set_privacy(False)
            assert account.blp == "BL"
            await alice.set_privacy(True)
            assert account.blp == "AL"

            with pytest.raises(MSNPError):
                await alice.remove_group("9999" if protocol < 10 else "no-such-group")
        finally:
            await alice.close()


@pytest.mark.parametrize("protocol", [7, 9, 12])
async def test_own_list_changes_are_reported_once_confirmed(protocol: int) -> None:
    """The user's own changes come back as the events a server push makes, once the server
    confirmed them; a refused change makes none."""
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            await rec.wait(ListSynced)
            rec.clear()
            group = await alice.add_group("Work mates")
            assert await rec.wait(GroupChanged) == GroupChanged(group)
            await alice.rename_group(group.id, "Colleagues")
            renamed = await rec.wait(GroupChanged, group=Group(group.id, "Colleagues"))
            assert not renamed.removed

            await alice.add_contact("dave@example.com", group=group.id, friendly_name="Dave")
            added = await rec.wait(ContactAdded, passport="dave@example.com", group=group.id)
            assert added.list_ is Lists.FORWARD and added.friendly_name == "Dave"
            assert not rec.of(ContactAdded, list_=Lists.REVERSE)  # nobody added us
            if protocol >= 10:
                assert added.guid == server.account("dave@example.com").guid
            await alice.add_contact("dave@example.com", Lists.ALLOW)
            await rec.wait(ContactAdded, passport="dave@example.com", list_=Lists.ALLOW)

            await alice.block("carol@example.com")
            await rec.wait(ContactAdded, passport="carol@example.com", list_=Lists.BLOCK)
            assert rec.of(ContactRemoved, passport="carol@example.com", list_=Lists.ALLOW)
            await alice.unblock("carol@example.com")
            await rec.wait(ContactRemoved, passport="carol@example.com", list_=Lists.BLOCK)

            friends = next(g.id for g in alice.groups.values() if g.name == "Friends")
            await alice.move_contact("bob@example.com", friends, group.id)
            await rec.wait(ContactAdded, passport="bob@example.com", group=group.id)
            await rec.wait(ContactRemoved, passport="bob@example.com", group=friends)
            assert alice.contacts["bob@example.com"].groups == (group.id,)
            bob_groups = server.account("alice@example.com").contacts["bob@example.com"].groups
            assert len(bob_groups) == 1

            await alice.remove_contact("dave@example.com")
            removed = await rec.wait(ContactRemoved, passport="dave@example.com", group=None)
            assert removed.list_ is Lists.FORWARD
            assert alice.contacts["dave@example.com"].groups == ()
            await alice.remove_group(group.id)
            gone = await rec.wait(GroupChanged, removed=True)
            assert gone.group.id == group.id
            assert alice.contacts["bob@example.com"].groups == ()

            count = len(rec.events)
            with pytest.raises(MSNPError):
                await alice.remove_group(group.id)  # no longer there: refused
            with pytest.raises(MSNPError):
                await alice.remove_contact("nobody@example.com", Lists.ALLOW)
            # the next confirmed change's event follows directly: the refusals made none
            later = await alice.add_group("Later")
            assert await rec.wait(GroupChanged, group=later)
            assert len(rec.events) == count + 1
        finally:
            await alice.close()


async def test_blocked_contact_sees_us_offline() -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 12)
        bob, b_rec = await logged_in(server, "bob@example.com", 12)
        try:
            await b_rec.wait(PresenceChanged, passport="alice@example.com", status=Status.ONLINE)
            await alice.block("bob@example.com")
            await b_rec.wait(PresenceChanged, passport="alice@example.com", status=Status.OFFLINE)
        finally:
            await bob.close()
            await alice.close()


async def test_close_emits_disconnected_client() -> None:
    async with running_server() as server:
        client, rec = await logged_in(server, "alice@example.com", 12)
        await client.close()
        event = await rec.wait(Disconnected)
        assert event.reason is DisconnectReason.CLIENT
        await wait_until(lambda: server.online("alice@example.com") is None)
        with pytest.raises(RuntimeError):
            await client.login("alice@example.com", "alice123")
        assert isinstance(client, MSNClient)


@pytest.mark.parametrize("protocol", [7, 12])
async def test_group_renamed_elsewhere_is_pushed(protocol: int) -> None:
    async with running_server() as server:
        alice, rec = await logged_in(server, "alice@example.com", protocol)
        try:
            (group_id,) = [g.id for g in alice.groups.values() if g.name == "Friends"]
            await server.rename_group_elsewhere("alice@example.com", "Friends", "Best Friends")
            changed = await rec.wait(GroupChanged)
            assert changed.group == Group(group_id, "Best Friends")
            assert not changed.removed
            assert alice.groups[group_id].name == "Best Friends"
        finally:
            await alice.close()
