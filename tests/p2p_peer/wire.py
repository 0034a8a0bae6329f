"""The test peer's own P2P/MSNSLP wire format, written from the protocol documentation.

Deliberately shares nothing with ``bridge.msnp`` (a test enforces it): a bug in the library's
codec must not be mirrored here. Everything is plain functions over bytes and dicts; the peer
keeps whole messages in memory, which is fine for a test peer.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from urllib.parse import unquote
import base64
import hashlib
import struct
import uuid

P2P_TYPE: Final = "application/x-msnmsgrp2p"
# SessionID, Identifier, Offset, TotalSize, Length, Flags, AckID, AckUID, AckSize
BINARY: Final = struct.Struct("<LLQQLLLLQ")
CHUNK: Final = 1202
FLAG_ACK: Final = 0x02
FLAG_OBJECT_DATA: Final = 0x20
FLAG_FILE_DATA: Final = 0x01000030
APP_OBJECT: Final = 1
APP_FILE: Final = 2
GUID_OBJECT: Final = "{A4268EEC-FEC5-49E5-95C3-F126696BDBF6}"
GUID_FILE: Final = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
REQ_BODY: Final = "application/x-msnmsgr-sessionreqbody"
TRANS_REQ: Final = "application/x-msnmsgr-transreqbody"
CLOSE_BODY: Final = "application/x-msnmsgr-sessionclosebody"


@dataclass
class Frame:
    """One received P2P packet."""

    dest: str
    sid: int
    ident: int
    offset: int
    total: int
    length: int
    flags: int
    ack_id: int
    ack_uid: int
    ack_size: int
    data: bytes
    app: int


def split_mime(payload: bytes) -> tuple[dict[str, str], bytes]:
    head, _, body = payload.partition(b"\r\n\r\n")
    headers = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        if ": " in line:
            key, value = line.split(": ", 1)
            headers[key.lower()] = value
    return headers, body


def pack_frame(
    dest: str, sid: int, ident: int, offset: int, total: int, data: bytes, flags: int,
    ack_id: int, ack_uid: int = 0, ack_size: int = 0, app: int = 0,
) -> bytes:  # fmt: skip
    head = f"MIME-Version: 1.0\r\nContent-Type: {P2P_TYPE}\r\nP2P-Dest: {dest}\r\n\r\n"
    binary = BINARY.pack(sid, ident, offset, total, len(data), flags, ack_id, ack_uid, ack_size)
    return head.encode() + binary + data + app.to_bytes(4, "big")


def unpack_frame(payload: bytes) -> Frame | None:
    headers, body = split_mime(payload)
    if headers.get("content-type", "").split(";")[0].strip() != P2P_TYPE or len(body) < 52:
        return None
    fields = BINARY.unpack(body[:48])
    data = body[48:-4]
    if fields[4] != len(data):
        return None
    app = int.from_bytes(body[-4:], "big")
    return Frame(headers.get("p2p-dest", ""), *fields, data=data, app=app)


def ack_for(me_to: str, frame: Frame, ident: int) -> bytes:
    """The acknowledgement of a complete message ``frame`` belongs to."""
    return pack_frame(
        me_to, frame.sid, ident, 0, frame.total, b"", FLAG_ACK,
        ack_id=frame.ident, ack_uid=frame.ack_id, ack_size=frame.total,
    )  # fmt: skip


def guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


def slp_text(
    first_line: str, to: str, sender: str, branch: str, cseq: int, call_id: str,
    content_type: str, body_lines: list[str],
) -> bytes:  # fmt: skip
    body = "".join(line + "\r\n" for line in body_lines) + "\r\n"
    body_bytes = body.encode() + b"\x00"
    head = (
        f"{first_line}\r\nTo: <msnmsgr:{to}>\r\nFrom: <msnmsgr:{sender}>\r\n"
        f"Via: MSNSLP/1.0/TLP ;branch={branch}\r\nCSeq: {cseq} \r\nCall-ID: {call_id}\r\n"
        f"Max-Forwards: 0\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body_bytes)}\r\n\r\n"
    )
    return head.encode() + body_bytes


@dataclass
class Slp:
    first_line: str
    headers: dict[str, str]
    body: dict[str, str]

    @property
    def method(self) -> str:
        word = self.first_line.split(" ")[0]
        return "" if word.startswith("MSNSLP/") else word

    @property
    def status(self) -> int:
        parts = self.first_line.split(" ")
        return int(parts[1]) if parts[0].startswith("MSNSLP/") else 0

    def addr(self, name: str) -> str:
        value = self.headers.get(name.lower(), "")
        return value.strip("<>").removeprefix("msnmsgr:")

    @property
    def call_id(self) -> str:
        return self.headers.get("call-id", "")

    @property
    def branch(self) -> str:
        return self.headers.get("via", "").split("branch=")[-1]

    @property
    def cseq(self) -> int:
        return int(self.headers.get("cseq", "0").split()[0])


def parse_slp(data: bytes) -> Slp:
    text = data.decode("utf-8", "replace")
    head, _, rest = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body_text = rest.encode()[:length].decode("utf-8", "replace").rstrip("\x00")
    body = {}
    for line in body_text.split("\r\n"):
        if ": " in line:
            key, value = line.split(": ", 1)
            body[key] = value
    return Slp(lines[0], headers, body)


def sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()


def make_msnobj(creator: str, data: bytes, kind: int, location: str = "TFR2C2.tmp") -> str:
    """An ``<msnobj/>`` for ``data`` with SHA1D and SHA1C."""
    size, sha1d, friendly = str(len(data)), sha1_b64(data), "AAA="
    digest_input = (
        "Creator" + creator + "Size" + size + "Type" + str(kind) + "Location" + location
        + "Friendly" + friendly + "SHA1D" + sha1d
    )  # fmt: skip
    sha1c = sha1_b64(digest_input.encode())
    return (
        f'<msnobj Creator="{creator}" Size="{size}" Type="{kind}" Location="{location}" '
        f'Friendly="{friendly}" SHA1D="{sha1d}" SHA1C="{sha1c}"/>'
    )


def msnobj_attr(xml: str, name: str) -> str:
    xml = unquote(xml) if xml.startswith("%3C") else xml
    marker = f' {name}="'
    if marker not in xml:
        return ""
    return xml.split(marker, 1)[1].split('"', 1)[0]


def file_context(name: str, size: int) -> bytes:
    """574 bytes: length, version 2, size, type 1 (no preview), 520-byte UTF-16LE name, ..."""
    raw_name = name.encode("utf-16-le")[:518]
    return (
        struct.pack("<LLQL", 574, 2, size, 1)
        + raw_name + b"\x00" * (520 - len(raw_name))
        + b"\x00" * 30 + b"\xff\xff\xff\xff"
    )  # fmt: skip


def read_file_context(raw: bytes) -> tuple[str, int]:
    _, _, size, _ = struct.unpack("<LLQL", raw[:20])
    name = raw[20:540].decode("utf-16-le", "replace").split("\x00")[0]
    return name, size
