"""The test peer's P2P v2 wire format (Windows Live Messenger 2009, MSNP16+), from the
protocol description, sharing nothing with ``bridge.msnp``.

A v2 packet: ``hlen op size(BE16) seq(BE32)`` + header TLVs (padded to 4), then, when
``size`` > 0, ``dlen tf package(BE16) session(BE32)`` + data TLVs (padded), the payload, and
the 4-byte big-endian app id. ``size`` counts the data header and the payload. The next
packet's sequence number is this one's plus its ``size``; an ACK (header TLV 2) names that
sum for the packet it acknowledges.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field

from .wire import P2P_TYPE, split_mime

OP_SYN: Final = 0x01
OP_RAK: Final = 0x02
TF_FIRST: Final = 0x01
TF_OBJECT: Final = 0x04
TF_FILE: Final = 0x06
EXT_P2PV2: Final = 0x20
#: the peer info a SYN carries: protocol version 2 .. capabilities (opaque to receivers)
PEER_INFO: Final = bytes([2, 0, 0, 0, 14, 0, 0, 0, 0x0F, 0x01, 0, 0])


@dataclass
class V2Frame:
    dest: str
    src: str
    op: int
    seq: int
    size: int
    header_tlvs: dict[int, bytes] = field(default_factory=dict)
    tf: int = 0
    package: int = 0
    sid: int = 0
    data_tlvs: dict[int, bytes] = field(default_factory=dict)
    data: bytes = b""
    app: int = 0

    @property
    def ack_of(self) -> int | None:
        raw = self.header_tlvs.get(2)
        return int.from_bytes(raw, "big") if raw is not None and len(raw) == 4 else None

    @property
    def remaining(self) -> int:
        raw = self.data_tlvs.get(1)
        return int.from_bytes(raw, "big") if raw is not None and len(raw) == 8 else 0


def _block(first: bytes, tlvs: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(first)
    for kind, value in tlvs:
        out += bytes([kind, len(value)]) + value
    while len(out) % 4:
        out.append(0)
    out[0] = len(out)
    return bytes(out)


def pack_v2(
    dest: str, src: str, op: int, seq: int, *, ack: int | None = None, syn_info: bool = False,
    tf: int = 0, package: int = 0, sid: int = 0, remaining: int | None = None,
    data: bytes = b"", app: int = 0, with_data_header: bool = True,
) -> bytes:  # fmt: skip
    """A complete MSG payload; a header-only packet when ``with_data_header`` is False."""
    header_tlvs: list[tuple[int, bytes]] = []
    if syn_info:
        header_tlvs.append((1, PEER_INFO))
    if ack is not None:
        header_tlvs.append((2, ack.to_bytes(4, "big")))
    inner = b""
    if with_data_header:
        data_tlvs = [] if remaining is None else [(1, remaining.to_bytes(8, "big"))]
        first = bytes([0, tf]) + package.to_bytes(2, "big") + sid.to_bytes(4, "big")
        inner = _block(first, data_tlvs) + data
    head = bytes([0, op]) + len(inner).to_bytes(2, "big") + seq.to_bytes(4, "big")
    mime = (
        f"MIME-Version: 1.0\r\nContent-Type: {P2P_TYPE}\r\n"
        f"P2P-Dest: {dest}\r\nP2P-Src: {src}\r\n\r\n"
    )
    return mime.encode() + _block(head, header_tlvs) + inner + app.to_bytes(4, "big")


def _read_tlvs(raw: bytes) -> dict[int, bytes] | None:
    tlvs: dict[int, bytes] = {}
    i = 0
    while i + 1 < len(raw) and raw[i] != 0:
        end = i + 2 + raw[i + 1]
        if end > len(raw):
            return None
        tlvs[raw[i]] = raw[i + 2 : end]
        i = end
    return tlvs


def unpack_v2(payload: bytes) -> V2Frame | None:
    """The v2 packet in a MSG payload, or None when it is not one / is malformed."""
    headers, body = split_mime(payload)
    if headers.get("content-type", "").split(";")[0].strip() != P2P_TYPE or len(body) < 12:
        return None
    hlen, op, size, seq = body[0], body[1], int.from_bytes(body[2:4], "big"), body[4:8]
    if hlen < 8 or hlen + size + 4 != len(body):
        return None
    tlvs = _read_tlvs(body[8:hlen])
    if tlvs is None:
        return None
    frame = V2Frame(
        headers.get("p2p-dest", ""), headers.get("p2p-src", ""), op,
        int.from_bytes(seq, "big"), size, tlvs, app=int.from_bytes(body[-4:], "big"),
    )  # fmt: skip
    if size:
        d = body[hlen : hlen + size]
        dlen = d[0]
        data_tlvs = _read_tlvs(d[8:dlen]) if 8 <= dlen <= size else None
        if data_tlvs is None:
            return None
        frame.tf, frame.package = d[1], int.from_bytes(d[2:4], "big")
        frame.sid, frame.data_tlvs, frame.data = int.from_bytes(d[4:8], "big"), data_tlvs, d[dlen:]
    return frame
