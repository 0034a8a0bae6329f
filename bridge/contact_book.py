"""One bridge user's MSN contact list as the bridge keeps it: the client's list and presence
events applied to the bridge's own immutable entries, stored in the database, and mirrored on
the contacts' ghosts and the group spaces.

The book is the only owner of this state on the bridge side: it copies what the library
reports (never keeping or changing the library's own ``Contact`` objects), so each change is
applied exactly once.
"""

from __future__ import annotations

from typing import Protocol
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
import asyncio
import logging

from mautrix.util import background_task

from bridge.db.contact import (
    Contact as DBContact,
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.msnp.client import MSNClient
from bridge.msnp.events import (
    Contact,
    ContactAdded,
    ContactRemoved,
    Group,
    GroupChanged,
    Lists,
    ListSynced,
    PersonalMessageChanged,
    PresenceChanged,
    Status,
)
from bridge.puppet import Puppet, normalize_friendly_name

__all__ = ["GHOST_SYNC_CONCURRENCY", "ContactBook", "ContactEntry"]

#: How many contacts' ghosts are synced (registered, named) at the same time after a login.
GHOST_SYNC_CONCURRENCY = 8
#: Contacts on these lists get a ghost at login (not those only on the block or pending list).
_GHOST_LISTS = Lists.FORWARD | Lists.REVERSE | Lists.ALLOW


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
        """A snapshot of the library's (mutable) contact."""
        return cls(
            passport=contact.passport.lower(),
            friendly_name=contact.friendly_name,
            lists=contact.lists,
            guid=contact.guid,
            groups=tuple(contact.groups),
            status=contact.status,
            personal_message=contact.personal_message,
        )

    @property
    def display_name(self) -> str:
        return normalize_friendly_name(self.friendly_name) or self.passport


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
        notify: Callable[[str], Awaitable[object]],
        ghosts: Ghosts | None = None,
    ) -> None:
        self.owner = owner
        self.log = log
        self._spaces = spaces
        self._notify = notify
        self._ghosts = ghosts or _puppet
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
        entry = self._contacts.get(passport) or ContactEntry(
            passport=passport, friendly_name=evt.friendly_name or passport
        )
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
        ghost = await self._ghosts(passport)
        if ghost and evt.friendly_name:
            await ghost.update_info(evt.friendly_name)
        if evt.list_ == Lists.REVERSE and not entry.lists & Lists.FORWARD:
            name = normalize_friendly_name(evt.friendly_name) or passport
            await self._notify(
                f"{name} ({passport}) added you to their MSN contact list. "
                f"Use `add {passport}` to add them back."
            )

    async def on_contact_removed(self, evt: ContactRemoved) -> None:
        passport = evt.passport.lower()
        entry = self._contacts.get(passport)
        if entry is None:
            return
        if evt.group:
            entry = replace(entry, groups=tuple(g for g in entry.groups if g != evt.group))
        else:
            entry = replace(entry, lists=entry.lists & ~evt.list_)
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
            self._groups[group_id] = evt.group.name
        removed = await self._store()
        self._spaces.schedule_sync(removed)

    async def on_presence(self, evt: PresenceChanged) -> None:
        passport = evt.passport.lower()
        ghost = await self._ghosts(passport)
        if not ghost:
            return
        entry = self._contacts.get(passport)
        if entry:
            name = evt.friendly_name or entry.friendly_name
            self._contacts[passport] = replace(entry, status=evt.status, friendly_name=name)
        if evt.friendly_name:
            await ghost.update_info(evt.friendly_name)
        await ghost.update_presence(evt.status)

    async def on_personal_message(self, evt: PersonalMessageChanged) -> None:
        passport = evt.passport.lower()
        ghost = await self._ghosts(passport)
        if not ghost:
            return
        entry = self._contacts.get(passport)
        if entry:
            self._contacts[passport] = replace(entry, personal_message=evt.personal_message)
        await ghost.update_presence(personal_message=evt.personal_message)

    # endregion
    # region re-reading the client's list

    async def reload(self, client: MSNClient, changed: str | None = None) -> int:
        """Copy the live client's list (after the user changed it, or for `sync`), store it
        and bring the spaces in line; the ghosts of every contact are synced, or with
        ``changed`` only that contact's. Returns the number of contacts."""
        self._replace(client.contacts.values(), client.groups)
        removed = await self._store()
        if changed is None:
            await self.sync_ghosts()
        else:
            await self._sync_ghost(changed.lower())
        await self._spaces.sync(removed)
        return len(self._contacts)

    def _replace(self, contacts: Iterable[Contact], groups: Mapping[str, Group]) -> None:
        self._contacts = {c.passport.lower(): ContactEntry.of(c) for c in contacts}
        self._groups = {gid: group.name for gid, group in groups.items()}

    # endregion
    # region storing

    async def _store(self) -> list[DBContactGroup]:
        """Store the book; returns the group rows that were deleted."""
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
        todo = iter([p for p, e in self._contacts.items() if e.lists & _GHOST_LISTS])

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
        ghost = await self._ghosts(passport) if entry else None
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
        self._contacts = {}
        self._groups = {}

    # endregion
