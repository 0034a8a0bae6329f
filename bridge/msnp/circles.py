"""MSNP18 circles (persistent group chats) on the wire: requests, answers and payloads.

Address-book requests and answers and the notification-server payloads (``SDG`` messages,
``NFY`` roster pushes, the ``NOT`` that a circle changed) as frozen values. Sans-IO:
:mod:`.circle_session` does the talking.

A circle is ``00000000-0000-0000-0009-<12 hex>`` (its address book id), addressed on the
notification server as ``9:<id>@live.com``. The user's own address book
(``ABFindContactsPaged`` with ``CircleResult``) lists the circles they belong to and a signed
*circle ticket*; ``ABFindContactsPaged`` with the circle's id as ``abHandle`` lists its
members. The client proves its membership with ``USR trid SHA A <base64 of the ticket>`` and
joins with ``ADL`` of ``<c n="<id>" t="9" l="1"/>`` in domain ``live.com``. Messages are
``SDG`` payloads of three header blocks (``Routing``: ``To``/``From``, ``Reliability``,
``Messaging``) and the body; the roster of members signed in to the circle arrives as
``NFY PUT`` of ``application/circles+xml`` (``<roster><id>IM</id><user><id>1:email``), and a
member who left the circle as ``NFY DEL`` with ``Uri: /circle/roster(IM)/user(1:email)``.

Everything a server sends is capped (:data:`MAX_CIRCLES`, :data:`MAX_MEMBERS`, header counts);
parsing is linear in the payload.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
import base64
import re

from .abch import ABCH_NS, abch_request
from .errors import ProtocolError
from .events import Event
from .soap import SoapRequest, parse_response, soap_bool
from .xmlsafe import Element, attr, parse_xml, reads_xml, text

__all__ = [
    "CIRCLE_PAYLOAD_LIMITS",
    "CONVERSATION_PREFIX",
    "MAX_CIRCLES",
    "MAX_MEMBERS",
    "MAX_SDG_PAYLOAD",
    "CircleBook",
    "CircleInfo",
    "CircleMember",
    "CircleMembersChanged",
    "CircleNotice",
    "CirclesLoaded",
    "SdgMessage",
    "build_sdg_text",
    "circle_of_key",
    "conversation_key",
    "find_circles",
    "find_members",
    "is_circle_id",
    "join_ml",
    "leave_ml",
    "parse_circle_notice",
    "parse_circles",
    "parse_members",
    "parse_nfy",
    "parse_sdg",
    "ticket_argument",
]

CIRCLE_ID_PREFIX: Final = "00000000-0000-0000-0009-"
_CIRCLE_ID: Final = re.compile(r"00000000-0000-0000-0009-[0-9a-fA-F]{12}")
#: The library's conversation key of a circle: ``group:circle:<id>`` (a group key).
CONVERSATION_PREFIX: Final = "group:circle:"
#: Circles kept from one address book (the rest are ignored).
MAX_CIRCLES: Final = 64
#: Members kept per circle.
MAX_MEMBERS: Final = 512
#: ``SDG``/``NFY`` payloads larger than this are dropped unread.
MAX_SDG_PAYLOAD: Final = 16 * 1024
#: The notification server's payload limits for the circle commands.
CIRCLE_PAYLOAD_LIMITS: Final = {
    "SDG": MAX_SDG_PAYLOAD,
    "NFY": MAX_SDG_PAYLOAD,
    "NOT": MAX_SDG_PAYLOAD,
}
#: Header lines read per block.
_MAX_HEADERS: Final = 32
#: Bytes of text in one ``SDG`` (longer text is sent in several).
MAX_SDG_TEXT: Final = 1400
_MAX_NAME: Final = 256
_EPOCH: Final = "0001-01-01T00:00:00.0000000-08:00"
_ROSTER_USER: Final = re.compile(rb"<user>\s*<id>1:([^<]{1,320})</id>")
_DEL_USER: Final = re.compile(r"/circle/roster\(IM\)/user\(1:([^)]{1,320})\)")


def is_circle_id(value: str) -> bool:
    return _CIRCLE_ID.fullmatch(value) is not None


def conversation_key(circle_id: str) -> str:
    return CONVERSATION_PREFIX + circle_id.lower()


def circle_of_key(key: str) -> str | None:
    """The circle id of a conversation key (None for other conversations)."""
    if not key.startswith(CONVERSATION_PREFIX):
        return None
    circle_id = key[len(CONVERSATION_PREFIX) :]
    return circle_id if is_circle_id(circle_id) else None


@dataclass(frozen=True, slots=True)
class CircleInfo:
    """A circle the user belongs to. ``accepted``: a member (not only invited)."""

    circle_id: str
    name: str
    role: str = "Member"
    accepted: bool = True

    @property
    def address(self) -> str:
        return f"9:{self.circle_id}@live.com"

    @property
    def key(self) -> str:
        return conversation_key(self.circle_id)


@dataclass(frozen=True, slots=True)
class CircleBook:
    circles: tuple[CircleInfo, ...]
    #: the signed circle ticket (XML) for ``USR SHA A``; secret-ish, not in the repr
    ticket: str | None = None

    def __repr__(self) -> str:
        return f"CircleBook(circles={self.circles!r})"


@dataclass(frozen=True, slots=True)
class CircleMember:
    email: str  # lower case
    name: str = ""
    pending: bool = False


@dataclass(frozen=True, slots=True)
class CirclesLoaded(Event):
    """The circles the user belongs to (accepted ones, joined), after the login."""

    circles: tuple[CircleInfo, ...]


@dataclass(frozen=True, slots=True)
class CircleMembersChanged(Event):
    """The whole member list of a circle (its address book), at login and whenever it
    changed; ``conversation`` is the circle's conversation key. Single joins and leaves are
    also reported as :class:`~.events.SwitchboardJoined` / :class:`~.events.SwitchboardLeft`
    of that conversation."""

    conversation: str
    circle: CircleInfo
    members: tuple[CircleMember, ...]


# -- address book ----------------------------------------------------------------------------
def _find_contacts_paged(ticket: str, handle: str) -> SoapRequest:
    body = (
        f'<ABFindContactsPaged xmlns="{ABCH_NS}"><filterOptions><DeltasOnly>false</DeltasOnly>'
        f"<LastChanged>{_EPOCH}</LastChanged><ContactFilter><IncludeHiddenContacts>true"
        "</IncludeHiddenContacts></ContactFilter></filterOptions><abView>MessengerClient8"
        "</abView><extendedContent>AB AllGroups CircleResult</extendedContent>"
        f"{handle}</ABFindContactsPaged>"
    )
    return abch_request("ABFindContactsPaged", body, ticket, scenario="Initial")


def find_circles(ticket: str) -> SoapRequest:
    """The user's own address book with its ``CircleResult``."""
    return _find_contacts_paged(ticket, "")


def find_members(ticket: str, circle_id: str) -> SoapRequest:
    """The address book of the circle ``circle_id``: its members."""
    if not is_circle_id(circle_id):
        raise ValueError(f"not a circle id: {circle_id!r}")
    handle = f"<abHandle><ABId>{text(circle_id)}</ABId><Puid>0</Puid><Cid>0</Cid></abHandle>"
    return _find_contacts_paged(ticket, handle)


#: What the user's own ``ABFindContactsPaged`` answer holds besides the circles: the whole
#: address book again (fetched with ``ABFindAll``), not built when only circles are read.
_NOT_CIRCLES: Final = frozenset({"Contacts", "Groups"})


def _result(data: bytes, skip: frozenset[str] = frozenset()) -> Element | None:
    _, response = parse_response(data, "ABFindContactsPagedResponse", skip=skip)
    return response.child("ABFindContactsPagedResult")


#: Without these names an ``ABFindContactsPaged`` answer lists no circle and is no fault (an
#: element's name is written out whole in the bytes): the answer of an account in no circle,
#: most of them, is then not parsed at all, as it holds the whole address book again.
_CIRCLES_OR_FAULT: Final = (b"CircleInverseInfo", b"Fault")


@reads_xml
def parse_circles(data: bytes) -> CircleBook:
    """The circles of the user's own ``ABFindContactsPaged`` answer (raises its fault)."""
    if b"ABFindContactsPagedResult" in data and not any(n in data for n in _CIRCLES_OR_FAULT):
        return CircleBook(())
    result = _result(data, _NOT_CIRCLES)
    node = result.child("CircleResult") if result is not None else None
    if node is None:
        return CircleBook(())
    found: dict[str, CircleInfo] = {}
    holder = node.child("Circles")
    for info in holder.children_named("CircleInverseInfo") if holder is not None else ():
        if len(found) >= MAX_CIRCLES:
            break
        circle_id = info.findtext("Content/Handle/Id").strip().lower()
        if not is_circle_id(circle_id) or circle_id in found:
            continue
        if soap_bool(info.findtext("Deleted")):
            continue
        membership = info.find("PersonalInfo/MembershipInfo/CirclePersonalMembership")
        state = membership.findtext("State").strip() if membership is not None else ""
        name = (
            info.findtext("Content/Info/DisplayName").strip()
            or info.findtext("PersonalInfo/Name").strip()
            or circle_id
        )
        found[circle_id] = CircleInfo(
            circle_id,
            name[:_MAX_NAME],
            membership.findtext("Role").strip() if membership is not None else "",
            state == "Accepted",
        )
    ticket = node.findtext("CircleTicket").strip() or None
    return CircleBook(tuple(found.values()), ticket)


@reads_xml
def parse_members(data: bytes) -> tuple[CircleMember, ...]:
    """The members of a circle's ``ABFindContactsPaged`` answer (not its own "Me" entry)."""
    result = _result(data)
    holder = result.child("Contacts") if result is not None else None
    members: dict[str, CircleMember] = {}
    for node in holder.children_named("Contact") if holder is not None else ():
        if len(members) >= MAX_MEMBERS:
            break
        info = node.child("contactInfo")
        if info is None or soap_bool(node.findtext("fDeleted")):
            continue
        kind = info.findtext("contactType").strip()
        email = info.findtext("passportName").strip().lower()
        if kind not in ("Live", "LivePending") or "@" not in email or email in members:
            continue
        name = info.findtext("displayName").strip()[:_MAX_NAME]
        members[email] = CircleMember(email, name if name.lower() != email else "",
                                      kind == "LivePending")  # fmt: skip
    return tuple(members.values())


# -- notification server ---------------------------------------------------------------------
def ticket_argument(ticket: str) -> str:
    """The argument of ``USR trid SHA A``: the ticket XML in base64."""
    return base64.b64encode(ticket.encode("utf-8")).decode("ascii")


def _ml(circle_ids: list[str]) -> bytes:
    entries = "".join(f'<c n="{attr(c)}" t="9" l="1" />' for c in circle_ids)
    return f'<ml><d n="live.com">{entries}</d></ml>'.encode()


def join_ml(circle_ids: list[str]) -> bytes:
    """The ``ADL`` payload that joins circles (their ids)."""
    return _ml(circle_ids)


def leave_ml(circle_ids: list[str]) -> bytes:
    """The ``RML`` payload that leaves them."""
    return _ml(circle_ids)


def build_sdg_text(circle_id: str, sender: str, epid: str, text_: str) -> list[bytes]:
    """``SDG`` payloads carrying ``text_`` from ``sender``'s endpoint ``epid`` to the circle
    (several when it is longer than :data:`MAX_SDG_TEXT` bytes, cut between characters)."""
    if not is_circle_id(circle_id):
        raise ValueError(f"not a circle id: {circle_id!r}")
    if not text_:
        raise ValueError("cannot send an empty message")
    head = (
        f"Routing: 1.0\r\nTo: 9:{circle_id}@live.com;path=IM\r\nFrom: 1:{sender};epid={epid}"
        "\r\n\r\nReliability: 1.0\r\n\r\nMessaging: 2.0\r\n"
    ).encode()
    payloads = []
    for part in _cut(text_.encode("utf-8")):
        payloads.append(
            head + f"Content-Length: {len(part)}\r\nContent-Type: Text/plain; charset=UTF-8\r\n"
            "Message-Type: Text\r\n\r\n".encode() + part
        )
    return payloads


def _cut(data: bytes) -> list[bytes]:
    parts, start = [], 0
    while start < len(data):
        end = min(start + MAX_SDG_TEXT, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1  # not inside a UTF-8 sequence
        parts.append(data[start:end])
        start = end
    return parts


def _headers(block: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in block.split(b"\r\n", _MAX_HEADERS)[:_MAX_HEADERS]:
        name, colon, value = line.partition(b":")
        if colon:
            key = name.strip().decode("ascii", "replace").lower()
            found.setdefault(key, value.strip().decode("utf-8", "replace"))
    return found


@dataclass(frozen=True, slots=True)
class SdgMessage:
    """An ``SDG`` to a circle: ``kind`` is ``Text``, ``Nudge``, ``Typing`` or another
    ``Message-Type``; ``text`` the decoded body of a text."""

    circle_id: str
    sender: str  # lower case e-mail
    epid: str
    kind: str
    text: str = ""


def parse_sdg(payload: bytes) -> SdgMessage | None:
    """An ``SDG`` to a circle (None for anything else or a malformed one)."""
    if len(payload) > MAX_SDG_PAYLOAD:
        return None
    blocks = payload.split(b"\r\n\r\n", 3)
    if len(blocks) < 3:
        return None
    routing, messaging = _headers(blocks[0]), _headers(blocks[2])
    body = blocks[3] if len(blocks) > 3 else b""
    to = routing.get("to", "").partition(";")[0]
    sender, _, epid = routing.get("from", "").partition(";")
    if not to.startswith("9:") or not to.endswith("@live.com") or not sender.startswith("1:"):
        return None
    circle_id = to[2 : -len("@live.com")].lower()
    email = sender[2:].strip().lower()
    if not is_circle_id(circle_id) or "@" not in email:
        return None
    kind = messaging.get("message-type", "")
    if kind == "Control" and messaging.get("message-subtype", "") == "Typing":
        kind = "Typing"
    text_ = ""
    if kind == "Text":
        length = messaging.get("content-length", "")
        if length.isdigit():
            body = body[: int(length)]
        text_ = body.decode("utf-8", "replace")
    return SdgMessage(circle_id, email, epid.partition("=")[2], kind, text_)


@dataclass(frozen=True, slots=True)
class CircleNotice:
    """An ``NFY`` from a circle: the online ``roster`` (None when the push held none) or the
    member who ``left``."""

    circle_id: str
    roster: tuple[str, ...] | None = None
    left: str | None = None


def parse_nfy(payload: bytes) -> CircleNotice | None:
    """``NFY PUT``/``NFY DEL`` from a circle (None for anything else)."""
    if len(payload) > MAX_SDG_PAYLOAD:
        return None
    blocks = payload.split(b"\r\n\r\n", 3)
    if len(blocks) < 3:
        return None
    sender = _headers(blocks[0]).get("from", "")
    content = _headers(blocks[2])
    if not sender.startswith("9:") or not sender.endswith("@live.com"):
        return None
    circle_id = sender[2 : -len("@live.com")].lower()
    if not is_circle_id(circle_id):
        return None
    left = _DEL_USER.search(content.get("uri", ""))
    if left is not None:
        return CircleNotice(circle_id, left=left.group(1).lower())
    body = blocks[3] if len(blocks) > 3 else b""
    if b"<roster>" not in body:
        return CircleNotice(circle_id)
    users = [m.group(1).decode("utf-8", "replace").lower() for m in _ROSTER_USER.finditer(body)]
    return CircleNotice(circle_id, roster=tuple(dict.fromkeys(users))[:MAX_MEMBERS])


def parse_circle_notice(payload: bytes) -> str | None:
    """The circle id of a ``NOT`` saying a circle changed (its address book is to be fetched
    again), None for other notifications."""
    if len(payload) > MAX_SDG_PAYLOAD:
        return None
    try:
        root = parse_xml(payload, max_bytes=MAX_SDG_PAYLOAD)
    except ProtocolError:
        return None
    body = root.findtext("MSG/BODY")
    match = re.search(
        r"<CircleId>\s*(00000000-0000-0000-0009-[0-9a-fA-F]{12})\s*</CircleId>", body
    )
    return match.group(1).lower() if match else None
