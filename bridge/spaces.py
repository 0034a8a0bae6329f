"""The user's "MSN" space and one sub-space per MSN contact group.

Layout::

    MSN                      (space, row user.space_room)
    ├── Friends              (sub-space per contact group, row contact_group.space_room)
    │   └── DM with bob      (DM portals of the contacts in that group)
    ├── Work
    ├── DM with carol        (contacts in no group stay directly under the MSN space)
    └── group chats

The bridge bot owns the spaces; the DM portal rooms are owned by their ghost, which also sets the
optional ``m.space.parent`` event. The names and children of the spaces are stored
(:mod:`bridge.db.space`) as the bridge sets them, so re-syncing, in this process or after a
restart, sends only the links and names that changed and reads nothing back (a space made
before they were stored is read from the homeserver once). A sync goes through the stored DM
and group portal rows, not the portals: a portal is loaded (and then kept in memory) only when
one of its links changes, for its ghost to set the parent event, so a start does not bring
every DM room of every user into memory.
"""

from __future__ import annotations

from typing import Any, ClassVar
from collections.abc import Awaitable, Callable, Iterable
import asyncio
import logging

from mautrix.appservice import AppService, IntentAPI
from mautrix.types import EventType, RoomID
from mautrix.util import background_task

from bridge import lazy_log
from bridge.clean_text import clean_line
from bridge.db.contact import (
    ContactGroup as DBContactGroup,
    ContactGroupMember as DBContactGroupMember,
)
from bridge.db.portal import Portal as DBPortal
from bridge.db.space import SpaceChild, SpaceState
from bridge.db.user import User as DBUser
from bridge.portal import Portal

__all__ = ["SpaceManager"]

#: Who sets a room's ``m.space.parent`` event: asked for only when a link changes.
IntentOf = Callable[[], Awaitable[IntentAPI | None]]
#: What a sync needs of a portal row: its conversation key, room (if any) and kind.
_PortalRoom = tuple[str, str | None, str]
#: The stored contact groups, (group id, passport) memberships and portal rooms of the user.
_Handed = tuple[list[DBContactGroup], list[tuple[str, str]], list[_PortalRoom]]

ROOT_NAME = "MSN"
ROOT_TOPIC = "Your MSN Messenger chats"


class SpaceManager:
    """Creates, names and fills one user's spaces. All changes run under one lock."""

    #: Background syncs of all users (cancelled together by :meth:`stop_all` at shutdown).
    all_tasks: ClassVar[set[asyncio.Task[None]]] = set()

    def __init__(self, row: DBUser, az: AppService, domain: str, log: logging.Logger) -> None:
        self.row = row
        self.owner = row.mxid
        self._az = az
        self._domain = domain
        self.log = lazy_log.child(log, "spaces")
        self._lock = asyncio.Lock()
        self._root_lock = asyncio.Lock()
        self._children: dict[RoomID, set[RoomID]] = {}
        self._names: dict[RoomID, str] = {}
        self._loaded = False  # the stored names and children are in the two dicts above
        # the contact groups, memberships and portal rows read with other users' rows at a
        # start (take_stored), for the first sync; dropped once used, and when the contact
        # book wrote its tables (groups_written) or a portal was placed (a new room, maybe a
        # group's new space) before the first sync
        self._handed: _Handed | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # schedule_sync: groups removed since the last sync, and whether another is due
        self._removed: dict[str, DBContactGroup] = {}
        self._sync_due = False
        self._syncer: asyncio.Task[None] | None = None

    @property
    def _bot(self) -> IntentAPI:
        return self._az.intent

    @property
    def _via(self) -> list[str]:
        return [self._domain]

    # --- the root space -------------------------------------------------------------------

    async def get_root(self) -> RoomID | None:
        """The user's "MSN" space (created and the user invited on first use)."""
        row = self.row
        if row.space_room:
            return RoomID(row.space_room)
        async with self._root_lock:
            if row.space_room:
                return RoomID(row.space_room)
            room_id = await self._create_space(ROOT_NAME, ROOT_TOPIC)
            if room_id is None:
                return None
            row.space_room = room_id
            await row.update()
            return room_id

    async def _create_space(
        self, name: str, topic: str, parent: RoomID | None = None
    ) -> RoomID | None:
        initial_state: list[dict[str, Any]] = [
            {
                "type": str(EventType.ROOM_HISTORY_VISIBILITY),
                "content": {"history_visibility": "invited"},
            }
        ]
        if parent:
            initial_state.append(
                {
                    "type": str(EventType.SPACE_PARENT),
                    "state_key": parent,
                    "content": {"via": self._via, "canonical": True},
                }
            )
        try:
            room_id = await self._bot.create_room(
                name=name,
                topic=topic,
                invitees=[self.owner],
                creation_content={"type": "m.space"},
                initial_state=initial_state,
            )
        except Exception:
            self.log.warning("Failed to create the space %r", name, exc_info=True)
            return None
        self._children[room_id] = set()
        self._names[room_id] = name
        await self._store_state(room_id, name)
        self.log.debug("Created space %s (%s)", room_id, name)
        return room_id

    async def _load(self) -> None:
        """What was stored of this user's spaces (once per process)."""
        if self._loaded:
            return
        try:
            states = await SpaceState.all_for_owner(self.owner)
            children = await SpaceChild.all_for_owner(self.owner)
        except Exception:
            self.log.warning("Failed to load the stored spaces", exc_info=True)
            return
        self._keep_stored(states, children)

    def take_stored(
        self,
        states: Iterable[SpaceState],
        children: Iterable[SpaceChild],
        groups: Iterable[DBContactGroup] | None = None,
        members: Iterable[DBContactGroupMember] = (),
        portals: Iterable[DBPortal] = (),
    ) -> bool:
        """The stored rows, read together with other users' rows when the bridge starts them
        (:mod:`bridge.start_rows`): the first sync reads nothing. Not taken (False) once they
        were read here. Nothing but this manager writes the spaces' rows; what it wrote before
        (a root space made on request) is in memory and stays, the rows only add what it
        lacks. ``groups`` and ``members`` (the contact book's tables) and ``portals`` (the
        user's portal rows) serve the first sync unless :meth:`groups_written` or
        :meth:`place_portal` comes first. (A portal row changed meanwhile is either in memory,
        which the sync prefers, or lost its room, which the sync never unlinks.)"""
        if self._loaded:
            return False
        self._keep_stored(states, children)
        if groups is not None:
            self._handed = (
                sorted(groups, key=lambda g: g.group_id),  # (as the reads order them)
                [(m.group_id, m.passport) for m in members],
                sorted(_rooms(portals)),  # (held until the sync: three strings a room)
            )
        return True

    def groups_written(self) -> None:
        """The contact book changed the stored groups or memberships: what was handed over
        with :meth:`take_stored` is older, the next sync reads it all."""
        self._handed = None

    def _keep_stored(self, states: Iterable[SpaceState], children: Iterable[SpaceChild]) -> None:
        self._loaded = True
        for state in states:
            space = RoomID(state.room_id)
            self._children.setdefault(space, set())
            if state.name is not None:
                self._names.setdefault(space, state.name)
        for child in children:
            self._children.setdefault(RoomID(child.room_id), set()).add(RoomID(child.child))

    async def _store_state(
        self, space: RoomID, name: str | None, children: Iterable[RoomID] = ()
    ) -> None:
        """Remember ``space`` (its name, and children read from the homeserver)."""
        try:
            await SpaceState(room_id=space, owner=self.owner, name=name).store()
            for child in children:
                await SpaceChild(room_id=space, child=child, owner=self.owner).store()
        except Exception:
            self.log.warning("Failed to store the state of space %s", space, exc_info=True)

    async def _store_link(self, space: RoomID, room: RoomID, linked: bool) -> None:
        row = SpaceChild(room_id=space, child=room, owner=self.owner)
        try:
            await (row.store() if linked else row.delete())
        except Exception:
            self.log.warning("Failed to store a child of space %s", space, exc_info=True)

    # --- public entry points --------------------------------------------------------------

    def schedule_sync(self, removed: Iterable[DBContactGroup] = ()) -> None:
        """Run :meth:`sync` in the background (MSN event handling does not wait for it).

        Requests are merged: one background task per user, which syncs again once if more
        requests came while it ran, however many list changes the server sends."""
        for group in removed:
            self._removed[group.group_id] = group
        self._sync_due = True
        if self._syncer is not None and not self._syncer.done():
            return
        task = background_task.create(self._sync_while_due(), name=f"msn-spaces-{self.owner}")
        self._syncer = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.all_tasks.add(task)
        task.add_done_callback(self.all_tasks.discard)

    async def _sync_while_due(self) -> None:
        while self._sync_due:
            self._sync_due = False
            removed, self._removed = list(self._removed.values()), {}
            await self.sync(removed)

    def stop(self) -> None:
        """Cancel running background syncs (bridge shutdown; the next start syncs again)."""
        for task in list(self._tasks):
            task.cancel()

    @classmethod
    def stop_all(cls) -> None:
        """Cancel every user's background sync; call before the appservice stops."""
        for task in list(cls.all_tasks):
            task.cancel()

    async def sync(self, removed: Iterable[DBContactGroup] = ()) -> None:
        """Bring all spaces in line with the stored groups and the DM portals' contacts."""
        async with self._lock:
            try:
                await self._load()
                await self._sync(list(removed))
            except Exception:
                self.log.exception("Failed to sync spaces")

    async def place_portal(self, portal: Portal) -> None:
        """Link a (new) portal room into the right space(s)."""
        if not portal.mxid:
            return
        async with self._lock:
            await self._load()
            root = await self.get_root()
            if root is None:
                return
            self._handed = None  # (a space made below would make them older)
            groups = await self._group_spaces(root)
            member_of: set[str] = set()
            if portal.is_direct:
                member_of = set(await DBContactGroupMember.groups_of(self.owner, portal.conv_key))
            await self._place(root, groups, [], portal.mxid, member_of, _given(portal.main_intent))

    # --- internals ------------------------------------------------------------------------

    async def _sync(self, removed: list[DBContactGroup]) -> None:
        root = await self.get_root()
        if root is None:
            return
        removed_spaces = [RoomID(g.space_room) for g in removed if g.space_room]
        for space in removed_spaces:
            await self._link(root, space, False, _given(self._bot))
            self._names.pop(space, None)
        handed, self._handed = self._handed, None
        if handed is not None:
            group_rows, pairs, portal_rows = handed
        else:
            group_rows = await DBContactGroup.all_for_owner(self.owner)
            members = await DBContactGroupMember.all_for_owner(self.owner)
            pairs = [(m.group_id, m.passport) for m in members]
            portal_rows = _rooms(await DBPortal.all_for_owner(self.owner))
        groups = await self._group_spaces(root, group_rows)
        memberships: dict[str, set[str]] = {}
        for group_id, passport in pairs:
            memberships.setdefault(passport, set()).add(group_id)
        for conv_key, room_id, kind in portal_rows:
            loaded = Portal.cache.by_key.get((self.owner, conv_key))
            if loaded is not None:  # (what a portal in memory holds is newer)
                room_id, kind = loaded.row.room_id, loaded.row.kind
            if room_id:
                member_of = memberships.get(conv_key, set()) if kind == "dm" else set()
                parent = self._portal_intent(conv_key)
                await self._place(root, groups, removed_spaces, RoomID(room_id), member_of, parent)

    async def _group_spaces(
        self, root: RoomID, rows: list[DBContactGroup] | None = None
    ) -> dict[str, RoomID]:
        """Group id -> sub-space: created, (re)named and linked under ``root`` as needed
        (``rows``: the stored groups, when already read)."""
        spaces: dict[str, RoomID] = {}
        if rows is None:
            rows = await DBContactGroup.all_for_owner(self.owner)
        for group in rows:
            # (rows stored before names were cleaned may still hold control characters)
            name = clean_line(group.name) or "Unnamed group"
            if not group.space_room:
                room_id = await self._create_space(name, f"MSN contact group {name}", root)
                if room_id is None:
                    continue
                group.space_room = room_id
                await group.update()
            space = RoomID(group.space_room)
            await self._ensure_name(space, name)
            await self._link(root, space, True, _given(self._bot))
            spaces[group.group_id] = space
        return spaces

    async def _place(
        self,
        root: RoomID,
        groups: dict[str, RoomID],
        removed_spaces: list[RoomID],
        room: RoomID | None,
        member_of: set[str],
        parent: IntentOf,
    ) -> None:
        """Link ``room`` (a portal's) into the spaces of the groups in ``member_of``, or else
        into ``root``, and out of the others; ``parent`` sets its parent events."""
        assert room
        wanted = {groups[g] for g in member_of if g in groups}
        if not wanted:
            wanted = {root}
        for space in (root, *groups.values(), *removed_spaces):
            await self._link(space, room, space in wanted, parent)

    def _portal_intent(self, conv_key: str) -> IntentOf:
        """The main intent of the user's portal of ``conv_key`` (its ghost for a DM), loaded
        when asked."""

        async def load() -> IntentAPI | None:
            portal = await Portal.get_by_key(self.owner, conv_key, create=False)
            return portal.main_intent if portal is not None else None

        return load

    async def _ensure_name(self, space: RoomID, name: str) -> None:
        current = stored = self._names.get(space)
        if current is None:
            try:
                evt = await self._bot.get_state_event(space, EventType.ROOM_NAME)
                current = str(getattr(evt, "name", "") or "")
            except Exception:
                current = ""
        if current != name:
            try:
                await self._bot.set_room_name(space, name)
            except Exception:
                self.log.warning("Failed to rename space %s to %r", space, name, exc_info=True)
                return
            self.log.debug("Renamed space %s from %r to %r", space, current, name)
        self._names[space] = name
        if stored != name and space in self._children:
            # (a space whose children are not known yet is stored once they are read)
            await self._store_state(space, name)

    async def _get_children(self, space: RoomID) -> set[RoomID]:
        children = self._children.get(space)
        if children is None:
            children = set()
            try:
                for evt in await self._bot.get_state(space):
                    if evt.type == EventType.SPACE_CHILD and evt.content.serialize().get("via"):
                        children.add(RoomID(evt.state_key))
            except Exception:
                self.log.debug("Failed to read the children of %s", space, exc_info=True)
                self._children[space] = children
                return children  # (not stored: read again by the next process)
            self._children[space] = children
            await self._store_state(space, self._names.get(space), children)
        return children

    async def _link(self, space: RoomID, room: RoomID, linked: bool, parent: IntentOf) -> None:
        """Make ``room`` a child of ``space`` (or not); the parent event (sent by ``parent``'s
        intent) is best effort."""
        children = await self._get_children(space)
        if (room in children) == linked:
            return
        content: dict[str, Any] = {"via": self._via} if linked else {}
        try:
            await self._bot.send_state_event(space, EventType.SPACE_CHILD, content, state_key=room)
        except Exception:
            self.log.warning("Failed to update child %s of space %s", room, space, exc_info=True)
            return
        if linked:
            children.add(room)
        else:
            children.discard(room)
        await self._store_link(space, room, linked)
        try:
            intent = await parent()
            if intent is not None:
                await intent.send_state_event(
                    room, EventType.SPACE_PARENT, content, state_key=space
                )
        except Exception:
            self.log.debug("Failed to update the space parent of %s", room, exc_info=True)


def _rooms(rows: Iterable[DBPortal]) -> list[_PortalRoom]:
    return [(row.conv_key, row.room_id, row.kind) for row in rows]


def _given(intent: IntentAPI) -> IntentOf:
    """An intent at hand (the bot's, a portal's already loaded) as an :data:`IntentOf`."""

    async def given() -> IntentAPI:
        return intent

    return given
