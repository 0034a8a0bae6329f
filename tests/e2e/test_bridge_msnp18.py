"""End to end at MSNP18: the bridge signs in beside the user's own Messenger and both stay on.

One stack of its own (Synapse, the MSN test server, the bridge with ``msn.protocol_max: 18``),
so the shared stacks keep their MSNP12 configuration. The user's own Messenger is a raw
MSNP18 client from the test server's helpers (written apart from ``bridge.msnp``), signed in
before the bridge with a machine GUID of its own.
"""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator
from dataclasses import replace

from mautrix.types import EventType, PaginationDirection
import pytest
import pytest_asyncio

from bridge.msnp.events import TextMessageReceived
from tests.msn_server import MSNServer
from tests.msn_server.msnp13_helpers import GUID_A, caps_for, initial_ml
from tests.msn_server.rawclient import RawClient, login_sso
from tests.support.harness import MSNPeer, Stack, poll
from tests.support.synapse import synapse_python

TEXT = b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n"


def _configure(config: dict[str, Any]) -> None:
    config["msn"]["protocol_max"] = 18


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-msnp18"), "sqlite", configure=_configure)
    async with stack.running():
        yield stack


async def _messenger(msn: MSNServer, email: str, password: str) -> RawClient:
    """The user's own Messenger: SSO login at MSNP18, the initial ADL, CHG NLN."""
    client, _ = await login_sso(
        msn.ns_address, msn.http_base, email, password, 18, machine_guid=GUID_A
    )
    t = await client.cmd("ADL", payload=initial_ml(msn, email))
    await client.expect(f"ADL {t}")
    t = await client.cmd("CHG", "NLN", caps_for(18))
    await client.expect(f"CHG {t}")
    return client


async def _still_on(messenger: RawClient) -> None:
    """A round trip on the Messenger's NS connection (an OUT OTH would have closed it)."""
    await messenger.cmd("PNG")
    await messenger.expect("QNG")


async def test_msnp18_chat_both_ways_beside_the_users_messenger(stack: Stack) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    messenger = await _messenger(msn, pair.passport, pair.password)
    async with messenger:
        user, _ = await stack.logged_in(pair)
        bridge_endpoints = [
            ep for ep in msn.endpoints[pair.passport] if ep.machine_guid != GUID_A.lower()
        ]
        assert len(bridge_endpoints) == 1 and bridge_endpoints[0].v == 18
        assert bridge_endpoints[0].ep_name == "Matrix bridge"
        await _still_on(messenger)

        config = replace(stack.client_config(), protocols=(18,))
        bob = MSNPeer(config, pair.contact, pair.contact_password)
        await bob.login()
        try:
            # the contact writes: the message reaches the Matrix room
            room, _ = await stack.open_dm(pair, user, bob, "hello from bob at MSNP18")
            # the user answers from Matrix: the contact gets it
            mark = bob.mark()
            await user.send_text(room, "hello back from Matrix")
            got = await bob.wait_for_type(
                TextMessageReceived,
                lambda e: e.text == "hello back from Matrix",
                after=mark,
            )
            assert got.sender == pair.passport

            # the user writes from their own Messenger: it rings the bridge in, then bob
            t = await messenger.cmd("XFR", "SB")
            xfr = await messenger.expect(f"XFR {t}")
            sb = await RawClient.connect(xfr.tokens[3])
            async with sb:
                t = await sb.cmd("USR", f"{pair.passport};{GUID_A}", xfr.tokens[5])
                await sb.expect(f"USR {t}")
                t = await sb.cmd("CAL", pair.passport)
                await sb.expect(f"CAL {t}")
                own = f"joi {pair.passport};"
                while not (await sb.read()).line.lower().startswith(own):
                    pass  # until the bridge's endpoint answered
                t = await sb.cmd("CAL", pair.contact)
                await sb.expect(f"CAL {t}")
                await sb.expect(f"JOI {pair.contact}")
                await sb.cmd("MSG", "N", payload=TEXT + b"typed in my Messenger")
                await user.wait_for_message(
                    room,
                    "You wrote from Messenger: typed in my Messenger",
                    sender=pair.contact_ghost,
                    msgtype="m.notice",
                    timeout=20,
                )
            await _still_on(messenger)
            assert len(msn.endpoints[pair.passport]) == 2
        finally:
            await bob.close()


async def test_offline_messages_bridged_in_order_with_their_times_then_deleted(
    stack: Stack,
) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    sent = 1_700_000_000  # an afternoon in November 2023
    run = "{1A2B3C4D-0000-4000-8000-000000000001}"
    msn.store_oim(pair.contact, pair.passport, "second", received=sent + 30, run_id=run, seq=2)
    msn.store_oim(pair.contact, pair.passport, "first", received=sent, run_id=run, seq=1)
    user, _ = await stack.logged_in(pair)
    room = await user.wait_for_invite(sender=pair.contact_ghost, timeout=20)
    await user.join(room)
    second = await user.wait_for_message(room, "second", sender=pair.contact_ghost, timeout=20)
    # the room's history as the server keeps it (a sync after the join may start after "first")
    page = await user.api.get_messages(room, PaginationDirection.BACKWARD, limit=100)
    messages = [
        e
        for e in reversed(page.events)
        if e.type == EventType.ROOM_MESSAGE and e.sender == pair.contact_ghost
    ]
    assert [e.content.body for e in messages] == ["first", "second"]
    assert messages[0].timestamp == sent * 1000
    assert second["origin_server_ts"] == (sent + 30) * 1000

    async def deleted() -> bool:
        return not msn.oims.get(pair.passport)

    await poll(deleted, 10, "the offline messages deleted on the server")


async def test_a_message_to_an_offline_contact_becomes_an_offline_message(stack: Stack) -> None:
    pair = stack.new_pair()
    msn = stack.msn
    user, _ = await stack.logged_in(pair)
    bob = MSNPeer(
        replace(stack.client_config(), protocols=(18,)), pair.contact, pair.contact_password
    )
    await bob.login()
    room, _ = await stack.open_dm(pair, user, bob, "bye for now")
    await bob.close()

    async def bob_offline() -> bool:
        return msn.online(pair.contact) is None

    await poll(bob_offline, 10, "bob offline")
    await user.send_text(room, "read this when you are back")

    async def stored() -> bool:
        return any(m.text == "read this when you are back" for m in msn.oims.get(pair.contact, []))

    await poll(stored, 20, "the offline message stored for bob")
    (oim,) = msn.oims[pair.contact]
    assert oim.sender == pair.passport
