"""Everything an MSN user does with their lists, from Matrix, on the real stack: a friend request
made while the user was away, announced at login and accepted; block and unblock as the contact
sees them; groups created, filled, renamed and deleted, checked on the server and in the spaces;
the privacy settings; refusals as readable replies."""

from __future__ import annotations

import re

import pytest

from bridge.msnp.errors import MSNPException
from bridge.msnp.events import PresenceChanged, Status
from tests.msn_server.state import ListFlag
from tests.support.harness import Stack, poll
from tests.support.synapse import MatrixTestClient

from .test_bridge_groups import _is_child, _space_named


async def _logged(stack: Stack, mark: int, text: str) -> bool:
    return text in stack.bridge.log_since(mark)


def _lists(stack: Stack, owner: str, contact: str) -> ListFlag:
    entry = stack.msn.account(owner).contacts.get(contact)
    return entry.lists if entry is not None else ListFlag.NONE


async def test_a_request_made_while_away_is_announced_accepted_then_blocked(stack: Stack) -> None:
    pair = stack.new_pair(mutual=False)
    # bob adds alice while she is offline: she is on his lists, he is on her reverse list only
    stack.msn.add_contact(pair.contact, pair.passport, ListFlag.FL | ListFlag.AL)
    user, mgmt = await stack.logged_in(pair)
    notice = await user.wait_for_message(
        mgmt, re.compile("added you to their MSN contact list"), sender=stack.bot_mxid, timeout=30
    )
    body = notice["content"]["body"]
    assert f"\u201c{pair.contact_name}\u201d ({pair.contact})" in body
    assert f"`accept {pair.contact}`" in body
    listed = await stack.command(user, mgmt, "requests", pair.contact)
    assert pair.contact_name in listed["content"]["body"]

    await stack.command(user, mgmt, f"accept {pair.contact}", f"Accepted {pair.contact}")
    lists = _lists(stack, pair.passport, pair.contact)
    assert lists & ListFlag.FL and lists & ListFlag.AL and not lists & ListFlag.BL
    await stack.command(user, mgmt, "requests", "Nobody is waiting")

    # bob sees alice online and can write to her
    bob = await stack.msn_peer(pair.contact, pair.contact_password)

    def alice_is(status: Status) -> object:
        return lambda e: e.passport.lower() == pair.passport and e.status == status

    await bob.wait_for_type(PresenceChanged, alice_is(Status.ONLINE), timeout=20)
    room, _ = await stack.open_dm(pair, user, bob, "thanks for accepting")

    # blocked: bob sees her offline and his messages are refused
    mark = bob.mark()
    await stack.command(user, mgmt, f"block {pair.contact}", f"Blocked {pair.contact}")
    await bob.wait_for_type(PresenceChanged, alice_is(Status.OFFLINE), after=mark, timeout=20)
    lists = _lists(stack, pair.passport, pair.contact)
    assert lists & ListFlag.BL and not lists & ListFlag.AL
    # in the conversation bob still has open, the bridge keeps his message out ...
    log_mark = stack.bridge.log_mark()
    await bob.client.send_text(pair.passport, "can you hear me")
    await poll(
        lambda: _logged(stack, log_mark, "privacy settings keep them out"),
        20,
        "the blocked contact's message held back",
    )
    # ... and a new one is refused by MSN: she is offline for him
    await bob.client.leave(pair.passport)
    with pytest.raises(MSNPException):
        await bob.client.send_text(pair.passport, "and now")

    # unblocked: online again for bob, and his message arrives
    mark = bob.mark()
    await stack.command(user, mgmt, f"unblock {pair.contact}", f"Unblocked {pair.contact}")
    await bob.wait_for_type(PresenceChanged, alice_is(Status.ONLINE), after=mark, timeout=20)
    await bob.client.send_text(pair.passport, "back again")
    await user.wait_for_message(room, "back again", sender=pair.contact_ghost, timeout=20)


async def _space(user: MatrixTestClient, name: str) -> str:
    return await user.wait_for(lambda: _space_named(user, name), 30, f'the space "{name}"')


async def test_groups_from_matrix_on_the_server_and_in_the_spaces(stack: Stack) -> None:
    pair = stack.new_pair()  # bob is in alice's group "Friends"
    user, mgmt = await stack.logged_in(pair)
    account = stack.msn.account(pair.passport)
    root, friends = await _space(user, "MSN"), await _space(user, "Friends")
    await user.join(root)
    await user.join(friends)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    dm, _ = await stack.open_dm(pair, user, bob, "hello")
    await user.wait_for(lambda: _is_child(user, friends, dm), 20, "bob's DM in Friends")

    await stack.command(user, mgmt, "group-create Day Job", "Created the group **Day Job**")
    assert account.group_by_name("Day Job") is not None
    job = await _space(user, "Day Job")
    await user.join(job)
    await user.wait_for(lambda: _is_child(user, root, job), 20, "Day Job in MSN")
    groups = await stack.command(user, mgmt, "groups", "Day Job")
    assert "**Friends**: 1 contact" in groups["content"]["body"]

    await stack.command(user, mgmt, f"move {pair.contact} day job", f"Moved {pair.contact}")
    group = account.group_by_name("Day Job")
    assert group is not None
    assert account.contacts[pair.contact].groups == [group.number]
    await user.wait_for(lambda: _is_child(user, job, dm), 20, "bob's DM in Day Job")
    await user.wait_for(lambda: not _is_child(user, friends, dm), 20, "bob's DM out of Friends")

    await stack.command(user, mgmt, 'group-rename "Day Job" Work', "to **Work**")
    assert account.group_by_name("Work") is not None
    assert account.group_by_name("Day Job") is None

    def renamed() -> bool:
        return (user.room_state(job, "m.room.name") or {}).get("name") == "Work"

    await user.wait_for(renamed, 30, "the space renamed to Work")

    await stack.command(user, mgmt, "group-delete work", "Deleted the group **work**")
    assert account.group_by_name("Work") is None
    assert account.contacts[pair.contact].lists & ListFlag.FL  # still a contact
    await user.wait_for(lambda: not _is_child(user, root, job), 20, "Work unlinked")
    await user.wait_for(lambda: _is_child(user, root, dm), 20, "bob's DM moved up to MSN")

    # what MSN refuses, and what the bridge refuses before asking, is said plainly
    reply = await stack.command(user, mgmt, "add nobody-here@example.com Friends", "MSN refused")
    assert "there is no MSN account with that address (error 205)" in reply["content"]["body"]
    await stack.command(user, mgmt, "group-rename Nope Other", "You have no group called")
    await stack.command(user, mgmt, "group-create friends", "already have a group")


async def test_privacy_settings_are_read_and_set(stack: Stack) -> None:
    pair = stack.new_pair()
    user, mgmt = await stack.logged_in(pair)
    account = stack.msn.account(pair.passport)
    shown = await stack.command(user, mgmt, "privacy", "Tell me when someone adds me")
    assert "**on**" in shown["content"]["body"]
    assert "may see your status and message you" in shown["content"]["body"]
    await stack.command(user, mgmt, "privacy others block", "Only people on your allow list")
    assert account.blp == "BL"
    await stack.command(user, mgmt, "privacy notify off", "will not be told")
    assert account.gtc == "N"
    shown = await stack.command(user, mgmt, "privacy", "Tell me when someone adds me")
    assert "**off**" in shown["content"]["body"]
    assert "see you offline and cannot message you" in shown["content"]["body"]
    await stack.command(user, mgmt, "privacy others maybe", "Usage")
