"""Offline messages (OIM), receiving side: mail data, the RSI service and the message format.

At login the notification server sends ``MSG Hotmail Hotmail`` with the content type
``text/x-msmsgsinitialmdatanotification``; a message arriving while we are online comes as
``text/x-msmsgsoimnotification``. Both carry ``Mail-Data: <MD>...</MD>``: one ``<M>`` per
waiting message (sender ``E``, encoded name ``N``, receive time ``RT``, size ``SZ``, id
``I``), or the word ``too-large`` when there are too many, in which case ``GetMetadata``
fetches the same list. ``GetMessage`` returns a message as MIME text (headers, a blank line
and the UTF-8 text in base64) with ``X-OIM-Run-Id`` and ``X-OIM-Sequence-Num`` giving the
order in which one sender's run of messages was written; ``DeleteMessages`` removes them
once delivered. The RSI service takes the ``messenger.msn.com`` ticket split into its ``t``
and ``p`` parts.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import base64
import binascii
import re

from .charsets import codec_for, decode_text
from .errors import LocalProtocolError, RemoteProtocolError
from .message import parse_message
from .soap import SoapRequest, envelope, parse_response
from .xmlsafe import Element, parse_xml, text

__all__ = [
    "MAIL_DATA_TYPES",
    "RSI_NS",
    "RSI_URL",
    "MailData",
    "OfflineMessage",
    "OimInfo",
    "decode_mime_words",
    "delete_messages",
    "get_message",
    "get_metadata",
    "parse_delete_messages",
    "parse_get_message",
    "parse_get_metadata",
    "parse_mail_data",
    "parse_oim_message",
    "parse_oim_notification",
    "sort_messages",
    "split_ticket",
]

RSI_NS: Final = "http://www.hotmail.msn.com/ws/2004/09/oim/rsi"
RSI_URL: Final = "https://rsi.hotmail.com/rsi/rsi.asmx"
MAIL_DATA_TYPES: Final = frozenset(
    {"text/x-msmsgsinitialmdatanotification", "text/x-msmsgsoimnotification"}
)
_MAX_MAIL_DATA: Final = 512 << 10
_MAX_MESSAGES: Final = 1000
_MAX_OIM_BYTES: Final = 256 << 10
_ENCODED_WORD: Final = re.compile(r"=\?([^?\s]{1,40})\?([BbQq])\?([^?\s]*)\?=")
_QP_HEX: Final = re.compile(r"=([0-9A-Fa-f]{2})")
_ARRIVAL: Final = re.compile(
    r"(\d{1,2}) ([A-Za-z]{3}) (\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))? \(UTC\)"
)
_MONTHS: Final = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


def _decode_word(match: re.Match[str]) -> str:
    charset, kind, payload = match.group(1), match.group(2).upper(), match.group(3)
    if codec_for(charset) is None:
        return match.group(0)  # known charsets only (some codecs are quadratic: punycode)
    try:
        if kind == "B":
            raw = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        else:
            raw = _QP_HEX.sub(
                lambda m: chr(int(m.group(1), 16)), payload.replace("_", " ")
            ).encode("latin-1")
        return decode_text(raw, charset)
    except (binascii.Error, ValueError, LookupError, UnicodeError):
        return match.group(0)


def decode_mime_words(value: str) -> str:
    """Decode RFC 2047 words (``=?utf-8?B?...?=``) in a header value; the rest stays as is.
    Whitespace between two encoded words is dropped, as the RFC asks."""
    joined = re.sub(r"(\?=)\s+(=\?)", r"\1\2", value)
    return _ENCODED_WORD.sub(_decode_word, joined)


@dataclass(frozen=True, slots=True)
class OimInfo:
    """One waiting offline message as listed in mail data."""

    message_id: str
    sender: str
    sender_name: str = ""
    received: datetime | None = None
    size: int = 0


@dataclass(frozen=True, slots=True)
class MailData:
    """The offline messages of a mail-data document; ``too_large`` means the list was not
    sent and must be fetched with ``GetMetadata``."""

    messages: tuple[OimInfo, ...] = ()
    too_large: bool = False


def _parse_iso(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mail_data_from(root: Element) -> MailData:
    if root.name != "MD":
        raise RemoteProtocolError(f"expected <MD>, got <{root.name}>")
    messages: list[OimInfo] = []
    for node in root.children_named("M")[:_MAX_MESSAGES]:
        message_id = node.findtext("I").strip()
        sender = node.findtext("E").strip()
        if not message_id or not sender:
            continue
        size = node.findtext("SZ").strip()
        messages.append(
            OimInfo(
                message_id=message_id,
                sender=sender,
                sender_name=decode_mime_words(node.findtext("N").strip()).strip(),
                received=_parse_iso(node.findtext("RT")),
                size=int(size) if size.isascii() and size.isdigit() and len(size) < 12 else 0,
            )
        )
    return MailData(tuple(messages))


def parse_mail_data(value: str) -> MailData:
    """The ``Mail-Data`` value: ``<MD>...</MD>`` or ``too-large``."""
    value = value.strip()
    if value.lower() == "too-large":
        return MailData(too_large=True)
    if not value:
        return MailData()
    return _mail_data_from(parse_xml(value, max_bytes=_MAX_MAIL_DATA))


def parse_oim_notification(payload: bytes) -> MailData | None:
    """The mail data of a ``MSG Hotmail`` payload, or None when it is another kind of
    notification (new e-mail, profile...)."""
    message = parse_message(payload)
    if message.content_type not in MAIL_DATA_TYPES:
        return None
    return parse_mail_data(message.body_fields().get("Mail-Data", ""))


def split_ticket(ticket: str) -> tuple[str, str]:
    """``t=...&p=...`` as ``(t, p)``, the values exactly as issued (base64: no URL decoding,
    which would turn ``+`` into a space)."""
    fields: dict[str, str] = {}
    for part in ticket.strip().split("&"):
        key, sep, value = part.partition("=")
        if sep:
            fields.setdefault(key, value)
    if "t" not in fields:
        raise LocalProtocolError("not a compact ticket (no t=)")
    return fields["t"], fields.get("p", "")


def _rsi_request(action: str, ticket: str, body: str) -> SoapRequest:
    t, p = split_ticket(ticket)
    header = f'<PassportCookie xmlns="{RSI_NS}"><t>{text(t)}</t><p>{text(p)}</p></PassportCookie>'
    return SoapRequest(f"{RSI_NS}/{action}", envelope(header, body))


def get_metadata(ticket: str) -> SoapRequest:
    """``GetMetadata``: the list of waiting messages (when the NS said ``too-large``)."""
    return _rsi_request("GetMetadata", ticket, f'<GetMetadata xmlns="{RSI_NS}"/>')


def get_message(ticket: str, message_id: str, *, mark_read: bool = False) -> SoapRequest:
    """``GetMessage``: one message's MIME text."""
    body = (
        f'<GetMessage xmlns="{RSI_NS}"><messageId>{text(message_id)}</messageId>'
        f"<alsoMarkAsRead>{'true' if mark_read else 'false'}</alsoMarkAsRead></GetMessage>"
    )
    return _rsi_request("GetMessage", ticket, body)


def delete_messages(ticket: str, message_ids: Iterable[str]) -> SoapRequest:
    """``DeleteMessages``: remove delivered messages from the server."""
    ids = "".join(f"<messageId>{text(mid)}</messageId>" for mid in message_ids)
    if not ids:
        raise LocalProtocolError("no message ids given")
    body = f'<DeleteMessages xmlns="{RSI_NS}"><messageIds>{ids}</messageIds></DeleteMessages>'
    return _rsi_request("DeleteMessages", ticket, body)


def parse_get_metadata(data: bytes) -> MailData:
    """The mail data of a ``GetMetadata`` answer (as XML or as escaped text)."""
    _, response = parse_response(data, "GetMetadataResponse")
    node = response.child("MD")
    if node is not None:
        return _mail_data_from(node)
    return parse_mail_data(response.text)


@dataclass(frozen=True, slots=True)
class OfflineMessage:
    """A retrieved offline message. ``sent`` is when the server received it (UTC);
    ``run_id``/``sequence`` order one sender's run of messages."""

    message_id: str
    sender: str
    sender_name: str
    text: str
    sent: datetime | None = None
    run_id: str | None = None
    sequence: int | None = None


def _headers(head: str) -> dict[str, str]:
    """MIME headers with continuation lines folded in; names lower-cased, first one wins.
    (Parts are collected in lists and joined once: a header folded over thousands of lines
    must not cost quadratic time.)"""
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in head.split("\n"):
        line = line.rstrip("\r")
        if line[:1] in (" ", "\t"):
            if current is not None:
                current.append(line.strip())
            continue
        key, sep, value = line.partition(":")
        name = key.strip().lower()
        if not sep or not name or name in parts:
            current = None  # not a header, or a repeat: ignore it and its continuations
            continue
        current = parts[name] = [value.strip()]
    return {name: " ".join(p for p in values if p) for name, values in parts.items()}


def _arrival(value: str) -> datetime | None:
    match = _ARRIVAL.search(value)
    if match is None or match.group(2).lower() not in _MONTHS:
        return None
    day, _, year, hour, minute, second, fraction = match.groups()
    try:
        return datetime(
            int(year),
            _MONTHS[match.group(2).lower()],
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _charset(content_type: str) -> str:
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip('"') or "utf-8"
    return "utf-8"


def parse_oim_message(
    message_id: str, mime: str, *, received: datetime | None = None
) -> OfflineMessage:
    """Read an offline message's MIME text; ``received`` (from the mail data) is used when the
    message itself has no usable date."""
    if len(mime) > _MAX_OIM_BYTES:
        raise RemoteProtocolError("offline message too large")
    normalised = mime.replace("\r\n", "\n")
    head, sep, body = normalised.partition("\n\n")
    if not sep:
        raise RemoteProtocolError("offline message without a body")
    headers = _headers(head)
    sender_field = decode_mime_words(headers.get("from", ""))
    name, _, rest = sender_field.rpartition("<")
    sender = rest.rstrip(">").strip() if rest.endswith(">") else sender_field.strip()
    if headers.get("content-transfer-encoding", "").lower() == "base64":
        try:
            raw = base64.b64decode("".join(body.split()), validate=True)
        except (binascii.Error, ValueError) as e:
            raise RemoteProtocolError("offline message body is not base64") from e
    else:
        raw = body.encode("utf-8", errors="replace")
    content = decode_text(raw, _charset(headers.get("content-type", "")))
    sent = _arrival(headers.get("x-originalarrivaltime", ""))
    if sent is None and headers.get("date"):
        try:
            sent = parsedate_to_datetime(headers["date"])
        except (TypeError, ValueError, IndexError):
            sent = None
        if sent is not None and sent.tzinfo is None:
            sent = sent.replace(tzinfo=UTC)
    run_id = headers.get("x-oim-run-id", "").strip().strip("{}").upper() or None
    sequence = headers.get("x-oim-sequence-num", "").strip()
    return OfflineMessage(
        message_id=message_id,
        sender=sender,
        sender_name=name.strip().strip('"').strip(),
        text=content.replace("\r\n", "\n"),
        sent=sent or received,
        run_id=run_id,
        sequence=(
            int(sequence)
            if sequence.isascii() and sequence.isdigit() and len(sequence) < 10
            else None
        ),
    )


def parse_get_message(
    data: bytes, message_id: str, *, received: datetime | None = None
) -> OfflineMessage:
    """The message of a ``GetMessage`` answer."""
    _, response = parse_response(data, "GetMessageResponse")
    return parse_oim_message(message_id, response.findtext("GetMessageResult"), received=received)


def parse_delete_messages(data: bytes) -> None:
    """Check a ``DeleteMessages`` answer (raises its fault)."""
    parse_response(data, "DeleteMessagesResponse")


_NEVER: Final = datetime.max.replace(tzinfo=UTC)


def sort_messages(messages: Iterable[OfflineMessage]) -> list[OfflineMessage]:
    """Messages in the order they were written: runs by their earliest time, each run by its
    sequence numbers (then time); messages without a run stand alone by their time."""
    items = list(messages)
    run_start: dict[str, datetime] = {}
    for message in items:
        if message.run_id is not None:
            when = message.sent or _NEVER
            run_start[message.run_id] = min(run_start.get(message.run_id, _NEVER), when)

    def key(pair: tuple[int, OfflineMessage]) -> tuple[datetime, str, int, datetime, int]:
        index, message = pair
        when = message.sent or _NEVER
        if message.run_id is None:
            return (when, "", 0, when, index)
        return (run_start[message.run_id], message.run_id, message.sequence or 0, when, index)

    return [message for _, message in sorted(enumerate(items), key=key)]
