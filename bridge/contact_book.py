"""One bridge user's MSN contact list as the bridge keeps it: the client's list and presence
events applied to the bridge's own immutable entries, stored in the database, and mirrored on
the contacts' ghosts and the group spaces.

The book is the only owner of this state on the bridge side: it copies what the library
reports (the library's contacts are frozen values; the book keeps entries of its own), so each
change is applied exactly once. The user's own changes (`add`, `remove`) come back as the same
events as the server's pushes, once the server confirmed them.

It is also the one home of the rule who gets a ghost (:meth:`ContactBook.on_lists`): the
contacts on the user's forward, allow, reverse or pending list, never any address that merely
appears in a presence line or a switchboard. Someone on none of them (a stranger in a group
chat, say) gets a ghost only when they send a message that the user's privacy settings let
through (:meth:`ContactBook.may_write`).
"""

from __future__ import annotations

from typing import Protocol
from collections.abc import Callable, Collection, Iterable, Mapping, Set
from dataclasses import replace
import asyncio
import logging

from mautrix.util import background_task

from bridge import friend_requests
from bridge.added_notices import AddedNotices
from bridge.clean_text import clean_line
from bridge.contact_entry import ContactEntry
from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
    ListPrint,
    rows_print,
    store_list,
    stored_print,
)
from bridge.msnp.client import MSNClient
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    GroupChanged,
    ListSynced,
    PersonalMessageChanged,
    PresenceChanged,
)
from bridge.msnp.values import Contact, Group, Lists, Status
from bridge.presence_limiter import MONOTONIC, Clock
from bridge.puppet import Puppet

__all__ = ["GHOST_LISTS", "GHOST_SYNC_CONCURRENCY", "MAX_CONTACTS", "ContactBook", "ContactEntry"]

#: How many contacts' ghosts are synced (registered, named) at the same time after a login.
GHOST_SYNC_CONCURRENCY = 8
#: Contacts on these lists have a ghost (not those only on the block list, nor strangers).
GHOST_LISTS = Lists.FORWARD | Lists.ALLOW | Lists.REVERSE | Lists.PENDING
#: Contacts the book keeps (as the MSN library does; MSN allowed 1,000 on the forward list).
MAX_CONTACTS = 5000


class Ghost(Protocol):
    """What the book asks of a contact's ghost (:class:`bridge.puppet.Puppet`)."""

    @property
    def status(self) -> Status: ...

    async def update_info(self, friendly_name: str | None = None) -> bool: ...

    async def update_presence(
        self, status: Status | None = None, personal_message: str | None = None
    ) -> None: ...


class Ghosts(Protocol):
    async def __call__(self, passport: str, *, create: bool = True) -> Ghost | None: ...


class Notify(Protocol):
    async def __call__(self, text: str, *, html: str | None = None) -> object: ...


class GroupSpaces(Protocol):
    """The user's group spaces (:class:`bridge.spaces.SpaceManager`)."""

    def schedule_sync(self, removed: Iterable[DBContactGroup] = ()) -> None: ...

    async def sync(self, removed: Iterable[DBContactGroup] = ()) -> None: ...

    def groups_written(self) -> None:
        """The book changed the stored groups or memberships (or may have)."""


async def _puppet(passport: str, *, create: bool = True) -> Puppet | None:
    return await Puppet.get_by_passport(passport, create=create)


class ContactBook:
    """The contact list of the Matrix user ``owner`` (see the module documentation)."""

    def __init__(
        self,
        owner: str,
        log: logging.Logger,
        *,
        spaces: GroupSpaces,
        notify: Notify,
        ghosts: Ghosts | None = None,
        asks: Callable[[], bool | None] = lambda: None,
        added_notice_interval: float = 60.0,
        max_contacts: int = MAX_CONTACTS,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.owner = owner
        self.log = log
        self._spaces = spaces
        self._ghosts = ghosts or _puppet
        self._asks = asks  # GTC: False when the user does not want to hear of new requests
        self._max_contacts = max_contacts
        self.added_notices = AddedNotices(
            lambda text, html: notify(text, html=html), added_notice_interval, log, clock
        )
        self._contacts: dict[str, ContactEntry] = {}
        self._groups: dict[str, str] = {}  # group id -> name
        self._sync_task: asyncio.Task[None] | None = None
        #: whether the book's last write to the database succeeded
        self.stored = False
        # what the tables hold (None: unknown, read before the next write); one write at a
        # time, so that it stays the print of what the last write left
        self._print: ListPrint | None = None
        self._writing = asyncio.Lock()
        #: what the tables held when the bridge started the user (:meth:`take_stored`): whom
        #: the user was told about, and the print; the first list uses it instead of reading
        self._preread: tuple[set[str], ListPrint] | None = None
        self._touched = False  # the book read or wrote the tables itself

    # region reading

    @property
    def contacts(self) -> Mapping[str, ContactEntry]:
        """Every contact on any list, by lower-case passport."""
        return self._contacts

    @property
    def groups(self) -> Mapping[str, str]:
        """Group names by group id."""
        return self._groups

    def get(self, passport: str) -> ContactEntry | None:
        return self._contacts.get(passport.lower())

    def __len__(self) -> int:
        return len(self._contacts)

    def on_lists(self, passport: str) -> bool:
        """Whether ``passport`` is on one of the lists whose members have a ghost."""
        entry = self._contacts.get(passport.lower())
        return bool(entry and entry.lists & GHOST_LISTS)

    def may_write(self, passport: str, allow_unlisted: bool | None) -> bool:
        """Whether a message from ``passport`` is shown to the user (and gets them a ghost),
        by MSN's own privacy rule: someone on the allow list may, someone on the block list
        may not, anyone else if the user allows people not on their lists (``BLP AL``, MSN's
        default, assumed while the server has not said)."""
        entry = self._contacts.get(passport.lower())
        lists = entry.lists if entry else Lists.NONE
        if lists & Lists.ALLOW:
            return True
        if lists & Lists.BLOCK:
            return False
        return allow_unlisted is not False

    # endregion
    # region events from the client

    def take_stored(
        self,
        contacts: Iterable[DBContact],
        groups: Iterable[DBContactGroup],
        members: Iterable[DBContactGroupMember],
    ) -> bool:
        """What the tables hold for the owner, read together with other users' rows when the
        bridge starts them (:mod:`bridge.start_rows`): the first list reads nothing. Not
        taken (False) once the book read or wrote the tables itself, since the rows may then
        be older than what it wrote; nothing else writes them."""
        if self._touched:
            return False
        contacts = list(contacts)
        self._preread = (
            friend_requests.announced_in(contacts),
            rows_print(contacts, groups, members),
        )
        return True

    async def on_list_synced(self, evt: ListSynced) -> None:
        """The whole list at login: store it, then sync spaces and ghosts in the background."""
        self._touched = True
        preread, self._preread = self._preread, None
        stored: ListPrint | None = None
        if preread is not None:
            told, stored = preread
        else:
            rows = await DBContact.all_for_owner(self.owner)
            told = friend_requests.announced_in(rows)
            if self._print is None:
                stored = await stored_print(self.owner, rows)
        if self._print is None:  # (the first list of this process: what is stored, unread yet)
            self._print = stored
        self._replace(evt.contacts.values(), evt.groups, told)
        self._announce(list(self._contacts))
        removed = await self._store()
        self._spaces.schedule_sync(removed)
        self.stop()
        self._sync_task = background_task.create(self.sync_ghosts(), name="msn-sync-ghosts")

    async def on_contact_added(self, evt: ContactAdded) -> None:
        passport = evt.passport.lower()
        name = clean_line(evt.friendly_name)
        entry = self._contacts.get(passport)
        if entry is None and len(self._contacts) >= self._max_contacts:
            self.log.warning(
                "More than %d contacts: %s is not kept", self._max_contacts, evt.passport
            )
            return
        entry = entry or ContactEntry(passport=passport, friendly_name=name or passport)
        groups = entry.groups
        if evt.group and evt.group not in groups:
            groups = (*groups, evt.group)
        entry = replace(
            entry, lists=entry.lists | evt.list_, guid=evt.guid or entry.guid, groups=groups
        )
        self._contacts[passport] = entry
        await self._store()
        if evt.group or evt.list_ == Lists.FORWARD:
            self._spaces.schedule_sync()
        ghost = await self._ghosts(passport, create=bool(entry.lists & GHOST_LISTS))
        if ghost and name:
            await ghost.update_info(name)
        if self._announce([passport]):
            await self._store()

    async def on_contact_removed(self, evt: ContactRemoved) -> None:
        passport = evt.passport.lower()
        entry = self._contacts.get(passport)
        if entry is None:
            return
        if evt.group:
            entry = replace(entry, groups=tuple(g for g in entry.groups if g != evt.group))
        else:
            # off the forward list, a contact is in no group any more (as in the library)
            groups = () if evt.list_ & Lists.FORWARD else entry.groups
            entry = replace(entry, lists=entry.lists & ~evt.list_, groups=groups)
            if evt.list_ & Lists.REVERSE:  # adding the user again is a new request
                entry = replace(entry, request_announced=False)
        if entry.lists:
            self._contacts[passport] = entry
        else:
            del self._contacts[passport]
        await self._store()
        if evt.group or evt.list_ == Lists.FORWARD:
            self._spaces.schedule_sync()

    async def on_group_changed(self, evt: GroupChanged) -> None:
        group_id = evt.group.id
        if evt.removed:
            self._groups.pop(group_id, None)
            for passport, entry in list(self._contacts.items()):
                if group_id in entry.groups:
                    groups = tuple(g for g in entry.groups if g != group_id)
                    self._contacts[passport] = replace(entry, groups=groups)
        else:
            self._groups[group_id] = clean_line(evt.group.name)
        removed = await self._store()
        self._spaces.schedule_sync(removed)

    async def on_presence(self, evt: PresenceChanged) -> None:
        passport = evt.passport.lower()
        ghost = await self._ghosts(passport, create=self.on_lists(passport))
        if not ghost:
            return
        name = clean_line(evt.friendly_name)
        entry = self._contacts.get(passport)
        if entry:
            self._contacts[passport] = replace(
                entry, status=evt.status, friendly_name=name or entry.friendly_name
            )
        if name:
            await ghost.update_info(name)
        await ghost.update_presence(evt.status)

    async def on_personal_message(self, evt: PersonalMessageChanged) -> None:
        passport = evt.passport.lower()
        ghost = await self._ghosts(passport, create=self.on_lists(passport))
        if not ghost:
            return
        psm = clean_line(evt.personal_message)
        entry = self._contacts.get(passport)
        if entry:
            self._contacts[passport] = replace(entry, personal_message=psm)
        await ghost.update_presence(personal_message=psm)

    # endregion
    # region re-reading the client's list

    async def reload(self, client: MSNClient) -> int:
        """Copy the client's list (the `sync` command), store it, sync every contact's ghost
        and bring the spaces in line. Returns the number of contacts."""
        told = {p for p, e in self._contacts.items() if e.request_announced}
        self._replace(client.contacts.values(), client.groups, told)
        removed = await self._store()
        await self.sync_ghosts()
        await self._spaces.sync(removed)
        return len(self._contacts)

    def _replace(
        self,
        contacts: Iterable[Contact],
        groups: Mapping[str, Group],
        told: Set[str] = frozenset(),
    ) -> None:
        entries = (ContactEntry.of(c) for c in contacts)
        self._contacts = {
            e.passport: replace(e, request_announced=e.passport in told) for e in entries
        }
        self._groups = {gid: clean_line(group.name) for gid, group in groups.items()}

    def _announce(self, passports: Iterable[str]) -> bool:
        """Tell the user (in one notice per burst) of the open friend requests among
        ``passports`` they were not told of; False if there was none."""
        if self._asks() is False:
            return False
        told = False
        for passport in passports:
            entry = self._contacts.get(passport)
            if entry and friend_requests.is_open(entry.lists) and not entry.request_announced:
                self.added_notices.add(passport, entry.friendly_name or passport)
                self._contacts[passport] = replace(entry, request_announced=True)
                told = True
        return told

    # endregion
    # region storing

    async def _store(self) -> list[DBContactGroup]:
        """Store the book; returns the group rows that were deleted. A failure is logged, never
        raised: the book in memory stays right and the event that changed it goes on."""
        before = self._print
        try:
            async with self._writing:
                removed = await self._write()
        except Exception:
            self.log.warning("Failed to store the contact list", exc_info=True)
            self.stored = False
            self._print = None
            self._spaces.groups_written()
            return []
        self.stored = True
        after = self._print
        if before is None or after is None or before[1:] != after[1:]:
            self._spaces.groups_written()  # (the groups' and memberships' parts of the print)
        return removed

    async def _write(self) -> list[DBContactGroup]:
        self._touched = True
        owner = self.owner
        rows = (
            DBContact(owner, passport, c.guid, int(c.lists), c.request_announced)
            for passport, c in self._contacts.items()
        )
        members = ((g, p) for p, e in self._contacts.items() for g in e.groups)
        removed, self._print = await store_list(owner, rows, self._groups, members, self._print)
        return removed

    # endregion
    # region ghosts

    async def sync_ghosts(self) -> None:
        """Create/update the ghosts of all contacts (names; presence comes with ILN/NLN).

        Up to :data:`GHOST_SYNC_CONCURRENCY` ghosts are synced at a time, in contact list order;
        work on one ghost is serialized by the puppet's own locks. Cancelling this coroutine
        cancels every worker.
        """
        todo = iter([p for p, e in self._contacts.items() if e.lists & GHOST_LISTS])

        async def worker() -> None:
            # The workers share one iterator: each takes the next contact when it is free.
            for passport in todo:
                try:
                    await self._sync_ghost(passport)
                except Exception:
                    self.log.warning("Failed to sync the ghost of %s", passport, exc_info=True)

        async with asyncio.TaskGroup() as group:
            for _ in range(GHOST_SYNC_CONCURRENCY):
                group.create_task(worker())

    async def _sync_ghost(self, passport: str) -> None:
        entry = self._contacts.get(passport)
        ghost = await self._ghosts(passport) if entry and entry.lists & GHOST_LISTS else None
        if entry is None or ghost is None:
            return
        await ghost.update_info(entry.friendly_name or None)
        # The entry as it is now: a presence event (ILN) may have arrived during the update.
        entry = self._contacts.get(passport, entry)
        if entry.status != Status.OFFLINE or ghost.status != Status.OFFLINE:
            await ghost.update_presence(entry.status, entry.personal_message)

    async def mark_offline(self, keep: Collection[str] = ()) -> None:
        """Show the contacts' ghosts offline, except those in ``keep`` (contacts of another
        connected user, whose session still reports their presence)."""
        for passport in list(self._contacts):
            if passport in keep:
                continue
            ghost = await self._ghosts(passport, create=False)
            if ghost:
                await ghost.update_presence(Status.OFFLINE)

    def stop(self) -> None:
        """Cancel a running ghost sync (logout, shutdown, or a newer list)."""
        if self._sync_task and not self._sync_task.done():
            self._sync_task.cancel()
        self._sync_task = None

    def clear(self) -> None:
        self.stop()
        self.added_notices.stop()
        self._contacts = {}
        self._groups = {}
        self._print = None
        self._preread = None
        self._touched = True

    # endregion
