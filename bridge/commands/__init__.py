"""Bot commands (``help`` lists them): the processor that runs them; the commands themselves
are in :mod:`.auth` (login and the connection), :mod:`.contacts`, :mod:`.status` and
:mod:`.meta` (``help`` and ``version``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mautrix.bridge.commands import CommandProcessor as BaseCommandProcessor
from mautrix.types import EventID, MessageEventContent, RoomID

from bridge.user import User

from . import auth, contacts, meta, status
from .common import CommandEvent

if TYPE_CHECKING:
    from mautrix.bridge import BasePortal, BaseUser, Bridge

__all__ = ["CommandProcessor", "auth", "contacts", "meta", "status"]


class CommandProcessor(BaseCommandProcessor):
    """Makes this bridge's :class:`CommandEvent`; remembers the room where a user talks to the
    bot as their management room."""

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
