"""P2P v2 (MSNP16+) framing against hand-built frames, the v1/v2 choice, routing by endpoint.

The frames below are written byte by byte from the published layout (header length, op
code, big-endian message size and sequence number, TLVs padded to 4; the data header with
TF combination, package number and session id; the big-endian app id footer), not with the
codec under test.
"""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from bridge.msnp.capabilities import (
    EXTENDED_P2P_V2,
    OWN_EXTENDED,
    parse_capabilities,
    parse_extended_capabilities,
)
from bridge.msnp.codec import encode_arg
from bridge.msnp.errors import LocalProtocolError, P2PProtocolError, TransferFailed
from bridge.msnp.events import PresenceChanged
from bridge.msnp.message import parse_message
from bridge.msnp.ns_commands import chg_args
from bridge.msnp.p2p_session import FileOffer, P2PManager
from bridge.msnp.p2p_v2 import (
    DataHeader,
    OpCode,
    P2PV2Header,
    Target,
    TFCombination,
    decode_v2_packet,
    encode_v2_packet,
    p2p_target,
    p2p_version,
)
from bridge.msnp.roster import Roster
from bridge.msnp.ubx import build_endpoint_data
from bridge.msnp.values import Status
from tests.support.scaling import assert_linear

from .test_p2p_session import Receiver, _until, chunks, connect
from .test_roster import feed

ALICE, BOB = "alice@example.com", "bob@example.com"
ALICE_EP = "{A11CE000-0000-4000-8000-000000000001}"
BOB_EP = "{B0B00000-0000-4000-8000-000000000002}"
OTHER_EP = "{0DD00000-0000-4000-8000-000000000003}"
PEER_INFO = bytes.fromhex("0200 0000 0e00 0000 0f01 0000".replace(" ", ""))


def mime(dest: str, src: str) -> bytes:
    return (
        "MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\n"
        f"P2P-Dest: {dest}\r\nP2P-Src: {src}\r\n\r\n"
    ).encode()


def syn_invite_frame(payload: bytes) -> bytes:
    """SYN|RAK with the peer-info TLV, sequence 0x01020304; data header: first packet of an
    MSNSLP message (session 0), package 7, 100 bytes still to come."""
    # 8 fixed + (1+1+12) peer info = 22, padded to 24
    data_header = bytes([20, 0x01]) + (7).to_bytes(2, "big") + (0).to_bytes(4, "big")
    data_header += bytes([1, 8]) + (100).to_bytes(8, "big") + b"\0\0"  # 18 -> 20
    size = len(data_header) + len(payload)
    header = bytes([24, 0x03]) + size.to_bytes(2, "big") + bytes.fromhex("01020304")
    header += bytes([1, 12]) + PEER_INFO + b"\0\0"
    return (
        mime(f"{ALICE};{ALICE_EP}", f"{BOB};{BOB_EP}") + header + data_header + payload + b"\0" * 4
    )


def ack_frame(acked: int) -> bytes:
    header = bytes([16, 0x00, 0, 0]) + (99).to_bytes(4, "big")
    header += bytes([2, 4]) + acked.to_bytes(4, "big") + b"\0\0"  # 14 -> 16
    return mime(f"{BOB};{BOB_EP}", f"{ALICE};{ALICE_EP}") + header + b"\0" * 4


def test_hand_built_syn_packet_is_read_field_by_field() -> None:
    payload = b"INVITE MSNMSGR:alice@example.com MSNSLP/1.0\r\n"
    packet = decode_v2_packet(syn_invite_frame(payload))
    assert packet.destination == f"{ALICE};{ALICE_EP}" and packet.source == f"{BOB};{BOB_EP}"
    h = packet.header
    assert h.op_code == OpCode.SYN | OpCode.RAK and h.wants_ack
    assert h.sequence == 0x01020304 and h.peer_info == PEER_INFO
    assert h.ack is None and h.nak is None and h.tlvs == ()
    assert packet.data == DataHeader(TFCombination.FIRST, 7, 0, 100)
    assert packet.data.first and packet.payload == payload and packet.app_id == 0


def test_encoding_gives_the_hand_built_bytes_back() -> None:
    payload = b"MSNSLP/1.0 200 OK\r\n"
    built = encode_v2_packet(
        f"{ALICE};{ALICE_EP}",
        f"{BOB};{BOB_EP}",
        P2PV2Header(OpCode.SYN | OpCode.RAK, 0x01020304, peer_info=PEER_INFO),
        DataHeader(TFCombination.FIRST, 7, 0, 100),
        payload,
    )
    assert built == syn_invite_frame(payload)
    assert encode_v2_packet(
        f"{BOB};{BOB_EP}", f"{ALICE};{ALICE_EP}", P2PV2Header(sequence=99, ack=0xCAFE)
    ) == ack_frame(0xCAFE)


def test_header_only_ack_and_data_packets() -> None:
    ack = decode_v2_packet(ack_frame(0x01020304 + 52))
    assert ack.header.ack == 0x01020304 + 52 and ack.data is None and ack.payload == b""
    picture = os.urandom(1000)
    raw = encode_v2_packet(
        f"{ALICE};{ALICE_EP}", f"{BOB};{BOB_EP}", P2PV2Header(OpCode.RAK, 5),
        DataHeader(TFCombination.MSN_OBJECT | TFCombination.FIRST, 1, 0x11223344, 0),
        picture, app_id=12,
    )  # fmt: skip
    packet = decode_v2_packet(parse_message(raw))
    assert packet.data is not None and packet.data.session_id == 0x11223344
    assert packet.data.tf == 0x5 and packet.data.remaining == 0 and packet.app_id == 12
    assert packet.payload == picture
    # the header's message size counts the data header (20 bytes here) and the payload
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert int.from_bytes(body[2:4], "big") == 20 + len(picture)


def _corrupt(raw: bytes, at: int, value: bytes) -> bytes:
    head, body = raw.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n" + body[:at] + value + body[at + len(value) :]


@pytest.mark.parametrize(
    ("at", "value", "why"),
    [
        (0, bytes([7]), "header length"),  # under 8
        (0, bytes([26]), "header length"),  # not a multiple of 4
        (0, bytes([252]), "header length"),  # past the end of the packet
        (2, (5000).to_bytes(2, "big"), "bytes follow"),  # message size disagrees
        (8, bytes([1, 200]), "overruns"),  # a TLV longer than its header
        (22, bytes([1, 0]), "repeats"),  # the peer-info TLV twice
        (24, bytes([3]), "data header length"),  # data header under 8
        (24, bytes([200]), "data header length"),  # data header longer than the message
        (32, bytes([1, 4]), "overruns|not 8 bytes"),  # data remaining of 4 bytes
    ],
)
def test_malformed_headers_raise_the_p2p_error(at: int, value: bytes, why: str) -> None:
    raw = syn_invite_frame(b"x" * 40)
    with pytest.raises(P2PProtocolError, match=why):
        decode_v2_packet(_corrupt(raw, at, value))


def test_short_and_odd_packets() -> None:
    head = mime(ALICE, BOB)
    for body in (b"", b"\x08\0\0\0", b"\x08\0\0\x03\0\0\0\0abc\0\0\0\0"):
        with pytest.raises(P2PProtocolError):
            decode_v2_packet(head + body)
    ack = ack_frame(1)
    with pytest.raises(P2PProtocolError, match="ACK TLV is 2 bytes"):
        decode_v2_packet(_corrupt(ack, 8, bytes([2, 2, 0, 1, 0, 0])))


def test_local_values_out_of_range_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        encode_v2_packet(ALICE, BOB, P2PV2Header(), DataHeader(), b"x" * 70_000)
    with pytest.raises(LocalProtocolError):
        encode_v2_packet(ALICE, BOB, P2PV2Header(sequence=2**32))
    with pytest.raises(LocalProtocolError):
        encode_v2_packet(ALICE, BOB, P2PV2Header(), None, b"data without a data header")
    with pytest.raises(LocalProtocolError):
        encode_v2_packet(ALICE, BOB, P2PV2Header(tlvs=((9, b"y" * 250),)))
    with pytest.raises(LocalProtocolError):
        encode_v2_packet(ALICE + "\r\nX: y", BOB, P2PV2Header())


def test_random_bytes_only_ever_raise_the_p2p_error() -> None:
    rng = random.Random(16)
    base = syn_invite_frame(b"payload" * 10)
    head, body = base.split(b"\r\n\r\n", 1)
    for _ in range(3000):
        mutated = bytearray(body)
        for _ in range(rng.randint(1, 6)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cut = rng.randint(0, len(mutated))
        for candidate in (bytes(mutated), bytes(mutated[:cut])):
            try:
                decode_v2_packet(head + b"\r\n\r\n" + candidate)
            except P2PProtocolError:
                pass


def test_decoding_is_linear_in_the_packet_size() -> None:
    def packet(n: int) -> bytes:
        return encode_v2_packet(
            ALICE, BOB, P2PV2Header(OpCode.RAK, 1, tlvs=tuple((k, b"v" * 40) for k in (4, 5))),
            DataHeader(TFCombination.FILE, 1, 9, n), b"z" * n,
        )  # fmt: skip

    def run(raw: object) -> None:
        assert isinstance(raw, bytes)
        for _ in range(50):
            decode_v2_packet(raw)

    assert_linear(run, packet(4000), packet(16000))


def test_version_is_v2_only_when_both_sides_offer_it() -> None:
    messenger_2009 = parse_extended_capabilities("2788999228:48")
    assert messenger_2009 & EXTENDED_P2P_V2
    assert parse_capabilities("2788999228:48") == 2788999228
    assert p2p_version(messenger_2009, messenger_2009) == 2
    assert p2p_version(OWN_EXTENDED, messenger_2009) == 1
    assert p2p_version(messenger_2009, 0) == 1
    for bad in (None, "", "12", "12:", "12:x", "12:99999999999"):
        assert parse_extended_capabilities(bad) == 0


@pytest.mark.parametrize("version", [16, 18])
def test_we_never_advertise_p2p_v2(version: int) -> None:
    args = chg_args(Status.ONLINE, version, 0x10000024, "<msnobj/>")
    assert args[1] == "268435492:0" and not parse_extended_capabilities(args[1]) & 0x20
    assert b"<Capabilities>268435492:0</Capabilities>" in build_endpoint_data(
        0x10000024, OWN_EXTENDED
    )


def test_targets_by_p2p_dest() -> None:
    assert p2p_target(ALICE, ALICE, ALICE_EP) is Target.V1
    assert p2p_target(" Alice@Example.com ", ALICE, None) is Target.V1
    assert p2p_target(f"{ALICE};{ALICE_EP.lower()}", ALICE, ALICE_EP) is Target.V2
    assert p2p_target(f"{ALICE};{OTHER_EP}", ALICE, ALICE_EP) is Target.OTHER
    assert p2p_target(f"{ALICE};{OTHER_EP}", ALICE, None) is Target.OTHER
    assert p2p_target(BOB, ALICE, ALICE_EP) is Target.OTHER
    assert p2p_target("", ALICE, ALICE_EP) is Target.OTHER
    assert p2p_target("not an address;{x}", ALICE, ALICE_EP) is Target.OTHER


async def test_v2_to_another_endpoint_of_ours_is_left_alone() -> None:
    alice = P2PManager(ALICE, own_endpoint=ALICE_EP)
    link_a, _ = connect(alice, P2PManager(BOB))
    raw = syn_invite_frame(b"INVITE")
    other = raw.replace(ALICE_EP.encode(), OTHER_EP.encode())
    alice.feed(link_a, BOB, parse_message(other))
    assert alice.stats["v2_refused"] == 0 and alice.stats["dropped"] == 0
    # to our own endpoint it is read (and refused: we never offered v2)
    alice.feed(link_a, BOB, parse_message(raw))
    assert alice.stats["v2_refused"] == 1
    alice.feed(link_a, BOB, parse_message(_corrupt(raw, 0, bytes([7]))))
    assert alice.stats["dropped"] == 1


async def test_v2_data_for_a_running_session_ends_that_session_only() -> None:
    offers: list[FileOffer] = []
    alice = P2PManager(ALICE, own_endpoint=ALICE_EP, on_file_offer=offers.append)
    bob = P2PManager(BOB)
    link_a, link_b = connect(alice, bob)
    data = os.urandom(200_000)
    sending = asyncio.create_task(bob.send_file(link_b, ALICE, "f", len(data), chunks(data)))
    await asyncio.wait_for(_until(lambda: bool(offers)), 5)
    incoming = offers[0].accept()
    assert await asyncio.wait_for(incoming.__anext__(), 5)
    v2 = encode_v2_packet(
        f"{ALICE};{ALICE_EP}", f"{BOB};{BOB_EP}", P2PV2Header(OpCode.RAK, 1),
        DataHeader(TFCombination.FILE, 1, incoming.offer.session_id, 0), b"v2 bytes", app_id=2,
    )  # fmt: skip
    alice.feed(link_a, BOB, parse_message(v2))
    with pytest.raises(TransferFailed):
        async for _ in incoming:
            pass
    with pytest.raises(TransferFailed, match="cancelled"):
        await asyncio.wait_for(sending, 5)
    assert any(m.method == "BYE" for m in link_a.slp_sent())
    assert alice.stats["v2_refused"] == 1 and alice.stats["sessions_aborted"] == 1
    # the switchboard goes on: a v1 transfer after it arrives whole
    receiver = Receiver()
    alice.on_file_offer = receiver
    await bob.send_file(link_b, ALICE, "g", 5000, chunks(data[:5000]))
    assert await asyncio.wait_for(receiver.done, 5) == data[:5000]


MSNOBJ = '<msnobj Creator="bob@example.com" Size="5" Type="3" SHA1D="x"/>'


@pytest.mark.parametrize(
    ("version", "line"),
    [
        (13, "NLN NLN bob@example.com Bob 1342177280 {o}"),
        (15, "NLN NLN bob@example.com 1 Bob 1342177280 {o}"),
        (16, "NLN NLN bob@example.com 1 Bob 2788999228:48 {o}"),
        (18, "NLN NLN 1:bob@example.com Bob 2788999228:48 {o}"),
        (15, "ILN 9 NLN bob@example.com 1 Bob 1342177280 {o}"),
    ],
)
def test_contacts_msn_objects_are_read_at_msnp13_to_18(version: int, line: str) -> None:
    roster = Roster(version)
    roster.own_passport = ALICE
    wire = line.format(o=encode_arg(MSNOBJ)).encode()
    (event,) = feed(roster, wire)
    assert isinstance(event, PresenceChanged)
    assert (event.passport, event.msn_object, event.capabilities) == (
        BOB,
        MSNOBJ,
        parse_capabilities(line.split()[-2]),
    )


def test_the_test_peers_v2_and_the_library_read_each_other() -> None:
    """Two framings written apart (tests/p2p_peer/wire_v2.py and bridge/msnp/p2p_v2.py)."""
    from tests.p2p_peer import wire_v2

    payload = os.urandom(700)
    peer_made = wire_v2.pack_v2(
        f"{ALICE};{ALICE_EP}", f"{BOB};{BOB_EP}", wire_v2.OP_SYN | wire_v2.OP_RAK, 4242,
        syn_info=True, tf=wire_v2.TF_OBJECT | wire_v2.TF_FIRST, package=3, sid=77,
        remaining=1500, data=payload, app=12,
    )  # fmt: skip
    packet = decode_v2_packet(peer_made)
    assert (packet.header.op_code, packet.header.sequence) == (3, 4242)
    assert packet.header.peer_info == wire_v2.PEER_INFO
    assert packet.data == DataHeader(0x5, 3, 77, 1500) and packet.payload == payload
    assert packet.app_id == 12 and packet.source == f"{BOB};{BOB_EP}"

    library_made = encode_v2_packet(
        f"{BOB};{BOB_EP}", f"{ALICE};{ALICE_EP}", P2PV2Header(OpCode.RAK, 99, ack=4242 + 720),
        DataHeader(TFCombination.FILE, 9, 78, 0), payload, app_id=2,
    )  # fmt: skip
    frame = wire_v2.unpack_v2(library_made)
    assert frame is not None
    assert (frame.op, frame.seq, frame.ack_of) == (2, 99, 4242 + 720)
    assert (frame.tf, frame.package, frame.sid, frame.remaining) == (6, 9, 78, 0)
    assert frame.data == payload and frame.app == 2 and frame.size == 20 + len(payload)


@pytest.mark.parametrize("version", [12, 15, 18])
@pytest.mark.parametrize("empty", ["<msnobj/>", "<msnobj />", "<msnobj></msnobj>"])
def test_an_empty_msn_object_names_no_picture(version: int, empty: str) -> None:
    """What Escargot sends at MSNP9+ for a contact without a picture (or who removed it)."""
    roster = Roster(version)
    roster.own_passport = ALICE
    who = {12: BOB, 15: f"{BOB} 1", 18: f"1:{BOB}"}[version]
    (event,) = feed(roster, f"NLN NLN {who} Bob 1342177280 {encode_arg(empty)}".encode())
    assert isinstance(event, PresenceChanged) and event.msn_object is None
