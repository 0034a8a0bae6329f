"""End to end at MSNP15 and MSNP18: the user's own Messenger beside the bridge, offline
messages both ways, address-book edits from the bot.

One stack per version (Synapse, the MSN test server, the bridge with ``msn.protocol_max`` 15
or 18), shared by the tests of that version. The user's own Messenger is a raw client from the
test server's helpers (written apart from ``bridge.msnp``), signed in before the bridge. At
MSNP18 it has a machine GUID of its own and both stay on (MPOP); MSNP15 has one place to sign
in from, so the server signs the Messenger out (``OUT OTH``) and the bridge carries on alone.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
from dataclasses import replace
import re

from mautrix.types import EventType, PaginationDirection
import pytest
import pytest_asyncio

from bridge.msnp.events import TextMessageReceived
from bridge.msnp.values import Status
from tests.msn_server import AL, FL, MSNServer
from tests.msn_server.msnp13_helpers import GUID_A, caps_for, initial_ml
from tests.msn_server.rawclient import RawClient, login_sso
from tests.support.harness import MSNPeer, Stack, poll
from tests.support.synapse import synapse_python

TEXT = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"


@pytest_asyncio.fixture(
    scope="module", loop_scope="session", params=[15, 18], ids=["msnp15", "msnp18"]
)
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    version: int = request.param

    def configure(config: dict[str, Any]) -> None:
        config["msn"]["protocol_max"] = version

    stack = Stack(tmp_path_factory.mktemp(f"e2e-msnp{version}"), "sqlite", configure=configure)
    async with stack.running():
        yield stack


def _version(stack: Stack) -> int:
    return int(stack.config["msn"]["protocol_max"])


def _peer(stack: Stack, passport: str, password: str) -> MSNPeer:
    """A contact signed in at the stack's version."""
    return MSNPeer(
        replace(stack.client_config(), protocols=(_version(stack),)), passport, password
    )


async def _messenger(msn: MSNServer, email: str, password: str, version: int) -> RawClient:
    """The user's own Messenger: SSO login, the initial ADL, CHG NLN."""
    client, _ = await login_sso(
        msn.ns_address, msn.http_base, email, password, version, machine_guid=GUID_A
    )
    t = await client.cmd("ADL", payload=initial_ml(msn, email))
    await client.expect(f"ADL {t}")
    t = await client.cmd("CHG", "NLN", caps_for(version))
    await client.expect(f"CHG {t}")
    return client


async def _still_on(messenger: RawClient) -> None:
    """A round trip on the Messenger's NS connection (an OUT OTH would have closed it)."""
    await messenger.cmd("PNG")
    await messenger.expect("QNG")


async def _chat_both_ways(stack: Stack, pair: Any, user: Any) -> tuple[str, MSNPeer]:
    """The contact writes, the message reaches Matrix; the user answers, the contact gets it."""
    bob = _peer(stack, pair.contact, pair.contact_password)
    await bob.login()
    room, _ = await stack.open_dm(pair, user, bob, f"hello from bob at MSNP{_version(stack)}")
    mark = bob.mark()
    await user.send_text(room, "hello back from Matrix")
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "hello back from Matrix", after=mark
    )
    assert got.sender == pair.passport
    return room, bob


async def test_msnp15_the_bridge_takes_over_from_the_users_messenger(stack: Stack) -> None:
    """No MPOP at MSNP15: the bridge's login signs the user's Messenger out (OUT OTH), never
    the other way round; the bridge is the account's one endpoint and chats both ways."""
    if _version(stack) != 15:
        pytest.skip("MSNP16+ keep both endpoints (the next test)")
    pair = stack.new_pair()
    msn = stack.msn
    messenger = await _messenger(msn, pair.passport, pair.password, 15)
    async with messenger:
        user, _ = await stack.logged_in(pair)
        out = await messenger.expect("OUT")
        assert out.line == "OUT OTH"
        assert await messenger.expect_closed() == []
    (endpoint,) = msn.endpoints[pair.passport]
    assert endpoint.v == 15 and endpoint.machine_guid is None
    _, bob = await _chat_both_ways(stack, pair, user)
    try:
        assert msn.endpoints[pair.passport] == [endpoint]  # still the bridge, still signed in
    finally:
        await bob.close()


async def test_msnp18_chat_both_ways_beside_the_users_messenger(stack: Stack) -> None:
    if _version(stack) < 16:
        pytest.skip("MSNP15 has one endpoint per account (the test above)")
    pair = stack.new_pair()
    msn = stack.msn
    messenger = await _messenger(msn, pair.passport, pair.password, 18)
    async with messenger:
        user, _ = await stack.logged_in(pair)
        bridge_endpoints = [
            ep for ep in msn.endpoints[pair.passport] if ep.machine_guid != GUID_A.lower()
        ]
        assert len(bridge_endpoints) == 1 and bridge_endpoints[0].v == 18
        assert bridge_endpoints[0].ep_name == "Matrix bridge"
        await _still_on(messenger)

        bob = _peer(stack, pair.contact, pair.contact_password)
        await bob.login()
        try:
            # the contact writes: the message reaches the Matrix room
            room, _ = await stack.open_dm(pair, user, bob, "hello from bob at MSNP18")
            # the user answers from Matrix: the contact gets it
            mark = bob.mark()
            await user.send_text(room, "hello back from Matrix")
            got = await bob.wait_for_type(
                TextMessageReceived,
                lambda e: e.text == "hello back from Matrix",
                after=mark,
            )
            assert got.sender == pair.passport

            # the user writes from their own Messenger: it rings the bridge in, then bob
            t = await messenger.cmd("XFR", "SB")
            xfr = await messenger.expect(f"XFR {t}")
            sb = await RawClient.connect(xfr.tokens[3])
            async with sb:
                t = await sb.cmd("USR", f"{pair.passport};{GUID_A}", xfr.tokens[5])
                await sb.expect(f"USR {t}")
                t = await sb.cmd("CAL", pair.passport)
                await sb.expect(f"CAL {t}")
                own = f"joi {pair.passport};"
                while not (await sb.read()).line.lower().startswith(own):
                    pass  # until the bridge's endpoint answered
                t = await sb.cmd("CAL", pair.contact)
                await sb.expect(f"CAL {t}")
                await sb.expect(f"JOI {pair.contact}")
                await sb.cmd("MSG", "N", payload=TEXT + b"typed in my Messenger")
                await user.wait_for_message(
                    room,
                    "You wrote from Messenger: typed in my Messenger",
                    sender=pair.contact_ghost,
                    msgtype="m.notice",
                    timeout=20,
                )
            await _still_on(messenger)
            assert len(msn.endpoints[pair.passport]) == 2
        finally:
            await bob.close()


async def test_offline_messages_bridged_in_order_with_their_times_then_deleted(
    stack: Stack,
) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    sent = 1_700_000_000  # an afternoon in November 2023
    run = "{1A2B3C4D-0000-4000-8000-000000000001}"
    msn.store_oim(pair.contact, pair.passport, "second", received=sent + 30, run_id=run, seq=2)
    msn.store_oim(pair.contact, pair.passport, "first", received=sent, run_id=run, seq=1)
    user, _ = await stack.logged_in(pair)
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    second = await user.wait_for_message(room, "second", sender=pair.contact_ghost, timeout=20)
    # the room's history as the server keeps it (a sync after the join may start after "first")
    page = await user.api.get_messages(room, PaginationDirection.BACKWARD, limit=100)
    messages = [
        e
        for e in reversed(page.events)
        if e.type == EventType.ROOM_MESSAGE and e.sender == pair.contact_ghost
    ]
    assert [e.content.body for e in messages] == ["first", "second"]
    assert messages[0].timestamp == sent * 1000
    assert second["origin_server_ts"] == (sent + 30) * 1000

    async def deleted() -> bool:
        return not msn.oims.get(pair.passport)

    await poll(deleted, 10, "the offline messages deleted on the server")


async def test_a_message_to_an_offline_contact_becomes_an_offline_message(stack: Stack) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    user, _ = await stack.logged_in(pair)
    bob = _peer(stack, pair.contact, pair.contact_password)
    await bob.login()
    room, _ = await stack.open_dm(pair, user, bob, "bye for now")
    await bob.close()

    async def bob_offline() -> bool:
        return msn.online(pair.contact) is None

    await poll(bob_offline, 10, "bob offline")
    await user.send_text(room, "read this when you are back")

    async def stored() -> bool:
        return any(m.text == "read this when you are back" for m in msn.oims.get(pair.contact, []))

    await poll(stored, 20, "the offline message stored for bob")
    (oim,) = msn.oims[pair.contact]
    assert oim.sender == pair.passport


async def test_address_book_edits_from_the_bot_reach_the_server(stack: Stack) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    carol = stack.unique("carol") + "@example.com"
    msn.add_account(carol, "carolpw", "Carol")
    user, mgmt = await stack.logged_in(pair)
    await stack.command(user, mgmt, "group-create Work", "Created the group")
    account = msn.account(pair.passport)
    work = next(g for g in account.groups.values() if g.name == "Work")
    await stack.command(user, mgmt, f"add {carol} Work", "Added")
    entry = account.contacts[carol]
    assert entry.lists & (FL | AL) == FL | AL and work.number in entry.groups
    # an address with no account: FQY says so before the address book is touched
    reply = await stack.command(user, mgmt, "add nobody@example.com", "refused")
    assert "there is no MSN account with that address" in reply["content"]["body"]
    await stack.command(user, mgmt, f"block {pair.contact}", "Blocked")
    assert not account.on(pair.contact, AL)
    await stack.command(user, mgmt, "privacy notify off", re.compile("will not be told"))
    assert account.gtc == "N"
    await stack.command(user, mgmt, f"remove {carol}", "Removed")
    assert not account.on(carol, FL)


async def test_an_expired_address_book_ticket_is_renewed(stack: Stack) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    user, mgmt = await stack.logged_in(pair)
    rst = msn.counters["http_rst"]
    assert msn.tickets.expire("contacts.msn.com") >= 1
    await stack.command(user, mgmt, "group-create Later", "Created the group")
    assert any(g.name == "Later" for g in msn.account(pair.passport).groups.values())
    assert msn.counters["http_rst"] > rst


async def test_alias_is_the_contacts_nickname_in_the_address_book(stack: Stack) -> None:
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    entry = stack.msn.account(pair.passport).contacts[pair.contact]
    await stack.command(user, mgmt, f"alias {pair.contact} Bobby  from work", "nickname")
    assert entry.nickname == "Bobby from work"
    listed = await stack.command(user, mgmt, "contacts", pair.contact)
    assert "your nickname **Bobby from work**" in listed["content"]["body"]
    await stack.command(user, mgmt, f"alias {pair.contact}", "Cleared your nickname")
    assert not entry.nickname
    reply = await stack.command(user, mgmt, "alias stranger@example.com Who", "contact list")
    assert "`add` them first" in reply["content"]["body"]


async def test_alias_at_msnp12_says_why_not(stack12: Stack) -> None:
    pair = stack12.new_pair()
    user, mgmt = await stack12.logged_in(pair)
    await stack12.command(user, mgmt, f"alias {pair.contact} Bobby", "MSNP13 and newer")
    assert not stack12.msn.account(pair.passport).contacts[pair.contact].nickname


async def test_people_adding_the_user_are_announced_once_per_burst(stack: Stack) -> None:
    """At MSNP13+ the server pushes each new reverse-list entry as an ADL (l="8"): a burst of
    them is one notice, as with MSNP12's ADC RL lines."""
    pair = stack.new_pair()
    msn = stack.msn
    user, mgmt = await stack.logged_in(pair)
    bob = _peer(stack, pair.contact, pair.contact_password)
    await bob.login()
    try:
        mark = user.mark(mgmt)
        tag = stack.unique("fan")
        fans = [f"{tag}-{i}@example.com" for i in range(25)]
        for i, fan in enumerate(fans):
            msn.add_account(fan, "fanpw", f"Fan {i}")
        for fan in fans:
            msn.list_add(msn.account(fan), pair.passport, FL)
        await bob.client.set_status(Status.BUSY)  # last: once it shows, the adds were handled

        async def bob_busy() -> bool:
            return await stack.ghost_presence(pair.contact_ghost) == "unavailable"

        await poll(bob_busy, 30, "bob's ghost busy")
        notice = await user.wait_for_message(
            mgmt,
            re.compile("added you to their MSN contact list"),
            sender=stack.bot_mxid,
            after=mark,
            timeout=20,
        )
        assert "and 5 more" in notice["content"]["body"]
        added = [
            e
            for e in user.timeline.get(mgmt, [])[mark:]
            if e.get("type") == "m.room.message" and "added you" in e["content"].get("body", "")
        ]
        assert len(added) == 1, [e["content"]["body"] for e in added]
    finally:
        await bob.close()
