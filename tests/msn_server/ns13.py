"""MSNP13+ commands of the NS: SSO login check, ADL/RML/FQY, UUN/UUM, list-change pushes.

Membership-list payloads (ADL, RML, FQY) are ``<ml [l="1"]><d n="domain"><c n="user" l="lists"
t="1"/></d></ml>``: ``l`` on ``ml`` marks the initial list a client sends after fetching its
address book (it changes nothing; it subscribes the client to the presence of the contacts it
names with FL), a later ADL adds to the lists (FL, AL, BL; RL and PL are refused) and a later
RML removes from them. Errors as Escargot answers: 240 (empty domain) or 241 (bad payload)
and the connection closed, 204 (unknown network type) and closed, 208 (unknown user).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from urllib.parse import quote
from xml.etree import ElementTree as ET
import logging
import re

from . import circles, mbi
from .framing import ClientCommand
from .state import AL, BL, FL, PL, RL, Account, ListError, ListFlag

if TYPE_CHECKING:
    from .notification import NotificationConnection

__all__ = [
    "check_sso",
    "cmd_adl",
    "cmd_fqy",
    "cmd_rml",
    "cmd_uum",
    "cmd_uun",
    "push_list_change",
    "usr_sha",
]

log = logging.getLogger("msn_server")

MACHINE_GUID: Final = re.compile(r"^\{[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}$")
#: the payload of an ADL/RML/FQY (real servers refuse much less)
MAX_ML: Final = 64 * 1024
MESSENGER_CLEAR: Final = "messengerclear.live.com"


async def too_old(conn: NotificationConnection, command: ClientCommand, minimum: int) -> bool:
    """A command newer than the connection's protocol: up to MSNP12 it is unknown (200, as
    this server always answered), from MSNP13 on the connection is closed, as Escargot does."""
    if conn.v >= minimum:
        return False
    if conn.v < 13:
        conn.error(200, command.trid)
    else:
        await conn.close()
    return True


# -- login ---------------------------------------------------------------------------------
def check_sso(conn: NotificationConnection, command: ClientCommand) -> Account | None:
    """``USR trid SSO S <ticket> [<mbi answer>] [{machine-guid}]``: the account, or None.

    The ticket must be a messengerclear.live.com token of the account; the MBI answer is
    required from MSNP16 on and checked when given at MSNP15 (a client patched to skip it
    may leave it out there, as Escargot allows); the machine GUID is required from 16 on.
    """
    server = conn.server
    email = conn.login_email or ""
    ticket = server.tickets.lookup(command.arg(2))
    account = server.directory.get(email)
    if account is None or ticket is None or ticket.email != account.key:
        return None
    if ticket.domain != MESSENGER_CLEAR or ticket.secret is None or conn.nonce is None:
        return None
    answer = command.arg(3) or None
    if conn.v >= 16 and answer is None:
        return None
    if answer is not None and not mbi.verify(conn.nonce, ticket.secret, answer):
        log.info("NS: wrong MBI answer from %s", email)
        return None
    if conn.v >= 16:
        guid = command.arg(4)
        if not MACHINE_GUID.match(guid):
            return None
        conn.machine_guid = guid.lower()
    return account


async def usr_sha(conn: NotificationConnection, command: ClientCommand) -> None:
    """``USR trid SHA A <base64 circle ticket>`` (MSNP18, after the address book)."""
    if conn.v < 18:
        await conn.close()
        return
    await circles.usr_sha(conn, command)


# -- membership lists ----------------------------------------------------------------------
class MLError(Exception):
    def __init__(self, code: int, close: bool = True) -> None:
        super().__init__(code)
        self.code = code
        self.close = close


def parse_ml(payload: bytes | None) -> tuple[bool, list[tuple[str, str, int, int, str]]]:
    """(initial, [(user, domain, lists, network type, friendly name)]) of an ``<ml>``."""
    if not payload or len(payload) > MAX_ML:
        raise MLError(241)
    if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
        raise MLError(241)
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        raise MLError(241) from None
    if root.tag != "ml":
        raise MLError(241)
    entries = []
    for d in root:
        if d.tag != "d" or not d.get("n"):
            raise MLError(241)
        if len(d) == 0:
            raise MLError(240)
        for c in d:
            if c.tag != "c" or not c.get("n"):
                raise MLError(241)
            try:
                lists = int(c.get("l", "0"))
                network = int(c.get("t", "1"))
            except ValueError:
                raise MLError(241) from None
            if network not in (1, 2, 4, 8, 9, 16, 32):
                raise MLError(204)
            entries.append((c.get("n", ""), d.get("n", ""), lists, network, c.get("f", "")))
    return root.get("l") == "1", entries


async def cmd_adl(conn: NotificationConnection, command: ClientCommand) -> None:
    if await too_old(conn, command, 13):
        return
    try:
        initial, entries = parse_ml(command.payload)
        if any(lists & (RL | PL) for _, _, lists, _, _ in entries):
            raise MLError(241)
    except MLError as e:
        conn.error(e.code, command.trid)
        if e.close:
            await conn.close()
        return
    people = [e for e in entries if e[3] != 9]
    circle_ids = [e for e in entries if e[3] == 9]
    if circle_ids and (conn.v < 18 or people):
        conn.error(241, command.trid)
        await conn.close()
        return
    if circle_ids:
        await circles.adl(conn, command, [(user, lists) for user, _, lists, _, _ in circle_ids])
        return
    server = conn.server
    if initial:  # the initial list is taken as it is: what the server does not know is skipped
        people = [e for e in people if e[3] == 1 and server.directory.get(f"{e[0]}@{e[1]}")]
    for user, domain, _, _, _ in people:
        if server.directory.get(f"{user}@{domain}") is None:
            conn.error(208, command.trid)
            return
    account = conn.account
    assert account is not None
    newly: list[str] = []
    for user, domain, lists, _, _ in people:
        email = f"{user}@{domain}"
        key = email.lower()
        if not initial:
            for flag in (FL, AL, BL):
                if lists & flag and not account.on(email, flag):
                    await _list_add(conn, account, email, flag)
        if lists & FL and key not in conn.subscribed:
            conn.subscribed.add(key)
            newly.append(key)
    conn.send("ADL", command.trid, "OK")
    if not conn.initial_presence_sent:
        conn.initial_adl = True  # any ADL opens the presence (sent at once if CHG came first)
        conn.send_initial_presence(command.trid)
        return
    for key in newly:
        other = server.ns_session(key)
        if other is not None and conn._sees(key):
            conn.send_presence(other, command.trid)


async def _list_add(
    conn: NotificationConnection, account: Account, email: str, flag: ListFlag
) -> None:
    try:
        conn.server.list_add(account, email, flag)
    except ListError:
        pass  # on the opposite list: left as it is


async def cmd_rml(conn: NotificationConnection, command: ClientCommand) -> None:
    if await too_old(conn, command, 13):
        return
    try:
        _, entries = parse_ml(command.payload)
        if any(lists & (RL | PL) for _, _, lists, _, _ in entries):
            raise MLError(241)
    except MLError as e:
        conn.error(e.code, command.trid)
        if e.close:
            await conn.close()
        return
    server = conn.server
    account = conn.account
    assert account is not None
    for user, domain, lists, network, _ in entries:
        if network == 9:
            circles.rml(conn, user)
            continue
        email = f"{user}@{domain}"
        for flag in (FL, AL, BL):
            if lists & flag and account.on(email, flag):
                server.list_remove(account, email, flag)
    conn.send("RML", command.trid, "OK")


async def cmd_fqy(conn: NotificationConnection, command: ClientCommand) -> None:
    """``FQY`` (MSNP14+): which network a contact is on; ours are all on 1 (Messenger)."""
    if await too_old(conn, command, 14):
        return
    conn.server.counters["ns_fqy"] += 1
    try:
        _, entries = parse_ml(command.payload)
        if len(entries) != 1:
            raise MLError(241)
    except MLError as e:
        conn.error(e.code, command.trid)
        if e.close:
            await conn.close()
        return
    user, domain, _, _, _ = entries[0]
    if conn.server.directory.get(f"{user}@{domain}") is None:
        conn.error(208, command.trid)
        return
    payload = f'<ml><d n="{_attr(domain)}"><c n="{_attr(user)}" t="1" /></d></ml>'
    conn.send("FQY", command.trid, payload=payload.encode("utf-8"))


def _attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def push_list_change(
    kind: str, conn: NotificationConnection, other: Account, flag: ListFlag
) -> None:
    """MSNP13+: ``ADL 0``/``RML 0`` telling a client that ``other`` put it on (or took it off)
    a list (RL: a friend request), then the address-book change notice (``NOT``)."""
    user, _, domain = other.email.partition("@")
    name = f' f="{_attr(quote(other.name))}"' if kind == "ADL" else ""
    payload = (
        f'<ml><d n="{_attr(domain)}"><c n="{_attr(user)}" t="1" l="{int(flag)}"{name} />'
        "</d></ml>"
    )
    conn.send(kind, 0, payload=payload.encode("utf-8"))
    notify_address_book(conn)


def notify_address_book(conn: NotificationConnection) -> None:
    """``NOT``: "your address book changed elsewhere, fetch the deltas"."""
    account = conn.account
    assert account is not None
    from .soap import esc, iso

    body = (
        '<NOTIFICATION id="0" siteid="45705" siteurl="http://contacts.msn.com">'
        f'<TO pid="0x{account.cid_hex[8:]}:0x{account.cid_hex[:8]}" name="{esc(account.email)}">'
        '<VIA agent="messenger" /></TO><MSG id="0"><SUBSCR url="s.htm" /><ACTION url="a.htm" />'
        "<BODY>&lt;NotificationData&gt;&lt;Service&gt;ABCHInternal&lt;/Service&gt;"
        f"&lt;CID&gt;{account.cid}&lt;/CID&gt;&lt;LastModifiedDate&gt;"
        f"{iso(account.ab_changed)}&lt;/LastModifiedDate&gt;&lt;HasNewItem&gt;false"
        "&lt;/HasNewItem&gt;&lt;/NotificationData&gt;</BODY></MSG></NOTIFICATION>"
    )
    conn.send("NOT", payload=body.encode("utf-8"))


# -- endpoint signals and OIMs by UUM ------------------------------------------------------
async def cmd_uun(conn: NotificationConnection, command: ClientCommand) -> None:
    """``UUN trid <email[;{guid}]> <type> <len>``: a payload for another signed-in user (or
    one of its endpoints), delivered as ``UBN``; ``217`` when it is not online."""
    if await too_old(conn, command, 13):
        return
    server = conn.server
    handle = command.arg(0)
    email, _, guid = handle.partition(";")
    target = server.directory.get(email)
    primary = server.ns_session(email)
    account = conn.account
    assert account is not None
    if target is None or primary is None or not target.allows(account.email):
        conn.error(217, command.trid)
        return
    sender = conn.endpoint_id if conn.v >= 16 else account.email
    for endpoint in server.endpoints.get(target.key, []):
        if guid and (endpoint.machine_guid or "").lower() != guid.lower():
            continue
        shown = sender if endpoint.v >= 16 else account.email
        endpoint.send("UBN", shown, command.arg(1, "0"), payload=command.payload or b"")
    conn.send("UUN", command.trid, "OK")


async def cmd_uum(conn: NotificationConnection, command: ClientCommand) -> None:
    """``UUM trid <email> <network> <type> <len>`` (MSNP18): a text message to an offline
    Messenger contact is stored as an offline message (no reply, as Escargot)."""
    if await too_old(conn, command, 14):
        return
    from . import oim

    if command.arg(1) != "1" or conn.v < 18:
        return
    if command.arg(2) != "1":
        await conn.close()
        return
    oim.store_from_uum(conn, command.arg(0), command.payload or b"")
