"""P2P through the MSNClient facade: switchboard messages reach its P2PManager, pictures are
fetched and served, files offered to it become events. MSNClient against tests/msn_server,
with the independent test peer (``tests.p2p_peer``) on the other side."""

from __future__ import annotations

import asyncio
import os

import pytest

from bridge.msnp.capabilities import ClientCapabilities, supports_p2p
from bridge.msnp.events import FileOffered, OtherMessageReceived
from bridge.msnp.msnobject import parse_msnobject
from tests.msn_server.fixtures import running_server
from tests.p2p_peer import P2PPeer
from tests.support.client_fixtures import logged_in, wait_until

pytestmark = pytest.mark.timeout(60)

ALICE, BOB = "alice@example.com", "bob@example.com"


async def test_pictures_both_ways_and_a_file_offer_event() -> None:
    async with running_server() as server:
        alice, rec = await logged_in(server, ALICE, 12)
        picture = os.urandom(20_000)
        peer = await P2PPeer.login(
            server.ns_address, server.passport_url, BOB, "bob123", picture=picture
        )
        try:
            # what is advertised is what is honoured: MSNC1 (P2P), multi-packet, GIF ink
            await peer.ns.wait_for(lambda: ALICE in peer.ns.presence)  # type: ignore[union-attr]
            caps = peer.ns.presence[ALICE].caps  # type: ignore[union-attr]
            assert caps == (
                ClientCapabilities.MSNC1
                | ClientCapabilities.MULTI_PACKET
                | ClientCapabilities.INK_GIF
            )
            assert supports_p2p(caps)

            assert peer.picture_msnobj is not None
            obj = parse_msnobject(peer.picture_msnobj)
            assert await alice.p2p.fetch_object(BOB, obj) == picture  # opens the switchboard
            assert sum(peer.fetches.values()) == 1

            ours = alice.p2p.own_object(b"alice's picture")
            assert await peer.fetch_object(ALICE, ours.xml) == b"alice's picture"

            sending = asyncio.create_task(peer.send_file(ALICE, "notes.txt", b"hello there"))
            offered = await rec.wait(FileOffered)
            assert (offered.conversation, offered.sender) == (BOB, BOB)
            assert (offered.offer.filename, offered.offer.size) == ("notes.txt", 11)
            data = b"".join([chunk async for chunk in offered.offer.accept()])
            assert data == b"hello there" and await sending == "done"
            # P2P never surfaces as an "other" message
            assert not [e for e in rec.of(OtherMessageReceived) if "msnmsgrp2p" in e.content_type]
            assert alice.counters["p2p_objects_fetched"] == 1
            await wait_until(lambda: alice.counters["p2p_objects_served"] == 1, 15)
        finally:
            await alice.close()
            await peer.close()
