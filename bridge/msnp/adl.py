"""The ``<ml>`` payloads of ``ADL``, ``RML`` and ``FQY`` (MSNP13+ contact lists on the NS).

From MSNP13 the client tells the notification server its lists with ``ADL`` (and removes
entries with ``RML``): an XML payload grouping contacts by domain,
``<ml l="1"><d n="example.com"><c n="bob" l="3" t="1"/></d></ml>``, where ``l`` on a contact
is the list bitmask (forward 1, allow 2, block 4; the server keeps reverse and pending) and
``t`` the network (1 Windows Live, 32 Yahoo!). ``l="1"`` on ``<ml>`` marks the initial list
sent at login. A payload must stay under 7500 bytes, so long lists are split as Messenger
does, each payload naming a domain once. ``FQY`` asks which network an address is on with
the same shape. The server pushes ``ADL``/``RML`` with the same payload when someone adds or
removes us (``f`` then carries their URL-encoded friendly name).
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from .addressbook import AddressBook
from .endpoints import NetworkId
from .errors import LocalProtocolError, RemoteProtocolError
from .sharing import MemberKind, Memberships
from .values import Lists
from .xmlsafe import attr, parse_xml

__all__ = [
    "ADL_LISTS",
    "MAX_ML_PAYLOAD",
    "ListEntry",
    "build_fqy",
    "build_ml",
    "list_entries",
    "parse_ml",
    "split_email",
]

#: Largest ADL/RML payload a client sends (servers refuse bigger ones).
MAX_ML_PAYLOAD: Final = 7500
#: The lists a client may name in ADL/RML; the server owns reverse and pending.
ADL_LISTS: Final = Lists.FORWARD | Lists.ALLOW | Lists.BLOCK
#: Cap on what a server's payload may contain (it is already capped in bytes by the codec).
_MAX_PARSE_BYTES: Final = 256 << 10
_MAX_PARSE_ELEMENTS: Final = 20_000


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One contact of an ``<ml>`` payload."""

    email: str
    lists: Lists = Lists.NONE
    network: NetworkId = NetworkId.WINDOWS_LIVE
    friendly_name: str | None = None


def list_entries(book: AddressBook, memberships: Memberships) -> list[ListEntry]:
    """Every contact with its lists, from the address book (forward list: the messenger
    users in it) and the memberships (allow, block, reverse, pending) — what the initial
    ``ADL`` is built from (:func:`build_ml` keeps only forward/allow/block)."""
    found: dict[tuple[str, NetworkId], ListEntry] = {}

    def add(email: str, network: NetworkId, lists: Lists, name: str | None = None) -> None:
        key = (email.lower(), network)
        entry = found.get(key)
        if entry is None:
            found[key] = ListEntry(email, lists, network, name or None)
        else:
            found[key] = ListEntry(
                entry.email, entry.lists | lists, network, entry.friendly_name or name or None
            )

    for contact in book.contacts:
        if contact.email and not contact.deleted and contact.is_messenger_user:
            add(contact.email, contact.network, Lists.FORWARD, contact.display_name)
    for member in memberships.members:
        if member.deleted or member.kind not in (MemberKind.PASSPORT, MemberKind.EMAIL):
            continue
        add(member.address, member.network, member.role.lists, member.display_name)
    return list(found.values())


def split_email(email: str) -> tuple[str, str]:
    """``(user, domain)``; :class:`LocalProtocolError` for something that is not an address."""
    user, at, domain = email.rpartition("@")
    if not at or not user or not domain or "@" in user:
        raise LocalProtocolError(f"not an e-mail address: {email[:64]!r}")
    return user, domain.lower()


def _contact(user: str, entry: ListEntry, with_lists: bool) -> str:
    parts = [f'<c n="{attr(user)}"']
    if with_lists:
        parts.append(f' l="{int(entry.lists & ADL_LISTS)}"')
    parts.append(f' t="{int(entry.network)}"/>')
    return "".join(parts)


def build_ml(
    entries: Iterable[ListEntry],
    *,
    initial: bool = False,
    with_lists: bool = True,
    limit: int = MAX_ML_PAYLOAD,
) -> list[bytes]:
    """``ADL``/``RML`` payloads for ``entries``, each at most ``limit`` bytes.

    Contacts are grouped by domain (first-seen order kept), so each payload names a domain
    once; a new payload starts when the next contact would not fit. Entries with no list
    among forward/allow/block are left out of an ``ADL`` (``with_lists``); ``initial`` marks
    the payloads as the login-time list (``<ml l="1">``). An empty input gives ``[]`` —
    send ``<ml l="1"></ml>`` yourself if the server wants an empty initial list.
    """
    by_domain: dict[str, list[str]] = {}
    for entry in entries:
        if with_lists and not entry.lists & ADL_LISTS:
            continue
        user, domain = split_email(entry.email)
        by_domain.setdefault(domain, []).append(_contact(user, entry, with_lists))
    head = '<ml l="1">' if initial else "<ml>"
    tail = "</ml>"
    payloads: list[bytes] = []
    current: list[str] = []
    size = len(head) + len(tail)
    for domain, contacts in by_domain.items():
        opening = f'<d n="{attr(domain)}">'
        overhead = len(opening.encode()) + len("</d>")
        open_domain = False
        for contact in contacts:
            need = len(contact.encode()) + (0 if open_domain else overhead)
            if len(head) + len(tail) + overhead + len(contact.encode()) > limit:
                raise LocalProtocolError("a single contact does not fit in an ADL payload")
            if size + need > limit:
                if open_domain:
                    current.append("</d>")
                payloads.append((head + "".join(current) + tail).encode("utf-8"))
                current, size, open_domain = [], len(head) + len(tail), False
                need = len(contact.encode()) + overhead
            if not open_domain:
                current.append(opening)
                open_domain = True
            current.append(contact)
            size += need
        if open_domain:
            current.append("</d>")
    if current:
        payloads.append((head + "".join(current) + tail).encode("utf-8"))
    return payloads


def build_fqy(email: str, network: NetworkId | None = None) -> bytes:
    """The ``FQY`` payload asking for the network of one address."""
    user, domain = split_email(email)
    kind = f' t="{int(network)}"' if network is not None else ""
    return f'<ml><d n="{attr(domain)}"><c n="{attr(user)}"{kind}/></d></ml>'.encode()


def parse_ml(payload: bytes) -> list[ListEntry]:
    """The contacts of an ``<ml>`` payload pushed by the server (``ADL``/``RML``/``FQY``).

    Unknown network numbers and contacts without a name are skipped; a malformed payload
    raises :class:`ProtocolError`.
    """
    root = parse_xml(payload, max_bytes=_MAX_PARSE_BYTES, max_elements=_MAX_PARSE_ELEMENTS)
    if root.name != "ml":
        raise RemoteProtocolError(f"expected <ml>, got <{root.name}>")
    entries: list[ListEntry] = []
    for domain_node in root.children_named("d"):
        domain = domain_node.get("n").strip()
        if not domain:
            continue
        for node in domain_node.children_named("c"):
            user = node.get("n").strip()
            if not user:
                continue
            try:
                network = NetworkId.parse(node.get("t", "1") or "1")
                lists = Lists(int(node.get("l", "0") or "0") & 0x1F)
            except ValueError:
                continue
            name = node.get("f")
            entries.append(
                ListEntry(
                    email=f"{user}@{domain}",
                    lists=lists,
                    network=network,
                    friendly_name=unquote(name) if name else None,
                )
            )
    return entries
