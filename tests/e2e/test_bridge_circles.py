"""End to end at MSNP18: a circle (persistent group chat) is a Matrix room, both ways.

One stack of its own (Synapse, the bridge on PostgreSQL, the MSN test server, the bridge with
``msn.protocol_max: 18``). The circle's other members are raw MSNP18 clients from
the test server's helpers (written apart from ``bridge.msnp``): they join the circle with the
ticket from their address book and write ``SDG`` messages to it.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator

from mautrix.types import RoomID
import pytest
import pytest_asyncio

from tests.msn_server.circle_client import circle_member, sdg
from tests.support.harness import Stack, poll
from tests.support.synapse import synapse_python

GUID_BOB = "{b0b0b0b0-0000-4000-8000-00000000000b}"


def _configure(config: dict[str, Any]) -> None:
    config["msn"]["protocol_max"] = 18


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory, pg_server: Any) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-circles"), "postgres", pg_server, _configure)
    async with stack.running():
        yield stack


async def test_a_circle_is_a_room_with_messages_both_ways_and_its_members(stack: Stack) -> None:
    pair = stack.new_pair()
    other = stack.new_pair()  # other.contact: a member who is not the user's contact
    msn = stack.msn
    circle = msn.add_circle("Book club", pair.contact, [pair.passport, other.contact])
    user, _ = await stack.logged_in(pair)

    # the circle's room: made at login, named after the circle, the members' ghosts in it
    def invited_to_the_circle() -> RoomID | None:
        for room_id, events in user.invites.items():
            for evt in events:
                if evt.get("type") == "m.room.name" and evt["content"].get("name") == "Book club":
                    return room_id
        return None

    room = await user.wait_for(invited_to_the_circle, 30, "an invite to the room 'Book club'")
    await user.join(room)
    await user.wait_for_membership(room, pair.contact_ghost)
    await user.wait_for_membership(room, stack.ghost_mxid(other.contact))

    bob = await circle_member(msn, pair.contact, pair.contact_password, GUID_BOB)
    async with bob:
        # MSN -> Matrix
        await bob.cmd("SDG", payload=sdg(circle.guid, pair.contact, GUID_BOB, "chapter 3?"))
        await user.wait_for_message(room, "chapter 3?", sender=pair.contact_ghost, timeout=20)

        # Matrix -> MSN, with a send status
        event_id = await user.send_text(room, "yes, chapter 3 ✓")
        relayed = await bob.expect("SDG", timeout=20)
        assert relayed.payload is not None
        assert relayed.payload.endswith("yes, chapter 3 ✓".encode())
        assert f"From: 1:{pair.passport};epid=".encode() in relayed.payload
        status = await user.wait_for_send_status(room, event_id, timeout=20)
        assert status["content"]["status"] == "SUCCESS"

        # membership follows the circle's: one taken out leaves, one added joins
        msn.change_circle_members(circle, remove=[other.contact])
        await user.wait_for_membership(room, stack.ghost_mxid(other.contact), "leave", 20)
        msn.change_circle_members(circle, add=[other.passport])
        await user.wait_for_membership(room, stack.ghost_mxid(other.passport), "join", 20)

    # the same circle comes back to the same room after a restart
    await stack.restart_bridge()

    async def bridge_rejoined() -> bool:
        return any(c.account is not None and c.account.email == pair.passport
                   for c in circle.joined)  # fmt: skip

    await poll(bridge_rejoined, 40, "the bridge's endpoint joined the circle again")
    bob = await circle_member(msn, pair.contact, pair.contact_password, GUID_BOB)
    async with bob:
        await bob.cmd("SDG", payload=sdg(circle.guid, pair.contact, GUID_BOB, "after restart"))
        await user.wait_for_message(room, "after restart", sender=pair.contact_ghost, timeout=40)
