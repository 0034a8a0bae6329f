"""Two (and three) MSNClients talking through tests/msn_server: presence, names and messages.

Alice logs in with MD5 at MSNP7, Bob with Passport (TWN) at MSNP12, Carol at MSNP11.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bridge.msnp.client import GROUP_PREFIX, MSNClient
from bridge.msnp.errors import DeliveryFailed, MSNPError, UnknownConversation
from bridge.msnp.events import (
    NudgeReceived,
    PersonalMessageChanged,
    PresenceChanged,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.msnp.message import MAX_MSG_PAYLOAD
from bridge.msnp.values import MessageFormat, Status
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import Recorder, logged_in

pytestmark = pytest.mark.timeout(60)


@dataclass
class Pair:
    server: MSNServer
    alice: MSNClient
    alice_events: Recorder
    bob: MSNClient
    bob_events: Recorder


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    async with running_server() as server:
        alice, a_rec = await logged_in(server, "alice@example.com", 7)
        bob, b_rec = await logged_in(server, "bob@example.com", 12)
        try:
            yield Pair(server, alice, a_rec, bob, b_rec)
        finally:
            await bob.close()
            await alice.close()


async def test_presence_both_ways(pair: Pair) -> None:
    # Bob logged in after Alice: Alice sees NLN, Bob sees Alice in the initial ILN list.
    seen_by_alice = await pair.alice_events.wait(
        PresenceChanged, passport="bob@example.com", status=Status.ONLINE
    )
    assert not seen_by_alice.initial
    seen_by_bob = await pair.bob_events.wait(PresenceChanged, passport="alice@example.com")
    assert seen_by_bob.initial and seen_by_bob.status is Status.ONLINE

    await pair.bob.set_status(Status.AWAY)
    await pair.alice_events.wait(PresenceChanged, passport="bob@example.com", status=Status.AWAY)
    assert pair.alice.contacts["bob@example.com"].status is Status.AWAY
    await pair.alice.set_status(Status.BE_RIGHT_BACK)
    await pair.bob_events.wait(
        PresenceChanged, passport="alice@example.com", status=Status.BE_RIGHT_BACK
    )
    assert pair.alice.status is Status.BE_RIGHT_BACK

    await pair.bob.close()
    await pair.alice_events.wait(
        PresenceChanged, passport="bob@example.com", status=Status.OFFLINE
    )


async def test_friendly_name_changes(pair: Pair) -> None:
    await pair.alice.set_friendly_name("Alice ✨ in Wonderland")  # REA (MSNP7)
    event = await pair.bob_events.wait(
        PresenceChanged, passport="alice@example.com", friendly_name="Alice ✨ in Wonderland"
    )
    assert event.status is Status.ONLINE
    assert pair.alice.friendly_name == "Alice ✨ in Wonderland"

    await pair.bob.set_friendly_name("Bob % 100")  # PRP MFN (MSNP12)
    await pair.alice_events.wait(
        PresenceChanged, passport="bob@example.com", friendly_name="Bob % 100"
    )
    assert pair.alice.contacts["bob@example.com"].friendly_name == "Bob % 100"


async def test_personal_message(pair: Pair) -> None:
    carol, c_rec = await logged_in(pair.server, "carol@example.com", 11)
    try:
        await pair.bob.set_personal_message("<b>busy</b> & happy ☺")
        event = await c_rec.wait(
            PersonalMessageChanged,
            lambda e: e.personal_message != "",
            passport="bob@example.com",
        )
        assert event.personal_message == "<b>busy</b> & happy ☺"
        assert carol.contacts["bob@example.com"].personal_message == "<b>busy</b> & happy ☺"
        await pair.alice.set_personal_message("ignored below MSNP11")  # no-op, no error
    finally:
        await carol.close()


async def test_text_typing_and_nudges_both_ways(pair: Pair) -> None:
    fmt = MessageFormat(font="Comic Sans MS", effects="BI", color="ff8000")
    await pair.alice.send_text("bob@example.com", "Héllo Bob 👋", fmt)
    got = await pair.bob_events.wait(TextMessageReceived, conversation="alice@example.com")
    assert got.text == "Héllo Bob 👋"
    assert got.sender == "alice@example.com" and got.sender_name == "Alice"
    assert got.format.font == "Comic Sans MS"
    assert got.format.bold and got.format.italic and not got.format.underline
    assert got.format.color == "ff8000"
    assert got.participants == ("alice@example.com",)
    joined = await pair.alice_events.wait(SwitchboardJoined, conversation="bob@example.com")
    assert joined.passport == "bob@example.com"

    await pair.bob.send_text("alice@example.com", "Hi Alice, ça va? 日本語")
    back = await pair.alice_events.wait(TextMessageReceived, conversation="bob@example.com")
    assert back.text == "Hi Alice, ça va? 日本語"
    assert back.format.color == "000000"

    await pair.alice.send_typing("bob@example.com")
    typing = await pair.bob_events.wait(TypingReceived, conversation="alice@example.com")
    assert typing.sender == "alice@example.com"
    await pair.bob.send_typing("alice@example.com")
    await pair.alice_events.wait(TypingReceived, sender="bob@example.com")

    await pair.alice.send_nudge("bob@example.com")
    await pair.bob_events.wait(NudgeReceived, sender="alice@example.com")
    await pair.bob.send_nudge("alice@example.com")
    await pair.alice_events.wait(NudgeReceived, sender="bob@example.com")

    # both directions used the one switchboard Alice opened
    assert pair.server.counters["sb_sessions"] == 1
    assert pair.alice.participants("bob@example.com") == ("bob@example.com",)


async def test_long_message_arrives_whole(pair: Pair) -> None:
    text = ("Zażółć gęślą jaźń 😀 " * 400)[:5000]
    assert len(text.encode()) > 5000
    await pair.alice.send_text("bob@example.com", text)
    parts: list[str] = []

    def complete(_: TextMessageReceived) -> bool:
        parts[:] = [e.text for e in pair.bob_events.of(TextMessageReceived)]
        return "".join(parts) == text

    await pair.bob_events.wait(TextMessageReceived, complete)
    assert len(parts) > 1
    sent = [m for m in pair.server.messages if m.sender == "alice@example.com"]
    assert all(len(m.payload) <= MAX_MSG_PAYLOAD for m in sent)
    assert all(m.delivered for m in sent)


async def test_switchboard_reopens_after_close(pair: Pair) -> None:
    await pair.alice.send_text("bob@example.com", "one")
    await pair.bob_events.wait(TextMessageReceived, text="one")
    await pair.server.close_switchboards("alice@example.com")
    await pair.alice_events.wait(SwitchboardClosed, conversation="bob@example.com")
    await pair.bob_events.wait(SwitchboardLeft, passport="alice@example.com")
    await pair.alice.send_text("bob@example.com", "two")
    await pair.bob_events.wait(TextMessageReceived, text="two")
    assert pair.server.counters["sb_sessions"] == 2


async def test_offline_contact_gives_217(pair: Pair) -> None:
    with pytest.raises(MSNPError) as info:
        await pair.alice.send_text("carol@example.com", "are you there?")
    assert info.value.code == 217


async def test_nak_raises_delivery_failed(pair: Pair) -> None:
    await pair.alice.send_text("bob@example.com", "fine")
    await pair.bob_events.wait(TextMessageReceived, text="fine")
    pair.server.nak_messages_from("alice@example.com")
    with pytest.raises(DeliveryFailed):
        await pair.alice.send_text("bob@example.com", "lost")


async def test_third_participant_gets_group_key() -> None:
    async with running_server() as server:
        alice, a_rec = await logged_in(server, "alice@example.com", 7)
        bob, b_rec = await logged_in(server, "bob@example.com", 12)
        carol, c_rec = await logged_in(server, "carol@example.com", 11)
        try:
            await alice.send_text("bob@example.com", "just us")
            await b_rec.wait(TextMessageReceived, text="just us")
            key = await alice.invite("bob@example.com", "carol@example.com")
            assert key.startswith(GROUP_PREFIX)
            joined = await a_rec.wait(SwitchboardJoined, passport="carol@example.com")
            assert joined.conversation == key
            assert set(joined.participants) == {"bob@example.com", "carol@example.com"}
            assert set(alice.participants(key)) == {"bob@example.com", "carol@example.com"}

            bob_join = await b_rec.wait(SwitchboardJoined, passport="carol@example.com")
            bob_key = bob_join.conversation
            assert bob_key.startswith(GROUP_PREFIX)
            carol_join = await c_rec.wait(SwitchboardJoined, passport="bob@example.com")
            carol_key = carol_join.conversation
            assert carol_key.startswith(GROUP_PREFIX)

            await alice.send_text(key, "hello both")
            assert (await b_rec.wait(TextMessageReceived, text="hello both")).conversation == (
                bob_key
            )
            await c_rec.wait(TextMessageReceived, text="hello both", conversation=carol_key)
            await carol.send_text(carol_key, "hi from carol")
            await a_rec.wait(TextMessageReceived, text="hi from carol", conversation=key)
            await b_rec.wait(TextMessageReceived, text="hi from carol", conversation=bob_key)

            # the group switchboard closes on Alice's side; sending re-opens it and
            # invites the remembered participants again
            await server.close_switchboards("alice@example.com")
            await a_rec.wait(SwitchboardClosed, conversation=key)
            await alice.send_text(key, "back again")
            again = await b_rec.wait(TextMessageReceived, text="back again")
            assert again.sender == "alice@example.com"
            await c_rec.wait(TextMessageReceived, text="back again")
            assert set(alice.participants(key)) == {"bob@example.com", "carol@example.com"}
        finally:
            await carol.close()
            await bob.close()
            await alice.close()


async def test_group_key_from_an_earlier_session_is_restored() -> None:
    async with running_server() as server:
        alice, _ = await logged_in(server, "alice@example.com", 12)
        bob, b_rec = await logged_in(server, "bob@example.com", 12)
        carol, c_rec = await logged_in(server, "carol@example.com", 12)
        try:
            key = "group:0123abcd"  # e.g. a bridge portal created before a reconnect
            with pytest.raises(UnknownConversation):
                await alice.send_text(key, "nobody knows this")
            alice.restore_group(key, ["Bob@example.com", "carol@example.com", "alice@example.com"])
            assert alice.participants(key) == ("bob@example.com", "carol@example.com")
            await alice.send_text(key, "we meet again")
            await b_rec.wait(TextMessageReceived, text="we meet again")
            await c_rec.wait(TextMessageReceived, text="we meet again")
            with pytest.raises(ValueError):
                alice.restore_group("bob@example.com", ["carol@example.com"])
        finally:
            await carol.close()
            await bob.close()
            await alice.close()


async def test_idle_switchboard_closes_and_reopens() -> None:
    async with running_server(sb_idle_timeout=0.5) as server:
        alice, a_rec = await logged_in(server, "alice@example.com", 12)
        bob, b_rec = await logged_in(server, "bob@example.com", 8)
        try:
            await alice.send_text("bob@example.com", "before")
            await b_rec.wait(TextMessageReceived, text="before")
            left = await a_rec.wait(SwitchboardLeft, passport="bob@example.com", timeout=3)
            assert left.idle_timeout and left.participants == ()
            await a_rec.wait(SwitchboardClosed, conversation="bob@example.com")
            await b_rec.wait(SwitchboardClosed, conversation="alice@example.com")
            assert alice.conversations() == {}
            await bob.send_text("alice@example.com", "after")
            await a_rec.wait(TextMessageReceived, text="after", conversation="bob@example.com")
        finally:
            await bob.close()
            await alice.close()
