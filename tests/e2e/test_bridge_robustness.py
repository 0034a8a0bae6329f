"""Robustness of the bridge: ordering, deduplication, failures, bad input, dead rooms.

Every test checks, besides its own assertions, that the bridge logged no error or traceback while
it ran (:meth:`BridgeProcess.errors_since`).
"""

from __future__ import annotations

from typing import Any
import asyncio
import json
import re
import secrets
import time
import urllib.request

from bridge.msnp.events import SwitchboardLeft, TextMessageReceived
from tests.support.harness import Stack


async def _put_transaction(stack: Stack, events: list[dict[str, Any]]) -> int:
    """Deliver ``events`` to the bridge as Synapse would, in a transaction of a new ID."""
    url = (
        f"http://127.0.0.1:{stack.as_port}/_matrix/app/v1/transactions/"
        f"retry-{secrets.token_hex(6)}"
    )
    body = json.dumps({"events": events}).encode()

    def put() -> int:
        request = urllib.request.Request(url, data=body, method="PUT")
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {stack.registration['hs_token']}")
        with urllib.request.urlopen(request, timeout=10) as resp:
            return int(resp.status)

    return await asyncio.to_thread(put)


def _assert_no_new_errors(stack: Stack, mark: int) -> None:
    errors = stack.bridge.errors_since(mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)


async def test_order_dedup_names_and_long_messages(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    # a friendly name that must not be URL-decoded a second time
    pair = stack.new_pair(contact_name="Bob %41 100%")
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, first = await stack.open_dm(pair, user, bob, "hello")
    member = await user.wait_for_membership(room, pair.contact_ghost, "join")
    assert member["content"].get("displayname") == "Bob %41 100% (MSN)"

    # Matrix -> MSN in the order of the Matrix timeline, even for messages sent at once and
    # for replies (for which the bridge fetches the replied-to event first).
    mark = bob.mark()

    async def send(i: int) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": f"m-{i}"}
        if i % 2:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": first["event_id"]}}
        return await user.send_content(room, content)

    sent = list(await asyncio.gather(*(send(i) for i in range(1, 11))))

    def timeline_order() -> list[str] | None:
        ids = [e.get("event_id") for e in user.events(room, "m.room.message")]
        if not all(event_id in ids for event_id in sent):
            return None
        return [event_id for event_id in ids if event_id in sent]

    in_timeline = await user.wait_for(timeline_order, 20, "the ten messages in the timeline")
    expected = [f"m-{sent.index(event_id) + 1}" for event_id in in_timeline]

    def arrived() -> list[str]:
        return [m for t in stack.texts_after(bob, mark) for m in re.findall(r"m-\d+$", t)]

    await bob.wait_for(lambda _: len(arrived()) >= 10, after=mark, timeout=30, what="10 texts")
    assert arrived() == expected
    for event_id in sent:
        status = await user.wait_for_send_status(room, event_id)
        assert status["content"]["status"] == "SUCCESS"

    # Synapse re-sending a transaction (e.g. after a bridge restart) must not send again, even
    # when the same event arrives twice at the same time.
    evt = dict(next(e for e in user.events(room) if e.get("event_id") == sent[1]))
    evt["room_id"] = room
    fresh = {
        "type": "m.room.message",
        "room_id": room,
        "sender": pair.mxid,
        "event_id": f"$retry{secrets.token_hex(8)}",
        "origin_server_ts": int(time.time() * 1000),
        "content": {"msgtype": "m.text", "body": "twice at once"},
        "unsigned": {},
    }
    mark = bob.mark()
    await asyncio.gather(
        _put_transaction(stack, [evt]),
        _put_transaction(stack, [fresh]),
        _put_transaction(stack, [fresh]),
    )
    await user.send_text(room, "after the retries")
    # sent after the retried events, so it arrives after anything they could have sent
    await bob.wait_for_type(
        TextMessageReceived, lambda e: e.text == "after the retries", after=mark
    )
    texts = stack.texts_after(bob, mark)
    assert texts.count("twice at once") == 1, texts
    assert not [t for t in texts if t.endswith("m-2")], texts

    # a 20 kB message arrives whole and in order (split into several MSN messages)
    long_text = " ".join(f"{i:05d}-ä€" for i in range(2500))
    assert len(long_text.encode()) > 20000
    mark = bob.mark()
    event_id = await user.send_text(room, long_text)
    status = await user.wait_for_send_status(room, event_id, timeout=30)
    assert status["content"]["status"] == "SUCCESS"
    chunks = stack.texts_after(bob, mark)
    assert len(chunks) > 1
    assert "".join(chunks) == long_text
    _assert_no_new_errors(stack, log_mark)


async def test_nak_fails_and_a_disconnection_queues(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, _ = await stack.open_dm(pair, user, bob, "hi")

    # NAK from the switchboard -> FAIL + notice
    stack.msn.nak_messages_from(pair.passport)
    try:
        event_id = await user.send_text(room, "this one is refused")
        status = await user.wait_for_send_status(room, event_id)
        assert status["content"]["status"].startswith("FAIL"), status
        await user.wait_for_message(room, re.compile("not delivered"), msgtype="m.notice")
    finally:
        stack.msn.nak_messages_from(pair.passport, enabled=False)

    # connection down, reconnection failing: the message waits (PENDING) instead of failing,
    # and goes out once the bridge is connected again, before what is written after it
    stack.msn.close_during_login = "USR"
    try:
        mark = user.mark(mgmt)
        await stack.msn.drop(pair.passport)
        await user.wait_for_message(
            mgmt, re.compile("Disconnected from MSN"), sender=stack.bot_mxid, after=mark
        )
        waiting = await user.send_text(room, "sent while disconnected")
        status = await user.wait_for_send_status(room, waiting, "PENDING")
        assert "error" not in status["content"]
    finally:
        stack.msn.close_during_login = None
    back = await user.send_text(room, "back again")
    for event_id in (waiting, back):
        status = await user.wait_for_send_status(room, event_id, "SUCCESS", timeout=30)
    await user.wait_for_message(
        mgmt, re.compile("Reconnected to MSN"), sender=stack.bot_mxid, timeout=30
    )
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "back again")
    texts = stack.texts_after(bob, 0)
    assert texts[-2:] == ["sent while disconnected", "back again"], texts
    assert not [t for t in texts if "refused" in t]
    _assert_no_new_errors(stack, log_mark)


async def test_bad_command_input_gets_clear_replies(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user = await stack.matrix_user(pair.localpart)
    mgmt = await stack.management_room(user)

    # before login
    await stack.command(user, mgmt, "frobnicate", "Unknown command")
    await stack.command(user, mgmt, "contacts", re.compile("log(ged)? ?in", re.I))
    await stack.command(user, mgmt, f"pm {pair.contact}", re.compile("log(ged)? ?in", re.I))
    await stack.command(user, mgmt, "login", "Usage")
    await stack.command(user, mgmt, "login not-an-email", "Usage")
    long_address = "x" * 300 + "@example.com"
    await stack.command(user, mgmt, f"login {long_address} pw", re.compile("Usage|too long", re.I))

    await stack.command(user, mgmt, f"login {pair.passport} {pair.password}", "Logged in as")
    await stack.command(user, mgmt, "pm", "Usage")
    await stack.command(user, mgmt, f"pm {pair.contact} extra", "Usage")
    await stack.command(user, mgmt, f"pm {long_address}", re.compile("Usage|too long", re.I))
    await stack.command(user, mgmt, "add", "Usage")
    await stack.command(user, mgmt, "status", "Usage")
    await stack.command(user, mgmt, "nudge", "chat with an MSN contact")
    stranger = f"stranger{stack.unique('')}@example.com"
    await stack.command(user, mgmt, f"pm {stranger}", "not on your contact list")
    await stack.bridge.wait_quiet(0.5)
    _assert_no_new_errors(stack, log_mark)


async def test_dead_rooms_are_replaced_and_logout_cleans_up(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user = await stack.matrix_user(pair.localpart)
    # not Element's trusted DM: there the bot gets power 100 and cannot be kicked
    mgmt = await stack.management_room(user, trusted=False)
    await stack.command(user, mgmt, f"login {pair.passport}", "password")
    await stack.command(user, mgmt, pair.password, "Logged in as")
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room, _ = await stack.open_dm(pair, user, bob, "first")

    # the ghost lost the room (left, or the room was shut down): the next message from MSN
    # opens a fresh room instead of being lost
    status, data = await stack.as_request(
        "POST", f"/_matrix/client/v3/rooms/{room}/leave", user_id=pair.contact_ghost, body={}
    )
    assert status == 200, data
    await user.wait_for_membership(room, pair.contact_ghost, "leave")
    await bob.client.send_text(pair.passport, "second")
    new_room = await user.wait_for_invite(sender=pair.contact_ghost, exclude=[room], timeout=20)
    assert new_room != room
    await user.join(new_room)
    await user.wait_for_message(new_room, "second", sender=pair.contact_ghost)
    # and Matrix -> MSN works from the new room
    event_id = await user.send_text(new_room, "reply in the new room")
    await bob.wait_for_type(TextMessageReceived, lambda e: e.text == "reply in the new room")
    status_evt = await user.wait_for_send_status(new_room, event_id)
    assert status_evt["content"]["status"] == "SUCCESS"

    # the bot kicked out of the management room: notices stop going there (no errors), and
    # talking to the bot in a new room makes that the management room
    await user.api.kick_user(mgmt, stack.bot_mxid, reason="test")
    await user.wait_for_membership(mgmt, stack.bot_mxid, "leave")
    await stack.bridge.wait_quiet(0.3)
    await stack.msn.drop(pair.passport)

    await stack.wait_msn_online(pair.passport)
    await stack.bridge.wait_quiet(0.5)
    mgmt2 = await stack.management_room(user)
    await stack.command(user, mgmt2, "ping", "Connected as")

    # logout closes the switchboards (the contact sees the bridge user leave)
    await bob.client.send_text(pair.passport, "third")
    await user.wait_for_message(new_room, "third", sender=pair.contact_ghost, timeout=20)
    mark = bob.mark()
    await stack.command(user, mgmt2, "logout", "Logged out")
    await bob.wait_for_type(SwitchboardLeft, lambda e: e.passport == pair.passport, after=mark)
    assert stack.msn.online(pair.passport) is None
    with_errors = stack.bridge.errors_since(log_mark)
    assert not with_errors, "the bridge logged errors:\n" + "\n".join(with_errors)
