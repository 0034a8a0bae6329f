"""Bridge behaviour: login via the bot, DMs both ways with send status, reconnects, groups."""

from __future__ import annotations

import re

from bridge.msnp.events import FileOffered, NudgeReceived, TextMessageReceived, TypingReceived
from bridge.msnp.values import Status
from tests.support.harness import Stack, poll


async def test_login_asks_for_password_and_redacts_it(stack: Stack) -> None:
    pair = stack.new_pair()
    user = await stack.matrix_user(pair.localpart)
    room = await stack.management_room(user)
    bot = stack.bot_mxid

    await stack.command(user, room, "login not-an-email", "Usage")
    await stack.command(user, room, f"login {pair.passport}", "password")
    mark = user.mark(room)
    pw_event = await user.send_text(room, "wrong-password")
    await user.wait_for_message(
        room, re.compile("Wrong e-mail address or password"), bot, after=mark
    )
    # the password message was redacted right away
    await user.wait_for_event(
        room, "m.room.redaction", predicate=lambda e: e.get("redacts") == pw_event
    )

    await stack.command(user, room, f"login {pair.passport}", "password")
    mark = user.mark(room)
    pw_event = await user.send_text(room, pair.password)
    reply = await user.wait_for_message(room, re.compile("Logged in as"), bot, after=mark)
    assert pair.name in reply["content"]["body"]
    assert "MSNP" in reply["content"]["body"]
    await user.wait_for_event(
        room, "m.room.redaction", predicate=lambda e: e.get("redacts") == pw_event
    )
    assert stack.msn.online(pair.passport) is not None

    ping = await stack.command(user, room, "ping", "Connected as")
    assert pair.passport in ping["content"]["body"]
    contacts = await stack.command(user, room, "contacts", pair.contact)
    assert "Friends" in contacts["content"]["body"]
    await stack.command(user, room, "status bogus", "Usage")
    await stack.command(user, room, "status busy", "Busy")
    assert stack.msn.online(pair.passport) == "BSY"


async def test_dm_both_ways_with_send_status(stack: Stack) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    ghost = pair.contact_ghost

    # MSN -> Matrix: the first message creates a DM room from the ghost
    await bob.client.send_text(pair.passport, "hello from msn")
    room = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(room)
    msg = await user.wait_for_message(room, "hello from msn", sender=ghost, timeout=20)
    assert msg["content"]["msgtype"] == "m.text"
    member = await user.wait_for_membership(room, ghost, "join")
    assert member["content"].get("displayname", "").startswith(pair.contact_name)

    # the DM is put in the user's "MSN" space (in the sub-space of bob's contact group "Friends")
    def space_invite() -> str | None:
        for room_id, events in user.invites.items():
            for evt in events:
                if evt.get("type") == "m.room.create" and evt["content"].get("type") == "m.space":
                    return room_id
        return None

    spaces: list[str] = []
    for _ in range(2):  # "MSN" and "Friends"
        space = await user.wait_for(space_invite, 20, "an invite to a space")
        await user.join(space)
        spaces.append(space)

    def in_a_space() -> bool:
        return any(user.room_state(space, "m.space.child", room) for space in spaces)

    await user.wait_for(in_a_space, 20, "space child")

    # Matrix -> MSN with a SUCCESS send status
    mark = bob.mark()
    event_id = await user.send_text(room, "hi from matrix")
    got = await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "hi from matrix", after=mark
    )
    assert got.sender == pair.passport
    status = await user.wait_for_send_status(room, event_id)
    assert status["content"]["status"] == "SUCCESS"

    # typing and nudges from MSN
    await bob.client.send_typing(pair.passport)
    await user.wait_for_typing(room, ghost, True, timeout=10)
    await bob.client.send_nudge(pair.passport)
    nudge = await user.wait_for_message(room, re.compile("nudge"), sender=ghost)
    assert nudge["content"]["msgtype"] == "m.emote"

    # emote from Matrix -> "* name text"
    mark = bob.mark()
    await user.send_content(room, {"msgtype": "m.emote", "body": "waves"})
    emote = await bob.wait_for_type(TextMessageReceived, after=mark)
    assert emote.text.startswith("* ") and emote.text.endswith("waves")
    assert not [e for e in bob.events if isinstance(e, NudgeReceived)]


async def test_message_to_offline_contact_fails_visibly(stack12: Stack) -> None:
    """MSNP12 has no offline messages (at 13+ the message becomes an OIM: test_bridge_msnp18)."""
    stack = stack12
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    await stack.command(user, mgmt, f"pm {pair.contact}", "Private chat")
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    event_id = await user.send_text(room, "are you there?")
    status = await user.wait_for_send_status(room, event_id, timeout=30)
    assert status["content"]["status"].startswith("FAIL")
    notice = await user.wait_for_message(
        room, re.compile("not delivered.*offline"), msgtype="m.notice", timeout=20
    )
    assert pair.contact_name in notice["content"]["body"]


async def test_presence_and_typing_to_msn(stack: Stack) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    ghost = pair.contact_ghost
    # presence is only visible to users who share a room with the ghost
    await bob.client.send_text(pair.passport, "ping")
    room = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(room)
    await user.wait_for_presence(ghost, "online", timeout=30)
    await bob.client.set_status(Status.AWAY)
    content = await user.wait_for_presence(ghost, "unavailable", timeout=20)
    assert "Away" in (content.get("status_msg") or "")
    await bob.client.set_status(Status.HIDDEN)
    await user.wait_for_presence(ghost, "offline", timeout=20)

    mark = bob.mark()
    await user.api.set_typing(room, timeout=5000)
    typing = await bob.wait_for_type(TypingReceived, after=mark, timeout=15)
    assert typing.sender == pair.passport


async def test_relogin_after_restart(stack: Stack) -> None:
    pair = stack.new_pair()
    await stack.logged_in(pair)
    assert stack.msn.online(pair.passport) is not None
    await stack.restart_bridge()
    await stack.wait_msn_online(pair.passport, timeout=10)
    assert pair.password not in stack.bridge.log_text()


async def test_reconnects_after_drop_but_not_after_other_location(stack: Stack) -> None:
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bot = stack.bot_mxid

    mark = user.mark(mgmt)
    await stack.msn.drop(pair.passport)
    await user.wait_for_message(mgmt, re.compile("Disconnected from MSN"), bot, after=mark)
    await user.wait_for_message(mgmt, "Reconnected to MSN.", bot, after=mark, timeout=30)
    assert stack.msn.online(pair.passport) is not None
    await stack.command(user, mgmt, "ping", "Connected as")

    mark = user.mark(mgmt)
    await stack.msn.kick_other_location(pair.passport)
    notice = await user.wait_for_message(
        mgmt, re.compile("another location"), bot, after=mark, timeout=20
    )
    assert "reconnect" in notice["content"]["body"]
    # `ping` says "connecting" while a reconnect is scheduled or running: this answer means
    # none is, and nothing else would start one
    await stack.command(user, mgmt, "ping", "another location")
    assert stack.msn.online(pair.passport) is None

    await stack.command(user, mgmt, "reconnect", "Reconnecting")
    await user.wait_for_message(mgmt, "Reconnected to MSN.", bot, after=mark, timeout=30)
    assert stack.msn.online(pair.passport) is not None


async def test_switchboard_turning_into_a_group_gets_a_group_room(stack: Stack) -> None:
    pair = stack.new_pair()
    carol_passport = stack.unique("carol") + "@example.com"
    stack.msn.add_account(carol_passport, "carolpw", "Carol")
    stack.msn.make_mutual(pair.passport, carol_passport)
    stack.msn.make_mutual(pair.contact, carol_passport)
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    carol = await stack.msn_peer(carol_passport, "carolpw")
    ghost = pair.contact_ghost

    await bob.client.send_text(pair.passport, "just us")
    dm = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(dm)
    await user.wait_for_message(dm, "just us", sender=ghost)

    known = {dm, *user.invites}  # the DM and the "MSN" space
    key = await bob.client.invite(pair.passport, carol_passport)
    assert key.startswith("group:")
    # the room comes with the first message (people joining a switchboard make none)
    await bob.client.send_text(key, "hello group")
    group_room = await user.wait_for_invite(timeout=20, exclude=known)
    await user.join(group_room)
    await user.wait_for_membership(group_room, stack.ghost_mxid(carol_passport), "join")
    await user.wait_for_membership(group_room, ghost, "join")
    await user.wait_for_message(group_room, "hello group", sender=ghost, timeout=20)

    mark_bob, mark_carol = bob.mark(), carol.mark()
    event_id = await user.send_text(group_room, "hi both")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "hi both", after=mark_bob)
    await carol.wait_for_type(TextMessageReceived, lambda e: e.text == "hi both", after=mark_carol)
    status = await user.wait_for_send_status(group_room, event_id)
    assert status["content"]["status"] == "SUCCESS"

    # after a restart the new MSN session has never heard of the group: the bridge re-opens
    # it with the ghosts in the room
    await stack.restart_bridge()
    await stack.wait_msn_online(pair.passport)
    mgmt = await stack.management_room(user)

    async def connected() -> bool:
        reply = await stack.command(user, mgmt, "ping", re.compile("onnected"))
        return bool(reply["content"]["body"].startswith("Connected"))

    await poll(connected, what="the bridge connected again")
    mark_bob, mark_carol = bob.mark(), carol.mark()
    event_id = await user.send_text(group_room, "still a group")
    await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "still a group", after=mark_bob
    )
    await carol.wait_for_type(
        TextMessageReceived, lambda e: e.text == "still a group", after=mark_carol
    )
    status = await user.wait_for_send_status(group_room, event_id)
    assert status["content"]["status"] == "SUCCESS"


async def test_replies_and_edits_fall_back_to_text_media_cross_over_p2p(stack: Stack) -> None:
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    ghost = pair.contact_ghost
    await bob.client.send_text(pair.passport, "first line from bob")
    room = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(room)
    original = await user.wait_for_message(room, "first line from bob", sender=ghost)

    mark = bob.mark()
    await user.send_content(
        room,
        {
            "msgtype": "m.text",
            "body": "my answer",
            "m.relates_to": {"m.in_reply_to": {"event_id": original["event_id"]}},
        },
    )
    reply = await bob.wait_for_type(TextMessageReceived, after=mark)
    assert reply.text.startswith("> ") and "first line from bob" in reply.text
    assert reply.text.endswith("my answer")

    mark = bob.mark()
    sent = await user.send_text(room, "tpyo")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "tpyo", after=mark)
    mark = bob.mark()
    await user.send_content(
        room,
        {
            "msgtype": "m.text",
            "body": "* typo",
            "m.new_content": {"msgtype": "m.text", "body": "typo"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": sent},
        },
    )
    edit = await bob.wait_for_type(TextMessageReceived, after=mark)
    assert edit.text == "* typo"

    # bob's client speaks P2P: the image is offered as a file (the link fallback for clients
    # without P2P is in test_bridge_p2p.py)
    mark = bob.mark()
    picture = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    mxc = await user.api.upload_media(picture, mime_type="image/png", filename="cat.png")
    event_id = await user.send_content(room, {"msgtype": "m.image", "body": "cat.png", "url": mxc})
    offered = await bob.wait_for_type(FileOffered, after=mark)
    assert (offered.offer.filename, offered.offer.size) == ("cat.png", len(picture))
    assert b"".join([chunk async for chunk in offered.offer.accept()]) == picture
    status = await user.wait_for_send_status(room, event_id)
    assert status["content"]["status"] == "SUCCESS"
