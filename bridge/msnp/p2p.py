"""P2P (MSNP2P v1) framing: the binary header and footer inside switchboard messages.

A P2P message travels in ``MSG`` payloads of type ``application/x-msnmsgrp2p`` addressed with
``P2P-Dest``. After the MIME headers comes a 48-byte little-endian binary header::

    session id (4) | identifier (4) | offset (8) | total size (8) | message size (4)
    | flags (4) | ack session id (4) | ack unique id (4) | ack data size (8)

then ``message size`` bytes of data and a 4-byte big-endian application id footer. A message
larger than :data:`MAX_CHUNK` bytes is split into chunks that share the identifier and carry
their offset. The receiver acknowledges each complete message with a header-only packet
(flag ``ACK``) that names the acknowledged identifier, its ack session id and its size.

Session 0 carries MSNSLP text (see :mod:`.slp`); the state that chunks, reassembles and
acknowledges lives in :mod:`.p2p_transport`.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from enum import IntEnum, IntFlag
import struct

from .errors import LocalProtocolError, P2PProtocolError
from .message import Message, parse_message

__all__ = [
    "CONTENT_TYPE",
    "FILE_DATA_FLAGS",
    "FOOTER",
    "HEADER_SIZE",
    "MAX_CHUNK",
    "AppID",
    "P2PFlags",
    "P2PHeader",
    "P2PPacket",
    "decode_packet",
    "encode_packet",
    "is_p2p",
    "mime_head",
]

CONTENT_TYPE: Final = "application/x-msnmsgrp2p"
HEADER: Final = struct.Struct("<IIQQIIIIQ")
FOOTER: Final = struct.Struct(">I")
HEADER_SIZE: Final = HEADER.size  # 48
FOOTER_SIZE: Final = FOOTER.size  # 4
#: Largest data part of one P2P packet over a switchboard.
MAX_CHUNK: Final = 1202
_U32: Final = 0xFFFFFFFF


class P2PFlags(IntFlag):
    NONE = 0
    NAK = 0x1
    ACK = 0x2
    WAITING = 0x4
    ERROR = 0x8
    FILE = 0x10
    MSN_OBJECT_DATA = 0x20  # display picture / emoticon data
    CLOSE_ACK = 0x40
    TLP_ERROR = 0x80
    DIRECT_HANDSHAKE = 0x100
    FILE_DATA = 0x01000000


#: Flags of file-transfer data packets (Messenger 7 and later).
FILE_DATA_FLAGS: Final = P2PFlags.FILE_DATA | P2PFlags.MSN_OBJECT_DATA | P2PFlags.FILE


class AppID(IntEnum):
    """The footer: which application a packet belongs to."""

    SLP = 0
    MSN_OBJECT = 1
    FILE_TRANSFER = 2
    CUSTOM_EMOTICON = 11
    DISPLAY_PICTURE = 12


@dataclass(frozen=True, slots=True)
class P2PHeader:
    session_id: int = 0
    identifier: int = 0
    offset: int = 0
    total_size: int = 0
    message_size: int = 0
    flags: int = 0
    ack_session_id: int = 0
    ack_unique_id: int = 0
    ack_data_size: int = 0

    def pack(self) -> bytes:
        try:
            return HEADER.pack(
                self.session_id,
                self.identifier,
                self.offset,
                self.total_size,
                self.message_size,
                self.flags,
                self.ack_session_id,
                self.ack_unique_id,
                self.ack_data_size,
            )
        except struct.error as e:
            raise LocalProtocolError(f"P2P header field out of range: {e}") from None

    @classmethod
    def unpack(cls, data: bytes) -> P2PHeader:
        if len(data) < HEADER_SIZE:
            raise P2PProtocolError(f"P2P header is {len(data)} bytes, not {HEADER_SIZE}")
        return cls(*HEADER.unpack_from(data))

    @property
    def is_ack(self) -> bool:
        return bool(self.flags & P2PFlags.ACK)


@dataclass(frozen=True, slots=True)
class P2PPacket:
    destination: str
    header: P2PHeader
    body: bytes
    app_id: int


def is_p2p(message: Message) -> bool:
    return message.content_type == CONTENT_TYPE


def mime_head(destination: str) -> bytes:
    if not destination or any(c in destination for c in "\r\n\0"):
        raise LocalProtocolError(f"bad P2P destination {destination!r}")
    return (
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {CONTENT_TYPE}\r\n"
        f"P2P-Dest: {destination}\r\n\r\n"
    ).encode()


def encode_packet(
    destination: str, header: P2PHeader, body: bytes = b"", app_id: int = 0
) -> bytes:
    """One complete ``MSG`` payload carrying a P2P packet."""
    if header.message_size != len(body):
        raise LocalProtocolError("P2P message size does not match the data")
    return mime_head(destination) + header.pack() + body + FOOTER.pack(app_id & _U32)


def decode_packet(message: Message | bytes) -> P2PPacket:
    """Read the P2P packet in a MSG payload; raises :class:`P2PProtocolError` when malformed."""
    if isinstance(message, bytes):
        message = parse_message(message)
    if not is_p2p(message):
        raise P2PProtocolError(f"not a P2P message ({message.content_type or 'no type'})")
    raw = message.body
    if len(raw) < HEADER_SIZE + FOOTER_SIZE:
        raise P2PProtocolError(f"P2P packet of {len(raw)} bytes is shorter than its framing")
    header = P2PHeader.unpack(raw)
    body = raw[HEADER_SIZE:-FOOTER_SIZE]
    if header.message_size != len(body):
        raise P2PProtocolError(
            f"P2P header says {header.message_size} bytes of data, the packet has {len(body)}"
        )
    (app_id,) = FOOTER.unpack_from(raw, len(raw) - FOOTER_SIZE)
    return P2PPacket(message.get("P2P-Dest").strip(), header, body, app_id)
