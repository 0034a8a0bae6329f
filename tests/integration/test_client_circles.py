"""MSNClient and MSNP18 circles against tests/msn_server: the circles and their members at
login, messages both ways, members joining and leaving, the user's other endpoint."""

from __future__ import annotations

import pytest

from bridge.msnp.circles import CircleMembersChanged, CirclesLoaded, conversation_key
from bridge.msnp.errors import UnknownConversation
from bridge.msnp.events import (
    NudgeReceived,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from tests.msn_server import MSNServer
from tests.msn_server.circle_client import circle_member, sdg
from tests.msn_server.fixtures import running_server
from tests.msn_server.rawclient import RawClient
from tests.support.client_fixtures import logged_in

pytestmark = pytest.mark.timeout(60)

ALICE, BOB, CAROL, DAVE = "alice@example.com", "bob@example.com", "carol@example.com", (
    "dave@example.com")  # fmt: skip
GUID_BOB = "{b0b0b0b0-0000-4000-8000-000000000000}"
GUID_DAVE = "{dddddddd-0000-4000-8000-000000000000}"


async def _member_joins(server: MSNServer, email: str, password: str, guid: str) -> RawClient:
    return await circle_member(server, email, password, guid)


async def test_circle_at_login_and_messages_both_ways() -> None:
    async with running_server() as server:
        circle = server.add_circle("Book club", ALICE, [BOB, CAROL])
        server.add_circle("Someone else's", CAROL, [BOB])
        alice, rec = await logged_in(server, ALICE, 18)
        bob = await _member_joins(server, BOB, "bob123", GUID_BOB)
        try:
            loaded = await rec.wait(CirclesLoaded)
            key = conversation_key(circle.guid)
            assert [(c.circle_id, c.name, c.key) for c in loaded.circles] == [
                (circle.guid, "Book club", key)]  # fmt: skip
            members = await rec.wait(CircleMembersChanged, conversation=key)
            assert {m.email for m in members.members} == {ALICE, BOB, CAROL}
            assert set(alice.participants(key)) == {BOB, CAROL}
            assert key in alice.conversations()
            assert alice.circles[circle.guid].name == "Book club"
            # the library's endpoint joined the circle on the server
            assert any(c.account and c.account.email == ALICE for c in circle.joined)

            await bob.cmd("SDG", payload=sdg(circle.guid, BOB, GUID_BOB, "chapter 3 tonight?"))
            got = await rec.wait(TextMessageReceived, conversation=key)
            assert (got.sender, got.text) == (BOB, "chapter 3 tonight?")
            assert set(got.participants) == {BOB, CAROL}

            await alice.send_text(key, "yes, at eight ✓")
            relayed = await bob.expect("SDG")
            assert relayed.payload is not None
            assert relayed.payload.endswith("yes, at eight ✓".encode())
            assert f"To: 9:{circle.guid}@live.com;path=IM".encode() in relayed.payload
            assert server.circle_messages[-1][:2] == (circle.id, ALICE)

            with pytest.raises(UnknownConversation):
                await alice.send_text(conversation_key("00000000-0000-0000-0009-0123456789ab"),
                                      "nobody")  # fmt: skip
        finally:
            await alice.close()
            await bob.close()


async def test_members_join_and_leave() -> None:
    async with running_server() as server:
        circle = server.add_circle("Family", ALICE, [BOB])
        key = conversation_key(circle.guid)
        alice, rec = await logged_in(server, ALICE, 18)
        try:
            await rec.wait(CircleMembersChanged, conversation=key)
            # the admin adds dave on the web: NOT -> the members are fetched again
            server.change_circle_members(circle, add=[DAVE])
            joined = await rec.wait(SwitchboardJoined, conversation=key, passport=DAVE)
            assert set(joined.participants) == {BOB, DAVE}
            changed = await rec.wait(
                CircleMembersChanged, lambda e: DAVE in {m.email for m in e.members},
                conversation=key,
            )  # fmt: skip
            assert {m.email for m in changed.members} == {ALICE, BOB, DAVE}
            # bob is taken out: NFY DEL
            server.change_circle_members(circle, remove=[BOB])
            left = await rec.wait(SwitchboardLeft, conversation=key, passport=BOB)
            assert BOB not in left.participants
            assert set(alice.participants(key)) == {DAVE}
        finally:
            await alice.close()


async def test_a_member_who_comes_online_in_the_roster_joins() -> None:
    async with running_server() as server:
        circle = server.add_circle("Climbing", ALICE, [BOB])
        key = conversation_key(circle.guid)
        alice, rec = await logged_in(server, ALICE, 18)
        try:
            await rec.wait(CircleMembersChanged, conversation=key)
            circle.members[DAVE] = type(circle.members[BOB])()  # added without a notice
            dave = await _member_joins(server, DAVE, "dave123", GUID_DAVE)
            async with dave:
                joined = await rec.wait(SwitchboardJoined, conversation=key, passport=DAVE)
                assert DAVE in joined.participants
        finally:
            await alice.close()


async def test_messages_from_the_users_other_endpoint_arrive() -> None:
    async with running_server() as server:
        circle = server.add_circle("Trip", ALICE, [BOB])
        key = conversation_key(circle.guid)
        alice, rec = await logged_in(server, ALICE, 18)
        phone = await _member_joins(server, ALICE, "alice123", GUID_BOB)
        try:
            await rec.wait(CirclesLoaded)
            await alice.send_text(key, "from the bridge")
            assert (await phone.expect("SDG")).payload is not None
            await phone.cmd("SDG", payload=sdg(circle.guid, ALICE, GUID_BOB, "from my phone"))
            got = await rec.wait(TextMessageReceived, conversation=key)
            assert (got.sender, got.text) == (ALICE, "from my phone")
        finally:
            await alice.close()
            await phone.close()


async def test_typing_and_nudges_from_a_member() -> None:
    async with running_server() as server:
        circle = server.add_circle("Band", ALICE, [BOB])
        key = conversation_key(circle.guid)
        alice, rec = await logged_in(server, ALICE, 18)
        bob = await _member_joins(server, BOB, "bob123", GUID_BOB)
        try:
            await rec.wait(CirclesLoaded)
            head = (
                f"Routing: 1.0\r\nTo: 9:{circle.guid}@live.com;path=IM\r\nFrom: 1:{BOB};"
                f"epid={GUID_BOB}\r\n\r\nReliability: 1.0\r\n\r\nMessaging: 2.0\r\n"
            ).encode()
            typing = b"Content-Length: 2\r\nContent-Type: text/x-msmsgscontrol\r\nMessage-Type: " \
                b"Control\r\nMessage-Subtype: Typing\r\n\r\n\r\n"  # fmt: skip
            await bob.cmd("SDG", payload=head + typing)
            got = await rec.wait(TypingReceived, conversation=key)
            assert got.sender == BOB
            nudge = b"Content-Length: 9\r\nContent-Type: Text/plain; charset=UTF-8\r\n" \
                b"Message-Type: Nudge\r\n\r\nID: 1\r\n\r\n"  # fmt: skip
            await bob.cmd("SDG", payload=head + nudge)
            assert (await rec.wait(NudgeReceived, conversation=key)).sender == BOB
        finally:
            await alice.close()
            await bob.close()
