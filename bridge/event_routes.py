"""Which MSN event of one user goes where: messages and typing to the portal of their
conversation, switchboard membership to the ghosts and group rooms, list and presence events
to the contact book.

A message reaches a room only if the user's privacy settings let its sender write
(:meth:`ContactBook.may_write`; otherwise it is counted in ``hidden_messages`` and not shown),
and only if it carries something to show. The room of a multi-party conversation is chosen by
:class:`bridge.group_chats.GroupChats`, which never makes one before a message arrives; typing
and joins never make a room, and make a ghost only for someone on the user's lists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeVar
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import MappingProxyType
import asyncio

from mautrix.types import EventID
from mautrix.util import background_task

from bridge import double_puppet, list_cache, matrix_presence, metrics
from bridge.circles import CirclePortals
from bridge.emoticons import EMOTICON_TYPES, Emoticons
from bridge.ghost_avatars import GhostAvatars
from bridge.msnp.circles import CircleMembersChanged, CirclesLoaded, circle_of_key
from bridge.msnp.errors import MSNPException
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    Event,
    FileOffered,
    GroupChanged,
    ListSynced,
    LoggedIn,
    NudgeReceived,
    OfflineMessageReceived,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.own_avatar import OwnAvatar
from bridge.portal import Portal
from bridge.portal.from_msn import MSNToMatrix, is_silent
from bridge.portal.incoming_files import handle_file_offer
from bridge.puppet import Puppet

if TYPE_CHECKING:
    from bridge.user import User

__all__ = ["EventRoutes"]

#: The events that happen in a conversation, and so go to its portal.
M = TypeVar(
    "M", TextMessageReceived, NudgeReceived, OtherMessageReceived, TypingReceived, FileOffered
)


class EventRoutes:
    """Where each MSN event of one user goes: :data:`ROUTES` names the method for each event
    type, one table for every user (a session registers no handler objects of its own, which
    cost about 4 KiB per user), and :meth:`route` looks it up for the user's session."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.log = user.log
        #: messages not shown because the user's privacy settings keep their sender out
        self.hidden_messages = 0
        #: work a login started in the background; cancelled when the user stops
        self._after_login: set[asyncio.Task[Any]] = set()
        self.emoticons = Emoticons(lambda: user.client, self.log)
        self.avatars = GhostAvatars(
            lambda: user.client, self.log, enabled=bool(user.config["bridge.p2p.ghost_avatars"])
        )
        self.own_avatar = (
            OwnAvatar(user.mxid, user.az.intent, self.log)
            if user.config["bridge.p2p.own_avatar"]
            else None
        )
        if self.own_avatar is not None:
            user.session.before_login = self.own_avatar.before_login
        self.circles = CirclePortals(user)  # MSNP18
        user.session.route_with(self)

    def route(self, evt: Event) -> Awaitable[None] | None:
        """The handling of ``evt`` (to await), or None when no route takes its type."""
        handle = ROUTES.get(type(evt))
        return handle(self, evt) if handle is not None else None

    # region conversation events: to the portal of their conversation

    async def _to_portal(
        self,
        evt: M,
        handle: Callable[[MSNToMatrix, User, M], Awaitable[object]],
        *,
        create: bool = True,
    ) -> None:
        """Pass a message event to the portal of its conversation; with ``create`` (messages,
        not typing) the portal and its room are made when needed."""
        user = self.user
        if not evt.conversation:
            # e.g. Escargot's "MSG Hotmail" mail notification on the NS: no conversation
            self.log.debug("Ignoring a message outside any conversation")
            return
        if not create:
            key = user.groups.portal_key(evt.conversation)
            portal = await Portal.get_by_key(user.mxid, key, create=False)
        elif is_silent(evt) or not (
            circle_of_key(evt.conversation) or self._may_write(evt.sender)
        ):  # (a circle's members write in it whatever the privacy settings)
            return
        else:
            name = getattr(evt, "sender_name", "") or self._name_of(evt.sender)
            target = await user.groups.route(evt.conversation, evt.sender, evt.participants, name)
            portal = await Portal.get_by_key(user.mxid, target.conv_key, create=True)
            if portal is not None and target.participants:
                await portal.remember_participants(target.participants)
        if portal:
            await handle(portal.from_msn, user, evt)

    async def _on_text(self, evt: TextMessageReceived) -> None:
        await self._to_portal(evt, self._handle_text)

    async def _on_nudge(self, evt: NudgeReceived) -> None:
        await self._to_portal(evt, MSNToMatrix.handle_nudge)

    async def _on_typing(self, evt: TypingReceived) -> None:
        await self._to_portal(evt, MSNToMatrix.handle_typing, create=False)

    async def _handle_text(
        self, from_msn: MSNToMatrix, user: User, evt: TextMessageReceived
    ) -> EventID | None:
        return await from_msn.handle_text(user, evt, self.emoticons)

    async def _on_other(self, evt: OtherMessageReceived) -> None:
        """Custom emoticon announcements are kept for the text that follows them; other
        messages go to their portal."""
        ctype = (evt.content_type or "").split(";", 1)[0].strip().lower()
        if ctype in EMOTICON_TYPES:
            if self._may_write(evt.sender):
                self.emoticons.announce(evt)
            return
        await self._to_portal(evt, MSNToMatrix.handle_other)

    async def _on_file_offered(self, evt: FileOffered) -> None:
        """A file offer that was not routed (privacy, no room, an error) is declined at once,
        not left waiting until it expires."""
        try:
            await self._to_portal(evt, handle_file_offer)
        finally:
            if evt.offer.open:
                evt.offer.decline()

    # endregion

    async def _on_presence(self, evt: PresenceChanged) -> None:
        self.user.offline_contacts.on_presence(evt)
        await self.user.contacts.on_presence(evt)
        await self.avatars.on_presence(evt)

    async def _on_offline_message(self, evt: OfflineMessageReceived) -> None:
        """Bridged into the sender's room with its original time, then deleted on the server
        (only once Matrix accepted it: otherwise it is fetched again at the next login)."""
        user = self.user
        if self._may_write(evt.sender):
            portal = await Portal.get_by_key(user.mxid, evt.sender.lower(), create=True)
            if portal is None or await portal.from_msn.handle_offline(user, evt) is None:
                return
        client = user.client
        if client is None:
            return
        try:
            await client.delete_offline_messages([evt.message_id])
        except MSNPException as e:
            self.log.warning("Offline message %s not deleted on the server: %s", evt.message_id, e)

    def _may_write(self, sender: str) -> bool:
        if sender.lower() == (self.user.passport or "").lower():
            return True  # the user themselves, from another MSN client (MSNP16+)
        client = self.user.client
        allow_unlisted = client.privacy_allow_unlisted if client is not None else None
        if self.user.contacts.may_write(sender, allow_unlisted):
            return True
        self.hidden_messages += 1
        metrics.limited("messages_hidden")
        self.log.debug("Not showing a message from %s: the privacy settings keep them out", sender)
        return False

    def _name_of(self, passport: str) -> str:
        entry = self.user.contacts.get(passport)
        return entry.display_name if entry is not None else passport

    async def _on_switchboard_joined(self, evt: SwitchboardJoined) -> None:
        user = self.user
        puppet = await Puppet.get_by_passport(
            evt.passport, create=user.may_have_ghost(evt.passport)
        )
        if puppet and evt.friendly_name:
            await puppet.update_info(evt.friendly_name)
        key = user.groups.portal_key(evt.conversation)
        portal = await Portal.get_by_key(user.mxid, key, create=False)
        if portal and not portal.is_direct:
            await portal.from_msn.handle_joined(user, evt)

    async def _on_switchboard_left(self, evt: SwitchboardLeft) -> None:
        key = self.user.groups.portal_key(evt.conversation)
        portal = await Portal.get_by_key(self.user.mxid, key, create=False)
        if portal and not portal.is_direct:
            await portal.from_msn.handle_left(self.user, evt)

    async def _on_list_synced(self, evt: ListSynced) -> None:
        """The whole list: the book stores it, then its version is kept with it
        (:mod:`bridge.list_cache`)."""
        user = self.user
        await user.contacts.on_list_synced(evt)
        client = user.client
        if client is not None and user.contacts.stored and client.protocol is not None:
            try:
                await list_cache.remember(
                    user.mxid,
                    client.protocol,
                    evt,
                    client.privacy_allow_unlisted,
                    client.reverse_prompt,
                )
            except Exception:
                self.log.warning("Failed to store the contact list version", exc_info=True)
            else:
                self.log.debug("Kept the contact list of version %s", evt.version)
        else:
            self.log.debug("Contact list version %s not kept", evt.version)

    async def _on_switchboard_closed(self, evt: SwitchboardClosed) -> None:
        self.log.debug("Switchboard %s closed", evt.conversation)

    async def _on_logged_in(self, evt: LoggedIn) -> None:
        self.log.debug("Logged in as %s with MSNP%d", evt.passport, evt.protocol)
        # the configured double puppeting (if any) for this user; in the background, as it
        # asks the homeserver
        self._in_background(double_puppet.enable(self.user, evt.passport))
        self._in_background(matrix_presence.after_login(self.user, self.user.session.online))
        client = self.user.client
        if self.own_avatar is not None and client is not None:
            # (reads the avatar only if the first CHG carried none or it changed since)
            self._in_background(self.own_avatar.after_login(client), name="msn-own-avatar")

    def _in_background(self, work: Coroutine[Any, Any, Any], name: str | None = None) -> None:
        task = background_task.create(work, name=name)
        self._after_login.add(task)
        task.add_done_callback(self._after_login.discard)

    def stop(self) -> None:
        """Cancel what a login started in the background (bridge shutdown: the homeserver
        connection closes next)."""
        for task in list(self._after_login):
            task.cancel()

    async def own_avatar_changed(self) -> None:
        """The user's Matrix avatar changed: announce it as their display picture now, or
        after the next login when not connected."""
        if self.own_avatar is None:
            return
        await self.own_avatar.changed()
        client = self.user.client
        if client is not None:
            self._in_background(self.own_avatar.apply(client), name="msn-own-avatar")


#: The method of :class:`EventRoutes` for each event type (the one table for every user).
ROUTES: Final[Mapping[type[Event], Callable[[EventRoutes, Any], Awaitable[None]]]] = (
    MappingProxyType(
        {
            TextMessageReceived: EventRoutes._on_text,
            NudgeReceived: EventRoutes._on_nudge,
            OtherMessageReceived: EventRoutes._on_other,
            TypingReceived: EventRoutes._on_typing,
            FileOffered: EventRoutes._on_file_offered,
            OfflineMessageReceived: EventRoutes._on_offline_message,
            SwitchboardJoined: EventRoutes._on_switchboard_joined,
            SwitchboardLeft: EventRoutes._on_switchboard_left,
            SwitchboardClosed: EventRoutes._on_switchboard_closed,
            LoggedIn: EventRoutes._on_logged_in,
            ListSynced: EventRoutes._on_list_synced,
            ContactAdded: lambda routes, evt: routes.user.contacts.on_contact_added(evt),
            ContactRemoved: lambda routes, evt: routes.user.contacts.on_contact_removed(evt),
            GroupChanged: lambda routes, evt: routes.user.contacts.on_group_changed(evt),
            PersonalMessageChanged: lambda routes, evt: routes.user.contacts.on_personal_message(
                evt
            ),
            PresenceChanged: EventRoutes._on_presence,
            CirclesLoaded: lambda routes, evt: routes.circles.on_loaded(evt),
            CircleMembersChanged: lambda routes, evt: routes.circles.on_members(evt),
        }
    )
)
