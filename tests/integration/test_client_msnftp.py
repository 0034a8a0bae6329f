"""MSNFTP (MSN Messenger 4-5 files) through the MSNClient facade: the invitation becomes a
FileOffered event, an accepted file is fetched from the sender's computer byte for byte, and
unreachable or refused addresses end with a CANCEL. MSNClient against tests/msn_server, with the
independent sender of ``tests.p2p_peer.msnftp_sender`` on the other side."""

from __future__ import annotations

from collections.abc import AsyncIterator
import asyncio
import contextlib
import os
import socket

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.errors import PeerUnreachable, TransferTimeout
from bridge.msnp.events import FileOffered
from bridge.msnp.msnftp_transfer import MsnftpOffer
from bridge.msnp.p2p_transfer import P2PLimits
from tests.msn_server.fixtures import running_server
from tests.p2p_peer import P2PPeer
from tests.p2p_peer.msnftp_sender import send_msnftp
from tests.support.client_fixtures import Recorder, logged_in

pytestmark = pytest.mark.timeout(60)

ALICE, BOB = "alice@example.com", "bob@example.com"


@contextlib.asynccontextmanager
async def pair(
    private: bool, stall_timeout: float = 60
) -> AsyncIterator[tuple[MSNClient, Recorder, P2PPeer]]:
    async with running_server() as server:
        limits = P2PLimits(
            msnftp_private_addresses=private, msnftp_connect_timeout=5, stall_timeout=stall_timeout
        )
        alice, rec = await logged_in(server, ALICE, 12, p2p=limits)
        peer = await P2PPeer.login(server.ns_address, server.passport_url, BOB, "bob123")
        try:
            assert peer.ns is not None
            await peer.ns.open_switchboard(ALICE)
            yield alice, rec, peer
        finally:
            await alice.close()
            await peer.close()


async def offer_of(rec: Recorder) -> MsnftpOffer:
    offered = await rec.wait(FileOffered)
    assert isinstance(offered.offer, MsnftpOffer)
    assert offered.sender == BOB
    return offered.offer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_file_arrives_byte_for_byte_from_the_senders_computer() -> None:
    async with pair(private=True) as (_alice, rec, peer):
        data = os.urandom(1024 * 1024 + 17)
        sending = asyncio.create_task(send_msnftp(peer, ALICE, "big.bin", data))
        offer = await offer_of(rec)
        assert (offer.filename, offer.size) == ("big.bin", len(data))
        received = bytearray()
        async for chunk in offer.accept():
            received += chunk
        assert bytes(received) == data
        result = await sending
        assert result.outcome == "done"
        assert result.usr[:2] == ["USR", ALICE]
        assert result.bye == "BYE 16777989"


async def test_a_declined_offer_is_cancelled_with_reject() -> None:
    async with pair(private=True) as (_alice, rec, peer):
        sending = asyncio.create_task(send_msnftp(peer, ALICE, "no.txt", b"no"))
        (await offer_of(rec)).decline()
        result = await sending
        assert (result.outcome, result.cancel_code) == ("declined", "REJECT")


@pytest.mark.parametrize("private", [True, False])
async def test_an_unreachable_or_private_sender_gets_a_cancel(private: bool) -> None:
    # a closed port when private addresses are allowed; a listening one when they are not
    async with pair(private=private) as (_alice, rec, peer):
        announce = f"127.0.0.1:{closed_port()}" if private else None
        sending = asyncio.create_task(
            send_msnftp(peer, ALICE, "x.txt", b"data", announce=announce, timeout=10)
        )
        offer = await offer_of(rec)
        with pytest.raises(PeerUnreachable):
            async for _ in offer.accept():
                pass
        result = await sending
        assert (result.outcome, result.cancel_code) == ("cancelled", "FAIL")
        assert result.usr == []  # never connected to


async def test_a_sender_that_stops_sending_is_given_up_on() -> None:
    async with pair(private=True, stall_timeout=1) as (_alice, rec, peer):
        data = os.urandom(50_000)
        sending = asyncio.create_task(
            send_msnftp(peer, ALICE, "slow.bin", data, stall_after=10_000, timeout=20)
        )
        received = bytearray()
        with pytest.raises(TransferTimeout):
            async for chunk in (await offer_of(rec)).accept():
                received += chunk
        assert bytes(received) == data[: len(received)] and 0 < len(received) < len(data)
        result = await sending
        assert (result.outcome, result.cancel_code) == ("cancelled", "FTTIMEOUT")
