"""End to end: a contact joining an MSN group conversation (``JOI``) joins its room with a
short reason on the membership, as a leave (``BYE``) has one (issue 10, bullet 3)."""

from __future__ import annotations

from bridge.portal.ghost_join import JOINED_REASON
from tests.support.harness import Stack


def _account(stack: Stack, name: str, *friends: str) -> str:
    passport = stack.unique(name) + "@example.com"
    stack.msn.add_account(passport, f"{name}pw", name.title())
    for friend in friends:
        stack.msn.make_mutual(friend, passport)
    return passport


async def test_a_contact_joining_the_conversation_joins_the_room_with_a_reason(
    stack: Stack,
) -> None:
    pair = stack.new_pair()
    carol_passport = _account(stack, "carol", pair.passport, pair.contact)
    dave_passport = _account(stack, "dave", pair.passport, pair.contact)
    user, _ = await stack.logged_in(pair)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    await stack.msn_peer(carol_passport, "carolpw")
    await stack.msn_peer(dave_passport, "davepw")
    ghost = pair.contact_ghost

    await bob.client.send_text(pair.passport, "just us")
    dm = await user.wait_for_invite(sender=ghost, timeout=20)
    await user.join(dm)
    await user.wait_for_message(dm, "just us", sender=ghost)
    known = {dm, *user.invites}
    key = await bob.client.invite(pair.passport, carol_passport)
    await bob.client.send_text(key, "hello group")
    room = await user.wait_for_invite(timeout=20, exclude=known)
    await user.join(room)
    await user.wait_for_message(room, "hello group", sender=ghost, timeout=20)

    # dave is called into the conversation: no message, only his JOI
    await bob.client.invite(key, dave_passport)
    joined = await user.wait_for_membership(room, stack.ghost_mxid(dave_passport), "join", 30)
    assert joined["content"].get("reason") == JOINED_REASON, joined
