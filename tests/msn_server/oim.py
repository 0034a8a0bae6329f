"""Offline messages (OIM, MSNP13+): the store, its NS notices and its two web services.

* Sending: ``POST /OimWS/oim.asmx`` (SOAPAction ``http://messenger.live.com/ws/2006/09/oim/Store2``
  or the 2004 ``.../Store``). Header ``From@memberName`` (+ ``friendlyName`` as a MIME
  encoded-word), ``To@memberName``, ``Ticket@passport`` (a messengerclear.live.com,
  messenger.msn.com or messengersecure.live.com token of the sender), ``Ticket@appid`` and
  ``Ticket@lockkey``, ``Sequence/MessageNumber``; body ``MessageType`` ``text`` and
  ``Content``: MIME headers (``Content-Type: text/plain``, ``Content-Transfer-Encoding:
  base64``, ``X-OIM-Message-Type: OfflineMessage``, ``X-OIM-Run-Id: {GUID}``,
  ``X-OIM-Sequence-Num`` = MessageNumber), a blank line, the base64 UTF-8 text. Without the
  right lockkey the answer is a ``q0:AuthenticationFailed`` fault (HTTP 500) whose detail has
  ``<LockKeyChallenge>``: the lockkey is the MSNP11 challenge answer (the QRY algorithm) to
  it for the product id sent as ``appid``; it stays valid for that account until the server
  asks again (escargot_mode: any non-empty lockkey, as Escargot checks none).
* Retrieving: ``POST /rsi/rsi.asmx`` with ``PassportCookie`` ``t``/``p`` (the parts of a
  messenger.msn.com — or messengerclear.live.com — token): ``GetMetadata`` (the Mail-Data XML),
  ``GetMessage`` (``messageId``, ``alsoMarkAsRead``: the message as RFC 822 text with a
  ``Date`` and ``X-OriginalArrivalTime`` of its arrival, base64 body), ``DeleteMessages``
  (``messageIds/messageId``...; an unknown id: a fault, nothing deleted).
* The NS: after the first CHG, ``MSG Hotmail Hotmail`` ``text/x-msmsgsinitialmdatanotification``
  with ``Mail-Data: <MD>...</MD>`` listing the waiting messages in arrival order (``too-large``
  past 25); while online, ``text/x-msmsgsoimnotification`` for each new one; after a delete,
  ``text/x-msmsgsactivemailnotification`` with ``Message-Delta``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from dataclasses import dataclass, field
from email.header import decode_header
import base64
import binascii
import datetime as dt
import logging
import re
import time
import uuid

from aiohttp import web

from . import challenge, soap

if TYPE_CHECKING:
    from .notification import NotificationConnection
    from .server import MSNServer

__all__ = ["OfflineMessage", "add_routes", "send_initial_mail_data", "store_from_uum"]

log = logging.getLogger("msn_server")

OIM_DOMAINS: Final = frozenset(
    {"messengerclear.live.com", "messenger.msn.com", "messengersecure.live.com"}
)
RSI_NS: Final = "http://www.hotmail.msn.com/ws/2004/09/oim/rsi"
OIM_NS_2006: Final = "http://messenger.live.com/ws/2006/09/oim/"
OIM_NS_2004: Final = "http://messenger.msn.com/ws/2004/09/oim/"
MAX_TEXT: Final = 8192
MAX_WAITING: Final = 1000  # per recipient
MAX_ON_NS: Final = 25
_RUN_ID: Final = re.compile(r"^\{?[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}?$")


@dataclass(slots=True)
class OfflineMessage:
    id: str
    sender: str
    sender_name: str
    recipient: str
    text: str
    received: float = field(default_factory=time.time)
    run_id: str = field(default_factory=lambda: "{" + str(uuid.uuid4()).upper() + "}")
    seq: int = 1
    read: bool = False

    def rfc822(self) -> str:
        """The message as GetMessage returns it."""
        when = dt.datetime.fromtimestamp(self.received, dt.UTC)
        name = base64.b64encode(self.sender_name.encode("utf-8")).decode("ascii")
        body = base64.b64encode(self.text.encode("utf-8")).decode("ascii")
        lines = [
            f"From: =?utf-8?B?{name}?= <{self.sender}>",
            f"To: {self.recipient}",
            "Subject: ",
            "X-OIM-originatingSource: 127.0.0.1",
            "X-OIMProxy: MSNMSGR",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: base64",
            "X-OIM-Message-Type: OfflineMessage",
            f"X-OIM-Run-Id: {self.run_id}",
            f"X-OIM-Sequence-Num: {self.seq}",
            f"Message-ID: <OIM-{self.id}@oim.test>",
            f"X-OriginalArrivalTime: {when.strftime('%d %b %Y %H:%M:%S')}."
            f"{when.microsecond // 1000:03d} (UTC) FILETIME=[{_filetime(self.received)}]",
            f"Date: {when.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
            "Return-Path: ndr@oim.messenger.msn.com",
            "",
            *[body[i : i + 76] for i in range(0, len(body), 76)],
        ]
        return "\r\n".join(lines)


def _filetime(when: float) -> str:
    ticks = int(when * 10_000_000) + 116444736000000000
    return f"{ticks & 0xFFFFFFFF:08X}:{ticks >> 32:08X}"


def _rt(when: float) -> str:
    stamp = dt.datetime.fromtimestamp(when, dt.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def mail_data(messages: list[OfflineMessage], *, new: bool = False) -> str:
    """``<MD>``: the inbox summary (``new``: the notice of one just-arrived message)."""
    items = []
    for m in messages:
        name = base64.b64encode(m.sender_name.encode("utf-8")).decode("ascii")
        items.append(
            f"<M><T>11</T><S>6</S>{'' if new else f'<RT>{_rt(m.received)}</RT>'}<RS>0</RS>"
            f"<SZ>{len(m.rfc822())}</SZ><E>{soap.esc(m.sender)}</E><I>{m.id}</I>"
            f"<F>{'.!!OIM' if new else '00000000-0000-0000-0000-000000000009'}</F>"
            f"<N>=?utf-8?B?{name}?=</N></M>{'<SU> </SU>' if new else ''}"
        )
    head = "" if new else "<E><I>0</I><IU>0</IU><O>0</O><OU>0</OU></E>"
    quota = "" if new else "<Q><QTM>409600</QTM><QNM>204800</QNM></Q>"
    return f"<MD>{head}{quota}{''.join(items)}</MD>"


def _hotmail(conn: NotificationConnection, content_type: str, body: str) -> None:
    payload = f"MIME-Version: 1.0\r\nContent-Type: {content_type}; charset=UTF-8\r\n\r\n{body}"
    conn.send("MSG", "Hotmail", "Hotmail", payload=payload.encode("utf-8"))


def send_initial_mail_data(conn: NotificationConnection) -> None:
    assert conn.account is not None
    waiting = conn.server.oims.get(conn.account.key, [])
    md = "too-large" if len(waiting) > MAX_ON_NS else mail_data(waiting)
    _hotmail(conn, "text/x-msmsgsinitialmdatanotification", f"Mail-Data: {md}\r\n")


def store(server: MSNServer, message: OfflineMessage) -> None:
    """File a message and tell the recipient's MSNP13+ endpoints that are signed in."""
    key = message.recipient.lower()
    server.oims.setdefault(key, []).append(message)
    for endpoint in server.endpoints.get(key, []):
        if endpoint.v >= 13 and endpoint.status is not None:
            md = mail_data([message], new=True)
            _hotmail(endpoint, "text/x-msmsgsoimnotification", f"Mail-Data: {md}\r\n")


def store_from_uum(conn: NotificationConnection, email: str, payload: bytes) -> None:
    server = conn.server
    sender = conn.account
    assert sender is not None
    recipient = server.directory.get(email)
    if recipient is None or server.ns_session(email) is not None:
        return
    if not recipient.allows(sender.email):
        return
    head, _, body = payload.partition(b"\r\n\r\n")
    headers = {
        k.strip().lower(): v.strip()
        for k, _, v in (
            line.partition(":") for line in head.decode("utf-8", "replace").split("\r\n")
        )
    }
    if not headers.get("content-type", "").lower().startswith("text/plain"):
        return
    if headers.get("dest-agent") != "client" or len(body) > MAX_TEXT:
        return
    if len(server.oims.get(recipient.key, [])) >= MAX_WAITING:
        return
    text = body.decode("utf-8", "replace")
    store(server, OfflineMessage(str(uuid.uuid4()).upper(), sender.email, sender.name,
                                 recipient.email, text))  # fmt: skip


# -- web services ----------------------------------------------------------------------------
def add_routes(app: web.Application, server: MSNServer) -> None:
    async def rsi(request: web.Request) -> web.Response:
        server.counters["http_rsi"] += 1
        try:
            root = await soap.read_request(request)
        except soap.SoapError:
            return _rsi_fault("Client", "Invalid request")
        token = soap.text(root, ".//PassportCookie/t") or ""
        ticket = server.tickets.lookup(token)
        if (
            ticket is None
            or ticket.domain not in OIM_DOMAINS
            or not _session_ok(server, ticket.email)
        ):
            return _rsi_fault("AuthenticationFailed", "Ticket is not valid")
        key = ticket.email
        action = soap.find(root, "Body")
        name = soap.local(action[0].tag) if action is not None and len(action) else ""
        waiting = server.oims.get(key, [])
        if name == "GetMetadata":
            return soap.xml_response(soap.envelope(
                f'<GetMetadataResponse xmlns="{RSI_NS}">{mail_data(waiting)}'
                "</GetMetadataResponse>"))  # fmt: skip
        if name == "GetMessage":
            wanted = (soap.text(action, ".//messageId") or "").upper()
            message = next((m for m in waiting if m.id == wanted), None)
            if message is None:
                return _rsi_fault("Client", "No such message")
            if (soap.text(action, ".//alsoMarkAsRead") or "").lower() == "true":
                message.read = True
            return soap.xml_response(soap.envelope(
                f'<GetMessageResponse xmlns="{RSI_NS}"><GetMessageResult>'
                f"{soap.esc(message.rfc822())}</GetMessageResult></GetMessageResponse>"))  # fmt: skip
        if name == "DeleteMessages":
            ids = [(n.text or "").strip().upper() for n in soap.findall(action, ".//messageId")]
            known = {m.id for m in waiting}
            if not ids or any(i not in known for i in ids):
                return _rsi_fault("Client", "No such message")
            server.oims[key] = [m for m in waiting if m.id not in set(ids)]
            for endpoint in server.endpoints.get(key, []):
                if endpoint.v >= 13 and endpoint.status is not None:
                    _hotmail(endpoint, "text/x-msmsgsactivemailnotification",
                             f"Src-Folder: .!!OIM\r\nDest-Folder: .!!trAsH\r\n"
                             f"Message-Delta: {len(ids)}\r\n")  # fmt: skip
            return soap.xml_response(soap.envelope(f'<DeleteMessagesResponse xmlns="{RSI_NS}" />'))
        return _rsi_fault("Client", f"Unsupported action {name!r}")

    async def store2(request: web.Request) -> web.Response:
        server.counters["http_oim_store"] += 1
        action = request.headers.get("SOAPAction", "").strip('"')
        ns = OIM_NS_2004 if action.startswith(OIM_NS_2004) else OIM_NS_2006
        try:
            root = await soap.read_request(request)
        except soap.SoapError:
            return _oim_fault(ns, "InvalidContent")
        head = soap.find(root, "Header")
        sender_node, to_node = soap.find(head, "From"), soap.find(head, "To")
        ticket_node = soap.find(head, "Ticket")
        if sender_node is None or to_node is None or ticket_node is None:
            return _oim_fault(ns, "InvalidContent")
        sender_email = sender_node.get("memberName", "")
        if server.tickets.expired(ticket_node.get("passport", "")):
            return _oim_fault(ns, "BadContextToken")
        ticket = server.tickets.lookup(ticket_node.get("passport", ""))
        sender = server.directory.get(sender_email)
        if (
            sender is None
            or ticket is None
            or ticket.email != sender.key
            or ticket.domain not in OIM_DOMAINS
            or not _session_ok(server, sender.key)
        ):
            return _oim_fault(ns, "AuthenticationFailed")
        if not _lockkey_ok(server, sender.key, ticket_node.get("appid", ""),
                           ticket_node.get("lockkey", "")):  # fmt: skip
            challenge_text = challenge.make_challenge()
            server.oim_lock_challenges[sender.key] = challenge_text
            server.oim_lockkeys.pop(sender.key, None)
            return _oim_fault(ns, "AuthenticationFailed", lock_challenge=challenge_text)
        recipient = server.directory.get(to_node.get("memberName", ""))
        if recipient is None or not recipient.allows(sender.email):
            return _oim_fault(ns, "SystemUnavailable")
        if len(server.oims.get(recipient.key, [])) >= MAX_WAITING:
            return _oim_fault(ns, "SystemUnavailable")
        seq_text = soap.text(head, "Sequence/MessageNumber") or ""
        content = soap.text(root, "Body/Content") or ""
        parsed = _parse_content(content, seq_text)
        if parsed is None:
            return _oim_fault(ns, "InvalidContent")
        run_id, text = parsed
        name = _decode_name(sender_node.get("friendlyName")) or sender.name
        message = OfflineMessage(str(uuid.uuid4()).upper(), sender.email, name,
                                 recipient.email, text, run_id=run_id, seq=int(seq_text))  # fmt: skip
        store(server, message)
        log.debug("OIM: %s -> %s stored", sender.email, recipient.email)
        header = (
            '<SequenceAcknowledgment xmlns="http://schemas.xmlsoap.org/ws/2003/03/rm">'
            '<Identifier xmlns="http://schemas.xmlsoap.org/ws/2002/07/utility">'
            f'http://messenger.msn.com</Identifier><AcknowledgmentRange Upper="{seq_text}" '
            f'Lower="{seq_text}" /></SequenceAcknowledgment>'
        )
        body = f'<StoreResponse xmlns="{ns}"><PointsConsumed>0</PointsConsumed></StoreResponse>'
        return soap.xml_response(soap.envelope(body, header))

    app.router.add_post("/rsi/rsi.asmx", rsi)
    app.router.add_post("/OimWS/oim.asmx", store2)


def _session_ok(server: MSNServer, key: str) -> bool:
    """escargot_mode: the web services answer only a signed-in account (Escargot finds the
    account through its NS session)."""
    return not server.config.escargot_mode or server.ns_session(key) is not None


def _lockkey_ok(server: MSNServer, key: str, appid: str, lockkey: str) -> bool:
    if not lockkey:
        return False
    if server.config.escargot_mode:
        return True
    if server.oim_lockkeys.get(key) == lockkey:
        return True
    pending = server.oim_lock_challenges.get(key)
    if pending is None or not challenge.verify(pending, appid, lockkey, protocol=15):
        return False
    server.oim_lockkeys[key] = lockkey
    return True


def _parse_content(content: str, seq_text: str) -> tuple[str, str] | None:
    """(run id, text) of a Store ``Content``; None if it breaks the rules."""
    if not seq_text.isdigit() or len(content) > 4 * MAX_TEXT:
        return None
    text = content.replace("\r\n", "\n")
    head, sep, body = text.partition("\n\n")
    if not sep:
        return None
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if (
        headers.get("mime-version") != "1.0"
        or not headers.get("content-type", "").lower().startswith("text/plain")
        or headers.get("content-transfer-encoding", "").lower() != "base64"
        or headers.get("x-oim-message-type") != "OfflineMessage"
        or headers.get("x-oim-sequence-num") != seq_text
        or not _RUN_ID.match(headers.get("x-oim-run-id", ""))
    ):
        return None
    try:
        decoded = base64.b64decode("".join(body.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    if len(decoded) > MAX_TEXT:
        return None
    run_id = headers["x-oim-run-id"].strip("{}").upper()
    return "{" + run_id + "}", decoded


def _decode_name(value: str | None) -> str | None:
    if not value:
        return None
    try:
        parts = decode_header(value)
    except (ValueError, LookupError):
        return None
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "utf-8", "replace"))
            except LookupError:
                return None
        else:
            out.append(chunk)
    return "".join(out).strip() or None


def _oim_fault(ns: str, code: str, *, lock_challenge: str | None = None) -> web.Response:
    detail = ""
    if lock_challenge is not None:
        detail = (
            f'<TweenerChallenge xmlns="{ns}">ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=1'
            f'</TweenerChallenge><LockKeyChallenge xmlns="{ns}">{lock_challenge}'
            "</LockKeyChallenge>"
        )
    text = soap.fault(
        f"q0:{code}",
        "Exception of type System.Web.Services.Protocols.SoapException was thrown.",
        actor="https://ows.messenger.msn.com/OimWS/oim.asmx",
        detail=detail,
        code_ns=ns,
    )
    return soap.xml_response(text, status=500)


def _rsi_fault(code: str, message: str) -> web.Response:
    return soap.xml_response(
        soap.fault(f"soap:{code}", message, actor="https://rsi.hotmail.com/rsi/rsi.asmx"),
        status=500,
    )
