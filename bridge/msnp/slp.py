"""MSNSLP: the SIP-like text messages that set P2P sessions up and tear them down.

They travel as session-0 P2P messages (see :mod:`.p2p`)::

    INVITE MSNMSGR:bob@example.com MSNSLP/1.0
    To: <msnmsgr:bob@example.com>
    From: <msnmsgr:alice@example.com>
    Via: MSNSLP/1.0/TLP ;branch={GUID}
    CSeq: 0
    Call-ID: {GUID}
    Max-Forwards: 0
    Content-Type: application/x-msnmsgr-sessionreqbody
    Content-Length: N

    EUF-GUID: {A4268EEC-FEC5-49E5-95C3-F126696BDBF6}
    SessionID: 123
    AppID: 1
    Context: base64...

(every line ends in CRLF and the body, counted by Content-Length, ends in a NUL). Answers are
``MSNSLP/1.0 200 OK`` / ``603 Decline`` with the same branch and Call-ID; ``BYE`` closes.
The Context of an MSN-object invitation is the descriptor; of a file invitation, the binary
file context (:class:`FileContext`: UTF-16LE name, size, preview flag).
"""

from __future__ import annotations

from typing import Final
from collections.abc import Sequence
from dataclasses import dataclass
import base64
import binascii
import struct
import uuid

from .errors import LocalProtocolError, P2PProtocolError

__all__ = [
    "EUF_GUID_FILE",
    "EUF_GUID_MSNOBJ",
    "FILE_CONTEXT_SIZE",
    "SESSION_CLOSE",
    "SESSION_REQUEST",
    "TRANSPORT_REQUEST",
    "TRANSPORT_RESPONSE",
    "FileContext",
    "SLPMessage",
    "build_file_context",
    "build_request",
    "build_response",
    "decode_context",
    "describe_euf_guid",
    "encode_body",
    "encode_context",
    "new_guid",
    "parse_file_context",
    "parse_slp",
]

VERSION: Final = "MSNSLP/1.0"
EUF_GUID_MSNOBJ: Final = "{A4268EEC-FEC5-49E5-95C3-F126696BDBF6}"
EUF_GUID_FILE: Final = "{5D3E02AB-6190-11D3-BBBB-00C04F795683}"
_KNOWN_GUIDS: Final = {
    EUF_GUID_MSNOBJ: "an MSN object",
    EUF_GUID_FILE: "a file",
    "{4BD96FC0-AB17-4425-A14A-439185962DC8}": "a webcam invitation",
    "{1C9AA97E-9C05-4583-A3BD-908A196F1E92}": "a webcam request",
    "{6A13AF9C-5308-4F35-923A-67E8DDA40C2F}": "an activity",
    "{4BD96FC0-AB17-4425-A14A-439185962DC9}": "a voice conversation",
}

SESSION_REQUEST: Final = "application/x-msnmsgr-sessionreqbody"
SESSION_CLOSE: Final = "application/x-msnmsgr-sessionclosebody"
TRANSPORT_REQUEST: Final = "application/x-msnmsgr-transreqbody"
TRANSPORT_RESPONSE: Final = "application/x-msnmsgr-transrespbody"

MAX_HEADERS: Final = 64
#: Bytes of the file context up to the preview (Messenger 6/7; Live Messenger sends 638).
FILE_CONTEXT_SIZE: Final = 574
_FILE_NAME_BYTES: Final = 520  # 260 UTF-16 code units, NUL-padded
_FILE_HEAD: Final = struct.Struct("<IIQI")
#: the file context's "type" field: 1 means "no preview follows"
FILE_NO_PREVIEW: Final = 1
MAX_FILE_NAME: Final = 255


def new_guid() -> str:
    """A new ``{UPPER-CASE-GUID}`` for Call-ID and branch."""
    return "{" + str(uuid.uuid4()).upper() + "}"


def describe_euf_guid(guid: str) -> str:
    return _KNOWN_GUIDS.get(guid.upper(), f"an unknown application {guid[:40]}")


def _address(value: str) -> str:
    """``<msnmsgr:bob@example.com>`` -> ``bob@example.com``."""
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    scheme, sep, rest = value.partition(":")
    if sep and scheme.lower() == "msnmsgr":
        value = rest
    return value.split(";", 1)[0].strip()


@dataclass(frozen=True, slots=True)
class SLPMessage:
    """A parsed MSNSLP request (``method`` set) or response (``status`` set)."""

    method: str  # INVITE, BYE, ACK ... ("" for responses)
    target: str  # the request-URI's address ("" for responses)
    status: int  # 200, 603 ... (0 for requests)
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def get(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return default

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    @property
    def to(self) -> str:
        return _address(self.get("To"))

    @property
    def from_(self) -> str:
        return _address(self.get("From"))

    @property
    def call_id(self) -> str:
        return self.get("Call-ID").strip()

    @property
    def branch(self) -> str:
        for part in self.get("Via").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "branch":
                return value.strip()
        return ""

    @property
    def cseq(self) -> int:
        value = self.get("CSeq").strip().split(" ", 1)[0]
        return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else 0

    @property
    def content_type(self) -> str:
        return self.get("Content-Type").split(";", 1)[0].strip().lower()

    @property
    def fields(self) -> dict[str, str]:
        """The body read as ``Name: value`` lines (EUF-GUID, SessionID, AppID, Context ...)."""
        out: dict[str, str] = {}
        text = self.body.split(b"\0", 1)[0].decode("utf-8", errors="replace")
        for line in text.split("\r\n")[:MAX_HEADERS]:
            name, sep, value = line.partition(":")
            if sep and name.strip():
                out.setdefault(name.strip(), value.strip())
        return out

    @property
    def session_id(self) -> int:
        """The body's SessionID (0 when absent or not a 32-bit number)."""
        value = self.fields.get("SessionID", "")
        if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= 0xFFFFFFFF:
            return int(value)
        return 0


def parse_slp(data: bytes) -> SLPMessage:
    """Parse one MSNSLP message; raises :class:`P2PProtocolError` when it is not one."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise P2PProtocolError("MSNSLP message without the end of its headers")
    head = data[:end].decode("utf-8", errors="replace").split("\r\n")
    rest = data[end + 4 :]
    if any(ord(c) < 0x20 for c in head[0]):
        raise P2PProtocolError("control character in the MSNSLP start line")
    start = head[0].split(" ")
    method = target = reason = ""
    status = 0
    if len(start) >= 3 and start[0] == VERSION and start[1].isdigit() and len(start[1]) == 3:
        status, reason = int(start[1]), " ".join(start[2:])
    elif len(start) == 3 and start[2] == VERSION and start[0].isalpha() and start[0].isupper():
        method, target = start[0], _address(start[1])
    else:
        raise P2PProtocolError(f"not an MSNSLP start line: {head[0][:60]!r}")
    if len(head) - 1 > MAX_HEADERS:
        raise P2PProtocolError("too many MSNSLP headers")
    headers: list[tuple[str, str]] = []
    for line in head[1:]:
        if any(ord(c) < 0x20 and c != "\t" for c in line):
            raise P2PProtocolError(f"control character in MSNSLP header {line[:60]!r}")
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise P2PProtocolError(f"malformed MSNSLP header {line[:60]!r}")
        headers.append((name.strip(), value.strip()))
    message = SLPMessage(method, target, status, reason, tuple(headers), b"")
    length_text = message.get("Content-Length", "0").strip()
    if not (length_text.isascii() and length_text.isdigit()) or len(length_text) > 9:
        raise P2PProtocolError(f"bad MSNSLP Content-Length {length_text[:20]!r}")
    length = int(length_text)
    if length > len(rest):
        raise P2PProtocolError("MSNSLP body shorter than its Content-Length")
    if not message.call_id:
        raise P2PProtocolError("MSNSLP message without a Call-ID")
    return SLPMessage(method, target, status, reason, tuple(headers), rest[:length])


def encode_body(fields: Sequence[tuple[str, str]]) -> bytes:
    """``Name: value`` lines, a blank line and the terminating NUL."""
    for name, value in fields:
        if any(c in name + value for c in "\r\n\0"):
            raise LocalProtocolError(f"line break in MSNSLP field {name!r}")
    text = "".join(f"{name}: {value}\r\n" for name, value in fields) + "\r\n"
    return text.encode("utf-8") + b"\0"


def _message(start: str, headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    lines = [start, *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
    for line in lines:
        if "\r" in line or "\n" in line or "\0" in line:
            raise LocalProtocolError(f"line break in MSNSLP header {line[:60]!r}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


def build_request(
    method: str,
    to: str,
    from_: str,
    *,
    call_id: str,
    branch: str | None = None,
    cseq: int = 0,
    content_type: str = SESSION_REQUEST,
    fields: Sequence[tuple[str, str]] = (),
) -> bytes:
    """An INVITE/BYE from ``from_`` to ``to`` (a new branch unless one is given)."""
    headers = (
        ("To", f"<msnmsgr:{to}>"),
        ("From", f"<msnmsgr:{from_}>"),
        ("Via", f"{VERSION}/TLP ;branch={branch or new_guid()}"),
        ("CSeq", f"{cseq} "),
        ("Call-ID", call_id),
        ("Max-Forwards", "0"),
        ("Content-Type", content_type),
    )
    return _message(f"{method} MSNMSGR:{to} {VERSION}", headers, encode_body(fields))


def build_response(
    request: SLPMessage,
    status: int,
    reason: str,
    *,
    content_type: str | None = None,
    fields: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The answer to ``request``: To/From swapped, same branch and Call-ID, next CSeq."""
    headers = (
        ("To", f"<msnmsgr:{request.from_}>"),
        ("From", f"<msnmsgr:{request.to}>"),
        ("Via", f"{VERSION}/TLP ;branch={request.branch}"),
        ("CSeq", f"{request.cseq + 1} "),
        ("Call-ID", request.call_id),
        ("Max-Forwards", "0"),
        ("Content-Type", content_type or request.content_type or SESSION_REQUEST),
    )
    return _message(f"{VERSION} {status} {reason}", headers, encode_body(fields))


def encode_context(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def decode_context(value: str, max_size: int = 16 * 1024) -> bytes:
    """The bytes of a base64 Context field; raises :class:`P2PProtocolError`."""
    if len(value) > (max_size + 2) // 3 * 4 + 4:
        raise P2PProtocolError("MSNSLP Context too large")
    try:
        return base64.b64decode(value.strip().encode("ascii"), validate=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise P2PProtocolError("MSNSLP Context is not base64") from None


@dataclass(frozen=True, slots=True)
class FileContext:
    """A file invitation's context. ``filename`` is sanitized: no path, no control chars."""

    filename: str
    size: int
    version: int
    type: int
    preview: bytes = b""


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip().strip(".")
    return name[:MAX_FILE_NAME] or "file"


def parse_file_context(data: bytes, *, max_preview: int = 64 * 1024) -> FileContext:
    """Parse the binary file context of a file-transfer INVITE."""
    if len(data) < FILE_CONTEXT_SIZE:
        raise P2PProtocolError(f"file context of {len(data)} bytes is too short")
    length, version, size, kind = _FILE_HEAD.unpack_from(data)
    if not FILE_CONTEXT_SIZE <= length <= len(data):
        raise P2PProtocolError(f"file context length {length} does not fit {len(data)} bytes")
    raw_name = data[_FILE_HEAD.size : _FILE_HEAD.size + _FILE_NAME_BYTES]
    name = raw_name.decode("utf-16-le", errors="replace").split("\0", 1)[0]
    preview = data[length : length + max_preview] if kind != FILE_NO_PREVIEW else b""
    return FileContext(_safe_filename(name), size, version, kind, preview)


def build_file_context(filename: str, size: int, *, version: int = 2) -> bytes:
    """A file context without preview (574 bytes; 638 with ``version=3``)."""
    encoded = filename.encode("utf-16-le", errors="replace")[: _FILE_NAME_BYTES - 2]
    if len(encoded) >= 2 and 0xD8 <= encoded[-1] <= 0xDB:
        encoded = encoded[:-2]  # do not end on a lone high surrogate
    length = FILE_CONTEXT_SIZE + (64 if version >= 3 else 0)
    try:
        head = _FILE_HEAD.pack(length, version, size, FILE_NO_PREVIEW)
    except struct.error as e:
        raise LocalProtocolError(f"file context field out of range: {e}") from None
    out = head + encoded.ljust(_FILE_NAME_BYTES, b"\0") + bytes(30) + b"\xff\xff\xff\xff"
    return out.ljust(length, b"\0")
