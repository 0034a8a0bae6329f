"""Group chats started from Matrix, on the real stack: a room made with two contacts' ghosts is
a three-party MSN conversation (every message reaches every other side exactly once, a
participant leaving shows as a leave with a reason); a ghost invited into a direct chat starts a
group conversation in a new room; someone offline is named as not reached."""

from __future__ import annotations

import re

from mautrix.types import RoomCreatePreset

from bridge.msnp.events import TextMessageReceived
from tests.support.harness import MSNPeer, Pair, Stack
from tests.support.synapse import MatrixTestClient

from .test_bridge_groups import _invite_state


def _third(stack: Stack, pair: Pair, name: str) -> tuple[str, str]:
    """Another MSN account on the user's list (mutual), with its password."""
    passport = stack.unique(name) + "@example.com"
    stack.msn.add_account(passport, f"{name}pw", name.title())
    stack.msn.make_mutual(pair.passport, passport)
    return passport, f"{name}pw"


async def _received(peer: MSNPeer, text: str, mark: int = 0) -> TextMessageReceived:
    return await peer.wait_for_type(
        TextMessageReceived, lambda e: e.text == text, after=mark, timeout=30
    )


def _group_invite(user: MatrixTestClient) -> str | None:
    for room_id in user.invites:
        name = (_invite_state(user, room_id, "m.room.name") or {}).get("name", "")
        if name.startswith("MSN group chat"):
            return room_id
    return None


def _count(peer: MSNPeer, text: str) -> int:
    return sum(1 for e in peer.events if isinstance(e, TextMessageReceived) and e.text == text)


def _room_count(user: MatrixTestClient, room: str, text: str) -> int:
    return sum(
        1
        for e in user.timeline.get(room, [])
        if e.get("type") == "m.room.message" and e.get("content", {}).get("body") == text
    )


async def test_a_room_with_two_ghosts_is_a_three_party_conversation(stack: Stack) -> None:
    pair = stack.new_pair()
    carol_passport, carol_pw = _third(stack, pair, "carol")
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    carol = await stack.msn_peer(carol_passport, carol_pw)
    bob_ghost, carol_ghost = pair.contact_ghost, stack.ghost_mxid(carol_passport)

    room = await user.api.create_room(
        preset=RoomCreatePreset.PRIVATE, invitees=[bob_ghost, carol_ghost], is_direct=False
    )
    for member in (bob_ghost, carol_ghost, stack.bot_mxid):
        await user.wait_for_membership(room, member, "join", timeout=30)

    await user.send_text(room, "hello both")
    to_bob = await _received(bob, "hello both")
    to_carol = await _received(carol, "hello both")
    assert to_bob.sender.lower() == pair.passport
    assert set(map(str.lower, to_bob.participants)) >= {pair.passport, carol_passport}

    await bob.client.send_text(to_bob.conversation, "from bob")
    await user.wait_for_message(room, "from bob", sender=bob_ghost, timeout=30)
    await _received(carol, "from bob")
    await carol.client.send_text(to_carol.conversation, "from carol")
    await user.wait_for_message(room, "from carol", sender=carol_ghost, timeout=30)
    await _received(bob, "from carol")
    await user.send_text(room, "and once more")
    await _received(bob, "and once more")
    await _received(carol, "and once more")
    # exactly once everywhere (the later messages arrived after any duplicate would have)
    assert _count(bob, "hello both") == 1 and _count(carol, "hello both") == 1
    assert _count(carol, "from bob") == 1 and _count(bob, "from carol") == 1
    assert _room_count(user, room, "from bob") == 1
    assert _room_count(user, room, "from carol") == 1

    # carol leaves the conversation: her ghost leaves the room, saying why
    await carol.client.leave(to_carol.conversation)
    left = await user.wait_for_membership(room, carol_ghost, "leave", timeout=30)
    assert left["content"].get("reason") == "Left the MSN chat"
    mark = bob.mark()
    await user.send_text(room, "just us now")
    await _received(bob, "just us now", mark)


async def test_inviting_a_ghost_into_a_direct_chat_starts_a_group_room(stack: Stack) -> None:
    pair = stack.new_pair()
    carol_passport, carol_pw = _third(stack, pair, "carol")
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    carol = await stack.msn_peer(carol_passport, carol_pw)
    carol_ghost = stack.ghost_mxid(carol_passport)
    dm, _ = await stack.open_dm(pair, user, bob, "hi, a DM")

    await user.api.invite_user(dm, carol_ghost)
    refused = await user.wait_for_membership(dm, carol_ghost, "leave", timeout=30)
    assert "new room" in refused["content"].get("reason", "")
    group = await user.wait_for(lambda: _group_invite(user), 30, "the group room's invite")
    await user.join(group)
    for member in (pair.contact_ghost, carol_ghost):
        await user.wait_for_membership(group, member, "join", timeout=30)

    await user.send_text(group, "welcome to the group")
    to_bob = await _received(bob, "welcome to the group")
    await _received(carol, "welcome to the group")
    assert carol_passport in map(str.lower, to_bob.participants)
    # the DM is still a DM
    mark = bob.mark()
    await user.send_text(dm, "only for bob")
    only = await _received(bob, "only for bob", mark)
    assert carol_passport not in map(str.lower, only.participants)


async def test_who_could_not_be_reached_is_named(stack: Stack) -> None:
    pair = stack.new_pair()
    dave_passport, _ = _third(stack, pair, "dave")  # never signs in
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    room = await user.api.create_room(
        preset=RoomCreatePreset.PRIVATE,
        invitees=[pair.contact_ghost, stack.ghost_mxid(dave_passport)],
        is_direct=False,
    )
    await user.wait_for_membership(room, stack.bot_mxid, "join", timeout=30)
    await user.send_text(room, "anyone there")
    await _received(bob, "anyone there")
    notice = await user.wait_for_message(
        room, re.compile("Could not reach"), sender=stack.bot_mxid, timeout=30
    )
    body = notice["content"]["body"]
    assert dave_passport in body and pair.contact not in body
