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
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
import asyncio
import logging

from mautrix.util import background_task

from bridge.added_notices import AddedNotices
from bridge.clean_text import clean_line
from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
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


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """What the bridge knows about one contact (a snapshot; changes make a new entry)."""

    passport: str
    friendly_name: str = ""
    lists: Lists = Lists.NONE
    guid: str | None = None
    groups: tuple[str, ...] = ()
    status: Status = Status.OFFLINE
    personal_message: str = ""

    @classmethod
    def of(cls, contact: Contact) -> ContactEntry:
        """A snapshot of the library's (mutable) contact, its texts cleaned."""
        return cls(
            passport=contact.passport.lower(),
            friendly_name=clean_line(contact.friendly_name),
            lists=contact.lists,
            guid=contact.guid,
            groups=tuple(contact.groups),
            status=contact.status,
            personal_message=clean_line(contact.personal_message),
        )

    @property
    def display_name(self) -> str:
        return self.friendly_name or self.passport


def friend_count(contacts: Iterable[Contact | ContactEntry]) -> int:
    """How many contacts the user has, as people count them: the forward list (not people who
    only added the user, or who are only allowed or blocked). ``login`` and ``ping`` say it."""
    return sum(1 for contact in contacts if contact.lists & Lists.FORWARD)


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
        added_notice_interval: float = 60.0,
        max_contacts: int = MAX_CONTACTS,
        clock: Clock = MONOTONIC,
    ) -> None:
        self.owner = owner
        self.log = log
        self._spaces = spaces
        self._ghosts = ghosts or _puppet
        self._max_contacts = max_contacts
        self.added_notices = AddedNotices(
            lambda text, html: notify(text, html=html), added_notice_interval, log, clock
        )
        self._contacts: dict[str, ContactEntry] = {}
        self._groups: dict[str, str] = {}  # group id -> name
        self._sync_task: asyncio.Task[None] | None = None

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

    async def on_list_synced(self, evt: ListSynced) -> None:
        """The whole list at login: store it, then sync spaces and ghosts in the background."""
        self._replace(evt.contacts.values(), evt.groups)
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
        if evt.list_ == Lists.REVERSE and not entry.lists & Lists.FORWARD:
            self.added_notices.add(passport, name or passport)

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
        self._replace(client.contacts.values(), client.groups)
        removed = await self._store()
        await self.sync_ghosts()
        await self._spaces.sync(removed)
        return len(self._contacts)

    def _replace(self, contacts: Iterable[Contact], groups: Mapping[str, Group]) -> None:
        self._contacts = {c.passport.lower(): ContactEntry.of(c) for c in contacts}
        self._groups = {gid: clean_line(group.name) for gid, group in groups.items()}

    # endregion
    # region storing

    async def _store(self) -> list[DBContactGroup]:
        """Store the book; returns the group rows that were deleted. A failure is logged, never
        raised: the book in memory stays right and the event that changed it goes on."""
        try:
            return await self._write()
        except Exception:
            self.log.warning("Failed to store the contact list", exc_info=True)
            return []

    async def _write(self) -> list[DBContactGroup]:
        owner = self.owner
        await DBContact.replace_for_owner(
            owner,
            (
                DBContact(owner=owner, passport=passport, guid=c.guid, lists=int(c.lists))
                for passport, c in self._contacts.items()
            ),
        )
        old_groups = {g.group_id: g for g in await DBContactGroup.all_for_owner(owner)}
        for gid, name in self._groups.items():
            row = old_groups.pop(gid, None)
            if row is None:
                await DBContactGroup(owner=owner, group_id=gid, name=name).insert()
            elif row.name != name:
                row.name = name
                await row.update()
        for row in old_groups.values():
            await row.delete()
        await DBContactGroupMember.replace_for_owner(
            owner,
            (
                (gid, passport)
                for passport, entry in self._contacts.items()
                for gid in entry.groups
                if gid in self._groups
            ),
        )
        return list(old_groups.values())

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

    # endregion
