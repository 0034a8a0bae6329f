"""P2P v2 framing (MSNP16+, Windows Live Messenger 2009) and the choice between v1 and v2.

Version 2 replaces the 48-byte little-endian header of :mod:`.p2p` with a variable one in
network byte order::

    header length (1) | op code (1) | message size (2) | sequence number (4) | header TLVs

padded with zero bytes to a multiple of 4 (8 to 252 bytes). ``message size`` counts what
follows the header up to the footer: when it is not 0, a data header comes first::

    data header length (1) | TF combination (1) | package number (2) | session id (4)
    | data TLVs

(padded the same way), then the payload, then the usual 4-byte big-endian application id.
Header TLVs: 1 = peer info (12 bytes, sent with the ``SYN`` op code), 2 = ACK (the sequence
number acknowledged: the acked packet's sequence number plus its message size), 3 = NAK. Data
TLVs: 1 = bytes of the message still to come after this packet (8 bytes). The TF combination
says what the payload is (:class:`TFCombination`); its ``FIRST`` bit marks a message's first
packet. A v2 packet is addressed to one endpoint: ``P2P-Dest: email;{guid}`` with
``P2P-Src: email;{guid}`` naming the sender's, which is how a receiver tells v2 from v1.

A client speaks v2 with a contact only when both advertise
:data:`~.capabilities.EXTENDED_P2P_V2` in their extended capabilities (the part after ``:``
at MSNP16+); otherwise both stay on v1 (:func:`p2p_version`). Parsing is bounded (a header of
at most 252 bytes, TLVs walked once) and raises :class:`P2PProtocolError` for anything
malformed: the caller ends that P2P session, never the switchboard.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from enum import IntEnum, IntFlag
import struct

from .capabilities import EXTENDED_P2P_V2
from .endpoints import parse_guid
from .errors import LocalProtocolError, P2PProtocolError
from .message import Message, parse_message
from .p2p import CONTENT_TYPE, FOOTER, is_p2p

__all__ = [
    "MAX_HEADER",
    "MIN_HEADER",
    "DataHeader",
    "OpCode",
    "P2PV2Header",
    "P2PV2Packet",
    "TFCombination",
    "Target",
    "decode_v2_packet",
    "encode_v2_packet",
    "p2p_target",
    "p2p_version",
    "v2_mime_head",
]

MIN_HEADER: Final = 8
MAX_HEADER: Final = 252
_FIXED: Final = struct.Struct(">BBHI")  # header: length, op code, message size, sequence
_DATA_FIXED: Final = struct.Struct(">BBHI")  # data: length, TF, package number, session id
_U16: Final = 0xFFFF
_U32: Final = 0xFFFFFFFF
_FOOTER_SIZE: Final = FOOTER.size

#: header TLV types
TLV_PEER_INFO: Final = 1
TLV_ACK: Final = 2
TLV_NAK: Final = 3
#: data TLV types
TLV_DATA_REMAINING: Final = 1


class OpCode(IntFlag):
    NONE = 0
    SYN = 0x1  # the first packet to an endpoint: carries the peer info TLV
    RAK = 0x2  # "request acknowledgement"


class TFCombination(IntFlag):
    """What a data packet carries (and whether it starts its message)."""

    NONE = 0
    FIRST = 0x1
    MSN_OBJECT = 0x4  # display picture, emoticon data
    FILE = 0x6  # file-transfer data


class Target(IntEnum):
    """Whom a P2P message's ``P2P-Dest`` names, from our endpoint's point of view."""

    OTHER = 0  # another participant, or another endpoint of our own account
    V1 = 1  # our account, no endpoint: P2P v1
    V2 = 2  # our own endpoint: P2P v2


def p2p_version(own_extended: int, peer_extended: int) -> int:
    """2 when both sides advertise P2P v2 support, else 1."""
    return 2 if own_extended & peer_extended & EXTENDED_P2P_V2 else 1


def p2p_target(destination: str, own_passport: str, own_endpoint: str | None) -> Target:
    """Classify ``P2P-Dest``: v1 to our account, v2 to our endpoint, or not ours at all."""
    email, semicolon, endpoint = destination.strip().partition(";")
    if email.lower() != own_passport.lower():
        return Target.OTHER
    if not semicolon:
        return Target.V1
    try:
        named = parse_guid(endpoint)
        ours = parse_guid(own_endpoint) if own_endpoint else None
    except ValueError:
        return Target.OTHER
    return Target.V2 if named == ours else Target.OTHER


def _tlvs(raw: bytes, start: int, end: int, what: str) -> dict[int, bytes]:
    """TLVs in ``raw[start:end]`` up to the padding (a type 0); each type at most once."""
    found: dict[int, bytes] = {}
    index = start
    while index < end:
        kind = raw[index]
        if kind == 0:
            break  # the padding
        if index + 2 > end or index + 2 + raw[index + 1] > end:
            raise P2PProtocolError(f"P2P v2 {what} TLV {kind} overruns its header")
        length = raw[index + 1]
        if kind in found:
            raise P2PProtocolError(f"P2P v2 {what} repeats TLV {kind}")
        found[kind] = bytes(raw[index + 2 : index + 2 + length])
        index += 2 + length
    return found


def _pack_tlvs(fixed: bytes, tlvs: tuple[tuple[int, bytes], ...], what: str) -> bytes:
    body = bytearray(fixed)
    for kind, value in tlvs:
        if not 0 < kind <= 0xFF or len(value) > 0xFF:
            raise LocalProtocolError(f"bad P2P v2 {what} TLV {kind}")
        body += bytes((kind, len(value))) + value
    body += b"\0" * (-len(body) % 4)
    if len(body) > MAX_HEADER:
        raise LocalProtocolError(f"P2P v2 {what} of {len(body)} bytes is too long")
    body[0] = len(body)
    return bytes(body)


def _u32(value: bytes | None, what: str) -> int | None:
    if value is None:
        return None
    if len(value) != 4:
        raise P2PProtocolError(f"P2P v2 {what} TLV is {len(value)} bytes, not 4")
    return int.from_bytes(value, "big")


@dataclass(frozen=True, slots=True)
class DataHeader:
    tf: int = TFCombination.NONE
    package_number: int = 0
    session_id: int = 0
    #: bytes of the message still to come after this packet (None: the TLV is absent)
    remaining: int | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def pack(self) -> bytes:
        if not (0 <= self.tf <= 0xFF and 0 <= self.package_number <= _U16):
            raise LocalProtocolError("P2P v2 data header field out of range")
        if not 0 <= self.session_id <= _U32:
            raise LocalProtocolError("P2P v2 session id out of range")
        tlvs = self.tlvs
        if self.remaining is not None:
            if not 0 <= self.remaining < 2**64:
                raise LocalProtocolError("P2P v2 data remaining out of range")
            tlvs = ((TLV_DATA_REMAINING, self.remaining.to_bytes(8, "big")), *tlvs)
        fixed = _DATA_FIXED.pack(0, self.tf, self.package_number, self.session_id)
        return _pack_tlvs(fixed, tlvs, "data header")

    @property
    def first(self) -> bool:
        return bool(self.tf & TFCombination.FIRST)


@dataclass(frozen=True, slots=True)
class P2PV2Header:
    op_code: int = OpCode.NONE
    sequence: int = 0
    #: the sequence number this packet acknowledges (TLV 2) or refuses (TLV 3)
    ack: int | None = None
    nak: int | None = None
    peer_info: bytes | None = None
    #: other header TLVs as (type, value), kept in order
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def pack(self, message_size: int) -> bytes:
        if not (0 <= self.op_code <= 0xFF and 0 <= self.sequence <= _U32):
            raise LocalProtocolError("P2P v2 header field out of range")
        if not 0 <= message_size <= _U16:
            raise LocalProtocolError(f"P2P v2 message of {message_size} bytes is too large")
        tlvs: list[tuple[int, bytes]] = []
        if self.peer_info is not None:
            tlvs.append((TLV_PEER_INFO, self.peer_info))
        for kind, value in ((TLV_ACK, self.ack), (TLV_NAK, self.nak)):
            if value is not None:
                if not 0 <= value <= _U32:
                    raise LocalProtocolError("P2P v2 acknowledged sequence out of range")
                tlvs.append((kind, value.to_bytes(4, "big")))
        fixed = _FIXED.pack(0, self.op_code, message_size, self.sequence)
        return _pack_tlvs(fixed, (*tlvs, *self.tlvs), "header")

    @property
    def wants_ack(self) -> bool:
        return bool(self.op_code & OpCode.RAK)


@dataclass(frozen=True, slots=True)
class P2PV2Packet:
    destination: str
    source: str
    header: P2PV2Header
    data: DataHeader | None
    payload: bytes
    app_id: int


def v2_mime_head(destination: str, source: str) -> bytes:
    for value in (destination, source):
        if not value or any(c in value for c in "\r\n\0"):
            raise LocalProtocolError(f"bad P2P address {value!r}")
    return (
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\n"
        f"P2P-Dest: {destination}\r\n"
        f"P2P-Src: {source}\r\n\r\n"
    ).encode()


def encode_v2_packet(
    destination: str,
    source: str,
    header: P2PV2Header,
    data: DataHeader | None = None,
    payload: bytes = b"",
    app_id: int = 0,
) -> bytes:
    """One ``MSG`` payload carrying a P2P v2 packet (``data`` None: a header-only packet)."""
    if data is None and payload:
        raise LocalProtocolError("a P2P v2 payload needs a data header")
    inner = b"" if data is None else data.pack() + payload
    return (
        v2_mime_head(destination, source)
        + header.pack(len(inner))
        + inner
        + FOOTER.pack(app_id & _U32)
    )


def decode_v2_packet(message: Message | bytes) -> P2PV2Packet:
    """Read the P2P v2 packet in a MSG payload; :class:`P2PProtocolError` when malformed."""
    if isinstance(message, bytes):
        message = parse_message(message)
    if not is_p2p(message):
        raise P2PProtocolError(f"not a P2P message ({message.content_type or 'no type'})")
    raw = message.body
    if len(raw) < MIN_HEADER + _FOOTER_SIZE:
        raise P2PProtocolError(f"P2P v2 packet of {len(raw)} bytes is shorter than its framing")
    length, op_code, size, sequence = _FIXED.unpack_from(raw)
    if length < MIN_HEADER or length % 4 or length > len(raw) - _FOOTER_SIZE:
        raise P2PProtocolError(f"bad P2P v2 header length {length}")
    if length + size != len(raw) - _FOOTER_SIZE:
        raise P2PProtocolError(
            f"P2P v2 header says {size} bytes follow it, the packet has "
            f"{len(raw) - _FOOTER_SIZE - length}"
        )
    tlvs = _tlvs(raw, MIN_HEADER, length, "header")
    header = P2PV2Header(
        op_code,
        sequence,
        _u32(tlvs.pop(TLV_ACK, None), "ACK"),
        _u32(tlvs.pop(TLV_NAK, None), "NAK"),
        tlvs.pop(TLV_PEER_INFO, None),
        tuple(tlvs.items()),
    )
    data: DataHeader | None = None
    start = length
    if size:
        if size < MIN_HEADER:
            raise P2PProtocolError(f"P2P v2 message of {size} bytes has no data header")
        data_length, tf, package, session_id = _DATA_FIXED.unpack_from(raw, start)
        if data_length < MIN_HEADER or data_length % 4 or data_length > size:
            raise P2PProtocolError(f"bad P2P v2 data header length {data_length}")
        data_tlvs = _tlvs(raw, start + MIN_HEADER, start + data_length, "data header")
        remaining_raw = data_tlvs.pop(TLV_DATA_REMAINING, None)
        if remaining_raw is not None and len(remaining_raw) != 8:
            raise P2PProtocolError("P2P v2 data-remaining TLV is not 8 bytes")
        remaining = None if remaining_raw is None else int.from_bytes(remaining_raw, "big")
        data = DataHeader(tf, package, session_id, remaining, tuple(data_tlvs.items()))
        start += data_length
    payload = bytes(raw[start : len(raw) - _FOOTER_SIZE])
    (app_id,) = FOOTER.unpack_from(raw, len(raw) - _FOOTER_SIZE)
    return P2PV2Packet(
        message.get("P2P-Dest").strip(),
        message.get("P2P-Src").strip(),
        header,
        data,
        payload,
        app_id,
    )
