"""End to end: a Matrix user, the bridge, Synapse and an MSN contact driven by the test.

Every test makes fresh accounts (``stack.new_pair()``): Matrix user ``userN`` with MSN account
``aliceN@example.com``, and the MSN contact ``bobN@example.com`` (mutual contacts), whom the test
drives with a real :class:`bridge.msnp.client.MSNClient` logged in to the same MSN test server.
"""

from __future__ import annotations

from typing import Any, TypeVar
from collections.abc import Awaitable
import re

from bridge.msnp.events import NudgeReceived, PresenceChanged, TextMessageReceived, TypingReceived
from bridge.msnp.values import MessageFormat, Status
from tests.support.harness import Stack, poll

T = TypeVar("T")


async def _eq(value: Awaitable[T], expected: T) -> bool:
    return (await value) == expected


async def test_login_contacts_and_presence(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, mgmt = await stack.logged_in(pair)

    # The bridge really logged in: bob sees alice come online.
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.ONLINE,
        timeout=15,
    )
    assert stack.msn.online(pair.passport) is not None

    # The password message is gone from the room, and from the bridge's logs.
    login_evt = next(
        e for e in user.events(mgmt, "m.room.message", sender=user.mxid) if "login" in str(e)
    )
    fetched = await user.api.get_event(mgmt, login_evt["event_id"])
    assert not fetched.content.serialize().get("body")
    assert pair.password not in stack.bridge.log_text()

    # The contact's ghost has the contact's name and presence.
    ghost = pair.contact_ghost

    async def displayname() -> str | None:
        try:
            return await user.api.get_displayname(ghost)
        except Exception:
            return None

    name = await poll(displayname, what=f"display name of {ghost}")
    assert name == f"{pair.contact_name} (MSN)"
    await poll(lambda: _eq(stack.ghost_presence(ghost), "online"), what="ghost presence online")

    # Status changes on MSN are mirrored.
    await bob.client.set_status(Status.AWAY)
    await poll(
        lambda: _eq(stack.ghost_presence(ghost), "unavailable"),
        what="ghost presence unavailable",
    )
    await bob.close()
    await poll(lambda: _eq(stack.ghost_presence(ghost), "offline"), what="ghost presence offline")


async def test_messages_typing_and_nudges(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    ghost = pair.contact_ghost

    # MSN -> Matrix: the first message opens a DM portal (escaping intact).
    room, first = await stack.open_dm(pair, user, bob, "Hello <from> MSN & co ✓")
    assert first["content"]["msgtype"] == "m.text"
    assert "formatted_body" not in first["content"]
    invite = [
        e
        for e in user.invite_history[room]
        if e.get("type") == "m.room.member" and e.get("state_key") == user.mxid
    ]
    assert invite and invite[-1]["content"].get("is_direct") is True
    assert invite[-1]["sender"] == ghost

    # A whole-message MSN format arrives as HTML.
    await bob.client.send_text(
        pair.passport, "bold red", MessageFormat(effects="B", color="ff0000")
    )
    evt = await user.wait_for_message(room, "bold red", sender=ghost)
    assert evt["content"]["formatted_body"] == '<font color="#ff0000"><b>bold red</b></font>'

    # Matrix -> MSN, with a delivery status event.
    mark = bob.mark()
    reply_id = await user.send_text(room, "Hi Bob, line 1\nline 2")
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.sender == pair.passport, after=mark
    )
    assert got.text.replace("\r\n", "\n") == "Hi Bob, line 1\nline 2"
    status = await user.wait_for_send_status(room, reply_id)
    assert status["content"]["status"] == "SUCCESS"

    # Matrix HTML formatting of the whole message becomes the MSN message format.
    mark = bob.mark()
    await user.send_text(room, "**loud**", html="<b>loud</b>")
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.sender == pair.passport, after=mark
    )
    assert got.text == "loud" and got.format.bold

    # Typing: MSN -> Matrix.
    await bob.client.send_typing(pair.passport)
    await user.wait_for_typing(room, ghost, True)

    # Typing: Matrix -> MSN.
    mark = bob.mark()
    await user.api.set_typing(room, timeout=10000)
    await bob.wait_for_type(TypingReceived, lambda e: e.sender == pair.passport, after=mark)
    await user.api.set_typing(room, timeout=0)

    # Nudge: MSN -> Matrix.
    await bob.client.send_nudge(pair.passport)
    nudge = await user.wait_for_message(room, re.compile("nudge"), sender=ghost)
    assert nudge["content"]["msgtype"] == "m.emote"

    # The user shares a room with the ghost now: the ghost's presence reaches the user.
    await user.wait_for_presence(ghost, "online", timeout=20)


async def test_nudge_from_matrix(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    room, _ = await stack.open_dm(pair, user, bob, "nudge me")
    mark = bob.mark()
    log_mark = stack.bridge.log_mark()
    await user.send_text(room, f"{stack.command_prefix} nudge")
    await bob.wait_for_type(
        NudgeReceived, lambda e: e.sender == pair.passport, after=mark, timeout=10
    )
    # A message sent after the command travels the same switchboard behind anything the
    # command could have sent: once it is there, a second nudge or a leaked text would be too.
    await user.send_text(room, "after the nudge")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "after the nudge", after=mark)
    # Exactly one nudge, and no text message with the command leaked to the contact.
    assert sum(isinstance(e, NudgeReceived) for e in bob.events[mark:]) == 1
    assert stack.texts_after(bob, mark) == ["after the nudge"]
    # Handling a command in a portal room must not raise in the bridge.
    errors = stack.bridge.errors_since(log_mark)
    assert not errors, "\n\n".join(errors)


async def test_send_to_offline_contact_fails_visibly(stack12: Stack) -> None:
    """MSNP12 has no offline messages (at 13+ the message becomes an OIM: test_bridge_msnp18)."""
    stack = stack12
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    room, _ = await stack.open_dm(pair, user, bob, "about to go offline")

    await bob.close()
    await poll(
        lambda: _eq(stack.ghost_presence(pair.contact_ghost), "offline"),
        what="ghost presence offline",
    )
    event_id = await user.send_text(room, "are you there?")
    status = await user.wait_for_send_status(room, event_id, timeout=30)
    content = status["content"]
    assert content["status"] == "FAIL_PERMANENT", content
    assert "offline" in (content.get("message") or content.get("error") or "")
    notice = await user.wait_for_message(
        room, re.compile("not delivered"), msgtype="m.notice", timeout=10
    )
    assert "offline" in notice["content"]["body"]
    # Nothing reached the MSN server's message log for that text.
    assert not any("are you there?" in repr(m) for m in stack.msn.messages)


async def test_restart_keeps_login_and_room(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    room, _ = await stack.open_dm(pair, user, bob, "before restart")

    mark = bob.mark()
    await stack.restart_bridge()

    # The bridge went offline with the process and logs in again by itself.
    offline = await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.OFFLINE,
        after=mark,
        timeout=30,
        what="alice offline while the bridge restarts",
    )
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.ONLINE,
        after=bob.events.index(offline),
        timeout=30,
        what="alice back online after the restart",
    )
    # The conversation continues in the same room, in both directions.
    await bob.client.send_text(pair.passport, "after restart")
    await user.wait_for_message(room, "after restart", sender=pair.contact_ghost, timeout=20)
    # ... and no second portal was opened for the contact.
    ghost_rooms = {
        room_id
        for room_id, events in user.invite_history.items()
        if any(e.get("sender") == pair.contact_ghost for e in events)
    }
    assert ghost_rooms == {room}
    mark = bob.mark()
    await user.send_text(room, "still here")
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.sender == pair.passport, after=mark, timeout=20
    )
    assert got.text == "still here"


async def test_replies_edits_emotes_and_links_to_msn(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    room, original = await stack.open_dm(pair, user, bob, "what's up?")

    async def sent_to_bob(content: dict[str, Any]) -> str:
        mark = bob.mark()
        await user.send_content(room, content)
        got = await bob.wait_for_type(
            TextMessageReceived, lambda e: e.sender == pair.passport, after=mark
        )
        return got.text

    # A reply quotes the original and drops the Matrix reply fallback.
    text = await sent_to_bob(
        {
            "msgtype": "m.text",
            "body": f"> <{pair.contact_ghost}> what's up?\n\nnot much",
            "format": "org.matrix.custom.html",
            "formatted_body": "<mx-reply><blockquote>what's up?</blockquote></mx-reply>not much",
            "m.relates_to": {"m.in_reply_to": {"event_id": original["event_id"]}},
        }
    )
    lines = text.split("\r\n")
    assert lines[-1] == "not much"
    assert lines[0].startswith("> ") and "what's up?" in lines[0]
    assert len(lines) == 2

    # An edit is sent as a new message marked with "* ".
    mark = bob.mark()
    first = await user.send_text(room, "teh typo")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "teh typo", after=mark)
    text = await sent_to_bob(
        {
            "msgtype": "m.text",
            "body": " * the typo",
            "m.new_content": {"msgtype": "m.text", "body": "the typo"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": first},
        }
    )
    assert text == "* the typo"

    # /me and links.
    assert await sent_to_bob({"msgtype": "m.emote", "body": "waves"}) == f"* {pair.name} waves"
    text = await sent_to_bob(
        {
            "msgtype": "m.text",
            "body": "see site",
            "format": "org.matrix.custom.html",
            "formatted_body": 'see <a href="https://example.org/x">site</a>',
        }
    )
    assert text == "see site (https://example.org/x)"


async def test_synapse_restart_with_bridge_restart(stack: Stack) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, _ = await stack.logged_in(pair)
    room, _ = await stack.open_dm(pair, user, bob, "before the homeserver restart")

    mark = bob.mark()
    await stack.restart_synapse()
    # The bridge process restarted too: wait until it logged the user in again (the ghost's
    # presence below may still be the one from before the restart).
    await bob.wait_for_type(
        PresenceChanged,
        lambda e: e.passport == pair.passport and e.status == Status.ONLINE,
        after=mark,
        timeout=30,
        what="alice back online after the restart",
    )

    # New appservice transactions (Synapse numbers them from 1 again) reach the new bridge.
    await poll(
        lambda: _eq(stack.ghost_presence(pair.contact_ghost), "online"),
        timeout=30,
        what="ghost presence online after the restart",
    )
    await bob.client.send_text(pair.passport, "after the homeserver restart")
    await user.wait_for_message(
        room, "after the homeserver restart", sender=pair.contact_ghost, timeout=30
    )
    mark = bob.mark()
    await user.send_text(room, "reply after the homeserver restart")
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.sender == pair.passport, after=mark, timeout=20
    )
    assert got.text == "reply after the homeserver restart"
