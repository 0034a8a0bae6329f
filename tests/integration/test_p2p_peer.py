"""The library's P2PManager against the independent test peer, over tests/msn_server's relay.

Alice is the library side (a raw switchboard connection feeding a P2PManager); Bob is
``tests.p2p_peer`` with its own P2P implementation. Every byte crosses real sockets and the
test server's switchboard (``MSG D``, the 1664-byte limit).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import asyncio
import hashlib
import os

import pytest

from bridge.msnp.capabilities import ClientCapabilities, parse_capabilities, supports_p2p
from bridge.msnp.errors import TransferDeclined, TransferTimeout
from bridge.msnp.msnobject import MSNObject, build_msnobject, parse_emoticons, parse_msnobject
from bridge.msnp.multipacket import MultiPacketReassembler
from bridge.msnp.p2p_session import FileOffer, P2PLimits, P2PManager
from tests.msn_server import MSNServer
from tests.msn_server.fixtures import running_server
from tests.p2p_peer import DEFAULT_CAPS, P2PPeer

from .p2p_link import LibrarySide, RawP2PLink

ALICE, BOB = "alice@example.com", "bob@example.com"
CAPS = ClientCapabilities.MSNC4 | ClientCapabilities.MULTI_PACKET
THREE_MB = 3 * 1024 * 1024


async def source(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class Setup:
    def __init__(self, server: MSNServer, peer: P2PPeer, alice: LibrarySide) -> None:
        self.server = server
        self.peer = peer
        self.alice = alice
        self.offers: asyncio.Queue[FileOffer] = asyncio.Queue()

    async def link(self, manager: P2PManager) -> RawP2PLink:
        link = await self.alice.open_switchboard(BOB, manager)
        await self.peer.wait_switchboard_with(ALICE)
        return link


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    async with running_server() as server:
        picture = os.urandom(40_000)
        peer = await P2PPeer.login(
            server.ns_address, server.passport_url, BOB, "bob123", picture=picture
        )
        own = build_msnobject(ALICE, b"alice's avatar")
        alice = await LibrarySide.login(
            server.ns_address, server.passport_url, ALICE, "alice123", int(CAPS),
            own.xml, expect_online=1,
        )  # fmt: skip
        try:
            yield Setup(server, peer, alice)
        finally:
            await alice.close()
            await peer.close()


def bob_in_iln(setup: Setup) -> tuple[int, MSNObject]:
    (iln,) = setup.alice.iln
    tokens = iln.tokens  # ILN trid status email name caps msnobj
    assert tokens[3] == BOB
    return parse_capabilities(tokens[5]), parse_msnobject(tokens[6])


async def test_display_picture_from_iln_fetched_over_the_switchboard(setup: Setup) -> None:
    caps, obj = bob_in_iln(setup)
    assert caps == DEFAULT_CAPS and supports_p2p(caps)
    assert obj.creator == BOB and obj.sha1c_valid
    manager = P2PManager(ALICE)
    link = await setup.link(manager)
    data = await manager.fetch_object(link, BOB, obj)
    assert obj.matches(data) and setup.peer.fetches[obj.sha1d] == 1
    p2p = [m for m in setup.server.messages if m.content_type == "application/x-msnmsgrp2p"]
    assert p2p and all(m.ack_mode == "D" and len(m.payload) <= 1664 for m in p2p)
    await manager.close()


async def test_peer_fetches_our_display_picture(setup: Setup) -> None:
    avatar = os.urandom(9000)
    ours = build_msnobject(ALICE, avatar)
    asked: list[tuple[MSNObject, str]] = []

    async def provide(obj: MSNObject, requester: str) -> bytes | None:
        asked.append((obj, requester))
        return avatar if obj.sha1d == ours.sha1d else None

    manager = P2PManager(ALICE, object_provider=provide)
    await setup.link(manager)
    assert await setup.peer.fetch_object(ALICE, ours.xml) == avatar
    assert await setup.peer.fetch_object(ALICE, build_msnobject(ALICE, b"other").xml) is None
    assert [(o.sha1d, who) for o, who in asked] == [(ours.sha1d, BOB), (asked[1][0].sha1d, BOB)]
    await asyncio.wait_for(_until(lambda: manager.stats["objects_served"] == 1), 10)
    await manager.close()


async def _until(predicate: object) -> None:
    assert callable(predicate)
    while not predicate():
        await asyncio.sleep(0.01)


async def test_file_from_peer_streams_into_the_library(setup: Setup) -> None:
    data = os.urandom(THREE_MB)
    received: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()

    async def read(offer: FileOffer) -> None:
        digest, peak = hashlib.sha256(), 0
        async for chunk in offer.accept():
            digest.update(chunk)
            peak = max(peak, manager.budget.used)
        received.set_result((offer.filename, digest.hexdigest()))

    tasks: list[asyncio.Task[None]] = []
    manager = P2PManager(ALICE, on_file_offer=lambda o: tasks.append(asyncio.create_task(read(o))))
    await setup.link(manager)
    result = await setup.peer.send_file(ALICE, "movie.avi", data, probe_direct=True)
    assert result == "done"
    name, digest = await asyncio.wait_for(received, 30)
    assert (name, digest) == ("movie.avi", hashlib.sha256(data).hexdigest())
    # the direct-connection probe was answered: not listening, data stays on the switchboard
    (answer,) = setup.peer.direct_answers
    assert answer.status == 200 and answer.body["Listening"] == "false"
    assert manager.stats["files_received"] == 1
    assert manager.budget.peak < THREE_MB // 3  # streamed, never held whole
    await manager.close()


async def test_file_from_library_to_peer(setup: Setup) -> None:
    data = os.urandom(THREE_MB)
    manager = P2PManager(ALICE)
    link = await setup.link(manager)
    await manager.send_file(link, BOB, "report.pdf", len(data), source(data))
    received = await asyncio.wait_for(setup.peer.received.get(), 30)
    assert (received.sender, received.name, received.size) == (ALICE, "report.pdf", len(data))
    assert hashlib.sha256(received.data).digest() == hashlib.sha256(data).digest()
    assert manager.stats["files_sent"] == 1
    await asyncio.wait_for(_until(lambda: manager.session_count == 0), 10)
    await manager.close()


async def test_peer_declines_or_ignores_our_file(setup: Setup) -> None:
    manager = P2PManager(ALICE)
    link = await setup.link(manager)
    setup.peer.file_policy = "decline"
    with pytest.raises(TransferDeclined):
        await manager.send_file(link, BOB, "no.txt", 5, source(b"hello"))
    setup.peer.file_policy = "ignore"
    with pytest.raises(TransferTimeout):
        await manager.send_file(link, BOB, "late.txt", 5, source(b"hello"), invite_timeout=0.5)
    assert [name for _, name, _ in setup.peer.offers] == ["no.txt", "late.txt"]
    assert setup.peer.received.empty()
    await manager.close()


async def test_oversize_file_is_declined_by_the_library(setup: Setup) -> None:
    offers: list[FileOffer] = []
    manager = P2PManager(ALICE, limits=P2PLimits(max_file_size=1000), on_file_offer=offers.append)
    await setup.link(manager)
    assert await setup.peer.send_file(ALICE, "big.iso", b"x" * 1001) == "declined"
    assert offers == [] and manager.stats["declined"] == 1
    await manager.close()


async def test_custom_emoticons_are_fetched_like_pictures(setup: Setup) -> None:
    manager = P2PManager(ALICE)
    link = await setup.link(manager)
    cat, party = os.urandom(3000), os.urandom(5000)
    sent = await setup.peer.send_emoticons(
        ALICE, "hi (cat) and :party:", {"(cat)": cat, ":party:": party}
    )
    sender, announce = await asyncio.wait_for(link.messages.get(), 10)
    assert sender == BOB and announce.content_type == "text/x-mms-emoticon"
    emoticons = parse_emoticons(announce.text)
    assert [s for s, _ in emoticons] == ["(cat)", ":party:"]
    for (shortcut, obj), expected in zip(emoticons, (cat, party), strict=True):
        assert obj.xml == sent[shortcut]
        assert await manager.fetch_object(link, BOB, obj) == expected
    _, text = await asyncio.wait_for(link.messages.get(), 10)
    assert text.text == "hi (cat) and :party:"
    assert sum(setup.peer.fetches.values()) == 2
    await manager.close()


async def test_multi_packet_message_is_reassembled(setup: Setup) -> None:
    manager = P2PManager(ALICE)
    link = await setup.link(manager)
    text = "Ünïcödé and a long story. " * 150  # ~4 KB: more than one MSG can carry
    message_id = await setup.peer.send_multipacket(ALICE, text, parts=4)
    reassembler = MultiPacketReassembler()
    result = None
    loop = asyncio.get_running_loop()
    for _ in range(4):
        sender, part = await asyncio.wait_for(link.messages.get(), 10)
        assert part.get("Message-ID") == message_id
        result = reassembler.feed(sender, part, loop.time())
    assert result is not None and result.text == text and result.content_type == "text/plain"
    await manager.close()
