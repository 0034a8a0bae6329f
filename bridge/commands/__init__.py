"""Bot commands (``help`` lists them): auth, contacts and presence sections."""

from __future__ import annotations

from typing import Any

from mautrix.bridge.commands import CommandProcessor as BaseCommandProcessor, HelpSection

__all__ = [
    "SECTION_AUTH",
    "SECTION_CONTACTS",
    "SECTION_PRESENCE",
    "CommandProcessor",
]

SECTION_AUTH = HelpSection("Authentication", 10, "")
SECTION_CONTACTS = HelpSection("Contacts and chats", 20, "")
SECTION_PRESENCE = HelpSection("Your MSN status", 30, "")


class CommandProcessor(BaseCommandProcessor):
    """Remembers the room where a user talks to the bot as their management room."""

    async def handle(
        self,
        room_id: Any,
        event_id: Any,
        sender: Any,
        command: str,
        args: list[str],
        content: Any,
        portal: Any,
        is_management: bool,
        has_bridge_bot: bool,
    ) -> None:
        if is_management and portal is None:
            setter = getattr(sender, "set_management_room", None)
            if setter is not None and getattr(sender, "management_room", None) != room_id:
                await setter(room_id)
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


from . import auth, contacts, presence  # noqa: E402  (registers the handlers)

__all__ += ["auth", "contacts", "presence"]
