"""Bot commands (``help`` lists them): the processor that runs them; the commands themselves
are in :mod:`.auth` (login and the connection), :mod:`.contacts`, :mod:`.status` and
:mod:`.meta` (``help`` and ``version``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections.abc import Awaitable, Callable

from mautrix.bridge.commands import CommandProcessor as BaseCommandProcessor
from mautrix.types import EventID, MessageEventContent, RoomID

from bridge.portal import Portal
from bridge.texts import portal_owner_only
from bridge.user import User

from . import access, auth, contacts, meta, status
from .common import CommandEvent

if TYPE_CHECKING:
    from mautrix.bridge import BasePortal, BaseUser, Bridge

__all__ = ["CommandProcessor", "access", "auth", "contacts", "meta", "status"]


class CommandProcessor(BaseCommandProcessor):
    """Makes this bridge's :class:`CommandEvent`; remembers the room where a user talks to the
    bot as their management room; lets only the portal's owner or an admin run a command that
    acts on a portal room (:mod:`.access`)."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__(bridge, event_class=CommandEvent)

    async def handle(
        self,
        room_id: RoomID,
        event_id: EventID,
        sender: BaseUser,
        command: str,
        args: list[str],
        content: MessageEventContent,
        portal: BasePortal | None,
        is_management: bool,
        has_bridge_bot: bool,
    ) -> None:
        if is_management and portal is None and isinstance(sender, User):
            await sender.set_management_room(room_id)
        await super().handle(
            room_id,
            event_id,
            sender,
            command,
            args,
            content,
            portal,
            is_management,
            has_bridge_bot,
        )

    def _run_handler(  # type: ignore[override]  # mautrix: a staticmethod
        self, handler: Callable[[Any], Awaitable[Any]], evt: CommandEvent
    ) -> Awaitable[Any]:
        portal = evt.portal if isinstance(evt.portal, Portal) else None
        owner = portal.owner if portal is not None else None
        if not access.may_run(handler, evt.sender.mxid, evt.sender.is_admin, owner):
            return evt.reply(portal_owner_only(getattr(handler, "name", evt.command)))
        if getattr(handler, "name", None) == "login-matrix" and evt.args:
            return self._redacted_first(handler, evt)
        return handler(evt)

    @staticmethod
    async def _redacted_first(handler: Callable[[Any], Awaitable[Any]], evt: CommandEvent) -> Any:
        """mautrix's ``login-matrix`` leaves the access token in the room: delete it first."""
        await auth.redact_secret(evt, "Matrix access token")
        return await handler(evt)
