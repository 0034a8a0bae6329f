"""P2PManager against a fake pair of connected endpoints (two managers, in-memory links)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
import asyncio
import hashlib
import os

import pytest

from bridge.msnp import slp
from bridge.msnp.errors import (
    DeliveryFailed,
    P2PLimitExceeded,
    TransferDeclined,
    TransferFailed,
    TransferTimeout,
)
from bridge.msnp.message import parse_message
from bridge.msnp.msnobject import MSNObject, build_msnobject
from bridge.msnp.p2p import MAX_CHUNK, P2PHeader, decode_packet, encode_packet
from bridge.msnp.p2p_session import FileOffer, P2PLimits, P2PManager

ALICE, BOB = "alice@example.com", "bob@example.com"
MSG_LIMIT = 1664


class FakeLink:
    """One client's side of a switchboard: what it sends reaches the other manager."""

    def __init__(self, sender: str, target: P2PManager) -> None:
        self.sender = sender
        self.target = target
        self.other: FakeLink | None = None
        self.sent: list[bytes] = []
        self.fail_after: int | None = None
        self.deliver = True

    async def send_p2p(self, payload: bytes) -> None:
        assert len(payload) <= MSG_LIMIT, len(payload)
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise DeliveryFailed("NAK")
        self.sent.append(payload)
        if self.deliver:
            assert self.other is not None
            self.target.feed(self.other, self.sender, parse_message(payload))
        await asyncio.sleep(0)

    def slp_sent(self) -> list[slp.SLPMessage]:
        """Every MSNSLP message sent so far, chunks joined by identifier."""
        parts: dict[int, bytearray] = {}
        out = []
        for payload in self.sent:
            header = decode_packet(payload).header
            if header.session_id != 0 or header.is_ack:
                continue
            data = parts.setdefault(header.identifier, bytearray())
            data += decode_packet(payload).body
            if len(data) == header.total_size:
                out.append(slp.parse_slp(bytes(parts.pop(header.identifier))))
        return out


def connect(a: P2PManager, b: P2PManager) -> tuple[FakeLink, FakeLink]:
    """(a's link, b's link)."""
    link_a, link_b = FakeLink(a.own_passport, b), FakeLink(b.own_passport, a)
    link_a.other, link_b.other = link_b, link_a
    return link_a, link_b


async def chunks(data: bytes, size: int = 50_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


def provider_of(objects: dict[str, bytes]) -> Callable[[MSNObject, str], object]:
    async def provide(obj: MSNObject, requester: str) -> bytes | None:
        return objects.get(obj.sha1d)

    return provide


class Receiver:
    """An on_file_offer handler: accept (reading everything) or decline, per test."""

    def __init__(self, mode: str = "accept", read_delay: float = 0.0) -> None:
        self.mode = mode
        self.read_delay = read_delay
        self.offers: list[FileOffer] = []
        self.offered = asyncio.Event()
        self.done: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.tasks: list[asyncio.Task[None]] = []

    def __call__(self, offer: FileOffer) -> None:
        self.offers.append(offer)
        self.offered.set()
        if self.mode == "accept":
            self.tasks.append(asyncio.create_task(self._read(offer)))
        elif self.mode == "decline":
            offer.decline()

    async def _read(self, offer: FileOffer) -> None:
        incoming = offer.accept()
        data = bytearray()
        try:
            async for chunk in incoming:
                data += chunk
                if self.read_delay:
                    await asyncio.sleep(self.read_delay)
        except Exception as e:
            self.done.set_exception(e)
            return
        self.done.set_result(bytes(data))


async def test_fetch_display_picture() -> None:
    picture = os.urandom(25_000)
    obj = build_msnobject(BOB, picture)
    alice = P2PManager(ALICE)
    bob = P2PManager(BOB, object_provider=provider_of({obj.sha1d: picture}))  # type: ignore[arg-type]
    link_a, link_b = connect(alice, bob)
    assert await alice.fetch_object(link_a, BOB, obj) == picture
    invite = link_a.slp_sent()[0]
    assert invite.fields["EUF-GUID"] == slp.EUF_GUID_MSNOBJ and invite.fields["AppID"] == "1"
    assert slp.decode_context(invite.fields["Context"]) == obj.xml.encode() + b"\0"
    data_packets = [decode_packet(p) for p in link_b.sent]
    data_packets = [p for p in data_packets if p.header.session_id and p.body and p.header.flags]
    assert data_packets and all(p.header.flags == 0x20 and p.app_id == 1 for p in data_packets)
    assert all(len(p.body) <= MAX_CHUNK for p in data_packets)
    await asyncio.wait_for(_until(lambda: bob.stats["objects_served"] == 1), 5)
    assert alice.stats["objects_fetched"] == 1
    assert any(m.method == "BYE" for m in link_a.slp_sent())
    await asyncio.wait_for(_until(lambda: alice.session_count == bob.session_count == 0), 5)
    assert alice.budget.used == bob.budget.used == 0
    await alice.close(), await bob.close()


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


async def test_unknown_object_is_declined() -> None:
    alice, bob = P2PManager(ALICE), P2PManager(BOB, object_provider=provider_of({}))  # type: ignore[arg-type]
    link_a, _ = connect(alice, bob)
    with pytest.raises(TransferDeclined):
        await alice.fetch_object(link_a, BOB, build_msnobject(BOB, b"nope"))
    without_provider = P2PManager(BOB)
    link_a2, _ = connect(alice, without_provider)
    with pytest.raises(TransferDeclined):
        await alice.fetch_object(link_a2, BOB, build_msnobject(BOB, b"nope"))
    assert bob.stats["declined"] == 1

    async def broken(obj: MSNObject, requester: str) -> bytes | None:
        raise RuntimeError("the avatar store is down")

    failing = P2PManager(BOB, object_provider=broken)
    link_a3, _ = connect(alice, failing)
    with pytest.raises(TransferDeclined):
        await alice.fetch_object(link_a3, BOB, build_msnobject(BOB, b"nope"))


async def test_object_data_not_matching_sha1d_is_refused() -> None:
    wanted = build_msnobject(BOB, b"the real picture")
    bob = P2PManager(BOB, object_provider=provider_of({wanted.sha1d: b"something else!!"}))  # type: ignore[arg-type]
    alice = P2PManager(ALICE)
    link_a, _ = connect(alice, bob)
    with pytest.raises(TransferFailed, match="SHA1D"):
        await alice.fetch_object(link_a, BOB, wanted)
    assert alice.stats["objects_fetched"] == 0


async def test_object_over_the_limit_is_not_requested() -> None:
    alice = P2PManager(ALICE, limits=P2PLimits(max_object_size=1000))
    link_a, _ = connect(alice, P2PManager(BOB))
    with pytest.raises(P2PLimitExceeded):
        await alice.fetch_object(link_a, BOB, build_msnobject(BOB, b"x" * 1001))
    assert link_a.sent == []


async def test_fetch_times_out_when_nobody_answers() -> None:
    alice = P2PManager(ALICE)
    link_a, _ = connect(alice, P2PManager(BOB))
    link_a.deliver = False
    with pytest.raises(TransferTimeout):
        await alice.fetch_object(link_a, BOB, build_msnobject(BOB, b"x"), timeout=0.2)
    assert alice.session_count == 0
    await asyncio.wait_for(_until(lambda: any(m.method == "BYE" for m in link_a.slp_sent())), 5)


@pytest.mark.parametrize("size", [1, MAX_CHUNK, MAX_CHUNK + 1, 3_000_000])
async def test_file_both_ways_streams_byte_identical(size: int) -> None:
    data = os.urandom(size)
    receiver = Receiver()
    alice = P2PManager(ALICE, on_file_offer=receiver)
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    await bob.send_file(link_b, ALICE, "holiday photo.jpg", size, chunks(data))
    got = await asyncio.wait_for(receiver.done, 10)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    offer = receiver.offers[0]
    assert (offer.filename, offer.size, offer.passport) == ("holiday photo.jpg", size, BOB)
    assert bob.stats["files_sent"] == 1 and alice.stats["files_received"] == 1
    await asyncio.wait_for(_until(lambda: alice.session_count == bob.session_count == 0), 5)
    # streamed: never more than the receive buffer (plus a chunk) held at once
    assert alice.budget.peak <= alice.limits.receive_buffer + MAX_CHUNK
    assert alice.budget.used == 0


async def test_declined_file() -> None:
    alice = P2PManager(ALICE, on_file_offer=Receiver("decline"))
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    with pytest.raises(TransferDeclined):
        await bob.send_file(link_b, ALICE, "x.bin", 10, chunks(b"0123456789"))
    assert alice.stats["declined"] == 1 and bob.session_count == alice.session_count == 0


async def test_offers_without_handler_or_over_the_limit_are_declined() -> None:
    bob = P2PManager(BOB)
    _, link_b = connect(P2PManager(ALICE), bob)
    with pytest.raises(TransferDeclined):
        await bob.send_file(link_b, ALICE, "x.bin", 10, chunks(b"0123456789"))
    receiver = Receiver()
    small = P2PManager(ALICE, on_file_offer=receiver, limits=P2PLimits(max_file_size=5))
    _, link_b = connect(small, bob)
    with pytest.raises(TransferDeclined):
        await bob.send_file(link_b, ALICE, "x.bin", 10, chunks(b"0123456789"))
    assert receiver.offers == []


async def test_unanswered_offer_is_declined_after_the_timeout() -> None:
    receiver = Receiver("ignore")
    alice = P2PManager(ALICE, on_file_offer=receiver, limits=P2PLimits(file_invite_timeout=0.2))
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    with pytest.raises(TransferDeclined):
        await bob.send_file(link_b, ALICE, "x.bin", 3, chunks(b"abc"), invite_timeout=5)
    assert receiver.offers[0].answered and alice.session_count == 0


async def test_sender_gives_up_when_the_offer_is_not_answered() -> None:
    receiver = Receiver("ignore")
    alice = P2PManager(ALICE, on_file_offer=receiver)
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    with pytest.raises(TransferTimeout):
        await bob.send_file(link_b, ALICE, "x.bin", 3, chunks(b"abc"), invite_timeout=0.2)
    # the BYE ended the offer on the other side too
    await asyncio.wait_for(_until(lambda: alice.session_count == 0), 5)
    with pytest.raises(P2PLimitExceeded):
        receiver.offers[0].accept()
    assert any(m.method == "BYE" for m in link_b.slp_sent())


async def test_receiver_cancels_midway() -> None:
    alice_offers: list[FileOffer] = []
    alice = P2PManager(ALICE, on_file_offer=alice_offers.append)
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    data = os.urandom(500_000)
    sending = asyncio.create_task(bob.send_file(link_b, ALICE, "big.bin", len(data), chunks(data)))
    await asyncio.wait_for(_until(lambda: bool(alice_offers)), 5)
    incoming = alice_offers[0].accept()
    async for chunk in incoming:
        assert chunk
        if incoming.received > 20_000:
            incoming.cancel()
            break
    with pytest.raises(TransferFailed, match="cancelled"):
        await asyncio.wait_for(sending, 5)
    assert bob.session_count == alice.session_count == 0


async def test_sender_stops_early_and_receiver_sees_failure() -> None:
    receiver = Receiver()
    alice = P2PManager(ALICE, on_file_offer=receiver)
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    with pytest.raises(TransferFailed, match="ended after"):
        await bob.send_file(link_b, ALICE, "short.bin", 10_000, chunks(b"x" * 5000))
    with pytest.raises(TransferFailed, match="cancelled"):
        await asyncio.wait_for(receiver.done, 5)
    with pytest.raises(TransferFailed, match="more than"):
        await bob.send_file(link_b, ALICE, "long.bin", 10, chunks(b"x" * 11))


async def test_slow_reader_ends_the_transfer_instead_of_buffering() -> None:
    receiver = Receiver(read_delay=10)
    alice = P2PManager(ALICE, on_file_offer=receiver, limits=P2PLimits(receive_buffer=20_000))
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    data = os.urandom(200_000)
    with pytest.raises(TransferFailed):
        await asyncio.wait_for(bob.send_file(link_b, ALICE, "f", len(data), chunks(data)), 10)
    assert alice.budget.peak <= 20_000 + MAX_CHUNK
    for task in receiver.tasks:
        task.cancel()
    await alice.close()
    assert alice.budget.used == 0


async def test_switchboard_failure_fails_the_send() -> None:
    alice = P2PManager(ALICE, on_file_offer=Receiver())
    bob = P2PManager(BOB)
    _, link_b = connect(alice, bob)
    link_b.fail_after = 20  # the INVITE and some data get through, then NAKs
    data = os.urandom(100_000)
    with pytest.raises(TransferFailed, match="switchboard"):
        await bob.send_file(link_b, ALICE, "f", len(data), chunks(data))
    assert bob.session_count == 0


async def test_link_closed_fails_running_transfers_at_once() -> None:
    alice_offers: list[FileOffer] = []
    alice = P2PManager(ALICE, on_file_offer=alice_offers.append)
    bob = P2PManager(BOB)
    link_a, link_b = connect(alice, bob)

    async def endless() -> AsyncIterator[bytes]:
        yield b"x" * 10_000
        await asyncio.Event().wait()

    sending = asyncio.create_task(bob.send_file(link_b, ALICE, "f", 10**6, endless()))
    await asyncio.wait_for(_until(lambda: bool(alice_offers)), 5)
    incoming = alice_offers[0].accept()
    assert await asyncio.wait_for(incoming.__anext__(), 5)
    alice.link_closed(link_a)
    with pytest.raises(TransferFailed, match="switchboard closed"):
        await asyncio.wait_for(incoming.__anext__(), 5)
    sending.cancel()
    await asyncio.gather(sending, return_exceptions=True)


async def test_session_limits() -> None:
    picture = os.urandom(100)
    obj = build_msnobject(BOB, picture)
    alice = P2PManager(ALICE, limits=P2PLimits(max_sessions_per_peer=1))
    bob = P2PManager(BOB, object_provider=provider_of({obj.sha1d: picture}))  # type: ignore[arg-type]
    link_a, _ = connect(alice, bob)
    link_a.deliver = False
    first = asyncio.create_task(alice.fetch_object(link_a, BOB, obj, timeout=5))
    await asyncio.wait_for(_until(lambda: alice.session_count == 1), 5)
    with pytest.raises(P2PLimitExceeded):
        await alice.fetch_object(link_a, BOB, obj)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    # incoming invitations beyond the limit are declined, not queued
    strict = P2PManager(BOB, limits=P2PLimits(max_sessions=1), on_file_offer=lambda o: None)
    _, link_s = connect(alice, strict)
    for session_id in (11, 12):
        invite = _invite(BOB, ALICE, session_id, slp.EUF_GUID_FILE, slp.build_file_context("f", 5))
        strict.feed(link_s, ALICE, parse_message(invite))
    assert strict.session_count == 1 and strict.stats["declined"] == 1


def _invite(to: str, sender: str, session_id: int, guid: str, context: bytes) -> bytes:
    body = slp.build_request(
        "INVITE", to, sender, call_id=slp.new_guid(),
        fields=(("EUF-GUID", guid), ("SessionID", str(session_id)), ("AppID", "2"),
                ("Context", slp.encode_context(context))),
    )  # fmt: skip
    return encode_packet(to, P2PHeader(0, 5, 0, len(body), len(body), 0, 9), body)


async def test_hostile_input_never_raises_and_is_counted() -> None:
    bob = P2PManager(BOB, object_provider=provider_of({}))  # type: ignore[arg-type]
    _, link_b = connect(P2PManager(ALICE), bob)
    garbage = [
        b"",
        b"MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\n\r\nshort",
        encode_packet(BOB, P2PHeader(0, 1, 0, 10, 10), b"not an slp"),
        encode_packet(BOB, P2PHeader(0, 2, 0, 5, 5), b"\xff\xfe\x00\r\n"),
        encode_packet(BOB, P2PHeader(77, 3, 0, 10, 10, 0x20), b"x" * 10),
        encode_packet(BOB, P2PHeader(0, 4, 10, 5, 5), b"x" * 5),
        os.urandom(500),
    ]
    for payload in garbage * 20:
        bob.feed(link_b, ALICE, parse_message(payload))
    assert bob.stats["dropped"] >= 20 and bob.session_count == 0
    # an invitation for something we do not do (webcam) is declined
    webcam = _invite(BOB, ALICE, 5, "{4BD96FC0-AB17-4425-A14A-439185962DC8}", b"x")
    bob.feed(link_b, ALICE, parse_message(webcam))
    await asyncio.wait_for(_until(lambda: bool(link_b.slp_sent())), 5)
    answer = link_b.slp_sent()[-1]
    assert (answer.status, answer.session_id) == (603, 5)


async def test_direct_connection_request_is_answered_not_listening() -> None:
    bob = P2PManager(BOB)
    _, link_b = connect(P2PManager(ALICE), bob)
    body = slp.build_request(
        "INVITE", BOB, ALICE, call_id=slp.new_guid(), content_type=slp.TRANSPORT_REQUEST,
        fields=(("Bridges", "TCPv1"), ("NetID", "0"), ("Conn-Type", "Firewall")),
    )  # fmt: skip
    bob.feed(
        link_b,
        ALICE,
        parse_message(encode_packet(BOB, P2PHeader(0, 8, 0, len(body), len(body)), body)),
    )
    await asyncio.wait_for(_until(lambda: bool(link_b.slp_sent())), 5)
    answer = link_b.slp_sent()[-1]
    assert answer.status == 200 and answer.content_type == slp.TRANSPORT_RESPONSE
    assert answer.fields["Listening"] == "false"


async def test_packets_for_someone_else_are_ignored() -> None:
    bob = P2PManager(BOB, on_file_offer=Receiver())
    _, link_b = connect(P2PManager(ALICE), bob)
    invite = _invite(
        "carol@example.com", ALICE, 5, slp.EUF_GUID_FILE, slp.build_file_context("f", 5)
    )
    bob.feed(link_b, ALICE, parse_message(invite))
    assert bob.session_count == 0 and bob.stats["dropped"] == 0 and link_b.sent == []


async def test_bad_header_mid_transfer_ends_only_that_session() -> None:
    alice_offers: list[FileOffer] = []
    alice = P2PManager(ALICE, on_file_offer=alice_offers.append)
    bob = P2PManager(BOB)
    link_a, link_b = connect(alice, bob)
    data = os.urandom(400_000)
    sending = asyncio.create_task(bob.send_file(link_b, ALICE, "f", len(data), chunks(data)))
    await asyncio.wait_for(_until(lambda: bool(alice_offers)), 5)
    incoming = alice_offers[0].accept()
    assert await asyncio.wait_for(incoming.__anext__(), 5)
    # a corrupt packet for the session: its total size disagrees with the offer
    corrupt = P2PHeader(incoming.offer.session_id, 12345, 0, 10**9, 10, 0x01000030, 1)
    alice.feed(link_a, BOB, parse_message(encode_packet(ALICE, corrupt, b"x" * 10, 2)))
    with pytest.raises(TransferFailed):
        async for _ in incoming:
            pass
    with pytest.raises(TransferFailed, match="cancelled"):
        await asyncio.wait_for(sending, 5)
    assert any(m.method == "BYE" for m in link_a.slp_sent())
    assert alice.stats["sessions_aborted"] == 1
    # the link (the switchboard) is still usable: another transfer goes through
    receiver = Receiver()
    alice.on_file_offer = receiver
    await bob.send_file(link_b, ALICE, "g", 5000, chunks(data[:5000]))
    assert await asyncio.wait_for(receiver.done, 5) == data[:5000]
