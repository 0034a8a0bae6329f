"""MIME-style ``MSG`` payloads: parsing, building and splitting.

An MSN message payload is a block of ``Name: value`` header lines, a blank line and a body.
Text messages (``text/plain``) carry their formatting in ``X-MMS-IM-Format``; typing
notifications are ``text/x-msmsgscontrol``; nudges are ``text/x-msnmsgr-datacast`` with
``ID: 1`` in the body. Everything else is handed through unchanged.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field
from urllib.parse import quote, unquote
import re

from .charsets import decode_text
from .values import MessageFormat

__all__ = [
    "MAX_MSG_PAYLOAD",
    "Message",
    "build_nudge",
    "build_text",
    "build_typing",
    "format_header",
    "parse_format",
    "parse_message",
    "split_text",
]

#: The largest MSG payload (headers + body) switchboards relay; longer ones close the session.
MAX_MSG_PAYLOAD: Final = 1664
#: Header lines read per message (real messages have about five).
MAX_HEADER_LINES: Final = 64
#: Longer ``X-MMS-IM-Format`` values are not read (real ones are about 60 characters).
MAX_FORMAT: Final = 512

TEXT_PLAIN: Final = "text/plain"
TYPING: Final = "text/x-msmsgscontrol"
DATACAST: Final = "text/x-msnmsgr-datacast"
PROFILE: Final = "text/x-msmsgsprofile"

DEFAULT_FORMAT: Final = MessageFormat(font="MS Sans Serif", color="000000", pitch_family="0")


@dataclass(slots=True)
class Message:
    """A parsed MSG payload; header names keep their case, look-ups ignore it."""

    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def get(self, name: str, default: str = "") -> str:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return default

    @property
    def content_type(self) -> str:
        """The MIME type without parameters, lower-cased (``text/plain``)."""
        return self.get("Content-Type").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str:
        for param in self.get("Content-Type").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset":
                return value.strip().strip('"')
        return ""

    @property
    def text(self) -> str:
        """The body decoded with the declared charset when it is a known one, else as UTF-8
        (see :mod:`.charsets`: the text must arrive, and no codec may cost more than linear
        time)."""
        return decode_text(self.body, self.charset)

    @property
    def format(self) -> MessageFormat:
        return parse_format(self.get("X-MMS-IM-Format"))

    def body_fields(self) -> dict[str, str]:
        """The body read as ``Name: value`` lines (datacasts, profiles)."""
        return _parse_fields(self.text)

    def encode(self) -> bytes:
        head = "".join(f"{name}: {value}\r\n" for name, value in self.headers.items())
        return head.encode("utf-8") + b"\r\n" + self.body


def _parse_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        name, sep, value = line.partition(":")
        if sep and name.strip():
            fields[name.strip()] = value.strip()
    return fields


def parse_message(payload: bytes) -> Message:
    """Split a payload into headers and body. Lines may end in CRLF or a bare LF."""
    crlf = payload.find(b"\r\n\r\n")
    lf = payload.find(b"\n\n")
    if crlf >= 0 and (lf < 0 or crlf <= lf + 1):
        head, body = payload[:crlf], payload[crlf + 4 :]
    elif lf >= 0:
        head, body = payload[:lf], payload[lf + 2 :]
    else:
        head, body = payload, b""
    headers: dict[str, str] = {}
    # real messages have a handful of header lines: the rest of a longer block is not read
    lines = head.decode("utf-8", errors="replace").split("\n", MAX_HEADER_LINES)
    for line in lines[:MAX_HEADER_LINES]:
        name, sep, value = line.partition(":")
        if sep:
            name = name.strip()
            if name:
                headers[name] = value.strip()
    return Message(headers, body)


def _bgr_to_rgb(value: str) -> str:
    value = value.strip().lower()
    if not value or len(value) > 6 or any(c not in "0123456789abcdef" for c in value):
        return ""
    value = value.rjust(6, "0")
    return value[4:6] + value[2:4] + value[0:2]


def _rgb_to_bgr(value: str) -> str:
    value = value.strip().lstrip("#").lower()
    if len(value) != 6 or any(c not in "0123456789abcdef" for c in value):
        return "0"
    return (value[4:6] + value[2:4] + value[0:2]).lstrip("0") or "0"


def parse_format(value: str) -> MessageFormat:
    """Parse ``FN=Arial; EF=BI; CO=ff; CS=0; PF=22`` (unknown keys are ignored)."""
    params: dict[str, str] = {}
    if len(value) > MAX_FORMAT:
        value = ""
    for part in value.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip().upper()] = val.strip()
    return MessageFormat(
        font=unquote(params.get("FN", ""), errors="replace"),
        effects="".join(c for c in params.get("EF", "").upper() if c in "BIUS"),
        color=_bgr_to_rgb(params.get("CO", "")),
        charset=params.get("CS", ""),
        pitch_family=params.get("PF", ""),
        right_to_left=params.get("RL", "0") == "1",
    )


def format_header(fmt: MessageFormat) -> str:
    """The ``X-MMS-IM-Format`` value for ``fmt``."""
    parts = [
        f"FN={quote(fmt.font or DEFAULT_FORMAT.font, safe='')}",
        f"EF={''.join(c for c in fmt.effects.upper() if c in 'BIUS')}",
        f"CO={_rgb_to_bgr(fmt.color) if fmt.color else '0'}",
        f"CS={fmt.charset or '0'}",
        f"PF={fmt.pitch_family or '0'}",
    ]
    if fmt.right_to_left:
        parts.append("RL=1")
    return "; ".join(parts)


def _text_headers(fmt: MessageFormat | None) -> bytes:
    return (
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        f"X-MMS-IM-Format: {format_header(fmt or DEFAULT_FORMAT)}\r\n\r\n"
    ).encode()


def build_text(text: str, fmt: MessageFormat | None = None) -> bytes:
    """One ``text/plain`` payload (no size check; see :func:`split_text`)."""
    return _text_headers(fmt) + _utf8(text)


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _utf8(text: str) -> bytes:
    """UTF-8 bytes of ``text``; lone surrogates (possible in JSON from Matrix) become U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


def _utf8_cut(data: bytes, limit: int) -> int:
    """The largest cut position <= ``limit`` that does not split a UTF-8 sequence."""
    if limit >= len(data):
        return len(data)
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def split_text(
    text: str, fmt: MessageFormat | None = None, limit: int = MAX_MSG_PAYLOAD
) -> list[bytes]:
    """``text/plain`` payloads, each at most ``limit`` bytes, whose bodies join to ``text``.

    Cuts prefer the last white space in the final quarter of a chunk and never split a
    UTF-8 sequence.
    """
    head = _text_headers(fmt)
    room = limit - len(head)
    if room < 8:
        raise ValueError(f"a {limit}-byte limit leaves no room for the message body")
    data = _utf8(text)
    if len(data) <= room:
        return [head + data]
    payloads: list[bytes] = []
    while data:
        cut = _utf8_cut(data, room)
        if cut < len(data):
            space = max(data.rfind(b" ", 0, cut), data.rfind(b"\n", 0, cut))
            if space >= cut * 3 // 4:
                cut = space + 1
        payloads.append(head + data[:cut])
        data = data[cut:]
    return payloads


def build_typing(passport: str) -> bytes:
    return (
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/x-msmsgscontrol\r\n"
        f"TypingUser: {passport}\r\n\r\n\r\n"
    ).encode()


def build_nudge() -> bytes:
    return b"MIME-Version: 1.0\r\nContent-Type: text/x-msnmsgr-datacast\r\n\r\nID: 1\r\n\r\n"


def is_nudge(message: Message) -> bool:
    return message.content_type == DATACAST and message.body_fields().get("ID") == "1"
