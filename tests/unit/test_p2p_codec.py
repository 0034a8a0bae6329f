"""P2P framing and transport against hand-built frames, incl. a published capture.

The published example is the file-transfer exchange quoted in Escargot's switchboard source
(``front/msn/msnp_sb.py``): a 1274-byte INVITE split into a 1202-byte and a 72-byte chunk,
the receiver's ACK, its ``603 Decline`` (331 bytes) and the ACK of that. The binary headers
below are transcribed field by field from the bytes shown there.
"""

from __future__ import annotations

import struct

import pytest

from bridge.msnp.errors import LocalProtocolError, P2PProtocolError
from bridge.msnp.message import parse_message
from bridge.msnp.p2p import (
    CONTENT_TYPE,
    FILE_DATA_FLAGS,
    HEADER_SIZE,
    MAX_CHUNK,
    AppID,
    P2PFlags,
    P2PHeader,
    decode_packet,
    encode_packet,
)
from bridge.msnp.p2p_transport import (
    AckReceived,
    DataComplete,
    DataReceived,
    Dropped,
    P2PTransport,
    SessionAborted,
    SLPReceived,
    TransportLimits,
)

MIME = b"MIME-Version: 1.0\r\nContent-Type: application/x-msnmsgrp2p\r\nP2P-Dest: %s\r\n\r\n"


def frame(dest: str, header: bytes, body: bytes = b"", footer: int = 0) -> bytes:
    """A P2P MSG payload built by hand: MIME head, raw header bytes, body, BE footer."""
    return MIME % dest.encode() + header + body + struct.pack(">I", footer)


def raw_header(*fields: int) -> bytes:
    """48 bytes: 2 DWORDs, 2 QWORDs, 4 DWORDs, 1 QWORD, little-endian (written out longhand)."""
    sizes = (4, 4, 8, 8, 4, 4, 4, 4, 8)
    assert len(fields) == len(sizes)
    return b"".join(
        value.to_bytes(size, "little") for value, size in zip(fields, sizes, strict=True)
    )


# from the capture: t1h's INVITE (identifier 0x0ac47447, unique id 0x0ac56e77, 1274 bytes)
INVITE_CHUNK1 = (
    b"\x00\x00\x00\x00Gt\xc4\n\x00\x00\x00\x00\x00\x00\x00\x00\xfa\x04\x00\x00\x00\x00\x00\x00"
    b"\xb2\x04\x00\x00\x00\x00\x00\x00wn\xc5\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
)
INVITE_CHUNK2 = (
    b"\x00\x00\x00\x00Gt\xc4\n\xb2\x04\x00\x00\x00\x00\x00\x00\xfa\x04\x00\x00\x00\x00\x00\x00"
    b"H\x00\x00\x00\x00\x00\x00\x00wn\xc5\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
)
# t2h's ACK of it
INVITE_ACK = (
    b"\x00\x00\x00\x00Wt\xc4\n\x00\x00\x00\x00\x00\x00\x00\x00\xfa\x04\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x00\x02\x00\x00\x00Gt\xc4\nwn\xc5\n\xfa\x04\x00\x00\x00\x00\x00\x00"
)


def test_published_invite_headers_decode() -> None:
    first = P2PHeader.unpack(INVITE_CHUNK1)
    assert first == P2PHeader(0, 0x0AC47447, 0, 1274, 1202, 0, 0x0AC56E77, 0, 0)
    second = P2PHeader.unpack(INVITE_CHUNK2)
    assert (second.offset, second.message_size, second.total_size) == (1202, 72, 1274)
    assert second.identifier == first.identifier and second.ack_session_id == 0x0AC56E77
    assert len(INVITE_CHUNK1) == HEADER_SIZE == 48


def test_published_ack_matches_the_ack_we_build() -> None:
    """Our transport acknowledges the captured INVITE with the captured ACK's fields."""
    transport = P2PTransport("t2h@hotmail.com", "t1h@hotmail.com", base_identifier=0x0AC47456)
    body = b"x" * 1274
    events = transport.receive(decode_packet(frame("t2h@hotmail.com", INVITE_CHUNK1, body[:1202])))
    assert events == []
    events = transport.receive(decode_packet(frame("t2h@hotmail.com", INVITE_CHUNK2, body[1202:])))
    assert events == [SLPReceived(0x0AC47447, body)]
    (ack_payload,) = transport.data_to_send()
    ack = decode_packet(ack_payload)
    assert ack.destination == "t1h@hotmail.com"
    assert ack.header == P2PHeader.unpack(INVITE_ACK)
    assert ack.header.pack() == INVITE_ACK
    assert ack.body == b"" and ack.app_id == 0


def test_published_ack_is_reported_as_ack() -> None:
    transport = P2PTransport("t1h@hotmail.com", "t2h@hotmail.com")
    packet = decode_packet(frame("t1h@hotmail.com", INVITE_ACK))
    assert packet.header.is_ack
    assert transport.receive(packet) == [AckReceived(0, 0x0AC47447, 1274)]
    assert transport.data_to_send() == []  # ACKs are never acknowledged


def test_header_layout_field_by_field() -> None:
    header = P2PHeader(1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert header.pack() == raw_header(1, 2, 3, 4, 5, 6, 7, 8, 9)
    assert P2PHeader.unpack(raw_header(1, 2, 3, 4, 5, 6, 7, 8, 9)) == header
    big = P2PHeader(0xFFFFFFFF, 0xFFFFFFFF, 2**64 - 1, 2**64 - 1, 1, 1, 1, 1, 2**64 - 1)
    assert P2PHeader.unpack(big.pack()) == big
    with pytest.raises(LocalProtocolError):
        P2PHeader(session_id=2**32).pack()


def test_encode_packet_layout() -> None:
    header = P2PHeader(7, 100, 0, 3, 3, P2PFlags.MSN_OBJECT_DATA, 55)
    payload = encode_packet("bob@example.com", header, b"abc", AppID.MSN_OBJECT)
    assert payload == frame(
        "bob@example.com", raw_header(7, 100, 0, 3, 3, 0x20, 55, 0, 0), b"abc", 1
    )
    message = parse_message(payload)
    assert message.content_type == CONTENT_TYPE
    assert message.get("P2P-Dest") == "bob@example.com"
    assert payload.endswith(b"abc\x00\x00\x00\x01")  # the footer is big-endian
    with pytest.raises(LocalProtocolError):
        encode_packet("bob@example.com", header, b"ab")  # size mismatch
    with pytest.raises(LocalProtocolError):
        encode_packet("bob@example.com\r\nX: y", header, b"abc")


def test_binary_body_survives_crlf_inside() -> None:
    body = b"\r\n\r\n\x00\xff" * 10
    header = P2PHeader(9, 1, 0, len(body), len(body))
    packet = decode_packet(encode_packet("a@b.c", header, body, 2))
    assert packet.body == body and packet.app_id == 2


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (frame("a@b.c", b"\x00" * 20), "shorter"),
        (frame("a@b.c", raw_header(1, 1, 0, 10, 9, 0, 0, 0, 0), b"x" * 10), "9 bytes"),
        (b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nhello", "not a P2P"),
        (MIME % b"a@b.c", "shorter"),
    ],
)
def test_malformed_packets_raise(payload: bytes, match: str) -> None:
    with pytest.raises(P2PProtocolError, match=match):
        decode_packet(payload)


# --------------------------------------------------------------------------- transport


def _packets(transport: P2PTransport, payloads: list[bytes]) -> list[object]:
    events: list[object] = []
    for payload in payloads:
        events.extend(transport.receive(decode_packet(payload)))
    return events


def test_chunking_respects_the_limit_and_reassembles() -> None:
    alice = P2PTransport("alice@x", "bob@x")
    bob = P2PTransport("bob@x", "alice@x")
    data = bytes(range(256)) * 20  # 5120 bytes -> 5 chunks
    bob.open_session(77, len(data))
    stream = alice.stream(77, len(data), flags=FILE_DATA_FLAGS, app_id=AppID.FILE_TRANSFER)
    payloads = stream.frame(data[:3000]) + stream.frame(data[3000:])
    assert stream.done
    headers = [decode_packet(p).header for p in payloads]
    assert all(h.message_size <= MAX_CHUNK for h in headers)
    assert [h.offset for h in headers] == [0, 1202, 2404, 3000, 4202]
    assert (
        len({h.identifier for h in headers}) == 1 and len({h.ack_session_id for h in headers}) == 1
    )
    events = _packets(bob, payloads)
    pieces = [e for e in events if isinstance(e, DataReceived)]
    assert b"".join(p.data for p in pieces) == data
    assert [p.offset for p in pieces] == [h.offset for h in headers]
    assert isinstance(events[-1], DataComplete) and events[-1].total_size == len(data)
    (ack_payload,) = bob.data_to_send()
    ack = decode_packet(ack_payload).header
    assert ack.flags == P2PFlags.ACK and ack.session_id == 77
    assert (ack.ack_session_id, ack.ack_unique_id, ack.ack_data_size) == (
        headers[0].identifier,
        headers[0].ack_session_id,
        len(data),
    )
    assert alice.receive(decode_packet(ack_payload)) == [
        AckReceived(77, stream.identifier, len(data))
    ]
    with pytest.raises(LocalProtocolError):
        stream.frame(b"x")  # more than the total


def test_out_of_order_duplicate_and_overlapping_chunks() -> None:
    bob = P2PTransport("bob@x", "alice@x")
    bob.open_session(5, 100)
    data = bytes(range(100))

    def chunk(offset: int, size: int) -> bytes:
        h = raw_header(5, 42, offset, 100, size, 0x20, 9, 0, 0)
        return frame("bob@x", h, data[offset : offset + size], 1)

    events = _packets(
        bob,
        [chunk(40, 30), chunk(0, 20), chunk(0, 20), chunk(10, 40), chunk(70, 30), chunk(60, 5)],
    )
    pieces = [e for e in events if isinstance(e, DataReceived)]
    assert b"".join(p.data for p in pieces) == data
    assert sum(isinstance(e, DataComplete) for e in events) == 1
    assert len(bob.data_to_send()) == 1


def test_too_many_out_of_order_chunks_abort_the_session_only() -> None:
    bob = P2PTransport("bob@x", "alice@x", limits=TransportLimits(max_out_of_order=3))
    bob.open_session(5, 10_000)
    payloads = [
        frame("bob@x", raw_header(5, 42, off, 10_000, 10, 0x20, 9, 0, 0), b"x" * 10, 1)
        for off in (100, 200, 300, 400)
    ]
    events = _packets(bob, payloads)
    assert isinstance(events[-1], SessionAborted) and not events[-1].by_peer
    assert not bob.has_session(5)
    # later data for the closed session is dropped, nothing is acknowledged
    assert isinstance(_packets(bob, payloads[:1])[0], Dropped)
    assert bob.data_to_send() == []


def test_data_for_unknown_sessions_is_dropped_without_buffering() -> None:
    bob = P2PTransport("bob@x", "alice@x")
    payload = frame("bob@x", raw_header(99, 1, 0, 10**9, 1000, 0x20, 1, 0, 0), b"x" * 1000, 1)
    for _ in range(50):
        assert isinstance(bob.receive(decode_packet(payload))[0], Dropped)
    assert not bob.busy and bob.dropped == 50 and bob.data_to_send() == []


def test_session_size_limit_and_inconsistent_headers() -> None:
    bob = P2PTransport("bob@x", "alice@x")
    bob.open_session(3, 1000)
    over = frame("bob@x", raw_header(3, 1, 0, 1001, 10, 0x20, 1, 0, 0), b"x" * 10, 1)
    (event,) = bob.receive(decode_packet(over))
    assert isinstance(event, SessionAborted) and "limit" in event.reason
    bob.open_session(4, 1000)
    past_end = frame("bob@x", raw_header(4, 1, 995, 1000, 10, 0x20, 1, 0, 0), b"x" * 10, 1)
    (event,) = bob.receive(decode_packet(past_end))
    assert isinstance(event, SessionAborted) and "inconsistent" in event.reason
    bob.open_session(6, 1000)
    first = frame("bob@x", raw_header(6, 1, 0, 100, 10, 0x20, 1, 0, 0), b"x" * 10, 1)
    changed = frame("bob@x", raw_header(6, 1, 10, 200, 10, 0x20, 1, 0, 0), b"x" * 10, 1)
    _packets(bob, [first])
    (event,) = bob.receive(decode_packet(changed))
    assert isinstance(event, SessionAborted) and "disagree" in event.reason


@pytest.mark.parametrize("flags", [0x1, 0x8, 0x40, 0x80])
def test_error_and_close_flags_end_the_session(flags: int) -> None:
    bob = P2PTransport("bob@x", "alice@x")
    bob.open_session(8, 100)
    payload = frame("bob@x", raw_header(8, 1, 0, 0, 0, flags, 0, 0, 0))
    assert bob.receive(decode_packet(payload)) == [
        SessionAborted(8, f"flags 0x{flags:x} from the contact", True)
    ]
    assert isinstance(bob.receive(decode_packet(payload))[0], Dropped)


def test_slp_messages_are_bounded() -> None:
    limits = TransportLimits(max_slp_size=2000, max_partial_slp=2)
    bob = P2PTransport("bob@x", "alice@x", limits=limits)
    huge = frame("bob@x", raw_header(0, 1, 0, 2001, 10, 0, 1, 0, 0), b"x" * 10)
    assert isinstance(bob.receive(decode_packet(huge))[0], Dropped)
    # three half-sent SLP messages: the oldest is forgotten, so it never completes
    halves = [
        frame("bob@x", raw_header(0, i, 0, 20, 10, 0, i, 0, 0), b"a" * 10) for i in (1, 2, 3)
    ]
    _packets(bob, halves)
    rest = [frame("bob@x", raw_header(0, i, 10, 20, 10, 0, i, 0, 0), b"b" * 10) for i in (1, 2, 3)]
    done = [e for e in _packets(bob, rest) if isinstance(e, SLPReceived)]
    assert [e.identifier for e in done] == [2, 3]
    assert all(e.data == b"a" * 10 + b"b" * 10 for e in done)


def test_identifiers_increase_and_wrap() -> None:
    transport = P2PTransport("a@x", "b@x", base_identifier=0xFFFFFFFE)
    assert [transport.next_identifier() for _ in range(3)] == [0xFFFFFFFF, 1, 2]
    first, _ = transport.frame_message(0, b"hello")
    second, _ = transport.frame_message(0, b"hello")
    assert second == first + 1
