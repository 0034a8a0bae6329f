"""P2P at MSNP18: the library (MSNClient) with a contact on Windows Live Messenger 2009.

The contact is ``tests.p2p_peer`` signed in at MSNP18 with Messenger 2009's capabilities
(MSNC10, extended: P2P v2). It frames P2P as v2 only with an endpoint that offers v2 too; the
library does not offer it (``caps:0``), so pictures and files go both ways in v1. Two peers
that both offer v2 do speak v2 through the same server (the peer's v2 checked on its own), and
a v2 packet forced on the library ends only the P2P session it names.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from bridge.msnp.capabilities import parse_extended_capabilities
from bridge.msnp.events import FileOffered, PresenceChanged, TextMessageReceived
from bridge.msnp.msnobject import parse_msnobject
from tests.msn_server.fixtures import running_server
from tests.p2p_peer import WLM2009_CAPS, WLM2009_CAPS_EX, P2PPeer
from tests.support.client_fixtures import logged_in, wait_until

pytestmark = pytest.mark.timeout(90)

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
PASSWORDS = {ALICE: "alice123", BOB: "bob123", CAROL: "carol123"}


async def messenger_2009(server: object, email: str, picture: bytes | None = None) -> P2PPeer:
    return await P2PPeer.login(
        server.ns_address, server.passport_url, email, PASSWORDS[email],  # type: ignore[attr-defined]
        picture=picture, caps=WLM2009_CAPS, caps_ex=WLM2009_CAPS_EX, version=18,
        http_base=server.http_base,  # type: ignore[attr-defined]
        contacts=tuple(e for e in PASSWORDS if e != email),
    )  # fmt: skip


async def test_pictures_and_files_both_ways_fall_back_to_v1() -> None:
    async with running_server() as server:
        bob_picture = os.urandom(30_000)
        bob = await messenger_2009(server, BOB, bob_picture)
        alice, rec = await logged_in(server, ALICE, 18)
        try:
            assert alice.protocol == 18
            # bob's MSN object, read from the MSNP18 NLN, is fetched over the switchboard
            seen = await rec.wait(PresenceChanged, lambda e: e.passport == BOB, timeout=15)
            assert seen.msn_object is not None
            obj = parse_msnobject(seen.msn_object)
            assert obj.creator == BOB
            assert await alice.p2p.fetch_object(BOB, obj) == bob_picture
            # what the library advertised: no P2P v2, so bob chose v1
            assert bob.ns is not None
            await bob.ns.wait_for(lambda: ALICE in bob.ns.presence)  # type: ignore[union-attr]
            assert bob.ns.presence[ALICE].caps_ex == 0
            sb = bob.switchboard_with(ALICE)
            assert sb is not None and bob.version_with(sb, ALICE) == 1
            assert sb.endpoints[ALICE][1] & 0x20 == 0  # the bridge's endpoint in JOI/IRO

            # alice's own picture, announced with CHG at MSNP18, fetched by bob
            ours = await alice.p2p.set_display_picture(b"alice's 2009 picture")
            assert ours is not None
            await wait_until(lambda: "SHA1D" in bob.ns.presence[ALICE].msnobj, 15)  # type: ignore[union-attr]
            assert bob.ns.presence[ALICE].msnobj == ours.xml
            assert await bob.fetch_object(ALICE, ours.xml) == b"alice's 2009 picture"

            # a file from bob, and one from alice
            data = os.urandom(200_000)
            sending = asyncio.create_task(bob.send_file(ALICE, "photo.jpg", data))
            offered = await rec.wait(FileOffered, timeout=20)
            assert (offered.offer.filename, offered.offer.size) == ("photo.jpg", len(data))
            assert b"".join([c async for c in offered.offer.accept()]) == data
            assert await sending == "done"

            async def source() -> object:
                yield b"from the bridge" * 1000

            await alice.p2p.send_file(BOB, "notes.txt", 15_000, source())  # type: ignore[arg-type]
            received = await asyncio.wait_for(bob.received.get(), 30)
            assert (received.name, received.data) == ("notes.txt", b"from the bridge" * 1000)

            assert bob.sent_versions[2] == 0 and bob.received_versions[2] == 0
            assert bob.sent_versions[1] > 0 and bob.received_versions[1] > 0
        finally:
            await alice.close()
            await bob.close()


async def test_two_messenger_2009_peers_speak_v2() -> None:
    async with running_server() as server:
        picture = os.urandom(20_000)
        bob = await messenger_2009(server, BOB, picture)
        carol = await messenger_2009(server, CAROL)
        try:
            assert carol.ns is not None and bob.picture_msnobj is not None
            await carol.ns.wait_for(lambda: BOB in carol.ns.presence)  # type: ignore[union-attr]
            assert parse_extended_capabilities(f"0:{carol.ns.presence[BOB].caps_ex}") == 0x30
            sb = await carol.ns.open_switchboard(BOB)
            await bob.wait_switchboard_with(CAROL)
            assert carol.version_with(sb, BOB) == 2
            assert await carol.fetch_object(BOB, bob.picture_msnobj) == picture
            data = os.urandom(50_000)
            assert await carol.send_file(BOB, "v2.bin", data) == "done"
            received = await asyncio.wait_for(bob.received.get(), 30)
            assert received.data == data
            assert carol.sent_versions[1] == 0 and bob.sent_versions[1] == 0
            assert carol.sent_versions[2] > 0 and bob.received_versions[2] > 0
        finally:
            await bob.close()
            await carol.close()


async def test_v2_forced_on_the_library_ends_the_session_not_the_switchboard() -> None:
    async with running_server() as server:
        bob = await messenger_2009(server, BOB)
        alice, rec = await logged_in(server, ALICE, 18)
        try:
            assert bob.ns is not None
            await bob.ns.wait_for(lambda: ALICE in bob.ns.presence)  # type: ignore[union-attr]
            sb = await bob.ns.open_switchboard(ALICE)
            bob.version_with = lambda sb, other: 2  # type: ignore[method-assign]
            assert await bob.send_file(ALICE, "ignored.bin", b"x" * 5000, timeout=5) == "timeout"
            manager = alice.p2p.manager
            assert manager is not None and manager.stats["v2_refused"] >= 1
            assert not rec.of(FileOffered)
            # the switchboard is still there: a text from bob arrives
            await bob.send_text(ALICE, "still here")
            got = await rec.wait(TextMessageReceived, lambda e: e.text == "still here", timeout=15)
            assert got.sender == BOB and not sb.closed.is_set()
        finally:
            await alice.close()
            await bob.close()
