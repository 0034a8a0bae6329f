"""Contacts cannot spam Matrix, and what they send costs bounded work: group switchboards make
rooms only for messages and the same people reuse their room (across switchboards and a
restart); new rooms per contact are limited, the rest arriving in direct chats with one
notice; "added you" notices come one per burst with the names quoted; addresses in presence
lines get no ghost; a name changed 200 times reaches Matrix a few times, the last one winning.

The hostile contacts and their accomplices are raw-socket clients (tests.support.hostile), not
the bridge's own MSN library.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote
import re

from tests.support.harness import Pair, Stack, poll
from tests.support.hostile import RawAccount
from tests.support.synapse import MatrixTestClient


def _assert_no_new_errors(stack: Stack, mark: int) -> None:
    errors = stack.bridge.errors_since(mark)
    assert not errors, "the bridge logged errors:\n" + "\n".join(errors)


async def _in_no_switchboard(stack: Stack, passport: str) -> None:
    """Wait until ``passport`` is in no switchboard session on the server."""

    async def gone() -> bool:
        key = passport.lower()
        return not any(
            any(p.split(";", 1)[0] == key for p in session.participants)
            for session in stack.msn.sb_sessions.values()
            if not session.closed
        )

    await poll(gone, 20, f"{passport} out of every switchboard")


async def _leave_all(stack: Stack, pair: Pair, *accounts: RawAccount) -> None:
    for account in accounts:
        for sb in list(account.switchboards):
            await sb.leave()
            account.switchboards.remove(sb)
    await _in_no_switchboard(stack, pair.passport)


async def _connected_again(stack: Stack, user: MatrixTestClient, mgmt: str) -> None:
    async def connected() -> bool:
        reply = await stack.command(user, mgmt, "ping", re.compile("onnected"))
        return bool(reply["content"]["body"].startswith("Connected"))

    await poll(connected, 30, "the bridge connected again")


def _since(user: MatrixTestClient, room: str, mark: int, type_: str) -> list[dict[str, Any]]:
    """The timeline events of ``type_`` in ``room`` from index ``mark`` on."""
    return [e for e in user.timeline.get(room, [])[mark:] if e.get("type") == type_]


def _rooms(user: MatrixTestClient) -> set[str]:
    """The rooms (not spaces) the user was ever invited to."""
    rooms = set()
    for room_id, events in user.invite_history.items():
        create = next((e for e in events if e.get("type") == "m.room.create"), {})
        if create.get("content", {}).get("type") != "m.space":
            rooms.add(room_id)
    return rooms


async def _new_room(user: MatrixTestClient, known: set[str], timeout: float = 30) -> str:
    """A room (not a space) the user is invited to that is not in ``known``."""
    found = await user.wait_for(lambda: _rooms(user) - known, timeout, "a new room")
    assert len(found) == 1, found
    return found.pop()


def _members(user: MatrixTestClient, room: str) -> set[str]:
    joined: dict[str, str] = {}
    for evt in user.state.get(room, []):
        if evt.get("type") == "m.room.member":
            joined[evt["state_key"]] = evt.get("content", {}).get("membership", "")
    return {member for member, membership in joined.items() if membership == "join"}


async def test_group_switchboards_get_a_room_only_for_a_message_and_keep_it(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    carol = stack.unique("carol") + "@example.com"  # not on the user's lists
    stack.msn.add_account(carol, "carolpw", "Carol")
    user, mgmt = await stack.logged_in(pair)
    bob = await RawAccount.login(stack, pair.contact, pair.contact_password)
    accomplice = await RawAccount.login(stack, carol, "carolpw")
    accomplice.answer_rings()
    bob_ghost, carol_ghost = pair.contact_ghost, stack.ghost_mxid(carol)
    before = _rooms(user)

    # twenty group switchboards in which nobody writes: no room
    for _ in range(20):
        await bob.group(pair.passport, carol)
        await _leave_all(stack, pair, bob, accomplice)

    # the first message makes the room (20 empty switchboards before it made none)
    sb = await bob.group(pair.passport, carol)
    await sb.send_text("hello group")
    room = await _new_room(user, before)
    await user.join(room)
    await user.wait_for_message(room, "hello group", sender=bob_ghost, timeout=20)
    assert _rooms(user) - before == {room}
    # carol is on none of the user's lists: her ghost comes when she writes, not before
    assert carol_ghost not in _members(user, room)
    await accomplice.switchboards[-1].send_text("carol here")
    await user.wait_for_message(room, "carol here", sender=carol_ghost, timeout=20)

    # the same people in a new switchboard (invited the other way round): the same room, and
    # the user's reply goes to that switchboard
    await _leave_all(stack, pair, bob, accomplice)
    sb = await bob.group(carol, pair.passport)
    await sb.send_text("same people")
    await user.wait_for_message(room, "same people", sender=bob_ghost, timeout=20)
    await user.send_text(room, "hello both")
    await sb.wait_text("hello both")
    await accomplice.switchboards[-1].wait_text("hello both")

    # after a restart of the bridge, too
    await _leave_all(stack, pair, bob, accomplice)
    await stack.restart_bridge()
    await _connected_again(stack, user, mgmt)
    sb = await bob.group(pair.passport, carol)
    await sb.nudge()
    await user.wait_for_message(room, "sent a nudge", sender=bob_ghost, timeout=30)
    assert _rooms(user) - before == {room}
    _assert_no_new_errors(stack, log_mark)


async def test_new_group_rooms_per_contact_are_limited_and_nothing_is_lost(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    bob = await RawAccount.login(stack, pair.contact, pair.contact_password)
    helpers = []
    for _ in range(7):
        passport = stack.unique("helper") + "@example.com"
        stack.msn.add_account(passport, "helperpw", "Helper")
        helper = await RawAccount.login(stack, passport, "helperpw")
        helper.answer_rings()
        helpers.append(helper)
    bob_ghost = pair.contact_ghost
    known = _rooms(user)
    limit = 5  # bridge.limits.group_rooms_per_contact of example-config.yaml (checked below)

    # bob's messages open five rooms, each with other people
    rooms = []
    for i in range(limit):
        sb = await bob.group(pair.passport, helpers[i].passport)
        await sb.send_text(f"group {i}")
        room = await _new_room(user, known)
        known.add(room)
        rooms.append(room)
        await _leave_all(stack, pair, bob, *helpers)

    # the sixth goes to the direct chat with bob, and the user is told once
    mark = user.mark(mgmt)
    sb = await bob.group(pair.passport, helpers[5].passport)
    await sb.send_text("group 5")
    dm = await _new_room(user, known)
    known.add(dm)
    await user.join(dm)
    await user.wait_for_message(dm, "group 5", sender=bob_ghost, timeout=20)
    notice = await user.wait_for_message(
        mgmt, re.compile("more new group chats"), sender=stack.bot_mxid, after=mark, timeout=20
    )
    body = notice["content"]["body"]
    assert body.startswith("A contact started more new group chats")
    assert f"({pair.contact})" in body and "5 per hour" in body
    # what the others write there reaches the user too, in their own direct chats
    helper_ghost = stack.ghost_mxid(helpers[5].passport)
    await helpers[5].switchboards[-1].send_text("from the helper")
    helper_dm = await _new_room(user, known)
    known.add(helper_dm)
    await user.join(helper_dm)
    await user.wait_for_message(helper_dm, "from the helper", sender=helper_ghost, timeout=20)
    await _leave_all(stack, pair, bob, *helpers)

    # people bob already has a room with still get it; a new set goes to the direct chat
    sb = await bob.group(pair.passport, helpers[1].passport)
    await sb.send_text("group 1 again")
    await user.join(rooms[1])
    await user.wait_for_message(rooms[1], "group 1 again", sender=bob_ghost, timeout=20)
    await _leave_all(stack, pair, bob, *helpers)
    sb = await bob.group(pair.passport, helpers[6].passport)
    await sb.send_text("group 6")
    await user.wait_for_message(dm, "group 6", sender=bob_ghost, timeout=20)
    assert _rooms(user) == known
    notices = [
        e
        for e in _since(user, mgmt, mark, "m.room.message")
        if "more new group chats" in e["content"].get("body", "")
    ]
    assert len(notices) == 1
    assert stack.config["bridge"]["limits"]["group_rooms_per_contact"] == limit
    _assert_no_new_errors(stack, log_mark)


async def _ghost_exists(stack: Stack, ghost: str) -> bool:
    status, _ = await stack.as_request("GET", f"/_matrix/client/v3/profile/{quote(ghost)}")
    return status == 200


async def test_added_you_notices_are_one_per_burst_and_strangers_get_no_ghost(
    stack12: Stack,
) -> None:
    """The burst is MSNP12 on the wire (ADC RL, NLN without a network): the stack12 bridge."""
    stack = stack12
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    mark = user.mark(mgmt)
    evil = "**URGENT** <a href='https://evil.example/'>reset your password</a>\r\n\u202eX"
    tag = stack.unique("fan")
    adds = [f"ADC 0 RL N={tag}-0@example.com F={quote(evil)}\r\n"]
    adds += [f"ADC 0 RL N={tag}-{i}@example.com F=Fan%20{i}\r\n" for i in range(1, 25)]
    strangers = [f"{tag}-stranger{i}@example.com" for i in range(100)]
    presence = [f"NLN NLN {s} Stranger%20{i} 0\r\n" for i, s in enumerate(strangers)]
    # bob's status last: once his ghost shows it, the bridge has handled everything before
    marker = f"NLN BSY {pair.contact} Bob 0\r\n"
    await stack.msn.send_raw(pair.passport, "".join(adds + presence + [marker]).encode())

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
    content: dict[str, Any] = notice["content"]
    body, html = content["body"], content.get("formatted_body", "")
    assert body.startswith("New people added you to their MSN contact list: \u201c")
    assert f"(<code>{tag}-0@example.com</code>)" in html
    assert "<a " not in html and "&lt;a href=" in html
    assert "\n" not in body and "\u202e" not in body and "and 5 more" in body
    added = [
        e
        for e in _since(user, mgmt, mark, "m.room.message")
        if "added you" in e["content"].get("body", "")
    ]
    assert len(added) == 1, [e["content"]["body"] for e in added]
    # the people who added the user have ghosts (reverse list); strangers in NLN lines do not
    assert await _ghost_exists(stack, stack.ghost_mxid(f"{tag}-3@example.com"))
    for stranger in strangers[::10]:
        assert not await _ghost_exists(stack, stack.ghost_mxid(stranger)), stranger
    _assert_no_new_errors(stack, log_mark)


async def test_a_name_changed_200_times_reaches_matrix_a_few_times(stack: Stack) -> None:
    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    user, _ = await stack.logged_in(pair)
    bob = await RawAccount.login(stack, pair.contact, pair.contact_password)
    ghost = pair.contact_ghost
    sb = await bob.group(pair.passport)
    await sb.send_text("hi")
    dm = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(dm)
    await user.wait_for_message(dm, "hi", sender=ghost, timeout=20)
    mark = user.mark(dm)

    for i in range(200):
        await bob.set_name(f"Bob churn {i}")
    final = "Bob churn 199 (MSN)"

    def renames() -> list[str]:
        return [
            e["content"].get("displayname", "")
            for e in _since(user, dm, mark, "m.room.member")
            if e.get("state_key") == ghost
        ]

    await user.wait_for(lambda: final in renames(), 60, f"the ghost named {final!r}")
    assert len(renames()) <= 4, renames()
    assert renames()[-1] == final
    assert stack.config["bridge"]["limits"]["display_name_interval"] == 5
    _assert_no_new_errors(stack, log_mark)


async def test_messages_from_people_the_privacy_settings_keep_out_are_not_shown(
    stack: Stack,
) -> None:
    from tests.msn_server import BL

    log_mark = stack.bridge.log_mark()
    pair = stack.new_pair()
    blocked = stack.unique("mallory") + "@example.com"
    stranger = stack.unique("stranger") + "@example.com"
    for passport in (blocked, stranger):
        stack.msn.add_account(passport, "pw", "Someone")
    stack.msn.add_contact(pair.passport, blocked, lists=BL)
    stack.msn.account(pair.passport).blp = "BL"  # people on no list may not write either
    user, _ = await stack.logged_in(pair)
    bob = await RawAccount.login(stack, pair.contact, pair.contact_password)
    others = [await RawAccount.login(stack, p, "pw") for p in (blocked, stranger)]
    for other in others:
        other.answer_rings()
    before = _rooms(user)

    sb = await bob.group(pair.passport, blocked, stranger)
    await sb.send_text("visible 1")
    room = await _new_room(user, before)
    await user.join(room)
    await user.wait_for_message(room, "visible 1", sender=pair.contact_ghost, timeout=20)
    for other in others:
        await other.switchboards[-1].send_text(f"hidden from {other.passport}")
    await sb.send_text("visible 2")
    await user.wait_for_message(room, "visible 2", sender=pair.contact_ghost, timeout=20)
    bodies = [e["content"].get("body") for e in _since(user, room, 0, "m.room.message")]
    assert bodies == ["visible 1", "visible 2"]
    for passport in (blocked, stranger):
        assert not await _ghost_exists(stack, stack.ghost_mxid(passport))
    _assert_no_new_errors(stack, log_mark)
