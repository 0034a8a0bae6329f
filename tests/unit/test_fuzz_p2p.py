"""Fuzzing the P2P layer: mutated frames never raise out of feed() and never pile up state."""

from __future__ import annotations

import asyncio
import random

from bridge.msnp import slp
from bridge.msnp.errors import P2PProtocolError
from bridge.msnp.message import parse_message
from bridge.msnp.msnobject import build_msnobject, parse_msnobject
from bridge.msnp.p2p import P2PHeader, encode_packet
from bridge.msnp.p2p_session import P2PLimits, P2PManager

ALICE, BOB = "alice@example.com", "bob@example.com"


class NullLink:
    def __init__(self) -> None:
        self.sent = 0

    async def send_p2p(self, payload: bytes) -> None:
        assert len(payload) <= 1664
        self.sent += 1


def seeds() -> list[bytes]:
    invite = slp.build_request(
        "INVITE", BOB, ALICE, call_id=slp.new_guid(),
        fields=(("EUF-GUID", slp.EUF_GUID_FILE), ("SessionID", "77"), ("AppID", "2"),
                ("Context", slp.encode_context(slp.build_file_context("a.txt", 50)))),
    )  # fmt: skip
    obj = build_msnobject(BOB, b"pic")
    fetch = slp.build_request(
        "INVITE", BOB, ALICE, call_id=slp.new_guid(),
        fields=(("EUF-GUID", slp.EUF_GUID_MSNOBJ), ("SessionID", "78"), ("AppID", "1"),
                ("Context", slp.encode_context(obj.xml.encode() + b"\0"))),
    )  # fmt: skip
    return [
        encode_packet(BOB, P2PHeader(0, 1, 0, len(invite), len(invite), 0, 5), invite),
        encode_packet(BOB, P2PHeader(0, 2, 0, len(fetch), len(fetch), 0, 6), fetch),
        encode_packet(BOB, P2PHeader(77, 3, 0, 50, 50, 0x01000030, 7), b"d" * 50, 2),
        encode_packet(BOB, P2PHeader(77, 4, 0, 50, 0, 2, 3, 5, 50)),
    ]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        pos = rng.randrange(len(buf) + 1)
        if kind < 0.5 and buf:
            buf[min(pos, len(buf) - 1)] = rng.randrange(256)
        elif kind < 0.7:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        elif kind < 0.9:
            del buf[pos : pos + rng.randint(1, 40)]
        else:
            # a plausible header with random sizes at the start of the binary part
            start = data.find(b"\r\n\r\n") + 4
            header = P2PHeader(
                rng.choice([0, 77, 78, rng.randrange(2**32)]), rng.randrange(2**32),
                rng.randrange(2**40), rng.randrange(2**40), rng.randrange(2**12),
                rng.choice([0, 1, 2, 8, 0x20, 0x40, 0x80, 0x01000030]),
            )  # fmt: skip
            buf[start : start + 48] = header.pack()
    return bytes(buf)


async def test_mutated_frames_never_escape_feed() -> None:
    rng = random.Random(20240609)
    bob = P2PManager(
        BOB,
        limits=P2PLimits(file_invite_timeout=60),
        on_file_offer=lambda offer: offer.accept() if offer.size < 100 else offer.decline(),
    )
    link = NullLink()
    base = seeds()
    for _ in range(4000):
        bob.feed(link, ALICE, parse_message(mutate(rng, rng.choice(base))))
        assert bob.session_count <= bob.limits.max_sessions_per_peer
        assert bob.budget.used <= bob.limits.max_buffered
    await asyncio.sleep(0)
    await bob.close()


def test_mutated_descriptors_parse_or_raise_protocol_errors() -> None:
    rng = random.Random(7)
    xml = build_msnobject(BOB, b"picture", friendly="x&y").xml.encode()
    for _ in range(3000):
        text = mutate(rng, xml).decode("utf-8", errors="replace")
        try:
            parse_msnobject(text)
        except P2PProtocolError:
            pass
