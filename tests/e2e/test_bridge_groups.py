"""MSN contact groups as sub-spaces of the user's "MSN" space (bridge/spaces.py)."""

from __future__ import annotations

from typing import Any
import re

from tests.support.harness import Stack
from tests.support.synapse import MatrixTestClient


def _invite_state(user: MatrixTestClient, room_id: str, type_: str) -> dict[str, Any] | None:
    for evt in user.invite_history.get(room_id, []):
        if evt.get("type") == type_:
            content: dict[str, Any] = evt.get("content", {})
            return content
    return None


def _space_named(user: MatrixTestClient, name: str) -> str | None:
    for room_id in user.invite_history:
        create = _invite_state(user, room_id, "m.room.create") or {}
        room_name = _invite_state(user, room_id, "m.room.name") or {}
        if create.get("type") == "m.space" and room_name.get("name") == name:
            return room_id
    return None


def _is_child(user: MatrixTestClient, space: str, room: str) -> bool:
    content = user.room_state(space, "m.space.child", room)
    return bool(content and content.get("via"))


async def test_contact_groups_are_sub_spaces(stack: Stack) -> None:
    pair = stack.new_pair()  # bob is in alice's group "Friends"
    carol = stack.unique("carol") + "@example.com"
    stack.msn.add_account(carol, "carolpw", "Carol")
    stack.msn.make_mutual(pair.passport, carol)  # carol is in no group
    stack.msn.add_group(pair.passport, "Work")  # an empty group gets a sub-space too
    user, mgmt = await stack.logged_in(pair)

    # after login: the "MSN" space with one sub-space per group
    root = await user.wait_for(lambda: _space_named(user, "MSN"), 20, 'the "MSN" space')
    friends = await user.wait_for(lambda: _space_named(user, "Friends"), 20, '"Friends"')
    work = await user.wait_for(lambda: _space_named(user, "Work"), 20, '"Work"')
    await user.join(root)
    await user.join(friends)
    await user.wait_for(lambda: _is_child(user, root, friends), 20, "Friends in MSN")
    await user.wait_for(lambda: _is_child(user, root, work), 20, "Work in MSN")
    parent = user.room_state(friends, "m.space.parent", root)
    assert parent and parent.get("via")

    # bob's DM goes into "Friends", carol's (no group) directly into "MSN"
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    await bob.client.send_text(pair.passport, "hello from a friend")
    dm = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.wait_for(lambda: _is_child(user, friends, dm), 20, "bob's DM in Friends")
    carol_peer = await stack.msn_peer(carol, "carolpw")
    await carol_peer.client.send_text(pair.passport, "hello from nowhere")
    carol_dm = await user.wait_for_invite(sender=stack.ghost_mxid(carol), timeout=20)
    await user.wait_for(lambda: _is_child(user, root, carol_dm), 20, "carol's DM in MSN")
    assert not _is_child(user, root, dm)
    assert not _is_child(user, friends, carol_dm)

    # renamed on the MSN side while connected: the server pushes REG
    group = await stack.msn.rename_group_elsewhere(pair.passport, "Friends", "Best Friends")
    account = stack.msn.account(pair.passport)

    def renamed() -> bool:
        return (user.room_state(friends, "m.room.name") or {}).get("name") == "Best Friends"

    await user.wait_for(renamed, 30, "the sub-space renamed to Best Friends")
    assert _is_child(user, root, friends)
    assert _is_child(user, friends, dm)
    assert not _is_child(user, root, dm)

    # removed on the MSN side while connected (RMG pushed by the server): the sub-space is
    # unlinked and bob's DM moves up into the MSN space
    account.remove_group(group.guid)
    await stack.msn.send_raw(pair.passport, f"RMG 0 {account.ser} {group.guid}\r\n".encode())
    await user.wait_for(lambda: not _is_child(user, root, friends), 20, "Friends unlinked")
    await user.wait_for(lambda: _is_child(user, root, dm), 20, "bob's DM moved to MSN")
    await user.wait_for(lambda: not _is_child(user, friends, dm), 20, "bob's DM out of Friends")
    assert _is_child(user, root, work)
    # the bridge still works with the group gone
    contacts = await stack.command(user, mgmt, "contacts", pair.contact)
    assert "Friends" not in contacts["content"]["body"]


async def test_the_users_remove_and_add_move_the_dm_between_spaces(stack: Stack) -> None:
    """`remove` and `add` are applied from the client's events (no re-read of the list): the
    spaces follow, and the other contacts are left alone."""
    pair = stack.new_pair()  # bob is in alice's group "Friends"
    user, mgmt = await stack.logged_in(pair)
    root = await user.wait_for(lambda: _space_named(user, "MSN"), 20, 'the "MSN" space')
    friends = await user.wait_for(lambda: _space_named(user, "Friends"), 20, '"Friends"')
    await user.join(root)
    await user.join(friends)
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    await bob.client.send_text(pair.passport, "hello from a friend")
    dm = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.wait_for(lambda: _is_child(user, friends, dm), 20, "bob's DM in Friends")

    await stack.command(user, mgmt, f"remove {pair.contact}", f"Removed {pair.contact}")
    await user.wait_for(lambda: _is_child(user, root, dm), 20, "bob's DM moved to MSN")
    await user.wait_for(lambda: not _is_child(user, friends, dm), 20, "bob's DM out of Friends")
    listed = await stack.command(user, mgmt, "contacts", re.compile("contact list is empty|####"))
    assert pair.contact not in listed["content"]["body"]

    await stack.command(user, mgmt, f"add {pair.contact}", f"Added {pair.contact}")
    listed = await stack.command(user, mgmt, "contacts", pair.contact)
    assert "No group" in listed["content"]["body"]  # added back, into no group
    assert _is_child(user, root, dm) and not _is_child(user, friends, dm)
    assert _is_child(user, root, friends)  # the group's sub-space stays
