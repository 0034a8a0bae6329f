"""Multi-packet messages (Message-ID / Chunks / Chunk) joined back, bounded and with a timeout."""

from __future__ import annotations

from bridge.msnp.message import Message, parse_message
from bridge.msnp.multipacket import MultiPacketLimits, MultiPacketReassembler

MID = "{2B6B4C9E-6B5A-4D57-9F44-2C4E0AE5B1A3}"


def first(chunks: int, body: bytes, mid: str = MID) -> Message:
    return parse_message(
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
        b"X-MMS-IM-Format: FN=Arial; EF=; CO=0; CS=0; PF=0\r\n"
        b"Message-ID: " + mid.encode() + b"\r\nChunks: %d\r\n\r\n" % chunks + body
    )


def part(index: int, body: bytes, mid: str = MID) -> Message:
    return parse_message(b"Message-ID: " + mid.encode() + b"\r\nChunk: %d\r\n\r\n" % index + body)


def test_plain_messages_pass_through() -> None:
    r = MultiPacketReassembler()
    message = parse_message(b"Content-Type: text/plain\r\n\r\nhi")
    assert r.feed("a@x", message, 0.0) is message


def test_an_id_without_chunks_or_chunk_is_a_whole_message() -> None:
    r = MultiPacketReassembler()
    message = parse_message(
        b"Content-Type: text/plain\r\nMessage-ID: " + MID.encode() + b"\r\n\r\nhi"
    )
    assert r.feed("a@x", message, 0.0) is message
    assert r.pending == 0 and r.dropped == 0


def test_three_parts_joined_with_the_first_headers() -> None:
    r = MultiPacketReassembler()
    text = "héllo wörld ".encode() * 300
    pieces = [text[:1000], text[1000:2001], text[2001:]]  # cuts inside UTF-8 sequences
    assert r.feed("bob@x", first(3, pieces[0]), 0.0) is None
    assert r.feed("bob@x", part(1, pieces[1]), 1.0) is None
    joined = r.feed("bob@x", part(2, pieces[2]), 2.0)
    assert joined is not None
    assert joined.body == text and joined.text == text.decode()
    assert joined.content_type == "text/plain" and joined.get("X-MMS-IM-Format")
    assert not joined.get("Message-ID") and not joined.get("Chunks")
    assert r.pending == 0 and r.dropped == 0


def test_senders_are_kept_apart() -> None:
    r = MultiPacketReassembler()
    r.feed("bob@x", first(2, b"bob-1 "), 0.0)
    r.feed("eve@x", first(2, b"eve-1 "), 0.0)
    assert r.feed("eve@x", part(1, b"eve-2"), 0.0).body == b"eve-1 eve-2"  # type: ignore[union-attr]
    assert r.feed("bob@x", part(1, b"bob-2"), 0.0).body == b"bob-1 bob-2"  # type: ignore[union-attr]


def test_gaps_unknown_ids_and_restarts_drop() -> None:
    r = MultiPacketReassembler()
    assert r.feed("bob@x", part(1, b"orphan"), 0.0) is None
    r.feed("bob@x", first(3, b"a"), 0.0)
    assert r.feed("bob@x", part(2, b"c"), 0.0) is None  # skipped chunk 1
    assert r.pending == 0  # the message can never complete: forgotten
    r.feed("bob@x", first(2, b"a"), 0.0)
    r.feed("bob@x", first(2, b"b"), 0.0)  # same id again: restart
    assert r.feed("bob@x", part(1, b"!"), 0.0).body == b"b!"  # type: ignore[union-attr]
    assert r.dropped == 3


def test_limits() -> None:
    limits = MultiPacketLimits(max_chunks=4, max_size=100, max_messages=3, max_per_sender=2)
    r = MultiPacketReassembler(limits)
    assert r.feed("bob@x", first(5, b"x"), 0.0) is None and r.pending == 0  # too many chunks
    assert r.feed("bob@x", first(0, b"x"), 0.0) is None and r.pending == 0
    r.feed("bob@x", first(2, b"x" * 60), 0.0)
    assert r.feed("bob@x", part(1, b"y" * 41), 0.0) is None  # 101 bytes > 100
    assert r.pending == 0
    for i in range(3):  # per-sender limit: only the newest two stay
        r.feed("bob@x", first(2, b"b", f"{{{i}}}"), 0.0)
    assert r.pending == 2
    r.feed("eve@x", first(2, b"e", "{e1}"), 0.0)
    r.feed("eve@x", first(2, b"e", "{e2}"), 0.0)  # overall limit 3: the oldest goes
    assert r.pending == 3
    assert r.feed("bob@x", part(1, b"!", "{1}"), 0.0) is None  # was evicted
    assert r.feed("eve@x", part(1, b"!", "{e2}"), 0.0).body == b"e!"  # type: ignore[union-attr]
    assert r.feed("bob@x", first(1, b"single"), 0.0).body == b"single"  # type: ignore[union-attr]


def test_timeout() -> None:
    r = MultiPacketReassembler(MultiPacketLimits(timeout=10.0))
    r.feed("bob@x", first(3, b"a"), 0.0)
    r.feed("bob@x", part(1, b"b"), 8.0)  # each part renews the deadline
    assert r.expire(17.0) == []
    assert r.expire(18.0) == [("bob@x", MID)]
    assert r.feed("bob@x", part(2, b"c"), 18.5) is None and r.pending == 0
