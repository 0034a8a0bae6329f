"""The MSNP13+ contact list at login: address book and memberships fetched into the roster.

From MSNP13 the notification server no longer sends the list (``SYN`` is gone): the client
fetches its memberships (``FindMembership``: allow, block, reverse, pending) and its address
book (``ABFindAll``: the forward list, groups and the user's own entry) with the
contacts.msn.com ticket, fills the roster as an MSNP12 list download would, and then tells the
server which contacts it has with the initial ``ADL`` (:func:`~.adl.build_ml`). Given the
cache of an earlier login only the changes since are asked for; a server that answers
``FullSyncRequired`` is asked again for everything. Answers larger than
:data:`THREAD_PARSE_BYTES` are parsed in a worker thread so the event loop keeps serving the
other sessions (see ``bench/msnp13_parsers.py``).
"""

from __future__ import annotations

from typing import Final, Protocol, TypeVar
from collections.abc import Callable
from dataclasses import dataclass
import asyncio
import logging

from . import addressbook, sharing
from .ab_editor import AbListEditor
from .abch import FULL_SYNC_REQUIRED
from .addressbook import AddressBook
from .adl import ListEntry, build_ml, list_entries
from .config import ClientConfig
from .connection import Connection
from .errors import SoapFault
from .events import Event
from .login import PassportService
from .oim_inbox import OimInbox
from .oim_outbox import OimOutbox
from .passport import service_urls
from .roster import Roster
from .sharing import Memberships
from .soap import SoapRequest
from .sso import CONTACTS, MESSENGER_TICKET
from .tickets import MESSENGER_SECURE, TicketKeeper
from .values import Group, Lists

__all__ = [
    "THREAD_PARSE_BYTES",
    "AbCache",
    "OimInbox",
    "OimOutbox",
    "WebPoster",
    "fetch_lists",
    "fill_roster",
    "inbox_for",
    "login_lists",
    "outbox_for",
]

log = logging.getLogger("msnp.ab")

#: Answers from this size on are parsed off the event loop: bench/msnp13_parsers.py measured
#: an ABFindAll of 250 contacts (279 KB) at 58 ms and one of 4000 (4.4 MB) at 1 s on this
#: (shared, 2-core) machine, about 1.1 KB and 0.25 ms per contact; 128 KB is ~25 ms.
THREAD_PARSE_BYTES: Final = 128 * 1024

T = TypeVar("T")


class WebPoster(Protocol):
    """POSTs a SOAP request (:meth:`~.passport.PassportServices.post`)."""

    async def post(self, url: str, request: SoapRequest) -> bytes: ...


@dataclass(frozen=True, slots=True)
class AbCache:
    """What a login fetched: the next login asks only for the changes since (keep it)."""

    book: AddressBook
    memberships: Memberships

    def same_lists(self, other: AbCache) -> bool:
        """Whether ``other`` holds the same address book and memberships, the answers'
        service headers aside: a login whose deltas changed nothing need not be kept again.
        (Linear; entries a delta left alone are the same objects, compared by identity.)"""
        a, b = self.book, other.book
        return (
            a.last_change == b.last_change
            and a.created == b.created
            and a.me == b.me
            and a.contacts == b.contacts
            and a.groups == b.groups
            and self.memberships.last_change == other.memberships.last_change
            and self.memberships.members == other.memberships.members
        )


async def _parse(data: bytes, parser: Callable[[bytes], T]) -> T:
    if len(data) >= THREAD_PARSE_BYTES:
        return await asyncio.to_thread(parser, data)
    return parser(data)


async def fetch_lists(
    web: WebPoster, ab_base: str, ticket: str, cache: AbCache | None = None
) -> AbCache:
    """Memberships and address book (deltas on ``cache`` when given, everything when the
    server wants a full sync). Raises :class:`~.errors.ServiceError`."""
    sharing_url = ab_base + "/abservice/SharingService.asmx"
    ab_url = ab_base + "/abservice/abservice.asmx"
    memberships: Memberships | None = None
    book: AddressBook | None = None
    if cache is not None:
        try:
            delta = await _parse(
                await web.post(
                    sharing_url,
                    sharing.find_membership(
                        ticket, last_change=cache.memberships.last_change, scenario="Initial"
                    ),
                ),
                sharing.parse_find_membership,
            )
            memberships = sharing.merge(cache.memberships, delta)
            ab_delta = await _parse(
                await web.post(
                    ab_url, addressbook.find_all(ticket, last_change=cache.book.last_change)
                ),
                addressbook.parse_find_all,
            )
            book = addressbook.merge(cache.book, ab_delta)
        except SoapFault as e:
            if e.error_code != FULL_SYNC_REQUIRED:
                raise
            log.info("the address book wants a full sync; fetching everything")
            memberships = book = None
    if memberships is None:
        memberships = await _parse(
            await web.post(sharing_url, sharing.find_membership(ticket)),
            sharing.parse_find_membership,
        )
    if book is None:
        book = await _parse(
            await web.post(ab_url, addressbook.find_all(ticket)), addressbook.parse_find_all
        )
    return AbCache(book, memberships)


def fill_roster(roster: Roster, cache: AbCache) -> list[ListEntry]:
    """Put the lists into ``roster`` as a list download does; returns the entries the
    initial ``ADL`` names."""
    book = cache.book
    for group in book.groups:
        if not group.deleted:
            roster.group_set(Group(group.group_id, group.name))
    guids = {c.email.lower(): c for c in book.contacts if c.email and not c.deleted}
    entries = list_entries(book, cache.memberships)
    for entry in entries:
        contact = guids.get(entry.email.lower())
        name = entry.friendly_name or entry.email
        if contact is not None and contact.display_name:
            name = contact.display_name
        roster.list_contact(
            entry.email,
            name,
            entry.lists,
            guid=contact.contact_id if contact is not None else None,
            groups=contact.group_ids if contact is not None else (),
        )
        roster.listed += 1
    me = book.me
    if me is not None:
        if me.display_name:
            roster.own_name = me.display_name
        blp = me.annotations.get("MSN.IM.BLP")
        if blp in ("1", "2"):
            roster.privacy_allow_unlisted = blp == "1"
        gtc = me.annotations.get("MSN.IM.GTC")
        if gtc in ("1", "2"):
            roster.reverse_prompt = gtc == "1"
    return [e for e in entries if e.lists & (Lists.FORWARD | Lists.ALLOW | Lists.BLOCK)]


async def login_lists(
    roster: Roster,
    web: PassportService,
    config: ClientConfig,
    tickets: TicketKeeper,
    cache: AbCache | None,
    live: Callable[[], Connection],
    emit: Callable[[Event], None],
) -> tuple[AbCache, list[bytes], AbListEditor]:
    """Fetch the lists into ``roster``: the new cache, the initial ``ADL`` payloads (``<ml
    l="1"></ml>`` for an empty list) and the editor of the user's changes."""
    _, ab_base = service_urls(config)
    fetched = await fetch_lists(web, ab_base, tickets.ticket((CONTACTS,)), cache)
    entries = fill_roster(roster, fetched)
    initial = build_ml(entries, initial=True) or [b'<ml l="1"></ml>']
    nicknames = {
        c.email.lower(): c.nickname
        for c in fetched.book.contacts
        if c.email and c.nickname and not c.deleted
    }
    editor = AbListEditor(roster, live, emit, web, ab_base, tickets, nicknames)
    return fetched, initial, editor


def inbox_for(
    config: ClientConfig,
    tickets: TicketKeeper,
    web: PassportService,
    emit: Callable[[Event], None],
) -> OimInbox | None:
    """The offline-message inbox of a login (None without a messenger.msn.com ticket); the
    RSI service is beside the address book (``/rsi/rsi.asmx``)."""
    if tickets.token((MESSENGER_TICKET,)) is None:
        return None
    _, ab_base = service_urls(config)
    return OimInbox(web, ab_base + "/rsi/rsi.asmx", tickets, emit)


#: the tickets the OIM service takes, the first one issued
OIM_TICKETS: Final = (MESSENGER_SECURE, MESSENGER_TICKET)


class _Session(Protocol):
    @property
    def tickets(self) -> TicketKeeper | None: ...
    @property
    def passport(self) -> str: ...
    @property
    def version(self) -> int: ...


def outbox_for(config: ClientConfig, ns: _Session, web: PassportService) -> OimOutbox | None:
    """The offline-message sender of a login (None below MSNP13 or without a ticket for it);
    the OIM service is beside the address book (``/OimWS/oim.asmx``)."""
    tickets = ns.tickets
    if tickets is None or ns.version < 13 or tickets.token(OIM_TICKETS) is None:
        return None
    _, ab_base = service_urls(config)
    return OimOutbox(web, ab_base + "/OimWS/oim.asmx", tickets, ns.passport, ns.version)
