"""MSNP18 circles (persistent group chats), with the wire behaviour Escargot implements.

A circle is ``00000000-0000-0000-0009-<12 hex>``, addressed ``9:<that>@live.com``.

* Address book: ABFindContactsPaged on the user's own book lists each circle the user is a
  member of as a ``Contact`` of ``contactType`` ``Circle`` (``NetworkInfo``: RelationshipType
  5, RelationshipState 3 accepted / 1 invited, RelationshipRole 1 admin / 3 member), then a
  ``CircleResult`` with one ``CircleInverseInfo`` per circle and the ``CircleTicket`` (signed
  XML, escaped). With ``abHandle/ABId`` = a circle id it lists the circle's members.
* ``USR trid SHA A <base64 of the CircleTicket XML>`` -> ``USR trid OK <email> 0 0`` (911 for
  a ticket that is not the user's). Then ``ADL`` with ``<d n="live.com"><c n="<circle id>"
  t="9" l="1"/>`` joins the circle (933 before the ticket or for a circle the user has not
  accepted): ``ADL OK``, ``NOT`` (circle changed), the joiner gets ``NLN``/``UBX`` of each
  member signed in to it as ``1:<email>;via=9:<circle>@live.com`` and an ``NFY PUT`` with the
  roster; every other joined endpoint gets the joiner's ``NLN`` (via) and the new roster.
* ``SDG trid <len>``: ``Routing`` headers (``To: 9:<circle>@live.com;path=IM``, ``From:
  1:<email>;epid={guid}``), ``Reliability`` and ``Messaging`` headers, the text: relayed
  unchanged as ``SDG 0 <len>`` to every other endpoint joined to the circle (the sender's
  other endpoints too); no answer to the sender; 201 when ``From`` is not the sending
  endpoint (its ``epid`` must be the machine GUID in lower case, as Escargot compares it), the circle is unknown or the endpoint has not joined it.
* ``PUT trid <len>`` with ``application/circles+xml`` presence (``PSM``, ``CurrentMedia``) for
  the circle: ``PUT trid OK 0`` and ``NFY PUT`` (``NotifType: Full``) to every joined endpoint.
* Status changes of a member reach the others as ``NLN``/``FLN`` via the circle; an endpoint
  leaving (RML t=9 or sign-out) takes its user out of the roster when it was the last one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import Iterable
from dataclasses import dataclass, field
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets

from . import presence
from .framing import ClientCommand
from .ns13 import too_old
from .soap import esc

if TYPE_CHECKING:
    from .notification import NotificationConnection
    from .server import MSNServer
    from .state import Account

__all__ = [
    "Circle",
    "ab_entries",
    "adl",
    "change_members",
    "circle_of",
    "circles_of",
    "cmd_put",
    "cmd_sdg",
    "find_contacts_paged",
    "left_ns",
    "new_circle",
    "rml",
    "status_changed",
    "usr_sha",
]

log = logging.getLogger("msn_server")

PREFIX: Final = "00000000-0000-0000-0009-"
_ID: Final = re.compile(r"^00000000-0000-0000-0009-([0-9a-fA-F]{12})$")
_TICKET_SECRET: Final = secrets.token_bytes(32)
MAX_SDG: Final = 8192


@dataclass(slots=True)
class Member:
    role: str = "Member"  # Admin | Member
    state: str = "Accepted"  # Accepted | WaitingResponse


@dataclass
class Circle:
    id: str  # 12 lower-case hex digits
    name: str
    owner: str  # lower-case e-mail
    members: dict[str, Member] = field(default_factory=dict)
    psm: str = ""
    current_media: str = ""
    #: endpoints that joined it with ADL t=9, in order
    joined: list[NotificationConnection] = field(default_factory=list)

    @property
    def guid(self) -> str:
        return PREFIX + self.id

    @property
    def address(self) -> str:
        return f"{self.guid}@live.com"

    def accepted(self, key: str) -> bool:
        member = self.members.get(key)
        return member is not None and member.state == "Accepted"

    def online_endpoints(self, key: str) -> list[NotificationConnection]:
        return [c for c in self.joined if c.account is not None and c.account.key == key]


def new_circle(server: MSNServer, name: str, owner: str, members: list[str]) -> Circle:
    circle_id = secrets.token_hex(6)
    circle = Circle(circle_id, name, owner.lower())
    circle.members[owner.lower()] = Member("Admin")
    for email in members:
        circle.members.setdefault(email.lower(), Member())
    server.circles[circle_id] = circle
    return circle


def change_members(
    server: MSNServer, circle: Circle, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> None:
    """Members added (accepted) or taken out, as a circle's admin does on the web: each one
    taken out goes to every joined endpoint as ``NFY DEL`` of ``/circle/roster(IM)/user(1:..)``
    and leaves; every joined endpoint then gets the ``NOT`` that the circle changed."""
    for email in add:
        circle.members.setdefault(email.lower(), Member())
    for email in remove:
        key = email.lower()
        if circle.members.pop(key, None) is None:
            continue
        for conn in list(circle.joined):
            if conn.account is not None and conn.account.key == key:
                _leave(conn, circle)
        for other in circle.joined:
            if not other.closing and other.account is not None:
                _nfy_left(other, circle, key)
    for conn in circle.joined:
        if not conn.closing:
            _circle_notice(conn, circle)


def _nfy_left(viewer: NotificationConnection, circle: Circle, email: str) -> None:
    assert viewer.account is not None
    head = (
        f"Routing: 1.0\r\nTo: 1:{viewer.account.email}\r\nFrom: 9:{circle.address}\r\n\r\n"
        "Reliability: 1.0\r\nStream: 0\r\n\r\nNotification: 1.0\r\nNotifNum: 2\r\n"
        f"Uri: /circle/roster(IM)/user(1:{email})\r\nNotifType: Partial\r\n"
        "Content-Type: application/circles+xml\r\nContent-Length: 0\r\n\r\n"
    )
    viewer.send("NFY", "DEL", payload=head.encode("utf-8"))


def circle_of(server: MSNServer, ident: str) -> Circle | None:
    """The circle named by ``00000000-0000-0000-0009-<id>`` (with or without ``@live.com``)."""
    match = _ID.match(ident.split("@", 1)[0])
    return server.circles.get(match.group(1).lower()) if match else None


def circles_of(server: MSNServer, account: Account) -> list[Circle]:
    return [c for c in server.circles.values() if account.key in c.members]


# -- address book ----------------------------------------------------------------------------
def _ticket(server: MSNServer, account: Account) -> str:
    """The signed CircleTicket XML of an account: its accepted circles and CID."""
    circles = "".join(
        f'<Circle Id="{c.guid}" HostedDomain="live.com" />'
        for c in circles_of(server, account)
        if c.accepted(account.key)
    )
    data = f'<?xml version="1.0" encoding="utf-16"?><Ticket>{circles}<CID>{account.cid}</CID></Ticket>'
    data_b64 = base64.b64encode(data.encode("utf-8")).decode("ascii")
    sig = hmac.new(_TICKET_SECRET, data_b64.encode("ascii"), hashlib.sha256).digest()
    return (
        '<?xml version="1.0" encoding="utf-16"?><SignedTicket ver="1" keyVer="1">'
        f"<Data>{data_b64}</Data><Sig>{base64.b64encode(sig).decode('ascii')}</Sig></SignedTicket>"
    )


def ab_entries(server: MSNServer, account: Account) -> tuple[str, str]:
    """(circle Contact entries, CircleResult) for the user's own address book."""
    contacts, infos = [], []
    for circle in circles_of(server, account):
        member = circle.members[account.key]
        state = "3" if member.state == "Accepted" else "1"
        role = "1" if member.role == "Admin" else "3"
        contacts.append(
            f"<Contact><contactId>{circle.guid}</contactId><contactInfo><contactType>Circle"
            f"</contactType><quickName>{esc(circle.name)}</quickName><passportName>"
            f"{circle.address}</passportName><IsPassportNameHidden>false</IsPassportNameHidden>"
            f"<displayName>{esc(circle.name)}</displayName><puid>0</puid><CID>0</CID>"
            "<IsHidden>true</IsHidden><NetworkInfoList><NetworkInfo><DomainId>1</DomainId>"
            f"<SourceId>WL</SourceId><DomainTag>{circle.guid}</DomainTag><RelationshipType>5"
            f"</RelationshipType><RelationshipState>{state}</RelationshipState>"
            f"<RelationshipRole>{role}</RelationshipRole></NetworkInfo></NetworkInfoList>"
            "</contactInfo><propertiesChanged /><fDeleted>false</fDeleted></Contact>"
        )
        infos.append(
            f"<CircleInverseInfo><Content><Handle><Id>{circle.guid}</Id></Handle><Info><Domain>1"
            "</Domain><HostedDomain>live.com</HostedDomain><Type>2</Type><MembershipAccess>0"
            "</MembershipAccess><IsPresenceEnabled>true</IsPresenceEnabled>"
            f"<RequestMembershipOption>2</RequestMembershipOption><DisplayName>{esc(circle.name)}"
            "</DisplayName></Info></Content><PersonalInfo><MembershipInfo>"
            f"<CirclePersonalMembership><Role>{member.role}</Role><State>{member.state}</State>"
            f"</CirclePersonalMembership></MembershipInfo><Name>{esc(circle.name)}</Name>"
            "</PersonalInfo><Deleted>false</Deleted></CircleInverseInfo>"
        )
    result = (
        f"<CircleResult><Circles>{''.join(infos)}</Circles>"
        f"<CircleTicket>{esc(_ticket(server, account))}</CircleTicket></CircleResult>"
    )
    return "".join(contacts), result


def find_contacts_paged(server: MSNServer, account: Account, ab_id: str) -> str:
    """ABFindContactsPaged for a circle's own address book: its members."""
    from .abservice import AB_NS, ABFault

    circle = circle_of(server, ab_id)
    if circle is None or account.key not in circle.members:
        raise ABFault("ABDoesNotExist", "Address book does not exist")
    contacts = []
    for key, member in circle.members.items():
        person = server.directory.get(key)
        if person is None:
            continue
        kind = "Live" if member.state == "Accepted" else "LivePending"
        contacts.append(
            f"<Contact><contactId>{person.guid}</contactId><contactInfo><contactType>{kind}"
            f"</contactType><quickName>{esc(person.email)}</quickName><passportName>"
            f"{esc(person.email)}</passportName><displayName>{esc(person.name)}</displayName>"
            f"<puid>0</puid><CID>{person.cid}</CID><NetworkInfoList><NetworkInfo><DomainId>1"
            "</DomainId><SourceId>WL</SourceId><RelationshipType>5</RelationshipType>"
            f"<RelationshipState>{'3' if member.state == 'Accepted' else '1'}</RelationshipState>"
            f"<RelationshipRole>{'1' if member.role == 'Admin' else '3'}</RelationshipRole>"
            "</NetworkInfo></NetworkInfoList></contactInfo><propertiesChanged /><fDeleted>false"
            "</fDeleted></Contact>"
        )
    return (
        f'<ABFindContactsPagedResponse xmlns="{AB_NS}"><ABFindContactsPagedResult><Contacts>'
        f"{''.join(contacts)}</Contacts><Ab><abId>{circle.guid}</abId><abInfo><ownerPuid>0"
        f"</ownerPuid><OwnerCID>0</OwnerCID><ownerEmail>{circle.address}</ownerEmail><fDefault>"
        "true</fDefault><AddressBookType>Group</AddressBookType></abInfo></Ab>"
        "</ABFindContactsPagedResult></ABFindContactsPagedResponse>"
    )


# -- NS --------------------------------------------------------------------------------------
async def usr_sha(conn: NotificationConnection, command: ClientCommand) -> None:
    account = conn.account
    assert account is not None
    if command.arg(1) != "A" or not _ticket_ok(account, command.arg(2)):
        conn.circle_authenticated = False
        conn.error(911, command.trid)
        return
    conn.circle_authenticated = True
    conn.send("USR", command.trid, "OK", account.email, 0, 0)


def _ticket_ok(account: Account, presented: str) -> bool:
    try:
        xml = base64.b64decode(presented, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    data = re.search(r"<Data>([^<]*)</Data>", xml)
    sig = re.search(r"<Sig>([^<]*)</Sig>", xml)
    if data is None or sig is None:
        return False
    expected = hmac.new(_TICKET_SECRET, data.group(1).encode("ascii"), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(base64.b64decode(sig.group(1)), expected):
            return False
        inner = base64.b64decode(data.group(1)).decode("utf-8")
    except (binascii.Error, ValueError):
        return False
    return f"<CID>{account.cid}</CID>" in inner


def _member_handle(viewer: NotificationConnection, email: str, circle: Circle) -> str:
    return presence.handle(viewer.v, email, f"9:{circle.address}")[0]


def _roster_nfy(viewer: NotificationConnection, circle: Circle) -> None:
    assert viewer.account is not None
    users = "".join(
        f"<user><id>1:{esc(key_email)}</id></user>"
        for key_email in dict.fromkeys(c.account.email for c in circle.joined if c.account)
    )
    body = f"<circle><roster><id>IM</id>{users}</roster></circle>"
    _nfy(viewer, circle, "Partial", body, stream="0")


def _nfy(
    viewer: NotificationConnection, circle: Circle, kind: str, body: str, stream: str
) -> None:
    assert viewer.account is not None
    data = body.encode("utf-8")
    head = (
        f"Routing: 1.0\r\nTo: 1:{viewer.account.email}\r\nFrom: 9:{circle.address}\r\n\r\n"
        f"Reliability: 1.0\r\nStream: {stream}\r\n\r\nPublication: 1.0\r\nUri: /circle\r\n"
        f"NotifType: {kind}\r\nContent-Type: application/circles+xml\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    viewer.send("NFY", "PUT", payload=head.encode("utf-8") + data)


def _circle_notice(conn: NotificationConnection, circle: Circle) -> None:
    account = conn.account
    assert account is not None
    body = (
        '<NOTIFICATION id="0" siteid="45705" siteurl="http://contacts.msn.com">'
        f'<TO pid="0x{account.cid_hex[8:]}:0x{account.cid_hex[:8]}" name="{esc(account.email)}">'
        '<VIA agent="messenger" /></TO><MSG id="0"><SUBSCR url="s.htm" /><ACTION url="a.htm" />'
        "<BODY>&lt;NotificationData&gt;&lt;HasNewItem&gt;true&lt;/HasNewItem&gt;&lt;CircleId"
        f"&gt;{circle.guid}&lt;/CircleId&gt;&lt;/NotificationData&gt;</BODY></MSG></NOTIFICATION>"
    )
    conn.send("NOT", payload=body.encode("utf-8"))


def _send_member_presence(viewer: NotificationConnection, member: NotificationConnection,
                          circle: Circle) -> None:  # fmt: skip
    assert member.account is not None
    via = f"9:{circle.address}"
    if member.visible_status is None:
        viewer.send("FLN", *presence.fln_args(viewer.v, member.account.email, via))
        return
    viewer.send("NLN", *presence.presence_args(viewer.v, member, via))
    viewer.send(
        "UBX", *presence.ubx_args(viewer.v, member.account.email, via),
        payload=presence.ubx_payload(
            viewer.v, viewer.server.endpoints_of(member.account), self_view=False
        ),
    )  # fmt: skip


async def adl(
    conn: NotificationConnection, command: ClientCommand, entries: list[tuple[str, int]]
) -> None:
    account = conn.account
    assert account is not None
    server = conn.server
    if not conn.circle_authenticated:
        conn.error(933, command.trid)
        return
    targets = []
    for ident, lists in entries:
        circle = circle_of(server, ident)
        if circle is None or not circle.accepted(account.key):
            conn.error(933, command.trid)
            return
        targets.append((circle, lists))
    conn.send("ADL", command.trid, "OK")
    for circle, lists in targets:
        if not lists & 3 or conn in circle.joined:
            continue
        first = not circle.online_endpoints(account.key)
        circle.joined.append(conn)
        conn.circles.add(circle.id)
        _circle_notice(conn, circle)
        for other in _one_per_user(circle, exclude=account.key):
            _send_member_presence(conn, other, circle)
        _roster_nfy(conn, circle)
        if not first:
            continue
        for other in circle.joined:
            if other is conn or other.closing:
                continue
            if other.account is not None and other.account.key != account.key:
                _send_member_presence(other, conn, circle)
            _roster_nfy(other, circle)


def _one_per_user(circle: Circle, exclude: str) -> list[NotificationConnection]:
    seen: dict[str, NotificationConnection] = {}
    for endpoint in circle.joined:
        if endpoint.account is not None and endpoint.account.key != exclude:
            primary = endpoint.server.ns_session(endpoint.account.email) or endpoint
            seen.setdefault(endpoint.account.key, primary)
    return list(seen.values())


def rml(conn: NotificationConnection, ident: str) -> None:
    circle = circle_of(conn.server, ident)
    if circle is not None:
        _leave(conn, circle)


def _leave(conn: NotificationConnection, circle: Circle) -> None:
    if conn not in circle.joined:
        return
    circle.joined.remove(conn)
    conn.circles.discard(circle.id)
    account = conn.account
    assert account is not None
    if circle.online_endpoints(account.key):
        return
    via = f"9:{circle.address}"
    for other in circle.joined:
        if other.closing:
            continue
        other.send("FLN", *presence.fln_args(other.v, account.email, via))
        _roster_nfy(other, circle)


def left_ns(server: MSNServer, conn: NotificationConnection) -> None:
    """An endpoint signed out: it leaves the circles it had joined."""
    for circle_id in list(conn.circles):
        circle = server.circles.get(circle_id)
        if circle is not None:
            _leave(conn, circle)


def status_changed(server: MSNServer, conn: NotificationConnection) -> None:
    """A member's status changed: the other members joined to a shared circle see it."""
    account = conn.account
    assert account is not None
    joined = {cid for ep in server.endpoints.get(account.key, []) for cid in ep.circles}
    for circle_id in joined:
        circle = server.circles.get(circle_id)
        if circle is None:
            continue
        for other in circle.joined:
            if other.account is not None and other.account.key != account.key:
                _send_member_presence(other, conn, circle)


def _headers(block: bytes) -> dict[str, str]:
    result = {}
    for line in block.decode("utf-8", "replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            result[name.strip().lower()] = value.strip()
    return result


async def cmd_sdg(conn: NotificationConnection, command: ClientCommand) -> None:
    if await too_old(conn, command, 18):
        return
    payload = command.payload or b""
    account = conn.account
    assert account is not None
    routing, sep, _ = payload.partition(b"\r\n\r\n")
    if not sep or len(payload) > MAX_SDG:
        conn.error(201, command.trid)
        return
    headers = _headers(routing)
    to, _, path = headers.get("to", "").partition(";")
    sender = headers.get("from", "")
    # the e-mail in any case, the epid exactly as the lower-cased machine GUID (Escargot
    # refuses {ABCD...} although the client signed in with it)
    email, _, epid = sender.partition(";epid=")
    circle = circle_of(conn.server, to[2:]) if to.startswith("9:") else None
    if (
        email.lower() != f"1:{account.email}".lower()
        or epid != (conn.machine_guid or "").lower()
        or circle is None
        or path != "path=IM"
        or conn not in circle.joined
    ):
        conn.error(201, command.trid)
        return
    for other in circle.joined:
        if other is not conn and not other.closing:
            other.send("SDG", 0, payload=payload)
    conn.server.circle_messages.append((circle.id, account.email, payload))


async def cmd_put(conn: NotificationConnection, command: ClientCommand) -> None:
    if await too_old(conn, command, 18):
        return
    payload = command.payload or b""
    blocks = payload.split(b"\r\n\r\n", 3)
    if len(blocks) < 4:
        conn.error(201, command.trid)
        return
    to = _headers(blocks[0]).get("to", "")
    content = _headers(blocks[2])
    circle = circle_of(conn.server, to[2:]) if to.startswith("9:") else None
    if circle is not None and content.get("content-type") == "application/circles+xml":
        if conn not in circle.joined:
            conn.error(201, command.trid)
            return
        body = blocks[3]
        psm = re.search(rb"<PSM>([^<]*)</PSM>", body)
        media = re.search(rb"<CurrentMedia>([^<]*)</CurrentMedia>", body)
        if psm is not None:
            circle.psm = psm.group(1).decode("utf-8", "replace")
        if media is not None:
            circle.current_media = media.group(1).decode("utf-8", "replace")
        props = (
            f'<circle><props><presence dtype="xml"><Data><UTL></UTL><MFN>{esc(circle.name)}'
            f"</MFN><PSM>{circle.psm}</PSM><CurrentMedia>{circle.current_media}</CurrentMedia>"
            "</Data></presence></props></circle>"
        )
        conn.send("PUT", command.trid, "OK", payload=b"")
        for other in circle.joined:
            if not other.closing:
                _nfy(other, circle, "Full", props, stream="1")
        return
    conn.send("PUT", command.trid, "OK", payload=b"")
