"""Messages split into parts (``Message-ID``/``Chunks``/``Chunk``) by another client reach the
handler whole: MSNClient against tests/msn_server, with the independent test peer
(``tests.p2p_peer``) as the sender."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.events import OtherMessageReceived, TextMessageReceived
from tests.msn_server.fixtures import running_server
from tests.p2p_peer import P2PPeer
from tests.support.client_fixtures import Recorder, logged_in

pytestmark = pytest.mark.timeout(60)

ALICE, BOB = "alice@example.com", "bob@example.com"


@asynccontextmanager
async def alice_and_peer() -> AsyncIterator[tuple[MSNClient, Recorder, P2PPeer]]:
    """Alice (the library) in a conversation with bob (the peer)."""
    async with running_server() as server:
        alice, rec = await logged_in(server, ALICE, 12)
        peer = await P2PPeer.login(server.ns_address, server.passport_url, BOB, "bob123")
        try:
            await alice.send_text(BOB, "hello")  # opens a switchboard; the peer joins it
            await peer.wait_switchboard_with(ALICE)
            yield alice, rec, peer
        finally:
            await alice.close()
            await peer.close()


async def test_a_message_in_four_parts_is_one_event() -> None:
    async with alice_and_peer() as (alice, rec, peer):
        text = "Ünïcödé and a long story. " * 150  # ~4 KB: more than one MSG can carry
        await peer.send_multipacket(ALICE, text, parts=4)
        await peer.send_text(ALICE, "and then")
        await rec.wait(TextMessageReceived, text="and then")  # after every part
        received = rec.of(TextMessageReceived, sender=BOB)
        assert [e.text for e in received] == [text, "and then"]
        assert received[0].conversation == BOB and received[0].format.font == "Arial"
        assert not rec.of(OtherMessageReceived)
        assert alice.counters["multipacket_dropped"] == 0


async def test_a_message_with_a_missing_part_is_dropped_and_counted() -> None:
    async with alice_and_peer() as (alice, rec, peer):
        sb = await peer.wait_switchboard_with(ALICE)
        first = (
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
            b"Message-ID: {0D3E0A5C-1111-2222-3333-444455556666}\r\nChunks: 3\r\n\r\npart one"
        )
        third = b"Message-ID: {0D3E0A5C-1111-2222-3333-444455556666}\r\nChunk: 2\r\n\r\nthree"
        assert await sb.send(first, "A") and await sb.send(third, "A")  # Chunk 1 never came
        await peer.send_text(ALICE, "and then")
        await rec.wait(TextMessageReceived, text="and then")
        assert [e.text for e in rec.of(TextMessageReceived, sender=BOB)] == ["and then"]
        assert not rec.of(OtherMessageReceived)
        assert alice.counters["multipacket_dropped"] == 1
