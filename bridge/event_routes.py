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

from typing import TYPE_CHECKING, TypeVar
from collections.abc import Awaitable, Callable

from mautrix.util import background_task

from bridge import double_puppet, metrics
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    GroupChanged,
    ListSynced,
    LoggedIn,
    NudgeReceived,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.portal import Portal
from bridge.portal.from_msn import MSNToMatrix, is_silent
from bridge.puppet import Puppet

if TYPE_CHECKING:
    from bridge.user import User

__all__ = ["EventRoutes"]

#: The events that happen in a conversation, and so go to its portal.
M = TypeVar("M", TextMessageReceived, NudgeReceived, OtherMessageReceived, TypingReceived)


class EventRoutes:
    """Registers, on the user's session, a handler for each MSN event type."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.log = user.log
        #: messages not shown because the user's privacy settings keep their sender out
        self.hidden_messages = 0
        on = user.session.on
        on(TextMessageReceived, self._to_portal(MSNToMatrix.handle_text))
        on(NudgeReceived, self._to_portal(MSNToMatrix.handle_nudge))
        on(OtherMessageReceived, self._to_portal(MSNToMatrix.handle_other))
        on(TypingReceived, self._to_portal(MSNToMatrix.handle_typing, create=False))
        on(SwitchboardJoined, self._on_switchboard_joined)
        on(SwitchboardLeft, self._on_switchboard_left)
        on(SwitchboardClosed, self._on_switchboard_closed)
        on(LoggedIn, self._on_logged_in)
        contacts = user.contacts
        on(ListSynced, contacts.on_list_synced)
        on(ContactAdded, contacts.on_contact_added)
        on(ContactRemoved, contacts.on_contact_removed)
        on(GroupChanged, contacts.on_group_changed)
        on(PresenceChanged, contacts.on_presence)
        on(PersonalMessageChanged, contacts.on_personal_message)

    def _to_portal(
        self, handle: Callable[[MSNToMatrix, User, M], Awaitable[object]], *, create: bool = True
    ) -> Callable[[M], Awaitable[None]]:
        """A handler that passes a message event to the portal of its conversation; with
        ``create`` (messages, not typing) the portal and its room are made when needed."""
        user = self.user

        async def route(evt: M) -> None:
            if not evt.conversation:
                # e.g. Escargot's "MSG Hotmail" mail notification on the NS: no conversation
                self.log.debug("Ignoring a message outside any conversation")
                return
            if not create:
                key = user.groups.portal_key(evt.conversation)
                portal = await Portal.get_by_key(user.mxid, key, create=False)
            elif is_silent(evt) or not self._may_write(evt.sender):
                return
            else:
                name = getattr(evt, "sender_name", "") or self._name_of(evt.sender)
                target = await user.groups.route(
                    evt.conversation, evt.sender, evt.participants, name
                )
                portal = await Portal.get_by_key(user.mxid, target.conv_key, create=True)
                if portal is not None and target.participants:
                    await portal.remember_participants(target.participants)
            if portal:
                await handle(portal.from_msn, user, evt)

        return route

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

    async def _on_switchboard_closed(self, evt: SwitchboardClosed) -> None:
        self.log.debug("Switchboard %s closed", evt.conversation)

    async def _on_logged_in(self, evt: LoggedIn) -> None:
        self.log.debug("Logged in as %s with MSNP%d", evt.passport, evt.protocol)
        # the configured double puppeting (if any) for this user; in the background, as it
        # asks the homeserver
        background_task.create(double_puppet.enable(self.user, evt.passport))
