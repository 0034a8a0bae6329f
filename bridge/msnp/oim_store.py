"""Offline messages (OIM), sending side: the ``Store2`` request and its lock-key challenge.

A message to an offline contact is posted to the OIM web service: the SOAP header names the
sender (with an RFC 2047-encoded friendly name), the recipient, the ticket with the
application id and a "lock key", and a WS-ReliableMessaging sequence number; the body is a
MIME message (UTF-8 text in base64) with the run id and sequence number of the sender's run of
offline messages. The first request of a session goes out without a lock key; the service
answers with an ``AuthenticationFailed`` fault carrying ``LockKeyChallenge``, which is
answered with the MSNP11 challenge algorithm (:func:`bridge.msnp.challenge.msnp11_answer`) and
the application's product id and key, and the request is sent again with that lock key. A
fault carrying only ``TweenerChallenge`` means the ticket expired.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field
import base64
import uuid

from .challenge import msnp11_answer
from .errors import LocalProtocolError, RemoteProtocolError, SoapFault
from .soap import SoapRequest, envelope, parse_response
from .xmlsafe import attr, text

__all__ = [
    "MAX_OIM_TEXT",
    "OIM_APP_ID",
    "OIM_APP_KEY",
    "OIM_NS",
    "OIM_URL",
    "OimRun",
    "answer_lock_key",
    "build_oim_content",
    "lock_key_challenge",
    "parse_store2",
    "store2",
    "ticket_expired",
]

OIM_URL: Final = "https://ows.messenger.msn.com/OimWS/oim.asmx"
OIM_NS: Final = "http://messenger.msn.com/ws/2004/09/oim/"
_STORE2_ACTION: Final = "http://messenger.live.com/ws/2006/09/oim/Store2"
_RM_NS: Final = "http://schemas.xmlsoap.org/ws/2003/03/rm"
_UTILITY_NS: Final = "http://schemas.xmlsoap.org/ws/2002/07/utility"
#: Windows Live Messenger 8.5's product id and key: the OIM ``appid`` and its lock-key pair.
OIM_APP_ID: Final = "PROD0119GSJUC$18"
OIM_APP_KEY: Final = "ILTXC!4IXB5FB*PX"
#: Longest offline message text sent in one request, in UTF-8 bytes (split longer ones).
MAX_OIM_TEXT: Final = 4096
_LINE: Final = 76


def _new_run_id() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


@dataclass
class OimRun:
    """The run id and sequence numbers of one run of offline messages to one contact.

    :meth:`take` hands out 1, 2, 3...; resend a refused request with the number it had.
    """

    run_id: str = field(default_factory=_new_run_id)
    next_sequence: int = 1

    def take(self) -> int:
        sequence = self.next_sequence
        self.next_sequence += 1
        return sequence


def _encoded_name(name: str) -> str:
    return "=?utf-8?B?" + base64.b64encode(name.encode("utf-8")).decode("ascii") + "?="


def build_oim_content(message: str, run_id: str, sequence: int) -> str:
    """The MIME text of an offline message (CRLF line ends, base64 lines of 76 characters)."""
    raw = message.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    if len(raw) > MAX_OIM_TEXT:
        raise LocalProtocolError(f"offline message longer than {MAX_OIM_TEXT} bytes")
    if sequence < 1:
        raise LocalProtocolError("OIM sequence numbers start at 1")
    encoded = base64.b64encode(raw).decode("ascii")
    lines = [encoded[i : i + _LINE] for i in range(0, len(encoded), _LINE)] or [""]
    return (
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "X-OIM-Message-Type: OfflineMessage\r\n"
        f"X-OIM-Run-Id: {run_id}\r\n"
        f"X-OIM-Sequence-Num: {sequence}\r\n"
        "\r\n" + "\r\n".join(lines)
    )


def store2(
    ticket: str,
    sender: str,
    sender_name: str,
    recipient: str,
    message: str,
    *,
    run_id: str,
    sequence: int,
    lock_key: str = "",
    app_id: str = OIM_APP_ID,
    protocol: int = 15,
    build: str = "8.5.1288.816",
) -> SoapRequest:
    """The ``Store2`` request for one offline message (``ticket``: the compact ticket of
    ``messengersecure.live.com``, ``t=...&p=...``)."""
    content = build_oim_content(message, run_id, sequence)
    header = (
        f'<From memberName="{attr(sender)}" friendlyName="{attr(_encoded_name(sender_name))}"'
        f' xml:lang="en-US" proxy="MSNMSGR" xmlns="{OIM_NS}" msnpVer="MSNP{protocol}"'
        f' buildVer="{attr(build)}"/>'
        f'<To memberName="{attr(recipient)}" xmlns="{OIM_NS}"/>'
        f'<Ticket passport="{attr(ticket)}" appid="{attr(app_id)}" lockkey="{attr(lock_key)}"'
        f' xmlns="{OIM_NS}"/>'
        f'<Sequence xmlns="{_RM_NS}"><Identifier xmlns="{_UTILITY_NS}">'
        f"http://messenger.msn.com</Identifier><MessageNumber>{sequence}</MessageNumber>"
        "</Sequence>"
    )
    body = (
        f'<MessageType xmlns="{OIM_NS}">text</MessageType>'
        f'<Content xmlns="{OIM_NS}">{text(content)}</Content>'
    )
    return SoapRequest(_STORE2_ACTION, envelope(header, body))


def parse_store2(data: bytes) -> None:
    """Check a ``Store2`` answer; its fault is raised (see :func:`lock_key_challenge`)."""
    parse_response(data, "StoreResponse")


def lock_key_challenge(fault: SoapFault) -> str | None:
    """The challenge of an ``AuthenticationFailed`` fault asking for a (new) lock key."""
    if fault.code != "AuthenticationFailed":
        return None
    return fault.detail.get("LockKeyChallenge") or None


def ticket_expired(fault: SoapFault) -> bool:
    """True when the service refused the ticket itself (get a fresh one from Passport)."""
    return (
        fault.code == "AuthenticationFailed"
        and "TweenerChallenge" in fault.detail
        and not fault.detail.get("LockKeyChallenge")
    )


def answer_lock_key(
    challenge: str, *, app_id: str = OIM_APP_ID, app_key: str = OIM_APP_KEY
) -> str:
    """The lock key answering ``challenge`` (the QRY algorithm with the application's pair)."""
    value = challenge.strip()
    if (
        not value
        or len(value) > 64
        or not value.isascii()
        or not value.isprintable()
        or " " in value
    ):
        raise RemoteProtocolError("unusable lock-key challenge")
    return msnp11_answer(value, app_id, app_key)
